/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The read-only subcommands: `vm list`, `vm info`, `vm check-feature-enabled`.
 * Text output is AVF's, line for line (main.rs); `--json` (ours) prints one JSON
 * document for scripts, made with json-c.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/crosvm/crosvm_backend.h"
#include "vm_args.h"
#include "vm_cli.h"

enum { OPT_JSON = 1, OPT_BACKEND };

static const struct vm_opt list_opts[] = {{"json", 0, NULL, OPT_JSON}};
static const char list_help[] = "List running virtual machines\n"
				"\n"
				"Usage: vm list [OPTIONS]\n"
				"\n"
				"Options:\n"
				"      --json  Print the list as JSON\n"
				"  -h, --help  Print help\n";
static const struct vm_args_spec list_spec = {"list", "[OPTIONS]", list_help, list_opts, 1,
					      NULL, 0, 0};

static const struct vm_opt info_opts[] = {{"json", 0, NULL, OPT_JSON},
					  {"backend", 0, "BACKEND", OPT_BACKEND}};
static const char info_help[] = "Print information about virtual machine support\n"
				"\n"
				"Usage: vm info [OPTIONS]\n"
				"\n"
				"Options:\n"
				"      --backend <BACKEND>  fake (default), crosvm or qemu\n"
				"      --json               Print the information as JSON\n"
				"  -h, --help               Print help\n";
static const struct vm_args_spec info_spec = {"info", "[OPTIONS]", info_help, info_opts, 2,
					      NULL, 0, 0};

static const char *const feature_pos[] = {"<FEATURE>"};
static const char feature_help[] = "Check if the feature is enabled on device\n"
				   "\n"
				   "Usage: vm check-feature-enabled <FEATURE>\n"
				   "\n"
				   "Arguments:\n"
				   "  <FEATURE>  e.g. com.android.kvm.NETWORK\n"
				   "\n"
				   "Options:\n"
				   "  -h, --help  Print help\n";
static const struct vm_args_spec feature_spec = {
    "check-feature-enabled", "<FEATURE>", feature_help, NULL, 0, feature_pos, 1, 1};

struct query_args {
	bool json;
	const char *backend;
};

static int on_opt(void *ctx, const struct vm_opt *o, const char *v)
{
	struct query_args *a = ctx;

	if (o->id == OPT_JSON)
		a->json = true;
	else
		a->backend = v;
	return 0;
}

static int print_json(json_object *j)
{
	const char *s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_SPACED |
							      JSON_C_TO_STRING_NOSLASHESCAPE);
	int r = s ? (puts(s), VM_EXIT_OK) : vm_error("out of memory");

	json_object_put(j);
	return r;
}

/* ---- list ---- */

static int list_json(const struct avf_vm_info *rows, size_t n)
{
	json_object *arr = json_object_new_array();

	for (size_t i = 0; arr && i < n; i++) {
		json_object *o = json_object_new_object();

		if (!o || json_object_array_add(arr, o) < 0) {
			json_object_put(o);
			json_object_put(arr);
			return vm_error("out of memory");
		}
		json_object_object_add(o, "cid", json_object_new_int64(rows[i].cid));
		json_object_object_add(o, "name", json_object_new_string(rows[i].name));
		json_object_object_add(o, "state",
				       json_object_new_string(vm_state_str(rows[i].state)));
		json_object_object_add(o, "requester_uid",
				       json_object_new_int64(rows[i].requester_uid));
		json_object_object_add(o, "requester_pid",
				       json_object_new_int64(rows[i].requester_pid));
		json_object_object_add(o, "temporary_directory",
				       json_object_new_string(rows[i].temp_dir));
	}
	return arr ? print_json(arr) : vm_error("out of memory");
}

/* Rust's {:#?} of Vec<VirtualMachineDebugInfo> (A15's four fields). */
static void list_text(const struct avf_vm_info *rows, size_t n)
{
	if (!n) {
		puts("Running VMs: []");
		return;
	}
	puts("Running VMs: [");
	for (size_t i = 0; i < n; i++) {
		printf("    VirtualMachineDebugInfo {\n        cid: %u,\n"
		       "        temporaryDirectory: ",
		       rows[i].cid);
		vm_print_debug_str(stdout, rows[i].temp_dir);
		printf(",\n        requesterUid: %u,\n        requesterPid: %d,\n    },\n",
		       (unsigned)rows[i].requester_uid, (int)rows[i].requester_pid);
	}
	puts("]");
}

int vm_cmd_list(int argc, char **argv)
{
	struct query_args a = {0};
	struct avf_client *c = NULL;
	struct avf_vm_info *rows = NULL;
	size_t n = 0;
	int r;

	if ((r = vm_args_parse(&list_spec, argc, argv, on_opt, &a, NULL)) != 0)
		return r < 0 ? VM_EXIT_OK : r;
	if (avf_client_connect(NULL, &c) < 0)
		return vm_error_client("Failed to spawn VirtualizationService");
	if (avf_client_list_vms(c, &rows, &n) < 0) {
		r = vm_error_client("Failed to get list of VMs");
	} else if (a.json) {
		r = list_json(rows, n);
	} else {
		list_text(rows, n);
		r = VM_EXIT_OK;
	}
	avf_vm_info_free(rows, n);
	avf_client_disconnect(c);
	return r;
}

/* ---- info ---- */

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

int vm_cmd_info(int argc, char **argv)
{
	static const char *const support_text[2][2] = {
	    /* [non-protected][protected] */
	    {"VMs are not supported.", "Only protected VMs are supported."},
	    {"Only non-protected VMs are supported.",
	     "Both protected and non-protected VMs are supported."},
	};
	struct query_args a = {0};
	bool kvm, vfio, vfio_platform, non_protected, protected_vm;
	const char *backend;
	char *crosvm = NULL;
	int r;

	if ((r = vm_args_parse(&info_spec, argc, argv, on_opt, &a, NULL)) != 0)
		return r < 0 ? VM_EXIT_OK : r;
	if (a.backend && (r = vm_select_backend(info_spec.cmd, info_spec.usage, a.backend)) != 0)
		return r;
	kvm = exists("/dev/kvm");
	vfio = exists("/dev/vfio/vfio");
	vfio_platform = exists("/sys/bus/platform/drivers/vfio-platform");
	/* AVF reads the hypervisor's sysprops; the fake backend runs both kinds of VM
	 * anywhere and has no hypervisor version. No device is assignable (no VFIO
	 * support here) and the only OS is the fake Microdroid. */
	non_protected = protected_vm = true;
	/* Ours: the backend the forked virtmgr would use, and the crosvm it would run. */
	backend = getenv("AVF_BACKEND") && *getenv("AVF_BACKEND") ? getenv("AVF_BACKEND") : "fake";
	if (crosvm_backend_find(&crosvm) < 0)
		crosvm = NULL;
	if (a.json) {
		json_object *o = json_object_new_object();

		if (!o) {
			free(crosvm);
			return vm_error("out of memory");
		}
		json_object_object_add(o, "backend", json_object_new_string(backend));
		json_object_object_add(o, "crosvm", crosvm ? json_object_new_string(crosvm) : NULL);
		free(crosvm);
		json_object_object_add(o, "non_protected_vms", json_object_new_boolean(non_protected));
		json_object_object_add(o, "protected_vms", json_object_new_boolean(protected_vm));
		json_object_object_add(o, "hypervisor_version", NULL);
		json_object_object_add(o, "dev_kvm", json_object_new_boolean(kvm));
		json_object_object_add(o, "dev_vfio_vfio", json_object_new_boolean(vfio));
		json_object_object_add(o, "vfio_platform", json_object_new_boolean(vfio_platform));
		json_object_object_add(o, "assignable_devices", json_object_new_array());
		json_object *os = json_object_new_array();
		json_object_array_add(os, json_object_new_string("microdroid"));
		json_object_object_add(o, "available_os", os);
		return print_json(o);
	}
	puts(support_text[non_protected][protected_vm]);
	puts("Hypervisor version not set.");
	puts(kvm ? "/dev/kvm exists." : "/dev/kvm does not exist.");
	puts(vfio ? "/dev/vfio/vfio exists." : "/dev/vfio/vfio does not exist.");
	puts(vfio_platform ? "VFIO-platform is supported." : "VFIO-platform is not supported.");
	puts("Assignable devices: []");
	puts("Available OS list: [\"microdroid\"]");
	printf("Backend: %s\n", backend);
	printf("crosvm: %s\n", crosvm ? crosvm : "not found");
	free(crosvm);
	return VM_EXIT_OK;
}

/* ---- check-feature-enabled ---- */

int vm_cmd_check_feature(int argc, char **argv)
{
	struct avf_client *c = NULL;
	const char *pos[1];
	bool on = false;
	int r;

	if ((r = vm_args_parse(&feature_spec, argc, argv, NULL, NULL, pos)) != 0)
		return r < 0 ? VM_EXIT_OK : r;
	/* AVF answers from its build flags; ours are virtmgr's, so ask it (one truth). */
	if (avf_client_connect(NULL, &c) < 0)
		return vm_error_client("Failed to spawn VirtualizationService");
	r = avf_client_is_feature_enabled(c, pos[0], &on);
	avf_client_disconnect(c);
	if (r < 0)
		return vm_error_client("Failed to check feature %s", pos[0]);
	printf("Feature %s is %s\n", pos[0], on ? "enabled" : "disabled");
	return VM_EXIT_OK;
}
