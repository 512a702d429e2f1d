/*
 * Signed upload URLs (the presigned-URL pattern): a client with a write
 * key asks POST /v1/datasets/{name}/upload-urls and hands the URL to
 * someone without a key (a partner's system, a browser), who may POST one
 * file to that dataset until the URL expires.
 *
 *   /v1/datasets/NAME/uploads?expires=UNIX_S&nonce=HEX&signature=HEX
 *   signature = HMAC-SHA256(secret, "POST\n/v1/datasets/NAME/uploads\nNAME\nEXPIRES\nNONCE")
 *
 * The secret is --secret / SLUICE_SECRET, else 32 random bytes kept in
 * DATA_DIR/secret (mode 0600), so URLs outlive a restart. Signatures are
 * compared in constant time. One upload per URL: the nonce becomes the
 * upload's idempotency key ("url:NONCE"), kept in the store with the job,
 * so a second, different body on the same URL is refused (403) even after
 * a restart, while a retry of the same body gets the same job back.
 *
 * With --upload-store the answer is instead a presigned S3 PUT URL (SigV4
 * query signing, src/s3/s3_sign.c) of a key the service picks, for a
 * direct upload into the bucket, confirmed afterwards with {"s3_key": KEY}
 * on the uploads route (http_upload.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "http/http_parse.h"
#include "http/http_reply.h"
#include "s3/s3.h"

#define NONCE_BYTES 16
#define MAX_TTL_S   (7 * 24 * 3600)

static void hex(const unsigned char *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = 0;
}

static bool is_hex(const char *p, size_t n)
{
	size_t i = 0;
	for (; p[i]; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return i == n;
}

int http_sign_init(http_srv *s, const char *data_dir)
{
	const char *given = s->o.secret ? s->o.secret : getenv("SLUICE_SECRET");
	if (given && given[0]) {
		size_t n = strlen(given);
		if (n < 16) {
			http_log(s, "error",
			         "the URL signing secret must have 16 characters or more");
			return SL_CONFIG;
		}
		/* a long secret is hashed down, as HMAC would do itself */
		unsigned len = 0;
		if (n > sizeof s->secret)
			HMAC(EVP_sha256(), "sluice", 6, (const unsigned char *)given, n, s->secret,
			     &len);
		else
			memcpy(s->secret, given, (len = (unsigned)n));
		s->secret_len = len;
		return 0;
	}
	char path[4200];
	snprintf(path, sizeof path, "%s/secret", data_dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, s->secret, 32) : -1;
	if (fd >= 0)
		close(fd);
	if (got == 32) {
		s->secret_len = 32;
		return 0;
	}
	/* the first start: make one, written whole before it is used */
	if (getrandom(s->secret, 32, 0) != 32)
		return SL_INTERNAL;
	int e = sl_write_file_durable(path, s->secret, 32);
	if (e) {
		http_log(s, "error", "cannot write %s: %s", path, strerror(e));
		return SL_IO_WRITE;
	}
	s->secret_len = 32;
	return 0;
}

static void sign(const http_srv *s, const char *dataset, long long expires, const char *nonce,
                 char out[65])
{
	char msg[512];
	unsigned char mac[32];
	unsigned len = 0;
	int n = snprintf(msg, sizeof msg, "POST\n/v1/datasets/%s/uploads\n%s\n%lld\n%s", dataset,
	                 dataset, expires, nonce);
	HMAC(EVP_sha256(), s->secret, (int)s->secret_len, (const unsigned char *)msg,
	     (size_t)(n < (int)sizeof msg ? n : (int)sizeof msg - 1), mac, &len);
	hex(mac, 32, out);
}

/* With --upload-store: a presigned S3 PUT of a key the service picks
   (PREFIX/UID.csv, UID from a new job id, which the confirmation gives the
   job), for a client to upload straight into the bucket. */
static enum MHD_Result presigned_put(struct MHD_Connection *c, http_req *r, const char *dataset,
                                     long long ttl)
{
	http_srv *s = r->s;
	char job[SL_JOB_ID_LEN], uid[SL_JOB_ID_LEN], key[1100], err[512] = "";
	char *url = NULL;
	sl_job_new_id(job);
	snprintf(uid, sizeof uid, "u%s", job + 1);
	http_store_key(s, uid, key, sizeof key);
	time_t now = time(NULL);
	int rc = sl__s3_presign(http_store_config(s), "PUT", http_store_bucket(s), key,
	                        (unsigned)ttl, now, &url, err, sizeof err);
	if (rc < 0)
		return http_send_error(c, r, 503, sl_error_name(rc), "%s", err);
	http_body b;
	if (!http_body_open(&b)) {
		free(url);
		return http_send_error(c, r, 500, "NOMEM", "out of memory");
	}
	fputs("{\"dataset\":", b.f);
	http_json_str(b.f, dataset);
	fputs(",\"method\":\"PUT\",\"url\":", b.f);
	http_json_str(b.f, url);
	fputs(",\"s3_key\":", b.f);
	http_json_str(b.f, key);
	char path[300];
	snprintf(path, sizeof path, "/v1/datasets/%s/uploads", dataset);
	fputs(",\"confirm_path\":", b.f);
	http_json_str(b.f, path);
	fprintf(b.f, ",\"expires_at\":%lld}\n", (long long)now + ttl);
	free(url);
	return http_body_send(c, r, 201, &b, "application/json", NULL);
}

enum MHD_Result http_upload_urls(struct MHD_Connection *c, http_req *r, const char *dataset)
{
	http_srv *s = r->s;
	if (http_dataset_find(s, dataset) < 0)
		return http_send_error(c, r, 404, "NOT_FOUND", "no dataset with that name");
	long long ttl = s->o.url_ttl_s;
	const char *e = http_arg(c, "expires_in");
	if (e) {
		char *end;
		errno = 0;
		ttl = strtoll(e, &end, 10);
		if (!(e[0] >= '0' && e[0] <= '9') || *end || errno || ttl < 1 || ttl > MAX_TTL_S)
			return http_send_error(c, r, 400, "BAD_REQUEST",
			                       "expires_in: seconds from 1 to %d", MAX_TTL_S);
	}
	if (http_store_on(s))
		return presigned_put(c, r, dataset, ttl);
	unsigned char raw[NONCE_BYTES];
	char nonce[2 * NONCE_BYTES + 1], sig[65];
	if (getrandom(raw, sizeof raw, 0) != sizeof raw)
		return http_send_error(c, r, 503, "INTERNAL", "no randomness");
	hex(raw, sizeof raw, nonce);
	long long expires = (long long)time(NULL) + ttl;
	sign(s, dataset, expires, nonce, sig);
	char path[600];
	snprintf(path, sizeof path, "/v1/datasets/%s/uploads?expires=%lld&nonce=%s&signature=%s",
	         dataset, expires, nonce, sig);
	http_body b;
	if (!http_body_open(&b))
		return http_send_error(c, r, 500, "NOMEM", "out of memory");
	fputs("{\"dataset\":", b.f);
	http_json_str(b.f, dataset);
	fputs(",\"method\":\"POST\",\"path\":", b.f);
	http_json_str(b.f, path);
	fputs(",\"url\":", b.f);
	/* The host comes from --public-url, never from the request's Host
	   header (which a client or a proxy could set to anything, so that a
	   victim's page would be told to upload elsewhere). Without it the URL
	   is the path, relative to the server the client asked. */
	if (s->o.public_url) {
		char url[1200];
		size_t pl = strlen(s->o.public_url);
		while (pl && s->o.public_url[pl - 1] == '/')
			pl--;
		snprintf(url, sizeof url, "%.*s%s", (int)pl, s->o.public_url, path);
		http_json_str(b.f, url);
	} else {
		http_json_str(b.f, path);
	}
	fprintf(b.f, ",\"expires_at\":%lld}\n", expires);
	return http_body_send(c, r, 201, &b, "application/json", NULL);
}

int http_sign_check(struct MHD_Connection *c, http_req *r, const char *dataset,
                    enum MHD_Result *sent)
{
	/* each parameter once: with two, which one was checked and which one a
	   proxy or a log saw could differ */
	if (http_query_count(r->raw_uri, "expires") != 1 ||
	    http_query_count(r->raw_uri, "nonce") != 1 ||
	    http_query_count(r->raw_uri, "signature") != 1) {
		*sent = http_send_error(
		    c, r, 403, "FORBIDDEN",
		    "the upload URL is not one this server signed (expires, nonce and "
		    "signature, each once)");
		return -1;
	}
	const char *exp = http_arg(c, "expires"), *nonce = http_arg(c, "nonce"),
	           *sig = http_arg(c, "signature");
	char want[65];
	if (!exp || !nonce || !sig || !is_hex(nonce, 2 * NONCE_BYTES) || !is_hex(sig, 64) ||
	    !(exp[0] >= '0' && exp[0] <= '9') || strlen(exp) > 15) {
		*sent = http_send_error(c, r, 403, "FORBIDDEN",
		                        "the upload URL is not one this server signed");
		return -1;
	}
	long long expires = strtoll(exp, NULL, 10);
	sign(r->s, dataset, expires, nonce, want);
	/* the whole signature, in constant time, before looking at the time:
	   an altered URL says "not signed" whatever its expiry */
	if (CRYPTO_memcmp(want, sig, 64) != 0) {
		*sent = http_send_error(c, r, 403, "FORBIDDEN",
		                        "the upload URL is not one this server signed");
		return -1;
	}
	if ((long long)time(NULL) > expires) {
		*sent = http_send_error(c, r, 403, "URL_EXPIRED",
		                        "the upload URL expired; ask for a new one");
		return -1;
	}
	snprintf(r->nonce, sizeof r->nonce, "%s", nonce);
	return 0;
}
