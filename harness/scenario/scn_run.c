/* SPDX-License-Identifier: Apache-2.0 */
#include "scn_run.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <avf/vmclient.h>

#include "base/avf_err.h"
#include "config/vm_config.h"
#include "config/vm_config_json.h"
#include "scn_run_command.h"
#include "scn_world.h"

#define DEFAULT_TIMEOUT_MS 10000
/* What an agent call may take beyond the wait it was asked to do. */
#define CALL_SLACK_MS 5000

/* A name the scenario gave a VM handle (`ref` makes a second name for one VM). */
struct vmrec {
	char *name;
	size_t owner;   /* index into world.clients */
	uint32_t cid;
	size_t cid_seq; /* trace records before the VM existed: its later lines follow */
	bool handle;    /* the client still holds this handle */
};

struct run {
	const struct scn *s;
	const struct scn_run_opts *o;
	struct world w;
	bool world_up, finished;
	uint32_t rate;
	int64_t timeout_ms;
	struct vmrec *vms;
	size_t n_vms;
	const struct scn_step *step;
	char *fail; /* the failure message, once there is one */
};

static int fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->fail)
		return -1;
	va_start(ap, fmt);
	if (vasprintf(&r->fail, fmt, ap) < 0)
		r->fail = NULL;
	va_end(ap);
	return -1;
}

static const char *last_msg(void)
{
	return avf_err_last()->msg[0] ? avf_err_last()->msg : "(no message)";
}

static struct vmrec *vm_find(struct run *r, const char *name)
{
	for (size_t i = r->n_vms; i-- > 0;)
		if (!strcmp(r->vms[i].name, name))
			return &r->vms[i];
	return NULL;
}

static struct vmrec *vm_add(struct run *r, const char *name, size_t owner, uint32_t cid)
{
	struct vmrec *n = realloc(r->vms, (r->n_vms + 1) * sizeof(*n));

	if (!n)
		return NULL;
	r->vms = n;
	n = &r->vms[r->n_vms];
	*n = (struct vmrec){.name = strdup(name), .owner = owner, .cid = cid, .handle = true};
	if (!n->name)
		return NULL;
	r->n_vms++;
	return n;
}

static struct world_client *owner(struct run *r, const struct vmrec *v)
{
	return &r->w.clients[v->owner];
}

static int64_t deadline_ms(const struct run *r, const struct scn_step *st)
{
	if (st->within_ns) {
		/* `within` is scenario time: under libfaketime it passes r->rate times faster. */
		int64_t ms = (int64_t)(st->within_ns / r->rate / 1000000u);
		return ms > 0 ? ms : 1;
	}
	return r->timeout_ms;
}

/* ---- client calls ---- */

/* The step's expected failure, if any, against what the agent call returned. */
static int judge_call(struct run *r, const char *what, int rc)
{
	const struct scn_fail *f = &r->step->fail;
	const struct avf_error *e = avf_err_last();

	if (rc == 0) {
		if (f->expected)
			return fail(r, "expected %s to fail with %s, but it succeeded", what,
				    f->is_errno ? strerrorname_np(f->code) : avf_ex_name(f->code));
		return 0;
	}
	if (rc != -EREMOTEIO) /* the agent itself is gone or stuck: never expected */
		return fail(r, "%s: %s", what, last_msg());
	if (!f->expected)
		return fail(r, "%s failed: %s (%s)", what, last_msg(),
			    e->ex ? avf_ex_name(e->ex) : strerrorname_np(-e->err));
	bool code_ok = f->is_errno ? e->err == -f->code : e->ex == f->code;
	if (!code_ok)
		return fail(r, "expected %s to fail with %s; it failed with %s: %s", what,
			    f->is_errno ? strerrorname_np(f->code) : avf_ex_name(f->code),
			    e->ex ? avf_ex_name(e->ex) : strerrorname_np(-e->err), last_msg());
	if (f->substring && !strstr(e->msg, f->substring))
		return fail(r, "expected %s to fail with a message containing \"%s\"; it said \"%s\"",
			    what, f->substring, e->msg);
	return 0;
}

static int call(struct run *r, struct world_client *c, int64_t wait_ms, char **reply,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int call(struct run *r, struct world_client *c, int64_t wait_ms, char **reply,
		const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int rc;

	(void)r;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	*reply = NULL;
	rc = scn_agent_call(&c->ag, cmd, (int)(wait_ms + CALL_SLACK_MS), reply);
	return rc;
}

static int do_create(struct run *r, const struct scn_step *st)
{
	struct world_client *c = world_client(&r->w, st->client);
	struct vm_config_json *j = NULL;
	struct vm_config vc;
	char path[PATH_MAX], dir[PATH_MAX], what[256];
	int rc;

	/* Relative to the scenario's folder, else to the nearest folder above it that
	 * has it (so every topic folder can say `from configs/minimal.json`). */
	if (st->config[0] == '/') {
		snprintf(path, sizeof(path), "%s", st->config);
	} else {
		char base[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", r->s->path);
		snprintf(base, sizeof(base), "%s", dirname(dir)); /* dirname may not use dir */
		snprintf(path, sizeof(path), "%s/%s", base, st->config);
		char up[PATH_MAX];
		snprintf(up, sizeof(up), "%s", base);
		for (int i = 0; i < 8 && access(path, F_OK) < 0; i++) {
			size_t len = strlen(up);
			snprintf(up + len, sizeof(up) - len, "/..");
			snprintf(path, sizeof(path), "%s/%s", up, st->config);
		}
		if (access(path, F_OK) < 0) /* report it where it was looked for first */
			snprintf(path, sizeof(path), "%s/%s", base, st->config);
	}
	if (vm_config_json_load(path, &j) < 0)
		return fail(r, "config %s: %s", path, last_msg());
	vm_config_init(&vc);
	rc = vm_config_json_to_vm_config(j, &vc);
	vm_config_json_free(j);
	if (rc < 0)
		return fail(r, "config %s: %s", path, last_msg());
	for (size_t i = 0; i < st->n_vms && !r->fail; i++) {
		char *reply = NULL;
		snprintf(what, sizeof(what), "create %s", st->vms[i]);
		rc = call(r, c, 0, &reply, "create\x1f%s\x1f%s\x1f%s\x1f%" PRIu32 "\x1f%" PRIu32 "\x1f%d\x1f%s",
			  st->vms[i], st->app ? "app" : "raw", vc.name ? vc.name : st->vms[i],
			  vc.memory_mib, vc.cpus, vc.protected_vm, st->guest ? st->guest : "");
		if (judge_call(r, what, rc) < 0 || rc < 0) {
			free(reply);
			continue;
		}
		uint32_t cid = (uint32_t)strtoul(reply, NULL, 10);
		free(reply);
		world_poll(&r->w);
		struct vmrec *v = vm_add(r, st->vms[i], (size_t)(c - r->w.clients), cid);
		if (!v)
			return fail(r, "out of memory");
		v->cid_seq = scn_trace_count(r->w.tv);
		world_trace(&r->w, "@cid %s %" PRIu32, st->vms[i], cid);
	}
	vm_config_clear(&vc);
	return r->fail ? -1 : 0;
}

/* start / stop / drop / register on every VM of the step. */
static int do_vm_action(struct run *r, const struct scn_step *st, const char *verb)
{
	struct world_client *c = world_client(&r->w, st->client);

	for (size_t i = 0; i < st->n_vms && !r->fail; i++) {
		struct vmrec *v = vm_find(r, st->vms[i]);
		char what[256], *reply = NULL;
		int rc;

		snprintf(what, sizeof(what), "%s %s", verb, st->vms[i]);
		if (st->kind == SCN_REGISTER)
			rc = call(r, c, 0, &reply, "register\x1f%s\x1f%s", st->vms[i], st->cb);
		else
			rc = call(r, c, 0, &reply, "%s\x1f%s", verb, st->vms[i]);
		free(reply);
		if (judge_call(r, what, rc) < 0)
			break;
		if (rc == 0 && st->kind == SCN_DROP && v)
			v->handle = false;
	}
	return r->fail ? -1 : 0;
}

static int do_ref(struct run *r, const struct scn_step *st)
{
	struct world_client *c = world_client(&r->w, st->client);
	struct vmrec *v = vm_find(r, st->vms[0]);
	char what[256], *reply = NULL;
	int rc;

	snprintf(what, sizeof(what), "ref %s as %s", st->vms[0], st->name2);
	rc = call(r, c, 0, &reply, "ref\x1f%s\x1f%s", st->vms[0], st->name2);
	free(reply);
	if (judge_call(r, what, rc) < 0 || rc < 0)
		return r->fail ? -1 : 0;
	struct vmrec *n = vm_add(r, st->name2, v->owner, v->cid);
	if (!n)
		return fail(r, "out of memory");
	n->cid_seq = vm_find(r, st->vms[0])->cid_seq;
	return 0;
}

static void client_lost(struct run *r, struct world_client *c)
{
	for (size_t i = 0; i < r->n_vms; i++)
		if (owner(r, &r->vms[i]) == c)
			r->vms[i].handle = false;
}

/* ---- expectations ---- */

static int expect_state(struct run *r, const struct scn_step *st)
{
	int64_t ms = deadline_ms(r, st);

	for (size_t i = 0; i < st->n_vms && !r->fail; i++) {
		struct vmrec *v = vm_find(r, st->vms[i]);
		char *reply = NULL;
		if (!v->handle)
			return fail(r, "%s: the client no longer holds this handle, so it cannot see "
				       "its state", v->name);
		int rc = call(r, owner(r, v), ms, &reply, "wait-state\x1f%s\x1f%s\x1f%" PRId64, v->name,
			      avf_vm_state_name(st->state), ms);
		free(reply);
		if (rc < 0)
			return fail(r, "expected %s in state %s; %s", v->name,
				    avf_vm_state_name(st->state), last_msg());
	}
	return 0;
}

struct died_pred {
	struct vmrec *v;
	char want[128];
	char seen[256];
};

/* The owner's virtmgr traced the VM's end: "vm:<cid> exit: ... -> REASON". */
static int pred_exit_line(struct world *w, void *data)
{
	struct died_pred *d = data;
	char prefix[64], label[128];

	snprintf(prefix, sizeof(prefix), "vm:%" PRIu32 " exit: ", d->v->cid);
	snprintf(label, sizeof(label), "virtmgr %s", w->clients[d->v->owner].name);
	for (size_t i = d->v->cid_seq; i < scn_trace_count(w->tv); i++) {
		const struct scn_trace_rec *rec = scn_trace_at(w->tv, i);
		if (rec->label && !strcmp(rec->label, label) && rec->line &&
		    !strncmp(rec->line, prefix, strlen(prefix))) {
			snprintf(d->seen, sizeof(d->seen), "%s", rec->line);
			return 1;
		}
	}
	return 0;
}

static int expect_died(struct run *r, const struct scn_step *st)
{
	int64_t ms = deadline_ms(r, st);
	const char *want = avf_death_reason_name(st->reason);

	for (size_t i = 0; i < st->n_vms && !r->fail; i++) {
		struct vmrec *v = vm_find(r, st->vms[i]);
		if (v->handle && !owner(r, v)->dead && owner(r, v)->ag.connected) {
			char *reply = NULL;
			int rc = call(r, owner(r, v), ms, &reply, "wait-death\x1f%s\x1f%" PRId64, v->name, ms);
			if (rc < 0) {
				free(reply);
				return fail(r, "expected %s to die (%s); %s", v->name, want, last_msg());
			}
			if (strcmp(reply, want)) {
				fail(r, "expected %s to die with %s; it died with %s", v->name, want,
				     reply);
				free(reply);
				return -1;
			}
			free(reply);
			continue;
		}
		/* No handle to ask: the owner's virtmgr says how the VMM ended. */
		struct died_pred d = {.v = v};
		if (world_wait(&r->w, ms, pred_exit_line, &d) < 0)
			return fail(r, "expected %s to die (%s); virtmgr traced no end of vm:%" PRIu32
				       " within %" PRId64 " ms",
				    v->name, want, v->cid, ms);
		const char *arrow = strstr(d.seen, "-> ");
		if (!arrow || strcmp(arrow + 3, want))
			return fail(r, "expected %s to die with %s; virtmgr traced \"%s\"", v->name,
				    want, d.seen);
	}
	return 0;
}

/* The callback lines the client traced for (VM, CB), in order. */
struct cb_seen {
	const char *vm, *cb, *client;
	const char *lines[256];
	size_t n;
	size_t want;
};

static void collect_cbs(struct world *w, struct cb_seen *c)
{
	char label[128], prefix[200];

	snprintf(label, sizeof(label), "client %s", c->client);
	snprintf(prefix, sizeof(prefix), "%s %s on", c->vm, c->cb);
	c->n = 0;
	for (size_t i = 0; i < scn_trace_count(w->tv) && c->n < 256; i++) {
		const struct scn_trace_rec *rec = scn_trace_at(w->tv, i);
		if (rec->label && !strcmp(rec->label, label) && rec->text &&
		    !strncmp(rec->text, prefix, strlen(prefix) - 2))
			c->lines[c->n++] = rec->text + strlen(prefix) - 2;
	}
}

static int pred_cbs(struct world *w, void *data)
{
	struct cb_seen *c = data;

	collect_cbs(w, c);
	return c->n >= c->want;
}

/* The callback line an event stands for (error: its prefix, the message left open). */
static void cb_describe(const struct scn_cb_event *ev, char *buf, size_t len)
{
	switch (ev->kind) {
	case SCN_CB_STARTED:
		snprintf(buf, len, "onPayloadStarted");
		break;
	case SCN_CB_READY:
		snprintf(buf, len, "onPayloadReady");
		break;
	case SCN_CB_FINISHED:
		snprintf(buf, len, "onPayloadFinished(%d)", ev->value);
		break;
	case SCN_CB_DIED:
		snprintf(buf, len, "onDied(%s)", avf_death_reason_name((enum avf_death_reason)ev->value));
		break;
	case SCN_CB_ERROR:
		snprintf(buf, len, "onError(%d, \"", ev->value);
		break;
	}
}

static bool cb_matches(const struct scn_cb_event *ev, const char *line)
{
	char buf[160];

	cb_describe(ev, buf, sizeof(buf));
	if (ev->kind != SCN_CB_ERROR)
		return !strcmp(line, buf);
	return !strncmp(line, buf, strlen(buf)) &&
	       (!ev->text || strstr(line + strlen(buf), ev->text));
}

static int check_cbs(struct run *r, const struct scn_step *st, const char *vmname)
{
	struct vmrec *v = vm_find(r, vmname);
	struct world_client *c = owner(r, v);
	struct cb_seen seen = {.vm = vmname, .cb = st->cb, .client = c->name, .want = st->n_events};
	char exp[2048] = "", got[2048] = "";
	bool same;

	if (world_wait(&r->w, deadline_ms(r, st), pred_cbs, &seen) < 0)
		collect_cbs(&r->w, &seen);
	/* Whatever virtmgr sent before now has run once this round trip returns, so an
	 * extra callback cannot hide behind the comparison. */
	if (!c->dead && c->ag.connected && c->ag.sock >= 0) {
		char *reply = NULL;
		if (call(r, c, 0, &reply, "sync") == 0)
			world_poll(&r->w);
		free(reply);
		collect_cbs(&r->w, &seen);
	}
	same = seen.n == st->n_events;
	for (size_t i = 0; i < st->n_events; i++) {
		char one[200];
		cb_describe(&st->events[i], one, sizeof(one));
		if (st->events[i].kind == SCN_CB_ERROR)
			snprintf(one + strlen(one), sizeof(one) - strlen(one), "...%s...\")",
				 st->events[i].text ? st->events[i].text : "");
		snprintf(exp + strlen(exp), sizeof(exp) - strlen(exp), "%s%s", i ? ", " : "", one);
		if (i < seen.n && !cb_matches(&st->events[i], seen.lines[i]))
			same = false;
	}
	for (size_t i = 0; i < seen.n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? ", " : "",
			 seen.lines[i]);
	if (!same)
		return fail(r, "callbacks of %s on %s:\n    expected: %s\n    happened: %s", st->cb,
			    vmname, st->n_events ? exp : "none", seen.n ? got : "none");
	return 0;
}

struct cid_pred {
	struct vmrec *v;
};

static int pred_released(struct world *w, void *data)
{
	struct vmrec *v = ((struct cid_pred *)data)->v;
	char want[64];

	snprintf(want, sizeof(want), "cid %" PRIu32 " released", v->cid);
	for (size_t i = v->cid_seq; i < scn_trace_count(w->tv); i++) {
		const struct scn_trace_rec *rec = scn_trace_at(w->tv, i);
		if (rec->label && !strcmp(rec->label, "virtualizationservice") && rec->text &&
		    !strcmp(rec->text, want))
			return 1;
	}
	return 0;
}

static struct world_client *any_live_client(struct run *r)
{
	for (size_t i = 0; i < r->w.n_clients; i++)
		if (!r->w.clients[i].dead && r->w.clients[i].ag.connected)
			return &r->w.clients[i];
	return NULL;
}

static int expect_cid(struct run *r, const struct scn_step *st)
{
	struct vmrec *v = vm_find(r, st->vms[0]), *o = st->name2 ? vm_find(r, st->name2) : NULL;
	struct cid_pred p = {.v = v};

	switch (st->cid_rel) {
	case SCN_CID_RELEASED:
		if (world_wait(&r->w, deadline_ms(r, st), pred_released, &p) < 0)
			return fail(r, "expected the CID of %s (%" PRIu32 ") to be released; "
				       "virtualizationservice has not released it",
				    v->name, v->cid);
		return 0;
	case SCN_CID_KEPT: {
		struct world_client *c = any_live_client(r);
		char *reply = NULL;
		/* A debugListVms round trip through virtualizationservice orders us after
		 * anything it did before. */
		if (c && call(r, c, 0, &reply, "list") == 0)
			world_poll(&r->w);
		free(reply);
		if (pred_released(&r->w, &p))
			return fail(r, "expected the CID of %s (%" PRIu32 ") to stay granted; it was "
				       "released",
				    v->name, v->cid);
		return 0;
	}
	case SCN_CID_IS:
		if (v->cid != st->number)
			return fail(r, "expected cid of %s to be %" PRIu32 "; it is %" PRIu32, v->name,
				    st->number, v->cid);
		return 0;
	case SCN_CID_EQUALS:
		if (v->cid != o->cid)
			return fail(r, "expected cid of %s (%" PRIu32 ") to equal cid of %s (%" PRIu32 ")",
				    v->name, v->cid, o->name, o->cid);
		return 0;
	case SCN_CID_DIFFERS:
		if (v->cid == o->cid)
			return fail(r, "expected cid of %s to differ from cid of %s; both are %" PRIu32,
				    v->name, o->name, v->cid);
		return 0;
	case SCN_CID_GREATER:
		if (v->cid <= o->cid)
			return fail(r, "expected cid of %s (%" PRIu32 ") to be greater than cid of %s "
				       "(%" PRIu32 ")",
				    v->name, v->cid, o->name, o->cid);
		return 0;
	}
	return fail(r, "unknown cid relation");
}

static int expect_distinct(struct run *r, const struct scn_step *st)
{
	for (size_t i = 0; i < st->n_vms; i++)
		for (size_t k = i + 1; k < st->n_vms; k++) {
			struct vmrec *a = vm_find(r, st->vms[i]), *b = vm_find(r, st->vms[k]);
			if (a->cid == b->cid)
				return fail(r, "expected distinct CIDs; %s and %s both have %" PRIu32,
					    a->name, b->name, a->cid);
		}
	return 0;
}

struct list_pred {
	struct run *r;
	struct world_client *c;
	char want[8192];
	char got[8192];
	int err;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Rows "cid STATE" joined by ',', sorted, so sets compare as strings. */
static void sort_rows(char *s)
{
	char *rows[4096], *save = NULL, out[8192] = "";
	size_t n = 0;

	for (char *t = strtok_r(s, ",", &save); t && n < 4096; t = strtok_r(NULL, ",", &save))
		rows[n++] = t;
	qsort(rows, n, sizeof(rows[0]), cmp_str);
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? "," : "", rows[i]);
	strcpy(s, out);
}

static int pred_list(struct world *w, void *data)
{
	struct list_pred *p = data;
	char *reply = NULL;
	int rc;

	(void)w;
	rc = call(p->r, p->c, 0, &reply, "list");
	if (rc < 0) {
		p->err = rc;
		return rc;
	}
	snprintf(p->got, sizeof(p->got), "%s", reply);
	free(reply);
	sort_rows(p->got);
	return !strcmp(p->got, p->want);
}

static int expect_list(struct run *r, const struct scn_step *st)
{
	struct list_pred p = {.r = r};
	char tmp[8192] = "";

	p.c = st->client ? world_client(&r->w, st->client) : any_live_client(r);
	if (!p.c || p.c->dead || !p.c->ag.connected)
		return fail(r, "no connected client to ask for debugListVms");
	for (size_t i = 0; i < st->n_rows; i++) {
		struct vmrec *v = vm_find(r, st->rows[i].vm);
		snprintf(tmp + strlen(tmp), sizeof(tmp) - strlen(tmp), "%s%" PRIu32 " %s", i ? "," : "",
			 v->cid, avf_vm_state_name(st->rows[i].state));
	}
	snprintf(p.want, sizeof(p.want), "%s", tmp);
	sort_rows(p.want);
	if (world_wait(&r->w, deadline_ms(r, st), pred_list, &p) < 0)
		return fail(r, "debugListVms:\n    expected: %s\n    happened: %s", *p.want ? p.want : "none",
			    p.err ? last_msg() : (*p.got ? p.got : "none"));
	return 0;
}

static int pred_virtmgr_exited(struct world *w, void *data)
{
	(void)w;
	return world_pid_exited(((struct world_client *)data)->ag.virtmgr_pid);
}

struct trace_pred {
	const char *label, *text;
	char vmm_actor[32]; /* VMM lines are written by virtmgr as actor "vmm:<cid>" */
};

static int pred_trace(struct world *w, void *data)
{
	struct trace_pred *p = data;

	for (size_t i = 0; i < scn_trace_count(w->tv); i++) {
		const struct scn_trace_rec *rec = scn_trace_at(w->tv, i);
		bool lane = (rec->label && !strcmp(rec->label, p->label)) ||
			    (p->vmm_actor[0] && rec->actor && !strcmp(rec->actor, p->vmm_actor));
		if (lane && rec->text && strstr(rec->text, p->text))
			return 1;
	}
	return 0;
}

static int expect_trace(struct run *r, const struct scn_step *st)
{
	struct trace_pred p = {.label = st->actor, .text = st->text};

	if (!strncmp(st->actor, "vmm ", 4)) {
		struct vmrec *v = vm_find(r, st->actor + 4);
		if (!v)
			return fail(r, "no VM named %s", st->actor + 4);
		snprintf(p.vmm_actor, sizeof(p.vmm_actor), "vmm:%" PRIu32, v->cid);
	}
	if (world_wait(&r->w, deadline_ms(r, st), pred_trace, &p) < 0)
		return fail(r, "expected a trace line of %s containing \"%s\"; none came", st->actor,
			    st->text);
	return 0;
}

/* ---- commands (scn_run_command.c) ---- */

static int command_step(struct run *r, const struct scn_step *st)
{
	char *msg = NULL;

	if (scn_run_command_step(&r->w, r->s->path, st, deadline_ms(r, st), &msg) == 0)
		return 0;
	fail(r, "%s", msg ? msg : "out of memory");
	free(msg);
	return -1;
}

static int pred_never(struct world *w, void *data)
{
	(void)w;
	(void)data;
	return 0;
}

static int pred_pid_exited(struct world *w, void *data)
{
	(void)w;
	return world_pid_exited(*(pid_t *)data);
}

/* ---- one step ---- */

static int run_step(struct run *r, const struct scn_step *st)
{
	struct world_client *c = st->client ? world_client(&r->w, st->client) : NULL;
	char *reply = NULL;
	int rc;

	switch (st->kind) {
	case SCN_TIME:
	case SCN_CID_RANGE:
	case SCN_TIMEOUT:
		return 0; /* applied before the world started */
	case SCN_CLIENT:
		if (world_add_client(&r->w, st->client, (int)r->timeout_ms) < 0)
			return fail(r, "client %s: %s", st->client, last_msg());
		return 0;
	case SCN_COMMAND:
	case SCN_SIGNAL:
		return command_step(r, st);
	case SCN_CREATE:
		return do_create(r, st);
	case SCN_START:
		return do_vm_action(r, st, "start");
	case SCN_STOP:
		return do_vm_action(r, st, "stop");
	case SCN_DROP:
		return do_vm_action(r, st, "drop");
	case SCN_REGISTER:
		return do_vm_action(r, st, "register");
	case SCN_REF:
		return do_ref(r, st);
	case SCN_DISCONNECT:
		rc = call(r, c, 0, &reply, "disconnect");
		free(reply);
		if (judge_call(r, "disconnect", rc) < 0)
			return -1;
		c->ag.connected = false;
		client_lost(r, c);
		return 0;
	case SCN_KILL_CLIENT:
		if (world_kill_client(&r->w, c, st->sig, (int)r->timeout_ms) < 0)
			return fail(r, "kill %s: %s", c->name, last_msg());
		client_lost(r, c);
		return 0;
	case SCN_KILL_VIRTMGR: {
		pid_t pid = c->ag.virtmgr_pid;
		if (world_pid_exited(pid))
			return fail(r, "the virtmgr of %s has already exited", c->name);
		kill(pid, st->sig);
		if (world_wait(&r->w, r->timeout_ms, pred_pid_exited, &pid) < 0)
			return fail(r, "the virtmgr of %s (pid %d) did not die", c->name, (int)pid);
		c->ag.connected = false;
		return 0;
	}
	case SCN_KILL_VMM: {
		struct vmrec *v = vm_find(r, st->vms[0]);
		pid_t pid = world_vmm_pid(&r->w, v->cid);
		if (pid <= 0)
			return fail(r, "%s has no VMM process (not started?)", v->name);
		if (world_pid_exited(pid))
			return fail(r, "the VMM of %s (pid %d) has already exited", v->name, (int)pid);
		kill(pid, st->sig);
		if (world_wait(&r->w, r->timeout_ms, pred_pid_exited, &pid) < 0)
			return fail(r, "the VMM of %s (pid %d) did not die", v->name, (int)pid);
		return 0;
	}
	case SCN_KILL_VS:
		if (world_kill_vs(&r->w, st->sig, (int)r->timeout_ms) < 0)
			return fail(r, "kill virtualizationservice: %s", last_msg());
		return 0;
	case SCN_RESTART_VS:
		if (world_restart_vs(&r->w, (int)r->timeout_ms) < 0)
			return fail(r, "restart virtualizationservice: %s", last_msg());
		return 0;
	case SCN_ADVANCE: {
		/* Letting time pass is the action itself: scenario time, so under
		 * libfaketime 1/rate of it in real time. Events are still served. */
		int64_t ms = (int64_t)(st->ns / r->rate / 1000000u);
		world_wait(&r->w, ms, pred_never, NULL);
		return 0;
	}
	case SCN_EXPECT_STATE:
		return expect_state(r, st);
	case SCN_EXPECT_DIED:
		return expect_died(r, st);
	case SCN_EXPECT_CALLBACKS:
		for (size_t i = 0; i < st->n_vms; i++)
			if (check_cbs(r, st, st->vms[i]) < 0)
				return -1;
		return 0;
	case SCN_EXPECT_CID:
		return expect_cid(r, st);
	case SCN_EXPECT_CIDS_DISTINCT:
		return expect_distinct(r, st);
	case SCN_EXPECT_LIST:
		return expect_list(r, st);
	case SCN_EXPECT_VIRTMGR_EXITED:
		if (world_wait(&r->w, deadline_ms(r, st), pred_virtmgr_exited, c) < 0)
			return fail(r, "expected the virtmgr of %s (pid %d) to exit; it is running",
				    c->name, (int)c->ag.virtmgr_pid);
		return 0;
	case SCN_EXPECT_TRACE:
		return expect_trace(r, st);
	case SCN_EXPECT_EXITED:
	case SCN_EXPECT_KILLED:
	case SCN_EXPECT_OUTPUT:
		return command_step(r, st);
	case SCN_EXPECT_NO_LEAKS:
		r->finished = true;
		if (world_finish(&r->w, true, (int)r->timeout_ms) < 0)
			return fail(r, "leak: %s", last_msg());
		return 0;
	}
	return fail(r, "unknown step kind %d", (int)st->kind);
}

/* ---- the run ---- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void scn_result_clear(struct scn_result *res)
{
	free(res->step);
	free(res->message);
	memset(res, 0, sizeof(*res));
}

int scn_run(const struct scn *s, const struct scn_run_opts *o, struct scn_result *res)
{
	struct run r = {.s = s, .o = o, .rate = 1, .timeout_ms = DEFAULT_TIMEOUT_MS};
	struct world_opts wo = {.bindir = o->bindir, .trace_path = o->trace_path, .keep = o->keep};
	double t0 = now_s();
	int rc;

	memset(res, 0, sizeof(*res));
	for (size_t i = 0; i < s->n; i++) {
		const struct scn_step *st = &s->steps[i];
		if (st->kind == SCN_TIME)
			r.rate = st->rate;
		else if (st->kind == SCN_CID_RANGE) {
			wo.cid_lo = st->lo;
			wo.cid_hi = st->hi;
		} else if (st->kind == SCN_TIMEOUT)
			r.timeout_ms = (int64_t)(st->ns / 1000000u) ?: 1;
	}
	wo.rate = r.rate;
	wo.faketime_lib = o->faketime_lib;
	if (r.rate > 1 && (!o->faketime_lib || access(o->faketime_lib, R_OK) < 0)) {
		res->status = SCN_SKIP;
		if (asprintf(&res->message,
			     "needs libfaketime for `time x%" PRIu32 "` and it was not found%s%s "
			     "(Debian package libfaketime; or set AVF_LIBFAKETIME)",
			     r.rate, o->faketime_lib ? " at " : "",
			     o->faketime_lib ? o->faketime_lib : "") < 0)
			res->message = NULL;
		return 0;
	}
	rc = world_start(&r.w, &wo);
	if (rc < 0) {
		res->status = SCN_FAIL;
		if (asprintf(&res->message, "could not start the run: %s", last_msg()) < 0)
			res->message = NULL;
		world_finish(&r.w, false, (int)r.timeout_ms);
		res->seconds = now_s() - t0;
		return 0;
	}
	for (size_t i = 0; i < s->n && !r.fail; i++) {
		const struct scn_step *st = &s->steps[i];
		r.step = st;
		if (o->progress)
			fprintf(o->progress, "  %4u  %s\n", st->line, st->src);
		world_trace(&r.w, "step %u: %s", st->line, st->src);
		if (run_step(&r, st) < 0 && !r.fail)
			fail(&r, "%s", last_msg());
		if (r.fail) {
			res->line = st->line;
			res->step = strdup(st->src);
			/* one trace line: the details (a command's output, say) are in the report */
			if (!r.finished)
				world_trace(&r.w, "FAIL %.*s", (int)strcspn(r.fail, "\n"), r.fail);
		}
		res->steps_run++;
	}
	if (!r.finished) {
		if (!r.fail && o->progress)
			fprintf(o->progress, "  end   (teardown and leak check)\n");
		if (!r.fail)
			world_trace(&r.w, "end: every client leaves; nothing may be left behind");
		rc = world_finish(&r.w, !r.fail, (int)r.timeout_ms);
		if (rc < 0 && !r.fail) {
			fail(&r, "leak at the end of the scenario: %s", last_msg());
			res->line = 0;
		}
	}
	res->status = r.fail ? SCN_FAIL : SCN_PASS;
	res->message = r.fail;
	for (size_t i = 0; i < r.n_vms; i++)
		free(r.vms[i].name);
	free(r.vms);
	res->seconds = now_s() - t0;
	return 0;
}
