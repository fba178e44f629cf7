/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmp_server: AVmPayload_runVsockRpcServer and our AIBinder, the stream service
 * (avf/vm_payload_stream.h). Contracts in the headers.
 *
 * The fake VM emulates vsock with unix sockets: port P is $AVF_VSOCK_DIR/P. A real
 * guest (no AVF_VSOCK_DIR) gets AF_VSOCK, as AVF's RPC server binds it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "avf/vm_payload.h"
#include "avf/vm_payload_stream.h"
#include "vmp_die.h"

struct AIBinder {
	void (*on_connection)(int fd, void *param);
	void *param;
};

AIBinder *AVmPayload_newStreamService(void (*on_connection)(int fd, void *param), void *param)
{
	AIBinder *s;

	if (!on_connection)
		return NULL;
	s = malloc(sizeof(*s));
	if (s)
		*s = (AIBinder){.on_connection = on_connection, .param = param};
	return s;
}

void AVmPayload_deleteStreamService(AIBinder *service)
{
	free(service);
}

/* How many connections may wait to be accepted. */
#define VMP_BACKLOG 64

/* Nobody listens on @sa: the file is left over from an earlier run of the payload. */
static bool unix_socket_stale(const struct sockaddr_un *sa)
{
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool stale;

	if (probe < 0)
		return false;
	stale = connect(probe, (const struct sockaddr *)sa, sizeof(*sa)) < 0 &&
		errno == ECONNREFUSED;
	close(probe);
	return stale;
}

/* Bind and listen on $AVF_VSOCK_DIR/<port>. */
static int listen_unix(const char *dir, uint32_t port)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, n, err;

	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%u", dir, port);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		vmp_die("Failed to start the server on port %u: '%s/%u' is longer than a unix "
			"socket path may be",
			port, dir, port);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		vmp_die("Failed to start the server on port %u: socket: %s", port, strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		/* Like a vsock port, only a live listener makes the port busy. */
		if (err != EADDRINUSE || !unix_socket_stale(&sa))
			vmp_die("Failed to start the server on port %u: bind '%s': %s", port,
				sa.sun_path,
				err == EADDRINUSE ? "the port is in use" : strerror(err));
		unlink(sa.sun_path);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			vmp_die("Failed to start the server on port %u: bind '%s': %s", port,
				sa.sun_path, strerror(errno));
	}
	if (listen(fd, VMP_BACKLOG) < 0)
		vmp_die("Failed to start the server on port %u: listen: %s", port, strerror(errno));
	return fd;
}

/* AVF's RPC server: vsock, any local CID, @port. Untested here (no vsock in the fake VM). */
static int listen_vsock(uint32_t port)
{
	struct sockaddr_vm sa = {
	    .svm_family = AF_VSOCK,
	    .svm_cid = VMADDR_CID_ANY,
	    .svm_port = port,
	};
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		vmp_die("Failed to start the server on vsock port %u: socket: %s", port,
			strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		vmp_die("Failed to start the server on vsock port %u: bind: %s", port,
			strerror(errno));
	if (listen(fd, VMP_BACKLOG) < 0)
		vmp_die("Failed to start the server on vsock port %u: listen: %s", port,
			strerror(errno));
	return fd;
}

struct connection {
	const AIBinder *service;
	int fd;
};

static void *serve_connection(void *arg)
{
	struct connection *c = arg;

	c->service->on_connection(c->fd, c->service->param);
	close(c->fd);
	free(c);
	return NULL;
}

/* Serve @fd on a detached thread of its own; a connection we cannot serve is dropped. */
static void start_connection(const AIBinder *service, int fd)
{
	struct connection *c = malloc(sizeof(*c));
	pthread_attr_t attr;
	pthread_t t;
	int r = ENOMEM;

	if (c) {
		*c = (struct connection){.service = service, .fd = fd};
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		r = pthread_create(&t, &attr, serve_connection, c);
		pthread_attr_destroy(&attr);
	}
	if (r != 0) {
		fprintf(stderr, "libvm_payload: dropping a connection: no thread for it: %s\n",
			strerror(r));
		free(c);
		close(fd);
	}
}

void AVmPayload_runVsockRpcServer(AIBinder *service, uint32_t port, void (*on_ready)(void *param),
				  void *param)
{
	const char *dir = getenv("AVF_VSOCK_DIR");
	struct sockaddr_storage peer;
	struct sigaction ign = {.sa_handler = SIG_IGN};
	socklen_t len;
	int fd, c;

	if (!service)
		vmp_die("Failed to start the server on port %u: the service is NULL", port);
	if (dir && !*dir)
		dir = NULL; /* set but empty: not the fake VM */
	/* A host hanging up must give a handler EPIPE, not kill the payload. */
	sigaction(SIGPIPE, &ign, NULL);
	fd = dir ? listen_unix(dir, port) : listen_vsock(port);
	if (on_ready)
		on_ready(param);
	for (;;) {
		len = sizeof(peer);
		c = accept4(fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
		if (c < 0) {
			/* A peer that gave up before we accepted, or a signal: not fatal. */
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			vmp_die("The server on port %u stopped: accept: %s", port, strerror(errno));
		}
		/* AVF's vsock server accepts only the host (CID 2). */
		if (!dir && ((struct sockaddr_vm *)&peer)->svm_cid != VMADDR_CID_HOST) {
			close(c);
			continue;
		}
		start_connection(service, c);
	}
}
