/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the composite disk spec reader (core/disk/cdisk_spec.c).
 *
 * Each input is one spec file's bytes, decoded as "fuzz.img". A failure must be one of the
 * header's errors with one line of message starting with the origin; a success must keep the
 * header's promises, checked here (a violation traps like a crash): version <= 2, at least
 * one and at most CDISK_SPEC_MAX_COMPONENTS components, non-empty bounded paths, offsets
 * strictly increasing, extents that tile the disk up to its length, and the spec
 * re-encoding to the input's size and decoding to the same (the reader takes canonical
 * encodings only; it sorts components by offset, so the bytes themselves match only for
 * sorted input). Run: docs/composite-disk.md, "Fuzzing".
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"
#include "disk/cdisk_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_failure(int r)
{
	const struct avf_error *e = avf_err_last();

	if ((r != -EINVAL && r != -ENOMEM && r != -EFBIG && r != -E2BIG) || e->err != r)
		__builtin_trap();
	if (r != -ENOMEM && (e->ex != AVF_EX_ILLEGAL_ARGUMENT ||
			     strncmp(e->msg, "fuzz.img: ", 10) != 0 || strchr(e->msg, '\n')))
		__builtin_trap();
}

static void check(const struct cdisk_spec *s, size_t size)
{
	struct cdisk_spec *back = NULL;
	uint8_t *again = NULL;
	uint64_t sum = 0;
	size_t len = 0;

	if (s->version > CDISK_VERSION || s->n_components == 0 ||
	    s->n_components > CDISK_SPEC_MAX_COMPONENTS || s->length > INT64_MAX)
		__builtin_trap();
	for (size_t i = 0; i < s->n_components; i++) {
		const struct cdisk_component *c = &s->components[i];
		size_t plen = strlen(c->path);

		if (plen == 0 || plen > CDISK_SPEC_MAX_PATH || c->length == 0 ||
		    (i > 0 && c->offset <= c[-1].offset) ||
		    c->file_offset > (uint64_t)INT64_MAX - c->length)
			__builtin_trap();
		sum += c->length;
	}
	if (sum != s->length - s->components[0].offset)
		__builtin_trap();
	if (cdisk_spec_encode(s, &again, &len) < 0 || len != size)
		__builtin_trap();
	if (cdisk_spec_decode(again, len, "fuzz.img", &back) < 0 ||
	    back->n_components != s->n_components || back->length != s->length ||
	    back->version != s->version)
		__builtin_trap();
	for (size_t i = 0; i < s->n_components; i++) {
		const struct cdisk_component *x = &s->components[i], *y = &back->components[i];

		if (strcmp(x->path, y->path) || x->offset != y->offset || x->length != y->length ||
		    x->file_offset != y->file_offset || x->writable != y->writable)
			__builtin_trap();
	}
	cdisk_spec_free(back);
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdisk_spec *s = NULL;
	int r = cdisk_spec_decode(data, size, "fuzz.img", &s);

	if (r < 0) {
		check_failure(r);
		if (s)
			__builtin_trap();
		return 0;
	}
	check(s, size);
	cdisk_spec_free(s);
	return 0;
}
