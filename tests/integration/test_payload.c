/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Payloads through the whole stack: this test (libvmclient) -> virtmgr ->
 * fakevmm -> the guest agent -> the payload launcher running an example payload
 * (scenarios/payloads). What the scenarios in scenarios/app cannot show through
 * `vm`: the host <-> payload round trip of connectVsock, its errors, and the exact
 * callback sequence as libvmclient delivers it. Every wait has a deadline.
 */
#include "cmocka_wrap.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <avf/vmclient.h>

#include "vm_recorder.h"

#include "base/fs_util.h"
#include "vs_process.h"

#define DEADLINE_MS 20000
#define PORT        5678

static struct {
	char dir[256], trace[300], instance[300];
	struct vs_process vs;
} S;

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(S.dir, sizeof(S.dir), "%s/avf-payload-XXXXXX", tmp);
	if (!mkdtemp(S.dir))
		return -1;
	snprintf(S.trace, sizeof(S.trace), "%s/trace", S.dir);
	snprintf(S.instance, sizeof(S.instance), "%s/instance.img", S.dir);
	snprintf(S.vs.sock, sizeof(S.vs.sock), "%s/vs.sock", S.dir);
	setenv("AVF_VS_SOCKET", S.vs.sock, 1);
	setenv("AVF_VIRTMGR", AVF_VIRTMGR_PATH, 1);
	setenv("AVF_FAKEVMM", AVF_FAKEVMM_PATH, 1);
	setenv("AVF_BACKEND", "fake", 1);
	setenv("AVF_TRACE_FILE", S.trace, 1);
	if (vs_process_start(AVF_VS_PATH, S.dir, DEADLINE_MS, &S.vs) < 0)
		fail_msg("%s", avf_last_error()->message);
	return 0;
}

static int teardown(void **state)
{
	int st = vs_process_stop(&S.vs, DEADLINE_MS);

	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	fs_remove_tree(S.dir);
	return 0;
}

/* An app VM running bin/payloads/@payload, with a fresh or existing instance image. */
static struct avf_vm *create_app(struct avf_client *c, const char *payload,
				 struct vm_recorder *rec)
{
	char path[512];
	struct avf_vm_config cfg;
	struct avf_vm *vm;
	int lib, inst, r;

	snprintf(path, sizeof(path), "%s/%s", AVF_PAYLOADS_DIR, payload);
	lib = open(path, O_RDONLY | O_CLOEXEC);
	if (lib < 0)
		fail_msg("%s: %s", path, strerror(errno));
	inst = open(S.instance, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(inst >= 0);
	if (lseek(inst, 0, SEEK_END) == 0)
		assert_int_equal(avf_client_init_partition(c, inst, 1 << 20,
							   AVF_PARTITION_ANDROID_VM_INSTANCE),
				 0);
	avf_vm_config_init(&cfg);
	cfg.kind = AVF_VM_KIND_APP;
	cfg.name = "payload-test";
	cfg.payload_fd = lib;
	cfg.payload_binary_name = payload;
	cfg.instance_fd = inst;
	r = avf_vm_create(c, &cfg, -1, -1, -1, &vm);
	close(lib);
	close(inst);
	if (r < 0)
		fail_msg("create: %d %s", r, avf_last_error()->message);
	assert_int_equal(avf_vm_register_callback(vm, &vm_recorder_cbs, rec), 0);
	return vm;
}

/* Write @msg, read one line back within the deadline. */
static void round_trip(int fd, const char *msg, char *out, size_t len)
{
	size_t got = 0;

	assert_int_equal(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	while (got < len - 1 && (!got || out[got - 1] != '\n')) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		assert_int_equal(poll(&p, 1, DEADLINE_MS), 1);
		n = read(fd, out + got, len - 1 - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	out[got] = '\0';
}

/*
 * ready-then-serve: connectVsock reaches the payload's echo-reverse server, twice
 * at once; privileged and unserved ports are refused; the host stop is KILLED and
 * connectVsock after death says the VM is not running.
 */
static void connect_vsock_round_trip(void **state)
{
	struct vm_recorder rec = {{0}};
	struct avf_client *c;
	struct avf_vm *vm;
	enum avf_death_reason why;
	char line[64];
	int a, b;

	assert_int_equal(avf_client_connect(NULL, &c), 0);
	vm = create_app(c, "libready_serve.so", &rec);
	assert_true(avf_vm_connect_vsock(vm, PORT, &a) < 0);
	assert_string_equal(avf_last_error()->message, "VM is not running");
	assert_int_equal(avf_vm_start(vm), 0);
	assert_int_equal(avf_vm_wait_for_state(vm, AVF_VM_STATE_READY, DEADLINE_MS), 0);

	assert_int_equal(avf_vm_connect_vsock(vm, PORT, &a), 0);
	assert_int_equal(avf_vm_connect_vsock(vm, PORT, &b), 0);
	assert_true(fcntl(a, F_GETFD) & FD_CLOEXEC);
	round_trip(b, "second\n", line, sizeof(line));
	assert_string_equal(line, "dnoces\n");
	round_trip(a, "hello vsock\n", line, sizeof(line));
	assert_string_equal(line, "kcosv olleh\n");
	close(a);
	close(b);

	assert_true(avf_vm_connect_vsock(vm, 80, &a) < 0);
	assert_string_equal(avf_last_error()->message, "Can't connect to privileged port 80");
	assert_true(avf_vm_connect_vsock(vm, PORT + 1, &a) < 0);
	assert_non_null(strstr(avf_last_error()->message, "Failed to connect to vsock port 5679"));

	assert_int_equal(avf_vm_stop(vm), 0);
	assert_int_equal(avf_vm_wait_for_death(vm, DEADLINE_MS, &why), 0);
	assert_int_equal(why, AVF_DEATH_KILLED);
	assert_string_equal(rec.log, "started ready died(KILLED)");
	assert_true(avf_vm_connect_vsock(vm, PORT, &a) < 0);
	assert_string_equal(avf_last_error()->message, "VM is not running");
	avf_vm_unref(vm);
	avf_client_disconnect(c);
}

/* hello: started -> finished(0) -> died(SHUTDOWN), exactly, through libvmclient. */
static void success_sequence(void **state)
{
	struct vm_recorder rec = {{0}};
	struct avf_client *c;
	struct avf_vm *vm;
	enum avf_death_reason why;

	assert_int_equal(avf_client_connect(NULL, &c), 0);
	vm = create_app(c, "libhello.so", &rec);
	assert_int_equal(avf_vm_start(vm), 0);
	assert_int_equal(avf_vm_wait_for_death(vm, DEADLINE_MS, &why), 0);
	assert_int_equal(why, AVF_DEATH_SHUTDOWN);
	assert_string_equal(rec.log, "started finished(0) died(SHUTDOWN)");
	avf_vm_unref(vm);
	avf_client_disconnect(c);
}

/* createVm's payload rules: an instance image is required, the name is no path. */
static void payload_needs_instance(void **state)
{
	struct avf_client *c;
	struct avf_vm_config cfg;
	struct avf_vm *vm;
	int lib = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_int_equal(avf_client_connect(NULL, &c), 0);
	avf_vm_config_init(&cfg);
	cfg.kind = AVF_VM_KIND_APP;
	cfg.payload_fd = lib;
	cfg.payload_binary_name = "libx.so";
	assert_true(avf_vm_create(c, &cfg, -1, -1, -1, &vm) < 0);
	assert_non_null(strstr(avf_last_error()->message, "an app VM needs an instance image"));
	cfg.instance_fd = lib;
	cfg.payload_binary_name = "lib/x.so";
	assert_true(avf_vm_create(c, &cfg, -1, -1, -1, &vm) < 0);
	assert_string_equal(avf_last_error()->message,
			    "Payload binary name must not specify a path");
	close(lib);
	avf_client_disconnect(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(success_sequence),
	    cmocka_unit_test(connect_vsock_round_trip),
	    cmocka_unit_test(payload_needs_instance),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
