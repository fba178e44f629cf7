/* SPDX-License-Identifier: Apache-2.0 */
#include "avf_err.h"

#include <stdio.h>
#include <string.h>

static _Thread_local struct avf_error last_error;

int avf_err_setv(int err, int ex, const char *fmt, va_list ap)
{
	last_error.err = err;
	last_error.ex = ex;
	last_error.service_code = ex == AVF_EX_SERVICE_SPECIFIC ? -1 : 0;
	/* Format aside first: an argument may be the slot's own message (adding context). */
	char msg[sizeof(last_error.msg)];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	memcpy(last_error.msg, msg, sizeof(msg));
	return err;
}

int avf_err_set(int err, int ex, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	avf_err_setv(err, ex, fmt, ap);
	va_end(ap);
	return err;
}

int avf_err_service(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	avf_err_setv(err, AVF_EX_SERVICE_SPECIFIC, fmt, ap);
	va_end(ap);
	return err;
}

int avf_err_prefix(const char *fmt, ...)
{
	char old[AVF_ERR_MSG_MAX];
	size_t n;
	va_list ap;

	memcpy(old, last_error.msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(last_error.msg, sizeof(last_error.msg), fmt, ap);
	va_end(ap);
	/* Append ": <old>", cut to the slot (messages are for people; truncation is fine). */
	n = strlen(last_error.msg);
	if (n + 2 < sizeof(last_error.msg)) {
		memcpy(last_error.msg + n, ": ", 3);
		strncat(last_error.msg, old, sizeof(last_error.msg) - n - 3);
	}
	return last_error.err;
}

void avf_err_set_service_code(int code)
{
	last_error.service_code = code;
}

int avf_err_restore(const struct avf_error *e)
{
	if (e != &last_error)
		last_error = *e;
	return last_error.err;
}

const struct avf_error *avf_err_last(void)
{
	return &last_error;
}

void avf_err_clear(void)
{
	memset(&last_error, 0, sizeof(last_error));
}

const char *avf_ex_name(int ex)
{
	switch (ex) {
	case AVF_EX_NONE: return "EX_NONE";
	case AVF_EX_SECURITY: return "EX_SECURITY";
	case AVF_EX_BAD_PARCELABLE: return "EX_BAD_PARCELABLE";
	case AVF_EX_ILLEGAL_ARGUMENT: return "EX_ILLEGAL_ARGUMENT";
	case AVF_EX_NULL_POINTER: return "EX_NULL_POINTER";
	case AVF_EX_ILLEGAL_STATE: return "EX_ILLEGAL_STATE";
	case AVF_EX_NETWORK_MAIN_THREAD: return "EX_NETWORK_MAIN_THREAD";
	case AVF_EX_UNSUPPORTED_OPERATION: return "EX_UNSUPPORTED_OPERATION";
	case AVF_EX_SERVICE_SPECIFIC: return "EX_SERVICE_SPECIFIC";
	case AVF_EX_TRANSACTION_FAILED: return "EX_TRANSACTION_FAILED";
	}
	return "EX_UNKNOWN";
}
