/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/disk, the files: cdisk_build (from fds, as virtmgr calls it at createVm, and from
 * paths), cdisk_image (reading a composite back), cdisk_gpt_read and cdisk_fd_size.
 * Checked: the names and fds of avf-spec.md §8.1-8.3 (composite-N*.img, zero.img,
 * /proc/self/fd/N, O_EXCL, O_CLOEXEC, access modes), nothing left behind and no fd leaked on
 * any failure, the zero filler shared, and the guest-visible bytes read back through the spec.
 */
#include "cmocka_wrap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "base/fs_util.h"
#include "disk/cdisk_build.h"
#include "disk/cdisk_fd_size.h"
#include "disk/cdisk_gpt_read.h"
#include "disk/cdisk_image.h"
#include "disk/cdisk_layout.h"
#include "disk/cdisk_spec.h"
#include "test_fds.h"

static char dir[256];
static int dir_fd = -1;

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(dir, sizeof(dir), "%s/test_cdisk_XXXXXX", tmp);
	assert_non_null(mkdtemp(dir));
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dir_fd >= 0);
	return 0;
}

static int teardown(void **state)
{
	close(dir_fd);
	assert_int_equal(fs_remove_tree(dir), 0);
	return 0;
}

/* ---- helpers -------------------------------------------------------------------------------- */

/* A file of @size bytes in the scratch dir, byte i = (seed + i) % 251 (no zero run of 4 KiB). */
static void make_file(const char *name, uint64_t size, unsigned seed)
{
	uint8_t buf[4096];
	int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	for (uint64_t off = 0; off < size;) {
		size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)((seed + off + i) % 251 + 1);
		assert_int_equal(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
		off += n;
	}
	close(fd);
}

static int open_in_dir(const char *name, int flags)
{
	int fd = openat(dir_fd, name, flags | O_CLOEXEC);

	if (fd < 0)
		fail_msg("open %s: %s", name, strerror(errno));
	return fd;
}

/* The scratch dir's entries, sorted, joined by spaces. */
static char *listing(void)
{
	static char out[4096];
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);

	assert_true(n >= 0);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..")) {
			strncat(out, names[i]->d_name, sizeof(out) - strlen(out) - 2);
			strcat(out, " ");
		}
		free(names[i]);
	}
	free(names);
	return out;
}

static void assert_fd_mode(int fd, int accmode)
{
	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, accmode);
}

static void assert_file_size(const char *name, off_t size)
{
	struct stat st;

	assert_int_equal(fstatat(dir_fd, name, &st, 0), 0);
	assert_int_equal(st.st_size, size);
}

/* ---- from fds ------------------------------------------------------------------------------- */

static void test_build_fds(void **state)
{
	struct cdisk_build_part p[2] = {{.label = "payload", .writable = false},
					{.label = "data", .writable = true}};
	struct cdisk_built b;
	struct cdisk_spec *spec = NULL;
	char path[64];
	int before;

	make_file("payload.img", 5000, 1);
	make_file("data.img", 8192, 2);
	p[0].fd = open_in_dir("payload.img", O_RDONLY);
	p[1].fd = open_in_dir("data.img", O_RDWR);
	before = count_fds();
	assert_int_equal(cdisk_build_fds(dir_fd, 3, p, 2, NULL, &b), 0);
	assert_int_equal(count_fds(), before + 4);
	assert_string_equal(listing(), "composite-3-footer.img composite-3-header.img "
				       "composite-3.img data.img payload.img zero.img ");
	assert_file_size("composite-3-header.img", 20480);
	assert_file_size("composite-3-footer.img", 20480);
	assert_file_size("zero.img", 4096);
	/* AVF's modes: header and footer read-write, the filler and the spec re-opened read-only */
	assert_fd_mode(b.header_fd, O_RDWR);
	assert_fd_mode(b.footer_fd, O_RDWR);
	assert_fd_mode(b.zero_fd, O_RDONLY);
	assert_fd_mode(b.composite_fd, O_RDONLY);
	assert_int_equal(b.disk_size, 20480 + 8192 + 8192 + 20480);
	/* the spec, read through the fd the VMM gets, names every file by fd number */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", b.composite_fd);
	assert_int_equal(cdisk_spec_load(AT_FDCWD, path, &spec), 0);
	assert_int_equal(spec->n_components, 5);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", b.header_fd);
	assert_string_equal(spec->components[0].path, path);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", p[0].fd);
	assert_string_equal(spec->components[1].path, path);
	assert_false(spec->components[1].writable);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", b.zero_fd);
	assert_string_equal(spec->components[2].path, path);
	assert_int_equal(spec->components[2].offset, 20480 + 5000);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", p[1].fd);
	assert_string_equal(spec->components[3].path, path);
	assert_true(spec->components[3].writable);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", b.footer_fd);
	assert_string_equal(spec->components[4].path, path);
	assert_int_equal(spec->length, b.disk_size);
	cdisk_spec_free(spec);
	/* the caller's fds are still the caller's */
	assert_true(fcntl(p[0].fd, F_GETFD) >= 0);
	cdisk_built_close(&b);
	assert_int_equal(b.composite_fd, -1);
	assert_int_equal(b.zero_fd, -1);
	assert_int_equal(count_fds(), before);
	close(p[0].fd);
	close(p[1].fd);
	cdisk_built_close(NULL);
}

static void test_build_fds_reads_back(void **state)
{
	struct cdisk_build_part p[3] = {
	    {.label = "a"}, {.label = "b"}, {.label = "c", .writable = true}};
	struct cdisk_built b;
	struct cdisk_image *img = NULL;
	struct cdisk_gpt *g = NULL;
	uint8_t got[8192], want[8192];
	char path[64], name[GPT_NAME_UTF8_MAX];

	make_file("a.img", 100, 3);
	make_file("b.img", 4096, 4);
	make_file("c.img", 12288, 5);
	p[0].fd = open_in_dir("a.img", O_RDONLY);
	p[1].fd = open_in_dir("b.img", O_RDONLY);
	p[2].fd = open_in_dir("c.img", O_RDWR);
	assert_int_equal(cdisk_build_fds(dir_fd, 0, p, 3, NULL, &b), 0);
	/* only this process can read it: the paths are its fds */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", b.composite_fd);
	assert_int_equal(cdisk_image_open(path, &img), 0);
	/* across a's end, its zero tail and into b */
	assert_int_equal(cdisk_image_read(img, 20480, got, 8192), 0);
	assert_int_equal(pread(p[0].fd, want, 100, 0), 100);
	memset(want + 100, 0, 4096 - 100);
	assert_int_equal(pread(p[1].fd, want + 4096, 4096, 0), 4096);
	assert_memory_equal(got, want, 8192);
	/* the GPT the guest sees */
	assert_int_equal(cdisk_gpt_read(img, &g), 0);
	assert_int_equal(g->n_parts, 3);
	assert_int_equal(g->pmbr_sectors, b.disk_size / 512);
	assert_int_equal(g->primary.first_usable_lba, 40);
	assert_int_equal(g->backup.my_lba, b.disk_size / 512 - 1);
	assert_memory_equal(&g->primary.disk_guid, &b.disk_guid, 16);
	assert_int_equal(g->parts[0].first_lba, 40);
	assert_int_equal(g->parts[0].last_lba, 47);
	assert_int_equal(g->parts[1].first_lba, 48);
	assert_int_equal(g->parts[2].first_lba, 56);
	assert_int_equal(g->parts[2].last_lba, 56 + 24 - 1);
	assert_int_equal(g->slots[2], 2);
	gpt_name_to_utf8(g->parts[2].name, name, sizeof(name));
	assert_string_equal(name, "c");
	assert_memory_equal(&g->parts[2].type, &gpt_guid_linux_fs, 16);
	cdisk_gpt_free(g);
	cdisk_image_free(img);
	cdisk_built_close(&b);
	for (int i = 0; i < 3; i++)
		close(p[i].fd);
}

static void test_build_fds_guids(void **state)
{
	struct gpt_guid disk, part;
	struct cdisk_build_part p[2] = {{.label = "x"}, {.label = "y"}};
	struct cdisk_built b;
	uint8_t hdr[20480], raw[16];
	int hfd;

	assert_int_equal(gpt_guid_parse("01234567-89AB-4DEF-8123-456789ABCDEF", &disk), 0);
	assert_int_equal(gpt_guid_parse("FEDCBA98-7654-4321-8FED-CBA987654321", &part), 0);
	p[1].guid = &part;
	make_file("x.img", 4096, 6);
	p[0].fd = p[1].fd = open_in_dir("x.img", O_RDONLY);
	assert_int_equal(cdisk_build_fds(dir_fd, 0, p, 2, &disk, &b), 0);
	assert_memory_equal(&b.disk_guid, &disk, 16);
	hfd = open_in_dir("composite-0-header.img", O_RDONLY);
	assert_int_equal(pread(hfd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	gpt_guid_to_disk(&disk, raw);
	assert_memory_equal(hdr + 512 + 56, raw, 16);
	gpt_guid_to_disk(&part, raw);
	assert_memory_equal(hdr + 1024 + 128 + 16, raw, 16);
	/* partition 0's was drawn: v4, byte 7 on disk holds the version (mixed-endian group 3) */
	assert_int_equal(hdr[1024 + 16 + 7] >> 4, 4);
	close(hfd);
	cdisk_built_close(&b);
	close(p[0].fd);
}

/* The build fails with @err and @msg; the directory is as it was and no fd is left open. */
static void build_fails(const struct cdisk_build_part *p, size_t n, unsigned index, int err,
			const char *msg)
{
	struct cdisk_built b = {.composite_fd = -7};
	char before[4096];
	int fds = count_fds();

	snprintf(before, sizeof(before), "%s", listing());
	avf_err_clear();
	assert_int_equal(cdisk_build_fds(dir_fd, index, p, n, NULL, &b), err);
	assert_int_equal(b.composite_fd, -7);
	if (strcmp(avf_err_last()->msg, msg) != 0)
		fail_msg("message\n  got:  %s\n  want: %s", avf_err_last()->msg, msg);
	assert_string_equal(listing(), before);
	assert_int_equal(count_fds(), fds);
}

static void test_build_fds_failures_leave_nothing(void **state)
{
	struct cdisk_build_part p[2] = {{.label = "ro"}, {.label = "rw", .writable = true}};
	int closed;
	char want[128];

	make_file("ro.img", 5000, 7);
	make_file("rw.img", 5000, 8);
	p[0].fd = open_in_dir("ro.img", O_RDONLY);
	p[1].fd = open_in_dir("rw.img", O_RDWR);
	/* a rule: refused before any file is made */
	build_fails(p, 2, 0, -EINVAL,
		    "partition #1 'rw': Read-write partition size 5000 is not a multiple of 4096.");
	/* the spec's name taken: header, footer and zero.img were made, and are removed */
	p[1].writable = false;
	close(open_in_dir("composite-0.img", O_WRONLY | O_CREAT));
	build_fails(p, 2, 0, -EEXIST, "creating 'composite-0.img': File exists");
	assert_file_size("composite-0.img", 0);
	/* the header's name taken */
	close(open_in_dir("composite-1-header.img", O_WRONLY | O_CREAT));
	build_fails(p, 2, 1, -EEXIST, "creating 'composite-1-header.img': File exists");
	/* a zero.img that is not a zero filler */
	make_file("zero.img", 4096, 9);
	build_fails(p, 2, 2, -EEXIST, "zero filler 'zero.img' exists and is not 4096 zero bytes");
	assert_int_equal(unlinkat(dir_fd, "zero.img", 0), 0);
	/* fds that are not images */
	closed = open_in_dir("ro.img", O_RDONLY);
	close(closed);
	p[1].fd = closed;
	snprintf(want, sizeof(want), "partition #1 'rw': fd %d: Bad file descriptor", closed);
	build_fails(p, 2, 2, -EBADF, want);
	p[1].fd = -1;
	build_fails(p, 2, 2, -EBADF, "partition #1 'rw': fd -1: Bad file descriptor");
	p[1].fd = dir_fd;
	snprintf(want, sizeof(want),
		 "partition #1 'rw': fd %d is neither a regular file nor a block device", dir_fd);
	build_fails(p, 2, 2, -EINVAL, want);
	/* an empty partition */
	make_file("empty.img", 0, 0);
	p[1].fd = open_in_dir("empty.img", O_RDONLY);
	build_fails(p, 2, 2, -EINVAL,
		    "partition #1 'rw': size is 0: an empty partition would share its offset with "
		    "the next component");
	close(p[1].fd);
	close(p[0].fd);
	assert_string_equal(listing(), "composite-0.img composite-1-header.img empty.img ro.img "
				       "rw.img ");
}

static void test_build_fds_zero_filler_shared(void **state)
{
	struct cdisk_build_part p[1] = {{.label = "ro"}};
	struct cdisk_built b0, b1, b2;
	struct stat s0, s1;

	make_file("ro.img", 1, 10);
	p[0].fd = open_in_dir("ro.img", O_RDONLY);
	assert_int_equal(cdisk_build_fds(dir_fd, 0, p, 1, NULL, &b0), 0);
	assert_int_equal(cdisk_build_fds(dir_fd, 1, p, 1, NULL, &b1), 0);
	/* one zero.img, two read-only fds on it */
	assert_int_equal(fstat(b0.zero_fd, &s0), 0);
	assert_int_equal(fstat(b1.zero_fd, &s1), 0);
	assert_int_equal(s0.st_ino, s1.st_ino);
	assert_int_not_equal(b0.zero_fd, b1.zero_fd);
	/* a composite whose partitions are aligned needs no filler */
	make_file("al.img", 4096, 11);
	close(p[0].fd);
	p[0].fd = open_in_dir("al.img", O_RDONLY);
	assert_int_equal(cdisk_build_fds(dir_fd, 2, p, 1, NULL, &b2), 0);
	assert_int_equal(b2.zero_fd, -1);
	cdisk_built_close(&b0);
	cdisk_built_close(&b1);
	cdisk_built_close(&b2);
	close(p[0].fd);
	/* a later composite's failure does not take the shared filler with it */
	make_file("odd.img", 10, 12);
	p[0].fd = open_in_dir("odd.img", O_RDONLY);
	close(open_in_dir("composite-3-footer.img", O_WRONLY | O_CREAT));
	build_fails(p, 1, 3, -EEXIST, "creating 'composite-3-footer.img': File exists");
	assert_file_size("zero.img", 4096);
	close(p[0].fd);
}

static void test_build_fds_too_many(void **state)
{
	struct cdisk_build_part *p = calloc(129, sizeof(*p));

	assert_non_null(p);
	build_fails(p, 129, 0, -EINVAL, "129 partitions, more than the 128 entries of a GPT");
	free(p);
}

/* ---- from paths ----------------------------------------------------------------------------- */

static void test_build_paths_and_flatten(void **state)
{
	struct cdisk_build_part p[2] = {{.label = "boot"}, {.label = "data", .writable = true}};
	char out[512], pa[512], pb[512], want[512];
	struct cdisk_built b;
	struct cdisk_spec *spec = NULL;
	struct cdisk_image *img = NULL;
	uint8_t *flat, buf[8192];
	int ffd, fds = count_fds();

	make_file("boot.img", 6000, 13);
	make_file("data.img", 4096, 14);
	snprintf(pa, sizeof(pa), "%s/boot.img", dir);
	snprintf(pb, sizeof(pb), "%s/./data.img", dir);
	p[0].path = pa;
	p[1].path = pb;
	snprintf(out, sizeof(out), "%s/disk.img", dir);
	assert_int_equal(cdisk_build_paths(out, p, 2, NULL, &b), 0);
	assert_int_equal(b.composite_fd, -1);
	assert_int_equal(b.header_fd, -1);
	assert_int_equal(count_fds(), fds);
	assert_string_equal(listing(), "boot.img data.img disk-footer.img disk-header.img "
				       "disk-zero.img disk.img ");
	/* absolute paths, partitions resolved */
	assert_int_equal(cdisk_spec_load(dir_fd, "disk.img", &spec), 0);
	snprintf(want, sizeof(want), "%s/disk-header.img", dir);
	assert_string_equal(spec->components[0].path, want);
	assert_string_equal(spec->components[1].path, pa);
	snprintf(want, sizeof(want), "%s/disk-zero.img", dir);
	assert_string_equal(spec->components[2].path, want);
	snprintf(want, sizeof(want), "%s/data.img", dir);
	assert_string_equal(spec->components[3].path, want);
	cdisk_spec_free(spec);
	/* flattened: header, boot, zeros, data, footer */
	assert_int_equal(cdisk_image_open(out, &img), 0);
	ffd = open_in_dir("flat", O_RDWR | O_CREAT);
	assert_int_equal(cdisk_image_flatten(img, ffd), 0);
	flat = malloc(b.disk_size);
	assert_non_null(flat);
	assert_int_equal(pread(ffd, flat, b.disk_size, 0), (ssize_t)b.disk_size);
	assert_int_equal(lseek(ffd, 0, SEEK_END), (off_t)b.disk_size);
	close(ffd);
	ffd = open_in_dir("disk-header.img", O_RDONLY);
	assert_int_equal(pread(ffd, buf, 8192, 0), 8192);
	assert_memory_equal(flat, buf, 8192);
	close(ffd);
	ffd = open_in_dir("boot.img", O_RDONLY);
	assert_int_equal(pread(ffd, buf, 6000, 0), 6000);
	memset(buf + 6000, 0, 8192 - 6000);
	assert_memory_equal(flat + 20480, buf, 8192);
	close(ffd);
	ffd = open_in_dir("data.img", O_RDONLY);
	assert_int_equal(pread(ffd, buf, 4096, 0), 4096);
	assert_memory_equal(flat + 20480 + 8192, buf, 4096);
	close(ffd);
	ffd = open_in_dir("disk-footer.img", O_RDONLY);
	assert_int_equal(pread(ffd, buf, 8192, 20480 - 8192), 8192);
	assert_memory_equal(flat + b.disk_size - 8192, buf, 8192);
	close(ffd);
	free(flat);
	cdisk_image_free(img);
	/* again: the names are taken, and nothing of the second attempt stays */
	assert_int_equal(unlinkat(dir_fd, "disk-zero.img", 0), 0);
	assert_int_equal(cdisk_build_paths(out, p, 2, NULL, &b), -EEXIST);
	assert_string_equal(avf_err_last()->msg, "creating 'disk-header.img': File exists");
	assert_string_equal(listing(), "boot.img data.img disk-footer.img disk-header.img disk.img "
				       "flat ");
	assert_int_equal(count_fds(), fds);
}

static void test_build_paths_names(void **state)
{
	struct cdisk_build_part p[1] = {{.label = "a"}};
	struct cdisk_built b;
	char out[512], pa[512];

	make_file("a.img", 4096, 15);
	snprintf(pa, sizeof(pa), "%s/a.img", dir);
	p[0].path = pa;
	/* no .img suffix: the suffixes are added */
	snprintf(out, sizeof(out), "%s/comp", dir);
	assert_int_equal(cdisk_build_paths(out, p, 1, NULL, &b), 0);
	assert_string_equal(listing(), "a.img comp comp-footer.img comp-header.img ");
	/* refusals */
	snprintf(out, sizeof(out), "%s/", dir);
	assert_int_equal(cdisk_build_paths(out, p, 1, NULL, &b), -EINVAL);
	snprintf(pa, sizeof(pa), "'%s/' does not name a file to create", dir);
	assert_string_equal(avf_err_last()->msg, pa);
	assert_int_equal(cdisk_build_paths("/nonexistent-dir/x.img", p, 1, NULL, &b), -ENOENT);
	assert_string_equal(avf_err_last()->msg,
			    "resolving the directory of '/nonexistent-dir/x.img': "
			    "No such file or directory");
	p[0].path = "/nonexistent.img";
	snprintf(out, sizeof(out), "%s/y.img", dir);
	assert_int_equal(cdisk_build_paths(out, p, 1, NULL, &b), -ENOENT);
	assert_string_equal(avf_err_last()->msg,
			    "partition #0 'a': /nonexistent.img: No such file or directory");
	p[0].path = "/dev/null";
	assert_int_equal(cdisk_build_paths(out, p, 1, NULL, &b), -EINVAL);
	assert_string_equal(avf_err_last()->msg, "partition #0 'a': /dev/null is neither a regular "
						 "file nor a block device");
	assert_string_equal(listing(), "a.img comp comp-footer.img comp-header.img ");
}

/* ---- reading composites --------------------------------------------------------------------- */

static void write_spec(const char *name, const struct cdisk_spec *s)
{
	uint8_t *bytes;
	size_t len;
	int fd;

	assert_int_equal(cdisk_spec_encode(s, &bytes, &len), 0);
	fd = open_in_dir(name, O_WRONLY | O_CREAT | O_TRUNC);
	assert_int_equal(write(fd, bytes, len), (ssize_t)len);
	close(fd);
	free(bytes);
}

static void test_image_relative_gaps_and_short(void **state)
{
	struct cdisk_component c[2] = {{.path = "one", .offset = 100},
				       {.path = "two", .offset = 300, .file_offset = 10}};
	struct cdisk_spec s = {.version = 2, .length = 400, .components = c, .n_components = 2};
	struct cdisk_image *img = NULL;
	char spec_path[512], want[600];
	uint8_t buf[400], one[200], two[110];
	int fd;

	make_file("one", 200, 16);
	make_file("two", 110, 17);
	write_spec("rel.img", &s);
	snprintf(spec_path, sizeof(spec_path), "%s/rel.img", dir);
	/* relative paths against the spec's directory, not the working directory */
	assert_int_equal(cdisk_image_open(spec_path, &img), 0);
	assert_int_equal(cdisk_image_read(img, 0, buf, 400), 0);
	fd = open_in_dir("one", O_RDONLY);
	assert_int_equal(pread(fd, one, 200, 0), 200);
	close(fd);
	fd = open_in_dir("two", O_RDONLY);
	assert_int_equal(pread(fd, two, 110, 0), 110);
	close(fd);
	for (int i = 0; i < 100; i++)
		assert_int_equal(buf[i], 0); /* before the first component */
	assert_memory_equal(buf + 100, one, 200);
	assert_memory_equal(buf + 300, two + 10, 100); /* file_offset 10 */
	assert_int_equal(cdisk_image_read(img, 399, buf, 2), -EINVAL);
	assert_string_equal(avf_err_last()->msg,
			    "read of 2 bytes at 399 is past the disk's 400 bytes");
	img = cdisk_image_free(img);
	/* a component shorter than its extent */
	s.length = 411;
	write_spec("short.img", &s);
	snprintf(spec_path, sizeof(spec_path), "%s/short.img", dir);
	assert_int_equal(cdisk_image_open(spec_path, &img), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s: component 'two' is 110 bytes, shorter than its extent (111 bytes from file "
		 "offset 10)",
		 spec_path);
	assert_string_equal(avf_err_last()->msg, want);
	/* a missing one */
	c[0].path = "/nonexistent-component";
	s.length = 400;
	write_spec("missing.img", &s);
	snprintf(spec_path, sizeof(spec_path), "%s/missing.img", dir);
	assert_int_equal(cdisk_image_open(spec_path, &img), -ENOENT);
	snprintf(want, sizeof(want),
		 "%s: failed to open component file '/nonexistent-component': No such file or "
		 "directory",
		 spec_path);
	assert_string_equal(avf_err_last()->msg, want);
	assert_null(img);
	assert_null(cdisk_image_free(NULL));
	assert_null(cdisk_gpt_free(NULL));
}

static void test_gpt_read_refuses(void **state)
{
	struct cdisk_build_part p[1] = {{.label = "a"}};
	struct cdisk_image *img = NULL;
	struct cdisk_gpt *g = NULL;
	struct cdisk_built b;
	char out[512], pa[512];
	int fd;

	make_file("a.img", 4096, 18);
	snprintf(pa, sizeof(pa), "%s/a.img", dir);
	p[0].path = pa;
	snprintf(out, sizeof(out), "%s/g.img", dir);
	assert_int_equal(cdisk_build_paths(out, p, 1, NULL, &b), 0);
	/* one bit of the entry array flipped, in the header file */
	fd = open_in_dir("g-header.img", O_RDWR);
	assert_int_equal(pwrite(fd, "\x01", 1, 1024 + 60), 1);
	assert_int_equal(cdisk_image_open(out, &img), 0);
	assert_int_equal(cdisk_gpt_read(img, &g), -EINVAL);
	assert_true(strncmp(avf_err_last()->msg, "primary GPT: entry array CRC32 is ", 34) == 0);
	cdisk_image_free(img);
	/* the MBR gone */
	assert_int_equal(pwrite(fd, "\0\0", 2, 510), 2);
	assert_int_equal(cdisk_image_open(out, &img), 0);
	assert_int_equal(cdisk_gpt_read(img, &g), -EINVAL);
	assert_string_equal(avf_err_last()->msg,
			    "no protective MBR (55 AA and a partition of type EE) in sector 0");
	cdisk_image_free(img);
	close(fd);
	/* the backup header damaged */
	fd = open_in_dir("g-footer.img", O_RDWR);
	assert_int_equal(pwrite(fd, "X", 1, 19968), 1);
	close(fd);
	fd = open_in_dir("g-header.img", O_RDWR);
	assert_int_equal(pwrite(fd, "\x55\xAA", 2, 510), 2);
	assert_int_equal(pwrite(fd, "\0", 1, 1024 + 60), 1);
	close(fd);
	assert_int_equal(cdisk_image_open(out, &img), 0);
	assert_int_equal(cdisk_gpt_read(img, &g), -EINVAL);
	assert_string_equal(avf_err_last()->msg, "backup GPT header: no 'EFI PART' signature");
	cdisk_image_free(img);
	assert_null(g);
}

static void test_fd_size(void **state)
{
	uint64_t size = 1;
	int fd;

	make_file("sz", 12345, 19);
	fd = open_in_dir("sz", O_RDONLY);
	assert_int_equal(cdisk_fd_size(fd, &size), 0);
	assert_int_equal(size, 12345);
	close(fd);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(cdisk_fd_size(fd, &size), -EINVAL);
	close(fd);
	assert_int_equal(cdisk_fd_size(-1, &size), -EBADF);
	assert_int_equal(size, 12345);
	/* a block device, if this machine lets us open one */
	fd = open("/dev/loop0", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		int r = cdisk_fd_size(fd, &size);

		assert_true(r == 0 || r == -ENXIO);
		close(fd);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_build_fds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_build_fds_reads_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_build_fds_guids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_build_fds_failures_leave_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_build_fds_zero_filler_shared, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_build_fds_too_many, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_build_paths_and_flatten, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_build_paths_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_image_relative_gaps_and_short, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gpt_read_refuses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fd_size, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
