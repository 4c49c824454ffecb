/*
 * handouts.h - keys handed out by other keys: AWS temporary credentials
 * returned by AssumeRole, GetSessionToken, GetFederationToken and the
 * like, remembered with the key and principal that asked for them, so an
 * alert about the child names its parent.
 *
 * The one idea: the table holds no key. A child key is remembered by a
 * 64-bit keyed hash (SipHash-2-4 under a random per-table seed), which
 * tells two keys apart and cannot be turned back into either; what it maps
 * to (the parent's redacted id and principal label) is safe to show.
 * Bounded: 4-way buckets, the oldest entry of a full bucket makes room, so
 * the table never grows and a flood of sessions only forgets old ones.
 *
 * Saved with the learned state (--state), so that a rescan that starts
 * from it still names a child's parent: the hash's seed is the table's
 * own and changes from run to run, so each entry also keeps the child's
 * fingerprint (core/key.h: what state files know keys by), computed when
 * it is put (a key handed out is rare). Loaded entries wait in a list
 * sorted by fingerprint; a key not found in the table is looked up there
 * by its fingerprint, once per key (a small cache of keys looked up in
 * vain spares the SHA-256 of the rest), and one found moves into the
 * table.
 *
 * Not thread-safe: one table per engine.
 */
#ifndef KW_STATE_HANDOUTS_H
#define KW_STATE_HANDOUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* What is known about the key that handed a key out. */
struct kw_handout {
	char id[64];	     /* its redacted id ("AKIA…MPLE") or label */
	char principal[128]; /* its principal's label ("123456789012:user/
				ann"), "" when unknown */
	int64_t ts;	     /* when (event time, us) */
};

struct kw_handouts;

/* A table of at most max entries (rounded down to a multiple of 4, at
 * least 4). *out is owned by the caller (kw_handouts_destroy). KW_EIO when
 * no random seed can be read, KW_ENOMEM. */
enum kw_status kw_handouts_create(size_t max, struct kw_handouts **out);
/* The same with a fixed seed (tests). */
enum kw_status kw_handouts_create_seeded(size_t max, const uint8_t seed[16],
					 struct kw_handouts **out);

/* NULL-safe. Wipes nothing secret: the table holds no key. */
void kw_handouts_destroy(struct kw_handouts *h);

/* Remember that the key child[0..n) (SECRET: only its hash is kept) was
 * handed out by *parent. A child seen again is updated in place. */
void kw_handouts_put(struct kw_handouts *h, const char *child, size_t n,
		     const struct kw_handout *parent);

/* Who handed out key[0..n), or NULL. The result lives until the next put
 * or get. */
const struct kw_handout *kw_handouts_get(struct kw_handouts *h, const char *key,
					 size_t n);

/* Entries held (in the table, and loaded ones not yet asked for). */
size_t kw_handouts_count(const struct kw_handouts *h);

/* Most bytes kw_handouts_save writes for a table of max entries. */
size_t kw_handouts_save_max(size_t max);

/*
 * Every entry, as bytes for a state file (*out malloc'ed, *len bytes):
 * u32 count, then per entry, by child fingerprint: u64 the fingerprint
 * (its 16 hex digits as a number), i64 ts, u8 id length (1 to 63), the
 * id, u8 principal length (0 to 127), the principal. No key: fingerprints,
 * and the parent's redacted id and label. Independent of the seed (the
 * same entries give the same bytes). KW_ENOMEM.
 */
enum kw_status kw_handouts_save(const struct kw_handouts *h,
				unsigned char **out, size_t *len);

/*
 * Take in what kw_handouts_save wrote (len bytes at p; they may be
 * damaged or hostile: every length, count and time is checked, ids and
 * labels are printable text without a control byte, fingerprints
 * distinct and in order). Entries past the table's size are dropped, the
 * newest kept. false with a short reason in why (cap bytes): nothing is
 * taken in. An entry put since is not replaced.
 */
bool kw_handouts_load(struct kw_handouts *h, const unsigned char *p, size_t len,
		      char *why, size_t cap);

#endif
