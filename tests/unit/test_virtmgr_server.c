/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtmgr_server in-process: the server and a test client on the two ends of a
 * socketpair, on one loop with a virtual clock; vmgr over the simulated backend
 * and a local CID allocator. Everything the client sees goes over the wire
 * (core/ipc, core/proto layouts). Waits are bounded; nothing sleeps.
 */
#include "cmocka_wrap.h"
#include "test_fds.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "cid/cid_alloc.h"
#include "fakes/sim/sim_backend.h"
#include "ipc/ipc_conn.h"
#include "proto/avf_proto.h"
#include "service/local_context.h"
#include "service/virtmgr_server.h"

#define SEC          LOOP_NSEC_PER_SEC
#define CALL_TIMEOUT (5 * SEC)
#define REQ_UID      1234
#define REQ_PID      5678

/* The simulator with prepare() and spawn() watched (what the backend is given). */
struct probe {
	struct backend base;
	struct backend *sim;
	struct backend_ops ops;
	int fds[3];         /* the last prepare()'s console out, console in, log */
	bool open_at_spawn; /* all of them still open when spawn() ran */
	int kernel, disk0;  /* the last prepare()'s config kernel and first disk fds */
	bool files_open_at_spawn;
};

struct fx {
	struct loop *l;
	struct cid_alloc *cids;
	struct backend *be;
	struct probe *probe; /* NULL: vmgr drives the simulator directly */
	struct local_context lc;
	struct vmgr *mgr;
	struct virtmgr_server *srv;
	struct ipc_conn *cli;
	struct ipc_proxy *vs; /* the client's IVirtualizationService */
	int fds_before;
	struct trace tr;
	char trace_buf[32768];
};

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static void trace_to_buf(const struct trace_event *ev, void *data)
{
	struct fx *fx = data;
	size_t n = strlen(fx->trace_buf);

	snprintf(fx->trace_buf + n, sizeof(fx->trace_buf) - n, "%s %s\n", ev->actor, ev->text);
}

/* Run the loop until no socket has anything left to read. */
static void pump(struct fx *fx)
{
	uint64_t deadline = wall_ns() + 5 * SEC;

	while (loop_run_once(fx->l, 0) > 0)
		if (wall_ns() > deadline)
			fail_msg("the loop never went idle");
}

/* Virtual time passes (the simulated guests move), then the messages it caused. */
static void advance(struct fx *fx, uint64_t ns)
{
	assert_true(loop_advance(fx->l, ns) >= 0);
	pump(fx);
}

static void connect_client(struct fx *fx)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(virtmgr_server_add_client(fx->srv, sv[0]), 0);
	assert_int_equal(ipc_conn_new(fx->l, sv[1], NULL, NULL, NULL, &fx->cli), 0);
	assert_int_equal(ipc_conn_root(fx->cli, &fx->vs), 0);
}

static int probe_prepare(struct backend *be, const struct backend_vm *vm, struct backend_plan **ret)
{
	struct probe *p = (struct probe *)be;

	p->fds[0] = vm->console_out_fd;
	p->fds[1] = vm->console_in_fd;
	p->fds[2] = vm->log_fd;
	p->kernel = vm->config->kernel_fd;
	p->disk0 = vm->n_disks ? vm->disks[0].fd : -1;
	return p->sim->ops->prepare(p->sim, vm, ret);
}

static int probe_spawn(struct backend *be, struct backend_plan *plan,
		       const struct backend_sink *sink, void *sink_ctx, struct backend_child **ret)
{
	struct probe *p = (struct probe *)be;

	p->open_at_spawn = true;
	for (int i = 0; i < 3; i++)
		if (p->fds[i] >= 0 && fcntl(p->fds[i], F_GETFD) < 0)
			p->open_at_spawn = false;
	p->files_open_at_spawn = (p->kernel < 0 || fcntl(p->kernel, F_GETFD) >= 0) &&
				 (p->disk0 < 0 || fcntl(p->disk0, F_GETFD) >= 0);
	/* what a VMM does with them: the client reads these on its own ends */
	if (p->fds[0] >= 0)
		assert_int_equal(write(p->fds[0], "console\n", 8), 8);
	if (p->fds[2] >= 0)
		assert_int_equal(write(p->fds[2], "log\n", 4), 4);
	return p->sim->ops->spawn(p->sim, plan, sink, sink_ctx, ret);
}

static void probe_destroy(struct backend *be)
{
	/* the simulator is freed by fx_free */
}

static struct probe *probe_new(struct backend *sim)
{
	struct probe *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	p->sim = sim;
	p->ops = *sim->ops; /* kill and child_free: the simulator's own */
	p->ops.prepare = probe_prepare;
	p->ops.spawn = probe_spawn;
	p->ops.destroy = probe_destroy;
	p->base = (struct backend){.ops = &p->ops, .loop = sim->loop, .trace = sim->trace};
	p->fds[0] = p->fds[1] = p->fds[2] = -1;
	return p;
}

static struct fx *fx_new_opts(uint32_t cid_min, uint32_t cid_max, bool probe)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->fds_before = count_fds();
	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &fx->l), 0);
	fx->tr = (struct trace){.sink = trace_to_buf, .sink_data = fx};
	assert_int_equal(cid_alloc_new(cid_min, cid_max, NULL, &fx->cids), 0);
	fx->lc = (struct local_context){.cids = fx->cids, .trace = &fx->tr};
	assert_int_equal(sim_backend_new(fx->l, &fx->tr, &fx->be), 0);
	if (probe)
		fx->probe = probe_new(fx->be);
	assert_int_equal(
	    vmgr_new(&(struct vmgr_params){.loop = fx->l,
					   .backend = probe ? &fx->probe->base : fx->be,
					   .context = &local_context_ops,
					   .context_data = &fx->lc,
					   .trace = &fx->tr},
		     &fx->mgr),
	    0);
	assert_int_equal(
	    virtmgr_server_new(&(struct virtmgr_server_params){.loop = fx->l,
							       .mgr = fx->mgr,
							       .trace = &fx->tr,
							       .requester_uid = REQ_UID,
							       .requester_pid = REQ_PID},
			       &fx->srv),
	    0);
	connect_client(fx);
	return fx;
}

static struct fx *fx_new_range(uint32_t cid_min, uint32_t cid_max)
{
	return fx_new_opts(cid_min, cid_max, false);
}

static struct fx *fx_new(void)
{
	return fx_new_range(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
}

/* The client goes; then nothing may be left: VMs, VMMs, CIDs, sources, fds. */
static void fx_free(struct fx *fx)
{
	fx->vs = ipc_proxy_unref(fx->vs);
	fx->cli = ipc_conn_free(fx->cli);
	pump(fx);
	assert_int_equal(virtmgr_server_open_clients(fx->srv), 0);
	assert_int_equal(vmgr_vm_count(fx->mgr), 0);
	assert_int_equal(sim_backend_live_children(fx->be), 0);
	assert_int_equal(cid_alloc_held_count(fx->cids), 0);
	virtmgr_server_free(fx->srv);
	vmgr_free(fx->mgr);
	backend_free(fx->be);
	free(fx->probe);
	cid_alloc_free(fx->cids);
	assert_int_equal(loop_source_count(fx->l), 0);
	loop_free(fx->l);
	assert_int_equal(count_fds(), fx->fds_before);
	free(fx);
}

/* The call failed remotely with @ex (and service code @code when service-specific)
 * and a message containing @substr. */
static void assert_remote(int r, int ex, int code, const char *substr)
{
	if (r != -EREMOTEIO)
		fail_msg("expected a remote error, got %d (%s)", r, avf_err_last()->msg);
	if (avf_err_last()->ex != ex)
		fail_msg("exception %s, expected %s (%s)", avf_ex_name(avf_err_last()->ex),
			 avf_ex_name(ex), avf_err_last()->msg);
	if (ex == AVF_EX_SERVICE_SPECIFIC)
		assert_int_equal(avf_err_last()->service_code, code);
	if (!strstr(avf_err_last()->msg, substr))
		fail_msg("message '%s' lacks '%s'", avf_err_last()->msg, substr);
}

/* ---- client-side helpers ---- */

static int create_vm_fds(struct fx *fx, enum vm_config_kind kind, const char *script,
			 const int fds[3], struct ipc_proxy **ret)
{
	struct ipc_msg *req = NULL, *reply = NULL;
	struct vm_config c;
	int r;

	vm_config_init(&c);
	c.kind = kind;
	c.name = "test-vm";
	c.guest_script = (char *)script;
	assert_int_equal(ipc_msg_new(&req), 0);
	assert_int_equal(proto_put_config(req, &c), 0);
	for (int i = 0; i < 3; i++) {
		if (fds && fds[i] >= 0)
			assert_int_equal(ipc_msg_put_fd(req, fds[i]), 0);
		else
			assert_int_equal(ipc_msg_put_null(req), 0);
	}
	r = ipc_call(fx->vs, PROTO_VS_CREATE_VM, req, CALL_TIMEOUT, &reply);
	ipc_msg_free(req);
	if (r < 0)
		return r;
	assert_int_equal(ipc_msg_get_proxy(reply, ret), 0);
	assert_int_equal(ipc_msg_get_end(reply), 0);
	ipc_msg_free(reply);
	return 0;
}

static struct ipc_proxy *create_vm(struct fx *fx, enum vm_config_kind kind, const char *script)
{
	struct ipc_proxy *vm = NULL;

	if (create_vm_fds(fx, kind, script, NULL, &vm) < 0)
		fail_msg("createVm: %s", avf_err_last()->msg);
	return vm;
}

/* A method without arguments; its i32 result (if any) in *ret. */
static int vm_call(struct ipc_proxy *vm, uint32_t method, int32_t *ret)
{
	struct ipc_msg *reply = NULL;
	int r = ipc_call(vm, method, NULL, CALL_TIMEOUT, &reply);

	if (r < 0)
		return r;
	if (ret)
		assert_int_equal(ipc_msg_get_i32(reply, ret), 0);
	assert_int_equal(ipc_msg_get_end(reply), 0);
	ipc_msg_free(reply);
	return 0;
}

static int32_t vm_i32(struct ipc_proxy *vm, uint32_t method)
{
	int32_t v = -999;

	if (vm_call(vm, method, &v) < 0)
		fail_msg("method %u: %s", method, avf_err_last()->msg);
	return v;
}

/* ---- the client's IVirtualMachineCallback ---- */

struct cb {
	char log[1024];
	int released;
	int destroyed;
};

static int cb_dispatch(struct ipc_object *obj, struct ipc_conn *conn, uint32_t method,
		       struct ipc_msg *req, struct ipc_msg *reply)
{
	struct cb *cb = ipc_object_data(obj);
	size_t n = strlen(cb->log);
	char *out = cb->log + n;
	size_t room = sizeof(cb->log) - n;
	int32_t cid, v = 0;
	const char *msg = NULL;
	enum avf_death_reason reason;

	/* AVF declares the interface oneway: a CALL would be a server bug. */
	assert_int_equal(ipc_msg_hdr(req)->kind, IPC_ONEWAY);
	assert_int_equal(ipc_msg_get_i32(req, &cid), 0);
	switch (method) {
	case PROTO_CB_ON_PAYLOAD_STARTED: snprintf(out, room, "started(%d);", cid); break;
	case PROTO_CB_ON_PAYLOAD_READY: snprintf(out, room, "ready(%d);", cid); break;
	case PROTO_CB_ON_PAYLOAD_FINISHED:
		assert_int_equal(ipc_msg_get_i32(req, &v), 0);
		snprintf(out, room, "finished(%d,%d);", cid, v);
		break;
	case PROTO_CB_ON_ERROR:
		assert_int_equal(ipc_msg_get_i32(req, &v), 0);
		assert_int_equal(ipc_msg_get_string(req, &msg), 0);
		snprintf(out, room, "error(%d,%d,%s);", cid, v, msg);
		break;
	case PROTO_CB_ON_DIED:
		assert_int_equal(ipc_msg_get_i32(req, &v), 0);
		reason = (enum avf_death_reason)v;
		snprintf(out, room, "died(%d,%s);", cid, death_reason_name(reason));
		break;
	default: fail_msg("unexpected callback method %u", method);
	}
	assert_int_equal(ipc_msg_get_end(req), 0);
	return 0;
}

static void cb_on_release(struct ipc_object *obj, struct ipc_conn *conn)
{
	((struct cb *)ipc_object_data(obj))->released++;
}

static const struct ipc_object_ops cb_ops = {
    .name = PROTO_NAME_CB,
    .dispatch = cb_dispatch,
    .on_release = cb_on_release,
};

static void register_cb(struct ipc_proxy *vm, struct cb *cb)
{
	struct ipc_object *obj;
	struct ipc_msg *req;

	assert_int_equal(ipc_object_new(&cb_ops, cb, &obj), 0);
	assert_int_equal(ipc_msg_new(&req), 0);
	assert_int_equal(ipc_msg_put_object(req, obj), 0);
	ipc_object_unref(obj); /* the export (once sent) keeps it */
	if (ipc_call(vm, PROTO_VM_REGISTER_CALLBACK, req, CALL_TIMEOUT, NULL) < 0)
		fail_msg("registerCallback: %s", avf_err_last()->msg);
	ipc_msg_free(req);
}

/* ---- tests ---- */

static void test_create_start_stop(void **state)
{
	struct fx *fx = fx_new();
	struct ipc_proxy *vm = create_vm(fx, VM_CONFIG_APP, "started; hang");
	struct cb cb = {0};

	assert_int_equal(vm_i32(vm, PROTO_VM_GET_CID), 2048);
	assert_int_equal(vm_i32(vm, PROTO_VM_GET_STATE), AVF_VM_STATE_NOT_STARTED);
	register_cb(vm, &cb);
	assert_int_equal(vm_call(vm, PROTO_VM_START, NULL), 0);
	assert_int_equal(vm_i32(vm, PROTO_VM_GET_STATE), AVF_VM_STATE_STARTING);
	advance(fx, SEC);
	assert_int_equal(vm_i32(vm, PROTO_VM_GET_STATE), AVF_VM_STATE_STARTED);
	assert_int_equal(vm_call(vm, PROTO_VM_STOP, NULL), 0);
	assert_int_equal(vm_i32(vm, PROTO_VM_GET_STATE), AVF_VM_STATE_DEAD);
	pump(fx);
	assert_string_equal(cb.log, "started(2048);died(2048,KILLED);");
	/* dead but referenced: the CID stays; the last reference frees it */
	assert_true(cid_alloc_is_held(fx->cids, 2048));
	ipc_proxy_unref(vm);
	pump(fx);
	assert_false(cid_alloc_is_held(fx->cids, 2048));
	assert_int_equal(vmgr_vm_count(fx->mgr), 0);
	/* the registration went with the VM record: the client's object is released */
	assert_int_equal(cb.released, 1);
	fx_free(fx);
}

static void test_callback_sequences_over_the_wire(void **state)
{
	struct fx *fx = fx_new();
	struct ipc_proxy *a = create_vm(fx, VM_CONFIG_APP, "started; ready; finished 0; exit 0");
	struct ipc_proxy *b = create_vm(
	    fx, VM_CONFIG_APP,
	    "error 3 bad payload config; failure MICRODROID_INVALID_PAYLOAD_CONFIG; exit 0");
	struct ipc_proxy *c = create_vm(fx, VM_CONFIG_RAW, "started; ready; finished 7; exit 33");
	struct cb ca = {0}, ca2 = {0}, cbb = {0}, cc = {0};

	register_cb(a, &ca);
	register_cb(a, &ca2); /* a second registration sees the same events, in order */
	register_cb(b, &cbb);
	register_cb(c, &cc);
	assert_int_equal(vm_call(a, PROTO_VM_START, NULL), 0);
	assert_int_equal(vm_call(b, PROTO_VM_START, NULL), 0);
	assert_int_equal(vm_call(c, PROTO_VM_START, NULL), 0);
	advance(fx, 10 * SEC);
	assert_string_equal(ca.log,
			    "started(2048);ready(2048);finished(2048,0);died(2048,SHUTDOWN);");
	assert_string_equal(ca2.log, ca.log);
	assert_string_equal(cbb.log, "error(2049,3,bad payload config);"
				     "died(2049,MICRODROID_INVALID_PAYLOAD_CONFIG);");
	assert_string_equal(cc.log, "started(2050);ready(2050);finished(2050,7);died(2050,CRASH);");
	assert_int_equal(vm_i32(a, PROTO_VM_GET_STATE), AVF_VM_STATE_DEAD);
	ipc_proxy_unref(a);
	ipc_proxy_unref(b);
	ipc_proxy_unref(c);
	pump(fx);
	assert_int_equal(ca.released + ca2.released + cbb.released + cc.released, 4);
	fx_free(fx);
}

static void test_drop_last_reference_kills_running_vm(void **state)
{
	struct fx *fx = fx_new();
	struct ipc_proxy *vm = create_vm(fx, VM_CONFIG_APP, "started; ready; hang");
	struct ipc_proxy *idle = create_vm(fx, VM_CONFIG_RAW, NULL);
	struct cb cb = {0};

	register_cb(vm, &cb);
	assert_int_equal(vm_call(vm, PROTO_VM_START, NULL), 0);
	advance(fx, SEC);
	assert_string_equal(cb.log, "started(2048);ready(2048);");
	assert_int_equal(sim_backend_live_children(fx->be), 1);
	/* the client's only reference goes: RELEASE, the handle's last reference */
	ipc_proxy_unref(vm);
	pump(fx);
	assert_string_equal(cb.log, "started(2048);ready(2048);died(2048,KILLED);");
	assert_int_equal(sim_backend_live_children(fx->be), 0);
	assert_false(cid_alloc_is_held(fx->cids, 2048));
	assert_non_null(strstr(fx->trace_buf, "client released vm:2048"));
	/* the other VM is untouched */
	assert_int_equal(vmgr_vm_count(fx->mgr), 1);
	assert_int_equal(vm_i32(idle, PROTO_VM_GET_STATE), AVF_VM_STATE_NOT_STARTED);
	ipc_proxy_unref(idle);
	pump(fx);
	assert_int_equal(vmgr_vm_count(fx->mgr), 0);
	fx_free(fx);
}

static void test_closing_the_connection_kills_all_its_vms(void **state)
{
	struct fx *fx = fx_new();
	struct ipc_proxy *vm[3];
	struct cb cb[3];

	memset(cb, 0, sizeof(cb));
	vm[0] = create_vm(fx, VM_CONFIG_APP, "started; ready; hang");
	vm[1] = create_vm(fx, VM_CONFIG_RAW, "hang");
	vm[2] = create_vm(fx, VM_CONFIG_RAW, NULL); /* never started */
	for (int i = 0; i < 3; i++)
		register_cb(vm[i], &cb[i]);
	assert_int_equal(vm_call(vm[0], PROTO_VM_START, NULL), 0);
	assert_int_equal(vm_call(vm[1], PROTO_VM_START, NULL), 0);
	advance(fx, SEC);
	assert_int_equal(sim_backend_live_children(fx->be), 2);
	assert_int_equal(cid_alloc_held_count(fx->cids), 3);
	/* the client process "dies": its end closes with every reference it held */
	fx->cli = ipc_conn_free(fx->cli);
	pump(fx);
	assert_int_equal(virtmgr_server_open_clients(fx->srv), 0);
	assert_int_equal(vmgr_vm_count(fx->mgr), 0);
	assert_int_equal(sim_backend_live_children(fx->be), 0);
	assert_int_equal(cid_alloc_held_count(fx->cids), 0);
	assert_non_null(strstr(fx->trace_buf, "client 1 closed"));
	/* the callbacks could not be delivered (the client is gone) */
	assert_string_equal(cb[0].log, "started(2048);ready(2048);");
	for (int i = 0; i < 3; i++)
		ipc_proxy_unref(vm[i]);
	fx->vs = ipc_proxy_unref(fx->vs);

	/* the server takes another client (and frees the closed one) */
	connect_client(fx);
	vm[0] = create_vm(fx, VM_CONFIG_RAW, NULL);
	assert_int_equal(vm_i32(vm[0], PROTO_VM_GET_CID), 2051);
	ipc_proxy_unref(vm[0]);
	fx_free(fx);
}

static void test_start_twice_and_stop_when_not_running(void **state)
{
	struct fx *fx = fx_new();
	struct ipc_proxy *vm = create_vm(fx, VM_CONFIG_RAW, "hang");
	struct ipc_proxy *bad = create_vm(fx, VM_CONFIG_RAW, "spawn-fail");

	assert_remote(vm_call(vm, PROTO_VM_STOP, NULL), AVF_EX_SERVICE_SPECIFIC, -1,
		      "VM is not running");
	assert_int_equal(vm_call(vm, PROTO_VM_START, NULL), 0);
	assert_remote(vm_call(vm, PROTO_VM_START, NULL), AVF_EX_SERVICE_SPECIFIC, -1,
		      "VM already started or failed");
	assert_string_equal(avf_err_last()->msg, "VM already started or failed");
	assert_int_equal(vm_call(vm, PROTO_VM_STOP, NULL), 0);
	assert_remote(vm_call(vm, PROTO_VM_STOP, NULL), AVF_EX_SERVICE_SPECIFIC, -1,
		      "VM is not running");
	assert_string_equal(avf_err_last()->msg, "VM is not running");
	assert_remote(vm_call(vm, PROTO_VM_START, NULL), AVF_EX_SERVICE_SPECIFIC, -1,
		      "VM already started or failed");
	/* a VMM that cannot start: Failed (DEAD), service-specific error */
	assert_remote(vm_call(bad, PROTO_VM_START, NULL), AVF_EX_SERVICE_SPECIFIC, -1,
		      "Error starting VM");
	assert_int_equal(vm_i32(bad, PROTO_VM_GET_STATE), AVF_VM_STATE_DEAD);
	ipc_proxy_unref(vm);
	ipc_proxy_unref(bad);
	fx_free(fx);
}

static int init_partition(struct fx *fx, int fd, int64_t size, int32_t type)
{
	struct ipc_msg *req;
	int r;

	assert_int_equal(ipc_msg_new(&req), 0);
	assert_int_equal(ipc_msg_put_fd(req, fd), 0);
	assert_int_equal(ipc_msg_put_i64(req, size), 0);
	assert_int_equal(ipc_msg_put_i32(req, type), 0);
	r = ipc_call(fx->vs, PROTO_VS_INIT_WRITABLE_PARTITION, req, CALL_TIMEOUT, NULL);
	ipc_msg_free(req);
	return r;
}

/* The whole file, which must be @size bytes long. */
static void read_back(int fd, size_t size, uint8_t *buf)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal((size_t)st.st_size, size);
	assert_int_equal(pread(fd, buf, size, 0), (ssize_t)size);
}

static void assert_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			fail_msg("byte %zu is %#x, expected 0", i, p[i]);
}

static void test_initialize_writable_partition(void **state)
{
	/* The headers, written out from avf-spec 2.1 (not from the code). */
	static const uint8_t instance_hdr[] = {'A', 'n', 'd', 'r', 'o', 'i',  'd',
					       '-', 'V', 'M', '-', 'i', 'n',  's',
					       't', 'a', 'n', 'c', 'e', 0x01, 0x00};
	static const uint8_t store_hdr[] = {'U', 'N', 'F', 'O', 'R', 'M', 'A', 'T', 'T', 'E',
					    'D', '-', 'S', 'T', 'O', 'R', 'A', 'G', 'E'};
	struct fx *fx = fx_new();
	char path[] = "/tmp/test_virtmgr_server.XXXXXX";
	static uint8_t junk[10000], buf[16384];
	int fd = mkstemp(path);
	struct stat st;

	assert_true(fd >= 0);
	unlink(path);
	memset(junk, 0xa5, sizeof(junk));

	/* RAW: old content gone, size rounded up to 4096, all zeros */
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	assert_int_equal(init_partition(fx, fd, 5000, PROTO_PARTITION_RAW), 0);
	read_back(fd, 8192, buf);
	assert_zero(buf, 8192);

	/* ANDROID_VM_INSTANCE: magic + u16 LE version 1, then zeros; 1 byte -> 4096 */
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	assert_int_equal(init_partition(fx, fd, 1, PROTO_PARTITION_ANDROID_VM_INSTANCE), 0);
	read_back(fd, 4096, buf);
	assert_memory_equal(buf, instance_hdr, sizeof(instance_hdr));
	assert_zero(buf + sizeof(instance_hdr), 4096 - sizeof(instance_hdr));

	/* ENCRYPTEDSTORE: its magic, exact multiple kept */
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	assert_int_equal(init_partition(fx, fd, 12288, PROTO_PARTITION_ENCRYPTEDSTORE), 0);
	read_back(fd, 12288, buf);
	assert_memory_equal(buf, store_hdr, sizeof(store_hdr));
	assert_zero(buf + sizeof(store_hdr), 12288 - sizeof(store_hdr));

	/* 0 stays 0 */
	assert_int_equal(init_partition(fx, fd, 0, PROTO_PARTITION_RAW), 0);
	read_back(fd, 0, buf);

	/* sparse: 64 MiB of logical size, (almost) nothing allocated */
	assert_int_equal(init_partition(fx, fd, 64 << 20, PROTO_PARTITION_RAW), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 64 << 20);
	assert_true((uint64_t)st.st_blocks * 512 < (1u << 20));

	/* negative size: EX_ILLEGAL_ARGUMENT, the file untouched */
	assert_int_equal(pwrite(fd, junk, 100, 0), 100);
	assert_remote(init_partition(fx, fd, -1, PROTO_PARTITION_RAW), AVF_EX_ILLEGAL_ARGUMENT, 0,
		      "Invalid size: -1");
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 64 << 20);

	/* another type: service-specific -1 */
	assert_remote(init_partition(fx, fd, 4096, 3), AVF_EX_SERVICE_SPECIFIC, -1,
		      "Unsupported partition type");

	/* not a file that can be sized */
	{
		int p[2];

		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		assert_remote(init_partition(fx, p[1], 4096, PROTO_PARTITION_RAW),
			      AVF_EX_SERVICE_SPECIFIC, -1, "");
		close(p[0]);
		close(p[1]);
	}
	close(fd);
	fx_free(fx);
}

static int is_feature_enabled(struct fx *fx, const char *name, bool *ret)
{
	struct ipc_msg *req, *reply = NULL;
	int r;

	assert_int_equal(ipc_msg_new(&req), 0);
	assert_int_equal(ipc_msg_put_string(req, name), 0);
	r = ipc_call(fx->vs, PROTO_VS_IS_FEATURE_ENABLED, req, CALL_TIMEOUT, &reply);
	ipc_msg_free(req);
	if (r < 0)
		return r;
	assert_int_equal(ipc_msg_get_bool(reply, ret), 0);
	assert_int_equal(ipc_msg_get_end(reply), 0);
	ipc_msg_free(reply);
	return 0;
}

static void test_is_feature_enabled(void **state)
{
	static const char *const names[] = {
	    "com.android.kvm.DICE_CHANGES",       "com.android.kvm.LLPVM_CHANGES",
	    "com.android.kvm.MULTI_TENANT",       "com.android.kvm.NETWORK",
	    "com.android.kvm.REMOTE_ATTESTATION", "com.android.kvm.VENDOR_MODULES",
	    "com.android.kvm.NO_SUCH_THING",      "",
	};
	struct fx *fx = fx_new();

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		bool on = true;

		assert_int_equal(is_feature_enabled(fx, names[i], &on), 0);
		assert_false(on);
	}
	/* only the unknown ones are noted */
	assert_non_null(strstr(fx->trace_buf, "unknown feature 'com.android.kvm.NO_SUCH_THING'"));
	assert_null(strstr(fx->trace_buf, "unknown feature 'com.android.kvm.NETWORK'"));
	fx_free(fx);
}

/* One bad createVm request: the server answers with an error and keeps serving. */
static void bad_create(struct fx *fx, struct ipc_msg *req, int ex, const char *substr)
{
	struct ipc_msg *reply = NULL;

	assert_remote(ipc_call(fx->vs, PROTO_VS_CREATE_VM, req, CALL_TIMEOUT, &reply), ex, 0,
		      substr);
	assert_null(reply);
	ipc_msg_free(req);
}

static struct ipc_msg *good_config(void)
{
	struct ipc_msg *m;
	struct vm_config c;

	vm_config_init(&c);
	c.name = "x";
	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(proto_put_config(m, &c), 0);
	return m;
}

static void test_malformed_create_vm_keeps_serving(void **state)
{
	struct fx *fx = fx_new();
	struct ipc_msg *m;
	struct ipc_proxy *vm;
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	/* nothing at all */
	assert_int_equal(ipc_msg_new(&m), 0);
	bad_create(fx, m, AVF_EX_BAD_PARCELABLE, "createVm: config.version");
	/* an unknown config version */
	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(ipc_msg_put_u32(m, 99), 0);
	bad_create(fx, m, AVF_EX_BAD_PARCELABLE, "config.version: 99 is not supported");
	/* a config, then a string where the console fd goes */
	m = good_config();
	assert_int_equal(ipc_msg_put_string(m, "not an fd"), 0);
	bad_create(fx, m, AVF_EX_BAD_PARCELABLE, "createVm: consoleOutFd");
	/* fds missing */
	m = good_config();
	assert_int_equal(ipc_msg_put_fd(m, p[1]), 0);
	bad_create(fx, m, AVF_EX_BAD_PARCELABLE, "createVm: consoleInFd");
	/* one field too many */
	m = good_config();
	for (int i = 0; i < 3; i++)
		assert_int_equal(ipc_msg_put_null(m), 0);
	assert_int_equal(ipc_msg_put_i32(m, 1), 0);
	bad_create(fx, m, AVF_EX_BAD_PARCELABLE, "createVm: ");
	/* well-formed but invalid: the guest script does not parse */
	assert_int_equal(create_vm_fds(fx, VM_CONFIG_RAW, "started; explode", NULL, &vm),
			 -EREMOTEIO);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_ARGUMENT);
	assert_non_null(strstr(avf_err_last()->msg, "guest script:1:10"));

	/* nothing was created, no CID taken, and a good request works */
	assert_int_equal(vmgr_vm_count(fx->mgr), 0);
	assert_int_equal(cid_alloc_held_count(fx->cids), 0);
	vm = create_vm(fx, VM_CONFIG_RAW, NULL);
	/* 2048 went to the bad script and back; round-robin goes on */
	assert_int_equal(vm_i32(vm, PROTO_VM_GET_CID), 2049);
	/* an unknown method on either interface */
	assert_remote(vm_call(vm, 99, NULL), AVF_EX_UNSUPPORTED_OPERATION, 0,
		      "IVirtualMachine has no method 99");
	assert_remote(vm_call(fx->vs, 99, NULL), AVF_EX_UNSUPPORTED_OPERATION, 0,
		      "IVirtualizationService has no method 99");
	/* arguments where none are expected */
	m = NULL;
	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(ipc_msg_put_i32(m, 1), 0);
	assert_remote(ipc_call(vm, PROTO_VM_START, m, CALL_TIMEOUT, NULL), AVF_EX_BAD_PARCELABLE, 0,
		      "unread");
	ipc_msg_free(m);
	assert_int_equal(vm_i32(vm, PROTO_VM_GET_STATE), AVF_VM_STATE_NOT_STARTED);
	/* registerCallback with a NULL object */
	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(ipc_msg_put_null(m), 0);
	assert_remote(ipc_call(vm, PROTO_VM_REGISTER_CALLBACK, m, CALL_TIMEOUT, NULL),
		      AVF_EX_NULL_POINTER, 0, "registerCallback: ");
	ipc_msg_free(m);
	ipc_proxy_unref(vm);
	close(p[0]);
	close(p[1]);
	fx_free(fx);
}

static void test_create_vm_errors_from_the_manager(void **state)
{
	struct fx *fx = fx_new_range(2048, 2048);
	struct ipc_proxy *a = create_vm(fx, VM_CONFIG_RAW, NULL), *b = NULL;

	assert_int_equal(create_vm_fds(fx, VM_CONFIG_RAW, NULL, NULL, &b), -EREMOTEIO);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_STATE);
	assert_string_equal(avf_err_last()->msg, "Could not find an available CID.");
	assert_null(b);
	ipc_proxy_unref(a);
	fx_free(fx);
}

static int connect_vsock(struct ipc_proxy *vm, int32_t port)
{
	struct ipc_msg *req;
	int r;

	assert_int_equal(ipc_msg_new(&req), 0);
	assert_int_equal(ipc_msg_put_i32(req, port), 0);
	r = ipc_call(vm, PROTO_VM_CONNECT_VSOCK, req, CALL_TIMEOUT, NULL);
	ipc_msg_free(req);
	return r;
}

static void test_connect_vsock(void **state)
{
	struct fx *fx = fx_new();
	struct ipc_proxy *vm = create_vm(fx, VM_CONFIG_RAW, "hang");

	assert_remote(connect_vsock(vm, 5678), AVF_EX_SERVICE_SPECIFIC, -1, "VM is not running");
	assert_string_equal(avf_err_last()->msg, "VM is not running");
	assert_int_equal(vm_call(vm, PROTO_VM_START, NULL), 0);
	assert_remote(connect_vsock(vm, 80), AVF_EX_SERVICE_SPECIFIC, -1,
		      "Can't connect to privileged port 80");
	assert_remote(connect_vsock(vm, 5678), AVF_EX_UNSUPPORTED_OPERATION, 0,
		      "connectVsock(5678): the sim backend has no vsock transport");
	/* a port above 2^31 is a u32, as in AVF */
	assert_remote(connect_vsock(vm, (int32_t)0x80000001u), AVF_EX_UNSUPPORTED_OPERATION, 0,
		      "connectVsock(2147483649)");
	assert_int_equal(vm_call(vm, PROTO_VM_STOP, NULL), 0);
	assert_remote(connect_vsock(vm, 5678), AVF_EX_SERVICE_SPECIFIC, -1, "VM is not running");
	ipc_proxy_unref(vm);
	fx_free(fx);
}

static void test_register_after_death_is_never_called(void **state)
{
	struct fx *fx = fx_new();
	struct ipc_proxy *vm = create_vm(fx, VM_CONFIG_RAW, "exit 0");
	struct cb before = {0}, after = {0};

	register_cb(vm, &before);
	assert_int_equal(vm_call(vm, PROTO_VM_START, NULL), 0);
	advance(fx, SEC);
	assert_string_equal(before.log, "died(2048,SHUTDOWN);");
	register_cb(vm, &after); /* accepted (A15) */
	advance(fx, 60 * SEC);
	assert_string_equal(after.log, "");
	assert_string_equal(before.log, "died(2048,SHUTDOWN);"); /* no replay, no repeat */
	ipc_proxy_unref(vm);
	pump(fx);
	assert_int_equal(after.released, 1);
	fx_free(fx);
}

static void test_debug_list_with_local_contexts(void **state)
{
	struct fx *fx = fx_new();
	struct ipc_proxy *a = create_vm(fx, VM_CONFIG_RAW, "hang");
	struct ipc_proxy *b = create_vm(fx, VM_CONFIG_RAW, NULL);
	struct ipc_msg *reply = NULL;
	struct proto_debug_row row;
	uint32_t n;

	assert_int_equal(vm_call(a, PROTO_VM_START, NULL), 0);
	assert_int_equal(ipc_call(fx->vs, PROTO_VS_DEBUG_LIST_VMS, NULL, CALL_TIMEOUT, &reply), 0);
	assert_int_equal(ipc_msg_get_u32(reply, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(proto_get_debug_row(reply, &row), 0);
	assert_int_equal(row.cid, 2048);
	assert_int_equal(row.state, AVF_VM_STATE_STARTING);
	assert_int_equal(row.requester_uid, REQ_UID);
	assert_int_equal(row.requester_pid, REQ_PID);
	assert_string_equal(row.name, "test-vm");
	assert_string_equal(row.temp_dir, "");
	assert_int_equal(proto_get_debug_row(reply, &row), 0);
	assert_int_equal(row.cid, 2049);
	assert_int_equal(row.state, AVF_VM_STATE_NOT_STARTED);
	assert_int_equal(ipc_msg_get_end(reply), 0);
	ipc_msg_free(reply);
	ipc_proxy_unref(a);
	ipc_proxy_unref(b);
	fx_free(fx);
}

/* Readable with EOF (0 bytes) right now? */
static bool at_eof(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;

	if (poll(&p, 1, 0) != 1)
		return false;
	return read(fd, &c, 1) == 0;
}

/* Everything readable on @fd now, up to EOF, which must have come (no writer left). */
static void read_all_now(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	while ((n = read(fd, buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	if (n < 0)
		fail_msg("no EOF: someone still holds a write end (%s)", strerror(errno));
	buf[got] = '\0';
}

/*
 * createVm's three fds travel over the wire to vmgr, which gives them to the
 * backend (the probe writes to them as a VMM would) and closes its copies right
 * after the spawn; a VM never started closes them when the client drops it.
 */
static void test_console_and_log_fds_reach_the_backend(void **state)
{
	struct fx *fx = fx_new_opts(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX, true);
	int out[2], in[2], log[2], log2[2], fds[3];
	struct ipc_proxy *vm, *other;
	char buf[64];

	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(log, O_CLOEXEC), 0);
	assert_int_equal(pipe2(log2, O_CLOEXEC), 0);
	fds[0] = out[1];
	fds[1] = in[0];
	fds[2] = log[1];
	assert_int_equal(create_vm_fds(fx, VM_CONFIG_RAW, "hang", fds, &vm), 0);
	/* virtmgr's own copies (received over the socket), not ours */
	for (int i = 0; i < 3; i++) {
		assert_true(fx->probe->fds[i] >= 0);
		assert_int_not_equal(fx->probe->fds[i], fds[i]);
	}
	/* the client's own copies go: only virtmgr's remain */
	close(out[1]);
	close(in[0]);
	close(log[1]);
	assert_false(at_eof(out[0]));
	assert_false(at_eof(log[0]));
	assert_int_equal(vm_call(vm, PROTO_VM_START, NULL), 0);
	assert_true(fx->probe->open_at_spawn);
	/* what the "VMM" wrote, then EOF: virtmgr kept no copy after the spawn */
	read_all_now(out[0], buf, sizeof(buf));
	assert_string_equal(buf, "console\n");
	read_all_now(log[0], buf, sizeof(buf));
	assert_string_equal(buf, "log\n");
	assert_int_equal(write(in[1], "x", 1), -1);
	assert_int_equal(errno, EPIPE);

	/* never started: closed when the client drops the VM */
	fds[0] = fds[1] = -1;
	fds[2] = log2[1];
	assert_int_equal(create_vm_fds(fx, VM_CONFIG_RAW, NULL, fds, &other), 0);
	assert_int_equal(fx->probe->fds[0], -1);
	assert_int_equal(fx->probe->fds[1], -1);
	close(log2[1]);
	assert_false(at_eof(log2[0]));
	ipc_proxy_unref(other);
	pump(fx);
	assert_true(at_eof(log2[0]));
	close(log2[0]);

	/* a createVm that fails closes them at once */
	assert_int_equal(pipe2(log2, O_CLOEXEC), 0);
	fds[2] = log2[1];
	assert_remote(create_vm_fds(fx, VM_CONFIG_RAW, "explode", fds, &other),
		      AVF_EX_ILLEGAL_ARGUMENT, 0, "guest script:1:1");
	close(log2[1]);
	assert_true(at_eof(log2[0]));

	ipc_proxy_unref(vm);
	close(out[0]);
	close(in[1]);
	close(log[0]);
	close(log2[0]);
	fx_free(fx); /* and nothing left: fds as before the fixture */
}

/* createVm with a config naming files: @kernel, and one disk of @image or two partitions. */
static int create_vm_files(struct fx *fx, int kernel, int bootloader, int image, const int *parts,
			   struct ipc_proxy **ret)
{
	struct vm_config_partition p[2] = {{"a", -1, false}, {"b", -1, true}};
	struct vm_config_disk disk = {.image_fd = image, .writable = true};
	struct ipc_msg *req = NULL, *reply = NULL;
	struct vm_config c;
	int r;

	vm_config_init(&c);
	c.name = "files";
	c.guest_script = "hang";
	c.kernel_fd = kernel;
	c.bootloader_fd = bootloader;
	c.params = "console=hvc0";
	if (parts) {
		p[0].fd = parts[0];
		p[1].fd = parts[1];
		disk.partitions = p;
		disk.n_partitions = 2;
	}
	c.disks = &disk;
	c.n_disks = 1;
	assert_int_equal(ipc_msg_new(&req), 0);
	assert_int_equal(proto_put_config(req, &c), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ipc_msg_put_null(req), 0);
	r = ipc_call(fx->vs, PROTO_VS_CREATE_VM, req, CALL_TIMEOUT, &reply);
	ipc_msg_free(req);
	if (r < 0)
		return r;
	assert_int_equal(ipc_msg_get_proxy(reply, ret), 0);
	ipc_msg_free(reply);
	return 0;
}

/*
 * The config's files travel over the wire as fds, reach the backend as virtmgr's
 * own copies, and virtmgr keeps none once the VMM was spawned (each "file" is a
 * pipe's write end: EOF on its read end proves it). AVF's rules refuse a bad
 * config over the wire with AVF's codes, and close what came with it.
 */
static void test_config_files_reach_the_backend(void **state)
{
	struct fx *fx = fx_new_opts(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX, true);
	int k[2], d[2], p1[2], p2[2];
	struct ipc_proxy *vm = NULL;

	assert_int_equal(pipe2(k, O_CLOEXEC), 0);
	assert_int_equal(pipe2(d, O_CLOEXEC), 0);
	assert_int_equal(create_vm_files(fx, k[1], -1, d[1], NULL, &vm), 0);
	assert_true(fx->probe->kernel >= 0 && fx->probe->disk0 >= 0);
	assert_int_not_equal(fx->probe->kernel, k[1]);
	assert_true(fd_same_file(fx->probe->kernel, k[1]));
	assert_true(fd_same_file(fx->probe->disk0, d[1]));
	close(k[1]);
	close(d[1]);
	assert_false(at_eof(k[0]));
	assert_false(at_eof(d[0]));
	assert_int_equal(vm_call(vm, PROTO_VM_START, NULL), 0);
	assert_true(fx->probe->files_open_at_spawn);
	assert_true(at_eof(k[0]));
	assert_true(at_eof(d[0]));
	ipc_proxy_unref(vm);
	close(k[0]);
	close(d[0]);

	/* a composite's partitions (regular files: a composite needs their sizes): the disk
	 * reaches the backend as the composite virtmgr built */
	assert_int_equal(pipe2(k, O_CLOEXEC), 0);
	p1[1] = memfd_create("a", MFD_CLOEXEC);
	p2[1] = memfd_create("b", MFD_CLOEXEC);
	assert_true(p1[1] >= 0 && p2[1] >= 0);
	assert_int_equal(ftruncate(p1[1], 100), 0);
	assert_int_equal(ftruncate(p2[1], 4096), 0);
	assert_int_equal(create_vm_files(fx, k[1], -1, -1, (int[]){p1[1], p2[1]}, &vm), 0);
	assert_true(fx->probe->disk0 >= 0);
	assert_false(fd_same_file(fx->probe->disk0, p1[1]));
	close(k[1]);
	assert_false(at_eof(k[0]));
	/* never started: closed when the client drops the VM (only ours left) */
	ipc_proxy_unref(vm);
	pump(fx);
	assert_true(at_eof(k[0]));
	close(k[0]);
	assert_int_equal(count_fds_on_file(p1[1]), 1);
	assert_int_equal(count_fds_on_file(p2[1]), 1);
	close(p1[1]);
	close(p2[1]);

	/* AVF's rules over the wire; whatever came with the request is closed */
	assert_int_equal(pipe2(k, O_CLOEXEC), 0);
	assert_int_equal(pipe2(d, O_CLOEXEC), 0);
	assert_int_equal(pipe2(p1, O_CLOEXEC), 0);
	assert_remote(create_vm_files(fx, k[1], -1, d[1], (int[]){p1[1], p1[1]}, &vm),
		      AVF_EX_ILLEGAL_ARGUMENT, 0, "DiskImage contains both image and partitions");
	assert_remote(create_vm_files(fx, k[1], k[1], d[1], NULL, &vm), AVF_EX_SERVICE_SPECIFIC,
		      -1, "Can't have both bootloader and kernel/initrd image.");
	assert_remote(create_vm_files(fx, -1, -1, d[1], NULL, &vm), AVF_EX_SERVICE_SPECIFIC, -1,
		      "VM must have either a bootloader or a kernel image.");
	close(k[1]);
	close(d[1]);
	close(p1[1]);
	assert_true(at_eof(k[0]) && at_eof(d[0]) && at_eof(p1[0]));
	close(k[0]);
	close(d[0]);
	close(p1[0]);
	assert_int_equal(vmgr_vm_count(fx->mgr), 0);
	fx_free(fx); /* and nothing left: fds as before the fixture */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_start_stop),
	    cmocka_unit_test(test_callback_sequences_over_the_wire),
	    cmocka_unit_test(test_drop_last_reference_kills_running_vm),
	    cmocka_unit_test(test_closing_the_connection_kills_all_its_vms),
	    cmocka_unit_test(test_start_twice_and_stop_when_not_running),
	    cmocka_unit_test(test_initialize_writable_partition),
	    cmocka_unit_test(test_is_feature_enabled),
	    cmocka_unit_test(test_malformed_create_vm_keeps_serving),
	    cmocka_unit_test(test_create_vm_errors_from_the_manager),
	    cmocka_unit_test(test_connect_vsock),
	    cmocka_unit_test(test_register_after_death_is_never_called),
	    cmocka_unit_test(test_debug_list_with_local_contexts),
	    cmocka_unit_test(test_console_and_log_fds_reach_the_backend),
	    cmocka_unit_test(test_config_files_reach_the_backend),
	};

	/* a write to a closed pipe must be EPIPE, not death */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
