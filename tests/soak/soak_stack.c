/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soak_stack: the whole stack as real processes — this client (libvmclient), the
 * virtmgr it forks, a private virtualizationservice, one fakevmm per VM — for
 * AVF_SOAK_VMM_CYCLES cycles (default 5,000). Every cycle creates an app VM,
 * registers a callback, starts it, waits for READY and drops the handle; the VM
 * ends in turn by stop() (half of the cycles), by the drop of its last handle
 * while it runs, or by its guest shutting down.
 *
 * After a warm-up, and again at the end, once everything has settled (no context
 * listed, no VMM alive): fds, children and RSS of all three processes, the CIDs
 * virtualizationservice holds (debugListVms) and the temp dirs in its state dir
 * and in our temp root. Any growth fails (RSS: within SOAK_RSS_TOLERANCE_KIB).
 * test_stack's no_growth runs plain cycles in the default run; this is the long
 * one, with RSS and callbacks.
 */
#include "cmocka_wrap.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <avf/vmclient.h>

#include "base/fs_util.h"
#include "base/mono_time.h"
#include "proc_probe.h"
#include "soak_check.h"
#include "vs_process.h"

#define DEADLINE_MS 20000

/* How a cycle's VM ends; the cycle number picks one in turn (stop() in half). */
enum ending { END_STOP, END_DROP, END_SHUTDOWN };
static const enum ending endings[] = {END_STOP, END_DROP, END_STOP, END_SHUTDOWN};

struct stack_world {
	char root[256];   /* our temp root: vs.sock, state/, and TMPDIR of every process */
	char vmdirs[300]; /* state/vm: one temp dir per context */
	struct vs_process vs;
	struct avf_client *c;
	unsigned long long died, expected_died;
};

static void on_died(struct avf_vm *vm, enum avf_death_reason reason, void *data)
{
	struct stack_world *w = data;

	w->died++;
}

static const struct avf_vm_callbacks counting_cbs = {.on_died = on_died};

static void world_close(struct stack_world *w);

/*
 * virtualizationservice grants from 256 CIDs, not 63,488: the soak's cycles wrap the
 * range about 20 times (a CID is reused only once free, never granted twice). And
 * its by-CID table (8 bytes a CID, calloc'd: resident only where touched) stays at
 * 2 KiB, instead of becoming resident a page at a time as round-robin grants reach
 * new CIDs (up to 496 KiB over the full range: measured +156 KiB after 20,000
 * cycles), which would read as RSS growth without being a leak.
 */
static const char *const cid_range[] = {"--cid-range", "2048-2303", NULL};

/* 0, or -1 with the reason printed and nothing left behind. */
static int world_open(struct stack_world *w)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	*w = (struct stack_world){0};
	snprintf(w->root, sizeof(w->root), "%s/avf-soak-stack-XXXXXX", tmp);
	if (!mkdtemp(w->root)) {
		print_error("mkdtemp %s: %s\n", w->root, strerror(errno));
		w->root[0] = '\0';
		return -1;
	}
	setenv("TMPDIR", w->root, 1);
	if (vs_process_start_args(AVF_VS_PATH, w->root, cid_range, DEADLINE_MS, &w->vs) < 0) {
		print_error("virtualizationservice: %s\n", avf_last_error()->message);
		world_close(w);
		return -1;
	}
	snprintf(w->vmdirs, sizeof(w->vmdirs), "%s/vm", w->vs.state);
	setenv("AVF_VS_SOCKET", w->vs.sock, 1);
	setenv("AVF_VIRTMGR", AVF_VIRTMGR_PATH, 1);
	setenv("AVF_FAKEVMM", AVF_FAKEVMM_PATH, 1);
	setenv("AVF_BACKEND", "fake", 1);
	unsetenv("AVF_TRACE_FILE"); /* a trace would grow with every cycle by design */
	if (avf_client_connect(NULL, &w->c) < 0) {
		print_error("connect: %s\n", avf_last_error()->message);
		world_close(w);
		return -1;
	}
	return 0;
}

/* Teardown, also after a failed check: nothing may outlive the test. */
static void world_close(struct stack_world *w)
{
	if (w->c)
		avf_client_disconnect(w->c);
	w->c = NULL;
	vs_process_stop(&w->vs, DEADLINE_MS);
	if (w->root[0])
		fs_remove_tree(w->root);
	w->root[0] = '\0';
}

static void cycle(struct stack_world *w, long i)
{
	enum ending how = endings[i % (long)(sizeof(endings) / sizeof(endings[0]))];
	enum avf_death_reason reason;
	struct avf_vm_config cfg;
	struct avf_vm *vm;

	avf_vm_config_init(&cfg);
	cfg.kind = AVF_VM_KIND_APP;
	cfg.name = "soak";
	cfg.fake_script =
	    how == END_SHUTDOWN ? "started; ready; finished 0; exit 0" : "started; ready; hang";
	if (avf_vm_create(w->c, &cfg, -1, -1, -1, &vm) < 0 ||
	    avf_vm_register_callback(vm, &counting_cbs, w) < 0 || avf_vm_start(vm) < 0)
		fail_msg("cycle %ld: %s", i, avf_last_error()->message);
	switch (how) {
	case END_STOP:
		if (avf_vm_wait_for_state(vm, AVF_VM_STATE_READY, DEADLINE_MS) < 0 ||
		    avf_vm_stop(vm) < 0 || avf_vm_wait_for_death(vm, DEADLINE_MS, &reason) < 0)
			fail_msg("cycle %ld (stop): %s", i, avf_last_error()->message);
		assert_int_equal(reason, AVF_DEATH_KILLED);
		w->expected_died++;
		break;
	case END_SHUTDOWN:
		if (avf_vm_wait_for_death(vm, DEADLINE_MS, &reason) < 0)
			fail_msg("cycle %ld (shutdown): %s", i, avf_last_error()->message);
		assert_int_equal(reason, AVF_DEATH_SHUTDOWN);
		w->expected_died++;
		break;
	case END_DROP:
		/* Dropped while running: virtmgr kills it; our callback goes with the handle. */
		if (avf_vm_wait_for_state(vm, AVF_VM_STATE_READY, DEADLINE_MS) < 0)
			fail_msg("cycle %ld (drop): %s", i, avf_last_error()->message);
		break;
	}
	avf_vm_unref(vm);
}

/* Contexts virtualizationservice still lists (the CIDs it holds). */
static long cids_held(struct stack_world *w)
{
	struct avf_vm_info *rows;
	size_t n;

	if (avf_client_list_vms(w->c, &rows, &n) < 0)
		fail_msg("debugListVms: %s", avf_last_error()->message);
	avf_vm_info_free(rows, n);
	return (long)n;
}

/*
 * Wait until the last cycle's ends have reached every process: no context listed,
 * no per-VM temp dir, no VMM under virtmgr. A dropped VM's kill, and the release
 * of its context, run in virtmgr and virtualizationservice after our drop
 * returned; there is no event for that here, so poll with a deadline.
 */
static void settle(struct stack_world *w)
{
	int64_t deadline = mono_ms() + DEADLINE_MS;
	pid_t vmgr = avf_client_virtmgr_pid(w->c);

	while (cids_held(w) || probe_dir_entries(w->vmdirs) || probe_children(vmgr, NULL, 0)) {
		if (mono_ms() > deadline)
			fail_msg("not settled after %d ms: %ld contexts, %d temp dirs, %d VMMs",
				 DEADLINE_MS, cids_held(w), probe_dir_entries(w->vmdirs),
				 probe_children(vmgr, NULL, 0));
		avf_client_dispatch(w->c, 20);
	}
}

struct stack_sample {
	struct soak_proc self, vmgr, vs;
	long cids, vm_temp_dirs, root_entries;
};

static void sample(struct stack_world *w, struct stack_sample *s)
{
	settle(w);
	soak_proc_sample(&s->self, "soak_stack (client)", getpid());
	soak_proc_sample(&s->vmgr, "virtmgr", avf_client_virtmgr_pid(w->c));
	soak_proc_sample(&s->vs, "virtualizationservice", w->vs.pid);
	s->cids = cids_held(w);
	s->vm_temp_dirs = probe_dir_entries(w->vmdirs);
	s->root_entries = probe_dir_entries(w->root);
}

static struct stack_world W;

static int setup(void **state)
{
	return world_open(&W);
}

static int teardown(void **state)
{
	world_close(&W);
	return 0;
}

static void stack_soak(void **state)
{
	long n = soak_env_count("AVF_SOAK_VMM_CYCLES", 5000), warm = soak_warmup(n), i;
	unsigned long long died_at_start;
	struct stack_world *w = &W;
	struct stack_sample s0, s1;
	int failed = 0, st;

	for (i = 0; i < warm; i++)
		cycle(w, i);
	sample(w, &s0);
	died_at_start = w->died;
	w->expected_died = 0;
	for (; i < warm + n; i++)
		cycle(w, i);
	sample(w, &s1);

	print_message("soak_stack: %ld cycles (after %ld warm-up), fakevmm through "
		      "virtmgr and virtualizationservice\n",
		      n, warm);
	failed += soak_proc_judge(&s0.self, &s1.self);
	failed += soak_proc_judge(&s0.vmgr, &s1.vmgr);
	failed += soak_proc_judge(&s0.vs, &s1.vs);
	failed += soak_count_judge("CIDs held (debugListVms)", s0.cids, s1.cids);
	failed += soak_count_judge("per-VM temp dirs", s0.vm_temp_dirs, s1.vm_temp_dirs);
	failed += soak_count_judge("temp root entries", s0.root_entries, s1.root_entries);
	print_message("onDied: %llu delivered, %llu expected\n", w->died - died_at_start,
		      w->expected_died);
	assert_int_equal(w->died - died_at_start, w->expected_died);
	assert_int_equal(s1.cids, 0);
	assert_int_equal(failed, 0);
	/* Both daemons end cleanly after all that (under valgrind: their leak checks too). */
	avf_client_disconnect(w->c);
	w->c = NULL;
	st = vs_process_stop(&w->vs, DEADLINE_MS);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(stack_soak, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
