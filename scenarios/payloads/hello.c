/* SPDX-License-Identifier: Apache-2.0 */
/* libhello.so: the smallest payload. Prints one line (to the VM's log) and finishes with 0. */
#include <stdio.h>

#include "avf/vm_main.h"

int AVmPayload_main(void)
{
	printf("Hello from the payload\n");
	return 0;
}
