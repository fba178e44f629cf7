/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loop: the single-threaded event loop every daemon and the in-process model run
 * on. epoll for fds, pidfd for children, a min-heap of timers on an injectable
 * clock, and deferred calls.
 *
 * Clock: a loop is created on the real CLOCK_MONOTONIC or on a virtual clock.
 * On a virtual clock time only moves when loop_advance() is called, which fires
 * every timer due up to the new time in deadline order (ties in creation order),
 * moving "now" to each timer's deadline before calling it. loop_run_once() on a
 * virtual clock never blocks for timers: it waits on fds only (up to its timeout).
 *
 * Sources: every add function returns a struct loop_source, owned by the caller
 * and released with loop_source_free() (accepts NULL, returns NULL). Freeing a
 * source from inside its own callback, or freeing another source whose event is
 * pending in the same dispatch round, is safe: it will not be called afterwards.
 * All fds the loop creates are O_CLOEXEC.
 *
 * Dispatch order within one loop_run_once(): deferred calls queued before the
 * round, then fd/child events, then due timers (real clock only). Callbacks may
 * add and free sources and queue deferred calls.
 */
#ifndef AVF_CORE_LOOP_LOOP_H
#define AVF_CORE_LOOP_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/wait.h>

struct loop;
struct loop_source;

enum loop_clock_kind {
	LOOP_CLOCK_MONOTONIC, /* CLOCK_MONOTONIC; honours libfaketime in scenarios */
	LOOP_CLOCK_VIRTUAL,   /* starts at 0, moved only by loop_advance() */
};

#define LOOP_NSEC_PER_SEC 1000000000ull
#define LOOP_NSEC_PER_MSEC 1000000ull

/* Events for loop_add_fd, same bits as epoll (EPOLLIN, EPOLLOUT, ...). */
typedef void (*loop_fd_fn)(struct loop_source *src, int fd, uint32_t revents, void *data);
/* @info is from waitid(P_PIDFD, ..., WEXITED): si_code CLD_EXITED/KILLED/DUMPED, si_status.
 * The child has been reaped when this runs. @wait_error is 0 or a negative errno if
 * waiting failed (then @info is zeroed). */
typedef void (*loop_child_fn)(struct loop_source *src, pid_t pid, const siginfo_t *info,
			      int wait_error, void *data);
typedef void (*loop_timer_fn)(struct loop_source *src, void *data);
typedef void (*loop_defer_fn)(void *data);

int loop_new(enum loop_clock_kind clock, struct loop **ret);
/*
 * Frees the loop (accepts NULL, returns NULL). All sources must have been freed
 * first: leftovers are a caller bug (assert in debug builds; in release builds they
 * are orphaned, and loop_source_free() on them then only releases their memory).
 * Deferred calls still queued are dropped without running.
 */
struct loop *loop_free(struct loop *l);

/* Nanoseconds on the loop's clock. */
uint64_t loop_now(const struct loop *l);
enum loop_clock_kind loop_clock(const struct loop *l);

/* Watch @fd (not owned: the caller closes it after freeing the source). */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *data,
		struct loop_source **ret);
int loop_fd_set_events(struct loop_source *src, uint32_t events);

/*
 * Watch child @pid with a pidfd (pidfd_open). The callback runs once, after the
 * child has exited and been reaped by the loop (waitid P_PIDFD). The source keeps
 * the pidfd: loop_child_pidfd() exposes it (e.g. for pidfd_send_signal).
 * -ESRCH if the pid does not exist; other -errno from pidfd_open.
 * Where pidfd_open is ENOSYS (kernel < 5.3, valgrind 3.19) the child is polled with
 * waitid(P_PID, WNOHANG) every 10 ms instead and loop_child_pidfd() gives -ENOSYS.
 * Freeing the source before the child exits leaves the child unreaped.
 */
int loop_add_child(struct loop *l, pid_t pid, loop_child_fn fn, void *data, struct loop_source **ret);
int loop_child_pidfd(const struct loop_source *src);
/* Send @sig to the child through its pidfd. -ESRCH if it already exited. */
int loop_child_kill(struct loop_source *src, int sig);
/*
 * Block until the child exits (bounded by @timeout_ns on the real clock; on a
 * virtual clock, by real time too), then run its callback synchronously before
 * returning. -ETIMEDOUT if it did not exit in time. Used by stop(): SIGKILL then
 * wait, so onDied has been delivered when stop() returns (AVF 4.6).
 */
int loop_child_wait(struct loop_source *src, uint64_t timeout_ns);

/* One-shot timer at absolute @deadline_ns on the loop's clock. Once fired it stays a
 * (counted, inert) source until loop_source_free(). */
int loop_add_timer(struct loop *l, uint64_t deadline_ns, loop_timer_fn fn, void *data,
		   struct loop_source **ret);

/*
 * Queue @fn(data) to run at the start of the next loop_run_once()/loop_advance()
 * round (FIFO). Not cancellable; cannot fail except -ENOMEM.
 */
int loop_defer(struct loop *l, loop_defer_fn fn, void *data);

/*
 * Run one round: deferred calls, then wait up to @timeout_ms (-1 = no limit, 0 =
 * poll) for fd/child events or the next real-clock timer, and dispatch them.
 * Returns the number of callbacks run (>= 0) or -errno. May return 0 before the
 * timeout (signal, polled children): callers loop.
 */
int loop_run_once(struct loop *l, int timeout_ms);

/*
 * Virtual clock only: run deferred calls, then move now forward by @delta_ns,
 * firing due timers in order (and the deferred calls they queue, before the next
 * timer). Returns callbacks run or -EINVAL on a real clock.
 */
int loop_advance(struct loop *l, uint64_t delta_ns);

/*
 * The earliest pending timer's deadline, if any (false when no timer is armed).
 * Lets a virtual-clock driver advance exactly to the next event.
 */
bool loop_next_timer(const struct loop *l, uint64_t *ret_deadline);

/*
 * The epoll fd: readable when an fd source or a pidfd child has an event. Timers,
 * deferred calls and children watched by polling (no pidfd) do not make it
 * readable. For embedding the loop in someone else's poll(); do not close it.
 */
int loop_fd(const struct loop *l);

/* Number of live sources (fds, children, timers): used by leak checks in tests. */
unsigned loop_source_count(const struct loop *l);

struct loop_source *loop_source_free(struct loop_source *src);

#endif
