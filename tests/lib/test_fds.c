/* SPDX-License-Identifier: Apache-2.0 */
#include "cmocka_wrap.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_fds.h"

int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

int count_fds_on_file(int fd)
{
	struct stat want, st;
	struct dirent *de;
	char path[300];
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	assert_int_equal(fstat(fd, &want), 0);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		/* the directory's own fd is no file: stat fails or differs */
		if (stat(path, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino)
			n++;
	}
	closedir(d);
	return n;
}

int fd_new_pipe_end(void)
{
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[1]);
	return p[0];
}

bool fd_same_file(int a, int b)
{
	struct stat sa, sb;

	assert_int_equal(fstat(a, &sa), 0);
	assert_int_equal(fstat(b, &sb), 0);
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void fd_check_dup(int orig, int copy)
{
	assert_true(copy > 2);
	assert_int_not_equal(copy, orig);
	assert_int_equal(fcntl(copy, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_true(fd_same_file(orig, copy));
}
