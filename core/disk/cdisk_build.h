/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cdisk_build: write a crosvm composite disk (cdisk_layout's bytes) into files.
 *
 * cdisk_build_fds is what a VM manager calls at createVm for a DiskImage with partitions
 * (avf-spec.md §8.1-8.3). Contract:
 * - Inputs: the directory (@dir_fd, the VM's temp dir), the composite's number N (AVF counts
 *   per VM from 0), and per partition its label, writability, optional GUID and an fd. The
 *   caller owns the partition fds: nothing here closes, dups or moves them. The size of each
 *   is read from the fd (regular file: its size; block device: BLKGETSIZE64).
 * - Files created in the directory, each with O_CREAT|O_EXCL (an existing one is an error,
 *   -EEXIST, and is left alone), mode 0644 less the umask:
 *     composite-N-header.img   20480 bytes: protective MBR + primary GPT
 *     composite-N-footer.img   20480 bytes: backup GPT
 *     composite-N.img          the spec: magic + CompositeDisk protobuf
 *     zero.img                 4096 zero bytes, only if some read-only partition's size is
 *                              not a multiple of 4096; shared by the VM's composites: an
 *                              existing zero.img (4096 zero bytes, else an error) is reused
 * - The spec names every file as /proc/self/fd/<n>: each partition by the fd number it was
 *   given, the others by the fds returned in *ret. Those fds, and the partition fds, must
 *   reach the VMM at the same numbers (with FD_CLOEXEC cleared only in the child); the VMM
 *   is given /proc/self/fd/<composite_fd>.
 * - Every fd returned is O_CLOEXEC: header and footer O_RDWR (as AVF opens them), the
 *   zero filler and the composite re-opened O_RDONLY after writing (as AVF does).
 * - On failure nothing is left behind: every file created here is unlinked, every fd
 *   opened here closed, *ret untouched; the error is -errno with a message (avf_err) naming
 *   the partition (#index and label) and the rule, or the file and the system error.
 *
 * cdisk_build_paths is the same for a command-line tool: partitions by path, the composite
 * at @out_path, its helper files beside it (OUT.img -> OUT-header.img, OUT-footer.img,
 * OUT-zero.img; a name without ".img" just gets the suffixes), every path in the spec
 * absolute (partitions resolved with realpath), no fds kept.
 */
#ifndef AVF_CORE_DISK_CDISK_BUILD_H
#define AVF_CORE_DISK_CDISK_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disk/gpt_guid.h"

struct cdisk_build_part {
	const char *label;           /* UTF-8, <= 36 UTF-16 units, unique, may be "" */
	int fd;                      /* cdisk_build_fds: readable fd of the image */
	const char *path;            /* cdisk_build_paths: the image's path */
	bool writable;               /* Partition.writable: a READ_WRITE component */
	const struct gpt_guid *guid; /* NULL: random v4 */
};

struct cdisk_built {
	int composite_fd; /* O_RDONLY: the VMM's --disk /proc/self/fd/<composite_fd> */
	int header_fd;    /* O_RDWR */
	int footer_fd;    /* O_RDWR */
	int zero_fd;      /* O_RDONLY, or -1 when no component uses the zero filler */
	uint64_t disk_size;
	struct gpt_guid disk_guid;
};

/* File names of composite number @index, in @buf (at least CDISK_BUILD_NAME_MAX bytes). */
#define CDISK_BUILD_NAME_MAX 48
enum cdisk_build_file {
	CDISK_FILE_SPEC,
	CDISK_FILE_HEADER,
	CDISK_FILE_FOOTER,
	CDISK_FILE_ZERO,
};
const char *cdisk_build_name(unsigned index, enum cdisk_build_file which, char *buf);

int cdisk_build_fds(int dir_fd, unsigned index, const struct cdisk_build_part *parts,
		    size_t n_parts, const struct gpt_guid *disk_guid, struct cdisk_built *ret);

/* Close the fds of a cdisk_build_fds result (each set to -1); NULL-safe. */
void cdisk_built_close(struct cdisk_built *b);

int cdisk_build_paths(const char *out_path, const struct cdisk_build_part *parts, size_t n_parts,
		      const struct gpt_guid *disk_guid, struct cdisk_built *ret);

#endif
