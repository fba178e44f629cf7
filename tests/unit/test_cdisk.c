/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/disk, the bytes: GPT GUIDs, names and headers (gpt_guid, gpt, utf8), the composite
 * layout (cdisk_layout) and the spec codec (cdisk_spec).
 *
 * The layout is checked byte for byte against vectors made by crosvm's own GPT code and
 * Google's protoc, never by this project's code (tests/data/cdisk/README.md), and against
 * the numbers of crosvm-spec.md §4.11 written out by hand. Every rule has its exact message.
 */
#include "cmocka_wrap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"
#include "base/fs_util.h"
#include "disk/cdisk_layout.h"
#include "disk/cdisk_spec.h"
#include "disk/gpt.h"
#include "disk/gpt_guid.h"

#define DATA CDISK_TEST_DATA

/* ---- helpers -------------------------------------------------------------------------------- */

static struct gpt_guid guid(const char *s)
{
	struct gpt_guid g;

	if (gpt_guid_parse(s, &g) < 0)
		fail_msg("bad GUID in the test: %s", s);
	return g;
}

static uint8_t *load(const char *name, size_t *ret_len)
{
	char path[512];
	char *buf = NULL;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/%s", DATA, name);
	if (fs_read_file(AT_FDCWD, path, 1 << 20, &buf, &len) < 0)
		fail_msg("cannot read %s", path);
	*ret_len = len;
	return (uint8_t *)buf;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* First differing offset, for a readable failure. */
static void assert_bytes(const uint8_t *got, const uint8_t *want, size_t len, const char *what)
{
	for (size_t i = 0; i < len; i++)
		if (got[i] != want[i])
			fail_msg("%s differs at byte %zu (0x%zx): got %02x, want %02x", what, i, i,
				 got[i], want[i]);
}

static void assert_file_equals(const uint8_t *got, size_t len, const char *name)
{
	size_t want_len;
	uint8_t *want = load(name, &want_len);

	if (len != want_len)
		fail_msg("%s: %zu bytes, want %zu", name, len, want_len);
	assert_bytes(got, want, len, name);
	free(want);
}

/* The layout fails with -EINVAL, EX_ILLEGAL_ARGUMENT and exactly @msg. */
static void layout_fails(const struct cdisk_part *p, size_t n, const char *msg)
{
	struct cdisk_layout *sentinel = (struct cdisk_layout *)&sentinel, *l = sentinel;
	int r;

	avf_err_clear();
	r = cdisk_layout_make(p, n, NULL, &l);
	if (r != -EINVAL)
		fail_msg("got %d (%s), want -EINVAL for: %s", r, avf_err_last()->msg, msg);
	assert_ptr_equal(l, sentinel);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_ARGUMENT);
	if (strcmp(avf_err_last()->msg, msg) != 0)
		fail_msg("message\n  got:  %s\n  want: %s", avf_err_last()->msg, msg);
}

/* ---- GUIDs ---------------------------------------------------------------------------------- */

static void test_guid_disk_order(void **state)
{
	/* crosvm-spec.md §4.7, the two type GUIDs with their on-disk bytes */
	static const uint8_t linux_fs[16] = {0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47,
					     0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4};
	static const uint8_t esp[16] = {0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11,
					0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b};
	struct gpt_guid g = guid("0fc63daf-8483-4772-8e79-3d69d8477de4"), back;
	char text[GPT_GUID_STR_LEN];
	uint8_t disk[16];

	assert_memory_equal(&g, &gpt_guid_linux_fs, 16);
	gpt_guid_to_disk(&g, disk);
	assert_memory_equal(disk, linux_fs, 16);
	gpt_guid_from_disk(disk, &back);
	assert_memory_equal(&back, &g, 16);
	assert_string_equal(gpt_guid_format(&g, text), "0FC63DAF-8483-4772-8E79-3D69D8477DE4");

	g = guid("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
	gpt_guid_to_disk(&g, disk);
	assert_memory_equal(disk, esp, 16);
}

static void test_guid_parse_refuses(void **state)
{
	static const char *const bad[] = {
	    "",
	    "0FC63DAF-8483-4772-8E79-3D69D8477DE",   /* 35 */
	    "0FC63DAF-8483-4772-8E79-3D69D8477DE4A", /* 37 */
	    "{0FC63DAF-8483-4772-8E79-3D69D8477DE4}",
	    "0FC63DAF-8483-4772-8E79+3D69D8477DE4",
	    "0FC63DAG-8483-4772-8E79-3D69D8477DE4",
	    "0FC63DAF84834772-8E79-3D69D8477DE4xx",
	};
	struct gpt_guid g;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (gpt_guid_parse(bad[i], &g) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
	assert_int_equal(gpt_guid_parse(NULL, &g), -EINVAL);
}

static void test_guid_random(void **state)
{
	enum { N = 1000 };
	struct gpt_guid *g = calloc(N, sizeof(*g));

	assert_non_null(g);
	for (int i = 0; i < N; i++) {
		gpt_guid_random(&g[i]);
		/* RFC 4122 version 4, variant 10xx */
		assert_int_equal(g[i].b[6] >> 4, 4);
		assert_int_equal(g[i].b[8] >> 6, 2);
		for (int j = 0; j < i; j++)
			if (!memcmp(&g[i], &g[j], sizeof(g[i])))
				fail_msg("GUID %d repeats GUID %d", i, j);
	}
	free(g);
}

/* ---- names ---------------------------------------------------------------------------------- */

static void test_name_utf16(void **state)
{
	static const struct {
		const char *utf8;
		int units;
		uint16_t want[4];
	} rows[] = {
	    {"abc", 3, {'a', 'b', 'c'}},
	    {"", 0, {0}},
	    {"\xc3\xa9t\xc3\xa9", 3, {0x00E9, 't', 0x00E9}}, /* été */
	    {"\xe2\x82\xac", 1, {0x20AC}},                   /* € */
	    {"\xf0\x9f\x98\x80", 2, {0xD83D, 0xDE00}},       /* U+1F600: a surrogate pair */
	    {"\xf4\x8f\xbf\xbf", 2, {0xDBFF, 0xDFFF}},       /* U+10FFFF */
	    {"\xef\xbf\xbf"
	     "a",
	     2,
	     {0xFFFF, 'a'}}, /* U+FFFF stays one unit */
	};
	uint16_t name[GPT_NAME_UNITS];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(name, 0xAA, sizeof(name));
		assert_int_equal(gpt_name_from_utf8(rows[i].utf8, name), rows[i].units);
		for (int u = 0; u < rows[i].units; u++)
			assert_int_equal(name[u], rows[i].want[u]);
		/* zero-padded to 36 units */
		for (unsigned u = (unsigned)rows[i].units; u < GPT_NAME_UNITS; u++)
			assert_int_equal(name[u], 0);
	}
}

static void test_name_limits(void **state)
{
	char label[64];
	uint16_t name[GPT_NAME_UNITS];

	/* 36 units fit, with no terminator */
	memset(label, 'x', 36);
	label[36] = '\0';
	assert_int_equal(gpt_name_from_utf8(label, name), 36);
	assert_int_equal(name[35], 'x');
	/* 37 do not */
	memset(label, 'x', 37);
	label[37] = '\0';
	assert_int_equal(gpt_name_from_utf8(label, name), -ENAMETOOLONG);
	/* 35 units and a character needing two: 37 */
	memset(label, 'x', 35);
	strcpy(label + 35, "\xf0\x9f\x98\x80");
	assert_int_equal(gpt_name_from_utf8(label, name), -ENAMETOOLONG);
	/* 34 and the pair: 36 */
	strcpy(label + 34, "\xf0\x9f\x98\x80");
	assert_int_equal(gpt_name_from_utf8(label, name), 36);
	assert_int_equal(name[34], 0xD83D);
	assert_int_equal(name[35], 0xDE00);
	/* 12 x "€ab": 36 units, one of them 3 bytes of UTF-8 */
	label[0] = '\0';
	for (int i = 0; i < 12; i++)
		strcat(label, "\xe2\x82\xac\x61\x62");
	assert_int_equal(gpt_name_from_utf8(label, name), 36);
}

static void test_name_invalid_utf8(void **state)
{
	static const char *const bad[] = {
	    "\x80",                 /* a lone continuation byte */
	    "a\xc3",                /* cut */
	    "\xe2\x82",             /* cut */
	    "\xc0\x80",             /* overlong NUL */
	    "\xe0\x80\xaf",         /* overlong '/' */
	    "\xed\xa0\x80",         /* U+D800, a surrogate */
	    "\xf4\x90\x80\x80",     /* U+110000 */
	    "\xf8\x88\x80\x80\x80", /* 5-byte form */
	    "\xff",
	};
	uint16_t name[GPT_NAME_UNITS];
	char long_bad[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (gpt_name_from_utf8(bad[i], name) != -EILSEQ)
			fail_msg("accepted bad UTF-8 #%zu", i);
	/* too long and badly encoded: the encoding is the error */
	memset(long_bad, 'x', 40);
	strcpy(long_bad + 40, "\xff");
	assert_int_equal(gpt_name_from_utf8(long_bad, name), -EILSEQ);
}

static void test_name_to_utf8(void **state)
{
	uint16_t name[GPT_NAME_UNITS] = {'a', 0x00E9, 0xD83D, 0xDE00, 0xDC00, 'z'};
	uint16_t full[GPT_NAME_UNITS];
	char buf[GPT_NAME_UTF8_MAX];

	/* a lone low surrogate becomes U+FFFD */
	assert_int_equal(gpt_name_to_utf8(name, buf, sizeof(buf)), 11);
	assert_string_equal(buf, "a\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdz");
	/* 36 units of U+20AC: 108 bytes, the most there is */
	for (unsigned i = 0; i < GPT_NAME_UNITS; i++)
		full[i] = 0x20AC;
	assert_int_equal(gpt_name_to_utf8(full, buf, sizeof(buf)), 108);
	/* cut at a character boundary */
	assert_int_equal(gpt_name_to_utf8(full, buf, 5), 3);
	assert_string_equal(buf, "\xe2\x82\xac");
}

/* ---- headers and CRC ------------------------------------------------------------------------ */

static void test_crc32(void **state)
{
	/* the CRC-32 check value */
	assert_int_equal(gpt_crc32("123456789", 9), 0xCBF43926);
	assert_int_equal(gpt_crc32("", 0), 0);
}

static void test_header_decode_refuses(void **state)
{
	struct gpt_header h = {.my_lba = 1,
			       .alternate_lba = 95,
			       .n_entries = 128,
			       .entry_size = 128,
			       .entries_lba = 2};
	uint8_t sector[512] = {0};

	gpt_header_encode(&h, sector);
	assert_int_equal(gpt_header_decode(sector, sizeof(sector), "hdr", &h), 0);
	assert_int_equal(h.revision, 0x00010000);
	assert_int_equal(h.alternate_lba, 95);

	assert_int_equal(gpt_header_decode(sector, 91, "hdr", &h), -EINVAL);
	assert_string_equal(avf_err_last()->msg, "hdr: no 'EFI PART' signature");
	sector[40] ^= 1;
	assert_int_equal(gpt_header_decode(sector, sizeof(sector), "hdr", &h), -EINVAL);
	assert_true(strncmp(avf_err_last()->msg, "hdr: header CRC32 is ", 21) == 0);
	sector[40] ^= 1;
	sector[12] = 93;
	assert_int_equal(gpt_header_decode(sector, sizeof(sector), "hdr", &h), -EINVAL);
	assert_string_equal(avf_err_last()->msg, "hdr: header size 93, expected 92");
	sector[0] = 'X';
	assert_int_equal(gpt_header_decode(sector, sizeof(sector), "hdr", &h), -EINVAL);
	assert_string_equal(avf_err_last()->msg, "hdr: no 'EFI PART' signature");
}

/* ---- the layout against crosvm -------------------------------------------------------------- */

/* crosvm-spec.md §4.11: crosvm's unit test, fixed GUIDs. */
static struct cdisk_layout *unit_layout(void)
{
	static struct gpt_guid g1, g2, disk;
	struct cdisk_part p[2];
	struct cdisk_layout *l = NULL;

	g1 = guid("00000000-0000-0000-0000-000000000001");
	g2 = guid("00000000-0000-0000-0000-000000000002");
	disk = guid("00000000-0000-0000-0000-000000ABCDEF");
	p[0] = (struct cdisk_part){"partition1", 4000, false, &g1};
	p[1] = (struct cdisk_part){"partition2", 4096, true, &g2};
	if (cdisk_layout_make(p, 2, &disk, &l) < 0)
		fail_msg("%s", avf_err_last()->msg);
	return l;
}

static void test_crosvm_unit_vector(void **state)
{
	/* written out from crosvm-spec.md §4.11 */
	static const struct {
		enum cdisk_source source;
		uint64_t offset, length;
		bool writable;
	} want[] = {
	    {CDISK_SRC_HEADER, 0x0000, 0x5000, false}, {CDISK_SRC_PARTITION, 0x5000, 4000, false},
	    {CDISK_SRC_ZERO, 0x5FA0, 96, false},       {CDISK_SRC_PARTITION, 0x6000, 0x1000, true},
	    {CDISK_SRC_FOOTER, 0x7000, 0x5000, false},
	};
	static const char *const part_paths[] = {"/cdisk/partition1", "/cdisk/partition2"};
	struct cdisk_layout *l = unit_layout();
	struct cdisk_spec *spec = NULL;
	uint8_t *bytes;
	size_t len;

	assert_int_equal(l->disk_size, 0xC000);
	assert_true(l->uses_zero_filler);
	assert_int_equal(l->n_extents, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(l->extents[i].source, want[i].source);
		assert_int_equal(l->extents[i].offset, want[i].offset);
		assert_int_equal(l->extents[i].length, want[i].length);
		assert_int_equal(l->extents[i].writable, want[i].writable);
	}
	/* the fields §4.11 states */
	assert_int_equal(le32(l->header + 446 + 12), 96);        /* MBR: every sector */
	assert_int_equal(le64(l->header + 1024 + 32), 40);       /* entry 0 first LBA */
	assert_int_equal(le64(l->header + 1024 + 40), 47);       /* entry 0 last LBA */
	assert_int_equal(le64(l->header + 1024 + 128 + 32), 48); /* entry 1 */
	assert_int_equal(le64(l->header + 1024 + 128 + 40), 55);
	assert_int_equal(le64(l->header + 512 + 48), 62);           /* last usable LBA */
	assert_int_equal(le64(l->header + 512 + 32), 95);           /* backup header LBA */
	assert_int_equal(le64(l->footer + 19968 + 24), 95);         /* backup: my LBA */
	assert_int_equal(le64(l->footer + 19968 + 72), 2);          /* crosvm's quirk */
	assert_int_equal(le32(l->header + 512 + 88), 0x7b72193d);   /* entry array CRC */
	assert_int_equal(le32(l->header + 512 + 16), 0xaa32181d);   /* primary header CRC */
	assert_int_equal(le32(l->footer + 19968 + 16), 0x3203b17a); /* backup header CRC */
	/* and every byte, against crosvm's own GPT code */
	assert_file_equals(l->header, sizeof(l->header), "unit-header.img");
	assert_file_equals(l->footer, sizeof(l->footer), "unit-footer.img");
	/* the spec, against protoc's encoding of the hand-written text */
	assert_int_equal(cdisk_layout_spec(l, "/cdisk/header", "/cdisk/footer",
					   "/cdisk/zero_filler", part_paths, &spec),
			 0);
	assert_int_equal(cdisk_spec_encode(spec, &bytes, &len), 0);
	assert_file_equals(bytes, len, "unit-composite.img");
	free(bytes);
	cdisk_spec_free(spec);
	cdisk_layout_free(l);
}

static void test_avf_vector(void **state)
{
	static const char *const part_paths[] = {"/proc/self/fd/7", "/proc/self/fd/8",
						 "/proc/self/fd/9"};
	struct gpt_guid g[3] = {guid("1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9"),
				guid("00112233-4455-6677-8899-aabbccddeeff"),
				guid("fedcba98-7654-4321-8fed-cba987654321")};
	struct gpt_guid disk = guid("c0ffee00-1234-4abc-8def-0123456789ab");
	/* "super-été-😀-" and 23 digits: 36 UTF-16 units */
	struct cdisk_part p[3] = {
	    {"vbmeta_a", 65536, false, &g[0]},
	    {"super-\xc3\xa9t\xc3\xa9-\xf0\x9f\x98\x80-01234567890123456789012", 1048577, false,
	     &g[1]},
	    {"vm-instance", 10485760, true, &g[2]},
	};
	struct cdisk_layout *l = NULL;
	struct cdisk_spec *spec = NULL;
	uint8_t *bytes;
	size_t len;

	assert_int_equal(cdisk_layout_make(p, 3, &disk, &l), 0);
	/* 20480 + 65536 + 1052672 + 10485760 + 20480 */
	assert_int_equal(l->disk_size, 11644928);
	assert_file_equals(l->header, sizeof(l->header), "avf-header.img");
	assert_file_equals(l->footer, sizeof(l->footer), "avf-footer.img");
	assert_int_equal(cdisk_layout_spec(l, "/proc/self/fd/20", "/proc/self/fd/21",
					   "/proc/self/fd/22", part_paths, &spec),
			 0);
	assert_int_equal(cdisk_spec_encode(spec, &bytes, &len), 0);
	assert_file_equals(bytes, len, "avf-composite.img");
	free(bytes);
	cdisk_spec_free(spec);
	cdisk_layout_free(l);
}

static void test_layout_aligned_needs_no_filler(void **state)
{
	struct cdisk_part p[2] = {{"a", 8192, false, NULL}, {"b", 4096, true, NULL}};
	struct cdisk_layout *l = NULL;
	struct cdisk_spec *spec = NULL;
	const char *paths[] = {"/a", "/b"};

	assert_int_equal(cdisk_layout_make(p, 2, NULL, &l), 0);
	assert_false(l->uses_zero_filler);
	assert_int_equal(l->n_extents, 4);
	assert_int_equal(l->disk_size, 20480 + 8192 + 4096 + 20480);
	/* no zero filler path is needed */
	assert_int_equal(cdisk_layout_spec(l, "/h", "/f", NULL, paths, &spec), 0);
	assert_int_equal(spec->n_components, 4);
	assert_string_equal(spec->components[3].path, "/f");
	assert_int_equal(spec->components[3].offset, 20480 + 12288);
	cdisk_spec_free(spec);
	/* a missing path is refused */
	assert_int_equal(cdisk_layout_spec(l, "/h", "", NULL, paths, &spec), -EINVAL);
	assert_string_equal(avf_err_last()->msg, "composite disk: no path for component 3");
	cdisk_layout_free(l);
}

static void test_layout_empty_disk(void **state)
{
	struct cdisk_layout *l = NULL;

	assert_int_equal(cdisk_layout_make(NULL, 0, NULL, &l), 0);
	assert_int_equal(l->disk_size, 40960);
	assert_int_equal(l->n_extents, 2);
	assert_int_equal(le64(l->header + 512 + 48), 46); /* (20480 + 3584) / 512 - 1 */
	assert_int_equal(le64(l->footer + 19968 + 24), 79);
	cdisk_layout_free(l);
}

static void test_layout_random_guids(void **state)
{
	struct cdisk_part p[3] = {
	    {"a", 4096, false, NULL}, {"b", 4096, false, NULL}, {"c", 4096, false, NULL}};
	struct gpt_guid fixed = guid("11111111-2222-4333-8444-555555555555");
	struct cdisk_layout *l1 = NULL, *l2 = NULL;

	p[2].guid = &fixed;
	assert_int_equal(cdisk_layout_make(p, 3, NULL, &l1), 0);
	assert_int_equal(cdisk_layout_make(p, 3, NULL, &l2), 0);
	/* drawn: v4 and all different, within and across layouts; given: kept */
	assert_int_equal(l1->disk_guid.b[6] >> 4, 4);
	assert_int_equal(l1->part_guids[0].b[6] >> 4, 4);
	assert_memory_not_equal(&l1->disk_guid, &l2->disk_guid, 16);
	assert_memory_not_equal(&l1->part_guids[0], &l1->part_guids[1], 16);
	assert_memory_not_equal(&l1->part_guids[0], &l2->part_guids[0], 16);
	assert_memory_not_equal(&l1->part_guids[0], &l1->disk_guid, 16);
	assert_memory_equal(&l1->part_guids[2], &fixed, 16);
	assert_memory_equal(&l2->part_guids[2], &fixed, 16);
	/* and what the entries hold: entry 1's unique GUID at 1024 + 128 + 16 */
	{
		uint8_t disk[16];

		gpt_guid_to_disk(&l1->part_guids[1], disk);
		assert_memory_equal(l1->header + 1024 + 128 + 16, disk, 16);
		gpt_guid_to_disk(&l1->disk_guid, disk);
		assert_memory_equal(l1->header + 512 + 56, disk, 16);
		assert_memory_equal(l1->footer + 19968 + 56, disk, 16);
	}
	cdisk_layout_free(l1);
	cdisk_layout_free(l2);
}

static void test_layout_rules(void **state)
{
	struct cdisk_part p[3];
	struct cdisk_part *many;
	char label[64];

	p[0] = (struct cdisk_part){"boot", 0, false, NULL};
	layout_fails(p, 1,
		     "partition #0 'boot': size is 0: an empty partition would share its offset "
		     "with the next component");
	p[0] = (struct cdisk_part){"boot", 4096, false, NULL};
	p[1] = (struct cdisk_part){"data", 4000, true, NULL};
	layout_fails(
	    p, 2, "partition #1 'data': Read-write partition size 4000 is not a multiple of 4096.");
	p[1] = (struct cdisk_part){"data", 4097 * 4096 + 1, true, NULL};
	layout_fails(p, 2,
		     "partition #1 'data': Read-write partition size 16781313 is not a multiple of "
		     "4096.");
	p[1] = (struct cdisk_part){"data", 4096, true, NULL};
	p[2] = (struct cdisk_part){"boot", 4096, false, NULL};
	layout_fails(
	    p, 3, "partition #2 'boot': duplicate GPT partition label 'boot' (also partition #0)");
	p[2] = (struct cdisk_part){"", 4096, false, NULL};
	p[1].label = "";
	layout_fails(p, 3, "partition #2 '': duplicate GPT partition label '' (also partition #1)");
	memset(label, 'L', 37);
	label[37] = '\0';
	p[2] = (struct cdisk_part){label, 4096, false, NULL};
	p[1].label = "data";
	layout_fails(
	    p, 3,
	    "partition #2 'LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL': label is longer than the 36 "
	    "UTF-16 code units of a GPT name");
	p[2].label = "bad\xff";
	layout_fails(p, 3, "partition #2: label is not valid UTF-8");
	p[2].label = NULL;
	layout_fails(p, 3, "partition #2: no label");
	/* past the protective MBR's 32-bit count of sectors */
	p[2] = (struct cdisk_part){"big", (uint64_t)UINT32_MAX * 512, false, NULL};
	layout_fails(p, 3,
		     "partition #2 'big': the disk grows past what a protective MBR can count "
		     "(2^32-1 sectors)");
	p[2].size = (uint64_t)UINT32_MAX * 512 + 1;
	layout_fails(p, 3,
		     "partition #2 'big': size 2199023255041 is past what a GPT disk with a "
		     "protective MBR can hold (2199023255040 bytes)");
	/* about the biggest that fits: 2^32-1 sectors (3584 past a 4 KiB multiple) less header,
	 * footer, the first partitions and the big one's 4095-byte tail, aligned up */
	p[2].size = (uint64_t)UINT32_MAX * 512 - 20480 - 8192 - 20480 - 3584 - 4095;
	{
		struct cdisk_layout *l = NULL;

		assert_int_equal(cdisk_layout_make(p, 3, NULL, &l), 0);
		assert_int_equal(le32(l->header + 446 + 12), UINT32_MAX - 7);
		cdisk_layout_free(l);
	}
	/* 129 partitions */
	many = calloc(129, sizeof(*many));
	assert_non_null(many);
	layout_fails(many, 129, "129 partitions, more than the 128 entries of a GPT");
	free(many);
}

static void test_layout_128_partitions(void **state)
{
	struct cdisk_part *p = calloc(128, sizeof(*p));
	char(*labels)[8] = calloc(128, 8);
	struct cdisk_layout *l = NULL;

	assert_non_null(p);
	assert_non_null(labels);
	for (int i = 0; i < 128; i++) {
		snprintf(labels[i], 8, "p%d", i);
		p[i] = (struct cdisk_part){labels[i], 512, false, NULL};
	}
	assert_int_equal(cdisk_layout_make(p, 128, NULL, &l), 0);
	/* each 512 bytes: a partition and a zero tail */
	assert_int_equal(l->n_extents, 2 + 2 * 128);
	assert_int_equal(l->disk_size, 20480 + 128 * 4096 + 20480);
	/* the last entry fills the array's last slot */
	assert_int_equal(le64(l->header + 1024 + 127 * 128 + 32), 40 + 127 * 8);
	cdisk_layout_free(l);
	free(p);
	free(labels);
}

/* ---- the spec codec ------------------------------------------------------------------------- */

static void test_spec_decode_vector(void **state)
{
	size_t len;
	uint8_t *buf = load("unit-composite.img", &len);
	struct cdisk_spec *s = NULL;

	assert_true(cdisk_spec_has_magic(buf, len));
	assert_int_equal(cdisk_spec_decode(buf, len, "unit", &s), 0);
	assert_int_equal(s->version, 2);
	assert_int_equal(s->length, 0xC000);
	assert_int_equal(s->n_components, 5);
	assert_string_equal(s->components[0].path, "/cdisk/header");
	assert_int_equal(s->components[0].offset, 0);
	assert_int_equal(s->components[0].length, 0x5000);
	assert_string_equal(s->components[2].path, "/cdisk/zero_filler");
	assert_int_equal(s->components[2].offset, 0x5FA0);
	assert_int_equal(s->components[2].length, 0x60);
	assert_false(s->components[2].writable);
	assert_string_equal(s->components[3].path, "/cdisk/partition2");
	assert_true(s->components[3].writable);
	assert_int_equal(s->components[4].offset, 0x7000);
	assert_int_equal(s->components[4].length, 0x5000);
	assert_int_equal(s->components[4].file_offset, 0);
	cdisk_spec_free(s);
	free(buf);
}

/* Magic + @n protobuf bytes. */
static size_t with_magic(uint8_t *out, const uint8_t *pb, size_t n)
{
	memcpy(out, CDISK_MAGIC, CDISK_MAGIC_LEN);
	memcpy(out + CDISK_MAGIC_LEN, pb, n);
	return CDISK_MAGIC_LEN + n;
}

static void decode_fails(const uint8_t *pb, size_t n, int err, const char *msg)
{
	struct cdisk_spec *sentinel = (struct cdisk_spec *)&sentinel, *s = sentinel;
	uint8_t buf[256];
	size_t len = with_magic(buf, pb, n);
	int r;

	avf_err_clear();
	r = cdisk_spec_decode(buf, len, "x.img", &s);
	if (r != err)
		fail_msg("got %d (%s), want %d for: %s", r, avf_err_last()->msg, err, msg);
	assert_ptr_equal(s, sentinel);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_ARGUMENT);
	if (strcmp(avf_err_last()->msg, msg) != 0)
		fail_msg("message\n  got:  %s\n  want: %s", avf_err_last()->msg, msg);
}

/* Protobuf bytes written by hand: 08 = version, 12 = component, 18 = length; in a
 * component 0a = path, 10 = offset, 18 = capability, 20 = file_offset. */
static void test_spec_decode_refuses(void **state)
{
#define PB(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})
	/* two components "/a" at 0 and "/b" at 0x10, length 0x20: accepted */
	struct cdisk_spec *s = NULL;
	uint8_t buf[256];
	size_t len = with_magic(buf, PB(0x08, 0x02, 0x12, 0x04, 0x0a, 0x02, '/', 'a', 0x12, 0x06,
					0x0a, 0x02, '/', 'b', 0x10, 0x10, 0x18, 0x20));

	assert_int_equal(cdisk_spec_decode(buf, len, "x.img", &s), 0);
	assert_int_equal(s->n_components, 2);
	cdisk_spec_free(s);

	decode_fails(PB(0x08, 0x03, 0x12, 0x04, 0x0a, 0x02, '/', 'a', 0x18, 0x20), -EINVAL,
		     "x.img: unknown version 3 in specification");
	decode_fails(PB(0x08, 0x02, 0x18, 0x20), -EINVAL, "x.img: no component disks");
	decode_fails(PB(0x08, 0x02, 0x12, 0x04, 0x0a, 0x02, '/', 'a', 0x12, 0x04, 0x0a, 0x02, '/',
			'b', 0x18, 0x20),
		     -EINVAL, "x.img: Two disks at offset 0");
	decode_fails(PB(0x08, 0x02, 0x12, 0x06, 0x0a, 0x02, '/', 'a', 0x10, 0x20, 0x18, 0x20),
		     -EINVAL, "x.img: length 32 is not past the last component's offset 32");
	decode_fails(PB(0x08, 0x02, 0x12, 0x02, 0x10, 0x01, 0x18, 0x20), -EINVAL,
		     "x.img: component 0: empty file_path");
	decode_fails(PB(0x08, 0x02, 0x12, 0x06, 0x0a, 0x02, '/', 'a', 0x18, 0x02, 0x18, 0x20),
		     -EINVAL,
		     "x.img: component 0 ('/a'): read_write_capability 2 is neither READ_ONLY (0) "
		     "nor READ_WRITE (1)");
	decode_fails(PB(0x08, 0x02, 0x12, 0x04, 0x0a, 0x02, '/', 'a', 0x18, 0x20, 0x20, 0x01),
		     -EINVAL, "x.img: unknown field 4 in CompositeDisk");
	decode_fails(PB(0x08, 0x02, 0x12, 0x06, 0x0a, 0x02, '/', 'a', 0x28, 0x01, 0x18, 0x20),
		     -EINVAL, "x.img: component 0: unknown field 5 in ComponentDisk");
	decode_fails(PB(0x08, 0x02, 0x12, 0x04, 0x0a, 0x02, '/', 0xff, 0x18, 0x20), -EINVAL,
		     "x.img: component 0: file_path is not valid UTF-8");
	/* found by fuzz_cdisk_spec: a newline in a path quoted by the next message */
	decode_fails(
	    PB(0x08, 0x02, 0x12, 0x08, 0x0a, 0x03, '/', '\n', 'a', 0x18, 0x85, 0x01, 0x18, 0x20),
	    -EINVAL, "x.img: component 0: file_path has a control character (byte 1)");
	decode_fails(PB(0x08, 0x02, 0x12, 0x04, 0x0a, 0x02, '/', 0x7f, 0x18, 0x20), -EINVAL,
		     "x.img: component 0: file_path has a control character (byte 1)");
	/* an explicit offset 0, a NUL in a path, a long varint, fields out of order */
	decode_fails(PB(0x08, 0x02, 0x12, 0x06, 0x0a, 0x02, '/', 'a', 0x10, 0x00, 0x18, 0x20),
		     -EINVAL,
		     "x.img: specification is not canonically encoded (fields repeated, out of "
		     "order or zero-valued, long varints, or a NUL in a path)");
	decode_fails(PB(0x08, 0x02, 0x12, 0x05, 0x0a, 0x03, '/', 0x00, 'a', 0x18, 0x20), -EINVAL,
		     "x.img: specification is not canonically encoded (fields repeated, out of "
		     "order or zero-valued, long varints, or a NUL in a path)");
	decode_fails(PB(0x08, 0x82, 0x00, 0x12, 0x04, 0x0a, 0x02, '/', 'a', 0x18, 0x20), -EINVAL,
		     "x.img: specification is not canonically encoded (fields repeated, out of "
		     "order or zero-valued, long varints, or a NUL in a path)");
	decode_fails(PB(0x18, 0x20, 0x08, 0x02, 0x12, 0x04, 0x0a, 0x02, '/', 'a'), -EINVAL,
		     "x.img: specification is not canonically encoded (fields repeated, out of "
		     "order or zero-valued, long varints, or a NUL in a path)");
	/* not protobuf at all: a length running past the end, a bad wire type */
	decode_fails(PB(0x08, 0x02, 0x12, 0x7f, 0x0a), -EINVAL,
		     "x.img: failed to parse specification proto");
	decode_fails(PB(0x0f), -EINVAL, "x.img: failed to parse specification proto");
	/* a component's file_offset past 2^63 with its extent */
	decode_fails(PB(0x08, 0x02, 0x12, 0x0e, 0x0a, 0x02, '/', 'a', 0x20, 0xff, 0xff, 0xff, 0xff,
			0xff, 0xff, 0xff, 0xff, 0x7f, 0x18, 0x20),
		     -EINVAL,
		     "x.img: component '/a': file_offset 9223372036854775807 plus its extent 32 is "
		     "past 2^63-1");
	decode_fails(PB(0x08, 0x02, 0x12, 0x04, 0x0a, 0x02, '/', 'a', 0x18, 0x80, 0x80, 0x80, 0x80,
			0x80, 0x80, 0x80, 0x80, 0x80, 0x01),
		     -EINVAL, "x.img: length 9223372036854775808 is too large (more than 2^63-1)");
#undef PB
}

static void test_spec_decode_magic_and_size(void **state)
{
	struct cdisk_spec *s = NULL;
	uint8_t *big;

	assert_int_equal(cdisk_spec_decode("composite_disk", 14, NULL, &s), -EINVAL);
	assert_string_equal(avf_err_last()->msg,
			    "<spec>: invalid magic header for composite disk format");
	assert_int_equal(cdisk_spec_decode("composite_disk\x1e", 15, "m", &s), -EINVAL);
	assert_string_equal(avf_err_last()->msg,
			    "m: invalid magic header for composite disk format");
	/* the magic alone: an empty message, no components */
	assert_int_equal(cdisk_spec_decode(CDISK_MAGIC, 15, "m", &s), -EINVAL);
	assert_string_equal(avf_err_last()->msg, "m: no component disks");
	big = calloc(1, CDISK_SPEC_MAX_BYTES + 1);
	assert_non_null(big);
	memcpy(big, CDISK_MAGIC, CDISK_MAGIC_LEN);
	assert_int_equal(cdisk_spec_decode(big, CDISK_SPEC_MAX_BYTES + 1, "m", &s), -EFBIG);
	assert_string_equal(avf_err_last()->msg,
			    "m: 1048577 bytes, more than the 1048576 a composite spec may have");
	free(big);
	assert_null(s);
}

static void test_spec_sorted_and_roundtrip(void **state)
{
	struct cdisk_component c[3] = {{.path = "/c", .offset = 300, .writable = true},
				       {.path = "/a", .offset = 0},
				       {.path = "/b", .offset = 100, .file_offset = 7}};
	struct cdisk_spec in = {.version = 2, .length = 400, .components = c, .n_components = 3};
	struct cdisk_spec *out = NULL;
	uint8_t *bytes;
	size_t len;

	assert_int_equal(cdisk_spec_encode(&in, &bytes, &len), 0);
	assert_int_equal(cdisk_spec_decode(bytes, len, "rt", &out), 0);
	/* back in offset order, with extents */
	assert_string_equal(out->components[0].path, "/a");
	assert_int_equal(out->components[0].length, 100);
	assert_string_equal(out->components[1].path, "/b");
	assert_int_equal(out->components[1].file_offset, 7);
	assert_int_equal(out->components[1].length, 200);
	assert_string_equal(out->components[2].path, "/c");
	assert_true(out->components[2].writable);
	assert_int_equal(out->components[2].length, 100);
	cdisk_spec_free(out);
	free(bytes);
	/* a component without a path cannot be encoded */
	c[1].path = "";
	assert_int_equal(cdisk_spec_encode(&in, &bytes, &len), -EINVAL);
	assert_string_equal(avf_err_last()->msg, "composite component 1 has no path");
	assert_null(cdisk_spec_free(NULL));
	assert_null(cdisk_layout_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_guid_disk_order),
	    cmocka_unit_test(test_guid_parse_refuses),
	    cmocka_unit_test(test_guid_random),
	    cmocka_unit_test(test_name_utf16),
	    cmocka_unit_test(test_name_limits),
	    cmocka_unit_test(test_name_invalid_utf8),
	    cmocka_unit_test(test_name_to_utf8),
	    cmocka_unit_test(test_crc32),
	    cmocka_unit_test(test_header_decode_refuses),
	    cmocka_unit_test(test_crosvm_unit_vector),
	    cmocka_unit_test(test_avf_vector),
	    cmocka_unit_test(test_layout_aligned_needs_no_filler),
	    cmocka_unit_test(test_layout_empty_disk),
	    cmocka_unit_test(test_layout_random_guids),
	    cmocka_unit_test(test_layout_rules),
	    cmocka_unit_test(test_layout_128_partitions),
	    cmocka_unit_test(test_spec_decode_vector),
	    cmocka_unit_test(test_spec_decode_refuses),
	    cmocka_unit_test(test_spec_decode_magic_and_size),
	    cmocka_unit_test(test_spec_sorted_and_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
