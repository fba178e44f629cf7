/* SPDX-License-Identifier: Apache-2.0 */
/* test_vmm: what tests may assert about fakevmm processes. */
#ifndef AVF_TESTS_LIB_TEST_VMM_H
#define AVF_TESTS_LIB_TEST_VMM_H

#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>

/*
 * How a VMM orphaned by its virtmgr's death may end: by PR_SET_PDEATHSIG's SIGKILL,
 * or — do_exit closes a dying process's files before it signals its orphans — by
 * reading EOF on the guest channel first and exiting 1 ("closed by the host").
 */
static inline bool vmm_orphan_status_ok(int status)
{
	return (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
	       (WIFEXITED(status) && WEXITSTATUS(status) == 1);
}

#endif
