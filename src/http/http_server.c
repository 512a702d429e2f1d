/*
 * `sluice serve`: the HTTP API on libmicrohttpd (docs/serve.md).
 *
 * Threading: the gate (http_gate.c) accepts every connection and holds it
 * until its first request head has come, then libmicrohttpd's event loop
 * (epoll) on --http-threads threads holds it; both hold idle ones for the
 * price of a descriptor and a little memory, up to --max-connections in all
 * and --max-conn-per-client per address (counted by the gate), idle ones
 * dropped after --timeout. Nothing on the loop waits for a disk sync or the database's
 * write lock: the end of a body, the routes marked RF_SLOW and the
 * clean-up after a request run on the pool (http_pool.c), and accepted
 * uploads are recorded by the acceptor thread (http_accept.c). A body
 * slower than --min-rate over --rate-window is dropped (http_limits.c).
 *
 * This file starts and stops the server: options and their defaults, the
 * data directories, the schemas, the API keys, the worker and acceptor
 * threads, the gate and the daemon, and the orderly stop on SIGTERM. The rest, one job
 * a file: http_router.c (routing, over the route table of http_routes.h),
 * http_reply.c (answers and helpers the handlers call), http_log.c,
 * http_keys.c, http_health.c, http_metrics.c, http_jobs.c, http_upload.c,
 * http_tus.c, http_records.c, http_events.c, http_sign.c, http_dashboard.c,
 * http_accept.c (recording accepted uploads) and http_worker.c (running
 * jobs).
 *
 * Shared state and its locks are described in http_int.h.
 */
#include <dirent.h>
#include <errno.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "http/http_int.h"

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
				http_log(s, "error", "%s: dataset %s is defined twice (also in %s)",
				         path, sc->name, s->ds[k].schema->path);
				sl_schema_free(sc);
				rc = SL_CONFIG;
				goto out;
			}
		s->ds[s->nds++].schema = sc;
		http_log(s, "info", "dataset %s from %s (table %s)", sc->name, path, sc->table);
	}
	if (!s->nds)
		http_log(s, "warn", "no schemas in %s: /healthz/ready answers 503",
		         s->o.schemas_dir);
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

/* Every connection is a descriptor: let the process have as many as the
   connection limit needs (up to the hard limit). */
static void raise_fd_limit(http_srv *s)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)s->o.max_connections + 256;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
		http_log(
		    s, "warn",
		    "the open file limit is %llu: fewer connections than --max-connections %u fit",
		    (unsigned long long)rl.rlim_cur, s->o.max_connections);
}

int sl_serve(const sl_serve_opts *o)
{
	int rc = 0;
	http_srv *s = calloc(1, sizeof *s);
	struct MHD_Daemon *d = NULL;
	bool worker_up = false, locks = false, pool_up = false;
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
	pthread_mutex_init(&s->pool_mu, NULL);
	pthread_cond_init(&s->pool_cv, NULL);
	pthread_cond_init(&s->pool_idle_cv, NULL);
	pthread_cond_init(&s->tick_cv, NULL);
	locks = true;
	if (http_limits_init(s) < 0) {
		rc = SL_NOMEM;
		goto out;
	}
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
		s->o.max_connections = 4096;
	if (!s->o.http_threads)
		s->o.http_threads = 2;
	if (!s->o.pool_threads)
		s->o.pool_threads = 4;
	if (!s->o.min_rate)
		s->o.min_rate = 64 * 1024;
	if (!s->o.rate_window_s)
		s->o.rate_window_s = 10;
	if (!s->o.max_conn_per_client)
		s->o.max_conn_per_client = 1000;
	if (!s->o.max_uploads_per_client)
		s->o.max_uploads_per_client = 1000;
	if (!s->o.max_tus_pending)
		s->o.max_tus_pending = 1000;
	if (!s->o.max_tus_pending_per_key)
		s->o.max_tus_pending_per_key = 100;
	if (!s->o.max_tus_pending_bytes)
		s->o.max_tus_pending_bytes = 1ull << 40;
	if (!s->o.max_tus_pending_bytes_per_key)
		s->o.max_tus_pending_bytes_per_key = 256ull << 30;
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
		http_log(s, "error", "--listen %s: not HOST:PORT with an IPv4 address",
		         s->o.listen);
		rc = SL_USAGE;
		goto out;
	}
	struct in_addr proxy;
	if (s->o.trusted_proxy && inet_pton(AF_INET, s->o.trusted_proxy, &proxy) != 1) {
		http_log(s, "error", "--trusted-proxy %s: not an IPv4 address", s->o.trusted_proxy);
		rc = SL_USAGE;
		goto out;
	}
	if (s->o.public_url &&
	    ((strncmp(s->o.public_url, "http://", 7) && strncmp(s->o.public_url, "https://", 8)) ||
	     strpbrk(s->o.public_url, "?# \t\r\n") || strlen(s->o.public_url) > 512)) {
		http_log(s, "error", "--public-url %s: not http(s)://HOST[:PORT][/PREFIX]",
		         s->o.public_url);
		rc = SL_USAGE;
		goto out;
	}
	const char *keys = o->api_keys ? o->api_keys : getenv("SLUICE_API_KEYS");
	if (keys && keys[0]) {
		if ((rc = http_keys_parse(s, keys)) < 0) {
			http_log(s, "error",
			         "SLUICE_API_KEYS: not KEY:SCOPE+SCOPE,... with scopes read, "
			         "write, admin");
			goto out;
		}
		http_log(s, "info", "%zu API keys loaded; every /v1 route needs one", s->nkeys);
	} else {
		http_log(s, "warn",
		         "SLUICE_API_KEYS is not set: NO AUTHENTICATION, anyone who can reach "
		         "%s can upload, read and roll back jobs",
		         s->o.listen);
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
	    asprintf(&s->tmp_dir, "%s/tmp", data_real) < 0 ||
	    asprintf(&s->tus_dir, "%s/tus", data_real) < 0) {
		s->uploads_dir = s->tmp_dir = s->tus_dir = NULL;
		rc = SL_NOMEM;
		goto out;
	}
	if ((rc = make_dir(s, s->uploads_dir)) < 0 || (rc = make_dir(s, s->tmp_dir)) < 0 ||
	    (rc = make_dir(s, s->tus_dir)) < 0)
		goto out;
	remove_partials(s);
	if ((rc = http_sign_init(s, data_real)) < 0 || (rc = http_store_init(s)) < 0)
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
	char cmsg[512];
	if ((rc = sl_candidate_start(s->o.db, 60000, 0, "serve", &s->o.leader, &s->cand, cmsg,
	                             sizeof cmsg)) < 0) {
		http_log(s, "error", "database %s: cannot start the leader candidate: %s", s->o.db,
		         cmsg);
		goto out;
	}
	http_resume_unfinished(s);
	if ((rc = http_watch_start(s)) < 0 || (rc = http_store_sweep_start(s)) < 0)
		goto out;

	if ((rc = http_pool_start(s, s->o.pool_threads)) < 0)
		goto out;
	pool_up = true;
	raise_fd_limit(s);
	/* The listening socket is the gate's (http_gate.c): it holds each
	   connection until its first request head came, then hands it to the
	   daemon. The connection limits are the gate's too, counted over both. */
	unsigned port = 0;
	if (http_gate_listen(s, &sa, &port) < 0) {
		http_log(s, "error",
		         "cannot listen on %s (in use, or not an address of this machine)",
		         s->o.listen);
		rc = SL_CONFIG;
		goto out;
	}
	d = MHD_start_daemon(
	    MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
	        MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC,
	    0, NULL, NULL, http_on_request, s, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_logger, s,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->o.http_threads, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)s->o.max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->o.timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_POOL,
	    MHD_OPTION_CONNECTION_MEMORY_INCREMENT, (size_t)(HTTP_CONN_POOL / 4),
	    MHD_OPTION_NOTIFY_COMPLETED, http_on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
	    http_gate_notify, s, MHD_OPTION_URI_LOG_CALLBACK, http_on_uri, s, MHD_OPTION_END);
	if (!d) {
		http_log(s, "error", "cannot start libmicrohttpd's event loop");
		rc = SL_CONFIG;
		goto out;
	}
	if ((rc = http_gate_start(s, d)) < 0)
		goto out;
	/* the port really bound: with --listen HOST:0 the kernel chose it, and
	   this line is how a caller (the tests) learns it */
	char host[INET_ADDRSTRLEN] = "?";
	inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
	http_log(s, "info", "listening on %s:%u; %zu datasets; database %s; data in %s", host, port,
	         s->nds, s->o.db, data_real);

	int sig = 0;
	while (sigwait(&sigs, &sig) != 0)
		;
	http_log(s, "info", "signal %d: no new connections; finishing the requests in progress",
	         sig);
	/* first: no new work is deferred or parked from now on, and event
	   streams end; then nothing may stay suspended when the daemon stops */
	atomic_store(&s->stopping, true);
	http_gate_stop(s);
	http_pool_quiesce(s);
	MHD_stop_daemon(d);
	d = NULL;
out:
	http_gate_stop(s); /* before the daemon it hands connections to */
	if (d) {
		atomic_store(&s->stopping, true);
		http_pool_quiesce(s);
		MHD_stop_daemon(d);
	}
	if (pool_up)
		http_pool_stop(s); /* the on_done of the last requests; before the acceptor stops */
	http_acceptor_stop(s);
	http_watch_stop(s); /* a watcher's job pauses after the chunk it commits */
	http_store_sweep_stop(s);
	if (worker_up && !http_workers_stop(s)) {
		/* Each chunk commits in its own transaction: stopping now loses at
		   most the chunks in flight, which the next start resumes (as
		   after kill -9). */
		http_log(s, "warn",
		         "jobs still running after %u s: exiting; they resume on the next start",
		         s->o.grace_s);
		_exit(0);
	}
	sl_candidate_stop(s->cand); /* steps down: another leads at once */
	if (rc == 0)
		http_log(s, "info", "stopped");
	for (size_t i = 0; i < s->nds; i++)
		sl_schema_free(s->ds[i].schema);
	free(s->ds);
	for (size_t i = 0; i < s->nkeys; i++)
		free(s->keys[i].key);
	http_store_free(s);
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
		pthread_cond_destroy(&s->pool_cv);
		pthread_cond_destroy(&s->pool_idle_cv);
		pthread_cond_destroy(&s->tick_cv);
		pthread_mutex_destroy(&s->pool_mu);
		http_limits_free(s);
	}
	free(s);
	return rc;
}
