/* SPDX-License-Identifier: Apache-2.0 */
/*
 * trace_file: lines from several processes appending to one file never mix, the
 * format is what the header says, and AVF_TRACE_FILE selects the file.
 */
#include "cmocka_wrap.h"
#include "test_fds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "trace/trace_file.h"

#define WRITERS 4
#define LINES   500

static char path[256];

static int setup(void **state)
{
	snprintf(path, sizeof(path), "%s/trace_file_test.%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
		 (int)getpid());
	unlink(path);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

static void lines_never_mix(void **state)
{
	pid_t pids[WRITERS];
	int fds = count_fds();

	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0) {
			struct trace_file *tf;
			if (trace_file_open(path, &tf) < 0)
				_exit(1);
			for (int i = 0; i < LINES; i++)
				trace_emitf(trace_file_trace(tf), "vm:2048", "writer %d line %d %s", w, i,
					    "padding-padding-padding-padding-padding-padding");
			trace_file_close(tf);
			_exit(0);
		}
	}
	for (int w = 0; w < WRITERS; w++) {
		int st;
		assert_int_equal(waitpid(pids[w], &st, 0), pids[w]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	FILE *f = fopen(path, "re");
	assert_non_null(f);
	char line[512];
	int seen[WRITERS] = {0}, total = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long sec, nsec;
		int pid, w, i, n = 0;
		assert_int_equal(sscanf(line, "%llu.%9llu %d vm:2048 writer %d line %d %n", &sec, &nsec,
					&pid, &w, &i, &n),
				 5);
		assert_true(w >= 0 && w < WRITERS);
		assert_int_equal(pid, pids[w]);
		/* Each writer's lines arrive in its own order. */
		assert_int_equal(i, seen[w]);
		seen[w]++;
		assert_string_equal(line + n, "padding-padding-padding-padding-padding-padding\n");
		total++;
	}
	fclose(f);
	assert_int_equal(total, WRITERS * LINES);
	assert_int_equal(count_fds(), fds);
}

static void from_env(void **state)
{
	struct trace_file *tf = (struct trace_file *)1;

	unsetenv(TRACE_FILE_ENV);
	assert_int_equal(trace_file_from_env(&tf), 0);
	assert_null(tf);
	assert_null(trace_file_trace(tf));
	setenv(TRACE_FILE_ENV, "/nonexistent-dir/x/trace", 1);
	assert_int_equal(trace_file_from_env(&tf), -ENOENT);
	assert_non_null(strstr(avf_err_last()->msg, "/nonexistent-dir/x/trace"));
	setenv(TRACE_FILE_ENV, path, 1);
	assert_int_equal(trace_file_from_env(&tf), 0);
	assert_non_null(tf);
	trace_emitf(trace_file_trace(tf), "vs", "cid %u granted", 2048u);
	trace_file_close(tf);
	unsetenv(TRACE_FILE_ENV);
	FILE *f = fopen(path, "re");
	char line[256];
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_non_null(strstr(line, " vs cid 2048 granted\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(lines_never_mix, setup, teardown),
		cmocka_unit_test_setup_teardown(from_env, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
