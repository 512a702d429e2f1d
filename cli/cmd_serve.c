/*
 * `sluice serve`: run the HTTP service (docs/serve.md). Parses the options
 * into sl_serve_opts; everything else is in the library (src/http/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sluice/serve.h"

static const char help[] =
	"usage: sluice serve --schemas DIR --data-dir DIR [--db PATH] [--listen HOST:PORT]\n"
	"                    [--min-free SIZE] [--max-upload SIZE] [--max-uploads N]\n"
	"                    [--max-connections N] [--timeout SECONDS] [--grace SECONDS]\n"
	"                    [--threads N] [--chunk-size SIZE]\n"
	"\n"
	"Run the HTTP API: every *.yaml in --schemas is a dataset; uploads are kept in\n"
	"--data-dir/uploads and loaded into --db (default ./sluice.db) one job at a\n"
	"time. --listen defaults to 127.0.0.1:8080. API keys come from SLUICE_API_KEYS\n"
	"(KEY:SCOPE+SCOPE,... with scopes read, write, admin); without it there is no\n"
	"authentication. Logs are JSON lines on stderr. SIGTERM or SIGINT stops it.\n"
	"Defaults: --min-free 1G (for /healthz/ready), --max-upload 64G, --max-uploads 8,\n"
	"--max-connections 256, --timeout 60, --grace 30.\n";

int cmd_serve(int argc, char **argv)
{
	sl_serve_opts o = {0};
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			fputs(help, stdout);
			return EXIT_OK;
		}
		if (s[0] != '-' || i + 1 >= argc)
			return cli_usage_error("serve", s[0] == '-' ? "%s needs a value" : "unexpected argument '%s'", s);
		const char *v = argv[++i];
		uint64_t n = 0;
		if (!strcmp(s, "--db")) {
			o.db = v;
		} else if (!strcmp(s, "--schemas")) {
			o.schemas_dir = v;
		} else if (!strcmp(s, "--data-dir")) {
			o.data_dir = v;
		} else if (!strcmp(s, "--listen")) {
			o.listen = v;
		} else if (!strcmp(s, "--min-free") || !strcmp(s, "--max-upload") || !strcmp(s, "--chunk-size")) {
			if (cli_parse_size(v, &n) < 0 || !n)
				return cli_usage_error("serve", "%s: '%s' is not a size like 64M or 1G", s, v);
			if (!strcmp(s, "--min-free"))
				o.min_free = n;
			else if (!strcmp(s, "--max-upload"))
				o.max_upload = n;
			else
				o.chunk_size = n;
		} else if (!strcmp(s, "--max-uploads") || !strcmp(s, "--max-connections") ||
			   !strcmp(s, "--timeout") || !strcmp(s, "--grace") || !strcmp(s, "--threads")) {
			if (cli_parse_u64(v, &n) < 0 || !n || n > 100000)
				return cli_usage_error("serve", "%s: '%s' is not a number from 1 to 100000", s, v);
			if (!strcmp(s, "--max-uploads"))
				o.max_uploads = (unsigned)n;
			else if (!strcmp(s, "--max-connections"))
				o.max_connections = (unsigned)n;
			else if (!strcmp(s, "--timeout"))
				o.timeout_s = (unsigned)n;
			else if (!strcmp(s, "--grace"))
				o.grace_s = (unsigned)n;
			else
				o.threads = (int)n;
		} else {
			return cli_usage_error("serve", "unknown option '%s'", s);
		}
	}
	if (!o.schemas_dir || !o.data_dir)
		return cli_usage_error("serve", "--schemas and --data-dir are required");
	int rc = sl_serve(&o);
	return rc == 0 ? EXIT_OK : rc == SL_USAGE || rc == SL_CONFIG ? EXIT_USAGE : EXIT_FAILED;
}
