/*
 * Private to sluice: a client of object storage over the S3 protocol, for
 * the S3 byte source (the engine) and the service's upload store. Not part
 * of the public API.
 *
 * Requests go through libcurl, signed by its CURLOPT_AWS_SIGV4; sluice
 * sets x-amz-content-sha256 itself (curl 7.88 does not) and builds every
 * path and query already in SigV4's canonical form (keys URI-encoded once,
 * query names sorted), so what curl signs is what the server recomputes.
 * Presigned URLs are signed here (sl__s3_presign), with OpenSSL's HMAC and
 * SHA-256, since curl does not presign.
 *
 * Failures are S3_* codes (include/sluice/error.h) with the bucket, key and
 * the server's own message in `err`: 403 and 404 fail at once; throttling
 * (503 SlowDown, 429), other 5xx and broken connections are retried
 * SL__S3_RETRIES times with exponential backoff and full jitter. A ranged
 * GET that breaks mid-body resumes at the first byte its sink has not seen.
 *
 * A client (sl_s3) is one curl handle and its connection: one thread at a
 * time. The configuration is read-only once made and may be shared.
 */
#ifndef SLUICE_S3_H
#define SLUICE_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SL__S3_RETRIES  5
#define SL__S3_ETAG_MAX 128

typedef struct sl_s3_config {
	char *endpoint;      /* "http://127.0.0.1:4568", no trailing slash */
	char *region;        /* never NULL: AWS_REGION, AWS_DEFAULT_REGION or us-east-1 */
	char *access_key;    /* AWS_ACCESS_KEY_ID */
	char *secret_key;    /* AWS_SECRET_ACCESS_KEY */
	char *session_token; /* AWS_SESSION_TOKEN, or NULL */
	bool path_style;     /* http://host/bucket/key, else http://bucket.host/key */
	unsigned backoff_ms; /* first retry's ceiling; doubles per retry */
} sl_s3_config;

/* From the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (both
 * required), AWS_SESSION_TOKEN, AWS_REGION (else AWS_DEFAULT_REGION, else
 * us-east-1), AWS_ENDPOINT_URL unless `endpoint` is given (the CLI's
 * --s3-endpoint), else AWS's https://s3.REGION.amazonaws.com. Addressing:
 * SLUICE_S3_STYLE=path|virtual, by default path-style for a given endpoint
 * and virtual-host style for AWS. SLUICE_S3_BACKOFF_MS (default 200) sets
 * the first retry's backoff ceiling. 0, SL_CONFIG (a missing credential or
 * bad value, said in err) or SL_NOMEM. */
int sl__s3_config_env(sl_s3_config *c, const char *endpoint, char *err, size_t errlen);
void sl__s3_config_free(sl_s3_config *c);

/* "s3://bucket/key..." into its parts (malloc'd): 0 or SL_INVAL (said in
 * err). An empty key is allowed (a prefix of ""). */
int sl__s3_uri_parse(const char *uri, char **bucket, char **key, char *err, size_t errlen);

typedef struct sl_s3 sl_s3;
/* A client on `cfg`, which must outlive it. 0 or SL_NOMEM. */
int sl__s3_open(sl_s3 **out, const sl_s3_config *cfg);
void sl__s3_close(sl_s3 *s);
/* Requests sent since sl__s3_open, retries included (for tests and logs). */
unsigned sl__s3_requests(const sl_s3 *s);

typedef struct sl_s3_stat {
	uint64_t size;
	char etag[SL__S3_ETAG_MAX]; /* as the server quotes it: "\"abc...\"" */
	time_t mtime;               /* Last-Modified, Unix seconds; 0 when absent */
} sl_s3_stat;

int sl__s3_head(sl_s3 *s, const char *bucket, const char *key, sl_s3_stat *st, char *err,
                size_t errlen);

/* The body is handed to sink as it arrives; a non-zero return stops the
 * transfer and is returned as is. */
typedef int (*sl_s3_sink)(void *ctx, const char *p, size_t n);
/* Bytes [off, off+len) (len UINT64_MAX: to the end). With if_match (an ETag
 * as HEAD gave it) a changed object fails with SL_IO_CHANGED instead of
 * mixing two versions' bytes. */
int sl__s3_get(sl_s3 *s, const char *bucket, const char *key, uint64_t off, uint64_t len,
               const char *if_match, sl_s3_sink sink, void *ctx, char *err, size_t errlen);

/* One PUT of n bytes; etag (SL__S3_ETAG_MAX, may be NULL) gets the new ETag. */
int sl__s3_put(sl_s3 *s, const char *bucket, const char *key, const void *p, size_t n, char *etag,
               char *err, size_t errlen);
int sl__s3_delete(sl_s3 *s, const char *bucket, const char *key, char *err, size_t errlen);

/* Multipart upload. create gives the upload id (malloc'd); part numbers are
 * 1..10000 and etags[i] is part i+1's ETag as upload_part returned it. */
int sl__s3_mpu_create(sl_s3 *s, const char *bucket, const char *key, char **upload_id, char *err,
                      size_t errlen);
int sl__s3_mpu_part(sl_s3 *s, const char *bucket, const char *key, const char *upload_id,
                    unsigned part, const void *p, size_t n, char *etag, char *err, size_t errlen);
int sl__s3_mpu_complete(sl_s3 *s, const char *bucket, const char *key, const char *upload_id,
                        char (*etags)[SL__S3_ETAG_MAX], unsigned nparts, char *err, size_t errlen);
int sl__s3_mpu_abort(sl_s3 *s, const char *bucket, const char *key, const char *upload_id,
                     char *err, size_t errlen);

/* ListObjectsV2 of every key under prefix, page after page (max_keys per
 * page, 0 for the server's default), following continuation tokens. each
 * is called per object in the server's (lexicographic) order; a non-zero
 * return stops the listing and is returned. */
typedef int (*sl_s3_each)(void *ctx, const char *key, uint64_t size, const char *etag);
int sl__s3_list(sl_s3 *s, const char *bucket, const char *prefix, unsigned max_keys,
                sl_s3_each each, void *ctx, char *err, size_t errlen);

/* A presigned URL (SigV4 query signing) for `method` ("GET", "PUT") on
 * bucket/key, valid `expires` seconds (1..604800) from `now`. *url is
 * malloc'd. 0, SL_INVAL or SL_NOMEM. */
int sl__s3_presign(const sl_s3_config *c, const char *method, const char *bucket, const char *key,
                   unsigned expires, time_t now, char **url, char *err, size_t errlen);

/* --- shared by the files of src/s3/ --------------------------------------- */
/* RFC 3986 encoding as SigV4 wants it: every byte but A-Z a-z 0-9 - _ . ~
 * (and '/' when keep_slash) as %XX; appended to b (an sl_buf). */
struct sl_buf;
int sl__s3_encode(struct sl_buf *b, const char *s, bool keep_slash);
/* The URL of bucket/key (key encoded, '/' kept) plus "?query" when query
 * is not empty; host (may be NULL) gets "host[:port]" as signed. */
int sl__s3_url(const sl_s3_config *c, const char *bucket, const char *key, const char *query,
               struct sl_buf *url, struct sl_buf *host);
/* hex SHA-256 of [p, p+n) into out[65] */
void sl__s3_sha256_hex(const void *p, size_t n, char out[65]);

#endif
