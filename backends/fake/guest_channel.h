/* SPDX-License-Identifier: Apache-2.0 */
/*
 * guest_channel: how a fakevmm guest's payload notifications reach the manager
 * (DESIGN §3: "fakevmm: an inherited socketpair"). Message-shaped on purpose:
 * the guest sends one request (notifyPayloadStarted / Ready / Finished(code) /
 * notifyError(code, text)) and blocks for one reply (0, or a negative errno with
 * the binder exception code and message of the manager's refusal). When core/ipc
 * exists this channel can move onto it by swapping these functions only.
 *
 * Transport: AF_UNIX SOCK_SEQPACKET, one message per packet, no fds.
 *
 * Packet, version 1 (all integers little-endian):
 *
 *   off size field
 *     0   1  version   GUEST_CHANNEL_VERSION
 *     1   1  kind      enum guest_channel_kind
 *     2   2  text_len  bytes of text at offset 16 (<= GUEST_CHANNEL_TEXT_MAX)
 *     4   4  seq       request number chosen by the guest; the reply echoes it
 *     8   4  value     s32: FINISHED exit code, ERROR ErrorCode, REPLY 0 or -errno
 *    12   4  ex        s32: REPLY's binder exception code (enum avf_ex); 0 otherwise
 *    16   n  text      ERROR message or REPLY error message; no NUL inside
 *
 * The packet is exactly 16 + text_len bytes. The decoder trusts nothing: size,
 * version, kind, text_len against the real size, NULs in the text and per-kind
 * invariants (STARTED/READY carry no value and no text, a successful REPLY no
 * exception, requests no exception) are all checked; any violation is -EBADMSG
 * (-EPROTONOSUPPORT for another version) with a message naming the field.
 */
#ifndef AVF_BACKENDS_FAKE_GUEST_CHANNEL_H
#define AVF_BACKENDS_FAKE_GUEST_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"

#define GUEST_CHANNEL_VERSION    1
#define GUEST_CHANNEL_HDR_LEN    16
#define GUEST_CHANNEL_TEXT_MAX   1024
#define GUEST_CHANNEL_PACKET_MAX (GUEST_CHANNEL_HDR_LEN + GUEST_CHANNEL_TEXT_MAX)

enum guest_channel_kind {
	GUEST_CHANNEL_PAYLOAD_STARTED = 1,
	GUEST_CHANNEL_PAYLOAD_READY = 2,
	GUEST_CHANNEL_PAYLOAD_FINISHED = 3,
	GUEST_CHANNEL_ERROR = 4,
	GUEST_CHANNEL_REPLY = 0x80,
};

struct guest_channel_msg {
	enum guest_channel_kind kind;
	uint32_t seq;
	int32_t value;
	int32_t ex;
	char text[GUEST_CHANNEL_TEXT_MAX + 1]; /* always NUL-terminated */
};

/* "notifyPayloadStarted", ..., "reply"; "?" for anything else. */
const char *guest_channel_kind_name(int kind);

/*
 * Encode @m into @buf (@len bytes, GUEST_CHANNEL_PACKET_MAX is always enough).
 * -EINVAL for a message the decoder would refuse, -EMSGSIZE if @buf is short.
 */
int guest_channel_encode(const struct guest_channel_msg *m, uint8_t *buf, size_t len,
			 size_t *ret_len);
/* Decode one packet of exactly @len bytes. -EBADMSG / -EPROTONOSUPPORT. */
int guest_channel_decode(const uint8_t *buf, size_t len, struct guest_channel_msg *ret);

/*
 * Build a request from a backend guest event (text longer than
 * GUEST_CHANNEL_TEXT_MAX is cut). -EINVAL for an unknown event kind.
 */
int guest_channel_from_event(const struct guest_event *ev, uint32_t seq,
			     struct guest_channel_msg *ret);
/* The event a request carries; ret->message points into @m. -EINVAL for a reply. */
int guest_channel_to_event(const struct guest_channel_msg *m, struct guest_event *ret);
/* The reply to request @seq: @result 0 or -errno; @ex and @text describe a refusal. */
void guest_channel_make_reply(uint32_t seq, int result, int ex, const char *text,
			      struct guest_channel_msg *ret);

/* Send one message; @flags as send(2) (MSG_NOSIGNAL is always added). 0 or -errno. */
int guest_channel_send(int fd, const struct guest_channel_msg *m, int flags);
/*
 * Receive one message; @flags as recv(2) (MSG_DONTWAIT for a non-blocking read).
 * 1: *ret filled; 0: end of stream (peer closed); -EAGAIN: nothing there;
 * -EBADMSG: a malformed or oversized packet (consumed); other -errno from recvmsg.
 */
int guest_channel_recv(int fd, struct guest_channel_msg *ret, int flags);

#endif
