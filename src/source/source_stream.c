/*
 * Streams: standard input (`-`), a FIFO, or a program's standard output
 * (--from-program, as psql's COPY FROM PROGRAM). Read once, sequentially:
 * one sequential reader, ever; ranged readers only over the first bytes,
 * which are kept (PEEK) so that the decoders can be chosen by their magic
 * bytes before the stream is read. The engine spools what planning reads
 * (plan.c), and the chunks read the spool. Its size is known at its end;
 * it has no modification time. A program that exits with a status other
 * than 0 (or is killed by a signal) is a read error naming the status,
 * after its last byte.
 *
 * Threads: the source's state (the reader taken, the size learned) is
 * under its mutex; the one sequential reader belongs to one thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "source/source.h"

/* the first bytes, kept so they can be read again: the magic bytes, the
   header; a header longer than this cannot be matched from a stream */
#define PEEK_MAX (16u << 20)

typedef struct stream_source {
	sl_source s;
	pthread_mutex_t mu;
	int fd;
	pid_t child; /* --from-program: its pid until reaped, else 0 */
	sl_buf peek;
	bool peek_eof; /* the stream ended inside the peek */
	bool taken, ended;
	uint64_t total;
	int keep; /* --spool DIR: what the sequential reader yields is copied here, or -1 */
	bool keep_failed;
} stream_source;

typedef struct stream_reader {
	sl_source_reader r;
	size_t at; /* next peek byte */
	bool seq;
} stream_reader;

/* Read into buf; EINTR retried. */
static ssize_t read_fd(int fd, void *buf, size_t n)
{
	ssize_t k;
	do
		k = read(fd, buf, n);
	while (k < 0 && errno == EINTR);
	return k;
}

/* The program's exit, once: 0, or SL_IO_READ with msg. */
static int reap(stream_source *s, char *msg, size_t n)
{
	int st;
	if (!s->child)
		return 0;
	pid_t w;
	do
		w = waitpid(s->child, &st, 0);
	while (w < 0 && errno == EINTR);
	s->child = 0;
	if (w < 0 || (WIFEXITED(st) && WEXITSTATUS(st) == 0))
		return 0;
	if (WIFEXITED(st))
		snprintf(msg, n, "%.200s: the program exited with status %d", s->s.uri,
		         WEXITSTATUS(st));
	else
		snprintf(msg, n, "%.200s: the program was killed by signal %d", s->s.uri,
		         WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return SL_IO_READ;
}

/* More of the stream into the peek (under the lock): 0, or a code. */
static int peek_more(stream_source *s, char *msg, size_t n)
{
	if (s->peek_eof)
		return 0;
	size_t want = 65536;
	int rc = sl_buf_reserve(&s->peek, want);
	if (rc < 0) {
		snprintf(msg, n, "%.200s: the first %u bytes of a stream hold no complete header",
		         s->s.uri, PEEK_MAX);
		return rc;
	}
	ssize_t k = read_fd(s->fd, s->peek.p + s->peek.len, want);
	if (k < 0) {
		snprintf(msg, n, "%.200s: %s", s->s.uri, strerror(errno));
		return SL_IO_READ;
	}
	if (k == 0)
		s->peek_eof = true;
	s->peek.len += (size_t)k;
	return 0;
}

/* The copy of --spool DIR; a copy that fails is given up (the job then
   cannot be resumed, as without it). Only the sequential reader's thread
   writes it. */
static void keep(stream_source *s, const char *buf, size_t n)
{
	size_t done;
	if (s->keep >= 0 && !s->keep_failed && sl_write_all(s->keep, buf, n, &done) < 0)
		s->keep_failed = true;
}

static ssize_t stream_read(sl_source_reader *base, char *buf, size_t cap)
{
	stream_reader *r = (stream_reader *)base;
	stream_source *s = (stream_source *)base->src;
	pthread_mutex_lock(&s->mu);
	int rc = 0;
	/* a peek reader reads the stream into the peek as it goes */
	if (!r->seq && r->at == s->peek.len)
		rc = peek_more(s, base->msg, sizeof base->msg);
	size_t n = r->at < s->peek.len ? s->peek.len - r->at : 0;
	if (n > cap)
		n = cap;
	memcpy(buf, s->peek.p + r->at, n);
	r->at += n;
	bool past = r->seq && n == 0, eof = s->peek_eof;
	pthread_mutex_unlock(&s->mu);
	if (rc < 0)
		return rc;
	if (r->seq && n)
		keep(s, buf, n);
	if (!past)
		return (ssize_t)n;
	ssize_t k = eof ? 0 : read_fd(s->fd, buf, cap);
	if (k < 0) {
		snprintf(base->msg, sizeof base->msg, "%.200s: %s", base->src->uri,
		         strerror(errno));
		return SL_IO_READ;
	}
	if (k > 0)
		keep(s, buf, (size_t)k);
	if (k == 0 && !s->ended) {
		rc = reap(s, base->msg, sizeof base->msg);
		pthread_mutex_lock(&s->mu);
		s->ended = true;
		s->total = base->pos;
		pthread_mutex_unlock(&s->mu);
		return rc;
	}
	return k;
}

static void stream_reader_close(sl_source_reader *r)
{
	free(r);
}

static const sl_reader_ops stream_reader_ops = {stream_read, NULL, stream_reader_close};

static int new_reader(sl_source *base, size_t at, bool seq, sl_source_reader **out)
{
	stream_reader *r = calloc(1, sizeof *r);
	if (!r)
		return SL_NOMEM;
	sl__reader_init(&r->r, &stream_reader_ops, base);
	r->at = at;
	r->seq = seq;
	*out = &r->r;
	return 0;
}

/* The one sequential reader: the peeked bytes, then the rest. */
static int stream_open_seq(sl_source *base, sl_source_reader **out)
{
	stream_source *s = (stream_source *)base;
	int rc = 0;
	*out = NULL;
	pthread_mutex_lock(&s->mu);
	if (s->taken) {
		snprintf(base->msg, sizeof base->msg,
		         "%.200s is a stream: it is read once, and it was read already", base->uri);
		rc = SL_IO_READ;
	}
	s->taken = true;
	pthread_mutex_unlock(&s->mu);
	return rc < 0 ? rc : new_reader(base, 0, true, out);
}

/* Before the sequential reader only, and from the first bytes only (the
   magic bytes, the header): those are kept for it. */
static int stream_open_range(sl_source *base, uint64_t off, uint64_t len, const void *at,
                             size_t atlen, sl_source_reader **out)
{
	stream_source *s = (stream_source *)base;
	(void)at;
	(void)atlen;
	*out = NULL;
	pthread_mutex_lock(&s->mu);
	bool ok = !s->taken && off <= s->peek.len && len == SL_SOURCE_TO_END;
	pthread_mutex_unlock(&s->mu);
	if (!ok) {
		snprintf(base->msg, sizeof base->msg,
		         "%.200s is a stream: it cannot be read at byte %llu again", base->uri,
		         (unsigned long long)off);
		return SL_IO_READ;
	}
	return new_reader(base, (size_t)off, false, out);
}

static int stream_stat(sl_source *base, sl_source_stat *st)
{
	stream_source *s = (stream_source *)base;
	memset(st, 0, sizeof *st);
	pthread_mutex_lock(&s->mu);
	st->size_known = s->ended;
	st->size = st->raw_size = s->total;
	pthread_mutex_unlock(&s->mu);
	st->once = true;
	return 0;
}

static void stream_close(sl_source *base)
{
	stream_source *s = (stream_source *)base;
	if (s->fd >= 0)
		close(s->fd);
	if (s->child) { /* not read to its end: it gets SIGPIPE, or this */
		kill(s->child, SIGTERM);
		char m[8];
		reap(s, m, sizeof m);
	}
	pthread_mutex_destroy(&s->mu);
	sl_buf_free(&s->peek);
	sl__source_fini(base);
	free(s);
}

static const sl_source_ops stream_ops = {
    .name = "stream",
    .stat = stream_stat,
    .open_seq = stream_open_seq,
    .open_range = stream_open_range,
    .close = stream_close,
};

int sl__source_stream_new(int fd, pid_t child, const char *name, sl_source **out)
{
	stream_source *s = calloc(1, sizeof *s);
	*out = NULL;
	if (!s) {
		close(fd);
		return SL_NOMEM;
	}
	pthread_mutex_init(&s->mu, NULL);
	sl_buf_init(&s->peek, PEEK_MAX);
	s->fd = fd;
	s->keep = -1;
	s->child = child;
	int rc = sl__source_init(&s->s, &stream_ops, name, NULL);
	if (rc < 0) {
		stream_close(&s->s);
		return rc;
	}
	*out = &s->s;
	return 0;
}

int sl__source_stream_keep(sl_source *base, int fd)
{
	if (base->ops != &stream_ops)
		return SL_INVAL;
	((stream_source *)base)->keep = fd;
	return 0;
}

bool sl__source_stream_kept(sl_source *base)
{
	stream_source *s = (stream_source *)base;
	return base->ops == &stream_ops && s->keep >= 0 && !s->keep_failed && s->ended;
}

int sl_source_open_program(const char *cmd, sl_source **out, char *msg, size_t msglen)
{
	int p[2];
	*out = NULL;
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(msg, msglen, "--from-program: %s", strerror(errno));
		return SL_IO_OPEN;
	}
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(msg, msglen, "--from-program: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return SL_IO_OPEN;
	}
	if (pid == 0) { /* the child: its stdout is the pipe */
		dup2(p[1], STDOUT_FILENO);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char name[300];
	snprintf(name, sizeof name, "program '%.250s'", cmd);
	return sl__source_stream_new(p[0], pid, name, out);
}
