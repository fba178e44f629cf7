/* SPDX-License-Identifier: Apache-2.0 */
/* scn_junit: the JUnit XML report of a scenario run; contract in scn_junit.h. */
#include "scn_junit.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "scn_trace_xml.h"

static double clean_time(double s)
{
	return isfinite(s) && s > 0 ? s : 0;
}

static void attr(FILE *f, const char *name, const char *value)
{
	fprintf(f, " %s=\"", name);
	scn_xml_write(f, value ? value : "", true, 0);
	fputc('"', f);
}

/* The first line of @msg as the failure's message attribute (the element has it all). */
static void first_line_attr(FILE *f, const char *msg)
{
	size_t n = strcspn(msg, "\n");
	char *line = strndup(msg, n);

	attr(f, "message", line ? line : "");
	free(line);
}

static void write_report(FILE *f, const char *suite, const struct scn_junit_case *cases, size_t n)
{
	size_t failures = 0, skipped = 0;
	double total = 0;

	for (size_t i = 0; i < n; i++) {
		failures += cases[i].status == SCN_JUNIT_FAIL;
		skipped += cases[i].status == SCN_JUNIT_SKIP;
		total += clean_time(cases[i].time_s);
	}
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
	for (int level = 0; level < 2; level++) {
		fputs(level ? "  <testsuite" : "<testsuites", f);
		attr(f, "name", suite);
		fprintf(f,
			" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\" "
			"time=\"%.3f\">\n",
			n, failures, skipped, total);
	}
	for (size_t i = 0; i < n; i++) {
		const struct scn_junit_case *c = &cases[i];
		bool empty = c->status == SCN_JUNIT_PASS && !c->system_out;

		fputs("    <testcase", f);
		attr(f, "name", c->name);
		attr(f, "classname", c->classname ? c->classname : suite);
		fprintf(f, " time=\"%.3f\"%s\n", clean_time(c->time_s), empty ? "/>" : ">");
		if (empty)
			continue;
		if (c->status == SCN_JUNIT_FAIL) {
			fputs("      <failure", f);
			first_line_attr(f, c->failure ? c->failure : "failed");
			fputs(" type=\"failure\">", f);
			scn_xml_write(f, c->failure ? c->failure : "failed", false, 0);
			fputs("</failure>\n", f);
		} else if (c->status == SCN_JUNIT_SKIP) {
			fputs("      <skipped", f);
			attr(f, "message", c->failure ? c->failure : "skipped");
			fputs("/>\n", f);
		}
		if (c->system_out) {
			fputs("      <system-out>", f);
			scn_xml_write(f, c->system_out, false, 0);
			fputs("</system-out>\n", f);
		}
		fputs("    </testcase>\n", f);
	}
	fputs("  </testsuite>\n</testsuites>\n", f);
}

int scn_junit_write(const char *path, const char *suite, const struct scn_junit_case *cases,
		    size_t n)
{
	char *tmp = NULL;
	FILE *f;
	int r = 0;

	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	if (!(f = fopen(tmp, "we"))) {
		r = avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "cannot create '%s': %s", tmp,
				strerror(errno));
		free(tmp);
		return r;
	}
	write_report(f, suite ? suite : "scenarios", cases, n);
	if (ferror(f))
		r = avf_err_set(-EIO, AVF_EX_SERVICE_SPECIFIC, "cannot write '%s'", tmp);
	if (fclose(f) != 0 && r == 0)
		r = avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "cannot write '%s': %s", tmp,
				strerror(errno));
	if (r == 0 && rename(tmp, path) < 0)
		r = avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "cannot rename '%s' to '%s': %s",
				tmp, path, strerror(errno));
	if (r < 0)
		unlink(tmp);
	free(tmp);
	return r;
}

void scn_junit_case_clear(struct scn_junit_case *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->classname);
	free(c->failure);
	free(c->system_out);
	*c = (struct scn_junit_case){0};
}
