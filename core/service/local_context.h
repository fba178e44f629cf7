/* SPDX-License-Identifier: Apache-2.0 */
/*
 * local_context: a global-VM-context provider backed by an in-process CID
 * allocator. It stands in for virtualizationservice where there is none: unit
 * tests, the simulated demo, scale runs. No temp dirs (in-process backends need none).
 */
#ifndef AVF_CORE_SERVICE_LOCAL_CONTEXT_H
#define AVF_CORE_SERVICE_LOCAL_CONTEXT_H

#include "cid/cid_alloc.h"
#include "service/vmgr.h"
#include "trace/trace.h"

struct local_context {
	struct cid_alloc *cids; /* not owned */
	const struct trace *trace;
};

extern const struct vmgr_context_ops local_context_ops;

#endif
