/* SPDX-License-Identifier: Apache-2.0 */
#include "trace/trace_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/avf_err.h"

struct trace_file {
	struct trace tr;
	int fd;
	pid_t pid;
};

static uint64_t monotonic_ns(void *data)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void file_sink(const struct trace_event *ev, void *data)
{
	struct trace_file *tf = data;
	char line[TRACE_TEXT_MAX + TRACE_ACTOR_MAX + 64];
	int n;

	n = snprintf(line, sizeof(line), "%llu.%09llu %d %s %s\n",
		     (unsigned long long)(ev->t_ns / 1000000000ull),
		     (unsigned long long)(ev->t_ns % 1000000000ull), (int)tf->pid, ev->actor, ev->text);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* One write per line: O_APPEND makes it atomic against the other writers. A
	 * failed trace write must not change the system's behaviour, so it is dropped. */
	while (write(tf->fd, line, (size_t)n) < 0 && errno == EINTR)
		;
}

int trace_file_open(const char *path, struct trace_file **ret)
{
	struct trace_file *tf = calloc(1, sizeof(*tf));

	if (!tf)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	tf->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (tf->fd < 0) {
		int e = errno;
		free(tf);
		return avf_err_set(-e, AVF_EX_SERVICE_SPECIFIC, "cannot open trace file %s: %s",
				   path, strerror(e));
	}
	tf->pid = getpid();
	tf->tr.sink = file_sink;
	tf->tr.sink_data = tf;
	tf->tr.clock = monotonic_ns;
	*ret = tf;
	return 0;
}

int trace_file_from_env(struct trace_file **ret)
{
	const char *path = getenv(TRACE_FILE_ENV);

	*ret = NULL;
	if (!path || !*path)
		return 0;
	return trace_file_open(path, ret);
}

const struct trace *trace_file_trace(const struct trace_file *tf)
{
	return tf ? &tf->tr : NULL;
}

struct trace_file *trace_file_close(struct trace_file *tf)
{
	if (tf) {
		close(tf->fd);
		free(tf);
	}
	return NULL;
}
