/*
 * Schema inference: a starter schema from a delimited file (`sluice schema
 * infer`, docs/schema.md "Starting from a file").
 *
 * The dialect is sniffed from the first MiB (delimiter, quote, escape,
 * comment lines, header, BOM, line endings) by parsing it with the CSV
 * engine under each candidate dialect. Then every record (or the first
 * max_rows) is read once: each column keeps the candidate types whose real
 * validators (sl_value_convert) accepted every value so far. The narrowest
 * survivor is chosen, a YAML schema is written, and that schema is loaded
 * with sl_schema_parse and checked against the same records with the same
 * validators ingest uses (the confirm pass); a column that still rejects a
 * value is widened and the pass is run again. Candidate keys are checked in
 * the confirm pass on the converted values with a bounded sketch (hashes in
 * memory up to a budget, sorted runs in a temporary file beyond it).
 *
 * Memory is bounded by the row limit of the dialect, the number of columns
 * and the sketch budget, never by the file's length.
 */
#ifndef SLUICE_INFER_H
#define SLUICE_INFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/csv.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_INFER_SNIFF_BYTES    (1u << 20) /* bytes the dialect is sniffed from */
#define SL_INFER_SKETCH_DEFAULT (1u << 20) /* hashes kept in memory (8 MiB) */
#define SL_INFER_MAX_COLUMNS    4096       /* wider files: SL_LIMIT */

typedef struct sl_infer_opts {
	uint64_t max_rows;  /* 0: every record */
	bool key_auto;      /* declare the key found; otherwise it is proposed in a comment */
	bool dialect_given; /* use `dialect` as it is instead of sniffing it */
	sl_csv_dialect dialect;
	size_t sketch_entries; /* hashes kept in memory for the key checks; 0: the default */
} sl_infer_opts;

typedef struct sl_infer_result {
	char *yaml; /* the schema (malloc'd, NUL-terminated) */
	size_t len;
	uint64_t records;    /* data records read */
	uint64_t csv_errors; /* of them, records with a structural error (rejected by any schema) */
	uint64_t bad_values; /* values no type accepts (not UTF-8, NUL bytes): their rows reject */
	uint64_t rows_rejected; /* rows the final schema rejects in the confirm pass */
	bool whole_file;        /* every record was read */
	size_t ncols;           /* columns in the schema */
	int confirm_rounds;     /* confirm passes run (1 when the inference was right at once) */
	uint64_t spilled;       /* hashes the key sketch wrote to its temporary file */
	char key[160];          /* the key found ("" if none), as a YAML flow list */
} sl_infer_result;

/* Infer a schema for the file at `path`. 0, or a negative code (SL_IO_OPEN,
   SL_IO_READ, SL_NOMEM, SL_LIMIT, SL_INTERNAL) with a message in err. */
int sl_schema_infer(const char *path, const sl_infer_opts *o, sl_infer_result *out, char *err,
                    size_t errlen);
void sl_infer_result_free(sl_infer_result *r);

#ifdef __cplusplus
}
#endif
#endif
