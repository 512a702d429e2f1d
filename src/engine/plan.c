/*
 * Planning a job: the run's effective dialect, the header mapped to the
 * schema's columns, the file fingerprinted (size, modification time, XXH3)
 * and split into chunks at record boundaries, the job and its chunks stored;
 * and the checks a resume makes against that plan (the same file, a content
 * loaded already). Everything is read through the job's source (source.h):
 * a compressed file is split on its decompressed bytes, in one pass, and
 * the decoder's access point for each chunk is kept in a side file next to
 * the database, DB-JOBID.points (docs/sources.md), so a chunk run later (a
 * resume, a retry) decodes from near its start:
 *
 *   "SLPT1\n", then per entry: seq (u32), length (u32), the blob
 *
 * an entry serving chunks seq.. until the next one. The side file is
 * written before the chunks are stored, read back on resume; missing or
 * damaged, chunks decode from the start (slower, the same rows).
 *
 * A compressed file or an S3 object loaded by `sluice ingest` is planned
 * pipelined (below, "the pipelined plan"): the split runs in a thread of
 * its own and hands each chunk to the run as it finds it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "engine/ingest_int.h"

#define DEFAULT_CHUNK (64u << 20)

/* --- planning ------------------------------------------------------------- */

/* Read the header and map the schema's columns to its fields; without a
   header, columns map by position and a record has the schema's count. */
int sl__ingest_map_header(ingest *g)
{
	int rc;
	sl_csv_reader *rd = NULL;
	sl_source_reader *in = NULL;
	sl_csv_record rec;
	char err[1024] = "";
	sl_header_result *hr = NULL;
	free(g->map);
	g->map = calloc(g->schema->ncols + 1, sizeof *g->map);
	if (!g->map)
		return SL_NOMEM;
	if (!g->d.header) {
		g->expected = g->schema->ncols;
		for (size_t i = 0; i < g->schema->ncols; i++)
			g->map[i] = (int)i;
		return 0;
	}
	if (!(hr = malloc(sizeof *hr)))
		return SL_NOMEM;
	if ((rc = sl_source_open_range(g->src, 0, SL_SOURCE_TO_END, NULL, 0, &in)) < 0 ||
	    (rc = sl_csv_reader_new(&g->d, SL_CSV_SCAN_AUTO, sl_source_read_fn, in, 1u << 16,
	                            &rd)) < 0)
		goto out;
	rc = sl_csv_reader_next(rd, &rec);
	if (rc < 0) {
		if (in->msg[0])
			sl__ingest_say(g, "%s", in->msg);
		goto out;
	}
	if (rc == 0) {
		rc = SL_FATAL_HEADER;
		sl__ingest_say(
		    g, "the file is empty: no header row to match the schema's columns against");
		goto out;
	}
	/* the fields the header line really has, whatever the first data record says */
	g->expected = rec.nfields_seen;
	if (rec.error) {
		rc = SL_FATAL_HEADER;
		sl__ingest_say(g, "the header row (line %llu) is malformed: %s (%s)",
		               (unsigned long long)rec.line, sl_error_message(rec.error),
		               sl_error_name(rec.error));
		goto out;
	}
	rc = sl_schema_match_header(g->schema, rec.fields, rec.nfields, g->lenient, g->map, hr, err,
	                            sizeof err);
	if (rc < 0) {
		sl__ingest_say(g, "%s", err);
		goto out;
	}
	free(g->job.ignored_columns);
	free(g->job.warnings);
	g->job.ignored_columns = hr->nignored ? strdup(hr->ignored) : NULL;
	g->job.warnings = hr->nwarnings ? strdup(hr->warnings) : NULL;
	if ((hr->nignored && !g->job.ignored_columns) || (hr->nwarnings && !g->job.warnings))
		rc = SL_NOMEM;
out:
	free(hr);
	sl_csv_reader_free(rd);
	sl_source_reader_close(in);
	return rc;
}

/* --- access points ---------------------------------------------------------- */

#define PTS_MAGIC    "SLPT1\n"
#define PTS_MAX_BLOB (1u << 20) /* larger than any decoder's point (32 KiB + header) */

int sl__ingest_source_stat(const ingest *g, struct stat *st)
{
	sl_source_stat ss;
	int rc = sl_source_stat_get(g->src, &ss);
	memset(st, 0, sizeof *st);
	if (rc < 0)
		return rc;
	st->st_size = (off_t)ss.raw_size;
	st->st_mtim.tv_sec = (time_t)(ss.mtime_ns / 1000000000);
	st->st_mtim.tv_nsec = (long)(ss.mtime_ns % 1000000000);
	st->st_mode = S_IFREG;
	return 0;
}

static void points_path(ingest *g)
{
	const char *db = g->o->db ? g->o->db : "sluice.db";
	const char *tmp = getenv("TMPDIR");
	if (strstr(db, "://")) /* a server's database (postgres://): no directory of its own,
	                          so the temporary one, named by the database and the job */
		snprintf(g->pts_path, sizeof g->pts_path, "%s/sluice-%016llx-%s.points",
		         tmp && *tmp ? tmp : "/tmp", (unsigned long long)XXH3_64bits(db, strlen(db)),
		         g->job.id);
	else
		snprintf(g->pts_path, sizeof g->pts_path, "%s-%s.points", db, g->job.id);
}

void sl__ingest_points_close(ingest *g, bool drop)
{
	if (g->pts_fd >= 0)
		close(g->pts_fd);
	g->pts_fd = -1;
	if (drop && g->pts_path[0]) {
		char tmp[4300];
		snprintf(tmp, sizeof tmp, "%s.tmp", g->pts_path);
		unlink(tmp);
		unlink(g->pts_path);
	}
	free(g->pts);
	g->pts = NULL;
	g->npts = 0;
}

static int pread_all(int fd, void *buf, size_t n, uint64_t off)
{
	for (size_t got = 0; got < n;) {
		ssize_t k = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return SL_IO_READ;
		got += (size_t)k;
	}
	return 0;
}

/* Read the side file's index (a resume). Missing or damaged: no points. */
int sl__ingest_points_load(ingest *g)
{
	unsigned char h[8];
	uint64_t off = sizeof PTS_MAGIC - 1;
	size_t cap = 0;
	struct stat st;
	sl__ingest_points_close(g, false);
	points_path(g);
	if (g->comp == SL_COMPRESSION_NONE || !g->st)
		return 0;
	if ((g->pts_fd = open(g->pts_path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    fstat(g->pts_fd, &st) < 0 || pread_all(g->pts_fd, h, 6, 0) < 0 ||
	    memcmp(h, PTS_MAGIC, 6))
		goto none;
	while (off + 8 <= (uint64_t)st.st_size) {
		if (pread_all(g->pts_fd, h, 8, off) < 0)
			goto none;
		chunk_point cp = {(uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
		                      (uint32_t)h[3] << 24,
		                  (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 |
		                      (uint32_t)h[7] << 24,
		                  off + 8};
		if (cp.len > PTS_MAX_BLOB || cp.off + cp.len > (uint64_t)st.st_size ||
		    (g->npts && cp.seq <= g->pts[g->npts - 1].seq) || cp.seq >= g->nchunks)
			goto none;
		if (g->npts == cap) {
			size_t nc = cap ? 2 * cap : 64;
			chunk_point *n = realloc(g->pts, nc * sizeof *n);
			if (!n) {
				sl__ingest_points_close(g, false);
				return SL_NOMEM;
			}
			g->pts = n;
			cap = nc;
		}
		g->pts[g->npts++] = cp;
		off = cp.off + cp.len;
	}
	return 0;
none:
	sl__ingest_points_close(g, false);
	return 0;
}

int sl__ingest_point(ingest *g, uint32_t seq, sl_buf *out)
{
	sl_buf_reset(out);
	if (g->pts_fd < 0 || !g->npts || g->pts[0].seq > seq)
		return 0;
	size_t lo = 0, hi = g->npts; /* the last entry with seq <= the chunk's */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (g->pts[mid].seq <= seq)
			lo = mid;
		else
			hi = mid;
	}
	const chunk_point *cp = &g->pts[lo];
	int rc = sl_buf_reserve(out, cp->len);
	if (rc < 0)
		return rc;
	if (pread_all(g->pts_fd, out->p, cp->len, cp->off) < 0) {
		sl_buf_reset(out);
		return 0; /* unreadable: from the start */
	}
	out->len = cp->len;
	return 0;
}

/* Planning a compressed source: keep the point of each chunk start as the
   split finds it, written to the side file (a temporary one for a dry run). */
typedef struct plan_points {
	ingest *g;
	sl_source_reader *rd;
	uint32_t seq; /* of the chunk just found */
	sl_buf cur, last;
	uint64_t off; /* end of the side file */
	size_t cap;
} plan_points;

static int put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
	return 0;
}

static int on_chunk(void *ctx, uint64_t offset)
{
	plan_points *pp = ctx;
	ingest *g = pp->g;
	pp->seq++;
	sl_buf_reset(&pp->cur);
	int rc = sl_source_reader_point(pp->rd, offset, &pp->cur);
	if (rc < 0 || !pp->cur.len || pp->cur.len > PTS_MAX_BLOB)
		return rc < 0 ? rc : 0;
	if (pp->last.len == pp->cur.len && !memcmp(pp->last.p, pp->cur.p, pp->cur.len))
		return 0; /* the same point as the chunk before: its entry serves */
	unsigned char h[8];
	put_u32(h, pp->seq);
	put_u32(h + 4, (uint32_t)pp->cur.len);
	size_t done;
	if (sl_write_all(g->pts_fd, h, 8, &done) < 0 ||
	    sl_write_all(g->pts_fd, pp->cur.p, pp->cur.len, &done) < 0) {
		sl__ingest_say(g, "%s: %s", g->pts_path, strerror(errno));
		return SL_IO_WRITE;
	}
	if (g->npts == pp->cap) {
		size_t nc = pp->cap ? 2 * pp->cap : 64;
		chunk_point *n = realloc(g->pts, nc * sizeof *n);
		if (!n)
			return SL_NOMEM;
		g->pts = n;
		pp->cap = nc;
	}
	g->pts[g->npts++] = (chunk_point){pp->seq, (uint32_t)pp->cur.len, pp->off + 8};
	pp->off += 8 + pp->cur.len;
	sl_buf_reset(&pp->last);
	return sl_buf_append(&pp->last, pp->cur.p, pp->cur.len);
}

static int points_begin(ingest *g, plan_points *pp)
{
	sl__ingest_points_close(g, false);
	points_path(g);
	sl_buf_init(&pp->cur, PTS_MAX_BLOB);
	sl_buf_init(&pp->last, PTS_MAX_BLOB);
	if (g->st) {
		char tmp[4300];
		snprintf(tmp, sizeof tmp, "%s.tmp", g->pts_path);
		g->pts_fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	} else {
		FILE *f = tmpfile(); /* a dry run keeps its points in a nameless file */
		g->pts_fd = f ? dup(fileno(f)) : -1;
		if (f)
			fclose(f);
		g->pts_path[0] = '\0';
	}
	size_t done;
	if (g->pts_fd < 0 || sl_write_all(g->pts_fd, PTS_MAGIC, 6, &done) < 0) {
		sl__ingest_say(g, "%s.tmp: %s", g->pts_path, strerror(errno));
		return SL_IO_WRITE;
	}
	pp->off = 6;
	return 0;
}

/* The side file complete: in place before the chunks that use it are stored. */
static int points_end(ingest *g)
{
	if (!g->st || !g->pts_path[0])
		return 0;
	char tmp[4300];
	snprintf(tmp, sizeof tmp, "%s.tmp", g->pts_path);
	if (fsync(g->pts_fd) < 0 || rename(tmp, g->pts_path) < 0) {
		sl__ingest_say(g, "%s: %s", g->pts_path, strerror(errno));
		return SL_IO_WRITE;
	}
	return 0;
}

int sl__ingest_store_tx(ingest *g, int (*fn)(ingest *g))
{
	if (!g->st)
		return fn(g);
	int rc = 0;
	for (int attempt = 1; attempt <= 5; attempt++) {
		rc = sl_txn_begin(g->txn);
		if (rc == 0)
			rc = fn(g);
		if (rc == 0)
			rc = sl_txn_commit(g->txn);
		if (rc == 0)
			return 0;
		sl_txn_rollback(g->txn);
		if (sl_error_class(rc) != SL_CLASS_RETRY)
			break;
		sl__ingest_backoff(attempt);
	}
	return rc;
}

/* The job's row (not its counters). Planning holds no lease, so a cancel
   may finish the job meanwhile (sl_job_cancel sees no live lease): the
   store leaves a job that is final there as it is (CONFLICT, jobstore.h),
   and the run stops with the job as the store has it. A retry, which runs
   a final job again on purpose, rewrites it. */
static int job_write(ingest *g)
{
	int rc = g->o->retry ? sl_js_job_rewrite(g->st, &g->job) : sl_js_job_update(g->st, &g->job);
	if (rc == SL_CONFLICT)
		sl__ingest_say(g, "%s", sl_txn_errmsg(g->txn));
	return rc;
}

int sl__ingest_tx_job_update(ingest *g)
{
	g->job.updated_ms = sl_now_ms();
	return g->st ? job_write(g) : 0;
}

int sl__ingest_tx_job_insert(ingest *g)
{
	return sl_js_job_insert(g->st, &g->job);
}

static int tx_chunks(ingest *g)
{
	int rc = sl_js_chunks_replace(g->st, g->job.id, g->chunks, g->nchunks);
	return rc < 0 ? rc : job_write(g);
}

/* --- the spool of decoded bytes ------------------------------------------------ */

/* An unnamed file in the database's directory (TMPDIR for a dry run or a
   server's database): gone
   when closed, also after a kill -9 (where O_TMPFILE is missing, a named
   file unlinked at once: a kill -9 between the two leaves it). -1 when
   none can be made. */
static int spool_open(ingest *g)
{
	char dir[4200];
	const char *db = g->o->db ? g->o->db : "sluice.db";
	const char *slash = strrchr(db, '/');
	/* a dry run, or a server's database (postgres://: no directory of its
	   own): the temporary directory */
	if (!g->st || strstr(db, "://"))
		snprintf(dir, sizeof dir, "%s",
		         getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	else if (slash)
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - db) + (slash == db), db);
	else
		snprintf(dir, sizeof dir, ".");
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	/* a file system without O_TMPFILE: a named file, unlinked at once */
	char path[4300];
	snprintf(path, sizeof path, "%s/.sluice-spool-XXXXXX", dir);
	if ((fd = mkostemp(path, O_CLOEXEC)) >= 0)
		unlink(path);
	return fd;
}

typedef struct spool_tee {
	sl_source_reader *rd;
	int fd; /* the spool, or -1 (failed: the chunks use access points) */
	uint64_t off;
	plan_points *pp;
} spool_tee;

/* The split's read function: the decoded bytes, also written to the spool.
   A spool that cannot be written (a full disk) is dropped, not fatal. */
static ssize_t tee_read(void *ctx, char *buf, size_t cap)
{
	spool_tee *t = ctx;
	ssize_t n = sl_source_read(t->rd, buf, cap);
	if (n > 0 && t->fd >= 0) {
		size_t done;
		if (sl_write_all(t->fd, buf, (size_t)n, &done) < 0) {
			close(t->fd);
			t->fd = -1;
		}
	}
	return n;
}

static int tee_chunk(void *ctx, uint64_t offset)
{
	return on_chunk(((spool_tee *)ctx)->pp, offset);
}

/* A set of files: a chunk starts at every file's start (multi.c). */
static uint64_t tee_cut(void *ctx, uint64_t from)
{
	return sl_source_multi_cut(((spool_tee *)ctx)->pp->g->src, from);
}

static uint64_t src_cut(void *ctx, uint64_t from)
{
	return sl_source_multi_cut(ctx, from);
}

/* The spool as the chunks' source, if it holds exactly the planned bytes. */
static void spool_take(ingest *g, int fd, uint64_t bytes)
{
	struct stat st;
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != bytes ||
	    sl_source_from_fd(fd, g->job.file, &g->spool) < 0) {
		if (!g->spool)
			close(fd);
		g->spool = NULL;
	}
}

/* a chunk without an access point that starts past this makes a resume
   spool the whole stream once rather than decode up to it */
#define SPOOL_FROM (1u << 20)

int sl__ingest_spool_for_resume(ingest *g)
{
	if (g->comp == SL_COMPRESSION_NONE || g->spool)
		return 0;
	sl_buf at;
	bool need = false;
	sl_buf_init(&at, 1u << 20);
	for (size_t i = 0; i < g->nchunks && !need; i++) {
		const sl_chunk *c = &g->chunks[i];
		if (c->offset == 0 ||
		    (c->status != SL_CHUNK_QUEUED && c->status != SL_CHUNK_PROCESSING &&
		     !(c->status == SL_CHUNK_FAILED && g->o->retry)))
			continue;
		if (sl__ingest_point(g, c->seq, &at) < 0)
			break;
		/* this chunk would decode from byte 0, and that is more than a
		   MiB: one pass for all is cheaper */
		need = at.len == 0 && c->offset > SPOOL_FROM;
	}
	sl_buf_free(&at);
	if (!need)
		return 0;
	/* one pass from the start, instead of one per chunk */
	int fd = spool_open(g), rc = 0;
	spool_tee t = {NULL, fd, 0, NULL};
	char *buf = malloc(1u << 20);
	if (fd < 0 || !buf)
		goto out;
	if ((rc = sl_source_open_seq(g->src, &t.rd)) < 0)
		goto out;
	ssize_t n;
	while ((n = tee_read(&t, buf, 1u << 20)) > 0 && t.fd >= 0)
		;
	if (n < 0) {
		rc = (int)n;
		sl__ingest_say(g, "%s", t.rd->msg);
		goto out;
	}
	spool_take(g, t.fd, g->job.bytes_total);
	t.fd = -1;
out:
	if (t.fd >= 0)
		close(t.fd);
	sl_source_reader_close(t.rd);
	free(buf);
	return rc;
}

/* --spool DIR: the stream's whole copy becomes the job's file (a regular
   file, as it came: compressed or not), so a resume reads it as any file;
   a copy that failed is dropped and the job stays a stream's. */
static void keep_stream(ingest *g)
{
	char path[4300], *abs = NULL;
	struct stat st;
	snprintf(path, sizeof path, "%s/%s.stream", g->o->spool_dir, g->job.id);
	bool ok = sl__source_stream_kept(sl_source_raw(g->src)) && fsync(g->keep_fd) == 0 &&
	          fstat(g->keep_fd, &st) == 0 && (uint64_t)st.st_size == g->job.file_size &&
	          rename(g->keep_tmp, path) == 0 && (abs = realpath(path, NULL));
	close(g->keep_fd);
	g->keep_fd = -1;
	if (!ok) {
		unlink(g->keep_tmp);
		free(abs);
		return;
	}
	free(g->job.file);
	g->job.file = abs;
	g->job.file_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

/* --- the pipelined plan ---------------------------------------------------- */

/*
 * A single-process load of a compressed file or an S3 object is planned
 * and run at once: the planner thread reads the source once (inflating it,
 * or downloading it), writes the decoded bytes to the spool and keeps the
 * access points as the plain plan does, and hands each chunk to the run as
 * soon as the split has found its end, so the chunk's worker parses its
 * bytes from the spool (the page cache: just written) while the planner
 * decodes the next ones. Each byte is decoded (and downloaded) once, and
 * parsing overlaps decoding. A plain S3 object needs no spool here: its
 * source keeps what the planner downloaded in its own, and a ranged
 * reader of a range in it reads it from there (source_s3.c).
 *
 * The run (the writer thread, ingest.c's claim_pending) stores each chunk
 * it takes and claims it under a lease as any chunk, so its commit is
 * fenced and checkpointed as always. The job stays Chunking until the
 * planner is done: no other process claims its chunks (claims take
 * ChunksQueued and Processing jobs; only this job's own run takes a
 * Chunking one's), and no commit finishes it (g->planning holds the
 * fan-in). Then the plan's totals are written, the job becomes Processing,
 * and the fan-in runs, in one transaction.
 *
 * Bounded: at most threads + 1 chunks found and not yet taken by the run
 * wait in the queue; past that the planner waits (backpressure), so it
 * runs ahead of the workers by that many chunks of the spool, not by the
 * whole file. The memory is the split's buffers; the chunks' bytes are in
 * the spool file.
 *
 * Killed: the job is Chunking with some chunks committed. The next run
 * plans again from the start (the chunk size the job recorded, so the same
 * cuts); a chunk that the store has committed already, with the same
 * range and hash, is kept and not run again (a different one: the file
 * changed, IO_CHANGED). A resume thus decodes the stream again up to
 * where the plan stopped, but never loads a committed chunk twice.
 */
struct plan_pipe {
	ingest *g;
	pthread_t tid;
	bool started, finished;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	sl_chunk *q; /* found, not yet taken: a ring of cap */
	size_t cap, head, n;
	bool done; /* the planner ended (rc) */
	int rc;
	char msg[512];
	atomic_int stop; /* the run ends: the planner stops at its next read */
	uint64_t cs;
	bool comp;
	plan_points pts;
	spool_tee t;
	sl_csv_plan p;
	uint32_t published;
};

/* Compressed, or an S3 object, run by this process with a job store. */
static bool pipe_wanted(ingest *g)
{
	if (!g->st || g->nmf || g->stream)
		return false;
	if (g->nold)
		return true; /* a pipelined plan cut short: only a pipelined one keeps its chunks */
	const char *e = getenv("SLUICE_PIPELINE"); /* 0: plan whole first (bench/compressed.sh) */
	if (e && !strcmp(e, "0"))
		return false;
	return g->comp != SL_COMPRESSION_NONE || !strcmp(sl_source_raw(g->src)->ops->name, "s3");
}

static ssize_t pipe_read(void *ctx, char *buf, size_t cap)
{
	plan_pipe *pp = ctx;
	if (atomic_load(&pp->stop))
		return SL_INTERNAL; /* the run ended: nobody hears this */
	ssize_t n = tee_read(&pp->t, buf, cap);
	if (n > 0 && pp->comp && pp->t.fd < 0) {
		snprintf(pp->msg, sizeof pp->msg,
		         "%.300s: the spool of the decoded bytes could not be written at byte %llu"
		         " (a full disk?); what committed is kept: make room, then resume",
		         pp->g->job.file, (unsigned long long)pp->t.rd->pos);
		return SL_IO_WRITE;
	}
	return n;
}

/* Hand a found chunk to the run; waits while the queue is full. */
static int publish(plan_pipe *pp, const sl_csv_chunk *a, uint64_t length, uint64_t records)
{
	sl_chunk c = {0};
	c.seq = pp->published;
	c.offset = a->offset;
	c.length = length;
	c.hash = a->hash;
	c.first_record = a->start.records;
	c.first_line = a->start.line;
	c.records_planned = records;
	c.status = SL_CHUNK_QUEUED;
	pthread_mutex_lock(&pp->mu);
	while (pp->n == pp->cap && !atomic_load(&pp->stop))
		pthread_cond_wait(&pp->cv, &pp->mu);
	bool stopped = atomic_load(&pp->stop);
	if (!stopped) {
		pp->q[(pp->head + pp->n) % pp->cap] = c;
		pp->n++;
		pp->published++;
		pthread_cond_broadcast(&pp->cv);
	}
	pthread_mutex_unlock(&pp->mu);
	return stopped ? SL_INTERNAL : 0;
}

/* The split found a chunk's start: the one before it is complete (its
   hash final in the plan the split is building). */
static int pipe_chunk(void *ctx, uint64_t offset)
{
	plan_pipe *pp = ctx;
	int rc = pp->comp ? on_chunk(&pp->pts, offset) : 0;
	if (rc < 0 || pp->p.nchunks < 2)
		return rc;
	const sl_csv_chunk *a = &pp->p.chunks[pp->p.nchunks - 2], *b = a + 1;
	return publish(pp, a, b->offset - a->offset, b->start.records - a->start.records);
}

static void *planner_main(void *arg)
{
	plan_pipe *pp = arg;
	ingest *g = pp->g;
	int rc = sl_csv_split_read_cut(pipe_read, pp, &g->d, SL_CSV_SCAN_AUTO, pp->cs, pipe_chunk,
	                               NULL, pp, &pp->p);
	/* the last chunk: its end is the stream's */
	if (rc == 0 && pp->p.nchunks > pp->published) {
		const sl_csv_chunk *a = &pp->p.chunks[pp->p.nchunks - 1];
		rc = publish(pp, a, a->length, a->records);
	}
	if (rc == 0 && pp->published != pp->p.nchunks) {
		rc = SL_INTERNAL;
		snprintf(pp->msg, sizeof pp->msg,
		         "internal error: the pipelined plan handed out %u chunks of %zu",
		         pp->published, pp->p.nchunks);
	}
	if (rc < 0 && !pp->msg[0])
		snprintf(pp->msg, sizeof pp->msg, "%.400s (while splitting the file)",
		         pp->pts.rd->msg[0] ? pp->pts.rd->msg : sl_error_message(rc));
	pthread_mutex_lock(&pp->mu);
	pp->rc = rc;
	pp->done = true;
	pthread_cond_broadcast(&pp->cv);
	pthread_mutex_unlock(&pp->mu);
	return NULL;
}

static int pipe_start(ingest *g, uint64_t cs)
{
	int rc = 0,
	    threads = g->o->threads > 0 ? g->o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	plan_pipe *pp = calloc(1, sizeof *pp);
	if (!pp)
		return SL_NOMEM;
	pp->g = g;
	pp->cs = cs;
	pp->comp = g->comp != SL_COMPRESSION_NONE;
	pp->cap = (size_t)(threads > 0 ? threads : 1) + 1;
	pp->pts.g = g;
	/* a compressed source: the decoded bytes to the engine's spool; an S3
	   object keeps what it downloads in its own (source_s3.c), which its
	   ranged readers read as far as it goes */
	pp->t = (spool_tee){NULL, pp->comp ? spool_open(g) : -1, 0, &pp->pts};
	pthread_mutex_init(&pp->mu, NULL);
	pthread_cond_init(&pp->cv, NULL);
	atomic_init(&pp->stop, 0);
	g->pipe = pp;
	free(g->chunks);
	g->chunks = NULL;
	g->nchunks = g->chunks_cap = 0;
	if (!(pp->q = calloc(pp->cap, sizeof *pp->q)))
		return SL_NOMEM;
	sl_source_close(g->spool);
	g->spool = NULL;
	int dfd = pp->t.fd >= 0 ? dup(pp->t.fd) : -1;
	if (pp->comp && dfd < 0) {
		sl__ingest_say(g,
		               "%s: no spool for the decoded bytes in the database's directory: %s",
		               g->job.file, strerror(errno));
		return SL_IO_WRITE;
	}
	if (dfd >= 0 && (rc = sl_source_from_fd(dfd, g->job.file, &g->spool)) < 0) {
		close(dfd);
		return rc;
	}
	if ((rc = sl_source_open_seq(g->src, &pp->pts.rd)) < 0) {
		sl__ingest_say(g, "%s", g->src->msg[0] ? g->src->msg : sl_error_message(rc));
		return rc;
	}
	pp->t.rd = pp->pts.rd;
	if (pp->comp && (rc = points_begin(g, &pp->pts)) < 0)
		return rc;
	if (pthread_create(&pp->tid, NULL, planner_main, pp) != 0)
		return SL_NOMEM;
	pp->started = true;
	g->planning = true;
	return 0;
}

/* In one transaction: the plan's totals on the job, Processing, and the
   fan-in (every chunk may be committed already). */
static int tx_plan_done(ingest *g)
{
	plan_pipe *pp = g->pipe;
	int rc = sl__ingest_job_refresh(g);
	if (rc < 0 || sl_job_status_final(g->job.status))
		return rc; /* finished meanwhile (a cancel): left as it is */
	g->job.file_hash = pp->comp ? g->job.file_hash : pp->p.hash;
	g->job.chunk_size = pp->cs;
	g->job.chunks_total = pp->p.nchunks;
	g->job.bytes_total = pp->p.bytes;
	g->job.status = SL_JOB_PROCESSING;
	g->job.updated_ms = sl_now_ms();
	if ((rc = job_write(g)) < 0)
		return rc;
	return sl__ingest_fan_in(g);
}

/* The planner ended: its failure, or the plan complete and stored. */
static int pipe_finish(ingest *g)
{
	plan_pipe *pp = g->pipe;
	sl_source_stat ss;
	if (pp->started) {
		pthread_join(pp->tid, NULL);
		pp->started = false;
	}
	if (pp->finished)
		return pp->rc;
	pp->finished = true;
	int rc = pp->rc;
	if (rc < 0)
		sl__ingest_say(g, "%s", pp->msg);
	if (rc == 0 && pp->comp)
		rc = points_end(g);
	if (rc == 0 && (rc = sl_source_stat_get(g->src, &ss)) == 0 && !pp->comp &&
	    ss.size != pp->p.bytes) {
		rc = SL_IO_CHANGED;
		sl__ingest_say(
		    g, "%s changed while it was read: %llu bytes, %llu when it was opened",
		    g->job.file, (unsigned long long)pp->p.bytes, (unsigned long long)ss.size);
	}
	if (rc == 0 && pp->comp)
		g->job.file_hash = ss.raw_hash; /* the compressed bytes', as the plain plan's */
	if (rc == 0) {
		g->planning = false;
		if ((rc = sl__ingest_store_tx(g, tx_plan_done)) < 0)
			g->planning = true;
	}
	pp->rc = rc;
	return rc;
}

int sl__ingest_pipe_next(ingest *g, sl_chunk *out)
{
	plan_pipe *pp = g->pipe;
	pthread_mutex_lock(&pp->mu);
	while (!pp->n && !pp->done)
		pthread_cond_wait(&pp->cv, &pp->mu);
	if (pp->n) {
		*out = pp->q[pp->head];
		pp->head = (pp->head + 1) % pp->cap;
		pp->n--;
		pthread_cond_broadcast(&pp->cv);
		pthread_mutex_unlock(&pp->mu);
		return 1;
	}
	pthread_mutex_unlock(&pp->mu);
	return pipe_finish(g);
}

void sl__ingest_pipe_stop(ingest *g)
{
	plan_pipe *pp = g->pipe;
	if (!pp)
		return;
	pthread_mutex_lock(&pp->mu);
	atomic_store(&pp->stop, 1);
	pthread_cond_broadcast(&pp->cv);
	pthread_mutex_unlock(&pp->mu);
	if (pp->started)
		pthread_join(pp->tid, NULL);
	/* a plan not complete: its access points are made again next time */
	if (!pp->finished || pp->rc < 0)
		sl__ingest_points_close(g, true);
	if (pp->t.fd >= 0)
		close(pp->t.fd);
	sl_source_reader_close(pp->pts.rd);
	sl_buf_free(&pp->pts.cur);
	sl_buf_free(&pp->pts.last);
	sl_csv_plan_free(&pp->p);
	free(pp->q);
	pthread_mutex_destroy(&pp->mu);
	pthread_cond_destroy(&pp->cv);
	free(pp);
	g->pipe = NULL;
}

int sl__ingest_plan(ingest *g)
{
	sl_csv_plan p;
	int rc;
	uint64_t cs = g->o->chunk_size ? g->o->chunk_size : DEFAULT_CHUNK;
	g->job.status = SL_JOB_CHUNKING;
	/* chunks an earlier pipelined run of this job stored (and committed)
	   before it was killed: the plan is made again, the same, and keeps
	   them; it must cut where that run cut */
	free(g->old);
	g->old = NULL;
	g->nold = 0;
	if (g->st && (rc = sl_js_chunks_get(g->st, g->job.id, &g->old, &g->nold)) < 0)
		return rc;
	if (g->nold && g->job.chunk_size)
		cs = g->job.chunk_size;
	if (pipe_wanted(g)) {
		g->job.chunk_size = cs; /* recorded now: a resume cuts the same chunks */
		if ((rc = sl__ingest_store_tx(g, sl__ingest_tx_job_update)) < 0)
			return rc;
		return pipe_start(g, cs);
	}
	if ((rc = sl__ingest_store_tx(g, sl__ingest_tx_job_update)) < 0)
		return rc;
	plan_points pp = {.g = g};
	sl_source_stat ss;
	bool comp = g->comp != SL_COMPRESSION_NONE;
	/* a compressed file is decoded once here: into the spool, for this
	   run's chunks, and its access points kept, for later runs'; a stream
	   is read once: the spool is all there is */
	spool_tee t = {NULL, comp || g->stream ? spool_open(g) : -1, 0, &pp};
	if (g->stream && t.fd < 0) {
		sl__ingest_say(g, "%s: no spool for the stream in the database's directory: %s",
		               g->job.file, strerror(errno));
		return SL_IO_WRITE;
	}
	if ((rc = sl_source_open_seq(g->src, &pp.rd)) < 0)
		goto split_failed;
	t.rd = pp.rd;
	if (comp && (rc = points_begin(g, &pp)) < 0)
		goto split_failed;
	if (comp || g->stream)
		rc = sl_csv_split_read_cut(tee_read, &t, &g->d, SL_CSV_SCAN_AUTO, cs,
		                           comp ? tee_chunk : NULL, g->nmf ? tee_cut : NULL, &t, &p);
	else
		rc = sl_csv_split_read_cut(sl_source_read_fn, pp.rd, &g->d, SL_CSV_SCAN_AUTO, cs, NULL,
		                           g->nmf ? src_cut : NULL, g->src, &p);
	sl_trace("split and hashed: %zu chunks", rc == 0 ? p.nchunks : 0);
	if (rc == 0 && g->comp != SL_COMPRESSION_NONE)
		rc = points_end(g);
	if (rc == 0 && (rc = sl_source_stat_get(g->src, &ss)) == 0 &&
	    g->comp == SL_COMPRESSION_NONE && ss.size != p.bytes)
		rc = SL_IO_CHANGED; /* the file grew or shrank while it was read */
split_failed:
	if (rc < 0 && !g->msg[0] && pp.rd && pp.rd->msg[0])
		sl__ingest_say(g, "%s (while splitting the file)", pp.rd->msg);
	else if (rc < 0 && !g->msg[0])
		sl__ingest_say(g, "%s: %s while splitting the file", g->job.file,
		               sl_error_message(rc));
	sl_source_reader_close(pp.rd);
	sl_buf_free(&pp.cur);
	sl_buf_free(&pp.last);
	if (rc < 0) {
		if (t.fd >= 0)
			close(t.fd);
		if (rc != SL_NOMEM) /* planned again from scratch next time */
			sl__ingest_points_close(g, true);
		return rc;
	}
	sl_source_close(g->spool);
	g->spool = NULL;
	spool_take(g, t.fd, p.bytes);
	if (g->stream && !g->spool) {
		sl_csv_plan_free(&p);
		sl__ingest_say(g, "%s: the spool of the stream could not be written (a full disk?)",
		               g->job.file);
		return SL_IO_WRITE;
	}
	if (g->stream) /* its size is known now: what was read */
		g->job.file_size = ss.raw_size;
	if (g->stream && g->keep_fd >= 0)
		keep_stream(g);
	free(g->chunks);
	g->chunks = calloc(p.nchunks ? p.nchunks : 1, sizeof *g->chunks);
	if (!g->chunks) {
		sl_csv_plan_free(&p);
		return SL_NOMEM;
	}
	g->nchunks = p.nchunks;
	for (size_t i = 0; i < p.nchunks; i++) {
		sl_chunk *c = &g->chunks[i];
		c->seq = (uint32_t)i;
		c->offset = p.chunks[i].offset;
		c->length = p.chunks[i].length;
		c->hash = p.chunks[i].hash;
		c->first_record = p.chunks[i].start.records;
		c->first_line = p.chunks[i].start.line;
		c->records_planned = p.chunks[i].records;
		c->status = SL_CHUNK_QUEUED;
	}
	/* the fingerprint is the file's: for a compressed one the hash of its
	   compressed bytes (the decoder hashed them on the way), the plan
	   holds the decompressed size (bytes_total) and the chunks' hashes */
	g->job.file_hash = g->comp == SL_COMPRESSION_NONE || g->nmf ? p.hash : ss.raw_hash;
	g->job.chunk_size = cs;
	g->job.chunks_total = p.nchunks;
	g->job.bytes_total = p.bytes;
	g->job.status = SL_JOB_QUEUED;
	g->job.updated_ms = sl_now_ms();
	sl_csv_plan_free(&p);
	if ((rc = sl__multi_planned(g)) < 0) /* a set: its files' places, in the manifest */
		return rc;
	return g->st ? sl__ingest_store_tx(g, tx_chunks) : 0;
}

/* The file as the job must see it: same size and modification time. */
int sl__ingest_fingerprint_ok(ingest *g, const struct stat *st)
{
	char how[160];
	if (!sl__ingest_what_changed(g, st, how, sizeof how))
		return 0;
	sl__ingest_say(g, "%s changed since job %s was planned: %s; start a new job with --new",
	               g->job.file, g->job.id, how);
	return SL_IO_CHANGED;
}

/* The dialect of this run: the job's own when it has one (a resume reads
   the file as it was started), else the schema's with the caller's
   overrides; as text for the job (its identity, with the content). */
int sl__ingest_effective_dialect(ingest *g, bool job_known)
{
	const sl_ingest_opts *o = g->o;
	sl_schema *sc = g->schema;
	g->d = o->dialect ? *o->dialect : sc->dialect;
	sc->null_padding |= o->null_padding;
	if (o->has_nulls) {
		char **n = calloc(o->nnulls ? o->nnulls : 1, sizeof *n);
		if (!n)
			return SL_NOMEM;
		for (size_t i = 0; i < sc->nnulls; i++)
			free(sc->nulls[i]);
		free(sc->nulls);
		sc->nulls = n;
		sc->nnulls = 0;
		for (size_t i = 0; i < o->nnulls; i++, sc->nnulls++) /* the schema frees them */
			if (!(n[i] = strdup(o->nulls[i])))
				return SL_NOMEM;
	}
	if (job_known && g->job.dialect) {
		char **n = NULL;
		size_t nn = 0;
		int rc = sl__dialect_parse(g->job.dialect, &g->d, &sc->null_padding, &n, &nn);
		if (rc < 0 || !n) {
			for (size_t i = 0; i < nn; i++)
				free(n[i]);
			free(n);
			sl__ingest_say(g, "job %s: its recorded dialect '%.200s' cannot be read",
			               g->job.id, g->job.dialect);
			return rc < 0 ? rc : SL_INTERNAL;
		}
		for (size_t i = 0; i < sc->nnulls; i++)
			free(sc->nulls[i]);
		free(sc->nulls);
		sc->nulls = n;
		sc->nnulls = nn;
	}
	const char *why;
	if (sl_csv_dialect_check(&g->d, &why)) {
		sl__ingest_say(g, "dialect: %s", why);
		return SL_CONFIG;
	}
	g->lenient = g->d.lenient_quotes;
	g->pad = sc->null_padding || g->lenient;
	return sl__dialect_text(&g->d, sc->null_padding, sc->nulls, sc->nnulls, &g->dialect_text);
}

/* XXH3-64 of the whole file (what planning computes), for comparing with
   earlier jobs before a new one is planned. */
static int file_hash(sl_source *raw, uint64_t *out)
{
	XXH3_state_t *xx = XXH3_createState();
	char *buf = malloc(1u << 20);
	sl_source_reader *r = NULL;
	int rc = 0;
	if (!xx || !buf) {
		rc = SL_NOMEM;
		goto out;
	}
	XXH3_64bits_reset(xx);
	if ((rc = sl_source_open_seq(raw, &r)) < 0)
		goto out;
	for (;;) {
		ssize_t n = sl_source_read(r, buf, 1u << 20);
		if (n < 0) {
			rc = (int)n;
			goto out;
		}
		if (n == 0)
			break;
		XXH3_64bits_update(xx, buf, (size_t)n);
	}
	*out = XXH3_64bits_digest(xx);
out:
	sl_source_reader_close(r);
	XXH3_freeState(xx);
	free(buf);
	return rc;
}

/* Has a finished job loaded this content already (same size and hash,
   schema, dialect, table)? 1 and *prev, 0 no. Only a candidate of the same
   size makes the file be read for its hash. */
int sl__ingest_find_loaded(ingest *g, const struct stat *st, sl_job *prev)
{
	uint64_t size = (uint64_t)st->st_size, h;
	int rc = sl_js_job_find_loaded(g->st, g->schema->table, g->schema->hash, size, NULL,
	                                 g->dialect_text, prev);
	if (rc <= 0)
		return rc;
	sl_job_clear(prev);
	if ((rc = file_hash(sl_source_raw(g->src), &h)) < 0) {
		sl__ingest_say(g, "%s: %s", g->job.file ? g->job.file : "the file",
		               strerror(errno));
		return rc;
	}
	rc = sl_js_job_find_loaded(g->st, g->schema->table, g->schema->hash, size, &h,
	                             g->dialect_text, prev);
	if (rc == 1 && g->job.id[0] && !strcmp(prev->id, g->job.id))
		rc = 0; /* itself (cannot be: it is not finished) */
	return rc;
}

/* An upload's job whose content was loaded already: finish it pointing at
   the earlier job, with that job's status, loading nothing. */
int sl__ingest_tx_same_as(ingest *g)
{
	sl_job *j = &g->job;
	sl_event ev = {j->id, -1, "job_end", 0, 0, 0, 0, j->error_message};
	int rc = sl_js_job_update(g->st, j);
	return rc < 0 ? rc : sl_js_event_insert(g->st, &ev);
}
