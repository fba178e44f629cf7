/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crosvm_argv: A15's crosvm command line (crosvm-spec §1.2) for a table of
 * configs, compared exactly with golden files in tests/data/crosvm-argv/<name>.argv
 * (one argument per line; fds appear as their placeholders, so the files do not
 * depend on fd numbers). AVF_GOLDEN_UPDATE=1 rewrites the files from the builder:
 * review the diff against the spec before committing it. A golden file that no
 * table entry uses fails the test. One command line is also written out by hand
 * here, from the spec, so a regenerated golden cannot silently bless a wrong one.
 *
 * Then both backends' prepare() over the builder: the fake's argv is crosvm's
 * plus its extras at the end; the crosvm backend's refusals; where crosvm is found.
 */
#include "cmocka_wrap.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/crosvm/crosvm_backend.h"
#include "backends/crosvm_argv.h"
#include "backends/fake/fake_backend.h"
#include "base/avf_err.h"
#include "loop/loop.h"

#define CROSVM    "/apex/com.android.virt/bin/crosvm"
#define MAX_DISKS 4
#define MAX_PARTS 5

/*
 * fd numbers are never used: prepare() is pure, so they need not be open. They
 * are §1.6's where it has them (41 console, 42 console in, 43 log, 44 kernel,
 * 45 initrd), 46 bios, and 50+ disks, 60+ a composite's components.
 */
struct golden_disk {
	int fd; /* the final image: the config's, or the composite's spec */
	bool writable;
	/* a composite's indirect files: partitions, then header, footer, zero filler */
	int parts[MAX_PARTS];
	size_t n_parts;
};

struct golden {
	const char *name;
	uint32_t cid;
	enum vm_config_kind kind;
	uint32_t memory_mib, cpus;
	bool protected_vm;
	int kernel, initrd, bios;
	const char *params;
	int console_out, console_in, log;
	struct golden_disk disks[MAX_DISKS];
	size_t n_disks;
};

#define NO_FILES   .kernel = -1, .initrd = -1, .bios = -1
#define NO_CONSOLE .console_out = -1, .console_in = -1, .log = -1

static const struct golden table[] = {
    {.name = "kernel-only", .cid = 2048, .kernel = 44, .initrd = -1, .bios = -1, NO_CONSOLE},
    {.name = "kernel-initrd-params",
     .cid = 2049,
     .kernel = 44,
     .initrd = 45,
     .bios = -1,
     .params = "console=hvc0 root=/dev/vda ro",
     NO_CONSOLE},
    {.name = "bootloader", .cid = 2050, .kernel = -1, .initrd = -1, .bios = 46, NO_CONSOLE},
    {.name = "protected",
     .cid = 2051,
     .protected_vm = true,
     .memory_mib = 256,
     .kernel = 44,
     .initrd = -1,
     .bios = -1,
     NO_CONSOLE},
    {.name = "protected-3-disks",
     .cid = 2052,
     .protected_vm = true,
     .memory_mib = 512,
     .kernel = 44,
     .initrd = 45,
     .bios = -1,
     NO_CONSOLE,
     .disks = {{50, false}, {51, false}, {52, true}},
     .n_disks = 3},
    {.name = "disks-in-order",
     .cid = 2053,
     .kernel = 44,
     .initrd = -1,
     .bios = -1,
     NO_CONSOLE,
     .disks = {{50, true}, {51, false}, {52, false}, {53, true}},
     .n_disks = 4},
    {.name = "memory-match-host",
     .cid = 2054,
     .memory_mib = 2048,
     .cpus = 8,
     .kernel = 44,
     .initrd = -1,
     .bios = -1,
     NO_CONSOLE},
    {.name = "console-fds",
     .cid = 2055,
     .kernel = 44,
     .initrd = -1,
     .bios = -1,
     .console_out = 41,
     .console_in = 42,
     .log = 43},
    {.name = "console-in-only",
     .cid = 2056,
     .kernel = 44,
     .initrd = -1,
     .bios = -1,
     .console_out = -1,
     .console_in = 42,
     .log = -1},
    {.name = "app",
     .cid = 2057,
     .kind = VM_CONFIG_APP,
     .memory_mib = 256,
     .kernel = 44,
     .initrd = 45,
     .bios = -1,
     .params = "androidboot.microdroid.debuggable=1",
     .console_out = 41,
     .console_in = 42,
     .log = 43,
     .disks = {{50, false}, {51, false}, {52, true}},
     .n_disks = 3},
    /* a disk of two partitions: its composite (51) named like any disk; the partitions,
     * header, footer and zero filler (60..64) inherited, named nowhere */
    {.name = "composite",
     .cid = 2058,
     .kernel = 44,
     .initrd = -1,
     .bios = -1,
     NO_CONSOLE,
     .disks = {{50, false}, {51, false, {60, 61, 62, 63, 64}, 5}, {52, true}},
     .n_disks = 3},
    /* `vm run --dry-run`: no context yet, so no CID */
    {.name = "no-cid", .cid = 0, .kernel = 44, .initrd = -1, .bios = -1, NO_CONSOLE},
    /* what the fake guest runs with: no file at all (the crosvm backend refuses it) */
    {.name = "no-files", .cid = 65535, NO_FILES, NO_CONSOLE},
};

#define N_TABLE (sizeof(table) / sizeof(table[0]))

/* Everything a backend_vm of @g points to, borrowed (never cleared: the fds are not open). */
struct vm_of {
	struct vm_config cfg;
	struct vm_config_disk disks[MAX_DISKS];
	struct vm_config_partition parts[MAX_DISKS][MAX_PARTS];
	struct backend_disk bdisks[MAX_DISKS];
	struct backend_vm vm;
};

static void vm_of(const struct golden *g, struct vm_of *o)
{
	memset(o, 0, sizeof(*o));
	vm_config_init(&o->cfg);
	o->cfg.kind = g->kind;
	o->cfg.name = (char *)g->name;
	o->cfg.memory_mib = g->memory_mib;
	o->cfg.cpus = g->cpus;
	o->cfg.protected_vm = g->protected_vm;
	o->cfg.kernel_fd = g->kernel;
	o->cfg.initrd_fd = g->initrd;
	o->cfg.bootloader_fd = g->bios;
	o->cfg.params = (char *)g->params;
	for (size_t d = 0; d < g->n_disks; d++) {
		const struct golden_disk *gd = &g->disks[d];

		o->disks[d] = (struct vm_config_disk){.image_fd = gd->n_parts ? -1 : gd->fd,
						      .partitions = o->parts[d],
						      .n_partitions = gd->n_parts,
						      .writable = gd->writable};
		for (size_t p = 0; p < gd->n_parts; p++)
			o->parts[d][p] =
			    (struct vm_config_partition){.label = "p", .fd = gd->parts[p]};
		o->bdisks[d] = (struct backend_disk){.fd = gd->fd,
						     .writable = gd->writable,
						     .indirect_fds = gd->parts,
						     .n_indirect = gd->n_parts};
	}
	o->cfg.disks = g->n_disks ? o->disks : NULL;
	o->cfg.n_disks = g->n_disks;
	o->vm = (struct backend_vm){.cid = g->cid,
				    .name = g->name,
				    .temp_dir = "/data/misc/virtualizationservice/2048",
				    .config = &o->cfg,
				    .disks = g->n_disks ? o->bdisks : NULL,
				    .n_disks = g->n_disks,
				    .console_out_fd = g->console_out,
				    .console_in_fd = g->console_in,
				    .log_fd = g->log};
}

/* The manager fd @g gives placeholder @name, -1 if none. */
static int fd_of(const struct golden *g, const char *name)
{
	static const struct {
		const char *name;
		size_t off;
	} fixed[] = {
	    {CROSVM_FD_KERNEL, offsetof(struct golden, kernel)},
	    {CROSVM_FD_INITRD, offsetof(struct golden, initrd)},
	    {CROSVM_FD_BIOS, offsetof(struct golden, bios)},
	    {CROSVM_FD_CONSOLE_OUT, offsetof(struct golden, console_out)},
	    {CROSVM_FD_CONSOLE_IN, offsetof(struct golden, console_in)},
	    {CROSVM_FD_LOG, offsetof(struct golden, log)},
	};
	size_t d;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (strcmp(name, fixed[i].name) == 0)
			return *(const int *)((const char *)g + fixed[i].off);
	if (sscanf(name, "{disk%zu}", &d) == 1 && d < g->n_disks)
		return g->disks[d].fd;
	return -1;
}

static char *golden_path(const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s.argv", CROSVM_ARGV_GOLDEN_DIR, name) > 0);
	return p;
}

static bool updating(void)
{
	const char *u = getenv("AVF_GOLDEN_UPDATE");

	return u && strcmp(u, "1") == 0;
}

static void write_golden(const char *name, const struct backend_plan *plan)
{
	char *path = golden_path(name);
	FILE *f = fopen(path, "we");

	if (!f)
		fail_msg("AVF_GOLDEN_UPDATE: cannot write %s: %s", path, strerror(errno));
	for (size_t i = 0; i < plan->argc; i++)
		fprintf(f, "%s\n", plan->argv[i]);
	assert_int_equal(fclose(f), 0);
	print_message("[ updated  ] %s\n", path);
	free(path);
}

/* @plan's argv must be the file's lines, exactly. */
static void compare_golden(const char *name, const struct backend_plan *plan)
{
	char *path = golden_path(name), *line = NULL;
	size_t cap = 0, i = 0;
	ssize_t n;
	FILE *f = fopen(path, "re");

	if (!f)
		fail_msg("%s: %s (AVF_GOLDEN_UPDATE=1 writes it)", path, strerror(errno));
	while ((n = getline(&line, &cap, f)) >= 0) {
		if (n == 0 || line[n - 1] != '\n')
			fail_msg("%s:%zu: the last line has no newline", path, i + 1);
		line[n - 1] = '\0';
		if (i >= plan->argc)
			fail_msg("%s:%zu: '%s' expected, argv has only %zu words", path, i + 1,
				 line, plan->argc);
		if (strcmp(line, plan->argv[i]) != 0)
			fail_msg("%s:%zu: expected '%s', argv[%zu] is '%s'", path, i + 1, line, i,
				 plan->argv[i]);
		i++;
	}
	if (i != plan->argc)
		fail_msg("%s: %zu lines, argv has %zu words (argv[%zu] = '%s')", path, i,
			 plan->argc, i, plan->argv[i]);
	free(line);
	fclose(f);
	free(path);
}

/* Every placeholder argv names has one slot, with the fd the config gave it. */
static void check_slots(const struct golden *g, const struct backend_plan *plan,
			const struct crosvm_slots *slots)
{
	for (size_t i = 0; i < slots->n; i++) {
		bool named = false;

		assert_int_equal(slots->v[i].fd, fd_of(g, slots->v[i].name));
		assert_true(slots->v[i].fd >= 0);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(slots->v[j].name, slots->v[i].name);
		for (size_t a = 0; a < plan->argc; a++)
			named |= strstr(plan->argv[a], slots->v[i].name) != NULL;
		assert_true(named);
	}
	for (size_t a = 0; a < plan->argc; a++) {
		for (const char *p = plan->argv[a]; (p = strchr(p, '{')); p++) {
			size_t len = strcspn(p, "}") + 1, found = 0;

			/* spawn's own fds, and the CID a dry run does not have (not an fd) */
			if (!strncmp(p, CROSVM_FD_FAILURE, len) ||
			    !strncmp(p, CROSVM_FD_CONTROL, len) ||
			    (g->cid == 0 && !strcmp(p, CROSVM_CID_PLACEHOLDER)))
				continue;
			for (size_t i = 0; i < slots->n; i++)
				found += strlen(slots->v[i].name) == len &&
					 !strncmp(slots->v[i].name, p, len);
			if (found != 1)
				fail_msg("argv[%zu] '%s': placeholder without its slot", a,
					 plan->argv[a]);
		}
	}
}

static void test_golden_table(void **state)
{
	for (size_t t = 0; t < N_TABLE; t++) {
		const struct golden *g = &table[t];
		struct backend_plan *plan = NULL;
		struct crosvm_slots slots;
		struct vm_of o;
		size_t n_parts = 0;

		vm_of(g, &o);
		assert_int_equal(backend_plan_new(&plan), 0);
		if (crosvm_argv_build(CROSVM, &o.vm, plan, &slots) < 0)
			fail_msg("%s: %s", g->name, avf_err_last()->msg);
		if (updating())
			write_golden(g->name, plan);
		compare_golden(g->name, plan);
		check_slots(g, plan, &slots);
		/* a composite's components: inherited at their own numbers, named nowhere */
		for (size_t d = 0; d < g->n_disks; d++)
			for (size_t p = 0; p < g->disks[d].n_parts; p++, n_parts++) {
				assert_true(n_parts < plan->n_fds);
				assert_int_equal(plan->fds[n_parts].parent_fd,
						 g->disks[d].parts[p]);
				assert_int_equal(plan->fds[n_parts].child_fd, g->disks[d].parts[p]);
			}
		assert_int_equal(plan->n_fds, n_parts);
		crosvm_slots_clear(&slots);
		backend_plan_free(plan);
	}
}

/* Every file in the golden directory belongs to a table entry. */
static void test_no_orphan_golden_files(void **state)
{
	DIR *d = opendir(CROSVM_ARGV_GOLDEN_DIR);
	struct dirent *de;
	size_t seen = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		bool used = false;

		if (de->d_name[0] == '.')
			continue;
		for (size_t t = 0; t < N_TABLE && !used; t++)
			used = len == strlen(table[t].name) + 5 &&
			       strncmp(de->d_name, table[t].name, len - 5) == 0 &&
			       strcmp(de->d_name + len - 5, ".argv") == 0;
		if (!used)
			fail_msg("%s/%s: no table entry uses it (remove it, or add its entry)",
				 CROSVM_ARGV_GOLDEN_DIR, de->d_name);
		seen++;
	}
	closedir(d);
	assert_int_equal(seen, N_TABLE);
}

/*
 * One command line written out from crosvm-spec §1.2 by hand, row by row: a
 * protected VM with memory, an initrd, params, three disks (swiotlb 2*(4+3) = 14)
 * and console, console-in and log fds.
 */
static void test_by_hand_from_the_spec(void **state)
{
	/* One row of the spec per line. */
	/* clang-format off */
	static const char *const want[] = {
	    CROSVM,
	    "--extended-status",                        /* 1 */
	    "--log-level", "info,disk=warn",            /* 2 */
	    "run",                                      /* 3 */
	    "--disable-sandbox",                        /* 4 */
	    "--cid", "2070",                            /* 5 */
	    "--no-balloon",                             /* 6: memory_reclaim sysprop false */
	    "--protected-vm",                           /* 7: no pvmfw sysprop */
	    "--swiotlb", "14",                          /* 8 */
	    "--unmap-guest-memory-on-fork",             /* 9 */
	    "--mem", "300",                             /* 12: not pKVM, no swiotlb added */
	    "--cpus", "1",                              /* 13 */
	    "--serial=type=file,path=/proc/self/fd/{console-out},hardware=serial,num=1",  /* 15 */
	    "--serial=type=file,path=/proc/self/fd/{failure-pipe},hardware=serial,num=2", /* 16 */
	    "--serial=type=file,path=/proc/self/fd/{console-out},input=/proc/self/fd/{console-in},"
	    "hardware=virtio-console,num=1",                                              /* 17 */
	    "--serial=type=sink,hardware=virtio-console,num=2",                           /* 18 */
	    "--serial=type=file,path=/proc/self/fd/{log},hardware=virtio-console,num=3",  /* 19 */
	    "--initrd", "/proc/self/fd/{initrd}",       /* 21 */
	    "--params", "quiet console=hvc0",           /* 22 */
	    "--disk", "/proc/self/fd/{disk0}",          /* 23 */
	    "--rwdisk", "/proc/self/fd/{disk1}",
	    "--disk", "/proc/self/fd/{disk2}",
	    "/proc/self/fd/{kernel}",                   /* 24 */
	    "--socket", "/proc/self/fd/{control-socket}", /* 25 */
	};
	/* clang-format on */
	const struct golden g = {.name = "by-hand",
				 .cid = 2070,
				 .protected_vm = true,
				 .memory_mib = 300,
				 .kernel = 44,
				 .initrd = 45,
				 .bios = -1,
				 .params = "quiet console=hvc0",
				 .console_out = 41,
				 .console_in = 42,
				 .log = 43,
				 .disks = {{50, false}, {51, true}, {52, false}},
				 .n_disks = 3};
	size_t n = sizeof(want) / sizeof(want[0]);
	struct backend_plan *plan = NULL;
	struct crosvm_slots slots;
	struct vm_of o;

	vm_of(&g, &o);
	assert_int_equal(backend_plan_new(&plan), 0);
	assert_int_equal(crosvm_argv_build(CROSVM, &o.vm, plan, &slots), 0);
	for (size_t i = 0; i < n && i < plan->argc; i++)
		if (strcmp(plan->argv[i], want[i]) != 0)
			fail_msg("argv[%zu]: got '%s' want '%s'", i, plan->argv[i], want[i]);
	assert_int_equal(plan->argc, n);
	assert_null(plan->argv[n]);
	check_slots(&g, plan, &slots);
	assert_int_equal(crosvm_argv_swiotlb_mib(0), 8);
	assert_int_equal(crosvm_argv_swiotlb_mib(3), 14);
	assert_int_equal(crosvm_argv_swiotlb_mib(64), 136);
	crosvm_slots_clear(&slots);
	backend_plan_free(plan);
}

/* The fake backend's argv: exactly crosvm's (its own path first), then its extras. */
static void test_fake_is_crosvm_plus_extras(void **state)
{
	struct loop *l;
	struct backend *be;

	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &l), 0);
	assert_int_equal(
	    fake_backend_new(l, NULL, &(struct fake_backend_opts){.fakevmm_path = CROSVM}, &be), 0);
	for (size_t t = 0; t < N_TABLE; t++) {
		struct backend_plan *want = NULL, *got = NULL;
		struct crosvm_slots slots;
		struct vm_of o;
		size_t i;

		vm_of(&table[t], &o);
		o.cfg.guest_script = t % 2 ? "started; exit 0" : NULL;
		assert_int_equal(backend_plan_new(&want), 0);
		assert_int_equal(crosvm_argv_build(CROSVM, &o.vm, want, &slots), 0);
		assert_int_equal(be->ops->prepare(be, &o.vm, &got), 0);
		for (i = 0; i < want->argc; i++)
			assert_string_equal(got->argv[i], want->argv[i]);
		if (o.cfg.guest_script) {
			assert_string_equal(got->argv[i++], "--params");
			assert_string_equal(got->argv[i++],
					    "avf.fake_script=started%3B%20exit%200");
		}
		assert_string_equal(got->argv[i++], "--avf-guest-channel");
		assert_string_equal(got->argv[i++], "/proc/self/fd/{guest-channel}");
		assert_int_equal(got->argc, i);
		assert_int_equal(got->n_fds, want->n_fds);
		crosvm_slots_clear(&slots);
		backend_plan_free(want);
		backend_plan_free(got);
	}
	backend_free(be);
	loop_free(l);
}

/* The crosvm backend: the table's argv with its own path; what it refuses. */
static void test_crosvm_backend_prepare(void **state)
{
	struct loop *l;
	struct backend *be;
	struct backend_plan *plan = NULL;
	struct vm_of o;

	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &l), 0);
	assert_int_equal(crosvm_backend_new(l, NULL,
					    &(struct crosvm_backend_opts){.crosvm_path = NULL,
									  .log_fd = -1},
					    &be),
			 -EINVAL);
	assert_int_equal(
	    crosvm_backend_new(
		l, NULL, &(struct crosvm_backend_opts){.crosvm_path = CROSVM, .log_fd = -1}, &be),
	    0);
	assert_string_equal(be->ops->name, "crosvm");
	for (size_t t = 0; t < N_TABLE; t++) {
		struct backend_plan *want = NULL;
		struct crosvm_slots slots;
		int r;

		vm_of(&table[t], &o);
		r = be->ops->prepare(be, &o.vm, &plan);
		if (table[t].kernel < 0 && table[t].bios < 0) {
			/* AVF's validate_config(): nothing to boot */
			assert_int_equal(r, -EINVAL);
			assert_int_equal(avf_err_last()->ex, AVF_EX_SERVICE_SPECIFIC);
			assert_string_equal(avf_err_last()->msg,
					    "VM must have either a bootloader or a kernel image.");
			continue;
		}
		assert_int_equal(r, 0);
		assert_int_equal(backend_plan_new(&want), 0);
		assert_int_equal(crosvm_argv_build(CROSVM, &o.vm, want, &slots), 0);
		assert_int_equal(plan->argc, want->argc);
		for (size_t i = 0; i < want->argc; i++)
			assert_string_equal(plan->argv[i], want->argv[i]);
		compare_golden(table[t].name, plan);
		crosvm_slots_clear(&slots);
		want = backend_plan_free(want);
		plan = backend_plan_free(plan);
	}
	backend_free(be);
	loop_free(l);
}

static void make_exe(const char *path, mode_t mode)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	fputs("#!/bin/sh\nexit 0\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* $AVF_CROSVM first, else `crosvm` in PATH; each failure names where it looked. */
static void test_crosvm_find(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char dir[256], a[300], b[300], exe[320], path[640];
	char *old_path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	char *found = NULL;

	snprintf(dir, sizeof(dir), "%s/avf-crosvm-find-XXXXXX", tmp);
	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	assert_int_equal(mkdir(a, 0755), 0);
	assert_int_equal(mkdir(b, 0755), 0);
	snprintf(exe, sizeof(exe), "%s/crosvm", a);
	make_exe(exe, 0644); /* not executable: skipped */
	snprintf(exe, sizeof(exe), "%s/crosvm", b);
	make_exe(exe, 0755);

	unsetenv(CROSVM_BACKEND_ENV);
	snprintf(path, sizeof(path), "%s:%s", a, b);
	setenv("PATH", path, 1);
	assert_int_equal(crosvm_backend_find(&found), 0);
	assert_string_equal(found, exe);
	free(found);

	setenv("PATH", a, 1);
	assert_int_equal(crosvm_backend_find(&found), -ENOENT);
	assert_non_null(strstr(avf_err_last()->msg, "no executable 'crosvm' is in PATH"));

	setenv(CROSVM_BACKEND_ENV, exe, 1);
	assert_int_equal(crosvm_backend_find(&found), 0);
	assert_string_equal(found, exe);
	free(found);
	setenv(CROSVM_BACKEND_ENV, a, 1); /* a directory */
	assert_int_equal(crosvm_backend_find(&found), -ENOENT);
	assert_non_null(strstr(avf_err_last()->msg, "AVF_CROSVM '"));

	unsetenv(CROSVM_BACKEND_ENV);
	if (old_path)
		setenv("PATH", old_path, 1);
	free(old_path);
	snprintf(exe, sizeof(exe), "%s/crosvm", a);
	unlink(exe);
	snprintf(exe, sizeof(exe), "%s/crosvm", b);
	unlink(exe);
	rmdir(a);
	rmdir(b);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden_table),
	    cmocka_unit_test(test_no_orphan_golden_files),
	    cmocka_unit_test(test_by_hand_from_the_spec),
	    cmocka_unit_test(test_fake_is_crosvm_plus_extras),
	    cmocka_unit_test(test_crosvm_backend_prepare),
	    cmocka_unit_test(test_crosvm_find),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
