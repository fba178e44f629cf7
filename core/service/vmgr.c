/* SPDX-License-Identifier: Apache-2.0 */
#include "service/vmgr.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "base/fs_util.h"
#include "disk/cdisk_build.h"

/* Per-VM state the manager keeps; owned by the VM record (freed in its dispose). */
struct vmgr_vm {
	struct vmgr *mgr;
	struct vm *vm; /* not a reference: the record owns this entry */
	struct vm_config config;
	char *temp_dir;
	struct backend_plan *plan; /* prepared at createVm, consumed by start */
	struct vmgr_vm_fds fds;    /* createVm's; closed after the spawn attempt */
	/* config.disks as the backend gets them (vmgr_composite_disk); their fds are the
	 * config's or the composites', closed after the spawn attempt with the config's. */
	struct backend_disk *disks;
	struct cdisk_built *composites; /* per disk: its composite's fds, -1s: none */
	int *indirect_fds;  /* every disk's indirect files, back to back (numbers only) */
	unsigned n_composites; /* composite-0 .. composite-<n-1> made in the VM's dir */
	char *own_dir; /* the composites' dir when the context gave no temp dir */
	struct backend_child *child;
	struct loop_source *hangup_timer;
	enum avf_vm_state reported; /* last state given to context->set_state */
	struct vmgr_vm *prev, *next;
};

struct vmgr {
	struct vmgr_params p;
	struct vmgr_vm *head, *tail;
	size_t n_vms;
};

int vmgr_new(const struct vmgr_params *p, struct vmgr **ret)
{
	struct vmgr *m;

	if (!p->loop || !p->backend || !p->context || !p->context->acquire || !p->context->release)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "vmgr needs a loop, a backend and a context provider");
	m = calloc(1, sizeof(*m));
	if (!m)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	m->p = *p;
	if (!m->p.boot_hangup_ns)
		m->p.boot_hangup_ns = VMGR_BOOT_HANGUP_NS;
	*ret = m;
	return 0;
}

struct vmgr *vmgr_free(struct vmgr *m)
{
	if (!m)
		return NULL;
	assert(m->n_vms == 0 && "vmgr_free with VMs still referenced");
	free(m);
	return NULL;
}

static void close_fds(struct vmgr_vm_fds *fds)
{
	int *all[] = {&fds->console_out, &fds->console_in, &fds->log};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (*all[i] >= 0)
			close(*all[i]);
		*all[i] = -1;
	}
}

/* The VM's files: the VMM has its own copies after the spawn attempt, or never will. */
static void close_files(struct vmgr_vm *e)
{
	close_fds(&e->fds);
	vm_config_close_files(&e->config);
	for (size_t d = 0; e->composites && d < e->config.n_disks; d++)
		cdisk_built_close(&e->composites[d]);
}

static void free_disks(struct vmgr_vm *e)
{
	free(e->disks);
	free(e->composites);
	free(e->indirect_fds);
	e->disks = NULL;
	e->composites = NULL;
	e->indirect_fds = NULL;
}

/*
 * The composites' files go with the VM's context (avf-spec 5.3: AVF empties the temp
 * dir; virtualizationservice removes the dir itself when the context is released, but
 * over IPC and later): ours are unlinked here, a dir of our own removed whole.
 */
static void remove_composites(struct vmgr_vm *e)
{
	char name[CDISK_BUILD_NAME_MAX], path[4096];
	static const enum cdisk_build_file files[] = {CDISK_FILE_SPEC, CDISK_FILE_HEADER,
						      CDISK_FILE_FOOTER};

	if (e->own_dir) {
		fs_remove_tree(e->own_dir);
		free(e->own_dir);
		e->own_dir = NULL;
		return;
	}
	for (unsigned n = 0; e->temp_dir && n < e->n_composites; n++)
		for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
			snprintf(path, sizeof(path), "%s/%s", e->temp_dir,
				 cdisk_build_name(n, files[f], name));
			unlink(path);
		}
	if (e->temp_dir && e->n_composites) {
		snprintf(path, sizeof(path), "%s/%s", e->temp_dir,
			 cdisk_build_name(0, CDISK_FILE_ZERO, name));
		unlink(path); /* ENOENT: no composite needed it */
	}
	e->n_composites = 0;
}

static void entry_dispose(struct vm *vm, void *owner)
{
	struct vmgr_vm *e = owner;
	struct vmgr *m = e->mgr;

	e->hangup_timer = loop_source_free(e->hangup_timer);
	if (e->child)
		e->child = m->p.backend->ops->child_free(e->child);
	backend_plan_free(e->plan);
	close_files(e);
	remove_composites(e);
	free_disks(e);
	m->p.context->release(m->p.context_data, vm_cid(vm));
	if (e->prev)
		e->prev->next = e->next;
	else
		m->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		m->tail = e->prev;
	m->n_vms--;
	vm_config_clear(&e->config);
	free(e->temp_dir);
	free(e);
}

/* Tell the context provider about a state change, once per change. */
static void report_state(struct vmgr_vm *e, enum avf_vm_state state)
{
	struct vmgr *m = e->mgr;

	if (state == e->reported || !m->p.context->set_state)
		return;
	e->reported = state;
	m->p.context->set_state(m->p.context_data, vm_cid(e->vm), state);
}

/*
 * Report the state @ev is about to lead to, before the event's callbacks run: a
 * callback may cause the next change (stop() from onPayloadReady, dropping the
 * last handle from onDied), and the provider must see the changes in order. The
 * state machine is a pure function, so the prediction is exactly what the event
 * will do; a refused event reports nothing.
 */
static void report_next(struct vmgr_vm *e, enum vm_event ev)
{
	struct vm_status next;

	if (vm_status_apply(vm_status(e->vm), ev, &next) == 0)
		report_state(e, vm_status_public(&next));
}

/* Kill a running VM; returns after its exit was processed (onDied queued). */
static int entry_kill(struct vmgr_vm *e)
{
	int r = vm_apply(e->vm, VM_EV_STOP);

	if (r < 0)
		return r;
	return e->mgr->p.backend->ops->kill(e->child);
}

static void handle_last_unref(struct vm *vm, void *data)
{
	struct vmgr_vm *e = data;

	trace_emitf(e->mgr->p.trace, "virtmgr", "last handle of vm:%u dropped", vm_cid(vm));
	if (vm_status(vm)->run == VM_RUN_RUNNING)
		entry_kill(e); /* cannot fail for a running VM but by a backend bug; nothing to tell */
}

/*
 * The directory a VM's composites go in: its temp dir (avf-spec 8.1), or, when the
 * context provider gives none (the in-process local context: AVF_VS_SOCKET=local,
 * unit tests), one of the VM's own under $TMPDIR, made on first use and removed with
 * the VM. -errno with a message.
 */
static int composite_dir(struct vmgr_vm *e, int *ret_fd)
{
	const char *tmp = getenv("TMPDIR"), *dir = e->temp_dir;
	int fd;

	if (!dir && !e->own_dir) {
		if (asprintf(&e->own_dir, "%s/avf-vm%u-XXXXXX", tmp && *tmp ? tmp : "/tmp",
			     vm_cid(e->vm)) < 0) {
			e->own_dir = NULL;
			return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
		}
		if (!mkdtemp(e->own_dir)) {
			int err = errno;

			avf_err_service(-err, "cannot create a directory for composite disks "
					      "('%s'): %s", e->own_dir, strerror(err));
			free(e->own_dir);
			e->own_dir = NULL;
			return -err;
		}
	}
	if (!dir)
		dir = e->own_dir;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return avf_err_service(-errno, "VM directory '%s': %s", dir, strerror(errno));
	*ret_fd = fd;
	return 0;
}

/*
 * The one place a disk's partitions become a composite image (avf-spec 8;
 * crosvm-spec §4): composite-<N>.img, its header and footer (and the shared zero.img)
 * in the VM's directory, N counted per VM from 0 as A15 does. The labels and sizes are
 * checked there (core/disk's rules, each naming the partition). The spec names the
 * partitions by the numbers of the VM's own copies of their fds and the helper files
 * by the fds returned in e->composites[@index]: all of them must reach the VMM at
 * those numbers (the disk's indirect files), and all are closed after the spawn
 * attempt with the config's files. The files are removed when the VM goes.
 */
static int vmgr_composite_disk(struct vmgr_vm *e, size_t index, const struct vm_config_disk *disk)
{
	struct cdisk_build_part *parts;
	int dir_fd, r;

	parts = calloc(disk->n_partitions, sizeof(*parts));
	if (!parts)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory creating VM");
	for (size_t p = 0; p < disk->n_partitions; p++)
		parts[p] = (struct cdisk_build_part){.label = disk->partitions[p].label,
						     .fd = disk->partitions[p].fd,
						     .writable = disk->partitions[p].writable};
	r = composite_dir(e, &dir_fd);
	if (r == 0) {
		r = cdisk_build_fds(dir_fd, e->n_composites, parts, disk->n_partitions, NULL,
				    &e->composites[index]);
		close(dir_fd);
	}
	free(parts);
	if (r < 0)
		return avf_err_prefix("Failed to make composite image for disk %zu", index);
	e->n_composites++;
	return 0;
}

/* e->disks from e->config.disks: each disk's final image and its indirect files. */
static int build_disks(struct vmgr_vm *e)
{
	const struct vm_config *c = &e->config;
	size_t n_indirect = 0, k = 0;
	int r;

	if (!c->n_disks)
		return 0;
	/* a composite names its partitions, header, footer and maybe the zero filler */
	for (size_t d = 0; d < c->n_disks; d++)
		if (c->disks[d].n_partitions)
			n_indirect += c->disks[d].n_partitions + 3;
	e->disks = calloc(c->n_disks, sizeof(*e->disks));
	e->composites = calloc(c->n_disks, sizeof(*e->composites));
	e->indirect_fds = calloc(n_indirect ? n_indirect : 1, sizeof(*e->indirect_fds));
	if (!e->disks || !e->composites || !e->indirect_fds) {
		free_disks(e);
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory creating VM");
	}
	for (size_t d = 0; d < c->n_disks; d++)
		e->composites[d] = (struct cdisk_built){.composite_fd = -1, .header_fd = -1,
							.footer_fd = -1, .zero_fd = -1};
	for (size_t d = 0; d < c->n_disks; d++) {
		const struct vm_config_disk *disk = &c->disks[d];
		const struct cdisk_built *b = &e->composites[d];
		struct backend_disk *bd = &e->disks[d];

		bd->writable = disk->writable;
		if (!disk->n_partitions) {
			bd->fd = disk->image_fd;
			continue;
		}
		r = vmgr_composite_disk(e, d, disk);
		if (r < 0)
			return r;
		bd->fd = b->composite_fd;
		bd->indirect_fds = &e->indirect_fds[k];
		for (size_t p = 0; p < disk->n_partitions; p++)
			e->indirect_fds[k++] = disk->partitions[p].fd;
		e->indirect_fds[k++] = b->header_fd;
		e->indirect_fds[k++] = b->footer_fd;
		if (b->zero_fd >= 0)
			e->indirect_fds[k++] = b->zero_fd;
		bd->n_indirect = (size_t)(&e->indirect_fds[k] - bd->indirect_fds);
	}
	return 0;
}

/* Moves *@fds into the new VM (leaving -1s) once it has a record; the caller closes the rest. */
static int create_vm(struct vmgr *m, const struct vm_config *config, struct vmgr_vm_fds *fds,
		     struct vm_handle **ret)
{
	struct vmgr_vm *e;
	struct vm *vm = NULL;
	struct vm_handle *h = NULL;
	struct backend_vm bvm;
	uint32_t cid;
	int r;

	r = vm_config_validate(config);
	if (r < 0)
		return r;
	e = calloc(1, sizeof(*e));
	if (!e)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory creating VM");
	r = vm_config_copy(&e->config, config);
	if (r < 0) {
		free(e);
		return r;
	}
	/* May run the loop (vmgr.h): @e is linked nowhere yet, so nothing here can change. */
	r = m->p.context->acquire(m->p.context_data, config->name, &cid, &e->temp_dir);
	if (r < 0) {
		vm_config_clear(&e->config);
		free(e);
		return r;
	}
	r = vm_new(cid, config->name, m->p.trace, &vm);
	if (r < 0) {
		m->p.context->release(m->p.context_data, cid);
		vm_config_clear(&e->config);
		free(e->temp_dir);
		free(e);
		return r;
	}
	/* From here the record owns the entry: one cleanup path, vm_unref(). */
	e->mgr = m;
	e->vm = vm;
	e->prev = m->tail;
	if (m->tail)
		m->tail->next = e;
	else
		m->head = e;
	m->tail = e;
	m->n_vms++;
	e->reported = vm_state(vm); /* NOT_STARTED: what a context starts with */
	e->fds = *fds; /* closed by the record at the latest (entry_dispose) */
	*fds = (struct vmgr_vm_fds){-1, -1, -1};
	vm_set_owner(vm, entry_dispose, e);

	/* AVF assembles the disks at createVm (avf-spec 3 step 14), before the VMM plan. */
	r = build_disks(e);
	if (r < 0)
		goto fail;
	bvm = (struct backend_vm){ .cid = cid, .name = config->name, .temp_dir = e->temp_dir,
				   .config = &e->config, .disks = e->disks,
				   .n_disks = e->disks ? e->config.n_disks : 0,
				   .console_out_fd = e->fds.console_out,
				   .console_in_fd = e->fds.console_in, .log_fd = e->fds.log };
	r = m->p.backend->ops->prepare(m->p.backend, &bvm, &e->plan);
	if (r < 0)
		goto fail;
	r = vm_handle_new(vm, handle_last_unref, e, &h);
	if (r < 0)
		goto fail;
	trace_emitf(m->p.trace, "virtmgr", "createVm(\"%s\") -> vm:%u %s",
		    config->name ? config->name : "", cid, avf_vm_state_name(vm_state(vm)));
	vm_unref(vm); /* the handle holds it now */
	*ret = h;
	return 0;
fail:
	trace_emitf(m->p.trace, "virtmgr", "createVm(\"%s\") failed: %s",
		    config->name ? config->name : "", avf_err_last()->msg);
	vm_unref(vm);
	return r;
}

int vmgr_create_vm_fds(struct vmgr *m, const struct vm_config *config,
		       const struct vmgr_vm_fds *fds, struct vm_handle **ret)
{
	struct vmgr_vm_fds own = fds ? *fds : (struct vmgr_vm_fds){-1, -1, -1};
	int r = create_vm(m, config, &own, ret);

	close_fds(&own); /* still ours only if no VM record took them */
	return r;
}

int vmgr_create_vm(struct vmgr *m, const struct vm_config *config, struct vm_handle **ret)
{
	return vmgr_create_vm_fds(m, config, NULL, ret);
}

static void hangup_fired(struct loop_source *src, void *data)
{
	struct vmgr_vm *e = data;

	e->hangup_timer = loop_source_free(e->hangup_timer);
	vm_apply(e->vm, VM_EV_BOOT_TIMEOUT);
	if (vm_status(e->vm)->payload != VM_PAYLOAD_HANGUP)
		return;
	report_state(e, vm_state(e->vm)); /* Running + Hangup reads DEAD already */
	trace_emitf(e->mgr->p.trace, "virtmgr", "vm:%u boot hangup: no payload start in %llu ms",
		    vm_cid(e->vm), (unsigned long long)(e->mgr->p.boot_hangup_ns / LOOP_NSEC_PER_MSEC));
	vm_ref(e->vm);
	e->mgr->p.backend->ops->kill(e->child);
	vm_unref(e->vm);
}

static int sink_guest(void *ctx, const struct guest_event *ev)
{
	struct vmgr_vm *e = ctx;
	int r;

	switch (ev->kind) {
	case GUEST_PAYLOAD_STARTED:
		report_next(e, VM_EV_PAYLOAD_STARTED);
		r = vm_payload_started(e->vm);
		break;
	case GUEST_PAYLOAD_READY:
		report_next(e, VM_EV_PAYLOAD_READY);
		r = vm_payload_ready(e->vm);
		break;
	case GUEST_PAYLOAD_FINISHED:
		report_next(e, VM_EV_PAYLOAD_FINISHED);
		r = vm_payload_finished(e->vm, ev->value);
		break;
	case GUEST_ERROR:
		report_next(e, VM_EV_PAYLOAD_ERROR);
		r = vm_payload_error(e->vm, (enum avf_error_code)ev->value, ev->message);
		break;
	default:
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "unknown guest event %d",
				   (int)ev->kind);
	}
	return r;
}

static void sink_exited(void *ctx, const struct vm_exit *exit)
{
	struct vmgr_vm *e = ctx;

	e->hangup_timer = loop_source_free(e->hangup_timer);
	report_next(e, VM_EV_EXITED); /* DEAD before onDied: a callback may drop the VM */
	/* May free the record (and @e) once its callbacks ran: nothing after this. */
	vm_exited(e->vm, exit);
}

static const struct backend_sink vmgr_sink = {
	.guest = sink_guest,
	.exited = sink_exited,
};

int vmgr_start(struct vmgr *m, struct vm_handle *h)
{
	struct vm *vm = vm_handle_vm(h);
	struct vmgr_vm *e = vm_owner(vm);
	struct vm_status next;
	int r;

	/* Refuse before touching the backend: "VM already started or failed". */
	r = vm_status_apply(vm_status(vm), VM_EV_SPAWNED, &next);
	if (r < 0)
		goto out;
	/* Armed before the spawn so a running app VM always has its hangup monitor. */
	if (e->config.kind == VM_CONFIG_APP) {
		r = loop_add_timer(m->p.loop, loop_now(m->p.loop) + m->p.boot_hangup_ns, hangup_fired,
				   e, &e->hangup_timer);
		if (r < 0)
			goto out;
	}
	r = m->p.backend->ops->spawn(m->p.backend, e->plan, &vmgr_sink, e, &e->child);
	e->plan = backend_plan_free(e->plan);
	/* The VMM has its own copies now (or never will): its exit is the client's EOF,
	 * and no disk image stays open here while the VM runs (AVF keeps none). */
	close_files(e);
	if (r < 0) {
		char msg[AVF_ERR_MSG_MAX];

		/* AVF: state Failed (reported DEAD), no onDied, service-specific error. */
		snprintf(msg, sizeof(msg), "Error starting VM: %s", avf_err_last()->msg);
		e->hangup_timer = loop_source_free(e->hangup_timer);
		vm_apply(vm, VM_EV_SPAWN_FAILED);
		report_state(e, vm_state(vm));
		avf_err_service(r, "%s", msg);
		goto out;
	}
	vm_apply(vm, VM_EV_SPAWNED);
	report_state(e, vm_state(vm));
out:
	trace_emitf(m->p.trace, "virtmgr", "start(vm:%u) -> %s", vm_cid(vm),
		    r < 0 ? avf_err_last()->msg : "ok");
	return r;
}

int vmgr_stop(struct vmgr *m, struct vm_handle *h)
{
	struct vm *vm = vm_ref(vm_handle_vm(h));
	int r = entry_kill(vm_owner(vm));

	trace_emitf(m->p.trace, "virtmgr", "stop(vm:%u) -> %s", vm_cid(vm),
		    r < 0 ? avf_err_last()->msg : "ok");
	vm_unref(vm);
	return r;
}

int vmgr_connect_vsock(struct vmgr *m, struct vm_handle *h, uint32_t port, int *ret_fd)
{
	struct vm *vm = vm_handle_vm(h);
	struct vmgr_vm *e = vm_owner(vm);
	int r;

	if (!m->p.backend->ops->connect_vsock)
		r = avf_err_set(-EOPNOTSUPP, AVF_EX_UNSUPPORTED_OPERATION,
				"connectVsock(%u): the %s backend has no vsock transport to its "
				"guests",
				port, m->p.backend->ops->name);
	else if (!e->child)
		r = avf_err_service(-ESRCH, "VM is not running");
	else
		r = m->p.backend->ops->connect_vsock(e->child, port, ret_fd);
	trace_emitf(m->p.trace, "virtmgr", "connectVsock(vm:%u, %u) -> %s", vm_cid(vm), port,
		    r < 0 ? avf_err_last()->msg : "ok");
	return r;
}

size_t vmgr_vm_count(const struct vmgr *m)
{
	return m->n_vms;
}

size_t vmgr_list(const struct vmgr *m, struct vmgr_vm_info *out, size_t max)
{
	size_t i = 0;

	for (const struct vmgr_vm *e = m->head; e; e = e->next, i++)
		if (i < max)
			out[i] = (struct vmgr_vm_info){ .cid = vm_cid(e->vm),
							.state = vm_state(e->vm),
							.name = vm_name(e->vm),
							.temp_dir = e->temp_dir };
	return m->n_vms;
}
