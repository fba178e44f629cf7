/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtualizationservice's server in-process: the server and its clients on one
 * loop over socketpairs (or a real listening socket), clients calling through
 * ipc_call as virtmgr does. Grants, releases by object and by close, debug rows,
 * claims, exhaustion, bad calls, a garbage peer, the listening socket, restart.
 * Every wait is bounded by a wall-clock deadline; every test ends with no fd, loop
 * source or temp dir left behind.
 */
#include "cmocka_wrap.h"
#include "test_fds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "base/avf_err.h"
#include "base/fs_util.h"
#include "ipc/ipc_conn.h"
#include "proto/avf_proto.h"
#include "service/vs_registry.h"
#include "service/vs_server.h"

#define SEC5 (5 * LOOP_NSEC_PER_SEC)
#define NCLI 3

struct cli {
	struct ipc_conn *conn;
	struct ipc_proxy *root;
};

struct fx {
	char dir[256];
	char state[300];
	int fds_before;
	struct loop *l;
	struct vs_registry *reg;
	struct vs_server *srv;
	struct trace tr;
	char tlog[16384];
	size_t tlen;
	struct cli cli[NCLI];
};

/* What debugListVms returned, strings copied out of the reply. */
struct row {
	struct proto_debug_row r;
	char name[64];
	char temp_dir[300];
};

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * LOOP_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Run the loop until @cond holds, failing after 5 s of wall time. */
#define PUMP_UNTIL(f, cond)                                                                        \
	do {                                                                                       \
		uint64_t dl_ = wall_ns() + SEC5;                                                   \
		while (!(cond)) {                                                                  \
			if (wall_ns() > dl_)                                                       \
				fail_msg("timed out waiting for " #cond);                          \
			assert_true(loop_run_once((f)->l, 10) >= 0);                               \
		}                                                                                  \
	} while (0)

static void assert_err(int ex, const char *substr)
{
	if (avf_err_last()->ex != ex)
		fail_msg("exception %s, expected %s (%s)", avf_ex_name(avf_err_last()->ex),
			 avf_ex_name(ex), avf_err_last()->msg);
	if (!strstr(avf_err_last()->msg, substr))
		fail_msg("message '%s' lacks '%s'", avf_err_last()->msg, substr);
}

static bool is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void trace_sink(const struct trace_event *ev, void *data)
{
	struct fx *f = data;
	int n =
	    snprintf(f->tlog + f->tlen, sizeof(f->tlog) - f->tlen, "%s %s\n", ev->actor, ev->text);

	if (n > 0 && (size_t)n < sizeof(f->tlog) - f->tlen)
		f->tlen += (size_t)n;
}

static void assert_traced(struct fx *f, const char *line)
{
	if (!strstr(f->tlog, line))
		fail_msg("trace lacks '%s':\n%s", line, f->tlog);
}

/* ---- fixture ---- */

static void fx_open(struct fx *f, uint32_t min, uint32_t max)
{
	assert_int_equal(vs_registry_new(f->state, min, max, &f->tr, &f->reg), 0);
	assert_int_equal(vs_server_new(f->l, f->reg, &f->tr, &f->srv), 0);
}

static void fx_close(struct fx *f)
{
	int i;

	for (i = 0; i < NCLI; i++) {
		f->cli[i].root = ipc_proxy_unref(f->cli[i].root);
		f->cli[i].conn = ipc_conn_free(f->cli[i].conn);
	}
	f->srv = vs_server_free(f->srv);
	f->reg = vs_registry_free(f->reg);
}

static struct fx *fx_new(uint32_t min, uint32_t max)
{
	const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->fds_before = count_fds();
	snprintf(f->dir, sizeof(f->dir), "%s/test_vs_server_XXXXXX", tmp);
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	f->tr.sink = trace_sink;
	f->tr.sink_data = f;
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &f->l), 0);
	fx_open(f, min, max);
	return f;
}

static void fx_free(struct fx *f)
{
	fx_close(f);
	assert_int_equal(loop_source_count(f->l), 0);
	f->l = loop_free(f->l);
	assert_int_equal(fs_remove_tree(f->dir), 0);
	assert_int_equal(count_fds(), f->fds_before);
	free(f);
}

static int setup(void **state)
{
	*state = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	return 0;
}

static int teardown(void **state)
{
	fx_free(*state);
	return 0;
}

/* A client connection on a socketpair whose other end the server serves. */
static struct cli *cli_connect(struct fx *f, int i)
{
	struct cli *c = &f->cli[i];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vs_server_serve_fd(f->srv, sv[0]), 0);
	assert_int_equal(ipc_conn_new(f->l, sv[1], NULL, NULL, NULL, &c->conn), 0);
	assert_int_equal(ipc_conn_root(c->conn, &c->root), 0);
	return c;
}

/* The client goes away; waits until the server has noticed. */
static void cli_close(struct fx *f, struct cli *c)
{
	unsigned before = vs_server_connection_count(f->srv);

	c->root = ipc_proxy_unref(c->root);
	c->conn = ipc_conn_free(c->conn);
	PUMP_UNTIL(f, vs_server_connection_count(f->srv) == before - 1);
}

static struct ipc_msg *new_msg(void)
{
	struct ipc_msg *m;

	assert_int_equal(ipc_msg_new(&m), 0);
	return m;
}

/* ipc_call that frees @req. */
static int call(struct ipc_proxy *p, uint32_t method, struct ipc_msg *req, struct ipc_msg **ret)
{
	int r = ipc_call(p, method, req, SEC5, ret);

	ipc_msg_free(req);
	return r;
}

static struct ipc_msg *alloc_args(const char *name, int32_t pid)
{
	struct ipc_msg *m = new_msg();

	assert_int_equal(ipc_msg_put_string(m, name), 0);
	assert_int_equal(ipc_msg_put_i32(m, pid), 0);
	return m;
}

static struct ipc_msg *claim_args(int32_t cid, const char *name, int32_t pid)
{
	struct ipc_msg *m = new_msg();

	assert_int_equal(ipc_msg_put_i32(m, cid), 0);
	assert_int_equal(ipc_msg_put_string(m, name), 0);
	assert_int_equal(ipc_msg_put_i32(m, pid), 0);
	return m;
}

/* A call that must return an IGlobalVmContext; the caller drops the proxy. */
static struct ipc_proxy *ctx_call(struct cli *c, uint32_t method, struct ipc_msg *req)
{
	struct ipc_msg *rep = NULL;
	struct ipc_proxy *p = NULL;

	if (call(c->root, method, req, &rep) < 0)
		fail_msg("method %u: %s", method, avf_err_last()->msg);
	assert_int_equal(ipc_msg_get_proxy(rep, &p), 0);
	assert_int_equal(ipc_msg_get_end(rep), 0);
	ipc_msg_free(rep);
	return p;
}

static struct ipc_proxy *allocate(struct cli *c, const char *name, int32_t pid)
{
	return ctx_call(c, PROTO_VSI_ALLOCATE_GLOBAL_VM_CONTEXT, alloc_args(name, pid));
}

static int32_t ctx_cid(struct ipc_proxy *p)
{
	struct ipc_msg *rep = NULL;
	int32_t cid;

	assert_int_equal(call(p, PROTO_CTX_GET_CID, NULL, &rep), 0);
	assert_int_equal(ipc_msg_get_i32(rep, &cid), 0);
	ipc_msg_free(rep);
	return cid;
}

static void ctx_dir(struct ipc_proxy *p, char *buf, size_t len)
{
	struct ipc_msg *rep = NULL;
	const char *s;

	assert_int_equal(call(p, PROTO_CTX_GET_TEMPORARY_DIRECTORY, NULL, &rep), 0);
	assert_int_equal(ipc_msg_get_string(rep, &s), 0);
	snprintf(buf, len, "%s", s);
	ipc_msg_free(rep);
}

static int set_state(struct ipc_proxy *p, int32_t state)
{
	struct ipc_msg *m = new_msg();

	assert_int_equal(ipc_msg_put_i32(m, state), 0);
	return call(p, PROTO_CTX_SET_STATE, m, NULL);
}

/* debugListVms through @c: the row count, up to @max rows copied into @rows. */
static unsigned list_vms(struct cli *c, struct row *rows, unsigned max)
{
	struct ipc_msg *rep = NULL;
	struct proto_debug_row r;
	uint32_t n, i;

	if (call(c->root, PROTO_VSI_DEBUG_LIST_VMS, NULL, &rep) < 0)
		fail_msg("debugListVms: %s", avf_err_last()->msg);
	assert_int_equal(ipc_msg_get_u32(rep, &n), 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(proto_get_debug_row(rep, &r), 0);
		if (i < max) {
			rows[i].r = r;
			snprintf(rows[i].name, sizeof(rows[i].name), "%s", r.name);
			snprintf(rows[i].temp_dir, sizeof(rows[i].temp_dir), "%s", r.temp_dir);
			rows[i].r.name = rows[i].name;
			rows[i].r.temp_dir = rows[i].temp_dir;
		}
	}
	assert_int_equal(ipc_msg_get_end(rep), 0);
	ipc_msg_free(rep);
	return n;
}

static void vm_dir(struct fx *f, uint32_t cid, char *buf, size_t len)
{
	snprintf(buf, len, "%s/vm/%u", f->state, cid);
}

/* ---- grants and releases ---- */

static void test_allocate_distinct(void **state)
{
	struct fx *f = *state;
	struct cli *a = cli_connect(f, 0), *b = cli_connect(f, 1);
	struct ipc_proxy *p[3];
	char got[300], want[300], line[128];
	int i;

	p[0] = allocate(a, "one", 10);
	p[1] = allocate(a, "two", 11);
	p[2] = allocate(b, "three", 12);
	for (i = 0; i < 3; i++) {
		assert_int_equal(ctx_cid(p[i]), 2048 + i);
		ctx_dir(p[i], got, sizeof(got));
		vm_dir(f, 2048 + (uint32_t)i, want, sizeof(want));
		assert_string_equal(got, want);
		assert_true(is_dir(got));
	}
	assert_int_equal(vs_server_connection_count(f->srv), 2);
	snprintf(line, sizeof(line), "vs connection 1 opened (pid %d uid %u)\n", (int)getpid(),
		 (unsigned)getuid());
	assert_traced(f, line);
	assert_traced(f, "vs cid 2050 granted\n");
	for (i = 0; i < 3; i++)
		ipc_proxy_unref(p[i]);
}

static void test_release_object_frees_cid(void **state)
{
	struct fx *f = *state;
	struct cli *a = cli_connect(f, 0);
	struct ipc_proxy *p, *q;
	struct row rows[4];
	char dir[300];

	p = allocate(a, "vm", 1);
	q = allocate(a, "kept", 2);
	ctx_dir(p, dir, sizeof(dir));
	assert_true(is_dir(dir));
	assert_int_equal(list_vms(a, rows, 4), 2);
	/* The RELEASE goes out before the next call on the same connection. */
	ipc_proxy_unref(p);
	assert_int_equal(list_vms(a, rows, 4), 1);
	assert_int_equal(rows[0].r.cid, 2049);
	assert_false(is_dir(dir));
	assert_traced(f, "vs cid 2048 released\n");
	/* Round robin: the freed CID is not the next one granted. */
	p = allocate(a, "vm", 1);
	assert_int_equal(ctx_cid(p), 2050);
	ipc_proxy_unref(p);
	ipc_proxy_unref(q);
	assert_int_equal(list_vms(a, rows, 4), 0);
	assert_int_equal(vs_registry_count(f->reg), 0);
}

static void test_close_releases_only_that_holder(void **state)
{
	struct fx *f = *state;
	struct cli *a = cli_connect(f, 0), *b = cli_connect(f, 1);
	struct ipc_proxy *pa1, *pa2, *pb;
	struct row rows[4];
	char da[300], db[300], line[128];

	pa1 = allocate(a, "a1", 1);
	pb = allocate(b, "b", 2);
	pa2 = allocate(a, "a2", 3);
	ctx_dir(pa1, da, sizeof(da));
	ctx_dir(pb, db, sizeof(db));
	/* a's virtmgr dies while holding both: its proxies are left dangling. */
	cli_close(f, a);
	assert_int_equal(list_vms(b, rows, 4), 1);
	assert_int_equal(rows[0].r.cid, 2049);
	assert_string_equal(rows[0].name, "b");
	assert_false(is_dir(da));
	assert_true(is_dir(db));
	assert_traced(f, "vs cid 2048 released\n");
	assert_traced(f, "vs cid 2050 released\n");
	/* A clean EOF: no reason. */
	snprintf(line, sizeof(line), "vs connection 1 closed (pid %d uid %u)\n", (int)getpid(),
		 (unsigned)getuid());
	assert_traced(f, line);
	/* Proxies outlive their connection: calls fail, dropping them is harmless. */
	assert_int_equal(ipc_call(pa1, PROTO_CTX_GET_CID, NULL, SEC5, NULL), -EPIPE);
	ipc_proxy_unref(pa1);
	ipc_proxy_unref(pa2);
	assert_int_equal(ctx_cid(pb), 2049);
	ipc_proxy_unref(pb);
}

static void test_debug_list_rows(void **state)
{
	struct fx *f = *state;
	struct cli *a = cli_connect(f, 0), *b = cli_connect(f, 1);
	struct ipc_proxy *p, *q;
	struct row rows[4];
	char want[300];

	assert_int_equal(list_vms(b, rows, 4), 0);
	p = allocate(a, "alpha", 111);
	q = allocate(b, "", 222);
	assert_int_equal(set_state(p, AVF_VM_STATE_READY), 0);
	/* Only AVF's values; 5 is the hole in VirtualMachineState. */
	assert_int_equal(set_state(q, 5), -EREMOTEIO);
	assert_err(AVF_EX_ILLEGAL_ARGUMENT, "invalid VM state 5");
	assert_int_equal(set_state(q, 7), -EREMOTEIO);
	assert_int_equal(set_state(q, -1), -EREMOTEIO);
	/* Either holder sees every VM. */
	assert_int_equal(list_vms(b, rows, 4), 2);
	assert_int_equal(rows[0].r.cid, 2048);
	assert_int_equal(rows[0].r.state, AVF_VM_STATE_READY);
	assert_int_equal(rows[0].r.requester_uid, (int32_t)getuid());
	assert_int_equal(rows[0].r.requester_pid, 111);
	assert_string_equal(rows[0].name, "alpha");
	vm_dir(f, 2048, want, sizeof(want));
	assert_string_equal(rows[0].temp_dir, want);
	assert_int_equal(rows[1].r.cid, 2049);
	assert_int_equal(rows[1].r.state, AVF_VM_STATE_NOT_STARTED);
	assert_int_equal(rows[1].r.requester_pid, 222);
	assert_string_equal(rows[1].name, "");
	assert_int_equal(set_state(q, AVF_VM_STATE_DEAD), 0);
	assert_int_equal(list_vms(a, rows, 4), 2);
	assert_int_equal(rows[1].r.state, AVF_VM_STATE_DEAD);
	ipc_proxy_unref(p);
	ipc_proxy_unref(q);
}

static void test_claim(void **state)
{
	struct fx *f = *state;
	struct cli *a = cli_connect(f, 0), *b = cli_connect(f, 1);
	struct ipc_proxy *p, *c1, *c2;
	struct row rows[4];
	char dir[300], want[300];

	p = allocate(a, "granted", 1);
	c1 = ctx_call(b, PROTO_VSI_CLAIM_GLOBAL_VM_CONTEXT, claim_args(3000, "live", 42));
	assert_int_equal(ctx_cid(c1), 3000);
	ctx_dir(c1, dir, sizeof(dir));
	vm_dir(f, 3000, want, sizeof(want));
	assert_string_equal(dir, want);
	assert_true(is_dir(dir));
	assert_traced(f, "vs cid 3000 claimed\n");

	/* Held, by another holder or by the claimer itself. */
	assert_int_equal(
	    call(b->root, PROTO_VSI_CLAIM_GLOBAL_VM_CONTEXT, claim_args(2048, "x", 1), NULL),
	    -EREMOTEIO);
	assert_err(AVF_EX_ILLEGAL_STATE, "CID 2048 is already held");
	assert_int_equal(
	    call(b->root, PROTO_VSI_CLAIM_GLOBAL_VM_CONTEXT, claim_args(3000, "x", 1), NULL),
	    -EREMOTEIO);
	assert_err(AVF_EX_ILLEGAL_STATE, "CID 3000 is already held");
	/* Outside the range. */
	assert_int_equal(
	    call(b->root, PROTO_VSI_CLAIM_GLOBAL_VM_CONTEXT, claim_args(65536, "x", 1), NULL),
	    -EREMOTEIO);
	assert_err(AVF_EX_ILLEGAL_ARGUMENT, "CID 65536 is outside 2048..65535");
	assert_int_equal(
	    call(b->root, PROTO_VSI_CLAIM_GLOBAL_VM_CONTEXT, claim_args(3, "x", 1), NULL),
	    -EREMOTEIO);
	assert_err(AVF_EX_ILLEGAL_ARGUMENT, "CID 3 is outside");
	assert_int_equal(
	    call(b->root, PROTO_VSI_CLAIM_GLOBAL_VM_CONTEXT, claim_args(-1, "x", 1), NULL),
	    -EREMOTEIO);
	assert_err(AVF_EX_ILLEGAL_ARGUMENT, "CID -1 is not a guest CID");

	/* Listed like a grant; the cursor did not jump to 3000. */
	assert_int_equal(list_vms(a, rows, 4), 2);
	assert_int_equal(rows[1].r.cid, 3000);
	assert_string_equal(rows[1].name, "live");
	assert_int_equal(rows[1].r.requester_pid, 42);
	c2 = allocate(b, "next", 1);
	assert_int_equal(ctx_cid(c2), 2049);

	/* A claimed context goes like any other. */
	ipc_proxy_unref(c1);
	assert_int_equal(list_vms(a, rows, 4), 2);
	assert_false(is_dir(dir));
	ipc_proxy_unref(c2);
	ipc_proxy_unref(p);
}

static void test_exhaustion(void **state)
{
	struct fx *f = fx_new(2048, 2050);
	struct cli *a = cli_connect(f, 0);
	struct ipc_proxy *p[3], *q;
	int i;

	for (i = 0; i < 3; i++)
		p[i] = allocate(a, "vm", i);
	avf_err_clear();
	assert_int_equal(
	    call(a->root, PROTO_VSI_ALLOCATE_GLOBAL_VM_CONTEXT, alloc_args("x", 1), NULL),
	    -EREMOTEIO);
	assert_err(AVF_EX_ILLEGAL_STATE, "Could not find an available CID.");
	assert_int_equal(vs_registry_count(f->reg), 3);
	/* One goes; the next allocation gets exactly that one. */
	p[1] = ipc_proxy_unref(p[1]);
	q = allocate(a, "again", 9);
	assert_int_equal(ctx_cid(q), 2049);
	ipc_proxy_unref(q);
	ipc_proxy_unref(p[0]);
	ipc_proxy_unref(p[2]);
	fx_free(f);
}

/*
 * debugListVms answers in one packet (IPC_MSG_MAX): past what fits, a clear error
 * rather than a silently cut list, and the server carries on.
 */
static void test_list_too_big_for_one_reply(void **state)
{
	struct fx *f = *state;
	struct cli *a;
	struct ipc_proxy *p, *q;
	struct row rows[1];
	unsigned i, n = 0;
	uint32_t cid;

	/* Without a state dir (no fsync per grant); the contexts come straight from the
	 * registry under another holder, as the wire would only be slower. */
	fx_close(f);
	assert_int_equal(vs_registry_new(NULL, 10000, 20000, &f->tr, &f->reg), 0);
	assert_int_equal(vs_server_new(f->l, f->reg, &f->tr, &f->srv), 0);
	a = cli_connect(f, 0);
	p = allocate(a, "first", 1);
	for (i = 0; i < 3000; i++)
		assert_int_equal(vs_registry_allocate(f->reg, 999, 0, 1, "a-vm-name", &cid, NULL),
				 0);
	assert_int_equal(call(a->root, PROTO_VSI_DEBUG_LIST_VMS, NULL, NULL), -EREMOTEIO);
	assert_err(AVF_EX_ILLEGAL_STATE, "debugListVms: 3001 VMs do not fit in a reply");
	/* Below the bound it works again, on the same connection. */
	assert_int_equal(vs_registry_release_holder(f->reg, 999), 3000);
	q = allocate(a, "second", 2);
	n = list_vms(a, rows, 1);
	assert_int_equal(n, 2);
	assert_int_equal(rows[0].r.cid, 10000);
	ipc_proxy_unref(p);
	ipc_proxy_unref(q);
}

/* ---- bad callers ---- */

static void test_bad_calls_keep_serving(void **state)
{
	struct fx *f = *state;
	struct cli *a = cli_connect(f, 0);
	struct ipc_proxy *p;
	struct ipc_msg *m;
	struct row rows[4];

	/* Unknown methods, on both interfaces. */
	assert_int_equal(call(a->root, 99, NULL, NULL), -EREMOTEIO);
	assert_err(AVF_EX_UNSUPPORTED_OPERATION, "IVirtualizationServiceInternal has no method 99");
	p = allocate(a, "vm", 1);
	assert_int_equal(call(p, 0, NULL, NULL), -EREMOTEIO);
	assert_err(AVF_EX_UNSUPPORTED_OPERATION, "IGlobalVmContext has no method 0");

	/* allocate: wrong types, NULL name, missing and extra fields. */
	m = new_msg();
	ipc_msg_put_i32(m, 1);
	ipc_msg_put_i32(m, 1);
	assert_int_equal(call(a->root, PROTO_VSI_ALLOCATE_GLOBAL_VM_CONTEXT, m, NULL), -EREMOTEIO);
	assert_err(AVF_EX_BAD_PARCELABLE, "expected string");
	m = new_msg();
	ipc_msg_put_null(m);
	ipc_msg_put_i32(m, 1);
	assert_int_equal(call(a->root, PROTO_VSI_ALLOCATE_GLOBAL_VM_CONTEXT, m, NULL), -EREMOTEIO);
	assert_int_equal(avf_err_last()->ex, AVF_EX_NULL_POINTER);
	m = new_msg();
	ipc_msg_put_string(m, "vm");
	assert_int_equal(call(a->root, PROTO_VSI_ALLOCATE_GLOBAL_VM_CONTEXT, m, NULL), -EREMOTEIO);
	assert_int_equal(avf_err_last()->ex, AVF_EX_BAD_PARCELABLE);
	m = alloc_args("vm", 1);
	ipc_msg_put_bool(m, true);
	assert_int_equal(call(a->root, PROTO_VSI_ALLOCATE_GLOBAL_VM_CONTEXT, m, NULL), -EREMOTEIO);
	assert_err(AVF_EX_BAD_PARCELABLE, "unread");

	/* claim with a string CID; debugListVms and getCid with arguments; setState without. */
	m = new_msg();
	ipc_msg_put_string(m, "3000");
	ipc_msg_put_string(m, "x");
	ipc_msg_put_i32(m, 1);
	assert_int_equal(call(a->root, PROTO_VSI_CLAIM_GLOBAL_VM_CONTEXT, m, NULL), -EREMOTEIO);
	assert_err(AVF_EX_BAD_PARCELABLE, "expected i32");
	m = new_msg();
	ipc_msg_put_i32(m, 1);
	assert_int_equal(call(a->root, PROTO_VSI_DEBUG_LIST_VMS, m, NULL), -EREMOTEIO);
	assert_int_equal(avf_err_last()->ex, AVF_EX_BAD_PARCELABLE);
	m = new_msg();
	ipc_msg_put_i32(m, 1);
	assert_int_equal(call(p, PROTO_CTX_GET_CID, m, NULL), -EREMOTEIO);
	assert_int_equal(avf_err_last()->ex, AVF_EX_BAD_PARCELABLE);
	assert_int_equal(call(p, PROTO_CTX_SET_STATE, NULL, NULL), -EREMOTEIO);
	assert_int_equal(avf_err_last()->ex, AVF_EX_BAD_PARCELABLE);

	/* allocate sent ONEWAY: the context has nowhere to go and must not stay granted. */
	assert_int_equal(
	    ipc_oneway(a->root, PROTO_VSI_ALLOCATE_GLOBAL_VM_CONTEXT, (m = alloc_args("lost", 1))),
	    0);
	ipc_msg_free(m);

	/* Nothing of that stuck, and the connection still serves. */
	assert_int_equal(list_vms(a, rows, 4), 1);
	assert_int_equal(rows[0].r.cid, 2048);
	assert_int_equal(vs_registry_count(f->reg), 1);
	assert_int_equal(vs_server_connection_count(f->srv), 1);
	ipc_proxy_unref(p);
	p = allocate(a, "vm", 1);
	assert_int_equal(ctx_cid(p), 2050); /* 2049 went to the oneway call, then back */
	ipc_proxy_unref(p);
}

/* A raw peer: packets built with the codec, sent with send(). */
static struct ipc_msg *raw_call(struct fx *f, int fd, uint32_t method, struct ipc_msg *req,
				uint32_t call_id)
{
	static uint8_t buf[IPC_MSG_MAX];
	struct ipc_hdr h = {.kind = IPC_CALL, .method = method, .call_id = call_id};
	struct ipc_msg *rep = NULL;
	uint64_t dl = wall_ns() + SEC5;
	size_t len;
	ssize_t n;

	assert_int_equal(ipc_msg_encode(req, &h, buf, sizeof(buf), &len), 0);
	ipc_msg_free(req);
	assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) < 0) {
		assert_int_equal(errno, EAGAIN);
		if (wall_ns() > dl)
			fail_msg("no reply to the raw call");
		assert_true(loop_run_once(f->l, 10) >= 0);
	}
	assert_int_equal(ipc_msg_decode(buf, (size_t)n, NULL, 0, &rep), 0);
	assert_int_equal(ipc_msg_hdr(rep)->call_id, call_id);
	return rep;
}

static void test_garbage_closes_only_that_connection(void **state)
{
	struct fx *f = *state;
	struct cli *a = cli_connect(f, 0);
	static const char garbage[] = "this is not an ipc packet at all";
	char line[128];
	struct ipc_proxy *p;
	struct ipc_msg *rep;
	struct row rows[4];
	uint32_t id;
	int sv[2];
	char c;

	p = allocate(a, "good", 1);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vs_server_serve_fd(f->srv, sv[0]), 0);
	rep = raw_call(f, sv[1], PROTO_VSI_ALLOCATE_GLOBAL_VM_CONTEXT, alloc_args("raw", 2), 1);
	assert_int_equal(ipc_msg_hdr(rep)->flags, 0);
	assert_int_equal(ipc_msg_get_object_id(rep, &id), 0);
	assert_true(id != 0);
	ipc_msg_free(rep);
	assert_int_equal(list_vms(a, rows, 4), 2);

	assert_int_equal(send(sv[1], garbage, sizeof(garbage), MSG_NOSIGNAL),
			 (ssize_t)sizeof(garbage));
	PUMP_UNTIL(f, vs_server_connection_count(f->srv) == 1);
	assert_int_equal(recv(sv[1], &c, 1, MSG_DONTWAIT), 0); /* EOF: the server hung up */
	close(sv[1]);
	/* A failure: the trace says why. */
	snprintf(line, sizeof(line), "vs connection 2 closed (pid %d uid %u): ipc: ", (int)getpid(),
		 (unsigned)getuid());
	assert_traced(f, line);
	assert_traced(f, "vs cid 2049 released\n");
	/* The good client and its context are untouched. */
	assert_int_equal(list_vms(a, rows, 4), 1);
	assert_int_equal(rows[0].r.cid, 2048);
	assert_int_equal(ctx_cid(p), 2048);
	ipc_proxy_unref(p);
}

static void test_serve_fd_rejects_non_seqpacket(void **state)
{
	struct fx *f = *state;
	int sv[2], p[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vs_server_serve_fd(f->srv, sv[0]), -EINVAL);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(vs_server_serve_fd(f->srv, p[0]), -ENOTSOCK);
	assert_int_equal(vs_server_connection_count(f->srv), 0);
	/* Untouched on failure: still ours to close. */
	assert_int_equal(close(sv[0]), 0);
	assert_int_equal(close(p[0]), 0);
	close(sv[1]);
	close(p[1]);
}

/* ---- the listening socket ---- */

static int connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static void test_listen(void **state)
{
	struct fx *f = *state;
	struct vs_server *other;
	struct cli *c = &f->cli[0];
	struct ipc_proxy *p;
	struct row rows[2];
	char path[300], want[400], parent[300];
	struct stat st;
	int fd;

	snprintf(parent, sizeof(parent), "%s/run/avf", f->dir);
	snprintf(path, sizeof(path), "%s/vs.sock", parent);
	assert_int_equal(vs_server_listen(f->srv, path), 0);
	assert_int_equal(stat(parent, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(vs_server_listen(f->srv, path), -EBUSY);

	/* A second server on the same path: refused, and the first one's file stays. */
	assert_int_equal(vs_server_new(f->l, f->reg, NULL, &other), 0);
	snprintf(want, sizeof(want), "another virtualizationservice is serving %s", path);
	assert_int_equal(vs_server_listen(other, path), -EADDRINUSE);
	assert_string_equal(avf_err_last()->msg, want);
	vs_server_free(other);
	assert_int_equal(lstat(path, &st), 0);

	/* A client through the socket: accepted, uid from SO_PEERCRED. */
	fd = connect_to(path);
	assert_true(fd >= 0);
	assert_int_equal(ipc_conn_new(f->l, fd, NULL, NULL, NULL, &c->conn), 0);
	assert_int_equal(ipc_conn_root(c->conn, &c->root), 0);
	p = allocate(c, "via socket", 5);
	assert_int_equal(vs_server_connection_count(f->srv), 1);
	assert_int_equal(list_vms(c, rows, 2), 1);
	assert_int_equal(rows[0].r.requester_uid, (int32_t)getuid());
	assert_int_equal(rows[0].r.requester_pid, 5);
	snprintf(want, sizeof(want), "vs listening on %s\n", path);
	assert_traced(f, want);
	ipc_proxy_unref(p);

	/* Freeing the server closes the client and removes the socket file. */
	f->srv = vs_server_free(f->srv);
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(vs_registry_count(f->reg), 0);
	PUMP_UNTIL(f, !ipc_conn_is_open(c->conn));
	assert_int_equal(connect_to(path), -ENOENT);
}

static void test_listen_stale_and_not_socket(void **state)
{
	struct fx *f = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char path[300], file[300];
	int fd, s;

	/* A dead daemon's socket: bound, never unlinked, nobody listening. */
	snprintf(path, sizeof(path), "%s/vs.sock", f->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	assert_int_equal(connect_to(path), -ECONNREFUSED);
	assert_int_equal(vs_server_listen(f->srv, path), 0);
	fd = connect_to(path);
	assert_true(fd >= 0);
	PUMP_UNTIL(f, vs_server_connection_count(f->srv) == 1);
	close(fd);
	PUMP_UNTIL(f, vs_server_connection_count(f->srv) == 0);
	f->srv = vs_server_free(f->srv);
	assert_int_equal(access(path, F_OK), -1);

	/* Not a socket: left alone. */
	assert_int_equal(vs_server_new(f->l, f->reg, NULL, &f->srv), 0);
	snprintf(file, sizeof(file), "%s/plain", f->dir);
	fclose(fopen(file, "w"));
	assert_int_equal(vs_server_listen(f->srv, file), -EEXIST);
	assert_err(AVF_EX_ILLEGAL_STATE, "exists and is not a socket");
	assert_int_equal(access(file, F_OK), 0);

	/* Longer than sun_path. */
	memset(path, 'x', 200);
	path[0] = '/';
	path[200] = '\0';
	assert_int_equal(vs_server_listen(f->srv, path), -ENAMETOOLONG);
}

/*
 * Out of fds, accept() fails while the socket stays readable: the server pauses
 * (instead of spinning) and accepts the waiting client once fds are back.
 */
static void test_accept_pauses_when_out_of_fds(void **state)
{
	struct fx *f = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct rlimit saved, tight;
	char path[300];
	int fd, fd2, lowest, i, rounds = 0;

	snprintf(path, sizeof(path), "%s/vs.sock", f->dir);
	assert_int_equal(vs_server_listen(f->srv, path), 0);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);

	/* The next fd would be @lowest: a limit of @lowest makes every new fd EMFILE. */
	lowest = dup(0);
	assert_true(lowest >= 0);
	close(lowest);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	tight = saved;
	tight.rlim_cur = (rlim_t)lowest;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	for (i = 0; i < 20; i++)
		rounds += loop_run_once(f->l, 0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	/* One wake-up, then quiet: not 20 rounds of failing accepts. */
	assert_int_equal(rounds, 1);
	assert_traced(f, "vs accept failed: Too many open files; pausing\n");
	assert_int_equal(vs_server_connection_count(f->srv), 0);
	/*
	 * Accepting resumes: the waiting client and a new one are both served.
	 * valgrind emulates the fd limit after the fact (the kernel accepts, valgrind
	 * closes the new fd and says EMFILE), so there the waiting one is lost.
	 */
	fd2 = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(fd2, (struct sockaddr *)&sa, sizeof(sa)), 0);
	PUMP_UNTIL(f, vs_server_connection_count(f->srv) == (RUNNING_ON_VALGRIND ? 1u : 2u));
	close(fd);
	close(fd2);
	PUMP_UNTIL(f, vs_server_connection_count(f->srv) == 0);
}

/* ---- restart ---- */

static void test_restart_persists_last_cid(void **state)
{
	struct fx *f = *state;
	struct cli *a = cli_connect(f, 0);
	struct ipc_proxy *p, *q;
	char d1[300];

	p = allocate(a, "one", 1);
	q = allocate(a, "two", 2);
	ctx_dir(q, d1, sizeof(d1));
	/* The daemon goes: its contexts (and dirs) with it. */
	fx_close(f);
	ipc_proxy_unref(p);
	ipc_proxy_unref(q);
	assert_false(is_dir(d1));

	fx_open(f, AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	a = cli_connect(f, 0);
	p = allocate(a, "three", 3);
	assert_int_equal(ctx_cid(p), 2050);
	ipc_proxy_unref(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_allocate_distinct, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_release_object_frees_cid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_releases_only_that_holder, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_debug_list_rows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_claim, setup, teardown),
	    cmocka_unit_test(test_exhaustion),
	    cmocka_unit_test_setup_teardown(test_list_too_big_for_one_reply, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_calls_keep_serving, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_closes_only_that_connection, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_serve_fd_rejects_non_seqpacket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_listen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_listen_stale_and_not_socket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_accept_pauses_when_out_of_fds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart_persists_last_cid, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
