/* SPDX-License-Identifier: Apache-2.0 */
/*
 * backend: the VMM seam (DESIGN §3). The manager (core/service) drives every VMM
 * through this one vtable; it never knows whether the VM is simulated in-process,
 * a fakevmm or crosvm process, or a QEMU guest.
 *
 *   prepare(vm) -> plan    pure: argv, fds to inherit at fixed numbers, private
 *                          wiring. Golden-testable; no side effects.
 *   spawn(plan) -> child   starts the VMM; from then on the backend reports the
 *                          guest's notifications and exactly one exit through the sink.
 *   kill(child)            SIGKILL (as AVF); returns only after sink->exited ran,
 *                          so stop() returns with onDied already queued.
 *
 * Death-reason derivation is not per backend: backends report a struct vm_exit and
 * core/vm/death_reason.c decides.
 *
 * Re-entrancy contract: sink callbacks may call back into the backend (a callback
 * that stops the VM calls kill from inside sink->guest), and a callback that drops
 * the last handle makes the manager free the child (child_free) from inside the
 * sink call. A backend therefore either makes each sink call the last thing it
 * does with the child in that call chain (the simulator does), or guards the
 * child across the call and defers the free (the fake process backend keeps a
 * busy count). Nothing is reported after sink->exited.
 */
#ifndef AVF_BACKENDS_BACKEND_H
#define AVF_BACKENDS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <avf/avf_types.h>

#include "config/vm_config.h"
#include "loop/loop.h"
#include "trace/trace.h"
#include "vm/death_reason.h"

struct backend;
struct backend_child;

/* A notification from the guest (IVirtualMachineService, guest -> host). */
enum guest_event_kind {
	GUEST_PAYLOAD_STARTED,
	GUEST_PAYLOAD_READY,
	GUEST_PAYLOAD_FINISHED, /* value = exit code */
	GUEST_ERROR,            /* value = ErrorCode, message */
};

struct guest_event {
	enum guest_event_kind kind;
	int value;
	const char *message;
};

/* How a backend reports a VM's life to its manager. */
struct backend_sink {
	/* Returns the manager's verdict (negative errno if the transition was refused);
	 * a process backend sends it back to the guest as the call's result. */
	int (*guest)(void *ctx, const struct guest_event *ev);
	/* Exactly once per successfully spawned child. */
	void (*exited)(void *ctx, const struct vm_exit *exit);
};

/*
 * One disk as the VMM gets it (crosvm-spec §1.2 row 23, avf-spec 8): its final
 * image, and the files named inside that image (a composite's components).
 */
struct backend_disk {
	/* The image crosvm opens (--disk / --rwdisk): the config's image, or the
	 * composite spec built from its partitions at createVm (vmgr.c's
	 * vmgr_composite_disk). Always an open fd. */
	int fd;
	bool writable;
	/* Files a composite names as /proc/self/fd/N: its partitions, then its GPT
	 * header and footer and, when a read-only partition needs a tail, the zero
	 * filler (core/disk/cdisk_build.h). The VMM must inherit them at these very
	 * numbers (avf-spec 8.3); argv does not name them. None for an image disk. */
	const int *indirect_fds;
	size_t n_indirect;
};

/* What prepare() is given. */
struct backend_vm {
	uint32_t cid;
	const char *name;
	const char *temp_dir; /* per-VM directory, may be NULL for in-process backends */
	/*
	 * The VM's config. Its files (kernel_fd, initrd_fd, bootloader_fd; a disk's
	 * fds reach the backend through @disks) are the manager's, open until spawn()
	 * of the plan prepared from this has returned, as the console fds below.
	 */
	const struct vm_config *config;
	/* config->disks in order, as the VMM gets them; n_disks == config->n_disks. */
	const struct backend_disk *disks;
	size_t n_disks;
	/*
	 * createVm's consoleOutFd, consoleInFd and osLogFd; -1: none (0 is an fd: a
	 * zeroed struct means stdin three times, so set them). Owned by the manager
	 * and open until spawn() of the plan prepared from this has returned; a
	 * backend never closes them. The fake backend hands them to the VMM as AVF
	 * does (console out: ttyS0 and hvc0; console in: hvc0's input; log: hvc2);
	 * the simulated one ignores them.
	 */
	int console_out_fd;
	int console_in_fd;
	int log_fd;
};

struct backend_fd {
	int parent_fd; /* fd in the manager (not the plan's: open until spawn returns) */
	int child_fd;  /* number it must have in the VMM */
};

/* Result of prepare(): owned by the caller, freed with backend_plan_free(). */
struct backend_plan {
	char **argv; /* NULL-terminated; for display even when nothing is exec'd */
	size_t argc;
	struct backend_fd *fds;
	size_t n_fds;
	void *priv; /* backend-private, freed by priv_free */
	void (*priv_free)(void *priv);
};

struct backend_ops {
	const char *name;
	int (*prepare)(struct backend *be, const struct backend_vm *vm, struct backend_plan **ret);
	/* May take ownership of plan->priv (setting it NULL); the plan is freed by the caller. */
	int (*spawn)(struct backend *be, struct backend_plan *plan,
		     const struct backend_sink *sink, void *sink_ctx, struct backend_child **ret);
	int (*kill)(struct backend_child *child);
	/* Forget a child; if it is still running it is killed first (without reporting). */
	struct backend_child *(*child_free)(struct backend_child *child);
	/* Free the backend itself (all children freed before). */
	void (*destroy)(struct backend *be);
	/*
	 * IVirtualMachine.connectVsock's transport: a new stream connected to @port
	 * (>= 1024, checked by the caller) of the running guest, close-on-exec, in
	 * *ret_fd. NULL: the backend has no vsock to its guests (EX_UNSUPPORTED_OPERATION).
	 * The fake backend's "vsock" is a unix socket per port (docs/payload-api.md).
	 */
	int (*connect_vsock)(struct backend_child *child, uint32_t port, int *ret_fd);
};

/* Base of every backend; a backend embeds it first. */
struct backend {
	const struct backend_ops *ops;
	struct loop *loop;
	const struct trace *trace;
};

struct backend_plan *backend_plan_free(struct backend_plan *plan);
/* Append a copy of @arg to plan->argv. -ENOMEM. */
int backend_plan_add_arg(struct backend_plan *plan, const char *arg);
/* Append {@parent_fd, @child_fd} to plan->fds. -ENOMEM. */
int backend_plan_add_fd(struct backend_plan *plan, int parent_fd, int child_fd);
int backend_plan_new(struct backend_plan **ret);
/* Free a backend; accepts NULL; returns NULL. */
struct backend *backend_free(struct backend *be);

#endif
