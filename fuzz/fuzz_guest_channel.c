/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the fake guest channel decoder (backends/fake/guest_channel.c):
 * what a guest (the fakevmm process) can make the manager read, and the replies the
 * guest reads back.
 *
 * Input: one packet. A refusal must be -EBADMSG or -EPROTONOSUPPORT with
 * AVF_EX_BAD_PARCELABLE and one line starting "guest channel: ". An accepted packet
 * must keep the header's promises, checked here (a violation traps like a crash): a
 * known kind, the text NUL-terminated at exactly its wire length, encode giving back
 * the same bytes, and the message rebuilt the way each side builds it (a request from
 * its guest_event, a reply with guest_channel_make_reply) equal to the decoded one.
 * Seeds: fuzz/corpus/guest_channel/, written by fuzz_seeds (docs/fuzzing.md).
 */
#include <errno.h>
#include <string.h>

#include "backends/fake/guest_channel.h"
#include "base/avf_err.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_refusal(int r)
{
	const struct avf_error *e = avf_err_last();

	FUZZ_CHECK(r == -EBADMSG || r == -EPROTONOSUPPORT);
	FUZZ_CHECK(e->err == r && e->ex == AVF_EX_BAD_PARCELABLE);
	FUZZ_CHECK(strncmp(e->msg, "guest channel: ", 15) == 0 && !strchr(e->msg, '\n'));
}

static bool same(const struct guest_channel_msg *a, const struct guest_channel_msg *b)
{
	return a->kind == b->kind && a->seq == b->seq && a->value == b->value && a->ex == b->ex &&
	       strcmp(a->text, b->text) == 0;
}

static void check_rebuilt(const struct guest_channel_msg *m)
{
	struct guest_channel_msg again;
	struct guest_event ev;

	memset(&again, 0xa5, sizeof(again));
	if (m->kind == GUEST_CHANNEL_REPLY) {
		guest_channel_make_reply(m->seq, m->value, m->ex, m->text, &again);
	} else {
		FUZZ_CHECK(guest_channel_to_event(m, &ev) == 0);
		FUZZ_CHECK(guest_channel_from_event(&ev, m->seq, &again) == 0);
	}
	FUZZ_CHECK(same(m, &again));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[GUEST_CHANNEL_PACKET_MAX];
	struct guest_channel_msg m;
	size_t len = 0;
	int r;

	r = guest_channel_decode(data, size, &m);
	if (r < 0) {
		check_refusal(r);
		return 0;
	}
	FUZZ_CHECK(strcmp(guest_channel_kind_name((int)m.kind), "?") != 0);
	FUZZ_CHECK(size >= GUEST_CHANNEL_HDR_LEN && strlen(m.text) == size - GUEST_CHANNEL_HDR_LEN);
	FUZZ_CHECK(guest_channel_encode(&m, out, sizeof(out), &len) == 0);
	FUZZ_CHECK(len == size && memcmp(out, data, size) == 0);
	check_rebuilt(&m);
	return 0;
}
