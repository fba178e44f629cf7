/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `vm run --backend crosvm --dry-run CONFIG.json`: the crosvm command line the crosvm
 * backend would run for this config, one argument per line on stdout; nothing is started
 * (no virtmgr, no CID, no composite, no console file). docs/vm.md has the details.
 *
 * The command line comes from the crosvm backend's own prepare() (backends/crosvm), run
 * here on a private loop with the config as virtmgr would receive it, so it is the same
 * builder, the same order and the same refusals ("VM must have either a bootloader or a
 * kernel image."); vm_config_validate() first, as createVm. What cannot exist yet stays a
 * placeholder: the CID is {cid}, every fd /proc/self/fd/{name} (crosvm_argv.h), a disk
 * of partitions the {diskN} of a composite that is not built (its components, named
 * only inside the composite, are not shown). argv[0] is the crosvm virtmgr would find
 * ($AVF_CROSVM, else PATH), else just "crosvm" with a warning on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/crosvm/crosvm_backend.h"
#include "base/avf_err.h"
#include "config/vm_config.h"
#include "loop/loop.h"
#include "vm_cli.h"
#include "vm_run.h"

/* The plan's config as vmgr hands it to a backend: borrowed fds, nothing owned. */
struct dry_vm {
	struct vm_config cfg;
	struct vm_config_disk *disks;
	struct vm_config_partition *parts;
	struct backend_disk *bdisks;
	struct backend_vm bvm;
};

static int dry_vm_fill(const struct run_plan *p, const struct vm_dry_run_consoles *io,
		       struct dry_vm *d)
{
	const struct avf_vm_config *in = &p->cfg;
	size_t n_parts = 0, k = 0;

	vm_config_init(&d->cfg);
	d->cfg.kind = in->kind == AVF_VM_KIND_APP ? VM_CONFIG_APP : VM_CONFIG_RAW;
	d->cfg.name = (char *)in->name;
	d->cfg.memory_mib = in->memory_mib;
	d->cfg.cpus = in->cpus;
	d->cfg.protected_vm = in->protected_vm;
	d->cfg.kernel_fd = in->kernel_fd;
	d->cfg.initrd_fd = in->initrd_fd;
	d->cfg.bootloader_fd = in->bootloader_fd;
	d->cfg.params = (char *)in->params;
	for (size_t i = 0; i < in->n_disks; i++)
		n_parts += in->disks[i].n_partitions;
	if (in->n_disks) {
		d->disks = calloc(in->n_disks, sizeof(*d->disks));
		d->parts = calloc(n_parts ? n_parts : 1, sizeof(*d->parts));
		d->bdisks = calloc(in->n_disks, sizeof(*d->bdisks));
		if (!d->disks || !d->parts || !d->bdisks)
			return vm_error("out of memory");
	}
	for (size_t i = 0; i < in->n_disks; i++) {
		const struct avf_vm_disk *disk = &in->disks[i];

		d->disks[i] = (struct vm_config_disk){.image_fd = disk->image_fd,
						      .partitions = &d->parts[k],
						      .n_partitions = disk->n_partitions,
						      .writable = disk->writable};
		for (size_t j = 0; j < disk->n_partitions; j++, k++)
			d->parts[k] = (struct vm_config_partition){
			    .label = (char *)disk->partitions[j].label,
			    .fd = disk->partitions[j].fd,
			    .writable = disk->partitions[j].writable};
		/* a composite would be built by virtmgr: no fd yet, named by its placeholder */
		d->bdisks[i] = (struct backend_disk){.fd = disk->n_partitions ? -1 : disk->image_fd,
						     .writable = disk->writable};
	}
	d->cfg.disks = d->disks;
	d->cfg.n_disks = in->n_disks;
	d->bvm = (struct backend_vm){.cid = 0, /* none yet: {cid} */
				     .name = in->name,
				     .config = &d->cfg,
				     .disks = d->bdisks,
				     .n_disks = in->n_disks,
				     .console_out_fd = io->console_out ? STDOUT_FILENO : -1,
				     .console_in_fd = io->console_in ? STDIN_FILENO : -1,
				     .log_fd = io->log ? STDOUT_FILENO : -1};
	return VM_EXIT_OK;
}

int vm_dry_run(const struct run_plan *p, const struct vm_dry_run_consoles *io)
{
	struct dry_vm d = {0};
	struct loop *l = NULL;
	struct backend *be = NULL;
	struct backend_plan *plan = NULL;
	char *crosvm = NULL;
	int r;

	if ((r = dry_vm_fill(p, io, &d)) != VM_EXIT_OK)
		goto out;
	/* createVm's checks come first, as in virtmgr */
	if (vm_config_validate(&d.cfg) < 0) {
		r = vm_error("Failed to create VM: %s", avf_err_last()->msg);
		goto out;
	}
	if (crosvm_backend_find(&crosvm) < 0) {
		fflush(stdout);
		fprintf(stderr, "Warning: %s; the command line names 'crosvm'\n",
			avf_err_last()->msg);
		crosvm = NULL;
	}
	if (loop_new(LOOP_CLOCK_VIRTUAL, &l) < 0 ||
	    crosvm_backend_new(l, NULL,
			       &(struct crosvm_backend_opts){.crosvm_path = crosvm ? crosvm : "crosvm",
							     .log_fd = -1},
			       &be) < 0) {
		r = vm_error("%s", avf_err_last()->msg);
		goto out;
	}
	if (be->ops->prepare(be, &d.bvm, &plan) < 0) {
		r = vm_error("Failed to create VM: %s", avf_err_last()->msg);
		goto out;
	}
	for (size_t i = 0; i < plan->argc; i++)
		puts(plan->argv[i]);
	r = fflush(stdout) == 0 ? VM_EXIT_OK : vm_error("stdout: %s", strerror(errno));
out:
	backend_plan_free(plan);
	backend_free(be);
	loop_free(l);
	free(crosvm);
	free(d.disks);
	free(d.parts);
	free(d.bdisks);
	return r;
}
