/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Early VMs end to end (research/avf-spec.md 7; docs/early-virtmgr.md): a fake root
 * in a temp dir with declarations under <root>/<partition>/etc/avf/, copies of
 * early_client at the declared (and undeclared) paths, libvmclient forking
 * early_virtmgr (early = true), fakevmm VMMs. No virtualizationservice runs and
 * AVF_VS_SOCKET points nowhere.
 *
 * Capabilities. The client must hold CAP_IPC_LOCK, CAP_NET_BIND_SERVICE and
 * CAP_SYS_RESOURCE. When this test lacks them, the clients run in a new user
 * namespace of their own (as its root they hold every capability there); when
 * that is impossible too, the cases that need them are skipped with the reason.
 *
 * Identity. early_virtmgr identifies its caller by /proc/<ppid>/exe. Under valgrind
 * that link names valgrind's tool, not the client, so the cases that need a
 * declared caller are skipped there (with the reason); the rest still run.
 *
 * The test is a child subreaper: an early_virtmgr whose client was SIGKILLed
 * becomes our child and is reaped here. Every wait is bounded (SIGALRM interrupts
 * the blocking call); nothing sleeps.
 */
#include "cmocka_wrap.h"
#include "test_fds.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fs_util.h"

/* Generous: under `ctest -T memcheck` every process runs under valgrind. */
#define WAIT_MS 60000

#define EX_SECURITY         "-1"
#define EX_ILLEGAL_STATE    "-5"
#define EX_UNSUPPORTED      "-7"
#define EX_SERVICE_SPECIFIC "-8"

static struct {
	char dir[PATH_MAX];  /* canonical temp dir */
	char root[PATH_MAX]; /* system and product fine, vendor broken, data undeclarable */
	char good[PATH_MAX]; /* only good files */
	char run[PATH_MAX];  /* XDG_RUNTIME_DIR: locks and temp dirs */
	char trace[PATH_MAX];
	char vs_sock[PATH_MAX];
	char sys_client[PATH_MAX], other_client[PATH_MAX], vendor_client[PATH_MAX],
	    data_client[PATH_MAX];
	bool userns;   /* run clients in a user namespace of their own */
	bool caps;     /* clients hold the three capabilities */
	bool identity; /* a client's /proc/<pid>/exe is its file */
	char no_caps[512], no_identity[768];
	pid_t hang_pid; /* a client left running by a failed lock test: killed at teardown */
} F;

/* ---- bounded waits ---- */

static void on_alarm(int sig)
{
	(void)sig;
}

/* A blocking call after this returns EINTR once @ms have passed. */
static void arm(int ms)
{
	struct itimerval it = {.it_value = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000}};

	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
}

static void disarm(void)
{
	struct itimerval it = {{0, 0}, {0, 0}};

	setitimer(ITIMER_REAL, &it, NULL);
}

/* Wait for our child @pid; its status. */
static int wait_exit(pid_t pid)
{
	int st = 0;
	pid_t r;

	arm(WAIT_MS);
	r = waitpid(pid, &st, 0);
	disarm();
	if (r != pid)
		fail_msg("pid %d did not exit within %d ms (%s)", (int)pid, WAIT_MS,
			 strerror(errno));
	return st;
}

/* Everything from @fd until EOF (or one line if @line), NUL-terminated. */
static void read_out(int fd, char *buf, size_t len, bool line)
{
	size_t used = 0;
	ssize_t n;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (poll(&p, 1, WAIT_MS) != 1)
			fail_msg("no output or EOF within %d ms (so far: '%.*s')", WAIT_MS,
				 (int)used, buf);
		n = read(fd, buf + used, line ? 1 : len - 1 - used);
		assert_true(n >= 0);
		if (n == 0)
			break;
		used += (size_t)n;
		assert_true(used < len - 1);
		if (line && buf[used - 1] == '\n')
			break;
	}
	buf[used] = '\0';
}

/* ---- processes ---- */

static void write_proc(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		_exit(126);
	close(fd);
}

/* In a child: become root of a new user namespace (every capability inside it). */
static void enter_userns(uid_t uid, gid_t gid)
{
	char map[64];

	if (unshare(CLONE_NEWUSER) < 0)
		_exit(126);
	write_proc("/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	write_proc("/proc/self/uid_map", map);
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	write_proc("/proc/self/gid_map", map);
}

struct proc {
	pid_t pid;
	int in, out, err; /* our ends; err -1 when not captured */
};

/*
 * Start @argv with stdin and stdout (and stderr if @capture_err) on pipes, in a
 * user namespace if @userns. @env: "NAME=VALUE" to set, "NAME" to unset.
 */
static void spawn(const char *const argv[], const char *const env[], bool userns, bool capture_err,
		  struct proc *p)
{
	int in[2], out[2], err[2] = {-1, -1};
	uid_t uid = getuid();
	gid_t gid = getgid();

	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	if (capture_err)
		assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		if (dup2(in[0], STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0 ||
		    (capture_err && dup2(err[1], STDERR_FILENO) < 0))
			_exit(126);
		for (size_t i = 0; env && env[i]; i++) {
			const char *eq = strchr(env[i], '=');
			char name[64];

			if (!eq) {
				unsetenv(env[i]);
				continue;
			}
			snprintf(name, sizeof(name), "%.*s", (int)(eq - env[i]), env[i]);
			setenv(name, eq + 1, 1);
		}
		if (userns)
			enter_userns(uid, gid);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (capture_err)
		close(err[1]);
	p->in = in[1];
	p->out = out[0];
	p->err = err[0];
}

static void proc_close(struct proc *p)
{
	if (p->in >= 0)
		close(p->in);
	if (p->out >= 0)
		close(p->out);
	if (p->err >= 0)
		close(p->err);
	p->in = p->out = p->err = -1;
}

/* Run @argv to its end; its stdout (and stderr) in the buffers; its exit status. */
static int run(const char *const argv[], const char *const env[], bool userns, char *out,
	       size_t out_len, char *err, size_t err_len)
{
	struct proc p;
	int st;

	spawn(argv, env, userns, err != NULL, &p);
	close(p.in);
	p.in = -1;
	read_out(p.out, out, out_len, false);
	if (err)
		read_out(p.err, err, err_len, false);
	st = wait_exit(p.pid);
	proc_close(&p);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* early_client @exe with @name and a word, @env changed: its line, without the newline. */
static int run_client_env(const char *exe, const char *name, const char *word,
			  const char *const env[], char *out, size_t len)
{
	const char *argv[] = {exe, name, word, NULL};
	int status = run(argv, env, F.userns, out, len, NULL, 0);
	size_t n = strlen(out);

	if (n && out[n - 1] == '\n')
		out[n - 1] = '\0';
	return status;
}

static int run_client(const char *exe, const char *name, const char *word, char *out, size_t len)
{
	return run_client_env(exe, name, word, NULL, out, len);
}

/* ---- the fake root ---- */

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(fs_mkdir_p(dir, 0755), 0);
	f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* A copy, not a link: /proc/<pid>/exe resolves links to the file they name. */
static void copy_client(const char *dst)
{
	char buf[65536], dir[PATH_MAX], *slash;
	int in, out;
	ssize_t n;

	snprintf(dir, sizeof(dir), "%s", dst);
	slash = strrchr(dir, '/');
	*slash = '\0';
	assert_int_equal(fs_mkdir_p(dir, 0755), 0);
	in = open(AVF_EARLY_CLIENT_PATH, O_RDONLY | O_CLOEXEC);
	assert_true(in >= 0);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	assert_int_equal(close(out), 0);
}

static const char SYSTEM_XML[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<early_vms>\n"
    "  <early_vm name=\"vm_sys\" cid=\"100\" path=\"/system/bin/early_client\"/>\n"
    "  <early_vm>\n"
    "    <name>vm_sys2</name>\n"
    "    <cid>101</cid>\n"
    "    <path>/system/bin/early_client</path>\n"
    "  </early_vm>\n"
    "</early_vms>\n";

static const char PRODUCT_XML[] =
    "<early_vms>\n"
    "  <early_vm name=\"vm_prod\" cid=\"200\" path=\"/product/bin/early_client\"/>\n"
    "</early_vms>\n";

/* CID 5 is outside vendor's 300..399: all of vendor is unusable. */
static const char VENDOR_XML[] =
    "<early_vms>\n"
    "  <early_vm name=\"vm_ven\" cid=\"5\" path=\"/vendor/bin/early_client\"/>\n"
    "</early_vms>\n";

/* ---- what the environment allows ---- */

static bool have_caps(void)
{
	const cap_value_t need[] = {CAP_IPC_LOCK, CAP_NET_BIND_SERVICE, CAP_SYS_RESOURCE};
	cap_t caps = cap_get_proc();
	cap_flag_value_t v;
	bool all = caps != NULL;

	for (size_t i = 0; all && i < sizeof(need) / sizeof(need[0]); i++)
		all = cap_get_flag(caps, need[i], CAP_EFFECTIVE, &v) == 0 && v == CAP_SET;
	cap_free(caps);
	return all;
}

static bool userns_works(void)
{
	const char *argv[] = {"/bin/true", NULL};
	struct proc p;
	int st;

	spawn(argv, NULL, true, false, &p);
	st = wait_exit(p.pid);
	proc_close(&p);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Is a client's /proc/<pid>/exe the file it runs? (Not under valgrind.) */
static void probe_identity(void)
{
	const char *argv[] = {F.sys_client, "--wait", NULL};
	char line[64], link[64], exe[PATH_MAX];
	struct proc p;
	ssize_t n;
	int st;

	spawn(argv, NULL, F.userns, false, &p);
	read_out(p.out, line, sizeof(line), true);
	assert_string_equal(line, "ready\n");
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)p.pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	close(p.in);
	p.in = -1;
	st = wait_exit(p.pid);
	proc_close(&p);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	F.identity = strcmp(exe, F.sys_client) == 0;
	if (!F.identity)
		snprintf(F.no_identity, sizeof(F.no_identity),
			 "a client's /proc/<pid>/exe is %s, not the file it runs (%s); valgrind "
			 "shows its own tool there, so early_virtmgr cannot identify a declared "
			 "caller",
			 exe, F.sys_client);
}

static int group_setup(void **state)
{
	char tmpl[PATH_MAX], *real;
	const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART: waits end in EINTR */

	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Orphans (an early_virtmgr whose client was killed) become our children. */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);

	snprintf(tmpl, sizeof(tmpl), "%s/test_early_XXXXXX", tmp);
	assert_non_null(mkdtemp(tmpl));
	/* canonical, as /proc/<pid>/exe is */
	real = realpath(tmpl, NULL);
	assert_non_null(real);
	snprintf(F.dir, sizeof(F.dir), "%s", real);
	free(real);
	snprintf(F.root, sizeof(F.root), "%s/root", F.dir);
	snprintf(F.good, sizeof(F.good), "%s/good", F.dir);
	snprintf(F.run, sizeof(F.run), "%s/run", F.dir);
	snprintf(F.trace, sizeof(F.trace), "%s/trace", F.dir);
	snprintf(F.vs_sock, sizeof(F.vs_sock), "%s/no-virtualizationservice.sock", F.dir);
	snprintf(F.sys_client, sizeof(F.sys_client), "%s/system/bin/early_client", F.root);
	snprintf(F.other_client, sizeof(F.other_client), "%s/system/bin/other_client", F.root);
	snprintf(F.vendor_client, sizeof(F.vendor_client), "%s/vendor/bin/early_client", F.root);
	snprintf(F.data_client, sizeof(F.data_client), "%s/data/bin/early_client", F.root);

	{
		char d[PATH_MAX];

		snprintf(d, sizeof(d), "%s/system/etc/avf", F.root);
		write_file(d, "early_vms.xml", SYSTEM_XML);
		snprintf(d, sizeof(d), "%s/product/etc/avf", F.root);
		write_file(d, "early_vms.xml", PRODUCT_XML);
		snprintf(d, sizeof(d), "%s/vendor/etc/avf", F.root);
		write_file(d, "early_vms.xml", VENDOR_XML);
		snprintf(d, sizeof(d), "%s/system/etc/avf", F.good);
		write_file(d, "early_vms.xml", SYSTEM_XML);
		snprintf(d, sizeof(d), "%s/product/etc/avf", F.good);
		write_file(d, "early_vms_product.xml", PRODUCT_XML);
	}
	copy_client(F.sys_client);
	copy_client(F.other_client);
	copy_client(F.vendor_client);
	copy_client(F.data_client);
	assert_int_equal(fs_mkdir_p(F.run, 0700), 0);

	/* What the client library and early_virtmgr read. No virtualizationservice. */
	setenv("AVF_EARLY_ROOT", F.root, 1);
	setenv("AVF_EARLY_VIRTMGR", AVF_EARLY_VIRTMGR_PATH, 1);
	/* an early client must never fork virtmgr */
	setenv("AVF_VIRTMGR", "/nonexistent/virtmgr", 1);
	setenv("AVF_FAKEVMM", AVF_FAKEVMM_PATH, 1);
	setenv("AVF_BACKEND", "fake", 1);
	setenv("AVF_VS_SOCKET", F.vs_sock, 1);
	setenv("AVF_TRACE_FILE", F.trace, 1);
	setenv("XDG_RUNTIME_DIR", F.run, 1);

	if (have_caps()) {
		F.caps = true;
	} else if (userns_works()) {
		F.userns = F.caps = true;
		print_message("[ info     ] this test lacks CAP_IPC_LOCK, CAP_NET_BIND_SERVICE or "
			      "CAP_SYS_RESOURCE: clients run in user namespaces of their own\n");
	} else {
		snprintf(F.no_caps, sizeof(F.no_caps),
			 "this test lacks CAP_IPC_LOCK, CAP_NET_BIND_SERVICE or CAP_SYS_RESOURCE "
			 "and cannot create a user namespace to give them to its clients");
	}
	probe_identity();
	return 0;
}

static int group_teardown(void **state)
{
	int st;

	/* A failed assertion left the holding client: its early_virtmgr and VMM follow it. */
	if (F.hang_pid > 0) {
		kill(F.hang_pid, SIGKILL);
		waitpid(F.hang_pid, &st, 0);
	}
	fs_remove_tree(F.dir);
	return 0;
}

static void need_caps(void)
{
	if (!F.caps) {
		print_message("[ skipped  ] %s\n", F.no_caps);
		skip();
	}
}

static void need_identity(void)
{
	need_caps();
	if (!F.identity) {
		print_message("[ skipped  ] %s\n", F.no_identity);
		skip();
	}
}

static bool exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

static bool trace_has(const char *text)
{
	char buf[65536];
	FILE *f = fopen(F.trace, "re");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

/* Whether someone holds the lock of @cid (tried on a fresh open file description). */
static bool lock_taken(unsigned cid)
{
	char lock[PATH_MAX];
	int fd, r;

	snprintf(lock, sizeof(lock), "%s/avf/early/locks/%u.lock", F.run, cid);
	fd = open(lock, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	r = flock(fd, LOCK_EX | LOCK_NB);
	assert_true(r == 0 || errno == EWOULDBLOCK);
	close(fd);
	return r != 0;
}

/* ---- --check and the command line ---- */

static void test_check_good_root(void **state)
{
	const char *argv[] = {AVF_EARLY_VIRTMGR_PATH, "--root", F.good, "--check", NULL};
	const char *by_env[] = {AVF_EARLY_VIRTMGR_PATH, "--check", NULL};
	const char *env[] = {NULL, NULL};
	char out[4096], err[4096], var[PATH_MAX + 32];
	static const char want[] = "system vm_sys 100 /system/bin/early_client\n"
				   "system vm_sys2 101 /system/bin/early_client\n"
				   "product vm_prod 200 /product/bin/early_client\n";

	assert_int_equal(run(argv, NULL, false, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, want);
	assert_string_equal(err, "");
	/* the same root from AVF_EARLY_ROOT (what the client library's fork relies on) */
	snprintf(var, sizeof(var), "AVF_EARLY_ROOT=%s", F.good);
	env[0] = var;
	assert_int_equal(run(by_env, env, false, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, want);
	/* --root wins over the environment */
	env[0] = "AVF_EARLY_ROOT=/nonexistent";
	assert_int_equal(run(argv, env, false, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, want);
}

static void test_check_bad_root(void **state)
{
	const char *argv[] = {AVF_EARLY_VIRTMGR_PATH, "--root", F.root, "--check", NULL};
	char out[4096], err[4096], want[PATH_MAX + 128];

	assert_int_equal(run(argv, NULL, false, out, sizeof(out), err, sizeof(err)), 1);
	/* usable VMs are still listed: vendor's problems leave the others alone */
	assert_string_equal(out, "system vm_sys 100 /system/bin/early_client\n"
				 "system vm_sys2 101 /system/bin/early_client\n"
				 "product vm_prod 200 /product/bin/early_client\n");
	/* file:line: message, for the broken declaration */
	snprintf(want, sizeof(want), "%s/vendor/etc/avf/early_vms.xml:2: ", F.root);
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "VM 'vm_ven' uses CID 5 which is out of range"));
	assert_non_null(strstr(err, "CID validation for vendor failed"));
	assert_null(strstr(err, "system/etc"));
}

/* @argv exits with @status and @text somewhere in its stdout + stderr. */
static void cmdline(const char *const argv[], const char *const env[], int status, const char *text)
{
	char out[4096], err[4096];
	int got = run(argv, env, false, out, sizeof(out), err, sizeof(err));

	if (got != status || (!strstr(out, text) && !strstr(err, text)))
		fail_msg("exit %d (want %d); want '%s'; stdout '%s'; stderr '%s'", got, status,
			 text, out, err);
}

static void test_command_lines(void **state)
{
	const char *v = AVF_EARLY_VIRTMGR_PATH;
	char file[PATH_MAX + 32];

	snprintf(file, sizeof(file), "%s/trace-not-a-dir", F.dir);
	write_file(F.dir, "trace-not-a-dir", "x");
	cmdline((const char *[]){v, "--bogus", NULL}, NULL, 2, "unknown option '--bogus'");
	cmdline((const char *[]){v, "--check", "--root", NULL}, NULL, 2,
		"option '--root' needs a value");
	cmdline((const char *[]){v, "--root", "/nonexistent", "--check", NULL}, NULL, 2,
		"--root: '/nonexistent': No such file or directory");
	cmdline((const char *[]){v, "--root", file, "--check", NULL}, NULL, 2,
		"is not a directory");
	cmdline((const char *[]){v, "--check", NULL},
		(const char *[]){"AVF_EARLY_ROOT=/nonexistent", NULL}, 2,
		"AVF_EARLY_ROOT: '/nonexistent': No such file or directory");
	cmdline((const char *[]){v, "--check", "--rpc-server-fd", "5", NULL}, NULL, 2,
		"--check takes neither --rpc-server-fd nor --ready-fd");
	cmdline((const char *[]){v, NULL}, NULL, 2, "--rpc-server-fd is required");
	cmdline((const char *[]){v, "--rpc-server-fd", "7", NULL}, NULL, 2,
		"--ready-fd is required");
	cmdline((const char *[]){v, "--rpc-server-fd", "99", "--ready-fd", "98", NULL}, NULL, 2,
		"--rpc-server-fd: fd 99 is not open");
	cmdline((const char *[]){v, "extra", NULL}, NULL, 2, "unexpected argument 'extra'");
	cmdline((const char *[]){v, "--help", NULL}, NULL, 0, "--root DIR");
	cmdline((const char *[]){v, "--version", NULL}, NULL, 0, "early_virtmgr " AVF_VERSION "\n");
	cmdline((const char *[]){v, "--bogus", NULL}, NULL, 2, "Try 'early_virtmgr --help'");
}

/* ---- early VMs through the client library ---- */

static void test_declared_client_gets_its_cid(void **state)
{
	char out[1024], temp[PATH_MAX], lock[PATH_MAX];

	need_identity();
	assert_int_equal(run_client(F.sys_client, "vm_sys", NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "cid 100 SHUTDOWN");
	/* the element form of the declaration works the same; and without
	 * AVF_EARLY_VIRTMGR the library forks the early_virtmgr built beside it */
	assert_int_equal(run_client_env(F.sys_client, "vm_sys2", NULL,
					(const char *[]){"AVF_EARLY_VIRTMGR", NULL}, out,
					sizeof(out)),
			 0);
	assert_string_equal(out, "cid 101 SHUTDOWN");
	/* the temp dir went with the VM; the lock file stays, unheld */
	snprintf(temp, sizeof(temp), "%s/avf/early/100", F.run);
	snprintf(lock, sizeof(lock), "%s/avf/early/locks/100.lock", F.run);
	assert_false(exists(temp));
	assert_true(exists(lock));
	assert_false(lock_taken(100));
	/* never near virtualizationservice: nothing listens at AVF_VS_SOCKET */
	assert_false(exists(F.vs_sock));
	assert_true(trace_has("early cid 100 granted: 'vm_sys' of system for "
			      "/system/bin/early_client"));
	assert_true(trace_has("early cid 100 released"));
	assert_false(trace_has("virtualizationservice"));
}

static void test_another_binary_is_refused(void **state)
{
	char out[1024];

	need_identity();
	assert_int_equal(run_client(F.other_client, "vm_sys", NULL, out, sizeof(out)), 1);
	assert_string_equal(out, "error " EX_SERVICE_SPECIFIC
				 " Early VM 'vm_sys' executable paths do not match. Expected: "
				 "/system/bin/early_client. Found: \"/system/bin/other_client\".");
}

static void test_wrong_name_is_refused(void **state)
{
	char out[1024];

	need_identity();
	assert_int_equal(run_client(F.sys_client, "vm_nope", NULL, out, sizeof(out)), 1);
	assert_string_equal(out, "error " EX_SERVICE_SPECIFIC " Can't find a VM named 'vm_nope'");
	/* product's VM is not system's */
	assert_int_equal(run_client(F.sys_client, "vm_prod", NULL, out, sizeof(out)), 1);
	assert_string_equal(out, "error " EX_SERVICE_SPECIFIC " Can't find a VM named 'vm_prod'");
}

static void test_missing_capability_is_refused(void **state)
{
	char out[1024];

	/* Runs everywhere: capabilities are checked before anything else. */
	assert_int_equal(run_client(F.sys_client, "vm_sys", "drop-ipc-lock", out, sizeof(out)), 1);
	assert_true(strncmp(out, "error " EX_SECURITY " the caller (pid ", 20) == 0);
	if (F.caps)
		assert_non_null(strstr(out, ") lacks CAP_IPC_LOCK in its effective capability "
					    "set: early VMs need CAP_IPC_LOCK, "
					    "CAP_NET_BIND_SERVICE and CAP_SYS_RESOURCE"));
	else
		assert_non_null(strstr(out, "lacks CAP_IPC_LOCK"));
}

static void test_bad_partition_is_refused(void **state)
{
	char out[1024], want[PATH_MAX + 128];

	need_identity();
	assert_int_equal(run_client(F.vendor_client, "vm_ven", NULL, out, sizeof(out)), 1);
	snprintf(want, sizeof(want),
		 "error " EX_SERVICE_SPECIFIC " CID validation for vendor failed: "
		 "%s/vendor/etc/avf/early_vms.xml:2: VM 'vm_ven' uses CID 5 which is out of range",
		 F.root);
	if (strncmp(out, want, strlen(want)) != 0)
		fail_msg("got '%s', want it to start with '%s'", out, want);
}

static void test_unsupported_partition_is_refused(void **state)
{
	char out[1024];

	need_identity();
	assert_int_equal(run_client(F.data_client, "vm_sys", NULL, out, sizeof(out)), 1);
	assert_string_equal(out,
			    "error " EX_SERVICE_SPECIFIC " Early VMs are not supported for data");
}

static void test_caller_outside_the_root_is_refused(void **state)
{
	char out[1024], want[PATH_MAX + 128];

	need_caps();
	/* the client as built: not under the root */
	assert_int_equal(run_client(AVF_EARLY_CLIENT_PATH, "vm_sys", NULL, out, sizeof(out)), 1);
	if (F.identity)
		snprintf(want, sizeof(want),
			 "error " EX_SERVICE_SPECIFIC " caller %s is outside the early VM root %s",
			 AVF_EARLY_CLIENT_PATH, F.root);
	else /* under valgrind the caller is valgrind's tool: still outside */
		snprintf(want, sizeof(want), " is outside the early VM root %s", F.root);
	if (!strstr(out, want))
		fail_msg("got '%s', want '%s'", out, want);
}

static void test_debug_list_is_unsupported(void **state)
{
	char out[1024];

	assert_int_equal(run_client(F.sys_client, "any", "list", out, sizeof(out)), 1);
	assert_string_equal(out,
			    "error " EX_UNSUPPORTED " debugListVms is not supported for early VMs");
}

/*
 * Two early_virtmgrs, one CID: the second is refused while the first holds it,
 * and gets it once the first is gone (its client SIGKILLed).
 */
static void test_cid_lock_across_instances(void **state)
{
	const char *argv[] = {F.sys_client, "vm_sys", "hang", NULL};
	char line[256], out[1024], want[256];
	int vpid = 0, st;
	unsigned cid = 0;
	struct proc first;

	need_identity();
	spawn(argv, NULL, F.userns, false, &first);
	F.hang_pid = first.pid;
	close(first.in);
	first.in = -1;
	read_out(first.out, line, sizeof(line), true);
	if (sscanf(line, "cid %u running %d", &cid, &vpid) != 2 || cid != 100 || vpid <= 0)
		fail_msg("first client said '%s'", line);
	assert_true(lock_taken(100));

	assert_int_equal(run_client(F.sys_client, "vm_sys", NULL, out, sizeof(out)), 1);
	snprintf(want, sizeof(want),
		 "error " EX_ILLEGAL_STATE
		 " early CID 100 is in use by another early_virtmgr (pid %d)",
		 vpid);
	assert_string_equal(out, want);
	/* the holder's VM is untouched */
	snprintf(want, sizeof(want), "%s/avf/early/100", F.run);
	assert_true(exists(want));

	/* The first client dies; its early_virtmgr (now our child) kills the VM and exits. */
	assert_int_equal(kill(first.pid, SIGKILL), 0);
	st = wait_exit(first.pid);
	F.hang_pid = 0;
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	proc_close(&first);
	st = wait_exit(vpid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_false(lock_taken(100));
	assert_false(exists(want));

	assert_int_equal(run_client(F.sys_client, "vm_sys", NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "cid 100 SHUTDOWN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_good_root),
	    cmocka_unit_test(test_check_bad_root),
	    cmocka_unit_test(test_command_lines),
	    cmocka_unit_test(test_declared_client_gets_its_cid),
	    cmocka_unit_test(test_another_binary_is_refused),
	    cmocka_unit_test(test_wrong_name_is_refused),
	    cmocka_unit_test(test_missing_capability_is_refused),
	    cmocka_unit_test(test_bad_partition_is_refused),
	    cmocka_unit_test(test_unsupported_partition_is_refused),
	    cmocka_unit_test(test_caller_outside_the_root_is_refused),
	    cmocka_unit_test(test_debug_list_is_unsupported),
	    cmocka_unit_test(test_cid_lock_across_instances),
	};
	int fds = count_fds(), r;

	r = cmocka_run_group_tests(tests, group_setup, group_teardown);
	/* nothing of ours leaked across the whole run */
	if (count_fds() != fds) {
		fprintf(stderr, "fd leak: %d open before, %d after\n", fds, count_fds());
		r = 1;
	}
	return r;
}
