/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fault_client: one create/start/stop/drop cycle through libvmclient, as its own
 * program so that the sweep can inject faults into "the client" by name.
 *
 *   fault_client SCRIPT [TIMEOUT_MS]
 *
 * Prints one line on stdout and exits 0:
 *   ok REASON CALLBACKS            the cycle ran to its end: stop's death reason
 *                                  (KILLED) and the callbacks that came, in order
 *                                  (started,ready,died)
 *   error STEP ERRNO MESSAGE       STEP (connect, create, register, start, ready,
 *                                  stop, death)
 *                                  returned an error
 *   died STEP REASON               the VM died before STEP with REASON
 *   leak CID ...                   the dropped VM's CID was still granted
 * Exit status 2: usage. Anything else (a signal, no line) is the sweep's "unclean".
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <avf/vmclient.h>

/* The callbacks that came, in order: a lost one is a silent failure. */
static char seen[256];

static void seen_add(const char *what)
{
	size_t n = strlen(seen);

	snprintf(seen + n, sizeof(seen) - n, "%s%s", n ? "," : "", what);
}

static void on_started(struct avf_vm *vm, void *d) { seen_add("started"); }
static void on_ready(struct avf_vm *vm, void *d) { seen_add("ready"); }
static void on_finished(struct avf_vm *vm, int code, void *d) { seen_add("finished"); }
static void on_error(struct avf_vm *vm, enum avf_error_code code, const char *msg, void *d)
{
	seen_add("error");
}
static void on_died(struct avf_vm *vm, enum avf_death_reason reason, void *d) { seen_add("died"); }

static const struct avf_vm_callbacks callbacks = {on_started, on_ready, on_finished, on_error,
						  on_died};

static int report_error(const char *step, int r)
{
	const struct avf_error_info *e = avf_last_error();

	printf("error %s %d %s\n", step, r, e->message && e->message[0] ? e->message : "(no message)");
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 while debugListVms still shows @cid after @timeout ms, 0 once gone, -errno. */
static int still_listed(struct avf_client *c, uint32_t cid, int timeout)
{
	int64_t deadline = now_ms() + timeout;

	for (;;) {
		struct avf_vm_info *rows;
		size_t n;
		bool found = false;
		int r = avf_client_list_vms(c, &rows, &n);

		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++)
			found |= rows[i].cid == cid;
		avf_vm_info_free(rows, n);
		if (!found)
			return 0;
		if (now_ms() >= deadline)
			return 1;
		/* The release travels virtmgr -> virtualizationservice: let it arrive. */
		avf_client_dispatch(c, 10);
	}
}

int main(int argc, char **argv)
{
	struct avf_client *c = NULL;
	struct avf_vm_config cfg;
	struct avf_vm *vm = NULL;
	enum avf_death_reason reason;
	uint32_t cid;
	int timeout, r;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: fault_client SCRIPT [TIMEOUT_MS]\n");
		return 2;
	}
	timeout = argc == 3 ? atoi(argv[2]) : 20000;
	avf_vm_config_init(&cfg);
	cfg.name = "fault";
	cfg.fake_script = argv[1];
	if ((r = avf_client_connect(NULL, &c)) < 0) {
		report_error("connect", r);
		goto out;
	}
	if ((r = avf_vm_create(c, &cfg, -1, -1, -1, &vm)) < 0) {
		report_error("create", r);
		goto out;
	}
	if ((r = avf_vm_register_callback(vm, &callbacks, NULL)) < 0) {
		report_error("register", r);
		goto out;
	}
	if ((r = avf_vm_start(vm)) < 0) {
		report_error("start", r);
		goto out;
	}
	r = avf_vm_wait_for_state(vm, AVF_VM_STATE_READY, timeout);
	if (r == -ECHILD && avf_vm_wait_for_death(vm, timeout, &reason) == 0) {
		printf("died ready %s\n", avf_death_reason_name(reason));
		goto out;
	}
	if (r < 0) {
		report_error("ready", r);
		goto out;
	}
	if ((r = avf_vm_stop(vm)) < 0) {
		report_error("stop", r);
		goto out;
	}
	if ((r = avf_vm_wait_for_death(vm, timeout, &reason)) < 0) {
		report_error("death", r);
		goto out;
	}
	/* Dropped: its CID must be released now, not when this client goes. */
	cid = avf_vm_cid(vm);
	avf_vm_unref(vm);
	vm = NULL;
	if ((r = still_listed(c, cid, timeout)) < 0) {
		report_error("list", r);
		goto out;
	}
	if (r > 0) {
		printf("leak CID %u still granted after the VM was dropped\n", cid);
		goto out;
	}
	printf("ok %s %s\n", avf_death_reason_name(reason), seen);
out:
	avf_vm_unref(vm);
	avf_client_disconnect(c);
	return 0;
}
