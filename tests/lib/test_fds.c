/* SPDX-License-Identifier: Apache-2.0 */
#include "cmocka_wrap.h"

#include <dirent.h>

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
