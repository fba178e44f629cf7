/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ipc_msg: building, encoding and decoding messages. See ipc_msg.h for the wire
 * format. A message is an array of parsed fields plus an arena holding string and
 * bytes payloads (strings NUL-terminated there, so getters can hand out C strings).
 * The decoder trusts no length: every read is checked against what is left.
 */
#include "ipc/ipc_msg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "ipc/ipc_internal.h"

/* ---- little-endian helpers ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ---- names ---- */

const char *ipc_type_name(unsigned type)
{
	switch (type) {
	case IPC_T_END: return "end";
	case IPC_T_I32: return "i32";
	case IPC_T_U32: return "u32";
	case IPC_T_I64: return "i64";
	case IPC_T_BOOL: return "bool";
	case IPC_T_STRING: return "string";
	case IPC_T_BYTES: return "bytes";
	case IPC_T_FD: return "fd";
	case IPC_T_OBJECT: return "object";
	case IPC_T_NULL: return "null";
	}
	return "unknown";
}

const char *ipc_kind_name(unsigned kind)
{
	switch (kind) {
	case IPC_CALL: return "CALL";
	case IPC_REPLY: return "REPLY";
	case IPC_ONEWAY: return "ONEWAY";
	case IPC_ACQUIRE: return "ACQUIRE";
	case IPC_RELEASE: return "RELEASE";
	}
	return "kind ?";
}

/* Payload size on the wire after the tag, for the fixed-size types. */
static size_t fixed_size(unsigned type)
{
	switch (type) {
	case IPC_T_I32:
	case IPC_T_U32:
	case IPC_T_FD:
	case IPC_T_OBJECT: return 4;
	case IPC_T_I64: return 8;
	case IPC_T_BOOL: return 1;
	default: return 0;
	}
}

size_t ipc_utf8_valid_prefix(const uint8_t *s, size_t len)
{
	size_t i = 0, n, k;
	uint32_t cp, min;

	while (i < len) {
		uint8_t c = s[i];

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return i;
		}
		if (len - i - 1 < n)
			return i;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and code points past Unicode are not UTF-8. */
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += n + 1;
	}
	return len;
}

/* ---- building ---- */

int ipc_msg_new(struct ipc_msg **ret)
{
	struct ipc_msg *m = calloc(1, sizeof(*m));

	if (!m)
		return avf_err_service(-ENOMEM, "ipc: out of memory for a message");
	m->wire_len = IPC_HDR_SIZE;
	*ret = m;
	return 0;
}

struct ipc_msg *ipc_msg_free(struct ipc_msg *m)
{
	unsigned i;

	if (!m)
		return NULL;
	for (i = 0; i < m->nfields; i++) {
		struct ipc_field *f = &m->fields[i];

		if (f->ref && m->ref_free)
			m->ref_free((enum ipc_ref_kind)f->ref_kind, f->ref);
	}
	for (i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	free(m->fields);
	free(m->data);
	free(m);
	return NULL;
}

static int grow_fields(struct ipc_msg *m)
{
	struct ipc_field *f;
	unsigned cap;

	if (m->nfields < m->cap_fields)
		return 0;
	cap = m->cap_fields ? m->cap_fields * 2 : 8;
	if (cap > IPC_MSG_MAX_FIELDS)
		cap = IPC_MSG_MAX_FIELDS;
	f = realloc(m->fields, cap * sizeof(*f));
	if (!f)
		return avf_err_service(-ENOMEM, "ipc: out of memory for message fields");
	m->fields = f;
	m->cap_fields = cap;
	return 0;
}

static int grow_data(struct ipc_msg *m, size_t n)
{
	uint8_t *d;
	size_t cap;

	if (m->data_cap - m->data_len >= n)
		return 0;
	cap = m->data_cap ? m->data_cap : 64;
	while (cap - m->data_len < n)
		cap *= 2;
	d = realloc(m->data, cap);
	if (!d)
		return avf_err_service(-ENOMEM, "ipc: out of memory for message data");
	m->data = d;
	m->data_cap = cap;
	return 0;
}

/*
 * Makes room for one field of @payload wire bytes (after the tag) and @data arena
 * bytes. Only capacity changes, so a later failure leaves the message as it was.
 */
static int msg_reserve(struct ipc_msg *m, size_t payload, size_t data)
{
	int r;

	if (payload > IPC_MSG_MAX || m->wire_len + 1 + payload > IPC_MSG_MAX)
		return avf_err_set(-E2BIG, AVF_EX_ILLEGAL_ARGUMENT,
				   "ipc: message would exceed %u bytes (%zu used, field needs %zu)",
				   IPC_MSG_MAX, m->wire_len, 1 + payload);
	if (m->nfields >= IPC_MSG_MAX_FIELDS)
		return avf_err_set(-E2BIG, AVF_EX_ILLEGAL_ARGUMENT,
				   "ipc: message would exceed %u fields", IPC_MSG_MAX_FIELDS);
	r = grow_fields(m);
	if (r < 0)
		return r;
	return grow_data(m, data);
}

static struct ipc_field *msg_push(struct ipc_msg *m, enum ipc_type type, size_t payload)
{
	struct ipc_field *f = &m->fields[m->nfields++];

	memset(f, 0, sizeof(*f));
	f->type = (uint8_t)type;
	m->wire_len += 1 + payload;
	return f;
}

/* Fixed-size field: reserve, push, and hand back the field to fill. */
static int put_fixed(struct ipc_msg *m, enum ipc_type type, struct ipc_field **ret)
{
	int r = msg_reserve(m, fixed_size(type), 0);

	if (r < 0)
		return r;
	*ret = msg_push(m, type, fixed_size(type));
	return 0;
}

int ipc_msg_put_i32(struct ipc_msg *m, int32_t v)
{
	struct ipc_field *f;
	int r = put_fixed(m, IPC_T_I32, &f);

	if (r == 0)
		f->v.i32 = v;
	return r;
}

int ipc_msg_put_u32(struct ipc_msg *m, uint32_t v)
{
	struct ipc_field *f;
	int r = put_fixed(m, IPC_T_U32, &f);

	if (r == 0)
		f->v.u32 = v;
	return r;
}

int ipc_msg_put_i64(struct ipc_msg *m, int64_t v)
{
	struct ipc_field *f;
	int r = put_fixed(m, IPC_T_I64, &f);

	if (r == 0)
		f->v.i64 = v;
	return r;
}

int ipc_msg_put_bool(struct ipc_msg *m, bool v)
{
	struct ipc_field *f;
	int r = put_fixed(m, IPC_T_BOOL, &f);

	if (r == 0)
		f->v.b = v;
	return r;
}

int ipc_msg_put_object_id(struct ipc_msg *m, uint32_t id)
{
	struct ipc_field *f;
	int r = put_fixed(m, IPC_T_OBJECT, &f);

	if (r == 0)
		f->v.u32 = id;
	return r;
}

int ipc_msg_put_ref(struct ipc_msg *m, enum ipc_ref_kind kind, void *ref,
		    void (*ref_free)(enum ipc_ref_kind kind, void *ref))
{
	struct ipc_field *f;
	int r = put_fixed(m, IPC_T_OBJECT, &f);

	if (r < 0)
		return r;
	f->ref_kind = (uint8_t)kind;
	f->ref = ref;
	m->ref_free = ref_free;
	return 0;
}

int ipc_msg_put_null(struct ipc_msg *m)
{
	int r = msg_reserve(m, 0, 0);

	if (r == 0)
		msg_push(m, IPC_T_NULL, 0);
	return r;
}

/* STRING and BYTES: u32 length + payload on the wire, payload (+ NUL) in the arena. */
static int put_blob(struct ipc_msg *m, enum ipc_type type, const void *p, size_t len)
{
	bool nul = type == IPC_T_STRING;
	struct ipc_field *f;
	int r;

	if (len > IPC_MSG_MAX)
		return avf_err_set(-E2BIG, AVF_EX_ILLEGAL_ARGUMENT,
				   "ipc: %s of %zu bytes exceeds the %u-byte message limit",
				   ipc_type_name(type), len, IPC_MSG_MAX);
	r = msg_reserve(m, 4 + len, len + nul);
	if (r < 0)
		return r;
	f = msg_push(m, type, 4 + len);
	f->len = (uint32_t)len;
	f->v.off = m->data_len;
	if (len)
		memcpy(m->data + m->data_len, p, len);
	m->data_len += len;
	if (nul)
		m->data[m->data_len++] = 0;
	return 0;
}

int ipc_msg_put_string(struct ipc_msg *m, const char *s)
{
	size_t len;

	if (!s)
		return ipc_msg_put_null(m);
	len = strlen(s);
	if (ipc_utf8_valid_prefix((const uint8_t *)s, len) != len)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "ipc: string is not valid UTF-8 at byte %zu",
				   ipc_utf8_valid_prefix((const uint8_t *)s, len));
	return put_blob(m, IPC_T_STRING, s, len);
}

int ipc_msg_put_bytes(struct ipc_msg *m, const void *p, size_t len)
{
	if (!p && len)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "ipc: bytes field of %zu bytes from a NULL pointer", len);
	return put_blob(m, IPC_T_BYTES, p, len);
}

int ipc_msg_put_fd(struct ipc_msg *m, int fd)
{
	struct ipc_field *f;
	int r, dup;

	if (m->nfds >= IPC_MSG_MAX_FDS)
		return avf_err_set(-E2BIG, AVF_EX_ILLEGAL_ARGUMENT,
				   "ipc: a message carries at most %u fds", IPC_MSG_MAX_FDS);
	r = msg_reserve(m, 4, 0);
	if (r < 0)
		return r;
	/* Above stdio, so a process that closed 0-2 does not hand them out by accident. */
	dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dup < 0)
		return avf_err_set(-errno, AVF_EX_ILLEGAL_ARGUMENT,
				   "ipc: cannot duplicate fd %d: %s", fd, strerror(errno));
	f = msg_push(m, IPC_T_FD, 4);
	f->v.u32 = m->nfds;
	m->fds[m->nfds++] = dup;
	return 0;
}

/* ---- reading ---- */

/*
 * The next field if it has type @want. @nullable: a NULL field is accepted too
 * (the caller looks at its type). The cursor is not moved.
 */
static int msg_next(const struct ipc_msg *m, enum ipc_type want, bool nullable,
		    struct ipc_field **ret)
{
	struct ipc_field *f;

	if (m->rpos >= m->nfields)
		return avf_err_set(-EBADMSG, AVF_EX_BAD_PARCELABLE,
				   "ipc: expected %s as field %u, the message has %u fields",
				   ipc_type_name(want), m->rpos, m->nfields);
	f = &m->fields[m->rpos];
	if (f->type == IPC_T_NULL && want != IPC_T_NULL && !nullable)
		return avf_err_set(-EBADMSG, AVF_EX_NULL_POINTER,
				   "ipc: field %u is null, expected %s", m->rpos,
				   ipc_type_name(want));
	if (f->type != want && !(f->type == IPC_T_NULL && nullable))
		return avf_err_set(-EBADMSG, AVF_EX_BAD_PARCELABLE,
				   "ipc: field %u is %s, expected %s", m->rpos,
				   ipc_type_name(f->type), ipc_type_name(want));
	*ret = f;
	return 0;
}

int ipc_msg_get_i32(struct ipc_msg *m, int32_t *ret)
{
	struct ipc_field *f;
	int r = msg_next(m, IPC_T_I32, false, &f);

	if (r < 0)
		return r;
	*ret = f->v.i32;
	m->rpos++;
	return 0;
}

int ipc_msg_get_u32(struct ipc_msg *m, uint32_t *ret)
{
	struct ipc_field *f;
	int r = msg_next(m, IPC_T_U32, false, &f);

	if (r < 0)
		return r;
	*ret = f->v.u32;
	m->rpos++;
	return 0;
}

int ipc_msg_get_i64(struct ipc_msg *m, int64_t *ret)
{
	struct ipc_field *f;
	int r = msg_next(m, IPC_T_I64, false, &f);

	if (r < 0)
		return r;
	*ret = f->v.i64;
	m->rpos++;
	return 0;
}

int ipc_msg_get_bool(struct ipc_msg *m, bool *ret)
{
	struct ipc_field *f;
	int r = msg_next(m, IPC_T_BOOL, false, &f);

	if (r < 0)
		return r;
	*ret = f->v.b;
	m->rpos++;
	return 0;
}

static int get_string(struct ipc_msg *m, bool nullable, const char **ret)
{
	struct ipc_field *f;
	int r = msg_next(m, IPC_T_STRING, nullable, &f);

	if (r < 0)
		return r;
	*ret = f->type == IPC_T_NULL ? NULL : (const char *)m->data + f->v.off;
	m->rpos++;
	return 0;
}

int ipc_msg_get_string(struct ipc_msg *m, const char **ret)
{
	return get_string(m, false, ret);
}

int ipc_msg_get_string_nullable(struct ipc_msg *m, const char **ret)
{
	return get_string(m, true, ret);
}

int ipc_msg_get_bytes(struct ipc_msg *m, const void **ret, size_t *ret_len)
{
	struct ipc_field *f;
	int r = msg_next(m, IPC_T_BYTES, false, &f);

	if (r < 0)
		return r;
	/* The arena may not exist when every payload was empty. */
	*ret = f->len ? (const void *)(m->data + f->v.off) : (const void *)"";
	*ret_len = f->len;
	m->rpos++;
	return 0;
}

int ipc_msg_get_fd(struct ipc_msg *m, int *ret)
{
	struct ipc_field *f;
	int r = msg_next(m, IPC_T_FD, false, &f);

	if (r < 0)
		return r;
	if (m->fds[f->v.u32] < 0)
		return avf_err_set(-EBADF, AVF_EX_BAD_PARCELABLE,
				   "ipc: the fd of field %u was already taken", m->rpos);
	*ret = m->fds[f->v.u32];
	m->fds[f->v.u32] = -1;
	m->rpos++;
	return 0;
}

int ipc_msg_get_null(struct ipc_msg *m)
{
	struct ipc_field *f;
	int r = msg_next(m, IPC_T_NULL, false, &f);

	if (r == 0)
		m->rpos++;
	return r;
}

int ipc_msg_get_object_id(struct ipc_msg *m, uint32_t *ret)
{
	struct ipc_field *f;
	int r = msg_next(m, IPC_T_OBJECT, false, &f);

	if (r < 0)
		return r;
	*ret = f->v.u32;
	m->rpos++;
	return 0;
}

enum ipc_type ipc_msg_peek(const struct ipc_msg *m)
{
	if (m->rpos >= m->nfields)
		return IPC_T_END;
	return (enum ipc_type)m->fields[m->rpos].type;
}

int ipc_msg_get_end(const struct ipc_msg *m)
{
	if (m->rpos < m->nfields)
		return avf_err_set(-EBADMSG, AVF_EX_BAD_PARCELABLE,
				   "ipc: %u unread fields after field %u", m->nfields - m->rpos,
				   m->rpos);
	return 0;
}

int ipc_msg_skip(struct ipc_msg *m)
{
	if (m->rpos >= m->nfields)
		return avf_err_set(-EBADMSG, AVF_EX_BAD_PARCELABLE,
				   "ipc: cannot skip field %u, the message has %u fields", m->rpos,
				   m->nfields);
	m->rpos++;
	return 0;
}

void ipc_msg_rewind(struct ipc_msg *m)
{
	m->rpos = 0;
}

unsigned ipc_msg_nfields(const struct ipc_msg *m)
{
	return m->nfields;
}

const int *ipc_msg_fds(const struct ipc_msg *m, unsigned *ret_n)
{
	*ret_n = m->nfds;
	return m->fds;
}

size_t ipc_msg_wire_len(const struct ipc_msg *m)
{
	return m->wire_len;
}

const struct ipc_hdr *ipc_msg_hdr(const struct ipc_msg *m)
{
	return &m->hdr;
}

/* ---- encoding ---- */

int ipc_msg_encode(const struct ipc_msg *m, const struct ipc_hdr *hdr, void *buf, size_t cap,
		   size_t *ret_len)
{
	uint8_t *p = buf;
	size_t off = IPC_HDR_SIZE;
	unsigned i;

	if (cap < m->wire_len)
		return avf_err_set(-ENOBUFS, AVF_EX_ILLEGAL_ARGUMENT,
				   "ipc: %zu-byte buffer for a %zu-byte message", cap, m->wire_len);
	put32(p, IPC_MAGIC);
	put32(p + 4, (uint32_t)m->wire_len);
	put16(p + 8, hdr->kind);
	put16(p + 10, hdr->flags);
	put32(p + 12, hdr->object);
	put32(p + 16, hdr->method);
	put32(p + 20, hdr->call_id);
	put32(p + 24, m->nfds);
	for (i = 0; i < m->nfields; i++) {
		const struct ipc_field *f = &m->fields[i];

		p[off++] = f->type;
		switch (f->type) {
		case IPC_T_I32:
		case IPC_T_U32:
		case IPC_T_FD:
		case IPC_T_OBJECT: put32(p + off, f->v.u32); break;
		case IPC_T_I64: put64(p + off, (uint64_t)f->v.i64); break;
		case IPC_T_BOOL: p[off] = f->v.b; break;
		case IPC_T_STRING:
		case IPC_T_BYTES:
			put32(p + off, f->len);
			if (f->len)
				memcpy(p + off + 4, m->data + f->v.off, f->len);
			off += 4 + f->len;
			continue;
		default: break;
		}
		off += fixed_size(f->type);
	}
	*ret_len = off;
	return 0;
}

/* ---- decoding ---- */

#define BAD(...) avf_err_set(-EBADMSG, AVF_EX_BAD_PARCELABLE, __VA_ARGS__)

/* Header rules that depend on the kind (ipc_msg.h table). */
static int check_header(const struct ipc_hdr *h, uint32_t nfds)
{
	const char *k = ipc_kind_name(h->kind);
	uint16_t allowed = h->kind == IPC_REPLY ? IPC_F_ERROR : 0;

	if (h->kind < IPC_CALL || h->kind > IPC_RELEASE)
		return BAD("ipc: unknown message kind %u", h->kind);
	if (h->flags & ~allowed)
		return BAD("ipc: %s with unknown flags 0x%04x", k, h->flags & ~allowed);
	switch (h->kind) {
	case IPC_CALL:
		if (!h->call_id)
			return BAD("ipc: CALL with call id 0");
		break;
	case IPC_ONEWAY:
		if (h->call_id)
			return BAD("ipc: ONEWAY with call id %u (must be 0)", h->call_id);
		break;
	case IPC_REPLY:
		if (!h->call_id)
			return BAD("ipc: REPLY with call id 0");
		if (h->object || h->method)
			return BAD("ipc: REPLY with object %u, method %u (must be 0)", h->object,
				   h->method);
		if ((h->flags & IPC_F_ERROR) && nfds)
			return BAD("ipc: error REPLY carries %u fds", nfds);
		break;
	default: /* ACQUIRE, RELEASE */
		if (h->method || h->call_id)
			return BAD("ipc: %s with method %u, call id %u (must be 0)", k, h->method,
				   h->call_id);
		if (nfds)
			return BAD("ipc: %s carries %u fds", k, nfds);
		break;
	}
	return 0;
}

/* Bodies with a fixed shape: error REPLY and ACQUIRE / RELEASE. */
static int check_body(const struct ipc_msg *m)
{
	const struct ipc_field *f = m->fields;
	const char *k = ipc_kind_name(m->hdr.kind);

	if (m->hdr.kind == IPC_REPLY && (m->hdr.flags & IPC_F_ERROR)) {
		if (m->nfields != 3 || f[0].type != IPC_T_I32 || f[1].type != IPC_T_I32 ||
		    f[2].type != IPC_T_STRING)
			return BAD("ipc: error REPLY body must be (i32 exception, i32 code, "
				   "string message), got %u fields",
				   m->nfields);
		if (f[0].v.i32 == 0)
			return BAD("ipc: error REPLY with exception 0");
	} else if (m->hdr.kind == IPC_ACQUIRE || m->hdr.kind == IPC_RELEASE) {
		if (m->nfields != 1 || f[0].type != IPC_T_U32)
			return BAD("ipc: %s body must be one u32 count, got %u fields", k,
				   m->nfields);
		if (f[0].v.u32 == 0)
			return BAD("ipc: %s of 0 references", k);
	}
	return 0;
}

/* One field at @off (the tag), appended to @m; *off moves past it. */
static int decode_field(struct ipc_msg *m, const uint8_t *p, size_t len, size_t *off, size_t nfds,
			bool *fd_used)
{
	size_t at = *off, left = len - at - 1, need;
	unsigned idx = m->nfields, type = p[at];
	const uint8_t *q = p + at + 1;
	struct ipc_field *f;
	uint32_t n, i;
	int r;

	if (type < IPC_T_I32 || type > IPC_T_NULL)
		return BAD("ipc: field %u at offset %zu has unknown type tag 0x%02x", idx, at,
			   type);
	need = type == IPC_T_STRING || type == IPC_T_BYTES ? 4 : fixed_size(type);
	if (left < need)
		return BAD("ipc: field %u (%s) at offset %zu is truncated: %zu of %zu bytes", idx,
			   ipc_type_name(type), at, left, need);
	if (m->nfields >= IPC_MSG_MAX_FIELDS)
		return avf_err_set(-E2BIG, AVF_EX_BAD_PARCELABLE, "ipc: more than %u fields",
				   IPC_MSG_MAX_FIELDS);
	r = grow_fields(m);
	if (r < 0)
		return r;
	f = &m->fields[m->nfields];
	memset(f, 0, sizeof(*f));
	f->type = (uint8_t)type;
	switch (type) {
	case IPC_T_I32:
	case IPC_T_U32:
	case IPC_T_OBJECT: f->v.u32 = get32(q); break;
	case IPC_T_I64: f->v.i64 = (int64_t)get64(q); break;
	case IPC_T_BOOL:
		if (q[0] > 1)
			return BAD("ipc: field %u (bool) at offset %zu has value %u", idx, at,
				   q[0]);
		f->v.b = q[0];
		break;
	case IPC_T_FD:
		i = get32(q);
		if (i >= nfds)
			return BAD(
			    "ipc: field %u: fd index %u out of range (packet carried %zu fds)", idx,
			    i, nfds);
		if (fd_used[i])
			return BAD("ipc: field %u: fd index %u named twice", idx, i);
		fd_used[i] = true;
		f->v.u32 = i;
		break;
	case IPC_T_STRING:
	case IPC_T_BYTES:
		n = get32(q);
		if (n > left - 4)
			return BAD("ipc: field %u (%s) at offset %zu: length %u runs past the end "
				   "(%zu bytes left)",
				   idx, ipc_type_name(type), at, n, left - 4);
		q += 4;
		if (type == IPC_T_STRING) {
			const uint8_t *z = memchr(q, 0, n);
			size_t ok;

			if (z)
				return BAD("ipc: field %u (string) at offset %zu has a NUL at byte "
					   "%zu",
					   idx, at, (size_t)(z - q));
			ok = ipc_utf8_valid_prefix(q, n);
			if (ok != n)
				return BAD("ipc: field %u (string) at offset %zu is not UTF-8 at "
					   "byte %zu",
					   idx, at, ok);
		}
		/* The arena was sized for the whole packet: no growth, no failure here. */
		f->len = n;
		f->v.off = m->data_len;
		if (n)
			memcpy(m->data + m->data_len, q, n);
		m->data_len += n;
		if (type == IPC_T_STRING)
			m->data[m->data_len++] = 0;
		need = 4 + n;
		break;
	default: /* IPC_T_NULL */ break;
	}
	m->nfields++;
	*off = at + 1 + need;
	return 0;
}

int ipc_msg_decode(const void *buf, size_t len, const int *fds, size_t nfds, struct ipc_msg **ret)
{
	const uint8_t *p = buf;
	struct ipc_msg *m = NULL;
	struct ipc_hdr h;
	uint32_t magic, length, hnfds;
	bool fd_used[IPC_MSG_MAX_FDS] = {false}; /* by index: named by a field yet */
	size_t off = IPC_HDR_SIZE;
	int r;

	if ((!p && len) || (!fds && nfds) || !ret)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "ipc_msg_decode: invalid argument");
	if (len > IPC_MSG_MAX)
		return avf_err_set(-E2BIG, AVF_EX_BAD_PARCELABLE,
				   "ipc: packet of %zu bytes exceeds the %u-byte limit", len,
				   IPC_MSG_MAX);
	if (nfds > IPC_MSG_MAX_FDS)
		return avf_err_set(-E2BIG, AVF_EX_BAD_PARCELABLE,
				   "ipc: packet carried %zu fds, the limit is %u", nfds,
				   IPC_MSG_MAX_FDS);
	if (len < IPC_HDR_SIZE)
		return BAD("ipc: packet of %zu bytes is shorter than the %u-byte header", len,
			   IPC_HDR_SIZE);
	magic = get32(p);
	if (magic != IPC_MAGIC)
		return avf_err_set(-EPROTO, AVF_EX_BAD_PARCELABLE,
				   "ipc: bad magic 0x%08x (expected 0x%08x)", magic, IPC_MAGIC);
	length = get32(p + 4);
	if (length != len)
		return BAD("ipc: header says %u bytes, packet has %zu", length, len);
	h.kind = get16(p + 8);
	h.flags = get16(p + 10);
	h.object = get32(p + 12);
	h.method = get32(p + 16);
	h.call_id = get32(p + 20);
	hnfds = get32(p + 24);
	if (hnfds > IPC_MSG_MAX_FDS)
		return avf_err_set(-E2BIG, AVF_EX_BAD_PARCELABLE,
				   "ipc: header says %u fds, the limit is %u", hnfds,
				   IPC_MSG_MAX_FDS);
	if (hnfds != nfds)
		return BAD("ipc: header says %u fds, packet carried %zu", hnfds, nfds);
	r = check_header(&h, hnfds);
	if (r < 0)
		return r;

	r = ipc_msg_new(&m);
	if (r < 0)
		return r;
	m->hdr = h;
	/* Every payload byte costs at least as much on the wire, NULs included. */
	if (len > IPC_HDR_SIZE) {
		m->data = malloc(len - IPC_HDR_SIZE);
		if (!m->data) {
			r = avf_err_service(-ENOMEM, "ipc: out of memory decoding a message");
			goto fail;
		}
		m->data_cap = len - IPC_HDR_SIZE;
	}
	while (off < len) {
		r = decode_field(m, p, len, &off, nfds, fd_used);
		if (r < 0)
			goto fail;
	}
	for (size_t i = 0; i < nfds; i++)
		if (!fd_used[i]) {
			r = BAD("ipc: fd %zu of %zu is not named by any field", i, nfds);
			goto fail;
		}
	r = check_body(m);
	if (r < 0)
		goto fail;
	if (nfds)
		memcpy(m->fds, fds, nfds * sizeof(*fds));
	m->nfds = (unsigned)nfds;
	m->wire_len = len;
	*ret = m;
	return 0;
fail:
	ipc_msg_free(m); /* owns no fds yet */
	return r;
}
