/*
 * arena.c - chunked bump allocation. Chunks double up to 1 MiB; a request
 * larger than a chunk gets a chunk of its own. reset() keeps only the newest
 * chunk so a steady stream of batches allocates nothing after warm-up.
 */
#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define ARENA_ALIGN 16
#define ARENA_FIRST (16 * 1024)
#define ARENA_MAXCHUNK (1024 * 1024)
#define ARENA_DEFAULT_LIMIT ((size_t)64 * 1024 * 1024)

struct kw_arena_chunk {
	struct kw_arena_chunk *next;
	size_t cap;
	size_t pos;
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

void kw_arena_init(struct kw_arena *a, size_t limit)
{
	a->head = NULL;
	a->used = 0;
	a->limit = limit ? limit : ARENA_DEFAULT_LIMIT;
}

static struct kw_arena_chunk *chunk_new(size_t cap, struct kw_arena_chunk *next)
{
	struct kw_arena_chunk *c = malloc(sizeof(*c) + cap);

	if (!c)
		return NULL;
	c->next = next;
	c->cap = cap;
	c->pos = 0;
	return c;
}

void *kw_arena_alloc(struct kw_arena *a, size_t n)
{
	struct kw_arena_chunk *c = a->head;
	size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	size_t cap;
	void *p;

	if (need < n || a->used + need > a->limit || a->used + need < a->used)
		return NULL;
	if (!c || c->cap - c->pos < need) {
		cap = c ? c->cap * 2 : ARENA_FIRST;
		if (cap > ARENA_MAXCHUNK)
			cap = ARENA_MAXCHUNK;
		if (cap < need)
			cap = need;
		c = chunk_new(cap, a->head);
		if (!c) {
			/* Not the arena's bound but the machine's memory:
			 * whoever drops what it was for says "does not
			 * fit"; say why. */
			kw_log_error("memory",
				     "out of memory (%zu bytes of "
				     "scratch memory)",
				     sizeof(*c) + cap);
			return NULL;
		}
		a->head = c;
	}
	p = c->data + c->pos;
	c->pos += need;
	a->used += need;
	return p;
}

char *kw_arena_strndup(struct kw_arena *a, const char *s, size_t n)
{
	/* n + 1 must not wrap to 0 (a 0-byte allocation would succeed). */
	char *d = n < SIZE_MAX ? kw_arena_alloc(a, n + 1) : NULL;

	if (!d)
		return NULL;
	if (n)
		memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

void kw_arena_reset(struct kw_arena *a)
{
	struct kw_arena_chunk *c;

	if (!a->head)
		return;
	c = a->head->next;
	while (c) {
		struct kw_arena_chunk *next = c->next;

		free(c);
		c = next;
	}
	a->head->next = NULL;
	a->head->pos = 0;
	a->used = 0;
}

void kw_arena_destroy(struct kw_arena *a)
{
	if (!a)
		return;
	kw_arena_reset(a);
	free(a->head);
	a->head = NULL;
}
