/*
 * test_keytab.c - the per-key table: insert and find, the created flag,
 * first/last seen, the state area, least-recently-seen eviction and its
 * callback, idle eviction, counts, ETOOBIG, incremental rehash under many
 * inserts with lookups interleaved (checked against a model), and the seed.
 *
 * Set KW_BENCH=1 to also run the lookup benchmark (10k and 1M keys).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "state/keytab.h"
#include "state/keyhash.h"

static const uint8_t seed_a[16] = {0, 1, 2,  3,	 4,  5,	 6,  7,
				   8, 9, 10, 11, 12, 13, 14, 15};

#define KEY1 "sk_live_4eC39HqLyjWDarjtT1zdp7dc4242"
#define KEY2 "rk_test_0123456789abcdefWXYZ"

static struct kw_keyent *get(struct kw_keytab *t, const char *key, int64_t ts,
			     bool *created)
{
	struct kw_keyent *ent = NULL;

	assert_int_equal(kw_keytab_get(t, key, strlen(key), ts, &ent, created),
			 KW_OK);
	assert_non_null(ent);
	return ent;
}

/* "key-%06zu-...": 32 bytes, distinct per i. */
static void make_key(char *buf, size_t i)
{
	snprintf(buf, 40, "sk_live_%06zuabcdefghij%08zx", i, i * 7919);
}

/* ---- create / destroy ---------------------------------------------------- */

static void test_create_invalid(void **state)
{
	struct kw_keytab *t = (struct kw_keytab *)&t;

	(void)state;
	assert_int_equal(kw_keytab_create(0, 0, &t), KW_EINVAL);
	assert_null(t);
	assert_int_equal(kw_keytab_create(10, KW_KEYTAB_STATE_MAX + 1, &t),
			 KW_EINVAL);
	assert_null(t);
	assert_int_equal(kw_keytab_create(10, KW_KEYTAB_STATE_MAX, &t), KW_OK);
	kw_keytab_destroy(t);
	kw_keytab_destroy(NULL);
}

/* ---- get ------------------------------------------------------------------
 */

static void test_get_basic(void **state)
{
	struct kw_keytab *t = NULL;
	struct kw_keyent *a, *b, *c;
	bool created = false;
	char copy[64];

	(void)state;
	assert_int_equal(kw_keytab_create_seeded(100, 24, seed_a, &t), KW_OK);
	a = get(t, KEY1, 1000, &created);
	assert_true(created);
	assert_string_equal(a->fp, "cbb6d1a5efe199ac");
	assert_string_equal(a->id, "sk_live_\xe2\x80\xa6"
				   "4242");
	assert_int_equal(a->kind, 0);
	assert_int_equal(a->mode, 0);
	assert_null(a->conf);
	assert_int_equal(a->flags, 0);
	assert_int_equal(a->events, 1);
	assert_int_equal(a->first_seen, 1000);
	assert_int_equal(a->last_seen, 1000);
	assert_int_equal(kw_keytab_count(t), 1);

	/* The same bytes from another buffer find the same entry. */
	strcpy(copy, KEY1);
	b = get(t, copy, 500, &created);
	assert_false(created);
	assert_ptr_equal(a, b);
	assert_int_equal(b->events, 2);
	assert_int_equal(b->first_seen, 500);
	assert_int_equal(b->last_seen, 1000);
	b = get(t, copy, 2000, NULL); /* created may be NULL */
	assert_int_equal(b->events, 3);
	assert_int_equal(b->first_seen, 500);
	assert_int_equal(b->last_seen, 2000);
	memset(copy, 0, sizeof(copy)); /* the table kept its own copy */
	assert_ptr_equal(get(t, KEY1, 1500, NULL), a);
	assert_int_equal(a->last_seen, 2000);

	/* Prefixes and near misses are other keys. */
	c = get(t, "sk_live_4eC39HqLyjWDarjtT1zdp7dc424", 1, &created);
	assert_true(created);
	assert_ptr_not_equal(c, a);
	c = get(t, "sk_live_4eC39HqLyjWDarjtT1zdp7dc4243", 1, &created);
	assert_true(created);
	assert_int_equal(kw_keytab_count(t), 3);
	assert_int_equal(kw_keytab_evicted(t), 0);
	kw_keytab_destroy(t);
}

static void test_state_area(void **state)
{
	struct kw_keytab *t = NULL;
	struct kw_keyent *a, *b;
	unsigned char *s;

	(void)state;
	assert_int_equal(kw_keytab_create_seeded(100, 24, seed_a, &t), KW_OK);
	a = get(t, KEY1, 1, NULL);
	b = get(t, KEY2, 1, NULL);
	s = kw_keytab_state(a);
	assert_int_equal((uintptr_t)s % 16, 0);
	assert_int_equal((uintptr_t)kw_keytab_state(b) % 16, 0);
	for (int i = 0; i < 24; i++)
		assert_int_equal(s[i], 0);
	memset(s, 0xab, 24);
	/* Writing the whole state area of a leaves b's alone. */
	for (int i = 0; i < 24; i++)
		assert_int_equal(((unsigned char *)kw_keytab_state(b))[i], 0);
	assert_ptr_equal(kw_keytab_state(get(t, KEY1, 2, NULL)), s);
	assert_int_equal(s[23], 0xab);
	assert_string_equal(a->fp, "cbb6d1a5efe199ac"); /* not overwritten */
	kw_keytab_destroy(t);
}

static void test_errors(void **state)
{
	struct kw_keytab *t = NULL;
	struct kw_keyent *ent = (struct kw_keyent *)&ent;
	bool created = true;
	char big[KW_KEY_MAX_LEN + 1];

	(void)state;
	memset(big, 'x', sizeof(big));
	assert_int_equal(kw_keytab_create_seeded(4, 0, seed_a, &t), KW_OK);
	assert_int_equal(kw_keytab_get(t, big, sizeof(big), 1, &ent, &created),
			 KW_ETOOBIG);
	assert_null(ent);
	assert_false(created);
	assert_int_equal(kw_keytab_get(t, "", 0, 1, &ent, &created), KW_EINVAL);
	assert_null(ent);
	assert_int_equal(kw_keytab_count(t), 0);
	/* Exactly the limit is accepted. */
	assert_int_equal(
		kw_keytab_get(t, big, KW_KEY_MAX_LEN, 1, &ent, &created),
		KW_OK);
	assert_true(created);
	assert_string_equal(ent->id, "\xe2\x80\xa6xxxx");
	assert_int_equal(kw_keytab_count(t), 1);
	kw_keytab_destroy(t);
}

/* ---- eviction ---------------------------------------------------------------
 */

struct evict_log {
	char ids[16][KW_KEY_ID_MAX];
	unsigned char state0[16];
	uint64_t events[16];
	size_t n;
};

static void on_evict(void *ctx, struct kw_keyent *ent)
{
	struct evict_log *log = ctx;

	assert_true(log->n < 16);
	strcpy(log->ids[log->n], ent->id);
	log->state0[log->n] = *(unsigned char *)kw_keytab_state(ent);
	log->events[log->n] = ent->events;
	log->n++;
}

static void test_evict_lru(void **state)
{
	struct kw_keytab *t = NULL;
	struct evict_log log = {.n = 0};
	bool created;

	(void)state;
	assert_int_equal(kw_keytab_create_seeded(3, 8, seed_a, &t), KW_OK);
	kw_keytab_on_evict(t, on_evict, &log);
	*(unsigned char *)kw_keytab_state(
		get(t, "ghp_aaaaaaaaaaaaaaaaaaaa", 1, NULL)) = 'a';
	*(unsigned char *)kw_keytab_state(
		get(t, "ghp_bbbbbbbbbbbbbbbbbbbb", 2, NULL)) = 'b';
	*(unsigned char *)kw_keytab_state(
		get(t, "ghp_cccccccccccccccccccc", 3, NULL)) = 'c';
	get(t, "ghp_aaaaaaaaaaaaaaaaaaaa", 4, NULL); /* a is now newest */
	assert_int_equal(log.n, 0);

	/* Full: d evicts b, the least recently seen. */
	get(t, "ghp_dddddddddddddddddddd", 5, &created);
	assert_true(created);
	assert_int_equal(log.n, 1);
	assert_string_equal(log.ids[0], "ghp_\xe2\x80\xa6"
					"bbbb");
	assert_int_equal(log.state0[0], 'b');
	assert_int_equal(log.events[0], 1);
	assert_int_equal(kw_keytab_count(t), 3);
	assert_int_equal(kw_keytab_evicted(t), 1);

	/* b comes back as a new key (state zeroed) and evicts c. */
	assert_int_equal(*(unsigned char *)kw_keytab_state(get(
				 t, "ghp_bbbbbbbbbbbbbbbbbbbb", 6, &created)),
			 0);
	assert_true(created);
	assert_int_equal(log.n, 2);
	assert_string_equal(log.ids[1], "ghp_\xe2\x80\xa6"
					"cccc");
	/* Then a (seen at 4), then d. */
	get(t, "ghp_eeeeeeeeeeeeeeeeeeee", 7, NULL);
	get(t, "ghp_ffffffffffffffffffff", 8, NULL);
	assert_int_equal(log.n, 4);
	assert_string_equal(log.ids[2], "ghp_\xe2\x80\xa6"
					"aaaa");
	assert_int_equal(log.events[2], 2);
	assert_string_equal(log.ids[3], "ghp_\xe2\x80\xa6"
					"dddd");
	assert_int_equal(kw_keytab_evicted(t), 4);
	assert_int_equal(kw_keytab_count(t), 3);

	/* Without a callback eviction still happens and is counted. */
	kw_keytab_on_evict(t, NULL, NULL);
	get(t, "ghp_gggggggggggggggggggg", 9, NULL);
	assert_int_equal(log.n, 4);
	assert_int_equal(kw_keytab_evicted(t), 5);
	/* destroy does not call the callback. */
	kw_keytab_on_evict(t, on_evict, &log);
	kw_keytab_destroy(t);
	assert_int_equal(log.n, 4);
}

static void test_evict_idle(void **state)
{
	struct kw_keytab *t = NULL;
	struct evict_log log = {.n = 0};

	(void)state;
	assert_int_equal(kw_keytab_create_seeded(10, 8, seed_a, &t), KW_OK);
	kw_keytab_on_evict(t, on_evict, &log);
	get(t, "ghp_aaaaaaaaaaaaaaaaaaaa", 10, NULL);
	get(t, "ghp_bbbbbbbbbbbbbbbbbbbb", 20, NULL);
	get(t, "ghp_cccccccccccccccccccc", 30, NULL);
	get(t, "ghp_aaaaaaaaaaaaaaaaaaaa", 40, NULL);
	assert_int_equal(kw_keytab_evict_idle(t, 20), 0);
	assert_int_equal(kw_keytab_evict_idle(t, 31), 2);
	assert_int_equal(log.n, 2);
	assert_string_equal(log.ids[0], "ghp_\xe2\x80\xa6"
					"bbbb");
	assert_string_equal(log.ids[1], "ghp_\xe2\x80\xa6"
					"cccc");
	assert_int_equal(kw_keytab_count(t), 1);
	assert_int_equal(kw_keytab_evicted(t), 0);
	assert_int_equal(kw_keytab_evict_idle(t, 1000), 1);
	assert_int_equal(kw_keytab_count(t), 0);
	assert_int_equal(kw_keytab_evict_idle(t, 1000), 0);
	get(t, "ghp_aaaaaaaaaaaaaaaaaaaa", 50, NULL);
	assert_int_equal(kw_keytab_count(t), 1);
	kw_keytab_destroy(t);
}

/* ---- foreach
 * ------------------------------------------------------------------ */

static void count_cb(void *ctx, struct kw_keyent *ent)
{
	uint64_t *sum = ctx;

	sum[0]++;
	sum[1] += ent->events;
	ent->flags = 7;
}

static void test_foreach(void **state)
{
	struct kw_keytab *t = NULL;
	uint64_t sum[2] = {0, 0};
	char key[40];

	(void)state;
	assert_int_equal(kw_keytab_create_seeded(1000, 0, seed_a, &t), KW_OK);
	kw_keytab_foreach(t, count_cb, sum);
	assert_int_equal(sum[0], 0);
	for (size_t i = 0; i < 500; i++) {
		make_key(key, i % 300);
		get(t, key, (int64_t)i, NULL);
	}
	kw_keytab_foreach(t, count_cb, sum);
	assert_int_equal(sum[0], 300);
	assert_int_equal(sum[1], 500);
	assert_int_equal(kw_keytab_count(t), 300);
	make_key(key, 5);
	assert_int_equal(get(t, key, 0, NULL)->flags, 7);
	kw_keytab_destroy(t);
}

/* ---- incremental rehash, checked against a model
 * ------------------------------ */

/*
 * Many inserts with lookups of random earlier keys in between, so that
 * lookups hit both bucket arrays while a rehash is in progress, and (with
 * max_keys below the number of keys) evictions happen during rehashes too.
 * The model remembers, per key, its events and when it was last used; the
 * table must agree exactly, and must hold exactly the max_keys most recently
 * used keys.
 */
struct model {
	uint64_t *events;
	uint64_t *last_use;
	bool *present;
	size_t nkeys;
	size_t max_keys;
};

static void mark_present(void *ctx, struct kw_keyent *ent)
{
	struct model *m = ctx;

	assert_true(ent->flags < m->nkeys);
	assert_false(m->present[ent->flags]);
	m->present[ent->flags] = true;
	assert_int_equal(ent->events, m->events[ent->flags]);
}

static void model_evict(void *ctx, struct kw_keyent *ent)
{
	struct model *m = ctx;

	m->events[ent->flags] = 0;
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

static void run_model(size_t nkeys, size_t max_keys, size_t state_size)
{
	struct model m = {.nkeys = nkeys, .max_keys = max_keys};
	struct kw_keytab *t = NULL;
	uint64_t rng = 88172645463325252u;
	uint64_t clock = 0;
	size_t inserted = 0, creations = 0;
	char key[40];

	m.events = calloc(nkeys, sizeof(*m.events));
	m.last_use = calloc(nkeys, sizeof(*m.last_use));
	m.present = calloc(nkeys, sizeof(*m.present));
	assert_non_null(m.events);
	assert_non_null(m.last_use);
	assert_non_null(m.present);
	assert_int_equal(
		kw_keytab_create_seeded(max_keys, state_size, seed_a, &t),
		KW_OK);
	kw_keytab_on_evict(t, model_evict, &m);
	while (inserted < nkeys) {
		size_t i;
		bool created, fresh;
		struct kw_keyent *ent;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		/* Two of three operations look up an earlier key. */
		if (inserted > 0 && rng % 3 != 0)
			i = (size_t)(rng >> 8) % inserted;
		else
			i = inserted++;
		fresh = m.events[i] == 0;
		make_key(key, i);
		ent = get(t, key, (int64_t)clock, &created);
		assert_int_equal(created, fresh);
		if (created) {
			ent->flags = (uint32_t)i;
			creations++;
		}
		assert_int_equal(ent->flags, i);
		m.events[i]++;
		m.last_use[i] = ++clock;
		assert_int_equal(ent->events, m.events[i]);
		assert_true(kw_keytab_count(t) <= max_keys);
	}
	/*
	 * The table holds exactly the max_keys most recently used keys: those
	 * whose last use is at or above the max_keys-th largest last use.
	 */
	kw_keytab_foreach(t, mark_present, &m);
	{
		uint64_t *uses = calloc(nkeys, sizeof(*uses));
		size_t nused = 0, present = 0;
		uint64_t threshold;

		assert_non_null(uses);
		for (size_t i = 0; i < nkeys; i++) {
			if (m.last_use[i] > 0)
				uses[nused++] = m.last_use[i];
		}
		qsort(uses, nused, sizeof(*uses), cmp_desc);
		threshold = uses[(nused < max_keys ? nused : max_keys) - 1];
		for (size_t i = 0; i < nkeys; i++) {
			bool want = m.last_use[i] >= threshold;

			assert_int_equal(m.present[i], want);
			present += want;
		}
		assert_int_equal(kw_keytab_count(t), present);
		assert_int_equal(present, nused < max_keys ? nused : max_keys);
		assert_int_equal(kw_keytab_evicted(t), creations - present);
		free(uses);
	}
	/* Every key the model holds is found again, not created. */
	for (size_t i = 0; i < nkeys; i++) {
		bool created;

		if (!m.present[i])
			continue;
		make_key(key, i);
		assert_int_equal(get(t, key, 0, &created)->flags, i);
		assert_false(created);
	}
	kw_keytab_destroy(t);
	free(m.events);
	free(m.last_use);
	free(m.present);
}

static void test_rehash_no_eviction(void **state)
{
	(void)state;
	run_model(100000, 200000, 16);
}

static void test_rehash_with_eviction(void **state)
{
	(void)state;
	run_model(50000, 3000, 40);
}

/* 1030 keys: the table grows from 1024 to 2048 buckets when it holds 1024
 * keys, and starts evicting at 1030, while that rehash is still running. */
static void test_evict_during_rehash(void **state)
{
	(void)state;
	run_model(20000, 1030, 8);
}

/* The evicted keys are exactly the least recently used: with max 1000 and
 * 5000 keys used once each in order, the last 1000 remain. */
static void test_evict_exact_set(void **state)
{
	struct kw_keytab *t = NULL;
	char key[40];
	bool created;

	(void)state;
	assert_int_equal(kw_keytab_create_seeded(1000, 0, seed_a, &t), KW_OK);
	for (size_t i = 0; i < 5000; i++) {
		make_key(key, i);
		get(t, key, (int64_t)i, NULL);
	}
	assert_int_equal(kw_keytab_evicted(t), 4000);
	for (size_t i = 4000; i < 5000; i++) {
		make_key(key, i);
		get(t, key, 0, &created);
		assert_false(created);
	}
	assert_int_equal(kw_keytab_evicted(t), 4000);
	make_key(key, 3999);
	get(t, key, 0, &created);
	assert_true(created);
	kw_keytab_destroy(t);
}

/* ---- seed
 * ----------------------------------------------------------------------- */

static void test_seed(void **state)
{
	struct kw_keytab *a = NULL, *b = NULL, *r1 = NULL, *r2 = NULL;
	struct kw_keyhash_key hk;
	uint8_t seed_b[16];

	(void)state;
	memcpy(seed_b, seed_a, 16);
	seed_b[15] ^= 0x80;
	assert_int_equal(kw_keytab_create_seeded(10, 0, seed_a, &a), KW_OK);
	assert_int_equal(kw_keytab_create_seeded(10, 0, seed_b, &b), KW_OK);
	assert_int_equal(kw_keytab_create(10, 0, &r1), KW_OK);
	assert_int_equal(kw_keytab_create(10, 0, &r2), KW_OK);
	/* Seeded: exactly the keyed hash with material from that seed. */
	kw_keyhash_init(&hk, seed_a);
	assert_int_equal(kw_keytab_hash(a, KEY1, strlen(KEY1)),
			 kw_keyhash(&hk, KEY1, strlen(KEY1)));
	assert_int_equal(kw_keytab_hash(a, "", 0), kw_keyhash(&hk, "", 0));
	assert_int_not_equal(kw_keytab_hash(a, KEY1, strlen(KEY1)),
			     kw_keytab_hash(b, KEY1, strlen(KEY1)));
	/* Random: two tables get different seeds. */
	assert_int_not_equal(kw_keytab_hash(r1, KEY1, strlen(KEY1)),
			     kw_keytab_hash(r2, KEY1, strlen(KEY1)));
	assert_int_not_equal(kw_keytab_hash(r1, KEY1, strlen(KEY1)),
			     kw_keytab_hash(a, KEY1, strlen(KEY1)));
	/* The seed changes nothing visible: same fingerprint and id. */
	assert_string_equal(get(a, KEY1, 1, NULL)->fp,
			    get(r1, KEY1, 1, NULL)->fp);
	assert_string_equal(get(a, KEY1, 1, NULL)->id,
			    get(r1, KEY1, 1, NULL)->id);
	kw_keytab_destroy(a);
	kw_keytab_destroy(b);
	kw_keytab_destroy(r1);
	kw_keytab_destroy(r2);
}

/* ---- memory
 * --------------------------------------------------------------------- */

static void test_memory(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct kw_keyent), 128);
	/* 32-byte private header + 128-byte public struct + key, to 16. */
	assert_int_equal(kw_keytab_entry_overhead(0), 160);
	assert_int_equal(kw_keytab_entry_overhead(32), 192);
	assert_int_equal(kw_keytab_entry_overhead(107), 272);
}

/* ---- benchmark (KW_BENCH=1)
 * ----------------------------------------------------- */

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void bench(size_t nkeys)
{
	struct kw_keytab *t = NULL;
	char *keys = malloc(nkeys * 40);
	size_t *order = malloc(nkeys * sizeof(*order));
	size_t lookups = nkeys < 2000000 ? 4000000 : nkeys;
	uint64_t rng = 0x1234567;
	double t0, t1, t2, t3, t4;
	uint64_t sink = 0;

	assert_non_null(keys);
	assert_non_null(order);
	for (size_t i = 0; i < nkeys; i++) {
		make_key(keys + i * 40, i);
		order[i] = i;
	}
	for (size_t i = nkeys - 1; i > 0; i--) {
		size_t j, tmp;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		j = (size_t)(rng % (i + 1));
		tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
	assert_int_equal(kw_keytab_create_seeded(nkeys, 64, seed_a, &t), KW_OK);
	t0 = now_ns();
	for (size_t i = 0; i < nkeys; i++)
		get(t, keys + i * 40, (int64_t)i, NULL);
	t1 = now_ns();
	for (size_t k = 0; k < lookups; k++) {
		struct kw_keyent *ent = NULL;
		const char *key = keys + order[k % nkeys] * 40;

		kw_keytab_get(t, key, 32, (int64_t)k, &ent, NULL);
		sink += ent->events;
	}
	t2 = now_ns();
	/* A hot set of 64 keys: the CPU cost of the path, data in cache. */
	for (size_t k = 0; k < lookups; k++) {
		struct kw_keyent *ent = NULL;
		const char *key = keys + order[k % 64] * 40;

		kw_keytab_get(t, key, 32, (int64_t)k, &ent, NULL);
		sink += ent->events;
	}
	t3 = now_ns();
	/* Baseline: read the caller's key and hash it, nothing else. */
	for (size_t k = 0; k < lookups; k++)
		sink += kw_keytab_hash(t, keys + order[k % nkeys] * 40, 32);
	t4 = now_ns();
	print_message(
		"%zu keys: insert %.0f ns/key; lookup of existing keys: "
		"%.1f ns (random order over all; of which %.1f ns is "
		"reading the caller's key and hashing it), %.1f ns (64 hot "
		"keys) [%llu]\n",
		nkeys, (t1 - t0) / (double)nkeys, (t2 - t1) / (double)lookups,
		(t4 - t3) / (double)lookups, (t3 - t2) / (double)lookups,
		(unsigned long long)sink % 2);
	kw_keytab_destroy(t);
	free(keys);
	free(order);
}

static void test_bench(void **state)
{
	(void)state;
	if (!getenv("KW_BENCH"))
		skip();
	bench(10000);
	bench(1000000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_invalid),
		cmocka_unit_test(test_get_basic),
		cmocka_unit_test(test_state_area),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_evict_lru),
		cmocka_unit_test(test_evict_idle),
		cmocka_unit_test(test_foreach),
		cmocka_unit_test(test_rehash_no_eviction),
		cmocka_unit_test(test_rehash_with_eviction),
		cmocka_unit_test(test_evict_during_rehash),
		cmocka_unit_test(test_evict_exact_set),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_bench),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
