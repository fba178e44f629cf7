/* SPDX-License-Identifier: Apache-2.0 */
/*
 * child_watch: wait for one child of ours next to other fds, with poll(2).
 *
 * A pidfd would be the natural tool, but valgrind 3.19 (Debian 12, which CI runs
 * the suites under) does not implement pidfd_open, and every process of a payload
 * VM runs under it in `ctest -T memcheck`. So: SIGCHLD is blocked and read from a
 * signalfd, and each wake-up asks waitpid(WNOHANG) whether it was our child.
 * Callers fork between child_watch_open() and child_watch_started(), and the child
 * restores the signal mask (child_watch_child_mask) before it execs.
 */
#ifndef AVF_FAKES_CHILD_WATCH_H
#define AVF_FAKES_CHILD_WATCH_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

struct child_watch {
	int fd;           /* the signalfd: poll it for POLLIN; -1 when closed */
	pid_t pid;        /* the child; 0 until child_watch_started */
	sigset_t old;     /* the mask before SIGCHLD was blocked */
};

/* Block SIGCHLD and open the signalfd (close-on-exec). -errno. */
int child_watch_open(struct child_watch *w);
/* In the forked child, before exec: the signal mask as it was. */
void child_watch_child_mask(const struct child_watch *w);
/* After the fork: the child to watch. */
void child_watch_started(struct child_watch *w, pid_t pid);
/*
 * After @w->fd was readable (or any time): reap the child if it has ended.
 * true and *status (waitpid's) when it has; false if it still runs.
 */
bool child_watch_reap(struct child_watch *w, int *status);
/* Close the signalfd and restore the mask (the child must have been reaped). */
void child_watch_close(struct child_watch *w);

#endif
