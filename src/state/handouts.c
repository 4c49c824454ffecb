/*
 * handouts.c - the table of keys handed out (handouts.h): 4-way buckets
 * of (hash, parent), the oldest entry of a full bucket replaced; entries
 * loaded from a state file wait, sorted by the child's fingerprint, until
 * their key is asked for.
 */
#include "state/handouts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/key.h"
#include "core/time.h"
#include "state/siphash.h"

#define WAYS 4
#define MISSES 256 /* keys looked up in vain among the loaded entries */
#define ID_MAX (sizeof(((struct kw_handout *)0)->id) - 1)
#define PRINCIPAL_MAX (sizeof(((struct kw_handout *)0)->principal) - 1)
#define ENTRY_MAX (8 + 8 + 1 + ID_MAX + 1 + PRINCIPAL_MAX) /* saved */

struct entry {
	uint64_t hash; /* 0: empty (a real hash of 0 is stored as 1); in
			  the loaded list, 0: taken into the table */
	uint64_t fp;   /* the child's fingerprint as a number */
	struct kw_handout parent;
};

struct kw_handouts {
	uint8_t seed[16];
	size_t nbuckets;
	struct entry *v; /* nbuckets * WAYS */
	/* Loaded, not yet asked for: by fp, nrest of them, live of them
	 * not taken. */
	struct entry *rest;
	size_t nrest, live;
	uint64_t miss[MISSES]; /* hashes of keys not among them (0: none) */
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
	free(h->rest);
	free(h);
}

static uint64_t hash_of(const struct kw_handouts *h, const char *key, size_t n)
{
	uint64_t x = kw_siphash(key, n, h->seed);

	return x ? x : 1;
}

/* The fingerprint of key[0..n) as a number; 0 when it cannot be made. */
static uint64_t fp_of(const char *key, size_t n)
{
	char hex[KW_KEY_FP_SIZE];
	uint64_t v = 0;

	kw_key_fingerprint(key, n, hex);
	for (size_t i = 0; hex[i]; i++)
		v = v << 4 | (uint64_t)(hex[i] <= '9' ? hex[i] - '0'
						      : hex[i] - 'a' + 10);
	return v;
}

/* The loaded entry of fingerprint fp not yet taken, or NULL. */
static struct entry *rest_find(struct kw_handouts *h, uint64_t fp)
{
	size_t lo = 0, hi = h->nrest;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (h->rest[mid].fp < fp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < h->nrest && h->rest[lo].fp == fp && h->rest[lo].hash
		       ? &h->rest[lo]
		       : NULL;
}

/* The entry of hash x: where it is, or where it goes (a free one, or the
 * oldest of its full bucket). */
static struct entry *slot_of(struct kw_handouts *h, uint64_t x)
{
	struct entry *b = &h->v[(x % h->nbuckets) * WAYS], *slot = NULL;

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
	return slot;
}

void kw_handouts_put(struct kw_handouts *h, const char *child, size_t n,
		     const struct kw_handout *parent)
{
	struct entry *slot, *old;
	uint64_t x, fp;

	if (!h || !n)
		return;
	x = hash_of(h, child, n);
	fp = fp_of(child, n);
	slot = slot_of(h, x);
	slot->hash = x;
	slot->fp = fp;
	slot->parent = *parent;
	/* What is put now replaces what was loaded. */
	if (h->live && (old = rest_find(h, fp)) != NULL) {
		old->hash = 0;
		h->live--;
	}
}

const struct kw_handout *kw_handouts_get(struct kw_handouts *h, const char *key,
					 size_t n)
{
	const struct entry *b;
	struct entry *r, *slot;
	uint64_t x;

	if (!h || !n)
		return NULL;
	x = hash_of(h, key, n);
	b = &h->v[(x % h->nbuckets) * WAYS];
	for (size_t i = 0; i < WAYS; i++) {
		if (b[i].hash == x)
			return &b[i].parent;
	}
	if (!h->live || h->miss[x % MISSES] == x)
		return NULL;
	r = rest_find(h, fp_of(key, n));
	if (!r) {
		h->miss[x % MISSES] = x;
		return NULL;
	}
	slot = slot_of(h, x);
	*slot = *r;
	slot->hash = x;
	r->hash = 0;
	h->live--;
	return &slot->parent;
}

size_t kw_handouts_count(const struct kw_handouts *h)
{
	size_t n = 0;

	if (!h)
		return 0;
	for (size_t i = 0; i < h->nbuckets * WAYS; i++)
		n += h->v[i].hash != 0;
	return n + h->live;
}

size_t kw_handouts_save_max(size_t max)
{
	size_t cap = (max / WAYS ? max / WAYS : 1) * WAYS;

	/* the table's entries and as many loaded ones */
	return 4 + 2 * cap * ENTRY_MAX;
}

/* ---- saving and loading ---- */

static int by_fp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return x->fp < y->fp ? -1 : x->fp > y->fp;
}

/* Newest first, then by fingerprint. */
static int by_age(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->parent.ts != y->parent.ts)
		return x->parent.ts > y->parent.ts ? -1 : 1;
	return by_fp(a, b);
}

static void put_le(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
	uint64_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

enum kw_status kw_handouts_save(const struct kw_handouts *h,
				unsigned char **out, size_t *len)
{
	size_t n = 0, cap = h->nbuckets * WAYS + h->live, at = 4;
	struct entry *all = malloc((cap ? cap : 1) * sizeof(*all));
	unsigned char *p = malloc(4 + cap * ENTRY_MAX);

	*out = NULL;
	*len = 0;
	if (!all || !p) {
		free(all);
		free(p);
		return KW_ENOMEM;
	}
	for (size_t i = 0; i < h->nbuckets * WAYS; i++) {
		if (h->v[i].hash)
			all[n++] = h->v[i];
	}
	for (size_t i = 0; i < h->nrest; i++) {
		if (h->rest[i].hash)
			all[n++] = h->rest[i];
	}
	qsort(all, n, sizeof(*all), by_fp);
	for (size_t i = 0; i < 4; i++)
		p[i] = (unsigned char)(n >> (8 * i));
	for (size_t i = 0; i < n; i++) {
		const struct kw_handout *e = &all[i].parent;
		size_t idn = strnlen(e->id, ID_MAX),
		       pn = strnlen(e->principal, PRINCIPAL_MAX);

		put_le(p + at, all[i].fp);
		put_le(p + at + 8, (uint64_t)e->ts);
		p[at + 16] = (unsigned char)idn;
		memcpy(p + at + 17, e->id, idn);
		at += 17 + idn;
		p[at] = (unsigned char)pn;
		memcpy(p + at + 1, e->principal, pn);
		at += 1 + pn;
	}
	free(all);
	*out = p;
	*len = at;
	return KW_OK;
}

/* Whether n bytes at s are text to show: no control byte, no NUL. */
static bool text_ok(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] == 0x7f)
			return false;
	}
	return true;
}

/* One saved entry at p (left bytes) into e: its length, 0 with why. */
static size_t read_entry(const unsigned char *p, size_t left, struct entry *e,
			 char *why, size_t cap)
{
	size_t idn, pn;

	if (left < 18 || left - 17 < p[16] + (size_t)1) {
		snprintf(why, cap, "cut short");
		return 0;
	}
	idn = p[16];
	pn = p[17 + idn];
	if (idn && left - 18 - idn < pn) {
		snprintf(why, cap, "cut short");
		return 0;
	}
	memset(e, 0, sizeof(*e));
	e->hash = 1;
	e->fp = get_le(p, 8);
	e->parent.ts = (int64_t)get_le(p + 8, 8);
	if (!idn || idn > ID_MAX || pn > PRINCIPAL_MAX ||
	    !text_ok(p + 17, idn) || !text_ok(p + 18 + idn, pn)) {
		snprintf(why, cap,
			 "a parent's id or principal that is not one");
		return 0;
	}
	if (e->parent.ts < KW_TIME_MIN || e->parent.ts > KW_TIME_MAX) {
		snprintf(why, cap, "a time out of range");
		return 0;
	}
	memcpy(e->parent.id, p + 17, idn);
	memcpy(e->parent.principal, p + 18 + idn, pn);
	return 18 + idn + pn;
}

bool kw_handouts_load(struct kw_handouts *h, const unsigned char *p, size_t len,
		      char *why, size_t cap)
{
	size_t count, at = 4, room = h->nbuckets * WAYS;
	struct entry *all;

	if (len < 4) {
		snprintf(why, cap, "cut short");
		return false;
	}
	count = (size_t)get_le(p, 4);
	/* Every entry is at least 18 bytes. */
	if (count > (len - 4) / 18) {
		snprintf(why, cap, "%zu entries in %zu bytes", count, len);
		return false;
	}
	all = malloc((count ? count : 1) * sizeof(*all));
	if (!all) {
		snprintf(why, cap, "out of memory");
		return false;
	}
	for (size_t i = 0; i < count; i++) {
		size_t n = read_entry(p + at, len - at, &all[i], why, cap);

		if (!n || (i && all[i].fp <= all[i - 1].fp)) {
			if (n)
				snprintf(why, cap,
					 "fingerprints not in order or twice");
			free(all);
			return false;
		}
		at += n;
	}
	if (at != len) {
		snprintf(why, cap, "%zu bytes after the last entry", len - at);
		free(all);
		return false;
	}
	if (count > room) { /* the newest */
		qsort(all, count, sizeof(*all), by_age);
		count = room;
		qsort(all, count, sizeof(*all), by_fp);
	}
	free(h->rest);
	h->rest = all;
	h->nrest = h->live = count;
	memset(h->miss, 0, sizeof(h->miss));
	/* An entry put since is the newer. */
	for (size_t i = 0; i < room; i++) {
		struct entry *r =
			h->v[i].hash ? rest_find(h, h->v[i].fp) : NULL;

		if (r) {
			r->hash = 0;
			h->live--;
		}
	}
	return true;
}
