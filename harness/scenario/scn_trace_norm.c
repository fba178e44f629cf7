/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_trace_norm: the normal form of a trace, the text that must be byte-identical
 * across runs of one scenario: per-lane sections, no times, no pids, symbolic CIDs
 * and run directory. The rules are in scn_trace.h (scn_trace_normalize).
 */
#include "scn_trace_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"

static bool is_word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static bool is_path_char(char c)
{
	return is_word_char(c) || c == '.' || c == '-';
}

/* @s with every run directory replaced by $RUN (malloc'd). */
static char *replace_run_dirs(const struct scn_trace *t, const char *s)
{
	char *cur = strdup(s);
	size_t *order;

	if (!cur || !t->n_run_dirs)
		return cur;
	if (!(order = malloc(t->n_run_dirs * sizeof(*order)))) {
		free(cur);
		return NULL;
	}
	/* longest first, so a run directory inside another is not half-replaced */
	for (size_t i = 0; i < t->n_run_dirs; i++)
		order[i] = i;
	for (size_t i = 1; i < t->n_run_dirs; i++)
		for (size_t j = i;
		     j > 0 && strlen(t->run_dirs[order[j]]) > strlen(t->run_dirs[order[j - 1]]);
		     j--) {
			size_t x = order[j];
			order[j] = order[j - 1];
			order[j - 1] = x;
		}
	for (size_t i = 0; i < t->n_run_dirs && cur; i++) {
		const char *dir = t->run_dirs[order[i]], *p, *q;
		size_t dl = strlen(dir), n = 0;
		char *out, *o;

		for (p = cur; (p = strstr(p, dir)); p += dl)
			n++;
		if (!n)
			continue;
		/* "$RUN" is 4 bytes, a directory at least 2 */
		out = malloc(strlen(cur) + 2 * n + 1);
		if (out) {
			o = out;
			for (q = cur; (p = strstr(q, dir)); q = p + dl) {
				/* a whole directory: "/tmp/run" is not the start of "/tmp/runner"
				 */
				bool whole = !is_path_char(p[dl]);

				memcpy(o, q, (size_t)(p - q));
				o += p - q;
				memcpy(o, whole ? "$RUN" : dir, whole ? 4 : dl);
				o += whole ? 4 : dl;
			}
			strcpy(o, q);
		}
		free(cur);
		cur = out;
	}
	free(order);
	return cur;
}

/* The prefixes after which a number is a CID or a pid. */
static const struct {
	const char *prefix;
	bool pid;
} prefixes[] = {
    {"vm:", false}, {"vmm:", false}, {"cid ", false}, {"CID ", false}, {"pid ", true},
};

static void subst_into(const struct scn_trace *t, const char *s, FILE *out)
{
	const char *p = s;

	while (*p) {
		bool boundary = p == s || !is_word_char(p[-1]);
		uint64_t v;
		size_t n;

		if (boundary) {
			size_t k;

			for (k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
				size_t pl = strlen(prefixes[k].prefix);

				if (strncmp(p, prefixes[k].prefix, pl))
					continue;
				n = scn_parse_uint(p + pl, UINT64_MAX, &v);
				if (!n || (p[pl + n] >= '0' && p[pl + n] <= '9'))
					continue;
				if (prefixes[k].pid) {
					const char *label =
					    v <= INT32_MAX ? scn_trace_label_of(t, (int)v) : NULL;

					fprintf(out, "pid %s", label ? label : "?");
				} else {
					size_t sym = v <= UINT32_MAX
							 ? scn_trace_cid_symbol(t, (uint32_t)v)
							 : 0;

					if (!sym)
						continue;
					fprintf(out, "%s$cid%zu", prefixes[k].prefix, sym);
				}
				p += pl + n;
				break;
			}
			if (k < sizeof(prefixes) / sizeof(prefixes[0]))
				continue;
		}
		/* a path component "/<n>" */
		if (*p == '/' && (n = scn_parse_uint(p + 1, UINT32_MAX, &v)) &&
		    !is_path_char(p[1 + n])) {
			size_t sym = scn_trace_cid_symbol(t, (uint32_t)v);

			if (sym) {
				fprintf(out, "/$cid%zu", sym);
				p += 1 + n;
				continue;
			}
		}
		fputc(*p++, out);
	}
}

static int subst_write(const struct scn_trace *t, const char *text, FILE *out)
{
	char *s = replace_run_dirs(t, text);

	if (!s)
		return -ENOMEM;
	subst_into(t, s, out);
	free(s);
	return 0;
}

/*
 * The VM a record is about, as its CID symbol (0: none): the first "vm:<n>",
 * "vmm:<n>" or "cid <n>" naming a CID of an @cid line; in a client lane also a VM
 * name as the first or second word ("vm1 cb onDied(...)", "start vm1 -> ok").
 */
#define SUBJECT_LANE ((size_t)1 << 40) /* + lane index: a line about another process */

static size_t rec_subject(const struct scn_trace *t, const struct scn_trace_rec *rec,
			  enum scn_actor_kind kind, const struct scn_trace_lanes *l)
{
	const char *line = rec->line, *p;

	for (p = line; *p; p++) {
		if (p != line && is_word_char(p[-1]))
			continue;
		for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
			size_t pl = strlen(prefixes[k].prefix), n;
			uint64_t v;

			if (prefixes[k].pid || strncmp(p, prefixes[k].prefix, pl))
				continue;
			n = scn_parse_uint(p + pl, UINT32_MAX, &v);
			if (n && !(p[pl + n] >= '0' && p[pl + n] <= '9')) {
				size_t sym = scn_trace_cid_symbol(t, (uint32_t)v);
				if (sym)
					return sym;
			}
		}
	}
	/* "... (pid N ...)": a line about that process, e.g. the service's
	 * "connection 1 opened (pid N uid 0)" — connections of different virtmgrs
	 * open and close in timing order. */
	for (p = strstr(line, "pid "); p; p = strstr(p + 1, "pid ")) {
		uint64_t v;
		size_t n;
		const char *label;

		if ((p != line && is_word_char(p[-1])) || !(n = scn_parse_uint(p + 4, INT32_MAX, &v)))
			continue;
		if (!(label = scn_trace_label_of(t, (int)v)) || label == rec->label)
			continue;
		for (size_t i = 0; i < l->n; i++)
			if (l->v[i].label && !strcmp(l->v[i].label, label))
				return SUBJECT_LANE + i;
	}
	if (kind == SCN_ACTOR_CLIENT && rec->text) {
		char word[128];
		const char *w = rec->text;

		for (int i = 0; i < 2 && *w; i++) {
			size_t len = strcspn(w, " ");
			if (len && len < sizeof(word)) {
				memcpy(word, w, len);
				word[len] = '\0';
				uint32_t cid = scn_trace_cid_of(t, word);
				if (cid)
					return scn_trace_cid_symbol(t, cid);
			}
			w += len;
			w += strspn(w, " ");
		}
	}
	return 0;
}

struct subj_seq {
	size_t subject, seq;
};

static int cmp_subj_seq(const void *a, const void *b)
{
	const struct subj_seq *x = a, *y = b;

	if (x->subject != y->subject)
		return x->subject < y->subject ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int scn_trace_normalize(const struct scn_trace *t, FILE *out)
{
	struct subj_seq *ss = NULL;
	struct scn_trace_lanes l;
	size_t *start = NULL, *seqs = NULL, *fill = NULL;
	int r = scn_trace_lanes(t, &l);

	if (r < 0)
		return r;
	/* bucket the records by lane: one pass, not one pass per lane */
	start = calloc(l.n + 1, sizeof(*start));
	fill = calloc(l.n + 1, sizeof(*fill));
	seqs = calloc(t->n + 1, sizeof(*seqs));
	r = -ENOMEM;
	if (!start || !fill || !seqs)
		goto out;
	for (size_t i = 0; i < l.n; i++)
		start[i + 1] = start[i] + l.v[i].n_records;
	for (size_t s = 0; s < t->n; s++)
		if (l.of_rec[s] != SIZE_MAX)
			seqs[start[l.of_rec[s]] + fill[l.of_rec[s]]++] = s;
	ss = calloc(t->n + 1, sizeof(*ss));
	if (!ss)
		goto out;
	for (size_t i = 0; i < l.n; i++) {
		size_t n = start[i + 1] - start[i], subject = 0;

		/* Within a process, what concerns different VMs interleaves by timing
		 * (two guests, a call racing a guest event): each VM gets its own
		 * sub-section, in file order, after the lines about no VM. */
		for (size_t k = 0; k < n; k++) {
			ss[k].seq = seqs[start[i] + k];
			ss[k].subject = rec_subject(t, scn_rec(t, ss[k].seq), l.v[i].kind, &l);
		}
		qsort(ss, n, sizeof(*ss), cmp_subj_seq);
		fprintf(out, "== %s\n", l.v[i].name);
		for (size_t k = 0; k < n; k++) {
			if (ss[k].subject != subject) {
				subject = ss[k].subject;
				if (subject >= SUBJECT_LANE)
					fprintf(out, "== %s [%s]\n", l.v[i].name,
						l.v[subject - SUBJECT_LANE].name);
				else
					fprintf(out, "== %s [$cid%zu]\n", l.v[i].name, subject);
			}
			if (subst_write(t, scn_trace_rec_shown(scn_rec(t, ss[k].seq)), out) < 0)
				goto out;
			fputc('\n', out);
		}
	}
	r = ferror(out) ? -EIO : 0;
out:
	free(ss);
	free(start);
	free(fill);
	free(seqs);
	scn_trace_lanes_clear(&l);
	if (r == -ENOMEM)
		avf_err_set(r, AVF_EX_SERVICE_SPECIFIC, "out of memory normalising the trace");
	else if (r < 0)
		avf_err_set(r, AVF_EX_SERVICE_SPECIFIC, "cannot write the normalised trace");
	return r;
}

int scn_trace_normalize_str(const struct scn_trace *t, char **ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r;

	if (!f)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC,
				   "out of memory normalising the trace");
	r = scn_trace_normalize(t, f);
	if (fclose(f) != 0 && r == 0)
		r = avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC,
				"out of memory normalising the trace");
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret = buf;
	return 0;
}

int scn_trace_subst(const struct scn_trace *t, const char *text, char **ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r = f ? subst_write(t, text, f) : -ENOMEM;

	if (f && fclose(f) != 0)
		r = -ENOMEM;
	if (r < 0) {
		free(buf);
		return avf_err_set(r, AVF_EX_SERVICE_SPECIFIC,
				   "out of memory normalising a trace line");
	}
	*ret = buf;
	return 0;
}
