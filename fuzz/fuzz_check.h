/* SPDX-License-Identifier: Apache-2.0 */
/*
 * FUZZ_CHECK: how a fuzz target states a promise of the code under test. A broken one
 * traps, which libFuzzer reports as a crash with the input that caused it (and the
 * replay tests of the default build as a failed test).
 */
#ifndef AVF_FUZZ_FUZZ_CHECK_H
#define AVF_FUZZ_FUZZ_CHECK_H

#define FUZZ_CHECK(cond)                                                                       \
	do {                                                                                   \
		if (!(cond))                                                                   \
			__builtin_trap();                                                      \
	} while (0)

#endif
