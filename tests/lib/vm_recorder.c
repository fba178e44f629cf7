/* SPDX-License-Identifier: Apache-2.0 */
#include "vm_recorder.h"

#include <stdio.h>
#include <string.h>

static void rec_add(struct vm_recorder *r, const char *s)
{
	size_t n = strlen(r->log);

	snprintf(r->log + n, sizeof(r->log) - n, "%s%s", n ? " " : "", s);
}

static void rec_started(struct avf_vm *vm, void *d)
{
	rec_add(d, "started");
}

static void rec_ready(struct avf_vm *vm, void *d)
{
	rec_add(d, "ready");
}

static void rec_finished(struct avf_vm *vm, int code, void *d)
{
	char b[32];

	snprintf(b, sizeof(b), "finished(%d)", code);
	rec_add(d, b);
}

static void rec_error(struct avf_vm *vm, enum avf_error_code code, const char *msg, void *d)
{
	char b[160];

	snprintf(b, sizeof(b), "error(%d,%s)", code, msg);
	rec_add(d, b);
}

static void rec_died(struct avf_vm *vm, enum avf_death_reason reason, void *d)
{
	char b[64];

	snprintf(b, sizeof(b), "died(%s)", avf_death_reason_name(reason));
	rec_add(d, b);
}

const struct avf_vm_callbacks vm_recorder_cbs = {rec_started, rec_ready, rec_finished, rec_error,
						 rec_died};
