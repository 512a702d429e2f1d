/*
 * sl_str: a string as a (pointer, length) view. Views never own their bytes
 * and are not NUL-terminated; who owns the bytes is said where a view is
 * handed out.
 */
#ifndef SLUICE_STR_H
#define SLUICE_STR_H

#include <stddef.h>
#include <string.h>

typedef struct sl_str {
	const char *p;
	size_t n;
} sl_str;

#define SL_STR_LIT(s) ((sl_str){(s), sizeof(s) - 1})

static inline sl_str sl_str_make(const char *p, size_t n)
{
	sl_str s = {p, n};
	return s;
}

static inline int sl_str_eq(sl_str a, sl_str b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline int sl_str_eq_cstr(sl_str a, const char *b)
{
	return sl_str_eq(a, sl_str_make(b, strlen(b)));
}

#endif
