/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cdisk_gpt_read: the partition table a composite disk shows its guest, read back through
 * cdisk_image and checked the way a GPT reader would: the primary header at LBA 1 and the
 * backup at its alternate LBA, both CRCs right, each pointing at the other, 128-byte
 * entries, the entry array's CRC as each header states it. For `avf-cdisk show`, for tests,
 * and for a fake VMM that wants to look at what it was given.
 */
#ifndef AVF_CORE_DISK_CDISK_GPT_READ_H
#define AVF_CORE_DISK_CDISK_GPT_READ_H

#include <stddef.h>
#include <stdint.h>

#include "disk/cdisk_image.h"
#include "disk/gpt.h"

struct cdisk_gpt {
	uint32_t pmbr_sectors; /* the protective MBR entry's sector count */
	struct gpt_header primary;
	struct gpt_header backup;
	struct gpt_entry *parts; /* the used entries (type GUID not zero), in slot order */
	unsigned *slots;         /* [n_parts]: each one's slot in the array, from 0 */
	size_t n_parts;
};

/* -EINVAL with a message saying what is wrong; *ret set only on success. */
int cdisk_gpt_read(struct cdisk_image *img, struct cdisk_gpt **ret);

/* NULL-safe; returns NULL. */
struct cdisk_gpt *cdisk_gpt_free(struct cdisk_gpt *g);

#endif
