/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_trace_map: the hash map behind the trace's lookups (label by name, pid, VM name,
 * CID). It maps a key to an index into its owner's array and never holds keys itself:
 * the owner's entries do, so a map is a few words per entry and the equality test is
 * the owner's. Linear probing, no deletion, load <= 1/2.
 */
#include "scn_trace_int.h"

#include <errno.h>
#include <stdlib.h>

uint64_t scn_hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t scn_hash_u64(uint64_t v)
{
	/* splitmix64's finaliser: pids and CIDs are small and dense, spread them */
	v += 0x9e3779b97f4a7c15ull;
	v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ull;
	v = (v ^ (v >> 27)) * 0x94d049bb133111ebull;
	return v ^ (v >> 31);
}

static size_t find_slot(const struct scn_map *m, uint64_t h, scn_map_eq_fn eq, const void *owner,
			const void *key)
{
	size_t mask = m->cap - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		const struct scn_map_slot *s = &m->s[i];

		if (s->val == SIZE_MAX || (s->h == h && eq(owner, s->val, key)))
			return i;
	}
}

size_t scn_map_get(const struct scn_map *m, uint64_t h, scn_map_eq_fn eq, const void *owner,
		   const void *key)
{
	if (!m->cap)
		return SIZE_MAX;
	return m->s[find_slot(m, h, eq, owner, key)].val;
}

static void insert(struct scn_map_slot *s, size_t cap, uint64_t h, size_t val)
{
	size_t i = h & (cap - 1);

	while (s[i].val != SIZE_MAX)
		i = (i + 1) & (cap - 1);
	s[i].h = h;
	s[i].val = val;
}

int scn_map_add(struct scn_map *m, uint64_t h, size_t val)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct scn_map_slot *s = malloc(cap * sizeof(*s));

		if (!s)
			return -ENOMEM;
		for (size_t i = 0; i < cap; i++)
			s[i].val = SIZE_MAX;
		for (size_t i = 0; i < m->cap; i++)
			if (m->s[i].val != SIZE_MAX)
				insert(s, cap, m->s[i].h, m->s[i].val);
		free(m->s);
		m->s = s;
		m->cap = cap;
	}
	insert(m->s, m->cap, h, val);
	m->n++;
	return 0;
}

void scn_map_set(struct scn_map *m, uint64_t h, scn_map_eq_fn eq, const void *owner,
		 const void *key, size_t val)
{
	size_t i = find_slot(m, h, eq, owner, key);

	m->s[i].h = h;
	m->s[i].val = val;
}

void scn_map_clear(struct scn_map *m)
{
	free(m->s);
	*m = (struct scn_map){0};
}
