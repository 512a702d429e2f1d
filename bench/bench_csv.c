/*
 * CSV engine benchmark: quote-aware record counting and full tokenizing
 * (every field located, values unescaped), per scanner, on one core and on
 * all cores. The file is read into memory first so the numbers are the
 * engine's, not the disk's; bench/run.sh puts `wc -l` and `cat` beside them.
 *
 * usage: bench_csv FILE [--threads N] [--repeat R]
 * prints one line per measurement: mode scanner threads seconds GB/s records
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "sluice/csv.h"

typedef struct job {
	const char *buf;
	const sl_csv_plan *plan;
	sl_csv_dialect d;
	sl_csv_scanner s;
	int tokenize;
	size_t first, step; /* chunks first, first+step, ... */
	uint64_t records, bytes_seen;
} job;

static void *run(void *arg)
{
	job *j = arg;
	sl_csv_parser *p;
	if (sl_csv_parser_new(&j->d, j->s, &p) < 0)
		abort();
	for (size_t i = j->first; i < j->plan->nchunks; i += j->step) {
		const sl_csv_chunk *c = &j->plan->chunks[i];
		if (i > 0)
			sl_csv_parser_start_at(p, &c->start, j->plan->expected_fields);
		sl_csv_feed(p, j->buf + c->offset, (size_t)c->length, true);
		uint64_t before = sl_csv_counts_get(p)->records;
		if (j->tokenize) {
			sl_csv_record rec;
			while (sl_csv_next(p, &rec) == 1)
				for (size_t f = 0; f < rec.nfields; f++)
					j->bytes_seen += rec.fields[f].n;
		} else {
			if (i == 0) { /* the header goes through next */
				sl_csv_record rec;
				sl_csv_next(p, &rec);
			}
			sl_csv_skip(p, UINT64_MAX);
		}
		j->records += sl_csv_counts_get(p)->records - (i > 0 ? c->start.records : before);
		sl_csv_parser_free(p);
		if (sl_csv_parser_new(&j->d, j->s, &p) < 0)
			abort();
	}
	sl_csv_parser_free(p);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_csv FILE [--threads N] [--repeat R]\n");
		return 2;
	}
	int threads = (int)sysconf(_SC_NPROCESSORS_ONLN), repeat = 3;
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--threads"))
			threads = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--repeat"))
			repeat = atoi(argv[i + 1]);
	}
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argv[1]);
		return 1;
	}
	size_t n = (size_t)st.st_size;
	char *buf = malloc(n ? n : 1);
	for (size_t off = 0; off < n;) {
		ssize_t k = pread(fd, buf + off, n - off, (off_t)off);
		if (k <= 0)
			abort();
		off += (size_t)k;
	}
	sl_csv_dialect d;
	sl_csv_dialect_init(&d);
	/* one chunk for one thread; 64 MiB chunks for several */
	sl_csv_plan one, many;
	if (sl_csv_split(fd, &d, SL_CSV_SCAN_AUTO, UINT64_MAX / 2, &one) < 0 ||
	    sl_csv_split(fd, &d, SL_CSV_SCAN_AUTO, 16u << 20, &many) < 0)
		abort();

	static const sl_csv_scanner scanners[] = {SL_CSV_SCAN_AVX2, SL_CSV_SCAN_SSE2,
						  SL_CSV_SCAN_GENERIC, SL_CSV_SCAN_SCALAR};
	printf("%-9s %-8s %7s %9s %8s %10s\n", "mode", "scanner", "threads", "seconds", "GB/s", "records");
	for (int tok = 0; tok < 2; tok++) {
		for (size_t s = 0; s < sizeof scanners / sizeof scanners[0]; s++) {
			if (sl_csv_scanner_resolve(scanners[s]) != scanners[s])
				continue;
			for (int t = 1; t <= threads; t += (threads > 1 ? threads - 1 : 1)) {
				double best = 1e9;
				uint64_t recs = 0;
				for (int r = 0; r < repeat; r++) {
					job jobs[64];
					pthread_t tid[64];
					double t0 = sl_now();
					for (int k = 0; k < t; k++) {
						jobs[k] = (job){buf, t == 1 ? &one : &many, d, scanners[s], tok,
								(size_t)k, (size_t)t, 0, 0};
						pthread_create(&tid[k], NULL, run, &jobs[k]);
					}
					recs = 0;
					for (int k = 0; k < t; k++) {
						pthread_join(tid[k], NULL);
						recs += jobs[k].records;
					}
					double dt = sl_now() - t0;
					if (dt < best)
						best = dt;
				}
				printf("%-9s %-8s %7d %9.3f %8.2f %10llu\n", tok ? "tokenize" : "count",
				       sl_csv_scanner_name(scanners[s]), t, best, (double)n / best / 1e9,
				       (unsigned long long)recs);
				fflush(stdout);
			}
		}
	}
	sl_csv_plan_free(&one);
	sl_csv_plan_free(&many);
	free(buf);
	close(fd);
	return 0;
}
