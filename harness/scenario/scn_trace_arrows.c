/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_trace_arrows: pairs each callback delivery virtmgr traced ("vm:<cid> cb<k>
 * onX...") with the line its client process wrote on receipt ("<VM> <CB> onX..."), for
 * the timeline's arrows. The two lines share no id: virtmgr numbers a VM's callbacks
 * cb1, cb2, ... in registration order, the scenario names them, and libvmclient
 * registers a callback of its own on every VM (cb1, at create) whose deliveries no
 * client line answers. So the numbers are learned first: a client's "register <VM> <CB>
 * -> ok" names the latest unnamed "vm:<cid> callback cb<k> registered" of its virtmgr
 * for that VM's CID (registrations are counted per VM record: a createVm that returns
 * the CID again starts over). Then, in file order, each delivery in lane "virtmgr NAME"
 * is paired with the first receipt after it in lane "client NAME" not yet paired, with
 * the same method and the delivery's CID for its VM (through "ref VM as VM2" aliases):
 *   - to a named callback: only a receipt of that name;
 *   - to an unnamed callback of a VM that has named ones: none (it is not the scenario's);
 *   - on a VM with no named callback: any name (first come, first paired: deliveries of
 *     one VM to several callbacks come in registration order, and so do their receipts).
 */
#include "scn_trace_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"

#define MAX_ALIAS_DEPTH 8

/* A VM record of one virtmgr: (lane, cid) and the createVm that made it. */
struct vmrec {
	size_t lane;
	uint32_t cid;
	size_t gen;        /* seq of the latest createVm returning cid, 0 before any */
	size_t latest_reg; /* registrations of (lane, cid), newest first via reg.prev */
};

struct reg {
	size_t lane;
	uint32_t cid;
	size_t gen;
	uint32_t k;
	size_t seq;
	const char *cb; /* the scenario's name (points into a record), NULL: unnamed */
	size_t cb_len;
	size_t prev;
};

struct alias {
	size_t lane;
	char *name, *target;
};

struct receipt {
	size_t seq;
	uint32_t cid;
	const char *cb; /* points into the record */
	size_t cb_len;
	const char *method;
	bool taken;
};

struct delivery {
	size_t seq;
	size_t client_lane;
	size_t vmrec;
	size_t gen; /* the VM record's generation at the delivery */
	uint32_t k;
	const char *method;
};

struct ctx {
	const struct scn_trace *t;
	const struct scn_trace_lanes *l;
	size_t *lane_of_label;
	struct vmrec *vms;
	size_t n_vms;
	struct scn_map vm_map;
	struct reg *regs;
	size_t n_regs;
	struct scn_map reg_map; /* (lane, cid, gen, k) -> latest reg */
	struct alias *aliases;
	size_t n_aliases;
	struct scn_map alias_map;
	struct receipt *rc; /* grouped by client lane after collection */
	size_t n_rc;
	size_t *rc_lane; /* the lane of each receipt while collecting */
	struct delivery *dl;
	size_t n_dl;
};

/* ---- keys ---------------------------------------------------------------------------------- */

struct vm_key {
	size_t lane;
	uint32_t cid;
};

struct reg_key {
	size_t lane;
	uint32_t cid;
	size_t gen;
	uint32_t k;
};

struct alias_key {
	size_t lane;
	const char *name;
	size_t len;
};

static uint64_t mix(uint64_t h, uint64_t v)
{
	return scn_hash_u64(h ^ v);
}

static bool vm_eq(const void *owner, size_t val, const void *key)
{
	const struct vmrec *v = &((const struct ctx *)owner)->vms[val];
	const struct vm_key *k = key;

	return v->lane == k->lane && v->cid == k->cid;
}

static bool reg_eq(const void *owner, size_t val, const void *key)
{
	const struct reg *r = &((const struct ctx *)owner)->regs[val];
	const struct reg_key *k = key;

	return r->lane == k->lane && r->cid == k->cid && r->gen == k->gen && r->k == k->k;
}

static bool alias_eq(const void *owner, size_t val, const void *key)
{
	const struct alias *a = &((const struct ctx *)owner)->aliases[val];
	const struct alias_key *k = key;

	return a->lane == k->lane && strlen(a->name) == k->len &&
	       !strncmp(a->name, k->name, k->len);
}

static uint64_t vm_hash(const struct vm_key *k)
{
	return mix(scn_hash_u64(k->lane), k->cid);
}

static uint64_t reg_hash(const struct reg_key *k)
{
	return mix(mix(mix(scn_hash_u64(k->lane), k->cid), k->gen), k->k);
}

static uint64_t alias_hash(size_t lane, const char *name, size_t len)
{
	uint64_t h = scn_hash_u64(lane);

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 0x100000001b3ull;
	return h;
}

/* Make room for element @n of an array of @n (capacity 8, doubled when full). -ENOMEM. */
static int push(void *v, size_t n, size_t size)
{
	void **pv = v;
	void *p;

	if (n && (n < 8 || (n & (n - 1))))
		return 0;
	p = realloc(*pv, (n ? 2 * n : 8) * size);
	if (!p)
		return -ENOMEM;
	*pv = p;
	return 0;
}

/* ---- parsing ------------------------------------------------------------------------------- */

/* A virtmgr line about a VM: "vm:<cid> <rest>" as actor + text, or in the text. */
static bool vm_line(const struct scn_trace_rec *r, uint32_t *ret_cid, const char **ret_rest)
{
	size_t n;

	if (scn_parse_vm_word(r->actor, 0, ret_cid)) {
		*ret_rest = r->text;
		return true;
	}
	n = strcspn(r->text, " ");
	if (!r->text[n] || !scn_parse_vm_word(r->text, n, ret_cid))
		return false;
	*ret_rest = r->text + n + 1;
	return true;
}

/* "cb<k>" followed by @follow at @s: k and the rest after it, NULL if not. */
static const char *parse_cb(const char *s, uint32_t *ret_k)
{
	uint64_t k;
	size_t n;

	if (strncmp(s, "cb", 2) || !(n = scn_parse_uint(s + 2, UINT32_MAX, &k)) || s[2 + n] != ' ')
		return NULL;
	*ret_k = (uint32_t)k;
	return s + 3 + n;
}

static bool is_method(const char *s)
{
	return !strncmp(s, "on", 2) && s[2] >= 'A' && s[2] <= 'Z';
}

static size_t method_len(const char *s)
{
	return strcspn(s, "( ");
}

static bool same_method(const char *a, const char *b)
{
	size_t n = method_len(a);

	return n == method_len(b) && !strncmp(a, b, n);
}

/* The next space-separated word at *@s (length; *@s moves past it and one space). */
static size_t word(const char **s, const char **ret)
{
	size_t n = strcspn(*s, " ");

	*ret = *s;
	*s += n + ((*s)[n] == ' ');
	return n;
}

/* ---- the first pass: VM records, registrations, aliases, receipts, deliveries ------------- */

static size_t vmrec_get(struct ctx *c, size_t lane, uint32_t cid)
{
	struct vm_key k = {lane, cid};
	uint64_t h = vm_hash(&k);
	size_t i = scn_map_get(&c->vm_map, h, vm_eq, c, &k);

	if (i != SIZE_MAX)
		return i;
	if (push(&c->vms, c->n_vms, sizeof(*c->vms)) < 0)
		return SIZE_MAX;
	c->vms[c->n_vms] = (struct vmrec){lane, cid, 0, SIZE_MAX};
	if (scn_map_add(&c->vm_map, h, c->n_vms) < 0)
		return SIZE_MAX;
	return c->n_vms++;
}

/* The name @name (length @len) in client lane @lane stands for, after "ref ... as" lines. */
static void resolve(const struct ctx *c, size_t lane, const char **name, size_t *len)
{
	for (int depth = 0; depth < MAX_ALIAS_DEPTH; depth++) {
		struct alias_key k = {lane, *name, *len};
		size_t i =
		    scn_map_get(&c->alias_map, alias_hash(lane, *name, *len), alias_eq, c, &k);

		if (i == SIZE_MAX)
			return;
		*name = c->aliases[i].target;
		*len = strlen(*name);
	}
}

/* The CID the client's VM name stands for at @seq, 0 if none. */
static uint32_t client_cid(const struct ctx *c, size_t lane, const char *name, size_t len,
			   size_t seq)
{
	const struct scn_cid_ev *ev;
	char *vm;

	resolve(c, lane, &name, &len);
	if (!(vm = strndup(name, len)))
		return 0;
	ev = scn_trace_vm_cid_at(c->t, vm, seq);
	free(vm);
	return ev ? ev->cid : 0;
}

/* The virtmgr lane of the same NAME as client lane @lane (or the reverse), SIZE_MAX if none. */
static size_t partner_lane(const struct ctx *c, size_t lane, const char *from, const char *to)
{
	const char *label = c->l->v[lane].label;
	size_t li;
	char *other;

	if (asprintf(&other, "%s%s", to, label + strlen(from)) < 0)
		return SIZE_MAX;
	li = scn_trace_label_index(c->t, other);
	free(other);
	return li == SIZE_MAX ? SIZE_MAX : c->lane_of_label[li];
}

static int virtmgr_line(struct ctx *c, const struct scn_trace_rec *r, size_t lane)
{
	const char *rest, *p;
	uint32_t cid, k;
	size_t vi;
	uint64_t v;

	/* a new VM record: "createVm("name") -> vm:<cid> STATE" */
	if (!strncmp(r->text, "createVm(", 9) && (p = strstr(r->text, ") -> vm:")) &&
	    scn_parse_uint(p + 8, UINT32_MAX, &v)) {
		if ((vi = vmrec_get(c, lane, (uint32_t)v)) == SIZE_MAX)
			return -ENOMEM;
		c->vms[vi].gen = r->seq;
		return 0;
	}
	if (!vm_line(r, &cid, &rest))
		return 0;
	if (!strncmp(rest, "callback ", 9) && (p = parse_cb(rest + 9, &k)) &&
	    !strncmp(p, "registered", 10)) {
		struct reg_key key;
		struct reg *g;

		if ((vi = vmrec_get(c, lane, cid)) == SIZE_MAX ||
		    push(&c->regs, c->n_regs, sizeof(*c->regs)) < 0)
			return -ENOMEM;
		g = &c->regs[c->n_regs];
		*g = (struct reg){lane, cid, c->vms[vi].gen,       k, r->seq,
				  NULL, 0,   c->vms[vi].latest_reg};
		key = (struct reg_key){lane, cid, g->gen, k};
		c->vms[vi].latest_reg = c->n_regs++;
		/* a number registered twice in one record cannot happen; the newer one wins */
		if (scn_map_get(&c->reg_map, reg_hash(&key), reg_eq, c, &key) != SIZE_MAX)
			scn_map_set(&c->reg_map, reg_hash(&key), reg_eq, c, &key, c->n_regs - 1);
		else if (scn_map_add(&c->reg_map, reg_hash(&key), c->n_regs - 1) < 0)
			return -ENOMEM;
		return 0;
	}
	if ((p = parse_cb(rest, &k)) && is_method(p)) {
		size_t client = partner_lane(c, lane, "virtmgr", "client");

		if (client == SIZE_MAX || c->l->v[client].kind != SCN_ACTOR_CLIENT)
			return 0;
		if ((vi = vmrec_get(c, lane, cid)) == SIZE_MAX ||
		    push(&c->dl, c->n_dl, sizeof(*c->dl)) < 0)
			return -ENOMEM;
		c->dl[c->n_dl++] = (struct delivery){r->seq, client, vi, c->vms[vi].gen, k, p};
	}
	return 0;
}

static int client_line(struct ctx *c, const struct scn_trace_rec *r, size_t lane)
{
	const char *s = r->text, *w1, *w2, *w3, *w4;
	size_t n1 = word(&s, &w1), n2 = word(&s, &w2), n3 = word(&s, &w3), n4;

	/* "ref VM as VM2" */
	if (n1 == 3 && !strncmp(w1, "ref", 3) && n2 && n3 == 2 && !strncmp(w3, "as", 2) &&
	    (n4 = word(&s, &w4)) && !*s) {
		struct alias *a;

		if (push(&c->aliases, c->n_aliases, sizeof(*c->aliases)) < 0)
			return -ENOMEM;
		a = &c->aliases[c->n_aliases];
		a->lane = lane;
		a->name = strndup(w4, n4);
		a->target = strndup(w2, n2);
		if (!a->name || !a->target) {
			free(a->name);
			free(a->target);
			return -ENOMEM;
		}
		c->n_aliases++;
		return scn_map_add(&c->alias_map, alias_hash(lane, w4, n4), c->n_aliases - 1);
	}
	/* "register VM CB -> ok": names the newest unnamed registration of that VM */
	if (n1 == 8 && !strncmp(w1, "register", 8) && n2 && n3 && !strcmp(s, "-> ok")) {
		size_t vmgr = partner_lane(c, lane, "client", "virtmgr");
		uint32_t cid = client_cid(c, lane, w2, n2, r->seq);
		struct vm_key k = {vmgr, cid};
		size_t vi = scn_map_get(&c->vm_map, vm_hash(&k), vm_eq, c, &k);

		for (size_t g = vi == SIZE_MAX ? SIZE_MAX : c->vms[vi].latest_reg; g != SIZE_MAX;
		     g = c->regs[g].prev)
			if (c->regs[g].gen == c->vms[vi].gen && !c->regs[g].cb) {
				c->regs[g].cb = w3;
				c->regs[g].cb_len = n3;
				break;
			}
		return 0;
	}
	/* a receipt: "VM CB onX..." */
	if (n1 && n2 && is_method(w3)) {
		uint32_t cid = client_cid(c, lane, w1, n1, r->seq);

		if (!cid)
			return 0;
		if (push(&c->rc, c->n_rc, sizeof(*c->rc)) < 0 ||
		    push(&c->rc_lane, c->n_rc, sizeof(*c->rc_lane)) < 0)
			return -ENOMEM;
		c->rc[c->n_rc] = (struct receipt){r->seq, cid, w2, n2, w3, false};
		c->rc_lane[c->n_rc++] = lane;
	}
	return 0;
}

/* ---- the second pass: pairing -------------------------------------------------------------- */

/* Does VM record @v in its generation @gen have a callback the scenario named? */
static bool has_named(const struct ctx *c, const struct vmrec *v, size_t gen)
{
	for (size_t g = v->latest_reg; g != SIZE_MAX; g = c->regs[g].prev)
		if (c->regs[g].gen == gen && c->regs[g].cb)
			return true;
	return false;
}

int scn_trace_callback_arrows(const struct scn_trace *t, const struct scn_trace_lanes *lanes,
			      struct scn_trace_arrow **ret, size_t *ret_n)
{
	struct ctx c = {.t = t, .l = lanes};
	size_t n = lanes->n_rec < t->n ? lanes->n_rec : t->n, n_arrows = 0;
	size_t *lane_start = NULL, *lane_fill = NULL;
	struct receipt *sorted = NULL;
	struct scn_trace_arrow *arrows = NULL;
	int r = -ENOMEM;

	c.lane_of_label = malloc((t->n_labels + 1) * sizeof(*c.lane_of_label));
	lane_start = calloc(lanes->n + 1, sizeof(*lane_start));
	lane_fill = calloc(lanes->n + 1, sizeof(*lane_fill));
	if (!c.lane_of_label || !lane_start || !lane_fill)
		goto out;
	for (size_t i = 0; i < t->n_labels; i++)
		c.lane_of_label[i] = SIZE_MAX;
	for (size_t i = 0; i < lanes->n; i++)
		if (lanes->v[i].label)
			c.lane_of_label[scn_trace_label_index(t, lanes->v[i].label)] = i;

	for (size_t s = 0; s < n; s++) {
		size_t lane = lanes->of_rec[s];
		enum scn_actor_kind kind =
		    lane == SIZE_MAX ? SCN_ACTOR_UNKNOWN : lanes->v[lane].kind;

		if (kind == SCN_ACTOR_VIRTMGR && virtmgr_line(&c, scn_rec(t, s), lane) < 0)
			goto out;
		if (kind == SCN_ACTOR_CLIENT && client_line(&c, scn_rec(t, s), lane) < 0)
			goto out;
	}

	/* receipts grouped by client lane, each group in file order */
	sorted = calloc(c.n_rc + 1, sizeof(*sorted));
	arrows = calloc(c.n_dl + 1, sizeof(*arrows));
	if (!sorted || !arrows)
		goto out;
	for (size_t i = 0; i < c.n_rc; i++)
		lane_start[c.rc_lane[i] + 1]++;
	for (size_t i = 0; i < lanes->n; i++)
		lane_start[i + 1] += lane_start[i];
	for (size_t i = 0; i < c.n_rc; i++)
		sorted[lane_start[c.rc_lane[i]] + lane_fill[c.rc_lane[i]]++] = c.rc[i];

	for (size_t i = 0; i < c.n_dl; i++) {
		const struct delivery *d = &c.dl[i];
		const struct vmrec *v = &c.vms[d->vmrec];
		struct reg_key key = {v->lane, v->cid, d->gen, d->k};
		size_t g = scn_map_get(&c.reg_map, reg_hash(&key), reg_eq, &c, &key);
		const struct reg *named = g != SIZE_MAX && c.regs[g].cb ? &c.regs[g] : NULL;
		size_t lo = lane_start[d->client_lane], hi = lo + lane_fill[d->client_lane];
		size_t end = hi;

		if (!named && has_named(&c, v, d->gen))
			continue;
		/* the first receipt after the delivery: binary search, then skip the taken */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (sorted[mid].seq <= d->seq)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t k = lo; k < end; k++) {
			struct receipt *rc = &sorted[k];

			if (rc->taken || rc->cid != v->cid || !same_method(rc->method, d->method))
				continue;
			if (named && (rc->cb_len != named->cb_len ||
				      strncmp(rc->cb, named->cb, named->cb_len)))
				continue;
			rc->taken = true;
			arrows[n_arrows++] = (struct scn_trace_arrow){d->seq, rc->seq};
			break;
		}
	}
	*ret = arrows;
	*ret_n = n_arrows;
	arrows = NULL;
	r = 0;
out:
	for (size_t i = 0; i < c.n_aliases; i++) {
		free(c.aliases[i].name);
		free(c.aliases[i].target);
	}
	free(c.aliases);
	scn_map_clear(&c.alias_map);
	free(c.vms);
	scn_map_clear(&c.vm_map);
	free(c.regs);
	scn_map_clear(&c.reg_map);
	free(c.rc);
	free(c.rc_lane);
	free(c.dl);
	free(c.lane_of_label);
	free(lane_start);
	free(lane_fill);
	free(sorted);
	free(arrows);
	if (r < 0)
		avf_err_set(r, AVF_EX_SERVICE_SPECIFIC, "out of memory matching callbacks");
	return r;
}
