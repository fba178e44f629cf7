/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm_recorder: libvmclient callbacks that write what arrived, in order, as one line
 * ("started ready finished(0) died(SHUTDOWN)"), for tests that assert a VM's exact
 * callback sequence. Register vm_recorder_cbs with a struct vm_recorder as data.
 */
#ifndef AVF_TESTS_LIB_VM_RECORDER_H
#define AVF_TESTS_LIB_VM_RECORDER_H

#include <avf/vmclient.h>

struct vm_recorder {
	char log[1024]; /* zero it first; cut at its size */
};

extern const struct avf_vm_callbacks vm_recorder_cbs;

#endif
