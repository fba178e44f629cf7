/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent_host: the guest agent's side of IVirtualMachineService (avf-spec 2.7)
 * over the fake VM's guest channel (backends/fake/guest_channel.h), and the
 * failure channel (ttyS1) where a failing boot leaves its reason, as
 * microdroid_manager does (avf-spec 11.4).
 */
#ifndef AVF_FAKES_GUEST_AGENT_AGENT_HOST_H
#define AVF_FAKES_GUEST_AGENT_AGENT_HOST_H

#include <stdint.h>

#include "backends/backend.h"

struct agent_host {
	int channel_fd; /* SOCK_SEQPACKET to virtmgr; required */
	int failure_fd; /* ttyS1; -1: a sink */
	uint32_t seq;
};

/*
 * Send one notification and wait for virtmgr's verdict. 0, or the refusal
 * (negative errno; the message says why) that the host sent back; a refusal is
 * printed on stderr and is not fatal (microdroid_manager logs it too). A dead
 * channel is -EPIPE/-ECONNRESET with a message.
 */
int agent_host_notify(struct agent_host *h, enum guest_event_kind kind, int value,
		      const char *message);

/* Write @text to the failure channel, whole (a sink drops it). 0 or -errno. */
int agent_host_write_failure(const struct agent_host *h, const char *text);

#endif
