/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm_cli: what the subcommands of `vm` share (docs/vm.md is the user's reference).
 *
 * Exit status, as AVF's `vm` (research/avf-spec.md 10):
 *   0  success (for run: whatever the VM's death reason was)
 *   1  an error: one line `Error: <what>: <why>` on stderr
 *   2  a usage error: clap's shape (`error: ...`, the usage line, a hint) on stderr
 *
 * Each subcommand is `int vm_cmd_<name>(int argc, char **argv)` with argv[0] the
 * subcommand's name; it returns the exit status. Output goes to stdout, callback
 * lines and errors to stderr, exactly as AVF prints them.
 */
#ifndef AVF_PROGRAMS_VM_VM_CLI_H
#define AVF_PROGRAMS_VM_VM_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <avf/avf_types.h>
#include <avf/vmclient.h>

#define VM_EXIT_OK    0
#define VM_EXIT_ERROR 1
#define VM_EXIT_USAGE 2

#define VM_PROG "vm"

/* ---- messages (vm_cli.c) ---- */

/* `Error: <fmt>` on stderr; returns VM_EXIT_ERROR. */
int vm_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* `Error: <fmt>: <avf_last_error() or the avf_err message>`; returns VM_EXIT_ERROR. */
int vm_error_client(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* `Error: <what> "<path>": <strerror(err)> (os error <err>)`, AVF's context for a file
 * (the path in Rust's {:?}, the cause as Rust's io::Error prints); returns VM_EXIT_ERROR. */
int vm_error_path(const char *what, const char *path, int err);
/*
 * A usage error in clap's shape for subcommand @cmd (NULL: top level), @usage its usage
 * line (without "Usage: "); returns VM_EXIT_USAGE:
 *   error: <fmt>
 *
 *   Usage: vm <cmd> <usage>
 *
 *   For more information, try '--help'.
 */
int vm_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- values (vm_cli.c) ---- */

/* Whole-string unsigned decimal within [0, max]; false on anything else. */
bool vm_parse_u64(const char *s, uint64_t max, uint64_t *ret);

/* Why vm_parse_u64 refused @v, in Rust's ParseIntError words (clap prints them). */
const char *vm_int_error(const char *v);

/* Rust's `{:?}` of a string: double quotes, with \" \\ \n \r \t \0 and \u{..} escapes. */
void vm_print_debug_str(FILE *out, const char *s);

/* vmclient's DeathReason as `{:?}` prints it: "Shutdown", "Killed", "Hangup", ... */
const char *vm_death_reason_debug(enum avf_death_reason r);
/* vmclient's ErrorCode `{:?}`: "UnknownError", "PayloadVerificationFailed", ... */
const char *vm_error_code_debug(enum avf_error_code c);
/* The `vm` tool's state_to_str: "NOT_STARTED" ... "DEAD", "(invalid state)". */
const char *vm_state_str(int state);

/* ---- the backend the forked virtmgr uses (vm_cli.c) ---- */

/* @name is fake, crosvm or qemu (clap's usage error otherwise). VM_EXIT_OK or the status. */
int vm_check_backend(const char *cmd, const char *usage, const char *name);
/*
 * Validate @name (vm_check_backend) and make it the backend of the virtmgr this process
 * forks (AVF_BACKEND). A backend that cannot run here is an error (exit 1) saying why:
 * qemu is not built; crosvm needs a crosvm, found as virtmgr finds it ($AVF_CROSVM, else
 * PATH). Returns VM_EXIT_OK or the exit status.
 */
int vm_select_backend(const char *cmd, const char *usage, const char *name);

/*
 * Create @path (it must not exist) and have the service initialise it as a writable
 * partition of @size bytes and @type (vm_partition.c). On failure the file is removed
 * and the error printed; returns VM_EXIT_OK or VM_EXIT_ERROR.
 */
int vm_create_partition(struct avf_client *c, const char *path, uint64_t size,
			enum avf_partition_type type);

/* ---- subcommands ---- */

int vm_cmd_run(int argc, char **argv);     /* run and run-app (vm_run.c) */
int vm_cmd_list(int argc, char **argv);    /* vm_query.c */
int vm_cmd_info(int argc, char **argv);    /* vm_query.c */
int vm_cmd_check_feature(int argc, char **argv); /* vm_query.c */
int vm_cmd_create_partition(int argc, char **argv); /* vm_partition.c */
int vm_cmd_stop(int argc, char **argv);    /* vm_detach_client.c */
int vm_cmd_console(int argc, char **argv); /* vm_detach_client.c */

#endif
