/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm_config: what createVm receives, in memory. The JSON form that `vm run`
 * takes is parsed into this (a later layer); this module only owns the struct,
 * its defaults and the checks AVF makes on it before a VM exists.
 *
 * Files (AVF's VirtualMachineRawConfig, research/avf-spec.md 2.5): the kernel,
 * initrd and bootloader, and every disk image or partition, are open fds that
 * the config owns (-1: none). vm_config_init() sets them to -1 (a zeroed struct
 * would name fd 0), vm_config_clear() closes them, vm_config_copy() duplicates
 * them (F_DUPFD_CLOEXEC, above stdio). A config's fds are always close-on-exec:
 * only a backend's spawn gives a VMM its own inheritable copies.
 */
#ifndef AVF_CORE_CONFIG_VM_CONFIG_H
#define AVF_CORE_CONFIG_VM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vm_config_kind {
	VM_CONFIG_RAW = 0, /* VirtualMachineRawConfig: no hangup detection */
	VM_CONFIG_APP,     /* VirtualMachineAppConfig (Microdroid): boot hangup detected */
};

/* Bounds of what one config may carry (the wire checks them; AVF has none). */
#define VM_CONFIG_DISKS_MAX      64
#define VM_CONFIG_PARTITIONS_MAX 128 /* per disk: a GPT has 128 entries */

/* Partition: one component of a composite disk. */
struct vm_config_partition {
	char *label;   /* GPT label (checked where the composite is built); never NULL */
	int fd;        /* owned; never -1 in a valid config */
	bool writable;
};

/* DiskImage: exactly one of @image_fd and a non-empty @partitions (vm_config_validate). */
struct vm_config_disk {
	int image_fd; /* owned; -1: none */
	struct vm_config_partition *partitions;
	size_t n_partitions;
	bool writable; /* --rwdisk rather than --disk */
};

/*
 * An app VM's payload (VirtualMachineAppConfig, avf-spec 2.5, as our fake VM runs
 * it): AVF passes an APK and a payload binary name inside it; we pass the payload
 * library itself (docs/payload-api.md, a deviation). Present iff library_fd >= 0,
 * and only in a VM_CONFIG_APP config. The guest agent runs it (fakes/guest_agent).
 */
struct vm_config_payload {
	int library_fd;    /* owned; the library with AVmPayload_main; -1: no payload */
	char *binary_name; /* PayloadConfig.payloadBinaryName: a file name, no '/' */
	int config_fd;     /* owned; the VM payload config JSON (AppConfig.configPath); -1: none */
	int instance_fd;   /* owned; instance image (read-write); required with a payload */
	int storage_fd;    /* owned; encrypted storage image (read-write); -1: none */
};

struct vm_config {
	enum vm_config_kind kind;
	char *name;
	uint32_t memory_mib; /* 0: backend default */
	uint32_t cpus;       /* 0: one vCPU (ONE_CPU) */
	bool protected_vm;
	/*
	 * Guest behaviour for the fake and simulated VMMs (fakes/script syntax),
	 * e.g. "wait 1s; started; ready; finished 0; exit 0". NULL: the default
	 * well-behaved guest. Ignored by real backends.
	 */
	char *guest_script;
	/* VirtualMachineRawConfig's files and kernel command line (owned; -1 / NULL: none). */
	int kernel_fd;
	int initrd_fd;
	int bootloader_fd;
	char *params;
	struct vm_config_disk *disks;
	size_t n_disks;
	struct vm_config_payload payload; /* VM_CONFIG_APP only */
};

/* Whether @c carries a payload for the guest agent (payload.library_fd >= 0). */
bool vm_config_has_payload(const struct vm_config *c);
/* Fill defaults (zeroes, kind RAW, every fd -1). */
void vm_config_init(struct vm_config *c);
/* Free owned strings, close owned fds and re-init; accepts NULL. */
void vm_config_clear(struct vm_config *c);
/*
 * Deep copy into @dst (initialised by this call): strings duplicated, fds
 * duplicated close-on-exec above 2. -ENOMEM, or the dup's -errno (EX_ILLEGAL_ARGUMENT
 * naming the field, e.g. a closed fd). On failure @dst holds nothing.
 */
int vm_config_copy(struct vm_config *dst, const struct vm_config *src);
/* Close every fd of @c (kernel, initrd, bootloader, disks, partitions), leaving -1s. */
void vm_config_close_files(struct vm_config *c);
/* Whether @c names any file: kernel, initrd, bootloader or a disk. */
bool vm_config_has_files(const struct vm_config *c);
/*
 * Checks independent of any backend: -EINVAL + EX_ILLEGAL_ARGUMENT naming the
 * field for ours; AVF's createVm rules with AVF's words and codes. The file
 * rules apply only to a config that names a file (vm_config_has_files): then,
 * as AVF at createVm (avf-spec 3, steps 14 and 19), in AVF's order: each disk
 * exactly one of an image and partitions (EX_ILLEGAL_ARGUMENT "DiskImage contains
 * both image and partitions" / "DiskImage didn't contain image or partitions."),
 * then exactly one of kernel and bootloader and no initrd with a bootloader
 * (service-specific -1 "VM must have either a bootloader or a kernel image." /
 * "Can't have both bootloader and kernel/initrd image."). A config with no file
 * at all stays valid: the fake and simulated guests boot nothing (a deviation,
 * docs/deviations.md).
 *
 * A payload (vm_config_has_payload) needs kind APP, a binary name that is a plain
 * file name (AVF's vm: "Payload binary name must not specify a path") and an
 * instance image; fds without a library are refused (EX_ILLEGAL_ARGUMENT).
 */
int vm_config_validate(const struct vm_config *c);

#endif
