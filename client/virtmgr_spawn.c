/* SPDX-License-Identifier: Apache-2.0 */
#include "virtmgr_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "base/mono_time.h"

static void describe_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "wait status 0x%x", st);
}

/* In the child between fork and exec: async-signal-safe calls only. */
static void child_exec(const char *path, char *const argv[], int server_fd, int ready_fd,
		       bool own_pgrp)
{
	sigset_t none;

	/* The parent's blocked signals must not leak into virtmgr (SIGTERM must work). */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Out of the terminal's foreground group: a Ctrl-C then reaches only the client. */
	if (own_pgrp && setpgid(0, 0) < 0)
		_exit(127);
	/* Exactly these two fds cross exec, at the numbers named in argv. */
	if (fcntl(server_fd, F_SETFD, 0) < 0 || fcntl(ready_fd, F_SETFD, 0) < 0)
		_exit(127);
	execv(path, argv);
	_exit(127);
}

int virtmgr_reap(struct virtmgr_proc *p, int timeout_ms)
{
	int st = 0;
	pid_t r;
	int64_t deadline = mono_ms() + timeout_ms;

	if (p->pid <= 0)
		return 0;
	for (;;) {
		r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid || (r < 0 && errno != EINTR))
			break;
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			kill(p->pid, SIGKILL);
			while ((r = waitpid(p->pid, &st, 0)) < 0 && errno == EINTR)
				;
			break;
		}
		if (p->pidfd >= 0) {
			struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
			poll(&pfd, 1, (int)left);
		} else {
			/* No pidfd (valgrind): poll the child every 10 ms, as core/loop does. */
			struct timespec ts = {0, 10 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
	p->pid = 0;
	return r < 0 ? -errno : st;
}

int virtmgr_spawn(const char *path, int ready_timeout_ms, bool own_pgrp, int *ret_sock,
		  struct virtmgr_proc *ret_proc)
{
	int sv[2], pp[2], r;
	char server_arg[16], ready_arg[16], why[96];
	struct virtmgr_proc p = {.pid = 0, .pidfd = -1};

	if (access(path, X_OK) < 0) {
		int e = errno;
		return avf_err_set(-e, AVF_EX_SERVICE_SPECIFIC, "cannot execute virtmgr %s: %s",
				   path, strerror(e));
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "socketpair: %s",
				   strerror(errno));
	if (pipe2(pp, O_CLOEXEC) < 0) {
		r = avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "pipe2: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	snprintf(server_arg, sizeof(server_arg), "%d", sv[1]);
	snprintf(ready_arg, sizeof(ready_arg), "%d", pp[1]);
	char *argv[] = {(char *)path, "--rpc-server-fd", server_arg, "--ready-fd", ready_arg, NULL};

	p.pid = fork();
	if (p.pid < 0) {
		r = avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		close(pp[0]);
		close(pp[1]);
		return r;
	}
	if (p.pid == 0)
		child_exec(path, argv, sv[1], pp[1], own_pgrp);
	close(sv[1]);
	close(pp[1]);
	p.pidfd = (int)syscall(SYS_pidfd_open, p.pid, 0);
	if (p.pidfd >= 0)
		fcntl(p.pidfd, F_SETFD, FD_CLOEXEC); /* pidfd_open sets it; be explicit */

	/* Wait for the one ready byte (or EOF: it died first). */
	int64_t deadline = mono_ms() + ready_timeout_ms;
	char byte;
	ssize_t n = -1;
	for (;;) {
		int64_t left = deadline - mono_ms();
		struct pollfd pfd = {.fd = pp[0], .events = POLLIN};
		if (left <= 0) {
			errno = ETIMEDOUT;
			break;
		}
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue; /* the deadline check above ends it */
		n = read(pp[0], &byte, 1);
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	close(pp[0]);
	if (n == 1) {
		*ret_sock = sv[0];
		*ret_proc = p;
		return 0;
	}
	close(sv[0]);
	if (n < 0 && errno == ETIMEDOUT) {
		virtmgr_reap(&p, 0);
		return avf_err_set(-ETIMEDOUT, AVF_EX_TRANSACTION_FAILED,
				   "virtmgr %s sent no ready byte within %d ms", path,
				   ready_timeout_ms);
	}
	r = virtmgr_reap(&p, 10000);
	if (r < 0)
		snprintf(why, sizeof(why), "cannot reap it: %s", strerror(-r));
	else
		describe_status(r, why, sizeof(why));
	return avf_err_set(-ECONNREFUSED, AVF_EX_TRANSACTION_FAILED,
			   "virtmgr %s exited before it was ready (%s)", path, why);
}
