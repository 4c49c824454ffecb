/*
 * keytab.h - the per-key table: one entry per distinct API key, bounded,
 * hashed with a per-table random seed; past its bound it evicts the key
 * worth least (a one-shot before a key with learned state, then the one
 * seen longest ago).
 *
 * The one idea: the table keeps no key bytes. A key is known by 128 bits
 * of a keyed universal hash (state/keyhash.h: two different keys share
 * them with probability at most 2^-127, for keys chosen without knowledge
 * of the table's random seed), so telling keys apart needs no copy of the
 * secret, nothing has to be wiped, and an entry is 128 bytes whatever the
 * key's length. The public struct kw_keyent carries the fingerprint and
 * the redacted id; no function returns anything from which the key could
 * be read back.
 *
 * Entries never move: a struct kw_keyent pointer stays valid until its key
 * is evicted or the table destroyed, however much the table grows.
 *
 * Eviction (kw_keytab_get of a new key on a full table) takes the key worth
 * least, by tier first, then the one seen longest ago (in insertion order
 * for keys not yet learned; among learned keys, the oldest last_seen of a
 * few sampled in the table's own order). Which key goes depends on the
 * input alone, never on the random seed. The tiers, from evicted first:
 *   0  a one-shot: one event, first and last seen less than an hour apart
 *   1  unsettled: a few events (fewer than KW_KEYTAB_BUSY), all within
 *      an hour of the first
 *   2  learned: seen over an hour or more (first_seen as the engine left
 *      it, so a key continued from a state file counts its whole past),
 *      or at least KW_KEYTAB_BUSY events
 *   3  configured: the engine set conf (a key named in the config)
 * so a flood of made-up keys, each used once, replaces other one-shots and
 * never a key with a baseline, while among keys of one tier the table
 * behaves like least-recently-seen.
 *
 * Not thread-safe: one table per shard, used by one thread.
 */
#ifndef KW_STATE_KEYTAB_H
#define KW_STATE_KEYTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/key.h"

/* Largest per-key detector state area, in bytes. */
#define KW_KEYTAB_STATE_MAX (1u << 20)
/* Most keys a table can be created for. */
#define KW_KEYTAB_MAX_KEYS (UINT32_C(1) << 30)
/* A key seen over this span of event time (us) or this many times is in
 * the learned tier (see the top of this file). */
#define KW_KEYTAB_SETTLED (INT64_C(3600) * 1000000)
#define KW_KEYTAB_BUSY 64
/* Unsettled keys, or learned keys, compared to choose one eviction. */
#define KW_KEYTAB_EVICT_SAMPLE 8

/* Bytes of a redacted id kept in the entry itself (NUL included): every
 * id kw_key_redact makes of a key not already redacted in the log fits
 * (at most 25 bytes); a longer one (a principal's label, a key that came
 * redacted) is kept whole apart (kw_keyent.id_long). */
#define KW_KEYENT_ID_INLINE 36

/*
 * One key. Owned by the table: valid until the key is evicted (the eviction
 * callback is the last time it is seen) or the table destroyed. The
 * struct is 16-byte aligned and its size a multiple of 16; the detectors'
 * state area follows it (kw_keytab_state). Read the id with kw_keyent_id
 * and set it with kw_keytab_set_id.
 */
struct kw_keyent {
	_Alignas(16) char fp[KW_KEY_FP_SIZE]; /* fingerprint, 16 hex + NUL */
	char id[KW_KEYENT_ID_INLINE]; /* redacted id, NUL-terminated, safe
					 to show; its first bytes when
					 id_long is set */
	uint8_t kind;  /* enum kw_key_kind; 0 (unknown) on insert,
		  set by the engine from the model */
	uint8_t mode;  /* enum kw_key_mode; same */
	uint8_t flags; /* engine-owned (KW_KEYENT_*); 0 on insert */
	/* Engine-owned, 0 on insert: the detector families (bit i: the
	 * engine's family i) learning this key again since relearn_since
	 * (us), because a state file held no state of their layout for it
	 * (engine/engine.c). */
	uint32_t relearn;
	/* 4 bytes free here, and 8 at the end, for the engine */
	int64_t first_seen; /* smallest ts passed to kw_keytab_get (us) */
	int64_t last_seen;  /* largest ts passed to kw_keytab_get (us) */
	uint64_t events;    /* number of kw_keytab_get calls for this key */
	const void *conf;   /* the config entry that matched, borrowed,
			       set by the engine; NULL on insert. Not NULL
			       puts the key in the configured tier */
	int64_t relearn_since;
	/* The whole id when it is longer than id holds, owned by the
	 * table (freed with the entry); NULL otherwise. A copy of the
	 * struct must copy the string too if it may outlive the entry. */
	const char *id_long;
};

/* The key's redacted id (NUL-terminated, safe to show). */
static inline const char *kw_keyent_id(const struct kw_keyent *ent)
{
	return ent->id_long ? ent->id_long : ent->id;
}

/* Flags the engine sets on an entry, for the detectors to read. */
enum {
	/* The entry is a principal's (an AWS role or user), learnt from
	 * every key that acts for it; id is the principal's label. */
	KW_KEYENT_PRINCIPAL = 1u << 0,
};

/* The detectors' state area: state_size bytes (as given to create), 16-byte
 * aligned, zeroed when the entry is created. Lives as long as the entry. */
static inline void *kw_keytab_state(struct kw_keyent *ent)
{
	return (void *)(ent + 1);
}

struct kw_keytab;

/* A callback over one entry; ctx is the caller's. */
typedef void kw_keytab_cb(void *ctx, struct kw_keyent *ent);

/*
 * Create a table of at most max_keys keys (1 .. KW_KEYTAB_MAX_KEYS) with
 * state_size bytes of detector state per key (0 .. KW_KEYTAB_STATE_MAX).
 * The hash's seed comes from getrandom(2), or /dev/urandom when that is
 * missing. *out is set on KW_OK; free with kw_keytab_destroy. KW_EINVAL on
 * bad sizes, KW_EIO when no random seed can be read, KW_ENOMEM.
 */
enum kw_status kw_keytab_create(size_t max_keys, size_t state_size,
				struct kw_keytab **out);

/* The same with a fixed seed (tests, reproducible benchmarks). */
enum kw_status kw_keytab_create_seeded(size_t max_keys, size_t state_size,
				       const uint8_t seed[16],
				       struct kw_keytab **out);

/*
 * Free the table and every entry, wiping key bytes first. The eviction
 * callback is NOT called. NULL-safe.
 */
void kw_keytab_destroy(struct kw_keytab *t);

/*
 * Set the callback called with each entry just before it is evicted (by
 * kw_keytab_get on a full table), so that its state can be saved. The
 * callback may read and copy the entry and its state; it must not call back
 * into the table. cb NULL removes it.
 */
void kw_keytab_on_evict(struct kw_keytab *t, kw_keytab_cb *cb, void *ctx);

/*
 * Set the key's redacted id to the NUL-terminated id (cut to KW_KEY_ID_MAX
 * - 1 bytes, never inside a UTF-8 sequence): in the entry when it fits,
 * else in an allocation of the table's. KW_ENOMEM: there was none, and
 * the entry keeps the id's first bytes.
 */
enum kw_status kw_keytab_set_id(struct kw_keytab *t, struct kw_keyent *ent,
				const char *id);

/*
 * Find the key (n bytes, as written in the log) or insert it, and record
 * one request at time ts: events++, first_seen = min, last_seen = max. On
 * insert the fingerprint and redacted id are computed, kind, mode, conf,
 * flags and the state area are zero, first_seen = last_seen = ts, and
 * *created (if not NULL) is true. When the table is full, the key worth
 * least is evicted first (see the top of this file).
 *
 * *ent is owned by the table (see struct kw_keyent). The key bytes are
 * not kept (only their hash); the caller's buffer may be reused after the
 * call.
 *
 * KW_EINVAL: empty key. KW_ETOOBIG: n > KW_KEY_MAX_LEN. KW_ENOMEM: a new
 * entry could not be allocated (nothing was evicted, the table is as it
 * was). On error *ent is NULL.
 */
enum kw_status kw_keytab_get(struct kw_keytab *t, const char *key, size_t n,
			     int64_t ts, struct kw_keyent **ent, bool *created);

/*
 * The same as kw_keytab_get with h the key's kw_keytab_hash, computed
 * before (to prefetch with it): h must be the hash of exactly those bytes.
 */
enum kw_status kw_keytab_get_hashed(struct kw_keytab *t, const uint64_t h[2],
				    const char *key, size_t n, int64_t ts,
				    struct kw_keyent **ent, bool *created);

/*
 * Hints, a few keys ahead of kw_keytab_get_hashed, so that a table bigger
 * than the caches does not stall on every key: kw_keytab_prefetch asks for
 * the index line of the key of hash h; kw_keytab_prefetch_entry, later
 * (once that line has come), for the lines of the entry it points to: the
 * entry's own and the first `lines` 64-byte lines of its state area.
 * They change nothing and read only the index line.
 */
void kw_keytab_prefetch(const struct kw_keytab *t, const uint64_t h[2]);
void kw_keytab_prefetch_entry(const struct kw_keytab *t, const uint64_t h[2],
			      size_t lines);

/*
 * The table's keyed hash of a key: kw_keyhash with the key material drawn
 * from the table's seed (state/keyhash.h), into h. A key hashed a moment
 * ago (one of the last few, 16 to 128 bytes) is taken from a memo instead:
 * the same 128 bits, without hashing again; the table keeps those few keys'
 * bytes for that only (wiped by kw_keytab_destroy). Tests use it to check
 * the seed.
 */
void kw_keytab_hash(struct kw_keytab *t, const char *key, size_t n,
		    uint64_t h[2]);

/* Keys in the table now. */
size_t kw_keytab_count(const struct kw_keytab *t);

/* Keys evicted because the table was full, since creation. */
uint64_t kw_keytab_evicted(const struct kw_keytab *t);

/*
 * Call cb for every entry, in the table's own order: the order keys were
 * inserted, an evicted key's place taken by the key that evicted it. It
 * depends on the input alone (never on the seed), so what a caller does
 * per key in this order is reproducible. cb may change the entry's public
 * fields and state, but must not call back into the table.
 */
void kw_keytab_foreach(struct kw_keytab *t, kw_keytab_cb *cb, void *ctx);

/*
 * Bytes of one entry besides the detector state, whatever the key's
 * length: a 16-byte private header (the key's 128-bit hash) and the
 * 112-byte public struct. An id longer than the entry holds takes an
 * allocation of its length on top (kw_keytab_set_id). The index adds 6.7
 * to 13.3 bytes per key (a 4-byte slot and a tag byte, 12 to a 64-byte
 * line, kept between 40% and 80% full).
 */
size_t kw_keytab_entry_overhead(void);

/* Bytes of memory the table uses now: its entries, the index (both
 * indexes while growing), longer ids, the queue of keys not yet learned
 * (4 bytes per key of max_keys). */
size_t kw_keytab_bytes(const struct kw_keytab *t);

#endif
