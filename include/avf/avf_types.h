/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Enumerations shared by every layer and by clients. Names and numbers are
 * exactly AVF's (android.system.virtualizationservice / virtualizationcommon,
 * Android 15); see research/avf-spec.md 2.4. Do not renumber: these values cross
 * the wire and appear in traces.
 */
#ifndef AVF_AVF_TYPES_H
#define AVF_AVF_TYPES_H

/* IVirtualMachine.getState(). Value 5 is unused, as in AVF. */
enum avf_vm_state {
	AVF_VM_STATE_NOT_STARTED = 0,
	AVF_VM_STATE_STARTING = 1,
	AVF_VM_STATE_STARTED = 2,
	AVF_VM_STATE_READY = 3,
	AVF_VM_STATE_FINISHED = 4,
	AVF_VM_STATE_DEAD = 6,
};

/* DeathReason, delivered once per callback through onDied. 9 and 10 were removed in AVF. */
enum avf_death_reason {
	AVF_DEATH_INFRASTRUCTURE_ERROR = 0,
	AVF_DEATH_KILLED = 1,
	AVF_DEATH_UNKNOWN = 2,
	AVF_DEATH_SHUTDOWN = 3,
	AVF_DEATH_START_FAILED = 4,
	AVF_DEATH_REBOOT = 5,
	AVF_DEATH_CRASH = 6,
	AVF_DEATH_PVM_FIRMWARE_PUBLIC_KEY_MISMATCH = 7,
	AVF_DEATH_PVM_FIRMWARE_INSTANCE_IMAGE_CHANGED = 8,
	AVF_DEATH_MICRODROID_FAILED_TO_CONNECT_TO_VIRTUALIZATION_SERVICE = 11,
	AVF_DEATH_MICRODROID_PAYLOAD_HAS_CHANGED = 12,
	AVF_DEATH_MICRODROID_PAYLOAD_VERIFICATION_FAILED = 13,
	AVF_DEATH_MICRODROID_INVALID_PAYLOAD_CONFIG = 14,
	AVF_DEATH_MICRODROID_UNKNOWN_RUNTIME_ERROR = 15,
	AVF_DEATH_HANGUP = 16,
	AVF_DEATH_WATCHDOG_REBOOT = 17,
	AVF_DEATH_HOST_SHUTDOWN = 18,
};

/* ErrorCode, carried by onError. */
enum avf_error_code {
	AVF_ERROR_UNKNOWN = 0,
	AVF_ERROR_PAYLOAD_VERIFICATION_FAILED = 1,
	AVF_ERROR_PAYLOAD_CHANGED = 2,
	AVF_ERROR_PAYLOAD_INVALID_CONFIG = 3,
};

/* CID range of regular VMs granted by virtualizationservice (inclusive). */
#define AVF_GUEST_CID_MIN 2048u
#define AVF_GUEST_CID_MAX 65535u

#endif
