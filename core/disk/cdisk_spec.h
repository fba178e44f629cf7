/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cdisk_spec: the spec file of a crosvm composite disk, to and from bytes: the 15 ASCII
 * bytes "composite_disk" + 0x1D, then one CompositeDisk protobuf (core/disk/cdisk_spec.proto,
 * crosvm's schema) to the end of the file. Encoding and decoding go through protobuf-c.
 * Format: crosvm-spec.md §4.2; what crosvm checks when it opens one: §4.9.
 *
 * Contract of the reader (it reads untrusted files and is fuzzed):
 * - at most CDISK_SPEC_MAX_BYTES of input, CDISK_SPEC_MAX_COMPONENTS components and
 *   CDISK_SPEC_MAX_PATH bytes per path, or -EFBIG / -E2BIG with a message;
 * - everything crosvm refuses is refused, with crosvm's words where it has some: a wrong
 *   magic, a protobuf that does not parse, "unknown version N in specification" (N > 2),
 *   two components at one offset ("Two disks at offset N"), a length not past the last
 *   offset; and what crosvm would trip over later: no components, an empty path, a
 *   read_write_capability other than 0 or 1, a component extent that overflows;
 * - stricter than crosvm, because no writer we know does otherwise: fields unknown to the
 *   schema, paths with control characters (so that messages quoting them stay one line),
 *   and any encoding other than the canonical one (fields in number order, zero values
 *   omitted, minimal varints; this also catches a NUL inside a path, which a C string would
 *   silently cut) are refused;
 * - the components come back sorted by offset (crosvm sorts them too), each with its extent;
 * - every failure is -EINVAL (or -ENOMEM / -EFBIG / -E2BIG), EX_ILLEGAL_ARGUMENT, one line
 *   of message starting with the @origin given; *ret is set only on success.
 */
#ifndef AVF_CORE_DISK_CDISK_SPEC_H
#define AVF_CORE_DISK_CDISK_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CDISK_MAGIC     "composite_disk\x1d"
#define CDISK_MAGIC_LEN 15u
/* The version we write; readers accept 0..2 (crosvm-spec.md §4.2). */
#define CDISK_VERSION 2u

#define CDISK_SPEC_MAX_BYTES      (1u << 20)
#define CDISK_SPEC_MAX_COMPONENTS 4096u
#define CDISK_SPEC_MAX_PATH       4095u

struct cdisk_component {
	char *path;      /* as written: crosvm resolves a relative one against the spec's dir */
	uint64_t offset; /* where it starts in the guest-visible disk */
	uint64_t length; /* decode: next offset (or the disk length) minus offset; encode: unused */
	uint64_t file_offset; /* where the extent starts in the file (crosvm 2026+); we write 0 */
	bool writable;        /* READ_WRITE */
};

struct cdisk_spec {
	uint64_t version;
	uint64_t length; /* guest-visible bytes */
	struct cdisk_component *components;
	size_t n_components;
};

/*
 * Magic plus the canonical protobuf of @s (components in the order given, zero fields
 * omitted: crosvm's bytes exactly), malloc'd into *ret_buf. -ENOMEM, or -EINVAL for a
 * component without a path.
 */
int cdisk_spec_encode(const struct cdisk_spec *s, uint8_t **ret_buf, size_t *ret_len);

/* Decode @len bytes (the whole file) under the contract above; @origin names it in messages. */
int cdisk_spec_decode(const void *buf, size_t len, const char *origin, struct cdisk_spec **ret);

/* Read and decode the file at @path (relative to @dir_fd, or AT_FDCWD); named as given. */
int cdisk_spec_load(int dir_fd, const char *path, struct cdisk_spec **ret);

/* Whether the first bytes of a file (at most 4096 looked at) are a composite's magic. */
bool cdisk_spec_has_magic(const void *buf, size_t len);

/* NULL-safe; returns NULL. Frees the components and their paths too. */
struct cdisk_spec *cdisk_spec_free(struct cdisk_spec *s);

#endif
