/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/vm.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"

struct vm_callback_reg {
	const struct vm_callback_ops *ops;
	void *data;
};

enum vm_note_kind { NOTE_STARTED, NOTE_READY, NOTE_FINISHED, NOTE_ERROR, NOTE_DIED };
#define NOTE_KINDS (NOTE_DIED + 1)

/* One queued notification; goes to callbacks [0, n_recipients). */
struct vm_note {
	struct vm_note *next;
	enum vm_note_kind kind;
	bool queued;
	bool message_lost; /* no memory for the copy: the event goes out without its text */
	unsigned n_recipients;
	int value; /* exit code, error code or death reason */
	char *message;
};

struct vm {
	unsigned refs;
	uint32_t cid;
	char *name;
	char actor[TRACE_ACTOR_MAX];
	const struct trace *trace;
	struct vm_status status;
	bool dead;
	enum avf_death_reason reason;

	struct vm_callback_reg *cbs;
	unsigned n_cbs, cap_cbs;

	/*
	 * One slot per kind, so that queueing never allocates: a notification lost to
	 * a failed allocation (onDied above all) would leave its client waiting
	 * forever. One is enough: payload states only move forward (FINISHED and
	 * ERROR both end the payload) and a VM exits once.
	 */
	struct vm_note notes[NOTE_KINDS];
	struct vm_note *queue_head, **queue_tail;
	bool draining;

	vm_dispose_fn dispose;
	void *dispose_data;
};

int vm_new(uint32_t cid, const char *name, const struct trace *tr, struct vm **ret)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (!vm)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory creating VM record");
	if (name) {
		vm->name = strdup(name);
		if (!vm->name) {
			free(vm);
			return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC,
					   "out of memory creating VM record");
		}
	}
	vm->refs = 1;
	vm->cid = cid;
	vm->trace = tr;
	snprintf(vm->actor, sizeof(vm->actor), "vm:%u", cid);
	vm->queue_tail = &vm->queue_head;
	*ret = vm;
	return 0;
}

struct vm *vm_ref(struct vm *vm)
{
	vm->refs++;
	return vm;
}

static void vm_free(struct vm *vm)
{
	if (vm->dispose)
		vm->dispose(vm, vm->dispose_data);
	/* A drain always finishes before the last reference can go (it holds one). */
	while (vm->queue_head) {
		struct vm_note *n = vm->queue_head;

		vm->queue_head = n->next;
		free(n->message);
	}
	for (unsigned i = 0; i < vm->n_cbs; i++)
		if (vm->cbs[i].ops->release)
			vm->cbs[i].ops->release(vm->cbs[i].data);
	free(vm->cbs);
	free(vm->name);
	free(vm);
}

struct vm *vm_unref(struct vm *vm)
{
	if (vm && --vm->refs == 0)
		vm_free(vm);
	return NULL;
}

void vm_set_owner(struct vm *vm, vm_dispose_fn fn, void *owner)
{
	vm->dispose = fn;
	vm->dispose_data = owner;
}

void *vm_owner(const struct vm *vm)
{
	return vm->dispose_data;
}

uint32_t vm_cid(const struct vm *vm)
{
	return vm->cid;
}

const char *vm_name(const struct vm *vm)
{
	return vm->name ? vm->name : "";
}

const struct vm_status *vm_status(const struct vm *vm)
{
	return &vm->status;
}

enum avf_vm_state vm_state(const struct vm *vm)
{
	return vm_status_public(&vm->status);
}

bool vm_death_reason(const struct vm *vm, enum avf_death_reason *ret)
{
	if (vm->dead && ret)
		*ret = vm->reason;
	return vm->dead;
}

unsigned vm_callback_count(const struct vm *vm)
{
	return vm->n_cbs;
}

int vm_register_callback(struct vm *vm, const struct vm_callback_ops *ops, void *data)
{
	if (vm->n_cbs == vm->cap_cbs) {
		unsigned cap = vm->cap_cbs ? vm->cap_cbs * 2 : 4;
		struct vm_callback_reg *cbs = realloc(vm->cbs, cap * sizeof(*cbs));

		if (!cbs)
			return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC,
					   "out of memory registering callback");
		vm->cbs = cbs;
		vm->cap_cbs = cap;
	}
	vm->cbs[vm->n_cbs].ops = ops;
	vm->cbs[vm->n_cbs].data = data;
	vm->n_cbs++;
	trace_emitf(vm->trace, vm->actor, "callback cb%u registered%s", vm->n_cbs,
		    vm->dead ? " after death (never called)" : "");
	return 0;
}

static const char *note_message(const struct vm_note *n)
{
	if (n->message_lost)
		return "(message lost: out of memory)";
	return n->message ? n->message : "";
}

static void deliver(struct vm *vm, const struct vm_note *n, unsigned i)
{
	const struct vm_callback_ops *ops = vm->cbs[i].ops;
	void *data = vm->cbs[i].data;

	switch (n->kind) {
	case NOTE_STARTED:
		trace_emitf(vm->trace, vm->actor, "cb%u onPayloadStarted", i + 1);
		if (ops->payload_started)
			ops->payload_started(data, vm->cid);
		break;
	case NOTE_READY:
		trace_emitf(vm->trace, vm->actor, "cb%u onPayloadReady", i + 1);
		if (ops->payload_ready)
			ops->payload_ready(data, vm->cid);
		break;
	case NOTE_FINISHED:
		trace_emitf(vm->trace, vm->actor, "cb%u onPayloadFinished(%d)", i + 1, n->value);
		if (ops->payload_finished)
			ops->payload_finished(data, vm->cid, n->value);
		break;
	case NOTE_ERROR:
		trace_emitf(vm->trace, vm->actor, "cb%u onError(%d, \"%s\")", i + 1, n->value,
			    note_message(n));
		if (ops->error)
			ops->error(data, vm->cid, (enum avf_error_code)n->value, note_message(n));
		break;
	case NOTE_DIED:
		trace_emitf(vm->trace, vm->actor, "cb%u onDied(%s)", i + 1,
			    death_reason_name((enum avf_death_reason)n->value));
		if (ops->died)
			ops->died(data, vm->cid, (enum avf_death_reason)n->value);
		break;
	}
}

/* Deliver queued notifications in order. Callbacks may re-enter: they only queue. */
static void vm_drain(struct vm *vm)
{
	if (vm->draining)
		return;
	vm->draining = true;
	vm_ref(vm); /* a callback may drop the last outside reference */
	while (vm->queue_head) {
		struct vm_note *n = vm->queue_head;

		vm->queue_head = n->next;
		if (!vm->queue_head)
			vm->queue_tail = &vm->queue_head;
		/* Index, not pointer: a callback may register another and move the array. */
		for (unsigned i = 0; i < n->n_recipients; i++)
			deliver(vm, n, i);
		free(n->message);
		n->message = NULL;
		n->queued = false;
	}
	vm->draining = false;
	vm_unref(vm);
}

/* Cannot fail: the slot of @kind is free (the state machine let the event through once). */
static void vm_queue(struct vm *vm, enum vm_note_kind kind, int value, const char *message)
{
	struct vm_note *n = &vm->notes[kind];

	assert(!n->queued);
	n->kind = kind;
	n->queued = true;
	n->value = value;
	n->message = message ? strdup(message) : NULL;
	n->message_lost = message && !n->message;
	n->n_recipients = vm->n_cbs;
	n->next = NULL;
	*vm->queue_tail = n;
	vm->queue_tail = &n->next;
}

/* Apply @ev and trace any visible change. */
static int vm_transition(struct vm *vm, enum vm_event ev)
{
	struct vm_status next;
	enum avf_vm_state before = vm_state(vm);
	int r = vm_status_apply(&vm->status, ev, &next);

	if (r < 0) {
		trace_emitf(vm->trace, vm->actor, "%s rejected: %s", vm_event_name(ev),
			    avf_err_last()->msg);
		return r;
	}
	vm->status = next;
	if (vm_state(vm) != before)
		trace_emitf(vm->trace, vm->actor, "state %s", avf_vm_state_name(vm_state(vm)));
	return 0;
}

int vm_apply(struct vm *vm, enum vm_event ev)
{
	switch (ev) {
	case VM_EV_SPAWNED:
	case VM_EV_SPAWN_FAILED:
	case VM_EV_STOP:
	case VM_EV_BOOT_TIMEOUT:
		return vm_transition(vm, ev);
	default:
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "vm_apply: event %s needs its own function", vm_event_name(ev));
	}
}

static int vm_payload_event(struct vm *vm, enum vm_event ev, enum vm_note_kind kind, int value,
			    const char *message)
{
	int r = vm_transition(vm, ev);

	if (r < 0)
		return r;
	vm_queue(vm, kind, value, message);
	vm_drain(vm);
	return 0;
}

int vm_payload_started(struct vm *vm)
{
	return vm_payload_event(vm, VM_EV_PAYLOAD_STARTED, NOTE_STARTED, 0, NULL);
}

int vm_payload_ready(struct vm *vm)
{
	return vm_payload_event(vm, VM_EV_PAYLOAD_READY, NOTE_READY, 0, NULL);
}

int vm_payload_finished(struct vm *vm, int exit_code)
{
	return vm_payload_event(vm, VM_EV_PAYLOAD_FINISHED, NOTE_FINISHED, exit_code, NULL);
}

int vm_payload_error(struct vm *vm, enum avf_error_code code, const char *message)
{
	return vm_payload_event(vm, VM_EV_PAYLOAD_ERROR, NOTE_ERROR, (int)code,
				message ? message : "");
}

int vm_exited(struct vm *vm, const struct vm_exit *exit)
{
	struct vm_exit e = *exit;
	int r;

	e.payload_hangup = vm->status.payload == VM_PAYLOAD_HANGUP;
	r = vm_transition(vm, VM_EV_EXITED);
	if (r < 0)
		return r;
	vm->dead = true;
	vm->reason = death_reason_derive(&e);
	if (e.wait_failed)
		trace_emitf(vm->trace, vm->actor, "exit: waiting for the VMM failed -> %s",
			    death_reason_name(vm->reason));
	else
		trace_emitf(vm->trace, vm->actor, "exit: %s %d%s%s%s -> %s",
			    e.signaled ? "signal" : "status", e.code,
			    e.failure && *e.failure ? ", failure \"" : "",
			    e.failure && *e.failure ? e.failure : "",
			    e.failure && *e.failure ? "\"" : "", death_reason_name(vm->reason));
	vm_queue(vm, NOTE_DIED, (int)vm->reason, NULL);
	vm_drain(vm);
	return 0;
}
