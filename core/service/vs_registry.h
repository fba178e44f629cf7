/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vs_registry: virtualizationservice's state — the global VM contexts
 * (research/avf-spec.md 2.8, 5.1, 5.3). A context is a CID from the one
 * allocator plus a per-VM temp dir, held by one holder (a virtmgr connection);
 * it is released when the holder drops it or goes away, and only then can its
 * CID be granted again (after the round-robin cursor wraps).
 *
 * On disk, under the state dir:
 *   <state>/last_cid     the last CID granted (cid_alloc's atomic state file)
 *   <state>/vm/<cid>/    per-VM temp dirs; everything under vm/ is wiped at start,
 *                        as AVF wipes /data/misc/virtualizationservice
 * With a NULL state dir nothing touches the disk and contexts have no temp dir.
 */
#ifndef AVF_CORE_SERVICE_VS_REGISTRY_H
#define AVF_CORE_SERVICE_VS_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <avf/avf_types.h>

#include "trace/trace.h"

struct vs_registry;

/* One row of debugListVms (VirtualMachineDebugInfo, plus name and state). */
struct vs_vm_row {
	uint32_t cid;
	enum avf_vm_state state; /* as last reported by the holder; NOT_STARTED at grant */
	uid_t requester_uid;
	pid_t requester_pid;
	const char *name;     /* may be "" */
	const char *temp_dir; /* may be NULL */
};

/*
 * Open the registry: creates <state>/vm, wipes stale temp dirs there (reported
 * through vs_registry_start_note), loads the last CID. CID range [min, max].
 */
int vs_registry_new(const char *state_dir, uint32_t cid_min, uint32_t cid_max,
		    const struct trace *tr, struct vs_registry **ret);
/* Releases every context (removing temp dirs); accepts NULL; returns NULL. */
struct vs_registry *vs_registry_free(struct vs_registry *r);

/* What start-up found worth logging (corrupt state file, stale dirs removed); NULL if nothing. */
const char *vs_registry_start_note(const struct vs_registry *r);

/* allocateGlobalVmContext. -EBUSY (EX_ILLEGAL_STATE) when no CID is free. */
int vs_registry_allocate(struct vs_registry *r, uint64_t holder, uid_t uid, pid_t pid,
			 const char *name, uint32_t *ret_cid, const char **ret_temp_dir);
/*
 * Grant exactly @cid to @holder (CLAIM_GLOBAL_VM_CONTEXT: a virtmgr re-registering
 * a live VM after virtualizationservice restarted). The round-robin cursor and the
 * last_cid file do not move (cid_alloc_claim). The temp dir is created if missing
 * and kept if present (it may hold the live VM's files). -EINVAL
 * (EX_ILLEGAL_ARGUMENT) outside the range, -EBUSY (EX_ILLEGAL_STATE) if held.
 */
int vs_registry_claim(struct vs_registry *r, uint64_t holder, uid_t uid, pid_t pid,
		      const char *name, uint32_t cid, const char **ret_temp_dir);
/* Drop one context; -ENOENT if @cid is not held, -EPERM if held by another holder. */
int vs_registry_release(struct vs_registry *r, uint64_t holder, uint32_t cid);
/* Drop every context of @holder (its connection closed); returns how many. */
unsigned vs_registry_release_holder(struct vs_registry *r, uint64_t holder);
/* Record a VM's state for debugListVms; same errors as release. */
int vs_registry_set_state(struct vs_registry *r, uint64_t holder, uint32_t cid,
			  enum avf_vm_state state);

size_t vs_registry_count(const struct vs_registry *r);
/* Fill up to @max rows in CID grant order; returns the total. Rows valid until the next change. */
size_t vs_registry_list(const struct vs_registry *r, struct vs_vm_row *out, size_t max);

#endif
