/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loop: epoll for fds, pidfds for children, a binary min-heap of timers and a
 * FIFO of deferred calls. See loop.h for the contract.
 *
 * Lifetime rule: while a dispatch is under way (depth > 0), a freed source is
 * unhooked from epoll / the heap at once and marked dead, but its memory is
 * parked on a dead list until the outermost dispatch ends. The epoll_event
 * array and the lists of due timers / reaped children a round walks may still
 * point at it; the dead flag keeps it from being called.
 *
 * Children without a pidfd: pidfd_open() is missing before Linux 5.3 and is
 * rejected (ENOSYS) by valgrind 3.19, which the memcheck runs use. Such children
 * are polled with waitid(P_PID, WNOHANG) every CHILD_POLL_MS instead; kill()
 * stands in for pidfd_send_signal, which is safe from pid reuse as long as the
 * loop is the only reaper (the zombie holds the pid until we reap it).
 */
#include "loop/loop.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/avf_err.h"

#define LOOP_MAX_EVENTS 64
#define HEAP_NONE       SIZE_MAX
#define CHILD_POLL_MS   10

enum src_kind {
	SRC_FD,
	SRC_CHILD,
	SRC_TIMER,
};

struct loop_source {
	struct loop *loop; /* NULL once orphaned by loop_free() */
	enum src_kind kind;
	bool dead;
	void *data;
	struct loop_source *all_prev, *all_next; /* every live source of the loop */
	struct loop_source *dead_next;
	union {
		struct {
			int fd;
			loop_fd_fn fn;
		} fd;
		struct {
			pid_t pid;
			int pidfd;     /* -1: no pidfd support, polled (see top of file) */
			bool watched;  /* in epoll (pidfd) or on the poll list (no pidfd) */
			bool reaped;   /* exit status collected in info / wait_error */
			bool notified; /* callback has run (or is running) */
			int wait_error;
			siginfo_t info;
			struct loop_source *poll_prev, *poll_next;
			struct loop_source *ready_next;
			loop_child_fn fn;
		} child;
		struct {
			uint64_t deadline;
			uint64_t seq;
			size_t idx; /* position in the heap, HEAP_NONE when not in it */
			struct loop_source *due_next;
			loop_timer_fn fn;
		} timer;
	};
};

struct loop_defer_call {
	struct loop_defer_call *next;
	loop_defer_fn fn;
	void *data;
};

struct loop {
	enum loop_clock_kind clock;
	int epfd;
	uint64_t vnow; /* virtual clock only */
	unsigned n_sources;
	unsigned depth; /* nesting of dispatches under way */
	struct loop_source *all;
	struct loop_source *dead;
	struct loop_source *poll_children;
	struct loop_source **heap;
	size_t heap_len, heap_cap;
	uint64_t timer_seq;
	struct loop_defer_call *defer_head, *defer_tail;
};

static uint64_t mono_now(void)
{
	struct timespec ts;

	/* Plain clock_gettime, so libfaketime can scale it. Cannot fail for this clock. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * LOOP_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* Rounded up, so a wait never ends before the time it was computed for. */
static int ns_to_ms_ceil(uint64_t ns)
{
	uint64_t ms = ns / LOOP_NSEC_PER_MSEC + (ns % LOOP_NSEC_PER_MSEC != 0);

	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* ---- sources ---- */

static struct loop_source *source_new(struct loop *l, enum src_kind kind, void *data)
{
	struct loop_source *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->loop = l;
	s->kind = kind;
	s->data = data;
	return s;
}

static void source_link(struct loop *l, struct loop_source *s)
{
	s->all_next = l->all;
	if (l->all)
		l->all->all_prev = s;
	l->all = s;
	l->n_sources++;
}

static void source_unlink(struct loop *l, struct loop_source *s)
{
	if (s->all_prev)
		s->all_prev->all_next = s->all_next;
	else
		l->all = s->all_next;
	if (s->all_next)
		s->all_next->all_prev = s->all_prev;
	s->all_prev = s->all_next = NULL;
	l->n_sources--;
}

static void loop_enter(struct loop *l)
{
	l->depth++;
}

static void loop_leave(struct loop *l)
{
	struct loop_source *s;

	if (--l->depth > 0)
		return;
	while ((s = l->dead)) {
		l->dead = s->dead_next;
		free(s);
	}
}

/* ---- timer heap, ordered by (deadline, creation sequence) ---- */

static bool timer_before(const struct loop_source *a, const struct loop_source *b)
{
	if (a->timer.deadline != b->timer.deadline)
		return a->timer.deadline < b->timer.deadline;
	return a->timer.seq < b->timer.seq;
}

static void heap_set(struct loop *l, size_t i, struct loop_source *s)
{
	l->heap[i] = s;
	s->timer.idx = i;
}

static void heap_up(struct loop *l, size_t i)
{
	struct loop_source *s = l->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!timer_before(s, l->heap[parent]))
			break;
		heap_set(l, i, l->heap[parent]);
		i = parent;
	}
	heap_set(l, i, s);
}

static void heap_down(struct loop *l, size_t i)
{
	struct loop_source *s = l->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= l->heap_len)
			break;
		if (c + 1 < l->heap_len && timer_before(l->heap[c + 1], l->heap[c]))
			c++;
		if (!timer_before(l->heap[c], s))
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, s);
}

static int heap_reserve(struct loop *l)
{
	struct loop_source **h;
	size_t cap;

	if (l->heap_len < l->heap_cap)
		return 0;
	cap = l->heap_cap ? l->heap_cap * 2 : 16;
	h = realloc(l->heap, cap * sizeof(*h));
	if (!h)
		return avf_err_service(-ENOMEM, "loop: out of memory for timers");
	l->heap = h;
	l->heap_cap = cap;
	return 0;
}

static void heap_remove(struct loop *l, struct loop_source *s)
{
	size_t i = s->timer.idx;
	struct loop_source *last = l->heap[--l->heap_len];

	s->timer.idx = HEAP_NONE;
	if (last == s)
		return;
	/* The moved element may belong above or below its new slot. */
	heap_set(l, i, last);
	heap_down(l, i);
	heap_up(l, last->timer.idx);
}

/* ---- children ---- */

static void poll_list_del(struct loop *l, struct loop_source *s)
{
	if (s->child.poll_prev)
		s->child.poll_prev->child.poll_next = s->child.poll_next;
	else
		l->poll_children = s->child.poll_next;
	if (s->child.poll_next)
		s->child.poll_next->child.poll_prev = s->child.poll_prev;
	s->child.poll_prev = s->child.poll_next = NULL;
}

static void child_unwatch(struct loop_source *s)
{
	struct loop *l = s->loop;

	if (!s->child.watched || !l)
		return;
	s->child.watched = false;
	if (s->child.pidfd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->child.pidfd, NULL);
	else
		poll_list_del(l, s);
}

/*
 * Collect the exit status if the child has exited. True once reaped (or once
 * waiting failed, which is final too). WNOHANG: a readable pidfd should always
 * be reapable, but the loop must never block on it.
 */
static bool child_reap(struct loop_source *s)
{
	siginfo_t info;
	int r, e = 0;

	if (s->child.reaped)
		return true;
	do {
		memset(&info, 0, sizeof(info));
		if (s->child.pidfd >= 0)
			r = waitid((idtype_t)P_PIDFD, (id_t)s->child.pidfd, &info,
				   WEXITED | WNOHANG);
		else
			r = waitid(P_PID, (id_t)s->child.pid, &info, WEXITED | WNOHANG);
		e = r < 0 ? errno : 0;
	} while (e == EINTR);
	if (e) {
		memset(&info, 0, sizeof(info));
		s->child.wait_error =
		    avf_err_service(-e, "waitid(child %d): %s", (int)s->child.pid, strerror(e));
	} else if (info.si_pid == 0) {
		return false; /* still running */
	}
	s->child.info = info;
	s->child.reaped = true;
	child_unwatch(s);
	return true;
}

static int child_notify(struct loop_source *s)
{
	/* A copy, so the callback may free its source and still read @info. */
	siginfo_t info = s->child.info;

	s->child.notified = true;
	s->child.fn(s, s->child.pid, &info, s->child.wait_error, s->data);
	return 1;
}

/* Children without a pidfd: reap first, call back after, since callbacks may
 * free entries of the poll list. */
static int poll_children(struct loop *l)
{
	struct loop_source *s, *next, *ready = NULL, **tail = &ready;
	int n = 0;

	for (s = l->poll_children; s; s = next) {
		next = s->child.poll_next;
		if (!child_reap(s))
			continue;
		s->child.ready_next = NULL;
		*tail = s;
		tail = &s->child.ready_next;
	}
	for (s = ready; s; s = next) {
		next = s->child.ready_next;
		if (!s->dead && !s->child.notified)
			n += child_notify(s);
	}
	return n;
}

/* ---- loop ---- */

int loop_new(enum loop_clock_kind clock, struct loop **ret)
{
	struct loop *l;
	int r;

	if (!ret || ((int)clock != LOOP_CLOCK_MONOTONIC && (int)clock != LOOP_CLOCK_VIRTUAL))
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "loop_new: invalid argument");
	l = calloc(1, sizeof(*l));
	if (!l)
		return avf_err_service(-ENOMEM, "loop_new: out of memory");
	l->clock = clock;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		r = avf_err_service(-errno, "epoll_create1: %s", strerror(errno));
		goto fail;
	}
	*ret = l;
	return 0;
fail:
	free(l);
	return r;
}

struct loop *loop_free(struct loop *l)
{
	struct loop_source *s;
	struct loop_defer_call *d;

	if (!l)
		return NULL;
	/* Freeing a loop from its own callback or with live sources is a caller bug. */
	assert(l->depth == 0);
	assert(l->n_sources == 0);
	/* Release builds: orphan leftover sources so loop_source_free() on them later
	 * only frees their memory instead of touching the freed loop. */
	while ((s = l->all)) {
		l->all = s->all_next;
		s->loop = NULL;
		s->all_prev = s->all_next = NULL;
		if (s->kind == SRC_TIMER)
			s->timer.idx = HEAP_NONE;
		else if (s->kind == SRC_CHILD)
			s->child.watched = false;
	}
	while ((s = l->dead)) {
		l->dead = s->dead_next;
		free(s);
	}
	while ((d = l->defer_head)) {
		l->defer_head = d->next;
		free(d);
	}
	free(l->heap);
	close(l->epfd);
	free(l);
	return NULL;
}

uint64_t loop_now(const struct loop *l)
{
	if (l && l->clock == LOOP_CLOCK_VIRTUAL)
		return l->vnow;
	return mono_now();
}

enum loop_clock_kind loop_clock(const struct loop *l)
{
	return l->clock;
}

bool loop_next_timer(const struct loop *l, uint64_t *ret_deadline)
{
	/* Freed timers leave the heap at once, so its top is the next live deadline. */
	if (!l->heap_len)
		return false;
	*ret_deadline = l->heap[0]->timer.deadline;
	return true;
}

int loop_fd(const struct loop *l)
{
	return l->epfd;
}

unsigned loop_source_count(const struct loop *l)
{
	return l ? l->n_sources : 0;
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *data,
		struct loop_source **ret)
{
	struct epoll_event ev = {.events = events};
	struct loop_source *s;
	int r;

	if (!l || fd < 0 || !fn || !ret)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "loop_add_fd: invalid argument");
	s = source_new(l, SRC_FD, data);
	if (!s)
		return avf_err_service(-ENOMEM, "loop_add_fd: out of memory");
	s->fd.fd = fd;
	s->fd.fn = fn;
	ev.data.ptr = s;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		r = avf_err_service(-errno, "epoll_ctl(ADD, fd %d): %s", fd, strerror(errno));
		goto fail;
	}
	source_link(l, s);
	*ret = s;
	return 0;
fail:
	free(s);
	return r;
}

int loop_fd_set_events(struct loop_source *src, uint32_t events)
{
	struct epoll_event ev = {.events = events};

	if (!src || src->kind != SRC_FD || src->dead || !src->loop)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "loop_fd_set_events: not a live fd source");
	ev.data.ptr = src;
	if (epoll_ctl(src->loop->epfd, EPOLL_CTL_MOD, src->fd.fd, &ev) < 0)
		return avf_err_service(-errno, "epoll_ctl(MOD, fd %d): %s", src->fd.fd,
				       strerror(errno));
	return 0;
}

int loop_add_child(struct loop *l, pid_t pid, loop_child_fn fn, void *data,
		   struct loop_source **ret)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct loop_source *s;
	int r, e;

	if (!l || pid <= 0 || !fn || !ret)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "loop_add_child: invalid argument");
	s = source_new(l, SRC_CHILD, data);
	if (!s)
		return avf_err_service(-ENOMEM, "loop_add_child: out of memory");
	s->child.pid = pid;
	s->child.fn = fn;
	s->child.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	e = s->child.pidfd < 0 ? errno : 0;
	if (e == ENOSYS) {
		/* Polling fallback (top of file); kill(pid, 0) keeps the -ESRCH contract. */
		if (kill(pid, 0) < 0 && errno == ESRCH) {
			r = avf_err_service(-ESRCH, "child %d does not exist", (int)pid);
			goto fail;
		}
		s->child.poll_next = l->poll_children;
		if (l->poll_children)
			l->poll_children->child.poll_prev = s;
		l->poll_children = s;
	} else if (e) {
		r = avf_err_service(-e, "pidfd_open(%d): %s", (int)pid,
				    e == ESRCH ? "no such process" : strerror(e));
		goto fail;
	} else {
		/* The kernel already makes pidfds O_CLOEXEC; say so explicitly anyway. */
		if (fcntl(s->child.pidfd, F_SETFD, FD_CLOEXEC) < 0) {
			r = avf_err_service(-errno, "fcntl(pidfd): %s", strerror(errno));
			goto fail;
		}
		ev.data.ptr = s;
		if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, s->child.pidfd, &ev) < 0) {
			r = avf_err_service(-errno, "epoll_ctl(ADD, pidfd): %s", strerror(errno));
			goto fail;
		}
	}
	s->child.watched = true;
	source_link(l, s);
	*ret = s;
	return 0;
fail:
	if (s->child.pidfd >= 0)
		close(s->child.pidfd);
	free(s);
	return r;
}

int loop_child_pidfd(const struct loop_source *src)
{
	if (!src || src->kind != SRC_CHILD || src->dead)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "loop_child_pidfd: not a live child source");
	if (src->child.pidfd < 0)
		return avf_err_service(-ENOSYS, "child %d is watched without a pidfd",
				       (int)src->child.pid);
	return src->child.pidfd;
}

int loop_child_kill(struct loop_source *src, int sig)
{
	int r;

	if (!src || src->kind != SRC_CHILD || src->dead)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "loop_child_kill: not a live child source");
	if (src->child.reaped)
		return avf_err_service(-ESRCH, "child %d already exited", (int)src->child.pid);
	if (src->child.pidfd >= 0)
		r = (int)syscall(SYS_pidfd_send_signal, src->child.pidfd, sig, NULL, 0);
	else
		r = kill(src->child.pid, sig); /* not reaped yet, so the pid is still ours */
	if (r < 0)
		return avf_err_service(-errno, "signal %d to child %d: %s", sig,
				       (int)src->child.pid, strerror(errno));
	return 0;
}

int loop_child_wait(struct loop_source *src, uint64_t timeout_ns)
{
	struct pollfd p = {.events = POLLIN};
	uint64_t now, deadline;
	struct loop *l;
	int ms;

	if (!src || src->kind != SRC_CHILD || src->dead || !src->loop)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "loop_child_wait: not a live child source");
	if (src->child.notified)
		return 0;
	/* Real time on either clock kind: a virtual loop's time would never move here. */
	now = mono_now();
	deadline = add_sat(now, timeout_ns);
	while (!child_reap(src)) {
		if (now >= deadline)
			return avf_err_service(
			    -ETIMEDOUT, "child %d did not exit within %llu ms", (int)src->child.pid,
			    (unsigned long long)(timeout_ns / LOOP_NSEC_PER_MSEC));
		ms = ns_to_ms_ceil(deadline - now);
		/* Without a pidfd, poll() ignores the negative fd and just sleeps a tick. */
		p.fd = src->child.pidfd;
		if (p.fd < 0 && ms > CHILD_POLL_MS)
			ms = CHILD_POLL_MS;
		if (poll(&p, 1, ms) < 0 && errno != EINTR)
			return avf_err_service(-errno, "poll(pidfd of child %d): %s",
					       (int)src->child.pid, strerror(errno));
		now = mono_now();
	}
	/* Counts as a dispatch: the callback may free @src, which must outlive this call. */
	l = src->loop;
	loop_enter(l);
	child_notify(src);
	loop_leave(l);
	return 0;
}

int loop_add_timer(struct loop *l, uint64_t deadline_ns, loop_timer_fn fn, void *data,
		   struct loop_source **ret)
{
	struct loop_source *s;
	int r;

	if (!l || !fn || !ret)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "loop_add_timer: invalid argument");
	s = source_new(l, SRC_TIMER, data);
	if (!s)
		return avf_err_service(-ENOMEM, "loop_add_timer: out of memory");
	r = heap_reserve(l);
	if (r < 0)
		goto fail;
	s->timer.deadline = deadline_ns;
	s->timer.seq = l->timer_seq++;
	s->timer.fn = fn;
	l->heap[l->heap_len++] = s;
	heap_up(l, l->heap_len - 1);
	source_link(l, s);
	*ret = s;
	return 0;
fail:
	free(s);
	return r;
}

int loop_defer(struct loop *l, loop_defer_fn fn, void *data)
{
	struct loop_defer_call *d;

	if (!l || !fn)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "loop_defer: invalid argument");
	d = malloc(sizeof(*d));
	if (!d)
		return avf_err_service(-ENOMEM, "loop_defer: out of memory");
	d->next = NULL;
	d->fn = fn;
	d->data = data;
	if (l->defer_tail)
		l->defer_tail->next = d;
	else
		l->defer_head = d;
	l->defer_tail = d;
	return 0;
}

/* Run the calls queued so far; those they queue wait for the next round. */
static int run_deferred(struct loop *l)
{
	struct loop_defer_call *d = l->defer_head, *next;
	loop_defer_fn fn;
	void *data;
	int n = 0;

	l->defer_head = l->defer_tail = NULL;
	for (; d; d = next) {
		next = d->next;
		fn = d->fn;
		data = d->data;
		free(d);
		fn(data);
		n++;
	}
	return n;
}

static int dispatch_event(struct loop_source *s, uint32_t revents)
{
	if (s->dead)
		return 0;
	if (s->kind == SRC_FD) {
		s->fd.fn(s, s->fd.fd, revents, s->data);
		return 1;
	}
	/* Child: already delivered by loop_child_wait(), or not reapable yet. */
	if (s->child.notified || !child_reap(s))
		return 0;
	return child_notify(s);
}

/*
 * Real clock: take every due timer out of the heap first, then call them. Timers
 * added by these callbacks wait for the next round (with a zero wait if already
 * due), so a timer re-armed at "now" cannot keep one round running forever.
 */
static int fire_due_timers(struct loop *l, uint64_t now)
{
	struct loop_source *due = NULL, **tail = &due, *s, *next;
	int n = 0;

	while (l->heap_len && l->heap[0]->timer.deadline <= now) {
		s = l->heap[0];
		heap_remove(l, s);
		s->timer.due_next = NULL;
		*tail = s;
		tail = &s->timer.due_next;
	}
	for (s = due; s; s = next) {
		next = s->timer.due_next;
		if (s->dead)
			continue;
		s->timer.fn(s, s->data);
		n++;
	}
	return n;
}

static int wait_timeout(const struct loop *l, int timeout_ms)
{
	uint64_t now, next;
	int t;

	if (timeout_ms < 0)
		timeout_ms = -1;
	if (l->poll_children && (timeout_ms < 0 || timeout_ms > CHILD_POLL_MS))
		timeout_ms = CHILD_POLL_MS;
	if (l->clock != LOOP_CLOCK_MONOTONIC || !l->heap_len)
		return timeout_ms;
	now = mono_now();
	next = l->heap[0]->timer.deadline;
	t = next <= now ? 0 : ns_to_ms_ceil(next - now);
	return timeout_ms < 0 || t < timeout_ms ? t : timeout_ms;
}

/*
 * May return 0 before @timeout_ms when the wait was cut short: by a signal
 * (EINTR, so the caller can look at its flags), by a timer whose time has not
 * quite come, or by the polling tick of children without a pidfd.
 */
int loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event ev[LOOP_MAX_EVENTS];
	int i, n, ran, r;

	if (!l)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "loop_run_once: no loop");
	loop_enter(l);
	ran = run_deferred(l);
	n = epoll_wait(l->epfd, ev, LOOP_MAX_EVENTS, ran > 0 ? 0 : wait_timeout(l, timeout_ms));
	if (n < 0) {
		if (errno != EINTR) {
			r = avf_err_service(-errno, "epoll_wait: %s", strerror(errno));
			goto out;
		}
		n = 0;
	}
	for (i = 0; i < n; i++)
		ran += dispatch_event(ev[i].data.ptr, ev[i].events);
	if (l->poll_children)
		ran += poll_children(l);
	if (l->clock == LOOP_CLOCK_MONOTONIC)
		ran += fire_due_timers(l, mono_now());
	r = ran;
out:
	loop_leave(l);
	return r;
}

int loop_advance(struct loop *l, uint64_t delta_ns)
{
	struct loop_source *s;
	uint64_t target;
	int ran;

	if (!l)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "loop_advance: no loop");
	if (l->clock != LOOP_CLOCK_VIRTUAL)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_STATE,
				   "loop_advance: the loop runs on the real clock");
	target = add_sat(l->vnow, delta_ns);
	loop_enter(l);
	ran = run_deferred(l);
	/* Re-read the heap top each time: callbacks may add timers due before @target. */
	while (l->heap_len && l->heap[0]->timer.deadline <= target) {
		s = l->heap[0];
		heap_remove(l, s);
		/* A timer added with a past deadline fires "now": time never goes back. */
		if (s->timer.deadline > l->vnow)
			l->vnow = s->timer.deadline;
		s->timer.fn(s, s->data);
		ran++;
		ran += run_deferred(l);
	}
	l->vnow = target;
	loop_leave(l);
	return ran;
}

struct loop_source *loop_source_free(struct loop_source *src)
{
	struct loop *l;

	if (!src)
		return NULL;
	assert(!src->dead); /* double free inside one dispatch */
	if (src->dead)
		return NULL;
	l = src->loop;
	src->dead = true;
	switch (src->kind) {
	case SRC_FD:
		/* Fails only if the caller closed the fd first; nothing to undo then. */
		if (l)
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, src->fd.fd, NULL);
		break;
	case SRC_CHILD:
		child_unwatch(src);
		if (src->child.pidfd >= 0)
			close(src->child.pidfd);
		src->child.pidfd = -1;
		break;
	case SRC_TIMER:
		if (l && src->timer.idx != HEAP_NONE)
			heap_remove(l, src);
		break;
	}
	if (l) {
		source_unlink(l, src);
		if (l->depth > 0) {
			src->dead_next = l->dead;
			l->dead = src;
			return NULL;
		}
	}
	free(src);
	return NULL;
}
