/* SPDX-License-Identifier: Apache-2.0 */
/* cdisk_spec: spec file bytes <-> struct cdisk_spec via protobuf-c (cdisk_spec.h). */
#include "disk/cdisk_spec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"
#include "base/fs_util.h"
#include "cdisk_spec.pb-c.h"
#include "disk/utf8.h"

bool cdisk_spec_has_magic(const void *buf, size_t len)
{
	return len >= CDISK_MAGIC_LEN && memcmp(buf, CDISK_MAGIC, CDISK_MAGIC_LEN) == 0;
}

struct cdisk_spec *cdisk_spec_free(struct cdisk_spec *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_components; i++)
		free(s->components[i].path);
	free(s->components);
	free(s);
	return NULL;
}

int cdisk_spec_encode(const struct cdisk_spec *s, uint8_t **ret_buf, size_t *ret_len)
{
	CompositeDisk msg = COMPOSITE_DISK__INIT;
	ComponentDisk *comps = NULL, **ptrs = NULL;
	uint8_t *buf = NULL;
	size_t len;
	int r = 0;

	if (s->n_components > 0 && (!(comps = calloc(s->n_components, sizeof(*comps))) ||
				    !(ptrs = calloc(s->n_components, sizeof(*ptrs))))) {
		r = avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < s->n_components; i++) {
		const struct cdisk_component *c = &s->components[i];

		if (!c->path || !c->path[0]) {
			r = avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
					"composite component %zu has no path", i);
			goto out;
		}
		component_disk__init(&comps[i]);
		/* protobuf-c's string fields are char *, but packing only reads them */
		comps[i].file_path = (char *)c->path;
		comps[i].offset = c->offset;
		comps[i].read_write_capability = c->writable ? READ_WRITE_CAPABILITY__READ_WRITE
							     : READ_WRITE_CAPABILITY__READ_ONLY;
		comps[i].file_offset = c->file_offset;
		ptrs[i] = &comps[i];
	}
	msg.version = s->version;
	msg.length = s->length;
	msg.n_component_disks = s->n_components;
	msg.component_disks = ptrs;
	len = CDISK_MAGIC_LEN + composite_disk__get_packed_size(&msg);
	if (!(buf = malloc(len))) {
		r = avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
		goto out;
	}
	memcpy(buf, CDISK_MAGIC, CDISK_MAGIC_LEN);
	composite_disk__pack(&msg, buf + CDISK_MAGIC_LEN);
	*ret_buf = buf;
	*ret_len = len;
out:
	free(comps);
	free(ptrs);
	return r;
}

static int bad(const char *origin, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(const char *origin, const char *fmt, ...)
{
	char what[AVF_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "%s: %s", origin, what);
}

/* Components in offset order; equal offsets end up next to each other. */
static int by_offset(const void *a, const void *b)
{
	const struct cdisk_component *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Every check on the decoded message except the ones needing the order by offset. */
static int check_message(const CompositeDisk *m, const char *origin)
{
	if (m->base.n_unknown_fields > 0)
		return bad(origin, "unknown field %" PRIu32 " in CompositeDisk",
			   m->base.unknown_fields[0].tag);
	if (m->version > CDISK_VERSION)
		return bad(origin, "unknown version %" PRIu64 " in specification", m->version);
	if (m->n_component_disks == 0)
		return bad(origin, "no component disks");
	if (m->n_component_disks > CDISK_SPEC_MAX_COMPONENTS)
		return avf_err_set(-E2BIG, AVF_EX_ILLEGAL_ARGUMENT,
				   "%s: %zu component disks, more than the %u allowed", origin,
				   m->n_component_disks, CDISK_SPEC_MAX_COMPONENTS);
	for (size_t i = 0; i < m->n_component_disks; i++) {
		const ComponentDisk *c = m->component_disks[i];
		size_t plen = c->file_path ? strlen(c->file_path) : 0;

		if (c->base.n_unknown_fields > 0)
			return bad(origin,
				   "component %zu: unknown field %" PRIu32 " in ComponentDisk", i,
				   c->base.unknown_fields[0].tag);
		if (plen == 0)
			return bad(origin, "component %zu: empty file_path", i);
		if (plen > CDISK_SPEC_MAX_PATH)
			return avf_err_set(-E2BIG, AVF_EX_ILLEGAL_ARGUMENT,
					   "%s: component %zu: file_path of %zu bytes, more than "
					   "the %u allowed",
					   origin, i, plen, CDISK_SPEC_MAX_PATH);
		if (!utf8_valid(c->file_path, plen))
			return bad(origin, "component %zu: file_path is not valid UTF-8", i);
		/* checked before any message quotes the path: messages are one line */
		for (size_t k = 0; k < plen; k++)
			if ((unsigned char)c->file_path[k] < 0x20 || c->file_path[k] == 0x7f)
				return bad(origin,
					   "component %zu: file_path has a control character (byte "
					   "%zu)",
					   i, k);
		if (c->read_write_capability != READ_WRITE_CAPABILITY__READ_ONLY &&
		    c->read_write_capability != READ_WRITE_CAPABILITY__READ_WRITE)
			return bad(origin,
				   "component %zu ('%s'): read_write_capability %d is neither "
				   "READ_ONLY (0) nor READ_WRITE (1)",
				   i, c->file_path, (int)c->read_write_capability);
	}
	return 0;
}

/* The message re-encodes to exactly the bytes it came from. */
static int check_canonical(const CompositeDisk *m, const uint8_t *in, size_t len,
			   const char *origin)
{
	uint8_t *again;
	int r = 0;

	if (composite_disk__get_packed_size(m) != len)
		return bad(origin, "specification is not canonically encoded (fields repeated, out "
				   "of order or zero-valued, long varints, or a NUL in a path)");
	if (!(again = malloc(len ? len : 1)))
		return avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
	composite_disk__pack(m, again);
	if (memcmp(again, in, len) != 0)
		r = bad(origin, "specification is not canonically encoded (fields repeated, out "
				"of order or zero-valued, long varints, or a NUL in a path)");
	free(again);
	return r;
}

/* Sorted components, their extents, and the checks that need the order. */
static int check_extents(struct cdisk_spec *s, const char *origin)
{
	struct cdisk_component *c = s->components;
	size_t n = s->n_components;

	qsort(c, n, sizeof(*c), by_offset);
	for (size_t i = 0; i + 1 < n; i++)
		if (c[i].offset == c[i + 1].offset)
			return bad(origin, "Two disks at offset %" PRIu64, c[i].offset);
	if (s->length > INT64_MAX)
		return bad(origin, "length %" PRIu64 " is too large (more than 2^63-1)", s->length);
	if (s->length <= c[n - 1].offset)
		return bad(origin,
			   "length %" PRIu64 " is not past the last component's offset %" PRIu64,
			   s->length, c[n - 1].offset);
	for (size_t i = 0; i < n; i++) {
		c[i].length = (i + 1 < n ? c[i + 1].offset : s->length) - c[i].offset;
		if (c[i].file_offset > (uint64_t)INT64_MAX - c[i].length)
			return bad(origin,
				   "component '%s': file_offset %" PRIu64
				   " plus its extent %" PRIu64 " is past 2^63-1",
				   c[i].path, c[i].file_offset, c[i].length);
	}
	return 0;
}

int cdisk_spec_decode(const void *buf, size_t len, const char *origin, struct cdisk_spec **ret)
{
	const uint8_t *in = buf;
	CompositeDisk *m = NULL;
	struct cdisk_spec *s = NULL;
	int r;

	if (!origin)
		origin = "<spec>";
	if (len > CDISK_SPEC_MAX_BYTES)
		return avf_err_set(-EFBIG, AVF_EX_ILLEGAL_ARGUMENT,
				   "%s: %zu bytes, more than the %u a composite spec may have",
				   origin, len, CDISK_SPEC_MAX_BYTES);
	if (!cdisk_spec_has_magic(in, len))
		return bad(origin, "invalid magic header for composite disk format");
	in += CDISK_MAGIC_LEN;
	len -= CDISK_MAGIC_LEN;
	/* protobuf-c returns NULL for malformed input and for out-of-memory alike */
	if (!(m = composite_disk__unpack(NULL, len, in)))
		return bad(origin, "failed to parse specification proto");
	if ((r = check_message(m, origin)) < 0 || (r = check_canonical(m, in, len, origin)) < 0)
		goto out;
	if (!(s = calloc(1, sizeof(*s))) ||
	    !(s->components = calloc(m->n_component_disks, sizeof(*s->components)))) {
		r = avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
		goto out;
	}
	s->version = m->version;
	s->length = m->length;
	for (size_t i = 0; i < m->n_component_disks; i++) {
		const ComponentDisk *c = m->component_disks[i];
		struct cdisk_component *d = &s->components[i];

		if (!(d->path = strdup(c->file_path))) {
			r = avf_err_set(-ENOMEM, AVF_EX_ILLEGAL_STATE, "out of memory");
			goto out;
		}
		s->n_components++;
		d->offset = c->offset;
		d->file_offset = c->file_offset;
		d->writable = c->read_write_capability == READ_WRITE_CAPABILITY__READ_WRITE;
	}
	if ((r = check_extents(s, origin)) < 0)
		goto out;
	*ret = s;
	s = NULL;
out:
	cdisk_spec_free(s);
	composite_disk__free_unpacked(m, NULL);
	return r;
}

int cdisk_spec_load(int dir_fd, const char *path, struct cdisk_spec **ret)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	r = fs_read_file(dir_fd, path, CDISK_SPEC_MAX_BYTES, &buf, &len);
	if (r == -EFBIG)
		return avf_err_set(r, AVF_EX_ILLEGAL_ARGUMENT,
				   "%s: %zu bytes, more than the %u a composite spec may have",
				   path, len, CDISK_SPEC_MAX_BYTES);
	if (r == -EINVAL)
		return avf_err_set(r, AVF_EX_ILLEGAL_ARGUMENT, "%s: not a regular file", path);
	if (r < 0)
		return avf_err_set(r, AVF_EX_ILLEGAL_ARGUMENT, "%s: %s", path, strerror(-r));
	r = cdisk_spec_decode(buf, len, path, ret);
	free(buf);
	return r;
}
