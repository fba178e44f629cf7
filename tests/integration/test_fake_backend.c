/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fake process backend end to end: vmgr on the real clock driving real
 * fakevmm processes, the guest-channel codec, and fakevmm's command line run
 * directly (fork + exec, no shell). Waits are for events, with a deadline
 * (WAIT_MS, generous because under `ctest -T memcheck` every fakevmm runs under
 * valgrind too); nothing sleeps.
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
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "backends/crosvm/crosvm_backend.h"
#include "backends/fake/fake_backend.h"
#include "backends/fake/guest_channel.h"
#include "base/avf_err.h"
#include "cid/cid_alloc.h"
#include "disk/cdisk_build.h"
#include "disk/cdisk_spec.h"
#include "service/local_context.h"
#include "service/vmgr.h"

#define WAIT_MS 60000
#define CYCLES  200

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- fixture ---- */

struct fx {
	struct loop *loop;
	struct cid_alloc *cids;
	struct backend *be;
	struct local_context lc;
	struct vmgr *mgr;
	struct trace tr;
	char trace_buf[32768];
	int log[2];      /* VMM stdout/stderr, when asked for */
	char tmpdir[64]; /* per-VM temp dir handed out by the context, when asked for */
};

struct fx_opts {
	const char *path; /* NULL: the built fakevmm */
	bool log;
	bool tmpdir;
	uint64_t hangup_ns;
	bool crosvm; /* the crosvm backend (running @path) instead of the fake one */
	bool stop_socket;         /* crosvm backend: stop with "Exit" on the control socket */
	uint64_t stop_timeout_ns; /* ... and SIGKILL after this (0: the default) */
};

struct seen {
	char log[1024];
	int died;
	enum avf_death_reason reason;
	struct fx *fx;
	struct vm_handle *drop_in_died;
	struct vm_handle *drop_in_ready;
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
	if (s->drop_in_ready)
		s->drop_in_ready = vm_handle_unref(s->drop_in_ready);
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

static int tmp_acquire(void *data, const char *name, uint32_t *ret_cid, char **ret_temp_dir)
{
	struct fx *fx = data;
	char *dir = strdup(fx->tmpdir);
	int r;

	if (!dir)
		return -ENOMEM;
	r = local_context_ops.acquire(&fx->lc, name, ret_cid, ret_temp_dir);
	if (r < 0) {
		free(dir);
		return r;
	}
	*ret_temp_dir = dir;
	return 0;
}

static void tmp_release(void *data, uint32_t cid)
{
	struct fx *fx = data;

	local_context_ops.release(&fx->lc, cid);
}

static const struct vmgr_context_ops tmp_context_ops = {
    .acquire = tmp_acquire,
    .release = tmp_release,
};

static struct fx *fx_new_opts(const struct fx_opts *o)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct fake_backend_opts bo = {.fakevmm_path = o->path ? o->path : AVF_FAKEVMM_PATH};

	assert_non_null(fx);
	fx->log[0] = fx->log[1] = -1;
	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &fx->loop), 0);
	fx->tr = (struct trace){.sink = trace_to_buf, .sink_data = fx};
	assert_int_equal(cid_alloc_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX, NULL, &fx->cids), 0);
	fx->lc = (struct local_context){.cids = fx->cids, .trace = &fx->tr};
	if (o->log) {
		assert_int_equal(pipe2(fx->log, O_CLOEXEC), 0);
		assert_int_equal(fcntl(fx->log[0], F_SETFL, O_NONBLOCK), 0);
		bo.log_fd = fx->log[1];
	}
	if (o->tmpdir) {
		strcpy(fx->tmpdir, "/tmp/avf-fake-XXXXXX");
		assert_non_null(mkdtemp(fx->tmpdir));
	}
	if (o->crosvm)
		assert_int_equal(crosvm_backend_new(fx->loop, &fx->tr,
						    &(struct crosvm_backend_opts){
							.crosvm_path = bo.fakevmm_path,
							.log_fd = bo.log_fd,
							.stop_via_socket = o->stop_socket,
							.stop_timeout_ns = o->stop_timeout_ns},
						    &fx->be),
				 0);
	else
		assert_int_equal(fake_backend_new(fx->loop, &fx->tr, &bo, &fx->be), 0);
	assert_int_equal(
	    vmgr_new(
		&(struct vmgr_params){.loop = fx->loop,
				      .backend = fx->be,
				      .context = o->tmpdir ? &tmp_context_ops : &local_context_ops,
				      .context_data = o->tmpdir ? (void *)fx : (void *)&fx->lc,
				      .trace = &fx->tr,
				      .boot_hangup_ns = o->hangup_ns},
		&fx->mgr),
	    0);
	return fx;
}

static struct fx *fx_new(void)
{
	return fx_new_opts(&(struct fx_opts){0});
}

/* Everything the VMMs got from us is gone: VMs, children, CIDs, loop sources, zombies. */
static void fx_free(struct fx *fx)
{
	assert_int_equal(vmgr_vm_count(fx->mgr), 0);
	if (strcmp(fx->be->ops->name, "crosvm") == 0)
		assert_int_equal(crosvm_backend_live_children(fx->be), 0);
	else
		assert_int_equal(fake_backend_live_children(fx->be), 0);
	assert_int_equal(cid_alloc_held_count(fx->cids), 0);
	assert_int_equal(loop_source_count(fx->loop), 0);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	vmgr_free(fx->mgr);
	backend_free(fx->be);
	cid_alloc_free(fx->cids);
	loop_free(fx->loop);
	if (fx->log[0] >= 0) {
		close(fx->log[0]);
		close(fx->log[1]);
	}
	if (fx->tmpdir[0])
		assert_int_equal(rmdir(fx->tmpdir), 0);
	free(fx);
}

/* What the VMMs wrote to the log pipe so far. */
static void fx_read_log(struct fx *fx, char *buf, size_t len)
{
	ssize_t n = read(fx->log[0], buf, len - 1);

	buf[n > 0 ? n : 0] = '\0';
}

static struct vm_handle *create_cfg(struct fx *fx, const struct vm_config *c, struct seen *s)
{
	struct vm_handle *h = NULL;

	if (vmgr_create_vm(fx->mgr, c, &h) < 0)
		fail_msg("createVm: %s", avf_err_last()->msg);
	if (s) {
		s->fx = fx;
		assert_int_equal(vm_register_callback(vm_handle_vm(h), &seen_ops, s), 0);
	}
	return h;
}

static struct vm_handle *create(struct fx *fx, enum vm_config_kind kind, const char *script,
				struct seen *s)
{
	struct vm_config c;

	vm_config_init(&c);
	c.kind = kind;
	c.name = "t";
	c.guest_script = (char *)script;
	return create_cfg(fx, &c, s);
}

#define WAIT_FOR(fx, cond)                                                                         \
	do {                                                                                       \
		uint64_t dl_ = mono_ms() + WAIT_MS;                                                \
		while (!(cond)) {                                                                  \
			if (mono_ms() >= dl_)                                                      \
				fail_msg("timed out waiting for %s\ntrace:\n%s", #cond,            \
					 (fx)->trace_buf);                                         \
			assert_true(loop_run_once((fx)->loop, 100) >= 0);                          \
		}                                                                                  \
	} while (0)

/* ---- guest channel codec ---- */

static void roundtrip(const struct guest_channel_msg *m)
{
	uint8_t buf[GUEST_CHANNEL_PACKET_MAX];
	struct guest_channel_msg out;
	size_t len;

	assert_int_equal(guest_channel_encode(m, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, GUEST_CHANNEL_HDR_LEN + strlen(m->text));
	assert_int_equal(guest_channel_decode(buf, len, &out), 0);
	assert_int_equal(out.kind, m->kind);
	assert_int_equal(out.seq, m->seq);
	assert_int_equal(out.value, m->value);
	assert_int_equal(out.ex, m->ex);
	assert_string_equal(out.text, m->text);
}

/* A valid 16-byte header, little-endian, to corrupt field by field. */
static void hdr(uint8_t *b, uint8_t version, uint8_t kind, uint16_t text_len, int32_t value,
		int32_t ex)
{
	memset(b, 0, GUEST_CHANNEL_HDR_LEN);
	b[0] = version;
	b[1] = kind;
	b[2] = (uint8_t)text_len;
	b[3] = (uint8_t)(text_len >> 8);
	b[4] = 7; /* seq 7 */
	for (int i = 0; i < 4; i++) {
		b[8 + i] = (uint8_t)((uint32_t)value >> (8 * i));
		b[12 + i] = (uint8_t)((uint32_t)ex >> (8 * i));
	}
}

static void test_channel_codec(void **state)
{
	struct guest_channel_msg m = {0}, out = {.seq = 12345};
	struct guest_event ev;
	uint8_t b[GUEST_CHANNEL_PACKET_MAX + 16];
	size_t len;
	int sp[2];

	/* round trips, and the exact bytes of one packet (the format is ABI) */
	assert_int_equal(
	    guest_channel_from_event(
		&(struct guest_event){.kind = GUEST_ERROR, .value = 3, .message = "bad cfg"},
		0x01020304, &m),
	    0);
	assert_int_equal(guest_channel_encode(&m, b, sizeof(b), &len), 0);
	assert_int_equal(len, 23);
	assert_memory_equal(b,
			    "\x01\x04\x07\x00\x04\x03\x02\x01\x03\x00\x00\x00\x00\x00\x00\x00"
			    "bad cfg",
			    23);
	roundtrip(&m);
	assert_int_equal(guest_channel_to_event(&m, &ev), 0);
	assert_int_equal(ev.kind, GUEST_ERROR);
	assert_int_equal(ev.value, 3);
	assert_string_equal(ev.message, "bad cfg");
	guest_channel_from_event(&(struct guest_event){.kind = GUEST_PAYLOAD_STARTED}, 1, &m);
	roundtrip(&m);
	guest_channel_from_event(&(struct guest_event){.kind = GUEST_PAYLOAD_READY}, 2, &m);
	roundtrip(&m);
	guest_channel_from_event(&(struct guest_event){.kind = GUEST_PAYLOAD_FINISHED, .value = -9},
				 3, &m);
	roundtrip(&m);
	guest_channel_make_reply(4, 0, 0, NULL, &m);
	roundtrip(&m);
	guest_channel_make_reply(5, -EINVAL, AVF_EX_ILLEGAL_STATE, "Invalid payload state", &m);
	roundtrip(&m);
	assert_int_equal(guest_channel_to_event(&m, &ev), -EINVAL); /* a reply is no event */

	/* a long notifyError message is cut to the limit, never overflows */
	{
		char big[GUEST_CHANNEL_TEXT_MAX + 100];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		guest_channel_from_event(&(struct guest_event){.kind = GUEST_ERROR, .message = big},
					 6, &m);
		assert_int_equal(strlen(m.text), GUEST_CHANNEL_TEXT_MAX);
		roundtrip(&m);
	}

	/* the decoder refuses, and leaves *ret alone */
	static const struct {
		uint8_t version, kind;
		uint16_t text_len;
		int32_t value, ex;
		size_t extra; /* bytes after the header actually present */
		int err;
	} bad[] = {
	    {2, 1, 0, 0, 0, 0, -EPROTONOSUPPORT}, /* another version */
	    {1, 5, 0, 0, 0, 0, -EBADMSG},         /* unknown kind */
	    {1, 0x81, 0, 0, 0, 0, -EBADMSG},      /* unknown kind */
	    {1, 4, 1025, 0, 0, 1025, -EBADMSG},   /* text above the limit */
	    {1, 4, 10, 0, 0, 9, -EBADMSG},        /* text_len longer than the packet */
	    {1, 4, 10, 0, 0, 11, -EBADMSG},       /* trailing bytes */
	    {1, 1, 0, 1, 0, 0, -EBADMSG},         /* started with a value */
	    {1, 2, 3, 0, 0, 3, -EBADMSG},         /* ready with text */
	    {1, 3, 2, 0, 0, 2, -EBADMSG},         /* finished with text */
	    {1, 4, 0, 1, -5, 0, -EBADMSG},        /* request with an exception */
	    {1, 0x80, 0, 1, 0, 0, -EBADMSG},      /* positive reply */
	    {1, 0x80, 0, -5000, -8, 0, -EBADMSG}, /* reply below -MAX_ERRNO */
	    {1, 0x80, 0, 0, -5, 0, -EBADMSG},     /* success with an exception */
	    {1, 0x80, 2, 0, 0, 2, -EBADMSG},      /* success with text */
	    {1, 0x80, 0, -22, 0, 0, -EBADMSG},    /* refusal without exception */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hdr(b, bad[i].version, bad[i].kind, bad[i].text_len, bad[i].value, bad[i].ex);
		memset(b + GUEST_CHANNEL_HDR_LEN, 'a', bad[i].extra);
		if (guest_channel_decode(b, GUEST_CHANNEL_HDR_LEN + bad[i].extra, &out) !=
		    bad[i].err)
			fail_msg("row %zu: expected %d (%s)", i, bad[i].err, avf_err_last()->msg);
		assert_int_equal(out.seq, 12345);
	}
	hdr(b, 1, 4, 3, 1, 0);
	memcpy(b + GUEST_CHANNEL_HDR_LEN, "a\0b", 3); /* NUL inside the text */
	assert_int_equal(guest_channel_decode(b, GUEST_CHANNEL_HDR_LEN + 3, &out), -EBADMSG);
	assert_non_null(strstr(avf_err_last()->msg, "NUL"));
	for (size_t n = 0; n < GUEST_CHANNEL_HDR_LEN; n++) /* every truncated header */
		assert_int_equal(guest_channel_decode(b, n, &out), -EBADMSG);

	/* the encoder refuses what the decoder would */
	m = (struct guest_channel_msg){.kind = GUEST_CHANNEL_PAYLOAD_STARTED, .value = 1};
	assert_int_equal(guest_channel_encode(&m, b, sizeof(b), &len), -EINVAL);
	m = (struct guest_channel_msg){.kind = 9};
	assert_int_equal(guest_channel_encode(&m, b, sizeof(b), &len), -EINVAL);
	guest_channel_from_event(&(struct guest_event){.kind = GUEST_ERROR, .message = "x"}, 1, &m);
	assert_int_equal(guest_channel_encode(&m, b, 16, &len), -EMSGSIZE);

	/* over a socket: EAGAIN, an oversized packet, EOF */
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	assert_int_equal(guest_channel_recv(sp[0], &out, MSG_DONTWAIT), -EAGAIN);
	memset(b, 0, sizeof(b));
	hdr(b, 1, 4, 1024, 0, 0);
	assert_int_equal(send(sp[1], b, GUEST_CHANNEL_PACKET_MAX + 1, 0),
			 GUEST_CHANNEL_PACKET_MAX + 1);
	assert_int_equal(guest_channel_recv(sp[0], &out, MSG_DONTWAIT), -EBADMSG);
	guest_channel_make_reply(9, 0, 0, NULL, &m);
	assert_int_equal(guest_channel_send(sp[1], &m, 0), 0);
	assert_int_equal(guest_channel_recv(sp[0], &out, MSG_DONTWAIT), 1);
	assert_int_equal(out.seq, 9);
	close(sp[1]);
	assert_int_equal(guest_channel_recv(sp[0], &out, MSG_DONTWAIT), 0);
	close(sp[0]);
}

/* ---- prepare(): golden command lines ---- */

static void check_argv(const struct backend_plan *plan, const char *const *want)
{
	size_t n = 0;

	while (want[n])
		n++;
	for (size_t i = 0; i < n && i < plan->argc; i++)
		if (strcmp(plan->argv[i], want[i]) != 0)
			fail_msg("argv[%zu]: got '%s' want '%s'", i, plan->argv[i], want[i]);
	assert_int_equal(plan->argc, n);
	assert_null(plan->argv[n]);
	assert_int_equal(plan->n_fds, 0); /* no fd exists before spawn */
}

static void test_prepare_golden(void **state)
{
	static const char *const raw_default[] = {
	    "/opt/avf/fakevmm",
	    "--extended-status",
	    "--log-level",
	    "info,disk=warn",
	    "run",
	    "--disable-sandbox",
	    "--cid",
	    "2048",
	    "--no-balloon",
	    "--cpus",
	    "1",
	    "--serial=type=sink,hardware=serial,num=1",
	    "--serial=type=file,path=/proc/self/fd/{failure-pipe},hardware=serial,num=2",
	    "--serial=type=sink,hardware=virtio-console,num=1",
	    "--serial=type=sink,hardware=virtio-console,num=2",
	    "--serial=type=sink,hardware=virtio-console,num=3",
	    "--socket",
	    "/proc/self/fd/{control-socket}",
	    "--avf-guest-channel",
	    "/proc/self/fd/{guest-channel}",
	    NULL,
	};
	static const char *const app_scripted[] = {
	    "/opt/avf/fakevmm",
	    "--extended-status",
	    "--log-level",
	    "info,disk=warn",
	    "run",
	    "--disable-sandbox",
	    "--cid",
	    "65535",
	    "--no-balloon",
	    "--mem",
	    "512",
	    "--cpus",
	    "2",
	    "--serial=type=sink,hardware=serial,num=1",
	    "--serial=type=file,path=/proc/self/fd/{failure-pipe},hardware=serial,num=2",
	    "--serial=type=sink,hardware=virtio-console,num=1",
	    "--serial=type=sink,hardware=virtio-console,num=2",
	    "--serial=type=sink,hardware=virtio-console,num=3",
	    "--socket",
	    "/proc/self/fd/{control-socket}",
	    "--params",
	    "avf.fake_script=started%3B%20ready%3B%20wait%20250ms%3B%20finished%200%3B%20exit%200",
	    "--avf-guest-channel",
	    "/proc/self/fd/{guest-channel}",
	    NULL,
	};
	static const char *const protected_failure[] = {
	    "/opt/avf/fakevmm",
	    "--extended-status",
	    "--log-level",
	    "info,disk=warn",
	    "run",
	    "--disable-sandbox",
	    "--cid",
	    "4242",
	    "--no-balloon",
	    "--protected-vm",
	    "--swiotlb",
	    "8",
	    "--unmap-guest-memory-on-fork",
	    "--mem",
	    "256",
	    "--cpus",
	    "1",
	    "--serial=type=sink,hardware=serial,num=1",
	    "--serial=type=file,path=/proc/self/fd/{failure-pipe},hardware=serial,num=2",
	    "--serial=type=sink,hardware=virtio-console,num=1",
	    "--serial=type=sink,hardware=virtio-console,num=2",
	    "--serial=type=sink,hardware=virtio-console,num=3",
	    "--socket",
	    "/proc/self/fd/{control-socket}",
	    "--params",
	    "avf.fake_script=error%201%20%22100%25%20bad%22%3B%0Afailure%20"
	    "MICRODROID_UNKNOWN_RUNTIME_ERROR%7Cx%3B%20exit%2033",
	    "--avf-guest-channel",
	    "/proc/self/fd/{guest-channel}",
	    NULL,
	};
	struct loop *l;
	struct backend *be;
	struct backend_plan *plan = NULL;
	struct vm_config c;
	struct backend_vm vm = {.cid = 2048,
				.name = "golden",
				.config = &c,
				.console_out_fd = -1,
				.console_in_fd = -1,
				.log_fd = -1};

	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &l), 0);
	assert_int_equal(
	    fake_backend_new(l, NULL,
			     &(struct fake_backend_opts){.fakevmm_path = "/opt/avf/fakevmm"}, &be),
	    0);
	vm_config_init(&c);
	assert_int_equal(be->ops->prepare(be, &vm, &plan), 0);
	check_argv(plan, raw_default);
	plan = backend_plan_free(plan);

	c.kind = VM_CONFIG_APP;
	c.memory_mib = 512;
	c.cpus = 2;
	c.guest_script = "started; ready; wait 250ms; finished 0; exit 0";
	vm.cid = 65535;
	assert_int_equal(be->ops->prepare(be, &vm, &plan), 0);
	check_argv(plan, app_scripted);
	plan = backend_plan_free(plan);

	vm_config_init(&c);
	c.protected_vm = true;
	c.memory_mib = 256;
	c.guest_script =
	    "error 1 \"100% bad\";\nfailure MICRODROID_UNKNOWN_RUNTIME_ERROR|x; exit 33";
	vm.cid = 4242;
	assert_int_equal(be->ops->prepare(be, &vm, &plan), 0);
	check_argv(plan, protected_failure);
	plan = backend_plan_free(plan);

	/* a bad script fails prepare (so createVm), with the parser's message */
	c.guest_script = "started; explode";
	assert_int_equal(be->ops->prepare(be, &vm, &plan), -EINVAL);
	assert_null(plan);
	assert_non_null(strstr(avf_err_last()->msg, "guest script:1:10"));
	backend_free(be);
	loop_free(l);
}

/*
 * The console and log fds in argv, as A15 builds them (crosvm-spec §1.2 rows 15-19,
 * the §1.6 example): every combination of present (numbers as in §1.6: 41 out,
 * 42 in, 43 log) and absent fds, written out by hand.
 */
static void test_prepare_golden_console_fds(void **state)
{
	static const struct {
		int out, in, log;
		const char *tty_s0, *hvc0, *hvc2;
	} rows[] = {
	    {-1, -1, -1, "--serial=type=sink,hardware=serial,num=1",
	     "--serial=type=sink,hardware=virtio-console,num=1",
	     "--serial=type=sink,hardware=virtio-console,num=3"},
	    {41, -1, -1,
	     "--serial=type=file,path=/proc/self/fd/{console-out},hardware=serial,num=1",
	     "--serial=type=file,path=/proc/self/fd/{console-out},hardware=virtio-console,num=1",
	     "--serial=type=sink,hardware=virtio-console,num=3"},
	    {-1, 42, -1, "--serial=type=sink,hardware=serial,num=1",
	     "--serial=type=sink,input=/proc/self/fd/{console-in},hardware=virtio-console,num=1",
	     "--serial=type=sink,hardware=virtio-console,num=3"},
	    {-1, -1, 43, "--serial=type=sink,hardware=serial,num=1",
	     "--serial=type=sink,hardware=virtio-console,num=1",
	     "--serial=type=file,path=/proc/self/fd/{log},hardware=virtio-console,num=3"},
	    {41, 42, -1,
	     "--serial=type=file,path=/proc/self/fd/{console-out},hardware=serial,num=1",
	     "--serial=type=file,path=/proc/self/fd/{console-out},input=/proc/self/fd/{console-in},"
	     "hardware=virtio-console,num=1",
	     "--serial=type=sink,hardware=virtio-console,num=3"},
	    {41, -1, 43,
	     "--serial=type=file,path=/proc/self/fd/{console-out},hardware=serial,num=1",
	     "--serial=type=file,path=/proc/self/fd/{console-out},hardware=virtio-console,num=1",
	     "--serial=type=file,path=/proc/self/fd/{log},hardware=virtio-console,num=3"},
	    {-1, 42, 43, "--serial=type=sink,hardware=serial,num=1",
	     "--serial=type=sink,input=/proc/self/fd/{console-in},hardware=virtio-console,num=1",
	     "--serial=type=file,path=/proc/self/fd/{log},hardware=virtio-console,num=3"},
	    /* fd 0 is an fd like any other */
	    {0, 1, 2, "--serial=type=file,path=/proc/self/fd/{console-out},hardware=serial,num=1",
	     "--serial=type=file,path=/proc/self/fd/{console-out},input=/proc/self/fd/{console-in},"
	     "hardware=virtio-console,num=1",
	     "--serial=type=file,path=/proc/self/fd/{log},hardware=virtio-console,num=3"},
	};
	struct loop *l;
	struct backend *be;
	struct vm_config c;

	assert_int_equal(loop_new(LOOP_CLOCK_VIRTUAL, &l), 0);
	assert_int_equal(
	    fake_backend_new(l, NULL,
			     &(struct fake_backend_opts){.fakevmm_path = "/opt/avf/fakevmm"}, &be),
	    0);
	vm_config_init(&c);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *const want[] = {
		    "/opt/avf/fakevmm",
		    "--extended-status",
		    "--log-level",
		    "info,disk=warn",
		    "run",
		    "--disable-sandbox",
		    "--cid",
		    "2050",
		    "--no-balloon",
		    "--cpus",
		    "1",
		    rows[i].tty_s0,
		    "--serial=type=file,path=/proc/self/fd/{failure-pipe},hardware=serial,num=2",
		    rows[i].hvc0,
		    "--serial=type=sink,hardware=virtio-console,num=2", /* ramdump: a sink */
		    rows[i].hvc2,
		    "--socket",
		    "/proc/self/fd/{control-socket}",
		    "--avf-guest-channel",
		    "/proc/self/fd/{guest-channel}",
		    NULL,
		};
		struct backend_vm vm = {.cid = 2050,
					.name = "io",
					.config = &c,
					.console_out_fd = rows[i].out,
					.console_in_fd = rows[i].in,
					.log_fd = rows[i].log};
		struct backend_plan *plan = NULL;

		/* pure: the numbers are only recorded, never used before spawn */
		assert_int_equal(be->ops->prepare(be, &vm, &plan), 0);
		check_argv(plan, want);
		backend_plan_free(plan);
	}
	backend_free(be);
	loop_free(l);
}

/* ---- lifecycles across a real process ---- */

static void test_script_outcomes(void **state)
{
	static const struct {
		const char *script;
		const char *log;
	} rows[] = {
	    {"exit 0", "died(SHUTDOWN);"},
	    {"exit 1", "died(START_FAILED);"},
	    {"started; exit 32", "started;died(REBOOT);"},
	    {"started; exit 33", "started;died(CRASH);"},
	    {"started; exit 36", "started;died(WATCHDOG_REBOOT);"},
	    {"started; exit 7", "started;died(UNKNOWN);"},
	    {"started; exit 34", "started;died(UNKNOWN);"}, /* guest panic: UNKNOWN, as AVF */
	    {"started; exit 35", "started;died(UNKNOWN);"},
	    {"started; signal SEGV", "started;died(KILLED);"},
	    {"signal TERM", "died(KILLED);"},
	    {"started; ready; finished 3; exit 0", "started;ready;finished(3);died(SHUTDOWN);"},
	    {"error 3 bad payload config; failure MICRODROID_INVALID_PAYLOAD_CONFIG; exit 0",
	     "error(3,bad payload config);died(MICRODROID_INVALID_PAYLOAD_CONFIG);"},
	    {"started; failure MICRODROID_UNKNOWN_RUNTIME_ERROR|Payload exited due to signal: 11; "
	     "exit 0",
	     "started;died(MICRODROID_UNKNOWN_RUNTIME_ERROR);"},
	    {"failure PVM_FIRMWARE_PUBLIC_KEY_MISMATCH; signal KILL",
	     "died(PVM_FIRMWARE_PUBLIC_KEY_MISMATCH);"},
	    {"failure PVM_FIRMWARE_INSTANCE_IMAGE_CHANGED; exit 1",
	     "died(PVM_FIRMWARE_INSTANCE_IMAGE_CHANGED);"},
	    {"failure MICRODROID_FAILED_TO_CONNECT_TO_VIRTUALIZATION_SERVICE; exit 0",
	     "died(MICRODROID_FAILED_TO_CONNECT_TO_VIRTUALIZATION_SERVICE);"},
	    /* written in two pieces: the host reassembles the stream */
	    {"started; failure MICRODROID_PAYLOAD_; wait 20ms; failure HAS_CHANGED; exit 0",
	     "started;died(MICRODROID_PAYLOAD_HAS_CHANGED);"},
	    /* surrounding whitespace is trimmed (newer AVF) */
	    {"failure \"  MICRODROID_PAYLOAD_VERIFICATION_FAILED  \"; exit 0",
	     "died(MICRODROID_PAYLOAD_VERIFICATION_FAILED);"},
	    /* not a failure name: the exit status decides */
	    {"failure something broke; exit 33", "died(CRASH);"},
	    {"failure microdroid_payload_has_changed; signal KILL", "died(KILLED);"},
	    /* out of order: the refused events have no callback, the script goes on */
	    {"ready; started; finished 7; exit 0", "ready;finished(7);died(SHUTDOWN);"},
	    {"started; ready; finished 0; error 1 too late; ready; exit 0",
	     "started;ready;finished(0);died(SHUTDOWN);"},
	};
	struct fx *fx = fx_new_opts(&(struct fx_opts){.log = true});

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct seen s = {0};
		struct vm_handle *h = create(fx, VM_CONFIG_APP, rows[i].script, &s);

		fx->trace_buf[0] = '\0';
		assert_int_equal(vmgr_start(fx->mgr, h), 0);
		WAIT_FOR(fx, s.died);
		if (strcmp(s.log, rows[i].log) != 0)
			fail_msg("script '%s': got %s want %s\ntrace:\n%s", rows[i].script, s.log,
				 rows[i].log, fx->trace_buf);
		assert_int_equal(vm_state(vm_handle_vm(h)), AVF_VM_STATE_DEAD);
		vm_handle_unref(h);
	}
	fx_free(fx);
}

static void test_default_guest_runs_to_shutdown(void **state)
{
	struct fx *fx = fx_new_opts(&(struct fx_opts){.log = true});
	struct seen s = {0};
	struct vm_handle *h = create(fx, VM_CONFIG_APP, NULL, &s);
	uint64_t t0 = mono_ms();

	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	assert_int_equal(vm_state(vm_handle_vm(h)), AVF_VM_STATE_STARTING);
	WAIT_FOR(fx, s.died);
	assert_string_equal(s.log, "started;ready;finished(0);died(SHUTDOWN);");
	/* GSCRIPT_DEFAULT waits 1 s twice, on the real clock */
	assert_true(mono_ms() - t0 >= 2000);
	vm_handle_unref(h);
	fx_free(fx);
}

static void test_guest_sees_refusal(void **state)
{
	struct fx *fx = fx_new_opts(&(struct fx_opts){.log = true});
	struct seen s = {0};
	struct vm_handle *h =
	    create(fx, VM_CONFIG_APP, "ready; started; finished 7; error 2 late; exit 0", &s);
	char log[4096];

	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	WAIT_FOR(fx, s.died);
	assert_string_equal(s.log, "ready;finished(7);died(SHUTDOWN);");
	fx_read_log(fx, log, sizeof(log));
	assert_non_null(strstr(log,
			       "fakevmm: guest: notifyPayloadStarted refused: EX_ILLEGAL_STATE "
			       "(-22): Invalid payload state transition: Ready -> Started\n"));
	assert_non_null(strstr(log, "fakevmm: guest: notifyError refused: EX_ILLEGAL_STATE (-22): "
				    "Invalid payload state transition: Finished -> Finished\n"));
	assert_null(strstr(log, "notifyPayloadReady refused"));
	assert_null(strstr(log, "notifyPayloadFinished refused"));
	vm_handle_unref(h);
	fx_free(fx);
}

static void test_stop_kills_and_delivers_before_returning(void **state)
{
	struct fx *fx = fx_new();
	struct seen s = {0};
	struct vm_handle *h = create(fx, VM_CONFIG_APP, "started; hang", &s);

	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	WAIT_FOR(fx, vm_state(vm_handle_vm(h)) == AVF_VM_STATE_STARTED);
	assert_int_equal(vmgr_stop(fx->mgr, h), 0);
	assert_int_equal(s.died, 1); /* before stop() returned */
	assert_int_equal(s.reason, AVF_DEATH_KILLED);
	assert_string_equal(s.log, "started;died(KILLED);");
	assert_non_null(strstr(fx->trace_buf, "SIGKILL"));
	assert_int_equal(vmgr_stop(fx->mgr, h), -ESRCH);
	assert_string_equal(avf_err_last()->msg, "VM is not running");
	/* reaped by stop() itself: no zombie, nothing more to come */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(loop_run_once(fx->loop, 0), 0);
	assert_int_equal(s.died, 1);
	vm_handle_unref(h);
	fx_free(fx);
}

static void test_drop_last_handle_kills(void **state)
{
	struct fx *fx = fx_new();
	struct seen s = {0};
	struct vm_handle *h = create(fx, VM_CONFIG_APP, "started; ready; hang", &s);
	uint32_t cid = vm_cid(vm_handle_vm(h));

	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	WAIT_FOR(fx, vm_state(vm_handle_vm(h)) == AVF_VM_STATE_READY);
	vm_handle_unref(h);
	assert_string_equal(s.log, "started;ready;died(KILLED);");
	assert_false(cid_alloc_is_held(fx->cids, cid));
	fx_free(fx);
}

static void test_stop_from_on_payload_ready(void **state)
{
	struct fx *fx = fx_new();
	struct seen s = {0}, t = {0};
	struct vm_handle *h = create(fx, VM_CONFIG_APP, "started; ready; finished 0; exit 0", &s);

	assert_int_equal(vm_register_callback(vm_handle_vm(h), &seen_ops, &t), 0);
	t.fx = fx;
	s.stop_in_ready = h; /* kill() runs inside the backend's own sink->guest call */
	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	WAIT_FOR(fx, s.died);
	assert_string_equal(s.log, "started;ready;died(KILLED);");
	assert_string_equal(t.log, "started;ready;died(KILLED);");
	vm_handle_unref(h);
	fx_free(fx);
}

static void test_drop_last_handle_in_on_payload_ready(void **state)
{
	struct fx *fx = fx_new();
	struct seen s = {0};
	struct vm_handle *h = create(fx, VM_CONFIG_APP, "started; ready; hang", &s);

	/* The record, and so the backend child, goes inside sink->guest. */
	s.drop_in_ready = h;
	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	WAIT_FOR(fx, s.died);
	assert_null(s.drop_in_ready);
	assert_string_equal(s.log, "started;ready;died(KILLED);");
	assert_int_equal(vmgr_vm_count(fx->mgr), 0);
	fx_free(fx);
}

static void test_drop_handle_inside_on_died(void **state)
{
	struct fx *fx = fx_new();
	struct seen s = {0};
	struct vm_handle *h = create(fx, VM_CONFIG_APP, "started; exit 33", &s);

	s.drop_in_died = h; /* the record goes inside sink->exited */
	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	WAIT_FOR(fx, s.died);
	assert_null(s.drop_in_died);
	assert_string_equal(s.log, "started;died(CRASH);");
	fx_free(fx);
}

static void test_killed_from_outside(void **state)
{
	struct fx *fx = fx_new();
	struct seen s = {0};
	struct vm_handle *h = create(fx, VM_CONFIG_APP, "started; hang", &s);

	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	WAIT_FOR(fx, vm_state(vm_handle_vm(h)) == AVF_VM_STATE_STARTED);
	assert_int_equal(kill(fake_backend_last_pid(fx->be), SIGKILL), 0);
	WAIT_FOR(fx, s.died);
	assert_string_equal(s.log, "started;died(KILLED);");
	assert_null(strstr(fx->trace_buf, "SIGKILL")); /* not by us */
	vm_handle_unref(h);
	fx_free(fx);
}

static void test_boot_hangup(void **state)
{
	struct fx *fx = fx_new_opts(&(struct fx_opts){.hangup_ns = 300 * LOOP_NSEC_PER_MSEC});
	struct seen s = {0};
	struct vm_handle *h = create(fx, VM_CONFIG_APP, "hang", &s);

	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	WAIT_FOR(fx, s.died);
	assert_string_equal(s.log, "died(HANGUP);");
	assert_non_null(strstr(fx->trace_buf, "boot hangup"));
	vm_handle_unref(h);
	fx_free(fx);
}

static void expect_start_fails(struct fx *fx, const char *script, int err, const char *msg)
{
	struct seen s = {0};
	struct vm_handle *h = create(fx, VM_CONFIG_APP, script, &s);
	int fds = count_fds();

	assert_int_equal(vmgr_start(fx->mgr, h), err);
	assert_int_equal(avf_err_last()->ex, AVF_EX_SERVICE_SPECIFIC);
	if (!strstr(avf_err_last()->msg, msg))
		fail_msg("message '%s' lacks '%s'", avf_err_last()->msg, msg);
	assert_int_equal(vm_state(vm_handle_vm(h)), AVF_VM_STATE_DEAD);
	assert_int_equal(vmgr_start(fx->mgr, h), -EALREADY);
	/* no process left, nothing watched: no onDied can ever come */
	assert_int_equal(count_fds(), fds);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_int_equal(loop_source_count(fx->loop), 0);
	assert_int_equal(s.died, 0);
	assert_string_equal(s.log, "");
	vm_handle_unref(h);
	assert_int_equal(s.died, 0);
}

static void test_exec_failure(void **state)
{
	char noexec[] = "/tmp/avf-fake-noexec-XXXXXX";
	struct fx *fx = fx_new_opts(&(struct fx_opts){.path = "/nonexistent/fakevmm"});
	int fd;

	expect_start_fails(
	    fx, "started; exit 0", -ENOENT,
	    "Error starting VM: cannot run VMM '/nonexistent/fakevmm': No such file");
	fx_free(fx);

	fd = mkstemp(noexec); /* a file without execute permission */
	assert_true(fd >= 0);
	close(fd);
	fx = fx_new_opts(&(struct fx_opts){.path = noexec});
	expect_start_fails(fx, "exit 0", -EACCES, "Permission denied");
	fx_free(fx);
	unlink(noexec);

	/* spawn-fail fails spawn() itself, without a process */
	fx = fx_new();
	expect_start_fails(fx, "spawn-fail", -ECHILD, "Error starting VM");
	fx_free(fx);
}

static void test_bad_script_fails_create(void **state)
{
	struct fx *fx = fx_new();
	struct vm_config c;
	struct vm_handle *h = NULL;

	vm_config_init(&c);
	c.guest_script = "started; explode";
	assert_int_equal(vmgr_create_vm(fx->mgr, &c, &h), -EINVAL);
	assert_null(h);
	assert_non_null(strstr(avf_err_last()->msg, "guest script:1:10"));
	fx_free(fx);
}

/* What /proc/<pid>/fd/<fd> points to ("pipe:[123]", "socket:[4]"). */
static void fd_link(pid_t pid, int fd, char *link, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	n = readlink(path, link, len - 1);
	if (n <= 0)
		fail_msg("%s: not open in the VMM", path);
	link[n] = '\0';
}

/* The link of our own @fd as the VMM would show it, for comparison. */
static void own_link(int fd, char *link, size_t len)
{
	fd_link(getpid(), fd, link, len);
}

/*
 * The VMM @pid holds the @n fds named in its argv (their links into @links) and
 * nothing else from us: any other fd above 2 must be fakevmm's own close-on-exec
 * duplicate of one of them (crosvm works on F_DUPFD_CLOEXEC duplicates).
 */
static void check_vmm_fds(pid_t pid, const int *named, size_t n, char (*links)[256])
{
	char path[64], link[256], info[512];
	struct dirent *de;
	DIR *d;

	for (size_t i = 0; i < n; i++)
		fd_link(pid, named[i], links[i], sizeof(links[i]));
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name), in_named = 0, dup_of = 0;
		unsigned long flags = 0;
		char *fl;
		FILE *f;

		if (de->d_name[0] == '.' || fd <= 2)
			continue;
		for (size_t i = 0; i < n; i++)
			in_named |= named[i] == fd;
		if (in_named)
			continue;
		fd_link(pid, fd, link, sizeof(link));
		for (size_t i = 0; i < n; i++)
			dup_of |= strcmp(link, links[i]) == 0;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
		f = fopen(path, "re");
		assert_non_null(f);
		info[fread(info, 1, sizeof(info) - 1, f)] = '\0';
		fclose(f);
		fl = strstr(info, "flags:");
		assert_non_null(fl);
		flags = strtoul(fl + 6, NULL, 8);
		/* valgrind keeps its own fds in the VMM too */
		if (!(dup_of && (flags & O_CLOEXEC)) && !RUNNING_ON_VALGRIND)
			fail_msg("fd %d (%s, flags 0%lo) leaked into the VMM", fd, link, flags);
	}
	closedir(d);
}

/* The VMM got exactly its three fds, at the numbers its argv names. */
static void test_spawned_argv_and_fds(void **state)
{
	struct fx *fx = fx_new();
	struct seen s = {0};
	struct vm_handle *h = create(fx, VM_CONFIG_RAW, "started; hang", &s);
	char path[64], buf[8192], links[3][256], *words[64];
	int n_words = 0, fd_fail = -1, fd_ctl = -1, fd_guest = -1, first = -1;
	ssize_t n;
	pid_t pid;
	FILE *f;

	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	WAIT_FOR(fx, vm_state(vm_handle_vm(h)) == AVF_VM_STATE_STARTED);
	pid = fake_backend_last_pid(fx->be);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "re");
	assert_non_null(f);
	n = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	assert_true(n > 0);
	buf[n] = '\0';
	for (char *p = buf; p < buf + n && n_words < 64; p += strlen(p) + 1)
		words[n_words++] = p;
	/* under valgrind the tool's own options come first: find the fakevmm word */
	for (int i = 0; i < n_words && first < 0; i++)
		if (strcmp(words[i], AVF_FAKEVMM_PATH) == 0)
			first = i;
	assert_true(first >= 0);
	assert_int_equal(n_words - first, 22);
	assert_string_equal(words[first + 4], "run");
	assert_string_equal(words[first + 7], "2048");
	assert_string_equal(words[first + 8], "--no-balloon");
	assert_int_equal(sscanf(words[first + 12],
				"--serial=type=file,path=/proc/self/fd/%d,hardware=serial,num=2",
				&fd_fail),
			 1);
	assert_string_equal(words[first + 16], "--socket");
	assert_int_equal(sscanf(words[first + 17], "/proc/self/fd/%d", &fd_ctl), 1);
	/* the fake's extras come after crosvm's command line */
	assert_string_equal(words[first + 18], "--params");
	assert_string_equal(words[first + 19], "avf.fake_script=started%3B%20hang");
	assert_string_equal(words[first + 20], "--avf-guest-channel");
	assert_int_equal(sscanf(words[first + 21], "/proc/self/fd/%d", &fd_guest), 1);
	assert_null(strchr(words[first + 12], '{'));

	check_vmm_fds(pid, (const int[]){fd_fail, fd_ctl, fd_guest}, 3, links);
	assert_true(strncmp(links[0], "pipe:", 5) == 0);
	assert_true(strncmp(links[1], "socket:", 7) == 0);
	assert_true(strncmp(links[2], "socket:", 7) == 0);
	vm_handle_unref(h);
	fx_free(fx);
}

/* Read @fd until @needle has arrived (or EOF, with @needle NULL), within WAIT_MS. */
static void read_until(int fd, char *buf, size_t len, const char *needle)
{
	uint64_t dl = mono_ms() + WAIT_MS;
	size_t got = strlen(buf);

	while (!needle || !strstr(buf, needle)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (mono_ms() >= dl)
			fail_msg("timed out waiting for %s; got so far:\n%s",
				 needle ? needle : "EOF", buf);
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, buf + got, len - 1 - got);
		assert_true(n >= 0);
		if (n == 0) {
			if (needle)
				fail_msg("EOF before %s; got:\n%s", needle, buf);
			return;
		}
		got += (size_t)n;
		buf[got] = '\0';
	}
}

/* The words of /proc/<pid>/cmdline from the fakevmm path on (valgrind's come first). */
static int vmm_words(pid_t pid, char *buf, size_t len, char **words, int max)
{
	char path[64];
	int n_words = 0, first = -1;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "re");
	assert_non_null(f);
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (char *p = buf; p < buf + n && n_words < max; p += strlen(p) + 1) {
		if (first < 0 && strcmp(p, AVF_FAKEVMM_PATH) == 0)
			first = n_words;
		if (first >= 0)
			words[n_words - first] = p;
		n_words++;
	}
	assert_true(first >= 0);
	return n_words - first;
}

/*
 * createVm's console and log fds, end to end through vmgr and a real fakevmm: the
 * argv names them where A15 does (the console twice), the VMM holds them and
 * nothing else of ours, the banner and the script's console and log lines arrive,
 * console input comes back through echo-console, and both ends see EOF when the
 * VMM is gone (vmgr kept no copy).
 */
static void test_console_and_log_reach_the_vmm(void **state)
{
	struct fx *fx = fx_new();
	struct seen s = {0};
	struct vm_config c;
	struct vm_handle *h = NULL;
	int out[2], in[2], log[2], fds0 = count_fds(), fd[6], n_words, out2 = -1;
	char buf[8192], con[1024] = "", lg[1024] = "", want[256], links[6][256], mine[256];
	char *words[64];
	pid_t pid;

	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(log, O_CLOEXEC), 0);
	vm_config_init(&c);
	c.name = "io";
	c.guest_script = "console hello, console; log one log line; echo-console; echo-console; "
			 "log done; exit 0";
	/* vmgr takes the three ends we give it; we keep the other three */
	if (vmgr_create_vm_fds(
		fx->mgr, &c,
		&(struct vmgr_vm_fds){.console_out = out[1], .console_in = in[0], .log = log[1]},
		&h) < 0)
		fail_msg("createVm: %s", avf_err_last()->msg);
	s.fx = fx;
	assert_int_equal(vm_register_callback(vm_handle_vm(h), &seen_ops, &s), 0);
	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	/* the boot banner and the first lines; then the guest waits for console input */
	snprintf(want, sizeof(want), "fakevmm: booting fake guest, cid %u\nhello, console\n",
		 vm_cid(vm_handle_vm(h)));
	read_until(out[0], con, sizeof(con), want);
	assert_string_equal(con, want);
	read_until(log[0], lg, sizeof(lg), "one log line\n");

	pid = fake_backend_last_pid(fx->be);
	n_words = vmm_words(pid, buf, sizeof(buf), words, 64);
	assert_int_equal(n_words, 22);
	assert_int_equal(sscanf(words[11],
				"--serial=type=file,path=/proc/self/fd/%d,hardware=serial,"
				"num=1",
				&fd[0]),
			 1);
	assert_int_equal(sscanf(words[12],
				"--serial=type=file,path=/proc/self/fd/%d,hardware=serial,"
				"num=2",
				&fd[1]),
			 1);
	assert_int_equal(sscanf(words[13],
				"--serial=type=file,path=/proc/self/fd/%d,input=/proc/self/fd/%d,"
				"hardware=virtio-console,num=1",
				&out2, &fd[2]),
			 2);
	assert_int_equal(out2, fd[0]); /* ttyS0 and hvc0 share the console fd, as in AVF */
	assert_string_equal(words[14], "--serial=type=sink,hardware=virtio-console,num=2");
	assert_int_equal(sscanf(words[15],
				"--serial=type=file,path=/proc/self/fd/%d,hardware=virtio-console,"
				"num=3",
				&fd[3]),
			 1);
	assert_int_equal(sscanf(words[17], "/proc/self/fd/%d", &fd[4]), 1);
	assert_int_equal(sscanf(words[21], "/proc/self/fd/%d", &fd[5]), 1);
	check_vmm_fds(pid, fd, 6, links);
	/* the very pipes we made: the VMM's fds are our other ends */
	own_link(out[0], mine, sizeof(mine));
	assert_string_equal(links[0], mine);
	own_link(in[1], mine, sizeof(mine));
	assert_string_equal(links[2], mine);
	own_link(log[0], mine, sizeof(mine));
	assert_string_equal(links[3], mine);

	/* one line in, echoed; then the end of input */
	assert_int_equal(write(in[1], "first line\n", 11), 11);
	close(in[1]);
	WAIT_FOR(fx, s.died);
	assert_string_equal(s.log, "died(SHUTDOWN);");
	read_until(out[0], con, sizeof(con), NULL); /* EOF: nobody else holds a write end */
	strcat(want, "console-in: first line\nconsole-in: <eof>\n");
	assert_string_equal(con, want);
	read_until(log[0], lg, sizeof(lg), NULL);
	assert_string_equal(lg, "one log line\ndone\n");
	vm_handle_unref(h);
	close(out[0]);
	close(log[0]);
	assert_int_equal(count_fds(), fds0);
	fx_free(fx);
}

/* A VM dropped unstarted: its fds are closed with it, never given to anyone. */
static void test_console_fds_of_unstarted_vm_closed(void **state)
{
	struct fx *fx = fx_new();
	struct vm_config c;
	struct vm_handle *h = NULL;
	int out[2], fds0 = count_fds();
	char buf[64] = "";

	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	vm_config_init(&c);
	assert_int_equal(
	    vmgr_create_vm_fds(
		fx->mgr, &c,
		&(struct vmgr_vm_fds){.console_out = out[1], .console_in = -1, .log = -1}, &h),
	    0);
	vm_handle_unref(h);
	read_until(out[0], buf, sizeof(buf), NULL);
	assert_string_equal(buf, "");
	close(out[0]);

	/* a createVm that fails closes them too */
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	c.guest_script = "explode";
	assert_int_equal(
	    vmgr_create_vm_fds(
		fx->mgr, &c,
		&(struct vmgr_vm_fds){.console_out = -1, .console_in = out[0], .log = out[1]}, &h),
	    -EINVAL);
	/* ... whether it fails after the VM record existed (above) or before it */
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	c.guest_script = NULL;
	c.cpus = 4096;
	assert_int_equal(
	    vmgr_create_vm_fds(
		fx->mgr, &c,
		&(struct vmgr_vm_fds){.console_out = out[1], .console_in = out[0], .log = -1}, &h),
	    -EINVAL);
	assert_non_null(strstr(avf_err_last()->msg, "'cpus'"));
	assert_int_equal(count_fds(), fds0);
	fx_free(fx);
}

static void test_control_socket_exit(void **state)
{
	struct fx *fx = fx_new_opts(&(struct fx_opts){.tmpdir = true});
	struct seen s = {0};
	struct vm_handle *h = create(fx, VM_CONFIG_RAW, "started; hang", &s);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[128];
	int fd;

	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	WAIT_FOR(fx, vm_state(vm_handle_vm(h)) == AVF_VM_STATE_STARTED);
	/* the manager bound <temp dir>/crosvm.sock, as AVF does; crosvm only got the fd */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/crosvm.sock", fx->tmpdir);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(fd, "\"Exit\"", 6, 0), 6);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "\"Ok\"", 4);
	close(fd);
	WAIT_FOR(fx, s.died);
	assert_string_equal(s.log, "started;died(SHUTDOWN);"); /* exit 0, as crosvm */
	assert_int_equal(access(sa.sun_path, F_OK), -1);       /* removed with the VMM */
	vm_handle_unref(h);
	fx_free(fx);
}

/* 200 real create/start/stop/drop cycles: no fd, child, CID or source left. */
static void test_no_leaks_over_cycles(void **state)
{
	struct fx *fx = fx_new();
	int fds = count_fds(), n;
	uint64_t t0 = mono_ms(), dt;

	for (int i = 0; i < CYCLES; i++) {
		struct seen s = {0};
		struct vm_handle *h = create(fx, VM_CONFIG_RAW, "hang", &s);

		assert_int_equal(vmgr_start(fx->mgr, h), 0);
		assert_int_equal(vmgr_stop(fx->mgr, h), 0);
		assert_int_equal(s.died, 1);
		vm_handle_unref(h);
		fx->trace_buf[0] = '\0';
	}
	dt = mono_ms() - t0;
	print_message(
	    "fake backend: %d create+start+stop+drop cycles in %llu ms: %.0f cycles/s%s\n", CYCLES,
	    (unsigned long long)dt, dt ? CYCLES * 1000.0 / (double)dt : 0.0,
	    RUNNING_ON_VALGRIND ? " (under valgrind)" : "");

	/* The same with the guest reached: fakevmm's start-up and one channel round trip. */
	n = RUNNING_ON_VALGRIND ? 5 : 50;
	t0 = mono_ms();
	for (int i = 0; i < n; i++) {
		struct seen s = {0};
		struct vm_handle *h = create(fx, VM_CONFIG_RAW, "started; hang", &s);

		assert_int_equal(vmgr_start(fx->mgr, h), 0);
		WAIT_FOR(fx, vm_state(vm_handle_vm(h)) == AVF_VM_STATE_STARTED);
		assert_int_equal(vmgr_stop(fx->mgr, h), 0);
		vm_handle_unref(h);
		fx->trace_buf[0] = '\0';
	}
	dt = mono_ms() - t0;
	print_message("fake backend: %d cycles up to onPayloadStarted in %llu ms: %.0f cycles/s\n",
		      n, (unsigned long long)dt, dt ? n * 1000.0 / (double)dt : 0.0);
	assert_int_equal(count_fds(), fds);
	assert_int_equal(fake_backend_live_children(fx->be), 0);
	fx_free(fx); /* also: waitpid(-1) is ECHILD, no sources, no CIDs */
}

static bool pid_dead(pid_t pid)
{
	char path[64], stat[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	if (n <= 0)
		return true;
	stat[n] = '\0';
	p = strrchr(stat, ')'); /* "pid (comm) S ..." */
	return p && (p[2] == 'Z' || p[2] == 'X');
}

/* The manager is SIGKILLed: its VMM dies with it (PR_SET_PDEATHSIG). */
static void test_vmm_dies_with_manager(void **state)
{
	int p[2], pidfd;
	pid_t mgr, vmm = 0;
	struct pollfd pfd;
	uint64_t dl;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	mgr = fork();
	assert_true(mgr >= 0);
	if (mgr == 0) {
		/* The intermediate manager: no cmocka here, any problem is exit 1. */
		struct loop *l = NULL;
		struct cid_alloc *cids = NULL;
		struct backend *be = NULL;
		struct vmgr *m = NULL;
		struct local_context lc;
		struct vm_handle *h = NULL;
		struct vm_config c;

		close(p[0]);
		vm_config_init(&c);
		c.guest_script = "hang";
		if (loop_new(LOOP_CLOCK_MONOTONIC, &l) < 0 ||
		    cid_alloc_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX, NULL, &cids) < 0 ||
		    fake_backend_new(l, NULL,
				     &(struct fake_backend_opts){.fakevmm_path = AVF_FAKEVMM_PATH},
				     &be) < 0)
			_exit(1);
		lc = (struct local_context){.cids = cids};
		if (vmgr_new(&(struct vmgr_params){.loop = l,
						   .backend = be,
						   .context = &local_context_ops,
						   .context_data = &lc},
			     &m) < 0 ||
		    vmgr_create_vm(m, &c, &h) < 0 || vmgr_start(m, h) < 0)
			_exit(1);
		vmm = fake_backend_last_pid(be);
		if (write(p[1], &vmm, sizeof(vmm)) != sizeof(vmm))
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	pfd = (struct pollfd){.fd = p[0], .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	assert_int_equal(read(p[0], &vmm, sizeof(vmm)), sizeof(vmm));
	close(p[0]);
	assert_true(vmm > 0);
	assert_false(pid_dead(vmm));

	assert_int_equal(kill(mgr, SIGKILL), 0);
	assert_int_equal(waitpid(mgr, NULL, 0), mgr);
	/* The VMM is not our child: watch it with a pidfd, or /proc where there is none. */
	pidfd = (int)syscall(SYS_pidfd_open, vmm, 0);
	dl = mono_ms() + WAIT_MS;
	while (!pid_dead(vmm)) {
		if (mono_ms() >= dl)
			fail_msg("VMM %d outlived its manager", (int)vmm);
		pfd = (struct pollfd){.fd = pidfd, .events = POLLIN};
		poll(&pfd, 1, pidfd >= 0 ? 1000 : 10);
	}
	if (pidfd >= 0)
		close(pidfd);
}

/* ---- the backend contract without a manager ---- */

struct rec {
	int guest_calls, exited;
	int refuse; /* what sink->guest returns */
	struct vm_exit exit;
	size_t failure_len;
};

static int rec_guest(void *ctx, const struct guest_event *ev)
{
	struct rec *r = ctx;

	r->guest_calls++;
	return r->refuse ? avf_err_set(r->refuse, AVF_EX_ILLEGAL_STATE, "refused by the test") : 0;
}

static void rec_exited(void *ctx, const struct vm_exit *e)
{
	struct rec *r = ctx;

	r->exited++;
	r->exit = *e;
	r->failure_len = e->failure ? strlen(e->failure) : 0;
	r->exit.failure = NULL; /* the backend's buffer: not ours to keep */
}

static const struct backend_sink rec_sink = {.guest = rec_guest, .exited = rec_exited};

/* prepare + spawn with the console and log fds @out, @in, @log (-1: none; ours to close). */
static int spawn_direct_try(struct backend *be, const char *script, int out, int in, int log,
			    struct rec *r, struct backend_child **ret)
{
	struct vm_config c;
	struct backend_vm vm = {.cid = 3000,
				.name = "direct",
				.config = &c,
				.console_out_fd = out,
				.console_in_fd = in,
				.log_fd = log};
	struct backend_plan *plan = NULL;
	int rc;

	vm_config_init(&c);
	c.guest_script = (char *)script;
	assert_int_equal(be->ops->prepare(be, &vm, &plan), 0);
	rc = be->ops->spawn(be, plan, &rec_sink, r, ret);
	backend_plan_free(plan);
	return rc;
}

static struct backend_child *spawn_direct_io(struct backend *be, const char *script, int out,
					     int in, int log, struct rec *r)
{
	struct backend_child *child = NULL;

	if (spawn_direct_try(be, script, out, in, log, r, &child) < 0)
		fail_msg("spawn: %s", avf_err_last()->msg);
	return child;
}

static struct backend_child *spawn_direct(struct backend *be, const char *script, struct rec *r)
{
	return spawn_direct_io(be, script, -1, -1, -1, r);
}

#define WAIT_LOOP(l, cond)                                                                         \
	do {                                                                                       \
		uint64_t dl_ = mono_ms() + WAIT_MS;                                                \
		while (!(cond)) {                                                                  \
			if (mono_ms() >= dl_)                                                      \
				fail_msg("timed out waiting for %s", #cond);                       \
			assert_true(loop_run_once((l), 100) >= 0);                                 \
		}                                                                                  \
	} while (0)

static void test_backend_contract(void **state)
{
	struct loop *l;
	struct backend *be;
	struct backend_child *c;
	struct rec r = {0};
	int log[2], fds;
	char buf[4096], *big;
	ssize_t n;

	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &l), 0);
	assert_int_equal(pipe2(log, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(fake_backend_new(l, NULL,
					  &(struct fake_backend_opts){
					      .fakevmm_path = AVF_FAKEVMM_PATH, .log_fd = log[1]},
					  &be),
			 0);
	fds = count_fds();

	/* kill(): the exit is reported before it returns, exactly once */
	c = spawn_direct(be, "started; hang", &r);
	WAIT_LOOP(l, r.guest_calls == 1);
	assert_int_equal(be->ops->kill(c), 0);
	assert_int_equal(r.exited, 1);
	assert_true(r.exit.signaled);
	assert_int_equal(r.exit.code, SIGKILL);
	assert_false(r.exit.wait_failed);
	assert_int_equal(be->ops->kill(c), -ESRCH);
	assert_string_equal(avf_err_last()->msg, "VMM already exited");
	assert_int_equal(loop_run_once(l, 0), 0);
	assert_int_equal(r.exited, 1);
	be->ops->child_free(c);

	/* child_free() of a running VMM: killed and reaped, never reported */
	r = (struct rec){0};
	c = spawn_direct(be, "hang", &r);
	assert_int_equal(fake_backend_live_children(be), 1);
	be->ops->child_free(c);
	assert_int_equal(r.exited, 0);
	assert_int_equal(fake_backend_live_children(be), 0);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(count_fds(), fds);
	assert_int_equal(loop_source_count(l), 0);

	/* the failure channel keeps the first 50 000 bytes (newer AVF) */
	big = malloc(60100);
	assert_non_null(big);
	strcpy(big, "failure ");
	memset(big + 8, 'x', 60000);
	strcpy(big + 60008, "; exit 0");
	r = (struct rec){0};
	c = spawn_direct(be, big, &r);
	free(big);
	WAIT_LOOP(l, r.exited);
	assert_int_equal(r.failure_len, FAKE_BACKEND_FAILURE_MAX);
	assert_false(r.exit.signaled);
	assert_int_equal(r.exit.code, 0);
	be->ops->child_free(c);

	/* a refusal goes back to the guest with its exception and message */
	r = (struct rec){.refuse = -EINVAL};
	c = spawn_direct(be, "started; exit 3", &r);
	WAIT_LOOP(l, r.exited);
	assert_int_equal(r.guest_calls, 1);
	assert_int_equal(r.exit.code, 3);
	n = read(log[0], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf,
			       "fakevmm: guest: notifyPayloadStarted refused: EX_ILLEGAL_STATE "
			       "(-22): refused by the test\n"));
	be->ops->child_free(c);

	assert_int_equal(count_fds(), fds);
	assert_int_equal(loop_source_count(l), 0);
	backend_free(be);
	loop_free(l);
	close(log[0]);
	close(log[1]);
}

/* spawn() gives the VMM its own copies of the console and log fds: the manager's
 * stay open and its fd count is back to before once the child is freed. */
static void test_backend_console_fds(void **state)
{
	struct loop *l;
	struct backend *be;
	struct backend_child *c = NULL;
	struct rec r = {0};
	int out[2], in[2], log[2], fds, bad;
	char buf[256] = "";

	assert_int_equal(loop_new(LOOP_CLOCK_MONOTONIC, &l), 0);
	assert_int_equal(
	    fake_backend_new(l, NULL, &(struct fake_backend_opts){.fakevmm_path = AVF_FAKEVMM_PATH},
			     &be),
	    0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(log, O_CLOEXEC), 0);
	fds = count_fds();
	c = spawn_direct_io(be, "console x; echo-console; log y; exit 0", out[1], in[0], log[1],
			    &r);
	assert_int_equal(write(in[1], "in\n", 3), 3);
	WAIT_LOOP(l, r.exited);
	assert_int_equal(r.exit.code, 0);
	be->ops->child_free(c);
	assert_int_equal(count_fds(), fds);
	/* the manager's fds are still its own, close-on-exec as before */
	assert_int_equal(fcntl(out[1], F_GETFD), FD_CLOEXEC);
	assert_int_equal(fcntl(in[0], F_GETFD), FD_CLOEXEC);
	assert_int_equal(fcntl(log[1], F_GETFD), FD_CLOEXEC);
	close(out[1]);
	close(log[1]);
	read_until(out[0], buf, sizeof(buf), NULL);
	assert_string_equal(buf, "fakevmm: booting fake guest, cid 3000\nx\nconsole-in: in\n");
	buf[0] = '\0';
	read_until(log[0], buf, sizeof(buf), NULL);
	assert_string_equal(buf, "y\n");

	/* an fd that is not open: spawn fails, nothing started, nothing left */
	bad = 999; /* a number spawn's own fds cannot take (they are the lowest free) */
	assert_int_equal(fcntl(bad, F_GETFD), -1);
	fds = count_fds();
	r = (struct rec){0};
	assert_int_equal(spawn_direct_try(be, "exit 0", -1, -1, bad, &r, &c), -EBADF);
	assert_non_null(strstr(avf_err_last()->msg, "{log} fd "));
	assert_non_null(strstr(avf_err_last()->msg, "Bad file descriptor"));
	assert_int_equal(fake_backend_live_children(be), 0);
	assert_int_equal(count_fds(), fds);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(loop_source_count(l), 0);

	close(out[0]);
	close(in[0]);
	close(in[1]);
	close(log[0]);
	backend_free(be);
	loop_free(l);
}

/* ---- fakevmm's command line, run directly ---- */

struct run_result {
	int status;
	char err[8192]; /* its stderr */
};

/*
 * fork + exec fakevmm with @args (NULL-terminated, without argv[0]); fds in @keep
 * lose FD_CLOEXEC in the child. @fn (may be NULL) plays the host while it runs.
 */
static void run_fakevmm(const char *const *args, const int *keep, size_t n_keep,
			void (*fn)(void *data, pid_t pid), void *data, struct run_result *res)
{
	const char *argv[64] = {AVF_FAKEVMM_PATH};
	int ep[2];
	size_t n = 0, len = 0;
	pid_t pid;
	uint64_t dl;

	while (args[n]) {
		argv[n + 1] = args[n];
		n++;
	}
	argv[n + 1] = NULL;
	assert_int_equal(pipe2(ep, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (size_t i = 0; i < n_keep; i++)
			fcntl(keep[i], F_SETFD, 0);
		dup2(ep[1], STDERR_FILENO);
		execv(AVF_FAKEVMM_PATH, (char *const *)argv);
		_exit(127);
	}
	close(ep[1]);
	if (fn)
		fn(data, pid);
	/* stderr to EOF (it exits), bounded */
	dl = mono_ms() + WAIT_MS;
	for (;;) {
		struct pollfd pfd = {.fd = ep[0], .events = POLLIN};
		ssize_t r;

		if (mono_ms() >= dl) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			fail_msg("fakevmm did not exit; stderr so far:\n%.*s", (int)len, res->err);
		}
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		r = read(ep[0], res->err + len, sizeof(res->err) - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	res->err[len] = '\0';
	close(ep[0]);
	assert_int_equal(waitpid(pid, &res->status, 0), pid);
}

static void expect_exit(const char *const *args, int code, const char *err_part)
{
	struct run_result res;

	run_fakevmm(args, NULL, 0, NULL, NULL, &res);
	if (!WIFEXITED(res.status) || WEXITSTATUS(res.status) != code ||
	    (err_part && !strstr(res.err, err_part)))
		fail_msg("%s ...: status 0x%x, want exit %d with '%s'; stderr:\n%s", args[0],
			 res.status, code, err_part ? err_part : "", res.err);
}

static void test_fakevmm_cli(void **state)
{
	/* crosvm's InvalidArgs (35) for every command-line mistake */
	expect_exit((const char *[]){"--bogus", "run", NULL}, 35, "unknown flag '--bogus'");
	expect_exit((const char *[]){"run", "--disable-sandbox", "--bogus=1", NULL}, 35,
		    "unknown flag '--bogus'");
	expect_exit((const char *[]){"run", "-c", "1", NULL}, 35, "unknown flag '-c'");
	expect_exit((const char *[]){"--extended-status", NULL}, 35, "expected 'run'");
	expect_exit((const char *[]){"start", NULL}, 35, "unknown subcommand 'start'");
	expect_exit((const char *[]){"run", "--cid", NULL}, 35, "'--cid' needs a value");
	expect_exit((const char *[]){"run", "--cid", "x", NULL}, 35, "invalid value 'x'");
	expect_exit((const char *[]){"run", "--mem", "size=", NULL}, 35, "invalid value");
	expect_exit((const char *[]){"run", "--cpus", "num-cores=two", NULL}, 35, "invalid value");
	expect_exit((const char *[]){"run", "--disable-sandbox=yes", NULL}, 35, "takes no value");
	expect_exit((const char *[]){"run", "--extended-status", NULL}, 35, "global flag");
	expect_exit((const char *[]){"--cid", "3", "run", NULL}, 35, "goes after 'run'");
	expect_exit((const char *[]){"run", "--cid", "1", "--cid=2", NULL}, 35, "given twice");
	expect_exit((const char *[]){"run", "/k1", "/k2", NULL}, 35, "two kernels");
	expect_exit((const char *[]){"run", "--serial=type=file,hardware=serial,num=2", NULL}, 35,
		    "type=file needs a path");
	expect_exit((const char *[]){"run", "--serial=type=bogus", NULL}, 35, "unknown type");
	expect_exit((const char *[]){"run", "--serial=type=sink,hardware=serial,num=5", NULL}, 35,
		    "1..4");
	expect_exit((const char *[]){"run", "--serial=path=/x/log,type=sink,colour=red", NULL}, 35,
		    "unknown option 'colour'");
	expect_exit((const char *[]){"run", "--serial=type=sink,num=2", "--serial",
				     "hardware=serial,num=2,type=stdout", NULL},
		    35, "already given");

	/* every A15 flag accepted, both spellings; exit codes as crosvm's */
	expect_exit(
	    (const char *[]){
		"--extended-status",
		"--log-level=info,disk=warn",
		"run",
		"--disable-sandbox",
		"--cid=2050",
		"--no-balloon",
		"--balloon-page-reporting",
		"--protected-vm",
		"--swiotlb",
		"10",
		"--unmap-guest-memory-on-fork",
		"--params",
		"crashkernel=17M",
		"--params=printk.devkmsg=on console=hvc0",
		"--mem",
		"size=256",
		"--cpus",
		"num-cores=2,sve=[auto=true]",
		"--host-cpu-topology",
		"--virt-cpufreq",
		"--gdb",
		"1234",
		"--serial=type=sink,hardware=virtio-console,num=1,max-queue-sizes=[2,32]",
		"--serial=type=syslog,hardware=serial,num=1,console,earlycon",
		"--bios",
		"/x/bios",
		"--initrd=/x/initrd",
		"--rwdisk",
		"/dev/null", /* a disk crosvm can open: a raw image of 0 bytes */
		"--disk",
		"/dev/null,sparse=false",
		"--device-tree-overlay",
		"/x/dt,filter",
		"--gpu=backend=2d",
		"--gpu-display=mode=windowed[720,1280]",
		"--android-display-service=svc",
		"--net",
		"tap-fd=3",
		"--input",
		"keyboard[path=/x/k]",
		"--hugepages",
		"--boost-uclamp",
		"--vfio=/sys/devices/platform/x,iommu=pkvm-iommu,dt-symbol=y",
		"--virtio-snd",
		"backend=aaudio",
		"--params",
		"quiet avf.fake_script=exit%2033",
		"/x/kernel",
		NULL},
	    33, NULL);
	/* without --extended-status crosvm reports any VM outcome as 0 */
	expect_exit((const char *[]){"run", "--params", "avf.fake_script=exit%2033", NULL}, 0,
		    NULL);
	expect_exit((const char *[]){"run", "--params", "avf.fake_script=exit%201", NULL}, 1, NULL);
	/* the last avf.fake_script wins; bad escapes and bad scripts are errors (exit 1) */
	expect_exit((const char *[]){"run", "--params", "avf.fake_script=exit%201",
				     "--params=avf.fake_script=exit%205 other=1", NULL},
		    5, NULL);
	expect_exit((const char *[]){"run", "--params", "avf.fake_script=exit%2", NULL}, 1,
		    "bad escape");
	expect_exit((const char *[]){"run", "--params", "avf.fake_script=explode", NULL}, 1,
		    "guest script:1:1");
	expect_exit((const char *[]){"run", "--params", "avf.fake_script=spawn-fail", NULL}, 1,
		    "spawn-fail");
	/* no script: GSCRIPT_DEFAULT; no channel: notifications dropped, said on stderr */
	expect_exit((const char *[]){"run", NULL}, 0,
		    "no guest channel, notifyPayloadStarted dropped");
	/* a guest that dies by a signal leaves no core file */
	{
		struct run_result res;

		run_fakevmm(
		    (const char *[]){"run", "--params", "avf.fake_script=signal%20SEGV", NULL},
		    NULL, 0, NULL, NULL, &res);
		assert_true(WIFSIGNALED(res.status));
		assert_int_equal(WTERMSIG(res.status), SIGSEGV);
		assert_false(WCOREDUMP(res.status));
	}
}

/* A composite of two partitions built as createVm builds it, and what fakevmm is given. */
struct cdisk_fx {
	char dir[64], part_path[2][128];
	int dir_fd, part[2];
	struct cdisk_built b;
	char disk[64];  /* "/proc/self/fd/<spec>" */
	int keep[6];    /* spec, header, footer, zero, partitions */
};

static void cdisk_fx_new(struct cdisk_fx *x)
{
	static const char *const names[2] = {"vbmeta.img", "data.img"};
	struct cdisk_build_part parts[2] = {{.label = "vbmeta_a"}, {.label = "data", .writable = true}};

	strcpy(x->dir, "/tmp/avf-cdisk-XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	x->dir_fd = open(x->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(x->dir_fd >= 0);
	for (int i = 0; i < 2; i++) {
		snprintf(x->part_path[i], sizeof(x->part_path[i]), "%s/%s", x->dir, names[i]);
		x->part[i] = open(x->part_path[i], O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
		assert_true(x->part[i] >= 0);
		assert_int_equal(ftruncate(x->part[i], i ? 8192 : 1000), 0);
		parts[i].fd = x->part[i];
	}
	if (cdisk_build_fds(x->dir_fd, 0, parts, 2, NULL, &x->b) < 0)
		fail_msg("cdisk_build_fds: %s", avf_err_last()->msg);
	snprintf(x->disk, sizeof(x->disk), "/proc/self/fd/%d", x->b.composite_fd);
	x->keep[0] = x->b.composite_fd;
	x->keep[1] = x->b.header_fd;
	x->keep[2] = x->b.footer_fd;
	x->keep[3] = x->b.zero_fd;
	x->keep[4] = x->part[0];
	x->keep[5] = x->part[1];
}

static void cdisk_fx_free(struct cdisk_fx *x)
{
	static const enum cdisk_build_file files[] = {CDISK_FILE_SPEC, CDISK_FILE_HEADER,
						      CDISK_FILE_FOOTER, CDISK_FILE_ZERO};
	char name[CDISK_BUILD_NAME_MAX];

	cdisk_built_close(&x->b);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		assert_int_equal(unlinkat(x->dir_fd, cdisk_build_name(0, files[i], name), 0), 0);
	for (int i = 0; i < 2; i++) {
		close(x->part[i]);
		assert_int_equal(unlink(x->part_path[i]), 0);
	}
	close(x->dir_fd);
	assert_int_equal(rmdir(x->dir), 0);
}

/* fakevmm given the composite (with @n_keep of its fds inherited): exit @code, @err in stderr. */
static void run_with_disk(struct cdisk_fx *x, const char *disk, size_t n_keep, int code,
			  const char *err)
{
	struct run_result res;

	run_fakevmm((const char *[]){"run", "--disk", disk, "--params", "avf.fake_script=exit%200",
				     NULL},
		    x->keep, n_keep, NULL, NULL, &res);
	if (!WIFEXITED(res.status) || WEXITSTATUS(res.status) != code ||
	    (err && !strstr(res.err, err)))
		fail_msg("--disk %s: status 0x%x, want exit %d with '%s'; stderr:\n%s", disk,
			 res.status, code, err ? err : "", res.err);
	if (!err && res.err[0])
		fail_msg("--disk %s: unexpected stderr:\n%s", disk, res.err);
}

/*
 * fakevmm opens every disk as crosvm does and checks a composite's spec, components and
 * GPT (fakevmm_disk.h): a good one boots; what crosvm (or the guest) would refuse is
 * exit 1 with the reason on stderr, naming the disk.
 */
static void test_fakevmm_composite_disks(void **state)
{
	int fds0 = count_fds(), bad;
	struct cdisk_fx x;
	char want[256], disk[64];
	uint8_t *buf;
	ssize_t n;

	cdisk_fx_new(&x);
	/* every component inherited: boots, and exits as its script says */
	run_with_disk(&x, x.disk, 6, 0, NULL);
	/* a component virtmgr did not pass on (close-on-exec: gone at exec): crosvm's EBADF */
	snprintf(want, sizeof(want),
		 "fakevmm: disk 0 (--disk %s): component '/proc/self/fd/%d': Bad file "
		 "descriptor (fd %d is not open: not inherited from the VM manager)",
		 x.disk, x.part[1], x.part[1]);
	run_with_disk(&x, x.disk, 5, 1, want);
	/* a partition shorter than its extent */
	assert_int_equal(ftruncate(x.part[0], 999), 0);
	snprintf(want, sizeof(want), "component '/proc/self/fd/%d' is 999 bytes, shorter than its "
				     "extent (1000 bytes",
		 x.part[0]);
	run_with_disk(&x, x.disk, 6, 1, want);
	assert_int_equal(ftruncate(x.part[0], 1000), 0);
	/* the guest's GPT: one bit of the primary header's CRC flipped, then back */
	assert_int_equal(pread(x.b.header_fd, want, 1, 512 + 16), 1);
	want[0] ^= 1;
	assert_int_equal(pwrite(x.b.header_fd, want, 1, 512 + 16), 1);
	snprintf(want, sizeof(want), "fakevmm: disk 0 (--disk %s): the guest's partition table: "
				     "primary GPT header: header CRC32 is ",
		 x.disk);
	run_with_disk(&x, x.disk, 6, 1, want);
	assert_int_equal(pread(x.b.header_fd, want, 1, 512 + 16), 1);
	want[0] ^= 1;
	assert_int_equal(pwrite(x.b.header_fd, want, 1, 512 + 16), 1);
	run_with_disk(&x, x.disk, 6, 0, NULL);
	/* the spec: version 3 (crosvm's words), and bytes that are no CompositeDisk */
	buf = malloc(4096);
	assert_non_null(buf);
	n = pread(x.b.composite_fd, buf, 4096, 0);
	assert_true(n > 17);
	assert_int_equal(buf[15], 0x08); /* version, field 1 */
	assert_int_equal(buf[16], 0x02);
	bad = open(x.dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	assert_true(bad >= 0);
	x.keep[0] = bad; /* the bad spec in the spec's place */
	snprintf(disk, sizeof(disk), "/proc/self/fd/%d", bad);
	buf[16] = 0x03;
	assert_int_equal(pwrite(bad, buf, (size_t)n, 0), n);
	run_with_disk(&x, disk, 6, 1, "unknown version 3 in specification");
	assert_int_equal(ftruncate(bad, 0), 0);
	buf[16] = 0x02;
	buf[17] = 0xff; /* the first component's tag: a field 31 of wire type 7 */
	assert_int_equal(pwrite(bad, buf, (size_t)n, 0), n);
	run_with_disk(&x, disk, 6, 1, "failed to parse specification proto");
	/* not a composite at all (no magic): a raw image, which crosvm takes as it is */
	assert_int_equal(ftruncate(bad, 0), 0);
	assert_int_equal(pwrite(bad, "raw disk bytes", 14, 0), 14);
	run_with_disk(&x, disk, 6, 0, NULL);
	close(bad);
	free(buf);
	/* a disk given by a path that is not there */
	run_with_disk(&x, "/nonexistent/disk.img", 0, 1,
		      "fakevmm: disk 0 (--disk /nonexistent/disk.img): failed to open disk: No such "
		      "file or directory");
	cdisk_fx_free(&x);
	assert_int_equal(count_fds(), fds0);
}

static void test_fakevmm_fd_checks(void **state)
{
	struct run_result res;
	char path[64], spec[128], buf[64];
	int p[2], sp[2];
	ssize_t n;

	/* a close-on-exec fd is refused (crosvm: EBADF), exit 1 */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	snprintf(spec, sizeof(spec),
		 "--serial=type=file,path=/proc/self/fd/%d,hardware=serial,num=2", p[1]);
	run_fakevmm((const char *[]){"run", spec, "--params", "avf.fake_script=exit%200", NULL},
		    NULL, 0, NULL, NULL, &res);
	assert_true(WIFEXITED(res.status));
	assert_int_equal(WEXITSTATUS(res.status), 1);
	assert_non_null(strstr(res.err, "Bad file descriptor"));
	/* the same fd inherited: accepted, and ttyS1 gets the failure text */
	run_fakevmm((const char *[]){"run", spec, "--params",
				     "avf.fake_script=failure%20HELLO%7Cworld%3B%20exit%200", NULL},
		    &p[1], 1, NULL, NULL, &res);
	assert_true(WIFEXITED(res.status));
	assert_int_equal(WEXITSTATUS(res.status), 0);
	close(p[1]);
	n = read(p[0], buf, sizeof(buf));
	assert_int_equal(n, 11);
	assert_memory_equal(buf, "HELLO|world", 11);
	close(p[0]);

	/* a number that is not open at all */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", 999);
	run_fakevmm((const char *[]){"run", "--disk", path, NULL}, NULL, 0, NULL, NULL, &res);
	assert_int_equal(WEXITSTATUS(res.status), 1);
	assert_non_null(strstr(res.err, "--disk '/proc/self/fd/999': Bad file descriptor"));
	run_fakevmm((const char *[]){"run", "/proc/self/fd/x", NULL}, NULL, 0, NULL, NULL, &res);
	assert_int_equal(WEXITSTATUS(res.status), 1);

	/* --socket must be a listening socket, --avf-guest-channel a SEQPACKET one */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", sp[1]);
	run_fakevmm((const char *[]){"run", "--socket", path, NULL}, &sp[1], 1, NULL, NULL, &res);
	assert_int_equal(WEXITSTATUS(res.status), 1);
	assert_non_null(strstr(res.err, "not a listening socket"));
	run_fakevmm((const char *[]){"run", "--avf-guest-channel", path, NULL}, &sp[1], 1, NULL,
		    NULL, &res);
	assert_int_equal(WEXITSTATUS(res.status), 1);
	assert_non_null(strstr(res.err, "not a SOCK_SEQPACKET socket"));
	close(sp[0]);
	close(sp[1]);
}

struct host_play {
	int fd;
	struct sockaddr_un addr;
	socklen_t addr_len;
};

/* Play the manager on the guest channel: refuse started, accept ready, then hang up. */
static void play_guest_channel(void *data, pid_t pid)
{
	struct host_play *h = data;
	struct guest_channel_msg m, r;
	struct pollfd pfd = {.fd = h->fd, .events = POLLIN};

	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	assert_int_equal(guest_channel_recv(h->fd, &m, 0), 1);
	assert_int_equal(m.kind, GUEST_CHANNEL_PAYLOAD_STARTED);
	guest_channel_make_reply(m.seq, -EINVAL, AVF_EX_ILLEGAL_STATE, "not now", &r);
	assert_int_equal(guest_channel_send(h->fd, &r, 0), 0);
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	assert_int_equal(guest_channel_recv(h->fd, &m, 0), 1);
	assert_int_equal(m.kind, GUEST_CHANNEL_ERROR);
	assert_int_equal(m.value, 2);
	assert_string_equal(m.text, "payload changed");
	guest_channel_make_reply(m.seq, 0, 0, NULL, &r);
	assert_int_equal(guest_channel_send(h->fd, &r, 0), 0);
	close(h->fd); /* the guest is in `hang`: EOF ends it */
}

/* Play crosvm's `stop`: an unknown request, then "Exit". */
static void play_control(void *data, pid_t pid)
{
	struct host_play *h = data;
	char buf[256];
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ssize_t n;

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&h->addr, h->addr_len), 0);
	assert_int_equal(send(fd, "\"SuspendVcpus\"", 14, 0), 14);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "{\"ErrString\":"));
	assert_int_equal(send(fd, "\"Exit\"", 6, 0), 6);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "\"Ok\"", 4);
	close(fd);
}

/* Percent-encode @src as the backend does for avf.fake_script (into a static buffer). */
static const char *script_param(const char *src)
{
	static char out[2048];
	char *o = out + sprintf(out, "avf.fake_script=");

	for (const unsigned char *p = (const unsigned char *)src; *p; p++)
		o += sprintf(
		    o, (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ? "%c" : "%%%02X", *p);
	return out;
}

/* How many times @needle occurs in @hay. */
static int count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The whole content of a file (small ones). */
static void slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, len - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}

struct stall_play {
	int con, in, log; /* our ends: console read end, input write end, log read end */
	size_t filler;
};

/* The guest gave up on the full console (it logs "stalled"): make room, send a line. */
static void play_stalled_console(void *data, pid_t pid)
{
	struct stall_play *p = data;
	char buf[256] = "", drain[4096];
	size_t got = 0;

	read_until(p->log, buf, sizeof(buf), "stalled\n");
	while (got < p->filler) {
		ssize_t n = read(p->con, drain,
				 sizeof(drain) < p->filler - got ? sizeof(drain) : p->filler - got);

		assert_true(n > 0);
		assert_true(memchr(drain, '\n', (size_t)n) == NULL); /* only the filler so far */
		got += (size_t)n;
	}
	assert_int_equal(write(p->in, "go\n", 3), 3);
}

/* fakevmm's console (hvc0), console input and log (hvc2), run directly. */
static void test_fakevmm_console(void **state)
{
	char dir[] = "/tmp/avf-fake-con-XXXXXX", con_path[64], log_path[64], in_path[64];
	char spec[3][160], buf[8192] = "", *filler;
	struct stall_play play;
	struct run_result res;
	int cp[2], ip[2], lp[2], fd;
	uint64_t t0;

	/* real paths, as crosvm: output append+create, input read-only */
	assert_non_null(mkdtemp(dir));
	snprintf(con_path, sizeof(con_path), "%s/console", dir);
	snprintf(log_path, sizeof(log_path), "%s/log", dir);
	snprintf(in_path, sizeof(in_path), "%s/in", dir);
	fd = open(con_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_int_equal(write(fd, "old\n", 4), 4);
	close(fd);
	fd = open(in_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_int_equal(write(fd, "line1\nline2", 11), 11); /* the last line has no newline */
	close(fd);
	snprintf(spec[0], sizeof(spec[0]),
		 "--serial=type=file,path=%s,input=%s,hardware=virtio-console,num=1", con_path,
		 in_path);
	snprintf(spec[1], sizeof(spec[1]),
		 "--serial=type=file,path=%s,hardware=virtio-console,num=3", log_path);
	run_fakevmm((const char *[]){"run", "--cid", "77", spec[0], spec[1], "--params",
				     script_param("console hi; echo-console; echo-console; "
						  "echo-console; log bye; exit 0"),
				     NULL},
		    NULL, 0, NULL, NULL, &res);
	assert_true(WIFEXITED(res.status));
	assert_int_equal(WEXITSTATUS(res.status), 0);
	slurp(con_path, buf, sizeof(buf));
	assert_string_equal(buf, "old\nfakevmm: booting fake guest, cid 77\nhi\n"
				 "console-in: line1\nconsole-in: line2\nconsole-in: <eof>\n");
	slurp(log_path, buf, sizeof(buf));
	assert_string_equal(buf, "bye\n");
	unlink(con_path);
	unlink(log_path);
	unlink(in_path);
	assert_int_equal(rmdir(dir), 0);

	/* an input fd that is close-on-exec is refused like any other (crosvm: EBADF);
	 * numbered high: under `valgrind --log-file` the VMM has the log at fds 3 and 4 */
	assert_int_equal(pipe2(ip, O_CLOEXEC), 0);
	fd = fcntl(ip[0], F_DUPFD_CLOEXEC, 600);
	assert_true(fd >= 600);
	snprintf(spec[0], sizeof(spec[0]),
		 "--serial=type=sink,input=/proc/self/fd/%d,hardware=virtio-console,num=1", fd);
	run_fakevmm((const char *[]){"run", spec[0], "--params", script_param("exit 0"), NULL},
		    NULL, 0, NULL, NULL, &res);
	assert_int_equal(WEXITSTATUS(res.status), 1);
	assert_non_null(strstr(res.err, "--serial input '/proc/self/fd/"));
	assert_non_null(strstr(res.err, "Bad file descriptor"));
	/* inherited: a sink with input reads it, and the echo goes nowhere */
	close(ip[0]);
	ip[0] = fd;
	assert_int_equal(write(ip[1], "x\n", 2), 2);
	run_fakevmm((const char *[]){"run", spec[0], "--params",
				     script_param("echo-console; exit 4"), NULL},
		    &ip[0], 1, NULL, NULL, &res);
	assert_int_equal(WEXITSTATUS(res.status), 4);
	assert_int_equal(fcntl(ip[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(read(ip[0], buf, sizeof(buf)), -1); /* the line was consumed */
	assert_int_equal(errno, EAGAIN);
	close(ip[0]);
	close(ip[1]);

	/* no input device: echo-console sees the end of input at once */
	assert_int_equal(pipe2(cp, O_CLOEXEC), 0);
	snprintf(spec[0], sizeof(spec[0]),
		 "--serial=type=file,path=/proc/self/fd/%d,hardware=virtio-console,num=1", cp[1]);
	run_fakevmm((const char *[]){"run", spec[0], "--params",
				     script_param("echo-console; exit 0"), NULL},
		    &cp[1], 1, NULL, NULL, &res);
	assert_int_equal(WEXITSTATUS(res.status), 0);
	close(cp[1]);
	buf[0] = '\0';
	read_until(cp[0], buf, sizeof(buf), NULL);
	assert_string_equal(buf, "fakevmm: booting fake guest, cid none\nconsole-in: <eof>\n");
	close(cp[0]);

	/* the reader went away (EPIPE): the guest goes on, the console is a sink from then on */
	assert_int_equal(pipe2(cp, O_CLOEXEC), 0);
	assert_int_equal(pipe2(lp, O_CLOEXEC), 0);
	close(cp[0]);
	snprintf(spec[0], sizeof(spec[0]),
		 "--serial=type=file,path=/proc/self/fd/%d,hardware=virtio-console,num=1", cp[1]);
	snprintf(spec[1], sizeof(spec[1]),
		 "--serial=type=file,path=/proc/self/fd/%d,hardware=virtio-console,num=3", lp[1]);
	run_fakevmm((const char *[]){"--extended-status", "run", spec[0], spec[1], "--params",
				     script_param("console a; console b; log after; exit 33"),
				     NULL},
		    (const int[]){cp[1], lp[1]}, 2, NULL, NULL, &res);
	assert_true(WIFEXITED(res.status));
	assert_int_equal(WEXITSTATUS(res.status), 33);
	assert_int_equal(count_of(res.err, "fakevmm: console (hvc0): Broken pipe, output dropped "
					   "from now on\n"),
			 1);
	close(cp[1]);
	close(lp[1]);
	buf[0] = '\0';
	read_until(lp[0], buf, sizeof(buf), NULL);
	assert_string_equal(buf, "after\n");
	close(lp[0]);

	/*
	 * A full console whose reader does not read: the write waits 1 s (serving the
	 * control socket and the channel meanwhile), then the line is dropped, and the
	 * next ones go only if there is room at once; once there is, output resumes.
	 */
	assert_int_equal(pipe2(cp, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ip, O_CLOEXEC), 0);
	assert_int_equal(pipe2(lp, O_CLOEXEC), 0);
	/* Two pages: poll() says a pipe is writable only while a whole page is free (a
	 * write may still merge into a partly used one), so one page would make a
	 * reader that has emptied the pipe look full after the first short line. */
	fd = fcntl(cp[1], F_SETPIPE_SZ, 8192);
	assert_true(fd >= 8192);
	play = (struct stall_play){.con = cp[0], .in = ip[1], .log = lp[0], .filler = (size_t)fd};
	filler = malloc(play.filler);
	assert_non_null(filler);
	memset(filler, 'x', play.filler);
	assert_int_equal(write(cp[1], filler, play.filler), (ssize_t)play.filler); /* now full */
	free(filler);
	snprintf(spec[0], sizeof(spec[0]),
		 "--serial=type=file,path=/proc/self/fd/%d,input=/proc/self/fd/%d,"
		 "hardware=virtio-console,num=1",
		 cp[1], ip[0]);
	snprintf(spec[1], sizeof(spec[1]),
		 "--serial=type=file,path=/proc/self/fd/%d,hardware=virtio-console,num=3", lp[1]);
	buf[0] = '\0';
	t0 = mono_ms();
	run_fakevmm(
	    (const char *[]){"run", spec[0], spec[1], "--params",
			     script_param("console a; log stalled; echo-console; console b; "
					  "exit 0"),
			     NULL},
	    (const int[]){cp[1], ip[0], lp[1]}, 3, play_stalled_console, &play, &res);
	assert_true(WIFEXITED(res.status));
	assert_int_equal(WEXITSTATUS(res.status), 0);
	assert_true(mono_ms() - t0 >= 1000); /* the banner waited its second, once */
	assert_int_equal(count_of(res.err, "fakevmm: console (hvc0): no room for 1000 ms, output "
					   "dropped while it stays full\n"),
			 1);
	close(cp[1]);
	read_until(cp[0], buf, sizeof(buf), NULL);
	/* the banner and "a" were dropped; the echo and "b" found room */
	assert_string_equal(buf, "console-in: go\nb\n");
	close(cp[0]);
	close(ip[0]);
	close(ip[1]);
	close(lp[0]);
	close(lp[1]);
}

static void test_fakevmm_channels(void **state)
{
	struct host_play h = {0};
	struct run_result res;
	char path[64];
	int sp[2], lfd;

	/* guest channel: the refusal reaches the guest; EOF makes it exit 1 */
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", sp[1]);
	h.fd = sp[0];
	run_fakevmm(
	    (const char *[]){"run", "--avf-guest-channel", path, "--params",
			     "avf.fake_script=started%3B%20error%202%20payload%20changed%3B%20hang",
			     NULL},
	    &sp[1], 1, play_guest_channel, &h, &res);
	close(sp[1]);
	assert_true(WIFEXITED(res.status));
	assert_int_equal(WEXITSTATUS(res.status), 1);
	assert_non_null(strstr(res.err, "fakevmm: guest: notifyPayloadStarted refused: "
					"EX_ILLEGAL_STATE (-22): not now\n"));
	assert_null(strstr(res.err, "notifyError refused"));
	assert_non_null(strstr(res.err, "guest channel closed by the host"));

	/* a host that speaks out of turn: the guest gives up (exit 1) */
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", sp[1]);
	assert_int_equal(send(sp[0], "junk", 4, 0), 4);
	run_fakevmm((const char *[]){"run", "--avf-guest-channel", path, "--params",
				     "avf.fake_script=hang", NULL},
		    &sp[1], 1, NULL, NULL, &res);
	assert_int_equal(WEXITSTATUS(res.status), 1);
	assert_non_null(strstr(res.err, "guest channel:"));
	close(sp[0]);
	close(sp[1]);

	/* control socket: an inherited listening fd, "Exit" -> "Ok", exit 0 */
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	h.addr.sun_family = AF_UNIX;
	h.addr_len = sizeof(sa_family_t); /* autobind */
	assert_int_equal(bind(lfd, (struct sockaddr *)&h.addr, h.addr_len), 0);
	assert_int_equal(listen(lfd, 8), 0);
	h.addr_len = sizeof(h.addr);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&h.addr, &h.addr_len), 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", lfd);
	run_fakevmm((const char *[]){"--extended-status", "run", "--socket", path, "--params",
				     "avf.fake_script=hang", NULL},
		    &lfd, 1, play_control, &h, &res);
	assert_true(WIFEXITED(res.status));
	assert_int_equal(WEXITSTATUS(res.status), 0);
	close(lfd);
}

/* ---- the config's files ---- */

enum { F_KERNEL, F_INITRD, F_ROOTFS, F_DATA, F_PART_A, F_PART_B, F__COUNT };

/* Real files for a config: kernel, initrd, a read-only and a writable disk image, and the
 * two partitions of a composite (one writable, so 4096 bytes: a composite's rule), opened
 * as AVF's vm opens them. */
struct files {
	char dir[64];
	char path[F__COUNT][128];
	int fd[F__COUNT];
	struct vm_config_partition parts[2];
	struct vm_config_disk disks[3];
};

static void files_new(struct files *f, struct vm_config *c)
{
	static const char *const names[F__COUNT] = {"kernel", "initrd.img", "rootfs.img",
						    "data.img", "part-a.img", "part-b.img"};
	static const bool rw[F__COUNT] = {[F_DATA] = true, [F_PART_B] = true};

	strcpy(f->dir, "/tmp/avf-files-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	for (int i = 0; i < F__COUNT; i++) {
		snprintf(f->path[i], sizeof(f->path[i]), "%s/%s", f->dir, names[i]);
		f->fd[i] = open(f->path[i], O_CREAT | O_EXCL | O_CLOEXEC | O_RDWR, 0644);
		assert_true(f->fd[i] >= 0);
		assert_int_equal(write(f->fd[i], names[i], strlen(names[i])), (ssize_t)strlen(names[i]));
		if (i == F_PART_B)
			assert_int_equal(ftruncate(f->fd[i], 4096), 0);
		close(f->fd[i]);
		f->fd[i] = open(f->path[i], (rw[i] ? O_RDWR : O_RDONLY) | O_CLOEXEC);
		assert_true(f->fd[i] >= 0);
	}
	f->parts[0] = (struct vm_config_partition){"payload", f->fd[F_PART_A], false};
	f->parts[1] = (struct vm_config_partition){"data", f->fd[F_PART_B], true};
	f->disks[0] = (struct vm_config_disk){.image_fd = f->fd[F_ROOTFS]};
	f->disks[1] = (struct vm_config_disk){.image_fd = -1, .partitions = f->parts,
					      .n_partitions = 2};
	f->disks[2] = (struct vm_config_disk){.image_fd = f->fd[F_DATA], .writable = true};
	vm_config_init(c);
	c->name = "files";
	c->kernel_fd = f->fd[F_KERNEL];
	c->initrd_fd = f->fd[F_INITRD];
	c->params = "console=hvc0 root=/dev/vda";
	c->disks = f->disks;
	c->n_disks = 3;
}

static void files_free(struct files *f)
{
	for (int i = 0; i < F__COUNT; i++) {
		close(f->fd[i]);
		assert_int_equal(unlink(f->path[i]), 0);
	}
	assert_int_equal(rmdir(f->dir), 0);
}

/* How many fds of process @pid are open on @path. */
static int fds_on(pid_t pid, const char *path)
{
	char dir[64], link[256];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		fd_link(pid, atoi(de->d_name), link, sizeof(link));
		n += strcmp(link, path) == 0;
	}
	closedir(d);
	return n;
}

/* The flags word of fd @fd of @pid (fdinfo). */
static unsigned long fd_flags(pid_t pid, int fd)
{
	char path[64], info[512], *fl;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	f = fopen(path, "re");
	assert_non_null(f);
	info[fread(info, 1, sizeof(info) - 1, f)] = '\0';
	fclose(f);
	fl = strstr(info, "flags:");
	assert_non_null(fl);
	return strtoul(fl + 6, NULL, 8);
}

/* The index of the @nth (0-based) word equal to @w, from @from on; fails if none. */
static int word_at(char **words, int n, int from, const char *w)
{
	for (int i = from; i < n; i++)
		if (strcmp(words[i], w) == 0)
			return i;
	fail_msg("no '%s' in the VMM's argv from word %d", w, from);
	return -1;
}

/* /proc/self/fd/N -> N */
static int proc_fd(const char *w)
{
	int fd = -1;

	if (sscanf(w, "/proc/self/fd/%d", &fd) != 1)
		fail_msg("'%s' is not /proc/self/fd/N", w);
	return fd;
}

/* The VMM's fd @fd is @path, inherited (not close-on-exec), opened with @mode. */
static void check_vmm_file(pid_t pid, int fd, const char *path, int mode)
{
	char link[256];
	unsigned long fl = fd_flags(pid, (int)fd);

	fd_link(pid, fd, link, sizeof(link));
	assert_string_equal(link, path);
	assert_int_equal(fl & O_ACCMODE, mode);
	assert_int_equal(fl & O_CLOEXEC, 0);
}

/* The fd @fd of @pid links to a file named @name (its last path component). */
static void check_vmm_file_named(pid_t pid, int fd, const char *name, int mode)
{
	char link[256], *slash;
	unsigned long fl = fd_flags(pid, fd);

	fd_link(pid, fd, link, sizeof(link));
	slash = strrchr(link, '/');
	assert_non_null(slash);
	assert_string_equal(slash + 1, name);
	assert_int_equal(fl & O_ACCMODE, mode);
	assert_int_equal(fl & O_CLOEXEC, 0);
}

/*
 * The config's files reach fakevmm at the numbers its argv names, in A15's places
 * (--initrd, --params, --disk / --rwdisk in config order, the kernel last before
 * --socket), with the modes they were opened with. A disk of partitions is a
 * composite built at createVm (here, with no temp dir, in a directory of the VM's
 * own): --disk names its spec, and every file the spec names as /proc/self/fd/N
 * (the partitions, header, footer, zero filler) is the VMM's fd N, inherited. vmgr
 * keeps no copy once the VMM runs, nothing else leaks into it, and the composite's
 * files go with the VM.
 */
static void test_config_files_reach_the_vmm(void **state)
{
	struct fx *fx = fx_new();
	int fds0 = count_fds(), fd[16], n_words, i, named = 0;
	struct files f;
	struct vm_config c;
	struct seen s = {0};
	struct vm_handle *h;
	char buf[8192], *words[64], links[16][256], spec_path[64], dir[256], *slash;
	struct cdisk_spec *spec = NULL;
	struct stat st;
	pid_t pid;

	files_new(&f, &c);
	c.guest_script = "started; hang";
	/* a placeholder's spelling in a parameter is just text */
	c.params = "console=hvc0 root=/dev/vda x={kernel}";
	h = create_cfg(fx, &c, &s);
	/* vmgr holds its own copy of each until the spawn */
	for (int k = 0; k < F__COUNT; k++)
		assert_int_equal(fds_on(getpid(), f.path[k]), 2);
	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	for (int k = 0; k < F__COUNT; k++)
		assert_int_equal(fds_on(getpid(), f.path[k]), 1);
	WAIT_FOR(fx, vm_state(vm_handle_vm(h)) == AVF_VM_STATE_STARTED);
	pid = fake_backend_last_pid(fx->be);
	n_words = vmm_words(pid, buf, sizeof(buf), words, 64);

	i = word_at(words, n_words, 0, "--initrd");
	fd[named++] = proc_fd(words[i + 1]);
	check_vmm_file(pid, fd[named - 1], f.path[F_INITRD], O_RDONLY);
	assert_string_equal(words[i + 2], "--params");
	assert_string_equal(words[i + 3], "console=hvc0 root=/dev/vda x={kernel}");
	/* disk 0 read-only, disk 1 the composite (its spec, read-only), disk 2 writable */
	assert_string_equal(words[i + 4], "--disk");
	fd[named++] = proc_fd(words[i + 5]);
	check_vmm_file(pid, fd[named - 1], f.path[F_ROOTFS], O_RDONLY);
	assert_string_equal(words[i + 6], "--disk");
	fd[named++] = proc_fd(words[i + 7]);
	check_vmm_file_named(pid, fd[named - 1], "composite-0.img", O_RDONLY);
	snprintf(spec_path, sizeof(spec_path), "/proc/%d/fd/%d", (int)pid, fd[named - 1]);
	assert_string_equal(words[i + 8], "--rwdisk");
	fd[named++] = proc_fd(words[i + 9]);
	check_vmm_file(pid, fd[named - 1], f.path[F_DATA], O_RDWR);
	/* the kernel, positional, right before --socket */
	fd[named++] = proc_fd(words[i + 10]);
	check_vmm_file(pid, fd[named - 1], f.path[F_KERNEL], O_RDONLY);
	assert_string_equal(words[i + 11], "--socket");
	fd[named++] = proc_fd(words[i + 12]);
	assert_string_equal(words[i + 13], "--params");
	assert_string_equal(words[i + 14], "avf.fake_script=started%3B%20hang");
	assert_string_equal(words[i + 15], "--avf-guest-channel");
	fd[named++] = proc_fd(words[i + 16]);
	assert_int_equal(n_words, i + 17);
	assert_int_equal(sscanf(words[12],
				"--serial=type=file,path=/proc/self/fd/%d,hardware=serial,num=2",
				&fd[named]),
			 1);
	named++;
	/* the composite's components, in guest order: header, a, zero filler, b, footer;
	 * each the VMM's own fd at the number the spec names, named in no argument */
	assert_int_equal(cdisk_spec_load(AT_FDCWD, spec_path, &spec), 0);
	assert_int_equal(spec->n_components, 5);
	{
		static const char *const names[] = {"composite-0-header.img", "part-a.img",
						    "zero.img", "part-b.img",
						    "composite-0-footer.img"};
		static const int modes[] = {O_RDWR, O_RDONLY, O_RDONLY, O_RDWR, O_RDWR};

		for (size_t k = 0; k < 5; k++) {
			fd[named++] = proc_fd(spec->components[k].path);
			check_vmm_file_named(pid, fd[named - 1], names[k], modes[k]);
			for (int w = 0; w < n_words; w++)
				assert_null(strstr(words[w], spec->components[k].path));
		}
	}
	assert_false(spec->components[1].writable);
	assert_true(spec->components[3].writable);
	spec = cdisk_spec_free(spec);
	check_vmm_fds(pid, fd, (size_t)named, links);
	/* the composite's directory, for after */
	fd_link(pid, fd[2], dir, sizeof(dir));
	slash = strrchr(dir, '/');
	*slash = '\0';
	assert_non_null(strstr(dir, "/avf-vm"));

	assert_int_equal(vmgr_stop(fx->mgr, h), 0);
	assert_string_equal(s.log, "started;died(KILLED);");
	assert_int_equal(stat(dir, &st), 0); /* kept while the VM is (its handle) */
	vm_handle_unref(h);
	assert_int_equal(stat(dir, &st), -1);

	/* never started: vmgr's copies go with the VM */
	h = create_cfg(fx, &c, NULL);
	for (int k = 0; k < F__COUNT; k++)
		assert_int_equal(fds_on(getpid(), f.path[k]), 2);
	vm_handle_unref(h);
	for (int k = 0; k < F__COUNT; k++)
		assert_int_equal(fds_on(getpid(), f.path[k]), 1);
	files_free(&f);
	assert_int_equal(count_fds(), fds0);
	fx_free(fx);
}

/*
 * The crosvm backend, with fakevmm standing in for crosvm (it takes crosvm's
 * command line): the same process handling as the fake backend, without a guest
 * channel. The guest script rides in the config's own params (fakevmm reads
 * avf.fake_script from any --params). Exit codes and the failure pipe become
 * AVF's death reasons, stop is SIGKILL (KILLED), the control socket is
 * <temp dir>/crosvm.sock while the VMM runs.
 */
static void test_crosvm_backend_over_fakevmm(void **state)
{
	static const struct {
		const char *params;
		const char *log;
	} rows[] = {
	    {"avf.fake_script=exit%200", "died(SHUTDOWN);"},
	    {"avf.fake_script=exit%201", "died(START_FAILED);"},
	    {"quiet avf.fake_script=exit%2032", "died(REBOOT);"},
	    {"avf.fake_script=exit%2035", "died(UNKNOWN);"},
	    {"avf.fake_script=failure%20MICRODROID_PAYLOAD_HAS_CHANGED%7Cdetails%3B%20exit%201",
	     "died(MICRODROID_PAYLOAD_HAS_CHANGED);"},
	    /* notifications have nowhere to go: no guest channel */
	    {"avf.fake_script=started%3B%20ready%3B%20exit%200", "died(SHUTDOWN);"},
	    {"avf.fake_script=hang", "died(KILLED);"},
	};
	struct fx *fx = fx_new_opts(&(struct fx_opts){.crosvm = true, .tmpdir = true, .log = true});
	int fds0 = count_fds();
	char sock[128], buf[8192], *words[64];
	struct vm_config c;
	struct files f;
	struct stat st;

	snprintf(sock, sizeof(sock), "%s/crosvm.sock", fx->tmpdir);
	/* nothing to boot: AVF's words, at createVm */
	{
		struct vm_config none;
		struct vm_handle *h = NULL;

		vm_config_init(&none);
		assert_int_equal(vmgr_create_vm(fx->mgr, &none, &h), -EINVAL);
		assert_string_equal(avf_err_last()->msg,
				    "VM must have either a bootloader or a kernel image.");
	}
	/* three disks, the second a composite built in the VM's temp dir: fakevmm checks
	 * them as crosvm would, and boots */
	files_new(&f, &c);
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct seen s = {0};
		struct vm_handle *h;
		int n;

		c.params = (char *)rows[r].params;
		h = create_cfg(fx, &c, &s);
		assert_int_equal(vmgr_start(fx->mgr, h), 0);
		if (strcmp(rows[r].log, "died(KILLED);") == 0) {
			/* running: crosvm's command line, nothing of the fake's; its socket */
			n = vmm_words(crosvm_backend_last_pid(fx->be), buf, sizeof(buf), words,
				      64);
			assert_string_equal(words[8], "--no-balloon");
			assert_string_equal(words[n - 2], "--socket");
			assert_string_equal(words[n - 10], "avf.fake_script=hang");
			assert_string_equal(words[n - 7], "--disk"); /* the composite */
			assert_string_equal(words[n - 5], "--rwdisk");
			assert_int_equal(stat(sock, &st), 0);
			assert_true(S_ISSOCK(st.st_mode));
			assert_int_equal(vmgr_stop(fx->mgr, h), 0);
		}
		WAIT_FOR(fx, s.died);
		assert_string_equal(s.log, rows[r].log);
		/* the socket file goes with the VMM */
		assert_int_equal(stat(sock, &st), -1);
		vm_handle_unref(h);
	}
	assert_null(strstr(fx->trace_buf, "guest channel"));
	files_free(&f);
	assert_int_equal(count_fds(), fds0);
	fx_free(fx);
}

/* Flip one bit of @path at @off (a file of the VM's temp dir, changed behind vmgr's back). */
static void flip_bit(const char *path, off_t off)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	char b;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 1;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

/*
 * CI's stand-in for crosvm: the crosvm backend driving fakevmm, which checks every disk
 * as crosvm would (fakevmm_disk.h). The composite vmgr built at createVm boots; one
 * damaged between createVm and start (its GPT, a partition cut short) fails the start:
 * the VMM exits 1 (START_FAILED) with the reason in its log. Every composite file is gone
 * from the temp dir with its VM (fx_free removes the dir, which must be empty).
 */
static void test_composite_checked_at_start(void **state)
{
	struct fx *fx = fx_new_opts(&(struct fx_opts){.crosvm = true, .tmpdir = true, .log = true});
	int fds0 = count_fds();
	char header[128], log[8192];
	struct vm_config c;
	struct files f;

	snprintf(header, sizeof(header), "%s/composite-0-header.img", fx->tmpdir);
	files_new(&f, &c);
	c.params = "avf.fake_script=exit%200";
	for (int round = 0; round < 3; round++) {
		struct seen s = {0};
		struct vm_handle *h = create_cfg(fx, &c, &s);

		if (round == 1)
			flip_bit(header, 512 + 16); /* the primary GPT header's CRC */
		if (round == 2)
			assert_int_equal(truncate(f.path[F_PART_A], 4), 0);
		assert_int_equal(vmgr_start(fx->mgr, h), 0);
		WAIT_FOR(fx, s.died);
		fx_read_log(fx, log, sizeof(log));
		if (round == 0) {
			assert_string_equal(s.log, "died(SHUTDOWN);");
			assert_string_equal(log, "");
		} else {
			assert_string_equal(s.log, "died(START_FAILED);");
			assert_non_null(strstr(log, "fakevmm: disk 1 (--disk /proc/self/fd/"));
			assert_non_null(strstr(log, round == 1 ? "): the guest's partition table: "
								 "primary GPT header: header CRC32 is "
							       : "' is 4 bytes, shorter than its extent"));
		}
		vm_handle_unref(h);
	}
	files_free(&f);
	assert_int_equal(count_fds(), fds0);
	fx_free(fx);
}

/* A VMM that never answers: a script that execs sleep (a crosvm that has hung). */
static void write_hung_vmm(const char *path)
{
	FILE *fp = fopen(path, "we");

	assert_non_null(fp);
	fputs("#!/bin/sh\nexec sleep 600\n", fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, 0755), 0);
}

/*
 * The crosvm backend's stop where asked (AVF_CROSVM_STOP=socket): crosvm's "Exit" over
 * the control socket, so a VMM that obeys exits 0 and the VM dies SHUTDOWN (not KILLED);
 * one that does not answer is SIGKILLed after the deadline. stop() returns with onDied
 * delivered either way.
 */
static void test_crosvm_stop_over_control_socket(void **state)
{
	int fds0 = count_fds();
	struct fx *fx = fx_new_opts(&(struct fx_opts){.crosvm = true, .tmpdir = true,
						      .stop_socket = true});
	char dir[] = "/tmp/avf-hung-XXXXXX", hung[64];
	struct vm_config c;
	struct files f;
	struct seen s = {0};
	struct vm_handle *h;

	files_new(&f, &c);
	c.params = "avf.fake_script=hang";
	h = create_cfg(fx, &c, &s);
	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	assert_int_equal(vmgr_stop(fx->mgr, h), 0);
	assert_string_equal(s.log, "died(SHUTDOWN);");
	assert_non_null(strstr(fx->trace_buf, "control socket: \"Exit\"\n"));
	assert_non_null(strstr(fx->trace_buf, "control socket: reply \"Ok\"\n"));
	assert_null(strstr(fx->trace_buf, "SIGKILL"));
	vm_handle_unref(h);
	/* the last handle dropped: the same stop */
	memset(&s, 0, sizeof(s));
	h = create_cfg(fx, &c, &s);
	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	vm_handle_unref(h);
	assert_string_equal(s.log, "died(SHUTDOWN);");
	fx_free(fx);

	/* a VMM that does not answer: SIGKILL after the deadline */
	assert_non_null(mkdtemp(dir));
	snprintf(hung, sizeof(hung), "%s/crosvm", dir);
	write_hung_vmm(hung);
	fx = fx_new_opts(&(struct fx_opts){.path = hung, .crosvm = true, .tmpdir = true,
					   .stop_socket = true,
					   .stop_timeout_ns = 200 * LOOP_NSEC_PER_MSEC});
	memset(&s, 0, sizeof(s));
	h = create_cfg(fx, &c, &s);
	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	assert_int_equal(vmgr_stop(fx->mgr, h), 0);
	assert_string_equal(s.log, "died(KILLED);");
	assert_non_null(strstr(fx->trace_buf, "control socket: \"Exit\"\n"));
	assert_non_null(strstr(fx->trace_buf, "did not exit within 200 ms after \"Exit\": SIGKILL"));
	vm_handle_unref(h);
	fx_free(fx);
	assert_int_equal(unlink(hung), 0);
	assert_int_equal(rmdir(dir), 0);
	files_free(&f);
	assert_int_equal(count_fds(), fds0);
}

/* A real crosvm, when there is one and /dev/kvm is usable: a kernel it cannot boot. */
static void test_real_crosvm(void **state)
{
	char *crosvm = NULL;
	struct fx *fx;
	struct files f;
	struct vm_config c;
	struct seen s = {0};
	struct vm_handle *h;

	if (crosvm_backend_find(&crosvm) < 0) {
		print_message("[ skipped  ] %s\n", avf_err_last()->msg);
		skip();
	}
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		print_message("[ skipped  ] /dev/kvm: %s\n", strerror(errno));
		free(crosvm);
		skip();
	}
	fx = fx_new_opts(&(struct fx_opts){.path = crosvm, .crosvm = true, .tmpdir = true});
	files_new(&f, &c);
	h = create_cfg(fx, &c, &s);
	assert_int_equal(vmgr_start(fx->mgr, h), 0);
	/* "kernel" is 6 bytes of text: crosvm gives up (an error exit, not a signal) */
	WAIT_FOR(fx, s.died);
	assert_int_not_equal(s.reason, AVF_DEATH_KILLED);
	assert_int_not_equal(s.reason, AVF_DEATH_INFRASTRUCTURE_ERROR);
	vm_handle_unref(h);
	files_free(&f);
	fx_free(fx);
	free(crosvm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_channel_codec),
	    cmocka_unit_test(test_prepare_golden),
	    cmocka_unit_test(test_prepare_golden_console_fds),
	    cmocka_unit_test(test_fakevmm_cli),
	    cmocka_unit_test(test_fakevmm_fd_checks),
	    cmocka_unit_test(test_fakevmm_composite_disks),
	    cmocka_unit_test(test_fakevmm_channels),
	    cmocka_unit_test(test_fakevmm_console),
	    cmocka_unit_test(test_script_outcomes),
	    cmocka_unit_test(test_default_guest_runs_to_shutdown),
	    cmocka_unit_test(test_guest_sees_refusal),
	    cmocka_unit_test(test_stop_kills_and_delivers_before_returning),
	    cmocka_unit_test(test_drop_last_handle_kills),
	    cmocka_unit_test(test_stop_from_on_payload_ready),
	    cmocka_unit_test(test_drop_last_handle_in_on_payload_ready),
	    cmocka_unit_test(test_drop_handle_inside_on_died),
	    cmocka_unit_test(test_killed_from_outside),
	    cmocka_unit_test(test_boot_hangup),
	    cmocka_unit_test(test_exec_failure),
	    cmocka_unit_test(test_bad_script_fails_create),
	    cmocka_unit_test(test_spawned_argv_and_fds),
	    cmocka_unit_test(test_console_and_log_reach_the_vmm),
	    cmocka_unit_test(test_console_fds_of_unstarted_vm_closed),
	    cmocka_unit_test(test_backend_contract),
	    cmocka_unit_test(test_backend_console_fds),
	    cmocka_unit_test(test_control_socket_exit),
	    cmocka_unit_test(test_vmm_dies_with_manager),
	    cmocka_unit_test(test_no_leaks_over_cycles),
	    cmocka_unit_test(test_config_files_reach_the_vmm),
	    cmocka_unit_test(test_crosvm_backend_over_fakevmm),
	    cmocka_unit_test(test_composite_checked_at_start),
	    cmocka_unit_test(test_crosvm_stop_over_control_socket),
	    cmocka_unit_test(test_real_crosvm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
