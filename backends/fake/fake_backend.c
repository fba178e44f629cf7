/* SPDX-License-Identifier: Apache-2.0 */
#include "backends/fake/fake_backend.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "backends/crosvm_argv.h"
#include "backends/fake/guest_channel.h"
#include "backends/vmm_process.h"
#include "base/avf_err.h"
#include "fakes/script/guest_script.h"

struct fake_backend {
	struct backend base; /* first: a struct backend * is a struct fake_backend * */
	char *path;
	int log_fd;
	struct vmm_process_stats stats;
};

/* What prepare() leaves for spawn() in plan->priv. */
struct fake_plan {
	uint32_t cid;
	bool spawn_fail;
	char *temp_dir;
	struct crosvm_slots slots; /* the manager's fds argv names (not owned; open until spawn returns) */
};

/* ---- prepare ---- */

static void fake_plan_free(void *priv)
{
	struct fake_plan *fp = priv;

	if (fp) {
		free(fp->temp_dir);
		crosvm_slots_clear(&fp->slots);
	}
	free(fp);
}

/* Percent-encode every byte outside [A-Za-z0-9._~-]: one argv word, one cmdline token. */
static char *script_encode(const char *src)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(src) * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

/* crosvm's command line (crosvm_argv.h), then the fake's own extras at the end. */
static int build_argv(const struct fake_backend *fb, const struct backend_vm *vm,
		      struct backend_plan *plan, struct crosvm_slots *slots)
{
	char *enc = NULL, *param = NULL;
	int r;

	r = crosvm_argv_build(fb->path, vm, plan, slots);
	if (!r && vm->config->guest_script) {
		enc = script_encode(vm->config->guest_script);
		if (!enc || asprintf(&param, "avf.fake_script=%s", enc) < 0) {
			param = NULL;
			r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC,
					"out of memory building argv");
		} else {
			r = backend_plan_add_arg(plan, "--params");
			if (!r)
				r = backend_plan_add_arg(plan, param);
		}
	}
	if (!r)
		r = backend_plan_add_arg(plan, "--avf-guest-channel");
	if (!r)
		r = backend_plan_add_arg(plan, CROSVM_PROC_FD FAKE_BACKEND_FD_GUEST);
	free(enc);
	free(param);
	return r;
}

static int fake_prepare(struct backend *be, const struct backend_vm *vm, struct backend_plan **ret)
{
	struct fake_backend *fb = (struct fake_backend *)be;
	const char *src = vm->config->guest_script ? vm->config->guest_script : GSCRIPT_DEFAULT;
	struct backend_plan *plan = NULL;
	struct gscript *script = NULL;
	struct fake_plan *fp = NULL;
	int r;

	/* Parse now so a bad script fails createVm, as a bad config would. */
	r = gscript_parse(src, &script);
	if (r < 0)
		return r;
	fp = calloc(1, sizeof(*fp));
	if (!fp || (vm->temp_dir && !(fp->temp_dir = strdup(vm->temp_dir)))) {
		r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory preparing VMM");
		goto out;
	}
	fp->cid = vm->cid;
	fp->spawn_fail = script->steps[0].op == GS_SPAWN_FAIL;
	r = backend_plan_new(&plan);
	if (r < 0)
		goto out;
	plan->priv = fp;
	plan->priv_free = fake_plan_free;
	r = build_argv(fb, vm, plan, &fp->slots);
	fp = NULL;
	if (r < 0)
		goto out;
	*ret = plan;
	plan = NULL;
out:
	backend_plan_free(plan);
	fake_plan_free(fp);
	gscript_free(script);
	return r;
}

/* ---- spawn ---- */

/* The guest channel as vmm_process reads it: guest_channel.h's codec. */
static int channel_recv(int fd, void *msg, struct guest_event *ev)
{
	struct guest_channel_msg *req = msg;
	int r = guest_channel_recv(fd, req, MSG_DONTWAIT);

	if (r > 0 && guest_channel_to_event(req, ev) < 0)
		return -EBADMSG;
	return r;
}

static int channel_reply(int fd, const void *msg, int verdict)
{
	const struct guest_channel_msg *req = msg;
	const struct avf_error *e = avf_err_last();
	struct guest_channel_msg rep;

	guest_channel_make_reply(req->seq, verdict, verdict < 0 ? e->ex : 0,
				 verdict < 0 ? e->msg : NULL, &rep);
	return guest_channel_send(fd, &rep, MSG_DONTWAIT);
}

static const struct vmm_channel_ops guest_channel_ops = {
    .slot = FAKE_BACKEND_FD_GUEST,
    .msg_size = sizeof(struct guest_channel_msg),
    .recv = channel_recv,
    .reply = channel_reply,
};

static int fake_spawn(struct backend *be, struct backend_plan *plan,
		      const struct backend_sink *sink, void *sink_ctx, struct backend_child **ret)
{
	struct fake_backend *fb = (struct fake_backend *)be;
	const struct fake_plan *fp = plan->priv;

	if (fp->spawn_fail)
		return avf_err_service(-ECHILD, "VMM failed to start (spawn-fail)");
	return vmm_process_spawn(be,
				 &(struct vmm_process_params){.path = fb->path,
							      .plan = plan,
							      .cid = fp->cid,
							      .temp_dir = fp->temp_dir,
							      .slots = &fp->slots,
							      .channel = &guest_channel_ops,
							      .log_fd = fb->log_fd,
							      .stats = &fb->stats},
				 sink, sink_ctx, ret);
}

static void fake_destroy(struct backend *be)
{
	struct fake_backend *fb = (struct fake_backend *)be;

	free(fb->path);
	free(fb);
}

static const struct backend_ops fake_ops = {
    .name = "fake",
    .prepare = fake_prepare,
    .spawn = fake_spawn,
    .kill = vmm_process_kill,
    .child_free = vmm_process_free,
    .destroy = fake_destroy,
};

int fake_backend_new(struct loop *loop, const struct trace *tr,
		     const struct fake_backend_opts *opts, struct backend **ret)
{
	struct fake_backend *fb;

	if (!loop || !opts || !opts->fakevmm_path || !*opts->fakevmm_path)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "fake backend needs a loop and the fakevmm path");
	fb = calloc(1, sizeof(*fb));
	if (!fb || !(fb->path = strdup(opts->fakevmm_path))) {
		free(fb);
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	}
	fb->base.ops = &fake_ops;
	fb->base.loop = loop;
	fb->base.trace = tr;
	fb->log_fd = opts->log_fd;
	*ret = &fb->base;
	return 0;
}

unsigned fake_backend_live_children(const struct backend *be)
{
	return ((const struct fake_backend *)be)->stats.live;
}

pid_t fake_backend_last_pid(const struct backend *be)
{
	return ((const struct fake_backend *)be)->stats.last_pid;
}
