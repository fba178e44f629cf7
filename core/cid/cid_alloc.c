/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cid_alloc: round-robin CID allocator over a bitmap (see cid_alloc.h).
 *
 * Bit i of words[] is set when CID min + i is held. The bits of the last word past
 * the end of the range are set at creation and never cleared, so a search for a
 * clear bit can run to the end of the array without a bounds check per bit.
 */
#include "cid/cid_alloc.h"

#include "base/avf_err.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A valid state file is at most 10 digits and a newline; anything past 64 bytes is corrupt. */
#define STATE_FILE_MAX 64
/* How much of a corrupt file's content the load note quotes. */
#define NOTE_QUOTE_MAX 32
/* AVF's exact text (virtualizationservice, GlobalState::get_next_available_cid). */
#define NO_CID_MSG "Could not find an available CID."
/* find_clear() result when no clear bit is found; range indices are <= UINT32_MAX - 1. */
#define NO_INDEX UINT32_MAX

struct cid_alloc {
	uint32_t min;
	uint32_t max;
	uint32_t range; /* max - min + 1; fits since max <= UINT32_MAX - 1 */
	uint32_t held;
	/*
	 * The cursor. has_last is kept apart from last because 0 is a valid CID when
	 * min == 0; cid_alloc_last() still reports 0 for "none", as the header says.
	 */
	uint32_t last;
	bool has_last;
	char *state_path; /* NULL: nothing persisted */
	char *tmp_path;   /* "<state_path>.tmp" */
	char *dir_path;   /* directory holding state_path, fsync'd after the rename */
	char *note;       /* why the state file was not used, or NULL */
	size_t nwords;
	uint64_t words[];
};

/*
 * Index of the first clear bit at or after @from (< range), or NO_INDEX. Reads one
 * 64-bit word per step: a run of held CIDs costs 1/64 of a read per CID.
 */
static uint32_t find_clear(const struct cid_alloc *a, uint32_t from)
{
	size_t w = from / 64;
	uint64_t free_bits = ~a->words[w] & (~0ull << (from % 64));

	while (!free_bits) {
		if (++w == a->nwords)
			return NO_INDEX;
		free_bits = ~a->words[w];
	}
	/* The padding bits are set, so any clear bit found is inside the range. */
	return (uint32_t)(w * 64 + (size_t)__builtin_ctzll(free_bits));
}

static __attribute__((format(printf, 2, 3))) int set_note(struct cid_alloc *a, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&a->note, fmt, ap);
	va_end(ap);
	if (n < 0) {
		a->note = NULL;
		return avf_err_service(-ENOMEM,
				       "cid allocator: out of memory for the state file note");
	}
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Parse the state file content: decimal digits only (no sign, no leading blank),
 * then at most one whitespace character (the newline we write; a hand-edited file
 * may end with a space instead). The running value is compared with max at each
 * digit, which also rules out overflow since max < 2^32.
 */
static bool parse_cid(const char *buf, size_t len, uint32_t min, uint32_t max, uint32_t *ret)
{
	uint64_t v = 0;
	size_t i;

	if (len > 0 && is_blank(buf[len - 1]))
		len--;
	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(buf[i] - '0');
		if (v > max)
			return false;
	}
	if (v < min)
		return false;
	*ret = (uint32_t)v;
	return true;
}

/*
 * Read the state file into a->last. The content never makes creation fail: every
 * problem becomes a note and the allocator starts at min. Only -ENOMEM is returned.
 */
static int load_state(struct cid_alloc *a)
{
	char buf[STATE_FILE_MAX + 1]; /* one more than allowed, to detect a larger file */
	char quote[NOTE_QUOTE_MAX + 1];
	const char *unreadable = NULL; /* why the file could not be read, if it could not */
	const char *more = "";
	size_t len = 0, qlen, i;
	struct stat st;
	uint32_t cid;
	int fd, r = 0;

	/* O_NONBLOCK: a FIFO at the path must not hang the service at start. */
	fd = open(a->state_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 && errno == ENOENT) {
		r = set_note(a, "state file %s not found: starting at %" PRIu32, a->state_path,
			     a->min);
		goto out;
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		unreadable = strerror(errno);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		unreadable = "not a regular file";
		goto out;
	}
	while (len < sizeof(buf)) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			unreadable = strerror(errno);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len <= STATE_FILE_MAX && parse_cid(buf, len, a->min, a->max, &cid)) {
		a->last = cid;
		a->has_last = true;
		goto out;
	}

	/* Quote the content on one line: drop the trailing newline, mask control bytes. */
	qlen = len;
	if (qlen > 0 && buf[qlen - 1] == '\n')
		qlen--;
	if (qlen > NOTE_QUOTE_MAX) {
		qlen = NOTE_QUOTE_MAX;
		more = len > STATE_FILE_MAX ? "... (more than 64 bytes)" : "...";
	}
	for (i = 0; i < qlen; i++)
		quote[i] = buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : '?';
	quote[qlen] = '\0';
	r = set_note(a,
		     "state file %s is corrupt: '%s'%s is not a CID in %" PRIu32 "..%" PRIu32
		     "; starting at %" PRIu32,
		     a->state_path, quote, more, a->min, a->max, a->min);
out:
	if (unreadable)
		r = set_note(a, "state file %s is unreadable (%s): starting at %" PRIu32,
			     a->state_path, unreadable, a->min);
	if (fd >= 0)
		close(fd);
	return r;
}

/* Directory of @path: "." without a slash, "/" for a file in the root. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

int cid_alloc_new(uint32_t min, uint32_t max, const char *state_path, struct cid_alloc **ret)
{
	struct cid_alloc *a;
	uint32_t range, pad;
	size_t nwords;
	int r;

	if (min > max || max == UINT32_MAX)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "invalid CID range %" PRIu32 "..%" PRIu32, min, max);
	range = max - min + 1;
	nwords = ((size_t)range + 63) / 64;
	a = calloc(1, sizeof(*a) + nwords * sizeof(a->words[0]));
	if (!a)
		return avf_err_service(-ENOMEM, "cid allocator: out of memory for %" PRIu32 " CIDs",
				       range);
	a->min = min;
	a->max = max;
	a->range = range;
	a->nwords = nwords;
	pad = range % 64;
	if (pad)
		a->words[nwords - 1] = ~0ull << pad;

	if (state_path) {
		a->state_path = strdup(state_path);
		a->dir_path = dir_of(state_path);
		if (asprintf(&a->tmp_path, "%s.tmp", state_path) < 0)
			a->tmp_path = NULL;
		if (!a->state_path || !a->dir_path || !a->tmp_path) {
			r = avf_err_service(-ENOMEM,
					    "cid allocator: out of memory for state paths");
			goto fail;
		}
		r = load_state(a);
		if (r < 0)
			goto fail;
	}
	*ret = a;
	return 0;
fail:
	cid_alloc_free(a);
	return r;
}

struct cid_alloc *cid_alloc_free(struct cid_alloc *a)
{
	if (!a)
		return NULL;
	free(a->state_path);
	free(a->tmp_path);
	free(a->dir_path);
	free(a->note);
	free(a);
	return NULL;
}

static int write_full(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* no progress on a regular file: don't spin */
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Write @cid to the state file atomically: tmp file, fsync, rename, directory fsync.
 * On failure the tmp file is removed. If only the directory fsync fails the state
 * file already names @cid although the grant is refused; that is harmless (the next
 * start skips one more CID), while a state file naming an older CID is what this
 * ordering prevents.
 */
static int persist(const struct cid_alloc *a, uint32_t cid)
{
	const char *what = NULL, *obj = NULL;
	char buf[16];
	int fd = -1, dfd = -1, len, r = 0;

	len = snprintf(buf, sizeof(buf), "%" PRIu32 "\n", cid);
	fd = open(a->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0) {
		r = -errno;
		what = "create";
		obj = a->tmp_path;
		goto out;
	}
	r = write_full(fd, buf, (size_t)len);
	if (r < 0) {
		what = "write";
		obj = a->tmp_path;
		goto out;
	}
	if (fsync(fd) < 0) {
		r = -errno;
		what = "fsync";
		obj = a->tmp_path;
		goto out;
	}
	/* close() can report a deferred write error (NFS); the fd is gone either way. */
	r = close(fd);
	fd = -1;
	if (r < 0) {
		r = -errno;
		what = "close";
		obj = a->tmp_path;
		goto out;
	}
	if (rename(a->tmp_path, a->state_path) < 0) {
		r = -errno;
		what = "rename over";
		obj = a->state_path;
		goto out;
	}
	/* Without this the rename itself may not survive a crash. */
	dfd = open(a->dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = -errno;
		what = "open directory";
		obj = a->dir_path;
		goto out;
	}
	if (fsync(dfd) < 0) {
		r = -errno;
		what = "fsync directory";
		obj = a->dir_path;
		goto out;
	}
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (r < 0) {
		unlink(a->tmp_path); /* ENOENT when it was never created or already renamed */
		/*
		 * EX_ILLEGAL_STATE: AVF maps every failure of allocateGlobalVmContext to it,
		 * persisting the last CID included.
		 */
		avf_err_set(r, AVF_EX_ILLEGAL_STATE,
			    "persisting CID %" PRIu32 " to %s: cannot %s %s: %s", cid,
			    a->state_path, what, obj, strerror(-r));
	}
	return r;
}

int cid_alloc_grant(struct cid_alloc *a, uint32_t *ret_cid)
{
	uint32_t start, idx, cid;
	int r;

	/* Full range: answer without scanning the bitmap. */
	if (a->held == a->range)
		return avf_err_set(-EBUSY, AVF_EX_ILLEGAL_STATE, NO_CID_MSG);

	/* last + 1, wrapping from max to min; min when no CID was ever granted or loaded. */
	start = 0;
	if (a->has_last && a->last != a->max)
		start = a->last - a->min + 1;
	idx = find_clear(a, start);
	if (idx == NO_INDEX && start > 0)
		idx = find_clear(a, 0);
	/* held < range guarantees a clear bit; the padding bits never count as one. */
	if (idx == NO_INDEX)
		return avf_err_set(-EBUSY, AVF_EX_ILLEGAL_STATE, NO_CID_MSG);
	cid = a->min + idx;

	/*
	 * Persist before committing anything, so a failure has nothing to undo: the bit
	 * stays clear, the count and the cursor do not move.
	 */
	if (a->state_path) {
		r = persist(a, cid);
		if (r < 0)
			return r;
	}
	a->words[idx / 64] |= 1ull << (idx % 64);
	a->held++;
	a->last = cid;
	a->has_last = true;
	*ret_cid = cid;
	return 0;
}

int cid_alloc_claim(struct cid_alloc *a, uint32_t cid)
{
	uint32_t idx;
	uint64_t bit;

	if (cid < a->min || cid > a->max)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "CID %" PRIu32 " is outside %" PRIu32 "..%" PRIu32, cid, a->min,
				   a->max);
	idx = cid - a->min;
	bit = 1ull << (idx % 64);
	if (a->words[idx / 64] & bit)
		return avf_err_set(-EBUSY, AVF_EX_ILLEGAL_STATE, "CID %" PRIu32 " is already held",
				   cid);
	a->words[idx / 64] |= bit;
	a->held++;
	return 0;
}

int cid_alloc_release(struct cid_alloc *a, uint32_t cid)
{
	uint32_t idx;
	uint64_t bit;

	if (cid < a->min || cid > a->max)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "CID %" PRIu32 " is outside %" PRIu32 "..%" PRIu32, cid, a->min,
				   a->max);
	idx = cid - a->min;
	bit = 1ull << (idx % 64);
	if (!(a->words[idx / 64] & bit))
		return avf_err_set(-ENOENT, AVF_EX_ILLEGAL_STATE, "CID %" PRIu32 " is not held",
				   cid);
	a->words[idx / 64] &= ~bit;
	a->held--;
	return 0;
}

bool cid_alloc_is_held(const struct cid_alloc *a, uint32_t cid)
{
	uint32_t idx;

	if (cid < a->min || cid > a->max)
		return false;
	idx = cid - a->min;
	return a->words[idx / 64] & (1ull << (idx % 64));
}

uint32_t cid_alloc_held_count(const struct cid_alloc *a)
{
	return a->held;
}

uint32_t cid_alloc_last(const struct cid_alloc *a)
{
	return a->has_last ? a->last : 0;
}

const char *cid_alloc_load_note(const struct cid_alloc *a)
{
	return a->note;
}
