/* SPDX-License-Identifier: Apache-2.0 */
#include "daemon_signals.h"
#include "virtmgr_main.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/crosvm/crosvm_backend.h"
#include "backends/fake/fake_backend.h"
#include "base/avf_err.h"
#include "base/fs_util.h"
#include "fakes/sim/sim_backend.h"
#include "service/virtmgr_server.h"
#include "trace/trace_file.h"

int virtmgr_main_usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	return 2;
}

/* Decimal digits only (no sign, no blanks), at most INT_MAX. */
static bool parse_fd_number(const char *s, int *ret)
{
	long long v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
		if (v > INT_MAX)
			return false;
	}
	*ret = (int)v;
	return true;
}

/* AVF's checks, in its order: open, close-on-exec set again, not stdio, not taken. */
static int claim_fd(const char *prog, const char *flag, const char *arg, int other, int *ret)
{
	int fd;

	if (!parse_fd_number(arg, &fd))
		return virtmgr_main_usage_error(prog, "%s: '%s' is not an fd number", flag, arg);
	if (fcntl(fd, F_GETFD) < 0)
		return virtmgr_main_usage_error(prog, "%s: fd %d is not open", flag, fd);
	/* Ours from now on: it must not leak into the VMMs we start. */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return virtmgr_main_usage_error(prog, "%s: fd %d: %s", flag, fd, strerror(errno));
	if (fd <= STDERR_FILENO)
		return virtmgr_main_usage_error(
		    prog, "%s: fd %d is standard input, output or error", flag, fd);
	if (fd == other)
		return virtmgr_main_usage_error(
		    prog, "%s: fd %d is already taken by the other flag", flag, fd);
	*ret = fd;
	return -1;
}

static int check_socket(const char *prog, int fd)
{
	socklen_t len = sizeof(int);
	int type;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return virtmgr_main_usage_error(prog, "--rpc-server-fd: fd %d is not a socket (%s)",
						fd, strerror(errno));
	if (type != SOCK_SEQPACKET)
		return virtmgr_main_usage_error(prog,
						"--rpc-server-fd: fd %d is a %s socket; %s serves "
						"SOCK_SEQPACKET only",
						fd,
						type == SOCK_STREAM  ? "SOCK_STREAM"
						: type == SOCK_DGRAM ? "SOCK_DGRAM"
								     : "non-SOCK_SEQPACKET",
						prog);
	return -1;
}

int virtmgr_main_claim_fds(const char *prog, const char *rpc_arg, const char *ready_arg,
			   int *ret_rpc, int *ret_ready)
{
	int rpc = -1, ready = -1, r;

	if ((r = claim_fd(prog, "--rpc-server-fd", rpc_arg, -1, &rpc)) >= 0 ||
	    (r = claim_fd(prog, "--ready-fd", ready_arg, rpc, &ready)) >= 0 ||
	    (r = check_socket(prog, rpc)) >= 0)
		return r;
	*ret_rpc = rpc;
	*ret_ready = ready;
	return -1;
}

/* The fakevmm next to our own executable (the build and install layout). */
static char *sibling_fakevmm(void)
{
	char dir[PATH_MAX], *p;

	if (fs_self_dir(dir, sizeof(dir)) < 0 || asprintf(&p, "%s/fakevmm", dir) < 0)
		return NULL;
	return p;
}

int virtmgr_main_backend_from_env(const char *prog, struct virtmgr_main_backend *ret)
{
	const char *be = getenv(VIRTMGR_MAIN_ENV_BACKEND), *fv = getenv(VIRTMGR_MAIN_ENV_FAKEVMM);

	*ret = (struct virtmgr_main_backend){.kind = VIRTMGR_BACKEND_FAKE};
	if (!be || !*be || strcmp(be, "fake") == 0)
		ret->kind = VIRTMGR_BACKEND_FAKE;
	else if (strcmp(be, "sim") == 0)
		ret->kind = VIRTMGR_BACKEND_SIM;
	else if (strcmp(be, "crosvm") == 0)
		ret->kind = VIRTMGR_BACKEND_CROSVM;
	else
		return virtmgr_main_usage_error(
		    prog, VIRTMGR_MAIN_ENV_BACKEND ": '%s' is neither 'fake' nor 'sim' nor 'crosvm'", be);
	if (ret->kind == VIRTMGR_BACKEND_CROSVM && crosvm_backend_find(&ret->crosvm) < 0)
		return virtmgr_main_usage_error(prog, VIRTMGR_MAIN_ENV_BACKEND "=crosvm: %s",
						avf_err_last()->msg);
	if (ret->kind == VIRTMGR_BACKEND_CROSVM) {
		const char *stop = getenv(CROSVM_BACKEND_STOP_ENV);

		if (stop && *stop && strcmp(stop, "kill") != 0 && strcmp(stop, "socket") != 0)
			return virtmgr_main_usage_error(
			    prog, CROSVM_BACKEND_STOP_ENV ": '%s' is neither 'kill' nor 'socket'",
			    stop);
		ret->crosvm_stop_via_socket = stop && strcmp(stop, "socket") == 0;
	}
	if (ret->kind == VIRTMGR_BACKEND_FAKE) {
		ret->fakevmm = fv && *fv ? strdup(fv) : sibling_fakevmm();
		if (!ret->fakevmm)
			return virtmgr_main_usage_error(prog, VIRTMGR_MAIN_ENV_FAKEVMM
							" is not set and the fakevmm next to "
							"/proc/self/exe cannot be named");
	}
	return -1;
}

void virtmgr_main_backend_clear(struct virtmgr_main_backend *b)
{
	free(b->fakevmm);
	free(b->crosvm);
	b->fakevmm = b->crosvm = NULL;
}

static void on_signal(struct loop_source *src, int fd, uint32_t revents, void *data)
{
	struct signalfd_siginfo si;
	int *stop = data;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		*stop = (int)si.ssi_signo;
}

/* Tell the client we serve; a client that went away is seen on the socket next. */
static void signal_ready(const char *prog, int *fd)
{
	if (write(*fd, "o", 1) != 1)
		fprintf(stderr, "%s: cannot write to --ready-fd %d: %s\n", prog, *fd,
			strerror(errno));
	close(*fd);
	*fd = -1;
}

int virtmgr_main_run(const struct virtmgr_main_params *p)
{
	const struct virtmgr_main_context *ctx = &p->context;
	const struct vmgr_context_ops *ctx_ops = NULL;
	void *ctx_data = NULL;
	bool ctx_open = false;
	struct trace_file *tf = NULL;
	const struct trace *tr = NULL;
	struct loop *l = NULL;
	struct loop_source *sig_src = NULL;
	struct backend *be = NULL;
	struct vs_link *link = NULL;
	struct vmgr *mgr = NULL;
	struct virtmgr_server *srv = NULL;
	int rpc_fd = p->rpc_fd, ready_fd = p->ready_fd;
	int sfd = -1, stop = 0, status = 1, r;

	/* From here a SIGTERM during start-up waits in the signalfd. */
	if ((r = daemon_signals_open(&sfd)) < 0)
		goto fail;
	if ((r = trace_file_from_env(&tf)) < 0)
		goto fail;
	tr = trace_file_trace(tf);
	if ((r = loop_new(LOOP_CLOCK_MONOTONIC, &l)) < 0)
		goto fail;
	if (p->backend->kind == VIRTMGR_BACKEND_FAKE)
		r = fake_backend_new(
		    l, tr,
		    &(struct fake_backend_opts){.fakevmm_path = p->backend->fakevmm, .log_fd = -1},
		    &be);
	else if (p->backend->kind == VIRTMGR_BACKEND_CROSVM)
		r = crosvm_backend_new(
		    l, tr,
		    &(struct crosvm_backend_opts){.crosvm_path = p->backend->crosvm,
						  .log_fd = -1,
						  .stop_via_socket =
						      p->backend->crosvm_stop_via_socket},
		    &be);
	else
		r = sim_backend_new(l, tr, &be);
	if (r < 0)
		goto fail;
	if ((r = ctx->open(ctx->data, l, tr, &ctx_ops, &ctx_data, &link)) < 0)
		goto fail;
	ctx_open = true;
	r = vmgr_new(&(struct vmgr_params){.loop = l,
					   .backend = be,
					   .context = ctx_ops,
					   .context_data = ctx_data,
					   .trace = tr},
		     &mgr);
	if (r < 0)
		goto fail;
	r = virtmgr_server_new(&(struct virtmgr_server_params){.loop = l,
							       .mgr = mgr,
							       .link = link,
							       .trace = tr,
							       .requester_uid = getuid(),
							       .requester_pid = getppid(),
							       .early = p->early},
			       &srv);
	if (r < 0 || (r = virtmgr_server_add_client(srv, rpc_fd)) < 0)
		goto fail;
	rpc_fd = -1; /* the server's */
	if ((r = loop_add_fd(l, sfd, EPOLLIN, on_signal, &stop, &sig_src)) < 0)
		goto fail;
	trace_emitf(tr, p->prog, "started (%s backend, %s)", be->ops->name, ctx->describe);
	signal_ready(p->prog, &ready_fd);

	while (!stop && virtmgr_server_open_clients(srv) > 0) {
		r = loop_run_once(l, -1);
		if (r < 0)
			goto fail;
	}
	if (stop)
		trace_emitf(tr, p->prog, "stopping (%s)", strsignal(stop));
	status = 0;
	goto out;
fail:
	fprintf(stderr, "%s: %s\n", p->prog,
		avf_err_last()->msg[0] ? avf_err_last()->msg : strerror(-r));
out:
	/* The client's references go first: every VM is killed and its VMM reaped. */
	srv = virtmgr_server_free(srv);
	if (mgr && vmgr_vm_count(mgr)) {
		/* Cannot happen (the server held every handle): leave them to PDEATHSIG. */
		fprintf(stderr, "%s: %zu VMs still referenced at exit\n", p->prog,
			vmgr_vm_count(mgr));
		status = 1;
	} else {
		mgr = vmgr_free(mgr);
		be = backend_free(be);
		/* Every CID was released with its VM: now the provider itself can go. */
		if (ctx_open)
			ctx->close(ctx->data);
		sig_src = loop_source_free(sig_src);
		l = loop_free(l);
	}
	if (sfd >= 0)
		close(sfd);
	if (status == 0)
		trace_emitf(tr, p->prog, "exited");
	tf = trace_file_close(tf);
	/* Closed unwritten on failure: the client sees EOF instead of 'o'. */
	if (ready_fd >= 0)
		close(ready_fd);
	if (rpc_fd >= 0)
		close(rpc_fd);
	return status;
}
