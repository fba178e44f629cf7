/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtmgr: the per-client VM manager daemon (research/avf-spec.md 1, 6.1). A thin
 * main() over core/service/virtmgr_server.c: AVF's start-up protocol, the
 * configuration from the environment, signals, the loop (docs/virtmgr.md). What it
 * shares with early_virtmgr is in virtmgr_main.c; here: the flags and where CIDs
 * come from (virtualizationservice, or a local allocator).
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
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <avf/avf_types.h>

#include "cid/cid_alloc.h"
#include "service/local_context.h"
#include "service/vs_link.h"
#include "trace/trace_file.h"
#include "virtmgr_main.h"

#define PROG "virtmgr"

#ifndef AVF_VERSION
#define AVF_VERSION "unknown"
#endif

#define ENV_VS_SOCKET "AVF_VS_SOCKET"
#define ENV_BACKEND   VIRTMGR_MAIN_ENV_BACKEND
#define ENV_FAKEVMM   VIRTMGR_MAIN_ENV_FAKEVMM

struct opts {
	int rpc_fd;
	int ready_fd;
	char *vs_socket; /* NULL: local contexts */
	struct virtmgr_main_backend backend;
};

/* The CID source, opened on the loop by virtmgr_main_run. */
struct cid_source {
	const char *vs_socket; /* NULL: local */
	struct vs_link *link;
	struct cid_alloc *cids;
	struct local_context lc;
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
				return virtmgr_main_usage_error(PROG,
								"--rpc-server-fd given twice");
			rpc_arg = optarg;
			break;
		case OPT_READY:
			if (ready_arg)
				return virtmgr_main_usage_error(PROG, "--ready-fd given twice");
			ready_arg = optarg;
			break;
		case OPT_HELP: usage(stdout); return 0;
		case OPT_VERSION: printf(PROG " " AVF_VERSION "\n"); return 0;
		case ':':
			return virtmgr_main_usage_error(PROG, "option '%s' needs a value",
							argv[optind - 1]);
		default:
			if (optopt)
				return virtmgr_main_usage_error(PROG, "unknown option '-%c'",
								optopt);
			return virtmgr_main_usage_error(PROG, "unknown option '%s'",
							argv[optind - 1]);
		}
	}
	if (optind < argc)
		return virtmgr_main_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
	if (!rpc_arg)
		return virtmgr_main_usage_error(PROG, "--rpc-server-fd is required");
	if (!ready_arg)
		return virtmgr_main_usage_error(PROG, "--ready-fd is required");
	return virtmgr_main_claim_fds(PROG, rpc_arg, ready_arg, &o->rpc_fd, &o->ready_fd);
}

/* -1: carry on; otherwise the exit status. */
static int parse_env(struct opts *o)
{
	const char *vs = getenv(ENV_VS_SOCKET), *xdg = getenv("XDG_RUNTIME_DIR");

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
	return virtmgr_main_backend_from_env(PROG, &o->backend);
}

static int cid_source_open(void *data, struct loop *l, const struct trace *tr,
			   const struct vmgr_context_ops **ret_ops, void **ret_ctx,
			   struct vs_link **ret_link)
{
	struct cid_source *s = data;
	int r;

	if (s->vs_socket) {
		/* AVF: requester_debug_pid is the client's, i.e. our parent's. */
		r = vs_link_new(&(struct vs_link_params){.loop = l,
							 .socket_path = s->vs_socket,
							 .requester_pid = getppid(),
							 .trace = tr},
				&s->link);
		if (r < 0)
			return r;
		*ret_ops = &vs_link_context_ops;
		*ret_ctx = s->link;
		*ret_link = s->link;
		return 0;
	}
	r = cid_alloc_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX, NULL, &s->cids);
	if (r < 0)
		return r;
	s->lc = (struct local_context){.cids = s->cids, .trace = tr};
	*ret_ops = &local_context_ops;
	*ret_ctx = &s->lc;
	*ret_link = NULL;
	return 0;
}

static void cid_source_close(void *data)
{
	struct cid_source *s = data;

	s->link = vs_link_free(s->link);
	s->cids = cid_alloc_free(s->cids);
}

int main(int argc, char **argv)
{
	struct opts o = {.rpc_fd = -1, .ready_fd = -1};
	struct cid_source src = {0};
	int r;

	r = parse_args(argc, argv, &o);
	if (r < 0)
		r = parse_env(&o);
	if (r < 0) {
		src.vs_socket = o.vs_socket;
		r = virtmgr_main_run(&(struct virtmgr_main_params){
		    .prog = PROG,
		    .rpc_fd = o.rpc_fd,
		    .ready_fd = o.ready_fd,
		    .backend = &o.backend,
		    .context = {.open = cid_source_open,
				.close = cid_source_close,
				.data = &src,
				.describe = o.vs_socket ? o.vs_socket : "local CIDs"}});
		o.rpc_fd = o.ready_fd = -1; /* the run's */
	}
	/* Not run (usage, --help): the claimed fds are ours to close. */
	if (o.ready_fd >= 0)
		close(o.ready_fd);
	if (o.rpc_fd >= 0)
		close(o.rpc_fd);
	free(o.vs_socket);
	virtmgr_main_backend_clear(&o.backend);
	return r;
}
