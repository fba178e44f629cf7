/* SPDX-License-Identifier: Apache-2.0 */
#include "service/virtmgr_server.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "ipc/ipc_conn.h"
#include "proto/avf_proto.h"

#define ACTOR "virtmgr"

/* AVF's partition headers (virtualizationmanager: format_as_*). */
#define ANDROID_VM_INSTANCE_MAGIC   "Android-VM-instance"
#define ANDROID_VM_INSTANCE_VERSION 1u
#define UNFORMATTED_STORAGE_MAGIC   "UNFORMATTED-STORAGE"

enum { FD_CONSOLE_OUT, FD_CONSOLE_IN, FD_OS_LOG, FD__COUNT };

struct virtmgr_client {
	struct virtmgr_server *srv;
	struct ipc_conn *conn;
	struct ipc_object *root; /* IVirtualizationService; data = this client */
	unsigned id;
	bool open;
	struct virtmgr_client *next;
};

struct virtmgr_server {
	struct virtmgr_server_params p;
	struct virtmgr_client *clients;
	unsigned n_open;
	unsigned next_id;
};

/* One IVirtualMachine object. */
struct vm_obj {
	struct virtmgr_server *srv;
	/* The client's references, as one handle reference; NULL once it holds none. */
	struct vm_handle *h;
};

/* ---- IVirtualMachineCallback: events to the client, ONEWAY ---- */

static void cb_send(struct ipc_proxy *cb, uint32_t method, uint32_t cid, int n_args, int32_t arg,
		    const char *text)
{
	struct ipc_msg *m = NULL;
	int r;

	r = ipc_msg_new(&m);
	if (r == 0)
		r = ipc_msg_put_i32(m, (int32_t)cid);
	if (r == 0 && n_args > 0)
		r = ipc_msg_put_i32(m, arg);
	if (r == 0 && text)
		r = ipc_msg_put_string(m, text);
	if (r == 0)
		r = ipc_oneway(cb, method, m);
	/*
	 * A client gone (-EPIPE) misses its callbacks, as a dead binder client does. One
	 * that is there must not miss one (out of memory): it would wait for it forever.
	 * Its connection breaks instead, as if virtmgr had died (AVF's virtmgr aborts
	 * on OOM), and its VMs go with its references.
	 */
	if (r < 0 && r != -EPIPE)
		ipc_conn_abort(ipc_proxy_conn(cb), r, avf_err_last()->msg);
	ipc_msg_free(m);
}

static void cb_started(void *data, uint32_t cid)
{
	cb_send(data, PROTO_CB_ON_PAYLOAD_STARTED, cid, 0, 0, NULL);
}

static void cb_ready(void *data, uint32_t cid)
{
	cb_send(data, PROTO_CB_ON_PAYLOAD_READY, cid, 0, 0, NULL);
}

static void cb_finished(void *data, uint32_t cid, int exit_code)
{
	cb_send(data, PROTO_CB_ON_PAYLOAD_FINISHED, cid, 1, exit_code, NULL);
}

static void cb_error(void *data, uint32_t cid, enum avf_error_code code, const char *message)
{
	cb_send(data, PROTO_CB_ON_ERROR, cid, 1, (int32_t)code, message ? message : "");
}

static void cb_died(void *data, uint32_t cid, enum avf_death_reason reason)
{
	cb_send(data, PROTO_CB_ON_DIED, cid, 1, (int32_t)reason, NULL);
}

static void cb_release(void *data)
{
	ipc_proxy_unref(data);
}

static const struct vm_callback_ops remote_callback_ops = {
    .payload_started = cb_started,
    .payload_ready = cb_ready,
    .payload_finished = cb_finished,
    .error = cb_error,
    .died = cb_died,
    .release = cb_release,
};

/* ---- IVirtualMachine ---- */

static void vm_obj_free(struct vm_obj *o)
{
	if (!o)
		return;
	vm_handle_unref(o->h);
	free(o);
}

static int vm_not_held(void)
{
	/* Unreachable from the wire (a released object has no id); kept for safety. */
	return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_STATE, "the VM handle was released");
}

static int vm_register_callback_call(struct vm_obj *o, struct ipc_msg *req)
{
	struct ipc_proxy *cb = NULL;
	int r;

	if ((r = ipc_msg_get_proxy(req, &cb)) < 0 || (r = ipc_msg_get_end(req)) < 0) {
		ipc_proxy_unref(cb);
		return avf_err_prefix("registerCallback");
	}
	/* The registration owns the proxy from here (cb_release). */
	r = vm_register_callback(vm_handle_vm(o->h), &remote_callback_ops, cb);
	if (r < 0)
		ipc_proxy_unref(cb);
	return r;
}

static int vm_connect_vsock(struct vm_obj *o, struct ipc_msg *req, struct ipc_msg *reply)
{
	struct vm *vm = vm_handle_vm(o->h);
	int32_t port;
	int r, fd = -1;

	if ((r = ipc_msg_get_i32(req, &port)) < 0 || (r = ipc_msg_get_end(req)) < 0)
		return avf_err_prefix("connectVsock");
	/* AVF's order: the state first, then the port, then the connection. */
	if (vm_status(vm)->run != VM_RUN_RUNNING)
		return avf_err_service(-ESRCH, "VM is not running");
	if ((uint32_t)port < 1024)
		return avf_err_service(-EACCES, "Can't connect to privileged port %u",
				       (uint32_t)port);
	if ((r = vmgr_connect_vsock(o->srv->p.mgr, o->h, (uint32_t)port, &fd)) < 0)
		return r;
	r = ipc_msg_put_fd(reply, fd); /* the message sends a duplicate */
	close(fd);
	return r;
}

static int vm_dispatch(struct ipc_object *obj, struct ipc_conn *conn, uint32_t method,
		       struct ipc_msg *req, struct ipc_msg *reply)
{
	struct vm_obj *o = ipc_object_data(obj);
	struct vmgr *mgr = o->srv->p.mgr;
	int r;

	if (!o->h)
		return vm_not_held();
	switch (method) {
	case PROTO_VM_GET_CID:
		if ((r = ipc_msg_get_end(req)) < 0)
			return r;
		return ipc_msg_put_i32(reply, (int32_t)vm_cid(vm_handle_vm(o->h)));
	case PROTO_VM_GET_STATE:
		if ((r = ipc_msg_get_end(req)) < 0)
			return r;
		return ipc_msg_put_i32(reply, (int32_t)vm_state(vm_handle_vm(o->h)));
	case PROTO_VM_REGISTER_CALLBACK: return vm_register_callback_call(o, req);
	case PROTO_VM_START:
		if ((r = ipc_msg_get_end(req)) < 0)
			return r;
		/* The console and log fds go to the VMM; vmgr closes its copies. */
		return vmgr_start(mgr, o->h);
	case PROTO_VM_STOP:
		if ((r = ipc_msg_get_end(req)) < 0)
			return r;
		return vmgr_stop(mgr, o->h);
	case PROTO_VM_CONNECT_VSOCK: return vm_connect_vsock(o, req, reply);
	default: return ipc_unknown_method(obj, method);
	}
}

/* The client holds no reference any more: this is its last handle reference going. */
static void vm_on_release(struct ipc_object *obj, struct ipc_conn *conn)
{
	struct vm_obj *o = ipc_object_data(obj);

	if (!o->h)
		return;
	trace_emitf(o->srv->p.trace, ACTOR, "client released vm:%u", vm_cid(vm_handle_vm(o->h)));
	/* The last reference kills a running VM (onDied sent before this returns). */
	o->h = vm_handle_unref(o->h);
}

static void vm_destroy(void *data)
{
	vm_obj_free(data);
}

static const struct ipc_object_ops vm_obj_ops = {
    .name = PROTO_NAME_VM,
    .dispatch = vm_dispatch,
    .on_release = vm_on_release,
    .destroy = vm_destroy,
};

/* ---- IVirtualizationService ---- */

static int get_nullable_fd(struct ipc_msg *req, const char *what, int *ret)
{
	int r;

	if (ipc_msg_peek(req) == IPC_T_NULL) {
		*ret = -1;
		return ipc_msg_get_null(req);
	}
	r = ipc_msg_get_fd(req, ret);
	if (r < 0)
		avf_err_prefix("createVm: %s", what);
	return r;
}

static int vs_create_vm(struct virtmgr_server *s, struct ipc_msg *req, struct ipc_msg *reply)
{
	static const char *const fd_names[FD__COUNT] = {"consoleOutFd", "consoleInFd", "osLogFd"};
	int fds[FD__COUNT] = {-1, -1, -1};
	struct ipc_object *obj = NULL;
	struct vm_handle *h = NULL;
	struct vm_obj *o = NULL;
	struct vm_config c;
	int r;

	r = proto_get_config(req, &c);
	if (r < 0) {
		avf_err_prefix("createVm");
		goto out;
	}
	for (int i = 0; i < FD__COUNT && r == 0; i++)
		r = get_nullable_fd(req, fd_names[i], &fds[i]);
	if (r == 0 && (r = ipc_msg_get_end(req)) < 0)
		avf_err_prefix("createVm");
	if (r < 0)
		goto out;
	/* May wait for virtualizationservice (see .h, Re-entrancy): nothing held but locals.
	 * The fds are vmgr's from here, whatever the result. */
	r = vmgr_create_vm_fds(s->p.mgr, &c,
			       &(struct vmgr_vm_fds){.console_out = fds[FD_CONSOLE_OUT],
						     .console_in = fds[FD_CONSOLE_IN],
						     .log = fds[FD_OS_LOG]},
			       &h);
	for (int i = 0; i < FD__COUNT; i++)
		fds[i] = -1;
	if (r < 0)
		goto out;
	o = calloc(1, sizeof(*o));
	if (!o) {
		r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
		goto out;
	}
	o->srv = s;
	o->h = h;
	h = NULL;
	r = ipc_object_new(&vm_obj_ops, o, &obj);
	if (r < 0)
		goto out;
	o = NULL; /* the object owns it (vm_destroy) */
	/* Exported when the reply goes; if it never does, the object dies with the reply. */
	r = ipc_msg_put_object(reply, obj);
out:
	ipc_object_unref(obj);
	vm_obj_free(o);
	vm_handle_unref(h);
	for (int i = 0; i < FD__COUNT; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	vm_config_clear(&c);
	return r;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* AVF's initializeWritablePartition, step by step and in its order. */
static int init_partition(int fd, int64_t size_bytes, int32_t type)
{
	uint8_t hdr[sizeof(ANDROID_VM_INSTANCE_MAGIC) - 1 + 2];
	uint64_t size;
	int r;

	if (size_bytes < 0)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "Invalid size: %lld",
				   (long long)size_bytes);
	size = ((uint64_t)size_bytes + VIRTMGR_PARTITION_GRANULARITY - 1) /
	       VIRTMGR_PARTITION_GRANULARITY * VIRTMGR_PARTITION_GRANULARITY;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return avf_err_service(-errno, "failed to move cursor to start: %s",
				       strerror(errno));
	if (ftruncate(fd, 0) < 0)
		return avf_err_service(-errno, "Failed to reset a file: %s", strerror(errno));
	/* Sparse: only the logical size changes. */
	if (size > INT64_MAX || ftruncate(fd, (off_t)size) < 0)
		return avf_err_service(
		    size > INT64_MAX ? -EFBIG : -errno, "Failed to extend file to %llu bytes: %s",
		    (unsigned long long)size, strerror(size > INT64_MAX ? EFBIG : errno));
	switch (type) {
	case PROTO_PARTITION_RAW: return 0;
	case PROTO_PARTITION_ANDROID_VM_INSTANCE:
		memcpy(hdr, ANDROID_VM_INSTANCE_MAGIC, sizeof(ANDROID_VM_INSTANCE_MAGIC) - 1);
		hdr[sizeof(hdr) - 2] = ANDROID_VM_INSTANCE_VERSION & 0xff; /* u16 little-endian */
		hdr[sizeof(hdr) - 1] = ANDROID_VM_INSTANCE_VERSION >> 8;
		r = write_all(fd, hdr, sizeof(hdr));
		break;
	case PROTO_PARTITION_ENCRYPTEDSTORE:
		r = write_all(fd, UNFORMATTED_STORAGE_MAGIC, sizeof(UNFORMATTED_STORAGE_MAGIC) - 1);
		break;
	default:
		return avf_err_service(-EOPNOTSUPP,
				       "Failed to initialize partition as PartitionType(%d): "
				       "Unsupported partition type PartitionType(%d)",
				       type, type);
	}
	if (r < 0)
		return avf_err_service(r, "Failed to initialize partition as %s: %s",
				       type == PROTO_PARTITION_ENCRYPTEDSTORE
					   ? "ENCRYPTEDSTORE"
					   : "ANDROID_VM_INSTANCE",
				       strerror(-r));
	return 0;
}

static int vs_init_partition(struct ipc_msg *req)
{
	int64_t size;
	int32_t type;
	int fd = -1, r;

	if ((r = ipc_msg_get_fd(req, &fd)) < 0 || (r = ipc_msg_get_i64(req, &size)) < 0 ||
	    (r = ipc_msg_get_i32(req, &type)) < 0 || (r = ipc_msg_get_end(req)) < 0)
		avf_err_prefix("initializeWritablePartition");
	else
		r = init_partition(fd, size, type);
	if (fd >= 0)
		close(fd);
	return r;
}

static bool known_feature(const char *name)
{
	static const char *const features[] = {
	    VIRTMGR_FEATURE_DICE_CHANGES,       VIRTMGR_FEATURE_LLPVM_CHANGES,
	    VIRTMGR_FEATURE_MULTI_TENANT,       VIRTMGR_FEATURE_NETWORK,
	    VIRTMGR_FEATURE_REMOTE_ATTESTATION, VIRTMGR_FEATURE_VENDOR_MODULES,
	};

	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
		if (strcmp(name, features[i]) == 0)
			return true;
	return false;
}

static int vs_is_feature_enabled(struct virtmgr_server *s, struct ipc_msg *req,
				 struct ipc_msg *reply)
{
	const char *name;
	int r;

	if ((r = ipc_msg_get_string(req, &name)) < 0 || (r = ipc_msg_get_end(req)) < 0)
		return avf_err_prefix("isFeatureEnabled");
	/* AVF's are build flags; none of those features exists here. Unknown: false, noted. */
	if (!known_feature(name))
		trace_emitf(s->p.trace, ACTOR, "isFeatureEnabled: unknown feature '%s'", name);
	return ipc_msg_put_bool(reply, false);
}

static int put_rows(struct ipc_msg *reply, const struct proto_debug_row *rows, size_t n)
{
	int r = ipc_msg_put_u32(reply, (uint32_t)n);

	for (size_t i = 0; r == 0 && i < n; i++)
		r = proto_put_debug_row(reply, &rows[i]);
	return r;
}

static int vs_debug_list(struct virtmgr_server *s, struct ipc_msg *req, struct ipc_msg *reply)
{
	struct vs_link_vm_list list;
	struct proto_debug_row *rows = NULL;
	struct vmgr_vm_info *vms = NULL;
	size_t n;
	int r;

	if ((r = ipc_msg_get_end(req)) < 0)
		return avf_err_prefix("debugListVms");
	if (s->p.early)
		return avf_err_set(-EOPNOTSUPP, AVF_EX_UNSUPPORTED_OPERATION,
				   "debugListVms is not supported for early VMs");
	if (s->p.link) {
		/* Waits (see .h): every VM of every virtmgr, from virtualizationservice. */
		r = vs_link_debug_list(s->p.link, &list);
		if (r < 0)
			return r;
		r = put_rows(reply, list.rows, list.n);
		vs_link_vm_list_clear(&list);
		return r;
	}
	n = vmgr_vm_count(s->p.mgr);
	if (n && (!(vms = calloc(n, sizeof(*vms))) || !(rows = calloc(n, sizeof(*rows))))) {
		free(vms);
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	}
	n = vmgr_list(s->p.mgr, vms, n);
	for (size_t i = 0; i < n; i++)
		rows[i] = (struct proto_debug_row){
		    .cid = (int32_t)vms[i].cid,
		    .state = (int32_t)vms[i].state,
		    .requester_uid = (int32_t)s->p.requester_uid,
		    .requester_pid = (int32_t)s->p.requester_pid,
		    .name = vms[i].name,
		    .temp_dir = vms[i].temp_dir,
		};
	r = put_rows(reply, rows, n);
	free(rows);
	free(vms);
	return r;
}

static int root_dispatch(struct ipc_object *obj, struct ipc_conn *conn, uint32_t method,
			 struct ipc_msg *req, struct ipc_msg *reply)
{
	struct virtmgr_client *cl = ipc_object_data(obj);

	switch (method) {
	case PROTO_VS_CREATE_VM: return vs_create_vm(cl->srv, req, reply);
	case PROTO_VS_INIT_WRITABLE_PARTITION: return vs_init_partition(req);
	case PROTO_VS_IS_FEATURE_ENABLED: return vs_is_feature_enabled(cl->srv, req, reply);
	case PROTO_VS_DEBUG_LIST_VMS: return vs_debug_list(cl->srv, req, reply);
	default: return ipc_unknown_method(obj, method);
	}
}

static const struct ipc_object_ops root_ops = {
    .name = PROTO_NAME_VS,
    .dispatch = root_dispatch,
};

/* ---- clients ---- */

static void client_on_close(struct ipc_conn *conn, const struct avf_error *why, void *data)
{
	struct virtmgr_client *cl = data;

	/* Every IVirtualMachine it held was released just before (ipc's close order). */
	cl->open = false;
	cl->srv->n_open--;
	trace_emitf(cl->srv->p.trace, ACTOR, "client %u closed (%s)", cl->id,
		    why->msg[0] ? why->msg : "EOF");
}

static const struct ipc_conn_ops client_conn_ops = {
    .on_close = client_on_close,
};

static void client_free(struct virtmgr_client *cl)
{
	/* A still-open connection releases its objects here (VMs killed), without on_close. */
	if (cl->open)
		cl->srv->n_open--;
	ipc_conn_free(cl->conn);
	ipc_object_unref(cl->root);
	free(cl);
}

/* Free the clients whose connection closed. */
static void reap_closed(struct virtmgr_server *s)
{
	struct virtmgr_client **pp = &s->clients, *cl;

	while ((cl = *pp)) {
		if (cl->open) {
			pp = &cl->next;
			continue;
		}
		*pp = cl->next;
		client_free(cl);
	}
}

int virtmgr_server_new(const struct virtmgr_server_params *p, struct virtmgr_server **ret)
{
	struct virtmgr_server *s;

	if (!p || !p->loop || !p->mgr)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "virtmgr_server needs a loop and a manager");
	s = calloc(1, sizeof(*s));
	if (!s)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	s->p = *p;
	s->next_id = 1;
	*ret = s;
	return 0;
}

struct virtmgr_server *virtmgr_server_free(struct virtmgr_server *s)
{
	struct virtmgr_client *cl;

	if (!s)
		return NULL;
	while ((cl = s->clients)) {
		s->clients = cl->next;
		client_free(cl);
	}
	free(s);
	return NULL;
}

int virtmgr_server_add_client(struct virtmgr_server *s, int fd)
{
	struct virtmgr_client *cl;
	int r;

	reap_closed(s);
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	cl->srv = s;
	cl->id = s->next_id++;
	r = ipc_object_new(&root_ops, cl, &cl->root);
	if (r < 0) {
		free(cl);
		return r;
	}
	r = ipc_conn_new(s->p.loop, fd, cl->root, &client_conn_ops, cl, &cl->conn);
	if (r < 0) {
		ipc_object_unref(cl->root);
		free(cl);
		return r;
	}
	cl->open = true;
	cl->next = s->clients;
	s->clients = cl;
	s->n_open++;
	trace_emitf(s->p.trace, ACTOR, "client %u connected", cl->id);
	return 0;
}

unsigned virtmgr_server_open_clients(const struct virtmgr_server *s)
{
	return s->n_open;
}
