/*
 * Reading loaded rows back: equality lookups on a dataset's target table, in
 * load order, a page at a time (the records API of `sluice serve`).
 *
 * A filter names a schema column and a value written as it would be in the
 * dataset's files; the value is converted exactly as the loader converts a
 * field (sl_value_convert), so it is compared with the row as stored:
 * `0042` finds the integer 42, `1.5` the decimal `1.500` of a scale-3
 * column, `31/12/2024` the date `2024-12-31` of a `%d/%m/%Y` column. A value
 * the schema reads as NULL (a `csv.null` text, by default the empty string)
 * matches the rows where the column is NULL.
 *
 * Pagination is by keyset on the table's rowid: rows come in rowid order
 * (the order they were first inserted), strictly after `after`; a page does
 * not shift when rows are added. Nothing is held but the row passed to the
 * callback.
 */
#ifndef SLUICE_RECORDS_H
#define SLUICE_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/schema.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_record_filter {
	size_t col;       /* index into the schema's columns */
	const char *text; /* the value as a file would hold it (not NUL-terminated) */
	size_t len;
} sl_record_filter;

/* One loaded row. Views valid during the callback only. */
typedef struct sl_record {
	int64_t rowid;        /* position in load order: the pagination key */
	const char *job_id;   /* the job that loaded (or last updated) the row */
	const sl_value *vals; /* the schema's ncols values, in column order, as stored */
} sl_record;

/* Return 0 to go on; anything else stops the walk and is returned. */
typedef int (*sl_record_cb)(void *ctx, const sl_record *r);

/*
 * Call cb for each row of sc's target table in `db` that matches every
 * filter (AND) and, when job_id is not NULL, was loaded by that job, with
 * rowid > after, in rowid order, at most `limit` rows. A table not created
 * yet has no rows. Returns 0 (or the callback's non-zero value), SL_VAL_*
 * with msg naming the column and the reason when a filter value does not
 * convert (the caller's mistake: no row can hold it), or a store error
 * (SL_DB_*, SL_IO_OPEN, SL_NOMEM) with msg.
 */
int sl_records_query(const char *db, const sl_schema *sc, const sl_record_filter *f, size_t nf,
                     const char *job_id, int64_t after, size_t limit, sl_record_cb cb, void *ctx,
                     char *msg, size_t msglen);

#ifdef __cplusplus
}
#endif
#endif
