/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_agent: a scenario client as a real process. The runner forks one agent per
 * `client NAME`; the agent connects with libvmclient (so it forks its own
 * virtmgr, exactly as an app would) and then does what the runner tells it over
 * a SOCK_SEQPACKET socketpair, one command per packet, fields separated by
 * SCN_AGENT_SEP. Between commands it keeps dispatching, so callbacks are traced
 * when they arrive, not when the runner next asks.
 *
 * Commands (reply "ok[SEP detail]" or "err SEP <exception> SEP <errno> SEP <message>"):
 *   create VM KIND(raw|app) NAME MEM CPUS PROTECTED(0|1) SCRIPT   ok SEP cid
 *   start VM | stop VM | drop VM | ref VM NEW | register VM CB
 *   wait-state VM STATE MS         ok once the tracked state was STATE, then getState
 *   wait-death VM MS               ok SEP REASON
 *   list                           ok SEP "cid state" rows joined by ','
 *   sync                           a round trip to virtmgr, then every callback that
 *                                  virtmgr sent before it has run (and been traced)
 *   disconnect                     drop every handle, close the connection
 *   exit                           disconnect, then the process exits 0
 *
 * The agent traces (actor "client") every call with its result and every callback
 * as "<VM> <CB> onPayloadStarted" etc., the format docs/scenarios.md describes.
 */
#ifndef AVF_HARNESS_SCENARIO_SCN_AGENT_H
#define AVF_HARNESS_SCENARIO_SCN_AGENT_H

#include <stdbool.h>
#include <sys/types.h>

#define SCN_AGENT_SEP '\x1f'

struct scn_agent {
	char name[64];
	pid_t pid;          /* the agent process (our child); 0 once reaped */
	int sock;           /* command socket, -1 once closed */
	int pidfd;          /* readable when the agent exits; -1 */
	pid_t virtmgr_pid;  /* its virtmgr */
	int virtmgr_pidfd;  /* readable when that virtmgr exits; -1 */
	bool connected;     /* false after disconnect / its virtmgr was lost */
};

/*
 * Fork the agent for client @name; it connects (virtmgr from $AVF_VIRTMGR) and
 * reports ready within @timeout_ms. The child keeps only fds 0-2 and its socket.
 * -errno with an avf_err message (the agent's own error when it could not
 * connect); on failure nothing is left running.
 */
int scn_agent_start(const char *name, int timeout_ms, struct scn_agent *ret);

/*
 * Send @cmd (fields already joined with SCN_AGENT_SEP) and wait up to @timeout_ms
 * for the reply. 0 and *reply (malloc'd, the text after "ok", "" when none) on ok;
 * -EREMOTEIO with avf_err set to the agent's exception, errno and message when it
 * failed (the errno is in avf_err_last()->err); -ETIMEDOUT; -EPIPE when the agent
 * is gone. *reply is NULL on failure.
 */
int scn_agent_call(struct scn_agent *a, const char *cmd, int timeout_ms, char **reply);

/* Close our side (the agent disconnects and exits on EOF) and the pidfds.
 * Does not wait or reap: the runner reaps every child. */
void scn_agent_close(struct scn_agent *a);

#endif
