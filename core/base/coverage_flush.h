/* SPDX-License-Identifier: Apache-2.0 */
/*
 * coverage_flush: in coverage builds (AVF_COVERAGE), write this process's gcov counters
 * now and start counting afresh. For processes that end by _exit() or raise(), which
 * skip gcov's exit handler: fakevmm calls it on its way out (coverage/report.sh).
 * Elsewhere: nothing. Not called before blocking waits (which would also count VMMs
 * that stop() SIGKILLs): with tests running in parallel that made test_fake_backend's
 * fd checks fail in coverage builds, cause not found; a killed VMM's counts are lost.
 */
#ifndef AVF_CORE_BASE_COVERAGE_FLUSH_H
#define AVF_CORE_BASE_COVERAGE_FLUSH_H

#ifdef AVF_COVERAGE
void __gcov_dump(void);
void __gcov_reset(void);
static inline void coverage_flush(void)
{
	__gcov_dump();
	__gcov_reset();
}
#else
static inline void coverage_flush(void) {}
#endif

#endif
