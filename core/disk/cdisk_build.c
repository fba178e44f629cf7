/* SPDX-License-Identifier: Apache-2.0 */
/* cdisk_build: a composite disk's files, from fds or from paths (cdisk_build.h). */
#include "disk/cdisk_build.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "disk/cdisk_fd_size.h"
#include "disk/cdisk_layout.h"
#include "disk/cdisk_spec.h"
#include "disk/utf8.h"

#define N_FILES 4

/* What one build has created and opened, so that failure can undo exactly that. */
struct files {
	int dir_fd;
	const char *names[N_FILES];
	bool created[N_FILES];
	int fds[N_FILES]; /* the final fds (indexed by enum cdisk_build_file) */
	int spec_wfd;     /* the spec as written, before it is re-opened read-only */
};

const char *cdisk_build_name(unsigned index, enum cdisk_build_file which, char *buf)
{
	switch (which) {
	case CDISK_FILE_SPEC: snprintf(buf, CDISK_BUILD_NAME_MAX, "composite-%u.img", index); break;
	case CDISK_FILE_HEADER:
		snprintf(buf, CDISK_BUILD_NAME_MAX, "composite-%u-header.img", index);
		break;
	case CDISK_FILE_FOOTER:
		snprintf(buf, CDISK_BUILD_NAME_MAX, "composite-%u-footer.img", index);
		break;
	case CDISK_FILE_ZERO: snprintf(buf, CDISK_BUILD_NAME_MAX, "zero.img"); break;
	}
	return buf;
}

void cdisk_built_close(struct cdisk_built *b)
{
	int *fds[4];

	if (!b)
		return;
	fds[0] = &b->composite_fd;
	fds[1] = &b->header_fd;
	fds[2] = &b->footer_fd;
	fds[3] = &b->zero_fd;
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

static int sys_error(int err, const char *what, const char *name)
{
	return avf_err_set(err, AVF_EX_SERVICE_SPECIFIC, "%s '%s': %s", what, name, strerror(-err));
}

static int create_file(struct files *f, enum cdisk_build_file which, int flags, int *ret_fd)
{
	int fd = openat(f->dir_fd, f->names[which], flags | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0)
		return sys_error(-errno, "creating", f->names[which]);
	f->created[which] = true;
	*ret_fd = fd;
	return 0;
}

static int write_all(int fd, const void *buf, size_t len, const char *name)
{
	const uint8_t *p = buf;
	off_t off = 0;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sys_error(-errno, "writing", name);
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Re-open a file just written, read-only, in place of the fd it was written with. */
static int reopen_rdonly(struct files *f, enum cdisk_build_file which, int *wfd)
{
	int fd = openat(f->dir_fd, f->names[which], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return sys_error(-errno, "re-opening", f->names[which]);
	close(*wfd);
	*wfd = -1;
	f->fds[which] = fd;
	return 0;
}

/* An existing zero filler is reused if it is what we would have written. */
static int open_existing_zero(struct files *f)
{
	const char *name = f->names[CDISK_FILE_ZERO];
	uint8_t buf[CDISK_ZERO_FILLER_SIZE];
	struct stat st;
	ssize_t n;
	int fd;

	fd = openat(f->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return sys_error(-errno, "opening", name);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != CDISK_ZERO_FILLER_SIZE ||
	    (n = pread(fd, buf, sizeof(buf), 0)) != (ssize_t)sizeof(buf))
		goto bad;
	for (size_t i = 0; i < sizeof(buf); i++)
		if (buf[i])
			goto bad;
	f->fds[CDISK_FILE_ZERO] = fd;
	return 0;
bad:
	close(fd);
	return avf_err_set(-EEXIST, AVF_EX_SERVICE_SPECIFIC,
			   "zero filler '%s' exists and is not %u zero bytes", name,
			   CDISK_ZERO_FILLER_SIZE);
}

static int make_zero(struct files *f)
{
	int fd, r;

	r = create_file(f, CDISK_FILE_ZERO, O_RDWR, &fd);
	if (r == -EEXIST)
		return open_existing_zero(f);
	if (r < 0)
		return r;
	if (ftruncate(fd, CDISK_ZERO_FILLER_SIZE) < 0) {
		r = sys_error(-errno, "sizing", f->names[CDISK_FILE_ZERO]);
		close(fd);
		return r;
	}
	r = reopen_rdonly(f, CDISK_FILE_ZERO, &fd);
	if (fd >= 0)
		close(fd);
	return r;
}

/* How the spec names a helper file: by fd, or by absolute path under @abs_dir. */
static int helper_path(const struct files *f, enum cdisk_build_file which, const char *abs_dir,
		       char *buf, size_t size)
{
	int n = abs_dir ? snprintf(buf, size, "%s/%s", strcmp(abs_dir, "/") ? abs_dir : "",
				   f->names[which])
			: snprintf(buf, size, "/proc/self/fd/%d", f->fds[which]);

	if (n < 0 || (size_t)n >= size || (size_t)n > CDISK_SPEC_MAX_PATH)
		return avf_err_set(-ENAMETOOLONG, AVF_EX_ILLEGAL_ARGUMENT,
				   "path of '%s' is too long for a composite spec",
				   f->names[which]);
	return 0;
}

static void undo(struct files *f)
{
	for (int i = 0; i < N_FILES; i++) {
		if (f->fds[i] >= 0)
			close(f->fds[i]);
		f->fds[i] = -1;
		if (f->created[i])
			unlinkat(f->dir_fd, f->names[i], 0);
		f->created[i] = false;
	}
	if (f->spec_wfd >= 0)
		close(f->spec_wfd);
	f->spec_wfd = -1;
}

/* The files of the spec and the spec itself, once the layout is known. */
static int write_files(struct files *f, const struct cdisk_layout *l, const char *abs_dir,
		       const char *const *part_paths)
{
	char header[PATH_MAX], footer[PATH_MAX], zero[PATH_MAX];
	struct cdisk_spec *spec = NULL;
	uint8_t *bytes = NULL;
	size_t len;
	int r;

	if ((r = create_file(f, CDISK_FILE_HEADER, O_RDWR, &f->fds[CDISK_FILE_HEADER])) < 0 ||
	    (r = create_file(f, CDISK_FILE_FOOTER, O_RDWR, &f->fds[CDISK_FILE_FOOTER])) < 0 ||
	    (r = create_file(f, CDISK_FILE_SPEC, O_WRONLY, &f->spec_wfd)) < 0 ||
	    (l->uses_zero_filler && (r = make_zero(f)) < 0))
		return r;
	if ((r = helper_path(f, CDISK_FILE_HEADER, abs_dir, header, sizeof(header))) < 0 ||
	    (r = helper_path(f, CDISK_FILE_FOOTER, abs_dir, footer, sizeof(footer))) < 0 ||
	    (l->uses_zero_filler &&
	     (r = helper_path(f, CDISK_FILE_ZERO, abs_dir, zero, sizeof(zero))) < 0))
		return r;
	if ((r = cdisk_layout_spec(l, header, footer, l->uses_zero_filler ? zero : NULL, part_paths,
				   &spec)) < 0 ||
	    (r = cdisk_spec_encode(spec, &bytes, &len)) < 0)
		goto out;
	if ((r = write_all(f->fds[CDISK_FILE_HEADER], l->header, sizeof(l->header),
			   f->names[CDISK_FILE_HEADER])) < 0 ||
	    (r = write_all(f->fds[CDISK_FILE_FOOTER], l->footer, sizeof(l->footer),
			   f->names[CDISK_FILE_FOOTER])) < 0 ||
	    (r = write_all(f->spec_wfd, bytes, len, f->names[CDISK_FILE_SPEC])) < 0)
		goto out;
	r = reopen_rdonly(f, CDISK_FILE_SPEC, &f->spec_wfd);
out:
	free(bytes);
	cdisk_spec_free(spec);
	return r;
}

/* The common part: sizes known, names chosen; fills *ret with the fds on success. */
static int build(struct files *f, const char *abs_dir, const struct cdisk_build_part *parts,
		 size_t n_parts, const uint64_t *sizes, const char *const *part_paths,
		 const struct gpt_guid *disk_guid, struct cdisk_built *ret)
{
	struct cdisk_layout *l = NULL;
	struct cdisk_part *lp = NULL;
	int r;

	if (n_parts > 0 && !(lp = calloc(n_parts, sizeof(*lp))))
		return avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
	for (size_t i = 0; i < n_parts; i++)
		lp[i] = (struct cdisk_part){.label = parts[i].label,
					    .size = sizes[i],
					    .writable = parts[i].writable,
					    .guid = parts[i].guid};
	if ((r = cdisk_layout_make(lp, n_parts, disk_guid, &l)) < 0)
		goto out;
	if ((r = write_files(f, l, abs_dir, part_paths)) < 0) {
		undo(f);
		goto out;
	}
	*ret = (struct cdisk_built){.composite_fd = f->fds[CDISK_FILE_SPEC],
				    .header_fd = f->fds[CDISK_FILE_HEADER],
				    .footer_fd = f->fds[CDISK_FILE_FOOTER],
				    .zero_fd = f->fds[CDISK_FILE_ZERO],
				    .disk_size = l->disk_size,
				    .disk_guid = l->disk_guid};
out:
	cdisk_layout_free(l);
	free(lp);
	return r;
}

static void files_init(struct files *f, int dir_fd)
{
	*f = (struct files){.dir_fd = dir_fd, .spec_wfd = -1};
	for (int i = 0; i < N_FILES; i++)
		f->fds[i] = -1;
}

static int size_error(int err, size_t i, const char *label, const char *what)
{
	if (err == -EINVAL)
		return avf_err_set(err, AVF_EX_ILLEGAL_ARGUMENT,
				   "partition #%zu '%s': %s is neither a regular file nor a block "
				   "device",
				   i, label ? label : "", what);
	return avf_err_set(err, AVF_EX_ILLEGAL_ARGUMENT, "partition #%zu '%s': %s: %s", i,
			   label ? label : "", what, strerror(-err));
}

int cdisk_build_fds(int dir_fd, unsigned index, const struct cdisk_build_part *parts,
		    size_t n_parts, const struct gpt_guid *disk_guid, struct cdisk_built *ret)
{
	char names[N_FILES][CDISK_BUILD_NAME_MAX], (*paths)[32] = NULL;
	const char **part_paths = NULL;
	uint64_t *sizes = NULL;
	struct files f;
	int r = 0;

	files_init(&f, dir_fd);
	for (int i = 0; i < N_FILES; i++)
		f.names[i] = cdisk_build_name(index, (enum cdisk_build_file)i, names[i]);
	if (n_parts > CDISK_MAX_PARTITIONS)
		/* before allocating by it; cdisk_layout_make says the same */
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "%zu partitions, more than the %u entries of a GPT", n_parts,
				   CDISK_MAX_PARTITIONS);
	if (n_parts > 0 && (!(sizes = calloc(n_parts, sizeof(*sizes))) ||
			    !(paths = calloc(n_parts, sizeof(*paths))) ||
			    !(part_paths = calloc(n_parts, sizeof(*part_paths))))) {
		r = avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_parts; i++) {
		char what[32];

		snprintf(what, sizeof(what), "fd %d", parts[i].fd);
		if (parts[i].fd < 0) {
			r = size_error(-EBADF, i, parts[i].label, what);
			goto out;
		}
		if ((r = cdisk_fd_size(parts[i].fd, &sizes[i])) < 0) {
			r = size_error(r, i, parts[i].label, what);
			goto out;
		}
		snprintf(paths[i], sizeof(paths[i]), "/proc/self/fd/%d", parts[i].fd);
		part_paths[i] = paths[i];
	}
	r = build(&f, NULL, parts, n_parts, sizes, part_paths, disk_guid, ret);
out:
	free(sizes);
	free(paths);
	free(part_paths);
	return r;
}

/* dirname and basename of @out into malloc'd strings; the directory made absolute. */
static int split_out_path(const char *out, char **ret_dir, char **ret_base)
{
	const char *slash = strrchr(out, '/');
	const char *base = slash ? slash + 1 : out;
	char *dir, *abs;

	if (!base[0] || !strcmp(base, ".") || !strcmp(base, ".."))
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "'%s' does not name a file to create", out);
	if (!slash)
		dir = strdup(".");
	else if (slash == out)
		dir = strdup("/");
	else
		dir = strndup(out, (size_t)(slash - out));
	if (!dir)
		return avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
	abs = realpath(dir, NULL);
	free(dir);
	if (!abs)
		return sys_error(-errno, "resolving the directory of", out);
	if (!(*ret_base = strdup(base))) {
		free(abs);
		return avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
	}
	*ret_dir = abs;
	return 0;
}

/* Size and absolute path of partition @i, opened by path. */
static int probe_path(const struct cdisk_build_part *p, size_t i, uint64_t *ret_size,
		      char **ret_abs)
{
	char *abs;
	int fd, r;

	if (!p->path || !p->path[0])
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "partition #%zu '%s': no path",
				   i, p->label ? p->label : "");
	fd = open(p->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return size_error(-errno, i, p->label, p->path);
	r = cdisk_fd_size(fd, ret_size);
	close(fd);
	if (r < 0)
		return size_error(r, i, p->label, p->path);
	if (!(abs = realpath(p->path, NULL)))
		return size_error(-errno, i, p->label, p->path);
	if (strlen(abs) > CDISK_SPEC_MAX_PATH || !utf8_valid(abs, strlen(abs))) {
		r = avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				"partition #%zu '%s': path '%s' is not a UTF-8 path of at most %u "
				"bytes, as a composite spec needs",
				i, p->label ? p->label : "", abs, CDISK_SPEC_MAX_PATH);
		free(abs);
		return r;
	}
	*ret_abs = abs;
	return 0;
}

int cdisk_build_paths(const char *out_path, const struct cdisk_build_part *parts, size_t n_parts,
		      const struct gpt_guid *disk_guid, struct cdisk_built *ret)
{
	char *dir = NULL, *base = NULL, **abs = NULL;
	char names[N_FILES - 1][NAME_MAX + 1];
	uint64_t *sizes = NULL;
	struct cdisk_built b;
	struct files f;
	size_t stem;
	int dir_fd = -1, r;

	files_init(&f, -1);
	if (n_parts > CDISK_MAX_PARTITIONS)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "%zu partitions, more than the %u entries of a GPT", n_parts,
				   CDISK_MAX_PARTITIONS);
	if ((r = split_out_path(out_path, &dir, &base)) < 0)
		return r;
	stem = strlen(base);
	if (stem > 4 && !strcmp(base + stem - 4, ".img"))
		stem -= 4;
	if (strlen(base) > NAME_MAX || stem + strlen("-footer.img") > NAME_MAX) {
		r = avf_err_set(-ENAMETOOLONG, AVF_EX_ILLEGAL_ARGUMENT, "'%s': name too long",
				base);
		goto out;
	}
	snprintf(names[0], sizeof(names[0]), "%.*s-header.img", (int)stem, base);
	snprintf(names[1], sizeof(names[1]), "%.*s-footer.img", (int)stem, base);
	snprintf(names[2], sizeof(names[2]), "%.*s-zero.img", (int)stem, base);
	f.names[CDISK_FILE_SPEC] = base;
	f.names[CDISK_FILE_HEADER] = names[0];
	f.names[CDISK_FILE_FOOTER] = names[1];
	f.names[CDISK_FILE_ZERO] = names[2];
	if (n_parts > 0 && (!(sizes = calloc(n_parts, sizeof(*sizes))) ||
			    !(abs = calloc(n_parts, sizeof(*abs))))) {
		r = avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_parts; i++)
		if ((r = probe_path(&parts[i], i, &sizes[i], &abs[i])) < 0)
			goto out;
	if ((dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		r = sys_error(-errno, "opening directory", dir);
		goto out;
	}
	f.dir_fd = dir_fd;
	if ((r = build(&f, dir, parts, n_parts, sizes, (const char *const *)abs, disk_guid, &b)) <
	    0)
		goto out;
	cdisk_built_close(&b);
	*ret = b;
out:
	if (dir_fd >= 0)
		close(dir_fd);
	for (size_t i = 0; abs && i < n_parts; i++)
		free(abs[i]);
	free(abs);
	free(sizes);
	free(dir);
	free(base);
	return r;
}
