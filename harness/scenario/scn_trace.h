/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_trace: the shared trace file of a scenario run, read back. Every process of a
 * run (the runner, client processes, a virtmgr per client, virtualizationservice)
 * appends "<sec>.<nsec> <pid> <actor> <text>\n" lines to one file (core/trace/
 * trace_file.h). Each process stamps its own CLOCK_MONOTONIC, which under libfaketime
 * is not comparable across processes: the order of lines in the file is the true
 * order of events, so records are ordered by their position (seq), and times are
 * for display only.
 *
 * Records. seq is the 0-based line index in the file (line number = seq + 1). A line
 * that does not parse as "<digits>.<1-9 digits> <pid> <actor>[ <text>]" (pid > 0,
 * single spaces, no NUL) is kept as a malformed record: pid 0, t_ns 0, actor "", line
 * and text the raw line (NULs shown as '?'), label NULL. Nothing in the file can make
 * these functions crash or print; the file is untrusted input.
 *
 * Labels. Lines from the actor word "scenario" whose text starts with '@' are meta
 * lines (kept as records, flagged meta) that name the processes:
 *   @run <dir>                  the run's temp directory (absolute, not "/")
 *   @actor <pid> <label...>     pid belongs to label ("scenario", "client NAME",
 *                               "virtmgr NAME", "virtualizationservice", "vmm VM",
 *                               "command NAME")
 *   @cid <VM> <cid>             the scenario's VM named VM got CID cid
 * A line of the form "vmm:<cid> VMM started (pid <p>)" (or "vm:<cid> ..."; the CID
 * either as the actor word, or as the first word of the text of a virtmgr line)
 * gives p the label "vmm <VM>", VM from the latest @cid for that CID (if that @cid
 * comes later, p is labelled when it arrives). A pid maps to the latest label given
 * it; a label may own several pids (a restarted virtualizationservice). A record
 * takes its pid's label when it is read; records of a pid that had no label yet
 * take the label when the pid gets one (a process may write before the runner
 * names it), so a search that found nothing may find something after an update.
 * Malformed or unknown meta lines change nothing.
 *
 * Reading. scn_trace_open + scn_trace_update: each update reads what was appended
 * since the last one and adds the complete lines; a partial last line waits for
 * the next update. scn_trace_finish turns a partial last line into a record (for a
 * file no one writes any more); scn_trace_load does all three. scn_trace_feed takes
 * bytes directly (tests, fuzzing, a trace not in a file). Record pointers stay
 * valid until scn_trace_free; labels and other strings returned stay valid as long.
 */
#ifndef AVF_HARNESS_SCENARIO_SCN_TRACE_H
#define AVF_HARNESS_SCENARIO_SCN_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The fourth piece, the JUnit report, has its own header; users of this one get it too. */
#include "scn_junit.h"

struct scn_trace;

struct scn_trace_rec {
	size_t seq;        /* 0-based line index in the file */
	uint64_t t_ns;     /* the writer's clock: display only */
	int pid;           /* 0 for a malformed line */
	const char *actor; /* the actor word; "" for a malformed line */
	const char *line;  /* "<actor> <text>" as written (the raw line if malformed) */
	const char *text;  /* after the actor word (points into line) */
	const char *label; /* resolved label, NULL if unknown (see above) */
	bool meta;         /* an "@..." line of the scenario actor */
	bool malformed;
};

/* What a label (or an unlabelled record's lane) is: picks colours and sections. */
enum scn_actor_kind {
	SCN_ACTOR_SCENARIO,
	SCN_ACTOR_CLIENT,
	SCN_ACTOR_VIRTMGR,
	SCN_ACTOR_VS,
	SCN_ACTOR_VMM,
	SCN_ACTOR_COMMAND,
	SCN_ACTOR_UNKNOWN, /* last */
};

/* ---- reading ------------------------------------------------------------------------------- */

/* An empty trace not bound to a file (for scn_trace_feed). -ENOMEM. */
int scn_trace_new(struct scn_trace **ret);
/* An empty trace reading @path from offset 0 (the file must exist). -errno with a message. */
int scn_trace_open(const char *path, struct scn_trace **ret);
/*
 * Read what was appended to the file since the last call and add its complete lines.
 * Returns the number of records added (>= 0), or -errno with a message (a read
 * error; the trace is unchanged past the last complete line). A file that shrank is
 * not re-read: 0.
 */
int scn_trace_update(struct scn_trace *t);
/* Add @len bytes of trace text, as if appended to the file. Returns records added. */
int scn_trace_feed(struct scn_trace *t, const char *buf, size_t len);
/* The partial last line, if any, becomes a record. Returns records added (0 or 1). */
int scn_trace_finish(struct scn_trace *t);
/* open + update + finish. */
int scn_trace_load(const char *path, struct scn_trace **ret);
/* Accepts NULL; returns NULL. */
struct scn_trace *scn_trace_free(struct scn_trace *t);

/* ---- records and lookups (none of these records an error) --------------------------------- */

size_t scn_trace_count(const struct scn_trace *t);
/* The record at @seq, NULL past the end. */
const struct scn_trace_rec *scn_trace_at(const struct scn_trace *t, size_t seq);
/*
 * The first record at or after @from_seq whose label is @label (NULL: any record,
 * labelled or not) and whose line ("<actor> <text>") contains @substr (NULL or "":
 * any). Meta lines never match. NULL if none (yet).
 */
const struct scn_trace_rec *scn_trace_find(const struct scn_trace *t, size_t from_seq,
					   const char *label, const char *substr);
/* The current label of @pid, NULL if none. */
const char *scn_trace_label_of(const struct scn_trace *t, int pid);
/* The CID of the latest @cid line for @vm; 0 (never a VM's CID) if none. */
uint32_t scn_trace_cid_of(const struct scn_trace *t, const char *vm);
/* The VM named in the latest @cid line for @cid, NULL if none. */
const char *scn_trace_vm_of(const struct scn_trace *t, uint32_t cid);
/* The run directory of the latest @run line, NULL if none. */
const char *scn_trace_run_dir(const struct scn_trace *t);

/* The kind named by a label's first word; SCN_ACTOR_UNKNOWN for NULL or anything else. */
enum scn_actor_kind scn_actor_kind_of(const char *label);
/*
 * The record as shown in the normal form and the timeline: the line without its actor
 * word when that word names the label's kind ("client" in a client lane, "vs" or
 * "virtualizationservice" in the virtualizationservice lane, ...), else the line.
 * Unlabelled records show their text (their lane is named after the actor word);
 * malformed records their raw line.
 */
const char *scn_trace_rec_shown(const struct scn_trace_rec *r);

/* ---- lanes: the per-actor grouping shared by the normal form and the timeline -------------- */

struct scn_trace_lane {
	char *name;               /* "client app", "vmm vm1", "? vm:2048", "? (malformed lines)" */
	const char *label;        /* the label, NULL for the "? ..." lanes */
	enum scn_actor_kind kind; /* SCN_ACTOR_UNKNOWN for the "? ..." lanes */
	size_t n_records;         /* non-meta records in the lane */
};

struct scn_trace_lanes {
	struct scn_trace_lane *v;
	size_t n;
	size_t *of_rec; /* lane index of each record (by seq); SIZE_MAX for meta lines */
	size_t n_rec;
};

/*
 * Lanes in the normal-form order: every label in the order of its first @actor line
 * (labels of kind vmm excepted); then the vmm labels in the order of their VM's first
 * @cid line (VMs never given a CID last, by name); then one lane per actor word and
 * pid of unlabelled well-formed records (processes no @actor names, such as those a
 * command starts): "? <actor>" for the first pid (in file order of its first record
 * with that actor word), "? <actor> #2", "#3", ... for the next ones, sorted by actor
 * word (strcmp), then number; then "? (malformed lines)" if there are malformed
 * records. Labels with no records have lanes too. -ENOMEM with a message.
 */
int scn_trace_lanes(const struct scn_trace *t, struct scn_trace_lanes *ret);
void scn_trace_lanes_clear(struct scn_trace_lanes *l);

/* ---- normal form --------------------------------------------------------------------------- */

/*
 * The normal form: what must be byte-identical across runs of one scenario, since
 * the processes race each other and the merged file order is not stable. One section
 * per lane (scn_trace_lanes order), a header line "== <lane name>", then the lane's
 * records in file order, one a line, as scn_trace_rec_shown gives them. Records about
 * a VM (the first "vm:<n>", "vmm:<n>" or "cid <n>" with n a CID of an @cid line; in a
 * client lane also a VM name as first or second word) go to a sub-section
 * "== <lane name> [$cidK]" after the lane's other records, sub-sections by K: within
 * one process, lines about different VMs interleave by timing. Then records about
 * another process (a "pid <n>" naming a labelled pid, e.g. the service's connection
 * lines) go to "== <lane name> [<that lane>]", in lane order. Substitutions:
 *   - every @run directory replaced by "$RUN" (longest first; only where it is followed
 *     by the end, '/' or a character other than [A-Za-z0-9._-]);
 *   - the number in "vm:<n>", "vmm:<n>", "cid <n>", "CID <n>" and a path component
 *     "/<n>" (followed by the end, '/' or a character other than [A-Za-z0-9._-])
 *     replaced by "$cidK" when n is a CID given in an @cid line, K = 1, 2, ... in the
 *     order of each CID value's first @cid line (a reused CID keeps its symbol);
 *     numbers that are not such CIDs stay;
 *   - "pid <n>" replaced by "pid <label of n>", or "pid ?" when n has no label;
 * ("vm:", "vmm:", "cid ", "CID ", "pid " only at the start or after a character other
 * than [A-Za-z0-9_], <n> a whole decimal number). Meta lines, times and pids of the
 * lines are left out; substituted text is not scanned again.
 * Returns 0, -EIO if writing failed, -ENOMEM (with a message).
 */
int scn_trace_normalize(const struct scn_trace *t, FILE *out);
/* The same into a malloc'd string. */
int scn_trace_normalize_str(const struct scn_trace *t, char **ret);
/* One text with the substitutions above (malloc'd); for a runner's messages. */
int scn_trace_subst(const struct scn_trace *t, const char *text, char **ret);

/* ---- timeline ------------------------------------------------------------------------------ */

/*
 * Write a self-contained HTML page (inline CSS and SVG, no scripts, no external
 * resources, well-formed XML so XML tools can read it) drawing the trace as a sequence
 * diagram: the title and status at the top (status colour: text starting with "pass"
 * or "ok" green, "fail" or "error" red, "skip" amber, case-insensitive; else grey), a
 * legend and the CID of each VM, one lane per scn_trace_lanes lane with its header kept
 * visible while scrolling, one row per non-meta record in file order (a dot in its
 * lane, the shown text to the right cut to fit, the full line, time, pid and label in
 * a tooltip), "step ..." lines of the scenario as full-width bands, "FAIL" lines in
 * red, and an arrow from each callback delivery in a virtmgr lane ("vm:<cid> cb<k>
 * onX...") to its receipt in the client lane of the same NAME ("<VM> <CB> onX...") as
 * scn_trace_callback_arrows pairs them.
 * Elements carry classes for tools: "lane-head" (one per lane, data-lane=name), "ev"
 * (one per row, data-seq), "cb-arrow" (one per arrow). @title, @status_text may be
 * NULL. The file is written to a temporary name and renamed. -errno with a message.
 */
int scn_timeline_write(const struct scn_trace *t, const char *title, const char *status_text,
		       const char *path);

/* A callback arrow: the delivery record and the receipt record. */
struct scn_trace_arrow {
	size_t from_seq, to_seq;
};
/*
 * Pair callback deliveries (virtmgr NAME: "vm:<cid> cb<k> onX...", the CID as the actor
 * word or first in the text) with receipts (client NAME: "<VM> <CB> onX..."). virtmgr
 * numbers a VM's callbacks, the scenario names them, and libvmclient registers one of its
 * own on every VM that no receipt answers, so the numbers are learned first: the client's
 * "register <VM> <CB> -> ok" names the newest unnamed "vm:<cid> callback cb<k> registered"
 * of its virtmgr for that VM's CID (counted per VM record: a "createVm(...) -> vm:<cid>"
 * starts over; "ref VM as VM2" client lines make VM2 an alias). Then, in file order, a
 * delivery takes the first receipt after it not yet taken, of the same method (onX up to
 * '(') and whose VM had the delivery's CID then: of the callback's name if it is named;
 * none if it is not but the VM has named ones; any name if the VM has none.
 * The arrows come in delivery order (malloc'd; *ret_n may be 0). -ENOMEM with a message.
 */
int scn_trace_callback_arrows(const struct scn_trace *t, const struct scn_trace_lanes *lanes,
			      struct scn_trace_arrow **ret, size_t *ret_n);

#endif
