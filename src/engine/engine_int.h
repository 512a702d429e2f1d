/*
 * Private to src/engine/: the ingest pipeline's pieces.
 *
 * Batches carry a chunk's records from a worker to the writer: good rows
 * (converted values) and rejects, in file order, with every byte they
 * reference copied into the batch's own arena, so the worker's read buffer
 * can move on. A batch never grows: when the next record does not fit, the
 * batch is handed over and a fresh one taken, so memory is bounded by the
 * number of batches in flight (slots x SLOT_BATCHES), never by the file.
 */
#ifndef SLUICE_ENGINE_INT_H
#define SLUICE_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "base/base.h"
#include "sluice/csv.h"
#include "sluice/ingest.h"
#include "store/store.h"

#define BATCH_ROWS 4096
#define BATCH_ARENA (1u << 20)
#define SLOT_BATCHES 8
#define SHAPE_PADDED    1
#define SHAPE_TRUNCATED 2

typedef struct entry {
	uint64_t record, line, offset;
	sl_str raw; /* in the arena */
	int code;   /* 0: a good row; else why it is rejected */
	int column; /* schema column of the failure, -1 for structural */
	sl_str msg; /* in the arena */
	uint32_t vals; /* good rows: index of its first value in batch.vals */
	uint8_t shape; /* 0; SHAPE_PADDED: short record read with NULLs; SHAPE_TRUNCATED:
	                  long record whose extra fields were dropped (lenient) */
} entry;

typedef struct batch {
	struct batch *next;
	entry *e;
	size_t n;
	sl_value *vals;
	size_t nvals, vals_cap;
	char *arena;
	size_t used, cap;
	uint64_t end_offset; /* absolute offset just past the last record */
} batch;

/* A new job (status Accepted) for file `path` (resolved) and its schema:
   id, fingerprint, names, times (accept.c). */
struct stat;
int sl__job_init(sl_job *j, const char *path, const struct stat *st, const sl_schema *sc,
		 const char *schema_path, const char *correlation_id);
/* The raw size (the sum) and time (the latest) of the files a set's spec
   names now ("glob:..." or "files:...", multi.c), as a job's fingerprint. */
int sl__multi_stat(const char *spec, struct stat *st, char *msg, size_t msglen);
/* Whether a lease's owner is a process of this host that is gone (lease.c). */
bool sl__lease_owner_dead(const char *owner);

/* A job's effective dialect as text, and back (dialect.c). *out is malloc'ed;
   parse fills what the text names and leaves the rest of *d as it is. */
int sl__dialect_text(const sl_csv_dialect *d, bool null_padding, char *const *nulls, size_t nnulls,
                     char **out);
int sl__dialect_parse(const char *text, sl_csv_dialect *d, bool *null_padding, char ***nulls,
                      size_t *nnulls);
/* Whether a recorded dialect text reads the file as `current` (a text of
   this version) does: the recorded one is parsed and written again, so a
   text from an older version, without the newer settings (their defaults),
   still matches and an upgrade between two runs does not refuse a resume. */
bool sl__dialect_same(const char *recorded, const char *current);
/* The compression a dialect text records (its `compression=` token; none
   without one). */
int sl__dialect_compression(const char *text);

#endif
