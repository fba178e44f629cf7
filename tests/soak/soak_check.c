/* SPDX-License-Identifier: Apache-2.0 */
#include "cmocka_wrap.h"

#include "soak_check.h"

#include <errno.h>
#include <stdlib.h>
#include <valgrind/valgrind.h>

#include "proc_probe.h"

void soak_proc_sample(struct soak_proc *s, const char *name, pid_t pid)
{
	*s = (struct soak_proc){.name = name, .pid = pid};
	s->fds = probe_fds(pid);
	s->children = probe_children(pid, NULL, 0);
	s->rss_kib = probe_status_kib(pid, "VmRSS");
	s->hwm_kib = probe_status_kib(pid, "VmHWM");
	if (s->fds < 0 || s->rss_kib < 0 || s->hwm_kib < 0)
		fail_msg("%s (pid %d): /proc unreadable: fds %d, VmRSS %ld, VmHWM %ld", name,
			 (int)pid, s->fds, s->rss_kib, s->hwm_kib);
}

int soak_proc_judge(const struct soak_proc *start, const struct soak_proc *end)
{
	/* hwm >= rss: over the warm-up's peak (soak_check.h says why) */
	long over_peak = end->rss_kib - start->hwm_kib;
	bool judged = soak_rss_judged();
	int failed = 0;

	print_message("%s: fds %d -> %d, children %d -> %d, RSS %ld -> %ld KiB "
		      "(peak %ld -> %ld; end %+ld over the warm-up's peak)%s\n",
		      start->name, start->fds, end->fds, start->children, end->children,
		      start->rss_kib, end->rss_kib, start->hwm_kib, end->hwm_kib, over_peak,
		      judged ? "" : " [RSS not judged under valgrind/ASan]");
	if (end->fds > start->fds) {
		print_error("%s: %d fds leaked\n", start->name, end->fds - start->fds);
		failed++;
	}
	if (end->children > start->children) {
		print_error("%s: %d children left\n", start->name, end->children - start->children);
		failed++;
	}
	if (judged && over_peak > SOAK_RSS_TOLERANCE_KIB) {
		print_error("%s: RSS ended %ld KiB over the warm-up's peak (tolerance %d KiB)\n",
			    start->name, over_peak, SOAK_RSS_TOLERANCE_KIB);
		failed++;
	}
	return failed;
}

int soak_count_judge(const char *what, long start, long end)
{
	print_message("%s: %ld -> %ld\n", what, start, end);
	if (end <= start)
		return 0;
	print_error("%s grew by %ld\n", what, end - start);
	return 1;
}

bool soak_rss_judged(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return false;
#else
	return !RUNNING_ON_VALGRIND;
#endif
}

long soak_env_count(const char *name, long dflt)
{
	const char *s = getenv(name);
	char *end;
	long n;

	if (!s || !*s)
		return dflt;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || *end || n <= 0)
		fail_msg("%s=%s: not a positive count", name, s);
	return n;
}

long soak_warmup(long n)
{
	return n / 10 < 100 ? n / 10 + 1 : 100;
}
