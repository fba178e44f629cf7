/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_trace_lanes: the per-actor grouping of a trace, in the one order the normal form
 * and the timeline share (scn_trace.h: scn_trace_lanes). The order depends only on
 * what the runner declared and on the actor words, never on how the processes raced;
 * processes no one named are numbered in the order they first wrote, which the
 * scenario fixes by starting them one after the other.
 */
#include "scn_trace_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"

#define MALFORMED_LANE "? (malformed lines)"

struct vmm_key {
	size_t label;
	size_t first_cid_seq; /* SIZE_MAX: the VM never had a CID */
	const char *name;
};

static int cmp_vmm(const void *a, const void *b)
{
	const struct vmm_key *x = a, *y = b;

	if (x->first_cid_seq != y->first_cid_seq)
		return x->first_cid_seq < y->first_cid_seq ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* An actor word and one pid writing under it without a label: one lane. */
struct unl {
	const char *actor;
	int pid;
	size_t ord; /* 1, 2, ...: the order of the pids' first lines under this actor */
	size_t lane;
};

struct unl_set {
	struct unl *v;
	size_t n;
};

static uint64_t unl_hash(const char *actor, int pid)
{
	return scn_hash_str(actor) ^ scn_hash_u64((uint64_t)(unsigned)pid);
}

static bool unl_eq(const void *owner, size_t val, const void *key)
{
	const struct unl *u = &((const struct unl_set *)owner)->v[val], *k = key;

	return u->pid == k->pid && !strcmp(u->actor, k->actor);
}

static bool actor_eq(const void *owner, size_t val, const void *key)
{
	return !strcmp(((const struct unl_set *)owner)->v[val].actor, key);
}

static int cmp_unl(const void *a, const void *b)
{
	const struct unl *x = *(const struct unl *const *)a, *y = *(const struct unl *const *)b;
	int c = strcmp(x->actor, y->actor);

	return c ? c : (x->ord > y->ord) - (x->ord < y->ord);
}

static int add_lane(struct scn_trace_lanes *l, const char *name, const char *label,
		    enum scn_actor_kind kind)
{
	struct scn_trace_lane *lane = &l->v[l->n];

	if (!(lane->name = strdup(name)))
		return -ENOMEM;
	lane->label = label;
	lane->kind = kind;
	lane->n_records = 0;
	l->n++;
	return 0;
}

int scn_trace_lanes(const struct scn_trace *t, struct scn_trace_lanes *ret)
{
	struct scn_trace_lanes l = {0};
	struct vmm_key *vmms = NULL;
	struct unl_set u = {0};
	struct unl **sorted = NULL;
	struct scn_map unl_map = {0}, last_of_actor = {0};
	size_t *lane_of_label = NULL, n_vmms = 0;
	bool malformed = false;
	int r = -ENOMEM;

	vmms = calloc(t->n_labels + 1, sizeof(*vmms));
	lane_of_label = calloc(t->n_labels + 1, sizeof(*lane_of_label));
	u.v = calloc(t->n + 1, sizeof(*u.v));
	sorted = calloc(t->n + 1, sizeof(*sorted));
	l.of_rec = calloc(t->n + 1, sizeof(*l.of_rec));
	l.v = calloc(t->n_labels + t->n + 2, sizeof(*l.v));
	if (!vmms || !lane_of_label || !u.v || !sorted || !l.of_rec || !l.v)
		goto out;
	l.n_rec = t->n;

	for (size_t i = 0; i < t->n_labels; i++) {
		const struct scn_label *lb = &t->labels[i];

		if (lb->kind == SCN_ACTOR_VMM) {
			const struct scn_cid_ev *ev = scn_trace_vm_first_cid(t, lb->name + 4);

			vmms[n_vmms++] = (struct vmm_key){i, ev ? ev->seq : SIZE_MAX, lb->name};
			continue;
		}
		lane_of_label[i] = l.n;
		if (add_lane(&l, lb->name, lb->name, lb->kind) < 0)
			goto out;
	}
	qsort(vmms, n_vmms, sizeof(*vmms), cmp_vmm);
	for (size_t i = 0; i < n_vmms; i++) {
		const struct scn_label *lb = &t->labels[vmms[i].label];

		lane_of_label[vmms[i].label] = l.n;
		if (add_lane(&l, lb->name, lb->name, lb->kind) < 0)
			goto out;
	}

	/* Unlabelled lines (a process a command started, say): one lane per actor word and
	 * pid, numbered per actor word in the order of the pids' first lines. That order
	 * is the order the processes started in whenever the scenario starts them one
	 * after the other; pids never show. */
	for (size_t s = 0; s < t->n; s++) {
		const struct scn_trace_rec *rec = scn_rec(t, s);
		struct unl key = {rec->actor, rec->pid, 0, 0};
		uint64_t h, ha;
		size_t last;

		if (rec->malformed) {
			malformed = true;
			continue;
		}
		if (rec->label || rec->meta)
			continue;
		h = unl_hash(rec->actor, rec->pid);
		if (scn_map_get(&unl_map, h, unl_eq, &u, &key) != SIZE_MAX)
			continue;
		ha = scn_hash_str(rec->actor);
		last = scn_map_get(&last_of_actor, ha, actor_eq, &u, rec->actor);
		key.ord = last == SIZE_MAX ? 1 : u.v[last].ord + 1;
		u.v[u.n] = key;
		if (scn_map_add(&unl_map, h, u.n) < 0)
			goto out;
		if (last == SIZE_MAX) {
			if (scn_map_add(&last_of_actor, ha, u.n) < 0)
				goto out;
		} else {
			scn_map_set(&last_of_actor, ha, actor_eq, &u, rec->actor, u.n);
		}
		u.n++;
	}
	for (size_t i = 0; i < u.n; i++)
		sorted[i] = &u.v[i];
	qsort(sorted, u.n, sizeof(*sorted), cmp_unl);
	for (size_t i = 0; i < u.n; i++) {
		size_t len = strlen(sorted[i]->actor) + 32;
		char *name = malloc(len);

		if (!name)
			goto out;
		if (sorted[i]->ord == 1)
			snprintf(name, len, "? %s", sorted[i]->actor);
		else
			snprintf(name, len, "? %s #%zu", sorted[i]->actor, sorted[i]->ord);
		sorted[i]->lane = l.n;
		r = add_lane(&l, name, NULL, SCN_ACTOR_UNKNOWN);
		free(name);
		if (r < 0)
			goto out;
		r = -ENOMEM;
	}
	if (malformed && add_lane(&l, MALFORMED_LANE, NULL, SCN_ACTOR_UNKNOWN) < 0)
		goto out;

	for (size_t s = 0; s < t->n; s++) {
		const struct scn_trace_rec *rec = scn_rec(t, s);
		size_t lane;

		if (rec->meta) {
			l.of_rec[s] = SIZE_MAX;
			continue;
		}
		if (rec->malformed)
			lane = l.n - 1;
		else if (rec->label)
			lane = lane_of_label[scn_trace_label_index(t, rec->label)];
		else {
			struct unl key = {rec->actor, rec->pid, 0, 0};

			lane = u.v[scn_map_get(&unl_map, unl_hash(rec->actor, rec->pid), unl_eq, &u,
					       &key)]
				   .lane;
		}
		l.of_rec[s] = lane;
		l.v[lane].n_records++;
	}
	*ret = l;
	l = (struct scn_trace_lanes){0};
	r = 0;
out:
	scn_map_clear(&unl_map);
	scn_map_clear(&last_of_actor);
	free(u.v);
	free(sorted);
	free(vmms);
	free(lane_of_label);
	scn_trace_lanes_clear(&l);
	if (r < 0)
		avf_err_set(r, AVF_EX_SERVICE_SPECIFIC, "out of memory grouping the trace");
	return r;
}

void scn_trace_lanes_clear(struct scn_trace_lanes *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	free(l->of_rec);
	*l = (struct scn_trace_lanes){0};
}
