/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vs_process: a private virtualizationservice for tools, benchmarks and tests —
 * started with --ready-fd so its readiness is an event (the ready byte), never a
 * guess, and stopped with SIGTERM and a bounded wait.
 */
#ifndef AVF_HARNESS_VS_PROCESS_H
#define AVF_HARNESS_VS_PROCESS_H

#include <limits.h>
#include <sys/types.h>

struct vs_process {
	pid_t pid;
	char sock[PATH_MAX];  /* <dir>/vs.sock */
	char state[PATH_MAX]; /* <dir>/state */
};

/*
 * Start @vs_path on <dir>/vs.sock with state dir <dir>/state and wait up to
 * @timeout_ms for its ready byte. -ECHILD (with its exit status in the message)
 * if it exited first, -ETIMEDOUT (killed and reaped), -errno.
 */
int vs_process_start(const char *vs_path, const char *dir, int timeout_ms, struct vs_process *ret);

/* The same, with @extra (NULL-terminated, may be NULL) appended to the command
 * line, e.g. {"--cid-range", "100-102", NULL}. The child starts with no signal
 * blocked whatever the caller blocks. */
int vs_process_start_args(const char *vs_path, const char *dir, const char *const *extra,
			  int timeout_ms, struct vs_process *ret);

/* SIGTERM, wait up to @timeout_ms (then SIGKILL); returns the wait status or -errno.
 * A no-op returning 0 when it is not running (pid 0). */
int vs_process_stop(struct vs_process *p, int timeout_ms);

#endif
