/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vs_link against a small fake IVirtualizationServiceInternal written here (a
 * listening socket in a temp dir, served by core/ipc on the same loop): allocate
 * and release, an unreachable service, a service that dies and comes back (claims
 * before the next allocate), SET_STATE, debugListVms, a refused claim, a mute
 * service (timeout), and vmgr over the link with the simulated backend. Waits are
 * bounded by a wall-clock deadline; nothing sleeps.
 */
#include "cmocka_wrap.h"
#include "test_fds.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "fakes/sim/sim_backend.h"
#include "ipc/ipc_conn.h"
#include "proto/avf_proto.h"
#include "service/virtmgr_server.h"
#include "service/vmgr.h"
#include "service/vs_link.h"

#define SEC           LOOP_NSEC_PER_SEC
#define MAX_CONNS     8
#define REQUESTER_PID 4242

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

/* ---- the fake virtualizationservice ---- */

struct fake_vs;

struct fake_ctx {
	struct fake_vs *vs;
	uint32_t cid;
	int state;
	bool live;
	char name[64];
};

struct fake_vs {
	struct loop *l;
	char path[108];
	int lfd;
	struct loop_source *lsrc;
	struct ipc_object *root;
	struct ipc_conn *conns[MAX_CONNS];
	int raw[MAX_CONNS]; /* mute mode: accepted, never served */
	int nconns, nraw;
	bool mute;
	bool refuse_claims;
	uint32_t next_cid;
	struct fake_ctx *ctxs[64];
	int nctx;
	char log[4096];
	/* Runs inside ALLOCATE, before the reply: while the link waits for it. */
	void (*alloc_hook)(struct fake_vs *vs, const char *name);
	void *hook_data;
};

static void vs_log(struct fake_vs *vs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vs_log(struct fake_vs *vs, const char *fmt, ...)
{
	va_list ap;
	size_t n = strlen(vs->log);

	va_start(ap, fmt);
	vsnprintf(vs->log + n, sizeof(vs->log) - n, fmt, ap);
	va_end(ap);
}

static int ctx_dispatch(struct ipc_object *obj, struct ipc_conn *conn, uint32_t method,
			struct ipc_msg *req, struct ipc_msg *reply)
{
	struct fake_ctx *c = ipc_object_data(obj);
	char dir[64];
	int32_t state;
	int r;

	switch (method) {
	case PROTO_CTX_GET_CID: return ipc_msg_put_i32(reply, (int32_t)c->cid);
	case PROTO_CTX_GET_TEMPORARY_DIRECTORY:
		snprintf(dir, sizeof(dir), "/fake/vm/%u", c->cid);
		return ipc_msg_put_string(reply, dir);
	case PROTO_CTX_SET_STATE:
		if ((r = ipc_msg_get_i32(req, &state)) < 0)
			return r;
		c->state = state;
		vs_log(c->vs, "state(%u,%s%s);", c->cid, avf_vm_state_name(state),
		       ipc_msg_hdr(req)->kind == IPC_ONEWAY ? "" : ",call");
		return 0;
	default: return ipc_unknown_method(obj, method);
	}
}

static void ctx_on_release(struct ipc_object *obj, struct ipc_conn *conn)
{
	struct fake_ctx *c = ipc_object_data(obj);

	c->live = false;
	vs_log(c->vs, "release(%u);", c->cid);
}

static const struct ipc_object_ops ctx_ops = {
    .name = PROTO_NAME_CTX, .dispatch = ctx_dispatch, .on_release = ctx_on_release,
    /* No destroy: the fake keeps every context it gave until vs_stop (its log needs them). */
};

static int give_ctx(struct fake_vs *vs, uint32_t cid, const char *name, struct ipc_msg *reply)
{
	struct fake_ctx *c = calloc(1, sizeof(*c));
	struct ipc_object *obj;
	int r;

	assert_non_null(c);
	c->vs = vs;
	c->cid = cid;
	c->live = true;
	snprintf(c->name, sizeof(c->name), "%s", name);
	assert_int_equal(ipc_object_new(&ctx_ops, c, &obj), 0);
	assert_true(vs->nctx < 64);
	vs->ctxs[vs->nctx++] = c;
	r = ipc_msg_put_object(reply, obj);
	ipc_object_unref(obj);
	return r;
}

static bool cid_live(const struct fake_vs *vs, uint32_t cid)
{
	for (int i = 0; i < vs->nctx; i++)
		if (vs->ctxs[i]->live && vs->ctxs[i]->cid == cid)
			return true;
	return false;
}

static int vsi_dispatch(struct ipc_object *obj, struct ipc_conn *conn, uint32_t method,
			struct ipc_msg *req, struct ipc_msg *reply)
{
	struct fake_vs *vs = ipc_object_data(obj);
	const char *name;
	int32_t pid, cid;
	uint32_t n = 0;
	int r;

	switch (method) {
	case PROTO_VSI_ALLOCATE_GLOBAL_VM_CONTEXT:
		if ((r = ipc_msg_get_string(req, &name)) < 0 ||
		    (r = ipc_msg_get_i32(req, &pid)) < 0)
			return r;
		vs_log(vs, "alloc(%s,%d);", name, pid);
		if (vs->alloc_hook)
			vs->alloc_hook(vs, name);
		while (cid_live(vs, vs->next_cid))
			vs->next_cid++;
		return give_ctx(vs, vs->next_cid++, name, reply);
	case PROTO_VSI_CLAIM_GLOBAL_VM_CONTEXT:
		if ((r = ipc_msg_get_i32(req, &cid)) < 0 ||
		    (r = ipc_msg_get_string(req, &name)) < 0 ||
		    (r = ipc_msg_get_i32(req, &pid)) < 0)
			return r;
		vs_log(vs, "claim(%d,%s,%d);", cid, name, pid);
		if (vs->refuse_claims || cid_live(vs, (uint32_t)cid))
			return avf_err_set(-EBUSY, AVF_EX_ILLEGAL_STATE, "CID %d is held", cid);
		return give_ctx(vs, (uint32_t)cid, name, reply);
	case PROTO_VSI_DEBUG_LIST_VMS:
		for (int i = 0; i < vs->nctx; i++)
			n += vs->ctxs[i]->live;
		if ((r = ipc_msg_put_u32(reply, n)) < 0)
			return r;
		for (int i = 0; i < vs->nctx; i++) {
			struct fake_ctx *c = vs->ctxs[i];
			struct proto_debug_row row = {.cid = (int32_t)c->cid,
						      .state = c->state,
						      .requester_uid = 1000,
						      .requester_pid = REQUESTER_PID,
						      .name = c->name,
						      .temp_dir = "/fake"};

			if (c->live && (r = proto_put_debug_row(reply, &row)) < 0)
				return r;
		}
		return 0;
	default: return ipc_unknown_method(obj, method);
	}
}

static const struct ipc_object_ops vsi_ops = {
    .name = PROTO_NAME_VSI,
    .dispatch = vsi_dispatch,
};

static void vs_accept(struct loop_source *src, int fd, uint32_t revents, void *data)
{
	struct fake_vs *vs = data;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

	if (c < 0)
		return;
	if (vs->mute) {
		assert_true(vs->nraw < MAX_CONNS);
		vs->raw[vs->nraw++] = c;
		return;
	}
	assert_true(vs->nconns < MAX_CONNS);
	assert_int_equal(ipc_conn_new(vs->l, c, vs->root, NULL, NULL, &vs->conns[vs->nconns]), 0);
	vs->nconns++;
}

/* Start listening at vs->path (again, after vs_stop). */
static void vs_start(struct fake_vs *vs)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	strcpy(sa.sun_path, vs->path);
	vs->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(vs->lfd >= 0);
	assert_int_equal(bind(vs->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(vs->lfd, 16), 0);
	assert_int_equal(loop_add_fd(vs->l, vs->lfd, EPOLLIN, vs_accept, vs, &vs->lsrc), 0);
}

/* The service dies: every connection and context goes, the socket file too. */
static void vs_stop(struct fake_vs *vs)
{
	for (int i = 0; i < vs->nconns; i++)
		vs->conns[i] = ipc_conn_free(vs->conns[i]);
	vs->nconns = 0;
	for (int i = 0; i < vs->nraw; i++)
		close(vs->raw[i]);
	vs->nraw = 0;
	for (int i = 0; i < vs->nctx; i++) {
		assert_false(vs->ctxs[i]->live); /* released with their connection */
		free(vs->ctxs[i]);
	}
	vs->nctx = 0;
	vs->lsrc = loop_source_free(vs->lsrc);
	if (vs->lfd >= 0)
		close(vs->lfd);
	vs->lfd = -1;
	unlink(vs->path);
}

/* ---- fixture ---- */

struct fx {
	struct loop *l;
	char dir[64];
	struct fake_vs vs;
	struct vs_link *link;
	struct trace tr;
	char trace_buf[8192];
	int fds_before;
};

static void trace_to_buf(const struct trace_event *ev, void *data)
{
	struct fx *fx = data;
	size_t n = strlen(fx->trace_buf);

	snprintf(fx->trace_buf + n, sizeof(fx->trace_buf) - n, "%s %s\n", ev->actor, ev->text);
}

static struct fx *fx_new(uint64_t timeout_ns)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->fds_before = count_fds();
	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &fx->l), 0);
	strcpy(fx->dir, "/tmp/test_vs_link.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->tr = (struct trace){.sink = trace_to_buf, .sink_data = fx};
	fx->vs.l = fx->l;
	fx->vs.lfd = -1;
	fx->vs.next_cid = 2048;
	snprintf(fx->vs.path, sizeof(fx->vs.path), "%s/vs.sock", fx->dir);
	assert_int_equal(ipc_object_new(&vsi_ops, &fx->vs, &fx->vs.root), 0);
	assert_int_equal(vs_link_new(&(struct vs_link_params){.loop = fx->l,
							      .socket_path = fx->vs.path,
							      .requester_pid = REQUESTER_PID,
							      .timeout_ns = timeout_ns,
							      .trace = &fx->tr},
				     &fx->link),
			 0);
	return fx;
}

static void pump(struct fx *fx)
{
	/* Until nothing is left to read on any socket of the loop. */
	uint64_t deadline = wall_ns() + 5 * SEC;

	while (loop_run_once(fx->l, 0) > 0)
		if (wall_ns() > deadline)
			fail_msg("the loop never went idle");
}

static void fx_free(struct fx *fx)
{
	vs_link_free(fx->link);
	pump(fx);
	vs_stop(&fx->vs);
	ipc_object_unref(fx->vs.root);
	assert_int_equal(loop_source_count(fx->l), 0);
	loop_free(fx->l);
	rmdir(fx->dir);
	assert_int_equal(count_fds(), fx->fds_before);
	free(fx);
}

static int acquire(struct fx *fx, const char *name, uint32_t *cid, char **dir)
{
	return vs_link_context_ops.acquire(fx->link, name, cid, dir);
}

/* ---- tests ---- */

static void test_allocate_release_round_trip(void **state)
{
	struct fx *fx = fx_new(0);
	uint32_t a, b;
	char *da = NULL, *db = NULL;

	vs_start(&fx->vs);
	assert_false(vs_link_connected(fx->link)); /* lazily, on the first need */
	assert_int_equal(acquire(fx, "one", &a, &da), 0);
	assert_true(vs_link_connected(fx->link));
	assert_int_equal(acquire(fx, "two", &b, &db), 0);
	assert_int_equal(a, 2048);
	assert_int_equal(b, 2049);
	assert_string_equal(da, "/fake/vm/2048");
	assert_string_equal(db, "/fake/vm/2049");
	assert_int_equal(vs_link_cid_count(fx->link), 2);
	vs_link_context_ops.release(fx->link, a);
	pump(fx);
	assert_string_equal(fx->vs.log, "alloc(one,4242);alloc(two,4242);release(2048);");
	assert_int_equal(vs_link_cid_count(fx->link), 1);
	/* one connection for everything */
	assert_int_equal(fx->vs.nconns, 1);
	vs_link_context_ops.release(fx->link, b);
	pump(fx);
	assert_non_null(strstr(fx->vs.log, "release(2049);"));
	free(da);
	free(db);
	fx_free(fx);
}

static void test_unreachable_service(void **state)
{
	struct fx *fx = fx_new(0);
	char want[256];
	uint32_t cid = 7;
	char *dir = NULL;

	/* nothing at the path */
	assert_int_equal(acquire(fx, "x", &cid, &dir), -ENOENT);
	snprintf(want, sizeof(want), "virtualizationservice is not available at %s: %s",
		 fx->vs.path, strerror(ENOENT));
	assert_string_equal(avf_err_last()->msg, want);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_STATE);
	assert_int_equal(cid, 7); /* untouched */
	assert_null(dir);

	/* a socket file nobody listens on */
	vs_start(&fx->vs);
	fx->vs.lsrc = loop_source_free(fx->vs.lsrc);
	close(fx->vs.lfd);
	fx->vs.lfd = -1;
	assert_int_equal(acquire(fx, "x", &cid, &dir), -ECONNREFUSED);
	snprintf(want, sizeof(want), "virtualizationservice is not available at %s: %s",
		 fx->vs.path, strerror(ECONNREFUSED));
	assert_string_equal(avf_err_last()->msg, want);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_STATE);
	assert_false(vs_link_connected(fx->link));
	assert_int_equal(vs_link_cid_count(fx->link), 0);
	fx_free(fx);
}

static void test_set_state_arrives_oneway(void **state)
{
	struct fx *fx = fx_new(0);
	uint32_t cid;
	char *dir = NULL;

	vs_start(&fx->vs);
	assert_int_equal(acquire(fx, "vm", &cid, &dir), 0);
	vs_link_context_ops.set_state(fx->link, cid, AVF_VM_STATE_STARTING);
	vs_link_context_ops.set_state(fx->link, cid, AVF_VM_STATE_READY);
	/* a CID the link does not hold: ignored */
	vs_link_context_ops.set_state(fx->link, 9999, AVF_VM_STATE_READY);
	pump(fx);
	assert_string_equal(fx->vs.log, "alloc(vm,4242);state(2048,STARTING);state(2048,READY);");
	vs_link_context_ops.release(fx->link, cid);
	free(dir);
	fx_free(fx);
}

static void test_restart_claims_before_allocate(void **state)
{
	struct fx *fx = fx_new(0);
	uint32_t a, b, c, d;
	char *da = NULL, *db = NULL, *dc = NULL, *dd = NULL;

	vs_start(&fx->vs);
	assert_int_equal(acquire(fx, "a", &a, &da), 0);
	assert_int_equal(acquire(fx, "b", &b, &db), 0);
	assert_int_equal(acquire(fx, "c", &c, &dc), 0);
	vs_link_context_ops.set_state(fx->link, a, AVF_VM_STATE_READY);
	pump(fx);

	/* virtualizationservice dies; the link notices at its next loop round */
	vs_stop(&fx->vs);
	pump(fx);
	assert_false(vs_link_connected(fx->link));
	assert_non_null(strstr(fx->trace_buf, "connection closed"));
	assert_int_equal(vs_link_cid_count(fx->link), 3); /* the VMs keep their CIDs */
	/* while it is away: a VM dies (its CID is not claimed later), another changes state */
	vs_link_context_ops.release(fx->link, b);
	vs_link_context_ops.set_state(fx->link, c, AVF_VM_STATE_FINISHED);
	fx->vs.log[0] = '\0';

	/* it comes back (fresh: it would grant 2048 again) */
	fx->vs.next_cid = 2048;
	vs_start(&fx->vs);
	assert_int_equal(acquire(fx, "d", &d, &dd), 0);
	pump(fx);
	/* claims on the wire first, then the allocation (which skips the claimed CIDs),
	 * then the states each claim restored */
	assert_string_equal(fx->vs.log, "claim(2048,a,4242);claim(2050,c,4242);alloc(d,4242);"
					"state(2048,READY);state(2050,FINISHED);");
	assert_int_equal(d, 2049);
	assert_non_null(strstr(fx->trace_buf, "cid 2048 re-claimed"));
	assert_int_equal(fx->vs.nconns, 1);

	vs_link_context_ops.release(fx->link, a);
	vs_link_context_ops.release(fx->link, c);
	vs_link_context_ops.release(fx->link, d);
	pump(fx);
	assert_non_null(strstr(fx->vs.log, "release(2048);release(2050);release(2049);"));
	free(da);
	free(db);
	free(dc);
	free(dd);
	fx_free(fx);
}

/* The service restarts before the link has read the EOF: the allocation finds the
 * old connection dead, reconnects, claims, and retries once. */
static void test_restart_unnoticed_retries_once(void **state)
{
	struct fx *fx = fx_new(0);
	uint32_t a, b;
	char *da = NULL, *db = NULL;

	vs_start(&fx->vs);
	assert_int_equal(acquire(fx, "a", &a, &da), 0);
	assert_true(vs_link_connected(fx->link));
	vs_stop(&fx->vs); /* no pump: the link has not seen it */
	fx->vs.log[0] = '\0';
	vs_start(&fx->vs);
	assert_int_equal(acquire(fx, "b", &b, &db), 0);
	pump(fx);
	assert_string_equal(fx->vs.log, "claim(2048,a,4242);alloc(b,4242);");
	assert_int_equal(b, 2049);
	vs_link_context_ops.release(fx->link, a);
	vs_link_context_ops.release(fx->link, b);
	free(da);
	free(db);
	fx_free(fx);
}

static void test_refused_claim_is_retried(void **state)
{
	struct fx *fx = fx_new(0);
	uint32_t a, b, c;
	char *da = NULL, *db = NULL, *dc = NULL;

	vs_start(&fx->vs);
	assert_int_equal(acquire(fx, "a", &a, &da), 0);
	vs_stop(&fx->vs);
	pump(fx);
	fx->vs.log[0] = '\0';
	fx->vs.refuse_claims = true;
	fx->vs.next_cid = 3000;
	vs_start(&fx->vs);
	/* the allocation does not depend on the claim */
	assert_int_equal(acquire(fx, "b", &b, &db), 0);
	pump(fx);
	assert_string_equal(fx->vs.log, "claim(2048,a,4242);alloc(b,4242);");
	assert_non_null(strstr(fx->trace_buf, "re-claiming cid 2048 failed: CID 2048 is held"));
	/* the next need tries again */
	fx->vs.refuse_claims = false;
	assert_int_equal(acquire(fx, "c", &c, &dc), 0);
	pump(fx);
	assert_string_equal(fx->vs.log, "claim(2048,a,4242);alloc(b,4242);claim(2048,a,4242);"
					"alloc(c,4242);");
	vs_link_context_ops.release(fx->link, a);
	vs_link_context_ops.release(fx->link, b);
	vs_link_context_ops.release(fx->link, c);
	free(da);
	free(db);
	free(dc);
	fx_free(fx);
}

static void test_debug_list(void **state)
{
	struct fx *fx = fx_new(0);
	struct vs_link_vm_list list = {0};
	uint32_t a, b;
	char *da = NULL, *db = NULL;

	vs_start(&fx->vs);
	/* the first need may be the list itself */
	assert_int_equal(vs_link_debug_list(fx->link, &list), 0);
	assert_int_equal(list.n, 0);
	vs_link_vm_list_clear(&list);
	assert_int_equal(acquire(fx, "a", &a, &da), 0);
	assert_int_equal(acquire(fx, "b", &b, &db), 0);
	vs_link_context_ops.set_state(fx->link, b, AVF_VM_STATE_STARTING);
	assert_int_equal(vs_link_debug_list(fx->link, &list), 0);
	assert_int_equal(list.n, 2);
	assert_int_equal(list.rows[0].cid, 2048);
	assert_string_equal(list.rows[0].name, "a");
	assert_int_equal(list.rows[0].state, AVF_VM_STATE_NOT_STARTED);
	assert_int_equal(list.rows[1].cid, 2049);
	/* the ONEWAY SET_STATE went before the list call on the same connection */
	assert_int_equal(list.rows[1].state, AVF_VM_STATE_STARTING);
	assert_int_equal(list.rows[1].requester_pid, REQUESTER_PID);
	vs_link_vm_list_clear(&list);
	assert_null(list.rows);

	/* unreachable */
	vs_stop(&fx->vs);
	pump(fx);
	assert_int_equal(vs_link_debug_list(fx->link, &list), -ENOENT);
	assert_non_null(strstr(avf_err_last()->msg, "virtualizationservice is not available"));
	vs_link_context_ops.release(fx->link, a);
	vs_link_context_ops.release(fx->link, b);
	free(da);
	free(db);
	fx_free(fx);
}

static void test_mute_service_times_out(void **state)
{
	struct fx *fx = fx_new(100 * LOOP_NSEC_PER_MSEC);
	uint64_t t0;
	uint32_t cid;
	char *dir = NULL;

	fx->vs.mute = true;
	vs_start(&fx->vs);
	t0 = wall_ns();
	assert_int_equal(acquire(fx, "x", &cid, &dir), -ETIMEDOUT);
	assert_true(wall_ns() - t0 >= 100 * LOOP_NSEC_PER_MSEC);
	assert_non_null(strstr(avf_err_last()->msg, "allocateGlobalVmContext: "));
	assert_non_null(strstr(avf_err_last()->msg, "within 100 ms"));
	assert_int_equal(vs_link_cid_count(fx->link), 0);
	fx_free(fx);
}

/* vmgr over the link: states and the release reach the service. */
static void test_vmgr_over_link(void **state)
{
	struct fx *fx = fx_new(0);
	struct backend *be;
	struct vmgr *mgr;
	struct vm_handle *h = NULL, *h2 = NULL;
	struct vm_config c;

	vs_start(&fx->vs);
	assert_int_equal(sim_backend_new(fx->l, NULL, &be), 0);
	assert_int_equal(vmgr_new(&(struct vmgr_params){.loop = fx->l,
							.backend = be,
							.context = &vs_link_context_ops,
							.context_data = fx->link},
				  &mgr),
			 0);
	vm_config_init(&c);
	c.name = "app";
	c.kind = VM_CONFIG_APP;
	c.guest_script = "started; ready; finished 0; exit 0";
	assert_int_equal(vmgr_create_vm(mgr, &c, &h), 0);
	assert_int_equal(vm_cid(vm_handle_vm(h)), 2048);
	assert_int_equal(vmgr_start(mgr, h), 0);
	loop_advance(fx->l, SEC);
	pump(fx);
	assert_string_equal(fx->vs.log, "alloc(app,4242);state(2048,STARTING);state(2048,STARTED);"
					"state(2048,READY);state(2048,FINISHED);state(2048,DEAD);");
	vm_handle_unref(h);
	pump(fx);
	assert_non_null(strstr(fx->vs.log, "release(2048);"));

	/* createVm when the service is gone: AVF's error, no VM */
	vs_stop(&fx->vs);
	pump(fx);
	assert_int_equal(vmgr_create_vm(mgr, &c, &h2), -ENOENT);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_STATE);
	assert_non_null(strstr(avf_err_last()->msg, "virtualizationservice is not available at "));
	assert_null(h2);
	assert_int_equal(vmgr_vm_count(mgr), 0);
	vmgr_free(mgr);
	backend_free(be);
	fx_free(fx);
}

/* ---- re-entrancy: everything else runs while createVm waits for the service ---- */

struct reentry {
	struct ipc_proxy *root;
	struct ipc_proxy *vm[4]; /* replies of the client's createVm calls, in arrival order */
	int replies;
	struct ipc_proxy *victim; /* a running VM the client drops during the wait */
	bool hooked;
};

static void create_done(struct ipc_conn *conn, int err, struct ipc_msg *reply, void *data)
{
	struct reentry *re = data;

	if (err < 0)
		fail_msg("createVm: %s", avf_err_last()->msg);
	assert_int_equal(ipc_msg_get_proxy(reply, &re->vm[re->replies]), 0);
	re->replies++;
}

static void send_create(struct reentry *re, const char *name, const char *script)
{
	struct ipc_msg *m;
	struct vm_config c;

	vm_config_init(&c);
	c.name = (char *)name;
	c.guest_script = (char *)script;
	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(proto_put_config(m, &c), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ipc_msg_put_null(m), 0);
	assert_int_equal(ipc_call_async(re->root, PROTO_VS_CREATE_VM, m, create_done, re), 0);
	ipc_msg_free(m);
}

/*
 * Inside the ALLOCATE of "outer" (virtmgr waits for it in ipc_call): the client
 * sends another createVm and drops a running VM, and the loop serves both before
 * the service answers.
 */
static void reentry_hook(struct fake_vs *vs, const char *name)
{
	struct reentry *re = vs->hook_data;
	uint64_t deadline = wall_ns() + 5 * SEC;

	if (strcmp(name, "outer") != 0 || re->hooked)
		return;
	re->hooked = true;
	send_create(re, "inner", "hang");
	re->victim = ipc_proxy_unref(re->victim);
	while (!strstr(vs->log, "alloc(inner,") || !strstr(vs->log, "release(2048);")) {
		if (wall_ns() > deadline)
			fail_msg("nothing served during the wait: %s", vs->log);
		assert_true(loop_run_once(vs->l, 10) >= 0);
	}
}

static int32_t cid_of(struct ipc_proxy *vm)
{
	struct ipc_msg *reply = NULL;
	int32_t cid;

	assert_int_equal(ipc_call(vm, PROTO_VM_GET_CID, NULL, 5 * SEC, &reply), 0);
	assert_int_equal(ipc_msg_get_i32(reply, &cid), 0);
	ipc_msg_free(reply);
	return cid;
}

static void test_server_serves_during_allocate_wait(void **state)
{
	struct fx *fx = fx_new(0);
	struct reentry re = {0};
	struct virtmgr_server *srv;
	struct ipc_conn *cli;
	struct backend *be;
	struct vmgr *mgr;
	int sv[2];

	vs_start(&fx->vs);
	fx->vs.alloc_hook = reentry_hook;
	fx->vs.hook_data = &re;
	assert_int_equal(sim_backend_new(fx->l, NULL, &be), 0);
	assert_int_equal(vmgr_new(&(struct vmgr_params){.loop = fx->l,
							.backend = be,
							.context = &vs_link_context_ops,
							.context_data = fx->link},
				  &mgr),
			 0);
	assert_int_equal(
	    virtmgr_server_new(
		&(struct virtmgr_server_params){.loop = fx->l, .mgr = mgr, .link = fx->link}, &srv),
	    0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(virtmgr_server_add_client(srv, sv[0]), 0);
	assert_int_equal(ipc_conn_new(fx->l, sv[1], NULL, NULL, NULL, &cli), 0);
	assert_int_equal(ipc_conn_root(cli, &re.root), 0);

	/* a running VM (2048), to be dropped during the wait */
	send_create(&re, "victim", "started; hang");
	while (re.replies < 1)
		assert_true(loop_run_once(fx->l, 10) >= 0);
	re.victim = re.vm[0];
	assert_int_equal(ipc_call(re.victim, PROTO_VM_START, NULL, 5 * SEC, NULL), 0);
	loop_advance(fx->l, SEC);
	pump(fx);

	send_create(&re, "outer", "hang");
	while (re.replies < 3)
		assert_true(loop_run_once(fx->l, 10) >= 0);
	pump(fx);
	assert_true(re.hooked);
	/* served in the middle: the inner allocation, the victim's death and release */
	assert_string_equal(fx->vs.log, "alloc(victim,4242);state(2048,STARTING);"
					"state(2048,STARTED);alloc(outer,4242);alloc(inner,4242);"
					"state(2048,DEAD);release(2048);");
	/* the inner call completed first, then the outer: each has its own CID */
	assert_int_equal(cid_of(re.vm[1]), 2049);
	assert_int_equal(cid_of(re.vm[2]), 2050);
	assert_int_equal(vs_link_cid_count(fx->link), 2);
	assert_int_equal(vmgr_vm_count(mgr), 2);

	ipc_proxy_unref(re.vm[1]);
	ipc_proxy_unref(re.vm[2]);
	ipc_proxy_unref(re.root);
	ipc_conn_free(cli);
	pump(fx);
	assert_int_equal(vmgr_vm_count(mgr), 0);
	assert_int_equal(vs_link_cid_count(fx->link), 0);
	virtmgr_server_free(srv);
	vmgr_free(mgr);
	backend_free(be);
	fx_free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_allocate_release_round_trip),
	    cmocka_unit_test(test_unreachable_service),
	    cmocka_unit_test(test_set_state_arrives_oneway),
	    cmocka_unit_test(test_restart_claims_before_allocate),
	    cmocka_unit_test(test_restart_unnoticed_retries_once),
	    cmocka_unit_test(test_refused_claim_is_retried),
	    cmocka_unit_test(test_debug_list),
	    cmocka_unit_test(test_mute_service_times_out),
	    cmocka_unit_test(test_vmgr_over_link),
	    cmocka_unit_test(test_server_serves_during_allocate_wait),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
