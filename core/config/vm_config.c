/* SPDX-License-Identifier: Apache-2.0 */
#include "config/vm_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/avf_err.h"

/* Names appear in traces, logs and early-VM lookups: keep them printable and short. */
#define VM_NAME_MAX 128

void vm_config_init(struct vm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->kernel_fd = c->initrd_fd = c->bootloader_fd = -1;
	c->payload.library_fd = c->payload.config_fd = -1;
	c->payload.instance_fd = c->payload.storage_fd = -1;
}

bool vm_config_has_payload(const struct vm_config *c)
{
	return c->payload.library_fd >= 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void vm_config_close_files(struct vm_config *c)
{
	close_fd(&c->kernel_fd);
	close_fd(&c->initrd_fd);
	close_fd(&c->bootloader_fd);
	close_fd(&c->payload.library_fd);
	close_fd(&c->payload.config_fd);
	close_fd(&c->payload.instance_fd);
	close_fd(&c->payload.storage_fd);
	for (size_t d = 0; d < c->n_disks; d++) {
		close_fd(&c->disks[d].image_fd);
		for (size_t p = 0; p < c->disks[d].n_partitions; p++)
			close_fd(&c->disks[d].partitions[p].fd);
	}
}

void vm_config_clear(struct vm_config *c)
{
	if (!c)
		return;
	vm_config_close_files(c);
	for (size_t d = 0; d < c->n_disks; d++) {
		for (size_t p = 0; p < c->disks[d].n_partitions; p++)
			free(c->disks[d].partitions[p].label);
		free(c->disks[d].partitions);
	}
	free(c->disks);
	free(c->name);
	free(c->guest_script);
	free(c->params);
	free(c->payload.binary_name);
	vm_config_init(c);
}

bool vm_config_has_files(const struct vm_config *c)
{
	return c->kernel_fd >= 0 || c->initrd_fd >= 0 || c->bootloader_fd >= 0 || c->n_disks > 0;
}

static int dup_opt(const char *s, char **ret)
{
	*ret = NULL;
	if (!s)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC,
				      "out of memory copying VM config");
}

/* Above stdio, as ipc_msg_put_fd: a process that closed 0-2 does not hand them out. */
static int dup_fd(int fd, const char *field, int *ret)
{
	*ret = -1;
	if (fd < 0)
		return 0;
	*ret = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (*ret >= 0)
		return 0;
	return avf_err_set(-errno, AVF_EX_ILLEGAL_ARGUMENT,
			   "config field '%s': cannot duplicate fd %d: %s", field, fd,
			   strerror(errno));
}

static int copy_disks(struct vm_config *dst, const struct vm_config *src)
{
	int r;

	if (!src->n_disks)
		return 0;
	dst->disks = calloc(src->n_disks, sizeof(*dst->disks));
	if (!dst->disks)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory copying VM config");
	for (size_t d = 0; d < src->n_disks; d++)
		dst->disks[d].image_fd = -1;
	/* Counted as they are filled: vm_config_clear() then undoes exactly what was done. */
	for (size_t d = 0; d < src->n_disks; d++) {
		const struct vm_config_disk *s = &src->disks[d];
		struct vm_config_disk *t = &dst->disks[d];
		char field[64];

		dst->n_disks = d + 1;
		t->writable = s->writable;
		snprintf(field, sizeof(field), "disks[%zu].image", d);
		if ((r = dup_fd(s->image_fd, field, &t->image_fd)) < 0)
			return r;
		if (!s->n_partitions)
			continue;
		t->partitions = calloc(s->n_partitions, sizeof(*t->partitions));
		if (!t->partitions)
			return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC,
					   "out of memory copying VM config");
		for (size_t p = 0; p < s->n_partitions; p++) {
			t->partitions[p].fd = -1;
			t->n_partitions = p + 1;
			t->partitions[p].writable = s->partitions[p].writable;
			snprintf(field, sizeof(field), "disks[%zu].partitions[%zu].image", d, p);
			if ((r = dup_opt(s->partitions[p].label, &t->partitions[p].label)) < 0 ||
			    (r = dup_fd(s->partitions[p].fd, field, &t->partitions[p].fd)) < 0)
				return r;
		}
	}
	return 0;
}

int vm_config_copy(struct vm_config *dst, const struct vm_config *src)
{
	int r;

	vm_config_init(dst);
	dst->kind = src->kind;
	dst->memory_mib = src->memory_mib;
	dst->cpus = src->cpus;
	dst->protected_vm = src->protected_vm;
	if ((r = dup_opt(src->name, &dst->name)) < 0 ||
	    (r = dup_opt(src->guest_script, &dst->guest_script)) < 0 ||
	    (r = dup_opt(src->params, &dst->params)) < 0 ||
	    (r = dup_fd(src->kernel_fd, "kernel", &dst->kernel_fd)) < 0 ||
	    (r = dup_fd(src->initrd_fd, "initrd", &dst->initrd_fd)) < 0 ||
	    (r = dup_fd(src->bootloader_fd, "bootloader", &dst->bootloader_fd)) < 0 ||
	    (r = copy_disks(dst, src)) < 0 ||
	    (r = dup_opt(src->payload.binary_name, &dst->payload.binary_name)) < 0 ||
	    (r = dup_fd(src->payload.library_fd, "payload.library", &dst->payload.library_fd)) < 0 ||
	    (r = dup_fd(src->payload.config_fd, "payload.config", &dst->payload.config_fd)) < 0 ||
	    (r = dup_fd(src->payload.instance_fd, "payload.instance", &dst->payload.instance_fd)) < 0 ||
	    (r = dup_fd(src->payload.storage_fd, "payload.storage", &dst->payload.storage_fd)) < 0) {
		struct avf_error saved = *avf_err_last();

		vm_config_clear(dst);
		return avf_err_restore(&saved);
	}
	return 0;
}

/* AVF's createVm checks of the files (avf-spec 3 steps 14 and 19), in AVF's order. */
static int validate_files(const struct vm_config *c)
{
	if (c->n_disks > VM_CONFIG_DISKS_MAX)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "config field 'disks': %zu disks, at most %d", c->n_disks,
				   VM_CONFIG_DISKS_MAX);
	/* assemble_disk_image(), per disk in order; a composite's own checks come later. */
	for (size_t d = 0; d < c->n_disks; d++) {
		const struct vm_config_disk *disk = &c->disks[d];

		if (disk->n_partitions && disk->image_fd >= 0)
			return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
					   "DiskImage contains both image and partitions");
		if (!disk->n_partitions && disk->image_fd < 0)
			return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
					   "DiskImage didn't contain image or partitions.");
		if (disk->n_partitions > VM_CONFIG_PARTITIONS_MAX)
			return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
					   "config field 'disks[%zu].partitions': %zu partitions, "
					   "at most %d",
					   d, disk->n_partitions, VM_CONFIG_PARTITIONS_MAX);
		for (size_t p = 0; p < disk->n_partitions; p++)
			if (disk->partitions[p].fd < 0 || !disk->partitions[p].label)
				return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
						   "config field 'disks[%zu].partitions[%zu]': %s",
						   d, p,
						   disk->partitions[p].label ? "no image"
									     : "no label");
	}
	/* VmInstance::new -> validate_config(): A15's words, service-specific -1. */
	if (c->bootloader_fd < 0 && c->kernel_fd < 0)
		return avf_err_service(-EINVAL, "VM must have either a bootloader or a kernel image.");
	if (c->bootloader_fd >= 0 && (c->kernel_fd >= 0 || c->initrd_fd >= 0))
		return avf_err_service(-EINVAL, "Can't have both bootloader and kernel/initrd image.");
	return 0;
}

/* An app config's payload: what the guest agent needs to run it. */
static int validate_payload(const struct vm_config *c)
{
	const struct vm_config_payload *p = &c->payload;
	const char *n = p->binary_name;

	if (!vm_config_has_payload(c)) {
		if (p->config_fd >= 0 || p->instance_fd >= 0 || p->storage_fd >= 0 || n)
			return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
					   "config field 'payload': files or a name without a "
					   "payload library");
		return 0;
	}
	if (c->kind != VM_CONFIG_APP)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "config field 'payload': only an app config has a payload");
	if (!n || !*n || strlen(n) > 255)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "config field 'payload.binary_name': must be 1 to 255 bytes");
	if (strchr(n, '/'))
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "Payload binary name must not specify a path");
	for (const char *q = n; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
					   "config field 'payload.binary_name': control character");
	if (p->instance_fd < 0)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "config field 'payload.instance': an app VM needs an instance image");
	return 0;
}

int vm_config_validate(const struct vm_config *c)
{
	int r;

	if (c->kind != VM_CONFIG_RAW && c->kind != VM_CONFIG_APP)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "config: unknown kind %d",
				   (int)c->kind);
	if (c->name) {
		size_t n = strlen(c->name);

		if (n > VM_NAME_MAX)
			return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
					   "config field 'name': longer than %d bytes", VM_NAME_MAX);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)c->name[i] < 0x20 || c->name[i] == 0x7f)
				return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
						   "config field 'name': control character at byte %zu",
						   i);
	}
	if (c->cpus > 1024)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "config field 'cpus': %u is more than 1024", c->cpus);
	if ((r = validate_payload(c)) < 0)
		return r;
	/* The fake and simulated guests boot nothing: a config without files is theirs. */
	if (vm_config_has_files(c))
		return validate_files(c);
	return 0;
}
