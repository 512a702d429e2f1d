/*
 * Schemas: what a dataset's file must hold and how its rows are stored.
 *
 * A schema is read from YAML (libfyaml); every error names the file, line and
 * column in the YAML. A loaded schema is immutable and may be shared by
 * threads (it holds the compiled patterns). Validation needs per-thread state
 * (PCRE2 match data): each worker creates its own sl_validator from the
 * shared schema.
 *
 * Example (docs/schema.md has every key):
 *   name: cdr
 *   table: call_detail_records
 *   key: [reference]
 *   on_duplicate: reject            # reject | ignore | update
 *   csv: {delimiter: ",", quote: '"', header: true, null: [""]}
 *   columns:
 *     - {name: caller_id, type: text, required: true, pattern: '^[0-9]{6,15}$'}
 *     - {name: call_date, type: date, format: '%d/%m/%Y', required: true}
 *     - {name: cost, type: decimal, precision: 12, scale: 3, min: 0}
 *     - {name: currency, type: text, enum: [GBP, EUR, USD]}
 *     - {name: caller, source: "Caller ID", type: text}
 *   limits: {max_errors: 100000, max_error_ratio: 0.05}
 */
#ifndef SLUICE_SCHEMA_H
#define SLUICE_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/csv.h"
#include "sluice/str.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sl_type {
	SL_TYPE_TEXT = 0,
	SL_TYPE_INTEGER,   /* 64-bit signed */
	SL_TYPE_DECIMAL,   /* exact: precision and scale, never binary floating point */
	SL_TYPE_BOOLEAN,
	SL_TYPE_DATE,      /* stored as YYYY-MM-DD */
	SL_TYPE_TIME,      /* stored as HH:MM:SS[.ffffff] */
	SL_TYPE_TIMESTAMP, /* stored as YYYY-MM-DDTHH:MM:SS[.ffffff][Z] */
	SL_TYPE_ENUM,      /* text restricted to `values` (or `enum:` on a text column) */
	SL_TYPE_FLOAT,     /* IEEE 754 double (binary floating point: R and pandas numbers) */
} sl_type;

/* decimal `round:`: what to do with more fractional digits than the scale */
typedef enum sl_round {
	SL_ROUND_EXACT = 0, /* reject them (VAL_TYPE) */
	SL_ROUND_HALF_EVEN, /* round to the scale, ties to even (banker's rounding) */
	SL_ROUND_HALF_UP,   /* round to the scale, ties away from zero */
} sl_round;

typedef enum sl_on_duplicate {
	SL_DUP_REJECT = 0, /* DUP_KEY: the earliest occurrence in file order wins */
	SL_DUP_IGNORE,     /* the duplicate is skipped (kept in the error table as DUP_KEY,
			      without making the job partial) */
	SL_DUP_UPDATE,     /* upsert: the later row wins */
} sl_on_duplicate;

typedef struct sl_column {
	char *name;    /* column in the target table */
	char *source;  /* header name in the file (= name unless `source:` says otherwise) */
	sl_type type;
	bool required; /* NULL (an empty field, by default) is VAL_REQUIRED */
	bool index;    /* `index: true`: indexed, and filterable in the records API */
	/* text: lengths in characters (UTF-8 code points), -1 = no limit */
	int64_t min_length, max_length;
	char *pattern; /* PCRE2 regular expression (UTF, UCP), or NULL */
	void *re;      /* the pattern compiled once at load (pcre2_code *, owned; shared by
	                  threads, each validator has its own match data), or NULL */
	/* integer: inclusive bounds when has_min / has_max */
	bool has_min, has_max;
	int64_t min_i, max_i;
	/* decimal: precision (total digits, 1..38) and scale (digits after the point);
	   bounds as canonical decimal strings when has_min / has_max */
	int precision, scale;
	sl_round round;
	char *min_d, *max_d; /* float: the bounds as written in the schema */
	/* float: inclusive bounds when has_min / has_max; inf/nan only when allow_special */
	double min_f, max_f;
	bool allow_special;
	/* boolean: the accepted spellings (exact, case-sensitive), or NULL for the defaults
	   (true/false, t/f, yes/no, y/n, 1/0, any case) */
	char **true_values, **false_values;
	size_t ntrue, nfalse;
	/* date, time, timestamp: strptime-like formats (docs/schema.md lists the
	   directives), tried in order, the first that parses wins; format = formats[0],
	   NULL = ISO 8601 */
	char *format;
	char **formats;
	size_t nformats;
	/* enum */
	char **values;
	size_t nvalues;
	/* where the column is defined in the YAML, for messages */
	int yaml_line, yaml_col;
} sl_column;

typedef struct sl_schema {
	char *path;  /* file it was read from */
	char *name;  /* dataset name */
	char *table; /* target table */
	sl_column *cols;
	size_t ncols;
	size_t *key; /* indexes into cols */
	size_t nkey;
	sl_on_duplicate on_duplicate;
	sl_csv_dialect dialect; /* from `csv:` (defaults otherwise) */
	char **nulls;           /* field texts read as NULL (default: the empty string) */
	size_t nnulls;
	bool extra_reject; /* `extra_columns: reject`: a file column not in the schema fails the job */
	bool has_max_errors, has_max_error_ratio;
	uint64_t max_errors;
	double max_error_ratio;
	uint64_t hash; /* XXH3-64 of the schema file's bytes: part of a job's fingerprint */
} sl_schema;

/* Load and check a schema. On failure returns SL_CONFIG (or SL_IO_OPEN,
   SL_NOMEM) and writes "PATH:LINE:COL: what is wrong" into err. */
int sl_schema_load(const char *path, sl_schema **out, char *err, size_t errlen);
/* The same from a string (path is used only in messages). */
int sl_schema_parse(const char *yaml, size_t len, const char *path, sl_schema **out, char *err,
		    size_t errlen);
void sl_schema_free(sl_schema *s);
const char *sl_type_name(sl_type t);

/*
 * Matching a file's header to the schema. map[i] = index in the file's
 * record of schema column i, or -1 when the file lacks it (NULL for every
 * row). Columns match by exact header name (`source`). Returns 0, or
 * SL_FATAL_HEADER with err naming the missing required columns (or, with
 * extra_reject, the unexpected ones); duplicate header names matched by the
 * schema are also SL_FATAL_HEADER.
 */
int sl_schema_map_header(const sl_schema *s, const sl_str *header, size_t n, int *map, char *err,
			 size_t errlen);

/* A field's storage form. */
typedef enum sl_value_kind {
	SL_VALUE_NULL = 0,
	SL_VALUE_INT,
	SL_VALUE_TEXT,
	SL_VALUE_REAL,
} sl_value_kind;
typedef struct sl_value {
	sl_value_kind kind;
	union { /* one of them, by kind: a value stays 32 bytes */
		int64_t i; /* SL_VALUE_INT: integer, boolean (0/1) */
		double d;  /* SL_VALUE_REAL: float, decimal of precision <= 15 (the double
		              nearest its canonical text, which it prints back to) */
	};
	sl_str s; /* SL_VALUE_TEXT: text, enum, decimal of precision > 15 (canonical),
	             date/time (ISO 8601) */
} sl_value;

/* A total order on stored values (the key order of a load): by kind, then
   integers and reals numerically (NaN last, -0 = 0), texts bytewise. */
int sl_value_cmp(const sl_value *a, const sl_value *b);

/* The shortest text (15 to 17 significant digits, '.' whatever the locale)
   that reads back as exactly d; buf has room for 32 bytes. */
size_t sl_double_format(double d, char *buf);

/* Decimals of at most this precision are stored as REAL (see sl_column_storage). */
#define SL_DECIMAL_REAL_DIGITS 15

/* The one storage form of a column's non-null values: SL_VALUE_INT (integer,
   boolean), SL_VALUE_REAL (float, decimal of precision <= 15) or SL_VALUE_TEXT. */
sl_value_kind sl_column_storage(const sl_column *c);

/* Canonical text of a decimal column's REAL value (scale digits after the
   point); returns its length. buf has room for 48 bytes. */
size_t sl_decimal_real_format(const sl_column *c, double d, char *buf);

typedef struct sl_validator sl_validator;

int sl_validator_new(const sl_schema *s, sl_validator **out);
void sl_validator_free(sl_validator *v);

/*
 * Validate and convert `field` for column `col`. Returns 0 and *out, or a
 * VAL_* code with a message in msg (e.g. "31/02/2025 is not a date of the
 * form %d/%m/%Y"). A missing column or a null text gives SL_VALUE_NULL (or
 * VAL_REQUIRED). Text values may point into `field` or into `out_buf`, which
 * must have room for at least 64 bytes more than the field (ISO forms and
 * canonical decimals are written there); *used says how many bytes were.
 */
int sl_value_convert(sl_validator *v, size_t col, const sl_str *field, sl_value *out,
		     char *out_buf, size_t *used, char *msg, size_t msglen);

#ifdef __cplusplus
}
#endif
#endif
