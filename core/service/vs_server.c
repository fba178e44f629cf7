/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vs_server: IVirtualizationServiceInternal and IGlobalVmContext over core/ipc, and
 * the listening socket (see vs_server.h for the contract).
 *
 * Lifetimes. The root object is shared by every connection (its data is the
 * server; the connection's data says which holder calls). A context object is
 * referenced only by its export on the holder's connection and, briefly, by the
 * reply that carries it; so it is destroyed at the latest when the connection
 * is, and connections never outlive the server.
 */
#include "service/vs_server.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "base/fs_util.h"
#include "ipc/ipc_conn.h"
#include "proto/avf_proto.h"

#define LISTEN_BACKLOG 128
/* Connections accepted per wake-up, so a flood of connects cannot starve the others. */
#define ACCEPT_BURST 64
/* Out of fds, accept() fails while the socket stays readable: pause instead of spinning. */
#define ACCEPT_PAUSE_NS (100 * LOOP_NSEC_PER_MSEC)

struct vs_conn {
	struct vs_server *srv;
	struct ipc_conn *ipc;
	uint64_t holder;
	pid_t pid;
	uid_t uid;
	struct vs_conn *prev, *next;
};

/* One IGlobalVmContext. */
struct vs_ctx_obj {
	struct vs_server *srv;
	uint64_t holder;
	uint32_t cid;
	char *temp_dir; /* a copy: "" when the registry has no state dir */
	bool held;      /* the registry context is still ours to release */
};

struct vs_server {
	struct loop *loop;
	struct vs_registry *reg;
	const struct trace *tr;
	struct ipc_object *root;
	struct vs_conn *conns;
	unsigned nconns;
	uint64_t next_holder;

	int listen_fd;
	struct loop_source *listen_src;
	struct loop_source *pause_timer;
	char *path;
	bool own_path; /* path names the socket we bound (dev/ino below) */
	dev_t dev;
	ino_t ino;
};

/* ---- IGlobalVmContext ---- */

static void ctx_release(struct vs_ctx_obj *o)
{
	if (!o->held)
		return;
	o->held = false;
	vs_registry_release(o->srv->reg, o->holder, o->cid);
}

static int ctx_dispatch(struct ipc_object *obj, struct ipc_conn *conn, uint32_t method,
			struct ipc_msg *req, struct ipc_msg *reply)
{
	struct vs_ctx_obj *o = ipc_object_data(obj);
	int32_t state;
	int r;

	switch (method) {
	case PROTO_CTX_GET_CID:
		if ((r = ipc_msg_get_end(req)) < 0)
			return r;
		return ipc_msg_put_i32(reply, (int32_t)o->cid);
	case PROTO_CTX_GET_TEMPORARY_DIRECTORY:
		if ((r = ipc_msg_get_end(req)) < 0)
			return r;
		return ipc_msg_put_string(reply, o->temp_dir);
	case PROTO_CTX_SET_STATE:
		if ((r = ipc_msg_get_i32(req, &state)) < 0 || (r = ipc_msg_get_end(req)) < 0)
			return r;
		/* Only AVF's VirtualMachineState values: debugListVms shows them as they are. */
		if (state < AVF_VM_STATE_NOT_STARTED || state > AVF_VM_STATE_DEAD || state == 5)
			return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
					   "invalid VM state %" PRId32, state);
		return vs_registry_set_state(o->srv->reg, o->holder, o->cid,
					     (enum avf_vm_state)state);
	}
	return ipc_unknown_method(obj, method);
}

/* The holder dropped its last reference (RELEASE or close): the CID is free again. */
static void ctx_on_release(struct ipc_object *obj, struct ipc_conn *conn)
{
	ctx_release(ipc_object_data(obj));
}

static void ctx_destroy(void *data)
{
	struct vs_ctx_obj *o = data;
	struct avf_error saved = *avf_err_last();

	/*
	 * An object that never reached its holder (reply not sendable, or the call was
	 * ONEWAY) gets no on_release: release here. This can run while an error reply
	 * is being built, so the slot is kept.
	 */
	ctx_release(o);
	avf_err_restore(&saved);
	free(o->temp_dir);
	free(o);
}

static const struct ipc_object_ops ctx_ops = {
    .name = PROTO_NAME_CTX,
    .dispatch = ctx_dispatch,
    .on_release = ctx_on_release,
    .destroy = ctx_destroy,
};

/* Put a new IGlobalVmContext for @cid (just granted to @vc) into @reply. */
static int reply_context(struct vs_conn *vc, uint32_t cid, const char *temp_dir,
			 struct ipc_msg *reply)
{
	struct vs_ctx_obj *o = calloc(1, sizeof(*o));
	struct ipc_object *obj;
	struct avf_error saved;
	int r;

	if (!o || !(o->temp_dir = strdup(temp_dir ? temp_dir : ""))) {
		free(o);
		r = avf_err_service(-ENOMEM, "out of memory for a VM context");
		goto undo;
	}
	o->srv = vc->srv;
	o->holder = vc->holder;
	o->cid = cid;
	o->held = true;
	r = ipc_object_new(&ctx_ops, o, &obj);
	if (r < 0) {
		free(o->temp_dir);
		free(o);
		goto undo;
	}
	/* From here the object owns the context: dropping it (on failure too) releases it. */
	r = ipc_msg_put_object(reply, obj);
	ipc_object_unref(obj);
	return r;
undo:
	saved = *avf_err_last();
	vs_registry_release(vc->srv->reg, vc->holder, cid);
	return avf_err_restore(&saved);
}

/* ---- IVirtualizationServiceInternal ---- */

/* The recorded error, message kept, re-classified as EX_ILLEGAL_STATE. */
static int as_illegal_state(void)
{
	struct avf_error e = *avf_err_last();

	e.ex = AVF_EX_ILLEGAL_STATE;
	e.service_code = 0;
	return avf_err_restore(&e);
}

static int vsi_allocate(struct vs_conn *vc, struct ipc_msg *req, struct ipc_msg *reply)
{
	const char *name, *temp_dir = NULL;
	int32_t pid;
	uint32_t cid;
	int r;

	if ((r = ipc_msg_get_string(req, &name)) < 0 || (r = ipc_msg_get_i32(req, &pid)) < 0 ||
	    (r = ipc_msg_get_end(req)) < 0)
		return r;
	r = vs_registry_allocate(vc->srv->reg, vc->holder, vc->uid, (pid_t)pid, name, &cid,
				 &temp_dir);
	/* AVF maps every failure of allocateGlobalVmContext to EX_ILLEGAL_STATE (avf-spec 2.8). */
	if (r < 0 || (r = reply_context(vc, cid, temp_dir, reply)) < 0)
		return as_illegal_state();
	return 0;
}

static int vsi_claim(struct vs_conn *vc, struct ipc_msg *req, struct ipc_msg *reply)
{
	const char *name, *temp_dir = NULL;
	int32_t cid, pid;
	int r;

	if ((r = ipc_msg_get_i32(req, &cid)) < 0 || (r = ipc_msg_get_string(req, &name)) < 0 ||
	    (r = ipc_msg_get_i32(req, &pid)) < 0 || (r = ipc_msg_get_end(req)) < 0)
		return r;
	/* Said here: as a u32 the registry would print 4294967295 for -1. */
	if (cid < 0)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "CID %" PRId32 " is not a guest CID", cid);
	r = vs_registry_claim(vc->srv->reg, vc->holder, vc->uid, (pid_t)pid, name, (uint32_t)cid,
			      &temp_dir);
	if (r < 0)
		return r;
	return reply_context(vc, (uint32_t)cid, temp_dir, reply);
}

static int vsi_list(struct vs_conn *vc, struct ipc_msg *req, struct ipc_msg *reply)
{
	struct vs_registry *reg = vc->srv->reg;
	size_t n = vs_registry_count(reg), i;
	struct vs_vm_row *rows;
	int r;

	if ((r = ipc_msg_get_end(req)) < 0)
		return r;
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows)
		return avf_err_service(-ENOMEM, "out of memory listing %zu VMs", n);
	vs_registry_list(reg, rows, n);
	r = ipc_msg_put_u32(reply, (uint32_t)n);
	for (i = 0; i < n && r == 0; i++)
		r = proto_put_debug_row(reply, &(struct proto_debug_row){
						   .cid = (int32_t)rows[i].cid,
						   .state = rows[i].state,
						   .requester_uid = (int32_t)rows[i].requester_uid,
						   .requester_pid = rows[i].requester_pid,
						   .name = rows[i].name,
						   .temp_dir = rows[i].temp_dir,
					       });
	free(rows);
	/*
	 * One reply is bounded (IPC_MSG_MAX_FIELDS fields, 6 per row; IPC_MSG_MAX bytes):
	 * about 680 VMs at most. The builder says "illegal argument", but the caller
	 * passed none: it is the service's state that cannot be answered.
	 */
	if (r == -E2BIG) {
		avf_err_prefix("debugListVms: %zu VMs do not fit in a reply", n);
		return as_illegal_state();
	}
	return r;
}

static int vsi_dispatch(struct ipc_object *obj, struct ipc_conn *conn, uint32_t method,
			struct ipc_msg *req, struct ipc_msg *reply)
{
	struct vs_conn *vc = ipc_conn_data(conn);

	switch (method) {
	case PROTO_VSI_ALLOCATE_GLOBAL_VM_CONTEXT: return vsi_allocate(vc, req, reply);
	case PROTO_VSI_DEBUG_LIST_VMS: return vsi_list(vc, req, reply);
	case PROTO_VSI_CLAIM_GLOBAL_VM_CONTEXT: return vsi_claim(vc, req, reply);
	}
	return ipc_unknown_method(obj, method);
}

static const struct ipc_object_ops vsi_ops = {
    .name = PROTO_NAME_VSI,
    .dispatch = vsi_dispatch,
};

/* ---- connections ---- */

/* Free a connection and everything its holder had; @why is for the trace. */
static void conn_drop(struct vs_conn *vc, const char *why)
{
	struct vs_server *srv = vc->srv;

	/* Closing runs on_release of every context it exported (if not closed already). */
	vc->ipc = ipc_conn_free(vc->ipc);
	/* Backstop: nothing of a gone holder may stay granted. */
	vs_registry_release_holder(srv->reg, vc->holder);
	trace_emitf(srv->tr, "vs", "connection %" PRIu64 " closed (pid %d uid %u)%s%s", vc->holder,
		    (int)vc->pid, (unsigned)vc->uid, why && *why ? ": " : "", why ? why : "");
	if (vc->prev)
		vc->prev->next = vc->next;
	else
		srv->conns = vc->next;
	if (vc->next)
		vc->next->prev = vc->prev;
	srv->nconns--;
	free(vc);
}

static void conn_on_close(struct ipc_conn *conn, const struct avf_error *why, void *data)
{
	char reason[AVF_ERR_MSG_MAX] = "";

	/* A clean EOF has err 0: only failures are worth a reason in the trace. Copied:
	 * @why lives in the connection that conn_drop frees. */
	if (why->err < 0)
		snprintf(reason, sizeof(reason), "%s", why->msg);
	conn_drop(data, reason);
}

static const struct ipc_conn_ops conn_ops = {.on_close = conn_on_close};

int vs_server_serve_fd(struct vs_server *srv, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct vs_conn *vc;
	int r;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return avf_err_service(-errno, "cannot read the peer's credentials of fd %d: %s",
				       fd, strerror(errno));
	vc = calloc(1, sizeof(*vc));
	if (!vc)
		return avf_err_service(-ENOMEM, "out of memory for a connection");
	vc->srv = srv;
	vc->holder = srv->next_holder++;
	vc->pid = cred.pid;
	vc->uid = cred.uid;
	r = ipc_conn_new(srv->loop, fd, srv->root, &conn_ops, vc, &vc->ipc);
	if (r < 0) {
		free(vc);
		return r;
	}
	vc->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = vc;
	srv->conns = vc;
	srv->nconns++;
	trace_emitf(srv->tr, "vs", "connection %" PRIu64 " opened (pid %d uid %u)", vc->holder,
		    (int)vc->pid, (unsigned)vc->uid);
	return 0;
}

unsigned vs_server_connection_count(const struct vs_server *srv)
{
	return srv->nconns;
}

/* ---- listening ---- */

static void accept_resume(struct loop_source *src, void *data)
{
	struct vs_server *srv = data;

	srv->pause_timer = loop_source_free(srv->pause_timer);
	if (srv->listen_src)
		loop_fd_set_events(srv->listen_src, EPOLLIN);
}

static void accept_pause(struct vs_server *srv)
{
	if (srv->pause_timer)
		return;
	if (loop_add_timer(srv->loop, loop_now(srv->loop) + ACCEPT_PAUSE_NS, accept_resume, srv,
			   &srv->pause_timer) < 0)
		return; /* no timer: keep accepting, which is a busy loop but not a stop */
	loop_fd_set_events(srv->listen_src, 0);
}

static void on_accept(struct loop_source *src, int fd, uint32_t revents, void *data)
{
	struct vs_server *srv = data;
	int i, c;

	for (i = 0; i < ACCEPT_BURST; i++) {
		c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* The peer gave up before we got to it, or a signal: next one. */
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			trace_emitf(srv->tr, "vs", "accept failed: %s; pausing", strerror(errno));
			accept_pause(srv);
			return;
		}
		if (vs_server_serve_fd(srv, c) < 0) {
			trace_emitf(srv->tr, "vs", "connection refused: %s", avf_err_last()->msg);
			close(c);
		}
	}
}

/* Directory part of @path ("." without a slash). */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/*
 * Bind failed with EADDRINUSE: something is at @path. A socket nobody accepts on
 * is a dead daemon's and is removed (0: try bind again); a served one, or anything
 * that is not a socket, is left alone.
 */
static int remove_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int probe, r, e;

	if (lstat(path, &st) < 0)
		return errno == ENOENT
			   ? 0 /* gone meanwhile */
			   : avf_err_service(-errno, "cannot stat '%s': %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return avf_err_set(-EEXIST, AVF_EX_ILLEGAL_STATE, "'%s' exists and is not a socket",
				   path);
	probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0)
		return avf_err_service(-errno, "socket: %s", strerror(errno));
	r = connect(probe, (const struct sockaddr *)sa, sizeof(*sa));
	e = errno;
	close(probe);
	/* EAGAIN: a full backlog, so someone listens (and is busy). */
	if (r == 0 || e == EAGAIN || e == EINPROGRESS)
		return avf_err_set(-EADDRINUSE, AVF_EX_ILLEGAL_STATE,
				   "another virtualizationservice is serving %s", path);
	if (e != ECONNREFUSED)
		return avf_err_service(-e, "'%s' is in use and cannot be probed: %s", path,
				       strerror(e));
	if (unlink(path) < 0 && errno != ENOENT)
		return avf_err_service(-errno, "cannot remove the stale socket '%s': %s", path,
				       strerror(errno));
	return 0;
}

int vs_server_bind(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char *dir = NULL;
	int fd = -1, r, attempt;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return avf_err_set(-ENAMETOOLONG, AVF_EX_ILLEGAL_ARGUMENT,
				   "socket path '%s' is empty or longer than %zu bytes",
				   path ? path : "", sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	dir = dir_of(path);
	if (!dir)
		return avf_err_service(-ENOMEM, "out of memory");
	r = fs_mkdir_p(dir, 0700);
	free(dir);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return avf_err_service(-errno, "socket: %s", strerror(errno));
	/*
	 * A second attempt after removing a stale file; a third only if another instance
	 * removed and re-created it in between (then the probe will say it is served).
	 */
	for (attempt = 0;; attempt++) {
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		if (errno != EADDRINUSE || attempt == 2) {
			r = avf_err_service(-errno, "cannot bind '%s': %s", path, strerror(errno));
			goto fail;
		}
		if ((r = remove_stale(path, &sa)) < 0)
			goto fail;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		r = avf_err_service(-errno, "cannot listen on '%s': %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	*ret_fd = fd;
	return 0;
fail:
	close(fd);
	return r;
}

int vs_server_listen_fd(struct vs_server *srv, int fd, const char *path)
{
	struct stat st;
	int r;

	if (srv->listen_src)
		return avf_err_set(-EBUSY, AVF_EX_ILLEGAL_STATE, "already listening on '%s'",
				   srv->path);
	srv->path = strdup(path);
	if (!srv->path)
		return avf_err_service(-ENOMEM, "out of memory");
	r = loop_add_fd(srv->loop, fd, EPOLLIN, on_accept, srv, &srv->listen_src);
	if (r < 0) {
		free(srv->path);
		srv->path = NULL;
		return r;
	}
	srv->listen_fd = fd;
	/* Remember which file we bound, so free removes ours and never a successor's. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		srv->own_path = true;
		srv->dev = st.st_dev;
		srv->ino = st.st_ino;
	}
	trace_emitf(srv->tr, "vs", "listening on %s", path);
	return 0;
}

int vs_server_listen(struct vs_server *srv, const char *path)
{
	int fd, r;

	if (srv->listen_src)
		return avf_err_set(-EBUSY, AVF_EX_ILLEGAL_STATE, "already listening on '%s'",
				   srv->path);
	if ((r = vs_server_bind(path, &fd)) < 0)
		return r;
	r = vs_server_listen_fd(srv, fd, path);
	if (r < 0) {
		unlink(path);
		close(fd);
	}
	return r;
}

/* ---- server ---- */

int vs_server_new(struct loop *l, struct vs_registry *reg, const struct trace *tr,
		  struct vs_server **ret)
{
	struct vs_server *srv = calloc(1, sizeof(*srv));
	int r;

	if (!srv)
		return avf_err_service(-ENOMEM, "out of memory for the server");
	srv->loop = l;
	srv->reg = reg;
	srv->tr = tr;
	srv->next_holder = 1;
	srv->listen_fd = -1;
	r = ipc_object_new(&vsi_ops, srv, &srv->root);
	if (r < 0) {
		free(srv);
		return r;
	}
	*ret = srv;
	return 0;
}

struct vs_server *vs_server_free(struct vs_server *srv)
{
	struct stat st;

	if (!srv)
		return NULL;
	while (srv->conns)
		conn_drop(srv->conns, "server stopped");
	srv->pause_timer = loop_source_free(srv->pause_timer);
	srv->listen_src = loop_source_free(srv->listen_src);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->own_path && lstat(srv->path, &st) == 0 && st.st_dev == srv->dev &&
	    st.st_ino == srv->ino)
		unlink(srv->path);
	free(srv->path);
	ipc_object_unref(srv->root);
	free(srv);
	return NULL;
}
