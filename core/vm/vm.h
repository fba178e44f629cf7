/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm: the record of one VM (AVF's VmInstance) — identity, lifecycle status,
 * death reason, and the callbacks registered on it.
 *
 * Lifetime: refcounted. Whoever needs the record alive holds a reference: every
 * IVirtualMachine handle (core/handle), the running VMM watch, a fan-out in
 * progress. When the last one goes, the dispose hook runs (the owner releases the
 * CID there), every callback registration is released, and the record is freed.
 * So a CID is reused only after the VM is dead and every handle is gone.
 *
 * Callbacks (IVirtualMachineCallback is a oneway interface): every notification
 * is appended to a per-VM FIFO together with the number of callbacks registered
 * at that moment, and the FIFO is drained at the end of the operation that
 * queued it. Draining is not re-entrant: a callback that calls back into the VM
 * (stop() from onPayloadReady, unref from onDied, registering another callback)
 * only queues, and the outer drain delivers in order. Hence:
 *   - each callback sees events in the order they happened, never nested;
 *   - onDied goes exactly once to every callback registered before the death,
 *     in registration order; a callback registered after it gets nothing;
 *   - dropping references from inside a callback is safe (the drain holds one).
 */
#ifndef AVF_CORE_VM_VM_H
#define AVF_CORE_VM_VM_H

#include <stdbool.h>
#include <stdint.h>

#include <avf/avf_types.h>

#include "trace/trace.h"
#include "vm/death_reason.h"
#include "vm/vm_state.h"

struct vm;

/* Any member may be NULL. @data is the registration's own pointer. */
struct vm_callback_ops {
	void (*payload_started)(void *data, uint32_t cid);
	void (*payload_ready)(void *data, uint32_t cid);
	void (*payload_finished)(void *data, uint32_t cid, int exit_code);
	void (*error)(void *data, uint32_t cid, enum avf_error_code code, const char *message);
	void (*died)(void *data, uint32_t cid, enum avf_death_reason reason);
	/* The registration is dropped (the VM record is freed). */
	void (*release)(void *data);
};

typedef void (*vm_dispose_fn)(struct vm *vm, void *owner);

/* New record in NOT_STARTED with one reference. @name is copied; may be NULL. */
int vm_new(uint32_t cid, const char *name, const struct trace *tr, struct vm **ret);
struct vm *vm_ref(struct vm *vm);
/* Drop a reference; NULL is accepted. Always returns NULL. */
struct vm *vm_unref(struct vm *vm);
/* The owner of the record (the manager): @fn is called once, when the last
 * reference goes, before callbacks are released; vm_owner() returns @owner. */
void vm_set_owner(struct vm *vm, vm_dispose_fn fn, void *owner);
void *vm_owner(const struct vm *vm);

uint32_t vm_cid(const struct vm *vm);
const char *vm_name(const struct vm *vm);
const struct vm_status *vm_status(const struct vm *vm);
enum avf_vm_state vm_state(const struct vm *vm);
/* True once the VMM's exit was processed; then *ret is the reason. */
bool vm_death_reason(const struct vm *vm, enum avf_death_reason *ret);
unsigned vm_callback_count(const struct vm *vm);

/* Append a callback (no de-duplication, no replay; accepted even after death). */
int vm_register_callback(struct vm *vm, const struct vm_callback_ops *ops, void *data);

/*
 * Lifecycle events. Each applies the state machine (vm_status_apply; errors and
 * messages are its), traces the change and queues/drains the callbacks it implies.
 */
int vm_apply(struct vm *vm, enum vm_event ev); /* SPAWNED, SPAWN_FAILED, STOP, BOOT_TIMEOUT */
int vm_payload_started(struct vm *vm);
int vm_payload_ready(struct vm *vm);
int vm_payload_finished(struct vm *vm, int exit_code);
int vm_payload_error(struct vm *vm, enum avf_error_code code, const char *message);
/* The VMM ended: state DEAD, reason derived (payload Hangup taken from the record), onDied queued. */
int vm_exited(struct vm *vm, const struct vm_exit *exit);

#endif
