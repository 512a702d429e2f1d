/*
 * `sluice serve`: the HTTP API on libmicrohttpd (docs/serve.md).
 *
 * Threading: MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION.
 * Handlers block: they write upload bodies to disk (and fdatasync them),
 * open the SQLite store and read it, and dump rejected rows into a file.
 * With a thread per connection a slow disk or a busy database stalls only
 * the request that waits for it; a fixed pool would let a few such requests
 * hold every thread and starve /healthz and the status routes. The number
 * of threads is bounded by --max-connections (MHD_OPTION_CONNECTION_LIMIT),
 * and idle clients are dropped after MHD_OPTION_CONNECTION_TIMEOUT.
 *
 * A request's life: the first call of the access handler (headers known)
 * routes it, checks the API key, and answers at once everything that needs
 * no body. An upload instead opens DATA_DIR/uploads/ID.part (ID generated
 * here, never taken from the request) and each later call appends the
 * chunk MHD hands over and feeds the XXH3 hash: the body is never held in
 * memory. The last call (no more data) syncs the file, settles the
 * Idempotency-Key, renames it to ID.csv, queues the ingest
 * (http_worker.c) and answers 202. The completion callback logs one JSON
 * line, counts the request for /metrics and removes the partial file of a
 * client that went away.
 *
 * Errors found while a body streams in (too large, disk full) cannot be
 * answered before the body ends (MHD accepts a response only before the
 * body or after it), so the rest of the body is read and dropped, then the
 * error is sent. A Content-Length over the limit is refused before.
 *
 * Shared state and its locks are described in http_int.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/base.h"
#include "http/http_int.h"

static const char *const route_names[RT_COUNT] = {
	"/healthz/live", "/healthz/ready", "/metrics", "/",
	"/v1/datasets", "/v1/datasets/{name}/uploads", "/v1/datasets/{name}/upload-urls",
	"/v1/datasets/{name}/records", "/v1/datasets/{name}/records/{key}", "/v1/tus/",
	"/v1/tus/{id}", "/v1/jobs", "/v1/jobs/{id}", "/v1/jobs/{id}/chunks",
	"/v1/jobs/{id}/errors", "/v1/jobs/{id}/events", "/v1/jobs/{id}/retry",
	"/v1/jobs/{id}/cancel", "/v1/jobs/{id}/rollback", "other",
};

/* What each route takes and the API key scope it needs (0: none). */
static const struct {
	unsigned methods, scope;
} route_rules[RT_COUNT] = {
	[RT_LIVE] = {M_GET, 0},
	[RT_READY] = {M_GET, 0},
	[RT_METRICS] = {M_GET, 0},
	[RT_DASHBOARD] = {M_GET, 0},
	[RT_DATASETS] = {M_GET, SCOPE_READ},
	[RT_UPLOAD] = {M_POST, SCOPE_WRITE},
	[RT_UPLOAD_URLS] = {M_POST, SCOPE_WRITE},
	[RT_RECORDS] = {M_GET, SCOPE_READ},
	[RT_RECORD] = {M_GET, SCOPE_READ},
	[RT_TUS] = {M_POST | M_OPTIONS, SCOPE_WRITE},
	[RT_TUS_FILE] = {M_HEAD | M_PATCH | M_DELETE | M_OPTIONS, SCOPE_WRITE},
	[RT_JOBS] = {M_GET, SCOPE_READ},
	[RT_JOB] = {M_GET, SCOPE_READ},
	[RT_CHUNKS] = {M_GET, SCOPE_READ},
	[RT_ERRORS] = {M_GET, SCOPE_READ},
	[RT_EVENTS] = {M_GET, SCOPE_READ},
	[RT_RETRY] = {M_POST, SCOPE_ADMIN},
	[RT_CANCEL] = {M_POST, SCOPE_ADMIN},
	[RT_ROLLBACK] = {M_POST, SCOPE_ADMIN},
	[RT_NONE] = {0, 0},
};

/* the statuses counted by /metrics; anything else is counted as the last */
static const unsigned statuses[HTTP_NSTATUS] = {200, 201, 202, 204, 400, 401, 403, 404, 405, 409,
						 412, 413, 414, 415, 423, 429, 431, 460, 500, 503, 507, 0, 1};

static unsigned status_index(unsigned st)
{
	for (unsigned i = 0; i < HTTP_NSTATUS - 1; i++)
		if (statuses[i] == st)
			return i;
	return HTTP_NSTATUS - 1;
}

/* --- logs ---------------------------------------------------------------------------- */

static void log_time(char *buf, size_t n)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + k, n - k, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* One JSON object per line on stderr, written with one fwrite under a lock
   so that lines of different threads never interleave. */
static void log_emit(http_srv *s, const char *level, const char *msg, const char *method,
		     const char *path, unsigned status, const char *corr, const char *job,
		     int64_t chunk, double duration_ms)
{
	char *buf = NULL, when[40];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return;
	log_time(when, sizeof when);
	fprintf(f, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", when, level);
	http_json_str(f, msg);
	if (method) {
		fputs(",\"method\":", f);
		http_json_str(f, method);
		fputs(",\"path\":", f);
		http_json_str(f, path);
		fprintf(f, ",\"status\":%u", status);
	}
	if (corr) {
		fputs(",\"correlation_id\":", f);
		http_json_str(f, corr);
	}
	if (job && job[0]) {
		fputs(",\"job\":", f);
		http_json_str(f, job);
	}
	if (chunk >= 0)
		fprintf(f, ",\"chunk\":%lld", (long long)chunk);
	if (method)
		fprintf(f, ",\"duration_ms\":%.3f", duration_ms);
	fputs("}\n", f);
	if (fclose(f) == 0) {
		pthread_mutex_lock(&s->log_mu);
		fwrite(buf, 1, len, stderr);
		fflush(stderr);
		pthread_mutex_unlock(&s->log_mu);
	}
	free(buf);
}

static void log_v(http_srv *s, const char *level, const char *job, int64_t chunk, const char *corr,
		  const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, ap);
	log_emit(s, level, msg, NULL, NULL, 0, corr, job, chunk, 0);
}

void http_log_chunk(http_srv *s, const char *level, const char *job, int64_t chunk,
		    const char *corr, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v(s, level, job, chunk, corr, fmt, ap);
	va_end(ap);
}

void http_log(http_srv *s, const char *level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v(s, level, NULL, -1, NULL, fmt, ap);
	va_end(ap);
}

void http_log_job(http_srv *s, const char *level, const char *job, const char *corr,
		  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v(s, level, job, -1, corr, fmt, ap);
	va_end(ap);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = 0;
	log_emit(cls, "warn", msg, NULL, NULL, 0, NULL, NULL, -1, 0);
}

/* --- requests -------------------------------------------------------------------------- */

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

static void allow_header(struct MHD_Response *resp, int rt);

void http_common_headers(struct MHD_Response *resp, http_req *r)
{
	MHD_add_response_header(resp, "X-Correlation-Id", r->corr);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
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
	if (status == 405)
		allow_header(resp, r->route);
	/* tus clients look for it on every answer of a tus route */
	if (r->route == RT_TUS || r->route == RT_TUS_FILE) {
		MHD_add_response_header(resp, "Tus-Resumable", "1.0.0");
		if (status == 412)
			MHD_add_response_header(resp, "Tus-Version", "1.0.0");
	}
	enum MHD_Result ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	r->status = status;
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
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
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


enum MHD_Result http_body_send(struct MHD_Connection *c, http_req *r, unsigned status,
			       http_body *b, const char *ctype, const char *location)
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
		static const char oom[] = "{\"error\":{\"code\":\"NOMEM\",\"message\":\"out of memory\"}}\n";
		char *p = strdup(oom);
		return p ? http_send_buf(c, r, 500, p, strlen(p), "application/json", NULL) : MHD_NO;
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

/* --- API keys -------------------------------------------------------------------------- */

static int parse_keys(http_srv *s, const char *spec)
{
	int rc = 0;
	char *copy = strdup(spec), *save = NULL;
	if (!copy)
		return SL_NOMEM;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');
		if (!colon || colon == tok || s->nkeys >= HTTP_MAX_KEYS) {
			rc = SL_CONFIG;
			goto out;
		}
		*colon = 0;
		unsigned scopes = 0;
		char *save2 = NULL;
		for (char *sc = strtok_r(colon + 1, "+", &save2); sc; sc = strtok_r(NULL, "+", &save2)) {
			if (!strcmp(sc, "read"))
				scopes |= SCOPE_READ;
			else if (!strcmp(sc, "write"))
				scopes |= SCOPE_WRITE;
			else if (!strcmp(sc, "admin"))
				scopes |= SCOPE_ADMIN;
			else {
				rc = SL_CONFIG;
				goto out;
			}
		}
		if (!scopes || !http_valid_token(tok, 256, false)) {
			rc = SL_CONFIG;
			goto out;
		}
		http_key *k = &s->keys[s->nkeys];
		if (!(k->key = strdup(tok))) {
			rc = SL_NOMEM;
			goto out;
		}
		k->len = strlen(tok);
		k->scopes = scopes;
		s->nkeys++;
	}
	if (!s->nkeys)
		rc = SL_CONFIG;
out:
	free(copy);
	return rc;
}

/* The scopes of the presented key, 0 when it is unknown. Every key is
   compared over its whole length whatever the outcome, so the time taken
   does not tell how much of a key was right. */
static unsigned key_scopes(const http_srv *s, const char *tok)
{
	size_t n = strlen(tok);
	unsigned found = 0;
	for (size_t i = 0; i < s->nkeys; i++) {
		const http_key *k = &s->keys[i];
		unsigned char diff = (unsigned char)(n != k->len);
		for (size_t j = 0; j < k->len; j++)
			diff |= (unsigned char)(k->key[j] ^ (j < n ? tok[j] : 0));
		unsigned match = (unsigned)(diff == 0);
		found |= k->scopes & (0u - match);
	}
	return found;
}

/* --- routing ---------------------------------------------------------------------------- */

#define MAX_SEGS 8

typedef struct route {
	int id;
	const char *param;  /* {name} or {id}: a segment of the (decoded) path */
	const char *param2; /* {key} */
} route;

static unsigned method_bit(const char *m)
{
	return !strcmp(m, "GET") ? M_GET : !strcmp(m, "HEAD") ? M_HEAD : !strcmp(m, "POST") ? M_POST
	     : !strcmp(m, "PATCH") ? M_PATCH : !strcmp(m, "DELETE") ? M_DELETE
	     : !strcmp(m, "OPTIONS") ? M_OPTIONS : 0;
}

static void allow_header(struct MHD_Response *resp, int rt)
{
	static const char *const names[] = {"GET, HEAD", "POST", "PATCH", "DELETE", "OPTIONS", "HEAD"};
	char buf[64] = "";
	unsigned m = route_rules[rt].methods;
	if ((m & M_GET) && (m & M_HEAD))
		m &= ~(unsigned)M_HEAD;
	for (unsigned i = 0; i < 6; i++)
		if (m & (1u << i))
			snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", buf[0] ? ", " : "", names[i]);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, buf);
}

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
		rt.id = !strcmp(seg[1], "live") ? RT_LIVE : !strcmp(seg[1], "ready") ? RT_READY : RT_NONE;
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
			   {"retry", RT_RETRY},   {"cancel", RT_CANCEL}, {"rollback", RT_ROLLBACK}};
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

/* --- health and metrics ------------------------------------------------------------------- */

static int first_job(void *ctx, const sl_job *j)
{
	(void)ctx;
	(void)j;
	return 1; /* one row is enough to know the store reads */
}

static enum MHD_Result h_ready(struct MHD_Connection *c, req *r)
{
	http_srv *s = r->s;
	char reasons[3][600];
	int n = 0;
	if (!s->nds)
		snprintf(reasons[n++], sizeof reasons[0], "no schemas loaded from %s", s->o.schemas_dir);
	struct statvfs vf;
	if (statvfs(s->o.data_dir, &vf) != 0)
		snprintf(reasons[n++], sizeof reasons[0], "data directory %s: %s", s->o.data_dir,
			 strerror(errno));
	else if ((uint64_t)vf.f_bavail * vf.f_frsize < s->o.min_free)
		snprintf(reasons[n++], sizeof reasons[0],
			 "free space in %s is %llu bytes, below the %llu required", s->o.data_dir,
			 (unsigned long long)vf.f_bavail * vf.f_frsize,
			 (unsigned long long)s->o.min_free);
	/* writable: the file (or, before the first job, its directory) and a store
	   that opens and reads */
	char dir[4096], msg[512] = "";
	snprintf(dir, sizeof dir, "%s", s->o.db);
	char *slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir ? 1 : 0] = 0;
	else
		snprintf(dir, sizeof dir, ".");
	if ((access(s->o.db, F_OK) == 0 && access(s->o.db, W_OK) != 0) || access(dir, W_OK) != 0)
		snprintf(reasons[n++], sizeof reasons[0], "database %s is not writable", s->o.db);
	else if (sl_jobs_list(s->o.db, -1, first_job, NULL, msg, sizeof msg) < 0)
		snprintf(reasons[n++], sizeof reasons[0], "%s", msg);
	body b;
	if (!http_body_open(&b))
		return http_send_error(c, r, 500, "NOMEM", "out of memory");
	if (!n) {
		fputs("{\"status\":\"ready\"}\n", b.f);
		return http_body_send(c, r, 200, &b, "application/json", NULL);
	}
	fputs("{\"status\":\"not ready\",\"reasons\":[", b.f);
	for (int i = 0; i < n; i++) {
		fputs(i ? "," : "", b.f);
		http_json_str(b.f, reasons[i]);
	}
	fputs("],\"error\":{\"code\":\"NOT_READY\",\"message\":", b.f);
	http_json_str(b.f, reasons[0]);
	fputs("}}\n", b.f);
	return http_body_send(c, r, 503, &b, "application/json", NULL);
}

static int count_status(void *ctx, const sl_job *j)
{
	uint64_t *by = ctx;
	if ((unsigned)j->status < SL_JOB_NSTATUS)
		by[j->status]++;
	return 0;
}

static enum MHD_Result h_metrics(struct MHD_Connection *c, req *r)
{
	http_srv *s = r->s;
	body b;
	if (!http_body_open(&b))
		return http_send_error(c, r, 500, "NOMEM", "out of memory");
	FILE *f = b.f;
	fputs("# HELP sluice_http_requests_total HTTP requests answered, by route and status.\n"
	      "# TYPE sluice_http_requests_total counter\n", f);
	for (int i = 0; i < RT_COUNT; i++)
		for (int k = 0; k < HTTP_NSTATUS; k++) {
			uint64_t v = atomic_load(&s->requests[i][k]);
			if (!v)
				continue;
			if (k == HTTP_NSTATUS - 1)
				fprintf(f, "sluice_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
					route_names[i], (unsigned long long)v);
			else
				fprintf(f, "sluice_http_requests_total{route=\"%s\",status=\"%u\"} %llu\n",
					route_names[i], statuses[k], (unsigned long long)v);
		}
	fprintf(f,
		"# HELP sluice_rows_loaded_total Rows loaded by the jobs this process ran.\n"
		"# TYPE sluice_rows_loaded_total counter\nsluice_rows_loaded_total %llu\n"
		"# HELP sluice_rows_rejected_total Rows rejected by the jobs this process ran.\n"
		"# TYPE sluice_rows_rejected_total counter\nsluice_rows_rejected_total %llu\n"
		"# HELP sluice_upload_bytes_total Upload body bytes received.\n"
		"# TYPE sluice_upload_bytes_total counter\nsluice_upload_bytes_total %llu\n"
		"# HELP sluice_uploads_total Uploads received in full.\n"
		"# TYPE sluice_uploads_total counter\nsluice_uploads_total %llu\n"
		"# HELP sluice_uploads_in_flight Upload bodies being received now.\n"
		"# TYPE sluice_uploads_in_flight gauge\nsluice_uploads_in_flight %d\n",
		(unsigned long long)atomic_load(&s->rows_loaded),
		(unsigned long long)atomic_load(&s->rows_rejected),
		(unsigned long long)atomic_load(&s->upload_bytes),
		(unsigned long long)atomic_load(&s->uploads_done), atomic_load(&s->uploads_in_flight));
	pthread_mutex_lock(&s->mu);
	size_t queued = s->qlen;
	unsigned running = s->busy;
	pthread_mutex_unlock(&s->mu);
	fprintf(f, "# HELP sluice_ingest_queue_length Jobs waiting for a runner.\n"
		   "# TYPE sluice_ingest_queue_length gauge\nsluice_ingest_queue_length %zu\n"
		   "# HELP sluice_jobs_running Jobs running in this process now.\n"
		   "# TYPE sluice_jobs_running gauge\nsluice_jobs_running %u\n", queued, running);
	http_metrics_histograms(s, f, route_names);
	uint64_t cby[SL_CHUNK_NSTATUS];
	char cmsg[512];
	if (sl_chunk_counts(s->o.db, cby, cmsg, sizeof cmsg) >= 0) {
		fputs("# HELP sluice_chunks Chunks in the store, by status.\n# TYPE sluice_chunks gauge\n", f);
		for (int i = 0; i < SL_CHUNK_NSTATUS; i++)
			fprintf(f, "sluice_chunks{status=\"%s\"} %llu\n", sl_chunk_status_name((sl_chunk_status)i),
				(unsigned long long)cby[i]);
	}
	uint64_t by[SL_JOB_NSTATUS] = {0};
	char msg[512];
	if (sl_jobs_list(s->o.db, -1, count_status, by, msg, sizeof msg) >= 0) {
		fputs("# HELP sluice_jobs Jobs in the store, by status.\n# TYPE sluice_jobs gauge\n", f);
		for (int i = 0; i < SL_JOB_NSTATUS; i++)
			fprintf(f, "sluice_jobs{status=\"%s\"} %llu\n", sl_job_status_name((sl_job_status)i),
				(unsigned long long)by[i]);
	}
	return http_body_send(c, r, 200, &b, "text/plain; version=0.0.4; charset=utf-8", NULL);
}

static enum MHD_Result h_datasets(struct MHD_Connection *c, req *r)
{
	body b;
	if (!http_body_open(&b))
		return http_send_error(c, r, 500, "NOMEM", "out of memory");
	fputs("{\"datasets\":[", b.f);
	for (size_t i = 0; i < r->s->nds; i++) {
		fputs(i ? "," : "", b.f);
		http_json_dataset(b.f, r->s->ds[i].schema);
	}
	fputs("]}\n", b.f);
	return http_body_send(c, r, 200, &b, "application/json", NULL);
}

/* --- jobs ---------------------------------------------------------------------------------- */

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
	if (rc < 0 && rc != SL_INVAL) {
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
		return 1;
	}
	/* an upload's name is 'u' + its job id's digits */
	char msg[512];
	sl_job j;
	snprintf(job, SL_JOB_ID_LEN, "j%s", id + 1);
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
	if (rc == SL_INVAL)
		return http_send_error(c, r, 404, "NOT_FOUND", "no job %s", id);
	return http_send_error(c, r, 503, sl_error_name(rc), "%s", msg[0] ? msg : sl_error_message(rc));
}

/* Resolve and load; on failure the answer is sent and *sent is set. */
static int load_job(struct MHD_Connection *c, req *r, const char *id, sl_job *j, sl_chunk **chunks,
		    size_t *n, enum MHD_Result *sent)
{
	char job[SL_JOB_ID_LEN], msg[512];
	memset(j, 0, sizeof *j);
	if (!http_valid_token(id, HTTP_ID_MAX, true) || !http_resolve_job(r->s, id, job)) {
		*sent = http_send_error(c, r, 404, "NOT_FOUND", "no job %s",
					http_valid_token(id, HTTP_ID_MAX, true) ? id : "with that id");
		return -1;
	}
	snprintf(r->job, sizeof r->job, "%s", job);
	/* accepted a moment ago: the acceptor is recording it */
	if (http_pending_job(r->s, job, j) == 1) {
		bool failed = j->status == SL_JOB_FAILED;
		sl_job_clear(j);
		if (failed) {
			*sent = http_send_error(c, r, 409, "NOT_RECORDED", "upload %s could not be recorded as a job", id);
			return -1;
		}
		if (!http_pending_wait(r->s, job, 3000)) {
			*sent = http_send_error(c, r, 503, "NOT_RECORDED_YET",
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
	if (!dot || dot == id || (size_t)(dot - id) >= SL_JOB_ID_LEN || !dot[1] || strlen(dot + 1) > 9)
		return false;
	for (const char *p = dot + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	memcpy(job, id, (size_t)(dot - id));
	job[dot - id] = 0;
	*seq = (uint32_t)strtoul(dot + 1, NULL, 10);
	return http_valid_token(job, HTTP_ID_MAX, true);
}

static enum MHD_Result h_chunk(struct MHD_Connection *c, req *r, const char *job, uint32_t seq)
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

static enum MHD_Result h_job(struct MHD_Connection *c, req *r, const char *id)
{
	char job[SL_JOB_ID_LEN], uid[SL_JOB_ID_LEN];
	uint32_t seq;
	if (strlen(id) <= HTTP_ID_MAX + 10 && chunk_id(id, job, &seq))
		return h_chunk(c, r, job, seq);
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

static enum MHD_Result h_chunks(struct MHD_Connection *c, req *r, const char *id)
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
	size_t plen;
	bool has_cursor;
	int64_t cur_ms;
	char cur_id[SL_JOB_ID_LEN];
	uint64_t limit, n;
	bool more;
	int64_t last_ms;
	char last_id[SL_JOB_ID_LEN];
} list_ctx;

static int list_one(void *ctx, const sl_job *j)
{
	list_ctx *l = ctx;
	/* newest first: (created_ms, id) descending, as the store lists them */
	if (l->has_cursor &&
	    !(j->created_ms < l->cur_ms || (j->created_ms == l->cur_ms && strcmp(j->id, l->cur_id) < 0)))
		return 0;
	if (l->dataset && (!j->dataset || strcmp(j->dataset, l->dataset)))
		return 0;
	if (l->prefix && strncmp(j->id, l->prefix, l->plen) &&
	    (!j->correlation_id || strncmp(j->correlation_id, l->prefix, l->plen)))
		return 0;
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

static enum MHD_Result h_jobs(struct MHD_Connection *c, req *r)
{
	list_ctx l = {0};
	l.s = r->s;
	l.limit = 100;
	const char *st = http_arg(c, "status"), *lim = http_arg(c, "limit"), *cur = http_arg(c, "cursor");
	sl_job_status status = 0;
	if (st && st[0] && sl_job_status_parse(st, &status) < 0)
		return http_send_error(c, r, 400, "BAD_REQUEST", "status: not a job status");
	if (lim) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(lim, &end, 10);
		if (!(lim[0] >= '0' && lim[0] <= '9') || *end || errno || v < 1 || v > 1000)
			return http_send_error(c, r, 400, "BAD_REQUEST", "limit: a whole number from 1 to 1000");
		l.limit = v;
	}
	if (cur && cur[0]) {
		if (!parse_cursor(cur, &l.cur_ms, l.cur_id))
			return http_send_error(c, r, 400, "BAD_REQUEST", "cursor: not a cursor this server gave");
		l.has_cursor = true;
	}
	l.dataset = http_arg(c, "dataset");
	if (l.dataset && !l.dataset[0])
		l.dataset = NULL;
	l.prefix = http_arg(c, "prefix");
	if (l.prefix && !l.prefix[0])
		l.prefix = NULL;
	if (l.prefix && !http_valid_token(l.prefix, HTTP_CORR_MAX, false))
		return http_send_error(c, r, 400, "BAD_REQUEST", "prefix: 1 to 128 printable ASCII characters");
	l.plen = l.prefix ? strlen(l.prefix) : 0;
	body b;
	if (!http_body_open(&b))
		return http_send_error(c, r, 500, "NOMEM", "out of memory");
	l.f = b.f;
	fputs("{\"jobs\":[", b.f);
	/* jobs accepted a moment ago are the newest: the first page has them */
	if (!l.has_cursor) {
		l.n = http_pending_list(r->s, b.f, st && st[0] ? (int)status : -1, l.dataset, l.prefix, l.limit, false);
		/* a page full of them: the next one starts at the newest stored job */
		l.last_ms = INT64_MAX;
		snprintf(l.last_id, sizeof l.last_id, "zzzz");
	}
	char msg[512];
	int rc = sl_jobs_list(r->s->o.db, st && st[0] ? (int)status : -1, list_one, &l, msg, sizeof msg);
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
	bool csv;
} rej_ctx;

static int write_reject(void *ctx, uint32_t chunk, const sl_reject *r, const char *column)
{
	rej_ctx *x = ctx;
	if (x->csv)
		http_reject_csv(x->f, r, column);
	else
		http_reject_jsonl(x->f, chunk, r, column);
	return ferror(x->f) ? SL_IO_WRITE : 0;
}

/* The rejected rows are written to an unlinked temporary file and served
   from it (MHD_create_response_from_fd). sl_job_rejects pushes rows through
   a callback while it holds a read transaction; feeding a slow client
   straight from it would keep that transaction (and the store connection)
   open for as long as the client takes, holding back WAL checkpoints, and
   would need a producer thread per download. The file costs disk the size
   of the rejects, freed when the response is done (it has no name). */
static enum MHD_Result h_errors(struct MHD_Connection *c, req *r, const char *id)
{
	const char *fmt = http_arg(c, "format"), *code_s = http_arg(c, "code");
	bool csv = true;
	int code = 0, fd = -1;
	enum MHD_Result ret;
	sl_job j;
	FILE *f = NULL;
	if (fmt && !strcmp(fmt, "jsonl"))
		csv = false;
	else if (fmt && strcmp(fmt, "csv"))
		return http_send_error(c, r, 400, "BAD_REQUEST", "format: csv or jsonl");
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
		fputs(HTTP_ERRORS_CSV_HEADER, f);
	rej_ctx x = {f, csv};
	int rc = sl_job_rejects(r->s->o.db, j.id, code, write_reject, &x, msg, sizeof msg);
	int wr = fclose(f);
	f = NULL;
	if (rc < 0 || wr != 0) {
		ret = rc < 0 ? store_error(c, r, rc, msg, id)
			     : http_send_error(c, r, 507, "IO_WRITE", "cannot write the rejected rows to a temporary file");
		goto out;
	}
	off_t size = lseek(fd, 0, SEEK_END);
	struct MHD_Response *resp = size >= 0 ? MHD_create_response_from_fd((uint64_t)size, fd) : NULL;
	if (!resp) {
		ret = http_send_error(c, r, 500, "INTERNAL", "cannot send the file");
		goto out;
	}
	fd = -1; /* the response owns it */
	char disp[128];
	snprintf(disp, sizeof disp, "attachment; filename=\"%s-errors.%s\"", j.id, csv ? "csv" : "jsonl");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				csv ? "text/csv; charset=utf-8" : "application/x-ndjson");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
	http_common_headers(resp, r);
	ret = MHD_queue_response(c, 200, resp);
	MHD_destroy_response(resp);
	r->status = 200;
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	sl_job_clear(&j);
	return ret;
}

static enum MHD_Result accepted(struct MHD_Connection *c, req *r, unsigned status, const char *job)
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

static enum MHD_Result h_retry(struct MHD_Connection *c, req *r, const char *id)
{
	sl_job j;
	enum MHD_Result ret;
	if (load_job(c, r, id, &j, NULL, NULL, &ret) < 0)
		return ret;
	if (!sl_job_status_final(j.status) || j.status == SL_JOB_ROLLEDBACK) {
		ret = http_send_error(c, r, 409, "CONFLICT", "job %s is %s: only a finished job can be retried",
				      j.id, sl_job_status_name(j.status));
		goto out;
	}
	/* Failed and Cancelled jobs have chunks left to run; a finished one
	   only when some failed (rejected rows are not retried: fix and upload
	   them) */
	if ((j.status == SL_JOB_SUCCEEDED || j.status == SL_JOB_PARTIAL) && !j.chunks_failed) {
		ret = http_send_error(c, r, 409, "NOTHING_TO_RETRY",
				      "job %s has no failed chunks; its rejected rows are in /v1/jobs/%s/errors",
				      j.id, j.id);
		goto out;
	}
	/* waiting from now on (ChunksQueued), before the 202: a client that
	   looks right after it never sees the old final status */
	char msg[512];
	int rq = sl_job_requeue(r->s->o.db, j.id, msg, sizeof msg);
	if (rq < 0) {
		ret = rq == SL_CONFLICT ? http_send_error(c, r, 409, "CONFLICT", "%s", msg) : store_error(c, r, rq, msg, id);
		goto out;
	}
	int q = http_queue_job(r->s, Q_RUN, j.id, r->corr);
	if (q < 0)
		ret = http_send_error(c, r, 503, "NOMEM", "out of memory");
	else if (q == 1)
		ret = http_send_error(c, r, 409, "CONFLICT", "job %s is queued or running already", j.id);
	else
		ret = accepted(c, r, 202, j.id);
out:
	sl_job_clear(&j);
	return ret;
}

/* Cancel: a job nobody runs (queued here, or not started) is Cancelled at
   once (200); a running one stops after the chunk it commits (202, status
   still Processing; follow the job until it says Cancelled). */
static enum MHD_Result h_cancel(struct MHD_Connection *c, req *r, const char *id)
{
	sl_job j;
	enum MHD_Result ret;
	char msg[512];
	sl_job_status st = SL_JOB_ACCEPTED;
	if (load_job(c, r, id, &j, NULL, NULL, &ret) < 0)
		return ret;
	int rc = sl_job_cancel(r->s->o.db, j.id, &st, msg, sizeof msg);
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
		     st == SL_JOB_CANCELLED ? "cancelled" : "requested; stops after the chunk in progress");
	ret = http_body_send(c, r, st == SL_JOB_CANCELLED ? 200 : 202, &b, "application/json", NULL);
out:
	sl_job_clear(&j);
	return ret;
}

static enum MHD_Result h_rollback(struct MHD_Connection *c, req *r, const char *id)
{
	sl_job j;
	enum MHD_Result ret;
	char msg[512] = "";
	uint64_t rows = 0;
	if (load_job(c, r, id, &j, NULL, NULL, &ret) < 0)
		return ret;
	int rc = sl_ingest_rollback(r->s->o.db, j.id, &rows, msg, sizeof msg);
	if (rc == SL_INVAL) {
		ret = http_send_error(c, r, 409, "CONFLICT", "%s", msg);
	} else if (rc < 0) {
		ret = http_send_error(c, r, 503, sl_error_name(rc), "%s", msg[0] ? msg : sl_error_message(rc));
	} else {
		body b;
		if (!http_body_open(&b)) {
			ret = http_send_error(c, r, 500, "NOMEM", "out of memory");
			goto out;
		}
		fputs("{\"job_id\":", b.f);
		http_json_str(b.f, j.id);
		fprintf(b.f, ",\"status\":\"RolledBack\",\"rows_removed\":%llu}\n", (unsigned long long)rows);
		ret = http_body_send(c, r, 200, &b, "application/json", NULL);
	}
	http_log_job(r->s, "info", j.id, r->corr, "rollback of %s: %s", j.id, rc < 0 ? msg : "done");
out:
	sl_job_clear(&j);
	return ret;
}

/* --- uploads ----------------------------------------------------------------------------- */

#define BULK_NICE 5

void http_bulk_begin(http_req *r)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);
	errno = 0;
	int now = getpriority(PRIO_PROCESS, (id_t)tid);
	if (errno || setpriority(PRIO_PROCESS, (id_t)tid, now + BULK_NICE) != 0)
		return;
	r->bulk = true;
	r->nice0 = now;
}

void http_bulk_end(http_req *r)
{
	if (!r->bulk)
		return;
	r->bulk = false;
	setpriority(PRIO_PROCESS, (id_t)(pid_t)syscall(SYS_gettid), r->nice0);
}

int http_dataset_find(const http_srv *s, const char *name)
{
	for (size_t i = 0; i < s->nds; i++)
		if (!strcmp(s->ds[i].schema->name, name))
			return (int)i;
	return -1;
}

static void upload_release(req *r)
{
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
	http_bulk_end(r);
	upload_release(r);
	if (r->pp) {
		MHD_destroy_post_processor(r->pp);
		r->pp = NULL;
	}
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
	if (r->fail_status || r->fd < 0)
		return; /* drop the rest of a refused body */
	if (r->bytes + n > r->s->o.max_upload) {
		upload_fail(r, 413, "TOO_LARGE", "the body is larger than the limit of %llu bytes",
			    (unsigned long long)r->s->o.max_upload);
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

/* multipart/form-data: the part named `file` is the upload; other parts
   (a description, say) are ignored. One file part only. */
static enum MHD_Result multipart_part(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *filename, const char *content_type,
				      const char *transfer_encoding, const char *data, uint64_t off,
				      size_t size)
{
	req *r = cls;
	(void)kind;
	(void)filename;
	(void)content_type;
	(void)transfer_encoding;
	if (!key || strcmp(key, "file"))
		return MHD_YES;
	if (off == 0 && r->file_part_seen && r->bytes) {
		upload_fail(r, 400, "BAD_REQUEST", "more than one part named file");
		return MHD_YES;
	}
	r->file_part_seen = true;
	if (size)
		upload_write(r, data, size);
	return MHD_YES;
}

static void upload_data(http_req *r, const char *data, size_t n)
{
	if (r->fail_status)
		return;
	if (!r->pp) {
		upload_write(r, data, n);
		return;
	}
	if (MHD_post_process(r->pp, data, n) != MHD_YES)
		upload_fail(r, 400, "BAD_REQUEST", "the multipart body is malformed");
}

/* The body is complete: keep it and create its job. */
static enum MHD_Result upload_end(struct MHD_Connection *c, http_req *r)
{
	http_srv *s = r->s;
	if (r->pp) {
		/* MHD_NO: the body ended inside a part */
		if (MHD_destroy_post_processor(r->pp) != MHD_YES)
			upload_fail(r, 400, "BAD_REQUEST", "the multipart body ends early");
		r->pp = NULL;
		if (!r->file_part_seen)
			upload_fail(r, 400, "BAD_REQUEST", "the multipart body has no part named file");
	}
	if (!r->fail_status && !r->bytes)
		upload_fail(r, 400, "BAD_REQUEST", "the body is empty: send the file as the body");
	if (r->fail_status) {
		upload_release(r);
		return http_send_error(c, r, r->fail_status, r->fail_code, "%s", r->fail_msg);
	}
	/* the answer promises the file is kept: make it durable first */
	int fd = r->fd;
	r->fd = -1;
	if (fdatasync(fd) != 0 || close(fd) != 0) {
		int e = errno;
		unlink(r->part);
		upload_release(r);
		return http_send_error(c, r, 507, "IO_WRITE", "cannot store the upload: %s", strerror(e));
	}
	char job[SL_JOB_ID_LEN], msg[600], idem[HTTP_IDEM_MAX + 60];
	/* a signed URL's nonce is its idempotency key: the URL is good for one
	   upload, and the same body again gets the same job */
	if (r->nonce[0])
		snprintf(idem, sizeof idem, "url:%s", r->nonce);
	else if (r->idem[0])
		snprintf(idem, sizeof idem, "key:%s", r->idem);
	else
		idem[0] = 0;
	unsigned st = http_accept_file(s, r->ds, r->part, r->bytes, XXH3_64bits_digest(r->xx), idem,
				       r->corr, job, msg, sizeof msg);
	upload_release(r);
	switch (st) {
	case 200:
	case 202:
		return accepted(c, r, st, job);
	case 409:
		if (r->nonce[0])
			return http_send_error(c, r, 403, "FORBIDDEN", "this upload URL was used already");
		return http_send_error(c, r, 409, "IDEMPOTENCY_CONFLICT",
				       "the Idempotency-Key was used with another body or dataset");
	default:
		return http_send_error(c, r, st, st == 507 ? "IO_WRITE" : "UNAVAILABLE", "%s", msg);
	}
}

/* The first call: refuse what can be refused before the body. */
static enum MHD_Result upload_begin(struct MHD_Connection *c, req *r, const char *name,
				    bool signed_url)
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
		return http_send_error(c, r, 415, "UNSUPPORTED_MEDIA_TYPE",
				       "multipart/form-data (a part named file) or the raw file as the body");
	const char *cl = http_header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(cl, &end, 10);
		if (!errno && !*end && v > s->o.max_upload)
			return http_send_error(c, r, 413, "TOO_LARGE", "the body is %llu bytes; the limit is %llu", v,
					       (unsigned long long)s->o.max_upload);
	}
	const char *idem = http_header(c, "Idempotency-Key");
	if (idem) {
		if (!http_valid_token(idem, HTTP_IDEM_MAX, false))
			return http_send_error(c, r, 400, "BAD_REQUEST",
					       "Idempotency-Key: 1 to 200 printable ASCII characters");
		snprintf(r->idem, sizeof r->idem, "%s", idem);
	}
	r->on_done = upload_done;
	if (atomic_fetch_add(&s->uploads_in_flight, 1) >= (int)s->o.max_uploads) {
		atomic_fetch_sub(&s->uploads_in_flight, 1);
		return http_send_error(c, r, 429, "TOO_MANY_UPLOADS", "%u uploads are in progress; try again later",
				       s->o.max_uploads);
	}
	r->counted = true;
	if (!(r->xx = XXH3_createState()) || XXH3_64bits_reset(r->xx) != XXH_OK)
		return http_send_error(c, r, 503, "NOMEM", "out of memory");
	if (multipart && !(r->pp = MHD_create_post_processor(c, 64 * 1024, multipart_part, r)))
		return http_send_error(c, r, 400, "BAD_REQUEST", "multipart/form-data without a boundary");
	for (int attempt = 0; attempt < 3 && r->fd < 0; attempt++) {
		http_new_id('p', r->uid);
		snprintf(r->part, sizeof r->part, "%s/%s.part", s->uploads_dir, r->uid);
		r->fd = open(r->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (r->fd < 0 && errno != EEXIST)
			break;
	}
	if (r->fd < 0) {
		http_log(s, "error", "cannot create an upload file in %s: %s", s->uploads_dir, strerror(errno));
		return http_send_error(c, r, 503, "IO_WRITE", "cannot store the upload");
	}
	r->on_body = upload_data;
	r->on_end = upload_end;
	http_bulk_begin(r);
	return MHD_YES;
}

/* --- the access handler ---------------------------------------------------------------------- */

static enum MHD_Result add_len(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	size_t *n = cls;
	(void)kind;
	*n += strlen(key) + (value ? strlen(value) : 0) + 4;
	return MHD_YES;
}

static enum MHD_Result first_call(struct MHD_Connection *c, req *r, const char *url,
				  const char *method)
{
	http_srv *s = r->s;
	char path[512];
	/* The connection's memory pool is large (HTTP_CONN_POOL) so that upload
	   bodies come in big reads; headers get a tighter limit of their own,
	   with a JSON answer (beyond the pool, libmicrohttpd answers 431 itself). */
	size_t hlen = 0;
	MHD_get_connection_values(c, MHD_HEADER_KIND, add_len, &hlen);
	if (hlen > HTTP_HEADERS_MAX)
		return http_send_error(c, r, 431, "HEADERS_TOO_LARGE", "the request headers are %zu bytes; the limit is %u",
				       hlen, HTTP_HEADERS_MAX);
	if (strlen(url) >= sizeof path)
		return http_send_error(c, r, 414, "URI_TOO_LONG", "the path is too long");
	snprintf(path, sizeof path, "%s", url);
	route rt = match(path);
	r->route = rt.id;
	const char *corr = http_header(c, "X-Correlation-Id");
	if (corr) {
		if (!http_valid_token(corr, HTTP_CORR_MAX, false)) {
			http_new_id('r', r->corr);
			return http_send_error(c, r, 400, "BAD_REQUEST",
					       "X-Correlation-Id: 1 to 128 printable ASCII characters");
		}
		snprintf(r->corr, sizeof r->corr, "%s", corr);
		r->corr_given = true;
	}
	if (rt.id == RT_NONE)
		return http_send_error(c, r, 404, "NOT_FOUND", "no such route");
	unsigned m = method_bit(method), allowed = route_rules[rt.id].methods;
	if ((allowed & M_GET) && m == M_HEAD)
		m = M_GET;
	if (!(m & allowed))
		return http_send_error(c, r, 405, "METHOD_NOT_ALLOWED", "%s is not allowed here", method);
	unsigned want = route_rules[rt.id].scope;
	/* a signed upload URL stands in for the key (http_sign.c) */
	bool signed_url = rt.id == RT_UPLOAD && http_arg(c, "signature");
	if (s->nkeys && want && !signed_url && m != M_OPTIONS) {
		const char *auth = http_header(c, MHD_HTTP_HEADER_AUTHORIZATION);
		unsigned have = 0;
		if (auth && !strncasecmp(auth, "Bearer ", 7) && strlen(auth + 7) <= 256)
			have = key_scopes(s, auth + 7);
		if (!have)
			return http_send_error(c, r, 401, "UNAUTHORIZED",
					       "an API key is required: Authorization: Bearer KEY");
		if (!(have & want))
			return http_send_error(c, r, 403, "FORBIDDEN", "the API key lacks the %s scope",
					       want == SCOPE_WRITE ? "write" : want == SCOPE_ADMIN ? "admin" : "read");
	}
	switch (rt.id) {
	case RT_LIVE: {
		char *p = strdup("{\"status\":\"ok\"}\n");
		return p ? http_send_buf(c, r, 200, p, strlen(p), "application/json", NULL) : MHD_NO;
	}
	case RT_READY:
		return h_ready(c, r);
	case RT_METRICS:
		return h_metrics(c, r);
	case RT_DASHBOARD:
		return http_dashboard(c, r);
	case RT_DATASETS:
		return h_datasets(c, r);
	case RT_UPLOAD:
		return upload_begin(c, r, rt.param, signed_url);
	case RT_UPLOAD_URLS:
		return http_upload_urls(c, r, rt.param);
	case RT_RECORDS:
	case RT_RECORD:
		return http_records(c, r, rt.param, rt.param2);
	case RT_TUS:
	case RT_TUS_FILE:
		return http_tus(c, r, method, rt.param);
	case RT_JOBS:
		return h_jobs(c, r);
	case RT_JOB:
		return h_job(c, r, rt.param);
	case RT_CHUNKS:
		return h_chunks(c, r, rt.param);
	case RT_ERRORS:
		return h_errors(c, r, rt.param);
	case RT_EVENTS:
		return http_events(c, r, rt.param);
	case RT_RETRY:
		return h_retry(c, r, rt.param);
	case RT_CANCEL:
		return h_cancel(c, r, rt.param);
	case RT_ROLLBACK:
		return h_rollback(c, r, rt.param);
	default:
		return http_send_error(c, r, 404, "NOT_FOUND", "no such route");
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **con_cls)
{
	http_srv *s = cls;
	req *r = *con_cls;
	(void)version;
	if (!r) {
		if (!(r = calloc(1, sizeof *r)))
			return MHD_NO;
		r->s = s;
		r->fd = -1;
		r->t0 = sl_now();
		r->route = RT_NONE;
		snprintf(r->method, sizeof r->method, "%s", method);
		snprintf(r->path, sizeof r->path, "%s", url);
		http_new_id('r', r->corr);
		*con_cls = r;
		return first_call(c, r, url, method);
	}
	if (r->status) {
		*size = 0; /* answered already: drop any body */
		return MHD_YES;
	}
	if (r->on_body) {
		if (*size) {
			r->on_body(r, data, *size);
			*size = 0;
			return MHD_YES;
		}
		return r->on_end(c, r);
	}
	*size = 0;
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	http_srv *s = cls;
	req *r = *con_cls;
	(void)c;
	if (!r)
		return;
	bool ok = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
	if (r->on_done)
		r->on_done(r, ok);
	atomic_fetch_add(&s->requests[r->route][status_index(r->status)], 1);
	if (r->route != RT_NONE && r->status)
		http_metrics_observe(s, r->route, sl_now() - r->t0);
	log_emit(s, r->status >= 500 ? "error" : ok ? "info" : "warn",
		 ok ? "request"
		 : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "request timed out"
		 : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "request cut by shutdown"
								 : "request ended early",
		 r->method, r->path, r->status, r->corr, r->job, -1, (sl_now() - r->t0) * 1000);
	free(r);
	*con_cls = NULL;
}

/* --- start and stop ---------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_schemas(http_srv *s)
{
	int rc = 0;
	char **names = NULL;
	size_t n = 0, cap = 0;
	DIR *d = opendir(s->o.schemas_dir);
	if (!d) {
		http_log(s, "error", "schemas directory %s: %s", s->o.schemas_dir, strerror(errno));
		return SL_CONFIG;
	}
	for (struct dirent *e; (e = readdir(d));) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == '.' || !((l > 5 && !strcmp(e->d_name + l - 5, ".yaml")) ||
					     (l > 4 && !strcmp(e->d_name + l - 4, ".yml"))))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			char **nn = realloc(names, cap * sizeof *names);
			if (!nn) {
				rc = SL_NOMEM;
				goto out;
			}
			names = nn;
		}
		if (!(names[n] = strdup(e->d_name))) {
			rc = SL_NOMEM;
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof *names, cmp_str);
	if (n && !(s->ds = calloc(n, sizeof *s->ds))) {
		rc = SL_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char path[4096], err[512];
		sl_schema *sc = NULL;
		snprintf(path, sizeof path, "%s/%s", s->o.schemas_dir, names[i]);
		if ((rc = sl_schema_load(path, &sc, err, sizeof err)) < 0) {
			http_log(s, "error", "%s", err);
			goto out;
		}
		for (size_t k = 0; k < s->nds; k++)
			if (!strcmp(s->ds[k].schema->name, sc->name)) {
				http_log(s, "error", "%s: dataset %s is defined twice (also in %s)", path,
					 sc->name, s->ds[k].schema->path);
				sl_schema_free(sc);
				rc = SL_CONFIG;
				goto out;
			}
		s->ds[s->nds++].schema = sc;
		http_log(s, "info", "dataset %s from %s (table %s)", sc->name, path, sc->table);
	}
	if (!s->nds)
		http_log(s, "warn", "no schemas in %s: /healthz/ready answers 503", s->o.schemas_dir);
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

static int make_dir(http_srv *s, const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	http_log(s, "error", "cannot create %s: %s", path, strerror(errno));
	return SL_CONFIG;
}

/* Partial bodies of a previous run (killed mid-upload) are of no use. */
static void remove_partials(http_srv *s)
{
	DIR *d = opendir(s->uploads_dir);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == 'p' && l > 5 && !strcmp(e->d_name + l - 5, ".part")) {
			char p[4096];
			snprintf(p, sizeof p, "%s/%s", s->uploads_dir, e->d_name);
			unlink(p);
		}
	}
	closedir(d);
}

static int parse_listen(const char *spec, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(spec, ':');
	if (!colon || (size_t)(colon - spec) >= sizeof host)
		return -1;
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = 0;
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (errno || *end || colon[1] < '0' || colon[1] > '9' || port > 65535)
		return -1;
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (!host[0] || !strcmp(host, "*"))
		sa->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (!strcmp(host, "localhost"))
		sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -1;
	return 0;
}

int sl_serve(const sl_serve_opts *o)
{
	int rc = 0;
	http_srv *s = calloc(1, sizeof *s);
	struct MHD_Daemon *d = NULL;
	bool worker_up = false, locks = false;
	char *data_real = NULL;
	if (!s)
		return SL_NOMEM;
	pthread_mutex_init(&s->log_mu, NULL);
	pthread_mutex_init(&s->rd_mu, NULL);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->idle_cv, NULL);
	pthread_cond_init(&s->pend_cv, NULL);
	pthread_cond_init(&s->stored_cv, NULL);
	pthread_mutex_init(&s->idem_mu, NULL);
	locks = true;
	s->o = *o;
	if (!s->o.db)
		s->o.db = "sluice.db";
	if (!s->o.listen)
		s->o.listen = "127.0.0.1:8080";
	if (!s->o.min_free)
		s->o.min_free = 1ull << 30;
	if (!s->o.max_upload)
		s->o.max_upload = 64ull << 30;
	if (!s->o.max_uploads)
		s->o.max_uploads = 8;
	if (!s->o.max_connections)
		s->o.max_connections = 256;
	if (!s->o.timeout_s)
		s->o.timeout_s = 60;
	if (!s->o.grace_s)
		s->o.grace_s = 30;
	if (!s->o.jobs)
		s->o.jobs = 2;
	if (!s->o.slice_s)
		s->o.slice_s = 10;
	if (!s->o.url_ttl_s)
		s->o.url_ttl_s = 3600;
	if (!s->o.schemas_dir || !s->o.data_dir) {
		http_log(s, "error", "--schemas and --data-dir are required");
		rc = SL_USAGE;
		goto out;
	}
	struct sockaddr_in sa;
	if (parse_listen(s->o.listen, &sa) < 0) {
		http_log(s, "error", "--listen %s: not HOST:PORT with an IPv4 address", s->o.listen);
		rc = SL_USAGE;
		goto out;
	}
	const char *keys = o->api_keys ? o->api_keys : getenv("SLUICE_API_KEYS");
	if (keys && keys[0]) {
		if ((rc = parse_keys(s, keys)) < 0) {
			http_log(s, "error", "SLUICE_API_KEYS: not KEY:SCOPE+SCOPE,... with scopes read, write, admin");
			goto out;
		}
		http_log(s, "info", "%zu API keys loaded; every /v1 route needs one", s->nkeys);
	} else {
		http_log(s, "warn", "SLUICE_API_KEYS is not set: NO AUTHENTICATION, anyone who can reach "
				    "%s can upload, read and roll back jobs", s->o.listen);
	}
	if ((rc = make_dir(s, s->o.data_dir)) < 0)
		goto out;
	if (!(data_real = realpath(s->o.data_dir, NULL))) {
		http_log(s, "error", "%s: %s", s->o.data_dir, strerror(errno));
		rc = SL_CONFIG;
		goto out;
	}
	/* absolute and resolved, as the engine stores a job's file */
	if (asprintf(&s->uploads_dir, "%s/uploads", data_real) < 0 ||
	    asprintf(&s->tmp_dir, "%s/tmp", data_real) < 0 || asprintf(&s->tus_dir, "%s/tus", data_real) < 0) {
		s->uploads_dir = s->tmp_dir = s->tus_dir = NULL;
		rc = SL_NOMEM;
		goto out;
	}
	if ((rc = make_dir(s, s->uploads_dir)) < 0 || (rc = make_dir(s, s->tmp_dir)) < 0 ||
	    (rc = make_dir(s, s->tus_dir)) < 0)
		goto out;
	remove_partials(s);
	if ((rc = http_sign_init(s, data_real)) < 0)
		goto out;
	if ((rc = load_schemas(s)) < 0)
		goto out;

	/* SIGTERM and SIGINT are taken by sigwait below: block them before any
	   thread starts, so every thread inherits the mask. A client gone
	   mid-answer must not kill the process either. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	worker_up = true;
	if ((rc = http_workers_start(s)) < 0 || (rc = http_acceptor_start(s)) < 0)
		goto out;
	http_resume_unfinished(s);

	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
				     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG,
			     0, NULL, NULL, on_request, s,
			     MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, s,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->o.max_connections,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->o.timeout_s,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_POOL,
			     MHD_OPTION_CONNECTION_MEMORY_INCREMENT, (size_t)(HTTP_CONN_POOL / 4),
			     MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
			     MHD_OPTION_END);
	if (!d) {
		http_log(s, "error", "cannot listen on %s (in use, or not an address of this machine)",
			 s->o.listen);
		rc = SL_CONFIG;
		goto out;
	}
	/* the port really bound: with --listen HOST:0 the kernel chose it, and
	   this line is how a caller (the tests) learns it */
	const union MHD_DaemonInfo *bound = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	char host[INET_ADDRSTRLEN] = "?";
	inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
	http_log(s, "info", "listening on %s:%u; %zu datasets; database %s; data in %s", host,
		 bound ? (unsigned)bound->port : (unsigned)ntohs(sa.sin_port), s->nds, s->o.db, data_real);

	int sig = 0;
	while (sigwait(&sigs, &sig) != 0)
		;
	http_log(s, "info", "signal %d: no new connections; finishing the requests in progress", sig);
	/* before MHD waits for the connection threads: an event stream would
	   otherwise hold its thread until its job ends */
	atomic_store(&s->stopping, true);
	MHD_socket lfd = MHD_quiesce_daemon(d);
	MHD_stop_daemon(d);
	d = NULL;
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
out:
	if (d)
		MHD_stop_daemon(d);
	http_acceptor_stop(s);
	if (worker_up && !http_workers_stop(s)) {
		/* Each chunk commits in its own transaction: stopping now loses at
		   most the chunks in flight, which the next start resumes (as
		   after kill -9). */
		http_log(s, "warn", "jobs still running after %u s: exiting; they resume on the next start",
			 s->o.grace_s);
		_exit(0);
	}
	if (rc == 0)
		http_log(s, "info", "stopped");
	for (size_t i = 0; i < s->nds; i++)
		sl_schema_free(s->ds[i].schema);
	free(s->ds);
	for (size_t i = 0; i < s->nkeys; i++)
		free(s->keys[i].key);
	free(s->uploads_dir);
	free(s->tmp_dir);
	free(s->tus_dir);
	free(data_real);
	if (locks) {
		pthread_cond_destroy(&s->idle_cv);
		pthread_cond_destroy(&s->pend_cv);
		pthread_cond_destroy(&s->stored_cv);
		pthread_mutex_destroy(&s->idem_mu);
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		pthread_mutex_destroy(&s->log_mu);
		for (size_t i = 0; i < s->nreaders; i++)
			sl_reader_close(s->readers[i]);
		pthread_mutex_destroy(&s->rd_mu);
	}
	free(s);
	return rc;
}
