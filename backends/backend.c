/* SPDX-License-Identifier: Apache-2.0 */
#include "backends/backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"

int backend_plan_new(struct backend_plan **ret)
{
	struct backend_plan *p = calloc(1, sizeof(*p));

	if (!p)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory creating VMM plan");
	p->argv = calloc(1, sizeof(char *));
	if (!p->argv) {
		free(p);
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory creating VMM plan");
	}
	*ret = p;
	return 0;
}

int backend_plan_add_arg(struct backend_plan *plan, const char *arg)
{
	char **argv = realloc(plan->argv, (plan->argc + 2) * sizeof(char *));
	char *copy;

	if (!argv)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory building argv");
	plan->argv = argv;
	copy = strdup(arg);
	if (!copy)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory building argv");
	argv[plan->argc++] = copy;
	argv[plan->argc] = NULL;
	return 0;
}

int backend_plan_add_fd(struct backend_plan *plan, int parent_fd, int child_fd)
{
	struct backend_fd *fds = realloc(plan->fds, (plan->n_fds + 1) * sizeof(*fds));

	if (!fds)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory building VMM plan");
	plan->fds = fds;
	fds[plan->n_fds++] = (struct backend_fd){parent_fd, child_fd};
	return 0;
}

struct backend_plan *backend_plan_free(struct backend_plan *plan)
{
	if (!plan)
		return NULL;
	for (size_t i = 0; i < plan->argc; i++)
		free(plan->argv[i]);
	free(plan->argv);
	free(plan->fds);
	if (plan->priv_free)
		plan->priv_free(plan->priv);
	free(plan);
	return NULL;
}

struct backend *backend_free(struct backend *be)
{
	if (be)
		be->ops->destroy(be);
	return NULL;
}
