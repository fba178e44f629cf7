/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtmgr_server: virtmgr's IPC face — vmgr wrapped in ipc objects
 * (core/proto/avf_proto.h; research/avf-spec.md 2.1-2.3).
 *
 * Each client connection's root object is an IVirtualizationService:
 *   CREATE_VM        config, fd? consoleOut, fd? consoleIn, fd? osLog
 *                    -> a new IVirtualMachine object
 *   INIT_WRITABLE_PARTITION  as AVF (avf-spec 2.1): size < 0 EX_ILLEGAL_ARGUMENT,
 *                    rounded up to 4096, truncated then extended (sparse), header
 *                    written for ANDROID_VM_INSTANCE / ENCRYPTEDSTORE
 *   IS_FEATURE_ENABLED       false for every name (no optional AVF feature here)
 *   DEBUG_LIST_VMS   from virtualizationservice (vs_link), or with local
 *                    contexts this vmgr's own VMs; EX_UNSUPPORTED_OPERATION in
 *                    early mode (early_virtmgr)
 *
 * IVirtualMachine: GET_CID, GET_STATE, REGISTER_CALLBACK, START, STOP,
 * CONNECT_VSOCK (state checked, then EX_UNSUPPORTED_OPERATION: no vsock to the
 * guest in this implementation).
 *
 * Lifetime of a VM: the object holds the vm_handle reference that stands for the
 * client's references. When the client holds none any more (RELEASE, or the
 * connection closed: ipc's on_release), that reference is dropped; the last one
 * kills a running VM, as AVF does when the last IVirtualMachine binder goes.
 *
 * Callbacks: each REGISTER_CALLBACK keeps the client's IVirtualMachineCallback
 * proxy as a vm callback registration; every event is sent ONEWAY on it with the
 * layout of avf_proto.h (never waits, so never re-enters anything). The
 * registration (and the proxy) go with the VM record.
 *
 * Console and log fds given to CREATE_VM go to vmgr with the config
 * (vmgr_create_vm_fds): the backend hands them to the VMM at START, and vmgr
 * closes its copies right after the spawn (AVF keeps none) or when the VM goes
 * unstarted, so the client's ends see EOF once the VMM has exited.
 *
 * Re-entrancy: CREATE_VM and DEBUG_LIST_VMS may wait for virtualizationservice
 * (vs_link), running the loop; any other call, on this or another connection, may
 * be served meanwhile. Dispatch code keeps no pointer across those waits but the
 * objects ipc holds for it.
 *
 * Client connections that closed are freed at the next virtmgr_server_add_client()
 * or virtmgr_server_free() (never from inside their own callbacks).
 */
#ifndef AVF_CORE_SERVICE_VIRTMGR_SERVER_H
#define AVF_CORE_SERVICE_VIRTMGR_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

#include "loop/loop.h"
#include "service/vmgr.h"
#include "service/vs_link.h"
#include "trace/trace.h"

/* AVF's isFeatureEnabled names (A15 IVirtualizationService constants). */
#define VIRTMGR_FEATURE_DICE_CHANGES       "com.android.kvm.DICE_CHANGES"
#define VIRTMGR_FEATURE_LLPVM_CHANGES      "com.android.kvm.LLPVM_CHANGES"
#define VIRTMGR_FEATURE_MULTI_TENANT       "com.android.kvm.MULTI_TENANT"
#define VIRTMGR_FEATURE_NETWORK            "com.android.kvm.NETWORK"
#define VIRTMGR_FEATURE_REMOTE_ATTESTATION "com.android.kvm.REMOTE_ATTESTATION"
#define VIRTMGR_FEATURE_VENDOR_MODULES     "com.android.kvm.VENDOR_MODULES"

/* AVF's PARTITION_GRANULARITY_BYTES. */
#define VIRTMGR_PARTITION_GRANULARITY 4096u

struct virtmgr_server_params {
	struct loop *loop;
	struct vmgr *mgr;
	/* virtualizationservice, for DEBUG_LIST_VMS; NULL with local contexts. */
	struct vs_link *link;
	const struct trace *trace; /* may be NULL */
	/* The rows of a local DEBUG_LIST_VMS (AVF: own uid, parent pid). */
	uid_t requester_uid;
	pid_t requester_pid;
	/* early_virtmgr: DEBUG_LIST_VMS is EX_UNSUPPORTED_OPERATION (newer AVF), as every
	 * method that would need virtualizationservice. */
	bool early;
};

struct virtmgr_server;

int virtmgr_server_new(const struct virtmgr_server_params *p, struct virtmgr_server **ret);
/*
 * Closes every client connection (their VMs are released, so killed) and frees.
 * Not from inside a dispatch. Accepts NULL, returns NULL.
 */
struct virtmgr_server *virtmgr_server_free(struct virtmgr_server *s);

/*
 * Serve a client on @fd, a connected SOCK_SEQPACKET socket (taken over on
 * success; untouched on failure). -EINVAL (ipc_conn_new's message) for another
 * socket type. Not from inside a dispatch.
 */
int virtmgr_server_add_client(struct virtmgr_server *s, int fd);

/* Client connections still open. */
unsigned virtmgr_server_open_clients(const struct virtmgr_server *s);

#endif
