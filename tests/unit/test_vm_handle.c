/* SPDX-License-Identifier: Apache-2.0 */
/* Handles: the last reference shuts the VM down, exactly once, and only the last. */
#include "cmocka_wrap.h"

#include <signal.h>

#include "handle/vm_handle.h"

static int last_calls, disposed;
static enum avf_vm_state state_at_last;

static void on_last(struct vm *vm, void *data)
{
	last_calls++;
	state_at_last = vm_state(vm);
	if (vm_status(vm)->run == VM_RUN_RUNNING) {
		struct vm_exit e = { .signaled = true, .code = SIGKILL };

		assert_int_equal(vm_apply(vm, VM_EV_STOP), 0);
		assert_int_equal(vm_exited(vm, &e), 0);
	}
}

static void on_dispose(struct vm *vm, void *owner)
{
	disposed++;
}

static int setup(void **state)
{
	last_calls = disposed = 0;
	return 0;
}

static void test_last_unref_kills_running_vm(void **state)
{
	struct vm *vm;
	struct vm_handle *h;
	enum avf_death_reason reason;

	assert_int_equal(vm_new(2049, "h", NULL, &vm), 0);
	vm_set_owner(vm, on_dispose, NULL);
	assert_int_equal(vm_handle_new(vm, on_last, NULL, &h), 0);
	vm_unref(vm); /* the handle holds the record now */
	assert_int_equal(vm_apply(vm, VM_EV_SPAWNED), 0);

	vm_handle_ref(h);
	vm_handle_ref(h);
	assert_int_equal(vm_handle_refs(h), 3);
	assert_null(vm_handle_unref(h));
	assert_null(vm_handle_unref(h));
	assert_int_equal(last_calls, 0);
	assert_int_equal(vm_state(vm), AVF_VM_STATE_STARTING);

	/* keep the record to look at it after the handle goes */
	vm_ref(vm);
	assert_null(vm_handle_unref(h));
	assert_int_equal(last_calls, 1);
	assert_int_equal(state_at_last, AVF_VM_STATE_STARTING);
	assert_int_equal(vm_state(vm), AVF_VM_STATE_DEAD);
	assert_true(vm_death_reason(vm, &reason));
	assert_int_equal(reason, AVF_DEATH_KILLED);
	assert_int_equal(disposed, 0);
	vm_unref(vm);
	assert_int_equal(disposed, 1);
}

static void test_unref_null(void **state)
{
	assert_null(vm_handle_unref(NULL));
}

static void test_not_started_vm_dropped(void **state)
{
	struct vm *vm;
	struct vm_handle *h;

	assert_int_equal(vm_new(2050, NULL, NULL, &vm), 0);
	vm_set_owner(vm, on_dispose, NULL);
	assert_int_equal(vm_handle_new(vm, on_last, NULL, &h), 0);
	assert_ptr_equal(vm_handle_vm(h), vm);
	vm_unref(vm); /* the handle is now the only holder */
	assert_int_equal(disposed, 0);
	vm_handle_unref(h);
	assert_int_equal(last_calls, 1);
	assert_int_equal(state_at_last, AVF_VM_STATE_NOT_STARTED);
	assert_int_equal(disposed, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_last_unref_kills_running_vm, setup),
		cmocka_unit_test_setup(test_unref_null, setup),
		cmocka_unit_test_setup(test_not_started_vm_dropped, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
