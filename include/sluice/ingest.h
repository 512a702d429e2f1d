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
 * Statuses (docs/ingest.md):
 *   job:   Accepted, Chunking, ChunksQueued, Processing, then Succeeded,
 *          PartiallySucceeded or Failed (RolledBack after a rollback,
 *          Cancelled when stopped on request)
 *   chunk: Queued, Processing, Succeeded, Failed
 */
#ifndef SLUICE_INGEST_H
#define SLUICE_INGEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sluice/error.h"
#include "sluice/schema.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sl_job_status {
	SL_JOB_ACCEPTED = 0,
	SL_JOB_CHUNKING,
	SL_JOB_QUEUED, /* "ChunksQueued" */
	SL_JOB_PROCESSING,
	SL_JOB_SUCCEEDED,
	SL_JOB_PARTIAL, /* "PartiallySucceeded" */
	SL_JOB_FAILED,
	SL_JOB_ROLLEDBACK,
	SL_JOB_CANCELLED, /* stopped on request: committed chunks stay, the rest stay Queued */
	SL_JOB_NSTATUS
} sl_job_status;

typedef enum sl_chunk_status {
	SL_CHUNK_QUEUED = 0,
	SL_CHUNK_PROCESSING,
	SL_CHUNK_SUCCEEDED,
	SL_CHUNK_FAILED,
	SL_CHUNK_NSTATUS
} sl_chunk_status;

const char *sl_job_status_name(sl_job_status s);
const char *sl_chunk_status_name(sl_chunk_status s);
int sl_job_status_parse(const char *name, sl_job_status *out); /* 0 or SL_INVAL */
bool sl_job_status_final(sl_job_status s);

#define SL_JOB_ID_LEN 24

/* A job as stored (the jobs table). */
typedef struct sl_job {
	char id[SL_JOB_ID_LEN];
	uint32_t seq; /* 1, 2, ... in its database, in the order jobs were created */
	sl_job_status status;
	char *file;        /* absolute path */
	char *schema_path;
	char *dataset, *table;
	uint64_t schema_hash;
	uint64_t file_size, file_hash;
	int64_t file_mtime_ns;
	uint64_t chunk_size;
	uint64_t chunks_total, chunks_processed, chunks_succeeded, chunks_failed;
	uint64_t rows_read, rows_loaded, rows_rejected;
	uint64_t bytes_total, bytes_done;
	uint64_t rejects_by_code[SL_ERROR_COUNT]; /* indexed by sl_error_index() */
	int error_code;      /* why it failed, or 0 */
	char *error_message;
	int64_t created_ms, started_ms, finished_ms, updated_ms; /* Unix ms */
	char *correlation_id;
	char *dialect;         /* the dialect the job reads its file with (sl_dialect_text) */
	char *ignored_columns; /* header names the schema does not read, one per line, or NULL */
	char *warnings;        /* what the user should know, one per line, or NULL: header
	                          names ignored (lenient), the file grew while it loaded */
	char same_as[SL_JOB_ID_LEN]; /* "" or: the job that had loaded the same content
	                                 already; this one loaded nothing */
	uint64_t records_padded;     /* lenient / null_padding: short records read with NULLs */
	uint64_t records_truncated;  /* lenient: long records whose extra fields were dropped */
	bool resumed; /* a run continued it after an earlier run had started it */
} sl_job;

void sl_job_clear(sl_job *j); /* frees the strings, zeroes */
/* Seconds the job has run: started -> finished (or -> now_ms while it runs);
   0 for a job that never started (Accepted, or failed before its first chunk). */
double sl_job_duration_s(const sl_job *j, int64_t now_ms);

/* A chunk as stored (the chunks table). */
typedef struct sl_chunk {
	uint32_t seq; /* 0-based, file order */
	uint64_t offset, length, hash;
	uint64_t first_record, first_line; /* records before it; its first line */
	uint64_t records_planned;
	sl_chunk_status status;
	uint32_t attempts;
	uint64_t rows_read, rows_loaded, rows_rejected;
	int64_t duration_ms;
	int last_error;
	char last_message[256];
} sl_chunk;

typedef struct sl_ingest_progress {
	const sl_job *job; /* counters so far, with the chunk under way: rows_loaded +
	                      rows_rejected are the rows written to the database so far */
	double elapsed_s;
	const sl_chunk *chunk; /* set once per chunk, when it is done (Succeeded or Failed) */
	uint64_t rows_planned; /* data records of the whole file, as planned */
	uint64_t rows_committed; /* rows of committed chunks (read = loaded + rejected) */
} sl_ingest_progress;

struct sl_reject;
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
	/* validate (dry_run): every rejected row, in file order, as it is found
	   with the chunk it is in (the record's raw bytes and message are views
	   valid during the call) */
	int (*reject)(void *ctx, uint32_t chunk, const struct sl_reject *r, const char *column);
	void *reject_ctx;
	const char *job_id;      /* resume or retry this job (file and schema from the job) */
	bool retry;              /* with job_id: run the Failed chunks again */
	const char *correlation_id;
	bool strict_source;      /* a file that grew during the run fails it (IO_CHANGED) */
	int max_attempts;        /* per chunk, for transient faults (default 3) */
	int busy_timeout_ms;     /* SQLite busy timeout (default 2000) */
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

/* A rejected row as kept in the error table. */
typedef struct sl_reject {
	uint64_t record, line, offset;
	int column;      /* schema column index, or -1 (structural errors) */
	int code;
	sl_str message;
	sl_str raw;      /* the record's bytes (the first SL_CSV_RAW_PREFIX for too-long ones) */
} sl_reject;

/* Reading the job store (views and strings valid during the callback). */
typedef int (*sl_job_cb)(void *ctx, const sl_job *job);
typedef int (*sl_reject_cb)(void *ctx, uint32_t chunk, const sl_reject *r, const char *column);

int sl_jobs_list(const char *db, int status /* -1: all */, sl_job_cb cb, void *ctx, char *msg,
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

/* JSON: a job's fields without the braces (the names `sluice ingest --json`
   prints and the HTTP API returns: every number of both comes from here),
   and a chunk as one object. Times that run on (duration_s, rows_per_s,
   eta_s of an unfinished job) are computed at now_ms. */
void sl_job_json_fields(FILE *f, const sl_job *j, int64_t now_ms);
void sl_chunk_json(FILE *f, const sl_job *j, const sl_chunk *c);
/* Pieces of it: rejects_by_code as an object, and a list kept as text
   ("a\nb\n" with sep '\n') as an array of strings. */
void sl_job_json_codes(FILE *f, const sl_job *j);
void sl_job_json_list(FILE *f, const char *list, char sep);
/* A rejected row as `sluice errors` writes it (the HTTP API's errors and
   `validate --errors-out` too): CSV with the columns of SL_REJECT_CSV_HEADER,
   or one JSON object with the same fields and a line break. */
#define SL_REJECT_CSV_HEADER "record,line,offset,chunk,column,code,message,raw\n"
void sl_reject_csv(FILE *f, uint32_t chunk, const struct sl_reject *r, const char *column);
void sl_reject_jsonl(FILE *f, uint32_t chunk, const struct sl_reject *r, const char *column);

/* Record a job for a file without running it: status Accepted, durable,
   run later by sl_ingest() with opts.job_id (which plans it). With an
   idempotency key, the first job with that key is answered instead when
   the file has the same size and content hash and the same dataset (1),
   and a different file is SL_IDEMPOTENCY_CONFLICT. */
typedef struct sl_accept_opts {
	const char *file;
	const char *schema_path;
	const char *db;              /* SQLite file (default ./sluice.db) */
	const char *correlation_id;
	const char *idempotency_key; /* NULL or "": none */
	uint64_t content_hash;       /* the caller's hash of the file, kept with the key */
	const char *job_id;          /* the id to give the job (made by sl_job_new_id), or NULL */
	int64_t created_ms;          /* when it was accepted (0: now) */
} sl_accept_opts;
/* A fresh job id: 'j', the time, random bits (ids sort by creation). */
void sl_job_new_id(char id[SL_JOB_ID_LEN]);
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
