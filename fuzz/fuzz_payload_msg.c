/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the payload service codec (guest/payload/payload_msg.c): requests
 * a guest payload (untrusted code) sends the guest agent, and the replies it reads back.
 *
 * Input: one packet, decoded both as a request and as a reply. A refusal must be -EBADMSG,
 * -EPROTO or -E2BIG with AVF_EX_BAD_PARCELABLE and one line starting "payload service
 * request: " / "payload service reply: ". An accepted packet must keep the header's
 * rules, checked here (a violation traps like a crash): a known method, flags and argument
 * only where allowed, data within each method's bound and present exactly when its length
 * is not 0, an error message without NUL within its bound, a service code only with
 * EX_SERVICE_SPECIFIC, no success reply to an unreadable request or to requestAttestation;
 * and encode gives back the same bytes.
 * Seeds: fuzz/corpus/payload_msg/, written by fuzz_seeds (docs/fuzzing.md).
 */
#include <errno.h>
#include <string.h>

#include "base/avf_err.h"
#include "fuzz_check.h"
#include "payload_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[PAYLOAD_MSG_MAX];

static void check_refusal(int r, const char *prefix)
{
	const struct avf_error *e = avf_err_last();

	FUZZ_CHECK(r == -EBADMSG || r == -EPROTO || r == -E2BIG);
	FUZZ_CHECK(e->err == r && e->ex == AVF_EX_BAD_PARCELABLE);
	FUZZ_CHECK(strncmp(e->msg, prefix, strlen(prefix)) == 0 && !strchr(e->msg, '\n'));
}

static void check_request(const uint8_t *data, size_t size)
{
	struct payload_request rq;
	int r = payload_msg_decode_request(data, size, &rq);

	if (r < 0) {
		check_refusal(r, "payload service request: ");
		return;
	}
	FUZZ_CHECK(strcmp(payload_method_name(rq.method), "unknown") != 0);
	FUZZ_CHECK(!rq.test_mode || rq.method == PAYLOAD_REQUEST_ATTESTATION);
	FUZZ_CHECK(rq.size == 0 || rq.method == PAYLOAD_GET_VM_INSTANCE_SECRET);
	FUZZ_CHECK((rq.data != NULL) == (rq.data_len != 0));
	FUZZ_CHECK(size == PAYLOAD_REQ_HDR_SIZE + rq.data_len);
	switch (rq.method) {
	case PAYLOAD_GET_VM_INSTANCE_SECRET: FUZZ_CHECK(rq.data_len <= PAYLOAD_MSG_MAX_DATA); break;
	case PAYLOAD_REQUEST_ATTESTATION: FUZZ_CHECK(rq.data_len <= PAYLOAD_CHALLENGE_MAX); break;
	default: FUZZ_CHECK(rq.data_len == 0); break;
	}
	r = payload_msg_encode_request(&rq, out, sizeof(out));
	FUZZ_CHECK(r >= 0 && (size_t)r == size && memcmp(out, data, size) == 0);
}

static void check_reply(const uint8_t *data, size_t size)
{
	struct payload_reply rp;
	int r = payload_msg_decode_reply(data, size, &rp);

	if (r < 0) {
		check_refusal(r, "payload service reply: ");
		return;
	}
	FUZZ_CHECK(rp.method == 0 || strcmp(payload_method_name(rp.method), "unknown") != 0);
	FUZZ_CHECK(rp.service_code == 0 || rp.ex == AVF_EX_SERVICE_SPECIFIC);
	FUZZ_CHECK((rp.data != NULL) == (rp.data_len != 0));
	FUZZ_CHECK(size == PAYLOAD_REPLY_HDR_SIZE + rp.data_len);
	if (rp.ex != 0) {
		FUZZ_CHECK(rp.ex < 0 && rp.data_len <= PAYLOAD_MSG_MAX_TEXT);
		FUZZ_CHECK(!rp.data_len || !memchr(rp.data, '\0', rp.data_len));
	} else {
		FUZZ_CHECK(rp.method != 0 && rp.method != PAYLOAD_REQUEST_ATTESTATION);
		FUZZ_CHECK(rp.method != PAYLOAD_NOTIFY_READY || rp.data_len == 0);
		FUZZ_CHECK(rp.method != PAYLOAD_GET_VM_INSTANCE_SECRET ||
			   rp.data_len <= PAYLOAD_SECRET_MAX);
	}
	r = payload_msg_encode_reply(&rp, out, sizeof(out));
	FUZZ_CHECK(r >= 0 && (size_t)r == size && memcmp(out, data, size) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_request(data, size);
	check_reply(data, size);
	return 0;
}
