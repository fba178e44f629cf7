/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soak_sim: the lifecycle model in-process (vmgr + the simulated backend + a local
 * CID allocator, virtual clock) for AVF_SOAK_SIM_CYCLES cycles (default 100,000).
 * Every cycle creates a VM, registers a callback, starts it, lets the guest boot to
 * READY and drops the handle; the VM ends in turn by stop() (half of the cycles),
 * by the drop of its last handle while it runs, or by its guest shutting down.
 * After a warm-up, and again at the end, it samples its fds, children, RSS, the
 * CIDs held, VM records, simulated VMMs and the entries of its temp root: any
 * growth fails (RSS: within SOAK_RSS_TOLERANCE_KIB). Every onDied expected is
 * counted, and every callback registration must be released with its VM.
 * sim_cycle (bench/) times the same cycle; this judges what it leaves behind.
 */
#include "cmocka_wrap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "base/fs_util.h"
#include "cid/cid_alloc.h"
#include "fakes/sim/sim_backend.h"
#include "proc_probe.h"
#include "service/local_context.h"
#include "service/vmgr.h"
#include "soak_check.h"

/* How a cycle's VM ends. */
enum ending {
	END_STOP,     /* stop(): KILLED, onDied before stop returns */
	END_DROP,     /* the last handle dropped while running: KILLED */
	END_SHUTDOWN, /* the guest finishes and exits: SHUTDOWN */
};

/* The cycle number picks the ending in turn: stop() in half of the cycles. */
static const enum ending endings[] = {END_STOP, END_DROP, END_STOP, END_SHUTDOWN};

struct sim_world {
	struct loop *loop;
	struct cid_alloc *cids;
	struct backend *be;
	struct local_context lc;
	struct vmgr *m;
	struct vm_config hang, shutdown;
	char tmp_root[256];
	unsigned long long died, released, expected_died, registered;
};

static void on_died(void *data, uint32_t cid, enum avf_death_reason reason)
{
	struct sim_world *w = data;

	w->died++;
}

static void on_release(void *data)
{
	struct sim_world *w = data;

	w->released++;
}

static const struct vm_callback_ops counting_cb = {.died = on_died, .release = on_release};

static void world_close(struct sim_world *w);

/* 0, or -1 with the reason printed and nothing left behind. */
static int world_open(struct sim_world *w)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	*w = (struct sim_world){0};
	snprintf(w->tmp_root, sizeof(w->tmp_root), "%s/avf-soak-sim-XXXXXX", tmp);
	if (!mkdtemp(w->tmp_root)) {
		print_error("mkdtemp %s: %s\n", w->tmp_root, strerror(errno));
		w->tmp_root[0] = '\0';
		return -1;
	}
	/* Anything that would make a temp file makes it in our root, where it is counted. */
	setenv("TMPDIR", w->tmp_root, 1);
	if (loop_new(LOOP_CLOCK_VIRTUAL, &w->loop) < 0 ||
	    cid_alloc_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX, NULL, &w->cids) < 0 ||
	    sim_backend_new(w->loop, NULL, &w->be) < 0)
		goto fail;
	w->lc = (struct local_context){.cids = w->cids};
	if (vmgr_new(&(struct vmgr_params){.loop = w->loop,
					   .backend = w->be,
					   .context = &local_context_ops,
					   .context_data = &w->lc},
		     &w->m) < 0)
		goto fail;
	vm_config_init(&w->hang);
	w->hang.kind = VM_CONFIG_APP;
	w->hang.name = "soak";
	w->hang.guest_script = "started; ready; hang";
	w->shutdown = w->hang;
	w->shutdown.guest_script = "started; ready; finished 0; exit 0";
	return 0;
fail:
	print_error("setup: %s\n", avf_err_last()->msg);
	world_close(w);
	return -1;
}

/* Teardown, also after a failed check. A failed cycle may still hold a VM, which
 * vmgr_free() does not accept: then the model is left to the process's exit. */
static void world_close(struct sim_world *w)
{
	if (!w->m || vmgr_vm_count(w->m) == 0) {
		vmgr_free(w->m);
		backend_free(w->be);
		cid_alloc_free(w->cids);
		loop_free(w->loop);
	}
	if (w->tmp_root[0])
		fs_remove_tree(w->tmp_root);
	w->tmp_root[0] = '\0';
}

static void cycle(struct sim_world *w, long i)
{
	enum ending how = endings[i % (long)(sizeof(endings) / sizeof(endings[0]))];
	struct vm_handle *h;
	int r;

	r = vmgr_create_vm(w->m, how == END_SHUTDOWN ? &w->shutdown : &w->hang, &h);
	if (r < 0)
		fail_msg("cycle %ld: createVm: %s", i, avf_err_last()->msg);
	assert_int_equal(vm_register_callback(vm_handle_vm(h), &counting_cb, w), 0);
	w->registered++;
	if (vmgr_start(w->m, h) < 0)
		fail_msg("cycle %ld: start: %s", i, avf_err_last()->msg);
	/* The guest's steps run from timers: a millisecond of virtual time runs them all. */
	assert_true(loop_advance(w->loop, LOOP_NSEC_PER_SEC / 1000) >= 0);
	switch (how) {
	case END_STOP:
		assert_int_equal(vm_state(vm_handle_vm(h)), AVF_VM_STATE_READY);
		if (vmgr_stop(w->m, h) < 0)
			fail_msg("cycle %ld: stop: %s", i, avf_err_last()->msg);
		w->expected_died++;
		break;
	case END_SHUTDOWN:
		assert_int_equal(vm_state(vm_handle_vm(h)), AVF_VM_STATE_DEAD);
		w->expected_died++;
		break;
	case END_DROP:
		/* The callback is the VM record's: the drop's kill reaches it too. */
		assert_int_equal(vm_state(vm_handle_vm(h)), AVF_VM_STATE_READY);
		w->expected_died++;
		break;
	}
	vm_handle_unref(h);
}

/* What the process and the model hold now. */
struct sim_sample {
	struct soak_proc self;
	long cids, vms, vmms, temp;
};

static void sample(struct sim_world *w, struct sim_sample *s)
{
	soak_proc_sample(&s->self, "soak_sim", getpid());
	s->cids = cid_alloc_held_count(w->cids);
	s->vms = (long)vmgr_vm_count(w->m);
	s->vmms = sim_backend_live_children(w->be);
	s->temp = probe_dir_entries(w->tmp_root);
}

static struct sim_world W;

static int setup(void **state)
{
	return world_open(&W);
}

static int teardown(void **state)
{
	world_close(&W);
	return 0;
}

static void sim_soak(void **state)
{
	long n = soak_env_count("AVF_SOAK_SIM_CYCLES", 100000), warm = soak_warmup(n), i;
	unsigned long long died_at_start;
	struct sim_world *w = &W;
	struct sim_sample s0, s1;
	int failed = 0;

	for (i = 0; i < warm; i++)
		cycle(w, i);
	sample(w, &s0);
	died_at_start = w->died;
	w->expected_died = 0;
	for (; i < warm + n; i++)
		cycle(w, i);
	sample(w, &s1);

	print_message("soak_sim: %ld cycles (after %ld warm-up), simulated backend in-process\n", n,
		      warm);
	failed += soak_proc_judge(&s0.self, &s1.self);
	failed += soak_count_judge("CIDs held", s0.cids, s1.cids);
	failed += soak_count_judge("VM records", s0.vms, s1.vms);
	failed += soak_count_judge("simulated VMMs", s0.vmms, s1.vmms);
	failed += soak_count_judge("temp root entries", s0.temp, s1.temp);
	print_message("onDied: %llu delivered, %llu expected; callbacks: %llu registered, "
		      "%llu released\n",
		      w->died - died_at_start, w->expected_died, w->registered, w->released);
	assert_int_equal(w->died - died_at_start, w->expected_died);
	assert_int_equal(w->released, w->registered);
	assert_int_equal(s1.cids, 0);
	assert_int_equal(s1.vms, 0);
	assert_int_equal(failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(sim_soak, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
