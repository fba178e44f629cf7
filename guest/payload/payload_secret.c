/* SPDX-License-Identifier: Apache-2.0 */
#include "payload_secret.h"

#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "base/avf_err.h"

int payload_secret_derive(const uint8_t seed[PAYLOAD_SEED_SIZE], const char *label,
			  const uint8_t *input, size_t input_len, uint8_t *out, size_t out_len)
{
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
	    OSSL_PARAM_construct_end(),
	};
	uint8_t mac[EVP_MAX_MD_SIZE];
	size_t mac_len = 0;
	EVP_MAC_CTX *ctx = NULL;
	EVP_MAC *hmac;
	int r = -EIO;

	if (out_len > PAYLOAD_DERIVED_MAX)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "derived value of %zu bytes, more than %u", out_len,
				   PAYLOAD_DERIVED_MAX);
	/* EVP_MAC (OpenSSL 3's interface; HMAC_CTX is deprecated) so that label and
	 * input are fed in two pieces without a copy. */
	hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (hmac)
		ctx = EVP_MAC_CTX_new(hmac);
	/* The label goes in with its NUL: no label is a prefix of another's message. */
	if (ctx && EVP_MAC_init(ctx, seed, PAYLOAD_SEED_SIZE, params) &&
	    EVP_MAC_update(ctx, (const uint8_t *)label, strlen(label) + 1) &&
	    (input_len == 0 || EVP_MAC_update(ctx, input, input_len)) &&
	    EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac)) && mac_len >= out_len) {
		memcpy(out, mac, out_len);
		r = 0;
	}
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(hmac);
	if (r < 0)
		return avf_err_set(r, AVF_EX_SERVICE_SPECIFIC, "HMAC-SHA256 failed in libcrypto");
	return 0;
}
