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
#include "base/mono_time.h"

/* Reap @pid within @timeout_ms (pidfd when there is one; valgrind has none). */
static int reap(pid_t pid, int timeout_ms, bool kill_after)
{
	long long deadline = mono_ms() + timeout_ms;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), st = 0;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &st, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			break;
		long long left = deadline - mono_ms();
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
	return vs_process_start_args(vs_path, dir, NULL, timeout_ms, ret);
}

int vs_process_start_args(const char *vs_path, const char *dir, const char *const *extra,
			  int timeout_ms, struct vs_process *ret)
{
	const char *argv[32];
	size_t na = 0;
	char ready[16], byte;
	int pp[2], r;
	ssize_t n = -1;

	snprintf(ret->sock, sizeof(ret->sock), "%s/vs.sock", dir);
	snprintf(ret->state, sizeof(ret->state), "%s/state", dir);
	argv[na++] = vs_path;
	argv[na++] = "--socket";
	argv[na++] = ret->sock;
	argv[na++] = "--state-dir";
	argv[na++] = ret->state;
	argv[na++] = "--ready-fd";
	argv[na++] = ready;
	for (size_t i = 0; extra && extra[i]; i++) {
		if (na + 1 >= sizeof(argv) / sizeof(argv[0]))
			return avf_err_set(-E2BIG, AVF_EX_ILLEGAL_ARGUMENT, "too many arguments");
		argv[na++] = extra[i];
	}
	argv[na] = NULL;
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
		sigset_t none;

		/* A caller that blocks signals (for a signalfd) must not pass that on. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (fcntl(pp[1], F_SETFD, 0) == 0)
			execv(vs_path, (char *const *)argv);
		_exit(127);
	}
	close(pp[1]);
	struct pollfd p = {.fd = pp[0], .events = POLLIN};
	long long deadline = mono_ms() + timeout_ms;
	if (poll(&p, 1, timeout_ms) == 1)
		n = read(pp[0], &byte, 1);
	if (n == 1) {
		/* It closes the fd right after the byte: wait for that EOF too, so that a
		 * caller counting its fds sees the settled count. */
		long long left = deadline - mono_ms();
		if (poll(&p, 1, left > 0 ? (int)left : 0) == 1)
			(void)!read(pp[0], &byte, 1);
		close(pp[0]);
		return 0;
	}
	close(pp[0]);
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
