/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtualizationservice program as a real process: readiness through
 * --ready-fd, clients over its socket, SIGTERM, restart on the same state dir, a
 * second instance, a SIGKILLed client, a SIGKILLed daemon's stale socket, bad
 * command lines. Every wait is poll() on an fd (the ready pipe, the daemon's
 * stderr reaching EOF at exit) or an RPC, with a deadline generous enough for
 * valgrind (--trace-children runs the daemon under it too); nothing sleeps.
 */
#include "cmocka_wrap.h"
#include "test_fds.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "base/fs_util.h"
#include "ipc/ipc_conn.h"
#include "loop/loop.h"
#include "proto/avf_proto.h"

#define WAIT_MS  60000
#define WAIT_NS  ((uint64_t)WAIT_MS * LOOP_NSEC_PER_MSEC)
#define READY_FD 3
#define MAX_ARGS 24

struct fx {
	char dir[256];
	char sock[300];
	char state[300];
	char trace[300];
	const char *xdg; /* XDG_RUNTIME_DIR for the daemon; unset when NULL */
	int fds_before;
	struct loop *l;
};

struct daemon {
	pid_t pid;
	int out_fd, err_fd; /* read ends of its stdout / stderr, -1 at EOF */
	char out[4096], err[8192];
	size_t out_len, err_len;
	int status; /* waitpid status, once reaped */
};

struct client {
	struct ipc_conn *conn;
	struct ipc_proxy *root;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

static bool is_socket(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	n = read(fd, buf, size - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}

/* ---- fixture ---- */

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->fds_before = count_fds();
	snprintf(f->dir, sizeof(f->dir), "%s/test_vs_daemon_XXXXXX", tmp);
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/run/vs.sock", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	snprintf(f->trace, sizeof(f->trace), "%s/trace", f->dir);
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &f->l), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	assert_int_equal(loop_source_count(f->l), 0);
	loop_free(f->l);
	assert_int_equal(fs_remove_tree(f->dir), 0);
	assert_int_equal(count_fds(), f->fds_before);
	free(f);
	return 0;
}

/* ---- the daemon process ---- */

/* Read what is there from @fd into @buf; -1 into *fd at EOF. */
static void drain(int *fd, char *buf, size_t size, size_t *len)
{
	char scratch[512];
	ssize_t n;

	while (*fd >= 0) {
		size_t room = size - 1 - *len;

		n = read(*fd, room ? buf + *len : scratch, room ? room : sizeof(scratch));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close(*fd);
			*fd = -1;
			return;
		}
		if (room) {
			*len += (size_t)n;
			buf[*len] = '\0';
		}
	}
}

/*
 * Start the daemon with @args after the program name (NULL-terminated). @ready_w,
 * if >= 0, becomes its fd READY_FD. Its stdout and stderr are captured.
 */
static void spawn_argv(struct fx *f, struct daemon *d, const char *const *args, int ready_w)
{
	int out[2], err[2];

	memset(d, 0, sizeof(*d));
	assert_int_equal(pipe2(out, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC | O_NONBLOCK), 0);
	d->pid = fork();
	assert_true(d->pid >= 0);
	if (d->pid == 0) {
		const char *argv[MAX_ARGS + 2] = {AVF_VS_PATH};
		int i;

		for (i = 0; args[i] && i < MAX_ARGS; i++)
			argv[i + 1] = args[i];
		/* dup2 onto a different fd clears FD_CLOEXEC; the same fd keeps it, so clear it. */
		if (ready_w >= 0 && ((ready_w == READY_FD && fcntl(READY_FD, F_SETFD, 0) < 0) ||
				     (ready_w != READY_FD && dup2(ready_w, READY_FD) < 0)))
			_exit(126);
		if (dup2(out[1], STDOUT_FILENO) < 0 || dup2(err[1], STDERR_FILENO) < 0)
			_exit(126);
		setenv("AVF_TRACE_FILE", f->trace, 1);
		if (f->xdg)
			setenv("XDG_RUNTIME_DIR", f->xdg, 1);
		else
			unsetenv("XDG_RUNTIME_DIR");
		execv(AVF_VS_PATH, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	d->out_fd = out[0];
	d->err_fd = err[0];
}

/* Wait for the ready byte; false if the daemon closed the fd (it failed) instead. */
static bool wait_ready(struct daemon *d, int ready_r)
{
	uint64_t dl = mono_ms() + WAIT_MS;
	char c = 0;
	ssize_t n;

	for (;;) {
		struct pollfd p[2] = {{.fd = ready_r, .events = POLLIN},
				      {.fd = d->err_fd, .events = POLLIN}};
		uint64_t now = mono_ms();

		if (now >= dl)
			fail_msg("daemon not ready within %d ms; stderr:\n%s", WAIT_MS, d->err);
		assert_true(poll(p, d->err_fd >= 0 ? 2 : 1, (int)(dl - now)) >= 0);
		if (p[1].revents)
			drain(&d->err_fd, d->err, sizeof(d->err), &d->err_len);
		if (p[0].revents) {
			n = read(ready_r, &c, 1);
			close(ready_r);
			return n == 1 && c == 'o';
		}
	}
}

/* Start the daemon on the fixture's socket and state dir (plus @extra) and wait until ready. */
static void spawn_ready(struct fx *f, struct daemon *d, const char *const *extra)
{
	const char *args[MAX_ARGS] = {"--socket", f->sock,      "--state-dir",
				      f->state,   "--ready-fd", "3"};
	int p[2], i, n = 6;

	for (i = 0; extra && extra[i]; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	spawn_argv(f, d, args, p[1]);
	close(p[1]);
	if (!wait_ready(d, p[0]))
		fail_msg("daemon failed to start; stderr:\n%s", d->err);
}

/* Wait for the daemon's exit: its stdout and stderr reach EOF, then it is reaped. */
static int wait_exit(struct daemon *d)
{
	uint64_t dl = mono_ms() + WAIT_MS;

	while (d->out_fd >= 0 || d->err_fd >= 0) {
		struct pollfd p[2] = {{.fd = d->out_fd, .events = POLLIN},
				      {.fd = d->err_fd, .events = POLLIN}};
		uint64_t now = mono_ms();

		if (now >= dl) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, NULL, 0);
			fail_msg("daemon did not exit within %d ms; stderr:\n%s", WAIT_MS, d->err);
		}
		/* poll() ignores negative fds. */
		assert_true(poll(p, 2, (int)(dl - now)) >= 0);
		drain(&d->out_fd, d->out, sizeof(d->out), &d->out_len);
		drain(&d->err_fd, d->err, sizeof(d->err), &d->err_len);
	}
	assert_int_equal(waitpid(d->pid, &d->status, 0), d->pid);
	return d->status;
}

static void assert_exited(struct daemon *d, int code)
{
	wait_exit(d);
	if (!WIFEXITED(d->status) || WEXITSTATUS(d->status) != code)
		fail_msg("daemon status 0x%x, expected exit %d; stderr:\n%s", d->status, code,
			 d->err);
}

static void stop_daemon(struct daemon *d)
{
	assert_int_equal(kill(d->pid, SIGTERM), 0);
	assert_exited(d, 0);
}

/* ---- a client ---- */

static void client_connect(struct fx *f, struct client *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail_msg("connect %s: %s", f->sock, strerror(errno));
	assert_int_equal(ipc_conn_new(f->l, fd, NULL, NULL, NULL, &c->conn), 0);
	assert_int_equal(ipc_conn_root(c->conn, &c->root), 0);
}

static void client_close(struct client *c)
{
	c->root = ipc_proxy_unref(c->root);
	c->conn = ipc_conn_free(c->conn);
}

/* allocateGlobalVmContext; 0 with the context proxy, or the call's error. */
static int try_allocate(struct client *c, const char *name, int32_t pid, struct ipc_proxy **ret)
{
	struct ipc_msg *req, *rep = NULL;
	int r;

	assert_int_equal(ipc_msg_new(&req), 0);
	assert_int_equal(ipc_msg_put_string(req, name), 0);
	assert_int_equal(ipc_msg_put_i32(req, pid), 0);
	r = ipc_call(c->root, PROTO_VSI_ALLOCATE_GLOBAL_VM_CONTEXT, req, WAIT_NS, &rep);
	ipc_msg_free(req);
	if (r == 0)
		r = ipc_msg_get_proxy(rep, ret);
	ipc_msg_free(rep);
	return r;
}

static struct ipc_proxy *allocate(struct client *c, const char *name, int32_t pid)
{
	struct ipc_proxy *p = NULL;

	if (try_allocate(c, name, pid, &p) < 0)
		fail_msg("allocate: %s", avf_err_last()->msg);
	return p;
}

static int32_t ctx_cid(struct ipc_proxy *p)
{
	struct ipc_msg *rep = NULL;
	int32_t cid;

	assert_int_equal(ipc_call(p, PROTO_CTX_GET_CID, NULL, WAIT_NS, &rep), 0);
	assert_int_equal(ipc_msg_get_i32(rep, &cid), 0);
	ipc_msg_free(rep);
	return cid;
}

/* debugListVms: the row count; CIDs and pids of the first @max rows. */
static unsigned list_vms(struct client *c, int32_t *cids, int32_t *pids, unsigned max)
{
	struct ipc_msg *rep = NULL;
	struct proto_debug_row row;
	uint32_t n, i;

	if (ipc_call(c->root, PROTO_VSI_DEBUG_LIST_VMS, NULL, WAIT_NS, &rep) < 0)
		fail_msg("debugListVms: %s", avf_err_last()->msg);
	assert_int_equal(ipc_msg_get_u32(rep, &n), 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(proto_get_debug_row(rep, &row), 0);
		assert_int_equal(row.requester_uid, (int32_t)getuid());
		if (i < max) {
			cids[i] = row.cid;
			if (pids)
				pids[i] = row.requester_pid;
		}
	}
	ipc_msg_free(rep);
	return n;
}

static int count_entries(const char *dir)
{
	int n = fs_count_entries(dir);

	assert_true(n >= 0);
	return n;
}

/* ---- tests ---- */

static void test_ready_allocate_sigterm(void **state)
{
	struct fx *f = *state;
	struct daemon d;
	struct client c;
	struct ipc_proxy *p1, *p2;
	int32_t cids[4], pids[4];
	char vm_dir[400], buf[8192];

	spawn_ready(f, &d, NULL);
	assert_true(is_socket(f->sock));
	client_connect(f, &c);
	p1 = allocate(&c, "one", 4242);
	p2 = allocate(&c, "two", 4243);
	assert_int_equal(ctx_cid(p1), 2048);
	assert_int_equal(ctx_cid(p2), 2049);
	snprintf(vm_dir, sizeof(vm_dir), "%s/vm", f->state);
	assert_int_equal(count_entries(vm_dir), 2);
	assert_int_equal(list_vms(&c, cids, pids, 4), 2);
	assert_int_equal(cids[1], 2049);
	assert_int_equal(pids[1], 4243);

	/* SIGTERM while a client holds both: exit 0, nothing left behind. */
	stop_daemon(&d);
	assert_false(exists(f->sock));
	assert_int_equal(count_entries(vm_dir), 0);
	read_file(f->trace, buf, sizeof(buf));
	assert_non_null(strstr(buf, " vs connection 1 opened (pid "));
	assert_non_null(strstr(buf, " vs cid 2049 granted\n"));
	assert_non_null(strstr(buf, " vs cid 2049 released\n"));
	assert_non_null(strstr(buf, " vs connection 1 closed (pid "));
	assert_non_null(strstr(buf, " vs stopping (Terminated)\n"));
	assert_non_null(strstr(buf, " vs stopped\n"));
	snprintf(vm_dir, sizeof(vm_dir), "%s/last_cid", f->state);
	read_file(vm_dir, buf, sizeof(buf));
	assert_string_equal(buf, "2049\n");

	/* The client sees the close; its proxies are dead, not dangerous. */
	assert_int_equal(ipc_call(p1, PROTO_CTX_GET_CID, NULL, WAIT_NS, NULL), -EPIPE);
	ipc_proxy_unref(p1);
	ipc_proxy_unref(p2);
	client_close(&c);
}

static void test_second_instance_refused(void **state)
{
	struct fx *f = *state;
	char other_sock[400], want[600], dir[400];
	struct daemon a, b;
	struct client c;
	struct ipc_proxy *p, *q;

	spawn_ready(f, &a, NULL);
	client_connect(f, &c);
	p = allocate(&c, "first", 1);
	snprintf(dir, sizeof(dir), "%s/vm/2048", f->state);
	assert_true(exists(dir));

	/* Same socket: refused before it touches the state of the first. */
	spawn_argv(f, &b, (const char *const[]){"--socket", f->sock, "--state-dir", f->state, NULL},
		   -1);
	assert_exited(&b, 1);
	snprintf(want, sizeof(want),
		 "virtualizationservice: another virtualizationservice is serving %s\n", f->sock);
	/* strstr, not equality: under valgrind its own report shares the stderr. */
	assert_non_null(strstr(b.err, want));
	assert_true(exists(dir));
	assert_true(is_socket(f->sock));

	/* Another socket, same state dir: refused too (it would grant the same CIDs). */
	snprintf(other_sock, sizeof(other_sock), "%s/other.sock", f->dir);
	spawn_argv(f, &b,
		   (const char *const[]){"--socket", other_sock, "--state-dir", f->state, NULL},
		   -1);
	assert_exited(&b, 1);
	snprintf(want, sizeof(want), "another virtualizationservice is using %s", f->state);
	assert_non_null(strstr(b.err, want));
	assert_false(exists(other_sock));
	assert_true(exists(dir));

	/* The first one never noticed. */
	q = allocate(&c, "second", 2);
	assert_int_equal(ctx_cid(q), 2049);
	ipc_proxy_unref(q);
	ipc_proxy_unref(p);
	stop_daemon(&a);
	client_close(&c);
}

static void test_restart_keeps_last_cid(void **state)
{
	struct fx *f = *state;
	struct daemon d;
	struct client c;
	struct ipc_proxy *p, *q;
	char buf[8192];

	spawn_ready(f, &d, NULL);
	client_connect(f, &c);
	p = allocate(&c, "a", 1);
	q = allocate(&c, "b", 1);
	assert_int_equal(ctx_cid(q), 2049);
	/* Both released before the restart: only the persisted cursor remembers them. */
	ipc_proxy_unref(p);
	ipc_proxy_unref(q);
	client_close(&c);
	stop_daemon(&d);

	spawn_ready(f, &d, NULL);
	client_connect(f, &c);
	p = allocate(&c, "c", 1);
	assert_int_equal(ctx_cid(p), 2050);
	ipc_proxy_unref(p);
	client_close(&c);
	/* SIGINT is a clean stop too. */
	assert_int_equal(kill(d.pid, SIGINT), 0);
	assert_exited(&d, 0);
	assert_false(exists(f->sock));
	read_file(f->trace, buf, sizeof(buf));
	assert_non_null(strstr(buf, " vs stopping (Interrupt)\n"));
	assert_null(strstr(d.err, "corrupt"));
}

/* No --socket / --state-dir: both under $XDG_RUNTIME_DIR/avf. */
static void test_default_paths(void **state)
{
	struct fx *f = *state;
	char path[400], buf[64];
	const char *args[] = {"--ready-fd", "3", NULL};
	struct daemon d;
	struct client c;
	struct ipc_proxy *p;
	int rp[2];

	f->xdg = f->dir;
	snprintf(f->sock, sizeof(f->sock), "%s/avf/vs.sock", f->dir);
	assert_int_equal(pipe2(rp, O_CLOEXEC), 0);
	spawn_argv(f, &d, args, rp[1]);
	close(rp[1]);
	assert_true(wait_ready(&d, rp[0]));
	assert_true(is_socket(f->sock));
	client_connect(f, &c);
	p = allocate(&c, "x", 1);
	snprintf(path, sizeof(path), "%s/avf/state/vm/2048", f->dir);
	assert_true(exists(path));
	ipc_proxy_unref(p);
	client_close(&c);
	stop_daemon(&d);
	snprintf(path, sizeof(path), "%s/avf/state/last_cid", f->dir);
	read_file(path, buf, sizeof(buf));
	assert_string_equal(buf, "2048\n");
	assert_false(exists(f->sock));
}

/*
 * The forked client: two contexts, their CIDs written to @report, then it blocks
 * until killed. No cmocka here (a failed assertion would run the rest of the suite
 * in the child): any failure is an exit status, which the parent sees as EOF.
 */
static void __attribute__((noreturn)) client_child(struct fx *f, int report, int block)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct loop *l = NULL;
	struct ipc_proxy *p[2];
	struct ipc_msg *rep;
	struct client c;
	int32_t cids[2];
	int i, fd;
	char b;

	/* The parent's loop (and its epoll) is not ours to touch: a fresh one. */
	if (loop_new(LOOP_CLOCK_MONOTONIC, &l) < 0)
		_exit(1);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    ipc_conn_new(l, fd, NULL, NULL, NULL, &c.conn) < 0 ||
	    ipc_conn_root(c.conn, &c.root) < 0)
		_exit(2);
	for (i = 0; i < 2; i++) {
		rep = NULL;
		if (try_allocate(&c, "doomed", (int32_t)getpid(), &p[i]) < 0 ||
		    ipc_call(p[i], PROTO_CTX_GET_CID, NULL, WAIT_NS, &rep) < 0 ||
		    ipc_msg_get_i32(rep, &cids[i]) < 0)
			_exit(3);
		ipc_msg_free(rep);
	}
	if (write(report, cids, sizeof(cids)) != (ssize_t)sizeof(cids))
		_exit(4);
	/* EOF only if the parent goes away: then so do we. */
	while (read(block, &b, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

static void test_killed_client_releases(void **state)
{
	struct fx *f = *state;
	int rep[2], blk[2], status;
	int32_t got[2], cids[4], pids[4];
	struct ipc_proxy *mine;
	struct daemon d;
	struct client obs;
	char dir[400];
	pid_t child;
	uint64_t dl;
	unsigned n;

	spawn_ready(f, &d, NULL);
	assert_int_equal(pipe2(rep, O_CLOEXEC), 0);
	assert_int_equal(pipe2(blk, O_CLOEXEC), 0);
	/* Forked before our own connection exists, so it holds no copy of it. */
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(rep[0]);
		close(blk[1]);
		client_child(f, rep[1], blk[0]);
	}
	close(rep[1]);
	close(blk[0]);
	{
		struct pollfd p = {.fd = rep[0], .events = POLLIN};

		assert_int_equal(poll(&p, 1, WAIT_MS), 1);
		assert_int_equal(read(rep[0], got, sizeof(got)), (ssize_t)sizeof(got));
	}
	close(rep[0]);
	assert_int_equal(got[0], 2048);
	assert_int_equal(got[1], 2049);

	client_connect(f, &obs);
	mine = allocate(&obs, "observer", 7);
	assert_int_equal(list_vms(&obs, cids, pids, 4), 3);
	assert_int_equal(pids[0], child);
	assert_int_equal(pids[1], child);
	assert_int_equal(pids[2], 7);

	assert_int_equal(kill(child, SIGKILL), 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	close(blk[1]);
	/* The daemon sees the close on its own time: ask until the rows are gone. */
	dl = mono_ms() + WAIT_MS;
	while ((n = list_vms(&obs, cids, NULL, 4)) != 1) {
		if (mono_ms() > dl)
			fail_msg("%u rows still listed %d ms after the client died", n, WAIT_MS);
	}
	assert_int_equal(cids[0], 2050);
	snprintf(dir, sizeof(dir), "%s/vm/2048", f->state);
	assert_false(exists(dir));
	snprintf(dir, sizeof(dir), "%s/vm/2050", f->state);
	assert_true(exists(dir));

	ipc_proxy_unref(mine);
	client_close(&obs);
	stop_daemon(&d);
}

static void test_stale_socket_taken_over(void **state)
{
	struct fx *f = *state;
	struct daemon d;
	struct client c;
	struct ipc_proxy *p;
	char dir[400];

	spawn_ready(f, &d, NULL);
	client_connect(f, &c);
	p = allocate(&c, "a", 1);
	snprintf(dir, sizeof(dir), "%s/vm/2048", f->state);
	assert_true(exists(dir));
	assert_int_equal(kill(d.pid, SIGKILL), 0);
	wait_exit(&d);
	assert_true(WIFSIGNALED(d.status));
	ipc_proxy_unref(p);
	client_close(&c);
	/* Left behind: the socket file and the temp dir. */
	assert_true(is_socket(f->sock));
	assert_true(exists(dir));

	spawn_ready(f, &d, NULL);
	client_connect(f, &c);
	p = allocate(&c, "b", 1);
	assert_int_equal(ctx_cid(p), 2049); /* 2048 was granted before the kill */
	assert_false(exists(dir));          /* the dead one's dir was wiped at start */
	ipc_proxy_unref(p);
	client_close(&c);
	stop_daemon(&d);
	assert_non_null(strstr(d.err, "virtualizationservice: removed stale VM temp dirs (1)"));
	assert_false(exists(f->sock));
}

static void test_exhaustion(void **state)
{
	struct fx *f = *state;
	struct daemon d;
	struct client c;
	struct ipc_proxy *p[3] = {NULL};

	spawn_ready(f, &d, (const char *const[]){"--cid-range", "3000-3001", NULL});
	client_connect(f, &c);
	p[0] = allocate(&c, "a", 1);
	p[1] = allocate(&c, "b", 1);
	assert_int_equal(ctx_cid(p[1]), 3001);
	assert_int_equal(try_allocate(&c, "c", 1, &p[2]), -EREMOTEIO);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_STATE);
	assert_string_equal(avf_err_last()->msg, "Could not find an available CID.");
	p[0] = ipc_proxy_unref(p[0]);
	p[2] = allocate(&c, "c", 1);
	assert_int_equal(ctx_cid(p[2]), 3000);
	ipc_proxy_unref(p[1]);
	ipc_proxy_unref(p[2]);
	client_close(&c);
	stop_daemon(&d);
}

static void test_bad_arguments(void **state)
{
	static const struct {
		const char *args[3];
		const char *needle;
	} cases[] = {
	    {{"--bogus"}, "unknown option '--bogus'"},
	    {{"-x"}, "unknown option '-x'"},
	    {{"--cid-range", "5"}, "--cid-range: '5' is not MIN-MAX"},
	    {{"--cid-range", "10-5"}, "--cid-range: '10-5' is not a range within"},
	    {{"--cid-range", "0-10"}, "--cid-range: '0-10' is not a range within"},
	    {{"--cid-range", "1x-20"}, "--cid-range: '1x-20' is not MIN-MAX"},
	    {{"--cid-range", "3-99999999999"}, "--cid-range"},
	    {{"--ready-fd", "1"}, "--ready-fd: '1' is not an fd number other than 0, 1, 2"},
	    {{"--ready-fd", "x"}, "--ready-fd: 'x'"},
	    {{"--ready-fd", "99"}, "--ready-fd: fd 99 is not open"},
	    {{"--state-dir", ""}, "--state-dir: the path is empty"},
	    {{"--socket"}, "option '--socket' needs a value"},
	    {{"extra"}, "unexpected argument 'extra'"},
	};
	struct fx *f = *state;
	struct daemon d;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[8] = {"--socket", f->sock, "--state-dir", f->state};
		int n = 4, k;

		for (k = 0; k < 3 && cases[i].args[k]; k++)
			args[n++] = cases[i].args[k];
		args[n] = NULL;
		spawn_argv(f, &d, args, -1);
		assert_exited(&d, 2);
		if (!strstr(d.err, cases[i].needle) ||
		    !strstr(d.err, "Try 'virtualizationservice --help'"))
			fail_msg("case %zu: stderr '%s' lacks '%s'", i, d.err, cases[i].needle);
		assert_int_equal(d.out_len, 0);
	}
	/* Refused before touching anything. */
	assert_false(exists(f->sock));
	assert_false(exists(f->state));
}

static void test_help_and_version(void **state)
{
	struct fx *f = *state;
	struct daemon d;

	spawn_argv(f, &d, (const char *const[]){"--help", NULL}, -1);
	assert_exited(&d, 0);
	assert_non_null(strstr(d.out, "Usage: virtualizationservice [OPTION]..."));
	assert_non_null(strstr(d.out, "--cid-range MIN-MAX"));
	assert_non_null(strstr(d.out, "default 2048-65535"));
	assert_null(strstr(d.err, "Usage:"));

	spawn_argv(f, &d, (const char *const[]){"--version", NULL}, -1);
	assert_exited(&d, 0);
	assert_string_equal(d.out, "virtualizationservice " AVF_VERSION "\n");
}

static void test_runtime_failure(void **state)
{
	struct fx *f = *state;
	struct daemon d;
	char file[400];
	int p[2];

	/* The state dir cannot be created (a file is in the way): exit 1, no socket left. */
	snprintf(file, sizeof(file), "%s/file", f->dir);
	fclose(fopen(file, "w"));
	snprintf(f->state, sizeof(f->state), "%s/file/state", f->dir);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	spawn_argv(f, &d,
		   (const char *const[]){"--socket", f->sock, "--state-dir", f->state, "--ready-fd",
					 "3", NULL},
		   p[1]);
	close(p[1]);
	assert_false(wait_ready(&d, p[0])); /* EOF, not 'o' */
	assert_exited(&d, 1);
	assert_non_null(strstr(d.err, "virtualizationservice: cannot create directory"));
	assert_false(exists(f->sock));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ready_allocate_sigterm, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_second_instance_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart_keeps_last_cid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_default_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_killed_client_releases, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_socket_taken_over, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exhaustion, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_help_and_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_runtime_failure, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
