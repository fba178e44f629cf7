/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_timeline: a trace as a sequence diagram in one self-contained HTML page (inline
 * CSS and SVG, no script, well-formed XML). Lanes come from scn_trace_lanes, rows are
 * records in file order (the true order; times are only in the tooltips, since the
 * processes' clocks do not compare), arrows from scn_trace_callback_arrows. The
 * contract is in scn_trace.h (scn_timeline_write).
 */
#include "scn_trace_int.h"
#include "scn_trace_xml.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/avf_err.h"

/* Layout, in px. Event text is 12 px monospace, about 7.25 px a character. */
#define GUTTER 52
#define LANE_W 160
#define TAIL_W 460
#define ROW_H  20
#define STEP_H 26
#define HEAD_H 40
#define PAD    6
#define CHAR_W 7.25
#define DOT_R  4.5

static const char *const kind_class[] = {
    [SCN_ACTOR_SCENARIO] = "k-scenario", [SCN_ACTOR_CLIENT] = "k-client",
    [SCN_ACTOR_VIRTMGR] = "k-virtmgr",   [SCN_ACTOR_VS] = "k-vs",
    [SCN_ACTOR_VMM] = "k-vmm",           [SCN_ACTOR_COMMAND] = "k-command",
    [SCN_ACTOR_UNKNOWN] = "k-unknown",
};

static const char *const kind_name[] = {
    [SCN_ACTOR_SCENARIO] = "scenario runner",
    [SCN_ACTOR_CLIENT] = "client process",
    [SCN_ACTOR_VIRTMGR] = "virtmgr",
    [SCN_ACTOR_VS] = "virtualizationservice",
    [SCN_ACTOR_VMM] = "VMM",
    [SCN_ACTOR_COMMAND] = "command line",
    [SCN_ACTOR_UNKNOWN] = "unknown process",
};

/* No '<' or '&' in here: the page is also well-formed XML. */
static const char css[] =
    "body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;"
    "color:#1f2328;background:#f6f8fa}\n"
    "header{padding:16px 24px 12px;background:#fff;border-bottom:1px solid #d0d7de}\n"
    "h1{margin:0;font-size:20px;display:inline;vertical-align:middle}\n"
    ".status{display:inline-block;margin-left:12px;padding:1px 12px;border-radius:12px;"
    "font-weight:600;font-size:13px;color:#fff;vertical-align:middle}\n"
    ".st-pass{background:#1a7f37}.st-fail{background:#cf222e}.st-skip{background:#9a6700}"
    ".st-other{background:#57606a}\n"
    ".facts{margin-top:6px;color:#57606a;font-size:13px}\n"
    ".legend{display:flex;flex-wrap:wrap;gap:4px 18px;margin-top:8px;font-size:13px}\n"
    ".legend i{display:inline-block;width:11px;height:11px;border-radius:50%;"
    "margin-right:6px;vertical-align:-1px}\n"
    ".legend i.bandsw,.legend i.failsw{border-radius:2px;width:22px}\n"
    ".legend svg{display:inline-block;vertical-align:middle;margin-right:6px}\n"
    ".bandsw{background:#e0e4ff;border-top:2px solid #6e77f7}"
    ".failsw{background:#ffd8d3;border-top:2px solid #cf222e}\n"
    ".diagram{margin:14px 24px 24px;overflow:auto;max-height:82vh;background:#fff;"
    "border:1px solid #d0d7de;border-radius:6px}\n"
    ".heads{position:sticky;top:0;z-index:1;background:#fff;border-bottom:1px solid #d0d7de;"
    "box-shadow:0 1px 3px rgba(0,0,0,.08)}\n"
    "svg{display:block}\n"
    "svg text{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;"
    "font-size:12px}\n"
    ".k-scenario{fill:#57606a;stroke:#57606a;background:#57606a}\n"
    ".k-client{fill:#0969da;stroke:#0969da;background:#0969da}\n"
    ".k-virtmgr{fill:#1a7f37;stroke:#1a7f37;background:#1a7f37}\n"
    ".k-vs{fill:#bc4c00;stroke:#bc4c00;background:#bc4c00}\n"
    ".k-vmm{fill:#8250df;stroke:#8250df;background:#8250df}\n"
    ".k-command{fill:#0a7b83;stroke:#0a7b83;background:#0a7b83}\n"
    ".k-unknown{fill:#8c959f;stroke:#8c959f;background:#8c959f}\n"
    ".lane-head text{fill:#fff;stroke:none;font-family:system-ui,sans-serif;font-size:11.5px;"
    "font-weight:600;text-anchor:middle}\n"
    ".lane-head.empty{opacity:.5}\n"
    ".gutter-head{fill:#8c959f;font-size:10px;text-anchor:end}\n"
    ".lifeline{stroke-width:1.5;stroke-dasharray:3 5;opacity:.4}\n"
    ".zebra{fill:#f6f8fa}\n"
    ".row{fill:#fff8c5;fill-opacity:0}.ev:hover .row{fill-opacity:1}\n"
    ".n{fill:#8c959f;font-size:10px;text-anchor:end}\n"
    ".t{fill:#1f2328;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}\n"
    ".band{fill:#e0e4ff}.band-edge{stroke:#6e77f7;stroke-width:1.5}"
    ".t.step{fill:#2a2f8f;font-weight:700}\n"
    ".fail-band{fill:#ffd8d3}.fail-edge{stroke:#cf222e;stroke-width:1.5}"
    ".t.fail{fill:#cf222e;font-weight:700}.dot.fail{fill:#cf222e;stroke:#cf222e}\n"
    ".t.ok{fill:#1a7f37}.t.err{fill:#bc4c00}\n"
    ".cb-arrow,.arrow-key{stroke:#d6336c;stroke-width:1.4;fill:none;opacity:.85;pointer-events:"
    "none}\n"
    ".arrowhead{fill:#d6336c;stroke:none}\n";

static double lane_x(size_t lane)
{
	return GUTTER + (double)lane * LANE_W + LANE_W / 2.0;
}

static bool starts_word(const char *s, const char *w)
{
	size_t n = strlen(w);

	return !strncmp(s, w, n) && (s[n] == ' ' || s[n] == ':' || !s[n]);
}

enum row_style { ROW_PLAIN, ROW_STEP, ROW_FAIL, ROW_OK, ROW_ERR };

static enum row_style style_of(const struct scn_trace_rec *r, const char *shown)
{
	bool scenario = scn_actor_kind_of(r->label) == SCN_ACTOR_SCENARIO;

	if (starts_word(shown, "FAIL"))
		return ROW_FAIL;
	if (scenario && starts_word(shown, "step"))
		return ROW_STEP;
	if (scenario && !strcmp(shown, "ok"))
		return ROW_OK;
	if (strstr(shown, "-> error") || strstr(shown, " failed"))
		return ROW_ERR;
	return ROW_PLAIN;
}

static const char *status_class(const char *s)
{
	if (!s)
		return "st-other";
	if (!strncasecmp(s, "pass", 4) || !strncasecmp(s, "ok", 2))
		return "st-pass";
	if (!strncasecmp(s, "fail", 4) || !strncasecmp(s, "error", 5))
		return "st-fail";
	if (!strncasecmp(s, "skip", 4))
		return "st-skip";
	return "st-other";
}

static void esc(FILE *f, const char *s)
{
	scn_xml_write(f, s, false, 0);
}

static void attr(FILE *f, const char *s)
{
	scn_xml_write(f, s, true, 0);
}

static void write_header(FILE *f, const struct scn_trace *t, const struct scn_trace_lanes *l,
			 const char *title, const char *status, size_t n_rows, size_t n_arrows)
{
	bool kinds[SCN_ACTOR_UNKNOWN + 1] = {false};

	fputs("<header>\n<h1>", f);
	esc(f, title);
	fputs("</h1>", f);
	if (status) {
		fprintf(f, "<span class=\"status %s\">", status_class(status));
		esc(f, status);
		fputs("</span>", f);
	}
	fprintf(f, "\n<div class=\"facts\">%zu events, %zu lanes, %zu callback%s", n_rows, l->n,
		n_arrows, n_arrows == 1 ? "" : "s");
	if (t->n_cid_evs) {
		fputs(" &#183; CIDs:", f);
		for (size_t i = 0; i < t->n_cid_evs; i++) {
			fputs(i ? ", " : " ", f);
			esc(f, t->cid_evs[i].vm);
			fprintf(f, " = %" PRIu32, t->cid_evs[i].cid);
		}
	}
	if (scn_trace_run_dir(t)) {
		fputs(" &#183; run ", f);
		esc(f, scn_trace_run_dir(t));
	}
	fputs(" &#183; rows in file order (the true order); hover a row for its time and pid"
	      "</div>\n<div class=\"legend\">",
	      f);
	for (size_t i = 0; i < l->n; i++)
		kinds[l->v[i].kind] = true;
	for (int k = 0; k <= SCN_ACTOR_UNKNOWN; k++)
		if (kinds[k])
			fprintf(f, "<span><i class=\"%s\"></i>%s</span>", kind_class[k],
				kind_name[k]);
	fputs("<span><i class=\"bandsw\"></i>scenario step</span>"
	      "<span><i class=\"failsw\"></i>FAIL</span>"
	      "<span><svg width=\"34\" height=\"10\"><line class=\"arrow-key\" x1=\"1\" y1=\"5\" "
	      "x2=\"26\" y2=\"5\"/><path class=\"arrowhead\" d=\"M26,1 L33,5 L26,9 z\"/></svg>"
	      "callback: virtmgr delivers, client receives</span></div>\n</header>\n",
	      f);
}

static void write_lane_heads(FILE *f, const struct scn_trace *t, const struct scn_trace_lanes *l,
			     double width)
{
	size_t max_chars = (size_t)((LANE_W - 16) / 6.7);

	fprintf(f,
		"<div class=\"heads\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
		"height=\"%d\">\n",
		width, HEAD_H);
	fprintf(f, "<text class=\"gutter-head\" x=\"%d\" y=\"%d\">line</text>\n", GUTTER - 8,
		HEAD_H / 2 + 4);
	for (size_t i = 0; i < l->n; i++) {
		const struct scn_trace_lane *lane = &l->v[i];
		bool first = true;

		/* a lane with nothing in it is drawn faint: it is there, but look elsewhere */
		fprintf(f, "<g class=\"lane-head%s\" data-lane=\"",
			lane->n_records ? "" : " empty");
		attr(f, lane->name);
		fputs("\"><title>", f);
		esc(f, lane->name);
		/* the pids that carried the label: a restarted daemon has several */
		for (size_t p = 0; lane->label && p < t->n_pids; p++) {
			size_t li = t->pids[p].label;

			if (li == SIZE_MAX || t->labels[li].name != lane->label)
				continue;
			fprintf(f, "%s%d", first ? "&#10;pid " : ", ", t->pids[p].pid);
			first = false;
		}
		fprintf(f, "&#10;%zu events</title>", lane->n_records);
		fprintf(f,
			"<rect class=\"%s\" x=\"%.1f\" y=\"7\" width=\"%d\" height=\"26\" "
			"rx=\"6\"/>",
			kind_class[lane->kind], lane_x(i) - (LANE_W - 12) / 2.0, LANE_W - 12);
		fprintf(f, "<text x=\"%.1f\" y=\"24\">", lane_x(i));
		scn_xml_write(f, lane->name, false, max_chars);
		fputs("</text></g>\n", f);
	}
	fputs("</svg></div>\n", f);
}

/* A row's background: a band for steps and failures, else every other row shaded. */
static void write_background(FILE *f, const struct scn_trace_rec *r, double y, double h,
			     double width, size_t parity)
{
	enum row_style st = style_of(r, scn_trace_rec_shown(r));

	if (st == ROW_STEP || st == ROW_FAIL) {
		const char *band = st == ROW_STEP ? "band" : "fail-band";

		fprintf(f,
			"<rect class=\"%s\" x=\"0\" y=\"%.1f\" width=\"%.0f\" height=\"%.1f\"/>"
			"<line class=\"%s-edge\" x1=\"0\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\"/>\n",
			band, y, width, h, st == ROW_STEP ? "band" : "fail", y + 0.75, width,
			y + 0.75);
	} else if (parity % 2) {
		fprintf(
		    f,
		    "<rect class=\"zebra\" x=\"0\" y=\"%.1f\" width=\"%.0f\" height=\"%.1f\"/>\n",
		    y, width, h);
	}
}

static void write_row(FILE *f, const struct scn_trace_lanes *l, const struct scn_trace_rec *r,
		      double y, double h, double width)
{
	size_t lane = l->of_rec[r->seq];
	const char *shown = scn_trace_rec_shown(r);
	enum row_style st = style_of(r, shown);
	double x = lane_x(lane), cy = y + h / 2;
	size_t max_chars = (size_t)((width - (x + 10) - 6) / CHAR_W);
	static const char *const text_class[] = {
	    [ROW_PLAIN] = "t", [ROW_STEP] = "t step", [ROW_FAIL] = "t fail",
	    [ROW_OK] = "t ok", [ROW_ERR] = "t err",
	};

	fprintf(f, "<g class=\"ev\" data-seq=\"%zu\"><title>line %zu", r->seq, r->seq + 1);
	if (!r->malformed) {
		fprintf(f, " &#183; t %" PRIu64 ".%09" PRIu64 " s &#183; pid %d (",
			r->t_ns / 1000000000u, r->t_ns % 1000000000u, r->pid);
		esc(f, r->label ? r->label : "no label");
		fputs(")", f);
	} else {
		fputs(" &#183; malformed", f);
	}
	fputs("&#10;", f);
	esc(f, r->line);
	fprintf(f,
		"</title><rect class=\"row\" x=\"0\" y=\"%.1f\" width=\"%.0f\" height=\"%.1f\"/>",
		y, width, h);
	fprintf(f, "<text class=\"n\" x=\"%d\" y=\"%.1f\">%zu</text>", GUTTER - 8, cy + 3.5,
		r->seq + 1);
	fprintf(f, "<circle class=\"dot %s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"/>",
		st == ROW_FAIL ? "fail" : kind_class[l->v[lane].kind], x, cy, DOT_R);
	fprintf(f, "<text class=\"%s\" x=\"%.1f\" y=\"%.1f\">", text_class[st], x + 10, cy + 4);
	if (st == ROW_STEP)
		fputs("&#9654; ", f);
	scn_xml_write(f, shown, false, max_chars > 8 ? max_chars - (st == ROW_STEP ? 2 : 0) : 6);
	fputs("</text></g>\n", f);
}

/*
 * An elbow from the delivery dot to the receipt dot. A row holds one event, its text to
 * the right of its dot, so the side of a row away from the text is free: towards a lane
 * on the left the arrow runs along the delivery row and drops into the receipt from
 * above; towards one on the right it drops down the virtmgr lane and runs along the
 * receipt row into the dot from the left. Either way it crosses no text.
 */
static void write_arrow(FILE *f, const struct scn_trace *t, const struct scn_trace_lanes *l,
			const struct scn_trace_arrow *a, const double *row_y, const double *row_h)
{
	const struct scn_trace_rec *from = scn_rec(t, a->from_seq), *to = scn_rec(t, a->to_seq);
	double x1 = lane_x(l->of_rec[a->from_seq]), x2 = lane_x(l->of_rec[a->to_seq]);
	double y1 = row_y[a->from_seq] + row_h[a->from_seq] / 2;
	double y2 = row_y[a->to_seq] + row_h[a->to_seq] / 2;
	double gap = DOT_R + 2, rc = fmin(8, (y2 - y1) / 2);

	fputs("<path class=\"cb-arrow\" marker-end=\"url(#ah)\" d=\"", f);
	if (x2 < x1)
		fprintf(f, "M%.1f,%.1f H%.1f Q%.1f,%.1f %.1f,%.1f V%.1f", x1 - gap, y1, x2 + rc, x2,
			y1, x2, y1 + rc, y2 - gap);
	else
		fprintf(f, "M%.1f,%.1f V%.1f Q%.1f,%.1f %.1f,%.1f H%.1f", x1, y1 + gap, y2 - rc, x1,
			y2, x1 + rc, y2, x2 - gap);
	fputs("\"><title>", f);
	esc(f, from->line);
	fputs(" &#8594; ", f);
	esc(f, to->line);
	fprintf(f, " (lines %zu &#8594; %zu)</title></path>\n", a->from_seq + 1, a->to_seq + 1);
}

static int write_page(FILE *f, const struct scn_trace *t, const char *title, const char *status)
{
	struct scn_trace_lanes l;
	struct scn_trace_arrow *arrows = NULL;
	size_t n_arrows = 0, n_rows = 0;
	double *row_y = NULL, *row_h = NULL, width, height = PAD;
	int r = scn_trace_lanes(t, &l);

	if (r < 0)
		return r;
	if ((r = scn_trace_callback_arrows(t, &l, &arrows, &n_arrows)) < 0)
		goto out;
	r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory drawing the timeline");
	row_y = calloc(l.n_rec + 1, sizeof(*row_y));
	row_h = calloc(l.n_rec + 1, sizeof(*row_h));
	if (!row_y || !row_h)
		goto out;
	for (size_t s = 0; s < l.n_rec; s++) {
		const struct scn_trace_rec *rec = scn_rec(t, s);
		enum row_style st;

		if (l.of_rec[s] == SIZE_MAX)
			continue;
		st = style_of(rec, scn_trace_rec_shown(rec));
		row_y[s] = height;
		row_h[s] = st == ROW_STEP || st == ROW_FAIL ? STEP_H : ROW_H;
		height += row_h[s];
		n_rows++;
	}
	height += PAD;
	width = GUTTER + (double)l.n * LANE_W + TAIL_W;

	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>", f);
	esc(f, title);
	fputs(" &#8212; timeline</title>\n<style>\n", f);
	fputs(css, f);
	fputs("</style>\n</head>\n<body>\n", f);
	write_header(f, t, &l, title, status, n_rows, n_arrows);
	fputs("<div class=\"diagram\">\n", f);
	write_lane_heads(f, t, &l, width);
	fprintf(f,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"body\" width=\"%.0f\" "
		"height=\"%.0f\">\n",
		width, height);
	fputs("<defs><marker id=\"ah\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
	      "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\" "
	      "markerUnits=\"userSpaceOnUse\"><path class=\"arrowhead\" "
	      "d=\"M0,0 L10,5 L0,10 z\"/></marker></defs>\n",
	      f);
	/* zebra and bands first, lifelines over them, rows, arrows on top */
	fputs("<g class=\"backgrounds\">\n", f);
	for (size_t s = 0, k = 0; s < l.n_rec; s++)
		if (l.of_rec[s] != SIZE_MAX)
			write_background(f, scn_rec(t, s), row_y[s], row_h[s], width, k++);
	fputs("</g>\n<g class=\"lifelines\">\n", f);
	for (size_t i = 0; i < l.n; i++)
		fprintf(f,
			"<line class=\"lifeline %s\" x1=\"%.1f\" y1=\"0\" x2=\"%.1f\" "
			"y2=\"%.0f\"/>\n",
			kind_class[l.v[i].kind], lane_x(i), lane_x(i), height);
	fputs("</g>\n<g class=\"rows\">\n", f);
	for (size_t s = 0; s < l.n_rec; s++)
		if (l.of_rec[s] != SIZE_MAX)
			write_row(f, &l, scn_rec(t, s), row_y[s], row_h[s], width);
	fputs("</g>\n<g class=\"arrows\">\n", f);
	for (size_t i = 0; i < n_arrows; i++)
		write_arrow(f, t, &l, &arrows[i], row_y, row_h);
	fputs("</g>\n", f);
	if (!n_rows)
		fprintf(f, "<text class=\"t\" x=\"%d\" y=\"14\">no events</text>\n", GUTTER);
	fputs("</svg>\n</div>\n</body>\n</html>\n", f);
	r = 0;
out:
	free(row_y);
	free(row_h);
	free(arrows);
	scn_trace_lanes_clear(&l);
	return r;
}

int scn_timeline_write(const struct scn_trace *t, const char *title, const char *status_text,
		       const char *path)
{
	char *tmp = NULL;
	FILE *f;
	int r;

	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	f = fopen(tmp, "we");
	if (!f) {
		r = avf_err_set(-errno, AVF_EX_SERVICE_SPECIFIC, "cannot create '%s': %s", tmp,
				strerror(errno));
		free(tmp);
		return r;
	}
	r = write_page(f, t, title ? title : "scenario trace", status_text);
	if (ferror(f) && r == 0)
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
