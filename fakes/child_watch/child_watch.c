/* SPDX-License-Identifier: Apache-2.0 */
#include "child_watch.h"

#include <errno.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

int child_watch_open(struct child_watch *w)
{
	sigset_t chld;

	w->fd = -1;
	w->pid = 0;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, &w->old) < 0)
		return -errno;
	w->fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (w->fd < 0) {
		int e = errno;

		sigprocmask(SIG_SETMASK, &w->old, NULL);
		return -e;
	}
	return 0;
}

void child_watch_child_mask(const struct child_watch *w)
{
	sigprocmask(SIG_SETMASK, &w->old, NULL);
}

void child_watch_started(struct child_watch *w, pid_t pid)
{
	w->pid = pid;
}

bool child_watch_reap(struct child_watch *w, int *status)
{
	struct signalfd_siginfo si;
	pid_t r;

	/* Drain: one readable signalfd may stand for several SIGCHLDs. */
	while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	do
		r = waitpid(w->pid, status, WNOHANG);
	while (r < 0 && errno == EINTR);
	return r == w->pid;
}

void child_watch_close(struct child_watch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	sigprocmask(SIG_SETMASK, &w->old, NULL);
}
