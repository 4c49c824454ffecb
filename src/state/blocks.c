/*
 * blocks.c - the pool of blocks (blocks.h). Handle h is block h - 1:
 * chunk (h - 1) / KW_BLOCKS_CHUNK, place (h - 1) % KW_BLOCKS_CHUNK. Freed
 * blocks form a list through their first four bytes (the next one's
 * handle), so the pool keeps no table of its own beyond the chunks'.
 */
#include <stdlib.h>
#include <string.h>

#include "state/blocks.h"

struct kw_blocks {
	size_t size, max;
	unsigned char **chunk; /* max / KW_BLOCKS_CHUNK, rounded up */
	size_t nchunks;	       /* made so far */
	uint32_t fresh;	       /* handles handed out at least once */
	uint32_t freed;	       /* the first freed block; 0: none */
	size_t out;
};

enum kw_status kw_blocks_create(size_t size, size_t max, struct kw_blocks **out)
{
	struct kw_blocks *p;

	*out = NULL;
	if (!size || size % 16 || size > 65536 || !max || max > (size_t)1 << 31)
		return KW_EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return KW_ENOMEM;
	p->size = size;
	p->max = max;
	p->chunk = calloc((max + KW_BLOCKS_CHUNK - 1) / KW_BLOCKS_CHUNK,
			  sizeof(*p->chunk));
	if (!p->chunk) {
		free(p);
		return KW_ENOMEM;
	}
	*out = p;
	return KW_OK;
}

void kw_blocks_destroy(struct kw_blocks *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nchunks; i++)
		free(p->chunk[i]);
	free(p->chunk);
	free(p);
}

void *kw_blocks_at(const struct kw_blocks *p, uint32_t handle)
{
	uint32_t i = handle - 1;

	return p->chunk[i / KW_BLOCKS_CHUNK] +
	       (size_t)(i % KW_BLOCKS_CHUNK) * p->size;
}

void *kw_blocks_new(struct kw_blocks *p, uint32_t *handle)
{
	unsigned char *b;
	uint32_t h;

	*handle = 0;
	if (p->out == p->max)
		return NULL;
	if (p->freed) {
		h = p->freed;
		b = kw_blocks_at(p, h);
		memcpy(&p->freed, b, sizeof(p->freed));
		memset(b, 0, p->size);
	} else {
		if (p->fresh % KW_BLOCKS_CHUNK == 0) {
			/* calloc: a chunk this large comes as fresh zero
			 * pages, touched only as its blocks are used */
			unsigned char *c = calloc(KW_BLOCKS_CHUNK, p->size);

			if (!c)
				return NULL;
			p->chunk[p->nchunks++] = c;
		}
		h = ++p->fresh;
		b = kw_blocks_at(p, h);
	}
	p->out++;
	*handle = h;
	return b;
}

void kw_blocks_free(struct kw_blocks *p, uint32_t handle)
{
	if (!handle)
		return;
	memcpy(kw_blocks_at(p, handle), &p->freed, sizeof(p->freed));
	p->freed = handle;
	p->out--;
}

size_t kw_blocks_count(const struct kw_blocks *p)
{
	return p->out;
}
