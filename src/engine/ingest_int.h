/*
 * Private to src/engine/: what the ingest engine's files share (ingest.c
 * the run, plan.c, chunk_read.c, chunk_write.c): the run's state, a chunk's
 * slot between its worker and the writer, a worker's own things, and the
 * functions one file calls in another. Nothing here is for other modules.
 */
#ifndef SLUICE_INGEST_INT_H
#define SLUICE_INGEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/engine_int.h"
#include "source/source.h"

/* What a worker found in one chunk, beyond its batches. */
typedef struct chunk_result {
	uint64_t read; /* data records */
	int err;       /* a failure that stops the chunk: IO_*, NOMEM */
	char msg[256];
} chunk_result;

typedef struct slot {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t want; /* index (in the pending list) this slot serves now */
	batch *head, *tail;
	size_t nq;
	bool done;
	chunk_result res;
	sl_chunk chunk; /* a copy of the chunk `want` names, set with it: workers never
	                   read g->chunks, which a pipelined plan grows as it goes */
} slot;

typedef struct heart heart;         /* lease.c */
typedef struct plan_pipe plan_pipe; /* plan.c: a pipelined plan under way */

/* A file of a set (multi.c): the manifest's line, and how a reject's
   line in the stream becomes the file's own. */
typedef struct mfile {
	char *path;
	uint64_t raw_size;
	int64_t mtime_ns;
	sl_compression comp;
	uint64_t skip, skip_line; /* the header's bytes, and the line after it */
	sl_multi_layout lay;
	int64_t line_delta; /* the file's line = the stream's + this */
} mfile;

typedef struct ingest {
	const sl_ingest_opts *o;
	sl_schema *schema;
	sl_csv_dialect d;
	sl_jobstore *st; /* the job store (NULL: a dry run) */
	sl_sink *sink;   /* the rows' sink (the null sink in a dry run) */
	sl_txn *txn;     /* the sink's transaction, shared with the job store */
	sl_job job;  /* as committed */
	sl_job live; /* numbers shown by progress: committed + the chunk under way */
	sl_chunk *chunks;
	size_t nchunks;
	size_t *pending;
	size_t npending;
	sl_source *src;      /* the job's bytes: the file, under a decoder when compressed */
	sl_compression comp; /* the decoder taken (none, gzip, zstd) */
	/* the decoded bytes of a compressed source, written once (planning, or
	   a resume without access points) to an unnamed file next to the
	   database, so chunks read them with pread instead of decoding again;
	   NULL: chunks decode from their access points (plan.c) */
	sl_source *spool;
	bool stream; /* the source is read once (stdin, a FIFO, a program): spooled, not resumable */
	int keep_fd; /* --spool DIR: the stream's copy (DIR/.JOB.stream.tmp until planned), or -1 */
	char keep_tmp[4200];
	/* access points of a compressed source, per chunk (plan.c): entries
	   in the side file pts_fd, the index in memory */
	int pts_fd;
	struct chunk_point *pts;
	size_t npts;
	char pts_path[4200];
	size_t expected;    /* fields per record: the header's, or the schema's columns */
	int *map;           /* schema column -> field index, -1 if absent */
	bool pad;           /* null_padding or lenient: short records read with NULLs */
	bool lenient;       /* lenient: long records read, their extra fields dropped */
	char *dialect_text; /* the effective dialect, as the job records it */
	uint64_t max_errors;
	double max_ratio;
	bool has_max_errors, has_max_ratio;
	/* pipeline */
	slot *slots;
	size_t nslots;
	atomic_size_t next;
	atomic_int abort;
	pthread_mutex_t free_mu;
	batch *free_list;
	double t0;
	char *msg;
	size_t msglen;
	bool paused;           /* opts.pause stopped the run: the job stays unfinished */
	bool cancelled;        /* a cancel request stopped it: the job becomes Cancelled */
	uint64_t rows_planned; /* data records of all chunks, for progress */
	/* leases (lease.c): who we are, for how long a claim holds, the
	   heartbeat that renews them, the lease per chunk index (epoch 0: not
	   held), and whether a commit of ours finished the job (fan-in) */
	char owner[160];
	int64_t ttl_ms;
	heart *hb;
	sl_candidate *cand; /* the run's leader candidate (leader.c) */
	sl_lease *lease;
	bool finished;
	int fatal_rc; /* a chunk failed the job (its input changed): the fan-in says Failed */
	mfile *mf; /* several files as one job (multi.c), or NULL */
	size_t nmf;
	/* a pipelined plan (plan.c): the planner thread hands the chunks it
	   finds to this run as it finds them; NULL when the plan was made
	   whole first. planning: the plan is not complete in the store yet
	   (the job is Chunking; no fan-in). old: the job's chunks an earlier
	   run stored (a resume of a plan a kill cut short), by seq */
	plan_pipe *pipe;
	bool planning;
	sl_chunk *old;
	size_t nold;
	size_t chunks_cap;
} ingest;

/* A worker's own things. */
typedef struct worker {
	ingest *g;
	sl_validator *v;
	char *conv; /* conversion output for one record */
	size_t conv_cap;
	sl_value *vals;
	sl_csv_parser *side; /* re-reads the fields of a short or long record (lenient) */
} worker;

struct stat;
typedef struct chunk_tx chunk_tx; /* a chunk's transaction (chunk_write.c) */
/* where a worker hands its batches: the slot, or the writer itself */
typedef int (*emit_fn)(void *ctx, batch *b);

/* ingest.c: the message of a failure (res->message) */
void sl__ingest_say(ingest *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ingest.c: batches, slots, the run */
batch *sl__ingest_batch_get(ingest *g);
void sl__ingest_batch_put(ingest *g, batch *b);
void sl__ingest_batches_free(ingest *g);
void sl__ingest_slot_push(ingest *g, slot *s, batch *b);
batch *sl__ingest_slot_pop(ingest *g, slot *s);

/* chunk_read.c: workers */
int sl__ingest_produce(worker *w, const sl_chunk *c, emit_fn emit, void *ectx, chunk_result *res);
void sl__ingest_worker_teardown(worker *w);
int sl__ingest_worker_setup(worker *w, ingest *g);
void sl__ingest_test_pause(ingest *g, const sl_chunk *c, const char *env);
void *sl__ingest_worker_main(void *arg);

/* chunk_write.c: the writer */
void sl__ingest_progress(ingest *g, const chunk_tx *tx, uint64_t end_offset);
void sl__ingest_progress_chunk(ingest *g, const sl_chunk *c);
sl_job_status sl__ingest_final_status(const ingest *g);
void sl__ingest_backoff(int attempt);
void sl__ingest_slot_drain(ingest *g, slot *s);
bool sl__ingest_budget_exceeded(ingest *g);
bool sl__ingest_what_changed(const ingest *g, const struct stat *st, char *out, size_t n);
/*
 * What one chunk runs against: the design's sl_chunk_run(jobstore, sink,
 * source, job, chunk, lease) takes these handles, all of one job. The
 * chunk's reads and its transaction go through them; the run's context
 * (ingest, reached as parse->g) is left for what is the run's: the job's
 * settings (schema, dialect, column map, error budget, attempts), the
 * batch pool, progress and messages, and the fan-in that finishes the
 * job. sl__chunk_handles makes them from a run; sl_ingest's pipeline and
 * loop (ingest.c) and `sluice worker`'s runners (worker.c) call
 * sl__chunk_run with them, the service's runners through sl_ingest.
 */
typedef struct chunk_handles {
	sl_jobstore *js; /* jobs, chunks, rejects, events, leases (NULL: a dry run) */
	sl_sink *sink;   /* the rows (the null sink in a dry run) */
	sl_txn *txn;     /* the sink's transaction, shared with js */
	sl_source *src;  /* the job's bytes as chunks read them: the spool, else the source */
	sl_job *job;     /* the job as committed; a chunk's commit moves its counters */
	worker *parse;   /* the parse/validate side: this thread's parser, validator and
	                    conversion buffers, over the job's settings (parse->g) */
} chunk_handles;
chunk_handles sl__chunk_handles(ingest *g, worker *parse);
/* Run chunk c under lease l: parse (or take the slot's batches, s: the
   pipeline's first attempt), validate and commit it, fenced; the job
   finishes in that transaction when it was its last open chunk. 0 done
   (Succeeded, or Failed for good), SL_LEASE_LOST when the chunk is not
   ours any more (dropped, nothing written), else a fatal code. */
int sl__chunk_run(const chunk_handles *h, sl_chunk *c, sl_lease *l, slot *s);
/* Were chunk c's attempts spent before this claim (l)? Then it is Failed
   with ATTEMPTS now, unread: 1; 0 not; SL_LEASE_LOST or <0 (chunk_write.c). */
int sl__chunk_spent(const chunk_handles *h, sl_chunk *c, sl_lease *l);

/* chunk_run.c: the job as several processes share it */
void sl__ingest_merge_counts(sl_job *dst, const sl_job *fresh);
int sl__ingest_job_refresh(ingest *g);
int sl__ingest_fan_in(ingest *g);
int sl__ingest_finish_job(ingest *g, int rc);
int sl__ingest_after_chunk(ingest *g, const sl_chunk *c);
void sl__ingest_test_kill(const char *name);

/* modes.c: load modes (docs/ingest.md, Load modes) */
int sl__modes_prepare(ingest *g);
int sl__modes_finish(ingest *g);

/* multi.c: several files as one job */
bool sl__multi_spec(const char *file);
int sl__multi_spec_make(char *const *files, size_t n, char **out, char *msg, size_t msglen);
/* open the set as g->src (each file under its decoder, headers checked);
   *st: the set's raw size (the sum) and time (the latest) */
int sl__multi_open(ingest *g, const char *spec, bool job_known, struct stat *st);
/* a known job: the set as its manifest says (IO_CHANGED otherwise) */
int sl__multi_check(ingest *g);
/* after planning: the cuts checked, the manifest on the job */
int sl__multi_planned(ingest *g);
/* the manifest of g->mf (with the layout the source knows) on the job */
int sl__multi_manifest(ingest *g);
/* the chunks known (a resume): the files' line deltas */
int sl__multi_lines(ingest *g);
/* a reject of chunk seq: its file, and its line and offset in that file */
void sl__multi_place(const ingest *g, uint32_t seq, sl_reject *r);
void sl__multi_free(ingest *g);

/* lease.c */
void sl__lease_owner(const char *name, char *out, size_t n);
int sl__lease_hold_limit(sl_txn *t, int64_t ttl_ms);
int sl__lease_claim(ingest *g, const char *job_id, sl_lease *l);
void sl__lease_give_back(ingest *g, const sl_lease *l);
int sl__heart_start(const char *db, int busy_timeout_ms, int64_t ttl_ms, heart **out);
void sl__heart_stop(heart *h);
int sl__heart_add(heart *h, const sl_lease *l);
void sl__heart_drop(heart *h, const sl_lease *l);

#define SL_LEASE_TTL_MS 30000 /* default: a dead remote worker's chunk waits this long */
#define SL_HOLD_MIN_MS  5000  /* the least idle-in-transaction limit (sl__lease_hold_limit) */

/* An access point of chunks seq.. (until the next entry): its blob at
   offset off of the side file (plan.c). */
typedef struct chunk_point {
	uint32_t seq, len;
	uint64_t off;
} chunk_point;

/* plan.c: the source as a struct stat (size and mtime of the raw file) */
int sl__ingest_source_stat(const ingest *g, struct stat *st);
/* plan.c: the access point of chunk seq into *out (cleared; empty: none) */
int sl__ingest_point(ingest *g, uint32_t seq, sl_buf *out);
int sl__ingest_points_load(ingest *g);
/* plan.c: a resume of a compressed job whose pending chunks have no access
   point (one zstd frame, the points file gone): decode once into a spool */
int sl__ingest_spool_for_resume(ingest *g);
void sl__ingest_points_close(ingest *g, bool drop);
/* plan.c, a pipelined plan: the next chunk the planner found (1 and *out;
   seq in order from 0), or 0: the plan is complete and stored (the job
   Processing, its fan-in done when no chunk is open), or <0 (the
   planner's failure, g->msg says). Writer thread only. */
int sl__ingest_pipe_next(ingest *g, sl_chunk *out);
/* Stop the planner (if running), join it, free the pipe. */
void sl__ingest_pipe_stop(ingest *g);

/* plan.c: planning and its checks */
int sl__ingest_map_header(ingest *g);
int sl__ingest_store_tx(ingest *g, int (*fn)(ingest *g));
int sl__ingest_tx_job_update(ingest *g);
/* refeed.c: a refeed job whose input is the rows it holds in the job
   store (its file refeed://FIRST), and that input opened as g->src. */
bool sl__refeed_is_source(const sl_job *j);
int sl__refeed_source(ingest *g);
/* refeed.c: a refeed job's input file removed once no retry can need it
   (its end is settled by write_end in chunk_run.c, whoever finishes it). */
void sl__refeed_input_done(const sl_job *j);
int sl__ingest_tx_job_insert(ingest *g);
int sl__ingest_plan(ingest *g);
int sl__ingest_fingerprint_ok(ingest *g, const struct stat *st);
int sl__ingest_effective_dialect(ingest *g, bool job_known);
int sl__ingest_find_loaded(ingest *g, const struct stat *st, sl_job *prev);
int sl__ingest_tx_same_as(ingest *g);

#endif
