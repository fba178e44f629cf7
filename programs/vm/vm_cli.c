/* SPDX-License-Identifier: Apache-2.0 */
/* vm_cli: messages, value parsing and AVF's spellings shared by the subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avf/vmclient.h>

#include "backends/crosvm/crosvm_backend.h"
#include "base/avf_err.h"
#include "vm_cli.h"

int vm_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("Error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return VM_EXIT_ERROR;
}

int vm_error_client(const char *fmt, ...)
{
	const struct avf_error_info *e = avf_last_error();
	va_list ap;

	fflush(stdout);
	fputs("Error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (e->message && *e->message)
		fprintf(stderr, ": %s", e->message);
	else if (e->err)
		fprintf(stderr, ": %s", strerror(-e->err));
	fputc('\n', stderr);
	return VM_EXIT_ERROR;
}

int vm_error_path(const char *what, const char *path, int err)
{
	fflush(stdout);
	fprintf(stderr, "Error: %s ", what);
	vm_print_debug_str(stderr, path);
	fprintf(stderr, ": %s (os error %d)\n", strerror(err), err);
	return VM_EXIT_ERROR;
}

int vm_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n\nUsage: " VM_PROG "%s%s %s\n\nFor more information, try '--help'.\n",
		cmd ? " " : "", cmd ? cmd : "", usage);
	return VM_EXIT_USAGE;
}

bool vm_parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	/* strtoull accepts "-1", spaces and "+": AVF's parsers (Rust's u64::from_str) do not. */
	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*ret = v;
	return true;
}

const char *vm_int_error(const char *v)
{
	if (!*v)
		return "cannot parse integer from empty string";
	return strspn(v, "0123456789") == strlen(v) ? "number too large to fit in target type"
						    : "invalid digit found in string";
}

/* Length of the valid UTF-8 sequence at @s (1..4), 0 if it is not one. */
static size_t utf8_len(const unsigned char *s, uint32_t *ret_cp)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80) {
		*ret_cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong, surrogates, beyond U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret_cp = cp;
	return n;
}

void vm_print_debug_str(FILE *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t cp;
	size_t n;

	fputc('"', out);
	while (*s) {
		n = utf8_len(s, &cp);
		if (!n) {
			/* Not UTF-8: a path's raw byte, as Rust's Path debug shows it. */
			fprintf(out, "\\x%02x", *s++);
			continue;
		}
		switch (cp) {
		case '"': fputs("\\\"", out); break;
		case '\\': fputs("\\\\", out); break;
		case '\n': fputs("\\n", out); break;
		case '\r': fputs("\\r", out); break;
		case '\t': fputs("\\t", out); break;
		default:
			/* Other controls (C0, DEL, C1) as \u{..}, as char::escape_debug does. */
			if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
				fprintf(out, "\\u{%x}", (unsigned)cp);
			else
				fwrite(s, 1, n, out);
		}
		s += n;
	}
	fputc('"', out);
}

const char *vm_death_reason_debug(enum avf_death_reason r)
{
	/* vmclient's DeathReason variants (AIDL -> Rust enum), in AIDL order. */
	switch (r) {
	case AVF_DEATH_INFRASTRUCTURE_ERROR: return "InfrastructureError";
	case AVF_DEATH_KILLED: return "Killed";
	case AVF_DEATH_UNKNOWN: return "Unknown";
	case AVF_DEATH_SHUTDOWN: return "Shutdown";
	case AVF_DEATH_START_FAILED: return "StartFailed";
	case AVF_DEATH_REBOOT: return "Reboot";
	case AVF_DEATH_CRASH: return "Crash";
	case AVF_DEATH_PVM_FIRMWARE_PUBLIC_KEY_MISMATCH: return "PvmFirmwarePublicKeyMismatch";
	case AVF_DEATH_PVM_FIRMWARE_INSTANCE_IMAGE_CHANGED:
		return "PvmFirmwareInstanceImageChanged";
	case AVF_DEATH_MICRODROID_FAILED_TO_CONNECT_TO_VIRTUALIZATION_SERVICE:
		return "MicrodroidFailedToConnectToVirtualizationService";
	case AVF_DEATH_MICRODROID_PAYLOAD_HAS_CHANGED: return "MicrodroidPayloadHasChanged";
	case AVF_DEATH_MICRODROID_PAYLOAD_VERIFICATION_FAILED:
		return "MicrodroidPayloadVerificationFailed";
	case AVF_DEATH_MICRODROID_INVALID_PAYLOAD_CONFIG: return "MicrodroidInvalidPayloadConfig";
	case AVF_DEATH_MICRODROID_UNKNOWN_RUNTIME_ERROR: return "MicrodroidUnknownRuntimeError";
	case AVF_DEATH_HANGUP: return "Hangup";
	/* Newer than A15's vmclient: it would print Unrecognised(DeathReason(17)). */
	case AVF_DEATH_WATCHDOG_REBOOT: return "Unrecognised(WATCHDOG_REBOOT)";
	case AVF_DEATH_HOST_SHUTDOWN: return "Unrecognised(HOST_SHUTDOWN)";
	}
	return "Unrecognised";
}

const char *vm_error_code_debug(enum avf_error_code c)
{
	switch (c) {
	case AVF_ERROR_UNKNOWN: return "UnknownError";
	case AVF_ERROR_PAYLOAD_VERIFICATION_FAILED: return "PayloadVerificationFailed";
	case AVF_ERROR_PAYLOAD_CHANGED: return "PayloadChanged";
	case AVF_ERROR_PAYLOAD_INVALID_CONFIG: return "PayloadInvalidConfig";
	}
	return "Unrecognised";
}

const char *vm_state_str(int state)
{
	switch (state) {
	case AVF_VM_STATE_NOT_STARTED: return "NOT_STARTED";
	case AVF_VM_STATE_STARTING: return "STARTING";
	case AVF_VM_STATE_STARTED: return "STARTED";
	case AVF_VM_STATE_READY: return "READY";
	case AVF_VM_STATE_FINISHED: return "FINISHED";
	case AVF_VM_STATE_DEAD: return "DEAD";
	}
	return "(invalid state)";
}

int vm_check_backend(const char *cmd, const char *usage, const char *name)
{
	if (strcmp(name, "fake") != 0 && strcmp(name, "crosvm") != 0 && strcmp(name, "qemu") != 0)
		return vm_usage_error(cmd, usage,
				      "invalid value '%s' for '--backend <BACKEND>'\n"
				      "  [possible values: fake, crosvm, qemu]",
				      name);
	return VM_EXIT_OK;
}

int vm_select_backend(const char *cmd, const char *usage, const char *name)
{
	char *crosvm = NULL;
	int r = vm_check_backend(cmd, usage, name);

	if (r)
		return r;
	if (strcmp(name, "qemu") == 0)
		return vm_error("the qemu backend is not available in this build (available: "
				"fake, crosvm)");
	/* virtmgr looks crosvm up the same way, from the environment it inherits */
	if (strcmp(name, "crosvm") == 0 && crosvm_backend_find(&crosvm) < 0)
		return vm_error("the crosvm backend is not available: %s", avf_err_last()->msg);
	free(crosvm);
	/* virtmgr reads its backend from the environment it inherits (docs/virtmgr.md). */
	if (setenv("AVF_BACKEND", name, 1) < 0)
		return vm_error("setenv: %s", strerror(errno));
	return VM_EXIT_OK;
}
