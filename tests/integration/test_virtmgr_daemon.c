/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtmgr as a real process, started exactly as a client library starts it
 * (research/avf-spec.md 6.1): a SOCK_SEQPACKET socketpair and an O_CLOEXEC pipe,
 * the child given its two ends without CLOEXEC and `--rpc-server-fd N --ready-fd M`.
 * The test then speaks core/ipc to it: lifecycles on fakevmm processes, death
 * reasons, shutdown when the client closes, VMMs dying with a SIGKILLed virtmgr,
 * bad command lines. The test is a child subreaper, so a VMM that outlived
 * virtmgr would become its child and be seen. Waits are for events with a
 * deadline (generous: under `ctest -T memcheck` everything runs under valgrind).
 */
#include "cmocka_wrap.h"
#include "test_fds.h"
#include "test_vmm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "ipc/ipc_conn.h"
#include "loop/loop.h"
#include "proto/avf_proto.h"
#include "vm/death_reason.h"

#define WAIT_MS  60000
#define CALL_NS  (60ull * LOOP_NSEC_PER_SEC)
#define MAX_KIDS 16

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- processes ---- */

/*
 * Wait at most @ms for child @pid (of this process) to end; its status in *ret.
 * A pidfd when the kernel (and valgrind) has one; else waitpid polled on a 10 ms
 * tick, still bounded by the deadline.
 */
static bool wait_child(pid_t pid, int ms, int *ret)
{
	uint64_t deadline = mono_ms() + (uint64_t)ms;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	bool done = false;
	pid_t r;

	for (;;) {
		r = waitpid(pid, ret, WNOHANG);
		if (r == pid) {
			done = true;
			break;
		}
		assert_int_equal(r, 0);
		if (mono_ms() >= deadline)
			break;
		if (pidfd >= 0) {
			struct pollfd p = {.fd = pidfd, .events = POLLIN};

			poll(&p, 1, (int)(deadline - mono_ms()) + 1);
		} else {
			poll(NULL, 0, 10);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	return done;
}

/* Children of @ppid, from /proc/<pid>/stat (field 4). */
static int children_of(pid_t ppid, pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		char path[64], buf[512], *p;
		int fd, pp;
		ssize_t len;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		/* "pid (comm) S ppid ...": comm may hold anything, so from the last ')' */
		p = strrchr(buf, ')');
		if (!p || sscanf(p + 1, " %*c %d", &pp) != 1 || pp != ppid)
			continue;
		assert_true(n < max);
		out[n++] = (pid_t)atoi(de->d_name);
	}
	closedir(d);
	return n;
}

struct spawn_opts {
	const char *backend;   /* AVF_BACKEND, NULL: unset */
	const char *vs_socket; /* AVF_VS_SOCKET, default "local" */
	int sock_type;         /* socketpair type for the client socket; 0: SOCK_SEQPACKET */
	/* Overrides the command line (bad-args tests); the words "{rpc}" and "{ready}"
	 * become the numbers of the two inherited fds. */
	const char *const *argv;
	bool capture_err; /* stderr and stdout into err_fd */
};

struct daemon {
	pid_t pid;
	int sock;     /* our end, -1 once handed to the connection */
	int ready_rd; /* read end of the ready pipe */
	int err_rd;   /* stdout+stderr when captured, else -1 */
	struct loop *l;
	struct ipc_conn *conn;
	struct ipc_proxy *vs;
};

/* Fork + exec virtmgr as the client library does. */
static void spawn(struct daemon *d, const struct spawn_opts *o)
{
	int sv[2], rp[2], ep[2] = {-1, -1};
	char a_rpc[16], a_ready[16];

	memset(d, 0, sizeof(*d));
	d->err_rd = -1;
	assert_int_equal(socketpair(AF_UNIX,
				    (o->sock_type ? o->sock_type : SOCK_SEQPACKET) | SOCK_CLOEXEC,
				    0, sv),
			 0);
	assert_int_equal(pipe2(rp, O_CLOEXEC), 0);
	if (o->capture_err)
		assert_int_equal(pipe2(ep, O_CLOEXEC), 0);
	snprintf(a_rpc, sizeof(a_rpc), "%d", sv[1]);
	snprintf(a_ready, sizeof(a_ready), "%d", rp[1]);
	d->pid = fork();
	assert_true(d->pid >= 0);
	if (d->pid == 0) {
		const char *argv[16] = {AVF_VIRTMGR_PATH, "--rpc-server-fd", "{rpc}",
					"--ready-fd",     "{ready}",         NULL};

		for (int i = 0; o->argv && i < 15; i++)
			if (!(argv[i] = o->argv[i]))
				break;
		for (int i = 0; argv[i]; i++) {
			if (strcmp(argv[i], "{rpc}") == 0)
				argv[i] = a_rpc;
			else if (strcmp(argv[i], "{ready}") == 0)
				argv[i] = a_ready;
		}

		/* Exactly the two fds are inherited. */
		if (fcntl(sv[1], F_SETFD, 0) < 0 || fcntl(rp[1], F_SETFD, 0) < 0)
			_exit(120);
		if (ep[1] >= 0 && (dup2(ep[1], 1) < 0 || dup2(ep[1], 2) < 0))
			_exit(121);
		setenv("AVF_VS_SOCKET", o->vs_socket ? o->vs_socket : "local", 1);
		setenv("AVF_FAKEVMM", AVF_FAKEVMM_PATH, 1);
		if (o->backend)
			setenv("AVF_BACKEND", o->backend, 1);
		else
			unsetenv("AVF_BACKEND");
		unsetenv("AVF_TRACE_FILE");
		execv(AVF_VIRTMGR_PATH, (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	close(rp[1]);
	if (ep[1] >= 0)
		close(ep[1]);
	d->sock = sv[0];
	d->ready_rd = rp[0];
	d->err_rd = ep[0];
}

/* The ready pipe: 'o' then EOF, or EOF alone (false). */
static bool wait_ready(struct daemon *d)
{
	struct pollfd p = {.fd = d->ready_rd, .events = POLLIN};
	char c = 0;
	ssize_t n;

	if (poll(&p, 1, WAIT_MS) != 1)
		fail_msg("no ready byte nor EOF from virtmgr in %d ms", WAIT_MS);
	n = read(d->ready_rd, &c, 1);
	if (n == 0)
		return false;
	assert_int_equal(n, 1);
	assert_int_equal(c, 'o');
	/* then the write end is closed */
	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	assert_int_equal(read(d->ready_rd, &c, 1), 0);
	return true;
}

static void start_daemon(struct daemon *d, const struct spawn_opts *o)
{
	spawn(d, o);
	assert_true(wait_ready(d));
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &d->l), 0);
	assert_int_equal(ipc_conn_new(d->l, d->sock, NULL, NULL, NULL, &d->conn), 0);
	d->sock = -1;
	assert_int_equal(ipc_conn_root(d->conn, &d->vs), 0);
}

/* Our end goes (the client "exits"); virtmgr must exit 0 in time. */
static void close_client(struct daemon *d, int *ret_status)
{
	d->vs = ipc_proxy_unref(d->vs);
	d->conn = ipc_conn_free(d->conn);
	if (d->sock >= 0)
		close(d->sock);
	d->sock = -1;
	if (!wait_child(d->pid, WAIT_MS, ret_status))
		fail_msg("virtmgr %d did not exit within %d ms of the client closing", (int)d->pid,
			 WAIT_MS);
}

static void daemon_cleanup(struct daemon *d)
{
	d->vs = ipc_proxy_unref(d->vs);
	d->conn = ipc_conn_free(d->conn);
	d->l = loop_free(d->l);
	if (d->sock >= 0)
		close(d->sock);
	close(d->ready_rd);
	if (d->err_rd >= 0)
		close(d->err_rd);
}

static void assert_exit_0(int status)
{
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("virtmgr ended with status %#x, expected exit 0", status);
}

/* ---- the client side of the protocol ---- */

struct cb {
	char log[1024];
	int died;
};

static int cb_dispatch(struct ipc_object *obj, struct ipc_conn *conn, uint32_t method,
		       struct ipc_msg *req, struct ipc_msg *reply)
{
	struct cb *cb = ipc_object_data(obj);
	size_t n = strlen(cb->log);
	int32_t cid, v = 0;
	const char *msg = "";

	assert_int_equal(ipc_msg_get_i32(req, &cid), 0);
	if (method == PROTO_CB_ON_PAYLOAD_FINISHED || method == PROTO_CB_ON_ERROR ||
	    method == PROTO_CB_ON_DIED)
		assert_int_equal(ipc_msg_get_i32(req, &v), 0);
	if (method == PROTO_CB_ON_ERROR)
		assert_int_equal(ipc_msg_get_string(req, &msg), 0);
	switch (method) {
	case PROTO_CB_ON_PAYLOAD_STARTED:
		snprintf(cb->log + n, sizeof(cb->log) - n, "started(%d);", cid);
		break;
	case PROTO_CB_ON_PAYLOAD_READY:
		snprintf(cb->log + n, sizeof(cb->log) - n, "ready(%d);", cid);
		break;
	case PROTO_CB_ON_PAYLOAD_FINISHED:
		snprintf(cb->log + n, sizeof(cb->log) - n, "finished(%d,%d);", cid, v);
		break;
	case PROTO_CB_ON_ERROR:
		snprintf(cb->log + n, sizeof(cb->log) - n, "error(%d,%d,%s);", cid, v, msg);
		break;
	case PROTO_CB_ON_DIED:
		cb->died++;
		snprintf(cb->log + n, sizeof(cb->log) - n, "died(%d,%s);", cid,
			 death_reason_name((enum avf_death_reason)v));
		break;
	default: fail_msg("unexpected callback %u", method);
	}
	return 0;
}

static const struct ipc_object_ops cb_ops = {.name = PROTO_NAME_CB, .dispatch = cb_dispatch};

static int create_vm(struct daemon *d, enum vm_config_kind kind, const char *script,
		     struct ipc_proxy **ret)
{
	struct ipc_msg *req, *reply = NULL;
	struct vm_config c;
	int r;

	vm_config_init(&c);
	c.kind = kind;
	c.name = "daemon-test";
	c.guest_script = (char *)script;
	assert_int_equal(ipc_msg_new(&req), 0);
	assert_int_equal(proto_put_config(req, &c), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ipc_msg_put_null(req), 0);
	r = ipc_call(d->vs, PROTO_VS_CREATE_VM, req, CALL_NS, &reply);
	ipc_msg_free(req);
	if (r < 0)
		return r;
	assert_int_equal(ipc_msg_get_proxy(reply, ret), 0);
	ipc_msg_free(reply);
	return 0;
}

/* createVm + registerCallback (before start, as vmclient does) + start. */
static struct ipc_proxy *run_vm(struct daemon *d, enum vm_config_kind kind, const char *script,
				struct cb *cb)
{
	struct ipc_proxy *vm = NULL;
	struct ipc_object *obj;
	struct ipc_msg *req;

	if (create_vm(d, kind, script, &vm) < 0)
		fail_msg("createVm: %s", avf_err_last()->msg);
	assert_int_equal(ipc_object_new(&cb_ops, cb, &obj), 0);
	assert_int_equal(ipc_msg_new(&req), 0);
	assert_int_equal(ipc_msg_put_object(req, obj), 0);
	ipc_object_unref(obj);
	if (ipc_call(vm, PROTO_VM_REGISTER_CALLBACK, req, CALL_NS, NULL) < 0)
		fail_msg("registerCallback: %s", avf_err_last()->msg);
	ipc_msg_free(req);
	if (ipc_call(vm, PROTO_VM_START, NULL, CALL_NS, NULL) < 0)
		fail_msg("start: %s", avf_err_last()->msg);
	return vm;
}

static int32_t get_i32(struct ipc_proxy *p, uint32_t method)
{
	struct ipc_msg *reply = NULL;
	int32_t v;

	if (ipc_call(p, method, NULL, CALL_NS, &reply) < 0)
		fail_msg("method %u: %s", method, avf_err_last()->msg);
	assert_int_equal(ipc_msg_get_i32(reply, &v), 0);
	ipc_msg_free(reply);
	return v;
}

#define PUMP_UNTIL(d, cond)                                                                        \
	do {                                                                                       \
		uint64_t dl_ = mono_ms() + WAIT_MS;                                                \
		while (!(cond)) {                                                                  \
			if (mono_ms() > dl_)                                                       \
				fail_msg("timed out waiting for " #cond);                          \
			assert_true(loop_run_once((d)->l, 100) >= 0);                              \
		}                                                                                  \
	} while (0)

static bool all_died(const struct cb *cb, int n)
{
	for (int i = 0; i < n; i++)
		if (!cb[i].died)
			return false;
	return true;
}

/* ---- tests ---- */

static void test_ready_byte_and_full_lifecycle(void **state)
{
	struct daemon d;
	struct cb cb = {0};
	struct ipc_proxy *vm;
	int status;

	start_daemon(&d, &(struct spawn_opts){0});
	vm = run_vm(&d, VM_CONFIG_APP, "started; ready; finished 0; exit 0", &cb);
	PUMP_UNTIL(&d, cb.died);
	assert_string_equal(cb.log,
			    "started(2048);ready(2048);finished(2048,0);died(2048,SHUTDOWN);");
	assert_int_equal(get_i32(vm, PROTO_VM_GET_STATE), AVF_VM_STATE_DEAD);
	assert_int_equal(get_i32(vm, PROTO_VM_GET_CID), 2048);
	ipc_proxy_unref(vm);
	close_client(&d, &status);
	assert_exit_0(status);
	daemon_cleanup(&d);
}

static void test_script_outcomes_map_to_death_reasons(void **state)
{
	static const struct {
		const char *script;
		const char *reason;
	} rows[] = {
	    {"exit 0", "SHUTDOWN"},
	    {"exit 1", "START_FAILED"},
	    {"exit 32", "REBOOT"},
	    {"exit 33", "CRASH"},
	    {"exit 36", "WATCHDOG_REBOOT"},
	    {"exit 7", "UNKNOWN"},
	    {"signal SEGV", "KILLED"},
	    {"signal KILL", "KILLED"},
	    {"failure MICRODROID_PAYLOAD_VERIFICATION_FAILED; exit 0",
	     "MICRODROID_PAYLOAD_VERIFICATION_FAILED"},
	    {"failure PVM_FIRMWARE_PUBLIC_KEY_MISMATCH|details; signal KILL",
	     "PVM_FIRMWARE_PUBLIC_KEY_MISMATCH"},
	};
	enum { N = sizeof(rows) / sizeof(rows[0]) };
	struct daemon d;
	struct cb cb[N];
	struct ipc_proxy *vm[N];
	char want[128];
	int status;

	memset(cb, 0, sizeof(cb));
	start_daemon(&d, &(struct spawn_opts){.backend = "fake"});
	/* All at once: N fakevmm processes of one virtmgr. */
	for (int i = 0; i < N; i++)
		vm[i] = run_vm(&d, VM_CONFIG_RAW, rows[i].script, &cb[i]);
	PUMP_UNTIL(&d, all_died(cb, N));
	for (int i = 0; i < N; i++) {
		snprintf(want, sizeof(want), "died(%d,%s);", 2048 + i, rows[i].reason);
		if (strcmp(cb[i].log, want) != 0)
			fail_msg("script '%s': got %s want %s", rows[i].script, cb[i].log, want);
		ipc_proxy_unref(vm[i]);
	}
	close_client(&d, &status);
	assert_exit_0(status);
	daemon_cleanup(&d);
}

/* Closing the client's end (or SIGTERM) kills and reaps every VMM, then exit 0. */
static void shutdown_kills_vmms(bool by_sigterm)
{
	struct daemon d;
	struct cb cb[2];
	struct ipc_proxy *vm[2];
	pid_t kids[MAX_KIDS];
	int n, status;

	memset(cb, 0, sizeof(cb));
	start_daemon(&d, &(struct spawn_opts){0});
	vm[0] = run_vm(&d, VM_CONFIG_RAW, "started; hang", &cb[0]);
	vm[1] = run_vm(&d, VM_CONFIG_APP, "hang", &cb[1]);
	n = children_of(d.pid, kids, MAX_KIDS);
	assert_int_equal(n, 2);
	if (by_sigterm) {
		assert_int_equal(kill(d.pid, SIGTERM), 0);
		if (!wait_child(d.pid, WAIT_MS, &status))
			fail_msg("virtmgr did not exit after SIGTERM");
	} else {
		close_client(&d, &status);
	}
	assert_exit_0(status);
	/* Reaped by virtmgr: gone, not even zombies (they would be ours: subreaper). */
	for (int i = 0; i < n; i++) {
		errno = 0;
		assert_int_equal(kill(kids[i], 0), -1);
		assert_int_equal(errno, ESRCH);
	}
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	ipc_proxy_unref(vm[0]);
	ipc_proxy_unref(vm[1]);
	daemon_cleanup(&d);
}

static void test_client_close_kills_and_reaps_vmms(void **state)
{
	shutdown_kills_vmms(false);
}

static void test_sigterm_kills_and_reaps_vmms(void **state)
{
	shutdown_kills_vmms(true);
}

static void test_sigkill_of_virtmgr_kills_vmms(void **state)
{
	struct daemon d;
	struct cb cb[2];
	struct ipc_proxy *vm[2];
	pid_t kids[MAX_KIDS];
	int n, status;

	memset(cb, 0, sizeof(cb));
	start_daemon(&d, &(struct spawn_opts){0});
	vm[0] = run_vm(&d, VM_CONFIG_RAW, "started; hang", &cb[0]);
	vm[1] = run_vm(&d, VM_CONFIG_RAW, "hang", &cb[1]);
	n = children_of(d.pid, kids, MAX_KIDS);
	assert_int_equal(n, 2);
	assert_int_equal(kill(d.pid, SIGKILL), 0);
	assert_true(wait_child(d.pid, WAIT_MS, &status));
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* Each VMM, orphaned, becomes our child and dies promptly (test_vmm.h: how). */
	for (int i = 0; i < n; i++) {
		if (!wait_child(kids[i], WAIT_MS, &status))
			fail_msg("VMM %d outlived its virtmgr by %d ms", (int)kids[i], WAIT_MS);
		assert_true(vmm_orphan_status_ok(status));
	}
	ipc_proxy_unref(vm[0]);
	ipc_proxy_unref(vm[1]);
	daemon_cleanup(&d);
}

static void test_sim_backend(void **state)
{
	struct daemon d;
	struct cb cb = {0};
	struct ipc_proxy *vm;
	pid_t kids[MAX_KIDS];
	int status;

	start_daemon(&d, &(struct spawn_opts){.backend = "sim"});
	vm = run_vm(&d, VM_CONFIG_APP, "started; ready; finished 3; exit 0", &cb);
	PUMP_UNTIL(&d, cb.died);
	assert_string_equal(cb.log,
			    "started(2048);ready(2048);finished(2048,3);died(2048,SHUTDOWN);");
	assert_int_equal(children_of(d.pid, kids, MAX_KIDS), 0); /* no processes */
	ipc_proxy_unref(vm);
	close_client(&d, &status);
	assert_exit_0(status);
	daemon_cleanup(&d);
}

static void test_virtualizationservice_unreachable(void **state)
{
	static const char path[] = "/nonexistent-avf-test/vs.sock";
	struct daemon d;
	struct ipc_proxy *vm = NULL;
	char want[256];
	int status;

	start_daemon(&d, &(struct spawn_opts){.vs_socket = path});
	assert_int_equal(create_vm(&d, VM_CONFIG_RAW, NULL, &vm), -EREMOTEIO);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_STATE);
	snprintf(want, sizeof(want), "virtualizationservice is not available at %s: %s", path,
		 strerror(ENOENT));
	assert_string_equal(avf_err_last()->msg, want);
	close_client(&d, &status);
	assert_exit_0(status);
	daemon_cleanup(&d);
}

/* Run virtmgr with a bad command line; it must exit 2 with @substr in its output. */
static void bad_args(const struct spawn_opts *o, int want_status, const char *substr)
{
	struct daemon d;
	char out[4096];
	size_t len = 0;
	ssize_t n;
	int status;

	spawn(&d, o);
	/* its output, until EOF (it exits), bounded */
	for (;;) {
		struct pollfd p = {.fd = d.err_rd, .events = POLLIN};

		if (poll(&p, 1, WAIT_MS) != 1)
			fail_msg("virtmgr neither wrote nor exited in %d ms", WAIT_MS);
		n = read(d.err_rd, out + len, sizeof(out) - 1 - len);
		assert_true(n >= 0);
		if (n == 0)
			break;
		len += (size_t)n;
		assert_true(len < sizeof(out) - 1);
	}
	out[len] = '\0';
	assert_true(wait_child(d.pid, WAIT_MS, &status));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != want_status)
		fail_msg("status %#x, expected exit %d; output: %s", status, want_status, out);
	if (!strstr(out, substr))
		fail_msg("output lacks '%s': %s", substr, out);
	/* never ready */
	if (want_status != 0)
		assert_false(wait_ready(&d));
	daemon_cleanup(&d);
}

static void test_bad_command_lines(void **state)
{
	const char *v = AVF_VIRTMGR_PATH;
	int fds_before = count_fds();

	bad_args(&(struct spawn_opts){.capture_err = true, .argv = (const char *[]){v, NULL}}, 2,
		 "--rpc-server-fd is required");
	bad_args(
	    &(struct spawn_opts){.capture_err = true,
				 .argv = (const char *[]){v, "--rpc-server-fd", "{rpc}", NULL}},
	    2, "--ready-fd is required");
	bad_args(&(struct spawn_opts){.capture_err = true,
				      .argv = (const char *[]){v, "--rpc-server-fd", "1",
							       "--ready-fd", "{ready}", NULL}},
		 2, "--rpc-server-fd: fd 1 is standard input, output or error");
	bad_args(&(struct spawn_opts){.capture_err = true,
				      .argv = (const char *[]){v, "--rpc-server-fd", "999",
							       "--ready-fd", "{ready}", NULL}},
		 2, "--rpc-server-fd: fd 999 is not open");
	bad_args(&(struct spawn_opts){.capture_err = true,
				      .argv = (const char *[]){v, "--rpc-server-fd", "x",
							       "--ready-fd", "{ready}", NULL}},
		 2, "--rpc-server-fd: 'x' is not an fd number");
	bad_args(&(struct spawn_opts){.capture_err = true,
				      .argv = (const char *[]){v, "--rpc-server-fd", "{rpc}",
							       "--ready-fd", "{rpc}", NULL}},
		 2, "is already taken by the other flag");
	bad_args(&(struct spawn_opts){.capture_err = true,
				      .argv = (const char *[]){v, "--ready-fd", "{ready}",
							       "--rpc-server-fd", "{rpc}",
							       "--bogus", NULL}},
		 2, "unknown option '--bogus'");
	bad_args(&(struct spawn_opts){.capture_err = true,
				      .argv = (const char *[]){v, "--ready-fd", NULL}},
		 2, "option '--ready-fd' needs a value");
	/* a stream socketpair (A15's transport) is refused: we speak SOCK_SEQPACKET */
	bad_args(&(struct spawn_opts){.capture_err = true, .sock_type = SOCK_STREAM}, 2,
		 "SOCK_SEQPACKET only");
	bad_args(&(struct spawn_opts){.capture_err = true, .backend = "qemu"}, 2,
		 "AVF_BACKEND: 'qemu' is neither 'fake' nor 'sim'");
	bad_args(
	    &(struct spawn_opts){.capture_err = true, .argv = (const char *[]){v, "--help", NULL}},
	    0, "--rpc-server-fd N");
	bad_args(&(struct spawn_opts){.capture_err = true,
				      .argv = (const char *[]){v, "--version", NULL}},
		 0, "virtmgr " AVF_VERSION "\n");
	assert_int_equal(count_fds(), fds_before);
}

static int setup(void **state)
{
	/* Orphans of virtmgr become our children: a surviving VMM cannot hide. */
	signal(SIGPIPE, SIG_IGN);
	return prctl(PR_SET_CHILD_SUBREAPER, 1) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ready_byte_and_full_lifecycle),
	    cmocka_unit_test(test_script_outcomes_map_to_death_reasons),
	    cmocka_unit_test(test_client_close_kills_and_reaps_vmms),
	    cmocka_unit_test(test_sigterm_kills_and_reaps_vmms),
	    cmocka_unit_test(test_sigkill_of_virtmgr_kills_vmms),
	    cmocka_unit_test(test_sim_backend),
	    cmocka_unit_test(test_virtualizationservice_unreachable),
	    cmocka_unit_test(test_bad_command_lines),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
