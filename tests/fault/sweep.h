/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sweep: the bookkeeping of one fault sweep (one kind, one target): what each N
 * did, grouped by outcome and message, and the summary the tests print.
 *
 * A sweep runs N = 1, 2, 3, ... and ends at the first N whose cycle succeeded
 * with the fault never injected: by then every call of the kind the cycle makes
 * has been failed once.
 */
#ifndef AVF_TESTS_FAULT_SWEEP_H
#define AVF_TESTS_FAULT_SWEEP_H

#include <stdbool.h>
#include <stdint.h>

#include "fault.h"

enum sweep_outcome {
	SWEEP_ERROR,    /* an operation returned an error with a message: clean */
	SWEEP_DIED,     /* the VM died with a death reason (not the cycle's): clean */
	SWEEP_ABSORBED, /* injected, yet the whole cycle went as normal: the code coped */
	SWEEP_UNCLEAN,  /* crash, hang, leak, silent success: a bug */
	SWEEP_DONE,     /* not injected and the cycle went as normal: the sweep ends */
	SWEEP_OUTCOMES,
};

#define SWEEP_MSG_MAX    240
#define SWEEP_GROUPS_MAX 64
#define SWEEP_NS_MAX     24 /* N values listed per group; the rest are counted */

struct sweep_group {
	enum sweep_outcome outcome;
	char msg[SWEEP_MSG_MAX]; /* normalised: numbers as '#', the sweep dir as '$DIR' */
	uint64_t ns[SWEEP_NS_MAX];
	unsigned count;
};

struct sweep {
	char label[64];      /* "virtmgr alloc" */
	const char *dir;     /* replaced by $DIR in messages; may be NULL */
	uint64_t swept;      /* N values run */
	unsigned counts[SWEEP_OUTCOMES];
	struct sweep_group groups[SWEEP_GROUPS_MAX];
	unsigned n_groups;
	unsigned dropped;    /* results past SWEEP_GROUPS_MAX distinct messages */
	char first_unclean[1024];
};

void sweep_init(struct sweep *s, const char *target, enum fault_kind kind, const char *dir);
/* Record what N did; @msg is the error, the death reason or what was unclean. */
void sweep_add(struct sweep *s, uint64_t n, enum sweep_outcome o, const char *msg);
/* Print the summary: N swept, counts per outcome, the N of each message. */
void sweep_print(const struct sweep *s);
const char *sweep_outcome_name(enum sweep_outcome o);

/* Where a sweep starts ($AVF_FAULT_FIRST_N, default 1): to rerun one case. */
uint64_t sweep_first_n(void);
/* The highest N a sweep may reach before it is called runaway ($AVF_FAULT_MAX_N). */
uint64_t sweep_max_n(void);

/* "proc: kind #n (errno) at a <- b <- c" of the fault just injected, for messages. */
void sweep_describe_fire(const struct fault_ctl *ctl, char *buf, size_t len);

#endif
