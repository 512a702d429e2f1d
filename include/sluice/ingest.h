/*
 * Ingest: load a delimited file into a database table, exactly once.
 *
 * A job is a file + a schema + a target. Planning fingerprints the file
 * (size, modification time, XXH3 of the content, and a hash per chunk) and
 * the schema, splits the file into chunks at record boundaries, and stores
 * the job and its chunks. Chunks are parsed and validated on worker threads;
 * one writer commits them in file order. Each chunk's rows, its rejected
 * rows, its status and the job's counters commit in one transaction, which
 * is what makes a resume after kill -9 load every row exactly once.
 *
 * The job model (jobs, chunks, statuses, rejected rows and their JSON) is
 * sluice/job.h, included here.
 */
#ifndef SLUICE_INGEST_H
#define SLUICE_INGEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sluice/error.h"
#include "sluice/job.h"
#include "sluice/schema.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_ingest_progress {
	const sl_job *job; /* counters so far, with the chunk under way: rows_loaded +
	                      rows_rejected are the rows written to the database so far */
	double elapsed_s;
	const sl_chunk *chunk; /* set once per chunk, when it is done (Succeeded or Failed) */
	uint64_t rows_planned; /* data records of the whole file, as planned */
	uint64_t rows_committed; /* rows of committed chunks (read = loaded + rejected) */
} sl_ingest_progress;

/* What a process that runs chunks does about the store's leader lease
   (docs/scaling.md): every `sluice ingest`, `worker` and `serve` is a
   candidate; the one that leads requeues chunks whose lease ran out (the
   reaper) and, when retention_ms > 0, deletes finished jobs' rejects and
   events older than that. */
typedef struct sl_leader_opts {
	/* attempts a chunk gets (claims, and retries inside a run): the claim
	   after the last fails it with ATTEMPTS (0: SL_MAX_ATTEMPTS) */
	int max_attempts;
	/* base of a requeued chunk's wait, base * 2^(attempts - 1) with
	   jitter (0: SL_BACKOFF_MS; < 0: none) */
	int64_t backoff_ms;
	int64_t retention_ms; /* 0: kept (sluice gc by hand) */
	bool off;             /* no candidate here (the service runs its own) */
} sl_leader_opts;

#define SL_MAX_ATTEMPTS 5
#define SL_BACKOFF_MS   1000

typedef struct sl_ingest_opts {
	const char *file;
	const char *schema_path;
	const char *db;          /* SQLite file (default ./sluice.db) */
	int threads;             /* 0: all cores */
	uint64_t chunk_size;     /* 0: 64 MiB */
	bool has_max_errors, has_max_error_ratio; /* override the schema's limits */
	uint64_t max_errors;
	double max_error_ratio;
	bool dry_run;            /* validate: parse and check, write nothing */
	/* start a new job whatever exists: neither an unfinished job for the
	   file is resumed nor a finished load of the same content reported */
	bool new_job;
	/* The dialect for this run instead of the schema's `csv:` (command-line
	   options), NULL markers instead of its `null:` (when has_nulls), and
	   null_padding on top of the schema's. The job records the effective
	   dialect (sl_job.dialect): a resume reads the file with it. */
	const sl_csv_dialect *dialect;
	bool has_nulls;
	char *const *nulls;
	size_t nnulls;
	bool null_padding;
	/* "auto" (NULL: the same; by magic bytes), "none", "gzip" or "zstd":
	   how the file is compressed. The job records what it took (in its
	   dialect, `compression=`), so a resume decodes it the same way. */
	const char *compression;
	/* the S3 endpoint for an s3:// file (--s3-endpoint); NULL: the
	   environment's (AWS_ENDPOINT_URL) or AWS's (docs/sources.md) */
	const char *s3_endpoint;
	/* instead of file: the standard output of `sh -c program`, read once
	   as a stream (as `-`, standard input, and a FIFO are): the job
	   cannot be resumed (docs/sources.md) */
	const char *program;
	/* instead of file: several files as one job (docs/ingest.md, Several
	   files): nfiles paths, or one glob pattern that sluice expands; the
	   files are read in name order (byte order), each under its own
	   decoder, every header the first's */
	char *const *files;
	size_t nfiles;
	/* a stream (program, `-`, a FIFO) is also copied, as it is read, into
	   DIR/JOBID.stream; the job then reads that file on resume */
	const char *spool_dir;
	/* validate (dry_run): every rejected row, in file order, as it is found
	   with the chunk it is in (the record's raw bytes and message are views
	   valid during the call) */
	int (*reject)(void *ctx, uint32_t chunk, const struct sl_reject *r, const char *column);
	void *reject_ctx;
	/* load mode of a new job (SL_MODE_DEFAULT: the schema's `mode:`); a
	   resumed or retried job keeps the mode it was created with */
	sl_load_mode mode;
	const char *job_id;      /* resume or retry this job (file and schema from the job) */
	bool retry;              /* with job_id: run the Failed chunks again */
	const char *correlation_id;
	bool strict_source;      /* a file that grew during the run fails it (IO_CHANGED) */
	int max_attempts;        /* per chunk and run, for transient faults (default 3) */
	sl_leader_opts leader;   /* the leader candidate of the run (see above) */
	int busy_timeout_ms;     /* SQLite busy timeout (default 2000) */
	/* How long a claimed chunk stays ours without a renewal (0: 30 s); a
	   heartbeat renews it every third of that (docs/ingest.md, Workers). */
	int64_t lease_ttl_ms;
	void (*progress)(void *ctx, const sl_ingest_progress *p);
	void *progress_ctx;
	/* Polled by the writer after each chunk commits: nonzero stops the run
	   there, the job left unfinished to be resumed later (res->paused). A
	   scheduler uses it to share the machine between jobs. */
	int (*pause)(void *ctx);
	void *pause_ctx;
} sl_ingest_opts;

typedef struct sl_ingest_result {
	sl_job job;      /* final state; free with sl_job_clear */
	bool resumed;    /* an unfinished job was continued */
	bool paused;     /* opts.pause stopped it: unfinished, resume it later */
	/* the file's content had been loaded already (same size and hash, schema,
	   dialect, table): job is that earlier job and nothing was loaded; an
	   upload's own job (opts.job_id) is then finished pointing at it
	   (sl_job.same_as) */
	bool already_loaded;
	double duration_s;
	char message[512]; /* on failure: what went wrong and what to do */
} sl_ingest_result;

/* Run (or resume, or retry) a job. Returns 0 when the job reached a final
   status (look at res->job.status), or a negative code when it could not
   be run at all (bad schema, unreadable file, database unusable, changed
   file) with res->message saying why. */
int sl_ingest(const sl_ingest_opts *o, sl_ingest_result *res);

/* A worker: claims queued chunks of any job in the store, runs them under
   their leases and heartbeats them, beside other workers and ingests
   (docs/ingest.md, "Workers and leases"). */
typedef struct sl_worker_opts {
	const char *db;       /* SQLite file (default ./sluice.db) */
	int threads;          /* runners, each claiming and running chunks (default 1) */
	const char *name;     /* the owner name its leases carry (default "worker") */
	int64_t lease_ttl_ms; /* 0: 30 s */
	bool once;            /* stop when nothing is left to claim (else poll on) */
	/* an idle runner looks for work this often, with jitter, when no news
	   wakes it (PostgreSQL NOTIFYs queued chunks); 0: a tenth of the TTL,
	   at most 200 ms */
	int64_t poll_ms;
	sl_leader_opts leader;
	int busy_timeout_ms;
	/* only this job's chunks (NULL: any job's); a job it cannot open is
	   left to the others (its lease given back, the runner stops), not
	   failed: the in-process writers of `sluice ingest` (ingest.c) */
	const char *job_id;
	/* polled between chunks: nonzero stops the worker (its leases held are
	   given back or committed first) */
	int (*stop)(void *ctx);
	void *stop_ctx;
	/* after each chunk it ran: the job as committed, the chunk, 0 or the
	   code that stopped the job (SL_LEASE_LOST: the chunk's commit was
	   refused, another holds it now), and its message; from the runner's
	   thread */
	void (*chunk_done)(void *ctx, const sl_job *job, const sl_chunk *c, int rc,
	                   const char *msg);
	void *chunk_ctx;
} sl_worker_opts;

typedef struct sl_worker_result {
	uint64_t chunks; /* committed */
	uint64_t lost;   /* refused at their commit: the lease had been taken over */
	uint64_t failed; /* jobs this worker stopped (failure, budget) or could not run */
	char message[512];
} sl_worker_result;

/* Run until nothing is left (o->once) or o->stop says so. 0, or a code
   when the store could not be used (res->message says why). */
int sl_worker_run(const sl_worker_opts *o, sl_worker_result *res);

/* A leader candidate: a thread with its own store connection that takes
   the store's leader lease when nobody holds it, renews it, and while it
   leads does the leader's work (sl_leader_opts) every beat (a third of
   the TTL, at most 1 s); it steps down when stopped. */
typedef struct sl_candidate sl_candidate;
typedef struct sl_leader_stats {
	bool leading;
	int64_t term;       /* the term it leads in (0: not leading) */
	uint64_t takeovers; /* terms it began */
	uint64_t renewals;  /* beats that renewed its lease */
	uint64_t refused;   /* leader-only transactions refused: the term had moved on */
	uint64_t reaped;    /* chunks it queued again */
	uint64_t gc_jobs;   /* jobs whose rejects and events retention deleted */
} sl_leader_stats;
/* name: the owner name it carries ("serve", "worker", ...). */
int sl_candidate_start(const char *db, int busy_timeout_ms, int64_t ttl_ms, const char *name,
                       const sl_leader_opts *o, sl_candidate **out, char *msg, size_t msglen);
void sl_candidate_stats(sl_candidate *c, sl_leader_stats *out);
void sl_candidate_stop(sl_candidate *c); /* NULL: nothing */

/* The chunk leases of this process, all its runs together (for /metrics):
   leases held now, claims and their latency (a claim's transaction, begin
   to commit, of claims that got a chunk), renewals by the heartbeats. */
#define SL_CLAIM_BUCKETS 10
typedef struct sl_lease_stats {
	uint64_t held;
	uint64_t claims;
	uint64_t renewals;
	uint64_t renewals_lost; /* refused: the chunk had been taken over */
	double claim_le[SL_CLAIM_BUCKETS];         /* the buckets' upper bounds, seconds */
	uint64_t claim_count[SL_CLAIM_BUCKETS + 1]; /* per bucket, not cumulative; last +Inf */
	double claim_sum_s;
} sl_lease_stats;
void sl_lease_stats_get(sl_lease_stats *out);

/* Reading the job store (views and strings valid during the callback;
   the callbacks are in sluice/job.h). */

int sl_jobs_list(const char *db, int status /* -1: all */, sl_job_cb cb, void *ctx, char *msg,
		 size_t msglen);
/* Can the job store of db be used (readiness): it opens (a connection for a
   server's database; a newer store than this build is refused), reads, and
   its version is the one this build writes. backend: "sqlite" or
   "postgres"; version 0 for a store without versions (SQLite: brought up
   to date when opened). 0, or a code with msg saying why. */
typedef struct sl_store_status {
	char backend[16];
	int version, wanted;
} sl_store_status;
int sl_store_check(const char *db, sl_store_status *out, char *msg, size_t msglen);
/* The jobs f selects (NULL: all), newest first, a page at a time: pass the
   last job a page gave as f->after for the next (sl_job_cursor). */
int sl_jobs_page(const char *db, const sl_job_filter *f, sl_job_cb cb, void *ctx, char *msg,
                 size_t msglen);
/* 0 and *job (+ its chunks when `chunks` is not NULL; free() them), or
   SL_NOT_FOUND when there is no such job. */
int sl_job_load(const char *db, const char *id, sl_job *job, sl_chunk **chunks, size_t *nchunks,
		char *msg, size_t msglen);
/* A kept read connection to the job store, for a front end that reads
   jobs often (the service): one thread at a time uses it. sl_reader_job
   answers as sl_job_load does. */
typedef struct sl_reader sl_reader;
int sl_reader_open(const char *db, sl_reader **out, char *msg, size_t msglen);
void sl_reader_close(sl_reader *r);
int sl_reader_job(sl_reader *r, const char *id, sl_job *job, sl_chunk **chunks, size_t *nchunks,
		  char *msg, size_t msglen);
int sl_job_rejects(const char *db, const char *id, int code /* 0: all */, sl_reject_cb cb,
		   void *ctx, char *msg, size_t msglen);
/* What an idempotency key was used with: 1 found, 0 none (reads only). */
int sl_idem_lookup(const char *db, const char *key, char job_id[SL_JOB_ID_LEN], char *dataset,
		   size_t dlen, uint64_t *size, uint64_t *hash, char *msg, size_t msglen);
/* Chunks of every job in the store, by status (out[SL_CHUNK_NSTATUS]). */
int sl_chunk_counts(const char *db, uint64_t *out, char *msg, size_t msglen);
/* Delete the error rows and events of finished jobs older than `age_ms`. */
int sl_gc(const char *db, int64_t age_ms, uint64_t *jobs, char *msg, size_t msglen);

/* Record a job for a file without running it: status Accepted, durable,
   run later by sl_ingest() with opts.job_id (which plans it). With an
   idempotency key, the first job with that key is answered instead when
   the file has the same size and content hash and the same dataset (1),
   and a different file is SL_IDEMPOTENCY_CONFLICT. */
typedef struct sl_accept_opts {
	const char *file; /* a path, or "glob:PATTERN": the files it matches as one job */
	const char *schema_path;
	const char *db;              /* SQLite file (default ./sluice.db) */
	const char *correlation_id;
	const char *idempotency_key; /* NULL or "": none */
	uint64_t content_hash;       /* the caller's hash of the file, kept with the key */
	const char *job_id;          /* the id to give the job (made by sl_job_new_id), or NULL */
	int64_t created_ms;          /* when it was accepted (0: now) */
	/* file may be an object's URI (s3://bucket/key): it is fingerprinted
	   by a HEAD (size, Last-Modified and ETag) as the engine does, through
	   this endpoint (NULL: AWS_ENDPOINT_URL) */
	const char *s3_endpoint;
	sl_load_mode mode; /* the job's load mode (SL_MODE_DEFAULT: the schema's `mode:`) */
} sl_accept_opts;
/* 0: a new job in *job; 1: the key's earlier job in *job; <0 failure
   (SL_IDEMPOTENCY_CONFLICT: the key was used with another file). */
int sl_job_accept(const sl_accept_opts *o, sl_job *job, char *msg, size_t msglen);

/* Ask job `id` to stop. A job nobody runs becomes Cancelled at once; a
   running one stops after the chunk it is committing (its transaction
   commits or rolls back whole) and becomes Cancelled; a finished one is
   SL_CONFLICT; no such job is SL_NOT_FOUND. *status: the job's status after the call. A retry of a
   Cancelled job runs its remaining chunks. */
int sl_job_cancel(const char *db, const char *id, sl_job_status *status, char *msg, size_t msglen);

/* Make a finished job (Failed, Cancelled, or with failed chunks) run
   again: its Failed chunks become Queued and the job ChunksQueued, in one
   transaction, so it reads as waiting at once; the next sl_ingest() of it
   (a resume) runs what is queued. SL_CONFLICT when it is not finished, is
   rolled back, or has nothing to run, or another process runs it;
   SL_NOT_FOUND when there is no such job. */
int sl_job_requeue(const char *db, const char *id, char *msg, size_t msglen);

/* Remove the rows job `id` loaded; the job becomes RolledBack.
   SL_NOT_FOUND: no such job; SL_CONFLICT: it is not finished, or was
   rolled back already. */
int sl_ingest_rollback(const char *db, const char *id, uint64_t *rows, char *msg, size_t msglen);

#ifdef __cplusplus
}
#endif
#endif
