/* SPDX-License-Identifier: Apache-2.0 */
/*
 * early_caller: who is asking early_virtmgr for an early VM (research/avf-spec.md
 * 7.3, 7.5). The caller is early_virtmgr's parent: the client library forks it.
 *
 *   - its executable is readlink(/proc/<pid>/exe), a canonical path (links
 *     resolved), so a declaration can only name a real file;
 *   - under a root prefix (tests, prototyping) that prefix is stripped:
 *     <root>/system/bin/x is the caller /system/bin/x; a caller outside the root
 *     is nobody's;
 *   - its partition is the first component of that path (AVF A16 as released;
 *     newer AVF also maps /system/system_ext, /mnt/vendor, /apex/... — not here);
 *   - it must hold CAP_IPC_LOCK, CAP_NET_BIND_SERVICE and CAP_SYS_RESOURCE in its
 *     effective set (AVF's early-VM client requirements; CAP_SYS_NICE only matters
 *     with virt-cpufreq, which this implementation does not have).
 *
 * Every function records its error with avf_err (service-specific -1 unless said).
 */
#ifndef AVF_CORE_SERVICE_EARLY_CALLER_H
#define AVF_CORE_SERVICE_EARLY_CALLER_H

#include <sys/types.h>

#include "config/early_vms.h"

/* readlink(/proc/@pid/exe), malloc'd. "Can't verify the path of PID <pid>: ..." */
int early_caller_exe(pid_t pid, char **ret);

/*
 * @exe with the canonical @root ("/" or an absolute path without a trailing
 * slash) stripped, malloc'd: "/tmp/r/system/bin/x" under "/tmp/r" is
 * "/system/bin/x". -EPERM "caller <exe> is outside the early VM root <root>".
 */
int early_caller_strip_root(const char *exe, const char *root, char **ret);

/*
 * The partition of a caller path: its first component. -EOPNOTSUPP "Early VMs
 * are not supported for <component>" when it is not one of the five.
 */
int early_caller_partition(const char *path, enum early_partition *ret);

/*
 * 0 when @pid has the three capabilities in its effective set; -EPERM with
 * EX_SECURITY naming the missing ones, or saying why they cannot be read.
 */
int early_caller_check_caps(pid_t pid);

#endif
