/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libsecret.so: prints the 32-byte instance secret for the identifier "test-id" (7
 * bytes, no NUL) in hex, one line: "instance secret: <64 hex digits>". Same VM
 * instance, same line; another VM, another (scenarios/app/secret.sh compares them).
 */
#include <stdint.h>
#include <stdio.h>

#include "avf/vm_payload.h"

int AVmPayload_main(void)
{
	static const char id[] = "test-id";
	uint8_t secret[32];

	AVmPayload_getVmInstanceSecret(id, sizeof(id) - 1, secret, sizeof(secret));
	printf("instance secret: ");
	for (size_t i = 0; i < sizeof(secret); i++)
		printf("%02x", secret[i]);
	printf("\n");
	return 0;
}
