/*
 * Small file helpers shared by the modules that write files as data
 * arrives (uploads, tus): the write loop every such writer needs, once.
 */
#include <errno.h>
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
