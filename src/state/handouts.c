/*
 * handouts.c - the table of keys handed out (handouts.h): 4-way buckets
 * of (hash, parent), the oldest entry of a full bucket replaced.
 */
#include "state/handouts.h"

#include <stdlib.h>
#include <string.h>

#include "state/siphash.h"

#define WAYS 4

struct entry {
	uint64_t hash; /* 0: empty (a real hash of 0 is stored as 1) */
	struct kw_handout parent;
};

struct kw_handouts {
	uint8_t seed[16];
	size_t nbuckets;
	struct entry *v; /* nbuckets * WAYS */
};

enum kw_status kw_handouts_create_seeded(size_t max, const uint8_t seed[16],
					 struct kw_handouts **out)
{
	struct kw_handouts *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h)
		return KW_ENOMEM;
	h->nbuckets = max / WAYS ? max / WAYS : 1;
	h->v = calloc(h->nbuckets * WAYS, sizeof(*h->v));
	if (!h->v) {
		free(h);
		return KW_ENOMEM;
	}
	memcpy(h->seed, seed, sizeof(h->seed));
	*out = h;
	return KW_OK;
}

enum kw_status kw_handouts_create(size_t max, struct kw_handouts **out)
{
	uint8_t seed[KW_SIPHASH_KEY_LEN];
	enum kw_status st = kw_siphash_random_key(seed);

	*out = NULL;
	if (st != KW_OK)
		return st;
	return kw_handouts_create_seeded(max, seed, out);
}

void kw_handouts_destroy(struct kw_handouts *h)
{
	if (!h)
		return;
	free(h->v);
	free(h);
}

static uint64_t hash_of(const struct kw_handouts *h, const char *key, size_t n)
{
	uint64_t x = kw_siphash(key, n, h->seed);

	return x ? x : 1;
}

void kw_handouts_put(struct kw_handouts *h, const char *child, size_t n,
		     const struct kw_handout *parent)
{
	uint64_t x;
	struct entry *b, *slot = NULL;

	if (!h || !n)
		return;
	x = hash_of(h, child, n);
	b = &h->v[(x % h->nbuckets) * WAYS];
	for (size_t i = 0; i < WAYS && !slot; i++) {
		if (b[i].hash == x)
			slot = &b[i];
	}
	for (size_t i = 0; i < WAYS && !slot; i++) {
		if (!b[i].hash)
			slot = &b[i];
	}
	if (!slot) { /* the oldest makes room */
		slot = &b[0];
		for (size_t i = 1; i < WAYS; i++) {
			if (b[i].parent.ts < slot->parent.ts)
				slot = &b[i];
		}
	}
	slot->hash = x;
	slot->parent = *parent;
}

const struct kw_handout *kw_handouts_get(const struct kw_handouts *h,
					 const char *key, size_t n)
{
	uint64_t x;
	const struct entry *b;

	if (!h || !n)
		return NULL;
	x = hash_of(h, key, n);
	b = &h->v[(x % h->nbuckets) * WAYS];
	for (size_t i = 0; i < WAYS; i++) {
		if (b[i].hash == x)
			return &b[i].parent;
	}
	return NULL;
}
