/* SPDX-License-Identifier: Apache-2.0 */
/* virtualizationservice's contexts: grants, temp dirs, holders, restart, debug rows. */
#include "cmocka_wrap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "base/fs_util.h"
#include "service/vs_registry.h"

static char dir[256];

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(dir, sizeof(dir), "%s/test_vs_XXXXXX", tmp);
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(fs_remove_tree(dir), 0);
	return 0;
}

static bool is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_grant_release_temp_dirs(void **state)
{
	struct vs_registry *r;
	uint32_t a, b;
	const char *ta, *tb;
	char want[300];

	assert_int_equal(vs_registry_new(dir, 2048, 65535, NULL, &r), 0);
	assert_non_null(vs_registry_start_note(r)); /* no last_cid file yet: says so */
	assert_int_equal(vs_registry_allocate(r, 1, 1000, 42, "one", &a, &ta), 0);
	assert_int_equal(vs_registry_allocate(r, 2, 1001, 43, "two", &b, &tb), 0);
	assert_int_equal(a, 2048);
	assert_int_equal(b, 2049);
	snprintf(want, sizeof(want), "%s/vm/2048", dir);
	assert_string_equal(ta, want);
	assert_true(is_dir(ta));
	assert_true(is_dir(tb));
	/* a file inside is removed with the dir */
	snprintf(want, sizeof(want), "%s/crosvm.sock", ta);
	fclose(fopen(want, "w"));

	/* holder 2 cannot release holder 1's context */
	assert_int_equal(vs_registry_release(r, 2, a), -EPERM);
	assert_int_equal(vs_registry_release(r, 1, 9999), -ENOENT);
	assert_int_equal(vs_registry_release(r, 1, 1), -ENOENT); /* out of range */
	snprintf(want, sizeof(want), "%s/vm/2048", dir);
	assert_int_equal(vs_registry_release(r, 1, a), 0);
	assert_false(is_dir(want));
	assert_int_equal(vs_registry_count(r), 1);
	assert_int_equal(vs_registry_release(r, 1, a), -ENOENT);
	vs_registry_free(r);
}

static void test_release_holder_and_list(void **state)
{
	struct vs_registry *r;
	struct vs_vm_row rows[8];
	uint32_t cid;

	assert_int_equal(vs_registry_new(dir, 2048, 65535, NULL, &r), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(vs_registry_allocate(r, (uint64_t)(i % 2), 1000 + (uid_t)i, 100 + i,
						      "vm", &cid, NULL),
				 0);
	assert_int_equal(vs_registry_set_state(r, 0, 2048, AVF_VM_STATE_READY), 0);
	assert_int_equal(vs_registry_set_state(r, 1, 2048, AVF_VM_STATE_DEAD), -EPERM);
	assert_int_equal(vs_registry_list(r, rows, 8), 5);
	assert_int_equal(rows[0].state, AVF_VM_STATE_READY);
	assert_int_equal(rows[1].state, AVF_VM_STATE_NOT_STARTED);
	assert_int_equal(rows[3].requester_uid, 1003);
	assert_int_equal(rows[3].requester_pid, 103);
	assert_string_equal(rows[3].name, "vm");
	/* holder 0 (a virtmgr whose connection closed) held 2048, 2050, 2052 */
	assert_int_equal(vs_registry_release_holder(r, 0), 3);
	assert_int_equal(vs_registry_list(r, rows, 8), 2);
	assert_int_equal(rows[0].cid, 2049);
	assert_int_equal(rows[1].cid, 2051);
	assert_int_equal(fs_count_entries(rows[0].temp_dir) >= 0, 1);
	vs_registry_free(r);
}

static void test_restart_continues_and_wipes_stale(void **state)
{
	struct vs_registry *r;
	uint32_t cid;
	char stale[300];

	assert_int_equal(vs_registry_new(dir, 2048, 65535, NULL, &r), 0);
	assert_int_equal(vs_registry_allocate(r, 1, 0, 1, "a", &cid, NULL), 0);
	assert_int_equal(vs_registry_allocate(r, 1, 0, 1, "b", &cid, NULL), 0);
	assert_int_equal(cid, 2049);
	/* the daemon dies: simulate leftovers by not freeing through release */
	snprintf(stale, sizeof(stale), "%s/vm/7777", dir);
	assert_int_equal(fs_mkdir_p(stale, 0700), 0);
	vs_registry_free(r);
	assert_int_equal(fs_mkdir_p(stale, 0700), 0);

	assert_int_equal(vs_registry_new(dir, 2048, 65535, NULL, &r), 0);
	assert_false(is_dir(stale));
	assert_non_null(strstr(vs_registry_start_note(r), "removed stale VM temp dirs"));
	assert_int_equal(vs_registry_allocate(r, 1, 0, 1, "c", &cid, NULL), 0);
	assert_int_equal(cid, 2050); /* last CID persisted: no reuse of 2048/2049 */
	vs_registry_free(r);
}

static void test_exhaustion_and_no_disk(void **state)
{
	struct vs_registry *r;
	uint32_t cid;
	const char *t = "x";

	assert_int_equal(vs_registry_new(NULL, 100, 101, NULL, &r), 0);
	assert_int_equal(vs_registry_allocate(r, 1, 0, 1, NULL, &cid, &t), 0);
	assert_null(t);
	assert_int_equal(vs_registry_allocate(r, 1, 0, 1, NULL, &cid, NULL), 0);
	assert_int_equal(vs_registry_allocate(r, 1, 0, 1, NULL, &cid, NULL), -EBUSY);
	assert_string_equal(avf_err_last()->msg, "Could not find an available CID.");
	assert_int_equal(vs_registry_release(r, 1, 100), 0);
	assert_int_equal(vs_registry_allocate(r, 1, 0, 1, NULL, &cid, NULL), 0);
	assert_int_equal(cid, 100);
	assert_null(vs_registry_free(r));
	assert_null(vs_registry_free(NULL));
}

static void test_claim(void **state)
{
	struct vs_registry *r;
	struct vs_vm_row rows[8];
	const char *t = NULL;
	char want[300], file[320];
	uint32_t cid;

	assert_int_equal(vs_registry_new(dir, 2048, 2055, NULL, &r), 0);
	assert_int_equal(vs_registry_allocate(r, 1, 0, 1, "a", &cid, NULL), 0);
	assert_int_equal(vs_registry_allocate(r, 1, 0, 1, "b", &cid, NULL), 0);
	assert_int_equal(vs_registry_allocate(r, 1, 0, 1, "c", &cid, NULL), 0);
	assert_int_equal(cid, 2050);
	assert_int_equal(vs_registry_release(r, 1, 2048), 0);

	/* A leftover dir of a claimed CID is kept: it may be the live VM's. */
	snprintf(want, sizeof(want), "%s/vm/2052", dir);
	snprintf(file, sizeof(file), "%s/crosvm.sock", want);
	assert_int_equal(fs_mkdir_p(want, 0700), 0);
	fclose(fopen(file, "w"));
	assert_int_equal(vs_registry_claim(r, 2, 1000, 77, "live", 2052, &t), 0);
	assert_string_equal(t, want);
	assert_int_equal(access(file, F_OK), 0);
	/* Behind the cursor, and missing: created. */
	assert_int_equal(vs_registry_claim(r, 2, 1000, 78, "old", 2048, &t), 0);
	assert_true(is_dir(t));

	/* Held (by anyone, the claimer too): EX_ILLEGAL_STATE. Outside: EX_ILLEGAL_ARGUMENT. */
	assert_int_equal(vs_registry_claim(r, 3, 0, 1, "x", 2049, NULL), -EBUSY);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_STATE);
	assert_int_equal(vs_registry_claim(r, 2, 0, 1, "x", 2052, NULL), -EBUSY);
	assert_int_equal(vs_registry_claim(r, 3, 0, 1, "x", 2047, NULL), -EINVAL);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_ARGUMENT);
	assert_int_equal(vs_registry_claim(r, 3, 0, 1, "x", 2056, NULL), -EINVAL);
	assert_int_equal(vs_registry_count(r), 4);

	/* Listed in grant order with what the claimer said. */
	assert_int_equal(vs_registry_list(r, rows, 8), 4);
	assert_int_equal(rows[2].cid, 2052);
	assert_int_equal(rows[2].requester_uid, 1000);
	assert_int_equal(rows[2].requester_pid, 77);
	assert_string_equal(rows[2].name, "live");
	assert_int_equal(rows[3].cid, 2048);

	/* The cursor neither jumped to 2052 nor went back to 2048. */
	assert_int_equal(vs_registry_allocate(r, 1, 0, 1, "d", &cid, NULL), 0);
	assert_int_equal(cid, 2051);
	assert_int_equal(vs_registry_allocate(r, 1, 0, 1, "e", &cid, NULL), 0);
	assert_int_equal(cid, 2053);

	/* Claimed contexts go with their holder, dirs included. */
	assert_int_equal(vs_registry_release_holder(r, 2), 2);
	assert_false(is_dir(want));
	assert_int_equal(vs_registry_claim(r, 3, 0, 1, "again", 2052, NULL), 0);
	vs_registry_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_grant_release_temp_dirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_holder_and_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_continues_and_wipes_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exhaustion_and_no_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
