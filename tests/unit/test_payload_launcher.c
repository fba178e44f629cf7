/* SPDX-License-Identifier: Apache-2.0 */
/*
 * avf-payload-launcher, the real libvm_payload.so and the example payloads, run the
 * way the guest agent runs them: the launcher as a child process with one end of a
 * SOCK_SEQPACKET socketpair as AVF_PAYLOAD_SERVICE_FD, this test serving the other
 * end with payload_service_serve_one() and reading the payload's stdout and stderr.
 *
 * The payloads are linked against the stub libvm_payload.so, which exits 1 with a
 * message if any of it runs; every payload here that calls the API and gets the
 * service's answer therefore ran against the real library. Expected secrets are
 * computed with OpenSSL's HMAC() from the rule in payload_secret.h.
 */
#include "cmocka_wrap.h"

#include <dlfcn.h>
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
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/mono_time.h"
#include "payload_service.h"
#include "test_fds.h"

/* Generous: under valgrind on a loaded 2-core machine a launcher takes seconds. */
#define WAIT_MS 60000

struct launch {
	bool no_service;             /* leave AVF_PAYLOAD_SERVICE_FD unset */
	const char *vsock_dir;       /* AVF_VSOCK_DIR */
	const char *ld_library_path; /* LD_LIBRARY_PATH */
	bool restricted_allowed;
	uint8_t seed_byte; /* the secret seed is 32 times this byte */
};

struct run {
	pid_t pid;
	int svc, out, err; /* -1 once closed */
	char out_buf[4096];
	size_t out_len;
	char err_buf[16384];
	size_t err_len;
	int ready_calls;
	struct payload_service_identity id;
	struct payload_service_ops ops;
};

static int notify_ready(void *ctx)
{
	struct run *r = ctx;

	r->ready_calls++;
	return 0;
}

static void payload_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/lib%s.so", AVF_PAYLOADS_DIR, name);
}

/* Start the launcher with @argv (argv[0] is set here), environment per @l. */
static void run_start(struct run *r, const char *const *argv, const struct launch *l)
{
	int sv[2], out[2], err[2], fd, devnull;
	char num[16];

	*r = (struct run){.svc = -1, .out = -1, .err = -1};
	memset(r->id.secret_seed, l->seed_byte, sizeof(r->id.secret_seed));
	r->id.restricted_allowed = l->restricted_allowed;
	r->ops.notify_ready = notify_ready;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	r->pid = fork();
	assert_true(r->pid >= 0);
	if (r->pid == 0) {
		/* The test is single-threaded, so setenv between fork and exec is safe. */
		devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out[1], 1) < 0 ||
		    dup2(err[1], 2) < 0)
			_exit(126);
		unsetenv("AVF_PAYLOAD_SERVICE_FD");
		if (!l->no_service) {
			/* Inherited (no FD_CLOEXEC), as the agent passes it. */
			fd = fcntl(sv[1], F_DUPFD, 20);
			snprintf(num, sizeof(num), "%d", fd);
			setenv("AVF_PAYLOAD_SERVICE_FD", num, 1);
		}
		unsetenv("AVF_VSOCK_DIR");
		if (l->vsock_dir)
			setenv("AVF_VSOCK_DIR", l->vsock_dir, 1);
		if (l->ld_library_path)
			setenv("LD_LIBRARY_PATH", l->ld_library_path, 1);
		execv(AVF_LAUNCHER_PATH, (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	close(out[1]);
	close(err[1]);
	r->svc = sv[0];
	r->out = out[0];
	r->err = err[0];
}

static void drain(int *fd, char *buf, size_t size, size_t *len)
{
	char scratch[4096];
	ssize_t n = read(*fd, scratch, sizeof(scratch));

	if (n <= 0) {
		close(*fd);
		*fd = -1;
		return;
	}
	/* Keep what fits (NUL-terminated); the rest is read and dropped. */
	for (ssize_t i = 0; i < n && *len + 1 < size; i++)
		buf[(*len)++] = scratch[i];
	buf[*len] = '\0';
}

/* Serve the payload and collect its output until @done(r) or until all is closed. */
static void pump(struct run *r, bool (*done)(const struct run *))
{
	int64_t deadline = mono_ms() + WAIT_MS;
	struct pollfd p[3];
	int *fds[3] = {&r->svc, &r->out, &r->err};

	while (!done(r)) {
		nfds_t n = 0;
		int64_t left = deadline - mono_ms();

		for (int i = 0; i < 3; i++)
			if (*fds[i] >= 0)
				p[n++] = (struct pollfd){.fd = *fds[i], .events = POLLIN};
		if (n == 0)
			return;
		if (left <= 0)
			fail_msg("payload: no progress in %d ms; stderr so far: %s", WAIT_MS,
				 r->err_buf);
		if (poll(p, n, (int)left) < 0) {
			assert_int_equal(errno, EINTR);
			continue;
		}
		for (nfds_t i = 0; i < n; i++) {
			if (!p[i].revents)
				continue;
			if (p[i].fd == r->svc) {
				/* 0: the payload closed its end; <0: it went away mid-call. */
				if (payload_service_serve_one(r->svc, &r->id, &r->ops, r) <= 0) {
					close(r->svc);
					r->svc = -1;
				}
			} else if (p[i].fd == r->out) {
				drain(&r->out, r->out_buf, sizeof(r->out_buf), &r->out_len);
			} else {
				drain(&r->err, r->err_buf, sizeof(r->err_buf), &r->err_len);
			}
		}
	}
}

static bool never(const struct run *r)
{
	(void)r;
	return false;
}

static bool ready(const struct run *r)
{
	return r->ready_calls > 0;
}

/* Run until the payload has closed everything, then reap it; returns its status. */
static int run_finish(struct run *r)
{
	int status;

	pump(r, never);
	/* Its stdout, stderr and service end are closed: it has exited or is exiting. */
	assert_int_equal(waitpid(r->pid, &status, 0), r->pid);
	return status;
}

static int run_payload(struct run *r, const char *name, const struct launch *l)
{
	char path[512];
	const char *argv[] = {AVF_LAUNCHER_PATH, path, NULL};

	payload_path(path, sizeof(path), name);
	run_start(r, argv, l);
	return run_finish(r);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("'%s' lacks '%s'", hay, needle);
}

static void assert_starts_with(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("'%s' does not start with '%s'", s, prefix);
}

static void assert_exited(int status, int code)
{
	if (!WIFEXITED(status))
		fail_msg("not exited: status 0x%x", status);
	assert_int_equal(WEXITSTATUS(status), code);
}

static void assert_signaled(int status, int sig)
{
	if (!WIFSIGNALED(status))
		fail_msg("not killed by a signal: status 0x%x", status);
	assert_int_equal(WTERMSIG(status), sig);
}

static int setup(void **state)
{
	int *fds = malloc(sizeof(int));

	assert_non_null(fds);
	*fds = count_fds();
	*state = fds;
	return 0;
}

static int teardown(void **state)
{
	int *fds = *state;

	assert_int_equal(count_fds(), *fds);
	free(fds);
	return 0;
}

static void test_usage(void **state)
{
	const char *none[] = {AVF_LAUNCHER_PATH, NULL};
	const char *two[] = {AVF_LAUNCHER_PATH, "a", "b", NULL};
	struct launch l = {0};
	struct run r;

	run_start(&r, none, &l);
	assert_exited(run_finish(&r), 1);
	assert_starts_with(r.err_buf, "Usage: ");
	assert_int_equal(r.out_len, 0);
	run_start(&r, two, &l);
	assert_exited(run_finish(&r), 1);
	assert_starts_with(r.err_buf, "Usage: ");
	(void)state;
}

static void test_dlopen_failure(void **state)
{
	const char *argv[] = {AVF_LAUNCHER_PATH, "/nonexistent/libnothing.so", NULL};
	struct launch l = {0};
	struct run r;

	run_start(&r, argv, &l);
	assert_exited(run_finish(&r), 1);
	/* AVF's words, then dlerror()'s. */
	assert_starts_with(r.err_buf, "Failed to dlopen /nonexistent/libnothing.so: ");
	assert_contains(r.err_buf, "cannot open shared object file");
	assert_int_equal(r.ready_calls, 0);
	(void)state;
}

static void test_missing_entry_point(void **state)
{
	struct launch l = {0};
	struct run r;

	assert_exited(run_payload(&r, "no_entry", &l), 1);
	assert_starts_with(r.err_buf, "Failed to find entrypoint `AVmPayload_main`: ");
	assert_contains(r.err_buf, "undefined symbol: AVmPayload_main");
	(void)state;
}

static void test_exit_code_passed_through(void **state)
{
	struct launch l = {0};
	struct run r;

	assert_exited(run_payload(&r, "exit7", &l), 7);
	assert_int_equal(r.out_len, 0);
	assert_int_equal(r.ready_calls, 0);
	(void)state;
}

static void test_hello(void **state)
{
	struct launch l = {0};
	struct run r;

	assert_exited(run_payload(&r, "hello", &l), 0);
	assert_string_equal(r.out_buf, "Hello from the payload\n");
	assert_string_equal(r.err_buf, "");
	(void)state;
}

static void test_crash_after_ready(void **state)
{
	struct launch l = {0};
	struct run r;

	assert_signaled(run_payload(&r, "crash", &l), SIGSEGV);
	/* It calls notifyPayloadReady twice: only the first reaches the service. */
	assert_int_equal(r.ready_calls, 1);
	(void)state;
}

/* The hex line libsecret prints for a seed of 32 times @seed_byte. */
static void expected_secret(uint8_t seed_byte, char *hex)
{
	static const char msg[] = "avf-instance-secret\0test-id"; /* label, NUL, id */
	uint8_t seed[32], mac[32];
	unsigned len = 0;

	memset(seed, seed_byte, sizeof(seed));
	assert_non_null(HMAC(EVP_sha256(), seed, 32, (const uint8_t *)msg, sizeof(msg) - 1, mac,
			     &len));
	assert_int_equal(len, 32);
	strcpy(hex, "instance secret: ");
	for (int i = 0; i < 32; i++)
		sprintf(hex + 17 + 2 * i, "%02x", mac[i]);
	strcpy(hex + 17 + 64, "\n");
}

static void test_secret(void **state)
{
	struct launch l = {.seed_byte = 0x11};
	char want[100], first[100];
	struct run r;

	expected_secret(0x11, want);
	assert_exited(run_payload(&r, "secret", &l), 0);
	assert_string_equal(r.out_buf, want);
	strcpy(first, r.out_buf);

	/* Same VM instance (seed), next boot: the same secret. */
	assert_exited(run_payload(&r, "secret", &l), 0);
	assert_string_equal(r.out_buf, first);

	/* Another VM instance: another secret. */
	l.seed_byte = 0x12;
	expected_secret(0x12, want);
	assert_exited(run_payload(&r, "secret", &l), 0);
	assert_string_equal(r.out_buf, want);
	assert_string_not_equal(r.out_buf, first);
	(void)state;
}

static void test_stub_on_library_path_is_not_used(void **state)
{
	char stub_dir[512], want[100], *slash;
	struct launch l = {.seed_byte = 0x11, .ld_library_path = stub_dir};
	struct run r;

	/* Even with the stub first on the search path, the launcher's real library (loaded
	 * before the payload, same soname) is the one the payload binds to. */
	snprintf(stub_dir, sizeof(stub_dir), "%s", AVF_STUB_PATH);
	slash = strrchr(stub_dir, '/');
	assert_non_null(slash);
	*slash = '\0';
	expected_secret(0x11, want);
	assert_exited(run_payload(&r, "secret", &l), 0);
	assert_string_equal(r.out_buf, want);
	(void)state;
}

static void test_restricted(void **state)
{
	struct launch l = {0};
	struct run r;

	/* Not a config-file VM: refused, and the payload aborts (AVF's contract). */
	assert_signaled(run_payload(&r, "restricted", &l), SIGABRT);
	assert_contains(r.err_buf, "libvm_payload: Cannot get attestation CDI: EX_SECURITY: Use "
				   "of restricted APIs is not allowed\n");
	assert_int_equal(r.out_len, 0);

	l.restricted_allowed = true;
	assert_exited(run_payload(&r, "restricted", &l), 0);
	assert_string_equal(r.out_buf, "DICE attestation CDI: 32 bytes\n");
	(void)state;
}

static void test_attestation_statuses(void **state)
{
	struct launch l = {0};
	struct run r;

	assert_exited(run_payload(&r, "attest", &l), 0);
	assert_string_equal(r.out_buf,
			    "The challenge size is not between 0 and 64.\n"
			    "Remote attestation is not supported in the current environment.\n");
	/* The 65-byte challenge never reached the service; the 16-byte one was refused. */
	assert_contains(r.err_buf, "EX_UNSUPPORTED_OPERATION");
	(void)state;
}

static void test_no_service(void **state)
{
	struct launch l = {.no_service = true};
	struct run r;

	assert_signaled(run_payload(&r, "secret", &l), SIGABRT);
	assert_contains(r.err_buf, "AVF_PAYLOAD_SERVICE_FD is not set");
	(void)state;
}

/* Connect to the payload's port @port in @dir, as connectVsock does in the fake VM. */
static int connect_port(const char *dir, unsigned port)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%u", dir, port);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_str(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Read exactly strlen(@want) bytes, within the deadline, and compare. */
static void expect_str(int fd, const char *want)
{
	size_t n = strlen(want), got = 0;
	int64_t deadline = mono_ms() + WAIT_MS;
	char buf[256];

	assert_true(n < sizeof(buf));
	while (got < n) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - mono_ms();
		ssize_t r;

		assert_true(left > 0);
		assert_int_equal(poll(&p, 1, (int)left), 1);
		r = read(fd, buf + got, n - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
	buf[got] = '\0';
	assert_string_equal(buf, want);
}

static void serve_and_echo(const char *dir)
{
	const char *argv[] = {AVF_LAUNCHER_PATH, NULL, NULL};
	struct launch l = {.vsock_dir = dir};
	char path[512], sock[600];
	struct stat st;
	struct run r;
	int a, b;

	payload_path(path, sizeof(path), "ready_serve");
	argv[1] = path;
	run_start(&r, argv, &l);
	/* Ready comes from on_ready: the port is listening by then. */
	pump(&r, ready);
	assert_int_equal(r.ready_calls, 1);
	snprintf(sock, sizeof(sock), "%s/5678", dir);
	assert_int_equal(stat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));

	/* Two connections at once, each on its own thread: b is answered while a waits. */
	a = connect_port(dir, 5678);
	b = connect_port(dir, 5678);
	send_str(b, "hello\nworld\n");
	expect_str(b, "olleh\ndlrow\n");
	send_str(a, "ab");
	send_str(a, "c\n\n");
	expect_str(a, "cba\n\n");
	send_str(a, "quit\n");
	expect_str(a, "tiuq\n");
	close(a);
	close(b);

	/* It serves for ever; the host stops the VM. */
	assert_int_equal(kill(r.pid, SIGKILL), 0);
	assert_signaled(run_finish(&r), SIGKILL);
	assert_int_equal(r.ready_calls, 1);
}

static void test_ready_then_serve(void **state)
{
	const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char dir[256], sock[300];

	snprintf(dir, sizeof(dir), "%s/avf-vsock-XXXXXX", tmp);
	assert_non_null(mkdtemp(dir));
	serve_and_echo(dir);
	/* The killed payload left its socket file: the next boot replaces it. */
	serve_and_echo(dir);
	snprintf(sock, sizeof(sock), "%s/5678", dir);
	assert_int_equal(unlink(sock), 0);
	assert_int_equal(rmdir(dir), 0);
	(void)state;
}

static void test_stub_exits_when_called(void **state)
{
	char err[1024] = "";
	size_t got = 0;
	ssize_t n;
	int p[2], status;
	pid_t pid;

	/* Android 16's stub behaviour: any call reports the mistake and exits 1. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		void *lib = dlopen(AVF_STUB_PATH, RTLD_NOW | RTLD_LOCAL);
		void (*fn)(void);

		dup2(p[1], 2);
		if (!lib)
			_exit(125);
		fn = (void (*)(void))dlsym(lib, "AVmPayload_notifyPayloadReady");
		if (!fn)
			_exit(124);
		fn();
		_exit(0);
	}
	close(p[1]);
	while ((n = read(p[0], err + got, sizeof(err) - 1 - got)) > 0)
		got += (size_t)n;
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_exited(status, 1);
	assert_contains(err, "libvm_payload stub: AVmPayload_notifyPayloadReady called");
	(void)state;
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_usage),
	    T(test_dlopen_failure),
	    T(test_missing_entry_point),
	    T(test_exit_code_passed_through),
	    T(test_hello),
	    T(test_crash_after_ready),
	    T(test_secret),
	    T(test_stub_on_library_path_is_not_used),
	    T(test_restricted),
	    T(test_attestation_statuses),
	    T(test_no_service),
	    T(test_ready_then_serve),
	    T(test_stub_exits_when_called),
	};
	/* A payload's death must not take the test with it through SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
