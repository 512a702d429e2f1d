/*
 * Replays fuzz inputs without libFuzzer, so the normal test run (gcc, with
 * or without sanitizers) checks every file of the fuzz corpus and, given
 * more directories, every file under them (the shared CSV corpus): each is
 * fed to the harness with a few dialect prefixes (the CSV harness; the
 * other harnesses are given their one corpus directory).
 *
 * A directory that cannot be read, or holds no file, fails the run: a
 * corpus that went missing must not turn the replay into a silent pass.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t nfiles, nerrors;

static void run_file(const char *path, int raw)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		nerrors++;
		return;
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (n < 0 || n > (1 << 20)) { /* replay small files; big ones are covered elsewhere */
		fclose(f);
		return;
	}
	uint8_t *buf = malloc((size_t)n + 4);
	if (!buf || fread(buf + 4, 1, (size_t)n, f) != (size_t)n)
		abort();
	fclose(f);
	if (raw) {
		LLVMFuzzerTestOneInput(buf + 4, (size_t)n);
	} else {
		/* corpus CSVs: several dialects and window steps */
		static const uint8_t pre[][4] = {{0, 0, 1, 0},    {0, 0, 2, 6},    {1, 1, 12, 62},
		                                  {2, 0, 21, 63},  {0, 2, 36, 1},   {0, 16, 193, 5},
		                                  {0, 20, 65, 63}, {0, 25, 129, 7}, {0, 28, 1, 64}};
		for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
			memcpy(buf, pre[i], 4);
			LLVMFuzzerTestOneInput(buf, (size_t)n + 4);
		}
	}
	free(buf);
	nfiles++;
}

static void walk(const char *dir, int raw)
{
	DIR *d = opendir(dir);
	if (!d) {
		perror(dir);
		nerrors++;
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		struct stat st;
		if (stat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			walk(path, raw);
		else if (S_ISREG(st.st_mode))
			run_file(path, raw);
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR [CSV_DIR...]\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		size_t before = nfiles;
		walk(argv[i], i == 1);
		if (nfiles == before) {
			fprintf(stderr, "%s: no corpus file replayed from it\n", argv[i]);
			nerrors++;
		}
	}
	printf("replayed %zu files\n", nfiles);
	return nerrors ? 1 : 0;
}
