/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_world: the processes of one scenario run and the one way the runner waits.
 *
 * A world owns a run directory, a private virtualizationservice (vs.sock and
 * state/ in the run dir), one agent process per client (each with its own
 * virtmgr), the command lines the scenario runs (scn_command.h; their vm-run/ dir
 * in the run dir), and the shared trace file every one of them appends to. The
 * runner is a child subreaper, so processes orphaned by a kill (a virtmgr whose client
 * died, VMMs whose virtmgr died) come back to it and are reaped here: at the end
 * nothing may be left running.
 *
 * Waiting. world_wait() re-evaluates a predicate whenever something happens —
 * the trace file or a command's output grew (inotify), a child exited (signalfd
 * SIGCHLD), a watched process exited (pidfd) — until it holds or the deadline
 * passes. Nothing here sleeps to "let things settle".
 */
#ifndef AVF_HARNESS_SCENARIO_SCN_WORLD_H
#define AVF_HARNESS_SCENARIO_SCN_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "scn_agent.h"
#include "scn_command.h"
#include "scn_trace.h"
#include "vs_process.h"

struct world_opts {
	const char *bindir;       /* virtualizationservice, virtmgr, fakevmm */
	const char *trace_path;   /* the shared trace file (created / truncated) */
	const char *faketime_lib; /* libfaketime.so.1, NULL when absent */
	uint32_t rate;            /* libfaketime speed-up; 1 = real time */
	uint32_t cid_lo, cid_hi;  /* 0, 0: the service's default range */
	bool keep;                /* keep the run dir */
};

struct world_client {
	char *name;
	struct scn_agent ag;
	bool dead; /* killed / exited: its handles are gone */
	bool virtmgr_gone; /* its virtmgr's pidfd fired */
};

struct world {
	struct world_opts o;        /* o.bindir points at bindir */
	char bindir[4096];          /* absolute: commands run in another directory */
	char dir[256];
	struct trace_file *tf;      /* the runner's own lines (actor "scenario") */
	const struct trace *tr;
	struct scn_trace *tv;       /* what everyone wrote, read back */
	size_t tv_scanned;          /* records world_poll has looked at */
	int ino_fd, sig_fd;
	struct vs_process vs;
	int vs_pidfd;
	int vs_fds_baseline;
	int vs_status;              /* wait status of the last vs that exited */
	bool vs_exited;
	struct world_client *clients;
	size_t n_clients;
	struct world_command *commands; /* scn_command.h */
	size_t n_commands;
	pid_t *seen;                /* every pid of the run, for the leak check */
	size_t n_seen;
	int runner_fds_baseline;
	bool set_asan;    /* ASAN_OPTIONS was set for the faketime preload */
	char *saved_asan; /* the caller's ASAN_OPTIONS, restored at the end */
};

/* A predicate: 1 holds, 0 not yet, <0 can never hold (avf_err set). */
typedef int (*world_pred_fn)(struct world *w, void *data);

/* Make the run dir, set the children's environment, start virtualizationservice. */
int world_start(struct world *w, const struct world_opts *o);
/* Wait for @pred up to @timeout_ms of real time. -ETIMEDOUT (avf_err set). */
int world_wait(struct world *w, int64_t timeout_ms, world_pred_fn pred, void *data);
/* Read what was appended to the trace; reap exited children. */
void world_poll(struct world *w);
/* A line of the runner (actor "scenario"). */
void world_trace(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int world_add_client(struct world *w, const char *name, int timeout_ms);
struct world_client *world_client(struct world *w, const char *name);
/* Kill a client's agent with @sig and wait until it is reaped. */
int world_kill_client(struct world *w, struct world_client *c, int sig, int timeout_ms);
int world_kill_vs(struct world *w, int sig, int timeout_ms);
int world_restart_vs(struct world *w, int timeout_ms);
/* The pid of the VMM of the VM that got @cid, from virtmgr's "VMM started" line. */
pid_t world_vmm_pid(struct world *w, uint32_t cid);
/* Has process @pid exited (gone, or a zombie)? */
bool world_pid_exited(pid_t pid);
/* Remember @pid for the final check that nothing is left running. */
void world_note_pid(struct world *w, pid_t pid);

/*
 * The end of every run: no command may still be running (world_commands_finish),
 * every client exits, then everything must be released and gone: no process of the
 * run left (nor any unknown child of the runner), no CID granted, no connection open
 * at virtualizationservice, no temp dir in its state dir, its fd count back to the
 * baseline, the vm-run dir empty, the runner's own fds back to what they were. Then
 * the service is stopped (it must exit 0). With @check false (after a failure) the
 * same cleanup happens but nothing is judged. Returns 0 or -errno with avf_err
 * naming the first leak.
 */
int world_finish(struct world *w, bool check, int timeout_ms);

#endif
