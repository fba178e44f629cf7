/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_command: the `command NAME: WORD...` actor of a scenario, a command line run as
 * a user would run it in a shell (the `vm` tool, or any program), as part of a world.
 *
 * Starting. argv[0] without a '/' is looked up in the world's bindir, then in PATH;
 * with one it is a path (relative to @cwd, the .scn file's folder). The process is
 * our child, in our process group, with the signal mask and dispositions reset, in
 * @cwd, with the world's environment (AVF_VS_SOCKET, AVF_VIRTMGR, AVF_FAKEVMM,
 * AVF_BACKEND, AVF_TRACE_FILE, the libfaketime preload) plus AVF_VM_RUNDIR=<run>/vm-run
 * and PATH with the bindir first. stdin is <run>/cmd-NAME.stdin (the step's text) or
 * /dev/null; stdout and stderr go to <run>/cmd-NAME.stdout and .stderr, which the
 * world's inotify fd watches, so output growth wakes world_wait like a trace line.
 * The trace gets "@actor <pid> command NAME". An exec failure is reported by the
 * start call, not as an exit status 127.
 *
 * Ending. The world reaps the process (SIGCHLD) and keeps its wait status; whatever
 * it left running (its orphans, reparented to the subreaper runner) is remembered
 * as part of the run, so the end-of-run check waits for it and names it. The exit
 * line ("command NAME (pid N) exited: status S") is traced by the first step that
 * waits for the exit, else at the end: never at reaping time, which races the steps
 * and would make the normal form unstable.
 */
#ifndef AVF_HARNESS_SCENARIO_SCN_COMMAND_H
#define AVF_HARNESS_SCENARIO_SCN_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct world;

struct world_command {
	char *name;
	pid_t pid;      /* our child */
	bool reaped;    /* its exit was collected: status is valid */
	bool told;      /* the exit line was traced */
	int status;     /* wait status once reaped */
	char *out_path; /* <run>/cmd-NAME.stdout */
	char *err_path; /* <run>/cmd-NAME.stderr */
	pid_t *orphans; /* what it left running when it exited */
	size_t n_orphans;
};

enum { COMMAND_STDOUT = 1, COMMAND_STDERR = 2 };

/*
 * Start @argv (@argc >= 1 words) as command @name in @cwd, stdin @input (NULL:
 * /dev/null). Returns 0, or -errno with avf_err naming what failed (program not
 * found, not executable, exec error): nothing is then left running.
 */
int world_command_start(struct world *w, const char *name, char *const *argv, size_t argc,
			const char *input, const char *cwd);
struct world_command *world_command(struct world *w, const char *name);
/* Send @sig to the process. -ESRCH (avf_err set) if it was already reaped. */
int world_command_signal(struct world *w, struct world_command *c, int sig);

/* The world's reaper: true if @pid was a command's (its status is kept). */
bool world_command_reaped(struct world *w, pid_t pid, int status);
/* The command that left @pid running when it exited, NULL if none. */
const struct world_command *world_command_orphan_of(const struct world *w, pid_t pid);

/* Wait up to @timeout_ms for the exit, then trace it once. 0, or -ETIMEDOUT. */
int world_command_wait_exit(struct world *w, struct world_command *c, int64_t timeout_ms);
/*
 * Wait up to @timeout_ms for a complete line of @stream (COMMAND_STDOUT/STDERR)
 * containing @text; once the command has exited, its last line counts even without
 * a newline, and the wait ends at once (nothing more will come). 1 found, 0 not.
 */
int world_command_wait_line(struct world *w, struct world_command *c, int stream, const char *text,
			    int64_t timeout_ms);
/* The whole output of @stream so far (malloc'd, NUL-terminated, *ret_len bytes). */
int world_command_output(const struct world_command *c, int stream, char **ret, size_t *ret_len);
/* "exited with status 3", "was killed by SIGINT", "is still running" */
void world_command_describe(const struct world_command *c, char *buf, size_t len);
/*
 * What a failure report shows about @c: its state and the last lines of stdout and
 * stderr, indented, starting with a newline (malloc'd; NULL on ENOMEM).
 */
char *world_command_report(const struct world_command *c);

/*
 * The end of a run, before the clients leave: a command still running is the first
 * leak ("command NAME still running"): it is killed and reaped. Every exit not yet
 * traced is traced (in declaration order). 0 or -errno with avf_err set to the first
 * leak.
 */
int world_commands_finish(struct world *w, int timeout_ms);
/*
 * After everything else stopped: no unknown child of the runner still running (what a
 * command's processes left behind and no one named) and nothing left in the vm-run
 * dir. Kills what it finds. 0 or -errno with avf_err set.
 */
int world_commands_check_left(struct world *w, int timeout_ms);
/* Free the table. */
void world_commands_free(struct world *w);

#endif
