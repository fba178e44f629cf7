/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcrash.so: reports ready, then dies of SIGSEGV. The agent turns a payload killed by
 * a signal into onError(UNKNOWN, "Payload exited due to signal: 11 (...)").
 * It reports ready twice: the second call must do nothing (test_payload_launcher).
 */
#include <signal.h>

#include "avf/vm_payload.h"

int AVmPayload_main(void)
{
	AVmPayload_notifyPayloadReady();
	AVmPayload_notifyPayloadReady();
	/* Default action, so a sanitizer's SIGSEGV handler cannot turn it into an exit. */
	signal(SIGSEGV, SIG_DFL);
	raise(SIGSEGV);
	return 0;
}
