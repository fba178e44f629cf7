/* SPDX-License-Identifier: Apache-2.0 */
/* cdisk_gpt_read: a composite's GPT, read back and checked (cdisk_gpt_read.h). */
#include "disk/cdisk_gpt_read.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"

/* Larger arrays are legal GPT but nothing writes them; the bound keeps the reads small. */
#define MAX_ENTRIES 1024u

struct cdisk_gpt *cdisk_gpt_free(struct cdisk_gpt *g)
{
	if (!g)
		return NULL;
	free(g->parts);
	free(g->slots);
	free(g);
	return NULL;
}

static int read_header(struct cdisk_image *img, uint64_t lba, const char *what,
		       struct gpt_header *ret)
{
	uint8_t sector[GPT_SECTOR_SIZE];
	int r;

	if (lba >= cdisk_image_spec(img)->length / GPT_SECTOR_SIZE)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "%s: LBA %" PRIu64 " is past the end of the disk", what, lba);
	if ((r = cdisk_image_read(img, lba * GPT_SECTOR_SIZE, sector, sizeof(sector))) < 0)
		return r;
	if ((r = gpt_header_decode(sector, sizeof(sector), what, ret)) < 0)
		return r;
	if (ret->my_lba != lba)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "%s at LBA %" PRIu64 " says it is at LBA %" PRIu64, what, lba,
				   ret->my_lba);
	if (ret->entry_size != GPT_ENTRY_SIZE || ret->n_entries == 0 ||
	    ret->n_entries > MAX_ENTRIES)
		return avf_err_set(
		    -EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
		    "%s: %" PRIu32 " entries of %" PRIu32 " bytes (we read 1..%u of %u)", what,
		    ret->n_entries, ret->entry_size, MAX_ENTRIES, GPT_ENTRY_SIZE);
	return 0;
}

/* The entry array a header points at, its CRC checked. */
static int read_entries(struct cdisk_image *img, const struct gpt_header *h, const char *what,
			uint8_t **ret)
{
	size_t len = (size_t)h->n_entries * GPT_ENTRY_SIZE;
	uint8_t *buf;
	uint32_t crc;
	int r;

	if (h->entries_lba > cdisk_image_spec(img)->length / GPT_SECTOR_SIZE ||
	    len > cdisk_image_spec(img)->length - h->entries_lba * GPT_SECTOR_SIZE)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "%s: entry array at LBA %" PRIu64
				   " runs past the end of the disk",
				   what, h->entries_lba);
	if (!(buf = malloc(len)))
		return avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
	if ((r = cdisk_image_read(img, h->entries_lba * GPT_SECTOR_SIZE, buf, len)) < 0)
		goto fail;
	crc = gpt_crc32(buf, len);
	if (crc != h->entries_crc32) {
		r = avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				"%s: entry array CRC32 is %08" PRIx32
				", the header says %08" PRIx32,
				what, crc, h->entries_crc32);
		goto fail;
	}
	*ret = buf;
	return 0;
fail:
	free(buf);
	return r;
}

static int collect(struct cdisk_gpt *g, const uint8_t *array, uint32_t n)
{
	static const struct gpt_guid unused;

	if (!(g->parts = calloc(n, sizeof(*g->parts))) ||
	    !(g->slots = calloc(n, sizeof(*g->slots))))
		return avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
	for (uint32_t i = 0; i < n; i++) {
		struct gpt_entry *e = &g->parts[g->n_parts];

		gpt_entry_decode(array + (size_t)i * GPT_ENTRY_SIZE, e);
		if (!memcmp(&e->type, &unused, sizeof(unused)))
			continue;
		g->slots[g->n_parts++] = i;
	}
	return 0;
}

int cdisk_gpt_read(struct cdisk_image *img, struct cdisk_gpt **ret)
{
	uint8_t mbr[GPT_SECTOR_SIZE], *primary = NULL, *backup = NULL;
	struct cdisk_gpt *g;
	int r;

	if (!(g = calloc(1, sizeof(*g))))
		return avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
	if ((r = cdisk_image_read(img, 0, mbr, sizeof(mbr))) < 0)
		goto out;
	if (mbr[510] != 0x55 || mbr[511] != 0xAA || mbr[446 + 4] != 0xEE) {
		r = avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				"no protective MBR (55 AA and a partition of type EE) in sector 0");
		goto out;
	}
	g->pmbr_sectors = (uint32_t)mbr[458] | (uint32_t)mbr[459] << 8 | (uint32_t)mbr[460] << 16 |
			  (uint32_t)mbr[461] << 24;
	if ((r = read_header(img, 1, "primary GPT header", &g->primary)) < 0 ||
	    (r = read_header(img, g->primary.alternate_lba, "backup GPT header", &g->backup)) < 0)
		goto out;
	if (g->backup.alternate_lba != 1) {
		r = avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				"backup GPT header points at LBA %" PRIu64
				" for the primary, not 1",
				g->backup.alternate_lba);
		goto out;
	}
	if ((r = read_entries(img, &g->primary, "primary GPT", &primary)) < 0 ||
	    (r = read_entries(img, &g->backup, "backup GPT", &backup)) < 0)
		goto out;
	if (g->primary.n_entries != g->backup.n_entries ||
	    memcmp(primary, backup, (size_t)g->primary.n_entries * GPT_ENTRY_SIZE) != 0) {
		r = avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				"the primary and backup GPT entry arrays differ");
		goto out;
	}
	if ((r = collect(g, primary, g->primary.n_entries)) < 0)
		goto out;
	*ret = g;
	g = NULL;
out:
	free(primary);
	free(backup);
	cdisk_gpt_free(g);
	return r;
}
