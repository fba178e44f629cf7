/* SPDX-License-Identifier: Apache-2.0 */
#include "vs_process.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/avf_err.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reap @pid within @timeout_ms (pidfd when there is one; valgrind has none). */
static int reap(pid_t pid, int timeout_ms, bool kill_after)
{
	long long deadline = now_ms() + timeout_ms;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), st = 0;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &st, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			break;
		long long left = deadline - now_ms();
		if (left <= 0) {
			if (kill_after)
				kill(pid, SIGKILL);
			while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
				;
			break;
		}
		if (pidfd >= 0) {
			struct pollfd p = {.fd = pidfd, .events = POLLIN};
			poll(&p, 1, (int)left);
		} else {
			struct timespec ts = {0, 5 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	return r < 0 ? -errno : st;
}

int vs_process_start(const char *vs_path, const char *dir, int timeout_ms, struct vs_process *ret)
{
	char ready[16], byte;
	int pp[2], r;
	ssize_t n = -1;

	snprintf(ret->sock, sizeof(ret->sock), "%s/vs.sock", dir);
	snprintf(ret->state, sizeof(ret->state), "%s/state", dir);
	if (pipe2(pp, O_CLOEXEC) < 0)
		return avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "pipe2: %s", strerror(errno));
	snprintf(ready, sizeof(ready), "%d", pp[1]);
	ret->pid = fork();
	if (ret->pid < 0) {
		r = avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "fork: %s", strerror(errno));
		close(pp[0]);
		close(pp[1]);
		return r;
	}
	if (ret->pid == 0) {
		if (fcntl(pp[1], F_SETFD, 0) == 0)
			execl(vs_path, vs_path, "--socket", ret->sock, "--state-dir", ret->state,
			      "--ready-fd", ready, (char *)NULL);
		_exit(127);
	}
	close(pp[1]);
	struct pollfd p = {.fd = pp[0], .events = POLLIN};
	if (poll(&p, 1, timeout_ms) == 1)
		n = read(pp[0], &byte, 1);
	close(pp[0]);
	if (n == 1)
		return 0;
	if (n == 0) { /* EOF: it exited (or closed the fd) without becoming ready */
		int st = reap(ret->pid, timeout_ms, true);
		ret->pid = 0;
		return avf_err_set(-ECHILD, AVF_EX_SERVICE_SPECIFIC,
				   "%s exited before it was ready (wait status 0x%x)", vs_path, st);
	}
	reap(ret->pid, 0, true);
	ret->pid = 0;
	return avf_err_set(-ETIMEDOUT, AVF_EX_SERVICE_SPECIFIC, "%s not ready within %d ms",
			   vs_path, timeout_ms);
}

int vs_process_stop(struct vs_process *p, int timeout_ms)
{
	int st;

	if (p->pid <= 0)
		return 0;
	kill(p->pid, SIGTERM);
	st = reap(p->pid, timeout_ms, true);
	p->pid = 0;
	return st;
}
