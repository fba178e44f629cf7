/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vs_link: virtmgr's link to virtualizationservice — a vmgr context provider
 * (struct vmgr_context_ops) over core/ipc, speaking IVirtualizationServiceInternal
 * and IGlobalVmContext (core/proto/avf_proto.h).
 *
 *   acquire   ALLOCATE_GLOBAL_VM_CONTEXT(name, requester_pid), then GET_CID and
 *             GET_TEMPORARY_DIRECTORY on the context; the context proxy is kept
 *             per CID: holding it is what keeps the CID granted.
 *   release   drops that proxy (RELEASE on the wire); never blocks.
 *   set_state SET_STATE(state) sent ONEWAY on the context; never blocks.
 *
 * Connection. Made lazily, on the first need (acquire, debug list), to a unix
 * SOCK_SEQPACKET socket at a path. Unreachable: EX_ILLEGAL_STATE
 * "virtualizationservice is not available at PATH: <errno text>".
 *
 * virtualizationservice restarting. When the connection closes, the VMs keep
 * their CIDs (the entries stay, without a context). At the next need the link
 * reconnects and, before anything else, sends CLAIM_GLOBAL_VM_CONTEXT(cid, name,
 * pid) for every CID it still holds, so the new instance lists them and never
 * grants them twice; then the last known state of each follows as SET_STATE.
 * The claims are sent without waiting (ipc_call_async): they are on the wire
 * before the ALLOCATE that follows, and the service serves a connection in
 * order. A refused claim (the CID went to someone else meanwhile) is traced and
 * retried at the next need. A state change or release while disconnected is
 * only recorded. An ALLOCATE that finds the connection dead (the service went
 * away before the link noticed) reconnects and retries once.
 *
 * Re-entrancy. acquire() and vs_link_debug_list() wait with ipc_call (bounded by
 * the timeout), which runs the loop: client calls, VM exits, other acquires and
 * releases may all run meanwhile, also into this link. The link holds no
 * iterator nor borrowed pointer across a wait (each call keeps its own reference
 * on the proxy it calls; the entry of a new CID is added only after the last
 * wait), so any of those is safe. release() and set_state() never run the loop.
 *
 * Trace actor: "virtmgr".
 */
#ifndef AVF_CORE_SERVICE_VS_LINK_H
#define AVF_CORE_SERVICE_VS_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "loop/loop.h"
#include "proto/avf_proto.h"
#include "service/vmgr.h"
#include "trace/trace.h"

/* Bound of every wait for virtualizationservice. */
#define VS_LINK_TIMEOUT_NS (10ull * LOOP_NSEC_PER_SEC)

struct vs_link_params {
	struct loop *loop;
	const char *socket_path;   /* copied */
	pid_t requester_pid;       /* the client's pid: virtmgr's parent */
	uint64_t timeout_ns;       /* 0: VS_LINK_TIMEOUT_NS */
	const struct trace *trace; /* may be NULL */
};

struct vs_link;

/* No I/O yet. -EINVAL, -ENOMEM. */
int vs_link_new(const struct vs_link_params *p, struct vs_link **ret);
/* Closes the connection (virtualizationservice then releases every CID it
 * granted us). Accepts NULL, returns NULL. Not from inside a wait of the link. */
struct vs_link *vs_link_free(struct vs_link *link);

/* The provider: vmgr_params.context = &vs_link_context_ops, .context_data = link. */
extern const struct vmgr_context_ops vs_link_context_ops;

/* debugListVms of virtualizationservice: rows borrowed from @reply. */
struct vs_link_vm_list {
	size_t n;
	struct proto_debug_row *rows;
	struct ipc_msg *reply;
};

/* Waits (see Re-entrancy). On failure *ret is untouched. */
int vs_link_debug_list(struct vs_link *link, struct vs_link_vm_list *ret);
void vs_link_vm_list_clear(struct vs_link_vm_list *list);

/* CIDs the link holds (granted and not released), connected or not. */
size_t vs_link_cid_count(const struct vs_link *link);
/* Whether a connection to virtualizationservice is currently open. */
bool vs_link_connected(const struct vs_link *link);

#endif
