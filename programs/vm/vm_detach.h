/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Detached VMs (`vm run --detach`, `vm stop`, `vm console`): ours, in the spirit of
 * AVF 13's `vm run --daemonize` + `vm stop <cid>` (docs/vm.md).
 *
 * A VM lives while a handle to it exists, so a detached VM needs a process that holds
 * the handle: `vm run --detach` forks a *holder* (a new session, stdio on /dev/null)
 * that starts the VM, binds a control socket `<rundir>/<cid>.sock`, reports the
 * Created line to the command, which prints it and exits 0. The holder then waits for
 * the VM's death and removes its socket.
 *
 * Control protocol (AF_UNIX SOCK_STREAM, same uid only): the client sends one line.
 *   "stop\n"     the holder stops the VM, replies "ended <Reason>\n" once onDied came.
 *   "console\n"  "ok\n", then the VM's recent console output (up to 64 KiB) and from
 *                then on everything the console prints; bytes the client sends go to
 *                the VM's console input. "busy\n" when another console is attached.
 * Unknown lines get "error unknown request\n".
 *
 * Run dir: $AVF_VM_RUNDIR, else $XDG_RUNTIME_DIR/avf-vm, else /tmp/avf-vm-<uid>;
 * created 0700 and refused unless it is a directory owned by us and not writable by
 * anyone else.
 */
#ifndef AVF_PROGRAMS_VM_VM_DETACH_H
#define AVF_PROGRAMS_VM_VM_DETACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VM_CONSOLE_HISTORY (64u * 1024)

/* One '\n'-terminated line from @fd within @timeout_ms, without the newline; false on
 * timeout, EOF, error or a line longer than @len - 1 (vm_rundir.c). */
bool vm_read_line(int fd, char *buf, size_t len, int timeout_ms);

/* The run dir in @buf (created when @create). VM_EXIT_OK or the printed error's status. */
int vm_rundir(char *buf, size_t len, bool create);
/* "<rundir>/<cid>.sock" in @buf; fails (printed) when it does not fit a sockaddr_un. */
int vm_sock_path(uint32_t cid, char *buf, size_t len, bool create);

#endif
