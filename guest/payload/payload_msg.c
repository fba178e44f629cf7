/* SPDX-License-Identifier: Apache-2.0 */
#include "payload_msg.h"

#include <errno.h>
#include <string.h>

#include "base/avf_err.h"

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
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

const char *payload_method_name(unsigned method)
{
	switch (method) {
	case PAYLOAD_NOTIFY_READY:
		return "notifyPayloadReady";
	case PAYLOAD_GET_VM_INSTANCE_SECRET:
		return "getVmInstanceSecret";
	case PAYLOAD_GET_DICE_ATTESTATION_CHAIN:
		return "getDiceAttestationChain";
	case PAYLOAD_GET_DICE_ATTESTATION_CDI:
		return "getDiceAttestationCdi";
	case PAYLOAD_REQUEST_ATTESTATION:
		return "requestAttestation";
	}
	return "unknown";
}

static bool method_known(unsigned method)
{
	return method >= PAYLOAD_NOTIFY_READY && method <= PAYLOAD_REQUEST_ATTESTATION;
}

static bool ex_known(int32_t ex)
{
	return (ex >= AVF_EX_SERVICE_SPECIFIC && ex <= AVF_EX_SECURITY) ||
	       ex == AVF_EX_TRANSACTION_FAILED;
}

/*
 * The field rules of a request, shared by the encoder (@err -EINVAL) and the decoder
 * (@err -EBADMSG) so the two cannot drift apart.
 */
static int check_request(int err, unsigned method, unsigned flags, int32_t arg, uint32_t data_len)
{
	if (!method_known(method))
		return avf_err_set(err, AVF_EX_BAD_PARCELABLE,
				   "payload service request: unknown method %u", method);
	if (flags & ~(method == PAYLOAD_REQUEST_ATTESTATION ? PAYLOAD_F_TEST_MODE : 0u))
		return avf_err_set(err, AVF_EX_BAD_PARCELABLE,
				   "payload service request: %s: flags 0x%x not allowed",
				   payload_method_name(method), flags);
	if (arg != 0 && method != PAYLOAD_GET_VM_INSTANCE_SECRET)
		return avf_err_set(err, AVF_EX_BAD_PARCELABLE,
				   "payload service request: %s: argument %d must be 0",
				   payload_method_name(method), (int)arg);
	switch (method) {
	case PAYLOAD_GET_VM_INSTANCE_SECRET:
		if (data_len > PAYLOAD_MSG_MAX_DATA)
			return avf_err_set(-E2BIG, AVF_EX_BAD_PARCELABLE,
					   "payload service request: identifier of %u bytes, "
					   "more than %u",
					   data_len, PAYLOAD_MSG_MAX_DATA);
		break;
	case PAYLOAD_REQUEST_ATTESTATION:
		if (data_len > PAYLOAD_CHALLENGE_MAX)
			return avf_err_set(err, AVF_EX_BAD_PARCELABLE,
					   "payload service request: challenge of %u bytes, "
					   "more than %u",
					   data_len, PAYLOAD_CHALLENGE_MAX);
		break;
	default:
		if (data_len != 0)
			return avf_err_set(err, AVF_EX_BAD_PARCELABLE,
					   "payload service request: %s carries %u data bytes, "
					   "expected none",
					   payload_method_name(method), data_len);
	}
	return 0;
}

/* The rules of a reply: same sharing as check_request. */
static int check_reply(int err, unsigned method, unsigned flags, int32_t ex, int32_t code,
		       const uint8_t *data, uint32_t data_len)
{
	const char *name = method ? payload_method_name(method) : "(unreadable request)";

	if (method != 0 && !method_known(method))
		return avf_err_set(err, AVF_EX_BAD_PARCELABLE,
				   "payload service reply: unknown method %u", method);
	if (flags != 0)
		return avf_err_set(err, AVF_EX_BAD_PARCELABLE,
				   "payload service reply: %s: flags 0x%x not allowed", name,
				   flags);
	if (ex != 0 && !ex_known(ex))
		return avf_err_set(err, AVF_EX_BAD_PARCELABLE,
				   "payload service reply: %s: unknown exception %d", name,
				   (int)ex);
	if (code != 0 && ex != AVF_EX_SERVICE_SPECIFIC)
		return avf_err_set(err, AVF_EX_BAD_PARCELABLE,
				   "payload service reply: %s: service code %d without "
				   "EX_SERVICE_SPECIFIC",
				   name, (int)code);
	if (data_len > PAYLOAD_MSG_MAX_DATA)
		return avf_err_set(-E2BIG, AVF_EX_BAD_PARCELABLE,
				   "payload service reply: %s: %u data bytes, more than %u", name,
				   data_len, PAYLOAD_MSG_MAX_DATA);
	if (ex != 0) {
		if (data_len > PAYLOAD_MSG_MAX_TEXT)
			return avf_err_set(err, AVF_EX_BAD_PARCELABLE,
					   "payload service reply: %s: message of %u bytes, "
					   "more than %u",
					   name, data_len, PAYLOAD_MSG_MAX_TEXT);
		if (data_len && memchr(data, '\0', data_len))
			return avf_err_set(err, AVF_EX_BAD_PARCELABLE,
					   "payload service reply: %s: NUL byte in the message",
					   name);
		return 0;
	}
	switch (method) {
	case 0:
		return avf_err_set(err, AVF_EX_BAD_PARCELABLE,
				   "payload service reply: a reply to an unreadable request "
				   "must carry an exception");
	case PAYLOAD_NOTIFY_READY:
		if (data_len != 0)
			return avf_err_set(err, AVF_EX_BAD_PARCELABLE,
					   "payload service reply: %s carries %u data bytes, "
					   "expected none",
					   name, data_len);
		break;
	case PAYLOAD_GET_VM_INSTANCE_SECRET:
		if (data_len > PAYLOAD_SECRET_MAX)
			return avf_err_set(err, AVF_EX_BAD_PARCELABLE,
					   "payload service reply: secret of %u bytes, more than %u",
					   data_len, PAYLOAD_SECRET_MAX);
		break;
	case PAYLOAD_REQUEST_ATTESTATION:
		/* No remote attestation exists here, so a result has no encoding. */
		return avf_err_set(err, AVF_EX_BAD_PARCELABLE,
				   "payload service reply: requestAttestation has no success "
				   "reply (no remote attestation in avf-ref)");
	}
	return 0;
}

int payload_msg_encode_request(const struct payload_request *rq, uint8_t *buf, size_t cap)
{
	unsigned flags = rq->test_mode ? PAYLOAD_F_TEST_MODE : 0u;
	size_t len;
	int r;

	r = check_request(-EINVAL, rq->method, flags, rq->size, rq->data_len);
	if (r < 0)
		return r;
	len = PAYLOAD_REQ_HDR_SIZE + rq->data_len;
	if (len > cap)
		return avf_err_set(-ENOBUFS, AVF_EX_BAD_PARCELABLE,
				   "payload service request: %zu bytes do not fit in %zu", len,
				   cap);
	put_u32(buf, PAYLOAD_MSG_MAGIC);
	put_u16(buf + 4, rq->method);
	put_u16(buf + 6, (uint16_t)flags);
	put_u32(buf + 8, (uint32_t)rq->size);
	put_u32(buf + 12, rq->data_len);
	if (rq->data_len)
		memcpy(buf + PAYLOAD_REQ_HDR_SIZE, rq->data, rq->data_len);
	return (int)len;
}

int payload_msg_encode_reply(const struct payload_reply *rp, uint8_t *buf, size_t cap)
{
	size_t len;
	int r;

	r = check_reply(-EINVAL, rp->method, 0, rp->ex, rp->service_code, rp->data,
			rp->data_len);
	if (r < 0)
		return r;
	len = PAYLOAD_REPLY_HDR_SIZE + rp->data_len;
	if (len > cap)
		return avf_err_set(-ENOBUFS, AVF_EX_BAD_PARCELABLE,
				   "payload service reply: %zu bytes do not fit in %zu", len, cap);
	put_u32(buf, PAYLOAD_MSG_MAGIC);
	put_u16(buf + 4, (uint16_t)(PAYLOAD_REPLY | rp->method));
	put_u16(buf + 6, 0);
	put_u32(buf + 8, (uint32_t)rp->ex);
	put_u32(buf + 12, (uint32_t)rp->service_code);
	put_u32(buf + 16, rp->data_len);
	if (rp->data_len)
		memcpy(buf + PAYLOAD_REPLY_HDR_SIZE, rp->data, rp->data_len);
	return (int)len;
}

/* Magic, header size, total size and data_len: the framing both packets share. */
static int check_frame(const char *what, const uint8_t *buf, size_t len, size_t hdr,
		       uint32_t *ret_data_len)
{
	uint32_t data_len;

	if (len < hdr)
		return avf_err_set(-EBADMSG, AVF_EX_BAD_PARCELABLE,
				   "payload service %s: %zu bytes, shorter than its %zu-byte header",
				   what, len, hdr);
	if (get_u32(buf) != PAYLOAD_MSG_MAGIC)
		return avf_err_set(-EPROTO, AVF_EX_BAD_PARCELABLE,
				   "payload service %s: bad magic 0x%08x", what, get_u32(buf));
	if (len > PAYLOAD_MSG_MAX)
		return avf_err_set(-E2BIG, AVF_EX_BAD_PARCELABLE,
				   "payload service %s: %zu bytes, more than %u", what, len,
				   PAYLOAD_MSG_MAX);
	data_len = get_u32(buf + hdr - 4);
	if (data_len != len - hdr)
		return avf_err_set(-EBADMSG, AVF_EX_BAD_PARCELABLE,
				   "payload service %s: data length %u, but %zu bytes follow the "
				   "header",
				   what, data_len, len - hdr);
	*ret_data_len = data_len;
	return 0;
}

int payload_msg_decode_request(const uint8_t *buf, size_t len, struct payload_request *ret)
{
	unsigned method, flags;
	uint32_t data_len;
	int32_t arg;
	int r;

	r = check_frame("request", buf, len, PAYLOAD_REQ_HDR_SIZE, &data_len);
	if (r < 0)
		return r;
	method = get_u16(buf + 4);
	flags = get_u16(buf + 6);
	arg = (int32_t)get_u32(buf + 8);
	if (method & PAYLOAD_REPLY)
		return avf_err_set(-EBADMSG, AVF_EX_BAD_PARCELABLE,
				   "payload service request: method 0x%x is a reply", method);
	r = check_request(-EBADMSG, method, flags, arg, data_len);
	if (r < 0)
		return r;
	*ret = (struct payload_request){
	    .method = (uint16_t)method,
	    .test_mode = flags & PAYLOAD_F_TEST_MODE,
	    .size = arg,
	    .data = data_len ? buf + PAYLOAD_REQ_HDR_SIZE : NULL,
	    .data_len = data_len,
	};
	return 0;
}

int payload_msg_decode_reply(const uint8_t *buf, size_t len, struct payload_reply *ret)
{
	unsigned method, flags;
	uint32_t data_len;
	int32_t ex, code;
	const uint8_t *data;
	int r;

	r = check_frame("reply", buf, len, PAYLOAD_REPLY_HDR_SIZE, &data_len);
	if (r < 0)
		return r;
	method = get_u16(buf + 4);
	flags = get_u16(buf + 6);
	ex = (int32_t)get_u32(buf + 8);
	code = (int32_t)get_u32(buf + 12);
	data = data_len ? buf + PAYLOAD_REPLY_HDR_SIZE : NULL;
	if (!(method & PAYLOAD_REPLY))
		return avf_err_set(-EBADMSG, AVF_EX_BAD_PARCELABLE,
				   "payload service reply: method 0x%x is not a reply", method);
	method &= ~PAYLOAD_REPLY;
	r = check_reply(-EBADMSG, method, flags, ex, code, data, data_len);
	if (r < 0)
		return r;
	*ret = (struct payload_reply){
	    .method = (uint16_t)method,
	    .ex = ex,
	    .service_code = code,
	    .data = data,
	    .data_len = data_len,
	};
	return 0;
}
