/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm_main.h: the entry point of a VM payload (research/avf-spec.md 11.1).
 *
 * A payload is a shared library that defines AVmPayload_main(). The guest agent
 * (our microdroid_manager) runs `avf-payload-launcher <library>`, which loads the
 * library and calls this function once, on the process's main thread. Its return
 * value is the payload's exit code: the host then receives
 * onPayloadFinished(exit code) and the VM shuts down (a non-zero code is still
 * "finished"). A payload that dies of a signal instead ends the VM with an error
 * (docs/payload-api.md).
 */
#ifndef AVF_VM_MAIN_H
#define AVF_VM_MAIN_H

#ifdef __cplusplus
extern "C" {
#endif

/* The type of the entry point, for code that looks it up with dlsym(). */
typedef int AVmPayload_main_t(void);

/* Defined by the payload, not by libvm_payload.so. */
int AVmPayload_main(void);

#ifdef __cplusplus
}
#endif

#endif
