/*
 * Routing: libmicrohttpd's access handler. The first call of a request
 * (headers known) matches the path against the route table (HTTP_ROUTES in
 * http_routes.h), checks the method and the API key's scope from the same
 * table, and calls the route's handler; later calls feed a body to the
 * handler's on_body and, at its end, on_end. The completion callback runs
 * the handler's on_done, counts the request for /metrics and logs it.
 *
 * Errors found while a body streams in (too large, disk full) cannot be
 * answered before the body ends (MHD accepts a response only before the
 * body or after it), so the handler reads and drops the rest of the body,
 * then answers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "http/http_parse.h"
#include "http/http_reply.h"

typedef http_req req;

#define MAX_SEGS 8

typedef struct route {
	int id;
	const char *param;  /* {name} or {id}: a segment of the (decoded) path */
	const char *param2; /* {key} */
} route;

/* Exact segment matching: "..", "%2e%2e" (MHD decodes it before us),
   empty segments or extra ones match no route. No route ever turns a path
   segment into a file name. */
static route match(char *path)
{
	route rt = {RT_NONE, NULL, NULL};
	char *seg[MAX_SEGS];
	size_t n = 0;
	if (path[0] != '/')
		return rt;
	if (!path[1]) {
		rt.id = RT_DASHBOARD;
		return rt;
	}
	/* the tus creation endpoint is /v1/tus/ (tus clients keep the slash) */
	if (!strcmp(path, "/v1/tus/") || !strcmp(path, "/v1/tus")) {
		rt.id = RT_TUS;
		return rt;
	}
	for (char *p = path + 1;;) {
		if (n == MAX_SEGS)
			return rt;
		seg[n++] = p;
		char *slash = strchr(p, '/');
		if (!slash)
			break;
		*slash = 0;
		p = slash + 1;
	}
	for (size_t i = 0; i < n; i++)
		if (!seg[i][0])
			return rt;
	bool v1 = n >= 2 && !strcmp(seg[0], "v1");
	if (n == 2 && !strcmp(seg[0], "healthz"))
		rt.id = !strcmp(seg[1], "live")    ? RT_LIVE
		        : !strcmp(seg[1], "ready") ? RT_READY
		                                   : RT_NONE;
	else if (n == 1 && !strcmp(seg[0], "metrics"))
		rt.id = RT_METRICS;
	else if (v1 && !strcmp(seg[1], "datasets")) {
		if (n == 2)
			rt.id = RT_DATASETS;
		else if (n == 4 && !strcmp(seg[3], "uploads"))
			rt = (route){RT_UPLOAD, seg[2], NULL};
		else if (n == 4 && !strcmp(seg[3], "upload-urls"))
			rt = (route){RT_UPLOAD_URLS, seg[2], NULL};
		else if (n == 4 && !strcmp(seg[3], "records"))
			rt = (route){RT_RECORDS, seg[2], NULL};
		else if (n == 5 && !strcmp(seg[3], "records"))
			rt = (route){RT_RECORD, seg[2], seg[4]};
	} else if (v1 && !strcmp(seg[1], "tus") && n == 3) {
		rt = (route){RT_TUS_FILE, seg[2], NULL};
	} else if (v1 && !strcmp(seg[1], "jobs")) {
		static const struct {
			const char *name;
			int id;
		} sub[] = {{"chunks", RT_CHUNKS}, {"errors", RT_ERRORS}, {"events", RT_EVENTS},
		           {"retry", RT_RETRY},   {"cancel", RT_CANCEL}, {"rollback", RT_ROLLBACK},
		           {"refeed", RT_REFEED}};
		if (n == 2)
			rt.id = RT_JOBS;
		else if (n == 3)
			rt = (route){RT_JOB, seg[2], NULL};
		else if (n == 4)
			for (size_t i = 0; i < SL_ARRAY_LEN(sub); i++)
				if (!strcmp(seg[3], sub[i].name))
					rt = (route){sub[i].id, seg[2], NULL};
	}
	return rt;
}

/* For auth_whole: the nearest header name or value after `after`. */
typedef struct next_ptr {
	const char *after, *next;
} next_ptr;

static enum MHD_Result nearest(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
	next_ptr *np = cls;
	(void)kind;
	const char *ps[2] = {key, value};
	for (int i = 0; i < 2; i++)
		if (ps[i] && ps[i] > np->after && (!np->next || ps[i] < np->next))
			np->next = ps[i];
	return MHD_YES;
}

/* libmicrohttpd 0.9 cuts a header value at a NUL byte (its values are C
   strings, parsed in place in the read buffer), so "Bearer KEY\0junk"
   would read as KEY. The line's real end is told by where the next header
   starts: after a value of n bytes come only its line end (CR LF, or LF,
   turned into NULs), so the next header name starts 1 or 2 bytes past
   the NUL; more means bytes hidden behind a NUL. For the last header the
   byte after the NUL must be a line end too. */
static bool auth_whole(struct MHD_Connection *c, const char *v, size_t n)
{
	next_ptr np = {v, NULL};
	MHD_get_connection_values(c, MHD_HEADER_KIND, nearest, &np);
	if (np.next)
		return np.next - (v + n) <= 2;
	return v[n + 1] == 0 || v[n + 1] == '\n' || v[n + 1] == '\r';
}

static enum MHD_Result add_len(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
	size_t *n = cls;
	(void)kind;
	*n += strlen(key) + (value ? strlen(value) : 0) + 4;
	return MHD_YES;
}

/* The route's handler, method and key checked (on the loop, or on a pool
   thread for a route marked RF_SLOW). */
static enum MHD_Result dispatch(struct MHD_Connection *c, req *r)
{
	switch (r->route) {
	case RT_LIVE:
		return http_live(c, r);
	case RT_READY:
		return http_ready(c, r);
	case RT_METRICS:
		return http_metrics(c, r);
	case RT_DASHBOARD:
		return http_dashboard(c, r);
	case RT_DATASETS:
		return http_datasets(c, r);
	case RT_UPLOAD:
		return http_upload(c, r, r->p1, r->signed_url);
	case RT_UPLOAD_URLS:
		return http_upload_urls(c, r, r->p1);
	case RT_RECORDS:
	case RT_RECORD:
		return http_records(c, r, r->p1, r->p2);
	case RT_TUS:
	case RT_TUS_FILE:
		return http_tus(c, r, r->method, r->p1);
	case RT_JOBS:
		return http_jobs(c, r);
	case RT_JOB:
		return http_job(c, r, r->p1);
	case RT_CHUNKS:
		return http_chunks(c, r, r->p1);
	case RT_ERRORS:
		return http_errors(c, r, r->p1);
	case RT_EVENTS:
		return http_events(c, r, r->p1);
	case RT_RETRY:
		return http_retry(c, r, r->p1);
	case RT_CANCEL:
		return http_cancel(c, r, r->p1);
	case RT_ROLLBACK:
		return http_rollback(c, r, r->p1);
	case RT_REFEED:
		return http_refeed(c, r);
	default:
		return http_send_error(c, r, 404, "NOT_FOUND", "no such route");
	}
}

static req *new_req(http_srv *s)
{
	req *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->s = s;
	r->fd = -1;
	r->t0 = sl_now();
	r->route = RT_NONE;
	http_new_id('r', r->corr);
	return r;
}

/* MHD_OPTION_URI_LOG_CALLBACK: the request line's target as it came, before
   libmicrohttpd decodes it (a %00 would end the decoded path early). The
   request starts here; its first call of the access handler follows. */
void *http_on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)c;
	req *r = new_req(cls);
	if (r) {
		size_t n = strlen(uri);
		r->raw_too_long = n >= sizeof r->raw_uri;
		memcpy(r->raw_uri, uri, r->raw_too_long ? sizeof r->raw_uri - 1 : n);
	}
	return r;
}

static bool has_body(struct MHD_Connection *c)
{
	const char *cl = http_header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
	return http_header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING) || (cl && strcmp(cl, "0"));
}

#define CL_MAX 8 /* Content-Length headers looked at; more is refused */

typedef struct cl_seen {
	const char *v[CL_MAX];
	size_t n;
	bool too_many;
} cl_seen;

static enum MHD_Result count_cl(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
	cl_seen *cs = cls;
	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
		return MHD_YES;
	if (cs->n == CL_MAX) {
		cs->too_many = true;
		return MHD_NO;
	}
	cs->v[cs->n++] = value ? value : "";
	return MHD_YES;
}

/* What RFC 9112 wants refused before routing: 400 for a target with a
   control byte, HTTP/1.1 without Host, Content-Length headers that differ;
   501 for a transfer coding other than chunked. */
static enum MHD_Result framing_check(struct MHD_Connection *c, req *r, const char *version,
                                     bool *refused)
{
	*refused = true;
	if (r->raw_too_long)
		return http_send_error(c, r, 414, "URI_TOO_LONG", "the request target is too long");
	if (http_target_bad(r->raw_uri))
		return http_send_error(c, r, 400, "BAD_REQUEST",
		                       "a control character (or %%00) in the path or a query name");
	if (version && !strcmp(version, MHD_HTTP_VERSION_1_1) &&
	    !http_header(c, MHD_HTTP_HEADER_HOST))
		return http_send_error(c, r, 400, "BAD_REQUEST", "HTTP/1.1 requires a Host header");
	cl_seen cs = {{NULL}, 0, false};
	MHD_get_connection_values(c, MHD_HEADER_KIND, count_cl, &cs);
	uint64_t len;
	int clr = cs.n ? http_content_length(cs.v, cs.n, &len) : 0;
	if (cs.too_many || clr == -1)
		return http_send_error(c, r, 400, "BAD_REQUEST",
		                       "Content-Length headers that differ");
	if (clr == -2)
		return http_send_error(c, r, 400, "BAD_REQUEST", "Content-Length is not a number");
	const char *te = http_header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	if (te && strcasecmp(te, "chunked"))
		return http_send_error(c, r, 501, "NOT_IMPLEMENTED",
		                       "Transfer-Encoding %s: only chunked is implemented",
		                       strlen(te) < 40 ? te : "(long)");
	*refused = false;
	return MHD_YES;
}

/* The request's Origin into r->cors when --cors-origin allows it (a comma
   list of origins, or *): every answer then carries the CORS headers
   (http_reply.c). */
static void cors_origin(struct MHD_Connection *c, req *r)
{
	const char *allow = r->s->o.cors_origin, *o = http_header(c, "Origin");
	if (!allow || !o || strlen(o) >= sizeof r->cors ||
	    !http_valid_token(o, sizeof r->cors - 1, false))
		return;
	size_t ol = strlen(o);
	for (const char *p = allow; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t n = strcspn(p, ", ");
		if ((n == 1 && *p == '*') || (n == ol && !strncmp(p, o, n))) {
			snprintf(r->cors, sizeof r->cors, "%s", o);
			return;
		}
		p += n;
	}
}

/* A CORS preflight of an RF_CORS route from an allowed origin: the methods
   the route takes and the request headers a browser may send. */
static enum MHD_Result preflight(struct MHD_Connection *c, req *r)
{
	char methods[64];
	http_route_allow(r->route, methods, sizeof methods);
	const char *const h[] = {"Access-Control-Allow-Methods",
	                         methods,
	                         "Access-Control-Allow-Headers",
	                         "Authorization, Content-Type, Idempotency-Key, X-Correlation-Id, "
	                         "Tus-Resumable, Upload-Length, Upload-Offset, Upload-Metadata, "
	                         "Upload-Checksum, Upload-Defer-Length, X-HTTP-Method-Override",
	                         "Access-Control-Max-Age",
	                         "600",
	                         NULL};
	return http_send_empty(c, r, 204, h);
}

static enum MHD_Result first_call(struct MHD_Connection *c, req *r, const char *url,
                                  const char *method, const char *version, bool *deferred)
{
	http_srv *s = r->s;
	char path[512];
	/* The connection's memory pool is large (HTTP_CONN_POOL) so that upload
	   bodies come in big reads; headers get a tighter limit of their own,
	   with a JSON answer (beyond the pool, libmicrohttpd answers 431 itself). */
	size_t hlen = 0;
	MHD_get_connection_values(c, MHD_HEADER_KIND, add_len, &hlen);
	if (hlen > HTTP_HEADERS_MAX)
		return http_send_error(c, r, 431, "HEADERS_TOO_LARGE",
		                       "the request headers are %zu bytes; the limit is %u", hlen,
		                       HTTP_HEADERS_MAX);
	if (strlen(url) >= sizeof path)
		return http_send_error(c, r, 414, "URI_TOO_LONG", "the path is too long");
	bool refused;
	enum MHD_Result fr = framing_check(c, r, version, &refused);
	if (refused)
		return fr;
	snprintf(path, sizeof path, "%s", url);
	route rt = match(path);
	r->route = rt.id;
	const char *corr = http_header(c, "X-Correlation-Id");
	if (corr) {
		if (!http_valid_token(corr, HTTP_CORR_MAX, false)) {
			http_new_id('r', r->corr);
			return http_send_error(
			    c, r, 400, "BAD_REQUEST",
			    "X-Correlation-Id: 1 to 128 printable ASCII characters");
		}
		snprintf(r->corr, sizeof r->corr, "%s", corr);
		r->corr_given = true;
	}
	if (rt.id == RT_NONE)
		return http_send_error(c, r, 404, "NOT_FOUND", "no such route");
	cors_origin(c, r);
	/* tus clients behind proxies that pass only GET and POST send the method
	   in X-HTTP-Method-Override (tus 1.0 core) */
	const char *ovr = http_header(c, "X-HTTP-Method-Override");
	if ((rt.id == RT_TUS_FILE) && !strcmp(method, "POST") && ovr &&
	    (!strcmp(ovr, "PATCH") || !strcmp(ovr, "DELETE") || !strcmp(ovr, "HEAD"))) {
		snprintf(r->method, sizeof r->method, "%s", ovr);
		method = r->method;
	}
	unsigned m = http_method_bit(method), allowed = http_routes[rt.id].methods;
	if ((allowed & M_GET) && m == M_HEAD)
		m = M_GET;
	if (m == M_OPTIONS && r->cors[0] && (http_routes[rt.id].flags & RF_CORS) &&
	    http_header(c, "Access-Control-Request-Method"))
		return preflight(c, r);
	if (!(m & allowed))
		return http_send_error(c, r, 405, "METHOD_NOT_ALLOWED", "%s is not allowed here",
		                       method);
	unsigned want = http_routes[rt.id].scope;
	/* a signed upload URL stands in for the key (http_sign.c) */
	bool signed_url = rt.id == RT_UPLOAD && http_arg(c, "signature");
	if (s->nkeys && want && !signed_url && m != M_OPTIONS) {
		/* with its length: a NUL inside would cut a C string short */
		const char *auth = NULL;
		size_t alen = 0;
		unsigned have = 0;
		if (MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION,
		                                  strlen(MHD_HTTP_HEADER_AUTHORIZATION), &auth,
		                                  &alen) != MHD_YES)
			auth = NULL;
		if (auth && alen > 7 && !strncasecmp(auth, "Bearer ", 7) && alen - 7 <= 256 &&
		    auth_whole(c, auth, alen))
			have = http_key_scopes(s, auth + 7, alen - 7, r->owner);
		if (!have)
			return http_send_error(c, r, 401, "UNAUTHORIZED",
			                       "an API key is required: Authorization: Bearer KEY");
		if (!(have & want))
			return http_send_error(c, r, 403, "FORBIDDEN",
			                       "the API key lacks the %s scope",
			                       want == SCOPE_WRITE   ? "write"
			                       : want == SCOPE_ADMIN ? "admin"
			                                             : "read");
	}
	/* the path's parameters outlive this call (a deferred handler reads them) */
	snprintf(r->path_buf, sizeof r->path_buf, "%s", url);
	route kept = match(r->path_buf);
	r->p1 = kept.param;
	r->p2 = kept.param2;
	r->signed_url = signed_url;
	/* uploads: one of the client's slots (behind a proxy, libmicrohttpd's
	   per-address limit sees only the proxy) */
	bool body = (rt.id == RT_UPLOAD && m == M_POST) || (rt.id == RT_TUS_FILE && m == M_PATCH);
	if (s->o.trusted_proxy && !http_client_request_take(s, r))
		return http_send_error(c, r, 429, "TOO_MANY_CONNECTIONS",
		                       "%u requests from %s are in progress; try again later",
		                       s->o.max_conn_per_client, r->client);
	if (body && !http_client_upload_take(s, r))
		return http_send_error(c, r, 429, "TOO_MANY_UPLOADS",
		                       "%u uploads from %s are in progress; try again later",
		                       s->o.max_uploads_per_client, r->client);
	if (http_routes[rt.id].flags & RF_SLOW) {
		r->off_loop = false; /* the pool thread sets it */
		if (http_pool_defer(s, c, r, dispatch)) {
			*deferred = true;
			return MHD_YES;
		}
		r->off_loop = true;
	}
	enum MHD_Result ret = dispatch(c, r);
	/* a body streams in: a client silent for a whole rate window is
	   dropped (http_limits.c checks the rate of the ones that send) */
	if (r->on_body && !r->status)
		MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
		                          (unsigned)s->o.rate_window_s);
	return ret;
}

enum MHD_Result http_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *data,
                                size_t *size, void **con_cls)
{
	http_srv *s = cls;
	req *r = *con_cls;
	(void)version;
	if (!r || !r->started) {
		if (!r && !(r = new_req(s)))
			return MHD_NO;
		*con_cls = r;
		r->started = true;
		snprintf(r->method, sizeof r->method, "%s", method);
		snprintf(r->path, sizeof r->path, "%s", url);
		http_client_address(c, r);
		/* Answers made now are held and queued at the next call, once
		   libmicrohttpd has the whole request: queued now, it would stop
		   reading the connection (no keep-alive, no pipelining). A request
		   refused before a body it carries is answered at once (and the
		   connection closed): its body is not worth reading. */
		r->off_loop = true;
		bool deferred = false;
		enum MHD_Result ret = first_call(c, r, url, method, version, &deferred);
		if (deferred)
			return MHD_YES; /* r is the pool's now */
		r->off_loop = false;
		if (ret != MHD_YES || !r->held || !has_body(c))
			return ret;
		struct MHD_Response *resp = r->held;
		r->held = NULL;
		ret = MHD_queue_response(c, r->held_status, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	/* the answer of a handler that ran off the loop */
	if (r->held) {
		struct MHD_Response *resp = r->held;
		r->held = NULL;
		enum MHD_Result ret = MHD_queue_response(c, r->held_status, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	if (r->held_no)
		return MHD_NO;
	if (r->status) {
		*size = 0; /* answered already: drop any body */
		return MHD_YES;
	}
	if (r->on_body) {
		if (*size) {
			size_t n = *size;
			if (r->on_room && !(n = r->on_room(c, r, n))) {
				/* suspended until the handler has room: the time
				   it waits is not the client's */
				r->win_t0 = 0;
				return MHD_YES;
			}
			if (!http_body_rate_ok(s, r, n))
				return MHD_NO; /* too slow: drop the connection */
			r->on_body(r, data, n);
			*size -= n;
			return MHD_YES;
		}
		/* the body is complete: its end syncs and records, off the loop */
		MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
		                          (unsigned)s->o.timeout_s);
		http_end_fn end = r->on_end;
		r->on_body = NULL;
		if (http_pool_defer(s, c, r, end))
			return MHD_YES;
		return end(c, r);
	}
	*size = 0;
	return MHD_YES;
}

void http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                       enum MHD_RequestTerminationCode toe)
{
	http_srv *s = cls;
	req *r = *con_cls;
	(void)c;
	if (!r)
		return;
	bool ok = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
	http_client_release(s, r);
	if (r->held) {
		MHD_destroy_response(r->held);
		r->held = NULL;
	}
	http_metrics_count(s, r->route, r->method, r->status);
	if (r->route != RT_NONE && r->status)
		http_metrics_observe(s, r->route, sl_now() - r->t0);
	http_log_request(s,
	                 r->status >= 500 ? "error"
	                 : ok             ? "info"
	                                  : "warn",
	                 ok                                              ? "request"
	                 : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "request timed out"
	                 : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "request cut by shutdown"
	                                                                 : "request ended early",
	                 r->method, r->path, r->status, r->corr, r->job, (sl_now() - r->t0) * 1000);
	*con_cls = NULL;
	/* on_done may sync a file (a tus upload cut mid-PATCH): off the loop */
	if (r->on_done) {
		r->done_ok = ok;
		http_pool_done(s, r);
		return;
	}
	free(r);
}
