/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm_handle: IVirtualMachine, the refcounted handle a client holds on a VM.
 *
 * AVF ties a VM's life to its handle: when the last strong reference to the
 * IVirtualMachine object goes (the client released it, the client died, the
 * connection closed), the VM is killed (research/avf-spec.md 4.6). Here: one
 * handle object per VM, each strong reference (local or remote) is one
 * vm_handle_ref(); the last vm_handle_unref() calls the owner's on_last hook
 * (which kills a running VM, delivering onDied before it returns) and then drops
 * the handle's reference on the VM record. Unref from inside a VM callback is safe.
 */
#ifndef AVF_CORE_HANDLE_VM_HANDLE_H
#define AVF_CORE_HANDLE_VM_HANDLE_H

#include "vm/vm.h"

struct vm_handle;

typedef void (*vm_handle_last_fn)(struct vm *vm, void *data);

/* New handle with one reference; takes its own reference on @vm. */
int vm_handle_new(struct vm *vm, vm_handle_last_fn on_last, void *data, struct vm_handle **ret);
struct vm_handle *vm_handle_ref(struct vm_handle *h);
/* Drop one reference; NULL is accepted. Always returns NULL. */
struct vm_handle *vm_handle_unref(struct vm_handle *h);
struct vm *vm_handle_vm(const struct vm_handle *h);
unsigned vm_handle_refs(const struct vm_handle *h);

#endif
