/*
 * One dropped file's life: DIR/NAME -> DIR/processing/NAME -> its job ->
 * DIR/done/T or DIR/failed/T with T.json beside it (T is NAME, or
 * JOBID-NAME when done/ or failed/ holds a NAME already).
 *
 * Why a crash (kill -9, at any instruction) neither loses a file nor loads
 * it twice. Every step below is one atomic rename or one store commit, and
 * the file is always in exactly one of DIR, processing/, done/ or failed/
 * (renameat2 RENAME_NOREPLACE within one file system: it is in the old
 * place or the new one, and never overwrites a file that is there):
 *
 *   1. rename DIR/NAME -> processing/NAME              the take
 *   2. remove DIR/NAME.done and DIR/NAME.ok (markers)
 *   3. write processing/.take-H (H: hash of NAME) with a fresh job id J,
 *      by a temporary file and a rename               the intent
 *   4. sl_job_accept(processing/NAME, J)               the job exists
 *   5. sl_ingest(J)                                    chunks commit one by one
 *   6. rewrite the intent with the target T and done/ or failed/
 *   7. write DEST/T.json (temporary file + rename)
 *   8. rename processing/NAME -> DEST/T
 *   9. remove the intent
 *
 * At start every file in processing/ is run again from where its intent
 * says (sl__watch_run), and each state resumes:
 *   after 1: no intent, so a new J is chosen; no job had existed, nothing
 *     was loaded. Markers left in DIR are removed unless DIR holds a new
 *     NAME again (then they are that file's).
 *   after 3: J is not in the store (sl_job_load: NOT_FOUND): accept it.
 *   after 4 and during 5: J is Accepted or unfinished: sl_ingest(J)
 *     resumes it from its last committed chunk (the engine's checkpoint),
 *     so every row is loaded once.
 *   after 5: J is final: no ingest again, go on at 6.
 *   after 6 or 7: T is in the intent: the JSON is written again (same
 *     content) and the file moved.
 *   after 8: processing/NAME is gone but the intent is there: remove it.
 * The same content dropped again is not a second load: its own job J2 is
 * finished by the engine pointing at the first (same_as), and reported as
 * "duplicate_of". The directories are fsync'ed after each rename, so the
 * order also holds across a power cut, not only a process crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/base.h"
#include "watch/watch_int.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

void sl__watch_kill_point(const char *point)
{
	const char *k = getenv("SLUICE_TEST_WATCH_KILL");
	if (k && !strcmp(k, point))
		raise(SIGKILL);
}

void sl__watch_emit(watcher *w, const sl_watch_event *e)
{
	if (w->o->event)
		w->o->event(w->o->event_ctx, e);
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n >= t && !strcmp(s + n - t, tail);
}

bool sl__watch_candidate_name(const char *name)
{
	/* hidden files are where rsync, scp and many SFTP clients write before
	   their rename; .part/.filepart/.tmp are the other common names of a
	   file still being written; markers are not data */
	static const char *const skip[] = {".done", ".ok",       ".tmp",
	                                   ".part", ".filepart", ".partial"};
	if (name[0] == '.' || strlen(name) > WATCH_NAME_MAX)
		return false;
	for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
		if (ends_with(name, skip[i]))
			return false;
	return true;
}

bool sl__watch_marked(watcher *w, const char *name)
{
	char m[NAME_MAX + 8];
	snprintf(m, sizeof m, "%s.done", name);
	if (faccessat(w->dirfd, m, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return true;
	snprintf(m, sizeof m, "%s.ok", name);
	return faccessat(w->dirfd, m, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

static bool exists(int dfd, const char *name)
{
	return faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

static int move(int from, const char *a, int to, const char *b)
{
	return renameat2(from, a, to, b, RENAME_NOREPLACE);
}

/* --- the intent file ------------------------------------------------------ */

typedef struct intent {
	char job[SL_JOB_ID_LEN];
	char how[16];
	char dest[8];              /* "" (not chosen yet), "done" or "failed" */
	char target[NAME_MAX + 1]; /* "" or the name in dest */
} intent;

static void intent_name(const char *name, char out[32])
{
	snprintf(out, 32, ".take-%016llx", (unsigned long long)XXH64(name, strlen(name), 0));
}

/* 1 read, 0 none, <0 unreadable */
static int intent_read(watcher *w, const char *iname, const char *name, intent *in)
{
	memset(in, 0, sizeof *in);
	int fd = openat(w->procfd, iname, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : SL_IO_OPEN;
	char buf[1024];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0; /* empty: the write never finished its rename, so never happened */
	buf[n] = 0;
	char *save = NULL, nm[NAME_MAX + 1] = "";
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(l, '=');
		if (!eq)
			continue;
		*eq++ = 0;
		if (!strcmp(l, "job"))
			snprintf(in->job, sizeof in->job, "%s", eq);
		else if (!strcmp(l, "how"))
			snprintf(in->how, sizeof in->how, "%s", eq);
		else if (!strcmp(l, "dest"))
			snprintf(in->dest, sizeof in->dest, "%s", eq);
		else if (!strcmp(l, "target"))
			snprintf(in->target, sizeof in->target, "%s", eq);
		else if (!strcmp(l, "name"))
			snprintf(nm, sizeof nm, "%s", eq);
	}
	/* another name with the same hash: not this file's */
	return strcmp(nm, name) || !in->job[0] ? 0 : 1;
}

static int write_file_at(watcher *w, int dfd, const char *name, const char *text, size_t n)
{
	char tmp[NAME_MAX + 16];
	snprintf(tmp, sizeof tmp, ".%.200s.tmp", name);
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = 0;
	if (fd < 0) {
		snprintf(w->msg, w->msglen, "%s: %s", tmp, strerror(errno));
		return SL_IO_WRITE;
	}
	if (sl_write_all(fd, text, n, NULL) < 0 || fsync(fd) < 0) {
		snprintf(w->msg, w->msglen, "%s: %s", tmp, strerror(errno));
		rc = SL_IO_WRITE;
	}
	close(fd);
	if (rc == 0 && renameat(dfd, tmp, dfd, name) < 0) {
		snprintf(w->msg, w->msglen, "%s: %s", name, strerror(errno));
		rc = SL_IO_WRITE;
	}
	if (rc < 0)
		unlinkat(dfd, tmp, 0);
	else
		fsync(dfd);
	return rc;
}

static int intent_write(watcher *w, const char *iname, const char *name, const intent *in)
{
	char buf[1024];
	int n = snprintf(buf, sizeof buf, "name=%s\njob=%s\nhow=%s\ndest=%s\ntarget=%s\n", name,
	                 in->job, in->how, in->dest, in->target);
	return write_file_at(w, w->procfd, iname, buf, (size_t)n);
}

void sl__watch_orphan(watcher *w, const char *iname)
{
	char buf[NAME_MAX + 16];
	int fd = openat(w->procfd, iname, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	char *nl = strchr(buf, '\n');
	if (nl)
		*nl = 0;
	/* an intent left without its file: step 8 was done (or a temporary
	   file of the intent's own write, which never happened) */
	if (strncmp(buf, "name=", 5) || !exists(w->procfd, buf + 5))
		unlinkat(w->procfd, iname, 0);
}

/* --- the steps -------------------------------------------------------------- */

int sl__watch_take(watcher *w, const char *name, const char *how)
{
	struct stat st;
	if (fstatat(w->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)))
		return RUN_DEFERRED; /* gone, or neither a file nor a batch directory */
	if (move(w->dirfd, name, w->procfd, name) < 0)
		return RUN_DEFERRED; /* EEXIST: the earlier NAME is still in processing/ */
	fsync(w->procfd);
	fsync(w->dirfd);
	sl__watch_kill_point("taken");
	sl_watch_event e = {.what = SL_WATCH_TAKEN, .name = name, .how = how};
	sl__watch_emit(w, &e);
	return sl__watch_run(w, name, how);
}

static void unmark(watcher *w, const char *name)
{
	char m[NAME_MAX + 8];
	if (exists(w->dirfd, name))
		return; /* a new NAME dropped meanwhile: the markers are its own */
	snprintf(m, sizeof m, "%s.done", name);
	unlinkat(w->dirfd, m, 0);
	snprintf(m, sizeof m, "%s.ok", name);
	unlinkat(w->dirfd, m, 0);
}

static int stop_cb(void *ctx)
{
	watcher *w = ctx;
	return w->o->stop ? w->o->stop(w->o->stop_ctx) : 0;
}

static int defer(watcher *w, const char *name, int code, const char *message)
{
	sl_watch_event e = {
	    .what = SL_WATCH_DEFERRED, .name = name, .code = code, .message = message};
	w->stats->deferred++;
	sl__watch_emit(w, &e);
	return RUN_DEFERRED;
}

/* A failure that may pass (another process holds the job, the database is
   busy or full, memory): leave the file in processing/ and try later. */
static bool transient(int code)
{
	return code == SL_CONFLICT || code == SL_NOMEM || sl_error_class(code) == SL_CLASS_RETRY;
}

char *sl__watch_outcome_json(const sl_job *j, const char *dup_of, const char *name, const char *how,
                             const char *path, const char *why, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);
	if (!f)
		return NULL;
	fputc('{', f);
	sl_job_json_fields(f, j, sl_now_ms());
	fprintf(f, ",\"already_loaded\":%s,\"duplicate_of\":", dup_of[0] ? "true" : "false");
	if (dup_of[0])
		sl_json_cstr(f, dup_of);
	else
		fputs("null", f);
	fputs(",\"drop\":{\"name\":", f);
	sl_json_cstr(f, name);
	fputs(",\"taken\":", f);
	sl_json_cstr(f, how);
	fputs(",\"path\":", f);
	sl_json_cstr(f, path);
	fputs(",\"error\":", f);
	if (why[0])
		sl_json_cstr(f, why);
	else
		fputs("null", f);
	fputs("}}\n", f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* s with glob(3)'s special characters escaped, into out (n bytes) */
static void glob_escape(const char *s, char *out, size_t n)
{
	size_t k = 0;
	for (; *s && k + 2 < n; s++) {
		if (strchr("*?[\\", *s))
			out[k++] = '\\';
		out[k++] = *s;
	}
	out[k] = 0;
}

/* Run the job to a final status (or until stopped); *job is its state. */
static int run_job(watcher *w, const char *name, const intent *in, sl_job *job)
{
	char m[512] = "";
	int rc = sl_job_load(w->o->db, in->job, job, NULL, NULL, m, sizeof m);
	if (rc == SL_NOT_FOUND) {
		char path[2 * (PATH_MAX + NAME_MAX + 16) + 16];
		struct stat st;
		snprintf(path, sizeof path, "%s/processing/%s", w->dir, name);
		/* a batch directory: its files as one job (docs/watch.md) */
		if (fstatat(w->procfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode)) {
			char lit[2 * (PATH_MAX + NAME_MAX + 16)], dir[PATH_MAX + NAME_MAX + 16];
			snprintf(dir, sizeof dir, "%s/processing/%s", w->dir, name);
			glob_escape(dir, lit, sizeof lit);
			snprintf(path, sizeof path, "glob:%s/*", lit);
		}
		sl_accept_opts ao = {.file = path,
		                     .schema_path = w->o->schema_path,
		                     .db = w->o->db,
		                     .job_id = in->job};
		rc = sl_job_accept(&ao, job, m, sizeof m);
		if (rc >= 0)
			sl__watch_kill_point("accepted");
	}
	if (rc < 0) /* a bad schema ends the watch; the file (unreadable?) waits */
		return rc == SL_CONFIG ? rc : defer(w, name, rc, m);
	if (sl_job_status_final(job->status))
		return RUN_FINISHED;
	sl_ingest_opts io = {.db = w->o->db,
	                     .job_id = in->job,
	                     .threads = w->o->threads,
	                     .chunk_size = w->o->chunk_size,
	                     .pause = stop_cb,
	                     .pause_ctx = w};
	sl_ingest_result res;
	rc = sl_ingest(&io, &res);
	bool paused = res.paused;
	sl_job_clear(&res.job);
	if (rc < 0) {
		if (transient(rc))
			return defer(w, name, rc, res.message);
		/* it cannot run (unreadable, changed in processing/): the job is
		   cancelled so it is final, and the file goes to failed/ */
		snprintf(w->why, sizeof w->why, "%.400s (%s)", res.message, sl_error_name(rc));
		sl_job_status st;
		char cm[256];
		sl_job_cancel(w->o->db, in->job, &st, cm, sizeof cm);
	}
	if (paused)
		return RUN_STOPPED;
	sl_job_clear(job);
	rc = sl_job_load(w->o->db, in->job, job, NULL, NULL, m, sizeof m);
	if (rc < 0)
		return transient(rc) ? defer(w, name, rc, m) : rc;
	if (!sl_job_status_final(job->status))
		return defer(w, name, SL_CONFLICT, "the job did not finish");
	return RUN_FINISHED;
}

int sl__watch_run(watcher *w, const char *name, const char *how)
{
	char iname[32];
	intent in;
	sl_job job = {0};
	char *json = NULL;
	size_t jlen = 0;
	int rc;
	intent_name(name, iname);
	if ((rc = intent_read(w, iname, name, &in)) < 0) {
		snprintf(w->msg, w->msglen, "processing/%s: %s", iname, strerror(errno));
		return rc;
	}
	if (!exists(w->procfd, name)) {
		/* moved to done/ or failed/ before the intent was removed */
		if (rc == 1)
			unlinkat(w->procfd, iname, 0);
		return RUN_FINISHED;
	}
	unmark(w, name);
	w->why[0] = 0;
	if (rc == 0) {
		sl_job_new_id(in.job);
		snprintf(in.how, sizeof in.how, "%s", how);
		if ((rc = intent_write(w, iname, name, &in)) < 0)
			return defer(w, name, rc, w->msg);
		sl__watch_kill_point("intent");
	}
	if ((rc = run_job(w, name, &in, &job)) != RUN_FINISHED)
		goto out;

	/* where it goes: decided once, kept in the intent */
	bool ok = job.status == SL_JOB_SUCCEEDED || job.status == SL_JOB_PARTIAL;
	if (!in.target[0]) {
		int dfd = ok ? w->donefd : w->failfd;
		char js[NAME_MAX + 8];
		snprintf(in.dest, sizeof in.dest, "%s", ok ? "done" : "failed");
		snprintf(js, sizeof js, "%s.json", name);
		if (exists(dfd, name) || exists(dfd, js))
			snprintf(in.target, sizeof in.target, "%s-%s", in.job, name);
		else
			snprintf(in.target, sizeof in.target, "%s", name);
		if ((rc = intent_write(w, iname, name, &in)) < 0)
			goto out;
		sl__watch_kill_point("target");
	}
	int dfd = !strcmp(in.dest, "done") ? w->donefd : w->failfd;
	char where[NAME_MAX + 16];
	snprintf(where, sizeof where, "%s/%s", in.dest, in.target);
	if (!(json =
	          sl__watch_outcome_json(&job, job.same_as, name, in.how, where, w->why, &jlen))) {
		rc = SL_NOMEM;
		goto out;
	}
	char js[NAME_MAX + 8];
	snprintf(js, sizeof js, "%s.json", in.target);
	if ((rc = write_file_at(w, dfd, js, json, jlen)) < 0)
		goto out;
	sl__watch_kill_point("json");
	if (move(w->procfd, name, dfd, in.target) < 0) {
		rc = SL_IO_WRITE;
		snprintf(w->msg, w->msglen, "processing/%s -> %s/%s: %s", name, in.dest, in.target,
		         strerror(errno));
		goto out;
	}
	fsync(dfd);
	fsync(w->procfd);
	sl__watch_kill_point("moved");
	unlinkat(w->procfd, iname, 0);

	if (json[jlen - 1] == '\n')
		json[jlen - 1] = 0;
	sl_watch_event e = {.what = SL_WATCH_FINISHED,
	                    .name = name,
	                    .how = in.how,
	                    .job = &job,
	                    .dup_of = job.same_as,
	                    .path = where,
	                    .json = json};
	w->stats->finished++;
	if (!ok)
		w->stats->failed++;
	else if (job.status == SL_JOB_PARTIAL)
		w->stats->partial++;
	if (job.same_as[0])
		w->stats->duplicates++;
	sl__watch_emit(w, &e);
	rc = RUN_FINISHED;
out:
	/* the folder not writable now (full disk?): the file waits in
	   processing/ and the steps are taken again later from the intent */
	if (rc == SL_IO_WRITE)
		rc = defer(w, name, rc, w->msg);
	free(json);
	sl_job_clear(&job);
	return rc;
}
