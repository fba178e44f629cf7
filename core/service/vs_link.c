/* SPDX-License-Identifier: Apache-2.0 */
#include "service/vs_link.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "ipc/ipc_conn.h"

#define ACTOR "virtmgr"

/* One CID the link holds for a VM of this virtmgr. */
struct link_entry {
	struct link_entry *prev, *next;
	uint64_t serial; /* never reused: async claim replies find their entry by it */
	uint32_t cid;
	char *name;
	enum avf_vm_state state; /* last state vmgr reported */
	struct ipc_proxy *ctx;   /* IGlobalVmContext on the current connection, or NULL */
	bool claiming;           /* a CLAIM is in flight on the current connection */
};

struct vs_link {
	struct vs_link_params p;
	char *path;
	struct ipc_conn *conn;  /* NULL, or a connection (maybe closed, until the next need) */
	struct ipc_proxy *root; /* IVirtualizationServiceInternal on @conn */
	uint64_t epoch;         /* bumped by every new connection */
	struct link_entry *head, *tail;
	size_t n;
	uint64_t next_serial;
	bool close_traced; /* the current connection's end is in the trace */
};

/* A CLAIM in flight: the completion looks its entry up (it may have gone). */
struct claim_req {
	struct vs_link *link;
	uint64_t serial;
	uint64_t epoch;
};

int vs_link_new(const struct vs_link_params *p, struct vs_link **ret)
{
	struct vs_link *link;

	if (!p || !p->loop || !p->socket_path || !*p->socket_path)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "vs_link needs a loop and a socket path");
	link = calloc(1, sizeof(*link));
	if (!link || !(link->path = strdup(p->socket_path))) {
		free(link);
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	}
	link->p = *p;
	link->p.socket_path = link->path;
	if (!link->p.timeout_ns)
		link->p.timeout_ns = VS_LINK_TIMEOUT_NS;
	link->next_serial = 1;
	*ret = link;
	return 0;
}

static void entry_free(struct link_entry *e)
{
	ipc_proxy_unref(e->ctx);
	free(e->name);
	free(e);
}

struct vs_link *vs_link_free(struct vs_link *link)
{
	struct link_entry *e;

	if (!link)
		return NULL;
	/* First: pending claims complete (with -EPIPE) while the entries still exist. */
	link->conn = ipc_conn_free(link->conn);
	link->root = ipc_proxy_unref(link->root);
	while ((e = link->head)) {
		link->head = e->next;
		entry_free(e);
	}
	free(link->path);
	free(link);
	return NULL;
}

size_t vs_link_cid_count(const struct vs_link *link)
{
	return link->n;
}

bool vs_link_connected(const struct vs_link *link)
{
	return link->conn && ipc_conn_is_open(link->conn);
}

static struct link_entry *entry_by_cid(const struct vs_link *link, uint32_t cid)
{
	struct link_entry *e;

	for (e = link->head; e; e = e->next)
		if (e->cid == cid)
			return e;
	return NULL;
}

static struct link_entry *entry_by_serial(const struct vs_link *link, uint64_t serial)
{
	struct link_entry *e;

	for (e = link->head; e; e = e->next)
		if (e->serial == serial)
			return e;
	return NULL;
}

/* ---- connection ---- */

/* The connection's end, traced once whoever notices it first: the loop (on_close)
 * or the next need finding it broken (link_reset frees it without on_close). */
static void trace_closed(struct vs_link *link, const struct avf_error *why)
{
	if (link->close_traced)
		return;
	link->close_traced = true;
	trace_emitf(link->p.trace, ACTOR,
		    "virtualizationservice connection closed (%s); "
		    "%zu CIDs kept",
		    why && why->msg[0] ? why->msg : "EOF", link->n);
}

static void on_close(struct ipc_conn *conn, const struct avf_error *why, void *data)
{
	/* Nothing is freed here (we may be inside a wait on it): the next need resets. */
	trace_closed(data, why);
}

static const struct ipc_conn_ops link_conn_ops = {
    .on_close = on_close,
};

/* Forget a closed connection and every proxy on it; the entries stay, unclaimed. */
static void link_reset(struct vs_link *link)
{
	struct link_entry *e;

	if (link->conn && !ipc_conn_is_open(link->conn))
		trace_closed(link, ipc_conn_why(link->conn));
	link->root = ipc_proxy_unref(link->root);
	for (e = link->head; e; e = e->next) {
		e->ctx = ipc_proxy_unref(e->ctx);
		e->claiming = false;
	}
	/* Its pending claims complete here, with -EPIPE, for the old epoch. */
	link->conn = ipc_conn_free(link->conn);
}

static int link_connect(struct vs_link *link)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct ipc_conn_limits limits = ipc_conn_default_limits;
	struct ipc_conn *conn = NULL;
	int fd, r;

	if (strlen(link->path) >= sizeof(sa.sun_path))
		return avf_err_set(-ENAMETOOLONG, AVF_EX_ILLEGAL_STATE,
				   "virtualizationservice is not available at %s: %s", link->path,
				   strerror(ENAMETOOLONG));
	memcpy(sa.sun_path, link->path, strlen(link->path) + 1);
	/* Non-blocking: a full backlog is an error now, not a hang. */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return avf_err_set(-errno, AVF_EX_ILLEGAL_STATE,
				   "virtualizationservice is not available at %s: %s", link->path,
				   strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = avf_err_set(-errno, AVF_EX_ILLEGAL_STATE,
				"virtualizationservice is not available at %s: %s", link->path,
				strerror(errno));
		close(fd);
		return r;
	}
	r = ipc_conn_new(link->p.loop, fd, NULL, &link_conn_ops, link, &conn);
	if (r < 0) {
		close(fd);
		return avf_err_prefix("virtualizationservice at %s", link->path);
	}
	/* One proxy and (after a restart) one pending claim per CID: room for every CID. */
	limits.max_proxies = AVF_GUEST_CID_MAX - AVF_GUEST_CID_MIN + 64;
	limits.max_pending = AVF_GUEST_CID_MAX - AVF_GUEST_CID_MIN + 64;
	ipc_conn_set_limits(conn, &limits);
	r = ipc_conn_root(conn, &link->root);
	if (r < 0) {
		ipc_conn_free(conn);
		return r;
	}
	link->conn = conn;
	link->close_traced = false;
	link->epoch++;
	trace_emitf(link->p.trace, ACTOR, "connected to virtualizationservice at %s", link->path);
	return 0;
}

static void send_state(struct vs_link *link, struct link_entry *e)
{
	struct ipc_msg *m = NULL;
	int r;

	r = ipc_msg_new(&m);
	if (r == 0)
		r = ipc_msg_put_i32(m, (int32_t)e->state);
	/* ONEWAY: never waits, so it is safe inside vmgr's state change. */
	if (r == 0)
		r = ipc_oneway(e->ctx, PROTO_CTX_SET_STATE, m);
	if (r < 0 && r != -EPIPE)
		trace_emitf(link->p.trace, ACTOR, "setState(cid %u) not sent: %s", e->cid,
			    avf_err_last()->msg);
	ipc_msg_free(m);
}

static void claim_done(struct ipc_conn *conn, int err, struct ipc_msg *reply, void *data)
{
	struct claim_req *req = data;
	struct vs_link *link = req->link;
	struct link_entry *e = entry_by_serial(link, req->serial);
	struct ipc_proxy *ctx = NULL;

	/* Released meanwhile, or an older connection's: the reply (and any context in it,
	 * which RELEASE returns) goes away with the message. */
	if (!e || req->epoch != link->epoch)
		goto out;
	e->claiming = false;
	if (err == 0 && (err = ipc_msg_get_proxy(reply, &ctx)) == 0)
		err = ipc_msg_get_end(reply);
	if (err < 0) {
		if (err != -EPIPE)
			trace_emitf(link->p.trace, ACTOR, "re-claiming cid %u failed: %s", e->cid,
				    avf_err_last()->msg);
		ipc_proxy_unref(ctx);
		goto out;
	}
	e->ctx = ctx;
	trace_emitf(link->p.trace, ACTOR, "cid %u re-claimed", e->cid);
	/* The new instance knows the VM from now on (as NOT_STARTED): give it our state. */
	if (e->state != AVF_VM_STATE_NOT_STARTED)
		send_state(link, e);
out:
	free(req);
}

/* Send CLAIM for every held CID that has no context on this connection. No waiting. */
static void claim_all(struct vs_link *link)
{
	struct link_entry *e;
	struct claim_req *req;
	struct ipc_msg *m;
	int r;

	for (e = link->head; e; e = e->next) {
		if (e->ctx || e->claiming)
			continue;
		m = NULL;
		req = malloc(sizeof(*req));
		r = req ? ipc_msg_new(&m)
			: avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
		if (r == 0 && (r = ipc_msg_put_i32(m, (int32_t)e->cid)) == 0 &&
		    (r = ipc_msg_put_string(m, e->name)) == 0)
			r = ipc_msg_put_i32(m, (int32_t)link->p.requester_pid);
		if (r == 0) {
			*req = (struct claim_req){
			    .link = link, .serial = e->serial, .epoch = link->epoch};
			r = ipc_call_async(link->root, PROTO_VSI_CLAIM_GLOBAL_VM_CONTEXT, m,
					   claim_done, req);
		}
		ipc_msg_free(m);
		if (r < 0) {
			/* Tried again at the next need. */
			trace_emitf(link->p.trace, ACTOR, "re-claiming cid %u not sent: %s", e->cid,
				    avf_err_last()->msg);
			free(req);
			continue;
		}
		e->claiming = true;
	}
}

/* Connected, with every held CID claimed (or its claim on the wire). */
static int link_ready(struct vs_link *link)
{
	int r;

	if (link->conn && !ipc_conn_is_open(link->conn))
		link_reset(link);
	if (!link->conn) {
		r = link_connect(link);
		if (r < 0)
			return r;
	}
	claim_all(link);
	return 0;
}

/* ipc_call with our own reference on @p: a nested reset may drop the link's. */
static int link_call(struct vs_link *link, struct ipc_proxy *p, uint32_t method,
		     struct ipc_msg *req, struct ipc_msg **ret_reply)
{
	int r;

	p = ipc_proxy_ref(p);
	r = ipc_call(p, method, req, link->p.timeout_ns, ret_reply);
	ipc_proxy_unref(p);
	return r;
}

/* ---- the context provider ---- */

static int allocate_once(struct vs_link *link, const char *name, struct ipc_proxy **ret_ctx,
			 uint32_t *ret_cid, char **ret_temp_dir)
{
	struct ipc_msg *req = NULL, *reply = NULL;
	struct ipc_proxy *ctx = NULL;
	const char *dir;
	char *temp_dir = NULL;
	int32_t cid;
	int r;

	r = ipc_msg_new(&req);
	if (r == 0 && (r = ipc_msg_put_string(req, name ? name : "")) == 0)
		r = ipc_msg_put_i32(req, (int32_t)link->p.requester_pid);
	if (r < 0)
		goto out;
	r = link_call(link, link->root, PROTO_VSI_ALLOCATE_GLOBAL_VM_CONTEXT, req, &reply);
	if (r < 0)
		goto call_failed;
	if ((r = ipc_msg_get_proxy(reply, &ctx)) < 0 || (r = ipc_msg_get_end(reply)) < 0)
		goto bad_reply;
	reply = ipc_msg_free(reply);
	r = link_call(link, ctx, PROTO_CTX_GET_CID, NULL, &reply);
	if (r < 0)
		goto call_failed;
	if ((r = ipc_msg_get_i32(reply, &cid)) < 0 || (r = ipc_msg_get_end(reply)) < 0)
		goto bad_reply;
	reply = ipc_msg_free(reply);
	r = link_call(link, ctx, PROTO_CTX_GET_TEMPORARY_DIRECTORY, NULL, &reply);
	if (r < 0)
		goto call_failed;
	if ((r = ipc_msg_get_string(reply, &dir)) < 0 || (r = ipc_msg_get_end(reply)) < 0)
		goto bad_reply;
	if (*dir && !(temp_dir = strdup(dir))) {
		r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
		goto out;
	}
	if (cid <= 2 || entry_by_cid(link, (uint32_t)cid)) {
		r = avf_err_set(-EPROTO, AVF_EX_ILLEGAL_STATE,
				"virtualizationservice granted CID %d, which is %s", cid,
				cid <= 2 ? "not a guest CID" : "already ours");
		goto out;
	}
	*ret_ctx = ctx;
	*ret_cid = (uint32_t)cid;
	*ret_temp_dir = temp_dir;
	ctx = NULL;
	temp_dir = NULL;
	goto out;
call_failed:
	/* The service's own error (e.g. no free CID) goes to the client as it is. */
	if (r != -EREMOTEIO)
		avf_err_prefix("allocateGlobalVmContext");
	goto out;
bad_reply:
	avf_err_prefix("allocateGlobalVmContext: bad reply from virtualizationservice");
out:
	ipc_proxy_unref(ctx);
	ipc_msg_free(req);
	ipc_msg_free(reply);
	free(temp_dir);
	return r;
}

static int link_acquire(void *data, const char *name, uint32_t *ret_cid, char **ret_temp_dir)
{
	struct vs_link *link = data;
	struct link_entry *e = NULL;
	struct ipc_proxy *ctx = NULL;
	char *temp_dir = NULL;
	uint32_t cid = 0;
	int r, attempt;

	/* Allocation failures are retried once when the connection died under us: the
	 * service may have restarted before we noticed. */
	for (attempt = 0; attempt < 2; attempt++) {
		r = link_ready(link);
		if (r < 0)
			break;
		r = allocate_once(link, name, &ctx, &cid, &temp_dir);
		if (r != -EPIPE)
			break;
	}
	/* A nested need may have replaced the connection after our context was granted
	 * on the old one: that context is dead; the CID is claimed on the new one. */
	if (r == 0 && (ipc_proxy_conn(ctx) != link->conn || !vs_link_connected(link)))
		ctx = ipc_proxy_unref(ctx);
	if (r == 0) {
		e = calloc(1, sizeof(*e));
		if (!e || !(e->name = strdup(name ? name : ""))) {
			free(e);
			e = NULL;
			r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
		}
	}
	if (r < 0) {
		trace_emitf(link->p.trace, ACTOR, "allocateGlobalVmContext failed: %s",
			    avf_err_last()->msg);
		ipc_proxy_unref(ctx);
		free(temp_dir);
		return r;
	}
	e->serial = link->next_serial++;
	e->cid = cid;
	e->state = AVF_VM_STATE_NOT_STARTED;
	e->ctx = ctx;
	e->prev = link->tail;
	if (link->tail)
		link->tail->next = e;
	else
		link->head = e;
	link->tail = e;
	link->n++;
	trace_emitf(link->p.trace, ACTOR, "cid %u granted by virtualizationservice", cid);
	if (!e->ctx && vs_link_connected(link))
		claim_all(link);
	*ret_cid = cid;
	*ret_temp_dir = temp_dir;
	return 0;
}

static void link_release(void *data, uint32_t cid)
{
	struct vs_link *link = data;
	struct link_entry *e = entry_by_cid(link, cid);

	if (!e) {
		trace_emitf(link->p.trace, ACTOR, "release of cid %u, which the link does not hold",
			    cid);
		return;
	}
	if (e->prev)
		e->prev->next = e->next;
	else
		link->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		link->tail = e->prev;
	link->n--;
	/* Dropping the proxy sends RELEASE (when connected): the service frees the CID. */
	entry_free(e);
	trace_emitf(link->p.trace, ACTOR, "cid %u released", cid);
}

static void link_set_state(void *data, uint32_t cid, enum avf_vm_state state)
{
	struct vs_link *link = data;
	struct link_entry *e = entry_by_cid(link, cid);

	if (!e)
		return;
	e->state = state;
	/* Disconnected or claim in flight: sent after the claim (claim_done). */
	if (e->ctx && vs_link_connected(link))
		send_state(link, e);
}

const struct vmgr_context_ops vs_link_context_ops = {
    .acquire = link_acquire,
    .release = link_release,
    .set_state = link_set_state,
};

/* ---- debugListVms ---- */

static int debug_list_once(struct vs_link *link, struct vs_link_vm_list *ret)
{
	struct ipc_msg *reply = NULL;
	struct proto_debug_row *rows = NULL;
	uint32_t n = 0, i;
	int r;

	r = link_call(link, link->root, PROTO_VSI_DEBUG_LIST_VMS, NULL, &reply);
	if (r < 0) {
		if (r != -EREMOTEIO)
			avf_err_prefix("debugListVms");
		return r;
	}
	r = ipc_msg_get_u32(reply, &n);
	if (r == 0 && n > PROTO_DEBUG_ROWS_MAX)
		r = avf_err_set(-EBADMSG, AVF_EX_BAD_PARCELABLE, "%u rows (limit %u)", n,
				PROTO_DEBUG_ROWS_MAX);
	if (r == 0 && n && !(rows = calloc(n, sizeof(*rows))))
		r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	for (i = 0; r == 0 && i < n; i++)
		r = proto_get_debug_row(reply, &rows[i]);
	if (r == 0)
		r = ipc_msg_get_end(reply);
	if (r < 0) {
		avf_err_prefix("debugListVms: bad reply from virtualizationservice");
		free(rows);
		ipc_msg_free(reply);
		return r;
	}
	*ret = (struct vs_link_vm_list){.n = n, .rows = rows, .reply = reply};
	return 0;
}

int vs_link_debug_list(struct vs_link *link, struct vs_link_vm_list *ret)
{
	int r, attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		r = link_ready(link);
		if (r < 0)
			return r;
		r = debug_list_once(link, ret);
		if (r != -EPIPE)
			break;
	}
	return r;
}

void vs_link_vm_list_clear(struct vs_link_vm_list *list)
{
	free(list->rows);
	ipc_msg_free(list->reply);
	*list = (struct vs_link_vm_list){0};
}
