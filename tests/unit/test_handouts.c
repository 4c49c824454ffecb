/*
 * test_handouts.c - the table of keys handed out (state/handouts.h): a
 * child key finds its parent; one seen again is updated in place; an
 * unknown key, an empty one and a NULL table find nothing; the table is
 * bounded (a full bucket gives up its oldest entry, so a flood of sessions
 * forgets old ones and the newest is found). Saved and loaded (--state):
 * a table of another seed (the next run) finds a loaded child by its key
 * and moves it in; the bytes are the same whatever the seed; a child put
 * since wins; loading keeps the newest when there are more than the table
 * holds; and damaged or hostile bytes are refused with their reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "state/handouts.h"

static const uint8_t seed[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4};

static struct kw_handout parent(const char *id, const char *principal,
				int64_t ts)
{
	struct kw_handout h;

	memset(&h, 0, sizeof(h));
	snprintf(h.id, sizeof(h.id), "%s", id);
	snprintf(h.principal, sizeof(h.principal), "%s", principal);
	h.ts = ts;
	return h;
}

static void put(struct kw_handouts *t, const char *child,
		const struct kw_handout *p)
{
	kw_handouts_put(t, child, strlen(child), p);
}

static const struct kw_handout *get(struct kw_handouts *t, const char *key)
{
	return kw_handouts_get(t, key, strlen(key));
}

static void test_put_get(void **state)
{
	struct kw_handouts *t = NULL;
	struct kw_handout ci = parent("AKIA\xe2\x80\xa6"
				      "0001",
				      "111122223333:user/ci", 10);
	struct kw_handout ann = parent("AKIA\xe2\x80\xa6"
				       "0002",
				       "111122223333:user/ann", 20);
	const struct kw_handout *h;

	(void)state;
	assert_int_equal(kw_handouts_create_seeded(64, seed, &t), KW_OK);
	assert_null(get(t, "ASIACHILDKEY00000001"));
	put(t, "ASIACHILDKEY00000001", &ci);
	put(t, "ASIACHILDKEY00000002", &ann);
	h = get(t, "ASIACHILDKEY00000001");
	assert_non_null(h);
	assert_string_equal(h->id, "AKIA\xe2\x80\xa6"
				   "0001");
	assert_string_equal(h->principal, "111122223333:user/ci");
	assert_string_equal(get(t, "ASIACHILDKEY00000002")->principal,
			    "111122223333:user/ann");
	/* Seen again (the same credentials returned twice): updated. */
	put(t, "ASIACHILDKEY00000001", &ann);
	assert_string_equal(get(t, "ASIACHILDKEY00000001")->principal,
			    "111122223333:user/ann");
	assert_null(get(t, "ASIACHILDKEY00000003"));
	assert_null(kw_handouts_get(t, "", 0));
	put(t, "", &ci); /* nothing to remember */
	assert_null(kw_handouts_get(NULL, "ASIACHILDKEY00000001", 20));
	kw_handouts_put(NULL, "ASIACHILDKEY00000001", 20, &ci);
	kw_handouts_destroy(t);
	kw_handouts_destroy(NULL);
}

/* 10,000 sessions into a table of 64: never more than 64 found, the
 * newest bucket-mates found, the first long forgotten. */
static void test_bounded(void **state)
{
	struct kw_handouts *t = NULL;
	char key[32];
	size_t found = 0;

	(void)state;
	assert_int_equal(kw_handouts_create_seeded(64, seed, &t), KW_OK);
	for (int i = 0; i < 10000; i++) {
		struct kw_handout p = parent("AKIA\xe2\x80\xa6"
					     "0001",
					     "111122223333:user/ci", i);

		snprintf(key, sizeof(key), "ASIAFLOOD%011d", i);
		put(t, key, &p);
	}
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "ASIAFLOOD%011d", i);
		found += get(t, key) != NULL;
	}
	assert_true(found <= 64);
	assert_true(found >= 48);
	assert_null(get(t, "ASIAFLOOD00000000000"));
	/* The last one put is always there (it replaced its bucket's
	 * oldest). */
	assert_non_null(get(t, "ASIAFLOOD00000009999"));
	assert_int_equal(get(t, "ASIAFLOOD00000009999")->ts, 9999);
	kw_handouts_destroy(t);
}

/* The smallest table still holds one bucket. */
static void test_tiny(void **state)
{
	struct kw_handouts *t = NULL;
	struct kw_handout p = parent("x", "", 1);

	(void)state;
	assert_int_equal(kw_handouts_create_seeded(0, seed, &t), KW_OK);
	put(t, "ASIATINY000000000001", &p);
	assert_non_null(get(t, "ASIATINY000000000001"));
	kw_handouts_destroy(t);
	assert_int_equal(kw_handouts_create(8, &t), KW_OK);
	put(t, "ASIATINY000000000001", &p);
	assert_non_null(get(t, "ASIATINY000000000001"));
	kw_handouts_destroy(t);
}

static const uint8_t seed2[16] = {1, 1, 2, 3, 5, 8, 13, 21, 34, 55};

/* A table of two children, saved: *len bytes (malloc'ed). */
static unsigned char *saved_two(const uint8_t *s, size_t *len)
{
	struct kw_handouts *t = NULL;
	struct kw_handout ci = parent("AKIA\xe2\x80\xa6"
				      "0001",
				      "111122223333:user/ci", 10);
	struct kw_handout ann = parent("AKIA\xe2\x80\xa6"
				       "0002",
				       "", 20);
	unsigned char *p = NULL;

	assert_int_equal(kw_handouts_create_seeded(64, s, &t), KW_OK);
	put(t, "ASIACHILDKEY00000002", &ann);
	put(t, "ASIACHILDKEY00000001", &ci);
	assert_int_equal(kw_handouts_count(t), 2);
	assert_int_equal(kw_handouts_save(t, &p, len), KW_OK);
	kw_handouts_destroy(t);
	return p;
}

static void test_save_load(void **state)
{
	struct kw_handouts *t = NULL;
	struct kw_handout dan = parent("AKIA\xe2\x80\xa6"
				       "0009",
				       "111122223333:user/dan", 30);
	unsigned char *a, *b, *c;
	size_t na, nb, nc;
	char why[160];

	(void)state;
	a = saved_two(seed, &na);
	b = saved_two(seed2, &nb);
	/* u32 count, then two entries of 8 + 8 + 1 + 11 + 1 + (20 or 0) */
	assert_int_equal(na, 4 + 2 * 29 + 20);
	assert_int_equal(nb, na);
	assert_memory_equal(a, b, na);
	assert_int_equal(a[0], 2);

	/* The next run: another seed. */
	assert_int_equal(kw_handouts_create_seeded(64, seed2, &t), KW_OK);
	assert_true(kw_handouts_load(t, a, na, why, sizeof(why)));
	assert_int_equal(kw_handouts_count(t), 2);
	assert_null(get(t, "ASIACHILDKEY00000003"));
	assert_null(get(t, "ASIACHILDKEY00000003")); /* from the cache */
	assert_string_equal(get(t, "ASIACHILDKEY00000001")->principal,
			    "111122223333:user/ci");
	assert_int_equal(get(t, "ASIACHILDKEY00000001")->ts, 10);
	/* Put since: replaces the loaded one. */
	put(t, "ASIACHILDKEY00000002", &dan);
	assert_string_equal(get(t, "ASIACHILDKEY00000002")->principal,
			    "111122223333:user/dan");
	assert_int_equal(kw_handouts_count(t), 2);
	/* Saved again: the same two children, one of them as put since. */
	assert_int_equal(kw_handouts_save(t, &c, &nc), KW_OK);
	assert_int_equal(nc, na + 21); /* dan's principal */
	kw_handouts_destroy(t);
	free(c);

	/* Loaded into a table that already holds a newer entry for one of
	 * them: the newer stays. */
	assert_int_equal(kw_handouts_create_seeded(64, seed, &t), KW_OK);
	put(t, "ASIACHILDKEY00000001", &dan);
	assert_true(kw_handouts_load(t, a, na, why, sizeof(why)));
	assert_int_equal(kw_handouts_count(t), 2);
	assert_string_equal(get(t, "ASIACHILDKEY00000001")->principal,
			    "111122223333:user/dan");
	assert_string_equal(get(t, "ASIACHILDKEY00000002")->id,
			    "AKIA\xe2\x80\xa6"
			    "0002");
	kw_handouts_destroy(t);
	free(a);
	free(b);
}

/* More entries than the table holds: the newest are kept. */
static void test_load_bounded(void **state)
{
	struct kw_handouts *big = NULL, *small = NULL;
	unsigned char *p = NULL;
	char key[32], why[160];
	size_t n, found = 0;

	(void)state;
	assert_int_equal(kw_handouts_create_seeded(4096, seed, &big), KW_OK);
	for (int i = 0; i < 1000; i++) {
		struct kw_handout h = parent("AKIA\xe2\x80\xa6"
					     "0001",
					     "", i);

		snprintf(key, sizeof(key), "ASIAMANY%012d", i);
		put(big, key, &h);
	}
	assert_int_equal(kw_handouts_save(big, &p, &n), KW_OK);
	assert_int_equal(kw_handouts_create_seeded(64, seed2, &small), KW_OK);
	assert_true(kw_handouts_load(small, p, n, why, sizeof(why)));
	assert_int_equal(kw_handouts_count(small), 64);
	for (int i = 0; i < 1000; i++) {
		const struct kw_handout *h;

		snprintf(key, sizeof(key), "ASIAMANY%012d", i);
		h = get(small, key);
		found += h != NULL;
		if (h)
			assert_true(h->ts >= 936);
	}
	assert_true(found >= 48 && found <= 64);
	kw_handouts_destroy(big);
	kw_handouts_destroy(small);
	free(p);
}

/* Bytes that kw_handouts_save could not have written are refused, with
 * the reason, and nothing is taken in. */
static void test_load_refuses(void **state)
{
	struct kw_handouts *t = NULL;
	unsigned char *a, bad[256];
	size_t na, first;
	char why[160], after[64];
	/* The first entry: fp at 4, ts at 12, its id's length at 20, the id
	 * from 21 (11 bytes), its principal's length at 32. */
	struct {
		size_t at;	 /* the byte changed, */
		unsigned char v; /* to this */
		long len;	 /* or the length cut to this (-1: not) */
		const char *why;
	} cases[] = {
		{0, 0, 3, "cut short"},
		{0, 9, -1, "9 entries in 82 bytes"},
		{0, 0, 40, "cut short"},
		{0, 0, 81, "cut short"},
		{0, 1, -1, after},
		{20, 0, -1, "a parent's id or principal that is not one"},
		{22, 0x0a, -1, "a parent's id or principal that is not one"},
		{32, 200, -1, "cut short"},
		{19, 0x80, -1, "a time out of range"},
		{0, 0, -2, "fingerprints not in order or twice"},
	};

	(void)state;
	a = saved_two(seed, &na);
	first = 18 + a[20] + a[21 + a[20]];
	snprintf(after, sizeof(after), "%zu bytes after the last entry",
		 na - 4 - first);
	assert_int_equal(kw_handouts_create_seeded(64, seed2, &t), KW_OK);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = cases[i].len >= 0 ? (size_t)cases[i].len : na;

		memcpy(bad, a, na);
		if (cases[i].len == -1)
			bad[cases[i].at] = cases[i].v;
		if (cases[i].len == -2) { /* the first entry twice */
			memcpy(bad + 4 + first, a + 4, first);
			n = 4 + 2 * first;
		}
		why[0] = '\0';
		assert_false(kw_handouts_load(t, bad, n, why, sizeof(why)));
		assert_string_equal(why, cases[i].why);
		assert_int_equal(kw_handouts_count(t), 0);
	}
	kw_handouts_destroy(t);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_tiny),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_load_bounded),
		cmocka_unit_test(test_load_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
