/* SPDX-License-Identifier: Apache-2.0 */
/*
 * early_virtmgr: virtmgr for early VMs (research/avf-spec.md 7; docs/early-virtmgr.md).
 * The same start-up protocol and service as virtmgr (virtmgr_main.c), but CIDs
 * come from the early VM declarations (core/config/early_vms.h) through
 * core/service/early_context.c, never from virtualizationservice.
 *
 *   early_virtmgr --rpc-server-fd N --ready-fd M [--root DIR]
 *   early_virtmgr [--root DIR] --check
 *
 * At start-up the declarations under the root are loaded (problems are not fatal:
 * they make their partition unusable) and the caller, our parent, is identified:
 * readlink(/proc/<ppid>/exe) with the root stripped. Every refusal (an unknown or
 * outside caller, missing capabilities, no matching declaration, a busy CID) is
 * createVm's error, so the client reads why; the daemon itself only fails on its
 * command line or environment.
 *
 * --check loads the declarations and reports: one line per usable early VM,
 * "partition name cid path", on stdout; every problem, "file:line: message", on
 * stderr; exit 0 without problems, 1 with.
 *
 * Environment (the client library forks us with only the two flags):
 *   AVF_EARLY_ROOT  the root prefix when --root is absent (default "/")
 *   XDG_RUNTIME_DIR CID locks and temp dirs under $XDG_RUNTIME_DIR/avf/early
 *                   (else /run/avf/early)
 *   AVF_BACKEND, AVF_FAKEVMM, AVF_TRACE_FILE   as virtmgr
 * AVF_VS_SOCKET is ignored: early VMs never involve virtualizationservice.
 *
 * Exit status: 0 after the client closed or a SIGTERM/SIGINT (or --check without
 * problems), 1 on a runtime failure (or problems found by --check), 2 on a bad
 * command line or environment (the message names the flag or variable).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "config/early_vms.h"
#include "service/early_caller.h"
#include "service/early_context.h"
#include "trace/trace_file.h"
#include "virtmgr_main.h"

#define PROG "early_virtmgr"

#ifndef AVF_VERSION
#define AVF_VERSION "unknown"
#endif

#define ENV_ROOT    "AVF_EARLY_ROOT"
#define ENV_BACKEND VIRTMGR_MAIN_ENV_BACKEND
#define ENV_FAKEVMM VIRTMGR_MAIN_ENV_FAKEVMM

struct opts {
	int rpc_fd;
	int ready_fd;
	bool check;
	char *root; /* canonical (realpath) */
	struct virtmgr_main_backend backend;
};

/* Everything the provider borrows, opened on the loop by virtmgr_main_run. */
struct early_source {
	struct early_context_params params;
	struct early_context *ctx;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " --rpc-server-fd N --ready-fd M [--root DIR]\n"
		"       " PROG " [--root DIR] --check\n"
		"virtmgr for early VMs: serves IVirtualizationService to the client on the\n"
		"SOCK_SEQPACKET socket N and writes 'o' to fd M once serving; each VM gets the\n"
		"static CID that DIR/<partition>/etc/avf/early_vms*.xml declares for its name\n"
		"and for the client's executable. Never contacts virtualizationservice.\n"
		"\n"
		"  --rpc-server-fd N   the client's socket (inherited)\n"
		"  --ready-fd M        the ready pipe's write end (inherited)\n"
		"  --root DIR          the root prefix of partitions and of the client's path\n"
		"                      (default $" ENV_ROOT ", else /)\n"
		"  --check             load the declarations and report: usable VMs on stdout\n"
		"                      ('partition name cid path'), problems on stderr; exit 1\n"
		"                      if there are problems\n"
		"  --help              show this text\n"
		"  --version           show the version\n"
		"\n"
		"Environment:\n"
		"  " ENV_ROOT "  the root when --root is absent\n"
		"  XDG_RUNTIME_DIR CID locks and temp dirs in $XDG_RUNTIME_DIR/avf/early\n"
		"                  (else /run/avf/early)\n"
		"  " ENV_BACKEND "     'fake' (fakevmm processes, default) or 'sim' (simulated)\n"
		"  " ENV_FAKEVMM "     the fakevmm program (default: next to " PROG ")\n"
		"  " TRACE_FILE_ENV "  append the event trace to this file\n");
}

/* The canonical root: /proc/<pid>/exe is canonical, so the prefix must be too. */
static int resolve_root(const char *what, const char *dir, struct opts *o)
{
	struct stat st;

	if (!*dir)
		return virtmgr_main_usage_error(PROG, "%s: the root is empty", what);
	o->root = realpath(dir, NULL);
	if (!o->root)
		return virtmgr_main_usage_error(PROG, "%s: '%s': %s", what, dir, strerror(errno));
	if (stat(o->root, &st) < 0 || !S_ISDIR(st.st_mode))
		return virtmgr_main_usage_error(PROG, "%s: '%s' is not a directory", what, dir);
	return -1;
}

/* -1: carry on; otherwise the exit status (0 for --help / --version). */
static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { OPT_RPC = 1, OPT_READY, OPT_ROOT, OPT_CHECK, OPT_HELP, OPT_VERSION };
	static const struct option longopts[] = {
	    {"rpc-server-fd", required_argument, NULL, OPT_RPC},
	    {"ready-fd", required_argument, NULL, OPT_READY},
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"check", no_argument, NULL, OPT_CHECK},
	    {"help", no_argument, NULL, OPT_HELP},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {NULL, 0, NULL, 0},
	};
	const char *rpc_arg = NULL, *ready_arg = NULL, *root_arg = NULL, *env_root;
	int c, r;

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
		case OPT_ROOT:
			if (root_arg)
				return virtmgr_main_usage_error(PROG, "--root given twice");
			root_arg = optarg;
			break;
		case OPT_CHECK: o->check = true; break;
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
	if (root_arg)
		r = resolve_root("--root", root_arg, o);
	else if ((env_root = getenv(ENV_ROOT)) && *env_root)
		r = resolve_root(ENV_ROOT, env_root, o);
	else
		r = resolve_root("the default root", "/", o);
	if (r >= 0)
		return r;
	if (o->check) {
		if (rpc_arg || ready_arg)
			return virtmgr_main_usage_error(
			    PROG, "--check takes neither --rpc-server-fd nor --ready-fd");
		return -1;
	}
	if (!rpc_arg)
		return virtmgr_main_usage_error(PROG, "--rpc-server-fd is required");
	if (!ready_arg)
		return virtmgr_main_usage_error(PROG, "--ready-fd is required");
	return virtmgr_main_claim_fds(PROG, rpc_arg, ready_arg, &o->rpc_fd, &o->ready_fd);
}

static int load(const struct opts *o, struct early_vms *vms)
{
	/* NULL: the XSD the loader was built with. */
	if (early_vms_load(o->root, NULL, vms) < 0) {
		fprintf(stderr, PROG ": cannot load the early VM declarations under %s: %s\n",
			o->root, avf_err_last()->msg);
		return 1;
	}
	return -1;
}

/* --check: usable VMs on stdout, problems on stderr. */
static int check(const struct opts *o)
{
	struct early_vms vms = {0};
	int r = load(o, &vms);

	if (r >= 0)
		return r;
	for (size_t i = 0; i < vms.n; i++)
		printf("%s %s %" PRIu32 " %s\n", early_partition_name(vms.vms[i].partition),
		       vms.vms[i].name, vms.vms[i].cid, vms.vms[i].path);
	for (size_t i = 0; i < vms.n_problems; i++)
		fprintf(stderr, "%s\n", vms.problems[i]);
	r = vms.n_problems ? 1 : 0;
	early_vms_clear(&vms);
	if (fflush(stdout) != 0) {
		fprintf(stderr, PROG ": cannot write the report: %s\n", strerror(errno));
		r = 1;
	}
	return r;
}

static int early_source_open(void *data, struct loop *l, const struct trace *tr,
			     const struct vmgr_context_ops **ret_ops, void **ret_ctx,
			     struct vs_link **ret_link)
{
	struct early_source *s = data;
	int r;

	s->params.trace = tr;
	if ((r = early_context_new(&s->params, &s->ctx)) < 0)
		return r;
	*ret_ops = &early_context_ops;
	*ret_ctx = s->ctx;
	*ret_link = NULL; /* no virtualizationservice, ever */
	return 0;
}

static void early_source_close(void *data)
{
	struct early_source *s = data;

	s->ctx = early_context_free(s->ctx);
}

static int serve(struct opts *o)
{
	struct early_vms vms = {0};
	struct early_source src = {0};
	char *exe = NULL, *caller = NULL, *base = NULL, *locks = NULL, *describe = NULL;
	char why[AVF_ERR_MSG_MAX] = "";
	pid_t ppid = getppid();
	int r;

	if ((r = virtmgr_main_backend_from_env(PROG, &o->backend)) >= 0 || (r = load(o, &vms)) >= 0)
		goto out;
	/* Who asked: refusals wait for createVm, where the client can read them. */
	if (early_caller_exe(ppid, &exe) < 0 || early_caller_strip_root(exe, o->root, &caller) < 0)
		snprintf(why, sizeof(why), "%s", avf_err_last()->msg);
	/* asprintf leaves its pointer undefined on failure: reset it for the free below. */
	if (early_context_default_base(&base) < 0 ||
	    (asprintf(&locks, "%s/locks", base) < 0 && !(locks = NULL)) ||
	    (asprintf(&describe, "early VMs under %s for %s", o->root,
		      caller ? caller : "an unidentified caller") < 0 &&
	     !(describe = NULL))) {
		fprintf(stderr, PROG ": out of memory\n");
		r = 1;
		goto out;
	}
	src.params = (struct early_context_params){.vms = &vms,
						   .caller_path = caller,
						   .caller_error = why,
						   .caller_pid = ppid,
						   .lock_dir = locks,
						   .early_dir = base};
	r = virtmgr_main_run(&(struct virtmgr_main_params){.prog = PROG,
							   .rpc_fd = o->rpc_fd,
							   .ready_fd = o->ready_fd,
							   .backend = &o->backend,
							   .context = {.open = early_source_open,
								       .close = early_source_close,
								       .data = &src,
								       .describe = describe},
							   .early = true});
	o->rpc_fd = o->ready_fd = -1; /* the run's */
out:
	early_vms_clear(&vms);
	free(exe);
	free(caller);
	free(base);
	free(locks);
	free(describe);
	return r;
}

int main(int argc, char **argv)
{
	struct opts o = {.rpc_fd = -1, .ready_fd = -1};
	int r = parse_args(argc, argv, &o);

	if (r < 0)
		r = o.check ? check(&o) : serve(&o);
	/* Not run (usage, a bad environment): the claimed fds are ours to close. */
	if (o.ready_fd >= 0)
		close(o.ready_fd);
	if (o.rpc_fd >= 0)
		close(o.rpc_fd);
	free(o.root);
	virtmgr_main_backend_clear(&o.backend);
	return r;
}
