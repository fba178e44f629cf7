/* SPDX-License-Identifier: Apache-2.0 */
/*
 * payload_msg: the payload service's wire format. Packets are written out byte by
 * byte from the layout in payload_msg.h (not with the encoder under test); every
 * malformed one must be refused with its errno, BAD_PARCELABLE and its message.
 */
#include "cmocka_wrap.h"

#include <errno.h>
#include <string.h>

#include "base/avf_err.h"
#include "payload_msg.h"

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A request header by hand; returns the packet length (header + data_len). */
static size_t req(uint8_t *b, uint32_t magic, uint16_t method, uint16_t flags, uint32_t arg,
		  uint32_t data_len)
{
	le32(b, magic);
	le16(b + 4, method);
	le16(b + 6, flags);
	le32(b + 8, arg);
	le32(b + 12, data_len);
	memset(b + 16, 'x', data_len);
	return 16 + data_len;
}

static size_t rep(uint8_t *b, uint16_t method, uint16_t flags, int32_t ex, int32_t code,
		  const void *data, uint32_t data_len)
{
	le32(b, PAYLOAD_MSG_MAGIC);
	le16(b + 4, method);
	le16(b + 6, flags);
	le32(b + 8, (uint32_t)ex);
	le32(b + 12, (uint32_t)code);
	le32(b + 16, data_len);
	if (data_len)
		memcpy(b + 20, data, data_len);
	return 20 + data_len;
}

#define MAGIC PAYLOAD_MSG_MAGIC

static void expect_request_error(const uint8_t *b, size_t len, int err, const char *msg)
{
	struct payload_request rq;

	memset(&rq, 0x5a, sizeof(rq));
	avf_err_clear();
	assert_int_equal(payload_msg_decode_request(b, len, &rq), err);
	assert_int_equal(avf_err_last()->ex, AVF_EX_BAD_PARCELABLE);
	if (!strstr(avf_err_last()->msg, msg))
		fail_msg("message '%s' lacks '%s'", avf_err_last()->msg, msg);
	/* Untouched on failure. */
	assert_int_equal(rq.method, 0x5a5a);
}

static void expect_reply_error(const uint8_t *b, size_t len, int err, const char *msg)
{
	struct payload_reply rp;

	memset(&rp, 0x5a, sizeof(rp));
	avf_err_clear();
	assert_int_equal(payload_msg_decode_reply(b, len, &rp), err);
	assert_int_equal(avf_err_last()->ex, AVF_EX_BAD_PARCELABLE);
	if (!strstr(avf_err_last()->msg, msg))
		fail_msg("message '%s' lacks '%s'", avf_err_last()->msg, msg);
	assert_int_equal(rp.method, 0x5a5a);
}

static void test_request_by_hand(void **state)
{
	uint8_t b[64];
	struct payload_request rq;
	size_t n;

	/* getVmInstanceSecret(id "abc", size 32), written out from the spec. */
	le32(b, MAGIC);
	le16(b + 4, 2);
	le16(b + 6, 0);
	le32(b + 8, 32);
	le32(b + 12, 3);
	memcpy(b + 16, "abc", 3);
	assert_int_equal(payload_msg_decode_request(b, 19, &rq), 0);
	assert_int_equal(rq.method, PAYLOAD_GET_VM_INSTANCE_SECRET);
	assert_int_equal(rq.size, 32);
	assert_int_equal(rq.data_len, 3);
	assert_memory_equal(rq.data, "abc", 3);
	assert_false(rq.test_mode);

	/* The magic is the bytes "AVP1". */
	assert_memory_equal(b, "AVP1", 4);

	/* requestAttestation in test mode, empty challenge. */
	n = req(b, MAGIC, 5, 1, 0, 0);
	assert_int_equal(payload_msg_decode_request(b, n, &rq), 0);
	assert_int_equal(rq.method, PAYLOAD_REQUEST_ATTESTATION);
	assert_true(rq.test_mode);
	assert_null(rq.data);

	/* A negative secret size is well-formed: refusing it is the service's job (AVF). */
	n = req(b, MAGIC, 2, 0, (uint32_t)-1, 0);
	assert_int_equal(payload_msg_decode_request(b, n, &rq), 0);
	assert_int_equal(rq.size, -1);
	(void)state;
}

static void test_request_malformed(void **state)
{
	static uint8_t b[PAYLOAD_MSG_MAX + 64];
	size_t n;

	n = req(b, MAGIC, 1, 0, 0, 0);
	expect_request_error(b, n - 1, -EBADMSG, "15 bytes, shorter than its 16-byte header");
	expect_request_error(b, 0, -EBADMSG, "0 bytes, shorter");

	n = req(b, 0x31505642, 1, 0, 0, 0);
	expect_request_error(b, n, -EPROTO, "bad magic 0x31505642");

	/* data_len says 2, 3 bytes follow; and 4 say 4 but 3 follow. */
	n = req(b, MAGIC, 2, 0, 32, 3);
	le32(b + 12, 2);
	expect_request_error(b, n, -EBADMSG, "data length 2, but 3 bytes follow");
	le32(b + 12, 4);
	expect_request_error(b, n, -EBADMSG, "data length 4, but 3 bytes follow");

	n = req(b, MAGIC, 0, 0, 0, 0);
	expect_request_error(b, n, -EBADMSG, "unknown method 0");
	n = req(b, MAGIC, 6, 0, 0, 0);
	expect_request_error(b, n, -EBADMSG, "unknown method 6");
	n = req(b, MAGIC, 0x81, 0, 0, 0);
	expect_request_error(b, n, -EBADMSG, "method 0x81 is a reply");

	n = req(b, MAGIC, 1, 1, 0, 0);
	expect_request_error(b, n, -EBADMSG, "notifyPayloadReady: flags 0x1 not allowed");
	n = req(b, MAGIC, 5, 2, 0, 0);
	expect_request_error(b, n, -EBADMSG, "requestAttestation: flags 0x2 not allowed");
	n = req(b, MAGIC, 2, 0x8000, 32, 0);
	expect_request_error(b, n, -EBADMSG, "getVmInstanceSecret: flags 0x8000 not allowed");

	n = req(b, MAGIC, 1, 0, 5, 0);
	expect_request_error(b, n, -EBADMSG, "notifyPayloadReady: argument 5 must be 0");
	n = req(b, MAGIC, 4, 0, (uint32_t)-3, 0);
	expect_request_error(b, n, -EBADMSG, "getDiceAttestationCdi: argument -3 must be 0");

	n = req(b, MAGIC, 1, 0, 0, 3);
	expect_request_error(b, n, -EBADMSG, "notifyPayloadReady carries 3 data bytes");
	n = req(b, MAGIC, 3, 0, 0, 1);
	expect_request_error(b, n, -EBADMSG, "getDiceAttestationChain carries 1 data bytes");

	n = req(b, MAGIC, 5, 0, 0, 65);
	expect_request_error(b, n, -EBADMSG, "challenge of 65 bytes, more than 64");
	n = req(b, MAGIC, 5, 0, 0, 64);
	struct payload_request rq;
	assert_int_equal(payload_msg_decode_request(b, n, &rq), 0);

	/* 4097-byte identifier: the packet fits the size limit, the field does not. */
	n = req(b, MAGIC, 2, 0, 32, 4097);
	expect_request_error(b, n, -E2BIG, "identifier of 4097 bytes, more than 4096");
	n = req(b, MAGIC, 2, 0, 32, 4096);
	assert_int_equal(payload_msg_decode_request(b, n, &rq), 0);

	/* Over the packet limit (20 + 4096 bytes). */
	n = req(b, MAGIC, 2, 0, 32, 4101);
	expect_request_error(b, n, -E2BIG, "4117 bytes, more than 4116");
	(void)state;
}

static void test_reply_by_hand(void **state)
{
	uint8_t b[64];
	struct payload_reply rp;
	size_t n;

	/* A refused getDiceAttestationCdi: EX_SECURITY (-1), with its message. */
	n = rep(b, 0x84, 0, -1, 0, "nope", 4);
	assert_int_equal(payload_msg_decode_reply(b, n, &rp), 0);
	assert_int_equal(rp.method, PAYLOAD_GET_DICE_ATTESTATION_CDI);
	assert_int_equal(rp.ex, AVF_EX_SECURITY);
	assert_int_equal(rp.data_len, 4);
	assert_memory_equal(rp.data, "nope", 4);

	/* Service-specific -1 and its code. */
	n = rep(b, 0x81, 0, -8, -1, "x", 1);
	assert_int_equal(payload_msg_decode_reply(b, n, &rp), 0);
	assert_int_equal(rp.ex, AVF_EX_SERVICE_SPECIFIC);
	assert_int_equal(rp.service_code, -1);

	/* The answer to an unreadable request. */
	n = rep(b, 0x80, 0, -2, 0, "bad", 3);
	assert_int_equal(payload_msg_decode_reply(b, n, &rp), 0);
	assert_int_equal(rp.method, 0);
	assert_int_equal(rp.ex, AVF_EX_BAD_PARCELABLE);

	/* A 32-byte secret. */
	memset(b + 20, 7, 32);
	n = rep(b, 0x82, 0, 0, 0, b + 20, 32);
	assert_int_equal(payload_msg_decode_reply(b, n, &rp), 0);
	assert_int_equal(rp.data_len, 32);
	assert_int_equal(rp.data[31], 7);

	/* An empty message is allowed. */
	n = rep(b, 0x85, 0, -7, 0, NULL, 0);
	assert_int_equal(payload_msg_decode_reply(b, n, &rp), 0);
	assert_null(rp.data);
	(void)state;
}

static void test_reply_malformed(void **state)
{
	static uint8_t b[PAYLOAD_MSG_MAX + 64];
	static char text[600];
	size_t n;

	n = rep(b, 0x81, 0, 0, 0, NULL, 0);
	expect_reply_error(b, n - 1, -EBADMSG, "19 bytes, shorter than its 20-byte header");
	le32(b, 0);
	expect_reply_error(b, n, -EPROTO, "bad magic 0x00000000");

	n = rep(b, 0x81, 0, 0, 0, NULL, 0);
	le32(b + 16, 1);
	expect_reply_error(b, n, -EBADMSG, "data length 1, but 0 bytes follow");

	n = rep(b, 0x01, 0, 0, 0, NULL, 0);
	expect_reply_error(b, n, -EBADMSG, "method 0x1 is not a reply");
	n = rep(b, 0x86, 0, 0, 0, NULL, 0);
	expect_reply_error(b, n, -EBADMSG, "unknown method 6");
	n = rep(b, 0x181, 0, 0, 0, NULL, 0);
	expect_reply_error(b, n, -EBADMSG, "unknown method 257");
	n = rep(b, 0x81, 4, 0, 0, NULL, 0);
	expect_reply_error(b, n, -EBADMSG, "flags 0x4 not allowed");

	n = rep(b, 0x81, 0, -9, 0, "m", 1);
	expect_reply_error(b, n, -EBADMSG, "unknown exception -9");
	n = rep(b, 0x81, 0, 1, 0, "m", 1);
	expect_reply_error(b, n, -EBADMSG, "unknown exception 1");
	n = rep(b, 0x81, 0, -3, 5, "m", 1);
	expect_reply_error(b, n, -EBADMSG, "service code 5 without EX_SERVICE_SPECIFIC");
	n = rep(b, 0x81, 0, 0, 5, NULL, 0);
	expect_reply_error(b, n, -EBADMSG, "service code 5 without EX_SERVICE_SPECIFIC");

	n = rep(b, 0x81, 0, -3, 0, "a\0b", 3);
	expect_reply_error(b, n, -EBADMSG, "NUL byte in the message");
	memset(text, 'm', sizeof(text));
	n = rep(b, 0x81, 0, -3, 0, text, 512);
	expect_reply_error(b, n, -EBADMSG, "message of 512 bytes, more than 511");

	n = rep(b, 0x81, 0, 0, 0, "xyz", 3);
	expect_reply_error(b, n, -EBADMSG, "notifyPayloadReady carries 3 data bytes");
	n = rep(b, 0x82, 0, 0, 0, text, 33);
	expect_reply_error(b, n, -EBADMSG, "secret of 33 bytes, more than 32");
	n = rep(b, 0x85, 0, 0, 0, NULL, 0);
	expect_reply_error(b, n, -EBADMSG, "requestAttestation has no success reply");
	n = rep(b, 0x80, 0, 0, 0, NULL, 0);
	expect_reply_error(b, n, -EBADMSG, "unreadable request must carry an exception");

	n = rep(b, 0x83, 0, 0, 0, NULL, 0);
	le32(b + 16, 4097);
	memset(b + 20, 1, 4097);
	expect_reply_error(b, n + 4097, -E2BIG, "4117 bytes, more than 4116");
	(void)state;
}

/* encode(x) decodes to x, and encode(decode(p)) == p. */
static void test_round_trip(void **state)
{
	static const uint8_t id[] = {0, 1, 2, 0xff};
	const struct payload_request rqs[] = {
	    {.method = PAYLOAD_NOTIFY_READY},
	    {.method = PAYLOAD_GET_VM_INSTANCE_SECRET, .size = 32, .data = id, .data_len = 4},
	    {.method = PAYLOAD_GET_VM_INSTANCE_SECRET, .size = -7},
	    {.method = PAYLOAD_GET_DICE_ATTESTATION_CHAIN},
	    {.method = PAYLOAD_GET_DICE_ATTESTATION_CDI},
	    {.method = PAYLOAD_REQUEST_ATTESTATION, .data = id, .data_len = 4},
	    {.method = PAYLOAD_REQUEST_ATTESTATION, .test_mode = true},
	};
	const struct payload_reply rps[] = {
	    {.method = PAYLOAD_NOTIFY_READY},
	    {.method = PAYLOAD_GET_VM_INSTANCE_SECRET, .data = id, .data_len = 4},
	    {.method = PAYLOAD_GET_DICE_ATTESTATION_CDI, .data = id, .data_len = 4},
	    {.method = PAYLOAD_REQUEST_ATTESTATION, .ex = AVF_EX_UNSUPPORTED_OPERATION,
	     .data = (const uint8_t *)"no", .data_len = 2},
	    {.method = 0, .ex = AVF_EX_BAD_PARCELABLE},
	    {.method = PAYLOAD_NOTIFY_READY, .ex = AVF_EX_SERVICE_SPECIFIC, .service_code = -1},
	    {.method = PAYLOAD_NOTIFY_READY, .ex = AVF_EX_TRANSACTION_FAILED},
	};
	uint8_t b[PAYLOAD_MSG_MAX], b2[PAYLOAD_MSG_MAX];
	struct payload_request rq;
	struct payload_reply rp;
	int n;

	for (size_t i = 0; i < sizeof(rqs) / sizeof(rqs[0]); i++) {
		n = payload_msg_encode_request(&rqs[i], b, sizeof(b));
		assert_int_equal(n, 16 + (int)rqs[i].data_len);
		assert_int_equal(payload_msg_decode_request(b, (size_t)n, &rq), 0);
		assert_int_equal(rq.method, rqs[i].method);
		assert_int_equal(rq.size, rqs[i].size);
		assert_int_equal(rq.test_mode, rqs[i].test_mode);
		assert_int_equal(rq.data_len, rqs[i].data_len);
		if (rq.data_len)
			assert_memory_equal(rq.data, rqs[i].data, rq.data_len);
		assert_int_equal(payload_msg_encode_request(&rq, b2, sizeof(b2)), n);
		assert_memory_equal(b, b2, (size_t)n);
	}
	for (size_t i = 0; i < sizeof(rps) / sizeof(rps[0]); i++) {
		n = payload_msg_encode_reply(&rps[i], b, sizeof(b));
		assert_int_equal(n, 20 + (int)rps[i].data_len);
		assert_int_equal(payload_msg_decode_reply(b, (size_t)n, &rp), 0);
		assert_int_equal(rp.method, rps[i].method);
		assert_int_equal(rp.ex, rps[i].ex);
		assert_int_equal(rp.service_code, rps[i].service_code);
		assert_int_equal(rp.data_len, rps[i].data_len);
		assert_int_equal(payload_msg_encode_reply(&rp, b2, sizeof(b2)), n);
		assert_memory_equal(b, b2, (size_t)n);
	}
	(void)state;
}

/* The encoders refuse what the decoders would. */
static void test_encode_refuses(void **state)
{
	uint8_t b[PAYLOAD_MSG_MAX];
	struct payload_request rq = {.method = 9};
	struct payload_reply rp = {.method = PAYLOAD_REQUEST_ATTESTATION};

	assert_int_equal(payload_msg_encode_request(&rq, b, sizeof(b)), -EINVAL);
	assert_non_null(strstr(avf_err_last()->msg, "unknown method 9"));
	rq = (struct payload_request){.method = PAYLOAD_NOTIFY_READY, .size = 1};
	assert_int_equal(payload_msg_encode_request(&rq, b, sizeof(b)), -EINVAL);
	rq = (struct payload_request){.method = PAYLOAD_GET_VM_INSTANCE_SECRET, .data = b,
				      .data_len = 4097};
	assert_int_equal(payload_msg_encode_request(&rq, b, sizeof(b)), -E2BIG);
	rq = (struct payload_request){.method = PAYLOAD_NOTIFY_READY};
	assert_int_equal(payload_msg_encode_request(&rq, b, 15), -ENOBUFS);
	assert_int_equal(payload_msg_encode_request(&rq, b, 16), 16);

	assert_int_equal(payload_msg_encode_reply(&rp, b, sizeof(b)), -EINVAL);
	assert_non_null(strstr(avf_err_last()->msg, "no success reply"));
	rp = (struct payload_reply){.method = PAYLOAD_NOTIFY_READY};
	assert_int_equal(payload_msg_encode_reply(&rp, b, 19), -ENOBUFS);
	(void)state;
}

static void test_method_names(void **state)
{
	/* AVF's IVmPayloadService method names. */
	assert_string_equal(payload_method_name(1), "notifyPayloadReady");
	assert_string_equal(payload_method_name(2), "getVmInstanceSecret");
	assert_string_equal(payload_method_name(3), "getDiceAttestationChain");
	assert_string_equal(payload_method_name(4), "getDiceAttestationCdi");
	assert_string_equal(payload_method_name(5), "requestAttestation");
	assert_string_equal(payload_method_name(0), "unknown");
	assert_string_equal(payload_method_name(6), "unknown");
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_by_hand), cmocka_unit_test(test_request_malformed),
	    cmocka_unit_test(test_reply_by_hand),   cmocka_unit_test(test_reply_malformed),
	    cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_encode_refuses),
	    cmocka_unit_test(test_method_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
