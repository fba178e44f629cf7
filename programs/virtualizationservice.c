/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtualizationservice: the global daemon that grants CIDs and per-VM temp dirs
 * to every virtmgr (research/avf-spec.md 2.8, 5.1). A thin main() over
 * core/service/vs_server.c: options, signals, the loop (docs/virtualizationservice.md).
 *
 * Exit status: 0 after SIGTERM/SIGINT (every context released, socket removed),
 * 1 on a runtime failure ("virtualizationservice: <message>" on stderr), 2 on a
 * bad command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <avf/avf_types.h>

#include "daemon_signals.h"
#include "base/avf_err.h"
#include "base/fs_util.h"
#include "loop/loop.h"
#include "service/vs_registry.h"
#include "service/vs_server.h"
#include "trace/trace_file.h"

#define PROG "virtualizationservice"

#ifndef AVF_VERSION
#define AVF_VERSION "unknown"
#endif

/* vsock reserves CIDs 0-2 (hypervisor, local, host) and -1U (VMADDR_CID_ANY). */
#define CID_FIRST_GUEST 3u
#define CID_LAST_GUEST  (UINT32_MAX - 1)

struct opts {
	char *socket_path;
	char *state_dir;
	uint32_t cid_min, cid_max;
	int ready_fd;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " [OPTION]...\n"
		"The global VM context daemon: grants CIDs and per-VM temp dirs to virtmgr.\n"
		"\n"
		"  --socket PATH        listen on PATH (default $XDG_RUNTIME_DIR/avf/vs.sock,\n"
		"                       else /run/avf/vs.sock)\n"
		"  --state-dir DIR      last CID and per-VM temp dirs (default\n"
		"                       $XDG_RUNTIME_DIR/avf/state, else /run/avf/state)\n"
		"  --cid-range MIN-MAX  CIDs to grant, inclusive (default %u-%u)\n"
		"  --ready-fd N         once listening, write 'o' to fd N and close it\n"
		"  --help               show this text\n"
		"  --version            show the version\n",
		AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
}

static __attribute__((format(printf, 1, 2))) int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '" PROG " --help'.\n");
	return 2;
}

/* Decimal digits only (no sign, no blanks), at most UINT32_MAX. */
static bool parse_u32(const char *s, size_t len, uint32_t *ret)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*ret = (uint32_t)v;
	return true;
}

static int parse_cid_range(const char *s, struct opts *o)
{
	const char *dash = strchr(s, '-');
	uint32_t lo, hi;

	if (!dash || !parse_u32(s, (size_t)(dash - s), &lo) ||
	    !parse_u32(dash + 1, strlen(dash + 1), &hi))
		return usage_error("--cid-range: '%s' is not MIN-MAX", s);
	if (lo > hi || lo < CID_FIRST_GUEST || hi > CID_LAST_GUEST)
		return usage_error("--cid-range: '%s' is not a range within %u-%" PRIu32, s,
				   CID_FIRST_GUEST, CID_LAST_GUEST);
	o->cid_min = lo;
	o->cid_max = hi;
	return 0;
}

static int parse_ready_fd(const char *s, struct opts *o)
{
	uint32_t n;

	if (!parse_u32(s, strlen(s), &n) || n > INT32_MAX || n <= STDERR_FILENO)
		return usage_error("--ready-fd: '%s' is not an fd number other than 0, 1, 2", s);
	/* Ours from now on: it must not leak into anything we might run. */
	if (fcntl((int)n, F_SETFD, FD_CLOEXEC) < 0)
		return usage_error("--ready-fd: fd %" PRIu32 " is not open", n);
	o->ready_fd = (int)n;
	return 0;
}

/* "$XDG_RUNTIME_DIR/avf/<leaf>", else "/run/avf/<leaf>". */
static char *default_path(const char *leaf)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char *p;

	if (asprintf(&p, "%s/avf/%s", xdg && *xdg ? xdg : "/run", leaf) < 0)
		return NULL;
	return p;
}

static int set_string(char **dst, const char *src)
{
	free(*dst);
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

/* -1: carry on; otherwise the exit status (0 for --help / --version). */
static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { OPT_SOCKET = 1, OPT_STATE, OPT_RANGE, OPT_READY, OPT_HELP, OPT_VERSION };
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, OPT_SOCKET},
	    {"state-dir", required_argument, NULL, OPT_STATE},
	    {"cid-range", required_argument, NULL, OPT_RANGE},
	    {"ready-fd", required_argument, NULL, OPT_READY},
	    {"help", no_argument, NULL, OPT_HELP},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {NULL, 0, NULL, 0},
	};
	int c, r = 0;

	/* Our own messages, naming the option (":" reports a missing value apart). */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SOCKET:
			if (!*optarg)
				return usage_error("--socket: the path is empty");
			r = set_string(&o->socket_path, optarg);
			break;
		case OPT_STATE:
			if (!*optarg)
				return usage_error("--state-dir: the path is empty");
			r = set_string(&o->state_dir, optarg);
			break;
		case OPT_RANGE:
			if (parse_cid_range(optarg, o))
				return 2;
			break;
		case OPT_READY:
			if (parse_ready_fd(optarg, o))
				return 2;
			break;
		case OPT_HELP: usage(stdout); return 0;
		case OPT_VERSION: printf(PROG " " AVF_VERSION "\n"); return 0;
		case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
		if (r < 0) {
			fprintf(stderr, PROG ": out of memory\n");
			return 1;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if ((!o->socket_path && !(o->socket_path = default_path("vs.sock"))) ||
	    (!o->state_dir && !(o->state_dir = default_path("state")))) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	return -1;
}

static void on_signal(struct loop_source *src, int fd, uint32_t revents, void *data)
{
	struct signalfd_siginfo si;
	int *stop = data;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		*stop = (int)si.ssi_signo;
}

/*
 * Two daemons on one state dir would grant the same CIDs: the dir is locked for
 * the process's lifetime (flock on the directory itself, released by the kernel
 * however we exit). Returns the locked fd.
 */
static int lock_state_dir(const char *dir, int *ret_fd)
{
	int r, fd;

	if ((r = fs_mkdir_p(dir, 0700)) < 0)
		return r;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return avf_err_service(-errno, "cannot open state dir '%s': %s", dir,
				       strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK
			? avf_err_service(-EBUSY, "another virtualizationservice is using %s", dir)
			: avf_err_service(-errno, "cannot lock state dir '%s': %s", dir,
					  strerror(errno));
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/* Tell whoever waits that we are listening; a waiter that went away is not our failure. */
static void signal_ready(int *fd)
{
	if (*fd < 0)
		return;
	if (write(*fd, "o", 1) != 1)
		fprintf(stderr, PROG ": cannot write to --ready-fd %d: %s\n", *fd, strerror(errno));
	close(*fd);
	*fd = -1;
}

int main(int argc, char **argv)
{
	struct opts o = {
	    .cid_min = AVF_GUEST_CID_MIN, .cid_max = AVF_GUEST_CID_MAX, .ready_fd = -1};
	struct trace_file *tf = NULL;
	const struct trace *tr = NULL;
	struct loop *l = NULL;
	struct loop_source *sig_src = NULL;
	struct vs_registry *reg = NULL;
	struct vs_server *srv = NULL;
	int sfd = -1, lfd = -1, lock_fd = -1, stop = 0, status = 1, r;

	r = parse_args(argc, argv, &o);
	if (r >= 0) {
		status = r;
		goto out;
	}

	if ((r = daemon_signals_open(&sfd)) < 0)
		goto fail;
	if ((r = trace_file_from_env(&tf)) < 0)
		goto fail;
	tr = trace_file_trace(tf);
	if ((r = loop_new(LOOP_CLOCK_MONOTONIC, &l)) < 0)
		goto fail;
	/*
	 * The socket before the state: a second instance must fail before it wipes the
	 * temp dirs of the VMs the first one granted.
	 */
	if ((r = vs_server_bind(o.socket_path, &lfd)) < 0)
		goto fail;
	if ((r = lock_state_dir(o.state_dir, &lock_fd)) < 0 ||
	    (r = vs_registry_new(o.state_dir, o.cid_min, o.cid_max, tr, &reg)) < 0)
		goto fail;
	if (vs_registry_start_note(reg))
		fprintf(stderr, PROG ": %s\n", vs_registry_start_note(reg));
	if ((r = vs_server_new(l, reg, tr, &srv)) < 0 ||
	    (r = vs_server_listen_fd(srv, lfd, o.socket_path)) < 0)
		goto fail;
	lfd = -1; /* the server's now, and so is removing the socket file */
	if ((r = loop_add_fd(l, sfd, EPOLLIN, on_signal, &stop, &sig_src)) < 0)
		goto fail;
	trace_emitf(tr, "vs", "started (CIDs %" PRIu32 "-%" PRIu32 ", state %s)", o.cid_min,
		    o.cid_max, o.state_dir);
	signal_ready(&o.ready_fd);

	while (!stop) {
		r = loop_run_once(l, -1);
		if (r < 0)
			goto fail;
	}
	trace_emitf(tr, "vs", "stopping (%s)", strsignal(stop));
	status = 0;
	goto out;
fail:
	fprintf(stderr, PROG ": %s\n", avf_err_last()->msg[0] ? avf_err_last()->msg : strerror(-r));
out:
	/* Connections first (their contexts go with them), then what is left. */
	srv = vs_server_free(srv);
	reg = vs_registry_free(reg);
	if (lfd >= 0) {
		/* Bound but never served: nobody else can own that file yet. */
		unlink(o.socket_path);
		close(lfd);
	}
	sig_src = loop_source_free(sig_src);
	l = loop_free(l);
	if (sfd >= 0)
		close(sfd);
	if (lock_fd >= 0)
		close(lock_fd);
	if (status == 0 && stop)
		trace_emitf(tr, "vs", "stopped");
	tf = trace_file_close(tf);
	/* Closed unwritten on failure: the waiter sees EOF instead of 'o'. */
	if (o.ready_fd >= 0)
		close(o.ready_fd);
	free(o.socket_path);
	free(o.state_dir);
	return status;
}
