/* SPDX-License-Identifier: Apache-2.0 */
/*
 * avf_proto: the interfaces that cross process boundaries, as method numbers and
 * argument layouts over core/ipc (our stand-in for AVF's AIDL, research/avf-spec.md
 * 2.1-2.8). Every process speaks these: the client library, virtmgr,
 * virtualizationservice. Changing a number or a layout is a protocol change
 * (bump IPC_MAGIC's version).
 *
 * Notation: "-> T" is the reply; "fd?" an FD or NULL field; "obj" an OBJECT field.
 * Errors travel as ipc error replies (exception, service code, message), with
 * AVF's conventions (research/avf-spec.md 2.10).
 *
 * IVirtualizationService — virtmgr's root object (id 0) on the client connection.
 *   CREATE_VM        config (proto_put_config), fd? consoleOut, fd? consoleIn,
 *                    fd? osLog                              -> obj IVirtualMachine
 *   INIT_WRITABLE_PARTITION  fd image, i64 size_bytes, i32 partition type -> ()
 *   IS_FEATURE_ENABLED       string feature                -> bool
 *   DEBUG_LIST_VMS   ()                 -> u32 n, n rows (proto_put_debug_row)
 *
 * IVirtualMachine — one per createVm; the client's references are the handle's
 * references: when the client holds none (RELEASE or disconnect) the VM is killed.
 *   GET_CID -> i32; GET_STATE -> i32 (enum avf_vm_state);
 *   REGISTER_CALLBACK  obj IVirtualMachineCallback -> ();
 *   START -> (); STOP -> (); CONNECT_VSOCK i32 port -> fd
 *
 * IVirtualMachineCallback — an object of the client, called ONEWAY by virtmgr
 * (AVF declares it `oneway interface`): every method starts with i32 cid.
 *   ON_PAYLOAD_STARTED (cid); ON_PAYLOAD_READY (cid);
 *   ON_PAYLOAD_FINISHED (cid, i32 exit_code); ON_ERROR (cid, i32 code, string msg);
 *   ON_DIED (cid, i32 reason)
 *
 * IVirtualizationServiceInternal — virtualizationservice's root object on each
 * virtmgr connection. The holder of a context is that connection: closing it
 * releases every context it holds.
 *   ALLOCATE_GLOBAL_VM_CONTEXT  string name, i32 requester_debug_pid
 *                                           -> obj IGlobalVmContext
 *   DEBUG_LIST_VMS   () -> u32 n, n rows
 *   CLAIM_GLOBAL_VM_CONTEXT  i32 cid, string name, i32 requester_debug_pid
 *                                           -> obj IGlobalVmContext
 *       (beyond AVF: after virtualizationservice restarted, a virtmgr re-claims
 *       the CIDs of its live VMs so they are listed and never granted twice;
 *       EX_ILLEGAL_STATE if that CID is held by someone else)
 *
 * IGlobalVmContext — the CID stays granted while the virtmgr holds this object.
 *   GET_CID -> i32; GET_TEMPORARY_DIRECTORY -> string (maybe empty);
 *   SET_STATE i32 state -> ()   (beyond AVF: the state debugListVms shows)
 */
#ifndef AVF_CORE_PROTO_AVF_PROTO_H
#define AVF_CORE_PROTO_AVF_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <avf/avf_types.h>

#include "config/vm_config.h"
#include "ipc/ipc_msg.h"

enum proto_vs_method { /* IVirtualizationService */
	PROTO_VS_CREATE_VM = 1,
	PROTO_VS_INIT_WRITABLE_PARTITION = 2,
	PROTO_VS_IS_FEATURE_ENABLED = 3,
	PROTO_VS_DEBUG_LIST_VMS = 4,
};

enum proto_vm_method { /* IVirtualMachine */
	PROTO_VM_GET_CID = 1,
	PROTO_VM_GET_STATE = 2,
	PROTO_VM_REGISTER_CALLBACK = 3,
	PROTO_VM_START = 4,
	PROTO_VM_STOP = 5,
	PROTO_VM_CONNECT_VSOCK = 6,
};

enum proto_cb_method { /* IVirtualMachineCallback (ONEWAY) */
	PROTO_CB_ON_PAYLOAD_STARTED = 1,
	PROTO_CB_ON_PAYLOAD_READY = 2,
	PROTO_CB_ON_PAYLOAD_FINISHED = 3,
	PROTO_CB_ON_ERROR = 4,
	PROTO_CB_ON_DIED = 5,
};

enum proto_vsi_method { /* IVirtualizationServiceInternal */
	PROTO_VSI_ALLOCATE_GLOBAL_VM_CONTEXT = 1,
	PROTO_VSI_DEBUG_LIST_VMS = 2,
	PROTO_VSI_CLAIM_GLOBAL_VM_CONTEXT = 3,
};

enum proto_ctx_method { /* IGlobalVmContext */
	PROTO_CTX_GET_CID = 1,
	PROTO_CTX_GET_TEMPORARY_DIRECTORY = 2,
	PROTO_CTX_SET_STATE = 3,
};

/* PartitionType (initializeWritablePartition), AVF's numbering. */
enum proto_partition_type {
	PROTO_PARTITION_RAW = 0,
	PROTO_PARTITION_ANDROID_VM_INSTANCE = 1,
	PROTO_PARTITION_ENCRYPTEDSTORE = 2,
};

/* Interface names, as ipc_object_ops.name and in error messages. */
#define PROTO_NAME_VS   "IVirtualizationService"
#define PROTO_NAME_VM   "IVirtualMachine"
#define PROTO_NAME_CB   "IVirtualMachineCallback"
#define PROTO_NAME_VSI  "IVirtualizationServiceInternal"
#define PROTO_NAME_CTX  "IGlobalVmContext"

/* Version of the config layout; the first field of every encoded config. */
#define PROTO_CONFIG_VERSION 3

/*
 * A VM config as fields (VirtualMachineRawConfig's, avf-spec 2.5):
 *   u32 version, i32 kind, string name, u32 memory_mib, u32 cpus,
 *   bool protected_vm, string? guest_script,
 *   fd? kernel, fd? initrd, fd? bootloader, string? params,
 *   u32 n_disks (<= VM_CONFIG_DISKS_MAX), then per disk:
 *     fd? image, bool writable, u32 n_partitions (<= VM_CONFIG_PARTITIONS_MAX),
 *     then per partition: string label, fd image, bool writable;
 *   then the payload (v3): fd? library, string? binary_name, fd? config,
 *     fd? instance, fd? storage.
 * Every fd travels as SCM_RIGHTS in the same packet (the message gets a duplicate;
 * @c keeps its own). One packet carries at most IPC_MSG_MAX_FDS fds, the three
 * console fds of createVm included: more is -E2BIG, EX_ILLEGAL_ARGUMENT, naming
 * the field that did not fit.
 */
int proto_put_config(struct ipc_msg *m, const struct vm_config *c);
/*
 * Reads a config into @c (initialised by this call; the caller clears it, also on
 * failure: fds already taken are then closed). Unknown version, an out-of-range
 * kind, a count over its bound, a wrong or missing field: -EBADMSG,
 * EX_BAD_PARCELABLE naming the field ("config.disks[2].partitions[0].image: ...").
 * Semantic checks (image xor partitions, kernel xor bootloader, labels) are
 * vm_config_validate()'s and the composite builder's job, not this one's.
 */
int proto_get_config(struct ipc_msg *m, struct vm_config *c);

/* One VirtualMachineDebugInfo row (plus name and state, as A16 has name). */
struct proto_debug_row {
	int32_t cid;
	int32_t state; /* enum avf_vm_state */
	int32_t requester_uid;
	int32_t requester_pid;
	const char *name;     /* never NULL on the wire side: "" when unknown */
	const char *temp_dir; /* "" when none */
};

/* Row fields: i32 cid, i32 state, i32 uid, i32 pid, string name, string temp_dir. */
int proto_put_debug_row(struct ipc_msg *m, const struct proto_debug_row *row);
/* Strings borrowed from @m. */
int proto_get_debug_row(struct ipc_msg *m, struct proto_debug_row *row);

/* Largest row count a reply may claim (bounded by the packet size anyway). */
#define PROTO_DEBUG_ROWS_MAX 4096u

/* "IVirtualMachine.start" style name for traces and errors; "?" if unknown. */
const char *proto_vm_method_name(uint32_t method);
const char *proto_vs_method_name(uint32_t method);
const char *proto_cb_method_name(uint32_t method);

#endif
