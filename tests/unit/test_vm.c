/* SPDX-License-Identifier: Apache-2.0 */
/* The VM record: callback fan-out order, onDied exactly once, no replay, re-entrancy. */
#include "cmocka_wrap.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/avf_err.h"
#include "vm/vm.h"

static char log_buf[4096];

static void logf_(const char *s)
{
	strncat(log_buf, s, sizeof(log_buf) - strlen(log_buf) - 1);
}

struct cb {
	const char *name;
	struct vm *vm;         /* reference to drop from onDied, if set */
	struct vm *stop_vm;    /* VM to "kill" from onPayloadReady, if set */
	struct vm *register_vm;/* VM to register `late` on from onPayloadReady, if set */
	struct cb *late;
	int died;
	int released;
};

static void cb_log(struct cb *c, const char *what)
{
	char b[64];

	snprintf(b, sizeof(b), "%s:%s;", c->name, what);
	logf_(b);
}

static void on_started(void *d, uint32_t cid)
{
	cb_log(d, "started");
}

static const struct vm_callback_ops cb_ops;

static void on_ready(void *d, uint32_t cid)
{
	struct cb *c = d;

	cb_log(c, "ready");
	if (c->register_vm)
		assert_int_equal(vm_register_callback(c->register_vm, &cb_ops, c->late), 0);
	if (c->stop_vm) {
		struct vm_exit e = { .signaled = true, .code = SIGKILL };

		assert_int_equal(vm_apply(c->stop_vm, VM_EV_STOP), 0);
		assert_int_equal(vm_exited(c->stop_vm, &e), 0);
		/* onDied was queued, not delivered inside this callback */
		assert_null(strstr(log_buf, "died"));
	}
}

static void on_finished(void *d, uint32_t cid, int code)
{
	char b[32];

	snprintf(b, sizeof(b), "finished(%d)", code);
	cb_log(d, b);
}

static void on_error(void *d, uint32_t cid, enum avf_error_code code, const char *msg)
{
	char b[96];

	snprintf(b, sizeof(b), "error(%d,%s)", (int)code, msg);
	cb_log(d, b);
}

static void on_died(void *d, uint32_t cid, enum avf_death_reason reason)
{
	struct cb *c = d;

	c->died++;
	cb_log(c, death_reason_name(reason));
	if (c->vm)
		c->vm = vm_unref(c->vm);
}

static void on_release(void *d)
{
	((struct cb *)d)->released++;
}

static const struct vm_callback_ops cb_ops = {
	.payload_started = on_started,
	.payload_ready = on_ready,
	.payload_finished = on_finished,
	.error = on_error,
	.died = on_died,
	.release = on_release,
};

static int disposed;
static void on_dispose(struct vm *vm, void *owner)
{
	disposed++;
	logf_("dispose;");
}

static int setup(void **state)
{
	log_buf[0] = '\0';
	disposed = 0;
	avf_err_clear();
	return 0;
}

static struct vm *new_running_vm(void)
{
	struct vm *vm = NULL;

	assert_int_equal(vm_new(2048, "t", NULL, &vm), 0);
	vm_set_owner(vm, on_dispose, NULL);
	assert_int_equal(vm_state(vm), AVF_VM_STATE_NOT_STARTED);
	assert_int_equal(vm_apply(vm, VM_EV_SPAWNED), 0);
	assert_int_equal(vm_state(vm), AVF_VM_STATE_STARTING);
	return vm;
}

static void test_full_sequence_in_registration_order(void **state)
{
	struct cb a = { .name = "A" }, b = { .name = "B" };
	struct vm *vm = new_running_vm();
	struct vm_exit e = { .code = 0 };
	enum avf_death_reason reason;

	assert_int_equal(vm_register_callback(vm, &cb_ops, &a), 0);
	assert_int_equal(vm_register_callback(vm, &cb_ops, &b), 0);
	assert_int_equal(vm_payload_started(vm), 0);
	assert_int_equal(vm_state(vm), AVF_VM_STATE_STARTED);
	assert_int_equal(vm_payload_ready(vm), 0);
	assert_int_equal(vm_state(vm), AVF_VM_STATE_READY);
	assert_int_equal(vm_payload_finished(vm, 7), 0);
	assert_int_equal(vm_state(vm), AVF_VM_STATE_FINISHED);
	assert_false(vm_death_reason(vm, &reason));
	assert_int_equal(vm_exited(vm, &e), 0);
	assert_int_equal(vm_state(vm), AVF_VM_STATE_DEAD);
	assert_true(vm_death_reason(vm, &reason));
	assert_int_equal(reason, AVF_DEATH_SHUTDOWN);
	assert_string_equal(log_buf, "A:started;B:started;A:ready;B:ready;A:finished(7);B:finished(7);"
				     "A:SHUTDOWN;B:SHUTDOWN;");
	vm_unref(vm);
	assert_int_equal(disposed, 1);
	assert_int_equal(a.released, 1);
	assert_int_equal(b.released, 1);
}

static void test_rejected_events_reach_nobody(void **state)
{
	struct cb a = { .name = "A" };
	struct vm *vm = new_running_vm();
	struct vm_exit e = { .signaled = true, .code = SIGKILL };

	assert_int_equal(vm_register_callback(vm, &cb_ops, &a), 0);
	assert_int_equal(vm_payload_ready(vm), 0);
	assert_int_equal(vm_payload_started(vm), -EINVAL); /* backwards */
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_STATE);
	assert_int_equal(vm_payload_ready(vm), -EINVAL); /* twice */
	assert_int_equal(vm_payload_error(vm, AVF_ERROR_PAYLOAD_INVALID_CONFIG, "bad"), 0);
	assert_int_equal(vm_payload_finished(vm, 0), -EINVAL); /* after Finished */
	assert_int_equal(vm_exited(vm, &e), 0);
	assert_int_equal(vm_exited(vm, &e), -EINVAL); /* exit reported twice */
	assert_int_equal(vm_payload_started(vm), -ESRCH);
	assert_string_equal(log_buf, "A:ready;A:error(3,bad);A:KILLED;");
	assert_int_equal(a.died, 1);
	vm_unref(vm);
}

static void test_late_registration_gets_nothing(void **state)
{
	struct cb a = { .name = "A" }, late = { .name = "L" };
	struct vm *vm = new_running_vm();
	struct vm_exit e = { .signaled = true, .code = SIGKILL };

	assert_int_equal(vm_register_callback(vm, &cb_ops, &a), 0);
	assert_int_equal(vm_exited(vm, &e), 0);
	/* AVF A15 accepts a registration after death; it is never called */
	assert_int_equal(vm_register_callback(vm, &cb_ops, &late), 0);
	assert_int_equal(vm_callback_count(vm), 2);
	assert_string_equal(log_buf, "A:KILLED;");
	assert_int_equal(late.died, 0);
	vm_unref(vm);
	assert_int_equal(late.released, 1);
}

static void test_unref_inside_on_died(void **state)
{
	struct cb a = { .name = "A" }, b = { .name = "B" };
	struct vm *vm = new_running_vm();
	struct vm_exit e = { .code = 33 };

	/* A owns the only reference and drops it from onDied: B must still be called,
	 * and the record must outlive the fan-out. */
	a.vm = vm;
	assert_int_equal(vm_register_callback(vm, &cb_ops, &a), 0);
	assert_int_equal(vm_register_callback(vm, &cb_ops, &b), 0);
	assert_int_equal(vm_exited(vm, &e), 0);
	assert_null(a.vm);
	assert_string_equal(log_buf, "A:CRASH;B:CRASH;dispose;");
	assert_int_equal(disposed, 1);
	assert_int_equal(a.released, 1);
	assert_int_equal(b.released, 1);
}

static void test_kill_from_callback_keeps_order(void **state)
{
	struct cb a = { .name = "A" }, b = { .name = "B" };
	struct vm *vm = new_running_vm();

	/* A stops the VM from onPayloadReady: B still sees ready before anyone sees death. */
	a.stop_vm = vm;
	assert_int_equal(vm_register_callback(vm, &cb_ops, &a), 0);
	assert_int_equal(vm_register_callback(vm, &cb_ops, &b), 0);
	assert_int_equal(vm_payload_ready(vm), 0);
	assert_string_equal(log_buf, "A:ready;B:ready;A:KILLED;B:KILLED;");
	assert_int_equal(a.died, 1);
	assert_int_equal(b.died, 1);
	vm_unref(vm);
}

static void test_registration_during_fan_out(void **state)
{
	struct cb late = { .name = "L" };
	struct cb a = { .name = "A", .late = &late };
	struct vm *vm = new_running_vm();
	struct vm_exit e = { .code = 0 };

	/* Registered while onPayloadReady is being delivered: it missed ready (no
	 * replay) but was registered before death, so it gets onDied. */
	a.register_vm = vm;
	assert_int_equal(vm_register_callback(vm, &cb_ops, &a), 0);
	assert_int_equal(vm_payload_ready(vm), 0);
	a.register_vm = NULL;
	assert_int_equal(vm_exited(vm, &e), 0);
	assert_string_equal(log_buf, "A:ready;A:SHUTDOWN;L:SHUTDOWN;");
	vm_unref(vm);
}

static void test_many_callbacks_each_once(void **state)
{
	enum { N = 100 };
	struct cb cbs[N];
	struct vm *vm = new_running_vm();
	struct vm_exit e = { .signaled = true, .code = SIGKILL };

	for (int i = 0; i < N; i++) {
		cbs[i] = (struct cb){ .name = "x" };
		assert_int_equal(vm_register_callback(vm, &cb_ops, &cbs[i]), 0);
	}
	assert_int_equal(vm_exited(vm, &e), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(cbs[i].died, 1);
	vm_unref(vm);
	for (int i = 0; i < N; i++)
		assert_int_equal(cbs[i].released, 1);
}

static void test_hangup_reason_from_record(void **state)
{
	struct vm *vm = new_running_vm();
	struct vm_exit e = { .signaled = true, .code = SIGKILL };
	enum avf_death_reason reason;

	assert_int_equal(vm_apply(vm, VM_EV_BOOT_TIMEOUT), 0);
	assert_int_equal(vm_status(vm)->payload, VM_PAYLOAD_HANGUP);
	assert_int_equal(vm_state(vm), AVF_VM_STATE_DEAD);
	assert_int_equal(vm_exited(vm, &e), 0);
	assert_true(vm_death_reason(vm, &reason));
	assert_int_equal(reason, AVF_DEATH_HANGUP);
	vm_unref(vm);
}

static void test_apply_refuses_payload_events(void **state)
{
	struct vm *vm = new_running_vm();

	assert_int_equal(vm_apply(vm, VM_EV_PAYLOAD_READY), -EINVAL);
	assert_int_equal(vm_apply(vm, VM_EV_EXITED), -EINVAL);
	assert_int_equal(vm_state(vm), AVF_VM_STATE_STARTING);
	assert_int_equal(vm_unref(NULL), NULL);
	vm_unref(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_full_sequence_in_registration_order, setup),
		cmocka_unit_test_setup(test_rejected_events_reach_nobody, setup),
		cmocka_unit_test_setup(test_late_registration_gets_nothing, setup),
		cmocka_unit_test_setup(test_unref_inside_on_died, setup),
		cmocka_unit_test_setup(test_kill_from_callback_keeps_order, setup),
		cmocka_unit_test_setup(test_registration_during_fan_out, setup),
		cmocka_unit_test_setup(test_many_callbacks_each_once, setup),
		cmocka_unit_test_setup(test_hangup_reason_from_record, setup),
		cmocka_unit_test_setup(test_apply_refuses_payload_events, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
