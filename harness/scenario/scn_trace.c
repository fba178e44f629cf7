/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_trace: the trace file reader. Splits what was appended into lines, parses each
 * into a record, applies meta lines (@run, @actor, @cid) and "VMM started (pid p)"
 * lines as they arrive, and answers the runner's lookups. Contract: scn_trace.h.
 */
#include "scn_trace_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/avf_err.h"

static int oom(void)
{
	return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory reading the trace");
}

/* Grow *@v (of *@cap elements of @size) to hold @need. */
static int grow(void *v, size_t *cap, size_t need, size_t size)
{
	void **pv = v;
	size_t c = *cap ? *cap : 8;
	void *p;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	p = realloc(*pv, c * size);
	if (!p)
		return -ENOMEM;
	*pv = p;
	*cap = c;
	return 0;
}

/* ---- small parsers ------------------------------------------------------------------------- */

size_t scn_parse_uint(const char *s, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i = 0;

	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (max - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	if (i)
		*ret = v;
	return i;
}

bool scn_parse_vm_word(const char *s, size_t len, uint32_t *ret_cid)
{
	size_t p, n;
	uint64_t v;

	if (!len)
		len = strlen(s);
	if (len > 3 && !strncmp(s, "vm:", 3))
		p = 3;
	else if (len > 4 && !strncmp(s, "vmm:", 4))
		p = 4;
	else
		return false;
	n = scn_parse_uint(s + p, UINT32_MAX, &v);
	if (!n || p + n != len)
		return false;
	*ret_cid = (uint32_t)v;
	return true;
}

/* ---- maps' equality tests ------------------------------------------------------------------ */

static bool label_eq(const void *owner, size_t val, const void *key)
{
	return !strcmp(((const struct scn_trace *)owner)->labels[val].name, key);
}

static bool pid_eq(const void *owner, size_t val, const void *key)
{
	return ((const struct scn_trace *)owner)->pids[val].pid == *(const int *)key;
}

static bool vm_eq(const void *owner, size_t val, const void *key)
{
	return !strcmp(((const struct scn_trace *)owner)->cid_evs[val].vm, key);
}

static bool cid_eq(const void *owner, size_t val, const void *key)
{
	return ((const struct scn_trace *)owner)->cids[val].cid == *(const uint32_t *)key;
}

/* ---- lookups ------------------------------------------------------------------------------- */

enum scn_actor_kind scn_actor_kind_of(const char *label)
{
	static const struct {
		const char *word;
		enum scn_actor_kind kind;
	} words[] = {
	    {"scenario", SCN_ACTOR_SCENARIO}, {"client", SCN_ACTOR_CLIENT},
	    {"virtmgr", SCN_ACTOR_VIRTMGR},   {"virtualizationservice", SCN_ACTOR_VS},
	    {"vmm", SCN_ACTOR_VMM},           {"command", SCN_ACTOR_COMMAND},
	};

	if (!label)
		return SCN_ACTOR_UNKNOWN;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t n = strlen(words[i].word);

		if (!strncmp(label, words[i].word, n) && (label[n] == ' ' || !label[n]))
			return words[i].kind;
	}
	return SCN_ACTOR_UNKNOWN;
}

const char *scn_trace_rec_shown(const struct scn_trace_rec *r)
{
	const char *sp;
	size_t n;

	if (r->malformed || !r->label)
		return r->malformed ? r->line : r->text;
	sp = strchr(r->label, ' ');
	n = sp ? (size_t)(sp - r->label) : strlen(r->label);
	if ((strlen(r->actor) == n && !strncmp(r->actor, r->label, n)) ||
	    (scn_actor_kind_of(r->label) == SCN_ACTOR_VS && !strcmp(r->actor, "vs")))
		return r->text;
	return r->line;
}

size_t scn_trace_label_index(const struct scn_trace *t, const char *name)
{
	return scn_map_get(&t->label_map, scn_hash_str(name), label_eq, t, name);
}

static size_t pid_index(const struct scn_trace *t, int pid)
{
	return scn_map_get(&t->pid_map, scn_hash_u64((uint64_t)(unsigned)pid), pid_eq, t, &pid);
}

static size_t cid_index(const struct scn_trace *t, uint32_t cid)
{
	return scn_map_get(&t->cid_map, scn_hash_u64(cid), cid_eq, t, &cid);
}

size_t scn_trace_count(const struct scn_trace *t)
{
	return t->n;
}

const struct scn_trace_rec *scn_trace_at(const struct scn_trace *t, size_t seq)
{
	return seq < t->n ? scn_rec(t, seq) : NULL;
}

const char *scn_trace_label_of(const struct scn_trace *t, int pid)
{
	size_t i = pid_index(t, pid);

	if (i == SIZE_MAX || t->pids[i].label == SIZE_MAX)
		return NULL;
	return t->labels[t->pids[i].label].name;
}

uint32_t scn_trace_cid_of(const struct scn_trace *t, const char *vm)
{
	size_t i = scn_map_get(&t->vm_map, scn_hash_str(vm), vm_eq, t, vm);

	return i == SIZE_MAX ? 0 : t->cid_evs[i].cid;
}

const char *scn_trace_vm_of(const struct scn_trace *t, uint32_t cid)
{
	size_t i = cid_index(t, cid);

	return i == SIZE_MAX ? NULL : t->cid_evs[t->cids[i].latest_ev].vm;
}

const char *scn_trace_run_dir(const struct scn_trace *t)
{
	return t->n_run_dirs ? t->run_dirs[t->n_run_dirs - 1] : NULL;
}

const struct scn_cid_ev *scn_trace_vm_cid_at(const struct scn_trace *t, const char *vm, size_t seq)
{
	size_t i = scn_map_get(&t->vm_map, scn_hash_str(vm), vm_eq, t, vm);

	while (i != SIZE_MAX && t->cid_evs[i].seq > seq)
		i = t->cid_evs[i].prev_vm;
	return i == SIZE_MAX ? NULL : &t->cid_evs[i];
}

const struct scn_cid_ev *scn_trace_vm_first_cid(const struct scn_trace *t, const char *vm)
{
	size_t i = scn_map_get(&t->vm_map, scn_hash_str(vm), vm_eq, t, vm);

	while (i != SIZE_MAX && t->cid_evs[i].prev_vm != SIZE_MAX)
		i = t->cid_evs[i].prev_vm;
	return i == SIZE_MAX ? NULL : &t->cid_evs[i];
}

size_t scn_trace_cid_symbol(const struct scn_trace *t, uint32_t cid)
{
	size_t i = cid_index(t, cid);

	return i == SIZE_MAX ? 0 : i + 1;
}

const struct scn_trace_rec *scn_trace_find(const struct scn_trace *t, size_t from_seq,
					   const char *label, const char *substr)
{
	const char *want = NULL;

	if (label) {
		size_t li = scn_trace_label_index(t, label);

		if (li == SIZE_MAX)
			return NULL;
		want = t->labels[li].name; /* interned: compare pointers */
	}
	for (size_t s = from_seq; s < t->n; s++) {
		const struct scn_trace_rec *r = scn_rec(t, s);

		if (r->meta || (want && r->label != want))
			continue;
		if (!substr || !*substr || strstr(r->line, substr))
			return r;
	}
	return NULL;
}

/* ---- applying labels ----------------------------------------------------------------------- */

static size_t label_get_or_add(struct scn_trace *t, const char *name)
{
	size_t i = scn_trace_label_index(t, name), cap = t->n_labels;
	char *copy;

	if (i != SIZE_MAX)
		return i;
	/* labels grows one at a time; its capacity is its size rounded up to a power of 2 */
	if (cap && (cap & (cap - 1)))
		cap = (size_t)1 << (64 - __builtin_clzll(cap));
	if (grow(&t->labels, &cap, t->n_labels + 1, sizeof(*t->labels)) < 0)
		return SIZE_MAX;
	copy = strdup(name);
	if (!copy || scn_map_add(&t->label_map, scn_hash_str(name), t->n_labels) < 0) {
		free(copy);
		return SIZE_MAX;
	}
	t->labels[t->n_labels].name = copy;
	t->labels[t->n_labels].kind = scn_actor_kind_of(name);
	return t->n_labels++;
}

/* The same power-of-two growth for the other one-at-a-time arrays. */
static int push(void *v, size_t n, size_t size)
{
	size_t cap = n;

	if (cap && (cap & (cap - 1)))
		cap = (size_t)1 << (64 - __builtin_clzll(cap));
	return grow(v, &cap, n + 1, size);
}

static size_t pid_get_or_add(struct scn_trace *t, int pid)
{
	size_t i = pid_index(t, pid);

	if (i != SIZE_MAX)
		return i;
	if (push(&t->pids, t->n_pids, sizeof(*t->pids)) < 0 ||
	    scn_map_add(&t->pid_map, scn_hash_u64((uint64_t)(unsigned)pid), t->n_pids) < 0)
		return SIZE_MAX;
	t->pids[t->n_pids] = (struct scn_pid){pid, SIZE_MAX, SIZE_MAX};
	return t->n_pids++;
}

/* Give @pid the label @name from now on, and to its records that had none. */
static int assign(struct scn_trace *t, int pid, const char *name)
{
	size_t li = label_get_or_add(t, name), pi;
	struct scn_pid *p;

	if (li == SIZE_MAX || (pi = pid_get_or_add(t, pid)) == SIZE_MAX)
		return oom();
	p = &t->pids[pi];
	p->label = li;
	if (p->first_unlabelled != SIZE_MAX) {
		for (size_t s = p->first_unlabelled; s < t->n; s++) {
			struct scn_trace_rec *r = scn_rec(t, s);

			if (r->pid == pid && !r->label)
				r->label = t->labels[li].name;
		}
		p->first_unlabelled = SIZE_MAX;
	}
	return 0;
}

static int assign_vmm(struct scn_trace *t, int pid, const char *vm)
{
	size_t n = strlen(vm) + 5;
	char *name = malloc(n);
	int r;

	if (!name)
		return oom();
	snprintf(name, n, "vmm %s", vm);
	r = assign(t, pid, name);
	free(name);
	return r;
}

/* ---- meta lines ---------------------------------------------------------------------------- */

/* The next space-separated word of *@s: its start and length; *@s moves past it. */
static size_t word(const char **s, const char **ret)
{
	const char *p = *s;
	size_t n = 0;

	while (*p == ' ')
		p++;
	while (p[n] && p[n] != ' ')
		n++;
	*ret = p;
	*s = p + n;
	return n;
}

static int meta_run(struct scn_trace *t, const char *rest)
{
	size_t n;
	char *dir;

	while (*rest == ' ')
		rest++;
	n = strlen(rest);
	while (n && rest[n - 1] == ' ')
		n--;
	while (n > 1 && rest[n - 1] == '/')
		n--;
	/* "/" or a relative path would replace half of every line */
	if (n < 2 || rest[0] != '/')
		return 0;
	for (size_t i = 0; i < t->n_run_dirs; i++)
		if (strlen(t->run_dirs[i]) == n && !strncmp(t->run_dirs[i], rest, n))
			return 0;
	if (push(&t->run_dirs, t->n_run_dirs, sizeof(*t->run_dirs)) < 0 ||
	    !(dir = strndup(rest, n)))
		return oom();
	t->run_dirs[t->n_run_dirs++] = dir;
	return 0;
}

static int meta_actor(struct scn_trace *t, const char *rest)
{
	const char *w;
	size_t n = word(&rest, &w), len;
	uint64_t pid;
	char *label;
	int r;

	if (!n || scn_parse_uint(w, INT_MAX, &pid) != n || !pid)
		return 0;
	while (*rest == ' ')
		rest++;
	len = strlen(rest);
	while (len && rest[len - 1] == ' ')
		len--;
	if (!len)
		return 0;
	if (!(label = strndup(rest, len)))
		return oom();
	r = assign(t, (int)pid, label);
	free(label);
	return r;
}

/*
 * Every table grows by one entry at a time and counts it before the next allocation,
 * so a failed allocation leaves the tables consistent (an entry may miss from a map).
 */
static int meta_cid(struct scn_trace *t, size_t seq, const char *rest)
{
	const char *vm, *num, *extra;
	size_t nv = word(&rest, &vm), nn = word(&rest, &num), ci, ei, prev;
	struct scn_cid_ev *ev;
	uint64_t cid, h;

	if (!nv || !nn || word(&rest, &extra) || scn_parse_uint(num, UINT32_MAX, &cid) != nn ||
	    !cid)
		return 0;
	if (push(&t->cid_evs, t->n_cid_evs, sizeof(*t->cid_evs)) < 0)
		return oom();
	ev = &t->cid_evs[t->n_cid_evs];
	*ev = (struct scn_cid_ev){.seq = seq, .cid = (uint32_t)cid, .prev_vm = SIZE_MAX};
	if (!(ev->vm = strndup(vm, nv)))
		return oom();
	h = scn_hash_str(ev->vm);
	prev = scn_map_get(&t->vm_map, h, vm_eq, t, ev->vm);
	ei = t->n_cid_evs++;
	if (prev == SIZE_MAX) {
		if (scn_map_add(&t->vm_map, h, ei) < 0)
			return oom();
	} else {
		ev->prev_vm = prev;
		scn_map_set(&t->vm_map, h, vm_eq, t, ev->vm, ei);
	}
	ci = cid_index(t, ev->cid);
	if (ci == SIZE_MAX) {
		if (push(&t->cids, t->n_cids, sizeof(*t->cids)) < 0)
			return oom();
		t->cids[t->n_cids] = (struct scn_cid){ev->cid, ei};
		ci = t->n_cids++;
		if (scn_map_add(&t->cid_map, scn_hash_u64(ev->cid), ci) < 0)
			return oom();
	}
	t->cids[ci].latest_ev = ei;

	/* VMMs started before the runner told us whose CID this is */
	for (size_t i = 0; i < t->n_pending;) {
		if (t->pending[i].cid == ev->cid) {
			int r = assign_vmm(t, t->pending[i].pid, t->cid_evs[ei].vm);

			if (r < 0)
				return r;
			t->pending[i] = t->pending[--t->n_pending];
		} else {
			i++;
		}
	}
	return 0;
}

/* "VMM started (pid <p>)" at @s, followed by nothing or a space. */
static bool parse_vmm_started(const char *s, int *ret_pid)
{
	static const char prefix[] = "VMM started (pid ";
	uint64_t pid;
	size_t n;

	if (strncmp(s, prefix, sizeof(prefix) - 1))
		return false;
	s += sizeof(prefix) - 1;
	n = scn_parse_uint(s, INT_MAX, &pid);
	if (!n || !pid || s[n] != ')' || (s[n + 1] && s[n + 1] != ' '))
		return false;
	*ret_pid = (int)pid;
	return true;
}

static int vmm_started(struct scn_trace *t, const struct scn_trace_rec *r)
{
	const char *s = r->text;
	uint32_t cid;
	size_t ci;
	int pid;

	if (!scn_parse_vm_word(r->actor, 0, &cid)) {
		/* the CID in the text of a virtmgr line: "vm:<cid> VMM started (pid p)" */
		const char *sp = strchr(s, ' ');

		if (scn_actor_kind_of(r->label) != SCN_ACTOR_VIRTMGR || !sp ||
		    !scn_parse_vm_word(s, (size_t)(sp - s), &cid))
			return 0;
		s = sp + 1;
	}
	if (!parse_vmm_started(s, &pid))
		return 0;
	ci = cid_index(t, cid);
	if (ci != SIZE_MAX)
		return assign_vmm(t, pid, t->cid_evs[t->cids[ci].latest_ev].vm);
	if (push(&t->pending, t->n_pending, sizeof(*t->pending)) < 0)
		return oom();
	t->pending[t->n_pending++] = (struct scn_pending_vmm){cid, pid};
	return 0;
}

static int apply_meta(struct scn_trace *t, const struct scn_trace_rec *r)
{
	const char *rest = r->text + 1, *w;
	size_t n = word(&rest, &w);

	if (n == 3 && !strncmp(w, "run", 3))
		return meta_run(t, rest);
	if (n == 5 && !strncmp(w, "actor", 5))
		return meta_actor(t, rest);
	if (n == 3 && !strncmp(w, "cid", 3))
		return meta_cid(t, r->seq, rest);
	return 0;
}

/* ---- lines --------------------------------------------------------------------------------- */

/* Parse "<sec>.<nsec> <pid> <actor>[ <text>]" into the header fields; false if malformed. */
static bool parse_head(const char *p, uint64_t *ret_t, int *ret_pid, size_t *ret_off)
{
	uint64_t sec, frac, pid;
	size_t i = 0, n, nd;

	if (!(n = scn_parse_uint(p, UINT64_MAX / 1000000000ull - 1, &sec)) || p[n] != '.')
		return false;
	i = n + 1;
	nd = scn_parse_uint(p + i, 999999999, &frac);
	if (!nd || nd > 9 || p[i + nd] != ' ')
		return false;
	for (size_t k = nd; k < 9; k++)
		frac *= 10;
	i += nd + 1;
	if (!(n = scn_parse_uint(p + i, INT_MAX, &pid)) || !pid || p[i + n] != ' ')
		return false;
	i += n + 1;
	if (!p[i] || p[i] == ' ')
		return false;
	*ret_t = sec * 1000000000ull + frac;
	*ret_pid = (int)pid;
	*ret_off = i;
	return true;
}

static struct scn_trace_rec *new_rec(struct scn_trace *t)
{
	if (t->n == t->n_blocks * SCN_REC_BLOCK) {
		struct scn_trace_rec *b = calloc(SCN_REC_BLOCK, sizeof(*b));

		if (!b || push(&t->blocks, t->n_blocks, sizeof(*t->blocks)) < 0) {
			free(b);
			return NULL;
		}
		t->blocks[t->n_blocks++] = b;
	}
	return scn_rec(t, t->n);
}

/* One line (without its newline) becomes the next record. */
static int add_line(struct scn_trace *t, const char *p, size_t len)
{
	struct scn_trace_rec *r = new_rec(t);
	size_t off = 0, pi;
	char *buf;
	int e = 0;

	/* buf: "<line>\0<actor>\0", the line first (free(r->line) frees both) */
	if (!r || !(buf = malloc(2 * len + 2)))
		return oom();
	memcpy(buf, p, len);
	buf[len] = '\0';
	*r = (struct scn_trace_rec){.seq = t->n};
	r->malformed = memchr(p, '\0', len) != NULL;
	for (size_t i = 0; i < len; i++)
		if (!buf[i])
			buf[i] = '?';
	if (!r->malformed)
		r->malformed = !parse_head(buf, &r->t_ns, &r->pid, &off);
	if (r->malformed) {
		r->pid = 0;
		r->t_ns = 0;
		buf[len + 1] = '\0';
		r->line = r->text = buf;
		r->actor = buf + len + 1;
		t->n++;
		return 1;
	}
	size_t l = len - off, alen = strcspn(buf + off, " ");
	char *actor = buf + l + 1;

	memmove(buf, buf + off, l + 1);
	memcpy(actor, buf, alen);
	actor[alen] = '\0';
	r->line = buf;
	r->actor = actor;
	r->text = buf + alen + (buf[alen] == ' ');
	t->n++;

	pi = pid_index(t, r->pid);
	if (pi != SIZE_MAX && t->pids[pi].label != SIZE_MAX) {
		r->label = t->labels[t->pids[pi].label].name;
	} else {
		if (pi == SIZE_MAX && (pi = pid_get_or_add(t, r->pid)) == SIZE_MAX)
			return oom();
		if (t->pids[pi].first_unlabelled == SIZE_MAX)
			t->pids[pi].first_unlabelled = r->seq;
	}
	if (!strcmp(r->actor, "scenario") && r->text[0] == '@') {
		r->meta = true;
		e = apply_meta(t, r);
	} else {
		e = vmm_started(t, r);
	}
	return e < 0 ? e : 1;
}

int scn_trace_feed(struct scn_trace *t, const char *buf, size_t len)
{
	int added = 0, r;

	while (len) {
		const char *nl = memchr(buf, '\n', len);
		size_t n = nl ? (size_t)(nl - buf) : len;

		if (!nl || t->partial_len) {
			if (grow(&t->partial, &t->partial_cap, t->partial_len + n + 1, 1) < 0)
				return oom();
			memcpy(t->partial + t->partial_len, buf, n);
			t->partial_len += n;
		}
		if (!nl)
			break;
		if (t->partial_len) {
			r = add_line(t, t->partial, t->partial_len);
			t->partial_len = 0;
		} else {
			r = add_line(t, buf, n);
		}
		if (r < 0)
			return r;
		added += r;
		buf += n + 1;
		len -= n + 1;
	}
	return added;
}

int scn_trace_finish(struct scn_trace *t)
{
	int r;

	if (!t->partial_len)
		return 0;
	r = add_line(t, t->partial, t->partial_len);
	t->partial_len = 0;
	return r;
}

int scn_trace_new(struct scn_trace **ret)
{
	struct scn_trace *t = calloc(1, sizeof(*t));

	if (!t)
		return oom();
	t->fd = -1;
	*ret = t;
	return 0;
}

int scn_trace_open(const char *path, struct scn_trace **ret)
{
	struct scn_trace *t;
	int r = scn_trace_new(&t);

	if (r < 0)
		return r;
	if (!(t->path = strdup(path))) {
		r = oom();
		goto fail;
	}
	t->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (t->fd < 0) {
		r = avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "cannot open trace file '%s': %s",
				path, strerror(errno));
		goto fail;
	}
	*ret = t;
	return 0;
fail:
	scn_trace_free(t);
	return r;
}

int scn_trace_update(struct scn_trace *t)
{
	char buf[65536];
	int added = 0;

	if (t->fd < 0)
		return 0;
	for (;;) {
		ssize_t n = pread(t->fd, buf, sizeof(buf), t->off);
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC,
					   "cannot read trace file '%s': %s", t->path,
					   strerror(errno));
		if (n == 0)
			return added;
		t->off += n;
		r = scn_trace_feed(t, buf, (size_t)n);
		if (r < 0)
			return r;
		added += r;
	}
}

int scn_trace_load(const char *path, struct scn_trace **ret)
{
	struct scn_trace *t;
	int r = scn_trace_open(path, &t);

	if (r < 0)
		return r;
	if ((r = scn_trace_update(t)) < 0 || (r = scn_trace_finish(t)) < 0) {
		scn_trace_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

struct scn_trace *scn_trace_free(struct scn_trace *t)
{
	if (!t)
		return NULL;
	if (t->fd >= 0)
		close(t->fd);
	free(t->path);
	free(t->partial);
	for (size_t s = 0; s < t->n; s++)
		free((char *)scn_rec(t, s)->line);
	for (size_t b = 0; b < t->n_blocks; b++)
		free(t->blocks[b]);
	free(t->blocks);
	for (size_t i = 0; i < t->n_labels; i++)
		free(t->labels[i].name);
	free(t->labels);
	scn_map_clear(&t->label_map);
	free(t->pids);
	scn_map_clear(&t->pid_map);
	for (size_t i = 0; i < t->n_cid_evs; i++)
		free(t->cid_evs[i].vm);
	free(t->cid_evs);
	scn_map_clear(&t->vm_map);
	free(t->cids);
	scn_map_clear(&t->cid_map);
	free(t->pending);
	for (size_t i = 0; i < t->n_run_dirs; i++)
		free(t->run_dirs[i]);
	free(t->run_dirs);
	free(t);
	return NULL;
}
