/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtmgr_spawn: start a private virtmgr the way AVF's client library does
 * (research/avf-spec.md 6.1) and reap it at the end.
 *
 * A SOCK_SEQPACKET socketpair and an O_CLOEXEC pipe are created; the child keeps
 * exactly the server end and the pipe's write end (at the numbers they have here)
 * and execs `virtmgr --rpc-server-fd N --ready-fd M`; the parent closes those two
 * and waits, with a deadline, for virtmgr's one ready byte. EOF instead of the
 * byte means virtmgr exited before serving: it is reaped and its status reported.
 * (AVF uses SOCK_STREAM for RPC binder; our IPC is message-framed, DESIGN §5.)
 */
#ifndef AVF_CLIENT_VIRTMGR_SPAWN_H
#define AVF_CLIENT_VIRTMGR_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

struct virtmgr_proc {
	pid_t pid;
	int pidfd; /* -1 when pidfd_open is unavailable (e.g. under valgrind) */
};

/*
 * Fork + exec @path and wait up to @ready_timeout_ms for the ready byte; with
 * @own_pgrp the child first moves to a process group of its own. On
 * success *ret_sock is the client end (O_CLOEXEC) and *ret_proc the child.
 * Errors: -ENOENT / -EACCES (cannot execute), -ECONNREFUSED (exited before ready,
 * message with its status), -ETIMEDOUT (killed and reaped), other -errno.
 */
int virtmgr_spawn(const char *path, int ready_timeout_ms, bool own_pgrp, int *ret_sock,
		  struct virtmgr_proc *ret_proc);

/*
 * Wait up to @timeout_ms for the child to exit, SIGKILL it after that, reap it,
 * close the pidfd. Returns the wait status (or -errno). Idempotent once reaped
 * (pid 0).
 */
int virtmgr_reap(struct virtmgr_proc *p, int timeout_ms);

#endif
