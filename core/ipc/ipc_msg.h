/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ipc_msg: the wire format of avf-ref's IPC and its codec.
 *
 * Our own small binder-like protocol over SOCK_SEQPACKET (DESIGN §5; a documented
 * deviation from AVF, which uses libbinder RPC). One message is one packet; fds
 * travel in the same packet as SCM_RIGHTS. All integers are little-endian.
 *
 * Header, 28 bytes:
 *
 *   off size field
 *     0  4   magic    IPC_MAGIC 0x31465641 (the bytes "AVF1": protocol + version)
 *     4  4   length   total packet length including the header; must equal the
 *                     length received, and be <= IPC_MSG_MAX (65536)
 *     8  2   kind     1 CALL, 2 REPLY, 3 ONEWAY, 4 ACQUIRE, 5 RELEASE
 *    10  2   flags    REPLY: bit 0 = IPC_F_ERROR. Every other bit, every other kind: 0
 *    12  4   object   CALL, ONEWAY: target object, an id in the *receiver's* table;
 *                     ACQUIRE, RELEASE: the object whose references change (receiver's
 *                     table); REPLY: 0
 *    16  4   method   CALL, ONEWAY: method number; otherwise 0
 *    20  4   call_id  CALL: non-zero, chosen by the caller; REPLY: the call's id;
 *                     otherwise 0
 *    24  4   nfds     fds attached as SCM_RIGHTS; must equal the number received,
 *                     and be <= IPC_MSG_MAX_FDS (253, the kernel's SCM_MAX_FD: as
 *                     many as one sendmsg can pass, so a createVm of a Microdroid-
 *                     sized config, dozens of partitions, fits in one packet)
 *
 * Body: fields back to back up to `length`, each a u8 type tag and its payload:
 *
 *   0x01 I32     4 bytes
 *   0x02 U32     4 bytes
 *   0x03 I64     8 bytes
 *   0x04 BOOL    1 byte, 0 or 1
 *   0x05 STRING  u32 n, then n bytes of valid UTF-8 without NUL (no terminator)
 *   0x06 BYTES   u32 n, then n bytes
 *   0x07 FD      u32 index into the packet's fds; each index 0..nfds-1 is named by
 *                exactly one FD field (so every fd has one owner)
 *   0x08 OBJECT  u32 id of an object of the *sender*: one strong reference
 *                (ipc_conn.h: exporting, RELEASE). Id 0 is the sender's root object
 *                and is not reference counted.
 *   0x09 NULL    no payload (a null string / object / fd)
 *
 * At most IPC_MSG_MAX_FIELDS (4096) fields. Per kind:
 *   CALL, ONEWAY   arguments;
 *   REPLY          results, or with IPC_F_ERROR exactly: I32 exception (enum avf_ex,
 *                  non-zero), I32 service-specific code, STRING message; no fds
 *                  (binder's Status);
 *   ACQUIRE,       exactly one U32 count >= 1: the sender took / dropped that many
 *   RELEASE        references to `object`; no fds.
 *
 * Every accepted packet has exactly one encoding, so decode followed by encode
 * gives back the same bytes (the mutation tests check this).
 *
 * Messages: a struct ipc_msg is a list of typed fields plus the fds it owns. It is
 * built with ipc_msg_put_*() and read in order with ipc_msg_get_*(), a cursor that
 * only advances on success. Contract: single-threaded; the decoder is a pure
 * function of (bytes, fds) that validates everything before returning a message.
 *
 * Errors follow avf_err: a negative errno and a message. Malformed input is
 * -EBADMSG (-E2BIG for size / fd-count limits, -EPROTO for a wrong magic) with
 * AVF_EX_BAD_PARCELABLE; reading a field of the wrong type is -EBADMSG too
 * (AVF_EX_NULL_POINTER when the field is NULL), so a dispatch function can simply
 * return what a getter returned.
 */
#ifndef AVF_CORE_IPC_IPC_MSG_H
#define AVF_CORE_IPC_IPC_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPC_MAGIC          0x31465641u /* "AVF1" on the wire */
#define IPC_HDR_SIZE       28u
#define IPC_MSG_MAX        65536u /* bytes per packet, header included */
#define IPC_MSG_MAX_FDS    253u /* SCM_MAX_FD */
#define IPC_MSG_MAX_FIELDS 4096u

enum ipc_kind {
	IPC_CALL = 1,
	IPC_REPLY = 2,
	IPC_ONEWAY = 3,
	IPC_ACQUIRE = 4,
	IPC_RELEASE = 5,
};

#define IPC_F_ERROR 0x0001u /* REPLY: the body is (exception, service code, message) */

enum ipc_type {
	IPC_T_END = 0, /* not on the wire: ipc_msg_peek() past the last field */
	IPC_T_I32 = 1,
	IPC_T_U32 = 2,
	IPC_T_I64 = 3,
	IPC_T_BOOL = 4,
	IPC_T_STRING = 5,
	IPC_T_BYTES = 6,
	IPC_T_FD = 7,
	IPC_T_OBJECT = 8,
	IPC_T_NULL = 9,
};

/* The header fields a sender chooses; magic, length and nfds follow from the message. */
struct ipc_hdr {
	uint16_t kind;
	uint16_t flags;
	uint32_t object;
	uint32_t method;
	uint32_t call_id;
};

struct ipc_msg;

/* An empty message to build. */
int ipc_msg_new(struct ipc_msg **ret);
/* Frees the message and closes the fds it still owns. Accepts NULL, returns NULL. */
struct ipc_msg *ipc_msg_free(struct ipc_msg *m);

/*
 * Builders append one field. Each either succeeds or leaves the message as it was:
 * -E2BIG when the packet would exceed IPC_MSG_MAX bytes, IPC_MSG_MAX_FIELDS fields
 * or IPC_MSG_MAX_FDS fds; -ENOMEM.
 */
int ipc_msg_put_i32(struct ipc_msg *m, int32_t v);
int ipc_msg_put_u32(struct ipc_msg *m, uint32_t v);
int ipc_msg_put_i64(struct ipc_msg *m, int64_t v);
int ipc_msg_put_bool(struct ipc_msg *m, bool v);
/* @s NULL writes a NULL field. -EINVAL (AVF_EX_ILLEGAL_ARGUMENT) if @s is not UTF-8. */
int ipc_msg_put_string(struct ipc_msg *m, const char *s);
/* Copies @len bytes (@p may be NULL when @len is 0). */
int ipc_msg_put_bytes(struct ipc_msg *m, const void *p, size_t len);
/*
 * Attaches a duplicate of @fd (F_DUPFD_CLOEXEC): the caller keeps @fd, the message
 * owns the duplicate. -EBADF (or another dup error) if @fd cannot be duplicated.
 */
int ipc_msg_put_fd(struct ipc_msg *m, int fd);
int ipc_msg_put_null(struct ipc_msg *m);
/*
 * A raw object id, for codec tests and fuzzing. Messages sent on a connection carry
 * objects with ipc_msg_put_object() (ipc_conn.h), which exports them; a connection
 * refuses to send a raw id.
 */
int ipc_msg_put_object_id(struct ipc_msg *m, uint32_t id);

/*
 * Getters read the next field. On a type mismatch, past the end, or on a NULL
 * field where a value is required, they fail with -EBADMSG and a message naming
 * the field ("ipc: field 2 is string, expected i32"), leave the cursor and @ret
 * untouched.
 */
int ipc_msg_get_i32(struct ipc_msg *m, int32_t *ret);
int ipc_msg_get_u32(struct ipc_msg *m, uint32_t *ret);
int ipc_msg_get_i64(struct ipc_msg *m, int64_t *ret);
int ipc_msg_get_bool(struct ipc_msg *m, bool *ret);
/* NUL-terminated UTF-8, valid as long as the message. */
int ipc_msg_get_string(struct ipc_msg *m, const char **ret);
/* Same, but a NULL field gives *ret = NULL. */
int ipc_msg_get_string_nullable(struct ipc_msg *m, const char **ret);
/* Borrowed, valid as long as the message; *ret is non-NULL even when *ret_len is 0. */
int ipc_msg_get_bytes(struct ipc_msg *m, const void **ret, size_t *ret_len);
/*
 * Takes the fd out of the message: the caller owns (and must close) it. It is
 * O_CLOEXEC. A second take of the same field (after ipc_msg_rewind) is -EBADF.
 */
int ipc_msg_get_fd(struct ipc_msg *m, int *ret);
int ipc_msg_get_null(struct ipc_msg *m);
int ipc_msg_get_object_id(struct ipc_msg *m, uint32_t *ret);

/* Type of the next field, IPC_T_END after the last. Never fails. */
enum ipc_type ipc_msg_peek(const struct ipc_msg *m);
/* -EBADMSG ("ipc: 2 unread fields after field 3") unless every field was read. */
int ipc_msg_get_end(const struct ipc_msg *m);
/* Steps over the next field, whatever its type (an fd stays in the message).
 * -EBADMSG past the end. */
int ipc_msg_skip(struct ipc_msg *m);
/* Moves the cursor back to the first field. */
void ipc_msg_rewind(struct ipc_msg *m);

unsigned ipc_msg_nfields(const struct ipc_msg *m);
/* Fds the message still owns, in index order (-1 where a getter took one). */
const int *ipc_msg_fds(const struct ipc_msg *m, unsigned *ret_n);
/* Encoded size: IPC_HDR_SIZE plus the fields. */
size_t ipc_msg_wire_len(const struct ipc_msg *m);
/* Header of a decoded message (zeroed for a built one). */
const struct ipc_hdr *ipc_msg_hdr(const struct ipc_msg *m);

/*
 * Writes the packet for @m under @hdr into @buf (ipc_msg_wire_len() bytes; the fds
 * to attach are ipc_msg_fds()). -ENOBUFS if @cap is too small. Does not validate
 * @hdr against the per-kind rules: that is what lets tests build bad packets.
 */
int ipc_msg_encode(const struct ipc_msg *m, const struct ipc_hdr *hdr, void *buf, size_t cap,
		   size_t *ret_len);

/*
 * Validates the packet @buf/@len received with @nfds fds and builds its message.
 * Checks, in order: size limits, header length, magic, length == @len, kind and
 * per-kind header rules, fd count == header nfds, then every field (tag, bounds,
 * BOOL 0/1, STRING UTF-8 without NUL, FD index in range and used once, every fd
 * used), then the per-kind body shape. Pure: no I/O, no global state except the
 * avf_err slot on failure.
 * Success: the message owns @fds (it closes them when freed). Failure: nothing is
 * kept, @fds are untouched (still the caller's), *ret untouched.
 */
int ipc_msg_decode(const void *buf, size_t len, const int *fds, size_t nfds, struct ipc_msg **ret);

/* "i32", "string", ...; "unknown" for other tags. Never NULL, static. */
const char *ipc_type_name(unsigned type);
/* "CALL", "REPLY", ...; "kind ?" for unknown ones. */
const char *ipc_kind_name(unsigned kind);

#endif
