/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libvm_payload's attestation side, linked in directly (the object library of
 * libvm_payload.so): the status strings, requestAttestation's challenge check (made
 * before the service is asked, so no service exists here), and the
 * AVmAttestationResult accessors on a result built with a real P-256 key. Calls that
 * must abort run in a child and are checked by signal and message.
 */
#include "cmocka_wrap.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "avf/vm_payload.h"
#include "avf/vm_payload_restricted.h"
#include "avf/vm_payload_stream.h"
#include "test_fds.h"
#include "vmp_attestation.h"

static void test_status_strings(void **state)
{
	/* AVF's sentences, from vm_payload.h's documentation of each status. */
	assert_string_equal(AVmAttestationStatus_toString(ATTESTATION_OK),
			    "The remote attestation completes successfully.");
	assert_string_equal(AVmAttestationStatus_toString(ATTESTATION_ERROR_INVALID_CHALLENGE),
			    "The challenge size is not between 0 and 64.");
	assert_string_equal(AVmAttestationStatus_toString(ATTESTATION_ERROR_ATTESTATION_FAILED),
			    "Failed to attest the VM. Please retry at a later time.");
	assert_string_equal(AVmAttestationStatus_toString(ATTESTATION_ERROR_UNSUPPORTED),
			    "Remote attestation is not supported in the current environment.");
	assert_string_equal(AVmAttestationStatus_toString((AVmAttestationStatus)-10000),
			    "Unknown attestation status.");
	assert_int_equal(ATTESTATION_ERROR_INVALID_CHALLENGE, -10001);
	assert_int_equal(ATTESTATION_ERROR_ATTESTATION_FAILED, -10002);
	assert_int_equal(ATTESTATION_ERROR_UNSUPPORTED, -10003);
	(void)state;
}

static void test_challenge_too_long_without_service(void **state)
{
	uint8_t challenge[200] = {0};
	AVmAttestationResult *r = (AVmAttestationResult *)0x1;

	/* No AVF_PAYLOAD_SERVICE_FD here: asking the service would abort. */
	unsetenv("AVF_PAYLOAD_SERVICE_FD");
	assert_int_equal(AVmPayload_requestAttestation(challenge, 65, &r),
			 ATTESTATION_ERROR_INVALID_CHALLENGE);
	assert_int_equal(AVmPayload_requestAttestationForTesting(challenge, 200, &r),
			 ATTESTATION_ERROR_INVALID_CHALLENGE);
	assert_ptr_equal(r, (AVmAttestationResult *)0x1);
	(void)state;
}

static void test_paths(void **state)
{
	const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/avf-payload-XXXXXX", tmp);
	assert_string_equal(AVmPayload_getApkContentsPath(), "/mnt/apk");
	/* Read once, then checked for existence on every call (AVF checks its mount). */
	assert_non_null(mkdtemp(dir));
	setenv("AVF_ENCRYPTEDSTORE_PATH", dir, 1);
	assert_string_equal(AVmPayload_getEncryptedStoragePath(), dir);
	setenv("AVF_ENCRYPTEDSTORE_PATH", "/elsewhere", 1);
	assert_string_equal(AVmPayload_getEncryptedStoragePath(), dir);
	assert_int_equal(rmdir(dir), 0);
	assert_null(AVmPayload_getEncryptedStoragePath());
	unsetenv("AVF_ENCRYPTEDSTORE_PATH");
	(void)state;
}

static void never_called(int fd, void *param)
{
	(void)fd;
	(void)param;
	fail();
}

static void test_stream_service_objects(void **state)
{
	AIBinder *b;

	assert_null(AVmPayload_newStreamService(NULL, NULL));
	b = AVmPayload_newStreamService(never_called, NULL);
	assert_non_null(b);
	AVmPayload_deleteStreamService(b);
	AVmPayload_deleteStreamService(NULL);
	(void)state;
}

struct keyed {
	EVP_PKEY *pkey;
	uint8_t der[256];
	size_t der_len;
	AVmAttestationResult *result;
};

static const uint8_t cert0[] = {0x30, 0x03, 0x02, 0x01, 0x07};
static const uint8_t cert1[] = {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02};

static int setup_result(void **state)
{
	struct keyed *k = calloc(1, sizeof(*k));
	const uint8_t *certs[] = {cert0, cert1};
	const size_t lens[] = {sizeof(cert0), sizeof(cert1)};
	uint8_t *p;
	int n;

	assert_non_null(k);
	k->pkey = EVP_EC_gen("P-256");
	assert_non_null(k->pkey);
	/* i2d_PrivateKey of an EC key writes RFC 5915's ECPrivateKey. */
	n = i2d_PrivateKey(k->pkey, NULL);
	assert_true(n > 0 && (size_t)n <= sizeof(k->der));
	p = k->der;
	assert_int_equal(i2d_PrivateKey(k->pkey, &p), n);
	k->der_len = (size_t)n;
	assert_int_equal(vmp_attestation_result_new(k->der, k->der_len, certs, lens, 2, &k->result),
			 0);
	*state = k;
	return 0;
}

static int teardown_result(void **state)
{
	struct keyed *k = *state;

	AVmAttestationResult_free(k->result);
	EVP_PKEY_free(k->pkey);
	free(k);
	return 0;
}

static void test_private_key_and_certificates(void **state)
{
	struct keyed *k = *state;
	uint8_t buf[256];

	assert_int_equal(AVmAttestationResult_getPrivateKey(k->result, NULL, 0), k->der_len);
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(AVmAttestationResult_getPrivateKey(k->result, buf, 10), k->der_len);
	assert_memory_equal(buf, k->der, 10);
	assert_int_equal(buf[10], 0xee);
	assert_int_equal(AVmAttestationResult_getPrivateKey(k->result, buf, sizeof(buf)),
			 k->der_len);
	assert_memory_equal(buf, k->der, k->der_len);

	assert_int_equal(AVmAttestationResult_getCertificateCount(k->result), 2);
	assert_int_equal(AVmAttestationResult_getCertificateAt(k->result, 0, NULL, 0), 5);
	assert_int_equal(AVmAttestationResult_getCertificateAt(k->result, 1, buf, sizeof(buf)), 8);
	assert_memory_equal(buf, cert1, 8);
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(AVmAttestationResult_getCertificateAt(k->result, 0, buf, 2), 5);
	assert_memory_equal(buf, cert0, 2);
	assert_int_equal(buf[2], 0xee);
}

static void test_sign_verifies(void **state)
{
	struct keyed *k = *state;
	static const char msg[] = "message to sign";
	uint8_t sig[72], part[4];
	size_t len;
	EVP_MD_CTX *md;

	/* Size 0 asks for the buffer size: the largest DER P-256 signature. */
	assert_int_equal(AVmAttestationResult_sign(k->result, msg, sizeof(msg), NULL, 0), 72);
	len = AVmAttestationResult_sign(k->result, msg, sizeof(msg), sig, sizeof(sig));
	assert_true(len >= 8 && len <= 72);
	assert_int_equal(sig[0], 0x30); /* a DER SEQUENCE */

	md = EVP_MD_CTX_new();
	assert_non_null(md);
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k->pkey), 1);
	assert_int_equal(EVP_DigestVerify(md, sig, len, (const uint8_t *)msg, sizeof(msg)), 1);
	/* And not for another message. */
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k->pkey), 1);
	assert_int_not_equal(EVP_DigestVerify(md, sig, len, (const uint8_t *)"other", 5), 1);
	EVP_MD_CTX_free(md);

	/* A short buffer gets the signature's first bytes; the length is still whole. */
	memset(part, 0xee, sizeof(part));
	len = AVmAttestationResult_sign(k->result, msg, sizeof(msg), part, 3);
	assert_true(len >= 8 && len <= 72);
	assert_int_equal(part[0], 0x30);
	assert_int_equal(part[3], 0xee);
}

/* Run @fn in a child; it must die of SIGABRT after writing @msg on stderr. */
static void expect_abort(void (*fn)(struct keyed *), struct keyed *k, const char *msg)
{
	char err[1024] = "";
	size_t got = 0;
	ssize_t n;
	int p[2], status;
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 2);
		fn(k);
		_exit(0);
	}
	close(p[1]);
	while ((n = read(p[0], err + got, sizeof(err) - 1 - got)) > 0)
		got += (size_t)n;
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	if (!strstr(err, msg))
		fail_msg("stderr '%s' lacks '%s'", err, msg);
}

static void sign_empty(struct keyed *k)
{
	uint8_t sig[72];

	AVmAttestationResult_sign(k->result, "", 0, sig, sizeof(sig));
}

static void cert_out_of_range(struct keyed *k)
{
	AVmAttestationResult_getCertificateAt(k->result, 2, NULL, 0);
}

static void secret_without_service(struct keyed *k)
{
	uint8_t s[32];

	(void)k;
	unsetenv("AVF_PAYLOAD_SERVICE_FD");
	AVmPayload_getVmInstanceSecret("x", 1, s, sizeof(s));
}

static void secret_bad_fd(struct keyed *k)
{
	uint8_t s[32];

	(void)k;
	setenv("AVF_PAYLOAD_SERVICE_FD", "2x", 1);
	AVmPayload_getVmInstanceSecret("x", 1, s, sizeof(s));
}

static void secret_not_a_socket(struct keyed *k)
{
	uint8_t s[32];

	(void)k;
	setenv("AVF_PAYLOAD_SERVICE_FD", "0", 1);
	AVmPayload_getVmInstanceSecret("x", 1, s, sizeof(s));
}

static void server_without_service(struct keyed *k)
{
	(void)k;
	AVmPayload_runVsockRpcServer(NULL, 5678, NULL, NULL);
}

static void test_aborts(void **state)
{
	struct keyed *k = *state;
	int before = count_fds();

	expect_abort(sign_empty, k, "libvm_payload: Message to be signed must not be empty.\n");
	expect_abort(cert_out_of_range, k, "libvm_payload: The index is out of bounds.\n");
	expect_abort(secret_without_service, k,
		     "libvm_payload: Failed to connect to the payload service: "
		     "AVF_PAYLOAD_SERVICE_FD is not set");
	expect_abort(secret_bad_fd, k, "AVF_PAYLOAD_SERVICE_FD='2x' is not an fd number");
	expect_abort(secret_not_a_socket, k, "fd 0 is not a SOCK_SEQPACKET socket");
	expect_abort(server_without_service, k,
		     "libvm_payload: Failed to start the server on port 5678: the service is "
		     "NULL");
	assert_int_equal(count_fds(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_strings),
	    cmocka_unit_test(test_challenge_too_long_without_service),
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_stream_service_objects),
	    cmocka_unit_test_setup_teardown(test_private_key_and_certificates, setup_result,
					    teardown_result),
	    cmocka_unit_test_setup_teardown(test_sign_verifies, setup_result, teardown_result),
	    cmocka_unit_test_setup_teardown(test_aborts, setup_result, teardown_result),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
