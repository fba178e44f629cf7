/* SPDX-License-Identifier: Apache-2.0 */
/*
 * payload_msg: the wire format of the payload service (our IVmPayloadService,
 * research/avf-spec.md 11.3) between libvm_payload.so and the guest agent, and its
 * codec. AVF speaks RPC binder over /dev/socket/vm_payload_service; avf-ref speaks
 * this over an inherited AF_UNIX SOCK_SEQPACKET socket (AVF_PAYLOAD_SERVICE_FD).
 *
 * One request or one reply is one packet. Integers are little-endian.
 *
 * Request, 16-byte header then data:
 *   off size field
 *     0  4   magic     PAYLOAD_MSG_MAGIC (the bytes "AVP1": protocol and version)
 *     4  2   method    1..5 (enum payload_method)
 *     6  2   flags     REQUEST_ATTESTATION: bit 0 = test mode; otherwise 0
 *     8  4   arg       i32. GET_VM_INSTANCE_SECRET: the size asked for, any value
 *                      (the service refuses sizes outside 0..32, as AVF's does);
 *                      otherwise 0
 *    12  4   data_len  must equal the packet length - 16
 *    16      data      GET_VM_INSTANCE_SECRET: the identifier, <= PAYLOAD_MSG_MAX_DATA;
 *                      REQUEST_ATTESTATION: the challenge, <= 64 bytes;
 *                      otherwise empty
 *
 * Reply, 20-byte header then data:
 *     0  4   magic     PAYLOAD_MSG_MAGIC
 *     4  2   method    PAYLOAD_REPLY | the request's method; PAYLOAD_REPLY alone
 *                      answers a packet that could not be decoded (always an error)
 *     6  2   flags     0
 *     8  4   ex        i32 binder exception (enum avf_ex): 0, or one of SECURITY,
 *                      BAD_PARCELABLE, ILLEGAL_ARGUMENT, NULL_POINTER, ILLEGAL_STATE,
 *                      NETWORK_MAIN_THREAD, UNSUPPORTED_OPERATION, SERVICE_SPECIFIC,
 *                      TRANSACTION_FAILED
 *    12  4   code      i32 service-specific code: only with SERVICE_SPECIFIC, else 0
 *    16  4   data_len  must equal the packet length - 20
 *    20      data      ex == 0, the result: NOTIFY_READY empty; GET_VM_INSTANCE_SECRET
 *                      <= 32 bytes; GET_DICE_* <= PAYLOAD_MSG_MAX_DATA bytes;
 *                      REQUEST_ATTESTATION has no success reply (there is no remote
 *                      attestation in avf-ref, so its result has no encoding).
 *                      ex != 0, the message: <= PAYLOAD_MSG_MAX_TEXT bytes, no NUL.
 *
 * Every accepted packet has exactly one encoding: encode(decode(p)) == p.
 *
 * The decoders are pure functions of the bytes (no allocation: the decoded data
 * points into the buffer), so they can be fuzzed alone. Errors follow avf_err:
 * -EPROTO for a wrong magic, -E2BIG for a packet over the size limits, -EBADMSG for
 * anything else malformed, all with AVF_EX_BAD_PARCELABLE and a message naming the
 * field. The encoders apply the same rules (-EINVAL for a field out of range,
 * -E2BIG, -ENOBUFS when @cap is too small).
 */
#ifndef AVF_GUEST_PAYLOAD_PAYLOAD_MSG_H
#define AVF_GUEST_PAYLOAD_PAYLOAD_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAYLOAD_MSG_MAGIC     0x31505641u /* "AVP1" on the wire */
#define PAYLOAD_REQ_HDR_SIZE  16u
#define PAYLOAD_REPLY_HDR_SIZE 20u
#define PAYLOAD_MSG_MAX_DATA  4096u
#define PAYLOAD_MSG_MAX_TEXT  511u /* an avf_err message without its NUL */
#define PAYLOAD_MSG_MAX       (PAYLOAD_REPLY_HDR_SIZE + PAYLOAD_MSG_MAX_DATA)

/* AVF's limits, checked on the wire too. */
#define PAYLOAD_SECRET_MAX    32u
#define PAYLOAD_CHALLENGE_MAX 64u

enum payload_method {
	PAYLOAD_NOTIFY_READY = 1,
	PAYLOAD_GET_VM_INSTANCE_SECRET = 2,
	PAYLOAD_GET_DICE_ATTESTATION_CHAIN = 3,
	PAYLOAD_GET_DICE_ATTESTATION_CDI = 4,
	PAYLOAD_REQUEST_ATTESTATION = 5,
};

#define PAYLOAD_REPLY          0x80u /* or-ed into a reply's method */
#define PAYLOAD_F_TEST_MODE    0x0001u

struct payload_request {
	uint16_t method;     /* enum payload_method */
	bool test_mode;      /* REQUEST_ATTESTATION only */
	int32_t size;        /* GET_VM_INSTANCE_SECRET only */
	const uint8_t *data; /* identifier or challenge; NULL allowed when data_len is 0 */
	uint32_t data_len;
};

struct payload_reply {
	uint16_t method;      /* the request's method, or 0 for "the request was unreadable" */
	int32_t ex;           /* enum avf_ex */
	int32_t service_code; /* with AVF_EX_SERVICE_SPECIFIC */
	const uint8_t *data;  /* the result, or the message when ex != 0 (not NUL-terminated) */
	uint32_t data_len;
};

/* Encode into @buf (@cap bytes); returns the packet length or a negative errno. */
int payload_msg_encode_request(const struct payload_request *rq, uint8_t *buf, size_t cap);
int payload_msg_encode_reply(const struct payload_reply *rp, uint8_t *buf, size_t cap);

/* Decode one packet of @len bytes; *ret's data points into @buf. Untouched on failure. */
int payload_msg_decode_request(const uint8_t *buf, size_t len, struct payload_request *ret);
int payload_msg_decode_reply(const uint8_t *buf, size_t len, struct payload_reply *ret);

/* AVF's name of a method ("getVmInstanceSecret"), or "unknown". */
const char *payload_method_name(unsigned method);

#endif
