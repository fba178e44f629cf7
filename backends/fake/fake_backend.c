/* SPDX-License-Identifier: Apache-2.0 */
#include "backends/fake/fake_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
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

#include "backends/fake/guest_channel.h"
#include "base/avf_err.h"
#include "fakes/script/guest_script.h"

#define CONTROL_SOCKET_NAME "crosvm.sock"
#define CONTROL_BACKLOG     128 /* A15 (crosvm's helper) */
#define PROC_FD             "/proc/self/fd/"

struct fake_backend {
	struct backend base; /* first: a struct backend * is a struct fake_backend * */
	char *path;
	int log_fd;
	unsigned live_children;
	pid_t last_pid;
};

/* The manager's fds a VMM may get (backend_vm), in the order of fake_io_slots. */
enum { IO_CONSOLE_OUT, IO_CONSOLE_IN, IO_LOG, IO__COUNT };

static const char *const fake_io_slots[IO__COUNT] = {
    [IO_CONSOLE_OUT] = FAKE_BACKEND_FD_CONSOLE_OUT,
    [IO_CONSOLE_IN] = FAKE_BACKEND_FD_CONSOLE_IN,
    [IO_LOG] = FAKE_BACKEND_FD_LOG,
};

/* What prepare() leaves for spawn() in plan->priv. */
struct fake_plan {
	uint32_t cid;
	bool spawn_fail;
	char *temp_dir;
	int io[IO__COUNT]; /* the manager's fds (not owned; open until spawn returns), -1: none */
};

struct backend_child {
	struct fake_backend *be;
	const struct backend_sink *sink;
	void *sink_ctx;
	char actor[TRACE_ACTOR_MAX];
	pid_t pid;
	struct loop_source *child_src; /* set until the child is reaped */
	int guest_fd;
	struct loop_source *guest_src;
	int failure_fd;
	struct loop_source *failure_src;
	char *failure; /* FAKE_BACKEND_FAILURE_MAX + 1 bytes, NUL-terminated */
	size_t failure_len;
	char *control_path; /* socket file we bound; removed when the VMM exits */
	unsigned busy;      /* sink calls of ours on the stack */
	bool silent;        /* child_free() reaps it: no report */
	bool free_pending;  /* child_free() ran inside one of our sink calls */
};

/* ---- prepare ---- */

static void fake_plan_free(void *priv)
{
	struct fake_plan *fp = priv;

	if (fp)
		free(fp->temp_dir);
	free(fp);
}

/* Percent-encode every byte outside [A-Za-z0-9._~-]: one argv word, one cmdline token. */
static char *script_encode(const char *src)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(src) * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

/* Append every argument up to NULL; stops at the first failure. */
static int add_args(struct backend_plan *plan, ...)
{
	const char *a;
	va_list ap;
	int r = 0;

	va_start(ap, plan);
	while (r == 0 && (a = va_arg(ap, const char *)))
		r = backend_plan_add_arg(plan, a);
	va_end(ap);
	return r;
}

/*
 * A15's console and log --serial words (crosvm-spec §1.2 rows 15 and 17-19): <OUT>
 * is type=file,path=/proc/self/fd/N with a console fd, else type=sink; hvc0 adds
 * ,input=/proc/self/fd/M with a console-in fd (hvc0 is AVF's default console input
 * device, and no config here picks ttyS0); hvc1, the ramdump, is always a sink.
 */
#define SERIAL_FILE(slot) "type=file,path=" PROC_FD slot
#define SERIAL_INPUT      ",input=" PROC_FD FAKE_BACKEND_FD_CONSOLE_IN

static int add_serials(const struct backend_vm *vm, struct backend_plan *plan)
{
	const char *out =
	    vm->console_out_fd >= 0 ? SERIAL_FILE(FAKE_BACKEND_FD_CONSOLE_OUT) : "type=sink";
	const char *log = vm->log_fd >= 0 ? SERIAL_FILE(FAKE_BACKEND_FD_LOG) : "type=sink";
	const char *in = vm->console_in_fd >= 0 ? SERIAL_INPUT : "";
	char *tty0 = NULL, *hvc0 = NULL, *hvc2 = NULL;
	int r;

	if (asprintf(&tty0, "--serial=%s,hardware=serial,num=1", out) < 0)
		tty0 = NULL;
	if (asprintf(&hvc0, "--serial=%s%s,hardware=virtio-console,num=1", out, in) < 0)
		hvc0 = NULL;
	if (asprintf(&hvc2, "--serial=%s,hardware=virtio-console,num=3", log) < 0)
		hvc2 = NULL;
	if (!tty0 || !hvc0 || !hvc2)
		r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory building argv");
	else
		r = add_args(plan, tty0,
			     "--serial=type=file,path=" PROC_FD FAKE_BACKEND_FD_FAILURE
			     ",hardware=serial,num=2",
			     hvc0, "--serial=type=sink,hardware=virtio-console,num=2", hvc2, NULL);
	free(tty0);
	free(hvc0);
	free(hvc2);
	return r;
}

/* The crosvm command line of A15 (crosvm-spec §1.2), for the parts a VM config sets. */
static int build_argv(const struct fake_backend *fb, const struct backend_vm *vm,
		      struct backend_plan *plan)
{
	const struct vm_config *cfg = vm->config;
	char cid[16], num[16], *enc = NULL, *param = NULL;
	int r;

	snprintf(cid, sizeof(cid), "%u", vm->cid);
	r = add_args(plan, fb->path, "--extended-status", "--log-level", "info,disk=warn", "run",
		     "--disable-sandbox", "--cid", cid, NULL);
	/* No pvmfw sysprop here: plain --protected-vm; swiotlb 2 * (4 + disks) MiB, no disks. */
	if (!r && cfg->protected_vm)
		r = add_args(plan, "--protected-vm", "--swiotlb", "8",
			     "--unmap-guest-memory-on-fork", NULL);
	if (!r && cfg->memory_mib) {
		snprintf(num, sizeof(num), "%u", cfg->memory_mib);
		r = add_args(plan, "--mem", num, NULL);
	}
	if (!r) {
		snprintf(num, sizeof(num), "%u", cfg->cpus ? cfg->cpus : 1);
		r = add_args(plan, "--cpus", num, NULL);
	}
	if (!r)
		r = add_serials(vm, plan);
	if (!r && cfg->guest_script) {
		enc = script_encode(cfg->guest_script);
		if (!enc || asprintf(&param, "avf.fake_script=%s", enc) < 0) {
			param = NULL;
			r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC,
					"out of memory building argv");
		} else {
			r = add_args(plan, "--params", param, NULL);
		}
	}
	if (!r)
		r = add_args(plan, "--socket", PROC_FD FAKE_BACKEND_FD_CONTROL,
			     "--avf-guest-channel", PROC_FD FAKE_BACKEND_FD_GUEST, NULL);
	free(enc);
	free(param);
	return r;
}

static int fake_prepare(struct backend *be, const struct backend_vm *vm, struct backend_plan **ret)
{
	struct fake_backend *fb = (struct fake_backend *)be;
	const char *src = vm->config->guest_script ? vm->config->guest_script : GSCRIPT_DEFAULT;
	struct backend_plan *plan = NULL;
	struct gscript *script = NULL;
	struct fake_plan *fp = NULL;
	int r;

	/* Parse now so a bad script fails createVm, as a bad config would. */
	r = gscript_parse(src, &script);
	if (r < 0)
		return r;
	fp = calloc(1, sizeof(*fp));
	if (!fp || (vm->temp_dir && !(fp->temp_dir = strdup(vm->temp_dir)))) {
		r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory preparing VMM");
		goto out;
	}
	fp->cid = vm->cid;
	fp->spawn_fail = script->steps[0].op == GS_SPAWN_FAIL;
	fp->io[IO_CONSOLE_OUT] = vm->console_out_fd;
	fp->io[IO_CONSOLE_IN] = vm->console_in_fd;
	fp->io[IO_LOG] = vm->log_fd;
	r = backend_plan_new(&plan);
	if (r < 0)
		goto out;
	plan->priv = fp;
	plan->priv_free = fake_plan_free;
	fp = NULL;
	r = build_argv(fb, vm, plan);
	if (r < 0)
		goto out;
	*ret = plan;
	plan = NULL;
out:
	backend_plan_free(plan);
	fake_plan_free(fp);
	gscript_free(script);
	return r;
}

/* ---- the running child ---- */

static void child_destroy(struct backend_child *c)
{
	loop_source_free(c->child_src);
	loop_source_free(c->guest_src);
	loop_source_free(c->failure_src);
	if (c->guest_fd >= 0)
		close(c->guest_fd);
	if (c->failure_fd >= 0)
		close(c->failure_fd);
	if (c->control_path)
		unlink(c->control_path);
	free(c->control_path);
	free(c->failure);
	c->be->live_children--;
	free(c);
}

/* End of one of our sink calls: finish a child_free() that ran inside it. */
static void child_release(struct backend_child *c)
{
	if (--c->busy == 0 && c->free_pending)
		child_destroy(c);
}

static void guest_close(struct backend_child *c)
{
	c->guest_src = loop_source_free(c->guest_src);
	if (c->guest_fd >= 0)
		close(c->guest_fd);
	c->guest_fd = -1;
}

static void failure_close(struct backend_child *c)
{
	c->failure_src = loop_source_free(c->failure_src);
	if (c->failure_fd >= 0)
		close(c->failure_fd);
	c->failure_fd = -1;
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
			if (take > FAKE_BACKEND_FAILURE_MAX - c->failure_len)
				take = FAKE_BACKEND_FAILURE_MAX - c->failure_len;
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
	struct guest_channel_msg req, rep;
	struct guest_event ev;
	const struct avf_error *e;
	int r;

	r = guest_channel_recv(fd, &req, MSG_DONTWAIT);
	if (r == -EAGAIN)
		return;
	/* A VMM killed with our last reply unread resets the socket: that is its end
	 * all the same (as core/ipc reads it), not a broken channel. */
	if (r == -ECONNRESET)
		r = 0;
	if (r > 0)
		r = guest_channel_to_event(&req, &ev) < 0 ? -EBADMSG : 1;
	if (r <= 0) {
		/* EOF: the VMM is going, its exit follows. Garbage: it loses the channel. */
		if (r < 0)
			trace_emitf(c->be->base.trace, c->actor, "guest channel dropped: %s",
				    avf_err_last()->msg);
		guest_close(c);
		return;
	}
	c->busy++;
	r = c->sink->guest(c->sink_ctx, &ev);
	/* The sink may have killed the VMM (channel closed) or freed us (free_pending). */
	if (!c->free_pending && c->guest_fd >= 0) {
		e = avf_err_last();
		guest_channel_make_reply(req.seq, r, r < 0 ? e->ex : 0, r < 0 ? e->msg : NULL,
					 &rep);
		if (guest_channel_send(c->guest_fd, &rep, MSG_DONTWAIT) < 0) {
			trace_emitf(c->be->base.trace, c->actor, "guest channel dropped: %s",
				    avf_err_last()->msg);
			guest_close(c);
		}
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

static int control_socket(const struct fake_plan *fp, struct backend_child *c, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	/* Without a temp dir: autobind, the kernel picks an abstract address. */
	socklen_t len = sizeof(sa_family_t);
	int fd, r;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return avf_err_service(-errno, "control socket: %s", strerror(errno));
	if (fp->temp_dir) {
		if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", fp->temp_dir,
				     CONTROL_SOCKET_NAME) >= sizeof(sa.sun_path)) {
			r = avf_err_service(-ENAMETOOLONG,
					    "control socket path '%s/%s' is too long", fp->temp_dir,
					    CONTROL_SOCKET_NAME);
			goto fail;
		}
		len = sizeof(sa);
	}
	if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
		r = avf_err_service(-errno, "bind control socket '%s': %s",
				    fp->temp_dir ? sa.sun_path : "(autobind)", strerror(errno));
		goto fail;
	}
	if (fp->temp_dir && !(c->control_path = strdup(sa.sun_path))) {
		unlink(sa.sun_path);
		r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
		goto fail;
	}
	if (listen(fd, CONTROL_BACKLOG) < 0) {
		r = avf_err_service(-errno, "listen on control socket: %s", strerror(errno));
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

/* @w with every placeholder replaced by its fd number. */
static char *subst_word(const char *w, const struct fd_slot *slots, size_t n)
{
	size_t i, len, size = strlen(w) + 1;
	char *out, *o;

	/* Each placeholder starts with '{' and becomes at most 11 characters ("%d"). */
	for (const char *p = w; (p = strchr(p, '{')); p++)
		size += 11;
	out = o = malloc(size);
	if (!out)
		return NULL;
	while (*w) {
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

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int fake_spawn(struct backend *be, struct backend_plan *plan,
		      const struct backend_sink *sink, void *sink_ctx, struct backend_child **ret)
{
	struct fake_backend *fb = (struct fake_backend *)be;
	const struct fake_plan *fp = plan->priv;
	int fail_pipe[2] = {-1, -1}, chan[2] = {-1, -1}, status[2] = {-1, -1}, ctl = -1;
	int io[IO__COUNT] = {-1, -1, -1};
	struct backend_child *c = NULL;
	struct fd_slot slots[3 + IO__COUNT];
	char **argv = NULL;
	int *keep = NULL, err = 0, r;
	size_t n_keep = 0, n_slots = 0;
	pid_t pid = -1, parent = getpid();
	ssize_t n;

	if (fp->spawn_fail)
		return avf_err_service(-ECHILD, "VMM failed to start (spawn-fail)");
	for (size_t i = 0; i < plan->n_fds; i++)
		if (plan->fds[i].parent_fd != plan->fds[i].child_fd)
			return avf_err_set(
			    -EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
			    "fd %d would be renumbered to %d: VMM fds keep their numbers",
			    plan->fds[i].parent_fd, plan->fds[i].child_fd);
	c = calloc(1, sizeof(*c));
	keep = calloc(plan->n_fds + 3 + IO__COUNT, sizeof(*keep));
	if (!c || !keep || !(c->failure = calloc(1, FAKE_BACKEND_FAILURE_MAX + 1))) {
		r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory spawning VMM");
		goto fail;
	}
	c->be = fb;
	c->sink = sink;
	c->sink_ctx = sink_ctx;
	c->guest_fd = c->failure_fd = -1;
	snprintf(c->actor, sizeof(c->actor), "vmm:%u", fp->cid);
	if (pipe2(fail_pipe, O_CLOEXEC) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan) < 0 ||
	    pipe2(status, O_CLOEXEC) < 0) {
		r = avf_err_service(-errno, "creating the VMM's pipes: %s", strerror(errno));
		goto fail;
	}
	r = control_socket(fp, c, &ctl);
	if (r < 0)
		goto fail;
	/* Our own copies of the manager's console and log fds, above 2 (the VMM's stdio
	 * may be replaced below) and close-on-exec here; closed once the child has them. */
	for (size_t i = 0; i < IO__COUNT; i++) {
		if (fp->io[i] < 0)
			continue;
		io[i] = fcntl(fp->io[i], F_DUPFD_CLOEXEC, 3);
		if (io[i] < 0) {
			r = avf_err_service(-errno, "%s fd %d: %s", fake_io_slots[i], fp->io[i],
					    strerror(errno));
			goto fail;
		}
		slots[n_slots++] = (struct fd_slot){fake_io_slots[i], io[i]};
	}
	slots[n_slots++] = (struct fd_slot){FAKE_BACKEND_FD_FAILURE, fail_pipe[1]};
	slots[n_slots++] = (struct fd_slot){FAKE_BACKEND_FD_GUEST, chan[1]};
	slots[n_slots++] = (struct fd_slot){FAKE_BACKEND_FD_CONTROL, ctl};
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
		child_exec(fb->path, argv, keep, n_keep, fb->log_fd, status[1], parent);

	/* The child's ends go now, or the pipe and the channel would never see EOF. */
	close_fd(&fail_pipe[1]);
	close_fd(&chan[1]);
	close_fd(&ctl);
	close_fd(&status[1]);
	for (size_t i = 0; i < IO__COUNT; i++)
		close_fd(&io[i]);
	/* EOF: exec worked (the status pipe is close-on-exec); an int: the errno of exec. */
	do
		n = read(status[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	if (n != 0) {
		if (n < 0)
			err = errno;
		else if (n != sizeof(err) || err == 0)
			err = EIO;
		r = avf_err_service(-err, "cannot run VMM '%s': %s", fb->path, strerror(err));
		goto fail;
	}
	c->pid = pid;
	c->guest_fd = chan[0];
	c->failure_fd = fail_pipe[0];
	chan[0] = fail_pipe[0] = -1;
	if (fcntl(c->failure_fd, F_SETFL, O_NONBLOCK) < 0) {
		r = avf_err_service(-errno, "fcntl(failure pipe): %s", strerror(errno));
		goto fail;
	}
	r = loop_add_child(be->loop, pid, on_child_exit, c, &c->child_src);
	if (r < 0)
		goto fail;
	r = loop_add_fd(be->loop, c->guest_fd, EPOLLIN, on_guest, c, &c->guest_src);
	if (r < 0)
		goto fail;
	r = loop_add_fd(be->loop, c->failure_fd, EPOLLIN, on_failure, c, &c->failure_src);
	if (r < 0)
		goto fail;
	fb->live_children++;
	fb->last_pid = pid;
	/* Names the VMM's pid so trace readers (the scenario runner) can label its lines. */
	trace_emitf(be->trace, c->actor, "VMM started (pid %d)", (int)pid);
	*ret = c;
	c = NULL;
	pid = -1;
	r = 0;
fail:
	if (c) {
		c->child_src = loop_source_free(c->child_src);
		c->guest_src = loop_source_free(c->guest_src);
		c->failure_src = loop_source_free(c->failure_src);
	}
	if (pid > 0) {
		/* Exec failed, or we cannot watch it: it must not outlive this call. */
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (c) {
		close_fd(&c->guest_fd);
		close_fd(&c->failure_fd);
		if (c->control_path)
			unlink(c->control_path);
		free(c->control_path);
		free(c->failure);
		free(c);
	}
	close_fd(&fail_pipe[0]);
	close_fd(&fail_pipe[1]);
	close_fd(&chan[0]);
	close_fd(&chan[1]);
	close_fd(&status[0]);
	close_fd(&status[1]);
	close_fd(&ctl);
	for (size_t i = 0; i < IO__COUNT; i++)
		close_fd(&io[i]);
	free_argv(argv);
	free(keep);
	return r;
}

static int fake_kill(struct backend_child *c)
{
	int r;

	if (!c->child_src)
		return avf_err_service(-ESRCH, "VMM already exited");
	trace_emitf(c->be->base.trace, c->actor, "SIGKILL");
	r = loop_child_kill(c->child_src, SIGKILL);
	if (r < 0 && r != -ESRCH)
		return r;
	/* Runs on_child_exit (and so sink->exited) before returning; @c may be gone after. */
	return loop_child_wait(c->child_src, FAKE_BACKEND_KILL_TIMEOUT_NS);
}

static struct backend_child *fake_child_free(struct backend_child *c)
{
	if (!c)
		return NULL;
	if (c->child_src) {
		c->silent = true;
		loop_child_kill(c->child_src, SIGKILL);
		if (loop_child_wait(c->child_src, FAKE_BACKEND_KILL_TIMEOUT_NS) < 0) {
			/* A SIGKILLed process that stays 10 s: nothing more we can do. */
			trace_emitf(c->be->base.trace, c->actor, "VMM pid %d left unreaped: %s",
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

static void fake_destroy(struct backend *be)
{
	struct fake_backend *fb = (struct fake_backend *)be;

	free(fb->path);
	free(fb);
}

static const struct backend_ops fake_ops = {
    .name = "fake",
    .prepare = fake_prepare,
    .spawn = fake_spawn,
    .kill = fake_kill,
    .child_free = fake_child_free,
    .destroy = fake_destroy,
};

int fake_backend_new(struct loop *loop, const struct trace *tr,
		     const struct fake_backend_opts *opts, struct backend **ret)
{
	struct fake_backend *fb;

	if (!loop || !opts || !opts->fakevmm_path || !*opts->fakevmm_path)
		return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				   "fake backend needs a loop and the fakevmm path");
	fb = calloc(1, sizeof(*fb));
	if (!fb || !(fb->path = strdup(opts->fakevmm_path))) {
		free(fb);
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	}
	fb->base.ops = &fake_ops;
	fb->base.loop = loop;
	fb->base.trace = tr;
	fb->log_fd = opts->log_fd;
	*ret = &fb->base;
	return 0;
}

unsigned fake_backend_live_children(const struct backend *be)
{
	return ((const struct fake_backend *)be)->live_children;
}

pid_t fake_backend_last_pid(const struct backend *be)
{
	return ((const struct fake_backend *)be)->last_pid;
}
