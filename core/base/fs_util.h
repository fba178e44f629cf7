/* SPDX-License-Identifier: Apache-2.0 */
/* fs_util: the few file-system helpers daemons and loaders need (recursive removal,
 * mkdir -p, reading a bounded file). */
#ifndef AVF_CORE_BASE_FS_UTIL_H
#define AVF_CORE_BASE_FS_UTIL_H

#include <stddef.h>
#include <sys/types.h>

/* mkdir -p with @mode for the directories it creates. -errno with a message. */
int fs_mkdir_p(const char *path, mode_t mode);

/* rm -rf @path without following symlinks; a missing path is success. */
int fs_remove_tree(const char *path);

/*
 * The directory of the running program (/proc/self/exe's), where the programs of a
 * build or an install sit side by side (virtmgr -> fakevmm -> avf-guest-agent ->
 * avf-payload-launcher). -errno (-ENAMETOOLONG if @len is short), no message.
 */
int fs_self_dir(char *buf, size_t len);

/* Count directory entries of @path except . and .. (-errno if unreadable). */
int fs_count_entries(const char *path);

/*
 * Read the whole regular file @path (relative to @dir_fd, or AT_FDCWD) of at most @max
 * bytes into *ret_buf (malloc'd, NUL-terminated, *ret_len bytes before the NUL). The
 * open does not block (a FIFO in the file's place is refused, not waited on). Errors,
 * with no message (the caller names the file): -EINVAL not a regular file, -EFBIG
 * larger than @max (checked on fstat and again while reading, since the file may
 * grow; *ret_len is then the size seen), -ENOMEM, -errno.
 */
int fs_read_file(int dir_fd, const char *path, size_t max, char **ret_buf, size_t *ret_len);

#endif
