/* SPDX-License-Identifier: Apache-2.0 */
#include "backends/fake/guest_channel.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "base/avf_err.h"

/* Smallest errno a reply may carry: the kernel's -MAX_ERRNO. */
#define GUEST_CHANNEL_ERRNO_MIN (-4095)

const char *guest_channel_kind_name(int kind)
{
	switch (kind) {
	case GUEST_CHANNEL_PAYLOAD_STARTED: return "notifyPayloadStarted";
	case GUEST_CHANNEL_PAYLOAD_READY: return "notifyPayloadReady";
	case GUEST_CHANNEL_PAYLOAD_FINISHED: return "notifyPayloadFinished";
	case GUEST_CHANNEL_ERROR: return "notifyError";
	case GUEST_CHANNEL_REPLY: return "reply";
	default: return "?";
	}
}

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int bad_as(int err, int ex, const char *what, long long v)
{
	return avf_err_set(err, ex, "guest channel: %s (%lld)", what, v);
}

static int bad(const char *what, long long v)
{
	return bad_as(-EBADMSG, AVF_EX_BAD_PARCELABLE, what, v);
}

/*
 * Per-kind invariants, shared by encoder and decoder so both refuse the same
 * things; @enc selects the encoder's error (-EINVAL: a caller bug, not bad input).
 */
static int check_fields(bool enc, int kind, int32_t value, int32_t ex, size_t text_len)
{
	int err = enc ? -EINVAL : -EBADMSG,
	    aex = enc ? AVF_EX_ILLEGAL_ARGUMENT : AVF_EX_BAD_PARCELABLE;

	switch (kind) {
	case GUEST_CHANNEL_PAYLOAD_STARTED:
	case GUEST_CHANNEL_PAYLOAD_READY:
		if (value != 0)
			return bad_as(err, aex, "started/ready carry no value", value);
		if (text_len)
			return bad_as(err, aex, "started/ready carry no text, text_len",
				      (long long)text_len);
		break;
	case GUEST_CHANNEL_PAYLOAD_FINISHED:
		if (text_len)
			return bad_as(err, aex, "finished carries no text, text_len",
				      (long long)text_len);
		break;
	case GUEST_CHANNEL_ERROR: break;
	case GUEST_CHANNEL_REPLY:
		if (value > 0 || value < GUEST_CHANNEL_ERRNO_MIN)
			return bad_as(err, aex, "reply value is neither 0 nor a negative errno",
				      value);
		if (value == 0 && (ex != 0 || text_len))
			return bad_as(err, aex,
				      "a successful reply carries no exception or text, ex", ex);
		if (value < 0 && ex == 0)
			return bad_as(err, aex, "a refusal needs an exception code, ex", ex);
		return 0;
	default: return bad_as(err, aex, "unknown kind", kind);
	}
	if (ex != 0)
		return bad_as(err, aex, "requests carry no exception code, ex", ex);
	return 0;
}

int guest_channel_encode(const struct guest_channel_msg *m, uint8_t *buf, size_t len,
			 size_t *ret_len)
{
	size_t text_len = strnlen(m->text, sizeof(m->text));
	int r;

	if (text_len > GUEST_CHANNEL_TEXT_MAX)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "guest channel: text is not NUL-terminated within %d bytes",
				   GUEST_CHANNEL_TEXT_MAX);
	r = check_fields(true, (int)m->kind, m->value, m->ex, text_len);
	if (r < 0)
		return r;
	if (len < GUEST_CHANNEL_HDR_LEN + text_len)
		return avf_err_set(-EMSGSIZE, AVF_EX_ILLEGAL_ARGUMENT,
				   "guest channel: %zu-byte buffer for a %zu-byte packet", len,
				   GUEST_CHANNEL_HDR_LEN + text_len);
	buf[0] = GUEST_CHANNEL_VERSION;
	buf[1] = (uint8_t)m->kind;
	put_u16(buf + 2, (uint16_t)text_len);
	put_u32(buf + 4, m->seq);
	put_u32(buf + 8, (uint32_t)m->value);
	put_u32(buf + 12, (uint32_t)m->ex);
	memcpy(buf + GUEST_CHANNEL_HDR_LEN, m->text, text_len);
	*ret_len = GUEST_CHANNEL_HDR_LEN + text_len;
	return 0;
}

int guest_channel_decode(const uint8_t *buf, size_t len, struct guest_channel_msg *ret)
{
	size_t text_len;
	int32_t value, ex;
	int r;

	if (len < GUEST_CHANNEL_HDR_LEN)
		return bad("packet shorter than the 16-byte header, size", (long long)len);
	if (buf[0] != GUEST_CHANNEL_VERSION)
		return avf_err_set(-EPROTONOSUPPORT, AVF_EX_BAD_PARCELABLE,
				   "guest channel: version %u, expected %u", buf[0],
				   GUEST_CHANNEL_VERSION);
	text_len = get_u16(buf + 2);
	if (text_len > GUEST_CHANNEL_TEXT_MAX)
		return bad("text_len above the 1024-byte limit", (long long)text_len);
	if (len != GUEST_CHANNEL_HDR_LEN + text_len)
		return bad("packet size differs from 16 + text_len, size", (long long)len);
	if (memchr(buf + GUEST_CHANNEL_HDR_LEN, '\0', text_len))
		return bad("NUL inside the text, text_len", (long long)text_len);
	value = (int32_t)get_u32(buf + 8);
	ex = (int32_t)get_u32(buf + 12);
	r = check_fields(false, buf[1], value, ex, text_len);
	if (r < 0)
		return r;
	ret->kind = (enum guest_channel_kind)buf[1];
	ret->seq = get_u32(buf + 4);
	ret->value = value;
	ret->ex = ex;
	memcpy(ret->text, buf + GUEST_CHANNEL_HDR_LEN, text_len);
	ret->text[text_len] = '\0';
	return 0;
}

int guest_channel_from_event(const struct guest_event *ev, uint32_t seq,
			     struct guest_channel_msg *ret)
{
	enum guest_channel_kind kind;
	const char *text = NULL;
	int32_t value = 0;
	size_t n;

	switch (ev->kind) {
	case GUEST_PAYLOAD_STARTED: kind = GUEST_CHANNEL_PAYLOAD_STARTED; break;
	case GUEST_PAYLOAD_READY: kind = GUEST_CHANNEL_PAYLOAD_READY; break;
	case GUEST_PAYLOAD_FINISHED:
		kind = GUEST_CHANNEL_PAYLOAD_FINISHED;
		value = ev->value;
		break;
	case GUEST_ERROR:
		kind = GUEST_CHANNEL_ERROR;
		value = ev->value;
		text = ev->message;
		break;
	default:
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "guest channel: event kind %d",
				   (int)ev->kind);
	}
	ret->kind = kind;
	ret->seq = seq;
	ret->value = value;
	ret->ex = 0;
	n = text ? strnlen(text, GUEST_CHANNEL_TEXT_MAX) : 0;
	if (n)
		memcpy(ret->text, text, n);
	ret->text[n] = '\0';
	return 0;
}

int guest_channel_to_event(const struct guest_channel_msg *m, struct guest_event *ret)
{
	struct guest_event ev = {.value = m->value};

	switch (m->kind) {
	case GUEST_CHANNEL_PAYLOAD_STARTED: ev.kind = GUEST_PAYLOAD_STARTED; break;
	case GUEST_CHANNEL_PAYLOAD_READY: ev.kind = GUEST_PAYLOAD_READY; break;
	case GUEST_CHANNEL_PAYLOAD_FINISHED: ev.kind = GUEST_PAYLOAD_FINISHED; break;
	case GUEST_CHANNEL_ERROR:
		ev.kind = GUEST_ERROR;
		ev.message = m->text;
		break;
	default:
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "guest channel: %s is not a guest request",
				   guest_channel_kind_name((int)m->kind));
	}
	*ret = ev;
	return 0;
}

void guest_channel_make_reply(uint32_t seq, int result, int ex, const char *text,
			      struct guest_channel_msg *ret)
{
	size_t n = 0;

	ret->kind = GUEST_CHANNEL_REPLY;
	ret->seq = seq;
	if (result > 0 || result < GUEST_CHANNEL_ERRNO_MIN)
		result = -EPROTO; /* keep the reply encodable whatever the sink returned */
	ret->value = result;
	ret->ex = 0;
	if (result < 0) {
		ret->ex = ex ? ex : AVF_EX_SERVICE_SPECIFIC;
		n = text ? strnlen(text, GUEST_CHANNEL_TEXT_MAX) : 0;
		if (n)
			memcpy(ret->text, text, n);
	}
	ret->text[n] = '\0';
}

int guest_channel_send(int fd, const struct guest_channel_msg *m, int flags)
{
	uint8_t buf[GUEST_CHANNEL_PACKET_MAX];
	size_t len;
	ssize_t n;
	int r;

	r = guest_channel_encode(m, buf, sizeof(buf), &len);
	if (r < 0)
		return r;
	do
		n = send(fd, buf, len, flags | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return avf_err_service(-errno, "guest channel: send: %s", strerror(errno));
	if ((size_t)n != len) /* cannot happen on SOCK_SEQPACKET: packets are atomic */
		return avf_err_service(-EIO, "guest channel: short send (%zd of %zu)", n, len);
	return 0;
}

int guest_channel_recv(int fd, struct guest_channel_msg *ret, int flags)
{
	uint8_t buf[GUEST_CHANNEL_PACKET_MAX];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	/* No control buffer: any fds a peer tries to pass are discarded by the kernel. */
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;
	int r;

	do
		n = recvmsg(fd, &mh, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		return avf_err_service(-errno, "guest channel: recv: %s", strerror(errno));
	}
	if (n == 0)
		return 0;
	if (mh.msg_flags & MSG_TRUNC)
		return bad("packet longer than the 1040-byte maximum, at least", (long long)n + 1);
	r = guest_channel_decode(buf, (size_t)n, ret);
	return r < 0 ? r : 1;
}
