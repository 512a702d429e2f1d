/*
 * Private to src/watch/: the watcher's state, shared by the loop (watch.c:
 * inotify, rescans, the settle heuristic) and a file's life (watch_file.c:
 * processing/, its job, done/ or failed/).
 */
#ifndef SLUICE_WATCH_INT_H
#define SLUICE_WATCH_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "sluice/watch.h"

/* Names longer than this are not taken: NAME.json, the job-id prefix of a
   renamed target and the intent file must all fit in NAME_MAX. */
#define WATCH_NAME_MAX 200

typedef struct watcher {
	const sl_watch_opts *o;
	sl_watch_stats *stats;
	int dirfd, procfd, donefd, failfd, lockfd;
	char dir[PATH_MAX]; /* the folder, absolute */
	char *msg;
	size_t msglen;
	char why[512]; /* the file's job could not run: why ("" when it could) */
} watcher;

/* The outcome of running one file in processing/. */
enum { RUN_FINISHED = 0, RUN_DEFERRED = 1, RUN_STOPPED = 2 };

/* Take DIR/name (complete, by `how`) into processing/ and run it:
   RUN_* or a negative code (the watch cannot go on). A name that cannot
   be taken now (gone, or a file of that name still in processing/) is
   RUN_DEFERRED. */
int sl__watch_take(watcher *w, const char *name, const char *how);
/* Run processing/name (taken now or found there at start) to its end:
   its job created once (the intent file holds its id), run or resumed,
   then the outcome JSON and the move to done/ or failed/. RUN_* or < 0. */
int sl__watch_run(watcher *w, const char *name, const char *how);
/* processing/iname (an intent, or its temporary file) whose file is gone:
   removed. */
void sl__watch_orphan(watcher *w, const char *iname);
/* Is `name` a file the watcher may take (not hidden, not a marker, not a
   temporary file of a writer)? */
bool sl__watch_candidate_name(const char *name);
/* Does DIR hold a marker (name.done or name.ok) for name? */
bool sl__watch_marked(watcher *w, const char *name);
/* A finished drop's JSON, one line ending in '\n' (malloc'd, or NULL): the
   job's fields as `sluice ingest --json` prints them, "duplicate_of"
   (dup_of: "" or the earlier job) and a "drop" object: the name as
   dropped, how it was taken, where it is now, why it could not run. */
char *sl__watch_outcome_json(const sl_job *j, const char *dup_of, const char *name, const char *how,
                             const char *path, const char *why, size_t *len);
/* `sluice watch s3://bucket/prefix/` (watch_s3.c): sl_watch's loop for a
   prefix of a bucket instead of a folder. */
int sl__watch_s3(const sl_watch_opts *o, sl_watch_stats *stats, char *msg, size_t msglen);
void sl__watch_emit(watcher *w, const sl_watch_event *e);
/* Test only: SLUICE_TEST_WATCH_KILL=POINT kills the process there. */
void sl__watch_kill_point(const char *point);

#endif
