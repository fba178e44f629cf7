/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of core/cid: round-robin grants, exhaustion, persistence, state file parsing. */
/* cmocka.h needs these four first; keep it in a block of its own so sorting cannot move it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/avf_err.h"
#include "cid/cid_alloc.h"

#include "avf/avf_types.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CID_MIN   AVF_GUEST_CID_MIN
#define CID_MAX   AVF_GUEST_CID_MAX
#define CID_RANGE (CID_MAX - CID_MIN + 1)
#define SENTINEL  0xdeadbeefu

/* ---- helpers ------------------------------------------------------------ */

/* Per-test scratch directory; path is "<dir>/cid". */
struct fixture {
	char dir[1024]; /* shorter than the paths built from it: no truncation possible */
	char path[PATH_MAX];
	char tmp[PATH_MAX]; /* "<path>.tmp" */
};

static int setup_dir(void **state)
{
	const char *base = getenv("TMPDIR");
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (!base || !*base || strlen(base) > 900)
		base = "/tmp";
	snprintf(f->dir, sizeof(f->dir), "%s/test_cid.XXXXXX", base);
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/cid", f->dir);
	snprintf(f->tmp, sizeof(f->tmp), "%s/cid.tmp", f->dir);
	*state = f;
	return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int teardown_dir(void **state)
{
	struct fixture *f = *state;
	int r = nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);

	free(f);
	return r;
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Whole content of a small file as a string (fails the test if unreadable). */
static void read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, size - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void assert_file_is(const char *path, const char *expected)
{
	char buf[128];

	read_file(path, buf, sizeof(buf));
	assert_string_equal(buf, expected);
}

static uint32_t grant_ok(struct cid_alloc *a)
{
	uint32_t cid = SENTINEL;

	assert_int_equal(cid_alloc_grant(a, &cid), 0);
	assert_int_not_equal(cid, SENTINEL);
	return cid;
}

static void assert_busy(struct cid_alloc *a)
{
	uint32_t cid = SENTINEL;

	avf_err_clear();
	assert_int_equal(cid_alloc_grant(a, &cid), -EBUSY);
	assert_int_equal(cid, SENTINEL);
	assert_int_equal(avf_err_last()->err, -EBUSY);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_STATE);
	assert_string_equal(avf_err_last()->msg, "Could not find an available CID.");
}

static struct cid_alloc *new_ok(uint32_t min, uint32_t max, const char *path)
{
	struct cid_alloc *a = NULL;

	assert_int_equal(cid_alloc_new(min, max, path, &a), 0);
	assert_non_null(a);
	return a;
}

/* ---- creation ----------------------------------------------------------- */

static void test_new_rejects_bad_range(void **state)
{
	struct cid_alloc *sentinel = (struct cid_alloc *)&sentinel;
	struct cid_alloc *a = sentinel;

	(void)state;
	avf_err_clear();
	assert_int_equal(cid_alloc_new(10, 9, NULL, &a), -EINVAL);
	assert_ptr_equal(a, sentinel);
	assert_int_equal(avf_err_last()->err, -EINVAL);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_ARGUMENT);
	assert_non_null(strstr(avf_err_last()->msg, "10..9"));

	assert_int_equal(cid_alloc_new(0, UINT32_MAX, NULL, &a), -EINVAL);
	assert_ptr_equal(a, sentinel);
	assert_int_equal(cid_alloc_new(UINT32_MAX, UINT32_MAX, NULL, &a), -EINVAL);
	assert_ptr_equal(a, sentinel);
}

static void test_free_null(void **state)
{
	struct cid_alloc *a = new_ok(CID_MIN, CID_MAX, NULL);

	(void)state;
	assert_null(cid_alloc_free(NULL));
	assert_null(cid_alloc_free(a));
}

/* ---- granting ----------------------------------------------------------- */

static void test_first_grant_is_min(void **state)
{
	struct cid_alloc *a = new_ok(CID_MIN, CID_MAX, NULL);

	(void)state;
	assert_null(cid_alloc_load_note(a));
	assert_int_equal(cid_alloc_last(a), 0);
	assert_int_equal(cid_alloc_held_count(a), 0);
	assert_false(cid_alloc_is_held(a, CID_MIN));

	assert_int_equal(grant_ok(a), CID_MIN);
	assert_int_equal(cid_alloc_last(a), CID_MIN);
	assert_int_equal(cid_alloc_held_count(a), 1);
	assert_true(cid_alloc_is_held(a, CID_MIN));
	assert_false(cid_alloc_is_held(a, CID_MIN + 1));
	cid_alloc_free(a);
}

static void test_round_robin_not_lowest_free(void **state)
{
	struct cid_alloc *a = new_ok(CID_MIN, CID_MAX, NULL);
	uint32_t first;

	(void)state;
	first = grant_ok(a);
	assert_int_equal(cid_alloc_release(a, first), 0);
	assert_false(cid_alloc_is_held(a, first));
	assert_int_equal(cid_alloc_held_count(a), 0);
	/* The released CID is free and lowest, but the cursor moved on. */
	assert_int_equal(grant_ok(a), first + 1);
	assert_int_equal(cid_alloc_release(a, first + 1), 0);
	assert_int_equal(grant_ok(a), first + 2);
	assert_int_equal(cid_alloc_held_count(a), 1);
	cid_alloc_free(a);
}

static void test_wrap_max_to_min(void **state)
{
	struct cid_alloc *a = new_ok(10, 13, NULL);
	uint32_t i;

	(void)state;
	for (i = 10; i <= 13; i++)
		assert_int_equal(grant_ok(a), i);
	assert_int_equal(cid_alloc_release(a, 11), 0);
	assert_int_equal(cid_alloc_release(a, 10), 0);
	/* Cursor at max: the next grant wraps to min, then continues upwards. */
	assert_int_equal(grant_ok(a), 10);
	assert_int_equal(grant_ok(a), 11);
	assert_int_equal(cid_alloc_last(a), 11);
	cid_alloc_free(a);
}

/* Unaligned min and a range that is not a multiple of 64, so runs straddle words. */
static void test_skip_long_held_runs(void **state)
{
	struct cid_alloc *a = new_ok(100, 999, NULL);
	uint32_t i;

	(void)state;
	for (i = 0; i < 900; i++)
		assert_int_equal(grant_ok(a), 100 + i);
	assert_int_equal(cid_alloc_held_count(a), 900);
	assert_int_equal(cid_alloc_release(a, 950), 0);
	assert_int_equal(cid_alloc_release(a, 500), 0);
	assert_int_equal(cid_alloc_release(a, 100), 0);

	assert_int_equal(grant_ok(a), 100); /* wrap from 999 */
	assert_int_equal(grant_ok(a), 500); /* 101..499 held: 399 CIDs, 7 words */
	assert_int_equal(grant_ok(a), 950); /* 501..949 held */
	assert_busy(a);

	/* A run that crosses the wrap: 951..999 then 100..119. */
	assert_int_equal(cid_alloc_release(a, 120), 0);
	assert_int_equal(grant_ok(a), 120);
	assert_int_equal(cid_alloc_held_count(a), 900);
	assert_busy(a);
	cid_alloc_free(a);
}

static void test_exhaustion_small_range(void **state)
{
	struct cid_alloc *a = new_ok(10, 13, NULL);
	uint32_t i;

	(void)state;
	for (i = 10; i <= 13; i++)
		assert_int_equal(grant_ok(a), i);
	/* 4 CIDs in a 64-bit word: the 60 padding bits must never be granted. */
	assert_busy(a);
	assert_int_equal(cid_alloc_held_count(a), 4);
	assert_int_equal(cid_alloc_last(a), 13);

	assert_int_equal(cid_alloc_release(a, 12), 0);
	assert_int_equal(grant_ok(a), 12);
	assert_busy(a);
	cid_alloc_free(a);
}

static void test_full_avf_range(void **state)
{
	struct cid_alloc *a = new_ok(CID_MIN, CID_MAX, NULL);
	uint32_t i;

	(void)state;
	for (i = 0; i < CID_RANGE; i++) {
		uint32_t cid = grant_ok(a);

		if (cid != CID_MIN + i)
			fail_msg("grant %u returned %u", i, cid);
	}
	assert_int_equal(cid_alloc_held_count(a), 63488);
	assert_int_equal(cid_alloc_last(a), CID_MAX);
	assert_busy(a);

	assert_int_equal(cid_alloc_release(a, 40000), 0);
	assert_int_equal(grant_ok(a), 40000);
	assert_busy(a);

	/* From 40000: 40001..65534 held, then max, then wrap to min. */
	assert_int_equal(cid_alloc_release(a, CID_MIN), 0);
	assert_int_equal(cid_alloc_release(a, CID_MAX), 0);
	assert_int_equal(grant_ok(a), CID_MAX);
	assert_int_equal(grant_ok(a), CID_MIN);
	assert_busy(a);
	cid_alloc_free(a);
}

static void test_single_cid_range(void **state)
{
	struct cid_alloc *a = new_ok(7, 7, NULL);

	(void)state;
	assert_int_equal(grant_ok(a), 7);
	assert_busy(a);
	assert_int_equal(cid_alloc_release(a, 7), 0);
	assert_int_equal(grant_ok(a), 7);
	cid_alloc_free(a);
}

/* The highest allowed range: max + 1 and the wrap must not overflow. */
static void test_top_of_u32(void **state)
{
	struct cid_alloc *a = new_ok(UINT32_MAX - 2, UINT32_MAX - 1, NULL);

	(void)state;
	assert_int_equal(grant_ok(a), UINT32_MAX - 2);
	assert_int_equal(grant_ok(a), UINT32_MAX - 1);
	assert_busy(a);
	assert_int_equal(cid_alloc_release(a, UINT32_MAX - 2), 0);
	assert_int_equal(grant_ok(a), UINT32_MAX - 2);
	assert_int_equal(cid_alloc_release(a, UINT32_MAX), -EINVAL);
	assert_false(cid_alloc_is_held(a, UINT32_MAX));
	cid_alloc_free(a);
}

/* min == 0: CID 0 is a real grant, and the cursor must move past it. */
static void test_zero_min(void **state)
{
	struct cid_alloc *a = new_ok(0, 3, NULL);

	(void)state;
	assert_int_equal(grant_ok(a), 0);
	assert_int_equal(cid_alloc_release(a, 0), 0);
	assert_int_equal(grant_ok(a), 1);
	cid_alloc_free(a);
}

/* ---- releasing ---------------------------------------------------------- */

static void test_release_errors(void **state)
{
	struct cid_alloc *a = new_ok(CID_MIN, CID_MAX, NULL);
	const uint32_t outside[] = {0, CID_MIN - 1, CID_MAX + 1, UINT32_MAX};
	size_t i;

	(void)state;
	avf_err_clear();
	assert_int_equal(cid_alloc_release(a, CID_MIN), -ENOENT);
	assert_int_equal(avf_err_last()->err, -ENOENT);
	assert_non_null(strstr(avf_err_last()->msg, "2048"));

	assert_int_equal(grant_ok(a), CID_MIN);
	assert_int_equal(cid_alloc_release(a, CID_MIN + 1), -ENOENT);
	assert_int_equal(cid_alloc_release(a, CID_MIN), 0);
	assert_int_equal(cid_alloc_release(a, CID_MIN), -ENOENT); /* twice */

	assert_int_equal(grant_ok(a), CID_MIN + 1);
	for (i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		avf_err_clear();
		assert_int_equal(cid_alloc_release(a, outside[i]), -EINVAL);
		assert_int_equal(avf_err_last()->err, -EINVAL);
		assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_ARGUMENT);
		assert_false(cid_alloc_is_held(a, outside[i]));
	}
	assert_int_equal(cid_alloc_held_count(a), 1);
	cid_alloc_free(a);
}

/* ---- claiming ----------------------------------------------------------- */

/* A claim holds the CID like a grant but leaves the cursor where it was. */
static void test_claim_holds_without_moving_cursor(void **state)
{
	struct cid_alloc *a = new_ok(10, 15, NULL);

	(void)state;
	assert_int_equal(grant_ok(a), 10);
	assert_int_equal(grant_ok(a), 11);
	/* Ahead of the cursor: the next grants step over it. */
	assert_int_equal(cid_alloc_claim(a, 12), 0);
	assert_true(cid_alloc_is_held(a, 12));
	assert_int_equal(cid_alloc_held_count(a), 3);
	assert_int_equal(cid_alloc_last(a), 11);
	assert_int_equal(grant_ok(a), 13);
	/* Behind the cursor: the cursor does not go back to it. */
	assert_int_equal(cid_alloc_release(a, 10), 0);
	assert_int_equal(cid_alloc_claim(a, 10), 0);
	assert_int_equal(cid_alloc_last(a), 13);
	assert_int_equal(grant_ok(a), 14);
	assert_int_equal(grant_ok(a), 15);
	/* Every CID held (two of them by claims): exhaustion as usual. */
	assert_busy(a);
	/* A claimed CID is released like a granted one. */
	assert_int_equal(cid_alloc_release(a, 12), 0);
	assert_int_equal(grant_ok(a), 12);
	cid_alloc_free(a);
}

static void test_claim_errors(void **state)
{
	struct cid_alloc *a = new_ok(CID_MIN, CID_MAX, NULL);
	const uint32_t outside[] = {0, CID_MIN - 1, CID_MAX + 1, UINT32_MAX};
	size_t i;

	(void)state;
	assert_int_equal(grant_ok(a), CID_MIN);
	avf_err_clear();
	assert_int_equal(cid_alloc_claim(a, CID_MIN), -EBUSY);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_STATE);
	assert_string_equal(avf_err_last()->msg, "CID 2048 is already held");
	assert_int_equal(cid_alloc_claim(a, CID_MAX), 0);
	assert_int_equal(cid_alloc_claim(a, CID_MAX), -EBUSY); /* twice */
	for (i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		avf_err_clear();
		assert_int_equal(cid_alloc_claim(a, outside[i]), -EINVAL);
		assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_ARGUMENT);
		assert_non_null(strstr(avf_err_last()->msg, "is outside 2048..65535"));
		assert_false(cid_alloc_is_held(a, outside[i]));
	}
	assert_int_equal(cid_alloc_held_count(a), 2);
	cid_alloc_free(a);
}

/* ---- persistence -------------------------------------------------------- */

/* A claim is not a grant: the state file keeps naming the last grant. */
static void test_claim_does_not_persist(void **state)
{
	struct fixture *f = *state;
	struct cid_alloc *a = new_ok(CID_MIN, CID_MAX, f->path);

	assert_int_equal(cid_alloc_claim(a, 3000), 0);
	assert_false(exists(f->path));
	assert_int_equal(grant_ok(a), 2048);
	assert_int_equal(cid_alloc_claim(a, 2049), 0);
	assert_file_is(f->path, "2048\n");
	assert_int_equal(grant_ok(a), 2050);
	assert_file_is(f->path, "2050\n");
	cid_alloc_free(a);
}

static void test_missing_file_note(void **state)
{
	struct fixture *f = *state;
	struct cid_alloc *a = new_ok(CID_MIN, CID_MAX, f->path);
	char expected[PATH_MAX + 64];

	snprintf(expected, sizeof(expected), "state file %s not found: starting at 2048", f->path);
	assert_non_null(cid_alloc_load_note(a));
	assert_string_equal(cid_alloc_load_note(a), expected);
	assert_int_equal(cid_alloc_last(a), 0);
	assert_false(exists(f->path)); /* creation writes nothing */
	assert_int_equal(grant_ok(a), CID_MIN);
	cid_alloc_free(a);
}

static void test_persist_and_continue(void **state)
{
	struct fixture *f = *state;
	struct cid_alloc *a = new_ok(CID_MIN, CID_MAX, f->path);

	assert_int_equal(grant_ok(a), 2048);
	assert_file_is(f->path, "2048\n");
	assert_int_equal(grant_ok(a), 2049);
	assert_file_is(f->path, "2049\n");
	assert_false(exists(f->tmp));
	/* Releasing does not touch the file. */
	assert_int_equal(cid_alloc_release(a, 2049), 0);
	assert_file_is(f->path, "2049\n");
	cid_alloc_free(a);
	assert_file_is(f->path, "2049\n");

	a = new_ok(CID_MIN, CID_MAX, f->path);
	assert_null(cid_alloc_load_note(a));
	assert_int_equal(cid_alloc_last(a), 2049);
	assert_int_equal(cid_alloc_held_count(a), 0);
	assert_int_equal(grant_ok(a), 2050);
	assert_file_is(f->path, "2050\n");
	assert_false(exists(f->tmp));
	cid_alloc_free(a);
}

static void test_persist_valid_contents(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *content;
		uint32_t last, next;
	} cases[] = {
	    {"65535\n", 65535, 2048}, /* last == max continues at min */
	    {"65534", 65534, 65535},  /* newline optional */
	    {"2048\n", 2048, 2049},
	    {"2050 ", 2050, 2051}, /* one trailing blank */
	    {"3000\r", 3000, 3001},
	    {"0002050\n", 2050, 2051},
	    /* Exactly 64 bytes: 63 digits with leading zeros, then a newline. */
	    {"000000000000000000000000000000000000000000000000000000000002050\n", 2050, 2051},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cid_alloc *a;

		write_file(f->path, cases[i].content, strlen(cases[i].content));
		a = new_ok(CID_MIN, CID_MAX, f->path);
		if (cid_alloc_load_note(a))
			fail_msg("case %zu: unexpected note: %s", i, cid_alloc_load_note(a));
		assert_int_equal(cid_alloc_last(a), cases[i].last);
		assert_int_equal(grant_ok(a), cases[i].next);
		cid_alloc_free(a);
	}
}

static void test_corrupt_files_start_at_min(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *content;
		size_t len;
		const char *quoted; /* expected in the note, or NULL */
	} cases[] = {
	    {"", 0, "''"},
	    {"\n", 1, "''"},
	    {"abc", 3, "'abc'"},
	    {"2047", 4, "'2047'"},
	    {"65536\n", 6, "'65536'"},
	    {"-5", 2, "'-5'"},
	    {"+2050", 5, "'+2050'"},
	    {" 2050", 5, "' 2050'"},
	    {"99999999999999999999", 20, "'99999999999999999999'"},
	    {"4294967296", 10, "'4294967296'"},
	    {"4294969344", 10, NULL},           /* 2^32 + 2048: wraps to a CID in 32 bits */
	    {"18446744073709553666", 20, NULL}, /* 2^64 + 2050: wraps to a CID in 64 bits */
	    {"2050x", 5, "'2050x'"},
	    {"2050\n\n", 6, "'2050?'"},
	    {"2050 \n", 6, NULL},
	    {"20\0"
	     "50",
	     5, "'20?50'"},
	    {"0x800", 5, NULL},
	    /* 65 bytes: a valid CID with leading zeros, but one byte over the limit. */
	    {"00000000000000000000000000000000000000000000000000000000000002050", 65,
	     "... (more than 64 bytes)"},
	};
	char digits[101];
	char big_quote[64];
	char msg_path[PATH_MAX + 32];
	size_t i;

	snprintf(msg_path, sizeof(msg_path), "state file %s is corrupt: ", f->path);
	for (i = 0; i <= sizeof(cases) / sizeof(cases[0]); i++) {
		const char *content, *quoted;
		struct cid_alloc *a;
		const char *note;
		size_t len;

		if (i < sizeof(cases) / sizeof(cases[0])) {
			content = cases[i].content;
			len = cases[i].len;
			quoted = cases[i].quoted;
		} else {
			/* 100 digits of a valid CID prefix: too large to be a state file. */
			memset(digits, '0', 100);
			memcpy(digits + 96, "2050", 4);
			digits[100] = '\0';
			content = digits;
			len = 100;
			snprintf(big_quote, sizeof(big_quote), "'%.32s'...", digits);
			quoted = big_quote;
		}
		write_file(f->path, content, len);
		a = new_ok(CID_MIN, CID_MAX, f->path);
		note = cid_alloc_load_note(a);
		if (!note)
			fail_msg("case %zu: no note", i);
		if (strncmp(note, msg_path, strlen(msg_path)) != 0)
			fail_msg("case %zu: note does not name the file: %s", i, note);
		if (!strstr(note, "is not a CID in 2048..65535; starting at 2048"))
			fail_msg("case %zu: note: %s", i, note);
		if (quoted && !strstr(note, quoted))
			fail_msg("case %zu: note lacks %s: %s", i, quoted, note);
		assert_int_equal(cid_alloc_last(a), 0);
		assert_int_equal(grant_ok(a), CID_MIN);
		assert_file_is(f->path, "2048\n"); /* the grant repaired the file */
		cid_alloc_free(a);
	}
}

static void test_state_path_is_directory(void **state)
{
	struct fixture *f = *state;
	struct cid_alloc *a;
	uint32_t cid = SENTINEL;
	int r;

	assert_int_equal(mkdir(f->path, 0755), 0);
	a = new_ok(CID_MIN, CID_MAX, f->path);
	assert_non_null(cid_alloc_load_note(a));
	assert_non_null(strstr(cid_alloc_load_note(a), f->path));
	assert_non_null(strstr(cid_alloc_load_note(a), "starting at 2048"));
	assert_int_equal(cid_alloc_last(a), 0);

	/* The tmp file is written, then the rename over a directory fails: it must go. */
	avf_err_clear();
	r = cid_alloc_grant(a, &cid);
	assert_true(r < 0);
	assert_int_equal(cid, SENTINEL);
	assert_int_equal(avf_err_last()->err, r);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_STATE);
	assert_non_null(strstr(avf_err_last()->msg, f->path));
	assert_non_null(strstr(avf_err_last()->msg, strerror(-r)));
	assert_int_equal(cid_alloc_held_count(a), 0);
	assert_false(cid_alloc_is_held(a, CID_MIN));
	assert_int_equal(cid_alloc_last(a), 0);
	assert_false(exists(f->tmp));

	assert_int_equal(rmdir(f->path), 0);
	assert_int_equal(grant_ok(a), CID_MIN);
	assert_file_is(f->path, "2048\n");
	assert_false(exists(f->tmp));
	cid_alloc_free(a);
}

static void test_persist_fail_parent_missing(void **state)
{
	struct fixture *f = *state;
	char sub[PATH_MAX], path[PATH_MAX + 8], tmp[PATH_MAX + 16];
	struct cid_alloc *a;
	uint32_t cid = SENTINEL;

	snprintf(sub, sizeof(sub), "%s/nodir", f->dir);
	snprintf(path, sizeof(path), "%s/cid", sub);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	a = new_ok(CID_MIN, CID_MAX, path);
	assert_non_null(strstr(cid_alloc_load_note(a), "not found"));

	avf_err_clear();
	assert_int_equal(cid_alloc_grant(a, &cid), -ENOENT);
	assert_int_equal(cid, SENTINEL);
	assert_int_equal(avf_err_last()->err, -ENOENT);
	assert_non_null(strstr(avf_err_last()->msg, path));
	assert_non_null(strstr(avf_err_last()->msg, strerror(ENOENT)));
	assert_int_equal(cid_alloc_held_count(a), 0);
	assert_int_equal(cid_alloc_last(a), 0);
	assert_false(exists(tmp));

	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(grant_ok(a), CID_MIN);
	assert_file_is(path, "2048\n");
	assert_false(exists(tmp));
	cid_alloc_free(a);
}

static void test_persist_fail_parent_is_file(void **state)
{
	struct fixture *f = *state;
	char file[PATH_MAX], path[PATH_MAX + 8];
	struct cid_alloc *a;
	uint32_t cid = SENTINEL;

	snprintf(file, sizeof(file), "%s/file", f->dir);
	snprintf(path, sizeof(path), "%s/cid", file);
	write_file(file, "x", 1);
	a = new_ok(CID_MIN, CID_MAX, path);
	assert_non_null(cid_alloc_load_note(a));
	assert_non_null(strstr(cid_alloc_load_note(a), path));

	assert_int_equal(cid_alloc_grant(a, &cid), -ENOTDIR);
	assert_int_equal(cid, SENTINEL);
	assert_non_null(strstr(avf_err_last()->msg, path));
	assert_int_equal(cid_alloc_held_count(a), 0);

	assert_int_equal(unlink(file), 0);
	assert_int_equal(mkdir(file, 0755), 0);
	assert_int_equal(grant_ok(a), CID_MIN);
	assert_file_is(path, "2048\n");
	cid_alloc_free(a);
}

/* A failed grant after successful ones keeps what is held and does not move the cursor. */
static void test_persist_fail_keeps_cursor(void **state)
{
	struct fixture *f = *state;
	char sub[PATH_MAX], moved[PATH_MAX], path[PATH_MAX + 8];
	struct cid_alloc *a;
	uint32_t cid = SENTINEL;

	snprintf(sub, sizeof(sub), "%s/sub", f->dir);
	snprintf(moved, sizeof(moved), "%s/moved", f->dir);
	snprintf(path, sizeof(path), "%s/cid", sub);
	assert_int_equal(mkdir(sub, 0755), 0);
	a = new_ok(CID_MIN, CID_MAX, path);
	assert_int_equal(grant_ok(a), 2048);
	assert_int_equal(grant_ok(a), 2049);
	assert_int_equal(cid_alloc_release(a, 2049), 0);

	assert_int_equal(rename(sub, moved), 0);
	assert_true(cid_alloc_grant(a, &cid) < 0);
	assert_int_equal(cid, SENTINEL);
	assert_int_equal(cid_alloc_held_count(a), 1);
	assert_true(cid_alloc_is_held(a, 2048));
	assert_false(cid_alloc_is_held(a, 2050));
	assert_int_equal(cid_alloc_last(a), 2049);

	assert_int_equal(rename(moved, sub), 0);
	assert_int_equal(grant_ok(a), 2050); /* not 2051 */
	assert_file_is(path, "2050\n");
	cid_alloc_free(a);
}

/* A tmp file left by a crash is overwritten and renamed away. */
static void test_stale_tmp_file(void **state)
{
	struct fixture *f = *state;
	struct cid_alloc *a;

	write_file(f->path, "3000\n", 5);
	write_file(f->tmp, "garbage garbage garbage", 23);
	a = new_ok(CID_MIN, CID_MAX, f->path);
	assert_null(cid_alloc_load_note(a));
	assert_int_equal(grant_ok(a), 3001);
	assert_file_is(f->path, "3001\n");
	assert_false(exists(f->tmp));
	cid_alloc_free(a);
}

/* A path without a slash: the directory to fsync is ".". */
static void test_relative_state_path(void **state)
{
	struct fixture *f = *state;
	char cwd[PATH_MAX];
	struct cid_alloc *a;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(f->dir), 0);
	a = new_ok(CID_MIN, CID_MAX, "cid");
	assert_int_equal(grant_ok(a), CID_MIN);
	assert_int_equal(grant_ok(a), CID_MIN + 1);
	cid_alloc_free(a);
	assert_int_equal(chdir(cwd), 0);
	assert_file_is(f->path, "2049\n");
	assert_false(exists(f->tmp));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_rejects_bad_range),
	    cmocka_unit_test(test_free_null),
	    cmocka_unit_test(test_first_grant_is_min),
	    cmocka_unit_test(test_round_robin_not_lowest_free),
	    cmocka_unit_test(test_wrap_max_to_min),
	    cmocka_unit_test(test_skip_long_held_runs),
	    cmocka_unit_test(test_exhaustion_small_range),
	    cmocka_unit_test(test_full_avf_range),
	    cmocka_unit_test(test_single_cid_range),
	    cmocka_unit_test(test_top_of_u32),
	    cmocka_unit_test(test_zero_min),
	    cmocka_unit_test(test_release_errors),
	    cmocka_unit_test(test_claim_holds_without_moving_cursor),
	    cmocka_unit_test(test_claim_errors),
	    cmocka_unit_test_setup_teardown(test_claim_does_not_persist, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_missing_file_note, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_persist_and_continue, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_persist_valid_contents, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_corrupt_files_start_at_min, setup_dir,
					    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_state_path_is_directory, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_persist_fail_parent_missing, setup_dir,
					    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_persist_fail_parent_is_file, setup_dir,
					    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_persist_fail_keeps_cursor, setup_dir,
					    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_stale_tmp_file, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_relative_state_path, setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
