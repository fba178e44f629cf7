/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmp_api: the plain calls of vm_payload.h and vm_payload_restricted.h (readiness,
 * secrets, paths, DICE). Contracts in the headers; failures die as AVF's do.
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "avf/vm_payload.h"
#include "avf/vm_payload_restricted.h"
#include "vmp_die.h"
#include "vmp_service.h"

/* AVF's VM_APK_CONTENTS_PATH. Nothing is mounted there in the fake VM. */
#define VMP_APK_CONTENTS_PATH "/mnt/apk"

void AVmPayload_notifyPayloadReady(void)
{
	static atomic_bool notified;
	struct payload_request rq = {.method = PAYLOAD_NOTIFY_READY};
	struct vmp_reply r;

	/* Only the first call is sent, whichever thread makes it (AVF's atomic flag). */
	if (atomic_exchange(&notified, true))
		return;
	vmp_call("Cannot notify payload ready", &rq, &r);
	if (r.ex != AVF_EX_NONE)
		vmp_die("Cannot notify payload ready: " VMP_REFUSAL_FMT, VMP_REFUSAL_ARGS(&r));
}

void AVmPayload_getVmInstanceSecret(const void *identifier, size_t identifier_size, void *secret,
				    size_t size)
{
	struct payload_request rq = {.method = PAYLOAD_GET_VM_INSTANCE_SECRET};
	struct vmp_reply r;

	/* AVF converts the size to the service's i32 first and aborts if it does not fit. */
	if (size > INT32_MAX)
		vmp_die("Cannot get VM instance secret: size %zu does not fit in an i32", size);
	if (identifier_size > PAYLOAD_MSG_MAX_DATA)
		vmp_die("Cannot get VM instance secret: identifier of %zu bytes, more than %u "
			"(avf-ref's limit)",
			identifier_size, PAYLOAD_MSG_MAX_DATA);
	rq.size = (int32_t)size;
	rq.data = identifier;
	rq.data_len = (uint32_t)identifier_size;
	vmp_call("Cannot get VM instance secret", &rq, &r);
	if (r.ex != AVF_EX_NONE)
		vmp_die("Cannot get VM instance secret: " VMP_REFUSAL_FMT, VMP_REFUSAL_ARGS(&r));
	if (r.len != size)
		vmp_die("Returned secret has %u bytes, expected %zu", r.len, size);
	if (size)
		memcpy(secret, r.data, size);
}

const char *AVmPayload_getApkContentsPath(void)
{
	return VMP_APK_CONTENTS_PATH;
}

static char encryptedstore_path[PATH_MAX];
static pthread_once_t encryptedstore_once = PTHREAD_ONCE_INIT;

/* Copied once, so the pointer we return outlives any later change to the environment. */
static void encryptedstore_read(void)
{
	const char *p = getenv("AVF_ENCRYPTEDSTORE_PATH");

	if (p && *p && strlen(p) < sizeof(encryptedstore_path))
		strcpy(encryptedstore_path, p);
}

const char *AVmPayload_getEncryptedStoragePath(void)
{
	struct stat st;

	pthread_once(&encryptedstore_once, encryptedstore_read);
	/* AVF returns its mount point only if it exists. */
	if (!encryptedstore_path[0] || stat(encryptedstore_path, &st) < 0)
		return NULL;
	return encryptedstore_path;
}

/* getDiceAttestationChain / Cdi: the buffer convention of both. */
static size_t dice_get(const char *what, unsigned method, void *data, size_t size)
{
	struct payload_request rq = {.method = (uint16_t)method};
	struct vmp_reply r;

	vmp_call(what, &rq, &r);
	if (r.ex != AVF_EX_NONE)
		vmp_die("%s: " VMP_REFUSAL_FMT, what, VMP_REFUSAL_ARGS(&r));
	if (size)
		memcpy(data, r.data, size < r.len ? size : r.len);
	return r.len;
}

size_t AVmPayload_getDiceAttestationChain(void *data, size_t size)
{
	return dice_get("Cannot get attestation chain", PAYLOAD_GET_DICE_ATTESTATION_CHAIN, data,
			size);
}

size_t AVmPayload_getDiceAttestationCdi(void *data, size_t size)
{
	return dice_get("Cannot get attestation CDI", PAYLOAD_GET_DICE_ATTESTATION_CDI, data,
			size);
}
