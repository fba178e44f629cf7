/* SPDX-License-Identifier: Apache-2.0 */
#include "backends/vmm_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/avf_err.h"

#define CONTROL_BACKLOG 128 /* A15 (crosvm's helper) */

struct backend_child {
	struct backend *be;
	struct vmm_process_stats *stats;
	const struct backend_sink *sink;
	void *sink_ctx;
	char actor[TRACE_ACTOR_MAX];
	pid_t pid;
	struct loop_source *child_src; /* set until the child is reaped */
	const struct vmm_channel_ops *channel;
	void *channel_msg;
	int guest_fd;
	struct loop_source *guest_src;
	int failure_fd;
	struct loop_source *failure_src;
	char *failure; /* VMM_PROCESS_FAILURE_MAX + 1 bytes, NUL-terminated */
	size_t failure_len;
	char *control_path; /* socket file we bound; removed when the VMM exits */
	struct sockaddr_un control_addr; /* where a stop connects (a path, or autobound) */
	socklen_t control_addr_len;
	char *temp_dir;     /* the VM's directory (a copy of the params'); NULL: none */
	uint32_t cid;
	unsigned busy;      /* sink calls of ours on the stack */
	bool silent;        /* free() reaps it: no report */
	bool free_pending;  /* free() ran inside one of our sink calls */
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- the running child ---- */

static void child_destroy(struct backend_child *c)
{
	loop_source_free(c->child_src);
	loop_source_free(c->guest_src);
	loop_source_free(c->failure_src);
	close_fd(&c->guest_fd);
	close_fd(&c->failure_fd);
	if (c->control_path)
		unlink(c->control_path);
	free(c->control_path);
	free(c->temp_dir);
	free(c->failure);
	free(c->channel_msg);
	c->stats->live--;
	free(c);
}

/* End of one of our sink calls: finish a free() that ran inside it. */
static void child_release(struct backend_child *c)
{
	if (--c->busy == 0 && c->free_pending)
		child_destroy(c);
}

static void guest_close(struct backend_child *c)
{
	c->guest_src = loop_source_free(c->guest_src);
	close_fd(&c->guest_fd);
}

static void failure_close(struct backend_child *c)
{
	c->failure_src = loop_source_free(c->failure_src);
	close_fd(&c->failure_fd);
}

/* Read what the guest wrote so far; true at EOF (or on an error, which ends it too). */
static bool failure_read(struct backend_child *c)
{
	char buf[4096];
	ssize_t n;
	size_t take;

	for (;;) {
		n = read(c->failure_fd, buf, sizeof(buf));
		if (n > 0) {
			/* Past the cap, keep reading (and dropping) so the guest never blocks. */
			take = (size_t)n;
			if (take > VMM_PROCESS_FAILURE_MAX - c->failure_len)
				take = VMM_PROCESS_FAILURE_MAX - c->failure_len;
			memcpy(c->failure + c->failure_len, buf, take);
			c->failure_len += take;
			c->failure[c->failure_len] = '\0';
		} else if (n == 0) {
			return true;
		} else if (errno != EINTR) {
			return errno != EAGAIN && errno != EWOULDBLOCK;
		}
	}
}

static void on_failure(struct loop_source *src, int fd, uint32_t revents, void *data)
{
	struct backend_child *c = data;

	if (failure_read(c))
		failure_close(c);
}

static void on_guest(struct loop_source *src, int fd, uint32_t revents, void *data)
{
	struct backend_child *c = data;
	struct guest_event ev;
	int r;

	r = c->channel->recv(fd, c->channel_msg, &ev);
	if (r == -EAGAIN)
		return;
	/* A VMM killed with our last reply unread resets the socket: that is its end
	 * all the same (as core/ipc reads it), not a broken channel. */
	if (r == -ECONNRESET)
		r = 0;
	if (r <= 0) {
		/* EOF: the VMM is going, its exit follows. Garbage: it loses the channel. */
		if (r < 0)
			trace_emitf(c->be->trace, c->actor, "guest channel dropped: %s",
				    avf_err_last()->msg);
		guest_close(c);
		return;
	}
	c->busy++;
	r = c->sink->guest(c->sink_ctx, &ev);
	/* The sink may have killed the VMM (channel closed) or freed us (free_pending). */
	if (!c->free_pending && c->guest_fd >= 0 &&
	    c->channel->reply(c->guest_fd, c->channel_msg, r) < 0) {
		trace_emitf(c->be->trace, c->actor, "guest channel dropped: %s",
			    avf_err_last()->msg);
		guest_close(c);
	}
	child_release(c);
}

static void on_child_exit(struct loop_source *src, pid_t pid, const siginfo_t *info, int wait_error,
			  void *data)
{
	struct backend_child *c = data;
	struct vm_exit e = {0};

	c->child_src = loop_source_free(c->child_src);
	/* Our write end went at spawn and the child's with it: this reads to EOF. */
	if (c->failure_fd >= 0)
		failure_read(c);
	failure_close(c);
	guest_close(c);
	if (c->control_path) {
		unlink(c->control_path);
		free(c->control_path);
		c->control_path = NULL;
	}
	if (c->silent)
		return;
	if (wait_error) {
		e.wait_failed = true;
	} else {
		/* waitid's view of vm_exit_from_wait_status(): CLD_KILLED/DUMPED are signals */
		e.signaled = info->si_code != CLD_EXITED;
		e.code = info->si_status;
	}
	e.failure = c->failure;
	c->busy++;
	/* The last thing done with @c: the sink may kill, stop or free (see child_release). */
	c->sink->exited(c->sink_ctx, &e);
	child_release(c);
}

/* ---- spawn ---- */

/* Between fork and exec: async-signal-safe calls only. Never returns. */
static void __attribute__((noreturn))
child_exec(const char *path, char **argv, const int *keep, size_t n_keep, int log_fd, int status_fd,
	   pid_t parent)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;
	int err;

	/* The manager's blocked or ignored signals must not leak into the VMM. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	sigaction(SIGPIPE, &dfl, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		goto fail;
	/* The manager died before prctl: nobody would ever kill us. */
	if (getppid() != parent) {
		errno = ESRCH;
		goto fail;
	}
	if (log_fd > 2 && (dup2(log_fd, STDOUT_FILENO) < 0 || dup2(log_fd, STDERR_FILENO) < 0))
		goto fail;
	/* fds the manager itself inherited without CLOEXEC are not the VMM's either
	 * (best effort: close_range needs Linux 5.11). */
	close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
	/* Same numbers in the VMM as here: only the close-on-exec flag goes. */
	for (size_t i = 0; i < n_keep; i++)
		if (fcntl(keep[i], F_SETFD, 0) < 0)
			goto fail;
	execv(path, argv);
fail:
	err = errno;
	if (write(status_fd, &err, sizeof(err)) < 0)
		err = 0; /* nothing left to tell anyone */
	_exit(127);
}

static int control_socket(const char *temp_dir, struct backend_child *c, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	/* Without a temp dir: autobind, the kernel picks an abstract address. */
	socklen_t len = sizeof(sa_family_t);
	int fd, r;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return avf_err_service(-errno, "control socket: %s", strerror(errno));
	if (temp_dir) {
		if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", temp_dir,
				     VMM_PROCESS_CONTROL_SOCKET) >= sizeof(sa.sun_path)) {
			r = avf_err_service(-ENAMETOOLONG,
					    "control socket path '%s/%s' is too long", temp_dir,
					    VMM_PROCESS_CONTROL_SOCKET);
			goto fail;
		}
		len = sizeof(sa);
	}
	if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
		r = avf_err_service(-errno, "bind control socket '%s': %s",
				    temp_dir ? sa.sun_path : "(autobind)", strerror(errno));
		goto fail;
	}
	if (temp_dir && !(c->control_path = strdup(sa.sun_path))) {
		unlink(sa.sun_path);
		r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
		goto fail;
	}
	if (listen(fd, CONTROL_BACKLOG) < 0) {
		r = avf_err_service(-errno, "listen on control socket: %s", strerror(errno));
		goto fail;
	}
	/* The address a stop connects to: the path, or the abstract one autobind picked. */
	c->control_addr_len = sizeof(c->control_addr);
	if (getsockname(fd, (struct sockaddr *)&c->control_addr, &c->control_addr_len) < 0) {
		r = avf_err_service(-errno, "control socket: getsockname: %s", strerror(errno));
		goto fail;
	}
	*ret_fd = fd;
	return 0;
fail:
	close(fd);
	return r;
}

struct fd_slot {
	const char *placeholder;
	int fd;
};

/*
 * @w with every placeholder replaced by its fd number. Only right after
 * /proc/self/fd/, where the builders put them: a kernel parameter that happens to
 * contain "{kernel}" stays as it is.
 */
static char *subst_word(const char *w, const struct fd_slot *slots, size_t n)
{
	const size_t plen = strlen(CROSVM_PROC_FD);
	const char *start = w;
	size_t i, len = 0, size = strlen(w) + 1;
	char *out, *o;

	/* Each placeholder starts with '{' and becomes at most 11 characters ("%d"). */
	for (const char *p = w; (p = strchr(p, '{')); p++)
		size += 11;
	out = o = malloc(size);
	if (!out)
		return NULL;
	while (*w) {
		i = n;
		if ((size_t)(w - start) >= plen && strncmp(w - plen, CROSVM_PROC_FD, plen) == 0)
			for (i = 0; i < n; i++) {
				len = strlen(slots[i].placeholder);
				if (strncmp(w, slots[i].placeholder, len) == 0)
					break;
			}
		if (i < n) {
			o += sprintf(o, "%d", slots[i].fd);
			w += len;
		} else {
			*o++ = *w++;
		}
	}
	*o = '\0';
	return out;
}

static char **subst_argv(const struct backend_plan *plan, const struct fd_slot *slots, size_t n)
{
	char **argv = calloc(plan->argc + 1, sizeof(*argv));

	for (size_t i = 0; argv && i < plan->argc; i++) {
		argv[i] = subst_word(plan->argv[i], slots, n);
		if (!argv[i]) {
			while (i--)
				free(argv[i]);
			free(argv);
			argv = NULL;
		}
	}
	return argv;
}

static void free_argv(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* What spawn() creates, all close-on-exec; the child's ends go right after the fork. */
struct spawn_fds {
	int fail[2], chan[2], status[2], ctl;
	int *io; /* our duplicates of the slots' fds, for the VMM */
	size_t n_io;
};

static void spawn_fds_close_child_ends(struct spawn_fds *f)
{
	close_fd(&f->fail[1]);
	close_fd(&f->chan[1]);
	close_fd(&f->ctl);
	close_fd(&f->status[1]);
	for (size_t i = 0; f->io && i < f->n_io; i++)
		close_fd(&f->io[i]);
}

static void spawn_fds_close(struct spawn_fds *f)
{
	spawn_fds_close_child_ends(f);
	close_fd(&f->fail[0]);
	close_fd(&f->chan[0]);
	close_fd(&f->status[0]);
	free(f->io);
	f->io = NULL;
}

/* Exec failed, or we cannot watch the child: it must not outlive spawn(). */
static void reap_now(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Read the status pipe: EOF means exec worked (it is close-on-exec); an int is exec's errno. */
static int exec_result(const char *path, int status_fd)
{
	ssize_t n;
	int err = 0;

	do
		n = read(status_fd, &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n < 0)
		err = errno;
	else if (n != sizeof(err) || err == 0)
		err = EIO;
	return avf_err_service(-err, "cannot run VMM '%s': %s", path, strerror(err));
}

static int prepare_fds(const struct vmm_process_params *p, struct backend_child *c,
		       struct spawn_fds *f, struct fd_slot *slots, size_t *ret_n_slots)
{
	const struct crosvm_slots *in = p->slots;
	size_t n = 0;
	int r;

	if (pipe2(f->fail, O_CLOEXEC) < 0 || pipe2(f->status, O_CLOEXEC) < 0 ||
	    (p->channel && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, f->chan) < 0))
		return avf_err_service(-errno, "creating the VMM's pipes: %s", strerror(errno));
	r = control_socket(p->temp_dir, c, &f->ctl);
	if (r < 0)
		return r;
	/* Our own copies of the manager's fds, above 2 (the VMM's stdio may be replaced)
	 * and close-on-exec here; closed once the child has them. */
	f->io = calloc(in->n ? in->n : 1, sizeof(*f->io));
	if (!f->io)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory spawning VMM");
	for (size_t i = 0; i < in->n; i++)
		f->io[i] = -1;
	f->n_io = in->n;
	for (size_t i = 0; i < in->n; i++) {
		f->io[i] = fcntl(in->v[i].fd, F_DUPFD_CLOEXEC, 3);
		if (f->io[i] < 0)
			return avf_err_service(-errno, "%s fd %d: %s", in->v[i].name, in->v[i].fd,
					       strerror(errno));
		slots[n++] = (struct fd_slot){in->v[i].name, f->io[i]};
	}
	slots[n++] = (struct fd_slot){CROSVM_FD_FAILURE, f->fail[1]};
	slots[n++] = (struct fd_slot){CROSVM_FD_CONTROL, f->ctl};
	if (p->channel)
		slots[n++] = (struct fd_slot){p->channel->slot, f->chan[1]};
	*ret_n_slots = n;
	return 0;
}

/* The parent's side once exec worked: watch the child, its failure pipe and its channel. */
static int watch(struct backend *be, struct backend_child *c, struct spawn_fds *f)
{
	int r;

	c->guest_fd = f->chan[0];
	c->failure_fd = f->fail[0];
	f->chan[0] = f->fail[0] = -1;
	if (fcntl(c->failure_fd, F_SETFL, O_NONBLOCK) < 0)
		return avf_err_service(-errno, "fcntl(failure pipe): %s", strerror(errno));
	r = loop_add_child(be->loop, c->pid, on_child_exit, c, &c->child_src);
	if (r == 0 && c->guest_fd >= 0)
		r = loop_add_fd(be->loop, c->guest_fd, EPOLLIN, on_guest, c, &c->guest_src);
	if (r == 0)
		r = loop_add_fd(be->loop, c->failure_fd, EPOLLIN, on_failure, c, &c->failure_src);
	return r;
}

static void child_abandon(struct backend_child *c)
{
	if (!c)
		return;
	c->child_src = loop_source_free(c->child_src);
	c->guest_src = loop_source_free(c->guest_src);
	c->failure_src = loop_source_free(c->failure_src);
	close_fd(&c->guest_fd);
	close_fd(&c->failure_fd);
	if (c->control_path)
		unlink(c->control_path);
	free(c->control_path);
	free(c->temp_dir);
	free(c->failure);
	free(c->channel_msg);
	free(c);
}

uint32_t vmm_process_cid(const struct backend_child *c)
{
	return c->cid;
}

const char *vmm_process_temp_dir(const struct backend_child *c)
{
	return c->temp_dir;
}

bool vmm_process_running(const struct backend_child *c)
{
	return c->child_src != NULL;
}

int vmm_process_spawn(struct backend *be, const struct vmm_process_params *p,
		      const struct backend_sink *sink, void *sink_ctx, struct backend_child **ret)
{
	const struct backend_plan *plan = p->plan;
	struct spawn_fds f = {{-1, -1}, {-1, -1}, {-1, -1}, -1, NULL, 0};
	struct backend_child *c = NULL;
	struct fd_slot *slots = NULL;
	char **argv = NULL;
	int *keep = NULL, r;
	size_t n_keep = 0, n_slots = 0;
	pid_t pid = -1, parent = getpid();

	for (size_t i = 0; i < plan->n_fds; i++)
		if (plan->fds[i].parent_fd != plan->fds[i].child_fd)
			return avf_err_set(
			    -EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
			    "fd %d would be renumbered to %d: VMM fds keep their numbers",
			    plan->fds[i].parent_fd, plan->fds[i].child_fd);
	c = calloc(1, sizeof(*c));
	/* Before any goto fail: child_abandon() closes these, and 0 is stdin. */
	if (c)
		c->guest_fd = c->failure_fd = -1;
	slots = calloc(p->slots->n + 3, sizeof(*slots));
	keep = calloc(plan->n_fds + p->slots->n + 3, sizeof(*keep));
	if (!c || !slots || !keep || !(c->failure = calloc(1, VMM_PROCESS_FAILURE_MAX + 1)) ||
	    (p->channel && !(c->channel_msg = calloc(1, p->channel->msg_size))) ||
	    (p->temp_dir && !(c->temp_dir = strdup(p->temp_dir)))) {
		r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory spawning VMM");
		goto fail;
	}
	c->be = be;
	c->cid = p->cid;
	c->stats = p->stats;
	c->sink = sink;
	c->sink_ctx = sink_ctx;
	c->channel = p->channel;
	c->guest_fd = c->failure_fd = -1;
	snprintf(c->actor, sizeof(c->actor), "vmm:%u", p->cid);
	if ((r = prepare_fds(p, c, &f, slots, &n_slots)) < 0)
		goto fail;
	for (size_t i = 0; i < n_slots; i++)
		keep[n_keep++] = slots[i].fd;
	for (size_t i = 0; i < plan->n_fds; i++)
		keep[n_keep++] = plan->fds[i].parent_fd;
	argv = subst_argv(plan, slots, n_slots);
	if (!argv) {
		r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory spawning VMM");
		goto fail;
	}

	pid = fork();
	if (pid < 0) {
		r = avf_err_service(-errno, "fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0)
		child_exec(p->path, argv, keep, n_keep, p->log_fd, f.status[1], parent);

	/* The child's ends go now, or the pipe and the channel would never see EOF. */
	spawn_fds_close_child_ends(&f);
	if ((r = exec_result(p->path, f.status[0])) < 0)
		goto fail;
	c->pid = pid;
	if ((r = watch(be, c, &f)) < 0)
		goto fail;
	p->stats->live++;
	p->stats->last_pid = pid;
	/* Names the VMM's pid so trace readers (the scenario runner) can label its lines. */
	trace_emitf(be->trace, c->actor, "VMM started (pid %d)", (int)pid);
	*ret = c;
	c = NULL;
	pid = -1;
	r = 0;
fail:
	if (c)
		c->child_src = loop_source_free(c->child_src); /* before reaping: ours to reap */
	if (pid > 0)
		reap_now(pid);
	child_abandon(c);
	spawn_fds_close(&f);
	free_argv(argv);
	free(slots);
	free(keep);
	return r;
}

int vmm_process_kill(struct backend_child *c)
{
	int r;

	if (!c->child_src)
		return avf_err_service(-ESRCH, "VMM already exited");
	trace_emitf(c->be->trace, c->actor, "SIGKILL");
	r = loop_child_kill(c->child_src, SIGKILL);
	if (r < 0 && r != -ESRCH)
		return r;
	/* Runs on_child_exit (and so sink->exited) before returning; @c may be gone after. */
	return loop_child_wait(c->child_src, VMM_PROCESS_KILL_TIMEOUT_NS);
}

/*
 * crosvm's `crosvm stop`: connect to the control socket, send the request "Exit" (the
 * JSON string: serde's form of the unit variant VmRequest::Exit, crosvm-spec §7), one
 * SOCK_SEQPACKET packet. The connection is returned (non-blocking) to read the reply
 * from once the VMM is gone.
 */
static int control_send_exit(struct backend_child *c, int *ret_fd)
{
	static const char exit_req[] = "\"Exit\"";
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return avf_err_service(-errno, "control socket: %s", strerror(errno));
	/* A listening socket with room in its backlog accepts a connect at once; a VMM
	 * that never accepts is what the deadline is for. */
	if (connect(fd, (struct sockaddr *)&c->control_addr, c->control_addr_len) < 0 ||
	    send(fd, exit_req, sizeof(exit_req) - 1, MSG_NOSIGNAL) != sizeof(exit_req) - 1) {
		int err = errno;

		close(fd);
		return avf_err_service(-err, "control socket: %s", strerror(err));
	}
	*ret_fd = fd;
	return 0;
}

/* What the VMM answered before it went, for the trace: "Ok", or what it said instead. */
static void control_trace_reply(struct backend *be, const char *actor, int fd)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	if (n < 0)
		trace_emitf(be->trace, actor, "control socket: no reply to \"Exit\"");
	else
		trace_emitf(be->trace, actor, "control socket: reply %.*s", (int)n, buf);
}

int vmm_process_stop(struct backend_child *c, uint64_t timeout_ns)
{
	struct backend *be = c->be;
	char actor[TRACE_ACTOR_MAX];
	int fd = -1, r;

	if (!c->child_src)
		return avf_err_service(-ESRCH, "VMM already exited");
	r = control_send_exit(c, &fd);
	if (r < 0) {
		trace_emitf(be->trace, c->actor, "stop: %s; SIGKILL instead", avf_err_last()->msg);
		return vmm_process_kill(c);
	}
	trace_emitf(be->trace, c->actor, "control socket: \"Exit\"");
	memcpy(actor, c->actor, sizeof(actor));
	/* Runs on_child_exit (so sink->exited) when it exits in time: @c may be gone then. */
	r = loop_child_wait(c->child_src, timeout_ns);
	if (r < 0) {
		/* Not reaped (timed out, or the wait failed): @c is still there. */
		trace_emitf(be->trace, c->actor, "stop: %s after \"Exit\": SIGKILL",
			    avf_err_last()->msg);
		r = vmm_process_kill(c);
	} else {
		control_trace_reply(be, actor, fd);
	}
	close(fd);
	return r;
}

struct backend *vmm_process_backend(const struct backend_child *c)
{
	return c->be;
}

struct backend_child *vmm_process_free(struct backend_child *c)
{
	if (!c)
		return NULL;
	if (c->child_src) {
		c->silent = true;
		loop_child_kill(c->child_src, SIGKILL);
		if (loop_child_wait(c->child_src, VMM_PROCESS_KILL_TIMEOUT_NS) < 0) {
			/* A SIGKILLed process that stays 10 s: nothing more we can do. */
			trace_emitf(c->be->trace, c->actor, "VMM pid %d left unreaped: %s",
				    (int)c->pid, avf_err_last()->msg);
			c->child_src = loop_source_free(c->child_src);
		}
	}
	if (c->busy)
		c->free_pending = true;
	else
		child_destroy(c);
	return NULL;
}
