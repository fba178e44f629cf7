/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm_config: the config's files are owned fds (copy duplicates them close-on-exec,
 * clear closes them, nothing leaks on any path), and createVm's rules on them are
 * AVF's (avf-spec 3 steps 14 and 19), in AVF's order, with AVF's words and codes,
 * applied only when the config names a file.
 */
#include "cmocka_wrap.h"
#include "test_fds.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "config/vm_config.h"

/* A config with every kind of file: kernel, initrd, an image disk, a composite of two. */
struct full {
	struct vm_config c;
	struct vm_config_disk disks[2];
	struct vm_config_partition parts[2];
};

static void full_init(struct full *f)
{
	vm_config_init(&f->c);
	f->c.kind = VM_CONFIG_APP;
	f->c.name = strdup("files");
	f->c.params = strdup("console=hvc0");
	f->c.guest_script = strdup("exit 0");
	f->c.memory_mib = 300;
	f->c.cpus = 2;
	f->c.protected_vm = true;
	f->c.kernel_fd = fd_new_pipe_end();
	f->c.initrd_fd = fd_new_pipe_end();
	f->parts[0] = (struct vm_config_partition){strdup("vbmeta_a"), fd_new_pipe_end(), false};
	f->parts[1] = (struct vm_config_partition){strdup("super"), fd_new_pipe_end(), true};
	f->disks[0] = (struct vm_config_disk){.image_fd = fd_new_pipe_end(), .writable = true};
	f->disks[1] =
	    (struct vm_config_disk){.image_fd = -1, .partitions = f->parts, .n_partitions = 2};
}

/* vm_config_clear of a config on the stack: its arrays are not the heap's. */
static void full_clear(struct full *f)
{
	close(f->c.kernel_fd);
	close(f->c.initrd_fd);
	close(f->disks[0].image_fd);
	for (int i = 0; i < 2; i++) {
		close(f->parts[i].fd);
		free(f->parts[i].label);
	}
	free(f->c.name);
	free(f->c.params);
	free(f->c.guest_script);
}

static void test_init_has_no_files(void **state)
{
	struct vm_config c;

	memset(&c, 0x5a, sizeof(c));
	vm_config_init(&c);
	assert_int_equal(c.kernel_fd, -1);
	assert_int_equal(c.initrd_fd, -1);
	assert_int_equal(c.bootloader_fd, -1);
	assert_null(c.params);
	assert_null(c.disks);
	assert_int_equal(c.n_disks, 0);
	assert_false(vm_config_has_files(&c));
	/* clearing an empty config closes nothing (fd 0 is not "none") */
	vm_config_clear(&c);
	assert_int_not_equal(fcntl(0, F_GETFD), -1);
	vm_config_clear(NULL);
}

static void test_copy_duplicates_every_fd(void **state)
{
	int fds0 = count_fds();
	struct full f;
	struct vm_config c;

	full_init(&f);
	f.c.disks = f.disks;
	f.c.n_disks = 2;
	assert_int_equal(vm_config_copy(&c, &f.c), 0);
	assert_int_equal(c.kind, VM_CONFIG_APP);
	assert_string_equal(c.name, "files");
	assert_ptr_not_equal(c.name, f.c.name);
	assert_string_equal(c.params, "console=hvc0");
	assert_string_equal(c.guest_script, "exit 0");
	assert_int_equal(c.memory_mib, 300);
	assert_int_equal(c.cpus, 2);
	assert_true(c.protected_vm);
	fd_check_dup(f.c.kernel_fd, c.kernel_fd);
	fd_check_dup(f.c.initrd_fd, c.initrd_fd);
	assert_int_equal(c.bootloader_fd, -1);
	assert_int_equal(c.n_disks, 2);
	assert_ptr_not_equal(c.disks, f.c.disks);
	fd_check_dup(f.disks[0].image_fd, c.disks[0].image_fd);
	assert_true(c.disks[0].writable);
	assert_int_equal(c.disks[0].n_partitions, 0);
	assert_int_equal(c.disks[1].image_fd, -1);
	assert_false(c.disks[1].writable);
	assert_int_equal(c.disks[1].n_partitions, 2);
	assert_string_equal(c.disks[1].partitions[0].label, "vbmeta_a");
	assert_string_equal(c.disks[1].partitions[1].label, "super");
	assert_false(c.disks[1].partitions[0].writable);
	assert_true(c.disks[1].partitions[1].writable);
	fd_check_dup(f.parts[0].fd, c.disks[1].partitions[0].fd);
	fd_check_dup(f.parts[1].fd, c.disks[1].partitions[1].fd);
	assert_true(vm_config_has_files(&c));
	/* 5 originals and 5 copies */
	assert_int_equal(count_fds(), fds0 + 10);
	assert_int_equal(vm_config_validate(&c), 0);

	/* close_files: every fd gone, the rest kept */
	vm_config_close_files(&c);
	assert_int_equal(count_fds(), fds0 + 5);
	assert_int_equal(c.kernel_fd, -1);
	assert_int_equal(c.disks[0].image_fd, -1);
	assert_int_equal(c.disks[1].partitions[1].fd, -1);
	assert_string_equal(c.disks[1].partitions[1].label, "super");
	assert_string_equal(c.name, "files");
	vm_config_clear(&c);
	assert_int_equal(c.kernel_fd, -1);
	assert_null(c.disks);

	/* a copy cleared at once closes its copies, not the originals */
	assert_int_equal(vm_config_copy(&c, &f.c), 0);
	assert_int_equal(count_fds(), fds0 + 10);
	vm_config_clear(&c);
	assert_int_equal(count_fds(), fds0 + 5);
	assert_int_not_equal(fcntl(f.c.kernel_fd, F_GETFD), -1);
	full_clear(&f);
	assert_int_equal(count_fds(), fds0);
}

/* A copy that cannot duplicate an fd fails, naming it, and holds nothing. */
static void test_copy_failure_leaks_nothing(void **state)
{
	int fds0 = count_fds(), dead;
	struct full f;
	struct vm_config c;

	full_init(&f);
	f.c.disks = f.disks;
	f.c.n_disks = 2;
	/* the last fd copied is not open (a number nothing can reuse meanwhile) */
	dead = f.parts[1].fd;
	close(dead);
	f.parts[1].fd = INT_MAX - 1;
	assert_int_equal(vm_config_copy(&c, &f.c), -EBADF);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_ARGUMENT);
	assert_non_null(strstr(avf_err_last()->msg, "'disks[1].partitions[1].image'"));
	assert_int_equal(c.kernel_fd, -1);
	assert_null(c.disks);
	assert_null(c.name);
	/* everything copied before it was closed again: only the 4 originals left */
	assert_int_equal(count_fds(), fds0 + 4);
	f.parts[1].fd = fd_new_pipe_end();
	full_clear(&f);
	assert_int_equal(count_fds(), fds0);
}

struct rule {
	const char *what;
	int kernel, initrd, bios;   /* 1: set */
	int disk_image, disk_parts; /* one disk: 1/1 both, 0/0 neither; -1: no disk */
	int err, ex;
	const char *msg;
};

/* AVF's createVm checks, written out from avf-spec 2.5 / 3 and A15's validate_config(). */
static const struct rule rules[] = {
    {"no file at all (the fake guest's)", 0, 0, 0, -1, -1, 0, 0, NULL},
    {"kernel", 1, 0, 0, -1, -1, 0, 0, NULL},
    {"kernel and initrd", 1, 1, 0, -1, -1, 0, 0, NULL},
    {"bootloader", 0, 0, 1, -1, -1, 0, 0, NULL},
    {"kernel and an image disk", 1, 0, 0, 1, 0, 0, 0, NULL},
    {"kernel and a composite", 1, 0, 0, 0, 1, 0, 0, NULL},
    {"initrd alone", 0, 1, 0, -1, -1, -EINVAL, AVF_EX_SERVICE_SPECIFIC,
     "VM must have either a bootloader or a kernel image."},
    {"a disk alone", 0, 0, 0, 1, 0, -EINVAL, AVF_EX_SERVICE_SPECIFIC,
     "VM must have either a bootloader or a kernel image."},
    {"kernel and bootloader", 1, 0, 1, -1, -1, -EINVAL, AVF_EX_SERVICE_SPECIFIC,
     "Can't have both bootloader and kernel/initrd image."},
    {"initrd and bootloader", 0, 1, 1, -1, -1, -EINVAL, AVF_EX_SERVICE_SPECIFIC,
     "Can't have both bootloader and kernel/initrd image."},
    {"a disk with both", 1, 0, 0, 1, 1, -EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
     "DiskImage contains both image and partitions"},
    {"a disk with neither", 1, 0, 0, 0, 0, -EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
     "DiskImage didn't contain image or partitions."},
    /* AVF assembles disks (step 14) before validate_config (step 19): the disk wins */
    {"a disk with neither and no kernel", 0, 0, 0, 0, 0, -EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
     "DiskImage didn't contain image or partitions."},
    {"a disk with both and kernel and bootloader", 1, 0, 1, 1, 1, -EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
     "DiskImage contains both image and partitions"},
};

static void test_validation_rules(void **state)
{
	int fds0 = count_fds();

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct rule *r = &rules[i];
		struct vm_config_partition part = {"p", -1, false};
		struct vm_config_disk disk = {.image_fd = -1};
		struct vm_config c;
		int got;

		vm_config_init(&c);
		c.kernel_fd = r->kernel ? fd_new_pipe_end() : -1;
		c.initrd_fd = r->initrd ? fd_new_pipe_end() : -1;
		c.bootloader_fd = r->bios ? fd_new_pipe_end() : -1;
		if (r->disk_image >= 0) {
			disk.image_fd = r->disk_image ? fd_new_pipe_end() : -1;
			if (r->disk_parts) {
				part.fd = fd_new_pipe_end();
				disk.partitions = &part;
				disk.n_partitions = 1;
			}
			c.disks = &disk;
			c.n_disks = 1;
		}
		avf_err_clear();
		got = vm_config_validate(&c);
		if (got != r->err)
			fail_msg("%s: %d, want %d (%s)", r->what, got, r->err, avf_err_last()->msg);
		if (r->msg) {
			assert_int_equal(avf_err_last()->ex, r->ex);
			assert_string_equal(avf_err_last()->msg, r->msg);
			if (r->ex == AVF_EX_SERVICE_SPECIFIC)
				assert_int_equal(avf_err_last()->service_code, -1);
		}
		vm_config_close_files(&c); /* the arrays are on the stack */
	}
	assert_int_equal(count_fds(), fds0);
}

/* Our own bounds and shapes: counts, a partition without its image or label. */
static void test_validation_bounds(void **state)
{
	static struct vm_config_disk disks[VM_CONFIG_DISKS_MAX + 1];
	static struct vm_config_partition parts[VM_CONFIG_PARTITIONS_MAX + 1];
	int kernel = fd_new_pipe_end(), img = fd_new_pipe_end();
	struct vm_config c;

	vm_config_init(&c);
	c.kernel_fd = kernel;
	for (size_t d = 0; d <= VM_CONFIG_DISKS_MAX; d++)
		disks[d] = (struct vm_config_disk){.image_fd = img};
	c.disks = disks;
	c.n_disks = VM_CONFIG_DISKS_MAX;
	assert_int_equal(vm_config_validate(&c), 0);
	c.n_disks = VM_CONFIG_DISKS_MAX + 1;
	assert_int_equal(vm_config_validate(&c), -EINVAL);
	assert_string_equal(avf_err_last()->msg, "config field 'disks': 65 disks, at most 64");

	for (size_t p = 0; p <= VM_CONFIG_PARTITIONS_MAX; p++)
		parts[p] = (struct vm_config_partition){"p", img, false};
	disks[1] = (struct vm_config_disk){
	    .image_fd = -1, .partitions = parts, .n_partitions = VM_CONFIG_PARTITIONS_MAX};
	c.n_disks = 2;
	assert_int_equal(vm_config_validate(&c), 0);
	disks[1].n_partitions = VM_CONFIG_PARTITIONS_MAX + 1;
	assert_int_equal(vm_config_validate(&c), -EINVAL);
	assert_string_equal(avf_err_last()->msg,
			    "config field 'disks[1].partitions': 129 partitions, at most 128");
	disks[1].n_partitions = 3;
	parts[2].fd = -1;
	assert_int_equal(vm_config_validate(&c), -EINVAL);
	assert_string_equal(avf_err_last()->msg, "config field 'disks[1].partitions[2]': no image");
	parts[2] = (struct vm_config_partition){NULL, img, false};
	assert_int_equal(vm_config_validate(&c), -EINVAL);
	assert_string_equal(avf_err_last()->msg, "config field 'disks[1].partitions[2]': no label");
	/* params alone are no file: a config for the fake guest stays valid */
	vm_config_init(&c);
	c.params = "console=hvc0";
	assert_false(vm_config_has_files(&c));
	assert_int_equal(vm_config_validate(&c), 0);
	close(kernel);
	close(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_has_no_files),
	    cmocka_unit_test(test_copy_duplicates_every_fd),
	    cmocka_unit_test(test_copy_failure_leaks_nothing),
	    cmocka_unit_test(test_validation_rules),
	    cmocka_unit_test(test_validation_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
