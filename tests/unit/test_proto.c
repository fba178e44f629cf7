/* SPDX-License-Identifier: Apache-2.0 */
/*
 * avf_proto: configs and debug rows survive the wire (encode -> decode) exactly,
 * and a config that is not what the layout says is refused with the field named.
 */
#include "cmocka_wrap.h"
#include "test_fds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Encode @m and decode it with duplicates of its fds, as the kernel delivers SCM_RIGHTS. */
static struct ipc_msg *over_wire_fds(struct ipc_msg *m)
{
	static uint8_t buf[IPC_MSG_MAX];
	struct ipc_hdr hdr = {.kind = IPC_CALL, .object = 0, .method = 1, .call_id = 7};
	struct ipc_msg *out = NULL;
	int fds[IPC_MSG_MAX_FDS];
	const int *own;
	unsigned n;
	size_t len;

	assert_int_equal(ipc_msg_encode(m, &hdr, buf, sizeof(buf), &len), 0);
	own = ipc_msg_fds(m, &n);
	for (unsigned i = 0; i < n; i++)
		assert_true((fds[i] = fcntl(own[i], F_DUPFD_CLOEXEC, 3)) >= 0);
	assert_int_equal(ipc_msg_decode(buf, len, fds, n, &out), 0);
	ipc_msg_free(m);
	return out;
}

/* VirtualMachineRawConfig's files travel as fds, in their places, and nothing leaks. */
static void config_files_round_trip(void **state)
{
	int fds0 = count_fds();
	struct vm_config_partition parts[2] = {{"vbmeta_a", -1, false}, {"super", -1, true}};
	struct vm_config_disk disks[3] = {
	    {.image_fd = -1, .writable = false},
	    {.image_fd = -1, .partitions = parts, .n_partitions = 2, .writable = false},
	    {.image_fd = -1, .writable = true},
	};
	struct vm_config in, out;
	struct ipc_msg *m;

	vm_config_init(&in);
	in.name = "files";
	in.kernel_fd = fd_new_pipe_end();
	in.bootloader_fd = -1;
	in.initrd_fd = fd_new_pipe_end();
	in.params = "console=hvc0 root=/dev/vda";
	disks[0].image_fd = fd_new_pipe_end();
	disks[2].image_fd = fd_new_pipe_end();
	parts[0].fd = fd_new_pipe_end();
	parts[1].fd = fd_new_pipe_end();
	in.disks = disks;
	in.n_disks = 3;
	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(proto_put_config(m, &in), 0);
	m = over_wire_fds(m);
	assert_int_equal(proto_get_config(m, &out), 0);
	assert_int_equal(ipc_msg_get_end(m), 0);
	ipc_msg_free(m); /* the config took its fds: they outlive the message */
	assert_string_equal(out.name, "files");
	fd_check_dup(in.kernel_fd, out.kernel_fd);
	fd_check_dup(in.initrd_fd, out.initrd_fd);
	assert_int_equal(out.bootloader_fd, -1);
	assert_string_equal(out.params, in.params);
	assert_int_equal(out.n_disks, 3);
	fd_check_dup(disks[0].image_fd, out.disks[0].image_fd);
	assert_false(out.disks[0].writable);
	assert_int_equal(out.disks[0].n_partitions, 0);
	assert_int_equal(out.disks[1].image_fd, -1);
	assert_int_equal(out.disks[1].n_partitions, 2);
	assert_string_equal(out.disks[1].partitions[0].label, "vbmeta_a");
	assert_false(out.disks[1].partitions[0].writable);
	fd_check_dup(parts[0].fd, out.disks[1].partitions[0].fd);
	assert_string_equal(out.disks[1].partitions[1].label, "super");
	assert_true(out.disks[1].partitions[1].writable);
	fd_check_dup(parts[1].fd, out.disks[1].partitions[1].fd);
	fd_check_dup(disks[2].image_fd, out.disks[2].image_fd);
	assert_true(out.disks[2].writable);
	assert_int_equal(vm_config_validate(&out), 0);
	/* 6 files each side */
	assert_int_equal(count_fds(), fds0 + 12);
	vm_config_clear(&out);
	assert_int_equal(count_fds(), fds0 + 6);
	vm_config_close_files(&in); /* the arrays are on the stack */
	assert_int_equal(count_fds(), fds0);
}

/* An app config's payload (v3): its files and name travel, in their places. */
static void config_payload_round_trip(void **state)
{
	int fds0 = count_fds();
	struct vm_config in, out;
	struct ipc_msg *m;

	vm_config_init(&in);
	in.kind = VM_CONFIG_APP;
	in.payload.library_fd = fd_new_pipe_end();
	in.payload.binary_name = "libhello.so";
	in.payload.instance_fd = fd_new_pipe_end();
	in.payload.storage_fd = fd_new_pipe_end();
	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(proto_put_config(m, &in), 0);
	m = over_wire_fds(m);
	assert_int_equal(proto_get_config(m, &out), 0);
	assert_int_equal(ipc_msg_get_end(m), 0);
	ipc_msg_free(m);
	assert_int_equal(out.kind, VM_CONFIG_APP);
	assert_true(vm_config_has_payload(&out));
	fd_check_dup(in.payload.library_fd, out.payload.library_fd);
	assert_string_equal(out.payload.binary_name, "libhello.so");
	assert_int_equal(out.payload.config_fd, -1);
	fd_check_dup(in.payload.instance_fd, out.payload.instance_fd);
	fd_check_dup(in.payload.storage_fd, out.payload.storage_fd);
	assert_int_equal(vm_config_validate(&out), 0);
	assert_int_equal(count_fds(), fds0 + 6);
	vm_config_clear(&out);
	in.payload.binary_name = NULL; /* not ours to free */
	vm_config_close_files(&in);
	assert_int_equal(count_fds(), fds0);
}

/* The header of a config up to its disks: no file, no params. */
static struct ipc_msg *config_head(void)
{
	struct ipc_msg *m;

	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(ipc_msg_put_u32(m, PROTO_CONFIG_VERSION), 0);
	assert_int_equal(ipc_msg_put_i32(m, 0), 0);
	assert_int_equal(ipc_msg_put_string(m, "n"), 0);
	assert_int_equal(ipc_msg_put_u32(m, 0), 0);
	assert_int_equal(ipc_msg_put_u32(m, 1), 0);
	assert_int_equal(ipc_msg_put_bool(m, false), 0);
	assert_int_equal(ipc_msg_put_null(m), 0); /* guest_script */
	return m;
}

static void expect_refused_fds(struct ipc_msg *m, const char *substr)
{
	struct vm_config out;

	m = over_wire_fds(m);
	assert_int_equal(proto_get_config(m, &out), -EBADMSG);
	if (!strstr(avf_err_last()->msg, substr))
		fail_msg("message '%s' lacks '%s'", avf_err_last()->msg, substr);
	assert_int_equal(avf_err_last()->ex, AVF_EX_BAD_PARCELABLE);
	vm_config_clear(&out);
	ipc_msg_free(m);
}

/* Malformed file fields and counts over their bounds: refused, naming the field; no leak. */
static void config_files_refusals(void **state)
{
	int fds0 = count_fds(), f = fd_new_pipe_end();
	struct ipc_msg *m;

	/* the version before files is not understood any more */
	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(ipc_msg_put_u32(m, 1), 0);
	expect_refused_fds(m, "config.version: 1 is not supported (expected 3)");
	/* a string where the kernel goes */
	m = config_head();
	assert_int_equal(ipc_msg_put_string(m, "/boot/vmlinuz"), 0);
	expect_refused_fds(m, "config.kernel");
	/* a kernel, then a bool where the initrd goes: the kernel taken is closed again */
	m = config_head();
	assert_int_equal(ipc_msg_put_fd(m, f), 0);
	assert_int_equal(ipc_msg_put_bool(m, true), 0);
	expect_refused_fds(m, "config.initrd");
	/* too many disks */
	m = config_head();
	for (int i = 0; i < 3; i++)
		assert_int_equal(ipc_msg_put_null(m), 0);
	assert_int_equal(ipc_msg_put_null(m), 0); /* params */
	assert_int_equal(ipc_msg_put_u32(m, VM_CONFIG_DISKS_MAX + 1), 0);
	expect_refused_fds(m, "config.disks: 65 is more than 64");
	/* too many partitions in the second disk, after a first with an image */
	m = config_head();
	for (int i = 0; i < 4; i++)
		assert_int_equal(ipc_msg_put_null(m), 0);
	assert_int_equal(ipc_msg_put_u32(m, 2), 0);
	assert_int_equal(ipc_msg_put_fd(m, f), 0);
	assert_int_equal(ipc_msg_put_bool(m, false), 0);
	assert_int_equal(ipc_msg_put_u32(m, 0), 0);
	assert_int_equal(ipc_msg_put_null(m), 0);
	assert_int_equal(ipc_msg_put_bool(m, false), 0);
	assert_int_equal(ipc_msg_put_u32(m, VM_CONFIG_PARTITIONS_MAX + 1), 0);
	expect_refused_fds(m, "config.disks[1].partitions: 129 is more than 128");
	/* a partition without its image */
	m = config_head();
	for (int i = 0; i < 4; i++)
		assert_int_equal(ipc_msg_put_null(m), 0);
	assert_int_equal(ipc_msg_put_u32(m, 1), 0);
	assert_int_equal(ipc_msg_put_null(m), 0);
	assert_int_equal(ipc_msg_put_bool(m, false), 0);
	assert_int_equal(ipc_msg_put_u32(m, 2), 0);
	assert_int_equal(ipc_msg_put_string(m, "a"), 0);
	assert_int_equal(ipc_msg_put_fd(m, f), 0);
	assert_int_equal(ipc_msg_put_bool(m, true), 0);
	assert_int_equal(ipc_msg_put_string(m, "b"), 0);
	assert_int_equal(ipc_msg_put_null(m), 0);
	{
		struct vm_config out;

		m = over_wire_fds(m);
		assert_true(proto_get_config(m, &out) < 0);
		assert_non_null(strstr(avf_err_last()->msg, "config.disks[0].partitions[1].image"));
		/* what was read before the failure is in @out, and clearing closes it */
		assert_int_equal(out.n_disks, 1);
		assert_true(out.disks[0].partitions[0].fd >= 0);
		vm_config_clear(&out);
		ipc_msg_free(m);
	}
	/* truncated in the middle of a disk */
	m = config_head();
	for (int i = 0; i < 4; i++)
		assert_int_equal(ipc_msg_put_null(m), 0);
	assert_int_equal(ipc_msg_put_u32(m, 1), 0);
	assert_int_equal(ipc_msg_put_fd(m, f), 0);
	expect_refused_fds(m, "config.disks[0].writable");
	close(f);
	assert_int_equal(count_fds(), fds0);
}

/* More files than one packet carries: refused at the sender, naming the field. A kernel
 * and two full GPTs of partitions are 257 fds: the 254th, partition 124 of disk 1, is one
 * too many. */
static void config_too_many_fds(void **state)
{
	static struct vm_config_partition parts[2][VM_CONFIG_PARTITIONS_MAX];
	struct vm_config_disk disks[2];
	int fds0 = count_fds(), f = fd_new_pipe_end();
	struct vm_config in;
	struct ipc_msg *m;

	vm_config_init(&in);
	in.kernel_fd = f;
	for (size_t d = 0; d < 2; d++) {
		for (size_t p = 0; p < VM_CONFIG_PARTITIONS_MAX; p++)
			parts[d][p] = (struct vm_config_partition){"p", f, false};
		disks[d] = (struct vm_config_disk){.image_fd = -1, .partitions = parts[d],
						   .n_partitions = VM_CONFIG_PARTITIONS_MAX};
	}
	in.disks = disks;
	in.n_disks = 2;
	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(proto_put_config(m, &in), -E2BIG);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_ARGUMENT);
	assert_string_equal(avf_err_last()->msg,
			    "config.disks[1].partitions[124]: ipc: a message carries at most 253 fds");
	ipc_msg_free(m);
	close(f);
	assert_int_equal(count_fds(), fds0);
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
		cmocka_unit_test(config_files_round_trip),
		cmocka_unit_test(config_payload_round_trip),
		cmocka_unit_test(config_files_refusals),
		cmocka_unit_test(config_too_many_fds),
		cmocka_unit_test(debug_rows_round_trip),
		cmocka_unit_test(method_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
