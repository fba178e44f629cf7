/* SPDX-License-Identifier: Apache-2.0 */
#include "base/fs_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/avf_err.h"

int fs_mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return avf_err_set(-ENAMETOOLONG, AVF_EX_ILLEGAL_ARGUMENT, "bad directory path '%s'",
				   path);
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;

			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC,
						   "cannot create directory '%s': %s", buf,
						   strerror(errno));
			*p = saved;
			if (!saved)
				break;
		}
	}
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	/* FTW_DEPTH: children before their directory; FTW_PHYS: symlinks are removed, not followed */
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int fs_remove_tree(const char *path)
{
	struct stat st;
	int r;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "cannot remove '%s': %s", path,
				   strerror(errno));
	}
	r = nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	if (r != 0) {
		int err = r < 0 ? r : -EIO;

		return avf_err_set(err, AVF_EX_SERVICE_SPECIFIC, "cannot remove '%s': %s", path,
				   strerror(-err));
	}
	return 0;
}

int fs_count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "cannot read directory '%s': %s",
				   path, strerror(errno));
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

int fs_read_file(int dir_fd, const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap;
	int fd, r;

	fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		*ret_len = (size_t)st.st_size;
		r = -EFBIG;
		goto out;
	}
	/* Sized by fstat, grown if the file grows meanwhile, never past max + 1. */
	cap = (size_t)st.st_size + 1;
	if (!(buf = malloc(cap + 1))) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (len == cap) {
			size_t ncap = cap > max / 2 ? max + 1 : cap * 2;
			char *nb;

			if (cap > max) {
				*ret_len = len;
				r = -EFBIG;
				goto out;
			}
			if (!(nb = realloc(buf, ncap + 1))) {
				r = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		*ret_len = len;
		r = -EFBIG;
		goto out;
	}
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	buf = NULL;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}
