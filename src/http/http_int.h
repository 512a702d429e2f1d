/*
 * Private to src/http/: the state of a running `sluice serve`, shared by the
 * request handlers (http_server.c), the ingest worker (http_worker.c) and
 * the JSON writers (http_json.c).
 *
 * Locking: `mu` guards the upload table, the queue and the worker's
 * `current`/`busy`/`stop` fields; `cv` is signalled when the queue gains an
 * item or `stop` is set, `idle_cv` when the worker finishes an item. Counters
 * for /metrics are atomics and need no lock. Everything else (options,
 * datasets, API keys) is written before the first thread starts and only
 * read afterwards.
 */
#ifndef SLUICE_HTTP_INT_H
#define SLUICE_HTTP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sluice/ingest.h"
#include "sluice/schema.h"
#include "sluice/serve.h"

#define HTTP_ID_MAX 40        /* longest job, upload or chunk id accepted in a path */
#define HTTP_CORR_MAX 128     /* X-Correlation-Id */
#define HTTP_IDEM_MAX 200     /* Idempotency-Key */
#define HTTP_UPLOADS_KEPT 4096 /* upload table entries (idempotency keys, upload -> job) */
#define HTTP_MAX_KEYS 64

enum { SCOPE_READ = 1, SCOPE_WRITE = 2, SCOPE_ADMIN = 4 };

typedef struct http_dataset {
	sl_schema *schema; /* owned; read-only while serving */
} http_dataset;

typedef struct http_key {
	char *key;
	size_t len;
	unsigned scopes;
} http_key;

/* An upload received in full. The table is a ring: the oldest entry is
   reused after HTTP_UPLOADS_KEPT uploads; an upload id no longer in it is
   still found through its job's file name (DATA_DIR/uploads/ID.csv). */
typedef struct http_upload {
	char id[SL_JOB_ID_LEN];  /* "" = free */
	char job[SL_JOB_ID_LEN]; /* "" until the ingest created the job */
	char idem[HTTP_IDEM_MAX + 1];
	uint64_t hash, size;
	size_t ds;
	bool done;               /* sl_ingest returned */
	char err[200];           /* why it could not run, when done without a job */
} http_upload;

enum { Q_UPLOAD, Q_RESUME, Q_RETRY };
typedef struct http_item {
	struct http_item *next;
	int kind;
	char id[SL_JOB_ID_LEN]; /* upload id (Q_UPLOAD) or job id */
	size_t ds;
	char corr[HTTP_CORR_MAX + 1];
} http_item;

/* Routes, also the `route` label of the request metrics. */
enum {
	RT_LIVE, RT_READY, RT_METRICS, RT_DATASETS, RT_UPLOAD, RT_JOBS, RT_JOB, RT_CHUNKS,
	RT_ERRORS, RT_RETRY, RT_ROLLBACK, RT_NONE, RT_COUNT
};
#define HTTP_NSTATUS 16

typedef struct http_srv {
	sl_serve_opts o; /* with defaults applied */
	char *uploads_dir, *tmp_dir;
	http_dataset *ds;
	size_t nds;
	http_key keys[HTTP_MAX_KEYS];
	size_t nkeys; /* 0: no authentication */

	pthread_mutex_t mu;
	pthread_cond_t cv, idle_cv;
	http_upload uploads[HTTP_UPLOADS_KEPT];
	size_t next_upload;
	http_item *qhead, *qtail;
	char current[SL_JOB_ID_LEN]; /* job (or upload) the worker runs, for logs */
	bool busy, stop;

	/* metrics */
	atomic_uint_fast64_t requests[RT_COUNT][HTTP_NSTATUS];
	atomic_uint_fast64_t rows_loaded, rows_rejected, upload_bytes, uploads_done;
	atomic_int uploads_in_flight;

	pthread_mutex_t log_mu; /* one log line at a time */
} http_srv;

/* http_server.c */
void http_log(http_srv *s, const char *level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void http_log_job(http_srv *s, const char *level, const char *job, const char *corr,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* http_worker.c: the ingest queue. */
int http_worker_start(http_srv *s, pthread_t *tid);
void http_enqueue(http_srv *s, http_item *it); /* takes it; caller holds s->mu */
int http_resume_unfinished(http_srv *s);        /* queue the store's unfinished jobs */
/* The job of upload `uid`: 1 and job (may be "" = not started), 0 unknown.
   Caller holds s->mu. */
int http_upload_find(http_srv *s, const char *uid, http_upload **out);

/* http_json.c: JSON into a FILE (open_memstream). */
void http_json_job(FILE *f, const sl_job *j, const char *upload_id);
void http_json_chunk(FILE *f, const sl_job *j, const sl_chunk *c);
void http_json_dataset(FILE *f, const sl_schema *s);
void http_json_error(FILE *f, const char *code, const char *message);
void http_json_str(FILE *f, const char *s);
/* One rejected row as a CSV line (header: HTTP_ERRORS_CSV_HEADER) or a JSON line. */
#define HTTP_ERRORS_CSV_HEADER "record,line,offset,column,code,message,raw\n"
void http_reject_csv(FILE *f, const sl_reject *r, const char *column);
void http_reject_jsonl(FILE *f, uint32_t chunk, const sl_reject *r, const char *column);
/* "u..." or "" from a job's file path when it is one of ours. */
void http_upload_of(const http_srv *s, const sl_job *j, char *uid, size_t n);

#endif
