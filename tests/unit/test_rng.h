/*
 * test_rng.h - the tests' random numbers: xorshift64* from a fixed seed,
 * so every run sees the same inputs. Header-only (static), one generator
 * per test program; set rng_state before use.
 */
#ifndef KW_TESTS_TEST_RNG_H
#define KW_TESTS_TEST_RNG_H

#include <stddef.h>
#include <stdint.h>

static uint64_t rng_state;

static inline uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

/* 0 .. n-1 (0 when n is 0) */
static inline size_t rnd_below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

#endif
