/*
 * The HTTP service: `sluice serve` (docs/serve.md).
 *
 * One process runs the API (libmicrohttpd) and a background ingest worker
 * on the embedded SQLite store. Datasets are the schema files of a
 * directory, keyed by their `name`. Uploads stream into DATA_DIR/uploads/
 * and are loaded by sl_ingest() in arrival order; the job store answers the
 * status, chunk and error routes. sl_serve() runs until SIGTERM or SIGINT.
 */
#ifndef SLUICE_SERVE_H
#define SLUICE_SERVE_H

#include <stdint.h>

#include "sluice/ingest.h"

/* The version of the build (`sluice --version`, sluice_build_info in /metrics),
   defined only here: CMakeLists.txt reads the project version from this line. */
#define SLUICE_VERSION "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_serve_opts {
	const char *db;          /* SQLite file (default ./sluice.db) */
	const char *schemas_dir; /* every *.yaml / *.yml in it is a dataset */
	const char *data_dir;    /* uploads/ and tmp/ are created in it */
	const char *listen;      /* "HOST:PORT", IPv4 (default 127.0.0.1:8080) */
	uint64_t min_free;       /* /healthz/ready wants this much free space (0: 1 GiB) */
	uint64_t max_upload;     /* bytes per upload, 413 beyond (0: 64 GiB) */
	unsigned max_uploads;    /* uploads streaming at once, 429 beyond (0: 8) */
	unsigned max_connections; /* 0: 256 */
	unsigned timeout_s;      /* idle connection timeout (0: 60 s) */
	int threads;             /* ingest threads per job (0: all cores) */
	uint64_t chunk_size;     /* ingest chunk size (0: the engine's default) */
	unsigned grace_s;        /* on SIGTERM, wait this long for the running job (0: 30 s) */
	const char *api_keys;    /* "KEY:SCOPE+SCOPE,..."; NULL: the SLUICE_API_KEYS variable */
	unsigned jobs;           /* jobs run at once (0: 2) */
	unsigned slice_s;        /* a job yields after this long when others wait (0: 10 s) */
	/* the service's leader candidate (one per process; its runs have none
	   of their own): attempts, backoff, retention (0: none) */
	sl_leader_opts leader;
	const char *secret;      /* signs upload URLs; NULL: SLUICE_SECRET, else DATA_DIR/secret */
	unsigned url_ttl_s;      /* signed upload URLs are good this long by default (0: 3600) */
	/* Limits against slow, idle and greedy clients (docs/serve.md, "Limits"). */
	unsigned http_threads;   /* event-loop threads holding the connections (0: 2) */
	unsigned pool_threads;   /* threads for blocking work off the loop (0: 4) */
	uint64_t min_rate;       /* a body slower than this many bytes/s ... (0: 64 KiB/s) */
	unsigned rate_window_s;  /* ... averaged over this window is dropped (0: 10 s) */
	unsigned max_conn_per_client;    /* connections (requests behind a trusted proxy) per client address (0: 1000) */
	unsigned max_uploads_per_client; /* upload bodies at once per client address (0: 1000) */
	const char *trusted_proxy; /* IPv4 address of a reverse proxy whose X-Forwarded-For names the client */
	const char *cors_origin; /* origins a browser may call from ("https://a,https://b" or "*"); NULL: none */
	const char *public_url; /* "https://host[:port]": the base of signed upload URLs (NULL: a path) */
	unsigned max_tus_pending;         /* unfinished tus uploads in all (0: 1000) ... */
	unsigned max_tus_pending_per_key; /* ... and per API key (0: 100) */
	uint64_t max_tus_pending_bytes;   /* bytes they declare in all (0: 1 TiB) ... */
	uint64_t max_tus_pending_bytes_per_key; /* ... and per API key (0: 256 GiB) */
	/* drop folders: lines "DATASET=DIR" or "DATASET=DIR;settle=S" (seconds
	   or off), a watcher each (docs/serve.md, "Drop folders") */
	const char *watch;
	/* "s3://bucket/prefix": uploads are kept in the bucket, not in
	   DATA_DIR/uploads (docs/serve.md, "Uploads into object storage");
	   NULL: the data dir. Credentials from the environment (AWS_*). */
	const char *upload_store;
	const char *s3_endpoint;   /* NULL: AWS_ENDPOINT_URL, else AWS */
	uint64_t upload_part_size; /* multipart part size, the memory per upload (0: 8 MiB) */
} sl_serve_opts;

/* Run the service until SIGTERM or SIGINT (blocked in the calling thread
   and the threads it starts). Returns 0 after a clean stop, or a negative
   code when it could not start (the reason is logged on stderr). When the
   running ingest outlives the grace period the process exits with _exit(0):
   the job's committed chunks are kept and it resumes on the next start. */
int sl_serve(const sl_serve_opts *o);

/* Read a YAML config file: a mapping of setting names (the options of
   `sluice serve` without the dashes) to scalars; `api-keys` may also be a
   mapping of key to a list of scopes. `cb` gets each setting; the strings
   live in *store (free it when the options are no longer needed). Returns
   0, or a negative code with msg saying what and where. */
int sl_serve_config_read(const char *path, int (*cb)(void *ctx, const char *name, const char *value),
			 void *ctx, char **store, char *msg, size_t msglen);

#ifdef __cplusplus
}
#endif
#endif
