/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/config/early_vms: discovery under a temp root, both XML forms, every check and its
 * message (file:line), the hardening (size limit, DOCTYPE/entities, FIFOs, encodings), libxml2's
 * error routing. Corpus: tests/data/early_vms/ (line numbers below are those files' lines).
 */
#include "cmocka_wrap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlversion.h>

#include "base/avf_err.h"
#include "base/fs_util.h"
#include "config/early_vms.h"

#if LIBXML_VERSION >= 21200
typedef const xmlError *xml_error_arg;
#else
typedef xmlErrorPtr xml_error_arg;
#endif

#define DATA EARLY_VMS_TEST_DATA
/* AVF prints system's range 100-199 as Rust's half-open Range */
#define AVAIL_SYSTEM "Available CIDs: 100..200"

static char root[256];

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(root, sizeof(root), "%s/test_early_vms_XXXXXX", tmp);
	assert_non_null(mkdtemp(root));
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(fs_remove_tree(root), 0);
	return 0;
}

/* ---- helpers -------------------------------------------------------------------------------- */

/* "<root>/<part>/etc/avf/<name>" into @buf (PATH_MAX). */
static const char *at(char *buf, const char *part, const char *name)
{
	snprintf(buf, PATH_MAX, "%s/%s/etc/avf/%s", root, part, name);
	return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void put_bytes(const char *part, const char *name, const void *data, size_t len)
{
	char dir[PATH_MAX], path[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/%s/etc/avf", root, part);
	assert_int_equal(fs_mkdir_p(dir, 0755), 0);
	write_file(at(path, part, name), data, len);
}

static void put_text(const char *part, const char *name, const char *text)
{
	put_bytes(part, name, text, strlen(text));
}

static char *read_corpus(const char *corpus, size_t *ret_len)
{
	char path[PATH_MAX];
	char *buf = malloc(64 * 1024);
	FILE *f;

	assert_non_null(buf);
	snprintf(path, sizeof(path), "%s/%s", DATA, corpus);
	f = fopen(path, "re");
	assert_non_null(f);
	*ret_len = fread(buf, 1, 64 * 1024, f);
	assert_true(*ret_len > 0 && *ret_len < 64 * 1024);
	fclose(f);
	return buf;
}

/* Copy tests/data/early_vms/<corpus> to <root>/<part>/etc/avf/<name>. */
static void put(const char *part, const char *name, const char *corpus)
{
	size_t len;
	char *buf = read_corpus(corpus, &len);

	put_bytes(part, name, buf, len);
	free(buf);
}

static void load(struct early_vms *v)
{
	int r = early_vms_load(root, NULL, v);

	if (r < 0)
		fail_msg("early_vms_load: %s", avf_err_last()->msg);
}

static void dump(const struct early_vms *v)
{
	for (size_t i = 0; i < v->n_problems; i++)
		print_message("  problem: %s\n", v->problems[i]);
}

static size_t count_prefix(const struct early_vms *v, const char *prefix)
{
	size_t n = 0;

	for (size_t i = 0; i < v->n_problems; i++)
		n += strncmp(v->problems[i], prefix, strlen(prefix)) == 0;
	return n;
}

/* The exact problem line is present. */
static void has(const struct early_vms *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void has(const struct early_vms *v, const char *fmt, ...)
{
	char want[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < v->n_problems; i++)
		if (strcmp(v->problems[i], want) == 0)
			return;
	dump(v);
	fail_msg("missing problem: %s", want);
}

/* A problem starts with @prefix (our "file:line: who: ") and contains @part (libxml2's text). */
static void has_like(const struct early_vms *v, const char *prefix, const char *part)
{
	for (size_t i = 0; i < v->n_problems; i++)
		if (strncmp(v->problems[i], prefix, strlen(prefix)) == 0 &&
		    strstr(v->problems[i], part))
			return;
	dump(v);
	fail_msg("missing problem: %s...%s...", prefix, part);
}

static const struct early_vm_entry *find(const struct early_vms *v, enum early_partition p,
					 const char *name)
{
	for (size_t i = 0; i < v->n; i++)
		if (v->vms[i].partition == p && strcmp(v->vms[i].name, name) == 0)
			return &v->vms[i];
	return NULL;
}

static void entry_is(const struct early_vm_entry *e, enum early_partition p, const char *name,
		     uint32_t cid, const char *path, const char *file, int line)
{
	assert_non_null(e);
	assert_int_equal(e->partition, p);
	assert_string_equal(e->name, name);
	assert_int_equal(e->cid, cid);
	assert_string_equal(e->path, path);
	assert_string_equal(e->file, file);
	assert_int_equal(e->line, line);
}

/* ---- partitions ----------------------------------------------------------------------------- */

static void test_partitions(void **state)
{
	/* written out from avf-spec 7.3: system 100..200, system_ext/product 200..300, ... */
	static const struct {
		const char *name;
		enum early_partition p;
		uint32_t min, max;
	} want[] = {
		{"system", EARLY_PART_SYSTEM, 100, 199},
		{"system_ext", EARLY_PART_SYSTEM_EXT, 200, 299},
		{"product", EARLY_PART_PRODUCT, 200, 299},
		{"vendor", EARLY_PART_VENDOR, 300, 399},
		{"odm", EARLY_PART_ODM, 300, 399},
	};
	enum early_partition p = EARLY_PART_COUNT;
	uint32_t min, max;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_string_equal(early_partition_name(want[i].p), want[i].name);
		assert_int_equal(early_partition_from_name(want[i].name, &p), 0);
		assert_int_equal(p, want[i].p);
		early_partition_cid_range(want[i].p, &min, &max);
		assert_int_equal(min, want[i].min);
		assert_int_equal(max, want[i].max);
	}
	p = EARLY_PART_ODM;
	assert_int_equal(early_partition_from_name("data", &p), -EINVAL);
	assert_string_equal(avf_err_last()->msg, "unknown partition 'data'");
	assert_int_equal(early_partition_from_name("System", &p), -EINVAL);
	assert_int_equal(early_partition_from_name(NULL, &p), -EINVAL);
	assert_int_equal(p, EARLY_PART_ODM); /* untouched on failure */
	early_partition_cid_range(EARLY_PART_COUNT, &min, &max);
	assert_true(min > max);
}

/* ---- good files ----------------------------------------------------------------------------- */

static void test_no_files(void **state)
{
	struct early_vms v;
	char f[PATH_MAX];

	/* a partition without etc/avf, one with an empty etc/avf, one with non-matching names */
	put_text("vendor", "early_vms.xml.bak", "not xml");
	put_text("vendor", "my_early_vms.xml", "not xml");
	put_text("vendor", "early_vms.XML", "not xml");
	put_text("vendor", "early_vms.json", "not xml");
	assert_int_equal(fs_mkdir_p(at(f, "odm", ""), 0755), 0);
	load(&v);
	assert_int_equal(v.n, 0);
	assert_int_equal(v.n_problems, 0);
	for (int p = 0; p < EARLY_PART_COUNT; p++)
		assert_false(v.unusable[p]);
	early_vms_clear(&v);
	assert_null(v.vms);
	assert_null(v.problems);
}

static void test_attribute_form(void **state)
{
	struct early_vms v;
	char f[PATH_MAX];

	put("system", "early_vms.xml", "attrs.xml");
	load(&v);
	dump(&v);
	assert_int_equal(v.n_problems, 0);
	assert_int_equal(v.n, 2);
	at(f, "system", "early_vms.xml");
	entry_is(&v.vms[0], EARLY_PART_SYSTEM, "vm_attr_a", 100, "/system/bin/vm_attr_a", f, 4);
	entry_is(&v.vms[1], EARLY_PART_SYSTEM, "vm_attr_b", 199, "/system/bin/vm_attr_b", f, 5);
	early_vms_clear(&v);
}

static void test_element_form(void **state)
{
	struct early_vms v;
	char f[PATH_MAX];

	/* AVF's documentation example; whitespace around values trimmed, CDATA read, +/0 in cid */
	put("system", "early_vms.xml", "elements.xml");
	put("system", "early_vms_mixed.xml", "mixed_entry.xml");
	put("system", "early_vms_empty.xml", "empty.xml");
	load(&v);
	dump(&v);
	assert_int_equal(v.n_problems, 0);
	assert_int_equal(v.n, 3);
	at(f, "system", "early_vms.xml");
	entry_is(&v.vms[0], EARLY_PART_SYSTEM, "vm_demo_native_early", 123,
		 "/system/bin/vm_demo_native_early", f, 4);
	entry_is(&v.vms[1], EARLY_PART_SYSTEM, "vm_elem_b", 150, "/system/bin/vm_elem_b", f, 9);
	at(f, "system", "early_vms_mixed.xml");
	entry_is(&v.vms[2], EARLY_PART_SYSTEM, "vm_mixed", 160, "/system/bin/vm_mixed", f, 3);
	early_vms_clear(&v);
}

static void test_merged_in_order(void **state)
{
	struct early_vms v;
	char f[PATH_MAX];
	static const char *const order[] = {"vm_attr_a", "vm_attr_b", "vm_mixed",
					    "vm_demo_native_early", "vm_elem_b", "vm_vendor",
					    "vm_attr_a"};

	/* files in name order ('.' < '_'), partitions in partition order, whatever came first */
	put("vendor", "early_vms.xml", "vendor.xml");
	put("system", "early_vms_b.xml", "elements.xml");
	put("system", "early_vms_a.xml", "mixed_entry.xml");
	put("system", "early_vms.xml", "attrs.xml");
	/* the same name in another partition is fine */
	load(&v);
	dump(&v);
	assert_int_equal(v.n_problems, 0);
	assert_int_equal(v.n, 7);
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(v.vms[i].name, order[i]);
	entry_is(&v.vms[6], EARLY_PART_VENDOR, "vm_attr_a", 399, "/vendor/bin/vm_attr_a",
		 at(f, "vendor", "early_vms.xml"), 3);
	entry_is(find(&v, EARLY_PART_SYSTEM, "vm_mixed"), EARLY_PART_SYSTEM, "vm_mixed", 160,
		 "/system/bin/vm_mixed", at(f, "system", "early_vms_a.xml"), 3);
	early_vms_clear(&v);
}

static void test_root_spelling(void **state)
{
	struct early_vms v, w;
	char slashed[300];

	put("system", "early_vms.xml", "attrs.xml");
	snprintf(slashed, sizeof(slashed), "%s//", root);
	assert_int_equal(early_vms_load(slashed, NULL, &w), 0);
	load(&v);
	assert_int_equal(w.n, 2);
	assert_string_equal(w.vms[0].file, v.vms[0].file);
	early_vms_clear(&v);
	early_vms_clear(&w);
	/* the real root: whatever this machine has, it loads */
	assert_int_equal(early_vms_load(NULL, NULL, &v), 0);
	early_vms_clear(&v);
}

/* ---- bad files ------------------------------------------------------------------------------ */

static void test_malformed(void **state)
{
	struct early_vms v;
	char f[PATH_MAX], pre[PATH_MAX + 32];

	put("system", "early_vms.xml", "attrs.xml");
	put("system", "early_vms_bad.xml", "malformed.xml");
	load(&v);
	at(f, "system", "early_vms_bad.xml");
	snprintf(pre, sizeof(pre), "%s:3: XML: ", f);
	has_like(&v, pre, "tag mismatch");
	has(&v, "system: early VMs unusable: CID validation for system failed");
	/* one bad file: none of the partition's VMs, the good file's neither */
	assert_true(v.unusable[EARLY_PART_SYSTEM]);
	assert_int_equal(v.n, 0);
	early_vms_clear(&v);
}

static void test_wrong_root(void **state)
{
	struct early_vms v;
	char f[PATH_MAX], pre[PATH_MAX + 32];

	put("system", "early_vms.xml", "wrong_root.xml");
	put("product", "early_vms.xml", "namespaced.xml");
	load(&v);
	at(f, "system", "early_vms.xml");
	has(&v, "%s:2: root element is 'vms', expected 'early_vms'", f);
	snprintf(pre, sizeof(pre), "%s:2: schema: ", f);
	has_like(&v, pre, "'vms'");
	at(f, "product", "early_vms.xml");
	has(&v, "%s:1: root element is 'early_vms' (in a namespace), expected 'early_vms'", f);
	assert_true(v.unusable[EARLY_PART_SYSTEM]);
	assert_true(v.unusable[EARLY_PART_PRODUCT]);
	has(&v, "product: early VMs unusable: CID validation for product failed");
	assert_int_equal(v.n, 0);
	early_vms_clear(&v);
}

static void test_missing_fields(void **state)
{
	struct early_vms v;
	char f[PATH_MAX], pre[PATH_MAX + 32];

	put("system", "early_vms.xml", "missing_fields.xml");
	load(&v);
	at(f, "system", "early_vms.xml");
	has(&v, "%s:2: VM 'vm_no_cid': missing 'cid' (attribute or child element)", f);
	has(&v, "%s:3: early_vm: missing 'name' (attribute or child element)", f);
	has(&v, "%s:4: VM 'vm_no_path': missing 'path' (attribute or child element)", f);
	has(&v, "%s:8: early_vm: 'name' is empty", f);
	/* the schema says so too, through its keys */
	snprintf(pre, sizeof(pre), "%s:2: schema: ", f);
	has_like(&v, pre, "'early_vm.cid'");
	assert_int_equal(v.n, 0);
	early_vms_clear(&v);
}

static void test_both_forms_for_one_field(void **state)
{
	struct early_vms v;
	char f[PATH_MAX];

	put("system", "early_vms.xml", "both_forms.xml");
	load(&v);
	at(f, "system", "early_vms.xml");
	has(&v, "%s:2: VM 'vm_both': 'cid' given both as attribute and as child element", f);
	assert_int_equal(v.n, 0);
	early_vms_clear(&v);

	/* the same element twice */
	put_text("system", "early_vms.xml",
		 "<early_vms>\n<early_vm name=\"a\" path=\"/x\">\n<cid>100</cid>\n<cid>101</cid>\n"
		 "</early_vm>\n</early_vms>\n");
	load(&v);
	has(&v, "%s:4: VM 'a': more than one 'cid' element", f);
	assert_int_equal(v.n, 0);
	early_vms_clear(&v);
}

static void test_cid_values(void **state)
{
	struct early_vms v;
	char f[PATH_MAX];

	put("system", "early_vms.xml", "cid_bad.xml");
	load(&v);
	at(f, "system", "early_vms.xml");
	has(&v, "%s:2: VM 'vm_nan' uses Invalid CID '12a': not an integer. %s", f, AVAIL_SYSTEM);
	has(&v, "%s:5: VM 'vm_negative' uses Invalid CID -1. %s", f, AVAIL_SYSTEM);
	has(&v, "%s:8: VM 'vm_high' uses CID 200 which is out of range. %s", f, AVAIL_SYSTEM);
	has(&v, "%s:9: VM 'vm_low' uses CID 99 which is out of range. %s", f, AVAIL_SYSTEM);
	has(&v, "%s:10: VM 'vm_huge' uses Invalid CID 99999999999: not a 32-bit integer. %s", f,
	    AVAIL_SYSTEM);
	has(&v, "system: early VMs unusable: CID validation for system failed");
	assert_int_equal(v.n, 0);
	early_vms_clear(&v);

	/* the range is the file's partition's: 199 is fine in system, not in vendor */
	put("vendor", "early_vms.xml", "attrs.xml");
	assert_int_equal(unlink(f), 0);
	load(&v);
	at(f, "vendor", "early_vms.xml");
	has(&v, "%s:4: VM 'vm_attr_a' uses CID 100 which is out of range. Available CIDs: 300..400",
	    f);
	has(&v, "vendor: early VMs unusable: CID validation for vendor failed");
	assert_int_equal(v.n, 0);
	early_vms_clear(&v);
}

static void test_relative_path(void **state)
{
	struct early_vms v;
	char f[PATH_MAX];

	put("system", "early_vms.xml", "relative_path.xml");
	load(&v);
	has(&v, "%s:2: VM 'vm_relative': path 'bin/vm_relative' is not absolute",
	    at(f, "system", "early_vms.xml"));
	assert_int_equal(v.n, 0);
	early_vms_clear(&v);
}

static void test_schema_only_problem(void **state)
{
	struct early_vms v;
	char f[PATH_MAX], pre[PATH_MAX + 32];

	/* our checks find nothing wrong: the schema alone makes the partition unusable */
	put("system", "early_vms.xml", "unknown_element.xml");
	load(&v);
	snprintf(pre, sizeof(pre), "%s:3: schema: ", at(f, "system", "early_vms.xml"));
	has_like(&v, pre, "'early_vm_extra'");
	assert_int_equal(v.n_problems, 2);
	assert_true(v.unusable[EARLY_PART_SYSTEM]);
	assert_int_equal(v.n, 0);
	early_vms_clear(&v);
}

static void test_duplicate_names(void **state)
{
	struct early_vms v;
	char f1[PATH_MAX], f2[PATH_MAX], pre[PATH_MAX + 32];

	put("system", "early_vms_1.xml", "dup_name_1.xml");
	put("system", "early_vms_2.xml", "dup_name_2.xml");
	/* the same name in another partition is fine */
	put_text("odm", "early_vms.xml",
		 "<early_vms><early_vm name='vm_dup' cid='310' path='/odm/bin/d'/></early_vms>");
	load(&v);
	has(&v, "%s:3: Multiple VMs named 'vm_dup' are found (the first at %s:2)",
	    at(f2, "system", "early_vms_2.xml"), at(f1, "system", "early_vms_1.xml"));
	assert_true(v.unusable[EARLY_PART_SYSTEM]);
	assert_false(v.unusable[EARLY_PART_ODM]);
	assert_int_equal(v.n, 1);
	assert_non_null(find(&v, EARLY_PART_ODM, "vm_dup"));
	early_vms_clear(&v);

	/* within one file: the schema's key and our check both say so */
	put_text("odm", "early_vms.xml",
		 "<early_vms>\n<early_vm name='x' cid='310' path='/a'/>\n"
		 "<early_vm name='x' cid='311' path='/a'/>\n</early_vms>\n");
	load(&v);
	at(f1, "odm", "early_vms.xml");
	has(&v, "%s:3: Multiple VMs named 'x' are found (the first at %s:2)", f1, f1);
	snprintf(pre, sizeof(pre), "%s:3: schema: ", f1);
	has_like(&v, pre, "'early_vm.name'");
	assert_true(v.unusable[EARLY_PART_ODM]);
	early_vms_clear(&v);
}

static void test_duplicate_cids(void **state)
{
	struct early_vms v;
	char f1[PATH_MAX], f2[PATH_MAX];

	/* across partitions: the later partition (product) loses, system_ext keeps its VM */
	put("system_ext", "early_vms.xml", "cid_250_a.xml");
	put("product", "early_vms.xml", "cid_250_b.xml");
	load(&v);
	has(&v, "%s:3: VM 'vm_250_b' uses CID 250, already used by VM 'vm_250_a' at %s:2",
	    at(f2, "product", "early_vms.xml"), at(f1, "system_ext", "early_vms.xml"));
	has(&v, "product: early VMs unusable: CID validation for product failed");
	assert_int_equal(v.n_problems, 2);
	assert_false(v.unusable[EARLY_PART_SYSTEM_EXT]);
	assert_true(v.unusable[EARLY_PART_PRODUCT]);
	assert_int_equal(v.n, 1);
	assert_string_equal(v.vms[0].name, "vm_250_a");
	early_vms_clear(&v);

	/* across files of one partition */
	put("system", "early_vms.xml", "attrs.xml");
	put_text("system", "early_vms_z.xml",
		 "<early_vms><early_vm name='vm_c' cid='0199' path='/c'/></early_vms>");
	load(&v);
	has(&v, "%s:1: VM 'vm_c' uses CID 199, already used by VM 'vm_attr_b' at %s:5",
	    at(f2, "system", "early_vms_z.xml"), at(f1, "system", "early_vms.xml"));
	assert_true(v.unusable[EARLY_PART_SYSTEM]);
	assert_int_equal(v.n, 1); /* system_ext's; product still loses to it */
	early_vms_clear(&v);
}

static void test_broken_partition_harms_no_other(void **state)
{
	struct early_vms v;

	/* system_ext is broken: its CID 250 claims nothing, so product's 250 stands */
	put("system_ext", "early_vms.xml", "cid_250_a.xml");
	put("system_ext", "early_vms_bad.xml", "malformed.xml");
	put("product", "early_vms.xml", "cid_250_b.xml");
	put("vendor", "early_vms.xml", "vendor.xml");
	load(&v);
	assert_true(v.unusable[EARLY_PART_SYSTEM_EXT]);
	assert_false(v.unusable[EARLY_PART_PRODUCT]);
	assert_false(v.unusable[EARLY_PART_VENDOR]);
	assert_int_equal(count_prefix(&v, "product"), 0);
	assert_int_equal(count_prefix(&v, "vendor"), 0);
	assert_int_equal(count_prefix(&v, "system_ext: "), 1);
	assert_int_equal(v.n, 4);
	assert_non_null(find(&v, EARLY_PART_PRODUCT, "vm_250_b"));
	assert_non_null(find(&v, EARLY_PART_VENDOR, "vm_vendor"));
	assert_null(find(&v, EARLY_PART_SYSTEM_EXT, "vm_250_a"));
	early_vms_clear(&v);
}

static void test_not_a_regular_file(void **state)
{
	struct early_vms v;
	char f[PATH_MAX], d[PATH_MAX];

	put("system", "early_vms.xml", "attrs.xml");
	/* a FIFO must not block the open (O_NONBLOCK), a directory is no file either */
	assert_int_equal(mkfifo(at(f, "system", "early_vms_fifo.xml"), 0644), 0);
	assert_int_equal(fs_mkdir_p(at(d, "vendor", "early_vms_dir.xml"), 0755), 0);
	load(&v);
	has(&v, "%s:0: not a regular file", f);
	has(&v, "%s:0: not a regular file", d);
	assert_true(v.unusable[EARLY_PART_SYSTEM]);
	assert_true(v.unusable[EARLY_PART_VENDOR]);
	early_vms_clear(&v);
}

static void test_unlistable_directory(void **state)
{
	struct early_vms v;
	char d[PATH_MAX], link[PATH_MAX];

	/* etc/avf is a symlink loop: we cannot tell what system declares, so it is unusable */
	snprintf(d, sizeof(d), "%s/system/etc", root);
	assert_int_equal(fs_mkdir_p(d, 0755), 0);
	snprintf(link, sizeof(link), "%s/avf", d);
	assert_int_equal(symlink("avf", link), 0);
	load(&v);
	has(&v, "%s:0: can't list: %s", link, strerror(ELOOP));
	assert_true(v.unusable[EARLY_PART_SYSTEM]);
	early_vms_clear(&v);
}

/* ---- hardening ------------------------------------------------------------------------------ */

/* "<early_vms>" + spaces + "</early_vms>", @len bytes: valid at any size. */
static char *padded_doc(size_t len)
{
	static const char head[] = "<early_vms>", tail[] = "</early_vms>";
	char *buf = malloc(len);

	assert_non_null(buf);
	memset(buf, ' ', len);
	memcpy(buf, head, strlen(head));
	memcpy(buf + len - strlen(tail), tail, strlen(tail));
	return buf;
}

static void test_size_limit(void **state)
{
	struct early_vms v, w = {0};
	char f[PATH_MAX];
	char *at_limit = padded_doc(EARLY_VMS_MAX_FILE_BYTES);
	char *over = padded_doc(EARLY_VMS_MAX_FILE_BYTES + 1);

	/* exactly the limit: read and parsed */
	put_bytes("system", "early_vms.xml", at_limit, EARLY_VMS_MAX_FILE_BYTES);
	load(&v);
	dump(&v);
	assert_int_equal(v.n_problems, 0);
	early_vms_clear(&v);

	/* one byte more, still valid XML: refused on its size alone, before parsing */
	put_bytes("system", "early_vms.xml", over, EARLY_VMS_MAX_FILE_BYTES + 1);
	load(&v);
	has(&v, "%s:0: 1048577 bytes, over the 1048576-byte limit for early VM files",
	    at(f, "system", "early_vms.xml"));
	assert_int_equal(v.n_problems, 2);
	early_vms_clear(&v);

	assert_int_equal(early_vms_parse_buffer(&w, EARLY_PART_SYSTEM, "big.xml", over,
						EARLY_VMS_MAX_FILE_BYTES + 1, NULL),
			 1);
	has(&w, "big.xml:0: 1048577 bytes, over the 1048576-byte limit for early VM files");
	assert_true(w.unusable[EARLY_PART_SYSTEM]);
	early_vms_clear(&w);
	free(at_limit);
	free(over);
}

static void test_billion_laughs(void **state)
{
	struct early_vms v, w = {0};
	char f[PATH_MAX];
	size_t len;
	char *laughs = read_corpus("billion_laughs.xml", &len);

	/*
	 * 10^13 "lol"s if expanded. The parser must stop at the DOCTYPE itself: the one problem
	 * is ours, with no libxml2 entity or amplification error after it, and no entry.
	 */
	put("system", "early_vms.xml", "billion_laughs.xml");
	put("vendor", "early_vms.xml", "vendor.xml");
	load(&v);
	at(f, "system", "early_vms.xml");
	assert_int_equal(count_prefix(&v, f), 1);
	has(&v, "%s:2: XML: DOCTYPE declarations are not allowed in early VM files", f);
	has(&v, "system: early VMs unusable: CID validation for system failed");
	assert_int_equal(v.n_problems, 2);
	assert_int_equal(v.n, 2); /* vendor's */
	early_vms_clear(&v);

	assert_int_equal(
		early_vms_parse_buffer(&w, EARLY_PART_SYSTEM, "lol.xml", laughs, len, NULL), 1);
	assert_int_equal(w.n, 0);
	early_vms_clear(&w);
	free(laughs);
}

static void test_external_entities(void **state)
{
	struct early_vms v = {0};
	char f[PATH_MAX];
	static const char xxe[] = "<?xml version='1.0'?>\n"
				  "<!DOCTYPE early_vms [\n"
				  "<!ENTITY xxe SYSTEM 'file:///etc/passwd'> ]>\n"
				  "<early_vms><early_vm name='&xxe;' cid='100' path='/x'/>"
				  "</early_vms>\n";
	static const char bare[] = "<!DOCTYPE early_vms>\n<early_vms/>\n";
	static const char undeclared[] = "<early_vms>\n<early_vm name='&lol;' cid='100' path='/x'/>"
					 "\n</early_vms>\n";

	/* an external DTD by URL: refused at the DOCTYPE, nothing fetched */
	put("system", "early_vms.xml", "xxe.xml");
	load(&v);
	has(&v, "%s:2: XML: DOCTYPE declarations are not allowed in early VM files",
	    at(f, "system", "early_vms.xml"));
	assert_int_equal(v.n_problems, 2);
	early_vms_clear(&v);

	assert_int_equal(early_vms_parse_buffer(&v, EARLY_PART_SYSTEM, "a.xml", xxe, strlen(xxe),
						NULL),
			 1);
	has(&v, "a.xml:2: XML: DOCTYPE declarations are not allowed in early VM files");
	/* even an empty DOCTYPE: our files have no use for one */
	assert_int_equal(early_vms_parse_buffer(&v, EARLY_PART_SYSTEM, "b.xml", bare, strlen(bare),
						NULL),
			 1);
	has(&v, "b.xml:1: XML: DOCTYPE declarations are not allowed in early VM files");
	/* an entity reference with no DOCTYPE is just an XML error */
	assert_true(early_vms_parse_buffer(&v, EARLY_PART_SYSTEM, "c.xml", undeclared,
					   strlen(undeclared), NULL) >= 1);
	has_like(&v, "c.xml:2: XML: ", "lol");
	assert_int_equal(v.n, 0);
	early_vms_clear(&v);
}

static void test_encodings(void **state)
{
	struct early_vms v = {0};
	/* the declared encoding is ignored: bytes are UTF-8, as AVF reads them */
	static const char latin1[] = "<?xml version='1.0' encoding='ISO-8859-1'?>\n"
				     "<early_vms><early_vm name='caf\xe9' cid='100' path='/x'/>"
				     "</early_vms>\n";
	static const char utf8[] = "<?xml version='1.0' encoding='ISO-8859-1'?>\n"
				   "<early_vms><early_vm name='caf\xc3\xa9' cid='100' path='/x'/>"
				   "</early_vms>\n";
	static const char utf16[] = "\xff\xfe<\0e\0/\0>\0";
	static const char nul[] = "<early_vms>\0</early_vms>";

	assert_true(early_vms_parse_buffer(&v, EARLY_PART_SYSTEM, "l.xml", latin1, strlen(latin1),
					   NULL) >= 1);
	has_like(&v, "l.xml:2: XML: ", "UTF-8");
	assert_true(early_vms_parse_buffer(&v, EARLY_PART_SYSTEM, "w.xml", utf16,
					   sizeof(utf16) - 1, NULL) >= 1);
	has_like(&v, "w.xml:1: XML: ", "");
	assert_true(early_vms_parse_buffer(&v, EARLY_PART_SYSTEM, "n.xml", nul, sizeof(nul) - 1,
					   NULL) >= 1);
	has_like(&v, "n.xml:1: XML: ", "");
	early_vms_clear(&v);
	assert_int_equal(early_vms_parse_buffer(&v, EARLY_PART_SYSTEM, "u.xml", utf8, strlen(utf8),
						NULL),
			 0);
	assert_int_equal(v.n, 1);
	assert_string_equal(v.vms[0].name, "caf\xc3\xa9");
	/* empty input */
	assert_int_equal(early_vms_parse_buffer(&v, EARLY_PART_ODM, "e.xml", NULL, 0, NULL), 1);
	has_like(&v, "e.xml:", ": XML: ");
	early_vms_clear(&v);
}

static int user_errors;

static void user_handler(void *ctx, xml_error_arg e)
{
	user_errors++;
}

static void test_libxml2_never_prints(void **state)
{
	struct early_vms v;
	char out[PATH_MAX];
	struct stat st;
	int marker, saved, fd;
	xmlDocPtr doc;

	put("system", "early_vms.xml", "malformed.xml");
	put("system_ext", "early_vms.xml", "billion_laughs.xml");
	put("product", "early_vms.xml", "cid_bad.xml");
	put("vendor", "early_vms.xml", "unknown_element.xml");

	/* stderr goes to a file while we load: nothing may land there */
	snprintf(out, sizeof(out), "%s/stderr", root);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	saved = fcntl(2, F_DUPFD_CLOEXEC, 10);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	/* and the caller's own libxml2 handler is neither called nor replaced */
	xmlSetStructuredErrorFunc(&marker, user_handler);
	load(&v);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	close(fd);
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_true(v.n_problems > 8);
	early_vms_clear(&v);

	assert_int_equal(user_errors, 0);
	assert_ptr_equal(xmlStructuredErrorContext, &marker);
	doc = xmlReadMemory("<a>", 3, "x.xml", NULL, XML_PARSE_NONET);
	assert_null(doc);
	assert_true(user_errors > 0);
	xmlSetStructuredErrorFunc(NULL, NULL);
}

static void test_problem_cap(void **state)
{
	struct early_vms v = {0};
	char *buf = malloc(64 * 1024);
	size_t len = 0;

	/* 40 entries, each with a relative path: 32 listed, then one line saying there are more */
	assert_non_null(buf);
	len += (size_t)sprintf(buf + len, "<early_vms>\n");
	for (int i = 0; i < 40; i++)
		len += (size_t)sprintf(buf + len, "<early_vm name='v%d' cid='%d' path='rel'/>\n", i,
				       100 + i);
	len += (size_t)sprintf(buf + len, "</early_vms>\n");
	assert_int_equal(early_vms_parse_buffer(&v, EARLY_PART_SYSTEM, "many.xml", buf, len, NULL),
			 40);
	assert_int_equal(v.n_problems, 33);
	has(&v, "many.xml:2: VM 'v0': path 'rel' is not absolute");
	has(&v, "many.xml:33: VM 'v31': path 'rel' is not absolute");
	has(&v, "many.xml:34: more problems from here on, not listed");
	early_vms_clear(&v);
	free(buf);
}

static void test_quoting(void **state)
{
	struct early_vms v = {0};
	char want[512];
	char long_name[300];
	static const char ctl[] = "<early_vms><early_vm name='a&#10;b' cid='100' path='x&#9;y'/>"
				  "</early_vms>";
	char doc[600];

	/* a value with a newline stays on one line; a long one is cut */
	assert_int_equal(early_vms_parse_buffer(&v, EARLY_PART_SYSTEM, "q.xml", ctl, strlen(ctl),
						NULL),
			 1);
	has(&v, "q.xml:1: VM 'a?b': path 'x?y' is not absolute");
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	snprintf(doc, sizeof(doc), "<early_vms><early_vm name='%s' cid='1' path='/p'/></early_vms>",
		 long_name);
	assert_int_equal(early_vms_parse_buffer(&v, EARLY_PART_SYSTEM, "l.xml", doc, strlen(doc),
						NULL),
			 1);
	snprintf(want, sizeof(want), "l.xml:1: VM '%.96s...' uses CID 1 which is out of range. %s",
		 long_name, AVAIL_SYSTEM);
	has(&v, "%s", want);
	early_vms_clear(&v);
}

/* ---- the API around parse_buffer ------------------------------------------------------------ */

static void test_parse_buffer_and_finish(void **state)
{
	struct early_vms v = {0};
	static const char vendor[] = "<early_vms><early_vm name='v' cid='300' path='/v'/>"
				     "</early_vms>";
	static const char sys[] = "<early_vms>\n<early_vm name='s' cid='100' path='/s'/>\n"
				  "<early_vm name='t' cid='150' path='t'/>\n</early_vms>";
	static const char sys2[] = "<early_vms><early_vm name='u' cid='101' path='/u'/>"
				   "</early_vms>";

	/* parsed in any order; finish puts vms[] in partition order */
	assert_int_equal(early_vms_parse_buffer(&v, EARLY_PART_VENDOR, "v.xml", vendor,
						strlen(vendor), NULL),
			 0);
	assert_int_equal(early_vms_parse_buffer(&v, EARLY_PART_ODM, "o.xml", sys2, strlen(sys2),
						NULL),
			 1);
	assert_int_equal(early_vms_parse_buffer(&v, EARLY_PART_SYSTEM_EXT, "s.xml", sys2,
						strlen(sys2), NULL),
			 1);
	assert_int_equal(early_vms_parse_buffer(&v, EARLY_PART_SYSTEM, "s.xml", sys, strlen(sys),
						NULL),
			 1);
	/* entries with a problem are not appended; the others are, until finish */
	assert_int_equal(v.n, 2);
	assert_true(v.unusable[EARLY_PART_SYSTEM]);
	assert_int_equal(early_vms_finish(&v), 0);
	assert_int_equal(v.n, 1);
	assert_string_equal(v.vms[0].name, "v");
	has(&v, "s.xml:3: VM 't': path 't' is not absolute");
	has(&v, "system: early VMs unusable: CID validation for system failed");
	has(&v, "system_ext: early VMs unusable: CID validation for system_ext failed");
	has(&v, "odm: early VMs unusable: CID validation for odm failed");
	assert_int_equal(v.n_problems, 6);
	early_vms_clear(&v);

	/* order fixed by finish */
	assert_int_equal(early_vms_parse_buffer(&v, EARLY_PART_VENDOR, "v.xml", vendor,
						strlen(vendor), NULL),
			 0);
	assert_int_equal(early_vms_parse_buffer(&v, EARLY_PART_SYSTEM, "u.xml", sys2, strlen(sys2),
						NULL),
			 0);
	assert_int_equal(early_vms_finish(&v), 0);
	assert_int_equal(v.n, 2);
	assert_string_equal(v.vms[0].name, "u");
	assert_string_equal(v.vms[1].name, "v");
	early_vms_clear(&v);

	assert_int_equal(early_vms_parse_buffer(&v, EARLY_PART_COUNT, "x.xml", "", 0, NULL),
			 -EINVAL);
	early_vms_clear(NULL);
}

static void test_bad_xsd(void **state)
{
	struct early_vms v = {.n = 12345};
	char xsd[PATH_MAX];

	snprintf(xsd, sizeof(xsd), "%s/none.xsd", root);
	put("system", "early_vms.xml", "attrs.xml");
	assert_int_equal(early_vms_load(root, xsd, &v), -ENOENT);
	assert_int_equal(v.n, 12345); /* untouched */
	assert_true(strstr(avf_err_last()->msg, "can't read early VMs schema '") != NULL);
	assert_int_equal(early_vms_parse_buffer(&v, EARLY_PART_SYSTEM, "a", "", 0, xsd), -ENOENT);

	/* not XML, and XML that is no schema */
	snprintf(xsd, sizeof(xsd), "%s/bad.xsd", root);
	write_file(xsd, "<xs:schema", 10);
	assert_int_equal(early_vms_load(root, xsd, &v), -EINVAL);
	assert_true(strncmp(avf_err_last()->msg, "invalid early VMs schema: ", 26) == 0);
	write_file(xsd, "<foo/>", 6);
	assert_int_equal(early_vms_load(root, xsd, &v), -EINVAL);
	assert_int_equal(v.n, 12345);

	/* the default: the copy in the source tree (EARLY_VMS_XSD_DEFAULT) */
	assert_int_equal(early_vms_load(root, EARLY_VMS_XSD_DEFAULT, &v), 0);
	assert_int_equal(v.n, 2);
	early_vms_clear(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_partitions),
		cmocka_unit_test_setup_teardown(test_no_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attribute_form, setup, teardown),
		cmocka_unit_test_setup_teardown(test_element_form, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merged_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_spelling, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_both_forms_for_one_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cid_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_only_problem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_cids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_partition_harms_no_other, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_not_a_regular_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlistable_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_billion_laughs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_external_entities, setup, teardown),
		cmocka_unit_test(test_encodings),
		cmocka_unit_test_setup_teardown(test_libxml2_never_prints, setup, teardown),
		cmocka_unit_test(test_problem_cap),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_parse_buffer_and_finish),
		cmocka_unit_test_setup_teardown(test_bad_xsd, setup, teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	/* libxml2's global state, freed once nothing can use it again: valgrind sees no leak */
	xmlCleanupParser();
	return failed;
}
