/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmp_attestation: AVmAttestationResult inside libvm_payload (not exported).
 *
 * The payload service of avf-ref never attests, so the library never builds a result
 * itself; the accessors in vm_payload.h are nonetheless real. This constructor is how
 * a result would be built from a service reply, and how the unit tests build one.
 */
#ifndef AVF_GUEST_PAYLOAD_VMP_ATTESTATION_H
#define AVF_GUEST_PAYLOAD_VMP_ATTESTATION_H

#include <stddef.h>
#include <stdint.h>

#include "avf/vm_payload.h"

/* Largest DER ECDSA P-256 signature: SEQUENCE of two INTEGERs of up to 33 bytes. */
#define VMP_SIGNATURE_MAX 72u

/*
 * A result holding a copy of @key (a DER ECPrivateKey) and of @n_certs certificates
 * (DER, leaf first). Returns 0 or -ENOMEM; *ret untouched on failure.
 */
int vmp_attestation_result_new(const uint8_t *key, size_t key_len, const uint8_t *const *certs,
			       const size_t *cert_lens, size_t n_certs,
			       AVmAttestationResult **ret);

#endif
