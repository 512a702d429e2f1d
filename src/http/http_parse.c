/*
 * The request parsers that are ours (http_parse.h): pure functions over
 * bytes, shared by the handlers, the unit test and the fuzz harness.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_parse.h"

/* A header's whole number: digits only (no sign, no spaces), no overflow. */
bool http_parse_u64(const char *p, uint64_t *v)
{
	if (!p || !(*p >= '0' && *p <= '9') || strlen(p) > 20)
		return false;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(p, &end, 10);
	if (errno || *end)
		return false;
	*v = x;
	return true;
}

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void http_b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = b64_chars[(v >> 18) & 63];
		out[o++] = b64_chars[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64_chars[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64_chars[v & 63] : '=';
	}
	out[o] = 0;
}

/* Strict standard base64 (padding optional, nothing else allowed) of `len`
   characters into out (at most max bytes). The decoded length, or -1. */
long http_b64_decode(const char *in, size_t len, unsigned char *out, size_t max)
{
	while (len && in[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -1;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		const char *p = in[i] ? strchr(b64_chars, in[i]) : NULL;
		if (!p)
			return -1;
		acc = (acc << 6) | (uint32_t)(p - b64_chars);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == max)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return (long)o;
}

/* Upload-Metadata: "key b64,key b64,...". `dataset` is required (decoded
   into ds), `filename` optional (kept base64, re-encoded canonically),
   other keys are ignored. NULL, or why it is refused. */
const char *http_tus_metadata(const char *h, char *ds, char *fname_b64)
{
	char buf[TUS_META_MAX + 1];
	bool have_ds = false, have_fn = false;
	ds[0] = fname_b64[0] = 0;
	if (strlen(h) > TUS_META_MAX)
		return "Upload-Metadata is too long";
	snprintf(buf, sizeof buf, "%s", h);
	/* split at every comma (strtok would skip an empty pair: ",," is malformed) */
	for (char *pair = buf, *next; pair; pair = next) {
		next = strchr(pair, ',');
		if (next)
			*next++ = 0;
		while (*pair == ' ')
			pair++;
		size_t n = strlen(pair);
		while (n && pair[n - 1] == ' ')
			pair[--n] = 0;
		if (!n)
			return "Upload-Metadata: an empty pair";
		char *val = strchr(pair, ' ');
		if (val)
			*val++ = 0;
		for (const char *k = pair; *k; k++)
			if ((unsigned char)*k < 0x21 || (unsigned char)*k > 0x7e)
				return "Upload-Metadata: a key is not printable ASCII";
		bool is_ds = !strcmp(pair, "dataset"), is_fn = !strcmp(pair, "filename");
		if (!is_ds && !is_fn) {
			/* not ours to read, but the header must be well-formed: base64 */
			unsigned char skip[TUS_META_MAX];
			if (val && http_b64_decode(val, strlen(val), skip, sizeof skip) < 0)
				return "Upload-Metadata: a value is not base64";
			continue;
		}
		if ((is_ds && have_ds) || (is_fn && have_fn))
			return "Upload-Metadata: a key is given twice";
		unsigned char dec[TUS_FILENAME_MAX + 1];
		long dl = val ? http_b64_decode(val, strlen(val), dec, sizeof dec - 1) : 0;
		if (dl < 0)
			return is_ds
			           ? "Upload-Metadata: dataset is not base64 of at most 255 bytes"
			           : "Upload-Metadata: filename is not base64 of at most 255 bytes";
		dec[dl] = 0;
		if (memchr(dec, 0, (size_t)dl))
			return "Upload-Metadata: a value holds a NUL byte";
		if (is_ds) {
			if (!dl)
				return "Upload-Metadata: dataset is empty";
			memcpy(ds, dec, (size_t)dl + 1);
			have_ds = true;
		} else {
			http_b64_encode(dec, (size_t)dl, fname_b64);
			have_fn = true;
		}
	}
	return have_ds ? NULL : "Upload-Metadata must name the dataset: dataset BASE64_NAME";
}

int http_content_length(const char *const *vals, size_t n, uint64_t *len)
{
	uint64_t first = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t v;
		if (!http_parse_u64(vals[i], &v))
			return -2;
		if (i && v != first)
			return -1;
		first = v;
	}
	*len = first;
	return 0;
}

static int hexval(char ch)
{
	return ch >= '0' && ch <= '9'   ? ch - '0'
	       : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
	       : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
	                                : -1;
}

/* The byte at p (a %XX escape decoded) and how many characters it took. */
static unsigned byte_at(const char *p, size_t *took)
{
	if (p[0] == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
		*took = 3;
		return (unsigned)(hexval(p[1]) * 16 + hexval(p[2]));
	}
	*took = 1;
	return (unsigned char)p[0];
}

bool http_target_bad(const char *u)
{
	bool in_query = false, in_name = true;
	for (const char *p = u; *p;) {
		if (!in_query && *p == '?') {
			in_query = true;
			p++;
			continue;
		}
		if (in_query && (*p == '&' || *p == '=')) {
			in_name = *p == '&';
			p++;
			continue;
		}
		size_t took;
		unsigned ch = byte_at(p, &took);
		if ((ch < 0x20 || ch == 0x7f) && (!in_query || in_name))
			return true;
		p += took;
	}
	return false;
}

unsigned http_query_count(const char *raw, const char *name)
{
	const char *q = strchr(raw, '?');
	unsigned n = 0;
	size_t nl = strlen(name);
	if (!q)
		return 0;
	for (const char *p = q + 1;;) {
		/* one name: up to '=', '&' or the end, decoded as it is compared
		   ('+' is a space in a query, as libmicrohttpd reads it) */
		size_t k = 0;
		bool same = true;
		while (*p && *p != '=' && *p != '&') {
			size_t took;
			unsigned ch = *p == '+' ? ' ' : byte_at(p, &took);
			if (*p == '+')
				took = 1;
			same = same && k < nl && (unsigned char)name[k] == ch;
			k++;
			p += took;
		}
		if (same && k == nl && (k || *p == '='))
			n++;
		while (*p && *p != '&')
			p++;
		if (!*p)
			break;
		p++;
	}
	return n;
}
