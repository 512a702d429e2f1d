/*
 * Histograms for /metrics: request durations by route and chunk durations,
 * in the Prometheus text format (cumulative `_bucket{le=...}`, `_sum`,
 * `_count`). Each observation adds to one bucket and the sum with relaxed
 * atomics; a scrape adds the buckets up. No lock: a scrape racing an
 * observation may see the bucket before the sum, which Prometheus
 * tolerates (the next scrape is exact).
 *
 * Also the counters of answered requests by route (labels from the route
 * table) and status, and the /metrics route itself.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "http/http_reply.h"

static const unsigned statuses[HTTP_NSTATUS] = {200, 201, 202, 204, 400, 401, 403, 404,
                                                405, 409, 412, 413, 414, 415, 423, 429,
                                                431, 460, 500, 503, 507, 0,   1};

static unsigned status_index(unsigned st)
{
	for (unsigned i = 0; i < HTTP_NSTATUS - 1; i++)
		if (statuses[i] == st)
			return i;
	return HTTP_NSTATUS - 1;
}

/* the `method` label: the methods of the route table, then "other" */
static const char *const method_names[HTTP_NMETHODS] = {"GET",     "POST", "PATCH", "DELETE",
                                                        "OPTIONS", "HEAD", "other"};

void http_metrics_count(http_srv *s, int route, const char *method, unsigned status)
{
	unsigned bit = http_method_bit(method), m = 0;
	while (m < HTTP_NMETHODS - 1 && bit != (1u << m))
		m++;
	if (route >= 0 && route < RT_COUNT)
		atomic_fetch_add(&s->requests[route][m][status_index(status)], 1);
}

/* process_* as the Prometheus client libraries write them (from /proc),
   and sluice_build_info. */
static void process_metrics(FILE *f)
{
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	unsigned long long ut = 0, st = 0, rss = 0, vsz = 0, start = 0;
	FILE *p = fopen("/proc/self/stat", "r");
	if (p) {
		char buf[1024];
		size_t n = fread(buf, 1, sizeof buf - 1, p);
		buf[n] = 0;
		fclose(p);
		/* after the command name in parentheses (which may hold spaces) */
		const char *q = strrchr(buf, ')');
		if (q &&
		    sscanf(
		        q + 2,
		        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
		        "%*d %llu %llu %llu",
		        &ut, &st, &start, &vsz, &rss) != 5)
			ut = st = rss = vsz = 0;
	}
	unsigned nfd = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		for (struct dirent *e; (e = readdir(d));)
			nfd += e->d_name[0] != '.';
		closedir(d);
		nfd--; /* the directory's own descriptor */
	}
	struct rlimit rl = {0, 0};
	getrlimit(RLIMIT_NOFILE, &rl);
	double boot = 0;
	p = fopen("/proc/stat", "r");
	if (p) {
		char line[256];
		while (fgets(line, sizeof line, p))
			if (sscanf(line, "btime %lf", &boot) == 1)
				break;
		fclose(p);
	}
	fprintf(
	    f,
	    "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
	    "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.2f\n"
	    "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
	    "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %llu\n"
	    "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
	    "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %llu\n"
	    "# HELP process_open_fds Number of open file descriptors.\n"
	    "# TYPE process_open_fds gauge\nprocess_open_fds %u\n"
	    "# HELP process_max_fds Maximum number of open file descriptors.\n"
	    "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n"
	    "# HELP process_start_time_seconds Start time of the process since unix epoch in "
	    "seconds.\n"
	    "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.2f\n"
	    "# HELP sluice_build_info The running build (always 1).\n"
	    "# TYPE sluice_build_info gauge\n"
	    "sluice_build_info{version=\"%s\",libmicrohttpd=\"%s\"} 1\n",
	    tck > 0 ? (double)(ut + st) / (double)tck : 0.0, rss * (unsigned long long)page, vsz,
	    nfd, (unsigned long long)rl.rlim_cur,
	    tck > 0 ? boot + (double)start / (double)tck : 0.0, SLUICE_VERSION, MHD_get_version());
}

static const double req_le[HTTP_REQ_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                0.1,   0.25,   0.5,   1,    2.5};
static const double chunk_le[HTTP_CHUNK_BUCKETS] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};

static size_t bucket(const double *le, size_t n, double v)
{
	size_t i = 0;
	while (i < n && v > le[i])
		i++;
	return i; /* n: +Inf */
}

void http_metrics_observe(http_srv *s, int route, double seconds)
{
	if (route < 0 || route >= RT_COUNT)
		return;
	atomic_fetch_add(&s->req_hist[route][bucket(req_le, HTTP_REQ_BUCKETS, seconds)], 1);
	atomic_fetch_add(&s->req_sum_us[route], (uint_fast64_t)(seconds * 1e6));
}

void http_metrics_chunk(http_srv *s, const sl_chunk *c)
{
	if ((unsigned)c->status < SL_CHUNK_NSTATUS)
		atomic_fetch_add(&s->chunks_done[c->status], 1);
	double sec = c->duration_ms > 0 ? (double)c->duration_ms / 1000 : 0;
	atomic_fetch_add(&s->chunk_hist[bucket(chunk_le, HTTP_CHUNK_BUCKETS, sec)], 1);
	atomic_fetch_add(&s->chunk_sum_ms,
	                 (uint_fast64_t)(c->duration_ms > 0 ? c->duration_ms : 0));
}

static void histogram(FILE *f, const char *name, const char *labels, const double *le, size_t n,
                      atomic_uint_fast64_t *counts, double sum)
{
	uint64_t cum = 0;
	for (size_t i = 0; i <= n; i++) {
		cum += atomic_load(&counts[i]);
		if (i < n)
			fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
			        labels[0] ? "," : "", le[i], (unsigned long long)cum);
		else
			fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
			        labels[0] ? "," : "", (unsigned long long)cum);
	}
	const char *open = labels[0] ? "{" : "", *close = labels[0] ? "}" : "";
	fprintf(f, "%s_sum%s%s%s %.6f\n%s_count%s%s%s %llu\n", name, open, labels, close, sum, name,
	        open, labels, close, (unsigned long long)cum);
}

void http_metrics_histograms(http_srv *s, FILE *f)
{
	fputs("# HELP sluice_http_request_duration_seconds Time from a request's headers to its "
	      "end, by route.\n"
	      "# TYPE sluice_http_request_duration_seconds histogram\n",
	      f);
	for (int r = 0; r < RT_COUNT; r++) {
		uint64_t any = 0;
		for (int i = 0; i <= HTTP_REQ_BUCKETS; i++)
			any += atomic_load(&s->req_hist[r][i]);
		if (!any)
			continue;
		char labels[128];
		snprintf(labels, sizeof labels, "route=\"%s\"", http_routes[r].name);
		histogram(f, "sluice_http_request_duration_seconds", labels, req_le,
		          HTTP_REQ_BUCKETS, s->req_hist[r],
		          (double)atomic_load(&s->req_sum_us[r]) / 1e6);
	}
	fputs("# HELP sluice_chunk_duration_seconds Time to parse, validate and commit a chunk.\n"
	      "# TYPE sluice_chunk_duration_seconds histogram\n",
	      f);
	histogram(f, "sluice_chunk_duration_seconds", "", chunk_le, HTTP_CHUNK_BUCKETS,
	          s->chunk_hist, (double)atomic_load(&s->chunk_sum_ms) / 1e3);
	fputs("# HELP sluice_chunks_total Chunks this process finished, by status.\n"
	      "# TYPE sluice_chunks_total counter\n",
	      f);
	for (int i = SL_CHUNK_SUCCEEDED; i < SL_CHUNK_NSTATUS; i++)
		fprintf(f, "sluice_chunks_total{status=\"%s\"} %llu\n",
		        sl_chunk_status_name((sl_chunk_status)i),
		        (unsigned long long)atomic_load(&s->chunks_done[i]));
	fputs("# HELP sluice_rows_rejected_by_code_total Rows rejected by the jobs this process "
	      "ran, by error code.\n"
	      "# TYPE sluice_rows_rejected_by_code_total counter\n",
	      f);
	for (int k = 0; k < SL_ERROR_COUNT; k++) {
		uint64_t v = atomic_load(&s->rejected_by_code[k]);
		if (v)
			fprintf(f, "sluice_rows_rejected_by_code_total{code=\"%s\"} %llu\n",
			        sl_error_name(sl_error_at(k)), (unsigned long long)v);
	}
	fprintf(
	    f,
	    "# HELP sluice_bytes_ingested_total Bytes of input in chunks this process committed.\n"
	    "# TYPE sluice_bytes_ingested_total counter\nsluice_bytes_ingested_total %llu\n",
	    (unsigned long long)atomic_load(&s->bytes_ingested));
}

/* The chunk leases of this process's runs and its leader candidate
   (sluice/ingest.h sl_lease_stats, sl_leader_stats; docs/scaling.md). */
static void leases(http_srv *s, FILE *f)
{
	sl_lease_stats ls;
	sl_leader_stats ld;
	sl_lease_stats_get(&ls);
	sl_candidate_stats(s->cand, &ld);
	fprintf(f,
	        "# HELP sluice_leases_held Chunk leases this process holds now.\n"
	        "# TYPE sluice_leases_held gauge\nsluice_leases_held %llu\n"
	        "# HELP sluice_lease_renewals_total Chunk lease renewals by this process's "
	        "heartbeats.\n"
	        "# TYPE sluice_lease_renewals_total counter\nsluice_lease_renewals_total %llu\n"
	        "# HELP sluice_lease_renewals_lost_total Renewals refused: the chunk had been "
	        "taken over.\n"
	        "# TYPE sluice_lease_renewals_lost_total counter\n"
	        "sluice_lease_renewals_lost_total %llu\n"
	        "# HELP sluice_claim_duration_seconds Time of a claim that got a chunk, its "
	        "transaction from begin to commit.\n"
	        "# TYPE sluice_claim_duration_seconds histogram\n",
	        (unsigned long long)ls.held, (unsigned long long)ls.renewals,
	        (unsigned long long)ls.renewals_lost);
	uint64_t cum = 0;
	for (size_t i = 0; i <= SL_CLAIM_BUCKETS; i++) {
		cum += ls.claim_count[i];
		if (i < SL_CLAIM_BUCKETS)
			fprintf(f, "sluice_claim_duration_seconds_bucket{le=\"%g\"} %llu\n",
			        ls.claim_le[i], (unsigned long long)cum);
		else
			fprintf(f, "sluice_claim_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
			        (unsigned long long)cum);
	}
	fprintf(f,
	        "sluice_claim_duration_seconds_sum %.6f\nsluice_claim_duration_seconds_count "
	        "%llu\n"
	        "# HELP sluice_leader 1 when this process leads the job store.\n"
	        "# TYPE sluice_leader gauge\nsluice_leader %d\n"
	        "# HELP sluice_leader_term The term this process leads in (0: it does not "
	        "lead).\n"
	        "# TYPE sluice_leader_term gauge\nsluice_leader_term %lld\n"
	        "# HELP sluice_leader_takeovers_total Terms this process began (it took the "
	        "lead).\n"
	        "# TYPE sluice_leader_takeovers_total counter\nsluice_leader_takeovers_total "
	        "%llu\n"
	        "# HELP sluice_leader_renewals_total Leader beats whose fence passed (renewing "
	        "the lead).\n"
	        "# TYPE sluice_leader_renewals_total counter\nsluice_leader_renewals_total %llu\n"
	        "# HELP sluice_leader_refused_total Leader-only transactions refused: the term "
	        "had moved on.\n"
	        "# TYPE sluice_leader_refused_total counter\nsluice_leader_refused_total %llu\n"
	        "# HELP sluice_chunks_requeued_total Chunks whose lease ran out that this "
	        "process, leading, queued again.\n"
	        "# TYPE sluice_chunks_requeued_total counter\nsluice_chunks_requeued_total "
	        "%llu\n",
	        ls.claim_sum_s, (unsigned long long)cum, ld.leading ? 1 : 0, (long long)ld.term,
	        (unsigned long long)ld.takeovers, (unsigned long long)ld.renewals,
	        (unsigned long long)ld.refused, (unsigned long long)ld.reaped);
}

static int count_status(void *ctx, const sl_job *j)
{
	uint64_t *by = ctx;
	if ((unsigned)j->status < SL_JOB_NSTATUS)
		by[j->status]++;
	return 0;
}

enum MHD_Result http_metrics(struct MHD_Connection *c, http_req *r)
{
	http_srv *s = r->s;
	http_body b;
	if (!http_body_open(&b))
		return http_send_error(c, r, 500, "NOMEM", "out of memory");
	FILE *f = b.f;
	fputs("# HELP sluice_http_requests_total HTTP requests answered, by method, route and "
	      "status.\n"
	      "# TYPE sluice_http_requests_total counter\n",
	      f);
	for (int i = 0; i < RT_COUNT; i++)
		for (int m = 0; m < HTTP_NMETHODS; m++)
			for (int k = 0; k < HTTP_NSTATUS; k++) {
				uint64_t v = atomic_load(&s->requests[i][m][k]);
				if (!v)
					continue;
				char st[8];
				if (k == HTTP_NSTATUS - 1)
					snprintf(st, sizeof st, "other");
				else
					snprintf(st, sizeof st, "%u", statuses[k]);
				fprintf(f,
				        "sluice_http_requests_total{method=\"%s\",route=\"%s\","
				        "status=\"%s\"} "
				        "%llu\n",
				        method_names[m], http_routes[i].name, st,
				        (unsigned long long)v);
			}
	process_metrics(f);
	fprintf(
	    f,
	    "# HELP sluice_rows_loaded_total Rows loaded by the jobs this process ran.\n"
	    "# TYPE sluice_rows_loaded_total counter\nsluice_rows_loaded_total %llu\n"
	    "# HELP sluice_rows_rejected_total Rows rejected by the jobs this process ran.\n"
	    "# TYPE sluice_rows_rejected_total counter\nsluice_rows_rejected_total %llu\n"
	    "# HELP sluice_upload_bytes_total Upload body bytes received.\n"
	    "# TYPE sluice_upload_bytes_total counter\nsluice_upload_bytes_total %llu\n"
	    "# HELP sluice_uploads_total Uploads received in full.\n"
	    "# TYPE sluice_uploads_total counter\nsluice_uploads_total %llu\n"
	    "# HELP sluice_http_slow_bodies_dropped_total Bodies dropped for coming slower than "
	    "--min-rate.\n"
	    "# TYPE sluice_http_slow_bodies_dropped_total counter\n"
	    "sluice_http_slow_bodies_dropped_total %llu\n"
	    "# HELP sluice_http_client_limit_refused_total Requests refused by a per-client "
	    "limit.\n"
	    "# TYPE sluice_http_client_limit_refused_total counter\n"
	    "sluice_http_client_limit_refused_total %llu\n"
	    "# HELP sluice_uploads_in_flight Upload bodies being received now.\n"
	    "# TYPE sluice_uploads_in_flight gauge\nsluice_uploads_in_flight %d\n",
	    (unsigned long long)atomic_load(&s->rows_loaded),
	    (unsigned long long)atomic_load(&s->rows_rejected),
	    (unsigned long long)atomic_load(&s->upload_bytes),
	    (unsigned long long)atomic_load(&s->uploads_done),
	    (unsigned long long)atomic_load(&s->slow_dropped),
	    (unsigned long long)atomic_load(&s->client_refused),
	    atomic_load(&s->uploads_in_flight));
	pthread_mutex_lock(&s->mu);
	size_t queued = s->qlen;
	unsigned running = s->busy;
	pthread_mutex_unlock(&s->mu);
	fprintf(f,
	        "# HELP sluice_ingest_queue_length Jobs waiting for a runner.\n"
	        "# TYPE sluice_ingest_queue_length gauge\nsluice_ingest_queue_length %zu\n"
	        "# HELP sluice_jobs_running Jobs running in this process now.\n"
	        "# TYPE sluice_jobs_running gauge\nsluice_jobs_running %u\n",
	        queued, running);
	http_metrics_histograms(s, f);
	leases(s, f);
	uint64_t cby[SL_CHUNK_NSTATUS];
	char cmsg[512];
	if (sl_chunk_counts(s->o.db, cby, cmsg, sizeof cmsg) >= 0) {
		fputs("# HELP sluice_chunks Chunks in the store, by status.\n# TYPE sluice_chunks "
		      "gauge\n",
		      f);
		for (int i = 0; i < SL_CHUNK_NSTATUS; i++)
			fprintf(f, "sluice_chunks{status=\"%s\"} %llu\n",
			        sl_chunk_status_name((sl_chunk_status)i),
			        (unsigned long long)cby[i]);
	}
	uint64_t by[SL_JOB_NSTATUS] = {0};
	char msg[512];
	if (sl_jobs_list(s->o.db, -1, count_status, by, msg, sizeof msg) >= 0) {
		fputs(
		    "# HELP sluice_jobs Jobs in the store, by status.\n# TYPE sluice_jobs gauge\n",
		    f);
		for (int i = 0; i < SL_JOB_NSTATUS; i++)
			fprintf(f, "sluice_jobs{status=\"%s\"} %llu\n",
			        sl_job_status_name((sl_job_status)i), (unsigned long long)by[i]);
	}
	return http_body_send(c, r, 200, &b, "text/plain; version=0.0.4; charset=utf-8", NULL);
}
