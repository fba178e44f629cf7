/* SPDX-License-Identifier: Apache-2.0 */
/*
 * avf_proto: configs and debug rows survive the wire (encode -> decode) exactly,
 * and a config that is not what the layout says is refused with the field named.
 */
#include "cmocka_wrap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"
#include "proto/avf_proto.h"

/* Encode @m as a CALL and decode it back: what a receiver reads. */
static struct ipc_msg *over_wire(struct ipc_msg *m)
{
	static uint8_t buf[IPC_MSG_MAX];
	struct ipc_hdr hdr = {.kind = IPC_CALL, .object = 0, .method = 1, .call_id = 7};
	struct ipc_msg *out = NULL;
	size_t len;

	assert_int_equal(ipc_msg_encode(m, &hdr, buf, sizeof(buf), &len), 0);
	assert_int_equal(ipc_msg_decode(buf, len, NULL, 0, &out), 0);
	ipc_msg_free(m);
	return out;
}

static void config_round_trip(void **state)
{
	struct vm_config in, out;
	struct ipc_msg *m;

	vm_config_init(&in);
	in.kind = VM_CONFIG_APP;
	in.name = strdup("payload-vm");
	in.memory_mib = 512;
	in.cpus = 3;
	in.protected_vm = true;
	in.guest_script = strdup("wait 1s; started; ready; finished 7; exit 0");
	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(proto_put_config(m, &in), 0);
	m = over_wire(m);
	assert_int_equal(proto_get_config(m, &out), 0);
	assert_int_equal(ipc_msg_get_end(m), 0);
	assert_int_equal(out.kind, VM_CONFIG_APP);
	assert_string_equal(out.name, "payload-vm");
	assert_int_equal(out.memory_mib, 512);
	assert_int_equal(out.cpus, 3);
	assert_true(out.protected_vm);
	assert_string_equal(out.guest_script, in.guest_script);
	vm_config_clear(&out);
	vm_config_clear(&in);
	ipc_msg_free(m);
}

static void config_without_script_or_name(void **state)
{
	struct vm_config in, out;
	struct ipc_msg *m;

	vm_config_init(&in);
	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(proto_put_config(m, &in), 0);
	m = over_wire(m);
	assert_int_equal(proto_get_config(m, &out), 0);
	assert_int_equal(out.kind, VM_CONFIG_RAW);
	assert_string_equal(out.name, "");
	assert_null(out.guest_script);
	assert_false(out.protected_vm);
	vm_config_clear(&out);
	ipc_msg_free(m);
}

static void expect_refused(struct ipc_msg *m, const char *substr)
{
	struct vm_config out;

	m = over_wire(m);
	assert_int_equal(proto_get_config(m, &out), -EBADMSG);
	if (!strstr(avf_err_last()->msg, substr))
		fail_msg("message '%s' lacks '%s'", avf_err_last()->msg, substr);
	vm_config_clear(&out);
	ipc_msg_free(m);
}

static void config_refusals(void **state)
{
	struct ipc_msg *m;

	/* Another version. */
	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(ipc_msg_put_u32(m, 99), 0);
	expect_refused(m, "config.version: 99");
	/* A kind that does not exist. */
	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(ipc_msg_put_u32(m, PROTO_CONFIG_VERSION), 0);
	assert_int_equal(ipc_msg_put_i32(m, 5), 0);
	expect_refused(m, "config.kind: 5");
	/* A string where the memory size goes. */
	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(ipc_msg_put_u32(m, PROTO_CONFIG_VERSION), 0);
	assert_int_equal(ipc_msg_put_i32(m, 0), 0);
	assert_int_equal(ipc_msg_put_string(m, "n"), 0);
	assert_int_equal(ipc_msg_put_string(m, "lots"), 0);
	expect_refused(m, "config.memory_mib");
	/* Truncated after cpus: the name and strings read so far must not leak. */
	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(ipc_msg_put_u32(m, PROTO_CONFIG_VERSION), 0);
	assert_int_equal(ipc_msg_put_i32(m, 1), 0);
	assert_int_equal(ipc_msg_put_string(m, "n"), 0);
	assert_int_equal(ipc_msg_put_u32(m, 1), 0);
	assert_int_equal(ipc_msg_put_u32(m, 1), 0);
	expect_refused(m, "config.protected_vm");
	/* A NULL name is refused (names are strings, possibly empty). */
	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(ipc_msg_put_u32(m, PROTO_CONFIG_VERSION), 0);
	assert_int_equal(ipc_msg_put_i32(m, 1), 0);
	assert_int_equal(ipc_msg_put_null(m), 0);
	m = over_wire(m);
	{
		struct vm_config out;
		assert_true(proto_get_config(m, &out) < 0);
		assert_non_null(strstr(avf_err_last()->msg, "config.name"));
		vm_config_clear(&out);
	}
	ipc_msg_free(m);
}

static void debug_rows_round_trip(void **state)
{
	struct proto_debug_row a = {2048, AVF_VM_STATE_STARTED, 1000, 4242, "one", "/run/avf/vm/2048"};
	struct proto_debug_row b = {65535, AVF_VM_STATE_DEAD, 0, 1, NULL, NULL}, r;
	struct ipc_msg *m;

	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(proto_put_debug_row(m, &a), 0);
	assert_int_equal(proto_put_debug_row(m, &b), 0);
	m = over_wire(m);
	assert_int_equal(proto_get_debug_row(m, &r), 0);
	assert_int_equal(r.cid, 2048);
	assert_int_equal(r.state, AVF_VM_STATE_STARTED);
	assert_int_equal(r.requester_uid, 1000);
	assert_int_equal(r.requester_pid, 4242);
	assert_string_equal(r.name, "one");
	assert_string_equal(r.temp_dir, "/run/avf/vm/2048");
	assert_int_equal(proto_get_debug_row(m, &r), 0);
	assert_int_equal(r.cid, 65535);
	assert_string_equal(r.name, "");
	assert_string_equal(r.temp_dir, "");
	/* Past the end: an error, and the row is untouched. */
	assert_int_equal(proto_get_debug_row(m, &r), -EBADMSG);
	assert_int_equal(r.cid, 65535);
	ipc_msg_free(m);
}

static void method_names(void **state)
{
	assert_string_equal(proto_vm_method_name(PROTO_VM_STOP), "IVirtualMachine.stop");
	assert_string_equal(proto_vs_method_name(PROTO_VS_CREATE_VM), "IVirtualizationService.createVm");
	assert_string_equal(proto_cb_method_name(PROTO_CB_ON_DIED), "onDied");
	assert_string_equal(proto_vm_method_name(0), "?");
	assert_string_equal(proto_vm_method_name(1000), "?");
	assert_string_equal(proto_cb_method_name(UINT32_MAX), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_round_trip),
		cmocka_unit_test(config_without_script_or_name),
		cmocka_unit_test(config_refusals),
		cmocka_unit_test(debug_rows_round_trip),
		cmocka_unit_test(method_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
