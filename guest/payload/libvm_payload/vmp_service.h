/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmp_service: libvm_payload's client of the payload service (payload_msg.h).
 *
 * The connection is the inherited socket named by AVF_PAYLOAD_SERVICE_FD (AVF: the
 * init socket /dev/socket/vm_payload_service). It is checked and marked close-on-exec
 * at the first call. Calls are serialised by a mutex (one request, one reply on the
 * one socket), so any thread may call.
 *
 * Transport failures are fatal (vmp_die): no variable, a bad fd, the service gone,
 * or a reply that is malformed or answers another request. A refusal by the service
 * is not: it comes back in the reply for the caller to judge.
 */
#ifndef AVF_GUEST_PAYLOAD_VMP_SERVICE_H
#define AVF_GUEST_PAYLOAD_VMP_SERVICE_H

#include <stdint.h>

#include "base/avf_err.h"
#include "payload_msg.h"

struct vmp_reply {
	int32_t ex;           /* enum avf_ex; AVF_EX_NONE on success */
	int32_t service_code; /* with AVF_EX_SERVICE_SPECIFIC */
	uint32_t len;         /* of data, the result (ex == 0) */
	uint8_t data[PAYLOAD_MSG_MAX_DATA];
	char msg[PAYLOAD_MSG_MAX_TEXT + 1]; /* the refusal's message, NUL-terminated */
};

/* Send @rq and wait for its reply. @what names the call in fatal messages. */
void vmp_call(const char *what, const struct payload_request *rq, struct vmp_reply *ret);

/* "EX_SECURITY: Use of restricted APIs is not allowed": for a refusal's die message. */
#define VMP_REFUSAL_FMT "%s: %s"
#define VMP_REFUSAL_ARGS(r) avf_ex_name((r)->ex), (r)->msg

#endif
