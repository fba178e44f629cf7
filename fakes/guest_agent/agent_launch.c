/* SPDX-License-Identifier: Apache-2.0 */
#include "agent_launch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "base/coverage_flush.h"
#include "base/fs_util.h"

static int launcher_path(char *buf, size_t len)
{
	char dir[PATH_MAX];
	int r = fs_self_dir(dir, sizeof(dir));

	if (r < 0)
		return avf_err_set(r, AVF_EX_SERVICE_SPECIFIC, "cannot find our own directory: %s",
				   strerror(-r));
	if ((size_t)snprintf(buf, len, "%s/%s", dir, AGENT_LAUNCHER_NAME) >= len)
		return avf_err_set(-ENAMETOOLONG, AVF_EX_SERVICE_SPECIFIC, "launcher path too long");
	return 0;
}

/* In the child (the agent is single-threaded, so setenv is safe here). Reports
 * errno on @err_fd and dies if anything fails before the exec. */
static void __attribute__((noreturn)) child(const struct agent_launch *l, const char *path,
					    int err_fd, const struct child_watch *w)
{
	char fdnum[16];
	int null_fd, e, lib_fd = -1;
	const char *argv[] = {AGENT_LAUNCHER_NAME, l->library, NULL};

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		goto fail;
	child_watch_child_mask(w);
	null_fd = open("/dev/null", O_RDWR);
	if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 ||
	    dup2(l->log_fd >= 0 ? l->log_fd : null_fd, STDOUT_FILENO) < 0 ||
	    dup2(l->log_fd >= 0 ? l->log_fd : null_fd, STDERR_FILENO) < 0)
		goto fail;
	/* Everything else close-on-exec, then the two fds the payload gets. */
	if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) < 0)
		goto fail;
	if (sscanf(l->library, "/proc/self/fd/%d", &lib_fd) == 1 && fcntl(lib_fd, F_SETFD, 0) < 0)
		goto fail;
	if (fcntl(l->service_fd, F_SETFD, 0) < 0)
		goto fail;
	snprintf(fdnum, sizeof(fdnum), "%d", l->service_fd);
	if (setenv("AVF_PAYLOAD_SERVICE_FD", fdnum, 1) < 0 ||
	    (l->vsock_dir && setenv("AVF_VSOCK_DIR", l->vsock_dir, 1) < 0) ||
	    (l->encrypted_store && setenv("AVF_ENCRYPTEDSTORE_PATH", l->encrypted_store, 1) < 0))
		goto fail;
	if (!l->encrypted_store)
		unsetenv("AVF_ENCRYPTEDSTORE_PATH");
	/* exec drops gcov's counters: write the child's (coverage builds only) */
	coverage_flush();
	execv(path, (char *const *)argv);
fail:
	e = errno;
	while (write(err_fd, &e, sizeof(e)) < 0 && errno == EINTR)
		;
	_exit(127);
}

int agent_launch(const struct agent_launch *l, struct child_watch *w)
{
	char path[PATH_MAX];
	int pipefd[2], e = 0, r;
	ssize_t n;
	pid_t pid;

	if ((r = launcher_path(path, sizeof(path))) < 0)
		return r;
	/* exec errors come back on a close-on-exec pipe: EOF means exec worked. */
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "pipe2: %s", strerror(errno));
	if ((r = child_watch_open(w)) < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return avf_err_set(r, AVF_EX_SERVICE_SPECIFIC, "signalfd: %s", strerror(-r));
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		r = avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "fork: %s", strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		child_watch_close(w);
		return r;
	}
	if (pid == 0) {
		close(pipefd[0]);
		child(l, path, pipefd[1], w);
	}
	close(pipefd[1]);
	do
		n = read(pipefd[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if (n > 0) {
		waitpid(pid, NULL, 0);
		child_watch_close(w);
		return avf_err_set(-e, AVF_EX_SERVICE_SPECIFIC, "cannot run %s: %s", path,
				   strerror(e));
	}
	child_watch_started(w, pid);
	return 0;
}
