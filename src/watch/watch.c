/*
 * The drop-folder loop: which files of DIR are complete, and when.
 *
 * inotify is set up on DIR before it is listed, so no file falls between
 * the listing and the first event. Then the files left in processing/ by a
 * crash are run to their end (watch_file.c), and DIR is listed (a rescan):
 * at start, and whenever the kernel says its event queue overflowed
 * (IN_Q_OVERFLOW: events were lost, so what the table says may be stale).
 *
 * A file is complete when
 *   - DIR holds NAME.done or NAME.ok (a marker: the writer's word), or
 *   - it was renamed or moved into DIR (IN_MOVED_TO: written elsewhere), or
 *   - a heuristic, for writers that do neither: its size and mtime stayed
 *     the same for the settle time, as this loop saw them. IN_CLOSE_WRITE
 *     proves nothing: SFTP servers close and reopen a file between writes.
 * A rescan cannot know how a file arrived, so the files it finds are taken
 * by marker or by settling.
 *
 * The table of files seen has a ceiling (WATCH_MAX_FILES); files beyond it
 * are left for the rescan that follows once it has room. Files are taken
 * one at a time, in the order they became complete, and their jobs run in
 * this thread; events meanwhile wait in the kernel's queue (an overflow is
 * a rescan). One watcher per folder: processing/.lock (flock).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "watch/watch_int.h"

#define WATCH_MAX_FILES   65536
#define DEFAULT_SETTLE_MS 10000
#define RETRY_MIN_MS      1000
#define RETRY_MAX_MS      60000

enum { HOW_SETTLE, HOW_MOVED, HOW_MARKER };
static const char *const how_names[] = {"settled", "moved", "marker"};

typedef struct seen {
	char *name;
	int how;
	bool ready;
	uint64_t size;
	int64_t mtime_ns;
	int64_t stable_ms;                 /* when size or mtime last changed, as seen */
	int64_t ready_ms;                  /* when it became complete (order of taking) */
	int64_t not_before_ms, backoff_ms; /* after a deferred run */
} seen;

typedef struct loop {
	watcher w;
	int ifd;
	int64_t settle_ms; /* <0: no heuristic */
	seen *s;
	size_t n, cap;
	int64_t proc_retry_ms, proc_backoff_ms; /* run processing/ again then (0: no need) */
	bool full; /* a file was left out for the ceiling: rescan when there is room */
	bool test_overflow;
} loop;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static seen *find(loop *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->s[i].name, name))
			return &l->s[i];
	return NULL;
}

static void forget(loop *l, seen *e)
{
	free(e->name);
	*e = l->s[--l->n];
}

/* 0 a file, 1 a directory (a batch), -1 neither or gone */
static int stat_of(loop *l, const char *name, uint64_t *size, int64_t *mtime)
{
	struct stat st;
	if (fstatat(l->w.dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)))
		return -1;
	*size = (uint64_t)st.st_size;
	*mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	return S_ISDIR(st.st_mode) ? 1 : 0;
}

/* A file seen (by an event or a listing): track it, or upgrade how it is
   known to be complete. */
static void note(loop *l, const char *name, int how)
{
	if (!sl__watch_candidate_name(name) || !strcmp(name, "processing") ||
	    !strcmp(name, "done") || !strcmp(name, "failed"))
		return;
	if (how == HOW_SETTLE && sl__watch_marked(&l->w, name))
		how = HOW_MARKER;
	if (how == HOW_SETTLE && l->settle_ms < 0)
		return; /* only markers and moves count: nothing to watch */
	int64_t now = mono_ms();
	seen *e = find(l, name);
	if (!e) {
		uint64_t size;
		int64_t mt;
		int kind = stat_of(l, name, &size, &mt);
		/* a batch directory is complete by its marker or its move in,
		   never by settling (its files may still be written) */
		if (kind < 0 || (kind == 1 && how == HOW_SETTLE))
			return;
		if (l->n >= WATCH_MAX_FILES) {
			l->full = true;
			return;
		}
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 64;
			seen *ns = realloc(l->s, cap * sizeof *ns);
			if (!ns) {
				l->full = true;
				return;
			}
			l->s = ns;
			l->cap = cap;
		}
		char *dup = strdup(name);
		if (!dup) {
			l->full = true;
			return;
		}
		e = &l->s[l->n++];
		*e = (seen){
		    .name = dup, .how = HOW_SETTLE, .size = size, .mtime_ns = mt, .stable_ms = now};
	}
	if (how > e->how)
		e->how = how;
	if (how != HOW_SETTLE && !e->ready) {
		e->ready = true;
		e->ready_ms = now;
	}
}

static void marker_seen(loop *l, const char *marker)
{
	char base[NAME_MAX + 1];
	size_t n = strlen(marker);
	size_t cut = n > 5 && !strcmp(marker + n - 5, ".done") ? 5
	             : n > 3 && !strcmp(marker + n - 3, ".ok") ? 3
	                                                       : 0;
	if (!cut || n - cut > NAME_MAX)
		return;
	memcpy(base, marker, n - cut);
	base[n - cut] = 0;
	note(l, base, HOW_MARKER);
}

static void rescan(loop *l, const char *why)
{
	int fd = dup(l->w.dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(d);
	l->full = false;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_type == DT_REG || de->d_type == DT_DIR || de->d_type == DT_UNKNOWN)
			note(l, de->d_name, HOW_SETTLE);
	closedir(d);
	/* what was listed no more is gone */
	for (size_t i = 0; i < l->n;) {
		if (faccessat(l->w.dirfd, l->s[i].name, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			forget(l, &l->s[i]);
		else
			i++;
	}
	sl_watch_event e = {.what = SL_WATCH_RESCAN, .how = why};
	sl__watch_emit(&l->w, &e);
}

/* Read what inotify has: 0, or 1 when the queue overflowed (rescan). */
static int read_events(loop *l)
{
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	int overflow = 0;
	for (;;) {
		ssize_t n = read(l->ifd, buf, sizeof buf);
		if (n <= 0)
			break;
		if (l->test_overflow) {
			overflow = 1; /* test knob: as if these events were lost */
			continue;
		}
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			p += sizeof *ev + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				overflow = 1;
				continue;
			}
			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
				return -1;
			/* a directory is a batch: moved in, or marked (note) */
			if (!ev->len || ((ev->mask & IN_ISDIR) &&
			                 !(ev->mask & (IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM))))
				continue;
			const char *name = ev->name;
			size_t nl = strlen(name);
			bool marker = (nl > 5 && !strcmp(name + nl - 5, ".done")) ||
			              (nl > 3 && !strcmp(name + nl - 3, ".ok"));
			if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
				seen *e = find(l, name);
				if (e)
					forget(l, e);
			} else if (marker) {
				marker_seen(l, name);
			} else if (ev->mask & IN_MOVED_TO) {
				note(l, name, HOW_MOVED);
			} else {
				note(l, name, HOW_SETTLE);
			}
		}
	}
	return overflow;
}

/* The settle heuristic: stat what waits; unchanged long enough is complete. */
static void settle(loop *l)
{
	int64_t now = mono_ms();
	for (size_t i = 0; i < l->n;) {
		seen *e = &l->s[i];
		uint64_t size;
		int64_t mt;
		if (stat_of(l, e->name, &size, &mt) < 0) {
			forget(l, e);
			continue;
		}
		if (!e->ready) {
			if ((size != e->size || mt != e->mtime_ns) && l->w.o->once) {
				forget(l, e); /* --once: only what was complete; next run */
				continue;
			} else if (size != e->size || mt != e->mtime_ns) {
				e->size = size;
				e->mtime_ns = mt;
				e->stable_ms = now;
			} else if (l->settle_ms >= 0 && now - e->stable_ms >= l->settle_ms) {
				e->ready = true;
				e->ready_ms = now;
			}
		}
		i++;
	}
}

static seen *next_ready(loop *l)
{
	int64_t now = mono_ms();
	seen *best = NULL;
	for (size_t i = 0; i < l->n; i++) {
		seen *e = &l->s[i];
		if (e->ready && e->not_before_ms <= now && (!best || e->ready_ms < best->ready_ms))
			best = e;
	}
	return best;
}

/* A taken file whose job could not run now (busy database, another
   process) waits in processing/: run it again later, backing off. --once
   leaves it for the next run. */
static void defer_left(loop *l)
{
	if (l->w.o->once)
		return;
	l->proc_backoff_ms = l->proc_backoff_ms ? l->proc_backoff_ms * 2 : RETRY_MIN_MS;
	if (l->proc_backoff_ms > RETRY_MAX_MS)
		l->proc_backoff_ms = RETRY_MAX_MS;
	l->proc_retry_ms = mono_ms() + l->proc_backoff_ms;
}

/* The files a crash (or a deferred run) left in processing/, in name order. */
static int resume_left(loop *l)
{
	bool deferred = false;
	l->proc_retry_ms = 0;
	struct dirent **list = NULL;
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/processing", l->w.dir);
	int n = scandir(path, &list, NULL, alphasort), rc = 0;
	if (n < 0) {
		snprintf(l->w.msg, l->w.msglen, "%s: %s", path, strerror(errno));
		return SL_IO_OPEN;
	}
	for (int i = 0; i < n; i++) {
		const char *name = list[i]->d_name;
		struct stat st;
		if (!strncmp(name, ".take-", 6))
			sl__watch_orphan(&l->w, name);
		if (rc == 0 && name[0] != '.' &&
		    fstatat(l->w.procfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
			sl_watch_event e = {
			    .what = SL_WATCH_RESUMED, .name = name, .how = "resumed"};
			sl__watch_emit(&l->w, &e);
			int r = sl__watch_run(&l->w, name, "resumed");
			if (r < 0 || r == RUN_STOPPED)
				rc = r;
			deferred |= r == RUN_DEFERRED;
		}
		free(list[i]);
	}
	free(list);
	if (deferred)
		defer_left(l);
	else
		l->proc_backoff_ms = 0;
	return rc;
}

static int open_dirs(loop *l, const sl_watch_opts *o)
{
	watcher *w = &l->w;
	if (!realpath(o->dir, w->dir) ||
	    (w->dirfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(w->msg, w->msglen, "%s: %s", o->dir, strerror(errno));
		return SL_IO_OPEN;
	}
	const char *sub[] = {"processing", "done", "failed"};
	int *fds[] = {&w->procfd, &w->donefd, &w->failfd};
	for (int i = 0; i < 3; i++) {
		if (mkdirat(w->dirfd, sub[i], 0755) < 0 && errno != EEXIST) {
			snprintf(w->msg, w->msglen, "%s/%s: %s", w->dir, sub[i], strerror(errno));
			return SL_IO_WRITE;
		}
		if ((*fds[i] = openat(w->dirfd, sub[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			snprintf(w->msg, w->msglen, "%s/%s: %s", w->dir, sub[i], strerror(errno));
			return SL_IO_OPEN;
		}
	}
	w->lockfd = openat(w->procfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (w->lockfd < 0) {
		snprintf(w->msg, w->msglen, "%s/processing/.lock: %s", w->dir, strerror(errno));
		return SL_IO_OPEN;
	}
	if (flock(w->lockfd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(w->msg, w->msglen, "another watcher runs on %s (lock processing/.lock)",
		         w->dir);
		return SL_CONFLICT;
	}
	return 0;
}

/* Is DIR still there, at its path? inotify says IN_DELETE_SELF only once
   the last descriptor of the directory closes, and this loop holds some. */
static bool dir_gone(loop *l)
{
	struct stat a, b;
	return fstat(l->w.dirfd, &a) < 0 || a.st_nlink == 0 || stat(l->w.dir, &b) < 0 ||
	       a.st_ino != b.st_ino || a.st_dev != b.st_dev;
}

static bool stopping(const sl_watch_opts *o)
{
	return o->stop && o->stop(o->stop_ctx);
}

int sl_watch(const sl_watch_opts *o, sl_watch_stats *stats, char *msg, size_t msglen)
{
	loop L = {0}, *l = &L;
	sl_watch_stats dummy;
	int rc = 0;
	if (!stats)
		stats = &dummy;
	if (o->dir && !strncmp(o->dir, "s3://", 5))
		return sl__watch_s3(o, stats, msg, msglen);
	memset(stats, 0, sizeof *stats);
	msg[0] = 0;
	l->w = (watcher){.o = o,
	                 .stats = stats,
	                 .dirfd = -1,
	                 .procfd = -1,
	                 .donefd = -1,
	                 .failfd = -1,
	                 .lockfd = -1,
	                 .msg = msg,
	                 .msglen = msglen};
	l->ifd = -1;
	l->settle_ms = o->settle_ms == 0 ? DEFAULT_SETTLE_MS : o->settle_ms;
	const char *k = getenv("SLUICE_TEST_WATCH_OVERFLOW");
	l->test_overflow = k && *k && strcmp(k, "0");
	if ((rc = open_dirs(l, o)) < 0)
		goto out;
	if (!o->once) {
		l->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (l->ifd < 0 ||
		    inotify_add_watch(l->ifd, l->w.dir,
		                      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY |
		                          IN_ATTRIB | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF |
		                          IN_MOVE_SELF | IN_ONLYDIR) < 0) {
			snprintf(msg, msglen, "inotify on %s: %s", l->w.dir, strerror(errno));
			rc = SL_IO_OPEN;
			goto out;
		}
	}
	if ((rc = resume_left(l)) != 0)
		goto out;
	rescan(l, "start");
	for (;;) {
		if (stopping(o))
			break;
		seen *e = next_ready(l);
		if (e) {
			char name[NAME_MAX + 1];
			int how = e->how;
			snprintf(name, sizeof name, "%s", e->name);
			int r = sl__watch_take(&l->w, name, how_names[how]);
			if (r < 0 || r == RUN_STOPPED) {
				rc = r < 0 ? r : 0;
				goto out;
			}
			e = find(l, name);
			bool in_dir = faccessat(l->w.dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
			if (r == RUN_DEFERRED && e && in_dir && !o->once) {
				/* not taken (its namesake in processing/ waits): later */
				e->backoff_ms = e->backoff_ms ? e->backoff_ms * 2 : RETRY_MIN_MS;
				if (e->backoff_ms > RETRY_MAX_MS)
					e->backoff_ms = RETRY_MAX_MS;
				e->not_before_ms = mono_ms() + e->backoff_ms;
			} else if (e) {
				forget(l, e);
			}
			/* taken, but its job could not run now: it waits in processing/ */
			if (r == RUN_DEFERRED && !in_dir)
				defer_left(l);
			continue;
		}
		if (o->once && !l->n)
			break; /* what was there is done (or changed: the next run sees it) */
		if (l->proc_retry_ms && mono_ms() >= l->proc_retry_ms) {
			if ((rc = resume_left(l)) != 0)
				goto out;
			continue;
		}
		int timeout = 200;
		int64_t now = mono_ms();
		for (size_t i = 0; i < l->n; i++) {
			int64_t t = l->s[i].ready ? l->s[i].not_before_ms - now
			                          : l->s[i].stable_ms + l->settle_ms - now;
			if (t < timeout)
				timeout = t < 10 ? 10 : (int)t;
		}
		if (l->ifd >= 0) {
			struct pollfd p = {.fd = l->ifd, .events = POLLIN};
			int pr = poll(&p, 1, timeout);
			if (pr > 0) {
				int ov = read_events(l);
				if (ov < 0) {
					rc = SL_IO_OPEN;
					snprintf(msg, msglen, "%s was removed or moved", l->w.dir);
					goto out;
				}
				if (ov) {
					stats->overflows++;
					rescan(l, "overflow");
				}
			}
		} else {
			struct timespec ts = {timeout / 1000, (long)(timeout % 1000) * 1000000};
			nanosleep(&ts, NULL); /* --once: the settle time passing */
		}
		if (dir_gone(l)) {
			rc = SL_IO_OPEN;
			snprintf(msg, msglen, "%s was removed or moved", l->w.dir);
			goto out;
		}
		if (l->full && l->n < WATCH_MAX_FILES / 2)
			rescan(l, "room");
		settle(l);
	}
out:
	for (size_t i = 0; i < l->n; i++)
		free(l->s[i].name);
	free(l->s);
	if (l->ifd >= 0)
		close(l->ifd);
	int *fds[] = {&l->w.lockfd, &l->w.procfd, &l->w.donefd, &l->w.failfd, &l->w.dirfd};
	for (int i = 0; i < 5; i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	return rc;
}
