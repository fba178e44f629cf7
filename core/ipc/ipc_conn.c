/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ipc_conn: connections, object table, proxies and calls. See ipc_conn.h for the
 * contract.
 *
 * Lifetime rule: every entry point that may run callbacks (the loop callback,
 * ipc_call, close) holds the connection busy; ipc_conn_free() only marks it and
 * the memory goes when the outermost holder lets go. A closed connection keeps
 * its memory (and its proxies stay attached) until it is freed.
 *
 * Sending never blocks: the socket is non-blocking and packets the kernel does
 * not take yet wait in an output queue flushed on EPOLLOUT. A failed send does
 * not close at once (that would run callbacks from inside ipc_oneway or
 * ipc_proxy_unref): the connection is marked broken and the socket shut down, so
 * the loop wakes up and closes it with the saved reason.
 */
#include "ipc/ipc_conn.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ipc/ipc_internal.h"

/* Messages read per wakeup before the loop gets a chance to serve others. */
#define READ_BURST 64
/* The kernel's SCM_MAX_FD: room for every fd a packet can carry, so a packet with
 * too many fds is rejected by the decoder (with a reply) instead of truncated. */
#define RECV_MAX_FDS 253
_Static_assert(RECV_MAX_FDS >= IPC_MSG_MAX_FDS, "a packet's fds must fit the receive buffer");

const struct ipc_conn_limits ipc_conn_default_limits = {
    .max_exports = 4096,
    .max_proxies = 4096,
    .max_pending = 64,
    .max_queued_oneway = 256,
    .max_outq_bytes = 4u << 20,
};

/* ---- u32-keyed intrusive hash map ---- */

struct hnode {
	struct hnode *next;
	uint32_t key;
};

struct hmap {
	struct hnode **b;
	size_t nb; /* power of two, or 0 */
	size_t n;
};

static size_t hslot(const struct hmap *h, uint32_t x)
{
	/* Keys can come from the peer: mix them so sequential or crafted ids spread. */
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x & (h->nb - 1);
}

/* Room for one more node (load factor <= 1). */
static int hmap_reserve(struct hmap *h)
{
	struct hnode **b, *n, *next;
	size_t nb, i, s;
	struct hmap tmp;

	if (h->n < h->nb)
		return 0;
	nb = h->nb ? h->nb * 2 : 16;
	b = calloc(nb, sizeof(*b));
	if (!b)
		return avf_err_service(-ENOMEM, "ipc: out of memory for an object table");
	tmp.b = b;
	tmp.nb = nb;
	for (i = 0; i < h->nb; i++) {
		for (n = h->b[i]; n; n = next) {
			next = n->next;
			s = hslot(&tmp, n->key);
			n->next = b[s];
			b[s] = n;
		}
	}
	free(h->b);
	h->b = b;
	h->nb = nb;
	return 0;
}

static void hmap_insert(struct hmap *h, struct hnode *n)
{
	size_t s = hslot(h, n->key);

	n->next = h->b[s];
	h->b[s] = n;
	h->n++;
}

static struct hnode *hmap_find(const struct hmap *h, uint32_t key)
{
	struct hnode *n;

	if (!h->nb)
		return NULL;
	for (n = h->b[hslot(h, key)]; n; n = n->next)
		if (n->key == key)
			return n;
	return NULL;
}

static void hmap_remove(struct hmap *h, struct hnode *n)
{
	struct hnode **pp = &h->b[hslot(h, n->key)];

	while (*pp != n)
		pp = &(*pp)->next;
	*pp = n->next;
	h->n--;
}

/* ---- types ---- */

struct ipc_export;

struct ipc_object {
	unsigned refs;
	const struct ipc_object_ops *ops;
	void *data;
	struct ipc_export *exports; /* one per connection it is exported on */
	bool mark;                  /* scratch for export_refs() */
};

struct ipc_export {
	struct hnode node; /* first: key = id, in conn->exports */
	struct ipc_conn *conn;
	struct ipc_object *obj; /* holds one reference */
	uint32_t count;         /* strong references the peer holds; unused for the root */
	bool root;
	struct ipc_export *obj_next;    /* obj->exports */
	struct ipc_export *prev, *next; /* conn's list, in export order */
};

struct ipc_proxy {
	struct hnode node; /* first: key = remote id, in conn->proxies while conn is set */
	unsigned refs;
	struct ipc_conn *conn; /* NULL once the connection is freed */
	uint32_t wire_refs;    /* references the peer sent; returned by RELEASE */
};

struct ipc_pending {
	struct ipc_pending *next;
	uint32_t call_id;
	bool sync;
	bool done;      /* sync: result below is final, the waiter frees this */
	bool abandoned; /* sync: the waiter gave up; the connection frees this */
	int err;
	struct avf_error error; /* when err < 0 */
	struct ipc_msg *reply;
	ipc_reply_fn fn;
	void *data;
};

struct ipc_outpkt {
	struct ipc_outpkt *next;
	size_t len;
	unsigned nfds;
	int fds[IPC_MSG_MAX_FDS];
	uint8_t buf[];
};

struct ipc_qmsg {
	struct ipc_qmsg *next;
	struct ipc_msg *msg;
};

struct ipc_conn {
	struct loop *loop;
	struct loop_source *src;
	int fd;
	const struct ipc_conn_ops *ops;
	void *data;
	struct ipc_conn_limits limits;
	unsigned busy;
	bool closed;   /* close ran (or is running): no more I/O */
	bool freed;    /* ipc_conn_free() was called */
	bool broken;   /* a send failed: close at the next chance, with @why */
	bool want_out; /* EPOLLOUT armed */
	struct avf_error why;

	struct hmap exports;
	struct ipc_export *exp_head, *exp_tail;
	uint32_t next_id;

	struct hmap proxies;

	struct ipc_pending *pending;
	unsigned n_pending;
	uint32_t next_call;

	struct ipc_outpkt *out_head, *out_tail;
	size_t out_bytes;

	struct ipc_qmsg *q_head, *q_tail;
	unsigned n_queued;
	unsigned oneway_depth;

	uint8_t sbuf[IPC_MSG_MAX];
	uint8_t rbuf[IPC_MSG_MAX];
};

static void conn_close(struct ipc_conn *c);
static int send_refs(struct ipc_conn *c, uint16_t kind, uint32_t id, uint32_t count);

/* ---- errors ---- */

int ipc_err_service(int err, int32_t code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	avf_err_setv(err, AVF_EX_SERVICE_SPECIFIC, fmt, ap);
	va_end(ap);
	avf_err_set_service_code(code);
	return err;
}


static int err_closed(const struct ipc_conn *c)
{
	return avf_err_set(-EPIPE, AVF_EX_TRANSACTION_FAILED, "ipc: connection closed (%s)",
			   c->why.msg[0] ? c->why.msg : "no reason");
}

int ipc_unknown_method(const struct ipc_object *obj, uint32_t method)
{
	const char *name = obj && obj->ops->name ? obj->ops->name : "object";

	return avf_err_set(-EOPNOTSUPP, AVF_EX_UNSUPPORTED_OPERATION, "ipc: %s has no method %u",
			   name, method);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * LOOP_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* ---- busy / broken / free ---- */

static void conn_destroy(struct ipc_conn *c)
{
	struct hnode *n;
	size_t i;

	/* Proxies outlive the connection: detach them (their calls fail with -EPIPE). */
	for (i = 0; i < c->proxies.nb; i++)
		for (n = c->proxies.b[i]; n; n = n->next)
			((struct ipc_proxy *)n)->conn = NULL;
	free(c->proxies.b);
	free(c->exports.b);
	free(c);
}

static void conn_hold(struct ipc_conn *c)
{
	c->busy++;
}

static void conn_release(struct ipc_conn *c)
{
	assert(c->busy > 0);
	if (--c->busy == 0 && c->freed)
		conn_destroy(c);
}

static bool conn_usable(const struct ipc_conn *c)
{
	return !c->closed && !c->broken;
}

/* A send failed: record why, stop sending, and let the loop close us (top of file). */
static int conn_break(struct ipc_conn *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int conn_break(struct ipc_conn *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	avf_err_setv(err, AVF_EX_TRANSACTION_FAILED, fmt, ap);
	va_end(ap);
	if (conn_usable(c)) {
		c->broken = true;
		c->why = *avf_err_last();
		/*
		 * EPIPE / ECONNRESET: the peer closed first. That is the same end as reading
		 * its EOF, and must read the same (why->err 0), or whether a close shows as
		 * clean would depend on who happened to send last.
		 */
		if (err == -EPIPE || err == -ECONNRESET) {
			memset(&c->why, 0, sizeof(c->why));
			snprintf(c->why.msg, sizeof(c->why.msg), "ipc: peer closed the connection");
		}
		/* Wakes our own epoll (RDHUP/HUP) and shows the peer EOF. */
		shutdown(c->fd, SHUT_RDWR);
	}
	return err;
}

/* Close now, with the avf_err slot as the reason (unless a send already broke us). */
static void conn_fail(struct ipc_conn *c)
{
	if (!c->broken)
		c->why = *avf_err_last();
	conn_close(c);
}

static void conn_protocol_error(struct ipc_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void conn_protocol_error(struct ipc_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	avf_err_setv(-EPROTO, AVF_EX_TRANSACTION_FAILED, fmt, ap);
	va_end(ap);
	conn_fail(c);
}

/* ---- objects and exports ---- */

int ipc_object_new(const struct ipc_object_ops *ops, void *data, struct ipc_object **ret)
{
	struct ipc_object *obj;

	if (!ops || !ops->dispatch || !ret)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "ipc_object_new: ops with a dispatch function required");
	obj = calloc(1, sizeof(*obj));
	if (!obj)
		return avf_err_service(-ENOMEM, "ipc: out of memory for an object");
	obj->refs = 1;
	obj->ops = ops;
	obj->data = data;
	*ret = obj;
	return 0;
}

struct ipc_object *ipc_object_ref(struct ipc_object *obj)
{
	if (obj)
		obj->refs++;
	return obj;
}

struct ipc_object *ipc_object_unref(struct ipc_object *obj)
{
	if (!obj || --obj->refs > 0)
		return NULL;
	assert(!obj->exports); /* every export holds a reference */
	if (obj->ops->destroy)
		obj->ops->destroy(obj->data);
	free(obj);
	return NULL;
}

void *ipc_object_data(const struct ipc_object *obj)
{
	return obj->data;
}

static struct ipc_export *export_of(const struct ipc_object *obj, const struct ipc_conn *c)
{
	struct ipc_export *e;

	for (e = obj->exports; e; e = e->obj_next)
		if (e->conn == c)
			return e;
	return NULL;
}

static struct ipc_export *export_find(const struct ipc_conn *c, uint32_t id)
{
	return (struct ipc_export *)hmap_find(&c->exports, id);
}

unsigned ipc_object_peer_refs(const struct ipc_object *obj, const struct ipc_conn *c)
{
	const struct ipc_export *e = export_of(obj, c);

	if (!e)
		return 0;
	return e->root ? 1 : e->count;
}

static int export_new(struct ipc_conn *c, struct ipc_object *obj, bool root,
		      struct ipc_export **ret)
{
	struct ipc_export *e;
	int r;

	r = hmap_reserve(&c->exports);
	if (r < 0)
		return r;
	e = calloc(1, sizeof(*e));
	if (!e)
		return avf_err_service(-ENOMEM, "ipc: out of memory for an export");
	if (!root) {
		/* Ids only go up; after 2^32 exports, skip the ones still in use. */
		do
			e->node.key = c->next_id++;
		while (e->node.key == 0 || export_find(c, e->node.key));
	}
	e->root = root;
	e->conn = c;
	e->obj = ipc_object_ref(obj);
	e->obj_next = obj->exports;
	obj->exports = e;
	e->prev = c->exp_tail;
	if (c->exp_tail)
		c->exp_tail->next = e;
	else
		c->exp_head = e;
	c->exp_tail = e;
	hmap_insert(&c->exports, &e->node);
	*ret = e;
	return 0;
}

/* Take @e out of every list; the caller owns e->obj's reference afterwards. */
static struct ipc_object *export_unlink(struct ipc_conn *c, struct ipc_export *e)
{
	struct ipc_export **pp = &e->obj->exports;
	struct ipc_object *obj = e->obj;

	while (*pp != e)
		pp = &(*pp)->obj_next;
	*pp = e->obj_next;
	if (e->prev)
		e->prev->next = e->next;
	else
		c->exp_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->exp_tail = e->prev;
	hmap_remove(&c->exports, &e->node);
	free(e);
	return obj;
}

/* The peer holds no more references: tell the object, drop the export's reference. */
static void export_drop(struct ipc_conn *c, struct ipc_export *e)
{
	struct ipc_object *obj = export_unlink(c, e);

	if (obj->ops->on_release)
		obj->ops->on_release(obj, c);
	ipc_object_unref(obj);
}

/* Undo the counts export_refs() took for fields [0, upto). */
static void export_refs_undo(struct ipc_conn *c, struct ipc_msg *m, unsigned upto)
{
	struct ipc_export *e;
	unsigned i;

	for (i = 0; i < upto; i++) {
		if (m->fields[i].type != IPC_T_OBJECT || !m->fields[i].ref)
			continue;
		e = export_of(m->fields[i].ref, c);
		if (!e || e->root)
			continue;
		/* Created by this send and never seen by the peer: no on_release. */
		if (--e->count == 0)
			ipc_object_unref(export_unlink(c, e));
	}
}

/*
 * Export the objects of @m on @c and count the peer's new references, writing
 * the ids into the fields. All or nothing.
 */
static int export_refs(struct ipc_conn *c, struct ipc_msg *m)
{
	struct ipc_object *obj;
	struct ipc_field *f;
	struct ipc_export *e;
	unsigned i, fresh = 0;
	int r = 0;

	for (i = 0; i < m->nfields; i++) {
		f = &m->fields[i];
		if (f->type != IPC_T_OBJECT || f->ref_kind == IPC_REF_OBJECT)
			continue;
		if (f->ref_kind == IPC_REF_NONE)
			return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
					   "ipc: field %u is a raw object id; send objects with "
					   "ipc_msg_put_object",
					   i);
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "ipc: field %u is a remote object (%u); only local objects can "
				   "be sent",
				   i, ((struct ipc_proxy *)f->ref)->node.key);
	}
	/* Count distinct objects not exported here yet (mark: seen in this message). */
	for (i = 0; i < m->nfields; i++) {
		obj = m->fields[i].ref;
		if (m->fields[i].type == IPC_T_OBJECT && !obj->mark && !export_of(obj, c)) {
			obj->mark = true;
			fresh++;
		}
	}
	for (i = 0; i < m->nfields; i++)
		if (m->fields[i].type == IPC_T_OBJECT)
			((struct ipc_object *)m->fields[i].ref)->mark = false;
	if (fresh && c->exports.n + fresh > c->limits.max_exports)
		return avf_err_set(-ENOSPC, AVF_EX_ILLEGAL_STATE,
				   "ipc: too many objects exported on this connection (limit %u)",
				   c->limits.max_exports);
	for (i = 0; i < m->nfields; i++) {
		f = &m->fields[i];
		if (f->type != IPC_T_OBJECT)
			continue;
		e = export_of(f->ref, c);
		if (!e) {
			r = export_new(c, f->ref, false, &e);
			if (r < 0) {
				export_refs_undo(c, m, i);
				return r;
			}
		}
		if (!e->root) {
			if (e->count == UINT32_MAX) {
				export_refs_undo(c, m, i);
				return avf_err_set(-EOVERFLOW, AVF_EX_ILLEGAL_STATE,
						   "ipc: object %u has 2^32-1 references",
						   e->node.key);
			}
			e->count++;
		}
		f->v.u32 = e->node.key;
	}
	return 0;
}

/* ---- proxies ---- */

static struct ipc_proxy *proxy_find(const struct ipc_conn *c, uint32_t id)
{
	return (struct ipc_proxy *)hmap_find(&c->proxies, id);
}

/* The proxy for remote @id, created if need be, with one more local reference. */
static int proxy_get(struct ipc_conn *c, uint32_t id, struct ipc_proxy **ret)
{
	struct ipc_proxy *p = proxy_find(c, id);
	int r;

	if (p) {
		*ret = ipc_proxy_ref(p);
		return 0;
	}
	if (c->proxies.n >= c->limits.max_proxies)
		return avf_err_set(-ENOSPC, AVF_EX_ILLEGAL_STATE,
				   "ipc: too many remote objects on this connection (limit %u)",
				   c->limits.max_proxies);
	r = hmap_reserve(&c->proxies);
	if (r < 0)
		return r;
	p = calloc(1, sizeof(*p));
	if (!p)
		return avf_err_service(-ENOMEM, "ipc: out of memory for a proxy");
	p->refs = 1;
	p->conn = c;
	p->node.key = id;
	hmap_insert(&c->proxies, &p->node);
	*ret = p;
	return 0;
}

struct ipc_proxy *ipc_proxy_ref(struct ipc_proxy *p)
{
	if (p)
		p->refs++;
	return p;
}

struct ipc_proxy *ipc_proxy_unref(struct ipc_proxy *p)
{
	struct ipc_conn *c;

	if (!p || --p->refs > 0)
		return NULL;
	c = p->conn;
	if (c) {
		hmap_remove(&c->proxies, &p->node);
		/* A failure here breaks the connection; nothing to report to the caller. */
		if (p->node.key != 0 && p->wire_refs && conn_usable(c))
			send_refs(c, IPC_RELEASE, p->node.key, p->wire_refs);
	}
	free(p);
	return NULL;
}

struct ipc_conn *ipc_proxy_conn(const struct ipc_proxy *p)
{
	return p->conn;
}

uint32_t ipc_proxy_id(const struct ipc_proxy *p)
{
	return p->node.key;
}

int ipc_conn_root(struct ipc_conn *c, struct ipc_proxy **ret)
{
	return proxy_get(c, 0, ret);
}

/* ---- message fields holding objects / proxies ---- */

static void ref_free(enum ipc_ref_kind kind, void *ref)
{
	if (kind == IPC_REF_OBJECT)
		ipc_object_unref(ref);
	else if (kind == IPC_REF_PROXY)
		ipc_proxy_unref(ref);
}

int ipc_msg_put_object(struct ipc_msg *m, struct ipc_object *obj)
{
	int r;

	if (!obj)
		return ipc_msg_put_null(m);
	r = ipc_msg_put_ref(m, IPC_REF_OBJECT, ipc_object_ref(obj), ref_free);
	if (r < 0)
		ipc_object_unref(obj);
	return r;
}

static int get_proxy(struct ipc_msg *m, bool nullable, struct ipc_proxy **ret)
{
	struct ipc_field *f;
	uint32_t id;

	if (nullable && ipc_msg_peek(m) == IPC_T_NULL) {
		m->rpos++;
		*ret = NULL;
		return 0;
	}
	/* Not an object (or past the end, or NULL): the codec's getter says so. */
	if (ipc_msg_peek(m) != IPC_T_OBJECT)
		return ipc_msg_get_object_id(m, &id);
	f = &m->fields[m->rpos];
	if (f->ref_kind != IPC_REF_PROXY)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "ipc: field %u is not a received object", m->rpos);
	*ret = ipc_proxy_ref(f->ref);
	m->rpos++;
	return 0;
}

int ipc_msg_get_proxy(struct ipc_msg *m, struct ipc_proxy **ret)
{
	return get_proxy(m, false, ret);
}

int ipc_msg_get_proxy_nullable(struct ipc_msg *m, struct ipc_proxy **ret)
{
	return get_proxy(m, true, ret);
}

/*
 * Turn the OBJECT fields of a received message into proxies. Over the proxy
 * limit, the reference is handed straight back with RELEASE and the message is
 * rejected (the slot says why); the others stay attached and are released when
 * the message is freed.
 */
static int resolve_refs(struct ipc_conn *c, struct ipc_msg *m)
{
	struct ipc_proxy *p;
	unsigned i;
	int r = 0, rr;

	m->ref_free = ref_free;
	for (i = 0; i < m->nfields; i++) {
		struct ipc_field *f = &m->fields[i];
		uint32_t id = f->v.u32;

		if (f->type != IPC_T_OBJECT)
			continue;
		rr = proxy_get(c, id, &p);
		if (rr < 0) {
			r = rr;
			if (id && conn_usable(c))
				send_refs(c, IPC_RELEASE, id, 1);
			continue;
		}
		if (id) {
			/* Keep the count representable: return what we have first. */
			if (p->wire_refs == UINT32_MAX) {
				send_refs(c, IPC_RELEASE, id, p->wire_refs);
				p->wire_refs = 0;
			}
			p->wire_refs++;
		}
		f->ref_kind = IPC_REF_PROXY;
		f->ref = p;
	}
	return r;
}

/* ---- sending ---- */

static int send_packet(int fd, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * IPC_MSG_MAX_FDS)];
		struct cmsghdr align;
	} cb;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;
	ssize_t n;

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
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return 0; /* SOCK_SEQPACKET: all or nothing */
}

static void outpkt_free(struct ipc_outpkt *o)
{
	unsigned i;

	for (i = 0; i < o->nfds; i++)
		close(o->fds[i]);
	free(o);
}

static void set_want_out(struct ipc_conn *c, bool on)
{
	if (c->want_out == on || !c->src)
		return;
	if (loop_fd_set_events(c->src, on ? EPOLLIN | EPOLLOUT : EPOLLIN) < 0) {
		conn_break(c, avf_err_last()->err, "ipc: cannot watch the socket: %s",
			   avf_err_last()->msg);
		return;
	}
	c->want_out = on;
}

static void conn_flush(struct ipc_conn *c)
{
	struct ipc_outpkt *o;
	int r;

	while ((o = c->out_head) && conn_usable(c)) {
		r = send_packet(c->fd, o->buf, o->len, o->fds, o->nfds);
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			conn_break(c, r, "ipc: send failed: %s", strerror(-r));
			return;
		}
		c->out_head = o->next;
		if (!c->out_head)
			c->out_tail = NULL;
		c->out_bytes -= o->len;
		outpkt_free(o);
	}
	if (!c->out_head)
		set_want_out(c, false);
}

/* Send now, or queue behind earlier packets / a full socket. */
static int conn_send_packet(struct ipc_conn *c, const void *buf, size_t len, const int *fds,
			    unsigned nfds)
{
	struct ipc_outpkt *o;
	int r;

	if (!c->out_head) {
		r = send_packet(c->fd, buf, len, fds, nfds);
		if (r == 0)
			return 0;
		if (r != -EAGAIN)
			return conn_break(c, r, "ipc: send failed: %s", strerror(-r));
	}
	if (c->out_bytes + len > c->limits.max_outq_bytes)
		return conn_break(c, -ENOBUFS,
				  "ipc: peer is not reading: %zu bytes queued (limit %zu)",
				  c->out_bytes, c->limits.max_outq_bytes);
	o = malloc(sizeof(*o) + len);
	if (!o)
		return conn_break(c, -ENOMEM, "ipc: out of memory queueing a message");
	memcpy(o->buf, buf, len);
	o->len = len;
	o->next = NULL;
	/* The caller keeps its message (and its fds): the queue needs its own. */
	for (o->nfds = 0; o->nfds < nfds; o->nfds++) {
		o->fds[o->nfds] = fcntl(fds[o->nfds], F_DUPFD_CLOEXEC, 3);
		if (o->fds[o->nfds] < 0) {
			r = -errno;
			outpkt_free(o);
			return conn_break(c, r, "ipc: cannot duplicate an fd to queue: %s",
					  strerror(-r));
		}
	}
	if (c->out_tail)
		c->out_tail->next = o;
	else
		c->out_head = o;
	c->out_tail = o;
	c->out_bytes += len;
	set_want_out(c, true);
	return 0;
}

/* Encode and send @m under @hdr, exporting the objects it carries. */
static int conn_send(struct ipc_conn *c, const struct ipc_hdr *hdr, struct ipc_msg *m)
{
	const int *fds;
	unsigned nfds, i;
	size_t len;
	int r;

	if (!conn_usable(c))
		return err_closed(c);
	fds = ipc_msg_fds(m, &nfds);
	for (i = 0; i < nfds; i++)
		if (fds[i] < 0)
			return avf_err_set(-EBADF, AVF_EX_ILLEGAL_ARGUMENT,
					   "ipc: fd %u of the message was taken out of it", i);
	r = export_refs(c, m);
	if (r < 0)
		return r;
	/* Cannot fail: a message never grows past IPC_MSG_MAX == sizeof(sbuf). */
	ipc_msg_encode(m, hdr, c->sbuf, sizeof(c->sbuf), &len);
	return conn_send_packet(c, c->sbuf, len, fds, nfds);
}

static int send_refs(struct ipc_conn *c, uint16_t kind, uint32_t id, uint32_t count)
{
	struct ipc_hdr hdr = {.kind = kind, .object = id};
	struct ipc_msg *m = NULL;
	int r;

	r = ipc_msg_new(&m);
	if (r == 0)
		r = ipc_msg_put_u32(m, count);
	if (r == 0)
		r = conn_send(c, &hdr, m);
	else
		conn_break(c, r, "ipc: cannot build %s: %s", ipc_kind_name(kind),
			   avf_err_last()->msg);
	ipc_msg_free(m);
	return r;
}

/* Replace bytes that are not UTF-8 with '?': error text must survive the trip. */
static void utf8_sanitize(char *s)
{
	size_t len = strlen(s), ok;

	while ((ok = ipc_utf8_valid_prefix((const uint8_t *)s, len)) < len) {
		s[ok] = '?';
		s += ok + 1;
		len -= ok + 1;
	}
}

/* Error REPLY to @call_id from the avf_err slot, after a failure that returned @err. */
static void send_error_reply(struct ipc_conn *c, uint32_t call_id, int err)
{
	const struct avf_error *e = avf_err_last();
	struct ipc_hdr hdr = {.kind = IPC_REPLY, .flags = IPC_F_ERROR, .call_id = call_id};
	struct ipc_msg *m = NULL;
	char text[AVF_ERR_MSG_MAX];
	int32_t ex = e->ex, code = e->service_code;
	int r;

	if (e->err == 0 || e->ex == AVF_EX_NONE) {
		/* The handler failed without saying why: still never an EX_NONE error. */
		ex = AVF_EX_TRANSACTION_FAILED;
		code = 0;
		snprintf(text, sizeof(text), "ipc: call failed: %s", strerror(-err));
	} else {
		snprintf(text, sizeof(text), "%s", e->msg);
	}
	utf8_sanitize(text);
	r = ipc_msg_new(&m);
	if (r == 0)
		r = ipc_msg_put_i32(m, ex);
	if (r == 0)
		r = ipc_msg_put_i32(m, code);
	if (r == 0)
		r = ipc_msg_put_string(m, text);
	if (r == 0)
		conn_send(c, &hdr, m);
	else
		conn_break(c, r, "ipc: cannot build an error reply: %s", avf_err_last()->msg);
	ipc_msg_free(m);
}

/* ---- pending calls ---- */

static struct ipc_pending *pending_take(struct ipc_conn *c, uint32_t call_id)
{
	struct ipc_pending **pp, *pc;

	for (pp = &c->pending; (pc = *pp); pp = &pc->next) {
		if (pc->call_id == call_id) {
			*pp = pc->next;
			c->n_pending--;
			return pc;
		}
	}
	return NULL;
}

static bool pending_has(const struct ipc_conn *c, uint32_t call_id)
{
	const struct ipc_pending *pc;

	for (pc = c->pending; pc; pc = pc->next)
		if (pc->call_id == call_id)
			return true;
	return false;
}

/* Deliver the result stored in @pc (already unlinked). */
static void pending_complete(struct ipc_conn *c, struct ipc_pending *pc)
{
	if (pc->abandoned) {
		ipc_msg_free(pc->reply);
		free(pc);
		return;
	}
	if (pc->sync) {
		pc->done = true;
		return;
	}
	if (pc->err < 0)
		avf_err_restore(&pc->error);
	pc->fn(c, pc->err, pc->reply, pc->data);
	ipc_msg_free(pc->reply);
	free(pc);
}

/* ---- receiving ---- */

static void dispatch_call(struct ipc_conn *c, struct ipc_msg *m)
{
	const struct ipc_hdr h = m->hdr;
	struct ipc_hdr rh = {.kind = IPC_REPLY, .call_id = h.call_id};
	struct ipc_object *obj = NULL;
	struct ipc_msg *reply = NULL;
	struct ipc_export *e;
	int r;

	e = export_find(c, h.object);
	if (!e) {
		r = avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "ipc: unknown object %u",
				h.object);
		send_error_reply(c, h.call_id, r);
		goto out;
	}
	obj = ipc_object_ref(e->obj);
	r = ipc_msg_new(&reply);
	if (r == 0) {
		avf_err_clear();
		r = obj->ops->dispatch(obj, c, h.method, m, reply);
	}
	if (!conn_usable(c))
		goto out; /* closed or freed by the handler: nobody to answer */
	if (r == 0)
		r = conn_send(c, &rh, reply);
	/* A reply we cannot send (limits, a raw id in it) becomes an error reply. */
	if (r < 0 && conn_usable(c))
		send_error_reply(c, h.call_id, r);
out:
	ipc_msg_free(reply);
	ipc_msg_free(m);
	ipc_object_unref(obj);
}

static void run_oneway(struct ipc_conn *c, struct ipc_msg *m)
{
	struct ipc_export *e = export_find(c, m->hdr.object);
	struct ipc_msg *scratch = NULL;
	struct ipc_object *obj;

	/* No reply channel: a ONEWAY to an unknown object is dropped. Any method can be
	 * sent ONEWAY, so handlers get a reply builder anyway, and it is discarded. */
	if (e && ipc_msg_new(&scratch) == 0) {
		obj = ipc_object_ref(e->obj);
		c->oneway_depth++;
		obj->ops->dispatch(obj, c, m->hdr.method, m, scratch);
		c->oneway_depth--;
		ipc_object_unref(obj);
	} else if (e) {
		/* Out of memory: a ONEWAY the peer counts on (a callback) must not vanish. */
		conn_break(c, -ENOMEM, "ipc: ONEWAY %u dropped: %s", m->hdr.method,
			   avf_err_last()->msg);
	}
	ipc_msg_free(scratch);
	ipc_msg_free(m);
}

static void handle_reply(struct ipc_conn *c, struct ipc_msg *m, int resolve_err)
{
	struct ipc_pending *pc = pending_take(c, m->hdr.call_id);

	if (!pc) {
		conn_protocol_error(c, "ipc: REPLY to unknown call id %u", m->hdr.call_id);
		ipc_msg_free(m);
		return;
	}
	if (resolve_err < 0) {
		pc->err = resolve_err;
		pc->error = *avf_err_last();
		ipc_msg_free(m);
	} else if (m->hdr.flags & IPC_F_ERROR) {
		/* Shape checked by the decoder: i32 exception, i32 code, string message. */
		pc->err = -EREMOTEIO;
		pc->error.err = -EREMOTEIO;
		pc->error.ex = m->fields[0].v.i32;
		pc->error.service_code = m->fields[1].v.i32;
		snprintf(pc->error.msg, sizeof(pc->error.msg), "%s",
			 (const char *)m->data + m->fields[2].v.off);
		ipc_msg_free(m);
	} else {
		pc->reply = m;
	}
	pending_complete(c, pc);
}

static void handle_refs(struct ipc_conn *c, struct ipc_msg *m)
{
	const char *k = ipc_kind_name(m->hdr.kind);
	uint32_t id = m->hdr.object, n = m->fields[0].v.u32;
	struct ipc_export *e = export_find(c, id);
	bool release = m->hdr.kind == IPC_RELEASE;

	ipc_msg_free(m);
	if (!e || e->root) {
		conn_protocol_error(c, "ipc: %s of object %u, which the peer does not hold", k, id);
		return;
	}
	if (release && n > e->count) {
		conn_protocol_error(c,
				    "ipc: RELEASE of %u references to object %u, the peer holds %u",
				    n, id, e->count);
		return;
	}
	if (!release && n > UINT32_MAX - e->count) {
		conn_protocol_error(c, "ipc: ACQUIRE of %u references to object %u overflows", n,
				    id);
		return;
	}
	if (!release) {
		e->count += n;
		return;
	}
	e->count -= n;
	if (e->count == 0)
		export_drop(c, e);
}

static void run_queued(struct ipc_conn *c, struct ipc_msg *m)
{
	if (m->hdr.kind == IPC_ONEWAY)
		run_oneway(c, m);
	else
		handle_refs(c, m);
}

/*
 * ONEWAY, ACQUIRE and RELEASE. Inside a ONEWAY handler of this connection a
 * ONEWAY waits in a FIFO (they never nest, ipc_conn.h); reference changes queue
 * behind waiting ONEWAYs so a RELEASE cannot overtake a ONEWAY sent before it.
 */
static void dispatch_ordered(struct ipc_conn *c, struct ipc_msg *m)
{
	struct ipc_qmsg *q;

	if ((m->hdr.kind == IPC_ONEWAY && c->oneway_depth > 0) || c->q_head) {
		if (c->n_queued >= c->limits.max_queued_oneway) {
			ipc_msg_free(m);
			conn_protocol_error(c,
					    "ipc: more than %u messages queued behind a running "
					    "ONEWAY handler",
					    c->limits.max_queued_oneway);
			return;
		}
		q = malloc(sizeof(*q));
		if (!q) {
			ipc_msg_free(m);
			avf_err_service(-ENOMEM, "ipc: out of memory queueing a message");
			conn_fail(c);
			return;
		}
		q->msg = m;
		q->next = NULL;
		if (c->q_tail)
			c->q_tail->next = q;
		else
			c->q_head = q;
		c->q_tail = q;
		c->n_queued++;
		return;
	}
	run_queued(c, m);
	while (!c->closed && c->oneway_depth == 0 && (q = c->q_head)) {
		c->q_head = q->next;
		if (!c->q_head)
			c->q_tail = NULL;
		c->n_queued--;
		m = q->msg;
		free(q);
		run_queued(c, m);
	}
}

static void conn_handle(struct ipc_conn *c, struct ipc_msg *m)
{
	int r = resolve_refs(c, m);

	switch (m->hdr.kind) {
	case IPC_CALL:
		if (r < 0) {
			send_error_reply(c, m->hdr.call_id, r);
			ipc_msg_free(m);
			return;
		}
		dispatch_call(c, m);
		return;
	case IPC_ONEWAY:
		if (r < 0) {
			ipc_msg_free(m);
			return;
		}
		dispatch_ordered(c, m);
		return;
	case IPC_REPLY: handle_reply(c, m, r); return;
	default: /* ACQUIRE, RELEASE carry no objects */ dispatch_ordered(c, m); return;
	}
}

static void close_fds(const int *fds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		close(fds[i]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * A packet the decoder refused: answer it if it is a CALL whose id we can read,
 * else drop the connection (the slot holds the decoder's message).
 */
static void conn_reject(struct ipc_conn *c, size_t len)
{
	const uint8_t *p = c->rbuf;
	uint32_t call_id;

	if (len >= IPC_HDR_SIZE && rd32(p) == IPC_MAGIC && (p[8] | p[9] << 8) == IPC_CALL) {
		call_id = rd32(p + 20);
		if (call_id) {
			send_error_reply(c, call_id, avf_err_last()->err);
			return;
		}
	}
	conn_fail(c);
}

/* 1: handled a packet, 0: nothing to read, -1: the connection closed. */
static int conn_read_one(struct ipc_conn *c)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * RECV_MAX_FDS)];
		struct cmsghdr align;
	} cb;
	struct iovec iov = {.iov_base = c->rbuf, .iov_len = sizeof(c->rbuf)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.b, .msg_controllen = sizeof(cb.b)};
	int fds[RECV_MAX_FDS];
	size_t nfds = 0, k, i;
	struct cmsghdr *cm;
	struct ipc_msg *m;
	ssize_t n;

	do
		n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		/* ECONNRESET: the peer closed with our packets unread. An EOF all the same
		 * (see conn_break): a clean close must not depend on timing. */
		if (errno == ECONNRESET && !c->broken) {
			memset(&c->why, 0, sizeof(c->why));
			snprintf(c->why.msg, sizeof(c->why.msg), "ipc: peer closed the connection");
			conn_close(c);
			return -1;
		}
		avf_err_set(-errno, AVF_EX_TRANSACTION_FAILED, "ipc: recvmsg: %s", strerror(errno));
		conn_fail(c);
		return -1;
	}
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k && nfds < RECV_MAX_FDS; i++)
			memcpy(&fds[nfds++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		close_fds(fds, nfds);
		avf_err_set(-EMSGSIZE, AVF_EX_TRANSACTION_FAILED,
			    "ipc: packet truncated (over %u bytes, or too many fds)", IPC_MSG_MAX);
		conn_fail(c);
		return -1;
	}
	if (n == 0 && nfds == 0) {
		if (!c->broken) {
			memset(&c->why, 0, sizeof(c->why));
			snprintf(c->why.msg, sizeof(c->why.msg), "ipc: peer closed the connection");
		}
		conn_close(c);
		return -1;
	}
	if (ipc_msg_decode(c->rbuf, (size_t)n, fds, nfds, &m) < 0) {
		close_fds(fds, nfds);
		conn_reject(c, (size_t)n);
		return c->closed ? -1 : 1;
	}
	conn_handle(c, m);
	return 1;
}

static void conn_io(struct loop_source *src, int fd, uint32_t revents, void *data)
{
	struct ipc_conn *c = data;
	int i;

	conn_hold(c);
	if ((revents & EPOLLOUT) && conn_usable(c))
		conn_flush(c);
	for (i = 0; i < READ_BURST && conn_usable(c); i++)
		if (conn_read_one(c) <= 0)
			break;
	if (c->broken)
		conn_close(c);
	conn_release(c);
}

/* ---- close ---- */

static void conn_close(struct ipc_conn *c)
{
	struct ipc_pending *pc, *next;
	struct ipc_outpkt *o;
	struct ipc_qmsg *q;

	if (c->closed)
		return;
	c->closed = true;
	conn_hold(c);
	c->src = loop_source_free(c->src);
	close(c->fd);
	c->fd = -1;
	while ((o = c->out_head)) {
		c->out_head = o->next;
		outpkt_free(o);
	}
	c->out_tail = NULL;
	c->out_bytes = 0;
	while ((q = c->q_head)) {
		c->q_head = q->next;
		ipc_msg_free(q->msg);
		free(q);
	}
	c->q_tail = NULL;
	c->n_queued = 0;
	/* Every reference the peer held goes, in export order (root first). */
	while (c->exp_head)
		export_drop(c, c->exp_head);
	pc = c->pending;
	c->pending = NULL;
	c->n_pending = 0;
	for (; pc; pc = next) {
		next = pc->next;
		pc->err = -EPIPE;
		memset(&pc->error, 0, sizeof(pc->error));
		pc->error.err = -EPIPE;
		pc->error.ex = AVF_EX_TRANSACTION_FAILED;
		snprintf(pc->error.msg, sizeof(pc->error.msg),
			 "ipc: connection closed before the reply (%s)", c->why.msg);
		pending_complete(c, pc);
	}
	if (!c->freed && c->ops && c->ops->on_close)
		c->ops->on_close(c, &c->why, c->data);
	conn_release(c);
}

/* ---- connection ---- */

int ipc_conn_new(struct loop *l, int fd, struct ipc_object *root, const struct ipc_conn_ops *ops,
		 void *data, struct ipc_conn **ret)
{
	struct ipc_conn *c;
	struct ipc_export *e;
	socklen_t len = sizeof(int);
	int type, fl, r;

	if (!l || fd < 0 || !ret)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "ipc_conn_new: invalid argument");
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return avf_err_set(-errno, AVF_EX_ILLEGAL_ARGUMENT, "ipc: fd %d: %s", fd,
				   strerror(errno));
	if (type != SOCK_SEQPACKET)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "ipc: fd %d is not a SOCK_SEQPACKET socket (type %d)", fd, type);
	c = calloc(1, sizeof(*c));
	if (!c)
		return avf_err_service(-ENOMEM, "ipc: out of memory for a connection");
	c->loop = l;
	c->fd = fd;
	c->ops = ops;
	c->data = data;
	c->limits = ipc_conn_default_limits;
	c->next_id = 1;
	c->next_call = 1;
	if (root) {
		r = export_new(c, root, true, &e);
		if (r < 0)
			goto fail;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		r = avf_err_service(-errno, "ipc: fcntl(fd %d): %s", fd, strerror(errno));
		goto fail;
	}
	r = loop_add_fd(l, fd, EPOLLIN, conn_io, c, &c->src);
	if (r < 0)
		goto fail;
	*ret = c;
	return 0;
fail:
	/* The root export never reached the peer: no on_release. */
	while (c->exp_head)
		ipc_object_unref(export_unlink(c, c->exp_head));
	free(c->exports.b);
	free(c);
	return r;
}

struct ipc_conn *ipc_conn_free(struct ipc_conn *c)
{
	if (!c)
		return NULL;
	assert(!c->freed);
	if (c->freed)
		return NULL;
	c->freed = true;
	conn_hold(c);
	if (!c->closed) {
		memset(&c->why, 0, sizeof(c->why));
		snprintf(c->why.msg, sizeof(c->why.msg), "ipc: connection freed");
		conn_close(c);
	}
	conn_release(c);
	return NULL;
}

void ipc_conn_abort(struct ipc_conn *c, int err, const char *why)
{
	if (c && !c->freed)
		conn_break(c, err, "%s", why);
}

void ipc_conn_set_limits(struct ipc_conn *c, const struct ipc_conn_limits *limits)
{
	c->limits = *limits;
}

const struct avf_error *ipc_conn_why(const struct ipc_conn *c)
{
	return conn_usable(c) ? NULL : &c->why;
}

bool ipc_conn_is_open(const struct ipc_conn *c)
{
	return conn_usable(c);
}

int ipc_conn_fd(const struct ipc_conn *c)
{
	return c->fd;
}

void *ipc_conn_data(const struct ipc_conn *c)
{
	return c->data;
}

struct loop *ipc_conn_loop(const struct ipc_conn *c)
{
	return c->loop;
}

void ipc_conn_stats(const struct ipc_conn *c, struct ipc_conn_stats *ret)
{
	ret->exports = (unsigned)c->exports.n;
	ret->proxies = (unsigned)c->proxies.n;
	ret->pending = c->n_pending;
	ret->queued_oneway = c->n_queued;
	ret->outq_bytes = c->out_bytes;
}

/* ---- calls ---- */

/* Common start of every outgoing call: checks, a pending entry (unless oneway), send. */
static int call_start(struct ipc_proxy *p, uint16_t kind, uint32_t method, struct ipc_msg *req,
		      struct ipc_pending **ret_pc)
{
	struct ipc_conn *c = p ? p->conn : NULL;
	struct ipc_hdr hdr = {.kind = kind, .method = method};
	struct ipc_pending *pc = NULL;
	struct ipc_msg *empty = NULL;
	int r;

	if (!p)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "ipc: call on a NULL proxy");
	if (!c)
		return avf_err_set(-EPIPE, AVF_EX_TRANSACTION_FAILED,
				   "ipc: the connection of remote object %u was freed",
				   p->node.key);
	if (!conn_usable(c))
		return err_closed(c);
	if (kind == IPC_CALL && c->n_pending >= c->limits.max_pending)
		return avf_err_set(-EBUSY, AVF_EX_TRANSACTION_FAILED,
				   "ipc: %u calls already pending on this connection (limit %u)",
				   c->n_pending, c->limits.max_pending);
	if (!req) {
		r = ipc_msg_new(&empty);
		if (r < 0)
			return r;
		req = empty;
	}
	if (kind == IPC_CALL) {
		pc = calloc(1, sizeof(*pc));
		if (!pc) {
			r = avf_err_service(-ENOMEM, "ipc: out of memory for a call");
			goto out;
		}
		/* Timed-out calls stay pending: never reuse their ids. */
		do
			pc->call_id = c->next_call++;
		while (pc->call_id == 0 || pending_has(c, pc->call_id));
		hdr.call_id = pc->call_id;
	}
	hdr.object = p->node.key;
	r = conn_send(c, &hdr, req);
	if (r < 0)
		goto out;
	if (pc) {
		pc->next = c->pending;
		c->pending = pc;
		c->n_pending++;
		*ret_pc = pc;
		pc = NULL;
	}
out:
	free(pc);
	ipc_msg_free(empty);
	return r;
}

int ipc_call(struct ipc_proxy *p, uint32_t method, struct ipc_msg *req, uint64_t timeout_ns,
	     struct ipc_msg **ret_reply)
{
	struct ipc_pending *pc;
	struct ipc_conn *c;
	uint64_t now, deadline;
	int r, ms;

	r = call_start(p, IPC_CALL, method, req, &pc);
	if (r < 0)
		return r;
	pc->sync = true;
	c = p->conn;
	conn_hold(c);
	now = now_ns();
	deadline = timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
	while (!pc->done) {
		if (now >= deadline) {
			/* Still linked: the connection frees it when the reply or the close comes.
			 */
			pc->abandoned = true;
			r = avf_err_set(-ETIMEDOUT, AVF_EX_TRANSACTION_FAILED,
					"ipc: no reply to method %u of object %u within %llu ms",
					method, p->node.key,
					(unsigned long long)(timeout_ns / LOOP_NSEC_PER_MSEC));
			goto out;
		}
		ms = deadline - now >= (uint64_t)INT_MAX * LOOP_NSEC_PER_MSEC
			 ? INT_MAX
			 : (int)((deadline - now + LOOP_NSEC_PER_MSEC - 1) / LOOP_NSEC_PER_MSEC);
		r = loop_run_once(c->loop, ms);
		if (r < 0 && !pc->done) {
			pc->abandoned = true;
			goto out;
		}
		now = now_ns();
	}
	r = pc->err;
	if (r < 0)
		avf_err_restore(&pc->error);
	else if (ret_reply)
		*ret_reply = pc->reply;
	else
		ipc_msg_free(pc->reply);
	free(pc);
out:
	conn_release(c);
	return r;
}

int ipc_call_async(struct ipc_proxy *p, uint32_t method, struct ipc_msg *req, ipc_reply_fn fn,
		   void *data)
{
	struct ipc_pending *pc;
	int r;

	if (!fn)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "ipc_call_async: a completion function is required");
	r = call_start(p, IPC_CALL, method, req, &pc);
	if (r < 0)
		return r;
	pc->fn = fn;
	pc->data = data;
	return 0;
}

int ipc_oneway(struct ipc_proxy *p, uint32_t method, struct ipc_msg *req)
{
	return call_start(p, IPC_ONEWAY, method, req, NULL);
}
