/*
 * The server's log: one JSON object per line on stderr (time, level, msg,
 * and for a request its method, path, status, correlation id, job and
 * duration), written whole under s->log_mu so that lines of different
 * threads never interleave. libmicrohttpd's own messages come here too.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http_int.h"

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

void http_mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = 0;
	log_emit(cls, "warn", msg, NULL, NULL, 0, NULL, NULL, -1, 0);
}

void http_log_request(http_srv *s, const char *level, const char *msg, const char *method,
                      const char *path, unsigned status, const char *corr, const char *job,
                      double duration_ms)
{
	log_emit(s, level, msg, method, path, status, corr, job, -1, duration_ms);
}
