/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proc_probe: what a process holds, read from /proc, for tests that check nothing
 * leaks (test_stack, the soak tests). Plain functions, no cmocka: a caller decides
 * whether a failed read fails its test.
 */
#ifndef AVF_TESTS_LIB_PROC_PROBE_H
#define AVF_TESTS_LIB_PROC_PROBE_H

#include <sys/types.h>

/* Entries of directory @path, "." and ".." not counted; 0 when it does not exist,
 * -errno when it cannot be read. */
int probe_dir_entries(const char *path);

/* Open fds of @pid (entries of /proc/PID/fd; for ourselves that includes the
 * directory's own fd, the same before and after); -errno if unreadable. */
int probe_fds(pid_t pid);

/* Children of @pid, zombies included (they are not reaped yet), from every thread's
 * /proc/PID/task/TID/children: up to @max pids into @out (may be NULL); the count. */
int probe_children(pid_t pid, pid_t *out, int max);

/* A "NAME: N kB" line of /proc/PID/status (VmRSS, VmHWM, ...) in KiB; -errno. */
long probe_status_kib(pid_t pid, const char *name);

#endif
