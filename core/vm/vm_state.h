/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm_state: the pure lifecycle state machine of one VM (research/avf-spec.md 4.1,
 * 2.4, 2.7). A VM's status is a pair (run state, payload state); the public
 * VirtualMachineState is derived from it. Every change goes through
 * vm_status_apply(), so the whole machine is one table-testable function.
 */
#ifndef AVF_CORE_VM_VM_STATE_H
#define AVF_CORE_VM_VM_STATE_H

#include <avf/avf_types.h>

/* virtmgr's VmState. FAILED: spawning the VMM failed (reported as DEAD, no onDied). */
enum vm_run_state {
	VM_RUN_NOT_STARTED = 0,
	VM_RUN_RUNNING,
	VM_RUN_DEAD,
	VM_RUN_FAILED,
	VM_RUN__COUNT,
};

/* Payload state, ordered: it only moves forward (strictly greater). */
enum vm_payload_state {
	VM_PAYLOAD_STARTING = 0,
	VM_PAYLOAD_STARTED,
	VM_PAYLOAD_READY,
	VM_PAYLOAD_FINISHED,
	VM_PAYLOAD_HANGUP,
	VM_PAYLOAD__COUNT,
};

enum vm_event {
	VM_EV_SPAWNED = 0,     /* start(): the VMM child was spawned */
	VM_EV_SPAWN_FAILED,    /* start(): spawning failed */
	VM_EV_PAYLOAD_STARTED, /* guest: notifyPayloadStarted */
	VM_EV_PAYLOAD_READY,   /* guest: notifyPayloadReady */
	VM_EV_PAYLOAD_FINISHED,/* guest: notifyPayloadFinished */
	VM_EV_PAYLOAD_ERROR,   /* guest: notifyError (payload becomes Finished) */
	VM_EV_BOOT_TIMEOUT,    /* hangup monitor fired (payload becomes Hangup if not yet Started) */
	VM_EV_STOP,            /* stop()/kill requested (state changes when the child exits) */
	VM_EV_EXITED,          /* the VMM child exited (or waiting for it failed) */
	VM_EV__COUNT,
};

struct vm_status {
	enum vm_run_state run;
	enum vm_payload_state payload;
};

/*
 * Apply @ev to @cur. Returns 0 and sets *ret_next (which may equal *cur: e.g.
 * BOOT_TIMEOUT after the payload started is a no-op, STOP changes nothing until
 * EXITED). On a rejected event returns a negative errno, records AVF's message and
 * exception code (below), and leaves *ret_next untouched:
 *   start twice           -EALREADY, service-specific -1 "VM already started or failed"
 *   stop when not running -ESRCH,    service-specific -1 "VM is not running"
 *   payload not forward   -EINVAL,   EX_ILLEGAL_STATE "Invalid payload state transition: A -> B"
 *   payload when not running -ESRCH, EX_ILLEGAL_STATE "VM is not running"
 *   exit when not running -EINVAL,   EX_ILLEGAL_STATE
 */
int vm_status_apply(const struct vm_status *cur, enum vm_event ev, struct vm_status *ret_next);

/* The public VirtualMachineState for a status (avf-spec.md 2.4 table). */
enum avf_vm_state vm_status_public(const struct vm_status *s);

const char *vm_run_state_name(enum vm_run_state s);
const char *vm_payload_state_name(enum vm_payload_state s);
const char *vm_event_name(enum vm_event ev);
/* "NOT_STARTED", ..., "DEAD"; "UNKNOWN" for values outside the enum (e.g. 5). */
const char *avf_vm_state_name(enum avf_vm_state s);

#endif
