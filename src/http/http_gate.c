/*
 * The front door of `sluice serve`: sluice accepts its connections itself,
 * holds each until its first request head has come, then hands it to
 * libmicrohttpd (MHD_add_connection; the daemon has no listening socket of
 * its own) through a socket pair, and carries the bytes both ways.
 *
 * Why: libmicrohttpd 0.9.75 refuses a Content-Length that is not a number
 * (or too big for 64 bits) before any callback of ours runs, with an HTML
 * 400 (413) whose status line and headers it sends twice. So every request
 * head of a connection, the first and every later one of a kept-alive or
 * pipelined connection, is checked here before libmicrohttpd reads it
 * (http_frame.c walks the stream: heads, Content-Length and chunked
 * bodies). A head whose Content-Length headers are not one number is
 * answered here with the JSON error every other refusal has, after the
 * answers to the requests before it, and the connection closed (RFC 9112
 * 6.3: the framing is unknown, so nothing after it can be read as a
 * request).
 *
 * The cost is one more copy of each byte through this thread (a 40 KiB
 * buffer each way, allocated while bytes are in flight and freed when
 * drained); docs/benchmarks.md measures uploads and keep-alive status
 * requests through it ("The gate's relay": splice(2) for bodies was tried
 * and was not measurably faster, so the one path stays).
 *
 * Held connections cost a slot and a descriptor in one epoll set, so idle
 * clients stay cheap; before their first head they are closed after
 * --timeout like libmicrohttpd's own; after it libmicrohttpd's timeout
 * closes its end, and the client's follows. Since idle ones never reach
 * libmicrohttpd, the connection limits are counted here: --max-connections
 * in all (conns_open) and, without a trusted proxy, --max-conn-per-client
 * per address (http_limits.c); a handed-over connection gives its counts
 * back when libmicrohttpd closes it (http_gate_notify). A connection over a
 * limit is closed unanswered, as libmicrohttpd does.
 *
 * Threads: one gate thread owns the slots, their buffers and the epoll
 * set; the counts are atomic (conns_open) or under cl_mu (per address);
 * stopping is an eventfd.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "http/http_frame.h"
#include "http/http_parse.h"
#include "http/http_reply.h"

/* Every head the router would take (HTTP_HEADERS_MAX of headers, plus the
   request line) is checked whole; a longer one goes on unchecked, to be
   refused by libmicrohttpd as too large (431). */
_Static_assert(HTTP_FRAME_HEAD_MAX == HTTP_HEADERS_MAX + 8192,
               "the head checked is the head taken");
#define BUF_CAP     HTTP_FRAME_HEAD_MAX
#define GATE_LISTEN UINT32_MAX
#define GATE_WAKE   (UINT32_MAX - 1)

/* Bytes on their way one direction: [sent, len) are in the buffer, and of
   them [sent, ok) may go on (the request direction holds back a head not
   checked yet; the response direction passes all). */
typedef struct gate_buf {
	char *p; /* NULL while empty */
	size_t len, sent, ok;
} gate_buf;

typedef struct gate_conn {
	int fd;  /* the client's socket; -1: a free slot */
	int mfd; /* our end of libmicrohttpd's socket pair; -1 before handover */
	struct sockaddr_in sa;
	char addr[INET_ADDRSTRLEN];
	bool per_addr; /* counted in the address's connections */
	bool c_eof;    /* the client sent its end */
	bool m_eof;    /* libmicrohttpd closed its end */
	bool m_shut;   /* libmicrohttpd takes no more requests (we sent their end, or it closed) */
	bool linger;   /* answered and our end sent: reading the client's to its end */
	int refuse;    /* 0, or http_frame_scan's verdict on the head at rq.ok */
	uint32_t ev_c, ev_m; /* the events registered for fd and mfd */
	int64_t since_ms;
	http_framer fr;
	gate_buf rq;   /* client -> libmicrohttpd */
	gate_buf rs;   /* libmicrohttpd -> client */
	char what[64]; /* "METHOD path" of the refused head, for the log */
} gate_conn;

struct http_gate {
	http_srv *s;
	struct MHD_Daemon *d;
	int lfd, ep, wake;
	pthread_t tid;
	bool up;
	gate_conn *c;   /* max_connections slots */
	uint32_t *free; /* free slot indices, a stack */
	uint32_t nfree, cap;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The counts a connection holds, given back (closed here or by MHD). */
static void release(http_srv *s, bool per_addr, const char *addr)
{
	if (per_addr)
		http_client_conn_release(s, addr);
	atomic_fetch_sub(&s->conns_open, 1);
}

static int want(struct http_gate *g, uint32_t i);

static void buf_free(gate_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

static void drop(struct http_gate *g, uint32_t i)
{
	gate_conn *k = &g->c[i];
	epoll_ctl(g->ep, EPOLL_CTL_DEL, k->fd, NULL);
	close(k->fd);
	if (k->mfd >= 0) {
		if (!k->m_eof)
			epoll_ctl(g->ep, EPOLL_CTL_DEL, k->mfd, NULL);
		close(k->mfd); /* libmicrohttpd gives the counts back as it closes */
	} else {
		release(g->s, k->per_addr, k->addr);
	}
	buf_free(&k->rq);
	buf_free(&k->rs);
	k->fd = k->mfd = -1;
	g->free[g->nfree++] = i;
}

/* Everything is answered: our end goes, and what the client still sends is
   read and thrown away until its end (or --timeout), so the close is an
   orderly one rather than a reset that could destroy the answers in flight
   (a client still sending a body or an over-long head). */
static void linger(struct http_gate *g, uint32_t i)
{
	gate_conn *k = &g->c[i];
	if (k->c_eof) {
		drop(g, i);
		return;
	}
	shutdown(k->fd, SHUT_WR);
	k->linger = true;
	k->since_ms = now_ms();
	buf_free(&k->rq);
	if (want(g, i) < 0)
		drop(g, i);
}

/* The JSON 400 for a head whose framing is unknown, and the connection
   ended (linger). */
static void refuse(struct http_gate *g, uint32_t i)
{
	http_srv *s = g->s;
	gate_conn *k = &g->c[i];
	char corr[HTTP_CORR_MAX + 1], method[16] = "?", path[48] = "?";
	http_new_id('r', corr);
	sscanf(k->what, "%15s %47s", method, path);
	char *body = NULL;
	size_t blen = 0;
	FILE *f = open_memstream(&body, &blen);
	if (f) {
		http_json_error(f, "BAD_REQUEST",
		                k->refuse == -1 ? "Content-Length headers that differ"
		                                : "Content-Length is not a number");
		fclose(f);
	}
	char hdr[512], date[64];
	time_t t = time(NULL);
	struct tm tm;
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&t, &tm));
	int n = snprintf(hdr, sizeof hdr,
	                 "HTTP/1.1 400 Bad Request\r\nDate: %s\r\nConnection: close\r\n"
	                 "Content-Type: application/json\r\nX-Correlation-Id: %s\r\n"
	                 "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
	                 "Content-Length: %zu\r\n\r\n",
	                 date, corr, body ? blen : 0);
	if (n > 0 && (size_t)n < sizeof hdr && send(k->fd, hdr, (size_t)n, MSG_NOSIGNAL) == n &&
	    body)
		(void)!send(k->fd, body, blen, MSG_NOSIGNAL);
	free(body);
	http_metrics_count(s, RT_NONE, method, 400);
	http_log_request(s, "info", "refused before libmicrohttpd: Content-Length", method, path,
	                 400, corr, NULL, 0);
	linger(g, i);
}

/* Register what fd and mfd wait for now (level-triggered). */
static int want(struct http_gate *g, uint32_t i)
{
	gate_conn *k = &g->c[i];
	uint32_t c = 0, m = 0;
	if (k->linger)
		c = EPOLLIN;
	else if (!k->c_eof && !k->refuse && k->rq.len < BUF_CAP)
		c |= EPOLLIN;
	if (k->rs.sent < k->rs.len)
		c |= EPOLLOUT;
	if (k->mfd >= 0 && !k->m_eof) {
		if (k->rs.len < BUF_CAP)
			m |= EPOLLIN;
		if (k->rq.sent < k->rq.ok)
			m |= EPOLLOUT;
	}
	if (c != k->ev_c) {
		struct epoll_event ev = {.events = c, .data.u32 = i * 2};
		if (epoll_ctl(g->ep, EPOLL_CTL_MOD, k->fd, &ev) < 0)
			return -1;
		k->ev_c = c;
	}
	if (k->mfd >= 0 && !k->m_eof && m != k->ev_m) {
		struct epoll_event ev = {.events = m, .data.u32 = i * 2 + 1};
		if (epoll_ctl(g->ep, EPOLL_CTL_MOD, k->mfd, &ev) < 0)
			return -1;
		k->ev_m = m;
	}
	return 0;
}

/* Read from `from` into b (allocating it): 1 bytes came, 0 nothing now,
   -1 the end (or an error, the same for a relay). */
static int fill(int from, gate_buf *b)
{
	if (!b->p && !(b->p = malloc(BUF_CAP)))
		return 0; /* no memory now: try again when woken */
	if (b->len == BUF_CAP && b->sent) {
		memmove(b->p, b->p + b->sent, b->len - b->sent);
		b->len -= b->sent;
		b->ok -= b->sent;
		b->sent = 0;
	}
	if (b->len == BUF_CAP)
		return 0;
	ssize_t n = recv(from, b->p + b->len, BUF_CAP - b->len, MSG_DONTWAIT);
	if (n > 0) {
		b->len += (size_t)n;
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		if (!b->len)
			buf_free(b); /* an idle connection holds no buffer */
		return 0;
	}
	return -1;
}

/* Send b's passable bytes to `to`: 1 some went, 0 none could, -1 the peer
   is gone. A drained buffer is freed. */
static int flush(int to, gate_buf *b)
{
	if (b->sent == b->ok)
		return 0;
	ssize_t n = send(to, b->p + b->sent, b->ok - b->sent, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	b->sent += (size_t)n;
	if (b->sent == b->len)
		buf_free(b);
	return 1;
}

/* libmicrohttpd takes the connection: its end of a socket pair, with the
   client's address (for its logs and limits). 0, or -1 (the connection is
   dropped). */
static int hand_over(struct http_gate *g, uint32_t i)
{
	gate_conn *k = &g->c[i];
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0)
		return -1;
	/* MHD takes sp[1], and closes it when it cannot (the limits are counted
	   here, so that is a lack of memory): the counts come back through
	   http_gate_notify once it started, else here */
	if (MHD_add_connection(g->d, sp[1], (const struct sockaddr *)&k->sa, sizeof k->sa) !=
	    MHD_YES) {
		close(sp[0]);
		return -1;
	}
	struct epoll_event ev = {.events = 0, .data.u32 = i * 2 + 1};
	k->mfd = sp[0];
	k->ev_m = 0;
	if (epoll_ctl(g->ep, EPOLL_CTL_ADD, k->mfd, &ev) < 0)
		return -1;
	return 0;
}

/* Move what can move on connection i, both ways, until nothing does; then
   wait for what is next, or end the connection. */
static void pump(struct http_gate *g, uint32_t i)
{
	gate_conn *k = &g->c[i];
	if (k->linger) {
		char sink[4096];
		ssize_t n;
		while ((n = recv(k->fd, sink, sizeof sink, MSG_DONTWAIT)) > 0)
			;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			drop(g, i);
		return;
	}
	for (bool moved = true; moved;) {
		moved = false;
		int r;
		if (!k->c_eof && !k->refuse) {
			if ((r = fill(k->fd, &k->rq)) < 0)
				k->c_eof = true;
			moved |= r != 0;
		}
		if (!k->refuse && !k->m_shut && k->rq.ok < k->rq.len) {
			size_t pass = 0, hl = 0;
			int v = http_frame_scan(&k->fr, k->rq.p + k->rq.ok, k->rq.len - k->rq.ok,
			                        &pass, &hl);
			k->rq.ok += pass;
			if (v < 0) {
				k->refuse = v;
				size_t wl = hl < sizeof k->what - 1 ? hl : sizeof k->what - 1;
				memcpy(k->what, k->rq.p + k->rq.ok, wl);
				k->what[wl] = 0;
			}
			if (k->c_eof && !v && k->rq.ok < k->rq.len && k->mfd < 0) {
				drop(g, i); /* ended inside its first head */
				return;
			}
		}
		if (k->mfd < 0 &&
		    k->rq.ok > k->rq.sent) { /* a checked head, or bytes past checking */
			if (hand_over(g, i) < 0) {
				drop(g, i);
				return;
			}
			moved = true;
		}
		if (k->mfd < 0 && k->refuse) {
			refuse(g, i);
			return;
		}
		if (k->mfd >= 0) {
			if (k->m_shut && k->rq.len) {
				buf_free(&k->rq); /* libmicrohttpd reads no more */
			} else if ((r = flush(k->mfd, &k->rq)) < 0) {
				/* libmicrohttpd closed without reading it all (an answer
				   before the body: 413, 415, 431): its answer is still to
				   come, what the client sends after goes nowhere */
				buf_free(&k->rq);
				k->m_shut = true;
				moved = true;
			} else {
				moved |= r != 0;
			}
			/* the end of the requests: the client's, or a refused head's */
			if (!k->m_shut && k->rq.sent == k->rq.ok && (k->c_eof || k->refuse)) {
				shutdown(k->mfd, SHUT_WR);
				k->m_shut = true;
			}
			if (!k->m_eof) {
				if ((r = fill(k->mfd, &k->rs)) < 0) {
					k->m_eof = true;
					k->since_ms = now_ms();
					/* closed for good: level-triggered, it would wake us
					   again and again */
					epoll_ctl(g->ep, EPOLL_CTL_DEL, k->mfd, NULL);
				}
				k->rs.ok = k->rs.len;
				moved |= r != 0;
			}
			if ((r = flush(k->fd, &k->rs)) < 0) {
				drop(g, i);
				return;
			}
			moved |= r != 0;
		}
	}
	if (k->mfd < 0 && k->c_eof) {
		drop(g, i); /* gone before a whole head */
		return;
	}
	if (k->m_eof && k->rs.sent == k->rs.len) {
		if (k->refuse)
			refuse(g, i); /* its answer after those before it */
		else
			linger(g, i); /* libmicrohttpd closed: so does the client's end */
		return;
	}
	if (want(g, i) < 0)
		drop(g, i);
}

static void accept_all(struct http_gate *g)
{
	http_srv *s = g->s;
	for (;;) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof sa;
		int fd = accept4(g->lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or a transient error (EMFILE, ECONNABORTED): next time */
		char addr[INET_ADDRSTRLEN] = "?";
		inet_ntop(AF_INET, &sa.sin_addr, addr, sizeof addr);
		bool per_addr = !s->o.trusted_proxy;
		if (!g->nfree || atomic_load(&s->conns_open) >= s->o.max_connections) {
			close(fd);
			continue;
		}
		if (per_addr && !http_client_conn_take(s, addr)) {
			close(fd);
			continue;
		}
		atomic_fetch_add(&s->conns_open, 1);
		uint32_t i = g->free[--g->nfree];
		gate_conn *k = &g->c[i];
		memset(k, 0, sizeof *k);
		k->fd = fd;
		k->mfd = -1;
		k->sa = sa;
		k->per_addr = per_addr;
		k->since_ms = now_ms();
		memcpy(k->addr, addr, sizeof addr);
		http_frame_init(&k->fr);
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i * 2};
		k->ev_c = EPOLLIN;
		if (epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			drop(g, i);
			continue;
		}
		pump(g, i); /* the head may be there already */
	}
}

static void *gate_main(void *arg)
{
	struct http_gate *g = arg;
	int64_t swept = now_ms();
	int64_t timeout_ms = (int64_t)g->s->o.timeout_s * 1000;
	for (;;) {
		struct epoll_event ev[64];
		int n = epoll_wait(g->ep, ev, 64, 250);
		for (int e = 0; e < n; e++) {
			uint32_t d = ev[e].data.u32;
			if (d == GATE_WAKE)
				return NULL;
			if (d == GATE_LISTEN) {
				accept_all(g);
				continue;
			}
			uint32_t i = d / 2;
			if (g->c[i].fd < 0)
				continue; /* dropped by an earlier event of this round */
			/* a reset client is gone: nothing it sent or is sent matters */
			if (!(d & 1) && (ev[e].events & (EPOLLERR | EPOLLHUP)))
				drop(g, i);
			else
				pump(g, i);
		}
		int64_t t = now_ms();
		if (t - swept >= 250) {
			swept = t;
			/* held before their first head, or libmicrohttpd done with them
			   and the client not reading its answers or not ending */
			for (uint32_t i = 0; i < g->cap; i++)
				if (g->c[i].fd >= 0 &&
				    (g->c[i].mfd < 0 || g->c[i].m_eof || g->c[i].linger) &&
				    t - g->c[i].since_ms >= timeout_ms)
					drop(g, i);
		}
	}
}

int http_gate_listen(http_srv *s, const struct sockaddr_in *sa, unsigned *port)
{
	int rc = SL_NOMEM;
	struct http_gate *g = calloc(1, sizeof *g);
	if (!g)
		return SL_NOMEM;
	g->s = s;
	g->lfd = g->ep = g->wake = -1;
	g->cap = s->o.max_connections;
	if (!(g->c = calloc(g->cap, sizeof *g->c)) || !(g->free = calloc(g->cap, sizeof *g->free)))
		goto out;
	for (uint32_t i = 0; i < g->cap; i++) {
		g->c[i].fd = -1;
		g->free[i] = g->cap - 1 - i;
	}
	g->nfree = g->cap;
	rc = SL_CONFIG;
	int one = 1;
	struct sockaddr_in b;
	socklen_t bl = sizeof b;
	if ((g->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(g->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(g->lfd, (const struct sockaddr *)sa, sizeof *sa) < 0 || listen(g->lfd, 1024) < 0 ||
	    getsockname(g->lfd, (struct sockaddr *)&b, &bl) < 0)
		goto out;
	*port = ntohs(b.sin_port);
	rc = 0;
out:
	s->gate = g;
	return rc;
}

int http_gate_start(http_srv *s, struct MHD_Daemon *d)
{
	struct http_gate *g = s->gate;
	g->d = d;
	struct epoll_event l = {.events = EPOLLIN, .data.u32 = GATE_LISTEN};
	struct epoll_event w = {.events = EPOLLIN, .data.u32 = GATE_WAKE};
	if ((g->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (g->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    epoll_ctl(g->ep, EPOLL_CTL_ADD, g->lfd, &l) < 0 ||
	    epoll_ctl(g->ep, EPOLL_CTL_ADD, g->wake, &w) < 0) {
		http_log(s, "error", "the accepting loop: %s", strerror(errno));
		return SL_CONFIG;
	}
	if (pthread_create(&g->tid, NULL, gate_main, g) != 0)
		return SL_NOMEM;
	g->up = true;
	return 0;
}

void http_gate_stop(http_srv *s)
{
	struct http_gate *g = s->gate;
	if (!g)
		return;
	if (g->up) {
		uint64_t one = 1;
		(void)!write(g->wake, &one, sizeof one);
		pthread_join(g->tid, NULL);
		g->up = false;
	}
	for (uint32_t i = 0; g->c && i < g->cap; i++)
		if (g->c[i].fd >= 0)
			drop(g, i);
	if (g->lfd >= 0)
		close(g->lfd);
	if (g->ep >= 0)
		close(g->ep);
	if (g->wake >= 0)
		close(g->wake);
	free(g->c);
	free(g->free);
	free(g);
	s->gate = NULL;
}

void http_gate_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe)
{
	http_srv *s = cls;
	static char started; /* its address marks a connection MHD started */
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = &started;
		return;
	}
	if (*socket_context != &started)
		return;
	*socket_context = NULL;
	char addr[INET_ADDRSTRLEN] = "?";
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, addr,
		          sizeof addr);
	release(s, !s->o.trusted_proxy, addr);
}
