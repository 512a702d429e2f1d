/*
 * Private to src/http/: the parsers of request parts that are ours, not
 * libmicrohttpd's, as pure functions over bytes (no connection, no server),
 * so that tests/http/test_parse.c checks them case by case and
 * fuzz/fuzz_http.c fuzzes them: header numbers (Content-Length,
 * Upload-Offset, Upload-Length), several Content-Length headers, strict
 * base64 and tus Upload-Metadata, the raw request target (control bytes)
 * and the names of its query (a signed URL's parameters, each once).
 */
#ifndef SLUICE_HTTP_PARSE_H
#define SLUICE_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TUS_META_MAX     4096 /* Upload-Metadata */
#define TUS_DATASET_MAX  255  /* decoded `dataset` metadata */
#define TUS_FILENAME_MAX 255  /* decoded `filename` metadata */
#define TUS_B64_MAX      344  /* base64 of 255 bytes, with padding: 4 * 85 + NUL room */

/* A header's whole number: digits only (no sign, no spaces), no overflow. */
bool http_parse_u64(const char *p, uint64_t *v);
/* Several Content-Length values (n of them, as sent): 0 and *len when they
   are one number (repeated or not), -1 when they differ, -2 when one is
   not a number. */
int http_content_length(const char *const *vals, size_t n, uint64_t *len);
/* The framing of a request head as the client sent it (bytes from the
   request line on, at most n): 1 when the head is not complete within n,
   0 when it is and its Content-Length headers are absent or one number, -1
   when they differ (or there are more than 8), -2 when one is not a number
   (http_gate.c answers these itself: libmicrohttpd would refuse them before
   any callback, in HTML). *head_len is the head's length with its blank
   line when complete. */
int http_head_framing(const char *p, size_t n, size_t *head_len);
/* Standard base64 of n bytes into out (4 * ceil(n / 3) + 1 bytes). */
void http_b64_encode(const unsigned char *in, size_t n, char *out);
/* Strict standard base64 (padding optional, nothing else allowed) of `len`
   characters into out (at most max bytes). The decoded length, or -1. */
long http_b64_decode(const char *in, size_t len, unsigned char *out, size_t max);
/* tus Upload-Metadata "key b64,key b64,...": `dataset` required (decoded
   into ds, TUS_DATASET_MAX + 1 bytes), `filename` optional (re-encoded into
   fname_b64, TUS_B64_MAX + 1 bytes), every value valid base64. NULL, or
   why it is refused. */
const char *http_tus_metadata(const char *h, char *ds, char *fname_b64);
/* The value of key `key` in an Upload-Metadata header that
   http_tus_metadata accepted, base64-decoded into out (NUL-terminated, at
   most n - 1 bytes): 1 found, 0 absent (or given without a value: ""
   then, 1), -1 too long for out or not base64. */
int http_tus_meta_get(const char *h, const char *key, char *out, size_t n);
/* A control byte (below 0x20, or DEL), raw or percent-encoded, in the path
   or in a query parameter's name of a raw request target. */
bool http_target_bad(const char *raw);
/* How many query parameters of the raw target are named `name` (names
   compared percent-decoded, as libmicrohttpd decodes them). */
unsigned http_query_count(const char *raw, const char *name);

/* multipart/form-data, streaming (RFC 7578, RFC 2046 section 5.1.1): the
   parts named `file` reach on_data piece by piece, whatever the splits of
   the input; other parts and the preamble and epilogue are skipped. A
   file part's start is told by on_data(ctx, NULL, 0). Memory: the struct,
   no allocation. */
#define HTTP_MP_BOUNDARY_MAX 70
#define HTTP_MP_HEADERS_MAX  8192
typedef struct http_mp {
	char delim[HTTP_MP_BOUNDARY_MAX + 5]; /* CR LF "--" boundary */
	size_t dlen, j;                       /* delimiter length; bytes of it matched */
	int state;
	bool in_file; /* the current part is named file */
	char hdr[HTTP_MP_HEADERS_MAX];
	size_t hlen;
	unsigned after; /* after a delimiter: 0 start, 1 a '-', 2 a CR, 3 padding */
	void (*on_data)(void *ctx, const char *p, size_t n);
	void *ctx;
} http_mp;
/* The boundary of a Content-Type (`boundary=X` or `boundary="X"`, 1 to 70
   characters of RFC 2046's bchars, not ending in a space): 0, else -1. */
int http_mp_init(http_mp *m, const char *content_type,
                 void (*on_data)(void *ctx, const char *p, size_t n), void *ctx);
/* 0, or -1 when the body is malformed (part headers too long, bytes after
   a delimiter that are neither "--" nor a line end). */
int http_mp_feed(http_mp *m, const char *p, size_t n);
/* At the end of the body: 0 when the closing delimiter came, else -1. */
int http_mp_end(const http_mp *m);

#endif
