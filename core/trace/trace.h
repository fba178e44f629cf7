/* SPDX-License-Identifier: Apache-2.0 */
/*
 * trace: the event stream every layer writes to and the harness reads.
 * One event = (time on the loop's clock, actor, text). Library code only hands
 * events to a sink; the program decides where they go (stdout, a file, a
 * normaliser). A NULL trace is valid and drops everything, so the model costs
 * nothing when nobody listens.
 *
 * Actors are short stable names: "client", "virtmgr", "vs" (virtualizationservice),
 * "vm:<cid>" (a VM), "vmm:<cid>" (its VMM process / simulated guest).
 */
#ifndef AVF_CORE_TRACE_TRACE_H
#define AVF_CORE_TRACE_TRACE_H

#include <stdint.h>
#include <stdio.h>

#define TRACE_TEXT_MAX 256
#define TRACE_ACTOR_MAX 24

struct trace_event {
	uint64_t t_ns;
	char actor[TRACE_ACTOR_MAX];
	char text[TRACE_TEXT_MAX];
};

typedef void (*trace_sink_fn)(const struct trace_event *ev, void *data);
typedef uint64_t (*trace_clock_fn)(void *data);

struct trace {
	trace_sink_fn sink;
	void *sink_data;
	trace_clock_fn clock; /* NULL: events carry t_ns = 0 */
	void *clock_data;
};

/* Emit one event; @tr may be NULL (no-op). Text longer than TRACE_TEXT_MAX is cut. */
void trace_emitf(const struct trace *tr, const char *actor, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Format "   1.250000000 vm:2048    state STARTING" into @buf (always NUL-terminated). */
void trace_event_format(const struct trace_event *ev, char *buf, size_t len);

#endif
