/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the guest script parser (fakes/script/guest_script.c). A client
 * chooses the script (vm_config.guest_script) and the fake backend parses it inside
 * createVm, so it is input from an untrusted process.
 *
 * Input: the script's text, cut at its first NUL as a C string is. A refusal must be
 * -EINVAL or -E2BIG with EX_ILLEGAL_ARGUMENT and one line starting "guest script:". An
 * accepted script must keep the header's promises, checked here (a violation traps like
 * a crash): at least one step, only the last one ending the guest (exit, signal, hang,
 * spawn-fail, ...), spawn-fail alone, values in their documented ranges, text on exactly
 * the steps that take it; and the steps written back as a script (durations in ns, texts
 * in quotes) parse to the same steps.
 * Seeds: fuzz/corpus/guest_script/ (plain text, one script a file).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"
#include "fakes/script/guest_script.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_refusal(int r)
{
	const struct avf_error *e = avf_err_last();

	FUZZ_CHECK(r == -EINVAL || r == -E2BIG || r == -ENOMEM);
	FUZZ_CHECK(e->err == r && !strchr(e->msg, '\n'));
	if (r != -ENOMEM)
		FUZZ_CHECK(e->ex == AVF_EX_ILLEGAL_ARGUMENT &&
			   strncmp(e->msg, "guest script:", 13) == 0);
}

static bool takes_text(enum gscript_op op)
{
	return op == GS_ERROR || op == GS_FAILURE || op == GS_CONSOLE || op == GS_LOG;
}

/* Steps after which nothing may follow. Ops added later (not listed as going on) are
 * treated as ending ones too: they are checked through the re-parse only. */
static bool goes_on(enum gscript_op op)
{
	return op == GS_WAIT || op == GS_STARTED || op == GS_READY || op == GS_FINISHED ||
	       op == GS_ERROR || op == GS_FAILURE || op == GS_CONSOLE || op == GS_LOG ||
	       op == GS_ECHO_CONSOLE;
}

static void check_step(const struct gscript_step *st, size_t i, size_t n)
{
	FUZZ_CHECK(strcmp(gscript_op_name(st->op), "?") != 0);
	FUZZ_CHECK(goes_on(st->op) == (i + 1 < n));
	FUZZ_CHECK(st->op != GS_SPAWN_FAIL || n == 1);
	FUZZ_CHECK(takes_text(st->op) == (st->text != NULL));
	if (st->text)
		FUZZ_CHECK(!strchr(st->text, ';') && !strchr(st->text, '\n'));
	switch (st->op) {
	case GS_WAIT: FUZZ_CHECK(st->value >= 0 && st->value <= 86400 * INT64_C(1000000000)); break;
	case GS_FINISHED: FUZZ_CHECK(st->value >= INT32_MIN && st->value <= INT32_MAX); break;
	case GS_ERROR: FUZZ_CHECK(st->value >= 0 && st->value <= INT32_MAX); break;
	case GS_EXIT: FUZZ_CHECK(st->value >= 0 && st->value <= 255); break;
	case GS_SIGNAL: FUZZ_CHECK(st->value >= 1 && st->value <= 64); break;
	default: FUZZ_CHECK(st->value == 0); break;
	}
}

/* The script written back: one step a line, or ';'-separated on every other step. */
static char *render(const struct gscript *s)
{
	char *buf = NULL;
	size_t cap = 0;
	FILE *f = open_memstream(&buf, &cap);

	FUZZ_CHECK(f != NULL);
	for (size_t i = 0; i < s->n; i++) {
		const struct gscript_step *st = &s->steps[i];
		const char *name = gscript_op_name(st->op);

		if (i)
			fputs(i % 2 ? "\n" : " ; ", f);
		if (st->op == GS_WAIT)
			fprintf(f, "wait %" PRId64 "ns", st->value);
		else if (st->op == GS_FINISHED || st->op == GS_EXIT || st->op == GS_SIGNAL)
			fprintf(f, "%s %" PRId64, name, st->value);
		else if (st->op == GS_ERROR)
			fprintf(f, "error %" PRId64 " \"%s\"", st->value, st->text);
		else if (st->text)
			fprintf(f, "%s \"%s\"", name, st->text);
		else
			fputs(name, f);
	}
	FUZZ_CHECK(fclose(f) == 0);
	return buf;
}

static void check_reparse(const struct gscript *s)
{
	char *text = render(s);
	struct gscript *again = NULL;

	FUZZ_CHECK(gscript_parse(text, &again) == 0 && again->n == s->n);
	for (size_t i = 0; i < s->n; i++) {
		const struct gscript_step *a = &s->steps[i], *b = &again->steps[i];

		FUZZ_CHECK(a->op == b->op && a->value == b->value);
		FUZZ_CHECK(!a->text == !b->text && (!a->text || strcmp(a->text, b->text) == 0));
	}
	gscript_free(again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *src = malloc(size + 1);
	struct gscript *s = NULL;
	int r;

	if (!src)
		return 0;
	memcpy(src, data, size);
	src[size] = '\0';
	r = gscript_parse(src, &s);
	if (r < 0) {
		check_refusal(r);
		FUZZ_CHECK(s == NULL);
	} else {
		FUZZ_CHECK(s && s->n >= 1);
		for (size_t i = 0; i < s->n; i++)
			check_step(&s->steps[i], i, s->n);
		check_reparse(s);
		gscript_free(s);
	}
	free(src);
	return 0;
}
