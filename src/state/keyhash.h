/*
 * keyhash.h - the key table's keyed hash: two NH passes over the key bytes
 * (NH-Toeplitz), then two keyed multiply-add-shifts of their results and
 * the length: 128 bits that stand for the key.
 *
 * The one idea: keys in a log are chosen by whoever sends requests, so the
 * table's hash must not let them pick colliding keys (hash flooding), and
 * the table keeps no key bytes at all (state/keytab.h), so two different
 * keys must never get the same 128 bits. A universal hash family with a
 * random member per table gives both with a proof, and costs a fraction of
 * a PRF such as SipHash-2-4 (two multiplies per 16 bytes instead of eight
 * rounds per 8): about 260 instructions for a 107-byte Stripe key.
 *
 *   NH (Black, Halevi, Krawczyk, Krovetz, Rogaway: "UMAC: Fast and Secure
 *   Message Authentication", CRYPTO 1999): the key padded with zeros to a
 *   multiple of 16 bytes, read as 64-bit words m_i, gives
 *   NH_K(m) = sum_i (m_2i + K_2i mod 2^64) * (m_2i+1 + K_2i+1 mod 2^64)
 *   mod 2^128, which for two different keys of the same padded length
 *   collides with probability at most 2^-64 over the random K (UMAC,
 *   Theorem 4.2). The second pass uses the same words shifted by two
 *   (K_2, K_3, ...: the Toeplitz construction, UMAC section 4.3), and both
 *   collide together with probability at most 2^-128.
 *   Vector multiply-add-shift (Dietzfelbinger 1996; Thorup, "High Speed
 *   Hashing for Integers and Strings", 2015, section 3.3): with random
 *   128-bit a_0..a_4 and b, the top 64 bits of sum_j a_j * x_j + b
 *   (mod 2^128) are strongly universal over 64-bit inputs x_j. Its input is
 *   the two NH results' halves and the key's length, so keys that differ
 *   only in trailing zero padding, or in length at all, are separated
 *   here; h[0] and h[1] come from two independent sets of multipliers.
 *
 * Bounds, for keys of up to KW_KEYHASH_MAX_LEN bytes chosen without
 * knowledge of the seed: two different keys get the same 128 bits with
 * probability at most 2^-128 (both NH passes equal) + 2^-128 (both
 * multiply-add-shifts equal on different inputs) = 2^-127, so among n keys
 * some two share them with probability at most n^2 * 2^-128 (below 2^-68
 * for the 2^30 keys a table can hold); and the same b-bit bucket of h[0]
 * with at most 2^-64 + 2^-b. The hash values are never shown anywhere
 * (state files hold SHA-256 fingerprints), so nothing tells an attacker
 * about the seed. The key material (the NH words and the multipliers,
 * 752 bytes) is drawn from the table's 16-byte random seed with SipHash-2-4
 * in counter mode. Words are read in host byte order: the map from bytes
 * to words only has to be one-to-one.
 */
#ifndef KW_STATE_KEYHASH_H
#define KW_STATE_KEYHASH_H

#include <stddef.h>
#include <stdint.h>

#define KW_KEYHASH_MAX_LEN 512 /* longest key hashed (KW_KEY_MAX_LEN) */

struct kw_keyhash_key {
	/* the first pass reads words 0.., the second words 2.. */
	uint64_t nh[KW_KEYHASH_MAX_LEN / 8 + 2];
	/* 128-bit multipliers ([0] low, [1] high) of h[i]'s five inputs */
	uint64_t a[2][5][2];
	uint64_t b[2][2];
};

/* Derive the key material from a 16-byte seed (SipHash-2-4 of a counter).
 */
void kw_keyhash_init(struct kw_keyhash_key *k, const uint8_t seed[16]);

/* The 128-bit hash of data[0..n) into h (data may be NULL when n is 0).
 * Only the first KW_KEYHASH_MAX_LEN bytes go through NH, so the guarantee
 * above holds for keys up to that length; the key table takes no longer
 * ones. */
void kw_keyhash(const struct kw_keyhash_key *k, const void *data, size_t n,
		uint64_t h[2]);

#endif
