/*
 * keyhash.c - NH-Toeplitz, then vector multiply-add-shift (keyhash.h says
 * why).
 */
#include "state/keyhash.h"

#include <string.h>

#include "state/siphash.h"

#ifndef __SIZEOF_INT128__
#error "keyhash.c needs a compiler with unsigned __int128"
#endif
__extension__ typedef unsigned __int128 u128;

_Static_assert(KW_KEYHASH_MAX_LEN % 16 == 0, "NH reads 16-byte blocks");

void kw_keyhash_init(struct kw_keyhash_key *k, const uint8_t seed[16])
{
	uint64_t *w = (uint64_t *)k;
	size_t nwords = sizeof(*k) / sizeof(uint64_t);

	_Static_assert(sizeof(*k) % sizeof(uint64_t) == 0, "whole words");
	for (uint64_t i = 0; i < nwords; i++) {
		uint8_t ctr[8];

		for (int b = 0; b < 8; b++)
			ctr[b] = (uint8_t)(i >> (8 * b));
		w[i] = kw_siphash(ctr, sizeof(ctr), seed);
	}
}

static inline uint64_t load64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* The top 64 bits of sum_j a[j] * x[j] + b mod 2^128, a[j] and b 128-bit
 * ([0] low, [1] high). a[j] * x[j] mod 2^128 is a[j][0] * x[j] (128 bits)
 * plus a[j][1] * x[j] (mod 2^64) shifted up 64: the high words only add to
 * the top half, so they are summed apart, 64 bits wide, and added once. */
static inline uint64_t mas(const uint64_t a[5][2], const uint64_t b[2],
			   const uint64_t x[5])
{
	u128 lo = ((u128)b[1] << 64) | b[0];
	uint64_t hi = 0;

#pragma GCC unroll 5
	for (int j = 0; j < 5; j++) {
		lo += (u128)a[j][0] * x[j];
		hi += a[j][1] * x[j];
	}
	return (uint64_t)(lo >> 64) + hi;
}

void kw_keyhash(const struct kw_keyhash_key *k, const void *data, size_t n,
		uint64_t h[2])
{
	const unsigned char *p = data;
	const uint64_t *kw = k->nh;
	u128 nh0 = 0, nh1 = 0;
	uint64_t m0, m1, x[5];
	size_t i = 0, m = n < KW_KEYHASH_MAX_LEN ? n : KW_KEYHASH_MAX_LEN;

	for (; i + 16 <= m; i += 16, kw += 2) {
		m0 = load64(p + i);
		m1 = load64(p + i + 8);
		nh0 += (u128)(m0 + kw[0]) * (uint64_t)(m1 + kw[1]);
		nh1 += (u128)(m0 + kw[2]) * (uint64_t)(m1 + kw[3]);
	}
	if (i < m) {
		if (m >= 16) {
			/* the tail as the top of the 16 bytes that end at m,
			 * shifted down: the same words as the tail copied
			 * into zeros */
			u128 v = ((u128)load64(p + m - 8) << 64) |
				 load64(p + m - 16);

			v >>= 8 * (16 - (m - i));
			m0 = (uint64_t)v;
			m1 = (uint64_t)(v >> 64);
		} else {
			unsigned char last[16] = {0};

			memcpy(last, p + i, m - i);
			m0 = load64(last);
			m1 = load64(last + 8);
		}
		nh0 += (u128)(m0 + kw[0]) * (uint64_t)(m1 + kw[1]);
		nh1 += (u128)(m0 + kw[2]) * (uint64_t)(m1 + kw[3]);
	}
	x[0] = (uint64_t)nh0;
	x[1] = (uint64_t)(nh0 >> 64);
	x[2] = (uint64_t)nh1;
	x[3] = (uint64_t)(nh1 >> 64);
	x[4] = (uint64_t)n;
	h[0] = mas(k->a[0], k->b[0], x);
	h[1] = mas(k->a[1], k->b[1], x);
}
