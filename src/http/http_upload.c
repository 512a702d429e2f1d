/*
 * Plain uploads: POST /v1/datasets/{name}/uploads with the file as the body
 * or as the part named `file` of multipart/form-data, by key or by signed
 * URL. The first call refuses what it can before the body and opens
 * DATA_DIR/uploads/ID.part (ID generated here, never taken from the
 * request); each later call appends what libmicrohttpd hands over and feeds
 * the XXH3 hash, so the body is never held in memory. At the end the file
 * is synced and handed to the acceptor (http_accept_file), which answers
 * 202 with the job. A client that goes away leaves no file and no job.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdarg.h>
#include <strings.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/base.h"
#include "http/http_parse.h"
#include "http/http_reply.h"
#include "s3/s3.h"

typedef http_req req;

static void upload_release(req *r)
{
	if (r->s3w) { /* nothing of it stays in the bucket */
		http_s3w_abort(r->s3w);
		r->s3w = NULL;
	}
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
		unlink(r->part);
	}
	if (r->counted) {
		atomic_fetch_sub(&r->s->uploads_in_flight, 1);
		r->counted = false;
	}
}

/* A client that went away mid-upload leaves no file and no job. */
static void upload_done(http_req *r, bool ok)
{
	(void)ok;
	upload_release(r);
	free(r->mp);
	r->mp = NULL;
	free(r->json);
	r->json = NULL;
	if (r->xx) {
		XXH3_freeState(r->xx);
		r->xx = NULL;
	}
}

static void upload_fail(req *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void upload_fail(req *r, unsigned status, const char *code, const char *fmt, ...)
{
	if (r->fail_status)
		return; /* the first reason wins */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->fail_msg, sizeof r->fail_msg, fmt, ap);
	va_end(ap);
	r->fail_status = status;
	r->fail_code = code;
	upload_release(r);
}

static void upload_write(req *r, const char *data, size_t n)
{
	if (r->fail_status || (r->fd < 0 && !r->s3w))
		return; /* drop the rest of a refused body */
	if (r->bytes + n > r->s->o.max_upload) {
		upload_fail(r, 413, "TOO_LARGE", "the body is larger than the limit of %llu bytes",
		            (unsigned long long)r->s->o.max_upload);
		return;
	}
	if (r->s3w) {
		char m[512] = "";
		int rc = http_s3w_write(r->s3w, data, n, m, sizeof m);
		if (rc < 0) {
			http_log(r->s, "error", "upload %s: %s (%s)", r->uid, m, sl_error_name(rc));
			upload_fail(r, 503, sl_error_name(rc), "cannot store the upload: %s", m);
			return;
		}
		XXH3_64bits_update(r->xx, data, n);
		r->bytes += n;
		atomic_fetch_add(&r->s->upload_bytes, n);
		return;
	}
	int e = sl_write_all(r->fd, data, n, NULL);
	if (e) {
		http_log(r->s, "error", "upload %s: write: %s", r->uid, strerror(e));
		upload_fail(r, e == ENOSPC || e == EDQUOT || e == EFBIG ? 507 : 500, "IO_WRITE",
		            "cannot store the upload: %s", strerror(e));
		return;
	}
	XXH3_64bits_update(r->xx, data, n);
	r->bytes += n;
	atomic_fetch_add(&r->s->upload_bytes, n);
}

/* multipart/form-data (http_parse.c): the part named `file` is the upload;
   other parts (a description, say) are ignored. One file part only. */
static void multipart_data(void *ctx, const char *p, size_t n)
{
	req *r = ctx;
	if (!p) { /* a part named file starts */
		if (r->file_part_seen && r->bytes)
			upload_fail(r, 400, "BAD_REQUEST", "more than one part named file");
		r->file_part_seen = true;
		return;
	}
	upload_write(r, p, n);
}

/* Into the bucket, the writer's buffers bound what is taken (the
   multipart parser never gives out more than it was fed but for a
   delimiter it held back, which the writer has room for). */
static size_t upload_room(struct MHD_Connection *c, http_req *r, size_t n)
{
	if (r->fail_status || !r->s3w)
		return n;
	return http_s3w_room(r->s3w, c, n);
}

static void upload_data(http_req *r, const char *data, size_t n)
{
	if (r->fail_status)
		return;
	if (!r->mp) {
		upload_write(r, data, n);
		return;
	}
	if (http_mp_feed(r->mp, data, n) < 0)
		upload_fail(r, 400, "BAD_REQUEST", "the multipart body is malformed");
}

/* a signed URL's nonce is its idempotency key: the URL is good for one
   upload, and the same body again gets the same job */
static void upload_idem(const req *r, char *idem, size_t n)
{
	if (r->nonce[0])
		snprintf(idem, n, "url:%s", r->nonce);
	else if (r->idem[0])
		/* scoped to the API key: another key's same Idempotency-Key is another upload */
		snprintf(idem, n, "key:%s%s%s", r->owner, r->owner[0] ? "/" : "", r->idem);
	else
		idem[0] = 0;
}

static enum MHD_Result upload_answer(struct MHD_Connection *c, req *r, unsigned st, const char *job,
                                     const char *msg);

/* A body streamed into the bucket: its last part, the object completed,
   then taken as a file is (its sidecar written, then the answer). */
static enum MHD_Result upload_end_object(struct MHD_Connection *c, req *r)
{
	char job[SL_JOB_ID_LEN], msg[600] = "", idem[HTTP_IDEM_MAX + 60];
	int rc = http_s3w_finish(r->s3w, msg, sizeof msg);
	if (rc < 0) {
		http_log(r->s, "error", "upload %s: %s (%s)", r->uid, msg, sl_error_name(rc));
		upload_release(r);
		return http_send_error(c, r, 503, sl_error_name(rc), "cannot store the upload: %s",
		                       msg);
	}
	http_s3w_close(r->s3w); /* complete: the acceptor's from here */
	r->s3w = NULL;
	upload_idem(r, idem, sizeof idem);
	unsigned st =
	    http_accept_object(r->s, r->ds, r->uid, true, r->bytes, XXH3_64bits_digest(r->xx), idem,
	                       r->corr, r->mode, job, msg, sizeof msg);
	upload_release(r);
	return upload_answer(c, r, st, job, msg);
}

/* The body is complete: keep it and create its job. */
static enum MHD_Result upload_end(struct MHD_Connection *c, http_req *r)
{
	http_srv *s = r->s;
	if (r->mp) {
		/* no closing delimiter: the body ended inside a part */
		if (http_mp_end(r->mp) < 0)
			upload_fail(r, 400, "BAD_REQUEST", "the multipart body ends early");
		free(r->mp);
		r->mp = NULL;
		if (!r->file_part_seen)
			upload_fail(r, 400, "BAD_REQUEST",
			            "the multipart body has no part named file");
	}
	if (!r->fail_status && !r->bytes)
		upload_fail(r, 400, "BAD_REQUEST", "the body is empty: send the file as the body");
	if (r->fail_status) {
		upload_release(r);
		return http_send_error(c, r, r->fail_status, r->fail_code, "%s", r->fail_msg);
	}
	if (r->s3w)
		return upload_end_object(c, r);
	/* the answer promises the file is kept: make it durable first */
	int fd = r->fd;
	r->fd = -1;
	if (fdatasync(fd) != 0 || close(fd) != 0) {
		int e = errno;
		unlink(r->part);
		upload_release(r);
		return http_send_error(c, r, 507, "IO_WRITE", "cannot store the upload: %s",
		                       strerror(e));
	}
	char job[SL_JOB_ID_LEN], msg[600], idem[HTTP_IDEM_MAX + 60];
	upload_idem(r, idem, sizeof idem);
	unsigned st = http_accept_file(s, r->ds, r->part, r->bytes, XXH3_64bits_digest(r->xx), idem,
	                               r->corr, r->mode, job, msg, sizeof msg);
	upload_release(r);
	return upload_answer(c, r, st, job, msg);
}

/* The answer to an upload the acceptor took (or refused). */
static enum MHD_Result upload_answer(struct MHD_Connection *c, req *r, unsigned st, const char *job,
                                     const char *msg)
{
	switch (st) {
	case 200:
	case 202:
		return http_send_accepted(c, r, st, job);
	case 409:
		if (r->nonce[0])
			return http_send_error(c, r, 403, "FORBIDDEN",
			                       "this upload URL was used already");
		return http_send_error(c, r, 409, "IDEMPOTENCY_CONFLICT",
		                       "the Idempotency-Key was used with another body or dataset");
	default:
		return http_send_error(c, r, st, st == 507 ? "IO_WRITE" : "UNAVAILABLE", "%s", msg);
	}
}

/* --- confirming a direct upload: {"s3_key": KEY} --------------------------------------- */

#define CONFIRM_MAX 4096

static void confirm_data(http_req *r, const char *data, size_t n)
{
	if (r->fail_status)
		return;
	if (r->json_n + n > CONFIRM_MAX) {
		upload_fail(r, 413, "TOO_LARGE", "a confirmation is at most %u bytes", CONFIRM_MAX);
		return;
	}
	char *p = realloc(r->json, r->json_n + n + 1);
	if (!p) {
		upload_fail(r, 503, "NOMEM", "out of memory");
		return;
	}
	memcpy(p + r->json_n, data, n);
	r->json = p;
	r->json_n += n;
	p[r->json_n] = 0;
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* A JSON string without escapes (keys this service gives have none) into
   out; the position after it, or NULL. */
static const char *plain_string(const char *p, char *out, size_t n)
{
	if (*p++ != '"')
		return NULL;
	size_t k = 0;
	for (; *p && *p != '"'; p++) {
		if (*p == '\\' || (unsigned char)*p < 0x20 || k + 1 >= n)
			return NULL;
		out[k++] = *p;
	}
	out[k] = 0;
	return *p == '"' ? p + 1 : NULL;
}

/* {"s3_key": "KEY"} and nothing else: 0, or -1. */
static int confirm_parse(const char *body, char *key, size_t n)
{
	char name[32];
	const char *p = skip_ws(body);
	if (*p++ != '{' || !(p = plain_string(skip_ws(p), name, sizeof name)) ||
	    strcmp(name, "s3_key"))
		return -1;
	p = skip_ws(p);
	if (*p++ != ':' || !(p = plain_string(skip_ws(p), key, n)) || !key[0])
		return -1;
	p = skip_ws(p);
	if (*p++ != '}')
		return -1;
	return *skip_ws(p) ? -1 : 0;
}

/* Off the loop: the object's HEAD (it is there, its size and ETag), then
   its job, whose id is the key's. The content hash kept with an
   idempotency key is the ETag's (the bytes never pass through here). */
static enum MHD_Result confirm_end(struct MHD_Connection *c, http_req *r)
{
	http_srv *s = r->s;
	char key[1100], uid[SL_JOB_ID_LEN], job[SL_JOB_ID_LEN], etag[SL__S3_ETAG_MAX];
	char msg[600] = "", idem[HTTP_IDEM_MAX + 60];
	uint64_t size = 0;
	if (r->fail_status)
		return http_send_error(c, r, r->fail_status, r->fail_code, "%s", r->fail_msg);
	if (!r->json || confirm_parse(r->json, key, sizeof key) < 0)
		return http_send_error(c, r, 400, "BAD_REQUEST",
		                       "a confirmation is {\"s3_key\": KEY}, KEY as upload-urls "
		                       "gave it");
	if (http_store_uid_of_key(s, key, uid, sizeof uid) < 0)
		return http_send_error(c, r, 403, "FORBIDDEN",
		                       "s3_key: not a key this server gave for an upload (keys "
		                       "are s3://%s/%suHEX.csv, from upload-urls)",
		                       http_store_bucket(s), http_store_prefix(s));
	char found[SL_JOB_ID_LEN];
	if (http_resolve_job(s, uid, found) == 1)
		return http_send_accepted(c, r, 200, found); /* confirmed before */
	int rc = http_store_head(s, key, &size, etag, msg, sizeof msg);
	if (rc == SL_S3_NOT_FOUND)
		return http_send_error(c, r, 404, "NOT_FOUND",
		                       "s3://%s/%s is not there: PUT the file to the upload URL "
		                       "first",
		                       http_store_bucket(s), key);
	if (rc < 0)
		return http_send_error(c, r, 503, sl_error_name(rc), "%s", msg);
	if (!size)
		return http_send_error(c, r, 400, "BAD_REQUEST", "s3://%s/%s is empty",
		                       http_store_bucket(s), key);
	if (size > s->o.max_upload)
		return http_send_error(
		    c, r, 413, "TOO_LARGE", "the object is %llu bytes; the limit is %llu",
		    (unsigned long long)size, (unsigned long long)s->o.max_upload);
	upload_idem(r, idem, sizeof idem);
	unsigned st =
	    http_accept_object(s, r->ds, uid, false, size, XXH3_64bits(etag, strlen(etag)), idem,
	                       r->corr, r->mode, job, msg, sizeof msg);
	return upload_answer(c, r, st, job, msg);
}

/* The first call: refuse what can be refused before the body. */
enum MHD_Result http_upload(struct MHD_Connection *c, req *r, const char *name, bool signed_url)
{
	http_srv *s = r->s;
	int i = http_dataset_find(s, name);
	if (i < 0)
		return http_send_error(c, r, 404, "NOT_FOUND", "no dataset with that name");
	r->ds = (size_t)i;
	enum MHD_Result sent;
	if (signed_url && http_sign_check(c, r, name, &sent) < 0)
		return sent;
	const char *ct = http_header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
	bool multipart = ct && !strncasecmp(ct, "multipart/", 10);
	if (multipart && strncasecmp(ct, "multipart/form-data", 19))
		return http_send_error(
		    c, r, 415, "UNSUPPORTED_MEDIA_TYPE",
		    "multipart/form-data (a part named file) or the raw file as the body");
	const char *cl = http_header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(cl, &end, 10);
		if (!errno && !*end && v > s->o.max_upload)
			return http_send_error(c, r, 413, "TOO_LARGE",
			                       "the body is %llu bytes; the limit is %llu", v,
			                       (unsigned long long)s->o.max_upload);
	}
	/* ?mode=append|replace|atomic: this job's load mode over the dataset
	   schema's `mode:` (docs/api.yaml) */
	const char *mode = http_arg(c, "mode");
	r->mode = SL_MODE_DEFAULT;
	if (mode &&
	    signed_url) /* its signature does not cover a mode: replace would empty the table */
		return http_send_error(c, r, 403, "FORBIDDEN",
		                       "a signed upload URL loads in the dataset's mode; ?mode= "
		                       "needs an API key");
	if (mode && (!mode[0] || sl_load_mode_parse(mode, &r->mode) < 0))
		return http_send_error(c, r, 400, "BAD_REQUEST",
		                       "mode: append, replace or atomic (none: the dataset's)");
	const char *idem = http_header(c, "Idempotency-Key");
	if (idem) {
		if (!http_valid_token(idem, HTTP_IDEM_MAX, false))
			return http_send_error(
			    c, r, 400, "BAD_REQUEST",
			    "Idempotency-Key: 1 to 200 printable ASCII characters");
		snprintf(r->idem, sizeof r->idem, "%s", idem);
	}
	r->on_done = upload_done;
	if (ct && !strncasecmp(ct, "application/json", 16)) {
		if (!http_store_on(s))
			return http_send_error(
			    c, r, 409, "CONFLICT",
			    "{\"s3_key\": ...} confirms a direct upload into the upload store, and "
			    "this server keeps uploads in its data dir (no --upload-store)");
		r->on_body = confirm_data;
		r->on_end = confirm_end;
		return MHD_YES;
	}
	if (atomic_fetch_add(&s->uploads_in_flight, 1) >= (int)s->o.max_uploads) {
		atomic_fetch_sub(&s->uploads_in_flight, 1);
		return http_send_error(c, r, 429, "TOO_MANY_UPLOADS",
		                       "%u uploads are in progress; try again later",
		                       s->o.max_uploads);
	}
	r->counted = true;
	if (!(r->xx = XXH3_createState()) || XXH3_64bits_reset(r->xx) != XXH_OK)
		return http_send_error(c, r, 503, "NOMEM", "out of memory");
	if (multipart) {
		if (!(r->mp = malloc(sizeof *r->mp)))
			return http_send_error(c, r, 503, "NOMEM", "out of memory");
		if (http_mp_init(r->mp, ct, multipart_data, r) < 0)
			return http_send_error(c, r, 400, "BAD_REQUEST",
			                       "multipart/form-data without a boundary of 1 to 70 "
			                       "characters");
	}
	if (http_store_on(s)) {
		/* into the bucket: the key is the job's, chosen now */
		char job[SL_JOB_ID_LEN], m[300];
		sl_job_new_id(job);
		snprintf(r->uid, sizeof r->uid, "u%s", job + 1);
		if (http_s3w_open(s, r->uid, &r->s3w, m, sizeof m) < 0)
			return http_send_error(c, r, 503, "NOMEM", "%s", m);
		r->on_body = upload_data;
		r->on_room = upload_room;
		r->on_end = upload_end;
		return MHD_YES;
	}
	for (int attempt = 0; attempt < 3 && r->fd < 0; attempt++) {
		http_new_id('p', r->uid);
		snprintf(r->part, sizeof r->part, "%s/%s.part", s->uploads_dir, r->uid);
		r->fd = open(r->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (r->fd < 0 && errno != EEXIST)
			break;
	}
	if (r->fd < 0) {
		http_log(s, "error", "cannot create an upload file in %s: %s", s->uploads_dir,
		         strerror(errno));
		return http_send_error(c, r, 503, "IO_WRITE", "cannot store the upload");
	}
	r->on_body = upload_data;
	r->on_end = upload_end;
	return MHD_YES;
}
