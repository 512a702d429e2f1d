/*
 * Decoder benchmark: a compressed file read through the source stack
 * (src/source/, the same reader the ingest's planning pass uses), asking
 * for an access point every 16 MiB a little behind the reader, as the
 * split does at chunk starts; then one ranged read of 16 MiB from the last
 * point. The gzip decoder is the build's default (ISA-L when found) or
 * SLUICE_GZIP_DECODER=zlib; bench/compressed.sh runs it with both beside
 * `gzip -dc`. Only the decoding is timed, not the disk: the file is in the
 * page cache after the first run.
 *
 * usage: bench_gzip FILE [--repeat R]
 * prints: decoder seconds MB/s(decompressed) bytes points range_seconds
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "source/source.h"

#define READ  (1u << 20)
#define EVERY (16u << 20)

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_gzip: %s: %s\n", what, msg);
	exit(1);
}

/* One read of up to READ bytes: its length, 0 at the end; dies on error. */
static size_t pull(sl_source_reader *r, char *buf, const char *what)
{
	ssize_t n = sl_source_read(r, buf, READ);
	if (n < 0)
		die(what, r->msg);
	return (size_t)n;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_gzip FILE [--repeat R]\n");
		return 2;
	}
	int repeat = argc > 3 && !strcmp(argv[2], "--repeat") ? atoi(argv[3]) : 1;
	char msg[400];
	sl_source_opts o = {.compression = SL_COMPRESSION_AUTO};
	sl_compression det;
	sl_source *s = NULL;
	if (sl_source_open_uri(argv[1], &o, &s, &det, msg, sizeof msg) < 0)
		die(argv[1], msg);
	char *buf = malloc(READ);
	sl_buf pt;
	sl_buf_init(&pt, 1u << 20);
	double best = 1e30, range_best = 1e30;
	uint64_t total = 0, last_off = 0;
	size_t points = 0;
	for (int rep = 0; rep < (repeat > 0 ? repeat : 1); rep++) {
		sl_source_reader *r = NULL;
		if (sl_source_open_seq(s, &r) < 0)
			die(argv[1], s->msg);
		double t0 = now();
		uint64_t got = 0, next = EVERY;
		points = 0;
		for (size_t n; (n = pull(r, buf, argv[1])) > 0;) {
			got += n;
			while (got >= next + (2u << 20)) {
				sl_buf_reset(&pt);
				if (sl_source_reader_point(r, next, &pt) < 0)
					die(argv[1], "point");
				if (pt.len) {
					points++;
					last_off = next;
				}
				next += EVERY;
			}
		}
		double t = now() - t0;
		if (t < best)
			best = t;
		total = got;
		sl_source_reader_close(r);
	}
	/* a resume's chunk: 16 MiB from the last point kept (asked again) */
	if (points) {
		sl_source_reader *r = NULL;
		if (sl_source_open_seq(s, &r) < 0)
			die(argv[1], s->msg);
		sl_buf_reset(&pt);
		for (uint64_t got = 0; got < last_off + (2u << 20);) {
			size_t n = pull(r, buf, argv[1]);
			if (n == 0)
				die(argv[1], "short");
			got += n;
		}
		if (sl_source_reader_point(r, last_off, &pt) < 0)
			die(argv[1], "point");
		sl_source_reader_close(r);
		double t0 = now();
		uint64_t len = total - last_off < EVERY ? total - last_off : EVERY;
		if (sl_source_open_range(s, last_off, len, pt.p, pt.len, &r) < 0)
			die(argv[1], s->msg);
		while (pull(r, buf, argv[1]) > 0)
			;
		range_best = now() - t0;
		sl_source_reader_close(r);
	}
	printf("%s %.3f %.0f %llu %zu %.3f\n",
	       det == SL_COMPRESSION_GZIP ? sl__source_gzip_decoder() : sl_compression_name(det),
	       best, (double)total / best / 1e6, (unsigned long long)total, points,
	       points ? range_best : 0.0);
	sl_buf_free(&pt);
	free(buf);
	sl_source_close(s);
	return 0;
}
