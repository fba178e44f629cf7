/* SPDX-License-Identifier: Apache-2.0 */
/*
 * guest_script: the behaviour of a fake guest, as one line of text, shared by the
 * in-process simulated backend (fakes/sim) and the fakevmm process.
 *
 *   script := step { (';' | newline) step }
 *   step   := 'wait' DURATION          let time pass (DURATION: 250ms, 2s, 10us, 5ns)
 *           | 'started' | 'ready'       notifyPayloadStarted / notifyPayloadReady
 *           | 'finished' CODE           notifyPayloadFinished(CODE)
 *           | 'error' CODE [TEXT]       notifyError(ErrorCode CODE, TEXT)
 *           | 'failure' TEXT            write TEXT to the failure channel (ttyS1)
 *           | 'console' TEXT            write TEXT and a newline to the console (hvc0)
 *           | 'log' TEXT                write TEXT and a newline to the log (hvc2)
 *           | 'echo-console'            read one line from the console input (hvc0)
 *                                       and write "console-in: LINE" to the console
 *           | 'exit' STATUS             the VMM exits with STATUS (0..255; crosvm: 0 1 32 33 36)
 *           | 'signal' SIG              the VMM dies by SIG (number or name: KILL, SEGV, ...)
 *           | 'hang'                    the guest does nothing more, forever
 *           | 'spawn-fail'              the VMM cannot be started at all (first step only)
 *           | 'agent'                   boot the payload: run the guest agent (our
 *                                       microdroid_manager); the VM powers off when it ends
 *
 * TEXT is the rest of the step, trimmed; surrounding double quotes are removed
 * (so `console ""` is an empty line); it cannot hold ';' or a newline.
 * A script must end in exit, signal, hang, spawn-fail or agent. Errors name
 * line:column and what was expected; unknown words are errors.
 * What each step does in a VMM: docs/guest-script.md.
 */
#ifndef AVF_FAKES_SCRIPT_GUEST_SCRIPT_H
#define AVF_FAKES_SCRIPT_GUEST_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

enum gscript_op {
	GS_WAIT,
	GS_STARTED,
	GS_READY,
	GS_FINISHED,
	GS_ERROR,
	GS_FAILURE,
	GS_EXIT,
	GS_SIGNAL,
	GS_HANG,
	GS_SPAWN_FAIL,
	GS_CONSOLE,
	GS_LOG,
	GS_ECHO_CONSOLE,
	GS_AGENT,
};

struct gscript_step {
	enum gscript_op op;
	int64_t value; /* wait: ns; finished/error/exit: code; signal: number */
	char *text;    /* error message, failure, console or log text; NULL otherwise */
};

struct gscript {
	struct gscript_step *steps;
	size_t n;
};

/* The guest used when a config names none: boots, runs, shuts down cleanly. */
#define GSCRIPT_DEFAULT "wait 1s; started; ready; wait 1s; finished 0; exit 0"

/* The guest of an app VM with a payload (vm_config_payload) when the config names none. */
#define GSCRIPT_AGENT_DEFAULT "agent"

/* Parse @src. -EINVAL with "guest script:LINE:COL: ..." (EX_ILLEGAL_ARGUMENT). */
int gscript_parse(const char *src, struct gscript **ret);
struct gscript *gscript_free(struct gscript *s);
const char *gscript_op_name(enum gscript_op op);

#endif
