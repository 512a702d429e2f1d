/*
 * Private to src/store/: sorted runs of sink rows on disk, merged by key
 * (store_sqlite_spill.c). A keyed sink that defers a chunk's rows to its
 * flush keeps them here with bounded memory: the SQLite sink and the
 * PostgreSQL sink (which COPYs the merged chunk in key order). Each write
 * is one run, sorted by sl__spill_sort; the merge gives every row of the
 * chunk in key order, the earliest record of a key first, and can be run
 * again until sl__spill_reset.
 */
#ifndef SLUICE_STORE_SPILL_H
#define SLUICE_STORE_SPILL_H

#include <stddef.h>

#include "store/sink.h"

typedef struct spill spill;

int sl__spill_open(const sl_schema *sc, spill **out);
void sl__spill_close(spill *s);
void sl__spill_reset(spill *s); /* for the next chunk */
/* Sort the caller's rows by key, then record, in place (a run's order). */
void sl__spill_sort(const sl_schema *sc, sl_sink_row *rows, size_t n);
int sl__spill_run(spill *s, const sl_sink_row *rows, size_t n); /* rows sorted by key */
/* Every row of every run in key order (then record); a negative return of
   fn stops the merge and is returned. Views are valid during the call. */
int sl__spill_merge(spill *s, int (*fn)(void *ctx, const sl_sink_row *r), void *ctx);
/* Rows spilled since the last reset. */
size_t sl__spill_rows(const spill *s);

#endif
