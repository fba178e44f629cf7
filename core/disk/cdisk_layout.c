/* SPDX-License-Identifier: Apache-2.0 */
/* cdisk_layout: partitions -> header, footer, extents and spec (cdisk_layout.h). */
#include "disk/cdisk_layout.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"
#include "disk/gpt.h"

/* LBA of the primary entry array, and the first usable LBA (end of the header file). */
#define ENTRIES_LBA      2u
#define FIRST_USABLE_LBA (CDISK_HEADER_SIZE / GPT_SECTOR_SIZE)
/* Past this a disk's sector count no longer fits the protective MBR. */
#define MAX_DISK_SIZE ((uint64_t)UINT32_MAX * GPT_SECTOR_SIZE)

static int part_error(size_t i, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int part_error(size_t i, const char *label, const char *fmt, ...)
{
	char rule[AVF_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rule, sizeof(rule), fmt, ap);
	va_end(ap);
	if (!label)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "partition #%zu: %s", i, rule);
	return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "partition #%zu '%s': %s", i, label,
			   rule);
}

struct cdisk_layout *cdisk_layout_free(struct cdisk_layout *l)
{
	if (!l)
		return NULL;
	free(l->extents);
	free(l->part_guids);
	free(l);
	return NULL;
}

/* The partition's GPT name, with the label rules; @names holds the earlier ones. */
static int make_name(const struct cdisk_part *p, size_t i, uint16_t (*names)[GPT_NAME_UNITS])
{
	int r;

	if (!p->label)
		return part_error(i, NULL, "no label");
	r = gpt_name_from_utf8(p->label, names[i]);
	if (r == -EILSEQ)
		return part_error(i, NULL, "label is not valid UTF-8");
	if (r == -ENAMETOOLONG)
		return part_error(i, p->label,
				  "label is longer than the %u UTF-16 code units of a GPT name",
				  GPT_NAME_UNITS);
	for (size_t j = 0; j < i; j++)
		if (memcmp(names[j], names[i], sizeof(names[i])) == 0)
			return part_error(
			    i, p->label, "duplicate GPT partition label '%s' (also partition #%zu)",
			    p->label, j);
	return 0;
}

static void add_extent(struct cdisk_layout *l, enum cdisk_source source, size_t part,
		       uint64_t offset, bool writable)
{
	l->extents[l->n_extents++] = (struct cdisk_extent){
	    .source = source, .part = part, .offset = offset, .writable = writable};
}

/* The partitions' entries, components and sizes; *off ends at the footer's guest offset. */
static int lay_out_partitions(const struct cdisk_part *parts, size_t n_parts,
			      struct cdisk_layout *l, uint8_t *entries, uint64_t *off)
{
	uint16_t(*names)[GPT_NAME_UNITS] = NULL;
	int r = 0;

	if (n_parts > 0 && !(names = calloc(n_parts, sizeof(*names))))
		return avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
	*off = CDISK_HEADER_SIZE;
	for (size_t i = 0; i < n_parts; i++) {
		const struct cdisk_part *p = &parts[i];
		struct gpt_entry e = {0};
		uint64_t aligned;

		if ((r = make_name(p, i, names)) < 0)
			goto out;
		if (p->size == 0) {
			r = part_error(i, p->label,
				       "size is 0: an empty partition would share its offset with "
				       "the next component");
			goto out;
		}
		if (p->size > MAX_DISK_SIZE) {
			r = part_error(i, p->label,
				       "size %" PRIu64 " is past what a GPT disk with a protective "
				       "MBR can hold (%" PRIu64 " bytes)",
				       p->size, MAX_DISK_SIZE);
			goto out;
		}
		aligned = (p->size + CDISK_ALIGN - 1) / CDISK_ALIGN * CDISK_ALIGN;
		if (p->writable && aligned != p->size) {
			/* crosvm's words (disk/src/composite.rs, UnalignedReadWrite) */
			r = part_error(i, p->label,
				       "Read-write partition size %" PRIu64
				       " is not a multiple of %u.",
				       p->size, CDISK_ALIGN);
			goto out;
		}
		e.type = gpt_guid_linux_fs;
		if (p->guid)
			l->part_guids[i] = *p->guid;
		else
			gpt_guid_random(&l->part_guids[i]);
		e.unique = l->part_guids[i];
		e.first_lba = *off / GPT_SECTOR_SIZE;
		e.last_lba = (*off + aligned) / GPT_SECTOR_SIZE - 1;
		memcpy(e.name, names[i], sizeof(e.name));
		gpt_entry_encode(&e, entries + i * GPT_ENTRY_SIZE);
		add_extent(l, CDISK_SRC_PARTITION, i, *off, p->writable);
		if (aligned != p->size) {
			l->uses_zero_filler = true;
			add_extent(l, CDISK_SRC_ZERO, i, *off + p->size, false);
		}
		*off += aligned;
		/* both at most 2^41: no overflow before this check */
		if (*off + CDISK_FOOTER_SIZE > MAX_DISK_SIZE) {
			r = part_error(i, p->label,
				       "the disk grows past what a protective MBR can count "
				       "(2^32-1 sectors)");
			goto out;
		}
	}
out:
	free(names);
	return r;
}

static void write_gpt(struct cdisk_layout *l, const uint8_t *entries, uint64_t footer_offset)
{
	uint64_t secondary = footer_offset + CDISK_FOOTER_PADDING;
	uint64_t last_lba = l->disk_size / GPT_SECTOR_SIZE - 1;
	struct gpt_header h = {
	    .my_lba = 1,
	    .alternate_lba = last_lba,
	    .first_usable_lba = FIRST_USABLE_LBA,
	    .last_usable_lba = secondary / GPT_SECTOR_SIZE - 1,
	    .disk_guid = l->disk_guid,
	    .entries_lba = ENTRIES_LBA,
	    .n_entries = GPT_NUM_ENTRIES,
	    .entry_size = GPT_ENTRY_SIZE,
	    .entries_crc32 = gpt_crc32(entries, GPT_ENTRIES_BYTES),
	};
	uint8_t *backup = l->footer + CDISK_FOOTER_PADDING + GPT_ENTRIES_BYTES;

	memset(l->header, 0, sizeof(l->header));
	memset(l->footer, 0, sizeof(l->footer));
	gpt_pmbr_encode((uint32_t)(l->disk_size / GPT_SECTOR_SIZE), l->header);
	gpt_header_encode(&h, l->header + GPT_SECTOR_SIZE);
	memcpy(l->header + ENTRIES_LBA * GPT_SECTOR_SIZE, entries, GPT_ENTRIES_BYTES);
	memcpy(l->footer + CDISK_FOOTER_PADDING, entries, GPT_ENTRIES_BYTES);
	/* the backup: at the last sector, pointing back at 1, entry array LBA 2 as in crosvm */
	h.my_lba = last_lba;
	h.alternate_lba = 1;
	gpt_header_encode(&h, backup);
}

int cdisk_layout_make(const struct cdisk_part *parts, size_t n_parts,
		      const struct gpt_guid *disk_guid, struct cdisk_layout **ret)
{
	struct cdisk_layout *l = NULL;
	uint8_t *entries = NULL;
	uint64_t off;
	int r;

	if (n_parts > CDISK_MAX_PARTITIONS)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "%zu partitions, more than the %u entries of a GPT", n_parts,
				   CDISK_MAX_PARTITIONS);
	if (!(l = calloc(1, sizeof(*l))) || !(entries = calloc(1, GPT_ENTRIES_BYTES)) ||
	    !(l->extents = calloc(2 * n_parts + 2, sizeof(*l->extents))) ||
	    (n_parts > 0 && !(l->part_guids = calloc(n_parts, sizeof(*l->part_guids))))) {
		r = avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
		goto fail;
	}
	l->n_parts = n_parts;
	add_extent(l, CDISK_SRC_HEADER, 0, 0, false);
	if ((r = lay_out_partitions(parts, n_parts, l, entries, &off)) < 0)
		goto fail;
	add_extent(l, CDISK_SRC_FOOTER, 0, off, false);
	l->disk_size = off + CDISK_FOOTER_SIZE;
	for (size_t i = 0; i < l->n_extents; i++) {
		struct cdisk_extent *e = &l->extents[i];

		e->length = (i + 1 < l->n_extents ? e[1].offset : l->disk_size) - e->offset;
	}
	if (disk_guid)
		l->disk_guid = *disk_guid;
	else
		gpt_guid_random(&l->disk_guid);
	write_gpt(l, entries, off);
	free(entries);
	*ret = l;
	return 0;
fail:
	free(entries);
	cdisk_layout_free(l);
	return r;
}

int cdisk_layout_spec(const struct cdisk_layout *l, const char *header_path,
		      const char *footer_path, const char *zero_path, const char *const *part_paths,
		      struct cdisk_spec **ret)
{
	struct cdisk_spec *s;
	int r = 0;

	if (!(s = calloc(1, sizeof(*s))) ||
	    !(s->components = calloc(l->n_extents, sizeof(*s->components)))) {
		free(s);
		return avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
	}
	s->version = CDISK_VERSION;
	s->length = l->disk_size;
	for (size_t i = 0; i < l->n_extents; i++) {
		const struct cdisk_extent *e = &l->extents[i];
		struct cdisk_component *c = &s->components[i];
		const char *path = e->source == CDISK_SRC_HEADER   ? header_path
				   : e->source == CDISK_SRC_FOOTER ? footer_path
				   : e->source == CDISK_SRC_ZERO   ? zero_path
								   : part_paths[e->part];

		if (!path || !path[0]) {
			r = avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
					"composite disk: no path for component %zu", i);
			break;
		}
		if (!(c->path = strdup(path))) {
			r = avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
			break;
		}
		s->n_components++;
		c->offset = e->offset;
		c->length = e->length;
		c->writable = e->writable;
	}
	if (r < 0) {
		cdisk_spec_free(s);
		return r;
	}
	*ret = s;
	return 0;
}
