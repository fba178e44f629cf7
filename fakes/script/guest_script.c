/* SPDX-License-Identifier: Apache-2.0 */
#include "fakes/script/guest_script.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"

/* Scripts come from configs and scenario files: bound them. */
#define GSCRIPT_MAX_LEN 65536
#define GSCRIPT_MAX_STEPS 4096

static const char *const op_names[] = {
	[GS_WAIT] = "wait",         [GS_STARTED] = "started", [GS_READY] = "ready",
	[GS_FINISHED] = "finished", [GS_ERROR] = "error",     [GS_FAILURE] = "failure",
	[GS_EXIT] = "exit",         [GS_SIGNAL] = "signal",   [GS_HANG] = "hang",
	[GS_SPAWN_FAIL] = "spawn-fail", [GS_CONSOLE] = "console", [GS_LOG] = "log",
	[GS_ECHO_CONSOLE] = "echo-console", [GS_AGENT] = "agent",
};

static const struct {
	const char *name;
	int sig;
} signals[] = {
	{ "HUP", SIGHUP },   { "INT", SIGINT },   { "QUIT", SIGQUIT }, { "ILL", SIGILL },
	{ "ABRT", SIGABRT }, { "BUS", SIGBUS },   { "FPE", SIGFPE },   { "KILL", SIGKILL },
	{ "SEGV", SIGSEGV }, { "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
	{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "SYS", SIGSYS },
};

const char *gscript_op_name(enum gscript_op op)
{
	return (unsigned)op < sizeof(op_names) / sizeof(op_names[0]) ? op_names[op] : "?";
}

struct parser {
	const char *src;
	const char *p;
	unsigned line;
	const char *line_start;
};

static int perr(const struct parser *ps, const char *at, const char *what, const char *word)
{
	return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "guest script:%u:%u: %s%s%s%s",
			   ps->line, (unsigned)(at - ps->line_start) + 1, what, word ? " '" : "",
			   word ? word : "", word ? "'" : "");
}

static void skip_blank(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r')
		ps->p++;
}

/* Copy the next word ([A-Za-z0-9_-]+ or a number) into @buf; returns its length. */
static size_t next_word(struct parser *ps, char *buf, size_t len)
{
	size_t n = 0;

	skip_blank(ps);
	while (*ps->p && !isspace((unsigned char)*ps->p) && *ps->p != ';') {
		if (n + 1 < len)
			buf[n] = *ps->p;
		n++;
		ps->p++;
	}
	buf[n < len ? n : len - 1] = '\0';
	return n;
}

static int parse_int(const char *w, int64_t min, int64_t max, int64_t *ret)
{
	char *end;
	long long v;

	if (!*w || !(isdigit((unsigned char)w[0]) || w[0] == '-'))
		return -EINVAL;
	errno = 0;
	v = strtoll(w, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_duration(const char *w, int64_t *ret)
{
	static const struct {
		const char *unit;
		int64_t ns;
	} units[] = { { "ns", 1 }, { "us", 1000 }, { "ms", 1000000 }, { "s", 1000000000 } };
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)w[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(w, &end, 10);
	if (errno)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0) {
			/* A day is plenty for any scenario and keeps the sum far from overflow. */
			if (v > 86400ull * 1000000000ull / (unsigned long long)units[i].ns)
				return -ERANGE;
			*ret = (int64_t)v * units[i].ns;
			return 0;
		}
	return -EINVAL;
}

static int parse_signal(const char *w, int64_t *ret)
{
	const char *name = strncmp(w, "SIG", 3) == 0 ? w + 3 : w;

	if (parse_int(w, 1, 64, ret) == 0)
		return 0;
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (strcmp(signals[i].name, name) == 0) {
			*ret = signals[i].sig;
			return 0;
		}
	return -EINVAL;
}

/* The rest of the step as text, trimmed, quotes removed. NULL on ENOMEM. */
static char *rest_text(struct parser *ps)
{
	const char *start, *end;
	char *out;

	skip_blank(ps);
	start = ps->p;
	while (*ps->p && *ps->p != ';' && *ps->p != '\n')
		ps->p++;
	end = ps->p;
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	if (end - start >= 2 && *start == '"' && end[-1] == '"') {
		start++;
		end--;
	}
	out = malloc((size_t)(end - start) + 1);
	if (out) {
		memcpy(out, start, (size_t)(end - start));
		out[end - start] = '\0';
	}
	return out;
}

static bool is_terminal(enum gscript_op op)
{
	return op == GS_EXIT || op == GS_SIGNAL || op == GS_HANG || op == GS_SPAWN_FAIL ||
	       op == GS_AGENT;
}

static int parse_step(struct parser *ps, struct gscript_step *st)
{
	char word[64], arg[64];
	const char *at, *arg_at;
	size_t i;

	skip_blank(ps);
	at = ps->p;
	next_word(ps, word, sizeof(word));
	for (i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (strcmp(word, op_names[i]) == 0)
			break;
	if (i == sizeof(op_names) / sizeof(op_names[0]))
		return perr(ps, at,
			    "expected a step (wait, started, ready, finished, error, failure, console, "
			    "log, echo-console, exit, signal, hang, spawn-fail, agent), got",
			    word);
	memset(st, 0, sizeof(*st));
	st->op = (enum gscript_op)i;

	switch (st->op) {
	case GS_WAIT:
		skip_blank(ps);
		arg_at = ps->p;
		next_word(ps, arg, sizeof(arg));
		if (parse_duration(arg, &st->value) < 0)
			return perr(ps, arg_at,
				    "expected a duration up to a day after 'wait' (like 500ms, 2s), got",
				    arg);
		break;
	case GS_FINISHED:
	case GS_EXIT:
	case GS_ERROR:
		skip_blank(ps);
		arg_at = ps->p;
		next_word(ps, arg, sizeof(arg));
		if (parse_int(arg, st->op == GS_FINISHED ? INT32_MIN : 0,
			      st->op == GS_EXIT ? 255 : INT32_MAX, &st->value) < 0)
			return perr(ps, arg_at,
				    st->op == GS_EXIT ? "expected an exit status 0..255, got"
						      : "expected an integer code, got",
				    arg);
		if (st->op == GS_ERROR) {
			st->text = rest_text(ps);
			if (!st->text)
				return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
		}
		break;
	case GS_SIGNAL:
		skip_blank(ps);
		arg_at = ps->p;
		next_word(ps, arg, sizeof(arg));
		if (parse_signal(arg, &st->value) < 0)
			return perr(ps, arg_at, "expected a signal (number 1..64 or KILL, SEGV, ...), got",
				    arg);
		break;
	case GS_FAILURE:
	case GS_CONSOLE:
	case GS_LOG:
		skip_blank(ps);
		if (!*ps->p || *ps->p == ';' || *ps->p == '\n')
			return perr(ps, ps->p,
				    st->op == GS_FAILURE   ? "expected the failure text after 'failure'"
				    : st->op == GS_CONSOLE ? "expected the text after 'console'"
							   : "expected the text after 'log'",
				    NULL);
		st->text = rest_text(ps);
		if (!st->text)
			return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
		break;
	default:
		break;
	}
	skip_blank(ps);
	if (*ps->p && *ps->p != ';' && *ps->p != '\n') {
		next_word(ps, arg, sizeof(arg));
		free(st->text);
		st->text = NULL;
		return perr(ps, ps->p - strlen(arg), "expected ';' or end of line, got", arg);
	}
	return 0;
}

int gscript_parse(const char *src, struct gscript **ret)
{
	struct parser ps = { .src = src, .p = src, .line = 1, .line_start = src };
	struct gscript *s;
	int r = 0;

	if (strlen(src) > GSCRIPT_MAX_LEN)
		return avf_err_set(-E2BIG, AVF_EX_ILLEGAL_ARGUMENT,
				   "guest script: longer than %d bytes", GSCRIPT_MAX_LEN);
	s = calloc(1, sizeof(*s));
	if (!s)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");

	for (;;) {
		struct gscript_step st, *steps;

		/* separators and blank lines */
		for (;;) {
			skip_blank(&ps);
			if (*ps.p == ';') {
				ps.p++;
			} else if (*ps.p == '\n') {
				ps.p++;
				ps.line++;
				ps.line_start = ps.p;
			} else {
				break;
			}
		}
		if (!*ps.p)
			break;
		if (s->n && is_terminal(s->steps[s->n - 1].op)) {
			r = perr(&ps, ps.p, "nothing may follow exit, signal, hang, spawn-fail or agent", NULL);
			goto fail;
		}
		if (s->n == GSCRIPT_MAX_STEPS) {
			r = perr(&ps, ps.p, "too many steps (limit 4096)", NULL);
			goto fail;
		}
		r = parse_step(&ps, &st);
		if (r < 0)
			goto fail;
		if (st.op == GS_SPAWN_FAIL && s->n > 0) {
			r = perr(&ps, ps.p - strlen("spawn-fail"), "spawn-fail must be the only step",
				 NULL);
			goto fail;
		}
		steps = realloc(s->steps, (s->n + 1) * sizeof(*steps));
		if (!steps) {
			free(st.text);
			r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
			goto fail;
		}
		s->steps = steps;
		s->steps[s->n++] = st;
	}
	if (s->n == 0 || !is_terminal(s->steps[s->n - 1].op)) {
		r = perr(&ps, ps.p, "script must end with exit, signal, hang, spawn-fail or agent", NULL);
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	gscript_free(s);
	return r;
}

struct gscript *gscript_free(struct gscript *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		free(s->steps[i].text);
	free(s->steps);
	free(s);
	return NULL;
}
