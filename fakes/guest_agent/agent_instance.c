/* SPDX-License-Identifier: Apache-2.0 */
#include "agent_instance.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/avf_err.h"

#define INSTANCE_MAGIC "Android-VM-instance"
#define ENTRY_MAGIC    "avf-ref agent entry v1"

static int read_at(int fd, void *buf, size_t len, off_t off, size_t *ret_n)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, off + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "instance image: read: %s",
					   strerror(errno));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*ret_n = got;
	return 0;
}

int agent_instance_seed(int fd, uint8_t seed[AGENT_INSTANCE_SEED_LEN])
{
	uint8_t hdr[sizeof(INSTANCE_MAGIC) - 1];
	uint8_t entry[sizeof(ENTRY_MAGIC) + AGENT_INSTANCE_SEED_LEN];
	size_t n;
	int r;

	if ((r = read_at(fd, hdr, sizeof(hdr), 0, &n)) < 0)
		return r;
	if (n != sizeof(hdr) || memcmp(hdr, INSTANCE_MAGIC, sizeof(hdr)) != 0)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "instance image has no Android-VM-instance header");
	if ((r = read_at(fd, entry, sizeof(entry), AGENT_INSTANCE_ENTRY_OFF, &n)) < 0)
		return r;
	if (n == sizeof(entry) && memcmp(entry, ENTRY_MAGIC, sizeof(ENTRY_MAGIC)) == 0) {
		memcpy(seed, entry + sizeof(ENTRY_MAGIC), AGENT_INSTANCE_SEED_LEN);
		return 0;
	}
	/* First boot of this instance: a new identity, on disk before it is used. */
	if (getrandom(seed, AGENT_INSTANCE_SEED_LEN, 0) != AGENT_INSTANCE_SEED_LEN)
		return avf_err_set(-EIO, AVF_EX_SERVICE_SPECIFIC, "getrandom failed");
	memcpy(entry, ENTRY_MAGIC, sizeof(ENTRY_MAGIC));
	memcpy(entry + sizeof(ENTRY_MAGIC), seed, AGENT_INSTANCE_SEED_LEN);
	if (pwrite(fd, entry, sizeof(entry), AGENT_INSTANCE_ENTRY_OFF) != (ssize_t)sizeof(entry) ||
	    fdatasync(fd) < 0)
		return avf_err_set(errno ? -errno : -EIO, AVF_EX_SERVICE_SPECIFIC,
				   "instance image: writing the entry: %s",
				   strerror(errno ? errno : EIO));
	return 0;
}
