/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ipc connections over socketpair(SOCK_SEQPACKET): both ends in this process on
 * one loop (or one end replaced by a raw socket the test reads and writes). Calls
 * and replies, error replies, oneway order and non-nesting, object passing and
 * RELEASE, peer close, malformed packets, fds, nested callbacks, freeing from
 * callbacks, timeouts and limits. Waits are bounded by a wall-clock deadline.
 */
#include "cmocka_wrap.h"
#include "test_fds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "ipc/ipc_conn.h"
#include "loop/loop.h"

#define SEC5 (5 * LOOP_NSEC_PER_SEC)

/* Server (root object) methods. */
enum {
	M_ADD = 1,   /* (i32 a, i32 b, string s) -> (i32 a+b, string s + "!") */
	M_FAIL,      /* (i32 ex, i32 code, string msg) -> that error */
	M_SILENT,    /* fails without recording a message */
	M_BAD_TEXT,  /* fails with a message that is not UTF-8 */
	M_RECORD,    /* oneway (i32 seq [, bytes]) */
	M_COUNT,     /* -> i32 number recorded */
	M_MAKE,      /* (i32 n) -> n new child objects */
	M_SAME,      /* -> one new child, twice */
	M_FD,        /* (fd) -> (i64 ino, i64 dev, fd reading "pong") */
	M_HOLD,      /* (object) keep a proxy */
	M_DROP,      /* drop every kept proxy */
	M_CALLBACK,  /* (object cb, i32 n) -> sum of cb.DOUBLE(i), i < n */
	M_NOTIFY,    /* (object cb, i32 n): n oneway cb.EVENT(i) */
	M_CLOSE_ME,  /* frees the server's connection from inside the handler */
	M_FREE_PEER, /* frees the client's connection (which is waiting in ipc_call) */
};

enum { CB_DOUBLE = 1, CB_EVENT };
enum { CHILD_INDEX = 1 };

struct counters {
	int released;
	int destroyed;
};

struct env {
	struct loop *l;
	int fds_before;
	int raw; /* the test's end when one side is a raw socket, else -1 */
	struct ipc_conn *srv, *cli;
	struct ipc_object *root;
	struct ipc_proxy *rp; /* the client's proxy for the server's root */

	/* server state */
	bool fuzzing;
	int seq[512], nseq;
	struct ipc_proxy *held[8];
	int nheld;
	struct counters root_cnt, children;
	int next_child;
	struct ipc_object *same;

	/* connection closes */
	int srv_closed, cli_closed;
	struct avf_error srv_why, cli_why;
	bool cli_free_on_close;

	/* client callbacks */
	struct counters cbs;
	char evlog[256];
	int ev_depth, ev_max_depth, ev_count, ev_call_result;
	bool ev_call;

	/* async completions */
	int async_done, async_err, async_value;
	struct avf_error async_error;
};

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * LOOP_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Run the loop until @cond holds, failing after 5 s of wall time. */
#define PUMP_UNTIL(e, cond)                                                                        \
	do {                                                                                       \
		uint64_t dl_ = wall_ns() + SEC5;                                                   \
		while (!(cond)) {                                                                  \
			if (wall_ns() > dl_)                                                       \
				fail_msg("timed out waiting for " #cond);                          \
			assert_true(loop_run_once((e)->l, 10) >= 0);                               \
		}                                                                                  \
	} while (0)

#define TRY(x)                                                                                     \
	do {                                                                                       \
		int r_ = (x);                                                                      \
		if (r_ < 0)                                                                        \
			return r_;                                                                 \
	} while (0)

static void assert_msg(const char *substr)
{
	if (!strstr(avf_err_last()->msg, substr))
		fail_msg("message '%s' lacks '%s'", avf_err_last()->msg, substr);
}

/* ---- server objects ---- */

struct child {
	struct env *e;
	int index;
};

static int child_dispatch(struct ipc_object *obj, struct ipc_conn *conn, uint32_t method,
			  struct ipc_msg *req, struct ipc_msg *reply)
{
	struct child *c = ipc_object_data(obj);

	if (method != CHILD_INDEX)
		return ipc_unknown_method(obj, method);
	return ipc_msg_put_i32(reply, c->index);
}

static void child_release(struct ipc_object *obj, struct ipc_conn *conn)
{
	struct child *c = ipc_object_data(obj);

	c->e->children.released++;
}

static void child_destroy(void *data)
{
	struct child *c = data;

	c->e->children.destroyed++;
	free(c);
}

static const struct ipc_object_ops child_ops = {
    .name = "IChild",
    .dispatch = child_dispatch,
    .on_release = child_release,
    .destroy = child_destroy,
};

static int make_child(struct env *e, struct ipc_object **ret)
{
	struct child *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->e = e;
	c->index = e->next_child++;
	r = ipc_object_new(&child_ops, c, ret);
	if (r < 0)
		free(c);
	return r;
}

static int svc_dispatch(struct ipc_object *obj, struct ipc_conn *conn, uint32_t method,
			struct ipc_msg *req, struct ipc_msg *reply)
{
	struct env *e = ipc_object_data(obj);
	struct ipc_proxy *cb;
	struct ipc_object *child;
	struct ipc_msg *m, *rep;
	int32_t a, b, ex, code, n, i, sum;
	char text[128];
	const char *s;
	struct stat st;
	int fd, p[2], r;

	switch (method) {
	case M_ADD:
		TRY(ipc_msg_get_i32(req, &a));
		TRY(ipc_msg_get_i32(req, &b));
		TRY(ipc_msg_get_string(req, &s));
		TRY(ipc_msg_get_end(req));
		snprintf(text, sizeof(text), "%s!", s);
		TRY(ipc_msg_put_i32(reply, a + b));
		return ipc_msg_put_string(reply, text);
	case M_FAIL:
		TRY(ipc_msg_get_i32(req, &ex));
		TRY(ipc_msg_get_i32(req, &code));
		TRY(ipc_msg_get_string(req, &s));
		if (ex == AVF_EX_SERVICE_SPECIFIC)
			return ipc_err_service(-EIO, code, "%s", s);
		return avf_err_set(-EINVAL, ex, "%s", s);
	case M_SILENT: return -EIO;
	case M_BAD_TEXT:
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "bad path '%s'", "\xff/x");
	case M_RECORD:
		TRY(ipc_msg_get_i32(req, &a));
		if (e->nseq < 512)
			e->seq[e->nseq++] = a;
		return 0;
	case M_COUNT: return ipc_msg_put_i32(reply, e->nseq);
	case M_MAKE:
		TRY(ipc_msg_get_i32(req, &n));
		for (i = 0; i < n; i++) {
			TRY(make_child(e, &child));
			r = ipc_msg_put_object(reply, child);
			ipc_object_unref(child);
			TRY(r);
		}
		return 0;
	case M_SAME:
		TRY(make_child(e, &child));
		ipc_object_unref(e->same);
		e->same = child; /* the test's reference */
		TRY(ipc_msg_put_object(reply, child));
		return ipc_msg_put_object(reply, child);
	case M_FD:
		TRY(ipc_msg_get_fd(req, &fd));
		r = fstat(fd, &st) < 0 || !(fcntl(fd, F_GETFD) & FD_CLOEXEC) ? -EBADF : 0;
		close(fd);
		if (r < 0)
			return avf_err_set(r, AVF_EX_ILLEGAL_ARGUMENT, "received fd unusable");
		TRY(ipc_msg_put_i64(reply, (int64_t)st.st_ino));
		TRY(ipc_msg_put_i64(reply, (int64_t)st.st_dev));
		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		assert_int_equal(write(p[1], "pong", 4), 4);
		r = ipc_msg_put_fd(reply, p[0]);
		close(p[0]);
		close(p[1]);
		return r;
	case M_HOLD:
		if (e->nheld == 8)
			return avf_err_set(-ENOSPC, AVF_EX_ILLEGAL_STATE, "holding 8 already");
		TRY(ipc_msg_get_proxy(req, &cb));
		e->held[e->nheld++] = cb;
		return 0;
	case M_DROP:
		while (e->nheld > 0) {
			e->nheld--;
			e->held[e->nheld] = ipc_proxy_unref(e->held[e->nheld]);
		}
		return 0;
	case M_CALLBACK:
		if (e->fuzzing) /* the raw peer would never answer */
			return avf_err_set(-EPERM, AVF_EX_SECURITY, "not while fuzzing");
		TRY(ipc_msg_get_proxy(req, &cb));
		r = ipc_msg_get_i32(req, &n);
		for (i = 0, sum = 0; r == 0 && i < n; i++) {
			rep = NULL;
			assert_int_equal(ipc_msg_new(&m), 0);
			assert_int_equal(ipc_msg_put_i32(m, i), 0);
			r = ipc_call(cb, CB_DOUBLE, m, SEC5, &rep);
			if (r == 0)
				r = ipc_msg_get_i32(rep, &a);
			if (r == 0)
				sum += a;
			ipc_msg_free(m);
			ipc_msg_free(rep);
		}
		ipc_proxy_unref(cb);
		TRY(r);
		return ipc_msg_put_i32(reply, sum);
	case M_NOTIFY:
		TRY(ipc_msg_get_proxy(req, &cb));
		r = ipc_msg_get_i32(req, &n);
		for (i = 0; r == 0 && i < n; i++) {
			assert_int_equal(ipc_msg_new(&m), 0);
			assert_int_equal(ipc_msg_put_i32(m, i), 0);
			r = ipc_oneway(cb, CB_EVENT, m);
			ipc_msg_free(m);
		}
		ipc_proxy_unref(cb);
		return r;
	case M_CLOSE_ME:
		assert_ptr_equal(conn, e->srv);
		e->srv = ipc_conn_free(conn);
		return 0;
	case M_FREE_PEER: e->cli = ipc_conn_free(e->cli); return 0;
	}
	return ipc_unknown_method(obj, method);
}

static void svc_release(struct ipc_object *obj, struct ipc_conn *conn)
{
	struct env *e = ipc_object_data(obj);

	e->root_cnt.released++;
}

static const struct ipc_object_ops svc_ops = {
    .name = "ITestService",
    .dispatch = svc_dispatch,
    .on_release = svc_release,
};

/* ---- client callback objects ---- */

static int cb_dispatch(struct ipc_object *obj, struct ipc_conn *conn, uint32_t method,
		       struct ipc_msg *req, struct ipc_msg *reply)
{
	struct env *e = ipc_object_data(obj);
	struct ipc_msg *m, *rep = NULL;
	char b[16];
	int32_t x;

	switch (method) {
	case CB_DOUBLE: TRY(ipc_msg_get_i32(req, &x)); return ipc_msg_put_i32(reply, 2 * x);
	case CB_EVENT:
		assert_int_equal(ipc_msg_hdr(req)->kind, IPC_ONEWAY);
		TRY(ipc_msg_get_i32(req, &x));
		snprintf(b, sizeof(b), "b%d ", x);
		strcat(e->evlog, b);
		if (++e->ev_depth > e->ev_max_depth)
			e->ev_max_depth = e->ev_depth;
		if (x == 0 && e->ev_call) {
			/* A synchronous call from inside a oneway callback. */
			assert_int_equal(ipc_msg_new(&m), 0);
			ipc_msg_put_i32(m, 1);
			ipc_msg_put_i32(m, 2);
			ipc_msg_put_string(m, "x");
			e->ev_call_result = ipc_call(e->rp, M_ADD, m, SEC5, &rep);
			ipc_msg_free(m);
			ipc_msg_free(rep);
		}
		e->ev_depth--;
		e->ev_count++;
		snprintf(b, sizeof(b), "e%d ", x);
		strcat(e->evlog, b);
		return 0;
	}
	return ipc_unknown_method(obj, method);
}

static void cb_release(struct ipc_object *obj, struct ipc_conn *conn)
{
	struct env *e = ipc_object_data(obj);

	e->cbs.released++;
}

static void cb_destroy(void *data)
{
	struct env *e = data;

	e->cbs.destroyed++;
}

static const struct ipc_object_ops cb_ops = {
    .name = "ITestCallback",
    .dispatch = cb_dispatch,
    .on_release = cb_release,
    .destroy = cb_destroy,
};

/* ---- connections ---- */

static void srv_on_close(struct ipc_conn *conn, const struct avf_error *why, void *data)
{
	struct env *e = data;

	e->srv_closed++;
	e->srv_why = *why;
}

static void cli_on_close(struct ipc_conn *conn, const struct avf_error *why, void *data)
{
	struct env *e = data;

	e->cli_closed++;
	e->cli_why = *why;
	if (e->cli_free_on_close) {
		assert_ptr_equal(conn, e->cli);
		e->cli = ipc_conn_free(conn);
	}
}

static const struct ipc_conn_ops srv_conn_ops = {.on_close = srv_on_close};
static const struct ipc_conn_ops cli_conn_ops = {.on_close = cli_on_close};

enum mode {
	BOTH,       /* server and client connections */
	RAW_CLIENT, /* server connection, the test speaks for the client */
	RAW_SERVER, /* client connection, the test speaks for the server */
};

static struct env *env_new(enum mode mode)
{
	struct env *e = calloc(1, sizeof(*e));
	int sv[2];

	assert_non_null(e);
	e->fds_before = count_fds();
	e->raw = -1;
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &e->l), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(ipc_object_new(&svc_ops, e, &e->root), 0);
	if (mode == RAW_SERVER) {
		e->raw = sv[0];
	} else {
		assert_int_equal(ipc_conn_new(e->l, sv[0], e->root, &srv_conn_ops, e, &e->srv), 0);
		assert_int_equal(ipc_object_peer_refs(e->root, e->srv), 1);
	}
	if (mode == RAW_CLIENT) {
		e->raw = sv[1];
	} else {
		assert_int_equal(ipc_conn_new(e->l, sv[1], NULL, &cli_conn_ops, e, &e->cli), 0);
		assert_int_equal(ipc_conn_root(e->cli, &e->rp), 0);
		assert_int_equal(ipc_proxy_id(e->rp), 0);
	}
	return e;
}

static void env_free(struct env *e)
{
	e->rp = ipc_proxy_unref(e->rp);
	while (e->nheld > 0)
		ipc_proxy_unref(e->held[--e->nheld]);
	e->cli = ipc_conn_free(e->cli);
	e->srv = ipc_conn_free(e->srv);
	e->same = ipc_object_unref(e->same);
	e->root = ipc_object_unref(e->root);
	if (e->raw >= 0)
		close(e->raw);
	assert_int_equal(loop_source_count(e->l), 0);
	e->l = loop_free(e->l);
	/* Every object the server made is gone, every fd closed. */
	assert_int_equal(e->children.destroyed, e->next_child);
	assert_int_equal(count_fds(), e->fds_before);
	free(e);
}

static int setup_both(void **state)
{
	*state = env_new(BOTH);
	return 0;
}

static int teardown(void **state)
{
	env_free(*state);
	return 0;
}

static struct ipc_msg *msg_i32s(int n, const int32_t *v)
{
	struct ipc_msg *m;
	int i;

	assert_int_equal(ipc_msg_new(&m), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(ipc_msg_put_i32(m, v[i]), 0);
	return m;
}

static struct ipc_msg *msg_add(int32_t a, int32_t b, const char *s)
{
	struct ipc_msg *m = msg_i32s(2, (int32_t[]){a, b});

	assert_int_equal(ipc_msg_put_string(m, s), 0);
	return m;
}

/* ipc_call that frees @req (ipc_call itself does not consume it). */
static int callf(struct ipc_proxy *p, uint32_t method, struct ipc_msg *req, struct ipc_msg **ret)
{
	int r = ipc_call(p, method, req, SEC5, ret);

	ipc_msg_free(req);
	return r;
}

/* Calls @method with @req (freed here) and returns the i32 result. */
static int32_t call_i32(struct ipc_proxy *p, uint32_t method, struct ipc_msg *req)
{
	struct ipc_msg *rep = NULL;
	int32_t v;

	if (ipc_call(p, method, req, SEC5, &rep) < 0)
		fail_msg("call of method %u: %s", method, avf_err_last()->msg);
	assert_int_equal(ipc_msg_get_i32(rep, &v), 0);
	ipc_msg_free(rep);
	ipc_msg_free(req);
	return v;
}

/* ---- raw peer helpers ---- */

static void raw_send(struct env *e, const struct ipc_hdr *h, struct ipc_msg *m, const int *fds,
		     unsigned nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * IPC_MSG_MAX_FDS)];
		struct cmsghdr align;
	} cb;
	static uint8_t buf[IPC_MSG_MAX];
	struct iovec iov = {.iov_base = buf};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;
	const int *mfds;
	unsigned mn;
	size_t len;

	assert_int_equal(ipc_msg_encode(m, h, buf, sizeof(buf), &len), 0);
	iov.iov_len = len;
	mfds = ipc_msg_fds(m, &mn);
	if (!fds) {
		fds = mfds;
		nfds = mn;
	}
	if (nfds) {
		memset(&cb, 0, sizeof(cb));
		mh.msg_control = cb.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(e->raw, &mh, MSG_NOSIGNAL), (ssize_t)len);
	ipc_msg_free(m);
}

static void raw_send_bytes(struct env *e, const void *b, size_t len)
{
	assert_int_equal(send(e->raw, b, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* The next packet from the connection, decoded; NULL on EOF. Runs the loop meanwhile. */
static struct ipc_msg *raw_recv(struct env *e)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 32)];
		struct cmsghdr align;
	} cb;
	static uint8_t buf[IPC_MSG_MAX];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	uint64_t dl = wall_ns() + SEC5;
	struct cmsghdr *cm;
	struct ipc_msg *m;
	int fds[32];
	size_t nfds = 0;
	ssize_t n;

	for (;;) {
		mh.msg_control = cb.b;
		mh.msg_controllen = sizeof(cb.b);
		n = recvmsg(e->raw, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n >= 0)
			break;
		/* Closed with our packets unread: unix sockets report a reset. */
		if (errno == ECONNRESET)
			return NULL;
		assert_int_equal(errno, EAGAIN);
		if (wall_ns() > dl)
			fail_msg("no packet from the connection");
		assert_true(loop_run_once(e->l, 10) >= 0);
	}
	if (n == 0)
		return NULL;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		memcpy(fds + nfds, CMSG_DATA(cm), k * sizeof(int));
		nfds += k;
	}
	if (ipc_msg_decode(buf, (size_t)n, fds, nfds, &m) < 0)
		fail_msg("undecodable packet: %s", avf_err_last()->msg);
	return m;
}

/* Expect an error REPLY to @call_id with @ex and a message containing @substr. */
static void raw_expect_error(struct env *e, uint32_t call_id, int ex, const char *substr)
{
	struct ipc_msg *m = raw_recv(e);
	const char *s;
	int32_t v;

	assert_non_null(m);
	assert_int_equal(ipc_msg_hdr(m)->kind, IPC_REPLY);
	assert_int_equal(ipc_msg_hdr(m)->flags, IPC_F_ERROR);
	assert_int_equal(ipc_msg_hdr(m)->call_id, call_id);
	assert_int_equal(ipc_msg_get_i32(m, &v), 0);
	assert_int_equal(v, ex);
	assert_int_equal(ipc_msg_get_i32(m, &v), 0);
	assert_int_equal(ipc_msg_get_string(m, &s), 0);
	if (!strstr(s, substr))
		fail_msg("error reply '%s' lacks '%s'", s, substr);
	ipc_msg_free(m);
}

static struct ipc_msg *new_msg(void)
{
	struct ipc_msg *m;

	assert_int_equal(ipc_msg_new(&m), 0);
	return m;
}

/* ---- tests: calls ---- */

static void test_call_reply(void **state)
{
	struct env *e = *state;
	struct ipc_msg *m = msg_add(2, 3, "hi"), *rep = NULL;
	struct ipc_conn_stats st;
	const char *s;
	int32_t v;

	assert_int_equal(ipc_call(e->rp, M_ADD, m, SEC5, &rep), 0);
	assert_int_equal(ipc_msg_hdr(rep)->kind, IPC_REPLY);
	assert_int_equal(ipc_msg_get_i32(rep, &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(ipc_msg_get_string(rep, &s), 0);
	assert_string_equal(s, "hi!");
	assert_int_equal(ipc_msg_get_end(rep), 0);
	ipc_msg_free(rep);
	/* The request is not consumed: it can be sent again, the reply discarded. */
	assert_int_equal(ipc_call(e->rp, M_ADD, m, SEC5, NULL), 0);
	ipc_msg_free(m);
	/* No arguments. */
	assert_int_equal(call_i32(e->rp, M_COUNT, NULL), 0);
	ipc_conn_stats(e->cli, &st);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.proxies, 1);
	ipc_conn_stats(e->srv, &st);
	assert_int_equal(st.exports, 1);
	assert_true(ipc_conn_is_open(e->cli));
	assert_ptr_equal(ipc_proxy_conn(e->rp), e->cli);
	assert_ptr_equal(ipc_conn_data(e->cli), e);
	assert_ptr_equal(ipc_conn_loop(e->cli), e->l);
	assert_true(ipc_conn_fd(e->cli) >= 0);
}

static void call_fail(struct env *e, int32_t ex, int32_t code, const char *text)
{
	struct ipc_msg *m = msg_i32s(2, (int32_t[]){ex, code}), *rep = NULL;

	assert_int_equal(ipc_msg_put_string(m, text), 0);
	avf_err_clear();
	assert_int_equal(ipc_call(e->rp, M_FAIL, m, SEC5, &rep), -EREMOTEIO);
	assert_null(rep);
	ipc_msg_free(m);
}

static void test_error_reply(void **state)
{
	struct env *e = *state;
	struct ipc_msg *m;

	/* (exception, service code, message) arrive intact. */
	call_fail(e, AVF_EX_ILLEGAL_STATE, 0, "VM is not running");
	assert_int_equal(avf_err_last()->err, -EREMOTEIO);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_STATE);
	assert_int_equal(avf_err_last()->service_code, 0);
	assert_string_equal(avf_err_last()->msg, "VM is not running");

	call_fail(e, AVF_EX_SERVICE_SPECIFIC, 42, "boom \xe2\x9c\x93");
	assert_int_equal(avf_err_last()->ex, AVF_EX_SERVICE_SPECIFIC);
	assert_int_equal(avf_err_last()->service_code, 42);
	assert_string_equal(avf_err_last()->msg, "boom \xe2\x9c\x93");

	call_fail(e, AVF_EX_SERVICE_SPECIFIC, -1, "VM already started or failed");
	assert_int_equal(avf_err_last()->service_code, -1);

	call_fail(e, AVF_EX_SECURITY, 0, "denied");
	assert_int_equal(avf_err_last()->ex, AVF_EX_SECURITY);

	/* Unknown method. */
	assert_int_equal(ipc_call(e->rp, 999, NULL, SEC5, NULL), -EREMOTEIO);
	assert_int_equal(avf_err_last()->ex, AVF_EX_UNSUPPORTED_OPERATION);
	assert_string_equal(avf_err_last()->msg, "ipc: ITestService has no method 999");

	/* A handler that fails without a message still gives a non-zero exception. */
	assert_int_equal(ipc_call(e->rp, M_SILENT, NULL, SEC5, NULL), -EREMOTEIO);
	assert_int_equal(avf_err_last()->ex, AVF_EX_TRANSACTION_FAILED);
	assert_msg("Input/output error");

	/* Text that is not UTF-8 is repaired, not lost. */
	assert_int_equal(ipc_call(e->rp, M_BAD_TEXT, NULL, SEC5, NULL), -EREMOTEIO);
	assert_string_equal(avf_err_last()->msg, "bad path '?/x'");

	/* Arguments of the wrong type: the getter's error goes back. */
	m = new_msg();
	assert_int_equal(ipc_msg_put_string(m, "2"), 0);
	assert_int_equal(ipc_call(e->rp, M_ADD, m, SEC5, NULL), -EREMOTEIO);
	assert_int_equal(avf_err_last()->ex, AVF_EX_BAD_PARCELABLE);
	assert_string_equal(avf_err_last()->msg, "ipc: field 0 is string, expected i32");
	ipc_msg_free(m);

	/* Still serving. */
	assert_int_equal(call_i32(e->rp, M_ADD, msg_add(40, 2, "")), 42);
}

static void test_oneway_order(void **state)
{
	struct env *e = *state;
	struct ipc_msg *m;
	int i;

	for (i = 0; i < 200; i++) {
		m = msg_i32s(1, &i);
		assert_int_equal(ipc_oneway(e->rp, M_RECORD, m), 0);
		ipc_msg_free(m);
	}
	/* A call after them is answered after they ran: same socket, in order. */
	assert_int_equal(call_i32(e->rp, M_COUNT, NULL), 200);
	for (i = 0; i < 200; i++)
		assert_int_equal(e->seq[i], i);
}
/* ---- tests: oneway never nests ---- */

static void test_oneway_not_nested(void **state)
{
	struct env *e = *state;
	struct ipc_object *cb;
	struct ipc_msg *m;

	assert_int_equal(ipc_object_new(&cb_ops, e, &cb), 0);
	e->ev_call = true;
	m = new_msg();
	assert_int_equal(ipc_msg_put_object(m, cb), 0);
	assert_int_equal(ipc_msg_put_i32(m, 3), 0);
	assert_int_equal(ipc_call(e->rp, M_NOTIFY, m, SEC5, NULL), 0);
	ipc_msg_free(m);
	PUMP_UNTIL(e, e->ev_count == 3);
	/* Event 0 made a synchronous call while 1 and 2 arrived: they waited for it. */
	assert_int_equal(e->ev_call_result, 0);
	assert_string_equal(e->evlog, "b0 e0 b1 e1 b2 e2 ");
	assert_int_equal(e->ev_max_depth, 1);
	/* The server dropped its proxy: RELEASE reached us. */
	PUMP_UNTIL(e, e->cbs.released == 1);
	assert_int_equal(ipc_object_peer_refs(cb, e->cli), 0);
	assert_int_equal(e->cbs.destroyed, 0);
	ipc_object_unref(cb);
	assert_int_equal(e->cbs.destroyed, 1);
}

static void test_oneway_queue_limit(void **state)
{
	struct env *e = *state;
	struct ipc_conn_limits lim = ipc_conn_default_limits;
	struct ipc_object *cb;
	struct ipc_msg *m;

	lim.max_queued_oneway = 2;
	ipc_conn_set_limits(e->cli, &lim);
	assert_int_equal(ipc_object_new(&cb_ops, e, &cb), 0);
	e->ev_call = true;
	m = new_msg();
	assert_int_equal(ipc_msg_put_object(m, cb), 0);
	assert_int_equal(ipc_msg_put_i32(m, 5), 0);
	ipc_object_unref(cb);
	/* Events 1 and 2 queue behind event 0's call, event 3 is one too many. */
	assert_int_equal(ipc_call(e->rp, M_NOTIFY, m, SEC5, NULL), -EPIPE);
	ipc_msg_free(m);
	assert_int_equal(e->ev_call_result, -EPIPE);
	assert_int_equal(e->cli_closed, 1);
	assert_int_equal(e->cli_why.err, -EPROTO);
	assert_non_null(
	    strstr(e->cli_why.msg, "more than 2 messages queued behind a running ONEWAY handler"));
	assert_string_equal(e->evlog, "b0 e0 ");
	assert_int_equal(e->cbs.released, 1);
	assert_int_equal(e->cbs.destroyed, 1);
	PUMP_UNTIL(e, e->srv_closed == 1);
}

/* ---- tests: objects ---- */

static void test_objects_release(void **state)
{
	struct env *e = *state;
	struct ipc_proxy *p1, *p2, *pa, *pb;
	struct ipc_conn_stats st;
	struct ipc_msg *rep = NULL;

	assert_int_equal(callf(e->rp, M_MAKE, msg_i32s(1, (int32_t[]){2}), &rep), 0);
	assert_int_equal(ipc_msg_get_proxy(rep, &p1), 0);
	assert_int_equal(ipc_msg_get_proxy(rep, &p2), 0);
	assert_int_equal(ipc_msg_get_end(rep), 0);
	rep = ipc_msg_free(rep);
	assert_true(ipc_proxy_id(p1) != 0 && ipc_proxy_id(p2) != 0);
	assert_true(ipc_proxy_id(p1) != ipc_proxy_id(p2));
	ipc_conn_stats(e->srv, &st);
	assert_int_equal(st.exports, 3);
	ipc_conn_stats(e->cli, &st);
	assert_int_equal(st.proxies, 3);

	assert_int_equal(call_i32(p1, CHILD_INDEX, NULL), 0);
	assert_int_equal(call_i32(p2, CHILD_INDEX, NULL), 1);
	assert_int_equal(ipc_call(p2, 5, NULL, SEC5, NULL), -EREMOTEIO);
	assert_string_equal(avf_err_last()->msg, "ipc: IChild has no method 5");

	/* The server dropped its own references: the peer's keep the children alive. */
	assert_int_equal(e->children.destroyed, 0);
	p1 = ipc_proxy_unref(p1);
	PUMP_UNTIL(e, e->children.released == 1);
	assert_int_equal(e->children.destroyed, 1);
	ipc_conn_stats(e->srv, &st);
	assert_int_equal(st.exports, 2);
	p2 = ipc_proxy_unref(p2);
	PUMP_UNTIL(e, e->children.released == 2);
	assert_int_equal(e->children.destroyed, 2);

	/* One object sent twice: one proxy, two references, one RELEASE of 2. */
	assert_int_equal(ipc_call(e->rp, M_SAME, NULL, SEC5, &rep), 0);
	assert_int_equal(ipc_msg_get_proxy(rep, &pa), 0);
	assert_int_equal(ipc_msg_get_proxy(rep, &pb), 0);
	rep = ipc_msg_free(rep);
	assert_ptr_equal(pa, pb);
	assert_int_equal(ipc_object_peer_refs(e->same, e->srv), 2);
	ipc_proxy_unref(pa);
	/* A call is a barrier: a RELEASE sent before it would have been handled. */
	assert_int_equal(call_i32(e->rp, M_COUNT, NULL), 0);
	assert_int_equal(e->children.released, 2);
	ipc_proxy_unref(pb);
	PUMP_UNTIL(e, e->children.released == 3);
	assert_int_equal(ipc_object_peer_refs(e->same, e->srv), 0);
	assert_int_equal(call_i32(e->rp, M_COUNT, NULL), 0);
	assert_int_equal(e->children.released, 3);
	ipc_conn_stats(e->cli, &st);
	assert_int_equal(st.proxies, 1);
}

static void test_client_object_to_server(void **state)
{
	struct env *e = *state;
	struct ipc_object *cb;
	struct ipc_conn_stats st;
	struct ipc_msg *m;

	assert_int_equal(ipc_object_new(&cb_ops, e, &cb), 0);
	m = new_msg();
	assert_int_equal(ipc_msg_put_object(m, cb), 0);
	assert_int_equal(ipc_object_peer_refs(cb, e->cli), 0); /* not sent yet */
	assert_int_equal(ipc_call(e->rp, M_HOLD, m, SEC5, NULL), 0);
	assert_int_equal(ipc_object_peer_refs(cb, e->cli), 1);
	assert_int_equal(ipc_call(e->rp, M_HOLD, m, SEC5, NULL), 0);
	ipc_msg_free(m);
	assert_int_equal(ipc_object_peer_refs(cb, e->cli), 2);
	assert_ptr_equal(e->held[0], e->held[1]);
	ipc_conn_stats(e->cli, &st);
	assert_int_equal(st.exports, 1);

	/* The server calls back into the object it holds. */
	assert_int_equal(call_i32(e->held[0], CB_DOUBLE, msg_i32s(1, (int32_t[]){21})), 42);

	assert_int_equal(ipc_call(e->rp, M_DROP, NULL, SEC5, NULL), 0);
	PUMP_UNTIL(e, e->cbs.released == 1);
	assert_int_equal(ipc_object_peer_refs(cb, e->cli), 0);
	ipc_conn_stats(e->cli, &st);
	assert_int_equal(st.exports, 0);
	assert_int_equal(e->cbs.destroyed, 0);
	ipc_object_unref(cb);
	assert_int_equal(e->cbs.destroyed, 1);
}

static void test_send_refused(void **state)
{
	struct env *e = *state;
	struct ipc_msg *rep = NULL, *m;
	struct ipc_conn_stats st;

	/* A received message holds proxies: forwarding them is refused. */
	assert_int_equal(callf(e->rp, M_MAKE, msg_i32s(1, (int32_t[]){1}), &rep), 0);
	assert_int_equal(ipc_call(e->rp, M_HOLD, rep, SEC5, NULL), -EINVAL);
	assert_msg("field 0 is a remote object");
	rep = ipc_msg_free(rep);
	/* A raw id would be an object the peer cannot release. */
	m = new_msg();
	assert_int_equal(ipc_msg_put_object_id(m, 3), 0);
	assert_int_equal(ipc_oneway(e->rp, M_HOLD, m), -EINVAL);
	assert_msg("field 0 is a raw object id");
	ipc_msg_free(m);
	ipc_conn_stats(e->cli, &st);
	assert_int_equal(st.pending, 0);
	PUMP_UNTIL(e, e->children.released == 1);
	assert_int_equal(call_i32(e->rp, M_COUNT, NULL), 0);
	/* Misuse that never reaches the wire. */
	assert_int_equal(ipc_call(NULL, 1, NULL, SEC5, NULL), -EINVAL);
	assert_int_equal(ipc_call_async(e->rp, 1, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(ipc_object_new(NULL, NULL, &(struct ipc_object *){NULL}), -EINVAL);
}

/* ---- tests: close ---- */

static void test_peer_close(void **state)
{
	struct env *e = *state;
	struct ipc_object *cb;
	struct ipc_msg *m;
	int i;

	for (i = 0; i < 3; i++) {
		assert_int_equal(ipc_object_new(&cb_ops, e, &cb), 0);
		m = new_msg();
		assert_int_equal(ipc_msg_put_object(m, cb), 0);
		ipc_object_unref(cb); /* only the peer's references keep it now */
		assert_int_equal(ipc_call(e->rp, M_HOLD, m, SEC5, NULL), 0);
		ipc_msg_free(m);
	}
	assert_int_equal(e->cbs.destroyed, 0);
	/* The server frees its connection while our call is pending. */
	assert_int_equal(ipc_call(e->rp, M_CLOSE_ME, NULL, SEC5, NULL), -EPIPE);
	assert_int_equal(avf_err_last()->ex, AVF_EX_TRANSACTION_FAILED);
	assert_msg("connection closed before the reply (ipc: peer closed the connection)");
	assert_null(e->srv);
	/* Every reference the server held is released, then on_close. */
	assert_int_equal(e->cbs.released, 3);
	assert_int_equal(e->cbs.destroyed, 3);
	assert_int_equal(e->cli_closed, 1);
	assert_int_equal(e->cli_why.err, 0);
	assert_string_equal(e->cli_why.msg, "ipc: peer closed the connection");
	/* The server side released its root; a freed connection gets no on_close. */
	assert_int_equal(e->root_cnt.released, 1);
	assert_int_equal(e->srv_closed, 0);
	/* The dead connection fails at once. */
	assert_false(ipc_conn_is_open(e->cli));
	assert_int_equal(ipc_conn_fd(e->cli), -1);
	assert_int_equal(ipc_call(e->rp, M_COUNT, NULL, SEC5, NULL), -EPIPE);
	assert_msg("connection closed (ipc: peer closed the connection)");
	assert_int_equal(ipc_oneway(e->rp, M_COUNT, NULL), -EPIPE);
}

static void test_client_death(void **state)
{
	struct env *e = *state;
	struct ipc_proxy *p1, *p2;
	struct ipc_msg *rep = NULL;

	assert_int_equal(callf(e->rp, M_MAKE, msg_i32s(1, (int32_t[]){2}), &rep), 0);
	assert_int_equal(ipc_msg_get_proxy(rep, &p1), 0);
	assert_int_equal(ipc_msg_get_proxy(rep, &p2), 0);
	ipc_msg_free(rep);
	/* The client goes away holding two children: the server releases them. */
	e->cli = ipc_conn_free(e->cli);
	PUMP_UNTIL(e, e->srv_closed == 1);
	assert_int_equal(e->srv_why.err, 0);
	assert_int_equal(e->children.released, 2);
	assert_int_equal(e->children.destroyed, 2);
	assert_int_equal(e->root_cnt.released, 1);
	/* Proxies outlive their connection; calls fail. */
	assert_null(ipc_proxy_conn(p1));
	assert_null(ipc_proxy_conn(e->rp));
	assert_int_equal(ipc_call(p1, CHILD_INDEX, NULL, SEC5, NULL), -EPIPE);
	assert_msg("was freed");
	ipc_proxy_unref(p1);
	ipc_proxy_unref(p2);
}

static void test_free_in_on_close(void **state)
{
	struct env *e = *state;

	e->cli_free_on_close = true;
	e->srv = ipc_conn_free(e->srv);
	PUMP_UNTIL(e, e->cli_closed == 1);
	assert_null(e->cli);
	assert_null(ipc_proxy_conn(e->rp));
}

static void test_free_during_call(void **state)
{
	struct env *e = *state;

	/* The handler frees the connection our ipc_call is waiting on. */
	assert_int_equal(ipc_call(e->rp, M_FREE_PEER, NULL, SEC5, NULL), -EPIPE);
	assert_null(e->cli);
	assert_null(ipc_proxy_conn(e->rp));
	assert_int_equal(e->cli_closed, 0); /* freed, not closed by the peer */
	PUMP_UNTIL(e, e->srv_closed == 1);
}

/* ---- tests: fds and nested calls ---- */

static void test_fds_through_call(void **state)
{
	struct env *e = *state;
	int before = count_fds(), mfd, fd;
	struct ipc_msg *m, *rep = NULL;
	struct stat st;
	int64_t ino, dev;
	char b[8] = {0};

	mfd = memfd_create("ipc-fd", MFD_CLOEXEC);
	assert_true(mfd >= 0);
	assert_int_equal(fstat(mfd, &st), 0);
	m = new_msg();
	assert_int_equal(ipc_msg_put_fd(m, mfd), 0);
	assert_int_equal(ipc_call(e->rp, M_FD, m, SEC5, &rep), 0);
	ipc_msg_free(m);
	assert_int_equal(ipc_msg_get_i64(rep, &ino), 0);
	assert_int_equal(ipc_msg_get_i64(rep, &dev), 0);
	assert_true((ino_t)ino == st.st_ino);
	assert_true((dev_t)dev == st.st_dev);
	assert_int_equal(ipc_msg_get_fd(rep, &fd), 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(read(fd, b, sizeof(b)), 4);
	assert_string_equal(b, "pong");
	close(fd);
	ipc_msg_free(rep);
	close(mfd);
	assert_int_equal(count_fds(), before);
}

static void test_nested_callback(void **state)
{
	struct env *e = *state;
	struct ipc_object *cb;
	struct ipc_msg *m;

	assert_int_equal(ipc_object_new(&cb_ops, e, &cb), 0);
	m = new_msg();
	assert_int_equal(ipc_msg_put_object(m, cb), 0);
	assert_int_equal(ipc_msg_put_i32(m, 5), 0);
	/* The server calls cb.DOUBLE five times while we wait in ipc_call. */
	assert_int_equal(call_i32(e->rp, M_CALLBACK, m), 2 * (0 + 1 + 2 + 3 + 4));
	ipc_object_unref(cb);
	PUMP_UNTIL(e, e->cbs.destroyed == 1);
}

static void async_done(struct ipc_conn *conn, int err, struct ipc_msg *reply, void *data)
{
	struct env *e = data;

	e->async_done++;
	e->async_err = err;
	e->async_error = *avf_err_last();
	if (err == 0 && ipc_msg_get_i32(reply, &e->async_value) < 0)
		e->async_value = -1;
}

static void test_async_call(void **state)
{
	struct env *e = *state;
	struct ipc_msg *m = msg_add(20, 22, "a");

	assert_int_equal(ipc_call_async(e->rp, M_ADD, m, async_done, e), 0);
	ipc_msg_free(m);
	assert_int_equal(e->async_done, 0);
	PUMP_UNTIL(e, e->async_done == 1);
	assert_int_equal(e->async_err, 0);
	assert_int_equal(e->async_value, 42);
	assert_int_equal(ipc_call_async(e->rp, 4242, NULL, async_done, e), 0);
	PUMP_UNTIL(e, e->async_done == 2);
	assert_int_equal(e->async_err, -EREMOTEIO);
	assert_int_equal(e->async_error.ex, AVF_EX_UNSUPPORTED_OPERATION);
}

/*
 * A peer that closes first is a clean close (why->err 0) whichever way we learn
 * of it: ECONNRESET on read (our reply sat unread when it closed) or EPIPE on send
 * (it closed before we replied). Otherwise traces would depend on timing.
 */
static void test_peer_gone_is_a_clean_close(void **state)
{
	for (int variant = 0; variant < 2; variant++) {
		struct env *e = env_new(RAW_CLIENT);
		struct ipc_hdr h = {.kind = IPC_CALL, .method = M_ADD, .call_id = 1};
		int rounds = 0;

		raw_send(e, &h, msg_add(1, 2, "x"), NULL, 0);
		if (variant == 0) /* the server answers; the reply stays unread */
			while (loop_run_once(e->l, 1000) == 0 && ++rounds < 100)
				;
		close(e->raw);
		e->raw = -1;
		while (!e->srv_closed && ++rounds < 100)
			assert_true(loop_run_once(e->l, 1000) >= 0);
		assert_int_equal(e->srv_closed, 1);
		assert_int_equal(e->srv_why.err, 0);
		assert_string_equal(e->srv_why.msg, "ipc: peer closed the connection");
		env_free(e);
	}
}

/* ---- tests: a raw peer ---- */

static void test_malformed_packets(void **state)
{
	struct env *e = env_new(RAW_CLIENT);
	struct ipc_hdr h = {.kind = IPC_CALL, .method = M_ADD};
	static const uint8_t bad_tag[] = {
	    0x41, 0x56,  0x46, 0x31, 29, 0, 0, 0, 1, 0, 0, 0, 0, 0,    0,
	    0,    M_ADD, 0,    0,    0,  7, 0, 0, 0, 0, 0, 0, 0, 0x0a,
	};
	struct ipc_msg *m;
	int fds[IPC_MSG_MAX_FDS], i, before;
	int32_t v;

	/* Bad field in a CALL: an error reply, and the next call is served. */
	raw_send_bytes(e, bad_tag, sizeof(bad_tag));
	raw_expect_error(e, 7, AVF_EX_BAD_PARCELABLE,
			 "ipc: field 0 at offset 28 has unknown type tag 0x0a");
	h.call_id = 8;
	raw_send(e, &h, msg_add(2, 3, "x"), NULL, 0);
	m = raw_recv(e);
	assert_int_equal(ipc_msg_hdr(m)->call_id, 8);
	assert_int_equal(ipc_msg_hdr(m)->flags, 0);
	assert_int_equal(ipc_msg_get_i32(m, &v), 0);
	assert_int_equal(v, 5);
	ipc_msg_free(m);

	/* An object we were never given. */
	h.object = 99;
	h.call_id = 9;
	raw_send(e, &h, msg_add(2, 3, "x"), NULL, 0);
	raw_expect_error(e, 9, AVF_EX_ILLEGAL_ARGUMENT, "ipc: unknown object 99");

	/* As many fds as one sendmsg can pass, none announced: refused with a reply, and
	 * every one of them closed on our side. (More than IPC_MSG_MAX_FDS cannot arrive:
	 * it is the kernel's SCM_MAX_FD; the decoder's own check is test_ipc_msg's.) */
	before = count_fds();
	for (i = 0; i < (int)IPC_MSG_MAX_FDS; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	h.object = 0;
	h.call_id = 10;
	raw_send(e, &h, msg_add(1, 1, ""), fds, IPC_MSG_MAX_FDS);
	for (i = 0; i < (int)IPC_MSG_MAX_FDS; i++)
		close(fds[i]);
	raw_expect_error(e, 10, AVF_EX_BAD_PARCELABLE, "header says 0 fds, packet carried 253");
	assert_int_equal(count_fds(), before);
	/* An fd the header does not announce. */
	fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	h.call_id = 11;
	raw_send(e, &h, msg_add(1, 1, ""), fds, 1);
	close(fds[0]);
	raw_expect_error(e, 11, AVF_EX_BAD_PARCELABLE, "header says 0 fds, packet carried 1");
	assert_int_equal(count_fds(), before);

	/* Still serving. */
	h.call_id = 12;
	raw_send(e, &h, msg_add(2, 2, "x"), NULL, 0);
	m = raw_recv(e);
	assert_int_equal(ipc_msg_hdr(m)->call_id, 12);
	assert_int_equal(ipc_msg_hdr(m)->flags, 0);
	ipc_msg_free(m);
	assert_int_equal(e->srv_closed, 0);
	env_free(e);
}

static void raw_release(struct env *e, uint16_t kind, uint32_t id, uint32_t n)
{
	struct ipc_hdr h = {.kind = kind, .object = id};
	struct ipc_msg *m = new_msg();

	assert_int_equal(ipc_msg_put_u32(m, n), 0);
	raw_send(e, &h, m, NULL, 0);
}

/* Raw CALL of M_MAKE(1): the id of the new child. */
static uint32_t raw_make(struct env *e, uint32_t call_id)
{
	struct ipc_hdr h = {.kind = IPC_CALL, .method = M_MAKE, .call_id = call_id};
	struct ipc_msg *m;
	uint32_t id;

	raw_send(e, &h, msg_i32s(1, (int32_t[]){1}), NULL, 0);
	m = raw_recv(e);
	assert_int_equal(ipc_msg_hdr(m)->call_id, call_id);
	assert_int_equal(ipc_msg_get_object_id(m, &id), 0);
	ipc_msg_free(m);
	return id;
}

/* Raw CALL of M_COUNT and its reply: everything sent before has been handled. */
static void raw_barrier(struct env *e, uint32_t call_id)
{
	struct ipc_hdr h = {.kind = IPC_CALL, .method = M_COUNT, .call_id = call_id};

	raw_send(e, &h, new_msg(), NULL, 0);
	ipc_msg_free(raw_recv(e));
}

/* A oneway to an object the peer does not have is dropped; the connection serves on. */
static void test_oneway_unknown_object(void **state)
{
	struct ipc_hdr h = {.kind = IPC_ONEWAY, .object = 77, .method = M_RECORD};
	struct env *e = env_new(RAW_CLIENT);

	raw_send(e, &h, msg_i32s(1, (int32_t[]){1}), NULL, 0);
	h.object = 0;
	raw_send(e, &h, msg_i32s(1, (int32_t[]){2}), NULL, 0);
	PUMP_UNTIL(e, e->nseq == 1);
	assert_int_equal(e->seq[0], 2);
	assert_int_equal(e->srv_closed, 0);
	env_free(e);
}

static void test_protocol_errors_close(void **state)
{
	static const uint8_t garbage[] = "hello";
	struct ipc_hdr h;
	struct env *e;

	/* Too short to have a call id: nothing to answer, the connection goes. */
	e = env_new(RAW_CLIENT);
	raw_send_bytes(e, garbage, 5);
	PUMP_UNTIL(e, e->srv_closed == 1);
	assert_int_equal(e->srv_why.err, -EBADMSG);
	assert_non_null(strstr(e->srv_why.msg, "packet of 5 bytes is shorter"));
	assert_null(raw_recv(e)); /* EOF */
	assert_int_equal(e->root_cnt.released, 1);
	env_free(e);

	/* Wrong magic, even on a CALL: no way to know the rest means anything. */
	e = env_new(RAW_CLIENT);
	{
		uint8_t b[IPC_HDR_SIZE] = {'A', 'V', 'F', '9', IPC_HDR_SIZE, 0, 0, 0, 1, 0};

		b[20] = 1;
		raw_send_bytes(e, b, sizeof(b));
	}
	PUMP_UNTIL(e, e->srv_closed == 1);
	assert_int_equal(e->srv_why.err, -EPROTO);
	assert_non_null(strstr(e->srv_why.msg, "bad magic"));
	env_free(e);

	/* A malformed ONEWAY has no reply channel. */
	e = env_new(RAW_CLIENT);
	{
		/* ONEWAY, then a bool tag without its byte. */
		uint8_t b[29] = {0x41, 0x56, 0x46, 0x31, 29, 0, 0, 0, IPC_ONEWAY};

		b[28] = IPC_T_BOOL;
		raw_send_bytes(e, b, sizeof(b));
	}
	PUMP_UNTIL(e, e->srv_closed == 1);
	assert_non_null(strstr(e->srv_why.msg, "(bool) at offset 28 is truncated"));
	env_free(e);

	/* A REPLY to a call never made. */
	e = env_new(RAW_CLIENT);
	h = (struct ipc_hdr){.kind = IPC_REPLY, .call_id = 12345};
	raw_send(e, &h, new_msg(), NULL, 0);
	PUMP_UNTIL(e, e->srv_closed == 1);
	assert_int_equal(e->srv_why.err, -EPROTO);
	assert_string_equal(e->srv_why.msg, "ipc: REPLY to unknown call id 12345");
	env_free(e);

	/* RELEASE of an object never given, and of the root. */
	e = env_new(RAW_CLIENT);
	raw_release(e, IPC_RELEASE, 5, 1);
	PUMP_UNTIL(e, e->srv_closed == 1);
	assert_string_equal(e->srv_why.msg,
			    "ipc: RELEASE of object 5, which the peer does not hold");
	env_free(e);
	e = env_new(RAW_CLIENT);
	raw_release(e, IPC_RELEASE, 0, 1);
	PUMP_UNTIL(e, e->srv_closed == 1);
	assert_non_null(strstr(e->srv_why.msg, "RELEASE of object 0"));
	env_free(e);
}

static void test_acquire_release_counts(void **state)
{
	struct env *e = env_new(RAW_CLIENT);
	uint32_t x, y;

	x = raw_make(e, 1);
	assert_true(x != 0);
	raw_release(e, IPC_ACQUIRE, x, 2); /* now 3 */
	raw_release(e, IPC_RELEASE, x, 1); /* 2 */
	raw_barrier(e, 2);
	assert_int_equal(e->children.released, 0);
	raw_release(e, IPC_RELEASE, x, 2); /* 0 */
	raw_barrier(e, 3);
	assert_int_equal(e->children.released, 1);
	assert_int_equal(e->children.destroyed, 1);
	/* Ids are not reused. */
	y = raw_make(e, 4);
	assert_true(y != x);
	/* Returning more than it holds: protocol error; the close releases the rest. */
	raw_release(e, IPC_RELEASE, y, 5);
	PUMP_UNTIL(e, e->srv_closed == 1);
	assert_int_equal(e->srv_why.err, -EPROTO);
	assert_non_null(strstr(e->srv_why.msg, "RELEASE of 5 references to object"));
	assert_non_null(strstr(e->srv_why.msg, "the peer holds 1"));
	assert_int_equal(e->children.released, 2);
	env_free(e);
}

/* ---- mutated packets through a real socket ---- */

#define CONN_MUTATIONS 1500

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void)
{
	/* xorshift64*, fixed seed: the same packets every run. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 32);
}

struct raw_pkt {
	uint8_t b[256];
	size_t len;
	unsigned nfds;
};

static void seed_pkt(struct raw_pkt *p, struct ipc_hdr h, struct ipc_msg *m)
{
	assert_int_equal(ipc_msg_encode(m, &h, p->b, sizeof(p->b), &p->len), 0);
	ipc_msg_fds(m, &p->nfds);
	ipc_msg_free(m);
}

static struct env *fuzz_env(void)
{
	struct env *e = env_new(RAW_CLIENT);

	e->fuzzing = true;
	return e;
}

static void test_conn_mutations(void **state)
{
	struct raw_pkt seeds[6], p;
	struct env *e;
	struct ipc_hdr bh = {.kind = IPC_CALL, .method = M_COUNT};
	struct ipc_msg *m;
	unsigned it, k, closes = 0, answered = 0;
	int fds[2], devnull, before = count_fds();
	uint32_t v;

	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	e = fuzz_env();
	seed_pkt(&seeds[0], (struct ipc_hdr){IPC_CALL, 0, 0, M_ADD, 1}, msg_add(1, 2, "s"));
	seed_pkt(&seeds[1], (struct ipc_hdr){IPC_CALL, 0, 0, M_MAKE, 2},
		 msg_i32s(1, (int32_t[]){2}));
	m = new_msg();
	ipc_msg_put_object_id(m, 3);
	ipc_msg_put_i32(m, 1);
	seed_pkt(&seeds[2], (struct ipc_hdr){IPC_CALL, 0, 0, M_HOLD, 3}, m);
	seed_pkt(&seeds[3], (struct ipc_hdr){IPC_ONEWAY, 0, 0, M_RECORD, 0},
		 msg_i32s(1, (int32_t[]){7}));
	m = new_msg();
	ipc_msg_put_u32(m, 1);
	seed_pkt(&seeds[4], (struct ipc_hdr){IPC_RELEASE, 0, 1, 0, 0}, m);
	m = new_msg();
	ipc_msg_put_fd(m, devnull);
	seed_pkt(&seeds[5], (struct ipc_hdr){IPC_CALL, 0, 0, M_FD, 4}, m);

	for (it = 0; it < CONN_MUTATIONS; it++) {
		p = seeds[rnd() % 6];
		for (k = rnd() % 2 + 1; k; k--) {
			size_t at = rnd() % p.len;

			switch (rnd() % 4) {
			case 0: p.b[at] ^= (uint8_t)(1u << (rnd() % 8)); break;
			case 1: p.b[at] = (uint8_t)rnd(); break;
			case 2: p.len = at > 0 ? at : 1; break;
			default: /* a small number in the object / method / call id / body */
				if (at + 4 <= p.len && at >= 12) {
					v = rnd() % 20;
					memcpy(p.b + at, (uint8_t[]){v, 0, 0, 0}, 4);
				}
				break;
			}
		}
		for (k = 0; k < p.nfds; k++)
			fds[k] = devnull;
		{
			union {
				char b[CMSG_SPACE(sizeof(int) * 2)];
				struct cmsghdr align;
			} cb;
			struct iovec iov = {.iov_base = p.b, .iov_len = p.len};
			struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
			struct cmsghdr *cm;

			if (p.nfds) {
				memset(&cb, 0, sizeof(cb));
				mh.msg_control = cb.b;
				mh.msg_controllen = CMSG_SPACE(sizeof(int) * p.nfds);
				cm = CMSG_FIRSTHDR(&mh);
				cm->cmsg_level = SOL_SOCKET;
				cm->cmsg_type = SCM_RIGHTS;
				cm->cmsg_len = CMSG_LEN(sizeof(int) * p.nfds);
				memcpy(CMSG_DATA(cm), fds, sizeof(int) * p.nfds);
			}
			assert_int_equal(sendmsg(e->raw, &mh, MSG_NOSIGNAL), (ssize_t)p.len);
		}
		/* Barrier: a good call after it is answered, or the connection closed. */
		bh.call_id = 0x10000 + it;
		raw_send(e, &bh, new_msg(), NULL, 0);
		for (;;) {
			m = raw_recv(e);
			if (!m) {
				assert_int_equal(e->srv_closed, e->srv ? 1 : 0);
				assert_true(e->srv_why.err < 0 || !e->srv);
				closes++;
				env_free(e);
				e = fuzz_env();
				break;
			}
			v = ipc_msg_hdr(m)->call_id;
			ipc_msg_free(m);
			if (v == bh.call_id) {
				answered++;
				break;
			}
		}
	}
	env_free(e);
	close(devnull);
	assert_int_equal(count_fds(), before);
	/* Both outcomes happen: the connection survives most packets, not all. */
	assert_true(answered > CONN_MUTATIONS / 4);
	assert_true(closes > CONN_MUTATIONS / 50);
}

static void test_timeout_and_late_reply(void **state)
{
	struct env *e = env_new(RAW_SERVER);
	struct ipc_hdr h = {.kind = IPC_REPLY};
	struct ipc_conn_stats st;
	struct ipc_msg *call, *m;
	uint64_t t0 = wall_ns();
	uint32_t late;

	assert_int_equal(ipc_call(e->rp, 5, NULL, 50 * LOOP_NSEC_PER_MSEC, NULL), -ETIMEDOUT);
	assert_true(wall_ns() - t0 >= 50 * LOOP_NSEC_PER_MSEC);
	assert_string_equal(avf_err_last()->msg,
			    "ipc: no reply to method 5 of object 0 within 50 ms");
	call = raw_recv(e);
	assert_int_equal(ipc_msg_hdr(call)->kind, IPC_CALL);
	assert_int_equal(ipc_msg_hdr(call)->method, 5);
	late = ipc_msg_hdr(call)->call_id;
	ipc_msg_free(call);
	ipc_conn_stats(e->cli, &st);
	assert_int_equal(st.pending, 1); /* remembered */

	/* The late reply, then an async call answered after it. */
	h.call_id = late;
	raw_send(e, &h, new_msg(), NULL, 0);
	assert_int_equal(ipc_call_async(e->rp, 6, NULL, async_done, e), 0);
	call = raw_recv(e);
	assert_true(ipc_msg_hdr(call)->call_id != late);
	h.call_id = ipc_msg_hdr(call)->call_id;
	ipc_msg_free(call);
	raw_send(e, &h, msg_i32s(1, (int32_t[]){42}), NULL, 0);
	PUMP_UNTIL(e, e->async_done == 1);
	assert_int_equal(e->async_err, 0);
	assert_int_equal(e->async_value, 42);
	ipc_conn_stats(e->cli, &st);
	assert_int_equal(st.pending, 0);
	assert_int_equal(e->cli_closed, 0);

	/* An error reply to an async call. */
	assert_int_equal(ipc_call_async(e->rp, 7, NULL, async_done, e), 0);
	call = raw_recv(e);
	h.call_id = ipc_msg_hdr(call)->call_id;
	h.flags = IPC_F_ERROR;
	ipc_msg_free(call);
	m = msg_i32s(2, (int32_t[]){AVF_EX_SECURITY, 0});
	assert_int_equal(ipc_msg_put_string(m, "denied"), 0);
	raw_send(e, &h, m, NULL, 0);
	PUMP_UNTIL(e, e->async_done == 2);
	assert_int_equal(e->async_err, -EREMOTEIO);
	assert_int_equal(e->async_error.ex, AVF_EX_SECURITY);
	assert_string_equal(e->async_error.msg, "denied");
	env_free(e);
}

static void test_limit_pending(void **state)
{
	struct env *e = env_new(RAW_SERVER);
	struct ipc_conn_limits lim = ipc_conn_default_limits;
	int i;

	lim.max_pending = 3;
	ipc_conn_set_limits(e->cli, &lim);
	for (i = 0; i < 3; i++)
		assert_int_equal(ipc_call_async(e->rp, 1, NULL, async_done, e), 0);
	assert_int_equal(ipc_call_async(e->rp, 1, NULL, async_done, e), -EBUSY);
	assert_msg("3 calls already pending on this connection (limit 3)");
	assert_int_equal(ipc_call(e->rp, 1, NULL, SEC5, NULL), -EBUSY);
	/* The peer dies: every pending call completes with -EPIPE. */
	close(e->raw);
	e->raw = -1;
	PUMP_UNTIL(e, e->cli_closed == 1);
	assert_int_equal(e->async_done, 3);
	assert_int_equal(e->async_err, -EPIPE);
	assert_int_equal(e->async_error.ex, AVF_EX_TRANSACTION_FAILED);
	env_free(e);
}

static void test_limit_proxies(void **state)
{
	struct env *e = *state;
	struct ipc_conn_limits lim = ipc_conn_default_limits;
	struct ipc_msg *rep = NULL;
	struct ipc_conn_stats st;

	lim.max_proxies = 3; /* the root's proxy and two more */
	ipc_conn_set_limits(e->cli, &lim);
	assert_int_equal(callf(e->rp, M_MAKE, msg_i32s(1, (int32_t[]){3}), &rep), -ENOSPC);
	assert_null(rep);
	assert_msg("too many remote objects on this connection (limit 3)");
	/* The third came straight back, the other two with the rejected reply. */
	PUMP_UNTIL(e, e->children.released == 3);
	assert_int_equal(e->children.destroyed, 3);
	ipc_conn_stats(e->cli, &st);
	assert_int_equal(st.proxies, 1);
	assert_int_equal(callf(e->rp, M_MAKE, msg_i32s(1, (int32_t[]){2}), NULL), 0);
	PUMP_UNTIL(e, e->children.released == 5);
}

static void test_limit_exports(void **state)
{
	struct env *e = *state;
	struct ipc_conn_limits lim = ipc_conn_default_limits;

	lim.max_exports = 2; /* the root and one more */
	ipc_conn_set_limits(e->srv, &lim);
	assert_int_equal(callf(e->rp, M_MAKE, msg_i32s(1, (int32_t[]){2}), NULL), -EREMOTEIO);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_STATE);
	assert_string_equal(avf_err_last()->msg,
			    "ipc: too many objects exported on this connection (limit 2)");
	/* Never exported: destroyed with the unsent reply, no on_release. */
	assert_int_equal(e->children.destroyed, 2);
	assert_int_equal(e->children.released, 0);
	assert_int_equal(callf(e->rp, M_MAKE, msg_i32s(1, (int32_t[]){1}), NULL), 0);
	PUMP_UNTIL(e, e->children.released == 1);
}

/* A small send buffer, so "more than the socket holds" does not depend on sysctls. */
static void small_sndbuf(struct ipc_conn *c)
{
	int sz = 32 * 1024;

	assert_int_equal(setsockopt(ipc_conn_fd(c), SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);
}

static void test_backpressure(void **state)
{
	struct env *e = *state;
	static uint8_t payload[4096];
	struct ipc_conn_stats st;
	struct ipc_msg *m;
	int i, before = count_fds(), fd;

	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	small_sndbuf(e->cli);
	/* 400 x 4 KiB without running the loop: far more than the socket buffer. */
	for (i = 0; i < 400; i++) {
		m = msg_i32s(1, &i);
		assert_int_equal(ipc_msg_put_bytes(m, payload, sizeof(payload)), 0);
		if (i % 50 == 0)
			assert_int_equal(ipc_msg_put_fd(m, fd), 0); /* fds queue too */
		assert_int_equal(ipc_oneway(e->rp, M_RECORD, m), 0);
		ipc_msg_free(m);
	}
	ipc_conn_stats(e->cli, &st);
	assert_true(st.outq_bytes > 0);
	assert_int_equal(call_i32(e->rp, M_COUNT, NULL), 400);
	for (i = 0; i < 400; i++)
		assert_int_equal(e->seq[i], i);
	ipc_conn_stats(e->cli, &st);
	assert_int_equal(st.outq_bytes, 0);
	close(fd);
	assert_int_equal(count_fds(), before);
}

static void test_outq_overflow(void **state)
{
	struct env *e = *state;
	struct ipc_conn_limits lim = ipc_conn_default_limits;
	static uint8_t payload[8192];
	struct ipc_msg *m;
	int i, r = 0;

	lim.max_outq_bytes = 64 * 1024;
	ipc_conn_set_limits(e->cli, &lim);
	small_sndbuf(e->cli);
	for (i = 0; i < 1000 && r == 0; i++) {
		m = msg_i32s(1, &i);
		assert_int_equal(ipc_msg_put_bytes(m, payload, sizeof(payload)), 0);
		r = ipc_oneway(e->rp, M_RECORD, m);
		ipc_msg_free(m);
	}
	assert_int_equal(r, -ENOBUFS);
	assert_msg("peer is not reading");
	/* Broken: no more sends; the loop closes it with that reason. */
	assert_int_equal(ipc_oneway(e->rp, M_RECORD, NULL), -EPIPE);
	assert_int_equal(e->cli_closed, 0);
	PUMP_UNTIL(e, e->cli_closed == 1);
	assert_int_equal(e->cli_why.err, -ENOBUFS);
	PUMP_UNTIL(e, e->srv_closed == 1);
}

static void test_not_seqpacket(void **state)
{
	struct loop *l;
	struct ipc_conn *c = NULL;
	int p[2], s[2];

	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &l), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(ipc_conn_new(l, p[0], NULL, NULL, NULL, &c), -ENOTSOCK);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
	assert_int_equal(ipc_conn_new(l, s[0], NULL, NULL, NULL, &c), -EINVAL);
	assert_msg("not a SOCK_SEQPACKET socket");
	assert_null(c);
	/* Untouched on failure: still ours to close. */
	assert_int_equal(close(p[0]), 0);
	assert_int_equal(close(s[0]), 0);
	close(p[1]);
	close(s[1]);
	assert_null(ipc_conn_free(NULL));
	assert_null(ipc_proxy_unref(NULL));
	assert_null(ipc_object_unref(NULL));
	loop_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_call_reply, setup_both, teardown),
	    cmocka_unit_test_setup_teardown(test_error_reply, setup_both, teardown),
	    cmocka_unit_test_setup_teardown(test_oneway_order, setup_both, teardown),
	    cmocka_unit_test_setup_teardown(test_oneway_not_nested, setup_both, teardown),
	    cmocka_unit_test_setup_teardown(test_oneway_queue_limit, setup_both, teardown),
	    cmocka_unit_test_setup_teardown(test_objects_release, setup_both, teardown),
	    cmocka_unit_test_setup_teardown(test_client_object_to_server, setup_both, teardown),
	    cmocka_unit_test_setup_teardown(test_send_refused, setup_both, teardown),
	    cmocka_unit_test_setup_teardown(test_peer_close, setup_both, teardown),
	    cmocka_unit_test_setup_teardown(test_client_death, setup_both, teardown),
	    cmocka_unit_test_setup_teardown(test_free_in_on_close, setup_both, teardown),
	    cmocka_unit_test(test_peer_gone_is_a_clean_close),
	    cmocka_unit_test_setup_teardown(test_free_during_call, setup_both, teardown),
	    cmocka_unit_test_setup_teardown(test_fds_through_call, setup_both, teardown),
	    cmocka_unit_test_setup_teardown(test_nested_callback, setup_both, teardown),
	    cmocka_unit_test_setup_teardown(test_async_call, setup_both, teardown),
	    cmocka_unit_test(test_malformed_packets),
	    cmocka_unit_test(test_oneway_unknown_object),
	    cmocka_unit_test(test_protocol_errors_close),
	    cmocka_unit_test(test_acquire_release_counts),
	    cmocka_unit_test(test_conn_mutations),
	    cmocka_unit_test(test_timeout_and_late_reply),
	    cmocka_unit_test(test_limit_pending),
	    cmocka_unit_test_setup_teardown(test_limit_proxies, setup_both, teardown),
	    cmocka_unit_test_setup_teardown(test_limit_exports, setup_both, teardown),
	    cmocka_unit_test_setup_teardown(test_backpressure, setup_both, teardown),
	    cmocka_unit_test_setup_teardown(test_outq_overflow, setup_both, teardown),
	    cmocka_unit_test(test_not_seqpacket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
