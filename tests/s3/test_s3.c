/*
 * The S3 client (src/s3/) against a real S3-protocol server: s3rver on
 * loopback (the s3rver CTest fixture, tests/s3/fixture_s3rver.sh), which
 * checks SigV4 signatures, serves ranges, multipart and ListObjectsV2, and
 * its fault proxy (tests/s3/s3rver.cjs) for throttling, 5xx and broken
 * connections. Every expected byte comes from what the test itself put;
 * every expected error from S3's documented answers (403
 * SignatureDoesNotMatch, 404 NoSuchKey); the retries are counted on the
 * proxy's side of the wire as well as the client's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "base/base.h"
#include "s3/s3.h"
#include "sluice/error.h"

/* a call that must succeed; else the client's message is shown */
#define OK(call)                                                                                   \
	do {                                                                                       \
		int rc_ = (call);                                                                  \
		if (rc_)                                                                           \
			fprintf(stderr, "%s: %s\n", #call, err);                                   \
		assert_int_equal(rc_, 0);                                                          \
	} while (0)

static char endpoint[256], proxy[256], vhost[256], key_id[64], secret[64], bucket[64];

/* the fixture's variables (fixture_started writes NAME=VALUE lines) */
static int read_fixture(void)
{
	const char *dir = getenv("SLUICE_FIXTURES");
	if (!dir)
		return -1;
	char path[512], line[512];
	snprintf(path, sizeof path, "%s/s3rver.env", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int skipped = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		const char *v = eq + 1;
		if (!strcmp(line, "S3_ENDPOINT"))
			snprintf(endpoint, sizeof endpoint, "%s", v);
		else if (!strcmp(line, "S3_PROXY"))
			snprintf(proxy, sizeof proxy, "%s", v);
		else if (!strcmp(line, "S3_VHOST"))
			snprintf(vhost, sizeof vhost, "%s", v);
		else if (!strcmp(line, "S3_KEY"))
			snprintf(key_id, sizeof key_id, "%s", v);
		else if (!strcmp(line, "S3_SECRET"))
			snprintf(secret, sizeof secret, "%s", v);
		else if (!strcmp(line, "FIXTURE_SKIP"))
			skipped = 1;
	}
	fclose(f);
	return skipped ? 1 : 0;
}

/* a client on `ep` with the fixture's account (or another secret) */
static sl_s3_config cfg;
static sl_s3 *client(const char *ep, const char *sec, const char *style)
{
	setenv("AWS_ACCESS_KEY_ID", key_id, 1);
	setenv("AWS_SECRET_ACCESS_KEY", sec, 1);
	unsetenv("AWS_SESSION_TOKEN");
	setenv("AWS_REGION", "us-east-1", 1);
	setenv("SLUICE_S3_BACKOFF_MS", "2", 1);
	if (style)
		setenv("SLUICE_S3_STYLE", style, 1);
	else
		unsetenv("SLUICE_S3_STYLE");
	char err[256];
	sl__s3_config_free(&cfg);
	OK(sl__s3_config_env(&cfg, ep, err, sizeof err));
	sl_s3 *s;
	assert_int_equal(sl__s3_open(&s, &cfg), 0);
	return s;
}

static void fill(char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (char)(seed >> 16);
	}
}

struct got {
	sl_buf b;
	unsigned calls;
};
static int take(void *ctx, const char *p, size_t n)
{
	struct got *g = ctx;
	g->calls++;
	return sl_buf_append(&g->b, p, n);
}

/* --- plain HTTP (no signature): presigned URLs and the proxy's control ---- */
static size_t plain_body(char *p, size_t size, size_t n, void *ud)
{
	return sl_buf_append(ud, p, size * n) ? 0 : size * n;
}
static long plain(const char *method, const char *url, const char *body, size_t n, sl_buf *out)
{
	CURL *c = curl_easy_init();
	assert_non_null(c);
	sl_buf scratch;
	sl_buf_init(&scratch, 1 << 24);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, plain_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out ? out : &scratch);
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/octet-stream");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	sl_buf_free(&scratch);
	return status;
}

static void arm(const char *json)
{
	char url[300];
	snprintf(url, sizeof url, "%s/__faults", proxy);
	assert_int_equal(plain("POST", url, json, strlen(json), NULL), 204);
}

/* requests the proxy saw whose path has `match`; ranges[] gets the Range
 * header of the last one */
static int proxy_seen(const char *match, char *last_range, size_t cap)
{
	char url[400];
	snprintf(url, sizeof url, "%s/__faults?match=%s", proxy, match);
	sl_buf b;
	sl_buf_init(&b, 1 << 20);
	assert_int_equal(plain("GET", url, NULL, 0, &b), 200);
	assert_int_equal(sl_buf_append(&b, "", 1), 0);
	int n = atoi(strstr(b.p, "\"seen\":") + 7);
	if (last_range) {
		const char *r = strrchr(b.p, '[') ? strstr(b.p, "\"ranges\":[") : NULL;
		const char *q = r ? strrchr(r, '"') : NULL; /* the closing quote of the last */
		const char *p = q && q > r + 10 ? q - 1 : NULL;
		while (p && p > r && *p != '"')
			p--;
		snprintf(last_range, cap, "%.*s", p ? (int)(q - p - 1) : 0, p ? p + 1 : "");
	}
	sl_buf_free(&b);
	return n;
}

/* --- the cases ------------------------------------------------------------- */

static void put_head_get_delete(void **state)
{
	(void)state;
	sl_s3 *s = client(endpoint, secret, NULL);
	char err[512], etag[SL__S3_ETAG_MAX];
	time_t before = time(NULL);
	static const char text[] = "id,name\n1,alpha\n2,beta\n";
	OK(sl__s3_put(s, bucket, "dir/a b+c.csv", text, strlen(text), etag, err, sizeof err));
	/* a single PUT's ETag is the quoted MD5 of the bytes */
	unsigned char md5[16];
	unsigned int md5n = 0;
	assert_int_equal(EVP_Digest(text, strlen(text), md5, &md5n, EVP_md5(), NULL), 1);
	char want[40] = "\"";
	for (unsigned i = 0; i < 16; i++)
		snprintf(want + 1 + 2 * i, 3, "%02x", md5[i]);
	strcat(want, "\"");
	assert_string_equal(etag, want);
	sl_s3_stat st;
	OK(sl__s3_head(s, bucket, "dir/a b+c.csv", &st, err, sizeof err));
	assert_int_equal(st.size, strlen(text));
	assert_string_equal(st.etag, etag);
	assert_true(st.etag[0] == '"' && strlen(st.etag) == 34);
	/* Last-Modified has one-second resolution */
	assert_true(st.mtime >= before - 1 && st.mtime <= time(NULL) + 1);
	struct got g = {0};
	sl_buf_init(&g.b, 1 << 20);
	OK(sl__s3_get(s, bucket, "dir/a b+c.csv", 0, UINT64_MAX, NULL, take, &g, err, sizeof err));
	assert_int_equal(g.b.len, strlen(text));
	assert_memory_equal(g.b.p, text, g.b.len);
	sl_buf_free(&g.b);
	/* and DELETE removes it */
	OK(sl__s3_delete(s, bucket, "dir/a b+c.csv", err, sizeof err));
	assert_int_equal(sl__s3_head(s, bucket, "dir/a b+c.csv", &st, err, sizeof err),
	                 SL_S3_NOT_FOUND);
	sl__s3_close(s);
}

static void ranged_gets_give_exactly_the_bytes_asked(void **state)
{
	(void)state;
	sl_s3 *s = client(endpoint, secret, NULL);
	char err[512];
	size_t n = 3u << 20;
	char *data = malloc(n);
	assert_non_null(data);
	fill(data, n, 7);
	OK(sl__s3_put(s, bucket, "big.bin", data, n, NULL, err, sizeof err));
	static const struct {
		uint64_t off, len;
	} r[] = {/* (not bytes 0-0: s3rver reads an end of 0 as "to the end") */
	         {0, 2},
	         {1, 1},
	         {1, 1000},
	         {65535, 65537},
	         {(3u << 20) - 10, 10},
	         {12345, UINT64_MAX},
	         {0, 3u << 20}};
	for (size_t i = 0; i < SL_ARRAY_LEN(r); i++) {
		struct got g = {0};
		sl_buf_init(&g.b, 8u << 20);
		OK(sl__s3_get(s, bucket, "big.bin", r[i].off, r[i].len, NULL, take, &g, err,
		              sizeof err));
		uint64_t want = r[i].len == UINT64_MAX ? n - r[i].off : r[i].len;
		assert_int_equal(g.b.len, want);
		assert_memory_equal(g.b.p, data + r[i].off, want);
		sl_buf_free(&g.b);
	}
	/* a range past the end is the server's 416, not bytes */
	struct got g = {0};
	sl_buf_init(&g.b, 1 << 20);
	int rc = sl__s3_get(s, bucket, "big.bin", n + 10, 5, NULL, take, &g, err, sizeof err);
	assert_int_equal(rc, SL_S3_REQUEST);
	assert_non_null(strstr(err, "416"));
	assert_int_equal(g.b.len, 0);
	sl_buf_free(&g.b);
	free(data);
	sl__s3_close(s);
}

static void multipart_upload_assembles_the_parts(void **state)
{
	(void)state;
	sl_s3 *s = client(endpoint, secret, NULL);
	char err[512], *id = NULL;
	size_t part = 5u << 20, n = 2 * part + 777;
	char *data = malloc(n);
	assert_non_null(data);
	fill(data, n, 11);
	OK(sl__s3_mpu_create(s, bucket, "mp/whole.bin", &id, err, sizeof err));
	assert_true(strlen(id) > 0);
	char etags[3][SL__S3_ETAG_MAX];
	for (unsigned i = 0; i < 3; i++) {
		size_t off = i * part, len = i < 2 ? part : n - 2 * part;
		OK(sl__s3_mpu_part(s, bucket, "mp/whole.bin", id, i + 1, data + off, len, etags[i],
		                   err, sizeof err));
		assert_true(etags[i][0] == '"');
	}
	OK(sl__s3_mpu_complete(s, bucket, "mp/whole.bin", id, etags, 3, err, sizeof err));
	free(id);
	sl_s3_stat st;
	OK(sl__s3_head(s, bucket, "mp/whole.bin", &st, err, sizeof err));
	assert_int_equal(st.size, n);
	/* (S3 names a multipart object "md5-of-md5s-PARTS"; s3rver gives the
	 * whole object's MD5, so only the quoting is checked) */
	assert_true(st.etag[0] == '"' && strlen(st.etag) > 2);
	struct got g = {0};
	sl_buf_init(&g.b, 16u << 20);
	OK(sl__s3_get(s, bucket, "mp/whole.bin", 0, UINT64_MAX, NULL, take, &g, err, sizeof err));
	assert_int_equal(g.b.len, n);
	assert_memory_equal(g.b.p, data, n);
	sl_buf_free(&g.b);
	/* (AbortMultipartUpload and a part of an unknown upload are not tested:
	 * s3rver answers the one 405 and takes the other) */
	free(data);
	sl__s3_close(s);
}

struct listing {
	char keys[16][64];
	uint64_t sizes[16];
	unsigned n;
};
static int list_one(void *ctx, const char *key, uint64_t size, const char *etag)
{
	struct listing *l = ctx;
	if (l->n >= 16 || !etag[0])
		return SL_INTERNAL;
	snprintf(l->keys[l->n], sizeof l->keys[0], "%s", key);
	l->sizes[l->n++] = size;
	return 0;
}

static void list_follows_continuation_tokens(void **state)
{
	(void)state;
	sl_s3 *s = client(endpoint, secret, NULL);
	char err[512], key[64];
	/* put out of order; other keys around the prefix must not come */
	static const char *names[] = {"ls/e", "ls/a", "ls/g+x", "ls/c", "ls/b", "ls/f", "ls/d"};
	for (size_t i = 0; i < SL_ARRAY_LEN(names); i++)
		OK(sl__s3_put(s, bucket, names[i], "x", 1, NULL, err, sizeof err));
	OK(sl__s3_put(s, bucket, "lt", "y", 1, NULL, err, sizeof err));
	OK(sl__s3_put(s, bucket, "lr/z", "y", 1, NULL, err, sizeof err));
	struct listing l = {0};
	unsigned before = sl__s3_requests(s);
	OK(sl__s3_list(s, bucket, "ls/", 2, list_one, &l, err, sizeof err));
	/* 7 keys, 2 per page: 4 pages */
	assert_int_equal(sl__s3_requests(s) - before, 4);
	assert_int_equal(l.n, 7);
	static const char *sorted[] = {"ls/a", "ls/b", "ls/c", "ls/d", "ls/e", "ls/f", "ls/g+x"};
	for (unsigned i = 0; i < 7; i++) {
		snprintf(key, sizeof key, "%s", sorted[i]);
		assert_string_equal(l.keys[i], key);
		assert_int_equal(l.sizes[i], 1);
	}
	/* nothing under a prefix that has nothing */
	struct listing none = {0};
	OK(sl__s3_list(s, bucket, "nothing/", 0, list_one, &none, err, sizeof err));
	assert_int_equal(none.n, 0);
	sl__s3_close(s);
}

static void a_wrong_secret_is_403_with_the_servers_message(void **state)
{
	(void)state;
	sl_s3 *s = client(endpoint, "not-the-secret", NULL);
	char err[512];
	sl_s3_stat st;
	unsigned before = sl__s3_requests(s);
	int rc = sl__s3_put(s, bucket, "denied.csv", "a\n", 2, NULL, err, sizeof err);
	assert_int_equal(rc, SL_S3_AUTH);
	assert_int_equal(sl__s3_requests(s) - before, 1); /* not retried */
	assert_non_null(strstr(err, "SignatureDoesNotMatch"));
	assert_non_null(strstr(err, "The request signature we calculated does not match"));
	assert_non_null(strstr(err, bucket));
	assert_non_null(strstr(err, "denied.csv"));
	assert_int_equal(sl_error_class(rc), SL_CLASS_FATAL);
	sl__s3_close(s);
	/* and the right secret is let in: the check is the signature's */
	s = client(endpoint, secret, NULL);
	assert_int_equal(sl__s3_head(s, bucket, "denied.csv", &st, err, sizeof err),
	                 SL_S3_NOT_FOUND);
	sl__s3_close(s);
}

static void a_missing_key_is_404_at_once(void **state)
{
	(void)state;
	sl_s3 *s = client(proxy, secret, NULL);
	char err[512];
	struct got g = {0};
	sl_buf_init(&g.b, 1 << 20);
	int before = proxy_seen("/no/such.csv", NULL, 0);
	int rc =
	    sl__s3_get(s, bucket, "no/such.csv", 0, UINT64_MAX, NULL, take, &g, err, sizeof err);
	assert_int_equal(rc, SL_S3_NOT_FOUND);
	assert_non_null(strstr(err, "NoSuchKey"));
	assert_non_null(strstr(err, "The specified key does not exist"));
	assert_non_null(strstr(err, "no/such.csv"));
	assert_non_null(strstr(err, bucket));
	assert_int_equal(g.b.len, 0);
	assert_int_equal(proxy_seen("/no/such.csv", NULL, 0) - before, 1);
	sl_s3_stat st;
	assert_int_equal(sl__s3_head(s, bucket, "no/such.csv", &st, err, sizeof err),
	                 SL_S3_NOT_FOUND);
	assert_non_null(strstr(err, "HTTP 404"));
	/* a missing bucket too */
	rc = sl__s3_head(s, "no-such-bucket-here", "k", &st, err, sizeof err);
	assert_int_equal(rc, SL_S3_NOT_FOUND);
	sl_buf_free(&g.b);
	sl__s3_close(s);
}

/* arm `faults` for key, GET it whole through the proxy: rc, and the
 * requests the proxy saw for it (*seen) and the client sent (last_sent:
 * fewer when curl itself retried a reused connection that died) */
static int last_sent;
static int get_through_faults(const char *key, const char *faults, const char *data, size_t n,
                              int *seen, char *err, size_t errlen)
{
	sl_s3 *s = client(proxy, secret, NULL);
	char err2[512];
	OK(sl__s3_put(s, bucket, key, data, n, NULL, err2, sizeof err2));
	char path[128];
	snprintf(path, sizeof path, "/%s/%s", bucket, key);
	int before = proxy_seen(path, NULL, 0);
	if (faults)
		arm(faults);
	struct got g = {0};
	sl_buf_init(&g.b, 8u << 20);
	unsigned rb = sl__s3_requests(s);
	int rc = sl__s3_get(s, bucket, key, 0, UINT64_MAX, NULL, take, &g, err, errlen);
	*seen = proxy_seen(path, NULL, 0) - before;
	last_sent = (int)(sl__s3_requests(s) - rb);
	if (rc == 0) {
		assert_int_equal(g.b.len, n);
		assert_memory_equal(g.b.p, data, n);
	}
	sl_buf_free(&g.b);
	sl__s3_close(s);
	return rc;
}

static void throttling_and_5xx_are_retried_then_reported(void **state)
{
	(void)state;
	char err[512], json[256], data[5000];
	fill(data, sizeof data, 3);
	int seen;
	snprintf(json, sizeof json,
	         "{\"match\":\"/%s/slow\",\"status\":503,\"code\":\"SlowDown\",\"count\":2}",
	         bucket);
	assert_int_equal(
	    get_through_faults("slow", json, data, sizeof data, &seen, err, sizeof err), 0);
	assert_int_equal(seen, 3);
	assert_int_equal(last_sent, 3);
	snprintf(json, sizeof json,
	         "{\"match\":\"/%s/tmr\",\"status\":429,\"code\":\"TooManyRequests\",\"count\":1}",
	         bucket);
	assert_int_equal(get_through_faults("tmr", json, data, sizeof data, &seen, err, sizeof err),
	                 0);
	assert_int_equal(seen, 2);
	snprintf(json, sizeof json, "{\"match\":\"/%s/five\",\"status\":500,\"count\":5}", bucket);
	assert_int_equal(
	    get_through_faults("five", json, data, sizeof data, &seen, err, sizeof err), 0);
	assert_int_equal(seen, 6); /* five retries are the most */
	/* past the retries: the category's code, the attempts, the server's words */
	snprintf(json, sizeof json,
	         "{\"match\":\"/%s/always-slow\",\"status\":503,\"code\":\"SlowDown\",\"count\":6}",
	         bucket);
	assert_int_equal(
	    get_through_faults("always-slow", json, data, sizeof data, &seen, err, sizeof err),
	    SL_S3_THROTTLED);
	assert_int_equal(seen, 6);
	assert_non_null(strstr(err, "SlowDown"));
	assert_non_null(strstr(err, "after 6 attempts"));
	snprintf(json, sizeof json, "{\"match\":\"/%s/always-500\",\"status\":502,\"count\":6}",
	         bucket);
	assert_int_equal(
	    get_through_faults("always-500", json, data, sizeof data, &seen, err, sizeof err),
	    SL_S3_SERVER);
	assert_int_equal(seen, 6);
	assert_non_null(strstr(err, "HTTP 502"));
	assert_int_equal(sl_error_class(SL_S3_SERVER), SL_CLASS_RETRY);
}

static void broken_connections_are_retried_and_a_cut_body_resumes(void **state)
{
	(void)state;
	char err[512], json[256];
	size_t n = 1u << 20;
	char *data = malloc(n);
	assert_non_null(data);
	fill(data, n, 5);
	int seen;
	snprintf(json, sizeof json, "{\"match\":\"/%s/reset\",\"reset\":true,\"count\":2}", bucket);
	assert_int_equal(get_through_faults("reset", json, data, 100, &seen, err, sizeof err), 0);
	assert_int_equal(seen, 3); /* both resets were met, then the answer */
	assert_true(last_sent >= 2 && last_sent <= 3);
	snprintf(json, sizeof json, "{\"match\":\"/%s/cut\",\"cut_after\":300000,\"count\":1}",
	         bucket);
	assert_int_equal(get_through_faults("cut", json, data, n, &seen, err, sizeof err), 0);
	assert_int_equal(seen, 2);
	/* the second request asked for the rest only, from the first byte the
	 * sink had not taken (curl may have handed over less than the proxy
	 * sent before the cut, never more) */
	char path[128], range[64];
	snprintf(path, sizeof path, "/%s/cut", bucket);
	proxy_seen(path, range, sizeof range);
	unsigned long long from = 0;
	assert_int_equal(sscanf(range, "bytes=%llu-", &from), 1);
	assert_true(from > 0 && from <= 300000);
	snprintf(json, sizeof json, "{\"match\":\"/%s/down\",\"reset\":true,\"count\":50}", bucket);
	assert_int_equal(get_through_faults("down", json, data, 100, &seen, err, sizeof err),
	                 SL_S3_NETWORK);
	assert_int_equal(last_sent, 6);
	assert_true(seen >= 6 && seen <= 7);
	assert_non_null(strstr(err, "after 6 attempts"));
	free(data);
}

static void a_replaced_object_is_refused_by_etag(void **state)
{
	(void)state;
	sl_s3 *s = client(endpoint, secret, NULL);
	char err[512];
	sl_s3_stat st;
	OK(sl__s3_put(s, bucket, "v.csv", "one\n", 4, NULL, err, sizeof err));
	OK(sl__s3_head(s, bucket, "v.csv", &st, err, sizeof err));
	struct got g = {0};
	sl_buf_init(&g.b, 1 << 20);
	OK(sl__s3_get(s, bucket, "v.csv", 0, 2, st.etag, take, &g, err, sizeof err));
	OK(sl__s3_put(s, bucket, "v.csv", "two\n", 4, NULL, err, sizeof err));
	int rc = sl__s3_get(s, bucket, "v.csv", 2, 2, st.etag, take, &g, err, sizeof err);
	assert_int_equal(rc, SL_IO_CHANGED);
	assert_non_null(strstr(err, st.etag));
	assert_int_equal(g.b.len, 2); /* nothing of the new version was handed over */
	sl_buf_free(&g.b);
	sl__s3_close(s);
}

/* Virtual-host style is checked on the address only: s3rver routes
 * BUCKET.s3.localhost, but its SigV4 check canonicalizes such a request's
 * path as /BUCKET/KEY (SigV2's resource) where S3 signs /KEY, so no
 * correctly signed virtual-host request passes it. */
static void virtual_host_style_addresses_the_bucket_host(void **state)
{
	(void)state;
	sl_s3 *s = client(vhost, secret, "virtual");
	sl_buf u, h;
	sl_buf_init(&u, 1024);
	sl_buf_init(&h, 1024);
	assert_int_equal(sl__s3_url(&cfg, bucket, "k/x y", NULL, &u, &h), 0);
	char want[600];
	snprintf(want, sizeof want, "http://%s.%s/k/x%%20y", bucket, vhost + 7);
	assert_string_equal(u.p, want);
	/* the Host that is signed is the bucket's */
	snprintf(want, sizeof want, "%s.%s", bucket, vhost + 7);
	assert_string_equal(h.p, want);
	sl_buf_reset(&u);
	/* the bucket itself (a listing) is the host's root */
	assert_int_equal(sl__s3_url(&cfg, bucket, NULL, "list-type=2", &u, NULL), 0);
	snprintf(want, sizeof want, "http://%s.%s/?list-type=2", bucket, vhost + 7);
	assert_string_equal(u.p, want);
	sl_buf_free(&u);
	sl_buf_free(&h);
	sl__s3_close(s);
}

static void presigned_urls_put_and_get_without_credentials(void **state)
{
	(void)state;
	sl_s3 *s = client(endpoint, secret, NULL);
	char err[512], *url = NULL;
	OK(sl__s3_presign(&cfg, "PUT", bucket, "up/direct.csv", 600, time(NULL), &url, err,
	                  sizeof err));
	assert_non_null(strstr(url, "X-Amz-Signature="));
	assert_int_equal(plain("PUT", url, "a,b\n1,2\n", 8, NULL), 200);
	sl_s3_stat st;
	OK(sl__s3_head(s, bucket, "up/direct.csv", &st, err, sizeof err));
	assert_int_equal(st.size, 8);
	/* the signature covers the method and the key */
	assert_int_equal(plain("GET", url, NULL, 0, NULL), 403);
	char *tampered = strdup(url);
	*strstr(tampered, "direct") = 'D';
	assert_int_equal(plain("PUT", tampered, "x", 1, NULL), 403);
	free(tampered);
	free(url);
	OK(sl__s3_presign(&cfg, "GET", bucket, "up/direct.csv", 60, time(NULL), &url, err,
	                  sizeof err));
	sl_buf b;
	sl_buf_init(&b, 1 << 20);
	assert_int_equal(plain("GET", url, NULL, 0, &b), 200);
	assert_int_equal(b.len, 8);
	assert_memory_equal(b.p, "a,b\n1,2\n", 8);
	sl_buf_free(&b);
	free(url);
	/* an expired one is refused */
	OK(sl__s3_presign(&cfg, "GET", bucket, "up/direct.csv", 60, time(NULL) - 3600, &url, err,
	                  sizeof err));
	assert_int_equal(plain("GET", url, NULL, 0, NULL), 403);
	free(url);
	assert_int_equal(
	    sl__s3_presign(&cfg, "GET", bucket, "k", 0, time(NULL), &url, err, sizeof err),
	    SL_INVAL);
	sl__s3_close(s);
}

static void configuration_and_uris(void **state)
{
	(void)state;
	char err[256], *b, *k;
	OK(sl__s3_uri_parse("s3://my-bucket/a/b c.csv", &b, &k, err, sizeof err));
	assert_string_equal(b, "my-bucket");
	assert_string_equal(k, "a/b c.csv");
	free(b);
	free(k);
	assert_int_equal(sl__s3_uri_parse("s3://Bad_Bucket/k", &b, &k, err, sizeof err), SL_INVAL);
	assert_int_equal(sl__s3_uri_parse("http://x/k", &b, &k, err, sizeof err), SL_INVAL);
	sl_s3_config c;
	unsetenv("AWS_ACCESS_KEY_ID");
	assert_int_equal(sl__s3_config_env(&c, NULL, err, sizeof err), SL_CONFIG);
	assert_non_null(strstr(err, "AWS_ACCESS_KEY_ID"));
	setenv("AWS_ACCESS_KEY_ID", "AK", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SK", 1);
	setenv("AWS_REGION", "eu-west-3", 1);
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("SLUICE_S3_STYLE");
	OK(sl__s3_config_env(&c, NULL, err, sizeof err));
	assert_string_equal(c.endpoint, "https://s3.eu-west-3.amazonaws.com");
	assert_false(c.path_style);
	sl_buf u;
	sl_buf_init(&u, 1024);
	assert_int_equal(sl__s3_url(&c, "bkt", "a/é", "list-type=2", &u, NULL), 0);
	assert_string_equal(u.p, "https://bkt.s3.eu-west-3.amazonaws.com/a/%C3%A9?list-type=2");
	sl_buf_free(&u);
	sl__s3_config_free(&c);
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/", 1);
	OK(sl__s3_config_env(&c, NULL, err, sizeof err));
	assert_string_equal(c.endpoint, "http://127.0.0.1:9000");
	assert_true(c.path_style);
	sl__s3_config_free(&c);
	setenv("SLUICE_S3_STYLE", "sideways", 1);
	assert_int_equal(sl__s3_config_env(&c, NULL, err, sizeof err), SL_CONFIG);
	unsetenv("SLUICE_S3_STYLE");
	unsetenv("AWS_ENDPOINT_URL");
	/* AWS's documented example of a presigned GET (SigV4 "Authenticating
	 * Requests: Using Query Parameters"): the same signature, to the byte */
	setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", 1);
	setenv("AWS_REGION", "us-east-1", 1);
	OK(sl__s3_config_env(&c, "https://s3.amazonaws.com", err, sizeof err));
	c.path_style = false;
	char *url;
	struct tm tm = {.tm_year = 113, .tm_mon = 4, .tm_mday = 24};
	OK(sl__s3_presign(&c, "GET", "examplebucket", "test.txt", 86400, timegm(&tm), &url, err,
	                  sizeof err));
	assert_non_null(strstr(
	    url,
	    "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"));
	assert_non_null(strstr(url, "https://examplebucket.s3.amazonaws.com/test.txt?"));
	free(url);
	sl__s3_config_free(&c);
}

static int setup(void **state)
{
	(void)state;
	sl_s3 *s = client(endpoint, secret, NULL);
	char err[512];
	/* a bucket of this test's own: PUT on the bucket creates it */
	int rc = sl__s3_put(s, bucket, "", NULL, 0, NULL, err, sizeof err);
	if (rc)
		fprintf(stderr, "create bucket %s: %s\n", bucket, err);
	sl__s3_close(s);
	return rc;
}

static int teardown(void **state)
{
	(void)state;
	sl__s3_config_free(&cfg);
	return 0;
}

int main(void)
{
	int f = read_fixture();
	if (f != 0) {
		printf("SKIP: %s\n", f > 0 ? "the s3rver fixture could not start"
		                           : "no s3rver fixture (run by CTest: SLUICE_FIXTURES)");
		if (f > 0 && (getenv("SLUICE_REQUIRE_ALL") ||
		              (getenv("CI") && !strcmp(getenv("CI"), "true"))))
			return 1;
		return 77;
	}
	snprintf(bucket, sizeof bucket, "t-s3-%ld", (long)getpid());
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(configuration_and_uris),
	    cmocka_unit_test(put_head_get_delete),
	    cmocka_unit_test(ranged_gets_give_exactly_the_bytes_asked),
	    cmocka_unit_test(multipart_upload_assembles_the_parts),
	    cmocka_unit_test(list_follows_continuation_tokens),
	    cmocka_unit_test(a_wrong_secret_is_403_with_the_servers_message),
	    cmocka_unit_test(a_missing_key_is_404_at_once),
	    cmocka_unit_test(throttling_and_5xx_are_retried_then_reported),
	    cmocka_unit_test(broken_connections_are_retried_and_a_cut_body_resumes),
	    cmocka_unit_test(a_replaced_object_is_refused_by_etag),
	    cmocka_unit_test(virtual_host_style_addresses_the_bucket_host),
	    cmocka_unit_test(presigned_urls_put_and_get_without_credentials),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
