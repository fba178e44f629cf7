/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm_config_json: the VM config JSON that AVF's `vm run` takes (AOSP libs/vmconfig, A15),
 * parsed with json-c into a struct that owns all its strings. docs/vm-config.md has the
 * format field by field and where we differ from AVF.
 *
 * Contract:
 * - Everything AVF would reject before a VM runs is rejected here: serde's type and
 *   missing-field errors, VmConfig::validate(), the checks of VmConfig::to_parcelable(), and
 *   the config checks virtmgr/crosvm make later (duplicate GPT labels, duplicate devices,
 *   platform version 1.0.0, console device). Unknown keys are ignored, as AVF ignores them.
 * - Every failure returns -EINVAL (or -ENOMEM, or -errno for an unreadable file) and records
 *   one message with EX_ILLEGAL_ARGUMENT naming the origin and the field path:
 *     vm.json: "disks[1].partitions[0].label": expected a string, found a number
 *     vm.json:3:14: JSON syntax error: unexpected character
 * - Paths are kept exactly as written: a relative path is relative to whatever the caller
 *   decides (AVF's `vm run` opens them relative to its working directory). Nothing here
 *   opens, stats or canonicalises them.
 * - *ret is set only on success.
 */
#ifndef AVF_CORE_CONFIG_VM_CONFIG_JSON_H
#define AVF_CORE_CONFIG_VM_CONFIG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/vm_config.h"

/* Larger inputs are refused (AVF has no limit; a real config is a few hundred bytes). */
#define VM_CONFIG_JSON_MAX_BYTES (16u * 1024 * 1024)

/* "cpu_topology"; absent means ONE_CPU, as in AVF. */
enum vm_config_json_cpu_topology {
	VM_CONFIG_JSON_ONE_CPU = 0,
	VM_CONFIG_JSON_MATCH_HOST,
};

struct vm_config_json_partition {
	char *label; /* may be "" (AVF allows it); unique within its disk */
	char *path;  /* non-empty */
	bool writable;
};

struct vm_config_json_disk {
	char *image; /* NULL: the disk is a composite of @partitions */
	struct vm_config_json_partition *partitions;
	size_t n_partitions; /* 0 iff @image is set */
	bool writable;
};

struct vm_config_json {
	char *name;       /* NULL: absent (AVF's `vm run` ignores it and says "VmRun") */
	char *kernel;     /* NULL: absent; exactly one of kernel / bootloader is set */
	char *initrd;     /* NULL: absent; never with bootloader */
	char *params;     /* NULL: absent; the kernel command line, may be "" */
	char *bootloader; /* NULL: absent */
	struct vm_config_json_disk *disks;
	size_t n_disks;
	bool protected_vm;   /* "protected" */
	uint32_t memory_mib; /* 0: absent (backend default); else 1..INT32_MAX */
	enum vm_config_json_cpu_topology cpu_topology;
	char *platform_version; /* the SemVer requirement as written; matches 1.0.0 */
	char **devices;         /* sysfs paths, non-empty, distinct */
	size_t n_devices;
	char *console_input_device; /* NULL: absent (hvc0); else "hvc0" or "ttyS0" */
};

/*
 * Parse @len bytes at @src (need not be NUL-terminated; a NUL byte inside is an error).
 * @origin names the input in messages (a file name); NULL: "<string>".
 * 0 and *ret (free with vm_config_json_free), or -EINVAL / -ENOMEM with a message.
 */
int vm_config_json_parse(const char *src, size_t len, const char *origin,
			 struct vm_config_json **ret);

/*
 * Read and parse the regular file @path (messages name it as given). -errno naming the path
 * if it cannot be read (-EINVAL if not a regular file, -EFBIG over VM_CONFIG_JSON_MAX_BYTES),
 * else as vm_config_json_parse.
 */
int vm_config_json_load(const char *path, struct vm_config_json **ret);

/* Free @c and everything it owns; accepts NULL; returns NULL. */
struct vm_config_json *vm_config_json_free(struct vm_config_json *c);

/*
 * Fill @out (initialised by this call; untouched on failure) from @j: kind RAW, name copied
 * (NULL if absent), memory_mib, protected_vm, cpus: ONE_CPU -> 1, MATCH_HOST -> the number
 * of online CPUs now. Disks, paths and the rest have no place in struct vm_config yet.
 * 0, or -ENOMEM, or -errno if the online CPU count is unavailable.
 */
int vm_config_json_to_vm_config(const struct vm_config_json *j, struct vm_config *out);

#endif
