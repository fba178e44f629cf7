/* SPDX-License-Identifier: Apache-2.0 */
#include "fuzz_packet.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* One /dev/null for the whole run (kept open on purpose); every fd sent is a duplicate. */
int fuzz_devnull(void)
{
	static int fd = -1;

	if (fd < 0)
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	FUZZ_CHECK(fd >= 0);
	return fd;
}

bool fuzz_packet_open(struct fuzz_packet *p, const uint8_t *data, size_t size)
{
	if (size == 0)
		return false;
	/* Up to one over the limit as is; other values few, so most inputs stay cheap. */
	p->nfds = data[0] <= IPC_MSG_MAX_FDS + 1 ? data[0] : data[0] % 4;
	p->bytes = data + 1;
	p->len = size - 1;
	for (size_t i = 0; i < p->nfds; i++) {
		/* Above stdio, as the ipc layer's own duplicates are. */
		p->fds[i] = fcntl(fuzz_devnull(), F_DUPFD_CLOEXEC, 3);
		FUZZ_CHECK(p->fds[i] >= 0);
	}
	return true;
}

bool fuzz_packet_has_fd(const struct fuzz_packet *p, int fd)
{
	for (size_t i = 0; i < p->nfds; i++)
		if (p->fds[i] == fd)
			return true;
	return false;
}

void fuzz_packet_check_open(const struct fuzz_packet *p)
{
	for (size_t i = 0; i < p->nfds; i++)
		FUZZ_CHECK(fcntl(p->fds[i], F_GETFD) >= 0);
}

/* Nothing opens an fd between the owners' close and this check, so a number still
 * open is one somebody forgot. */
void fuzz_packet_check_closed(const struct fuzz_packet *p)
{
	for (size_t i = 0; i < p->nfds; i++)
		FUZZ_CHECK(fcntl(p->fds[i], F_GETFD) < 0 && errno == EBADF);
}

void fuzz_packet_close(struct fuzz_packet *p)
{
	for (size_t i = 0; i < p->nfds; i++)
		close(p->fds[i]);
	p->nfds = 0;
}
