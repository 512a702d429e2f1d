/*
 * UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF), counting code points on the way. Used by the CSV engine
 * (records, when the dialect asks) and by validators (text columns, whose
 * lengths are in code points). ASCII runs go eight bytes at a time.
 */
#include <string.h>

#include "base/base.h"

size_t sl_utf8_scan(const char *s, size_t n, bool nul_bad, size_t *cps, bool *nul)
{
	const unsigned char *p = (const unsigned char *)s;
	bool dummy;
	if (!nul)
		nul = &dummy;
	size_t i = 0, count = 0;
	while (i < n) {
		/* eight ASCII bytes without a zero at a time: the common case */
		if (i + 8 <= n) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			const uint64_t hi = 0x8080808080808080u, lo = 0x0101010101010101u;
			if (!(w & hi) && (!nul_bad || !((w - lo) & ~w & hi))) {
				i += 8;
				count += 8;
				continue;
			}
		}
		unsigned c = p[i];
		if (c < 0x80) {
			if (c == 0 && nul_bad) {
				*nul = true;
				return i + 1;
			}
			i++;
			count++;
			continue;
		}
		size_t len;
		unsigned lo = 0x80, hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf)
			len = 2;
		else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			*nul = false;
			return i + 1;
		}
		if (i + len > n || p[i + 1] < lo || p[i + 1] > hi) {
			*nul = false;
			return i + 1;
		}
		for (size_t k = 2; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80) {
				*nul = false;
				return i + 1;
			}
		}
		i += len;
		count++;
	}
	if (cps)
		*cps = count;
	*nul = false;
	return 0;
}
