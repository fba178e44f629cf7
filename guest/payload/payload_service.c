/* SPDX-License-Identifier: Apache-2.0 */
#include "payload_service.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "base/avf_err.h"
#include "payload_msg.h"
#include "payload_secret.h"

/* What a request produced: a result (ex 0) or an exception with a message. */
struct outcome {
	int32_t ex;
	int32_t service_code;
	uint8_t data[PAYLOAD_DERIVED_MAX];
	uint32_t data_len;
	const char *msg;
};

/* Turn the error just recorded into the outcome. */
static void fail_with_last(struct outcome *o)
{
	const struct avf_error *e = avf_err_last();

	o->ex = e->ex;
	o->service_code = e->ex == AVF_EX_SERVICE_SPECIFIC ? e->service_code : 0;
	o->msg = e->msg;
}

static void derive(const struct payload_service_identity *id, const char *label,
		   const uint8_t *input, size_t input_len, size_t out_len, struct outcome *o)
{
	if (payload_secret_derive(id->secret_seed, label, input, input_len, o->data, out_len) <
	    0) {
		fail_with_last(o);
		return;
	}
	o->data_len = (uint32_t)out_len;
}

static void restricted(const struct payload_service_identity *id, const char *label,
		       struct outcome *o)
{
	if (!id->restricted_allowed) {
		avf_err_set(-EPERM, AVF_EX_SECURITY, "Use of restricted APIs is not allowed");
		fail_with_last(o);
		return;
	}
	derive(id, label, NULL, 0, PAYLOAD_DERIVED_MAX, o);
}

static void dispatch(const struct payload_request *rq, const struct payload_service_identity *id,
		     const struct payload_service_ops *ops, void *ctx, struct outcome *o)
{
	int r;

	switch (rq->method) {
	case PAYLOAD_NOTIFY_READY:
		avf_err_clear();
		r = ops->notify_ready(ctx);
		if (r >= 0)
			return;
		/* A callback that failed without recording why: AVF's default error. */
		if (avf_err_last()->ex == AVF_EX_NONE)
			avf_err_service(r, "notifyPayloadReady failed: %s", strerror(-r));
		fail_with_last(o);
		return;
	case PAYLOAD_GET_VM_INSTANCE_SECRET:
		if (rq->size < 0 || rq->size > (int32_t)PAYLOAD_SECRET_MAX) {
			avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				    "size %d not in range (0..=32)", (int)rq->size);
			fail_with_last(o);
			return;
		}
		derive(id, PAYLOAD_LABEL_INSTANCE_SECRET, rq->data, rq->data_len,
		       (size_t)rq->size, o);
		return;
	case PAYLOAD_GET_DICE_ATTESTATION_CHAIN:
		restricted(id, PAYLOAD_LABEL_DICE_CHAIN, o);
		return;
	case PAYLOAD_GET_DICE_ATTESTATION_CDI:
		restricted(id, PAYLOAD_LABEL_DICE_CDI, o);
		return;
	case PAYLOAD_REQUEST_ATTESTATION:
		/* AVF's answer when its remote_attestation feature is off. */
		avf_err_set(-EOPNOTSUPP, AVF_EX_UNSUPPORTED_OPERATION,
			    "requestAttestation is not supported with the remote_attestation "
			    "feature disabled");
		fail_with_last(o);
		return;
	}
	/* The decoder admits only the methods above. */
	assert(!"unreachable");
}

static int send_reply(int fd, unsigned method, const struct outcome *o)
{
	uint8_t buf[PAYLOAD_MSG_MAX];
	struct payload_reply rp = {
	    .method = (uint16_t)method,
	    .ex = o->ex,
	    .service_code = o->service_code,
	};
	size_t msg_len;
	ssize_t n;
	int len;

	if (o->ex == AVF_EX_NONE) {
		rp.data = o->data;
		rp.data_len = o->data_len;
	} else {
		/* Messages are cut to what a reply can carry. */
		msg_len = strlen(o->msg);
		rp.data = (const uint8_t *)o->msg;
		rp.data_len = (uint32_t)(msg_len < PAYLOAD_MSG_MAX_TEXT ? msg_len
									: PAYLOAD_MSG_MAX_TEXT);
	}
	len = payload_msg_encode_reply(&rp, buf, sizeof(buf));
	if (len < 0)
		return len;
	do
		n = send(fd, buf, (size_t)len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return avf_err_set(-errno, AVF_EX_TRANSACTION_FAILED,
				   "payload service: sending the %s reply: %s",
				   payload_method_name(method), strerror(errno));
	return 1;
}

int payload_service_serve_one(int fd, const struct payload_service_identity *id,
			      const struct payload_service_ops *ops, void *ctx)
{
	/* One byte more than the largest packet, and MSG_TRUNC, show an oversized one. */
	uint8_t buf[PAYLOAD_MSG_MAX + 1];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct outcome o = {.ex = AVF_EX_NONE};
	struct payload_request rq;
	char msg[AVF_ERR_MSG_MAX];
	ssize_t n;

	assert(id && ops && ops->notify_ready);
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return avf_err_set(-errno, AVF_EX_TRANSACTION_FAILED,
				   "payload service: receiving a request: %s", strerror(errno));
	if (n == 0)
		return 0;
	/* No control buffer: the kernel closed any fds sent, and says so with CTRUNC. */
	if (mh.msg_flags & MSG_CTRUNC)
		avf_err_set(-EBADMSG, AVF_EX_BAD_PARCELABLE,
			    "payload service request: carries fds, none expected");
	else if (mh.msg_flags & MSG_TRUNC)
		avf_err_set(-E2BIG, AVF_EX_BAD_PARCELABLE,
			    "payload service request: more than %u bytes", PAYLOAD_MSG_MAX);
	if ((mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) ||
	    payload_msg_decode_request(buf, (size_t)n, &rq) < 0) {
		/* Copy: the reply path may record errors of its own. */
		snprintf(msg, sizeof(msg), "%s", avf_err_last()->msg);
		o = (struct outcome){.ex = AVF_EX_BAD_PARCELABLE, .msg = msg};
		return send_reply(fd, 0, &o);
	}
	dispatch(&rq, id, ops, ctx, &o);
	if (o.ex != AVF_EX_NONE) {
		snprintf(msg, sizeof(msg), "%s", o.msg);
		o.msg = msg;
	}
	return send_reply(fd, rq.method, &o);
}
