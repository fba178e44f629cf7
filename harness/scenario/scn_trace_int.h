/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_trace_int: what the pieces of avf_scn_trace (loader, normal form, arrows,
 * timeline) share and nobody else sees: the trace's tables and a small hash map.
 */
#ifndef AVF_HARNESS_SCENARIO_SCN_TRACE_INT_H
#define AVF_HARNESS_SCENARIO_SCN_TRACE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "scn_trace.h"

/* ---- scn_map: open addressing, hash -> index into the owner's array ------------------------ */

struct scn_map_slot {
	uint64_t h;
	size_t val; /* SIZE_MAX: empty */
};

struct scn_map {
	struct scn_map_slot *s;
	size_t cap, n; /* cap: 0 or a power of two */
};

/* Does the entry @val of the owner's array have key @key? */
typedef bool (*scn_map_eq_fn)(const void *owner, size_t val, const void *key);

/* The value stored for @key, SIZE_MAX if none. */
size_t scn_map_get(const struct scn_map *m, uint64_t h, scn_map_eq_fn eq, const void *owner,
		   const void *key);
/* Store @val for a key known to be absent. -ENOMEM (no message). */
int scn_map_add(struct scn_map *m, uint64_t h, size_t val);
/* Replace the value of a present key. */
void scn_map_set(struct scn_map *m, uint64_t h, scn_map_eq_fn eq, const void *owner,
		 const void *key, size_t val);
void scn_map_clear(struct scn_map *m);
uint64_t scn_hash_str(const char *s);
uint64_t scn_hash_u64(uint64_t v);

/* ---- the trace's tables -------------------------------------------------------------------- */

struct scn_label {
	char *name;
	enum scn_actor_kind kind;
};

struct scn_pid {
	int pid;
	size_t label;            /* index into labels, SIZE_MAX: none */
	size_t first_unlabelled; /* first record of this pid without a label, SIZE_MAX: none */
};

/* One @cid line. */
struct scn_cid_ev {
	size_t seq;
	char *vm;
	uint32_t cid;
	size_t prev_vm; /* the previous @cid of the same VM, SIZE_MAX: none */
};

/* One CID value, in the order of its first @cid line (symbol $cid<index + 1>). */
struct scn_cid {
	uint32_t cid;
	size_t latest_ev;
};

/* A "VMM started (pid p)" whose CID had no @cid yet. */
struct scn_pending_vmm {
	uint32_t cid;
	int pid;
};

#define SCN_REC_BLOCK 1024

struct scn_trace {
	char *path;
	int fd;
	off_t off;

	char *partial; /* bytes after the last newline */
	size_t partial_len, partial_cap;

	struct scn_trace_rec **blocks; /* SCN_REC_BLOCK records each: pointers stay valid */
	size_t n_blocks, n;

	struct scn_label *labels;
	size_t n_labels;
	struct scn_map label_map; /* name -> labels index */

	struct scn_pid *pids;
	size_t n_pids;
	struct scn_map pid_map; /* pid -> pids index */

	struct scn_cid_ev *cid_evs;
	size_t n_cid_evs;
	struct scn_map vm_map; /* VM name -> latest cid_evs index */

	struct scn_cid *cids;
	size_t n_cids;
	struct scn_map cid_map; /* CID -> cids index */

	struct scn_pending_vmm *pending;
	size_t n_pending;

	char **run_dirs;
	size_t n_run_dirs;
};

static inline struct scn_trace_rec *scn_rec(const struct scn_trace *t, size_t seq)
{
	return &t->blocks[seq / SCN_REC_BLOCK][seq % SCN_REC_BLOCK];
}

/* Index into labels of @name, SIZE_MAX if none. */
size_t scn_trace_label_index(const struct scn_trace *t, const char *name);
/* The @cid event in force for @vm at @seq (latest with ev.seq <= seq), NULL if none. */
const struct scn_cid_ev *scn_trace_vm_cid_at(const struct scn_trace *t, const char *vm, size_t seq);
/* The first @cid event of @vm, NULL if none. */
const struct scn_cid_ev *scn_trace_vm_first_cid(const struct scn_trace *t, const char *vm);
/* 1-based symbol number of @cid, 0 if it was never in an @cid line. */
size_t scn_trace_cid_symbol(const struct scn_trace *t, uint32_t cid);

/* Parse "<digits>" at @s: the value (<= @max) and its length, 0 if not a number. */
size_t scn_parse_uint(const char *s, uint64_t max, uint64_t *ret);
/* "vm:<n>" or "vmm:<n>" spanning exactly @len bytes at @s (len 0: up to NUL). */
bool scn_parse_vm_word(const char *s, size_t len, uint32_t *ret_cid);

#endif
