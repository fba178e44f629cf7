/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vs_server: virtualizationservice's IPC front (research/avf-spec.md 2.8, 5.1): it
 * serves IVirtualizationServiceInternal as the root object of every connection and
 * one IGlobalVmContext object per context, over core/ipc, on the contexts of a
 * vs_registry (which it uses, and does not own). Layouts: core/proto/avf_proto.h.
 *
 * Holders. Each connection is one holder (a virtmgr): a fresh 64-bit id, the peer's
 * uid from SO_PEERCRED as requester_uid; requester_pid is the requesterDebugPid
 * argument, as in AVF. A context lives while its holder holds its IGlobalVmContext:
 * the last RELEASE of that object, or the connection's close, releases the CID
 * and removes its temp dir. Objects are per connection, so a holder can only reach
 * its own contexts.
 *
 * Bad peers. Argument errors are the ipc getters' (EX_BAD_PARCELABLE /
 * EX_NULL_POINTER), unknown methods ipc_unknown_method(); a malformed packet
 * closes only that connection (ipc_conn.h). Nothing a peer sends stops the server.
 *
 * Trace (actor "vs"): "connection N opened (pid P uid U)", "connection N closed
 * (pid P uid U)[: reason]", "listening on PATH"; grants, claims and releases are
 * vs_registry's lines.
 *
 * Single-threaded, on one loop; no call here blocks.
 */
#ifndef AVF_CORE_SERVICE_VS_SERVER_H
#define AVF_CORE_SERVICE_VS_SERVER_H

#include "loop/loop.h"
#include "service/vs_registry.h"
#include "trace/trace.h"

struct vs_server;

/* A server with no connection yet. @l, @reg and @tr (may be NULL) must outlive it. */
int vs_server_new(struct loop *l, struct vs_registry *reg, const struct trace *tr,
		  struct vs_server **ret);
/*
 * Closes every connection (releasing their contexts), stops listening and removes
 * the socket file (if it is still the one we bound). Accepts NULL, returns NULL.
 */
struct vs_server *vs_server_free(struct vs_server *srv);

/*
 * Serve @fd, a connected SOCK_SEQPACKET unix socket, as a new holder. On success
 * the server owns @fd; on failure @fd is untouched (the caller closes it).
 */
int vs_server_serve_fd(struct vs_server *srv, int fd);

/*
 * Bind and listen on the unix SOCK_SEQPACKET socket @path (CLOEXEC, NONBLOCK);
 * the parent directory is created 0700 if missing. A socket file nobody answers on
 * (a dead daemon's) is replaced; one that is served fails with -EADDRINUSE
 * "another virtualizationservice is serving PATH"; anything else at @path that is
 * not a socket fails with -EEXIST. The listening fd is returned in *ret_fd.
 * Separate from vs_server_listen_fd() so a program can claim the socket before it
 * opens (and wipes) its state.
 */
int vs_server_bind(const char *path, int *ret_fd);
/*
 * Accept connections on @fd (from vs_server_bind) in the loop, each served as by
 * vs_server_serve_fd(). The server takes @fd on success (untouched on failure) and
 * removes @path when freed. One listening socket per server: -EBUSY for a second.
 */
int vs_server_listen_fd(struct vs_server *srv, int fd, const char *path);
/* vs_server_bind() then vs_server_listen_fd(). */
int vs_server_listen(struct vs_server *srv, const char *path);

/* Connections being served (accepted or given with serve_fd, not yet closed). */
unsigned vs_server_connection_count(const struct vs_server *srv);

#endif
