/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ipc_conn: a binder-like connection over one SOCK_SEQPACKET socket, driven by
 * core/loop. It carries IVirtualizationService / IVirtualMachine / callbacks
 * between the client library and virtmgr, IVirtualizationServiceInternal between
 * virtmgr and virtualizationservice, and IVirtualMachineService from a guest.
 *
 * Objects. A local object (struct ipc_object) is (ops, data): ops->dispatch
 * serves calls, ops->on_release hears that a peer dropped it, ops->destroy frees
 * data when the last reference of any kind is gone. Putting an object into a
 * message (ipc_msg_put_object) and sending it exports it on that connection: it
 * gets a per-connection id (reused while exported) and the peer now holds one
 * more strong reference. The peer returns references with RELEASE; when the
 * count reaches 0, or the connection closes, on_release(obj, conn) runs once for
 * that connection and the export's reference on the object is dropped. Id 0 is
 * the root object given to ipc_conn_new(): never counted, released at close.
 * An object can be exported on several connections (one id and count on each).
 *
 * Proxies. A received object reference becomes a proxy (struct ipc_proxy) for
 * (connection, remote id): created on first sight, reused after, refcounted
 * locally. It remembers how many references the peer sent; when its last local
 * reference goes it sends RELEASE with that count (so a RELEASE crossing a new
 * reference on the wire stays correct). ipc_conn_root() gives the peer's root.
 * Only local objects can be sent: passing a proxy on (to its owner or to a third
 * connection) is refused with -EINVAL; nothing in AVF's interfaces needs it. The
 * ACQUIRE message is accepted (it adds references to an exported object) but not
 * sent by this implementation yet; it is the hook for that.
 *
 * Calls. ipc_call() sends CALL and waits for the REPLY with the same call id by
 * running the connection's loop (loop_run_once) until the reply, the timeout or
 * the close. *Everything on that loop may run meanwhile*, including calls from the
 * peer into local objects (so a callee can call back into the caller), calls on
 * other connections, timers and child exits. Code that calls ipc_call() must
 * therefore be ready for re-entrancy, exactly as a binder thread that blocks in a
 * transaction and serves nested ones. ipc_call_async() does not wait (the reply
 * arrives in a callback) for code that cannot afford re-entrancy. ipc_oneway()
 * sends ONEWAY: no reply, ordered after earlier messages on the connection.
 *
 * Dispatch. An incoming CALL runs ops->dispatch(obj, conn, method, req, reply);
 * 0 sends REPLY with the fields put into @reply, a negative errno sends an error
 * REPLY built from the avf_err slot (exception, service code, message); the
 * partial @reply is discarded. An unknown method should return
 * ipc_unknown_method() (EX_UNSUPPORTED_OPERATION; binder's UNKNOWN_TRANSACTION
 * would surface as EX_TRANSACTION_FAILED, we name it better). ONEWAY runs the
 * same dispatch and discards its reply and result. Like AVF's oneway interfaces,
 * ONEWAY calls on one connection never nest: one that arrives while a ONEWAY
 * handler of the same connection is running (waiting in ipc_call) is queued and
 * dispatched, in order, after it returns (RELEASE / ACQUIRE wait behind them, so
 * reference changes keep their order). CALLs are dispatched at once, nested if
 * need be: a CALL may overtake a waiting ONEWAY, as in binder.
 *
 * Bad input. A CALL to an id the peer was not given gets EX_ILLEGAL_ARGUMENT
 * "unknown object N"; a ONEWAY to one is dropped. A malformed CALL whose call id
 * is readable gets an EX_BAD_PARCELABLE error reply with the decoder's message
 * and the connection keeps serving; any other malformed packet, a REPLY to an
 * unknown call id, or a RELEASE / ACQUIRE that does not match what the peer
 * holds closes the connection (-EPROTO / the decoder's error as the reason).
 *
 * Errors of a call. ipc_call returns 0 with the reply, or:
 *   -EREMOTEIO  the peer replied with an error: the avf_err slot holds its exception,
 *               service code and message exactly (a handler can return -EREMOTEIO
 *               as is to forward it);
 *   -EPIPE      the connection closed (or was closed) before the reply;
 *   -ETIMEDOUT  no reply in time (the call id is remembered; a late reply is dropped);
 *   -ENOSPC     an object limit (too many exports for the request, too many
 *               proxies for the reply);
 *   -EBUSY, -ENOBUFS, -EINVAL, -ENOMEM  other local limits and misuse.
 * Transport errors carry AVF_EX_TRANSACTION_FAILED, as binder's DEAD_OBJECT does.
 *
 * Close. On EOF, a socket error or a protocol error, the connection closes itself:
 * it stops reading and closes the socket, releases every reference the peer held
 * (on_release of each exported object, in export order, root first), fails
 * pending calls with -EPIPE (async callbacks run), and then calls ops->on_close
 * with the reason (why->err == 0 for a clean EOF). Proxies stay valid objects but
 * their calls fail with -EPIPE. A zero-length packet reads as EOF. A send failure
 * inside an API call does not close synchronously: the socket is shut down and
 * the close (with that reason) happens in the next loop round, so on_close and
 * on_release never run from inside ipc_oneway() or ipc_proxy_unref().
 *
 * Lifetime. ipc_conn_free() closes the connection as above (without on_close)
 * and frees it; it is safe from inside any callback of that connection, and while
 * an ipc_call() on it is waiting (that call returns -EPIPE). Proxies outlive their
 * connection (their calls fail); messages, objects and proxies are independent.
 *
 * Limits (struct ipc_conn_limits, per connection): exported objects, proxies,
 * pending calls, queued ONEWAY messages, bytes queued for a peer that does not
 * read; plus the per-message limits of ipc_msg.h. Each failure has its own message.
 *
 * fds: the socket is taken over (made O_NONBLOCK, O_CLOEXEC); received fds are
 * O_CLOEXEC (MSG_CMSG_CLOEXEC) and closed whenever their message is rejected or
 * freed without being taken.
 *
 * Thread-safety: none. One thread, one loop; every callback runs from the loop
 * (or from inside ipc_call()/ipc_conn_free(), as described above).
 */
#ifndef AVF_CORE_IPC_IPC_CONN_H
#define AVF_CORE_IPC_IPC_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "base/avf_err.h"
#include "ipc/ipc_msg.h"
#include "loop/loop.h"

struct ipc_conn;
struct ipc_object;
struct ipc_proxy;

#define IPC_TIMEOUT_INFINITE UINT64_MAX

struct ipc_object_ops {
	/* Interface name, for error messages ("IVirtualMachine"). May be NULL. */
	const char *name;
	/*
	 * Serve @method from the peer on @conn. Returns 0 or a negative errno with the
	 * avf_err slot describing the error. @reply is never NULL: a peer can send any
	 * method ONEWAY, and then the reply is discarded (ipc_msg_hdr(req)->kind says
	 * CALL or ONEWAY). Required.
	 */
	int (*dispatch)(struct ipc_object *obj, struct ipc_conn *conn, uint32_t method,
			struct ipc_msg *req, struct ipc_msg *reply);
	/* The peer on @conn no longer holds @obj (RELEASE to 0, or close). Optional. */
	void (*on_release)(struct ipc_object *obj, struct ipc_conn *conn);
	/* No reference of any kind left: free the data. Optional. */
	void (*destroy)(void *data);
};

/* A local object with one reference (the caller's). */
int ipc_object_new(const struct ipc_object_ops *ops, void *data, struct ipc_object **ret);
struct ipc_object *ipc_object_ref(struct ipc_object *obj);
/* Accepts NULL, returns NULL. The last reference runs ops->destroy(data). */
struct ipc_object *ipc_object_unref(struct ipc_object *obj);
void *ipc_object_data(const struct ipc_object *obj);
/* Strong references the peer on @conn holds (0: not exported there; root: 1 while open). */
unsigned ipc_object_peer_refs(const struct ipc_object *obj, const struct ipc_conn *conn);

/* For dispatch functions: -EOPNOTSUPP, EX_UNSUPPORTED_OPERATION, "ipc: <name> has no
 * method N". */
int ipc_unknown_method(const struct ipc_object *obj, uint32_t method);

/*
 * Records EX_SERVICE_SPECIFIC with service code @code (avf_err_service always
 * records -1) and returns @err. Also used for the errors a REPLY brings back.
 */
int ipc_err_service(int err, int32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct ipc_conn_limits {
	unsigned max_exports;       /* local objects exported on this connection */
	unsigned max_proxies;       /* remote objects we hold proxies for */
	unsigned max_pending;       /* outgoing calls waiting for a reply (incl. timed out) */
	unsigned max_queued_oneway; /* ONEWAY/RELEASE waiting behind a running ONEWAY handler */
	size_t max_outq_bytes;      /* bytes queued while the peer does not read */
};

/* 4096 exports, 4096 proxies, 64 pending calls, 256 queued messages, 4 MiB queued output. */
extern const struct ipc_conn_limits ipc_conn_default_limits;

struct ipc_conn_ops {
	/* The connection closed (not called from ipc_conn_free()). @why->err is 0 on EOF,
	 * else the negative errno of the failure with its message. May free @conn. */
	void (*on_close)(struct ipc_conn *conn, const struct avf_error *why, void *data);
};

/*
 * Serve @fd, a connected SOCK_SEQPACKET unix socket, on @l. @root (may be NULL) is
 * exported as id 0 (the connection takes a reference). @ops may be NULL. On success
 * the connection owns @fd; on failure @fd is untouched (the caller closes it).
 * -ENOTSOCK / -EINVAL when @fd is not a SOCK_SEQPACKET socket.
 */
int ipc_conn_new(struct loop *l, int fd, struct ipc_object *root, const struct ipc_conn_ops *ops,
		 void *data, struct ipc_conn **ret);
/* Closes (no on_close) and frees; see "Lifetime". Accepts NULL, returns NULL. */
struct ipc_conn *ipc_conn_free(struct ipc_conn *conn);
/*
 * Break the connection from this side, with @err and @why (may be
 * avf_err_last()->msg) as the reason: as a failed send does, it stops sending,
 * shuts the socket down (the peer reads EOF) and closes in the next loop round.
 * For a message that had to go out and could not be built: losing it silently
 * could leave the peer waiting for it forever. Accepts NULL; no-op once closed.
 */
void ipc_conn_abort(struct ipc_conn *conn, int err, const char *why);
/* Replace the limits. Lowering one below what is in use only stops growth. */
void ipc_conn_set_limits(struct ipc_conn *conn, const struct ipc_conn_limits *limits);
bool ipc_conn_is_open(const struct ipc_conn *conn);
/* Why it is not open (what on_close gets); NULL while it is. */
const struct avf_error *ipc_conn_why(const struct ipc_conn *conn);
/* The socket (e.g. for SO_PEERCRED), -1 once closed. Do not read or write it. */
int ipc_conn_fd(const struct ipc_conn *conn);
void *ipc_conn_data(const struct ipc_conn *conn);
struct loop *ipc_conn_loop(const struct ipc_conn *conn);

struct ipc_conn_stats {
	unsigned exports; /* export entries, root included */
	unsigned proxies;
	unsigned pending; /* outgoing calls not yet answered (timed-out ones included) */
	unsigned queued_oneway;
	size_t outq_bytes;
};
void ipc_conn_stats(const struct ipc_conn *conn, struct ipc_conn_stats *ret);

/* A proxy for the peer's root object (id 0). */
int ipc_conn_root(struct ipc_conn *conn, struct ipc_proxy **ret);

struct ipc_proxy *ipc_proxy_ref(struct ipc_proxy *p);
/* Accepts NULL, returns NULL. The last reference sends RELEASE (not for id 0). */
struct ipc_proxy *ipc_proxy_unref(struct ipc_proxy *p);
/* NULL once the connection was freed. */
struct ipc_conn *ipc_proxy_conn(const struct ipc_proxy *p);
uint32_t ipc_proxy_id(const struct ipc_proxy *p);

/*
 * An OBJECT field holding a reference on @obj (NULL: a NULL field). The object is
 * exported, and the peer's count taken, when the message is sent; a message freed
 * unsent just drops its reference.
 */
int ipc_msg_put_object(struct ipc_msg *m, struct ipc_object *obj);
/* The next field as a proxy (a new reference the caller drops). Received messages only. */
int ipc_msg_get_proxy(struct ipc_msg *m, struct ipc_proxy **ret);
/* Same, but a NULL field gives *ret = NULL. */
int ipc_msg_get_proxy_nullable(struct ipc_msg *m, struct ipc_proxy **ret);

/*
 * Synchronous call of @method on @p with the fields of @req (NULL: none), waiting
 * at most @timeout_ns of real time (IPC_TIMEOUT_INFINITE: no limit). On success
 * *ret_reply is the reply (the caller frees it; @ret_reply may be NULL to discard
 * it). Errors: see "Errors of a call". @req is not consumed: the caller frees it
 * (its fds were duplicated into the packet).
 */
int ipc_call(struct ipc_proxy *p, uint32_t method, struct ipc_msg *req, uint64_t timeout_ns,
	     struct ipc_msg **ret_reply);

/*
 * Completion of ipc_call_async: @err 0 with @reply (borrowed: freed after the
 * callback returns; take fds and proxies out of it to keep them), or an error as
 * for ipc_call (-EREMOTEIO, -EPIPE, -ENOSPC; the avf_err slot describes it) with
 * @reply NULL. Runs exactly once, from the loop or from the connection's close /
 * free.
 */
typedef void (*ipc_reply_fn)(struct ipc_conn *conn, int err, struct ipc_msg *reply, void *data);
int ipc_call_async(struct ipc_proxy *p, uint32_t method, struct ipc_msg *req, ipc_reply_fn fn,
		   void *data);

/* Fire and forget. 0 once sent or queued; -EPIPE on a closed connection. */
int ipc_oneway(struct ipc_proxy *p, uint32_t method, struct ipc_msg *req);

#endif
