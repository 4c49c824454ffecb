/*
 * arena.h - a bump allocator for per-batch scratch memory (unescaped JSON
 * strings, normalised paths). Everything allocated from an arena lives until
 * kw_arena_reset() or kw_arena_destroy(); nothing is freed one by one.
 *
 * An arena is bounded: allocations past `limit` bytes in total fail (NULL)
 * instead of growing without end, so a hostile line cannot exhaust memory.
 */
#ifndef KW_CORE_ARENA_H
#define KW_CORE_ARENA_H

#include <stddef.h>

struct kw_arena_chunk;

struct kw_arena {
	struct kw_arena_chunk *head; /* chunk being filled */
	size_t used;		     /* bytes handed out since reset */
	size_t limit;		     /* bound on `used` */
};

/* limit 0 means the default (64 MiB). */
void kw_arena_init(struct kw_arena *a, size_t limit);
/* NULL when out of memory or past the limit. Aligned for any type. */
void *kw_arena_alloc(struct kw_arena *a, size_t n);
/* Copy n bytes and add a NUL; the result has n+1 bytes. */
char *kw_arena_strndup(struct kw_arena *a, const char *s, size_t n);
/* Forget every allocation; keeps the first chunk for reuse. */
void kw_arena_reset(struct kw_arena *a);
/* Free everything; the arena may be initialised again. NULL-safe. */
void kw_arena_destroy(struct kw_arena *a);

#endif
