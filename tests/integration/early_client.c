/* SPDX-License-Identifier: Apache-2.0 */
/*
 * early_client: the client side of tests/integration/test_early_vms.c. The test
 * copies this program into a fake root (<root>/system/bin/...) and runs the copy,
 * so that early_virtmgr, forked by libvmclient with early = true, sees the copy's
 * path as its caller.
 *
 *   early_client NAME [WORD...]   create a raw VM named NAME, start it, wait for
 *                                 its death: "cid <N> <REASON>"
 *   early_client --wait           print "ready", then wait for EOF on stdin
 *                                 (the test reads our /proc/<pid>/exe meanwhile)
 *
 * WORDs: "drop-ipc-lock" clears CAP_IPC_LOCK from our effective set before
 * connecting; "hang" runs the guest script "hang" and prints "cid <N> running
 * <early_virtmgr pid>" once started (then waits until killed); "list" calls
 * debugListVms instead of creating a VM ("rows <n>").
 *
 * Any failure: "error <exception> <message>" and exit 1. Usage: exit 2.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <unistd.h>

#include <avf/vmclient.h>

static int fail(void)
{
	const struct avf_error_info *e = avf_last_error();

	printf("error %d %s\n", e->exception, e->message ? e->message : "");
	return 1;
}

static int drop_ipc_lock(void)
{
	const cap_value_t ipc_lock = CAP_IPC_LOCK;
	cap_t caps = cap_get_proc();
	int r = -1;

	if (caps && cap_set_flag(caps, CAP_EFFECTIVE, 1, &ipc_lock, CAP_CLEAR) == 0)
		r = cap_set_proc(caps);
	if (r < 0)
		printf("error 0 cannot drop CAP_IPC_LOCK: %s\n", strerror(errno));
	cap_free(caps);
	return r;
}

static int wait_for_eof(void)
{
	char buf[64];

	printf("ready\n");
	fflush(stdout);
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
	return 0;
}

static int run(struct avf_client *c, const char *name, bool hang)
{
	struct avf_vm_config cfg;
	struct avf_vm *vm = NULL;
	enum avf_death_reason reason;
	int r;

	avf_vm_config_init(&cfg);
	cfg.name = name;
	cfg.fake_script = hang ? "hang" : "exit 0";
	if (avf_vm_create(c, &cfg, -1, -1, -1, &vm) < 0 || avf_vm_start(vm) < 0) {
		avf_vm_unref(vm);
		return fail();
	}
	if (hang) {
		printf("cid %u running %d\n", avf_vm_cid(vm), (int)avf_client_virtmgr_pid(c));
		fflush(stdout);
	}
	r = avf_vm_wait_for_death(vm, -1, &reason);
	if (r == 0)
		printf("cid %u %s\n", avf_vm_cid(vm), avf_death_reason_name(reason));
	else
		r = fail();
	avf_vm_unref(vm);
	return r == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct avf_client *c = NULL;
	bool hang = false, list = false;
	struct avf_vm_info *rows = NULL;
	size_t n = 0;
	int r;

	if (argc == 2 && strcmp(argv[1], "--wait") == 0)
		return wait_for_eof();
	if (argc < 2) {
		fprintf(stderr, "usage: early_client NAME [drop-ipc-lock] [hang] [list]\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "drop-ipc-lock") == 0) {
			if (drop_ipc_lock() < 0)
				return 1;
		} else if (strcmp(argv[i], "hang") == 0) {
			hang = true;
		} else if (strcmp(argv[i], "list") == 0) {
			list = true;
		} else {
			fprintf(stderr, "early_client: unknown word '%s'\n", argv[i]);
			return 2;
		}
	}
	if (avf_client_connect(&(struct avf_client_options){.early = true}, &c) < 0)
		return fail();
	if (list) {
		r = avf_client_list_vms(c, &rows, &n);
		if (r == 0)
			printf("rows %zu\n", n);
		else
			r = fail();
		avf_vm_info_free(rows, n);
	} else {
		r = run(c, argv[1], hang);
	}
	avf_client_disconnect(c);
	return r == 0 ? 0 : 1;
}
