/*
 * The job model: jobs, chunks, their statuses and counters, rejected rows,
 * and their JSON and CSV shapes. It sits below the store and the engine
 * (base <- csv, schema <- job <- store <- engine <- http, cli): the store
 * keeps these structures and names the statuses without knowing the engine,
 * and every front end prints them through the one writer here, so the CLI's
 * `--json` and the HTTP API cannot drift apart.
 *
 * Statuses (docs/ingest.md):
 *   job:   Accepted, Chunking, ChunksQueued, Processing, then Succeeded,
 *          PartiallySucceeded or Failed (RolledBack after a rollback,
 *          Cancelled when stopped on request)
 *   chunk: Queued, Processing, Succeeded, Failed
 */
#ifndef SLUICE_JOB_H
#define SLUICE_JOB_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sluice/error.h"
#include "sluice/str.h"

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
	char *file; /* absolute path */
	char *schema_path;
	char *dataset, *table;
	uint64_t schema_hash;
	uint64_t file_size, file_hash;
	int64_t file_mtime_ns;
	uint64_t chunk_size;
	uint64_t chunks_total, chunks_processed, chunks_succeeded, chunks_failed;
	uint64_t rows_read, rows_loaded, rows_rejected;
	/* rows_loaded split (rows_inserted + rows_updated == rows_loaded): new
	   keys, and with on_duplicate: update rows that replaced the row of
	   their key (seed 002's records_inserted and records_updated) */
	uint64_t rows_inserted, rows_updated;
	uint64_t bytes_total, bytes_done;
	uint64_t rejects_by_code[SL_ERROR_COUNT]; /* indexed by sl_error_index() */
	int error_code;                           /* why it failed, or 0 */
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
	bool resumed;                /* a run continued it after an earlier run had started it */
	/* Fix and refeed (sluice/refeed.h): the job whose rejected rows this
	   job read ("" for a job of a file), and how many of this job's own
	   rejected rows a refeed has loaded since (rejects_open is
	   rows_rejected minus these). */
	char refeed_of[SL_JOB_ID_LEN];
	uint64_t rejects_resolved;
	char mode[12]; /* load mode: "append" (also ""), "replace" or "atomic"
	                  (sl_load_mode_name; docs/ingest.md, Load modes) */
} sl_job;

void sl_job_clear(sl_job *j); /* frees the strings, zeroes */
/* Seconds the job has run: started -> finished (or -> now_ms while it runs);
   0 for a job that never started (Accepted, or failed before its first chunk). */
double sl_job_duration_s(const sl_job *j, int64_t now_ms);

/* A fresh job id: 'j', the time, random bits (ids sort by creation). */
void sl_job_new_id(char id[SL_JOB_ID_LEN]);

/* A chunk as stored (the chunks table). */
typedef struct sl_chunk {
	uint32_t seq; /* 0-based, file order */
	uint64_t offset, length, hash;
	uint64_t first_record, first_line; /* records before it; its first line */
	uint64_t records_planned;
	sl_chunk_status status;
	uint32_t attempts;
	uint64_t rows_read, rows_loaded, rows_rejected;
	uint64_t rows_inserted, rows_updated; /* rows_loaded split, as the job's */
	int64_t duration_ms;
	int last_error;
	char last_message[256];
} sl_chunk;

/* A rejected row as kept in the error table. */
typedef struct sl_reject {
	uint64_t record, line, offset;
	int column; /* schema column index, or -1 (structural errors) */
	int code;
	sl_str message;
	sl_str raw;         /* the record's bytes (the first SL_CSV_RAW_PREFIX for too-long ones) */
	sl_str resolved_by; /* the refeed job that has loaded the row since, or empty (read
	                       back from the store; not part of the CSV and JSON shapes) */
} sl_reject;

/* Reading jobs and rejects (views and strings valid during the callback). */
typedef int (*sl_job_cb)(void *ctx, const sl_job *job);
typedef int (*sl_reject_cb)(void *ctx, uint32_t chunk, const sl_reject *r, const char *column);

/* Listing jobs a page at a time (sl_jobs_page, the job store's job_list). */
/* Where a page of the job listing ends: the last job it gave. */
typedef struct sl_job_cursor {
	int64_t created_ms;
	char id[SL_JOB_ID_LEN]; /* "" : from the newest job */
} sl_job_cursor;

/* Which jobs to list: newest first (created_ms, then id, descending),
   those strictly after `after` in that order, at most `limit`. */
typedef struct sl_job_filter {
	int status;          /* an sl_job_status, or -1: any */
	const char *dataset; /* NULL: any */
	const char *prefix;  /* NULL: any; else the id or the correlation id starts so */
	sl_job_cursor after; /* zeroed: from the newest */
	size_t limit;        /* 0: no limit */
} sl_job_filter;

/* every job */
#define SL_JOB_FILTER_ALL ((sl_job_filter){.status = -1})

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

#ifdef __cplusplus
}
#endif
#endif
