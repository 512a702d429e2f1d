/*
 * The framing of a request stream as it passes the gate (http_gate.c):
 * where each request head starts and ends and how long the body after it
 * is (Content-Length, or chunked), so that every head of a kept-alive or
 * pipelined connection is checked before libmicrohttpd reads it, not only
 * the first. Pure: no I/O, no allocation; the caller keeps the bytes.
 */
#ifndef SLUICE_HTTP_FRAME_H
#define SLUICE_HTTP_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* A head longer than this is not checked: it goes on unchecked (and
   libmicrohttpd refuses it as too large), and so does all after it. */
#define HTTP_FRAME_HEAD_MAX (40 * 1024)

typedef struct http_framer {
	int state;      /* where in a request the next byte is (http_frame.c) */
	uint64_t left;  /* bytes left of the body or of the chunk */
	uint64_t heads; /* complete heads passed */
} http_framer;

/* Start of a connection. */
void http_frame_init(http_framer *f);

/* Scan p[0..n), the stream's bytes from the first not passed yet (what a
   call left unpassed comes again, with more after it). *pass: how many of
   them may go on now. Returns 0 (the rest waits for more bytes), or, when
   the head starting at p + *pass has Content-Length headers that are not
   one number, -1 (several that differ) or -2 (one that is not a number)
   with *head_len that head's length: it and all after it must not go on.
   Heads with an unknown Transfer-Encoding, over-long heads and broken
   chunk framing make the rest of the stream pass unchecked (libmicrohttpd
   answers them: their framing is not a Content-Length). */
int http_frame_scan(http_framer *f, const char *p, size_t n, size_t *pass, size_t *head_len);

#endif
