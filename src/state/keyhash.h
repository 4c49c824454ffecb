/*
 * keyhash.h - the key table's keyed hash: NH over the key bytes, then a
 * keyed multiply-add-shift of NH's 128-bit result and the length.
 *
 * The one idea: keys in a log are chosen by whoever sends requests, so the
 * table's hash must not let them pick colliding keys (hash flooding). A
 * universal hash family with a random member per table gives that with a
 * proof, and costs a fraction of a PRF such as SipHash-2-4 (a multiply per
 * 16 bytes instead of eight rounds per 8): about 110 instructions for a
 * 107-byte Stripe key against about 600.
 *
 *   NH (Black, Halevi, Krawczyk, Krovetz, Rogaway: "UMAC: Fast and Secure
 *   Message Authentication", CRYPTO 1999): the key padded with zeros to a
 *   multiple of 16 bytes, read as 64-bit words m_i, gives
 *   sum_i (m_2i + k_2i mod 2^64) * (m_2i+1 + k_2i+1 mod 2^64) mod 2^128,
 *   which for two different keys of the same padded length collides with
 *   probability at most 2^-64 over the random k (UMAC, Theorem 4.2).
 *   Vector multiply-add-shift (Dietzfelbinger 1996; Thorup, "High Speed
 *   Hashing for Integers and Strings", 2015, section 3.3): with random
 *   128-bit a0, a1, a2, b, the top 64 bits of a0*x0 + a1*x1 + a2*x2 + b
 *   (mod 2^128) are strongly universal over 64-bit inputs x. Its input is
 *   NH's two halves and the key's length, so keys that differ only in
 *   trailing zero padding, or in length at all, are separated here.
 *
 * Any two different keys of up to KW_KEYHASH_MAX_LEN bytes thus get the
 * same 64-bit hash with probability at most 2^-63, and the same b-bit
 * bucket (any b of the 64 bits) with at most 2^-64 + 2^-b, for keys chosen
 * without knowledge of the seed; the hash values are never shown anywhere
 * (state files hold SHA-256 fingerprints), so nothing tells an attacker
 * about the seed. The key material (the NH words and the multipliers,
 * 576 bytes) is drawn from the table's 16-byte random seed with SipHash-2-4
 * in counter mode. Words are read in host byte order: the map from bytes
 * to words only has to be one-to-one.
 */
#ifndef KW_STATE_KEYHASH_H
#define KW_STATE_KEYHASH_H

#include <stddef.h>
#include <stdint.h>

#define KW_KEYHASH_MAX_LEN 512 /* longest key hashed (KW_KEY_MAX_LEN) */

struct kw_keyhash_key {
	uint64_t nh[KW_KEYHASH_MAX_LEN / 8];
	uint64_t a[3][2]; /* 128-bit multipliers: [i][0] low, [i][1] high */
	uint64_t b[2];
};

/* Derive the key material from a 16-byte seed (SipHash-2-4 of a counter).
 */
void kw_keyhash_init(struct kw_keyhash_key *k, const uint8_t seed[16]);

/* The hash of data[0..n) (data may be NULL when n is 0). Only the first
 * KW_KEYHASH_MAX_LEN bytes go through NH, so the guarantee above holds for
 * keys up to that length; the key table takes no longer ones. */
uint64_t kw_keyhash(const struct kw_keyhash_key *k, const void *data, size_t n);

#endif
