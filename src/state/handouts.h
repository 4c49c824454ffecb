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
 * Not thread-safe: one table per engine.
 */
#ifndef KW_STATE_HANDOUTS_H
#define KW_STATE_HANDOUTS_H

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

/* Who handed out key[0..n), or NULL. The result lives until the next put. */
const struct kw_handout *kw_handouts_get(const struct kw_handouts *h,
					 const char *key, size_t n);

#endif
