/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the early VM declarations parser (core/config/early_vms.c).
 *
 * Each input is one file's bytes. It is parsed as a file of partition P (chosen by the input's
 * size, so every partition's range gets exercised) and, unless P is system, again as a file of
 * the partition sharing P's range, so the cross-partition duplicate checks run on whatever the
 * first parse accepted; then early_vms_finish. After that the result must keep the header's
 * promises, checked here: a violation traps like a crash. Run: docs/early-vms.md, "Fuzzing".
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config/early_vms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The other partition with P's CID range; EARLY_PART_COUNT: none. */
static const enum early_partition sibling[EARLY_PART_COUNT] = {
	[EARLY_PART_SYSTEM] = EARLY_PART_COUNT,
	[EARLY_PART_SYSTEM_EXT] = EARLY_PART_PRODUCT,
	[EARLY_PART_PRODUCT] = EARLY_PART_SYSTEM_EXT,
	[EARLY_PART_VENDOR] = EARLY_PART_ODM,
	[EARLY_PART_ODM] = EARLY_PART_VENDOR,
};

static void check(const struct early_vms *v)
{
	for (size_t i = 0; i < v->n; i++) {
		const struct early_vm_entry *e = &v->vms[i];
		uint32_t min, max;

		early_partition_cid_range(e->partition, &min, &max);
		if (v->unusable[e->partition] || e->cid < min || e->cid > max || !e->name[0] ||
		    e->path[0] != '/' || (i > 0 && v->vms[i - 1].partition > e->partition))
			__builtin_trap();
		for (size_t j = 0; j < i; j++)
			if (v->vms[j].cid == e->cid ||
			    (v->vms[j].partition == e->partition &&
			     strcmp(v->vms[j].name, e->name) == 0))
				__builtin_trap();
	}
	for (size_t i = 0; i < v->n_problems; i++)
		if (strchr(v->problems[i], '\n'))
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct early_vms v = {0};
	enum early_partition p = (enum early_partition)(size % EARLY_PART_COUNT);

	if (early_vms_parse_buffer(&v, p, "fuzz_1.xml", data, size, NULL) >= 0 &&
	    (sibling[p] == EARLY_PART_COUNT ||
	     early_vms_parse_buffer(&v, sibling[p], "fuzz_2.xml", data, size, NULL) >= 0) &&
	    early_vms_finish(&v) == 0)
		check(&v);
	early_vms_clear(&v);
	return 0;
}
