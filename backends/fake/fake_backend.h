/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake_backend: the process backend over fakevmm (fakes/fakevmm), the real-process
 * sibling of fakes/sim. Every VM is a fakevmm child started with a crosvm-shaped
 * command line (A15 order, crosvm-spec §1.2), watched by pidfd in the manager's loop.
 *
 * prepare() is pure: it parses the guest script (a bad one fails createVm), and
 * builds the argv. fds that only exist at spawn are named in that argv by
 * placeholders, substituted by spawn() with the real fd numbers (which the child
 * keeps, as AVF does):
 *
 *   /proc/self/fd/{failure-pipe}   write end of the failure pipe (ttyS1)
 *   /proc/self/fd/{guest-channel}  child end of the guest-channel socketpair
 *   /proc/self/fd/{control-socket} listening crosvm control socket
 *   /proc/self/fd/{console-out}    the VM's console fd (ttyS0 and hvc0, as AVF)
 *   /proc/self/fd/{console-in}     the VM's console input (hvc0's input=)
 *   /proc/self/fd/{log}            the VM's log fd (hvc2)
 *
 * The last three come from backend_vm (createVm's consoleOutFd, consoleInFd,
 * osLogFd) and are named only when the VM has them; the serial words are A15's
 * (crosvm-spec §1.2 rows 15-19), a missing fd making its device `type=sink`:
 *
 *   --serial=type=file,path=/proc/self/fd/{console-out},hardware=serial,num=1
 *   --serial=type=file,path=/proc/self/fd/{failure-pipe},hardware=serial,num=2
 *   --serial=type=file,path=/proc/self/fd/{console-out},input=/proc/self/fd/{console-in},
 *            hardware=virtio-console,num=1                       (one word)
 *   --serial=type=sink,hardware=virtio-console,num=2            (ramdump: always a sink)
 *   --serial=type=file,path=/proc/self/fd/{log},hardware=virtio-console,num=3
 *
 * spawn() gives the VMM its own copies of those three fds (F_DUPFD_CLOEXEC above
 * 2, closed in the manager once the child has them); the manager's own fds are
 * only read at spawn and stay the manager's to close.
 *
 * The guest script travels in a kernel parameter, `--params avf.fake_script=<S>`,
 * S being the script percent-encoded (every byte outside [A-Za-z0-9._~-] as %XX),
 * so it is one argv word and one kernel-cmdline token. No script: no parameter,
 * and fakevmm runs GSCRIPT_DEFAULT.
 *
 * spawn(): fds O_CLOEXEC in the manager; in the child CLOEXEC is cleared only on
 * the fds meant for it, PR_SET_PDEATHSIG(SIGKILL) is set, then exec. A failed exec
 * is reported through a CLOEXEC status pipe, so spawn() fails (-errno, the
 * manager's spawn-failure path) and the child is reaped at once. A script whose
 * first step is spawn-fail fails spawn() with -ECHILD without forking.
 * The control socket is bound to <temp_dir>/crosvm.sock when the VM has a temp
 * dir (removed when the VMM exits), else to an autobound abstract address.
 *
 * While the VMM runs: guest requests become sink->guest() and the verdict is sent
 * back as the reply; the failure pipe is read as data arrives (kept up to
 * FAKE_BACKEND_FAILURE_MAX bytes, the rest discarded so the guest never blocks).
 * When the child is reaped: the pipe is drained to EOF, the exit is reported
 * with sink->exited(). A guest that breaks the channel protocol loses its channel
 * (it then exits 1, START_FAILED).
 *
 * kill(): SIGKILL through the pidfd, then wait (bounded by FAKE_BACKEND_KILL_TIMEOUT_NS)
 * so the exit has been reported when it returns. child_free() of a live VMM kills
 * and reaps it without reporting. A child may be freed from inside its own sink
 * call (the manager drops the last reference there): the memory is then released
 * when that sink call returns.
 *
 * PR_SET_PDEATHSIG fires when the *thread* that forked exits: spawn from the
 * thread that runs the loop for the VMs' whole life.
 */
#ifndef AVF_BACKENDS_FAKE_FAKE_BACKEND_H
#define AVF_BACKENDS_FAKE_FAKE_BACKEND_H

#include <sys/types.h>

#include "backends/backend.h"

/* Failure-channel bytes kept, as newer AVF (crosvm-spec §1.1). */
#define FAKE_BACKEND_FAILURE_MAX 50000
/* How long kill() and child_free() wait for a SIGKILLed VMM to be reaped. */
#define FAKE_BACKEND_KILL_TIMEOUT_NS (10ull * LOOP_NSEC_PER_SEC)

#define FAKE_BACKEND_FD_FAILURE     "{failure-pipe}"
#define FAKE_BACKEND_FD_GUEST       "{guest-channel}"
#define FAKE_BACKEND_FD_CONTROL     "{control-socket}"
#define FAKE_BACKEND_FD_CONSOLE_OUT "{console-out}"
#define FAKE_BACKEND_FD_CONSOLE_IN  "{console-in}"
#define FAKE_BACKEND_FD_LOG         "{log}"

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
