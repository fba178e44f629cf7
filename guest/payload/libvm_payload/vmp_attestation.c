/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmp_attestation: requestAttestation and the AVmAttestationResult accessors
 * (contracts in vm_payload.h). Signing uses OpenSSL's libcrypto.
 */
#include "vmp_attestation.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "avf/vm_payload_restricted.h"
#include "vmp_die.h"
#include "vmp_service.h"

struct vmp_blob {
	uint8_t *bytes;
	size_t len;
};

struct AVmAttestationResult {
	struct vmp_blob key;
	struct vmp_blob *certs;
	size_t n_certs;
};

static int blob_copy(struct vmp_blob *b, const uint8_t *bytes, size_t len)
{
	b->bytes = malloc(len ? len : 1);
	if (!b->bytes)
		return -ENOMEM;
	if (len)
		memcpy(b->bytes, bytes, len);
	b->len = len;
	return 0;
}

void AVmAttestationResult_free(AVmAttestationResult *result)
{
	if (!result)
		return;
	for (size_t i = 0; i < result->n_certs; i++)
		free(result->certs[i].bytes);
	free(result->certs);
	free(result->key.bytes);
	free(result);
}

int vmp_attestation_result_new(const uint8_t *key, size_t key_len, const uint8_t *const *certs,
			       const size_t *cert_lens, size_t n_certs,
			       AVmAttestationResult **ret)
{
	AVmAttestationResult *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->certs = calloc(n_certs ? n_certs : 1, sizeof(*r->certs));
	if (!r->certs || blob_copy(&r->key, key, key_len) < 0)
		goto fail;
	for (; r->n_certs < n_certs; r->n_certs++)
		if (blob_copy(&r->certs[r->n_certs], certs[r->n_certs], cert_lens[r->n_certs]) < 0)
			goto fail;
	*ret = r;
	return 0;
fail:
	AVmAttestationResult_free(r);
	return -ENOMEM;
}

static AVmAttestationStatus request(const char *what, const void *challenge,
				    size_t challenge_size, bool test_mode,
				    AVmAttestationResult **result)
{
	struct payload_request rq = {
	    .method = PAYLOAD_REQUEST_ATTESTATION,
	    .test_mode = test_mode,
	    .data = challenge,
	    .data_len = (uint32_t)challenge_size,
	};
	struct vmp_reply r;

	if (challenge_size > PAYLOAD_CHALLENGE_MAX)
		return ATTESTATION_ERROR_INVALID_CHALLENGE;
	vmp_call(what, &rq, &r);
	/* The wire has no success reply for this call (payload_msg.h), so r.ex != 0 and
	 * *result stays untouched. The reason goes to the log, as AVF logs it. */
	fprintf(stderr, "libvm_payload: %s: " VMP_REFUSAL_FMT "\n", what, VMP_REFUSAL_ARGS(&r));
	if (r.ex == AVF_EX_UNSUPPORTED_OPERATION)
		return ATTESTATION_ERROR_UNSUPPORTED;
	return ATTESTATION_ERROR_ATTESTATION_FAILED;
}

AVmAttestationStatus AVmPayload_requestAttestation(const void *challenge, size_t challenge_size,
						   AVmAttestationResult **result)
{
	return request("Failed to request attestation", challenge, challenge_size, false, result);
}

AVmAttestationStatus AVmPayload_requestAttestationForTesting(const void *challenge,
							     size_t challenge_size,
							     AVmAttestationResult **result)
{
	return request("Failed to request attestation for testing", challenge, challenge_size,
		       true, result);
}

const char *AVmAttestationStatus_toString(AVmAttestationStatus status)
{
	switch (status) {
	case ATTESTATION_OK:
		return "The remote attestation completes successfully.";
	case ATTESTATION_ERROR_INVALID_CHALLENGE:
		return "The challenge size is not between 0 and 64.";
	case ATTESTATION_ERROR_ATTESTATION_FAILED:
		return "Failed to attest the VM. Please retry at a later time.";
	case ATTESTATION_ERROR_UNSUPPORTED:
		return "Remote attestation is not supported in the current environment.";
	}
	return "Unknown attestation status.";
}

/* Copy min(len, size) bytes of @b (AVF: data may be NULL only when size is 0). */
static size_t copy_out(const struct vmp_blob *b, void *data, size_t size)
{
	if (size)
		memcpy(data, b->bytes, size < b->len ? size : b->len);
	return b->len;
}

size_t AVmAttestationResult_getPrivateKey(const AVmAttestationResult *result, void *data,
					  size_t size)
{
	return copy_out(&result->key, data, size);
}

size_t AVmAttestationResult_getCertificateCount(const AVmAttestationResult *result)
{
	return result->n_certs;
}

size_t AVmAttestationResult_getCertificateAt(const AVmAttestationResult *result, size_t index,
					     void *data, size_t size)
{
	if (index >= result->n_certs)
		vmp_die("The index is out of bounds.");
	return copy_out(&result->certs[index], data, size);
}

/* ECDSA P-256 over SHA-256 of @msg, DER, into @sig (VMP_SIGNATURE_MAX bytes). */
static size_t sign_der(const struct vmp_blob *key, const void *msg, size_t msg_len, uint8_t *sig)
{
	const unsigned char *p = key->bytes;
	size_t sig_len = VMP_SIGNATURE_MAX;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY *pkey;
	bool ok = false;

	/* d2i_PrivateKey with a type reads that type's own DER: RFC 5915 ECPrivateKey. */
	pkey = d2i_PrivateKey(EVP_PKEY_EC, NULL, &p, (long)key->len);
	if (pkey)
		md = EVP_MD_CTX_new();
	if (md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
	    EVP_DigestSign(md, sig, &sig_len, msg, msg_len) == 1)
		ok = true;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	if (!ok)
		vmp_die("Failed to sign with the attested key (not a P-256 ECPrivateKey?)");
	return sig_len;
}

size_t AVmAttestationResult_sign(const AVmAttestationResult *result, const void *message,
				 size_t message_size, void *data, size_t size)
{
	uint8_t sig[VMP_SIGNATURE_MAX];
	size_t len;

	if (message_size == 0)
		vmp_die("Message to be signed must not be empty.");
	/* A caller asking for the size gets the largest one without a signature made. */
	if (size == 0)
		return VMP_SIGNATURE_MAX;
	len = sign_der(&result->key, message, message_size, sig);
	memcpy(data, sig, size < len ? size : len);
	return len;
}
