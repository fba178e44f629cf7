/* SPDX-License-Identifier: Apache-2.0 */
#include "scn_world.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "base/mono_time.h"
#include "base/fs_util.h"
#include "trace/trace.h"
#include "trace/trace_file.h"

#define VS_READY_MS 10000

static int count_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if (!(d = opendir(path)))
		return -errno;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return pid == getpid() ? n - 1 : n; /* our own count includes the DIR's fd */
}

void world_trace(struct world *w, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	trace_emitf(w->tr, "scenario", "%s", text);
}

void world_note_pid(struct world *w, pid_t pid)
{
	pid_t *n;

	if (pid <= 0)
		return;
	for (size_t i = 0; i < w->n_seen; i++)
		if (w->seen[i] == pid)
			return;
	n = realloc(w->seen, (w->n_seen + 1) * sizeof(*n));
	if (!n)
		return; /* only the leak report gets poorer */
	w->seen = n;
	w->seen[w->n_seen++] = pid;
}

bool world_pid_exited(pid_t pid)
{
	char path[64], buf[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')'. */
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* Reap every child that has exited: ours (agents, the service) and orphans. */
static void reap_all(struct world *w)
{
	struct signalfd_siginfo si;
	int st;
	pid_t pid;

	while (read(w->sig_fd, &si, sizeof(si)) == sizeof(si))
		;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		char how[64];

		/* Exit lines name the pid, so the normal form files each under its process. */
		if (WIFSIGNALED(st))
			snprintf(how, sizeof(how), "signal %d", WTERMSIG(st));
		else
			snprintf(how, sizeof(how), "status %d", WEXITSTATUS(st));
		if (pid == w->vs.pid) {
			world_trace(w, "virtualizationservice (pid %d) exited: %s", (int)pid, how);
			w->vs.pid = 0;
			w->vs_status = st;
			w->vs_exited = true;
			if (w->vs_pidfd >= 0)
				close(w->vs_pidfd);
			w->vs_pidfd = -1;
			continue;
		}
		/* a command's exit is traced by the step that waits for it (scn_command.h) */
		if (world_command_reaped(w, pid, st))
			continue;
		for (size_t i = 0; i < w->n_clients; i++)
			if (w->clients[i].ag.pid == pid) {
				world_trace(w, "client %s (pid %d) exited: %s", w->clients[i].name,
					    (int)pid, how);
				w->clients[i].ag.pid = 0;
				w->clients[i].dead = true;
			}
	}
}

void world_poll(struct world *w)
{
	char buf[4096];

	while (read(w->ino_fd, buf, sizeof(buf)) > 0)
		;
	reap_all(w);
	scn_trace_update(w->tv);
	/* VMM pids are learned from the trace: remember them for the final check. */
	for (size_t i = w->tv_scanned; i < scn_trace_count(w->tv); i++) {
		const struct scn_trace_rec *r = scn_trace_at(w->tv, i);
		const char *p = r->text ? strstr(r->text, "VMM started (pid ") : NULL;
		if (p)
			world_note_pid(w, (pid_t)atoi(p + strlen("VMM started (pid ")));
	}
	w->tv_scanned = scn_trace_count(w->tv);
}

int world_wait(struct world *w, int64_t timeout_ms, world_pred_fn pred, void *data)
{
	int64_t deadline = mono_ms() + timeout_ms;

	for (;;) {
		struct pollfd p[3 + 2 * 64];
		nfds_t n = 0;
		int r;

		world_poll(w);
		r = pred(w, data);
		if (r != 0)
			return r < 0 ? r : 0;
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return avf_err_set(-ETIMEDOUT, AVF_EX_SERVICE_SPECIFIC,
					   "not within %" PRId64 " ms", timeout_ms);
		p[n++] = (struct pollfd){.fd = w->ino_fd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = w->sig_fd, .events = POLLIN};
		for (size_t i = 0; i < w->n_clients && n + 2 <= sizeof(p) / sizeof(p[0]); i++) {
			const struct scn_agent *ag = &w->clients[i].ag;
			if (ag->virtmgr_pidfd >= 0 && !w->clients[i].virtmgr_gone)
				p[n++] = (struct pollfd){.fd = ag->virtmgr_pidfd, .events = POLLIN};
		}
		/* Capped at 1 s: under valgrind there are no pidfds, and a virtmgr's exit
		 * then shows only as a /proc check; everything else wakes us itself. */
		if (poll(p, n, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR)
			return avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "poll: %s", strerror(errno));
		for (nfds_t i = 2; i < n; i++)
			if (p[i].revents)
				for (size_t c = 0; c < w->n_clients; c++)
					if (w->clients[c].ag.virtmgr_pidfd == p[i].fd)
						w->clients[c].virtmgr_gone = true;
	}
}

/* ---- virtualizationservice ---- */

static int start_vs(struct world *w)
{
	char path[PATH_MAX], range[48];
	const char *extra[3] = {NULL};
	int r;

	if (w->o.cid_lo) {
		snprintf(range, sizeof(range), "%" PRIu32 "-%" PRIu32, w->o.cid_lo, w->o.cid_hi);
		extra[0] = "--cid-range";
		extra[1] = range;
	}
	snprintf(path, sizeof(path), "%s/virtualizationservice", w->o.bindir);
	/* Its stderr (start-up notes, say) goes to <run>/vs.stderr, not into reports. */
	char errpath[PATH_MAX];
	snprintf(errpath, sizeof(errpath), "%s/vs.stderr", w->dir);
	int efd = open(errpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	int saved = efd >= 0 ? fcntl(2, F_DUPFD_CLOEXEC, 3) : -1;
	if (saved >= 0)
		dup2(efd, 2);
	r = vs_process_start_args(path, w->dir, extra, VS_READY_MS, &w->vs);
	if (saved >= 0) {
		dup2(saved, 2);
		close(saved);
	}
	if (efd >= 0)
		close(efd);
	if (r < 0) {
		/* What it said on its way out is the useful part. */
		char said[512] = "";
		int fd = open(errpath, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, said, sizeof(said) - 1) : 0;
		if (fd >= 0)
			close(fd);
		said[n > 0 ? n : 0] = '\0';
		/* its last line: start-up notes come first, the reason it gave up last */
		size_t len = strlen(said);
		while (len && said[len - 1] == '\n')
			said[--len] = '\0';
		char *last = strrchr(said, '\n');
		if (last)
			memmove(said, last + 1, strlen(last + 1) + 1);
		if (*said) {
			struct avf_error e = *avf_err_last();
			return avf_err_set(e.err, e.ex, "virtualizationservice: %s (it said: %s)",
					   e.msg, said);
		}
		return avf_err_prefix("virtualizationservice");
	}
	w->vs_exited = false;
	w->vs_pidfd = (int)syscall(SYS_pidfd_open, w->vs.pid, 0);
	world_note_pid(w, w->vs.pid);
	world_trace(w, "@actor %d virtualizationservice", (int)w->vs.pid);
	w->vs_fds_baseline = count_fds(w->vs.pid);
	return 0;
}

static int pred_vs_gone(struct world *w, void *data)
{
	(void)data;
	return w->vs.pid == 0;
}

int world_kill_vs(struct world *w, int sig, int timeout_ms)
{
	if (w->vs.pid <= 0)
		return avf_err_set(-ESRCH, AVF_EX_ILLEGAL_STATE, "virtualizationservice is not running");
	kill(w->vs.pid, sig);
	return world_wait(w, timeout_ms, pred_vs_gone, NULL);
}

int world_restart_vs(struct world *w, int timeout_ms)
{
	int r;

	if (w->vs.pid > 0 && (r = world_kill_vs(w, SIGTERM, timeout_ms)) < 0)
		return r;
	return start_vs(w);
}

/* ---- clients ---- */

int world_add_client(struct world *w, const char *name, int timeout_ms)
{
	struct world_client *n = realloc(w->clients, (w->n_clients + 1) * sizeof(*n)), *c;
	int r;

	if (!n)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	w->clients = n;
	c = &w->clients[w->n_clients];
	memset(c, 0, sizeof(*c));
	if (!(c->name = strdup(name)))
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	r = scn_agent_start(name, timeout_ms, &c->ag);
	if (r < 0) {
		free(c->name);
		return r;
	}
	w->n_clients++;
	world_note_pid(w, c->ag.pid);
	world_note_pid(w, c->ag.virtmgr_pid);
	world_trace(w, "@actor %d client %s", (int)c->ag.pid, name);
	world_trace(w, "@actor %d virtmgr %s", (int)c->ag.virtmgr_pid, name);
	return 0;
}

struct world_client *world_client(struct world *w, const char *name)
{
	for (size_t i = 0; i < w->n_clients; i++)
		if (!strcmp(w->clients[i].name, name))
			return &w->clients[i];
	return NULL;
}

static int pred_client_reaped(struct world *w, void *data)
{
	(void)w;
	return ((struct world_client *)data)->ag.pid == 0;
}

int world_kill_client(struct world *w, struct world_client *c, int sig, int timeout_ms)
{
	if (c->ag.pid <= 0)
		return avf_err_set(-ESRCH, AVF_EX_ILLEGAL_STATE, "client %s is not running", c->name);
	kill(c->ag.pid, sig);
	int r = world_wait(w, timeout_ms, pred_client_reaped, c);
	scn_agent_close(&c->ag);
	c->dead = true;
	return r;
}

pid_t world_vmm_pid(struct world *w, uint32_t cid)
{
	char want[64];
	pid_t pid = 0;

	snprintf(want, sizeof(want), "vmm:%" PRIu32 " VMM started (pid ", cid);
	world_poll(w);
	for (size_t i = 0; i < scn_trace_count(w->tv); i++) {
		const struct scn_trace_rec *r = scn_trace_at(w->tv, i);
		if (r->line && !strncmp(r->line, want, strlen(want)))
			pid = (pid_t)atoi(r->line + strlen(want));
	}
	return pid;
}

/* ---- start ---- */

int world_start(struct world *w, const struct world_opts *o)
{
	char path[PATH_MAX + 32], rate[32];
	sigset_t chld;
	int r;

	memset(w, 0, sizeof(*w));
	w->o = *o;
	/* Children get paths into it; a command does not start in our directory. */
	if (!realpath(o->bindir, w->bindir))
		snprintf(w->bindir, sizeof(w->bindir), "%s", o->bindir);
	w->o.bindir = w->bindir;
	w->ino_fd = w->sig_fd = w->vs_pidfd = -1;
	w->runner_fds_baseline = count_fds(getpid());
	/* Orphans of the run come back to us, so "nothing left running" is checkable. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	w->sig_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	snprintf(w->dir, sizeof(w->dir), "%s/avf-scn-XXXXXX",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(w->dir))
		return avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "mkdtemp: %s", strerror(errno));
	int tfd = open(o->trace_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (tfd < 0)
		return avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "%s: %s", o->trace_path,
				   strerror(errno));
	close(tfd);
	if ((r = trace_file_open(o->trace_path, &w->tf)) < 0)
		return r;
	w->tr = trace_file_trace(w->tf);
	if ((r = scn_trace_open(o->trace_path, &w->tv)) < 0)
		return r;
	w->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (w->ino_fd < 0 || inotify_add_watch(w->ino_fd, o->trace_path, IN_MODIFY) < 0)
		return avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "inotify: %s", strerror(errno));

	/* Everything the children need comes through the environment (docs/virtmgr.md). */
	snprintf(path, sizeof(path), "%s/vs.sock", w->dir);
	setenv("AVF_VS_SOCKET", path, 1);
	setenv("AVF_BACKEND", "fake", 1);
	snprintf(path, sizeof(path), "%s/fakevmm", w->o.bindir);
	setenv("AVF_FAKEVMM", path, 1);
	snprintf(path, sizeof(path), "%s/virtmgr", w->o.bindir);
	setenv("AVF_VIRTMGR", path, 1);
	setenv(TRACE_FILE_ENV, o->trace_path, 1);
	if (o->rate > 1) {
		/* Only exec'd children load the preload: the runner and its agents keep
		 * real time, so deadlines stay real while the services' 30 s pass fast. */
		snprintf(rate, sizeof(rate), "+0 x%" PRIu32, o->rate);
		setenv("LD_PRELOAD", o->faketime_lib, 1);
		setenv("FAKETIME", rate, 1);
		/* ASan builds insist on their runtime coming first; a preload breaks that
		 * harmlessly here (libfaketime only wraps clock and timed-wait calls). */
		const char *asan = getenv("ASAN_OPTIONS");
		char opts[1024];

		w->saved_asan = asan ? strdup(asan) : NULL;
		snprintf(opts, sizeof(opts), "%s%sverify_asan_link_order=0", asan ? asan : "",
			 asan && *asan ? ":" : "");
		setenv("ASAN_OPTIONS", opts, 1);
		w->set_asan = true;
	}
	/* The `vm` tool's detached VMs keep their control sockets here (AVF_VM_RUNDIR). */
	snprintf(path, sizeof(path), "%s/vm-run", w->dir);
	if (mkdir(path, 0700) < 0)
		return avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "%s: %s", path, strerror(errno));
	world_trace(w, "@run %s", w->dir);
	world_trace(w, "@actor %d scenario", (int)getpid());
	return start_vs(w);
}

/* ---- the end ---- */

struct vs_books {
	size_t granted, conns;
	char first[128];
};

/* CIDs granted and connections open at the current virtualizationservice, as its
 * own trace lines tell (counted from its latest "started"). */
static void vs_books(struct world *w, struct vs_books *b)
{
	uint32_t cids[4096];
	size_t n = 0;

	memset(b, 0, sizeof(*b));
	for (size_t i = 0; i < scn_trace_count(w->tv); i++) {
		const struct scn_trace_rec *r = scn_trace_at(w->tv, i);
		char word[16];
		uint32_t cid;
		if (!r->label || strcmp(r->label, "virtualizationservice") || !r->text)
			continue;
		if (!strncmp(r->text, "started (", 9)) {
			n = 0;
			b->conns = 0;
		} else if (sscanf(r->text, "cid %" SCNu32 " %15s", &cid, word) == 2) {
			if (!strcmp(word, "granted") || !strcmp(word, "claimed")) {
				if (n < 4096)
					cids[n++] = cid;
			} else if (!strcmp(word, "released")) {
				for (size_t k = 0; k < n; k++)
					if (cids[k] == cid) {
						cids[k] = cids[--n];
						break;
					}
			}
		} else if (strstr(r->text, "connection ") == r->text) {
			if (strstr(r->text, " opened"))
				b->conns++;
			else if (strstr(r->text, " closed") && b->conns)
				b->conns--;
		}
	}
	b->granted = n;
	if (n)
		snprintf(b->first, sizeof(b->first), "%" PRIu32, cids[0]);
}

static int pred_clients_gone(struct world *w, void *data)
{
	(void)data;
	for (size_t i = 0; i < w->n_clients; i++)
		if (w->clients[i].ag.pid > 0)
			return 0;
	return 1;
}

/* Every process of the run but the service has exited (and been reaped if ours). */
static int pred_all_exited(struct world *w, void *data)
{
	(void)data;
	for (size_t i = 0; i < w->n_seen; i++)
		if (w->seen[i] != w->vs.pid && !world_pid_exited(w->seen[i]))
			return 0;
	return 1;
}

static int pred_vs_quiet(struct world *w, void *data)
{
	struct vs_books b;

	(void)data;
	if (w->vs.pid <= 0)
		return 1;
	vs_books(w, &b);
	return b.granted == 0 && b.conns == 0;
}

static int leak(int *first, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int leak(int *first, int err, const char *fmt, ...)
{
	va_list ap;

	if (*first < 0)
		return *first; /* report the first only */
	va_start(ap, fmt);
	*first = avf_err_setv(err, AVF_EX_ILLEGAL_STATE, fmt, ap);
	va_end(ap);
	return *first;
}

/* The leak avf_err already describes. */
static void leak_last(int *first, int err)
{
	char msg[AVF_ERR_MSG_MAX];

	snprintf(msg, sizeof(msg), "%s", avf_err_last()->msg);
	leak(first, err, "%s", msg);
}

static void describe_pid(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	buf[0] = '\0';
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, len - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	for (ssize_t i = 0; i + 1 < n; i++)
		if (!buf[i])
			buf[i] = ' ';
}

int world_finish(struct world *w, bool check, int timeout_ms)
{
	int first = 0, r;
	char *reply;

	if (w->sig_fd < 0 && !w->tv)
		return 0; /* never started */
	/* 0. A command still running is the scenario's mistake: it is killed. */
	if ((r = world_commands_finish(w, timeout_ms)) < 0)
		leak_last(&first, r);
	/* 1. Every client leaves the way a program does: drop, disconnect, exit. */
	for (size_t i = 0; i < w->n_clients; i++) {
		struct world_client *c = &w->clients[i];
		if (c->ag.pid > 0 && c->ag.sock >= 0 &&
		    scn_agent_call(&c->ag, "exit", timeout_ms, &reply) == 0)
			free(reply);
		else if (c->ag.pid > 0)
			kill(c->ag.pid, SIGKILL);
		scn_agent_close(&c->ag);
	}
	if (world_wait(w, timeout_ms, pred_clients_gone, NULL) < 0) {
		leak(&first, -ETIMEDOUT, "a client process did not exit");
		for (size_t i = 0; i < w->n_clients; i++)
			if (w->clients[i].ag.pid > 0)
				kill(w->clients[i].ag.pid, SIGKILL);
	}
	/* 2. Their virtmgrs and VMMs are gone. */
	if (world_wait(w, timeout_ms, pred_all_exited, NULL) < 0) {
		for (size_t i = 0; i < w->n_seen; i++)
			if (w->seen[i] != w->vs.pid && !world_pid_exited(w->seen[i])) {
				const struct world_command *c = world_command_orphan_of(w, w->seen[i]);
				char cmd[256];
				describe_pid(w->seen[i], cmd, sizeof(cmd));
				if (c)
					leak(&first, -EBUSY,
					     "process %d (%s), left by command %s, still running",
					     (int)w->seen[i], cmd, c->name);
				else
					leak(&first, -EBUSY,
					     "process %d (%s) still running after its client left",
					     (int)w->seen[i], cmd);
				kill(w->seen[i], SIGKILL);
			}
		world_wait(w, timeout_ms, pred_all_exited, NULL);
	}
	/* ... and nothing no one named (a command's processes' children), nor what the
	 * `vm` tool keeps for detached VMs. */
	if ((r = world_commands_check_left(w, timeout_ms)) < 0)
		leak_last(&first, r);
	/* 3. The service released everything, closed every connection, and its fds,
	 * CIDs and temp dirs are back where they started. */
	if (w->vs.pid > 0) {
		struct vs_books b;
		if (world_wait(w, timeout_ms, pred_vs_quiet, NULL) < 0) {
			vs_books(w, &b);
			if (b.granted)
				leak(&first, -EBUSY, "virtualizationservice still grants %zu CID(s) (cid %s)",
				     b.granted, b.first);
			else
				leak(&first, -EBUSY, "virtualizationservice still has %zu connection(s)",
				     b.conns);
		}
		int fds = count_fds(w->vs.pid);
		if (fds != w->vs_fds_baseline)
			leak(&first, -EMFILE, "virtualizationservice has %d fds, %d when it started",
			     fds, w->vs_fds_baseline);
		/* Per-VM temp dirs live in <state>/vm (core/service/vs_registry.c). */
		char vmdir[PATH_MAX + 8];
		snprintf(vmdir, sizeof(vmdir), "%s/vm", w->vs.state);
		int left = fs_count_entries(vmdir);
		if (left != 0)
			leak(&first, -EEXIST, "%d temp dir(s) left in %s", left, vmdir);
		kill(w->vs.pid, SIGTERM);
		if (world_wait(w, timeout_ms, pred_vs_gone, NULL) < 0) {
			leak(&first, -ETIMEDOUT, "virtualizationservice did not stop on SIGTERM");
			kill(w->vs.pid, SIGKILL);
			world_wait(w, timeout_ms, pred_vs_gone, NULL);
		} else if (!WIFEXITED(w->vs_status) || WEXITSTATUS(w->vs_status) != 0) {
			leak(&first, -ECHILD, "virtualizationservice exited with wait status 0x%x",
			     w->vs_status);
		}
	}
	/* 4. Nothing else of the run is left: any child now is a leak. */
	siginfo_t si = {0};
	while (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) == 0 && si.si_pid > 0) {
		leak(&first, -EBUSY, "an unknown process (%d) of the run was left", (int)si.si_pid);
		memset(&si, 0, sizeof(si));
	}
	if (!check)
		first = 0;
	r = first;
	/* 5. Our own resources. */
	for (size_t i = 0; i < w->n_clients; i++)
		free(w->clients[i].name);
	free(w->clients);
	world_commands_free(w);
	free(w->seen);
	w->clients = NULL;
	w->seen = NULL;
	w->n_clients = w->n_seen = 0;
	w->tv = scn_trace_free(w->tv);
	w->tf = trace_file_close(w->tf);
	if (w->ino_fd >= 0)
		close(w->ino_fd);
	if (w->sig_fd >= 0)
		close(w->sig_fd);
	if (w->vs_pidfd >= 0)
		close(w->vs_pidfd);
	w->ino_fd = w->sig_fd = w->vs_pidfd = -1;
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_UNBLOCK, &chld, NULL);
	unsetenv("LD_PRELOAD");
	unsetenv("FAKETIME");
	if (w->set_asan) { /* ours was only for this run's children */
		if (w->saved_asan)
			setenv("ASAN_OPTIONS", w->saved_asan, 1);
		else
			unsetenv("ASAN_OPTIONS");
		free(w->saved_asan);
		w->saved_asan = NULL;
		w->set_asan = false;
	}
	if (!w->o.keep && fs_remove_tree(w->dir) < 0 && r == 0 && check)
		r = avf_err_set(-EIO, AVF_EX_SERVICE_SPECIFIC, "cannot remove %s", w->dir);
	int fds = count_fds(getpid());
	if (check && r == 0 && fds != w->runner_fds_baseline)
		r = avf_err_set(-EMFILE, AVF_EX_ILLEGAL_STATE,
				"the runner has %d fds, %d before the scenario", fds,
				w->runner_fds_baseline);
	return r;
}
