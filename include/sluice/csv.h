/*
 * The CSV engine: an exact, streaming, chunk-splittable parser of delimited
 * files.
 *
 * Grammar (docs/csv.md has the full text and the reasons):
 *   - a record ends at CR, LF or CRLF outside quotes; a final line break is
 *     optional; a UTF-8 byte-order mark at offset 0 is skipped;
 *   - a field is quoted iff its first byte is the quote character; inside it
 *     the quote is written doubled (or preceded by the escape byte when one is
 *     configured); after the closing quote only a delimiter, a line break or
 *     the end may follow;
 *   - a quote anywhere else (inside an unquoted field, or text after a closing
 *     quote) is a stray quote: the record gets CSV_STRAY_QUOTE, or in lenient
 *     mode the text is kept as data. Stray quotes never change where records
 *     end, so one bad row cannot swallow the rest of the file;
 *   - the delimiter is 1 to 4 bytes, matched whole from the left ("a|||b"
 *     with "||" is "a", "|b"); with skip_initial_space, spaces at the start
 *     of a field are not data and a quote after them opens a quoted field;
 *   - lenient mode (lenient_fields, lenient_quotes) keeps records with more
 *     or fewer fields (rec.warning), reads the header as one physical line,
 *     and reads a quote that opened by mistake (still open at the end, or
 *     closing a multi-line field with text after it) as data to the end of
 *     its line: one damaged line costs that line only;
 *   - NUL bytes are ordinary data.
 *
 * Structural errors never stop the parse: the record carries a code and the
 * parser goes on at the next record boundary.
 *
 * Threading: a parser, reader or plan belongs to one thread at a time. The
 * functions keep no global mutable state (scanner selection is computed once
 * and is read-only afterwards), so different parsers run on different
 * threads freely.
 */
#ifndef SLUICE_CSV_H
#define SLUICE_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sluice/error.h"
#include "sluice/str.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_CSV_NONE            (-1)               /* no quote / escape / comment byte */
#define SL_CSV_DEFAULT_MAX_ROW (8u * 1024 * 1024) /* CSV_ROW_TOO_LONG above this */
#define SL_CSV_RAW_PREFIX      4096  /* bytes of raw record kept for a too-long record */
#define SL_CSV_MAX_FIELDS      65536 /* fields kept per record; more: CSV_TOO_MANY_FIELDS */
#define SL_CSV_MAX_DELIM       4     /* bytes in a delimiter */

typedef struct sl_csv_dialect {
	unsigned char delimiter;     /* the delimiter's first (or only) byte; default ',' */
	unsigned char delimiter_len; /* 1..SL_CSV_MAX_DELIM bytes (0 reads as 1); set a
	                                multi-byte one with sl_csv_dialect_set_delimiter() */
	unsigned char delimiter_tail[SL_CSV_MAX_DELIM - 1]; /* its bytes after the first */
	int quote;   /* quote byte, or SL_CSV_NONE to read quotes as data; default '"' */
	int escape;  /* == quote: doubled quotes (default); another byte: that byte escapes
	                a quote or itself inside quotes; SL_CSV_NONE: no escaping */
	int comment; /* lines starting with this byte are skipped; default SL_CSV_NONE */
	bool header; /* the first record names the columns; default true */
	bool skip_empty_lines;   /* default true; when false an empty line is a record
	                            with one empty field */
	bool lenient_quotes;     /* keep stray quotes as data instead of CSV_STRAY_QUOTE */
	bool lenient_fields;     /* keep records with more or fewer fields than expected
	                            (rec.warning says which) and read the header as one
	                            physical line; --lenient and `lenient: true` set both */
	bool skip_initial_space; /* spaces (0x20) at the start of a field are not data */
	bool validate_utf8;      /* CSV_INVALID_UTF8 for records that are not UTF-8 */
	size_t max_row_bytes;    /* default SL_CSV_DEFAULT_MAX_ROW */
} sl_csv_dialect;

void sl_csv_dialect_init(sl_csv_dialect *d);
/* Set the delimiter to the n bytes at s (1..SL_CSV_MAX_DELIM): 0, or SL_CONFIG. */
int sl_csv_dialect_set_delimiter(sl_csv_dialect *d, const char *s, size_t n);
/* The delimiter's bytes into out (room for SL_CSV_MAX_DELIM); returns their count. */
size_t sl_csv_dialect_delimiter(const sl_csv_dialect *d, char *out);
/* 0 when usable; else SL_CONFIG and *why (static text) says what is wrong. */
int sl_csv_dialect_check(const sl_csv_dialect *d, const char **why);

/* Which engine finds the structure. All give identical results. */
typedef enum sl_csv_scanner {
	SL_CSV_SCAN_AUTO = 0, /* the fastest this CPU runs */
	SL_CSV_SCAN_SCALAR,   /* byte-at-a-time state machine: the reference */
	SL_CSV_SCAN_GENERIC,  /* 64-byte bitmask scanner in portable C */
	SL_CSV_SCAN_SSE2,
	SL_CSV_SCAN_AVX2,
} sl_csv_scanner;

/* The scanner AUTO resolves to on this CPU; a named one that the CPU lacks
   resolves to the best it has. */
sl_csv_scanner sl_csv_scanner_resolve(sl_csv_scanner s);
const char *sl_csv_scanner_name(sl_csv_scanner s);
/* "auto", "scalar", "generic", "sse2", "avx2" -> 0, or SL_INVAL. */
int sl_csv_scanner_parse(const char *name, sl_csv_scanner *out);

/* A place in the input: where a record begins. */
typedef struct sl_csv_pos {
	uint64_t offset;  /* byte offset in the input */
	uint64_t records; /* data records before this place */
	uint64_t line;    /* 1-based physical line at this place */
} sl_csv_pos;

typedef struct sl_csv_record {
	const sl_str *fields; /* field values; valid until the next call on the parser */
	size_t nfields;       /* values given: 0 for a data record with an error (the
	                         header keeps its values even then) */
	size_t nfields_seen;  /* fields the record has (may exceed nfields) */
	uint64_t record;      /* 1-based data record number; 0 for the header */
	uint64_t line;        /* physical line where the record starts */
	uint64_t offset;      /* byte offset of its first byte */
	sl_str raw;           /* its bytes without the line break; for CSV_ROW_TOO_LONG
	                         and CSV_UNTERMINATED_QUOTE above the row limit, the
	                         first SL_CSV_RAW_PREFIX bytes */
	uint64_t raw_len;     /* its full length in bytes */
	int error;            /* 0 or an SL_CSV_* code */
	int warning;          /* lenient mode, when error is 0: SL_CSV_TOO_FEW_FIELDS or
	                         SL_CSV_TOO_MANY_FIELDS (kept with its nfields values),
	                         else SL_CSV_STRAY_QUOTE (stray quotes kept as data), else 0 */
	bool is_header;
} sl_csv_record;

/* Counters a parser keeps over everything it has read. */
typedef struct sl_csv_counts {
	uint64_t records;       /* data records (header excluded), errors included */
	uint64_t empty_lines;   /* skipped empty lines */
	uint64_t comment_lines; /* skipped comment lines */
	uint64_t lines;         /* line breaks seen (physical lines = lines + 1 if the
	                           input does not end with a line break) */
	/* lenient-mode warnings (records with that rec.warning, header included) */
	uint64_t warn_too_few, warn_too_many, warn_stray_quote;
} sl_csv_counts;

/*
 * The parser works over a window of bytes the caller owns: feed a window,
 * call sl_csv_next() until it returns 0, then feed the next window, which
 * must begin with the bytes the parser did not consume (sl_csv_consumed()).
 * A record spanning two windows is parsed again whole from its start, so
 * records, fields and positions never depend on where windows end.
 * sl_csv_reader below does this bookkeeping over a file or a stream.
 */
typedef struct sl_csv_parser sl_csv_parser;

int sl_csv_parser_new(const sl_csv_dialect *d, sl_csv_scanner s, sl_csv_parser **out);
void sl_csv_parser_free(sl_csv_parser *p);

/* Start (again) at a record boundary inside the input, as chunk workers do:
   `header` gives the column count the records are checked against (the
   header's, or the first record's when there is no header) and marks the
   header as already read. Without this call a parser starts at offset 0. */
int sl_csv_parser_start_at(sl_csv_parser *p, const sl_csv_pos *pos, size_t expected_fields);

/* Give the next window: `final` says the input ends with it. */
void sl_csv_feed(sl_csv_parser *p, const char *buf, size_t len, bool final);

/* 1: *rec holds the next record (the header comes first, flagged is_header);
   0: the window is used up (feed more, or the input is done if it was final);
   <0: SL_NOMEM. */
int sl_csv_next(sl_csv_parser *p, sl_csv_record *rec);

/* Count records without building them (quote-aware, exact): consume whole
   records until the next record would start at or after absolute offset
   `stop_at` (UINT64_MAX: never). 1: stopped there; 0: window used up. The
   header, when there is one, must already have been read with sl_csv_next. */
int sl_csv_skip(sl_csv_parser *p, uint64_t stop_at);

size_t sl_csv_consumed(const sl_csv_parser *p);     /* bytes of the window consumed */
sl_csv_pos sl_csv_position(const sl_csv_parser *p); /* where the next record starts */
const sl_csv_counts *sl_csv_counts_get(const sl_csv_parser *p);
size_t sl_csv_expected_fields(const sl_csv_parser *p); /* 0 until known */
/* Header names after the header was read (views valid for the parser's life).
   In lenient mode (lenient_fields) *n is what ingest maps columns by: the
   fields the header line really has, and the count records are compared
   with; a data record's own count is rec.nfields (values beyond *n are extra,
   missing trailing ones are absent, rec.warning says which). */
const sl_str *sl_csv_header(const sl_csv_parser *p, size_t *n);

/*
 * A reader streams records from a source through a bounded buffer: it grows
 * to hold the longest record up to the row limit and never further.
 */
typedef ssize_t (*sl_read_fn)(void *ctx, char *buf, size_t cap); /* >0 bytes, 0 end, <0 code */

typedef struct sl_csv_reader sl_csv_reader;

/* bufsize 0 picks the default (1 MiB). The parser is created and owned by
   the reader; configure it with sl_csv_reader_parser() before the first read. */
int sl_csv_reader_new(const sl_csv_dialect *d, sl_csv_scanner s, sl_read_fn fn, void *ctx,
                      size_t bufsize, sl_csv_reader **out);
void sl_csv_reader_free(sl_csv_reader *r);
sl_csv_parser *sl_csv_reader_parser(sl_csv_reader *r);
/* 1 record, 0 end of input, <0 error (SL_NOMEM, or the read function's code). */
int sl_csv_reader_next(sl_csv_reader *r, sl_csv_record *rec);

/* A read function over [offset, offset+length) of a file descriptor (pread). */
typedef struct sl_fd_range {
	int fd;
	uint64_t offset;
	uint64_t length;
} sl_fd_range;
ssize_t sl_fd_range_read(void *ctx, char *buf, size_t cap);

/*
 * Chunking: split a file into byte ranges of about chunk_size bytes whose
 * boundaries are true record boundaries, in one read of the file with
 * bounded memory. Each chunk knows the records and lines before it, so
 * chunks parsed in parallel report exact global positions.
 */
typedef struct sl_csv_chunk {
	uint64_t offset, length; /* byte range */
	sl_csv_pos start;        /* position of its first record */
	uint64_t records;        /* data records in it */
	uint64_t hash;           /* XXH3-64 of its bytes */
} sl_csv_chunk;

typedef struct sl_csv_plan {
	sl_csv_chunk *chunks;
	size_t nchunks;
	uint64_t bytes;       /* file size */
	uint64_t hash;        /* XXH3-64 of the whole file */
	sl_csv_counts counts; /* over the whole file */
	size_t expected_fields;
	char **header; /* header names (NUL-terminated copies), or NULL */
	size_t nheader;
	uint64_t header_line; /* where the header was; 0 if none */
	int header_error;     /* structural error of the header record, or 0 */
} sl_csv_plan;

int sl_csv_split(int fd, const sl_csv_dialect *d, sl_csv_scanner s, uint64_t chunk_size,
                 sl_csv_plan *out);
/* The same from a read function (any source: a decompressed stream, an
   object) whose size is known only at its end. on_chunk (or NULL) hears
   each chunk's start offset after the first as the split finds it, while
   what was read is at most one read buffer and a partial record past it
   (for a decoder to keep an access point there). */
typedef int (*sl_csv_chunk_fn)(void *ctx, uint64_t offset);
int sl_csv_split_read(sl_read_fn fn, void *ctx, const sl_csv_dialect *d, sl_csv_scanner s,
                      uint64_t chunk_size, sl_csv_chunk_fn on_chunk, void *cbctx,
                      sl_csv_plan *out);
/* The same, with chunk boundaries forced where the input says: cut
   answers the first offset after `from` where a chunk must start (a
   record boundary: the start of another file of a set, csv_split.c), or
   UINT64_MAX; asked as the split goes, so it may learn them as it reads. */
typedef uint64_t (*sl_csv_cut_fn)(void *ctx, uint64_t from);
int sl_csv_split_read_cut(sl_read_fn fn, void *ctx, const sl_csv_dialect *d, sl_csv_scanner s,
                          uint64_t chunk_size, sl_csv_chunk_fn on_chunk, sl_csv_cut_fn cut,
                          void *cbctx, sl_csv_plan *plan);
void sl_csv_plan_free(sl_csv_plan *plan);

/* A parser set to parse chunk i of a plan (sl_csv_parser_start_at done). */
int sl_csv_chunk_reader_new(const sl_csv_plan *plan, size_t i, int fd, const sl_csv_dialect *d,
                            sl_csv_scanner s, sl_fd_range *range, sl_csv_reader **out);

/*
 * Check: count records, fields, lenient warnings and errors by code with the
 * first few positions of each. threads <= 0 with chunk_size 0: in one
 * sequential read (the split in check mode: records as expected are counted
 * on the fast path, every other one is built and finished). Otherwise split
 * the file and parse its chunks on `threads` threads (<= 0: all cores). Both
 * give the same result but nchunks and threads.
 */
#define SL_CSV_CHECK_FIRST 5

typedef struct sl_csv_error_pos {
	uint64_t record, line, offset;
} sl_csv_error_pos;

typedef struct sl_csv_check_code {
	int code;
	uint64_t count;
	size_t nfirst;
	sl_csv_error_pos first[SL_CSV_CHECK_FIRST];
} sl_csv_check_code;

typedef struct sl_csv_check_result {
	uint64_t bytes, records, fields, rows_ok, errors;
	sl_csv_counts counts; /* warn_* summed over the file */
	size_t nchunks, threads;
	uint64_t hash;
	sl_csv_check_code codes[8]; /* one per SL_CSV_* code, in table order; count 0 if none */
	size_t ncodes;
	double seconds;
} sl_csv_check_result;

int sl_csv_check_file(const char *path, const sl_csv_dialect *d, sl_csv_scanner s,
                      uint64_t chunk_size, int threads, sl_csv_check_result *out);

#ifdef __cplusplus
}
#endif
#endif
