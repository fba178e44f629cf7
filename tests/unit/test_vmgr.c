/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager on the simulated backend and a virtual clock: whole lifecycles,
 * in-process. Every AVF rule of DESIGN §4 that needs no real process is pinned here.
 */
#include "cmocka_wrap.h"
#include "test_fds.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "base/fs_util.h"
#include "cid/cid_alloc.h"
#include "fakes/sim/sim_backend.h"
#include "service/local_context.h"
#include "service/vmgr.h"

#define SEC LOOP_NSEC_PER_SEC
#define MSEC LOOP_NSEC_PER_MSEC

struct fx {
	struct loop *loop;
	struct cid_alloc *cids;
	struct backend *be;
	struct local_context lc;
	struct vmgr *mgr;
	struct trace tr;
	char trace_buf[16384];
};

/* What one client callback saw, as text, and when it died. */
struct seen {
	char log[1024];
	int died;
	enum avf_death_reason reason;
	uint64_t died_at;
	struct fx *fx;
	struct vm_handle *drop_in_died; /* handle to drop from onDied */
	struct vm_handle *stop_in_ready;
};

static void seen_log(struct seen *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void seen_log(struct seen *s, const char *fmt, ...)
{
	va_list ap;
	size_t n = strlen(s->log);

	va_start(ap, fmt);
	vsnprintf(s->log + n, sizeof(s->log) - n, fmt, ap);
	va_end(ap);
}

static void cb_started(void *d, uint32_t cid)
{
	seen_log(d, "started;");
}

static void cb_ready(void *d, uint32_t cid)
{
	struct seen *s = d;

	seen_log(s, "ready;");
	if (s->stop_in_ready)
		assert_int_equal(vmgr_stop(s->fx->mgr, s->stop_in_ready), 0);
}

static void cb_finished(void *d, uint32_t cid, int code)
{
	seen_log(d, "finished(%d);", code);
}

static void cb_error(void *d, uint32_t cid, enum avf_error_code code, const char *msg)
{
	seen_log(d, "error(%d,%s);", (int)code, msg);
}

static void cb_died(void *d, uint32_t cid, enum avf_death_reason reason)
{
	struct seen *s = d;

	s->died++;
	s->reason = reason;
	s->died_at = loop_now(s->fx->loop);
	seen_log(s, "died(%s);", death_reason_name(reason));
	if (s->drop_in_died)
		s->drop_in_died = vm_handle_unref(s->drop_in_died);
}

static const struct vm_callback_ops seen_ops = {
	.payload_started = cb_started,
	.payload_ready = cb_ready,
	.payload_finished = cb_finished,
	.error = cb_error,
	.died = cb_died,
};

static void trace_to_buf(const struct trace_event *ev, void *data)
{
	struct fx *fx = data;
	size_t n = strlen(fx->trace_buf);

	snprintf(fx->trace_buf + n, sizeof(fx->trace_buf) - n, "%s %s\n", ev->actor, ev->text);
}

static uint64_t fx_clock(void *data)
{
	return loop_now(data);
}

static struct fx *fx_new(uint32_t cid_min, uint32_t cid_max)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &fx->loop), 0);
	fx->tr = (struct trace){ .sink = trace_to_buf, .sink_data = fx, .clock = fx_clock,
				 .clock_data = fx->loop };
	assert_int_equal(cid_alloc_new(cid_min, cid_max, NULL, &fx->cids), 0);
	fx->lc = (struct local_context){ .cids = fx->cids, .trace = &fx->tr };
	assert_int_equal(sim_backend_new(fx->loop, &fx->tr, &fx->be), 0);
	assert_int_equal(vmgr_new(&(struct vmgr_params){ .loop = fx->loop, .backend = fx->be,
							  .context = &local_context_ops,
							  .context_data = &fx->lc, .trace = &fx->tr },
				  &fx->mgr),
			 0);
	return fx;
}

/* Tear down and check nothing is left: VMs, children, CIDs, loop sources. */
static void fx_free(struct fx *fx)
{
	assert_int_equal(vmgr_vm_count(fx->mgr), 0);
	assert_int_equal(sim_backend_live_children(fx->be), 0);
	assert_int_equal(cid_alloc_held_count(fx->cids), 0);
	assert_int_equal(loop_source_count(fx->loop), 0);
	vmgr_free(fx->mgr);
	backend_free(fx->be);
	cid_alloc_free(fx->cids);
	loop_free(fx->loop);
	free(fx);
}

static struct vm_handle *create(struct fx *fx, enum vm_config_kind kind, const char *script,
				struct seen *s)
{
	struct vm_config c;
	struct vm_handle *h = NULL;

	vm_config_init(&c);
	c.kind = kind;
	c.name = "t";
	c.guest_script = (char *)script;
	if (vmgr_create_vm(fx->mgr, &c, &h) < 0)
		fail_msg("createVm: %s", avf_err_last()->msg);
	if (s) {
		s->fx = fx;
		assert_int_equal(vm_register_callback(vm_handle_vm(h), &seen_ops, s), 0);
	}
	return h;
}

static void test_default_guest_runs_to_shutdown(void **state)
{
	struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	struct seen s = { 0 };
	struct vm_handle *h = create(fx, VM_CONFIG_APP, NULL, &s);
	struct vm *vm = vm_handle_vm(h);

	assert_int_equal(vm_cid(vm), 2048);
	assert_int_equal(vm_state(vm), AVF_VM_STATE_NOT_STARTED);
	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	assert_int_equal(vm_state(vm), AVF_VM_STATE_STARTING);
	assert_int_equal(loop_advance(fx->loop, 999 * MSEC) >= 0, 1);
	assert_int_equal(vm_state(vm), AVF_VM_STATE_STARTING); /* boots in 1 s */
	loop_advance(fx->loop, 1 * MSEC);
	assert_int_equal(vm_state(vm), AVF_VM_STATE_READY);
	loop_advance(fx->loop, 10 * SEC);
	assert_string_equal(s.log, "started;ready;finished(0);died(SHUTDOWN);");
	assert_int_equal(s.died_at, 2 * SEC);
	assert_int_equal(vm_state(vm), AVF_VM_STATE_DEAD);
	/* dead but a handle remains: the CID stays held */
	assert_true(cid_alloc_is_held(fx->cids, 2048));
	assert_int_equal(vmgr_vm_count(fx->mgr), 1);
	vm_handle_unref(h);
	assert_false(cid_alloc_is_held(fx->cids, 2048));
	assert_non_null(strstr(fx->trace_buf, "vs cid 2048 released"));
	fx_free(fx);
}

static void test_stop_kills_and_delivers_before_returning(void **state)
{
	struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	struct seen s = { 0 };
	struct vm_handle *h = create(fx, VM_CONFIG_APP, "started; hang", &s);

	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	loop_advance(fx->loop, 1 * SEC);
	assert_int_equal(vm_state(vm_handle_vm(h)), AVF_VM_STATE_STARTED);
	assert_int_equal(vmgr_stop(fx->mgr, h), 0);
	assert_int_equal(s.died, 1); /* before stop() returned */
	assert_int_equal(s.reason, AVF_DEATH_KILLED);
	assert_int_equal(vmgr_stop(fx->mgr, h), -ESRCH);
	assert_string_equal(avf_err_last()->msg, "VM is not running");
	assert_int_equal(avf_err_last()->ex, AVF_EX_SERVICE_SPECIFIC);
	loop_advance(fx->loop, 60 * SEC); /* the hangup timer must be gone: no second death */
	assert_int_equal(s.died, 1);
	vm_handle_unref(h);
	fx_free(fx);
}

static void test_stop_before_start_and_start_twice(void **state)
{
	struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	struct seen s = { 0 };
	struct vm_handle *h = create(fx, VM_CONFIG_RAW, "hang", &s);

	assert_int_equal(vmgr_stop(fx->mgr, h), -ESRCH);
	assert_string_equal(avf_err_last()->msg, "VM is not running");
	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	assert_int_equal(vmgr_start(fx->mgr, h), -EALREADY);
	assert_string_equal(avf_err_last()->msg, "VM already started or failed");
	assert_int_equal(vm_state(vm_handle_vm(h)), AVF_VM_STATE_STARTING);
	vm_handle_unref(h);
	assert_string_equal(s.log, "died(KILLED);");
	fx_free(fx);
}

static void test_drop_last_handle_kills_and_releases_cid(void **state)
{
	struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	struct seen s = { 0 };
	struct vm_handle *h = create(fx, VM_CONFIG_APP, "started; ready; hang", &s);
	struct vm_handle *h2;

	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	loop_advance(fx->loop, SEC);
	h2 = vm_handle_ref(h); /* a second reference (say, passed to another client) */
	vm_handle_unref(h);
	assert_int_equal(s.died, 0);
	assert_true(cid_alloc_is_held(fx->cids, 2048));
	vm_handle_unref(h2);
	assert_string_equal(s.log, "started;ready;died(KILLED);");
	assert_false(cid_alloc_is_held(fx->cids, 2048));
	fx_free(fx);
}

static void test_boot_hangup_after_30s(void **state)
{
	struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	struct seen s = { 0 };
	struct vm_handle *h = create(fx, VM_CONFIG_APP, "hang", &s);

	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	loop_advance(fx->loop, 30 * SEC - 1);
	assert_int_equal(s.died, 0);
	loop_advance(fx->loop, 1);
	assert_string_equal(s.log, "died(HANGUP);");
	assert_int_equal(s.died_at, 30 * SEC);
	assert_non_null(strstr(fx->trace_buf, "boot hangup"));
	vm_handle_unref(h);
	fx_free(fx);
}

static void test_no_hangup_once_started_or_for_raw(void **state)
{
	struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	struct seen a = { 0 }, r = { 0 };
	struct vm_handle *app = create(fx, VM_CONFIG_APP, "wait 29s; started; hang", &a);
	struct vm_handle *raw = create(fx, VM_CONFIG_RAW, "hang", &r);

	assert_int_equal(vmgr_start(fx->mgr, app), 0);
	assert_int_equal(vmgr_start(fx->mgr, raw), 0);
	loop_advance(fx->loop, 3600 * SEC);
	assert_int_equal(a.died, 0);
	assert_int_equal(r.died, 0);
	vm_handle_unref(app);
	vm_handle_unref(raw);
	assert_string_equal(a.log, "started;died(KILLED);");
	assert_string_equal(r.log, "died(KILLED);");
	fx_free(fx);
}

static void test_script_outcomes(void **state)
{
	static const struct {
		const char *script;
		const char *log;
	} rows[] = {
		{ "exit 0", "died(SHUTDOWN);" },
		{ "exit 1", "died(START_FAILED);" },
		{ "started; exit 32", "started;died(REBOOT);" },
		{ "started; exit 33", "started;died(CRASH);" },
		{ "started; exit 36", "started;died(WATCHDOG_REBOOT);" },
		{ "started; exit 7", "started;died(UNKNOWN);" },
		{ "started; signal SEGV", "started;died(KILLED);" },
		{ "error 3 bad payload config; failure MICRODROID_INVALID_PAYLOAD_CONFIG; exit 0",
		  "error(3,bad payload config);died(MICRODROID_INVALID_PAYLOAD_CONFIG);" },
		{ "started; failure MICRODROID_UNKNOWN_RUNTIME_ERROR|Payload exited due to signal: 11; "
		  "exit 0",
		  "started;died(MICRODROID_UNKNOWN_RUNTIME_ERROR);" },
		{ "failure PVM_FIRMWARE_PUBLIC_KEY_MISMATCH; signal KILL",
		  "died(PVM_FIRMWARE_PUBLIC_KEY_MISMATCH);" },
		/* a guest reporting out of order is refused: no callback for it */
		{ "ready; started; finished 7; exit 0", "ready;finished(7);died(SHUTDOWN);" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
		struct seen s = { 0 };
		struct vm_handle *h = create(fx, VM_CONFIG_APP, rows[i].script, &s);

		assert_int_equal(vmgr_start(fx->mgr, h), 0);
		loop_advance(fx->loop, 60 * SEC);
		if (strcmp(s.log, rows[i].log) != 0)
			fail_msg("script '%s': got %s want %s\ntrace:\n%s", rows[i].script, s.log,
				 rows[i].log, fx->trace_buf);
		vm_handle_unref(h);
		fx_free(fx);
	}
}

static void test_spawn_failure_no_on_died(void **state)
{
	struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	struct seen s = { 0 };
	struct vm_handle *h = create(fx, VM_CONFIG_APP, "spawn-fail", &s);

	assert_int_equal(vmgr_start(fx->mgr, h), -ECHILD);
	assert_int_equal(avf_err_last()->ex, AVF_EX_SERVICE_SPECIFIC);
	assert_non_null(strstr(avf_err_last()->msg, "Error starting VM"));
	assert_int_equal(vm_state(vm_handle_vm(h)), AVF_VM_STATE_DEAD);
	assert_int_equal(vmgr_start(fx->mgr, h), -EALREADY);
	loop_advance(fx->loop, 60 * SEC);
	assert_int_equal(s.died, 0);
	assert_string_equal(s.log, "");
	vm_handle_unref(h);
	fx_free(fx);
}

static void test_bad_script_fails_create(void **state)
{
	struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	struct vm_config c;
	struct vm_handle *h = NULL;

	vm_config_init(&c);
	c.guest_script = "started; explode";
	assert_int_equal(vmgr_create_vm(fx->mgr, &c, &h), -EINVAL);
	assert_null(h);
	assert_non_null(strstr(avf_err_last()->msg, "guest script:1:10"));
	/* the CID taken for it went back */
	assert_int_equal(cid_alloc_held_count(fx->cids), 0);
	fx_free(fx);
}

/* An in-process VM has no guest processes: a payload (default script `agent`) or an
 * explicit `agent` step fails createVm, and the CID goes back. */
static void test_sim_refuses_payloads(void **state)
{
	struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	struct vm_config c;
	struct vm_handle *h = NULL;
	int lib = open("/dev/null", O_RDONLY | O_CLOEXEC), inst = dup(lib);

	vm_config_init(&c);
	c.kind = VM_CONFIG_APP;
	c.payload.library_fd = lib;
	c.payload.binary_name = "libp.so";
	c.payload.instance_fd = inst;
	assert_int_equal(vmgr_create_vm(fx->mgr, &c, &h), -EOPNOTSUPP);
	assert_null(h);
	assert_non_null(strstr(avf_err_last()->msg, "the simulated backend cannot run a payload"));
	vm_config_init(&c);
	c.guest_script = "wait 1s; agent";
	assert_int_equal(vmgr_create_vm(fx->mgr, &c, &h), -EOPNOTSUPP);
	assert_int_equal(cid_alloc_held_count(fx->cids), 0);
	close(lib);
	close(inst);
	fx_free(fx);
}

static void test_cid_reuse_only_after_death_and_all_handles(void **state)
{
	/* Range of 2: round-robin means CID 10 comes back only after wrapping. */
	struct fx *fx = fx_new(10, 11);
	struct seen s1 = { 0 }, s2 = { 0 };
	struct vm_handle *a = create(fx, VM_CONFIG_RAW, "exit 0", &s1);
	struct vm_handle *b = create(fx, VM_CONFIG_RAW, "hang", &s2);
	struct vm_handle *c = NULL;
	struct vm_config cfg;

	assert_int_equal(vm_cid(vm_handle_vm(a)), 10);
	assert_int_equal(vm_cid(vm_handle_vm(b)), 11);
	vm_config_init(&cfg);
	assert_int_equal(vmgr_create_vm(fx->mgr, &cfg, &c), -EBUSY);
	assert_string_equal(avf_err_last()->msg, "Could not find an available CID.");
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_STATE);

	assert_int_equal(vmgr_start(fx->mgr, a), 0);
	loop_advance(fx->loop, SEC);
	assert_int_equal(s1.died, 1);
	/* dead, but its handle is alive: still no CID */
	assert_int_equal(vmgr_create_vm(fx->mgr, &cfg, &c), -EBUSY);
	vm_handle_unref(a);
	assert_int_equal(vmgr_create_vm(fx->mgr, &cfg, &c), 0);
	assert_int_equal(vm_cid(vm_handle_vm(c)), 10);
	vm_handle_unref(b);
	vm_handle_unref(c);
	fx_free(fx);
}

static void test_drop_handle_inside_on_died(void **state)
{
	struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	struct seen s = { 0 }, t = { 0 };
	struct vm_handle *h = create(fx, VM_CONFIG_APP, "started; exit 33", &s);

	assert_int_equal(vm_register_callback(vm_handle_vm(h), &seen_ops, &t), 0);
	t.fx = fx;
	s.drop_in_died = h; /* the client's only reference goes from inside onDied */
	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	loop_advance(fx->loop, SEC);
	assert_null(s.drop_in_died);
	assert_string_equal(s.log, "started;died(CRASH);");
	assert_string_equal(t.log, "started;died(CRASH);"); /* second callback still served */
	assert_int_equal(cid_alloc_held_count(fx->cids), 0);
	fx_free(fx);
}

static void test_stop_from_on_payload_ready(void **state)
{
	struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	struct seen s = { 0 }, t = { 0 };
	struct vm_handle *h = create(fx, VM_CONFIG_APP, "started; ready; finished 0; exit 0", &s);

	assert_int_equal(vm_register_callback(vm_handle_vm(h), &seen_ops, &t), 0);
	t.fx = fx;
	s.stop_in_ready = h;
	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	loop_advance(fx->loop, SEC);
	/* every callback sees ready before anyone sees the death, and nothing after it */
	assert_string_equal(s.log, "started;ready;died(KILLED);");
	assert_string_equal(t.log, "started;ready;died(KILLED);");
	vm_handle_unref(h);
	fx_free(fx);
}

static void test_hundred_vms_at_once(void **state)
{
	enum { N = 100 };
	struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	struct seen *s = calloc(N, sizeof(*s));
	struct vm_handle *h[N];
	struct vmgr_vm_info rows[N];

	for (int i = 0; i < N; i++) {
		h[i] = create(fx, VM_CONFIG_APP, i % 2 ? "started; ready; wait 5s; finished 0; exit 0"
						       : "started; ready; hang",
			      &s[i]);
		assert_int_equal(vmgr_start(fx->mgr, h[i]), 0);
	}
	loop_advance(fx->loop, SEC);
	assert_int_equal(vmgr_list(fx->mgr, rows, N), N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(rows[i].cid, 2048 + i); /* distinct, in grant order */
		assert_int_equal(rows[i].state, AVF_VM_STATE_READY);
	}
	loop_advance(fx->loop, 10 * SEC);
	for (int i = 0; i < N; i++) {
		assert_int_equal(s[i].died, i % 2);
		vm_handle_unref(h[i]);
		assert_int_equal(s[i].died, 1);
		assert_int_equal(s[i].reason, i % 2 ? AVF_DEATH_SHUTDOWN : AVF_DEATH_KILLED);
	}
	free(s);
	fx_free(fx);
}

/* A context provider that logs what vmgr tells it, over the local allocator. */
struct state_log {
	struct local_context lc;
	char log[1024];
};

static void state_log_add(struct state_log *sl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void state_log_add(struct state_log *sl, const char *fmt, ...)
{
	va_list ap;
	size_t n = strlen(sl->log);

	va_start(ap, fmt);
	vsnprintf(sl->log + n, sizeof(sl->log) - n, fmt, ap);
	va_end(ap);
}

static int sl_acquire(void *data, const char *name, uint32_t *ret_cid, char **ret_temp_dir)
{
	return local_context_ops.acquire(&((struct state_log *)data)->lc, name, ret_cid,
					 ret_temp_dir);
}

static void sl_release(void *data, uint32_t cid)
{
	state_log_add(data, "release(%u);", cid);
	local_context_ops.release(&((struct state_log *)data)->lc, cid);
}

static void sl_set_state(void *data, uint32_t cid, enum avf_vm_state state)
{
	state_log_add(data, "%u:%s;", cid, avf_vm_state_name(state));
}

static const struct vmgr_context_ops state_log_ops = {
	.acquire = sl_acquire,
	.release = sl_release,
	.set_state = sl_set_state,
};

/* Swap the fixture's manager for one whose context provider logs set_state. */
static void fx_use_state_log(struct fx *fx, struct state_log *sl)
{
	vmgr_free(fx->mgr);
	sl->lc = fx->lc;
	assert_int_equal(vmgr_new(&(struct vmgr_params){ .loop = fx->loop, .backend = fx->be,
							  .context = &state_log_ops,
							  .context_data = sl, .trace = &fx->tr },
				  &fx->mgr),
			 0);
}

static void test_set_state_follows_every_change_once(void **state)
{
	static const struct {
		const char *script;
		enum vm_config_kind kind;
		bool stop_in_ready;
		const char *log;
	} rows[] = {
		/* every public state, in order, DEAD before the release */
		{ "started; ready; finished 0; exit 0", VM_CONFIG_APP, false,
		  "2048:STARTING;2048:STARTED;2048:READY;2048:FINISHED;2048:DEAD;release(2048);" },
		/* stop() from onPayloadReady: READY goes out before the callback's nested DEAD */
		{ "started; ready; hang", VM_CONFIG_APP, true,
		  "2048:STARTING;2048:STARTED;2048:READY;2048:DEAD;release(2048);" },
		/* boot hangup: DEAD when the payload becomes Hangup, not again at the exit */
		{ "hang", VM_CONFIG_APP, false, "2048:STARTING;2048:DEAD;release(2048);" },
		/* spawn failure: DEAD (Failed), no onDied */
		{ "spawn-fail", VM_CONFIG_RAW, false, "2048:DEAD;release(2048);" },
		/* a refused payload transition changes nothing */
		{ "ready; started; exit 0", VM_CONFIG_RAW, false,
		  "2048:STARTING;2048:READY;2048:DEAD;release(2048);" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
		struct state_log sl = { 0 };
		struct seen s = { 0 };
		struct vm_handle *h;

		fx_use_state_log(fx, &sl);
		h = create(fx, rows[i].kind, rows[i].script, &s);
		if (rows[i].stop_in_ready)
			s.stop_in_ready = h;
		vmgr_start(fx->mgr, h);
		loop_advance(fx->loop, 60 * SEC);
		vm_handle_unref(h);
		if (strcmp(sl.log, rows[i].log) != 0)
			fail_msg("script '%s': got %s want %s", rows[i].script, sl.log,
				 rows[i].log);
		fx_free(fx);
	}
}

static void test_set_state_dead_before_release_when_dropped_in_on_died(void **state)
{
	struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	struct state_log sl = { 0 };
	struct seen s = { 0 };
	struct vm_handle *h;

	fx_use_state_log(fx, &sl);
	h = create(fx, VM_CONFIG_RAW, "exit 33", &s);
	s.drop_in_died = h; /* the record goes inside vm_exited's fan-out */
	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	loop_advance(fx->loop, SEC);
	assert_null(s.drop_in_died);
	assert_string_equal(sl.log, "2048:STARTING;2048:DEAD;release(2048);");
	fx_free(fx);
}

/* ---- createVm's console and log fds: what the backend gets, and when they go ---- */

/* The simulator, with prepare() and spawn() watched. */
struct probe {
	struct backend base;
	struct backend *sim;
	struct backend_ops ops;
	int prepared, spawned;
	int fds[3];         /* what the last prepare() got: console out, console in, log */
	bool open_at_spawn; /* every one of them still open when spawn() ran */
	/* the config's files the last prepare() got: kernel, initrd, bootloader, then
	 * each disk's final fd and its indirect fds */
	int files[16];
	size_t n_files, n_disks;
	int disk_fd[4], n_indirect[4];
	bool files_open_at_spawn;
};

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static int probe_prepare(struct backend *be, const struct backend_vm *vm, struct backend_plan **ret)
{
	struct probe *p = (struct probe *)be;

	p->prepared++;
	p->fds[0] = vm->console_out_fd;
	p->fds[1] = vm->console_in_fd;
	p->fds[2] = vm->log_fd;
	p->n_files = 0;
	p->files[p->n_files++] = vm->config->kernel_fd;
	p->files[p->n_files++] = vm->config->initrd_fd;
	p->files[p->n_files++] = vm->config->bootloader_fd;
	p->n_disks = vm->n_disks;
	for (size_t d = 0; d < vm->n_disks && d < 4; d++) {
		p->disk_fd[d] = vm->disks[d].fd;
		p->n_indirect[d] = (int)vm->disks[d].n_indirect;
		if (vm->disks[d].fd >= 0)
			p->files[p->n_files++] = vm->disks[d].fd;
		for (size_t i = 0; i < vm->disks[d].n_indirect; i++)
			p->files[p->n_files++] = vm->disks[d].indirect_fds[i];
	}
	return p->sim->ops->prepare(p->sim, vm, ret);
}

static int probe_spawn(struct backend *be, struct backend_plan *plan,
		       const struct backend_sink *sink, void *sink_ctx, struct backend_child **ret)
{
	struct probe *p = (struct probe *)be;

	p->spawned++;
	p->open_at_spawn = true;
	for (int i = 0; i < 3; i++)
		if (p->fds[i] >= 0 && !fd_open(p->fds[i]))
			p->open_at_spawn = false;
	p->files_open_at_spawn = true;
	for (size_t i = 0; i < p->n_files; i++)
		if (p->files[i] >= 0 && !fd_open(p->files[i]))
			p->files_open_at_spawn = false;
	/* what a VMM would do with the console: the client must read it */
	if (p->fds[0] >= 0)
		assert_int_equal(write(p->fds[0], "spawned\n", 8), 8);
	return p->sim->ops->spawn(p->sim, plan, sink, sink_ctx, ret);
}

static void probe_destroy(struct backend *be)
{
	/* the simulator is the fixture's (fx_free) */
}

/* The fixture's manager replaced by one over a probe of its simulator. */
static struct probe *probe_install(struct fx *fx)
{
	struct probe *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	p->sim = fx->be;
	p->ops = *fx->be->ops; /* kill and child_free: the simulator's own */
	p->ops.prepare = probe_prepare;
	p->ops.spawn = probe_spawn;
	p->ops.destroy = probe_destroy;
	p->base = (struct backend){ .ops = &p->ops, .loop = fx->loop, .trace = &fx->tr };
	vmgr_free(fx->mgr);
	assert_int_equal(vmgr_new(&(struct vmgr_params){ .loop = fx->loop, .backend = &p->base,
							  .context = &local_context_ops,
							  .context_data = &fx->lc, .trace = &fx->tr },
				  &fx->mgr),
			 0);
	return p;
}

/* All @len bytes of @fd up to EOF, which must come at once (no writer left). */
static void read_to_eof(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	while ((n = read(fd, buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	if (n < 0)
		fail_msg("no EOF: a write end is still open somewhere (%s)", strerror(errno));
	buf[got] = '\0';
}

/* Every write end of the pipe is gone: its read end is at EOF. */
static bool no_writer(int rfd)
{
	struct pollfd p = { .fd = rfd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLHUP);
}

/* The pipe's read end is gone: a write would be EPIPE. */
static bool no_reader(int wfd)
{
	struct pollfd p = { .fd = wfd, .events = POLLOUT };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}

static void test_console_fds_reach_backend_and_close_at_start(void **state)
{
	struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	struct probe *p = probe_install(fx);
	int out[2], in[2], log[2], fds0 = count_fds();
	struct vm_config c;
	struct vm_handle *h = NULL;
	char buf[64];

	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(log, O_CLOEXEC), 0);
	vm_config_init(&c);
	c.guest_script = "console hi; log there; echo-console; exit 0";
	assert_int_equal(vmgr_create_vm_fds(fx->mgr, &c,
					    &(struct vmgr_vm_fds){ .console_out = out[1],
								   .console_in = in[0],
								   .log = log[1] },
					    &h),
			 0);
	/* prepare() got exactly our fds, which vmgr keeps until the VMM is spawned */
	assert_int_equal(p->prepared, 1);
	assert_int_equal(p->fds[0], out[1]);
	assert_int_equal(p->fds[1], in[0]);
	assert_int_equal(p->fds[2], log[1]);
	assert_true(fd_open(out[1]) && fd_open(in[0]) && fd_open(log[1]));
	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	assert_int_equal(p->spawned, 1);
	assert_true(p->open_at_spawn);
	/* ... and not a moment longer: AVF keeps no copy after the spawn */
	read_to_eof(out[0], buf, sizeof(buf));
	assert_string_equal(buf, "spawned\n");
	read_to_eof(log[0], buf, sizeof(buf));
	assert_string_equal(buf, "");
	assert_true(no_reader(in[1]));
	/* the simulator only traces the console steps */
	loop_advance(fx->loop, SEC);
	assert_non_null(strstr(fx->trace_buf, "guest writes console \"hi\""));
	assert_non_null(strstr(fx->trace_buf, "guest writes log \"there\""));
	assert_non_null(strstr(fx->trace_buf, "guest reads the console input (none here)"));
	assert_int_equal(vm_state(vm_handle_vm(h)), AVF_VM_STATE_DEAD);
	vm_handle_unref(h);
	close(out[0]);
	close(in[1]);
	close(log[0]);
	assert_int_equal(count_fds(), fds0);

	/* no fds: prepare() is told -1 for each */
	h = create(fx, VM_CONFIG_RAW, "exit 0", NULL);
	assert_int_equal(p->fds[0], -1);
	assert_int_equal(p->fds[1], -1);
	assert_int_equal(p->fds[2], -1);
	vm_handle_unref(h);
	fx_free(fx);
	free(p);
}

static void test_console_fds_closed_without_a_vmm(void **state)
{
	struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	struct probe *p = probe_install(fx);
	int out[2], fds0 = count_fds();
	struct vm_config c;
	struct vm_handle *h = NULL;
	char buf[64];

	vm_config_init(&c);
	/* the spawn fails: closed all the same */
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	c.guest_script = "spawn-fail";
	assert_int_equal(vmgr_create_vm_fds(fx->mgr, &c,
					    &(struct vmgr_vm_fds){ .console_out = out[1],
								   .console_in = -1,
								   .log = -1 },
					    &h),
			 0);
	assert_int_equal(vmgr_start(fx->mgr, h), -ECHILD);
	assert_true(p->open_at_spawn);
	read_to_eof(out[0], buf, sizeof(buf));
	assert_string_equal(buf, "spawned\n");
	vm_handle_unref(h);
	close(out[0]);

	/* never started: closed when the last handle goes */
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	c.guest_script = NULL;
	assert_int_equal(vmgr_create_vm_fds(fx->mgr, &c,
					    &(struct vmgr_vm_fds){ .console_out = -1,
								   .console_in = out[0],
								   .log = -1 },
					    &h),
			 0);
	assert_false(no_reader(out[1]));
	vm_handle_unref(h);
	assert_true(no_reader(out[1]));
	close(out[1]);

	/* createVm fails, after the VM record existed (prepare) or before (validation) */
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	c.guest_script = "explode";
	assert_int_equal(vmgr_create_vm_fds(fx->mgr, &c,
					    &(struct vmgr_vm_fds){ .console_out = -1,
								   .console_in = -1,
								   .log = out[1] },
					    &h),
			 -EINVAL);
	read_to_eof(out[0], buf, sizeof(buf));
	close(out[0]);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	c.guest_script = NULL;
	c.kind = (enum vm_config_kind)7;
	assert_int_equal(vmgr_create_vm_fds(fx->mgr, &c,
					    &(struct vmgr_vm_fds){ .console_out = out[1],
								   .console_in = -1,
								   .log = -1 },
					    &h),
			 -EINVAL);
	assert_non_null(strstr(avf_err_last()->msg, "unknown kind"));
	read_to_eof(out[0], buf, sizeof(buf));
	close(out[0]);
	assert_int_equal(count_fds(), fds0);
	assert_int_equal(cid_alloc_held_count(fx->cids), 0);
	fx_free(fx);
	free(p);
}

/* A partition image: an anonymous regular file of @size bytes. */
static int partition_file(const char *name, off_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	return fd;
}

/* The path the VM's composite @fd was created at (its /proc/self/fd link). */
static void fd_path(int fd, char *buf, size_t len)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, len - 1);
	assert_true(n > 0);
	buf[n] = '\0';
}

/*
 * The config's files (kernel, initrd, disks, a composite's partitions): vmgr keeps
 * its own copies with the VM, builds the composite at createVm (the local context
 * has no temp dir: in a directory of the VM's own), gives the backend each disk's
 * image and the composite's components (partitions, header, footer, zero filler),
 * and closes all of them right after the spawn attempt, or with a VM never
 * started; the composite's files go with the VM. The kernel, initrd and image are
 * pipes' write ends: once ours is closed too, the read end sees EOF exactly when
 * vmgr kept no copy. The partitions are memfds (a composite needs sizes).
 */
static void test_config_files_reach_backend_and_close_at_start(void **state)
{
	struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	struct probe *p = probe_install(fx);
	int fds0 = count_fds(), pipes[3][2], part[2];
	struct vm_config_partition parts[2];
	struct vm_config_disk disks[2];
	struct vm_config c;
	struct vm_handle *h = NULL;
	char buf[16], spec[4096], *slash;
	struct stat st;

	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 3; i++)
			assert_int_equal(pipe2(pipes[i], O_CLOEXEC), 0);
		part[0] = partition_file("a", 100); /* read-only, so a zero-filled tail */
		part[1] = partition_file("b", 4096);
		parts[0] = (struct vm_config_partition){"a", part[0], false};
		parts[1] = (struct vm_config_partition){"b", part[1], true};
		disks[0] = (struct vm_config_disk){.image_fd = pipes[2][1], .writable = true};
		disks[1] = (struct vm_config_disk){.image_fd = -1, .partitions = parts,
						   .n_partitions = 2};
		vm_config_init(&c);
		c.kernel_fd = pipes[0][1];
		c.initrd_fd = pipes[1][1];
		c.disks = disks;
		c.n_disks = 2;
		c.guest_script = "exit 0";
		assert_int_equal(vmgr_create_vm(fx->mgr, &c, &h), 0);
		/* kernel, initrd, bootloader, disk 0, the composite and its 5 components */
		assert_int_equal(p->n_files, 10);
		assert_int_equal(p->files[2], -1);
		assert_int_equal(p->n_disks, 2);
		assert_true(p->disk_fd[0] >= 0);
		assert_int_equal(p->n_indirect[0], 0);
		assert_true(p->disk_fd[1] >= 0);
		assert_int_equal(p->n_indirect[1], 5); /* a, b, header, footer, zero filler */
		/* vmgr's own copies: other numbers, the same files */
		for (size_t i = 0; i < p->n_files; i++) {
			if (i == 2)
				continue;
			assert_true(fd_open(p->files[i]));
			for (int k = 0; k < 3; k++)
				assert_int_not_equal(p->files[i], pipes[k][1]);
			assert_int_not_equal(p->files[i], part[0]);
			assert_int_not_equal(p->files[i], part[1]);
		}
		assert_int_equal(count_fds_on_file(part[0]), 2);
		/* composite-0.img and its helpers in a directory of the VM's own */
		fd_path(p->disk_fd[1], spec, sizeof(spec));
		slash = strrchr(spec, '/');
		assert_non_null(slash);
		assert_string_equal(slash + 1, "composite-0.img");
		assert_non_null(strstr(spec, "/avf-vm"));
		*slash = '\0';
		assert_int_equal(stat(spec, &st), 0);
		/* ours go: only vmgr's copies keep the pipes' write ends open */
		for (int i = 0; i < 3; i++)
			close(pipes[i][1]);
		for (int i = 0; i < 3; i++)
			assert_false(no_writer(pipes[i][0]));
		if (round == 0) {
			assert_int_equal(vmgr_start(fx->mgr, h), 0);
			assert_true(p->files_open_at_spawn);
		}
		/* started: closed right after the spawn; never started: when the VM goes */
		if (round == 1)
			vm_handle_unref(h);
		for (int i = 0; i < 3; i++) {
			read_to_eof(pipes[i][0], buf, sizeof(buf));
			close(pipes[i][0]);
		}
		assert_int_equal(count_fds_on_file(part[0]), 1);
		assert_int_equal(count_fds_on_file(part[1]), 1);
		if (round == 0) {
			/* the files stay while the VM does */
			assert_int_equal(stat(spec, &st), 0);
			loop_advance(fx->loop, SEC);
			assert_int_equal(vm_state(vm_handle_vm(h)), AVF_VM_STATE_DEAD);
			vm_handle_unref(h);
		}
		assert_int_equal(stat(spec, &st), -1);
		assert_int_equal(errno, ENOENT);
		close(part[0]);
		close(part[1]);
	}
	assert_int_equal(count_fds(), fds0);
	assert_int_equal(cid_alloc_held_count(fx->cids), 0);
	fx_free(fx);
	free(p);
}

/* A composite that cannot be built fails createVm, naming the disk and the rule; nothing
 * is left: no file, no fd, no CID. */
static void test_composite_refused_leaves_nothing(void **state)
{
	struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	char tmp[] = "/tmp/avf-vmgr-XXXXXX", *old = getenv("TMPDIR");
	int fds0 = count_fds(), img;
	struct vm_config_partition parts[2];
	struct vm_config_disk disks[2];
	struct vm_config c;
	struct vm_handle *h = NULL;

	old = old ? strdup(old) : NULL;
	assert_non_null(mkdtemp(tmp));
	setenv("TMPDIR", tmp, 1); /* where the VM's own directory goes: watched */
	img = partition_file("img", 4096);
	parts[0] = (struct vm_config_partition){"ok", img, false};
	parts[1] = (struct vm_config_partition){"data", img, true};
	disks[0] = (struct vm_config_disk){.image_fd = -1, .partitions = parts, .n_partitions = 1};
	disks[1] = (struct vm_config_disk){.image_fd = -1, .partitions = parts, .n_partitions = 2};
	vm_config_init(&c);
	c.kernel_fd = img; /* any file: the simulator boots nothing */
	c.disks = disks;
	c.n_disks = 2;
	/* the second composite: the first was built, and goes too */
	assert_int_equal(ftruncate(img, 4095), 0);
	assert_int_equal(vmgr_create_vm(fx->mgr, &c, &h), -EINVAL);
	assert_null(h);
	assert_string_equal(avf_err_last()->msg,
			    "Failed to make composite image for disk 1: partition #1 'data': "
			    "Read-write partition size 4095 is not a multiple of 4096.");
	assert_int_equal(fs_count_entries(tmp), 0);
	assert_int_equal(cid_alloc_held_count(fx->cids), 0);
	/* duplicate labels: core/disk's rule */
	assert_int_equal(ftruncate(img, 4096), 0);
	parts[1].label = "ok";
	assert_int_equal(vmgr_create_vm(fx->mgr, &c, &h), -EINVAL);
	assert_non_null(strstr(avf_err_last()->msg, "disk 1: partition #1 'ok': duplicate GPT "
						    "partition label 'ok' (also partition #0)"));
	assert_int_equal(fs_count_entries(tmp), 0);
	close(img);
	if (old)
		setenv("TMPDIR", old, 1);
	else
		unsetenv("TMPDIR");
	free(old);
	assert_int_equal(rmdir(tmp), 0);
	assert_int_equal(count_fds(), fds0);
	fx_free(fx);
}

/* AVF's createVm rules on files come through createVm; nothing of the caller's is taken. */
static void test_config_file_rules_fail_create(void **state)
{
	struct fx *fx = fx_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX);
	int fds0 = count_fds(), k[2], b[2];
	struct vm_config c;
	struct vm_handle *h = NULL;

	assert_int_equal(pipe2(k, O_CLOEXEC), 0);
	assert_int_equal(pipe2(b, O_CLOEXEC), 0);
	vm_config_init(&c);
	c.kernel_fd = k[0];
	c.bootloader_fd = b[0];
	assert_int_equal(vmgr_create_vm(fx->mgr, &c, &h), -EINVAL);
	assert_null(h);
	assert_int_equal(avf_err_last()->ex, AVF_EX_SERVICE_SPECIFIC);
	assert_string_equal(avf_err_last()->msg,
			    "Can't have both bootloader and kernel/initrd image.");
	assert_int_equal(cid_alloc_held_count(fx->cids), 0);
	/* the caller's fds stay the caller's */
	assert_true(fd_open(k[0]) && fd_open(b[0]));
	c.kernel_fd = -1;
	c.bootloader_fd = -1;
	c.initrd_fd = k[0];
	assert_int_equal(vmgr_create_vm(fx->mgr, &c, &h), -EINVAL);
	assert_string_equal(avf_err_last()->msg,
			    "VM must have either a bootloader or a kernel image.");
	/* the same without any file: the fake guest's config, valid */
	c.initrd_fd = -1;
	assert_int_equal(vmgr_create_vm(fx->mgr, &c, &h), 0);
	vm_handle_unref(h);
	for (int i = 0; i < 2; i++) {
		close(k[i]);
		close(b[i]);
	}
	assert_int_equal(count_fds(), fds0);
	fx_free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_guest_runs_to_shutdown),
		cmocka_unit_test(test_stop_kills_and_delivers_before_returning),
		cmocka_unit_test(test_stop_before_start_and_start_twice),
		cmocka_unit_test(test_drop_last_handle_kills_and_releases_cid),
		cmocka_unit_test(test_boot_hangup_after_30s),
		cmocka_unit_test(test_no_hangup_once_started_or_for_raw),
		cmocka_unit_test(test_script_outcomes),
		cmocka_unit_test(test_spawn_failure_no_on_died),
		cmocka_unit_test(test_bad_script_fails_create),
		cmocka_unit_test(test_cid_reuse_only_after_death_and_all_handles),
		cmocka_unit_test(test_drop_handle_inside_on_died),
		cmocka_unit_test(test_stop_from_on_payload_ready),
		cmocka_unit_test(test_hundred_vms_at_once),
		cmocka_unit_test(test_set_state_follows_every_change_once),
		cmocka_unit_test(test_set_state_dead_before_release_when_dropped_in_on_died),
		cmocka_unit_test(test_console_fds_reach_backend_and_close_at_start),
		cmocka_unit_test(test_console_fds_closed_without_a_vmm),
		cmocka_unit_test(test_config_files_reach_backend_and_close_at_start),
		cmocka_unit_test(test_composite_refused_leaves_nothing),
		cmocka_unit_test(test_config_file_rules_fail_create),
		cmocka_unit_test(test_sim_refuses_payloads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
