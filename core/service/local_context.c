/* SPDX-License-Identifier: Apache-2.0 */
#include "service/local_context.h"

#include "base/avf_err.h"

static int local_acquire(void *data, const char *name, uint32_t *ret_cid, char **ret_temp_dir)
{
	struct local_context *lc = data;
	uint32_t cid;
	int r = cid_alloc_grant(lc->cids, &cid);

	if (r < 0) {
		trace_emitf(lc->trace, "vs", "allocateGlobalVmContext failed: %s", avf_err_last()->msg);
		return r;
	}
	trace_emitf(lc->trace, "vs", "cid %u granted", cid);
	*ret_cid = cid;
	*ret_temp_dir = NULL;
	return 0;
}

static void local_release(void *data, uint32_t cid)
{
	struct local_context *lc = data;

	cid_alloc_release(lc->cids, cid);
	trace_emitf(lc->trace, "vs", "cid %u released", cid);
}

const struct vmgr_context_ops local_context_ops = {
	.acquire = local_acquire,
	.release = local_release,
};
