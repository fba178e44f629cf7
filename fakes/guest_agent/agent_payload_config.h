/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent_payload_config: the VM payload config (AVF's VmPayloadConfig JSON, the
 * file an AppConfig's configPath names; avf-spec 11.4), as the guest agent reads
 * it. What it takes:
 *
 *   {"task": {"type": "microdroid_launcher", "command": "libpayload.so"},
 *    "extra_apks": [{"path": "..."}, ...]}
 *
 * Other members (os, apexes, export_tombstones, ...) are accepted and ignored.
 * Errors are what microdroid_manager reports as PAYLOAD_INVALID_CONFIG: not JSON,
 * not an object, no task ("No task in VM config", AVF's words), a task type other
 * than microdroid_launcher, no command, extra_apks not an array.
 */
#ifndef AVF_FAKES_GUEST_AGENT_AGENT_PAYLOAD_CONFIG_H
#define AVF_FAKES_GUEST_AGENT_AGENT_PAYLOAD_CONFIG_H

#include <stddef.h>

#define AGENT_CONFIG_MAX (1024 * 1024)

struct agent_payload_config {
	char *command;     /* task.command: the payload library's file name */
	size_t extra_apks; /* entries of extra_apks */
};

/*
 * Parse @len bytes of @text into @ret (freed with agent_payload_config_clear).
 * -EINVAL with the reason as the message (avf_err).
 */
int agent_payload_config_parse(const char *text, size_t len, struct agent_payload_config *ret);
void agent_payload_config_clear(struct agent_payload_config *c);

#endif
