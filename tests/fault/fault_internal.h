/* SPDX-License-Identifier: Apache-2.0 */
/* What the shim's files share: the counting decision and the real functions. */
#ifndef AVF_TESTS_FAULT_FAULT_INTERNAL_H
#define AVF_TESTS_FAULT_FAULT_INTERNAL_H

#include "fault.h"

/*
 * Set while the shim itself runs (resolving symbols, recording a failure): the
 * wrappers then pass straight through. The daemons are single-threaded; the
 * initial-exec model keeps the access free of allocations anyway.
 */
extern __thread int fault_busy __attribute__((tls_model("initial-exec")));

/* Count one call of @kind; 0, or the errno to fail it with (@dflt unless the
 * sweep chose one). Records the failure in the control page when it fires. */
int fault_hit(enum fault_kind kind, int dflt);
/* Whether calls of @kind are being counted in this process right now (cheap). */
bool fault_counting(enum fault_kind kind);

/* dlsym(RTLD_NEXT, @name) with fault_busy held; aborts if missing (a broken
 * LD_PRELOAD is a test set-up error, not input). */
void *fault_real(const char *name);

#endif
