/* SPDX-License-Identifier: Apache-2.0 */
/* cdisk_fd_size: partition image sizes (cdisk_fd_size.h). */
#include "disk/cdisk_fd_size.h"

#include <errno.h>
#include <linux/fs.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

int cdisk_fd_size(int fd, uint64_t *ret)
{
	struct stat st;
	uint64_t size;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode)) {
		*ret = (uint64_t)st.st_size;
		return 0;
	}
	if (!S_ISBLK(st.st_mode))
		return -EINVAL;
	if (ioctl(fd, BLKGETSIZE64, &size) < 0)
		return -errno;
	*ret = size;
	return 0;
}
