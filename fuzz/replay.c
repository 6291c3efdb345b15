/*
 * A main() for builds without libFuzzer (gcc, `make test`): runs LLVMFuzzerTestOneInput()
 * once over every file named on the command line and every regular file in the
 * directories named (not recursive; dot files skipped), in name order so that runs repeat
 * exactly. Each input is copied into a heap buffer of exactly its size, so sanitizers catch
 * reads past its end as libFuzzer would. This is how each seed corpus runs as an ordinary
 * test (STYLE.md "Tests"). A failed check aborts inside the target; an argument that cannot
 * be read is an error too, so a mistyped corpus path cannot pass as an empty corpus.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap *= 2);
			if (nb == NULL)
				free(buf);
			buf = nb;
		}
	}
	int err = ferror(f);
	fclose(f);
	if (buf == NULL || err) {
		fprintf(stderr, "%s: cannot read\n", path);
		free(buf);
		return -1;
	}
	/* Exactly len bytes, so that a read past the input is a heap overflow. */
	uint8_t *input = malloc(len ? len : 1);
	if (input == NULL) {
		free(buf);
		return -1;
	}
	memcpy(input, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(input, len);
	free(input);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of dir; returns the number run, or -1. */
static long run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t count = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (count == cap) {
			cap = cap ? 2 * cap : 64;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (nn == NULL)
				break;
			names = nn;
		}
		if ((names[count] = strdup(e->d_name)) != NULL)
			count++;
	}
	closedir(d);
	if (count > 0)
		qsort(names, count, sizeof(*names), by_name);
	long ran = 0;
	for (size_t i = 0; i < count; i++) {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(path) != 0)
				ran = -1;
			else if (ran >= 0)
				ran++;
		}
		free(names[i]);
	}
	free(names);
	return ran;
}

int main(int argc, char **argv)
{
	long total = 0;
	int failed = 0;
	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		long n;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			failed = 1;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			n = run_dir(argv[i]);
		} else {
			n = run_file(argv[i]) == 0 ? 1 : -1;
		}
		if (n < 0)
			failed = 1;
		else
			total += n;
		printf("%s: %ld inputs\n", argv[i], n < 0 ? 0 : n);
	}
	printf("%ld inputs ran\n", total);
	return failed ? 2 : 0;
}
