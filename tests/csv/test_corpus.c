/*
 * Invariants over every file of the shared corpus (../shared/corpus, used
 * in place): for each file, in the dialect its suite states (DuckDB's
 * manifest.tsv) and in the default one,
 *   - every scanner gives exactly what the reference state machine gives;
 *   - streaming through windows of 1, 2, 3, 63, 64, 65 and 4096 bytes, and
 *     splitting into chunks of those sizes, gives what one pass gives;
 *   - for files under 1 KiB, so does every split point of the input and
 *     every chunk size.
 * Gzip files are read through zlib. Run under ASan+UBSan this is also the
 * "no crash, no out-of-bounds read" check on every file.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <zlib.h>
#include <cmocka.h>

#include "csv/oracle.h"

static const char *corpus;
static size_t nfiles, nruns;

typedef struct dialect_entry {
	char path[9000];
	sl_csv_dialect d;
} dialect_entry;
static dialect_entry *manifest;
static size_t nmanifest;

/* UTF-8 of code point cp into u; its length, 0 if out of range. */
static size_t utf8_put(unsigned long cp, char *u)
{
	if (cp < 0x80) {
		u[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		u[0] = (char)(0xC0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		u[0] = (char)(0xE0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	if (cp > 0x10FFFF)
		return 0;
	u[0] = (char)(0xF0 | cp >> 18);
	u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	u[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static int parse_byte(const char *v, int *out)
{
	if (!strcmp(v, "none")) {
		*out = SL_CSV_NONE;
		return 0;
	}
	if (!strcmp(v, "TAB")) {
		*out = '\t';
		return 0;
	}
	if (!strcmp(v, "space")) {
		*out = ' ';
		return 0;
	}
	if (strlen(v) == 1) {
		*out = (unsigned char)v[0];
		return 0;
	}
	return -1; /* multi-byte: not a sluice dialect */
}

/* "delim=, quote=\" escape=\" header=no" -> dialect (a delimiter of up to 4
   bytes); -1 if sluice has no such dialect. */
static int parse_dialect(char *s, sl_csv_dialect *d)
{
	sl_csv_dialect_init(d);
	int rc = 0;
	for (char *tok = strtok(s, " "); tok; tok = strtok(NULL, " ")) {
		char *eq = strchr(tok, '=');
		if (!eq)
			continue;
		*eq = 0;
		const char *v = eq + 1;
		int c;
		if (!strcmp(tok, "header")) {
			d->header = !strcmp(v, "yes");
		} else if (!strcmp(tok, "delim") && parse_byte(v, &c) < 0) {
			/* a multi-byte delimiter: "BA", "aa" or U+XXXX (UTF-8) */
			char u[8];
			size_t n = strlen(v);
			if (!strncmp(v, "U+", 2)) {
				unsigned long cp = strtoul(v + 2, NULL, 16);
				n = utf8_put(cp, u);
				v = u;
			}
			if (n == 0 || sl_csv_dialect_set_delimiter(d, v, n) < 0)
				rc = -1;
		} else if (parse_byte(v, &c) < 0) {
			rc = -1;
		} else if (!strcmp(tok, "delim")) {
			if (c == SL_CSV_NONE)
				rc = -1;
			else
				d->delimiter = (unsigned char)c;
		} else if (!strcmp(tok, "quote")) {
			d->quote = c;
		} else if (!strcmp(tok, "escape")) {
			d->escape = c;
		}
	}
	if (d->quote == SL_CSV_NONE)
		d->escape = SL_CSV_NONE;
	return rc == 0 && sl_csv_dialect_check(d, NULL) == 0 ? 0 : -1;
}

static void load_manifest(void)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/duckdb/manifest.tsv", corpus);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char line[8192];
	manifest = calloc(256, sizeof *manifest);
	while (fgets(line, sizeof line, f) && nmanifest < 256) {
		char *t1 = strchr(line, '\t');
		char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		char *t3 = t2 ? strchr(t2 + 1, '\t') : NULL;
		if (!t3 || !strncmp(line, "path\t", 5))
			continue;
		*t1 = *t3 = 0;
		dialect_entry *e = &manifest[nmanifest];
		snprintf(e->path, sizeof e->path, "%s/duckdb/%s", corpus, line);
		if (parse_dialect(t2 + 1, &e->d) == 0)
			nmanifest++;
	}
	fclose(f);
}

static char *slurp(const char *path, size_t *n)
{
	gzFile g = gzopen(path, "rb"); /* reads plain files as they are */
	if (!g)
		return NULL;
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	int k;
	while ((k = gzread(g, buf + len, (unsigned)(cap - len))) > 0) {
		len += (size_t)k;
		if (len == cap)
			buf = realloc(buf, cap *= 2);
	}
	gzclose(g);
	*n = len;
	return buf;
}

static void same(const char *path, const char *what, size_t k, const sl_buf *want,
                 const sl_buf *got)
{
	nruns++;
	if (got->len == want->len && !memcmp(got->p, want->p, want->len))
		return;
	fail_msg("%s: %s %zu differs from one pass (%zu vs %zu bytes of output)", path, what, k,
	         got->len, want->len);
}

static void check_file(const char *path, const char *data, size_t n, const sl_csv_dialect *d)
{
	static const size_t sizes[] = {1, 2, 3, 63, 64, 65, 4096};
	static const sl_csv_scanner scanners[] = {SL_CSV_SCAN_GENERIC, SL_CSV_SCAN_SSE2,
	                                          SL_CSV_SCAN_AVX2};
	sl_buf want, got;
	sl_buf_init(&want, 1u << 30);
	sl_buf_init(&got, 1u << 30);
	oracle_opts ref = {.d = *d, .scanner = SL_CSV_SCAN_SCALAR};
	assert_int_equal(oracle_run(data, n, &ref, &want), 0);

	for (size_t s = 0; s < SL_ARRAY_LEN(scanners); s++) {
		oracle_opts o = ref;
		o.scanner = scanners[s];
		assert_int_equal(oracle_run(data, n, &o, &got), 0);
		same(path, sl_csv_scanner_name(o.scanner), 0, &want, &got);
	}
	for (size_t i = 0; i < SL_ARRAY_LEN(sizes); i++) {
		oracle_opts o = {.d = *d, .scanner = SL_CSV_SCAN_AUTO, .window = sizes[i]};
		if (n > (1u << 20) && sizes[i] < 63)
			continue; /* byte-sized windows over megabytes: quadratic, no new case */
		assert_int_equal(oracle_run(data, n, &o, &got), 0);
		same(path, "window", sizes[i], &want, &got);
		o.window = 0;
		o.chunk = sizes[i];
		if (n > (1u << 20) && sizes[i] < 4096)
			continue;
		assert_int_equal(oracle_run(data, n, &o, &got), 0);
		same(path, "chunk", sizes[i], &want, &got);
	}
	if (n < 1024) {
		for (size_t k = 1; k < n; k++) {
			/* every split point: two windows, [0,k) and the rest */
			oracle_opts o = {.d = *d, .scanner = SL_CSV_SCAN_AUTO, .window = k};
			assert_int_equal(oracle_run(data, n, &o, &got), 0);
			same(path, "split at", k, &want, &got);
			o.window = 0;
			o.chunk = k;
			assert_int_equal(oracle_run(data, n, &o, &got), 0);
			same(path, "chunk size", k, &want, &got);
		}
	}
	sl_buf_free(&want);
	sl_buf_free(&got);
}

static void walk(const char *dir)
{
	DIR *dd = opendir(dir);
	assert_non_null(dd);
	struct dirent *e;
	while ((e = readdir(dd))) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		struct stat st;
		if (stat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			walk(path);
			continue;
		}
		size_t n;
		char *data = slurp(path, &n);
		if (!data)
			continue;
		sl_csv_dialect d;
		sl_csv_dialect_init(&d);
		check_file(path, data, n, &d);
		/* lenient, spaces after delimiters skipped */
		d.lenient_quotes = d.lenient_fields = d.skip_initial_space = true;
		check_file(path, data, n, &d);
		for (size_t i = 0; i < nmanifest; i++) {
			if (!strcmp(manifest[i].path, path)) {
				check_file(path, data, n, &manifest[i].d);
				d = manifest[i].d; /* and the stated one split at ", " */
				if (d.delimiter == ',' && d.delimiter_len <= 1) {
					sl_csv_dialect_set_delimiter(&d, ", ", 2);
					check_file(path, data, n, &d);
				}
			}
		}
		free(data);
		nfiles++;
	}
	closedir(dd);
}

static void test_corpus_invariants(void **state)
{
	(void)state;
	load_manifest();
	assert_true(nmanifest >= 80);
	walk(corpus);
	print_message("%zu files, %zu comparisons, %zu manifest dialects\n", nfiles, nruns,
	              nmanifest);
	assert_true(nfiles >= 400);
	free(manifest);
}

int main(int argc, char **argv)
{
	corpus = argc > 1 ? argv[1] : getenv("SLUICE_CORPUS");
	if (!corpus) {
		fprintf(stderr, "usage: test_csv_corpus CORPUS_DIR\n");
		return 2;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus_invariants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
