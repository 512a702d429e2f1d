/*
 * Fix and refeed (sluice/refeed.h, docs/ingest.md): a finished job's
 * rejected rows become the input of a new job.
 *
 * sl_refeed_prepare() takes the open rejected rows of the first job in one
 * transaction of the store (refeed_claim: no other refeed can take them or
 * a copy of them meanwhile), writes them to the new job's input file (the
 * first file's header record, then each row's raw bytes, each with a line
 * feed, in record order) and records the new job, Accepted, with the first job's
 * dialect, so the rows are read the way they were read the first time,
 * whoever runs the job (the CLI at once, the service's runners later). A
 * kill before that commit leaves nothing but, at worst, the input file; a
 * kill after it leaves an Accepted (or unfinished) job that `sluice resume`
 * or the service's restart runs, its rows held for it.
 *
 * The run is sl_ingest()'s like any other. Its end (write_end in
 * chunk_run.c, in the transaction that writes the final status, whoever
 * finishes it) settles it: the store
 * marks the rows it loaded resolved, in the first job and in every copy of
 * them, and frees those it read. A rollback of the refeed job gives back
 * what it resolved (ingest.c calls refeed_settle in the rollback's
 * transaction too). Then the input file goes, unless chunks are left for a
 * retry.
 *
 * The input is a temporary file for now; it becomes a source (the
 * rejected rows read from the job store) once the engine reads through the
 * source interface.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/ingest_int.h"
#include "sluice/refeed.h"

#define HEADER_MAX (16u << 20) /* a header record longer than this is refused */

typedef struct input {
	FILE *f;
	uint64_t bytes;
} input;

static int put_row(void *ctx, sl_str raw)
{
	input *in = ctx;
	if (fwrite(raw.p, 1, raw.n, in->f) != raw.n || fputc('\n', in->f) == EOF)
		return SL_IO_WRITE;
	in->bytes += raw.n + 1;
	return 0;
}

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
	input in = {NULL, 0};
	char *header = NULL, *real = NULL, path[4200] = "", err[512] = "";
	size_t hlen = 0;
	bool tx = false;
	uint64_t n = 0;
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
	/* the input's header: a refeed's own, or the first file's */
	if ((rc = sl_js_refeed_header(st, first.id, &header, &hlen)) < 0) {
		snprintf(msg, msglen, "database: %s", sl_js_errmsg(st));
		goto out;
	}
	if (rc == 0 && (rc = file_header(&first, &header, &hlen, msg, msglen)) < 0)
		goto out;
	if (o->new_id)
		snprintf(job->id, sizeof job->id, "%s", o->new_id);
	else
		sl_job_new_id(job->id);
	char id[SL_JOB_ID_LEN];
	memcpy(id, job->id, sizeof id);
	/* a URI (postgres://) is no place for a file: the caller's directory */
	if (o->input_dir)
		snprintf(path, sizeof path, "%s/refeed-%s.csv", o->input_dir, id);
	else if (o->db && strstr(o->db, "://"))
		snprintf(path, sizeof path, "sluice-refeed-%s.csv", id);
	else
		snprintf(path, sizeof path, "%s.refeed-%s.csv", o->db ? o->db : "sluice.db", id);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || !(in.f = fdopen(fd, "w"))) {
		rc = SL_IO_WRITE;
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		path[0] = 0; /* not ours to remove */
		goto out;
	}
	if (hlen && fwrite(header, 1, hlen, in.f) != hlen) {
		rc = SL_IO_WRITE;
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		goto out;
	}
	/* the rows are taken, the input written and the job recorded in one
	   transaction: a failure anywhere leaves the rows open */
	if ((rc = sl_txn_begin(st->txn)) < 0)
		goto db_fail;
	tx = true;
	if ((rc = sl_js_refeed_claim(st, first.id, id, sl_str_make(header, hlen), put_row, &in,
	                             &n)) < 0) {
		if (rc == SL_IO_WRITE)
			snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		else
			goto db_fail;
		goto out;
	}
	if (n == 0) {
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
	if (fflush(in.f) != 0 || fsync(fileno(in.f)) != 0) {
		rc = SL_IO_WRITE;
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		goto out;
	}
	struct stat sb;
	if (fstat(fileno(in.f), &sb) != 0 || !(real = realpath(path, NULL))) {
		rc = SL_IO_OPEN;
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((rc = sl__job_init(job, real, &sb, sc, schema_path, o->correlation_id)) < 0)
		goto out;
	memcpy(job->id, id, sizeof job->id);
	if (first.dialect && !(job->dialect = strdup(first.dialect))) {
		rc = SL_NOMEM;
		goto out;
	}
	snprintf(job->refeed_of, sizeof job->refeed_of, "%s", first.id);
	char what[160];
	snprintf(what, sizeof what, "refeed of job %s: %llu rejected rows", first.id,
	         (unsigned long long)n);
	sl_event ev = {id, -1, "refeed", n, 0, 0, 0, what};
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
	if (in.f && fclose(in.f) != 0 && rc == 0) {
		rc = SL_IO_WRITE;
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
	}
	if (rc < 0 && path[0])
		unlink(path); /* nothing points at it */
	if (rc < 0)
		sl_job_clear(job);
	sl_job_clear(&first);
	sl_schema_free(sc);
	free(header);
	free(real);
	if (st)
		sl_js_close(st);
	return rc;
}

void sl__refeed_input_done(const sl_job *j)
{
	/* every chunk ran (or none was planned: a job that failed before):
	   nothing is left that a retry would read */
	if (j->refeed_of[0] && j->file &&
	    (j->status == SL_JOB_ROLLEDBACK ||
	     (sl_job_status_final(j->status) && !j->chunks_failed &&
	      j->chunks_succeeded == j->chunks_total)))
		unlink(j->file);
}
