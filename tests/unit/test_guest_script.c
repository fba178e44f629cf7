/* SPDX-License-Identifier: Apache-2.0 */
/* The fake guest's script language: what it accepts, and errors naming line:column. */
#include "cmocka_wrap.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"
#include "fakes/script/guest_script.h"

static void test_full_script(void **state)
{
	struct gscript *s = NULL;

	assert_int_equal(gscript_parse("wait 1500ms; started; ready\nwait 2s;finished -3;"
				       " error 3 \"bad config\"; failure MICRODROID_UNKNOWN_RUNTIME_ERROR|x y;"
				       " exit 33",
				       &s),
			 0);
	assert_int_equal(s->n, 8);
	assert_int_equal(s->steps[0].op, GS_WAIT);
	assert_int_equal(s->steps[0].value, 1500000000);
	assert_int_equal(s->steps[1].op, GS_STARTED);
	assert_int_equal(s->steps[2].op, GS_READY);
	assert_int_equal(s->steps[3].value, 2000000000);
	assert_int_equal(s->steps[4].op, GS_FINISHED);
	assert_int_equal(s->steps[4].value, -3);
	assert_int_equal(s->steps[5].op, GS_ERROR);
	assert_int_equal(s->steps[5].value, 3);
	assert_string_equal(s->steps[5].text, "bad config");
	assert_int_equal(s->steps[6].op, GS_FAILURE);
	assert_string_equal(s->steps[6].text, "MICRODROID_UNKNOWN_RUNTIME_ERROR|x y");
	assert_int_equal(s->steps[7].op, GS_EXIT);
	assert_int_equal(s->steps[7].value, 33);
	gscript_free(s);
}

/* The console and log steps: text as failure's (trimmed, quotes removed), and the
 * op names the trace and the parser's message use. */
static void test_console_steps(void **state)
{
	struct gscript *s = NULL;

	assert_int_equal(gscript_parse("console hello, world ;log  \"  spaced  \"\n"
				       "echo-console;console \"\"; log a\"b\"; echo-console ; hang",
				       &s),
			 0);
	assert_int_equal(s->n, 7);
	assert_int_equal(s->steps[0].op, GS_CONSOLE);
	assert_string_equal(s->steps[0].text, "hello, world");
	assert_int_equal(s->steps[1].op, GS_LOG);
	assert_string_equal(s->steps[1].text, "  spaced  ");
	assert_int_equal(s->steps[2].op, GS_ECHO_CONSOLE);
	assert_null(s->steps[2].text);
	assert_int_equal(s->steps[3].op, GS_CONSOLE);
	assert_string_equal(s->steps[3].text, ""); /* an empty line */
	assert_int_equal(s->steps[4].op, GS_LOG);
	assert_string_equal(s->steps[4].text, "a\"b\""); /* quotes only around the whole */
	assert_int_equal(s->steps[5].op, GS_ECHO_CONSOLE);
	assert_int_equal(s->steps[6].op, GS_HANG);
	gscript_free(s);
	assert_string_equal(gscript_op_name(GS_CONSOLE), "console");
	assert_string_equal(gscript_op_name(GS_LOG), "log");
	assert_string_equal(gscript_op_name(GS_ECHO_CONSOLE), "echo-console");
	assert_string_equal(gscript_op_name(GS_SPAWN_FAIL), "spawn-fail");
}

static void test_terminals_and_units(void **state)
{
	static const struct {
		const char *src;
		enum gscript_op op;
		int64_t value;
	} ok[] = {
		{ "signal KILL", GS_SIGNAL, SIGKILL }, { "signal SIGSEGV", GS_SIGNAL, SIGSEGV },
		{ "signal 6", GS_SIGNAL, 6 },          { "hang", GS_HANG, 0 },
		{ "spawn-fail", GS_SPAWN_FAIL, 0 },    { "exit 255", GS_EXIT, 255 },
		{ "wait 5ns; hang", GS_WAIT, 5 },      { "wait 7us; hang", GS_WAIT, 7000 },
		{ "\n\n  ;; hang ;\n", GS_HANG, 0 },   { "wait 86400s; hang", GS_WAIT, 86400000000000 },
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct gscript *s = NULL;

		if (gscript_parse(ok[i].src, &s) != 0)
			fail_msg("'%s' rejected: %s", ok[i].src, avf_err_last()->msg);
		assert_int_equal(s->steps[0].op, ok[i].op);
		assert_int_equal(s->steps[0].value, ok[i].value);
		gscript_free(s);
	}
}

static void test_errors_name_position(void **state)
{
	static const struct {
		const char *src;
		const char *msg;
	} bad[] = {
		{ "", "guest script:1:1: script must end with exit, signal, hang, spawn-fail or agent" },
		{ "started; ready", "guest script:1:15: script must end with" },
		{ "startd; exit 0", "guest script:1:1: expected a step" },
		{ "wait; exit 0", "guest script:1:5: expected a duration" },
		{ "wait 10; exit 0", "guest script:1:6: expected a duration" },
		{ "wait 10m; exit 0", "guest script:1:6: expected a duration" },
		{ "wait 86401s; hang", "guest script:1:6: expected a duration up to a day" },
		{ "started\n  exit 256", "guest script:2:8: expected an exit status 0..255" },
		{ "exit -1", "guest script:1:6: expected an exit status" },
		{ "finished x; exit 0", "guest script:1:10: expected an integer code" },
		{ "signal FOO", "guest script:1:8: expected a signal" },
		{ "signal 65", "guest script:1:8: expected a signal" },
		{ "failure ; exit 0", "guest script:1:9: expected the failure text" },
		{ "console; exit 0", "guest script:1:8: expected the text after 'console'" },
		{ "started; log\nexit 0", "guest script:1:13: expected the text after 'log'" },
		{ "echo-console now; hang", "guest script:1:14: expected ';' or end of line, got 'now'" },
		{ "echo; hang", "guest script:1:1: expected a step (wait, started, ready, finished, "
			      "error, failure, console, log, echo-console, exit, signal, hang, "
			      "spawn-fail, agent), got 'echo'" },
		{ "console x", "guest script:1:10: script must end with" },
		{ "exit 0; started", "guest script:1:9: nothing may follow" },
		{ "started; spawn-fail", "guest script:1:10: spawn-fail must be the only step" },
		{ "ready now; exit 0", "guest script:1:7: expected ';' or end of line, got 'now'" },
		{ "hang\nhang", "guest script:2:1: nothing may follow" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct gscript *s = (struct gscript *)0x1;

		avf_err_clear();
		assert_int_equal(gscript_parse(bad[i].src, &s), -EINVAL);
		assert_ptr_equal(s, (struct gscript *)0x1); /* untouched */
		assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_ARGUMENT);
		if (strncmp(avf_err_last()->msg, bad[i].msg, strlen(bad[i].msg)) != 0)
			fail_msg("'%s': got \"%s\", want prefix \"%s\"", bad[i].src, avf_err_last()->msg,
				 bad[i].msg);
	}
}

static void test_limits(void **state)
{
	size_t n = 70000;
	char *big = malloc(n + 1);
	struct gscript *s = NULL;
	char *many;
	size_t len = 0;

	memset(big, ' ', n);
	big[n] = '\0';
	assert_int_equal(gscript_parse(big, &s), -E2BIG);
	free(big);

	/* 4097 steps: one more than allowed */
	many = malloc(4097 * 7 + 8);
	for (int i = 0; i < 4096; i++)
		len += (size_t)sprintf(many + len, "ready; ");
	sprintf(many + len, "hang");
	assert_int_equal(gscript_parse(many, &s), -EINVAL);
	assert_non_null(strstr(avf_err_last()->msg, "too many steps"));
	free(many);
	assert_null(gscript_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_script),
		cmocka_unit_test(test_console_steps),
		cmocka_unit_test(test_terminals_and_units),
		cmocka_unit_test(test_errors_name_position),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
