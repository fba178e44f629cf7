/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm_config: what createVm receives, in memory. The JSON form that `vm run`
 * takes is parsed into this (a later layer); this module only owns the struct,
 * its defaults and the checks AVF makes on it before a VM exists.
 */
#ifndef AVF_CORE_CONFIG_VM_CONFIG_H
#define AVF_CORE_CONFIG_VM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

enum vm_config_kind {
	VM_CONFIG_RAW = 0, /* VirtualMachineRawConfig: no hangup detection */
	VM_CONFIG_APP,     /* VirtualMachineAppConfig (Microdroid): boot hangup detected */
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
};

/* Fill defaults (zeroes, kind RAW). */
void vm_config_init(struct vm_config *c);
/* Free owned strings and re-init; accepts NULL. */
void vm_config_clear(struct vm_config *c);
/* Deep copy into @dst (initialised by this call). -ENOMEM. */
int vm_config_copy(struct vm_config *dst, const struct vm_config *src);
/* Checks independent of any backend; -EINVAL + EX_ILLEGAL_ARGUMENT naming the field. */
int vm_config_validate(const struct vm_config *c);

#endif
