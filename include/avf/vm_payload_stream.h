/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm_payload_stream.h: avf-ref's stand-in for a binder service object (not an AVF
 * header; docs/payload-api.md, "AIBinder").
 *
 * AVF's AVmPayload_runVsockRpcServer() serves an AIBinder over RPC binder. avf-ref
 * has no binder, so an AIBinder here is a *stream service*: a function that is
 * handed each connection the server accepts, as a connected SOCK_STREAM fd, and
 * speaks whatever protocol the payload and its host agree on. Each connection runs
 * on its own thread; the server closes the fd when the handler returns, so the
 * handler must not close it (it may shutdown() it).
 */
#ifndef AVF_VM_PAYLOAD_STREAM_H
#define AVF_VM_PAYLOAD_STREAM_H

#include "vm_payload.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A service whose connections are served by on_connection(fd, @param). Returns NULL
 * when out of memory (AVmPayload_runVsockRpcServer aborts on NULL). Ownership passes
 * to AVmPayload_runVsockRpcServer(); a service never served is freed with
 * AVmPayload_deleteStreamService().
 */
AIBinder *AVmPayload_newStreamService(void (*on_connection)(int fd, void *param), void *param);

/* Free a service that was not given to AVmPayload_runVsockRpcServer(); NULL is accepted. */
void AVmPayload_deleteStreamService(AIBinder *service);

#ifdef __cplusplus
}
#endif

#endif
