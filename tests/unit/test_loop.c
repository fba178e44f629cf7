/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for core/loop: fds, children, timers on both clocks, deferred calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "loop/loop.h"

#define MS LOOP_NSEC_PER_MSEC
/* Upper bound for waiting on an event that must come; never reached when all is well. */
#define WAIT_BOUND_NS (60 * LOOP_NSEC_PER_SEC)
#define CHILD_WAIT_NS (30 * LOOP_NSEC_PER_SEC)

/* ---- children forked by tests; the teardown kills and reaps any left over ---- */

#define MAX_KIDS 8
static pid_t kids[MAX_KIDS];

static pid_t spawn(bool wait_forever, int code)
{
	pid_t pid;
	int i;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The child only pauses or exits: nothing else is safe after fork here. */
		if (wait_forever)
			for (;;)
				pause();
		_exit(code);
	}
	for (i = 0; i < MAX_KIDS; i++) {
		if (kids[i] == 0) {
			kids[i] = pid;
			return pid;
		}
	}
	fail_msg("too many children");
	return -1;
}

/* The loop reaped @pid: forget it so the teardown does not signal a reused pid. */
static void reaped(pid_t pid)
{
	int i;

	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i] == pid)
			kids[i] = 0;
}

static int reap_kids(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < MAX_KIDS; i++) {
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
		kids[i] = 0;
	}
	return 0;
}

static bool pidfd_supported(void)
{
	int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);

	if (fd >= 0) {
		close(fd);
		return true;
	}
	/* The loop falls back to polling only for this (e.g. under valgrind 3.19). */
	assert_int_equal(errno, ENOSYS);
	return false;
}

/* Run rounds until *@count reaches @want, bounded in time (fails instead of hanging). */
static void run_until(struct loop *l, const int *count, int want)
{
	struct timespec ts;
	uint64_t start, now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	start = (uint64_t)ts.tv_sec * LOOP_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
	while (*count < want) {
		assert_true(loop_run_once(l, 100) >= 0);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * LOOP_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
		if (*count < want && now - start > WAIT_BOUND_NS)
			fail_msg("event did not come within the bound");
	}
}

static void make_pipe(int p[2])
{
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
}

static void write_byte(int fd)
{
	assert_int_equal(write(fd, "x", 1), 1);
}

/* ---- basics ---- */

static void test_new_free(void **state)
{
	struct loop *l = NULL, *sentinel = (struct loop *)&state;

	(void)state;
	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &l), 0);
	assert_non_null(l);
	assert_int_equal(loop_clock(l), LOOP_CLOCK_VIRTUAL);
	assert_int_equal(loop_now(l), 0);
	assert_int_equal(loop_source_count(l), 0);
	assert_null(loop_free(l));

	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &l), 0);
	assert_int_equal(loop_clock(l), LOOP_CLOCK_MONOTONIC);
	assert_true(loop_now(l) > 0);
	assert_null(loop_free(l));
	assert_null(loop_free(NULL));
	assert_null(loop_source_free(NULL));

	avf_err_clear();
	l = sentinel;
	assert_int_equal(loop_new((enum loop_clock_kind)42, &l), -EINVAL);
	assert_ptr_equal(l, sentinel);
	assert_int_equal(avf_err_last()->err, -EINVAL);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_ARGUMENT);
	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, NULL), -EINVAL);
}

static void fd_nop(struct loop_source *src, int fd, uint32_t revents, void *data)
{
	(void)src, (void)fd, (void)revents, (void)data;
}

static void timer_nop(struct loop_source *src, void *data)
{
	(void)src, (void)data;
}

static void child_nop(struct loop_source *src, pid_t pid, const siginfo_t *info, int wait_error,
		      void *data)
{
	(void)src, (void)pid, (void)info, (void)wait_error, (void)data;
}

static void test_invalid_args(void **state)
{
	struct loop_source *s, *sentinel = (struct loop_source *)&state, *t;
	struct loop *l, *rl;
	int p[2];

	(void)state;
	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &l), 0);
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &rl), 0);
	s = sentinel;
	assert_int_equal(loop_add_fd(l, -1, EPOLLIN, fd_nop, NULL, &s), -EINVAL);
	assert_int_equal(loop_add_fd(l, 0, EPOLLIN, NULL, NULL, &s), -EINVAL);
	assert_int_equal(loop_add_timer(NULL, 0, timer_nop, NULL, &s), -EINVAL);
	assert_int_equal(loop_add_child(l, 0, child_nop, NULL, &s), -EINVAL);
	assert_int_equal(loop_add_child(l, -1, child_nop, NULL, &s), -EINVAL);
	assert_ptr_equal(s, sentinel);

	/* A closed fd: epoll's own error comes back, recorded. */
	make_pipe(p);
	close(p[0]);
	close(p[1]);
	avf_err_clear();
	assert_int_equal(loop_add_fd(l, p[0], EPOLLIN, fd_nop, NULL, &s), -EBADF);
	assert_ptr_equal(s, sentinel);
	assert_int_equal(avf_err_last()->err, -EBADF);
	assert_true(strlen(avf_err_last()->msg) > 0);

	/* Kind mismatches. */
	assert_int_equal(loop_add_timer(l, 5, timer_nop, NULL, &t), 0);
	assert_int_equal(loop_fd_set_events(t, EPOLLIN), -EINVAL);
	assert_int_equal(loop_child_pidfd(t), -EINVAL);
	assert_int_equal(loop_child_kill(t, SIGKILL), -EINVAL);
	assert_int_equal(loop_child_wait(t, 0), -EINVAL);
	t = loop_source_free(t);
	assert_null(t);

	avf_err_clear();
	assert_int_equal(loop_advance(rl, MS), -EINVAL);
	assert_int_equal(avf_err_last()->err, -EINVAL);
	assert_int_equal(loop_source_count(l), 0);
	loop_free(rl);
	loop_free(l);
}

/* Every fd the loop creates is close-on-exec: compare the fd table around its use. */
static void fd_table(bool open[256])
{
	int fd;

	for (fd = 0; fd < 256; fd++)
		open[fd] = fcntl(fd, F_GETFD) >= 0;
}

static void test_cloexec(void **state)
{
	bool before[256], after[256];
	struct loop_source *c, *t;
	struct loop *l;
	pid_t pid;
	int fd, pidfd;

	(void)state;
	pid = spawn(true, 0);
	fd_table(before);
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &l), 0);
	assert_int_equal(loop_add_child(l, pid, child_nop, NULL, &c), 0);
	assert_int_equal(loop_add_timer(l, 0, timer_nop, NULL, &t), 0);
	fd_table(after);
	for (fd = 0; fd < 256; fd++) {
		if (after[fd] && !before[fd])
			assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	}
	pidfd = loop_child_pidfd(c);
	if (pidfd_supported()) {
		assert_true(pidfd >= 0);
		assert_true(fcntl(pidfd, F_GETFD) & FD_CLOEXEC);
		assert_true(after[pidfd] && !before[pidfd]);
	} else {
		assert_int_equal(pidfd, -ENOSYS);
	}
	assert_int_equal(loop_child_kill(c, SIGKILL), 0);
	assert_int_equal(loop_child_wait(c, CHILD_WAIT_NS), 0);
	reaped(pid);
	loop_source_free(c);
	loop_source_free(t);
	loop_free(l);
}

/* ---- fd sources ---- */

struct fd_rec {
	int calls;
	int fd;
	uint32_t revents;
	struct loop_source *src_seen;
	struct loop_source *self;   /* freed by the callback when free_self */
	struct loop_source **other; /* freed by the callback when set */
	bool free_self;
};

static void fd_cb(struct loop_source *src, int fd, uint32_t revents, void *data)
{
	struct fd_rec *r = data;

	r->calls++;
	r->fd = fd;
	r->revents = revents;
	r->src_seen = src;
	if (r->free_self)
		r->self = loop_source_free(r->self);
	if (r->other)
		*r->other = loop_source_free(*r->other);
}

static void test_fd_readiness(void **state)
{
	struct fd_rec rec = {0};
	struct loop_source *s;
	struct loop *l;
	char c;
	int p[2];

	(void)state;
	make_pipe(p);
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &l), 0);
	assert_int_equal(loop_add_fd(l, p[0], EPOLLIN, fd_cb, &rec, &s), 0);
	assert_int_equal(loop_source_count(l), 1);

	assert_int_equal(loop_run_once(l, 0), 0);
	assert_int_equal(rec.calls, 0);

	write_byte(p[1]);
	assert_int_equal(loop_run_once(l, 1000), 1);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(rec.fd, p[0]);
	assert_true(rec.revents & EPOLLIN);
	assert_ptr_equal(rec.src_seen, s);

	/* Level-triggered: still readable, called again; drained, quiet. */
	assert_int_equal(loop_run_once(l, 0), 1);
	assert_int_equal(rec.calls, 2);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(loop_run_once(l, 0), 0);
	assert_int_equal(rec.calls, 2);

	/* Also on a virtual clock: fds are waited on, time is not. */
	s = loop_source_free(s);
	assert_int_equal(loop_source_count(l), 0);
	loop_free(l);
	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &l), 0);
	assert_int_equal(loop_add_fd(l, p[0], EPOLLIN, fd_cb, &rec, &s), 0);
	write_byte(p[1]);
	assert_int_equal(loop_run_once(l, 1000), 1);
	assert_int_equal(rec.calls, 3);
	assert_int_equal(loop_now(l), 0);
	loop_source_free(s);
	loop_free(l);
	close(p[0]);
	close(p[1]);
}

static void test_fd_set_events(void **state)
{
	struct fd_rec rec = {0};
	struct loop_source *s;
	struct loop *l;
	int p[2];

	(void)state;
	make_pipe(p);
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &l), 0);
	/* An empty pipe's write end is writable. */
	assert_int_equal(loop_add_fd(l, p[1], EPOLLOUT, fd_cb, &rec, &s), 0);
	assert_int_equal(loop_run_once(l, 1000), 1);
	assert_true(rec.revents & EPOLLOUT);
	assert_int_equal(rec.fd, p[1]);

	assert_int_equal(loop_fd_set_events(s, 0), 0);
	assert_int_equal(loop_run_once(l, 0), 0);
	assert_int_equal(rec.calls, 1);

	assert_int_equal(loop_fd_set_events(s, EPOLLOUT), 0);
	assert_int_equal(loop_run_once(l, 0), 1);
	assert_int_equal(rec.calls, 2);

	/* Switching to EPOLLIN on a write end: never readable. */
	assert_int_equal(loop_fd_set_events(s, EPOLLIN), 0);
	assert_int_equal(loop_run_once(l, 0), 0);
	assert_int_equal(rec.calls, 2);

	loop_source_free(s);
	loop_free(l);
	close(p[0]);
	close(p[1]);
}

static void test_fd_free_self(void **state)
{
	struct fd_rec rec = {.free_self = true};
	struct loop *l;
	int p[2];

	(void)state;
	make_pipe(p);
	write_byte(p[1]);
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &l), 0);
	assert_int_equal(loop_add_fd(l, p[0], EPOLLIN, fd_cb, &rec, &rec.self), 0);
	assert_int_equal(loop_run_once(l, 1000), 1);
	assert_int_equal(rec.calls, 1);
	assert_null(rec.self);
	assert_int_equal(loop_source_count(l), 0);
	/* Still readable, but nobody watches it any more. */
	assert_int_equal(loop_run_once(l, 0), 0);
	assert_int_equal(rec.calls, 1);
	loop_free(l);
	close(p[0]);
	close(p[1]);
}

static void test_fd_free_other_pending(void **state)
{
	struct fd_rec a = {0}, b = {0};
	struct loop_source *sa, *sb;
	struct loop *l;
	int pa[2], pb[2];

	(void)state;
	make_pipe(pa);
	make_pipe(pb);
	write_byte(pa[1]);
	write_byte(pb[1]);
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &l), 0);
	assert_int_equal(loop_add_fd(l, pa[0], EPOLLIN, fd_cb, &a, &sa), 0);
	assert_int_equal(loop_add_fd(l, pb[0], EPOLLIN, fd_cb, &b, &sb), 0);
	/* Whichever runs first frees the other, whose event is pending in this round. */
	a.other = &sb;
	b.other = &sa;
	assert_int_equal(loop_run_once(l, 1000), 1);
	assert_int_equal(a.calls + b.calls, 1);
	assert_int_equal(loop_source_count(l), 1);
	assert_true(a.calls ? sb == NULL && sa != NULL : sa == NULL && sb != NULL);

	/* The survivor keeps working (and has nothing left to free). */
	a.other = b.other = NULL;
	assert_int_equal(loop_run_once(l, 0), 1);
	assert_int_equal(a.calls + b.calls, 2);
	assert_true(a.calls == 2 || b.calls == 2);
	sa = loop_source_free(sa);
	sb = loop_source_free(sb);
	assert_int_equal(loop_source_count(l), 0);
	loop_free(l);
	close(pa[0]);
	close(pa[1]);
	close(pb[0]);
	close(pb[1]);
}

/* ---- timers on the virtual clock ---- */

struct tlog {
	struct loop *l;
	int n;
	int ids[512];
	uint64_t at[512];
};

struct tctx {
	struct tlog *log;
	int id;
	struct loop_source *src;
	/* actions in the callback */
	struct loop_source **free_other[2];
	bool free_self;
	uint64_t add_at[2];
	struct tctx *add_ctx[2];
	int defer_ids[2];
};

static void log_event(struct tlog *log, int id)
{
	assert_true(log->n < 512);
	log->ids[log->n] = id;
	log->at[log->n] = loop_now(log->l);
	log->n++;
}

struct dctx {
	struct tlog *log;
	int id;
	struct dctx *requeue; /* queued again from inside this deferred call */
};

static void defer_cb(void *data)
{
	struct dctx *d = data;

	log_event(d->log, d->id);
	if (d->requeue)
		assert_int_equal(loop_defer(d->log->l, defer_cb, d->requeue), 0);
}

static struct dctx defer_pool[8];

static void timer_cb(struct loop_source *src, void *data)
{
	struct tctx *t = data;
	int i;

	assert_ptr_equal(src, t->src);
	log_event(t->log, t->id);
	for (i = 0; i < 2; i++) {
		if (t->free_other[i])
			*t->free_other[i] = loop_source_free(*t->free_other[i]);
		if (t->add_ctx[i])
			assert_int_equal(loop_add_timer(t->log->l, t->add_at[i], timer_cb,
							t->add_ctx[i], &t->add_ctx[i]->src),
					 0);
		if (t->defer_ids[i]) {
			struct dctx *d = &defer_pool[t->defer_ids[i] % 8];

			d->log = t->log;
			d->id = t->defer_ids[i];
			d->requeue = NULL;
			assert_int_equal(loop_defer(t->log->l, defer_cb, d), 0);
		}
	}
	if (t->free_self)
		t->src = loop_source_free(t->src);
}

static void add_timer(struct tlog *log, struct tctx *t, int id, uint64_t deadline)
{
	t->log = log;
	t->id = id;
	assert_int_equal(loop_add_timer(log->l, deadline, timer_cb, t, &t->src), 0);
}

static void test_virtual_timer_order(void **state)
{
	struct tlog log = {0};
	struct tctx t[5] = {0};
	int i;

	(void)state;
	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &log.l), 0);
	add_timer(&log, &t[0], 0, 30 * MS);
	add_timer(&log, &t[1], 1, 10 * MS);
	add_timer(&log, &t[2], 2, 20 * MS);
	add_timer(&log, &t[3], 3, 10 * MS);
	add_timer(&log, &t[4], 4, 10 * MS);
	assert_int_equal(loop_source_count(log.l), 5);

	/* Not before their time; now moves exactly. */
	assert_int_equal(loop_advance(log.l, 10 * MS - 1), 0);
	assert_int_equal(log.n, 0);
	assert_int_equal(loop_now(log.l), 10 * MS - 1);

	/* The three ties fire in creation order, each seeing now == deadline. */
	assert_int_equal(loop_advance(log.l, 1), 3);
	assert_int_equal(log.n, 3);
	assert_int_equal(log.ids[0], 1);
	assert_int_equal(log.ids[1], 3);
	assert_int_equal(log.ids[2], 4);
	for (i = 0; i < 3; i++)
		assert_int_equal(log.at[i], 10 * MS);
	assert_int_equal(loop_now(log.l), 10 * MS);

	assert_int_equal(loop_advance(log.l, 15 * MS), 1);
	assert_int_equal(log.ids[3], 2);
	assert_int_equal(log.at[3], 20 * MS);
	assert_int_equal(loop_now(log.l), 25 * MS);

	/* Deadline == target fires. */
	assert_int_equal(loop_advance(log.l, 5 * MS), 1);
	assert_int_equal(log.ids[4], 0);
	assert_int_equal(log.at[4], 30 * MS);
	assert_int_equal(loop_now(log.l), 30 * MS);
	assert_int_equal(loop_advance(log.l, 1000 * MS), 0);
	assert_int_equal(log.n, 5);

	/* One-shot timers stay sources until freed. */
	assert_int_equal(loop_source_count(log.l), 5);
	for (i = 0; i < 5; i++)
		t[i].src = loop_source_free(t[i].src);
	assert_int_equal(loop_source_count(log.l), 0);
	loop_free(log.l);
}

/* Many timers with colliding deadlines, a third freed from the middle of the heap. */
static void test_virtual_timer_heap(void **state)
{
	enum { N = 300 };
	static struct tlog log;
	static struct tctx t[N];
	uint64_t deadline[N], x = 12345;
	int i, early = 0;

	(void)state;
	memset(&log, 0, sizeof(log));
	memset(t, 0, sizeof(t));
	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &log.l), 0);
	for (i = 0; i < N; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		deadline[i] = (x >> 33) % 100 + 1;
		add_timer(&log, &t[i], i, deadline[i]);
	}
	for (i = 0; i < N; i += 3)
		t[i].src = loop_source_free(t[i].src);
	assert_int_equal(loop_source_count(log.l), N - (N + 2) / 3);
	for (i = 0; i < N; i++)
		early += i % 3 != 0 && deadline[i] <= 50;
	assert_int_equal(loop_advance(log.l, 50), early);
	assert_int_equal(log.n, early);
	assert_int_equal(loop_advance(log.l, 50), N - (N + 2) / 3 - early);
	assert_int_equal(log.n, N - (N + 2) / 3);
	for (i = 0; i < log.n; i++) {
		int id = log.ids[i];

		assert_true(id % 3 != 0);
		assert_int_equal(log.at[i], deadline[id]);
		if (i > 0) {
			int prev = log.ids[i - 1];

			assert_true(deadline[prev] < deadline[id] ||
				    (deadline[prev] == deadline[id] && prev < id));
		}
	}
	for (i = 0; i < N; i++)
		t[i].src = loop_source_free(t[i].src);
	assert_int_equal(loop_source_count(log.l), 0);
	loop_free(log.l);
}

static void test_timer_added_from_timer(void **state)
{
	struct tlog log = {0};
	struct tctx a = {0}, b = {0}, c = {0}, d = {0};

	(void)state;
	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &log.l), 0);
	b.log = c.log = d.log = &log;
	b.id = 2;
	c.id = 3;
	d.id = 4;
	/* At 10, a adds b at 15 (inside this advance) and c at 100 (beyond it). */
	a.add_ctx[0] = &b;
	a.add_at[0] = 15 * MS;
	a.add_ctx[1] = &c;
	a.add_at[1] = 100 * MS;
	/* b adds d in the past: it fires at b's time, time never goes back. */
	b.add_ctx[0] = &d;
	b.add_at[0] = 5 * MS;
	add_timer(&log, &a, 1, 10 * MS);

	assert_int_equal(loop_advance(log.l, 20 * MS), 3);
	assert_int_equal(log.n, 3);
	assert_int_equal(log.ids[0], 1);
	assert_int_equal(log.at[0], 10 * MS);
	assert_int_equal(log.ids[1], 2);
	assert_int_equal(log.at[1], 15 * MS);
	assert_int_equal(log.ids[2], 4);
	assert_int_equal(log.at[2], 15 * MS);
	assert_int_equal(loop_now(log.l), 20 * MS);
	assert_int_equal(loop_source_count(log.l), 4);

	assert_int_equal(loop_advance(log.l, 80 * MS - 1), 0);
	assert_int_equal(loop_advance(log.l, 1), 1);
	assert_int_equal(log.ids[3], 3);
	assert_int_equal(log.at[3], 100 * MS);

	a.src = loop_source_free(a.src);
	b.src = loop_source_free(b.src);
	c.src = loop_source_free(c.src);
	d.src = loop_source_free(d.src);
	assert_int_equal(loop_source_count(log.l), 0);
	loop_free(log.l);
}

static void test_timer_free_from_timer(void **state)
{
	struct tlog log = {0};
	struct tctx a = {0}, b = {0}, c = {0}, d = {0};

	(void)state;
	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &log.l), 0);
	add_timer(&log, &a, 1, 10 * MS);
	add_timer(&log, &b, 2, 10 * MS); /* due in the same advance, after a */
	add_timer(&log, &c, 3, 20 * MS);
	add_timer(&log, &d, 4, 10 * MS);
	a.free_other[0] = &b.src;
	a.free_other[1] = &c.src;
	a.free_self = true;
	assert_int_equal(loop_advance(log.l, 30 * MS), 2);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.ids[0], 1);
	assert_int_equal(log.ids[1], 4);
	assert_null(a.src);
	assert_null(b.src);
	assert_null(c.src);
	assert_int_equal(loop_source_count(log.l), 1);
	d.src = loop_source_free(d.src);
	assert_int_equal(loop_source_count(log.l), 0);
	loop_free(log.l);
}

static void test_virtual_run_once_ignores_timers(void **state)
{
	struct tlog log = {0};
	struct tctx a = {0};

	(void)state;
	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &log.l), 0);
	add_timer(&log, &a, 1, 0); /* already due */
	assert_int_equal(loop_run_once(log.l, 0), 0);
	assert_int_equal(loop_run_once(log.l, 1), 0);
	assert_int_equal(log.n, 0);
	assert_int_equal(loop_advance(log.l, 0), 1);
	assert_int_equal(log.n, 1);
	assert_int_equal(log.at[0], 0);
	loop_source_free(a.src);
	loop_free(log.l);
}

/* ---- deferred calls ---- */

static void test_defer_fifo(void **state)
{
	struct tlog log = {0};
	struct dctx d[4];
	int i;

	(void)state;
	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &log.l), 0);
	for (i = 0; i < 4; i++)
		d[i] = (struct dctx){.log = &log, .id = i + 1};
	d[1].requeue = &d[3]; /* 2 queues 4 while the round runs */
	for (i = 0; i < 3; i++)
		assert_int_equal(loop_defer(log.l, defer_cb, &d[i]), 0);
	assert_int_equal(loop_source_count(log.l), 0);

	assert_int_equal(loop_run_once(log.l, 0), 3);
	assert_int_equal(log.n, 3);
	assert_int_equal(log.ids[0], 1);
	assert_int_equal(log.ids[1], 2);
	assert_int_equal(log.ids[2], 3);
	assert_int_equal(loop_run_once(log.l, 0), 1);
	assert_int_equal(log.n, 4);
	assert_int_equal(log.ids[3], 4);
	assert_int_equal(loop_run_once(log.l, 0), 0);

	/* A queued call left when the loop is freed is dropped, not leaked. */
	assert_int_equal(loop_defer(log.l, defer_cb, &d[0]), 0);
	loop_free(log.l);
	assert_int_equal(log.n, 4);
}

static void test_defer_no_wait(void **state)
{
	struct tlog log = {0};
	struct dctx d = {.log = &log, .id = 1};
	uint64_t t0;

	(void)state;
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &log.l), 0);
	assert_int_equal(loop_defer(log.l, defer_cb, &d), 0);
	t0 = loop_now(log.l);
	/* A deferred call ran, so this round polls instead of waiting 5 s. */
	assert_int_equal(loop_run_once(log.l, 5000), 1);
	assert_true(loop_now(log.l) - t0 < 2500 * MS);
	assert_int_equal(log.n, 1);
	loop_free(log.l);
}

static void test_defer_in_advance(void **state)
{
	struct tlog log = {0};
	struct tctx t1 = {0}, t2 = {0};
	struct dctx p = {.log = &log, .id = 100};

	(void)state;
	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &log.l), 0);
	add_timer(&log, &t1, 1, 10 * MS);
	add_timer(&log, &t2, 2, 10 * MS); /* same deadline: still after t1's deferred calls */
	t1.defer_ids[0] = 101;
	t1.defer_ids[1] = 102;
	assert_int_equal(loop_defer(log.l, defer_cb, &p), 0);

	assert_int_equal(loop_advance(log.l, 20 * MS), 5);
	assert_int_equal(log.n, 5);
	assert_int_equal(log.ids[0], 100);
	assert_int_equal(log.at[0], 0);
	assert_int_equal(log.ids[1], 1);
	assert_int_equal(log.ids[2], 101);
	assert_int_equal(log.at[2], 10 * MS);
	assert_int_equal(log.ids[3], 102);
	assert_int_equal(log.ids[4], 2);
	assert_int_equal(loop_now(log.l), 20 * MS);
	loop_source_free(t1.src);
	loop_source_free(t2.src);
	loop_free(log.l);
}

/* ---- timers on the real clock ---- */

static void test_real_timer(void **state)
{
	struct tlog log = {0};
	struct tctx a = {0}, past = {0};
	uint64_t deadline;

	(void)state;
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &log.l), 0);
	deadline = loop_now(log.l) + 20 * MS;
	add_timer(&log, &a, 1, deadline);
	add_timer(&log, &past, 2, 0);

	/* The past one is due; the other is not, unless 20 ms really went by already. */
	assert_true(loop_run_once(log.l, 0) >= 1);
	assert_int_equal(log.ids[0], 2);
	if (loop_now(log.l) < deadline)
		assert_int_equal(log.n, 1);

	/* Each round waits for the timer, never returns it early. */
	run_until(log.l, &log.n, 2);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.ids[1], 1);
	assert_true(log.at[1] >= deadline);
	assert_int_equal(loop_run_once(log.l, 0), 0);

	loop_source_free(a.src);
	loop_source_free(past.src);
	assert_int_equal(loop_source_count(log.l), 0);
	loop_free(log.l);
}

static void test_real_timer_free_other_due(void **state)
{
	struct tlog log = {0};
	struct tctx a = {0}, b = {0};

	(void)state;
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &log.l), 0);
	add_timer(&log, &a, 1, 0);
	add_timer(&log, &b, 2, 0);
	a.free_other[0] = &b.src;
	assert_int_equal(loop_run_once(log.l, 0), 1);
	assert_int_equal(log.n, 1);
	assert_int_equal(log.ids[0], 1);
	assert_null(b.src);
	loop_source_free(a.src);
	assert_int_equal(loop_source_count(log.l), 0);
	loop_free(log.l);
}

/* ---- children ---- */

struct child_rec {
	int calls;
	pid_t pid;
	siginfo_t info;
	int wait_error;
	struct loop_source *self;
	bool free_self;
};

static void child_cb(struct loop_source *src, pid_t pid, const siginfo_t *info, int wait_error,
		     void *data)
{
	struct child_rec *r = data;

	r->calls++;
	r->pid = pid;
	r->info = *info;
	r->wait_error = wait_error;
	if (r->self)
		assert_ptr_equal(src, r->self);
	if (r->free_self)
		r->self = loop_source_free(r->self);
	reaped(pid);
}

static void assert_gone(pid_t pid)
{
	errno = 0;
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void test_child_exit(void **state)
{
	struct child_rec rec = {0};
	struct loop *l;
	pid_t pid;

	(void)state;
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &l), 0);
	pid = spawn(false, 7);
	assert_int_equal(loop_add_child(l, pid, child_cb, &rec, &rec.self), 0);
	assert_int_equal(loop_source_count(l), 1);
	run_until(l, &rec.calls, 1);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(rec.pid, pid);
	assert_int_equal(rec.wait_error, 0);
	assert_int_equal(rec.info.si_code, CLD_EXITED);
	assert_int_equal(rec.info.si_status, 7);
	assert_int_equal(rec.info.si_pid, pid);
	assert_gone(pid);

	/* Inert afterwards, but a source until freed. */
	assert_int_equal(loop_run_once(l, 0), 0);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(loop_child_kill(rec.self, SIGKILL), -ESRCH);
	assert_int_equal(loop_child_wait(rec.self, 0), 0);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(loop_source_count(l), 1);
	rec.self = loop_source_free(rec.self);
	assert_int_equal(loop_source_count(l), 0);
	loop_free(l);
}

/* Children on a virtual loop are delivered by loop_run_once like fds. */
static void test_child_exit_virtual(void **state)
{
	struct child_rec rec = {.free_self = true};
	struct loop *l;
	pid_t pid;

	(void)state;
	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &l), 0);
	pid = spawn(false, 0);
	assert_int_equal(loop_add_child(l, pid, child_cb, &rec, &rec.self), 0);
	run_until(l, &rec.calls, 1);
	assert_int_equal(rec.info.si_code, CLD_EXITED);
	assert_int_equal(rec.info.si_status, 0);
	assert_null(rec.self);
	assert_int_equal(loop_source_count(l), 0);
	assert_int_equal(loop_now(l), 0);
	assert_gone(pid);
	loop_free(l);
}

static void test_child_kill(void **state)
{
	struct child_rec rec = {.free_self = true};
	struct loop *l;
	pid_t pid;

	(void)state;
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &l), 0);
	pid = spawn(true, 0);
	assert_int_equal(loop_add_child(l, pid, child_cb, &rec, &rec.self), 0);
	assert_int_equal(loop_run_once(l, 0), 0);
	assert_int_equal(rec.calls, 0);
	assert_int_equal(loop_child_kill(rec.self, SIGKILL), 0);
	run_until(l, &rec.calls, 1);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(rec.pid, pid);
	assert_int_equal(rec.info.si_code, CLD_KILLED);
	assert_int_equal(rec.info.si_status, SIGKILL);
	assert_null(rec.self); /* freed itself from its callback */
	assert_int_equal(loop_source_count(l), 0);
	assert_gone(pid);
	loop_free(l);
}

static void test_child_wait(void **state)
{
	struct child_rec rec = {0};
	struct loop *l;
	pid_t pid;

	(void)state;
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &l), 0);
	pid = spawn(true, 0);
	assert_int_equal(loop_add_child(l, pid, child_cb, &rec, &rec.self), 0);
	assert_int_equal(loop_child_kill(rec.self, SIGKILL), 0);
	/* stop(): SIGKILL then wait, and the callback has run when it returns. */
	assert_int_equal(loop_child_wait(rec.self, CHILD_WAIT_NS), 0);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(rec.info.si_code, CLD_KILLED);
	assert_int_equal(rec.info.si_status, SIGKILL);
	assert_int_equal(rec.pid, pid);
	assert_gone(pid);
	/* Already delivered: returns at once and the loop does not call again. */
	assert_int_equal(loop_child_wait(rec.self, 0), 0);
	assert_int_equal(loop_run_once(l, 0), 0);
	assert_int_equal(rec.calls, 1);
	rec.self = loop_source_free(rec.self);
	assert_int_equal(loop_source_count(l), 0);
	loop_free(l);
}

static void test_child_wait_frees_in_callback(void **state)
{
	struct child_rec rec = {.free_self = true};
	struct loop *l;
	pid_t pid;

	(void)state;
	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &l), 0);
	pid = spawn(false, 3);
	assert_int_equal(loop_add_child(l, pid, child_cb, &rec, &rec.self), 0);
	assert_int_equal(loop_child_wait(rec.self, CHILD_WAIT_NS), 0);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(rec.info.si_code, CLD_EXITED);
	assert_int_equal(rec.info.si_status, 3);
	assert_null(rec.self);
	assert_int_equal(loop_source_count(l), 0);
	assert_gone(pid);
	loop_free(l);
}

static void test_child_wait_timeout(void **state)
{
	struct child_rec rec = {0};
	struct loop *l;
	uint64_t t0;
	pid_t pid;

	(void)state;
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &l), 0);
	pid = spawn(true, 0);
	assert_int_equal(loop_add_child(l, pid, child_cb, &rec, &rec.self), 0);
	avf_err_clear();
	t0 = loop_now(l);
	assert_int_equal(loop_child_wait(rec.self, 50 * MS), -ETIMEDOUT);
	assert_true(loop_now(l) - t0 >= 50 * MS);
	assert_int_equal(avf_err_last()->err, -ETIMEDOUT);
	assert_int_equal(rec.calls, 0);
	assert_int_equal(loop_child_wait(rec.self, 0), -ETIMEDOUT);
	/* Still alive and still ours. */
	assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);

	assert_int_equal(loop_child_kill(rec.self, SIGKILL), 0);
	assert_int_equal(loop_child_wait(rec.self, CHILD_WAIT_NS), 0);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(rec.info.si_code, CLD_KILLED);
	assert_gone(pid);
	loop_source_free(rec.self);
	loop_free(l);
}

static void test_child_esrch(void **state)
{
	struct loop_source *s, *sentinel = (struct loop_source *)&state;
	struct loop *l;
	pid_t pid;

	(void)state;
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &l), 0);
	pid = spawn(false, 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	reaped(pid);
	s = sentinel;
	avf_err_clear();
	assert_int_equal(loop_add_child(l, pid, child_cb, NULL, &s), -ESRCH);
	assert_ptr_equal(s, sentinel);
	assert_int_equal(avf_err_last()->err, -ESRCH);
	/* Above any pid_max: never exists. */
	assert_int_equal(loop_add_child(l, INT_MAX, child_cb, NULL, &s), -ESRCH);
	assert_ptr_equal(s, sentinel);
	assert_int_equal(loop_source_count(l), 0);
	loop_free(l);
}

/*
 * stop() from inside a callback: an fd callback waits for a child whose exit is
 * pending in the same round. The child callback runs exactly once either way.
 */
struct stopper {
	struct loop_source *child;
	int calls;
	int wait_ret;
};

static void stop_cb(struct loop_source *src, int fd, uint32_t revents, void *data)
{
	struct stopper *st = data;
	char c;

	(void)src, (void)revents;
	st->calls++;
	assert_int_equal(read(fd, &c, 1), 1);
	st->wait_ret = loop_child_wait(st->child, CHILD_WAIT_NS);
}

static void test_child_wait_in_callback(void **state)
{
	struct child_rec rec = {0};
	struct stopper st = {0};
	struct loop_source *fs;
	struct loop *l;
	siginfo_t si;
	pid_t pid;
	int p[2];

	(void)state;
	make_pipe(p);
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &l), 0);
	pid = spawn(false, 5);
	assert_int_equal(loop_add_child(l, pid, child_cb, &rec, &rec.self), 0);
	st.child = rec.self;
	assert_int_equal(loop_add_fd(l, p[0], EPOLLIN, stop_cb, &st, &fs), 0);
	/* Wait for the exit without reaping, so both events are ready in one round. */
	memset(&si, 0, sizeof(si));
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	write_byte(p[1]);
	run_until(l, &st.calls, 1);
	run_until(l, &rec.calls, 1);
	assert_int_equal(st.wait_ret, 0);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(rec.info.si_status, 5);
	assert_int_equal(loop_run_once(l, 0), 0);
	assert_int_equal(rec.calls, 1);
	assert_gone(pid);
	loop_source_free(fs);
	loop_source_free(rec.self);
	assert_int_equal(loop_source_count(l), 0);
	loop_free(l);
	close(p[0]);
	close(p[1]);
}

static void defer_nop(void *data)
{
	(void)data;
}

static void test_source_count(void **state)
{
	struct loop_source *f, *t, *c;
	struct child_rec rec = {0};
	struct loop *l;
	pid_t pid;
	int p[2];

	(void)state;
	make_pipe(p);
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &l), 0);
	pid = spawn(true, 0);
	assert_int_equal(loop_add_fd(l, p[0], EPOLLIN, fd_nop, NULL, &f), 0);
	assert_int_equal(loop_add_timer(l, UINT64_MAX, timer_nop, NULL, &t), 0);
	assert_int_equal(loop_add_child(l, pid, child_cb, &rec, &c), 0);
	assert_int_equal(loop_defer(l, defer_nop, NULL), 0);
	assert_int_equal(loop_source_count(l), 3);
	f = loop_source_free(f);
	assert_int_equal(loop_source_count(l), 2);
	t = loop_source_free(t);
	assert_int_equal(loop_source_count(l), 1);
	assert_int_equal(loop_child_kill(c, SIGKILL), 0);
	assert_int_equal(loop_child_wait(c, CHILD_WAIT_NS), 0);
	assert_int_equal(loop_source_count(l), 1);
	c = loop_source_free(c);
	assert_int_equal(loop_source_count(l), 0);
	assert_int_equal(loop_run_once(l, 0), 1); /* the deferred call, not a source */
	loop_free(l);
	close(p[0]);
	close(p[1]);
}

static void on_readable_count(struct loop_source *src, int fd, uint32_t revents, void *data)
{
	char b;
	(*(int *)data)++;
	assert_int_equal(read(fd, &b, 1), 1);
}

/* loop_fd() is pollable from outside: readable exactly while an fd source has input. */
static void test_loop_fd_pollable(void **state)
{
	struct loop *l;
	struct loop_source *src;
	int p[2], hits = 0;
	struct pollfd pfd;

	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &l), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(loop_add_fd(l, p[0], EPOLLIN, on_readable_count, &hits, &src), 0);
	pfd = (struct pollfd){.fd = loop_fd(l), .events = POLLIN};
	assert_true(loop_fd(l) >= 0);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(poll(&pfd, 1, 1000), 1);
	assert_int_equal(loop_run_once(l, 0), 1);
	assert_int_equal(hits, 1);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	loop_source_free(src);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_free),
	    cmocka_unit_test(test_invalid_args),
	    cmocka_unit_test_teardown(test_cloexec, reap_kids),
	    cmocka_unit_test(test_fd_readiness),
	    cmocka_unit_test(test_fd_set_events),
	    cmocka_unit_test(test_loop_fd_pollable),
	    cmocka_unit_test(test_fd_free_self),
	    cmocka_unit_test(test_fd_free_other_pending),
	    cmocka_unit_test(test_virtual_timer_order),
	    cmocka_unit_test(test_virtual_timer_heap),
	    cmocka_unit_test(test_timer_added_from_timer),
	    cmocka_unit_test(test_timer_free_from_timer),
	    cmocka_unit_test(test_virtual_run_once_ignores_timers),
	    cmocka_unit_test(test_defer_fifo),
	    cmocka_unit_test(test_defer_no_wait),
	    cmocka_unit_test(test_defer_in_advance),
	    cmocka_unit_test(test_real_timer),
	    cmocka_unit_test(test_real_timer_free_other_due),
	    cmocka_unit_test_teardown(test_child_exit, reap_kids),
	    cmocka_unit_test_teardown(test_child_exit_virtual, reap_kids),
	    cmocka_unit_test_teardown(test_child_kill, reap_kids),
	    cmocka_unit_test_teardown(test_child_wait, reap_kids),
	    cmocka_unit_test_teardown(test_child_wait_frees_in_callback, reap_kids),
	    cmocka_unit_test_teardown(test_child_wait_timeout, reap_kids),
	    cmocka_unit_test_teardown(test_child_esrch, reap_kids),
	    cmocka_unit_test_teardown(test_child_wait_in_callback, reap_kids),
	    cmocka_unit_test_teardown(test_source_count, reap_kids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
