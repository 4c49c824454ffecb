/*
 * gzip_fixture.h - one gzip member of a buffer, made with zlib, for the
 * tests that build compressed fixtures themselves (test_reader, test_tail).
 * Header-only: each test program includes it once.
 */
#ifndef KW_TESTS_GZIP_FIXTURE_H
#define KW_TESTS_GZIP_FIXTURE_H

#include <zlib.h>

/* One gzip member (10-byte header) of p[0..n), level 6. malloc'ed; the
 * caller frees it. Asserts through cmocka (include it after cmocka.h). */
static inline unsigned char *gzip_fixture(const char *p, size_t n, size_t *out)
{
	z_stream zs = {0};
	size_t cap = compressBound((uLong)n) + 64;
	unsigned char *o = malloc(cap);

	assert_non_null(o);
	assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8,
				      Z_DEFAULT_STRATEGY),
			 Z_OK);
	zs.next_in = (unsigned char *)p;
	zs.avail_in = (uInt)n;
	zs.next_out = o;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	*out = zs.total_out;
	deflateEnd(&zs);
	return o;
}

#endif
