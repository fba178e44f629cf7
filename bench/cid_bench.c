/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cid_bench: cost of one grant + release pair of the CID allocator over the AVF
 * range (2048..65535, 63488 CIDs) as the number of held CIDs grows, without
 * persistence. Prints numbers only; nothing here asserts on timing.
 *
 * Held sets:
 *   random - a random subset (fixed seed) of the range is held.
 *   block  - one contiguous block right after the cursor is held: the first grant
 *            skips the whole block. With round-robin the cursor then runs through
 *            the free CIDs before meeting the block again, so the block is scanned
 *            once per cycle of (range - held) grants; the number is that average.
 *   one free CID - every CID but one is held, so every grant scans the whole
 *            bitmap (992 words) and wraps: the true per-grant worst case.
 */
#include "base/avf_err.h"
#include "cid/cid_alloc.h"

#include "avf/avf_types.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define RANGE (AVF_GUEST_CID_MAX - AVF_GUEST_CID_MIN + 1)
#define SEED  0x5eed0c1dull
#define RUNS  5 /* best of: filters out scheduler noise */

enum held_kind { HELD_RANDOM, HELD_BLOCK };

static volatile uint64_t sink; /* keeps the loop from being optimised away */

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "cid_bench: %s: %s\n", what, avf_err_last()->msg);
	exit(1);
}

/*
 * An allocator over the AVF range with @held CIDs held and the cursor at max, so
 * the next grant searches from min: HELD_BLOCK holds min..min+held-1, right after
 * the cursor.
 */
static struct cid_alloc *make(uint32_t held, enum held_kind kind)
{
	static uint32_t order[RANGE];
	uint64_t seed = SEED;
	struct cid_alloc *a;
	uint32_t i, cid;

	if (cid_alloc_new(AVF_GUEST_CID_MIN, AVF_GUEST_CID_MAX, NULL, &a) < 0)
		die("cid_alloc_new");
	for (i = 0; i < RANGE; i++) {
		if (cid_alloc_grant(a, &cid) < 0)
			die("filling the range");
		order[i] = cid;
	}
	if (kind == HELD_RANDOM) {
		/* Fisher-Yates; the first RANGE - held CIDs of the shuffle are released. */
		for (i = RANGE - 1; i > 0; i--) {
			uint32_t j = (uint32_t)(splitmix64(&seed) % (i + 1));
			uint32_t t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		for (i = 0; i < RANGE - held; i++)
			cid_alloc_release(a, order[i]);
	} else {
		for (i = held; i < RANGE; i++)
			cid_alloc_release(a, order[i]);
	}
	if (cid_alloc_held_count(a) != held) {
		fprintf(stderr, "cid_bench: held %u, wanted %u\n", cid_alloc_held_count(a), held);
		exit(1);
	}
	return a;
}

/* ns per grant + release pair, best of RUNS runs of @iters pairs. */
static double measure(uint32_t held, enum held_kind kind, uint32_t iters)
{
	struct cid_alloc *a = make(held, kind);
	double best = 0;
	uint64_t sum = 0;
	int run;

	for (run = 0; run < RUNS; run++) {
		uint64_t t0 = now_ns(), t1;
		uint32_t i, cid;

		for (i = 0; i < iters; i++) {
			if (cid_alloc_grant(a, &cid) < 0)
				die("grant");
			sum += cid;
			if (cid_alloc_release(a, cid) < 0)
				die("release");
		}
		t1 = now_ns();
		if (run == 0 || (double)(t1 - t0) / iters < best)
			best = (double)(t1 - t0) / iters;
	}
	sink = sum;
	cid_alloc_free(a);
	return best;
}

int main(void)
{
	static const uint32_t held[] = {1000, 30000, 60000};
	static const char *const kind_name[] = {"random", "block after cursor"};
	const uint32_t iters = 2000000;
	double base, ns, r60[2] = {0, 0};
	size_t i;
	int k;

	base = measure(0, HELD_RANDOM, iters);
	printf("cid grant+release, held=0: %.1f ns/op (baseline)\n", base);
	for (k = HELD_RANDOM; k <= HELD_BLOCK; k++) {
		for (i = 0; i < sizeof(held) / sizeof(held[0]); i++) {
			ns = measure(held[i], (enum held_kind)k, iters);
			printf("cid grant+release, held=%u (%s): %.1f ns/op (ratio to held=0: "
			       "%.1fx)\n",
			       held[i], kind_name[k], ns, ns / base);
			if (held[i] == 60000)
				r60[k] = ns / base;
		}
	}
	ns = measure(RANGE - 1, HELD_BLOCK, iters / 100);
	printf("cid grant+release, held=%u (one free CID, whole-bitmap scan per grant): "
	       "%.1f ns/op (ratio to held=0: %.1fx)\n",
	       RANGE - 1, ns, ns / base);
	printf("cid ratio held=60000 / held=0 of %u: random %.1fx, block %.1fx\n", RANGE, r60[0],
	       r60[1]);
	return 0;
}
