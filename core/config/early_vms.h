/* SPDX-License-Identifier: Apache-2.0 */
/*
 * early_vms: the early VM declarations, `{partition}/etc/avf/early_vms*.xml`
 * (research/avf-spec.md 7.1, 7.2), loaded with libxml2 and validated against our
 * own early_vms.xsd.
 *
 * Partitions and their CID ranges (inclusive): system 100-199; system_ext and
 * product 200-299; vendor and odm 300-399. Partition P's files are
 * <root>/<P>/etc/avf/early_vms*.xml (root "" or "/" for the real system, a
 * directory for tests and prototyping).
 *
 * Rules: every file must parse and validate; each entry has a name (non-empty),
 * a cid (int, in P's range), and an absolute path; names are unique within a
 * partition, CIDs unique across all partitions. A problem in any of P's files
 * makes all of P's early VMs unusable (as AVF: "CID validation for P failed"),
 * other partitions are unaffected. Each problem is recorded as
 * "file:line: message".
 *
 * Parsing is hardened: no DTD loading, no entity expansion, no network, files
 * larger than EARLY_VMS_MAX_FILE_BYTES refused before parsing.
 */
#ifndef AVF_CORE_CONFIG_EARLY_VMS_H
#define AVF_CORE_CONFIG_EARLY_VMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EARLY_VMS_MAX_FILE_BYTES (1024 * 1024)

enum early_partition {
	EARLY_PART_SYSTEM,
	EARLY_PART_SYSTEM_EXT,
	EARLY_PART_PRODUCT,
	EARLY_PART_VENDOR,
	EARLY_PART_ODM,
	EARLY_PART_COUNT,
};

struct early_vm_entry {
	enum early_partition partition;
	char *name;
	uint32_t cid;
	char *path; /* absolute, as declared (without the root prefix) */
	char *file; /* the file that declared it (with the root prefix) */
	int line;
};

struct early_vms {
	struct early_vm_entry *vms; /* usable entries only, partition order then file order */
	size_t n;
	/*
	 * Problems, "file:line: message" each (line 0: the file as a whole, e.g. too large);
	 * a partition with any is unusable, and the list ends with one line per unusable
	 * partition: "<P>: early VMs unusable: CID validation for <P> failed".
	 */
	char **problems;
	size_t n_problems;
	bool unusable[EARLY_PART_COUNT];
};

/* "system", "system_ext", "product", "vendor", "odm". */
const char *early_partition_name(enum early_partition p);
/* -EINVAL if @name is not one of the five. */
int early_partition_from_name(const char *name, enum early_partition *ret);
/* The inclusive CID range of @p (an empty one, min > max, if @p is not one of the five). */
void early_partition_cid_range(enum early_partition p, uint32_t *ret_min, uint32_t *ret_max);

/*
 * Load every partition under @root (NULL or "" = "/"), validating against the
 * XSD at @xsd_path (NULL: EARLY_VMS_XSD_DEFAULT, the installed/built copy).
 * Returns 0 with *ret filled even when there are problems (look at
 * ret->problems / ret->unusable); a negative errno only for failures that are not
 * about the files (out of memory, unreadable XSD).
 */
int early_vms_load(const char *root, const char *xsd_path, struct early_vms *ret);
void early_vms_clear(struct early_vms *v);

/*
 * Parse one file's bytes (for tests and the fuzzer): entries are appended to
 * @v for @p without the cross-file checks; problems are recorded under @file.
 * Returns the number of problems found in this buffer (>= 0) or -ENOMEM.
 * @v starts zeroed ({0}); entries with a problem of their own are not appended,
 * and a problem marks @p unusable. Loads the XSD on each call (NULL:
 * EARLY_VMS_XSD_DEFAULT), so an unreadable or invalid XSD is also a negative
 * errno (-ENOENT, -EINVAL, ...), as in early_vms_load.
 */
int early_vms_parse_buffer(struct early_vms *v, enum early_partition p, const char *file,
			   const void *buf, size_t len, const char *xsd_path);

/*
 * The cross-file checks early_vms_load runs once every file is parsed, for
 * callers of early_vms_parse_buffer: names unique within a partition, CIDs
 * unique across partitions (the later declaration, in partition order, is the
 * problem, and only partitions with no other problem take part, so a broken
 * partition cannot make another unusable); then vms[] is put in partition
 * order, the entries of unusable partitions are dropped and each gets its
 * "CID validation for P failed" line. Call it once. 0 or -ENOMEM.
 */
int early_vms_finish(struct early_vms *v);

#endif
