/* SPDX-License-Identifier: Apache-2.0 */
#include "proto/avf_proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"

/* An fd field, or NULL for -1. */
static int put_fd_opt(struct ipc_msg *m, int fd)
{
	return fd >= 0 ? ipc_msg_put_fd(m, fd) : ipc_msg_put_null(m);
}

static int put_disks(struct ipc_msg *m, const struct vm_config *c)
{
	int r;

	if ((r = ipc_msg_put_u32(m, (uint32_t)c->n_disks)) < 0)
		return avf_err_prefix("config.disks");
	for (size_t d = 0; d < c->n_disks; d++) {
		const struct vm_config_disk *disk = &c->disks[d];

		if ((r = put_fd_opt(m, disk->image_fd)) < 0 ||
		    (r = ipc_msg_put_bool(m, disk->writable)) < 0 ||
		    (r = ipc_msg_put_u32(m, (uint32_t)disk->n_partitions)) < 0)
			return avf_err_prefix("config.disks[%zu]", d);
		for (size_t p = 0; p < disk->n_partitions; p++) {
			const struct vm_config_partition *part = &disk->partitions[p];

			if ((r = ipc_msg_put_string(m, part->label ? part->label : "")) < 0 ||
			    (r = ipc_msg_put_fd(m, part->fd)) < 0 ||
			    (r = ipc_msg_put_bool(m, part->writable)) < 0)
				return avf_err_prefix("config.disks[%zu].partitions[%zu]", d, p);
		}
	}
	return 0;
}

static int put_payload(struct ipc_msg *m, const struct vm_config_payload *p)
{
	int r;

	if ((r = put_fd_opt(m, p->library_fd)) < 0)
		return avf_err_prefix("config.payload.library");
	if ((r = ipc_msg_put_string(m, p->binary_name)) < 0)
		return avf_err_prefix("config.payload.binary_name");
	if ((r = put_fd_opt(m, p->config_fd)) < 0)
		return avf_err_prefix("config.payload.config");
	if ((r = put_fd_opt(m, p->instance_fd)) < 0)
		return avf_err_prefix("config.payload.instance");
	if ((r = put_fd_opt(m, p->storage_fd)) < 0)
		return avf_err_prefix("config.payload.storage");
	return 0;
}

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
	if ((r = put_fd_opt(m, c->kernel_fd)) < 0)
		return avf_err_prefix("config.kernel");
	if ((r = put_fd_opt(m, c->initrd_fd)) < 0)
		return avf_err_prefix("config.initrd");
	if ((r = put_fd_opt(m, c->bootloader_fd)) < 0)
		return avf_err_prefix("config.bootloader");
	if ((r = ipc_msg_put_string(m, c->params)) < 0)
		return avf_err_prefix("config.params");
	if ((r = put_disks(m, c)) < 0)
		return r;
	return put_payload(m, &c->payload);
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

/* A nullable fd field: -1 for NULL. */
static int get_fd_opt(struct ipc_msg *m, int *ret)
{
	if (ipc_msg_peek(m) == IPC_T_NULL) {
		*ret = -1;
		return ipc_msg_get_null(m);
	}
	return ipc_msg_get_fd(m, ret);
}

/* A count field with its bound: EX_BAD_PARCELABLE beyond it. */
static int get_count(struct ipc_msg *m, uint32_t max, uint32_t *ret)
{
	uint32_t n;
	int r;

	if ((r = ipc_msg_get_u32(m, &n)) < 0)
		return r;
	if (n > max)
		return avf_err_set(-EBADMSG, AVF_EX_BAD_PARCELABLE, "%u is more than %u", n, max);
	*ret = n;
	return 0;
}

/* Fields go into @c as soon as they are read: the caller's clear closes what was taken. */
static int get_partitions(struct ipc_msg *m, struct vm_config_disk *disk, size_t d)
{
	uint32_t n;
	const char *label;
	int r;

	if ((r = get_count(m, VM_CONFIG_PARTITIONS_MAX, &n)) < 0)
		return avf_err_prefix("config.disks[%zu].partitions", d);
	if (!n)
		return 0;
	disk->partitions = calloc(n, sizeof(*disk->partitions));
	if (!disk->partitions)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	for (uint32_t p = 0; p < n; p++) {
		struct vm_config_partition *part = &disk->partitions[p];

		part->fd = -1;
		disk->n_partitions = p + 1;
		if ((r = ipc_msg_get_string(m, &label)) < 0)
			return avf_err_prefix("config.disks[%zu].partitions[%u].label", d, p);
		if ((r = dup_string(label, &part->label)) < 0)
			return r;
		if ((r = ipc_msg_get_fd(m, &part->fd)) < 0)
			return avf_err_prefix("config.disks[%zu].partitions[%u].image", d, p);
		if ((r = ipc_msg_get_bool(m, &part->writable)) < 0)
			return avf_err_prefix("config.disks[%zu].partitions[%u].writable", d, p);
	}
	return 0;
}

static int get_disks(struct ipc_msg *m, struct vm_config *c)
{
	uint32_t n;
	int r;

	if ((r = get_count(m, VM_CONFIG_DISKS_MAX, &n)) < 0)
		return avf_err_prefix("config.disks");
	if (!n)
		return 0;
	c->disks = calloc(n, sizeof(*c->disks));
	if (!c->disks)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	for (uint32_t d = 0; d < n; d++) {
		struct vm_config_disk *disk = &c->disks[d];

		disk->image_fd = -1;
		c->n_disks = d + 1;
		if ((r = get_fd_opt(m, &disk->image_fd)) < 0)
			return avf_err_prefix("config.disks[%u].image", d);
		if ((r = ipc_msg_get_bool(m, &disk->writable)) < 0)
			return avf_err_prefix("config.disks[%u].writable", d);
		if ((r = get_partitions(m, disk, d)) < 0)
			return r;
	}
	return 0;
}

static int get_payload(struct ipc_msg *m, struct vm_config_payload *p)
{
	const char *name;
	int r;

	if ((r = get_fd_opt(m, &p->library_fd)) < 0)
		return avf_err_prefix("config.payload.library");
	if ((r = ipc_msg_get_string_nullable(m, &name)) < 0)
		return avf_err_prefix("config.payload.binary_name");
	if ((r = dup_string(name, &p->binary_name)) < 0)
		return r;
	if ((r = get_fd_opt(m, &p->config_fd)) < 0)
		return avf_err_prefix("config.payload.config");
	if ((r = get_fd_opt(m, &p->instance_fd)) < 0)
		return avf_err_prefix("config.payload.instance");
	if ((r = get_fd_opt(m, &p->storage_fd)) < 0)
		return avf_err_prefix("config.payload.storage");
	return 0;
}

int proto_get_config(struct ipc_msg *m, struct vm_config *c)
{
	uint32_t version;
	int32_t kind;
	const char *name, *script, *params;
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
	if ((r = get_fd_opt(m, &c->kernel_fd)) < 0)
		return avf_err_prefix("config.kernel");
	if ((r = get_fd_opt(m, &c->initrd_fd)) < 0)
		return avf_err_prefix("config.initrd");
	if ((r = get_fd_opt(m, &c->bootloader_fd)) < 0)
		return avf_err_prefix("config.bootloader");
	if ((r = ipc_msg_get_string_nullable(m, &params)) < 0)
		return avf_err_prefix("config.params");
	if ((r = dup_string(params, &c->params)) < 0)
		return r;
	if ((r = get_disks(m, c)) < 0)
		return r;
	return get_payload(m, &c->payload);
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
