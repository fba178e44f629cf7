/* SPDX-License-Identifier: Apache-2.0 */
#include "vm_args.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "vm_cli.h"

static const struct vm_opt *find_long(const struct vm_args_spec *s, const char *name, size_t len)
{
	for (size_t i = 0; i < s->n_opts; i++)
		if (strlen(s->opts[i].name) == len && !strncmp(s->opts[i].name, name, len))
			return &s->opts[i];
	return NULL;
}

static const struct vm_opt *find_short(const struct vm_args_spec *s, char c)
{
	for (size_t i = 0; i < s->n_opts; i++)
		if (s->opts[i].short_name && s->opts[i].short_name == c)
			return &s->opts[i];
	return NULL;
}

static int unexpected(const struct vm_args_spec *s, const char *word)
{
	return vm_usage_error(s->cmd, s->usage, "unexpected argument '%s' found", word);
}

static int missing_value(const struct vm_args_spec *s, const struct vm_opt *o)
{
	return vm_usage_error(s->cmd, s->usage,
			      "a value is required for '--%s <%s>' but none was supplied", o->name,
			      o->value);
}

int vm_args_parse(const struct vm_args_spec *s, int argc, char **argv, vm_opt_fn fn, void *ctx,
		  const char **ret_pos)
{
	size_t npos = 0;
	bool only_pos = false;
	int r;

	for (size_t i = 0; i < s->n_positionals; i++)
		ret_pos[i] = NULL;
	for (int i = 1; i < argc; i++) {
		const char *w = argv[i];
		const struct vm_opt *o = NULL;
		const char *val = NULL;

		if (only_pos || w[0] != '-' || !w[1]) {
			if (npos == s->n_positionals)
				return unexpected(s, w);
			ret_pos[npos++] = w;
			continue;
		}
		if (!strcmp(w, "--")) {
			only_pos = true;
			continue;
		}
		if (!strcmp(w, "--help") || !strcmp(w, "-h")) {
			fputs(s->help, stdout);
			return -1;
		}
		if (w[1] == '-') {
			const char *eq = strchr(w + 2, '=');

			o = find_long(s, w + 2, eq ? (size_t)(eq - w - 2) : strlen(w + 2));
			if (!o)
				return unexpected(s, w);
			if (eq && !o->value)
				return vm_usage_error(s->cmd, s->usage,
						      "unexpected value '%s' for '--%s' found; no "
						      "more were expected",
						      eq + 1, o->name);
			val = eq ? eq + 1 : NULL;
		} else {
			o = find_short(s, w[1]);
			if (!o)
				return vm_usage_error(s->cmd, s->usage,
						      "unexpected argument '-%c' found", w[1]);
			if (o->value && w[2])
				val = w[2] == '=' ? w + 3 : w + 2;
			else if (!o->value && w[2])
				/* clap would read -pm as two flags; none of ours combine. */
				return unexpected(s, w);
		}
		if (o->value && !val) {
			if (i + 1 >= argc)
				return missing_value(s, o);
			val = argv[++i];
		}
		if ((r = fn(ctx, o, val)) != 0)
			return r;
	}
	if (npos < s->n_required) {
		fflush(stdout);
		fputs("error: the following required arguments were not provided:\n", stderr);
		for (size_t i = npos; i < s->n_required; i++)
			fprintf(stderr, "  %s\n", s->positionals[i]);
		fprintf(stderr, "\nUsage: " VM_PROG " %s %s\n\nFor more information, try '--help'.\n",
			s->cmd, s->usage);
		return VM_EXIT_USAGE;
	}
	return 0;
}
