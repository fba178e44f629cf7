/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the `.scn` parser (harness/scenario/scn_parse.c).
 *
 * Each input is one file's text (cut at its first NUL, as a C string is). A parse that fails
 * must say why in one line of the "PATH:LINE:COL: expected ..., found ..." shape. A parse
 * that succeeds must keep scn.h's promises (checked here: a violation traps like a crash),
 * and its steps' `src`, one a line, must parse again to the same steps: `src` is the step
 * without its comment, so the runner can quote it and a reader can re-run it. Leaks are
 * ASan's to find. Run: docs/scenarios.md, "Fuzzing the parser".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PATH "fuzz.scn"

static bool is_name(const char *s)
{
	if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

static bool is_client_action(enum scn_kind k)
{
	return k >= SCN_CREATE && k <= SCN_DISCONNECT;
}

static bool is_expectation(enum scn_kind k)
{
	return k >= SCN_EXPECT_STATE && k <= SCN_EXPECT_NO_LEAKS;
}

static void check(const struct scn *s)
{
	unsigned line = 0;

	if (strcmp(s->path, PATH) != 0 || (s->title && strchr(s->title, '\n')))
		__builtin_trap();
	for (size_t i = 0; i < s->n; i++) {
		const struct scn_step *st = &s->steps[i];

		if (strcmp(scn_kind_name(st->kind), "?") == 0 || st->line <= line || !st->src ||
		    !st->src[0] || strchr(st->src, '\n') || st->n_vms > 10000 ||
		    st->n_events > 10000 || (st->n_vms && !st->vms) || (st->n_rows && !st->rows))
			__builtin_trap();
		line = st->line;
		for (size_t j = 0; j < st->n_vms; j++)
			if (!is_name(st->vms[j]))
				__builtin_trap();
		for (size_t j = 0; j < st->n_rows; j++)
			if (!is_name(st->rows[j].vm))
				__builtin_trap();
		if (st->fail.expected && !is_client_action(st->kind))
			__builtin_trap();
		if (st->within_ns && !is_expectation(st->kind))
			__builtin_trap();
		if ((is_client_action(st->kind) || st->kind == SCN_CLIENT ||
		     st->kind == SCN_KILL_CLIENT || st->kind == SCN_KILL_VIRTMGR ||
		     st->kind == SCN_EXPECT_VIRTMGR_EXITED) &&
		    !is_name(st->client))
			__builtin_trap();
		if ((st->kind == SCN_REF || st->kind == SCN_KILL_VMM || st->kind == SCN_EXPECT_CID) &&
		    st->n_vms != 1)
			__builtin_trap();
		if (st->kind == SCN_REF && !is_name(st->name2))
			__builtin_trap();
		if (st->kind == SCN_CREATE && (!st->config || !st->n_vms))
			__builtin_trap();
		if ((st->kind == SCN_EXPECT_TRACE) != (st->actor != NULL) ||
		    (st->kind == SCN_EXPECT_TRACE && !st->text))
			__builtin_trap();
		if (st->kind == SCN_CID_RANGE && (st->lo < 3 || st->lo > st->hi))
			__builtin_trap();
		if (st->kind == SCN_TIME && (st->rate < 1 || st->rate > 100000))
			__builtin_trap();
		if ((st->kind == SCN_KILL_CLIENT || st->kind == SCN_KILL_VIRTMGR ||
		     st->kind == SCN_KILL_VMM || st->kind == SCN_KILL_VS) &&
		    (st->sig < 1 || st->sig > 64))
			__builtin_trap();
		if (st->kind == SCN_EXPECT_NO_LEAKS && i + 1 != s->n)
			__builtin_trap();
	}
}

/* The steps' src, one a line, parse to the same steps. */
static void reparse(const struct scn *s)
{
	size_t len = 1;
	char *text, *p;
	struct scn *again = NULL;

	for (size_t i = 0; i < s->n; i++)
		len += strlen(s->steps[i].src) + 1;
	text = malloc(len);
	if (!text)
		return;
	p = text;
	for (size_t i = 0; i < s->n; i++) {
		size_t n = strlen(s->steps[i].src);

		memcpy(p, s->steps[i].src, n);
		p += n;
		*p++ = '\n';
	}
	*p = '\0';
	if (scn_parse(PATH, text, &again, NULL) < 0 || again->n != s->n)
		__builtin_trap();
	for (size_t i = 0; i < s->n; i++)
		if (again->steps[i].kind != s->steps[i].kind ||
		    again->steps[i].n_vms != s->steps[i].n_vms ||
		    again->steps[i].n_rows != s->steps[i].n_rows ||
		    again->steps[i].n_events != s->steps[i].n_events ||
		    strcmp(again->steps[i].src, s->steps[i].src) != 0)
			__builtin_trap();
	scn_free(again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *src = malloc(size + 1);
	struct scn *s = NULL;
	char *msg = NULL;
	int r;

	if (!src)
		return 0;
	memcpy(src, data, size);
	src[size] = '\0';
	r = scn_parse(PATH, src, &s, &msg);
	if (r == 0) {
		if (msg)
			__builtin_trap();
		check(s);
		reparse(s);
		scn_free(s);
	} else if (r == -22) { /* EINVAL: a message of the promised shape */
		if (s || !msg || strncmp(msg, PATH ":", sizeof(PATH)) != 0 ||
		    !strstr(msg, ": expected ") || !strstr(msg, ", found ") || strchr(msg, '\n'))
			__builtin_trap();
	}
	free(msg);
	free(src);
	return 0;
}
