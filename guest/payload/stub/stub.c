/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stub libvm_payload.so that payload authors link against (the VM Payload
 * README's scheme): same soname, same version script, so a payload linked here gets
 * DT_NEEDED libvm_payload.so and versioned references that the real library in the
 * VM satisfies. The stub is never meant to run. Android 15's stub bodies are empty;
 * we do what Android 16's do: report the mistake and exit, so a payload that loaded
 * the stub by accident fails loudly instead of doing nothing.
 *
 * The signatures do not matter to the linker, so every stub is void(void).
 */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noreturn)) static void stub_called(const char *name)
{
	fprintf(stderr,
		"libvm_payload stub: %s called: the stub is for linking only; run the payload "
		"against the real libvm_payload.so\n",
		name);
	exit(1);
}

#define STUB(name)                                                                             \
	void name(void);                                                                       \
	void name(void)                                                                        \
	{                                                                                      \
		stub_called(#name);                                                            \
	}

STUB(AVmPayload_notifyPayloadReady)
STUB(AVmPayload_runVsockRpcServer)
STUB(AVmPayload_getVmInstanceSecret)
STUB(AVmPayload_getDiceAttestationChain)
STUB(AVmPayload_getDiceAttestationCdi)
STUB(AVmPayload_getApkContentsPath)
STUB(AVmPayload_getEncryptedStoragePath)
STUB(AVmPayload_requestAttestation)
STUB(AVmPayload_requestAttestationForTesting)
STUB(AVmAttestationStatus_toString)
STUB(AVmAttestationResult_free)
STUB(AVmAttestationResult_getPrivateKey)
STUB(AVmAttestationResult_sign)
STUB(AVmAttestationResult_getCertificateCount)
STUB(AVmAttestationResult_getCertificateAt)
STUB(AVmPayload_newStreamService)
STUB(AVmPayload_deleteStreamService)
