/* SPDX-License-Identifier: Apache-2.0 */
/*
 * early_context and early_caller: early_virtmgr's CID provider on hand-built
 * declarations (no XML): the caller's partition and root, matching by name and
 * path, unusable and unsupported partitions, the per-CID lock against another
 * holder, the temp dir, and the capability check on a child that dropped its own.
 * Expected messages are AVF's words (research/avf-spec.md 7.3) or the contract in
 * early_context.h, written out here.
 */
#include "cmocka_wrap.h"
#include "test_fds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "base/fs_util.h"
#include "service/early_caller.h"
#include "service/early_context.h"

#define SYS_FILE "/r/system/etc/avf/early_vms.xml"

static char dir[256], lock_dir[300], early_dir[300];

/* Two partitions with entries, a duplicate name, and a VM of another partition. */
static struct early_vm_entry entries[] = {
    {EARLY_PART_SYSTEM, "vm_a", 100, "/system/bin/client_a", SYS_FILE, 3},
    {EARLY_PART_SYSTEM, "twin", 101, "/system/bin/client_a", SYS_FILE, 4},
    {EARLY_PART_SYSTEM, "twin", 102, "/system/bin/client_a", SYS_FILE, 5},
    {EARLY_PART_PRODUCT, "vm_a", 200, "/product/bin/client_p", "/r/product/etc/avf/early_vms.xml",
     3},
    {EARLY_PART_VENDOR, "vm_v", 300, "/vendor/bin/client_v", "/r/vendor/etc/avf/early_vms.xml", 3},
};

/* As the loader writes them: by file, by directory, and a summary per partition. */
static char *problems[] = {
    "/r/vendor/etc/avf/early_vms_more.xml:7: cid 5 is outside vendor's range 300..399",
    "/r/odm/etc/avf/early_vms.xml:2: the root element is not <early_vms>",
    "/r/odm/etc/avf:0: can't list: Permission denied",
    "vendor: early VMs unusable: CID validation for vendor failed",
    "odm: early VMs unusable: CID validation for odm failed",
};

static struct early_vms decls(bool vendor_unusable)
{
	struct early_vms v = {.vms = entries, .n = sizeof(entries) / sizeof(entries[0])};

	if (vendor_unusable) {
		v.problems = problems;
		v.n_problems = sizeof(problems) / sizeof(problems[0]);
		v.unusable[EARLY_PART_VENDOR] = true;
		v.unusable[EARLY_PART_ODM] = true;
	}
	return v;
}

static struct early_context *ctx_new_pid(const struct early_vms *v, const char *caller,
					 const char *why, pid_t caller_pid)
{
	struct early_context *c = NULL;

	assert_int_equal(early_context_new(&(struct early_context_params){.vms = v,
									  .caller_path = caller,
									  .caller_error = why,
									  .caller_pid = caller_pid,
									  .lock_dir = lock_dir,
									  .early_dir = early_dir},
					   &c),
			 0);
	return c;
}

/* No capability check (caller_pid 0): the caller's rights are not the subject. */
static struct early_context *ctx_new(const struct early_vms *v, const char *caller, const char *why)
{
	return ctx_new_pid(v, caller, why, 0);
}

static int acquire(struct early_context *c, const char *name, uint32_t *cid, char **tmp)
{
	avf_err_clear();
	return early_context_ops.acquire(c, name, cid, tmp);
}

/* acquire fails with @err, exception @ex and exactly @msg. */
static void refused(struct early_context *c, const char *name, int err, int ex, const char *msg)
{
	uint32_t cid = 0;
	char *tmp = NULL;

	assert_int_equal(acquire(c, name, &cid, &tmp), err);
	assert_int_equal(avf_err_last()->ex, ex);
	if (ex == AVF_EX_SERVICE_SPECIFIC)
		assert_int_equal(avf_err_last()->service_code, -1);
	assert_string_equal(avf_err_last()->msg, msg);
	assert_null(tmp);
	assert_int_equal(cid, 0);
}

static bool exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

static void path_of(char *buf, size_t len, const char *base, const char *name)
{
	snprintf(buf, len, "%s/%s", base, name);
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(dir, sizeof(dir), "%s/test_early_XXXXXX", tmp);
	assert_non_null(mkdtemp(dir));
	snprintf(lock_dir, sizeof(lock_dir), "%s/run/locks", dir);
	snprintf(early_dir, sizeof(early_dir), "%s/run", dir);
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(fs_remove_tree(dir), 0);
	return 0;
}

/* ---- early_caller ---- */

static void test_partition_of_caller_path(void **state)
{
	static const struct {
		const char *path;
		int part; /* -1: refused */
		const char *msg;
	} rows[] = {
	    {"/system/bin/x", EARLY_PART_SYSTEM, NULL},
	    {"/system_ext/bin/x", EARLY_PART_SYSTEM_EXT, NULL},
	    {"/product/bin/x", EARLY_PART_PRODUCT, NULL},
	    {"/vendor/bin/hw/x", EARLY_PART_VENDOR, NULL},
	    {"/odm/bin/x", EARLY_PART_ODM, NULL},
	    {"/system", EARLY_PART_SYSTEM, NULL},
	    {"/data/local/tmp/x", -1, "Early VMs are not supported for data"},
	    {"/apex/com.android.virt/bin/x", -1, "Early VMs are not supported for apex"},
	    {"/systemx/bin/x", -1, "Early VMs are not supported for systemx"},
	    {"/System/bin/x", -1, "Early VMs are not supported for System"},
	    {"/", -1, "Early VMs are not supported for "},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum early_partition p = EARLY_PART_COUNT;
		int r = early_caller_partition(rows[i].path, &p);

		if (rows[i].part >= 0) {
			assert_int_equal(r, 0);
			assert_int_equal(p, rows[i].part);
			continue;
		}
		assert_int_equal(r, -EOPNOTSUPP);
		assert_int_equal(avf_err_last()->ex, AVF_EX_SERVICE_SPECIFIC);
		assert_string_equal(avf_err_last()->msg, rows[i].msg);
		assert_int_equal(p, EARLY_PART_COUNT);
	}
}

static void test_strip_root(void **state)
{
	static const struct {
		const char *exe, *root, *want; /* want NULL: outside */
	} rows[] = {
	    {"/tmp/r/system/bin/x", "/tmp/r", "/system/bin/x"},
	    {"/system/bin/x", "/", "/system/bin/x"},
	    {"/tmp/r/x", "/tmp/r", "/x"},
	    {"/tmp/rx/system/bin/x", "/tmp/r", NULL},
	    {"/tmp/q/system/bin/x", "/tmp/r", NULL},
	    {"/tmp/r", "/tmp/r", NULL},
	    {"/tmp/r/", "/tmp/r", NULL},
	    {"/usr/bin/x", "/tmp/r", NULL},
	    {"/tmp", "/tmp/r", NULL},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *got = NULL, want_msg[256];
		int r = early_caller_strip_root(rows[i].exe, rows[i].root, &got);

		if (rows[i].want) {
			assert_int_equal(r, 0);
			assert_string_equal(got, rows[i].want);
			free(got);
			continue;
		}
		snprintf(want_msg, sizeof(want_msg), "caller %s is outside the early VM root %s",
			 rows[i].exe, rows[i].root);
		assert_int_equal(r, -EPERM);
		assert_string_equal(avf_err_last()->msg, want_msg);
		assert_null(got);
	}
}

static void test_exe_of_a_process_that_is_gone(void **state)
{
	char *exe = NULL, want[96];
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	/* reaped: /proc/<pid> is gone (pids are not reused this fast) */
	assert_int_equal(early_caller_exe(pid, &exe), -ENOENT);
	snprintf(want, sizeof(want), "Can't verify the path of PID %d: %s", (int)pid,
		 strerror(ENOENT));
	assert_string_equal(avf_err_last()->msg, want);
	assert_null(exe);
}

/* A child that clears its own effective set (always allowed), then waits. */
static void test_capabilities_of_the_caller(void **state)
{
	int ready[2], hold[2], st, fds = count_fds();
	char byte, want[256];
	cap_t self = cap_get_proc();
	cap_flag_value_t v[3];
	const cap_value_t caps[3] = {CAP_IPC_LOCK, CAP_NET_BIND_SERVICE, CAP_SYS_RESOURCE};
	pid_t pid;
	bool have_all = true;

	assert_non_null(self);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cap_get_flag(self, caps[i], CAP_EFFECTIVE, &v[i]), 0);
		have_all = have_all && v[i] == CAP_SET;
	}
	cap_free(self);
	/* Ourselves: all three, or exactly the ones we lack are named, in that order. */
	if (have_all) {
		assert_int_equal(early_caller_check_caps(getpid()), 0);
	} else {
		static const char *const names[3] = {"CAP_IPC_LOCK", "CAP_NET_BIND_SERVICE",
						     "CAP_SYS_RESOURCE"};
		char lacks[96] = "";

		for (int i = 0; i < 3; i++)
			if (v[i] != CAP_SET)
				snprintf(lacks + strlen(lacks), sizeof(lacks) - strlen(lacks),
					 "%s%s", lacks[0] ? ", " : "", names[i]);
		snprintf(want, sizeof(want),
			 "the caller (pid %d) lacks %s in its effective capability set: early VMs "
			 "need CAP_IPC_LOCK, CAP_NET_BIND_SERVICE and CAP_SYS_RESOURCE",
			 (int)getpid(), lacks);
		assert_int_equal(early_caller_check_caps(getpid()), -EPERM);
		assert_int_equal(avf_err_last()->ex, AVF_EX_SECURITY);
		assert_string_equal(avf_err_last()->msg, want);
	}

	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	assert_int_equal(pipe2(hold, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		cap_t none = cap_get_proc();

		close(ready[0]);
		close(hold[1]);
		if (!none || cap_clear_flag(none, CAP_EFFECTIVE) < 0 || cap_set_proc(none) < 0)
			_exit(1);
		cap_free(none);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		/* until the parent closes its end */
		_exit(read(hold[0], &byte, 1) == 0 ? 0 : 1);
	}
	close(ready[1]);
	close(hold[0]);
	assert_int_equal(read(ready[0], &byte, 1), 1);
	assert_int_equal(early_caller_check_caps(pid), -EPERM);
	assert_int_equal(avf_err_last()->ex, AVF_EX_SECURITY);
	snprintf(want, sizeof(want),
		 "the caller (pid %d) lacks CAP_IPC_LOCK, CAP_NET_BIND_SERVICE, CAP_SYS_RESOURCE "
		 "in its effective capability set: early VMs need CAP_IPC_LOCK, "
		 "CAP_NET_BIND_SERVICE and CAP_SYS_RESOURCE",
		 (int)pid);
	assert_string_equal(avf_err_last()->msg, want);
	/* the provider checks them first: a declared caller without them is refused */
	{
		struct early_vms d = decls(false);
		struct early_context *c = ctx_new_pid(&d, "/system/bin/client_a", NULL, pid);

		refused(c, "vm_a", -EPERM, AVF_EX_SECURITY, want);
		early_context_free(c);
		assert_false(exists(lock_dir));
	}
	close(hold[1]);
	close(ready[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* gone: cannot be read */
	assert_int_equal(early_caller_check_caps(pid), -EPERM);
	assert_non_null(strstr(avf_err_last()->msg, "cannot read the capabilities"));
	assert_int_equal(count_fds(), fds);
}

/* ---- early_context ---- */

static void test_grant_and_release(void **state)
{
	struct early_vms v = decls(false);
	struct early_context *c;
	char *tmp = NULL, want[400], stale[400], lock[400], buf[32];
	uint32_t cid = 0;
	int fd, fds = count_fds();
	ssize_t n;

	/* A stale temp dir from an earlier VM: emptied before the new one gets it. */
	path_of(want, sizeof(want), early_dir, "100");
	assert_int_equal(fs_mkdir_p(want, 0700), 0);
	path_of(stale, sizeof(stale), want, "sub");
	assert_int_equal(mkdir(stale, 0700), 0);
	path_of(stale, sizeof(stale), want, "sub/crosvm.sock");
	fclose(fopen(stale, "w"));

	c = ctx_new(&v, "/system/bin/client_a", NULL);
	assert_int_equal(acquire(c, "vm_a", &cid, &tmp), 0);
	assert_int_equal(cid, 100);
	assert_string_equal(tmp, want);
	assert_int_equal(fs_count_entries(tmp), 0);
	/* the lock file names us while we hold it */
	path_of(lock, sizeof(lock), lock_dir, "100.lock");
	fd = open(lock, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_int_equal(atoi(buf), getpid());
	close(fd);
	free(tmp);

	early_context_ops.release(c, 100);
	assert_false(exists(want));
	assert_true(exists(lock)); /* never removed (see early_context.h) */
	/* the same VM again: a fresh, empty dir */
	tmp = NULL;
	assert_int_equal(acquire(c, "vm_a", &cid, &tmp), 0);
	assert_int_equal(cid, 100);
	assert_int_equal(fs_count_entries(tmp), 0);
	free(tmp);
	early_context_ops.release(c, 100);
	/* a CID we do not hold: nothing happens */
	early_context_ops.release(c, 101);
	c = early_context_free(c);
	assert_null(c);
	assert_int_equal(count_fds(), fds);
}

static void test_name_not_found_or_multiple(void **state)
{
	struct early_vms v = decls(false);
	struct early_context *c = ctx_new(&v, "/system/bin/client_a", NULL);

	refused(c, "vm_b", -ENOENT, AVF_EX_SERVICE_SPECIFIC, "Can't find a VM named 'vm_b'");
	/* declared, but in another partition than the caller's */
	refused(c, "vm_v", -ENOENT, AVF_EX_SERVICE_SPECIFIC, "Can't find a VM named 'vm_v'");
	/* an unnamed config is the name "" */
	refused(c, NULL, -ENOENT, AVF_EX_SERVICE_SPECIFIC, "Can't find a VM named ''");
	refused(c, "VM_A", -ENOENT, AVF_EX_SERVICE_SPECIFIC, "Can't find a VM named 'VM_A'");
	refused(c, "twin", -EEXIST, AVF_EX_SERVICE_SPECIFIC, "Multiple VMs named 'twin' are found");
	early_context_free(c);
	/* the same name in product is product's VM for product's caller */
	c = ctx_new(&v, "/product/bin/client_p", NULL);
	{
		uint32_t cid;
		char *tmp;

		assert_int_equal(acquire(c, "vm_a", &cid, &tmp), 0);
		assert_int_equal(cid, 200);
		free(tmp);
	}
	early_context_free(c);
}

static void test_path_mismatch(void **state)
{
	struct early_vms v = decls(false);
	struct early_context *c = ctx_new(&v, "/system/bin/client_b", NULL);

	refused(c, "vm_a", -EPERM, AVF_EX_SERVICE_SPECIFIC,
		"Early VM 'vm_a' executable paths do not match. Expected: /system/bin/client_a. "
		"Found: \"/system/bin/client_b\".");
	early_context_free(c);
	/* exact: a longer name with the declared one as prefix is another program */
	c = ctx_new(&v, "/system/bin/client_a2", NULL);
	refused(c, "vm_a", -EPERM, AVF_EX_SERVICE_SPECIFIC,
		"Early VM 'vm_a' executable paths do not match. Expected: /system/bin/client_a. "
		"Found: \"/system/bin/client_a2\".");
	early_context_free(c);
	/* nothing was created for a refused VM */
	assert_false(exists(lock_dir));
}

static void test_unsupported_partition(void **state)
{
	struct early_vms v = decls(false);
	struct early_context *c = ctx_new(&v, "/data/local/tmp/client_a", NULL);

	refused(c, "vm_a", -EOPNOTSUPP, AVF_EX_SERVICE_SPECIFIC,
		"Early VMs are not supported for data");
	early_context_free(c);
}

static void test_unusable_partition(void **state)
{
	struct early_vms v = decls(true);
	struct early_context *c = ctx_new(&v, "/vendor/bin/client_v", NULL);
	uint32_t cid;
	char *tmp;

	/* only vendor's own problems are quoted: not odm's, not the summaries */
	refused(c, "vm_v", -EINVAL, AVF_EX_SERVICE_SPECIFIC,
		"CID validation for vendor failed: /r/vendor/etc/avf/early_vms_more.xml:7: cid 5 "
		"is outside vendor's range 300..399");
	/* even a name that would not exist: the partition fails first */
	refused(c, "nope", -EINVAL, AVF_EX_SERVICE_SPECIFIC,
		"CID validation for vendor failed: /r/vendor/etc/avf/early_vms_more.xml:7: cid 5 "
		"is outside vendor's range 300..399");
	early_context_free(c);
	c = ctx_new(&v, "/odm/bin/x", NULL);
	refused(
	    c, "x", -EINVAL, AVF_EX_SERVICE_SPECIFIC,
	    "CID validation for odm failed: /r/odm/etc/avf/early_vms.xml:2: the root element is "
	    "not <early_vms>; /r/odm/etc/avf:0: can't list: Permission denied");
	early_context_free(c);
	/* other partitions are unaffected */
	c = ctx_new(&v, "/system/bin/client_a", NULL);
	assert_int_equal(acquire(c, "vm_a", &cid, &tmp), 0);
	assert_int_equal(cid, 100);
	free(tmp);
	early_context_free(c);
}

static void test_unidentified_caller(void **state)
{
	struct early_vms v = decls(false);
	struct early_context *c =
	    ctx_new(&v, NULL, "caller /usr/bin/x is outside the early VM root /tmp/r");

	refused(c, "vm_a", -EPERM, AVF_EX_SERVICE_SPECIFIC,
		"caller /usr/bin/x is outside the early VM root /tmp/r");
	early_context_free(c);
}

/* Take the lock as another early_virtmgr would; write @pid into it (NULL: nothing). */
static int hold_lock(const char *pid)
{
	char lock[400];
	int fd;

	assert_int_equal(fs_mkdir_p(lock_dir, 0700), 0);
	path_of(lock, sizeof(lock), lock_dir, "100.lock");
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	assert_int_equal(ftruncate(fd, 0), 0);
	if (pid)
		assert_int_equal(pwrite(fd, pid, strlen(pid), 0), (ssize_t)strlen(pid));
	return fd;
}

/* Whether someone holds the lock of CID 100 (tried on a fresh open file description). */
static bool lock_taken(void)
{
	char lock[400];
	int fd, r;

	path_of(lock, sizeof(lock), lock_dir, "100.lock");
	fd = open(lock, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	r = flock(fd, LOCK_EX | LOCK_NB);
	assert_true(r == 0 || errno == EWOULDBLOCK);
	close(fd); /* drops it if we got it */
	return r != 0;
}

static void test_cid_lock(void **state)
{
	struct early_vms v = decls(false);
	struct early_context *c = ctx_new(&v, "/system/bin/client_a", NULL);
	char temp[400];
	uint32_t cid = 0;
	char *tmp = NULL;
	int fd, fds = count_fds();

	path_of(temp, sizeof(temp), early_dir, "100");
	/* another holder that said who it is */
	fd = hold_lock("4242\n");
	refused(c, "vm_a", -EBUSY, AVF_EX_ILLEGAL_STATE,
		"early CID 100 is in use by another early_virtmgr (pid 4242)");
	assert_false(exists(temp)); /* the holder's dir is not touched */
	close(fd);
	/* one that did not (yet) */
	fd = hold_lock(NULL);
	refused(c, "vm_a", -EBUSY, AVF_EX_ILLEGAL_STATE,
		"early CID 100 is in use by another early_virtmgr");
	close(fd);
	/* released: free */
	assert_false(lock_taken());
	assert_int_equal(acquire(c, "vm_a", &cid, &tmp), 0);
	assert_int_equal(cid, 100);
	free(tmp);
	assert_true(lock_taken());
	/* the same CID twice in one early_virtmgr */
	refused(c, "vm_a", -EBUSY, AVF_EX_ILLEGAL_STATE,
		"early CID 100 is already in use by this early_virtmgr");
	assert_true(exists(temp)); /* the holder's dir survives the refusal */
	early_context_ops.release(c, 100);
	assert_false(lock_taken());
	/* freeing the context releases what it still holds */
	assert_int_equal(acquire(c, "vm_a", &cid, &tmp), 0);
	free(tmp);
	assert_true(lock_taken());
	early_context_free(c);
	assert_false(lock_taken());
	assert_false(exists(temp));
	assert_int_equal(count_fds(), fds);
}

static void test_default_base(void **state)
{
	char *saved = getenv("XDG_RUNTIME_DIR") ? strdup(getenv("XDG_RUNTIME_DIR")) : NULL;
	char *base = NULL;

	setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);
	assert_int_equal(early_context_default_base(&base), 0);
	assert_string_equal(base, "/run/user/1234/avf/early");
	free(base);
	unsetenv("XDG_RUNTIME_DIR");
	assert_int_equal(early_context_default_base(&base), 0);
	assert_string_equal(base, "/run/avf/early");
	free(base);
	setenv("XDG_RUNTIME_DIR", "", 1);
	assert_int_equal(early_context_default_base(&base), 0);
	assert_string_equal(base, "/run/avf/early");
	free(base);
	if (saved)
		setenv("XDG_RUNTIME_DIR", saved, 1);
	else
		unsetenv("XDG_RUNTIME_DIR");
	free(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_partition_of_caller_path),
	    cmocka_unit_test(test_strip_root),
	    cmocka_unit_test(test_exe_of_a_process_that_is_gone),
	    cmocka_unit_test_setup_teardown(test_capabilities_of_the_caller, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_grant_and_release, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_name_not_found_or_multiple, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_path_mismatch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unsupported_partition, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unusable_partition, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unidentified_caller, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cid_lock, setup, teardown),
	    cmocka_unit_test(test_default_base),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
