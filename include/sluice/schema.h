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
 *   mode: append                    # append | replace | atomic (docs/ingest.md, Load modes)
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

/* `mode:`: how a job's rows reach the target table (docs/ingest.md, Load
   modes). SL_MODE_DEFAULT in a schema means append; in sl_ingest_opts it
   means "the schema's". */
typedef enum sl_load_mode {
	SL_MODE_DEFAULT = 0,
	SL_MODE_APPEND,  /* rows join the table as each chunk commits */
	SL_MODE_REPLACE, /* a shadow table swapped in for the target when the job finishes */
	SL_MODE_ATOMIC,  /* rows staged, merged into the target when the job finishes */
} sl_load_mode;

/* "append", "replace", "atomic" (SL_MODE_DEFAULT: "append") */
const char *sl_load_mode_name(sl_load_mode m);
/* the mode of a name (NULL or "": SL_MODE_APPEND); SL_INVAL when none */
int sl_load_mode_parse(const char *name, sl_load_mode *out);

typedef struct sl_column {
	char *name;    /* column in the target table */
	char *source;  /* header name in the file (= name unless `source:` says otherwise) */
	sl_type type;
	bool required; /* NULL (an empty field, by default) is VAL_REQUIRED */
	bool optional; /* `optional: true`: the header may lack it (then NULL in every row) */
	bool trim;     /* `trim: true` (or csv `trim:`): ASCII/Unicode white space around the
	                  value is stripped before any check, NULL markers included */
	/* `null: [...]` on the column: its own NULL markers, replacing the dialect's */
	bool has_nulls;
	char **nulls;
	size_t nnulls;
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
	sl_load_mode mode;      /* `mode:`; the engine sets the job's before the sink is prepared */
	sl_csv_dialect dialect; /* from `csv:` (defaults otherwise) */
	char **nulls;           /* field texts read as NULL (default: the empty string) */
	size_t nnulls;
	bool extra_reject; /* `extra_columns: reject`: a file column not in the schema fails the job */
	bool null_padding; /* csv `null_padding: true`: missing trailing fields read as NULL */
	bool trim;         /* csv `trim: true`: the default of every column's `trim` */
	bool has_max_errors, has_max_error_ratio;
	uint64_t max_errors;
	double max_error_ratio;
	uint64_t hash; /* XXH3-64 of the schema file's bytes: part of a job's fingerprint */
	/* `distribution:` (docs/scaling.md, Citus): on a Citus coordinator the
	   table is distributed, hashed on cols[dist_col], in shard_count shards
	   (0: Citus's default, citus.shard_count); SQLite ignores it */
	bool distributed;
	size_t dist_col;
	int shard_count;
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
 * Matching a file's header to the schema (docs/schema.md, "Header"). map[i]
 * = index in the file's record of schema column i, or -1 when the file
 * lacks it (an `optional` column: NULL for every row). Columns match by
 * exact header name (`source`). Every column the header lacks that is not
 * `optional` fails: SL_FATAL_HEADER with err naming each missing column,
 * the closest header name for each ("did you mean 'Price'?") and the
 * header's names. So do duplicate header names matched by the schema
 * (lenient: the first wins, the others are a warning) and, with
 * extra_reject, header columns the schema does not read.
 *
 * r (may be NULL) receives the header names the schema does not read
 * (`ignored_columns` of the job) and the warnings (empty and duplicate
 * names ignored).
 */
typedef struct sl_header_result {
	char ignored[4096]; /* names, one per line (control bytes shown as '?'), cut at
	                       the end of the buffer */
	size_t nignored;
	char warnings[1024]; /* one per line */
	size_t nwarnings;
} sl_header_result;
int sl_schema_match_header(const sl_schema *s, const sl_str *header, size_t n, bool lenient,
                           int *map, sl_header_result *r, char *err, size_t errlen);
/* The strict form without a result (kept for callers that need no list). */
int sl_schema_map_header(const sl_schema *s, const sl_str *header, size_t n, int *map, char *err,
			 size_t errlen);
/* Edit distance (Levenshtein) of two short strings, compared without ASCII
   case; capped at `cap` (returns cap when it is cap or more). */
size_t sl_name_distance(const char *a, size_t an, const char *b, size_t bn, size_t cap);
/* The value view with white space (ASCII and Unicode White_Space) stripped
   from both ends. */
sl_str sl_str_trim_space(sl_str v);

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
