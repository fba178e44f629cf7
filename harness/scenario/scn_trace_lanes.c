/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_trace_lanes: the per-actor grouping of a trace, in the one order the normal form
 * and the timeline share (scn_trace.h: scn_trace_lanes). The order depends only on
 * what the runner declared and on the actor words, never on how the processes raced.
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

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool actor_eq(const void *owner, size_t val, const void *key)
{
	return !strcmp(((const char *const *)owner)[val], key);
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
	const char **actors = NULL; /* distinct actor words of unlabelled records */
	struct scn_map actor_map = {0};
	size_t *lane_of_label = NULL, n_vmms = 0, n_actors = 0, first_actor_lane;
	bool malformed = false;
	int r = -ENOMEM;

	vmms = calloc(t->n_labels + 1, sizeof(*vmms));
	lane_of_label = calloc(t->n_labels + 1, sizeof(*lane_of_label));
	actors = calloc(t->n + 1, sizeof(*actors));
	l.of_rec = calloc(t->n + 1, sizeof(*l.of_rec));
	l.v = calloc(t->n_labels + t->n + 2, sizeof(*l.v));
	if (!vmms || !lane_of_label || !actors || !l.of_rec || !l.v)
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

	for (size_t s = 0; s < t->n; s++) {
		const struct scn_trace_rec *rec = scn_rec(t, s);
		uint64_t h;

		if (rec->malformed) {
			malformed = true;
			continue;
		}
		if (rec->label || rec->meta)
			continue;
		h = scn_hash_str(rec->actor);
		if (scn_map_get(&actor_map, h, actor_eq, actors, rec->actor) != SIZE_MAX)
			continue;
		if (scn_map_add(&actor_map, h, n_actors) < 0)
			goto out;
		actors[n_actors++] = rec->actor;
	}
	qsort(actors, n_actors, sizeof(*actors), cmp_str);
	scn_map_clear(&actor_map);
	first_actor_lane = l.n;
	for (size_t i = 0; i < n_actors; i++) {
		size_t len = strlen(actors[i]) + 3;
		char *name = malloc(len);

		if (!name)
			goto out;
		snprintf(name, len, "? %s", actors[i]);
		r = add_lane(&l, name, NULL, SCN_ACTOR_UNKNOWN);
		free(name);
		if (r < 0)
			goto out;
		r = -ENOMEM;
		/* the map now gives the sorted position */
		if (scn_map_add(&actor_map, scn_hash_str(actors[i]), i) < 0)
			goto out;
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
		else
			lane = first_actor_lane + scn_map_get(&actor_map, scn_hash_str(rec->actor),
							      actor_eq, actors, rec->actor);
		l.of_rec[s] = lane;
		l.v[lane].n_records++;
	}
	*ret = l;
	l = (struct scn_trace_lanes){0};
	r = 0;
out:
	scn_map_clear(&actor_map);
	free(actors);
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
