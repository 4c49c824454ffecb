/*
 * distinct.h - how many distinct keys a run saw when its key table could
 * not hold them all at once: a key evicted and seen again is inserted
 * again, so the table's count of insertions overstates them, and keeping
 * every key seen would be memory without a bound.
 *
 * The one idea: a HyperLogLog sketch (Flajolet, Fusy, Gandouet and
 * Meunier, 2007) of 4,096 one-byte registers over the keys' fingerprints.
 * A key sets register r (the top 12 bits of its hash) to at least the rank
 * of the first 1 in the rest of the bits; the harmonic mean of 2^register
 * estimates the count, with a standard error of 1.04 / sqrt(4096), about
 * 1.6%, and linear counting (the registers still zero) where that is the
 * better estimate, below 2.5 times 4,096. The hash is of the fingerprint,
 * itself a hash of the key and the same in every run (never the key
 * table's random seed), and registers merge by their maximum: the same
 * input gives the same estimate in every run, whatever the shards and
 * threads.
 */
#ifndef KW_CORE_DISTINCT_H
#define KW_CORE_DISTINCT_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define KW_DISTINCT_BITS 12
#define KW_DISTINCT_REGS (1u << KW_DISTINCT_BITS)

struct kw_distinct {
	uint8_t reg[KW_DISTINCT_REGS]; /* zeroed: nothing seen */
};

/* splitmix64's finaliser: every bit of x moves every bit of the result. */
static inline uint64_t kw_distinct_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9u;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

/* Count a key by its fingerprint (its 16 hex digits: kw_key_fingerprint). */
static inline void kw_distinct_add(struct kw_distinct *d, const char *fp)
{
	uint64_t a, b, h, rest;
	unsigned rank;

	memcpy(&a, fp, sizeof(a));
	memcpy(&b, fp + 8, sizeof(b));
	h = kw_distinct_mix(a ^ kw_distinct_mix(b));
	rest = h << KW_DISTINCT_BITS;
	rank = rest ? (unsigned)__builtin_clzll(rest) + 1
		    : 64 - KW_DISTINCT_BITS + 1;
	if (rank > d->reg[h >> (64 - KW_DISTINCT_BITS)])
		d->reg[h >> (64 - KW_DISTINCT_BITS)] = (uint8_t)rank;
}

/* into counts what it counted and what from counted. */
static inline void kw_distinct_merge(struct kw_distinct *into,
				     const struct kw_distinct *from)
{
	for (unsigned i = 0; i < KW_DISTINCT_REGS; i++) {
		if (from->reg[i] > into->reg[i])
			into->reg[i] = from->reg[i];
	}
}

/* The estimate of the distinct fingerprints counted, rounded. */
static inline uint64_t kw_distinct_estimate(const struct kw_distinct *d)
{
	const double m = KW_DISTINCT_REGS;
	double sum = 0, e;
	unsigned zeros = 0;

	for (unsigned i = 0; i < KW_DISTINCT_REGS; i++) {
		sum += ldexp(1.0, -(int)d->reg[i]);
		zeros += !d->reg[i];
	}
	e = 0.7213 / (1 + 1.079 / m) * m * m / sum;
	if (e <= 2.5 * m && zeros)
		e = m * log(m / zeros);
	return (uint64_t)(e + 0.5);
}

#endif
