/*
 * The S3 client's configuration, addresses and presigned URLs: reading the
 * usual AWS environment, s3:// URIs, the request URL in SigV4's canonical
 * encoding, and SigV4 query signing (AWS's "Authenticating Requests: Using
 * Query Parameters"), done here with OpenSSL because curl signs headers
 * only. Everything here is pure (no I/O), so the presigned URL of a given
 * instant is reproducible.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "base/base.h"
#include "s3/s3.h"
#include "sluice/error.h"

static char *dup_env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? strdup(v) : NULL;
}

void sl__s3_config_free(sl_s3_config *c)
{
	if (!c)
		return;
	free(c->endpoint);
	free(c->region);
	free(c->access_key);
	free(c->secret_key);
	free(c->session_token);
	memset(c, 0, sizeof *c);
}

int sl__s3_config_env(sl_s3_config *c, const char *endpoint, char *err, size_t errlen)
{
	int rc = SL_NOMEM;
	memset(c, 0, sizeof *c);
	c->access_key = dup_env("AWS_ACCESS_KEY_ID");
	c->secret_key = dup_env("AWS_SECRET_ACCESS_KEY");
	if (!c->access_key || !c->secret_key) {
		snprintf(err, errlen,
		         "object storage needs credentials: set AWS_ACCESS_KEY_ID and "
		         "AWS_SECRET_ACCESS_KEY");
		rc = SL_CONFIG;
		goto out;
	}
	c->session_token = dup_env("AWS_SESSION_TOKEN");
	c->region = dup_env("AWS_REGION");
	if (!c->region)
		c->region = dup_env("AWS_DEFAULT_REGION");
	if (!c->region && !(c->region = strdup("us-east-1")))
		goto out;
	bool given = true;
	if (endpoint && *endpoint)
		c->endpoint = strdup(endpoint);
	else if (!(c->endpoint = dup_env("AWS_ENDPOINT_URL"))) {
		given = false;
		size_t n = strlen(c->region) + 32;
		if ((c->endpoint = malloc(n)))
			snprintf(c->endpoint, n, "https://s3.%s.amazonaws.com", c->region);
	}
	if (!c->endpoint)
		goto out;
	size_t n = strlen(c->endpoint);
	while (n && c->endpoint[n - 1] == '/')
		c->endpoint[--n] = '\0';
	if (strncmp(c->endpoint, "http://", 7) != 0 && strncmp(c->endpoint, "https://", 8) != 0) {
		snprintf(err, errlen,
		         "S3 endpoint '%s': expected http://HOST[:PORT] or https://...",
		         c->endpoint);
		rc = SL_CONFIG;
		goto out;
	}
	c->path_style = given;
	const char *style = getenv("SLUICE_S3_STYLE");
	if (style && *style) {
		if (strcmp(style, "path") == 0)
			c->path_style = true;
		else if (strcmp(style, "virtual") == 0)
			c->path_style = false;
		else {
			snprintf(err, errlen, "SLUICE_S3_STYLE='%s': expected path or virtual",
			         style);
			rc = SL_CONFIG;
			goto out;
		}
	}
	c->backoff_ms = 200;
	const char *b = getenv("SLUICE_S3_BACKOFF_MS");
	if (b && *b) {
		char *end;
		unsigned long v = strtoul(b, &end, 10);
		if (*end || v > 60000) {
			snprintf(err, errlen, "SLUICE_S3_BACKOFF_MS='%s': expected 0..60000", b);
			rc = SL_CONFIG;
			goto out;
		}
		c->backoff_ms = (unsigned)v;
	}
	rc = 0;
out:
	if (rc)
		sl__s3_config_free(c);
	return rc;
}

int sl__s3_uri_parse(const char *uri, char **bucket, char **key, char *err, size_t errlen)
{
	*bucket = *key = NULL;
	if (strncmp(uri, "s3://", 5) != 0) {
		snprintf(err, errlen, "'%s' is not an s3://bucket/key URI", uri);
		return SL_INVAL;
	}
	const char *b = uri + 5, *slash = strchr(b, '/');
	size_t bn = slash ? (size_t)(slash - b) : strlen(b);
	/* bucket names are 3..63 of [a-z0-9.-] (AWS's rules, loosely) */
	bool ok = bn >= 3 && bn <= 63;
	for (size_t i = 0; ok && i < bn; i++)
		ok = (b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '.' ||
		     b[i] == '-';
	if (!ok) {
		snprintf(err, errlen, "'%s': the bucket name must be 3 to 63 of a-z 0-9 . -", uri);
		return SL_INVAL;
	}
	*bucket = strndup(b, bn);
	*key = strdup(slash ? slash + 1 : "");
	if (!*bucket || !*key) {
		free(*bucket);
		free(*key);
		*bucket = *key = NULL;
		return SL_NOMEM;
	}
	return 0;
}

int sl__s3_encode(struct sl_buf *b, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		bool plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		             (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
		             ch == '~' || (keep_slash && ch == '/');
		char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
		int rc = plain ? sl_buf_append(b, s, 1) : sl_buf_append(b, e, 3);
		if (rc)
			return rc;
	}
	return 0;
}

static int append_cstr(struct sl_buf *b, const char *s)
{
	return sl_buf_append(b, s, strlen(s));
}

/* The endpoint's scheme ("http://") and host[:port] as a Host header has
 * it (curl leaves out a default port, and so must the signature). */
static void endpoint_parts(const char *ep, size_t *scheme_n, const char **host, size_t *host_n)
{
	*scheme_n = strncmp(ep, "https://", 8) == 0 ? 8 : 7;
	*host = ep + *scheme_n;
	const char *slash = strchr(*host, '/');
	*host_n = slash ? (size_t)(slash - *host) : strlen(*host);
	const char *def = *scheme_n == 8 ? ":443" : ":80";
	size_t dn = strlen(def);
	if (*host_n > dn && memcmp(*host + *host_n - dn, def, dn) == 0)
		*host_n -= dn;
}

int sl__s3_url(const sl_s3_config *c, const char *bucket, const char *key, const char *query,
               struct sl_buf *url, struct sl_buf *host)
{
	size_t sn, hn;
	const char *h;
	endpoint_parts(c->endpoint, &sn, &h, &hn);
	const char *rest = h + hn; /* a path of the endpoint's own, or a dropped :80 */
	while (*rest && *rest != '/')
		rest++;
	int rc = sl_buf_append(url, c->endpoint, sn);
	if (!c->path_style && !rc)
		rc = sl_buf_append(url, bucket, strlen(bucket));
	if (!c->path_style && !rc)
		rc = sl_buf_append(url, ".", 1);
	if (!rc)
		rc = sl_buf_append(url, h, hn);
	if (!rc)
		rc = append_cstr(url, rest);
	if (c->path_style && !rc) {
		rc = sl_buf_append(url, "/", 1);
		if (!rc)
			rc = sl__s3_encode(url, bucket, false);
	}
	if (!rc && key && *key) {
		rc = sl_buf_append(url, "/", 1);
		if (!rc)
			rc = sl__s3_encode(url, key, true);
	} else if (!rc && !c->path_style)
		rc = sl_buf_append(url, "/", 1);
	if (!rc && query && *query) {
		rc = sl_buf_append(url, "?", 1);
		if (!rc)
			rc = append_cstr(url, query);
	}
	if (!rc)
		rc = sl_buf_append(url, "", 1);
	if (!rc)
		url->len--; /* NUL-terminated, not counted */
	if (!rc && host) {
		if (!c->path_style) {
			rc = append_cstr(host, bucket);
			if (!rc)
				rc = sl_buf_append(host, ".", 1);
		}
		if (!rc)
			rc = sl_buf_append(host, h, hn);
		if (!rc)
			rc = sl_buf_append(host, "", 1);
		if (!rc)
			host->len--;
	}
	return rc;
}

static void hex_of(const unsigned char *d, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * n] = '\0';
}

void sl__s3_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	SHA256(p, n, d);
	hex_of(d, sizeof d, out);
}

static void hmac(const void *key, size_t kn, const char *msg, unsigned char out[32])
{
	unsigned int len = 32;
	HMAC(EVP_sha256(), key, (int)kn, (const unsigned char *)msg, strlen(msg), out, &len);
}

int sl__s3_presign(const sl_s3_config *c, const char *method, const char *bucket, const char *key,
                   unsigned expires, time_t now, char **url, char *err, size_t errlen)
{
	int rc = SL_NOMEM;
	sl_buf u, host, q, creq;
	sl_buf_init(&u, 1 << 16);
	sl_buf_init(&host, 1 << 10);
	sl_buf_init(&q, 1 << 16);
	sl_buf_init(&creq, 1 << 17);
	*url = NULL;
	if (expires < 1 || expires > 604800 || !key || !*key) {
		snprintf(err, errlen, "a presigned URL needs a key and 1 to 604800 seconds");
		rc = SL_INVAL;
		goto out;
	}
	struct tm tm;
	char date[9], stamp[17], scope[160], hash[65], num[24];
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%Y%m%d", &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(scope, sizeof scope, "%s/%s/s3/aws4_request", date, c->region);
	snprintf(num, sizeof num, "%u", expires);
	if (sl__s3_url(c, bucket, key, NULL, &u, &host))
		goto out;
	/* the query in canonical order: the names sorted, values encoded once */
	sl_buf cred;
	sl_buf_init(&cred, 1 << 10);
	int e = append_cstr(&cred, c->access_key);
	e = e ? e : sl_buf_append(&cred, "/", 1);
	e = e ? e : append_cstr(&cred, scope);
	e = e ? e : sl_buf_append(&cred, "", 1);
	e = e ? e : append_cstr(&q, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
	e = e ? e : sl__s3_encode(&q, cred.p, false);
	sl_buf_free(&cred);
	e = e ? e : append_cstr(&q, "&X-Amz-Date=");
	e = e ? e : append_cstr(&q, stamp);
	e = e ? e : append_cstr(&q, "&X-Amz-Expires=");
	e = e ? e : append_cstr(&q, num);
	if (c->session_token) {
		e = e ? e : append_cstr(&q, "&X-Amz-Security-Token=");
		e = e ? e : sl__s3_encode(&q, c->session_token, false);
	}
	e = e ? e : append_cstr(&q, "&X-Amz-SignedHeaders=host");
	e = e ? e : sl_buf_append(&q, "", 1);
	if (e)
		goto out;
	/* canonical URI: the URL's path, already encoded by sl__s3_url */
	const char *path = strchr(u.p + (strncmp(u.p, "https://", 8) == 0 ? 8 : 7), '/');
	e = append_cstr(&creq, method);
	e = e ? e : sl_buf_append(&creq, "\n", 1);
	e = e ? e : append_cstr(&creq, path ? path : "/");
	e = e ? e : sl_buf_append(&creq, "\n", 1);
	e = e ? e : append_cstr(&creq, q.p);
	e = e ? e : append_cstr(&creq, "\nhost:");
	e = e ? e : append_cstr(&creq, host.p);
	e = e ? e : append_cstr(&creq, "\n\nhost\nUNSIGNED-PAYLOAD");
	if (e)
		goto out;
	sl__s3_sha256_hex(creq.p, creq.len, hash);
	char sts[400];
	snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", stamp, scope, hash);
	unsigned char k[32];
	size_t sn = strlen(c->secret_key) + 5;
	char *secret = malloc(sn);
	if (!secret)
		goto out;
	snprintf(secret, sn, "AWS4%s", c->secret_key);
	hmac(secret, strlen(secret), date, k);
	free(secret);
	hmac(k, 32, c->region, k);
	hmac(k, 32, "s3", k);
	hmac(k, 32, "aws4_request", k);
	hmac(k, 32, sts, k);
	char sig[65];
	hex_of(k, 32, sig);
	size_t n = u.len + q.len + 100;
	if (!(*url = malloc(n)))
		goto out;
	snprintf(*url, n, "%.*s?%s&X-Amz-Signature=%s", (int)u.len, u.p, q.p, sig);
	rc = 0;
out:
	sl_buf_free(&u);
	sl_buf_free(&host);
	sl_buf_free(&q);
	sl_buf_free(&creq);
	return rc;
}
