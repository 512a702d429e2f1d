/*
 * GET /v1/jobs/{id}/events: a job's progress as Server-Sent Events, until
 * it ends.
 *
 *   event: progress        the job (the fields of GET /v1/jobs/{id}),
 *   data: {...}            sent at once and then whenever it changed
 *
 *   event: end             the last progress, once the status is final;
 *   data: {...}            then the stream closes
 *
 * and a `: keep-alive` comment every 15 s so proxies keep the connection.
 *
 * libmicrohttpd pulls the body through a content reader callback on an
 * event-loop thread, so the callback never waits: it reads the store (one
 * indexed read; the job store is the truth, so the stream shows exactly
 * what GET /v1/jobs/{id} would, whichever process runs the job) and, with
 * nothing new, parks the connection (suspended) until the next tick,
 * HTTP_PARK_MS later (http_pool.c). A stream ends on a final status or when
 * the server stops (the `stopping` flag is set before the parked streams
 * are resumed a last time); a client that went away is noticed at the next
 * write (the keep-alive at the latest).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "http/http_reply.h"

#define KEEPALIVE_S 15

typedef struct stream {
	http_srv *s;
	struct MHD_Connection *c;
	char job[SL_JOB_ID_LEN];
	char *buf; /* the event being sent */
	size_t len, off;
	int64_t last_updated;
	int last_status;
	bool ended; /* the end event is out (or the job is gone) */
	double last_sent;
} stream;

/* The next event into st->buf: 1 one is ready, 0 nothing new, -1 the end. */
static int next_event(stream *st)
{
	sl_job j;
	char msg[512], uid[SL_JOB_ID_LEN];
	if (st->ended)
		return -1;
	if (http_job_load(st->s, st->job, &j, NULL, NULL, msg, sizeof msg) < 0) {
		/* gone (a restart of the store?) or unreadable: say so and end */
		free(st->buf);
		st->buf = NULL;
		if (asprintf(&st->buf, "event: error\ndata: "
		                       "{\"error\":{\"code\":\"UNAVAILABLE\",\"message\":\"the job "
		                       "cannot be read now\"}}\n\n") < 0)
			st->buf = NULL;
		st->len = st->buf ? strlen(st->buf) : 0;
		st->off = 0;
		st->ended = true;
		return st->buf ? 1 : -1;
	}
	int rc = 0;
	bool final = sl_job_status_final(j.status);
	if (j.updated_ms != st->last_updated || (int)j.status != st->last_status || final) {
		char *data = NULL;
		size_t dlen = 0;
		FILE *f = open_memstream(&data, &dlen);
		if (f) {
			http_upload_of(st->s, &j, uid, sizeof uid);
			fprintf(f, "event: %s\nid: %lld\ndata: ", final ? "end" : "progress",
			        (long long)j.updated_ms);
			http_json_job(f, &j, uid);
			fputs("\n\n", f);
			if (fclose(f) == 0) {
				free(st->buf);
				st->buf = data;
				st->len = dlen;
				st->off = 0;
				data = NULL;
				rc = 1;
			}
			free(data);
		}
		st->last_updated = j.updated_ms;
		st->last_status = (int)j.status;
		st->ended = final;
	}
	sl_job_clear(&j);
	return rc;
}

static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
	stream *st = cls;
	(void)pos;
	for (;;) {
		if (st->buf && st->off < st->len) {
			size_t n = st->len - st->off < max ? st->len - st->off : max;
			memcpy(out, st->buf + st->off, n);
			st->off += n;
			st->last_sent = sl_now();
			return (ssize_t)n;
		}
		if (atomic_load(&st->s->stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
		int e = next_event(st);
		if (e < 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (e > 0)
			continue;
		if (sl_now() - st->last_sent >= KEEPALIVE_S) {
			static const char ka[] = ": keep-alive\n\n";
			size_t n = sizeof ka - 1 < max ? sizeof ka - 1 : max;
			memcpy(out, ka, n);
			st->last_sent = sl_now();
			return (ssize_t)n;
		}
		/* nothing new: park until the next tick (http_pool.c) */
		if (!http_pool_park(st->s, st->c))
			return MHD_CONTENT_READER_END_OF_STREAM;
		return 0;
	}
}

static void stream_free(void *cls)
{
	stream *st = cls;
	free(st->buf);
	free(st);
}

enum MHD_Result http_events(struct MHD_Connection *c, http_req *r, const char *id)
{
	sl_job j;
	char msg[512], job[SL_JOB_ID_LEN];
	if (!http_valid_token(id, HTTP_ID_MAX, true) || !http_resolve_job(r->s, id, job))
		return http_send_error(c, r, 404, "NOT_FOUND", "no job with that id");
	/* accepted a moment ago: the acceptor is recording it (as /chunks and
	   /errors do; this route runs off the event loop, RF_SLOW) */
	if (http_pending_job(r->s, job, &j) == 1) {
		bool failed = j.status == SL_JOB_FAILED;
		sl_job_clear(&j);
		if (failed)
			return http_send_error(c, r, 409, "NOT_RECORDED",
			                       "upload %s could not be recorded as a job", id);
		if (!http_pending_wait(r->s, job, 3000))
			return http_send_error(c, r, 503, "NOT_RECORDED_YET",
			                       "job %s is being recorded; try again in a moment",
			                       job);
	}
	int rc = http_job_load(r->s, job, &j, NULL, NULL, msg, sizeof msg);
	if (rc == SL_NOT_FOUND)
		return http_send_error(c, r, 404, "NOT_FOUND", "no job %s", id);
	if (rc < 0)
		return http_send_error(c, r, 503, sl_error_name(rc), "%s", msg);
	stream *st = calloc(1, sizeof *st);
	if (!st) {
		sl_job_clear(&j);
		return http_send_error(c, r, 500, "NOMEM", "out of memory");
	}
	st->s = r->s;
	st->c = c;
	snprintf(st->job, sizeof st->job, "%s", j.id);
	snprintf(r->job, sizeof r->job, "%s", j.id);
	st->last_updated = -1;
	st->last_status = -1;
	st->last_sent = sl_now();
	sl_job_clear(&j);
	struct MHD_Response *resp =
	    MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader, st, stream_free);
	if (!resp) {
		stream_free(st);
		return http_send_error(c, r, 500, "NOMEM", "out of memory");
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        "text/event-stream; charset=utf-8");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	http_common_headers(resp, r);
	return http_queue(c, r, 200, resp);
}
