/*
 * The S3 client's requests (see s3.h): one libcurl easy handle per client,
 * kept so its connection is reused; each request is built, signed by curl
 * (CURLOPT_AWS_SIGV4), performed, and classified; the retryable failures
 * (throttling, 5xx, broken connections) are tried again after a backoff
 * with jitter, up to SL__S3_RETRIES times. The XML answers (errors, lists,
 * multipart) are read by a few lines of tag matching: S3's documents are
 * flat and machine-written, so a general XML parser would buy nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/base.h"
#include "s3/s3.h"
#include "sluice/error.h"

/* error bodies and listing pages (1000 keys of at most 1 KiB each) */
#define RESP_MAX       (8u << 20)
#define BACKOFF_CAP_MS 20000u

struct sl_s3 {
	const sl_s3_config *cfg;
	CURL *curl;
	char sigv4[96];
	unsigned requests;
	unsigned seed;
	bool trace; /* SLUICE_S3_TRACE: curl's own account of each request, on stderr */
};

/* one request, and what came back from its latest attempt */
struct req {
	const char *method, *bucket, *key, *query;
	const void *body;
	size_t body_n, body_pos;
	const char *content_type;
	const char *if_match;
	bool ranged;
	uint64_t off, len;
	sl_s3_sink sink;
	void *ctx;
	/* answers */
	long status;
	sl_buf resp;
	char etag[SL__S3_ETAG_MAX];
	uint64_t content_length;
	bool has_length;
	time_t mtime;
	uint64_t range_start;
	bool has_range;
	uint64_t delivered;              /* body bytes the sink took, over every attempt */
	char want_etag[SL__S3_ETAG_MAX]; /* the version a GET must read, or "" */
	int sink_rc;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int sl__s3_open(sl_s3 **out, const sl_s3_config *cfg)
{
	pthread_once(&curl_once, curl_init);
	sl_s3 *s = calloc(1, sizeof *s);
	if (!s)
		return SL_NOMEM;
	if (!(s->curl = curl_easy_init())) {
		free(s);
		return SL_NOMEM;
	}
	s->cfg = cfg;
	snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", cfg->region);
	s->trace = getenv("SLUICE_S3_TRACE") && *getenv("SLUICE_S3_TRACE");
	s->seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)s;
	*out = s;
	return 0;
}

void sl__s3_close(sl_s3 *s)
{
	if (!s)
		return;
	curl_easy_cleanup(s->curl);
	free(s);
}

unsigned sl__s3_requests(const sl_s3 *s)
{
	return s->requests;
}

/* --- XML ------------------------------------------------------------------ */

/* The text of the first <tag>...</tag> in [p, end), entities decoded into
 * out (cap bytes, NUL-terminated, cut to fit); returns the end of the
 * element or NULL when there is none. */
static const char *xml_text(const char *p, const char *end, const char *tag, char *out, size_t cap)
{
	char open[64], close[64];
	int on = snprintf(open, sizeof open, "<%s>", tag);
	int cn = snprintf(close, sizeof close, "</%s>", tag);
	const char *a = memmem(p, (size_t)(end - p), open, (size_t)on);
	if (!a)
		return NULL;
	a += on;
	const char *b = memmem(a, (size_t)(end - a), close, (size_t)cn);
	if (!b)
		return NULL;
	static const struct {
		const char *ent;
		char ch;
	} ents[] = {
	    {"&quot;", '"'}, {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&apos;", '\''}};
	size_t o = 0;
	while (a < b && o + 1 < cap) {
		char ch = *a++;
		if (ch == '&') {
			for (size_t i = 0; i < SL_ARRAY_LEN(ents); i++) {
				size_t n = strlen(ents[i].ent) - 1;
				if ((size_t)(b - a) >= n && memcmp(a, ents[i].ent + 1, n) == 0) {
					ch = ents[i].ch;
					a += n;
					break;
				}
			}
		}
		out[o++] = ch;
	}
	if (cap)
		out[o] = '\0';
	return b + cn;
}

/* --- curl callbacks ------------------------------------------------------- */

/* a NUL-terminated copy, cut to cap - 1 bytes */
static void copy_cut(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct req *r = ud;
	size_t len = size * n;
	if (len > 5 && memcmp(p, "HTTP/", 5) == 0) {
		/* a new response (after 100 Continue, or a retry): forget the last */
		const char *sp = memchr(p, ' ', len);
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		r->etag[0] = '\0';
		r->has_length = r->has_range = false;
		r->mtime = 0;
		return len;
	}
	const char *colon = memchr(p, ':', len);
	if (!colon)
		return len;
	size_t nn = (size_t)(colon - p);
	const char *v = colon + 1, *e = p + len;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
		e--;
	size_t vn = (size_t)(e - v);
	char val[256];
	if (vn >= sizeof val)
		vn = sizeof val - 1;
	memcpy(val, v, vn);
	val[vn] = '\0';
	if (nn == 4 && strncasecmp(p, "etag", 4) == 0) {
		copy_cut(r->etag, sizeof r->etag, val);
	} else if (nn == 14 && strncasecmp(p, "content-length", 14) == 0) {
		char *end;
		r->content_length = strtoull(val, &end, 10);
		r->has_length = end != val && *end == '\0';
	} else if (nn == 13 && strncasecmp(p, "last-modified", 13) == 0) {
		r->mtime = (time_t)curl_getdate(val, NULL);
		if (r->mtime < 0)
			r->mtime = 0;
	} else if (nn == 13 && strncasecmp(p, "content-range", 13) == 0) {
		/* "bytes START-END/TOTAL" */
		r->has_range = sscanf(val, "bytes %" SCNu64, &r->range_start) == 1;
	}
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct req *r = ud;
	size_t len = size * n;
	if (r->sink && r->status >= 200 && r->status < 300) {
		/* a server that ignores If-Match still names the version it sends:
		 * refuse it before a byte of it reaches the sink */
		if (r->want_etag[0] && r->etag[0] && strcmp(r->etag, r->want_etag) != 0) {
			r->sink_rc = SL_IO_CHANGED;
			return 0;
		}
		int rc = r->sink(r->ctx, p, len);
		if (rc) {
			r->sink_rc = rc;
			return 0; /* aborts the transfer */
		}
		r->delivered += len;
		return len;
	}
	if (sl_buf_append(&r->resp, p, len))
		return 0;
	return len;
}

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
	struct req *r = ud;
	size_t room = size * n, left = r->body_n - r->body_pos;
	size_t k = left < room ? left : room;
	if (k)
		memcpy(p, (const char *)r->body + r->body_pos, k);
	r->body_pos += k;
	return k;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
	struct req *r = ud;
	if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_n)
		return CURL_SEEKFUNC_FAIL;
	r->body_pos = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

/* --- one request, retried --------------------------------------------------- */

static bool curl_retryable(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static void backoff(sl_s3 *s, unsigned attempt)
{
	uint64_t ceil = (uint64_t)s->cfg->backoff_ms << (attempt < 16 ? attempt : 16);
	if (ceil > BACKOFF_CAP_MS)
		ceil = BACKOFF_CAP_MS;
	if (!ceil)
		return;
	/* "equal jitter": half the ceiling for sure, the other half at random,
	 * so clients that failed together do not retry together */
	uint64_t ms = ceil / 2 + (uint64_t)rand_r(&s->seed) % (ceil / 2 + 1);
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static const char *where_key(const struct req *r)
{
	return r->key ? r->key : "";
}

/* the error of a non-2xx answer: code by status, the server's <Code> and
 * <Message> (a HEAD has no body: then the status alone) */
static int status_error(const struct req *r, unsigned attempts, char *err, size_t errlen)
{
	char code[128] = "", msg[512] = "";
	if (r->resp.len) {
		const char *e = r->resp.p + r->resp.len;
		xml_text(r->resp.p, e, "Code", code, sizeof code);
		xml_text(r->resp.p, e, "Message", msg, sizeof msg);
	}
	int rc;
	if (r->status == 403)
		rc = SL_S3_AUTH;
	else if (r->status == 404)
		rc = SL_S3_NOT_FOUND;
	else if (r->status == 412 && r->if_match)
		rc = SL_IO_CHANGED;
	else if (r->status == 429 || (r->status == 503 && (!*code || !strcmp(code, "SlowDown"))))
		rc = SL_S3_THROTTLED;
	else if (r->status >= 500)
		rc = SL_S3_SERVER;
	else
		rc = SL_S3_REQUEST;
	if (rc == SL_IO_CHANGED && !*msg)
		snprintf(msg, sizeof msg, "the object is no longer %s", r->if_match);
	snprintf(err, errlen, "%s s3://%s/%s: HTTP %ld%s%s%s%s", r->method, r->bucket, where_key(r),
	         r->status, *code ? " " : "", code, *msg ? ": " : "", msg);
	if (attempts > 1) {
		size_t l = strlen(err);
		if (l < errlen)
			snprintf(err + l, errlen - l, " (after %u attempts)", attempts);
	}
	return rc;
}

static int perform(sl_s3 *s, struct req *r, char *err, size_t errlen)
{
	int rc = SL_NOMEM;
	CURL *c = s->curl;
	sl_buf url;
	sl_buf_init(&url, 1 << 16);
	sl_buf_init(&r->resp, RESP_MAX);
	struct curl_slist *h = NULL;
	char hash[65], line[1200];
	if (sl__s3_url(s->cfg, r->bucket, r->key, r->query, &url, NULL))
		goto out;
	sl__s3_sha256_hex(r->body ? r->body : "", r->body_n, hash);
	char etag_seen[SL__S3_ETAG_MAX] = "";
	for (unsigned attempt = 0;; attempt++) {
		curl_easy_reset(c);
		curl_slist_free_all(h);
		h = NULL;
		snprintf(line, sizeof line, "x-amz-content-sha256: %s", hash);
		bool ok = (h = curl_slist_append(h, line)) != NULL;
		if (ok && s->cfg->session_token) {
			snprintf(line, sizeof line, "x-amz-security-token: %s",
			         s->cfg->session_token);
			ok = (h = curl_slist_append(h, line)) != NULL;
		}
		/* a resumed GET must read the same version it started on */
		const char *im = r->if_match ? r->if_match : (*etag_seen ? etag_seen : NULL);
		copy_cut(r->want_etag, sizeof r->want_etag, im && r->sink ? im : "");
		if (ok && im) {
			snprintf(line, sizeof line, "If-Match: %s", im);
			ok = (h = curl_slist_append(h, line)) != NULL;
		}
		uint64_t start = r->off + r->delivered;
		if (ok && (r->ranged || r->delivered)) {
			if (r->len == UINT64_MAX)
				snprintf(line, sizeof line, "Range: bytes=%" PRIu64 "-", start);
			else
				snprintf(line, sizeof line, "Range: bytes=%" PRIu64 "-%" PRIu64,
				         start, r->off + r->len - 1);
			ok = (h = curl_slist_append(h, line)) != NULL;
		}
		if (ok && r->content_type) {
			snprintf(line, sizeof line, "Content-Type: %s", r->content_type);
			ok = (h = curl_slist_append(h, line)) != NULL;
		}
		/* no "Expect:" to turn 100-continue off: curl 7.88 signs the removed
		 * header as if it were sent, and the signature no longer matches */
		if (!ok)
			goto out;
		curl_easy_setopt(c, CURLOPT_URL, url.p);
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
		curl_easy_setopt(c, CURLOPT_USERNAME, s->cfg->access_key);
		curl_easy_setopt(c, CURLOPT_PASSWORD, s->cfg->secret_key);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		if (s->trace)
			curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
		/* a stalled connection: under 1 KiB/s for 60 s is broken */
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
		if (!strcmp(r->method, "HEAD")) {
			curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		} else if (!strcmp(r->method, "PUT")) {
			r->body_pos = 0;
			curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(c, CURLOPT_READDATA, r);
			curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
			curl_easy_setopt(c, CURLOPT_SEEKDATA, r);
			curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_n);
		} else if (!strcmp(r->method, "POST")) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? r->body : "");
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_n);
		} else if (strcmp(r->method, "GET") != 0) {
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
		}
		sl_buf_reset(&r->resp);
		r->status = 0;
		s->requests++;
		CURLcode cc = curl_easy_perform(c);
		if (r->sink_rc == SL_IO_CHANGED) {
			rc = SL_IO_CHANGED;
			snprintf(err, errlen, "%s s3://%s/%s: the object is now %s, not %s",
			         r->method, r->bucket, where_key(r), r->etag, r->want_etag);
			goto out;
		}
		if (r->sink_rc) {
			rc = r->sink_rc;
			goto out;
		}
		if (r->sink && r->delivered && !*etag_seen && *r->etag)
			snprintf(etag_seen, sizeof etag_seen, "%s", r->etag);
		bool retry;
		if (cc != CURLE_OK) {
			if (cc == CURLE_WRITE_ERROR) {
				rc = SL_LIMIT;
				snprintf(err, errlen, "%s s3://%s/%s: answer over %u bytes",
				         r->method, r->bucket, where_key(r), RESP_MAX);
				goto out;
			}
			retry = curl_retryable(cc);
			rc = retry ? SL_S3_NETWORK : SL_S3_REQUEST;
			snprintf(err, errlen, "%s s3://%s/%s at %s: %s (after %u attempts)",
			         r->method, r->bucket, where_key(r), s->cfg->endpoint,
			         curl_easy_strerror(cc), attempt + 1);
		} else if (r->status >= 200 && r->status < 300) {
			if (r->sink && r->status != 206 && (r->ranged || r->delivered) && start) {
				rc = SL_S3_REQUEST;
				snprintf(
				    err, errlen,
				    "GET s3://%s/%s: HTTP %ld to a ranged request (206 expected)",
				    r->bucket, where_key(r), r->status);
				goto out;
			}
			rc = 0;
			goto out;
		} else {
			rc = status_error(r, attempt + 1, err, errlen);
			retry = rc == SL_S3_THROTTLED || rc == SL_S3_SERVER;
		}
		if (!retry || attempt >= SL__S3_RETRIES)
			goto out;
		backoff(s, attempt);
	}
out:
	curl_slist_free_all(h);
	sl_buf_free(&url);
	return rc;
}

static void req_done(struct req *r)
{
	sl_buf_free(&r->resp);
}

/* --- operations ------------------------------------------------------------- */

int sl__s3_head(sl_s3 *s, const char *bucket, const char *key, sl_s3_stat *st, char *err,
                size_t errlen)
{
	struct req r = {.method = "HEAD", .bucket = bucket, .key = key};
	int rc = perform(s, &r, err, errlen);
	if (rc == SL_S3_AUTH || rc == SL_S3_NOT_FOUND || rc == SL_S3_REQUEST) {
		/* an answer to HEAD has no body, so no reason: ask the same with a
		 * GET of one byte, whose error document names it (SignatureDoesNotMatch,
		 * NoSuchBucket or NoSuchKey...); kept only when it fails the same way */
		struct req g = {
		    .method = "GET", .bucket = bucket, .key = key, .ranged = true, .len = 1};
		char gerr[512];
		int grc = perform(s, &g, gerr, sizeof gerr);
		if (grc == rc)
			snprintf(err, errlen, "%s", gerr);
		req_done(&g);
	}
	if (rc == 0 && !r.has_length) {
		rc = SL_S3_REQUEST;
		snprintf(err, errlen, "HEAD s3://%s/%s: no Content-Length in the answer", bucket,
		         key);
	}
	if (rc == 0) {
		st->size = r.content_length;
		snprintf(st->etag, sizeof st->etag, "%s", r.etag);
		st->mtime = r.mtime;
	}
	req_done(&r);
	return rc;
}

int sl__s3_get(sl_s3 *s, const char *bucket, const char *key, uint64_t off, uint64_t len,
               const char *if_match, sl_s3_sink sink, void *ctx, char *err, size_t errlen)
{
	if (len == 0)
		return 0;
	struct req r = {.method = "GET",
	                .bucket = bucket,
	                .key = key,
	                .if_match = if_match,
	                .ranged = off != 0 || len != UINT64_MAX,
	                .off = off,
	                .len = len,
	                .sink = sink,
	                .ctx = ctx};
	int rc = perform(s, &r, err, errlen);
	if (rc == 0 && len != UINT64_MAX && r.delivered != len) {
		rc = SL_S3_REQUEST;
		snprintf(err, errlen,
		         "GET s3://%s/%s: %" PRIu64 " bytes at %" PRIu64 " asked, %" PRIu64 " came",
		         bucket, key, len, off, r.delivered);
	}
	req_done(&r);
	return rc;
}

int sl__s3_put(sl_s3 *s, const char *bucket, const char *key, const void *p, size_t n, char *etag,
               char *err, size_t errlen)
{
	struct req r = {.method = "PUT", .bucket = bucket, .key = key, .body = p, .body_n = n};
	int rc = perform(s, &r, err, errlen);
	if (rc == 0 && etag)
		snprintf(etag, SL__S3_ETAG_MAX, "%s", r.etag);
	req_done(&r);
	return rc;
}

int sl__s3_delete(sl_s3 *s, const char *bucket, const char *key, char *err, size_t errlen)
{
	struct req r = {.method = "DELETE", .bucket = bucket, .key = key};
	int rc = perform(s, &r, err, errlen);
	req_done(&r);
	return rc;
}

int sl__s3_mpu_create(sl_s3 *s, const char *bucket, const char *key, char **upload_id, char *err,
                      size_t errlen)
{
	/* the object's type is the one of the create (curl would say a form) */
	struct req r = {.method = "POST",
	                .bucket = bucket,
	                .key = key,
	                .query = "uploads=",
	                .content_type = "application/octet-stream"};
	char id[1024];
	*upload_id = NULL;
	int rc = perform(s, &r, err, errlen);
	if (rc == 0 && !xml_text(r.resp.p, r.resp.p + r.resp.len, "UploadId", id, sizeof id)) {
		rc = SL_S3_REQUEST;
		snprintf(err, errlen, "POST s3://%s/%s?uploads: no UploadId in the answer", bucket,
		         key);
	}
	if (rc == 0 && !(*upload_id = strdup(id)))
		rc = SL_NOMEM;
	req_done(&r);
	return rc;
}

static int upload_query(sl_buf *q, unsigned part, const char *upload_id)
{
	char num[32];
	int rc = 0;
	if (part) {
		snprintf(num, sizeof num, "partNumber=%u&", part);
		rc = sl_buf_append(q, num, strlen(num));
	}
	rc = rc ? rc : sl_buf_append(q, "uploadId=", 9);
	rc = rc ? rc : sl__s3_encode(q, upload_id, false);
	rc = rc ? rc : sl_buf_append(q, "", 1);
	return rc;
}

int sl__s3_mpu_part(sl_s3 *s, const char *bucket, const char *key, const char *upload_id,
                    unsigned part, const void *p, size_t n, char *etag, char *err, size_t errlen)
{
	if (part < 1 || part > 10000) {
		snprintf(err, errlen, "part number %u: 1 to 10000", part);
		return SL_INVAL;
	}
	sl_buf q;
	sl_buf_init(&q, 4096);
	int rc = upload_query(&q, part, upload_id);
	if (rc) {
		sl_buf_free(&q);
		return rc;
	}
	struct req r = {
	    .method = "PUT", .bucket = bucket, .key = key, .query = q.p, .body = p, .body_n = n};
	rc = perform(s, &r, err, errlen);
	if (rc == 0 && etag)
		snprintf(etag, SL__S3_ETAG_MAX, "%s", r.etag);
	req_done(&r);
	sl_buf_free(&q);
	return rc;
}

int sl__s3_mpu_complete(sl_s3 *s, const char *bucket, const char *key, const char *upload_id,
                        char (*etags)[SL__S3_ETAG_MAX], unsigned nparts, char *err, size_t errlen)
{
	sl_buf q, body;
	sl_buf_init(&q, 4096);
	sl_buf_init(&body, (size_t)10000 * (SL__S3_ETAG_MAX + 96) + 256);
	int rc = upload_query(&q, 0, upload_id);
	static const char head[] = "<CompleteMultipartUpload>",
	                  tail[] = "</CompleteMultipartUpload>";
	rc = rc ? rc : sl_buf_append(&body, head, strlen(head));
	for (unsigned i = 0; !rc && i < nparts; i++) {
		char part[SL__S3_ETAG_MAX + 96];
		/* ETags are quoted: the quotes must be escaped in XML text */
		char e[SL__S3_ETAG_MAX * 2];
		size_t o = 0;
		for (const char *c = etags[i]; *c && o + 7 < sizeof e; c++) {
			if (*c == '"') {
				memcpy(e + o, "&quot;", 6);
				o += 6;
			} else
				e[o++] = *c;
		}
		e[o] = '\0';
		int pn =
		    snprintf(part, sizeof part,
		             "<Part><PartNumber>%u</PartNumber><ETag>%s</ETag></Part>", i + 1, e);
		rc = sl_buf_append(&body, part, (size_t)pn);
	}
	rc = rc ? rc : sl_buf_append(&body, tail, strlen(tail));
	if (rc)
		goto out;
	struct req r = {.method = "POST",
	                .bucket = bucket,
	                .key = key,
	                .query = q.p,
	                .body = body.p,
	                .body_n = body.len,
	                .content_type = "application/xml"};
	rc = perform(s, &r, err, errlen);
	/* S3 may answer 200 with an <Error> document to a complete */
	char code[128];
	if (rc == 0 && r.resp.len &&
	    xml_text(r.resp.p, r.resp.p + r.resp.len, "Code", code, sizeof code) &&
	    memmem(r.resp.p, r.resp.len, "<Error>", 7)) {
		rc = SL_S3_REQUEST;
		snprintf(err, errlen, "complete s3://%s/%s: %s", bucket, key, code);
	}
	req_done(&r);
out:
	sl_buf_free(&q);
	sl_buf_free(&body);
	return rc;
}

int sl__s3_mpu_abort(sl_s3 *s, const char *bucket, const char *key, const char *upload_id,
                     char *err, size_t errlen)
{
	sl_buf q;
	sl_buf_init(&q, 4096);
	int rc = upload_query(&q, 0, upload_id);
	if (rc == 0) {
		struct req r = {.method = "DELETE", .bucket = bucket, .key = key, .query = q.p};
		rc = perform(s, &r, err, errlen);
		req_done(&r);
	}
	sl_buf_free(&q);
	return rc;
}

int sl__s3_list(sl_s3 *s, const char *bucket, const char *prefix, unsigned max_keys,
                sl_s3_each each, void *ctx, char *err, size_t errlen)
{
	int rc = 0;
	char *token = NULL;
	sl_buf q;
	sl_buf_init(&q, 1 << 16);
	for (unsigned page = 0;; page++) {
		/* the names in sorted order, as SigV4's canonical query has them */
		char num[48];
		sl_buf_reset(&q);
		if (token) {
			rc = sl_buf_append(&q, "continuation-token=", 19);
			rc = rc ? rc : sl__s3_encode(&q, token, false);
			rc = rc ? rc : sl_buf_append(&q, "&", 1);
		}
		rc = rc ? rc : sl_buf_append(&q, "list-type=2", 11);
		if (max_keys) {
			snprintf(num, sizeof num, "&max-keys=%u", max_keys);
			rc = rc ? rc : sl_buf_append(&q, num, strlen(num));
		}
		rc = rc ? rc : sl_buf_append(&q, "&prefix=", 8);
		rc = rc ? rc : sl__s3_encode(&q, prefix ? prefix : "", false);
		rc = rc ? rc : sl_buf_append(&q, "", 1);
		if (rc)
			break;
		struct req r = {.method = "GET", .bucket = bucket, .key = NULL, .query = q.p};
		rc = perform(s, &r, err, errlen);
		const char *p = r.resp.p, *end = r.resp.p + r.resp.len;
		while (rc == 0 && p) {
			const char *c = memmem(p, (size_t)(end - p), "<Contents>", 10);
			const char *ce = c ? memmem(c, (size_t)(end - c), "</Contents>", 11) : NULL;
			if (!ce)
				break;
			char key[1100], size[32], etag[SL__S3_ETAG_MAX] = "";
			if (!xml_text(c, ce, "Key", key, sizeof key) ||
			    !xml_text(c, ce, "Size", size, sizeof size)) {
				rc = SL_S3_REQUEST;
				snprintf(err, errlen,
				         "list s3://%s/%s: a <Contents> without Key or Size",
				         bucket, prefix ? prefix : "");
				break;
			}
			xml_text(c, ce, "ETag", etag, sizeof etag);
			rc = each(ctx, key, strtoull(size, NULL, 10), etag);
			p = ce + 11;
		}
		char trunc[16] = "", next[1100] = "";
		if (rc == 0) {
			xml_text(r.resp.p, end, "IsTruncated", trunc, sizeof trunc);
			xml_text(r.resp.p, end, "NextContinuationToken", next, sizeof next);
		}
		req_done(&r);
		if (rc || strcmp(trunc, "true") != 0)
			break;
		if (!*next) {
			rc = SL_S3_REQUEST;
			snprintf(err, errlen,
			         "list s3://%s/%s: truncated without a continuation token", bucket,
			         prefix ? prefix : "");
			break;
		}
		free(token);
		if (!(token = strdup(next))) {
			rc = SL_NOMEM;
			break;
		}
	}
	free(token);
	sl_buf_free(&q);
	return rc;
}
