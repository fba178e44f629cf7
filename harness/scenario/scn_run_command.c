/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_run_command: the command steps of a run, judged. Contract: scn_run_command.h.
 */
#include "scn_run_command.h"

#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/avf_err.h"

/* How much of a command's output a failed `exactly` shows. */
#define EXACT_SHOWN 2048

struct judge {
	struct world *w;
	char *fail; /* the first failure */
};

static int fail(struct judge *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct judge *j, const char *fmt, ...)
{
	va_list ap;

	if (j->fail)
		return -1;
	va_start(ap, fmt);
	if (vasprintf(&j->fail, fmt, ap) < 0)
		j->fail = NULL;
	va_end(ap);
	return -1;
}

static const char *last_msg(void)
{
	return avf_err_last()->msg[0] ? avf_err_last()->msg : "(no message)";
}

static int do_command(struct judge *j, const char *scn_path, const struct scn_step *st)
{
	char abs[PATH_MAX], dir[PATH_MAX];

	/* cwd is the scenario's folder, so relative paths work as in `create ... from` */
	if (!realpath(scn_path, abs))
		snprintf(abs, sizeof(abs), "%s", scn_path);
	snprintf(dir, sizeof(dir), "%s", dirname(abs));
	if (world_command_start(j->w, st->cmd, st->argv, st->argc, st->input, dir) < 0)
		return fail(j, "command %s: %s", st->cmd, last_msg());
	return 0;
}

static const char *stream_name(int stream)
{
	return stream == COMMAND_STDERR ? "stderr" : "stdout";
}

/* fail() with the command's state and output tails after the message. */
static int fail_command(struct judge *j, const struct world_command *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_command(struct judge *j, const struct world_command *c, const char *fmt, ...)
{
	char *msg = NULL, *rep = world_command_report(c);
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	fail(j, "%s%s", msg ? msg : "out of memory", rep ? rep : "");
	free(msg);
	free(rep);
	return -1;
}

static int expect_command_end(struct judge *j, const struct scn_step *st, int64_t ms)
{
	struct world_command *c = world_command(j->w, st->cmd);
	char want[64], how[96];
	bool ok;

	if (st->kind == SCN_EXPECT_EXITED)
		snprintf(want, sizeof(want), "exit with status %" PRIu32, st->number);
	else
		snprintf(want, sizeof(want), "be killed by SIG%s",
			 sigabbrev_np(st->sig) ? sigabbrev_np(st->sig) : "?");
	if (world_command_wait_exit(j->w, c, ms) < 0)
		return fail_command(j, c,
				    "expected command %s to %s; it is still running after "
				    "%" PRId64 " ms",
				    c->name, want, ms);
	if (st->kind == SCN_EXPECT_EXITED)
		ok = WIFEXITED(c->status) && (uint32_t)WEXITSTATUS(c->status) == st->number;
	else
		ok = WIFSIGNALED(c->status) && WTERMSIG(c->status) == st->sig;
	if (!ok) {
		world_command_describe(c, how, sizeof(how));
		return fail_command(j, c, "expected command %s to %s; it %s", c->name, want, how);
	}
	return 0;
}

/* @s (of @n bytes) as a C string literal's inside: \n, \t, \", \\, \xNN. */
static char *quote(const char *s, size_t n)
{
	char *out = malloc(4 * n + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\n' || ch == '\t' || ch == '"' || ch == '\\') {
			*o++ = '\\';
			*o++ = ch == '\n' ? 'n' : ch == '\t' ? 't' : (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			o += sprintf(o, "\\x%02x", ch);
		} else {
			*o++ = (char)ch;
		}
	}
	*o = '\0';
	return out;
}

static int expect_command_output(struct judge *j, const struct scn_step *st, int64_t ms)
{
	struct world_command *c = world_command(j->w, st->cmd);
	const char *what = stream_name(st->stream);
	char *buf = NULL, *want, *got;
	size_t len;

	if (!st->exact) {
		if (world_command_wait_line(j->w, c, st->stream, st->text, ms) > 0)
			return 0;
		want = quote(st->text, strlen(st->text));
		if (c->reaped)
			fail_command(j, c,
				     "expected a line of command %s's %s containing \"%s\"; "
				     "none came before it ended",
				     c->name, what, want ? want : "?");
		else
			fail_command(j, c,
				     "expected a line of command %s's %s containing \"%s\"; "
				     "none came within %" PRId64 " ms",
				     c->name, what, want ? want : "?", ms);
		free(want);
		return -1;
	}
	/* The whole output is known once the process is gone. */
	if (world_command_wait_exit(j->w, c, ms) < 0)
		return fail_command(j, c,
				    "expected the whole %s of command %s once it ended; it is "
				    "still running after %" PRId64 " ms",
				    what, c->name, ms);
	if (world_command_output(c, st->stream, &buf, &len) < 0)
		return fail(j, "%s", last_msg());
	if (len == strlen(st->text) && !memcmp(buf, st->text, len)) {
		free(buf);
		return 0;
	}
	want = quote(st->text, strlen(st->text));
	/* the start is what tells most; the tail follows in the report */
	got = quote(buf, len > EXACT_SHOWN ? EXACT_SHOWN : len);
	free(buf);
	fail_command(j, c, "%s of command %s:\n    expected: \"%s\"\n    happened: \"%s\"%s", what,
		     c->name, want ? want : "?", got ? got : "?", len > EXACT_SHOWN ? "..." : "");
	free(want);
	free(got);
	return -1;
}

int scn_run_command_step(struct world *w, const char *scn_path, const struct scn_step *st,
			 int64_t deadline_ms, char **ret_fail)
{
	struct judge j = {.w = w};
	struct world_command *c = st->cmd ? world_command(w, st->cmd) : NULL;
	int r;

	/* the parser lets no step name a command that was not started before */
	if (st->kind != SCN_COMMAND && !c)
		r = fail(&j, "no command named %s", st->cmd ? st->cmd : "(none)");
	else if (st->kind == SCN_COMMAND)
		r = do_command(&j, scn_path, st);
	else if (st->kind == SCN_SIGNAL)
		r = world_command_signal(w, c, st->sig) < 0
			? fail(&j, "signal %s: %s", st->cmd, last_msg())
			: 0;
	else if (st->kind == SCN_EXPECT_EXITED || st->kind == SCN_EXPECT_KILLED)
		r = expect_command_end(&j, st, deadline_ms);
	else if (st->kind == SCN_EXPECT_OUTPUT)
		r = expect_command_output(&j, st, deadline_ms);
	else
		r = fail(&j, "%s is no command step", scn_kind_name(st->kind));
	if (r == 0)
		return 0;
	*ret_fail = j.fail;
	return -1;
}
