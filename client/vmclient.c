/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libvmclient: see include/avf/vmclient.h for the contract.
 *
 * Inside: one core/loop per client drives one ipc connection to virtmgr. Events
 * from virtmgr arrive as ONEWAY calls on callback objects (one tracking object
 * per VM plus one per avf_vm_register_callback). The tracker updates the VM's
 * state as soon as the message is read (so waits see it even when it arrives
 * inside some other call); user callbacks are queued and run only from
 * avf_client_dispatch() and the waits. The public fd is an epoll set of the
 * loop's epoll fd and an eventfd that is signalled while the queue is non-empty.
 */
#include <avf/vmclient.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "base/mono_time.h"
#include "ipc/ipc_conn.h"
#include "loop/loop.h"
#include "proto/avf_proto.h"
#include "vm/death_reason.h"
#include "virtmgr_spawn.h"

#define DEFAULT_READY_TIMEOUT_MS 10000
#define DEFAULT_CALL_TIMEOUT_MS  60000
#define REAP_TIMEOUT_MS          10000

struct cb_target;

/* One queued callback invocation. */
struct event {
	struct event *next;
	struct ipc_object *target; /* ref on the cb_target's object */
	uint32_t method;
	int32_t a; /* exit code, error code or death reason */
	char *message;
};

struct avf_client {
	unsigned refs; /* the user's + one per live avf_vm + dispatch in progress */
	bool disconnected;
	bool alive;
	struct loop *loop;
	struct ipc_conn *conn;
	struct ipc_proxy *svc;
	struct virtmgr_proc proc;
	uint64_t call_timeout_ns;
	int epfd; /* the public fd */
	int evfd; /* readable while the queue is non-empty */
	struct event *q_head, *q_tail;
};

struct avf_vm {
	unsigned refs;
	struct avf_client *c;
	struct ipc_proxy *proxy;
	uint32_t cid;
	enum avf_vm_state state;
	unsigned passed; /* bit per avf_vm_state the tracker saw */
	bool died;
	enum avf_death_reason reason;
	struct ipc_object **targets; /* [0] is the tracker once registered */
	size_t n_targets;
};

/* A callback object's data: which VM (weak: cleared when the VM goes) and what to call. */
struct cb_target {
	struct avf_vm *vm;
	bool tracker;
	/* Registered while the VM was alive (as far as this connection's ordered stream
	 * shows): virtmgr will send it onDied; got_died once that arrived. */
	bool expect_died, got_died;
	struct avf_vm_callbacks cbs;
	void *data;
};

/* ---- errors ---- */

const struct avf_error_info *avf_last_error(void)
{
	static __thread struct avf_error_info info;
	const struct avf_error *e = avf_err_last();

	info.err = e->err;
	info.exception = e->ex;
	info.service_code = e->service_code;
	info.message = e->msg;
	return &info;
}

static int client_gone(void)
{
	return avf_err_set(-EPIPE, AVF_EX_TRANSACTION_FAILED, "virtmgr is gone");
}

/* ---- client lifetime ---- */

static void queue_clear(struct avf_client *c)
{
	struct event *e;
	uint64_t v;

	while ((e = c->q_head)) {
		c->q_head = e->next;
		ipc_object_unref(e->target);
		free(e->message);
		free(e);
	}
	c->q_tail = NULL;
	while (read(c->evfd, &v, sizeof(v)) > 0)
		;
}

static void client_unref(struct avf_client *c)
{
	if (!c || --c->refs)
		return;
	queue_clear(c);
	ipc_proxy_unref(c->svc);
	ipc_conn_free(c->conn);
	virtmgr_reap(&c->proc, REAP_TIMEOUT_MS);
	loop_free(c->loop);
	close(c->epfd);
	close(c->evfd);
	free(c);
}

static void on_conn_close(struct ipc_conn *conn, const struct avf_error *why, void *data)
{
	struct avf_client *c = data;

	/* virtmgr closed its end: it exited or is exiting. Reap it now (bounded). */
	c->alive = false;
	virtmgr_reap(&c->proc, REAP_TIMEOUT_MS);
}

static const struct ipc_conn_ops conn_ops = {.on_close = on_conn_close};

static int add_to_epoll(int epfd, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int avf_client_connect(const struct avf_client_options *opts, struct avf_client **ret)
{
	struct avf_client *c;
	bool early = opts && opts->early;
	/* Early VMs: early_virtmgr, found the same way under its own names. */
	const char *path = opts && opts->virtmgr_path
			       ? opts->virtmgr_path
			       : getenv(early ? "AVF_EARLY_VIRTMGR" : "AVF_VIRTMGR");
	int ready_ms = opts && opts->ready_timeout_ms > 0 ? opts->ready_timeout_ms
							  : DEFAULT_READY_TIMEOUT_MS;
	int call_ms = opts && opts->call_timeout_ms > 0 ? opts->call_timeout_ms
							: DEFAULT_CALL_TIMEOUT_MS;
	int sock = -1, r;

	if (!ret)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "avf_client_connect: ret is NULL");
	if (!path || !*path)
		path = early ? AVF_EARLY_VIRTMGR_DEFAULT : AVF_VIRTMGR_DEFAULT;
	c = calloc(1, sizeof(*c));
	if (!c)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	c->refs = 1;
	c->proc.pidfd = -1;
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	c->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c->call_timeout_ns = (uint64_t)call_ms * 1000000ull;
	if (c->epfd < 0 || c->evfd < 0) {
		r = avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "epoll/eventfd: %s", strerror(errno));
		goto fail;
	}
	if ((r = loop_new(LOOP_CLOCK_MONOTONIC, &c->loop)) < 0)
		goto fail;
	if ((r = add_to_epoll(c->epfd, loop_fd(c->loop))) < 0 ||
	    (r = add_to_epoll(c->epfd, c->evfd)) < 0) {
		avf_err_set(r, AVF_EX_SERVICE_SPECIFIC, "epoll_ctl: %s", strerror(-r));
		goto fail;
	}
	if ((r = virtmgr_spawn(path, ready_ms, opts && opts->own_process_group, &sock, &c->proc)) < 0)
		goto fail;
	if ((r = ipc_conn_new(c->loop, sock, NULL, &conn_ops, c, &c->conn)) < 0) {
		close(sock);
		goto fail;
	}
	if ((r = ipc_conn_root(c->conn, &c->svc)) < 0)
		goto fail;
	c->alive = true;
	*ret = c;
	return 0;
fail:
	{
		/* Keep the error that made us fail, not what cleanup may record. */
		struct avf_error saved = *avf_err_last();
		c->refs = 1;
		client_unref(c);
		avf_err_restore(&saved);
	}
	return r;
}

void avf_client_disconnect(struct avf_client *c)
{
	if (!c || c->disconnected)
		return;
	c->disconnected = true;
	c->alive = false;
	queue_clear(c);
	/* Closing our end makes virtmgr drop every reference we held and exit. */
	c->conn = ipc_conn_free(c->conn);
	virtmgr_reap(&c->proc, REAP_TIMEOUT_MS);
	client_unref(c);
}

bool avf_client_is_alive(const struct avf_client *c)
{
	return c && c->alive;
}

pid_t avf_client_virtmgr_pid(const struct avf_client *c)
{
	return c ? c->proc.pid : 0;
}

int avf_client_fd(const struct avf_client *c)
{
	return c ? c->epfd : -EINVAL;
}

/* ---- calls ---- */

static int call(struct avf_client *c, struct ipc_proxy *p, uint32_t method, struct ipc_msg *req,
		struct ipc_msg **reply)
{
	if (!c->alive)
		return client_gone();
	return ipc_call(p, method, req, c->call_timeout_ns, reply);
}

static int new_msg(struct ipc_msg **m)
{
	return ipc_msg_new(m);
}

int avf_client_list_vms(struct avf_client *c, struct avf_vm_info **ret_rows, size_t *ret_n)
{
	struct ipc_msg *reply = NULL;
	struct avf_vm_info *rows = NULL;
	uint32_t n = 0, i = 0;
	int r;

	if (!c || !ret_rows || !ret_n)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "avf_client_list_vms: NULL argument");
	if ((r = call(c, c->svc, PROTO_VS_DEBUG_LIST_VMS, NULL, &reply)) < 0)
		return r;
	if ((r = ipc_msg_get_u32(reply, &n)) < 0)
		goto out;
	if (n > PROTO_DEBUG_ROWS_MAX) {
		r = avf_err_set(-EBADMSG, AVF_EX_BAD_PARCELABLE, "debugListVms: %u rows is too many", n);
		goto out;
	}
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows) {
		r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct proto_debug_row row;
		if ((r = proto_get_debug_row(reply, &row)) < 0)
			goto out;
		rows[i].cid = (uint32_t)row.cid;
		rows[i].state = (enum avf_vm_state)row.state;
		rows[i].requester_uid = (uid_t)row.requester_uid;
		rows[i].requester_pid = (pid_t)row.requester_pid;
		rows[i].name = strdup(row.name);
		rows[i].temp_dir = strdup(row.temp_dir);
		if (!rows[i].name || !rows[i].temp_dir) {
			i++;
			r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
			goto out;
		}
	}
	r = ipc_msg_get_end(reply);
out:
	ipc_msg_free(reply);
	if (r < 0) {
		avf_vm_info_free(rows, i);
		return r;
	}
	*ret_rows = rows;
	*ret_n = n;
	return 0;
}

void avf_vm_info_free(struct avf_vm_info *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++) {
		free(rows[i].name);
		free(rows[i].temp_dir);
	}
	free(rows);
}

int avf_client_is_feature_enabled(struct avf_client *c, const char *feature, bool *ret)
{
	struct ipc_msg *req = NULL, *reply = NULL;
	int r;

	if (!c || !feature || !ret)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "avf_client_is_feature_enabled: NULL argument");
	if ((r = new_msg(&req)) < 0 || (r = ipc_msg_put_string(req, feature)) < 0 ||
	    (r = call(c, c->svc, PROTO_VS_IS_FEATURE_ENABLED, req, &reply)) < 0 ||
	    (r = ipc_msg_get_bool(reply, ret)) < 0)
		goto out;
	r = 0;
out:
	ipc_msg_free(req);
	ipc_msg_free(reply);
	return r;
}

int avf_client_init_partition(struct avf_client *c, int fd, int64_t size_bytes,
			      enum avf_partition_type type)
{
	struct ipc_msg *req = NULL;
	int r;

	if (!c)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "avf_client_init_partition: NULL client");
	if ((r = new_msg(&req)) < 0 || (r = ipc_msg_put_fd(req, fd)) < 0 ||
	    (r = ipc_msg_put_i64(req, size_bytes)) < 0 || (r = ipc_msg_put_i32(req, (int32_t)type)) < 0)
		goto out;
	r = call(c, c->svc, PROTO_VS_INIT_WRITABLE_PARTITION, req, NULL);
out:
	ipc_msg_free(req);
	return r;
}

/* ---- callbacks ---- */

static void tracker_apply(struct avf_vm *vm, uint32_t method, int32_t a)
{
	enum avf_vm_state s;

	switch (method) {
	case PROTO_CB_ON_PAYLOAD_STARTED: s = AVF_VM_STATE_STARTED; break;
	case PROTO_CB_ON_PAYLOAD_READY: s = AVF_VM_STATE_READY; break;
	case PROTO_CB_ON_PAYLOAD_FINISHED:
	case PROTO_CB_ON_ERROR: s = AVF_VM_STATE_FINISHED; break; /* as vmclient */
	case PROTO_CB_ON_DIED:
		if (!vm->died) { /* the first death wins, as vmclient */
			vm->died = true;
			vm->reason = (enum avf_death_reason)a;
		}
		s = AVF_VM_STATE_DEAD;
		break;
	default: return;
	}
	if (vm->state == AVF_VM_STATE_DEAD)
		return;
	/* Forward only: a late payload event never moves the state back. */
	if (s > vm->state) {
		vm->state = s;
		vm->passed |= 1u << s;
	}
}

/* -ENOMEM: the callback could not be queued. */
static int enqueue(struct avf_client *c, struct ipc_object *obj, uint32_t method, int32_t a,
		   const char *message)
{
	struct event *e = calloc(1, sizeof(*e));
	uint64_t one = 1;

	if (!e)
		return -ENOMEM;
	if (message && !(e->message = strdup(message))) {
		free(e);
		return -ENOMEM;
	}
	e->target = ipc_object_ref(obj);
	e->method = method;
	e->a = a;
	if (c->q_tail)
		c->q_tail->next = e;
	else
		c->q_head = e;
	c->q_tail = e;
	if (write(c->evfd, &one, sizeof(one)) < 0) {
		/* A full eventfd counter is still readable: nothing to do. */
	}
	return 0;
}

static int cb_dispatch(struct ipc_object *obj, struct ipc_conn *conn, uint32_t method,
		       struct ipc_msg *req, struct ipc_msg *reply)
{
	struct cb_target *t = ipc_object_data(obj);
	int32_t cid, a = 0;
	const char *message = NULL;
	int r;

	if (method < PROTO_CB_ON_PAYLOAD_STARTED || method > PROTO_CB_ON_DIED)
		return ipc_unknown_method(obj, method);
	if ((r = ipc_msg_get_i32(req, &cid)) < 0)
		return r;
	if (method == PROTO_CB_ON_PAYLOAD_FINISHED || method == PROTO_CB_ON_ERROR ||
	    method == PROTO_CB_ON_DIED) {
		if ((r = ipc_msg_get_i32(req, &a)) < 0)
			return r;
	}
	if (method == PROTO_CB_ON_ERROR && (r = ipc_msg_get_string(req, &message)) < 0)
		return r;
	if ((r = ipc_msg_get_end(req)) < 0)
		return r;
	if (!t->vm)
		return 0; /* the VM's handles are gone: nobody to tell */
	if (method == PROTO_CB_ON_DIED)
		t->got_died = true;
	if (t->tracker)
		tracker_apply(t->vm, method, a);
	else if (enqueue(t->vm->c, obj, method, a, message) < 0)
		/* A callback the application never gets would leave it waiting (for onDied,
		 * say) for ever: lose the connection instead, as if virtmgr had died. */
		ipc_conn_abort(conn, -ENOMEM, "out of memory queueing a callback");
	return 0;
}

static void cb_destroy(void *data)
{
	free(data);
}

static const struct ipc_object_ops cb_ops = {
	.name = PROTO_NAME_CB,
	.dispatch = cb_dispatch,
	.destroy = cb_destroy,
};

/* Run one queued event. The VM is kept alive across the user's callback. */
static void deliver(struct event *e)
{
	struct cb_target *t = ipc_object_data(e->target);
	struct avf_vm *vm = t->vm;
	const struct avf_vm_callbacks *cb = &t->cbs;

	if (!vm)
		return;
	avf_vm_ref(vm);
	switch (e->method) {
	case PROTO_CB_ON_PAYLOAD_STARTED:
		if (cb->on_payload_started)
			cb->on_payload_started(vm, t->data);
		break;
	case PROTO_CB_ON_PAYLOAD_READY:
		if (cb->on_payload_ready)
			cb->on_payload_ready(vm, t->data);
		break;
	case PROTO_CB_ON_PAYLOAD_FINISHED:
		if (cb->on_payload_finished)
			cb->on_payload_finished(vm, e->a, t->data);
		break;
	case PROTO_CB_ON_ERROR:
		if (cb->on_error)
			cb->on_error(vm, (enum avf_error_code)e->a, e->message ? e->message : "",
				     t->data);
		break;
	case PROTO_CB_ON_DIED:
		if (cb->on_died)
			cb->on_died(vm, (enum avf_death_reason)e->a, t->data);
		break;
	}
	avf_vm_unref(vm);
}

/*
 * Deliver the events queued now (not those the callbacks cause: they wait for the
 * next round, so a callback that keeps causing events cannot starve the caller).
 */
static int deliver_queue(struct avf_client *c)
{
	struct event *batch = c->q_head, *e;
	uint64_t v;
	int n = 0;

	c->q_head = c->q_tail = NULL;
	while (read(c->evfd, &v, sizeof(v)) > 0)
		;
	while ((e = batch)) {
		batch = e->next;
		if (!c->disconnected) {
			deliver(e);
			n++;
		}
		ipc_object_unref(e->target);
		free(e->message);
		free(e);
	}
	if (c->q_head) {
		uint64_t one = 1;
		if (write(c->evfd, &one, sizeof(one)) < 0) {
			/* still readable */
		}
	}
	return n;
}

/* Remaining ms until @deadline (-1: none), clamped to >= 0. */
static int remaining(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - mono_ms();
	return left < 0 ? 0 : (left > INT32_MAX ? INT32_MAX : (int)left);
}

/* Read what virtmgr sent (without waiting) and run due callbacks. */
static int pump(struct avf_client *c, int wait_ms)
{
	int r;

	if (c->alive && (r = loop_run_once(c->loop, c->q_head ? 0 : wait_ms)) < 0)
		return r;
	return deliver_queue(c);
}

int avf_client_dispatch(struct avf_client *c, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
	int n = 0, r;

	if (!c)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "avf_client_dispatch: NULL client");
	c->refs++;
	for (;;) {
		if ((r = pump(c, 0)) < 0) {
			n = r;
			break;
		}
		n += r;
		if (n > 0)
			break;
		if (!c->alive) {
			n = client_gone();
			break;
		}
		int left = remaining(deadline);
		if (left == 0)
			break;
		if ((r = pump(c, left)) < 0) {
			n = r;
			break;
		}
		n += r;
		if (n > 0)
			break;
	}
	client_unref(c);
	return n;
}

/* ---- VMs ---- */

void avf_vm_config_init(struct avf_vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->kernel_fd = cfg->initrd_fd = cfg->bootloader_fd = -1;
	cfg->payload_fd = cfg->payload_config_fd = cfg->instance_fd = cfg->storage_fd = -1;
}

/*
 * The wire form of @cfg's disks into @vc (which borrows every fd and string: it is
 * only encoded, never cleared). *ret_mem is what to free afterwards.
 */
static int borrow_disks(const struct avf_vm_config *cfg, struct vm_config *vc, void **ret_mem)
{
	size_t n_parts = 0, k = 0;
	struct vm_config_partition *parts;
	struct vm_config_disk *disks;
	char *mem;

	*ret_mem = NULL;
	if (!cfg->n_disks)
		return 0;
	if (!cfg->disks || cfg->n_disks > VM_CONFIG_DISKS_MAX)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "avf_vm_create: %zu disks (at most %d, and a disks array)",
				   cfg->n_disks, VM_CONFIG_DISKS_MAX);
	for (size_t d = 0; d < cfg->n_disks; d++) {
		if (cfg->disks[d].n_partitions > VM_CONFIG_PARTITIONS_MAX ||
		    (cfg->disks[d].n_partitions && !cfg->disks[d].partitions))
			return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
					   "avf_vm_create: disk %zu: %zu partitions (at most %d, "
					   "and a partitions array)",
					   d, cfg->disks[d].n_partitions, VM_CONFIG_PARTITIONS_MAX);
		n_parts += cfg->disks[d].n_partitions;
	}
	mem = calloc(1, cfg->n_disks * sizeof(*disks) + n_parts * sizeof(*parts));
	if (!mem)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	disks = (struct vm_config_disk *)mem;
	parts = (struct vm_config_partition *)(mem + cfg->n_disks * sizeof(*disks));
	for (size_t d = 0; d < cfg->n_disks; d++) {
		const struct avf_vm_disk *in = &cfg->disks[d];

		disks[d] = (struct vm_config_disk){.image_fd = in->image_fd,
						   .partitions = n_parts ? &parts[k] : NULL,
						   .n_partitions = in->n_partitions,
						   .writable = in->writable};
		for (size_t p = 0; p < in->n_partitions; p++, k++)
			parts[k] = (struct vm_config_partition){
			    .label = (char *)in->partitions[p].label,
			    .fd = in->partitions[p].fd,
			    .writable = in->partitions[p].writable};
	}
	vc->disks = disks;
	vc->n_disks = cfg->n_disks;
	*ret_mem = mem;
	return 0;
}

static int new_target(struct avf_vm *vm, bool tracker, const struct avf_vm_callbacks *cbs,
		      void *data, struct ipc_object **ret)
{
	struct cb_target *t = calloc(1, sizeof(*t));
	struct ipc_object **grown;
	int r;

	if (!t)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	t->vm = vm;
	t->tracker = tracker;
	if (cbs)
		t->cbs = *cbs;
	t->data = data;
	if ((r = ipc_object_new(&cb_ops, t, ret)) < 0) {
		free(t);
		return r;
	}
	grown = realloc(vm->targets, (vm->n_targets + 1) * sizeof(*grown));
	if (!grown) {
		t->vm = NULL;
		*ret = ipc_object_unref(*ret);
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	}
	vm->targets = grown;
	vm->targets[vm->n_targets++] = *ret;
	return 0;
}

/* Register a callback object with virtmgr (the VM keeps the object in targets). */
static int register_target(struct avf_vm *vm, bool tracker, const struct avf_vm_callbacks *cbs,
			   void *data)
{
	struct ipc_object *obj;
	struct ipc_msg *req = NULL;
	int r;

	if ((r = new_target(vm, tracker, cbs, data, &obj)) < 0)
		return r;
	if ((r = new_msg(&req)) < 0 || (r = ipc_msg_put_object(req, obj)) < 0)
		goto out;
	r = call(vm->c, vm->proxy, PROTO_VM_REGISTER_CALLBACK, req, NULL);
	/*
	 * One ordered stream: an onDied virtmgr sent before serving the registration
	 * arrived before its reply, so if the tracker has not seen the death, virtmgr
	 * had not either, and this callback will get onDied. (The tracker itself is
	 * registered first, while the VM cannot have died: it is not started.)
	 */
	if (r == 0)
		((struct cb_target *)ipc_object_data(obj))->expect_died = !vm->died;
out:
	ipc_msg_free(req);
	if (r < 0) {
		/* Never registered: forget it (it stays in targets, harmlessly, until the VM goes). */
		((struct cb_target *)ipc_object_data(obj))->vm = NULL;
	}
	return r;
}

static void vm_free(struct avf_vm *vm)
{
	for (size_t i = 0; i < vm->n_targets; i++) {
		struct cb_target *t = ipc_object_data(vm->targets[i]);
		t->vm = NULL; /* events still in flight for it are dropped */
		ipc_object_unref(vm->targets[i]);
	}
	free(vm->targets);
	/* Our reference to the IVirtualMachine: the last one makes virtmgr kill the VM. */
	ipc_proxy_unref(vm->proxy);
	client_unref(vm->c);
	free(vm);
}

int avf_vm_create(struct avf_client *c, const struct avf_vm_config *cfg, int console_out,
		  int console_in, int log, struct avf_vm **ret)
{
	struct vm_config vc;
	struct ipc_msg *req = NULL, *reply = NULL;
	struct avf_vm *vm = NULL;
	int fds[3] = {console_out, console_in, log};
	void *disk_mem = NULL;
	int32_t cid;
	int r;

	if (!c || !cfg || !ret)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "avf_vm_create: NULL argument");
	/* Borrowed, never cleared: proto_put_config() sends duplicates of the caller's fds. */
	vm_config_init(&vc);
	vc.kind = cfg->kind == AVF_VM_KIND_APP ? VM_CONFIG_APP : VM_CONFIG_RAW;
	vc.name = (char *)cfg->name;
	vc.memory_mib = cfg->memory_mib;
	vc.cpus = cfg->cpus;
	vc.protected_vm = cfg->protected_vm;
	vc.guest_script = (char *)cfg->fake_script;
	vc.kernel_fd = cfg->kernel_fd;
	vc.initrd_fd = cfg->initrd_fd;
	vc.bootloader_fd = cfg->bootloader_fd;
	vc.params = (char *)cfg->params;
	vc.payload.library_fd = cfg->payload_fd;
	vc.payload.binary_name = (char *)cfg->payload_binary_name;
	vc.payload.config_fd = cfg->payload_config_fd;
	vc.payload.instance_fd = cfg->instance_fd;
	vc.payload.storage_fd = cfg->storage_fd;
	if ((r = borrow_disks(cfg, &vc, &disk_mem)) < 0 || (r = new_msg(&req)) < 0 ||
	    (r = proto_put_config(req, &vc)) < 0)
		goto out;
	for (int i = 0; i < 3; i++) {
		r = fds[i] >= 0 ? ipc_msg_put_fd(req, fds[i]) : ipc_msg_put_null(req);
		if (r < 0)
			goto out;
	}
	if ((r = call(c, c->svc, PROTO_VS_CREATE_VM, req, &reply)) < 0)
		goto out;
	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
		goto out;
	}
	vm->refs = 1;
	vm->c = c;
	c->refs++;
	vm->state = AVF_VM_STATE_NOT_STARTED;
	vm->passed = 1u << AVF_VM_STATE_NOT_STARTED;
	if ((r = ipc_msg_get_proxy(reply, &vm->proxy)) < 0)
		goto out;
	ipc_msg_free(reply);
	reply = NULL;
	if ((r = call(c, vm->proxy, PROTO_VM_GET_CID, NULL, &reply)) < 0 ||
	    (r = ipc_msg_get_i32(reply, &cid)) < 0)
		goto out;
	vm->cid = (uint32_t)cid;
	/* The tracker is registered before anyone can start the VM, as vmclient does. */
	r = register_target(vm, true, NULL, NULL);
out:
	free(disk_mem);
	ipc_msg_free(req);
	ipc_msg_free(reply);
	if (r < 0) {
		if (vm) {
			struct avf_error saved = *avf_err_last();
			vm_free(vm);
			avf_err_restore(&saved);
		}
		return r;
	}
	*ret = vm;
	return 0;
}

struct avf_vm *avf_vm_ref(struct avf_vm *vm)
{
	if (vm)
		vm->refs++;
	return vm;
}

void avf_vm_unref(struct avf_vm *vm)
{
	if (vm && !--vm->refs)
		vm_free(vm);
}

uint32_t avf_vm_cid(const struct avf_vm *vm)
{
	return vm ? vm->cid : 0;
}

static int simple_vm_call(struct avf_vm *vm, uint32_t method)
{
	if (!vm)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "NULL VM");
	return call(vm->c, vm->proxy, method, NULL, NULL);
}

int avf_vm_start(struct avf_vm *vm)
{
	int r = simple_vm_call(vm, PROTO_VM_START);

	if (r == 0 && vm->state == AVF_VM_STATE_NOT_STARTED) {
		vm->state = AVF_VM_STATE_STARTING;
		vm->passed |= 1u << AVF_VM_STATE_STARTING;
	}
	return r;
}

int avf_vm_stop(struct avf_vm *vm)
{
	return simple_vm_call(vm, PROTO_VM_STOP);
}

int avf_vm_get_state(struct avf_vm *vm, enum avf_vm_state *ret)
{
	struct ipc_msg *reply = NULL;
	int32_t s;
	int r;

	if (!vm || !ret)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "avf_vm_get_state: NULL argument");
	if ((r = call(vm->c, vm->proxy, PROTO_VM_GET_STATE, NULL, &reply)) == 0 &&
	    (r = ipc_msg_get_i32(reply, &s)) == 0)
		*ret = (enum avf_vm_state)s;
	ipc_msg_free(reply);
	return r;
}

int avf_vm_connect_vsock(struct avf_vm *vm, uint32_t port, int *ret_fd)
{
	struct ipc_msg *req = NULL, *reply = NULL;
	int r;

	if (!vm || !ret_fd)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "avf_vm_connect_vsock: NULL argument");
	/* AVF's parcel carries the port as an i32: ports above 2^31 go as negatives. */
	if ((r = new_msg(&req)) == 0 && (r = ipc_msg_put_i32(req, (int32_t)port)) == 0 &&
	    (r = call(vm->c, vm->proxy, PROTO_VM_CONNECT_VSOCK, req, &reply)) == 0)
		r = ipc_msg_get_fd(reply, ret_fd);
	ipc_msg_free(req);
	ipc_msg_free(reply);
	return r;
}

enum avf_vm_state avf_vm_tracked_state(const struct avf_vm *vm)
{
	return vm ? vm->state : AVF_VM_STATE_NOT_STARTED;
}

int avf_vm_register_callback(struct avf_vm *vm, const struct avf_vm_callbacks *cbs, void *data)
{
	if (!vm || !cbs)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "avf_vm_register_callback: NULL argument");
	return register_target(vm, false, cbs, data);
}

/* Wait until @done(vm) says 1 (0: keep waiting, <0: fail with it). Dispatches meanwhile. */
static int wait_until(struct avf_vm *vm, int timeout_ms, int (*done)(struct avf_vm *, void *),
		      void *arg, const char *what)
{
	struct avf_client *c = vm->c;
	int64_t deadline = timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
	int r;

	avf_vm_ref(vm);
	for (;;) {
		if ((r = done(vm, arg)) != 0)
			break;
		if (!c->alive) {
			deliver_queue(c);
			r = avf_err_set(-EPIPE, AVF_EX_TRANSACTION_FAILED,
					"virtmgr died while waiting for %s of VM %u", what, vm->cid);
			break;
		}
		int left = remaining(deadline);
		if (left == 0) {
			r = avf_err_set(-ETIMEDOUT, AVF_EX_SERVICE_SPECIFIC,
					"VM %u: no %s within %d ms (state %s)", vm->cid, what,
					timeout_ms, avf_vm_state_name(vm->state));
			break;
		}
		if ((r = pump(c, left)) < 0)
			break;
	}
	/* Callbacks of the same event that are already readable run in this wait too. */
	while (c->alive && loop_run_once(c->loop, 0) > 0)
		;
	deliver_queue(c);
	avf_vm_unref(vm);
	return r < 0 ? r : 0;
}

/* Dead, and every callback that will get onDied has got it (so it runs in this wait). */
static int death_done(struct avf_vm *vm, void *arg)
{
	if (!vm->died)
		return 0;
	for (size_t i = 0; i < vm->n_targets; i++) {
		struct cb_target *t = ipc_object_data(vm->targets[i]);
		if (t->vm && t->expect_died && !t->got_died)
			return 0;
	}
	return 1;
}

int avf_vm_wait_for_death(struct avf_vm *vm, int timeout_ms, enum avf_death_reason *ret_reason)
{
	int r;

	if (!vm)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "NULL VM");
	r = wait_until(vm, timeout_ms, death_done, NULL, "death");
	if (r == 0 && ret_reason)
		*ret_reason = vm->reason;
	return r;
}

static int state_done(struct avf_vm *vm, void *arg)
{
	enum avf_vm_state want = *(enum avf_vm_state *)arg;

	if (vm->passed & (1u << want))
		return 1;
	if (vm->died)
		return avf_err_set(-ECHILD, AVF_EX_ILLEGAL_STATE, "VM %u died (%s) before %s",
				   vm->cid, death_reason_name(vm->reason), avf_vm_state_name(want));
	if (vm->state > want)
		return avf_err_set(-ENOENT, AVF_EX_ILLEGAL_STATE, "VM %u went to %s without %s",
				   vm->cid, avf_vm_state_name(vm->state), avf_vm_state_name(want));
	return 0;
}

int avf_vm_wait_for_state(struct avf_vm *vm, enum avf_vm_state state, int timeout_ms)
{
	char what[32];

	if (!vm)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "NULL VM");
	if (state < AVF_VM_STATE_NOT_STARTED || state > AVF_VM_STATE_DEAD ||
	    state == (enum avf_vm_state)5)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "%d is not a VM state", state);
	snprintf(what, sizeof(what), "state %s", avf_vm_state_name(state));
	return wait_until(vm, timeout_ms, state_done, &state, what);
}

const char *avf_death_reason_name(enum avf_death_reason r)
{
	return death_reason_name(r);
}
