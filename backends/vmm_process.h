/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmm_process: a crosvm-shaped VMM as a child process, watched in the manager's
 * loop. What the fake backend (fakevmm) and the crosvm backend share: spawn with
 * fds at fixed numbers, the failure pipe, the control socket, the pidfd watch,
 * the exit report, kill and free. The backends differ only in prepare() and in
 * the fake's guest channel, plugged in here as a vmm_channel.
 *
 * spawn():
 *   - every fd is O_CLOEXEC in the manager; the child clears close-on-exec only
 *     on the fds meant for it, sets PR_SET_PDEATHSIG(SIGKILL) (checking that the
 *     parent did not die before), and execs. A failed exec comes back through a
 *     close-on-exec status pipe: spawn() fails with its -errno (the manager's
 *     spawn-failure path) and the child is reaped at once.
 *   - the placeholders of the plan's argv (crosvm_argv.h) are replaced with fd
 *     numbers: each slot's manager fd gets a duplicate of its own for the VMM
 *     (F_DUPFD_CLOEXEC above 2, so the VMM's stdio cannot be one; closed here once
 *     the child has it); {failure-pipe} is the write end of a new pipe (ttyS1),
 *     {control-socket} a new SOCK_SEQPACKET socket, listening (backlog 128, A15),
 *     bound to <temp_dir>/crosvm.sock (removed when the VMM exits) or, without a
 *     temp dir, autobound; the channel's slot is one end of a new socketpair.
 *   - plan->fds (parent == child: a composite's partitions) are inherited at
 *     their own numbers, as AVF preserves them (avf-spec 8.3).
 * While the VMM runs: the failure pipe is read as data arrives (kept up to
 * VMM_PROCESS_FAILURE_MAX bytes, the rest read and dropped so the guest never
 * blocks); each channel request becomes sink->guest() and its verdict the reply.
 * When the child is reaped: the pipe is drained to EOF and the exit reported with
 * sink->exited() (core/vm/death_reason.c decides the reason).
 *
 * kill(): SIGKILL through the pidfd (AVF's stop), then wait, bounded by
 * VMM_PROCESS_KILL_TIMEOUT_NS, so the exit has been reported when it returns.
 * stop(): crosvm's own `crosvm stop` first: "Exit" over the control socket, then
 * wait for the exit up to a deadline, and kill() if it has not come; same contract
 * as kill() (the exit reported when it returns). A VMM that obeys exits 0 (SHUTDOWN).
 * free() of a live VMM kills and reaps it without reporting. A child may be freed
 * from inside its own sink call (the manager drops the last reference there): the
 * memory then goes when that sink call returns.
 *
 * PR_SET_PDEATHSIG fires when the *thread* that forked exits: spawn from the
 * thread that runs the loop for the VMs' whole life.
 */
#ifndef AVF_BACKENDS_VMM_PROCESS_H
#define AVF_BACKENDS_VMM_PROCESS_H

#include <stddef.h>
#include <sys/types.h>

#include "backends/backend.h"
#include "backends/crosvm_argv.h"

/* Failure-channel bytes kept, as newer AVF (crosvm-spec §1.1). */
#define VMM_PROCESS_FAILURE_MAX 50000
/* How long kill() and free() wait for a SIGKILLed VMM to be reaped. */
#define VMM_PROCESS_KILL_TIMEOUT_NS (10ull * LOOP_NSEC_PER_SEC)
/* How long stop() waits after "Exit" before it kills: newer AVF's graceful-stop bound. */
#define VMM_PROCESS_STOP_TIMEOUT_NS (5ull * LOOP_NSEC_PER_SEC)
/* The control socket's name in the VM's temp dir (crosvm-spec §1.1, §3.4). */
#define VMM_PROCESS_CONTROL_SOCKET "crosvm.sock"

/*
 * A request channel from the guest (the fake backend's stand-in for
 * IVirtualMachineService): an AF_UNIX SOCK_SEQPACKET socketpair, one end named
 * in argv by @slot, the other watched here.
 */
struct vmm_channel_ops {
	const char *slot; /* the placeholder, e.g. "{guest-channel}" */
	size_t msg_size;  /* storage for one request */
	/*
	 * Read one request from @fd (non-blocking) into @msg, and the event it
	 * carries into @ev (which may point into @msg). 1: a request; -EAGAIN: nothing
	 * yet; 0: the peer closed; another -errno: a broken channel (avf_err says why).
	 */
	int (*recv)(int fd, void *msg, struct guest_event *ev);
	/* Answer the request in @msg with @verdict (0, or -errno described by avf_err_last()). */
	int (*reply)(int fd, const void *msg, int verdict);
};

/* Counters a backend keeps for tests and diagnostics. */
struct vmm_process_stats {
	unsigned live; /* children spawned and not yet freed */
	pid_t last_pid;
};

struct vmm_process_params {
	const char *path;                      /* the program to exec */
	const struct backend_plan *plan;       /* argv with placeholders; plan->fds */
	uint32_t cid;                          /* trace actor "vmm:<cid>" */
	const char *temp_dir;                  /* where crosvm.sock goes; NULL: autobind */
	const struct crosvm_slots *slots;      /* the manager's fds argv names */
	const struct vmm_channel_ops *channel; /* NULL: none */
	int log_fd; /* the VMM's stdout and stderr when > 2 (not owned); else the manager's */
	struct vmm_process_stats *stats; /* updated; must outlive the children */
};

/* Start the VMM; see the header comment. *ret until free(). */
int vmm_process_spawn(struct backend *be, const struct vmm_process_params *p,
		      const struct backend_sink *sink, void *sink_ctx, struct backend_child **ret);
/* backend_ops.kill. */
int vmm_process_kill(struct backend_child *c);
/* A kill that asks first: "Exit" on the control socket, SIGKILL after @timeout_ns. */
int vmm_process_stop(struct backend_child *c, uint64_t timeout_ns);
/* The backend that spawned @c. */
struct backend *vmm_process_backend(const struct backend_child *c);
/* The VM's CID given at spawn. */
uint32_t vmm_process_cid(const struct backend_child *c);
/* The VM's directory given at spawn (NULL: none), while the child exists. */
const char *vmm_process_temp_dir(const struct backend_child *c);
/* Whether the VMM has not been reaped yet. */
bool vmm_process_running(const struct backend_child *c);
/* backend_ops.child_free; accepts NULL; returns NULL. */
struct backend_child *vmm_process_free(struct backend_child *c);

#endif
