/* SPDX-License-Identifier: Apache-2.0 */
/*
 * harness/scenario/scn_trace: labels (restart, VMM pids, labels given late), incremental
 * reading with partial lines, the normal form (two runs that raced differently normalise
 * byte-identically to a hand-written expectation; a reused CID keeps its symbol), malformed
 * input, the timeline page (well-formed, one lane per label, the callback arrows) and the
 * JUnit report (well-formed, counts, escaping). Corpus: tests/data/scn_trace/ (line numbers
 * below are those files' lines; seq = line - 1).
 *
 * SCN_TIMELINE_SAMPLE=<path> also writes the timeline of sample.trace there, for people.
 */
#include "cmocka_wrap.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "base/avf_err.h"
#include "base/fs_util.h"
#include "scn_junit.h"
#include "scn_trace.h"

#define DATA SCN_TRACE_TEST_DATA

static char root[256];

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(root, sizeof(root), "%s/test_scn_trace_XXXXXX", tmp);
	assert_non_null(mkdtemp(root));
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(fs_remove_tree(root), 0);
	return 0;
}

/* ---- helpers -------------------------------------------------------------------------------- */

static struct scn_trace *load(const char *corpus)
{
	char path[PATH_MAX];
	struct scn_trace *t = NULL;

	snprintf(path, sizeof(path), "%s/%s", DATA, corpus);
	if (scn_trace_load(path, &t) < 0)
		fail_msg("scn_trace_load %s: %s", path, avf_err_last()->msg);
	return t;
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = malloc(1 << 20);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 20) - 1, f);
	assert_true(n < (1 << 20) - 1);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static char *normal_form(const struct scn_trace *t)
{
	char *s = NULL;

	assert_int_equal(scn_trace_normalize_str(t, &s), 0);
	assert_non_null(s);
	return s;
}

static void append(const char *path, const char *text)
{
	FILE *f = fopen(path, "ae");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

/* The record on 1-based line @line of the corpus. */
static const struct scn_trace_rec *line_rec(const struct scn_trace *t, size_t line)
{
	const struct scn_trace_rec *r = scn_trace_at(t, line - 1);

	assert_non_null(r);
	assert_int_equal(r->seq, line - 1);
	return r;
}

static void assert_label(const char *got, const char *want)
{
	if (!want) {
		if (got)
			fail_msg("label '%s', expected none", got);
		return;
	}
	if (!got)
		fail_msg("no label, expected '%s'", want);
	assert_string_equal(got, want);
}

/* ---- labels ------------------------------------------------------------------------------- */

static void test_labels(void **state)
{
	struct scn_trace *t = load("labels.trace");

	assert_int_equal(scn_trace_count(t), 26);
	/* pids named by @actor; a restarted service: two pids, one label */
	assert_label(scn_trace_label_of(t, 100), "scenario");
	assert_label(scn_trace_label_of(t, 200), "virtualizationservice");
	assert_label(scn_trace_label_of(t, 201), "virtualizationservice");
	assert_label(scn_trace_label_of(t, 311), "virtmgr app");
	/* a pid named twice has the latest label */
	assert_label(scn_trace_label_of(t, 310), "client other");
	/* VMM pids from "VMM started": CID known; CID declared later; CID in a virtmgr's text */
	assert_label(scn_trace_label_of(t, 400), "vmm vm1");
	assert_label(scn_trace_label_of(t, 401), "vmm vm2");
	assert_label(scn_trace_label_of(t, 402), "vmm vm3");
	assert_label(scn_trace_label_of(t, 999), NULL);
	assert_label(scn_trace_label_of(t, 12345), NULL);

	/* records: before their pid was named (line 5, 16), after a relabel (line 25) */
	assert_label(line_rec(t, 4)->label, "virtualizationservice");
	assert_label(line_rec(t, 5)->label, "client app");
	assert_label(line_rec(t, 11)->label, "client app");
	assert_label(line_rec(t, 14)->label, "vmm vm1");
	assert_label(line_rec(t, 16)->label, "vmm vm2");
	assert_label(line_rec(t, 21)->label, "virtualizationservice");
	assert_label(line_rec(t, 23)->label, "virtualizationservice");
	assert_label(line_rec(t, 25)->label, "client other");
	assert_label(line_rec(t, 26)->label, NULL);

	/* the fields of one record */
	const struct scn_trace_rec *r = line_rec(t, 10);
	assert_int_equal(r->t_ns, 700000000ull);
	assert_int_equal(r->pid, 311);
	assert_string_equal(r->actor, "virtmgr");
	assert_string_equal(r->text, "createVm(\"vm1\") -> vm:2048 NOT_STARTED");
	assert_string_equal(r->line, "virtmgr createVm(\"vm1\") -> vm:2048 NOT_STARTED");
	assert_false(r->meta);
	assert_false(r->malformed);
	assert_true(line_rec(t, 1)->meta);
	assert_label(line_rec(t, 1)->label, "scenario");
	assert_string_equal(scn_trace_rec_shown(r), "createVm(\"vm1\") -> vm:2048 NOT_STARTED");
	assert_string_equal(scn_trace_rec_shown(line_rec(t, 13)), "vmm:2048 VMM started (pid 400)");
	assert_string_equal(scn_trace_rec_shown(line_rec(t, 4)),
			    "listening on /tmp/avf-scn-AAAA/vs.sock");
	assert_string_equal(scn_trace_rec_shown(line_rec(t, 26)), "something");

	/* CIDs and the run directory */
	assert_int_equal(scn_trace_cid_of(t, "vm1"), 2048);
	assert_int_equal(scn_trace_cid_of(t, "vm3"), 2050);
	assert_int_equal(scn_trace_cid_of(t, "vm9"), 0);
	assert_string_equal(scn_trace_vm_of(t, 2049), "vm2");
	assert_null(scn_trace_vm_of(t, 2051));
	assert_string_equal(scn_trace_run_dir(t), "/tmp/avf-scn-AAAA");

	/* search: by label and substring, from a position, never meta lines */
	r = scn_trace_find(t, 0, "virtualizationservice", "listening");
	assert_non_null(r);
	assert_int_equal(r->seq, 3);
	r = scn_trace_find(t, r->seq + 1, "virtualizationservice", "listening");
	assert_non_null(r);
	assert_int_equal(r->seq, 22);
	assert_int_equal(r->pid, 201);
	assert_null(scn_trace_find(t, 23, "virtualizationservice", "listening"));
	r = scn_trace_find(t, 0, "vmm vm2", NULL);
	assert_non_null(r);
	assert_int_equal(r->seq, 15);
	/* the line as written: the actor word is part of it */
	r = scn_trace_find(t, 0, "virtmgr app", "vmm:2049 VMM started");
	assert_non_null(r);
	assert_int_equal(r->seq, 14);
	assert_null(scn_trace_find(t, 0, "scenario", "@actor"));
	assert_non_null(scn_trace_find(t, 0, "scenario", "step 9"));
	assert_null(scn_trace_find(t, 0, "client nobody", NULL));
	r = scn_trace_find(t, 0, NULL, "something");
	assert_non_null(r);
	assert_int_equal(r->seq, 25);
	assert_null(scn_trace_find(t, 1000, NULL, NULL));
	assert_null(scn_trace_at(t, 26));
	scn_trace_free(t);
	assert_null(scn_trace_free(NULL));
}

static void test_kinds(void **state)
{
	assert_int_equal(scn_actor_kind_of("scenario"), SCN_ACTOR_SCENARIO);
	assert_int_equal(scn_actor_kind_of("client app"), SCN_ACTOR_CLIENT);
	assert_int_equal(scn_actor_kind_of("virtmgr app"), SCN_ACTOR_VIRTMGR);
	assert_int_equal(scn_actor_kind_of("virtualizationservice"), SCN_ACTOR_VS);
	assert_int_equal(scn_actor_kind_of("vmm vm1"), SCN_ACTOR_VMM);
	assert_int_equal(scn_actor_kind_of("command run"), SCN_ACTOR_COMMAND);
	assert_int_equal(scn_actor_kind_of("commander x"), SCN_ACTOR_UNKNOWN);
	assert_int_equal(scn_actor_kind_of("clientele x"), SCN_ACTOR_UNKNOWN);
	assert_int_equal(scn_actor_kind_of("vs"), SCN_ACTOR_UNKNOWN);
	assert_int_equal(scn_actor_kind_of(""), SCN_ACTOR_UNKNOWN);
	assert_int_equal(scn_actor_kind_of(NULL), SCN_ACTOR_UNKNOWN);
}

/* ---- incremental reading ------------------------------------------------------------------ */

static void test_incremental(void **state)
{
	char path[PATH_MAX];
	struct scn_trace *t = NULL;

	snprintf(path, sizeof(path), "%s/trace", root);
	assert_int_equal(scn_trace_open(path, &t), -ENOENT);
	assert_non_null(strstr(avf_err_last()->msg, "cannot open trace file '"));
	append(path, "");
	assert_int_equal(scn_trace_open(path, &t), 0);
	assert_int_equal(scn_trace_update(t), 0);
	assert_int_equal(scn_trace_count(t), 0);

	/* one line and a half: only the complete one */
	append(path, "1.000000000 100 scenario @actor 100 scenario\n1.000000001 100 scen");
	assert_int_equal(scn_trace_update(t), 1);
	assert_int_equal(scn_trace_count(t), 1);
	assert_label(scn_trace_label_of(t, 100), "scenario");
	assert_int_equal(scn_trace_update(t), 0);

	/* the rest of it, a meta line cut in the middle of its pid */
	append(path, "ario step 1: client app\n1.000000002 100 scenario @actor 3");
	assert_int_equal(scn_trace_update(t), 1);
	assert_string_equal(scn_trace_at(t, 1)->line, "scenario step 1: client app");
	assert_label(scn_trace_label_of(t, 3), NULL);
	assert_label(scn_trace_label_of(t, 31), NULL);
	append(path, "1 client app\n");
	assert_int_equal(scn_trace_update(t), 1);
	assert_label(scn_trace_label_of(t, 31), "client app");
	assert_label(scn_trace_label_of(t, 3), NULL);

	/* several lines in one go, one of them from a pid named only afterwards */
	append(path, "2.000000000 32 virtmgr started\n"
		     "2.000000001 31 client create vm1 -> vm:2048\n"
		     "1.000000003 100 scenario @actor 32 virtmgr app\n"
		     "1.000000004 100 scenario @cid vm1 2048\n");
	assert_int_equal(scn_trace_update(t), 4);
	assert_int_equal(scn_trace_count(t), 7);
	assert_label(scn_trace_at(t, 3)->label, "virtmgr app");
	assert_int_equal(scn_trace_cid_of(t, "vm1"), 2048);

	/* records keep their address as the trace grows past a block */
	const struct scn_trace_rec *first = scn_trace_at(t, 0);
	FILE *f = fopen(path, "ae");
	assert_non_null(f);
	for (int i = 0; i < 3000; i++)
		fprintf(f, "3.%09d 31 client tick %d\n", i, i);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(scn_trace_update(t), 3000);
	assert_ptr_equal(scn_trace_at(t, 0), first);
	assert_string_equal(scn_trace_at(t, 3006)->text, "tick 2999");
	assert_label(scn_trace_at(t, 3006)->label, "client app");

	/* finish: a last line without its newline becomes a record */
	append(path, "4.000000000 31 client last words");
	assert_int_equal(scn_trace_update(t), 0);
	assert_int_equal(scn_trace_finish(t), 1);
	assert_int_equal(scn_trace_count(t), 3008);
	assert_string_equal(scn_trace_at(t, 3007)->text, "last words");
	assert_int_equal(scn_trace_finish(t), 0);
	scn_trace_free(t);

	/* load = open + update + finish */
	assert_int_equal(scn_trace_load(path, &t), 0);
	assert_int_equal(scn_trace_count(t), 3008);
	scn_trace_free(t);
}

static void test_feed(void **state)
{
	static const char text[] = "1.000000000 1 scenario @actor 2 client a\n"
				   "1.000000001 2 client hello\n";
	struct scn_trace *t = NULL;

	/* byte by byte: the same records as all at once */
	assert_int_equal(scn_trace_new(&t), 0);
	for (size_t i = 0; i < sizeof(text) - 1; i++)
		assert_int_equal(scn_trace_feed(t, text + i, 1), text[i] == '\n' ? 1 : 0);
	assert_int_equal(scn_trace_count(t), 2);
	assert_label(scn_trace_at(t, 1)->label, "client a");
	assert_string_equal(scn_trace_at(t, 1)->text, "hello");
	/* a trace not bound to a file has nothing to update */
	assert_int_equal(scn_trace_update(t), 0);
	scn_trace_free(t);
}

/* ---- normal form -------------------------------------------------------------------------- */

static void test_normal_form_of_two_races(void **state)
{
	struct scn_trace *a = load("run_a.trace"), *b = load("run_b.trace");
	char *want = read_all(DATA "/run.norm"), *na = normal_form(a), *nb = normal_form(b);

	/* the two files differ in order, pids, times, CIDs and run directory... */
	assert_int_equal(scn_trace_cid_of(a, "vm1"), 2048);
	assert_int_equal(scn_trace_cid_of(b, "vm1"), 2051);
	assert_int_equal(scn_trace_cid_of(b, "vm2"), 2050);
	assert_string_not_equal(scn_trace_at(a, 5)->line, scn_trace_at(b, 5)->line);
	/* ...and normalise to the same bytes, the ones written by hand from the rules */
	if (strcmp(na, want))
		fail_msg("run_a normal form:\n%s", na);
	if (strcmp(nb, want))
		fail_msg("run_b normal form:\n%s", nb);

	/* the FILE * form writes the same */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(scn_trace_normalize(b, f), 0);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(buf, want);
	free(buf);
	free(want);
	free(na);
	free(nb);
	scn_trace_free(a);
	scn_trace_free(b);
}

static void test_reused_cid(void **state)
{
	/* Lines about a VM go to its [$cidK] sub-section; a reused CID keeps its symbol. */
	static const char want[] = "== scenario\n"
				   "== virtualizationservice\n"
				   "== virtualizationservice [$cid1]\n"
				   "cid $cid1 granted\n"
				   "cid $cid1 released\n"
				   "cid $cid1 granted\n"
				   "== virtualizationservice [$cid2]\n"
				   "cid $cid2 granted\n"
				   "== client app\n"
				   "== client app [$cid1]\n"
				   "create vm1 -> vm:$cid1\n"
				   "create vm2 -> vm:$cid1\n"
				   "== client app [$cid2]\n"
				   "create vm3 -> vm:$cid2\n"
				   "== virtmgr app\n"
				   "instance dir $RUN/vm/$cid2/disk and $RUN/vm/$cid1\n"
				   "== virtmgr app [$cid1]\n"
				   "createVm(\"vm1\") -> vm:$cid1 NOT_STARTED\n"
				   "vmm:$cid1 VMM started (pid vmm vm1)\n"
				   "cid $cid1 released\n"
				   "createVm(\"vm2\") -> vm:$cid1 NOT_STARTED\n"
				   "vmm:$cid1 VMM started (pid vmm vm2)\n"
				   "== virtmgr app [$cid2]\n"
				   "createVm(\"vm3\") -> vm:$cid2 NOT_STARTED\n"
				   "== vmm vm1\n"
				   "== vmm vm2\n";
	struct scn_trace *t = load("reuse.trace");
	char *n = normal_form(t);

	if (strcmp(n, want))
		fail_msg("normal form:\n%s", n);
	/* the latest @cid wins the lookups */
	assert_string_equal(scn_trace_vm_of(t, 2048), "vm2");
	assert_int_equal(scn_trace_cid_of(t, "vm1"), 2048);
	assert_label(scn_trace_label_of(t, 39), "vmm vm1");
	assert_label(scn_trace_label_of(t, 40), "vmm vm2");
	free(n);
	scn_trace_free(t);
}

/* Each substitution rule and its boundaries, one text at a time. */
static void test_substitutions(void **state)
{
	static const char trace[] = "1.0 1 scenario @run /tmp/run\n"
				    "1.0 1 scenario @run /tmp/run/inner/\n"
				    "1.0 1 scenario @actor 42 client app\n"
				    "1.0 1 scenario @cid vm1 2048\n"
				    "1.0 1 scenario @cid vm2 7\n";
	static const struct {
		const char *in, *out;
	} rows[] = {
	    {"vm:2048 state DEAD", "vm:$cid1 state DEAD"},
	    {"vmm:7 VMM started (pid 42)", "vmm:$cid2 VMM started (pid client app)"},
	    {"cid 2048, CID 7, cid 9", "cid $cid1, CID $cid2, cid 9"},
	    {"(pid 43 uid 0) pid 99999999999", "(pid ? uid 0) pid ?"},
	    /* whole numbers only, and only after a word boundary */
	    {"vm:20480 vm:204 cid 20481 xcid 2048 rapid 42 vm:2048x",
	     "vm:20480 vm:204 cid 20481 xcid 2048 rapid 42 vm:$cid1x"},
	    {"_pid 42 apid 42 (pid 42)", "_pid 42 apid 42 (pid client app)"},
	    /* path components: whole, and not part of a longer name */
	    {"/x/2048/y /x/2048 /x/2048.img /x/2048-a /x/7,", "/x/$cid1/y /x/$cid1 /x/2048.img "
							      "/x/2048-a /x/$cid2,"},
	    {"at /tmp/run/inner/2048/a and /tmp/run/x and /tmp/runner",
	     "at $RUN/$cid1/a and $RUN/x and /tmp/runner"},
	    {"numbers stay: 2048 7 uid 0", "numbers stay: 2048 7 uid 0"},
	    {"", ""},
	};
	struct scn_trace *t = NULL;

	assert_int_equal(scn_trace_new(&t), 0);
	assert_int_equal(scn_trace_feed(t, trace, sizeof(trace) - 1), 5);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *out = NULL;

		assert_int_equal(scn_trace_subst(t, rows[i].in, &out), 0);
		if (strcmp(out, rows[i].out))
			fail_msg("'%s' -> '%s', expected '%s'", rows[i].in, out, rows[i].out);
		free(out);
	}
	scn_trace_free(t);
}

static void test_lane_order(void **state)
{
	/* VMMs named in the reverse order of their VMs' @cid lines, an unnamed VM's VMM,
	 * unknown actors in any order, a label declared without lines */
	static const char trace[] = "1.0 1 scenario @actor 1 scenario\n"
				    "1.0 1 scenario @actor 5 virtmgr x\n"
				    "1.0 1 scenario @actor 3 client x\n"
				    "1.0 1 scenario @cid b 11\n"
				    "1.0 1 scenario @cid a 12\n"
				    "1.0 1 scenario @actor 20 vmm zz\n"
				    "1.0 5 vmm:12 VMM started (pid 21)\n"
				    "1.0 5 vmm:11 VMM started (pid 22)\n"
				    "1.0 9 zeta one\n"
				    "1.0 8 alpha two\n"
				    "1.0 9 zeta three\n"
				    "junk\n";
	static const char *const want[] = {
	    "scenario", "virtmgr x",           "client x", "vmm b", "vmm a", "vmm zz", "? alpha",
	    "? zeta",   "? (malformed lines)",
	};
	static const size_t records[] = {0, 2, 0, 0, 0, 0, 1, 2, 1};
	struct scn_trace *t = NULL;
	struct scn_trace_lanes l;

	assert_int_equal(scn_trace_new(&t), 0);
	assert_int_equal(scn_trace_feed(t, trace, sizeof(trace) - 1), 12);
	assert_int_equal(scn_trace_lanes(t, &l), 0);
	assert_int_equal(l.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < l.n; i++) {
		assert_string_equal(l.v[i].name, want[i]);
		assert_int_equal(l.v[i].n_records, records[i]);
	}
	assert_null(l.v[6].label);
	assert_int_equal(l.v[6].kind, SCN_ACTOR_UNKNOWN);
	assert_string_equal(l.v[3].label, "vmm b");
	assert_int_equal(l.v[3].kind, SCN_ACTOR_VMM);
	assert_int_equal(l.of_rec[0], SIZE_MAX); /* meta */
	assert_int_equal(l.of_rec[8], 7);
	assert_int_equal(l.of_rec[11], 8);
	scn_trace_lanes_clear(&l);
	scn_trace_lanes_clear(NULL);
	scn_trace_free(t);
}

/*
 * Processes no @actor names (what a `command` starts: a `vm` tool's virtmgr) get a lane
 * per actor word and pid, numbered by their first lines: two runs with other pids, other
 * times and another interleaving of the processes' lines normalise to the same bytes.
 */
static void test_unlabelled_lanes(void **state)
{
	static const char run_a[] = "1.0 10 scenario @run /tmp/ra\n"
				    "1.0 10 scenario @actor 11 command run\n"
				    "1.0 11 vm run started\n"
				    "1.0 12 virtmgr started (fake backend)\n"
				    "1.0 12 vm:2048 state STARTING\n"
				    "1.0 11 vm run done\n"
				    "1.0 13 virtmgr started (fake backend)\n"
				    "1.0 12 virtmgr exited\n"
				    "1.0 13 virtmgr exited\n"
				    "1.0 14 helper tick\n";
	/* other pids; 22 and 23 write in turns, 23's first line still after 22's */
	static const char run_b[] = "7.5 90 scenario @run /tmp/rb\n"
				    "7.5 95 vm run started\n"
				    "7.5 90 scenario @actor 95 command run\n"
				    "7.5 22 virtmgr started (fake backend)\n"
				    "7.5 95 vm run done\n"
				    "7.5 23 virtmgr started (fake backend)\n"
				    "7.5 23 virtmgr exited\n"
				    "7.5 22 vm:2048 state STARTING\n"
				    "7.5 22 virtmgr exited\n"
				    "7.5 5 helper tick\n";
	/* (the runner wrote only meta lines: no lane of its own) */
	static const char want[] = "== command run\n"
				   "vm run started\n"
				   "vm run done\n"
				   "== ? helper\n"
				   "tick\n"
				   "== ? virtmgr\n"
				   "started (fake backend)\n"
				   "exited\n"
				   "== ? virtmgr #2\n"
				   "started (fake backend)\n"
				   "exited\n"
				   "== ? vm:2048\n"
				   "state STARTING\n";
	static const char *const lanes[] = {"command run", "? helper", "? virtmgr", "? virtmgr #2",
					    "? vm:2048"};
	struct scn_trace *a = NULL, *b = NULL;
	struct scn_trace_lanes l;
	char *na, *nb;

	assert_int_equal(scn_trace_new(&a), 0);
	assert_int_equal(scn_trace_feed(a, run_a, sizeof(run_a) - 1), 10);
	assert_int_equal(scn_trace_new(&b), 0);
	assert_int_equal(scn_trace_feed(b, run_b, sizeof(run_b) - 1), 10);
	assert_int_equal(scn_trace_lanes(b, &l), 0);
	assert_int_equal(l.n, sizeof(lanes) / sizeof(lanes[0]));
	for (size_t i = 0; i < l.n; i++)
		assert_string_equal(l.v[i].name, lanes[i]);
	assert_string_equal(l.v[0].label, "command run");
	assert_int_equal(l.v[0].kind, SCN_ACTOR_COMMAND);
	assert_null(l.v[3].label);
	assert_int_equal(l.v[3].kind, SCN_ACTOR_UNKNOWN);
	/* pid 23's lines, in turns with 22's, all in #2; 22's other actor word apart */
	assert_int_equal(l.of_rec[3], 2);
	assert_int_equal(l.of_rec[5], 3);
	assert_int_equal(l.of_rec[6], 3);
	assert_int_equal(l.of_rec[7], 4);
	assert_int_equal(l.of_rec[8], 2);
	scn_trace_lanes_clear(&l);
	na = normal_form(a);
	nb = normal_form(b);
	if (strcmp(na, want))
		fail_msg("run a:\n%s", na);
	if (strcmp(nb, want))
		fail_msg("run b:\n%s", nb);
	free(na);
	free(nb);
	scn_trace_free(a);
	scn_trace_free(b);
}

/* ---- malformed input ------------------------------------------------------------------------ */

static void test_malformed(void **state)
{
	struct scn_trace *t = load("malformed.trace");
	/* lines 1-14 do not parse; 15 on do, but change nothing */
	size_t n_malformed = 0;
	char *n, path[PATH_MAX];

	assert_int_equal(scn_trace_count(t), 32);
	for (size_t i = 1; i <= 32; i++) {
		const struct scn_trace_rec *r = line_rec(t, i);

		if (i <= 14) {
			if (!r->malformed)
				fail_msg("line %zu parsed: '%s'", i, r->line);
			assert_null(r->label);
			assert_int_equal(r->pid, 0);
			assert_string_equal(r->actor, "");
			assert_ptr_equal(r->text, r->line);
		} else {
			if (r->malformed)
				fail_msg("line %zu is malformed: '%s'", i, r->line);
		}
		n_malformed += r->malformed;
	}
	assert_int_equal(n_malformed, 14);
	assert_string_equal(line_rec(t, 1)->line, "");
	assert_string_equal(line_rec(t, 3)->line, "garbage");
	assert_string_equal(line_rec(t, 14)->line, "\t1.000000001 5 actor leading tab");
	assert_int_equal(line_rec(t, 31)->t_ns, 1500000000ull);
	assert_string_equal(line_rec(t, 32)->text, "");
	assert_string_equal(line_rec(t, 32)->actor, "actor");
	/* the bad meta lines named nothing */
	for (int pid = 0; pid < 100; pid++)
		assert_label(scn_trace_label_of(t, pid), NULL);
	assert_int_equal(scn_trace_cid_of(t, "vm1"), 0);
	assert_null(scn_trace_run_dir(t));

	/* the normal form is written, grouped by actor word, malformed lines last */
	n = normal_form(t);
	assert_non_null(strstr(n, "== ? actor\nok, with \001 control"));
	assert_non_null(strstr(n, "== ? vmm:2048\nVMM started (pid x)\nVMM started (pid ?\n"));
	assert_non_null(strstr(n, "== ? (malformed lines)\n\n# a comment is not a trace line\n"));
	assert_null(strstr(n, "@actor"));
	free(n);

	/* and the timeline and a report with its lines are well-formed */
	snprintf(path, sizeof(path), "%s/malformed.html", root);
	assert_int_equal(scn_timeline_write(t, "malformed", "FAIL", path), 0);
	xmlDocPtr doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
	assert_non_null(doc);
	xmlFreeDoc(doc);
	scn_trace_free(t);

	/* NUL bytes inside a line, CR, a line with no end */
	static const char nul[] = "1.000000000 5 actor a\0b\n1.0 5 actor\0\r\n1.0 5 x\r\nno end";
	assert_int_equal(scn_trace_new(&t), 0);
	assert_int_equal(scn_trace_feed(t, nul, sizeof(nul) - 1), 3);
	assert_int_equal(scn_trace_finish(t), 1);
	assert_true(scn_trace_at(t, 0)->malformed);
	assert_string_equal(scn_trace_at(t, 0)->line, "1.000000000 5 actor a?b");
	assert_string_equal(scn_trace_at(t, 1)->line, "1.0 5 actor?\r");
	assert_false(scn_trace_at(t, 2)->malformed);
	/* CR is no separator: it ends up in the actor word, the text is empty */
	assert_string_equal(scn_trace_at(t, 2)->actor, "x\r");
	assert_string_equal(scn_trace_at(t, 2)->text, "");
	assert_true(scn_trace_at(t, 3)->malformed);
	assert_string_equal(scn_trace_at(t, 3)->line, "no end");
	scn_trace_free(t);
}

/* ---- timeline ------------------------------------------------------------------------------- */

static xmlXPathObjectPtr xpath(xmlDocPtr doc, const char *expr)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathObjectPtr o;

	assert_non_null(ctx);
	o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	xmlXPathFreeContext(ctx);
	assert_non_null(o);
	return o;
}

static int count(xmlDocPtr doc, const char *expr)
{
	xmlXPathObjectPtr o = xpath(doc, expr);
	int n = o->nodesetval ? o->nodesetval->nodeNr : 0;

	xmlXPathFreeObject(o);
	return n;
}

/* The string value of an XPath expression (malloc'd). */
static char *string_of(xmlDocPtr doc, const char *expr)
{
	char e[512];
	xmlXPathObjectPtr o;
	char *s;

	snprintf(e, sizeof(e), "string(%s)", expr);
	o = xpath(doc, e);
	s = strdup((const char *)o->stringval);
	xmlXPathFreeObject(o);
	return s;
}

#define CLASS(c) "contains(concat(' ', normalize-space(@class), ' '), ' " c " ')"

static void test_timeline(void **state)
{
	static const char *const lanes[] = {
	    "scenario",     "virtualizationservice", "client app", "virtmgr app",
	    "client other", "virtmgr other",         "vmm vm1",    "vmm vm2",
	};
	/* sample.trace: delivery line -> receipt line, by hand: the deliveries to cb2, the
	 * callback the scenario registered; cb1 is libvmclient's own */
	static const size_t arrows[][2] = {
	    {58, 59}, {62, 66}, {65, 67}, {70, 71}, {75, 76}, {82, 84},
	};
	struct scn_trace *t = load("sample.trace");
	struct scn_trace_lanes l;
	struct scn_trace_arrow *a;
	size_t n_a;
	char path[PATH_MAX], expr[256];
	const char *sample = getenv("SCN_TIMELINE_SAMPLE");

	assert_int_equal(scn_trace_count(t), 108);
	assert_int_equal(scn_trace_lanes(t, &l), 0);
	assert_int_equal(scn_trace_callback_arrows(t, &l, &a, &n_a), 0);
	assert_int_equal(n_a, 6);
	for (size_t i = 0; i < n_a; i++) {
		assert_int_equal(a[i].from_seq, arrows[i][0] - 1);
		assert_int_equal(a[i].to_seq, arrows[i][1] - 1);
	}
	free(a);
	scn_trace_lanes_clear(&l);

	snprintf(path, sizeof(path), "%s/timeline.html", root);
	assert_int_equal(scn_timeline_write(t, "Two clients: vm1 runs to the end, vm2 is stopped",
					    "FAIL (step 16)", path),
			 0);
	if (sample)
		assert_int_equal(scn_timeline_write(t,
						    "Two clients: vm1 runs to the end, vm2 is "
						    "stopped",
						    "FAIL (step 16)", sample),
				 0);

	/* well-formed XML (so well-formed HTML too), nothing external */
	xmlDocPtr doc = xmlReadFile(path, NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	assert_int_equal(count(doc, "//*[local-name()='script' or @src or @href]"), 0);
	assert_int_equal(count(doc, "//*[local-name()='style']"), 1);

	/* one lane per label, in the declared order */
	assert_int_equal(count(doc, "//*[" CLASS("lane-head") "]"), 8);
	for (size_t i = 0; i < 8; i++) {
		char *name;

		snprintf(expr, sizeof(expr), "(//*[" CLASS("lane-head") "])[%zu]/@data-lane",
			 i + 1);
		name = string_of(doc, expr);
		assert_string_equal(name, lanes[i]);
		free(name);
	}
	/* one row per line that is not a meta line, one arrow per callback */
	assert_int_equal(count(doc, "//*[" CLASS("ev") "]"), 99);
	assert_int_equal(count(doc, "//*[" CLASS("cb-arrow") "]"), 6);
	assert_int_equal(count(doc, "//*[" CLASS("lane-head") " and " CLASS("empty") "]"), 2);
	/* the FAIL line is drawn as a failure, the steps as bands */
	assert_int_equal(count(doc, "//*[" CLASS("fail") " and " CLASS("t") "]"), 1);
	assert_int_equal(count(doc, "//*[" CLASS("band") "]"), 15);
	/* the status, the title, and a tooltip with the full line, time and pid */
	char *s = string_of(doc, "//*[" CLASS("status") "]");
	assert_string_equal(s, "FAIL (step 16)");
	free(s);
	assert_true(strstr((s = string_of(doc, "//*[local-name()='h1']")), "vm2 is stopped") !=
		    NULL);
	free(s);
	s = string_of(doc, "//*[@data-seq='61']/*[local-name()='title']");
	assert_non_null(strstr(s, "line 62"));
	assert_non_null(strstr(s, "t 5.112655000 s"));
	assert_non_null(strstr(s, "pid 5011 (virtmgr app)"));
	assert_non_null(strstr(s, "vm:2048 cb2 onPayloadReady"));
	free(s);
	xmlFreeDoc(doc);

	/* libxml2's HTML parser takes it too */
	htmlDocPtr h = htmlReadFile(path, "UTF-8",
				    HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING);
	assert_non_null(h);
	xmlFreeDoc(h);
	scn_trace_free(t);
}

/* Pairing when no callback is named: by client, CID, method and order, never backwards. */
static void test_arrows(void **state)
{
	static const char trace[] = "1.0 1 scenario @actor 2 client a\n"        /* 0 */
				    "1.0 1 scenario @actor 3 virtmgr a\n"       /* 1 */
				    "1.0 1 scenario @actor 4 client b\n"        /* 2 */
				    "1.0 1 scenario @actor 5 virtmgr b\n"       /* 3 */
				    "1.0 1 scenario @cid v1 100\n"              /* 4 */
				    "1.0 1 scenario @cid v2 101\n"              /* 5 */
				    "1.0 1 scenario @cid w1 102\n"              /* 6 */
				    "1.0 2 client v2 x onError(1, \"early\")\n" /* 7 */
				    "1.0 3 vm:100 cb1 onPayloadStarted\n"       /* 8 */
				    "1.0 3 vm:101 cb1 onPayloadStarted\n"       /* 9 */
				    "1.0 2 client v2 x onPayloadStarted\n"      /* 10 */
				    "1.0 2 client v1 x onPayloadStarted\n"      /* 11 */
				    "1.0 3 vm:100 cb1 onDied(KILLED)\n"         /* 12 */
				    "1.0 3 vm:100 cb2 onDied(KILLED)\n"         /* 13 */
				    "1.0 5 vm:102 cb1 onPayloadReady\n"         /* 14 */
				    "1.0 2 client v1 x onDied(KILLED)\n"        /* 15 */
				    "1.0 2 client v1 y onDied(KILLED)\n"        /* 16 */
				    "1.0 2 client w1 z onPayloadReady\n"        /* 17 */
				    "1.0 3 virtmgr vm:101 cb1 onPayloadReady\n" /* 18 */
				    "1.0 2 client v2 x onPayloadReady\n"        /* 19 */
				    "1.0 2 client v2 x onPayloadFinished(0)\n"  /* 20 */
				    "1.0 3 vm:101 cb1 onError(1, \"early\")\n"  /* 21 */
				    "1.0 2 client v2 x onPayloadStarted\n";     /* 22 */
	static const size_t want[][2] = {{8, 11}, {9, 10}, {12, 15}, {13, 16}, {18, 19}};
	struct scn_trace *t = NULL;
	struct scn_trace_lanes l;
	struct scn_trace_arrow *a;
	size_t n;

	assert_int_equal(scn_trace_new(&t), 0);
	assert_int_equal(scn_trace_feed(t, trace, sizeof(trace) - 1), 23);
	assert_int_equal(scn_trace_lanes(t, &l), 0);
	assert_int_equal(scn_trace_callback_arrows(t, &l, &a, &n), 0);
	for (size_t i = 0; i < n; i++)
		print_message("arrow %zu -> %zu\n", a[i].from_seq, a[i].to_seq);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(a[i].from_seq, want[i][0]);
		assert_int_equal(a[i].to_seq, want[i][1]);
	}
	free(a);
	scn_trace_lanes_clear(&l);
	scn_trace_free(t);
}

/* Pairing by the callback names learned from registrations; aliases; a reused CID. */
static void test_arrows_named(void **state)
{
	static const char trace[] =
	    "1.0 1 scenario @actor 2 client a\n"                          /* 0 */
	    "1.0 1 scenario @actor 3 virtmgr a\n"                         /* 1 */
	    "1.0 3 virtmgr createVm(\"minimal\") -> vm:100 NOT_STARTED\n" /* 2 */
	    "1.0 3 vm:100 callback cb1 registered\n"                      /* 3: libvmclient's */
	    "1.0 2 client create v1 -> vm:100\n"                          /* 4 */
	    "1.0 1 scenario @cid v1 100\n"                                /* 5 */
	    "1.0 3 vm:100 callback cb2 registered\n"                      /* 6 */
	    "1.0 2 client register v1 x -> ok\n"                          /* 7: cb2 is x */
	    "1.0 2 client ref v1 as v1b\n"                                /* 8 */
	    "1.0 3 vm:100 callback cb3 registered\n"                      /* 9 */
	    "1.0 3 vm:100 cb1 onPayloadStarted\n"                         /* 10: no arrow */
	    "1.0 3 vm:100 cb2 onPayloadStarted\n"                         /* 11 -> 13 */
	    "1.0 3 vm:100 cb3 onPayloadStarted\n"                         /* 12 -> 15 */
	    "1.0 2 client v1 x onPayloadStarted\n"                        /* 13 */
	    "1.0 2 client register v1b y -> ok\n"                         /* 14: cb3 is y */
	    "1.0 2 client v1b y onPayloadStarted\n"                       /* 15 */
	    "1.0 3 vm:100 cb1 onDied(KILLED)\n"                           /* 16: no arrow */
	    "1.0 3 vm:100 cb2 onDied(KILLED)\n"                           /* 17 -> 19 */
	    "1.0 3 vm:100 cb3 onDied(KILLED)\n"                           /* 18 -> 20 */
	    "1.0 2 client v1 x onDied(KILLED)\n"                          /* 19 */
	    "1.0 2 client v1b y onDied(KILLED)\n"                         /* 20 */
	    "1.0 3 virtmgr createVm(\"minimal\") -> vm:100 NOT_STARTED\n" /* 21: CID reused */
	    "1.0 3 vm:100 callback cb1 registered\n"                      /* 22 */
	    "1.0 2 client create v2 -> vm:100\n"                          /* 23 */
	    "1.0 1 scenario @cid v2 100\n"                                /* 24 */
	    "1.0 3 vm:100 cb1 onPayloadStarted\n"                         /* 25 -> 26: no names */
	    "1.0 2 client v2 z onPayloadStarted\n";                       /* 26 */
	static const size_t want[][2] = {{11, 13}, {12, 15}, {17, 19}, {18, 20}, {25, 26}};
	struct scn_trace *t = NULL;
	struct scn_trace_lanes l;
	struct scn_trace_arrow *a;
	size_t n;

	assert_int_equal(scn_trace_new(&t), 0);
	assert_int_equal(scn_trace_feed(t, trace, sizeof(trace) - 1), 27);
	assert_int_equal(scn_trace_lanes(t, &l), 0);
	assert_int_equal(scn_trace_callback_arrows(t, &l, &a, &n), 0);
	for (size_t i = 0; i < n; i++)
		print_message("arrow %zu -> %zu\n", a[i].from_seq, a[i].to_seq);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(a[i].from_seq, want[i][0]);
		assert_int_equal(a[i].to_seq, want[i][1]);
	}
	free(a);
	scn_trace_lanes_clear(&l);
	scn_trace_free(t);
}

static void test_timeline_escaping(void **state)
{
	static const char trace[] =
	    "1.0 1 scenario @actor 1 scenario\n"
	    "1.0 1 scenario @actor 2 client <b>&amp;\n"
	    "1.0 2 client <script>alert('x')</script> & \"q\" ]]> \x01\x7f \xc3\x28 \xe2\x82\n"
	    "1.0 1 scenario FAIL it's <broken> & \"done\"\n";
	struct scn_trace *t = NULL;
	char path[PATH_MAX], *page, *s;

	assert_int_equal(scn_trace_new(&t), 0);
	assert_int_equal(scn_trace_feed(t, trace, sizeof(trace) - 1), 4);
	snprintf(path, sizeof(path), "%s/escape.html", root);
	assert_int_equal(scn_timeline_write(t, "a <title> & \"more\"", "pass & <ok>", path), 0);
	page = read_all(path);
	assert_null(strstr(page, "<script"));
	assert_null(strstr(page, "<b>"));
	assert_null(strstr(page, "<broken>"));
	assert_null(strstr(page, "\x01"));
	free(page);

	xmlDocPtr doc = xmlReadFile(path, NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	s = string_of(doc, "//*[local-name()='h1']");
	assert_string_equal(s, "a <title> & \"more\"");
	free(s);
	s = string_of(doc, "//*[" CLASS("lane-head") "][2]/@data-lane");
	assert_string_equal(s, "client <b>&amp;");
	free(s);
	s = string_of(doc, "//*[@data-seq='2']/*[" CLASS("t") "]");
	assert_string_equal(s, "<script>alert('x')</script> & \"q\" ]]>  \xef\xbf\xbd( "
			       "\xef\xbf\xbd\xef\xbf\xbd");
	free(s);
	assert_int_equal(count(doc, "//*[" CLASS("st-pass") "]"), 1);
	xmlFreeDoc(doc);

	/* an empty trace is a page too */
	scn_trace_free(t);
	assert_int_equal(scn_trace_new(&t), 0);
	assert_int_equal(scn_timeline_write(t, NULL, NULL, path), 0);
	doc = xmlReadFile(path, NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	assert_int_equal(count(doc, "//*[" CLASS("lane-head") "]"), 0);
	xmlFreeDoc(doc);
	scn_trace_free(t);

	/* a directory that does not exist: the error, and no file left behind */
	assert_int_equal(scn_trace_new(&t), 0);
	snprintf(path, sizeof(path), "%s/none/x.html", root);
	assert_int_equal(scn_timeline_write(t, NULL, NULL, path), -ENOENT);
	assert_non_null(strstr(avf_err_last()->msg, "cannot create '"));
	assert_int_equal(fs_count_entries(root), 1);
	scn_trace_free(t);
}

/* ---- JUnit ---------------------------------------------------------------------------------- */

static void test_junit(void **state)
{
	const struct scn_junit_case cases[] = {
	    {"start_twice", "scenarios.lifecycle", 0.25, SCN_JUNIT_PASS, NULL, NULL},
	    {"drop <last> & \"handle\"", NULL, 1.5, SCN_JUNIT_FAIL,
	     "step 7: expected KILLED, got SHUTDOWN\nsecond line",
	     "== client app\nvm1 cb onDied(SHUTDOWN) \x01\x02\x1b[0m ]]> \xff end"},
	    {"boot_hangup", "scenarios.timeouts", 2.0, SCN_JUNIT_SKIP, "libfaketime not found",
	     NULL},
	    {"negative", "scenarios.x", -3.0, SCN_JUNIT_PASS, NULL, "out"},
	};
	char path[PATH_MAX], *s;

	snprintf(path, sizeof(path), "%s/junit.xml", root);
	assert_int_equal(scn_junit_write(path, "avf scenarios", cases, 4), 0);

	xmlDocPtr doc = xmlReadFile(path, NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	static const struct {
		const char *expr, *want;
	} rows[] = {
	    {"/testsuites/@name", "avf scenarios"},
	    {"/testsuites/@tests", "4"},
	    {"/testsuites/@failures", "1"},
	    {"/testsuites/@skipped", "1"},
	    {"/testsuites/@errors", "0"},
	    {"/testsuites/@time", "3.750"},
	    {"/testsuites/testsuite/@name", "avf scenarios"},
	    {"/testsuites/testsuite/@tests", "4"},
	    {"/testsuites/testsuite/@failures", "1"},
	    {"/testsuites/testsuite/@skipped", "1"},
	    {"/testsuites/testsuite/@time", "3.750"},
	    {"/testsuites/testsuite/testcase[1]/@name", "start_twice"},
	    {"/testsuites/testsuite/testcase[1]/@classname", "scenarios.lifecycle"},
	    {"/testsuites/testsuite/testcase[1]/@time", "0.250"},
	    {"/testsuites/testsuite/testcase[2]/@name", "drop <last> & \"handle\""},
	    {"/testsuites/testsuite/testcase[2]/@classname", "avf scenarios"},
	    {"/testsuites/testsuite/testcase[2]/failure/@message",
	     "step 7: expected KILLED, got SHUTDOWN"},
	    {"/testsuites/testsuite/testcase[2]/failure",
	     "step 7: expected KILLED, got SHUTDOWN\nsecond line"},
	    {"/testsuites/testsuite/testcase[2]/system-out",
	     "== client app\nvm1 cb onDied(SHUTDOWN) [0m ]]> \xef\xbf\xbd end"},
	    {"/testsuites/testsuite/testcase[3]/skipped/@message", "libfaketime not found"},
	    {"/testsuites/testsuite/testcase[4]/@time", "0.000"},
	    {"/testsuites/testsuite/testcase[4]/system-out", "out"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		s = string_of(doc, rows[i].expr);
		if (strcmp(s, rows[i].want))
			fail_msg("%s = '%s', expected '%s'", rows[i].expr, s, rows[i].want);
		free(s);
	}
	assert_int_equal(count(doc, "//testcase"), 4);
	assert_int_equal(count(doc, "//testcase[1]/*"), 0);
	assert_int_equal(count(doc, "//failure"), 1);
	assert_int_equal(count(doc, "//skipped"), 1);
	assert_int_equal(count(doc, "//system-out"), 2);
	xmlFreeDoc(doc);

	/* a case that owns its strings */
	struct scn_junit_case owned = {strdup("n"),    strdup("c"), 1,
				       SCN_JUNIT_FAIL, strdup("f"), strdup("o")};
	assert_int_equal(scn_junit_write(path, "s", &owned, 1), 0);
	scn_junit_case_clear(&owned);
	assert_null(owned.name);
	assert_null(owned.failure);
	scn_junit_case_clear(NULL);

	/* no cases at all is a valid report */
	assert_int_equal(scn_junit_write(path, NULL, NULL, 0), 0);
	doc = xmlReadFile(path, NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	s = string_of(doc, "/testsuites/testsuite/@tests");
	assert_string_equal(s, "0");
	free(s);
	xmlFreeDoc(doc);
	assert_int_equal(fs_count_entries(root), 1); /* the temporary file was renamed */

	snprintf(path, sizeof(path), "%s/none/junit.xml", root);
	assert_int_equal(scn_junit_write(path, "s", cases, 1), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_labels),
	    cmocka_unit_test(test_kinds),
	    cmocka_unit_test_setup_teardown(test_incremental, setup, teardown),
	    cmocka_unit_test(test_feed),
	    cmocka_unit_test(test_normal_form_of_two_races),
	    cmocka_unit_test(test_reused_cid),
	    cmocka_unit_test(test_substitutions),
	    cmocka_unit_test(test_lane_order),
	    cmocka_unit_test(test_unlabelled_lanes),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeline, setup, teardown),
	    cmocka_unit_test(test_arrows),
	    cmocka_unit_test(test_arrows_named),
	    cmocka_unit_test_setup_teardown(test_timeline_escaping, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_junit, setup, teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	/* libxml2's global state, freed once nothing can use it again: valgrind sees no leak */
	xmlCleanupParser();
	return failed;
}
