/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim_cycle: the cost of the lifecycle model itself. createVm + start + stop +
 * drop on the simulated backend, in-process, virtual clock: no IPC, no processes.
 * This is the floor under every other lifecycle number (the full stack adds IPC
 * and fork/exec on top). Prints cycles/s, ns/cycle, callbacks delivered against
 * expected, and the memory of K VMs running at once.
 *
 *   sim_cycle [N cycles (default 100000)] [K concurrent (default 1000)]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "cid/cid_alloc.h"
#include "fakes/sim/sim_backend.h"
#include "service/local_context.h"
#include "service/vmgr.h"

static unsigned long long died_events;

static void on_died(void *data, uint32_t cid, enum avf_death_reason reason)
{
	died_events++;
}

static const struct vm_callback_ops counting_cb = { .died = on_died };

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void die(const char *what)
{
	fprintf(stderr, "sim_cycle: %s: %s\n", what, avf_err_last()->msg);
	exit(1);
}

static double run_cycles(struct vmgr *m, struct vm_config *c, long n, bool with_cb)
{
	double t0 = now_s();

	for (long i = 0; i < n; i++) {
		struct vm_handle *h;

		if (vmgr_create_vm(m, c, &h) < 0)
			die("createVm");
		if (with_cb && vm_register_callback(vm_handle_vm(h), &counting_cb, NULL) < 0)
			die("registerCallback");
		if (vmgr_start(m, h) < 0)
			die("start");
		if (vmgr_stop(m, h) < 0)
			die("stop");
		vm_handle_unref(h);
	}
	return now_s() - t0;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	long k = argc > 2 ? atol(argv[2]) : 1000;
	struct loop *loop;
	struct cid_alloc *cids;
	struct backend *be;
	struct local_context lc;
	struct vmgr *m;
	struct vm_config c;
	struct vm_handle **hs;
	double t_plain, t_cb;
	long rss0, rss1;

	if (n <= 0 || k <= 0 || k > 60000) {
		fprintf(stderr, "usage: sim_cycle [N>0] [K in 1..60000]\n");
		return 2;
	}
	if (loop_new(LOOP_CLOCK_VIRTUAL, &loop) < 0 ||
	    cid_alloc_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX, NULL, &cids) < 0 ||
	    sim_backend_new(loop, NULL, &be) < 0)
		die("setup");
	lc = (struct local_context){ .cids = cids };
	if (vmgr_new(&(struct vmgr_params){ .loop = loop, .backend = be,
					    .context = &local_context_ops, .context_data = &lc },
		     &m) < 0)
		die("vmgr");
	vm_config_init(&c);
	c.kind = VM_CONFIG_APP;
	c.guest_script = "started; ready; hang";

	run_cycles(m, &c, n / 10 + 1, false); /* warm-up: allocator and caches */
	t_plain = run_cycles(m, &c, n, false);
	died_events = 0;
	t_cb = run_cycles(m, &c, n, true);
	printf("sim lifecycle (create+start+stop+drop, in-process, no IPC), N=%ld\n", n);
	printf("  no callback:   %10.0f cycles/s  %8.0f ns/cycle\n", n / t_plain, t_plain * 1e9 / n);
	printf("  with onDied:   %10.0f cycles/s  %8.0f ns/cycle  (%.2fx the time; %llu/%ld onDied delivered)\n",
	       n / t_cb, t_cb * 1e9 / n, t_cb / t_plain, died_events, n);

	/* K VMs booted to READY at once: memory per running simulated VM. */
	hs = calloc((size_t)k, sizeof(*hs));
	rss0 = rss_kib();
	for (long i = 0; i < k; i++) {
		if (vmgr_create_vm(m, &c, &hs[i]) < 0 || vmgr_start(m, hs[i]) < 0)
			die("create/start");
	}
	loop_advance(loop, LOOP_NSEC_PER_SEC);
	rss1 = rss_kib();
	printf("  %ld VMs running at once: RSS %ld -> %ld KiB, %.2f KiB per VM\n", k, rss0, rss1,
	       (double)(rss1 - rss0) / (double)k);
	for (long i = 0; i < k; i++)
		vm_handle_unref(hs[i]);
	free(hs);
	if (cid_alloc_held_count(cids) != 0 || vmgr_vm_count(m) != 0)
		fprintf(stderr, "sim_cycle: leak: %u CIDs held, %zu VMs left\n",
			cid_alloc_held_count(cids), vmgr_vm_count(m));

	vmgr_free(m);
	backend_free(be);
	cid_alloc_free(cids);
	loop_free(loop);
	return 0;
}
