/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/death_reason.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/wait.h>

#include "base/avf_err.h"

struct reason_row {
	enum avf_death_reason reason;
	const char *name;
	const char *display;
	bool from_failure_string; /* may be named on the failure channel */
};

static const struct reason_row reasons[] = {
	{ AVF_DEATH_INFRASTRUCTURE_ERROR, "INFRASTRUCTURE_ERROR", "InfrastructureError", false },
	{ AVF_DEATH_KILLED, "KILLED", "Killed", false },
	{ AVF_DEATH_UNKNOWN, "UNKNOWN", "Unknown", false },
	{ AVF_DEATH_SHUTDOWN, "SHUTDOWN", "Shutdown", false },
	{ AVF_DEATH_START_FAILED, "START_FAILED", "StartFailed", false },
	{ AVF_DEATH_REBOOT, "REBOOT", "Reboot", false },
	{ AVF_DEATH_CRASH, "CRASH", "Crash", false },
	{ AVF_DEATH_PVM_FIRMWARE_PUBLIC_KEY_MISMATCH, "PVM_FIRMWARE_PUBLIC_KEY_MISMATCH",
	  "PvmFirmwarePublicKeyMismatch", true },
	{ AVF_DEATH_PVM_FIRMWARE_INSTANCE_IMAGE_CHANGED, "PVM_FIRMWARE_INSTANCE_IMAGE_CHANGED",
	  "PvmFirmwareInstanceImageChanged", true },
	{ AVF_DEATH_MICRODROID_FAILED_TO_CONNECT_TO_VIRTUALIZATION_SERVICE,
	  "MICRODROID_FAILED_TO_CONNECT_TO_VIRTUALIZATION_SERVICE",
	  "MicrodroidFailedToConnectToVirtualizationService", true },
	{ AVF_DEATH_MICRODROID_PAYLOAD_HAS_CHANGED, "MICRODROID_PAYLOAD_HAS_CHANGED",
	  "MicrodroidPayloadHasChanged", true },
	{ AVF_DEATH_MICRODROID_PAYLOAD_VERIFICATION_FAILED, "MICRODROID_PAYLOAD_VERIFICATION_FAILED",
	  "MicrodroidPayloadVerificationFailed", true },
	{ AVF_DEATH_MICRODROID_INVALID_PAYLOAD_CONFIG, "MICRODROID_INVALID_PAYLOAD_CONFIG",
	  "MicrodroidInvalidPayloadConfig", true },
	{ AVF_DEATH_MICRODROID_UNKNOWN_RUNTIME_ERROR, "MICRODROID_UNKNOWN_RUNTIME_ERROR",
	  "MicrodroidUnknownRuntimeError", true },
	{ AVF_DEATH_HANGUP, "HANGUP", "Hangup", true },
	{ AVF_DEATH_WATCHDOG_REBOOT, "WATCHDOG_REBOOT", "WatchdogReboot", false },
	{ AVF_DEATH_HOST_SHUTDOWN, "HOST_SHUTDOWN", "HostShutdown", false },
};

#define N_REASONS (sizeof(reasons) / sizeof(reasons[0]))

static const struct reason_row *row_of(enum avf_death_reason r)
{
	for (size_t i = 0; i < N_REASONS; i++)
		if (reasons[i].reason == r)
			return &reasons[i];
	return NULL;
}

/* Match [s, s+len) against the failure-channel names, exactly and case-sensitively. */
static const struct reason_row *row_of_failure(const char *s, size_t len)
{
	for (size_t i = 0; i < N_REASONS; i++)
		if (reasons[i].from_failure_string && strlen(reasons[i].name) == len &&
		    memcmp(reasons[i].name, s, len) == 0)
			return &reasons[i];
	return NULL;
}

enum avf_death_reason death_reason_derive(const struct vm_exit *e)
{
	const char *s = e->failure ? e->failure : "";
	const char *end, *bar;
	const struct reason_row *row;

	if (e->wait_failed)
		return AVF_DEATH_INFRASTRUCTURE_ERROR;

	/* Trim the whole string (newer AVF does), then an empty one with payload
	 * Hangup means HANGUP, then the name is the part before the first '|'. */
	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	if (end == s && e->payload_hangup)
		return AVF_DEATH_HANGUP;
	bar = memchr(s, '|', (size_t)(end - s));
	if (bar)
		end = bar;
	row = row_of_failure(s, (size_t)(end - s));
	if (row)
		return row->reason;

	if (e->signaled)
		return AVF_DEATH_KILLED;
	switch (e->code) {
	case 0: return AVF_DEATH_SHUTDOWN;
	case 1: return AVF_DEATH_START_FAILED;
	case 32: return AVF_DEATH_REBOOT;
	case 33: return AVF_DEATH_CRASH;
	case 36: return AVF_DEATH_WATCHDOG_REBOOT;
	default: return AVF_DEATH_UNKNOWN;
	}
}

void vm_exit_from_wait_status(struct vm_exit *e, int wstatus)
{
	e->wait_failed = false;
	e->signaled = WIFSIGNALED(wstatus);
	e->code = e->signaled ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus);
}

const char *death_reason_name(enum avf_death_reason r)
{
	const struct reason_row *row = row_of(r);

	return row ? row->name : "UNRECOGNISED";
}

const char *death_reason_display(enum avf_death_reason r)
{
	const struct reason_row *row = row_of(r);

	return row ? row->display : "Unrecognised";
}

int death_reason_from_name(const char *name, enum avf_death_reason *ret)
{
	for (size_t i = 0; i < N_REASONS; i++)
		if (strcmp(reasons[i].name, name) == 0) {
			*ret = reasons[i].reason;
			return 0;
		}
	return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "unknown death reason '%s'", name);
}
