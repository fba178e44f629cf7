/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ipc wire format and codec: exact bytes written out from the spec in
 * ipc_msg.h, round trips of every field type, getter errors, builder limits, a
 * hand-written table of packets the decoder must refuse, and a deterministic
 * mutation loop (no crash, no leak, and decode->encode gives the same bytes).
 */
#include "cmocka_wrap.h"
#include "test_fds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "ipc/ipc_msg.h"

static void assert_err(int r, int err, const char *substr)
{
	assert_int_equal(r, err);
	assert_int_equal(avf_err_last()->err, err);
	if (!strstr(avf_err_last()->msg, substr))
		fail_msg("message '%s' lacks '%s'", avf_err_last()->msg, substr);
}

/* ---- hand-built packets ---- */

struct pkt {
	uint8_t b[IPC_MSG_MAX + 64];
	size_t len;
};

static void p8(struct pkt *p, uint8_t v)
{
	p->b[p->len++] = v;
}

static void p16(struct pkt *p, uint16_t v)
{
	p8(p, (uint8_t)v);
	p8(p, (uint8_t)(v >> 8));
}

static void p32(struct pkt *p, uint32_t v)
{
	p16(p, (uint16_t)v);
	p16(p, (uint16_t)(v >> 16));
}

static void pbytes(struct pkt *p, const void *s, size_t n)
{
	memcpy(p->b + p->len, s, n);
	p->len += n;
}

/* Header with the length patched by pkt_end(). */
static void pkt_hdr(struct pkt *p, uint16_t kind, uint16_t flags, uint32_t obj, uint32_t method,
		    uint32_t call, uint32_t nfds)
{
	p->len = 0;
	p32(p, IPC_MAGIC);
	p32(p, 0);
	p16(p, kind);
	p16(p, flags);
	p32(p, obj);
	p32(p, method);
	p32(p, call);
	p32(p, nfds);
}

static void pkt_end(struct pkt *p)
{
	uint32_t n = (uint32_t)p->len;

	memcpy(p->b + 4, (uint8_t[]){n, n >> 8, n >> 16, n >> 24}, 4);
}

static void pkt_str(struct pkt *p, const char *s)
{
	p8(p, IPC_T_STRING);
	p32(p, (uint32_t)strlen(s));
	pbytes(p, s, strlen(s));
}

/* ---- exact bytes ---- */

static void test_exact_bytes(void **state)
{
	/* CALL object 1 method 2 call 3: i32 -2, string "ab", bool true, null, u32, i64. */
	static const uint8_t want[] = {
	    0x41, 0x56, 0x46, 0x31,                               /* "AVF1" */
	    0x39, 0x00, 0x00, 0x00,                               /* length 57 */
	    0x01, 0x00, 0x00, 0x00,                               /* CALL, flags 0 */
	    0x01, 0x00, 0x00, 0x00,                               /* object 1 */
	    0x02, 0x00, 0x00, 0x00,                               /* method 2 */
	    0x03, 0x00, 0x00, 0x00,                               /* call id 3 */
	    0x00, 0x00, 0x00, 0x00,                               /* no fds */
	    0x01, 0xfe, 0xff, 0xff, 0xff,                         /* i32 -2 */
	    0x05, 0x02, 0x00, 0x00, 0x00, 'a',  'b',              /* string "ab" */
	    0x04, 0x01,                                           /* bool true */
	    0x09,                                                 /* null */
	    0x02, 0x04, 0x03, 0x02, 0x01,                         /* u32 */
	    0x03, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x81, /* i64 */
	};
	struct ipc_hdr h = {.kind = IPC_CALL, .object = 1, .method = 2, .call_id = 3};
	struct ipc_msg *m, *d;
	uint8_t buf[128];
	const char *s;
	size_t len;
	int32_t i;
	int64_t l;

	assert_int_equal(sizeof(want), 57);
	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(ipc_msg_put_i32(m, -2), 0);
	assert_int_equal(ipc_msg_put_string(m, "ab"), 0);
	assert_int_equal(ipc_msg_put_bool(m, true), 0);
	assert_int_equal(ipc_msg_put_null(m), 0);
	assert_int_equal(ipc_msg_put_u32(m, 0x01020304), 0);
	assert_int_equal(ipc_msg_put_i64(m, (int64_t)0x8102030405060708ull), 0);
	assert_int_equal(ipc_msg_wire_len(m), sizeof(want));
	assert_int_equal(ipc_msg_encode(m, &h, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_err(ipc_msg_encode(m, &h, buf, sizeof(want) - 1, &len), -ENOBUFS, "buffer");
	m = ipc_msg_free(m);

	assert_int_equal(ipc_msg_decode(want, sizeof(want), NULL, 0, &d), 0);
	assert_int_equal(ipc_msg_hdr(d)->kind, IPC_CALL);
	assert_int_equal(ipc_msg_hdr(d)->object, 1);
	assert_int_equal(ipc_msg_hdr(d)->method, 2);
	assert_int_equal(ipc_msg_hdr(d)->call_id, 3);
	assert_int_equal(ipc_msg_nfields(d), 6);
	assert_int_equal(ipc_msg_get_i32(d, &i), 0);
	assert_int_equal(i, -2);
	assert_int_equal(ipc_msg_get_string(d, &s), 0);
	assert_string_equal(s, "ab");
	ipc_msg_rewind(d);
	assert_int_equal(ipc_msg_peek(d), IPC_T_I32);
	for (i = 0; i < 5; i++)
		assert_int_equal(ipc_msg_skip(d), 0);
	assert_int_equal(ipc_msg_get_i64(d, &l), 0);
	assert_true(l == (int64_t)0x8102030405060708ull);
	assert_int_equal(ipc_msg_get_end(d), 0);
	assert_err(ipc_msg_skip(d), -EBADMSG, "cannot skip field 6");
	ipc_msg_free(d);
}

/* ---- round trip of every type ---- */

static void fstat_same(int a, int b)
{
	struct stat sa, sb;

	assert_int_equal(fstat(a, &sa), 0);
	assert_int_equal(fstat(b, &sb), 0);
	assert_true(sa.st_ino == sb.st_ino);
	assert_true(sa.st_dev == sb.st_dev);
}

static void test_roundtrip(void **state)
{
	static const char utf8[] = "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80";
	static const uint8_t bin[] = {'a', 0, 'b', 0xff, 0x80};
	struct ipc_hdr h = {.kind = IPC_REPLY, .call_id = 77};
	int before = count_fds(), pfd[2], mfd, rx[3], fd;
	uint8_t buf[512], buf2[512];
	struct ipc_msg *m, *d;
	size_t len, len2, blen;
	const int *fds;
	const void *b;
	const char *s;
	unsigned nfds, i;
	uint32_t u;
	int32_t v;
	int64_t l;
	bool t;

	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	mfd = memfd_create("ipc-test", MFD_CLOEXEC);
	assert_true(mfd >= 0);

	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(ipc_msg_put_i32(m, INT32_MIN), 0);
	assert_int_equal(ipc_msg_put_i32(m, -1), 0);
	assert_int_equal(ipc_msg_put_u32(m, UINT32_MAX), 0);
	assert_int_equal(ipc_msg_put_i64(m, INT64_MIN), 0);
	assert_int_equal(ipc_msg_put_i64(m, 0x0123456789abcdefll), 0);
	assert_int_equal(ipc_msg_put_bool(m, true), 0);
	assert_int_equal(ipc_msg_put_bool(m, false), 0);
	assert_int_equal(ipc_msg_put_string(m, ""), 0);
	assert_int_equal(ipc_msg_put_string(m, utf8), 0);
	assert_int_equal(ipc_msg_put_string(m, NULL), 0); /* null */
	assert_int_equal(ipc_msg_put_bytes(m, bin, sizeof(bin)), 0);
	assert_int_equal(ipc_msg_put_bytes(m, NULL, 0), 0);
	assert_int_equal(ipc_msg_put_fd(m, pfd[0]), 0);
	assert_int_equal(ipc_msg_put_object_id(m, 7), 0);
	assert_int_equal(ipc_msg_put_fd(m, mfd), 0);
	assert_int_equal(ipc_msg_put_object_id(m, 0), 0);
	assert_int_equal(ipc_msg_put_fd(m, pfd[1]), 0);
	assert_int_equal(ipc_msg_put_null(m), 0);
	assert_int_equal(ipc_msg_nfields(m), 18);
	assert_int_equal(ipc_msg_encode(m, &h, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, ipc_msg_wire_len(m));
	fds = ipc_msg_fds(m, &nfds);
	assert_int_equal(nfds, 3);
	/* The message holds duplicates, O_CLOEXEC, not the caller's fds. */
	for (i = 0; i < 3; i++) {
		assert_true(fds[i] != pfd[0] && fds[i] != pfd[1] && fds[i] != mfd);
		assert_true(fcntl(fds[i], F_GETFD) & FD_CLOEXEC);
		/* What the kernel would install on the receiving side. */
		rx[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
		assert_true(rx[i] >= 0);
	}

	assert_int_equal(ipc_msg_decode(buf, len, rx, 3, &d), 0);
	assert_int_equal(ipc_msg_hdr(d)->kind, IPC_REPLY);
	assert_int_equal(ipc_msg_hdr(d)->call_id, 77);
	assert_int_equal(ipc_msg_get_i32(d, &v), 0);
	assert_int_equal(v, INT32_MIN);
	assert_int_equal(ipc_msg_get_i32(d, &v), 0);
	assert_int_equal(v, -1);
	assert_int_equal(ipc_msg_get_u32(d, &u), 0);
	assert_int_equal(u, UINT32_MAX);
	assert_int_equal(ipc_msg_get_i64(d, &l), 0);
	assert_true(l == INT64_MIN);
	assert_int_equal(ipc_msg_get_i64(d, &l), 0);
	assert_true(l == 0x0123456789abcdefll);
	assert_int_equal(ipc_msg_get_bool(d, &t), 0);
	assert_true(t);
	assert_int_equal(ipc_msg_get_bool(d, &t), 0);
	assert_false(t);
	assert_int_equal(ipc_msg_get_string(d, &s), 0);
	assert_string_equal(s, "");
	assert_int_equal(ipc_msg_get_string(d, &s), 0);
	assert_string_equal(s, utf8);
	assert_int_equal(ipc_msg_get_string_nullable(d, &s), 0);
	assert_null(s);
	assert_int_equal(ipc_msg_get_bytes(d, &b, &blen), 0);
	assert_int_equal(blen, sizeof(bin));
	assert_memory_equal(b, bin, sizeof(bin));
	assert_int_equal(ipc_msg_get_bytes(d, &b, &blen), 0);
	assert_int_equal(blen, 0);
	assert_non_null(b);
	assert_int_equal(ipc_msg_get_fd(d, &fd), 0);
	fstat_same(fd, pfd[0]);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	assert_int_equal(ipc_msg_get_object_id(d, &u), 0);
	assert_int_equal(u, 7);
	assert_int_equal(ipc_msg_get_fd(d, &fd), 0);
	fstat_same(fd, mfd);
	close(fd);
	assert_int_equal(ipc_msg_get_object_id(d, &u), 0);
	assert_int_equal(u, 0);
	/* Leave the last fd in the message: freeing it must close it. */
	assert_int_equal(ipc_msg_peek(d), IPC_T_FD);
	assert_int_equal(ipc_msg_skip(d), 0);
	assert_int_equal(ipc_msg_get_null(d), 0);
	assert_int_equal(ipc_msg_peek(d), IPC_T_END);
	assert_int_equal(ipc_msg_get_end(d), 0);

	/* Canonical: re-encoding the decoded message gives the same bytes. */
	assert_int_equal(ipc_msg_encode(d, ipc_msg_hdr(d), buf2, sizeof(buf2), &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(buf, buf2, len);

	ipc_msg_free(d);
	ipc_msg_free(m);
	close(pfd[0]);
	close(pfd[1]);
	close(mfd);
	assert_int_equal(count_fds(), before);
}

/* ---- getters ---- */

static void test_getter_errors(void **state)
{
	struct ipc_hdr h = {.kind = IPC_ONEWAY};
	int before = count_fds(), devnull, fd, fd2;
	struct ipc_msg *m, *d;
	uint8_t buf[256];
	const char *s = "untouched";
	size_t len;
	int32_t v = 99;
	bool t;

	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(ipc_msg_put_i32(m, 5), 0);
	assert_int_equal(ipc_msg_put_null(m), 0);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(devnull >= 0);
	assert_int_equal(ipc_msg_put_fd(m, devnull), 0);
	close(devnull);
	assert_int_equal(ipc_msg_encode(m, &h, buf, sizeof(buf), &len), 0);
	fd = fcntl(ipc_msg_fds(m, &(unsigned){0})[0], F_DUPFD_CLOEXEC, 3);
	assert_int_equal(ipc_msg_decode(buf, len, &fd, 1, &d), 0);
	m = ipc_msg_free(m);

	/* Wrong type: error names the field, cursor and @ret untouched. */
	assert_err(ipc_msg_get_string(d, &s), -EBADMSG, "field 0 is i32, expected string");
	assert_int_equal(avf_err_last()->ex, AVF_EX_BAD_PARCELABLE);
	assert_string_equal(s, "untouched");
	assert_err(ipc_msg_get_bool(d, &t), -EBADMSG, "field 0 is i32, expected bool");
	assert_err(ipc_msg_get_end(d), -EBADMSG, "3 unread fields after field 0");
	assert_int_equal(ipc_msg_get_i32(d, &v), 0);
	assert_int_equal(v, 5);
	/* Null where a value is required is EX_NULL_POINTER. */
	assert_err(ipc_msg_get_string(d, &s), -EBADMSG, "field 1 is null, expected string");
	assert_int_equal(avf_err_last()->ex, AVF_EX_NULL_POINTER);
	assert_err(ipc_msg_get_i32(d, &v), -EBADMSG, "field 1 is null, expected i32");
	assert_int_equal(ipc_msg_get_string_nullable(d, &s), 0);
	assert_null(s);
	assert_err(ipc_msg_get_i32(d, &v), -EBADMSG, "field 2 is fd, expected i32");
	assert_int_equal(ipc_msg_get_fd(d, &fd2), 0);
	assert_int_equal(fd2, fd);
	close(fd2);
	/* Past the end. */
	assert_err(ipc_msg_get_i32(d, &v), -EBADMSG, "expected i32 as field 3, the message has 3");
	assert_int_equal(ipc_msg_peek(d), IPC_T_END);
	/* A taken fd cannot be taken twice. */
	ipc_msg_rewind(d);
	assert_int_equal(ipc_msg_get_i32(d, &v), 0);
	assert_int_equal(ipc_msg_get_null(d), 0);
	assert_err(ipc_msg_get_fd(d, &fd2), -EBADF, "already taken");
	assert_int_equal(ipc_msg_fds(d, &(unsigned){0})[0], -1);
	ipc_msg_free(d);
	assert_int_equal(count_fds(), before);
	assert_null(ipc_msg_free(NULL));
}

/* ---- builder limits ---- */

/*
 * As many fds as a packet carries (IPC_MSG_MAX_FDS: a Microdroid-sized createVm has
 * dozens), each named once, through encode and decode: every fd field gets its own file
 * back, in order. Two distinct files alternate so that a mix-up of indexes shows.
 */
static void test_max_fds_roundtrip(void **state)
{
	static uint8_t buf[IPC_MSG_MAX];
	struct ipc_hdr h = {.kind = IPC_ONEWAY, .method = 1};
	int before = count_fds(), files[2], fds[IPC_MSG_MAX_FDS], fd;
	struct ipc_msg *m, *d = NULL;
	const int *own;
	unsigned n;
	size_t len;

	files[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	files[1] = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	assert_true(files[0] >= 0 && files[1] >= 0);
	assert_int_equal(ipc_msg_new(&m), 0);
	for (unsigned i = 0; i < IPC_MSG_MAX_FDS; i++)
		assert_int_equal(ipc_msg_put_fd(m, files[i % 2]), 0);
	assert_int_equal(ipc_msg_encode(m, &h, buf, sizeof(buf), &len), 0);
	own = ipc_msg_fds(m, &n);
	assert_int_equal(n, IPC_MSG_MAX_FDS);
	for (unsigned i = 0; i < n; i++)
		assert_true((fds[i] = fcntl(own[i], F_DUPFD_CLOEXEC, 3)) >= 0);
	ipc_msg_free(m);
	if (ipc_msg_decode(buf, len, fds, IPC_MSG_MAX_FDS, &d) < 0)
		fail_msg("decode: %s", avf_err_last()->msg);
	for (unsigned i = 0; i < IPC_MSG_MAX_FDS; i++) {
		assert_int_equal(ipc_msg_get_fd(d, &fd), 0);
		fstat_same(fd, files[i % 2]);
		close(fd);
	}
	assert_int_equal(ipc_msg_get_end(d), 0);
	ipc_msg_free(d);
	close(files[0]);
	close(files[1]);
	assert_int_equal(count_fds(), before);
}

static void test_builder_limits(void **state)
{
	struct ipc_msg *m;
	char *big = malloc(IPC_MSG_MAX + 1);
	int before = count_fds();
	size_t room;
	unsigned i;

	assert_non_null(big);
	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(ipc_msg_wire_len(m), IPC_HDR_SIZE);

	/* Not UTF-8: overlong '/', a lone continuation byte, a surrogate, past U+10FFFF. */
	assert_err(ipc_msg_put_string(m, "a\xc0\xaf"), -EINVAL, "not valid UTF-8 at byte 1");
	assert_err(ipc_msg_put_string(m, "\x80"), -EINVAL, "UTF-8");
	assert_err(ipc_msg_put_string(m, "\xed\xa0\x80"), -EINVAL, "UTF-8");
	assert_err(ipc_msg_put_string(m, "\xf4\x90\x80\x80"), -EINVAL, "UTF-8");
	assert_err(ipc_msg_put_string(m, "\xe2\x9c"), -EINVAL, "UTF-8");
	assert_err(ipc_msg_put_bytes(m, NULL, 3), -EINVAL, "NULL pointer");
	assert_err(ipc_msg_put_fd(m, -1), -EBADF, "cannot duplicate fd -1");
	assert_int_equal(ipc_msg_nfields(m), 0);

	/* Size: a string that fills the packet exactly fits, one more byte does not. */
	room = IPC_MSG_MAX - IPC_HDR_SIZE - 5;
	memset(big, 'x', room + 1);
	big[room + 1] = 0;
	assert_err(ipc_msg_put_string(m, big), -E2BIG, "would exceed 65536 bytes");
	assert_int_equal(ipc_msg_wire_len(m), IPC_HDR_SIZE);
	big[room] = 0;
	assert_int_equal(ipc_msg_put_string(m, big), 0);
	assert_int_equal(ipc_msg_wire_len(m), IPC_MSG_MAX);
	assert_err(ipc_msg_put_null(m), -E2BIG, "would exceed");
	assert_err(ipc_msg_put_bytes(m, big, IPC_MSG_MAX + 1), -E2BIG, "exceeds the 65536-byte");
	assert_int_equal(ipc_msg_nfields(m), 1);
	m = ipc_msg_free(m);

	/* Fds: IPC_MSG_MAX_FDS (253) fit, one more does not, and the message is unchanged. */
	assert_int_equal(ipc_msg_new(&m), 0);
	for (i = 0; i < IPC_MSG_MAX_FDS; i++)
		assert_int_equal(ipc_msg_put_fd(m, 2), 0);
	assert_err(ipc_msg_put_fd(m, 2), -E2BIG, "at most 253 fds");
	assert_int_equal(ipc_msg_nfields(m), IPC_MSG_MAX_FDS);
	m = ipc_msg_free(m);
	assert_int_equal(count_fds(), before);

	/* Fields: 4096 fit. */
	assert_int_equal(ipc_msg_new(&m), 0);
	for (i = 0; i < IPC_MSG_MAX_FIELDS; i++)
		assert_int_equal(ipc_msg_put_null(m), 0);
	assert_err(ipc_msg_put_null(m), -E2BIG, "exceed 4096 fields");
	ipc_msg_free(m);
	free(big);
}

/* ---- decoder rejection table ---- */

enum row_fds { FD_NONE, FD_ONE, FD_TWO, FD_OVER_LIMIT };

struct row {
	const char *name;
	void (*build)(struct pkt *p);
	enum row_fds fds;
	int err;
	const char *msg;
};

static void b_empty(struct pkt *p)
{
	p->len = 0;
}

static void b_short_hdr(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 0);
	p->len = 27;
}

static void b_bad_magic(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 0);
	pkt_end(p);
	p->b[3] = '2'; /* "AVF2": a future version */
}

static void b_len_long(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 0);
	pkt_end(p);
	p->b[4] = 40;
}

static void b_len_short(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 0);
	p8(p, IPC_T_NULL);
	p8(p, IPC_T_NULL);
	pkt_end(p);
	p->b[4] = 29;
}

static void b_oversized(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 0);
	memset(p->b + p->len, IPC_T_NULL, IPC_MSG_MAX + 1 - p->len);
	p->len = IPC_MSG_MAX + 1;
	pkt_end(p);
}

static void b_kind0(struct pkt *p)
{
	pkt_hdr(p, 0, 0, 0, 0, 1, 0);
	pkt_end(p);
}

static void b_kind6(struct pkt *p)
{
	pkt_hdr(p, 6, 0, 0, 0, 1, 0);
	pkt_end(p);
}

static void b_call_flags(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, IPC_F_ERROR, 0, 0, 1, 0);
	pkt_end(p);
}

static void b_reply_flags(struct pkt *p)
{
	pkt_hdr(p, IPC_REPLY, 0x8000, 0, 0, 1, 0);
	pkt_end(p);
}

static void b_call_id0(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 0, 0);
	pkt_end(p);
}

static void b_oneway_id(struct pkt *p)
{
	pkt_hdr(p, IPC_ONEWAY, 0, 0, 0, 5, 0);
	pkt_end(p);
}

static void b_reply_object(struct pkt *p)
{
	pkt_hdr(p, IPC_REPLY, 0, 3, 0, 5, 0);
	pkt_end(p);
}

static void b_hdr3_got1(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 3);
	p8(p, IPC_T_FD);
	p32(p, 0);
	pkt_end(p);
}

static void b_hdr0_got1(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 0);
	pkt_end(p);
}

static void b_hdr_over(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, IPC_MSG_MAX_FDS + 1);
	pkt_end(p);
}

/* More fds than a packet may carry (only a caller of the decoder can hand it that many:
 * the kernel passes at most SCM_MAX_FD, the limit, per sendmsg). */
static void b_got_over(struct pkt *p)
{
	unsigned i;

	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, IPC_MSG_MAX_FDS + 1);
	for (i = 0; i < IPC_MSG_MAX_FDS + 1; i++) {
		p8(p, IPC_T_FD);
		p32(p, i);
	}
	pkt_end(p);
}

static void b_str_past_end(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 0);
	p8(p, IPC_T_STRING);
	p32(p, 100);
	pbytes(p, "only twenty bytes...", 20);
	pkt_end(p);
}

static void b_str_len_huge(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 0);
	p8(p, IPC_T_BYTES);
	p32(p, 0xffffffff);
	pkt_end(p);
}

static void b_str_nul(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 0);
	p8(p, IPC_T_STRING);
	p32(p, 3);
	pbytes(p, "a\0b", 3);
	pkt_end(p);
}

static void b_str_utf8(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 0);
	pkt_str(p, "ok");
	pkt_str(p, "x\xc0\xaf");
	pkt_end(p);
}

static void b_tag0(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 0);
	p8(p, 0);
	pkt_end(p);
}

static void b_tag10(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 0);
	p8(p, IPC_T_NULL);
	p8(p, 0x0a);
	pkt_end(p);
}

static void b_i64_short(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 0);
	p8(p, IPC_T_I64);
	p32(p, 1);
	pkt_end(p);
}

static void b_bool2(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 0);
	p8(p, IPC_T_BOOL);
	p8(p, 2);
	pkt_end(p);
}

static void b_fd_range(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 1);
	p8(p, IPC_T_FD);
	p32(p, 1);
	pkt_end(p);
}

static void b_fd_twice(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 2);
	p8(p, IPC_T_FD);
	p32(p, 0);
	p8(p, IPC_T_FD);
	p32(p, 0);
	pkt_end(p);
}

static void b_fd_unnamed(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 2);
	p8(p, IPC_T_FD);
	p32(p, 0);
	pkt_end(p);
}

static void b_trailing_byte(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 0);
	pkt_str(p, "fine");
	p8(p, 0xff);
	pkt_end(p);
}

static void b_trailing_partial(struct pkt *p)
{
	pkt_hdr(p, IPC_CALL, 0, 0, 0, 1, 0);
	p8(p, IPC_T_I32);
	p8(p, 1);
	p8(p, 2);
	pkt_end(p);
}

static void b_err_reply_extra(struct pkt *p)
{
	pkt_hdr(p, IPC_REPLY, IPC_F_ERROR, 0, 0, 9, 0);
	p8(p, IPC_T_I32);
	p32(p, (uint32_t)AVF_EX_ILLEGAL_STATE);
	p8(p, IPC_T_I32);
	p32(p, 0);
	pkt_str(p, "VM is not running");
	p8(p, IPC_T_NULL);
	pkt_end(p);
}

static void b_err_reply_ex0(struct pkt *p)
{
	pkt_hdr(p, IPC_REPLY, IPC_F_ERROR, 0, 0, 9, 0);
	p8(p, IPC_T_I32);
	p32(p, 0);
	p8(p, IPC_T_I32);
	p32(p, 0);
	pkt_str(p, "no error?");
	pkt_end(p);
}

static void b_err_reply_fd(struct pkt *p)
{
	pkt_hdr(p, IPC_REPLY, IPC_F_ERROR, 0, 0, 9, 1);
	p8(p, IPC_T_I32);
	p32(p, (uint32_t)AVF_EX_SECURITY);
	p8(p, IPC_T_I32);
	p32(p, 0);
	pkt_str(p, "denied");
	p8(p, IPC_T_FD);
	p32(p, 0);
	pkt_end(p);
}

static void b_release0(struct pkt *p)
{
	pkt_hdr(p, IPC_RELEASE, 0, 4, 0, 0, 0);
	p8(p, IPC_T_U32);
	p32(p, 0);
	pkt_end(p);
}

static void b_release_i32(struct pkt *p)
{
	pkt_hdr(p, IPC_RELEASE, 0, 4, 0, 0, 0);
	p8(p, IPC_T_I32);
	p32(p, 1);
	pkt_end(p);
}

static void b_acquire_call_id(struct pkt *p)
{
	pkt_hdr(p, IPC_ACQUIRE, 0, 4, 0, 8, 0);
	p8(p, IPC_T_U32);
	p32(p, 1);
	pkt_end(p);
}

static void b_fields4097(struct pkt *p)
{
	unsigned i;

	pkt_hdr(p, IPC_ONEWAY, 0, 0, 0, 0, 0);
	for (i = 0; i < 4097; i++)
		p8(p, IPC_T_NULL);
	pkt_end(p);
}

static const struct row rows[] = {
    {"empty packet", b_empty, FD_NONE, -EBADMSG,
     "packet of 0 bytes is shorter than the 28-byte header"},
    {"truncated header", b_short_hdr, FD_NONE, -EBADMSG, "packet of 27 bytes is shorter"},
    {"bad magic", b_bad_magic, FD_NONE, -EPROTO, "bad magic 0x32465641"},
    {"length past packet", b_len_long, FD_NONE, -EBADMSG, "header says 40 bytes, packet has 28"},
    {"length short of packet", b_len_short, FD_NONE, -EBADMSG,
     "header says 29 bytes, packet has 30"},
    {"oversized", b_oversized, FD_NONE, -E2BIG,
     "packet of 65537 bytes exceeds the 65536-byte limit"},
    {"kind 0", b_kind0, FD_NONE, -EBADMSG, "unknown message kind 0"},
    {"kind 6", b_kind6, FD_NONE, -EBADMSG, "unknown message kind 6"},
    {"CALL with error flag", b_call_flags, FD_NONE, -EBADMSG, "CALL with unknown flags 0x0001"},
    {"REPLY with flag 0x8000", b_reply_flags, FD_NONE, -EBADMSG, "REPLY with unknown flags 0x8000"},
    {"CALL id 0", b_call_id0, FD_NONE, -EBADMSG, "CALL with call id 0"},
    {"ONEWAY with call id", b_oneway_id, FD_NONE, -EBADMSG, "ONEWAY with call id 5 (must be 0)"},
    {"REPLY with object", b_reply_object, FD_NONE, -EBADMSG, "REPLY with object 3"},
    {"header 3 fds, got 1", b_hdr3_got1, FD_ONE, -EBADMSG, "header says 3 fds, packet carried 1"},
    {"header 0 fds, got 1", b_hdr0_got1, FD_ONE, -EBADMSG, "header says 0 fds, packet carried 1"},
    {"header 254 fds", b_hdr_over, FD_NONE, -E2BIG, "header says 254 fds, the limit is 253"},
    {"254 fds received", b_got_over, FD_OVER_LIMIT, -E2BIG,
     "packet carried 254 fds, the limit is 253"},
    {"string past end", b_str_past_end, FD_NONE, -EBADMSG,
     "field 0 (string) at offset 28: length 100 runs past the end (20 bytes left)"},
    {"bytes length 2^32-1", b_str_len_huge, FD_NONE, -EBADMSG,
     "length 4294967295 runs past the end (0 bytes left)"},
    {"string with NUL", b_str_nul, FD_NONE, -EBADMSG,
     "field 0 (string) at offset 28 has a NUL at byte 1"},
    {"string not UTF-8", b_str_utf8, FD_NONE, -EBADMSG,
     "field 1 (string) at offset 35 is not UTF-8 at byte 1"},
    {"type tag 0", b_tag0, FD_NONE, -EBADMSG, "field 0 at offset 28 has unknown type tag 0x00"},
    {"type tag 0x0a", b_tag10, FD_NONE, -EBADMSG, "field 1 at offset 29 has unknown type tag 0x0a"},
    {"truncated i64", b_i64_short, FD_NONE, -EBADMSG,
     "field 0 (i64) at offset 28 is truncated: 4 of 8 bytes"},
    {"bool 2", b_bool2, FD_NONE, -EBADMSG, "field 0 (bool) at offset 28 has value 2"},
    {"fd index out of range", b_fd_range, FD_ONE, -EBADMSG,
     "field 0: fd index 1 out of range (packet carried 1 fds)"},
    {"fd index twice", b_fd_twice, FD_TWO, -EBADMSG, "field 1: fd index 0 named twice"},
    {"fd not named", b_fd_unnamed, FD_TWO, -EBADMSG, "fd 1 of 2 is not named by any field"},
    {"trailing byte", b_trailing_byte, FD_NONE, -EBADMSG,
     "field 1 at offset 37 has unknown type tag 0xff"},
    {"trailing partial field", b_trailing_partial, FD_NONE, -EBADMSG,
     "field 0 (i32) at offset 28 is truncated: 2 of 4 bytes"},
    {"error REPLY with extra field", b_err_reply_extra, FD_NONE, -EBADMSG,
     "error REPLY body must be (i32 exception, i32 code, string message), got 4 fields"},
    {"error REPLY exception 0", b_err_reply_ex0, FD_NONE, -EBADMSG, "error REPLY with exception 0"},
    {"error REPLY with fd", b_err_reply_fd, FD_ONE, -EBADMSG, "error REPLY carries 1 fds"},
    {"RELEASE of 0", b_release0, FD_NONE, -EBADMSG, "RELEASE of 0 references"},
    {"RELEASE with i32", b_release_i32, FD_NONE, -EBADMSG, "RELEASE body must be one u32 count"},
    {"ACQUIRE with call id", b_acquire_call_id, FD_NONE, -EBADMSG,
     "ACQUIRE with method 0, call id 8"},
    {"4097 fields", b_fields4097, FD_NONE, -E2BIG, "more than 4096 fields"},
};

static void test_reject_table(void **state)
{
	static struct pkt p;
	int before = count_fds(), fds[IPC_MSG_MAX_FDS + 1];
	struct ipc_msg *m = NULL;
	size_t i, n, k;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];

		n = r->fds == FD_NONE  ? 0
		    : r->fds == FD_ONE ? 1
		    : r->fds == FD_TWO ? 2
				       : IPC_MSG_MAX_FDS + 1;
		for (k = 0; k < n; k++) {
			fds[k] = open("/dev/null", O_RDONLY | O_CLOEXEC);
			assert_true(fds[k] >= 0);
		}
		r->build(&p);
		avf_err_clear();
		if (ipc_msg_decode(p.b, p.len, fds, n, &m) != r->err ||
		    !strstr(avf_err_last()->msg, r->msg))
			fail_msg("row '%s': got %d '%s', want %d '%s'", r->name,
				 avf_err_last()->err, avf_err_last()->msg, r->err, r->msg);
		assert_null(m);
		assert_int_equal(avf_err_last()->ex, AVF_EX_BAD_PARCELABLE);
		/* Refused: the fds are still the caller's, open. */
		for (k = 0; k < n; k++) {
			assert_true(fcntl(fds[k], F_GETFD) >= 0);
			close(fds[k]);
		}
	}
	assert_int_equal(count_fds(), before);
}

/* A valid ACQUIRE / RELEASE / error REPLY as written from the spec is accepted. */
static void test_accept_fixed_bodies(void **state)
{
	static struct pkt p;
	struct ipc_msg *m;
	const char *s;
	uint32_t u;
	int32_t v;

	pkt_hdr(&p, IPC_RELEASE, 0, 4, 0, 0, 0);
	p8(&p, IPC_T_U32);
	p32(&p, 2);
	pkt_end(&p);
	assert_int_equal(ipc_msg_decode(p.b, p.len, NULL, 0, &m), 0);
	assert_int_equal(ipc_msg_get_u32(m, &u), 0);
	assert_int_equal(u, 2);
	m = ipc_msg_free(m);

	pkt_hdr(&p, IPC_REPLY, IPC_F_ERROR, 0, 0, 9, 0);
	p8(&p, IPC_T_I32);
	p32(&p, (uint32_t)AVF_EX_SERVICE_SPECIFIC);
	p8(&p, IPC_T_I32);
	p32(&p, (uint32_t)-1);
	pkt_str(&p, "VM already started or failed");
	pkt_end(&p);
	assert_int_equal(ipc_msg_decode(p.b, p.len, NULL, 0, &m), 0);
	assert_int_equal(ipc_msg_hdr(m)->flags, IPC_F_ERROR);
	assert_int_equal(ipc_msg_get_i32(m, &v), 0);
	assert_int_equal(v, AVF_EX_SERVICE_SPECIFIC);
	assert_int_equal(ipc_msg_get_i32(m, &v), 0);
	assert_int_equal(v, -1);
	assert_int_equal(ipc_msg_get_string(m, &s), 0);
	assert_string_equal(s, "VM already started or failed");
	ipc_msg_free(m);

	/* The largest packet, 65536 bytes. */
	pkt_hdr(&p, IPC_ONEWAY, 0, 0, 0, 0, 0);
	p8(&p, IPC_T_BYTES);
	p32(&p, IPC_MSG_MAX - IPC_HDR_SIZE - 5);
	memset(p.b + p.len, 0xab, IPC_MSG_MAX - p.len);
	p.len = IPC_MSG_MAX;
	pkt_end(&p);
	assert_int_equal(ipc_msg_decode(p.b, p.len, NULL, 0, &m), 0);
	ipc_msg_free(m);
}

/* ---- mutation loop ---- */

#define MUTATIONS 20000

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	/* xorshift64*: fixed seed, the same run every time. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 32);
}

struct seed {
	uint8_t b[1024];
	size_t len;
	unsigned nfds;
};

static void make_seed(struct seed *s, struct ipc_msg *m, struct ipc_hdr h)
{
	unsigned n;

	assert_int_equal(ipc_msg_encode(m, &h, s->b, sizeof(s->b), &s->len), 0);
	ipc_msg_fds(m, &n);
	s->nfds = n;
	ipc_msg_free(m);
}

static void make_seeds(struct seed *s, int devnull)
{
	struct ipc_msg *m;

	assert_int_equal(ipc_msg_new(&m), 0);
	ipc_msg_put_i32(m, -5);
	ipc_msg_put_u32(m, 7);
	ipc_msg_put_i64(m, 1ll << 40);
	ipc_msg_put_bool(m, true);
	ipc_msg_put_string(m, "/data/local/tmp/vm.json");
	ipc_msg_put_bytes(m, "\0\1\2\3", 4);
	ipc_msg_put_fd(m, devnull);
	ipc_msg_put_object_id(m, 3);
	ipc_msg_put_null(m);
	ipc_msg_put_fd(m, devnull);
	ipc_msg_put_string(m, "\xe2\x9c\x93");
	make_seed(&s[0], m, (struct ipc_hdr){IPC_CALL, 0, 1, 4, 99});

	assert_int_equal(ipc_msg_new(&m), 0);
	ipc_msg_put_i32(m, AVF_EX_ILLEGAL_STATE);
	ipc_msg_put_i32(m, 0);
	ipc_msg_put_string(m, "VM is not running");
	make_seed(&s[1], m, (struct ipc_hdr){IPC_REPLY, IPC_F_ERROR, 0, 0, 99});

	assert_int_equal(ipc_msg_new(&m), 0);
	ipc_msg_put_u32(m, 3);
	make_seed(&s[2], m, (struct ipc_hdr){IPC_RELEASE, 0, 12, 0, 0});

	assert_int_equal(ipc_msg_new(&m), 0);
	make_seed(&s[3], m, (struct ipc_hdr){IPC_ONEWAY, 0, 0, 8, 0});

	assert_int_equal(ipc_msg_new(&m), 0);
	ipc_msg_put_object_id(m, 0);
	ipc_msg_put_object_id(m, 9);
	ipc_msg_put_string(m, "");
	ipc_msg_put_bytes(m, NULL, 0);
	ipc_msg_put_fd(m, devnull);
	make_seed(&s[4], m, (struct ipc_hdr){IPC_REPLY, 0, 0, 0, 5});
}

static void mutate(uint8_t *b, size_t *len, size_t cap)
{
	size_t n = *len, at;
	uint32_t v;

	switch (rnd() % 8) {
	case 0: /* flip one to four bits */
	case 1:
		for (v = rnd() % 4 + 1; v && n; v--) {
			at = rnd() % n;
			b[at] ^= (uint8_t)(1u << (rnd() % 8));
		}
		break;
	case 2: /* random byte */
		if (n)
			b[rnd() % n] = (uint8_t)rnd();
		break;
	case 3: /* truncate */ *len = n ? rnd() % n : 0; break;
	case 4: /* append garbage, fixing the length field half the time */
		for (v = rnd() % 8 + 1; v && n < cap; v--)
			b[n++] = (uint8_t)rnd();
		if (rnd() % 2 && n >= 8)
			memcpy(b + 4, (uint8_t[]){n, n >> 8, n >> 16, n >> 24}, 4);
		*len = n;
		break;
	case 5: /* edit the length field */
		if (n >= 8) {
			v = rnd() % 3 == 0 ? rnd() : (uint32_t)n + (rnd() % 9) - 4;
			memcpy(b + 4, (uint8_t[]){v, v >> 8, v >> 16, v >> 24}, 4);
		}
		break;
	case 6: /* edit a length or index inside the body: a small value at a random spot */
		if (n > IPC_HDR_SIZE + 4) {
			at = IPC_HDR_SIZE + rnd() % (n - IPC_HDR_SIZE - 4);
			v = rnd() % 2 ? rnd() % 32 : 0xffffffffu - rnd() % 4;
			memcpy(b + at, (uint8_t[]){v, v >> 8, v >> 16, v >> 24}, 4);
		}
		break;
	default: /* duplicate a chunk at the end (more fields, maybe valid) */
		if (n > IPC_HDR_SIZE) {
			size_t from = IPC_HDR_SIZE + rnd() % (n - IPC_HDR_SIZE);
			size_t k = rnd() % (n - from) + 1;

			if (n + k <= cap) {
				memmove(b + n, b + from, k);
				n += k;
				memcpy(b + 4, (uint8_t[]){n, n >> 8, n >> 16, n >> 24}, 4);
				*len = n;
			}
		}
		break;
	}
}

/* Read every field of an accepted message the way a handler would. */
static void walk(struct ipc_msg *m)
{
	enum ipc_type t;
	const void *b;
	const char *s;
	size_t blen;
	uint32_t u;
	int32_t i;
	int64_t l;
	bool z;
	int fd;

	while ((t = ipc_msg_peek(m)) != IPC_T_END) {
		switch (t) {
		case IPC_T_I32: assert_int_equal(ipc_msg_get_i32(m, &i), 0); break;
		case IPC_T_U32: assert_int_equal(ipc_msg_get_u32(m, &u), 0); break;
		case IPC_T_I64: assert_int_equal(ipc_msg_get_i64(m, &l), 0); break;
		case IPC_T_BOOL: assert_int_equal(ipc_msg_get_bool(m, &z), 0); break;
		case IPC_T_STRING:
			assert_int_equal(ipc_msg_get_string(m, &s), 0);
			assert_true(strlen(s) <= IPC_MSG_MAX);
			break;
		case IPC_T_BYTES: assert_int_equal(ipc_msg_get_bytes(m, &b, &blen), 0); break;
		case IPC_T_FD:
			/* Take some, leave some for ipc_msg_free to close. */
			if (rnd() % 2) {
				assert_int_equal(ipc_msg_get_fd(m, &fd), 0);
				close(fd);
			} else {
				assert_int_equal(ipc_msg_skip(m), 0);
			}
			break;
		case IPC_T_OBJECT: assert_int_equal(ipc_msg_get_object_id(m, &u), 0); break;
		case IPC_T_NULL: assert_int_equal(ipc_msg_get_null(m), 0); break;
		default: fail_msg("unexpected type %d", t);
		}
	}
	assert_int_equal(ipc_msg_get_end(m), 0);
}

static void test_mutations(void **state)
{
	static uint8_t buf[IPC_MSG_MAX + 16], out[IPC_MSG_MAX + 16];
	struct seed seeds[5];
	int before, devnull, fds[IPC_MSG_MAX_FDS + 1], r;
	unsigned it, accepted = 0, rejected = 0, k, nfds;
	struct ipc_msg *m;
	size_t len, olen;

	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(devnull >= 0);
	make_seeds(seeds, devnull);
	before = count_fds();
	for (it = 0; it < MUTATIONS; it++) {
		const struct seed *s = &seeds[rnd() % 5];

		memcpy(buf, s->b, s->len);
		len = s->len;
		for (k = rnd() % 3 + 1; k; k--)
			mutate(buf, &len, sizeof(buf));
		/* Usually the fds the seed had; sometimes a wrong count. */
		nfds = rnd() % 8 ? s->nfds : rnd() % 4;
		if (rnd() % 500 == 0)
			nfds = IPC_MSG_MAX_FDS + 1;
		for (k = 0; k < nfds; k++)
			fds[k] = fcntl(devnull, F_DUPFD_CLOEXEC, 3);
		m = NULL;
		r = ipc_msg_decode(buf, len, fds, nfds, &m);
		if (r == 0) {
			accepted++;
			assert_int_equal(ipc_msg_encode(m, ipc_msg_hdr(m), out, sizeof(out), &olen),
					 0);
			assert_int_equal(olen, len);
			assert_memory_equal(out, buf, len);
			walk(m);
			ipc_msg_free(m);
		} else {
			rejected++;
			assert_null(m);
			assert_int_equal(avf_err_last()->err, r);
			assert_true(r == -EBADMSG || r == -E2BIG || r == -EPROTO);
			assert_true(avf_err_last()->msg[0] != 0);
			for (k = 0; k < nfds; k++)
				close(fds[k]);
		}
	}
	assert_int_equal(count_fds(), before);
	/* Both paths exercised in earnest. */
	assert_true(accepted > MUTATIONS / 50);
	assert_true(rejected > MUTATIONS / 2);
	close(devnull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exact_bytes),   cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_getter_errors), cmocka_unit_test(test_builder_limits),
	    cmocka_unit_test(test_max_fds_roundtrip),
	    cmocka_unit_test(test_reject_table),  cmocka_unit_test(test_accept_fixed_bodies),
	    cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
