/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_parse: `.scn` text -> struct scn (scn.h holds the grammar and the AST;
 * docs/scenarios.md is the reference for people).
 *
 * A hand-written recursive-descent parser, one line at a time. The first error
 * stops the parse; its message is "PATH:LINE:COL: expected WHAT, found 'TOKEN'"
 * (or "found end of line"), COL 1-based in bytes, pointing at the token, WHAT
 * listing every word the grammar allowed there. Names are checked in file order
 * as they are declared and used, so a scenario that parses refers only to
 * clients, VMs and callbacks that exist at that step. Input is untrusted (the
 * parser is fuzzed): lines, steps and expanded names are bounded, and every
 * error path frees what it built (each step owns its strings until it is
 * committed to the scn, and the scn is freed whole on failure).
 */
#include "scn.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"
#include "vm/death_reason.h"

#define SCN_LINE_MAX 4096
#define SCN_STEPS_MAX 100000
#define SCN_LIST_MAX 10000      /* names in one range, and in one VM list */
#define SCN_NAMES_MAX 1000000   /* expanded VM names in the whole file */
#define SCN_FILE_MAX (64u << 20)
#define SCN_TOKEN_SHOWN 64      /* longer tokens are cut in messages */

/* ---- name sets: open addressing over strings owned by committed steps ------------------------ */

struct nslot {
	const char *name;
	unsigned line;
};

struct nameset {
	struct nslot *slot;
	size_t cap, n; /* cap: a power of two, or 0 */
};

static size_t ns_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return (size_t)h;
}

/* The entry for [name, name+n), or NULL. */
static const struct nslot *ns_find_n(const struct nameset *set, const char *name, size_t n)
{
	if (!set->cap)
		return NULL;
	for (size_t i = ns_hash(name, n) & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
		if (!set->slot[i].name)
			return NULL;
		if (strncmp(set->slot[i].name, name, n) == 0 && !set->slot[i].name[n])
			return &set->slot[i];
	}
}

static const struct nslot *ns_find(const struct nameset *set, const char *name)
{
	return ns_find_n(set, name, strlen(name));
}

static void ns_put(struct nslot *slot, size_t cap, const char *name, unsigned line)
{
	size_t i = ns_hash(name, strlen(name)) & (cap - 1);

	while (slot[i].name)
		i = (i + 1) & (cap - 1);
	slot[i].name = name;
	slot[i].line = line;
}

/* Add @name (not copied: it must outlive the set); a name already present is kept. */
static int ns_add(struct nameset *set, const char *name, unsigned line)
{
	if (ns_find(set, name))
		return 0;
	if ((set->n + 1) * 2 > set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 16;
		struct nslot *slot = calloc(cap, sizeof(*slot));

		if (!slot)
			return -ENOMEM;
		for (size_t i = 0; i < set->cap; i++)
			if (set->slot[i].name)
				ns_put(slot, cap, set->slot[i].name, set->slot[i].line);
		free(set->slot);
		set->slot = slot;
		set->cap = cap;
	}
	ns_put(set->slot, set->cap, name, line);
	set->n++;
	return 0;
}

static void ns_free(struct nameset *set)
{
	free(set->slot);
	*set = (struct nameset){0};
}

/* Empty the set; a big one is released rather than wiped on every step. */
static void ns_reset(struct nameset *set)
{
	if (set->cap > 256)
		ns_free(set);
	else if (set->n)
		memset(set->slot, 0, set->cap * sizeof(*set->slot));
	set->n = 0;
}

/* ---- word tables ----------------------------------------------------------------------------- */

struct named {
	const char *name;
	int value;
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const struct named states[] = {
	{ "NOT_STARTED", AVF_VM_STATE_NOT_STARTED }, { "STARTING", AVF_VM_STATE_STARTING },
	{ "STARTED", AVF_VM_STATE_STARTED },         { "READY", AVF_VM_STATE_READY },
	{ "FINISHED", AVF_VM_STATE_FINISHED },       { "DEAD", AVF_VM_STATE_DEAD },
};
#define STATES_EXPECTED "one of NOT_STARTED, STARTING, STARTED, READY, FINISHED, DEAD"

static const struct named error_codes[] = {
	{ "UNKNOWN", AVF_ERROR_UNKNOWN },
	{ "PAYLOAD_VERIFICATION_FAILED", AVF_ERROR_PAYLOAD_VERIFICATION_FAILED },
	{ "PAYLOAD_CHANGED", AVF_ERROR_PAYLOAD_CHANGED },
	{ "PAYLOAD_INVALID_CONFIG", AVF_ERROR_PAYLOAD_INVALID_CONFIG },
};
#define ERROR_CODES_EXPECTED                                                                    \
	"an ErrorCode (UNKNOWN, PAYLOAD_VERIFICATION_FAILED, PAYLOAD_CHANGED, "                 \
	"PAYLOAD_INVALID_CONFIG or a number)"

/* Spelled by avf_ex_name(). */
static const int exceptions[] = {
	AVF_EX_SECURITY,	  AVF_EX_BAD_PARCELABLE,   AVF_EX_ILLEGAL_ARGUMENT,
	AVF_EX_NULL_POINTER,	  AVF_EX_ILLEGAL_STATE,	   AVF_EX_NETWORK_MAIN_THREAD,
	AVF_EX_UNSUPPORTED_OPERATION, AVF_EX_SERVICE_SPECIFIC, AVF_EX_TRANSACTION_FAILED,
};

#define E(x) { #x, x }
static const struct named errnos[] = {
	E(EPERM),        E(ENOENT),      E(ESRCH),        E(EINTR),        E(EIO),
	E(ENXIO),        E(E2BIG),       E(ENOEXEC),      E(EBADF),        E(ECHILD),
	E(EAGAIN),       E(EWOULDBLOCK), E(ENOMEM),       E(EACCES),       E(EFAULT),
	E(EBUSY),        E(EEXIST),      E(EXDEV),        E(ENODEV),       E(ENOTDIR),
	E(EISDIR),       E(EINVAL),      E(ENFILE),       E(EMFILE),       E(ENOTTY),
	E(ETXTBSY),      E(EFBIG),       E(ENOSPC),       E(ESPIPE),       E(EROFS),
	E(EMLINK),       E(EPIPE),       E(EDOM),         E(ERANGE),       E(EDEADLK),
	E(ENAMETOOLONG), E(ENOSYS),      E(ENOTEMPTY),    E(ELOOP),        E(ENODATA),
	E(ETIME),        E(EPROTO),      E(EBADMSG),      E(EOVERFLOW),    E(ENOTSOCK),
	E(EMSGSIZE),     E(EPROTOTYPE),  E(EOPNOTSUPP),   E(ENOTSUP),      E(EADDRINUSE),
	E(ENETDOWN),     E(ECONNABORTED), E(ECONNRESET),  E(ENOBUFS),      E(EISCONN),
	E(ENOTCONN),     E(ESHUTDOWN),   E(ETIMEDOUT),    E(ECONNREFUSED), E(EHOSTUNREACH),
	E(EALREADY),     E(EINPROGRESS), E(ESTALE),       E(ECANCELED),    E(EOWNERDEAD),
};
#undef E

#define S(x) { #x, SIG##x }
static const struct named signals[] = {
	S(HUP),  S(INT),  S(QUIT), S(ILL),  S(TRAP), S(ABRT), S(BUS),    S(FPE),  S(KILL),
	S(USR1), S(SEGV), S(USR2), S(PIPE), S(ALRM), S(TERM), S(CHLD),   S(CONT), S(STOP),
	S(TSTP), S(TTIN), S(TTOU), S(URG),  S(XCPU), S(XFSZ), S(VTALRM), S(PROF), S(WINCH),
	S(IO),   S(PWR),  S(SYS),
};
#undef S
#define SIGNAL_EXPECTED "a signal (KILL, TERM, SEGV, ABRT, INT, HUP, USR1, ... or 1..64)"

/* Words a new VM may not be called: at `expect` they start another expectation (and
 * `from` ends a create's list). */
static const char *const vm_keywords[] = { "cid",   "cids", "list", "virtmgr",
					   "trace", "no",   "none", "from" };
/* Words a client may not be called: `kill` takes them as its target. */
static const char *const client_keywords[] = { "virtmgr", "vmm", "virtualizationservice" };
/* Words a command may not be called: `kill` (clients and commands share names) and
 * `expect` (a command's expectations start with its name) take them as their own. */
static const char *const command_keywords[] = { "cid", "cids", "list", "virtmgr", "vmm",
						"virtualizationservice", "trace", "no" };
#define COMMAND_KEYWORDS "cid, cids, list, virtmgr, vmm, virtualizationservice, trace, no"

static const char *const kind_names[] = {
	[SCN_TIME] = "time",
	[SCN_CID_RANGE] = "cid-range",
	[SCN_TIMEOUT] = "timeout",
	[SCN_CLIENT] = "client",
	[SCN_COMMAND] = "command",
	[SCN_CREATE] = "create",
	[SCN_START] = "start",
	[SCN_STOP] = "stop",
	[SCN_DROP] = "drop",
	[SCN_REF] = "ref",
	[SCN_REGISTER] = "register",
	[SCN_DISCONNECT] = "disconnect",
	[SCN_KILL_CLIENT] = "kill client",
	[SCN_KILL_VIRTMGR] = "kill virtmgr",
	[SCN_KILL_VMM] = "kill vmm",
	[SCN_KILL_VS] = "kill virtualizationservice",
	[SCN_RESTART_VS] = "restart virtualizationservice",
	[SCN_ADVANCE] = "advance",
	[SCN_SIGNAL] = "signal",
	[SCN_EXPECT_STATE] = "expect state",
	[SCN_EXPECT_DIED] = "expect died",
	[SCN_EXPECT_CALLBACKS] = "expect callbacks",
	[SCN_EXPECT_CID] = "expect cid",
	[SCN_EXPECT_CIDS_DISTINCT] = "expect cids distinct",
	[SCN_EXPECT_LIST] = "expect list",
	[SCN_EXPECT_VIRTMGR_EXITED] = "expect virtmgr exited",
	[SCN_EXPECT_TRACE] = "expect trace",
	[SCN_EXPECT_EXITED] = "expect exited",
	[SCN_EXPECT_KILLED] = "expect killed",
	[SCN_EXPECT_OUTPUT] = "expect output",
	[SCN_EXPECT_NO_LEAKS] = "expect no leaks",
};

const char *scn_kind_name(enum scn_kind k)
{
	return (unsigned)k < N_OF(kind_names) && kind_names[k] ? kind_names[k] : "?";
}

/* ---- the parser and its errors --------------------------------------------------------------- */

struct parser {
	const char *path;
	struct scn *scn;
	size_t steps_cap;
	unsigned line;
	char buf[SCN_LINE_MAX + 1]; /* the current line, comment cut, right-trimmed */
	const char *p;              /* cursor in buf */
	int err;                    /* first error; the parse stops there */
	char *msg;
	struct nameset clients, vms, cbs, cmds;
	struct nameset tmp;         /* names already in the current step's list */
	size_t names;               /* VM names expanded so far */
	size_t vms_cap, events_cap, rows_cap, argv_cap; /* of the step being parsed */
	unsigned first_client;      /* line of the first `client` or `command`, 0: none yet */
	bool first_is_command;      /* ... and which of the two it was */
	unsigned no_leaks;          /* line of `expect no leaks`, 0: none */
	unsigned directive[3];      /* line of time, cid-range, timeout */
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Length of the bare word at @p: up to a blank, the end, or one of : , [ ] " */
static size_t word_len(const char *p)
{
	size_t n = 0;

	while (p[n] && !is_blank(p[n]) && !strchr(":,[]\"", p[n]))
		n++;
	return n;
}

/* Length of the token at @p as messages show it: a string, a punctuation mark, or a word
 * (with its [A..B] when one follows directly). */
static size_t token_len(const char *p)
{
	const char *q = p;

	if (*q == '"') {
		for (q++; *q && *q != '"'; q++)
			if (*q == '\\' && q[1])
				q++;
		return (size_t)(q - p) + (*q == '"');
	}
	if (*q && strchr(":,[]", *q))
		return 1;
	q += word_len(q);
	if (*q == '[') {
		const char *r = q;

		while (*r && !is_blank(*r) && *r != ']')
			r++;
		if (*r == ']')
			q = r + 1;
	}
	return (size_t)(q - p);
}

static void skip_blank(struct parser *ps)
{
	while (is_blank(*ps->p))
		ps->p++;
}

static int nomem(struct parser *ps)
{
	if (!ps->err)
		ps->err = -ENOMEM;
	return -ENOMEM;
}

/*
 * Record "PATH:LINE:COL: expected WHAT, found FOUND" with COL at @at (a pointer into
 * ps->buf). @found NULL: the token at @at, quoted, or "end of line".
 */
static int perr(struct parser *ps, const char *at, const char *found, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int perr(struct parser *ps, const char *at, const char *found, const char *fmt, ...)
{
	char what[2048], tok[SCN_TOKEN_SHOWN + 8];
	va_list ap;

	if (ps->err)
		return ps->err;
	/* point at the token, not at the blanks before it */
	while (!found && is_blank(*at))
		at++;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (!found && !*at) {
		found = "end of line";
	} else if (!found) {
		size_t n = token_len(at);

		snprintf(tok, sizeof(tok), "'%.*s%s'", (int)(n > SCN_TOKEN_SHOWN ? SCN_TOKEN_SHOWN : n),
			 at, n > SCN_TOKEN_SHOWN ? "..." : "");
		found = tok;
	}
	if (asprintf(&ps->msg, "%s:%u:%u: expected %s, found %s", ps->path, ps->line,
		     (unsigned)(at - ps->buf) + 1, what, found) < 0) {
		ps->msg = NULL;
		return nomem(ps);
	}
	ps->err = -EINVAL;
	return -EINVAL;
}

/* ---- lexical helpers ------------------------------------------------------------------------- */

/* The word at the cursor (after blanks), not consumed. */
static const char *peek(struct parser *ps, size_t *ret_len)
{
	skip_blank(ps);
	*ret_len = word_len(ps->p);
	return ps->p;
}

static bool word_is(const char *w, size_t n, const char *kw)
{
	return strlen(kw) == n && memcmp(w, kw, n) == 0;
}

static bool accept(struct parser *ps, const char *kw)
{
	size_t n;
	const char *w = peek(ps, &n);

	if (!word_is(w, n, kw))
		return false;
	ps->p += n;
	return true;
}

static int expect_kw(struct parser *ps, const char *kw)
{
	return accept(ps, kw) ? 0 : perr(ps, ps->p, NULL, "%s", kw);
}

static bool at_eol(struct parser *ps)
{
	skip_blank(ps);
	return !*ps->p;
}

static int expect_eol(struct parser *ps)
{
	return at_eol(ps) ? 0 : perr(ps, ps->p, NULL, "end of line");
}

static int expect_char(struct parser *ps, char c)
{
	skip_blank(ps);
	if (*ps->p != c)
		return perr(ps, ps->p, NULL, "'%c'", c);
	ps->p++;
	return 0;
}

static bool is_name(const char *s, size_t n)
{
	if (!n || !(is_alpha(s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

static bool in_list(const char *const *list, size_t n_list, const char *w, size_t n)
{
	for (size_t i = 0; i < n_list; i++)
		if (word_is(w, n, list[i]))
			return true;
	return false;
}

static const struct named *lookup(const struct named *t, size_t n_t, const char *w, size_t n)
{
	for (size_t i = 0; i < n_t; i++)
		if (word_is(w, n, t[i].name))
			return &t[i];
	return NULL;
}

/* Decimal digits only, the whole of [w, w+n), at most @max. */
static bool parse_uint(const char *w, size_t n, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(w[i]))
			return false;
		if (v > (max - (uint64_t)(w[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(w[i] - '0');
	}
	*ret = v;
	return true;
}

/* A quoted string at the cursor, \" \\ \n \t unescaped. */
static int take_string(struct parser *ps, const char *what, char **ret)
{
	const char *q;
	char *out, *o;

	skip_blank(ps);
	if (*ps->p != '"')
		return perr(ps, ps->p, NULL, "%s", what);
	out = malloc(strlen(ps->p) + 1);
	if (!out)
		return nomem(ps);
	o = out;
	for (q = ps->p + 1; *q != '"'; q++) {
		if (!*q) {
			free(out);
			return perr(ps, q, NULL, "'\"' closing the string");
		}
		if (*q == '\\') {
			char found[8];

			if (!q[1] || !strchr("\"\\nt", q[1])) {
				if (q[1])
					snprintf(found, sizeof(found), "'\\%c'", q[1]);
				free(out);
				return perr(ps, q, q[1] ? found : "end of line",
					    "one of \\\", \\\\, \\n, \\t (escapes in a string)");
			}
			q++;
			*o++ = *q == 'n' ? '\n' : *q == 't' ? '\t' : *q;
			continue;
		}
		*o++ = *q;
	}
	*o = '\0';
	ps->p = q + 1;
	*ret = out;
	return 0;
}

/* An identifier at the cursor, copied. */
static int take_name(struct parser *ps, const char *what, char **ret, const char **ret_at)
{
	size_t n;
	const char *w = peek(ps, &n);
	char *name;

	if (!is_name(w, n))
		return perr(ps, w, NULL, "%s", what);
	name = strndup(w, n);
	if (!name)
		return nomem(ps);
	ps->p += n;
	*ret = name;
	if (ret_at)
		*ret_at = w;
	return 0;
}

/* A name already in @names (what: "a client declared earlier", ...). */
static int take_declared(struct parser *ps, const struct nameset *names, const char *what,
			 char **ret)
{
	const char *at;
	char *name;
	int r = take_name(ps, what, &name, &at);

	if (r < 0)
		return r;
	if (!ns_find(names, name)) {
		free(name);
		return perr(ps, at, NULL, "%s", what);
	}
	*ret = name;
	return 0;
}

/* A client declared earlier. */
static int take_client(struct parser *ps, char **ret)
{
	return take_declared(ps, &ps->clients, "a client declared earlier", ret);
}

/* A single VM (no range) created earlier. */
static int take_vm(struct parser *ps, char **ret)
{
	return take_declared(ps, &ps->vms, "a VM created earlier", ret);
}

static int take_duration(struct parser *ps, bool nonzero, uint64_t *ret)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "ms", 1000000 }, { "s", 1000000000 },
		{ "m", 60000000000 },
	};
	size_t n, i = 0;
	const char *w = peek(ps, &n);
	uint64_t v;

	while (i < n && is_digit(w[i]))
		i++;
	for (size_t u = 0; i > 0 && u < N_OF(units); u++) {
		if (!word_is(w + i, n - i, units[u].unit))
			continue;
		if (!parse_uint(w, i, INT64_MAX / units[u].ns, &v))
			return perr(ps, w, NULL, "a duration below 2^63 ns");
		if (nonzero && v == 0)
			return perr(ps, w, NULL, "a duration above zero");
		ps->p += n;
		*ret = v * units[u].ns;
		return 0;
	}
	return perr(ps, w, NULL, "a duration (an integer and ns, us, ms, s or m, like 500ms)");
}

static bool signal_of(const char *w, size_t n, int *ret)
{
	const struct named *s;
	uint64_t v;

	if (parse_uint(w, n, 64, &v)) {
		if (v < 1)
			return false;
		*ret = (int)v;
		return true;
	}
	if (n > 3 && memcmp(w, "SIG", 3) == 0) {
		w += 3;
		n -= 3;
	}
	s = lookup(signals, N_OF(signals), w, n);
	if (s)
		*ret = s->value;
	return s != NULL;
}

/* ---- VM lists -------------------------------------------------------------------------------- */

enum vm_use {
	VM_EXISTING, /* created earlier */
	VM_NEW,      /* not created yet, and not twice in this list */
	VM_ROW,      /* created earlier, and not twice in this list */
};

static int push_name(struct parser *ps, char ***v, size_t *n, size_t *cap, char *name)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 4;
		char **nv = reallocarray(*v, c, sizeof(*nv));

		if (!nv) {
			free(name);
			return nomem(ps);
		}
		*v = nv;
		*cap = c;
	}
	(*v)[(*n)++] = name;
	ps->names++;
	return 0;
}

/* Check one expanded name; @at is its list element, @range whether that is NAME[A..B]. */
static int check_vm(struct parser *ps, const char *at, const char *name, enum vm_use use,
		    bool range)
{
	const struct nslot *old = ns_find(&ps->vms, name);

	if (use != VM_NEW && !old)
		return range ? perr(ps, at, NULL, "VMs created earlier (no '%s')", name)
			     : perr(ps, at, NULL, "a VM created earlier");
	if (use == VM_NEW && old)
		return perr(ps, at, NULL, "a new VM name ('%s' was created on line %u)", name,
			    old->line);
	if (use == VM_NEW && (old = ns_find(&ps->cmds, name)))
		return perr(ps, at, NULL, "a new VM name ('%s' is a command, started on line %u)",
			    name, old->line);
	if (use != VM_EXISTING) {
		if (ns_find(&ps->tmp, name))
			return perr(ps, at, NULL, "a VM not already in this list ('%s' is)", name);
		if (ns_add(&ps->tmp, name, ps->line) < 0)
			return nomem(ps);
	}
	return 0;
}

/* One list element: NAME or NAME[A..B], appended to (*v, *n). */
static int take_vm_elem(struct parser *ps, enum vm_use use, char ***v, size_t *n, size_t *cap)
{
	size_t len;
	const char *at = peek(ps, &len), *q, *na;
	uint64_t a, b;
	char *name;
	int r;

	if (!is_name(at, len))
		return perr(ps, at, NULL, use == VM_NEW ? "a VM name" : "a VM created earlier");
	q = at + len;
	if (*q != '[') {
		if (use == VM_NEW && in_list(vm_keywords, N_OF(vm_keywords), at, len))
			return perr(ps, at, NULL,
				    "a VM name other than cid, cids, list, virtmgr, trace, no, none, from");
		if (*n >= SCN_LIST_MAX)
			return perr(ps, at, NULL, "at most %d VMs in a list", SCN_LIST_MAX);
		if (ps->names >= SCN_NAMES_MAX)
			return perr(ps, at, NULL, "at most %d VM names in a scenario", SCN_NAMES_MAX);
		name = strndup(at, len);
		if (!name)
			return nomem(ps);
		r = check_vm(ps, at, name, use, false);
		if (r < 0) {
			free(name);
			return r;
		}
		ps->p = q;
		return push_name(ps, v, n, cap, name);
	}

	na = ++q;
	while (is_digit(*q))
		q++;
	if (q == na)
		return perr(ps, q, NULL, "a number");
	if (!parse_uint(na, (size_t)(q - na), UINT32_MAX, &a))
		return perr(ps, na, NULL, "a number up to %u", UINT32_MAX);
	if (q[0] != '.' || q[1] != '.')
		return perr(ps, q, NULL, "'..'");
	q += 2;
	{
		const char *nb = q;

		while (is_digit(*q))
			q++;
		if (q == nb)
			return perr(ps, q, NULL, "a number");
		if (!parse_uint(nb, (size_t)(q - nb), UINT32_MAX, &b))
			return perr(ps, nb, NULL, "a number up to %u", UINT32_MAX);
	}
	if (*q != ']')
		return perr(ps, q, NULL, "']'");
	q++;
	if (a > b)
		return perr(ps, na, NULL, "a range A..B with A <= B");
	if (b - a >= SCN_LIST_MAX)
		return perr(ps, na, NULL, "a range of at most %d names", SCN_LIST_MAX);
	if (*n + (b - a + 1) > SCN_LIST_MAX)
		return perr(ps, at, NULL, "at most %d VMs in a list", SCN_LIST_MAX);
	if (ps->names + (b - a + 1) > SCN_NAMES_MAX)
		return perr(ps, at, NULL, "at most %d VM names in a scenario", SCN_NAMES_MAX);
	for (uint64_t i = a; i <= b; i++) {
		if (asprintf(&name, "%.*s%llu", (int)len, at, (unsigned long long)i) < 0)
			return nomem(ps);
		r = check_vm(ps, at, name, use, true);
		if (r < 0) {
			free(name);
			return r;
		}
		r = push_name(ps, v, n, cap, name);
		if (r < 0)
			return r;
	}
	ps->p = q;
	return 0;
}

/* VMS: elements joined by ','. */
static int take_vms(struct parser *ps, enum vm_use use, struct scn_step *st)
{
	for (;;) {
		int r = take_vm_elem(ps, use, &st->vms, &st->n_vms, &ps->vms_cap);

		if (r < 0)
			return r;
		skip_blank(ps);
		if (*ps->p != ',')
			return 0;
		ps->p++;
	}
}

/* ---- steps ----------------------------------------------------------------------------------- */

/* The end of a client action: [fails EXCEPTION ["substring"]]. @also: what else could come. */
static int end_action(struct parser *ps, struct scn_step *st, const char *also)
{
	char list[512];
	size_t n, len = 0;
	const char *w;
	int r;

	if (at_eol(ps))
		return 0;
	if (!accept(ps, "fails"))
		return perr(ps, ps->p, NULL, "one of %sfails, end of line", also);
	w = peek(ps, &n);
	for (size_t i = 0; i < N_OF(exceptions); i++)
		if (word_is(w, n, avf_ex_name(exceptions[i]))) {
			st->fail.code = exceptions[i];
			st->fail.expected = true;
		}
	if (!st->fail.expected) {
		const struct named *e = lookup(errnos, N_OF(errnos), w, n);

		if (!e) {
			for (size_t i = 0; i < N_OF(exceptions); i++)
				len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
							i ? ", " : "", avf_ex_name(exceptions[i]));
			return perr(ps, w, NULL,
				    "an exception (%s) or an errno name (ENOENT, EPIPE, ...)", list);
		}
		st->fail.expected = true;
		st->fail.is_errno = true;
		st->fail.code = e->value;
	}
	ps->p += n;
	if (at_eol(ps))
		return 0;
	if (*ps->p != '"')
		return perr(ps, ps->p, NULL, "one of a quoted string, end of line");
	r = take_string(ps, "a quoted string", &st->fail.substring);
	return r < 0 ? r : expect_eol(ps);
}

/* The end of an expectation: [within DURATION]. */
static int end_expect(struct parser *ps, struct scn_step *st, const char *also)
{
	int r;

	if (at_eol(ps))
		return 0;
	if (!accept(ps, "within"))
		return perr(ps, ps->p, NULL, "one of %swithin, end of line", also);
	r = take_duration(ps, true, &st->within_ns);
	return r < 0 ? r : expect_eol(ps);
}

static int parse_client_action(struct parser *ps, struct scn_step *st)
{
	size_t n;
	const char *w;
	int r;

	r = take_client(ps, &st->client);
	if (r < 0)
		return r;
	r = expect_char(ps, ':');
	if (r < 0)
		return r;
	w = peek(ps, &n);
	if (word_is(w, n, "create")) {
		ps->p += n;
		st->kind = SCN_CREATE;
		r = take_vms(ps, VM_NEW, st);
		if (r >= 0)
			r = expect_kw(ps, "from");
		if (r < 0)
			return r;
		w = peek(ps, &n);
		if (*w == '"') {
			r = take_string(ps, "a config path", &st->config);
			if (r < 0)
				return r;
		} else {
			if (!n)
				return perr(ps, w, NULL, "a config path");
			st->config = strndup(w, n);
			if (!st->config)
				return nomem(ps);
			ps->p += n;
		}
		st->app = accept(ps, "app");
		if (accept(ps, "guest")) {
			r = take_string(ps, "a quoted guest script", &st->guest);
			if (r < 0)
				return r;
		}
		return end_action(ps, st, st->guest ? "" : st->app ? "guest, " : "app, guest, ");
	}
	if (word_is(w, n, "start") || word_is(w, n, "stop") || word_is(w, n, "drop")) {
		st->kind = word_is(w, n, "start") ? SCN_START
			   : word_is(w, n, "stop") ? SCN_STOP : SCN_DROP;
		ps->p += n;
		r = take_vms(ps, VM_EXISTING, st);
		return r < 0 ? r : end_action(ps, st, "");
	}
	if (word_is(w, n, "ref")) {
		const char *at;
		char *vm;

		ps->p += n;
		st->kind = SCN_REF;
		r = take_vm(ps, &vm);
		if (r < 0)
			return r;
		r = push_name(ps, &st->vms, &st->n_vms, &ps->vms_cap, vm);
		if (r >= 0)
			r = expect_kw(ps, "as");
		if (r >= 0)
			r = take_name(ps, "a VM name", &st->name2, &at);
		if (r < 0)
			return r;
		if (in_list(vm_keywords, N_OF(vm_keywords), st->name2, strlen(st->name2)))
			return perr(ps, at, NULL,
				    "a VM name other than cid, cids, list, virtmgr, trace, no, none, from");
		if (ns_find(&ps->vms, st->name2))
			return perr(ps, at, NULL, "a new VM name ('%s' was created on line %u)",
				    st->name2, ns_find(&ps->vms, st->name2)->line);
		if (ns_find(&ps->cmds, st->name2))
			return perr(ps, at, NULL, "a new VM name ('%s' is a command, started on line %u)",
				    st->name2, ns_find(&ps->cmds, st->name2)->line);
		return end_action(ps, st, "");
	}
	if (word_is(w, n, "register")) {
		ps->p += n;
		st->kind = SCN_REGISTER;
		r = take_vms(ps, VM_EXISTING, st);
		if (r < 0)
			return r;
		/* `register vm1 fails ...` lacks its callback; do not take `fails` for one */
		w = peek(ps, &n);
		if (word_is(w, n, "fails"))
			return perr(ps, w, NULL, "a callback name");
		r = take_name(ps, "a callback name", &st->cb, NULL);
		return r < 0 ? r : end_action(ps, st, "");
	}
	if (word_is(w, n, "disconnect")) {
		ps->p += n;
		st->kind = SCN_DISCONNECT;
		return end_action(ps, st, "");
	}
	return perr(ps, w, NULL, "one of create, start, stop, drop, ref, register, disconnect");
}

static int parse_kill(struct parser *ps, struct scn_step *st)
{
	size_t n;
	const char *w = peek(ps, &n);
	int r;

	if (word_is(w, n, "virtmgr") || word_is(w, n, "vmm")) {
		ps->p += n;
		st->kind = word_is(w, n, "vmm") ? SCN_KILL_VMM : SCN_KILL_VIRTMGR;
		r = expect_kw(ps, "of");
		if (r < 0)
			return r;
		if (st->kind == SCN_KILL_VIRTMGR) {
			r = take_client(ps, &st->client);
		} else {
			char *vm;

			r = take_vm(ps, &vm);
			if (r >= 0)
				r = push_name(ps, &st->vms, &st->n_vms, &ps->vms_cap, vm);
		}
		if (r < 0)
			return r;
	} else if (word_is(w, n, "virtualizationservice")) {
		ps->p += n;
		st->kind = SCN_KILL_VS;
	} else {
		if (is_name(w, n) && ns_find_n(&ps->cmds, w, n))
			return perr(ps, w, NULL, "a client ('%.*s' is a command: `signal %.*s SIG`)",
				    (int)n, w, (int)n, w);
		if (!is_name(w, n) || !ns_find_n(&ps->clients, w, n))
			return perr(ps, w, NULL, "one of virtmgr, vmm, virtualizationservice, a "
						 "client declared earlier");
		st->client = strndup(w, n);
		if (!st->client)
			return nomem(ps);
		ps->p += n;
		st->kind = SCN_KILL_CLIENT;
	}
	st->sig = SIGKILL;
	if (at_eol(ps))
		return 0;
	w = peek(ps, &n);
	if (!signal_of(w, n, &st->sig))
		return perr(ps, w, NULL, "one of " SIGNAL_EXPECTED ", end of line");
	ps->p += n;
	return expect_eol(ps);
}

/* A DeathReason by its AIDL name. */
static int take_reason(struct parser *ps, int *ret)
{
	char list[2048];
	size_t n, len = 0;
	const char *w = peek(ps, &n);
	int found = -1;

	/* death_reason_name() is the one spelling; numbers AVF lacks say UNRECOGNISED */
	for (int i = 0; i < 64; i++) {
		const char *name = death_reason_name((enum avf_death_reason)i);

		if (strcmp(name, "UNRECOGNISED") == 0)
			continue;
		if (word_is(w, n, name))
			found = i;
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", len ? ", " : "",
					name);
	}
	if (found < 0)
		return perr(ps, w, NULL, "a DeathReason (one of %s)", list);
	ps->p += n;
	*ret = found;
	return 0;
}

/* After `callbacks`: CB ':' (none | EV {, EV}). */
static int parse_callbacks(struct parser *ps, struct scn_step *st)
{
	const char *at;
	int r;

	r = take_name(ps, "a callback name", &st->cb, &at);
	if (r < 0)
		return r;
	if (!ns_find(&ps->cbs, st->cb))
		return perr(ps, at, NULL, "a callback registered earlier");
	r = expect_char(ps, ':');
	if (r < 0)
		return r;
	if (accept(ps, "none"))
		return end_expect(ps, st, "");
	for (;;) {
		struct scn_cb_event ev = {0};
		size_t n;
		const char *w = peek(ps, &n);
		const struct named *t;
		uint64_t v;
		bool may_text = false;

		if (word_is(w, n, "started")) {
			ev.kind = SCN_CB_STARTED;
		} else if (word_is(w, n, "ready")) {
			ev.kind = SCN_CB_READY;
		} else if (word_is(w, n, "finished")) {
			ev.kind = SCN_CB_FINISHED;
		} else if (word_is(w, n, "error")) {
			ev.kind = SCN_CB_ERROR;
		} else if (word_is(w, n, "died")) {
			ev.kind = SCN_CB_DIED;
		} else {
			return perr(ps, w, NULL, "one of started, ready, finished, error, died%s",
				    st->n_events ? "" : ", none");
		}
		ps->p += n;
		if (ev.kind == SCN_CB_FINISHED) {
			bool neg;

			w = peek(ps, &n);
			neg = n > 0 && *w == '-';
			if (!parse_uint(w + neg, n - neg, neg ? (uint64_t)INT32_MAX + 1 : INT32_MAX,
					&v))
				return perr(ps, w, NULL, "an exit code (a 32-bit integer)");
			ev.value = neg ? (int)(-(int64_t)v) : (int)v;
			ps->p += n;
		} else if (ev.kind == SCN_CB_ERROR) {
			w = peek(ps, &n);
			t = lookup(error_codes, N_OF(error_codes), w, n);
			if (t)
				ev.value = t->value;
			else if (parse_uint(w, n, INT32_MAX, &v))
				ev.value = (int)v;
			else
				return perr(ps, w, NULL, ERROR_CODES_EXPECTED);
			ps->p += n;
			skip_blank(ps);
			if (*ps->p == '"') {
				r = take_string(ps, "a quoted string", &ev.text);
				if (r < 0)
					return r;
			} else {
				may_text = true;
			}
		} else if (ev.kind == SCN_CB_DIED) {
			r = take_reason(ps, &ev.value);
			if (r < 0)
				return r;
		}
		if (ps->events_cap == st->n_events) {
			size_t c = ps->events_cap ? ps->events_cap * 2 : 4;
			struct scn_cb_event *e = reallocarray(st->events, c, sizeof(*e));

			if (!e) {
				free(ev.text);
				return nomem(ps);
			}
			st->events = e;
			ps->events_cap = c;
		}
		st->events[st->n_events++] = ev;
		skip_blank(ps);
		if (*ps->p != ',')
			return end_expect(ps, st, may_text ? "a quoted string, " : "");
		ps->p++;
		if (st->n_events >= SCN_LIST_MAX)
			return perr(ps, ps->p - 1, NULL, "at most %d events", SCN_LIST_MAX);
	}
}

static const struct named *take_state(struct parser *ps)
{
	size_t n;
	const char *w = peek(ps, &n);
	const struct named *s = lookup(states, N_OF(states), w, n);

	if (!s) {
		perr(ps, w, NULL, STATES_EXPECTED);
		return NULL;
	}
	ps->p += n;
	return s;
}

/* After `list`: [from NAME] ':' (none | ROW {, ROW}), ROW = NAME[A..B]? STATE. */
static int parse_list(struct parser *ps, struct scn_step *st)
{
	int r;

	if (accept(ps, "from")) {
		r = take_client(ps, &st->client);
		if (r < 0)
			return r;
	} else {
		skip_blank(ps);
		if (*ps->p != ':')
			return perr(ps, ps->p, NULL, "one of from, ':'");
	}
	r = expect_char(ps, ':');
	if (r < 0)
		return r;
	if (accept(ps, "none"))
		return end_expect(ps, st, "");
	for (;;) {
		size_t first = st->n_vms;
		const struct named *s;

		r = take_vm_elem(ps, VM_ROW, &st->vms, &st->n_vms, &ps->vms_cap);
		if (r < 0)
			return r;
		s = take_state(ps);
		if (!s)
			return ps->err;
		if (ps->rows_cap < st->n_vms) {
			size_t c = ps->rows_cap ? ps->rows_cap : 4;
			struct scn_list_row *rows;

			while (c < st->n_vms)
				c *= 2;
			rows = reallocarray(st->rows, c, sizeof(*rows));
			if (!rows)
				return nomem(ps);
			st->rows = rows;
			ps->rows_cap = c;
		}
		/* rows own their names; st->vms is the list being built, emptied at the end */
		for (size_t i = first; i < st->n_vms; i++) {
			st->rows[st->n_rows].vm = st->vms[i];
			st->rows[st->n_rows++].state = (enum avf_vm_state)s->value;
			st->vms[i] = NULL;
		}
		skip_blank(ps);
		if (*ps->p != ',')
			break;
		ps->p++;
	}
	free(st->vms);
	st->vms = NULL;
	st->n_vms = 0;
	ps->vms_cap = 0;
	return end_expect(ps, st, "");
}

static int parse_trace(struct parser *ps, struct scn_step *st)
{
	size_t n;
	const char *w = peek(ps, &n);
	char *name = NULL;
	int r;

	if (word_is(w, n, "client") || word_is(w, n, "virtmgr")) {
		ps->p += n;
		r = take_client(ps, &st->client);
		if (r < 0)
			return r;
		name = st->client;
	} else if (word_is(w, n, "vmm")) {
		ps->p += n;
		r = take_vm(ps, &name);
		if (r >= 0)
			r = push_name(ps, &st->vms, &st->n_vms, &ps->vms_cap, name);
		if (r < 0)
			return r;
	} else if (word_is(w, n, "virtualizationservice")) {
		ps->p += n;
	} else if (word_is(w, n, "command")) {
		ps->p += n;
		r = take_declared(ps, &ps->cmds, "a command started earlier", &st->cmd);
		if (r < 0)
			return r;
		name = st->cmd;
	} else {
		return perr(ps, w, NULL, "one of client, virtmgr, virtualizationservice, vmm, command");
	}
	if (asprintf(&st->actor, "%.*s%s%s", (int)n, w, name ? " " : "", name ? name : "") < 0) {
		st->actor = NULL;
		return nomem(ps);
	}
	r = take_string(ps, "a quoted string", &st->text);
	return r < 0 ? r : end_expect(ps, st, "");
}

/* After `expect NAME` (a command): exited CODE | killed SIG | (stdout|stderr) [exactly] STRING. */
static int parse_expect_command(struct parser *ps, struct scn_step *st)
{
	size_t n;
	const char *w;
	uint64_t v;
	int r = take_declared(ps, &ps->cmds, "a command started earlier", &st->cmd);

	if (r < 0)
		return r;
	w = peek(ps, &n);
	if (word_is(w, n, "exited")) {
		ps->p += n;
		st->kind = SCN_EXPECT_EXITED;
		w = peek(ps, &n);
		if (!parse_uint(w, n, 255, &v))
			return perr(ps, w, NULL, "an exit status 0..255");
		st->number = (uint32_t)v;
		ps->p += n;
	} else if (word_is(w, n, "killed")) {
		ps->p += n;
		st->kind = SCN_EXPECT_KILLED;
		w = peek(ps, &n);
		if (!signal_of(w, n, &st->sig))
			return perr(ps, w, NULL, SIGNAL_EXPECTED);
		ps->p += n;
	} else if (word_is(w, n, "stdout") || word_is(w, n, "stderr")) {
		ps->p += n;
		st->kind = SCN_EXPECT_OUTPUT;
		st->stream = word_is(w, n, "stdout") ? 1 : 2;
		st->exact = accept(ps, "exactly");
		r = take_string(ps, st->exact ? "a quoted string" : "one of exactly, a quoted string",
				&st->text);
		if (r < 0)
			return r;
	} else {
		return perr(ps, w, NULL, "one of exited, killed, stdout, stderr");
	}
	return end_expect(ps, st, "");
}

static int parse_expect(struct parser *ps, struct scn_step *st)
{
	size_t n;
	const char *w = peek(ps, &n);
	int r, reason;

	if (word_is(w, n, "cid")) {
		char *vm;

		ps->p += n;
		st->kind = SCN_EXPECT_CID;
		r = expect_kw(ps, "of");
		if (r >= 0)
			r = take_vm(ps, &vm);
		if (r >= 0)
			r = push_name(ps, &st->vms, &st->n_vms, &ps->vms_cap, vm);
		if (r < 0)
			return r;
		w = peek(ps, &n);
		ps->p += n;
		if (word_is(w, n, "released")) {
			st->cid_rel = SCN_CID_RELEASED;
		} else if (word_is(w, n, "kept")) {
			st->cid_rel = SCN_CID_KEPT;
		} else if (word_is(w, n, "is")) {
			uint64_t v;

			st->cid_rel = SCN_CID_IS;
			w = peek(ps, &n);
			if (!parse_uint(w, n, UINT32_MAX, &v))
				return perr(ps, w, NULL, "a CID (a number up to %u)", UINT32_MAX);
			st->number = (uint32_t)v;
			ps->p += n;
		} else if (word_is(w, n, "equals") || word_is(w, n, "differs") ||
			   word_is(w, n, "greater")) {
			st->cid_rel = word_is(w, n, "equals")	 ? SCN_CID_EQUALS
				      : word_is(w, n, "differs") ? SCN_CID_DIFFERS
								 : SCN_CID_GREATER;
			r = take_vm(ps, &st->name2);
			if (r < 0)
				return r;
		} else {
			ps->p = w;
			return perr(ps, w, NULL,
				    "one of released, kept, is, equals, differs, greater");
		}
		return end_expect(ps, st, "");
	}
	if (word_is(w, n, "cids")) {
		ps->p += n;
		st->kind = SCN_EXPECT_CIDS_DISTINCT;
		r = expect_kw(ps, "of");
		if (r >= 0)
			r = take_vms(ps, VM_EXISTING, st);
		if (r >= 0)
			r = expect_kw(ps, "distinct");
		return r < 0 ? r : end_expect(ps, st, "");
	}
	if (word_is(w, n, "list")) {
		ps->p += n;
		st->kind = SCN_EXPECT_LIST;
		return parse_list(ps, st);
	}
	if (word_is(w, n, "virtmgr")) {
		ps->p += n;
		st->kind = SCN_EXPECT_VIRTMGR_EXITED;
		r = expect_kw(ps, "of");
		if (r >= 0)
			r = take_client(ps, &st->client);
		if (r >= 0)
			r = expect_kw(ps, "exited");
		return r < 0 ? r : end_expect(ps, st, "");
	}
	if (word_is(w, n, "trace")) {
		ps->p += n;
		st->kind = SCN_EXPECT_TRACE;
		return parse_trace(ps, st);
	}
	if (word_is(w, n, "no")) {
		ps->p += n;
		st->kind = SCN_EXPECT_NO_LEAKS;
		r = expect_kw(ps, "leaks");
		return r < 0 ? r : end_expect(ps, st, "");
	}

	/* No VM has a command's name, so a command's name starts its expectations. */
	if (is_name(w, n) && w[n] != '[' && ns_find_n(&ps->cmds, w, n))
		return parse_expect_command(ps, st);
	/* A plain word that names no VM is more likely a misspelt keyword: say both. */
	if (!is_name(w, n) || (w[n] != '[' && !ns_find_n(&ps->vms, w, n)))
		return perr(ps, w, NULL,
			    "one of cid, cids, list, virtmgr, trace, no, a VM created earlier, "
			    "a command started earlier");
	r = take_vms(ps, VM_EXISTING, st);
	if (r < 0)
		return r;
	w = peek(ps, &n);
	if (word_is(w, n, "state")) {
		const struct named *s;

		ps->p += n;
		st->kind = SCN_EXPECT_STATE;
		s = take_state(ps);
		if (!s)
			return ps->err;
		st->state = (enum avf_vm_state)s->value;
		return end_expect(ps, st, "");
	}
	if (word_is(w, n, "died")) {
		ps->p += n;
		st->kind = SCN_EXPECT_DIED;
		r = take_reason(ps, &reason);
		if (r < 0)
			return r;
		st->reason = (enum avf_death_reason)reason;
		return end_expect(ps, st, "");
	}
	if (word_is(w, n, "callbacks")) {
		ps->p += n;
		st->kind = SCN_EXPECT_CALLBACKS;
		return parse_callbacks(ps, st);
	}
	return perr(ps, w, NULL, "one of state, died, callbacks");
}

static int parse_directive(struct parser *ps, struct scn_step *st, const char *at, size_t n)
{
	static const char *const names[] = { "time", "cid-range", "timeout" };
	static const enum scn_kind kinds[] = { SCN_TIME, SCN_CID_RANGE, SCN_TIMEOUT };
	size_t d = word_is(at, n, "time") ? 0 : word_is(at, n, "cid-range") ? 1 : 2;
	const char *w, *dash;
	uint64_t lo, hi;
	int r;

	if (ps->first_client)
		return perr(ps, at, NULL,
			    "directives (time, cid-range, timeout) before the first %s (line %u)",
			    ps->first_is_command ? "command" : "client", ps->first_client);
	if (ps->directive[d])
		return perr(ps, at, NULL, "one %s directive (line %u has it)", names[d],
			    ps->directive[d]);
	ps->p += n;
	st->kind = kinds[d];
	if (st->kind == SCN_TIMEOUT) {
		r = take_duration(ps, true, &st->ns);
		return r < 0 ? r : expect_eol(ps);
	}
	w = peek(ps, &n);
	if (st->kind == SCN_TIME) {
		if (n < 2 || *w != 'x' || !parse_uint(w + 1, n - 1, 100000, &lo) || lo < 1)
			return perr(ps, w, NULL, "a rate x1..x100000 (like x100)");
		st->rate = (uint32_t)lo;
		ps->p += n;
		return expect_eol(ps);
	}
	dash = memchr(w, '-', n);
	if (!dash || dash == w || !is_digit(*w) || !is_digit(dash[1]))
		return perr(ps, w, NULL, "a CID range LO-HI (like 100-199)");
	if (!parse_uint(w, (size_t)(dash - w), UINT32_MAX, &lo))
		return perr(ps, w, NULL, "a CID up to %u", UINT32_MAX);
	if (!parse_uint(dash + 1, n - (size_t)(dash + 1 - w), UINT32_MAX, &hi))
		return perr(ps, dash + 1, NULL, "a CID up to %u", UINT32_MAX);
	if (lo < 3)
		return perr(ps, w, NULL, "a lowest CID of at least 3 (0, 1 and 2 are reserved)");
	if (lo > hi)
		return perr(ps, w, NULL, "a CID range with LO <= HI");
	st->lo = (uint32_t)lo;
	st->hi = (uint32_t)hi;
	ps->p += n;
	return expect_eol(ps);
}

/* One word of a command line: a STRING, or a bare word (up to a blank; no '"' in it). */
static int take_word(struct parser *ps, struct scn_step *st)
{
	const char *w;
	size_t n = 0;
	char *word, **v;
	int r;

	skip_blank(ps);
	w = ps->p;
	if (*w == '"') {
		r = take_string(ps, "a quoted string", &word);
		if (r < 0)
			return r;
	} else {
		while (w[n] && !is_blank(w[n]) && w[n] != '"')
			n++;
		if (!(word = strndup(w, n)))
			return nomem(ps);
		ps->p += n;
	}
	if (st->argc == ps->argv_cap) {
		size_t c = ps->argv_cap ? ps->argv_cap * 2 : 4;

		if (!(v = reallocarray(st->argv, c, sizeof(*v)))) {
			free(word);
			return nomem(ps);
		}
		st->argv = v;
		ps->argv_cap = c;
	}
	st->argv[st->argc++] = word;
	/* `a"b"` is one word in a shell; here it would be a surprise: say so */
	if (*ps->p && !is_blank(*ps->p))
		return perr(ps, ps->p, NULL, "a blank between words");
	return 0;
}

/* After `command`: NAME [stdin STRING] ':' WORD {WORD}. */
static int parse_command(struct parser *ps, struct scn_step *st)
{
	const struct nslot *old;
	const char *at;
	int r;

	st->kind = SCN_COMMAND;
	r = take_name(ps, "a command name", &st->cmd, &at);
	if (r < 0)
		return r;
	if (in_list(command_keywords, N_OF(command_keywords), at, strlen(st->cmd)))
		return perr(ps, at, NULL, "a command name other than " COMMAND_KEYWORDS);
	if ((old = ns_find(&ps->cmds, st->cmd)))
		return perr(ps, at, NULL, "a new command name ('%s' was started on line %u)",
			    st->cmd, old->line);
	if ((old = ns_find(&ps->clients, st->cmd)))
		return perr(ps, at, NULL,
			    "a new command name ('%s' is a client, declared on line %u)", st->cmd,
			    old->line);
	if ((old = ns_find(&ps->vms, st->cmd)))
		return perr(ps, at, NULL, "a new command name ('%s' is a VM, created on line %u)",
			    st->cmd, old->line);
	if (accept(ps, "stdin")) {
		r = take_string(ps, "a quoted string", &st->input);
		if (r < 0)
			return r;
	}
	skip_blank(ps);
	if (*ps->p != ':')
		return perr(ps, ps->p, NULL, st->input ? "':'" : "one of stdin, ':'");
	ps->p++;
	if (at_eol(ps))
		return perr(ps, ps->p, NULL, "a command line (the program and its arguments)");
	while (!at_eol(ps))
		if ((r = take_word(ps, st)) < 0)
			return r;
	return 0;
}

static int parse_step(struct parser *ps, struct scn_step *st)
{
	size_t n;
	const char *w = peek(ps, &n), *after = w + n;
	uint64_t ns;
	int r;

	while (is_blank(*after))
		after++;
	if (is_name(w, n) && *after == ':')
		return parse_client_action(ps, st);
	if (word_is(w, n, "time") || word_is(w, n, "cid-range") || word_is(w, n, "timeout"))
		return parse_directive(ps, st, w, n);
	if (word_is(w, n, "client")) {
		const char *at;
		const struct nslot *old;

		ps->p += n;
		st->kind = SCN_CLIENT;
		r = take_name(ps, "a client name", &st->client, &at);
		if (r < 0)
			return r;
		if (in_list(client_keywords, N_OF(client_keywords), at, strlen(st->client)))
			return perr(ps, at, NULL,
				    "a client name other than virtmgr, vmm, virtualizationservice");
		old = ns_find(&ps->clients, st->client);
		if (old)
			return perr(ps, at, NULL, "a new client name ('%s' was declared on line %u)",
				    st->client, old->line);
		old = ns_find(&ps->cmds, st->client);
		if (old)
			return perr(ps, at, NULL,
				    "a new client name ('%s' is a command, started on line %u)",
				    st->client, old->line);
		return expect_eol(ps);
	}
	if (word_is(w, n, "command")) {
		ps->p += n;
		return parse_command(ps, st);
	}
	if (word_is(w, n, "signal")) {
		ps->p += n;
		st->kind = SCN_SIGNAL;
		r = take_declared(ps, &ps->cmds, "a command started earlier", &st->cmd);
		if (r < 0)
			return r;
		w = peek(ps, &n);
		if (!signal_of(w, n, &st->sig))
			return perr(ps, w, NULL, SIGNAL_EXPECTED);
		ps->p += n;
		return expect_eol(ps);
	}
	if (word_is(w, n, "kill")) {
		ps->p += n;
		return parse_kill(ps, st);
	}
	if (word_is(w, n, "restart")) {
		ps->p += n;
		st->kind = SCN_RESTART_VS;
		r = expect_kw(ps, "virtualizationservice");
		return r < 0 ? r : expect_eol(ps);
	}
	if (word_is(w, n, "advance")) {
		ps->p += n;
		st->kind = SCN_ADVANCE;
		r = take_duration(ps, false, &ns);
		if (r < 0)
			return r;
		st->ns = ns;
		return expect_eol(ps);
	}
	if (word_is(w, n, "expect")) {
		ps->p += n;
		return parse_expect(ps, st);
	}
	return perr(ps, w, NULL,
		    "one of time, cid-range, timeout, client, command, kill, signal, restart, "
		    "advance, expect, NAME:");
}

static void step_clear(struct scn_step *st)
{
	free(st->src);
	free(st->client);
	for (size_t i = 0; i < st->n_vms; i++)
		free(st->vms[i]);
	free(st->vms);
	free(st->name2);
	free(st->cb);
	free(st->config);
	free(st->guest);
	for (size_t i = 0; i < st->n_events; i++)
		free(st->events[i].text);
	free(st->events);
	for (size_t i = 0; i < st->n_rows; i++)
		free(st->rows[i].vm);
	free(st->rows);
	free(st->actor);
	free(st->text);
	free(st->fail.substring);
	free(st->cmd);
	for (size_t i = 0; i < st->argc; i++)
		free(st->argv[i]);
	free(st->argv);
	free(st->input);
	*st = (struct scn_step){0};
}

/* Move @st into the scn (it is cleared on failure) and record what it declares. */
static int commit(struct parser *ps, struct scn_step *st, const char *src)
{
	struct scn *s = ps->scn;
	struct scn_step *c;
	int r = 0;

	st->src = strdup(src);
	if (!st->src)
		goto nomem;
	if (s->n == ps->steps_cap) {
		size_t cap = ps->steps_cap ? ps->steps_cap * 2 : 16;
		struct scn_step *steps = reallocarray(s->steps, cap, sizeof(*steps));

		if (!steps)
			goto nomem;
		s->steps = steps;
		ps->steps_cap = cap;
	}
	c = &s->steps[s->n++];
	*c = *st;
	*st = (struct scn_step){0};

	/* Declarations point at the committed step's strings, which live as long as the scn. */
	switch (c->kind) {
	case SCN_TIME:
	case SCN_CID_RANGE:
	case SCN_TIMEOUT:
		ps->directive[c->kind == SCN_TIME ? 0 : c->kind == SCN_CID_RANGE ? 1 : 2] = c->line;
		break;
	case SCN_CLIENT:
	case SCN_COMMAND:
		if (!ps->first_client) {
			ps->first_client = c->line;
			ps->first_is_command = c->kind == SCN_COMMAND;
		}
		if (c->kind == SCN_CLIENT)
			r = ns_add(&ps->clients, c->client, c->line);
		else
			r = ns_add(&ps->cmds, c->cmd, c->line);
		break;
	/* an action expected to fail declares nothing: its name may be used again */
	case SCN_CREATE:
		for (size_t i = 0; i < c->n_vms && r >= 0 && !c->fail.expected; i++)
			r = ns_add(&ps->vms, c->vms[i], c->line);
		break;
	case SCN_REF:
		if (!c->fail.expected)
			r = ns_add(&ps->vms, c->name2, c->line);
		break;
	case SCN_REGISTER:
		if (!c->fail.expected)
			r = ns_add(&ps->cbs, c->cb, c->line);
		break;
	case SCN_EXPECT_NO_LEAKS:
		ps->no_leaks = c->line;
		break;
	default:
		break;
	}
	return r < 0 ? nomem(ps) : 0;
nomem:
	step_clear(st);
	return nomem(ps);
}

/* One line of @len bytes at @line (no '\n'). */
static int do_line(struct parser *ps, const char *line, size_t len)
{
	struct scn_step st = {0};
	bool in_str = false;
	char *q, *comment = NULL, *end, *left;
	int r;

	if (len && line[len - 1] == '\r')
		len--;
	if (len > SCN_LINE_MAX) {
		char found[64];

		ps->buf[0] = '\0';
		snprintf(found, sizeof(found), "a line of %zu characters", len);
		return perr(ps, ps->buf + SCN_LINE_MAX, found, "at most %d characters on a line",
			    SCN_LINE_MAX);
	}
	memcpy(ps->buf, line, len);
	ps->buf[len] = '\0';

	/* Cut the comment: the first '#' outside a string. */
	for (q = ps->buf; *q; q++) {
		if (in_str) {
			if (*q == '\\' && q[1])
				q++;
			else if (*q == '"')
				in_str = false;
		} else if (*q == '"') {
			in_str = true;
		} else if (*q == '#') {
			*q = '\0';
			comment = q + 1;
			break;
		}
	}
	end = ps->buf + strlen(ps->buf);
	while (end > ps->buf && is_blank(end[-1]))
		*--end = '\0';
	for (left = ps->buf; is_blank(*left); left++)
		;

	if (!*left) {
		/* The title: the first comment line with text before any step (a licence
		 * header is not a title). */
		if (comment && !ps->scn->n && !ps->scn->title) {
			char *e = comment + strlen(comment);

			while (is_blank(*comment))
				comment++;
			while (e > comment && is_blank(e[-1]))
				e--;
			if (e > comment && strncmp(comment, "SPDX-License-Identifier:", 24) != 0) {
				ps->scn->title = strndup(comment, (size_t)(e - comment));
				if (!ps->scn->title)
					return nomem(ps);
			}
		}
		return 0;
	}

	if (ps->no_leaks)
		return perr(ps, left, NULL, "end of scenario after 'expect no leaks' (line %u)",
			    ps->no_leaks);
	if (ps->scn->n >= SCN_STEPS_MAX)
		return perr(ps, left, NULL, "at most %d steps", SCN_STEPS_MAX);
	ps->p = left;
	ps->vms_cap = ps->events_cap = ps->rows_cap = ps->argv_cap = 0;
	ns_reset(&ps->tmp);
	st.line = ps->line;
	r = parse_step(ps, &st);
	if (r < 0) {
		step_clear(&st);
		return r;
	}
	return commit(ps, &st, left);
}

struct scn *scn_free(struct scn *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		step_clear(&s->steps[i]);
	free(s->steps);
	free(s->path);
	free(s->title);
	free(s);
	return NULL;
}

static void set_msg(char **err_msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_msg(char **err_msg, const char *fmt, ...)
{
	va_list ap;

	if (!err_msg)
		return;
	va_start(ap, fmt);
	if (vasprintf(err_msg, fmt, ap) < 0)
		*err_msg = NULL;
	va_end(ap);
}

int scn_parse(const char *path, const char *src, struct scn **ret, char **err_msg)
{
	struct parser *ps;
	const char *p = src;
	int r = 0;

	if (err_msg)
		*err_msg = NULL;
	ps = calloc(1, sizeof(*ps));
	if (!ps || !(ps->scn = calloc(1, sizeof(*ps->scn))) || !(ps->scn->path = strdup(path))) {
		r = -ENOMEM;
		goto out;
	}
	ps->path = path;
	/* a UTF-8 byte order mark is not part of line 1 */
	if (strncmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (*p) {
		const char *nl = strchrnul(p, '\n');

		ps->line++;
		r = do_line(ps, p, (size_t)(nl - p));
		if (r < 0)
			goto out;
		p = *nl ? nl + 1 : nl;
	}
	*ret = ps->scn;
	ps->scn = NULL;
out:
	if (r < 0 && ps && ps->msg) {
		avf_err_set(r, AVF_EX_ILLEGAL_ARGUMENT, "%s", ps->msg);
		if (err_msg) {
			*err_msg = ps->msg;
			ps->msg = NULL;
		}
	} else if (r < 0) {
		avf_err_set(r, AVF_EX_ILLEGAL_ARGUMENT, "%s: out of memory", path);
		set_msg(err_msg, "%s: out of memory", path);
	}
	if (ps) {
		scn_free(ps->scn);
		free(ps->msg);
		ns_free(&ps->clients);
		ns_free(&ps->vms);
		ns_free(&ps->cbs);
		ns_free(&ps->cmds);
		ns_free(&ps->tmp);
		free(ps);
	}
	return r;
}

int scn_parse_file(const char *path, struct scn **ret, char **err_msg)
{
	FILE *f;
	char *buf = NULL, *nul;
	size_t len = 0, cap = 0;
	int r;

	if (err_msg)
		*err_msg = NULL;
	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		goto fail;
	}
	for (;;) {
		size_t got;

		if (cap - len < 2) {
			char *nb;

			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (!nb) {
				r = -ENOMEM;
				goto fail;
			}
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len - 1, f);
		len += got;
		if (len > SCN_FILE_MAX) {
			r = -EFBIG;
			goto fail;
		}
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		r = errno ? -errno : -EIO;
		goto fail;
	}
	buf[len] = '\0';
	nul = memchr(buf, '\0', len);
	if (nul) {
		unsigned line = 1;
		const char *ls = buf;

		for (const char *q = buf; q < nul; q++)
			if (*q == '\n') {
				line++;
				ls = q + 1;
			}
		r = -EINVAL;
		set_msg(err_msg, "%s:%u:%u: expected text, found a NUL byte", path, line,
			(unsigned)(nul - ls) + 1);
		avf_err_set(r, AVF_EX_ILLEGAL_ARGUMENT, "%s:%u:%u: expected text, found a NUL byte",
			    path, line, (unsigned)(nul - ls) + 1);
		goto out;
	}
	r = scn_parse(path, buf, ret, err_msg);
	goto out;
fail:
	if (r == -EFBIG)
		set_msg(err_msg, "%s: can't read scenario: larger than %u bytes", path,
			SCN_FILE_MAX);
	else
		set_msg(err_msg, "%s: can't read scenario: %s", path, strerror(-r));
	avf_err_set(r, AVF_EX_ILLEGAL_ARGUMENT, "%s: can't read scenario: %s", path,
		    strerror(-r));
out:
	if (f)
		fclose(f);
	free(buf);
	return r;
}
