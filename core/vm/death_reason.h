/* SPDX-License-Identifier: Apache-2.0 */
/*
 * death_reason: the one place a VMM's end becomes an AVF DeathReason
 * (research/avf-spec.md 4.4, crosvm-spec.md 2.3). Shared by every backend.
 */
#ifndef AVF_CORE_VM_DEATH_REASON_H
#define AVF_CORE_VM_DEATH_REASON_H

#include <stdbool.h>
#include <stddef.h>

#include <avf/avf_types.h>

/* How the VMM child ended, as the exit monitor saw it. */
struct vm_exit {
	bool wait_failed;    /* waiting for the child failed: INFRASTRUCTURE_ERROR */
	bool signaled;       /* ended by a signal (no exit code) */
	int code;            /* exit code, or the signal number when signaled */
	const char *failure; /* failure-channel text (may be NULL or empty) */
	bool payload_hangup; /* payload state was Hangup (boot timeout fired) */
};

/*
 * Derive the DeathReason. Order (AVF): wait failure first; then the failure
 * string, surrounding whitespace trimmed (as newer AVF does): empty with payload
 * Hangup means HANGUP, else the part before the first '|' wins when it is exactly
 * one of the failure-channel names; then the exit status: signal KILLED,
 * 0 SHUTDOWN, 1 START_FAILED, 32 REBOOT, 33 CRASH, 36 WATCHDOG_REBOOT, any other
 * code UNKNOWN (34 guest panic and 35 invalid args included, as in AVF).
 */
enum avf_death_reason death_reason_derive(const struct vm_exit *e);

/* Fill @e from a waitpid()-style status word. */
void vm_exit_from_wait_status(struct vm_exit *e, int wstatus);

/* AIDL name ("SHUTDOWN"); "UNRECOGNISED" for numbers AVF does not define. */
const char *death_reason_name(enum avf_death_reason r);
/* The `vm` tool's spelling ("Shutdown", "Killed", "Hangup", ...). */
const char *death_reason_display(enum avf_death_reason r);
/* Parse an AIDL name; -EINVAL if unknown. */
int death_reason_from_name(const char *name, enum avf_death_reason *ret);

#endif
