/*
 * Request framing for the gate (http_frame.h): a small state machine over
 * the bytes of one connection, in the order the client sent them. A head is
 * judged whole (http_head_framing, the same check a first head gets); its
 * body is skipped by its Content-Length or by walking the chunked coding
 * (size line, data, CRLF, ..., the last chunk and its trailer section,
 * RFC 9112 7.1). Nothing is copied: the caller's buffer is read in place,
 * and a head or line cut by the buffer's end is scanned again when more
 * bytes came.
 */
#include "http/http_frame.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "http/http_parse.h"

enum {
	FR_HEAD,       /* a request head (or the empty lines before one) */
	FR_BODY,       /* `left` bytes of a Content-Length body */
	FR_CHUNK_LINE, /* a chunk-size line */
	FR_CHUNK_DATA, /* `left` bytes of chunk data */
	FR_CHUNK_END,  /* the CRLF after chunk data */
	FR_TRAILER,    /* trailer fields after the last chunk, to an empty line */
	FR_OPAQUE      /* framing unknown: the rest passes unchecked */
};

/* no chunk-size or trailer line is longer (libmicrohttpd's own is shorter) */
#define LINE_MAX_LEN 4096

void http_frame_init(http_framer *f)
{
	memset(f, 0, sizeof *f);
	f->state = FR_HEAD;
}

/* The value of header `name` (with its colon) in line q[0..l), spaces
   before it skipped, or NULL. */
static const char *field(const char *q, size_t l, const char *name, size_t nl, size_t *vl)
{
	if (l < nl || strncasecmp(q, name, nl))
		return NULL;
	const char *v = q + nl, *e = q + l;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*vl = (size_t)(e - v);
	return v;
}

/* What follows the complete, valid head p[0..hl): FR_HEAD (no body),
   FR_BODY (*len bytes), FR_CHUNK_LINE or FR_OPAQUE. */
static int body_of(const char *p, size_t hl, uint64_t *len)
{
	bool te = false, chunked = false, cl = false;
	const char *q = memchr(p, '\n', hl);
	for (q = q ? q + 1 : p + hl; q < p + hl;) {
		const char *end = memchr(q, '\n', (size_t)(p + hl - q));
		if (!end)
			break;
		size_t l = (size_t)(end - q), vl;
		if (l && q[l - 1] == '\r')
			l--;
		const char *v;
		if ((v = field(q, l, "transfer-encoding:", 18, &vl))) {
			te = true;
			/* chunked must be the last coding (RFC 9112 6.3) */
			chunked =
			    vl >= 7 && !strncasecmp(v + vl - 7, "chunked", 7) &&
			    (vl == 7 || v[vl - 8] == ',' || v[vl - 8] == ' ' || v[vl - 8] == '\t');
		} else if ((v = field(q, l, "content-length:", 15, &vl))) {
			char num[32];
			if (vl < sizeof num) {
				memcpy(num, v, vl);
				num[vl] = 0;
				cl = http_parse_u64(num, len);
			}
		}
		q = end + 1;
	}
	if (te)
		return chunked ? FR_CHUNK_LINE : FR_OPAQUE;
	return cl && *len ? FR_BODY : FR_HEAD;
}

/* A chunk-size line's size: hex digits, then nothing, white space or an
   extension after ';'. false when it is not one. */
static bool chunk_size(const char *q, size_t l, uint64_t *size)
{
	uint64_t v = 0;
	size_t i = 0;
	for (; i < l; i++) {
		char c = q[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
		        : c >= 'a' && c <= 'f' ? c - 'a' + 10
		        : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                               : -1;
		if (d < 0)
			break;
		if (v >> 60)
			return false; /* more than 64 bits */
		v = v << 4 | (uint64_t)d;
	}
	if (!i || (i < l && q[i] != ';' && q[i] != ' ' && q[i] != '\t'))
		return false;
	*size = v;
	return true;
}

int http_frame_scan(http_framer *f, const char *p, size_t n, size_t *pass, size_t *head_len)
{
	size_t pos = 0;
	*head_len = 0;
	while (pos < n) {
		const char *q = p + pos, *nl;
		size_t avail = n - pos, k;
		switch (f->state) {
		case FR_HEAD: {
			if (q[0] == '\n' || (q[0] == '\r' && avail >= 2 && q[1] == '\n')) {
				pos += q[0] == '\n' ? 1 : 2; /* an empty line before a request */
				continue;
			}
			if (q[0] == '\r' && avail < 2)
				goto more;
			size_t hl = 0;
			int v = http_head_framing(
			    q, avail < HTTP_FRAME_HEAD_MAX ? avail : HTTP_FRAME_HEAD_MAX, &hl);
			if (v == 1) {
				if (avail < HTTP_FRAME_HEAD_MAX)
					goto more;
				f->state = FR_OPAQUE; /* too long to check */
				continue;
			}
			if (v < 0) {
				*head_len = hl;
				*pass = pos;
				return v;
			}
			f->heads++;
			f->state = body_of(q, hl, &f->left);
			pos += hl;
			continue;
		}
		case FR_BODY:
		case FR_CHUNK_DATA:
			k = avail < f->left ? avail : (size_t)f->left;
			pos += k;
			f->left -= k;
			if (!f->left)
				f->state = f->state == FR_BODY ? FR_HEAD : FR_CHUNK_END;
			continue;
		case FR_CHUNK_END:
			if (q[0] == '\n') {
				pos += 1;
			} else if (q[0] == '\r' && avail >= 2 && q[1] == '\n') {
				pos += 2;
			} else if (q[0] == '\r' && avail < 2) {
				goto more;
			} else {
				f->state = FR_OPAQUE;
				continue;
			}
			f->state = FR_CHUNK_LINE;
			continue;
		case FR_CHUNK_LINE:
		case FR_TRAILER: {
			nl = memchr(q, '\n', avail < LINE_MAX_LEN ? avail : LINE_MAX_LEN);
			if (!nl) {
				if (avail < LINE_MAX_LEN)
					goto more;
				f->state = FR_OPAQUE;
				continue;
			}
			size_t l = (size_t)(nl - q);
			if (l && q[l - 1] == '\r')
				l--;
			pos += (size_t)(nl - q) + 1;
			if (f->state == FR_TRAILER) {
				if (!l)
					f->state = FR_HEAD;
				continue;
			}
			uint64_t size;
			if (!chunk_size(q, l, &size))
				f->state = FR_OPAQUE;
			else if (!size)
				f->state = FR_TRAILER;
			else {
				f->left = size;
				f->state = FR_CHUNK_DATA;
			}
			continue;
		}
		default: /* FR_OPAQUE */
			pos = n;
			continue;
		}
	}
more:
	*pass = pos;
	return 0;
}
