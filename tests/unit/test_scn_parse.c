/* SPDX-License-Identifier: Apache-2.0 */
/*
 * harness/scenario/scn_parse: every step kind with its fields, the DESIGN §7 example, VM
 * ranges, strings, durations, signals and the enum words, and every error class with its
 * exact message (PATH:LINE:COL and the expected-list). Columns below are counted by hand
 * from the source strings. Run under valgrind for the no-leak claim (every error path).
 */
#include "cmocka_wrap.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "scn.h"

#define P "t.scn"
/* Line 1 declares client a, line 2 creates vm1 and vm2, line 3 registers cb on vm1. */
#define PRE "client a\na: create vm1, vm2 from c.json\na: register vm1 cb\n"

static struct scn *parse_ok(const char *src)
{
	struct scn *s = NULL;
	char *msg = (char *)"unset";
	int r = scn_parse(P, src, &s, &msg);

	if (r < 0)
		fail_msg("scn_parse: %d %s", r, msg ? msg : "(null)");
	assert_null(msg);
	assert_non_null(s);
	return s;
}

/* Parse @src, which must fail with exactly @want; *ret stays untouched. */
static void parse_bad(const char *src, const char *want)
{
	struct scn dummy;
	struct scn *s = &dummy;
	char *msg = NULL;
	int r = scn_parse(P, src, &s, &msg);

	assert_int_equal(r, -EINVAL);
	assert_ptr_equal(s, &dummy);
	assert_non_null(msg);
	if (strcmp(msg, want) != 0)
		fail_msg("\n  got:  %s\n  want: %s", msg, want);
	/* the thread's error slot carries the same text */
	assert_string_equal(avf_err_last()->msg, want);
	assert_int_equal(avf_err_last()->err, -EINVAL);
	free(msg);
}

/* The one step after PRE. */
static const struct scn_step *last(const struct scn *s)
{
	assert_true(s->n > 0);
	return &s->steps[s->n - 1];
}

static void vms_are(const struct scn_step *st, size_t n, const char *const *names)
{
	assert_int_equal(st->n_vms, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(st->vms[i], names[i]);
}

/* ---- whole files ---------------------------------------------------------------------------- */

static void test_design_example(void **state)
{
	static const char src[] =
		"# Dropping the last handle kills the VM and frees its CID\n"
		"client app\n"
		"app: create vm1 from configs/minimal.json\n"
		"app: start vm1\n"
		"expect vm1 state STARTING\n"
		"app: drop vm1\n"
		"expect vm1 died KILLED\n"
		"expect cid of vm1 released\n";
	struct scn *s = parse_ok(src);

	assert_string_equal(s->path, P);
	assert_string_equal(s->title, "Dropping the last handle kills the VM and frees its CID");
	assert_int_equal(s->n, 7);

	assert_int_equal(s->steps[0].kind, SCN_CLIENT);
	assert_int_equal(s->steps[0].line, 2);
	assert_string_equal(s->steps[0].client, "app");
	assert_string_equal(s->steps[0].src, "client app");

	assert_int_equal(s->steps[1].kind, SCN_CREATE);
	assert_int_equal(s->steps[1].line, 3);
	assert_string_equal(s->steps[1].client, "app");
	vms_are(&s->steps[1], 1, (const char *[]){ "vm1" });
	assert_string_equal(s->steps[1].config, "configs/minimal.json");
	assert_false(s->steps[1].app);
	assert_null(s->steps[1].guest);
	assert_false(s->steps[1].fail.expected);

	assert_int_equal(s->steps[2].kind, SCN_START);
	assert_string_equal(s->steps[2].client, "app");
	vms_are(&s->steps[2], 1, (const char *[]){ "vm1" });

	assert_int_equal(s->steps[3].kind, SCN_EXPECT_STATE);
	vms_are(&s->steps[3], 1, (const char *[]){ "vm1" });
	assert_int_equal(s->steps[3].state, AVF_VM_STATE_STARTING);
	assert_int_equal(s->steps[3].within_ns, 0);

	assert_int_equal(s->steps[4].kind, SCN_DROP);
	assert_int_equal(s->steps[5].kind, SCN_EXPECT_DIED);
	assert_int_equal(s->steps[5].reason, AVF_DEATH_KILLED);

	assert_int_equal(s->steps[6].kind, SCN_EXPECT_CID);
	assert_int_equal(s->steps[6].line, 8);
	vms_are(&s->steps[6], 1, (const char *[]){ "vm1" });
	assert_int_equal(s->steps[6].cid_rel, SCN_CID_RELEASED);
	assert_string_equal(s->steps[6].src, "expect cid of vm1 released");
	scn_free(s);
}

static void test_empty_and_comment_only(void **state)
{
	struct scn *s = parse_ok("");

	assert_int_equal(s->n, 0);
	assert_null(s->title);
	assert_null(s->steps);
	scn_free(s);

	s = parse_ok("\n\n   \t\n# only a title\n# and more\n");
	assert_int_equal(s->n, 0);
	assert_string_equal(s->title, "only a title");
	scn_free(s);
}

static void test_title(void **state)
{
	/* a licence header and an empty comment are skipped; the text is trimmed */
	struct scn *s = parse_ok("# SPDX-License-Identifier: Apache-2.0\n#\n  #   The title  \t\n"
				 "# not this\nclient a\n");

	assert_string_equal(s->title, "The title");
	scn_free(s);

	/* a comment after the first step is no title */
	s = parse_ok("client a\n# late\n");
	assert_null(s->title);
	scn_free(s);

	/* a trailing comment on a step is no title either */
	s = parse_ok("client a # first\n# second\n");
	assert_null(s->title);
	scn_free(s);

	/* '#' right after '#' is text */
	s = parse_ok("## Heading\n");
	assert_string_equal(s->title, "# Heading");
	scn_free(s);
}

static void test_blank_crlf_trailing(void **state)
{
	static const char src[] = "\xef\xbb\xbf# t\r\n"
				  "\r\n"
				  "client a   \t\r\n"
				  "   \r\n"
				  "\ta: create vm1 from c.json # comment\r\n"
				  "expect vm1 state NOT_STARTED\t  ";
	struct scn *s = parse_ok(src);

	assert_string_equal(s->title, "t");
	assert_int_equal(s->n, 3);
	assert_int_equal(s->steps[0].line, 3);
	assert_string_equal(s->steps[0].client, "a");
	assert_string_equal(s->steps[0].src, "client a");
	assert_int_equal(s->steps[1].line, 5);
	assert_string_equal(s->steps[1].src, "a: create vm1 from c.json");
	assert_int_equal(s->steps[2].line, 6);
	assert_int_equal(s->steps[2].state, AVF_VM_STATE_NOT_STARTED);
	assert_string_equal(s->steps[2].src, "expect vm1 state NOT_STARTED");
	scn_free(s);

	/* columns count from the real line start, blanks included */
	parse_bad("client a\n\t  a: boot vm1\n",
		  P ":2:7: expected one of create, start, stop, drop, ref, register, disconnect, "
		    "found 'boot'");
	parse_bad("client a\r\nclient b\r\nclint c\r\n",
		  P ":3:1: expected one of time, cid-range, timeout, client, command, kill, "
		    "signal, restart, advance, expect, NAME:, found 'clint'");
}

/* ---- directives ----------------------------------------------------------------------------- */

static void test_directives(void **state)
{
	struct scn *s = parse_ok("time x100\ncid-range 100-102\ntimeout 250ms\nclient a\n");

	assert_int_equal(s->n, 4);
	assert_int_equal(s->steps[0].kind, SCN_TIME);
	assert_int_equal(s->steps[0].rate, 100);
	assert_int_equal(s->steps[1].kind, SCN_CID_RANGE);
	assert_int_equal(s->steps[1].lo, 100);
	assert_int_equal(s->steps[1].hi, 102);
	assert_int_equal(s->steps[2].kind, SCN_TIMEOUT);
	assert_int_equal(s->steps[2].ns, 250000000ull);
	scn_free(s);

	s = parse_ok("time x1\ncid-range 3-3\n");
	assert_int_equal(s->steps[0].rate, 1);
	assert_int_equal(s->steps[1].lo, 3);
	assert_int_equal(s->steps[1].hi, 3);
	scn_free(s);

	s = parse_ok("time x100000\ncid-range 2048-4294967295\n");
	assert_int_equal(s->steps[0].rate, 100000);
	assert_int_equal(s->steps[1].lo, 2048);
	assert_int_equal(s->steps[1].hi, UINT32_MAX);
	scn_free(s);
}

static void test_directive_errors(void **state)
{
	static const char rate[] = "a rate x1..x100000 (like x100)";
	char want[256];

	snprintf(want, sizeof(want), P ":1:6: expected %s, found 'x0'", rate);
	parse_bad("time x0\n", want);
	snprintf(want, sizeof(want), P ":1:6: expected %s, found 'x100001'", rate);
	parse_bad("time x100001\n", want);
	snprintf(want, sizeof(want), P ":1:6: expected %s, found '100'", rate);
	parse_bad("time 100\n", want);
	snprintf(want, sizeof(want), P ":1:5: expected %s, found end of line", rate);
	parse_bad("time\n", want);
	parse_bad("time x10 fast\n", P ":1:10: expected end of line, found 'fast'");

	parse_bad("cid-range 2-5\n", P ":1:11: expected a lowest CID of at least 3 (0, 1 and 2 "
				     "are reserved), found '2-5'");
	parse_bad("cid-range 0-0\n", P ":1:11: expected a lowest CID of at least 3 (0, 1 and 2 "
				     "are reserved), found '0-0'");
	parse_bad("cid-range 200-100\n",
		  P ":1:11: expected a CID range with LO <= HI, found '200-100'");
	parse_bad("cid-range 3-4294967296\n",
		  P ":1:13: expected a CID up to 4294967295, found '4294967296'");
	parse_bad("cid-range 4294967296-4294967297\n",
		  P ":1:11: expected a CID up to 4294967295, found '4294967296-4294967297'");
	parse_bad("cid-range 100\n",
		  P ":1:11: expected a CID range LO-HI (like 100-199), found '100'");
	parse_bad("cid-range 100-\n",
		  P ":1:11: expected a CID range LO-HI (like 100-199), found '100-'");
	parse_bad("cid-range -100\n",
		  P ":1:11: expected a CID range LO-HI (like 100-199), found '-100'");
	parse_bad("cid-range 100 - 200\n",
		  P ":1:11: expected a CID range LO-HI (like 100-199), found '100'");

	parse_bad("timeout 0s\n", P ":1:9: expected a duration above zero, found '0s'");
	parse_bad("timeout\n", P ":1:8: expected a duration (an integer and ns, us, ms, s or m, "
				 "like 500ms), found end of line");

	/* directives come before the first client, once each */
	parse_bad("client a\ntimeout 5s\n",
		  P ":2:1: expected directives (time, cid-range, timeout) before the first "
		    "client (line 1), found 'timeout'");
	parse_bad("time x2\nclient a\ncid-range 3-5\n",
		  P ":3:1: expected directives (time, cid-range, timeout) before the first "
		    "client (line 2), found 'cid-range'");
	parse_bad("time x2\ntime x3\n",
		  P ":2:1: expected one time directive (line 1 has it), found 'time'");
	parse_bad("timeout 1s\n\ntimeout 2s\n",
		  P ":3:1: expected one timeout directive (line 1 has it), found 'timeout'");
}

/* ---- actors and client actions -------------------------------------------------------------- */

static void test_client(void **state)
{
	struct scn *s = parse_ok("client a\nclient B_2-x\nclient _x\n");

	assert_int_equal(s->n, 3);
	assert_string_equal(s->steps[1].client, "B_2-x");
	assert_string_equal(s->steps[2].client, "_x");
	scn_free(s);

	parse_bad("client a\nclient a\n",
		  P ":2:8: expected a new client name ('a' was declared on line 1), found 'a'");
	parse_bad("client 2a\n", P ":1:8: expected a client name, found '2a'");
	parse_bad("client\n", P ":1:7: expected a client name, found end of line");
	parse_bad("client a b\n", P ":1:10: expected end of line, found 'b'");
	parse_bad("client vmm\n", P ":1:8: expected a client name other than virtmgr, vmm, "
				    "virtualizationservice, found 'vmm'");
	parse_bad("client a.b\n", P ":1:8: expected a client name, found 'a.b'");
}

static void test_create(void **state)
{
	struct scn *s = parse_ok("client a\n"
				 "a: create vm1 from c.json\n"
				 "a: create vm2 from \"dir with space/c.json\" app\n"
				 "a: create vm3 from c.json guest \"wait 1s; started; exit 0\"\n"
				 "a :create vm4 from ../c.json app guest \"hang\"\n");
	const struct scn_step *st;

	st = &s->steps[1];
	assert_int_equal(st->kind, SCN_CREATE);
	assert_string_equal(st->config, "c.json");
	assert_false(st->app);
	assert_null(st->guest);
	st = &s->steps[2];
	assert_string_equal(st->config, "dir with space/c.json");
	assert_true(st->app);
	assert_null(st->guest);
	st = &s->steps[3];
	assert_false(st->app);
	assert_string_equal(st->guest, "wait 1s; started; exit 0");
	st = &s->steps[4];
	assert_string_equal(st->client, "a");
	vms_are(st, 1, (const char *[]){ "vm4" });
	assert_string_equal(st->config, "../c.json");
	assert_true(st->app);
	assert_string_equal(st->guest, "hang");
	scn_free(s);
}

static void test_create_errors(void **state)
{
	parse_bad(PRE "a: create vm1 from c.json\n",
		  P ":4:11: expected a new VM name ('vm1' was created on line 2), found 'vm1'");
	parse_bad("client a\na: create x, y, x from c.json\n",
		  P ":2:17: expected a VM not already in this list ('x' is), found 'x'");
	parse_bad("client a\na: create vm3 c.json\n", P ":2:15: expected from, found 'c.json'");
	parse_bad("client a\na: create vm3, from c.json\n",
		  P ":2:16: expected a VM name other than cid, cids, list, virtmgr, trace, no, "
		    "none, from, found 'from'");
	parse_bad("client a\na: create vm3 from\n",
		  P ":2:19: expected a config path, found end of line");
	parse_bad("client a\na: create vm3 from c.json guest\n",
		  P ":2:32: expected a quoted guest script, found end of line");
	parse_bad("client a\na: create vm3 from c.json guest hang\n",
		  P ":2:33: expected a quoted guest script, found 'hang'");
	/* options in the grammar's order only */
	parse_bad("client a\na: create vm3 from c.json guest \"hang\" app\n",
		  P ":2:40: expected one of fails, end of line, found 'app'");
	parse_bad("client a\na: create vm3 from c.json app app\n",
		  P ":2:31: expected one of guest, fails, end of line, found 'app'");
	parse_bad("client a\na: create vm3 from c.json pvm\n",
		  P ":2:27: expected one of app, guest, fails, end of line, found 'pvm'");
	/* words that start another expectation after `expect` are no VM names */
	parse_bad("client a\na: create list from c.json\n",
		  P ":2:11: expected a VM name other than cid, cids, list, virtmgr, trace, no, "
		    "none, from, found 'list'");
	parse_bad("client a\na: create vm1 from c.json\na: ref vm1 as cid\n",
		  P ":3:15: expected a VM name other than cid, cids, list, virtmgr, trace, no, "
		    "none, from, found 'cid'");
	parse_bad("client a\na: create\n", P ":2:10: expected a VM name, found end of line");
}

static void test_start_stop_drop(void **state)
{
	static const enum scn_kind kinds[] = { SCN_START, SCN_STOP, SCN_DROP };
	struct scn *s = parse_ok(PRE "a: start vm1, vm2\na: stop vm2\na: drop vm1 ,vm2\n");

	assert_int_equal(s->n, 6);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(s->steps[3 + i].kind, kinds[i]);
		assert_string_equal(s->steps[3 + i].client, "a");
		assert_false(s->steps[3 + i].fail.expected);
	}
	vms_are(&s->steps[3], 2, (const char *[]){ "vm1", "vm2" });
	vms_are(&s->steps[4], 1, (const char *[]){ "vm2" });
	vms_are(&s->steps[5], 2, (const char *[]){ "vm1", "vm2" });
	scn_free(s);

	parse_bad(PRE "a: start vm1 vm2\n", P ":4:14: expected one of fails, end of line, "
						"found 'vm2'");
	parse_bad(PRE "a: stop\n", P ":4:8: expected a VM created earlier, found end of line");
	parse_bad(PRE "a: start vm1,\n", P ":4:14: expected a VM created earlier, found end of "
					   "line");
}

static void test_ref(void **state)
{
	struct scn *s = parse_ok(PRE "a: ref vm1 as h1\na: drop h1\nexpect h1 state DEAD\n");
	const struct scn_step *st = &s->steps[3];

	assert_int_equal(st->kind, SCN_REF);
	assert_string_equal(st->client, "a");
	vms_are(st, 1, (const char *[]){ "vm1" });
	assert_string_equal(st->name2, "h1");
	vms_are(&s->steps[4], 1, (const char *[]){ "h1" });
	scn_free(s);

	parse_bad(PRE "a: ref vm9 as h\n", P ":4:8: expected a VM created earlier, found 'vm9'");
	parse_bad(PRE "a: ref vm1 as vm2\n",
		  P ":4:15: expected a new VM name ('vm2' was created on line 2), found 'vm2'");
	parse_bad(PRE "a: ref vm1 h\n", P ":4:12: expected as, found 'h'");
	parse_bad(PRE "a: ref vm1, vm2 as h\n", P ":4:11: expected as, found ','");
	parse_bad(PRE "a: ref vm1 as\n", P ":4:14: expected a VM name, found end of line");
	/* a ref's name is a VM from its line on, so it cannot be created again */
	parse_bad(PRE "a: ref vm1 as h\na: create h from c.json\n",
		  P ":5:11: expected a new VM name ('h' was created on line 4), found 'h'");
}

static void test_register_disconnect(void **state)
{
	struct scn *s = parse_ok(PRE "a: register vm1, vm2 other\na: disconnect\n");

	assert_int_equal(s->steps[2].kind, SCN_REGISTER);
	assert_string_equal(s->steps[2].cb, "cb");
	vms_are(&s->steps[2], 1, (const char *[]){ "vm1" });
	assert_int_equal(s->steps[3].kind, SCN_REGISTER);
	assert_string_equal(s->steps[3].cb, "other");
	vms_are(&s->steps[3], 2, (const char *[]){ "vm1", "vm2" });
	assert_int_equal(s->steps[4].kind, SCN_DISCONNECT);
	assert_string_equal(s->steps[4].client, "a");
	assert_int_equal(s->steps[4].n_vms, 0);
	scn_free(s);

	parse_bad(PRE "a: register vm1\n", P ":4:16: expected a callback name, found end of line");
	parse_bad(PRE "a: register vm1 fails EPIPE\n",
		  P ":4:17: expected a callback name, found 'fails'");
	parse_bad(PRE "a: register vm1 cb extra\n",
		  P ":4:20: expected one of fails, end of line, found 'extra'");
	parse_bad(PRE "a: disconnect vm1\n",
		  P ":4:15: expected one of fails, end of line, found 'vm1'");
}

static void test_fails(void **state)
{
	struct scn *s = parse_ok(PRE "a: start vm1 fails EX_ILLEGAL_STATE \"already started\"\n"
				     "a: stop vm2 fails EX_SERVICE_SPECIFIC\n"
				     "a: disconnect fails EPIPE\n"
				     "a: drop vm1 fails ECONNRESET \"a \\\"quoted\\\" # text\"\n"
				     "a: create vm3 from c.json app fails EX_TRANSACTION_FAILED\n");
	const struct scn_step *st = &s->steps[3];

	assert_true(st->fail.expected);
	assert_false(st->fail.is_errno);
	assert_int_equal(st->fail.code, AVF_EX_ILLEGAL_STATE);
	assert_string_equal(st->fail.substring, "already started");
	st = &s->steps[4];
	assert_true(st->fail.expected);
	assert_int_equal(st->fail.code, -8);
	assert_null(st->fail.substring);
	st = &s->steps[5];
	assert_true(st->fail.is_errno);
	assert_int_equal(st->fail.code, EPIPE);
	st = &s->steps[6];
	assert_int_equal(st->fail.code, ECONNRESET);
	assert_string_equal(st->fail.substring, "a \"quoted\" # text");
	st = &s->steps[7];
	assert_true(st->app);
	assert_int_equal(st->fail.code, -129);
	scn_free(s);
}

static void test_fails_exception_table(void **state)
{
	/* written out from android.os.Parcel's EX_* and errno.h */
	static const struct {
		const char *word;
		bool is_errno;
		int code;
	} rows[] = {
		{ "EX_SECURITY", false, -1 },        { "EX_BAD_PARCELABLE", false, -2 },
		{ "EX_ILLEGAL_ARGUMENT", false, -3 }, { "EX_NULL_POINTER", false, -4 },
		{ "EX_ILLEGAL_STATE", false, -5 },   { "EX_NETWORK_MAIN_THREAD", false, -6 },
		{ "EX_UNSUPPORTED_OPERATION", false, -7 }, { "EX_SERVICE_SPECIFIC", false, -8 },
		{ "EX_TRANSACTION_FAILED", false, -129 },
		{ "ENOENT", true, ENOENT },   { "EPIPE", true, EPIPE },     { "ECONNRESET", true, ECONNRESET },
		{ "EINVAL", true, EINVAL },   { "ENOSPC", true, ENOSPC },   { "EBUSY", true, EBUSY },
		{ "ETIMEDOUT", true, ETIMEDOUT }, { "ECHILD", true, ECHILD }, { "EAGAIN", true, EAGAIN },
		{ "EEXIST", true, EEXIST },   { "EPERM", true, EPERM },     { "EACCES", true, EACCES },
		{ "ENOMEM", true, ENOMEM },   { "EBADF", true, EBADF },     { "ECONNREFUSED", true, ECONNREFUSED },
		{ "ENOTCONN", true, ENOTCONN }, { "EIO", true, EIO },       { "ESRCH", true, ESRCH },
		{ "EINTR", true, EINTR },     { "EMFILE", true, EMFILE },   { "ENOSYS", true, ENOSYS },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char src[256];
		struct scn *s;

		snprintf(src, sizeof(src), PRE "a: start vm1 fails %s\n", rows[i].word);
		s = parse_ok(src);
		assert_true(last(s)->fail.expected);
		assert_int_equal(last(s)->fail.is_errno, rows[i].is_errno);
		assert_int_equal(last(s)->fail.code, rows[i].code);
		scn_free(s);
	}

	parse_bad(PRE "a: start vm1 fails ILLEGAL_STATE\n",
		  P ":4:20: expected an exception (EX_SECURITY, EX_BAD_PARCELABLE, "
		    "EX_ILLEGAL_ARGUMENT, EX_NULL_POINTER, EX_ILLEGAL_STATE, EX_NETWORK_MAIN_THREAD, "
		    "EX_UNSUPPORTED_OPERATION, EX_SERVICE_SPECIFIC, EX_TRANSACTION_FAILED) or an "
		    "errno name (ENOENT, EPIPE, ...), found 'ILLEGAL_STATE'");
	parse_bad(PRE "a: start vm1 fails EX_NONE\n",
		  P ":4:20: expected an exception (EX_SECURITY, EX_BAD_PARCELABLE, "
		    "EX_ILLEGAL_ARGUMENT, EX_NULL_POINTER, EX_ILLEGAL_STATE, EX_NETWORK_MAIN_THREAD, "
		    "EX_UNSUPPORTED_OPERATION, EX_SERVICE_SPECIFIC, EX_TRANSACTION_FAILED) or an "
		    "errno name (ENOENT, EPIPE, ...), found 'EX_NONE'");
	parse_bad(PRE "a: start vm1 fails EPIPE oops\n",
		  P ":4:26: expected one of a quoted string, end of line, found 'oops'");
	parse_bad(PRE "a: start vm1 fails EPIPE \"x\" y\n",
		  P ":4:30: expected end of line, found 'y'");
}

static void test_failed_action_declares_nothing(void **state)
{
	/* a create expected to fail leaves its name free; so does a failing ref, register */
	struct scn *s = parse_ok("client a\n"
				 "a: create vm1 from bad.json fails EX_ILLEGAL_ARGUMENT\n"
				 "a: create vm1 from c.json\n"
				 "a: ref vm1 as h fails EX_ILLEGAL_STATE\n"
				 "a: ref vm1 as h\n");

	assert_int_equal(s->n, 5);
	scn_free(s);
	parse_bad("client a\na: create vm1 from bad.json fails EINVAL\na: start vm1\n",
		  P ":3:10: expected a VM created earlier, found 'vm1'");
	parse_bad(PRE "a: register vm1 late fails EX_ILLEGAL_STATE\nexpect vm1 callbacks late: "
		      "none\n",
		  P ":5:22: expected a callback registered earlier, found 'late'");
}

/* ---- world actions -------------------------------------------------------------------------- */

static void test_kill(void **state)
{
	struct scn *s = parse_ok(PRE "kill a\n"
				     "kill a TERM\n"
				     "kill virtmgr of a SIGSEGV\n"
				     "kill vmm of vm2 6\n"
				     "kill virtualizationservice\n"
				     "kill virtualizationservice SIGUSR1\n"
				     "restart virtualizationservice\n");
	const struct scn_step *st = &s->steps[3];

	assert_int_equal(st->kind, SCN_KILL_CLIENT);
	assert_string_equal(st->client, "a");
	assert_int_equal(st->sig, SIGKILL);
	st++;
	assert_int_equal(st->kind, SCN_KILL_CLIENT);
	assert_int_equal(st->sig, SIGTERM);
	st++;
	assert_int_equal(st->kind, SCN_KILL_VIRTMGR);
	assert_string_equal(st->client, "a");
	assert_int_equal(st->sig, SIGSEGV);
	st++;
	assert_int_equal(st->kind, SCN_KILL_VMM);
	vms_are(st, 1, (const char *[]){ "vm2" });
	assert_int_equal(st->sig, 6);
	st++;
	assert_int_equal(st->kind, SCN_KILL_VS);
	assert_int_equal(st->sig, SIGKILL);
	assert_null(st->client);
	st++;
	assert_int_equal(st->kind, SCN_KILL_VS);
	assert_int_equal(st->sig, SIGUSR1);
	st++;
	assert_int_equal(st->kind, SCN_RESTART_VS);
	scn_free(s);
}

static void test_signals(void **state)
{
	/* written out from signal(7), x86/arm numbering */
	static const struct {
		const char *word;
		int sig;
	} rows[] = {
		{ "KILL", 9 },  { "SIGKILL", 9 }, { "TERM", 15 }, { "SIGTERM", 15 }, { "SEGV", 11 },
		{ "ABRT", 6 },  { "INT", 2 },     { "HUP", 1 },   { "USR1", 10 },    { "USR2", 12 },
		{ "QUIT", 3 },  { "PIPE", 13 },   { "ALRM", 14 }, { "SIGCHLD", 17 }, { "STOP", 19 },
		{ "CONT", 18 }, { "1", 1 },       { "64", 64 },   { "34", 34 },      { "SIGSYS", 31 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char src[128];
		struct scn *s;

		snprintf(src, sizeof(src), "client a\nkill a %s\n", rows[i].word);
		s = parse_ok(src);
		assert_int_equal(last(s)->sig, rows[i].sig);
		scn_free(s);
	}

#define SIGERR(col, tok)                                                                        \
	P ":2:" #col ": expected one of a signal (KILL, TERM, SEGV, ABRT, INT, HUP, USR1, ... or "  \
	  "1..64), end of line, found '" tok "'"
	parse_bad("client a\nkill a 0\n", SIGERR(8, "0"));
	parse_bad("client a\nkill a 65\n", SIGERR(8, "65"));
	parse_bad("client a\nkill a SIG\n", SIGERR(8, "SIG"));
	parse_bad("client a\nkill a SIG9\n", SIGERR(8, "SIG9"));
	parse_bad("client a\nkill a kill\n", SIGERR(8, "kill"));
	parse_bad("client a\nkill a -9\n", SIGERR(8, "-9"));
#undef SIGERR
	parse_bad("client a\nkill a KILL now\n", P ":2:13: expected end of line, found 'now'");
}

static void test_kill_errors(void **state)
{
	parse_bad("client a\nkill b\n",
		  P ":2:6: expected one of virtmgr, vmm, virtualizationservice, a client declared "
		    "earlier, found 'b'");
	parse_bad("kill\n", P ":1:5: expected one of virtmgr, vmm, virtualizationservice, a "
				"client declared earlier, found end of line");
	parse_bad("client a\nkill virtmgr a\n", P ":2:14: expected of, found 'a'");
	parse_bad("client a\nkill virtmgr of b\n",
		  P ":2:17: expected a client declared earlier, found 'b'");
	parse_bad(PRE "kill vmm of vm7\n", P ":4:13: expected a VM created earlier, found 'vm7'");
	/* one VM, no range: `vm` is no VM here */
	parse_bad(PRE "kill vmm of vm[1..2]\n",
		  P ":4:13: expected a VM created earlier, found 'vm[1..2]'");
	parse_bad("restart\n", P ":1:8: expected virtualizationservice, found end of line");
	parse_bad("restart vs\n", P ":1:9: expected virtualizationservice, found 'vs'");
	parse_bad("restart virtualizationservice TERM\n",
		  P ":1:31: expected end of line, found 'TERM'");
}

static void test_advance_and_durations(void **state)
{
	static const struct {
		const char *word;
		uint64_t ns;
	} rows[] = {
		{ "0ns", 0 },
		{ "7ns", 7 },
		{ "5us", 5000 },
		{ "250ms", 250000000ull },
		{ "30s", 30000000000ull },
		{ "2m", 120000000000ull },
		{ "9223372036854775807ns", 9223372036854775807ull },
		{ "153722867m", 153722867ull * 60000000000ull },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char src[128];
		struct scn *s;

		snprintf(src, sizeof(src), "advance %s\n", rows[i].word);
		s = parse_ok(src);
		assert_int_equal(s->steps[0].kind, SCN_ADVANCE);
		assert_int_equal(s->steps[0].ns, rows[i].ns);
		scn_free(s);
	}

#define DURERR(tok)                                                                             \
	P ":1:9: expected a duration (an integer and ns, us, ms, s or m, like 500ms), found '" tok \
	  "'"
	parse_bad("advance 5\n", DURERR("5"));
	parse_bad("advance s\n", DURERR("s"));
	parse_bad("advance 5h\n", DURERR("5h"));
	parse_bad("advance 5S\n", DURERR("5S"));
	parse_bad("advance -5s\n", DURERR("-5s"));
	parse_bad("advance 1.5s\n", DURERR("1.5s"));
#undef DURERR
	parse_bad("advance 5 s\n", P ":1:9: expected a duration (an integer and ns, us, ms, s or m, "
				   "like 500ms), found '5'");
	parse_bad("advance 9223372036854775808ns\n",
		  P ":1:9: expected a duration below 2^63 ns, found '9223372036854775808ns'");
	parse_bad("advance 153722868m\n",
		  P ":1:9: expected a duration below 2^63 ns, found '153722868m'");
	parse_bad("advance 99999999999999999999999s\n",
		  P ":1:9: expected a duration below 2^63 ns, found '99999999999999999999999s'");
	parse_bad("advance 1s 2s\n", P ":1:12: expected end of line, found '2s'");
}

/* ---- expectations --------------------------------------------------------------------------- */

static void test_expect_state(void **state)
{
	/* written out from IVirtualMachine's VirtualMachineState */
	static const struct {
		const char *word;
		enum avf_vm_state st;
	} rows[] = {
		{ "NOT_STARTED", 0 }, { "STARTING", 1 }, { "STARTED", 2 },
		{ "READY", 3 },       { "FINISHED", 4 }, { "DEAD", 6 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char src[256];
		struct scn *s;

		snprintf(src, sizeof(src), PRE "expect vm1, vm2 state %s within 2s\n", rows[i].word);
		s = parse_ok(src);
		assert_int_equal(last(s)->kind, SCN_EXPECT_STATE);
		vms_are(last(s), 2, (const char *[]){ "vm1", "vm2" });
		assert_int_equal(last(s)->state, rows[i].st);
		assert_int_equal(last(s)->within_ns, 2000000000ull);
		scn_free(s);
	}
	parse_bad(PRE "expect vm1 state RUNNING\n",
		  P ":4:18: expected one of NOT_STARTED, STARTING, STARTED, READY, FINISHED, DEAD, "
		    "found 'RUNNING'");
	parse_bad(PRE "expect vm1 state ready\n",
		  P ":4:18: expected one of NOT_STARTED, STARTING, STARTED, READY, FINISHED, DEAD, "
		    "found 'ready'");
}

static void test_expect_died(void **state)
{
	/* written out from android.system.virtualizationservice.DeathReason */
	static const struct {
		const char *word;
		int reason;
	} rows[] = {
		{ "INFRASTRUCTURE_ERROR", 0 },
		{ "KILLED", 1 },
		{ "UNKNOWN", 2 },
		{ "SHUTDOWN", 3 },
		{ "START_FAILED", 4 },
		{ "REBOOT", 5 },
		{ "CRASH", 6 },
		{ "PVM_FIRMWARE_PUBLIC_KEY_MISMATCH", 7 },
		{ "PVM_FIRMWARE_INSTANCE_IMAGE_CHANGED", 8 },
		{ "MICRODROID_FAILED_TO_CONNECT_TO_VIRTUALIZATION_SERVICE", 11 },
		{ "MICRODROID_PAYLOAD_HAS_CHANGED", 12 },
		{ "MICRODROID_PAYLOAD_VERIFICATION_FAILED", 13 },
		{ "MICRODROID_INVALID_PAYLOAD_CONFIG", 14 },
		{ "MICRODROID_UNKNOWN_RUNTIME_ERROR", 15 },
		{ "HANGUP", 16 },
		{ "WATCHDOG_REBOOT", 17 },
		{ "HOST_SHUTDOWN", 18 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char src[256];
		struct scn *s;

		snprintf(src, sizeof(src), PRE "expect vm2 died %s\n", rows[i].word);
		s = parse_ok(src);
		assert_int_equal(last(s)->kind, SCN_EXPECT_DIED);
		vms_are(last(s), 1, (const char *[]){ "vm2" });
		assert_int_equal(last(s)->reason, rows[i].reason);
		scn_free(s);
	}
	parse_bad(PRE "expect vm1 died Killed\n",
		  P ":4:17: expected a DeathReason (one of INFRASTRUCTURE_ERROR, KILLED, UNKNOWN, "
		    "SHUTDOWN, START_FAILED, REBOOT, CRASH, PVM_FIRMWARE_PUBLIC_KEY_MISMATCH, "
		    "PVM_FIRMWARE_INSTANCE_IMAGE_CHANGED, "
		    "MICRODROID_FAILED_TO_CONNECT_TO_VIRTUALIZATION_SERVICE, "
		    "MICRODROID_PAYLOAD_HAS_CHANGED, MICRODROID_PAYLOAD_VERIFICATION_FAILED, "
		    "MICRODROID_INVALID_PAYLOAD_CONFIG, MICRODROID_UNKNOWN_RUNTIME_ERROR, HANGUP, "
		    "WATCHDOG_REBOOT, HOST_SHUTDOWN), found 'Killed'");
	parse_bad(PRE "expect vm1 died\n",
		  P ":4:16: expected a DeathReason (one of INFRASTRUCTURE_ERROR, KILLED, UNKNOWN, "
		    "SHUTDOWN, START_FAILED, REBOOT, CRASH, PVM_FIRMWARE_PUBLIC_KEY_MISMATCH, "
		    "PVM_FIRMWARE_INSTANCE_IMAGE_CHANGED, "
		    "MICRODROID_FAILED_TO_CONNECT_TO_VIRTUALIZATION_SERVICE, "
		    "MICRODROID_PAYLOAD_HAS_CHANGED, MICRODROID_PAYLOAD_VERIFICATION_FAILED, "
		    "MICRODROID_INVALID_PAYLOAD_CONFIG, MICRODROID_UNKNOWN_RUNTIME_ERROR, HANGUP, "
		    "WATCHDOG_REBOOT, HOST_SHUTDOWN), found end of line");
}

static void test_expect_callbacks(void **state)
{
	struct scn *s = parse_ok(
		PRE "expect vm1 callbacks cb: started, ready, finished 0, finished -1, "
		    "finished 2147483647, error PAYLOAD_CHANGED \"bad # apk\", error 7, "
		    "error UNKNOWN, died SHUTDOWN within 1m\n"
		    "expect vm1 callbacks cb: none\n"
		    "expect vm1 callbacks cb : none within 10us\n");
	const struct scn_step *st = &s->steps[3];
	static const struct {
		enum scn_cb_kind kind;
		int value;
		const char *text;
	} want[] = {
		{ SCN_CB_STARTED, 0, NULL },
		{ SCN_CB_READY, 0, NULL },
		{ SCN_CB_FINISHED, 0, NULL },
		{ SCN_CB_FINISHED, -1, NULL },
		{ SCN_CB_FINISHED, 2147483647, NULL },
		{ SCN_CB_ERROR, 2, "bad # apk" },
		{ SCN_CB_ERROR, 7, NULL },
		{ SCN_CB_ERROR, 0, NULL },
		{ SCN_CB_DIED, 3, NULL },
	};

	assert_int_equal(st->kind, SCN_EXPECT_CALLBACKS);
	vms_are(st, 1, (const char *[]){ "vm1" });
	assert_string_equal(st->cb, "cb");
	assert_int_equal(st->within_ns, 60000000000ull);
	assert_int_equal(st->n_events, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < st->n_events; i++) {
		assert_int_equal(st->events[i].kind, want[i].kind);
		assert_int_equal(st->events[i].value, want[i].value);
		if (want[i].text)
			assert_string_equal(st->events[i].text, want[i].text);
		else
			assert_null(st->events[i].text);
	}
	st = &s->steps[4];
	assert_int_equal(st->kind, SCN_EXPECT_CALLBACKS);
	assert_int_equal(st->n_events, 0);
	assert_int_equal(st->within_ns, 0);
	assert_int_equal(s->steps[5].within_ns, 10000);
	scn_free(s);

	/* every ErrorCode by name, written out from avf_types.h / AVF's ErrorCode */
	s = parse_ok(PRE "expect vm1 callbacks cb: error UNKNOWN, error PAYLOAD_VERIFICATION_FAILED, "
			 "error PAYLOAD_CHANGED, error PAYLOAD_INVALID_CONFIG \"\"\n");
	for (int i = 0; i < 4; i++)
		assert_int_equal(last(s)->events[i].value, i);
	assert_string_equal(last(s)->events[3].text, "");
	scn_free(s);
}

static void test_callbacks_errors(void **state)
{
	parse_bad(PRE "expect vm1 callbacks other: none\n",
		  P ":4:22: expected a callback registered earlier, found 'other'");
	parse_bad(PRE "expect vm1 callbacks cb none\n", P ":4:25: expected ':', found 'none'");
	parse_bad(PRE "expect vm1 callbacks cb: booted\n",
		  P ":4:26: expected one of started, ready, finished, error, died, none, found "
		    "'booted'");
	parse_bad(PRE "expect vm1 callbacks cb: started, none\n",
		  P ":4:35: expected one of started, ready, finished, error, died, found 'none'");
	parse_bad(PRE "expect vm1 callbacks cb: started ready\n",
		  P ":4:34: expected one of within, end of line, found 'ready'");
	parse_bad(PRE "expect vm1 callbacks cb: finished\n",
		  P ":4:34: expected an exit code (a 32-bit integer), found end of line");
	parse_bad(PRE "expect vm1 callbacks cb: finished 2147483648\n",
		  P ":4:35: expected an exit code (a 32-bit integer), found '2147483648'");
	parse_bad(PRE "expect vm1 callbacks cb: finished -2147483649\n",
		  P ":4:35: expected an exit code (a 32-bit integer), found '-2147483649'");
	parse_bad(PRE "expect vm1 callbacks cb: error BAD\n",
		  P ":4:32: expected an ErrorCode (UNKNOWN, PAYLOAD_VERIFICATION_FAILED, "
		    "PAYLOAD_CHANGED, PAYLOAD_INVALID_CONFIG or a number), found 'BAD'");
	parse_bad(PRE "expect vm1 callbacks cb: error UNKNOWN oops\n",
		  P ":4:40: expected one of a quoted string, within, end of line, found 'oops'");
	parse_bad(PRE "expect vm1 callbacks cb: died KILLED none\n",
		  P ":4:38: expected one of within, end of line, found 'none'");
	parse_bad(PRE "expect vm1 callbacks cb: none, started\n",
		  P ":4:30: expected one of within, end of line, found ','");
	parse_bad(PRE "expect vm1 callbacks\n", P ":4:21: expected a callback name, found end of "
						 "line");
}

static void test_expect_cid(void **state)
{
	static const struct {
		const char *tail;
		enum scn_cid_rel rel;
	} rows[] = {
		{ "released", SCN_CID_RELEASED }, { "kept", SCN_CID_KEPT },
		{ "is 2048", SCN_CID_IS },        { "equals vm2", SCN_CID_EQUALS },
		{ "differs vm2", SCN_CID_DIFFERS }, { "greater vm2", SCN_CID_GREATER },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char src[256];
		struct scn *s;

		snprintf(src, sizeof(src), PRE "expect cid of vm1 %s within 3s\n", rows[i].tail);
		s = parse_ok(src);
		assert_int_equal(last(s)->kind, SCN_EXPECT_CID);
		vms_are(last(s), 1, (const char *[]){ "vm1" });
		assert_int_equal(last(s)->cid_rel, rows[i].rel);
		assert_int_equal(last(s)->within_ns, 3000000000ull);
		if (rows[i].rel == SCN_CID_IS)
			assert_int_equal(last(s)->number, 2048);
		if (rows[i].rel >= SCN_CID_EQUALS)
			assert_string_equal(last(s)->name2, "vm2");
		else
			assert_null(last(s)->name2);
		scn_free(s);
	}
	parse_bad(PRE "expect cid of vm1 freed\n",
		  P ":4:19: expected one of released, kept, is, equals, differs, greater, found "
		    "'freed'");
	parse_bad(PRE "expect cid of vm1\n",
		  P ":4:18: expected one of released, kept, is, equals, differs, greater, found end "
		    "of line");
	parse_bad(PRE "expect cid of vm1 is 4294967296\n",
		  P ":4:22: expected a CID (a number up to 4294967295), found '4294967296'");
	parse_bad(PRE "expect cid of vm1 is x\n",
		  P ":4:22: expected a CID (a number up to 4294967295), found 'x'");
	parse_bad(PRE "expect cid of vm1 equals vm5\n",
		  P ":4:26: expected a VM created earlier, found 'vm5'");
	parse_bad(PRE "expect cid vm1 released\n", P ":4:12: expected of, found 'vm1'");
	parse_bad(PRE "expect cid of vm1, vm2 released\n",
		  P ":4:18: expected one of released, kept, is, equals, differs, greater, found ','");
}

static void test_expect_cids_distinct(void **state)
{
	struct scn *s = parse_ok(PRE "expect cids of vm1, vm2 distinct\n");

	assert_int_equal(last(s)->kind, SCN_EXPECT_CIDS_DISTINCT);
	vms_are(last(s), 2, (const char *[]){ "vm1", "vm2" });
	scn_free(s);
	parse_bad(PRE "expect cids of vm1, vm2\n", P ":4:24: expected distinct, found end of line");
	parse_bad(PRE "expect cids of vm1, vm3 distinct\n",
		  P ":4:21: expected a VM created earlier, found 'vm3'");
}

static void test_expect_list(void **state)
{
	struct scn *s = parse_ok(PRE "client b\n"
				     "expect list: vm1 READY, vm2 DEAD within 5s\n"
				     "expect list from b: none\n"
				     "expect list from a : vm1 STARTED\n"
				     "expect list: none\n");
	const struct scn_step *st = &s->steps[4];

	assert_int_equal(st->kind, SCN_EXPECT_LIST);
	assert_null(st->client);
	assert_int_equal(st->n_rows, 2);
	assert_string_equal(st->rows[0].vm, "vm1");
	assert_int_equal(st->rows[0].state, AVF_VM_STATE_READY);
	assert_string_equal(st->rows[1].vm, "vm2");
	assert_int_equal(st->rows[1].state, AVF_VM_STATE_DEAD);
	assert_int_equal(st->n_vms, 0);
	assert_int_equal(st->within_ns, 5000000000ull);
	st++;
	assert_string_equal(st->client, "b");
	assert_int_equal(st->n_rows, 0);
	st++;
	assert_string_equal(st->client, "a");
	assert_int_equal(st->n_rows, 1);
	assert_int_equal(st->rows[0].state, AVF_VM_STATE_STARTED);
	st++;
	assert_null(st->client);
	assert_int_equal(st->n_rows, 0);
	scn_free(s);

	parse_bad(PRE "expect list vm1 READY\n", P ":4:13: expected one of from, ':', found 'vm1'");
	parse_bad(PRE "expect list from c: none\n",
		  P ":4:18: expected a client declared earlier, found 'c'");
	parse_bad(PRE "expect list: vm1\n",
		  P ":4:17: expected one of NOT_STARTED, STARTING, STARTED, READY, FINISHED, DEAD, "
		    "found end of line");
	parse_bad(PRE "expect list: vm1 READY, vm1 DEAD\n",
		  P ":4:25: expected a VM not already in this list ('vm1' is), found 'vm1'");
	parse_bad(PRE "expect list: vm3 READY\n",
		  P ":4:14: expected a VM created earlier, found 'vm3'");
	parse_bad(PRE "expect list: vm1 READY vm2 DEAD\n",
		  P ":4:24: expected one of within, end of line, found 'vm2'");
}

static void test_expect_virtmgr_exited(void **state)
{
	struct scn *s = parse_ok("client a\nkill a\nexpect virtmgr of a exited within 1s\n");

	assert_int_equal(last(s)->kind, SCN_EXPECT_VIRTMGR_EXITED);
	assert_string_equal(last(s)->client, "a");
	assert_int_equal(last(s)->within_ns, 1000000000ull);
	scn_free(s);
	parse_bad("client a\nexpect virtmgr of a\n", P ":2:20: expected exited, found end of line");
	parse_bad("client a\nexpect virtmgr a exited\n", P ":2:16: expected of, found 'a'");
	parse_bad("client a\nexpect virtmgr of z exited\n",
		  P ":2:19: expected a client declared earlier, found 'z'");
}

static void test_expect_trace(void **state)
{
	struct scn *s = parse_ok(PRE "expect trace client a \"createVm\"\n"
				     "expect trace virtmgr a \"vm:# \\\\ \\\"x\\\"\"\n"
				     "expect trace virtualizationservice \"cid\" within 2s\n"
				     "expect trace vmm vm2 \"\"\n");
	const struct scn_step *st = &s->steps[3];

	assert_int_equal(st->kind, SCN_EXPECT_TRACE);
	assert_string_equal(st->actor, "client a");
	assert_string_equal(st->client, "a");
	assert_string_equal(st->text, "createVm");
	st++;
	assert_string_equal(st->actor, "virtmgr a");
	assert_string_equal(st->client, "a");
	assert_string_equal(st->text, "vm:# \\ \"x\"");
	st++;
	assert_string_equal(st->actor, "virtualizationservice");
	assert_null(st->client);
	assert_int_equal(st->n_vms, 0);
	assert_string_equal(st->text, "cid");
	assert_int_equal(st->within_ns, 2000000000ull);
	st++;
	assert_string_equal(st->actor, "vmm vm2");
	vms_are(st, 1, (const char *[]){ "vm2" });
	assert_string_equal(st->text, "");
	scn_free(s);

	parse_bad(PRE "expect trace vs \"x\"\n",
		  P ":4:14: expected one of client, virtmgr, virtualizationservice, vmm, "
		    "command, found 'vs'");
	parse_bad(PRE "expect trace client a createVm\n",
		  P ":4:23: expected a quoted string, found 'createVm'");
	parse_bad(PRE "expect trace vmm vm9 \"x\"\n",
		  P ":4:18: expected a VM created earlier, found 'vm9'");
	parse_bad(PRE "expect trace client q \"x\"\n",
		  P ":4:21: expected a client declared earlier, found 'q'");
}

static void test_expect_no_leaks(void **state)
{
	struct scn *s = parse_ok(PRE "expect no leaks within 20s\n# trailing comment\n\n");

	assert_int_equal(last(s)->kind, SCN_EXPECT_NO_LEAKS);
	assert_int_equal(last(s)->within_ns, 20000000000ull);
	scn_free(s);
	parse_bad(PRE "expect no leaks\nexpect vm1 state DEAD\n",
		  P ":5:1: expected end of scenario after 'expect no leaks' (line 4), found "
		    "'expect'");
	parse_bad(PRE "expect no leaks\n\n   a: drop vm1\n",
		  P ":6:4: expected end of scenario after 'expect no leaks' (line 4), found 'a'");
	parse_bad(PRE "expect no leak\n", P ":4:11: expected leaks, found 'leak'");
}

static void test_expect_unknown_word(void **state)
{
	/* the example from the task: the column points at the misspelt word */
	parse_bad(PRE "expect vm1 stae STARTED\n",
		  P ":4:12: expected one of state, died, callbacks, found 'stae'");
	parse_bad(PRE "expect lst: vm1 READY\n",
		  P ":4:8: expected one of cid, cids, list, virtmgr, trace, no, a VM created "
		    "earlier, a command started earlier, found 'lst'");
	parse_bad(PRE "expect\n", P ":4:7: expected one of cid, cids, list, virtmgr, trace, no, a "
				    "VM created earlier, a command started earlier, found end of line");
	parse_bad(PRE "expect vm1, vm5 state READY\n",
		  P ":4:13: expected a VM created earlier, found 'vm5'");
}

/* ---- names in order ------------------------------------------------------------------------- */

static void test_used_before_declared(void **state)
{
	parse_bad("a: create vm1 from c.json\n", P ":1:1: expected a client declared earlier, "
						  "found 'a'");
	parse_bad("client a\nb: create vm1 from c.json\nclient b\n",
		  P ":2:1: expected a client declared earlier, found 'b'");
	parse_bad("client a\na: start vm1\na: create vm1 from c.json\n",
		  P ":2:10: expected a VM created earlier, found 'vm1'");
	parse_bad("client a\nexpect vm1 state DEAD\n",
		  P ":2:8: expected one of cid, cids, list, virtmgr, trace, no, a VM created "
		    "earlier, a command started earlier, found 'vm1'");
	parse_bad(PRE "a: register vm1, vm3 cb\n",
		  P ":4:18: expected a VM created earlier, found 'vm3'");
	parse_bad("client a\nkill virtmgr of b\nclient b\n",
		  P ":2:17: expected a client declared earlier, found 'b'");
	/* VMs are one namespace for every client */
	parse_bad(PRE "client b\nb: create vm2 from c.json\n",
		  P ":5:11: expected a new VM name ('vm2' was created on line 2), found 'vm2'");
}

/* ---- VM lists ------------------------------------------------------------------------------- */

static void test_ranges(void **state)
{
	struct scn *s;
	const struct scn_step *st;
	char name[16];

	s = parse_ok("client a\na: create vm[1..100] from c.json\n"
		     "a: create x, y, vm[101..102], z[0..0], w[007..9] from c.json\n"
		     "expect vm[1..3], x state NOT_STARTED\n"
		     "expect list: vm[1..2] READY, x DEAD\n");
	st = &s->steps[1];
	assert_int_equal(st->n_vms, 100);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "vm%d", i + 1);
		assert_string_equal(st->vms[i], name);
	}
	vms_are(&s->steps[2], 8,
		(const char *[]){ "x", "y", "vm101", "vm102", "z0", "w7", "w8", "w9" });
	vms_are(&s->steps[3], 4, (const char *[]){ "vm1", "vm2", "vm3", "x" });
	st = &s->steps[4];
	assert_int_equal(st->n_rows, 3);
	assert_string_equal(st->rows[0].vm, "vm1");
	assert_string_equal(st->rows[1].vm, "vm2");
	assert_int_equal(st->rows[1].state, AVF_VM_STATE_READY);
	assert_string_equal(st->rows[2].vm, "x");
	assert_int_equal(st->rows[2].state, AVF_VM_STATE_DEAD);
	scn_free(s);

	/* exactly 10000 names is allowed */
	s = parse_ok("client a\na: create v[1..10000] from c.json\na: start v[1..10000]\n");
	assert_int_equal(s->steps[1].n_vms, 10000);
	assert_string_equal(s->steps[1].vms[9999], "v10000");
	scn_free(s);
}

static void test_range_errors(void **state)
{
	parse_bad("client a\na: create vm[5..3] from c.json\n",
		  P ":2:14: expected a range A..B with A <= B, found '5..3'");
	parse_bad("client a\na: create vm[1..10001] from c.json\n",
		  P ":2:14: expected a range of at most 10000 names, found '1..10001'");
	parse_bad("client a\na: create vm[0..4294967295] from c.json\n",
		  P ":2:14: expected a range of at most 10000 names, found '0..4294967295'");
	parse_bad("client a\na: create v[1..4294967296] from c.json\n",
		  P ":2:16: expected a number up to 4294967295, found '4294967296'");
	parse_bad("client a\na: create v[1..6000], w[1..5000] from c.json\n",
		  P ":2:23: expected at most 10000 VMs in a list, found 'w[1..5000]'");
	parse_bad("client a\na: create vm[1-3] from c.json\n",
		  P ":2:15: expected '..', found '-3'");
	parse_bad("client a\na: create vm[1..3 from c.json\n",
		  P ":2:19: expected ']', found 'from'");
	parse_bad("client a\na: create vm[..3] from c.json\n",
		  P ":2:14: expected a number, found '..3'");
	parse_bad("client a\na: create vm[1..] from c.json\n",
		  P ":2:17: expected a number, found ']'");
	parse_bad("client a\na: create vm[1..2], vm[2..3] from c.json\n",
		  P ":2:21: expected a VM not already in this list ('vm2' is), found 'vm[2..3]'");
	parse_bad("client a\na: create vm[1..2] from c.json\na: create vm[2..3] from c.json\n",
		  P ":3:11: expected a new VM name ('vm2' was created on line 2), found 'vm[2..3]'");
	parse_bad("client a\na: create vm[1..2] from c.json\na: start vm[1..3]\n",
		  P ":3:10: expected VMs created earlier (no 'vm3'), found 'vm[1..3]'");
	parse_bad("client a\na: create [1..2] from c.json\n", P ":2:11: expected a VM name, found "
								"'['");
	/* no blank inside an element */
	parse_bad("client a\na: create vm [1..2] from c.json\n",
		  P ":2:14: expected from, found '['");
}

static void test_names_budget(void **state)
{
	/* 100 lines of 10000 new names reach the file's budget of 1000000 names */
	size_t len = 0, cap = 100 * 64 + 64;
	char *src = malloc(cap);

	assert_non_null(src);
	len += (size_t)snprintf(src + len, cap - len, "client a\n");
	for (int i = 0; i < 101; i++)
		len += (size_t)snprintf(src + len, cap - len, "a: create v%d_[1..10000] from c\n", i);
	parse_bad(src, P ":102:11: expected at most 1000000 VM names in a scenario, found "
			 "'v100_[1..10000]'");
	free(src);
}

/* ---- strings -------------------------------------------------------------------------------- */

static void test_strings(void **state)
{
	struct scn *s = parse_ok(PRE "expect trace client a \"a#b\" # a comment with \"quotes\"\n"
				     "expect trace client a \"\\\\\" within 1s\n"
				     "expect trace client a \"\\\"#\\\"\"\n"
				     "expect trace client a \"it's\t a  \\\\\\\" mix\"\n");

	assert_string_equal(s->steps[3].text, "a#b");
	assert_string_equal(s->steps[3].src, "expect trace client a \"a#b\"");
	assert_string_equal(s->steps[4].text, "\\");
	assert_int_equal(s->steps[4].within_ns, 1000000000ull);
	assert_string_equal(s->steps[5].text, "\"#\"");
	assert_string_equal(s->steps[6].text, "it's\t a  \\\" mix");
	scn_free(s);

	parse_bad(PRE "expect trace client a \"abc\n",
		  P ":4:27: expected '\"' closing the string, found end of line");
	parse_bad(PRE "expect trace client a \"abc # not a comment\n",
		  P ":4:43: expected '\"' closing the string, found end of line");
	parse_bad(PRE "expect trace client a \"a\\qb\"\n",
		  P ":4:25: expected one of \\\", \\\\, \\n, \\t (escapes in a string), found "
		    "'\\q'");
	parse_bad(PRE "expect trace client a \"ab\\\n",
		  P ":4:26: expected one of \\\", \\\\, \\n, \\t (escapes in a string), found "
		    "end of line");
	parse_bad(PRE "expect trace client a \"x\"\"y\"\n",
		  P ":4:26: expected one of within, end of line, found '\"y\"'");
}

/* ---- the within/fails split ----------------------------------------------------------------- */

static void test_within_only_on_expectations(void **state)
{
	parse_bad(PRE "a: start vm1 within 1s\n",
		  P ":4:14: expected one of fails, end of line, found 'within'");
	parse_bad(PRE "advance 1s within 1s\n", P ":4:12: expected end of line, found 'within'");
	parse_bad(PRE "kill vmm of vm1 within 1s\n",
		  P ":4:17: expected one of a signal (KILL, TERM, SEGV, ABRT, INT, HUP, USR1, ... "
		    "or 1..64), end of line, found 'within'");
	parse_bad("client a within 1s\n", P ":1:10: expected end of line, found 'within'");
	/* and fails only on client actions */
	parse_bad(PRE "expect vm1 state DEAD fails EPIPE\n",
		  P ":4:23: expected one of within, end of line, found 'fails'");
	parse_bad(PRE "expect vm1 state DEAD within 0s\n",
		  P ":4:30: expected a duration above zero, found '0s'");
	parse_bad(PRE "expect vm1 state DEAD within\n",
		  P ":4:29: expected a duration (an integer and ns, us, ms, s or m, like 500ms), "
		    "found end of line");
	parse_bad(PRE "expect vm1 state DEAD within 1s 2s\n",
		  P ":4:33: expected end of line, found '2s'");
}

/* ---- limits --------------------------------------------------------------------------------- */

static void test_line_limit(void **state)
{
	char *src = malloc(8192);
	struct scn *s;

	assert_non_null(src);
	/* 4096 characters is the longest line: a comment pads it */
	memset(src, ' ', 4096);
	memcpy(src, "client a #", 10);
	strcpy(src + 4096, "\n");
	s = parse_ok(src);
	assert_int_equal(s->n, 1);
	scn_free(s);
	/* the CR of a CRLF does not count */
	strcpy(src + 4096, "\r\n");
	s = parse_ok(src);
	scn_free(s);

	strcpy(src + 4096, " \nclient b\n");
	parse_bad(src, P ":1:4097: expected at most 4096 characters on a line, found a line of 4097 "
			 "characters");
	free(src);
}

static void test_step_limit(void **state)
{
	size_t cap = 100001 * 12 + 64, len = 0;
	char *src = malloc(cap);
	struct scn *s;

	assert_non_null(src);
	for (int i = 0; i < 100000; i++)
		len += (size_t)snprintf(src + len, cap - len, "advance 1s\n");
	s = parse_ok(src);
	assert_int_equal(s->n, 100000);
	assert_int_equal(s->steps[99999].line, 100000);
	scn_free(s);
	snprintf(src + len, cap - len, "\n  advance 1s\n");
	parse_bad(src, P ":100002:3: expected at most 100000 steps, found 'advance'");
	free(src);
}

static void test_long_token_cut(void **state)
{
	char src[256];

	snprintf(src, sizeof(src), "client a\nkill a %s\n",
		 "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ");
	parse_bad(src, P ":2:8: expected one of a signal (KILL, TERM, SEGV, ABRT, INT, HUP, USR1, ... "
			 "or 1..64), end of line, found "
			 "'ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKL...'");
}

/* ---- the API -------------------------------------------------------------------------------- */

static void test_parse_file(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[512], want[1024];
	struct scn *s = NULL;
	char *msg = NULL;
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/test_scn_parse_XXXXXX", tmp);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);

	f = fopen(path, "we");
	assert_non_null(f);
	fputs("# From a file\nclient a\nkill a\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(scn_parse_file(path, &s, &msg), 0);
	assert_null(msg);
	assert_string_equal(s->path, path);
	assert_string_equal(s->title, "From a file");
	assert_int_equal(s->n, 2);
	s = scn_free(s);
	assert_null(s);

	/* errors name the path as given */
	f = fopen(path, "we");
	assert_non_null(f);
	fputs("client a\nkill b\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(scn_parse_file(path, &s, &msg), -EINVAL);
	assert_null(s);
	snprintf(want, sizeof(want),
		 "%s:2:6: expected one of virtmgr, vmm, virtualizationservice, a client declared "
		 "earlier, found 'b'",
		 path);
	assert_string_equal(msg, want);
	free(msg);

	/* a NUL byte is no text */
	f = fopen(path, "we");
	assert_non_null(f);
	fwrite("client a\nkil\0l a\n", 1, 17, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(scn_parse_file(path, &s, &msg), -EINVAL);
	assert_null(s);
	snprintf(want, sizeof(want), "%s:2:4: expected text, found a NUL byte", path);
	assert_string_equal(msg, want);
	free(msg);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(scn_parse_file(path, &s, &msg), -ENOENT);
	assert_null(s);
	snprintf(want, sizeof(want), "%s: can't read scenario: %s", path, strerror(ENOENT));
	assert_string_equal(msg, want);
	free(msg);

	/* a directory cannot be read */
	assert_int_equal(scn_parse_file(tmp, &s, &msg), -EISDIR);
	assert_null(s);
	free(msg);
}

static void test_err_msg_optional(void **state)
{
	struct scn *s = NULL;

	assert_int_equal(scn_parse(P, "kill\n", &s, NULL), -EINVAL);
	assert_null(s);
	assert_string_equal(avf_err_last()->msg,
			    P ":1:5: expected one of virtmgr, vmm, virtualizationservice, a client "
			      "declared earlier, found end of line");
	assert_int_equal(avf_err_last()->ex, -3);
	assert_int_equal(scn_parse(P, "client a\n", &s, NULL), 0);
	assert_int_equal(s->n, 1);
	scn_free(s);
	assert_null(scn_free(NULL));
}

static void test_kind_names(void **state)
{
	static const char *const want[] = {
		"time", "cid-range", "timeout", "client", "command", "create", "start", "stop",
		"drop", "ref", "register", "disconnect", "kill client", "kill virtmgr", "kill vmm",
		"kill virtualizationservice", "restart virtualizationservice", "advance", "signal",
		"expect state", "expect died", "expect callbacks", "expect cid",
		"expect cids distinct", "expect list", "expect virtmgr exited", "expect trace",
		"expect exited", "expect killed", "expect output", "expect no leaks",
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_string_equal(scn_kind_name((enum scn_kind)i), want[i]);
	assert_string_equal(scn_kind_name((enum scn_kind)(sizeof(want) / sizeof(want[0]))), "?");
	assert_string_equal(scn_kind_name((enum scn_kind)-1), "?");
}

/* ---- commands ------------------------------------------------------------------------------- */

static void argv_is(const struct scn_step *st, size_t n, const char *const *words)
{
	assert_int_equal(st->argc, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(st->argv[i], words[i]);
}

static void test_command(void **state)
{
	static const char src[] =
		"time x10\n"
		"command c1: sh -c \"echo hi; exit 3\" a,b key:val [x] --x=1 \"\" 'q'\n"
		"command c2 stdin \"l1\\nl2\\t!\\n\\\"\\\\\" : cat\n"
		"command c3:/bin/echo   x\t y   # a comment\n"
		"command c4 : echo \"a#b\" x\\y\n"
		"client a\n"
		"a: create vm1 from c.json\n";
	struct scn *s = parse_ok(src);

	assert_int_equal(s->n, 7);
	assert_int_equal(s->steps[1].kind, SCN_COMMAND);
	assert_int_equal(s->steps[1].line, 2);
	assert_string_equal(s->steps[1].cmd, "c1");
	assert_null(s->steps[1].client);
	assert_null(s->steps[1].input);
	argv_is(&s->steps[1], 9,
		(const char *[]){ "sh", "-c", "echo hi; exit 3", "a,b", "key:val", "[x]", "--x=1", "",
				  "'q'" });
	assert_string_equal(s->steps[1].src,
			    "command c1: sh -c \"echo hi; exit 3\" a,b key:val [x] --x=1 \"\" 'q'");

	assert_string_equal(s->steps[2].cmd, "c2");
	assert_string_equal(s->steps[2].input, "l1\nl2\t!\n\"\\");
	argv_is(&s->steps[2], 1, (const char *[]){ "cat" });

	assert_string_equal(s->steps[3].cmd, "c3");
	argv_is(&s->steps[3], 3, (const char *[]){ "/bin/echo", "x", "y" });
	assert_string_equal(s->steps[3].src, "command c3:/bin/echo   x\t y");

	argv_is(&s->steps[4], 3, (const char *[]){ "echo", "a#b", "x\\y" });

	/* a client after a command: the directives' rule counts both */
	assert_int_equal(s->steps[5].kind, SCN_CLIENT);
	scn_free(s);
}

static void test_command_expectations(void **state)
{
	static const char src[] = "command c: sh\n"
				  "signal c INT\n"
				  "signal c SIGTERM\n"
				  "signal c 9\n"
				  "expect c exited 0\n"
				  "expect c exited 255 within 2s\n"
				  "expect c killed INT\n"
				  "expect c killed SIGKILL within 500ms\n"
				  "expect c stdout \"ready\"\n"
				  "expect c stderr \"a \\\"b\\\"\" within 1s\n"
				  "expect c stdout exactly \"l1\\nl2\\n\"\n"
				  "expect c stderr exactly \"\"\n"
				  "expect trace command c \"vm run\"\n"
				  "expect no leaks\n";
	struct scn *s = parse_ok(src);
	const struct scn_step *st = s->steps;

	assert_int_equal(s->n, 14);
	assert_int_equal(st[1].kind, SCN_SIGNAL);
	assert_string_equal(st[1].cmd, "c");
	assert_int_equal(st[1].sig, SIGINT);
	assert_int_equal(st[2].sig, SIGTERM);
	assert_int_equal(st[3].sig, 9);

	assert_int_equal(st[4].kind, SCN_EXPECT_EXITED);
	assert_string_equal(st[4].cmd, "c");
	assert_int_equal(st[4].number, 0);
	assert_int_equal(st[4].within_ns, 0);
	assert_int_equal(st[5].number, 255);
	assert_int_equal(st[5].within_ns, 2000000000ull);
	assert_int_equal(st[6].kind, SCN_EXPECT_KILLED);
	assert_int_equal(st[6].sig, SIGINT);
	assert_int_equal(st[7].sig, SIGKILL);
	assert_int_equal(st[7].within_ns, 500000000ull);

	assert_int_equal(st[8].kind, SCN_EXPECT_OUTPUT);
	assert_string_equal(st[8].cmd, "c");
	assert_int_equal(st[8].stream, 1);
	assert_false(st[8].exact);
	assert_string_equal(st[8].text, "ready");
	assert_int_equal(st[9].stream, 2);
	assert_false(st[9].exact);
	assert_string_equal(st[9].text, "a \"b\"");
	assert_int_equal(st[9].within_ns, 1000000000ull);
	assert_int_equal(st[10].stream, 1);
	assert_true(st[10].exact);
	assert_string_equal(st[10].text, "l1\nl2\n");
	assert_int_equal(st[11].stream, 2);
	assert_true(st[11].exact);
	assert_string_equal(st[11].text, "");

	assert_int_equal(st[12].kind, SCN_EXPECT_TRACE);
	assert_string_equal(st[12].actor, "command c");
	assert_string_equal(st[12].cmd, "c");
	assert_string_equal(st[12].text, "vm run");
	assert_int_equal(st[13].kind, SCN_EXPECT_NO_LEAKS);
	scn_free(s);
}

static void test_command_errors(void **state)
{
	parse_bad("command c echo\n", P ":1:11: expected one of stdin, ':', found 'echo'");
	parse_bad("command c:\n",
		  P ":1:11: expected a command line (the program and its arguments), found end of "
		    "line");
	/* trailing blanks are cut before parsing: the end is right after ':' */
	parse_bad("command c:   \t\n",
		  P ":1:11: expected a command line (the program and its arguments), found end of "
		    "line");
	parse_bad("command c: echo \"a\"b\n", P ":1:20: expected a blank between words, found 'b'");
	parse_bad("command c: echo a\"b\"\n",
		  P ":1:18: expected a blank between words, found '\"b\"'");
	parse_bad("command c: echo \"ab\n",
		  P ":1:20: expected '\"' closing the string, found end of line");
	parse_bad("command c: echo \"a\\q\"\n",
		  P ":1:19: expected one of \\\", \\\\, \\n, \\t (escapes in a string), found "
		    "'\\q'");
	parse_bad("command c stdin: cat\n", P ":1:16: expected a quoted string, found ':'");
	parse_bad("command c stdin \"x\" cat\n", P ":1:21: expected ':', found 'cat'");
	parse_bad("command\n", P ":1:8: expected a command name, found end of line");
	parse_bad("command 1c: x\n", P ":1:9: expected a command name, found '1c'");
	parse_bad("command trace: x\n",
		  P ":1:9: expected a command name other than cid, cids, list, virtmgr, vmm, "
		    "virtualizationservice, trace, no, found 'trace'");
	parse_bad("command vmm: x\n",
		  P ":1:9: expected a command name other than cid, cids, list, virtmgr, vmm, "
		    "virtualizationservice, trace, no, found 'vmm'");

	/* one namespace with clients, none with VMs, each name once */
	parse_bad("command c: x\ncommand c: y\n",
		  P ":2:9: expected a new command name ('c' was started on line 1), found 'c'");
	parse_bad("client a\ncommand a: x\n",
		  P ":2:9: expected a new command name ('a' is a client, declared on line 1), "
		    "found 'a'");
	parse_bad("command a: x\nclient a\n",
		  P ":2:8: expected a new client name ('a' is a command, started on line 1), "
		    "found 'a'");
	parse_bad(PRE "command vm2: x\n",
		  P ":4:9: expected a new command name ('vm2' is a VM, created on line 2), "
		    "found 'vm2'");
	parse_bad("client a\ncommand c: x\na: create c from j.json\n",
		  P ":3:11: expected a new VM name ('c' is a command, started on line 2), "
		    "found 'c'");
	parse_bad("client a\ncommand c2: x\na: create c[1..3] from j.json\n",
		  P ":3:11: expected a new VM name ('c2' is a command, started on line 2), "
		    "found 'c[1..3]'");
	parse_bad(PRE "command h: x\na: ref vm1 as h\n",
		  P ":5:15: expected a new VM name ('h' is a command, started on line 4), "
		    "found 'h'");
	/* a command is no client: it takes no calls and is not killed */
	parse_bad("command c: x\nc: create vm1 from j.json\n",
		  P ":2:1: expected a client declared earlier, found 'c'");
	parse_bad("command c: x\nkill c\n",
		  P ":2:6: expected a client ('c' is a command: `signal c SIG`), found 'c'");
	/* directives come before the first actor of either kind */
	parse_bad("command c: x\ntimeout 1s\n",
		  P ":2:1: expected directives (time, cid-range, timeout) before the first command "
		    "(line 1), found 'timeout'");
}

static void test_command_step_errors(void **state)
{
#define C "command c: x\n"
	parse_bad("signal c INT\n", P ":1:8: expected a command started earlier, found 'c'");
	parse_bad("client a\nsignal a INT\n",
		  P ":2:8: expected a command started earlier, found 'a'");
	parse_bad(C "signal c\n",
		  P ":2:9: expected a signal (KILL, TERM, SEGV, ABRT, INT, HUP, USR1, ... or 1..64), "
		    "found end of line");
	parse_bad(C "signal c 65\n",
		  P ":2:10: expected a signal (KILL, TERM, SEGV, ABRT, INT, HUP, USR1, ... or "
		    "1..64), found '65'");
	parse_bad(C "signal c INT now\n", P ":2:14: expected end of line, found 'now'");
	parse_bad(C "signal c INT within 1s\n", P ":2:14: expected end of line, found 'within'");

	parse_bad(C "expect c exit 0\n",
		  P ":2:10: expected one of exited, killed, stdout, stderr, found 'exit'");
	parse_bad(C "expect c\n",
		  P ":2:9: expected one of exited, killed, stdout, stderr, found end of line");
	parse_bad(C "expect c exited 256\n",
		  P ":2:17: expected an exit status 0..255, found '256'");
	parse_bad(C "expect c exited -1\n", P ":2:17: expected an exit status 0..255, found '-1'");
	parse_bad(C "expect c exited\n",
		  P ":2:16: expected an exit status 0..255, found end of line");
	parse_bad(C "expect c killed FOO\n",
		  P ":2:17: expected a signal (KILL, TERM, SEGV, ABRT, INT, HUP, USR1, ... or "
		    "1..64), found 'FOO'");
	parse_bad(C "expect c stdout hi\n",
		  P ":2:17: expected one of exactly, a quoted string, found 'hi'");
	parse_bad(C "expect c stderr exactly hi\n",
		  P ":2:25: expected a quoted string, found 'hi'");
	parse_bad(C "expect c stdout \"x\" within\n",
		  P ":2:27: expected a duration (an integer and ns, us, ms, s or m, like 500ms), "
		    "found end of line");
	parse_bad(C "expect c exited 0 fails EPERM\n",
		  P ":2:19: expected one of within, end of line, found 'fails'");
	parse_bad(C "expect c, d exited 0\n",
		  P ":2:9: expected one of exited, killed, stdout, stderr, found ','");
	parse_bad(C "expect d exited 0\n",
		  P ":2:8: expected one of cid, cids, list, virtmgr, trace, no, a VM created "
		    "earlier, a command started earlier, found 'd'");
	parse_bad(C "expect trace command d \"x\"\n",
		  P ":2:22: expected a command started earlier, found 'd'");
	parse_bad(C "expect trace command c x\n",
		  P ":2:24: expected a quoted string, found 'x'");
#undef C
}

static void test_client_named_like_keyword(void **state)
{
	/* `NAME:` is a client action whatever the name; kill takes its own keywords first */
	struct scn *s = parse_ok("client expect\nclient time\nexpect: create vm1 from c.json\n"
				 "time: start vm1\nkill expect\n");

	assert_int_equal(s->steps[2].kind, SCN_CREATE);
	assert_string_equal(s->steps[2].client, "expect");
	assert_int_equal(s->steps[3].kind, SCN_START);
	assert_string_equal(s->steps[3].client, "time");
	assert_int_equal(s->steps[4].kind, SCN_KILL_CLIENT);
	assert_string_equal(s->steps[4].client, "expect");
	scn_free(s);
	parse_bad("client a\na create vm1 from c.json\n",
		  P ":2:1: expected one of time, cid-range, timeout, client, command, kill, signal, "
		    "restart, advance, expect, NAME:, found 'a'");
	parse_bad("client a\na:\n", P ":2:3: expected one of create, start, stop, drop, ref, "
				      "register, disconnect, found end of line");
	parse_bad("client a\nA: disconnect\n", P ":2:1: expected a client declared earlier, found "
					      "'A'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_design_example),
		cmocka_unit_test(test_empty_and_comment_only),
		cmocka_unit_test(test_title),
		cmocka_unit_test(test_blank_crlf_trailing),
		cmocka_unit_test(test_directives),
		cmocka_unit_test(test_directive_errors),
		cmocka_unit_test(test_client),
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_start_stop_drop),
		cmocka_unit_test(test_ref),
		cmocka_unit_test(test_register_disconnect),
		cmocka_unit_test(test_fails),
		cmocka_unit_test(test_fails_exception_table),
		cmocka_unit_test(test_failed_action_declares_nothing),
		cmocka_unit_test(test_kill),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_kill_errors),
		cmocka_unit_test(test_advance_and_durations),
		cmocka_unit_test(test_expect_state),
		cmocka_unit_test(test_expect_died),
		cmocka_unit_test(test_expect_callbacks),
		cmocka_unit_test(test_callbacks_errors),
		cmocka_unit_test(test_expect_cid),
		cmocka_unit_test(test_expect_cids_distinct),
		cmocka_unit_test(test_expect_list),
		cmocka_unit_test(test_expect_virtmgr_exited),
		cmocka_unit_test(test_expect_trace),
		cmocka_unit_test(test_expect_no_leaks),
		cmocka_unit_test(test_expect_unknown_word),
		cmocka_unit_test(test_used_before_declared),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_range_errors),
		cmocka_unit_test(test_names_budget),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_within_only_on_expectations),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_step_limit),
		cmocka_unit_test(test_long_token_cut),
		cmocka_unit_test(test_parse_file),
		cmocka_unit_test(test_err_msg_optional),
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_client_named_like_keyword),
		cmocka_unit_test(test_command),
		cmocka_unit_test(test_command_expectations),
		cmocka_unit_test(test_command_errors),
		cmocka_unit_test(test_command_step_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
