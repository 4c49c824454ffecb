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

/*
 * A text built in a fixed buffer, piece by piece, cut where the buffer
 * ends: what snprintf of the whole text would write (pieces given as
 * "%.*s" end at a NUL of theirs, as printf's do), without its cost on the
 * paths that build a text an alert. buf[0..cap) always holds a
 * NUL-terminated string; cap >= 1.
 */
struct kw_text {
	char *p;
	size_t cap, n; /* n: bytes held, < cap */
	size_t want;   /* bytes the whole text needs (snprintf's return) */
};

static inline struct kw_text kw_text_at(char *buf, size_t cap)
{
	buf[0] = '\0';
	return (struct kw_text){buf, cap, 0, 0};
}

/* Whether the text was cut: buf is too small for it (want + 1 is not). */
static inline bool kw_text_cut(const struct kw_text *t)
{
	return t->want > t->n;
}

/* Appends s[0..len), up to a NUL in it. */
static inline void kw_text_put(struct kw_text *t, const char *s, size_t len)
{
	const char *nul = len ? (const char *)memchr(s, '\0', len) : NULL;
	size_t room = t->cap - 1 - t->n;

	if (nul)
		len = (size_t)(nul - s);
	t->want += len;
	if (len > room)
		len = room;
	if (len)
		memcpy(t->p + t->n, s, len);
	t->n += len;
	t->p[t->n] = '\0';
}

static inline void kw_text_puts(struct kw_text *t, const char *s)
{
	kw_text_put(t, s, strlen(s));
}

static inline void kw_text_str(struct kw_text *t, struct kw_str s)
{
	kw_text_put(t, s.p, s.n);
}

/* The length (1..4) of the well-formed UTF-8 character at s, of which n
 * bytes are there to read (n >= 1), or 0 when it is not one: no overlong
 * form, no UTF-16 surrogate, nothing past U+10FFFF (what jansson takes). */
static inline size_t kw_utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	cp = s[0] & (0x7fu >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

#endif
