/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtmgr_main: what virtmgr and early_virtmgr share in main() (docs/virtmgr.md,
 * docs/early-virtmgr.md): AVF's start-up protocol (the two fd flags and their
 * checks), the backend from the environment, and the daemon run itself (signals,
 * trace, loop, manager, server, ready byte, shutdown order). The programs differ
 * only in where CIDs come from (a vmgr_context_ops provider they open on the
 * loop) and in their own flags.
 *
 * It prints: messages go to stderr as "<prog>: <message>"; usage errors add
 * "Try '<prog> --help'." and mean exit status 2.
 */
#ifndef AVF_PROGRAMS_VIRTMGR_MAIN_H
#define AVF_PROGRAMS_VIRTMGR_MAIN_H

#include <stdbool.h>

#include "loop/loop.h"
#include "service/vmgr.h"
#include "service/vs_link.h"
#include "trace/trace.h"

#define VIRTMGR_MAIN_ENV_BACKEND "AVF_BACKEND"
#define VIRTMGR_MAIN_ENV_FAKEVMM "AVF_FAKEVMM"

/* "<prog>: <message>\nTry '<prog> --help'.\n" on stderr; returns 2. */
int virtmgr_main_usage_error(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * AVF's checks of --rpc-server-fd and --ready-fd, in its order: a number, open,
 * close-on-exec set again, not stdio, not the other flag's; then the socket must
 * be SOCK_SEQPACKET. -1 with both fds on success; 2 (message printed) otherwise.
 */
int virtmgr_main_claim_fds(const char *prog, const char *rpc_arg, const char *ready_arg,
			   int *ret_rpc, int *ret_ready);

enum virtmgr_main_backend_kind { VIRTMGR_BACKEND_FAKE, VIRTMGR_BACKEND_SIM, VIRTMGR_BACKEND_CROSVM };

struct virtmgr_main_backend {
	enum virtmgr_main_backend_kind kind;
	char *fakevmm; /* the fake backend's program; malloc'd */
	char *crosvm;  /* the crosvm backend's program ($AVF_CROSVM or PATH); malloc'd */
	bool crosvm_stop_via_socket; /* AVF_CROSVM_STOP=socket */
};

/*
 * AVF_BACKEND (fake, sim or crosvm), AVF_FAKEVMM, AVF_CROSVM, AVF_CROSVM_STOP (kill,
 * the default, or socket). -1 to carry on; otherwise the exit status (message
 * printed; 2 for a bad value or no crosvm).
 */
int virtmgr_main_backend_from_env(const char *prog, struct virtmgr_main_backend *ret);
void virtmgr_main_backend_clear(struct virtmgr_main_backend *b);

/* Where the program's CIDs come from, opened once the loop exists. */
struct virtmgr_main_context {
	/*
	 * Fill the provider. *ret_link: virtualizationservice for debugListVms, or
	 * NULL. Errors as avf_err (printed by the caller).
	 */
	int (*open)(void *data, struct loop *l, const struct trace *tr,
		    const struct vmgr_context_ops **ret_ops, void **ret_ctx,
		    struct vs_link **ret_link);
	/* After the manager went (every CID released). */
	void (*close)(void *data);
	void *data;
	/* For the "started (...)" trace line: where CIDs come from. */
	const char *describe;
};

struct virtmgr_main_params {
	const char *prog; /* the trace actor and the prefix of messages */
	int rpc_fd;       /* claimed; taken over (closed on every path) */
	int ready_fd;     /* claimed; taken over: 'o' once serving, closed unwritten on failure */
	const struct virtmgr_main_backend *backend;
	struct virtmgr_main_context context;
	bool early; /* early_virtmgr: debugListVms is unsupported */
};

/*
 * Serve the client until its end closes or SIGTERM / SIGINT, then release every
 * VM (each is killed, its VMM reaped) and free everything. Returns the exit
 * status: 0, or 1 on a runtime failure ("<prog>: <message>").
 */
int virtmgr_main_run(const struct virtmgr_main_params *p);

#endif
