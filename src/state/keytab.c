/*
 * keytab.c - the per-key table: chained hash table with incremental rehash,
 * an intrusive least-recently-seen list, and one allocation per key.
 *
 * The one idea: each key is a single block [private header | key bytes |
 * public kw_keyent | detector state]. The header chains the block into a
 * hash bucket and into the recency list, so a lookup of a known key is a
 * keyed hash, a short chain walk and a list splice, with no allocation. The key
 * bytes sit right after the header so that comparing a key costs no extra
 * cache miss.
 * The hash is keyed per table (keyhash.h: NH and multiply-add-shift, a
 * universal family, from a random seed), so chosen keys cannot flood one
 * bucket.
 *
 * Growth follows redis's dict.c: when the table is as full as it has buckets,
 * a second bucket array twice the size is allocated and every later call
 * moves a few buckets from the old array to the new one (KEYTAB_REHASH_STEP,
 * giving up after ten empty buckets per step); lookups search both arrays
 * while this lasts, inserts go to the new one. The bucket count never grows
 * past the power of two at or above max_keys.
 */
#include "state/keytab.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "state/keyhash.h"
#include "state/siphash.h"

#define KEYTAB_INITIAL_BUCKETS 16
#define KEYTAB_REHASH_STEP 2

/* ---- the entry block -------------------------------------------------- */

struct node {
	struct node *hnext; /* next in the hash bucket */
	struct node *older; /* towards the least recently seen */
	struct node *newer; /* towards the most recently seen */
	uint32_t hash;	    /* low 32 bits of the keyed hash of the key */
	uint16_t keylen;    /* <= KW_KEY_MAX_LEN */
	/* then: keylen key bytes padded to 16, the struct kw_keyent, and the
	 * detector state (t->state_alloc bytes) */
};

_Static_assert(sizeof(struct node) % 16 == 0,
	       "the key bytes and kw_keyent after the header stay aligned");
_Static_assert(sizeof(struct kw_keyent) % 16 == 0,
	       "the state area after kw_keyent must stay 16-byte aligned");
_Static_assert(KW_KEY_MAX_LEN <= UINT16_MAX, "keylen is a uint16_t");

struct bucket_array {
	struct node **b; /* mask + 1 chains, NULL when not allocated */
	size_t mask;
	size_t used; /* entries chained here */
};

struct kw_keytab {
	struct bucket_array ht[2]; /* ht[1] is in use only while rehashing */
	size_t rehashidx;	   /* next ht[0] bucket to move */
	bool rehashing;
	struct node *oldest, *newest;
	size_t count, max_keys, max_buckets;
	size_t state_size, state_alloc; /* as asked; rounded up to 16 */
	uint64_t evicted;
	kw_keytab_cb *on_evict;
	void *evict_ctx;
	struct kw_keyhash_key hkey; /* from the random seed */
};

static size_t round16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

static char *node_key(struct node *nd)
{
	return (char *)(nd + 1);
}

static struct kw_keyent *node_ent(struct node *nd)
{
	return (struct kw_keyent *)(node_key(nd) + round16(nd->keylen));
}

size_t kw_keytab_entry_overhead(size_t keylen)
{
	return sizeof(struct node) + round16(keylen) + sizeof(struct kw_keyent);
}

/* ---- creation and destruction ----------------------------------------- */

static enum kw_status read_urandom(uint8_t *buf, size_t n)
{
	enum kw_status st = KW_EIO;
	size_t got = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		goto cleanup;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto cleanup;
		got += (size_t)r;
	}
	st = KW_OK;
cleanup:
	if (fd >= 0)
		close(fd);
	return st;
}

static enum kw_status random_seed(uint8_t seed[KW_SIPHASH_KEY_LEN])
{
	size_t got = 0;

	while (got < KW_SIPHASH_KEY_LEN) {
		ssize_t r = getrandom(seed + got, KW_SIPHASH_KEY_LEN - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return read_urandom(seed, KW_SIPHASH_KEY_LEN);
		got += (size_t)r;
	}
	return KW_OK;
}

enum kw_status kw_keytab_create_seeded(size_t max_keys, size_t state_size,
				       const uint8_t seed[16],
				       struct kw_keytab **out)
{
	enum kw_status st = KW_EINVAL;
	struct kw_keytab *t = NULL;
	size_t max_buckets = KEYTAB_INITIAL_BUCKETS;

	*out = NULL;
	if (max_keys == 0 || max_keys > SIZE_MAX / 4 ||
	    state_size > KW_KEYTAB_STATE_MAX)
		goto cleanup;
	st = KW_ENOMEM;
	t = calloc(1, sizeof(*t));
	if (!t)
		goto cleanup;
	while (max_buckets < max_keys)
		max_buckets *= 2;
	t->max_keys = max_keys;
	t->max_buckets = max_buckets;
	t->state_size = state_size;
	t->state_alloc = round16(state_size);
	kw_keyhash_init(&t->hkey, seed);
	t->ht[0].mask = KEYTAB_INITIAL_BUCKETS - 1;
	t->ht[0].b = calloc(KEYTAB_INITIAL_BUCKETS, sizeof(struct node *));
	if (!t->ht[0].b)
		goto cleanup;
	*out = t;
	t = NULL;
	st = KW_OK;
cleanup:
	kw_keytab_destroy(t);
	return st;
}

enum kw_status kw_keytab_create(size_t max_keys, size_t state_size,
				struct kw_keytab **out)
{
	uint8_t seed[KW_SIPHASH_KEY_LEN];
	enum kw_status st;

	*out = NULL;
	st = random_seed(seed);
	if (st == KW_OK)
		st = kw_keytab_create_seeded(max_keys, state_size, seed, out);
	explicit_bzero(seed, sizeof(seed));
	return st;
}

/* Wipe the key bytes and free the block. */
static void node_free(struct node *nd)
{
	explicit_bzero(node_key(nd), nd->keylen);
	free(nd);
}

void kw_keytab_destroy(struct kw_keytab *t)
{
	struct node *nd, *next;

	if (!t)
		return;
	for (nd = t->oldest; nd; nd = next) {
		next = nd->newer;
		node_free(nd);
	}
	free(t->ht[0].b);
	free(t->ht[1].b);
	explicit_bzero(&t->hkey, sizeof(t->hkey));
	free(t);
}

void kw_keytab_on_evict(struct kw_keytab *t, kw_keytab_cb *cb, void *ctx)
{
	t->on_evict = cb;
	t->evict_ctx = ctx;
}

/* ---- incremental rehash ------------------------------------------------ */

/* Start growing when there are as many keys as buckets. Failure to get the
 * new array is not an error: chains just get longer until a later try. */
static void maybe_grow(struct kw_keytab *t)
{
	size_t size = t->ht[0].mask + 1;
	struct node **b;

	if (t->rehashing || t->ht[0].used < size || size >= t->max_buckets)
		return;
	b = calloc(size * 2, sizeof(*b));
	if (!b)
		return;
	t->ht[1].b = b;
	t->ht[1].mask = size * 2 - 1;
	t->ht[1].used = 0;
	t->rehashidx = 0;
	t->rehashing = true;
}

/* Move up to `steps` non-empty buckets from ht[0] to ht[1]. */
static void rehash_step(struct kw_keytab *t, size_t steps)
{
	size_t empty_visits = steps * 10;

	while (steps-- > 0 && t->ht[0].used > 0) {
		struct node *nd;

		while (!t->ht[0].b[t->rehashidx]) {
			t->rehashidx++;
			if (--empty_visits == 0)
				return;
		}
		nd = t->ht[0].b[t->rehashidx];
		while (nd) {
			struct node *next = nd->hnext;
			size_t i = nd->hash & t->ht[1].mask;

			nd->hnext = t->ht[1].b[i];
			t->ht[1].b[i] = nd;
			t->ht[0].used--;
			t->ht[1].used++;
			nd = next;
		}
		t->ht[0].b[t->rehashidx++] = NULL;
	}
	if (t->ht[0].used == 0) {
		free(t->ht[0].b);
		t->ht[0] = t->ht[1];
		t->ht[1] = (struct bucket_array){.b = NULL};
		t->rehashing = false;
	}
}

/* ---- lookup, insert, evict --------------------------------------------- */

static struct node *find(const struct kw_keytab *t, const char *key, size_t n,
			 uint32_t h)
{
	for (int k = 0; k <= (t->rehashing ? 1 : 0); k++) {
		struct node *nd = t->ht[k].b[h & t->ht[k].mask];

		for (; nd; nd = nd->hnext) {
			if (nd->hash == h && nd->keylen == n &&
			    memcmp(node_key(nd), key, n) == 0)
				return nd;
		}
	}
	return NULL;
}

static void lru_unlink(struct kw_keytab *t, struct node *nd)
{
	if (nd->older)
		nd->older->newer = nd->newer;
	else
		t->oldest = nd->newer;
	if (nd->newer)
		nd->newer->older = nd->older;
	else
		t->newest = nd->older;
	nd->older = NULL;
	nd->newer = NULL;
}

static void lru_push_newest(struct kw_keytab *t, struct node *nd)
{
	nd->older = t->newest;
	nd->newer = NULL;
	if (t->newest)
		t->newest->newer = nd;
	else
		t->oldest = nd;
	t->newest = nd;
}

/* Unlink nd from whichever bucket array holds it. */
static void hash_unlink(struct kw_keytab *t, struct node *nd)
{
	for (int k = 0; k <= (t->rehashing ? 1 : 0); k++) {
		struct node **pp = &t->ht[k].b[nd->hash & t->ht[k].mask];

		for (; *pp; pp = &(*pp)->hnext) {
			if (*pp == nd) {
				*pp = nd->hnext;
				t->ht[k].used--;
				return;
			}
		}
	}
}

static void hash_link(struct kw_keytab *t, struct node *nd)
{
	struct bucket_array *a = &t->ht[t->rehashing ? 1 : 0];
	size_t i = nd->hash & a->mask;

	nd->hnext = a->b[i];
	a->b[i] = nd;
	a->used++;
}

static void evict(struct kw_keytab *t, struct node *nd)
{
	if (t->on_evict)
		t->on_evict(t->evict_ctx, node_ent(nd));
	hash_unlink(t, nd);
	lru_unlink(t, nd);
	t->count--;
	node_free(nd);
}

static struct node *node_new(const struct kw_keytab *t, const char *key,
			     size_t n, uint32_t h, int64_t ts)
{
	size_t size = kw_keytab_entry_overhead(n) + t->state_alloc;
	struct node *nd = aligned_alloc(16, size);
	struct kw_keyent *ent;

	if (!nd)
		return NULL;
	memset(nd, 0, size);
	nd->hash = h;
	nd->keylen = (uint16_t)n;
	memcpy(node_key(nd), key, n);
	ent = node_ent(nd);
	kw_key_fingerprint(key, n, ent->fp);
	kw_key_redact(key, n, ent->id, sizeof(ent->id));
	ent->first_seen = ts;
	ent->last_seen = ts;
	return nd;
}

enum kw_status kw_keytab_get(struct kw_keytab *t, const char *key, size_t n,
			     int64_t ts, struct kw_keyent **ent, bool *created)
{
	struct node *nd;
	struct kw_keyent *e;
	uint32_t h;

	*ent = NULL;
	if (created)
		*created = false;
	if (n == 0 || !key)
		return KW_EINVAL;
	if (n > KW_KEY_MAX_LEN)
		return KW_ETOOBIG;
	if (t->rehashing)
		rehash_step(t, KEYTAB_REHASH_STEP);
	h = (uint32_t)kw_keyhash(&t->hkey, key, n);
	nd = find(t, key, n, h);
	if (!nd) {
		nd = node_new(t, key, n, h, ts);
		if (!nd)
			return KW_ENOMEM;
		if (t->count >= t->max_keys) {
			evict(t, t->oldest);
			t->evicted++;
		}
		maybe_grow(t);
		hash_link(t, nd);
		lru_push_newest(t, nd);
		t->count++;
		if (created)
			*created = true;
	} else if (nd != t->newest) {
		lru_unlink(t, nd);
		lru_push_newest(t, nd);
	}
	e = node_ent(nd);
	if (ts < e->first_seen)
		e->first_seen = ts;
	if (ts > e->last_seen)
		e->last_seen = ts;
	e->events++;
	*ent = e;
	return KW_OK;
}

size_t kw_keytab_evict_idle(struct kw_keytab *t, int64_t before)
{
	size_t n = 0;

	while (t->oldest && node_ent(t->oldest)->last_seen < before) {
		evict(t, t->oldest);
		n++;
	}
	return n;
}

/* ---- inspection --------------------------------------------------------- */

uint64_t kw_keytab_hash(const struct kw_keytab *t, const char *key, size_t n)
{
	return kw_keyhash(&t->hkey, key, n);
}

size_t kw_keytab_count(const struct kw_keytab *t)
{
	return t->count;
}

uint64_t kw_keytab_evicted(const struct kw_keytab *t)
{
	return t->evicted;
}

void kw_keytab_foreach(struct kw_keytab *t, kw_keytab_cb *cb, void *ctx)
{
	for (struct node *nd = t->oldest; nd; nd = nd->newer)
		cb(ctx, node_ent(nd));
}
