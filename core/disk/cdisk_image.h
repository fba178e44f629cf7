/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cdisk_image: the guest-visible bytes of a composite disk, read through its spec, as crosvm
 * would present them: the spec is loaded and checked (cdisk_spec_load), every component is
 * opened read-only (O_CLOEXEC) - a relative path against the spec's directory, as crosvm
 * does - and each must hold its whole extent (file_offset + extent bytes) or the open fails,
 * naming it. Components are read as raw bytes: a component that is itself a composite, a
 * qcow2 or a sparse image is not interpreted (crosvm would). Bytes before the first
 * component read as zeros.
 */
#ifndef AVF_CORE_DISK_CDISK_IMAGE_H
#define AVF_CORE_DISK_CDISK_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "disk/cdisk_spec.h"

struct cdisk_image;

/* -errno with a message; *ret set only on success. */
int cdisk_image_open(const char *spec_path, struct cdisk_image **ret);

/* The decoded spec, components sorted by offset. */
const struct cdisk_spec *cdisk_image_spec(const struct cdisk_image *img);

/* Exactly @len bytes at guest offset @offset; -EINVAL past the disk's length, -errno. */
int cdisk_image_read(struct cdisk_image *img, uint64_t offset, void *buf, size_t len);

/*
 * The whole disk into the regular file @out_fd, which is first truncated: every component's
 * extent at its offset, all-zero blocks left as holes, the file's size the disk's length.
 * -EINVAL (nothing written) if @out_fd is the spec file or one of the components.
 */
int cdisk_image_flatten(struct cdisk_image *img, int out_fd);

/* NULL-safe; returns NULL; closes the components. */
struct cdisk_image *cdisk_image_free(struct cdisk_image *img);

#endif
