/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fault sweep across processes: the whole stack (fault_client -> virtmgr ->
 * virtualizationservice, a fakevmm per VM), with the Nth call of one kind failed
 * in one chosen process, for N = 1, 2, 3, ... until a cycle runs clean with the
 * fault never injected (docs/fault-injection.md).
 *
 * Each N gets a fresh virtualizationservice on a fresh state dir and runs:
 *   1. the faulty cycle: fault_client's create/start/stop/drop, armed;
 *   2. its verdict: a clean error or death reason (or a cycle that coped), never
 *      a crash, a hang, or a success with the fault injected and nothing to show;
 *   3. the leak checks: every process but virtualizationservice gone and none
 *      crashed, no CID still granted (debugListVms), virtualizationservice back to
 *      its fds, no VM temp dir and no half-written state file;
 *   4. one normal cycle, disarmed, which must succeed, and the same checks;
 *   5. virtualizationservice stopped with SIGTERM: exit status 0, and only what a
 *      clean run leaves on disk.
 * This test is a child subreaper: VMMs and virtmgrs orphaned by a crash come back
 * here, so nothing escapes the checks.
 *
 * $AVF_FAULT_KINDS (alloc,socket,...) and $AVF_FAULT_TARGETS (virtmgr,...) narrow
 * a run; $AVF_FAULT_MAX_N bounds it (sweep.h).
 */
#include "cmocka_wrap.h"
#include "proc_probe.h"
#include "test_fds.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <avf/vmclient.h>

#include "base/fs_util.h"
#include "base/mono_time.h"
#include "fault.h"
#include "sweep.h"
#include "vs_process.h"

#define DEADLINE_MS 20000
/* The guest: boots, reports ready, then waits to be stopped. */
#define SCRIPT      "started; ready; hang"
#define VS_NAME     "virtualizationservice"
/* fault_client's line for a cycle that went as it must. */
#define CYCLE_OK    "ok KILLED started,ready,died"

static struct {
	char root[256];
	char ctl_path[300];
	struct fault_ctl *ctl;
	int vs_base_fds;        /* a clean virtualizationservice's fds when idle */
	char base_files[1024];  /* what a clean run leaves in its dir, sorted */
} G;

/* Everything one N found wrong, appended. */
struct verdict {
	char unclean[2048];
};

static void bad(struct verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad(struct verdict *v, const char *fmt, ...)
{
	size_t n = strlen(v->unclean);
	va_list ap;

	if (n && n + 3 < sizeof(v->unclean)) {
		strcpy(v->unclean + n, "; ");
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(v->unclean + n, sizeof(v->unclean) - n, fmt, ap);
	va_end(ap);
}

static bool wanted(const char *env, const char *name)
{
	const char *list = getenv(env), *p;
	size_t len = strlen(name);

	if (!list || !*list)
		return true;
	for (p = list; (p = strstr(p, name)); p += len)
		if ((p == list || p[-1] == ',') && (p[len] == ',' || p[len] == '\0'))
			return true;
	return false;
}

/* ---- processes ---- */

/* Wait for our child @pid within @ms; its status, or -ETIMEDOUT (still running). */
static int wait_pid(pid_t pid, int ms)
{
	int64_t deadline = mono_ms() + ms;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), st = 0, r = -ETIMEDOUT;

	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid) {
			r = st;
			break;
		}
		if (w < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (mono_ms() >= deadline)
			break;
		if (pidfd >= 0) {
			struct pollfd p = {.fd = pidfd, .events = POLLIN};
			poll(&p, 1, 100);
		} else {
			struct timespec ts = {0, 5000000}; /* no pidfd (valgrind): poll waitpid */
			nanosleep(&ts, NULL);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	return r;
}

static bool crashed(int st)
{
	return WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL && WTERMSIG(st) != SIGTERM;
}

static void comm_of(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(buf, len, "pid %d", (int)pid);
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(buf, (int)len, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
	}
}

/*
 * Every child but virtualizationservice must end within the deadline (virtmgr
 * exits once its client is gone; a VMM orphaned by a crash is PDEATHSIG'd) and
 * none may have crashed. Leftovers are killed and reported. virtualizationservice
 * dying on its own is reported too (vs->pid cleared).
 */
static void reap_all_but_vs(struct vs_process *vs, struct verdict *v)
{
	int64_t deadline = mono_ms() + DEADLINE_MS;
	pid_t kids[64];
	int n;

	for (;;) {
		siginfo_t si = {0};

		/* Peek first (WNOWAIT): the name is readable only before the reap. */
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid > 0) {
			char name[64];
			int st = 0;

			comm_of(si.si_pid, name, sizeof(name));
			waitpid(si.si_pid, &st, 0);
			if (si.si_pid == vs->pid) {
				vs->pid = 0;
				bad(v, "virtualizationservice ended on its own (wait status %#x)", st);
			} else if (crashed(st)) {
				bad(v, "%s (pid %d) crashed: signal %d", name, (int)si.si_pid,
				    WTERMSIG(st));
			} else if (WIFEXITED(st) && WEXITSTATUS(st) != 0 && strcmp(name, "virtmgr") &&
				   strcmp(name, "fakevmm")) {
				bad(v, "%s (pid %d) exited %d", name, (int)si.si_pid,
				    WEXITSTATUS(st));
			}
			continue;
		}
		n = probe_children(getpid(), kids, 64);
		if (n == 0 || (n == 1 && kids[0] == vs->pid))
			return;
		if (mono_ms() >= deadline)
			break;
		struct timespec ts = {0, 2000000}; /* orphans have no pidfd of ours to wait on */
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < n; i++) {
		char name[64];

		if (kids[i] == vs->pid)
			continue;
		comm_of(kids[i], name, sizeof(name));
		bad(v, "%s (pid %d) still running %d ms after the cycle", name, (int)kids[i],
		    DEADLINE_MS);
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
}

/* ---- the client ---- */

struct client_result {
	char line[1024]; /* fault_client's report, "" if none */
	int status;
	char err[512];   /* the first lines of its stderr (and virtmgr's, fakevmm's) */
};

static void read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, len - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
}

/*
 * A sanitizer report in @path (the stderr of fault_client, virtmgr and the VMMs, or
 * of virtualizationservice): under the asan preset, LeakSanitizer's at a process's
 * exit is how a leak in virtmgr shows, since its exit status is the client's to see.
 */
static void sanitizer_reports(const char *path, struct verdict *v)
{
	char line[512];
	FILE *f = fopen(path, "re");

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "Sanitizer") || strstr(line, "runtime error:")) {
			line[strcspn(line, "\n")] = '\0';
			bad(v, "%s", line);
			break;
		}
	if (f)
		fclose(f);
}

/* Run fault_client once in @dir (stdout, stderr there); a hang is killed and reported. */
static void run_client(const char *dir, struct client_result *res, struct verdict *v)
{
	char out[400], err[400], timeout[16];
	pid_t pid;

	snprintf(out, sizeof(out), "%s/client.out", dir);
	snprintf(err, sizeof(err), "%s/client.err", dir);
	snprintf(timeout, sizeof(timeout), "%d", DEADLINE_MS);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (o < 0 || e < 0 || dup2(o, STDOUT_FILENO) < 0 || dup2(e, STDERR_FILENO) < 0)
			_exit(126);
		execl(FAULT_CLIENT_PATH, "fault_client", SCRIPT, timeout, (char *)NULL);
		_exit(127);
	}
	/* The client waits DEADLINE_MS at most per step: give it all of them. */
	res->status = wait_pid(pid, 4 * DEADLINE_MS);
	if (res->status == -ETIMEDOUT) {
		bad(v, "fault_client hung (killed after %d ms)", 4 * DEADLINE_MS);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	} else if (!WIFEXITED(res->status) || WEXITSTATUS(res->status) != 0) {
		bad(v, "fault_client ended with wait status %#x", res->status);
	}
	read_file(out, res->line, sizeof(res->line));
	res->line[strcspn(res->line, "\n")] = '\0';
	read_file(err, res->err, sizeof(res->err));
	sanitizer_reports(err, v);
}

/* ---- virtualizationservice's side ---- */

/* Rows of debugListVms, through a client of our own (its virtmgr unarmed); -errno. */
static int vs_rows(void)
{
	struct avf_client *c;
	struct avf_vm_info *rows;
	size_t n;
	int r;

	if ((r = avf_client_connect(NULL, &c)) < 0)
		return r;
	r = avf_client_list_vms(c, &rows, &n);
	if (r == 0) {
		avf_vm_info_free(rows, n);
		r = (int)n;
	}
	avf_client_disconnect(c);
	return r;
}

/* Files under @dir as "a b b/c ...", each level sorted by name (small trees). */
static void list_tree(const char *dir, const char *rel, char *buf, size_t len)
{
	char path[1024];
	struct dirent **ents;
	int n;

	snprintf(path, sizeof(path), "%s%s%s", dir, *rel ? "/" : "", rel);
	n = scandir(path, &ents, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		char sub[512];
		size_t o = strlen(buf);

		if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, "..")) {
			snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", ents[i]->d_name);
			snprintf(buf + o, len - o, "%s%s", o ? " " : "", sub);
			if (ents[i]->d_type == DT_DIR)
				list_tree(dir, sub, buf, len);
		}
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
}

/*
 * No CID granted, no VM temp dir, virtualizationservice at its idle fd count: all
 * three settle asynchronously (virtualizationservice sees virtmgr's connection
 * close), so wait for them, bounded.
 */
static void check_released(const struct vs_process *vs, const char *dir, struct verdict *v,
			   const char *when)
{
	int64_t deadline = mono_ms() + DEADLINE_MS;
	char vmdir[400];
	int rows = -1, fds = -1, tmp = -1;

	snprintf(vmdir, sizeof(vmdir), "%s/state/vm", dir);
	do {
		rows = vs_rows();
		fds = probe_fds(vs->pid);
		tmp = probe_dir_entries(vmdir);
		if (rows == 0 && fds == G.vs_base_fds && tmp == 0)
			return;
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	} while (mono_ms() < deadline);
	if (rows != 0)
		bad(v, "%s: debugListVms shows %d VMs (%s)", when, rows,
		    rows < 0 ? avf_last_error()->message : "CIDs not released");
	if (fds != G.vs_base_fds)
		bad(v, "%s: virtualizationservice holds %d fds, %d when idle", when, fds,
		    G.vs_base_fds);
	if (tmp != 0)
		bad(v, "%s: %d VM temp dirs left in %s", when, tmp, vmdir);
}

/*
 * Start virtualizationservice on @dir, its stdout and stderr into <dir>/vs.err: its
 * messages under faults are the run's, not the test's output, and it must not hold
 * the test runner's pipe should this test die before stopping it.
 */
static int start_vs(const char *dir, struct vs_process *vs, char *why, size_t len)
{
	char err[400];
	int out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	int saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3), fd, r;

	snprintf(err, sizeof(err), "%s/vs.err", dir);
	fd = open(err, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	assert_true(out >= 0 && saved >= 0 && fd >= 0);
	fflush(stdout);
	assert_true(dup2(fd, STDOUT_FILENO) == STDOUT_FILENO);
	assert_true(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
	close(fd);
	r = vs_process_start(AVF_VS_PATH, dir, DEADLINE_MS, vs);
	assert_true(dup2(out, STDOUT_FILENO) == STDOUT_FILENO);
	assert_true(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
	close(out);
	close(saved);
	if (r < 0)
		snprintf(why, len, "virtualizationservice start: %s", avf_last_error()->message);
	else
		setenv("AVF_VS_SOCKET", vs->sock, 1);
	return r;
}

static void stop_vs(struct vs_process *vs, struct verdict *v)
{
	int st;

	if (!vs->pid)
		return;
	st = vs_process_stop(vs, DEADLINE_MS);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		bad(v, "virtualizationservice stopped with wait status %#x", st);
}

/* ---- one N ---- */

static void mkdir_fresh(const char *dir)
{
	fs_remove_tree(dir);
	assert_int_equal(mkdir(dir, 0700), 0);
}

/*
 * Run N and judge it. Returns the outcome; @msg gets the error, the reason or
 * what was wrong.
 */
static enum sweep_outcome run_n(const char *target, enum fault_kind kind, uint64_t n, char *msg,
				size_t len, bool *ret_fired)
{
	char dir[300], trace[400], fire[600], files[1024] = "";
	struct vs_process vs = {0};
	struct verdict v = {0};
	struct client_result res = {0};
	enum sweep_outcome o = SWEEP_UNCLEAN;
	bool vs_target = strcmp(target, VS_NAME) == 0, fired;
	int fds = count_fds();

	snprintf(dir, sizeof(dir), "%s/run", G.root);
	mkdir_fresh(dir);
	snprintf(trace, sizeof(trace), "%s/trace", dir);
	setenv("AVF_TRACE_FILE", trace, 1);

	/* virtualizationservice is swept from its main() on; the others once it runs. */
	if (vs_target)
		fault_arm(kind, n, 0, target);
	if (start_vs(dir, &vs, msg, len) < 0) {
		const char *ws = strstr(msg, "wait status ");

		fault_disarm();
		fired = G.ctl->fired;
		sweep_describe_fire(G.ctl, fire, sizeof(fire));
		reap_all_but_vs(&vs, &v);
		if (!fired)
			bad(&v, "%s, with no fault injected", msg);
		else if (ws && crashed((int)strtol(ws + 12, NULL, 16)))
			bad(&v, "%s", msg);
		o = SWEEP_ERROR;
		goto followup;
	}
	if (!vs_target)
		fault_arm(kind, n, 0, target);
	run_client(dir, &res, &v);
	fault_disarm();
	fired = G.ctl->fired;
	sweep_describe_fire(G.ctl, fire, sizeof(fire));
	reap_all_but_vs(&vs, &v);

	if (strncmp(res.line, "ok ", 3) == 0) {
		if (strncmp(res.line, "ok KILLED ", 10) != 0) {
			o = SWEEP_DIED;
			snprintf(msg, len, "stopped VM died %s", res.line + 3);
		} else if (strcmp(res.line, CYCLE_OK) != 0) {
			bad(&v, "silent: the cycle succeeded, the callbacks were '%s'", res.line + 10);
		} else {
			o = fired ? SWEEP_ABSORBED : SWEEP_DONE;
			snprintf(msg, len, "%s", fired ? fire : "cycle ok");
		}
	} else if (strncmp(res.line, "error ", 6) == 0) {
		o = SWEEP_ERROR;
		snprintf(msg, len, "%s", res.line + 6);
		/* "error STEP -110 ...": the client gave up waiting, something hung */
		if (atoi(strchr(res.line + 6, ' ') ? strchr(res.line + 6, ' ') + 1 : "") == -ETIMEDOUT)
			bad(&v, "hang: %s", res.line + 6);
	} else if (strncmp(res.line, "leak ", 5) == 0) {
		bad(&v, "%s", res.line);
	} else if (strncmp(res.line, "died ", 5) == 0) {
		o = SWEEP_DIED;
		snprintf(msg, len, "VM died before %s", res.line + 5);
	} else {
		bad(&v, "fault_client reported nothing; stderr: %.300s", res.err);
	}
	if (o != SWEEP_DONE && o != SWEEP_ABSORBED && !fired)
		bad(&v, "the cycle failed with no fault injected: %s; stderr: %.300s", res.line,
		    res.err);
	/* A VMM that crashed shows only as KILLED to the client: the trace has its status. */
	{
		char t[65536], *p = t;

		read_file(trace, t, sizeof(t));
		while ((p = strstr(p, "exit: signal "))) {
			int sig = atoi(p + 13);
			if (sig != SIGKILL)
				bad(&v, "a VMM was killed by signal %d", sig);
			p++;
		}
	}
	if (vs.pid)
		check_released(&vs, dir, &v, "after the faulty cycle");

followup:
	if (!vs.pid && start_vs(dir, &vs, msg, len) < 0) {
		bad(&v, "cannot restart virtualizationservice: %s", msg);
	} else {
		struct client_result again = {0};

		run_client(dir, &again, &v);
		reap_all_but_vs(&vs, &v);
		if (strcmp(again.line, CYCLE_OK) != 0)
			bad(&v, "the next cycle failed: '%s'; stderr: %.300s", again.line,
			    again.err);
		if (vs.pid)
			check_released(&vs, dir, &v, "after the next cycle");
	}
	stop_vs(&vs, &v);
	reap_all_but_vs(&vs, &v);
	snprintf(trace, sizeof(trace), "%s/vs.err", dir);
	sanitizer_reports(trace, &v);

	/* On disk: what a clean run leaves (the state file, empty vm/, the logs), nothing else. */
	list_tree(dir, "", files, sizeof(files));
	if (strcmp(files, G.base_files) != 0)
		bad(&v, "files left: '%s', a clean run leaves '%s'", files, G.base_files);
	if (count_fds() != fds)
		bad(&v, "this test holds %d fds, %d before", count_fds(), fds);
	if (v.unclean[0]) {
		char why[sizeof(v.unclean) + 700];

		snprintf(why, sizeof(why), "%s [%s] (result '%s')", v.unclean, fire, res.line);
		snprintf(msg, len, "%s", why);
		o = SWEEP_UNCLEAN;
	}
	*ret_fired = fired;
	return o;
}

/* ---- sweeps ---- */

static const char *const targets[] = {"virtmgr", VS_NAME, "fakevmm", "fault_client"};

static void sweep_target(const char *target)
{
	char msg[2048];
	unsigned unclean = 0;

	if (!wanted("AVF_FAULT_TARGETS", target)) {
		skip();
		return;
	}
	for (int k = 0; k < FAULT_KINDS; k++) {
		struct sweep s;
		uint64_t n, max = sweep_max_n();
		int64_t t0 = mono_ms();

		if (!wanted("AVF_FAULT_KINDS", fault_kind_name((enum fault_kind)k)))
			continue;
		sweep_init(&s, target, (enum fault_kind)k, G.root);
		for (n = sweep_first_n(); n <= max; n++) {
			bool fired;
			enum sweep_outcome o =
			    run_n(target, (enum fault_kind)k, n, msg, sizeof(msg), &fired);

			sweep_add(&s, n, o, msg);
			/* Not injected: the cycle made fewer than N such calls, all failed once. */
			if (!fired)
				break;
		}
		sweep_print(&s);
		printf("    (%.1f s)\n", (double)(mono_ms() - t0) / 1000);
		if (n > max)
			fail_msg("%s %s: no clean cycle by N=%" PRIu64, target,
				 fault_kind_name((enum fault_kind)k), max);
		if (s.counts[SWEEP_UNCLEAN]) {
			printf("    first unclean: %s\n", s.first_unclean);
			unclean += s.counts[SWEEP_UNCLEAN];
		}
	}
	if (unclean)
		fail_msg("%s: %u unclean failures (listed above)", target, unclean);
}

static void sweep_virtmgr(void **state) { sweep_target("virtmgr"); }
static void sweep_vs(void **state) { sweep_target(VS_NAME); }
static void sweep_fakevmm(void **state) { sweep_target("fakevmm"); }
static void sweep_client(void **state) { sweep_target("fault_client"); }

/* How many calls of each kind one clean cycle makes in each process (the N to expect). */
static void calibrate(void **state)
{
	for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
		char msg[2048];
		enum sweep_outcome o;

		/* nth 0: count only; statefile so that state-file calls are told apart too. */
		bool fired;

		o = run_n(targets[t], FAULT_STATEFILE, 0, msg, sizeof(msg), &fired);
		if (o != SWEEP_DONE)
			fail_msg("clean cycle: %s", msg);
		printf("calls in one cycle, %-22s", targets[t]);
		for (int k = 0; k < FAULT_KINDS; k++)
			printf(" %s %" PRIu64, fault_kind_name((enum fault_kind)k), G.ctl->calls[k]);
		printf("\n");
	}
}

/* What a clean run leaves: the reference for every N's dir and fd checks. */
static void baseline(void)
{
	char dir[300], msg[512];
	struct vs_process vs = {0};
	struct verdict v = {0};
	struct client_result res = {0};

	snprintf(dir, sizeof(dir), "%s/run", G.root);
	mkdir_fresh(dir);
	snprintf(msg, sizeof(msg), "%s/trace", dir);
	setenv("AVF_TRACE_FILE", msg, 1);
	if (start_vs(dir, &vs, msg, sizeof(msg)) < 0)
		fail_msg("%s", msg);
	G.vs_base_fds = probe_fds(vs.pid);
	run_client(dir, &res, &v);
	reap_all_but_vs(&vs, &v);
	if (strcmp(res.line, CYCLE_OK) != 0)
		bad(&v, "a clean cycle: '%s'; stderr %s", res.line, res.err);
	else
		check_released(&vs, dir, &v, "clean cycle");
	/* Stopped whatever happened: it would outlive this test otherwise. */
	stop_vs(&vs, &v);
	if (v.unclean[0])
		fail_msg("%s", v.unclean);
	list_tree(dir, "", G.base_files, sizeof(G.base_files));
	fs_remove_tree(dir);
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(G.root, sizeof(G.root), "%s/avf-fault-XXXXXX", tmp);
	if (!mkdtemp(G.root))
		return -1;
	snprintf(G.ctl_path, sizeof(G.ctl_path), "%s/ctl", G.root);
	G.ctl = fault_setup(G.ctl_path);
	if (!G.ctl)
		return -1;
	/* Orphans (a VMM whose virtmgr crashed) come back to us, to be checked and reaped. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return -1;
	setenv("AVF_VIRTMGR", AVF_VIRTMGR_PATH, 1);
	setenv("AVF_FAKEVMM", AVF_FAKEVMM_PATH, 1);
	setenv("AVF_BACKEND", "fake", 1);
	baseline();
	return 0;
}

static int teardown(void **state)
{
	fault_teardown();
	fs_remove_tree(G.root);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(calibrate),     cmocka_unit_test(sweep_virtmgr),
		cmocka_unit_test(sweep_vs),      cmocka_unit_test(sweep_fakevmm),
		cmocka_unit_test(sweep_client),
	};

	/* The processes' own messages (virtmgr's, the VMMs') go to the run's files. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
