/* SPDX-License-Identifier: Apache-2.0 */
#include "cmocka_wrap.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

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
