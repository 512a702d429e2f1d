/*
 * The job routes: a job (or one of its chunks) by id, its chunks, the job
 * list with its filters and cursor, the rejected rows as a download, and
 * retry, cancel and rollback. A job just accepted is answered from the
 * acceptor's pending list until it is in the store (http_accept.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "base/base.h"
#include "http/http_reply.h"

typedef http_req req;

#define CANCEL_WAIT_S                                                                              \
	25 /* a cancel waits this long for the write lock (the store waits 5 s a try) */
typedef http_body body;

typedef struct find_upload {
	const http_srv *s;
	const char *uid;
	char job[SL_JOB_ID_LEN];
} find_upload;

static int match_upload(void *ctx, const sl_job *j)
{
	find_upload *fu = ctx;
	char uid[SL_JOB_ID_LEN];
	http_upload_of(fu->s, j, uid, sizeof uid);
	if (strcmp(uid, fu->uid))
		return 0;
	snprintf(fu->job, sizeof fu->job, "%s", j->id);
	return 1;
}

/* The job a path names: a job id, or an upload id ("u...", the name of
   the upload's file) followed to its job through the store. 1 and job[],
   0 when there is none. */
int http_job_load(http_srv *s, const char *id, sl_job *j, sl_chunk **chunks, size_t *n, char *msg,
                  size_t msglen)
{
	sl_reader *rd = NULL;
	pthread_mutex_lock(&s->rd_mu);
	if (s->nreaders)
		rd = s->readers[--s->nreaders];
	pthread_mutex_unlock(&s->rd_mu);
	int rc = rd ? 0 : sl_reader_open(s->o.db, &rd, msg, msglen);
	if (rc < 0) {
		memset(j, 0, sizeof *j);
		return rc;
	}
	rc = sl_reader_job(rd, id, j, chunks, n, msg, msglen);
	if (rc < 0 && rc != SL_NOT_FOUND) {
		/* a connection that failed is not kept: the next one starts afresh */
		sl_reader_close(rd);
		return rc;
	}
	pthread_mutex_lock(&s->rd_mu);
	if (s->nreaders < HTTP_READERS) {
		s->readers[s->nreaders++] = rd;
		rd = NULL;
	}
	pthread_mutex_unlock(&s->rd_mu);
	sl_reader_close(rd);
	return rc;
}

int http_resolve_job(http_srv *s, const char *id, char *job)
{
	job[0] = 0;
	if (id[0] != 'u') {
		snprintf(job, SL_JOB_ID_LEN, "%s", id);
		http_pending_alias(s, id, job); /* a repeat of another server's job */
		return 1;
	}
	/* an upload's name is 'u' + its job id's digits */
	char msg[512];
	sl_job j;
	snprintf(job, SL_JOB_ID_LEN, "j%s", id + 1);
	if (http_pending_alias(s, job, job))
		return 1;
	if (http_pending_job(s, job, &j) == 1) {
		sl_job_clear(&j);
		return 1;
	}
	if (http_job_load(s, job, &j, NULL, NULL, msg, sizeof msg) == 0) {
		sl_job_clear(&j);
		return 1;
	}
	job[0] = 0;
	find_upload fu = {s, id, ""};
	if (sl_jobs_list(s->o.db, -1, match_upload, &fu, msg, sizeof msg) < 0 || !fu.job[0])
		return 0;
	snprintf(job, SL_JOB_ID_LEN, "%s", fu.job);
	return 1;
}

static enum MHD_Result store_error(struct MHD_Connection *c, req *r, int rc, const char *msg,
                                   const char *id)
{
	if (rc == SL_NOT_FOUND)
		return http_send_error(c, r, 404, "NOT_FOUND", "no job %s", id);
	return http_send_error(c, r, 503, sl_error_name(rc), "%s",
	                       msg[0] ? msg : sl_error_message(rc));
}

/* Resolve and load; on failure the answer is sent and *sent is set. */
static int load_job(struct MHD_Connection *c, req *r, const char *id, sl_job *j, sl_chunk **chunks,
                    size_t *n, enum MHD_Result *sent)
{
	char job[SL_JOB_ID_LEN], msg[512];
	memset(j, 0, sizeof *j);
	if (!http_valid_token(id, HTTP_ID_MAX, true) || !http_resolve_job(r->s, id, job)) {
		*sent =
		    http_send_error(c, r, 404, "NOT_FOUND", "no job %s",
		                    http_valid_token(id, HTTP_ID_MAX, true) ? id : "with that id");
		return -1;
	}
	snprintf(r->job, sizeof r->job, "%s", job);
	/* http_send_accepted a moment ago: the acceptor is recording it */
	if (http_pending_job(r->s, job, j) == 1) {
		bool failed = j->status == SL_JOB_FAILED;
		sl_job_clear(j);
		if (failed) {
			*sent = http_send_error(c, r, 409, "NOT_RECORDED",
			                        "upload %s could not be recorded as a job", id);
			return -1;
		}
		if (!http_pending_wait(r->s, job, 3000)) {
			*sent =
			    http_send_error(c, r, 503, "NOT_RECORDED_YET",
			                    "job %s is being recorded; try again in a moment", job);
			return -1;
		}
	}
	int rc = http_job_load(r->s, job, j, chunks, n, msg, sizeof msg);
	if (rc < 0) {
		*sent = store_error(c, r, rc, msg, id);
		return -1;
	}
	return 0;
}

/* A chunk id is JOB-SEQ (the chunk_id field of the chunk routes). */
static bool chunk_id(const char *id, char *job, uint32_t *seq)
{
	const char *dot = strrchr(id, '-');
	if (!dot || dot == id || (size_t)(dot - id) >= SL_JOB_ID_LEN || !dot[1] ||
	    strlen(dot + 1) > 9)
		return false;
	for (const char *p = dot + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	memcpy(job, id, (size_t)(dot - id));
	job[dot - id] = 0;
	*seq = (uint32_t)strtoul(dot + 1, NULL, 10);
	return http_valid_token(job, HTTP_ID_MAX, true);
}

static enum MHD_Result chunk_one(struct MHD_Connection *c, req *r, const char *job, uint32_t seq)
{
	sl_job j;
	sl_chunk *ch = NULL;
	size_t n = 0;
	enum MHD_Result ret;
	if (load_job(c, r, job, &j, &ch, &n, &ret) < 0)
		return ret;
	size_t i;
	for (i = 0; i < n && ch[i].seq != seq; i++)
		;
	if (i == n) {
		ret = http_send_error(c, r, 404, "NOT_FOUND", "job %s has no chunk %u", j.id, seq);
		goto out;
	}
	body b;
	if (!http_body_open(&b)) {
		ret = http_send_error(c, r, 500, "NOMEM", "out of memory");
		goto out;
	}
	http_json_chunk(b.f, &j, &ch[i]);
	fputc('\n', b.f);
	ret = http_body_send(c, r, 200, &b, "application/json", NULL);
out:
	free(ch);
	sl_job_clear(&j);
	return ret;
}

enum MHD_Result http_job(struct MHD_Connection *c, req *r, const char *id)
{
	char job[SL_JOB_ID_LEN], uid[SL_JOB_ID_LEN];
	uint32_t seq;
	if (strlen(id) <= HTTP_ID_MAX + 10 && chunk_id(id, job, &seq))
		return chunk_one(c, r, job, seq);
	sl_job j;
	enum MHD_Result ret;
	char pj[SL_JOB_ID_LEN];
	/* the answer right after an upload: from memory while it is recorded */
	if (http_valid_token(id, HTTP_ID_MAX, true) && http_resolve_job(r->s, id, pj) &&
	    http_pending_job(r->s, pj, &j) == 1) {
		snprintf(r->job, sizeof r->job, "%s", pj);
	} else if (load_job(c, r, id, &j, NULL, NULL, &ret) < 0) {
		return ret;
	}
	body b;
	if (!http_body_open(&b)) {
		ret = http_send_error(c, r, 500, "NOMEM", "out of memory");
		goto out;
	}
	http_upload_of(r->s, &j, uid, sizeof uid);
	http_json_job(b.f, &j, uid);
	fputc('\n', b.f);
	ret = http_body_send(c, r, 200, &b, "application/json", NULL);
out:
	sl_job_clear(&j);
	return ret;
}

enum MHD_Result http_chunks(struct MHD_Connection *c, req *r, const char *id)
{
	sl_job j;
	sl_chunk *ch = NULL;
	size_t n = 0;
	enum MHD_Result ret;
	if (load_job(c, r, id, &j, &ch, &n, &ret) < 0)
		return ret;
	body b;
	if (!http_body_open(&b)) {
		ret = http_send_error(c, r, 500, "NOMEM", "out of memory");
		goto out;
	}
	fputs("{\"job_id\":", b.f);
	http_json_str(b.f, j.id);
	fputs(",\"chunks\":[", b.f);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? "," : "", b.f);
		http_json_chunk(b.f, &j, &ch[i]);
	}
	fputs("]}\n", b.f);
	ret = http_body_send(c, r, 200, &b, "application/json", NULL);
out:
	free(ch);
	sl_job_clear(&j);
	return ret;
}

typedef struct list_ctx {
	http_srv *s;
	FILE *f;
	const char *dataset;
	const char *prefix; /* of the job id or the correlation id */
	bool has_cursor;
	int64_t cur_ms;
	char cur_id[SL_JOB_ID_LEN];
	uint64_t limit, n;
	bool more;
	int64_t last_ms;
	char last_id[SL_JOB_ID_LEN];
} list_ctx;

/* A job of the page (the store filtered it and keeps the page's order:
   (created_ms, id) descending; it gives one more than fits, to tell that
   there is a next page). */
static int list_one(void *ctx, const sl_job *j)
{
	list_ctx *l = ctx;
	if (l->n == l->limit) {
		l->more = true;
		return 1; /* stop */
	}
	char uid[SL_JOB_ID_LEN];
	http_upload_of(l->s, j, uid, sizeof uid);
	fputs(l->n ? "," : "", l->f);
	http_json_job(l->f, j, uid);
	l->n++;
	l->last_ms = j->created_ms;
	snprintf(l->last_id, sizeof l->last_id, "%s", j->id);
	return 0;
}

/* The cursor is "<created_ms>.<id>" of the last job of the previous page:
   opaque to clients (they pass back next_cursor), strictly parsed here. */
static bool parse_cursor(const char *p, int64_t *ms, char *id)
{
	char *end;
	errno = 0;
	if (!(*p >= '0' && *p <= '9'))
		return false;
	long long v = strtoll(p, &end, 10);
	if (errno || *end != '.' || !http_valid_token(end + 1, SL_JOB_ID_LEN - 1, true))
		return false;
	*ms = v;
	snprintf(id, SL_JOB_ID_LEN, "%s", end + 1);
	return true;
}

typedef struct args_seen {
	const char *const *names; /* NULL-ended */
	unsigned n[8];
	const char *bad; /* the first unknown or repeated name */
	bool repeated;
} args_seen;

static enum MHD_Result see_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
	args_seen *a = cls;
	(void)kind;
	(void)value;
	size_t i = 0;
	while (a->names[i] && strcmp(a->names[i], key))
		i++;
	if (!a->names[i] || ++a->n[i] > 1) {
		a->bad = key;
		a->repeated = a->names[i] != NULL;
		return MHD_NO;
	}
	return MHD_YES;
}

enum MHD_Result http_jobs(struct MHD_Connection *c, req *r)
{
	/* as /records does: a misspelt filter is an error, not "every job" */
	static const char *const known[] = {"status", "limit", "cursor", "dataset", "prefix", NULL};
	args_seen as = {known, {0}, NULL, false};
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, see_arg, &as);
	if (as.bad)
		return http_send_error(c, r, 400, "BAD_REQUEST",
		                       as.repeated
		                           ? "parameter %.64s is given twice"
		                           : "unknown parameter %.64s; known: status, limit, "
		                             "cursor, dataset, prefix",
		                       as.bad);
	list_ctx l = {0};
	l.s = r->s;
	l.limit = 100;
	const char *st = http_arg(c, "status"), *lim = http_arg(c, "limit"),
	           *cur = http_arg(c, "cursor");
	sl_job_status status = 0;
	if (st && st[0] && sl_job_status_parse(st, &status) < 0)
		return http_send_error(c, r, 400, "BAD_REQUEST", "status: not a job status");
	if (lim) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(lim, &end, 10);
		if (!(lim[0] >= '0' && lim[0] <= '9') || *end || errno || v < 1 || v > 1000)
			return http_send_error(c, r, 400, "BAD_REQUEST",
			                       "limit: a whole number from 1 to 1000");
		l.limit = v;
	}
	if (cur && cur[0]) {
		if (!parse_cursor(cur, &l.cur_ms, l.cur_id))
			return http_send_error(c, r, 400, "BAD_REQUEST",
			                       "cursor: not a cursor this server gave");
		l.has_cursor = true;
	}
	l.dataset = http_arg(c, "dataset");
	if (l.dataset && !l.dataset[0])
		l.dataset = NULL;
	l.prefix = http_arg(c, "prefix");
	if (l.prefix && !l.prefix[0])
		l.prefix = NULL;
	if (l.prefix && !http_valid_token(l.prefix, HTTP_CORR_MAX, false))
		return http_send_error(c, r, 400, "BAD_REQUEST",
		                       "prefix: 1 to 128 printable ASCII characters");
	body b;
	if (!http_body_open(&b))
		return http_send_error(c, r, 500, "NOMEM", "out of memory");
	l.f = b.f;
	fputs("{\"jobs\":[", b.f);
	/* jobs http_send_accepted a moment ago are the newest: the first page has them */
	if (!l.has_cursor) {
		l.n = http_pending_list(r->s, b.f, st && st[0] ? (int)status : -1, l.dataset,
		                        l.prefix, l.limit, false);
		/* a page full of them: the next one starts at the newest stored job */
		l.last_ms = INT64_MAX;
		snprintf(l.last_id, sizeof l.last_id, "zzzz");
	}
	char msg[512];
	sl_job_filter fl = SL_JOB_FILTER_ALL;
	fl.status = st && st[0] ? (int)status : -1;
	fl.dataset = l.dataset;
	fl.prefix = l.prefix;
	fl.limit = (size_t)(l.limit - l.n) + 1; /* the one more says there is a next page */
	if (l.has_cursor) {
		fl.after.created_ms = l.cur_ms;
		snprintf(fl.after.id, sizeof fl.after.id, "%s", l.cur_id);
	}
	int rc = sl_jobs_page(r->s->o.db, &fl, list_one, &l, msg, sizeof msg);
	if (rc < 0) {
		fclose(b.f);
		free(b.buf);
		return store_error(c, r, rc == SL_INVAL ? SL_DB_ERROR : rc, msg, "");
	}
	fputs("],\"next_cursor\":", b.f);
	if (l.more)
		fprintf(b.f, "\"%lld.%s\"", (long long)l.last_ms, l.last_id);
	else
		fputs("null", b.f);
	fputs("}\n", b.f);
	return http_body_send(c, r, 200, &b, "application/json", NULL);
}

typedef struct rej_ctx {
	FILE *f;
	bool csv, open;
} rej_ctx;

static int write_reject(void *ctx, uint32_t chunk, const sl_reject *r, const char *column)
{
	rej_ctx *x = ctx;
	if (x->open && r->resolved_by.n)
		return 0; /* ?open=true: a refeed has loaded it */
	if (x->csv)
		sl_reject_csv(x->f, chunk, r, column);
	else
		sl_reject_jsonl(x->f, chunk, r, column);
	return ferror(x->f) ? SL_IO_WRITE : 0;
}

/* The rejected rows are written to an unlinked temporary file and served
   from it (MHD_create_response_from_fd). sl_job_rejects pushes rows through
   a callback while it holds a read transaction; feeding a slow client
   straight from it would keep that transaction (and the store connection)
   open for as long as the client takes, holding back WAL checkpoints, and
   would need a producer thread per download. The file costs disk the size
   of the rejects, freed when the response is done (it has no name). */
enum MHD_Result http_errors(struct MHD_Connection *c, req *r, const char *id)
{
	const char *fmt = http_arg(c, "format"), *code_s = http_arg(c, "code"),
	           *open_s = http_arg(c, "open");
	bool csv = true;
	int code = 0, fd = -1;
	enum MHD_Result ret;
	sl_job j;
	FILE *f = NULL;
	if (fmt && !strcmp(fmt, "jsonl"))
		csv = false;
	else if (fmt && strcmp(fmt, "csv"))
		return http_send_error(c, r, 400, "BAD_REQUEST", "format: csv or jsonl");
	if (open_s && strcmp(open_s, "true") && strcmp(open_s, "false"))
		return http_send_error(c, r, 400, "BAD_REQUEST", "open: true or false");
	bool open = open_s && !strcmp(open_s, "true");
	/* without format=, Accept chooses: application/x-ndjson (or
	   application/jsonl) for JSON lines, else CSV (text/csv, a browser's
	   text/html,..., or * / *) */
	const char *acc = http_header(c, MHD_HTTP_HEADER_ACCEPT);
	if (!fmt && acc &&
	    (strstr(acc, "application/x-ndjson") || strstr(acc, "application/jsonl")) &&
	    !strstr(acc, "text/csv"))
		csv = false;
	if (code_s && code_s[0]) {
		code = strlen(code_s) < 60 ? sl_error_from_name(code_s) : 1;
		if (code > 0 && strlen(code_s) < 60) {
			char full[64];
			snprintf(full, sizeof full, "CSV_%s", code_s);
			code = sl_error_from_name(full);
		}
		if (code >= 0)
			return http_send_error(c, r, 400, "BAD_REQUEST", "code: not an error code");
	}
	if (load_job(c, r, id, &j, NULL, NULL, &ret) < 0)
		return ret;
	char path[4096], msg[512];
	snprintf(path, sizeof path, "%s/errors-XXXXXX", r->s->tmp_dir);
	if ((fd = mkostemp(path, O_CLOEXEC)) < 0) {
		ret = http_send_error(c, r, 500, "IO_WRITE", "cannot create a temporary file");
		goto out;
	}
	unlink(path);
	int fd2 = dup(fd);
	if (fd2 < 0 || !(f = fdopen(fd2, "w"))) {
		if (fd2 >= 0)
			close(fd2);
		ret = http_send_error(c, r, 500, "IO_WRITE", "cannot write a temporary file");
		goto out;
	}
	if (csv)
		fputs(j.files ? SL_REJECT_CSV_HEADER_FILES : SL_REJECT_CSV_HEADER, f);
	rej_ctx x = {f, csv, open};
	int rc = sl_job_rejects(r->s->o.db, j.id, code, write_reject, &x, msg, sizeof msg);
	int wr = fclose(f);
	f = NULL;
	if (rc < 0 || wr != 0) {
		ret = rc < 0
		          ? store_error(c, r, rc, msg, id)
		          : http_send_error(c, r, 507, "IO_WRITE",
		                            "cannot write the rejected rows to a temporary file");
		goto out;
	}
	off_t size = lseek(fd, 0, SEEK_END);
	struct MHD_Response *resp =
	    size >= 0 ? MHD_create_response_from_fd((uint64_t)size, fd) : NULL;
	if (!resp) {
		ret = http_send_error(c, r, 500, "INTERNAL", "cannot send the file");
		goto out;
	}
	fd = -1; /* the response owns it */
	char disp[128];
	snprintf(disp, sizeof disp, "attachment; filename=\"%s-errors.%s\"", j.id,
	         csv ? "csv" : "jsonl");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        csv ? "text/csv; charset=utf-8" : "application/x-ndjson");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
	http_common_headers(resp, r);
	ret = http_queue(c, r, 200, resp);
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	sl_job_clear(&j);
	return ret;
}

enum MHD_Result http_retry(struct MHD_Connection *c, req *r, const char *id)
{
	sl_job j;
	enum MHD_Result ret;
	if (load_job(c, r, id, &j, NULL, NULL, &ret) < 0)
		return ret;
	if (!sl_job_status_final(j.status) || j.status == SL_JOB_ROLLEDBACK) {
		ret = http_send_error(c, r, 409, "CONFLICT",
		                      "job %s is %s: only a finished job can be retried", j.id,
		                      sl_job_status_name(j.status));
		goto out;
	}
	/* Failed and Cancelled jobs have chunks left to run; a finished one
	   only when some failed (rejected rows are not retried: fix and upload
	   them) */
	if ((j.status == SL_JOB_SUCCEEDED || j.status == SL_JOB_PARTIAL) && !j.chunks_failed) {
		ret = http_send_error(
		    c, r, 409, "NOTHING_TO_RETRY",
		    "job %s has no failed chunks; its rejected rows are in /v1/jobs/%s/errors",
		    j.id, j.id);
		goto out;
	}
	/* waiting from now on (ChunksQueued), before the 202: a client that
	   looks right after it never sees the old final status */
	char msg[512];
	int rq = sl_job_requeue(r->s->o.db, j.id, msg, sizeof msg);
	if (rq < 0) {
		ret = rq == SL_CONFLICT ? http_send_error(c, r, 409, "CONFLICT", "%s", msg)
		                        : store_error(c, r, rq, msg, id);
		goto out;
	}
	int q = http_queue_job(r->s, Q_RUN, j.id, r->corr);
	if (q < 0)
		ret = http_send_error(c, r, 503, "NOMEM", "out of memory");
	else if (q == 1)
		ret = http_send_error(c, r, 409, "CONFLICT", "job %s is queued or running already",
		                      j.id);
	else
		ret = http_send_accepted(c, r, 202, j.id);
out:
	sl_job_clear(&j);
	return ret;
}

/* Cancel: a job nobody runs (queued here, or not started) is Cancelled at
   once (200); a running one stops after the chunk it commits (202, status
   still Processing; follow the job until it says Cancelled). */
enum MHD_Result http_cancel(struct MHD_Connection *c, req *r, const char *id)
{
	sl_job j;
	enum MHD_Result ret;
	char msg[512];
	sl_job_status st = SL_JOB_ACCEPTED;
	if (load_job(c, r, id, &j, NULL, NULL, &ret) < 0)
		return ret;
	/* The cancel request is a write, and a running job's writer holds the
	   write lock a chunk at a time (longer than the store's busy timeout on
	   a slow disk): retry within the route's own time rather than answer
	   503 DB_BUSY. This route runs off the event loop (RF_SLOW). */
	int rc;
	double until = sl_now() + CANCEL_WAIT_S;
	while ((rc = sl_job_cancel(r->s->o.db, j.id, &st, msg, sizeof msg)) == SL_DB_BUSY &&
	       sl_now() < until && !atomic_load(&r->s->stopping))
		;
	if (rc == SL_CONFLICT) {
		ret = http_send_error(c, r, 409, "CONFLICT", "%s", msg);
		goto out;
	}
	if (rc < 0) {
		ret = store_error(c, r, rc, msg, id);
		goto out;
	}
	if (st == SL_JOB_CANCELLED)
		http_unqueue_job(r->s, j.id);
	body b;
	if (!http_body_open(&b)) {
		ret = http_send_error(c, r, 500, "NOMEM", "out of memory");
		goto out;
	}
	fputs("{\"job_id\":", b.f);
	http_json_str(b.f, j.id);
	fprintf(b.f, ",\"status\":\"%s\",\"cancel_requested\":true}\n", sl_job_status_name(st));
	http_log_job(r->s, "info", j.id, r->corr, "cancel of %s: %s", j.id,
	             st == SL_JOB_CANCELLED ? "cancelled"
	                                    : "requested; stops after the chunk in progress");
	ret =
	    http_body_send(c, r, st == SL_JOB_CANCELLED ? 200 : 202, &b, "application/json", NULL);
out:
	sl_job_clear(&j);
	return ret;
}

enum MHD_Result http_rollback(struct MHD_Connection *c, req *r, const char *id)
{
	sl_job j;
	enum MHD_Result ret;
	char msg[512] = "";
	uint64_t rows = 0;
	if (load_job(c, r, id, &j, NULL, NULL, &ret) < 0)
		return ret;
	int rc = sl_ingest_rollback(r->s->o.db, j.id, &rows, msg, sizeof msg);
	if (rc == SL_CONFLICT) {
		ret = http_send_error(c, r, 409, "CONFLICT", "%s", msg);
	} else if (rc == SL_NOT_FOUND) {
		ret = store_error(c, r, rc, msg, id);
	} else if (rc < 0) {
		ret = http_send_error(c, r, 503, sl_error_name(rc), "%s",
		                      msg[0] ? msg : sl_error_message(rc));
	} else {
		body b;
		if (!http_body_open(&b)) {
			ret = http_send_error(c, r, 500, "NOMEM", "out of memory");
			goto out;
		}
		fputs("{\"job_id\":", b.f);
		http_json_str(b.f, j.id);
		fprintf(b.f, ",\"status\":\"RolledBack\",\"rows_removed\":%llu}\n",
		        (unsigned long long)rows);
		ret = http_body_send(c, r, 200, &b, "application/json", NULL);
	}
	http_log_job(r->s, "info", j.id, r->corr, "rollback of %s: %s", j.id,
	             rc < 0 ? msg : "done");
out:
	sl_job_clear(&j);
	return ret;
}
