/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmgr: the VM manager at the heart of virtmgr — IVirtualizationService.createVm
 * and IVirtualMachine.start/stop — as glue of the model (vm, handle), a global VM
 * context provider (CIDs), a backend and the event loop. No I/O of its own: the
 * daemon wraps it in IPC, tests drive it directly on a virtual clock.
 *
 * Rules it implements (research/avf-spec.md 3, 4):
 *   - createVm takes a global VM context (CID) first, prepares the VMM plan and
 *     returns a NOT_STARTED VM's handle;
 *   - start() spawns the VMM; a spawn failure leaves the VM DEAD (Failed) with no
 *     onDied; start() twice fails;
 *   - app VMs whose payload does not report Started within the boot hangup timeout
 *     (AVF: 30 s) are killed and die with HANGUP;
 *   - stop() sends SIGKILL and returns after onDied was queued; dropping the last
 *     handle does the same;
 *   - the context (CID) is released when the VM record goes: dead and every
 *     handle gone;
 *   - createVm's console and log fds, and the config's files (kernel, initrd,
 *     bootloader, disks), go to the backend and are closed right after the
 *     spawn attempt (AVF keeps no copy), or with an unstarted VM;
 *   - a disk of partitions becomes a composite image at createVm (avf-spec 8,
 *     core/disk), in the VM's temp dir (or, from a context without one, a
 *     directory of the VM's own); its files are removed when the VM goes.
 */
#ifndef AVF_CORE_SERVICE_VMGR_H
#define AVF_CORE_SERVICE_VMGR_H

#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"
#include "config/vm_config.h"
#include "handle/vm_handle.h"
#include "loop/loop.h"
#include "trace/trace.h"
#include "vm/vm.h"

/* AVF's BOOT_HANGUP_TIMEOUT for app VMs (A15). */
#define VMGR_BOOT_HANGUP_NS (30ull * LOOP_NSEC_PER_SEC)

/*
 * Where global VM contexts come from: virtualizationservice, or a local allocator.
 *
 * acquire() may wait for virtualizationservice by running the loop (core/ipc's
 * ipc_call): anything else on the loop may run meanwhile, including other vmgr
 * calls and VM exits. vmgr_create_vm() holds no manager state across it (the new
 * VM is linked in only after it returns), so that is safe.
 */
struct vmgr_context_ops {
	/* Grant a context; *ret_temp_dir (malloc'd, may be set to NULL) is the per-VM dir. */
	int (*acquire)(void *data, const char *name, uint32_t *ret_cid, char **ret_temp_dir);
	/* Must not block nor run the loop: it is called from inside VM exits. */
	void (*release)(void *data, uint32_t cid);
	/*
	 * Optional: the VM's public state changed (virtualizationservice shows it in
	 * debugListVms). Called once per change, in order, before the callbacks of
	 * that change run; DEAD comes before release(). Runs inside lifecycle changes:
	 * must not block nor run the loop.
	 */
	void (*set_state)(void *data, uint32_t cid, enum avf_vm_state state);
};

struct vmgr_params {
	struct loop *loop;
	struct backend *backend;
	const struct vmgr_context_ops *context;
	void *context_data;
	const struct trace *trace;  /* may be NULL */
	uint64_t boot_hangup_ns;    /* 0: VMGR_BOOT_HANGUP_NS */
};

struct vmgr;

struct vmgr_vm_info {
	uint32_t cid;
	enum avf_vm_state state;
	const char *name;     /* valid until the VM goes */
	const char *temp_dir; /* may be NULL */
};

int vmgr_new(const struct vmgr_params *p, struct vmgr **ret);
/* Every handle must have been dropped before (asserted). Accepts NULL; returns NULL. */
struct vmgr *vmgr_free(struct vmgr *m);

/* createVm's three nullable fds; -1: none. */
struct vmgr_vm_fds {
	int console_out; /* consoleOutFd: ttyS0 and hvc0 output */
	int console_in;  /* consoleInFd: hvc0 input */
	int log;         /* osLogFd: hvc2 */
};

/*
 * createVm: validates @config, copies it (its files duplicated: the caller keeps
 * @config's), takes a context, assembles the disks, prepares the VMM. The VM's
 * copies of the config's files go to the backend and are closed right after the
 * spawn attempt, as the console fds below, or when the VM goes unstarted.
 */
int vmgr_create_vm(struct vmgr *m, const struct vm_config *config, struct vm_handle **ret);
/*
 * createVm with the VM's console and log fds (@fds may be NULL: none). They are
 * taken over whatever the result (closed before an error returns; distinct fds or
 * -1): kept with the VM, given to the backend's prepare() and spawn(), and closed
 * right after the spawn attempt (AVF hands them to crosvm and keeps no copy, so
 * the client's ends see EOF when the VMM exits), or when the VM goes unstarted.
 */
int vmgr_create_vm_fds(struct vmgr *m, const struct vm_config *config,
		       const struct vmgr_vm_fds *fds, struct vm_handle **ret);
int vmgr_start(struct vmgr *m, struct vm_handle *h);
int vmgr_stop(struct vmgr *m, struct vm_handle *h);
/*
 * IVirtualMachine.connectVsock after the caller's state and port checks: a stream
 * to the guest's @port through the backend (close-on-exec, the caller's). The VM
 * must have a running VMM (service-specific -ESRCH otherwise); a backend without
 * vsock is EX_UNSUPPORTED_OPERATION; nothing listening is service-specific.
 */
int vmgr_connect_vsock(struct vmgr *m, struct vm_handle *h, uint32_t port, int *ret_fd);

/* VMs whose record still exists (created, running, or dead with handles left). */
size_t vmgr_vm_count(const struct vmgr *m);
/* Fill up to @max rows, oldest first; returns the total number of VMs. */
size_t vmgr_list(const struct vmgr *m, struct vmgr_vm_info *out, size_t max);

#endif
