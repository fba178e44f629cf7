/* SPDX-License-Identifier: Apache-2.0 */
#include "service/early_caller.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <unistd.h>

#include "base/avf_err.h"

/* AVF's early-VM client requirements (avf-spec 7.5), in the order messages list them. */
static const struct {
	cap_value_t cap;
	const char *name;
} required_caps[] = {
    {CAP_IPC_LOCK, "CAP_IPC_LOCK"},
    {CAP_NET_BIND_SERVICE, "CAP_NET_BIND_SERVICE"},
    {CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE"},
};

#define N_REQUIRED_CAPS (sizeof(required_caps) / sizeof(required_caps[0]))

int early_caller_exe(pid_t pid, char **ret)
{
	char link[64], *buf = NULL, *bigger;
	size_t size = 256;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	/* readlink truncates silently: grow until the result leaves room. */
	for (;;) {
		bigger = realloc(buf, size);
		if (!bigger) {
			free(buf);
			return avf_err_service(-ENOMEM, "out of memory");
		}
		buf = bigger;
		n = readlink(link, buf, size);
		if (n < 0) {
			int e = errno;

			free(buf);
			/* AVF's words (newer main) for a caller it cannot identify. */
			return avf_err_service(-e, "Can't verify the path of PID %d: %s", (int)pid,
					       strerror(e));
		}
		if ((size_t)n < size)
			break;
		size *= 2;
	}
	buf[n] = '\0';
	*ret = buf;
	return 0;
}

int early_caller_strip_root(const char *exe, const char *root, char **ret)
{
	size_t len = strlen(root);
	char *p;

	/* "/" strips nothing; any other root must be followed by a component. */
	if (strcmp(root, "/") == 0)
		len = 0;
	if (exe[0] != '/' || strncmp(exe, root, len) != 0 || exe[len] != '/' || !exe[len + 1])
		return avf_err_service(-EPERM, "caller %s is outside the early VM root %s", exe,
				       root);
	p = strdup(exe + len);
	if (!p)
		return avf_err_service(-ENOMEM, "out of memory");
	*ret = p;
	return 0;
}

int early_caller_partition(const char *path, enum early_partition *ret)
{
	const char *start = path + (path[0] == '/'), *end = strchr(start, '/');
	size_t len = end ? (size_t)(end - start) : strlen(start);
	char comp[64];

	if (len >= sizeof(comp))
		return avf_err_service(-EOPNOTSUPP, "Early VMs are not supported for %.*s",
				       (int)len, start);
	memcpy(comp, start, len);
	comp[len] = '\0';
	if (path[0] != '/' || early_partition_from_name(comp, ret) < 0)
		return avf_err_service(-EOPNOTSUPP, "Early VMs are not supported for %s", comp);
	return 0;
}

int early_caller_check_caps(pid_t pid)
{
	char missing[128] = "";
	size_t used = 0;
	cap_flag_value_t v;
	cap_t caps = cap_get_pid(pid);

	if (!caps)
		return avf_err_set(-EPERM, AVF_EX_SECURITY,
				   "cannot read the capabilities of the caller (pid %d): %s",
				   (int)pid, strerror(errno));
	for (size_t i = 0; i < N_REQUIRED_CAPS; i++) {
		/* A flag that cannot be read counts as missing: refuse rather than guess. */
		if (cap_get_flag(caps, required_caps[i].cap, CAP_EFFECTIVE, &v) == 0 &&
		    v == CAP_SET)
			continue;
		used += (size_t)snprintf(missing + used, sizeof(missing) - used, "%s%s",
					 used ? ", " : "", required_caps[i].name);
		if (used >= sizeof(missing))
			used = sizeof(missing) - 1;
	}
	cap_free(caps);
	if (used)
		return avf_err_set(-EPERM, AVF_EX_SECURITY,
				   "the caller (pid %d) lacks %s in its effective capability set: "
				   "early VMs need CAP_IPC_LOCK, CAP_NET_BIND_SERVICE and "
				   "CAP_SYS_RESOURCE",
				   (int)pid, missing);
	return 0;
}
