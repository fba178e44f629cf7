/* SPDX-License-Identifier: Apache-2.0 */
#include "agent_host.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backends/fake/guest_channel.h"
#include "base/avf_err.h"

int agent_host_notify(struct agent_host *h, enum guest_event_kind kind, int value,
		      const char *message)
{
	struct guest_event ev = {.kind = kind, .value = value, .message = message};
	struct guest_channel_msg req, rep;
	int r;

	if ((r = guest_channel_from_event(&ev, ++h->seq, &req)) < 0 ||
	    (r = guest_channel_send(h->channel_fd, &req, 0)) < 0)
		return r;
	/* One request at a time: the next packet is its reply. */
	r = guest_channel_recv(h->channel_fd, &rep, 0);
	if (r == 0)
		return avf_err_set(-ECONNRESET, AVF_EX_TRANSACTION_FAILED,
				   "guest channel closed by the host");
	if (r < 0)
		return r;
	if (rep.kind != GUEST_CHANNEL_REPLY || rep.seq != req.seq)
		return avf_err_set(-EPROTO, AVF_EX_TRANSACTION_FAILED,
				   "guest channel: expected the reply to %u, got %s %u", req.seq,
				   guest_channel_kind_name((int)rep.kind), rep.seq);
	if (rep.value < 0) {
		fprintf(stderr, "avf-guest-agent: %s refused: %s (%d): %s\n",
			guest_channel_kind_name((int)req.kind), avf_ex_name(rep.ex), rep.value,
			rep.text);
		return avf_err_set(rep.value, rep.ex, "%s", rep.text);
	}
	return 0;
}

int agent_host_write_failure(const struct agent_host *h, const char *text)
{
	size_t len = strlen(text), off = 0;
	ssize_t n;

	if (h->failure_fd < 0)
		return 0;
	while (off < len) {
		n = write(h->failure_fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "failure channel: %s",
					   strerror(errno));
		off += (size_t)n;
	}
	return 0;
}
