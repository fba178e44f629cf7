/* SPDX-License-Identifier: Apache-2.0 */
#include "proto/avf_proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"

int proto_put_config(struct ipc_msg *m, const struct vm_config *c)
{
	int r;

	if ((r = ipc_msg_put_u32(m, PROTO_CONFIG_VERSION)) < 0 ||
	    (r = ipc_msg_put_i32(m, (int32_t)c->kind)) < 0 ||
	    (r = ipc_msg_put_string(m, c->name ? c->name : "")) < 0 ||
	    (r = ipc_msg_put_u32(m, c->memory_mib)) < 0 || (r = ipc_msg_put_u32(m, c->cpus)) < 0 ||
	    (r = ipc_msg_put_bool(m, c->protected_vm)) < 0 ||
	    (r = ipc_msg_put_string(m, c->guest_script)) < 0)
		return r;
	return 0;
}

static int dup_string(const char *s, char **ret)
{
	if (!s) {
		*ret = NULL;
		return 0;
	}
	*ret = strdup(s);
	return *ret ? 0 : avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
}

int proto_get_config(struct ipc_msg *m, struct vm_config *c)
{
	uint32_t version;
	int32_t kind;
	const char *name, *script;
	int r;

	vm_config_init(c);
	if ((r = ipc_msg_get_u32(m, &version)) < 0)
		return avf_err_prefix("config.version");
	if (version != PROTO_CONFIG_VERSION)
		return avf_err_set(-EBADMSG, AVF_EX_BAD_PARCELABLE,
				   "config.version: %u is not supported (expected %u)", version,
				   PROTO_CONFIG_VERSION);
	if ((r = ipc_msg_get_i32(m, &kind)) < 0)
		return avf_err_prefix("config.kind");
	if (kind != VM_CONFIG_RAW && kind != VM_CONFIG_APP)
		return avf_err_set(-EBADMSG, AVF_EX_BAD_PARCELABLE,
				   "config.kind: %d is neither raw (0) nor app (1)", kind);
	c->kind = (enum vm_config_kind)kind;
	if ((r = ipc_msg_get_string(m, &name)) < 0)
		return avf_err_prefix("config.name");
	if ((r = ipc_msg_get_u32(m, &c->memory_mib)) < 0)
		return avf_err_prefix("config.memory_mib");
	if ((r = ipc_msg_get_u32(m, &c->cpus)) < 0)
		return avf_err_prefix("config.cpus");
	if ((r = ipc_msg_get_bool(m, &c->protected_vm)) < 0)
		return avf_err_prefix("config.protected_vm");
	if ((r = ipc_msg_get_string_nullable(m, &script)) < 0)
		return avf_err_prefix("config.guest_script");
	if ((r = dup_string(name, &c->name)) < 0 || (r = dup_string(script, &c->guest_script)) < 0)
		return r;
	return 0;
}

int proto_put_debug_row(struct ipc_msg *m, const struct proto_debug_row *row)
{
	int r;

	if ((r = ipc_msg_put_i32(m, row->cid)) < 0 || (r = ipc_msg_put_i32(m, row->state)) < 0 ||
	    (r = ipc_msg_put_i32(m, row->requester_uid)) < 0 ||
	    (r = ipc_msg_put_i32(m, row->requester_pid)) < 0 ||
	    (r = ipc_msg_put_string(m, row->name ? row->name : "")) < 0 ||
	    (r = ipc_msg_put_string(m, row->temp_dir ? row->temp_dir : "")) < 0)
		return r;
	return 0;
}

int proto_get_debug_row(struct ipc_msg *m, struct proto_debug_row *row)
{
	struct proto_debug_row tmp;
	int r;

	if ((r = ipc_msg_get_i32(m, &tmp.cid)) < 0 || (r = ipc_msg_get_i32(m, &tmp.state)) < 0 ||
	    (r = ipc_msg_get_i32(m, &tmp.requester_uid)) < 0 ||
	    (r = ipc_msg_get_i32(m, &tmp.requester_pid)) < 0 ||
	    (r = ipc_msg_get_string(m, &tmp.name)) < 0 ||
	    (r = ipc_msg_get_string(m, &tmp.temp_dir)) < 0)
		return avf_err_prefix("debug row: ");
	*row = tmp;
	return 0;
}

static const char *name_of(const char *const *names, size_t n, uint32_t method)
{
	return method < n && names[method] ? names[method] : "?";
}

const char *proto_vm_method_name(uint32_t method)
{
	static const char *const names[] = {
		[PROTO_VM_GET_CID] = "IVirtualMachine.getCid",
		[PROTO_VM_GET_STATE] = "IVirtualMachine.getState",
		[PROTO_VM_REGISTER_CALLBACK] = "IVirtualMachine.registerCallback",
		[PROTO_VM_START] = "IVirtualMachine.start",
		[PROTO_VM_STOP] = "IVirtualMachine.stop",
		[PROTO_VM_CONNECT_VSOCK] = "IVirtualMachine.connectVsock",
	};
	return name_of(names, sizeof(names) / sizeof(names[0]), method);
}

const char *proto_vs_method_name(uint32_t method)
{
	static const char *const names[] = {
		[PROTO_VS_CREATE_VM] = "IVirtualizationService.createVm",
		[PROTO_VS_INIT_WRITABLE_PARTITION] = "IVirtualizationService.initializeWritablePartition",
		[PROTO_VS_IS_FEATURE_ENABLED] = "IVirtualizationService.isFeatureEnabled",
		[PROTO_VS_DEBUG_LIST_VMS] = "IVirtualizationService.debugListVms",
	};
	return name_of(names, sizeof(names) / sizeof(names[0]), method);
}

const char *proto_cb_method_name(uint32_t method)
{
	static const char *const names[] = {
		[PROTO_CB_ON_PAYLOAD_STARTED] = "onPayloadStarted",
		[PROTO_CB_ON_PAYLOAD_READY] = "onPayloadReady",
		[PROTO_CB_ON_PAYLOAD_FINISHED] = "onPayloadFinished",
		[PROTO_CB_ON_ERROR] = "onError",
		[PROTO_CB_ON_DIED] = "onDied",
	};
	return name_of(names, sizeof(names) / sizeof(names[0]), method);
}
