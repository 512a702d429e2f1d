/*
 * Planning a job: the run's effective dialect, the header mapped to the
 * schema's columns, the file fingerprinted (size, modification time, XXH3)
 * and split into chunks at record boundaries, the job and its chunks stored;
 * and the checks a resume makes against that plan (the same file, a content
 * loaded already).
 */
#include <errno.h>
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
	sl_fd_range range = {g->fd, 0, g->job.file_size};
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
	if ((rc = sl_csv_reader_new(&g->d, SL_CSV_SCAN_AUTO, sl_fd_range_read, &range, 1u << 16, &rd)) < 0)
		goto out;
	rc = sl_csv_reader_next(rd, &rec);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		rc = SL_FATAL_HEADER;
		sl__ingest_say(g, "the file is empty: no header row to match the schema's columns against");
		goto out;
	}
	/* the fields the header line really has, whatever the first data record says */
	g->expected = rec.nfields_seen;
	if (rec.error) {
		rc = SL_FATAL_HEADER;
		sl__ingest_say(g, "the header row (line %llu) is malformed: %s (%s)", (unsigned long long)rec.line,
		    sl_error_message(rec.error), sl_error_name(rec.error));
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
	return rc;
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

int sl__ingest_tx_job_update(ingest *g)
{
	g->job.updated_ms = sl_now_ms();
	return g->st ? sl_js_job_update(g->st, &g->job) : 0;
}

int sl__ingest_tx_job_insert(ingest *g)
{
	return sl_js_job_insert(g->st, &g->job);
}

static int tx_chunks(ingest *g)
{
	int rc = sl_js_chunks_replace(g->st, g->job.id, g->chunks, g->nchunks);
	return rc < 0 ? rc : sl_js_job_update(g->st, &g->job);
}

int sl__ingest_plan(ingest *g)
{
	sl_csv_plan p;
	int rc;
	g->job.status = SL_JOB_CHUNKING;
	if ((rc = sl__ingest_store_tx(g, sl__ingest_tx_job_update)) < 0)
		return rc;
	uint64_t cs = g->o->chunk_size ? g->o->chunk_size : DEFAULT_CHUNK;
	if ((rc = sl_csv_split(g->fd, &g->d, SL_CSV_SCAN_AUTO, cs, &p)) < 0) {
		sl__ingest_say(g, "%s: %s while splitting the file", g->job.file, sl_error_message(rc));
		return rc;
	}
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
	g->job.file_hash = p.hash;
	g->job.chunk_size = cs;
	g->job.chunks_total = p.nchunks;
	g->job.bytes_total = p.bytes;
	g->job.status = SL_JOB_QUEUED;
	g->job.updated_ms = sl_now_ms();
	sl_csv_plan_free(&p);
	return g->st ? sl__ingest_store_tx(g, tx_chunks) : 0;
}

/* The file as the job must see it: same size and modification time. */
int sl__ingest_fingerprint_ok(ingest *g, const struct stat *st)
{
	char how[160];
	if (!sl__ingest_what_changed(g, st, how, sizeof how))
		return 0;
	sl__ingest_say(g, "%s changed since job %s was planned: %s; start a new job with --new", g->job.file,
	    g->job.id, how);
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
			sl__ingest_say(g, "job %s: its recorded dialect '%.200s' cannot be read", g->job.id,
			    g->job.dialect);
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
static int file_hash(int fd, uint64_t *out)
{
	XXH3_state_t *xx = XXH3_createState();
	char *buf = malloc(1u << 20);
	int rc = 0;
	if (!xx || !buf) {
		rc = SL_NOMEM;
		goto out;
	}
	XXH3_64bits_reset(xx);
	for (off_t off = 0;;) {
		ssize_t n = pread(fd, buf, 1u << 20, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = SL_IO_READ;
			goto out;
		}
		if (n == 0)
			break;
		XXH3_64bits_update(xx, buf, (size_t)n);
		off += n;
	}
	*out = XXH3_64bits_digest(xx);
out:
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
	if ((rc = file_hash(g->fd, &h)) < 0) {
		sl__ingest_say(g, "%s: %s", g->job.file ? g->job.file : "the file", strerror(errno));
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
