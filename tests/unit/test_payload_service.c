/* SPDX-License-Identifier: Apache-2.0 */
/*
 * payload_service: the server side of the payload service over a real
 * SOCK_SEQPACKET socketpair. Expected secrets are computed here with OpenSSL's
 * one-shot HMAC() from the derivation rule written in payload_secret.h, not with the
 * code under test.
 */
#include "cmocka_wrap.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/avf_err.h"
#include "payload_msg.h"
#include "payload_service.h"
#include "test_fds.h"

struct fixture {
	int client, server; /* the payload's end, the agent's end */
	int ready_calls;
	int ready_result; /* what notify_ready returns */
	bool ready_records; /* whether it records an avf_err message when failing */
	struct payload_service_identity id;
	struct payload_service_ops ops;
	int fds_before;
};

static int notify_ready(void *ctx)
{
	struct fixture *f = ctx;

	f->ready_calls++;
	if (f->ready_result < 0 && f->ready_records)
		return avf_err_set(f->ready_result, AVF_EX_ILLEGAL_STATE,
				   "payload state only moves forward");
	return f->ready_result;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int sv[2];

	assert_non_null(f);
	f->fds_before = count_fds();
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	f->client = sv[0];
	f->server = sv[1];
	for (int i = 0; i < 32; i++)
		f->id.secret_seed[i] = (uint8_t)(i * 7 + 1);
	f->ops.notify_ready = notify_ready;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->client >= 0)
		close(f->client);
	close(f->server);
	assert_int_equal(count_fds(), f->fds_before);
	free(f);
	return 0;
}

/* Send @len raw bytes as one packet, serve it, and return the decoded reply. */
static void roundtrip_raw(struct fixture *f, const uint8_t *pkt, size_t len, uint8_t *buf,
			  struct payload_reply *ret)
{
	ssize_t n;

	assert_int_equal(send(f->client, pkt, len, 0), (ssize_t)len);
	assert_int_equal(payload_service_serve_one(f->server, &f->id, &f->ops, f), 1);
	n = recv(f->client, buf, PAYLOAD_MSG_MAX, 0);
	assert_true(n > 0);
	assert_int_equal(payload_msg_decode_reply(buf, (size_t)n, ret), 0);
}

static void call(struct fixture *f, const struct payload_request *rq, uint8_t *buf,
		 struct payload_reply *ret)
{
	uint8_t pkt[PAYLOAD_MSG_MAX];
	int n = payload_msg_encode_request(rq, pkt, sizeof(pkt));

	assert_true(n > 0);
	roundtrip_raw(f, pkt, (size_t)n, buf, ret);
	assert_int_equal(ret->method, rq->method);
}

static void expect_refusal(const struct payload_reply *rp, int ex, const char *msg)
{
	assert_int_equal(rp->ex, ex);
	if (rp->data_len != strlen(msg) || memcmp(rp->data, msg, rp->data_len) != 0)
		fail_msg("message '%.*s', expected '%s'", (int)rp->data_len, rp->data, msg);
}

/* HMAC-SHA256(seed, label || NUL || input), the rule of payload_secret.h. */
static void oracle(const uint8_t seed[32], const char *label, const void *input, size_t n,
		   uint8_t out[32])
{
	uint8_t msg[256];
	size_t l = strlen(label) + 1;
	unsigned len = 0;

	assert_true(l + n <= sizeof(msg));
	memcpy(msg, label, l);
	memcpy(msg + l, input, n);
	assert_non_null(HMAC(EVP_sha256(), seed, 32, msg, l + n, out, &len));
	assert_int_equal(len, 32);
}

static void secret(struct fixture *f, const char *id, int32_t size, uint8_t *out,
		   struct payload_reply *rp, uint8_t *buf)
{
	struct payload_request rq = {
	    .method = PAYLOAD_GET_VM_INSTANCE_SECRET,
	    .size = size,
	    .data = (const uint8_t *)id,
	    .data_len = (uint32_t)strlen(id),
	};

	call(f, &rq, buf, rp);
	if (rp->ex == 0 && out)
		memcpy(out, rp->data, rp->data_len);
}

static void test_notify_ready(void **state)
{
	struct fixture *f = *state;
	struct payload_request rq = {.method = PAYLOAD_NOTIFY_READY};
	uint8_t buf[PAYLOAD_MSG_MAX];
	struct payload_reply rp;

	call(f, &rq, buf, &rp);
	assert_int_equal(rp.ex, AVF_EX_NONE);
	assert_int_equal(rp.data_len, 0);
	assert_int_equal(f->ready_calls, 1);

	/* The host's refusal goes back to the payload with its code and message. */
	f->ready_result = -EBUSY;
	f->ready_records = true;
	call(f, &rq, buf, &rp);
	expect_refusal(&rp, AVF_EX_ILLEGAL_STATE, "payload state only moves forward");
	assert_int_equal(f->ready_calls, 2);

	/* A failure with no message becomes AVF's default: service-specific -1. */
	f->ready_records = false;
	call(f, &rq, buf, &rp);
	assert_int_equal(rp.ex, AVF_EX_SERVICE_SPECIFIC);
	assert_int_equal(rp.service_code, -1);
	expect_refusal(&rp, AVF_EX_SERVICE_SPECIFIC,
		       "notifyPayloadReady failed: Device or resource busy");
}

static void test_secret_matches_the_rule(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[PAYLOAD_MSG_MAX], got[32], want[32];
	struct payload_reply rp;

	secret(f, "test-id", 32, got, &rp, buf);
	assert_int_equal(rp.ex, AVF_EX_NONE);
	assert_int_equal(rp.data_len, 32);
	oracle(f->id.secret_seed, "avf-instance-secret", "test-id", 7, want);
	assert_memory_equal(got, want, 32);

	/* A shorter secret is a prefix of the longer one. */
	secret(f, "test-id", 5, got, &rp, buf);
	assert_int_equal(rp.data_len, 5);
	assert_memory_equal(got, want, 5);

	/* Size 0: an empty answer. An empty identifier is a valid identifier. */
	secret(f, "test-id", 0, NULL, &rp, buf);
	assert_int_equal(rp.ex, AVF_EX_NONE);
	assert_int_equal(rp.data_len, 0);
	secret(f, "", 32, got, &rp, buf);
	oracle(f->id.secret_seed, "avf-instance-secret", "", 0, want);
	assert_memory_equal(got, want, 32);
}

static void test_secret_deterministic_and_distinct(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[PAYLOAD_MSG_MAX], a[32], a2[32], other_id[32], other_seed[32];
	struct payload_reply rp;

	secret(f, "test-id", 32, a, &rp, buf);
	secret(f, "test-id", 32, a2, &rp, buf);
	assert_memory_equal(a, a2, 32);
	secret(f, "test-id2", 32, other_id, &rp, buf);
	assert_memory_not_equal(a, other_id, 32);
	f->id.secret_seed[31] ^= 1;
	secret(f, "test-id", 32, other_seed, &rp, buf);
	assert_memory_not_equal(a, other_seed, 32);
	/* Restricted access does not change the secret. */
	f->id.secret_seed[31] ^= 1;
	f->id.restricted_allowed = true;
	secret(f, "test-id", 32, a2, &rp, buf);
	assert_memory_equal(a, a2, 32);
}

static void test_secret_size_bounds(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[PAYLOAD_MSG_MAX];
	struct payload_reply rp;

	/* AVF's check and words: size must be in 0..=32. */
	secret(f, "test-id", 33, NULL, &rp, buf);
	expect_refusal(&rp, AVF_EX_ILLEGAL_ARGUMENT, "size 33 not in range (0..=32)");
	secret(f, "test-id", -1, NULL, &rp, buf);
	expect_refusal(&rp, AVF_EX_ILLEGAL_ARGUMENT, "size -1 not in range (0..=32)");
	secret(f, "test-id", 32, NULL, &rp, buf);
	assert_int_equal(rp.ex, AVF_EX_NONE);
}

static void test_restricted_refused(void **state)
{
	struct fixture *f = *state;
	struct payload_request chain = {.method = PAYLOAD_GET_DICE_ATTESTATION_CHAIN};
	struct payload_request cdi = {.method = PAYLOAD_GET_DICE_ATTESTATION_CDI};
	uint8_t buf[PAYLOAD_MSG_MAX];
	struct payload_reply rp;

	call(f, &chain, buf, &rp);
	expect_refusal(&rp, AVF_EX_SECURITY, "Use of restricted APIs is not allowed");
	call(f, &cdi, buf, &rp);
	expect_refusal(&rp, AVF_EX_SECURITY, "Use of restricted APIs is not allowed");
}

static void test_restricted_allowed(void **state)
{
	struct fixture *f = *state;
	struct payload_request chain = {.method = PAYLOAD_GET_DICE_ATTESTATION_CHAIN};
	struct payload_request cdi = {.method = PAYLOAD_GET_DICE_ATTESTATION_CDI};
	uint8_t buf[PAYLOAD_MSG_MAX], want[32], got_chain[32];
	struct payload_reply rp;

	f->id.restricted_allowed = true;
	call(f, &chain, buf, &rp);
	assert_int_equal(rp.ex, AVF_EX_NONE);
	assert_int_equal(rp.data_len, 32);
	oracle(f->id.secret_seed, "avf-dice-attestation-chain", "", 0, want);
	assert_memory_equal(rp.data, want, 32);
	memcpy(got_chain, rp.data, 32);

	call(f, &cdi, buf, &rp);
	assert_int_equal(rp.data_len, 32);
	oracle(f->id.secret_seed, "avf-dice-attestation-cdi", "", 0, want);
	assert_memory_equal(rp.data, want, 32);
	assert_memory_not_equal(rp.data, got_chain, 32);
}

static void test_attestation_unsupported(void **state)
{
	struct fixture *f = *state;
	static const uint8_t challenge[64] = {1};
	struct payload_request rq = {
	    .method = PAYLOAD_REQUEST_ATTESTATION, .data = challenge, .data_len = 64};
	uint8_t buf[PAYLOAD_MSG_MAX];
	struct payload_reply rp;
	const char *msg =
	    "requestAttestation is not supported with the remote_attestation feature disabled";

	call(f, &rq, buf, &rp);
	expect_refusal(&rp, AVF_EX_UNSUPPORTED_OPERATION, msg);
	rq.test_mode = true;
	f->id.restricted_allowed = true;
	call(f, &rq, buf, &rp);
	expect_refusal(&rp, AVF_EX_UNSUPPORTED_OPERATION, msg);
}

static void test_malformed_gets_error_reply(void **state)
{
	struct fixture *f = *state;
	static uint8_t pkt[PAYLOAD_MSG_MAX + 100];
	uint8_t buf[PAYLOAD_MSG_MAX];
	struct payload_reply rp;

	memcpy(pkt, "AVP2", 4);
	memset(pkt + 4, 0, 12);
	roundtrip_raw(f, pkt, 16, buf, &rp);
	assert_int_equal(rp.method, 0);
	expect_refusal(&rp, AVF_EX_BAD_PARCELABLE, "payload service request: bad magic 0x32505641");

	/* Larger than any packet: cut by recv, refused as such. */
	memcpy(pkt, "AVP1", 4);
	roundtrip_raw(f, pkt, sizeof(pkt), buf, &rp);
	expect_refusal(&rp, AVF_EX_BAD_PARCELABLE,
		       "payload service request: more than 4116 bytes");

	/* The service still works after both. */
	struct payload_request rq = {.method = PAYLOAD_NOTIFY_READY};
	call(f, &rq, buf, &rp);
	assert_int_equal(rp.ex, AVF_EX_NONE);
}

static void test_fds_refused_and_closed(void **state)
{
	struct fixture *f = *state;
	struct payload_request rq = {.method = PAYLOAD_NOTIFY_READY};
	uint8_t pkt[PAYLOAD_MSG_MAX], buf[PAYLOAD_MSG_MAX];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = {.iov_base = pkt};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			    .msg_controllen = sizeof(ctl.b)};
	struct payload_reply rp;
	ssize_t got;
	int p[2], n;
	char c;

	/* Send the write end of a pipe; when the service drops it, the read end sees EOF. */
	memset(&ctl, 0, sizeof(ctl));
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	n = payload_msg_encode_request(&rq, pkt, sizeof(pkt));
	iov.iov_len = (size_t)n;
	ctl.h.cmsg_level = SOL_SOCKET;
	ctl.h.cmsg_type = SCM_RIGHTS;
	ctl.h.cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(&ctl.h), &p[1], sizeof(int));
	assert_int_equal(sendmsg(f->client, &mh, 0), n);
	close(p[1]);
	assert_int_equal(payload_service_serve_one(f->server, &f->id, &f->ops, f), 1);
	got = recv(f->client, buf, sizeof(buf), 0);
	assert_true(got > 0);
	assert_int_equal(payload_msg_decode_reply(buf, (size_t)got, &rp), 0);
	assert_int_equal(rp.method, 0);
	expect_refusal(&rp, AVF_EX_BAD_PARCELABLE,
		       "payload service request: carries fds, none expected");
	assert_int_equal(read(p[0], &c, 1), 0);
	close(p[0]);
	assert_int_equal(f->ready_calls, 0);
}

static void test_peer_closed_and_transport_error(void **state)
{
	struct fixture *f = *state;
	int p[2];

	close(f->client);
	f->client = -1;
	assert_int_equal(payload_service_serve_one(f->server, &f->id, &f->ops, f), 0);

	/* Not a socket: the transport fails and says so. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(payload_service_serve_one(p[0], &f->id, &f->ops, f), -ENOTSOCK);
	assert_int_equal(avf_err_last()->ex, AVF_EX_TRANSACTION_FAILED);
	assert_non_null(strstr(avf_err_last()->msg, "receiving a request"));
	close(p[0]);
	close(p[1]);
}

static void test_reply_to_a_gone_payload(void **state)
{
	struct fixture *f = *state;
	struct payload_request rq = {.method = PAYLOAD_NOTIFY_READY};
	uint8_t pkt[PAYLOAD_MSG_MAX];
	int n = payload_msg_encode_request(&rq, pkt, sizeof(pkt));

	/* The request is queued, then the payload dies: the reply cannot be sent. */
	assert_int_equal(send(f->client, pkt, (size_t)n, 0), n);
	close(f->client);
	f->client = -1;
	assert_int_equal(payload_service_serve_one(f->server, &f->id, &f->ops, f), -EPIPE);
	assert_non_null(strstr(avf_err_last()->msg, "sending the notifyPayloadReady reply"));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_notify_ready),
	    T(test_secret_matches_the_rule),
	    T(test_secret_deterministic_and_distinct),
	    T(test_secret_size_bounds),
	    T(test_restricted_refused),
	    T(test_restricted_allowed),
	    T(test_attestation_unsupported),
	    T(test_malformed_gets_error_reply),
	    T(test_fds_refused_and_closed),
	    T(test_peer_closed_and_transport_error),
	    T(test_reply_to_a_gone_payload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
