/* SPDX-License-Identifier: Apache-2.0 */
#include "scn_agent.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <avf/vmclient.h>

#include "base/avf_err.h"
#include "base/mono_time.h"
#include "trace/trace.h"
#include "trace/trace_file.h"

#define MSG_MAX 65536
#define MAX_HANDLES 4096

/* ---- the agent process ---- */

/* Callback data: which scenario names a delivery belongs to. Kept until exit,
 * since libvmclient may deliver onDied after the handle named here was dropped. */
struct cb_ctx {
	char vm[64];
	char cb[64];
	struct cb_ctx *next;
};

struct handle {
	char name[64];
	struct avf_vm *vm;
};

struct agent {
	int sock;
	struct avf_client *client;
	const struct trace *tr;
	struct handle h[MAX_HANDLES];
	size_t nh;
	struct cb_ctx *cbs;
	bool lost_traced;
};

static void atrace(struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void atrace(struct agent *a, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	trace_emitf(a->tr, "client", "%s", text);
}

static void send_reply(struct agent *a, const char *s)
{
	/* The runner may be gone (it was killed): nothing to do about it here. */
	(void)!send(a->sock, s, strlen(s), MSG_NOSIGNAL);
}

static void reply_ok(struct agent *a, const char *detail)
{
	char buf[MSG_MAX];

	if (detail)
		snprintf(buf, sizeof(buf), "ok%c%s", SCN_AGENT_SEP, detail);
	else
		snprintf(buf, sizeof(buf), "ok");
	send_reply(a, buf);
}

/* "err SEP <exception> SEP <errno> SEP <message>" (@err: a positive errno). */
static void send_err(struct agent *a, int ex, int err, const char *msg)
{
	char buf[MSG_MAX];

	snprintf(buf, sizeof(buf), "err%c%d%c%d%c%s", SCN_AGENT_SEP, ex, SCN_AGENT_SEP, err,
		 SCN_AGENT_SEP, msg ? msg : "");
	send_reply(a, buf);
}

/* Reply with libvmclient's last error, and trace "<what> -> error ...". */
static void reply_err(struct agent *a, const char *what)
{
	const struct avf_error_info *e = avf_last_error();
	const char *code = e->exception ? avf_ex_name(e->exception) : strerrorname_np(-e->err);

	atrace(a, "%s -> error %s: %s", what, code ? code : "?", e->message ? e->message : "");
	send_err(a, e->exception, -e->err, e->message);
}

/* An error of the agent itself (bad command), not of the library. */
static void reply_usage(struct agent *a, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void reply_usage(struct agent *a, int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	send_err(a, 0, err, msg);
}

static struct handle *find(struct agent *a, const char *name)
{
	for (size_t i = 0; i < a->nh; i++)
		if (!strcmp(a->h[i].name, name))
			return &a->h[i];
	return NULL;
}

/* The callbacks need the agent's trace; there is one agent per process. */
static struct agent *g_agent;

static void on_started(struct avf_vm *vm, void *data)
{
	struct cb_ctx *c = data;
	(void)vm;
	atrace(g_agent, "%s %s onPayloadStarted", c->vm, c->cb);
}
static void on_ready(struct avf_vm *vm, void *data)
{
	struct cb_ctx *c = data;
	(void)vm;
	atrace(g_agent, "%s %s onPayloadReady", c->vm, c->cb);
}
static void on_finished(struct avf_vm *vm, int code, void *data)
{
	struct cb_ctx *c = data;
	(void)vm;
	atrace(g_agent, "%s %s onPayloadFinished(%d)", c->vm, c->cb, code);
}
static void on_error(struct avf_vm *vm, enum avf_error_code code, const char *msg, void *data)
{
	struct cb_ctx *c = data;
	(void)vm;
	atrace(g_agent, "%s %s onError(%d, \"%s\")", c->vm, c->cb, (int)code, msg ? msg : "");
}
static void on_died(struct avf_vm *vm, enum avf_death_reason r, void *data)
{
	struct cb_ctx *c = data;
	(void)vm;
	atrace(g_agent, "%s %s onDied(%s)", c->vm, c->cb, avf_death_reason_name(r));
}

static const struct avf_vm_callbacks trace_cbs = {
    .on_payload_started = on_started,
    .on_payload_ready = on_ready,
    .on_payload_finished = on_finished,
    .on_error = on_error,
    .on_died = on_died,
};

static int split(char *msg, char **f, int max)
{
	int n = 0;

	f[n++] = msg;
	for (char *p = msg; *p && n < max; p++)
		if (*p == SCN_AGENT_SEP) {
			*p = '\0';
			f[n++] = p + 1;
		}
	return n;
}

static void drop_all(struct agent *a)
{
	for (size_t i = 0; i < a->nh; i++)
		avf_vm_unref(a->h[i].vm);
	a->nh = 0;
}

static void disconnect(struct agent *a)
{
	drop_all(a);
	if (a->client) {
		avf_client_disconnect(a->client);
		a->client = NULL;
		atrace(a, "disconnected");
	}
}

static const char *state_word(const char *s, enum avf_vm_state *ret)
{
	for (int i = AVF_VM_STATE_NOT_STARTED; i <= AVF_VM_STATE_DEAD; i++)
		if (!strcmp(avf_vm_state_name(i), s)) {
			*ret = i;
			return s;
		}
	return NULL;
}

static void cmd_create(struct agent *a, char **f, int n)
{
	struct avf_vm_config cfg;
	struct avf_vm *vm = NULL;
	char what[128], cid[16];

	if (n != 8)
		return reply_usage(a, EINVAL, "create takes 7 fields, got %d", n - 1);
	if (find(a, f[1]) || a->nh == MAX_HANDLES)
		return reply_usage(a, EEXIST, "handle '%s' exists (or too many)", f[1]);
	avf_vm_config_init(&cfg);
	cfg.kind = !strcmp(f[2], "app") ? AVF_VM_KIND_APP : AVF_VM_KIND_RAW;
	cfg.name = f[3];
	cfg.memory_mib = (uint32_t)strtoul(f[4], NULL, 10);
	cfg.cpus = (uint32_t)strtoul(f[5], NULL, 10);
	cfg.protected_vm = f[6][0] == '1';
	cfg.fake_script = *f[7] ? f[7] : NULL;
	snprintf(what, sizeof(what), "create %s", f[1]);
	if (avf_vm_create(a->client, &cfg, -1, -1, -1, &vm) < 0)
		return reply_err(a, what);
	snprintf(a->h[a->nh].name, sizeof(a->h[a->nh].name), "%s", f[1]);
	a->h[a->nh++].vm = vm;
	atrace(a, "%s -> vm:%" PRIu32, what, avf_vm_cid(vm));
	snprintf(cid, sizeof(cid), "%" PRIu32, avf_vm_cid(vm));
	reply_ok(a, cid);
}

static void cmd_vm(struct agent *a, char **f, int n)
{
	struct handle *h = n >= 2 ? find(a, f[1]) : NULL;
	char what[256], detail[64];
	int r;

	if (!h)
		return reply_usage(a, ENOENT, "no handle named '%s'", n >= 2 ? f[1] : "");
	snprintf(what, sizeof(what), "%s %s", f[0], f[1]);
	if (!strcmp(f[0], "start") || !strcmp(f[0], "stop")) {
		r = !strcmp(f[0], "start") ? avf_vm_start(h->vm) : avf_vm_stop(h->vm);
		if (r < 0)
			return reply_err(a, what);
		atrace(a, "%s -> ok", what);
		return reply_ok(a, NULL);
	}
	if (!strcmp(f[0], "drop")) {
		avf_vm_unref(h->vm);
		*h = a->h[--a->nh];
		atrace(a, "%s", what);
		return reply_ok(a, NULL);
	}
	if (!strcmp(f[0], "ref") && n == 3) {
		if (find(a, f[2]) || a->nh == MAX_HANDLES)
			return reply_usage(a, EEXIST, "handle '%s' exists (or too many)", f[2]);
		struct avf_vm *vm = avf_vm_ref(h->vm);
		snprintf(a->h[a->nh].name, sizeof(a->h[a->nh].name), "%s", f[2]);
		a->h[a->nh++].vm = vm;
		atrace(a, "ref %s as %s", f[1], f[2]);
		return reply_ok(a, NULL);
	}
	if (!strcmp(f[0], "register") && n == 3) {
		struct cb_ctx *c = calloc(1, sizeof(*c));
		if (!c)
			return reply_usage(a, ENOMEM, "out of memory");
		snprintf(c->vm, sizeof(c->vm), "%s", f[1]);
		snprintf(c->cb, sizeof(c->cb), "%s", f[2]);
		c->next = a->cbs;
		a->cbs = c;
		snprintf(what, sizeof(what), "register %s %s", f[1], f[2]);
		if (avf_vm_register_callback(h->vm, &trace_cbs, c) < 0)
			return reply_err(a, what);
		atrace(a, "%s -> ok", what);
		return reply_ok(a, NULL);
	}
	if (!strcmp(f[0], "wait-state") && n == 4) {
		enum avf_vm_state want, got;
		if (!state_word(f[2], &want))
			return reply_usage(a, EINVAL, "unknown state '%s'", f[2]);
		if (avf_vm_wait_for_state(h->vm, want, atoi(f[3])) < 0)
			return reply_err(a, what);
		/* The tracked state passed through @want; getState is the service's view now. */
		if (avf_vm_get_state(h->vm, &got) < 0)
			return reply_err(a, what);
		return reply_ok(a, avf_vm_state_name(got));
	}
	if (!strcmp(f[0], "wait-death") && n == 3) {
		enum avf_death_reason reason;
		if (avf_vm_wait_for_death(h->vm, atoi(f[2]), &reason) < 0)
			return reply_err(a, what);
		snprintf(detail, sizeof(detail), "%s", avf_death_reason_name(reason));
		return reply_ok(a, detail);
	}
	reply_usage(a, EINVAL, "bad command '%s' (%d fields)", f[0], n);
}

static void cmd_list(struct agent *a)
{
	struct avf_vm_info *rows = NULL;
	size_t n = 0, off = 0;
	char *buf;

	if (avf_client_list_vms(a->client, &rows, &n) < 0)
		return reply_err(a, "list");
	buf = malloc(n * 40 + 1);
	if (!buf) {
		avf_vm_info_free(rows, n);
		return reply_usage(a, ENOMEM, "out of memory");
	}
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		off += (size_t)sprintf(buf + off, "%s%" PRIu32 " %s", i ? "," : "", rows[i].cid,
				       avf_vm_state_name(rows[i].state));
	reply_ok(a, buf);
	free(buf);
	avf_vm_info_free(rows, n);
}

static void handle_cmd(struct agent *a, char *msg)
{
	char *f[10];
	int n = split(msg, f, 10);

	if (!strcmp(f[0], "exit")) {
		disconnect(a);
		reply_ok(a, NULL);
		return;
	}
	if (!strcmp(f[0], "disconnect")) {
		disconnect(a);
		return reply_ok(a, NULL);
	}
	if (!a->client)
		return reply_usage(a, ENOTCONN, "the client is disconnected");
	if (!strcmp(f[0], "create"))
		return cmd_create(a, f, n);
	if (!strcmp(f[0], "list"))
		return cmd_list(a);
	if (!strcmp(f[0], "sync")) {
		bool on;
		/* Any call will do: virtmgr serves a connection in order, so every
		 * callback it sent before this reply is already in our queue. */
		if (avf_client_is_feature_enabled(a->client, "com.android.kvm.LLPVM_CHANGES", &on) < 0)
			return reply_err(a, "sync");
		while (avf_client_dispatch(a->client, 0) > 0)
			;
		return reply_ok(a, NULL);
	}
	cmd_vm(a, f, n);
}

static void agent_loop(struct agent *a)
{
	static char msg[MSG_MAX];

	for (;;) {
		struct pollfd p[2] = {{.fd = a->sock, .events = POLLIN}, {.fd = -1}};
		if (a->client && avf_client_is_alive(a->client))
			p[1] = (struct pollfd){.fd = avf_client_fd(a->client), .events = POLLIN};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (p[1].revents) {
			if (avf_client_dispatch(a->client, 0) == -EPIPE && !a->lost_traced) {
				a->lost_traced = true;
				atrace(a, "virtmgr connection lost");
			}
		}
		if (p[0].revents) {
			ssize_t n = recv(a->sock, msg, sizeof(msg) - 1, 0);
			if (n <= 0)
				return; /* the runner closed (or died): we go too */
			msg[n] = '\0';
			bool is_exit = !strncmp(msg, "exit", 4) && (msg[4] == '\0');
			handle_cmd(a, msg);
			if (is_exit)
				return;
		}
	}
}

static _Noreturn void agent_main(const char *name, int sock)
{
	struct agent a = {.sock = sock};
	struct trace_file *tf = NULL;
	char buf[512];
	sigset_t none;

	/* The runner blocks SIGCHLD for its signalfd: start clean, as any program would. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_IGN);
	g_agent = &a;
	if (trace_file_from_env(&tf) < 0)
		tf = NULL;
	a.tr = trace_file_trace(tf);
	if (avf_client_connect(NULL, &a.client) < 0) {
		const struct avf_error_info *e = avf_last_error();
		atrace(&a, "connect -> error: %s", e->message ? e->message : "");
		send_err(&a, e->exception, -e->err, e->message);
		trace_file_close(tf);
		_exit(1);
	}
	atrace(&a, "connected (client %s, virtmgr pid %d)", name, (int)avf_client_virtmgr_pid(a.client));
	snprintf(buf, sizeof(buf), "ok%c%d", SCN_AGENT_SEP, (int)avf_client_virtmgr_pid(a.client));
	send_reply(&a, buf);
	agent_loop(&a);
	disconnect(&a);
	while (a.cbs) {
		struct cb_ctx *c = a.cbs;
		a.cbs = c->next;
		free(c);
	}
	trace_file_close(tf);
	close(sock);
	_exit(0);
}

/* ---- the runner's side ---- */

/* Wait for one packet; 0 with *ret malloc'd (NUL-terminated). */
static int recv_reply(struct scn_agent *a, int timeout_ms, char **ret)
{
	int64_t deadline = mono_ms() + timeout_ms;
	char *buf = malloc(MSG_MAX);

	*ret = NULL;
	if (!buf)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	for (;;) {
		struct pollfd p = {.fd = a->sock, .events = POLLIN};
		int64_t left = deadline - mono_ms();
		int r = poll(&p, 1, left < 0 ? 0 : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			free(buf);
			return avf_err_set(-ETIMEDOUT, AVF_EX_SERVICE_SPECIFIC,
					   "client %s did not answer within %d ms", a->name, timeout_ms);
		}
		ssize_t n = recv(a->sock, buf, MSG_MAX - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return avf_err_set(-EPIPE, AVF_EX_SERVICE_SPECIFIC, "client %s is gone",
					   a->name);
		}
		buf[n] = '\0';
		*ret = buf;
		return 0;
	}
}

/* "ok[SEP detail]" -> 0 and *detail; "err SEP ex SEP errno SEP msg" -> -EREMOTEIO. */
static int decode_reply(char *msg, char **detail)
{
	char *f[4];
	int n;

	*detail = NULL;
	if (!strncmp(msg, "ok", 2) && (msg[2] == '\0' || msg[2] == SCN_AGENT_SEP)) {
		*detail = strdup(msg[2] ? msg + 3 : "");
		return *detail ? 0 : avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	}
	n = split(msg, f, 4);
	if (n != 4 || strcmp(f[0], "err"))
		return avf_err_set(-EPROTO, AVF_EX_SERVICE_SPECIFIC, "bad reply from agent");
	avf_err_set(-EREMOTEIO, atoi(f[1]), "%s", f[3]);
	/* The agent's errno rides in the error's err field, for `fails ENOENT`. */
	struct avf_error e = *avf_err_last();
	e.err = -atoi(f[2]);
	avf_err_restore(&e);
	return -EREMOTEIO;
}

int scn_agent_start(const char *name, int timeout_ms, struct scn_agent *ret)
{
	int sv[2], r;
	char *msg = NULL, *detail = NULL;

	memset(ret, 0, sizeof(*ret));
	ret->sock = ret->pidfd = ret->virtmgr_pidfd = -1;
	snprintf(ret->name, sizeof(ret->name), "%s", name);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "socketpair: %s", strerror(errno));
	ret->pid = fork();
	if (ret->pid < 0) {
		r = avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	if (ret->pid == 0) {
		/* Keep only stdio and our socket (as fd 3): the runner's other fds — other
		 * agents' sockets above all — must not live on in here. */
		if (dup2(sv[1], 3) < 0)
			_exit(127);
		syscall(SYS_close_range, 4u, ~0u, 0u);
		agent_main(name, 3);
	}
	close(sv[1]);
	ret->sock = sv[0];
	ret->pidfd = (int)syscall(SYS_pidfd_open, ret->pid, 0);
	r = recv_reply(ret, timeout_ms, &msg);
	if (r == 0) {
		r = decode_reply(msg, &detail);
		free(msg);
	}
	if (r < 0) {
		int err = r == -EREMOTEIO ? avf_err_last()->err : r;
		avf_err_prefix("client %s could not connect", name);
		kill(ret->pid, SIGKILL);
		scn_agent_close(ret);
		return err < 0 ? err : r;
	}
	ret->virtmgr_pid = (pid_t)atoi(detail);
	free(detail);
	ret->virtmgr_pidfd = (int)syscall(SYS_pidfd_open, ret->virtmgr_pid, 0);
	ret->connected = true;
	return 0;
}

int scn_agent_call(struct scn_agent *a, const char *cmd, int timeout_ms, char **reply)
{
	char *msg = NULL;
	int r;

	*reply = NULL;
	if (a->sock < 0)
		return avf_err_set(-EPIPE, AVF_EX_SERVICE_SPECIFIC, "client %s is gone", a->name);
	if (send(a->sock, cmd, strlen(cmd), MSG_NOSIGNAL) < 0)
		return avf_err_set(-EPIPE, AVF_EX_SERVICE_SPECIFIC, "client %s is gone: %s", a->name,
				   strerror(errno));
	r = recv_reply(a, timeout_ms, &msg);
	if (r < 0)
		return r;
	r = decode_reply(msg, reply);
	free(msg);
	return r;
}

void scn_agent_close(struct scn_agent *a)
{
	if (a->sock >= 0)
		close(a->sock);
	if (a->pidfd >= 0)
		close(a->pidfd);
	if (a->virtmgr_pidfd >= 0)
		close(a->virtmgr_pidfd);
	a->sock = a->pidfd = a->virtmgr_pidfd = -1;
	a->connected = false;
}
