/* SPDX-License-Identifier: Apache-2.0 */
/* Death-reason derivation, row by row (research/avf-spec.md 4.4, crosvm-spec.md 2.3). */
#include "cmocka_wrap.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "vm/death_reason.h"

#define EXIT(c) false, c
#define SIG(s) true, s

static const struct row {
	bool wait_failed;
	bool signaled;
	int code;
	const char *failure;
	bool hangup;
	enum avf_death_reason want;
} rows[] = {
	/* waiting failed beats everything, even a failure string */
	{ true, EXIT(0), NULL, false, AVF_DEATH_INFRASTRUCTURE_ERROR },
	{ true, EXIT(0), "HANGUP", true, AVF_DEATH_INFRASTRUCTURE_ERROR },
	/* exit statuses with no failure string */
	{ false, SIG(SIGKILL), NULL, false, AVF_DEATH_KILLED },
	{ false, SIG(SIGABRT), "", false, AVF_DEATH_KILLED },
	{ false, SIG(SIGSEGV), NULL, false, AVF_DEATH_KILLED },
	{ false, EXIT(0), NULL, false, AVF_DEATH_SHUTDOWN },
	{ false, EXIT(1), NULL, false, AVF_DEATH_START_FAILED },
	{ false, EXIT(32), NULL, false, AVF_DEATH_REBOOT },
	{ false, EXIT(33), NULL, false, AVF_DEATH_CRASH },
	{ false, EXIT(34), NULL, false, AVF_DEATH_UNKNOWN }, /* guest panic: AVF says UNKNOWN */
	{ false, EXIT(35), NULL, false, AVF_DEATH_UNKNOWN }, /* invalid args */
	{ false, EXIT(36), NULL, false, AVF_DEATH_WATCHDOG_REBOOT },
	{ false, EXIT(2), NULL, false, AVF_DEATH_UNKNOWN },
	{ false, EXIT(31), NULL, false, AVF_DEATH_UNKNOWN },
	{ false, EXIT(37), NULL, false, AVF_DEATH_UNKNOWN },
	{ false, EXIT(255), NULL, false, AVF_DEATH_UNKNOWN },
	/* every failure-channel name wins over the exit status */
	{ false, EXIT(0), "PVM_FIRMWARE_PUBLIC_KEY_MISMATCH", false,
	  AVF_DEATH_PVM_FIRMWARE_PUBLIC_KEY_MISMATCH },
	{ false, EXIT(1), "PVM_FIRMWARE_INSTANCE_IMAGE_CHANGED", false,
	  AVF_DEATH_PVM_FIRMWARE_INSTANCE_IMAGE_CHANGED },
	{ false, SIG(SIGKILL), "MICRODROID_FAILED_TO_CONNECT_TO_VIRTUALIZATION_SERVICE", false,
	  AVF_DEATH_MICRODROID_FAILED_TO_CONNECT_TO_VIRTUALIZATION_SERVICE },
	{ false, EXIT(0), "MICRODROID_PAYLOAD_HAS_CHANGED", false,
	  AVF_DEATH_MICRODROID_PAYLOAD_HAS_CHANGED },
	{ false, EXIT(33), "MICRODROID_PAYLOAD_VERIFICATION_FAILED", false,
	  AVF_DEATH_MICRODROID_PAYLOAD_VERIFICATION_FAILED },
	{ false, EXIT(0), "MICRODROID_INVALID_PAYLOAD_CONFIG", false,
	  AVF_DEATH_MICRODROID_INVALID_PAYLOAD_CONFIG },
	{ false, EXIT(0), "MICRODROID_UNKNOWN_RUNTIME_ERROR", false,
	  AVF_DEATH_MICRODROID_UNKNOWN_RUNTIME_ERROR },
	{ false, EXIT(0), "HANGUP", false, AVF_DEATH_HANGUP },
	/* text after '|' is diagnostics only; whitespace around the whole string is trimmed */
	{ false, EXIT(0), "MICRODROID_UNKNOWN_RUNTIME_ERROR|Payload exited due to signal: 11", false,
	  AVF_DEATH_MICRODROID_UNKNOWN_RUNTIME_ERROR },
	{ false, EXIT(0), "MICRODROID_INVALID_PAYLOAD_CONFIG\n", false,
	  AVF_DEATH_MICRODROID_INVALID_PAYLOAD_CONFIG },
	{ false, EXIT(0), "  HANGUP  ", false, AVF_DEATH_HANGUP },
	/* names are exact and case-sensitive; unknown names fall back to the status */
	{ false, EXIT(0), "microdroid_invalid_payload_config", false, AVF_DEATH_SHUTDOWN },
	{ false, EXIT(33), "SHUTDOWN", false, AVF_DEATH_CRASH },
	{ false, EXIT(0), "garbage|HANGUP", false, AVF_DEATH_SHUTDOWN },
	{ false, SIG(SIGKILL), "HANGUPX", false, AVF_DEATH_KILLED },
	{ false, EXIT(0), "HANGUP |x", false, AVF_DEATH_SHUTDOWN },
	/* boot timeout: empty failure string + payload Hangup */
	{ false, SIG(SIGKILL), NULL, true, AVF_DEATH_HANGUP },
	{ false, SIG(SIGKILL), " \n", true, AVF_DEATH_HANGUP },
	{ false, SIG(SIGKILL), "|x", true, AVF_DEATH_KILLED },
	{ false, SIG(SIGKILL), "MICRODROID_PAYLOAD_HAS_CHANGED", true,
	  AVF_DEATH_MICRODROID_PAYLOAD_HAS_CHANGED },
	{ false, EXIT(0), NULL, true, AVF_DEATH_HANGUP },
};

static void test_rows(void **state)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct vm_exit e = { .wait_failed = r->wait_failed, .signaled = r->signaled,
				     .code = r->code, .failure = r->failure,
				     .payload_hangup = r->hangup };
		enum avf_death_reason got = death_reason_derive(&e);

		if (got != r->want)
			fail_msg("row %zu (failure \"%s\", %s %d, hangup %d): got %s, want %s", i,
				 r->failure ? r->failure : "(null)", r->signaled ? "signal" : "exit",
				 r->code, r->hangup, death_reason_name(got), death_reason_name(r->want));
	}
}

static void test_aidl_numbers_and_names(void **state)
{
	static const struct {
		enum avf_death_reason r;
		int value;
		const char *name;
	} n[] = {
		{ AVF_DEATH_INFRASTRUCTURE_ERROR, 0, "INFRASTRUCTURE_ERROR" },
		{ AVF_DEATH_KILLED, 1, "KILLED" },
		{ AVF_DEATH_UNKNOWN, 2, "UNKNOWN" },
		{ AVF_DEATH_SHUTDOWN, 3, "SHUTDOWN" },
		{ AVF_DEATH_START_FAILED, 4, "START_FAILED" },
		{ AVF_DEATH_REBOOT, 5, "REBOOT" },
		{ AVF_DEATH_CRASH, 6, "CRASH" },
		{ AVF_DEATH_PVM_FIRMWARE_PUBLIC_KEY_MISMATCH, 7, "PVM_FIRMWARE_PUBLIC_KEY_MISMATCH" },
		{ AVF_DEATH_PVM_FIRMWARE_INSTANCE_IMAGE_CHANGED, 8, "PVM_FIRMWARE_INSTANCE_IMAGE_CHANGED" },
		{ AVF_DEATH_MICRODROID_FAILED_TO_CONNECT_TO_VIRTUALIZATION_SERVICE, 11,
		  "MICRODROID_FAILED_TO_CONNECT_TO_VIRTUALIZATION_SERVICE" },
		{ AVF_DEATH_MICRODROID_PAYLOAD_HAS_CHANGED, 12, "MICRODROID_PAYLOAD_HAS_CHANGED" },
		{ AVF_DEATH_MICRODROID_PAYLOAD_VERIFICATION_FAILED, 13,
		  "MICRODROID_PAYLOAD_VERIFICATION_FAILED" },
		{ AVF_DEATH_MICRODROID_INVALID_PAYLOAD_CONFIG, 14, "MICRODROID_INVALID_PAYLOAD_CONFIG" },
		{ AVF_DEATH_MICRODROID_UNKNOWN_RUNTIME_ERROR, 15, "MICRODROID_UNKNOWN_RUNTIME_ERROR" },
		{ AVF_DEATH_HANGUP, 16, "HANGUP" },
		{ AVF_DEATH_WATCHDOG_REBOOT, 17, "WATCHDOG_REBOOT" },
		{ AVF_DEATH_HOST_SHUTDOWN, 18, "HOST_SHUTDOWN" },
	};

	for (size_t i = 0; i < sizeof(n) / sizeof(n[0]); i++) {
		enum avf_death_reason back;

		assert_int_equal((int)n[i].r, n[i].value);
		assert_string_equal(death_reason_name(n[i].r), n[i].name);
		assert_int_equal(death_reason_from_name(n[i].name, &back), 0);
		assert_int_equal(back, n[i].r);
	}
	/* 9 and 10 were removed from AVF */
	assert_string_equal(death_reason_name((enum avf_death_reason)9), "UNRECOGNISED");
	assert_string_equal(death_reason_name((enum avf_death_reason)10), "UNRECOGNISED");
	assert_int_equal(death_reason_from_name("BOOTLOADER_PUBLIC_KEY_MISMATCH", &(enum avf_death_reason){ 0 }),
			 -EINVAL);
	assert_string_equal(death_reason_display(AVF_DEATH_SHUTDOWN), "Shutdown");
	assert_string_equal(death_reason_display(AVF_DEATH_KILLED), "Killed");
	assert_string_equal(death_reason_display(AVF_DEATH_HANGUP), "Hangup");
}

static void test_from_wait_status(void **state)
{
	struct vm_exit e = { .failure = NULL };

	vm_exit_from_wait_status(&e, W_EXITCODE(33, 0));
	assert_false(e.signaled);
	assert_int_equal(e.code, 33);
	assert_int_equal(death_reason_derive(&e), AVF_DEATH_CRASH);

	vm_exit_from_wait_status(&e, W_EXITCODE(0, SIGKILL));
	assert_true(e.signaled);
	assert_int_equal(e.code, SIGKILL);
	assert_int_equal(death_reason_derive(&e), AVF_DEATH_KILLED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_aidl_numbers_and_names),
		cmocka_unit_test(test_from_wait_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
