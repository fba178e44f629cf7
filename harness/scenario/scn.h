/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn: a lifecycle scenario as data. A `.scn` file is plain text, one step a line,
 * `#` starts a comment (outside double quotes). docs/scenarios.md is the reference
 * for people; this header is the contract between the parser and the runner.
 *
 * Grammar (words are case-sensitive; NAME is [A-Za-z_][A-Za-z0-9_-]*; a VM list is
 * NAME, NAME[A..B] (expands to NAMEA .. NAMEB), or several of those joined by ',';
 * DURATION is an integer with ns|us|ms|s|m; STRING is "..." with \", \\, \n (newline) and
 * \t (tab) escapes; WORD is a STRING or a bare word: any characters but blanks and '"'):
 *
 *   Directives (before the first client or command):
 *     time xN                          run virtmgr, VMMs and virtualizationservice under
 *                                      libfaketime, N times faster (1..100000)
 *     cid-range LO-HI                  virtualizationservice's CID range
 *     timeout DURATION                 default deadline of every wait (default 10s)
 *   Actors:
 *     client NAME                      a client process (libvmclient) and its virtmgr
 *     command NAME [stdin STRING]: WORD WORD ...
 *                                      start a command line now (does not wait): the
 *                                      first WORD is the program (a bare name is looked
 *                                      up in the runner's bindir, then in PATH), cwd is
 *                                      the .scn file's folder, stdin is STRING or
 *                                      /dev/null, stdout and stderr go to files
 *   Client actions (NAME is a client), each optionally followed by
 *   `fails EXCEPTION ["message substring"]` (EXCEPTION: EX_ILLEGAL_STATE, ... or
 *   errno name ENOENT, EPIPE, ...):
 *     NAME: create VMS from PATH [app] [guest STRING]
 *                                      PATH: VM config JSON, relative to the .scn file;
 *                                      app: an app VM (30 s boot hangup); guest: the
 *                                      fake guest script (fakes/script syntax)
 *     NAME: start VMS | stop VMS | drop VMS
 *     NAME: ref VM as VM2              a second handle (reference) to the same VM
 *     NAME: register VMS CB            register callback CB (a name) on each VM
 *     NAME: disconnect                 close the connection; the process keeps living
 *   World actions:
 *     kill NAME [SIG]                  a client process (default SIGKILL)
 *     kill virtmgr of NAME [SIG]
 *     kill vmm of VM [SIG]
 *     kill virtualizationservice [SIG]
 *     restart virtualizationservice    SIGTERM, wait, start again (same socket, state)
 *     advance DURATION                 let DURATION of scenario time pass
 *     signal NAME SIG                  send SIG to command NAME's process (does not wait)
 *   Expectations (wait for their event up to the deadline; `within DURATION` at the
 *   end of any expectation overrides it, in scenario time):
 *     expect VMS state STATE           NOT_STARTED STARTING STARTED READY FINISHED DEAD
 *     expect VMS died REASON           DeathReason name: SHUTDOWN, KILLED, HANGUP, ...
 *     expect VMS callbacks CB: EV, EV, ...   exactly these, in order; EV is
 *                                      started | ready | finished N | error CODE [STRING]
 *                                      | died REASON; `none` for no callbacks at all
 *     expect cid of VM released | expect cid of VM kept (not released)
 *     expect cid of VM is N
 *     expect cid of VM equals|differs|greater VM2   (greater: numerically larger)
 *     expect cids of VMS distinct
 *     expect list [from NAME]: VM STATE, ...   debugListVms rows (as a set); `none`
 *     expect virtmgr of NAME exited
 *     expect trace ACTOR STRING        a trace line of ACTOR (client NAME, virtmgr NAME,
 *                                      virtualizationservice, vmm VM, command NAME)
 *                                      containing STRING
 *     expect NAME exited CODE          command NAME exited with status CODE (0..255)
 *     expect NAME killed SIG           command NAME was killed by signal SIG
 *     expect NAME stdout|stderr STRING a complete line of that output contains STRING
 *     expect NAME stdout|stderr exactly STRING
 *                                      the command exited and the whole output is STRING
 *     expect no leaks                  (last step) everything released: see docs
 *
 * Parser decisions (added with scn_parse.c; docs/scenarios.md has the details):
 *   - Names are checked in file order. VM names are one namespace for every client and
 *     stay names after `drop`; a `create` or `ref` with `fails` declares nothing (the
 *     name may be created later). The parser does not check which client holds a VM.
 *     A VM may not be called cid, cids, list, virtmgr, trace, no, none or from; a
 *     client not virtmgr, vmm or virtualizationservice.
 *   - Clients and commands share one namespace (a name is one or the other), and a
 *     command's name is no VM's (`expect NAME` reads a command's expectation when NAME
 *     is a command). A command is started once; it may not be called cid, cids, list,
 *     virtmgr, vmm, virtualizationservice, trace or no. Directives come before the
 *     first client or command.
 *   - A command line has at least one WORD; a bare word ends at a blank, and a quoted
 *     one must be followed by a blank or the end (`a"b"` is an error, not shell
 *     concatenation). '#' outside quotes starts a comment, as everywhere.
 *   - `expect VMS callbacks CB: none`: `none` replaces the event list; CB must have been
 *     registered (on any VM) on an earlier line.
 *   - create's options come in the grammar's order, `[app] [guest STRING]`; PATH is a
 *     bare word or a STRING. ref, kill vmm, expect cid and trace vmm take one VM (no
 *     range). `expect list` rows may be ranges (`vm[1..3] READY` is three rows).
 *   - `timeout` and `within` are > 0 (within_ns 0 means "the default"); `advance 0s` is
 *     allowed. Each directive at most once. kill without SIG: sig = SIGKILL.
 *   - Limits: 4096 characters a line, 100000 steps, 10000 VMs a list or range, 1000000
 *     expanded VM names a file.
 */
#ifndef AVF_HARNESS_SCENARIO_SCN_H
#define AVF_HARNESS_SCENARIO_SCN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <avf/avf_types.h>

enum scn_kind {
	/* directives */
	SCN_TIME,      /* rate */
	SCN_CID_RANGE, /* lo, hi */
	SCN_TIMEOUT,   /* ns */
	/* actors */
	SCN_CLIENT,  /* client */
	SCN_COMMAND, /* cmd, argv, argc, input */
	/* client actions: client, vms (create also config, app, guest) */
	SCN_CREATE,
	SCN_START,
	SCN_STOP,
	SCN_DROP,
	SCN_REF,        /* vms[0] = existing VM, name2 = new handle name */
	SCN_REGISTER,   /* cb */
	SCN_DISCONNECT, /* client */
	/* world actions */
	SCN_KILL_CLIENT,  /* client, sig */
	SCN_KILL_VIRTMGR, /* client, sig */
	SCN_KILL_VMM,     /* vms[0], sig */
	SCN_KILL_VS,      /* sig */
	SCN_RESTART_VS,
	SCN_ADVANCE, /* ns */
	SCN_SIGNAL,  /* cmd, sig */
	/* expectations */
	SCN_EXPECT_STATE,     /* vms, state */
	SCN_EXPECT_DIED,      /* vms, reason */
	SCN_EXPECT_CALLBACKS, /* vms, cb, events */
	SCN_EXPECT_CID,       /* vms[0], cid_rel, name2 or number */
	SCN_EXPECT_CIDS_DISTINCT, /* vms */
	SCN_EXPECT_LIST,      /* client (NULL: any live client), rows */
	SCN_EXPECT_VIRTMGR_EXITED, /* client */
	SCN_EXPECT_TRACE,     /* actor, text */
	SCN_EXPECT_EXITED,    /* cmd, number (exit status 0..255) */
	SCN_EXPECT_KILLED,    /* cmd, sig */
	SCN_EXPECT_OUTPUT,    /* cmd, stream, exact, text */
	SCN_EXPECT_NO_LEAKS,
};

enum scn_cid_rel {
	SCN_CID_RELEASED,
	SCN_CID_KEPT,
	SCN_CID_IS,      /* number */
	SCN_CID_EQUALS,  /* name2 */
	SCN_CID_DIFFERS, /* name2 */
	SCN_CID_GREATER, /* name2 */
};

enum scn_cb_kind {
	SCN_CB_STARTED,
	SCN_CB_READY,
	SCN_CB_FINISHED, /* value: exit code */
	SCN_CB_ERROR,    /* value: avf_error_code; text: message substring or NULL */
	SCN_CB_DIED,     /* value: avf_death_reason */
};

struct scn_cb_event {
	enum scn_cb_kind kind;
	int value;
	char *text;
};

struct scn_list_row {
	char *vm;
	enum avf_vm_state state;
};

/* An expected failure of a client action. */
struct scn_fail {
	bool expected;
	bool is_errno;   /* code is a positive errno (ENOENT), else a binder exception */
	int code;        /* AVF_EX_* (negative) or errno */
	char *substring; /* NULL: any message */
};

struct scn_step {
	enum scn_kind kind;
	unsigned line; /* 1-based line in the file */
	char *src;     /* the step's text, trimmed, without comment */

	char *client;           /* client name (actions, kill, list from, exited) */
	char **vms;             /* expanded VM list */
	size_t n_vms;
	char *name2;            /* ref's new name, cid comparisons' other VM */
	char *cb;               /* callback name */
	char *config;           /* create: config path as written */
	bool app;               /* create: app VM */
	char *guest;            /* create: guest script or NULL */
	int sig;                /* kill, signal, expect killed: signal number */
	uint64_t ns;            /* advance, timeout */
	uint64_t within_ns;     /* expectations: 0 = default deadline */
	uint32_t rate;          /* time */
	uint32_t lo, hi;        /* cid-range */
	enum avf_vm_state state;
	enum avf_death_reason reason;
	enum scn_cid_rel cid_rel;
	uint32_t number;        /* cid is N; expect exited: the status */
	struct scn_cb_event *events; /* callbacks */
	size_t n_events;        /* 0 with kind CALLBACKS means `none` */
	struct scn_list_row *rows;  /* expect list (its VMs are here, not in vms) */
	size_t n_rows;          /* 0 means `none` */
	char *actor;            /* trace actor, normalised: "client NAME", "virtmgr NAME",
				   "virtualizationservice", "vmm VM", "command NAME" (NAME
				   also in client or cmd, VM also in vms[0]) */
	char *text;             /* trace substring */
	struct scn_fail fail;
	char *cmd;              /* command name: command, signal, its expectations, trace */
	char **argv;            /* command: its words (argv[0] the program), argc >= 1 */
	size_t argc;
	char *input;            /* command: its stdin, NULL for /dev/null */
	int stream;             /* expect output: 1 stdout, 2 stderr */
	bool exact;             /* expect output: the whole output, once it exited */
};

struct scn {
	char *path;       /* as given to scn_parse_file */
	char *title;      /* text of the first comment line, or NULL */
	struct scn_step *steps;
	size_t n;
};

/*
 * Parse @src (the contents of @path, which is used for messages and kept in
 * ret->path). On a syntax error: -EINVAL and *err_msg = malloc'd
 * "PATH:LINE:COL: expected ..., found '...'" (column 1-based). Also checked here,
 * with the same message shape: a client used before `client NAME`, a VM used
 * before it is created (ref names count), duplicate client or VM names, ranges
 * with A > B or more than 10000 names, a name both a client and a command or both a
 * command and a VM, directives after the first client or command, and
 * `expect no leaks` anywhere but last.
 * @err_msg may be NULL; *err_msg is NULL on success. On -ENOMEM it is
 * "PATH: out of memory" or NULL. The message is also recorded with avf_err_set().
 */
int scn_parse(const char *path, const char *src, struct scn **ret, char **err_msg);
/* Read @path and parse it. -errno with *err_msg when it cannot be read. */
int scn_parse_file(const char *path, struct scn **ret, char **err_msg);
struct scn *scn_free(struct scn *s);

const char *scn_kind_name(enum scn_kind k);

#endif
