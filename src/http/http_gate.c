/*
 * The front door of `sluice serve`: sluice accepts its connections itself
 * and holds each until its first request head has come, then hands it to
 * libmicrohttpd (MHD_add_connection; the daemon has no listening socket of
 * its own).
 *
 * Why: libmicrohttpd 0.9.75 refuses a Content-Length that is not a number
 * (or too big for 64 bits) before any callback of ours runs, with an HTML
 * 400 (413) whose status line and headers it sends twice. Here the head is
 * read with MSG_PEEK, so nothing is taken from the socket that
 * libmicrohttpd would miss; a head whose Content-Length headers are not
 * one number is answered here with the JSON error every other refusal has,
 * and the connection closed (RFC 9112 6.3: the framing is unknown, so
 * nothing after it can be read as a request). Only the first request of a
 * connection passes here: a later request on a kept-alive connection is
 * libmicrohttpd's to read (docs/serve.md says so).
 *
 * Held connections cost a slot and a descriptor in one epoll set, so idle
 * clients stay cheap; they are closed after --timeout like libmicrohttpd's
 * own. Since idle ones never reach libmicrohttpd, the connection limits are
 * counted here: --max-connections in all (conns_open) and, without a
 * trusted proxy, --max-conn-per-client per address (http_limits.c); a
 * handed-over connection gives its counts back when libmicrohttpd closes
 * it (http_gate_notify). A connection over a limit is closed unanswered,
 * as libmicrohttpd does.
 *
 * Threads: one gate thread owns the slots and the epoll set; the counts are
 * atomic (conns_open) or under cl_mu (per address); stopping is an eventfd.
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
#include "http/http_parse.h"
#include "http/http_reply.h"

/* Every head the router would take (HTTP_HEADERS_MAX of headers, plus the
   request line) is checked whole; a longer one goes to libmicrohttpd
   unchecked, to be refused as too large (431). */
#define GATE_PEEK   (HTTP_HEADERS_MAX + 8192)
#define GATE_LISTEN UINT32_MAX
#define GATE_WAKE   (UINT32_MAX - 1)

typedef struct gate_conn {
	int fd; /* -1: a free slot */
	struct sockaddr_in sa;
	char addr[INET_ADDRSTRLEN];
	bool per_addr; /* counted in the address's connections */
	int64_t since_ms;
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

static void drop(struct http_gate *g, uint32_t i)
{
	gate_conn *k = &g->c[i];
	epoll_ctl(g->ep, EPOLL_CTL_DEL, k->fd, NULL);
	close(k->fd);
	release(g->s, k->per_addr, k->addr);
	k->fd = -1;
	g->free[g->nfree++] = i;
}

/* The JSON 400 for a head whose framing is unknown, and the connection
   closed. What the client sent is read first (it was only peeked), so the
   close is an orderly end rather than a reset that could lose the answer. */
static void refuse(struct http_gate *g, uint32_t i, const char *head, size_t hl, int why)
{
	http_srv *s = g->s;
	gate_conn *k = &g->c[i];
	char corr[HTTP_CORR_MAX + 1], method[16] = "?", path[256] = "?";
	http_new_id('r', corr);
	sscanf(head, "%15s %255s", method, path);
	(void)hl;
	char *body = NULL;
	size_t blen = 0;
	FILE *f = open_memstream(&body, &blen);
	if (f) {
		http_json_error(f, "BAD_REQUEST",
		                why == -1 ? "Content-Length headers that differ"
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
	char sink[4096];
	while (recv(k->fd, sink, sizeof sink, MSG_DONTWAIT) > 0)
		;
	if (n > 0 && (size_t)n < sizeof hdr && send(k->fd, hdr, (size_t)n, MSG_NOSIGNAL) == n &&
	    body)
		(void)!send(k->fd, body, blen, MSG_NOSIGNAL);
	shutdown(k->fd, SHUT_WR);
	free(body);
	http_metrics_count(s, RT_NONE, method, 400);
	http_log_request(s, "info", "refused before libmicrohttpd: Content-Length", method, path,
	                 400, corr, NULL, 0);
	drop(g, i);
}

/* A held connection has bytes (or its end): a complete head is checked,
   then answered here or handed over. */
static void readable(struct http_gate *g, uint32_t i, bool hup)
{
	gate_conn *k = &g->c[i];
	char buf[GATE_PEEK + 1];
	ssize_t n = recv(k->fd, buf, GATE_PEEK, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		drop(g, i);
		return;
	}
	buf[n] = 0;
	size_t hl = 0;
	int v = http_head_framing(buf, (size_t)n, &hl);
	if (v == 1 && n < GATE_PEEK && !hup)
		return; /* more of the head to come (EPOLLET: the next bytes wake us) */
	if (v == 1 && n < GATE_PEEK) {
		drop(g, i); /* ended inside its head */
		return;
	}
	if (v < 0) {
		refuse(g, i, buf, hl, v);
		return;
	}
	epoll_ctl(g->ep, EPOLL_CTL_DEL, k->fd, NULL);
	/* MHD takes the socket, and closes it when it cannot (the limits are
	   counted here, so that is a lack of memory): the counts come back
	   through http_gate_notify once it started, else here */
	if (MHD_add_connection(g->d, k->fd, (const struct sockaddr *)&k->sa, sizeof k->sa) !=
	    MHD_YES)
		release(g->s, k->per_addr, k->addr);
	k->fd = -1;
	g->free[g->nfree++] = i;
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
		k->fd = fd;
		k->sa = sa;
		k->per_addr = per_addr;
		k->since_ms = now_ms();
		memcpy(k->addr, addr, sizeof addr);
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u32 = i};
		if (epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			drop(g, i);
			continue;
		}
		readable(g, i, false); /* the head may be there already */
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
			uint32_t i = ev[e].data.u32;
			if (i == GATE_WAKE)
				return NULL;
			if (i == GATE_LISTEN)
				accept_all(g);
			else if (g->c[i].fd >= 0)
				readable(g, i, ev[e].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
		}
		int64_t t = now_ms();
		if (t - swept >= 250) {
			swept = t;
			for (uint32_t i = 0; i < g->cap; i++)
				if (g->c[i].fd >= 0 && t - g->c[i].since_ms >= timeout_ms)
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
