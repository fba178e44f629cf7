/* SPDX-License-Identifier: Apache-2.0 */
#include "sweep.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_N 50000

static const char *const outcome_names[SWEEP_OUTCOMES] = {
	[SWEEP_ERROR] = "error",       [SWEEP_DIED] = "died",     [SWEEP_ABSORBED] = "absorbed",
	[SWEEP_UNCLEAN] = "UNCLEAN",   [SWEEP_DONE] = "done",
};

const char *sweep_outcome_name(enum sweep_outcome o)
{
	return (unsigned)o < SWEEP_OUTCOMES ? outcome_names[o] : "?";
}

uint64_t sweep_first_n(void)
{
	const char *e = getenv("AVF_FAULT_FIRST_N");
	uint64_t v = e ? strtoull(e, NULL, 10) : 0;

	return v ? v : 1;
}

uint64_t sweep_max_n(void)
{
	const char *e = getenv("AVF_FAULT_MAX_N");
	uint64_t v = e ? strtoull(e, NULL, 10) : 0;

	return v ? v : DEFAULT_MAX_N;
}

void sweep_init(struct sweep *s, const char *target, enum fault_kind kind, const char *dir)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->label, sizeof(s->label), "%s %s", target, fault_kind_name(kind));
	s->dir = dir;
}

/* Messages differ by CID, pid, fd and temp path from one N to the next: fold them. */
static void normalise(const char *dir, const char *in, char *out, size_t len)
{
	size_t o = 0, dlen = dir ? strlen(dir) : 0;

	while (*in && o + 20 < len) {
		if (dlen && strncmp(in, dir, dlen) == 0) {
			o += (size_t)snprintf(out + o, len - o, "$DIR");
			in += dlen;
		} else if (in[0] == '0' && in[1] == 'x') {
			/* a code address (module+0x...): the same call site, keep it */
			while ((isxdigit((unsigned char)*in) || *in == 'x') && o + 1 < len)
				out[o++] = *in++;
		} else if (isdigit((unsigned char)*in)) {
			out[o++] = '#';
			while (isdigit((unsigned char)*in))
				in++;
		} else {
			out[o++] = *in == '\n' ? ' ' : *in;
			in++;
		}
	}
	out[o] = '\0';
}

void sweep_add(struct sweep *s, uint64_t n, enum sweep_outcome o, const char *msg)
{
	char norm[SWEEP_MSG_MAX];
	struct sweep_group *g = NULL;

	s->swept++;
	s->counts[o]++;
	if (o == SWEEP_UNCLEAN && !s->first_unclean[0])
		snprintf(s->first_unclean, sizeof(s->first_unclean), "%s N=%" PRIu64 ": %s",
			 s->label, n, msg);
	normalise(s->dir, msg ? msg : "", norm, sizeof(norm));
	for (unsigned i = 0; i < s->n_groups && !g; i++)
		if (s->groups[i].outcome == o && strcmp(s->groups[i].msg, norm) == 0)
			g = &s->groups[i];
	if (!g) {
		if (s->n_groups == SWEEP_GROUPS_MAX) {
			s->dropped++;
			return;
		}
		g = &s->groups[s->n_groups++];
		g->outcome = o;
		memcpy(g->msg, norm, sizeof(norm));
	}
	if (g->count < SWEEP_NS_MAX)
		g->ns[g->count] = n;
	g->count++;
}

/* "1-3,7,9-12" from the sorted N list of a group. */
static void print_ns(const struct sweep_group *g)
{
	unsigned shown = g->count < SWEEP_NS_MAX ? g->count : SWEEP_NS_MAX;

	for (unsigned i = 0; i < shown;) {
		unsigned j = i;

		while (j + 1 < shown && g->ns[j + 1] == g->ns[j] + 1)
			j++;
		printf("%s%" PRIu64, i ? "," : "", g->ns[i]);
		if (j > i)
			printf("-%" PRIu64, g->ns[j]);
		i = j + 1;
	}
	if (g->count > shown)
		printf(",... (%u in all)", g->count);
}

void sweep_print(const struct sweep *s)
{
	printf("fault sweep %-24s N swept %4" PRIu64 ": %u error, %u died, %u absorbed, %u unclean\n",
	       s->label, s->swept, s->counts[SWEEP_ERROR], s->counts[SWEEP_DIED],
	       s->counts[SWEEP_ABSORBED], s->counts[SWEEP_UNCLEAN]);
	for (unsigned i = 0; i < s->n_groups; i++) {
		const struct sweep_group *g = &s->groups[i];

		if (g->outcome == SWEEP_DONE)
			continue;
		printf("    %-8s N=", sweep_outcome_name(g->outcome));
		print_ns(g);
		printf(": %s\n", g->msg);
	}
	if (s->dropped)
		printf("    (%u more results with other messages not listed)\n", s->dropped);
	fflush(stdout);
}

void sweep_describe_fire(const struct fault_ctl *ctl, char *buf, size_t len)
{
	const struct fault_fire *f = &ctl->fire;
	size_t o;

	if (!ctl->fired) {
		snprintf(buf, len, "not injected");
		return;
	}
	o = (size_t)snprintf(buf, len, "%s: %s #%" PRIu64 " (%s) at", f->proc,
			     fault_kind_name((enum fault_kind)f->kind), f->n, strerrorname_np(f->err));
	for (int i = 0; i < FAULT_WHERE_FRAMES && f->where[i][0] && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? " <- " : " ", f->where[i]);
}
