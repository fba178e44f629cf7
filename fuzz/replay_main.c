/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A main() for the fuzz targets in builds without libFuzzer (gcc, the default build):
 * feeds every file named on the command line, or found directly inside a directory
 * named there, to LLVMFuzzerTestOneInput once, in name order. So the seeds and every
 * crash input kept in fuzz/corpus/ go through the targets' checks in each ctest run,
 * under valgrind and ASan in CI. A broken check traps (the test fails with SIGILL).
 *
 * Usage: fuzz_replay_NAME PATH...   Exit 0 after at least one input; 1 if none was found
 * or a path could not be read (a wrong corpus path must not pass as an empty run).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whole file into a malloc'd buffer (never NULL on success, even for 0 bytes). */
static int read_all(const char *path, uint8_t **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (n < 0) {
		free(buf);
		return -EIO;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

static int run_file(const char *path)
{
	uint8_t *data;
	size_t len;
	int r = read_all(path, &data, &len);

	if (r < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		return r;
	}
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dots(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Every regular file directly inside @dir; adds the count to *ran. */
static int run_dir(const char *dir, unsigned *ran)
{
	struct dirent **names;
	int n = scandir(dir, &names, skip_dots, by_name), r = 0;

	if (n < 0) {
		r = -errno;
		fprintf(stderr, "%s: %s\n", dir, strerror(-r));
		return r;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (r == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			r = run_file(path);
			if (r == 0)
				(*ran)++;
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	unsigned ran = 0;
	struct stat st;

	for (int i = 1; i < argc; i++) {
		int r;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			r = run_dir(argv[i], &ran);
		} else {
			r = run_file(argv[i]);
			ran += r == 0;
		}
		if (r < 0)
			return 1;
	}
	printf("%s: %u inputs replayed, every check held\n", argv[0], ran);
	return ran ? 0 : 1;
}
