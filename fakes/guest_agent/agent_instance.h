/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent_instance: the VM's identity, kept in its instance image.
 *
 * AVF's instance.img starts with the "Android-VM-instance" header (virtmgr writes
 * it, initializeWritablePartition) and Microdroid keeps its per-instance secrets
 * in an entry after it, created at the first boot. Ours is one entry at offset
 * AGENT_INSTANCE_ENTRY_OFF: a magic and a 32-byte random seed from getrandom(2).
 * The instance secret (AVmPayload_getVmInstanceSecret) is derived from the seed,
 * so it is stable across boots of one instance image and differs between two
 * (docs/payload-api.md; not encrypted, unlike Microdroid's entry).
 */
#ifndef AVF_FAKES_GUEST_AGENT_AGENT_INSTANCE_H
#define AVF_FAKES_GUEST_AGENT_AGENT_INSTANCE_H

#include <stdint.h>

#define AGENT_INSTANCE_ENTRY_OFF 4096
#define AGENT_INSTANCE_SEED_LEN  32

/*
 * Read the seed of the instance image @fd, creating the entry on first boot.
 * -EINVAL without the Android-VM-instance header (a verification failure, as
 * Microdroid's), -errno on I/O errors; messages via avf_err.
 */
int agent_instance_seed(int fd, uint8_t seed[AGENT_INSTANCE_SEED_LEN]);

#endif
