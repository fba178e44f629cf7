/* SPDX-License-Identifier: Apache-2.0 */
/* gpt: GPT structures to and from bytes (gpt.h). All integers are little-endian. */
#include "disk/gpt.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <zlib.h>

#include "base/avf_err.h"
#include "disk/utf8.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint32_t gpt_crc32(const void *buf, size_t len)
{
	uLong crc = crc32(0L, Z_NULL, 0);
	const Bytef *p = buf;

	/* zlib takes uInt lengths */
	while (len > 0) {
		uInt n = len > 0x40000000u ? 0x40000000u : (uInt)len;

		crc = crc32(crc, p, n);
		p += n;
		len -= n;
	}
	return (uint32_t)crc;
}

void gpt_pmbr_encode(uint32_t n_sectors, uint8_t out[GPT_SECTOR_SIZE])
{
	uint8_t *e = out + 446;

	memset(out, 0, GPT_SECTOR_SIZE);
	/* status 0, CHS start 0 0 0, type EE, CHS end 0 0 0, first LBA 1, count */
	e[4] = 0xEE;
	put32(e + 8, 1);
	put32(e + 12, n_sectors);
	out[510] = 0x55;
	out[511] = 0xAA;
}

void gpt_header_encode(const struct gpt_header *h, uint8_t out[GPT_HEADER_SIZE])
{
	memset(out, 0, GPT_HEADER_SIZE);
	put64(out + 0, GPT_SIGNATURE);
	put32(out + 8, GPT_REVISION);
	put32(out + 12, GPT_HEADER_SIZE);
	/* 16: header CRC, computed with the field zero; 20: reserved */
	put64(out + 24, h->my_lba);
	put64(out + 32, h->alternate_lba);
	put64(out + 40, h->first_usable_lba);
	put64(out + 48, h->last_usable_lba);
	gpt_guid_to_disk(&h->disk_guid, out + 56);
	put64(out + 72, h->entries_lba);
	put32(out + 80, h->n_entries);
	put32(out + 84, h->entry_size);
	put32(out + 88, h->entries_crc32);
	put32(out + 16, gpt_crc32(out, GPT_HEADER_SIZE));
}

int gpt_header_decode(const uint8_t *in, size_t len, const char *what, struct gpt_header *ret)
{
	uint8_t copy[GPT_HEADER_SIZE];
	uint32_t size, crc;

	if (len < GPT_HEADER_SIZE || get64(in) != GPT_SIGNATURE)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "%s: no 'EFI PART' signature",
				   what);
	size = get32(in + 12);
	/* a larger header is legal GPT, but no tool we know writes one and the CRC would need it */
	if (size != GPT_HEADER_SIZE)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "%s: header size %u, expected %u", what, size, GPT_HEADER_SIZE);
	memcpy(copy, in, GPT_HEADER_SIZE);
	memset(copy + 16, 0, 4);
	crc = gpt_crc32(copy, GPT_HEADER_SIZE);
	if (crc != get32(in + 16))
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "%s: header CRC32 is %08x, computed %08x", what, get32(in + 16),
				   crc);
	ret->revision = get32(in + 8);
	ret->my_lba = get64(in + 24);
	ret->alternate_lba = get64(in + 32);
	ret->first_usable_lba = get64(in + 40);
	ret->last_usable_lba = get64(in + 48);
	gpt_guid_from_disk(in + 56, &ret->disk_guid);
	ret->entries_lba = get64(in + 72);
	ret->n_entries = get32(in + 80);
	ret->entry_size = get32(in + 84);
	ret->entries_crc32 = get32(in + 88);
	return 0;
}

void gpt_entry_encode(const struct gpt_entry *e, uint8_t out[GPT_ENTRY_SIZE])
{
	gpt_guid_to_disk(&e->type, out);
	gpt_guid_to_disk(&e->unique, out + 16);
	put64(out + 32, e->first_lba);
	put64(out + 40, e->last_lba);
	put64(out + 48, e->attributes);
	for (unsigned i = 0; i < GPT_NAME_UNITS; i++)
		put16(out + 56 + 2 * i, e->name[i]);
}

void gpt_entry_decode(const uint8_t in[GPT_ENTRY_SIZE], struct gpt_entry *ret)
{
	gpt_guid_from_disk(in, &ret->type);
	gpt_guid_from_disk(in + 16, &ret->unique);
	ret->first_lba = get64(in + 32);
	ret->last_lba = get64(in + 40);
	ret->attributes = get64(in + 48);
	for (unsigned i = 0; i < GPT_NAME_UNITS; i++)
		ret->name[i] = get16(in + 56 + 2 * i);
}

int gpt_name_from_utf8(const char *label, uint16_t ret[GPT_NAME_UNITS])
{
	const unsigned char *p = (const unsigned char *)label;
	size_t left = strlen(label);
	uint16_t name[GPT_NAME_UNITS] = {0};
	unsigned n = 0;
	bool too_long = false;

	while (left > 0) {
		uint32_t c;
		int k = utf8_next(p, left, &c);

		if (k < 0)
			return -EILSEQ;
		p += k;
		left -= (size_t)k;
		if (c >= 0x10000) {
			if (n + 2 > GPT_NAME_UNITS) {
				too_long = true;
				continue; /* keep checking the encoding: EILSEQ wins */
			}
			c -= 0x10000;
			name[n++] = (uint16_t)(0xD800 | c >> 10);
			name[n++] = (uint16_t)(0xDC00 | (c & 0x3FF));
		} else {
			if (n + 1 > GPT_NAME_UNITS) {
				too_long = true;
				continue;
			}
			name[n++] = (uint16_t)c;
		}
	}
	if (too_long)
		return -ENAMETOOLONG;
	memcpy(ret, name, sizeof(name));
	return (int)n;
}

size_t gpt_name_to_utf8(const uint16_t name[GPT_NAME_UNITS], char *buf, size_t size)
{
	size_t len = 0;

	if (size == 0)
		return 0;
	for (unsigned i = 0; i < GPT_NAME_UNITS && name[i]; i++) {
		uint32_t c = name[i];
		char enc[4];
		size_t k;

		if (c >= 0xD800 && c <= 0xDBFF && i + 1 < GPT_NAME_UNITS && name[i + 1] >= 0xDC00 &&
		    name[i + 1] <= 0xDFFF) {
			c = 0x10000 + ((c - 0xD800) << 10) + (name[i + 1] - 0xDC00u);
			i++;
		} else if (c >= 0xD800 && c <= 0xDFFF) {
			c = 0xFFFD;
		}
		k = utf8_put(c, enc);
		if (len + k > size - 1)
			break;
		memcpy(buf + len, enc, k);
		len += k;
	}
	buf[len] = '\0';
	return len;
}
