/* SPDX-License-Identifier: Apache-2.0 */
/*
 * avf-payload-launcher: our microdroid_launcher (research/avf-spec.md 11.1).
 *
 *   avf-payload-launcher <payload library>
 *
 * The guest agent runs it with the payload service fd and the VM's paths in the
 * environment (docs/payload-api.md). It loads the library and exits with what
 * AVmPayload_main() returns; failures are AVF's messages on stderr and exit 1.
 *
 * libvm_payload.so: the launcher is linked against the real library (DT_NEEDED,
 * DT_RPATH $ORIGIN/../lib, which LD_LIBRARY_PATH cannot override), so it is loaded
 * before the payload. The payload was
 * linked against the stub, whose soname is the same; the dynamic linker satisfies the
 * payload's DT_NEEDED libvm_payload.so with the copy already loaded, the real one.
 * AVF gets the same effect by sharing libvm_payload.so from the default linker
 * namespace into the payload's isolated one; we have no namespaces (no isolation
 * of other libraries: a deviation).
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "avf/vm_main.h"

/*
 * The service fd was inherited for this process only: keep it from the payload's own
 * children even if they are started before the payload's first API call (when
 * libvm_payload checks the fd and does the same). A bad value is libvm_payload's to
 * report, when the payload uses the service.
 */
static void keep_service_fd_private(void)
{
	const char *s = getenv("AVF_PAYLOAD_SERVICE_FD");
	char *end = NULL;
	long fd;
	int flags;

	if (!s || !*s)
		return;
	fd = strtol(s, &end, 10);
	if (*end || fd < 0 || fd > INT_MAX)
		return;
	flags = fcntl((int)fd, F_GETFD);
	if (flags >= 0)
		fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC);
}

int main(int argc, char **argv)
{
	AVmPayload_main_t *entry;
	void *lib;
	int code;

	if (argc != 2) {
		fprintf(stderr, "Usage: %s <payload library>\n",
			argc > 0 ? argv[0] : "avf-payload-launcher");
		return EXIT_FAILURE;
	}
	keep_service_fd_private();
	/* RTLD_LOCAL: the payload's symbols do not leak into later loads. */
	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "Failed to dlopen %s: %s\n", argv[1], dlerror());
		return EXIT_FAILURE;
	}
	dlerror();
	entry = (AVmPayload_main_t *)dlsym(lib, "AVmPayload_main");
	if (!entry) {
		fprintf(stderr, "Failed to find entrypoint `AVmPayload_main`: %s\n", dlerror());
		dlclose(lib);
		return EXIT_FAILURE;
	}
	code = entry();
	/* The library stays loaded: payload threads may still run code from it. exit()
	 * flushes stdio, so the payload's buffered output reaches the VM log. */
	fflush(NULL);
	exit(code);
}
