/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the IPC message decoder (core/ipc/ipc_msg.c): every packet a
 * peer process sends goes through ipc_msg_decode first.
 *
 * Input: fuzz_packet.h (byte 0: fds received, then the packet). A refusal must be one of
 * the header's codes with AVF_EX_BAD_PARCELABLE and one line starting "ipc: ", and leave
 * the fds with the caller. An accepted packet must keep the header's promises, checked
 * here (a violation traps like a crash):
 *   - per-kind rules: known kind, flags only on REPLY, call ids, fixed bodies of error
 *     replies and ACQUIRE / RELEASE;
 *   - decode then encode gives back the same bytes;
 *   - the typed getters: each field reads with its own getter and with no other one (a
 *     wrong getter fails with -EBADMSG and leaves the cursor), strings are NUL-free UTF-8
 *     of their wire length, fds are the packet's (close-on-exec, taken once), and the end
 *     is where the fields end;
 *   - building the values read with the ipc_msg_put_*() builders gives the same bytes
 *     again (when the fd fields name their fds in order, as a builder does);
 *   - every fd closed once the message and the fds taken are gone.
 * Seeds: fuzz/corpus/ipc_msg/, written by fuzz_seeds (docs/fuzzing.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "fuzz_packet.h"
#include "ipc/ipc_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* UTF-8 as the header defines it, written apart from the codec's own checker
 * (ipc_utf8_valid_prefix) so that a mistake there is not repeated here. */
static bool utf8_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		k = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
		if (c < 0xc2 || c > 0xf4 || n - i <= k)
			return false;
		cp = c & (0x3f >> k);
		for (size_t j = 1; j <= k; j++) {
			if (((unsigned char)s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | ((unsigned char)s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

static void check_refusal(int r)
{
	const struct avf_error *e = avf_err_last();

	FUZZ_CHECK(r == -EBADMSG || r == -E2BIG || r == -EPROTO || r == -ENOMEM);
	FUZZ_CHECK(e->err == r && !strchr(e->msg, '\n'));
	if (r != -ENOMEM)
		FUZZ_CHECK(e->ex == AVF_EX_BAD_PARCELABLE && strncmp(e->msg, "ipc: ", 5) == 0);
}

/* The header's per-kind table, on what the decoder accepted. */
static void check_kind_rules(struct ipc_msg *m, size_t nfds)
{
	const struct ipc_hdr *h = ipc_msg_hdr(m);
	int32_t ex, code;
	uint32_t count;
	const char *msg;

	FUZZ_CHECK(h->kind >= IPC_CALL && h->kind <= IPC_RELEASE);
	FUZZ_CHECK(h->flags == 0 || (h->kind == IPC_REPLY && h->flags == IPC_F_ERROR));
	switch (h->kind) {
	case IPC_CALL: FUZZ_CHECK(h->call_id != 0); break;
	case IPC_ONEWAY: FUZZ_CHECK(h->call_id == 0); break;
	case IPC_REPLY:
		FUZZ_CHECK(h->call_id != 0 && h->object == 0 && h->method == 0);
		if (h->flags & IPC_F_ERROR) {
			FUZZ_CHECK(nfds == 0 && ipc_msg_nfields(m) == 3);
			FUZZ_CHECK(ipc_msg_get_i32(m, &ex) == 0 && ex != 0);
			FUZZ_CHECK(ipc_msg_get_i32(m, &code) == 0);
			FUZZ_CHECK(ipc_msg_get_string(m, &msg) == 0);
		}
		break;
	default:
		FUZZ_CHECK(h->method == 0 && h->call_id == 0 && nfds == 0);
		FUZZ_CHECK(ipc_msg_nfields(m) == 1);
		FUZZ_CHECK(ipc_msg_get_u32(m, &count) == 0 && count >= 1);
		break;
	}
	ipc_msg_rewind(m);
}

static void check_reencode(const struct ipc_msg *m, const uint8_t *in, size_t len)
{
	static uint8_t out[IPC_MSG_MAX];
	size_t olen = 0;

	FUZZ_CHECK(ipc_msg_wire_len(m) == len);
	FUZZ_CHECK(ipc_msg_encode(m, ipc_msg_hdr(m), out, sizeof(out), &olen) == 0);
	FUZZ_CHECK(olen == len && memcmp(out, in, len) == 0);
}

/* A getter for a type other than @t, run on a field of type @t: must refuse, not move. */
static void check_wrong_getter(struct ipc_msg *m, enum ipc_type t, unsigned field)
{
	enum ipc_type other = (enum ipc_type)(IPC_T_I32 + (t + field) % IPC_T_NULL);
	const void *b;
	const char *s;
	size_t n;
	int64_t l;
	uint32_t u;
	int32_t i;
	int fd, r;
	bool v;

	if (other == t || (t == IPC_T_NULL && other == IPC_T_STRING))
		return; /* the right getter, or the nullable string getter that takes NULL */
	switch (other) {
	case IPC_T_I32: r = ipc_msg_get_i32(m, &i); break;
	case IPC_T_U32: r = ipc_msg_get_u32(m, &u); break;
	case IPC_T_I64: r = ipc_msg_get_i64(m, &l); break;
	case IPC_T_BOOL: r = ipc_msg_get_bool(m, &v); break;
	case IPC_T_STRING: r = ipc_msg_get_string_nullable(m, &s); break;
	case IPC_T_BYTES: r = ipc_msg_get_bytes(m, &b, &n); break;
	case IPC_T_FD: r = ipc_msg_get_fd(m, &fd); break;
	case IPC_T_OBJECT: r = ipc_msg_get_object_id(m, &u); break;
	default: r = ipc_msg_get_null(m); break;
	}
	FUZZ_CHECK(r == -EBADMSG && avf_err_last()->err == -EBADMSG);
	FUZZ_CHECK(avf_err_last()->ex == (t == IPC_T_NULL ? AVF_EX_NULL_POINTER
							 : AVF_EX_BAD_PARCELABLE));
	FUZZ_CHECK(ipc_msg_peek(m) == t);
}

/*
 * Reads field @k (of type @t) with its getter into @b, the rebuilt message. Returns
 * the fd index an FD field named, -1 otherwise.
 */
static int read_field(struct ipc_msg *m, const struct fuzz_packet *p, enum ipc_type t,
		      struct ipc_msg *b)
{
	const int *fds;
	unsigned nfds;
	const void *bytes;
	const char *s;
	size_t n;
	int64_t l;
	uint32_t u;
	int32_t i;
	int fd, idx = -1;
	bool v;

	switch (t) {
	case IPC_T_I32:
		FUZZ_CHECK(ipc_msg_get_i32(m, &i) == 0 && ipc_msg_put_i32(b, i) == 0);
		break;
	case IPC_T_U32:
		FUZZ_CHECK(ipc_msg_get_u32(m, &u) == 0 && ipc_msg_put_u32(b, u) == 0);
		break;
	case IPC_T_I64:
		FUZZ_CHECK(ipc_msg_get_i64(m, &l) == 0 && ipc_msg_put_i64(b, l) == 0);
		break;
	case IPC_T_BOOL:
		FUZZ_CHECK(ipc_msg_get_bool(m, &v) == 0 && ipc_msg_put_bool(b, v) == 0);
		break;
	case IPC_T_STRING:
		FUZZ_CHECK(ipc_msg_get_string(m, &s) == 0 && s);
		FUZZ_CHECK(utf8_ok(s, strlen(s)) && ipc_msg_put_string(b, s) == 0);
		break;
	case IPC_T_BYTES:
		FUZZ_CHECK(ipc_msg_get_bytes(m, &bytes, &n) == 0 && bytes);
		FUZZ_CHECK(ipc_msg_put_bytes(b, bytes, n) == 0);
		break;
	case IPC_T_FD:
		fds = ipc_msg_fds(m, &nfds);
		/* The index is not readable through the API: find the slot the take empties. */
		FUZZ_CHECK(ipc_msg_get_fd(m, &fd) == 0 && fuzz_packet_has_fd(p, fd));
		FUZZ_CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC);
		for (unsigned j = 0; j < nfds; j++)
			if (p->fds[j] == fd)
				idx = (int)j;
		FUZZ_CHECK(idx >= 0 && fds[idx] == -1);
		FUZZ_CHECK(ipc_msg_put_fd(b, fd) == 0);
		close(fd);
		break;
	case IPC_T_OBJECT:
		FUZZ_CHECK(ipc_msg_get_object_id(m, &u) == 0 && ipc_msg_put_object_id(b, u) == 0);
		break;
	case IPC_T_NULL:
		/* Both ways of reading a NULL: as NULL, and as a nullable string. */
		FUZZ_CHECK(ipc_msg_get_string_nullable(m, &s) == 0 && s == NULL);
		FUZZ_CHECK(ipc_msg_put_null(b) == 0);
		break;
	default: FUZZ_CHECK(0);
	}
	return idx;
}

static void check_getters(struct ipc_msg *m, const struct fuzz_packet *p)
{
	static uint8_t out[IPC_MSG_MAX];
	unsigned n = ipc_msg_nfields(m), nfds, next_fd = 0, k;
	bool fds_in_order = true;
	struct ipc_msg *b = NULL;
	const int *fds;
	size_t olen = 0;
	int fd;

	FUZZ_CHECK(ipc_msg_new(&b) == 0);
	for (k = 0; k < n; k++) {
		enum ipc_type t = ipc_msg_peek(m);
		int idx;

		FUZZ_CHECK(t >= IPC_T_I32 && t <= IPC_T_NULL);
		check_wrong_getter(m, t, k);
		idx = read_field(m, p, t, b);
		if (idx >= 0 && (unsigned)idx != next_fd++)
			fds_in_order = false;
	}
	FUZZ_CHECK(ipc_msg_peek(m) == IPC_T_END && ipc_msg_get_end(m) == 0);
	FUZZ_CHECK(ipc_msg_skip(m) == -EBADMSG);
	/* Every fd was taken, once. */
	fds = ipc_msg_fds(m, &nfds);
	FUZZ_CHECK(nfds == p->nfds);
	for (k = 0; k < nfds; k++)
		FUZZ_CHECK(fds[k] == -1);
	ipc_msg_rewind(m);
	while (ipc_msg_peek(m) != IPC_T_END && ipc_msg_peek(m) != IPC_T_FD)
		FUZZ_CHECK(ipc_msg_skip(m) == 0);
	if (ipc_msg_peek(m) == IPC_T_FD)
		FUZZ_CHECK(ipc_msg_get_fd(m, &fd) == -EBADF);

	FUZZ_CHECK(ipc_msg_wire_len(b) == p->len && ipc_msg_nfields(b) == n);
	FUZZ_CHECK(ipc_msg_encode(b, ipc_msg_hdr(m), out, sizeof(out), &olen) == 0);
	FUZZ_CHECK(olen == p->len);
	if (fds_in_order)
		FUZZ_CHECK(memcmp(out, p->bytes, olen) == 0);
	ipc_msg_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_packet p;
	struct ipc_msg *m = NULL;
	int r;

	if (!fuzz_packet_open(&p, data, size))
		return 0;
	r = ipc_msg_decode(p.bytes, p.len, p.fds, p.nfds, &m);
	if (r < 0) {
		check_refusal(r);
		FUZZ_CHECK(m == NULL);
		fuzz_packet_check_open(&p);
		fuzz_packet_close(&p);
		return 0;
	}
	check_kind_rules(m, p.nfds);
	check_reencode(m, p.bytes, p.len);
	check_getters(m, &p);
	ipc_msg_free(m);
	fuzz_packet_check_closed(&p);
	return 0;
}
