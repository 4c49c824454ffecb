/*
 * str.h - a borrowed byte span. Never NUL-terminated unless said so; the
 * owner of the bytes decides how long it lives (usually: until the batch that
 * produced it is reset).
 */
#ifndef KW_CORE_STR_H
#define KW_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

struct kw_str {
	const char *p;
	size_t n;
};

#define KW_STR_NULL ((struct kw_str){NULL, 0})

static inline struct kw_str kw_str_c(const char *s)
{
	return (struct kw_str){s, s ? strlen(s) : 0};
}

static inline bool kw_str_eq(struct kw_str a, struct kw_str b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline bool kw_str_eqc(struct kw_str a, const char *c)
{
	return kw_str_eq(a, kw_str_c(c));
}

static inline bool kw_str_has_prefix(struct kw_str a, const char *prefix)
{
	size_t n = strlen(prefix);

	return a.n >= n && memcmp(a.p, prefix, n) == 0;
}

static inline bool kw_str_empty(struct kw_str a)
{
	return a.n == 0;
}

/* The offset of the first byte of p[i..n) that is a, b or c (repeat one
 * for fewer), or n (i when i >= n). Sixteen bytes a step where there are
 * sixteen (the last step reads the 16 bytes that end at n again, masked),
 * else eight, for what runs on every record (splitting a path, finding
 * its query). */
static inline uint64_t kw_str_has_byte_(uint64_t w, unsigned char c)
{
	const uint64_t ones = UINT64_C(0x0101010101010101);
	uint64_t x = w ^ (ones * c);

	/* exact for the lowest flagged byte (false flags sit above it) */
	return (x - ones) & ~x & (ones * 0x80);
}

static inline size_t kw_str_find3(const char *p, size_t i, size_t n, char a,
				  char b, char c)
{
#ifdef __SSE2__
	if (i < n && n >= 16) {
		const __m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b),
			      vc = _mm_set1_epi8(c);

		for (;;) {
			size_t at = i + 16 <= n ? i : n - 16;
			__m128i v = _mm_loadu_si128(
				(const __m128i *)(const void *)(p + at));
			unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
				_mm_or_si128(_mm_cmpeq_epi8(v, va),
					     _mm_cmpeq_epi8(v, vb)),
				_mm_cmpeq_epi8(v, vc)));

			m &= ~0u << (i - at); /* bytes before i: seen */
			if (m)
				return at + (size_t)__builtin_ctz(m);
			if (at + 16 >= n)
				return n;
			i = at + 16;
		}
	}
#endif
	for (; i + 8 <= n; i += 8) {
		uint64_t w, m;

		memcpy(&w, p + i, 8);
		m = kw_str_has_byte_(w, (unsigned char)a) |
		    kw_str_has_byte_(w, (unsigned char)b) |
		    kw_str_has_byte_(w, (unsigned char)c);
		if (m) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return i + (size_t)__builtin_ctzll(m) / 8;
#else
			break;
#endif
		}
	}
	while (i < n && p[i] != a && p[i] != b && p[i] != c)
		i++;
	return i;
}

#endif
