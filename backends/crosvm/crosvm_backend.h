/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crosvm_backend: every VM is a real crosvm process, started as A15's virtmgr
 * starts it (research/crosvm-spec.md §1-§3; docs/crosvm-backend.md).
 *
 * prepare(): AVF's createVm checks a real VMM needs (a kernel or a bootloader:
 * "VM must have either a bootloader or a kernel image.", service-specific -1,
 * also for a config that names no file at all), then the command line of
 * backends/crosvm_argv.h with this backend's crosvm as argv[0]. A disk of
 * partitions arrives as the composite vmgr built, its components inherited at
 * the numbers the composite names.
 * spawn(), kill(), child_free(): backends/vmm_process.h without a guest channel:
 * the fds at the numbers argv names (close-on-exec cleared in the child only),
 * PR_SET_PDEATHSIG, pidfd watch, the failure pipe on ttyS1, the control socket
 * bound by us to <temp dir>/crosvm.sock and passed as --socket. The exit status
 * and the failure text go to core/vm/death_reason.c through the manager.
 * stop (and every kill: the last handle dropped, the boot hangup): SIGKILL, as
 * A15. With stop_via_socket, crosvm's own `crosvm stop` first: "Exit" over the
 * control socket, SIGKILL if crosvm has not exited within stop_timeout_ns; a
 * crosvm that obeys exits 0, so the VM dies SHUTDOWN, not KILLED (as newer AVF's
 * graceful stop). virtmgr sets it from AVF_CROSVM_STOP=socket (docs/crosvm-backend.md).
 *
 * No guest notifications: crosvm guests reach IVirtualMachineService over vsock,
 * which this project does not serve yet; an app VM therefore dies of the 30 s
 * boot hangup.
 */
#ifndef AVF_BACKENDS_CROSVM_CROSVM_BACKEND_H
#define AVF_BACKENDS_CROSVM_CROSVM_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backends/backend.h"

/* The crosvm program; otherwise `crosvm` is looked up in $PATH. */
#define CROSVM_BACKEND_ENV "AVF_CROSVM"

struct crosvm_backend_opts {
	const char *crosvm_path; /* required; copied */
	/* crosvm's stdout and stderr go to this fd when it is > 2 (not owned; it must
	 * outlive the backend's children); otherwise they are the manager's own. */
	int log_fd;
	/* Stop with "Exit" over the control socket first (header comment). */
	bool stop_via_socket;
	uint64_t stop_timeout_ns; /* 0: VMM_PROCESS_STOP_TIMEOUT_NS (5 s) */
};

/* The environment variable virtmgr reads stop_via_socket from: "kill" or "socket". */
#define CROSVM_BACKEND_STOP_ENV "AVF_CROSVM_STOP"

/* Create the backend on @loop. Free with backend_free(). -EINVAL, -ENOMEM. */
int crosvm_backend_new(struct loop *loop, const struct trace *tr,
		       const struct crosvm_backend_opts *opts, struct backend **ret);

/*
 * The crosvm to run: $AVF_CROSVM when set and not empty (as given; it must be an
 * executable file), else the first executable `crosvm` in $PATH. *ret is malloc'd.
 * -ENOENT (or -EACCES) with a message saying where it looked.
 */
int crosvm_backend_find(char **ret);

/* Children spawned and not yet freed (leak checks). */
unsigned crosvm_backend_live_children(const struct backend *be);
/* Pid of the most recently spawned crosvm, 0 if none. */
pid_t crosvm_backend_last_pid(const struct backend *be);

#endif
