/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fakevmm_agent: the `agent` step of a guest script. Where a real VM's kernel
 * would start init and microdroid_manager, fakevmm starts the guest agent
 * (fakes/guest_agent, `avf-guest-agent`, found next to fakevmm) and hands it the
 * guest's devices: the guest channel (IVirtualMachineService), the failure
 * channel (ttyS1), the log (hvc2) and the payload's files, at the fd numbers
 * fakevmm itself got them. Every other fd of fakevmm is closed in the agent.
 */
#ifndef AVF_FAKES_FAKEVMM_AGENT_H
#define AVF_FAKES_FAKEVMM_AGENT_H

#include <sys/types.h>

#include "fakes/child_watch/child_watch.h"

#define FAKEVMM_AGENT_NAME "avf-guest-agent"

struct fakevmm_agent {
	const char *cid;            /* --cid as given; NULL: none */
	int channel_fd;             /* the guest channel; required */
	int failure_fd;             /* ttyS1's output, -1: a sink */
	int log_fd;                 /* hvc2's output, -1: a sink */
	const char *payload;        /* /proc/self/fd/N of the payload library */
	const char *payload_name;   /* PayloadConfig.payloadBinaryName */
	const char *payload_config; /* /proc/self/fd/N, NULL: none */
	const char *instance;       /* /proc/self/fd/N of the instance image */
	const char *storage;        /* /proc/self/fd/N, NULL: none */
	const char *vm_dir;         /* the VM's directory (vsock, encrypted store); NULL: none */
};

/*
 * Fork and exec the agent, watched by @w (child_watch.h: poll w->fd, then
 * child_watch_reap). -errno with a message on stderr.
 */
int fakevmm_agent_spawn(const struct fakevmm_agent *a, struct child_watch *w);

#endif
