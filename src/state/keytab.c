/*
 * keytab.c - the per-key table: numbered entries, an open
 * addressing index of tagged slots, incremental growth, and eviction by
 * tier from a sample taken in entry order.
 *
 * The one idea: an entry has a number, and its number is where it lives.
 * Entries are fixed-size records [private header: the key's 128-bit hash |
 * public kw_keyent | detector state] in one range of address space reserved for
 * max_keys of them at creation and made usable as the table fills (no
 * memory until then; faulted in a step ahead of the entries, see
 * reserve_entry), so they never move and finding one is a multiply. The
 * index maps a key to its number: 64-byte groups (one cache line) of 12
 * one-byte tags (7 bits of the hash; 0 is an empty slot) and 12 four-byte entry
 * numbers, so a lookup of a known key is the keyed hash, one line of the index
 * (tags compared 12 at a time), and the entry itself, whose header (the
 * 128 bits compared) shares a line with the fields the engine reads first.
 * No key bytes are kept or compared: two keys are the same when their 128
 * bits are (keyhash.h bounds the chance of two keys sharing them). The one
 * exception is a memo of the last few keys hashed with their hashes (kept
 * only to skip hashing them again, never to tell keys apart; see
 * kw_keytab_hash).
 * Nothing is relinked when a key is seen: recency is the entry's own
 * last_seen.
 *
 * The index: a key's home group is the low bits of its hash; a full group
 * sends it to the next one (linear probing over groups) and counts, in its
 * overflow byte, the keys that passed it. A lookup stops at the first group
 * whose overflow is zero, so removals need no tombstones: a removal clears
 * its tag and takes one off the overflow of the groups its key passed
 * (a count that reached 255 stays there). The hash is keyed per table
 * (keyhash.h: NH and multiply-add-shift, a universal family, from a random
 * seed), so chosen keys cannot flood one group.
 *
 * Growth: when the index is 80% full, a second index twice the size is
 * allocated and every later call moves one group of the old one into it
 * (as redis's dict.c moves buckets); lookups search both while this lasts,
 * inserts go to the new one. Entries need no growth: their room is only
 * made usable further on. So no call ever pays for moving the whole table,
 * and entries are never copied.
 * The index never grows past what max_keys needs.
 *
 * Eviction: on a full table a new key takes the number of the key it
 * evicts, chosen by worth (keytab.h) with no search of the table: a queue
 * of numbers in insertion order holds the keys that are not yet learned
 * (tiers only rise, so a key leaves it for good once learned), and its
 * head gives the oldest one-shot, or failing that the oldest of a few
 * unsettled keys, as S3-FIFO's small queue gives one-hit wonders. Only
 * when every key is learned does a clock's hand sample the numbers (the
 * oldest last_seen of KW_KEYTAB_EVICT_SAMPLE, the hand moving on by as
 * many each time). Numbers and input order, never hash order, so eviction
 * depends on the input alone.
 */
#include "state/keytab.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "state/keyhash.h"
#include "state/siphash.h"

#define GROUP_SLOTS 12
#define TAG_EMPTY 0
#define OVERFLOW_STUCK 255

/* ---- the entry ---------------------------------------------------------- */

struct hdr {
	uint64_t hash[2]; /* the key's keyed hash; hash[0]'s low 32 bits:
			     the home group, its top 7: the tag */
};

_Static_assert(sizeof(struct hdr) == 16, "kw_keyent stays 16-byte aligned");
_Static_assert(sizeof(struct kw_keyent) == 112,
	       "kw_keyent is 112 bytes (kw_keytab_entry_overhead)");
_Static_assert(sizeof(struct kw_keyent) % 16 == 0,
	       "the state area after kw_keyent must stay 16-byte aligned");
_Static_assert(KW_KEYENT_ID_INLINE <= KW_KEY_ID_MAX, "a cut id");
_Static_assert(KW_KEYTAB_MAX_KEYS <= UINT32_MAX, "entry numbers are uint32_t");

#define ENTRY_FIXED (sizeof(struct hdr) + sizeof(struct kw_keyent))

/* ---- the index ---------------------------------------------------------- */

struct group {
	uint8_t tag[GROUP_SLOTS];
	uint8_t overflow; /* keys whose probe passed this group when full */
	uint8_t pad[3];
	uint32_t ent[GROUP_SLOTS]; /* entry numbers */
};

_Static_assert(sizeof(struct group) == 64, "a group is one cache line");

/* Memory from the system: small sizes from malloc, large ones mapped on
 * their own and 2 MB-aligned so the kernel may back them with huge pages
 * (a table of millions of keys is read at random: fewer TLB misses). */
struct region {
	void *p; /* size usable bytes, 64-byte aligned */
	size_t size;
	void *map; /* the whole mapping, or NULL (malloc'ed) */
	size_t maplen;
};

/* The keys hashed last and their hashes (kw_keytab_hash): a log's
 * traffic comes mostly from a few keys, and comparing a key's bytes costs
 * a fraction of hashing them (107-byte Stripe key: about 40 instructions
 * against 260). A hit only saves the hash: the hash of given bytes never
 * changes, so what the memo holds is never stale. Keys of MEMO_KEY_MIN to
 * MEMO_KEY_MAX bytes; round-robin replacement. When fewer than a quarter
 * of a round of MEMO_ROUND lookups hit (millions of keys, each seen
 * rarely), the memo is left alone for MEMO_REST lookups, so such a log
 * pays about a tenth of its misses. */
#define MEMO_KEYS 4
#define MEMO_KEY_MIN 16
#define MEMO_KEY_MAX 128
#define MEMO_ROUND 64
#define MEMO_REST 1024

struct hash_memo {
	uint64_t h[2];
	uint64_t tail; /* the key's last 8 bytes (its first are often a
			  prefix many keys share) */
	size_t n;      /* 0: empty */
	/* The entry kw_keytab_get found the key at last: tried before the
	 * index, taken when that entry's hash is still h (an entry is only
	 * ever reused for another key, which overwrites its hash). */
	uint32_t num;
	unsigned char key[MEMO_KEY_MAX];
};

struct index {
	struct group *g; /* mask + 1 groups, NULL when not allocated */
	size_t mask;
	size_t used; /* keys indexed here */
	struct region mem;
};

struct kw_keytab {
	struct index ix[2]; /* ix[1]: the old index while growing */
	size_t moved;	    /* groups of ix[1] moved so far */
	bool growing;
	size_t max_groups;
	struct region ents; /* room reserved for max_keys entries */
	size_t committed;   /* bytes of it readable and writable */
	size_t populated;   /* bytes of it faulted in (reserve_entry) */
	size_t count, max_keys;
	size_t stride;			/* bytes per entry */
	size_t state_size, state_alloc; /* as asked; rounded up to 16 */
	struct region qmem;
	uint32_t *queue; /* keys not yet learned, a ring of max_keys */
	size_t qhead, qlen;
	size_t hand;	      /* the next number the clock looks at */
	size_t long_id_bytes; /* long ids' own allocations */
	uint64_t evicted;
	kw_keytab_cb *on_evict;
	void *evict_ctx;
	struct kw_keyhash_key hkey; /* from the random seed */
	struct hash_memo memo[MEMO_KEYS];
	unsigned memo_next; /* the entry a miss replaces */
	unsigned memo_seen; /* lookups in this round of MEMO_ROUND */
	unsigned memo_hits; /* of which found */
	unsigned memo_rest; /* lookups left without the memo */
};

static size_t round16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

#define HUGE_PAGE ((size_t)2 << 20)
/* Smaller regions come from malloc (and are cleared); from this size on
 * they are mapped, zeroed by the kernel: no memory until used. */
#define MAPPED_FROM ((size_t)128 << 10)

/* region_alloc's huge_from for a region kept in small pages. */
#define NEVER_HUGE SIZE_MAX

/*
 * A region of size bytes, zeroed. reserve_only: address space only
 * (PROT_NONE, no memory committed; region_commit makes a prefix usable),
 * always mapped. Huge pages are asked for from huge_from bytes on, so a
 * small table stays in small pages; with NEVER_HUGE they are refused,
 * also where the system would give them unasked (THP "always").
 */
static bool region_alloc(struct region *r, size_t size, bool reserve_only,
			 size_t huge_from)
{
	unsigned char *map, *p;
	size_t len;

	*r = (struct region){.size = size};
	if (!reserve_only && size < MAPPED_FROM) {
		r->p = aligned_alloc(64, (size + 63) & ~(size_t)63);
		if (r->p)
			memset(r->p, 0, size);
		return r->p != NULL;
	}
	if (size > SIZE_MAX - 2 * HUGE_PAGE)
		return false;
	len = size + HUGE_PAGE;
	map = mmap(NULL, len, reserve_only ? PROT_NONE : PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		return false;
	p = (unsigned char *)(((uintptr_t)map + HUGE_PAGE - 1) &
			      ~(uintptr_t)(HUGE_PAGE - 1));
#ifdef MADV_NOHUGEPAGE
	if (huge_from == NEVER_HUGE)
		madvise(p, size, MADV_NOHUGEPAGE);
	else if (size > huge_from)
		madvise(p + huge_from, size - huge_from, MADV_HUGEPAGE);
#endif
	r->p = p;
	r->map = map;
	r->maplen = len;
	return true;
}

/* Make the first `want` bytes of a reserved region usable (at least). */
static bool region_commit(struct region *r, size_t *committed, size_t want)
{
	size_t to;

	if (want <= *committed)
		return true;
	to = *committed + *committed / 8;
	if (to < want)
		to = want;
	to = (to + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	if (to > r->size)
		to = (r->size + 4095) & ~(size_t)4095;
	if (mprotect((unsigned char *)r->p + *committed, to - *committed,
		     PROT_READ | PROT_WRITE) != 0)
		return false;
	*committed = to;
	return true;
}

static void region_free(struct region *r)
{
	if (r->map)
		munmap(r->map, r->maplen);
	else
		free(r->p);
	*r = (struct region){.p = NULL};
}

static uint8_t hash_tag(uint64_t h)
{
	return (uint8_t)(0x80 | (h >> 57));
}

static struct hdr *entry(const struct kw_keytab *t, uint32_t num)
{
	return (struct hdr *)((unsigned char *)t->ents.p +
			      (size_t)num * t->stride);
}

static struct kw_keyent *hdr_ent(struct hdr *h)
{
	return (struct kw_keyent *)(h + 1);
}

size_t kw_keytab_entry_overhead(void)
{
	return ENTRY_FIXED;
}

/* ---- tags, twelve at a time --------------------------------------------- */

/* Bit i set when slot i of g holds tag. */
static unsigned match_tag(const struct group *g, uint8_t tag)
{
#if defined(__SSE2__)
	__m128i v = _mm_load_si128((const __m128i *)g);
	__m128i eq = _mm_cmpeq_epi8(v, _mm_set1_epi8((char)tag));

	return (unsigned)_mm_movemask_epi8(eq) & ((1u << GROUP_SLOTS) - 1);
#else
	unsigned m = 0;

	for (unsigned i = 0; i < GROUP_SLOTS; i++)
		m |= (unsigned)(g->tag[i] == tag) << i;
	return m;
#endif
}

static unsigned first_slot(unsigned m)
{
	return (unsigned)__builtin_ctz(m);
}

/* ---- creation and destruction ----------------------------------------- */

static bool index_alloc(struct index *ix, size_t groups)
{
	if (!region_alloc(&ix->mem, groups * sizeof(struct group), false, 0))
		return false;
#ifdef MADV_POPULATE_WRITE
	/* Its memory now, written: lookups probe a page before any insert
	 * writes it, and a page first read is the kernel's shared zero page,
	 * replaced on the first write (a second fault, and the old mapping
	 * flushed from the other threads' TLBs). Every page of the index
	 * is written soon anyway (keys hash evenly). An older kernel says
	 * EINVAL: the pages come as before. */
	if (ix->mem.map)
		(void)madvise(ix->mem.p, ix->mem.size, MADV_POPULATE_WRITE);
#endif
	ix->g = ix->mem.p;
	ix->mask = groups - 1;
	ix->used = 0;
	return true;
}

static void index_free(struct index *ix)
{
	region_free(&ix->mem);
	*ix = (struct index){.g = NULL};
}

/* Whether an index of `groups` groups holding `keys` keys is past 80%. */
static bool too_full(size_t keys, size_t groups)
{
	return keys * 5 > groups * GROUP_SLOTS * 4;
}

enum kw_status kw_keytab_create_seeded(size_t max_keys, size_t state_size,
				       const uint8_t seed[16],
				       struct kw_keytab **out)
{
	enum kw_status st = KW_EINVAL;
	struct kw_keytab *t = NULL;
	size_t max_groups = 1;

	*out = NULL;
	if (max_keys == 0 || max_keys > KW_KEYTAB_MAX_KEYS ||
	    state_size > KW_KEYTAB_STATE_MAX)
		goto cleanup;
	st = KW_ENOMEM;
	t = calloc(1, sizeof(*t));
	if (!t)
		goto cleanup;
	while (too_full(max_keys, max_groups))
		max_groups *= 2;
	t->max_keys = max_keys;
	t->max_groups = max_groups;
	t->state_size = state_size;
	t->state_alloc = round16(state_size);
	t->stride = ENTRY_FIXED + t->state_alloc;
	kw_keyhash_init(&t->hkey, seed);
	if (!index_alloc(&t->ix[0], 1))
		goto cleanup;
	if (!region_alloc(&t->qmem, max_keys * sizeof(*t->queue), false,
			  HUGE_PAGE))
		goto cleanup;
	t->queue = t->qmem.p;
	/* Address space for every entry, memory only as they are used
	 * (reserve_entry), in small pages. Huge pages saved TLB misses when
	 * each page was faulted in by its first write (the 1M x 20 cell's
	 * first 6 million events: 18 to 21 s of CPU in small pages, 9 to 11 s
	 * in huge ones); with the pages populated ahead they no longer pay
	 * on this project's VMs: the kernel zeroing fresh 2 MB pages took 11
	 * to 14 s of system time in the 5M x 4 cell, small pages 4 to 11 s,
	 * for about 1.5 s more user time; 1M x 20 the same either way
	 * (bench/README, "The key table's entries in small pages"). */
	if (max_keys > SIZE_MAX / t->stride ||
	    !region_alloc(&t->ents, max_keys * t->stride, true, NEVER_HUGE))
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
	st = kw_siphash_random_key(seed);
	if (st == KW_OK)
		st = kw_keytab_create_seeded(max_keys, state_size, seed, out);
	explicit_bzero(seed, sizeof(seed));
	return st;
}

/* Free an entry's long id. */
static void drop_long_id(struct kw_keytab *t, struct kw_keyent *e)
{
	if (e->id_long) {
		t->long_id_bytes -= strlen(e->id_long) + 1;
		free((char *)e->id_long);
		e->id_long = NULL;
	}
}

void kw_keytab_destroy(struct kw_keytab *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->count; i++)
		drop_long_id(t, hdr_ent(entry(t, (uint32_t)i)));
	region_free(&t->ents);
	index_free(&t->ix[0]);
	index_free(&t->ix[1]);
	region_free(&t->qmem);
	explicit_bzero(&t->hkey, sizeof(t->hkey));
	explicit_bzero(t->memo, sizeof(t->memo));
	free(t);
}

void kw_keytab_on_evict(struct kw_keytab *t, kw_keytab_cb *cb, void *ctx)
{
	t->on_evict = cb;
	t->evict_ctx = ctx;
}

/* ---- the index: find, put, remove --------------------------------------- */

/* The number of the key in ix, or -1. */
static int64_t index_find(const struct kw_keytab *t, const struct index *ix,
			  const uint64_t hash[2], uint8_t tag)
{
	size_t gi = (uint32_t)hash[0] & ix->mask;

	for (size_t probes = 0; probes <= ix->mask; probes++) {
		const struct group *g = &ix->g[gi];
		unsigned m = match_tag(g, tag);

		while (m) {
			unsigned s = first_slot(m);
			struct hdr *h = entry(t, g->ent[s]);

			if (h->hash[0] == hash[0] && h->hash[1] == hash[1])
				return g->ent[s];
			m &= m - 1;
		}
		if (!g->overflow)
			break;
		gi = (gi + 1) & ix->mask;
	}
	return -1;
}

/* Put number num (of hash and tag) in the first free slot from its home
 * group. The caller made sure ix has a free slot. */
static void index_put(struct index *ix, uint32_t hash, uint8_t tag,
		      uint32_t num)
{
	size_t gi = hash & ix->mask;

	for (;;) {
		struct group *g = &ix->g[gi];
		unsigned m = match_tag(g, TAG_EMPTY);

		if (m) {
			unsigned s = first_slot(m);

			g->tag[s] = tag;
			g->ent[s] = num;
			ix->used++;
			return;
		}
		if (g->overflow < OVERFLOW_STUCK)
			g->overflow++;
		gi = (gi + 1) & ix->mask;
	}
}

/* Take number num out of ix; whether it was there. */
static bool index_remove(struct index *ix, uint32_t hash, uint8_t tag,
			 uint32_t num)
{
	size_t home = hash & ix->mask, gi = home;

	for (size_t probes = 0; probes <= ix->mask; probes++) {
		struct group *g = &ix->g[gi];
		unsigned m = match_tag(g, tag);

		for (; m; m &= m - 1) {
			unsigned s = first_slot(m);

			if (g->ent[s] != num)
				continue;
			g->tag[s] = TAG_EMPTY;
			ix->used--;
			for (size_t k = home; k != gi; k = (k + 1) & ix->mask) {
				if (ix->g[k].overflow < OVERFLOW_STUCK)
					ix->g[k].overflow--;
			}
			return true;
		}
		if (!g->overflow)
			break;
		gi = (gi + 1) & ix->mask;
	}
	return false;
}

/* ---- growth ------------------------------------------------------------- */

/* Move one group of the old index into the new one. Its overflow counts
 * stay, so lookups still probe past it to keys not moved yet. */
static void grow_step(struct kw_keytab *t)
{
	struct index *old = &t->ix[1];
	struct group *g = &old->g[t->moved];

	for (unsigned m = ~match_tag(g, TAG_EMPTY) & ((1u << GROUP_SLOTS) - 1);
	     m; m &= m - 1)
		__builtin_prefetch(entry(t, g->ent[first_slot(m)]));
	for (unsigned s = 0; s < GROUP_SLOTS; s++) {
		struct hdr *h;

		if (g->tag[s] == TAG_EMPTY)
			continue;
		h = entry(t, g->ent[s]);
		index_put(&t->ix[0], (uint32_t)h->hash[0], g->tag[s],
			  g->ent[s]);
		g->tag[s] = TAG_EMPTY;
		old->used--;
	}
	if (++t->moved > old->mask || old->used == 0) {
		index_free(old);
		t->growing = false;
	}
}

/* Start growing when the index is past 80% full. Failure to get the new
 * index is not an error: groups just fill up more until a later try (and
 * an insert fails only when the index has no free slot at all). */
static void maybe_grow(struct kw_keytab *t)
{
	struct index bigger;
	size_t groups = t->ix[0].mask + 1;

	if (!too_full(t->ix[0].used + 1, groups) || groups >= t->max_groups)
		return;
	while (t->growing) /* the last growth is always done by now; cheap */
		grow_step(t);
	if (!index_alloc(&bigger, groups * 2))
		return;
	t->ix[1] = t->ix[0];
	t->ix[0] = bigger;
	t->moved = 0;
	t->growing = true;
}

/* ---- eviction ----------------------------------------------------------- */

static unsigned tier(const struct kw_keyent *e)
{
	uint64_t span = (uint64_t)e->last_seen - (uint64_t)e->first_seen;

	if (e->conf)
		return 3;
	if (span >= (uint64_t)KW_KEYTAB_SETTLED || e->events >= KW_KEYTAB_BUSY)
		return 2;
	return e->events >= 2 ? 1 : 0;
}

static void queue_push(struct kw_keytab *t, uint32_t num)
{
	size_t i = t->qhead + t->qlen;

	if (i >= t->max_keys)
		i -= t->max_keys;
	t->queue[i] = num;
	t->qlen++;
}

static uint32_t queue_pop(struct kw_keytab *t)
{
	uint32_t num = t->queue[t->qhead];

	if (++t->qhead == t->max_keys)
		t->qhead = 0;
	t->qlen--;
	return num;
}

/* No key below the learned tier: the least worth among the sample after
 * the hand (tier, then the oldest last_seen). */
static uint32_t clock_victim(struct kw_keytab *t)
{
	size_t n = t->count < KW_KEYTAB_EVICT_SAMPLE ? t->count
						     : KW_KEYTAB_EVICT_SAMPLE;
	uint32_t nums[KW_KEYTAB_EVICT_SAMPLE], best = 0;
	unsigned best_tier = 4;
	int64_t best_seen = 0;

	for (size_t i = 0; i < n; i++) {
		nums[i] = (uint32_t)t->hand;
		__builtin_prefetch(hdr_ent(entry(t, nums[i])));
		if (++t->hand == t->count)
			t->hand = 0;
	}
	for (size_t i = 0; i < n; i++) {
		const struct kw_keyent *e = hdr_ent(entry(t, nums[i]));
		unsigned ti = tier(e);

		if (ti < best_tier ||
		    (ti == best_tier && e->last_seen < best_seen)) {
			best = nums[i];
			best_tier = ti;
			best_seen = e->last_seen;
		}
	}
	return best;
}

/*
 * The number to evict. The queue holds, in insertion order, every key not
 * yet known to be learned (tier 0 or 1: each key goes in when inserted,
 * and tiers only rise). Keys are taken from its head: the first one-shot
 * is the victim; a learned key leaves the queue for good; up to a sample
 * of unsettled keys is held, and when no one-shot comes first the oldest
 * of them goes, the rest back to the tail. With the queue empty, every
 * key is learned: the clock's sample decides.
 */
static uint32_t choose_victim(struct kw_keytab *t)
{
	uint32_t held[KW_KEYTAB_EVICT_SAMPLE], victim = 0;
	size_t nheld = 0, vi = KW_KEYTAB_EVICT_SAMPLE;
	bool found = false;

	while (t->qlen > 0 && nheld < KW_KEYTAB_EVICT_SAMPLE) {
		uint32_t num = queue_pop(t);
		unsigned ti = tier(hdr_ent(entry(t, num)));

		if (ti == 0) {
			victim = num;
			found = true;
			break;
		}
		if (ti == 1)
			held[nheld++] = num;
	}
	if (!found && nheld == 0)
		return clock_victim(t);
	if (!found) {
		int64_t oldest = INT64_MAX;

		for (size_t i = 0; i < nheld; i++) {
			int64_t seen = hdr_ent(entry(t, held[i]))->last_seen;

			if (vi == KW_KEYTAB_EVICT_SAMPLE || seen < oldest) {
				vi = i;
				oldest = seen;
			}
		}
		victim = held[vi];
	}
	for (size_t i = 0; i < nheld; i++) {
		if (i != vi)
			queue_push(t, held[i]);
	}
	return victim;
}

static void evict(struct kw_keytab *t, uint32_t num)
{
	struct hdr *h = entry(t, num);
	uint32_t home = (uint32_t)h->hash[0];
	uint8_t tag = hash_tag(h->hash[0]);

	if (t->on_evict)
		t->on_evict(t->evict_ctx, hdr_ent(h));
	if (!index_remove(&t->ix[0], home, tag, num) && t->growing)
		index_remove(&t->ix[1], home, tag, num);
	drop_long_id(t, hdr_ent(h));
	t->evicted++;
}

/* ---- lookup and insert -------------------------------------------------- */

static int64_t find(const struct kw_keytab *t, const uint64_t hash[2])
{
	uint8_t tag = hash_tag(hash[0]);
	int64_t num = index_find(t, &t->ix[0], hash, tag);

	if (num < 0 && t->growing)
		num = index_find(t, &t->ix[1], hash, tag);
	return num;
}

/* The memory of the entries is asked for ahead of the entries, this many
 * bytes at a time: within the first HUGE_PAGE POPULATE_SMALL, so that a
 * small table's RSS stays near its size; past it, HUGE_PAGE bytes (one
 * call for 512 small pages). */
#define POPULATE_SMALL ((size_t)64 << 10)

/*
 * Room for entry number count. Its memory is faulted in ahead, a step at a
 * time (MADV_POPULATE_WRITE), rather than by the first write to each page:
 * on this project's VMs a 5M-key table spent 8 to 13 s of system time in
 * those faults and 4 to 6 s populated (bench/README). A kernel without it
 * says EINVAL, and the pages come as before.
 */
static bool reserve_entry(struct kw_keytab *t)
{
	size_t want = (t->count + 1) * t->stride;

	if (!region_commit(&t->ents, &t->committed, want))
		return false;
#ifdef MADV_POPULATE_WRITE
	if (want > t->populated) {
		size_t step =
			t->populated < HUGE_PAGE ? POPULATE_SMALL : HUGE_PAGE;
		size_t to = (want + step - 1) & ~(step - 1);

		if (to > t->committed)
			to = t->committed;
		(void)madvise((unsigned char *)t->ents.p + t->populated,
			      to - t->populated, MADV_POPULATE_WRITE);
		t->populated = to;
	}
#endif
	return true;
}

/* Fill entry num for a new key; fresh: never used before, so still the
 * kernel's zeros (entries are only ever reused by eviction). */
static void entry_init(struct kw_keytab *t, uint32_t num, bool fresh,
		       const char *key, size_t n, const uint64_t hash[2],
		       int64_t ts)
{
	struct hdr *h = entry(t, num);
	struct kw_keyent *e = hdr_ent(h);
	char id[KW_KEY_ID_MAX];

	if (!fresh)
		memset(h, 0, t->stride);
	h->hash[0] = hash[0];
	h->hash[1] = hash[1];
	kw_key_fingerprint(key, n, e->fp);
	kw_key_redact(key, n, id, sizeof(id));
	kw_keytab_set_id(t, e, id); /* no memory: the id's start */
	e->first_seen = ts;
	e->last_seen = ts;
}

/* Insert a key not in the table; its number, or -1 (KW_ENOMEM: nothing
 * changed). */
static int64_t insert(struct kw_keytab *t, const char *key, size_t n,
		      const uint64_t hash[2], int64_t ts)
{
	uint32_t num;
	bool full = t->count >= t->max_keys;

	if (!full && !reserve_entry(t))
		return -1;
	if (!full)
		maybe_grow(t);
	if (!full && t->ix[0].used >= (t->ix[0].mask + 1) * GROUP_SLOTS)
		return -1; /* no free slot: the growth failed */
	if (full) {
		num = choose_victim(t);
		evict(t, num);
	} else {
		num = (uint32_t)t->count++;
	}
	entry_init(t, num, !full, key, n, hash, ts);
	index_put(&t->ix[0], (uint32_t)hash[0], hash_tag(hash[0]), num);
	queue_push(t, num);
	return num;
}

/* The length of id cut to at most cap - 1 bytes, not inside a UTF-8
 * sequence. */
static size_t cut_len(const char *id, size_t cap)
{
	size_t n = strnlen(id, cap);

	if (n < cap)
		return n;
	n = cap - 1;
	while (n > 0 && ((unsigned char)id[n] & 0xc0) == 0x80)
		n--;
	return n;
}

enum kw_status kw_keytab_set_id(struct kw_keytab *t, struct kw_keyent *ent,
				const char *id)
{
	size_t n = cut_len(id, KW_KEY_ID_MAX);
	char *whole;

	drop_long_id(t, ent);
	if (n < sizeof(ent->id)) {
		memcpy(ent->id, id, n);
		ent->id[n] = '\0';
		return KW_OK;
	}
	n = cut_len(id, sizeof(ent->id));
	memcpy(ent->id, id, n);
	ent->id[n] = '\0';
	n = cut_len(id, KW_KEY_ID_MAX);
	whole = malloc(n + 1);
	if (!whole)
		return KW_ENOMEM;
	memcpy(whole, id, n);
	whole[n] = '\0';
	ent->id_long = whole;
	t->long_id_bytes += n + 1;
	return KW_OK;
}

/* kw_keytab_get_hashed, trying m's entry first when m is not NULL (the
 * memo's entry of the key). Inline in its two callers: out of line (GCC
 * split it, and its eight arguments went through the stack) it cost the
 * week about 27 instructions an event (bench/README). */
static inline __attribute__((always_inline)) enum kw_status
get(struct kw_keytab *t, const uint64_t h[2], const char *key, size_t n,
    int64_t ts, struct kw_keyent **ent, bool *created, struct hash_memo *m)
{
	struct kw_keyent *e;
	const struct hdr *at;
	int64_t num = -1;

	*ent = NULL;
	if (created)
		*created = false;
	if (n == 0 || !key)
		return KW_EINVAL;
	if (n > KW_KEY_MAX_LEN)
		return KW_ETOOBIG;
	if (t->growing)
		grow_step(t);
	if (m && m->num < t->count) {
		at = entry(t, m->num);
		if (at->hash[0] == h[0] && at->hash[1] == h[1])
			num = m->num;
	}
	if (num < 0) {
		num = find(t, h);
		if (num < 0) {
			num = insert(t, key, n, h, ts);
			if (num < 0)
				return KW_ENOMEM;
			if (created)
				*created = true;
		}
		if (m)
			m->num = (uint32_t)num;
	}
	e = hdr_ent(entry(t, (uint32_t)num));
	if (ts < e->first_seen)
		e->first_seen = ts;
	if (ts > e->last_seen)
		e->last_seen = ts;
	e->events++;
	*ent = e;
	return KW_OK;
}

static struct hash_memo *hash_of(struct kw_keytab *t, const char *key, size_t n,
				 uint64_t h[2]);

enum kw_status kw_keytab_get_hashed(struct kw_keytab *t, const uint64_t h[2],
				    const char *key, size_t n, int64_t ts,
				    struct kw_keyent **ent, bool *created)
{
	return get(t, h, key, n, ts, ent, created, NULL);
}

enum kw_status kw_keytab_get(struct kw_keytab *t, const char *key, size_t n,
			     int64_t ts, struct kw_keyent **ent, bool *created)
{
	uint64_t h[2] = {0, 0};
	struct hash_memo *m = NULL;

	if (key && n > 0 && n <= KW_KEY_MAX_LEN) /* else get says */
		m = hash_of(t, key, n, h);
	return get(t, h, key, n, ts, ent, created, m);
}

void kw_keytab_prefetch(const struct kw_keytab *t, const uint64_t h[2])
{
	const struct index *ix = &t->ix[0];

	__builtin_prefetch(&ix->g[(uint32_t)h[0] & ix->mask]);
}

void kw_keytab_prefetch_entry(const struct kw_keytab *t, const uint64_t h[2],
			      size_t lines)
{
	const struct index *ix = &t->ix[0];
	const struct group *g = &ix->g[(uint32_t)h[0] & ix->mask];
	unsigned m = match_tag(g, hash_tag(h[0]));

	/* the first slot with the tag: almost always the key (a new key's
	 * entry is not there yet, a key still in the old index is not
	 * asked for) */
	if (m) {
		const char *e = (const char *)entry(t, g->ent[first_slot(m)]);
		const char *state = e + ENTRY_FIXED;

		__builtin_prefetch(e);
		__builtin_prefetch(e + 64);
		for (const char *end = state + 64 * lines; state < end;
		     state += 64)
			__builtin_prefetch(state);
	}
}

/* ---- inspection --------------------------------------------------------- */

/* The memo's entry holding key[0..n), or NULL. */
static struct hash_memo *memo_find(struct kw_keytab *t, const char *key,
				   size_t n, uint64_t tail)
{
	for (unsigned i = 0; i < MEMO_KEYS; i++) {
		struct hash_memo *m = &t->memo[i];

		if (m->n == n && m->tail == tail &&
		    memcmp(m->key, key, n - 8) == 0)
			return m;
	}
	return NULL;
}

/* kw_keytab_hash through the memo; out of line, so that a call without
 * it costs only a test and a jump. The key's memo entry (found or made). */
static __attribute__((noinline)) struct hash_memo *
memo_hash(struct kw_keytab *t, const char *key, size_t n, uint64_t h[2])
{
	struct hash_memo *m;
	uint64_t tail;

	memcpy(&tail, key + n - 8, sizeof(tail));
	m = memo_find(t, key, n, tail);
	if (m) {
		h[0] = m->h[0];
		h[1] = m->h[1];
		t->memo_hits++;
	} else {
		kw_keyhash(&t->hkey, key, n, h);
		m = &t->memo[t->memo_next++ % MEMO_KEYS];
		m->h[0] = h[0];
		m->h[1] = h[1];
		m->tail = tail;
		m->n = n;
		m->num = UINT32_MAX;
		memcpy(m->key, key, n);
	}
	if (++t->memo_seen == MEMO_ROUND) {
		if (t->memo_hits < MEMO_ROUND / 4)
			t->memo_rest = MEMO_REST;
		t->memo_seen = 0;
		t->memo_hits = 0;
	}
	return m;
}

/* kw_keytab_hash; the key's memo entry, or NULL when the memo was not
 * asked. Out of line: bench/callgrind-stages counts it as the keyed
 * hash. */
static __attribute__((noinline)) struct hash_memo *
hash_of(struct kw_keytab *t, const char *key, size_t n, uint64_t h[2])
{
	if (__builtin_expect(t->memo_rest != 0, 0)) {
		t->memo_rest--;
		kw_keyhash(&t->hkey, key, n, h);
		return NULL;
	}
	if (n < MEMO_KEY_MIN || n > MEMO_KEY_MAX) {
		kw_keyhash(&t->hkey, key, n, h);
		return NULL;
	}
	return memo_hash(t, key, n, h);
}

void kw_keytab_hash(struct kw_keytab *t, const char *key, size_t n,
		    uint64_t h[2])
{
	hash_of(t, key, n, h);
}

size_t kw_keytab_count(const struct kw_keytab *t)
{
	return t->count;
}

uint64_t kw_keytab_evicted(const struct kw_keytab *t)
{
	return t->evicted;
}

size_t kw_keytab_bytes(const struct kw_keytab *t)
{
	size_t groups =
		t->ix[0].mask + 1 + (t->growing ? t->ix[1].mask + 1 : 0);

	return t->count * t->stride + groups * sizeof(struct group) +
	       t->long_id_bytes + t->max_keys * sizeof(*t->queue) + sizeof(*t);
}

void kw_keytab_foreach(struct kw_keytab *t, kw_keytab_cb *cb, void *ctx)
{
	for (size_t i = 0; i < t->count; i++)
		cb(ctx, hdr_ent(entry(t, (uint32_t)i)));
}
