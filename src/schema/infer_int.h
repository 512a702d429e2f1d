/*
 * Private to schema inference (src/schema/schema_infer.c and
 * src/schema/infer_uniq.c): the bounded uniqueness sketch that finds
 * candidate keys.
 *
 * Each candidate (a column, or a pair of columns) gets 64-bit hashes of its
 * values. They are kept in an array of a fixed capacity per candidate; a
 * full array is sorted and checked for equal neighbours, then written to one
 * shared temporary file as a sorted run. When a candidate has MERGE_FAN runs
 * they are merged into one (checking for equal neighbours on the way), so a
 * candidate never has more than MERGE_FAN runs and a merge reads them
 * through small fixed buffers. Memory is the capacity times the candidates
 * plus the merge buffers, whatever the file's size; disk is about 8 bytes
 * per value per surviving candidate, times the merge levels.
 *
 * Equal values always have equal hashes, so a duplicate is never missed; a
 * hash collision can only make a unique candidate look non-unique, the safe
 * direction for a key.
 */
#ifndef SLUICE_INFER_INT_H
#define SLUICE_INFER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl__uniq sl__uniq;

/* `budget`: hashes kept in memory over all candidates (8 bytes each). */
int sl__uniq_new(size_t ncand, size_t budget, sl__uniq **out);
void sl__uniq_free(sl__uniq *u);
/* Add a hash: 0, or SL_NOMEM / SL_IO_WRITE / SL_IO_READ (temporary file). */
int sl__uniq_add(sl__uniq *u, size_t cand, uint64_t h);
/* Give up on a candidate (a NULL value, say). */
void sl__uniq_drop(sl__uniq *u, size_t cand);
/* Still possibly unique; after sl__uniq_finish: unique. */
bool sl__uniq_alive(const sl__uniq *u, size_t cand);
/* Merge what was spilled: afterwards sl__uniq_alive() is the answer. */
int sl__uniq_finish(sl__uniq *u);
/* Hashes written to the temporary file so far (runs and merges). */
uint64_t sl__uniq_spilled(const sl__uniq *u);

#endif
