/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the avf_proto argument readers (core/proto/avf_proto.c) on
 * packets the IPC decoder accepted: what a client can make virtmgr read, and what a
 * virtmgr or virtualizationservice can make its peer read.
 *
 * Input: fuzz_packet.h (byte 0: fds received, then the packet). Packets the decoder
 * refuses stop there (fuzz_ipc_msg checks those). Every accepted message is read twice,
 * whatever its header says:
 *   - as createVm's arguments, the way virtmgr_server reads them: proto_get_config, three
 *     nullable console fds, the end; then vm_config_validate as vmgr does. A refusal is
 *     -EBADMSG (or -EBADF, -ENOMEM) with one line naming the field ("config..." or the
 *     ipc getter's). An accepted config has a known kind, a name, bounded disk and
 *     partition counts, labels, and only fds of the packet; written back with
 *     proto_put_config it gives the input's fields again (fd fields may name other indices: a builder numbers them in
 *     order), and reading that back and writing it again gives the same bytes;
 *   - as a debugListVms reply, the way the client reads it: u32 n <= PROTO_DEBUG_ROWS_MAX,
 *     n rows, the end; written back with proto_put_debug_row, the same bytes.
 * Afterwards every fd is closed: the config's by vm_config_clear, the rest by the message.
 * Seeds: fuzz/corpus/proto_args/, written by fuzz_seeds (docs/fuzzing.md).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "config/vm_config.h"
#include "fuzz_packet.h"
#include "ipc/ipc_msg.h"
#include "proto/avf_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t enc_a[IPC_MSG_MAX], enc_b[IPC_MSG_MAX];

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Whether the first @n fields of packets @a and @b (both accepted by the decoder, so
 * well formed) are equal, FD fields' indices aside.
 */
static bool fields_equal(const uint8_t *a, const uint8_t *b, unsigned n)
{
	size_t off = IPC_HDR_SIZE;

	for (unsigned i = 0; i < n; i++) {
		uint8_t tag = a[off];
		size_t len;

		if (b[off] != tag)
			return false;
		switch (tag) {
		case IPC_T_I64: len = 8; break;
		case IPC_T_BOOL: len = 1; break;
		case IPC_T_NULL: len = 0; break;
		case IPC_T_STRING:
		case IPC_T_BYTES: len = 4 + le32(a + off + 1); break;
		default: len = 4; break;
		}
		if (tag != IPC_T_FD && memcmp(a + off + 1, b + off + 1, len) != 0)
			return false;
		off += 1 + len;
	}
	return true;
}

/* Encodes @m (a built message) into @buf; returns its length. */
static size_t encode(const struct ipc_msg *m, const struct ipc_hdr *h, uint8_t *buf)
{
	size_t len = 0;

	FUZZ_CHECK(ipc_msg_encode(m, h, buf, IPC_MSG_MAX, &len) == 0);
	return len;
}

static void check_refusal(int r)
{
	const struct avf_error *e = avf_err_last();

	FUZZ_CHECK(r == -EBADMSG || r == -EBADF || r == -ENOMEM);
	FUZZ_CHECK(e->err == r && e->msg[0] && !strchr(e->msg, '\n'));
	FUZZ_CHECK(r == -ENOMEM || e->ex == AVF_EX_BAD_PARCELABLE || e->ex == AVF_EX_NULL_POINTER);
}

/* The config @c read from @m's first @nfields fields, written back and read again. */
static void check_config_roundtrip(const struct vm_config *c, const struct fuzz_packet *p,
				   unsigned nfields, const struct ipc_hdr *h)
{
	struct ipc_msg *a = NULL, *b = NULL;
	struct vm_config again;
	size_t la, lb;

	FUZZ_CHECK(ipc_msg_new(&a) == 0 && proto_put_config(a, c) == 0);
	FUZZ_CHECK(ipc_msg_nfields(a) == nfields);
	la = encode(a, h, enc_a);
	FUZZ_CHECK(fields_equal(enc_a, p->bytes, nfields));

	FUZZ_CHECK(proto_get_config(a, &again) == 0 && ipc_msg_get_end(a) == 0);
	FUZZ_CHECK(ipc_msg_new(&b) == 0 && proto_put_config(b, &again) == 0);
	lb = encode(b, h, enc_b);
	FUZZ_CHECK(la == lb && memcmp(enc_a, enc_b, la) == 0);
	vm_config_clear(&again);
	ipc_msg_free(b);
	ipc_msg_free(a);
}

/* Whether @fd is -1 (a NULL field) or one of the packet's. */
static bool fd_or_none(const struct fuzz_packet *p, int fd)
{
	return fd == -1 || fuzz_packet_has_fd(p, fd);
}

/* What proto_get_config promises beyond the fields' types: bounded counts, a known kind,
 * strings where the layout has no NULL, fds that came with the packet. */
static void check_config_bounds(const struct vm_config *c, const struct fuzz_packet *p)
{
	FUZZ_CHECK(c->kind == VM_CONFIG_RAW || c->kind == VM_CONFIG_APP);
	FUZZ_CHECK(c->name != NULL && c->n_disks <= VM_CONFIG_DISKS_MAX);
	FUZZ_CHECK(fd_or_none(p, c->kernel_fd) && fd_or_none(p, c->initrd_fd) &&
		   fd_or_none(p, c->bootloader_fd));
	FUZZ_CHECK((c->n_disks == 0) == (c->disks == NULL));
	for (size_t d = 0; d < c->n_disks; d++) {
		const struct vm_config_disk *disk = &c->disks[d];

		FUZZ_CHECK(disk->n_partitions <= VM_CONFIG_PARTITIONS_MAX &&
			   fd_or_none(p, disk->image_fd));
		for (size_t i = 0; i < disk->n_partitions; i++)
			FUZZ_CHECK(disk->partitions[i].label != NULL &&
				   fuzz_packet_has_fd(p, disk->partitions[i].fd));
	}
}

/* Moves the cursor to field @k. */
static void seek(struct ipc_msg *m, unsigned k)
{
	ipc_msg_rewind(m);
	while (k--)
		FUZZ_CHECK(ipc_msg_skip(m) == 0);
}

/* As virtmgr_server's createVm: the config, three nullable console fds, the end. */
static void read_create_vm(struct ipc_msg *m, const struct fuzz_packet *p)
{
	int console[3] = {-1, -1, -1}, r, i;
	unsigned rest = 0, used;
	struct vm_config c;

	r = proto_get_config(m, &c);
	if (r < 0) {
		check_refusal(r);
		FUZZ_CHECK(r == -ENOMEM || strncmp(avf_err_last()->msg, "config", 6) == 0);
		vm_config_clear(&c);
		return;
	}
	/* How many fields the config took: the cursor is not readable, the rest is. */
	for (; ipc_msg_peek(m) != IPC_T_END; rest++)
		FUZZ_CHECK(ipc_msg_skip(m) == 0);
	used = ipc_msg_nfields(m) - rest;
	seek(m, used);
	for (i = 0, r = 0; i < 3 && r == 0; i++) {
		if (ipc_msg_peek(m) == IPC_T_NULL) {
			r = ipc_msg_get_null(m);
		} else {
			r = ipc_msg_get_fd(m, &console[i]);
			FUZZ_CHECK(r < 0 || fuzz_packet_has_fd(p, console[i]));
		}
	}
	if (r == 0)
		r = ipc_msg_get_end(m);
	if (r < 0)
		check_refusal(r);
	for (i = 0; i < 3; i++)
		if (console[i] >= 0)
			close(console[i]);

	check_config_bounds(&c, p);
	check_config_roundtrip(&c, p, used, ipc_msg_hdr(m));
	r = vm_config_validate(&c);
	if (r < 0)
		FUZZ_CHECK(avf_err_last()->err == r && avf_err_last()->msg[0] &&
			   !strchr(avf_err_last()->msg, '\n'));
	vm_config_clear(&c);
}

/* As the client's debugListVms: u32 n, n rows, the end. */
static void read_debug_list(struct ipc_msg *m, const struct fuzz_packet *p)
{
	struct proto_debug_row row;
	struct ipc_msg *a = NULL;
	uint32_t n, i;
	size_t len;
	int r;

	if ((r = ipc_msg_get_u32(m, &n)) < 0) {
		check_refusal(r);
		return;
	}
	if (n > PROTO_DEBUG_ROWS_MAX)
		return; /* the callers refuse it before reading a row */
	FUZZ_CHECK(ipc_msg_new(&a) == 0 && ipc_msg_put_u32(a, n) == 0);
	for (i = 0; i < n; i++) {
		r = proto_get_debug_row(m, &row);
		if (r < 0) {
			check_refusal(r);
			FUZZ_CHECK(strncmp(avf_err_last()->msg, "debug row", 9) == 0);
			break;
		}
		FUZZ_CHECK(row.name && row.temp_dir);
		FUZZ_CHECK(proto_put_debug_row(a, &row) == 0);
	}
	if (i == n) {
		len = encode(a, ipc_msg_hdr(m), enc_a);
		FUZZ_CHECK(fields_equal(enc_a, p->bytes, ipc_msg_nfields(a)));
		/* A whole reply read: the same packet, byte for byte. */
		if (ipc_msg_get_end(m) == 0)
			FUZZ_CHECK(len == p->len && memcmp(enc_a, p->bytes, len) == 0);
	}
	ipc_msg_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_packet p;
	struct ipc_msg *m = NULL;

	if (!fuzz_packet_open(&p, data, size))
		return 0;
	if (ipc_msg_decode(p.bytes, p.len, p.fds, p.nfds, &m) < 0) {
		fuzz_packet_close(&p);
		return 0;
	}
	read_create_vm(m, &p);
	ipc_msg_rewind(m);
	read_debug_list(m, &p);
	ipc_msg_free(m);
	fuzz_packet_check_closed(&p);
	return 0;
}
