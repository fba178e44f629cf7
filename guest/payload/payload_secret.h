/* SPDX-License-Identifier: Apache-2.0 */
/*
 * payload_secret: the per-VM-instance bytes the payload service hands out.
 *
 * Every value is HMAC-SHA256(key = the instance's 32-byte secret seed,
 * message = label || input), cut to the size asked for. The label includes its
 * terminating NUL, so no (label, input) pair can collide with another label's.
 * Labels:
 *   "avf-instance-secret"         getVmInstanceSecret; input = the identifier
 *   "avf-dice-attestation-chain"  getDiceAttestationChain; no input (32 bytes)
 *   "avf-dice-attestation-cdi"    getDiceAttestationCdi; no input (32 bytes)
 * AVF derives the instance secret from its DICE chain instead; like AVF's, ours is
 * the same for the same VM instance and identifier across boots and differs between
 * instances (the agent keeps the seed in the instance image). The "DICE" values are
 * not DICE artifacts (docs/payload-api.md).
 *
 * Uses OpenSSL's libcrypto for HMAC-SHA256 rather than hand-written crypto.
 */
#ifndef AVF_GUEST_PAYLOAD_PAYLOAD_SECRET_H
#define AVF_GUEST_PAYLOAD_PAYLOAD_SECRET_H

#include <stddef.h>
#include <stdint.h>

#define PAYLOAD_SEED_SIZE 32u
#define PAYLOAD_DERIVED_MAX 32u /* the output of one HMAC-SHA256 */

#define PAYLOAD_LABEL_INSTANCE_SECRET "avf-instance-secret"
#define PAYLOAD_LABEL_DICE_CHAIN      "avf-dice-attestation-chain"
#define PAYLOAD_LABEL_DICE_CDI        "avf-dice-attestation-cdi"

/*
 * Write @out_len (<= PAYLOAD_DERIVED_MAX) bytes derived from @seed, @label and @input
 * (@input_len bytes; NULL allowed when 0). Returns 0, -EINVAL for @out_len too large,
 * or -EIO when libcrypto fails (each with an avf_err message).
 */
int payload_secret_derive(const uint8_t seed[PAYLOAD_SEED_SIZE], const char *label,
			  const uint8_t *input, size_t input_len, uint8_t *out, size_t out_len);

#endif
