/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the `vm run` config JSON parser (core/config/vm_config_json.c).
 *
 * Each input is one file's bytes, parsed as "fuzz.json". A failure must be -EINVAL (or
 * -ENOMEM) with one line of message naming the origin; a success must keep the header's
 * promises, checked here: a violation traps like a crash. The result then goes through
 * vm_config_json_to_vm_config. Run: docs/vm-config.md, "Fuzzing".
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/avf_err.h"
#include "config/vm_config.h"
#include "config/vm_config_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_failure(int r)
{
	const struct avf_error *e = avf_err_last();

	if ((r != -EINVAL && r != -ENOMEM) || e->err != r ||
	    (r == -EINVAL && e->ex != AVF_EX_ILLEGAL_ARGUMENT) ||
	    (r == -EINVAL && strncmp(e->msg, "fuzz.json", 9) != 0) || strchr(e->msg, '\n'))
		__builtin_trap();
}

static void check(const struct vm_config_json *c)
{
	/* exactly one of kernel and bootloader; initrd only with a kernel */
	if (!c->kernel == !c->bootloader || (c->initrd && !c->kernel))
		__builtin_trap();
	if ((c->kernel && !c->kernel[0]) || (c->initrd && !c->initrd[0]) ||
	    (c->bootloader && !c->bootloader[0]))
		__builtin_trap();
	if (!c->platform_version || c->memory_mib > INT32_MAX ||
	    (c->cpu_topology != VM_CONFIG_JSON_ONE_CPU &&
	     c->cpu_topology != VM_CONFIG_JSON_MATCH_HOST))
		__builtin_trap();
	if (c->console_input_device && strcmp(c->console_input_device, "hvc0") != 0 &&
	    strcmp(c->console_input_device, "ttyS0") != 0)
		__builtin_trap();
	if ((c->n_disks == 0) != (c->disks == NULL) || (c->n_devices == 0) != (c->devices == NULL))
		__builtin_trap();
	for (size_t i = 0; i < c->n_disks; i++) {
		const struct vm_config_json_disk *d = &c->disks[i];

		if (!d->image == !d->n_partitions || (d->image && !d->image[0]))
			__builtin_trap();
		for (size_t j = 0; j < d->n_partitions; j++) {
			if (!d->partitions[j].label || !d->partitions[j].path ||
			    !d->partitions[j].path[0])
				__builtin_trap();
			/* byte-equal labels are certainly the same GPT name */
			for (size_t k = 0; k < j && k < 64; k++)
				if (strcmp(d->partitions[k].label, d->partitions[j].label) == 0)
					__builtin_trap();
		}
	}
	for (size_t i = 0; i < c->n_devices; i++) {
		if (!c->devices[i] || !c->devices[i][0])
			__builtin_trap();
		for (size_t k = 0; k < i && k < 64; k++)
			if (strcmp(c->devices[k], c->devices[i]) == 0)
				__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config_json *c = NULL;
	struct vm_config v;
	int r = vm_config_json_parse((const char *)data, size, "fuzz.json", &c);

	if (r < 0) {
		check_failure(r);
		if (c)
			__builtin_trap();
		return 0;
	}
	check(c);
	if (vm_config_json_to_vm_config(c, &v) == 0) {
		if (v.kind != VM_CONFIG_RAW || v.memory_mib != c->memory_mib || v.cpus < 1 ||
		    (!v.name != !c->name))
			__builtin_trap();
		vm_config_clear(&v);
	}
	vm_config_json_free(c);
	return 0;
}
