/*
 * sl_buf: growable byte buffer with a ceiling (see base.h).
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "sluice/error.h"

void sl_buf_init(sl_buf *b, size_t max)
{
	b->p = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

void sl_buf_free(sl_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int sl_buf_reserve(sl_buf *b, size_t extra)
{
	if (extra <= b->cap - b->len)
		return 0;
	if (extra > b->max || b->len > b->max - extra)
		return SL_LIMIT;
	size_t need = b->len + extra;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > b->max / 2 ? b->max : cap * 2;
	char *p = realloc(b->p, cap);
	if (!p)
		return SL_NOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int sl_buf_append(sl_buf *b, const void *p, size_t n)
{
	int rc = sl_buf_reserve(b, n);
	if (rc == 0 && n) {
		memcpy(b->p + b->len, p, n);
		b->len += n;
	}
	return rc;
}

int sl_buf_add_ident(sl_buf *b, const char *name)
{
	int rc = sl_buf_append(b, "\"", 1);
	for (const char *p = name; rc == 0 && *p; p++) {
		rc = sl_buf_append(b, p, 1);
		if (rc == 0 && *p == '"')
			rc = sl_buf_append(b, "\"", 1);
	}
	return rc ? rc : sl_buf_append(b, "\"", 1);
}
