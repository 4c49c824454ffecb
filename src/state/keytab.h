/*
 * keytab.h - the per-key table: one entry per distinct API key, bounded,
 * least-recently-seen eviction, hashed with a per-table random seed.
 *
 * The one idea: the table is the only place that holds full key bytes after
 * the decoder, and it holds them only to tell keys apart exactly. They live
 * in the table's private part of each entry; the public struct kw_keyent
 * carries the fingerprint and the redacted id, and no function returns the
 * key bytes. They are wiped (explicit_bzero) before memory is freed.
 *
 * Entries are kept in a list from least to most recently seen (seen = passed
 * to kw_keytab_get). When the table holds max_keys keys, inserting a new key
 * first evicts the least recently seen one. The hash table grows by doubling
 * and rehashes incrementally, a couple of buckets per call (as redis's
 * dict.c does), so no single call pays for moving the whole table.
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

/*
 * One key. Owned by the table: valid until the key is evicted (the eviction
 * callback is the last time it is seen) or the table is destroyed. The
 * struct is 16-byte aligned and its size a multiple of 16; the detectors'
 * state area follows it (kw_keytab_state).
 */
struct kw_keyent {
	_Alignas(16) char fp[KW_KEY_FP_SIZE]; /* fingerprint, 16 hex + NUL */
	char id[KW_KEY_ID_MAX]; /* redacted id, NUL-terminated, safe to show */
	uint8_t kind;		/* enum kw_key_kind; 0 (unknown) on insert,
				   set by the engine from the model */
	uint8_t mode;		/* enum kw_key_mode; same */
	int64_t first_seen;	/* smallest ts passed to kw_keytab_get (us) */
	int64_t last_seen;	/* largest ts passed to kw_keytab_get (us) */
	uint64_t events;	/* number of kw_keytab_get calls for this key */
	const void *conf;	/* the config entry that matched, borrowed,
				   set by the engine; NULL on insert */
	uint32_t flags;		/* engine-owned; 0 on insert */
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
 * Create a table of at most max_keys keys (>= 1) with state_size bytes of
 * detector state per key (0 .. KW_KEYTAB_STATE_MAX). The hash's seed comes
 * from getrandom(2), or /dev/urandom when that is missing. *out is set on
 * KW_OK; free with kw_keytab_destroy. KW_EINVAL on bad sizes, KW_EIO when no
 * random seed can be read, KW_ENOMEM.
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
 * kw_keytab_get on a full table, or kw_keytab_evict_idle), so that its state
 * can be saved. The callback may read and copy the entry and its state; it
 * must not call back into the table. cb NULL removes it.
 */
void kw_keytab_on_evict(struct kw_keytab *t, kw_keytab_cb *cb, void *ctx);

/*
 * Find the key (n bytes, as written in the log) or insert it, and record
 * one request at time ts: events++, first_seen = min, last_seen = max, and
 * the key becomes the most recently seen. On insert the fingerprint and
 * redacted id are computed, kind, mode, conf, flags and the state area are
 * zero, first_seen = last_seen = ts, and *created (if not NULL) is true.
 * When the table is full, the least recently seen key is evicted first.
 *
 * *ent is owned by the table (see struct kw_keyent). The key bytes are
 * copied; the caller's buffer may be reused after the call.
 *
 * KW_EINVAL: empty key. KW_ETOOBIG: n > KW_KEY_MAX_LEN. KW_ENOMEM: a new
 * entry could not be allocated (nothing was evicted, the table is as it
 * was). On error *ent is NULL.
 */
enum kw_status kw_keytab_get(struct kw_keytab *t, const char *key, size_t n,
			     int64_t ts, struct kw_keyent **ent, bool *created);

/*
 * Evict, oldest first, the keys whose last_seen is before `before`, stopping
 * at the first least-recently-seen key that is not (so with events in time
 * order this is every idle key). Calls the eviction callback for each.
 * Returns how many were evicted; they are not added to kw_keytab_evicted.
 */
size_t kw_keytab_evict_idle(struct kw_keytab *t, int64_t before);

/*
 * The table's keyed hash of a key: kw_keyhash with the key material drawn
 * from the table's seed (state/keyhash.h). The engine may
 * use it to pick a shard; tests use it to check the seed.
 */
uint64_t kw_keytab_hash(const struct kw_keytab *t, const char *key, size_t n);

/* Keys in the table now. */
size_t kw_keytab_count(const struct kw_keytab *t);

/* Keys evicted because the table was full, since creation. */
uint64_t kw_keytab_evicted(const struct kw_keytab *t);

/*
 * Call cb for every entry, in an unspecified order. cb may change the
 * entry's public fields and state, but must not call back into the table.
 */
void kw_keytab_foreach(struct kw_keytab *t, kw_keytab_cb *cb, void *ctx);

/*
 * Bytes of one entry block for a key of keylen bytes, besides the detector
 * state: the 32-byte private header, the key bytes padded to 16, and the
 * 128-byte public struct. The bucket arrays add 8 to 16 bytes per key (one
 * pointer per bucket, 0.5 to 1 key per bucket; 24 while a rehash runs).
 */
size_t kw_keytab_entry_overhead(size_t keylen);

#endif
