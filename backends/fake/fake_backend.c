/* SPDX-License-Identifier: Apache-2.0 */
#include "backends/fake/fake_backend.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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

static int add_fd_extra(struct backend_plan *plan, struct crosvm_slots *slots, const char *flag,
			const char *slot, int fd)
{
	int r = 0;

	if (fd < 0)
		return 0;
	if ((r = crosvm_slots_add(slots, slot, fd)) < 0 ||
	    (r = backend_plan_add_arg(plan, flag)) < 0)
		return r;
	char word[sizeof(CROSVM_PROC_FD) + CROSVM_SLOT_NAME_MAX];

	snprintf(word, sizeof(word), CROSVM_PROC_FD "%s", slot);
	return backend_plan_add_arg(plan, word);
}

/*
 * An app VM's payload, for the guest agent fakevmm runs (docs/payload-api.md):
 * AVF hands Microdroid an APK and a payload-metadata disk; the fake VM gets the
 * library, the config, the instance and storage images as fds, and the VM's
 * directory, where its vsock (FAKE_BACKEND_VSOCK_DIR, the host's connectVsock
 * connects there) and its encrypted store live.
 */
static int add_payload_args(const struct backend_vm *vm, struct backend_plan *plan,
			    struct crosvm_slots *slots)
{
	const struct vm_config_payload *p = &vm->config->payload;
	int r;

	if ((r = add_fd_extra(plan, slots, "--avf-payload", FAKE_BACKEND_FD_PAYLOAD,
			      p->library_fd)) < 0 ||
	    (r = backend_plan_add_arg(plan, "--avf-payload-name")) < 0 ||
	    (r = backend_plan_add_arg(plan, p->binary_name)) < 0 ||
	    (r = add_fd_extra(plan, slots, "--avf-payload-config", FAKE_BACKEND_FD_PAYLOAD_CFG,
			      p->config_fd)) < 0 ||
	    (r = add_fd_extra(plan, slots, "--avf-instance", FAKE_BACKEND_FD_INSTANCE,
			      p->instance_fd)) < 0 ||
	    (r = add_fd_extra(plan, slots, "--avf-storage", FAKE_BACKEND_FD_STORAGE,
			      p->storage_fd)) < 0)
		return r;
	if (!vm->temp_dir)
		return 0; /* no vsock and no encrypted store without a directory for them */
	if ((r = backend_plan_add_arg(plan, "--avf-vm-dir")) == 0)
		r = backend_plan_add_arg(plan, vm->temp_dir);
	return r;
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
	if (!r && vm_config_has_payload(vm->config))
		r = add_payload_args(vm, plan, slots);
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
	const char *src = vm->config->guest_script     ? vm->config->guest_script
			  : vm_config_has_payload(vm->config) ? GSCRIPT_AGENT_DEFAULT
							      : GSCRIPT_DEFAULT;
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

/*
 * The fake VM's vsock: the payload's server on port P listens on the unix socket
 * <temp dir>/vsock/P (docs/payload-api.md). AVF's RPC-binder session is not
 * emulated: the caller gets the raw stream.
 */
static int fake_connect_vsock(struct backend_child *child, uint32_t port, int *ret_fd)
{
	const char *dir = vmm_process_temp_dir(child);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, e;

	if (!vmm_process_running(child))
		return avf_err_service(-ESRCH, "VM is not running");
	if (!dir)
		return avf_err_set(-EOPNOTSUPP, AVF_EX_UNSUPPORTED_OPERATION,
				   "connectVsock(%u): this VM has no directory for its vsock", port);
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/" FAKE_BACKEND_VSOCK_DIR "/%u",
			     dir, port) >= sizeof(sa.sun_path))
		return avf_err_service(-ENAMETOOLONG, "connectVsock(%u): socket path too long", port);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return avf_err_service(-errno, "connectVsock(%u): socket: %s", port, strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		close(fd);
		/* nothing bound there, or bound and closed: as a vsock peer that is not listening */
		return avf_err_service(-(e == ENOENT ? ECONNREFUSED : e),
				       "Failed to connect to vsock port %u: %s", port,
				       strerror(e == ENOENT ? ECONNREFUSED : e));
	}
	*ret_fd = fd;
	return 0;
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
    .connect_vsock = fake_connect_vsock,
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
