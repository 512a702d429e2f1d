/*
 * Fix and refeed (sluice/refeed.h, docs/ingest.md): a finished job's
 * rejected rows become the input of a new job.
 *
 * sl_refeed_prepare() takes the open rejected rows of the first job in one
 * transaction of the store (refeed_claim: no other refeed can take them or
 * a copy of them meanwhile; the store numbers them in record order and
 * gives each its byte offset in the input: the first file's header record,
 * then each row's raw bytes and a line feed) and records the new job,
 * Accepted, with the first job's dialect, so the rows are read the way
 * they were read the first time, whoever runs the job (the CLI at once,
 * the service's runners later). Its file is `refeed://FIRST`, its size and
 * time the claim's. A kill before that commit leaves nothing; a kill after
 * it leaves an Accepted (or unfinished) job that `sluice resume` or the
 * service's restart runs, its rows held for it.
 *
 * The input is a source (sl__refeed_source, over source_rows.c): the rows
 * the refeed job holds, read straight from the job store by offset on a
 * connection of the source's own (chunks are read on worker threads while
 * the job's connection commits), so planning, chunks, resume and retry
 * read it as they read a file, and nothing is copied to disk. The source
 * module does not know the store: it gets the read op from here.
 *
 * The run is sl_ingest()'s like any other. Its end (write_end in
 * chunk_run.c, in the transaction that writes the final status, whoever
 * finishes it) settles it: the store marks the rows it loaded resolved, in
 * the first job and in every copy of them, and frees those it read. A
 * rollback of the refeed job gives back what it resolved (ingest.c calls
 * refeed_settle in the rollback's transaction too). A refeed job recorded
 * before inputs were sources names a file (DB.refeed-JOB.csv), which is
 * read as a file and removed at its end as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/ingest_int.h"
#include "sluice/refeed.h"

#define HEADER_MAX (16u << 20) /* a header record longer than this is refused */

#define REFEED_SCHEME "refeed://"

/* The header of the first job's file (when its dialect has one): the raw
   bytes of its header record, read with that dialect from the file, which
   must still be as the job planned it (size and modification time). */
static int file_header(const sl_job *j, char **out, size_t *n, char *msg, size_t msglen)
{
	sl_csv_dialect d;
	sl_csv_reader *rd = NULL;
	char **nulls = NULL;
	size_t nn = 0;
	bool pad = false;
	int fd = -1, rc = 0;
	char *first = NULL;
	*out = NULL;
	*n = 0;
	sl_csv_dialect_init(&d);
	if (j->dialect && (rc = sl__dialect_parse(j->dialect, &d, &pad, &nulls, &nn)) < 0) {
		snprintf(msg, msglen, "job %s: its dialect '%.200s' cannot be read", j->id,
		         j->dialect);
		goto out;
	}
	if (!d.header)
		goto out;
	/* a job of several files: the first file's header (every file has it),
	   that file's size and time from the manifest (docs/ingest.md) */
	const char *path = j->file;
	uint64_t size = j->file_size;
	long long mtime = j->file_mtime_ns;
	unsigned long long fsz = 0;
	const char *nl = j->files ? strchr(j->files, '\n') : NULL;
	if (nl && sscanf(j->files, "%llu\t%lld", &fsz, &mtime) == 2 &&
	    (first = strndup(j->files, (size_t)(nl - j->files))) && strrchr(first, '\t')) {
		path = strrchr(first, '\t') + 1;
		size = fsz;
	}
	struct stat sb;
	if (!path || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) < 0 ||
	    (uint64_t)sb.st_size != size ||
	    (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec != mtime) {
		rc = SL_IO_CHANGED;
		snprintf(
		    msg, msglen,
		    "%s: the header of job %s's file cannot be read: the file %s since the job "
		    "read it (a refeed starts its input with that header)",
		    path ? path : "?", j->id, fd < 0 ? "is gone" : "changed");
		goto out;
	}
	sl_fd_range range = {fd, 0, (uint64_t)sb.st_size};
	sl_csv_record rec;
	if ((rc = sl_csv_reader_new(&d, SL_CSV_SCAN_AUTO, sl_fd_range_read, &range, 0, &rd)) < 0)
		goto out;
	if ((rc = sl_csv_reader_next(rd, &rec)) < 0) {
		snprintf(msg, msglen, "%s: %s while reading its header", path,
		         sl_error_message(rc));
		goto out;
	}
	if (rc == 0 || !rec.is_header)
		goto out; /* an empty file: no rows either */
	if (rec.raw.n > HEADER_MAX || !(*out = malloc(rec.raw.n + 2))) {
		rc = rec.raw.n > HEADER_MAX ? SL_LIMIT : SL_NOMEM;
		goto out;
	}
	memcpy(*out, rec.raw.p, rec.raw.n);
	(*out)[rec.raw.n] = '\n';
	(*out)[rec.raw.n + 1] = 0;
	*n = rec.raw.n + 1;
	rc = 0;
out:
	sl_csv_reader_free(rd);
	free(first);
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; i < nn; i++)
		free(nulls[i]);
	free(nulls);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

int sl_refeed_prepare(const sl_refeed_opts *o, sl_job *job, char *msg, size_t msglen)
{
	sl_jobstore *st = NULL;
	sl_schema *sc = NULL;
	sl_job first = {0};
	sl_refeed_input in = {0}, prev = {0};
	char *header = NULL, err[512] = "";
	size_t hlen = 0;
	bool tx = false;
	memset(job, 0, sizeof *job);
	msg[0] = 0;
	int rc = sl_jobstore_open(o->db, 0, &st, msg, msglen);
	if (rc < 0)
		goto out;
	if ((rc = sl_js_job_get(st, o->job_id, &first)) <= 0) {
		if (rc == 0)
			snprintf(msg, msglen, "no job %s", o->job_id);
		else
			snprintf(msg, msglen, "database: %s", sl_js_errmsg(st));
		rc = rc == 0 ? SL_NOT_FOUND : rc;
		goto out;
	}
	if (!sl_job_status_final(first.status) || first.status == SL_JOB_ROLLEDBACK ||
	    first.same_as[0]) {
		rc = SL_CONFLICT;
		if (first.same_as[0])
			snprintf(
			    msg, msglen,
			    "job %s loaded nothing itself (job %s had loaded the same content): "
			    "refeed job %s",
			    first.id, first.same_as, first.same_as);
		else
			snprintf(
			    msg, msglen,
			    first.status == SL_JOB_ROLLEDBACK
			        ? "job %s is %s: its rows are gone; load the file again instead"
			        : "job %s is %s: let it finish (or cancel it) before a refeed",
			    first.id, sl_job_status_name(first.status));
		goto out;
	}
	const char *schema_path = o->schema_path ? o->schema_path : first.schema_path;
	if (!schema_path || (rc = sl_schema_load(schema_path, &sc, err, sizeof err)) < 0) {
		rc = SL_CONFIG; /* a missing or unreadable schema is a configuration error */
		snprintf(msg, msglen, "%s", err[0] ? err : "the job has no schema");
		goto out;
	}
	if (!first.table || strcmp(sc->table, first.table)) {
		rc = SL_CONFIG;
		snprintf(msg, msglen,
		         "%s loads table %s, job %s loaded %s: a refeed loads into the same table",
		         schema_path, sc->table, first.id, first.table ? first.table : "?");
		goto out;
	}
	if (o->mode != SL_MODE_DEFAULT)
		sc->mode = o->mode; /* the caller's over the schema's (sl__job_init keeps it) */
	/* the input's header: a refeed's own, or the first file's */
	if ((rc = sl_js_refeed_input(st, first.id, &prev)) < 0) {
		snprintf(msg, msglen, "database: %s", sl_js_errmsg(st));
		goto out;
	}
	if (rc == 1) {
		header = prev.header;
		hlen = prev.header_len;
		prev.header = NULL;
	} else if ((rc = file_header(&first, &header, &hlen, msg, msglen)) < 0) {
		goto out;
	}
	if (o->new_id)
		snprintf(job->id, sizeof job->id, "%s", o->new_id);
	else
		sl_job_new_id(job->id);
	char id[SL_JOB_ID_LEN];
	memcpy(id, job->id, sizeof id);
	/* the rows are taken and the job recorded in one transaction: a
	   failure anywhere leaves the rows open */
	if ((rc = sl_txn_begin(st->txn)) < 0)
		goto db_fail;
	tx = true;
	if ((rc = sl_js_refeed_claim(st, first.id, id, sl_str_make(header, hlen), &in)) < 0)
		goto db_fail;
	if (in.rows == 0) {
		rc = SL_NO_OPEN_REJECTS;
		uint64_t resolved = first.rejects_resolved < first.rows_rejected
		                        ? first.rejects_resolved
		                        : first.rows_rejected;
		snprintf(
		    msg, msglen,
		    "job %s has no open rejected rows to refeed (%llu rejected, %llu loaded by "
		    "refeeds; rows a refeed still holds and CSV_ROW_TOO_LONG rows are not taken)",
		    first.id, (unsigned long long)first.rows_rejected,
		    (unsigned long long)resolved);
		goto out;
	}
	/* the job's fingerprint is the claim's: the input's size, and its time */
	char name[SL_JOB_ID_LEN + 16];
	snprintf(name, sizeof name, REFEED_SCHEME "%s", first.id);
	struct stat sb;
	memset(&sb, 0, sizeof sb);
	sb.st_size = (off_t)in.bytes;
	sb.st_mtim.tv_sec = (time_t)(in.created_ms / 1000);
	sb.st_mtim.tv_nsec = (long)(in.created_ms % 1000) * 1000000;
	if ((rc = sl__job_init(job, name, &sb, sc, schema_path, o->correlation_id)) < 0)
		goto out;
	memcpy(job->id, id, sizeof job->id);
	if (first.dialect && !(job->dialect = strdup(first.dialect))) {
		rc = SL_NOMEM;
		goto out;
	}
	/* the rows are stored decoded: not the first file's compression */
	char *comp = job->dialect ? strstr(job->dialect, " compression=") : NULL;
	if (comp) {
		char *end = strchr(comp + 1, ' ');
		memmove(comp, end ? end : comp + strlen(comp),
		        strlen(end ? end : comp + strlen(comp)) + 1);
	}
	snprintf(job->refeed_of, sizeof job->refeed_of, "%s", first.id);
	char what[160];
	snprintf(what, sizeof what, "refeed of job %s: %llu rejected rows", first.id,
	         (unsigned long long)in.rows);
	sl_event ev = {id, -1, "refeed", in.rows, 0, 0, 0, what};
	if ((rc = sl_js_job_insert(st, job)) < 0 || (rc = sl_js_event_insert(st, &ev)) < 0 ||
	    (rc = sl_txn_commit(st->txn)) < 0)
		goto db_fail;
	tx = false;
	goto out;
db_fail:
	snprintf(msg, msglen, "database: %s", sl_js_errmsg(st));
out:
	if (tx)
		sl_txn_rollback(st->txn);
	if (rc < 0)
		sl_job_clear(job);
	sl_job_clear(&first);
	sl_schema_free(sc);
	sl_refeed_input_clear(&prev);
	free(header);
	if (st)
		sl_js_close(st);
	return rc;
}

/* --- the input as a source -------------------------------------------------- */

/* The provider of source_rows.c: the rows refeed job `id` holds, read on a
   connection of its own (opened at the first read), one reader at a time. */
typedef struct rows_provider {
	pthread_mutex_t mu;
	sl_jobstore *st;
	char *db;
	int busy_ms;
	char id[SL_JOB_ID_LEN];
} rows_provider;

static int provider_read(void *ctx, uint64_t off, int (*emit)(void *ectx, uint64_t off, sl_str raw),
                         void *ectx, char *msg, size_t msglen)
{
	rows_provider *p = ctx;
	int rc = 0;
	pthread_mutex_lock(&p->mu);
	if (!p->st)
		rc = sl_jobstore_open(p->db, p->busy_ms, &p->st, msg, msglen);
	if (rc == 0 && (rc = sl_js_refeed_read(p->st, p->id, off, 256u << 10, emit, ectx)) < 0)
		snprintf(msg, msglen, "the rows of refeed job %s: %s", p->id, sl_js_errmsg(p->st));
	pthread_mutex_unlock(&p->mu);
	return rc;
}

static void provider_close(void *ctx)
{
	rows_provider *p = ctx;
	if (!p)
		return;
	if (p->st)
		sl_js_close(p->st);
	pthread_mutex_destroy(&p->mu);
	free(p->db);
	free(p);
}

static const sl_rows_ops provider_ops = {provider_read, provider_close};

bool sl__refeed_is_source(const sl_job *j)
{
	return j->refeed_of[0] && j->file &&
	       !strncmp(j->file, REFEED_SCHEME, strlen(REFEED_SCHEME));
}

int sl__refeed_source(ingest *g)
{
	sl_refeed_input in = {0};
	rows_provider *p = NULL;
	int rc = sl_js_refeed_input(g->st, g->job.id, &in);
	if (rc <= 0) {
		if (rc == 0)
			sl__ingest_say(g, "job %s reads %s, but its claim of rows is gone",
			               g->job.id, g->job.file);
		else
			sl__ingest_say(g, "database: %s", sl_js_errmsg(g->st));
		rc = rc == 0 ? SL_IO_CHANGED : rc;
		goto out;
	}
	if (!(p = calloc(1, sizeof *p)) || !(p->db = strdup(g->o->db ? g->o->db : "sluice.db"))) {
		free(p);
		rc = SL_NOMEM;
		goto out;
	}
	pthread_mutex_init(&p->mu, NULL);
	p->busy_ms = g->o->busy_timeout_ms;
	memcpy(p->id, g->job.id, sizeof p->id);
	sl_rows_desc d = {g->job.file, sl_str_make(in.header, in.header_len), in.bytes,
	                  in.created_ms * 1000000, in.hash};
	rc = sl_source_rows_new(&d, &provider_ops, p, &g->src); /* p is the source's now */
	g->comp = SL_COMPRESSION_NONE;                          /* the rows are as read */
out:
	sl_refeed_input_clear(&in);
	return rc;
}

void sl__refeed_input_done(const sl_job *j)
{
	/* every chunk ran (or none was planned: a job that failed before):
	   nothing is left that a retry would read */
	if (j->refeed_of[0] && j->file && !sl__refeed_is_source(j) &&
	    (j->status == SL_JOB_ROLLEDBACK ||
	     (sl_job_status_final(j->status) && !j->chunks_failed &&
	      j->chunks_succeeded == j->chunks_total)))
		unlink(j->file);
}
