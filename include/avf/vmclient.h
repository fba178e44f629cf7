/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libvmclient: the client API of avf-ref, the C counterpart of AVF's vmclient
 * (research/avf-spec.md 6.2) and libavf (6.4).
 *
 * Model. avf_client_connect() forks a private virtmgr (or, for early VMs,
 * early_virtmgr) exactly as AVF's client library does (`virtmgr --rpc-server-fd N
 * --ready-fd M`, one byte on the ready pipe) and talks to it over a SOCK_SEQPACKET socketpair. avf_vm_create() returns
 * a handle (struct avf_vm) that holds one strong reference to the VM in virtmgr:
 * the VM lives while some reference exists; when the last handle of every client
 * holding it is gone (avf_vm_unref, avf_client_disconnect, or this process dying)
 * virtmgr kills the VM. virtmgr reads its configuration from the environment it
 * inherits (AVF_VS_SOCKET, AVF_BACKEND, AVF_FAKEVMM, AVF_TRACE_FILE: docs/virtmgr.md).
 *
 * Events: a pollable fd and a dispatch call, no library thread. Callbacks run
 * only inside avf_client_dispatch() and the avf_vm_wait_*() functions, on the
 * caller's thread, never inside any other call. Why: a library thread would make
 * every callback a concurrency problem for the user and make traces
 * nondeterministic; with dispatch, a single-threaded program (the scenario
 * harness, the `vm` tool) sees events at points it chooses, in arrival order. A
 * program that wants a thread runs `for (;;) { poll(fd); avf_client_dispatch(); }`
 * on one.
 *
 * Callbacks. The library registers one internal callback with every VM at create
 * (before start, as vmclient does) to track the state and the death reason the
 * wait functions use. avf_vm_register_callback() registers one more callback *with
 * virtmgr* (IVirtualMachine.registerCallback): it receives only the events that
 * happen after its registration is processed there, no replay (AVF's rule).
 *
 * Thread-safety: none inside one client. A client, its VMs and their callbacks
 * belong to one thread at a time (the caller serialises). Different clients may
 * be used from different threads at once. The error slot is per thread.
 *
 * Errors: functions return 0 (or a count) on success and a negative errno on
 * failure; avf_last_error() then describes it for the calling thread: the binder
 * exception code virtmgr sent (AVF_EX_* values of binder: -3 ILLEGAL_ARGUMENT,
 * -5 ILLEGAL_STATE, -8 SERVICE_SPECIFIC, ...), its service-specific code, and the
 * message. Remote refusals return -EREMOTEIO. virtmgr gone: -EPIPE. A call that
 * got no reply within the call timeout: -ETIMEDOUT.
 *
 * fds: every fd the library creates is O_CLOEXEC; fds passed in are duplicated
 * (the caller keeps its own); virtmgr is reaped by avf_client_disconnect().
 */
#ifndef AVF_VMCLIENT_H
#define AVF_VMCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <avf/avf_types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct avf_client;
struct avf_vm;

/* ---- errors ---- */

struct avf_error_info {
	int err;          /* negative errno, 0 if no error was recorded */
	int exception;    /* binder exception code (0 none, -8 service specific, ...) */
	int service_code; /* meaningful with exception -8; AVF uses -1 */
	const char *message;
};
/* The last error of this thread (valid until the next library call on it). */
const struct avf_error_info *avf_last_error(void);

/* ---- connection ---- */

struct avf_client_options {
	/* virtmgr to fork. NULL: $AVF_VIRTMGR, else the virtmgr built with this library
	 * (with @early: $AVF_EARLY_VIRTMGR, else the early_virtmgr built with it). */
	const char *virtmgr_path;
	/* How long to wait for virtmgr's ready byte; 0: 10 s. */
	int ready_timeout_ms;
	/* Bound on every call to virtmgr (it includes stop(), which waits for the VMM to be
	 * reaped); 0: 60 s. */
	int call_timeout_ms;
	/*
	 * Early VMs (AVF A16 VirtualizationService::new_early, research/avf-spec.md 7):
	 * fork early_virtmgr instead of virtmgr, with the same two flags. Each VM then
	 * gets the static CID that the early VM declarations give its name, and only if
	 * this program is the one they name (docs/early-virtmgr.md): the caller must be
	 * declared in <root>/<partition>/etc/avf/early_vms*.xml (root: $AVF_EARLY_ROOT,
	 * else /) and hold CAP_IPC_LOCK, CAP_NET_BIND_SERVICE and CAP_SYS_RESOURCE in
	 * its effective set. debugListVms is unsupported there.
	 */
	bool early;
	/*
	 * Fork virtmgr into a process group of its own (setpgid), so that the signals a
	 * terminal sends to its foreground group (Ctrl-C: SIGINT) reach only this program,
	 * which then decides what happens to its VMs (the `vm` tool stops its VM and
	 * reports `VM ended: Killed`). Default false: virtmgr stays in the caller's group,
	 * as AVF's client library leaves it. The VMMs live in virtmgr's group.
	 */
	bool own_process_group;
};

/*
 * Fork virtmgr and connect. @opts may be NULL (defaults). Errors: -ENOENT /
 * -EACCES when virtmgr cannot be executed, -ECONNREFUSED when it exited before
 * sending its ready byte (message with its exit status), -ETIMEDOUT.
 */
int avf_client_connect(const struct avf_client_options *opts, struct avf_client **ret);

/*
 * Close the connection: virtmgr drops every reference this client held (its VMs
 * are killed), exits, and is reaped here (bounded wait, then SIGKILL). Handles
 * of this client stay valid objects (unref them) but every call on them fails
 * with -EPIPE. Accepts NULL.
 */
void avf_client_disconnect(struct avf_client *c);

/* false once virtmgr is gone (it died, or the client disconnected). */
bool avf_client_is_alive(const struct avf_client *c);
pid_t avf_client_virtmgr_pid(const struct avf_client *c);

/*
 * Readable (POLLIN) whenever avf_client_dispatch() has something to do. Owned by
 * the client; do not read or close it.
 */
int avf_client_fd(const struct avf_client *c);

/*
 * Process what virtmgr sent and run the callbacks that are due, waiting up to
 * @timeout_ms (0: do not wait, -1: until at least one callback ran or virtmgr is
 * gone). Returns the number of callbacks run, or -EPIPE when virtmgr is gone and
 * nothing is left to deliver.
 */
int avf_client_dispatch(struct avf_client *c, int timeout_ms);

/* ---- service calls ---- */

/* One row of debugListVms: every VM of every virtmgr, as virtualizationservice sees it. */
struct avf_vm_info {
	uint32_t cid;
	enum avf_vm_state state;
	uid_t requester_uid;
	pid_t requester_pid;
	char *name;
	char *temp_dir; /* "" when none */
};
/* *ret_rows is malloc'd (free with avf_vm_info_free); *ret_n rows. */
int avf_client_list_vms(struct avf_client *c, struct avf_vm_info **ret_rows, size_t *ret_n);
void avf_vm_info_free(struct avf_vm_info *rows, size_t n);

/* IVirtualizationService.isFeatureEnabled (AVF's feature names, e.g. "com.android.kvm.NETWORK"). */
int avf_client_is_feature_enabled(struct avf_client *c, const char *feature, bool *ret);

enum avf_partition_type {
	AVF_PARTITION_RAW = 0,
	AVF_PARTITION_ANDROID_VM_INSTANCE = 1,
	AVF_PARTITION_ENCRYPTEDSTORE = 2,
};
/* IVirtualizationService.initializeWritablePartition on the open file @fd. */
int avf_client_init_partition(struct avf_client *c, int fd, int64_t size_bytes,
			      enum avf_partition_type type);

/* ---- VMs ---- */

enum avf_vm_kind {
	AVF_VM_KIND_RAW = 0, /* VirtualMachineRawConfig */
	AVF_VM_KIND_APP = 1, /* VirtualMachineAppConfig: boot hangup after 30 s without payload */
};

/* Partition (VirtualMachineRawConfig's): one component of a composite disk. */
struct avf_vm_partition {
	const char *label; /* GPT label: at most 36 UTF-16 units, unique in its disk */
	int fd;            /* the partition image (required) */
	bool writable;
};

/* DiskImage: exactly one of @image_fd and a non-empty @partitions. */
struct avf_vm_disk {
	int image_fd; /* -1: the disk is a composite of @partitions */
	const struct avf_vm_partition *partitions;
	size_t n_partitions;
	bool writable; /* read-write (--rwdisk) rather than read-only (--disk) */
};

/*
 * A VM config (AVF's VirtualMachineRawConfig, research/avf-spec.md 2.5, for the
 * fields the backends use). Start from avf_vm_config_init(): it sets every fd to
 * -1 (none), and a zeroed struct would name fd 0 three times.
 *
 * Files: every fd here stays the caller's. avf_vm_create() sends duplicates
 * (close-on-exec, as for the console fds) and returns; the caller may close its
 * own right after. Open them as AVF's `vm` does: read-only, read-write for a
 * writable disk or partition (the VMM gets the same open file, mode included).
 * When any file is set (kernel, initrd, bootloader, a disk), createVm applies
 * AVF's rules: exactly one of kernel and bootloader, no initrd with a bootloader
 * (service-specific -1), each disk exactly one of an image and partitions
 * (EX_ILLEGAL_ARGUMENT). A config with no file at all is accepted: the fake guest
 * boots nothing (the crosvm backend refuses it). One createVm carries at most 253
 * fds (the kernel's SCM_MAX_FD), the console fds included (-E2BIG otherwise).
 */
struct avf_vm_config {
	enum avf_vm_kind kind;
	const char *name;        /* may be NULL */
	uint32_t memory_mib;     /* 0: backend default */
	uint32_t cpus;           /* 0: one vCPU */
	bool protected_vm;
	/* The fake guest's behaviour (fakes/script syntax, docs/guest-script.md), e.g.
	 * "started; ready; finished 0; exit 0". NULL: the default guest. */
	const char *fake_script;
	int kernel_fd;     /* -1: none */
	int initrd_fd;     /* -1: none */
	int bootloader_fd; /* -1: none */
	const char *params; /* the kernel command line; NULL: none */
	const struct avf_vm_disk *disks; /* in order: the guest's vda, vdb, ... */
	size_t n_disks;
	/*
	 * An app VM's payload (AVF_VM_KIND_APP; docs/payload-api.md). AVF passes an APK
	 * and a binary name in it; we pass the payload library itself, which the guest
	 * agent runs with AVmPayload_main(). payload_fd -1: no payload (the fake guest
	 * plays fake_script). With a payload, instance_fd is required and the default
	 * guest script is `agent` (run the guest agent, docs/guest-script.md).
	 */
	int payload_fd;                  /* the payload library, read-only */
	const char *payload_binary_name; /* PayloadConfig.payloadBinaryName: no '/' */
	int payload_config_fd;           /* AppConfig.configPath's JSON; -1: none */
	int instance_fd;                 /* instance image, read-write */
	int storage_fd;                  /* encrypted storage image, read-write; -1: none */
};
/* A raw, unnamed VM with backend defaults and no files (every fd -1). */
void avf_vm_config_init(struct avf_vm_config *cfg);

/*
 * IVirtualizationService.createVm: a NOT_STARTED VM. @console_out, @console_in,
 * @log: fds for the VM's console and log, or -1. Every fd given, here and in
 * @cfg, is duplicated: the caller keeps its own. *ret holds one reference.
 */
int avf_vm_create(struct avf_client *c, const struct avf_vm_config *cfg, int console_out,
		  int console_in, int log, struct avf_vm **ret);

struct avf_vm *avf_vm_ref(struct avf_vm *vm);
/* Drops one reference; the last one releases the VM in virtmgr. Accepts NULL. */
void avf_vm_unref(struct avf_vm *vm);

/* The CID, read once at create. */
uint32_t avf_vm_cid(const struct avf_vm *vm);
int avf_vm_start(struct avf_vm *vm);
/* Kills the VM; returns after virtmgr has delivered onDied (it may not have
 * arrived here yet: wait for it with avf_vm_wait_for_death()). */
int avf_vm_stop(struct avf_vm *vm);
/*
 * IVirtualMachine.connectVsock: a stream to @port of the running guest, in *ret_fd
 * (close-on-exec; the caller closes it). AVF's errors: service-specific "VM is not
 * running" before start or after death, "Can't connect to privileged port N" below
 * 1024. The fake VM's vsock is a unix socket per port, served by the payload's
 * AVmPayload_runVsockRpcServer (docs/payload-api.md); nothing listening on @port is
 * a service-specific error. The stream is raw bytes: there is no binder session.
 */
int avf_vm_connect_vsock(struct avf_vm *vm, uint32_t port, int *ret_fd);
/* IVirtualMachine.getState (remote). */
int avf_vm_get_state(struct avf_vm *vm, enum avf_vm_state *ret);

/*
 * The state as this client's tracking callback saw it: NOT_STARTED, STARTING
 * (after a successful start), STARTED, READY, FINISHED (onPayloadFinished or
 * onError, as vmclient), DEAD (onDied). No remote call.
 */
enum avf_vm_state avf_vm_tracked_state(const struct avf_vm *vm);

struct avf_vm_callbacks {
	void (*on_payload_started)(struct avf_vm *vm, void *data);
	void (*on_payload_ready)(struct avf_vm *vm, void *data);
	void (*on_payload_finished)(struct avf_vm *vm, int exit_code, void *data);
	void (*on_error)(struct avf_vm *vm, enum avf_error_code code, const char *message,
			 void *data);
	void (*on_died)(struct avf_vm *vm, enum avf_death_reason reason, void *data);
};
/*
 * IVirtualMachine.registerCallback. Any member may be NULL. @cbs is copied. The
 * callbacks run from avf_client_dispatch() / the waits, in arrival order.
 */
int avf_vm_register_callback(struct avf_vm *vm, const struct avf_vm_callbacks *cbs, void *data);

/*
 * Wait (dispatching, so callbacks run) until onDied arrived, at most @timeout_ms
 * (-1: no limit). 0 with *ret_reason; -ETIMEDOUT; -EPIPE if virtmgr died first
 * (vmclient's VirtualizationServiceDied).
 */
int avf_vm_wait_for_death(struct avf_vm *vm, int timeout_ms, enum avf_death_reason *ret_reason);

/*
 * Wait until the tracked state has been @state (it may have moved on since), at
 * most @timeout_ms. -ETIMEDOUT; -ECHILD when the VM died, or -ENOENT when it moved
 * past @state, without passing through it (the message says which states it went
 * through); -EPIPE if virtmgr died.
 */
int avf_vm_wait_for_state(struct avf_vm *vm, enum avf_vm_state state, int timeout_ms);

/* ---- names ---- */

/* "NOT_STARTED", ..., "DEAD"; "UNKNOWN" for a value that is not a state. */
const char *avf_vm_state_name(enum avf_vm_state s);
/* AVF's enum names: "KILLED", "SHUTDOWN", ...; "UNRECOGNISED" for unknown values. */
const char *avf_death_reason_name(enum avf_death_reason r);

#ifdef __cplusplus
}
#endif

#endif
