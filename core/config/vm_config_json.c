/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm_config_json: `vm run` config JSON -> struct vm_config_json (contract in the header,
 * format and differences from AVF in docs/vm-config.md).
 *
 * Four steps, each reporting the first problem it meets:
 * 1. json-c builds the tree (strict mode, UTF-8 validated); its byte offset becomes line:col.
 * 2. A lexical pass over the same bytes rejects what json-c's strict mode still lets through
 *    but serde_json (AVF's parser) refuses: NaN/Infinity, "1.", raw control characters in
 *    strings, lone surrogates, 'single-quoted' keys; and a known field given twice (serde's
 *    "duplicate field"): json-c keeps only the last of equal keys, so the tree cannot show
 *    it. When json-c fails, the pass still runs, and the earlier of the two problems wins.
 * 3. The tree is walked in document order with serde's rules for each field: types, null
 *    only for Option fields, required fields, NonZeroU32, the SemVer requirement's syntax.
 * 4. The checks AVF makes after deserialising, in AVF's order: VmConfig::validate(),
 *    VmConfig::to_parcelable(), then virtmgr/crosvm's own config checks.
 */
#include "config/vm_config_json.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "base/avf_err.h"
#include "base/fs_util.h"

#ifndef JSON_TOKENER_VALIDATE_UTF8
#error "json-c 0.15 or newer is needed (JSON_TOKENER_VALIDATE_UTF8, json_tokener_get_parse_end)"
#endif

/*
 * Levels of nesting (json-c counts the top object as one). json-c needs a bound; serde_json
 * has one of 127 for what it deserialises but skips unknown values at any depth.
 */
#define MAX_DEPTH 128
/* Values quoted in messages are cut to this many bytes. */
#define VALUE_SHOW 64
#define SHOW_BUF   (VALUE_SHOW * 4 + 8)
/* Longest field path: "disks[<u64>].partitions[<u64>].writable" */
#define PATH_LEN 128
/* crosvm's GPT partition name: 36 UTF-16 code units (disk/src/composite.rs). */
#define GPT_NAME_UNITS 36
/* The virtual platform version crosvm implements (virtualizationmanager/src/crosvm.rs). */
#define PLATFORM_MAJOR   1
#define PLATFORM_MINOR   0
#define PLATFORM_PATCH   0
#define PLATFORM_VERSION "1.0.0"

/* ---- the fields (libs/vmconfig/src/lib.rs, A15) ------------------------------------------- */

enum top_key {
	K_NAME,
	K_KERNEL,
	K_INITRD,
	K_PARAMS,
	K_BOOTLOADER,
	K_DISKS,
	K_PROTECTED,
	K_MEMORY_MIB,
	K_CPU_TOPOLOGY,
	K_PLATFORM_VERSION,
	K_DEVICES,
	K_CONSOLE_INPUT_DEVICE,
	K_COUNT
};
static const char *const top_keys[K_COUNT] = {
	"name",         "kernel",
	"initrd",       "params",
	"bootloader",   "disks",
	"protected",    "memory_mib",
	"cpu_topology", "platform_version",
	"devices",      "console_input_device",
};

enum disk_key { D_IMAGE, D_PARTITIONS, D_WRITABLE, D_COUNT };
static const char *const disk_keys[D_COUNT] = {"image", "partitions", "writable"};

enum part_key { P_LABEL, P_PATH, P_WRITABLE, P_COUNT };
static const char *const part_keys[P_COUNT] = {"label", "path", "writable"};

static int key_index(const char *const *keys, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (strcmp(keys[i], key) == 0)
			return i;
	return -1;
}

/* ---- messages ------------------------------------------------------------------------------ */

struct ctx {
	const char *origin;
	const char *src;
	size_t len;
};

static int oom(void)
{
	return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory parsing a VM config");
}

/* "<origin>: "<path>": <text>", or "<origin>: <text>" without a path. */
static int fail(const struct ctx *x, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(const struct ctx *x, const char *path, const char *fmt, ...)
{
	char text[AVF_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (path)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "%s: \"%s\": %s", x->origin,
				   path, text);
	return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "%s: %s", x->origin, text);
}

/* "<origin>:<line>:<column>: <text>"; lines and columns count from 1, columns in bytes. */
static int vfail_at(const struct ctx *x, size_t off, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static int vfail_at(const struct ctx *x, size_t off, const char *fmt, va_list ap)
{
	char text[AVF_ERR_MSG_MAX];
	size_t line = 1, bol = 0;

	if (off > x->len)
		off = x->len;
	for (size_t i = 0; i < off; i++)
		if (x->src[i] == '\n') {
			line++;
			bol = i + 1;
		}
	vsnprintf(text, sizeof(text), fmt, ap);
	return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "%s:%zu:%zu: %s", x->origin, line,
			   off - bol + 1, text);
}

static int fail_at(const struct ctx *x, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_at(const struct ctx *x, size_t off, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vfail_at(x, off, fmt, ap);
	va_end(ap);
	return r;
}

/* @s for a message: control bytes, quote and backslash escaped, cut at VALUE_SHOW bytes. */
static const char *show(char buf[static SHOW_BUF], const char *s)
{
	size_t n = strlen(s), cut = n, o = 0;

	if (n > VALUE_SHOW) {
		cut = VALUE_SHOW;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--; /* not inside a UTF-8 sequence */
	}
	for (size_t i = 0; i < cut; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(buf + o, SHOW_BUF - o, "\\x%02x", c);
		else if (c == '\'' || c == '\\')
			o += (size_t)snprintf(buf + o, SHOW_BUF - o, "\\%c", c);
		else
			buf[o++] = (char)c;
	}
	snprintf(buf + o, SHOW_BUF - o, "%s", cut < n ? "..." : "");
	return buf;
}

/* ---- step 2: what json-c's strict mode accepts but serde_json does not ---------------------- */

/* Which known object, if any, a value is (or holds, for the two arrays). */
enum lx_ctx { LX_ANY, LX_TOP, LX_DISKS, LX_DISK, LX_PARTS, LX_PART };

struct lx {
	const struct ctx *x;
	size_t i;
	size_t err_at; /* where the problem reported is */
};

static int lx_fail(struct lx *l, size_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int lx_fail(struct lx *l, size_t at, const char *fmt, ...)
{
	va_list ap;
	int r;

	l->err_at = at;
	va_start(ap, fmt);
	r = vfail_at(l->x, at, fmt, ap);
	va_end(ap);
	return r;
}

static int lx_syntax(struct lx *l, size_t at, const char *what)
{
	return lx_fail(l, at, "JSON syntax error: %s", what);
}

static void lx_ws(struct lx *l)
{
	/* JSON's four, no more */
	while (l->i < l->x->len) {
		char c = l->x->src[l->i];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		l->i++;
	}
}

static bool lx_hex4(const struct lx *l, size_t at, unsigned *ret)
{
	unsigned v = 0;

	if (at + 4 > l->x->len)
		return false;
	for (size_t k = at; k < at + 4; k++) {
		char c = l->x->src[k];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return false;
	}
	*ret = v;
	return true;
}

/*
 * The string whose opening quote is at l->i. With @key, its text goes there if it is ASCII
 * and fits, else "" (no known field has such a name). json-c cuts keys at a NUL, so a key
 * "kernel\u0000x" would read as "kernel": refused.
 */
static int lx_string(struct lx *l, char *key, size_t key_size)
{
	const char *s = l->x->src;
	size_t n = l->x->len, start = l->i++, k = 0;
	bool plain = true;

	for (;;) {
		unsigned cp;
		unsigned char c;

		if (l->i >= n)
			return lx_syntax(l, l->i, "unterminated string");
		c = (unsigned char)s[l->i];
		if (c == '"') {
			l->i++;
			break;
		}
		if (c < 0x20)
			return lx_fail(l, l->i,
				       "JSON syntax error: control character U+%04X in a string",
				       c);
		if (c != '\\') {
			cp = c; /* >= 0x80: a UTF-8 byte, json-c validated the sequence */
			l->i++;
		} else {
			size_t esc = l->i;

			if (esc + 1 >= n)
				return lx_syntax(l, esc, "unterminated string");
			l->i += 2;
			switch (s[esc + 1]) {
			case '"':
			case '\\':
			case '/': cp = (unsigned char)s[esc + 1]; break;
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				cp = '\b'; /* a control character: not in any key we look for */
				break;
			case 'u':
				if (!lx_hex4(l, l->i, &cp))
					return lx_syntax(l, esc, "invalid \\u escape");
				l->i += 4;
				if (cp >= 0xdc00 && cp <= 0xdfff)
					return lx_syntax(l, esc,
							 "lone trailing surrogate in \\u escape");
				if (cp >= 0xd800 && cp <= 0xdbff) {
					unsigned lo;

					if (l->i + 2 > n || s[l->i] != '\\' || s[l->i + 1] != 'u' ||
					    !lx_hex4(l, l->i + 2, &lo) || lo < 0xdc00 ||
					    lo > 0xdfff)
						return lx_syntax(
							l, esc,
							"lone leading surrogate in \\u escape");
					l->i += 6;
					cp = 0x10000;
				}
				break;
			default: return lx_syntax(l, esc, "invalid escape");
			}
		}
		if (!key)
			continue;
		if (cp == 0)
			return lx_fail(l, start,
				       "object key with a NUL character (\\u0000): not supported");
		if (cp >= 0x80 || k + 1 >= key_size)
			plain = false;
		else
			key[k++] = (char)cp;
	}
	if (key)
		key[plain ? k : 0] = '\0';
	return 0;
}

static bool lx_digit(const struct lx *l)
{
	return l->i < l->x->len && l->x->src[l->i] >= '0' && l->x->src[l->i] <= '9';
}

/* RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int lx_number(struct lx *l)
{
	const char *s = l->x->src;
	size_t start = l->i;

	if (s[l->i] == '-')
		l->i++;
	if (l->i < l->x->len && s[l->i] == '0')
		l->i++;
	else if (lx_digit(l))
		while (lx_digit(l))
			l->i++;
	else
		return lx_syntax(l, start, "invalid number");
	if (l->i < l->x->len && s[l->i] == '.') {
		l->i++;
		if (!lx_digit(l))
			return lx_syntax(l, start, "invalid number");
		while (lx_digit(l))
			l->i++;
	}
	if (l->i < l->x->len && (s[l->i] == 'e' || s[l->i] == 'E')) {
		l->i++;
		if (l->i < l->x->len && (s[l->i] == '+' || s[l->i] == '-'))
			l->i++;
		if (!lx_digit(l))
			return lx_syntax(l, start, "invalid number");
		while (lx_digit(l))
			l->i++;
	}
	return 0;
}

static int lx_literal(struct lx *l, const char *word)
{
	size_t n = strlen(word);

	if (l->x->len - l->i < n || memcmp(l->x->src + l->i, word, n) != 0)
		return lx_syntax(l, l->i, "invalid literal");
	l->i += n;
	return 0;
}

static int lx_value(struct lx *l, enum lx_ctx ctx, const char *path, int depth);

static int lx_object(struct lx *l, enum lx_ctx ctx, const char *path, int depth)
{
	const char *const *keys = ctx == LX_TOP    ? top_keys
				  : ctx == LX_DISK ? disk_keys
				  : ctx == LX_PART ? part_keys
						   : NULL;
	int n_keys = ctx == LX_TOP ? K_COUNT : ctx == LX_DISK ? D_COUNT : P_COUNT;
	uint32_t seen = 0;
	int r;

	l->i++;
	lx_ws(l);
	if (l->i < l->x->len && l->x->src[l->i] == '}') {
		l->i++;
		return 0;
	}
	for (;;) {
		char key[32], child[PATH_LEN] = "";
		enum lx_ctx child_ctx = LX_ANY;
		size_t at;
		int k;

		lx_ws(l);
		if (l->i >= l->x->len || l->x->src[l->i] != '"')
			return lx_syntax(l, l->i, "expected a quoted key");
		at = l->i;
		r = lx_string(l, key, sizeof(key));
		if (r < 0)
			return r;
		lx_ws(l);
		if (l->i >= l->x->len || l->x->src[l->i] != ':')
			return lx_syntax(l, l->i, "expected ':'");
		l->i++;
		k = keys ? key_index(keys, n_keys, key) : -1;
		if (k >= 0) {
			snprintf(child, sizeof(child), "%s%s%s", path, *path ? "." : "", key);
			/* serde: a known field given twice is an error, an unknown one is not */
			if (seen & (1u << k))
				return lx_fail(l, at, "\"%s\": duplicate field", child);
			seen |= 1u << k;
			if (ctx == LX_TOP && k == K_DISKS)
				child_ctx = LX_DISKS;
			else if (ctx == LX_DISK && k == D_PARTITIONS)
				child_ctx = LX_PARTS;
		}
		r = lx_value(l, child_ctx, child, depth + 1);
		if (r < 0)
			return r;
		lx_ws(l);
		if (l->i < l->x->len && l->x->src[l->i] == ',') {
			l->i++;
			continue;
		}
		if (l->i < l->x->len && l->x->src[l->i] == '}') {
			l->i++;
			return 0;
		}
		return lx_syntax(l, l->i, "expected ',' or '}'");
	}
}

static int lx_array(struct lx *l, enum lx_ctx ctx, const char *path, int depth)
{
	enum lx_ctx elem = ctx == LX_DISKS ? LX_DISK : ctx == LX_PARTS ? LX_PART : LX_ANY;
	int r;

	l->i++;
	lx_ws(l);
	if (l->i < l->x->len && l->x->src[l->i] == ']') {
		l->i++;
		return 0;
	}
	for (size_t idx = 0;; idx++) {
		char child[PATH_LEN] = "";

		if (elem != LX_ANY)
			snprintf(child, sizeof(child), "%s[%zu]", path, idx);
		r = lx_value(l, elem, child, depth + 1);
		if (r < 0)
			return r;
		lx_ws(l);
		if (l->i < l->x->len && l->x->src[l->i] == ',') {
			l->i++;
			continue;
		}
		if (l->i < l->x->len && l->x->src[l->i] == ']') {
			l->i++;
			return 0;
		}
		return lx_syntax(l, l->i, "expected ',' or ']'");
	}
}

static int lx_value(struct lx *l, enum lx_ctx ctx, const char *path, int depth)
{
	lx_ws(l);
	if (l->i >= l->x->len)
		return lx_syntax(l, l->i, "unexpected end of data");
	/* @depth containers enclose this value: json-c's limit, and ours on recursion */
	if ((l->x->src[l->i] == '{' || l->x->src[l->i] == '[') && depth + 1 > MAX_DEPTH)
		return lx_syntax(l, l->i, "nesting too deep");
	switch (l->x->src[l->i]) {
	case '{': return lx_object(l, ctx, path, depth);
	case '[': return lx_array(l, ctx, path, depth);
	case '"': return lx_string(l, NULL, 0);
	case 't': return lx_literal(l, "true");
	case 'f': return lx_literal(l, "false");
	case 'n': return lx_literal(l, "null");
	default:
		if (l->x->src[l->i] == '-' || lx_digit(l))
			return lx_number(l);
		return lx_syntax(l, l->i, "unexpected character");
	}
}

/* On failure *ret_at is the offset of the problem reported. */
static int lex_check(const struct ctx *x, size_t *ret_at)
{
	struct lx l = {.x = x, .i = 0};
	int r = lx_value(&l, LX_TOP, "", 0);

	if (r == 0) {
		lx_ws(&l);
		if (l.i < x->len)
			r = lx_syntax(&l, l.i, "trailing characters");
	}
	*ret_at = l.err_at;
	return r;
}

/* ---- SemVer requirements ------------------------------------------------------------------- */

/*
 * The grammar of the Rust semver crate 1.0 (VersionReq::parse), which AVF uses, with its
 * error texts: comma-separated comparators [op] MAJOR[.MINOR[.PATCH[-PRE][+BUILD]]] with op
 * one of = > >= < <= ~ ^ (none: ^), '*'/'x'/'X' for MINOR or PATCH, or '*' alone; spaces
 * (only spaces) around ops and commas; at most 32 comparators. Build metadata is parsed and
 * ignored, as in the crate. Not supported: matching a version that has a pre-release part,
 * which the crate orders identifier by identifier; the platform version (1.0.0) has none,
 * so only "has a pre-release part or not" matters on the requirement side.
 */
enum sv_op { SV_EXACT, SV_GREATER, SV_GE, SV_LESS, SV_LE, SV_TILDE, SV_CARET, SV_WILDCARD };
enum sv_pos { SV_MAJOR, SV_MINOR, SV_PATCH, SV_PRE, SV_BUILD };
#define SV_MAX_CMPS 32

static const char *const sv_pos_name[] = {
	"major version number",   "minor version number", "patch version number",
	"pre-release identifier", "build metadata",
};

struct sv_cmp {
	enum sv_op op;
	uint64_t major, minor, patch;
	bool has_minor, has_patch, has_pre;
};

struct sv_req {
	struct sv_cmp c[SV_MAX_CMPS];
	size_t n; /* 0: "*", matches everything */
	char err[160];
};

static int sv_fail(struct sv_req *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sv_fail(struct sv_req *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->err, sizeof(q->err), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* The character at @s as the crate prints it (Rust's char Debug, near enough). */
static const char *sv_char(char buf[16], const char *s)
{
	unsigned char c = (unsigned char)*s;
	size_t n = 1;

	if (c == '\t' || c == '\n' || c == '\r' || c == '\'' || c == '\\')
		snprintf(buf, 16, "'\\%c'",
			 c == '\t'   ? 't'
			 : c == '\n' ? 'n'
			 : c == '\r' ? 'r'
				     : c);
	else if (c < 0x20 || c == 0x7f)
		snprintf(buf, 16, "'\\u{%x}'", c);
	else {
		if (c >= 0x80) /* the whole UTF-8 sequence */
			while (n < 4 && ((unsigned char)s[n] & 0xc0) == 0x80)
				n++;
		snprintf(buf, 16, "'%.*s'", (int)n, s);
	}
	return buf;
}

static const char *sv_spaces(const char *s)
{
	while (*s == ' ')
		s++;
	return s;
}

static bool sv_wildcard(const char *s)
{
	return *s == '*' || *s == 'x' || *s == 'X';
}

static int sv_number(struct sv_req *q, const char **sp, enum sv_pos pos, uint64_t *ret)
{
	const char *s = *sp;
	uint64_t v = 0;
	size_t len = 0;
	char ch[16];

	for (; s[len] >= '0' && s[len] <= '9'; len++) {
		unsigned d = (unsigned)(s[len] - '0');

		if (v == 0 && len > 0)
			return sv_fail(q, "invalid leading zero in %s", sv_pos_name[pos]);
		if (v > (UINT64_MAX - d) / 10)
			return sv_fail(q, "value of %s exceeds u64::MAX", sv_pos_name[pos]);
		v = v * 10 + d;
	}
	if (len == 0 && *s)
		return sv_fail(q, "unexpected character %s while parsing %s", sv_char(ch, s),
			       sv_pos_name[pos]);
	if (len == 0)
		return sv_fail(q, "unexpected end of input while parsing %s", sv_pos_name[pos]);
	*sp = s + len;
	*ret = v;
	return 0;
}

/* Dot-separated [0-9A-Za-z-]+ segments; the crate refuses any empty one. */
static int sv_identifier(struct sv_req *q, const char **sp, enum sv_pos pos)
{
	const char *s = *sp;
	size_t acc = 0, seg = 0;
	bool nondigit = false;

	for (;;) {
		char c = s[acc + seg];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-') {
			seg++;
			nondigit = true;
		} else if (c >= '0' && c <= '9') {
			seg++;
		} else {
			if (seg == 0)
				return sv_fail(q, "empty identifier segment in %s",
					       sv_pos_name[pos]);
			if (pos == SV_PRE && seg > 1 && !nondigit && s[acc] == '0')
				return sv_fail(q, "invalid leading zero in %s", sv_pos_name[pos]);
			acc += seg;
			if (c != '.') {
				*sp = s + acc;
				return 0;
			}
			acc++;
			seg = 0;
			nondigit = false;
		}
	}
}

static int sv_comparator(struct sv_req *q, const char **sp, struct sv_cmp *c, enum sv_pos *pos)
{
	const char *s = *sp;
	bool default_op = false, minor_wildcard = false;
	int r;

	memset(c, 0, sizeof(*c));
	if (*s == '=') {
		c->op = SV_EXACT;
		s++;
	} else if (*s == '>') {
		c->op = s[1] == '=' ? SV_GE : SV_GREATER;
		s += s[1] == '=' ? 2 : 1;
	} else if (*s == '<') {
		c->op = s[1] == '=' ? SV_LE : SV_LESS;
		s += s[1] == '=' ? 2 : 1;
	} else if (*s == '~') {
		c->op = SV_TILDE;
		s++;
	} else if (*s == '^') {
		c->op = SV_CARET;
		s++;
	} else {
		c->op = SV_CARET;
		default_op = true;
	}
	s = sv_spaces(s);
	*pos = SV_MAJOR;
	r = sv_number(q, &s, *pos, &c->major);
	if (r < 0)
		return r;
	if (*s == '.') {
		s++;
		*pos = SV_MINOR;
		if (sv_wildcard(s)) {
			s++;
			minor_wildcard = true;
			if (default_op)
				c->op = SV_WILDCARD;
		} else {
			r = sv_number(q, &s, *pos, &c->minor);
			if (r < 0)
				return r;
			c->has_minor = true;
		}
	}
	if (*s == '.') {
		s++;
		*pos = SV_PATCH;
		if (sv_wildcard(s)) {
			s++;
			if (default_op)
				c->op = SV_WILDCARD;
		} else if (minor_wildcard) {
			return sv_fail(q, "unexpected character after wildcard in version req");
		} else {
			r = sv_number(q, &s, *pos, &c->patch);
			if (r < 0)
				return r;
			c->has_patch = true;
		}
	}
	if (c->has_patch && *s == '-') {
		s++;
		*pos = SV_PRE;
		r = sv_identifier(q, &s, *pos);
		if (r < 0)
			return r;
		c->has_pre = true;
	}
	if (c->has_patch && *s == '+') {
		s++;
		*pos = SV_BUILD;
		r = sv_identifier(q, &s, *pos);
		if (r < 0)
			return r;
	}
	*sp = sv_spaces(s);
	return 0;
}

static int sv_parse(struct sv_req *q, const char *text)
{
	const char *s = sv_spaces(text);
	char ch[16];

	q->n = 0;
	if (sv_wildcard(s)) {
		const char *rest = sv_spaces(s + 1);

		if (!*rest)
			return 0;
		if (*rest == ',')
			return sv_fail(
				q,
				"wildcard req (%c) must be the only comparator in the version req",
				*s);
		return sv_fail(q, "unexpected character after wildcard in version req");
	}
	for (;;) {
		const char *start = s;
		enum sv_pos pos;
		int r = sv_comparator(q, &s, &q->c[q->n], &pos);

		if (r < 0) {
			if (sv_wildcard(start)) {
				const char *rest = sv_spaces(start + 1);

				if (!*rest || *rest == ',')
					sv_fail(q,
						"wildcard req (%c) must be the only comparator in "
						"the version req",
						*start);
			}
			return r;
		}
		q->n++;
		if (!*s)
			return 0;
		if (*s != ',')
			return sv_fail(q, "expected comma after %s, found %s", sv_pos_name[pos],
				       sv_char(ch, s));
		s = sv_spaces(s + 1);
		if (q->n == SV_MAX_CMPS)
			return sv_fail(q, "excessive number of version comparators");
	}
}

/* Components of a version without pre-release against one comparator (semver's eval.rs). */
static bool sv_exact(const struct sv_cmp *c, uint64_t M, uint64_t m, uint64_t p)
{
	return M == c->major && (!c->has_minor || m == c->minor) &&
	       (!c->has_patch || p == c->patch) && !c->has_pre;
}

static bool sv_greater(const struct sv_cmp *c, uint64_t M, uint64_t m, uint64_t p)
{
	if (M != c->major)
		return M > c->major;
	if (!c->has_minor)
		return false;
	if (m != c->minor)
		return m > c->minor;
	if (!c->has_patch)
		return false;
	if (p != c->patch)
		return p > c->patch;
	return c->has_pre; /* a release is above its own pre-releases */
}

static bool sv_less(const struct sv_cmp *c, uint64_t M, uint64_t m, uint64_t p)
{
	if (M != c->major)
		return M < c->major;
	if (!c->has_minor)
		return false;
	if (m != c->minor)
		return m < c->minor;
	if (!c->has_patch)
		return false;
	if (p != c->patch)
		return p < c->patch;
	return false; /* never below its own pre-releases */
}

static bool sv_cmp_matches(const struct sv_cmp *c, uint64_t M, uint64_t m, uint64_t p)
{
	switch (c->op) {
	case SV_EXACT:
	case SV_WILDCARD: return sv_exact(c, M, m, p);
	case SV_GREATER: return sv_greater(c, M, m, p);
	case SV_GE: return sv_exact(c, M, m, p) || sv_greater(c, M, m, p);
	case SV_LESS: return sv_less(c, M, m, p);
	case SV_LE: return sv_exact(c, M, m, p) || sv_less(c, M, m, p);
	case SV_TILDE:
		if (M != c->major || (c->has_minor && m != c->minor))
			return false;
		return !c->has_patch || p >= c->patch;
	case SV_CARET:
		if (M != c->major)
			return false;
		if (!c->has_minor)
			return true;
		if (!c->has_patch)
			return c->major > 0 ? m >= c->minor : m == c->minor;
		if (c->major > 0)
			return m != c->minor ? m > c->minor : p >= c->patch;
		if (c->minor > 0)
			return m == c->minor && p >= c->patch;
		return m == c->minor && p == c->patch;
	}
	return false;
}

static bool sv_matches(const struct sv_req *q, uint64_t M, uint64_t m, uint64_t p)
{
	for (size_t i = 0; i < q->n; i++)
		if (!sv_cmp_matches(&q->c[i], M, m, p))
			return false;
	return true;
}

/* ---- step 3: the tree, field by field, with serde's rules ------------------------------------ */

static const char *found(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null: return "null";
	case json_type_boolean: return "a boolean";
	case json_type_double:
	case json_type_int: return "a number";
	case json_type_string: return "a string";
	case json_type_array: return "an array";
	case json_type_object: return "an object";
	}
	return "something else";
}

/* A string into *ret (owned). @opt: null reads as absent (serde's Option). */
static int get_string(const struct ctx *x, const char *path, struct json_object *v, bool opt,
		      char **ret)
{
	const char *s;

	free(*ret);
	*ret = NULL;
	if (opt && !v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return fail(x, path, "expected a string, found %s", found(v));
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return fail(x, path, "contains a NUL character (\\u0000): not supported");
	*ret = strdup(s);
	return *ret ? 0 : oom();
}

static int get_bool(const struct ctx *x, const char *path, struct json_object *v, bool *ret)
{
	if (!json_object_is_type(v, json_type_boolean))
		return fail(x, path, "expected a boolean, found %s", found(v));
	*ret = json_object_get_boolean(v);
	return 0;
}

static int get_array(const struct ctx *x, const char *path, struct json_object *v, size_t size,
		     void **ret, size_t *ret_n)
{
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return fail(x, path, "expected an array, found %s", found(v));
	n = json_object_array_length(v);
	if (n > 0) {
		void *a = calloc(n, size);

		if (!a)
			return oom();
		*ret = a;
	}
	*ret_n = n;
	return 0;
}

/* serde's Option<NonZeroU32>: null is absent; negative, 0, > u32 and fractions are errors. */
static int get_memory_mib(const struct ctx *x, struct json_object *v, uint32_t *ret)
{
	uint64_t u;

	*ret = 0;
	if (!v)
		return 0;
	if (json_object_is_type(v, json_type_double))
		return fail(x, "memory_mib", "expected an integer, found a fractional number");
	if (!json_object_is_type(v, json_type_int))
		return fail(x, "memory_mib", "expected an integer, found %s", found(v));
	if (json_object_get_int64(v) < 0) /* json-c clamps at INT64_MIN: still negative */
		return fail(x, "memory_mib", "must not be negative");
	u = json_object_get_uint64(v);
	if (u == 0)
		return fail(x, "memory_mib", "must not be 0");
	if (u > UINT32_MAX)
		/* no value: json-c clamps what does not fit in 64 bits */
		return fail(x, "memory_mib", "more than 4294967295 (not a u32)");
	*ret = (uint32_t)u;
	return 0;
}

/* What the walk keeps that the struct does not. */
struct walk {
	const struct ctx *x;
	char *cpu_topology; /* as written; checked where AVF checks it (to_parcelable) */
};

static int walk_partition(struct walk *w, const char *path, struct json_object *v,
			  struct vm_config_json_partition *p)
{
	bool seen[P_COUNT] = {false};
	char child[PATH_LEN];
	int r = 0;

	/* serde also takes a struct as an array of its fields; nobody writes that: objects only */
	if (!json_object_is_type(v, json_type_object))
		return fail(w->x, path, "expected an object, found %s", found(v));
	json_object_object_foreach(v, key, val)
	{
		int k = key_index(part_keys, P_COUNT, key);

		if (k < 0)
			continue;
		seen[k] = true;
		snprintf(child, sizeof(child), "%s.%s", path, key);
		if (k == P_LABEL)
			r = get_string(w->x, child, val, false, &p->label);
		else if (k == P_PATH)
			r = get_string(w->x, child, val, false, &p->path);
		else
			r = get_bool(w->x, child, val, &p->writable);
		if (r < 0)
			return r;
	}
	for (int k = P_LABEL; k <= P_PATH; k++)
		if (!seen[k]) {
			snprintf(child, sizeof(child), "%s.%s", path, part_keys[k]);
			return fail(w->x, child, "missing required field");
		}
	return 0;
}

static int walk_disk(struct walk *w, const char *path, struct json_object *v,
		     struct vm_config_json_disk *d)
{
	bool seen_writable = false;
	char child[PATH_LEN];
	int r = 0;

	if (!json_object_is_type(v, json_type_object))
		return fail(w->x, path, "expected an object, found %s", found(v));
	json_object_object_foreach(v, key, val)
	{
		int k = key_index(disk_keys, D_COUNT, key);

		if (k < 0)
			continue;
		snprintf(child, sizeof(child), "%s.%s", path, key);
		if (k == D_IMAGE) {
			r = get_string(w->x, child, val, true, &d->image);
		} else if (k == D_WRITABLE) {
			r = get_bool(w->x, child, val, &d->writable);
			seen_writable = true;
		} else {
			r = get_array(w->x, child, val, sizeof(*d->partitions),
				      (void **)&d->partitions, &d->n_partitions);
			for (size_t i = 0; r == 0 && i < d->n_partitions; i++) {
				char elem[PATH_LEN];

				snprintf(elem, sizeof(elem), "%s[%zu]", child, i);
				r = walk_partition(w, elem, json_object_array_get_idx(val, i),
						   &d->partitions[i]);
			}
		}
		if (r < 0)
			return r;
	}
	/* the one disk field without #[serde(default)] */
	if (!seen_writable) {
		snprintf(child, sizeof(child), "%s.writable", path);
		return fail(w->x, child, "missing required field");
	}
	return 0;
}

static int walk_top(struct walk *w, struct json_object *root, struct vm_config_json *c)
{
	const struct ctx *x = w->x;
	bool seen_platform_version = false;
	int r = 0;

	if (!json_object_is_type(root, json_type_object))
		return fail(x, NULL, "expected a JSON object, found %s", found(root));
	json_object_object_foreach(root, key, val)
	{
		char elem[PATH_LEN];
		struct sv_req q;

		switch (key_index(top_keys, K_COUNT, key)) {
		case K_NAME: r = get_string(x, key, val, true, &c->name); break;
		case K_KERNEL: r = get_string(x, key, val, true, &c->kernel); break;
		case K_INITRD: r = get_string(x, key, val, true, &c->initrd); break;
		case K_PARAMS: r = get_string(x, key, val, true, &c->params); break;
		case K_BOOTLOADER: r = get_string(x, key, val, true, &c->bootloader); break;
		case K_DISKS:
			r = get_array(x, key, val, sizeof(*c->disks), (void **)&c->disks,
				      &c->n_disks);
			for (size_t i = 0; r == 0 && i < c->n_disks; i++) {
				snprintf(elem, sizeof(elem), "disks[%zu]", i);
				r = walk_disk(w, elem, json_object_array_get_idx(val, i),
					      &c->disks[i]);
			}
			break;
		case K_PROTECTED: r = get_bool(x, key, val, &c->protected_vm); break;
		case K_MEMORY_MIB: r = get_memory_mib(x, val, &c->memory_mib); break;
		case K_CPU_TOPOLOGY: r = get_string(x, key, val, true, &w->cpu_topology); break;
		case K_PLATFORM_VERSION:
			seen_platform_version = true;
			r = get_string(x, key, val, false, &c->platform_version);
			if (r == 0 && sv_parse(&q, c->platform_version) < 0) {
				char b[SHOW_BUF];

				r = fail(x, key, "invalid SemVer requirement '%s': %s",
					 show(b, c->platform_version), q.err);
			}
			break;
		case K_DEVICES:
			r = get_array(x, key, val, sizeof(*c->devices), (void **)&c->devices,
				      &c->n_devices);
			for (size_t i = 0; r == 0 && i < c->n_devices; i++) {
				snprintf(elem, sizeof(elem), "devices[%zu]", i);
				r = get_string(x, elem, json_object_array_get_idx(val, i), false,
					       &c->devices[i]);
			}
			break;
		case K_CONSOLE_INPUT_DEVICE:
			r = get_string(x, key, val, true, &c->console_input_device);
			break;
		default:
			break; /* unknown keys are ignored, as serde does without
				  deny_unknown_fields */
		}
		if (r < 0)
			return r;
	}
	if (!seen_platform_version)
		return fail(x, "platform_version", "missing required field");
	return 0;
}

/* ---- step 4: AVF's checks after deserialising ------------------------------------------------ */

/* crosvm's GPT partition name: the label in UTF-16, cut or zero-padded to 36 units. */
static void gpt_name(const char *label, uint16_t out[GPT_NAME_UNITS])
{
	const unsigned char *s = (const unsigned char *)label;
	size_t o = 0;

	memset(out, 0, GPT_NAME_UNITS * sizeof(out[0]));
	while (*s && o < GPT_NAME_UNITS) {
		uint32_t cp = 0xfffd;
		int n = 1;

		if (s[0] < 0x80)
			cp = s[0];
		else if ((s[0] & 0xe0) == 0xc0 && (s[1] & 0xc0) == 0x80) {
			cp = (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
			n = 2;
		} else if ((s[0] & 0xf0) == 0xe0 && (s[1] & 0xc0) == 0x80 &&
			   (s[2] & 0xc0) == 0x80) {
			cp = (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 |
			     (s[2] & 0x3f);
			n = 3;
		} else if ((s[0] & 0xf8) == 0xf0 && (s[1] & 0xc0) == 0x80 &&
			   (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80) {
			cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
			     (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
			n = 4;
		}
		s += n;
		if (cp < 0x10000) {
			out[o++] = (uint16_t)cp;
		} else {
			/* a pair; Vec::resize(36) may cut it in half, and so do we */
			cp -= 0x10000;
			out[o++] = (uint16_t)(0xd800 | (cp >> 10));
			if (o < GPT_NAME_UNITS)
				out[o++] = (uint16_t)(0xdc00 | (cp & 0x3ff));
		}
	}
}

struct dup_item {
	const void *key;
	size_t idx;
};

static int cmp_gpt(const void *a, const void *b)
{
	const struct dup_item *x = a, *y = b;
	int c = memcmp(x->key, y->key, GPT_NAME_UNITS * sizeof(uint16_t));

	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int cmp_str(const void *a, const void *b)
{
	const struct dup_item *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/*
 * The first item, in input order, equal to an earlier one (what AVF's HashSet inserts find):
 * its index, or @n if none. @cmp orders by key, then index; sorting keeps a fuzz input with
 * 100k partitions fast.
 */
static size_t first_repeat(struct dup_item *items, size_t n, int (*cmp)(const void *, const void *))
{
	size_t rep = n;

	qsort(items, n, sizeof(*items), cmp);
	for (size_t i = 1; i < n; i++) {
		/* the same key: equal once the index tie-break is taken away */
		struct dup_item a = {items[i - 1].key, 0}, b = {items[i].key, 0};

		if (cmp(&a, &b) == 0 && items[i].idx < rep)
			rep = items[i].idx;
	}
	return rep;
}

static int check_labels(const struct ctx *x, size_t disk, const struct vm_config_json_disk *d)
{
	struct dup_item *items;
	uint16_t(*names)[GPT_NAME_UNITS];
	char path[PATH_LEN], b[SHOW_BUF];
	size_t rep;
	int r = 0;

	if (d->n_partitions < 2)
		return 0;
	items = calloc(d->n_partitions, sizeof(*items));
	names = calloc(d->n_partitions, sizeof(*names));
	if (!items || !names) {
		r = oom();
		goto out;
	}
	for (size_t i = 0; i < d->n_partitions; i++) {
		gpt_name(d->partitions[i].label, names[i]);
		items[i] = (struct dup_item){names[i], i};
	}
	rep = first_repeat(items, d->n_partitions, cmp_gpt);
	if (rep < d->n_partitions) {
		snprintf(path, sizeof(path), "disks[%zu].partitions[%zu].label", disk, rep);
		r = fail(x, path, "duplicate GPT partition label \"%s\"",
			 show(b, d->partitions[rep].label));
	}
out:
	free(items);
	free(names);
	return r;
}

static int check_devices(const struct ctx *x, const struct vm_config_json *c)
{
	struct dup_item *items;
	char path[PATH_LEN], b[SHOW_BUF];
	size_t empty = c->n_devices, rep = c->n_devices;

	for (size_t i = 0; i < c->n_devices && empty == c->n_devices; i++)
		if (!c->devices[i][0])
			empty = i;
	if (c->n_devices >= 2) {
		items = calloc(c->n_devices, sizeof(*items));
		if (!items)
			return oom();
		for (size_t i = 0; i < c->n_devices; i++)
			items[i] = (struct dup_item){c->devices[i], i};
		rep = first_repeat(items, c->n_devices, cmp_str);
		free(items);
	}
	/* AVF walks the list once: canonicalize("") fails, a repeat is refused */
	if (empty < rep) {
		snprintf(path, sizeof(path), "devices[%zu]", empty);
		return fail(x, path, "must not be empty");
	}
	if (rep < c->n_devices) {
		/* AVF compares canonical paths; equal strings are equal paths in any case */
		snprintf(path, sizeof(path), "devices[%zu]", rep);
		return fail(x, path, "duplicated device '%s'", show(b, c->devices[rep]));
	}
	return 0;
}

/* AVF opens the file at to_parcelable: "" can never be opened. */
static int check_path(const struct ctx *x, const char *path, const char *value)
{
	if (value && !value[0])
		return fail(x, path, "must not be empty (a file to open)");
	return 0;
}

static int check_config(struct walk *w, struct vm_config_json *c)
{
	const struct ctx *x = w->x;
	char path[PATH_LEN], b[SHOW_BUF];
	struct sv_req q;
	int r;

	/* VmConfig::validate() */
	if (!c->bootloader && !c->kernel)
		return fail(x, NULL,
			    "neither \"kernel\" nor \"bootloader\" is set: VM must have either a "
			    "bootloader or a kernel image.");
	if (c->bootloader && (c->kernel || c->initrd))
		return fail(
			x, NULL,
			"\"bootloader\" and \"%s\" are both set: Can't have both bootloader and "
			"kernel/initrd image.",
			c->kernel ? "kernel" : "initrd");
	for (size_t i = 0; i < c->n_disks; i++) {
		const struct vm_config_json_disk *d = &c->disks[i];

		if (!d->image == !d->n_partitions) {
			snprintf(path, sizeof(path), "disks[%zu]", i);
			return fail(
				x, path,
				"Exactly one of image and partitions must be specified. (It has "
				"%s.)",
				d->image ? "both" : "neither an image nor partitions");
		}
	}

	/* VmConfig::to_parcelable(): memoryMib is an AIDL int, then the topology, then files */
	if (c->memory_mib > INT32_MAX)
		return fail(x, "memory_mib", "Invalid memory_mib: %u is more than %d",
			    c->memory_mib, INT32_MAX);
	if (w->cpu_topology) {
		if (strcmp(w->cpu_topology, "one_cpu") == 0)
			c->cpu_topology = VM_CONFIG_JSON_ONE_CPU;
		else if (strcmp(w->cpu_topology, "match_host") == 0)
			c->cpu_topology = VM_CONFIG_JSON_MATCH_HOST;
		else
			return fail(x, "cpu_topology",
				    "Invalid cpu topology '%s' (expected \"one_cpu\" or "
				    "\"match_host\")",
				    show(b, w->cpu_topology));
	}
	if ((r = check_path(x, "kernel", c->kernel)) < 0 ||
	    (r = check_path(x, "initrd", c->initrd)) < 0 ||
	    (r = check_path(x, "bootloader", c->bootloader)) < 0)
		return r;
	for (size_t i = 0; i < c->n_disks; i++) {
		const struct vm_config_json_disk *d = &c->disks[i];

		for (size_t j = 0; j < d->n_partitions; j++) {
			snprintf(path, sizeof(path), "disks[%zu].partitions[%zu].path", i, j);
			r = check_path(x, path, d->partitions[j].path);
			if (r < 0)
				return r;
		}
		snprintf(path, sizeof(path), "disks[%zu].image", i);
		r = check_path(x, path, d->image);
		if (r < 0)
			return r;
	}

	/* virtmgr's createVm: composite disks (crosvm's disk crate), then assigned devices */
	for (size_t i = 0; i < c->n_disks; i++) {
		r = check_labels(x, i, &c->disks[i]);
		if (r < 0)
			return r;
	}
	r = check_devices(x, c);
	if (r < 0)
		return r;

	/* crosvm.rs when the VM starts: validate_config(), then the console device */
	if (sv_parse(&q, c->platform_version) < 0 ||
	    !sv_matches(&q, PLATFORM_MAJOR, PLATFORM_MINOR, PLATFORM_PATCH))
		return fail(x, "platform_version",
			    "Incompatible platform version. The config is compatible with platform "
			    "version(s) '%s', but the actual platform version is " PLATFORM_VERSION,
			    show(b, c->platform_version));
	if (c->console_input_device && strcmp(c->console_input_device, "hvc0") != 0 &&
	    strcmp(c->console_input_device, "ttyS0") != 0)
		return fail(x, "console_input_device",
			    "Unsupported serial device '%s' (expected \"hvc0\" or \"ttyS0\")",
			    show(b, c->console_input_device));
	return 0;
}

/* ---- the API --------------------------------------------------------------------------------- */

struct vm_config_json *vm_config_json_free(struct vm_config_json *c)
{
	if (!c)
		return NULL;
	free(c->name);
	free(c->kernel);
	free(c->initrd);
	free(c->params);
	free(c->bootloader);
	for (size_t i = 0; i < c->n_disks; i++) {
		struct vm_config_json_disk *d = &c->disks[i];

		free(d->image);
		for (size_t j = 0; j < d->n_partitions; j++) {
			free(d->partitions[j].label);
			free(d->partitions[j].path);
		}
		free(d->partitions);
	}
	free(c->disks);
	free(c->platform_version);
	for (size_t i = 0; i < c->n_devices; i++)
		free(c->devices[i]);
	free(c->devices);
	free(c->console_input_device);
	free(c);
	return NULL;
}

/* json-c: the tree (NULL for a JSON null), or a syntax error at json-c's byte offset. */
static int json_tree(const struct ctx *x, struct json_object **ret, size_t *ret_at)
{
	struct json_tokener *tok = json_tokener_new_ex(MAX_DEPTH);
	struct json_object *root;
	enum json_tokener_error jerr;
	size_t off;

	if (!tok)
		return oom();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, x->src, (int)x->len);
	jerr = json_tokener_get_error(tok);
	off = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue) {
		/* the end of input: a NUL ends a top-level number, or reports what is cut short */
		root = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		off = x->len;
	}
	json_tokener_free(tok);
	if (jerr != json_tokener_success) {
		json_object_put(root);
		*ret_at = off;
		return fail_at(x, off, "JSON syntax error: %s",
			       jerr == json_tokener_continue ? "unexpected end of data"
							     : json_tokener_error_desc(jerr));
	}
	*ret = root;
	return 0;
}

int vm_config_json_parse(const char *src, size_t len, const char *origin,
			 struct vm_config_json **ret)
{
	struct ctx x = {.origin = origin ? origin : "<string>", .src = src ? src : "", .len = len};
	struct walk w = {.x = &x};
	struct json_object *root = NULL;
	struct vm_config_json *c = NULL;
	size_t json_at = 0, lex_at = 0;
	const char *nul;
	int r;

	assert(src || len == 0);
	if (len > VM_CONFIG_JSON_MAX_BYTES)
		return fail(&x, NULL, "%zu bytes, over the %u-byte limit for a VM config", len,
			    VM_CONFIG_JSON_MAX_BYTES);
	/* json-c stops at a NUL byte as if the input ended there */
	nul = memchr(x.src, '\0', len);
	if (nul)
		return fail_at(&x, (size_t)(nul - x.src), "JSON syntax error: NUL byte");
	r = json_tree(&x, &root, &json_at);
	if (r == -EINVAL) {
		/*
		 * json-c's strict mode takes some invalid input ('single-quoted' keys, say) and
		 * then fails further on: report the first problem, wherever it is.
		 */
		struct avf_error json_err = *avf_err_last();

		if (lex_check(&x, &lex_at) == 0 || lex_at >= json_at)
			avf_err_restore(&json_err);
		return -EINVAL;
	}
	if (r < 0)
		return r;
	r = lex_check(&x, &lex_at);
	if (r < 0)
		goto out;
	c = calloc(1, sizeof(*c));
	if (!c) {
		r = oom();
		goto out;
	}
	r = walk_top(&w, root, c);
	if (r < 0)
		goto out;
	r = check_config(&w, c);
	if (r < 0)
		goto out;
	*ret = c;
	c = NULL;
out:
	vm_config_json_free(c);
	free(w.cpu_topology);
	json_object_put(root);
	return r;
}

int vm_config_json_load(const char *path, struct vm_config_json **ret)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	r = fs_read_file(AT_FDCWD, path, VM_CONFIG_JSON_MAX_BYTES, &buf, &len);
	if (r == -ENOMEM)
		return oom();
	if (r == -EINVAL)
		return avf_err_set(r, AVF_EX_ILLEGAL_ARGUMENT, "%s: can't read: not a regular file",
				   path);
	if (r == -EFBIG)
		return avf_err_set(r, AVF_EX_ILLEGAL_ARGUMENT,
				   "%s: can't read: over the %u-byte limit for a VM config", path,
				   VM_CONFIG_JSON_MAX_BYTES);
	if (r < 0)
		return avf_err_set(r, AVF_EX_ILLEGAL_ARGUMENT, "%s: can't read: %s", path,
				   strerror(-r));
	r = vm_config_json_parse(buf, len, path, ret);
	free(buf);
	return r;
}

int vm_config_json_to_vm_config(const struct vm_config_json *j, struct vm_config *out)
{
	uint32_t cpus = 1;
	char *name = NULL;

	if (j->cpu_topology == VM_CONFIG_JSON_MATCH_HOST) {
		long n;

		errno = 0;
		n = sysconf(_SC_NPROCESSORS_ONLN);
		if (n < 1)
			return avf_err_set(errno ? -errno : -ENOTSUP, AVF_EX_SERVICE_SPECIFIC,
					   "cpu_topology match_host: can't count online CPUs");
		cpus = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	}
	if (j->name) {
		name = strdup(j->name);
		if (!name)
			return oom();
	}
	vm_config_init(out);
	out->kind = VM_CONFIG_RAW;
	out->name = name;
	out->memory_mib = j->memory_mib;
	out->cpus = cpus;
	out->protected_vm = j->protected_vm;
	return 0;
}
