/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_junit: scenario results as a JUnit XML report, the shape Jenkins and GitLab read:
 *
 *   <testsuites name=S tests failures errors skipped time>
 *     <testsuite name=S tests failures errors skipped time>
 *       <testcase name classname time>
 *         [<failure message="first line" type="failure">whole message</failure>]
 *         [<skipped message="reason"/>]
 *         [<system-out>trace excerpt</system-out>]
 *
 * Counts and the suite's time (the sum of the cases') are computed from the cases;
 * errors is always 0 (a scenario that cannot run fails). Times are seconds with
 * millisecond precision; a negative or non-finite time is written as 0. All text is
 * escaped, invalid UTF-8 replaced, and characters XML 1.0 forbids left out
 * (scn_trace_xml.h). The file is written to a temporary name and renamed.
 */
#ifndef AVF_HARNESS_SCENARIO_SCN_JUNIT_H
#define AVF_HARNESS_SCENARIO_SCN_JUNIT_H

#include <stddef.h>

enum scn_junit_status {
	SCN_JUNIT_PASS,
	SCN_JUNIT_FAIL,
	SCN_JUNIT_SKIP,
};

/* The strings belong to whoever fills the case; scn_junit_case_clear frees malloc'd ones. */
struct scn_junit_case {
	char *name;      /* the scenario, e.g. its path */
	char *classname; /* its group, e.g. "scenarios.lifecycle"; NULL: the suite's name */
	double time_s;
	enum scn_junit_status status;
	char *failure;    /* FAIL: the failure message; SKIP: the reason; NULL: none */
	char *system_out; /* the trace excerpt; NULL: no <system-out> */
};

/* Write the report of @n @cases to @path. -errno with a message. */
int scn_junit_write(const char *path, const char *suite, const struct scn_junit_case *cases,
		    size_t n);
/* Free the strings of a case that owns them (malloc'd) and zero it; accepts NULL. */
void scn_junit_case_clear(struct scn_junit_case *c);

#endif
