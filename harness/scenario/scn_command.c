/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_command: command-line actors of a scenario world. Contract: scn_command.h.
 */
#include "scn_command.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "base/fs_util.h"
#include "scn_world.h"

extern char **environ;

#define OUTPUT_MAX    (64u << 20) /* what a command may print and still be read back */
#define TAIL_LINES    10
#define TAIL_LINE_MAX 200

static int oom(void)
{
	return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
}

static const char *sig_name(int sig, char *buf, size_t len)
{
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev)
		snprintf(buf, len, "SIG%s", abbrev);
	else
		snprintf(buf, len, "signal %d", sig);
	return buf;
}

/* ---- finding the program ---- */

static bool is_program(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* The program @word names: a path (relative to @cwd), else in @bindir, else in PATH. */
static int resolve(const char *bindir, const char *cwd, const char *word, char **ret)
{
	const char *path_env = getenv("PATH");
	char here[PATH_MAX], *p = NULL;

	/* The child runs in @cwd: a path found relative to ours is made absolute. */
	if (!getcwd(here, sizeof(here)))
		return avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "getcwd: %s", strerror(errno));
	if (strchr(word, '/')) {
		if (asprintf(&p, "%s%s%s", word[0] == '/' ? "" : cwd, word[0] == '/' ? "" : "/",
			     word) < 0)
			return oom();
		if (access(p, F_OK) < 0) {
			int e = errno;
			avf_err_set(-e, AVF_EX_ILLEGAL_ARGUMENT, "'%s': %s", p, strerror(e));
			free(p);
			return -e;
		}
		*ret = p;
		return 0;
	}
	if (asprintf(&p, "%s/%s", bindir, word) < 0)
		return oom();
	if (is_program(p)) {
		*ret = p;
		return 0;
	}
	free(p);
	for (const char *d = path_env ? path_env : ""; *d;) {
		size_t n = strcspn(d, ":");

		/* an empty PATH entry means the current directory */
		if (n && *d == '/' ? asprintf(&p, "%.*s/%s", (int)n, d, word) < 0
				   : asprintf(&p, "%s/%.*s/%s", here, (int)n, d, word) < 0)
			return oom();
		if (is_program(p)) {
			*ret = p;
			return 0;
		}
		free(p);
		d += n + (d[n] == ':');
	}
	return avf_err_set(-ENOENT, AVF_EX_ILLEGAL_ARGUMENT,
			   "'%s' is not a program in %s or in PATH", word, bindir);
}

/* ---- starting ---- */

/* An fd >= 3 (so dup2 onto 0-2 in the child always clears O_CLOEXEC), or -errno. */
static int high_fd(int fd)
{
	int n;

	if (fd < 0 || fd > 2)
		return fd < 0 ? -errno : fd;
	n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	n = n < 0 ? -errno : n;
	close(fd);
	return n;
}

static int open_file(const char *path, int flags)
{
	int fd = high_fd(open(path, flags | O_CLOEXEC, 0600));

	if (fd < 0)
		avf_err_set(fd, AVF_EX_SERVICE_SPECIFIC, "%s: %s", path, strerror(-fd));
	return fd;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t k = write(fd, s, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The environment of the command: ours (the world's) with PATH and AVF_VM_RUNDIR set. */
static char **command_env(const char *bindir, const char *rundir, char **ret_path,
			  char **ret_rundir)
{
	const char *old = getenv("PATH");
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	if (asprintf(ret_path, "PATH=%s%s%s", bindir, old && *old ? ":" : "",
		     old && *old ? old : "") < 0)
		*ret_path = NULL;
	if (asprintf(ret_rundir, "AVF_VM_RUNDIR=%s", rundir) < 0)
		*ret_rundir = NULL;
	env = calloc(n + 3, sizeof(*env));
	if (!env || !*ret_path || !*ret_rundir) {
		free(env);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "PATH=", 5) && strncmp(environ[i], "AVF_VM_RUNDIR=", 14))
			env[k++] = environ[i];
	env[k++] = *ret_path;
	env[k++] = *ret_rundir;
	env[k] = NULL;
	return env;
}

/* The child: only async-signal-safe calls from here to exec. */
static void __attribute__((noreturn))
child(const char *path, char *const *argv, char *const *env, const char *cwd, int in, int out,
      int err, int status_fd)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;
	int e;

	/* The runner blocks SIGCHLD and a shell may have ignored SIGINT: a command starts
	 * as from a fresh shell, or `trap ... INT` would not work in a script. */
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Only 0-2 go to the program, whatever the runner inherited; close-on-exec rather
	 * than closed, so @status_fd still reports a failed exec. */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (chdir(cwd) < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		goto fail;
	execve(path, argv, env);
fail:
	e = errno;
	if (write(status_fd, &e, sizeof(e)) < 0) {
		/* nothing to do: the parent then sees exit status 127 */
	}
	_exit(127);
}

static struct world_command *add_command(struct world *w, const char *name)
{
	struct world_command *n = realloc(w->commands, (w->n_commands + 1) * sizeof(*n));

	if (!n)
		return NULL;
	w->commands = n;
	n = &w->commands[w->n_commands];
	memset(n, 0, sizeof(*n));
	if (!(n->name = strdup(name)) ||
	    asprintf(&n->out_path, "%s/cmd-%s.stdout", w->dir, name) < 0 ||
	    asprintf(&n->err_path, "%s/cmd-%s.stderr", w->dir, name) < 0) {
		free(n->name);
		return NULL;
	}
	w->n_commands++;
	return n;
}

int world_command_start(struct world *w, const char *name, char *const *argv, size_t argc,
			const char *input, const char *cwd)
{
	char *path = NULL, *env_path = NULL, *env_rundir = NULL, **env = NULL, **args = NULL;
	char rundir[PATH_MAX], in_path[PATH_MAX];
	int in = -1, out = -1, err = -1, sp[2] = {-1, -1}, r, e = 0;
	struct world_command *c;
	pid_t pid;

	if (world_command(w, name))
		return avf_err_set(-EEXIST, AVF_EX_ILLEGAL_STATE, "command %s was started already",
				   name);
	if (!(c = add_command(w, name)))
		return oom();
	if ((r = resolve(w->o.bindir, cwd, argv[0], &path)) < 0)
		goto out;
	snprintf(rundir, sizeof(rundir), "%s/vm-run", w->dir);
	if (!(env = command_env(w->o.bindir, rundir, &env_path, &env_rundir)) ||
	    !(args = calloc(argc + 1, sizeof(*args)))) {
		r = oom();
		goto out;
	}
	memcpy(args, argv, argc * sizeof(*args));
	if (input) {
		snprintf(in_path, sizeof(in_path), "%s/cmd-%s.stdin", w->dir, name);
		if ((in = open_file(in_path, O_RDWR | O_CREAT | O_TRUNC)) < 0) {
			r = in;
			goto out;
		}
		if ((r = write_all(in, input, strlen(input))) < 0 || lseek(in, 0, SEEK_SET) < 0) {
			r = avf_err_set(r < 0 ? r : -errno, AVF_EX_SERVICE_SPECIFIC, "%s: %s",
					in_path, strerror(r < 0 ? -r : errno));
			goto out;
		}
	} else if ((in = open_file("/dev/null", O_RDONLY)) < 0) {
		r = in;
		goto out;
	}
	if ((out = open_file(c->out_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND)) < 0 ||
	    (err = open_file(c->err_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND)) < 0) {
		r = out < 0 ? out : err;
		goto out;
	}
	/* Watched before the process exists, so no write can go unnoticed. */
	if (inotify_add_watch(w->ino_fd, c->out_path, IN_MODIFY) < 0 ||
	    inotify_add_watch(w->ino_fd, c->err_path, IN_MODIFY) < 0) {
		r = avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "inotify: %s", strerror(errno));
		goto out;
	}
	if (pipe2(sp, O_CLOEXEC) < 0 || (sp[0] = high_fd(sp[0])) < 0 ||
	    (sp[1] = high_fd(sp[1])) < 0) {
		r = avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "pipe: %s", strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		child(path, args, env, cwd, in, out, err, sp[1]);
	close(sp[1]);
	sp[1] = -1;
	/* EOF: the exec happened (the pipe was close-on-exec); an int: why it did not. */
	for (;;) {
		ssize_t k = read(sp[0], &e, sizeof(e));
		if (k < 0 && errno == EINTR)
			continue;
		if (k != (ssize_t)sizeof(e))
			e = 0;
		break;
	}
	c->pid = pid;
	world_note_pid(w, pid);
	if (e) {
		/* it _exits at once: reap it here, it never ran */
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		r = avf_err_set(-e, AVF_EX_ILLEGAL_ARGUMENT, "cannot run '%s': %s", path,
				strerror(e));
		goto out;
	}
	world_trace(w, "@actor %d command %s", (int)pid, name);
	r = 0;
out:
	/* nothing ran: there is no exit to wait for or to trace */
	if (r < 0)
		c->reaped = c->told = true;
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (err >= 0)
		close(err);
	free(path);
	free(env_path);
	free(env_rundir);
	free(env);
	free(args);
	return r;
}

struct world_command *world_command(struct world *w, const char *name)
{
	for (size_t i = 0; i < w->n_commands; i++)
		if (!strcmp(w->commands[i].name, name))
			return &w->commands[i];
	return NULL;
}

int world_command_signal(struct world *w, struct world_command *c, int sig)
{
	char how[64];

	world_poll(w);
	if (c->reaped) {
		world_command_describe(c, how, sizeof(how));
		return avf_err_set(-ESRCH, AVF_EX_ILLEGAL_STATE,
				   "command %s has already exited (it %s)", c->name, how);
	}
	if (kill(c->pid, sig) < 0)
		return avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "kill %d: %s", (int)c->pid,
				   strerror(errno));
	return 0;
}

/* ---- ending ---- */

/* The running (not zombie) children of the runner. */
static size_t runner_children(pid_t *out, size_t max)
{
	pid_t self = getpid();
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir("/proc");

	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max) {
		char path[64], buf[512], *p, state;
		int ppid, fd;
		ssize_t k;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		k = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (k <= 0)
			continue;
		buf[k] = '\0';
		/* "pid (comm) S ppid ...": comm may hold anything, so from the last ')' */
		if (!(p = strrchr(buf, ')')) || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
			continue;
		if (ppid == self && state != 'Z' && state != 'X')
			out[n++] = (pid_t)atoi(de->d_name);
	}
	closedir(d);
	return n;
}

static bool seen(const struct world *w, pid_t pid)
{
	for (size_t i = 0; i < w->n_seen; i++)
		if (w->seen[i] == pid)
			return true;
	return false;
}

bool world_command_reaped(struct world *w, pid_t pid, int status)
{
	for (size_t i = 0; i < w->n_commands; i++) {
		struct world_command *c = &w->commands[i];
		pid_t kids[256];
		size_t n;

		if (c->pid != pid || c->reaped)
			continue;
		c->reaped = true;
		c->status = status;
		/* What it left running came back to us when it exited: remember it as part of
		 * the run, so the end waits for it and can say whose it was. */
		n = runner_children(kids, 256);
		for (size_t k = 0; k < n; k++) {
			pid_t *o;

			if (seen(w, kids[k]))
				continue;
			world_note_pid(w, kids[k]);
			o = realloc(c->orphans, (c->n_orphans + 1) * sizeof(*o));
			if (!o)
				continue; /* only the report gets poorer */
			c->orphans = o;
			c->orphans[c->n_orphans++] = kids[k];
		}
		return true;
	}
	return false;
}

const struct world_command *world_command_orphan_of(const struct world *w, pid_t pid)
{
	for (size_t i = 0; i < w->n_commands; i++)
		for (size_t k = 0; k < w->commands[i].n_orphans; k++)
			if (w->commands[i].orphans[k] == pid)
				return &w->commands[i];
	return NULL;
}

void world_command_describe(const struct world_command *c, char *buf, size_t len)
{
	char sig[32];

	if (!c->reaped)
		snprintf(buf, len, "is still running");
	else if (WIFSIGNALED(c->status))
		snprintf(buf, len, "was killed by %s",
			 sig_name(WTERMSIG(c->status), sig, sizeof(sig)));
	else
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(c->status));
}

/* Trace the exit once: where a step learns it, so its place in the trace is stable. */
static void tell_exit(struct world *w, struct world_command *c)
{
	if (!c->reaped || c->told)
		return;
	c->told = true;
	if (WIFSIGNALED(c->status))
		world_trace(w, "command %s (pid %d) exited: signal %d", c->name, (int)c->pid,
			    WTERMSIG(c->status));
	else
		world_trace(w, "command %s (pid %d) exited: status %d", c->name, (int)c->pid,
			    WEXITSTATUS(c->status));
}

static int pred_reaped(struct world *w, void *data)
{
	(void)w;
	return ((struct world_command *)data)->reaped;
}

int world_command_wait_exit(struct world *w, struct world_command *c, int64_t timeout_ms)
{
	int r = world_wait(w, timeout_ms, pred_reaped, c);

	tell_exit(w, c);
	return r;
}

/* ---- output ---- */

int world_command_output(const struct world_command *c, int stream, char **ret, size_t *ret_len)
{
	const char *path = stream == COMMAND_STDERR ? c->err_path : c->out_path;
	int r = fs_read_file(AT_FDCWD, path, OUTPUT_MAX, ret, ret_len);

	if (r < 0)
		return avf_err_set(r, AVF_EX_SERVICE_SPECIFIC, "%s: %s", path, strerror(-r));
	return 0;
}

struct line_pred {
	struct world_command *c;
	int stream;
	const char *text;
	bool found;
};

static int pred_line(struct world *w, void *data)
{
	struct line_pred *p = data;
	bool ended = p->c->reaped; /* read before the output: then it is all there */
	size_t len, tl = strlen(p->text);
	char *buf;

	(void)w;
	if (world_command_output(p->c, p->stream, &buf, &len) < 0)
		return -EIO;
	for (const char *s = buf, *end = buf + len; s < end;) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));

		if (!nl && !ended)
			break; /* an incomplete line: it may still grow */
		const char *e = nl ? nl : end;
		if (memmem(s, (size_t)(e - s), p->text, tl)) {
			p->found = true;
			break;
		}
		s = e + 1;
	}
	free(buf);
	if (p->found)
		return 1;
	return ended ? avf_err_set(-ESRCH, AVF_EX_ILLEGAL_STATE, "command %s exited", p->c->name)
		     : 0;
}

int world_command_wait_line(struct world *w, struct world_command *c, int stream, const char *text,
			    int64_t timeout_ms)
{
	struct line_pred p = {.c = c, .stream = stream, .text = text};

	world_wait(w, timeout_ms, pred_line, &p);
	return p.found;
}

/* The last TAIL_LINES lines of @stream, each "      | line", control bytes as '?'. */
static void tail(FILE *f, const struct world_command *c, int stream)
{
	const char *what = stream == COMMAND_STDERR ? "stderr" : "stdout";
	size_t len, n = 0;
	const char *from;
	char *buf;

	if (world_command_output(c, stream, &buf, &len) < 0) {
		fprintf(f, "\n    %s: (cannot read it: %s)", what, avf_err_last()->msg);
		return;
	}
	if (!len) {
		fprintf(f, "\n    %s: (empty)", what);
		free(buf);
		return;
	}
	/* back from the end over TAIL_LINES lines (a final newline ends the last one) */
	from = buf + len - (buf[len - 1] == '\n');
	while (from > buf && n < TAIL_LINES) {
		from--;
		if (*from == '\n' && ++n == TAIL_LINES) {
			from++;
			break;
		}
	}
	fprintf(f, "\n    %s%s:", what, from > buf ? " (last lines)" : "");
	for (const char *s = from, *end = buf + len; s < end;) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t ll = (size_t)((nl ? nl : end) - s);

		fputs("\n      | ", f);
		for (size_t i = 0; i < ll && i < TAIL_LINE_MAX; i++)
			fputc((unsigned char)s[i] < 0x20 && s[i] != '\t' ? '?' : s[i], f);
		if (ll > TAIL_LINE_MAX)
			fputs("...", f);
		s += ll + 1;
	}
	if (buf[len - 1] != '\n')
		fputs(" (no newline at the end)", f);
	free(buf);
}

char *world_command_report(const struct world_command *c)
{
	char *out = NULL, how[96];
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	world_command_describe(c, how, sizeof(how));
	fprintf(f, "\n    command %s (pid %d) %s", c->name, (int)c->pid, how);
	tail(f, c, COMMAND_STDOUT);
	tail(f, c, COMMAND_STDERR);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* ---- the end of the run ---- */

static int pred_all_reaped(struct world *w, void *data)
{
	(void)data;
	for (size_t i = 0; i < w->n_commands; i++)
		if (!w->commands[i].reaped)
			return 0;
	return 1;
}

int world_commands_finish(struct world *w, int timeout_ms)
{
	struct avf_error saved;
	int first = 0;

	world_poll(w);
	for (size_t i = 0; i < w->n_commands; i++) {
		struct world_command *c = &w->commands[i];

		if (c->reaped)
			continue;
		if (!first) {
			first = avf_err_set(-EBUSY, AVF_EX_ILLEGAL_STATE,
					    "command %s still running (wait for its end with "
					    "`expect %s exited CODE`)",
					    c->name, c->name);
			saved = *avf_err_last();
		}
		kill(c->pid, SIGKILL);
	}
	if (world_wait(w, timeout_ms, pred_all_reaped, NULL) < 0 && !first) {
		first = avf_err_set(-ETIMEDOUT, AVF_EX_ILLEGAL_STATE,
				    "a command did not die of SIGKILL");
		saved = *avf_err_last();
	}
	for (size_t i = 0; i < w->n_commands; i++)
		tell_exit(w, &w->commands[i]);
	return first ? avf_err_restore(&saved) : 0;
}

struct unknown {
	pid_t pids[256];
	size_t n;
};

static int pred_no_unknown(struct world *w, void *data)
{
	struct unknown *u = data;
	pid_t kids[256];
	size_t n = runner_children(kids, 256);

	u->n = 0;
	for (size_t i = 0; i < n; i++)
		if (!seen(w, kids[i]))
			u->pids[u->n++] = kids[i];
	return u->n == 0;
}

static void cmdline(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, len - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	for (ssize_t i = 0; i + 1 < n; i++)
		if (!buf[i])
			buf[i] = ' ';
}

int world_commands_check_left(struct world *w, int timeout_ms)
{
	struct avf_error saved;
	struct unknown u = {0};
	char dir[PATH_MAX + 16];
	int first = 0;
	DIR *d;

	/* A process of the run that no one named: what a command's processes started and
	 * left behind (theirs came back to the subreaper runner). It may be on its way
	 * out: give it the deadline. */
	if (world_wait(w, timeout_ms, pred_no_unknown, &u) < 0) {
		char cmd[256];

		cmdline(u.pids[0], cmd, sizeof(cmd));
		first = avf_err_set(-EBUSY, AVF_EX_ILLEGAL_STATE,
				    "an unknown process %d (%s) of the run is still running",
				    (int)u.pids[0], cmd);
		saved = *avf_err_last();
		/* kill, wait, again: the children of a killed one come back to us */
		for (int round = 0; round < 16 && u.n; round++) {
			for (size_t i = 0; i < u.n; i++) {
				world_note_pid(w, u.pids[i]);
				kill(u.pids[i], SIGKILL);
			}
			world_wait(w, timeout_ms, pred_no_unknown, &u);
		}
	}
	/* The `vm` tool keeps detached VMs' control sockets here: all gone by now. */
	snprintf(dir, sizeof(dir), "%s/vm-run", w->dir);
	if ((d = opendir(dir))) {
		struct dirent *de;

		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
				if (!first) {
					first = avf_err_set(-EEXIST, AVF_EX_ILLEGAL_STATE,
							    "'%s' left in the vm-run dir "
							    "(AVF_VM_RUNDIR)",
							    de->d_name);
					saved = *avf_err_last();
				}
				break;
			}
		closedir(d);
	}
	return first ? avf_err_restore(&saved) : 0;
}

void world_commands_free(struct world *w)
{
	for (size_t i = 0; i < w->n_commands; i++) {
		free(w->commands[i].name);
		free(w->commands[i].out_path);
		free(w->commands[i].err_path);
		free(w->commands[i].orphans);
	}
	free(w->commands);
	w->commands = NULL;
	w->n_commands = 0;
}
