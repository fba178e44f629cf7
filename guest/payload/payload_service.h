/* SPDX-License-Identifier: Apache-2.0 */
/*
 * payload_service: the server side of the payload service, our IVmPayloadService
 * (research/avf-spec.md 11.3), for the guest agent (our microdroid_manager).
 *
 * The agent creates a SOCK_SEQPACKET socketpair, passes one end to the payload as
 * AVF_PAYLOAD_SERVICE_FD (libvm_payload.so is the client) and calls
 * payload_service_serve_one() whenever its end is readable. Wire format:
 * payload_msg.h. What each request does:
 *
 *   notifyPayloadReady       ops->notify_ready(ctx): the agent forwards it to the
 *                            host. Its error (code and message) goes back to the
 *                            payload.
 *   getVmInstanceSecret      size outside 0..32: EX_ILLEGAL_ARGUMENT
 *                            "size N not in range (0..=32)" (AVF's words); else the
 *                            first `size` bytes of payload_secret_derive(seed,
 *                            "avf-instance-secret", identifier).
 *   getDiceAttestationChain, EX_SECURITY "Use of restricted APIs is not allowed"
 *   getDiceAttestationCdi    (AVF's words) unless restricted_allowed; else 32 bytes
 *                            derived with their own labels (payload_secret.h). Not
 *                            real DICE.
 *   requestAttestation       EX_UNSUPPORTED_OPERATION: there is no remote attestation
 *                            in avf-ref (AVF answers the same where the
 *                            remote_attestation feature is off).
 *   (a malformed packet)     EX_BAD_PARCELABLE with the decoder's message.
 *
 * Single-threaded per fd; serve_one may be called for several fds from one thread.
 */
#ifndef AVF_GUEST_PAYLOAD_PAYLOAD_SERVICE_H
#define AVF_GUEST_PAYLOAD_PAYLOAD_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

struct payload_service_identity {
	uint8_t secret_seed[32]; /* per VM instance: the agent reads/creates it in the instance image */
	bool restricted_allowed; /* the VM was created with a payload config file (config_path) */
};

struct payload_service_ops {
	/* notifyPayloadReady: forward to the host; return 0 or -errno (with avf_err message). */
	int (*notify_ready)(void *ctx);
};

/*
 * Serve one request from @fd (blocking read of one packet, one reply).
 * Returns 1 served, 0 peer closed, -errno on a transport error (a malformed packet gets
 * an error reply and returns 1).
 *
 * Details: "peer closed" is a read of 0 bytes (so an empty packet counts as closing,
 * the SOCK_SEQPACKET convention). A packet larger than PAYLOAD_MSG_MAX or carrying
 * fds (which are closed) is malformed. A reply that cannot be sent (the payload went
 * away) is a transport error: -EPIPE and the like, with an avf_err message.
 */
int payload_service_serve_one(int fd, const struct payload_service_identity *id,
			      const struct payload_service_ops *ops, void *ctx);

#endif
