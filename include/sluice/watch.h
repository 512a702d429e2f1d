/*
 * Drop folders: watch a directory and load each file that lands in it, once
 * it is complete, as one job (docs/sources.md, "Drop folders").
 *
 * A file is complete when a marker says so (NAME.done or NAME.ok next to
 * it), when it was renamed or moved into the folder (the writer wrote it
 * elsewhere), or, as a heuristic for writers that do neither, when its size
 * and modification time stayed the same for the settle time. A taken file
 * moves to DIR/processing/, its job runs there (sl_ingest on the public API
 * only), and it ends in DIR/done/ or DIR/failed/ with NAME.json beside it:
 * the job's JSON as `sluice ingest --json` prints it. Files left in
 * processing/ by a crash are resumed at start (the job from its
 * checkpoint). The same content dropped twice is one load: the second drop's
 * own job is finished pointing at the first (same_as, "duplicate_of").
 *
 * dir may be s3://bucket/prefix/ instead: the prefix is listed every
 * interval and each object not taken yet is loaded from the bucket (an
 * object is complete once it exists; with s3_marker only once KEY.done or
 * KEY.ok does); what was taken is kept in a state file beside the database
 * (DB.s3watch-HASH), since objects are not moved.
 *
 * The loop sits above the engine, beside the HTTP service, which runs one
 * per `watch:` entry of its config.
 */
#ifndef SLUICE_WATCH_H
#define SLUICE_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/ingest.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sl_watch_what {
	SL_WATCH_TAKEN,    /* moved to processing/ (how: "marker", "moved", "settled") */
	SL_WATCH_RESUMED,  /* found in processing/ at start: its job continues */
	SL_WATCH_FINISHED, /* in done/ or failed/ with its JSON (job, json, path set) */
	SL_WATCH_DEFERRED, /* could not run now (another process, a busy database): tried again
	                      later */
	SL_WATCH_RESCAN,   /* the folder was listed again (how: "start" or "overflow") */
} sl_watch_what;

typedef struct sl_watch_event {
	sl_watch_what what;
	const char *name;    /* the file's name as dropped (NULL for a rescan) */
	const char *how;     /* see sl_watch_what */
	const sl_job *job;   /* FINISHED: the drop's own job */
	const char *dup_of;  /* FINISHED: "" or the job that had loaded the same content */
	const char *path;    /* FINISHED: where the file is now ("done/NAME", "failed/NAME") */
	const char *json;    /* FINISHED: the JSON written beside it, one line */
	int code;            /* DEFERRED: why */
	const char *message; /* DEFERRED: why, in words */
} sl_watch_event;

typedef struct sl_watch_opts {
	const char *dir;         /* the drop folder */
	const char *schema_path; /* every file is loaded with this schema */
	const char *db;          /* SQLite file (default ./sluice.db) */
	/* the settle heuristic: a file neither marked nor moved in is taken once
	   its size and mtime were unchanged this long (0: 10 s; <0: never,
	   only markers and moves count) */
	int64_t settle_ms;
	bool once; /* list the folder, load what is complete, return */
	/* dir "s3://bucket/prefix/": a prefix of a bucket, polled (watch_s3.c,
	   docs/sources.md "Drop folders in object storage") */
	const char *s3_endpoint; /* as sl_ingest_opts.s3_endpoint */
	int64_t interval_ms;     /* between two listings (0: 10 s) */
	bool s3_marker;          /* take KEY only once KEY.done or KEY.ok exists */
	int threads;             /* per job, as sl_ingest_opts */
	uint64_t chunk_size;     /* per job */
	void (*event)(void *ctx, const sl_watch_event *e);
	void *event_ctx;
	/* polled several times a second, and by a running job after each chunk:
	   nonzero ends the watch (the job stays in processing/, resumed next time) */
	int (*stop)(void *ctx);
	void *stop_ctx;
} sl_watch_opts;

typedef struct sl_watch_stats {
	uint64_t finished, failed, partial, duplicates, deferred, overflows;
} sl_watch_stats;

/* Watch o->dir until o->stop says so (or, with o->once, until what was
   there is done). 0, or a negative code with msg saying why (no such
   folder, another watcher holds it: SL_CONFLICT, the folder removed). */
int sl_watch(const sl_watch_opts *o, sl_watch_stats *stats, char *msg, size_t msglen);

#ifdef __cplusplus
}
#endif
#endif
