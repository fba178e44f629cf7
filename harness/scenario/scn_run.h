/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_run: run one parsed scenario against real processes (scn_world) and judge
 * it. Steps run in order; the first failure stops the steps, then the world is
 * torn down anyway, so a failed scenario leaks nothing either. Every run ends
 * with the leak check (world_finish), whether or not the scenario asks for it.
 */
#ifndef AVF_HARNESS_SCENARIO_SCN_RUN_H
#define AVF_HARNESS_SCENARIO_SCN_RUN_H

#include <stdbool.h>
#include <stdio.h>

#include "scn.h"

enum scn_status { SCN_PASS, SCN_FAIL, SCN_SKIP };

struct scn_run_opts {
	const char *bindir;       /* virtualizationservice, virtmgr, fakevmm */
	const char *trace_path;   /* the run's trace file (created / truncated) */
	const char *faketime_lib; /* NULL: scenarios with `time xN` (N > 1) are skipped */
	bool keep;                /* keep the run dir (its path is in the trace's @run line) */
	FILE *progress;           /* each step as it starts; NULL: quiet */
};

struct scn_result {
	enum scn_status status;
	unsigned line;   /* the failing step's line (0: setup or teardown) */
	char *step;      /* its text (malloc'd) */
	char *message;   /* what was expected and what happened / why skipped (malloc'd) */
	double seconds;
	size_t steps_run;
};

/* 0 when the run happened (pass or fail: see res->status); -errno when it could not. */
int scn_run(const struct scn *s, const struct scn_run_opts *o, struct scn_result *res);
void scn_result_clear(struct scn_result *res);

#endif
