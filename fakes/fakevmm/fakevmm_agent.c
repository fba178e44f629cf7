/* SPDX-License-Identifier: Apache-2.0 */
#include "fakes/fakevmm/fakevmm_agent.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/coverage_flush.h"
#include "base/fs_util.h"

#define ARGV_MAX 32

/* The agent lives next to us, as fakevmm lives next to virtmgr. */
static int agent_path(char *buf, size_t len)
{
	char dir[PATH_MAX];
	int r = fs_self_dir(dir, sizeof(dir));

	if (r < 0)
		return r;
	if ((size_t)snprintf(buf, len, "%s/%s", dir, FAKEVMM_AGENT_NAME) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* The /proc/self/fd/N number in @path, -1 for anything else. */
static int proc_fd_of(const char *path)
{
	const char *pre = "/proc/self/fd/";
	char *end;
	long v;

	if (!path || strncmp(path, pre, strlen(pre)) != 0)
		return -1;
	v = strtol(path + strlen(pre), &end, 10);
	return *end || v < 0 || v > INT_MAX ? -1 : (int)v;
}

/* In the child: every fd but stdio and @keep close-on-exec, @keep inheritable. */
static void child_fds(const int *keep, size_t n)
{
	/* CLOSE_RANGE_CLOEXEC: marks, so a failure leaves the fds as they were */
	if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) < 0)
		for (int fd = 3; fd < 1024; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	for (size_t i = 0; i < n; i++)
		if (keep[i] >= 0)
			fcntl(keep[i], F_SETFD, 0);
}

int fakevmm_agent_spawn(const struct fakevmm_agent *a, struct child_watch *w)
{
	char path[PATH_MAX], chan[16], fail[16], log[16];
	const char *argv[ARGV_MAX];
	int keep[8], nkeep = 0, r;
	size_t n = 0;
	pid_t pid;

	if ((r = agent_path(path, sizeof(path))) < 0) {
		fprintf(stderr, "fakevmm: cannot find %s: %s\n", FAKEVMM_AGENT_NAME, strerror(-r));
		return r;
	}
	snprintf(chan, sizeof(chan), "%d", a->channel_fd);
	snprintf(fail, sizeof(fail), "%d", a->failure_fd);
	snprintf(log, sizeof(log), "%d", a->log_fd);
	argv[n++] = FAKEVMM_AGENT_NAME;
	const char *pairs[][2] = {
	    {"--cid", a->cid},
	    {"--channel-fd", chan},
	    {"--failure-fd", a->failure_fd >= 0 ? fail : NULL},
	    {"--log-fd", a->log_fd >= 0 ? log : NULL},
	    {"--payload", a->payload},
	    {"--payload-name", a->payload_name},
	    {"--payload-config", a->payload_config},
	    {"--instance", a->instance},
	    {"--storage", a->storage},
	    {"--vm-dir", a->vm_dir},
	};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		if (pairs[i][1]) { /* absent: the flag is left out */
			argv[n++] = pairs[i][0];
			argv[n++] = pairs[i][1];
		}
	}
	argv[n] = NULL;
	keep[nkeep++] = a->channel_fd;
	keep[nkeep++] = a->failure_fd;
	keep[nkeep++] = a->log_fd;
	keep[nkeep++] = proc_fd_of(a->payload);
	keep[nkeep++] = proc_fd_of(a->payload_config);
	keep[nkeep++] = proc_fd_of(a->instance);
	keep[nkeep++] = proc_fd_of(a->storage);

	if ((r = child_watch_open(w)) < 0) {
		fprintf(stderr, "fakevmm: signalfd for the guest agent: %s\n", strerror(-r));
		return r;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		fprintf(stderr, "fakevmm: fork for the guest agent: %s\n", strerror(errno));
		child_watch_close(w);
		return r;
	}
	if (pid == 0) {
		/* The guest dies with its VMM (kept across execve). */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
			_exit(127);
		child_watch_child_mask(w);
		child_fds(keep, (size_t)nkeep);
		/* exec drops gcov's counters: write the child's (coverage builds only) */
		coverage_flush();
		execv(path, (char *const *)argv);
		fprintf(stderr, "fakevmm: exec %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	child_watch_started(w, pid);
	return 0;
}
