/*
 * Private to src/http/: a request being answered and the helpers every
 * route handler calls back into (answers, bodies written into memory,
 * request values, ids). Defined in http_reply.c, which
 * calls no handler: handlers depend on it, never the other way round.
 */
#ifndef SLUICE_HTTP_REPLY_H
#define SLUICE_HTTP_REPLY_H

#include "http/http_int.h"

/* A handler that takes a body sets on_body/on_end in its first call (headers
   known): on_body gets each piece libmicrohttpd hands over, on_end answers
   once the body is complete. on_done runs when the request ends, answered
   or not (`ok`: the response was sent in full); it frees what `ext` holds. */
typedef void (*http_body_fn)(http_req *r, const char *data, size_t n);
/* Optional, before each on_body: how many of the n bytes on_body takes
   now; 0 when none, and then c is suspended by it until there is room
   (libmicrohttpd keeps the rest and hands it over again). */
typedef size_t (*http_room_fn)(struct MHD_Connection *c, http_req *r, size_t n);
typedef enum MHD_Result (*http_end_fn)(struct MHD_Connection *c, http_req *r);
typedef void (*http_done_fn)(http_req *r, bool ok);

struct http_req {
	http_srv *s;
	int route;
	double t0;
	unsigned status; /* 0 until answered */
	char method[16];
	char path[256]; /* for logs, cut */
	char corr[HTTP_CORR_MAX + 1];
	bool corr_given;         /* X-Correlation-Id came with the request */
	char job[SL_JOB_ID_LEN]; /* for the log line */
	http_body_fn on_body;
	http_room_fn on_room;
	http_end_fn on_end;
	http_done_fn on_done;
	void *ext; /* the handler's own state */
	/* an upload being received (http_upload.c) */
	bool counted; /* in uploads_in_flight */
	int fd;
	char part[4096];
	char uid[SL_JOB_ID_LEN];
	size_t ds;
	uint64_t bytes;
	XXH3_state_t *xx;
	struct http_mp *mp;   /* multipart/form-data (http_parse.h) */
	struct http_s3w *s3w; /* the body into the upload store, or NULL (a file) */
	char *json;           /* a confirmation's body ({"s3_key": ...}), or NULL */
	size_t json_n;
	bool file_part_seen;
	char idem[HTTP_IDEM_MAX + 1];
	sl_load_mode mode;    /* an upload's ?mode= (SL_MODE_DEFAULT: none) */
	char nonce[48];       /* a signed upload URL's */
	unsigned fail_status; /* found while the body streamed in; answered at its end */
	const char *fail_code;
	char fail_msg[200];
	/* the router's (http_router.c) */
	const char *p1, *p2; /* the path's {name}/{id} and {key}, in path_buf */
	char path_buf[512];
	bool signed_url; /* the upload carries a signature instead of a key */
	char owner[17];
	char cors[256];      /* the request's Origin when --cors-origin allows it */
	bool started;        /* the access handler's first call was made */
	char raw_uri[4096];  /* the target as sent (http_on_uri) */
	bool raw_too_long;   /* the API key's fingerprint; "" without keys */
	char client[64];     /* the client's address (X-Forwarded-For from a trusted proxy) */
	bool client_counted; /* holds one of the client's upload slots (http_limits.c) */
	bool client_req;     /* counted in the client's requests (trusted proxy only) */
	double win_t0;       /* the body's rate window: start, and bytes then */
	uint64_t win_bytes0, body_bytes;
	bool done_ok; /* for on_done, run off the loop */
	/* Off the event loop (http_pool.c): a handler run by a pool thread keeps
	   its answer here (queue_response is only safe from the loop thread); the
	   router queues it when libmicrohttpd calls again after the resume. */
	bool off_loop;
	struct MHD_Response *held;
	unsigned held_status;
	bool held_no; /* the handler returned MHD_NO: close the connection */
	struct MHD_Connection *conn;
	http_req *next; /* in the pool's queue */
	http_end_fn deferred;
};

/* Answers. Each sets r->status; the buffer is taken (freed by MHD). */
/* Queue `resp` (taken) as the answer, or keep it for the loop thread when the
   handler runs off the loop. Every answer goes through here. */
enum MHD_Result http_queue(struct MHD_Connection *c, http_req *r, unsigned status,
                           struct MHD_Response *resp);
enum MHD_Result http_send_buf(struct MHD_Connection *c, http_req *r, unsigned status, char *buf,
                              size_t len, const char *ctype, const char *location);
enum MHD_Result http_send_error(struct MHD_Connection *c, http_req *r, unsigned status,
                                const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* An empty answer with the common headers; `extra` is NULL or a NULL-ended
   list of name, value pairs. */
enum MHD_Result http_send_empty(struct MHD_Connection *c, http_req *r, unsigned status,
                                const char *const *extra);
/* Add the headers every answer carries (correlation id, no-store). */
void http_common_headers(struct MHD_Response *resp, http_req *r);

/* A body written into a memory stream, then sent. */
typedef struct http_body {
	FILE *f;
	char *buf;
	size_t len;
} http_body;
FILE *http_body_open(http_body *b);
enum MHD_Result http_body_send(struct MHD_Connection *c, http_req *r, unsigned status, http_body *b,
                               const char *ctype, const char *location);

const char *http_arg(struct MHD_Connection *c, const char *name);
const char *http_header(struct MHD_Connection *c, const char *name);
/* 1-max characters of [0-9A-Za-z_-] (id) or printable ASCII (!id). */
bool http_valid_token(const char *p, size_t max, bool id);
/* Index of dataset `name`, or -1. */
int http_dataset_find(const http_srv *s, const char *name);
/* A fresh id: prefix + 11 hex digits of ms + 6 random. */
void http_new_id(char prefix, char *id);

/* The 200/202 of a call that made or found a job: {job_id, status_url}
   with Location. */
enum MHD_Result http_send_accepted(struct MHD_Connection *c, http_req *r, unsigned status,
                                   const char *job);

#endif
