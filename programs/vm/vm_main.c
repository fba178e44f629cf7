/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm: the VM control tool, as AVF's `/apex/com.android.virt/bin/vm` (A15) behaves,
 * off Android (research/avf-spec.md 10; docs/vm.md; man page docs/man/vm.1).
 * main() only picks the subcommand; each lives in its own file.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "vm_cli.h"

#ifndef AVF_VERSION
#define AVF_VERSION "unknown"
#endif

struct subcommand {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *about;
};

static const struct subcommand cmds[] = {
    {"check-feature-enabled", vm_cmd_check_feature, "Check if the feature is enabled on device"},
    {"run-app", vm_cmd_run, "Run a virtual machine with a payload (library or binary)"},
    {"run", vm_cmd_run, "Run a virtual machine"},
    {"list", vm_cmd_list, "List running virtual machines"},
    {"info", vm_cmd_info, "Print information about virtual machine support"},
    {"create-partition", vm_cmd_create_partition,
     "Create a new empty partition to be used as a writable partition for a VM"},
    {"console", vm_cmd_console, "Connect to the console of a detached VM"},
    {"stop", vm_cmd_stop, "Stop a VM started with 'vm run --detach'"},
};
#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static void help(FILE *out)
{
	fputs("Android VM control tool (avf-ref)\n\nUsage: vm <COMMAND>\n\nCommands:\n", out);
	for (size_t i = 0; i < N_CMDS; i++)
		fprintf(out, "  %-22s %s\n", cmds[i].name, cmds[i].about);
	fprintf(out, "  %-22s %s\n", "help", "Print this message or the help of the given subcommand");
	fputs("\nOptions:\n  -h, --help     Print help\n  -V, --version  Print version\n"
	      "\nSee vm(1) and docs/vm.md.\n",
	      out);
}

static const struct subcommand *find(const char *name)
{
	for (size_t i = 0; i < N_CMDS; i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct subcommand *c;

	/* A reader of our stdout may go away (`vm list | head`): write errors, not death. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		fputs("error: 'vm' requires a subcommand but one was not provided\n\n", stderr);
		help(stderr);
		return VM_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		help(stdout);
		return VM_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf(VM_PROG " %s\n", AVF_VERSION);
		return VM_EXIT_OK;
	}
	if (!strcmp(argv[1], "help")) {
		if (argc == 2) {
			help(stdout);
			return VM_EXIT_OK;
		}
		if (!(c = find(argv[2])))
			return vm_usage_error(NULL, "<COMMAND>", "unrecognized subcommand '%s'",
					      argv[2]);
		char *h[] = {argv[2], "--help", NULL};

		return c->fn(2, h);
	}
	if (argv[1][0] == '-')
		return vm_usage_error(NULL, "<COMMAND>", "unexpected argument '%s' found", argv[1]);
	if (!(c = find(argv[1])))
		return vm_usage_error(NULL, "<COMMAND>", "unrecognized subcommand '%s'", argv[1]);
	return c->fn(argc - 1, argv + 1);
}
