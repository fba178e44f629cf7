/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent_launch: run the payload as microdroid_manager runs microdroid_launcher
 * (avf-spec 11.4 step 5): `avf-payload-launcher <library>` (guest/payload), found
 * next to the agent, in a child with stdin on /dev/null, stdout and stderr on the
 * VM's log device (or /dev/null), and only these fds besides: the library, the
 * payload service socket (AVF_PAYLOAD_SERVICE_FD). Its environment names the
 * fake VM's vsock directory (AVF_VSOCK_DIR) and, with encrypted storage,
 * AVF_ENCRYPTEDSTORE_PATH (docs/payload-api.md).
 */
#ifndef AVF_FAKES_GUEST_AGENT_AGENT_LAUNCH_H
#define AVF_FAKES_GUEST_AGENT_AGENT_LAUNCH_H

#include <sys/types.h>

#include "fakes/child_watch/child_watch.h"

#define AGENT_LAUNCHER_NAME "avf-payload-launcher"

struct agent_launch {
	const char *library;     /* /proc/self/fd/N of the payload library */
	int service_fd;          /* the launcher's end of the payload service */
	int log_fd;              /* the VM's log; -1: /dev/null */
	const char *vsock_dir;   /* NULL: none */
	const char *encrypted_store; /* NULL: none */
};

/*
 * Start the launcher, watched by @w (child_watch.h). An exec failure is reported
 * here, not as an exit status: -errno + message.
 */
int agent_launch(const struct agent_launch *l, struct child_watch *w);

#endif
