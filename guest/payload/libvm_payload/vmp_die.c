/* SPDX-License-Identifier: Apache-2.0 */
#include "vmp_die.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void vmp_die(const char *fmt, ...)
{
	va_list ap;

	/* One line, built first, so threads dying at once do not interleave words. */
	char line[1024];
	int n = snprintf(line, sizeof(line), "libvm_payload: ");

	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
	fflush(stderr);
	abort();
}
