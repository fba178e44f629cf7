/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm_payload.h: the VM payload API, the functions a payload may call inside the VM
 * (AVF's libvm_payload.so as of Android 15, research/avf-spec.md 11.2). Names,
 * numbers and status strings are AVF's. Payloads link against the stub
 * libvm_payload.so and run against the real one in the VM (docs/payload-api.md).
 *
 * Failure model (AVF's, kept on purpose): these functions talk to the guest agent's
 * payload service. When that conversation fails (the service is gone, refuses a
 * call the API does not let fail, or answers nonsense) the function writes a line
 * "libvm_payload: <why>" on stderr (the VM's log) and abort()s the process. That is
 * the contract of the API, as in AVF, not input handling: a payload cannot do
 * anything useful once its VM's manager is unreachable. Only
 * AVmPayload_requestAttestation() reports failures as a status.
 *
 * Threads: every function may be called from any thread.
 *
 * Binder: AVF passes an AIBinder (a binder service object) to
 * AVmPayload_runVsockRpcServer(). avf-ref has no binder; our AIBinder is a *stream
 * service*: a connection handler made with AVmPayload_newStreamService()
 * (avf/vm_payload_stream.h) that gets each accepted connection as a plain fd.
 */
#ifndef AVF_VM_PAYLOAD_H
#define AVF_VM_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm_main.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A service served by AVmPayload_runVsockRpcServer(); see avf/vm_payload_stream.h. */
typedef struct AIBinder AIBinder;

/* The result of a successful remote attestation (API 35). None can exist in avf-ref:
 * there is no remote attestation here, so AVmPayload_requestAttestation() never
 * succeeds. The accessors below still work as AVF's do on a result. */
typedef struct AVmAttestationResult AVmAttestationResult;

/* Status of AVmPayload_requestAttestation() (API 35); AVF's numbers. */
typedef enum AVmAttestationStatus {
	ATTESTATION_OK = 0,
	ATTESTATION_ERROR_INVALID_CHALLENGE = -10001,
	ATTESTATION_ERROR_ATTESTATION_FAILED = -10002,
	ATTESTATION_ERROR_UNSUPPORTED = -10003,
} AVmAttestationStatus;

/*
 * Tell the host the payload is ready: the host's onPayloadReady runs. Only the first
 * call in the process is sent; later calls do nothing, so onPayloadReady happens at
 * most once. Aborts if the service refuses or is unreachable.
 */
void AVmPayload_notifyPayloadReady(void);

/*
 * Serve @service on vsock port @port, forever. Takes ownership of @service (NULL
 * aborts). Once the port is listening, calls on_ready(param) once (if on_ready is
 * not NULL), on the calling thread; then accepts connections for ever, each served
 * on its own thread by the service's handler, the fd closed when the handler
 * returns. Never returns: aborts if the server cannot start or stops accepting.
 *
 * In the fake VM the "vsock" is emulated: the port is an AF_UNIX stream socket at
 * $AVF_VSOCK_DIR/<port> (port in decimal), where the host's connectVsock(port)
 * connects; a stale socket file nobody listens on is replaced. Without
 * AVF_VSOCK_DIR it listens on AF_VSOCK (any CID, @port) and keeps only
 * connections from the host (CID 2), as AVF does; that branch is not exercised here.
 *
 * SIGPIPE is ignored from the first call on, so a handler writing to a connection
 * the host closed gets EPIPE instead of killing the payload (a host hanging up
 * never kills an AVF RPC server either).
 */
__attribute__((noreturn)) void AVmPayload_runVsockRpcServer(AIBinder *service, uint32_t port,
							    void (*on_ready)(void *param),
							    void *param);

/*
 * Write @size bytes (0..32) of a secret bound to this VM instance and to
 * @identifier (any bytes, @identifier_size long; may be NULL when the size is 0).
 * The same VM instance and identifier always give the same bytes, across reboots of
 * the VM; another VM or another identifier gives different bytes. @size > 32 is
 * refused by the service (ILLEGAL_ARGUMENT) and, as in AVF, aborts.
 * avf-ref limit: an identifier longer than 4096 bytes aborts (one service packet).
 */
void AVmPayload_getVmInstanceSecret(const void *identifier, size_t identifier_size, void *secret,
				    size_t size);

/*
 * The directory holding the APK's unpacked contents: always "/mnt/apk", as in AVF.
 * The fake VM mounts nothing there: the path exists for API compatibility only.
 */
const char *AVmPayload_getApkContentsPath(void);

/*
 * The VM's encrypted storage directory, or NULL when the VM has none. In the fake
 * VM it is the directory the agent names in AVF_ENCRYPTEDSTORE_PATH (AVF:
 * /mnt/encryptedstore), returned only if it exists. Valid for the process's life.
 */
const char *AVmPayload_getEncryptedStoragePath(void);

/*
 * Request remote attestation of this VM with a @challenge of 0..64 bytes.
 * Returns ATTESTATION_ERROR_INVALID_CHALLENGE for a longer challenge (without asking
 * the service), ATTESTATION_ERROR_UNSUPPORTED when the service says remote
 * attestation is not supported (always, in avf-ref), ATTESTATION_ERROR_ATTESTATION_FAILED
 * for any other refusal; ATTESTATION_OK with *result set on success. *result is
 * untouched on failure. Aborts only if the service is unreachable.
 */
AVmAttestationStatus AVmPayload_requestAttestation(const void *challenge, size_t challenge_size,
						   AVmAttestationResult **result);

/*
 * AVF's fixed sentence for a status; a static string. An unknown status gives
 * "Unknown attestation status." (an avf-ref choice: AVF has no such case).
 */
const char *AVmAttestationStatus_toString(AVmAttestationStatus status);

/* Free a result of AVmPayload_requestAttestation(); NULL is accepted. */
void AVmAttestationResult_free(AVmAttestationResult *result);

/*
 * Copy min(key length, @size) bytes of the attested key (a DER ECPrivateKey, RFC 5915,
 * P-256) to @data (NULL allowed when @size is 0); return the key's full length.
 */
size_t AVmAttestationResult_getPrivateKey(const AVmAttestationResult *result, void *data,
					  size_t size);

/*
 * Sign @message (SHA-256, then ECDSA P-256 with the attested key) and copy
 * min(signature length, @size) bytes of the DER signature to @data. With @size 0
 * nothing is signed and 72 is returned, the largest DER P-256 signature, so a
 * caller can size its buffer; otherwise returns the signature's length. An empty
 * message aborts, as in AVF.
 */
size_t AVmAttestationResult_sign(const AVmAttestationResult *result, const void *message,
				 size_t message_size, void *data, size_t size);

/* Number of certificates in the result's chain (leaf first, root last). */
size_t AVmAttestationResult_getCertificateCount(const AVmAttestationResult *result);

/*
 * Copy min(length, @size) bytes of certificate @index (DER X.509) to @data; return
 * its full length. An index out of range aborts, as in AVF.
 */
size_t AVmAttestationResult_getCertificateAt(const AVmAttestationResult *result, size_t index,
					     void *data, size_t size);

#ifdef __cplusplus
}
#endif

#endif
