/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/config/vm_config_json: every field of a full config, the three example configs under
 * scenarios/configs, every rule (serde's, VmConfig::validate(), to_parcelable(), virtmgr's and
 * crosvm's) with its exact message, SemVer requirements against 1.0.0, syntax errors with
 * line:column, unreadable files, unknown keys, and the mapping to struct vm_config.
 * Corpus: tests/data/vm_config/. Expected messages and positions are written out by hand.
 */
#include "cmocka_wrap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "config/vm_config.h"
#include "config/vm_config_json.h"

#define DATA     VM_CONFIG_JSON_TEST_DATA
#define EXAMPLES VM_CONFIG_JSON_EXAMPLES

/* A config that passes, to put one field next to. */
#define OK_FIELDS "'kernel': 'k', 'platform_version': '~1.0'"

/* ---- helpers -------------------------------------------------------------------------------- */

/* JSON written with ' for " (no test string needs a real '), in a static buffer. */
static const char *sq(const char *s)
{
	static char buf[8192];
	size_t n = strlen(s);

	assert_true(n < sizeof(buf));
	for (size_t i = 0; i <= n; i++)
		buf[i] = s[i] == '\'' ? '"' : s[i];
	return buf;
}

static struct vm_config_json *parse_ok_len(const char *json, size_t len)
{
	struct vm_config_json *c = NULL;

	if (vm_config_json_parse(json, len, "vm.json", &c) < 0)
		fail_msg("parse failed: %s\n  input: %s", avf_err_last()->msg, json);
	assert_non_null(c);
	return c;
}

static struct vm_config_json *parse_ok(const char *json)
{
	return parse_ok_len(json, strlen(json));
}

/* Parsing @len bytes fails with -EINVAL, EX_ILLEGAL_ARGUMENT, exactly @msg; *ret untouched. */
static void fails_len(const char *json, size_t len, const char *msg)
{
	struct vm_config_json *sentinel = (struct vm_config_json *)&sentinel, *c = sentinel;
	int r;

	avf_err_clear();
	r = vm_config_json_parse(json, len, "vm.json", &c);
	if (r != -EINVAL)
		fail_msg("got %d (%s), want -EINVAL\n  input: %s", r, avf_err_last()->msg, json);
	assert_ptr_equal(c, sentinel);
	assert_int_equal(avf_err_last()->err, -EINVAL);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_ARGUMENT);
	if (strcmp(avf_err_last()->msg, msg) != 0)
		fail_msg("message\n  got:  %s\n  want: %s\n  input: %s", avf_err_last()->msg, msg,
			 json);
}

static void fails(const char *json, const char *msg)
{
	fails_len(json, strlen(json), msg);
}

static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf = malloc(64 * 1024);

	assert_non_null(f);
	assert_non_null(buf);
	*ret_len = fread(buf, 1, 64 * 1024, f);
	assert_true(*ret_len > 0 && *ret_len < 64 * 1024);
	fclose(f);
	return buf;
}

/* ---- valid configs -------------------------------------------------------------------------- */

static void test_full_config_every_field(void **state)
{
	struct vm_config_json *c = NULL;
	const struct vm_config_json_disk *d;

	assert_int_equal(vm_config_json_load(DATA "/full.json", &c), 0);
	assert_string_equal(c->name, "full");
	assert_string_equal(c->kernel, "/apex/com.android.virt/etc/kernel");
	assert_string_equal(c->initrd, "initrd.img"); /* relative: kept as written */
	assert_string_equal(c->params, "console=ttyS0 panic=-1");
	assert_null(c->bootloader);
	assert_int_equal(c->n_disks, 2);
	d = &c->disks[0];
	assert_string_equal(d->image, "/data/local/tmp/os.img");
	assert_true(d->writable);
	assert_int_equal(d->n_partitions, 0);
	assert_null(d->partitions);
	d = &c->disks[1];
	assert_null(d->image);
	assert_false(d->writable);
	assert_int_equal(d->n_partitions, 3);
	assert_string_equal(d->partitions[0].label, "vbmeta");
	assert_string_equal(d->partitions[0].path, "vbmeta.img");
	assert_false(d->partitions[0].writable); /* default */
	assert_string_equal(d->partitions[1].label, "root");
	assert_string_equal(d->partitions[1].path, "/dev/block/by-name/root");
	assert_true(d->partitions[1].writable);
	assert_string_equal(d->partitions[2].label, "extra");
	assert_string_equal(d->partitions[2].path, "extra.img");
	assert_false(d->partitions[2].writable);
	assert_false(c->protected_vm);
	assert_int_equal(c->memory_mib, 2048);
	assert_int_equal(c->cpu_topology, VM_CONFIG_JSON_MATCH_HOST);
	assert_string_equal(c->platform_version, ">=1.0, <2");
	assert_int_equal(c->n_devices, 2);
	assert_string_equal(c->devices[0], "/sys/bus/platform/devices/16d00000.eh");
	assert_string_equal(c->devices[1], "/sys/bus/platform/devices/10000000.x");
	assert_string_equal(c->console_input_device, "ttyS0");
	assert_null(vm_config_json_free(c));
}

static void test_defaults(void **state)
{
	struct vm_config_json *c = parse_ok(sq("{'kernel': 'vmlinux', 'platform_version': '1'}"));

	assert_null(c->name);
	assert_string_equal(c->kernel, "vmlinux");
	assert_null(c->initrd);
	assert_null(c->params);
	assert_null(c->bootloader);
	assert_int_equal(c->n_disks, 0);
	assert_null(c->disks);
	assert_false(c->protected_vm);
	assert_int_equal(c->memory_mib, 0);
	assert_int_equal(c->cpu_topology, VM_CONFIG_JSON_ONE_CPU);
	assert_string_equal(c->platform_version, "1");
	assert_int_equal(c->n_devices, 0);
	assert_null(c->devices);
	assert_null(c->console_input_device);
	vm_config_json_free(c);

	/* empty arrays, and the other topology and console spelled out */
	c = parse_ok(sq("{" OK_FIELDS ", 'disks': [], 'devices': [], 'cpu_topology': 'one_cpu', "
			"'console_input_device': 'hvc0', 'protected': true}"));
	assert_int_equal(c->n_disks, 0);
	assert_int_equal(c->n_devices, 0);
	assert_int_equal(c->cpu_topology, VM_CONFIG_JSON_ONE_CPU);
	assert_string_equal(c->console_input_device, "hvc0");
	assert_true(c->protected_vm);
	vm_config_json_free(c);
}

/* serde's Option<T>: null reads as absent. Only those fields take null. */
static void test_null_means_absent_for_options(void **state)
{
	struct vm_config_json *c = parse_ok(sq(
		"{'name': null, 'kernel': 'k', 'initrd': null, 'params': null, 'bootloader': null,"
		" 'memory_mib': null, 'cpu_topology': null, 'console_input_device': null,"
		" 'disks': [{'image': 'a', 'partitions': [], 'writable': false},"
		"           {'image': null, 'partitions': [{'label': 'l', 'path': 'p'}],"
		"            'writable': false}],"
		" 'platform_version': '~1.0'}"));

	assert_null(c->name);
	assert_null(c->initrd);
	assert_null(c->params);
	assert_null(c->bootloader);
	assert_int_equal(c->memory_mib, 0);
	assert_int_equal(c->cpu_topology, VM_CONFIG_JSON_ONE_CPU);
	assert_null(c->console_input_device);
	assert_string_equal(c->disks[0].image, "a"); /* "partitions": [] is "not given" */
	assert_int_equal(c->disks[0].n_partitions, 0);
	assert_null(c->disks[1].image);
	vm_config_json_free(c);

	/* #[serde(default)] fills a missing field, not a null one */
	fails(sq("{" OK_FIELDS ", 'disks': null}"),
	      "vm.json: \"disks\": expected an array, found null");
	fails(sq("{" OK_FIELDS ", 'devices': null}"),
	      "vm.json: \"devices\": expected an array, found null");
	fails(sq("{" OK_FIELDS ", 'protected': null}"),
	      "vm.json: \"protected\": expected a boolean, found null");
	fails(sq("{'kernel': 'k', 'platform_version': null}"),
	      "vm.json: \"platform_version\": expected a string, found null");
	fails(sq("{" OK_FIELDS ", 'disks': [{'image': 'i', 'writable': null}]}"),
	      "vm.json: \"disks[0].writable\": expected a boolean, found null");
	fails(sq("{" OK_FIELDS
		 ", 'disks': [{'partitions': null, 'image': 'i', 'writable': true}]}"),
	      "vm.json: \"disks[0].partitions\": expected an array, found null");
	fails(sq("{" OK_FIELDS ", 'disks': [{'partitions': [{'label': null, 'path': 'p'}],"
		 " 'writable': true}]}"),
	      "vm.json: \"disks[0].partitions[0].label\": expected a string, found null");
	fails(sq("{" OK_FIELDS ", 'disks': [{'partitions': [{'label': 'l', 'path': 'p',"
		 " 'writable': null}], 'writable': true}]}"),
	      "vm.json: \"disks[0].partitions[0].writable\": expected a boolean, found null");
	fails(sq("{" OK_FIELDS ", 'devices': [null]}"),
	      "vm.json: \"devices[0]\": expected a string, found null");
}

/* AVF's VmConfig has no #[serde(deny_unknown_fields)]: unknown keys are skipped, at every level. */
static void test_unknown_keys_ignored(void **state)
{
	struct vm_config_json *c =
		parse_ok(sq("{'gdb_port': 1234, 'usb_config': {'controller': true}, 'Kernel': 5,"
			    " 'kernel': 'k', 'platform_version': '~1.0', 'x': [[[{'y': null}]]],"
			    " 'disks': [{'image': 'i', 'writable': true, 'sparse': 'yes',"
			    "            'partition': 7},"
			    "           {'partitions': [{'label': 'l', 'path': 'p', 'guid': 42}],"
			    "            'writable': false}],"
			    " 'same': 1, 'same': 'twice is fine for an unknown key'}"));

	assert_string_equal(c->kernel, "k");
	assert_int_equal(c->n_disks, 2);
	assert_string_equal(c->disks[0].image, "i");
	assert_string_equal(c->disks[1].partitions[0].label, "l");
	vm_config_json_free(c);
}

static void test_example_configs_parse(void **state)
{
	struct vm_config_json *c = NULL;

	assert_int_equal(vm_config_json_load(EXAMPLES "/minimal.json", &c), 0);
	assert_string_equal(c->name, "minimal");
	assert_non_null(c->kernel);
	assert_null(c->bootloader);
	assert_int_equal(c->n_disks, 0);
	c = vm_config_json_free(c);

	assert_int_equal(vm_config_json_load(EXAMPLES "/app-like.json", &c), 0);
	assert_non_null(c->kernel);
	assert_non_null(c->initrd);
	assert_non_null(c->params);
	assert_int_equal(c->n_disks, 2);
	assert_non_null(c->disks[0].image);
	assert_null(c->disks[1].image);
	assert_int_equal(c->disks[1].n_partitions, 2);
	assert_false(c->disks[1].partitions[0].writable);
	assert_true(c->disks[1].partitions[1].writable);
	assert_int_equal(c->memory_mib, 256);
	assert_int_equal(c->cpu_topology, VM_CONFIG_JSON_ONE_CPU);
	c = vm_config_json_free(c);

	assert_int_equal(vm_config_json_load(EXAMPLES "/bootloader.json", &c), 0);
	assert_non_null(c->bootloader);
	assert_null(c->kernel);
	assert_null(c->initrd);
	assert_true(c->protected_vm);
	c = vm_config_json_free(c);
}

/* ---- serde: types, required fields, duplicates ---------------------------------------------- */

static void test_type_errors(void **state)
{
	static const struct {
		const char *json, *msg;
	} cases[] = {
		{"{'name': 5, " OK_FIELDS "}",
		 "vm.json: \"name\": expected a string, found a number"},
		{"{'kernel': true, 'platform_version': '~1.0'}",
		 "vm.json: \"kernel\": expected a string, found a boolean"},
		{"{" OK_FIELDS ", 'initrd': ['a']}",
		 "vm.json: \"initrd\": expected a string, found an array"},
		{"{" OK_FIELDS ", 'params': {}}",
		 "vm.json: \"params\": expected a string, found an object"},
		{"{'bootloader': 1.5, 'platform_version': '~1.0'}",
		 "vm.json: \"bootloader\": expected a string, found a number"},
		{"{" OK_FIELDS ", 'disks': {}}",
		 "vm.json: \"disks\": expected an array, found an object"},
		{"{" OK_FIELDS ", 'disks': [5]}",
		 "vm.json: \"disks[0]\": expected an object, found a number"},
		/* serde would also take a struct as an array of its fields: we do not */
		{"{" OK_FIELDS ", 'disks': [['i', [], true]]}",
		 "vm.json: \"disks[0]\": expected an object, found an array"},
		{"{" OK_FIELDS
		 ", 'disks': [{'image': 'i', 'writable': true}, {'image': 7, 'writable': true}]}",
		 "vm.json: \"disks[1].image\": expected a string, found a number"},
		{"{" OK_FIELDS ", 'disks': [{'image': 'i', 'writable': 'yes'}]}",
		 "vm.json: \"disks[0].writable\": expected a boolean, found a string"},
		{"{" OK_FIELDS ", 'disks': [{'partitions': 'p', 'writable': true}]}",
		 "vm.json: \"disks[0].partitions\": expected an array, found a string"},
		{"{" OK_FIELDS ", 'disks': [{'image': 'i', 'writable': true},"
		 " {'partitions': [{'label': 'a', 'path': 'p'}, true], 'writable': true}]}",
		 "vm.json: \"disks[1].partitions[1]\": expected an object, found a boolean"},
		{"{" OK_FIELDS ", 'disks': [{'image': 'i', 'writable': true},"
		 " {'partitions': [{'label': 3, 'path': 'p'}], 'writable': true}]}",
		 "vm.json: \"disks[1].partitions[0].label\": expected a string, found a number"},
		{"{" OK_FIELDS
		 ", 'disks': [{'partitions': [{'label': 'l', 'path': {}}], 'writable': true}]}",
		 "vm.json: \"disks[0].partitions[0].path\": expected a string, found an object"},
		{"{" OK_FIELDS
		 ", 'disks': [{'partitions': [{'label': 'l', 'path': 'p', 'writable': 1}],"
		 " 'writable': true}]}",
		 "vm.json: \"disks[0].partitions[0].writable\": expected a boolean, found a "
		 "number"},
		{"{" OK_FIELDS ", 'protected': 'true'}",
		 "vm.json: \"protected\": expected a boolean, found a string"},
		{"{" OK_FIELDS ", 'memory_mib': '256'}",
		 "vm.json: \"memory_mib\": expected an integer, found a string"},
		{"{" OK_FIELDS ", 'cpu_topology': 1}",
		 "vm.json: \"cpu_topology\": expected a string, found a number"},
		{"{'kernel': 'k', 'platform_version': 1.0}",
		 "vm.json: \"platform_version\": expected a string, found a number"},
		{"{" OK_FIELDS ", 'devices': '/sys/x'}",
		 "vm.json: \"devices\": expected an array, found a string"},
		{"{" OK_FIELDS ", 'devices': ['/sys/a', 2]}",
		 "vm.json: \"devices[1]\": expected a string, found a number"},
		{"{" OK_FIELDS ", 'console_input_device': false}",
		 "vm.json: \"console_input_device\": expected a string, found a boolean"},
		{"[]", "vm.json: expected a JSON object, found an array"},
		{"'~1.0'", "vm.json: expected a JSON object, found a string"},
		{"42", "vm.json: expected a JSON object, found a number"},
		{"null", "vm.json: expected a JSON object, found null"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		fails(sq(cases[i].json), cases[i].msg);
}

static void test_missing_required_fields(void **state)
{
	fails(sq("{'kernel': 'k'}"), "vm.json: \"platform_version\": missing required field");
	fails(sq("{}"), "vm.json: \"platform_version\": missing required field");
	/* the disk's writable has no default; the partition's has */
	fails(sq("{" OK_FIELDS ", 'disks': [{'image': 'i', 'writable': true}, {'image': 'j'}]}"),
	      "vm.json: \"disks[1].writable\": missing required field");
	fails(sq("{" OK_FIELDS ", 'disks': [{'partitions': [{'path': 'p'}], 'writable': true}]}"),
	      "vm.json: \"disks[0].partitions[0].label\": missing required field");
	fails(sq("{" OK_FIELDS ", 'disks': [{'partitions': [{'label': 'l', 'path': 'p'},"
		 " {'label': 'm'}], 'writable': true}]}"),
	      "vm.json: \"disks[0].partitions[1].path\": missing required field");
	/* both missing: label is declared first */
	fails(sq("{" OK_FIELDS ", 'disks': [{'partitions': [{}], 'writable': true}]}"),
	      "vm.json: \"disks[0].partitions[0].label\": missing required field");
}

/* serde refuses a known field given twice; json-c would keep the last one silently. */
static void test_duplicate_fields(void **state)
{
	fails("{\n"
	      "  \"kernel\": \"a\",\n"
	      "  \"kernel\": \"b\",\n"
	      "  \"platform_version\": \"~1.0\"\n"
	      "}",
	      "vm.json:3:3: \"kernel\": duplicate field");
	fails("{\"kernel\": \"k\", \"platform_version\": \"~1.0\", \"disks\": [\n"
	      "  {\"image\": \"i\", \"writable\": true},\n"
	      "  {\"image\": \"i\", \"writable\": true, \"writable\": false}]}",
	      "vm.json:3:36: \"disks[1].writable\": duplicate field");
	fails("{\"kernel\": \"k\", \"platform_version\": \"~1.0\", \"disks\": [\n"
	      "  {\"partitions\": [{\"label\": \"a\", \"path\": \"p\", \"label\": \"b\"}],\n"
	      "   \"writable\": true}]}",
	      "vm.json:2:47: \"disks[0].partitions[0].label\": duplicate field");
	/* an escape spelling the same name is the same field */
	fails("{\"kernel\": \"a\", \"k\\u0065rnel\": \"b\", \"platform_version\": \"~1.0\"}",
	      "vm.json:1:17: \"kernel\": duplicate field");
}

static void test_nul_characters(void **state)
{
	fails(sq("{" OK_FIELDS ", 'name': 'a\\u0000b'}"),
	      "vm.json: \"name\": contains a NUL character (\\u0000): not supported");
	fails(sq("{" OK_FIELDS ", 'devices': ['/sys/\\u0000']}"),
	      "vm.json: \"devices[0]\": contains a NUL character (\\u0000): not supported");
	/* json-c would read this key as "kernel" */
	fails("{\"kernel\\u0000x\": \"k\"}",
	      "vm.json:1:2: object key with a NUL character (\\u0000): not supported");
	/* a raw NUL byte: json-c would take it for the end of the input */
	fails_len("{\"kernel\": \"k\"}\0{", 17, "vm.json:1:16: JSON syntax error: NUL byte");
}

/* ---- memory_mib: Option<NonZeroU32>, then to_parcelable's conversion to an AIDL int ------- */

static void test_memory_mib(void **state)
{
	static const struct {
		const char *value;
		uint32_t want; /* 0: fails with @msg */
		const char *msg;
	} cases[] = {
		{"1", 1, NULL},
		{"256", 256, NULL},
		{"2147483647", 2147483647u, NULL},
		{"0", 0, "vm.json: \"memory_mib\": must not be 0"},
		{"-0", 0, "vm.json: \"memory_mib\": must not be 0"},
		{"-1", 0, "vm.json: \"memory_mib\": must not be negative"},
		{"-9223372036854775809", 0, "vm.json: \"memory_mib\": must not be negative"},
		{"4294967296", 0, "vm.json: \"memory_mib\": more than 4294967295 (not a u32)"},
		{"99999999999999999999999", 0,
		 "vm.json: \"memory_mib\": more than 4294967295 (not a u32)"},
		{"2147483648", 0,
		 "vm.json: \"memory_mib\": Invalid memory_mib: 2147483648 is more than 2147483647"},
		{"4294967295", 0,
		 "vm.json: \"memory_mib\": Invalid memory_mib: 4294967295 is more than 2147483647"},
		{"256.0", 0,
		 "vm.json: \"memory_mib\": expected an integer, found a fractional number"},
		{"2.56e2", 0,
		 "vm.json: \"memory_mib\": expected an integer, found a fractional number"},
		{"true", 0, "vm.json: \"memory_mib\": expected an integer, found a boolean"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char json[256];

		snprintf(json, sizeof(json), "{%s, \"memory_mib\": %s}", sq(OK_FIELDS),
			 cases[i].value);
		if (cases[i].msg) {
			fails(json, cases[i].msg);
		} else {
			struct vm_config_json *c = parse_ok(json);

			assert_int_equal(c->memory_mib, cases[i].want);
			vm_config_json_free(c);
		}
	}
}

/* ---- VmConfig::validate() ------------------------------------------------------------------- */

static void test_validate_rules(void **state)
{
	fails(sq("{'platform_version': '~1.0', 'initrd': 'i'}"),
	      "vm.json: neither \"kernel\" nor \"bootloader\" is set: VM must have either a "
	      "bootloader or a kernel image.");
	fails(sq("{'platform_version': '~1.0', 'kernel': 'k', 'bootloader': 'b'}"),
	      "vm.json: \"bootloader\" and \"kernel\" are both set: Can't have both bootloader and "
	      "kernel/initrd image.");
	fails(sq("{'platform_version': '~1.0', 'initrd': 'i', 'bootloader': 'b'}"),
	      "vm.json: \"bootloader\" and \"initrd\" are both set: Can't have both bootloader and "
	      "kernel/initrd image.");
	fails(sq("{" OK_FIELDS
		 ", 'disks': [{'image': 'i', 'writable': true}, {'writable': true}]}"),
	      "vm.json: \"disks[1]\": Exactly one of image and partitions must be specified. (It "
	      "has neither an image nor partitions.)");
	fails(sq("{" OK_FIELDS ", 'disks': [{'partitions': [], 'writable': false}]}"),
	      "vm.json: \"disks[0]\": Exactly one of image and partitions must be specified. (It "
	      "has neither an image nor partitions.)");
	fails(sq("{" OK_FIELDS ", 'disks': [{'image': 'i', 'partitions': [{'label': 'l', "
		 "'path': 'p'}], 'writable': false}]}"),
	      "vm.json: \"disks[0]\": Exactly one of image and partitions must be specified. (It "
	      "has both.)");
}

/* ---- what AVF refuses after parsing: to_parcelable, createVm, crosvm ------------------------ */

static void test_empty_strings(void **state)
{
	struct vm_config_json *c;

	/* a file AVF would open: "" never opens */
	fails(sq("{'kernel': '', 'platform_version': '~1.0'}"),
	      "vm.json: \"kernel\": must not be empty (a file to open)");
	fails(sq("{" OK_FIELDS ", 'initrd': ''}"),
	      "vm.json: \"initrd\": must not be empty (a file to open)");
	fails(sq("{'bootloader': '', 'platform_version': '~1.0'}"),
	      "vm.json: \"bootloader\": must not be empty (a file to open)");
	fails(sq("{" OK_FIELDS ", 'disks': [{'image': 'i', 'writable': true}, {'image': '', "
		 "'writable': true}]}"),
	      "vm.json: \"disks[1].image\": must not be empty (a file to open)");
	fails(sq("{" OK_FIELDS ", 'disks': [{'partitions': [{'label': 'a', 'path': 'p'}, "
		 "{'label': 'b', 'path': ''}], 'writable': true}]}"),
	      "vm.json: \"disks[0].partitions[1].path\": must not be empty (a file to open)");
	fails(sq("{" OK_FIELDS ", 'devices': ['/sys/a', '']}"),
	      "vm.json: \"devices[1]\": must not be empty");
	fails(sq("{'kernel': 'k', 'platform_version': ''}"),
	      "vm.json: \"platform_version\": invalid SemVer requirement '': unexpected end of "
	      "input while parsing major version number");
	fails(sq("{" OK_FIELDS ", 'cpu_topology': ''}"),
	      "vm.json: \"cpu_topology\": Invalid cpu topology '' (expected \"one_cpu\" or "
	      "\"match_host\")");
	fails(sq("{" OK_FIELDS ", 'console_input_device': ''}"),
	      "vm.json: \"console_input_device\": Unsupported serial device '' (expected \"hvc0\" "
	      "or \"ttyS0\")");

	/* AVF takes these empty */
	c = parse_ok(sq("{" OK_FIELDS ", 'name': '', 'params': '', 'disks': [{'partitions': "
			"[{'label': '', 'path': 'p'}], 'writable': false}]}"));
	assert_string_equal(c->name, "");
	assert_string_equal(c->params, "");
	assert_string_equal(c->disks[0].partitions[0].label, "");
	vm_config_json_free(c);
}

static void test_cpu_topology_and_console(void **state)
{
	fails(sq("{" OK_FIELDS ", 'cpu_topology': 'MATCH_HOST'}"),
	      "vm.json: \"cpu_topology\": Invalid cpu topology 'MATCH_HOST' (expected \"one_cpu\" "
	      "or "
	      "\"match_host\")");
	fails(sq("{" OK_FIELDS ", 'console_input_device': 'ttyS1'}"),
	      "vm.json: \"console_input_device\": Unsupported serial device 'ttyS1' (expected "
	      "\"hvc0\" or \"ttyS0\")");
	/* values in messages are escaped and cut */
	fails(sq("{" OK_FIELDS ", 'cpu_topology': 'a\\nb\\\\c'}"),
	      "vm.json: \"cpu_topology\": Invalid cpu topology 'a\\x0ab\\\\c' (expected "
	      "\"one_cpu\" "
	      "or \"match_host\")");
	fails(sq("{" OK_FIELDS ", 'console_input_device': "
		 "'0123456789012345678901234567890123456789012345678901234567890123456789'}"),
	      "vm.json: \"console_input_device\": Unsupported serial device "
	      "'0123456789012345678901234567890123456789012345678901234567890123...' (expected "
	      "\"hvc0\" or \"ttyS0\")");
}

/* crosvm's composite disk: labels must differ in their first 36 UTF-16 units, per disk. */
static void test_duplicate_partition_labels(void **state)
{
	struct vm_config_json *c;

	fails(sq("{" OK_FIELDS ", 'disks': [{'image': 'i', 'writable': true}, {'partitions': ["
		 "{'label': 'a', 'path': 'p'}, {'label': 'b', 'path': 'q'}, {'label': 'a', "
		 "'path': 'r'}, {'label': 'b', 'path': 's'}], 'writable': false}]}"),
	      "vm.json: \"disks[1].partitions[2].label\": duplicate GPT partition label \"a\"");
	/* 36 units the same, the 37th differs: cut to the same GPT name */
	fails(sq("{" OK_FIELDS ", 'disks': [{'partitions': ["
		 "{'label': 'abcdefghijklmnopqrstuvwxyz0123456789-one', 'path': 'p'},"
		 "{'label': 'abcdefghijklmnopqrstuvwxyz0123456789-two', 'path': 'q'}],"
		 " 'writable': false}]}"),
	      "vm.json: \"disks[0].partitions[1].label\": duplicate GPT partition label "
	      "\"abcdefghijklmnopqrstuvwxyz0123456789-two\"");
	/* U+1F600 and U+1F601 at units 36-37: only their (equal) high surrogates are kept */
	fails(sq("{" OK_FIELDS ", 'disks': [{'partitions': ["
		 "{'label': 'abcdefghijklmnopqrstuvwxyz012345678\xf0\x9f\x98\x80', 'path': 'p'},"
		 "{'label': 'abcdefghijklmnopqrstuvwxyz012345678\xf0\x9f\x98\x81', 'path': 'q'}],"
		 " 'writable': false}]}"),
	      "vm.json: \"disks[0].partitions[1].label\": duplicate GPT partition label "
	      "\"abcdefghijklmnopqrstuvwxyz012345678\xf0\x9f\x98\x81\"");

	/* one unit earlier both fit: different; the same label on two disks: fine */
	c = parse_ok(sq(
		"{" OK_FIELDS ", 'disks': ["
		"{'partitions': [{'label': 'abcdefghijklmnopqrstuvwxyz01234567\xf0\x9f\x98\x80', "
		"'path': 'p'}, {'label': 'abcdefghijklmnopqrstuvwxyz01234567\xf0\x9f\x98\x81', "
		"'path': 'q'}], 'writable': false},"
		"{'partitions': [{'label': 'abcdefghijklmnopqrstuvwxyz01234567\xf0\x9f\x98\x80', "
		"'path': 'p'}], 'writable': false}]}"));
	assert_int_equal(c->disks[0].n_partitions, 2);
	vm_config_json_free(c);
}

static void test_duplicate_devices(void **state)
{
	fails(sq("{" OK_FIELDS ", 'devices': ['/sys/b', '/sys/a', '/sys/c', '/sys/a', '/sys/b']}"),
	      "vm.json: \"devices[3]\": duplicated device '/sys/a'");
	/* one walk over the list, as AVF's: whichever comes first */
	fails(sq("{" OK_FIELDS ", 'devices': ['/sys/a', '/sys/a', '']}"),
	      "vm.json: \"devices[1]\": duplicated device '/sys/a'");
	fails(sq("{" OK_FIELDS ", 'devices': ['/sys/a', '', '/sys/a', '']}"),
	      "vm.json: \"devices[1]\": must not be empty");
}

/* ---- platform_version: semver::VersionReq, must match 1.0.0 --------------------------------- */

static void test_platform_version(void **state)
{
	/* worked out by hand from the semver crate's rules (docs.rs/semver, Op) */
	/* "1.0.0-alpha" is ^1.0.0-alpha: 1.0.0 is above its own pre-releases */
	/* clang-format off */
	static const char *const match[] = {
		"~1.0",        "1.0",          "=1.0.0",        "^1",
		">=1.0",       "*",            "x",             "X",
		"1",           "1.*",          "1.0.*",         "1.x",
		"1.0.X",       "1.0.x",        "1.*.*",         ">=1.0, <2",
		" ~1.0 ",      ">= 1.0",       "~ 1.0",         "<=1.0.0",
		"<1.0.1",      ">0.9",         "^1.0.0",        "~1",
		"=1",          "=1.0",         "<=1",           ">0",
		"^1.0",        "~1.0.0",       ">=1.0.0-alpha", "~1.0.0-rc.1",
		">1.0.0-beta", "^1.0.0-0",     "1.0.0+build.5", "=1.0.0+b",
		">=1.*",       "<2.*",         "<=1.0",         ">=0.0.1 , <= 1.0.0 ,~1",
		"1.0.0-alpha",
	};
	/* clang-format on */
	static const char *const no_match[] = {
		"~2.0",   "^0.9",        ">1.0.0",     ">1.0",      ">1",      "<1.0.0",
		"<1",     "<1.0",        "=1.0.0-rc1", "<1.0.0-rc", "2",       "^0",
		"0.*",    ">=1.0, <1.0", "~1.1",       "1.1",       "=1.0.1",  "^1.1",
		"~1.0.1", "<=0.9.9",     "=1.0.0-0",   "^0.0.1",    ">=1.0.1",
	};
	static const struct {
		const char *req, *why;
	} bad[] = {
		{"", "unexpected end of input while parsing major version number"},
		{"   ", "unexpected end of input while parsing major version number"},
		{"~", "unexpected end of input while parsing major version number"},
		{"1,", "unexpected end of input while parsing major version number"},
		{"v1", "unexpected character 'v' while parsing major version number"},
		{"\\t1", "unexpected character '\\t' while parsing major version number"},
		{"1.", "unexpected end of input while parsing minor version number"},
		{"1.a", "unexpected character 'a' while parsing minor version number"},
		{"1.0.", "unexpected end of input while parsing patch version number"},
		{"01", "invalid leading zero in major version number"},
		{"1.00", "invalid leading zero in minor version number"},
		{"18446744073709551616", "value of major version number exceeds u64::MAX"},
		{"1.0.0.0", "expected comma after patch version number, found '.'"},
		{"1.0 2", "expected comma after minor version number, found '2'"},
		{"1.0-rc", "expected comma after minor version number, found '-'"},
		{"1.0.0 - 2.0.0", "expected comma after patch version number, found '-'"},
		{"1 || 2", "expected comma after major version number, found '|'"},
		{"1.x.0", "unexpected character after wildcard in version req"},
		{"x1", "unexpected character after wildcard in version req"},
		{"*, 1", "wildcard req (*) must be the only comparator in the version req"},
		{">=1, *", "wildcard req (*) must be the only comparator in the version req"},
		{">=1, x", "wildcard req (x) must be the only comparator in the version req"},
		{">=*", "unexpected character '*' while parsing major version number"},
		{"1.0.0-", "empty identifier segment in pre-release identifier"},
		{"1.0.0-a..b", "empty identifier segment in pre-release identifier"},
		{"1.0.0-01", "invalid leading zero in pre-release identifier"},
		{"1.0.0+", "empty identifier segment in build metadata"},
		{"1.0.0-\xc3\xa9", "empty identifier segment in pre-release identifier"},
		{"~1.0\xc3\xa9", "expected comma after minor version number, found '\xc3\xa9'"},
	};
	char req33[256] = "", req32[256] = "";

	for (size_t i = 0; i < sizeof(match) / sizeof(match[0]); i++) {
		char json[256];
		struct vm_config_json *c;

		snprintf(json, sizeof(json), "{\"kernel\": \"k\", \"platform_version\": \"%s\"}",
			 match[i]);
		c = parse_ok(json);
		assert_string_equal(c->platform_version, match[i]);
		vm_config_json_free(c);
	}
	for (size_t i = 0; i < sizeof(no_match) / sizeof(no_match[0]); i++) {
		char json[256], msg[512];

		snprintf(json, sizeof(json), "{\"kernel\": \"k\", \"platform_version\": \"%s\"}",
			 no_match[i]);
		snprintf(
			msg, sizeof(msg),
			"vm.json: \"platform_version\": Incompatible platform version. The config "
			"is "
			"compatible with platform version(s) '%s', but the actual platform version "
			"is 1.0.0",
			no_match[i]);
		fails(json, msg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char json[256], msg[512], shown[64];

		snprintf(json, sizeof(json), "{\"kernel\": \"k\", \"platform_version\": \"%s\"}",
			 bad[i].req);
		/* the one escape in the table: a real tab in the value, shown as \x09 */
		snprintf(shown, sizeof(shown), "%s",
			 strcmp(bad[i].req, "\\t1") ? bad[i].req : "\\x091");
		snprintf(msg, sizeof(msg),
			 "vm.json: \"platform_version\": invalid SemVer requirement '%s': %s",
			 shown, bad[i].why);
		fails(json, msg);
	}

	/* at most 32 comparators */
	for (int i = 0; i < 31; i++)
		strcat(req32, ">=0, ");
	strcat(req32, "1");
	snprintf(req33, sizeof(req33), ">=0, %s", req32);
	{
		char json[512], msg[512];
		struct vm_config_json *c;

		snprintf(json, sizeof(json), "{\"kernel\": \"k\", \"platform_version\": \"%s\"}",
			 req32);
		c = parse_ok(json);
		vm_config_json_free(c);
		snprintf(json, sizeof(json), "{\"kernel\": \"k\", \"platform_version\": \"%s\"}",
			 req33);
		snprintf(msg, sizeof(msg),
			 "vm.json: \"platform_version\": invalid SemVer requirement '%.64s...': "
			 "excessive number of version comparators",
			 req33);
		fails(json, msg);
	}
}

/* ---- JSON syntax ---------------------------------------------------------------------------- */

static void test_syntax_error_file(void **state)
{
	struct vm_config_json *c = NULL;

	/* line 3 is `    "kernel" "kernel.img",`: the second string, column 14, needs a ':' */
	assert_int_equal(vm_config_json_load(DATA "/syntax_error.json", &c), -EINVAL);
	assert_null(c);
	assert_string_equal(avf_err_last()->msg,
			    DATA "/syntax_error.json:3:14: JSON syntax error: object property name "
				 "separator ':' expected");
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_ARGUMENT);
}

/* {OK_FIELDS, "x": [[...]]} with @n arrays: @n + 1 levels of nesting. */
static void nested(char *buf, size_t size, int n)
{
	int o = snprintf(buf, size, "{%s, \"x\": ", sq(OK_FIELDS));

	assert_true((size_t)o + 2 * (size_t)n + 2 <= size);
	for (int i = 0; i < n; i++)
		buf[o++] = '[';
	for (int i = 0; i < n; i++)
		buf[o++] = ']';
	buf[o++] = '}';
	buf[o] = '\0';
}

static void test_syntax_errors(void **state)
{
	static const struct {
		const char *json, *msg;
	} cases[] = {
		/* json-c's findings, at json-c's offset */
		{"", "vm.json:1:1: JSON syntax error: unexpected end of data"},
		{"  \n  ", "vm.json:2:3: JSON syntax error: unexpected end of data"},
		{"{\"kernel\": \"k\",\n \"platform_version\": \"~1.0\"",
		 "vm.json:2:28: JSON syntax error: unexpected end of data"},
		{"{\"kernel\": \"k", "vm.json:1:14: JSON syntax error: unexpected end of data"},
		/* json-c takes a raw newline in a string, and 'single-quoted' keys; we do not */
		{"{\"kernel\": \"k\n",
		 "vm.json:1:14: JSON syntax error: control character U+000A in a string"},
		{"{\"kernel\": \"k\"} x", "vm.json:1:17: JSON syntax error: unexpected character"},
		{"{\"kernel\": \"k\",}", "vm.json:1:16: JSON syntax error: unexpected character"},
		{"{'kernel': 'k'}", "vm.json:1:2: JSON syntax error: expected a quoted key"},
		{"{/* c */}",
		 "vm.json:1:2: JSON syntax error: quoted object property name expected"},
		{"{\"a\": [1 2]}",
		 "vm.json:1:10: JSON syntax error: array value separator ',' expected"},
		{"{\"a\": tru}", "vm.json:1:7: JSON syntax error: invalid literal"},
		{"{\"a\": \"\xff\"}", "vm.json:1:8: JSON syntax error: invalid utf-8 string"},
		{"\xef\xbb\xbf{}", "vm.json:1:1: JSON syntax error: invalid utf-8 string"},
		/* what json-c's strict mode lets through and serde_json does not */
		{"{\n \"x\": NaN}", "vm.json:2:7: JSON syntax error: unexpected character"},
		{"{\n \"x\": -Infinity}", "vm.json:2:7: JSON syntax error: invalid number"},
		{"{\n \"x\": 1.}", "vm.json:2:7: JSON syntax error: invalid number"},
		{"{\n \"x\": \"a\tb\"}",
		 "vm.json:2:9: JSON syntax error: control character U+0009 in a string"},
		{"{\n \"x\": \"\\ud800\"}",
		 "vm.json:2:8: JSON syntax error: lone leading surrogate in \\u escape"},
		{"{\n \"x\": \"\\udc00\"}",
		 "vm.json:2:8: JSON syntax error: lone trailing surrogate in \\u escape"},
		{"{\v\"kernel\": \"k\"}",
		 "vm.json:1:2: JSON syntax error: quoted object property name expected"},
	};
	char deep[512];
	struct vm_config_json *c;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		fails(cases[i].json, cases[i].msg);

	/* valid JSON json-c and serde_json both take: escapes, exponents, a surrogate pair */
	c = parse_ok("{\"kernel\": \"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\","
		     " \"platform_version\": \"~1.0\", \"n\": [-0.5e+3, 0, 1E-2, -0, 12.25]}");
	assert_string_equal(c->kernel, "a\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
	vm_config_json_free(c);

	/* 128 levels of nesting are fine, 129 are not (json-c's limit, as we set it) */
	nested(deep, sizeof(deep), 127);
	c = parse_ok(deep);
	vm_config_json_free(c);
	nested(deep, sizeof(deep), 128);
	/* '{' + 41 bytes of fields + ', "x": ' = 49 bytes: the 128th '[' is at column 49 + 128 */
	fails(deep, "vm.json:1:177: JSON syntax error: nesting too deep");
	nested(deep, sizeof(deep), 180);
	fails(deep, "vm.json:1:177: JSON syntax error: nesting too deep");

	/* the input need not be NUL-terminated */
	c = parse_ok_len(sq("{" OK_FIELDS "}xyz"), strlen("{" OK_FIELDS "}"));
	vm_config_json_free(c);
}

/* serde reports the first problem in document order; AVF's later checks come after all of it. */
static void test_first_problem_wins(void **state)
{
	fails(sq("{'memory_mib': 0, 'name': 1}"), "vm.json: \"memory_mib\": must not be 0");
	fails(sq("{'name': 1, 'memory_mib': 0}"),
	      "vm.json: \"name\": expected a string, found a number");
	/* a type error beats the missing platform_version and the missing kernel */
	fails(sq("{'disks': [{'image': 5, 'writable': true}]}"),
	      "vm.json: \"disks[0].image\": expected a string, found a number");
	/* validate() before to_parcelable(): no kernel beats a bad topology */
	fails(sq("{'cpu_topology': 'two', 'platform_version': '~1.0'}"),
	      "vm.json: neither \"kernel\" nor \"bootloader\" is set: VM must have either a "
	      "bootloader or a kernel image.");
	/* to_parcelable() before createVm/start: the topology before the platform version */
	fails(sq("{'kernel': 'k', 'cpu_topology': 'two', 'platform_version': '~2.0'}"),
	      "vm.json: \"cpu_topology\": Invalid cpu topology 'two' (expected \"one_cpu\" or "
	      "\"match_host\")");
	/* syntax before everything */
	fails("{\"name\": 1, \"x\": NaN}", "vm.json:1:18: JSON syntax error: unexpected character");
}

static void test_origin(void **state)
{
	struct vm_config_json *c = NULL;

	assert_int_equal(vm_config_json_parse("{}", 2, NULL, &c), -EINVAL);
	assert_string_equal(avf_err_last()->msg,
			    "<string>: \"platform_version\": missing required field");
	assert_int_equal(vm_config_json_parse("{", 1, NULL, &c), -EINVAL);
	assert_string_equal(avf_err_last()->msg,
			    "<string>:1:2: JSON syntax error: unexpected end of data");
	assert_null(c);
}

/* ---- files ------------------------------------------------------------------------------------
 */

static void test_unreadable_files(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	struct vm_config_json *c = NULL;
	char dir[256], path[300], want[400];
	int fd;

	assert_int_equal(vm_config_json_load(DATA "/no-such-file.json", &c), -ENOENT);
	assert_string_equal(avf_err_last()->msg,
			    DATA "/no-such-file.json: can't read: No such file or directory");
	assert_int_equal(vm_config_json_load(DATA, &c), -EINVAL);
	assert_string_equal(avf_err_last()->msg, DATA ": can't read: not a regular file");

	snprintf(dir, sizeof(dir), "%s/test_vm_config_json_XXXXXX", tmp);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/big.json", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, VM_CONFIG_JSON_MAX_BYTES + 1), 0);
	close(fd);
	assert_int_equal(vm_config_json_load(path, &c), -EFBIG);
	snprintf(want, sizeof(want), "%s: can't read: over the 16777216-byte limit for a VM config",
		 path);
	assert_string_equal(avf_err_last()->msg, want);

	/* a file in place of a directory component */
	snprintf(want, sizeof(want), "%s/x", path);
	assert_int_equal(vm_config_json_load(want, &c), -ENOTDIR);
	assert_null(c);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_parse_equals_load(void **state)
{
	size_t len;
	char *buf = slurp(EXAMPLES "/app-like.json", &len);
	struct vm_config_json *a = parse_ok_len(buf, len), *b = NULL;

	assert_int_equal(vm_config_json_load(EXAMPLES "/app-like.json", &b), 0);
	assert_string_equal(a->disks[1].partitions[1].path, b->disks[1].partitions[1].path);
	assert_string_equal(a->params, b->params);
	vm_config_json_free(a);
	vm_config_json_free(b);
	free(buf);
	assert_null(vm_config_json_free(NULL));
}

/* ---- to struct vm_config -------------------------------------------------------------------- */

static void test_to_vm_config(void **state)
{
	struct vm_config_json *j = NULL;
	struct vm_config v;
	long online = sysconf(_SC_NPROCESSORS_ONLN);

	assert_true(online >= 1);
	assert_int_equal(vm_config_json_load(EXAMPLES "/app-like.json", &j), 0);
	memset(&v, 0xa5, sizeof(v));
	assert_int_equal(vm_config_json_to_vm_config(j, &v), 0);
	assert_int_equal(v.kind, VM_CONFIG_RAW);
	assert_string_equal(v.name, "app-like");
	assert_int_equal(v.memory_mib, 256);
	assert_int_equal(v.cpus, 1); /* one_cpu */
	assert_false(v.protected_vm);
	assert_null(v.guest_script);
	assert_int_equal(vm_config_validate(&v), 0);
	vm_config_clear(&v);
	j = vm_config_json_free(j);

	assert_int_equal(vm_config_json_load(DATA "/full.json", &j), 0);
	assert_int_equal(vm_config_json_to_vm_config(j, &v), 0);
	assert_string_equal(v.name, "full");
	assert_int_equal(v.memory_mib, 2048);
	assert_int_equal(v.cpus, (uint32_t)online); /* match_host */
	vm_config_clear(&v);
	j = vm_config_json_free(j);

	assert_int_equal(vm_config_json_load(EXAMPLES "/bootloader.json", &j), 0);
	assert_int_equal(vm_config_json_to_vm_config(j, &v), 0);
	assert_true(v.protected_vm);
	assert_int_equal(v.memory_mib, 0); /* absent: the backend's default */
	assert_int_equal(v.cpus, 1);       /* absent: ONE_CPU */
	vm_config_clear(&v);
	j = vm_config_json_free(j);

	j = parse_ok(sq("{" OK_FIELDS "}"));
	assert_int_equal(vm_config_json_to_vm_config(j, &v), 0);
	assert_null(v.name); /* no name in the file: none here either */
	vm_config_clear(&v);
	vm_config_json_free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_config_every_field),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_null_means_absent_for_options),
		cmocka_unit_test(test_unknown_keys_ignored),
		cmocka_unit_test(test_example_configs_parse),
		cmocka_unit_test(test_type_errors),
		cmocka_unit_test(test_missing_required_fields),
		cmocka_unit_test(test_duplicate_fields),
		cmocka_unit_test(test_nul_characters),
		cmocka_unit_test(test_memory_mib),
		cmocka_unit_test(test_validate_rules),
		cmocka_unit_test(test_empty_strings),
		cmocka_unit_test(test_cpu_topology_and_console),
		cmocka_unit_test(test_duplicate_partition_labels),
		cmocka_unit_test(test_duplicate_devices),
		cmocka_unit_test(test_platform_version),
		cmocka_unit_test(test_syntax_error_file),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_first_problem_wins),
		cmocka_unit_test(test_origin),
		cmocka_unit_test(test_unreadable_files),
		cmocka_unit_test(test_parse_equals_load),
		cmocka_unit_test(test_to_vm_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
