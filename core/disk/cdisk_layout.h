/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cdisk_layout: from a list of partitions to the bytes of a crosvm composite disk, in memory:
 * the header file (protective MBR, primary GPT header, entry array), the footer file (backup
 * entry array and header at the very end of the disk) and the list of extents of the
 * guest-visible disk, which cdisk_layout_spec turns into a spec once the caller knows what
 * to call each file. This is crosvm's current layout (2025-01 and later), crosvm-spec.md
 * §4.4-4.7; nothing here opens a file (cdisk_build does).
 *
 *   guest offset 0          header (20480 bytes)
 *   0x5000                  partition 0, its size rounded up to 4 KiB: a read-only
 *                           partition's tail is the first bytes of the zero filler (4096)
 *   ...                     partition 1..n-1, likewise
 *   end of partitions       footer (20480 bytes: 3584 zeros, backup entries, backup header)
 *   disk size = 20480 + sum of rounded sizes + 20480
 *
 * Two GPT details are crosvm's, kept so that the header and footer are crosvm's byte for
 * byte: the protective MBR counts every sector of the disk (UEFI: all but sector 0), and the
 * backup header's entry-array LBA is 2, the primary array (the backup copy in the footer is
 * never pointed at). `sgdisk -v` and `sfdisk --verify` accept both (docs/composite-disk.md).
 *
 * Rules, each an -EINVAL with EX_ILLEGAL_ARGUMENT and a message naming the partition
 * (index and label) and the rule:
 *   - at most 128 partitions (the GPT has 128 entries);
 *   - size > 0 (crosvm would write a composite it then refuses to open);
 *   - a writable partition's size is a multiple of 4096 (crosvm's UnalignedReadWrite);
 *   - the label is valid UTF-8, at most 36 UTF-16 code units (crosvm cuts longer labels
 *     silently; we refuse them), and unique (crosvm's duplicate check compares the 36-unit
 *     names, which for labels within 36 units is comparing the labels);
 *   - the disk fits the protective MBR's 32-bit sector count (crosvm: "invalid disk size").
 * Labels may be empty, as in crosvm and AVF.
 */
#ifndef AVF_CORE_DISK_CDISK_LAYOUT_H
#define AVF_CORE_DISK_CDISK_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disk/cdisk_spec.h"
#include "disk/gpt_guid.h"

#define CDISK_HEADER_SIZE      20480u /* GPT_BEGINNING_SIZE: 40 sectors */
#define CDISK_FOOTER_SIZE      20480u /* 3584 padding + GPT_END_SIZE (33 sectors) */
#define CDISK_FOOTER_PADDING   3584u
#define CDISK_ALIGN            4096u
#define CDISK_ZERO_FILLER_SIZE 4096u
#define CDISK_MAX_PARTITIONS   128u

struct cdisk_part {
	const char *label;           /* UTF-8 */
	uint64_t size;               /* bytes */
	bool writable;               /* READ_WRITE component */
	const struct gpt_guid *guid; /* unique partition GUID; NULL: random v4 */
};

/* Which file an extent of the guest-visible disk comes from. */
enum cdisk_source {
	CDISK_SRC_HEADER,
	CDISK_SRC_PARTITION, /* partition .part */
	CDISK_SRC_ZERO,      /* the zero filler, after partition .part */
	CDISK_SRC_FOOTER,
};

struct cdisk_extent {
	enum cdisk_source source;
	size_t part;
	uint64_t offset; /* in the guest-visible disk */
	uint64_t length;
	bool writable;
};

struct cdisk_layout {
	uint8_t header[CDISK_HEADER_SIZE];
	uint8_t footer[CDISK_FOOTER_SIZE];
	uint64_t disk_size;
	struct cdisk_extent *extents; /* in guest order, header first, footer last */
	size_t n_extents;
	bool uses_zero_filler; /* some read-only partition's size is not a multiple of 4096 */
	struct gpt_guid disk_guid;
	struct gpt_guid *part_guids; /* [n_parts]: the GUIDs used, given or drawn */
	size_t n_parts;
};

/*
 * Compute everything for @n_parts partitions (0 is a valid, empty disk); @disk_guid NULL:
 * random v4. *ret (free with cdisk_layout_free) is set only on success.
 */
int cdisk_layout_make(const struct cdisk_part *parts, size_t n_parts,
		      const struct gpt_guid *disk_guid, struct cdisk_layout **ret);

/*
 * The spec of the layout: version 2, one component per extent, length = disk size, the
 * files named by the paths given (@part_paths[n_parts]; @zero_path may be NULL when the
 * layout does not use the zero filler). -EINVAL for a missing or empty path, -ENOMEM.
 */
int cdisk_layout_spec(const struct cdisk_layout *l, const char *header_path,
		      const char *footer_path, const char *zero_path, const char *const *part_paths,
		      struct cdisk_spec **ret);

/* NULL-safe; returns NULL. */
struct cdisk_layout *cdisk_layout_free(struct cdisk_layout *l);

#endif
