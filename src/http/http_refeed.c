/*
 * POST /v1/jobs/{id}/refeed (docs/serve.md, "Refeed"): a finished job's
 * open rejected rows loaded again as a new job (sluice/refeed.h), through
 *   - the schema in the body (Content-Type application/yaml, text/yaml or
 *     application/x-yaml; at most REFEED_BODY_MAX bytes), kept as
 *     DATA_DIR/refeeds/JOB.yaml for the job's life (a resume reads it), or
 *   - the schema of dataset NAME (?dataset=NAME), or
 *   - with neither, the job's own schema file as it is now;
 * and ?mode=append|replace|atomic, the new job's load mode over that
 * schema's `mode:` (docs/ingest.md, Load modes).
 * The new job is recorded here (its rows taken from the first job in the
 * same transaction) and queued for the runners; the answer is 202 with its
 * id, as for an upload. The body is gathered on the event loop (bounded);
 * the rest runs on the pool (on_end), as it waits for the database.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "http/http_reply.h"
#include "sluice/refeed.h"

#define REFEED_BODY_MAX (1u << 20)

typedef struct refeed_body {
	char *p;
	size_t n;
} refeed_body;

static void refeed_data(http_req *r, const char *data, size_t n)
{
	refeed_body *b = r->ext;
	if (r->fail_status)
		return;
	if (b->n + n > REFEED_BODY_MAX) {
		r->fail_status = 413;
		r->fail_code = "TOO_LARGE";
		snprintf(r->fail_msg, sizeof r->fail_msg, "a schema is at most %u bytes",
		         REFEED_BODY_MAX);
		return;
	}
	char *p = realloc(b->p, b->n + n + 1);
	if (!p) {
		r->fail_status = 503;
		r->fail_code = "NOMEM";
		snprintf(r->fail_msg, sizeof r->fail_msg, "out of memory");
		return;
	}
	memcpy(p + b->n, data, n);
	b->p = p;
	b->n += n;
}

static void refeed_done(http_req *r, bool ok)
{
	(void)ok;
	refeed_body *b = r->ext;
	if (b)
		free(b->p);
	free(b);
	r->ext = NULL;
}

/* DATA_DIR/refeeds (made when missing) into dir: refeeds' schemas, in
   the data directory every instance and worker reads. */
static int refeeds_dir(http_srv *s, char *dir, size_t n)
{
	size_t l = strlen(s->tmp_dir);
	/* tmp_dir is DATA_DIR/tmp (absolute): its parent is DATA_DIR */
	snprintf(dir, n, "%.*s/refeeds", (int)(l > 4 ? l - 4 : l), s->tmp_dir);
	return mkdir(dir, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* The body's schema into DATA_DIR/refeeds/ID.yaml (path out). */
static int keep_schema(http_srv *s, const refeed_body *b, const char *id, char *path, size_t n)
{
	char dir[4096];
	if (refeeds_dir(s, dir, sizeof dir) < 0)
		return -1;
	snprintf(path, n, "%s/%s.yaml", dir, id);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	bool good = write(fd, b->p, b->n) == (ssize_t)b->n && fsync(fd) == 0;
	if (close(fd) != 0 || !good) {
		unlink(path);
		return -1;
	}
	return 0;
}

static enum MHD_Result refeed_end(struct MHD_Connection *c, http_req *r)
{
	http_srv *s = r->s;
	refeed_body *b = r->ext;
	char id[SL_JOB_ID_LEN], job[SL_JOB_ID_LEN], path[4200] = "", msg[1024] = "";
	const char *schema = NULL, *ds = http_arg(c, "dataset");
	if (r->fail_status)
		return http_send_error(c, r, r->fail_status, r->fail_code, "%s", r->fail_msg);
	if (!http_valid_token(r->p1, HTTP_ID_MAX, true) || !http_resolve_job(s, r->p1, job))
		return http_send_error(c, r, 404, "NOT_FOUND", "no job %s",
		                       http_valid_token(r->p1, HTTP_ID_MAX, true) ? r->p1
		                                                                  : "with that id");
	snprintf(r->job, sizeof r->job, "%s", job);
	/* ?mode=: the refeed job's load mode over its schema's `mode:` (a
	   schema in the body may say `mode:` itself) */
	const char *ms = http_arg(c, "mode");
	sl_load_mode mode = SL_MODE_DEFAULT;
	if (ms && (!ms[0] || sl_load_mode_parse(ms, &mode) < 0))
		return http_send_error(c, r, 400, "BAD_REQUEST",
		                       "mode: append, replace or atomic (none: the schema's)");
	if (ds && b->n)
		return http_send_error(c, r, 400, "BAD_REQUEST",
		                       "a schema in the body or ?dataset=, not both");
	sl_job_new_id(id);
	if (ds) {
		int k = http_dataset_find(s, ds);
		if (k < 0)
			return http_send_error(c, r, 404, "NOT_FOUND", "no dataset %s",
			                       http_valid_token(ds, 64, false) ? ds
			                                                       : "with that name");
		schema = s->ds[k].schema->path;
	} else if (b->n) {
		if (keep_schema(s, b, id, path, sizeof path) < 0) {
			http_log(s, "error", "cannot keep a refeed's schema in %s: %s", path,
			         strerror(errno));
			return http_send_error(c, r, 503, "IO_WRITE", "cannot store the schema");
		}
		schema = path;
	}
	sl_job nj;
	sl_refeed_opts o = {.db = s->o.db,
	                    .job_id = job,
	                    .schema_path = schema,
	                    .new_id = id,
	                    .correlation_id = r->corr[0] ? r->corr : NULL,
	                    .mode = mode};
	int rc = sl_refeed_prepare(&o, &nj, msg, sizeof msg);
	if (rc < 0) {
		if (path[0])
			unlink(path);
		unsigned st = rc == SL_NOT_FOUND ? 404
		              : rc == SL_CONFLICT || rc == SL_NO_OPEN_REJECTS ||
		                      rc == SL_IO_CHANGED || rc == SL_IO_OPEN
		                  ? 409
		              : rc == SL_CONFIG ? 400
		                                : 503;
		return http_send_error(c, r, st, sl_error_name(rc), "%s",
		                       msg[0] ? msg : sl_error_message(rc));
	}
	sl_job_clear(&nj);
	http_log_job(s, "info", id, r->corr, "refeed of job %s as job %s", job, id);
	int q = http_queue_job(s, Q_RUN, id, r->corr);
	if (q < 0)
		return http_send_error(c, r, 503, "NOMEM", "out of memory (job %s is recorded)",
		                       id);
	return http_send_accepted(c, r, 202, id);
}

enum MHD_Result http_refeed(struct MHD_Connection *c, http_req *r)
{
	const char *ct = http_header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *cl = http_header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
	bool body = http_header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING) || (cl && strcmp(cl, "0"));
	if (body) {
		size_t n = ct ? strcspn(ct, "; ") : 0;
		static const char *const yaml[] = {"application/yaml", "text/yaml",
		                                   "application/x-yaml"};
		bool ok = false;
		for (size_t i = 0; i < SL_ARRAY_LEN(yaml); i++)
			ok |= n == strlen(yaml[i]) && !strncasecmp(ct, yaml[i], n);
		if (!ok)
			return http_send_error(
			    c, r, 415, "UNSUPPORTED_MEDIA_TYPE",
			    "the body is a schema: Content-Type: application/yaml");
	}
	if (!(r->ext = calloc(1, sizeof(refeed_body))))
		return http_send_error(c, r, 503, "NOMEM", "out of memory");
	r->on_body = refeed_data;
	r->on_end = refeed_end;
	r->on_done = refeed_done;
	return MHD_YES;
}
