/* SPDX-License-Identifier: Apache-2.0 */
#include "backends/crosvm/crosvm_backend.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/vm_sockets.h>
#include <unistd.h>

#include "backends/crosvm_argv.h"
#include "backends/vmm_process.h"
#include "base/avf_err.h"

struct crosvm_backend {
	struct backend base; /* first: a struct backend * is a struct crosvm_backend * */
	char *path;
	int log_fd;
	bool stop_via_socket;
	uint64_t stop_timeout_ns;
	struct vmm_process_stats stats;
};

/* What prepare() leaves for spawn() in plan->priv. */
struct crosvm_plan {
	uint32_t cid;
	char *temp_dir;
	struct crosvm_slots slots; /* the manager's fds argv names (not owned) */
};

static void crosvm_plan_free(void *priv)
{
	struct crosvm_plan *cp = priv;

	if (cp) {
		free(cp->temp_dir);
		crosvm_slots_clear(&cp->slots);
	}
	free(cp);
}

/* What crosvm cannot be given (yet), refused at createVm as AVF refuses a bad config. */
static int check_vm(const struct backend_vm *vm)
{
	const struct vm_config *cfg = vm->config;

	/* vm_config_validate() lets a config without files through (the fake guest's); crosvm
	 * needs something to boot: AVF's validate_config() words. */
	if (cfg->kernel_fd < 0 && cfg->bootloader_fd < 0)
		return avf_err_service(-EINVAL,
				       "VM must have either a bootloader or a kernel image.");
	return 0;
}

static int crosvm_prepare(struct backend *be, const struct backend_vm *vm,
			  struct backend_plan **ret)
{
	struct crosvm_backend *cb = (struct crosvm_backend *)be;
	struct backend_plan *plan = NULL;
	struct crosvm_plan *cp;
	int r;

	if ((r = check_vm(vm)) < 0)
		return r;
	cp = calloc(1, sizeof(*cp));
	if (!cp || (vm->temp_dir && !(cp->temp_dir = strdup(vm->temp_dir)))) {
		crosvm_plan_free(cp);
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory preparing VMM");
	}
	cp->cid = vm->cid;
	r = backend_plan_new(&plan);
	if (r < 0) {
		crosvm_plan_free(cp);
		return r;
	}
	plan->priv = cp;
	plan->priv_free = crosvm_plan_free;
	r = crosvm_argv_build(cb->path, vm, plan, &cp->slots);
	if (r < 0) {
		backend_plan_free(plan);
		return r;
	}
	*ret = plan;
	return 0;
}

static int crosvm_spawn(struct backend *be, struct backend_plan *plan,
			const struct backend_sink *sink, void *sink_ctx, struct backend_child **ret)
{
	struct crosvm_backend *cb = (struct crosvm_backend *)be;
	const struct crosvm_plan *cp = plan->priv;

	return vmm_process_spawn(be,
				 &(struct vmm_process_params){.path = cb->path,
							      .plan = plan,
							      .cid = cp->cid,
							      .temp_dir = cp->temp_dir,
							      .slots = &cp->slots,
							      .log_fd = cb->log_fd,
							      .stats = &cb->stats},
				 sink, sink_ctx, ret);
}

/* backend_ops.kill: SIGKILL as A15, or "Exit" first when asked (crosvm_backend.h). */
static int crosvm_kill(struct backend_child *child)
{
	/* The child's backend is this one: vmm_process children keep their backend. */
	const struct crosvm_backend *cb = (const struct crosvm_backend *)vmm_process_backend(child);

	if (cb->stop_via_socket)
		return vmm_process_stop(child, cb->stop_timeout_ns);
	return vmm_process_kill(child);
}

static void crosvm_destroy(struct backend *be)
{
	struct crosvm_backend *cb = (struct crosvm_backend *)be;

	free(cb->path);
	free(cb);
}

/*
 * connectVsock as virtmgr does it (avf-spec 2.2): AF_VSOCK to the guest's CID and
 * @port. Needs vhost-vsock on the host (not on the machines CI runs on).
 */
static int crosvm_connect_vsock(struct backend_child *child, uint32_t port, int *ret_fd)
{
	struct sockaddr_vm sa = {.svm_family = AF_VSOCK, .svm_cid = vmm_process_cid(child),
				 .svm_port = port};
	int fd, e;

	if (!vmm_process_running(child))
		return avf_err_service(-ESRCH, "VM is not running");
	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return avf_err_service(-errno, "connectVsock(%u): vsock socket: %s", port,
				       strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		close(fd);
		return avf_err_service(-e, "Failed to connect to vsock port %u: %s", port,
				       strerror(e));
	}
	*ret_fd = fd;
	return 0;
}

static const struct backend_ops crosvm_ops = {
    .name = "crosvm",
    .prepare = crosvm_prepare,
    .spawn = crosvm_spawn,
    .kill = crosvm_kill,
    .child_free = vmm_process_free,
    .destroy = crosvm_destroy,
    .connect_vsock = crosvm_connect_vsock,
};

int crosvm_backend_new(struct loop *loop, const struct trace *tr,
		       const struct crosvm_backend_opts *opts, struct backend **ret)
{
	struct crosvm_backend *cb;

	if (!loop || !opts || !opts->crosvm_path || !*opts->crosvm_path)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "crosvm backend needs a loop and the crosvm path");
	cb = calloc(1, sizeof(*cb));
	if (!cb || !(cb->path = strdup(opts->crosvm_path))) {
		free(cb);
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	}
	cb->base.ops = &crosvm_ops;
	cb->base.loop = loop;
	cb->base.trace = tr;
	cb->log_fd = opts->log_fd;
	cb->stop_via_socket = opts->stop_via_socket;
	cb->stop_timeout_ns =
	    opts->stop_timeout_ns ? opts->stop_timeout_ns : VMM_PROCESS_STOP_TIMEOUT_NS;
	*ret = &cb->base;
	return 0;
}

static bool is_executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int crosvm_backend_find(char **ret)
{
	const char *env = getenv(CROSVM_BACKEND_ENV), *path = getenv("PATH");
	char *copy, *dir, *save = NULL, *found = NULL;

	if (env && *env) {
		if (!is_executable_file(env))
			return avf_err_set(-ENOENT, AVF_EX_ILLEGAL_ARGUMENT,
					   CROSVM_BACKEND_ENV " '%s': not an executable file", env);
		*ret = strdup(env);
		return *ret ? 0 : avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	}
	if (!path || !*path)
		return avf_err_set(-ENOENT, AVF_EX_ILLEGAL_ARGUMENT,
				   "no crosvm: " CROSVM_BACKEND_ENV
				   " is not set and PATH is empty");
	copy = strdup(path);
	if (!copy)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	for (dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		char *cand;

		/* strtok_r skips empty entries: the current directory is never searched. */
		if (asprintf(&cand, "%s/crosvm", dir) < 0)
			continue;
		if (is_executable_file(cand))
			found = cand;
		else
			free(cand);
	}
	free(copy);
	if (!found)
		return avf_err_set(-ENOENT, AVF_EX_ILLEGAL_ARGUMENT,
				   "no crosvm: " CROSVM_BACKEND_ENV " is not set and no executable "
				   "'crosvm' is in PATH");
	*ret = found;
	return 0;
}

unsigned crosvm_backend_live_children(const struct backend *be)
{
	return ((const struct crosvm_backend *)be)->stats.live;
}

pid_t crosvm_backend_last_pid(const struct backend *be)
{
	return ((const struct crosvm_backend *)be)->stats.last_pid;
}
