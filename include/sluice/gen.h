/*
 * Deterministic generators of test data. `sluice gen cdr` writes telecom
 * call detail records; the same options always give the same bytes.
 */
#ifndef SLUICE_GEN_H
#define SLUICE_GEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Kinds of injected bad rows (docs/gen.md describes each and the code a
   CDR schema rejects it with). X(NAME, description) */
#define SL_GEN_DEFECT_MAP(X)                                                                       \
	X(TOO_FEW_FIELDS, "a field is missing (CSV_TOO_FEW_FIELDS)")                               \
	X(TOO_MANY_FIELDS, "an extra field (CSV_TOO_MANY_FIELDS)")                                 \
	X(STRAY_QUOTE, "a quote inside an unquoted field (CSV_STRAY_QUOTE)")                       \
	X(MISSING_CALLER, "caller_id empty (VAL_REQUIRED)")                                        \
	X(BAD_CALLER, "caller_id not 6-15 digits (VAL_PATTERN)")                                   \
	X(BAD_DATE, "impossible call_date such as 31/02 (VAL_TYPE)")                               \
	X(BAD_TIME, "impossible end_time such as 25:61:00 (VAL_TYPE)")                             \
	X(NEGATIVE_DURATION, "duration below 0 (VAL_RANGE)")                                       \
	X(BAD_COST, "cost not a decimal number (VAL_TYPE)")                                        \
	X(BAD_CURRENCY, "currency not GBP/EUR/USD (VAL_ENUM)")                                     \
	X(DUP_REFERENCE, "reference repeats an earlier row's (DUP_KEY)")

typedef enum sl_gen_defect {
#define SL__GEN_ENUM(name, desc) SL_GEN_##name,
	SL_GEN_DEFECT_MAP(SL__GEN_ENUM)
#undef SL__GEN_ENUM
	SL_GEN_NDEFECTS
} sl_gen_defect;

const char *sl_gen_defect_name(sl_gen_defect k);
const char *sl_gen_defect_desc(sl_gen_defect k);

typedef struct sl_gen_cdr_opts {
	uint64_t rows;     /* data rows to write (header not counted) */
	double error_rate; /* 0..1: share of rows that get one defect */
	uint64_t seed;
	bool crlf;         /* CRLF line endings instead of LF */
	bool bom;          /* start with a UTF-8 byte-order mark */
	double quoted_rate; /* share of valid rows with a quoted field holding a comma
			       and a newline (default set by sl_gen_cdr_defaults: 0.01) */
} sl_gen_cdr_opts;

typedef struct sl_gen_cdr_stats {
	uint64_t rows, bytes, lines, quoted_rows, bad_rows;
	uint64_t defects[SL_GEN_NDEFECTS];
} sl_gen_cdr_stats;

void sl_gen_cdr_defaults(sl_gen_cdr_opts *o);
/* Write the file. `manifest`, when not NULL, gets one line per bad row:
   "<record number>\t<line>\t<DEFECT NAME>\n" (record numbers 1-based, data
   rows only; line = physical line where the row starts). 0 or SL_IO_WRITE. */
int sl_gen_cdr(FILE *out, FILE *manifest, const sl_gen_cdr_opts *o, sl_gen_cdr_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
