/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fault: "make the Nth call of one kind fail" across every process of the stack
 * (docs/fault-injection.md). libavf_fault.so is an LD_PRELOAD interposer: it
 * wraps the allocator and a few syscalls and, while a sweep has armed it, counts
 * their calls in the processes it targets and fails exactly the Nth one.
 *
 * The sweep and every process share one control page, a file mapped MAP_SHARED
 * whose path is in $AVF_FAULT_CTL: the sweep arms and disarms by writing to it,
 * every process (forked or exec'd, each loading the shim again) counts into it
 * and records the one injected failure there. Nothing in the product changes.
 *
 * Calls are counted only after main() started (the shim wraps
 * __libc_start_main), so the dynamic loader's and libc's start-up allocations
 * never count, and only in processes whose program name is the target.
 */
#ifndef AVF_TESTS_FAULT_FAULT_H
#define AVF_TESTS_FAULT_FAULT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum fault_kind {
	FAULT_ALLOC,     /* malloc, calloc, realloc, reallocarray, aligned allocations: NULL, ENOMEM */
	FAULT_SOCKET,    /* socket, socketpair: EMFILE */
	FAULT_SPAWN,     /* fork, posix_spawn, posix_spawnp: EAGAIN */
	FAULT_EXEC,      /* execv, execve, execvp, execvpe: EACCES */
	FAULT_STATEFILE, /* open, write, fsync, rename of virtualizationservice's last_cid
			  * (or its .tmp): EACCES, ENOSPC, EIO, EIO */
	FAULT_PIDFD,     /* pidfd_open, as syscall(SYS_pidfd_open) or the glibc wrapper: EMFILE */
	FAULT_KINDS,
};

#define FAULT_WHERE_FRAMES 6
#define FAULT_WHERE_LEN    80

/* The one injected failure of a run. */
struct fault_fire {
	pid_t pid;
	int kind;
	int err;
	uint64_t n;
	char proc[32];
	/* Callers, innermost first, as "module+0xoffset" or "symbol" (addr2line -f -e). */
	char where[FAULT_WHERE_FRAMES][FAULT_WHERE_LEN];
};

/* The shared control page. Written by the sweep while no target runs armed code. */
struct fault_ctl {
	uint32_t magic;
	uint32_t epoch;      /* bumped at every arm: processes re-check the target then */
	int armed;           /* counting on (atomic) */
	int kind;            /* enum fault_kind to fail */
	int err;             /* errno to inject; 0: the kind's default */
	uint64_t nth;        /* 1-based call of @kind to fail; 0: count only */
	char target[32];     /* program name (argv[0]'s basename) to count in; "" any */
	uint64_t calls[FAULT_KINDS]; /* counted while armed, in target processes */
	uint32_t fired;      /* failures injected (0 or 1) */
	struct fault_fire fire;
};

/*
 * The sweep's side. fault_setup() creates the control file at @path, maps it, puts
 * its path in $AVF_FAULT_CTL for the processes started from now on, and returns the
 * page (NULL with errno set). Only in a process that loaded the shim.
 */
struct fault_ctl *fault_setup(const char *path);
/* Count calls of every kind in @target; fail the @nth of @kind with @err (0: default). */
void fault_arm(enum fault_kind kind, uint64_t nth, int err, const char *target);
void fault_disarm(void);
/* Unmap and remove the control file, unset $AVF_FAULT_CTL. */
void fault_teardown(void);
/* Allocations live in this process (successful allocations minus frees), counted
 * at every call whether armed or not: a leak check across a cycle. */
long fault_live_allocs(void);

const char *fault_kind_name(enum fault_kind kind);
/* Parse a kind name; -1 when unknown. */
int fault_kind_parse(const char *name);

#endif
