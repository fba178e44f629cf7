/* SPDX-License-Identifier: Apache-2.0 */
#include "vmp_service.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "vmp_die.h"

static pthread_mutex_t service_lock = PTHREAD_MUTEX_INITIALIZER;
static int service_fd = -1; /* under service_lock */

/* The inherited socket, checked once. Called with service_lock held. */
static int service_fd_get(void)
{
	const char *s = getenv("AVF_PAYLOAD_SERVICE_FD");
	int type = 0, flags;
	socklen_t len = sizeof(type);
	char *end = NULL;
	long v;

	if (service_fd >= 0)
		return service_fd;
	if (!s)
		vmp_die("Failed to connect to the payload service: AVF_PAYLOAD_SERVICE_FD is "
			"not set (not running in a VM?)");
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT_MAX)
		vmp_die("Failed to connect to the payload service: AVF_PAYLOAD_SERVICE_FD='%s' "
			"is not an fd number",
			s);
	if (getsockopt((int)v, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET)
		vmp_die("Failed to connect to the payload service: fd %ld is not a "
			"SOCK_SEQPACKET socket",
			v);
	/* The payload's own children must not inherit the service. */
	flags = fcntl((int)v, F_GETFD);
	if (flags < 0 || fcntl((int)v, F_SETFD, flags | FD_CLOEXEC) < 0)
		vmp_die("Failed to connect to the payload service: fcntl(%ld): %s", v,
			strerror(errno));
	service_fd = (int)v;
	return service_fd;
}

/* One request out, one reply in. Called with service_lock held. */
static size_t exchange(const char *what, const uint8_t *req, size_t req_len, uint8_t *buf,
		       size_t cap)
{
	int fd = service_fd_get();
	struct iovec iov = {.iov_base = buf, .iov_len = cap};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	do
		n = send(fd, req, req_len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		vmp_die("%s: the payload service is gone: %s", what, strerror(errno));
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		vmp_die("%s: the payload service is gone: %s", what, strerror(errno));
	if (n == 0)
		vmp_die("%s: the payload service closed the connection", what);
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		vmp_die("%s: malformed reply: larger than %u bytes or carrying fds", what,
			PAYLOAD_MSG_MAX);
	return (size_t)n;
}

void vmp_call(const char *what, const struct payload_request *rq, struct vmp_reply *ret)
{
	/* One byte more than the largest packet, so MSG_TRUNC shows an oversized reply. */
	uint8_t buf[PAYLOAD_MSG_MAX + 1];
	struct payload_reply rp;
	size_t n;
	int len;

	len = payload_msg_encode_request(rq, buf, sizeof(buf));
	if (len < 0)
		vmp_die("%s: %s", what, avf_err_last()->msg);
	pthread_mutex_lock(&service_lock);
	n = exchange(what, buf, (size_t)len, buf, sizeof(buf));
	pthread_mutex_unlock(&service_lock);
	if (payload_msg_decode_reply(buf, n, &rp) < 0)
		vmp_die("%s: %s", what, avf_err_last()->msg);
	/* Method 0 answers a request the service could not read: always an exception. */
	if (rp.method != 0 && rp.method != rq->method)
		vmp_die("%s: the payload service answered %s instead", what,
			payload_method_name(rp.method));
	ret->ex = rp.ex;
	ret->service_code = rp.service_code;
	ret->len = rp.ex == AVF_EX_NONE ? rp.data_len : 0;
	ret->msg[0] = '\0';
	if (rp.ex == AVF_EX_NONE) {
		if (rp.data_len)
			memcpy(ret->data, rp.data, rp.data_len);
	} else {
		/* The decoder bounded the message to PAYLOAD_MSG_MAX_TEXT bytes. */
		if (rp.data_len)
			memcpy(ret->msg, rp.data, rp.data_len);
		ret->msg[rp.data_len] = '\0';
	}
}
