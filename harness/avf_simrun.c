/* SPDX-License-Identifier: Apache-2.0 */
/*
 * avf-simrun: run one simulated VM from createVm to onDied and print its event
 * trace. The whole stack above the VMM is the real one (CID allocator, manager,
 * handle, callbacks, hangup monitor); the VMM is the in-process simulator on a
 * virtual clock, so the run is instant and identical every time.
 *
 *   avf-simrun [--name NAME] [--raw] [--script "GUEST SCRIPT"] [--stop-at DURATION]
 *              [--drop-at DURATION]
 *
 * Exit status: 0 when the VM died and its CID was released, 1 on an error, 2 on
 * a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"
#include "cid/cid_alloc.h"
#include "fakes/script/guest_script.h"
#include "fakes/sim/sim_backend.h"
#include "loop/loop.h"
#include "service/local_context.h"
#include "service/vmgr.h"
#include "vm/death_reason.h"

struct run {
	struct loop *loop;
	struct vmgr *mgr;
	struct vm_handle *handle;
	struct loop_source *action_timer;
	bool died;
	enum avf_death_reason reason;
};

static void print_event(const struct trace_event *ev, void *data)
{
	char line[TRACE_TEXT_MAX + 64];

	trace_event_format(ev, line, sizeof(line));
	puts(line);
}

static uint64_t trace_clock(void *data)
{
	return loop_now(data);
}

static void on_died(void *data, uint32_t cid, enum avf_death_reason reason)
{
	struct run *run = data;

	run->died = true;
	run->reason = reason;
}

static const struct vm_callback_ops client_callback = { .died = on_died };

static void stop_now(struct loop_source *src, void *data)
{
	struct run *run = data;

	run->action_timer = loop_source_free(run->action_timer);
	if (vmgr_stop(run->mgr, run->handle) < 0)
		fprintf(stderr, "stop: %s\n", avf_err_last()->msg);
}

static void drop_now(struct loop_source *src, void *data)
{
	struct run *run = data;

	run->action_timer = loop_source_free(run->action_timer);
	run->handle = vm_handle_unref(run->handle);
}

static int parse_duration(const char *s, uint64_t *ret)
{
	/* Reuse the guest script's duration syntax: "wait <d>; hang". */
	char buf[96];
	struct gscript *g;
	int r;

	snprintf(buf, sizeof(buf), "wait %s; hang", s);
	r = gscript_parse(buf, &g);
	if (r < 0)
		return r;
	*ret = (uint64_t)g->steps[0].value;
	gscript_free(g);
	return 0;
}

static void usage(FILE *f)
{
	fputs("usage: avf-simrun [--name NAME] [--raw] [--script \"GUEST SCRIPT\"]\n"
	      "                  [--stop-at DURATION] [--drop-at DURATION]\n"
	      "Runs one simulated VM from createVm to onDied and prints the event trace.\n"
	      "Guest script steps: wait D; started; ready; finished N; error N TEXT;\n"
	      "  failure TEXT; exit N; signal SIG; hang; spawn-fail\n"
	      "Default script: \"" GSCRIPT_DEFAULT "\"\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },  { "raw", no_argument, NULL, 'r' },
		{ "script", required_argument, NULL, 's' }, { "stop-at", required_argument, NULL, 'S' },
		{ "drop-at", required_argument, NULL, 'D' }, { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct run run = { 0 };
	struct vm_config cfg;
	struct cid_alloc *cids = NULL;
	struct backend *be = NULL;
	struct local_context lc;
	struct trace tr = { .sink = print_event };
	uint64_t stop_at = 0, drop_at = 0;
	int c, r, status = 1;

	vm_config_init(&cfg);
	cfg.kind = VM_CONFIG_APP;
	cfg.name = strdup("demo");
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			free(cfg.name);
			cfg.name = strdup(optarg);
			break;
		case 'r':
			cfg.kind = VM_CONFIG_RAW;
			break;
		case 's':
			free(cfg.guest_script);
			cfg.guest_script = strdup(optarg);
			break;
		case 'S':
		case 'D':
			if (parse_duration(optarg, c == 'S' ? &stop_at : &drop_at) < 0) {
				fprintf(stderr, "avf-simrun: --%s: '%s' is not a duration (like 500ms, 2s)\n",
					c == 'S' ? "stop-at" : "drop-at", optarg);
				vm_config_clear(&cfg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			vm_config_clear(&cfg);
			return 0;
		default:
			usage(stderr);
			vm_config_clear(&cfg);
			return 2;
		}
	}
	if (optind != argc || !cfg.name) {
		usage(stderr);
		vm_config_clear(&cfg);
		return 2;
	}

	if ((r = loop_new(LOOP_CLOCK_VIRTUAL, &run.loop)) < 0)
		goto out;
	tr.clock = trace_clock;
	tr.clock_data = run.loop;
	if ((r = cid_alloc_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX, NULL, &cids)) < 0)
		goto out;
	lc = (struct local_context){ .cids = cids, .trace = &tr };
	if ((r = sim_backend_new(run.loop, &tr, &be)) < 0)
		goto out;
	r = vmgr_new(&(struct vmgr_params){ .loop = run.loop, .backend = be,
					    .context = &local_context_ops, .context_data = &lc,
					    .trace = &tr },
		     &run.mgr);
	if (r < 0)
		goto out;

	trace_emitf(&tr, "client", "createVm(%s config \"%s\", guest \"%s\")",
		    cfg.kind == VM_CONFIG_APP ? "app" : "raw", cfg.name,
		    cfg.guest_script ? cfg.guest_script : GSCRIPT_DEFAULT);
	if ((r = vmgr_create_vm(run.mgr, &cfg, &run.handle)) < 0)
		goto out;
	if ((r = vm_register_callback(vm_handle_vm(run.handle), &client_callback, &run)) < 0)
		goto out;
	if ((r = vmgr_start(run.mgr, run.handle)) < 0)
		goto out;
	if (stop_at || drop_at) {
		r = loop_add_timer(run.loop, stop_at ? stop_at : drop_at, stop_at ? stop_now : drop_now,
				   &run, &run.action_timer);
		if (r < 0)
			goto out;
	}
	/* Advance virtual time to each next event until the VM is dead; a day of
	 * virtual time bounds a guest that hangs (raw VMs have no hangup monitor). */
	while (!run.died) {
		uint64_t next;

		if (!loop_next_timer(run.loop, &next) || next > 86400ull * LOOP_NSEC_PER_SEC)
			break;
		r = loop_advance(run.loop, next - loop_now(run.loop));
		if (r < 0)
			goto out;
	}
	if (!run.died) {
		fprintf(stderr, "avf-simrun: the VM did not die within a day of virtual time "
				"(a raw VM whose guest hangs runs forever)\n");
		goto out;
	}
	run.handle = vm_handle_unref(run.handle);
	printf("VM ended: %s\n", death_reason_display(run.reason));
	if (cid_alloc_held_count(cids) != 0) {
		fprintf(stderr, "avf-simrun: %u CID(s) still held after the VM died\n",
			cid_alloc_held_count(cids));
		goto out;
	}
	status = 0;
out:
	if (r < 0)
		fprintf(stderr, "Error: %s\n", avf_err_last()->msg);
	run.action_timer = loop_source_free(run.action_timer);
	run.handle = vm_handle_unref(run.handle);
	vmgr_free(run.mgr);
	backend_free(be);
	cid_alloc_free(cids);
	loop_free(run.loop);
	vm_config_clear(&cfg);
	return status;
}
