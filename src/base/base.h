/*
 * Private to sluice: small building blocks every module uses. Not installed,
 * not part of the public API (include/sluice/).
 *
 *   sl_buf   a growable byte buffer born with a ceiling;
 *   sl_cpu   what the CPU can run, detected once;
 *   sl_json  writing JSON text safely (strings escaped, never malformed).
 */
#ifndef SLUICE_BASE_H
#define SLUICE_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sluice/str.h"

#define SL_LIKELY(x) __builtin_expect(!!(x), 1)
#define SL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* --- sl_buf ----------------------------------------------------------------
 * Owns its bytes. `cap` never exceeds `max`: a buffer that would have to
 * grow past its ceiling fails with SL_LIMIT instead, so no input can make
 * memory grow without bound. */
typedef struct sl_buf {
	char *p;
	size_t len, cap, max;
} sl_buf;

void sl_buf_init(sl_buf *b, size_t max);
void sl_buf_free(sl_buf *b);
/* Make room for `extra` more bytes: 0, SL_NOMEM or SL_LIMIT. */
int sl_buf_reserve(sl_buf *b, size_t extra);
int sl_buf_append(sl_buf *b, const void *p, size_t n);
/* Append `name` quoted as an SQL identifier ("a""b"): for every SQL
   backend (names are checked identifiers already; quoting is the second
   fence). */
int sl_buf_add_ident(sl_buf *b, const char *name);
static inline void sl_buf_reset(sl_buf *b)
{
	b->len = 0;
}

/* --- sl_cpu ---------------------------------------------------------------- */
typedef struct sl_cpu {
	bool sse2, avx2, pclmul, bmi1, popcnt;
} sl_cpu;
const sl_cpu *sl_cpu_get(void);

/* --- sl_json --------------------------------------------------------------
 * Writes to a FILE*. Strings are escaped per RFC 8259; bytes that are not
 * valid UTF-8 are written as \u00XX of the byte, so the output is always
 * valid JSON (a decoder reads such a byte as the code point U+00XX; the
 * conformance harness reads it back as the raw byte). */
void sl_json_str(FILE *f, const char *p, size_t n);
static inline void sl_json_sv(FILE *f, sl_str s)
{
	sl_json_str(f, s.p, s.n);
}
static inline void sl_json_cstr(FILE *f, const char *s)
{
	sl_json_str(f, s, strlen(s));
}

/* --- UTF-8 ------------------------------------------------------------------
 * 0 when [p, p+n) is valid UTF-8; else 1 + the offset of the first bad
 * byte. With nul_bad a NUL byte is bad too, and *nul (if not NULL) says
 * whether that was the reason. *cps (if not NULL) gets the code points. */
size_t sl_utf8_scan(const char *p, size_t n, bool nul_bad, size_t *cps, bool *nul);

/* --- codes reported to users -------------------------------------------------
 * sl__error_report(code) is sl_error_name(code), for the places where the
 * program names a code to a user: a message, JSON, a table, an HTTP error
 * body (listing the table, `sluice codes`, is not reporting). With
 * SLUICE_CODES_LOG set, it also appends "NAME<TAB>CHANNEL\n" to that file,
 * once per code and process: CTest sets it per test, and
 * tests/codes_coverage.py compares what a run reported with the table.
 * The channel is the command, given once by sl__error_channel(). */
const char *sl__error_report(int code);
void sl__error_channel(const char *name);

/* --- files --------------------------------------------------------------------
   Write all n bytes (short writes and EINTR retried): 0, or the errno of
   the failure (ENOSPC for a write that makes no progress) with *done the
   bytes written before it. */
int sl_write_all(int fd, const void *p, size_t n, size_t *done);
/* Replace the file at path by these n bytes, whole or not at all after a
   crash: a temporary file beside it (mode 0600), written, fdatasync'ed and
   renamed over it. 0, or the errno of the failure (nothing left behind).
   The directory's own fsync, where the new name must survive a crash, is
   the caller's. */
int sl_write_file_durable(const char *path, const void *p, size_t n);

/* Wall-clock Unix milliseconds, for timestamps users read. */
int64_t sl_now_ms(void);
/* Monotonic seconds, for durations. */
double sl_now(void);
/* SLUICE_TRACE=1 (any non-empty value): one line on stderr per call,
   "sluice trace: +MS ms (thread cpu MS ms) WHAT": milliseconds since the
   process's first trace (main's "start") and the calling thread's CPU
   time so far; for finding where a run's fixed costs go
   (docs/benchmarks.md). Off, a call costs a pthread_once. */
void sl_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
