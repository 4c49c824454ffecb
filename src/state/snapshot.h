/*
 * snapshot.h - learned state on disk (`--state FILE`): per key fingerprint,
 * the key's detector state bytes and when it was first and last seen.
 *
 * The one idea: a state file is loaded into a pending table, not into the
 * key table. A key's saved state is taken out of the pending table and
 * copied into its fresh entry the first time the key is seen again; keys
 * not seen in a run stay pending and are written back unchanged, so one
 * quiet week does not forget a key. The pending table is bounded (the
 * config's max_keys); records beyond it are dropped and counted.
 *
 * File layout (all integers little-endian), version 4:
 *   header   "KWSTATE\0", u32 version (4), u32 state size, u64 layout
 *   sections u32 count (1 to KW_SNAPSHOT_SECTIONS_MAX), then per detector
 *            family with state, in the order of their bytes: u32 layout
 *            version, u32 offset, u32 size, u8 name length (1 to
 *            KW_SNAPSHOT_NAME_MAX), the name
 *   records  u64 fingerprint (its 16 hex digits as a number), i64
 *            first_seen, i64 last_seen, u64 events, u64 relearn (bit i:
 *            section i is learning again), i64 relearn_since (0: from
 *            the key's next event; else within first and last seen;
 *            0 when relearn is), then the state bytes
 *            as 8-byte words (the last one padded with zeros): a bitmap of
 *            one bit per word (word i in bit i % 8 of byte i / 8; bits past
 *            the last word zero) and every word that is not zero, in order
 *   extra    u64 length, that many bytes: what the owner keeps besides
 *            keys (the engine: the router's memory, as JSON text)
 *   handouts u64 length, that many bytes: the keys handed out by other
 *            keys, as state/handouts.h saves them (0: none)
 *   trailer  u64 record count, u32 CRC-32 of everything before it but
 *            the CRC, "END\n"
 * Version 3 is the same without the sections, the two relearn fields
 * and the keys handed out (a version 3 file is read into version 4's form, each
 * record encoded anew, and never read where it lies). Learned state is mostly
 * zeros (empty rings, unused places, hours never seen), so a record is a
 * fraction of the state's size. Versions 1 and 2 (each record a
 * 16-hex-digit fingerprint, the three times and the state bytes as they
 * are; version 1 without the extra section) are still read.
 *
 * Sections: each detector family's part of the state is named and carries
 * the version of its layout (kw_snap_layout), so that an upgrade that
 * changes one family's layout costs only that family's learning. Loading a
 * file whose sections differ from the owner's: a family whose section has
 * the owner's version is copied to where its bytes are now; one of
 * another version starts learning again (its bytes zero), with one warning
 * naming the file and the family ("learning for geo starts again: its
 * state in FILE is from an older layout"); a family the file has no
 * section for starts learning (a note); a section of a family the owner
 * does not have is dropped (a note). A family that starts again is marked
 * in each record (kw_snap_meta.relearn, from the key's next event), so
 * that its detectors stay in their learning period until they have
 * learnt again, instead of calling everything about a known key new;
 * marks already in the file follow their families to where they are now. A
 * version 1 to 3 file has no sections: it is read with the owner's layout when
 * its header's layout and state size are the owner's, and with the legacy
 * layout the owner gives (the sections of the layout those files were written
 * with) when they are that one's. A file of any other layout is refused. A
 * snapshot made without sections (kw_snapshot_create) reads a file only when
 * its header's layout and state size are the owner's, and writes version 3.
 *
 * Loading maps the file and reads it where it lies: the checksum in one
 * pass, then each record checked and indexed, nothing copied (a million
 * keys load in a fraction of a second); writing encodes into a large
 * buffer written in one call per megabyte.
 * The header's layout is a hash of the detector families' names and state
 * sizes (the engine computes it): without sections, a file written with
 * other detectors is refused rather than misread. Files are written to a
 * temporary file in the same directory (core/file.h: never through a planted
 * link, mode 0600), fsync'ed and renamed over the old one, so a crash leaves
 * the old file or the new one, never half of one. Fingerprints only: a state
 * file never holds a key.
 *
 * A checksum only proves that a file is whole, not that it is sane: every
 * record is checked before it is taken in (it lies within the file, no
 * bit or byte past the state's size is set, a fingerprint of 16 hex digits
 * in older versions, first and last seen in order and within event time's
 * range, and the state bytes through the check the owner sets, which asks
 * each detector family), and one that fails refuses the whole file with a
 * message naming the file and the record.
 */
#ifndef KW_STATE_SNAPSHOT_H
#define KW_STATE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define KW_SNAPSHOT_VERSION 4
#define KW_SNAPSHOT_SECTIONS_MAX 64
#define KW_SNAPSHOT_NAME_MAX 63 /* bytes of a section's name */
/* The extra section's bound: the router's memory (its dedup table holds
 * at most 32768 alerts, about 60 bytes each as text). */
#define KW_SNAPSHOT_EXTRA_MAX ((size_t)16 << 20)
#define KW_SNAPSHOT_FP 16 /* hex digits of a fingerprint */
/* The keys handed out section's bound (state/handouts.h: at most 16384
 * entries of at most 208 bytes, twice). */
#define KW_SNAPSHOT_HANDOUTS_MAX ((size_t)8 << 20)
/* Bytes of a layout as kw_snapshot_layout gives it, at most: the state's
 * size and the sections. */
#define KW_SNAPSHOT_LAYOUT_MAX                                                 \
	(8 + KW_SNAPSHOT_SECTIONS_MAX * (13 + KW_SNAPSHOT_NAME_MAX))

/* What is saved about a key besides its state bytes. */
struct kw_snap_meta {
	int64_t first_seen;
	int64_t last_seen;
	uint64_t events;
	/* The owner's sections (bit i: section i of its layout) whose
	 * families are learning again, from relearn_since (0: from the
	 * key's next event). Written by version 4 only; a file's marks are
	 * moved to the owner's sections when it is read. */
	uint64_t relearn;
	int64_t relearn_since;
};

/* One detector family's part of a key's state bytes. */
struct kw_snap_section {
	const char *name; /* the family's: 1 to KW_SNAPSHOT_NAME_MAX letters,
			     digits, '.', '_' or '-' (borrowed) */
	uint32_t version; /* of its layout: raised whenever the layout
			     changes, so that old state is not misread */
	uint32_t offset;  /* where its bytes start in the state */
	uint32_t size;	  /* its bytes */
	/* Optional: the family's bytes of the layout version before this
	 * one (older_size of them) made into this version's (now: size
	 * bytes, zeroed), so that a file of that layout carries the
	 * family's learning over instead of starting it again. NULL: it
	 * starts again. Any bytes may come; what it makes is checked like
	 * any record. */
	void (*upgrade)(const void *old, void *now);
	uint32_t older_size;
};

/* A layout of the state bytes: the sections (in the order of their
 * offsets, not overlapping, within state_size; names distinct), the
 * state's size, and the layout hash a file of it has in its header. */
struct kw_snap_layout {
	const struct kw_snap_section *sections; /* borrowed */
	size_t n;
	size_t state_size;
	uint64_t hash;
};

struct kw_snapshot;

/* An empty pending table for records of state_size bytes, at most max
 * records, without sections (see above). KW_ENOMEM, KW_EINVAL (max 0). */
enum kw_status kw_snapshot_create(uint64_t layout, size_t state_size,
				  size_t max, struct kw_snapshot **out);

/* The same with sections: records of now's layout. legacy (NULL: none) is
 * the layout version 1 to 3 files were written with, when it is not now's
 * (its sections' versions say which families are unchanged since). Both
 * are copied. KW_EINVAL when a layout breaks the rules above. */
enum kw_status kw_snapshot_create_layout(const struct kw_snap_layout *now,
					 const struct kw_snap_layout *legacy,
					 size_t max, struct kw_snapshot **out);

/* NULL-safe. */
void kw_snapshot_destroy(struct kw_snapshot *s);

/* Whether one record's state bytes (state_size of them, as loaded; they
 * may be damaged or hostile) are sane. false with a short reason in why
 * (cap bytes) refuses the file. */
typedef bool kw_snapshot_check_fn(void *ctx, const struct kw_snap_meta *m,
				  const void *state, char *why, size_t cap);

/* The check every loaded record goes through besides the snapshot's own
 * (NULL: none). ctx is borrowed. */
void kw_snapshot_set_check(struct kw_snapshot *s, kw_snapshot_check_fn *check,
			   void *ctx);

/*
 * Load path into s (which should be empty). A missing file is no error:
 * *found is false (a first run). A file that is not a state file,
 * truncated, damaged (checksum, its sections, or a record that fails its
 * checks), of another version or written with other detectors is
 * KW_ECORRUPT with a message naming the file; a family whose section is of
 * another layout version starts learning again, with a warning (above); an
 * unreadable one KW_EIO, and one that is not a regular file (a FIFO, a device)
 * KW_EINVAL, never a wait; KW_ENOMEM when memory runs out. Records past the
 * table's bound are dropped (counted in kw_snapshot_dropped).
 */
enum kw_status kw_snapshot_load(struct kw_snapshot *s, const char *path,
				bool *found, struct kw_error *err);

/* Add or replace the record of fingerprint fp (KW_SNAPSHOT_FP hex digits).
 * false when the table is full or memory ran out (the record is dropped
 * and counted). */
bool kw_snapshot_put(struct kw_snapshot *s, const char *fp,
		     const struct kw_snap_meta *m, const void *state);

/* Take the record of fp out of the table: copy it to *m and state
 * (state_size bytes) and forget it. false when there is none. */
bool kw_snapshot_take(struct kw_snapshot *s, const char *fp,
		      struct kw_snap_meta *m, void *state);

/* The extra section of the file loaded ("" with *len 0 when it had
 * none); owned by s, valid until it is destroyed. NUL-terminated. */
const char *kw_snapshot_extra(const struct kw_snapshot *s, size_t *len);

/* The keys handed out section of the file loaded (NULL with *len 0 when
 * it had none); owned by s. Not checked here: its owner checks it. */
const unsigned char *kw_snapshot_handouts(const struct kw_snapshot *s,
					  size_t *len);

/* Records pending, and records dropped because the table was full. */
size_t kw_snapshot_count(const struct kw_snapshot *s);
uint64_t kw_snapshot_dropped(const struct kw_snapshot *s);

/* --- one record at a time -------------------------------------------------
 *
 * What the daemon's changelog (a Kafka topic, daemon/changelog.c) moves
 * per key: one record in the form the file's records have (version 4, the
 * snapshot's own layout: the fingerprint as a u64, the meta with its
 * relearn marks, the bitmap and the non-zero words), alone. */

/* Bytes an encoded record takes at most: the bound of every record. */
size_t kw_snapshot_record_max(const struct kw_snapshot *s);

/* Encode one key's record into out (kw_snapshot_record_max bytes): its
 * length, 0 when fp is not KW_SNAPSHOT_FP lower-case hex digits. */
size_t kw_snapshot_encode(const struct kw_snapshot *s, const char *fp,
			  const struct kw_snap_meta *m, const void *state,
			  unsigned char *out);

/* Check one encoded record (len bytes; it may be damaged or hostile) as a
 * file's records are checked, then add it to the pending table (replacing
 * the fingerprint's record). Its fingerprint goes to fp as hex as soon as
 * the record has one ("" otherwise). KW_ECORRUPT with a reason in why
 * (cap bytes): too long, cut short, bits past the state, times or
 * learning again out of order, or refused by the owner's check;
 * KW_ETOOBIG when the table is full and KW_ENOMEM (both counted as
 * dropped). */
enum kw_status kw_snapshot_put_record(struct kw_snapshot *s,
				      const unsigned char *rec, size_t len,
				      char fp[KW_SNAPSHOT_FP + 1], char *why,
				      size_t cap);

/* The owner's layout as a record handed on alone carries it (so that a
 * keywatch of another layout can read the record: a changelog outlives
 * an upgrade): u32 the state's size, then the sections as a version 4
 * file has them. NULL (*len 0) for a snapshot without sections. Owned by
 * s. */
const unsigned char *kw_snapshot_layout(const struct kw_snapshot *s,
					size_t *len);

/* kw_snapshot_put_record of a record of layout (llen bytes, as
 * kw_snapshot_layout makes them; NULL: the owner's), read as a file of
 * that layout is: each family's bytes moved to where they are now, one of
 * another layout version upgraded or starting to learn again, and what
 * that changes said once a layout (with where, "changelog T/P", in place
 * of the file's name; NULL: not said). The plans of the last few layouts
 * are kept. Besides put_record's errors, KW_ECORRUPT when the layout
 * breaks the rules ("its layout: ..." in why). */
enum kw_status kw_snapshot_put_record_from(struct kw_snapshot *s,
					   const unsigned char *layout,
					   size_t llen, const char *where,
					   const unsigned char *rec, size_t len,
					   char fp[KW_SNAPSHOT_FP + 1],
					   char *why, size_t cap);

/* Forget fp's pending record: whether there was one. */
bool kw_snapshot_forget(struct kw_snapshot *s, const char *fp);

/* --- writing -------------------------------------------------------------- */

struct kw_snapshot_writer;

/* Start writing path (through a temporary file next to it, mode 0600):
 * version 3, without sections. KW_EIO with a message naming the file. */
enum kw_status kw_snapshot_write_begin(const char *path, uint64_t layout,
				       size_t state_size,
				       struct kw_snapshot_writer **out,
				       struct kw_error *err);

/* The same, version 4 with the sections of layout (KW_EINVAL when it
 * breaks the rules above). */
enum kw_status kw_snapshot_write_begin_layout(
	const char *path, const struct kw_snap_layout *layout,
	struct kw_snapshot_writer **out, struct kw_error *err);

/* One record. Errors are kept and reported by commit. */
void kw_snapshot_write_add(struct kw_snapshot_writer *w, const char *fp,
			   const struct kw_snap_meta *m, const void *state);

/* The extra section to write (borrowed until commit; at most
 * KW_SNAPSHOT_EXTRA_MAX bytes, else commit fails). */
void kw_snapshot_write_extra(struct kw_snapshot_writer *w, const char *data,
			     size_t len);

/* The keys handed out section to write (borrowed until commit; at most
 * KW_SNAPSHOT_HANDOUTS_MAX bytes, and version 4 only, else commit
 * fails). */
void kw_snapshot_write_handouts(struct kw_snapshot_writer *w,
				const unsigned char *data, size_t len);

/* Every record still pending in s. */
void kw_snapshot_write_pending(struct kw_snapshot_writer *w,
			       const struct kw_snapshot *s);

/* Finish: trailer, fsync, rename over path. Frees w in every case; on
 * error the temporary file is removed and the old file is left as it
 * was. */
enum kw_status kw_snapshot_write_commit(struct kw_snapshot_writer *w,
					struct kw_error *err);

/* Give up: remove the temporary file, free w. NULL-safe. */
void kw_snapshot_write_abort(struct kw_snapshot_writer *w);

#endif
