/*
 * Private to src/http/: the state of a running `sluice serve`, shared by the
 * request handlers (http_router.c and the files it calls), the ingest
 * worker (http_worker.c), the acceptor (http_accept.c) and the JSON writers
 * (http_json.c). A request and the reply helpers are in http_reply.h, the
 * route table in http_routes.h.
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
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <microhttpd.h>
#include <xxhash.h>

#include "sluice/ingest.h"
#include "sluice/schema.h"
#include "sluice/serve.h"
#include "http/http_routes.h"

#define HTTP_ID_MAX   40  /* longest job, upload or chunk id accepted in a path */
#define HTTP_CORR_MAX 128 /* X-Correlation-Id */
#define HTTP_IDEM_MAX 200 /* Idempotency-Key */
#define HTTP_MAX_KEYS 64
#define HTTP_READERS  16
/* Per connection: libmicrohttpd's memory pool (headers and the read
   buffer; 256 KiB makes upload bodies arrive in big reads, about 15 %
   less CPU per byte than 64 KiB), and the headers' own limit. */
#define HTTP_CONN_POOL   (256 * 1024)
#define HTTP_HEADERS_MAX (32 * 1024)

typedef struct http_dataset {
	sl_schema *schema; /* owned; read-only while serving */
} http_dataset;

typedef struct http_key {
	char *key;
	size_t len;
	unsigned scopes;
	char owner[17]; /* its fingerprint (hex XXH3): what it creates is its own */
} http_key;

/* A job waiting for a runner. Every queued job is in the store and
   unfinished (a retry is made unfinished first, sl_job_requeue), so a run
   is always sl_ingest() of that job id: a start or a resume. */
enum { Q_RUN };
typedef struct http_item {
	struct http_item *next;
	int kind;
	char id[SL_JOB_ID_LEN];
	char corr[HTTP_CORR_MAX + 1];
	bool resumed; /* paused by the scheduler before: not the first run */
} http_item;

#define HTTP_MAX_RUNNERS 16
#define HTTP_MAX_POOL    64   /* threads that run blocking work off the event loop */
#define HTTP_PARK_MS     250  /* a parked event stream looks for news this often */
#define HTTP_CLIENTS     4096 /* client addresses tracked at once (per-client limits) */

/* An upload answered 202 whose job row is not in the store yet: the
   acceptor thread (http_accept.c) records it there in the background, so
   an upload never waits for the write lock that running jobs hold for a
   chunk at a time. Durable before the answer: the file and a sidecar
   DATA_DIR/uploads/UID.accept with these fields. */
typedef struct http_pending {
	struct http_pending *next;
	char job[SL_JOB_ID_LEN];
	char uid[SL_JOB_ID_LEN]; /* the file's name: 'u' + the job id's digits */
	size_t ds;
	char idem[HTTP_IDEM_MAX + 60]; /* "" or "key:..." / "url:..." */
	uint64_t size, hash;
	int64_t created_ms;
	char corr[HTTP_CORR_MAX + 1];
	sl_load_mode mode; /* the upload's ?mode= (SL_MODE_DEFAULT: the dataset schema's) */
	bool failed;       /* it could not be recorded: err says why */
	char err[512];
	bool s3; /* the file is the object UID.csv of the upload store */
	/* its idempotency key was recorded for this job, of the same content,
	   by another server on the store meanwhile: this upload is that job
	   (http_resolve_job answers with it; failed is set too, so nothing
	   runs or lists it) */
	char alias[SL_JOB_ID_LEN];
} http_pending;

#define HTTP_NMETHODS      7  /* the methods of the route table + "other" */
#define HTTP_NSTATUS       23 /* counted statuses + "not answered" + "other" */
#define HTTP_REQ_BUCKETS   11 /* request duration histogram (http_metrics.c) */
#define HTTP_CHUNK_BUCKETS 10 /* chunk duration histogram */

typedef struct http_srv {
	sl_serve_opts o;                       /* with defaults applied */
	sl_candidate *cand;                    /* the leader candidate (leader.c) */
	char *uploads_dir, *tmp_dir, *tus_dir; /* DATA_DIR/uploads, /tmp, /tus: absolute */
	http_dataset *ds;
	size_t nds;
	http_key keys[HTTP_MAX_KEYS];
	size_t nkeys;             /* 0: no authentication */
	unsigned char secret[64]; /* signs upload URLs (http_sign.c) */
	size_t secret_len;

	pthread_mutex_t mu;
	pthread_cond_t cv, idle_cv;
	http_item *qhead, *qtail;
	size_t qlen;
	pthread_t runner_tid[HTTP_MAX_RUNNERS];
	unsigned nrunners;                             /* started */
	char running[HTTP_MAX_RUNNERS][SL_JOB_ID_LEN]; /* "" = idle */
	unsigned busy;                                 /* runners with a job */
	bool stop;
	http_pending *pend; /* accepted uploads not in the store yet, oldest first */
	size_t npend;
	pthread_cond_t pend_cv;   /* the acceptor's: an entry came, or stop */
	pthread_cond_t stored_cv; /* an entry was recorded (or failed) */
	pthread_t acceptor;
	bool acceptor_up;
	pthread_mutex_t idem_mu; /* one idempotency check-and-claim at a time */
	atomic_bool stopping;    /* SIGTERM came: long answers (event streams) end now */

	/* metrics */
	atomic_uint_fast64_t requests[RT_COUNT][HTTP_NMETHODS][HTTP_NSTATUS];
	atomic_uint_fast64_t rows_loaded, rows_rejected, upload_bytes, uploads_done, bytes_ingested;
	atomic_uint_fast64_t rejected_by_code[SL_ERROR_COUNT];
	atomic_uint_fast64_t chunks_done[SL_CHUNK_NSTATUS]; /* by final chunk status */
	/* histograms: counts per bucket (the last is +Inf) and sums in us */
	atomic_uint_fast64_t req_hist[RT_COUNT][HTTP_REQ_BUCKETS + 1], req_sum_us[RT_COUNT];
	atomic_uint_fast64_t chunk_hist[HTTP_CHUNK_BUCKETS + 1], chunk_sum_ms;
	atomic_int uploads_in_flight;

	pthread_mutex_t log_mu; /* one log line at a time */

	/* work off the event loop (http_pool.c); pool_mu guards these */
	pthread_mutex_t pool_mu;
	pthread_cond_t pool_cv, pool_idle_cv, tick_cv;
	struct pool_task *pool_head, *pool_tail;
	pthread_t pool_tid[HTTP_MAX_POOL];
	unsigned npool;
	bool pool_stop;
	unsigned ndeferred;    /* connections suspended for a deferred handler */
	struct parked *parked; /* event streams waiting for the next tick */
	bool park_closed;
	pthread_t ticker;
	bool ticker_up;

	/* per-client limits (http_limits.c), under cl_mu */
	pthread_mutex_t cl_mu;
	struct http_client *clients; /* HTTP_CLIENTS slots, open addressing */
	atomic_uint_fast64_t slow_dropped, client_refused;
	struct http_gate *gate; /* http_gate.c */
	atomic_uint conns_open; /* connections held by the gate or libmicrohttpd */

	/* Kept read connections for job reads (http_job_load): a request
	   takes one, reads, gives it back; at most HTTP_READERS are kept. */
	pthread_mutex_t rd_mu;
	sl_reader *readers[HTTP_READERS];
	size_t nreaders;

	struct http_watchers *watchers; /* drop folders (http_watch.c), or NULL */
	struct http_s3store *store;     /* --upload-store (http_s3store.c), or NULL */
	char *store_uri;                /* its "s3://BUCKET/PREFIX/" (uploads' URIs start so) */
	struct http_sweep *sweep;       /* its retention sweeper (http_sweep.c), or NULL */
} http_srv;

/* http_log.c: one JSON object a line on stderr. */
void http_log(http_srv *s, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void http_log_job(http_srv *s, const char *level, const char *job, const char *corr,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void http_log_chunk(http_srv *s, const char *level, const char *job, int64_t chunk,
                    const char *corr, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The line of a finished request (method set) or of libmicrohttpd's own
   messages (http_mhd_logger, MHD_OPTION_EXTERNAL_LOGGER). */
void http_log_request(http_srv *s, const char *level, const char *msg, const char *method,
                      const char *path, unsigned status, const char *corr, const char *job,
                      double duration_ms);
void http_mhd_logger(void *cls, const char *fmt, va_list ap);

/* http_worker.c: the job queue and its runners. */
int http_workers_start(http_srv *s); /* s->o.jobs runners */
/* Ask the runners to stop and wait up to the grace period; false when a
   job still runs then. */
bool http_workers_stop(http_srv *s);
/* Queue job `id` unless it is queued or running already: 0 queued, 1 it
   is there already, <0 no memory. Takes s->mu. */
int http_queue_job(http_srv *s, int kind, const char *id, const char *corr);
/* Take job `id` off the queue (a cancelled one): true when it was there. */
bool http_unqueue_job(http_srv *s, const char *id);
int http_resume_unfinished(http_srv *s); /* queue the store's unfinished jobs */

/* http_watch.c: a drop-folder thread per `watch:` entry (s->o.watch);
   stop asks them to stop and joins them (safe when none started). */
int http_watch_start(http_srv *s);
void http_watch_stop(http_srv *s);

/* http_json.c: JSON into a FILE (open_memstream). */
void http_json_job(FILE *f, const sl_job *j, const char *upload_id);
void http_json_chunk(FILE *f, const sl_job *j, const sl_chunk *c);
void http_json_dataset(FILE *f, const sl_schema *s);
void http_json_error(FILE *f, const char *code, const char *message);
void http_json_str(FILE *f, const char *s);
/* "u..." or "" from a job's file path when it is one of ours. */
void http_upload_of(const http_srv *s, const sl_job *j, char *uid, size_t n);

typedef struct http_req http_req; /* http_reply.h */

/* http_jobs.c: job reads shared with the events stream and the tus routes. */
/* sl_job_load through a kept read connection (the status routes' hot path). */
int http_job_load(http_srv *s, const char *id, sl_job *j, sl_chunk **chunks, size_t *n, char *msg,
                  size_t msglen);
/* The job a path's {id} names (a job id, or an upload id followed to its
   job): 1 and job[], 0 none. */
int http_resolve_job(http_srv *s, const char *id, char *job);

/* http_keys.c: API keys. Parse KEY:SCOPE+SCOPE,... into s->keys (0, or
   SL_CONFIG / SL_NOMEM); the scopes of a presented key (0: unknown). */
int http_keys_parse(http_srv *s, const char *spec);
/* tok is n bytes, taken whole: a NUL or trailing bytes make it another
   key. owner (17 bytes) gets the key's fingerprint, "" when unknown. */
unsigned http_key_scopes(const http_srv *s, const char *tok, size_t n, char *owner);

/* http_accept.c. A file received in full (a raw or multipart upload, a
   finished tus upload): take it (renamed into DATA_DIR/uploads/), give it
   a job id, make that durable (the file and its sidecar, synced) and hand
   it to the acceptor, which records the job in the store and queues it.
   `idem` may be "" (no key). Returns the HTTP status to answer: 202 new
   job, 200 the same upload again (idempotency key seen with the same
   body), 409 the key was used with another body, 507/503 on failure (msg
   says why). job_id is set for 200 and 202. The file is removed unless it
   was taken. mode: the job's load mode (SL_MODE_DEFAULT: the dataset
   schema's); an upload seen again keeps its first job, mode included. */
unsigned http_accept_file(http_srv *s, size_t ds, const char *path, uint64_t size, uint64_t hash,
                          const char *idem, const char *corr, sl_load_mode mode, char *job_id,
                          char *msg, size_t msglen);
/* The same for an object of the upload store (http_s3store.c) named by
   its upload id (whose job id it is): no rename; the object is deleted
   when it is not taken and `own` (the service wrote it). */
unsigned http_accept_object(http_srv *s, size_t ds, const char *uid, bool own, uint64_t size,
                            uint64_t hash, const char *idem, const char *corr, sl_load_mode mode,
                            char *job_id, char *msg, size_t msglen);
int http_acceptor_start(http_srv *s); /* also takes over the sidecars of a previous run */
void http_acceptor_stop(http_srv *s);
/* A job still pending: 1 and *j (status Accepted, or Failed with the
   reason) filled (sl_job_clear it), 0 it is not pending. */
int http_pending_job(http_srv *s, const char *id, sl_job *j);
/* The job an upload's job id turned out to be (http_pending.alias): 1 and
   job (SL_JOB_ID_LEN) when id has one, else 0. */
int http_pending_alias(http_srv *s, const char *id, char *job);
/* Wait up to `ms` for job `id` to leave the pending list: true when it is
   not pending (any more). */
bool http_pending_wait(http_srv *s, const char *id, int ms);
/* Write the pending jobs that pass the filters as JSON objects (",",
   separated, `first` says whether one was written before): the count. */
size_t http_pending_list(http_srv *s, FILE *f, int status, const char *dataset, const char *prefix,
                         size_t limit, bool first);

/* Route handlers in their own files. Each is called on the first call of
   a request, method and API key already checked, by the router
   (http_router.c: http_on_request, http_on_completed for MHD). */
enum MHD_Result http_live(struct MHD_Connection *c, http_req *r); /* http_health.c */
enum MHD_Result http_ready(struct MHD_Connection *c, http_req *r);
enum MHD_Result http_datasets(struct MHD_Connection *c, http_req *r);
enum MHD_Result http_metrics(struct MHD_Connection *c, http_req *r); /* http_metrics.c */
/* http_jobs.c */
enum MHD_Result http_job(struct MHD_Connection *c, http_req *r, const char *id);
enum MHD_Result http_chunks(struct MHD_Connection *c, http_req *r, const char *id);
enum MHD_Result http_jobs(struct MHD_Connection *c, http_req *r);
enum MHD_Result http_errors(struct MHD_Connection *c, http_req *r, const char *id);
enum MHD_Result http_retry(struct MHD_Connection *c, http_req *r, const char *id);
enum MHD_Result http_cancel(struct MHD_Connection *c, http_req *r, const char *id);
enum MHD_Result http_rollback(struct MHD_Connection *c, http_req *r, const char *id);
/* http_refeed.c: POST /v1/jobs/{id}/refeed (fix and refeed). */
enum MHD_Result http_refeed(struct MHD_Connection *c, http_req *r);
/* http_upload.c: POST /v1/datasets/{name}/uploads (signed_url: the
   request carries a signature instead of a key). */
enum MHD_Result http_upload(struct MHD_Connection *c, http_req *r, const char *name,
                            bool signed_url);
enum MHD_Result http_tus(struct MHD_Connection *c, http_req *r, const char *method,
                         const char *id /* NULL: the creation endpoint */);
enum MHD_Result http_records(struct MHD_Connection *c, http_req *r, const char *dataset,
                             const char *key /* NULL: the query route */);
enum MHD_Result http_dashboard(struct MHD_Connection *c, http_req *r);
enum MHD_Result http_upload_urls(struct MHD_Connection *c, http_req *r, const char *dataset);
enum MHD_Result http_events(struct MHD_Connection *c, http_req *r, const char *id);

/* http_s3store.c: the upload store in a bucket (--upload-store). init
   parses it, checks the bucket and undoes the uploads a crash cut short
   (before the acceptor starts); 0 or a negative code (logged). */
int http_store_init(http_srv *s);
void http_store_free(http_srv *s);
bool http_store_on(const http_srv *s);
/* upload uid's key (PREFIX/UID.csv) and URI (s3://BUCKET/PREFIX/UID.csv) */
void http_store_key(const http_srv *s, const char *uid, char *out, size_t n);
void http_store_uri(const http_srv *s, const char *uid, char *out, size_t n);
const char *http_store_bucket(const http_srv *s);
const char *http_store_prefix(const http_srv *s); /* "" or ending in '/' */
struct sl_s3_config;
const struct sl_s3_config *http_store_config(const http_srv *s);
/* The upload id of a key this service gives (PREFIX/uHEX.csv): 0, or -1
   for any other key. */
int http_store_uid_of_key(const http_srv *s, const char *key, char *uid, size_t n);
/* HEAD of key: 0 and size, etag (SL__S3_ETAG_MAX); else S3_* (msg says). */
int http_store_head(http_srv *s, const char *key, uint64_t *size, char *etag, char *msg,
                    size_t msglen);
int http_store_delete(http_srv *s, const char *key);
/* http_sweep.c: objects of jobs final for longer than --retention are
   deleted (no sweeper without retention or a store). */
int http_store_sweep_start(http_srv *s);
void http_store_sweep_stop(http_srv *s);
/* The upload's crash marker goes: its sidecar is written. */
void http_store_settled(http_srv *s, const char *uid);
/* A body into the bucket: open (no request yet), room (how many of n
   bytes write takes now; 0: none, c is suspended until there is room),
   write (on the loop: a full buffer goes to the writer's sender thread),
   finish (off the loop: the last part, the object complete), abort
   (nothing of it is left in the bucket; does not wait), close (after
   finish). */
typedef struct http_s3w http_s3w;
int http_s3w_open(http_srv *s, const char *uid, http_s3w **out, char *msg, size_t msglen);
size_t http_s3w_room(http_s3w *w, struct MHD_Connection *c, size_t n);
int http_s3w_write(http_s3w *w, const char *p, size_t n, char *msg, size_t msglen);
int http_s3w_finish(http_s3w *w, char *msg, size_t msglen);
void http_s3w_abort(http_s3w *w);
void http_s3w_close(http_s3w *w);
/* A tus upload's parts (http_s3store.c, "tus uploads"): send every whole
   part of the first `have` bytes of part_path not sent yet (recorded in
   mpu_path); with last, the rest too and complete the object (uid set).
   0, or a negative code (msg): what was sent stays recorded. */
int http_store_tus_flush(http_srv *s, const char *mpu_path, const char *part_path, uint64_t have,
                         bool last, char *uid, size_t uidlen, char *msg, size_t msglen);
/* An unfinished tus upload goes: its multipart upload aborted, its object
   deleted, mpu_path removed (kept when the bucket failed: tried again). */
void http_store_tus_abort(http_srv *s, const char *mpu_path);

/* http_sign.c: load or make the URL signing secret (at start). */
int http_sign_init(http_srv *s, const char *data_dir);
/* http_sign.c: is this upload's signed URL good (dataset, expiry, HMAC,
   not used before)? 0 yes (r->nonce set); else the 403 is sent in *sent. */
int http_sign_check(struct MHD_Connection *c, http_req *r, const char *dataset,
                    enum MHD_Result *sent);

/* http_router.c: libmicrohttpd's access handler and completion callback. */
enum MHD_Result http_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *data,
                                size_t *size, void **con_cls);
void *http_on_uri(void *cls, const char *uri, struct MHD_Connection *c);
void http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                       enum MHD_RequestTerminationCode toe);

/* http_pool.c: blocking work off the event loop (see there). */
int http_pool_start(http_srv *s, unsigned n);
/* Suspend c and run fn(c, r) on a pool thread; false (nothing done) when
   the pool is stopping: run it inline or refuse. */
bool http_pool_defer(http_srv *s, struct MHD_Connection *c, http_req *r,
                     enum MHD_Result (*fn)(struct MHD_Connection *, http_req *));
/* Run r->on_done(r, r->done_ok) and free r on a pool thread. */
void http_pool_done(http_srv *s, http_req *r);
/* An event stream with nothing to send: suspend c until the next tick.
   false when stopping (end the stream instead). */
bool http_pool_park(http_srv *s, struct MHD_Connection *c);
/* Suspend c, counted as a deferred handler (a stop waits for it), for
   whoever calls http_pool_unhold; false when stopping (nothing done). */
bool http_pool_hold(http_srv *s, struct MHD_Connection *c);
void http_pool_unhold(http_srv *s, struct MHD_Connection *c);
void http_pool_quiesce(http_srv *s); /* resume everything suspended; wait for deferred handlers */
void http_pool_stop(http_srv *s);

/* http_limits.c: per-client limits and the body rate floor. */
int http_limits_init(http_srv *s);
void http_limits_free(http_srv *s);
/* The client's address into r->client (X-Forwarded-For from the trusted proxy). */
void http_client_address(struct MHD_Connection *c, http_req *r);
/* Take one of the client's upload slots (false: it has --max-uploads-per-client)
   / give it back; and the same for requests in flight behind a trusted proxy. */
bool http_client_upload_take(http_srv *s, http_req *r);
bool http_client_request_take(http_srv *s, http_req *r);
void http_client_release(http_srv *s, http_req *r);
/* One of the connections of address addr (no proxy): false when it has
   --max-conn-per-client open already (or the table is full). */
bool http_client_conn_take(http_srv *s, const char *addr);
void http_client_conn_release(http_srv *s, const char *addr);

/* http_gate.c: the listening socket and the first request head of each
   connection, before libmicrohttpd (MHD_add_connection). */
struct sockaddr_in;
/* Bind and listen on sa; the port bound into *port. */
int http_gate_listen(http_srv *s, const struct sockaddr_in *sa, unsigned *port);
/* Start accepting for daemon d (started with MHD_USE_NO_LISTEN_SOCKET). */
int http_gate_start(http_srv *s, struct MHD_Daemon *d);
/* No new connections; the ones not handed over yet are closed. */
void http_gate_stop(http_srv *s);
/* MHD_OPTION_NOTIFY_CONNECTION: a handed-over connection's end gives its
   counts back. */
void http_gate_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe);
/* A body piece of n bytes came: false when the body is slower than
   --min-rate over the last --rate-window (drop the connection). */
bool http_body_rate_ok(http_srv *s, http_req *r, size_t n);

/* http_metrics.c: counters and histograms for /metrics. */
void http_metrics_count(http_srv *s, int route, const char *method, unsigned status);
void http_metrics_observe(http_srv *s, int route, double seconds);
void http_metrics_chunk(http_srv *s, const sl_chunk *c);
void http_metrics_histograms(http_srv *s, FILE *f);

#endif
