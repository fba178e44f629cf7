/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gpt: the on-disk structures of a GUID partition table, to and from bytes: the protective
 * MBR, the 92-byte header (CRC32 by zlib), 128-byte partition entries, and partition names
 * (36 UTF-16LE code units). Field offsets: crosvm-spec.md §4.5 and §4.7, which follow UEFI
 * 2.x chapter 5. Nothing here decides a layout (cdisk_layout does) or touches a file.
 */
#ifndef AVF_CORE_DISK_GPT_H
#define AVF_CORE_DISK_GPT_H

#include <stddef.h>
#include <stdint.h>

#include "disk/gpt_guid.h"

#define GPT_SECTOR_SIZE   512u
#define GPT_HEADER_SIZE   92u
#define GPT_NUM_ENTRIES   128u
#define GPT_ENTRY_SIZE    128u
#define GPT_ENTRIES_BYTES (GPT_NUM_ENTRIES * GPT_ENTRY_SIZE)
#define GPT_NAME_UNITS    36u
/* "EFI PART" and revision 1.0 (bytes 00 00 01 00). */
#define GPT_SIGNATURE 0x5452415020494645ull
#define GPT_REVISION  0x00010000u

struct gpt_header {
	uint32_t revision; /* decode: as stored; encode writes GPT_REVISION */
	uint64_t my_lba;
	uint64_t alternate_lba;
	uint64_t first_usable_lba;
	uint64_t last_usable_lba;
	struct gpt_guid disk_guid;
	uint64_t entries_lba;
	uint32_t n_entries;
	uint32_t entry_size;
	uint32_t entries_crc32;
};

struct gpt_entry {
	struct gpt_guid type;
	struct gpt_guid unique;
	uint64_t first_lba;
	uint64_t last_lba; /* inclusive */
	uint64_t attributes;
	uint16_t name[GPT_NAME_UNITS]; /* UTF-16 code units, zero-padded, no terminator at 36 */
};

/* The IEEE CRC-32 of GPT (zlib's crc32). */
uint32_t gpt_crc32(const void *buf, size_t len);

/*
 * Sector 0: no boot code, one partition of type 0xEE from LBA 1 covering @n_sectors sectors,
 * 55 AA. crosvm writes the whole disk's sector count here (UEFI says one less); we do the
 * same so that our header file is crosvm's, byte for byte (docs/composite-disk.md).
 */
void gpt_pmbr_encode(uint32_t n_sectors, uint8_t out[GPT_SECTOR_SIZE]);

/* The 92 header bytes, signature, size and header CRC32 filled in. */
void gpt_header_encode(const struct gpt_header *h, uint8_t out[GPT_HEADER_SIZE]);

/*
 * Read a header from the start of a sector. -EINVAL with a message (naming @what, e.g.
 * "primary GPT header") if the signature, the header size or the header CRC is wrong.
 */
int gpt_header_decode(const uint8_t *in, size_t len, const char *what, struct gpt_header *ret);

void gpt_entry_encode(const struct gpt_entry *e, uint8_t out[GPT_ENTRY_SIZE]);
void gpt_entry_decode(const uint8_t in[GPT_ENTRY_SIZE], struct gpt_entry *ret);

/*
 * A UTF-8 label as a GPT name: UTF-16 (code points above U+FFFF as surrogate pairs),
 * zero-padded to 36 units. No message: -EILSEQ not valid UTF-8 (an overlong form, a
 * surrogate, past U+10FFFF, a cut sequence), -ENAMETOOLONG more than 36 units. On success
 * returns the number of units used.
 */
int gpt_name_from_utf8(const char *label, uint16_t ret[GPT_NAME_UNITS]);

/*
 * A GPT name as UTF-8 up to its first zero unit, NUL-terminated in @buf (at most
 * 36 * 3 + 1 = 109 bytes are needed); an unpaired surrogate becomes U+FFFD. Returns the
 * length written (without the NUL), cut to @size - 1.
 */
size_t gpt_name_to_utf8(const uint16_t name[GPT_NAME_UNITS], char *buf, size_t size);
#define GPT_NAME_UTF8_MAX (GPT_NAME_UNITS * 3 + 1)

#endif
