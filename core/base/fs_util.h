/* SPDX-License-Identifier: Apache-2.0 */
/* fs_util: the few file-system helpers daemons need (recursive removal, mkdir -p). */
#ifndef AVF_CORE_BASE_FS_UTIL_H
#define AVF_CORE_BASE_FS_UTIL_H

#include <sys/types.h>

/* mkdir -p with @mode for the directories it creates. -errno with a message. */
int fs_mkdir_p(const char *path, mode_t mode);

/* rm -rf @path without following symlinks; a missing path is success. */
int fs_remove_tree(const char *path);

/* Count directory entries of @path except . and .. (-errno if unreadable). */
int fs_count_entries(const char *path);

#endif
