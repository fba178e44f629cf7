/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libready_serve.so: serves an echo-reverse service on vsock port 5678 and reports
 * ready once it listens (as AVF's test app does, so a host that connects after
 * onPayloadReady always finds the port open). Each line received ("abc\n") is sent
 * back reversed ("cba\n"). Serves for ever: the host stops the VM. A line longer than
 * 4095 bytes ends that connection.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "avf/vm_payload.h"
#include "avf/vm_payload_stream.h"

#define PORT     5678u
#define MAX_LINE 4096u

static bool send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Reverse @line (@n bytes, its '\n' excluded) in place and send it with a '\n'. */
static bool answer(int fd, char *line, size_t n)
{
	for (size_t i = 0; i < n / 2; i++) {
		char c = line[i];

		line[i] = line[n - 1 - i];
		line[n - 1 - i] = c;
	}
	line[n] = '\n';
	return send_all(fd, line, n + 1);
}

static void echo_reverse(int fd, void *param)
{
	char buf[MAX_LINE];
	size_t used = 0, start, i;
	ssize_t got;

	(void)param;
	for (;;) {
		got = read(fd, buf + used, sizeof(buf) - used);
		if (got <= 0)
			return;
		used += (size_t)got;
		start = 0;
		for (i = 0; i < used; i++) {
			if (buf[i] != '\n')
				continue;
			if (!answer(fd, buf + start, i - start))
				return;
			start = i + 1;
		}
		if (start == 0 && used == sizeof(buf))
			return; /* a line longer than the buffer */
		used -= start;
		for (i = 0; i < used; i++)
			buf[i] = buf[start + i];
	}
}

static void on_ready(void *param)
{
	(void)param;
	AVmPayload_notifyPayloadReady();
}

int AVmPayload_main(void)
{
	AIBinder *service = AVmPayload_newStreamService(echo_reverse, NULL);

	AVmPayload_runVsockRpcServer(service, PORT, on_ready, NULL);
}
