/* SPDX-License-Identifier: Apache-2.0 */
#include "trace/trace.h"

#include <stdarg.h>
#include <string.h>

void trace_emitf(const struct trace *tr, const char *actor, const char *fmt, ...)
{
	struct trace_event ev;
	va_list ap;

	if (!tr || !tr->sink)
		return;
	ev.t_ns = tr->clock ? tr->clock(tr->clock_data) : 0;
	snprintf(ev.actor, sizeof(ev.actor), "%s", actor);
	va_start(ap, fmt);
	vsnprintf(ev.text, sizeof(ev.text), fmt, ap);
	va_end(ap);
	tr->sink(&ev, tr->sink_data);
}

void trace_event_format(const struct trace_event *ev, char *buf, size_t len)
{
	snprintf(buf, len, "%4llu.%09llu %-10s %s", (unsigned long long)(ev->t_ns / 1000000000ull),
		 (unsigned long long)(ev->t_ns % 1000000000ull), ev->actor, ev->text);
}
