/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm_run: `vm run` and `vm run-app` up to a started VM (shared by the foreground run
 * in vm_run.c and the detached holder in vm_detach.c).
 *
 * A run_plan is what the command line and the config file ask for, with every file
 * already opened, in AVF's order and with AVF's messages (run.rs): the config, then
 * (run-app) the payload, instance and storage, then the console output, console input
 * and log files. vm_session_start() then forks virtmgr, creates the VM with a callback
 * that prints AVF's lines on stderr, and starts it.
 */
#ifndef AVF_PROGRAMS_VM_VM_RUN_H
#define AVF_PROGRAMS_VM_VM_RUN_H

#include <stdbool.h>
#include <stdio.h>

#include <avf/vmclient.h>

struct vm_config_json;

struct run_plan {
	bool app;           /* run-app */
	bool detach;        /* --detach */
	bool debug_full;    /* --debug full (default) */
	struct avf_vm_config cfg;
	char *description;  /* AVF's "payload description" of the Created line */
	char *name;         /* owned; cfg.name points here */
	char *binary_name;  /* owned; run-app: cfg.payload_binary_name points here */
	/* createVm's fds, -1 for none (owned). With --debug none the outputs are -1. */
	int console_out, console_in, log;
	/*
	 * run: the config file, parsed (cfg's params and labels point into it), and its
	 * files as AVF's vm opens them: cfg.kernel_fd, initrd_fd, bootloader_fd and the
	 * fds of @disks / @partitions are owned by the plan (cfg.disks points at
	 * @disks). run_plan_close_fds() closes them with the three above.
	 */
	struct vm_config_json *json;
	struct avf_vm_disk *disks;
	struct avf_vm_partition *partitions; /* every disk's, back to back */
	size_t n_disks, n_partitions;
	/* The user named the file (else: AVF's defaults, dup of stdout / stdin). */
	bool console_out_given, console_in_given, log_given;
};

/* What a started VM needs while it runs. */
struct vm_session {
	struct avf_client *c;
	struct avf_vm *vm;
	FILE *events;       /* where the callback lines go (stderr; the holder: its log) */
	bool died;
	enum avf_death_reason reason;
};

/*
 * Fork virtmgr, create the VM, register the printing callback, start it. Errors are
 * printed (`Error: Failed to create VM: ...`); returns VM_EXIT_OK or the exit status.
 * On failure everything is released.
 */
int vm_session_start(const struct run_plan *p, struct vm_session *s);
/* AVF's `Created {debuggable VM|VM} from <desc> with CID <cid>, state is <STATE>.` */
void vm_session_print_created(const struct run_plan *p, struct vm_session *s, FILE *out);
/*
 * Process what virtmgr sent (no waiting). Sets s->died / s->reason; virtmgr gone
 * counts as a death with reason -1 (vmclient's VirtualizationServiceDied).
 */
void vm_session_dispatch(struct vm_session *s);
/* Stop the VM and wait, bounded, for its onDied. */
void vm_session_stop(struct vm_session *s);
/* "VM ended: <Reason>" as vmclient's DeathReason prints. */
void vm_session_print_ended(const struct vm_session *s, FILE *out);
void vm_session_end(struct vm_session *s);

void run_plan_clear(struct run_plan *p);
/* Close the plan's fds: the three above and the config's files (-1 after). virtmgr has
 * its own copies once the VM is created. */
void run_plan_close_fds(struct run_plan *p);

/* The detached holder (vm_detach.c): returns the exit status of `vm run --detach`. */
int vm_detach_run(struct run_plan *p);

/* Which of createVm's console fds a real run would pass (a dry run opens none). */
struct vm_dry_run_consoles {
	bool console_out, console_in, log;
};

/*
 * `vm run --backend crosvm --dry-run` (vm_dryrun.c): print the crosvm command line for
 * @p's config, one argument per line on stdout, starting nothing. Returns VM_EXIT_OK or
 * the exit status (error printed).
 */
int vm_dry_run(const struct run_plan *p, const struct vm_dry_run_consoles *io);

#endif
