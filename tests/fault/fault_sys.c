/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fault_sys: the syscall wrappers — sockets, process creation, exec, pidfd_open,
 * and the calls that persist virtualizationservice's last CID (cid_alloc.c's
 * persist(): open, write, fsync, rename of <state>/last_cid and its .tmp).
 *
 * Each one asks fault_hit() first and, if this is the Nth call, returns the
 * kernel's failure convention with the chosen errno without making the call.
 */
#include "fault_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* cid_alloc's state file and its temporary (core/service/vs_registry.c names it). */
#define STATE_FILE     "last_cid"
#define STATE_FILE_TMP "last_cid.tmp"

/* Look the real function up on first use. */
#define RESOLVE(name)                                                                              \
	do {                                                                                       \
		if (!real_##name)                                                                  \
			real_##name = fault_real(#name);                                           \
	} while (0)

static int (*real_socket)(int, int, int);
static int (*real_socketpair)(int, int, int, int[2]);
static pid_t (*real_fork)(void);
static int (*real_posix_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			       const posix_spawnattr_t *, char *const[], char *const[]);
static int (*real_posix_spawnp)(pid_t *, const char *, const posix_spawn_file_actions_t *,
				const posix_spawnattr_t *, char *const[], char *const[]);
static int (*real_execv)(const char *, char *const[]);
static int (*real_execve)(const char *, char *const[], char *const[]);
static int (*real_execvp)(const char *, char *const[]);
static int (*real_execvpe)(const char *, char *const[], char *const[]);
static long (*real_syscall)(long, ...);
static int (*real_pidfd_open)(pid_t, unsigned int);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_fsync)(int);
static int (*real_rename)(const char *, const char *);

/* Set errno to the injected failure and say so. */
static bool fail_with(enum fault_kind kind, int dflt)
{
	int err = fault_hit(kind, dflt);

	if (err)
		errno = err;
	return err != 0;
}

/* ---- sockets ---- */

int socket(int domain, int type, int protocol)
{
	if (fail_with(FAULT_SOCKET, EMFILE))
		return -1;
	RESOLVE(socket);
	return real_socket(domain, type, protocol);
}

int socketpair(int domain, int type, int protocol, int sv[2])
{
	if (fail_with(FAULT_SOCKET, EMFILE))
		return -1;
	RESOLVE(socketpair);
	return real_socketpair(domain, type, protocol, sv);
}

/* ---- processes ---- */

pid_t fork(void)
{
	if (fail_with(FAULT_SPAWN, EAGAIN))
		return -1;
	RESOLVE(fork);
	return real_fork();
}

int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int err = fault_hit(FAULT_SPAWN, EAGAIN);

	if (err)
		return err;
	RESOLVE(posix_spawn);
	return real_posix_spawn(pid, path, fa, attr, argv, envp);
}

int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int err = fault_hit(FAULT_SPAWN, EAGAIN);

	if (err)
		return err;
	RESOLVE(posix_spawnp);
	return real_posix_spawnp(pid, file, fa, attr, argv, envp);
}

int execv(const char *path, char *const argv[])
{
	if (fail_with(FAULT_EXEC, EACCES))
		return -1;
	RESOLVE(execv);
	return real_execv(path, argv);
}

int execve(const char *path, char *const argv[], char *const envp[])
{
	if (fail_with(FAULT_EXEC, EACCES))
		return -1;
	RESOLVE(execve);
	return real_execve(path, argv, envp);
}

int execvp(const char *file, char *const argv[])
{
	if (fail_with(FAULT_EXEC, EACCES))
		return -1;
	RESOLVE(execvp);
	return real_execvp(file, argv);
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
	if (fail_with(FAULT_EXEC, EACCES))
		return -1;
	RESOLVE(execvpe);
	return real_execvpe(file, argv, envp);
}

/* ---- pidfd_open: the project calls it through syscall(2) ---- */

long syscall(long nr, ...)
{
	va_list ap;
	long a[6];

	/* syscall(2) takes up to six register-sized arguments; pass them all on. */
	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_pidfd_open && fail_with(FAULT_PIDFD, EMFILE))
		return -1;
	RESOLVE(syscall);
	return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int pidfd_open(pid_t pid, unsigned int flags);
int pidfd_open(pid_t pid, unsigned int flags)
{
	if (fail_with(FAULT_PIDFD, EMFILE))
		return -1;
	RESOLVE(pidfd_open);
	return real_pidfd_open(pid, flags);
}

/* ---- the last-CID state file ---- */

static bool is_state_name(const char *path)
{
	const char *base = path ? strrchr(path, '/') : NULL;

	base = base ? base + 1 : path;
	return base && (strcmp(base, STATE_FILE) == 0 || strcmp(base, STATE_FILE_TMP) == 0);
}

static bool is_state_fd(int fd)
{
	char link[64], target[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	return is_state_name(target);
}

static int open_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	int mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if (fault_counting(FAULT_STATEFILE) && is_state_name(path) &&
	    fail_with(FAULT_STATEFILE, EACCES))
		return -1;
	RESOLVE(open);
	return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	int mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if (fault_counting(FAULT_STATEFILE) && is_state_name(path) &&
	    fail_with(FAULT_STATEFILE, EACCES))
		return -1;
	RESOLVE(open64);
	return real_open64(path, flags, mode);
}

ssize_t write(int fd, const void *buf, size_t len)
{
	if (fault_counting(FAULT_STATEFILE) && is_state_fd(fd) && fail_with(FAULT_STATEFILE, ENOSPC))
		return -1;
	RESOLVE(write);
	return real_write(fd, buf, len);
}

int fsync(int fd)
{
	if (fault_counting(FAULT_STATEFILE) && is_state_fd(fd) && fail_with(FAULT_STATEFILE, EIO))
		return -1;
	RESOLVE(fsync);
	return real_fsync(fd);
}

int rename(const char *from, const char *to)
{
	if (fault_counting(FAULT_STATEFILE) && (is_state_name(from) || is_state_name(to)) &&
	    fail_with(FAULT_STATEFILE, EIO))
		return -1;
	RESOLVE(rename);
	return real_rename(from, to);
}
