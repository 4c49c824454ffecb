/*
 * siphash.h - SipHash-2-4, the PRF that draws the key table's hash key
 * material from its random seed (keyhash.h), and the random seeds tables
 * are keyed with.
 *
 * The one idea: a keyed PRF turns one random 128-bit seed into as many
 * pseudo-random words as the table's universal hash needs (SipHash of a
 * counter), so the table stays flood-resistant from 16 bytes of entropy.
 * SipHash-2-4 as in Aumasson and Bernstein, "SipHash: a fast short-input PRF"
 * (2012): 64-bit output, key bytes 0..7 and 8..15 read as little-endian words
 * k0 and k1.
 */
#ifndef KW_STATE_SIPHASH_H
#define KW_STATE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define KW_SIPHASH_KEY_LEN 16

/* SipHash-2-4 of n bytes at data (data may be NULL when n is 0). */
uint64_t kw_siphash(const void *data, size_t n, const uint8_t key[16]);

/* A random key for a table's hash: getrandom(2), or /dev/urandom when that
 * is missing. KW_EIO when neither gives 16 bytes. */
enum kw_status kw_siphash_random_key(uint8_t seed[KW_SIPHASH_KEY_LEN]);

#endif
