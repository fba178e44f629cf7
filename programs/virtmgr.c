/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtmgr: the per-client VM manager daemon (research/avf-spec.md 1, 6.1). A thin
 * main() over core/service/virtmgr_server.c: AVF's start-up protocol, the
 * configuration from the environment, signals, the loop (docs/virtmgr.md).
 *
 *   virtmgr --rpc-server-fd N --ready-fd M
 *
 * N is the client's SOCK_SEQPACKET socket, M the write end of its ready pipe
 * (both inherited without CLOEXEC). Once serving, 'o' is written to M and M is
 * closed. When the client's end closes (or on SIGTERM / SIGINT) every VM is
 * released, so killed, and its VMM reaped; then virtmgr exits 0.
 *
 * Environment (the client library forks us with only the two flags):
 *   AVF_VS_SOCKET   virtualizationservice's socket (default
 *                   $XDG_RUNTIME_DIR/avf/vs.sock, else /run/avf/vs.sock);
 *                   "local": an in-process CID allocator, no virtualizationservice
 *   AVF_BACKEND     "fake" (default: fakevmm processes) or "sim" (in-process
 *                   simulated VMMs on the real clock)
 *   AVF_FAKEVMM     the fakevmm binary (default: "fakevmm" next to this program)
 *   AVF_TRACE_FILE  append the event trace to this file
 *
 * Exit status: 0 after the client closed or a SIGTERM/SIGINT, 1 on a runtime
 * failure ("virtmgr: <message>" on stderr), 2 on a bad command line or
 * environment (the message names the flag or variable).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <avf/avf_types.h>

#include "backends/fake/fake_backend.h"
#include "base/avf_err.h"
#include "cid/cid_alloc.h"
#include "fakes/sim/sim_backend.h"
#include "loop/loop.h"
#include "service/local_context.h"
#include "service/virtmgr_server.h"
#include "service/vmgr.h"
#include "service/vs_link.h"
#include "trace/trace_file.h"

#define PROG "virtmgr"

#ifndef AVF_VERSION
#define AVF_VERSION "unknown"
#endif

#define ENV_VS_SOCKET "AVF_VS_SOCKET"
#define ENV_BACKEND   "AVF_BACKEND"
#define ENV_FAKEVMM   "AVF_FAKEVMM"

enum backend_kind { BACKEND_FAKE, BACKEND_SIM };

struct opts {
	int rpc_fd;
	int ready_fd;
	char *vs_socket; /* NULL: local contexts */
	enum backend_kind backend;
	char *fakevmm;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " --rpc-server-fd N --ready-fd M\n"
		"The per-client VM manager: serves IVirtualizationService to the client on\n"
		"the SOCK_SEQPACKET socket N; writes 'o' to fd M once serving. Exits when the\n"
		"client closes its end (every VM is killed first).\n"
		"\n"
		"  --rpc-server-fd N   the client's socket (inherited)\n"
		"  --ready-fd M        the ready pipe's write end (inherited)\n"
		"  --help              show this text\n"
		"  --version           show the version\n"
		"\n"
		"Environment:\n"
		"  " ENV_VS_SOCKET "   virtualizationservice's socket (default\n"
		"                  $XDG_RUNTIME_DIR/avf/vs.sock, else /run/avf/vs.sock);\n"
		"                  'local': in-process CIDs, no virtualizationservice\n"
		"  " ENV_BACKEND "     'fake' (fakevmm processes, default) or 'sim' (simulated)\n"
		"  " ENV_FAKEVMM "     the fakevmm program (default: next to virtmgr)\n"
		"  " TRACE_FILE_ENV "  append the event trace to this file\n");
}

static __attribute__((format(printf, 1, 2))) int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '" PROG " --help'.\n");
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
static int claim_fd(const char *flag, const char *arg, int other, int *ret)
{
	int fd;

	if (!parse_fd_number(arg, &fd))
		return usage_error("%s: '%s' is not an fd number", flag, arg);
	if (fcntl(fd, F_GETFD) < 0)
		return usage_error("%s: fd %d is not open", flag, fd);
	/* Ours from now on: it must not leak into the VMMs we start. */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return usage_error("%s: fd %d: %s", flag, fd, strerror(errno));
	if (fd <= STDERR_FILENO)
		return usage_error("%s: fd %d is standard input, output or error", flag, fd);
	if (fd == other)
		return usage_error("%s: fd %d is already taken by the other flag", flag, fd);
	*ret = fd;
	return 0;
}

static int check_socket(int fd)
{
	socklen_t len = sizeof(int);
	int type;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return usage_error("--rpc-server-fd: fd %d is not a socket (%s)", fd,
				   strerror(errno));
	if (type != SOCK_SEQPACKET)
		return usage_error("--rpc-server-fd: fd %d is a %s socket; virtmgr serves "
				   "SOCK_SEQPACKET only",
				   fd,
				   type == SOCK_STREAM  ? "SOCK_STREAM"
				   : type == SOCK_DGRAM ? "SOCK_DGRAM"
							: "non-SOCK_SEQPACKET");
	return 0;
}

/* -1: carry on; otherwise the exit status (0 for --help / --version). */
static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { OPT_RPC = 1, OPT_READY, OPT_HELP, OPT_VERSION };
	static const struct option longopts[] = {
	    {"rpc-server-fd", required_argument, NULL, OPT_RPC},
	    {"ready-fd", required_argument, NULL, OPT_READY},
	    {"help", no_argument, NULL, OPT_HELP},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {NULL, 0, NULL, 0},
	};
	const char *rpc_arg = NULL, *ready_arg = NULL;
	int c;

	/* Our own messages, naming the option (":" reports a missing value apart). */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_RPC:
			if (rpc_arg)
				return usage_error("--rpc-server-fd given twice");
			rpc_arg = optarg;
			break;
		case OPT_READY:
			if (ready_arg)
				return usage_error("--ready-fd given twice");
			ready_arg = optarg;
			break;
		case OPT_HELP: usage(stdout); return 0;
		case OPT_VERSION: printf(PROG " " AVF_VERSION "\n"); return 0;
		case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!rpc_arg)
		return usage_error("--rpc-server-fd is required");
	if (!ready_arg)
		return usage_error("--ready-fd is required");
	if (claim_fd("--rpc-server-fd", rpc_arg, -1, &o->rpc_fd) ||
	    claim_fd("--ready-fd", ready_arg, o->rpc_fd, &o->ready_fd) || check_socket(o->rpc_fd))
		return 2;
	return -1;
}

/* The fakevmm next to our own executable (the build and install layout). */
static char *sibling_fakevmm(void)
{
	char self[PATH_MAX], *slash, *p;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return NULL;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	if (asprintf(&p, "%s/fakevmm", self) < 0)
		return NULL;
	return p;
}

/* -1: carry on; otherwise the exit status. */
static int parse_env(struct opts *o)
{
	const char *vs = getenv(ENV_VS_SOCKET), *be = getenv(ENV_BACKEND);
	const char *fv = getenv(ENV_FAKEVMM), *xdg = getenv("XDG_RUNTIME_DIR");

	if (!vs || strcmp(vs, "local") != 0) {
		if (vs && *vs)
			o->vs_socket = strdup(vs);
		else if (asprintf(&o->vs_socket, "%s/avf/vs.sock", xdg && *xdg ? xdg : "/run") < 0)
			o->vs_socket = NULL;
		if (!o->vs_socket) {
			fprintf(stderr, PROG ": out of memory\n");
			return 1;
		}
	}
	if (!be || !*be || strcmp(be, "fake") == 0)
		o->backend = BACKEND_FAKE;
	else if (strcmp(be, "sim") == 0)
		o->backend = BACKEND_SIM;
	else
		return usage_error(ENV_BACKEND ": '%s' is neither 'fake' nor 'sim'", be);
	if (o->backend == BACKEND_FAKE) {
		o->fakevmm = fv && *fv ? strdup(fv) : sibling_fakevmm();
		if (!o->fakevmm)
			return usage_error(ENV_FAKEVMM " is not set and the fakevmm next to "
						       "/proc/self/exe cannot be named");
	}
	return -1;
}

static void on_signal(struct loop_source *src, int fd, uint32_t revents, void *data)
{
	struct signalfd_siginfo si;
	int *stop = data;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		*stop = (int)si.ssi_signo;
}

/* Tell the client we serve; a client that went away is seen on the socket next. */
static void signal_ready(int *fd)
{
	if (write(*fd, "o", 1) != 1)
		fprintf(stderr, PROG ": cannot write to --ready-fd %d: %s\n", *fd, strerror(errno));
	close(*fd);
	*fd = -1;
}

int main(int argc, char **argv)
{
	struct opts o = {.rpc_fd = -1, .ready_fd = -1};
	struct trace_file *tf = NULL;
	const struct trace *tr = NULL;
	struct loop *l = NULL;
	struct loop_source *sig_src = NULL;
	struct backend *be = NULL;
	struct cid_alloc *cids = NULL;
	struct local_context lc;
	struct vs_link *link = NULL;
	struct vmgr *mgr = NULL;
	struct virtmgr_server *srv = NULL;
	int sfd = -1, stop = 0, status = 1, r;
	sigset_t set;

	r = parse_args(argc, argv, &o);
	if (r < 0)
		r = parse_env(&o);
	if (r >= 0) {
		status = r;
		goto out;
	}

	/* Blocked from the start: a SIGTERM during start-up waits in the signalfd.
	 * (The fake backend unblocks everything in the VMM before exec.) */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* A client gone mid-send is the ipc layer's EPIPE, not our death. */
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		r = avf_err_service(-errno, "signalfd: %s", strerror(errno));
		goto fail;
	}
	if ((r = trace_file_from_env(&tf)) < 0)
		goto fail;
	tr = trace_file_trace(tf);
	if ((r = loop_new(LOOP_CLOCK_MONOTONIC, &l)) < 0)
		goto fail;
	if (o.backend == BACKEND_FAKE)
		r = fake_backend_new(
		    l, tr, &(struct fake_backend_opts){.fakevmm_path = o.fakevmm, .log_fd = -1},
		    &be);
	else
		r = sim_backend_new(l, tr, &be);
	if (r < 0)
		goto fail;
	if (o.vs_socket) {
		/* AVF: requester_debug_pid is the client's, i.e. our parent's. */
		r = vs_link_new(&(struct vs_link_params){.loop = l,
							 .socket_path = o.vs_socket,
							 .requester_pid = getppid(),
							 .trace = tr},
				&link);
	} else {
		r = cid_alloc_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX, NULL, &cids);
		lc = (struct local_context){.cids = cids, .trace = tr};
	}
	if (r < 0)
		goto fail;
	r = vmgr_new(
	    &(struct vmgr_params){.loop = l,
				  .backend = be,
				  .context = link ? &vs_link_context_ops : &local_context_ops,
				  .context_data = link ? (void *)link : (void *)&lc,
				  .trace = tr},
	    &mgr);
	if (r < 0)
		goto fail;
	r = virtmgr_server_new(&(struct virtmgr_server_params){.loop = l,
							       .mgr = mgr,
							       .link = link,
							       .trace = tr,
							       .requester_uid = getuid(),
							       .requester_pid = getppid()},
			       &srv);
	if (r < 0 || (r = virtmgr_server_add_client(srv, o.rpc_fd)) < 0)
		goto fail;
	o.rpc_fd = -1; /* the server's */
	if ((r = loop_add_fd(l, sfd, EPOLLIN, on_signal, &stop, &sig_src)) < 0)
		goto fail;
	trace_emitf(tr, "virtmgr", "started (%s backend, %s)",
		    o.backend == BACKEND_FAKE ? "fake" : "sim",
		    o.vs_socket ? o.vs_socket : "local CIDs");
	signal_ready(&o.ready_fd);

	while (!stop && virtmgr_server_open_clients(srv) > 0) {
		r = loop_run_once(l, -1);
		if (r < 0)
			goto fail;
	}
	if (stop)
		trace_emitf(tr, "virtmgr", "stopping (%s)", strsignal(stop));
	status = 0;
	goto out;
fail:
	fprintf(stderr, PROG ": %s\n", avf_err_last()->msg[0] ? avf_err_last()->msg : strerror(-r));
out:
	/* The client's references go first: every VM is killed and its VMM reaped. */
	srv = virtmgr_server_free(srv);
	if (mgr && vmgr_vm_count(mgr)) {
		/* Cannot happen (the server held every handle): leave them to PDEATHSIG. */
		fprintf(stderr, PROG ": %zu VMs still referenced at exit\n", vmgr_vm_count(mgr));
		status = 1;
	} else {
		mgr = vmgr_free(mgr);
		be = backend_free(be);
		link = vs_link_free(link);
		cids = cid_alloc_free(cids);
		sig_src = loop_source_free(sig_src);
		l = loop_free(l);
	}
	if (sfd >= 0)
		close(sfd);
	if (status == 0)
		trace_emitf(tr, "virtmgr", "exited");
	tf = trace_file_close(tf);
	/* Closed unwritten on failure: the client sees EOF instead of 'o'. */
	if (o.ready_fd >= 0)
		close(o.ready_fd);
	if (o.rpc_fd >= 0)
		close(o.rpc_fd);
	free(o.vs_socket);
	free(o.fakevmm);
	return status;
}
