/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm_payload_restricted.h: the restricted part of the VM payload API
 * (research/avf-spec.md 11.2). These functions work only in a VM created with a
 * payload config file (AVF's configPath; `vm run-app --config-path`), which AVF
 * reserves for holders of USE_CUSTOM_VIRTUAL_MACHINE, i.e. tests and the platform.
 * In any other VM the payload service refuses them with EX_SECURITY ("Use of
 * restricted APIs is not allowed") and, as in AVF, the process aborts.
 *
 * DICE in avf-ref: there is no DICE chain in the fake VM. The "chain" and the "CDI"
 * are deterministic bytes derived from the VM instance's secret seed (HMAC-SHA256
 * with their own labels: docs/payload-api.md). They are stable per VM instance and
 * differ between instances, like AVF's, but they are not DICE artifacts: the chain
 * is not CBOR and nothing verifies it.
 */
#ifndef AVF_VM_PAYLOAD_RESTRICTED_H
#define AVF_VM_PAYLOAD_RESTRICTED_H

#include <stdbool.h>
#include <stddef.h>

#include "vm_payload.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Copy min(chain length, @size) bytes of the VM's attestation chain to @data (NULL
 * allowed when @size is 0); return the full length (32 in avf-ref). Aborts unless
 * restricted APIs are allowed.
 */
size_t AVmPayload_getDiceAttestationChain(void *data, size_t size);

/* Same convention for the VM's attestation CDI (32 bytes). Aborts unless allowed. */
size_t AVmPayload_getDiceAttestationCdi(void *data, size_t size);

/*
 * AVmPayload_requestAttestation() in test mode (AVF: needs enableTestAttestation on
 * the host first). Same statuses; in avf-ref always ATTESTATION_ERROR_UNSUPPORTED for
 * a challenge of 0..64 bytes.
 */
AVmAttestationStatus AVmPayload_requestAttestationForTesting(const void *challenge,
							     size_t challenge_size,
							     AVmAttestationResult **result);

#ifdef __cplusplus
}
#endif

#endif
