/* SPDX-License-Identifier: Apache-2.0 */
#include "service/vs_registry.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "base/fs_util.h"
#include "cid/cid_alloc.h"

struct vs_ctx {
	uint64_t holder;
	struct vs_vm_row row;
	char *name;
	char *temp_dir;
	struct vs_ctx *prev, *next; /* grant order */
};

struct vs_registry {
	char *state_dir;
	char *vm_dir;
	struct cid_alloc *cids;
	uint32_t cid_min, cid_max;
	struct vs_ctx **by_cid; /* index cid - cid_min: O(1) lookup */
	struct vs_ctx *head, *tail;
	size_t n;
	const struct trace *trace;
	char note[512];
};

static char *path_join(const char *a, const char *b)
{
	char *p;

	if (asprintf(&p, "%s/%s", a, b) < 0)
		return NULL;
	return p;
}

int vs_registry_new(const char *state_dir, uint32_t cid_min, uint32_t cid_max,
		    const struct trace *tr, struct vs_registry **ret)
{
	struct vs_registry *r = calloc(1, sizeof(*r));
	char *cid_path = NULL;
	int e, stale = 0;

	if (!r)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	r->trace = tr;
	r->cid_min = cid_min;
	r->cid_max = cid_max;
	if (state_dir) {
		r->state_dir = strdup(state_dir);
		r->vm_dir = path_join(state_dir, "vm");
		cid_path = path_join(state_dir, "last_cid");
		if (!r->state_dir || !r->vm_dir || !cid_path) {
			e = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
			goto fail;
		}
		/* Stale per-VM dirs belong to a previous instance: no holder can use them. */
		stale = fs_count_entries(r->vm_dir);
		if (stale < 0)
			stale = 0;
		if ((e = fs_remove_tree(r->vm_dir)) < 0 || (e = fs_mkdir_p(r->vm_dir, 0700)) < 0)
			goto fail;
	}
	if ((e = cid_alloc_new(cid_min, cid_max, cid_path, &r->cids)) < 0)
		goto fail;
	r->by_cid = calloc((size_t)(cid_max - cid_min) + 1, sizeof(*r->by_cid));
	if (!r->by_cid) {
		e = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
		goto fail;
	}
	snprintf(r->note, sizeof(r->note), "%s%s%s", cid_alloc_load_note(r->cids) ?: "",
		 cid_alloc_load_note(r->cids) && stale ? "; " : "",
		 stale ? "removed stale VM temp dirs" : "");
	if (stale)
		snprintf(r->note + strlen(r->note), sizeof(r->note) - strlen(r->note), " (%d)",
			 stale);
	free(cid_path);
	*ret = r;
	return 0;
fail:
	free(cid_path);
	vs_registry_free(r);
	return e;
}

static void ctx_free(struct vs_registry *r, struct vs_ctx *c)
{
	if (c->temp_dir)
		fs_remove_tree(c->temp_dir); /* best effort; a leftover is wiped at next start */
	cid_alloc_release(r->cids, c->row.cid);
	r->by_cid[c->row.cid - r->cid_min] = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		r->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		r->tail = c->prev;
	r->n--;
	trace_emitf(r->trace, "vs", "cid %u released", c->row.cid);
	free(c->name);
	free(c->temp_dir);
	free(c);
}

struct vs_registry *vs_registry_free(struct vs_registry *r)
{
	if (!r)
		return NULL;
	while (r->head)
		ctx_free(r, r->head);
	free(r->by_cid);
	cid_alloc_free(r->cids);
	free(r->state_dir);
	free(r->vm_dir);
	free(r);
	return NULL;
}

const char *vs_registry_start_note(const struct vs_registry *r)
{
	return r->note[0] ? r->note : NULL;
}

/*
 * Record a context for @cid, which the allocator already holds; on failure the CID
 * is released again. @fresh: remove a leftover dir of that CID first (a new grant)
 * rather than keep it (a claim).
 */
static int ctx_add(struct vs_registry *r, uint64_t holder, uid_t uid, pid_t pid, const char *name,
		   uint32_t cid, bool fresh, const char **ret_temp_dir)
{
	struct vs_ctx *c = calloc(1, sizeof(*c));
	char num[16];
	int e = 0;

	if (!c || !(c->name = strdup(name ? name : ""))) {
		e = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
		goto fail;
	}
	if (r->vm_dir) {
		snprintf(num, sizeof(num), "%u", cid);
		c->temp_dir = path_join(r->vm_dir, num);
		/* A grant removes a leftover dir of its CID first, as AVF does; a claim
		 * keeps it: it may hold the files of the VM being re-registered. */
		if (!c->temp_dir)
			e = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
		else if (fresh)
			e = fs_remove_tree(c->temp_dir);
		if (e == 0 && mkdir(c->temp_dir, 0700) < 0 && (fresh || errno != EEXIST))
			e = avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC,
					"cannot create VM temp dir '%s': %s", c->temp_dir,
					strerror(errno));
		/* The requester owns its VM's files (AVF chowns to the requester uid). */
		if (e == 0 && geteuid() == 0 && uid != 0 && chown(c->temp_dir, uid, (gid_t)-1) < 0)
			e = avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "cannot chown '%s': %s",
					c->temp_dir, strerror(errno));
		if (e < 0) {
			if (c->temp_dir && fresh)
				rmdir(c->temp_dir);
			goto fail;
		}
	}
	c->holder = holder;
	c->row = (struct vs_vm_row){ .cid = cid, .state = AVF_VM_STATE_NOT_STARTED,
				     .requester_uid = uid, .requester_pid = pid, .name = c->name,
				     .temp_dir = c->temp_dir };
	r->by_cid[cid - r->cid_min] = c;
	c->prev = r->tail;
	if (r->tail)
		r->tail->next = c;
	else
		r->head = c;
	r->tail = c;
	r->n++;
	if (ret_temp_dir)
		*ret_temp_dir = c->temp_dir;
	return 0;
fail:
	cid_alloc_release(r->cids, cid);
	if (c) {
		free(c->temp_dir);
		free(c->name);
		free(c);
	}
	return e;
}

int vs_registry_allocate(struct vs_registry *r, uint64_t holder, uid_t uid, pid_t pid,
			 const char *name, uint32_t *ret_cid, const char **ret_temp_dir)
{
	uint32_t cid;
	int e;

	if ((e = cid_alloc_grant(r->cids, &cid)) < 0 ||
	    (e = ctx_add(r, holder, uid, pid, name, cid, true, ret_temp_dir)) < 0)
		return e;
	trace_emitf(r->trace, "vs", "cid %u granted", cid);
	*ret_cid = cid;
	return 0;
}

int vs_registry_claim(struct vs_registry *r, uint64_t holder, uid_t uid, pid_t pid,
		      const char *name, uint32_t cid, const char **ret_temp_dir)
{
	int e;

	if ((e = cid_alloc_claim(r->cids, cid)) < 0 ||
	    (e = ctx_add(r, holder, uid, pid, name, cid, false, ret_temp_dir)) < 0)
		return e;
	trace_emitf(r->trace, "vs", "cid %u claimed", cid);
	return 0;
}

static int lookup(struct vs_registry *r, uint64_t holder, uint32_t cid, struct vs_ctx **ret)
{
	struct vs_ctx *c = NULL;

	if (cid >= r->cid_min && cid <= r->cid_max)
		c = r->by_cid[cid - r->cid_min];
	if (!c)
		return avf_err_set(-ENOENT, AVF_EX_ILLEGAL_ARGUMENT, "no VM context with CID %u", cid);
	if (c->holder != holder)
		return avf_err_set(-EPERM, AVF_EX_SECURITY, "VM context %u belongs to another client",
				   cid);
	*ret = c;
	return 0;
}

int vs_registry_release(struct vs_registry *r, uint64_t holder, uint32_t cid)
{
	struct vs_ctx *c;
	int e = lookup(r, holder, cid, &c);

	if (e < 0)
		return e;
	ctx_free(r, c);
	return 0;
}

unsigned vs_registry_release_holder(struct vs_registry *r, uint64_t holder)
{
	unsigned n = 0;

	for (struct vs_ctx *c = r->head, *next; c; c = next) {
		next = c->next;
		if (c->holder == holder) {
			ctx_free(r, c);
			n++;
		}
	}
	return n;
}

int vs_registry_set_state(struct vs_registry *r, uint64_t holder, uint32_t cid,
			  enum avf_vm_state state)
{
	struct vs_ctx *c;
	int e = lookup(r, holder, cid, &c);

	if (e < 0)
		return e;
	c->row.state = state;
	return 0;
}

size_t vs_registry_count(const struct vs_registry *r)
{
	return r->n;
}

size_t vs_registry_list(const struct vs_registry *r, struct vs_vm_row *out, size_t max)
{
	size_t i = 0;

	for (const struct vs_ctx *c = r->head; c; c = c->next, i++)
		if (i < max)
			out[i] = c->row;
	return r->n;
}
