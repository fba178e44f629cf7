/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fault sweep in one process: virtmgr's VM manager (vmgr) on the fake process
 * backend (real fakevmm VMMs), with virtualizationservice's registry (CIDs, temp
 * dirs, the persisted last CID) as its context provider, all on one real-clock
 * loop. The Nth call of one kind made by this process fails, for N = 1, 2, 3, ...
 * until a create/start/stop/drop cycle runs clean with the fault never injected
 * (docs/fault-injection.md).
 *
 * Each N runs in a child process of its own (a crash is then a result, not the
 * end of the test), which builds the stack, runs one normal cycle (caches and
 * lazily grown tables settle), takes its baseline, and then:
 *   1. the faulty cycle, armed;
 *   2. its verdict: an error from createVm/start/stop with a message, or a death
 *      reason; or, the fault absorbed, exactly the normal cycle's callbacks;
 *   3. the leak checks against the baseline: no VM, no VMM child, no CID granted,
 *      no loop source, no temp dir or half-written state file, the same fds and
 *      the same number of live allocations (the shim counts them);
 *   4. one normal cycle, which must succeed, and the same checks.
 * The child reports one line through a pipe; a crash, a hang (the parent's
 * deadline) or a missing line is the sweep's "unclean".
 *
 * $AVF_FAULT_KINDS narrows a run, $AVF_FAULT_FIRST_N / $AVF_FAULT_MAX_N bound it.
 */
#include "cmocka_wrap.h"
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/fake/fake_backend.h"
#include "base/avf_err.h"
#include "base/fs_util.h"
#include "base/mono_time.h"
#include "fault.h"
#include "service/vmgr.h"
#include "service/vs_registry.h"
#include "sweep.h"

#define DEADLINE_MS 20000
#define SCRIPT      "started; ready; hang"
#define HOLDER      1 /* the registry's holder: this "virtmgr" */
/* The callbacks of a normal cycle. */
#define CALLBACKS   "started,ready,died(KILLED)"

/* ---- the stack in this process ---- */

struct fx {
	struct loop *loop;
	struct vs_registry *reg;
	struct backend *be;
	struct vmgr *mgr;
	struct trace tr;
	char state[300];
	char trace_buf[16384];
};

static char root[256];
static struct fault_ctl *ctl;

static void trace_to_buf(const struct trace_event *ev, void *data)
{
	struct fx *fx = data;
	size_t n = strlen(fx->trace_buf);

	/* Keep the tail: the checks look at the last cycle's exits. */
	if (n > sizeof(fx->trace_buf) - 512) {
		fx->trace_buf[0] = '\0';
		n = 0;
	}
	snprintf(fx->trace_buf + n, sizeof(fx->trace_buf) - n, "%s %s\n", ev->actor, ev->text);
}

/* virtualizationservice's registry as vmgr's context provider, as vs_link is over ipc. */
static int reg_acquire(void *data, const char *name, uint32_t *ret_cid, char **ret_temp_dir)
{
	struct fx *fx = data;
	const char *dir = NULL;
	uint32_t cid;
	int r;

	r = vs_registry_allocate(fx->reg, HOLDER, getuid(), getpid(), name, &cid, &dir);
	if (r < 0)
		return r;
	*ret_temp_dir = NULL;
	if (dir && !(*ret_temp_dir = strdup(dir))) {
		vs_registry_release(fx->reg, HOLDER, cid);
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory for a temp dir");
	}
	*ret_cid = cid;
	return 0;
}

static void reg_release(void *data, uint32_t cid)
{
	struct fx *fx = data;

	vs_registry_release(fx->reg, HOLDER, cid);
}

static void reg_set_state(void *data, uint32_t cid, enum avf_vm_state state)
{
	struct fx *fx = data;

	vs_registry_set_state(fx->reg, HOLDER, cid, state);
}

static const struct vmgr_context_ops reg_context = {
	.acquire = reg_acquire, .release = reg_release, .set_state = reg_set_state,
};

static int fx_init(struct fx *fx, const char *dir)
{
	int r;

	memset(fx, 0, sizeof(*fx));
	fx->tr = (struct trace){.sink = trace_to_buf, .sink_data = fx};
	snprintf(fx->state, sizeof(fx->state), "%s/state", dir);
	if ((r = loop_new(LOOP_CLOCK_MONOTONIC, &fx->loop)) < 0 ||
	    (r = vs_registry_new(fx->state, AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX, &fx->tr,
				 &fx->reg)) < 0 ||
	    (r = fake_backend_new(fx->loop, &fx->tr,
				  &(struct fake_backend_opts){.fakevmm_path = AVF_FAKEVMM_PATH},
				  &fx->be)) < 0)
		return r;
	return vmgr_new(&(struct vmgr_params){.loop = fx->loop, .backend = fx->be,
					      .context = &reg_context, .context_data = fx,
					      .trace = &fx->tr},
			&fx->mgr);
}

static void fx_free(struct fx *fx)
{
	vmgr_free(fx->mgr);
	backend_free(fx->be);
	vs_registry_free(fx->reg);
	loop_free(fx->loop);
}

/* ---- one cycle ---- */

struct seen {
	char log[256];
	bool died;
	struct loop *loop;
};

static void seen_add(struct seen *s, const char *what)
{
	size_t n = strlen(s->log);

	snprintf(s->log + n, sizeof(s->log) - n, "%s%s", n ? "," : "", what);
}

static void on_started(void *d, uint32_t cid) { seen_add(d, "started"); }
static void on_ready(void *d, uint32_t cid) { seen_add(d, "ready"); }
static void on_finished(void *d, uint32_t cid, int code) { seen_add(d, "finished"); }
static void on_error(void *d, uint32_t cid, enum avf_error_code code, const char *msg)
{
	seen_add(d, "error");
}
static void on_died(void *d, uint32_t cid, enum avf_death_reason reason)
{
	struct seen *s = d;
	char b[64];

	snprintf(b, sizeof(b), "died(%s)", death_reason_name(reason));
	seen_add(s, b);
	s->died = true;
}

static const struct vm_callback_ops seen_ops = {
	.payload_started = on_started, .payload_ready = on_ready, .payload_finished = on_finished,
	.error = on_error, .died = on_died,
};

/* Run the loop until @vm is READY or has died; false at the deadline. */
static bool wait_ready(struct fx *fx, struct vm *vm, const struct seen *s)
{
	int64_t deadline = mono_ms() + DEADLINE_MS;

	while (vm_state(vm) != AVF_VM_STATE_READY && !s->died) {
		if (mono_ms() >= deadline || loop_run_once(fx->loop, 100) < 0)
			return false;
	}
	return true;
}

/*
 * create/start/stop/drop. Returns the outcome, with the error, the death reason,
 * or what went wrong in @msg.
 */
static enum sweep_outcome cycle(struct fx *fx, char *msg, size_t len)
{
	struct vm_config cfg;
	struct vm_handle *h = NULL;
	struct seen s = {.loop = fx->loop};
	enum sweep_outcome o = SWEEP_DONE;
	const char *step;
	int r;

	vm_config_init(&cfg);
	cfg.kind = VM_CONFIG_APP;
	cfg.name = "fault";
	cfg.guest_script = (char *)SCRIPT;
	step = "createVm";
	if ((r = vmgr_create_vm(fx->mgr, &cfg, &h)) < 0)
		goto failed;
	step = "registerCallback";
	if ((r = vm_register_callback(vm_handle_vm(h), &seen_ops, &s)) < 0)
		goto failed;
	step = "start";
	if ((r = vmgr_start(fx->mgr, h)) < 0)
		goto failed;
	if (!wait_ready(fx, vm_handle_vm(h), &s)) {
		snprintf(msg, len, "hang: no READY nor death within %d ms (state %s)", DEADLINE_MS,
			 avf_vm_state_name(vm_state(vm_handle_vm(h))));
		o = SWEEP_UNCLEAN;
		goto out;
	}
	if (s.died) {
		snprintf(msg, len, "VM died before READY: %s", s.log);
		o = SWEEP_DIED;
		goto out;
	}
	step = "stop";
	if ((r = vmgr_stop(fx->mgr, h)) < 0)
		goto failed;
	if (strcmp(s.log, CALLBACKS) != 0) {
		snprintf(msg, len, "%s the callbacks were '%s'",
			 s.died ? "stopped VM died otherwise:" : "silent:", s.log);
		o = s.died && strncmp(s.log, "started,ready,died", 18) == 0 ? SWEEP_DIED
									   : SWEEP_UNCLEAN;
		goto out;
	}
	snprintf(msg, len, "cycle ok");
	goto out;
failed:
	snprintf(msg, len, "%s: %d %s", step, r, avf_err_last()->msg);
	o = SWEEP_ERROR;
out:
	vm_handle_unref(h);
	return o;
}

/* ---- checks ---- */

struct baseline {
	int fds;
	long allocs;
};

static void check(struct fx *fx, const struct baseline *b, const char *when, char *bad,
		  size_t len)
{
	char tmp[400];
	size_t o = strlen(bad);
	int e, st;

#define BAD(...)                                                                                   \
	do {                                                                                       \
		o += (size_t)snprintf(bad + o, o < len ? len - o : 0, "%s%s: ", o ? "; " : "",   \
				      when);                                                       \
		o += (size_t)snprintf(bad + o, o < len ? len - o : 0, __VA_ARGS__);               \
	} while (0)
	if (vmgr_vm_count(fx->mgr))
		BAD("%zu VMs left", vmgr_vm_count(fx->mgr));
	if (fake_backend_live_children(fx->be))
		BAD("%u VMM children left", fake_backend_live_children(fx->be));
	if (vs_registry_count(fx->reg))
		BAD("%zu CIDs still granted", vs_registry_count(fx->reg));
	if (loop_source_count(fx->loop))
		BAD("%u loop sources left", loop_source_count(fx->loop));
	if (waitpid(-1, &st, WNOHANG) != -1 || errno != ECHILD)
		BAD("a child process left unreaped");
	snprintf(tmp, sizeof(tmp), "%s/vm", fx->state);
	if ((e = fs_count_entries(tmp)) != 0)
		BAD("%d VM temp dirs left", e);
	snprintf(tmp, sizeof(tmp), "%s/last_cid.tmp", fx->state);
	if (access(tmp, F_OK) == 0)
		BAD("%s left", tmp);
	if (count_fds() != b->fds)
		BAD("%d fds, %d before", count_fds(), b->fds);
#ifndef __SANITIZE_ADDRESS__
	/* Under ASan its own strdup & co. allocate behind the shim's back, so the count
	 * drifts; LeakSanitizer checks the child at its exit instead. */
	if (fault_live_allocs() != b->allocs)
		BAD("%ld live allocations, %ld before", fault_live_allocs(), b->allocs);
#endif
	for (const char *p = fx->trace_buf; (p = strstr(p, "exit: signal ")); p++)
		if (atoi(p + 13) != SIGKILL)
			BAD("a VMM was killed by signal %d", atoi(p + 13));
#undef BAD
}

/* The child's whole job for one N; writes "<outcome> <message>" to @out. */
static void __attribute__((noreturn)) run_child(enum fault_kind kind, uint64_t n, int out)
{
	char dir[300], msg[1024], bad[2048] = "", fire[600], line[4096];
	struct baseline b;
	struct fx fx;
	enum sweep_outcome o;
	int r, ctl_fired;

	/* A private control page: the parent's counts are never touched. */
	snprintf(dir, sizeof(dir), "%s/run-%d", root, (int)getpid());
	snprintf(line, sizeof(line), "%s.ctl", dir);
	ctl = fault_setup(line);
	if (!ctl || mkdir(dir, 0700) < 0 || (r = fx_init(&fx, dir)) < 0) {
		dprintf(out, "%d 0 set-up: %s\n", SWEEP_UNCLEAN, avf_err_last()->msg);
		_exit(1);
	}
	/* One normal cycle first: what is allocated once and kept is not a leak. */
	if (cycle(&fx, msg, sizeof(msg)) != SWEEP_DONE) {
		dprintf(out, "%d 0 the warm-up cycle: %s\n", SWEEP_UNCLEAN, msg);
		_exit(1);
	}
	fx.trace_buf[0] = '\0';
	b = (struct baseline){.fds = count_fds(), .allocs = fault_live_allocs()};

	fault_arm(kind, n, 0, program_invocation_short_name);
	o = cycle(&fx, msg, sizeof(msg));
	fault_disarm();
	ctl_fired = ctl->fired != 0;
	sweep_describe_fire(ctl, fire, sizeof(fire));
	if (o == SWEEP_DONE && ctl->fired)
		o = SWEEP_ABSORBED;
	if (o != SWEEP_DONE && o != SWEEP_ABSORBED && !ctl->fired)
		snprintf(bad, sizeof(bad), "the cycle failed with no fault injected");
	check(&fx, &b, "after the faulty cycle", bad, sizeof(bad));
	{
		char again[1024];

		fx.trace_buf[0] = '\0';
		if (cycle(&fx, again, sizeof(again)) != SWEEP_DONE)
			snprintf(bad + strlen(bad), sizeof(bad) - strlen(bad),
				 "%sthe next cycle: %s", bad[0] ? "; " : "", again);
		check(&fx, &b, "after the next cycle", bad, sizeof(bad));
	}
	fx_free(&fx);
	fault_teardown();
	if (fs_remove_tree(dir) < 0)
		snprintf(bad + strlen(bad), sizeof(bad) - strlen(bad), "; %s", avf_err_last()->msg);
	if (bad[0])
		snprintf(line, sizeof(line), "%d %d %s [%s] (%s)\n", SWEEP_UNCLEAN, ctl_fired, bad,
			 fire, msg);
	else
		snprintf(line, sizeof(line), "%d %d %s\n", o, ctl_fired,
			 o == SWEEP_ABSORBED ? fire : msg);
	if (write(out, line, strlen(line)) < 0)
		_exit(1);
	/* exit, not _exit: under ASan, LeakSanitizer checks this process at exit. */
	exit(0);
}

/* Fork a child for N, read its verdict; a crash or a hang is unclean. *ret_fired: the
 * fault was injected (when unknown, a crash or a hang, say yes: the sweep goes on). */
static enum sweep_outcome run_n(enum fault_kind kind, uint64_t n, char *msg, size_t len,
				bool *ret_fired)
{
	const char *rest;
	int p[2], st = 0;
	pid_t pid;
	char line[4096] = "";
	ssize_t got = 0, r;
	int64_t deadline = mono_ms() + 4 * DEADLINE_MS;

	*ret_fired = true;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		run_child(kind, n, p[1]);
	}
	close(p[1]);
	while ((size_t)got < sizeof(line) - 1) {
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		int64_t left = deadline - mono_ms();

		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			break;
		r = read(p[0], line + got, sizeof(line) - 1 - (size_t)got);
		if (r <= 0)
			break;
		got += r;
	}
	close(p[0]);
	line[got] = '\0';
	if (mono_ms() >= deadline) {
		kill(pid, SIGKILL);
		snprintf(msg, len, "hang: N=%" PRIu64 " not done in %d ms", n, 4 * DEADLINE_MS);
		waitpid(pid, &st, 0);
		return SWEEP_UNCLEAN;
	}
	waitpid(pid, &st, 0);
	line[strcspn(line, "\n")] = '\0';
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !line[0]) {
		snprintf(msg, len, "the child ended with wait status %#x: %s", st,
			 line[0] ? line : "(no verdict)");
		return SWEEP_UNCLEAN;
	}
	/* "<outcome> <fired> <message>" */
	rest = strchr(line, ' ') ? strchr(line, ' ') + 1 : "0";
	*ret_fired = atoi(rest) != 0;
	snprintf(msg, len, "%s", strchr(rest, ' ') ? strchr(rest, ' ') + 1 : "");
	return (enum sweep_outcome)atoi(line);
}

static void sweep_kind(void **state)
{
	enum fault_kind kind = *(enum fault_kind *)*state;
	uint64_t n, max = sweep_max_n();
	struct sweep s;
	char msg[4096];
	int64_t t0 = mono_ms();

	if (getenv("AVF_FAULT_KINDS") && !strstr(getenv("AVF_FAULT_KINDS"), fault_kind_name(kind))) {
		skip();
		return;
	}
	sweep_init(&s, "in-process", kind, root);
	for (n = sweep_first_n(); n <= max; n++) {
		bool fired;
		enum sweep_outcome o = run_n(kind, n, msg, sizeof(msg), &fired);

		sweep_add(&s, n, o, msg);
		/* Not injected: the cycle made fewer than N calls; every one has failed once. */
		if (!fired)
			break;
	}
	sweep_print(&s);
	printf("    (%.1f s)\n", (double)(mono_ms() - t0) / 1000);
	if (n > max)
		fail_msg("%s: no clean cycle by N=%" PRIu64, s.label, max);
	if (s.counts[SWEEP_UNCLEAN])
		fail_msg("%u unclean failures; the first: %s", s.counts[SWEEP_UNCLEAN],
			 s.first_unclean);
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(root, sizeof(root), "%s/avf-fault-inproc-XXXXXX", tmp);
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	return fs_remove_tree(root) < 0 ? -1 : 0;
}

int main(void)
{
	static enum fault_kind kinds[FAULT_KINDS];
	struct CMUnitTest tests[FAULT_KINDS];

	for (int k = 0; k < FAULT_KINDS; k++) {
		kinds[k] = (enum fault_kind)k;
		tests[k] = (struct CMUnitTest){.name = fault_kind_name((enum fault_kind)k),
					       .test_func = sweep_kind,
					       .initial_state = &kinds[k]};
	}
	signal(SIGPIPE, SIG_IGN);
	return _cmocka_run_group_tests("test_fault_inproc", tests, FAULT_KINDS, setup, teardown);
}
