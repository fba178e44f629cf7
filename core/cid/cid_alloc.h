/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cid_alloc: the CID allocator of virtualizationservice (research/avf-spec.md 5.1).
 *
 * CIDs are granted round-robin, not lowest-free: the next grant is last+1,
 * wrapping from max to min, skipping CIDs still held. A released CID is therefore
 * reused only after the cursor wraps around to it. Held CIDs are a bitmap searched
 * a 64-bit word at a time: release is O(1); a grant reads at most (max-min+1)/64
 * words (992 for the AVF range, reached when a single CID is free). The cursor
 * crosses each run of held CIDs once per turn, so those reads are shared by all the
 * grants of a turn: about one word per grant unless nearly every CID is held.
 *
 * The last granted CID is persisted (when a state path is given) before the grant
 * returns: written to "<path>.tmp", fsync'd, renamed over <path>, directory fsync'd.
 * The file holds the decimal CID and a newline. At creation a missing, unreadable,
 * non-numeric, out-of-range or larger than 64 bytes file is not an error: the
 * allocator starts from the range start and cid_alloc_load_note() says why (the
 * program logs it).
 */
#ifndef AVF_CORE_CID_CID_ALLOC_H
#define AVF_CORE_CID_CID_ALLOC_H

#include <stdbool.h>
#include <stdint.h>

struct cid_alloc;

/*
 * Create an allocator over [min, max] (inclusive, min <= max, max <= UINT32_MAX - 1).
 * @state_path may be NULL (nothing persisted). Returns 0 and sets *ret, or
 * -EINVAL (bad range) / -ENOMEM with an avf_err message; *ret untouched on failure.
 */
int cid_alloc_new(uint32_t min, uint32_t max, const char *state_path, struct cid_alloc **ret);

/* Free; accepts NULL; returns NULL. Does not touch the state file. */
struct cid_alloc *cid_alloc_free(struct cid_alloc *a);

/*
 * Grant the next free CID. Returns 0 and sets *ret_cid; -EBUSY when every CID of
 * the range is held ("Could not find an available CID.", AVF_EX_ILLEGAL_STATE);
 * -errno if persisting failed (the grant is then undone: nothing is held, the
 * cursor does not move). *ret_cid untouched on failure.
 */
int cid_alloc_grant(struct cid_alloc *a, uint32_t *ret_cid);

/*
 * Mark @cid held without granting it: a client re-registers a CID it was granted
 * before virtualizationservice restarted. The cursor and the state file do not
 * move: a claim is an old grant coming back, not a new one (and after a wrap we
 * could not tell whether @cid lies before or after the cursor), so the next grant
 * still follows the last one granted. -EINVAL (AVF_EX_ILLEGAL_ARGUMENT) if out of
 * range, -EBUSY (AVF_EX_ILLEGAL_STATE) if already held.
 */
int cid_alloc_claim(struct cid_alloc *a, uint32_t cid);

/* Release a held CID. -EINVAL if out of range, -ENOENT if not held. */
int cid_alloc_release(struct cid_alloc *a, uint32_t cid);

bool cid_alloc_is_held(const struct cid_alloc *a, uint32_t cid);
uint32_t cid_alloc_held_count(const struct cid_alloc *a);

/* The last CID granted (or loaded from the state file); 0 if none yet (ambiguous if min == 0). */
uint32_t cid_alloc_last(const struct cid_alloc *a);

/* Why the state file was not used at creation ("state file ... is corrupt: ..."), or NULL. */
const char *cid_alloc_load_note(const struct cid_alloc *a);

#endif
