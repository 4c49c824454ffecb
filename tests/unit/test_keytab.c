/*
 * test_keytab.c - the per-key table: insert and find, the created flag,
 * first/last seen, the state area, long keys (no key bytes are kept:
 * keys are told apart by their 128-bit keyed hash), ids longer than an
 * entry holds,
 * eviction by worth (tiers, then recency) and its callback, a flood of
 * one-shot keys through a full table (issue 9), eviction and foreach order
 * independent of the seed, counts, ETOOBIG, incremental growth under many
 * inserts with lookups and evictions interleaved (checked against a model
 * that follows the callbacks; every new key's entry zero, be it fresh memory
 * or an evicted key's), the seed, and the keyed hash against its
 * definition written out plainly.
 *
 * Tests number their keys in kw_keyent.relearn, an engine-owned field the
 * table zeroes on insert and never reads.
 *
 * Set KW_BENCH=1 to also run the lookup benchmark (10k and 1M keys; CPU
 * time of this thread).
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
#include "test_rng.h"

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
	assert_int_equal(a->relearn, 0);
	assert_int_equal(a->relearn_since, 0);
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

/* ---- long keys ---------------------------------------------------------- */

/* Keys of any length up to the limit are found again exactly and told
 * apart from their near misses (one byte different at either end), and
 * cost no memory of their own: the entry keeps their hash only. */
static void test_long_keys(void **state)
{
	struct kw_keytab *t = NULL;
	char a[KW_KEY_MAX_LEN], b[KW_KEY_MAX_LEN], c[KW_KEY_MAX_LEN];
	struct kw_keyent *ea, *eb;
	bool created;
	size_t bytes;

	(void)state;
	memset(a, 'a', sizeof(a));
	memcpy(a, "sk_live_", 8);
	memcpy(b, a, sizeof(b));
	b[sizeof(b) - 1] = 'b';
	memcpy(c, a, sizeof(c));
	c[0] = 'r';
	assert_int_equal(kw_keytab_create_seeded(3, 16, seed_a, &t), KW_OK);
	bytes = kw_keytab_bytes(t);
	assert_int_equal(kw_keytab_get(t, a, 113, 1, &ea, &created), KW_OK);
	assert_true(created);
	assert_int_equal(kw_keytab_get(t, a, sizeof(a), 1, &eb, &created),
			 KW_OK);
	assert_true(created);
	assert_ptr_not_equal(ea, eb);
	assert_int_equal(kw_keytab_get(t, a, 113, 2, &eb, &created), KW_OK);
	assert_false(created);
	assert_ptr_equal(ea, eb);
	/* two entries, nothing else */
	assert_int_equal(kw_keytab_bytes(t) - bytes,
			 2 * (kw_keytab_entry_overhead() + 16));
	assert_int_equal(kw_keytab_get(t, c, sizeof(c), 3, &eb, &created),
			 KW_OK);
	assert_true(created);
	/* b differs from a in its last byte only: a new key, which evicts
	 * the 512-byte a (the oldest one-shot; a's 113-byte twin was seen
	 * twice). */
	assert_int_equal(kw_keytab_get(t, b, sizeof(b), 4, &eb, &created),
			 KW_OK);
	assert_true(created);
	assert_int_equal(kw_keytab_evicted(t), 1);
	assert_int_equal(kw_keytab_get(t, a, 113, 5, &eb, &created), KW_OK);
	assert_false(created);
	assert_int_equal(eb->events, 3);
	assert_int_equal(kw_keytab_get(t, b, sizeof(b), 6, &eb, &created),
			 KW_OK);
	assert_false(created);
	assert_int_equal(kw_keytab_get(t, c, sizeof(c), 7, &eb, &created),
			 KW_OK);
	assert_false(created);
	kw_keytab_destroy(t);
}

/* An id longer than the entry holds (a key that came redacted, a
 * principal's label) is kept whole apart: kw_keyent_id shows all of it,
 * the entry's own copy is its start cut outside a UTF-8 sequence, and its
 * allocation is counted and freed when the key is evicted, its id set
 * again, or the table destroyed (the ASan build checks the frees). */
static void test_long_ids(void **state)
{
	struct kw_keytab *t = NULL;
	struct kw_keyent *e, *f;
	char masked[48], label[KW_KEY_ID_MAX + 10];
	size_t bytes;

	(void)state;
	memset(masked, '*', sizeof(masked));
	memcpy(masked, "AKIA", 4);
	memcpy(masked + 40, "WXYZ", 4);
	masked[44] = '\0';
	assert_int_equal(kw_keytab_create_seeded(1, 0, seed_a, &t), KW_OK);
	bytes = kw_keytab_bytes(t);
	e = get(t, masked, 1, NULL);
	assert_string_equal(kw_keyent_id(e), masked); /* shown as it came */
	assert_non_null(e->id_long);
	assert_int_equal(strlen(e->id), KW_KEYENT_ID_INLINE - 1);
	assert_memory_equal(e->id, masked, KW_KEYENT_ID_INLINE - 1);
	assert_int_equal(kw_keytab_bytes(t) - bytes,
			 kw_keytab_entry_overhead() + 45);
	/* a principal's label: 34 bytes and an ellipsis, then more */
	memset(label, 'r', sizeof(label));
	memcpy(label + 34, "\xe2\x80\xa6", 3);
	label[sizeof(label) - 1] = '\0';
	assert_int_equal(kw_keytab_set_id(t, e, label), KW_OK);
	assert_int_equal(strlen(kw_keyent_id(e)), KW_KEY_ID_MAX - 1);
	assert_memory_equal(kw_keyent_id(e), label, KW_KEY_ID_MAX - 1);
	assert_int_equal(strlen(e->id), 34); /* not inside the ellipsis */
	assert_int_equal(kw_keytab_bytes(t) - bytes,
			 kw_keytab_entry_overhead() + KW_KEY_ID_MAX);
	/* a short one again: no allocation */
	assert_int_equal(kw_keytab_set_id(t, e, "111122223333:role/ci"), KW_OK);
	assert_null(e->id_long);
	assert_string_equal(kw_keyent_id(e), "111122223333:role/ci");
	assert_int_equal(kw_keytab_bytes(t) - bytes,
			 kw_keytab_entry_overhead());
	/* evicted with its long id: freed */
	assert_int_equal(kw_keytab_set_id(t, e, masked), KW_OK);
	f = get(t, KEY1, 2, NULL);
	assert_int_equal(kw_keytab_evicted(t), 1);
	assert_ptr_equal(e, f); /* the same number, reused */
	assert_null(f->id_long);
	assert_string_equal(kw_keyent_id(f), "sk_live_\xe2\x80\xa6"
					     "4242");
	assert_int_equal(kw_keytab_bytes(t) - bytes,
			 kw_keytab_entry_overhead());
	assert_int_equal(kw_keytab_set_id(t, f, masked), KW_OK);
	kw_keytab_destroy(t); /* frees it */
}

/* ---- eviction ---------------------------------------------------------------
 */

struct evict_log {
	char ids[64][KW_KEY_ID_MAX];
	unsigned char state0[64];
	uint64_t events[64];
	size_t n;
};

static void on_evict(void *ctx, struct kw_keyent *ent)
{
	struct evict_log *log = ctx;

	assert_true(log->n < 64);
	strcpy(log->ids[log->n], kw_keyent_id(ent));
	log->state0[log->n] = *(unsigned char *)kw_keytab_state(ent);
	log->events[log->n] = ent->events;
	log->n++;
}

#define MIN_US (INT64_C(60) * 1000000)
#define HOUR_US (INT64_C(3600) * 1000000)

/* A table of 3 keys looks at every key to choose: the one worth least
 * goes, by tier, then by the oldest last_seen. */
static void test_evict_by_worth(void **state)
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
	get(t, "ghp_aaaaaaaaaaaaaaaaaaaa", 4, NULL); /* a: two events */
	assert_int_equal(log.n, 0);

	/* Full: d evicts b, the oldest of the one-shots b and c. */
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
	/* Then d and b, the one-shots, although a was seen longer ago. */
	get(t, "ghp_eeeeeeeeeeeeeeeeeeee", 7, NULL);
	get(t, "ghp_ffffffffffffffffffff", 8, NULL);
	assert_int_equal(log.n, 4);
	assert_string_equal(log.ids[2], "ghp_\xe2\x80\xa6"
					"dddd");
	assert_string_equal(log.ids[3], "ghp_\xe2\x80\xa6"
					"bbbb");
	/* Now a (two events) and the one-shots e and f: a is last. */
	get(t, "ghp_gggggggggggggggggggg", 9, NULL);
	get(t, "ghp_hhhhhhhhhhhhhhhhhhhh", 10, NULL);
	assert_int_equal(log.n, 6);
	assert_string_equal(log.ids[4], "ghp_\xe2\x80\xa6"
					"eeee");
	assert_string_equal(log.ids[5], "ghp_\xe2\x80\xa6"
					"ffff");
	get(t, "ghp_iiiiiiiiiiiiiiiiiiii", 11, NULL);
	assert_int_equal(log.n, 7);
	assert_string_equal(log.ids[6], "ghp_\xe2\x80\xa6"
					"gggg");
	/* g and h are one-shots, but once h has a second event and a an
	 * hour of history, the one-shot i goes first, then h, then a. */
	get(t, "ghp_hhhhhhhhhhhhhhhhhhhh", 12, NULL);
	get(t, "ghp_aaaaaaaaaaaaaaaaaaaa", 1 + HOUR_US, NULL);
	get(t, "ghp_jjjjjjjjjjjjjjjjjjjj", 2 + HOUR_US, NULL);
	assert_string_equal(log.ids[7], "ghp_\xe2\x80\xa6"
					"iiii");
	get(t, "ghp_kkkkkkkkkkkkkkkkkkkk", 3 + HOUR_US, NULL);
	assert_string_equal(log.ids[8], "ghp_\xe2\x80\xa6"
					"jjjj");
	get(t, "ghp_kkkkkkkkkkkkkkkkkkkk", 4 + HOUR_US, NULL);
	get(t, "ghp_llllllllllllllllllll", 5 + HOUR_US, NULL);
	assert_string_equal(log.ids[9], "ghp_\xe2\x80\xa6"
					"hhhh");
	assert_int_equal(log.n, 10);
	assert_int_equal(kw_keytab_evicted(t), 10);
	assert_int_equal(kw_keytab_count(t), 3);

	/* Without a callback eviction still happens and is counted. */
	kw_keytab_on_evict(t, NULL, NULL);
	get(t, "ghp_mmmmmmmmmmmmmmmmmmmm", 6 + HOUR_US, NULL);
	assert_int_equal(log.n, 10);
	assert_int_equal(kw_keytab_evicted(t), 11);
	/* destroy does not call the callback. */
	kw_keytab_on_evict(t, on_evict, &log);
	kw_keytab_destroy(t);
	assert_int_equal(log.n, 10);
}

/* The tiers: a key with conf set outlives one with history, which
 * outlives a busy one-hour key... each by tier, whatever their recency. */
static void test_evict_tiers(void **state)
{
	struct kw_keytab *t = NULL;
	struct evict_log log = {.n = 0};
	struct kw_keyent *conf, *old, *busy;
	static const int marker = 1;

	(void)state;
	assert_int_equal(kw_keytab_create_seeded(4, 8, seed_a, &t), KW_OK);
	kw_keytab_on_evict(t, on_evict, &log);
	conf = get(t, "ghp_confconfconfconfconf", 0, NULL);
	conf->conf = &marker;
	/* Learned by time: an hour between its first and last event. */
	old = get(t, "ghp_oldoldoldoldoldoldol", 0, NULL);
	get(t, "ghp_oldoldoldoldoldoldol", HOUR_US, NULL);
	/* Learned by count: KW_KEYTAB_BUSY events within a minute. */
	for (int i = 0; i < KW_KEYTAB_BUSY; i++)
		busy = get(t, "ghp_busybusybusybusybusy", 10 * MIN_US + i,
			   NULL);
	/* Unsettled: two events a minute apart, the most recent of all. */
	get(t, "ghp_twotwotwotwotwotwotw", 20 * MIN_US, NULL);
	get(t, "ghp_twotwotwotwotwotwotw", 21 * MIN_US, NULL);
	assert_int_equal(kw_keytab_count(t), 4);
	/* Each one-shot evicts the last one-shot, then the unsettled key. */
	get(t, "ghp_one1one1one1one1one1", 22 * MIN_US, NULL);
	assert_string_equal(log.ids[0], "ghp_\xe2\x80\xa6"
					"wotw");
	get(t, "ghp_one2one2one2one2one2", 23 * MIN_US, NULL);
	assert_string_equal(log.ids[1], "ghp_\xe2\x80\xa6"
					"one1");
	/* With no one-shot or unsettled key left, the older learned key. */
	conf->conf = &marker;
	get(t, "ghp_twotwotwotwotwotwotw", 24 * MIN_US, NULL);
	assert_string_equal(log.ids[2], "ghp_\xe2\x80\xa6"
					"one2");
	get(t, "ghp_twotwotwotwotwotwotw", 25 * MIN_US, NULL);
	busy->last_seen = 26 * MIN_US;
	get(t, "ghp_one3one3one3one3one3", 27 * MIN_US, NULL);
	assert_string_equal(log.ids[3], "ghp_\xe2\x80\xa6"
					"wotw");
	get(t, "ghp_one3one3one3one3one3", 28 * MIN_US, NULL);
	get(t, "ghp_one3one3one3one3one3", 2 * HOUR_US, NULL);
	old->last_seen = 3 * HOUR_US; /* newer than busy now */
	get(t, "ghp_one4one4one4one4one4", 3 * HOUR_US, NULL);
	assert_string_equal(log.ids[4], "ghp_\xe2\x80\xa6"
					"busy");
	assert_int_equal(log.n, 5);
	/* The configured key stays through all of it. */
	assert_ptr_equal(get(t, "ghp_confconfconfconfconf", 0, NULL), conf);
	kw_keytab_destroy(t);
}

/*
 * issue 9: a table at its bound holds real keys with learned state, and a
 * flood of ten times max_keys made-up keys goes through it, each used once
 * (or twice within a second: unsettled, still below learned). The real
 * keys keep their entries and their state; every eviction is of a flood
 * key or of a one-shot that filled the table.
 */
struct flood_ctx {
	struct kw_keyent *real[50];
	size_t evicted;
};

static void flood_evict(void *ctx, struct kw_keyent *ent)
{
	struct flood_ctx *f = ctx;

	for (size_t i = 0; i < 50; i++)
		assert_ptr_not_equal(ent, f->real[i]);
	assert_true(ent->events <= 2);
	f->evicted++;
}

static void run_flood(int uses)
{
	enum { MAX = 1000, REAL = 50 };
	struct kw_keytab *t = NULL;
	struct flood_ctx fc = {.evicted = 0};
	char key[40];
	int64_t ts = 0;

	assert_int_equal(kw_keytab_create_seeded(MAX, 64, seed_a, &t), KW_OK);
	kw_keytab_on_evict(t, flood_evict, &fc);
	/* REAL keys first, their state marked; then the table fills with
	 * one-shots; a day later the real keys are used again. */
	for (size_t i = 0; i < REAL; i++) {
		make_key(key, 1000000 + i);
		fc.real[i] = get(t, key, ts, NULL);
		memset(kw_keytab_state(fc.real[i]), (int)(i + 1), 64);
	}
	for (size_t i = 0; i < MAX - REAL; i++) {
		make_key(key, i);
		get(t, key, ts + (int64_t)i, NULL);
	}
	ts = 24 * HOUR_US;
	for (size_t i = 0; i < REAL; i++) {
		make_key(key, 1000000 + i);
		get(t, key, ts, NULL);
	}
	assert_int_equal(kw_keytab_count(t), MAX);
	/* The flood: 10 x MAX keys, newer than any real key's last event;
	 * the real keys are used now and then. */
	for (size_t i = 0; i < 10 * MAX; i++) {
		make_key(key, MAX + i);
		for (int u = 0; u < uses; u++)
			get(t, key, ts + 1000000 * (int64_t)i + u, NULL);
		if (i % 997 == 0) {
			make_key(key, 1000000 + i % REAL);
			get(t, key, ts + 1000000 * (int64_t)i, NULL);
		}
	}
	assert_int_equal(fc.evicted, 10 * MAX);
	for (size_t i = 0; i < REAL; i++) {
		bool created;
		unsigned char *s;

		make_key(key, 1000000 + i);
		assert_ptr_equal(get(t, key, ts, &created), fc.real[i]);
		assert_false(created);
		s = kw_keytab_state(fc.real[i]);
		for (size_t b = 0; b < 64; b++)
			assert_int_equal(s[b], i + 1);
	}
	kw_keytab_destroy(t);
}

static void test_flood_keeps_learned(void **state)
{
	(void)state;
	run_flood(1);
	run_flood(2);
}

/* Among keys of one tier the table keeps the recent ones: 20,000 one-shot
 * keys, one after another, through a table of 1,000 leave the newest
 * 1,000; among learned keys the clock's samples keep the recently used. */
static void note_age(void *ctx, struct kw_keyent *ent)
{
	size_t *hist = ctx;

	hist[(20000 - 1 - ent->relearn) / 1000]++;
}

struct evict_rank {
	const uint32_t *rank;
	size_t *by_decile;
};

static void evict_by_rank(void *ctx, struct kw_keyent *ent)
{
	struct evict_rank *er = ctx;

	assert_true(ent->relearn < 1000); /* never one of the new keys */
	er->by_decile[er->rank[ent->relearn] / 100]++;
}

static void test_evict_recency(void **state)
{
	struct kw_keytab *t = NULL;
	size_t hist[20] = {0};
	char key[40];

	(void)state;
	assert_int_equal(kw_keytab_create_seeded(1000, 0, seed_a, &t), KW_OK);
	for (uint32_t i = 0; i < 20000; i++) {
		make_key(key, i);
		get(t, key, (int64_t)i, NULL)->relearn = i;
	}
	assert_int_equal(kw_keytab_evicted(t), 19000);
	kw_keytab_foreach(t, note_age, hist);
	assert_int_equal(hist[0], 1000);
	kw_keytab_destroy(t);

	/* 1,000 learned keys (two events a day apart) fill a table of 1,000,
	 * then are used again in a random order; 500 new learned keys come.
	 * Every key is learned, so the clock's samples choose: the oldest of
	 * each sample of 8, which leaves the keys used most recently. */
	{
		enum { N = 1000, NEW = 500 };
		static uint32_t rank[N]; /* key -> order of its last use */
		size_t evicted_by_rank[10] = {0};
		struct evict_rank er = {rank, evicted_by_rank};

		assert_int_equal(kw_keytab_create_seeded(N, 0, seed_a, &t),
				 KW_OK);
		for (uint32_t k = 0; k < N; k++) {
			make_key(key, k);
			get(t, key, 0, NULL)->relearn = k;
			get(t, key, 24 * HOUR_US, NULL);
		}
		for (uint32_t i = 0; i < N; i++) {
			uint32_t k = (i * 769) % N; /* a permutation */

			rank[k] = i;
			make_key(key, k);
			get(t, key, 25 * HOUR_US + i, NULL);
		}
		kw_keytab_on_evict(t, evict_by_rank, &er);
		for (uint32_t i = 0; i < NEW; i++) {
			make_key(key, N + i);
			get(t, key, 0, NULL)->relearn = N + i;
			get(t, key, 26 * HOUR_US + i, NULL);
		}
		assert_int_equal(kw_keytab_evicted(t), NEW);
		/* Half the keys go: all of the oldest 30%, none of the
		 * newest 30% (measured: 100 100 100 76 49 51 24 0 0 0). */
		for (int d = 0; d < 3; d++)
			assert_int_equal(evicted_by_rank[d], 100);
		for (int d = 7; d < 10; d++)
			assert_int_equal(evicted_by_rank[d], 0);
		kw_keytab_destroy(t);
	}
}

/* ---- foreach
 * ------------------------------------------------------------------ */

static void count_cb(void *ctx, struct kw_keyent *ent)
{
	uint64_t *sum = ctx;

	sum[0]++;
	sum[1] += ent->events;
	ent->relearn = 7;
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
	assert_int_equal(get(t, key, 0, NULL)->relearn, 7);
	kw_keytab_destroy(t);
}

/* The order of foreach and the choice of evictions depend on the input
 * alone: two tables with different seeds, fed the same keys, evict the
 * same keys in the same order and list theirs in the same order, which is
 * the order of insertion with each evicted key's place taken by the key
 * that evicted it. */
struct order_log {
	uint32_t seq[4096];
	size_t n;
};

static void log_numbers(void *ctx, struct kw_keyent *ent)
{
	struct order_log *o = ctx;

	assert_true(o->n < 4096);
	o->seq[o->n++] = ent->relearn;
}

static void test_order_independent_of_seed(void **state)
{
	uint8_t seed_b[16];
	struct kw_keytab *t[2] = {NULL, NULL};
	static struct order_log ev[2], fe[2];
	char key[40];
	uint64_t rng = 0x9e3779b97f4a7c15u;

	(void)state;
	memset(ev, 0, sizeof(ev));
	memset(fe, 0, sizeof(fe));
	memcpy(seed_b, seed_a, 16);
	seed_b[0] ^= 0x5a;
	assert_int_equal(kw_keytab_create_seeded(100, 0, seed_a, &t[0]), KW_OK);
	assert_int_equal(kw_keytab_create_seeded(100, 0, seed_b, &t[1]), KW_OK);
	for (int k = 0; k < 2; k++)
		kw_keytab_on_evict(t[k], log_numbers, &ev[k]);
	for (uint32_t i = 0; i < 1000; i++) {
		size_t id;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		id = (size_t)(rng % 300);
		make_key(key, id);
		for (int k = 0; k < 2; k++) {
			bool created;
			struct kw_keyent *e = get(t[k], key, i / 10, &created);

			if (created)
				e->relearn = (uint32_t)id;
		}
	}
	for (int k = 0; k < 2; k++)
		kw_keytab_foreach(t[k], log_numbers, &fe[k]);
	assert_true(ev[0].n > 100);
	assert_int_equal(ev[0].n, ev[1].n);
	assert_memory_equal(ev[0].seq, ev[1].seq, ev[0].n * sizeof(uint32_t));
	assert_int_equal(fe[0].n, 100);
	assert_int_equal(fe[1].n, 100);
	assert_memory_equal(fe[0].seq, fe[1].seq, 100 * sizeof(uint32_t));
	for (int k = 0; k < 2; k++)
		kw_keytab_destroy(t[k]);
}

/* Insertion order while the table is not full. */
static void test_foreach_order(void **state)
{
	struct kw_keytab *t = NULL;
	static struct order_log fe;
	char key[40];

	(void)state;
	memset(&fe, 0, sizeof(fe));
	assert_int_equal(kw_keytab_create_seeded(1000, 0, seed_a, &t), KW_OK);
	for (uint32_t i = 0; i < 700; i++) {
		make_key(key, (i * 3) % 700);
		get(t, key, 0, NULL)->relearn = (i * 3) % 700;
	}
	kw_keytab_foreach(t, log_numbers, &fe);
	assert_int_equal(fe.n, 700);
	for (uint32_t i = 0; i < 700; i++)
		assert_int_equal(fe.seq[i], (i * 3) % 700);
	kw_keytab_destroy(t);
}

/* ---- growth and eviction, checked against a model
 * ------------------------------ */

/*
 * Many inserts with lookups of random earlier keys in between, so that
 * lookups hit both indexes while the table grows, and (with max_keys
 * below the number of keys) evictions happen during growth too, taking
 * keys out of either index. The model follows the table's callbacks: a
 * key is present from its creation to its eviction, and the table must
 * agree exactly: every present key found with its event count, every
 * other key created anew, and foreach listing exactly the present ones.
 */
struct model {
	uint64_t *events;
	bool *present;
	size_t nkeys;
	size_t npresent;
};

static void mark_present(void *ctx, struct kw_keyent *ent)
{
	struct model *m = ctx;

	assert_true(ent->relearn < m->nkeys);
	assert_true(m->present[ent->relearn]);
	assert_int_equal(ent->events, m->events[ent->relearn]);
	m->npresent--; /* each present key listed once */
}

static void model_evict(void *ctx, struct kw_keyent *ent)
{
	struct model *m = ctx;

	assert_true(m->present[ent->relearn]);
	m->present[ent->relearn] = false;
	m->events[ent->relearn] = 0;
	m->npresent--;
}

static void run_model(size_t nkeys, size_t max_keys, size_t state_size)
{
	struct model m = {.nkeys = nkeys};
	struct kw_keytab *t = NULL;
	uint64_t rng = 88172645463325252u;
	size_t inserted = 0, creations = 0, listed;
	char key[40];

	m.events = calloc(nkeys, sizeof(*m.events));
	m.present = calloc(nkeys, sizeof(*m.present));
	assert_non_null(m.events);
	assert_non_null(m.present);
	assert_int_equal(
		kw_keytab_create_seeded(max_keys, state_size, seed_a, &t),
		KW_OK);
	kw_keytab_on_evict(t, model_evict, &m);
	for (size_t op = 0; inserted < nkeys; op++) {
		size_t i;
		bool created;
		struct kw_keyent *ent;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		/* Two of three operations look up an earlier key. */
		if (inserted > 0 && rng % 3 != 0)
			i = (size_t)(rng >> 8) % inserted;
		else
			i = inserted++;
		make_key(key, i);
		ent = get(t, key, (int64_t)op, &created);
		assert_int_equal(created, !m.present[i]);
		if (created) {
			unsigned char *st = kw_keytab_state(ent);

			/* A new key's entry is zero but for what the table
			 * set, whether it is fresh memory or an evicted
			 * key's (marked below). */
			assert_int_equal(ent->kind | ent->mode | ent->flags, 0);
			assert_int_equal(ent->relearn_since, 0);
			for (size_t b = 0; b < state_size; b++)
				assert_int_equal(st[b], 0);
			memset(st, 0xa5, state_size);
			ent->kind = ent->mode = ent->flags = 0xa5;
			ent->relearn_since = -1;
			ent->relearn = (uint32_t)i;
			m.present[i] = true;
			m.npresent++;
			creations++;
		}
		assert_int_equal(ent->relearn, i);
		m.events[i]++;
		assert_int_equal(ent->events, m.events[i]);
		assert_int_equal(kw_keytab_count(t), m.npresent);
		assert_true(kw_keytab_count(t) <= max_keys);
	}
	assert_int_equal(kw_keytab_evicted(t), creations - m.npresent);
	listed = m.npresent;
	kw_keytab_foreach(t, mark_present, &m);
	assert_int_equal(m.npresent, 0);
	m.npresent = listed;
	/* Every key the model holds is found again, not created; the
	 * others are not in the table (looked up in a fresh table's way:
	 * only present ones, so nothing is evicted here). */
	for (size_t i = 0; i < nkeys; i++) {
		bool created;

		if (!m.present[i])
			continue;
		make_key(key, i);
		assert_int_equal(get(t, key, 0, &created)->relearn, i);
		assert_false(created);
	}
	assert_int_equal(kw_keytab_evicted(t), creations - listed);
	kw_keytab_destroy(t);
	free(m.events);
	free(m.present);
}

static void test_growth_no_eviction(void **state)
{
	(void)state;
	run_model(100000, 200000, 16);
}

static void test_growth_with_eviction(void **state)
{
	(void)state;
	run_model(50000, 3000, 40);
}

/* 1030 keys: the index grows from 128 to 256 groups at 1229 keys... and
 * from 64 to 128 at 615: with max 700, evictions start while that growth
 * is still moving groups. */
static void test_evict_during_growth(void **state)
{
	(void)state;
	run_model(20000, 700, 8);
}

/* A tiny table: every insert past 5 evicts, removals and puts churn the
 * same few groups' overflow counts. */
static void test_churn_small(void **state)
{
	(void)state;
	run_model(5000, 5, 8);
}

/* ---- seed
 * ----------------------------------------------------------------------- */

static void test_seed(void **state)
{
	struct kw_keytab *a = NULL, *b = NULL, *r1 = NULL, *r2 = NULL;
	struct kw_keyhash_key hk;
	uint8_t seed_b[16];
	uint64_t h1[2], h2[2];

	(void)state;
	memcpy(seed_b, seed_a, 16);
	seed_b[15] ^= 0x80;
	assert_int_equal(kw_keytab_create_seeded(10, 0, seed_a, &a), KW_OK);
	assert_int_equal(kw_keytab_create_seeded(10, 0, seed_b, &b), KW_OK);
	assert_int_equal(kw_keytab_create(10, 0, &r1), KW_OK);
	assert_int_equal(kw_keytab_create(10, 0, &r2), KW_OK);
	/* Seeded: exactly the keyed hash with material from that seed. */
	kw_keyhash_init(&hk, seed_a);
	kw_keytab_hash(a, KEY1, strlen(KEY1), h1);
	kw_keyhash(&hk, KEY1, strlen(KEY1), h2);
	assert_memory_equal(h1, h2, sizeof(h1));
	kw_keytab_hash(a, "", 0, h1);
	kw_keyhash(&hk, "", 0, h2);
	assert_memory_equal(h1, h2, sizeof(h1));
	kw_keytab_hash(a, KEY1, strlen(KEY1), h1);
	kw_keytab_hash(b, KEY1, strlen(KEY1), h2);
	assert_int_not_equal(h1[0], h2[0]);
	assert_int_not_equal(h1[1], h2[1]);
	/* Random: two tables get different seeds. */
	kw_keytab_hash(r1, KEY1, strlen(KEY1), h1);
	kw_keytab_hash(r2, KEY1, strlen(KEY1), h2);
	assert_int_not_equal(h1[0], h2[0]);
	kw_keytab_hash(a, KEY1, strlen(KEY1), h2);
	assert_int_not_equal(h1[0], h2[0]);
	/* The seed changes nothing visible: same fingerprint and id. */
	assert_string_equal(get(a, KEY1, 1, NULL)->fp,
			    get(r1, KEY1, 1, NULL)->fp);
	assert_string_equal(kw_keyent_id(get(a, KEY1, 1, NULL)),
			    kw_keyent_id(get(r1, KEY1, 1, NULL)));
	kw_keytab_destroy(a);
	kw_keytab_destroy(b);
	kw_keytab_destroy(r1);
	kw_keytab_destroy(r2);
}

/* keyhash.h's definition written out plainly: the key (at most
 * KW_KEYHASH_MAX_LEN bytes of it) copied into zeros to a multiple of 16,
 * both NH passes over its words, and each multiply-add-shift in 128-bit
 * arithmetic. kw_keyhash (its tail read in place, the multipliers' high
 * words summed apart) must give the same 128 bits for every length. */
__extension__ typedef unsigned __int128 u128;

static void keyhash_plain(const struct kw_keyhash_key *k, const uint8_t *p,
			  size_t n, uint64_t h[2])
{
	uint8_t buf[KW_KEYHASH_MAX_LEN] = {0};
	size_t m = n < KW_KEYHASH_MAX_LEN ? n : KW_KEYHASH_MAX_LEN;
	size_t words = (m + 15) / 16 * 2;
	u128 nh[2] = {0, 0}, x[5];

	memcpy(buf, p, m);
	for (size_t i = 0; i < words; i += 2) {
		uint64_t w0, w1;

		memcpy(&w0, buf + 8 * i, 8);
		memcpy(&w1, buf + 8 * i + 8, 8);
		for (int pass = 0; pass < 2; pass++)
			nh[pass] += (u128)(uint64_t)(w0 + k->nh[i + 2 * pass]) *
				    (uint64_t)(w1 + k->nh[i + 1 + 2 * pass]);
	}
	x[0] = (uint64_t)nh[0];
	x[1] = (uint64_t)(nh[0] >> 64);
	x[2] = (uint64_t)nh[1];
	x[3] = (uint64_t)(nh[1] >> 64);
	x[4] = n;
	for (int o = 0; o < 2; o++) {
		u128 acc = (u128)k->b[o][1] << 64 | k->b[o][0];

		for (int j = 0; j < 5; j++)
			acc += ((u128)k->a[o][j][1] << 64 | k->a[o][j][0]) *
			       x[j];
		h[o] = (uint64_t)(acc >> 64);
	}
}

static void test_keyhash_definition(void **state)
{
	static uint8_t key[KW_KEYHASH_MAX_LEN + 40];
	struct kw_keyhash_key hk;
	uint64_t want[2], got[2], x = 0x9e3779b97f4a7c15u;

	(void)state;
	kw_keyhash_init(&hk, seed_a);
	for (int round = 0; round < 3; round++) {
		/* random bytes, then all 0xff (every carry), then zeros */
		for (size_t i = 0; i < sizeof(key); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			key[i] = round == 0   ? (uint8_t)x
				 : round == 1 ? 0xff
					      : 0;
		}
		for (size_t n = 0; n <= sizeof(key); n++) {
			keyhash_plain(&hk, key, n, want);
			kw_keyhash(&hk, n ? key : NULL, n, got);
			if (memcmp(want, got, sizeof(got)) != 0)
				fail_msg("round %d, %zu bytes: %016llx%016llx, "
					 "defined %016llx%016llx",
					 round, n, (unsigned long long)got[1],
					 (unsigned long long)got[0],
					 (unsigned long long)want[1],
					 (unsigned long long)want[0]);
		}
	}
}

/* The memo of keys hashed last (kw_keytab_hash) against kw_keyhash: keys
 * that differ in one byte anywhere (the first, the middle, just before the
 * last 8, the last), at the memo's length bounds and beyond, a caller's
 * buffer changed between two calls, a few hot keys (hits), then thousands
 * of keys seen once (the memo is left alone), then hot keys again. */
static void check_memo_hash(struct kw_keytab *t,
			    const struct kw_keyhash_key *hk, const char *key,
			    size_t n, const char *what)
{
	uint64_t want[2], got[2];

	kw_keyhash(hk, key, n, want);
	kw_keytab_hash(t, key, n, got);
	if (memcmp(want, got, sizeof(got)) != 0)
		fail_msg("%s, %zu bytes: %016llx%016llx, kw_keyhash "
			 "%016llx%016llx",
			 what, n, (unsigned long long)got[1],
			 (unsigned long long)got[0],
			 (unsigned long long)want[1],
			 (unsigned long long)want[0]);
}

static void test_hash_memo(void **state)
{
	static const size_t lens[] = {8,   15,	16,  17,  24, 64,
				      107, 127, 128, 129, 200};
	static char keys[5][256];
	static char many[4000][32];
	struct kw_keyhash_key hk;
	struct kw_keytab *t = NULL;
	char buf[256];

	(void)state;
	rng_state = 0x5eed5eed5eedULL;
	kw_keyhash_init(&hk, seed_a);
	assert_int_equal(kw_keytab_create_seeded(10, 0, seed_a, &t), KW_OK);
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		size_t n = lens[l];
		size_t at[4] = {0, n / 2, n >= 9 ? n - 9 : 1, n - 1};

		/* the same prefix and length; key 0 and key k differ only at
		 * at[k - 1] */
		for (size_t i = 0; i < n; i++)
			keys[0][i] = (char)('a' + rnd_below(26));
		memcpy(keys[0], "sk_live_", 8);
		for (int k = 1; k < 5; k++) {
			memcpy(keys[k], keys[0], n);
			keys[k][at[k - 1]] ^= 0x01;
		}
		for (int round = 0; round < 200; round++) {
			int k = (int)rnd_below(5);

			check_memo_hash(t, &hk, keys[k], n, "one byte apart");
		}
		/* the caller's buffer reused: the memo holds a copy */
		memcpy(buf, keys[0], n);
		check_memo_hash(t, &hk, buf, n, "buffer before");
		buf[n / 2] ^= 0x40;
		check_memo_hash(t, &hk, buf, n, "buffer changed");
	}
	/* thousands of keys seen once or twice, then hot keys again */
	for (size_t i = 0; i < 4000; i++) {
		snprintf(many[i], sizeof(many[i]), "sk_live_%023zu", i * 7919);
		check_memo_hash(t, &hk, many[i], 31, "many keys");
		check_memo_hash(t, &hk, many[rnd_below(i + 1)], 31,
				"many keys again");
	}
	for (int round = 0; round < 3000; round++)
		check_memo_hash(t, &hk, many[rnd_below(3)], 31, "hot again");
	kw_keytab_destroy(t);
}

/* kw_keytab_get tries the entry the memo found a key at last: a key whose
 * entry went to another key (evicted) is a new key again, not the other
 * key's entry; a key still there is its own entry. */
static void test_memo_entry(void **state)
{
	char k[4][40];
	struct kw_keyent *a, *b, *c, *again;
	struct kw_keytab *t = NULL;
	bool created;

	(void)state;
	for (size_t i = 0; i < 4; i++)
		make_key(k[i], i);
	assert_int_equal(kw_keytab_create_seeded(2, 0, seed_a, &t), KW_OK);
	a = get(t, k[0], 1, &created);
	assert_true(created);
	b = get(t, k[1], 2, &created);
	assert_true(created);
	assert_ptr_equal(get(t, k[0], 3, &created), a);
	assert_false(created);
	assert_ptr_equal(get(t, k[1], 4, &created), b);
	assert_false(created);
	/* full: c takes the entry of a or b */
	c = get(t, k[2], 5, &created);
	assert_true(created);
	assert_true(c == a || c == b);
	assert_int_equal(kw_keytab_evicted(t), 1);
	/* the key that lost its entry is new again, in a fresh entry */
	again = get(t, c == a ? k[0] : k[1], 6, &created);
	assert_true(created);
	assert_int_equal(again->events, 1);
	assert_int_equal(again->first_seen, 6);
	assert_int_equal(kw_keytab_evicted(t), 2);
	/* c's entry is c's for as long as it holds it */
	if (again != c) {
		assert_ptr_equal(get(t, k[2], 7, &created), c);
		assert_false(created);
		assert_int_equal(c->events, 2);
	}
	kw_keytab_destroy(t);
}

/* ---- memory
 * --------------------------------------------------------------------- */

static void test_memory(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct kw_keyent), 112);
	/* a 16-byte private header (the key's hash) + the 112-byte public
	 * struct, whatever the key's length */
	assert_int_equal(kw_keytab_entry_overhead(), 128);
}

/* ---- benchmark (KW_BENCH=1)
 * ----------------------------------------------------- */

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
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
	for (size_t k = 0; k < lookups; k++) {
		uint64_t h[2];

		kw_keytab_hash(t, keys + order[k % nkeys] * 40, 32, h);
		sink += h[0];
	}
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
		cmocka_unit_test(test_long_keys),
		cmocka_unit_test(test_long_ids),
		cmocka_unit_test(test_evict_by_worth),
		cmocka_unit_test(test_evict_tiers),
		cmocka_unit_test(test_flood_keeps_learned),
		cmocka_unit_test(test_evict_recency),
		cmocka_unit_test(test_foreach),
		cmocka_unit_test(test_order_independent_of_seed),
		cmocka_unit_test(test_foreach_order),
		cmocka_unit_test(test_growth_no_eviction),
		cmocka_unit_test(test_growth_with_eviction),
		cmocka_unit_test(test_evict_during_growth),
		cmocka_unit_test(test_churn_small),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_keyhash_definition),
		cmocka_unit_test(test_hash_memo),
		cmocka_unit_test(test_memo_entry),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_bench),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
