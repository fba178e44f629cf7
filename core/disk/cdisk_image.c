/* SPDX-License-Identifier: Apache-2.0 */
/* cdisk_image: reading a composite's guest-visible bytes (cdisk_image.h). */
#include "disk/cdisk_image.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "disk/cdisk_fd_size.h"

#define COPY_CHUNK (1u << 20)

struct cdisk_image {
	struct cdisk_spec *spec;
	int *fds; /* [spec->n_components] */
	dev_t spec_dev;
	ino_t spec_ino;
};

struct cdisk_image *cdisk_image_free(struct cdisk_image *img)
{
	if (!img)
		return NULL;
	for (size_t i = 0; img->fds && i < img->spec->n_components; i++)
		if (img->fds[i] >= 0)
			close(img->fds[i]);
	free(img->fds);
	cdisk_spec_free(img->spec);
	free(img);
	return NULL;
}

const struct cdisk_spec *cdisk_image_spec(const struct cdisk_image *img)
{
	return img->spec;
}

/* Open component @c, relative paths against @spec_path's directory, and check its size. */
static int open_component(const char *spec_path, const struct cdisk_component *c, int *ret_fd)
{
	const char *slash = strrchr(spec_path, '/');
	char *path = NULL;
	uint64_t size;
	int fd, r;

	if (c->path[0] != '/' && slash) {
		size_t dlen = (size_t)(slash - spec_path) + 1;

		if (!(path = malloc(dlen + strlen(c->path) + 1)))
			return avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
		memcpy(path, spec_path, dlen);
		strcpy(path + dlen, c->path);
	}
	fd = open(path ? path : c->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		r = avf_err_set(-errno, AVF_EX_ILLEGAL_ARGUMENT,
				"%s: failed to open component file '%s': %s", spec_path,
				path ? path : c->path, strerror(errno));
		goto out;
	}
	if ((r = cdisk_fd_size(fd, &size)) < 0) {
		r = avf_err_set(r, AVF_EX_ILLEGAL_ARGUMENT,
				"%s: component '%s' is neither a regular file nor a block device",
				spec_path, c->path);
		close(fd);
		goto out;
	}
	if (size < c->file_offset || size - c->file_offset < c->length) {
		r = avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				"%s: component '%s' is %" PRIu64 " bytes, shorter than its extent "
				"(%" PRIu64 " bytes from file offset %" PRIu64 ")",
				spec_path, c->path, size, c->length, c->file_offset);
		close(fd);
		goto out;
	}
	*ret_fd = fd;
	r = 0;
out:
	free(path);
	return r;
}

int cdisk_image_open(const char *spec_path, struct cdisk_image **ret)
{
	struct cdisk_image *img;
	struct stat st;
	int r;

	if (!(img = calloc(1, sizeof(*img))))
		return avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
	if ((r = cdisk_spec_load(AT_FDCWD, spec_path, &img->spec)) < 0)
		goto fail;
	/* kept so that flattening never writes over the spec; fs_read_file took a regular file */
	if (stat(spec_path, &st) == 0) {
		img->spec_dev = st.st_dev;
		img->spec_ino = st.st_ino;
	}
	if (!(img->fds = malloc(img->spec->n_components * sizeof(*img->fds)))) {
		r = avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < img->spec->n_components; i++)
		img->fds[i] = -1;
	for (size_t i = 0; i < img->spec->n_components; i++)
		if ((r = open_component(spec_path, &img->spec->components[i], &img->fds[i])) < 0)
			goto fail;
	*ret = img;
	return 0;
fail:
	cdisk_image_free(img);
	return r;
}

static int read_exact(int fd, void *buf, size_t len, uint64_t off, const char *path)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return avf_err_set(-errno, AVF_EX_ILLEGAL_ARGUMENT, "reading '%s': %s",
					   path, strerror(errno));
		if (n == 0)
			return avf_err_set(-EIO, AVF_EX_ILLEGAL_ARGUMENT,
					   "reading '%s': the file ended early", path);
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int cdisk_image_read(struct cdisk_image *img, uint64_t offset, void *buf, size_t len)
{
	const struct cdisk_spec *s = img->spec;
	uint8_t *p = buf;
	size_t i = 0;
	int r;

	if (offset > s->length || len > s->length - offset)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "read of %zu bytes at %" PRIu64 " is past the disk's %" PRIu64
				   " bytes",
				   len, offset, s->length);
	while (len > 0) {
		const struct cdisk_component *c;
		uint64_t n;

		/* the last component starting at or before offset */
		while (i < s->n_components && s->components[i].offset <= offset)
			i++;
		if (i == 0) {
			/* a gap before the first component */
			n = s->components[0].offset - offset;
			n = n < len ? n : len;
			memset(p, 0, n);
		} else {
			c = &s->components[i - 1];
			n = c->offset + c->length - offset;
			n = n < len ? n : len;
			if ((r = read_exact(img->fds[i - 1], p, n,
					    c->file_offset + (offset - c->offset), c->path)) < 0)
				return r;
		}
		p += n;
		offset += n;
		len -= n;
	}
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int cdisk_image_flatten(struct cdisk_image *img, int out_fd)
{
	uint64_t len = img->spec->length;
	uint8_t *buf = NULL;
	struct stat st;
	int r = 0;

	if (fstat(out_fd, &st) < 0 || !S_ISREG(st.st_mode))
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "flattening needs a regular file to write to");
	/* truncating the output must not destroy what is being read */
	if (st.st_dev == img->spec_dev && st.st_ino == img->spec_ino)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "the flat image is the composite's spec file itself");
	for (size_t i = 0; i < img->spec->n_components; i++) {
		struct stat cs;

		if (fstat(img->fds[i], &cs) == 0 && cs.st_dev == st.st_dev &&
		    cs.st_ino == st.st_ino)
			return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
					   "the flat image is the composite's component '%s'",
					   img->spec->components[i].path);
	}
	if (ftruncate(out_fd, 0) < 0 || ftruncate(out_fd, (off_t)len) < 0)
		return avf_err_set(-errno, AVF_EX_ILLEGAL_ARGUMENT, "sizing the flat image: %s",
				   strerror(errno));
	if (!(buf = malloc(COPY_CHUNK)))
		return avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
	for (uint64_t off = 0; off < len;) {
		size_t n = len - off < COPY_CHUNK ? (size_t)(len - off) : COPY_CHUNK;
		size_t done = 0;

		if ((r = cdisk_image_read(img, off, buf, n)) < 0)
			goto out;
		/* the file was truncated to holes: zeros need no writing */
		if (all_zero(buf, n))
			done = n;
		while (done < n) {
			ssize_t w = pwrite(out_fd, buf + done, n - done, (off_t)(off + done));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				r = avf_err_set(-errno, AVF_EX_ILLEGAL_ARGUMENT,
						"writing the flat image: %s", strerror(errno));
				goto out;
			}
			done += (size_t)w;
		}
		off += n;
	}
out:
	free(buf);
	return r;
}
