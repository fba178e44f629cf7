/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fault_alloc: the allocator wrappers. glibc routes its own allocations (strdup,
 * asprintf, fopen, ...) through these same symbols, so "the Nth allocation" is
 * every allocation the program causes, not only the ones written in our code.
 * reallocarray is not wrapped: it calls realloc, which is.
 *
 * Until dlsym has found the real functions (it may allocate itself), requests
 * are served from a small static arena that free() recognises and ignores.
 */
#include "fault_internal.h"

#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_SIZE (64 * 1024)

static _Alignas(max_align_t) char arena[ARENA_SIZE];
static size_t arena_used;

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);
static void *(*real_pvalloc)(size_t);

static long live; /* allocations handed out minus frees, in this process */
static int resolving;

/* Arena block: its size in front, for realloc out of the arena. */
static void *arena_alloc(size_t size)
{
	size_t need = sizeof(max_align_t) + ((size + sizeof(max_align_t) - 1) &
					     ~(sizeof(max_align_t) - 1));
	char *p;

	if (need > ARENA_SIZE - arena_used)
		return NULL;
	p = arena + arena_used;
	arena_used += need;
	*(size_t *)p = size;
	return p + sizeof(max_align_t);
}

static bool in_arena(const void *p)
{
	return (const char *)p >= arena && (const char *)p < arena + ARENA_SIZE;
}

static size_t arena_size(const void *p)
{
	return *(const size_t *)((const char *)p - sizeof(max_align_t));
}

/* realloc of an arena block: a copy (arena blocks are never freed). */
static void *arena_move(void *p, void *q, size_t size)
{
	if (q && p)
		memcpy(q, p, arena_size(p) < size ? arena_size(p) : size);
	return q;
}

static bool resolve(void)
{
	if (real_free)
		return true;
	if (resolving)
		return false;
	resolving = 1;
	real_malloc = fault_real("malloc");
	real_calloc = fault_real("calloc");
	real_realloc = fault_real("realloc");
	real_posix_memalign = fault_real("posix_memalign");
	real_aligned_alloc = fault_real("aligned_alloc");
	real_memalign = fault_real("memalign");
	real_valloc = fault_real("valloc");
	real_pvalloc = fault_real("pvalloc");
	real_free = fault_real("free");
	resolving = 0;
	return true;
}

/* NULL with ENOMEM when this allocation is the one to fail. */
static bool fail_now(void)
{
	int err = fault_hit(FAULT_ALLOC, ENOMEM);

	if (!err)
		return false;
	errno = err;
	return true;
}

static void *counted(void *p)
{
	if (p)
		__atomic_add_fetch(&live, 1, __ATOMIC_RELAXED);
	return p;
}

void *malloc(size_t size)
{
	if (!resolve())
		return arena_alloc(size);
	if (fail_now())
		return NULL;
	return counted(real_malloc(size));
}

void *calloc(size_t n, size_t size)
{
	if (!resolve()) {
		/* The arena is zeroed static storage, never reused. */
		if (size && n > SIZE_MAX / size)
			return NULL;
		return arena_alloc(n * size);
	}
	if (fail_now())
		return NULL;
	return counted(real_calloc(n, size));
}

void free(void *p)
{
	if (!p || in_arena(p))
		return;
	if (!resolve())
		return; /* cannot happen: nothing outside the arena exists before resolve */
	__atomic_sub_fetch(&live, 1, __ATOMIC_RELAXED);
	real_free(p);
}

void *realloc(void *p, size_t size)
{
	void *q;

	if (!resolve())
		return arena_move(p, arena_alloc(size), size);
	if (p && in_arena(p))
		return fail_now() ? NULL : arena_move(p, counted(real_malloc(size)), size);
	if (fail_now())
		return NULL;
	q = real_realloc(p, size);
	if (!p)
		return counted(q);
	/* glibc's realloc(p, 0) frees p and returns NULL. */
	if (!q && size == 0)
		__atomic_sub_fetch(&live, 1, __ATOMIC_RELAXED);
	return q;
}

int posix_memalign(void **ret, size_t align, size_t size)
{
	int r;

	if (!resolve())
		return ENOMEM;
	if (fault_hit(FAULT_ALLOC, ENOMEM))
		return ENOMEM;
	r = real_posix_memalign(ret, align, size);
	if (r == 0)
		counted(*ret);
	return r;
}

void *aligned_alloc(size_t align, size_t size)
{
	if (!resolve() || fail_now())
		return NULL;
	return counted(real_aligned_alloc(align, size));
}

void *memalign(size_t align, size_t size)
{
	if (!resolve() || fail_now())
		return NULL;
	return counted(real_memalign(align, size));
}

void *valloc(size_t size)
{
	if (!resolve() || fail_now())
		return NULL;
	return counted(real_valloc(size));
}

void *pvalloc(size_t size)
{
	if (!resolve() || fail_now())
		return NULL;
	return counted(real_pvalloc(size));
}

long fault_live_allocs(void)
{
	return __atomic_load_n(&live, __ATOMIC_RELAXED);
}
