/*
 * Small file helpers shared by the modules that write files as data
 * arrives (uploads, tus): the write loop every such writer needs, once,
 * and the durable replacement of a small file (sidecars, markers, the
 * signing secret).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/base.h"

int sl_write_all(int fd, const void *p, size_t n, size_t *done)
{
	const char *c = p;
	size_t k = 0;
	int err = 0;
	while (k < n) {
		ssize_t w = write(fd, c + k, n - k);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? errno : ENOSPC;
			break;
		}
		k += (size_t)w;
	}
	if (done)
		*done = k;
	return err;
}

int sl_write_file_durable(const char *path, const void *p, size_t n)
{
	char tmp[4200];
	if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp)
		return ENAMETOOLONG;
	/* a name of its own: two writers of the same path never share one */
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return errno;
	int e = sl_write_all(fd, p, n, NULL);
	if (!e && fdatasync(fd) != 0)
		e = errno;
	if (close(fd) != 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) != 0)
		e = errno;
	if (e)
		unlink(tmp);
	return e;
}
