/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/vm_state.h"

#include <errno.h>

#include "base/avf_err.h"

static int payload_forward(const struct vm_status *cur, enum vm_payload_state to,
			   struct vm_status *next)
{
	if (cur->run != VM_RUN_RUNNING)
		return avf_err_set(-ESRCH, AVF_EX_ILLEGAL_STATE, "VM is not running");
	/* AVF: accepted only if strictly greater, so Ready may skip Started, and a
	 * second Ready, or anything after Finished but Hangup, is refused. */
	if (to <= cur->payload)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_STATE,
				   "Invalid payload state transition: %s -> %s",
				   vm_payload_state_name(cur->payload), vm_payload_state_name(to));
	next->run = cur->run;
	next->payload = to;
	return 0;
}

int vm_status_apply(const struct vm_status *cur, enum vm_event ev, struct vm_status *ret_next)
{
	struct vm_status next = *cur;
	int r;

	switch (ev) {
	case VM_EV_SPAWNED:
	case VM_EV_SPAWN_FAILED:
		if (cur->run != VM_RUN_NOT_STARTED)
			return avf_err_service(-EALREADY, "VM already started or failed");
		next.run = ev == VM_EV_SPAWNED ? VM_RUN_RUNNING : VM_RUN_FAILED;
		break;
	case VM_EV_PAYLOAD_STARTED:
		r = payload_forward(cur, VM_PAYLOAD_STARTED, &next);
		if (r < 0)
			return r;
		break;
	case VM_EV_PAYLOAD_READY:
		r = payload_forward(cur, VM_PAYLOAD_READY, &next);
		if (r < 0)
			return r;
		break;
	case VM_EV_PAYLOAD_FINISHED:
	case VM_EV_PAYLOAD_ERROR:
		r = payload_forward(cur, VM_PAYLOAD_FINISHED, &next);
		if (r < 0)
			return r;
		break;
	case VM_EV_BOOT_TIMEOUT:
		/* The hangup monitor only acts on a running VM whose payload has not
		 * reported Started; otherwise the timer is simply stale. */
		if (cur->run == VM_RUN_RUNNING && cur->payload < VM_PAYLOAD_STARTED)
			next.payload = VM_PAYLOAD_HANGUP;
		break;
	case VM_EV_STOP:
		if (cur->run != VM_RUN_RUNNING)
			return avf_err_service(-ESRCH, "VM is not running");
		break;
	case VM_EV_EXITED:
		if (cur->run != VM_RUN_RUNNING)
			return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_STATE,
					   "VMM exit reported for a VM that is %s",
					   vm_run_state_name(cur->run));
		next.run = VM_RUN_DEAD;
		break;
	default:
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "unknown VM event %d", (int)ev);
	}
	*ret_next = next;
	return 0;
}

enum avf_vm_state vm_status_public(const struct vm_status *s)
{
	switch (s->run) {
	case VM_RUN_NOT_STARTED:
		return AVF_VM_STATE_NOT_STARTED;
	case VM_RUN_RUNNING:
		switch (s->payload) {
		case VM_PAYLOAD_STARTING: return AVF_VM_STATE_STARTING;
		case VM_PAYLOAD_STARTED: return AVF_VM_STATE_STARTED;
		case VM_PAYLOAD_READY: return AVF_VM_STATE_READY;
		case VM_PAYLOAD_FINISHED: return AVF_VM_STATE_FINISHED;
		default: return AVF_VM_STATE_DEAD; /* Hangup: being killed */
		}
	default:
		return AVF_VM_STATE_DEAD; /* Dead, and Failed (spawn failure) */
	}
}

const char *vm_run_state_name(enum vm_run_state s)
{
	static const char *const names[] = { "NotStarted", "Running", "Dead", "Failed" };

	return (unsigned)s < VM_RUN__COUNT ? names[s] : "?";
}

const char *vm_payload_state_name(enum vm_payload_state s)
{
	static const char *const names[] = { "Starting", "Started", "Ready", "Finished", "Hangup" };

	return (unsigned)s < VM_PAYLOAD__COUNT ? names[s] : "?";
}

const char *vm_event_name(enum vm_event ev)
{
	static const char *const names[] = {
		"spawned", "spawn-failed", "payload-started", "payload-ready", "payload-finished",
		"payload-error", "boot-timeout", "stop", "exited",
	};

	return (unsigned)ev < VM_EV__COUNT ? names[ev] : "?";
}

const char *avf_vm_state_name(enum avf_vm_state s)
{
	switch (s) {
	case AVF_VM_STATE_NOT_STARTED: return "NOT_STARTED";
	case AVF_VM_STATE_STARTING: return "STARTING";
	case AVF_VM_STATE_STARTED: return "STARTED";
	case AVF_VM_STATE_READY: return "READY";
	case AVF_VM_STATE_FINISHED: return "FINISHED";
	case AVF_VM_STATE_DEAD: return "DEAD";
	}
	return "UNKNOWN";
}
