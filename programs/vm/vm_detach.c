/* SPDX-License-Identifier: Apache-2.0 */
/* The holder of a detached VM (`vm run --detach`): see vm_detach.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/mono_time.h"
#include "vm_cli.h"
#include "vm_detach.h"
#include "vm_run.h"

/* How long the holder waits for a client's request line once it connected. */
#define REQUEST_TIMEOUT_MS 5000
/* After the VM's death, how long the rest of its console output may take to drain. */
#define DRAIN_TIMEOUT_MS 2000

struct holder {
	struct vm_session s;
	int listen_fd;
	int sig_fd;
	int con_rd;  /* console+log pipe, read end (-1: the user named files) */
	int in_wr;   /* console input pipe, write end (-1: the user named a file) */
	int attached; /* the attached `vm console`, -1 none */
	bool attached_eof; /* it will send nothing more */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	/* The console's last VM_CONSOLE_HISTORY bytes, replayed to whoever attaches. */
	char hist[VM_CONSOLE_HISTORY];
	size_t hist_start, hist_len;
};

static void hist_add(struct holder *h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t end = (h->hist_start + h->hist_len) % sizeof(h->hist);

		h->hist[end] = p[i];
		if (h->hist_len < sizeof(h->hist))
			h->hist_len++;
		else
			h->hist_start = (h->hist_start + 1) % sizeof(h->hist);
	}
}

/* Best effort to a console reader: a slow one loses output, the VM never waits. */
static void send_attached(struct holder *h, const char *p, size_t n)
{
	if (h->attached >= 0 && send(h->attached, p, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
	    errno != EAGAIN) {
		close(h->attached);
		h->attached = -1;
	}
}

static void detach_attached(struct holder *h)
{
	if (h->attached >= 0)
		close(h->attached);
	h->attached = -1;
}

static int bind_socket(struct holder *h)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	if ((r = vm_sock_path(avf_vm_cid(h->s.vm), h->path, sizeof(h->path), true)) != 0)
		return r;
	strcpy(sa.sun_path, h->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return vm_error("socket: %s", strerror(errno));
	/* A CID is unique while its VM lives: a file in its place is a dead holder's. */
	unlink(h->path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		r = vm_error("cannot listen on '%s': %s", h->path, strerror(errno));
		close(fd);
		h->path[0] = 0;
		return r;
	}
	h->listen_fd = fd;
	return VM_EXIT_OK;
}

static void reply(int fd, const char *s)
{
	send(fd, s, strlen(s), MSG_NOSIGNAL);
}

/* A client connected. Returns true when the holder should end (stop was asked). */
static bool serve_client(struct holder *h)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	char req[64], line[160];
	int fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return false;
	/* The run dir is ours alone; the uid check keeps it so whatever the dir's fate. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || cred.uid != getuid() ||
	    !vm_read_line(fd, req, sizeof(req), REQUEST_TIMEOUT_MS)) {
		close(fd);
		return false;
	}
	if (!strcmp(req, "stop")) {
		vm_session_stop(&h->s);
		/* Gone from the run dir before the stopper hears of it. */
		unlink(h->path);
		h->path[0] = 0;
		snprintf(line, sizeof(line), "ended %s\n",
			 (int)h->s.reason == -1 ? "VirtualizationServiceDied"
						: vm_death_reason_debug(h->s.reason));
		reply(fd, line);
		close(fd);
		return true;
	}
	if (!strcmp(req, "console")) {
		if (h->attached >= 0) {
			reply(fd, "busy\n");
			close(fd);
			return false;
		}
		reply(fd, "ok\n");
		h->attached = fd;
		h->attached_eof = false;
		/* The history first, in at most two pieces of the ring. */
		size_t first = sizeof(h->hist) - h->hist_start;

		if (first > h->hist_len)
			first = h->hist_len;
		send_attached(h, h->hist + h->hist_start, first);
		send_attached(h, h->hist, h->hist_len - first);
		return false;
	}
	reply(fd, "error unknown request\n");
	close(fd);
	return false;
}

static void pump_console(struct holder *h)
{
	char buf[4096];
	ssize_t n = read(h->con_rd, buf, sizeof(buf));

	if (n > 0) {
		hist_add(h, buf, (size_t)n);
		send_attached(h, buf, (size_t)n);
	} else if (n == 0 || errno != EAGAIN) {
		close(h->con_rd);
		h->con_rd = -1;
	}
}

static void pump_input(struct holder *h)
{
	char buf[4096];
	ssize_t n = recv(h->attached, buf, sizeof(buf), MSG_DONTWAIT);

	if (n > 0) {
		/* No input pipe (the user named a file): the bytes have nowhere to go. */
		if (h->in_wr >= 0 && write(h->in_wr, buf, (size_t)n) < 0 && errno != EAGAIN) {
			close(h->in_wr);
			h->in_wr = -1;
		}
	} else if (n == 0) {
		h->attached_eof = true;
	} else if (errno != EAGAIN) {
		detach_attached(h);
	}
}

static void holder_loop(struct holder *h)
{
	for (;;) {
		struct pollfd p[5] = {{avf_client_fd(h->s.c), POLLIN, 0},
				      {h->sig_fd, POLLIN, 0},
				      {h->listen_fd, POLLIN, 0},
				      {h->con_rd, POLLIN, 0},
				      {h->attached_eof ? -1 : h->attached, POLLIN, 0}};

		vm_session_dispatch(&h->s);
		if (h->s.died)
			return;
		if (poll(p, 5, -1) < 0 && errno != EINTR)
			return;
		if (p[1].revents & POLLIN) {
			vm_session_stop(&h->s);
			return;
		}
		if ((p[2].revents & POLLIN) && serve_client(h))
			return;
		if (p[3].revents & (POLLIN | POLLHUP))
			pump_console(h);
		if (p[4].revents & (POLLIN | POLLHUP | POLLERR))
			pump_input(h);
	}
}

/* The rest of the console, once nothing writes to the pipe any more. */
static void drain_console(struct holder *h)
{
	int64_t deadline = mono_ms() + DRAIN_TIMEOUT_MS;

	while (h->con_rd >= 0) {
		struct pollfd p = {h->con_rd, POLLIN, 0};
		int64_t left = deadline - mono_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		pump_console(h);
	}
}

/* Replace the plan's dup(stdout)/dup(stdin) defaults by pipes the holder relays. */
static int make_relay_pipes(struct run_plan *p, struct holder *h)
{
	int c[2], in[2];

	if (!p->console_out_given && p->console_out >= 0) {
		if (pipe2(c, O_CLOEXEC) < 0)
			return vm_error("pipe: %s", strerror(errno));
		fcntl(c[0], F_SETFL, O_NONBLOCK);
		close(p->console_out);
		p->console_out = c[1];
		h->con_rd = c[0];
		if (!p->log_given && p->log >= 0) {
			close(p->log);
			p->log = fcntl(c[1], F_DUPFD_CLOEXEC, 3);
		}
	}
	if (!p->console_in_given) {
		if (pipe2(in, O_CLOEXEC) < 0)
			return vm_error("pipe: %s", strerror(errno));
		fcntl(in[1], F_SETFL, O_NONBLOCK);
		if (p->console_in >= 0)
			close(p->console_in);
		p->console_in = in[0];
		h->in_wr = in[1];
	}
	return VM_EXIT_OK;
}

static int holder_main(struct run_plan *p, int report_fd)
{
	static struct holder h; /* the history buffer is large: not on the stack */
	sigset_t sigs;
	FILE *rep;
	int devnull, r;

	h.listen_fd = h.sig_fd = h.con_rd = h.in_wr = h.attached = -1;
	/* Out of the terminal's session: its hangup and Ctrl-C are not ours any more. */
	setsid();
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	h.sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (h.sig_fd < 0)
		return vm_error("signalfd: %s", strerror(errno));
	if ((r = make_relay_pipes(p, &h)) != 0)
		return r;
	if ((r = vm_session_start(p, &h.s)) != 0)
		return r;
	/* virtmgr holds its own copies now: ours would keep the pipe open past the VM. */
	run_plan_close_fds(p);
	if ((r = bind_socket(&h)) != 0) {
		vm_session_end(&h.s);
		return r;
	}
	rep = fdopen(report_fd, "w");
	if (rep) {
		vm_session_print_created(p, &h.s, rep);
		fclose(rep);
	}
	/* From here on nobody reads our stdio: callback lines go nowhere. */
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		close(devnull);
	}
	holder_loop(&h);
	if (h.path[0])
		unlink(h.path);
	close(h.listen_fd);
	vm_session_end(&h.s);
	drain_console(&h);
	detach_attached(&h);
	if (h.con_rd >= 0)
		close(h.con_rd);
	if (h.in_wr >= 0)
		close(h.in_wr);
	close(h.sig_fd);
	return VM_EXIT_OK;
}

int vm_detach_run(struct run_plan *p)
{
	char buf[1024];
	size_t len = 0;
	int rep[2], st = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(rep, O_CLOEXEC) < 0)
		return vm_error("pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(rep[0]);
		close(rep[1]);
		return vm_error("fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(rep[0]);
		_exit(holder_main(p, rep[1]));
	}
	close(rep[1]);
	/* The Created line, or EOF when the holder failed (it printed why). */
	while (len + 1 < sizeof(buf) && (n = read(rep[0], buf + len, sizeof(buf) - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
	}
	close(rep[0]);
	if (len) {
		fwrite(buf, 1, len, stdout);
		return VM_EXIT_OK; /* the holder runs on; init (or a subreaper) reaps it */
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st) : VM_EXIT_ERROR;
}
