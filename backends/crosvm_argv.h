/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crosvm_argv: the crosvm command line virtmgr builds for a VM, exactly as A15
 * (research/crosvm-spec.md §1.2, in its order), for every row our config can
 * produce. The one builder of that command line: the crosvm backend execs it,
 * the fake backend execs fakevmm with it (plus its own extras at the end), so
 * fakevmm sees what crosvm would. Pure: no fd is touched, nothing is opened.
 *
 * Rows (docs/crosvm-backend.md has each one with its reasons):
 *   PROGRAM --extended-status --log-level info,disk=warn run --disable-sandbox
 *   --cid CID --no-balloon
 *   [--protected-vm --swiotlb 2*(4+ndisks) --unmap-guest-memory-on-fork]
 *   [--mem MIB] --cpus N
 *   the five --serial words (ttyS0, ttyS1 failure pipe, hvc0, hvc1 ramdump sink, hvc2)
 *   [--bios F] [--initrd F] [--params P] [--disk F | --rwdisk F]... [KERNEL]
 *   --socket F
 *
 * Every fd is named /proc/self/fd/{slot}: a placeholder the spawning backend
 * replaces with the number the VMM gets. So the argv of a plan is stable (golden
 * files are plan argv as it is) and prepare() stays pure. Placeholders:
 *
 *   {failure-pipe} {control-socket}  created by spawn (not in the slots)
 *   {console-out} {console-in} {log} createVm's fds (backend_vm)
 *   {kernel} {initrd} {bios}         the config's files
 *   {disk0} {disk1} ...              each disk's final image, by config index
 *
 * A composite's indirect files (backend_disk.indirect_fds) are named by no
 * argument: they go to plan->fds, inherited at their own numbers.
 *
 * A CID of 0 (no guest has it: `vm run --dry-run`, before any context exists)
 * is written as the placeholder {cid}.
 */
#define CROSVM_CID_PLACEHOLDER "{cid}"

#ifndef AVF_BACKENDS_CROSVM_ARGV_H
#define AVF_BACKENDS_CROSVM_ARGV_H

#include <stddef.h>

#include "backends/backend.h"

#define CROSVM_PROC_FD        "/proc/self/fd/"
#define CROSVM_FD_FAILURE     "{failure-pipe}"
#define CROSVM_FD_CONTROL     "{control-socket}"
#define CROSVM_FD_CONSOLE_OUT "{console-out}"
#define CROSVM_FD_CONSOLE_IN  "{console-in}"
#define CROSVM_FD_LOG         "{log}"
#define CROSVM_FD_KERNEL      "{kernel}"
#define CROSVM_FD_INITRD      "{initrd}"
#define CROSVM_FD_BIOS        "{bios}"
#define CROSVM_FD_DISK_FMT    "{disk%zu}"

/* A15's global log filter (crosvm-spec §1.2 row 2). */
#define CROSVM_LOG_LEVEL "info,disk=warn"

#define CROSVM_SLOT_NAME_MAX 16

/* One fd of the manager that argv names by a placeholder. */
struct crosvm_slot {
	char name[CROSVM_SLOT_NAME_MAX]; /* the placeholder, "{disk3}" */
	int fd;                          /* the manager's (backend_vm's); not owned */
};

struct crosvm_slots {
	struct crosvm_slot *v;
	size_t n;
};

/* swiotlb MiB for a protected VM with @ndisks disks (A15: 3 consoles + vsock + disks, 2 MiB each).
 */
unsigned crosvm_argv_swiotlb_mib(size_t ndisks);

/*
 * Append @program and A15's crosvm arguments for @vm to @plan (normally empty).
 * *ret_slots (initialised by this call; free with crosvm_slots_clear, also on
 * failure) lists the manager's fds argv names, in argv order. Every disk's
 * indirect fds are appended to plan->fds at their own numbers. -ENOMEM.
 */
int crosvm_argv_build(const char *program, const struct backend_vm *vm, struct backend_plan *plan,
		      struct crosvm_slots *ret_slots);

void crosvm_slots_clear(struct crosvm_slots *s);
/* Record that argv names @fd as the placeholder @name (a backend's own extras). -ENOMEM. */
int crosvm_slots_add(struct crosvm_slots *s, const char *name, int fd);

#endif
