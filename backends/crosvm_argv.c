/* SPDX-License-Identifier: Apache-2.0 */
#include "backends/crosvm_argv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"

static int oom(void)
{
	return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory building argv");
}

void crosvm_slots_clear(struct crosvm_slots *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

unsigned crosvm_argv_swiotlb_mib(size_t ndisks)
{
	return 2u * (4u + (unsigned)ndisks);
}

/* Append every argument up to NULL; stops at the first failure. */
static int add_args(struct backend_plan *plan, ...)
{
	const char *a;
	va_list ap;
	int r = 0;

	va_start(ap, plan);
	while (r == 0 && (a = va_arg(ap, const char *)))
		r = backend_plan_add_arg(plan, a);
	va_end(ap);
	return r;
}

/* printf into one new argument. */
static int add_argf(struct backend_plan *plan, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int add_argf(struct backend_plan *plan, const char *fmt, ...)
{
	char *arg;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&arg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return oom();
	r = backend_plan_add_arg(plan, arg);
	free(arg);
	return r;
}

/* Record that argv names @fd as @name (once per fd, whatever the number of mentions). */
static int add_slot(struct crosvm_slots *s, const char *name, int fd)
{
	struct crosvm_slot *v = realloc(s->v, (s->n + 1) * sizeof(*v));

	if (!v)
		return oom();
	s->v = v;
	snprintf(v[s->n].name, sizeof(v[s->n].name), "%s", name);
	v[s->n++].fd = fd;
	return 0;
}

/* @flag /proc/self/fd/@name, and the slot. */
static int add_fd_arg(struct backend_plan *plan, struct crosvm_slots *s, const char *flag,
		      const char *name, int fd)
{
	int r = add_slot(s, name, fd);

	if (!r && flag)
		r = backend_plan_add_arg(plan, flag);
	if (!r)
		r = add_argf(plan, CROSVM_PROC_FD "%s", name);
	return r;
}

/*
 * Rows 15-19: <OUT> is type=file,path=/proc/self/fd/N with a console fd, else
 * type=sink (ttyS0 and hvc0 share it); hvc0 adds ,input=/proc/self/fd/M with a
 * console-in fd (hvc0 is AVF's default console input device; no config here picks
 * ttyS0); hvc1, the ramdump, is a sink (no debug level, no debug policy: no
 * ramdump); hvc2 is the log, as <OUT>.
 */
#define SERIAL_FILE(slot) "type=file,path=" CROSVM_PROC_FD slot

static int add_serials(const struct backend_vm *vm, struct backend_plan *plan,
		       struct crosvm_slots *s)
{
	const char *out =
	    vm->console_out_fd >= 0 ? SERIAL_FILE(CROSVM_FD_CONSOLE_OUT) : "type=sink";
	const char *log = vm->log_fd >= 0 ? SERIAL_FILE(CROSVM_FD_LOG) : "type=sink";
	const char *in =
	    vm->console_in_fd >= 0 ? ",input=" CROSVM_PROC_FD CROSVM_FD_CONSOLE_IN : "";
	int r = 0;

	if (vm->console_out_fd >= 0)
		r = add_slot(s, CROSVM_FD_CONSOLE_OUT, vm->console_out_fd);
	if (!r && vm->console_in_fd >= 0)
		r = add_slot(s, CROSVM_FD_CONSOLE_IN, vm->console_in_fd);
	if (!r && vm->log_fd >= 0)
		r = add_slot(s, CROSVM_FD_LOG, vm->log_fd);
	if (!r)
		r = add_argf(plan, "--serial=%s,hardware=serial,num=1", out);
	if (!r)
		r = backend_plan_add_arg(
		    plan, "--serial=" SERIAL_FILE(CROSVM_FD_FAILURE) ",hardware=serial,num=2");
	if (!r)
		r = add_argf(plan, "--serial=%s%s,hardware=virtio-console,num=1", out, in);
	if (!r)
		r = backend_plan_add_arg(plan, "--serial=type=sink,hardware=virtio-console,num=2");
	if (!r)
		r = add_argf(plan, "--serial=%s,hardware=virtio-console,num=3", log);
	return r;
}

/* Row 23: one --disk / --rwdisk per disk, config order; indirect files kept at their numbers. */
static int add_disks(const struct backend_vm *vm, struct backend_plan *plan, struct crosvm_slots *s)
{
	char name[CROSVM_SLOT_NAME_MAX];
	int r = 0;

	for (size_t d = 0; d < vm->n_disks && !r; d++) {
		const struct backend_disk *disk = &vm->disks[d];

		for (size_t i = 0; i < disk->n_indirect && !r; i++)
			r = backend_plan_add_fd(plan, disk->indirect_fds[i], disk->indirect_fds[i]);
		if (r)
			break;
		snprintf(name, sizeof(name), CROSVM_FD_DISK_FMT, d);
		r = add_fd_arg(plan, s, disk->writable ? "--rwdisk" : "--disk", name, disk->fd);
	}
	return r;
}

int crosvm_argv_build(const char *program, const struct backend_vm *vm, struct backend_plan *plan,
		      struct crosvm_slots *ret_slots)
{
	const struct vm_config *cfg = vm->config;
	int r;

	*ret_slots = (struct crosvm_slots){0};
	/* Rows 1-5. */
	r = add_args(plan, program, "--extended-status", "--log-level", CROSVM_LOG_LEVEL, "run",
		     "--disable-sandbox", "--cid", NULL);
	if (!r && vm->cid)
		r = add_argf(plan, "%u", vm->cid);
	else if (!r)
		r = backend_plan_add_arg(plan, CROSVM_CID_PLACEHOLDER);
	/* Row 6: sysprop hypervisor.memory_reclaim.supported is never true here. */
	if (!r)
		r = backend_plan_add_arg(plan, "--no-balloon");
	/* Rows 7-9: no pvmfw sysprop, so plain --protected-vm. Row 10 needs a ramdump: none. */
	if (!r && cfg->protected_vm) {
		r = add_args(plan, "--protected-vm", "--swiotlb", NULL);
		if (!r)
			r = add_argf(plan, "%u", crosvm_argv_swiotlb_mib(cfg->n_disks));
		if (!r)
			r = backend_plan_add_arg(plan, "--unmap-guest-memory-on-fork");
	}
	/* Row 12: only when set; not pKVM, so no swiotlb on top. */
	if (!r && cfg->memory_mib) {
		r = backend_plan_add_arg(plan, "--mem");
		if (!r)
			r = add_argf(plan, "%u", cfg->memory_mib);
	}
	/* Rows 13 and 13'': the count (ONE_CPU is 1; match_host arrives as the host's count). */
	if (!r)
		r = backend_plan_add_arg(plan, "--cpus");
	if (!r)
		r = add_argf(plan, "%u", cfg->cpus ? cfg->cpus : 1);
	/* Rows 15-19. */
	if (!r)
		r = add_serials(vm, plan, ret_slots);
	/* Rows 20-24. */
	if (!r && cfg->bootloader_fd >= 0)
		r = add_fd_arg(plan, ret_slots, "--bios", CROSVM_FD_BIOS, cfg->bootloader_fd);
	if (!r && cfg->initrd_fd >= 0)
		r = add_fd_arg(plan, ret_slots, "--initrd", CROSVM_FD_INITRD, cfg->initrd_fd);
	if (!r && cfg->params)
		r = add_args(plan, "--params", cfg->params, NULL);
	if (!r)
		r = add_disks(vm, plan, ret_slots);
	if (!r && cfg->kernel_fd >= 0)
		r = add_fd_arg(plan, ret_slots, NULL, CROSVM_FD_KERNEL, cfg->kernel_fd);
	/* Row 25: the listening socket spawn binds. */
	if (!r)
		r = add_args(plan, "--socket", CROSVM_PROC_FD CROSVM_FD_CONTROL, NULL);
	return r;
}

int crosvm_slots_add(struct crosvm_slots *s, const char *name, int fd)
{
	return add_slot(s, name, fd);
}
