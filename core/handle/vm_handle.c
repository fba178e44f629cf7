/* SPDX-License-Identifier: Apache-2.0 */
#include "handle/vm_handle.h"

#include <errno.h>
#include <stdlib.h>

#include "base/avf_err.h"

struct vm_handle {
	unsigned refs;
	struct vm *vm;
	vm_handle_last_fn on_last;
	void *data;
};

int vm_handle_new(struct vm *vm, vm_handle_last_fn on_last, void *data, struct vm_handle **ret)
{
	struct vm_handle *h = calloc(1, sizeof(*h));

	if (!h)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory creating VM handle");
	h->refs = 1;
	h->vm = vm_ref(vm);
	h->on_last = on_last;
	h->data = data;
	*ret = h;
	return 0;
}

struct vm_handle *vm_handle_ref(struct vm_handle *h)
{
	h->refs++;
	return h;
}

struct vm_handle *vm_handle_unref(struct vm_handle *h)
{
	if (!h || --h->refs > 0)
		return NULL;
	/* The hook runs while the handle still holds the VM, so the VM can be killed
	 * and its onDied delivered before the record may go. */
	if (h->on_last)
		h->on_last(h->vm, h->data);
	vm_unref(h->vm);
	free(h);
	return NULL;
}

struct vm *vm_handle_vm(const struct vm_handle *h)
{
	return h->vm;
}

unsigned vm_handle_refs(const struct vm_handle *h)
{
	return h->refs;
}
