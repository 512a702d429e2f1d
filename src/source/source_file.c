/*
 * The file source: `file://PATH` or a plain path. One descriptor shared by
 * every reader, read with pread, so readers on several threads need no
 * lock (the thread rule of source.h). stat is fstat, live: the engine's
 * growth check asks it between chunks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source/source.h"

typedef struct file_source {
	sl_source s;
	int fd;
} file_source;

typedef struct file_reader {
	sl_source_reader r;
	int fd;
	uint64_t off, left;
	bool bounded;
} file_reader;

static int file_stat(sl_source *base, sl_source_stat *st)
{
	file_source *f = (file_source *)base;
	struct stat sb;
	memset(st, 0, sizeof *st);
	if (fstat(f->fd, &sb) < 0) {
		snprintf(base->msg, sizeof base->msg, "%.200s: %s", base->uri, strerror(errno));
		return SL_IO_READ;
	}
	st->size = st->raw_size = (uint64_t)sb.st_size;
	st->size_known = true;
	st->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
	st->ranges_cheap = true;
	return 0;
}

static ssize_t file_read(sl_source_reader *base, char *buf, size_t cap)
{
	file_reader *r = (file_reader *)base;
	if (r->left == 0)
		return 0;
	if (cap > r->left)
		cap = (size_t)r->left;
	ssize_t n;
	do
		n = pread(r->fd, buf, cap, (off_t)r->off);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		snprintf(base->msg, sizeof base->msg, "%.200s: %s at byte %llu", base->src->uri,
		         strerror(errno), (unsigned long long)r->off);
		return SL_IO_READ;
	}
	if (n == 0) {
		r->left = 0;
		if (!r->bounded)
			return 0;
		snprintf(base->msg, sizeof base->msg,
		         "%.200s ends at byte %llu, shorter than when it was planned",
		         base->src->uri, (unsigned long long)r->off);
		return SL_IO_CHANGED;
	}
	r->off += (uint64_t)n;
	if (r->bounded)
		r->left -= (uint64_t)n;
	return n;
}

static void file_reader_close(sl_source_reader *r)
{
	free(r);
}

static const sl_reader_ops file_reader_ops = {file_read, NULL, file_reader_close};

static int file_open_range(sl_source *base, uint64_t off, uint64_t len, const void *at,
                           size_t atlen, sl_source_reader **out)
{
	(void)at;
	(void)atlen;
	file_reader *r = calloc(1, sizeof *r);
	*out = NULL;
	if (!r)
		return SL_NOMEM;
	sl__reader_init(&r->r, &file_reader_ops, base);
	r->fd = ((file_source *)base)->fd;
	r->off = off;
	r->bounded = len != SL_SOURCE_TO_END;
	r->left = r->bounded ? len : UINT64_MAX;
	*out = &r->r;
	return 0;
}

static int file_open_seq(sl_source *base, sl_source_reader **out)
{
	return file_open_range(base, 0, SL_SOURCE_TO_END, NULL, 0, out);
}

static void file_close(sl_source *base)
{
	file_source *f = (file_source *)base;
	if (f->fd >= 0)
		close(f->fd);
	sl__source_fini(base);
	free(f);
}

static const sl_source_ops file_ops = {
    .name = "file",
    .stat = file_stat,
    .open_seq = file_open_seq,
    .open_range = file_open_range,
    .close = file_close,
};

static int file_open(const char *uri, const sl_source_opts *o, sl_source **out, char *msg,
                     size_t msglen)
{
	(void)o;
	const char *path = !strncmp(uri, "file://", 7) ? uri + 7 : uri;
	struct stat sb;
	int rc;
	if (!strcmp(path, "-")) { /* standard input, as a stream */
		int fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
		if (fd < 0) {
			snprintf(msg, msglen, "standard input: %s", strerror(errno));
			return SL_IO_OPEN;
		}
		return sl__source_stream_new(fd, 0, "standard input", out);
	}
	file_source *f = calloc(1, sizeof *f);
	*out = NULL;
	if (!f)
		return SL_NOMEM;
	f->fd = -1;
	if ((rc = sl__source_init(&f->s, &file_ops, path, NULL)) < 0)
		goto out;
	if ((f->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(f->fd, &sb) < 0) {
		rc = SL_IO_OPEN;
		snprintf(msg, msglen, "%.200s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISFIFO(sb.st_mode)) { /* a named pipe: a stream */
		int fd = f->fd;
		f->fd = -1;
		file_close(&f->s);
		return sl__source_stream_new(fd, 0, path, out);
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = SL_IO_OPEN;
		snprintf(msg, msglen, "%.200s: not a regular file", path);
		goto out;
	}
	*out = &f->s;
	return 0;
out:
	file_close(&f->s);
	return rc;
}

int sl_source_from_fd(int fd, const char *name, sl_source **out)
{
	file_source *f = calloc(1, sizeof *f);
	int rc;
	*out = NULL;
	if (!f) {
		close(fd);
		return SL_NOMEM;
	}
	f->fd = fd;
	if ((rc = sl__source_init(&f->s, &file_ops, name, NULL)) < 0) {
		file_close(&f->s);
		return rc;
	}
	*out = &f->s;
	return 0;
}

const sl_source_scheme sl__source_file_scheme = {"file://", file_open};
