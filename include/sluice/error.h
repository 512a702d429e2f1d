/*
 * sluice error codes.
 *
 * One table, SL_ERROR_MAP, is the single source of every code: the enum, the
 * names, the messages and the handling class are all generated from it, so
 * they cannot drift apart. docs/errors.md is generated from the same table by
 * `sluice codes --markdown` (tests/cli checks it is current).
 *
 * Conventions: 0 is success, every failure is negative. Numbers are stable
 * (they may be stored); names are what users see and what the database keeps.
 *
 * Classes say what the engine does with a failure:
 *   SL_CLASS_ROW    the record is rejected and kept in the error table;
 *   SL_CLASS_RETRY  a transient fault: the chunk is retried with backoff;
 *   SL_CLASS_FATAL  the job (or command) stops with this reason.
 */
#ifndef SLUICE_ERROR_H
#define SLUICE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum sl_error_class { SL_CLASS_NONE = 0, SL_CLASS_ROW, SL_CLASS_RETRY, SL_CLASS_FATAL };

/* X(NAME, number, class, message) */
#define SL_ERROR_MAP(X)                                                                            \
	X(OK, 0, NONE, "success")                                                                      \
	/* general */                                                                                  \
	X(NOMEM, -1, FATAL, "out of memory")                                                           \
	X(INVAL, -2, FATAL, "invalid argument")                                                        \
	X(USAGE, -3, FATAL, "bad command-line usage")                                                  \
	X(CONFIG, -4, FATAL, "invalid configuration")                                                  \
	X(LIMIT, -5, FATAL, "a configured limit was exceeded")                                         \
	X(INTERNAL, -6, FATAL, "internal error: an invariant does not hold (please report it)")       \
	X(CONFLICT, -7, FATAL,                                                                         \
	  "another process is running this job, or its state does not allow this")                   \
	X(NOT_FOUND, -8, FATAL, "no such job, chunk or upload")                                        \
	X(IDEMPOTENCY_CONFLICT, -9, FATAL,                                                             \
	  "the idempotency key was used with another file or dataset")                                 \
	X(LEASE_LOST, -15, FATAL,                                                                      \
	  "the chunk's lease was lost: it expired and another worker took the chunk")                  \
	X(ATTEMPTS, -16, FATAL,                                                                        \
	  "the chunk used up its attempts: each time its lease ran out before it committed")          \
	X(TERM_LOST, -17, FATAL,                                                                       \
	  "the leader's term is over: another process leads now, so its write was refused")           \
	X(NO_OPEN_REJECTS, -20, FATAL,                                                                 \
	  "the job has no open rejected rows to refeed")                                               \
	X(MODE_CONFLICT, -25, FATAL,                                                                   \
	  "an atomic job's staged keys were loaded into the table by another job meanwhile")          \
	/* CSV structure: the record is rejected, parsing goes on at the next record */              \
	X(CSV_TOO_FEW_FIELDS, -100, ROW, "record has fewer fields than the header")                   \
	X(CSV_TOO_MANY_FIELDS, -101, ROW, "record has more fields than the header")                   \
	X(CSV_UNTERMINATED_QUOTE, -102, ROW, "quoted field is still open at the end of the input")    \
	X(CSV_STRAY_QUOTE, -103, ROW,                                                                  \
	  "quote inside an unquoted field, or text after a closing quote")                             \
	X(CSV_INVALID_UTF8, -104, ROW, "record is not valid UTF-8")                                    \
	X(CSV_ROW_TOO_LONG, -105, ROW, "record is longer than the configured row limit")               \
	/* field validation (ingest) */                                                                \
	X(VAL_REQUIRED, -200, ROW, "required value is missing")                                        \
	X(VAL_TYPE, -201, ROW, "value is not of the column's type")                                    \
	X(VAL_RANGE, -202, ROW, "value is out of the allowed range")                                   \
	X(VAL_LENGTH, -203, ROW, "value has a length outside the allowed range")                       \
	X(VAL_PATTERN, -204, ROW, "value does not match the column's pattern")                         \
	X(VAL_ENUM, -205, ROW, "value is not one of the allowed values")                               \
	X(DUP_KEY, -300, ROW, "key was already loaded")                                                \
	/* database */                                                                                 \
	X(DB_BUSY, -400, RETRY, "database is busy or locked")                                          \
	X(DB_FULL, -401, RETRY, "database or disk is full")                                            \
	X(DB_IO, -402, RETRY, "database I/O error")                                                    \
	X(DB_ERROR, -403, FATAL, "database error")                                                     \
	X(DB_CONSTRAINT, -404, ROW,                                                                    \
	  "the database refused the row: a constraint of the table does not hold")                     \
	X(DB_VALUE, -405, ROW, "the database refused a value of the row for its column's type")        \
	X(DB_CONN, -406, RETRY, "the database connection could not be made or was lost")               \
	X(DB_SCHEMA, -407, FATAL,                                                                      \
	  "the target table or the job store does not fit: a column, an index or a store version")    \
	X(DB_CONN_LIMIT, -416, RETRY,                                                                  \
	  "the database server refused the connection: all its connection slots are taken")           \
	/* input */                                                                                    \
	X(IO_OPEN, -500, FATAL, "cannot open the input")                                               \
	X(IO_READ, -501, RETRY, "cannot read the input")                                               \
	X(IO_WRITE, -502, FATAL, "cannot write the output")                                            \
	X(IO_CHANGED, -503, FATAL, "the input changed since the job was planned")                     \
	X(IO_CORRUPT, -504, FATAL, "the compressed input is corrupt or truncated")                    \
	/* job */                                                                                      \
	X(FATAL_HEADER, -600, FATAL, "the header does not match the schema's columns")            \
	/* object storage (S3 protocol) */                                                             \
	X(S3_AUTH, -800, FATAL, "object storage refused the credentials or the signature (403)")       \
	X(S3_NOT_FOUND, -801, FATAL, "no such bucket or key in object storage (404)")                  \
	X(S3_THROTTLED, -802, RETRY, "object storage kept throttling the requests after every retry")  \
	X(S3_SERVER, -803, RETRY, "object storage kept failing (5xx) after every retry")               \
	X(S3_NETWORK, -804, RETRY, "the connection to object storage kept failing after every retry")  \
	X(S3_REQUEST, -805, FATAL,                                                                     \
	  "object storage refused the request, or answered what sluice cannot read")

typedef enum sl_error {
#define SL__ERR_ENUM(name, num, cls, msg) SL_##name = (num),
	SL_ERROR_MAP(SL__ERR_ENUM)
#undef SL__ERR_ENUM
} sl_error;

/* "CSV_STRAY_QUOTE" for SL_CSV_STRAY_QUOTE; "UNKNOWN" for a number not in the table. */
const char *sl_error_name(int code);
/* One sentence for users, never NULL. */
const char *sl_error_message(int code);
enum sl_error_class sl_error_class(int code);
/* The code whose name is `name` (case-sensitive), or 1 when there is none. */
int sl_error_from_name(const char *name);

/* Iteration over the table, for documentation and per-code counters. */
#define SL_ERROR_COUNT 49
int sl_error_at(int index); /* code of the index-th table entry, 0 <= index < SL_ERROR_COUNT */
int sl_error_index(int code); /* inverse of sl_error_at, or -1 */

#ifdef __cplusplus
}
#endif
#endif
