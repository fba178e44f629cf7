/* SPDX-License-Identifier: Apache-2.0 */
/*
 * avf-scenario: run lifecycle scenarios (.scn, docs/scenarios.md) against the real
 * processes — virtualizationservice, a virtmgr per client, fakevmm VMMs — and
 * judge them. Reports: human text (default), JUnit XML (--junit), an HTML/SVG
 * timeline (--timeline), the normalised trace (--normalized). --repeat N runs each
 * scenario N times and fails when the normalised traces differ (stability).
 *
 * Exit: 0 every scenario passed (or was skipped, with others passing), 1 one
 * failed, 2 usage or parse error, 77 every scenario was skipped (CTest's skip).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "base/fs_util.h"
#include "scn.h"
#include "scn_run.h"
#include "scn_trace.h"
#include "scn_junit.h"

#ifndef AVF_VERSION
#define AVF_VERSION "0"
#endif
#ifndef AVF_LIBFAKETIME_DEFAULT
#define AVF_LIBFAKETIME_DEFAULT ""
#endif

#define TRACE_TAIL 400

struct opts {
	const char *junit, *timeline, *trace, *normalized, *bindir;
	unsigned repeat;
	bool keep, verbose, check_only, show_trace;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: avf-scenario [options] FILE.scn...\n"
		"Run lifecycle scenarios against virtualizationservice, virtmgr and fakevmm.\n"
		"\n"
		"  --junit FILE        JUnit XML report of every scenario run\n"
		"  --timeline PATH     HTML/SVG timeline (a file for one scenario, else a directory)\n"
		"  --trace PATH        keep the raw trace (a file for one scenario, else a directory)\n"
		"  --normalized PATH   write the normalised trace (file or directory, as above)\n"
		"  --repeat N          run each scenario N times; fail if the normalised traces differ\n"
		"  --check             parse only: report syntax errors, run nothing\n"
		"  --normalize TRACE   print the normal form of a trace file and exit\n"
		"  --show-trace        print the trace of every passing run\n"
		"  --keep              keep each run's directory (sockets, state)\n"
		"  --bindir DIR        where virtualizationservice, virtmgr, fakevmm are\n"
		"                      (default: this program's directory)\n"
		"  -v, --verbose       print each step as it runs\n"
		"  -h, --help          this text\n"
		"      --version       the version\n"
		"\n"
		"Environment: AVF_LIBFAKETIME (libfaketime.so.1 for `time xN` scenarios; default %s).\n"
		"Exit: 0 passed, 1 failed, 2 usage or syntax error, 77 all skipped.\n",
		*AVF_LIBFAKETIME_DEFAULT ? AVF_LIBFAKETIME_DEFAULT : "none found at build time");
}

/* PATH for scenario @i of @n: PATH itself for one scenario, else PATH/<name>.<ext>. */
static void out_path(char *buf, size_t len, const char *path, size_t n, const char *scn,
		     const char *ext, unsigned run)
{
	char tmp[PATH_MAX], *base;

	if (n == 1) {
		snprintf(buf, len, "%s", path);
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s", scn);
	base = basename(tmp);
	char *dot = strrchr(base, '.');
	if (dot)
		*dot = '\0';
	mkdir(path, 0755);
	if (run)
		snprintf(buf, len, "%s/%s.%u.%s", path, base, run, ext);
	else
		snprintf(buf, len, "%s/%s.%s", path, base, ext);
}

/* The merged trace in file order (the true order of events), one process a column. */
static void print_trace(FILE *f, const struct scn_trace *t, size_t tail)
{
	size_t n = scn_trace_count(t), from = tail && n > tail ? n - tail : 0;

	for (size_t i = from; i < n; i++) {
		const struct scn_trace_rec *r = scn_trace_at(t, i);
		if (r->meta)
			continue;
		fprintf(f, "    %-22s %s\n", r->label ? r->label : "?", scn_trace_rec_shown(r));
	}
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	FILE *m = open_memstream(&buf, &len);
	if (m) {
		char chunk[4096];
		size_t k;
		while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
			fwrite(chunk, 1, k, m);
		fclose(m);
	}
	fclose(f);
	return buf;
}

/* One scenario, o->repeat times. Returns its status; fills the JUnit case. */
static enum scn_status run_one(const struct opts *o, const char *path, size_t n_files, char *bindir,
			       struct scn_junit_case *jc, bool *syntax_error)
{
	struct scn *s = NULL;
	char *err = NULL, trace_path[PATH_MAX], *first_norm = NULL;
	const char *faketime = getenv("AVF_LIBFAKETIME");
	enum scn_status status = SCN_PASS;
	double seconds = 0;
	int tfd;

	jc->name = strdup(path);
	jc->classname = strdup("scenario");
	if (scn_parse_file(path, &s, &err) < 0) {
		fprintf(stderr, "%s\n", err ? err : avf_err_last()->msg);
		*syntax_error = true;
		jc->status = SCN_JUNIT_FAIL;
		jc->failure = err ? err : strdup("parse error");
		return SCN_FAIL;
	}
	if (o->check_only) {
		printf("ok   %s (%zu steps)\n", path, s->n);
		scn_free(s);
		jc->status = SCN_JUNIT_PASS;
		return SCN_PASS;
	}
	for (unsigned run = 1; run <= o->repeat && status == SCN_PASS; run++) {
		struct scn_run_opts ro = {
		    .bindir = bindir,
		    .trace_path = trace_path,
		    .faketime_lib = faketime && *faketime ? faketime
				    : *AVF_LIBFAKETIME_DEFAULT ? AVF_LIBFAKETIME_DEFAULT
							       : NULL,
		    .keep = o->keep,
		    .progress = o->verbose ? stdout : NULL,
		};
		struct scn_result res;
		struct scn_trace *t = NULL;
		char *norm = NULL;

		if (o->trace)
			out_path(trace_path, sizeof(trace_path), o->trace, n_files, path, "trace",
				 o->repeat > 1 ? run : 0);
		else {
			snprintf(trace_path, sizeof(trace_path), "%s/avf-scn-trace-XXXXXX",
				 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
			if ((tfd = mkostemp(trace_path, O_CLOEXEC)) < 0) {
				perror("mkostemp");
				status = SCN_FAIL;
				break;
			}
			close(tfd);
		}
		if (o->verbose)
			printf("%s (run %u of %u)\n", path, run, o->repeat);
		scn_run(s, &ro, &res);
		seconds += res.seconds;
		if (scn_trace_load(trace_path, &t) == 0 && res.status != SCN_SKIP)
			scn_trace_normalize_str(t, &norm);
		if (res.status == SCN_SKIP) {
			status = SCN_SKIP;
			printf("SKIP %s: %s\n", path, res.message ? res.message : "");
			jc->status = SCN_JUNIT_SKIP;
			jc->failure = res.message ? strdup(res.message) : NULL;
		} else if (res.status == SCN_FAIL) {
			status = SCN_FAIL;
			fprintf(stderr, "FAIL %s:%u%s%s\n", path, res.line, res.step ? ": " : "",
				res.step ? res.step : " (end of scenario)");
			fprintf(stderr, "  %s\n", res.message ? res.message : "failed");
			if (o->repeat > 1)
				fprintf(stderr, "  (run %u of %u)\n", run, o->repeat);
			if (t) {
				fprintf(stderr, "  trace so far%s:\n",
					scn_trace_count(t) > TRACE_TAIL ? " (last lines)" : "");
				print_trace(stderr, t, TRACE_TAIL);
			}
			if (asprintf(&jc->failure, "%s:%u: %s: %s", path, res.line,
				     res.step ? res.step : "end", res.message ? res.message : "") < 0)
				jc->failure = NULL;
		} else if (first_norm && norm && strcmp(first_norm, norm)) {
			status = SCN_FAIL;
			fprintf(stderr, "FAIL %s: run %u's normalised trace differs from run 1's\n",
				path, run);
			fprintf(stderr, "---- run 1\n%s---- run %u\n%s", first_norm, run, norm);
			if (asprintf(&jc->failure, "%s: normalised trace of run %u differs from run 1",
				     path, run) < 0)
				jc->failure = NULL;
		}
		if (o->show_trace && t && res.status == SCN_PASS) {
			printf("trace of %s (every process, in the order things happened):\n", path);
			print_trace(stdout, t, 0);
		}
		if (o->normalized && norm) {
			char np[PATH_MAX];
			out_path(np, sizeof(np), o->normalized, n_files, path, "norm", 0);
			FILE *f = fopen(np, "we");
			if (f) {
				fputs(norm, f);
				fclose(f);
			}
		}
		if (o->timeline && t) {
			char tp[PATH_MAX], st[512];
			out_path(tp, sizeof(tp), o->timeline, n_files, path, "html", 0);
			snprintf(st, sizeof(st), "%s", res.status == SCN_PASS ? "pass"
						       : res.status == SCN_SKIP ? "skip"
										: "fail");
			if (res.status == SCN_FAIL)
				snprintf(st, sizeof(st), "fail at line %u: %s", res.line,
					 res.message ? res.message : "");
			if (scn_timeline_write(t, s->title ? s->title : path, st, tp) < 0)
				fprintf(stderr, "avf-scenario: timeline %s: %s\n", tp,
					avf_err_last()->msg);
		}
		if (status == SCN_FAIL && !jc->system_out)
			jc->system_out = read_text(trace_path);
		if (!first_norm)
			first_norm = norm;
		else
			free(norm);
		scn_trace_free(t);
		scn_result_clear(&res);
		if (!o->trace)
			unlink(trace_path);
		if (status == SCN_SKIP)
			break;
	}
	jc->time_s = seconds;
	if (status == SCN_PASS) {
		jc->status = SCN_JUNIT_PASS;
		printf("PASS %s (%zu steps%s, %.2f s)\n", path, s->n,
		       o->repeat > 1 ? ", stable" : "", seconds);
		if (o->repeat > 1)
			printf("     %u runs, normalised traces identical\n", o->repeat);
	} else if (status == SCN_FAIL)
		jc->status = SCN_JUNIT_FAIL;
	free(first_norm);
	scn_free(s);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"junit", required_argument, NULL, 'j'},
	    {"timeline", required_argument, NULL, 't'},
	    {"trace", required_argument, NULL, 'T'},
	    {"normalized", required_argument, NULL, 'n'},
	    {"repeat", required_argument, NULL, 'r'},
	    {"check", no_argument, NULL, 'c'},
	    {"keep", no_argument, NULL, 'k'},
	    {"bindir", required_argument, NULL, 'b'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"normalize", required_argument, NULL, 'N'},
	    {"show-trace", no_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	struct opts o = {.repeat = 1};
	char bindir[PATH_MAX];
	size_t n_pass = 0, n_fail = 0, n_skip = 0;
	int c;

	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o.junit = optarg;
			break;
		case 't':
			o.timeline = optarg;
			break;
		case 'T':
			o.trace = optarg;
			break;
		case 'n':
			o.normalized = optarg;
			break;
		case 'r': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v < 1 || v > 100000) {
				fprintf(stderr, "avf-scenario: --repeat: '%s' is not a count 1..100000\n",
					optarg);
				return 2;
			}
			o.repeat = (unsigned)v;
			break;
		}
		case 'c':
			o.check_only = true;
			break;
		case 'k':
			o.keep = true;
			break;
		case 'b':
			o.bindir = optarg;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'S':
			o.show_trace = true;
			break;
		case 'N': {
			/* A trace from anywhere (another backend, an old run): its normal form. */
			struct scn_trace *t = NULL;
			if (scn_trace_load(optarg, &t) < 0 || scn_trace_normalize(t, stdout) < 0) {
				fprintf(stderr, "avf-scenario: %s\n", avf_err_last()->msg);
				scn_trace_free(t);
				return 1;
			}
			scn_trace_free(t);
			return 0;
		}
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("avf-scenario %s\n", AVF_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind == argc) {
		fprintf(stderr, "avf-scenario: no scenario given\n");
		usage(stderr);
		return 2;
	}
	if (o.bindir)
		snprintf(bindir, sizeof(bindir), "%s", o.bindir);
	else if (fs_self_dir(bindir, sizeof(bindir)) < 0) {
		fprintf(stderr, "avf-scenario: cannot find my own directory; use --bindir\n");
		return 2;
	}
	size_t n = (size_t)(argc - optind);
	struct scn_junit_case *cases = calloc(n, sizeof(*cases));
	if (!cases) {
		fprintf(stderr, "avf-scenario: out of memory\n");
		return 1;
	}
	bool parse_error = false;
	for (size_t i = 0; i < n; i++) {
		enum scn_status st =
		    run_one(&o, argv[optind + (int)i], n, bindir, &cases[i], &parse_error);
		if (st == SCN_PASS)
			n_pass++;
		else if (st == SCN_SKIP)
			n_skip++;
		else
			n_fail++;
	}
	if (o.junit && scn_junit_write(o.junit, "avf-scenario", cases, n) < 0)
		fprintf(stderr, "avf-scenario: --junit %s: %s\n", o.junit, avf_err_last()->msg);
	for (size_t i = 0; i < n; i++)
		scn_junit_case_clear(&cases[i]);
	free(cases);
	if (n > 1)
		printf("%zu passed, %zu failed, %zu skipped\n", n_pass, n_fail, n_skip);
	if (parse_error)
		return 2;
	if (n_fail)
		return 1;
	if (n_skip && !n_pass)
		return 77;
	return 0;
}
