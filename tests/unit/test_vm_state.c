/* SPDX-License-Identifier: Apache-2.0 */
/* The VM state machine: every (reachable status x event) cell against a table written
 * out by hand from research/avf-spec.md 2.4, 2.7 and 4.1, not derived from the code. */
#include "cmocka_wrap.h"

#include <errno.h>
#include <string.h>

#include "base/avf_err.h"
#include "vm/vm_state.h"

/* Status as two characters: run (N R D F) + payload (0 Starting .. 4 Hangup). */
static struct vm_status st(const char *s)
{
	struct vm_status v;

	v.run = s[0] == 'N' ? VM_RUN_NOT_STARTED
	      : s[0] == 'R' ? VM_RUN_RUNNING
	      : s[0] == 'D' ? VM_RUN_DEAD
			    : VM_RUN_FAILED;
	v.payload = (enum vm_payload_state)(s[1] - '0');
	return v;
}

/* Columns: spawned, spawn-failed, p-started, p-ready, p-finished, p-error, boot-timeout,
 * stop, exited. A cell is the next status, or !A (-EALREADY), !S (-ESRCH), !I (-EINVAL). */
static const struct {
	const char *from;
	const char *cells[VM_EV__COUNT];
} table[] = {
	{ "N0", { "R0", "F0", "!S", "!S", "!S", "!S", "N0", "!S", "!I" } },
	{ "F0", { "!A", "!A", "!S", "!S", "!S", "!S", "F0", "!S", "!I" } },
	{ "R0", { "!A", "!A", "R1", "R2", "R3", "R3", "R4", "R0", "D0" } },
	{ "R1", { "!A", "!A", "!I", "R2", "R3", "R3", "R1", "R1", "D1" } },
	{ "R2", { "!A", "!A", "!I", "!I", "R3", "R3", "R2", "R2", "D2" } },
	{ "R3", { "!A", "!A", "!I", "!I", "!I", "!I", "R3", "R3", "D3" } },
	{ "R4", { "!A", "!A", "!I", "!I", "!I", "!I", "R4", "R4", "D4" } },
	{ "D0", { "!A", "!A", "!S", "!S", "!S", "!S", "D0", "!S", "!I" } },
	{ "D1", { "!A", "!A", "!S", "!S", "!S", "!S", "D1", "!S", "!I" } },
	{ "D2", { "!A", "!A", "!S", "!S", "!S", "!S", "D2", "!S", "!I" } },
	{ "D3", { "!A", "!A", "!S", "!S", "!S", "!S", "D3", "!S", "!I" } },
	{ "D4", { "!A", "!A", "!S", "!S", "!S", "!S", "D4", "!S", "!I" } },
};

static void test_every_cell(void **state)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		for (int ev = 0; ev < VM_EV__COUNT; ev++) {
			struct vm_status from = st(table[i].from);
			struct vm_status next = { .run = VM_RUN__COUNT, .payload = VM_PAYLOAD__COUNT };
			const char *want = table[i].cells[ev];
			int r = vm_status_apply(&from, (enum vm_event)ev, &next);

			if (want[0] == '!') {
				int err = want[1] == 'A' ? -EALREADY : want[1] == 'S' ? -ESRCH : -EINVAL;

				if (r != err)
					fail_msg("%s x %s: got %d, want %s", table[i].from,
						 vm_event_name(ev), r, want);
				/* out-parameter untouched on failure */
				assert_int_equal(next.run, VM_RUN__COUNT);
				assert_int_equal(next.payload, VM_PAYLOAD__COUNT);
				assert_int_equal(avf_err_last()->err, err);
				assert_true(avf_err_last()->msg[0] != '\0');
			} else {
				struct vm_status w = st(want);

				if (r != 0 || next.run != w.run || next.payload != w.payload)
					fail_msg("%s x %s: got r=%d %s/%s, want %s", table[i].from,
						 vm_event_name(ev), r, vm_run_state_name(next.run),
						 vm_payload_state_name(next.payload), want);
			}
		}
	}
}

static void test_error_messages_and_codes(void **state)
{
	struct vm_status next, s;

	s = st("R0");
	assert_int_equal(vm_status_apply(&s, VM_EV_SPAWNED, &next), -EALREADY);
	assert_string_equal(avf_err_last()->msg, "VM already started or failed");
	assert_int_equal(avf_err_last()->ex, AVF_EX_SERVICE_SPECIFIC);
	assert_int_equal(avf_err_last()->service_code, -1);

	s = st("D3");
	assert_int_equal(vm_status_apply(&s, VM_EV_STOP, &next), -ESRCH);
	assert_string_equal(avf_err_last()->msg, "VM is not running");
	assert_int_equal(avf_err_last()->ex, AVF_EX_SERVICE_SPECIFIC);

	/* A guest reporting out of order sees EX_ILLEGAL_STATE with both states named. */
	s = st("R2");
	assert_int_equal(vm_status_apply(&s, VM_EV_PAYLOAD_STARTED, &next), -EINVAL);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_STATE);
	assert_string_equal(avf_err_last()->msg, "Invalid payload state transition: Ready -> Started");
}

static void test_public_state_mapping(void **state)
{
	static const struct {
		const char *s;
		enum avf_vm_state want;
	} rows[] = {
		{ "N0", AVF_VM_STATE_NOT_STARTED }, { "F0", AVF_VM_STATE_DEAD },
		{ "R0", AVF_VM_STATE_STARTING },    { "R1", AVF_VM_STATE_STARTED },
		{ "R2", AVF_VM_STATE_READY },       { "R3", AVF_VM_STATE_FINISHED },
		{ "R4", AVF_VM_STATE_DEAD },        { "D0", AVF_VM_STATE_DEAD },
		{ "D2", AVF_VM_STATE_DEAD },        { "D4", AVF_VM_STATE_DEAD },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct vm_status s = st(rows[i].s);

		assert_int_equal(vm_status_public(&s), rows[i].want);
	}
}

static void test_aidl_numbers(void **state)
{
	/* Wire values: exactly AVF's VirtualMachineState, 5 unused. */
	assert_int_equal(AVF_VM_STATE_NOT_STARTED, 0);
	assert_int_equal(AVF_VM_STATE_STARTING, 1);
	assert_int_equal(AVF_VM_STATE_STARTED, 2);
	assert_int_equal(AVF_VM_STATE_READY, 3);
	assert_int_equal(AVF_VM_STATE_FINISHED, 4);
	assert_int_equal(AVF_VM_STATE_DEAD, 6);
	assert_string_equal(avf_vm_state_name(AVF_VM_STATE_DEAD), "DEAD");
	assert_string_equal(avf_vm_state_name((enum avf_vm_state)5), "UNKNOWN");
	assert_int_equal(AVF_ERROR_UNKNOWN, 0);
	assert_int_equal(AVF_ERROR_PAYLOAD_VERIFICATION_FAILED, 1);
	assert_int_equal(AVF_ERROR_PAYLOAD_CHANGED, 2);
	assert_int_equal(AVF_ERROR_PAYLOAD_INVALID_CONFIG, 3);
}

static void test_forward_only_walk(void **state)
{
	/* Ready may be reported without Started; then nothing but Finished/Hangup moves it. */
	struct vm_status s = st("R0"), n;

	assert_int_equal(vm_status_apply(&s, VM_EV_PAYLOAD_READY, &n), 0);
	assert_int_equal(n.payload, VM_PAYLOAD_READY);
	s = n;
	assert_int_equal(vm_status_apply(&s, VM_EV_PAYLOAD_READY, &n), -EINVAL);
	assert_int_equal(vm_status_apply(&s, VM_EV_PAYLOAD_ERROR, &n), 0);
	assert_int_equal(n.payload, VM_PAYLOAD_FINISHED);
	assert_int_equal(vm_status_public(&n), AVF_VM_STATE_FINISHED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_cell),
		cmocka_unit_test(test_error_messages_and_codes),
		cmocka_unit_test(test_public_state_mapping),
		cmocka_unit_test(test_aidl_numbers),
		cmocka_unit_test(test_forward_only_walk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
