/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soak_check: what a soak test samples at its start (after a warm-up) and at its
 * end, how the two are printed, and the verdict: any growth of fds, children,
 * CIDs or temp dirs fails; RSS may end at most SOAK_RSS_TOLERANCE_KIB over the
 * warm-up's peak.
 */
#ifndef AVF_TESTS_SOAK_SOAK_CHECK_H
#define AVF_TESTS_SOAK_SOAK_CHECK_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * RSS growth allowed per process, counted from the peak of the warm-up (VmHWM at the
 * first sample) to the RSS at the end. From the peak, not from the RSS of the first
 * sample: glibc's malloc gives the top of the heap back only once more than
 * M_TRIM_THRESHOLD (128 KiB) is free there, so the first sample can fall just after
 * such a trim, up to ~128 KiB under what the same cycles need again (measured: the
 * client's RSS 100 KiB under its warm-up peak, back at the peak at the end, +0 over
 * it; docs/soak.md). Over the peak what is left is a few pages touched late and
 * once (measured +28 KiB in soak_sim, the same after 100,000 and 300,000 cycles:
 * not a rate). What the tolerance catches: one 32-byte chunk
 * leaked a cycle is +3 MiB over 100,000 simulated cycles and +156 KiB over 5,000
 * process cycles; smaller definite leaks are valgrind's to find (CI runs the soak
 * under memcheck too).
 */
#define SOAK_RSS_TOLERANCE_KIB 128

/* One process's holdings. */
struct soak_proc {
	const char *name;
	pid_t pid;
	int fds;
	int children; /* live or not yet reaped */
	long rss_kib; /* VmRSS */
	long hwm_kib; /* VmHWM: the peak so far */
};

/* Sample @pid; fails the test when /proc cannot be read (the process is gone). */
void soak_proc_sample(struct soak_proc *s, const char *name, pid_t pid);

/*
 * Print "NAME: fds A -> B, children A -> B, RSS A -> B KiB (peak A -> B, ...)" and
 * return the number of failed checks: fds or children grew, or the RSS at the end is
 * more than the tolerance over the first sample's peak (judged only when
 * soak_rss_judged()).
 */
int soak_proc_judge(const struct soak_proc *start, const struct soak_proc *end);

/* Print "WHAT: A -> B"; 1 (a failure) when @end > @start, else 0. */
int soak_count_judge(const char *what, long start, long end);

/*
 * Whether RSS means anything here: not under valgrind (its own shadow memory and
 * freed-block queue grow by design) nor AddressSanitizer (its quarantine holds
 * freed memory back). fds, children, CIDs and temp dirs are judged everywhere.
 */
bool soak_rss_judged(void);

/* The positive count in environment variable @name, or @dflt when unset; fails the
 * test on anything but a positive number. */
long soak_env_count(const char *name, long dflt);

/* The warm-up before the first sample: enough for one-time allocations (the
 * allocator's arenas, stdio buffers, lazy tables) to happen, small beside @n. */
long soak_warmup(long n);

#endif
