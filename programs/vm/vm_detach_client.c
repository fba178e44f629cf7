/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `vm stop <CID>` and `vm console [CID]`: clients of a detached VM's holder
 * (protocol in vm_detach.h).
 *
 * console relays stdin to the VM's console input and its console output to stdout
 * until the VM ends (exit 0). On a terminal, input is passed a key at a time without
 * echo; Ctrl-C (or end of input on a terminal) leaves the console and the VM runs on.
 * Unlike A16's `vm console` (which execs microcom on a pty) no terminal is required,
 * so scripts and tests can use it with pipes.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "vm_args.h"
#include "vm_cli.h"
#include "vm_detach.h"

/* A stop waits for the VMM to be killed and reaped, and for onDied. */
#define STOP_REPLY_TIMEOUT_MS 30000
#define HELLO_TIMEOUT_MS      5000

static const char *const cid_pos[] = {"<CID>"};
static const char stop_help[] = "Stop a virtual machine started with 'vm run --detach'\n"
				"\n"
				"Usage: vm stop <CID>\n"
				"\n"
				"Arguments:\n"
				"  <CID>  CID of the VM\n"
				"\n"
				"Options:\n"
				"  -h, --help  Print help\n";
static const char console_help[] =
    "Connect to the console of a virtual machine started with 'vm run --detach'\n"
    "\n"
    "Usage: vm console [CID]\n"
    "\n"
    "Arguments:\n"
    "  [CID]  CID of the VM (default: the only detached VM)\n"
    "\n"
    "Options:\n"
    "  -h, --help  Print help\n";
static const struct vm_args_spec stop_spec = {"stop", "<CID>", stop_help, NULL, 0, cid_pos, 1, 1};
static const struct vm_args_spec console_spec = {"console", "[CID]", console_help, NULL, 0,
						 cid_pos, 0, 1};

static int parse_cid(const struct vm_args_spec *s, const char *v, uint32_t *ret)
{
	uint64_t n;

	if (!vm_parse_u64(v, UINT32_MAX, &n))
		return vm_usage_error(s->cmd, s->usage, "invalid value '%s' for '<CID>': %s", v,
				      vm_int_error(v));
	*ret = (uint32_t)n;
	return VM_EXIT_OK;
}

static int no_such_vm(uint32_t cid)
{
	return vm_error("no detached VM with CID %u (only VMs started with 'vm run --detach' "
			"by this user are reachable)",
			cid);
}

/* Connect to the holder of @cid and send @req. */
static int connect_holder(uint32_t cid, const char *req, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	if ((r = vm_sock_path(cid, sa.sun_path, sizeof(sa.sun_path), false)) != 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vm_error("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		/* ENOENT: never was; ECONNREFUSED: a holder died (SIGKILL) without
		 * cleaning up: its socket is swept here. */
		if (e == ECONNREFUSED)
			unlink(sa.sun_path);
		return e == ENOENT || e == ECONNREFUSED ? no_such_vm(cid)
							: vm_error("cannot reach the VM with CID "
								   "%u: %s",
								   cid, strerror(e));
	}
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0) {
		close(fd);
		return no_such_vm(cid);
	}
	*ret_fd = fd;
	return VM_EXIT_OK;
}

int vm_cmd_stop(int argc, char **argv)
{
	const char *pos[1];
	char line[128];
	uint32_t cid;
	int fd, r;

	if ((r = vm_args_parse(&stop_spec, argc, argv, NULL, NULL, pos)) != 0)
		return r < 0 ? VM_EXIT_OK : r;
	if ((r = parse_cid(&stop_spec, pos[0], &cid)) != 0)
		return r;
	if ((r = connect_holder(cid, "stop\n", &fd)) != 0)
		return r;
	if (!vm_read_line(fd, line, sizeof(line), STOP_REPLY_TIMEOUT_MS)) {
		close(fd);
		/* The VM died on its own between our connect and the stop. */
		return no_such_vm(cid);
	}
	close(fd);
	if (strncmp(line, "ended ", 6) != 0)
		return vm_error("the VM with CID %u did not stop: %s", cid, line);
	return VM_EXIT_OK;
}

/* false (and the file removed) for the socket of a holder that died uncleanly. */
static bool holder_alive(const char *dir, const char *name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, name);
	bool alive = true;

	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return false;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    errno == ECONNREFUSED) {
		unlink(sa.sun_path);
		alive = false;
	}
	/* The holder sees a connection that sends nothing: it drops it after its
	 * request timeout, or at once when it reads EOF from our close. */
	if (fd >= 0)
		close(fd);
	return alive;
}

/* The CID of the only detached VM, from the run dir's <cid>.sock files. */
static int only_cid(uint32_t *ret)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)], found[256] = "";
	struct dirent *e;
	unsigned n = 0;
	uint64_t cid = 0;
	DIR *d;
	int r;

	if ((r = vm_rundir(dir, sizeof(dir), false)) != 0)
		return r;
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		char num[32];
		const char *dot = strrchr(e->d_name, '.');
		uint64_t v;

		if (!dot || strcmp(dot, ".sock") || (size_t)(dot - e->d_name) >= sizeof(num))
			continue;
		memcpy(num, e->d_name, (size_t)(dot - e->d_name));
		num[dot - e->d_name] = 0;
		if (!vm_parse_u64(num, UINT32_MAX, &v) || !holder_alive(dir, e->d_name))
			continue;
		if (n++ < 8)
			snprintf(found + strlen(found), sizeof(found) - strlen(found), "%s%s",
				 n > 1 ? ", " : "", num);
		cid = v;
	}
	if (d)
		closedir(d);
	if (n == 0)
		return vm_error("no detached VM to connect to (start one with 'vm run --detach')");
	if (n > 1)
		return vm_error("%u detached VMs (%s%s): name one, 'vm console <CID>'", n, found,
				n > 8 ? ", ..." : "");
	*ret = (uint32_t)cid;
	return VM_EXIT_OK;
}

/* Relay until the holder closes (the VM ended) or the user leaves. */
static void relay(int sock, int sig_fd, bool tty)
{
	bool in_open = true;
	char buf[4096];

	for (;;) {
		struct pollfd p[3] = {{sock, POLLIN, 0},
				      {in_open ? STDIN_FILENO : -1, POLLIN, 0},
				      {sig_fd, POLLIN, 0}};
		ssize_t n;

		if (poll(p, 3, -1) < 0 && errno != EINTR)
			return;
		if (p[2].revents & POLLIN)
			return;
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(sock, buf, sizeof(buf), 0);
			if (n <= 0)
				return;
			if (write(STDOUT_FILENO, buf, (size_t)n) < 0)
				return;
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0) {
				/* A terminal's end of input is the user leaving; a pipe's
				 * is the end of what it had to say: keep watching. */
				if (tty)
					return;
				in_open = false;
				shutdown(sock, SHUT_WR);
			} else if (send(sock, buf, (size_t)n, MSG_NOSIGNAL) < 0) {
				return;
			}
		}
	}
}

int vm_cmd_console(int argc, char **argv)
{
	struct termios saved, raw;
	const char *pos[1];
	char line[64];
	uint32_t cid;
	sigset_t sigs;
	bool tty;
	int fd, sig_fd, r;

	if ((r = vm_args_parse(&console_spec, argc, argv, NULL, NULL, pos)) != 0)
		return r < 0 ? VM_EXIT_OK : r;
	r = pos[0] ? parse_cid(&console_spec, pos[0], &cid) : only_cid(&cid);
	if (r)
		return r;
	if ((r = connect_holder(cid, "console\n", &fd)) != 0)
		return r;
	if (!vm_read_line(fd, line, sizeof(line), HELLO_TIMEOUT_MS)) {
		close(fd);
		return no_such_vm(cid);
	}
	if (strcmp(line, "ok") != 0) {
		close(fd);
		return !strcmp(line, "busy")
			   ? vm_error("the console of the VM with CID %u is in use", cid)
			   : vm_error("the VM with CID %u refused its console: %s", cid, line);
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	if (tty) {
		/* Keys go to the VM as typed; Ctrl-C stays ours (ISIG) to leave. */
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	relay(fd, sig_fd, tty);
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	close(fd);
	if (sig_fd >= 0)
		close(sig_fd);
	return VM_EXIT_OK;
}
