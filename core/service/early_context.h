/* SPDX-License-Identifier: Apache-2.0 */
/*
 * early_context: early_virtmgr's global-VM-context provider (research/avf-spec.md
 * 7.3, 7.4). No virtualizationservice: the CID of an early VM is the static one
 * its declaration names (core/config/early_vms.h), granted only to the program
 * the declaration names.
 *
 * acquire(name), in this order (the first failure wins; service-specific -1
 * unless said):
 *   1. caller_pid > 0: the caller's capabilities (early_caller_check_caps,
 *      EX_SECURITY);
 *   2. the caller's identity: no caller_path -> caller_error;
 *   3. its partition (first path component; "Early VMs are not supported for P");
 *   4. the partition usable ("CID validation for P failed: <problems>");
 *   5. exactly one entry @name in it ("Can't find a VM named 'n'", "Multiple VMs
 *      named 'n' are found");
 *   6. entry path == caller path, exactly (the message names both);
 *   7. the CID lock (beyond AVF, below; EX_ILLEGAL_STATE when busy);
 *   8. the temp dir <early_dir>/<cid>, removed entirely and created empty
 *      (AVF: /mnt/vm/early/<cid>).
 * release(cid) removes the temp dir and drops the lock.
 *
 * The CID lock. AVF trusts its early clients (init services, SELinux) never to
 * run two VMs with one early CID. Here unprivileged clients run side by side
 * (tests, prototypes), so each granted CID holds flock(LOCK_EX | LOCK_NB) on
 * <lock_dir>/<cid>.lock, an O_CLOEXEC fd kept until release. The kernel drops a
 * flock with its last fd, so a SIGKILLed early_virtmgr frees its CIDs by dying;
 * there is no stale state to clean. The holder writes its pid into the file for
 * the "in use" message; the file itself is never removed (unlinking a lock file
 * lets a second locker lock a different inode). A CID this context already holds
 * is refused without touching the file.
 *
 * The declarations and the strings in the params are borrowed: they must outlive
 * the context.
 */
#ifndef AVF_CORE_SERVICE_EARLY_CONTEXT_H
#define AVF_CORE_SERVICE_EARLY_CONTEXT_H

#include <sys/types.h>

#include "config/early_vms.h"
#include "service/vmgr.h"
#include "trace/trace.h"

struct early_context_params {
	const struct early_vms *vms;
	/* The caller's executable with the root prefix stripped ("/system/bin/x"). */
	const char *caller_path;
	/* Why there is no caller_path (the message acquire() fails with). */
	const char *caller_error;
	/* > 0: check this process's capabilities at each acquire (the caller's pid). */
	pid_t caller_pid;
	const char *lock_dir;      /* <cid>.lock files; created (0700) when needed */
	const char *early_dir;     /* per-VM temp dirs <cid>; created (0700) when needed */
	const struct trace *trace; /* may be NULL */
};

struct early_context;

int early_context_new(const struct early_context_params *p, struct early_context **ret);
/* Releases every CID still held (temp dirs removed, locks dropped). NULL-safe. */
struct early_context *early_context_free(struct early_context *c);

/* The vmgr_context_ops; the data pointer is the struct early_context. */
extern const struct vmgr_context_ops early_context_ops;

/*
 * The default base directory, malloc'd: $XDG_RUNTIME_DIR/avf/early, else
 * /run/avf/early. Temp dirs go right under it (<base>/<cid>, as AVF's
 * /mnt/vm/early/<cid>), locks under <base>/locks. Nothing of virtualizationservice's.
 */
int early_context_default_base(char **ret);

#endif
