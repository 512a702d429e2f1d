/*
 * Per-client limits and the body rate floor (docs/serve.md, "Limits").
 *
 * A client is its IPv4 address; behind the configured --trusted-proxy it is
 * the last address of X-Forwarded-For (the one the proxy appended; earlier
 * ones are the client's own say and not trusted). Connections per address
 * are counted here when there is no proxy (http_gate.c accepts them, and
 * holds a connection until its first request head has come before
 * libmicrohttpd gets it, so libmicrohttpd's own per-address limit would
 * not see the idle ones); behind one every connection comes from the
 * proxy, so requests in flight are counted per forwarded address instead.
 * Upload bodies in flight are counted per client here in both cases.
 *
 * The table is HTTP_CLIENTS slots of open addressing under cl_mu, a slot
 * freed when both its counts reach 0 (a tombstone keeps probe chains whole
 * until it is reused). A full table refuses the new client (the ceiling
 * of the table is the ceiling of the memory it takes).
 *
 * The rate floor: every body piece adds to the request's byte count; once
 * a window (--rate-window) has passed since the window began, the bytes of
 * that window over its length must reach --min-rate or the connection is
 * dropped; then a new window begins. A client that sends nothing at all
 * is dropped by libmicrohttpd's connection timeout, set to the window for
 * the time a body streams (http_router.c).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "http/http_reply.h"

typedef struct http_client {
	char addr[64]; /* "" free; "-" a tombstone */
	unsigned uploads, requests, conns;
} http_client;

int http_limits_init(http_srv *s)
{
	pthread_mutex_init(&s->cl_mu, NULL);
	s->clients = calloc(HTTP_CLIENTS, sizeof *s->clients);
	return s->clients ? 0 : SL_NOMEM;
}

void http_limits_free(http_srv *s)
{
	free(s->clients);
	s->clients = NULL;
	pthread_mutex_destroy(&s->cl_mu);
}

void http_client_address(struct MHD_Connection *c, http_req *r)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char peer[64] = "?";
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, peer,
		          sizeof peer);
	snprintf(r->client, sizeof r->client, "%s", peer);
	const char *proxy = r->s->o.trusted_proxy;
	if (!proxy || strcmp(proxy, peer))
		return;
	const char *xff = http_header(c, "X-Forwarded-For");
	if (!xff)
		return;
	const char *last = strrchr(xff, ',');
	last = last ? last + 1 : xff;
	while (*last == ' ' || *last == '\t')
		last++;
	char addr[64];
	size_t n = strcspn(last, " \t");
	if (n == 0 || n >= sizeof addr)
		return;
	memcpy(addr, last, n);
	addr[n] = 0;
	struct in_addr ia;
	if (inet_pton(AF_INET, addr, &ia) == 1)
		snprintf(r->client, sizeof r->client, "%s", addr);
}

static uint64_t hash(const char *p)
{
	uint64_t h = 1469598103934665603ull;
	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return h;
}

/* The slot of addr, made when `make`; NULL when absent or the table is full. */
static http_client *find(http_srv *s, const char *addr, bool make)
{
	size_t i = (size_t)(hash(addr) % HTTP_CLIENTS);
	http_client *free_slot = NULL;
	for (size_t k = 0; k < HTTP_CLIENTS; k++, i = (i + 1) % HTTP_CLIENTS) {
		http_client *cl = &s->clients[i];
		if (!strcmp(cl->addr, addr))
			return cl;
		if (cl->addr[0] == '-' && !free_slot)
			free_slot = cl;
		if (!cl->addr[0]) {
			if (!free_slot)
				free_slot = cl;
			break;
		}
	}
	if (!make || !free_slot)
		return NULL;
	snprintf(free_slot->addr, sizeof free_slot->addr, "%s", addr);
	free_slot->uploads = free_slot->requests = free_slot->conns = 0;
	return free_slot;
}

static bool take(http_srv *s, http_req *r, bool upload)
{
	unsigned limit = upload ? s->o.max_uploads_per_client : s->o.max_conn_per_client;
	pthread_mutex_lock(&s->cl_mu);
	http_client *cl = find(s, r->client, true);
	unsigned *n = cl ? (upload ? &cl->uploads : &cl->requests) : NULL;
	bool ok = n && *n < limit;
	if (ok) {
		(*n)++;
		if (upload)
			r->client_counted = true;
		else
			r->client_req = true;
	}
	pthread_mutex_unlock(&s->cl_mu);
	if (!ok)
		atomic_fetch_add(&s->client_refused, 1);
	return ok;
}

bool http_client_upload_take(http_srv *s, http_req *r)
{
	return take(s, r, true);
}

bool http_client_request_take(http_srv *s, http_req *r)
{
	return take(s, r, false);
}

void http_client_release(http_srv *s, http_req *r)
{
	if (!r->client_counted && !r->client_req)
		return;
	pthread_mutex_lock(&s->cl_mu);
	http_client *cl = find(s, r->client, false);
	if (cl) {
		if (r->client_counted && cl->uploads)
			cl->uploads--;
		if (r->client_req && cl->requests)
			cl->requests--;
		if (!cl->uploads && !cl->requests && !cl->conns)
			snprintf(cl->addr, sizeof cl->addr, "-");
	}
	pthread_mutex_unlock(&s->cl_mu);
	r->client_counted = r->client_req = false;
}

bool http_client_conn_take(http_srv *s, const char *addr)
{
	pthread_mutex_lock(&s->cl_mu);
	http_client *cl = find(s, addr, true);
	bool ok = cl && cl->conns < s->o.max_conn_per_client;
	if (ok)
		cl->conns++;
	pthread_mutex_unlock(&s->cl_mu);
	if (!ok)
		atomic_fetch_add(&s->client_refused, 1);
	return ok;
}

void http_client_conn_release(http_srv *s, const char *addr)
{
	pthread_mutex_lock(&s->cl_mu);
	http_client *cl = find(s, addr, false);
	if (cl && cl->conns && !--cl->conns && !cl->uploads && !cl->requests)
		snprintf(cl->addr, sizeof cl->addr, "-");
	pthread_mutex_unlock(&s->cl_mu);
}

bool http_body_rate_ok(http_srv *s, http_req *r, size_t n)
{
	double now = sl_now();
	if (r->win_t0 == 0) {
		r->win_t0 = now;
		r->win_bytes0 = r->body_bytes;
	}
	r->body_bytes += n;
	double span = now - r->win_t0;
	if (span < (double)s->o.rate_window_s)
		return true;
	double rate = (double)(r->body_bytes - r->win_bytes0) / span;
	if (rate < (double)s->o.min_rate) {
		atomic_fetch_add(&s->slow_dropped, 1);
		http_log_job(s, "warn", r->job, r->corr,
		             "%s %s from %s: the body came at %.0f bytes/s over %.1f s, below "
		             "--min-rate %llu: dropped",
		             r->method, r->path, r->client, rate, span,
		             (unsigned long long)s->o.min_rate);
		return false;
	}
	r->win_t0 = now;
	r->win_bytes0 = r->body_bytes;
	return true;
}
