/* SPDX-License-Identifier: Apache-2.0 */
#include "config/vm_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"

/* Names appear in traces, logs and early-VM lookups: keep them printable and short. */
#define VM_NAME_MAX 128

void vm_config_init(struct vm_config *c)
{
	memset(c, 0, sizeof(*c));
}

void vm_config_clear(struct vm_config *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->guest_script);
	vm_config_init(c);
}

static int dup_opt(const char *s, char **ret)
{
	*ret = NULL;
	if (!s)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

int vm_config_copy(struct vm_config *dst, const struct vm_config *src)
{
	*dst = *src;
	dst->name = NULL;
	dst->guest_script = NULL;
	if (dup_opt(src->name, &dst->name) < 0 || dup_opt(src->guest_script, &dst->guest_script) < 0) {
		vm_config_clear(dst);
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory copying VM config");
	}
	return 0;
}

int vm_config_validate(const struct vm_config *c)
{
	if (c->kind != VM_CONFIG_RAW && c->kind != VM_CONFIG_APP)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "config: unknown kind %d",
				   (int)c->kind);
	if (c->name) {
		size_t n = strlen(c->name);

		if (n > VM_NAME_MAX)
			return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
					   "config field 'name': longer than %d bytes", VM_NAME_MAX);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)c->name[i] < 0x20 || c->name[i] == 0x7f)
				return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
						   "config field 'name': control character at byte %zu",
						   i);
	}
	if (c->cpus > 1024)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "config field 'cpus': %u is more than 1024", c->cpus);
	return 0;
}
