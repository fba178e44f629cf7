/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake_backend: the process backend over fakevmm (fakes/fakevmm), the real-process
 * sibling of fakes/sim. Every VM is a fakevmm child started with exactly the
 * command line crosvm would get (backends/crosvm_argv.h: A15's order,
 * crosvm-spec §1.2), watched by pidfd in the manager's loop (backends/vmm_process.h:
 * the same process handling as the crosvm backend).
 *
 * prepare() is pure: it parses the guest script (a bad one fails createVm), and
 * builds the argv: crosvm's, then the fake's own extras appended at the end:
 *
 *   --params avf.fake_script=<S>             only with a guest script
 *   --avf-guest-channel /proc/self/fd/{guest-channel}
 *
 * S is the script percent-encoded (every byte outside [A-Za-z0-9._~-] as %XX), so
 * it is one argv word and one kernel-cmdline token. No script: no parameter, and
 * fakevmm runs GSCRIPT_DEFAULT. {guest-channel} is the child end of the guest
 * channel socketpair; every other placeholder is crosvm_argv.h's ({failure-pipe},
 * {control-socket}, {console-out}, {console-in}, {log}, {kernel}, {initrd},
 * {bios}, {diskN}), replaced at spawn with the fd numbers the VMM gets.
 *
 * A script whose first step is spawn-fail fails spawn() with -ECHILD without
 * forking. A guest that breaks the channel protocol loses its channel (it then
 * exits 1, START_FAILED).
 */
#ifndef AVF_BACKENDS_FAKE_FAKE_BACKEND_H
#define AVF_BACKENDS_FAKE_FAKE_BACKEND_H

#include <sys/types.h>

#include "backends/backend.h"
#include "backends/crosvm_argv.h"
#include "backends/vmm_process.h"

/* Failure-channel bytes kept, as newer AVF (crosvm-spec §1.1). */
#define FAKE_BACKEND_FAILURE_MAX VMM_PROCESS_FAILURE_MAX
/* How long kill() and child_free() wait for a SIGKILLed VMM to be reaped. */
#define FAKE_BACKEND_KILL_TIMEOUT_NS VMM_PROCESS_KILL_TIMEOUT_NS

#define FAKE_BACKEND_FD_FAILURE     CROSVM_FD_FAILURE
#define FAKE_BACKEND_FD_GUEST       "{guest-channel}"
#define FAKE_BACKEND_FD_CONTROL     CROSVM_FD_CONTROL
#define FAKE_BACKEND_FD_CONSOLE_OUT CROSVM_FD_CONSOLE_OUT
#define FAKE_BACKEND_FD_CONSOLE_IN  CROSVM_FD_CONSOLE_IN
#define FAKE_BACKEND_FD_LOG         CROSVM_FD_LOG
/* An app VM's payload files (vm_config_payload), for the guest agent. */
#define FAKE_BACKEND_FD_PAYLOAD     "{payload}"
#define FAKE_BACKEND_FD_PAYLOAD_CFG "{payload-cfg}"
#define FAKE_BACKEND_FD_INSTANCE    "{instance}"
#define FAKE_BACKEND_FD_STORAGE     "{storage}"
/* The fake VM's "vsock": port P of the guest is the unix socket <temp dir>/vsock/P. */
#define FAKE_BACKEND_VSOCK_DIR "vsock"

struct fake_backend_opts {
	const char *fakevmm_path; /* required; copied */
	/* The VMMs' stdout and stderr go to this fd when it is > 2 (not owned; it must
	 * outlive the backend's children); otherwise they are the manager's own. */
	int log_fd;
};

/* Create the backend on @loop. Free with backend_free(). -EINVAL, -ENOMEM. */
int fake_backend_new(struct loop *loop, const struct trace *tr,
		     const struct fake_backend_opts *opts, struct backend **ret);

/* Children spawned and not yet freed (leak checks). */
unsigned fake_backend_live_children(const struct backend *be);
/* Pid of the most recently spawned VMM, 0 if none (tests, diagnostics). */
pid_t fake_backend_last_pid(const struct backend *be);

#endif
