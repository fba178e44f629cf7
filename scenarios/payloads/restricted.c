/* SPDX-License-Identifier: Apache-2.0 */
/*
 * librestricted.so: calls a restricted API. In a VM created with a payload config file
 * it prints "DICE attestation CDI: 32 bytes" and finishes with 0; in any other VM the
 * service refuses with EX_SECURITY and the payload aborts, as in AVF.
 */
#include <stdio.h>

#include "avf/vm_payload_restricted.h"

int AVmPayload_main(void)
{
	size_t n = AVmPayload_getDiceAttestationCdi(NULL, 0);

	printf("DICE attestation CDI: %zu bytes\n", n);
	return 0;
}
