/* SPDX-License-Identifier: Apache-2.0 */
#include "service/early_context.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "base/fs_util.h"
#include "service/early_caller.h"

#define ACTOR "early_virtmgr"

/* One CID this context granted: its lock fd and temp dir. */
struct held {
	uint32_t cid;
	int lock_fd;
	char *temp_dir;
};

struct early_context {
	struct early_context_params p;
	struct held *held;
	size_t n_held;
};

int early_context_default_base(char **ret)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char *base;

	if (asprintf(&base, "%s/avf/early", xdg && *xdg ? xdg : "/run") < 0)
		return avf_err_service(-ENOMEM, "out of memory");
	*ret = base;
	return 0;
}

int early_context_new(const struct early_context_params *p, struct early_context **ret)
{
	struct early_context *c;

	if (!p || !p->vms || !p->lock_dir || !p->early_dir || (!p->caller_path && !p->caller_error))
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "early_context needs declarations, directories and the caller "
				   "(or why it is unknown)");
	c = calloc(1, sizeof(*c));
	if (!c)
		return avf_err_service(-ENOMEM, "out of memory");
	c->p = *p;
	*ret = c;
	return 0;
}

static struct held *find_held(struct early_context *c, uint32_t cid)
{
	for (size_t i = 0; i < c->n_held; i++)
		if (c->held[i].cid == cid)
			return &c->held[i];
	return NULL;
}

/* Whether @problem is about one of @part's files: "<root>/P/etc/avf[/file]:line: ...". */
static bool problem_of(const char *problem, const char *dir)
{
	size_t len = strlen(dir);

	for (const char *at = strstr(problem, dir); at; at = strstr(at + 1, dir))
		if (at[len] == '/' || at[len] == ':')
			return true;
	return false;
}

/* "CID validation for P failed: <P's problems>", as much as the message holds. */
static int unusable_error(struct early_context *c, enum early_partition part)
{
	const struct early_vms *v = c->p.vms;
	const char *pname = early_partition_name(part);
	char dir[64], msg[AVF_ERR_MSG_MAX];
	size_t used, matched = 0;

	/* Problems carry no partition; the loader names them by P's files and dir. */
	snprintf(dir, sizeof(dir), "/%s/etc/avf", pname);
	used = (size_t)snprintf(msg, sizeof(msg), "CID validation for %s failed", pname);
	for (size_t i = 0; i < v->n_problems && used < sizeof(msg); i++) {
		if (!problem_of(v->problems[i], dir))
			continue;
		used += (size_t)snprintf(msg + used, sizeof(msg) - used, "%s%s",
					 matched++ ? "; " : ": ", v->problems[i]);
	}
	return avf_err_service(-EINVAL, "%s", msg);
}

/* Exactly one entry named @name in @part. */
static int find_entry(struct early_context *c, enum early_partition part, const char *name,
		      const struct early_vm_entry **ret)
{
	const struct early_vms *v = c->p.vms;
	const struct early_vm_entry *found = NULL;

	for (size_t i = 0; i < v->n; i++) {
		if (v->vms[i].partition != part || strcmp(v->vms[i].name, name) != 0)
			continue;
		if (found)
			return avf_err_service(-EEXIST, "Multiple VMs named '%s' are found", name);
		found = &v->vms[i];
	}
	if (!found)
		return avf_err_service(-ENOENT, "Can't find a VM named '%s'", name);
	*ret = found;
	return 0;
}

/* The pid a holder wrote into its lock file; 0 if none can be read (yet). */
static long lock_holder_pid(int fd)
{
	char buf[32], *end;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	return end != buf && *end == '\n' && pid > 0 ? pid : 0;
}

static int lock_cid(struct early_context *c, uint32_t cid, int *ret_fd)
{
	char path[4096], pid[32];
	long holder;
	int fd, r, len;

	if (find_held(c, cid))
		return avf_err_set(-EBUSY, AVF_EX_ILLEGAL_STATE,
				   "early CID %" PRIu32 " is already in use by this early_virtmgr",
				   cid);
	if ((r = fs_mkdir_p(c->p.lock_dir, 0700)) < 0)
		return r;
	if ((size_t)snprintf(path, sizeof(path), "%s/%" PRIu32 ".lock", c->p.lock_dir, cid) >=
	    sizeof(path))
		return avf_err_service(-ENAMETOOLONG, "lock dir '%s' is too long", c->p.lock_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return avf_err_service(-errno,
				       "cannot open the lock of early CID %" PRIu32 " '%s': %s",
				       cid, path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		holder = e == EWOULDBLOCK ? lock_holder_pid(fd) : 0;
		close(fd);
		if (e != EWOULDBLOCK)
			return avf_err_service(-e, "cannot lock '%s': %s", path, strerror(e));
		if (holder)
			return avf_err_set(-EBUSY, AVF_EX_ILLEGAL_STATE,
					   "early CID %" PRIu32
					   " is in use by another early_virtmgr "
					   "(pid %ld)",
					   cid, holder);
		return avf_err_set(-EBUSY, AVF_EX_ILLEGAL_STATE,
				   "early CID %" PRIu32 " is in use by another early_virtmgr", cid);
	}
	/* Only for the message above: the lock, not the file's content, is the truth. */
	len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len)
		trace_emitf(c->p.trace, ACTOR, "cannot write pid into '%s': %s", path,
			    strerror(errno));
	*ret_fd = fd;
	return 0;
}

static void unlock_cid(int fd)
{
	/* No stale pid for the next "in use" message; advisory, so a failure is ignored. */
	int r = ftruncate(fd, 0);

	(void)r;
	close(fd); /* drops the lock */
}

/* <early_dir>/<cid>, removed entirely and created empty (AVF: /mnt/vm/early/<cid>). */
static int make_temp_dir(struct early_context *c, uint32_t cid, char **ret)
{
	char *dir;
	int r;

	if ((r = fs_mkdir_p(c->p.early_dir, 0700)) < 0)
		return r;
	if (asprintf(&dir, "%s/%" PRIu32, c->p.early_dir, cid) < 0)
		return avf_err_service(-ENOMEM, "out of memory");
	/* AVF ignores a failed removal; we refuse: a VM must never start with stale files. */
	r = fs_remove_tree(dir);
	if (r == 0 && mkdir(dir, 0700) < 0)
		r = avf_err_service(-errno, "cannot create the temp dir '%s': %s", dir,
				    strerror(errno));
	if (r < 0) {
		free(dir);
		return r;
	}
	*ret = dir;
	return 0;
}

/* Steps 1-6 of early_context.h: the caller and its declaration. */
static int match(struct early_context *c, const char *vm_name, const struct early_vm_entry **ret)
{
	const struct early_vm_entry *e = NULL;
	enum early_partition part;
	int r;

	/* The order is the contract (early_context.h): who, then which VM. */
	if (c->p.caller_pid > 0 && (r = early_caller_check_caps(c->p.caller_pid)) < 0)
		return r;
	if (!c->p.caller_path)
		return avf_err_service(-EPERM, "%s", c->p.caller_error);
	if ((r = early_caller_partition(c->p.caller_path, &part)) < 0)
		return r;
	if (c->p.vms->unusable[part])
		return unusable_error(c, part);
	if ((r = find_entry(c, part, vm_name, &e)) < 0)
		return r;
	/* Exact equality (A16 as released); AVF's words (newer main, which also strips /system). */
	if (strcmp(e->path, c->p.caller_path) != 0)
		return avf_err_service(-EPERM,
				       "Early VM '%s' executable paths do not match. Expected: %s. "
				       "Found: \"%s\".",
				       vm_name, e->path, c->p.caller_path);
	*ret = e;
	return 0;
}

/* Steps 7-8: the CID's lock and temp dir, recorded as held. */
static int grant(struct early_context *c, uint32_t cid, char **ret_temp_dir)
{
	struct held h = {.cid = cid, .lock_fd = -1};
	struct held *grown;
	char *copy = NULL;
	int r;

	if ((r = lock_cid(c, cid, &h.lock_fd)) < 0)
		return r;
	if ((r = make_temp_dir(c, cid, &h.temp_dir)) < 0)
		goto fail;
	grown = realloc(c->held, (c->n_held + 1) * sizeof(*c->held));
	if (grown)
		c->held = grown;
	copy = strdup(h.temp_dir);
	if (!grown || !copy) {
		r = avf_err_service(-ENOMEM, "out of memory");
		goto fail;
	}
	c->held[c->n_held++] = h;
	*ret_temp_dir = copy;
	return 0;
fail:
	free(copy);
	if (h.temp_dir) {
		fs_remove_tree(h.temp_dir);
		free(h.temp_dir);
	}
	unlock_cid(h.lock_fd);
	return r;
}

static int early_acquire(void *data, const char *name, uint32_t *ret_cid, char **ret_temp_dir)
{
	struct early_context *c = data;
	const char *vm_name = name ? name : "";
	const struct early_vm_entry *e = NULL;
	int r;

	r = match(c, vm_name, &e);
	if (r == 0)
		r = grant(c, e->cid, ret_temp_dir);
	if (r < 0) {
		trace_emitf(c->p.trace, ACTOR, "early VM '%s' refused: %s", vm_name,
			    avf_err_last()->msg);
		return r;
	}
	trace_emitf(c->p.trace, ACTOR, "early cid %" PRIu32 " granted: '%s' of %s for %s", e->cid,
		    vm_name, early_partition_name(e->partition), c->p.caller_path);
	*ret_cid = e->cid;
	return 0;
}

static void release_held(struct early_context *c, struct held *h)
{
	struct avf_error saved = *avf_err_last();

	/* Cannot fail the caller (a VM exit): a leftover dir is emptied at the next grant. */
	if (fs_remove_tree(h->temp_dir) < 0)
		trace_emitf(c->p.trace, ACTOR, "early cid %" PRIu32 ": %s", h->cid,
			    avf_err_last()->msg);
	avf_err_restore(&saved);
	unlock_cid(h->lock_fd);
	trace_emitf(c->p.trace, ACTOR, "early cid %" PRIu32 " released", h->cid);
	free(h->temp_dir);
	*h = c->held[--c->n_held];
}

static void early_release(void *data, uint32_t cid)
{
	struct early_context *c = data;
	struct held *h = find_held(c, cid);

	if (h)
		release_held(c, h);
}

struct early_context *early_context_free(struct early_context *c)
{
	if (!c)
		return NULL;
	while (c->n_held)
		release_held(c, &c->held[c->n_held - 1]);
	free(c->held);
	free(c);
	return NULL;
}

const struct vmgr_context_ops early_context_ops = {
    .acquire = early_acquire,
    .release = early_release,
};
