/*
 * libFuzzer harness for the decoders of src/source/ (gzip and zstd behind
 * source.h). The first byte picks the decoder (auto, gzip, zstd) and the
 * read size; the second how many bytes at the end are an access point
 * blob (as a damaged DB-JOBID.points file would give one); the rest is the
 * compressed stream, put in a memfd and opened by its /proc path, so the
 * whole file source and filter stack runs. Beyond not crashing:
 *
 *   - a sequential read ends cleanly or with SL_IO_CORRUPT whose message
 *     names the compressed and decompressed offsets (SL_NOMEM aside);
 *   - a decoded stream (at most 1 MiB here: a bomb is read that far and
 *     left) read again as a range without a point gives exactly its slice;
 *   - a range from the fuzzed point ends cleanly, or with IO_CORRUPT or
 *     IO_CHANGED, never anything else;
 *   - gzip is decoded by both decoders (ISA-L, the default of a build with
 *     libisal, and zlib, SLUICE_GZIP_DECODER=zlib): the sequential reads
 *     end the same way (the same code, the same bytes when they succeed),
 *     and the range from the fuzzed point runs with each.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "source/source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP (1u << 20)

static int drain(sl_source_reader *r, char *out, size_t cap, size_t step, size_t *got)
{
	*got = 0;
	for (;;) {
		size_t want = cap - *got < step ? cap - *got : step;
		if (!want)
			return 1; /* more than cap */
		ssize_t n = sl_source_read(r, out + *got, want);
		if (n <= 0)
			return (int)n;
		*got += (size_t)n;
	}
}

static bool allowed(int rc, const sl_source_reader *r)
{
	if (rc == SL_IO_CORRUPT)
		return strstr(r->msg, "compressed byte") && strstr(r->msg, "decompressed byte");
	return rc >= 0 || rc == SL_NOMEM || rc == SL_IO_CHANGED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	static const sl_compression kinds[] = {SL_COMPRESSION_AUTO, SL_COMPRESSION_GZIP,
	                                       SL_COMPRESSION_ZSTD};
	sl_source_opts o = {.compression = kinds[data[0] % 3]};
	size_t step = 1 + (size_t)(data[0] / 3) * 613;
	size_t plen = (size_t)data[1] * 2 > size - 2 ? size - 2 : (size_t)data[1] * 2;
	const uint8_t *stream = data + 2, *point = data + size - plen;
	size_t slen = size - 2 - plen;
	int fd = memfd_create("fuzz_source", 0);
	if (fd < 0 || write(fd, stream, slen) != (ssize_t)slen)
		abort();
	char path[64], msg[400];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	sl_source *s = NULL;
	sl_source_reader *r = NULL;
	sl_compression det;
	char *out = malloc(CAP), *again = malloc(CAP);
	if (sl_source_open_uri(path, &o, &s, &det, msg, sizeof msg) < 0)
		abort(); /* a readable regular file always opens */
	size_t got = 0, got2;
	int rc = sl_source_open_seq(s, &r);
	if (rc == 0)
		rc = drain(r, out, CAP, step, &got);
	if (r && !allowed(rc, r) && rc != 1) {
		fprintf(stderr, "sequential: %d %s\n", rc, r->msg);
		abort();
	}
	sl_source_reader_close(r);
	r = NULL;
#ifdef SLUICE_HAVE_ISAL
	if (det == SL_COMPRESSION_GZIP) {
		int rc2;
		setenv("SLUICE_GZIP_DECODER", "zlib", 1);
		if ((rc2 = sl_source_open_seq(s, &r)) == 0)
			rc2 = drain(r, again, CAP, step, &got2);
		if (rc2 != rc ||
		    ((rc == 0 || rc == 1) && (got2 != got || memcmp(again, out, got)))) {
			fprintf(stderr, "isal %d (%zu bytes), zlib %d (%zu bytes) %s\n", rc, got,
			        rc2, got2, r ? r->msg : "");
			abort();
		}
		sl_source_reader_close(r);
		r = NULL;
		unsetenv("SLUICE_GZIP_DECODER");
	}
#endif
	if (rc == 0 && det != SL_COMPRESSION_NONE && got) {
		uint64_t off = got / 3, len = got - got / 3 - got / 5;
		if (sl_source_open_range(s, off, len, NULL, 0, &r) == 0) {
			rc = drain(r, again, CAP, step, &got2);
			if (rc != 0 || got2 != len || memcmp(again, out + off, len)) {
				fprintf(stderr, "range %llu+%llu: %d, %zu bytes\n",
				        (unsigned long long)off, (unsigned long long)len, rc, got2);
				abort();
			}
		}
		sl_source_reader_close(r);
		r = NULL;
		for (int d = 0; d < (det == SL_COMPRESSION_GZIP ? 2 : 1); d++) {
			if (d)
				setenv("SLUICE_GZIP_DECODER", "zlib", 1);
			r = NULL;
			if (sl_source_open_range(s, off, len, point, plen, &r) == 0) {
				rc = drain(r, again, CAP, step, &got2);
				if (!allowed(rc, r)) {
					fprintf(stderr, "range from a point: %d %s\n", rc, r->msg);
					abort();
				}
			}
			sl_source_reader_close(r);
			unsetenv("SLUICE_GZIP_DECODER");
		}
	}
	sl_source_close(s);
	close(fd);
	free(out);
	free(again);
	return 0;
}
