/*
 * Drop folders in object storage: `sluice watch s3://bucket/prefix/`.
 *
 * Every interval the prefix is listed (ListObjectsV2 through src/s3/, page
 * after page by continuation token) and each object not taken yet is loaded
 * as `sluice ingest s3://bucket/key` would (sl_ingest on the public API,
 * with the endpoint option), one at a time, in the listing's order.
 *
 * When an object is complete: when it is listed. An S3 PUT (or a multipart
 * upload's completion) is atomic, so a listed object has all its bytes.
 * With s3_marker (--marker) a writer's word is wanted besides: KEY is taken
 * only once KEY.done or KEY.ok exists (a HEAD of each after the listing).
 * Keys ending in '/' (folder placeholders) and the markers are not data.
 *
 * What was taken is kept in a state file beside the database,
 * DB.s3watch-H (H: a hash of the watched URI), since objects cannot be
 * moved cheaply as files are: one line per object taken, "status TAB job
 * TAB etag TAB key", appended and fsync'ed once the object's job is final
 * (or it could not run at all). An object is taken again only as a new
 * version (another ETag). The file is held with flock: one watcher per
 * prefix and database.
 *
 * Why a kill -9 anywhere loads every row once: the state file is only the
 * watcher's memory of what it need not look at again; the exactness is
 * the engine's. Killed mid-load, the object is not in the state file, so
 * the restart runs sl_ingest on its URI again, and the engine resumes the
 * unfinished job of that URI from its last committed chunk. Killed after
 * the job finished and before its line was written, the restart's
 * sl_ingest finds the content loaded already (the reload rule: same size,
 * then the same content hash, which costs one download) and loads nothing;
 * that job is recognised as the object's own (same URI) and recorded. The
 * same bytes under another key are the reload rule's duplicate: reported
 * as "duplicate_of" the earlier job. An object replaced while its job was
 * unfinished is refused by the engine (IO_CHANGED); the old version's job
 * is then cancelled and the new version loaded as a new job.
 *
 * Tables have ceilings (WATCH_S3_MAX_STATE objects remembered,
 * WATCH_S3_MAX_PENDING new objects per listing; the rest are left for the
 * next listing, which finds them once the first are recorded).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/base.h"
#include "s3/s3.h"
#include "watch/watch_int.h"

#define WATCH_S3_MAX_STATE   (1u << 22)
#define WATCH_S3_MAX_PENDING 100000u
#define WATCH_S3_LINE_MAX    4096
#define DEFAULT_INTERVAL_MS  10000

typedef struct entry {
	uint64_t h; /* XXH3 of key seeded by that of etag; 0: an empty slot */
	char *text; /* "etag\tkey" */
} entry;

typedef struct pending {
	char *key;
	char etag[SL__S3_ETAG_MAX];
} pending;

typedef struct s3w {
	const sl_watch_opts *o;
	sl_watch_stats *stats;
	char *msg;
	size_t msglen;
	char *bucket, *prefix;
	sl_s3_config cfg;
	sl_s3 *s3;
	int statefd;
	char state_path[4096];
	entry *tab; /* open addressing, cap a power of two, at most half full */
	size_t ntab, captab;
	pending *p;
	size_t np, capp;
	bool full;       /* the listing stopped at WATCH_S3_MAX_PENDING */
	size_t recorded; /* objects recorded by this listing */
} s3w;

static uint64_t entry_hash(const char *etag, const char *key)
{
	uint64_t h = XXH3_64bits_withSeed(key, strlen(key), XXH3_64bits(etag, strlen(etag)));
	return h ? h : 1;
}

static bool entry_eq(const entry *e, const char *etag, const char *key)
{
	size_t n = strlen(etag);
	return !strncmp(e->text, etag, n) && e->text[n] == '\t' && !strcmp(e->text + n + 1, key);
}

static bool known(const s3w *w, const char *etag, const char *key)
{
	if (!w->captab)
		return false;
	uint64_t h = entry_hash(etag, key);
	for (size_t i = h & (w->captab - 1);; i = (i + 1) & (w->captab - 1)) {
		if (!w->tab[i].h)
			return false;
		if (w->tab[i].h == h && entry_eq(&w->tab[i], etag, key))
			return true;
	}
}

/* Remember (etag, key): 0, SL_NOMEM or SL_LIMIT (the ceiling). */
static int remember(s3w *w, const char *etag, const char *key)
{
	if (known(w, etag, key))
		return 0;
	if (w->ntab >= WATCH_S3_MAX_STATE) {
		snprintf(w->msg, w->msglen,
		         "%s remembers %u objects, its ceiling: move the loaded objects out of the "
		         "prefix and remove the file, or watch a narrower prefix",
		         w->state_path, WATCH_S3_MAX_STATE);
		return SL_LIMIT;
	}
	if ((w->ntab + 1) * 2 > w->captab) {
		size_t cap = w->captab ? w->captab * 2 : 1024;
		entry *nt = calloc(cap, sizeof *nt);
		if (!nt)
			return SL_NOMEM;
		for (size_t i = 0; i < w->captab; i++) {
			if (!w->tab[i].h)
				continue;
			size_t j = w->tab[i].h & (cap - 1);
			while (nt[j].h)
				j = (j + 1) & (cap - 1);
			nt[j] = w->tab[i];
		}
		free(w->tab);
		w->tab = nt;
		w->captab = cap;
	}
	size_t n = strlen(etag) + strlen(key) + 2;
	char *t = malloc(n);
	if (!t)
		return SL_NOMEM;
	snprintf(t, n, "%s\t%s", etag, key);
	uint64_t h = entry_hash(etag, key);
	size_t i = h & (w->captab - 1);
	while (w->tab[i].h)
		i = (i + 1) & (w->captab - 1);
	w->tab[i] = (entry){h, t};
	w->ntab++;
	return 0;
}

/* --- the state file ------------------------------------------------------- */

static int state_open(s3w *w)
{
	const char *db = w->o->db ? w->o->db : "sluice.db";
	uint64_t h = XXH64(w->o->dir, strlen(w->o->dir), 0);
	snprintf(w->state_path, sizeof w->state_path, "%s.s3watch-%016llx", db,
	         (unsigned long long)h);
	w->statefd = open(w->state_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (w->statefd < 0) {
		snprintf(w->msg, w->msglen, "%s: %s", w->state_path, strerror(errno));
		return SL_IO_OPEN;
	}
	if (flock(w->statefd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(w->msg, w->msglen, "another watcher of %s runs on this database (lock %s)",
		         w->o->dir, w->state_path);
		return SL_CONFLICT;
	}
	FILE *f = fdopen(dup(w->statefd), "r");
	if (!f) {
		snprintf(w->msg, w->msglen, "%s: %s", w->state_path, strerror(errno));
		return SL_IO_OPEN;
	}
	char line[WATCH_S3_LINE_MAX];
	int rc = 0;
	while (rc == 0 && fgets(line, sizeof line, f)) {
		size_t n = strlen(line);
		if (!n || line[n - 1] != '\n')
			continue; /* a line a crash cut short: never written, so not taken */
		line[n - 1] = 0;
		char *status = line, *job = strchr(status, '\t');
		char *etag = job ? strchr(job + 1, '\t') : NULL;
		char *key = etag ? strchr(etag + 1, '\t') : NULL;
		if (!key)
			continue;
		*key++ = 0;
		rc = remember(w, etag + 1, key);
	}
	fclose(f);
	/* a line a power cut left without its end: end it, or the next line
	   appended would be read as its tail */
	char last = '\n';
	off_t end = lseek(w->statefd, 0, SEEK_END);
	if (rc == 0 && end > 0 && pread(w->statefd, &last, 1, end - 1) == 1 && last != '\n' &&
	    sl_write_all(w->statefd, "\n", 1, NULL) < 0) {
		snprintf(w->msg, w->msglen, "%s: %s", w->state_path, strerror(errno));
		rc = SL_IO_WRITE;
	}
	return rc;
}

static int state_add(s3w *w, const char *status, const char *job, const char *etag, const char *key)
{
	char line[WATCH_S3_LINE_MAX];
	int n = snprintf(line, sizeof line, "%s\t%s\t%s\t%s\n", status, job, etag, key);
	int rc = remember(w, etag, key);
	if (rc < 0)
		return rc;
	w->recorded++;
	/* one write of a whole line (O_APPEND), then fsync: a crash leaves the
	   line whole or cut short, and a short one is not read back */
	if (n < 0 || (size_t)n >= sizeof line ||
	    sl_write_all(w->statefd, line, (size_t)n, NULL) < 0 || fsync(w->statefd) < 0) {
		snprintf(w->msg, w->msglen, "%s: %s", w->state_path, strerror(errno));
		return SL_IO_WRITE;
	}
	return 0;
}

/* --- the listing ---------------------------------------------------------- */

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n >= t && !strcmp(s + n - t, tail);
}

static int on_object(void *ctx, const char *key, uint64_t size, const char *etag)
{
	s3w *w = ctx;
	(void)size;
	if (!key[0] || ends_with(key, "/") || ends_with(key, ".done") || ends_with(key, ".ok") ||
	    strpbrk(key, "\t\n") || strlen(key) + strlen(etag) + 64 > WATCH_S3_LINE_MAX ||
	    known(w, etag, key))
		return 0;
	if (w->np >= WATCH_S3_MAX_PENDING) {
		w->full = true;
		return 1; /* the rest waits for the next listing */
	}
	if (w->np == w->capp) {
		size_t cap = w->capp ? w->capp * 2 : 64;
		pending *np = realloc(w->p, cap * sizeof *np);
		if (!np)
			return SL_NOMEM;
		w->p = np;
		w->capp = cap;
	}
	pending *p = &w->p[w->np];
	if (!(p->key = strdup(key)))
		return SL_NOMEM;
	snprintf(p->etag, sizeof p->etag, "%s", etag);
	w->np++;
	return 0;
}

static void pending_clear(s3w *w)
{
	for (size_t i = 0; i < w->np; i++)
		free(w->p[i].key);
	w->np = 0;
	w->full = false;
}

/* Does KEY.done or KEY.ok exist? 1 yes, 0 no, <0 the storage failed. */
static int marked(s3w *w, const char *key, char *err, size_t errlen)
{
	static const char *const tails[] = {".done", ".ok"};
	for (int i = 0; i < 2; i++) {
		char *m = NULL;
		size_t n = strlen(key) + 8;
		if (!(m = malloc(n)))
			return SL_NOMEM;
		snprintf(m, n, "%s%s", key, tails[i]);
		sl_s3_stat st;
		int rc = sl__s3_head(w->s3, w->bucket, m, &st, err, errlen);
		free(m);
		if (rc == 0)
			return 1;
		if (rc != SL_S3_NOT_FOUND)
			return rc;
	}
	return 0;
}

/* --- one object ----------------------------------------------------------- */

static int stop_cb(void *ctx)
{
	const sl_watch_opts *o = ctx;
	return o->stop ? o->stop(o->stop_ctx) : 0;
}

static bool transient(int code)
{
	return code == SL_CONFLICT || code == SL_NOMEM || sl_error_class(code) == SL_CLASS_RETRY;
}

static void emit(s3w *w, const sl_watch_event *e)
{
	if (w->o->event)
		w->o->event(w->o->event_ctx, e);
}

static void deferred(s3w *w, const char *key, int code, const char *message)
{
	sl_watch_event e = {
	    .what = SL_WATCH_DEFERRED, .name = key, .code = code, .message = message};
	w->stats->deferred++;
	emit(w, &e);
}

/* Load one object: RUN_FINISHED (recorded, or left for the next listing),
   RUN_STOPPED, or < 0 (the watch cannot go on). */
static int take(s3w *w, const pending *p, const char *how)
{
	const sl_watch_opts *o = w->o;
	size_t ulen = strlen(w->bucket) + strlen(p->key) + 8;
	char *uri = malloc(ulen), why[512] = "";
	char *json = NULL;
	size_t jlen = 0;
	sl_ingest_result res = {0};
	int rc;
	if (!uri)
		return SL_NOMEM;
	snprintf(uri, ulen, "s3://%s/%s", w->bucket, p->key);
	sl_watch_event te = {.what = SL_WATCH_TAKEN, .name = p->key, .how = how};
	emit(w, &te);
	sl_ingest_opts io = {.file = uri,
	                     .schema_path = o->schema_path,
	                     .db = o->db,
	                     .threads = o->threads,
	                     .chunk_size = o->chunk_size,
	                     .s3_endpoint = o->s3_endpoint,
	                     .pause = stop_cb,
	                     .pause_ctx = (void *)o};
	for (int attempt = 0;; attempt++) {
		rc = sl_ingest(&io, &res);
		if (rc != SL_IO_CHANGED || attempt || !res.job.id[0] ||
		    sl_job_status_final(res.job.status) ||
		    strcmp(res.job.file ? res.job.file : "", uri))
			break;
		/* an unfinished job of an older version of the object: the engine
		   will not mix two versions; that job is cancelled (its committed
		   chunks stay, as a cancel keeps them) and this version is loaded */
		sl_job_status st;
		char cm[256];
		sl_job_cancel(o->db, res.job.id, &st, cm, sizeof cm);
		sl_job_clear(&res.job);
		memset(&res, 0, sizeof res);
	}
	if (res.paused) {
		rc = RUN_STOPPED;
		goto out;
	}
	sl__watch_kill_point("s3-loaded");
	if (rc < 0 && (transient(rc) || rc == SL_S3_NOT_FOUND || rc == SL_S3_AUTH)) {
		/* retried at the next listing (credentials can be mended; a
		   deleted object is not listed again) */
		if (rc != SL_S3_NOT_FOUND)
			deferred(w, p->key, rc, res.message);
		rc = RUN_FINISHED;
		goto out;
	}
	if (rc == SL_CONFIG) {
		snprintf(w->msg, w->msglen, "%s", res.message);
		goto out; /* the schema: every object would fail the same way */
	}
	const char *dup = "";
	if (rc < 0) {
		snprintf(why, sizeof why, "%.400s (%s)", res.message, sl_error_name(rc));
		if (!res.job.id[0] || !sl_job_status_final(res.job.status)) {
			if (res.job.id[0]) {
				sl_job_status st;
				char cm[256];
				sl_job_cancel(o->db, res.job.id, &st, cm, sizeof cm);
			}
			res.job.status = SL_JOB_FAILED;
			res.job.error_code = rc;
			if (!res.job.file)
				res.job.file = strdup(uri);
			if (!res.job.error_message)
				res.job.error_message = strdup(res.message);
		}
	} else if (res.already_loaded && strcmp(res.job.file ? res.job.file : "", uri)) {
		dup = res.job.id; /* the same bytes under another key (or version) */
	}
	bool ok =
	    rc == 0 && (res.job.status == SL_JOB_SUCCEEDED || res.job.status == SL_JOB_PARTIAL);
	if ((rc = state_add(w, sl_job_status_name(res.job.status), res.job.id[0] ? res.job.id : "-",
	                    p->etag, p->key)) < 0)
		goto out;
	sl__watch_kill_point("s3-recorded");
	if (!(json = sl__watch_outcome_json(&res.job, dup, p->key, how, uri, why, &jlen))) {
		rc = SL_NOMEM;
		goto out;
	}
	if (jlen && json[jlen - 1] == '\n')
		json[jlen - 1] = 0;
	sl_watch_event e = {.what = SL_WATCH_FINISHED,
	                    .name = p->key,
	                    .how = how,
	                    .job = &res.job,
	                    .dup_of = dup,
	                    .path = uri,
	                    .json = json};
	w->stats->finished++;
	if (!ok)
		w->stats->failed++;
	else if (res.job.status == SL_JOB_PARTIAL)
		w->stats->partial++;
	if (dup[0])
		w->stats->duplicates++;
	emit(w, &e);
	rc = RUN_FINISHED;
out:
	free(json);
	free(uri);
	sl_job_clear(&res.job);
	return rc;
}

/* One listing and the objects it found: 0, RUN_STOPPED or < 0. */
static int poll_once(s3w *w, bool first)
{
	char err[512] = "";
	const char *pg = getenv("SLUICE_TEST_WATCH_S3_PAGE"); /* test knob: small pages */
	unsigned page = pg ? (unsigned)strtoul(pg, NULL, 10) : 0;
	w->recorded = 0;
	int rc = sl__s3_list(w->s3, w->bucket, w->prefix, page, on_object, w, err, sizeof err);
	if (rc == 1)
		rc = 0; /* stopped at the ceiling */
	if (rc < 0) {
		if (rc != SL_NOMEM && (transient(rc) || !first)) {
			/* the storage failing now: the next listing tries again */
			deferred(w, w->o->dir, rc, err);
			rc = 0;
		} else {
			snprintf(w->msg, w->msglen, "%s", err);
		}
		goto out;
	}
	if (first) {
		sl_watch_event e = {.what = SL_WATCH_RESCAN, .how = "start"};
		emit(w, &e);
	}
	for (size_t i = 0; i < w->np; i++) {
		if (stop_cb((void *)w->o)) {
			rc = RUN_STOPPED;
			break;
		}
		const char *how = "listed";
		if (w->o->s3_marker) {
			int m = marked(w, w->p[i].key, err, sizeof err);
			if (m < 0 && m != SL_NOMEM) {
				deferred(w, w->p[i].key, m, err);
				continue;
			}
			if (m < 0) {
				rc = m;
				break;
			}
			if (m == 0)
				continue; /* no marker yet: the next listing looks again */
			how = "marker";
		}
		rc = take(w, &w->p[i], how);
		if (rc < 0 || rc == RUN_STOPPED)
			break;
		rc = 0;
	}
out:
	pending_clear(w);
	return rc;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sl__watch_s3(const sl_watch_opts *o, sl_watch_stats *stats, char *msg, size_t msglen)
{
	s3w W = {.o = o, .stats = stats, .msg = msg, .msglen = msglen, .statefd = -1}, *w = &W;
	int rc;
	memset(stats, 0, sizeof *stats);
	msg[0] = 0;
	if ((rc = sl__s3_uri_parse(o->dir, &w->bucket, &w->prefix, msg, msglen)) < 0)
		goto out;
	if (!w->bucket[0]) {
		snprintf(msg, msglen, "%s: no bucket", o->dir);
		rc = SL_INVAL;
		goto out;
	}
	if ((rc = sl__s3_config_env(&w->cfg, o->s3_endpoint, msg, msglen)) < 0 ||
	    (rc = sl__s3_open(&w->s3, &w->cfg)) < 0 || (rc = state_open(w)) < 0)
		goto out;
	int64_t interval = o->interval_ms > 0 ? o->interval_ms : DEFAULT_INTERVAL_MS;
	for (bool first = true;; first = false) {
		int64_t next = mono_ms() + interval;
		bool full;
		do {
			rc = poll_once(w, first);
			full = w->full && w->recorded > 0;
			first = false;
		} while (rc == 0 && full &&
		         !stop_cb((void *)o)); /* more than the ceiling was new */
		if (rc == RUN_STOPPED) {
			rc = 0;
			break;
		}
		if (rc < 0 || o->once)
			break;
		while (!stop_cb((void *)o) && mono_ms() < next) {
			int64_t left = next - mono_ms();
			int64_t t = left < 100
			                ? left
			                : 100; /* the stop flag is looked at 10 times a second */
			struct timespec ts = {0, (long)(t > 0 ? t : 1) * 1000000};
			nanosleep(&ts, NULL);
		}
		if (stop_cb((void *)o))
			break;
	}
out:
	pending_clear(w);
	free(w->p);
	for (size_t i = 0; i < w->captab; i++)
		free(w->tab[i].text);
	free(w->tab);
	if (w->statefd >= 0)
		close(w->statefd);
	if (w->s3)
		sl__s3_close(w->s3);
	sl__s3_config_free(&w->cfg);
	free(w->bucket);
	free(w->prefix);
	return rc;
}
