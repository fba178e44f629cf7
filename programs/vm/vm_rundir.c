/* SPDX-License-Identifier: Apache-2.0 */
/* Detached VMs' control sockets: where they live, and how a request or reply line is
 * read (vm_detach.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/fs_util.h"
#include "base/mono_time.h"
#include "vm_cli.h"
#include "vm_detach.h"

int vm_rundir(char *buf, size_t len, bool create)
{
	const char *env = getenv("AVF_VM_RUNDIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int n;

	if (env && *env)
		n = snprintf(buf, len, "%s", env);
	else if (xdg && *xdg)
		n = snprintf(buf, len, "%s/avf-vm", xdg);
	else
		n = snprintf(buf, len, "/tmp/avf-vm-%u", (unsigned)getuid());
	if (n < 0 || (size_t)n >= len)
		return vm_error("run directory path too long: '%s'", buf);
	if (create && (n = fs_mkdir_p(buf, 0700)) < 0)
		return vm_error("cannot create the run directory '%s': %s", buf, strerror(-n));
	if (lstat(buf, &st) < 0) {
		if (errno == ENOENT && !create)
			return VM_EXIT_OK; /* nothing detached yet */
		return vm_error("run directory '%s': %s", buf, strerror(errno));
	}
	/* Anyone who could write here could stand in for a VM's holder. */
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 022))
		return vm_error("run directory '%s' must be a directory owned by uid %u and "
				"writable only by it",
				buf, (unsigned)getuid());
	return VM_EXIT_OK;
}

int vm_sock_path(uint32_t cid, char *buf, size_t len, bool create)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int r, n;

	if ((r = vm_rundir(dir, sizeof(dir), create)) != 0)
		return r;
	n = snprintf(buf, len, "%s/%u.sock", dir, cid);
	if (n < 0 || (size_t)n >= len || (size_t)n >= sizeof(dir))
		return vm_error("socket path '%s/%u.sock' is too long for a unix socket", dir, cid);
	return VM_EXIT_OK;
}

bool vm_read_line(int fd, char *buf, size_t len, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;
	size_t n = 0;

	/* A byte at a time: the peer's data after the line belongs to whoever reads next. */
	while (n + 1 < len) {
		struct pollfd p = {fd, POLLIN, 0};
		int64_t left = deadline - mono_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0 || recv(fd, buf + n, 1, 0) != 1)
			return false;
		if (buf[n] == '\n') {
			buf[n] = 0;
			return true;
		}
		n++;
	}
	return false;
}
