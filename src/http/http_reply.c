/*
 * The helpers every route handler calls back into: answers (a buffer, an
 * empty body, a JSON error, the accepted-job body) with the headers every
 * answer carries, bodies written into a memory stream, request values,
 * ids and tokens. Nothing here calls
 * a handler or the router, so the handlers' files depend on this one and
 * it on none of them (the route table it reads for Allow is data).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "http/http_reply.h"

typedef http_req req;
typedef http_body body;

void http_new_id(char prefix, char *id)
{
	uint32_t r = 0;
	if (getrandom(&r, sizeof r, 0) != sizeof r)
		r = (uint32_t)getpid() ^ (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)id;
	/* the shape of job ids (time first, so they sort by creation) */
	snprintf(id, SL_JOB_ID_LEN, "%c%011llx%06x", prefix, (unsigned long long)sl_now_ms(),
	         r & 0xFFFFFF);
}

bool http_valid_token(const char *p, size_t max, bool id)
{
	size_t n = 0;
	for (; p[n]; n++) {
		unsigned char ch = (unsigned char)p[n];
		if (n >= max)
			return false;
		if (id ? !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		           (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '_')
		       : (ch < 0x21 || ch > 0x7e))
			return false;
	}
	return n > 0;
}

void http_common_headers(struct MHD_Response *resp, http_req *r)
{
	MHD_add_response_header(resp, "X-Correlation-Id", r->corr);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (r->cors[0]) {
		MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->cors);
		MHD_add_response_header(resp, "Vary", "Origin");
		MHD_add_response_header(
		    resp, "Access-Control-Expose-Headers",
		    "Location, Upload-Offset, Upload-Length, Upload-Metadata, "
		    "Upload-Expires, Tus-Resumable, Tus-Version, Tus-Extension, "
		    "Tus-Max-Size, Tus-Checksum-Algorithm, X-Job-Id, "
		    "X-Correlation-Id, Retry-After");
	}
}

static enum MHD_Result queue(struct MHD_Connection *c, http_req *r, unsigned status,
                             struct MHD_Response *resp, const char *location)
{
	http_common_headers(resp, r);
	if (location)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
	if (status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	if (status == 429 || status == 503)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (status == 405) {
		char allow[64];
		http_route_allow(r->route, allow, sizeof allow);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	}
	/* tus clients look for it on every answer of a tus route */
	if (r->route == RT_TUS || r->route == RT_TUS_FILE) {
		MHD_add_response_header(resp, "Tus-Resumable", "1.0.0");
		if (status == 412)
			MHD_add_response_header(resp, "Tus-Version", "1.0.0");
	}
	return http_queue(c, r, status, resp);
}

enum MHD_Result http_queue(struct MHD_Connection *c, http_req *r, unsigned status,
                           struct MHD_Response *resp)
{
	r->status = status;
	if (r->off_loop) {
		if (r->held)
			MHD_destroy_response(r->held); /* a second answer: the last wins */
		r->held = resp;
		r->held_status = status;
		return MHD_YES;
	}
	enum MHD_Result ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Send `buf` (malloc'd, taken) as the answer. */
enum MHD_Result http_send_buf(struct MHD_Connection *c, http_req *r, unsigned status, char *buf,
                              size_t len, const char *ctype, const char *location)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	return queue(c, r, status, resp, location);
}

enum MHD_Result http_send_empty(struct MHD_Connection *c, http_req *r, unsigned status,
                                const char *const *extra)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	for (size_t i = 0; extra && extra[i]; i += 2)
		MHD_add_response_header(resp, extra[i], extra[i + 1]);
	return queue(c, r, status, resp, NULL);
}

FILE *http_body_open(http_body *b)
{
	b->buf = NULL;
	b->len = 0;
	b->f = open_memstream(&b->buf, &b->len);
	return b->f;
}

enum MHD_Result http_body_send(struct MHD_Connection *c, http_req *r, unsigned status, http_body *b,
                               const char *ctype, const char *location)
{
	if (fclose(b->f) != 0) {
		free(b->buf);
		return http_send_error(c, r, 500, "NOMEM", "out of memory");
	}
	return http_send_buf(c, r, status, b->buf, b->len, ctype, location);
}

enum MHD_Result http_send_error(struct MHD_Connection *c, http_req *r, unsigned status,
                                const char *code, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	int k = sl_error_from_name(code);
	if (k <= 0)
		sl__error_report(k); /* a code of the table (others, e.g. NOT_FOUND, are HTTP's) */
	body b;
	if (!http_body_open(&b)) {
		static const char oom[] =
		    "{\"error\":{\"code\":\"NOMEM\",\"message\":\"out of memory\"}}\n";
		char *p = strdup(oom);
		return p ? http_send_buf(c, r, 500, p, strlen(p), "application/json", NULL)
		         : MHD_NO;
	}
	http_json_error(b.f, code, msg);
	if (fclose(b.f) != 0) {
		free(b.buf);
		return MHD_NO;
	}
	return http_send_buf(c, r, status, b.buf, b.len, "application/json", NULL);
}

const char *http_arg(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

enum MHD_Result http_send_accepted(struct MHD_Connection *c, req *r, unsigned status,
                                   const char *job)
{
	char loc[128];
	snprintf(loc, sizeof loc, "/v1/jobs/%s", job);
	snprintf(r->job, sizeof r->job, "%s", job);
	body b;
	if (!http_body_open(&b))
		return http_send_error(c, r, 500, "NOMEM", "out of memory");
	fputs("{\"job_id\":", b.f);
	http_json_str(b.f, job);
	fputs(",\"status_url\":", b.f);
	http_json_str(b.f, loc);
	fputs("}\n", b.f);
	return http_body_send(c, r, status, &b, "application/json", loc);
}

int http_dataset_find(const http_srv *s, const char *name)
{
	for (size_t i = 0; i < s->nds; i++)
		if (!strcmp(s->ds[i].schema->name, name))
			return (int)i;
	return -1;
}
