/* SPDX-License-Identifier: Apache-2.0 */
/*
 * avf_err: the one error convention of the project.
 *
 * Every fallible function returns a negative errno (or a pointer/NULL where
 * documented) and, at the point where the problem is detected, records a
 * human-readable message plus the binder-style exception code the error would
 * carry across AVF's AIDL surface (research/avf-spec.md 2.10). The record lives
 * in a thread-local slot: callers just propagate the return code, and the program
 * at the top prints avf_err_last()->msg. Library code never prints.
 */
#ifndef AVF_CORE_BASE_AVF_ERR_H
#define AVF_CORE_BASE_AVF_ERR_H

#include <stdarg.h>

/* Binder exception codes, same numbers as android.os.Parcel / binder::Status. */
enum avf_ex {
	AVF_EX_NONE = 0,
	AVF_EX_SECURITY = -1,
	AVF_EX_BAD_PARCELABLE = -2,
	AVF_EX_ILLEGAL_ARGUMENT = -3,
	AVF_EX_NULL_POINTER = -4,
	AVF_EX_ILLEGAL_STATE = -5,
	AVF_EX_NETWORK_MAIN_THREAD = -6,
	AVF_EX_UNSUPPORTED_OPERATION = -7,
	AVF_EX_SERVICE_SPECIFIC = -8,
	AVF_EX_TRANSACTION_FAILED = -129,
};

#define AVF_ERR_MSG_MAX 512

struct avf_error {
	int err;          /* negative errno */
	int ex;           /* enum avf_ex */
	int service_code; /* meaningful when ex == AVF_EX_SERVICE_SPECIFIC (AVF uses -1) */
	char msg[AVF_ERR_MSG_MAX];
};

/* Record an error in this thread's slot and return @err (must be negative). */
int avf_err_set(int err, int ex, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int avf_err_setv(int err, int ex, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* Shorthand for AVF's usual "service-specific -1 with a message". */
int avf_err_service(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Prefix the message already recorded with context ("creating VM: <old>"),
 * keeping its codes. Returns the recorded err. Used where a caller adds meaning
 * without re-classifying the error.
 */
int avf_err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Set the service-specific code of the recorded error (AVF mostly uses -1, the default). */
void avf_err_set_service_code(int code);

/* Put a saved error back into this thread's slot, codes included; returns e->err. */
int avf_err_restore(const struct avf_error *e);

/* The last error recorded on this thread (zeroed if none since avf_err_clear). */
const struct avf_error *avf_err_last(void);
void avf_err_clear(void);

/* Short name of an exception code ("EX_ILLEGAL_STATE"), never NULL. */
const char *avf_ex_name(int ex);

#endif
