/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm_args: the command-line parser of every `vm` subcommand, with clap's rules and
 * messages (AVF's `vm` is a clap program): long options exactly as spelled (no
 * abbreviations), `--opt value` or `--opt=value`, short options `-m 512` / `-m512`,
 * `--` ends the options, positionals anywhere. Errors are usage errors (exit 2):
 *   error: unexpected argument '--foo' found
 *   error: a value is required for '--mem <MEM>' but none was supplied
 *   error: unexpected value 'x' for '--protected' found; no more were expected
 *   error: the following required arguments were not provided:
 *     <CONFIG>
 */
#ifndef AVF_PROGRAMS_VM_VM_ARGS_H
#define AVF_PROGRAMS_VM_VM_ARGS_H

#include <stddef.h>

struct vm_opt {
	const char *name;  /* long name without "--" */
	char short_name;   /* 0: none */
	const char *value; /* value name for messages ("MEM"); NULL: a flag */
	int id;
};

struct vm_args_spec {
	const char *cmd;   /* subcommand, for messages */
	const char *usage; /* after "vm <cmd> " */
	const char *help;  /* the whole --help text */
	const struct vm_opt *opts;
	size_t n_opts;
	const char *const *positionals; /* names for messages: "<CONFIG>" */
	size_t n_required;              /* the first n_required positionals are required */
	size_t n_positionals;           /* at most this many */
};

/*
 * Called once per option, in command-line order; @value NULL for a flag. Returns 0 or
 * an exit status (a usage error it printed with vm_usage_error).
 */
typedef int (*vm_opt_fn)(void *ctx, const struct vm_opt *opt, const char *value);

/*
 * Parse argv[1..] (argv[0] is the subcommand). -h/--help prints spec->help and returns
 * -1 (exit 0). Otherwise 0 with @ret_pos (n_positionals slots, NULL when absent), or
 * the exit status of a usage error (already printed).
 */
int vm_args_parse(const struct vm_args_spec *spec, int argc, char **argv, vm_opt_fn fn, void *ctx,
		  const char **ret_pos);

#endif
