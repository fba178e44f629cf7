/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmp_die: how libvm_payload.so gives up. AVF's library logs and panics when its
 * service fails (the API has no error returns); ours writes "libvm_payload: <why>"
 * to stderr, which the fake VM sends to its log, and abort()s.
 */
#ifndef AVF_GUEST_PAYLOAD_VMP_DIE_H
#define AVF_GUEST_PAYLOAD_VMP_DIE_H

__attribute__((noreturn, format(printf, 1, 2))) void vmp_die(const char *fmt, ...);

#endif
