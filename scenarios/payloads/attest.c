/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libattest.so: requests attestation with a 65-byte challenge (too long) and with a
 * 16-byte one, printing each status's sentence on its own line. In avf-ref:
 *   The challenge size is not between 0 and 64.
 *   Remote attestation is not supported in the current environment.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "avf/vm_payload.h"

static void attest(size_t size)
{
	uint8_t challenge[65];
	AVmAttestationResult *result = NULL;
	AVmAttestationStatus status;

	memset(challenge, 0xa5, sizeof(challenge));
	status = AVmPayload_requestAttestation(challenge, size, &result);
	printf("%s\n", AVmAttestationStatus_toString(status));
	AVmAttestationResult_free(result);
}

int AVmPayload_main(void)
{
	attest(65);
	attest(16);
	return 0;
}
