/* SPDX-License-Identifier: Apache-2.0 */
#include "fakes/sim/sim_backend.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"
#include "fakes/script/guest_script.h"

struct sim_backend {
	struct backend base; /* first: a struct backend * is a struct sim_backend * */
	unsigned live_children;
};

struct backend_child {
	struct sim_backend *be;
	struct gscript *script;
	size_t pc; /* next step */
	struct loop_source *timer;
	const struct backend_sink *sink;
	void *sink_ctx;
	char actor[TRACE_ACTOR_MAX];
	char *failure; /* accumulated failure-channel text */
	bool exited;
};

static void script_free(void *script)
{
	gscript_free(script);
}

static int sim_prepare(struct backend *be, const struct backend_vm *vm, struct backend_plan **ret)
{
	const char *src = vm->config->guest_script     ? vm->config->guest_script
			  : vm_config_has_payload(vm->config) ? GSCRIPT_AGENT_DEFAULT
							      : GSCRIPT_DEFAULT;
	struct backend_plan *plan = NULL;
	struct gscript *script = NULL;
	char cid[16];
	int r;

	/* Parse now so a bad script fails createVm, as a bad config would. */
	r = gscript_parse(src, &script);
	if (r < 0)
		return r;
	/* An in-process VM has no guest processes: payloads run in fakevmm only. */
	if (script->steps[script->n - 1].op == GS_AGENT) {
		gscript_free(script);
		return avf_err_set(-EOPNOTSUPP, AVF_EX_UNSUPPORTED_OPERATION,
				   "the simulated backend cannot run a payload (step 'agent'): "
				   "use the fake backend (docs/payload-api.md)");
	}
	r = backend_plan_new(&plan);
	if (r < 0) {
		gscript_free(script);
		return r;
	}
	plan->priv = script;
	plan->priv_free = script_free;
	snprintf(cid, sizeof(cid), "%u", vm->cid);
	/* argv only describes the simulated VMM in traces and dry runs */
	if ((r = backend_plan_add_arg(plan, "sim")) < 0 || (r = backend_plan_add_arg(plan, "--cid")) < 0 ||
	    (r = backend_plan_add_arg(plan, cid)) < 0 || (r = backend_plan_add_arg(plan, "--script")) < 0 ||
	    (r = backend_plan_add_arg(plan, src)) < 0) {
		backend_plan_free(plan);
		return r;
	}
	*ret = plan;
	return 0;
}

static int append_failure(struct backend_child *c, const char *text)
{
	size_t old = c->failure ? strlen(c->failure) : 0;
	char *f = realloc(c->failure, old + strlen(text) + 1);

	if (!f)
		return -ENOMEM;
	memcpy(f + old, text, strlen(text) + 1);
	c->failure = f;
	return 0;
}

/* Report the exit: the last thing done with @c in this call chain (backend.h). */
static void sim_report_exit(struct backend_child *c, bool signaled, int code)
{
	struct vm_exit e = { .signaled = signaled, .code = code, .failure = c->failure };

	c->exited = true;
	c->timer = loop_source_free(c->timer);
	c->sink->exited(c->sink_ctx, &e);
}

static void sim_step(struct loop_source *src, void *data);

static int schedule(struct backend_child *c, uint64_t delay_ns)
{
	struct loop *l = c->be->base.loop;

	c->timer = loop_source_free(c->timer);
	return loop_add_timer(l, loop_now(l) + delay_ns, sim_step, c, &c->timer);
}

/* Run one step; each step that reports to the sink ends the function. */
static void sim_step(struct loop_source *src, void *data)
{
	struct backend_child *c = data;
	const struct gscript_step *st;
	struct guest_event ev = { 0 };

	c->timer = loop_source_free(c->timer);
	if (c->exited || c->pc >= c->script->n)
		return;
	st = &c->script->steps[c->pc++];
	switch (st->op) {
	case GS_WAIT:
		if (schedule(c, (uint64_t)st->value) < 0)
			sim_report_exit(c, true, SIGABRT); /* a simulated VMM that cannot go on */
		return;
	case GS_FAILURE:
		trace_emitf(c->be->base.trace, c->actor, "guest writes failure \"%s\"", st->text);
		if (append_failure(c, st->text) < 0 || schedule(c, 0) < 0)
			sim_report_exit(c, true, SIGABRT);
		return;
	case GS_CONSOLE:
	case GS_LOG:
	case GS_ECHO_CONSOLE:
		/* No console or log device in the simulator: only the trace shows them. */
		if (st->op == GS_ECHO_CONSOLE)
			trace_emitf(c->be->base.trace, c->actor,
				    "guest reads the console input (none here)");
		else
			trace_emitf(c->be->base.trace, c->actor, "guest writes %s \"%s\"",
				    gscript_op_name(st->op), st->text);
		if (schedule(c, 0) < 0)
			sim_report_exit(c, true, SIGABRT);
		return;
	case GS_EXIT:
		sim_report_exit(c, false, (int)st->value);
		return;
	case GS_SIGNAL:
		sim_report_exit(c, true, (int)st->value);
		return;
	case GS_HANG:
	case GS_SPAWN_FAIL:
	case GS_AGENT: /* refused by sim_prepare */
		return;
	case GS_STARTED:
		ev.kind = GUEST_PAYLOAD_STARTED;
		break;
	case GS_READY:
		ev.kind = GUEST_PAYLOAD_READY;
		break;
	case GS_FINISHED:
		ev.kind = GUEST_PAYLOAD_FINISHED;
		ev.value = (int)st->value;
		break;
	case GS_ERROR:
		ev.kind = GUEST_ERROR;
		ev.value = (int)st->value;
		ev.message = st->text;
		break;
	}
	/* Next step first, then report: the sink may kill (and free) us. */
	if (schedule(c, 0) < 0) {
		sim_report_exit(c, true, SIGABRT);
		return;
	}
	c->sink->guest(c->sink_ctx, &ev);
}

static int sim_spawn(struct backend *be, struct backend_plan *plan,
		     const struct backend_sink *sink, void *sink_ctx, struct backend_child **ret)
{
	struct sim_backend *sb = (struct sim_backend *)be;
	struct gscript *script = plan->priv;
	struct backend_child *c;
	int r;

	if (script->n > 0 && script->steps[0].op == GS_SPAWN_FAIL)
		return avf_err_service(-ECHILD, "simulated VMM failed to start (spawn-fail)");
	c = calloc(1, sizeof(*c));
	if (!c)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory spawning VMM");
	c->be = sb;
	c->sink = sink;
	c->sink_ctx = sink_ctx;
	c->script = script;
	snprintf(c->actor, sizeof(c->actor), "vmm:%s", plan->argc > 2 ? plan->argv[2] : "?");
	r = schedule(c, 0);
	if (r < 0) {
		free(c);
		return r;
	}
	plan->priv = NULL; /* the child owns the script now */
	sb->live_children++;
	*ret = c;
	return 0;
}

static int sim_kill(struct backend_child *c)
{
	if (c->exited)
		return avf_err_service(-ESRCH, "VMM already exited");
	trace_emitf(c->be->base.trace, c->actor, "SIGKILL");
	sim_report_exit(c, true, SIGKILL);
	return 0;
}

static struct backend_child *sim_child_free(struct backend_child *c)
{
	if (!c)
		return NULL;
	loop_source_free(c->timer);
	c->be->live_children--;
	gscript_free(c->script);
	free(c->failure);
	free(c);
	return NULL;
}

static void sim_destroy(struct backend *be)
{
	free(be);
}

static const struct backend_ops sim_ops = {
	.name = "sim",
	.prepare = sim_prepare,
	.spawn = sim_spawn,
	.kill = sim_kill,
	.child_free = sim_child_free,
	.destroy = sim_destroy,
};

int sim_backend_new(struct loop *loop, const struct trace *tr, struct backend **ret)
{
	struct sim_backend *sb = calloc(1, sizeof(*sb));

	if (!sb)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	sb->base.ops = &sim_ops;
	sb->base.loop = loop;
	sb->base.trace = tr;
	*ret = &sb->base;
	return 0;
}

unsigned sim_backend_live_children(const struct backend *be)
{
	return ((const struct sim_backend *)be)->live_children;
}
