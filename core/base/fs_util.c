/* SPDX-License-Identifier: Apache-2.0 */
#include "base/fs_util.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
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

/* Levels below the top a removal descends; deeper trees are refused (-ELOOP). */
#define REMOVE_DEPTH_MAX 32

/*
 * Empty the directory open at @dfd. No heap (getdents64 into a stack buffer, *at()
 * calls): a VM's temp dir is removed at its release, and a removal that failed for
 * want of memory would leave the dir behind until the next service start. Entries
 * unlinked while reading may shift the ones not read yet, so passes repeat until
 * one finds the directory empty.
 */
static int remove_inside(int dfd, const char *path, unsigned depth)
{
	char buf[2048];
	bool removed;

	do {
		ssize_t n;

		removed = false;
		if (lseek(dfd, 0, SEEK_SET) < 0)
			return -errno;
		while ((n = getdents64(dfd, buf, sizeof(buf))) > 0) {
			for (ssize_t off = 0; off < n;) {
				struct dirent64 *de = (struct dirent64 *)(buf + off);
				const char *name = de->d_name;
				unsigned char type = de->d_type;
				struct stat st;
				int r;

				off += de->d_reclen;
				if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
					continue;
				if (type == DT_UNKNOWN) {
					if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
						if (errno == ENOENT)
							continue;
						return -errno;
					}
					type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
				}
				if (type == DT_DIR) {
					int sub;

					if (depth >= REMOVE_DEPTH_MAX)
						return -ELOOP;
					sub = openat(dfd, name,
						     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
					if (sub < 0)
						return errno == ENOENT ? 0 : -errno;
					r = remove_inside(sub, path, depth + 1);
					close(sub);
					if (r < 0)
						return r;
				}
				if (unlinkat(dfd, name, type == DT_DIR ? AT_REMOVEDIR : 0) < 0 &&
				    errno != ENOENT)
					return -errno;
				removed = true;
			}
		}
		if (n < 0)
			return -errno;
	} while (removed);
	return 0;
}

int fs_remove_tree(const char *path)
{
	struct stat st;
	int fd, r = 0;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
	} else if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0 && errno != ENOENT)
			r = -errno;
	} else if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		r = errno == ENOENT ? 0 : -errno;
	} else {
		r = remove_inside(fd, path, 0);
		close(fd);
		if (r == 0 && rmdir(path) < 0 && errno != ENOENT)
			r = -errno;
	}
	if (r < 0)
		return avf_err_set(r, AVF_EX_SERVICE_SPECIFIC, "cannot remove '%s': %s", path,
				   strerror(-r));
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

int fs_self_dir(char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n < 0)
		return -errno;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return -ENOENT;
	if ((size_t)snprintf(buf, len, "%.*s", (int)(slash - self), self) >= len)
		return -ENAMETOOLONG;
	return 0;
}
