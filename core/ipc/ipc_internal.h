/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ipc internals shared by ipc_msg.c (codec) and ipc_conn.c (connections): the
 * message layout, and the hook by which a connection attaches objects and proxies
 * to OBJECT fields. Not for use outside core/ipc.
 */
#ifndef AVF_CORE_IPC_IPC_INTERNAL_H
#define AVF_CORE_IPC_IPC_INTERNAL_H

#include <stdint.h>

#include "ipc/ipc_msg.h"

/* What an OBJECT field's ref points at. */
enum ipc_ref_kind {
	IPC_REF_NONE = 0,   /* raw id (codec level) */
	IPC_REF_OBJECT = 1, /* struct ipc_object *, to export when sent */
	IPC_REF_PROXY = 2,  /* struct ipc_proxy *, received */
};

struct ipc_field {
	uint8_t type;     /* enum ipc_type */
	uint8_t ref_kind; /* OBJECT fields: enum ipc_ref_kind */
	uint32_t len;     /* STRING, BYTES: payload length */
	union {
		int32_t i32;
		uint32_t u32; /* U32; FD: index into fds; OBJECT: id */
		int64_t i64;
		bool b;
		size_t off; /* STRING, BYTES: payload offset in data (strings NUL-terminated) */
	} v;
	void *ref; /* OBJECT fields: one reference on the object / proxy, or NULL */
};

struct ipc_msg {
	struct ipc_hdr hdr;
	struct ipc_field *fields;
	unsigned nfields, cap_fields;
	uint8_t *data;
	size_t data_len, data_cap;
	int fds[IPC_MSG_MAX_FDS];
	unsigned nfds;
	size_t wire_len;
	unsigned rpos;
	/* Drops a field's ref; set by the connection layer when it attaches one. */
	void (*ref_free)(enum ipc_ref_kind kind, void *ref);
};

/* Length of the longest valid UTF-8 prefix of @s (== @len when all of it is valid). */
size_t ipc_utf8_valid_prefix(const uint8_t *s, size_t len);

/* Appends an OBJECT field holding @ref (whose reference the message now owns). */
int ipc_msg_put_ref(struct ipc_msg *m, enum ipc_ref_kind kind, void *ref,
		    void (*ref_free)(enum ipc_ref_kind kind, void *ref));

#endif
