/* SPDX-License-Identifier: Apache-2.0 */
/* fakevmm_disk: a disk opened and checked as crosvm would (fakevmm_disk.h). */
#include "fakes/fakevmm/fakevmm_disk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "disk/cdisk_gpt_read.h"
#include "disk/cdisk_image.h"
#include "disk/cdisk_spec.h"

#define PROC_FD "/proc/self/fd/"
/* How much of a disk crosvm looks at to tell its format (crosvm-spec §4.9). */
#define PROBE_LEN 4096

/* The fd number of a /proc/self/fd/N path, -1 for another path (or a bad number). */
static int proc_fd_number(const char *path)
{
	size_t plen = strlen(PROC_FD);
	long v = 0;

	if (strncmp(path, PROC_FD, plen) != 0 || !path[plen])
		return -1;
	for (const char *p = path + plen; *p; p++) {
		if (*p < '0' || *p > '9' || v > 1000000)
			return -1;
		v = v * 10 + (*p - '0');
	}
	return (int)v;
}

/* The disk's first bytes: through the inherited fd (pread: its offset stays), or a fresh open. */
static int probe(const char *path, bool writable, char *buf, size_t *len)
{
	int fd = proc_fd_number(path), own = -1;
	ssize_t n;

	if (fd < 0) {
		/* as crosvm opens a disk given by path: read-only unless --rwdisk */
		own = fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			return avf_err_set(-errno, AVF_EX_ILLEGAL_ARGUMENT, "failed to open disk: %s",
					   strerror(errno));
	}
	do
		n = pread(fd, buf, PROBE_LEN, 0);
	while (n < 0 && errno == EINTR);
	if (own >= 0)
		close(own);
	if (n < 0)
		return avf_err_set(-errno, AVF_EX_ILLEGAL_ARGUMENT, "failed to read disk: %s",
				   strerror(errno));
	*len = (size_t)n;
	return 0;
}

/* Step 2: a component's /proc/self/fd/M must be one virtmgr passed on (fakevmm_disk.h). */
static int check_inherited(const struct cdisk_spec *spec)
{
	for (size_t i = 0; i < spec->n_components; i++) {
		const char *p = spec->components[i].path;
		int fd = proc_fd_number(p), fl;

		if (fd < 0)
			continue;
		fl = fcntl(fd, F_GETFD);
		if (fl < 0)
			return avf_err_set(-EBADF, AVF_EX_ILLEGAL_ARGUMENT,
					   "component '%s': Bad file descriptor (fd %d is not open: "
					   "not inherited from the VM manager)",
					   p, fd);
		if (fl & FD_CLOEXEC)
			return avf_err_set(-EBADF, AVF_EX_ILLEGAL_ARGUMENT,
					   "component '%s': Bad file descriptor (fd %d has "
					   "FD_CLOEXEC set: not one inherited from the VM manager)",
					   p, fd);
	}
	return 0;
}

/* Steps 1-4 for a composite at @path (fakevmm_disk.h). */
static int check_composite(const char *path)
{
	struct cdisk_spec *spec = NULL;
	struct cdisk_image *img = NULL;
	struct cdisk_gpt *gpt = NULL;
	int r;

	r = cdisk_spec_load(AT_FDCWD, path, &spec);
	if (r == 0)
		r = check_inherited(spec);
	if (r == 0)
		r = cdisk_image_open(path, &img);
	if (r == 0 && (r = cdisk_gpt_read(img, &gpt)) < 0)
		avf_err_prefix("the guest's partition table");
	cdisk_gpt_free(gpt);
	cdisk_image_free(img);
	cdisk_spec_free(spec);
	return r;
}

int fakevmm_disk_check(size_t index, const char *flag, const char *path, size_t len)
{
	char *p = strndup(path, len), buf[PROBE_LEN];
	size_t n = 0;
	int r;

	if (!p)
		return avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
	r = probe(p, strcmp(flag, "--rwdisk") == 0, buf, &n);
	if (r == 0 && cdisk_spec_has_magic(buf, n))
		r = check_composite(p);
	if (r < 0)
		avf_err_prefix("disk %zu (%s %s)", index, flag, p);
	free(p);
	return r;
}
