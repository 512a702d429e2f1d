/*
 * Replays fuzz inputs without libFuzzer: every file under the directories
 * given is fed as it is to LLVMFuzzerTestOneInput. Unlike a fuzzer run, a
 * missing or empty directory is a failure (exit 1): a corpus that went
 * away must not turn the replay into a pass.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t nfiles;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	uint8_t *buf = malloc(1 << 20);
	size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
	fclose(f);
	if (!buf)
		return -1;
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	nfiles++;
	return 0;
}

static int walk(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "replay: %s: cannot open the corpus directory\n", dir);
		return -1;
	}
	int rc = 0;
	for (struct dirent *e; rc == 0 && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &st) < 0)
			rc = -1;
		else if (S_ISDIR(st.st_mode))
			rc = walk(path);
		else if (S_ISREG(st.st_mode))
			rc = run_file(path);
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		size_t before = nfiles;
		if (walk(argv[i]) < 0)
			return 1;
		if (nfiles == before) {
			fprintf(stderr, "replay: %s: no input files\n", argv[i]);
			return 1;
		}
	}
	printf("replayed %zu inputs\n", nfiles);
	return 0;
}
