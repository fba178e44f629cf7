/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fakevmm_disk: fakevmm's disks, opened and checked at start-up as crosvm opens them
 * (research/crosvm-spec.md §1.1, §4.9), so that a disk crosvm would refuse makes
 * fakevmm fail the same way: exit 1 (crosvm's "error returned from run") with one
 * line on stderr naming the disk and what is wrong.
 *
 * A disk is the path of a --disk / --rwdisk value (up to its first ','):
 *   - /proc/self/fd/N: the inherited fd N (fakevmm has checked it is open and not
 *     close-on-exec, as crosvm does); any other path is opened, read-only for --disk
 *     and read-write for --rwdisk, as crosvm opens it;
 *   - its first 4096 bytes starting with "composite_disk\x1d" make it a composite
 *     (crosvm's detection order puts composites first); anything else is a raw
 *     image, which crosvm takes as it is.
 * A composite is checked in crosvm's order, with core/disk's reader (which uses
 * crosvm's words where it has them, e.g. "Two disks at offset N"):
 *   1. the spec: magic, protobuf, version <= 2, offsets, length (cdisk_spec.h);
 *   2. every component named /proc/self/fd/M must be an inherited fd: open and not
 *      close-on-exec (crosvm: EBADF; here a number virtmgr forgot to pass on);
 *   3. every component opened and long enough for its extent (cdisk_image.h). crosvm
 *      opens every component too; a short one would fail it only at I/O time: we
 *      fail at once, stricter;
 *   4. the GPT the guest would see (cdisk_gpt_read.h): both headers, their CRCs, the
 *      entry array. crosvm never reads it; the guest kernel does, and a Microdroid
 *      guest finds its partitions by GPT label, so a bad table is a guest that cannot
 *      boot. Checked here so that the failure is visible at start, with its reason.
 * Components are read through fresh read-only opens of their paths (crosvm
 * duplicates the inherited fd instead): the same file, and nothing written.
 */
#ifndef AVF_FAKES_FAKEVMM_FAKEVMM_DISK_H
#define AVF_FAKES_FAKEVMM_FAKEVMM_DISK_H

#include <stddef.h>

/*
 * Check disk number @index (the guest's order) given as @flag (--disk or --rwdisk)
 * with the path @path (@len bytes). 0, or -errno with the reason in avf_err_last()
 * (the message starts with "disk <index>"). Nothing it opens stays open.
 */
int fakevmm_disk_check(size_t index, const char *flag, const char *path, size_t len);

#endif
