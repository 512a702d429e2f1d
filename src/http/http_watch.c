/*
 * Drop folders in the service: one sl_watch() thread per `watch:` entry of
 * the config (docs/serve.md, "Drop folders"; the rules: docs/sources.md).
 * Each loads its folder's files with its dataset's schema into the
 * service's store, so their jobs show in the API and the dashboard as
 * uploads do. A watcher runs its jobs itself, one at a time, beside the
 * runners (--jobs counts the runners only).
 *
 * The entries come as lines "DATASET=DIR" or "DATASET=DIR;settle=S" (S in
 * seconds, or off), from the config's mapping or from --watch. DIR may be
 * a bucket's prefix, s3://BUCKET/PREFIX/, polled by the S3 watcher of
 * src/watch/ (watch_s3.c) every interval=S (";marker": take KEY once
 * KEY.done or KEY.ok exists), with the service's --s3-endpoint. The thread
 * stops when the service stops (its job pauses after the chunk it commits
 * and is resumed next start, by the watcher or by a runner: the job's lock
 * lets one run it). State shared with the server thread: `stop` (atomic);
 * each watcher's entry is written before its thread starts.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "http/http_int.h"
#include "sluice/watch.h"

#define HTTP_MAX_WATCH 64

typedef struct watch_entry {
	http_srv *s;
	char *dataset, *dir;
	const char *schema_path;
	int64_t settle_ms;
	int64_t interval_ms; /* s3:// only: between two listings (0: the default) */
	bool marker;         /* s3:// only: KEY.done or KEY.ok says KEY is complete */
	pthread_t tid;
	bool up;
} watch_entry;

struct http_watchers {
	watch_entry e[HTTP_MAX_WATCH];
	size_t n;
	atomic_bool stop;
};

static int should_stop(void *ctx)
{
	watch_entry *w = ctx;
	return atomic_load(&w->s->watchers->stop) || atomic_load(&w->s->stopping);
}

static void on_event(void *ctx, const sl_watch_event *e)
{
	watch_entry *w = ctx;
	http_srv *s = w->s;
	switch (e->what) {
	case SL_WATCH_TAKEN:
	case SL_WATCH_RESUMED:
		http_log(s, "info", "watch %s: %s %s (%s)", w->dataset,
		         e->what == SL_WATCH_TAKEN ? "taken" : "resuming", e->name, e->how);
		break;
	case SL_WATCH_RESCAN:
		http_log(s, "info", "watch %s: listed %s (%s)", w->dataset, w->dir, e->how);
		break;
	case SL_WATCH_DEFERRED:
		http_log(s, "warn", "watch %s: %s cannot run now: %s (%s); tried again later",
		         w->dataset, e->name, e->message ? e->message : "", sl_error_name(e->code));
		break;
	case SL_WATCH_FINISHED:
		http_log(s, "info", "watch %s: %s: job %s %s%s%s -> %s", w->dataset, e->name,
		         e->job->id, sl_job_status_name(e->job->status),
		         e->dup_of[0] ? ", a duplicate of job " : "", e->dup_of, e->path);
		break;
	}
}

static void *run(void *arg)
{
	watch_entry *w = arg;
	http_srv *s = w->s;
	char msg[1024] = "";
	sl_watch_opts o = {.dir = w->dir,
	                   .schema_path = w->schema_path,
	                   .db = s->o.db,
	                   .settle_ms = w->settle_ms,
	                   .s3_endpoint = s->o.s3_endpoint,
	                   .interval_ms = w->interval_ms,
	                   .s3_marker = w->marker,
	                   .threads = s->o.threads,
	                   .chunk_size = s->o.chunk_size,
	                   .event = on_event,
	                   .event_ctx = w,
	                   .stop = should_stop,
	                   .stop_ctx = w};
	int rc = sl_watch(&o, NULL, msg, sizeof msg);
	if (rc < 0)
		http_log(s, "error", "watch %s: stopped: %s (%s)", w->dataset, msg,
		         sl_error_name(rc));
	return NULL;
}

/* seconds (0 < S <= 86400) into ms, or -1 */
static int64_t seconds(const char *v)
{
	char *end;
	double sec = strtod(v, &end);
	if (*end || end == v || !(sec > 0 && sec <= 86400))
		return -1;
	return (int64_t)(sec * 1000) > 0 ? (int64_t)(sec * 1000) : 1;
}

/* One line "DATASET=DIR[;settle=S]" or "DATASET=s3://B/P/[;interval=S][;marker]"
   into e; 0 or SL_CONFIG (logged). */
static int parse_entry(http_srv *s, const char *line, size_t n, watch_entry *e)
{
	char buf[4200];
	if (n >= sizeof buf)
		goto bad;
	memcpy(buf, line, n);
	buf[n] = 0;
	char *eq = strchr(buf, '='), *opt = eq ? strchr(eq, ';') : NULL;
	if (!eq || eq == buf || !eq[1] || eq[1] == ';')
		goto bad;
	*eq = 0;
	const char *dir = eq + 1;
	bool s3 = !strncmp(dir, "s3://", 5);
	e->settle_ms = 0;
	if (opt)
		*opt++ = 0;
	while (opt && *opt) {
		char *next = strchr(opt, ';');
		if (next)
			*next++ = 0;
		if (!s3 && !strcmp(opt, "settle=off"))
			e->settle_ms = -1;
		else if (!s3 && !strncmp(opt, "settle=", 7) &&
		         (e->settle_ms = seconds(opt + 7)) > 0)
			;
		else if (s3 && !strncmp(opt, "interval=", 9) &&
		         (e->interval_ms = seconds(opt + 9)) > 0)
			;
		else if (s3 && !strcmp(opt, "marker"))
			e->marker = true;
		else
			goto bad;
		opt = next;
	}
	for (size_t i = 0; i < s->nds; i++)
		if (!strcmp(s->ds[i].schema->name, buf))
			e->schema_path = s->ds[i].schema->path;
	if (!e->schema_path) {
		http_log(s, "error", "watch: no dataset %s (the datasets are the schemas in %s)",
		         buf, s->o.schemas_dir);
		return SL_CONFIG;
	}
	/* a bucket's prefix is listed by its watcher, which says what is wrong */
	struct stat st;
	int se = s3 ? 0 : stat(dir, &st) < 0 ? errno : 0;
	if (!s3 && (se || !S_ISDIR(st.st_mode))) {
		http_log(s, "error", "watch %s: %s: %s", buf, dir,
		         se ? strerror(se) : "not a directory");
		return SL_CONFIG;
	}
	if (!(e->dataset = strdup(buf)) || !(e->dir = strdup(dir)))
		return SL_NOMEM;
	return 0;
bad:
	http_log(s, "error",
	         "watch: '%.*s' is not DATASET=DIR[;settle=SECONDS|off] or "
	         "DATASET=s3://BUCKET/PREFIX/[;interval=SECONDS][;marker]",
	         (int)(n > 200 ? 200 : n), line);
	return SL_CONFIG;
}

int http_watch_start(http_srv *s)
{
	if (!s->o.watch || !s->o.watch[0])
		return 0;
	if (!(s->watchers = calloc(1, sizeof *s->watchers)))
		return SL_NOMEM;
	struct http_watchers *ws = s->watchers;
	for (const char *p = s->o.watch; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n) {
			if (ws->n >= HTTP_MAX_WATCH) {
				http_log(s, "error", "watch: at most %d folders", HTTP_MAX_WATCH);
				return SL_CONFIG;
			}
			watch_entry *e = &ws->e[ws->n++];
			e->s = s;
			int rc = parse_entry(s, p, n, e);
			if (rc < 0)
				return rc;
		}
		p += n + (nl ? 1 : 0);
	}
	for (size_t i = 0; i < ws->n; i++) {
		if (pthread_create(&ws->e[i].tid, NULL, run, &ws->e[i]) != 0) {
			http_log(s, "error", "watch %s: cannot start a thread", ws->e[i].dataset);
			return SL_NOMEM;
		}
		ws->e[i].up = true;
		http_log(s, "info", "watch %s: %s", ws->e[i].dataset, ws->e[i].dir);
	}
	return 0;
}

void http_watch_stop(http_srv *s)
{
	struct http_watchers *ws = s->watchers;
	if (!ws)
		return;
	atomic_store(&ws->stop, true);
	for (size_t i = 0; i < ws->n; i++) {
		if (ws->e[i].up)
			pthread_join(ws->e[i].tid, NULL);
		free(ws->e[i].dataset);
		free(ws->e[i].dir);
	}
	free(ws);
	s->watchers = NULL;
}
