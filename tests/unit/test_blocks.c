/*
 * test_blocks.c - the pool of blocks (state/blocks.h): blocks come zeroed
 * with handles that are never 0 and stay valid as the pool grows past a
 * chunk; a freed block comes back zeroed before any new one is taken; the
 * pool never hands out more than its bound at once; and sizes it cannot
 * keep are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "state/blocks.h"

static bool zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i])
			return false;
	}
	return true;
}

static void test_grows_and_keeps(void **state)
{
	enum { N = KW_BLOCKS_CHUNK * 2 + 5 };
	static uint32_t h[N];
	struct kw_blocks *p;

	(void)state;
	assert_int_equal(kw_blocks_create(32, N, &p), KW_OK);
	for (size_t i = 0; i < N; i++) {
		unsigned char *b = kw_blocks_new(p, &h[i]);

		assert_non_null(b);
		assert_int_not_equal(h[i], 0);
		assert_true(zero(b, 32));
		memset(b, (int)(i % 251) + 1, 32);
	}
	assert_int_equal(kw_blocks_count(p), N);
	for (size_t i = 0; i < N; i++) {
		const unsigned char *b = kw_blocks_at(p, h[i]);

		assert_int_equal(b[0], i % 251 + 1);
		assert_int_equal(b[31], i % 251 + 1);
	}
	kw_blocks_destroy(p);
	kw_blocks_destroy(NULL);
}

static void test_reuse_and_bound(void **state)
{
	struct kw_blocks *p;
	uint32_t a, b, c, d;
	unsigned char *pa;

	(void)state;
	assert_int_equal(kw_blocks_create(16, 2, &p), KW_OK);
	pa = kw_blocks_new(p, &a);
	memset(pa, 0xab, 16);
	assert_non_null(kw_blocks_new(p, &b));
	/* the bound: two out at once */
	assert_null(kw_blocks_new(p, &c));
	assert_int_equal(c, 0);
	kw_blocks_free(p, a);
	kw_blocks_free(p, 0); /* nothing */
	assert_int_equal(kw_blocks_count(p), 1);
	/* the freed one again, zeroed */
	pa = kw_blocks_new(p, &d);
	assert_int_equal(d, a);
	assert_true(zero(pa, 16));
	assert_int_equal(kw_blocks_count(p), 2);
	kw_blocks_destroy(p);
}

static void test_refused(void **state)
{
	struct kw_blocks *p = (void *)1;

	(void)state;
	assert_int_equal(kw_blocks_create(0, 10, &p), KW_EINVAL);
	assert_null(p);
	assert_int_equal(kw_blocks_create(24, 10, &p), KW_EINVAL);
	assert_int_equal(kw_blocks_create(65552, 10, &p), KW_EINVAL);
	assert_int_equal(kw_blocks_create(16, 0, &p), KW_EINVAL);
	assert_int_equal(kw_blocks_create(16, ((size_t)1 << 31) + 1, &p),
			 KW_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grows_and_keeps),
		cmocka_unit_test(test_reuse_and_bound),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
