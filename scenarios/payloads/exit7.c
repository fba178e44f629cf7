/* SPDX-License-Identifier: Apache-2.0 */
/* libexit7.so: finishes with exit code 7 (the host gets onPayloadFinished(7), then SHUTDOWN). */
#include "avf/vm_main.h"

int AVmPayload_main(void)
{
	return 7;
}
