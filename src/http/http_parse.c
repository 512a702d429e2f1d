/*
 * The request parsers that are ours (http_parse.h): pure functions over
 * bytes, shared by the handlers, the unit test and the fuzz harness.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

int http_tus_meta_get(const char *h, const char *key, char *out, size_t n)
{
	size_t kl = strlen(key);
	out[0] = 0;
	for (const char *pair = h; pair && *pair;) {
		const char *end = strchr(pair, ',');
		size_t len = end ? (size_t)(end - pair) : strlen(pair);
		while (len && *pair == ' ')
			pair++, len--;
		while (len && pair[len - 1] == ' ')
			len--;
		if (len >= kl && !strncmp(pair, key, kl) && (len == kl || pair[kl] == ' ')) {
			const char *val = pair + kl + (len > kl);
			size_t vl = len - kl - (len > kl);
			if (!n)
				return -1;
			long dl = http_b64_decode(val, vl, (unsigned char *)out, n - 1);
			if (dl < 0)
				return -1;
			out[dl] = 0;
			return 1;
		}
		pair = end ? end + 1 : NULL;
	}
	return 0;
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

int http_head_framing(const char *p, size_t n, size_t *head_len)
{
	enum { CL_MAX = 8, CL_LEN = 32 };
	char vals[CL_MAX][CL_LEN + 1];
	const char *vp[CL_MAX];
	size_t nv = 0;
	bool too_many = false, bad = false;
	/* lines end in LF (CR before it dropped), as libmicrohttpd reads them */
	const char *line = memchr(p, '\n', n);
	if (!line)
		return 1;
	for (const char *q = line + 1;;) {
		const char *end = memchr(q, '\n', n - (size_t)(q - p));
		if (!end)
			return 1;
		size_t l = (size_t)(end - q);
		if (l && q[l - 1] == '\r')
			l--;
		if (!l) {
			*head_len = (size_t)(end + 1 - p);
			break;
		}
		static const char name[] = "content-length:";
		if (l >= sizeof name - 1 && !strncasecmp(q, name, sizeof name - 1)) {
			const char *v = q + sizeof name - 1, *ve = q + l;
			/* white space before the number only: libmicrohttpd refuses a
			   value with some after it, so that is not a number here either */
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			if (nv == CL_MAX)
				too_many = true;
			else if ((size_t)(ve - v) > CL_LEN)
				bad = true; /* longer than any 64-bit number */
			else {
				memcpy(vals[nv], v, (size_t)(ve - v));
				vals[nv][ve - v] = 0;
				vp[nv] = vals[nv];
				nv++;
			}
		}
		q = end + 1;
	}
	if (bad)
		return -2;
	uint64_t len;
	int rc = nv ? http_content_length(vp, nv, &len) : 0;
	return rc == 0 && too_many ? -1 : rc;
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

/* --- multipart/form-data ---------------------------------------------------------------- */

enum { MP_BODY, MP_AFTER, MP_HEADERS, MP_DONE, MP_ERROR };

static bool bchar(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       strchr("'()+_,-./:=? ", ch) != NULL;
}

int http_mp_init(http_mp *m, const char *ct, void (*on_data)(void *ctx, const char *p, size_t n),
                 void *ctx)
{
	memset(m, 0, sizeof *m);
	m->on_data = on_data;
	m->ctx = ctx;
	/* the boundary parameter, wherever it stands among the parameters */
	const char *p = ct ? strchr(ct, ';') : NULL;
	while (p) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!strncasecmp(p, "boundary=", 9))
			break;
		p = strchr(p, ';');
	}
	if (!p)
		return -1;
	p += 9;
	size_t n;
	if (*p == '"') {
		p++;
		const char *q = strchr(p, '"');
		if (!q)
			return -1;
		n = (size_t)(q - p);
	} else {
		n = strcspn(p, "; \t");
	}
	if (n < 1 || n > HTTP_MP_BOUNDARY_MAX || p[n - 1] == ' ')
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!bchar((unsigned char)p[i]))
			return -1;
	memcpy(m->delim, "\r\n--", 4);
	memcpy(m->delim + 4, p, n);
	m->dlen = n + 4;
	/* the body starts as if after a line end: its first delimiter may be
	   "--boundary" at byte 0 */
	m->j = 2;
	m->state = MP_BODY;
	return 0;
}

static void emit(http_mp *m, const char *p, size_t n)
{
	if (m->in_file && n)
		m->on_data(m->ctx, p, n);
}

/* A part's headers are in: is it the part named file? */
static void part_headers(http_mp *m)
{
	m->in_file = false;
	m->hdr[m->hlen] = 0;
	for (char *line = m->hdr; line && *line;) {
		char *end = strstr(line, "\r\n");
		if (end)
			*end = 0;
		if (!strncasecmp(line, "Content-Disposition:", 20)) {
			/* name="file" or name=file, as a parameter (not inside filename=) */
			for (char *q = line + 20; (q = strchr(q, ';'));) {
				q++;
				while (*q == ' ' || *q == '\t')
					q++;
				if (!strncasecmp(q, "name=", 5)) {
					const char *v = q + 5;
					m->in_file = !strncmp(v, "\"file\"", 6)
					                 ? (v[6] == 0 || v[6] == ';' || v[6] == ' ')
					             : !strncmp(v, "file", 4)
					                 ? (v[4] == 0 || v[4] == ';' || v[4] == ' ')
					                 : false;
				}
			}
		}
		line = end ? end + 2 : NULL;
	}
	if (m->in_file)
		m->on_data(m->ctx, NULL, 0);
}

int http_mp_feed(http_mp *m, const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && m->state != MP_ERROR) {
		switch (m->state) {
		case MP_BODY: {
			if (m->j == 0) {
				/* no partial match: everything up to the next CR is data */
				const char *cr = memchr(p + i, '\r', n - i);
				size_t run = cr ? (size_t)(cr - (p + i)) : n - i;
				emit(m, p + i, run);
				i += run;
				if (!cr)
					break;
			}
			char ch = p[i];
			if (ch == m->delim[m->j]) {
				m->j++;
				i++;
				if (m->j == m->dlen) {
					m->state = MP_AFTER;
					m->after = 0;
					m->j = 0;
				}
			} else {
				/* the held bytes were data; CR appears in the delimiter at 0
				   only, so no later start hides in them */
				if (m->j) {
					emit(m, m->delim, m->j);
					m->j = 0;
				}
				if (ch != '\r') {
					emit(m, p + i, 1);
					i++;
				}
			}
			break;
		}
		case MP_AFTER: {
			/* "--" ends the body; else optional padding (spaces, tabs), then CR LF */
			char ch = p[i++];
			if (m->after == 0 && ch == '-')
				m->after = 1;
			else if (m->after == 1 && ch == '-')
				m->state = MP_DONE;
			else if (m->after == 0 && (ch == ' ' || ch == '\t'))
				m->after = 3;
			else if ((m->after == 0 || m->after == 3) && ch == '\r')
				m->after = 2;
			else if (m->after == 3 && (ch == ' ' || ch == '\t'))
				;
			else if (m->after == 2 && ch == '\n') {
				m->state = MP_HEADERS;
				m->hlen = 0;
				m->in_file = false;
			} else
				m->state = MP_ERROR;
			break;
		}
		case MP_HEADERS: {
			if (m->hlen == sizeof m->hdr - 1) {
				m->state = MP_ERROR;
				break;
			}
			m->hdr[m->hlen++] = p[i++];
			if (m->hlen == 2 && !memcmp(m->hdr, "\r\n", 2)) {
				m->hlen = 0; /* no headers at all */
				part_headers(m);
				m->state = MP_BODY;
			} else if (m->hlen >= 4 && !memcmp(m->hdr + m->hlen - 4, "\r\n\r\n", 4)) {
				m->hlen -= 2;
				part_headers(m);
				m->state = MP_BODY;
			}
			break;
		}
		case MP_DONE:
			i = n; /* the epilogue is ignored */
			break;
		}
	}
	return m->state == MP_ERROR ? -1 : 0;
}

int http_mp_end(const http_mp *m)
{
	return m->state == MP_DONE ? 0 : -1;
}
