/*
 * `sluice serve`: run the HTTP service (docs/serve.md). Parses the options
 * into sl_serve_opts; everything else is in the library (src/http/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"
#include "sluice/serve.h"

static const char help[] =
	"usage: sluice serve --schemas DIR --data-dir DIR [--db PATH] [--listen HOST:PORT]\n"
	"                    [--config FILE] [--jobs N] [--slice SECONDS] [--threads N]\n"
	"                    [--chunk-size SIZE] [--min-free SIZE] [--max-upload SIZE]\n"
	"                    [--max-uploads N] [--max-connections N] [--timeout SECONDS]\n"
	"                    [--grace SECONDS] [--url-ttl SECONDS] [--http-threads N]\n"
	"                    [--pool-threads N] [--min-rate SIZE] [--rate-window SECONDS]\n"
	"                    [--max-conn-per-client N] [--max-uploads-per-client N]\n"
	"                    [--trusted-proxy IPV4] [--max-tus-pending N]\n"
	"                    [--max-tus-pending-per-key N] [--max-tus-pending-bytes SIZE]\n"
	"                    [--max-tus-pending-bytes-per-key SIZE] [--public-url URL]\n"
	"                    [--cors-origin ORIGIN,...] [--watch DATASET=DIR[;settle=S]]\n"
	"                    [--upload-store s3://BUCKET/PREFIX] [--s3-endpoint URL]\n"
	"                    [--upload-part-size SIZE]\n"
	"                    [--max-attempts N] [--retry-backoff S] [--retention DURATION]\n"
	"\n"
	"Run the HTTP API, the dashboard (GET /) and the ingest runners in one process:\n"
	"every *.yaml in --schemas is a dataset; uploads are kept in --data-dir and\n"
	"loaded into --db (default ./sluice.db), --jobs at a time (default 2), each\n"
	"job yielding to waiting ones every --slice seconds (default 10). --listen\n"
	"defaults to 127.0.0.1:8080. API keys come from SLUICE_API_KEYS (KEY:SCOPE+SCOPE,...\n"
	"with scopes read, write, admin) or the config file; without keys there is no\n"
	"authentication. --config FILE: a YAML file with the same settings (names\n"
	"without the dashes, e.g. `data-dir: /var/lib/sluice`, `api-keys: ...`);\n"
	"options on the command line win. Logs are JSON lines on stderr. SIGTERM or\n"
	"SIGINT stops it. Defaults: --min-free 1G (for /healthz/ready), --max-upload\n"
	"64G, --max-uploads 8, --max-connections 4096, --timeout 60, --grace 30,\n"
	"--url-ttl 3600 (signed upload URLs, whose host is --public-url, e.g.\n"
	"https://sluice.example.com; without it their url is a path). Limits (docs/serve.md): --http-threads 2\n"
	"event-loop threads, --pool-threads 4 for blocking work; a body slower than\n"
	"--min-rate 64K bytes/s over --rate-window 10 s is dropped; per client address\n"
	"--max-conn-per-client 1000 connections and --max-uploads-per-client 1000\n"
	"uploads; behind --trusted-proxy the address is the last of X-Forwarded-For.\n"
	"Unfinished tus uploads: --max-tus-pending 1000 (--max-tus-pending-per-key 100)\n"
	"declaring --max-tus-pending-bytes 1T (--max-tus-pending-bytes-per-key 256G).\n"
	"--cors-origin: origins (or *) whose pages may call the upload, tus and\n"
	"signed-URL routes from a browser (CORS); none by default.\n"
	"--watch DATASET=DIR: load each file dropped into DIR into DATASET, as\n"
	"'sluice watch' does (settle=S: its settle time in seconds, or off); in the\n"
	"config file a mapping, one folder per dataset: `watch: {cdr: /srv/in/cdr}`;\n"
	"DIR may be s3://BUCKET/PREFIX/ (polled; interval=S between listings).\n"
	"--upload-store s3://BUCKET/PREFIX: keep uploads in the bucket instead of\n"
	"--data-dir (streamed as multipart uploads of --upload-part-size, default 8M),\n"
	"so workers on other machines read them; upload-urls then presigns S3 PUTs.\n"
	"Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION; the\n"
	"endpoint --s3-endpoint or AWS_ENDPOINT_URL.\n"
	"The service is a candidate for the database's leader (docs/scaling.md): while\n"
	"it leads it queues again chunks whose lease ran out (a chunk gets --max-attempts\n"
	"5; from its second requeue on it waits --retry-backoff 1 s, then 2 s, 4 s ...,\n"
	"with jitter) and deletes the rejects and events of jobs finished more than\n"
	"--retention ago (default 30d; 0: never).\n";

/* One setting, from the command line or the config file. */
static int set_opt(sl_serve_opts *o, const char *name, const char *v)
{
	static const char *const sizes[] = {"min-free", "max-upload", "chunk-size", "min-rate",
					    "max-tus-pending-bytes", "max-tus-pending-bytes-per-key",
					    "upload-part-size"};
	static const char *const nums[] = {"max-uploads", "max-connections", "timeout", "grace",
					   "threads", "jobs", "slice", "url-ttl", "http-threads",
					   "pool-threads", "rate-window", "max-conn-per-client",
					   "max-uploads-per-client", "max-tus-pending", "max-tus-pending-per-key"};
	uint64_t n = 0;
	int lr = cli_leader_opt("serve", name, v, &o->leader);
	if (lr)
		return lr == 1 ? 0 : lr;
	if (!strcmp(name, "db"))
		o->db = v;
	else if (!strcmp(name, "schemas"))
		o->schemas_dir = v;
	else if (!strcmp(name, "data-dir"))
		o->data_dir = v;
	else if (!strcmp(name, "listen"))
		o->listen = v;
	else if (!strcmp(name, "api-keys"))
		o->api_keys = v;
	else if (!strcmp(name, "secret"))
		o->secret = v;
	else if (!strcmp(name, "trusted-proxy"))
		o->trusted_proxy = v;
	else if (!strcmp(name, "public-url"))
		o->public_url = v;
	else if (!strcmp(name, "cors-origin"))
		o->cors_origin = v;
	else if (!strcmp(name, "watch"))
		o->watch = v;
	else if (!strcmp(name, "upload-store"))
		o->upload_store = v;
	else if (!strcmp(name, "s3-endpoint"))
		o->s3_endpoint = v;
	else {
		for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
			if (strcmp(name, sizes[i]))
				continue;
			if (cli_parse_size(v, &n) < 0 || !n)
				return cli_usage_error("serve", "%s: '%s' is not a size like 64M or 1G", name, v);
			uint64_t *dst[] = {&o->min_free, &o->max_upload, &o->chunk_size, &o->min_rate,
					   &o->max_tus_pending_bytes, &o->max_tus_pending_bytes_per_key,
					   &o->upload_part_size};
			*dst[i] = n;
			return 0;
		}
		for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
			if (strcmp(name, nums[i]))
				continue;
			if (cli_parse_u64(v, &n) < 0 || !n || n > 100000)
				return cli_usage_error("serve", "%s: '%s' is not a number from 1 to 100000", name, v);
			unsigned *dst[] = {&o->max_uploads, &o->max_connections, &o->timeout_s, &o->grace_s,
					   NULL, &o->jobs, &o->slice_s, &o->url_ttl_s, &o->http_threads,
					   &o->pool_threads, &o->rate_window_s, &o->max_conn_per_client,
					   &o->max_uploads_per_client, &o->max_tus_pending, &o->max_tus_pending_per_key};
			if (dst[i])
				*dst[i] = (unsigned)n;
			else
				o->threads = (int)n;
			return 0;
		}
		return cli_usage_error("serve", "unknown setting '%s'", name);
	}
	return 0;
}

static int config_cb(void *ctx, const char *name, const char *value)
{
	return set_opt(ctx, name, value) ? -1 : 0;
}

int cmd_serve(int argc, char **argv)
{
	sl_serve_opts o = {0}, cli = {0};
	const char *config = NULL;
	char *cfg_store = NULL;
	int rc = EXIT_OK;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			fputs(help, stdout);
			return EXIT_OK;
		}
		if (strncmp(s, "--", 2) || i + 1 >= argc)
			return cli_usage_error("serve", s[0] == '-' ? "%s needs a value" : "unexpected argument '%s'", s);
		if (!strcmp(s, "--config")) {
			config = argv[++i];
			continue;
		}
		if ((rc = set_opt(&cli, s + 2, argv[++i])) != 0)
			return rc;
	}
	if (config) {
		char msg[512];
		if (sl_serve_config_read(config, config_cb, &o, &cfg_store, msg, sizeof msg) < 0) {
			fprintf(stderr, "sluice serve: --config %s: %s\n", config, msg);
			return EXIT_USAGE;
		}
	}
	/* the command line wins over the file */
	const char **strs[] = {&o.db, &o.schemas_dir, &o.data_dir, &o.listen, &o.api_keys, &o.secret,
			       &o.trusted_proxy, &o.public_url, &o.cors_origin, &o.watch, &o.upload_store,
			       &o.s3_endpoint};
	const char *const cstrs[] = {cli.db, cli.schemas_dir, cli.data_dir, cli.listen, cli.api_keys, cli.secret,
				     cli.trusted_proxy, cli.public_url, cli.cors_origin, cli.watch, cli.upload_store,
				     cli.s3_endpoint};
	for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
		if (cstrs[i])
			*strs[i] = cstrs[i];
	uint64_t *u64s[] = {&o.min_free, &o.max_upload, &o.chunk_size, &o.min_rate, &o.max_tus_pending_bytes,
			    &o.max_tus_pending_bytes_per_key, &o.upload_part_size};
	const uint64_t cu64s[] = {cli.min_free, cli.max_upload, cli.chunk_size, cli.min_rate,
				  cli.max_tus_pending_bytes, cli.max_tus_pending_bytes_per_key, cli.upload_part_size};
	for (size_t i = 0; i < sizeof u64s / sizeof *u64s; i++)
		if (cu64s[i])
			*u64s[i] = cu64s[i];
	unsigned *us[] = {&o.max_uploads, &o.max_connections, &o.timeout_s, &o.grace_s, &o.jobs, &o.slice_s, &o.url_ttl_s,
			  &o.http_threads, &o.pool_threads, &o.rate_window_s, &o.max_conn_per_client,
			  &o.max_uploads_per_client, &o.max_tus_pending, &o.max_tus_pending_per_key};
	const unsigned cus[] = {cli.max_uploads, cli.max_connections, cli.timeout_s, cli.grace_s, cli.jobs, cli.slice_s, cli.url_ttl_s,
				cli.http_threads, cli.pool_threads, cli.rate_window_s, cli.max_conn_per_client,
				cli.max_uploads_per_client, cli.max_tus_pending, cli.max_tus_pending_per_key};
	for (size_t i = 0; i < sizeof us / sizeof *us; i++)
		if (cus[i])
			*us[i] = cus[i];
	if (cli.threads)
		o.threads = cli.threads;
	if (cli.leader.max_attempts)
		o.leader.max_attempts = cli.leader.max_attempts;
	if (cli.leader.backoff_ms)
		o.leader.backoff_ms = cli.leader.backoff_ms;
	if (cli.leader.retention_ms)
		o.leader.retention_ms = cli.leader.retention_ms;
	cli_leader_defaults(&o.leader);
	if (!o.schemas_dir || !o.data_dir) {
		rc = cli_usage_error("serve", "--schemas and --data-dir are required (or schemas:, data-dir: in --config)");
		goto out;
	}
	int r = sl_serve(&o);
	if (r < 0)
		fprintf(stderr, "sluice serve: %s (%s)\n", sl_error_message(r), sl__error_report(r));
	rc = r == 0 ? EXIT_OK : r == SL_USAGE || r == SL_CONFIG ? EXIT_USAGE : EXIT_FAILED;
out:
	free(cfg_store);
	return rc;
}
