/*
 * test_handouts.c - the table of keys handed out (state/handouts.h): a
 * child key finds its parent; one seen again is updated in place; an
 * unknown key, an empty one and a NULL table find nothing; the table is
 * bounded (a full bucket gives up its oldest entry, so a flood of sessions
 * forgets old ones and the newest is found).
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

static const struct kw_handout *get(const struct kw_handouts *t,
				    const char *key)
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_tiny),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
