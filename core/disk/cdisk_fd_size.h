/* SPDX-License-Identifier: Apache-2.0 */
/* cdisk_fd_size: how many bytes a partition image behind an fd has, as the composite builder
 * needs it: a regular file's size, or a block device's (BLKGETSIZE64). Raw images only: AVF's
 * newer builder also reads Android sparse headers (crosvm-spec.md §4.10); we do not. */
#ifndef AVF_CORE_DISK_CDISK_FD_SIZE_H
#define AVF_CORE_DISK_CDISK_FD_SIZE_H

#include <stdint.h>

/* No message (the caller names the partition): -EBADF, -EINVAL neither a regular file nor a
 * block device, -errno from fstat/ioctl. */
int cdisk_fd_size(int fd, uint64_t *ret);

#endif
