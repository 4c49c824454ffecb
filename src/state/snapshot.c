/*
 * snapshot.c - learned state on disk and the pending table it loads into
 * (layout and rules in snapshot.h).
 *
 * The one idea: a record is kept in the file's own compact form, and a
 * loaded file is the table's storage. Loading maps the file, checks its
 * checksum over the mapping in one pass, then checks and indexes each
 * record where it lies: nothing is copied, and nothing is decoded twice
 * (a record's state is decoded once to be checked, and once more into its
 * key when the key comes back). The index maps a fingerprint to a record
 * by open addressing with a keyed hash (a hostile file cannot make its
 * fingerprints collide). Records put while running (an evicted key's
 * state), records of version 1 and 2 files and records of a file whose
 * sections are not the owner's (moved: each family's bytes copied to where
 * they are now, a family of another layout version left zero) are encoded
 * into their own allocations; taking a record frees those, so memory moves
 * from the pending table to the key table as saved keys come back.
 */
#include "state/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>
#include <zlib.h>

#include "core/file.h"
#include "core/le.h"
#include "core/log.h"
#include "core/time.h"
#include "state/siphash.h"

#define MAGIC "KWSTATE"	  /* 8 bytes with its NUL */
#define END_MAGIC "END\n" /* 4 bytes, no NUL */
#define HEADER_SIZE 24
#define TRAILER_SIZE 16
#define META_SIZE 24	/* first and last seen, events */
#define RELEARN_SIZE 16 /* version 4: the sections learning again, since */
#define HEAD3 (8 + META_SIZE)	     /* a version 3 record before its state */
#define HEAD4 (HEAD3 + RELEARN_SIZE) /* version 4, and records in memory */
#define OLD_FP 16		     /* versions 1 and 2: hex digits */
#define WRITE_BUF ((size_t)1 << 20)
#define LOAD_BATCH 64
#define STATE_MAX ((size_t)1 << 20) /* bytes of one key's state */
#define FOREIGN_PLANS 4		    /* other layouts' plans kept */

/* The shape of a record: its state's bytes, 8-byte words and bitmap
 * bytes, and the bytes before its bitmap (HEAD3 or HEAD4). */
struct geom {
	size_t state_size;
	size_t words;
	size_t bitmap;
	size_t head;
};

/* A layout as kept: its sections and their names, copied. */
struct layout {
	struct kw_snap_section *sec; /* n, names in the same allocation */
	size_t n;
	size_t state_size;
	uint64_t hash;
};

/* A pending record: its fingerprint and where its encoded form is. */
struct slot {
	uint64_t fp;
	const unsigned char *rec; /* NULL: empty; TAKEN: a taken record */
};

struct kw_snapshot {
	uint64_t layout;
	size_t state_size;
	size_t words;  /* state_size in 8-byte words, rounded up */
	size_t bitmap; /* bytes of a record's word bitmap */
	size_t max;
	struct slot *index;
	size_t icap;
	size_t live;  /* records in the table */
	size_t taken; /* TAKEN slots */
	uint64_t dropped;
	uint8_t hkey[KW_SIPHASH_KEY_LEN]; /* the index's hash key */
	kw_snapshot_check_fn *check; /* NULL: the snapshot's own checks only */
	void *check_ctx;
	char *extra; /* the extra section as loaded (NUL-terminated), or NULL */
	size_t nextra;
	unsigned char *handouts; /* the keys handed out section, or NULL */
	size_t nhandouts;
	unsigned char *map; /* the file loaded, mapped, or NULL */
	size_t maplen;
	unsigned char *scratch; /* words * 8 bytes: a record decoded */
	unsigned char *recbuf;	/* rec_max bytes: a record encoded (keep),
				   made on first need */
	struct layout now;	/* n 0: no sections (kw_snapshot_create) */
	struct layout legacy;	/* n 0: none */
	/* now as a changelog record carries it (kw_snapshot_layout), or
	 * NULL without sections */
	unsigned char *enc;
	size_t nenc;
	/* The plans of the other layouts records came in lately
	 * (kw_snapshot_put_record_from), replaced in turn. */
	struct foreign {
		unsigned char *layout; /* its encoding; NULL: unused */
		size_t len;
		struct plan *plan; /* NULL: the owner's layout after all */
	} foreign[FOREIGN_PLANS];
	unsigned next_foreign;
};

/* A section as a file has it (the name in the mapping, not ended). */
struct file_sec {
	const unsigned char *name;
	size_t len;
	uint32_t version, offset, size;
};

/* What loading a file whose sections are not the owner's does: its
 * records' shape, the bytes moved from where they are in the file to
 * where they are now, and what to say once the file is in. */
enum note_kind { NOTE_OLDER, NOTE_NEWER, NOTE_NEW, NOTE_DROPPED };

struct move {
	size_t from, to, len;
	unsigned fsec, sec; /* the section's index in the file, and now */
	/* NULL: the bytes as they are; otherwise the section's upgrade
	 * from the file's older layout (struct kw_snap_section) */
	void (*upgrade)(const void *old, void *now);
};

struct plan {
	struct geom file;
	struct move moves[KW_SNAPSHOT_SECTIONS_MAX];
	size_t nmoves;
	size_t nsec;	  /* the file's sections */
	uint64_t restart; /* now's sections that start learning again */
	struct {
		enum note_kind kind;
		char name[KW_SNAPSHOT_NAME_MAX + 1];
	} notes[2 * KW_SNAPSHOT_SECTIONS_MAX];
	size_t nnotes;
	unsigned char *buf; /* file.words * 8 bytes: a record decoded */
};

static unsigned char taken_mark;
#define TAKEN (&taken_mark)

/* A record's meta at p: head bytes of it with the fingerprint (HEAD4:
 * with the sections learning again). */
static void put_meta(unsigned char *p, size_t head,
		     const struct kw_snap_meta *m)
{
	kw_le_put64(p, (uint64_t)m->first_seen);
	kw_le_put64(p + 8, (uint64_t)m->last_seen);
	kw_le_put64(p + 16, m->events);
	if (head == HEAD4) {
		kw_le_put64(p + 24, m->relearn);
		kw_le_put64(p + 32, (uint64_t)m->relearn_since);
	}
}

static void get_meta(const unsigned char *p, size_t head,
		     struct kw_snap_meta *m)
{
	m->first_seen = (int64_t)kw_le_get64(p);
	m->last_seen = (int64_t)kw_le_get64(p + 8);
	m->events = kw_le_get64(p + 16);
	m->relearn = head == HEAD4 ? kw_le_get64(p + 24) : 0;
	m->relearn_since = head == HEAD4 ? (int64_t)kw_le_get64(p + 32) : 0;
}

/* --- fingerprints -----------------------------------------------------------
 */

/* The 16 lower-case hex digits of a fingerprint as a number. */
static bool fp_parse(const char *fp, uint64_t *out)
{
	uint64_t v = 0;

	for (int i = 0; i < KW_SNAPSHOT_FP; i++) {
		char c = fp[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return false;
		v = v << 4 | d;
	}
	*out = v;
	return true;
}

/* --- records: [fp u64 | meta | bitmap | the state's non-zero words] -------
 */

/* Bits set in v (SWAR: no popcount instruction is assumed). */
static unsigned popcount64(uint64_t v)
{
	v = v - ((v >> 1) & 0x5555555555555555ull);
	v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
	v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)((v * 0x0101010101010101ull) >> 56);
}

/* Bits 64 * k .. 64 * k + 63 of a bitmap of n bytes. */
static uint64_t bitmap_word(const unsigned char *bm, size_t n, size_t k)
{
	uint64_t v = 0;
	size_t at = 8 * k, len = n - at < 8 ? n - at : 8;

	for (size_t i = 0; i < len; i++)
		v |= (uint64_t)bm[at + i] << (8 * i);
	return v;
}

static struct geom geom_of(size_t state_size, size_t head)
{
	struct geom g = {state_size, (state_size + 7) / 8, 0, head};

	g.bitmap = (g.words + 7) / 8;
	return g;
}

/* Records in the table are in version 4's form. */
static struct geom own_geom(const struct kw_snapshot *s)
{
	return (struct geom){s->state_size, s->words, s->bitmap, HEAD4};
}

/* Bytes of the encoded record at rec of a state of shape g. */
static size_t rec_len_of(const struct geom *g, const unsigned char *rec)
{
	const unsigned char *bm = rec + g->head;
	size_t nz = 0;

	for (size_t k = 0; 8 * k < g->bitmap; k++)
		nz += popcount64(bitmap_word(bm, g->bitmap, k));
	return g->head + g->bitmap + 8 * nz;
}

/* Bytes of the encoded record at rec (its bitmap says). */
static size_t rec_len(const struct kw_snapshot *s, const unsigned char *rec)
{
	struct geom g = own_geom(s);

	return rec_len_of(&g, rec);
}

static size_t rec_max(const struct kw_snapshot *s)
{
	return HEAD4 + s->bitmap + 8 * s->words;
}

/* Encode into out (g->head + g->bitmap + 8 * g->words bytes) in the
 * shape g; the length. */
static size_t encode(const struct geom *g, uint64_t fp,
		     const struct kw_snap_meta *m, const void *state,
		     unsigned char *out)
{
	const unsigned char *st = state;
	unsigned char *bm = out + g->head, *p = bm + g->bitmap;

	kw_le_put64(out, fp);
	put_meta(out + 8, g->head, m);
	memset(bm, 0, g->bitmap);
	for (size_t i = 0; i < g->words; i++) {
		uint64_t w = 0;
		size_t n =
			g->state_size - 8 * i < 8 ? g->state_size - 8 * i : 8;

		memcpy(&w, st + 8 * i, n);
		if (!w)
			continue;
		bm[i / 8] |= (unsigned char)(1u << (i % 8));
		memcpy(p, &w, 8);
		p += 8;
	}
	return (size_t)(p - out);
}

/* Decode a record of a state of shape g into out (g->words * 8 bytes). */
static void decode_into(const struct geom *g, const unsigned char *rec,
			unsigned char *out)
{
	const unsigned char *bm = rec + g->head, *p = bm + g->bitmap;

	memset(out, 0, g->words * 8);
	for (size_t k = 0; 8 * k < g->bitmap; k++) {
		uint64_t m = bitmap_word(bm, g->bitmap, k);

		for (; m; m &= m - 1) {
			size_t i = 64 * k + (size_t)__builtin_ctzll(m);

			memcpy(out + 8 * i, p, 8);
			p += 8;
		}
	}
}

/* Decode a record's state into state (state_size bytes). */
static void decode(const struct kw_snapshot *s, const unsigned char *rec,
		   void *state)
{
	struct geom g = own_geom(s);

	decode_into(&g, rec, s->scratch);
	if (state != s->scratch)
		memcpy(state, s->scratch, s->state_size);
}

/* --- layouts ---------------------------------------------------------------
 */

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static bool name_ok(const unsigned char *name, size_t len)
{
	if (!name || !len || len > KW_SNAPSHOT_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!name_char(name[i]))
			return false;
	}
	return true;
}

/* Whether sections (n of them, over a state of state_size bytes) follow
 * the rules of snapshot.h; why says what is wrong. */
static bool sections_ok(const struct file_sec *sec, size_t n, size_t state_size,
			char *why, size_t cap)
{
	uint64_t end = 0;

	if (!n || n > KW_SNAPSHOT_SECTIONS_MAX) {
		snprintf(why, cap, "%zu sections", n);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!name_ok(sec[i].name, sec[i].len)) {
			snprintf(why, cap,
				 "section %zu: a name that is not one", i + 1);
			return false;
		}
		if (sec[i].offset < end ||
		    (uint64_t)sec[i].offset + sec[i].size > state_size) {
			snprintf(why, cap,
				 "section %.*s: bytes %u to %llu overlap "
				 "another "
				 "or pass the state's %zu",
				 (int)sec[i].len, (const char *)sec[i].name,
				 (unsigned)sec[i].offset,
				 (unsigned long long)sec[i].offset +
					 sec[i].size,
				 state_size);
			return false;
		}
		end = (uint64_t)sec[i].offset + sec[i].size;
		for (size_t j = 0; j < i; j++) {
			/* Both names passed name_ok: not NULL. */
			if (sec[j].len == sec[i].len && sec[j].name &&
			    sec[i].name &&
			    !memcmp(sec[j].name, sec[i].name, sec[i].len)) {
				snprintf(why, cap, "section %.*s twice",
					 (int)sec[i].len,
					 (const char *)sec[i].name);
				return false;
			}
		}
	}
	return true;
}

/* A caller's layout as a file's sections are seen (out: n of them). */
static bool layout_ok(const struct kw_snap_layout *l, struct file_sec *out)
{
	char why[160];

	if (!l->n || l->n > KW_SNAPSHOT_SECTIONS_MAX ||
	    l->state_size > STATE_MAX)
		return false;
	for (size_t i = 0; i < l->n; i++) {
		const char *name = l->sections[i].name;

		out[i].name = (const unsigned char *)name;
		out[i].len = name ? strnlen(name, KW_SNAPSHOT_NAME_MAX + 1) : 0;
		out[i].version = l->sections[i].version;
		out[i].offset = l->sections[i].offset;
		out[i].size = l->sections[i].size;
	}
	return sections_ok(out, l->n, l->state_size, why, sizeof(why));
}

/* Copy l (already checked) into out: one allocation for the sections
 * and their names. */
static bool layout_copy(struct layout *out, const struct kw_snap_layout *l)
{
	size_t names = 0;
	char *p;

	for (size_t i = 0; i < l->n; i++)
		names += strlen(l->sections[i].name) + 1;
	out->sec = malloc(l->n * sizeof(*out->sec) + names);
	if (!out->sec)
		return false;
	p = (char *)(out->sec + l->n);
	for (size_t i = 0; i < l->n; i++) {
		size_t len = strlen(l->sections[i].name) + 1;

		out->sec[i] = l->sections[i];
		memcpy(p, l->sections[i].name, len);
		out->sec[i].name = p;
		p += len;
	}
	out->n = l->n;
	out->state_size = l->state_size;
	out->hash = l->hash;
	return true;
}

/* l's sections as a version 4 file has them (u32 count, then each
 * section's version, offset, size, name length and name) into out
 * (KW_SNAPSHOT_LAYOUT_MAX bytes or more): their length. */
static size_t sections_put(const struct kw_snap_layout *l, unsigned char *out)
{
	size_t off = 4;

	kw_le_put32(out, (uint32_t)l->n);
	for (size_t i = 0; i < l->n; i++) {
		size_t len = strlen(l->sections[i].name);

		kw_le_put32(out + off, l->sections[i].version);
		kw_le_put32(out + off + 4, l->sections[i].offset);
		kw_le_put32(out + off + 8, l->sections[i].size);
		out[off + 12] = (unsigned char)len;
		memcpy(out + off + 13, l->sections[i].name, len);
		off += 13 + len;
	}
	return off;
}

/* --- the pending table ------------------------------------------------------
 */

enum kw_status kw_snapshot_create(uint64_t layout, size_t state_size,
				  size_t max, struct kw_snapshot **out)
{
	struct kw_snapshot *s = NULL;
	size_t got = 0;

	*out = NULL;
	if (!max || state_size > STATE_MAX)
		return KW_EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return KW_ENOMEM;
	s->layout = layout;
	s->state_size = state_size;
	s->words = (state_size + 7) / 8;
	s->bitmap = (s->words + 7) / 8;
	s->max = max;
	s->scratch = malloc(s->words * 8 + 8);
	if (!s->scratch) {
		free(s);
		return KW_ENOMEM;
	}
	/* A random key for the index's hash; a fixed one only costs
	 * collision resistance against a hostile file. */
	while (got < sizeof(s->hkey)) {
		ssize_t r = getrandom(s->hkey + got, sizeof(s->hkey) - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	*out = s;
	return KW_OK;
}

enum kw_status kw_snapshot_create_layout(const struct kw_snap_layout *now,
					 const struct kw_snap_layout *legacy,
					 size_t max, struct kw_snapshot **out)
{
	struct file_sec check[KW_SNAPSHOT_SECTIONS_MAX];
	struct kw_snapshot *s = NULL;
	enum kw_status st;

	*out = NULL;
	if (!layout_ok(now, check) || (legacy && !layout_ok(legacy, check)))
		return KW_EINVAL;
	st = kw_snapshot_create(now->hash, now->state_size, max, &s);
	if (st != KW_OK)
		return st;
	s->enc = malloc(KW_SNAPSHOT_LAYOUT_MAX);
	if (!s->enc || !layout_copy(&s->now, now) ||
	    (legacy && !layout_copy(&s->legacy, legacy))) {
		kw_snapshot_destroy(s);
		return KW_ENOMEM;
	}
	kw_le_put32(s->enc, (uint32_t)now->state_size);
	s->nenc = 4 + sections_put(now, s->enc + 4);
	*out = s;
	return KW_OK;
}

const unsigned char *kw_snapshot_layout(const struct kw_snapshot *s,
					size_t *len)
{
	*len = s->nenc;
	return s->enc;
}

/* Whether rec is an allocation of its own (not in the mapped file). */
static bool owned(const struct kw_snapshot *s, const unsigned char *rec)
{
	return rec != TAKEN && rec &&
	       !(s->map && rec >= s->map && rec < s->map + s->maplen);
}

/* Forget every record and the file (a file that failed its checks). */
static void clear(struct kw_snapshot *s)
{
	for (size_t i = 0; i < s->icap; i++) {
		if (owned(s, s->index[i].rec))
			free((void *)s->index[i].rec);
	}
	free(s->index);
	s->index = NULL;
	s->icap = 0;
	s->live = 0;
	s->taken = 0;
	s->dropped = 0;
	free(s->extra);
	s->extra = NULL;
	s->nextra = 0;
	free(s->handouts);
	s->handouts = NULL;
	s->nhandouts = 0;
	if (s->map)
		munmap(s->map, s->maplen);
	s->map = NULL;
	s->maplen = 0;
}

static void foreign_free(struct foreign *f)
{
	if (f->plan)
		free(f->plan->buf);
	free(f->plan);
	free(f->layout);
	*f = (struct foreign){NULL, 0, NULL};
}

void kw_snapshot_destroy(struct kw_snapshot *s)
{
	if (!s)
		return;
	clear(s);
	free(s->scratch);
	free(s->recbuf);
	free(s->now.sec);
	free(s->legacy.sec);
	free(s->enc);
	for (size_t i = 0; i < FOREIGN_PLANS; i++)
		foreign_free(&s->foreign[i]);
	free(s);
}

static size_t slot_hash(const struct kw_snapshot *s, uint64_t fp)
{
	unsigned char b[8];

	kw_le_put64(b, fp);
	return (size_t)kw_siphash(b, sizeof(b), s->hkey);
}

/* The slot of fp's record, or of the free slot where it would go. */
static size_t slot_of(const struct kw_snapshot *s, uint64_t fp)
{
	size_t mask = s->icap - 1;
	size_t i = slot_hash(s, fp) & mask;

	while (s->index[i].rec &&
	       (s->index[i].rec == TAKEN || s->index[i].fp != fp))
		i = (i + 1) & mask;
	return i;
}

/* Room in the index for `more` more records (at most half full, counting
 * taken slots; rebuilt without them when it grows). */
static bool reserve(struct kw_snapshot *s, size_t more)
{
	struct slot *old = s->index;
	size_t oldcap = s->icap, icap;

	if ((s->live + s->taken + more) * 2 <= s->icap)
		return true;
	icap = s->icap ? s->icap : 128;
	while ((s->live + more) * 2 > icap)
		icap *= 2;
	s->index = calloc(icap, sizeof(*s->index));
	if (!s->index) {
		s->index = old;
		return false;
	}
	s->icap = icap;
	s->taken = 0;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].rec && old[i].rec != TAKEN)
			s->index[slot_of(s, old[i].fp)] = old[i];
	}
	free(old);
	return true;
}

/* Index an encoded record (rec: in the mapping, or owned, which this
 * takes over). false when the table is full: dropped and counted. */
static bool insert(struct kw_snapshot *s, uint64_t fp, const unsigned char *rec)
{
	size_t slot = s->icap ? slot_of(s, fp) : 0;

	if (s->icap && s->index[slot].rec) {
		if (owned(s, s->index[slot].rec))
			free((void *)s->index[slot].rec);
		s->index[slot].rec = rec;
		return true;
	}
	if (s->live >= s->max || !reserve(s, 1)) {
		s->dropped++;
		if (owned(s, rec))
			free((void *)rec);
		return false;
	}
	s->index[slot_of(s, fp)] = (struct slot){fp, rec};
	s->live++;
	return true;
}

/* Why a record was not kept (keep_bytes), into why when there is one. */
static enum kw_status not_kept(enum kw_status st, char *why, size_t cap)
{
	if (why)
		snprintf(why, cap, "%s",
			 st == KW_ENOMEM ? "out of memory"
					 : "more keys than max_keys");
	return st;
}

/* n bytes of a record in the owner's layout copied into an allocation of
 * their own and indexed. KW_ENOMEM (counted dropped) or KW_ETOOBIG (the
 * table full, counted by insert) when it is not kept, said in why when
 * why is not NULL. */
static enum kw_status keep_bytes(struct kw_snapshot *s, uint64_t fp,
				 const unsigned char *rec, size_t n, char *why,
				 size_t cap)
{
	unsigned char *copy = malloc(n);

	if (!copy) {
		s->dropped++;
		return not_kept(KW_ENOMEM, why, cap);
	}
	memcpy(copy, rec, n);
	return insert(s, fp, copy) ? KW_OK : not_kept(KW_ETOOBIG, why, cap);
}

/* A record encoded in the owner's layout from m and state (in the
 * snapshot's buffer), then kept as keep_bytes keeps it. */
static enum kw_status keep(struct kw_snapshot *s, uint64_t fp,
			   const struct kw_snap_meta *m, const void *state,
			   char *why, size_t cap)
{
	struct geom g = own_geom(s);

	if (!s->recbuf)
		s->recbuf = malloc(rec_max(s));
	if (!s->recbuf) {
		s->dropped++;
		return not_kept(KW_ENOMEM, why, cap);
	}
	return keep_bytes(s, fp, s->recbuf, encode(&g, fp, m, state, s->recbuf),
			  why, cap);
}

bool kw_snapshot_put(struct kw_snapshot *s, const char *fp,
		     const struct kw_snap_meta *m, const void *state)
{
	uint64_t v;

	if (!fp_parse(fp, &v)) {
		s->dropped++;
		return false;
	}
	return keep(s, v, m, state, NULL, 0) == KW_OK;
}

bool kw_snapshot_take(struct kw_snapshot *s, const char *fp,
		      struct kw_snap_meta *m, void *state)
{
	const unsigned char *rec;
	uint64_t v;
	size_t slot;

	if (!s->live || !fp_parse(fp, &v))
		return false;
	slot = slot_of(s, v);
	rec = s->index[slot].rec;
	if (!rec)
		return false;
	get_meta(rec + 8, HEAD4, m);
	decode(s, rec, state);
	if (owned(s, rec))
		free((void *)rec);
	s->index[slot].rec = TAKEN;
	s->live--;
	s->taken++;
	return true;
}

void kw_snapshot_set_check(struct kw_snapshot *s, kw_snapshot_check_fn *check,
			   void *ctx)
{
	s->check = check;
	s->check_ctx = ctx;
}

size_t kw_snapshot_count(const struct kw_snapshot *s)
{
	return s->live;
}

uint64_t kw_snapshot_dropped(const struct kw_snapshot *s)
{
	return s->dropped;
}

const char *kw_snapshot_extra(const struct kw_snapshot *s, size_t *len)
{
	*len = s->nextra;
	return s->extra ? s->extra : "";
}

const unsigned char *kw_snapshot_handouts(const struct kw_snapshot *s,
					  size_t *len)
{
	*len = s->nhandouts;
	return s->handouts;
}

/* --- one record at a time (the daemon's changelog) --------------------------
 */

size_t kw_snapshot_record_max(const struct kw_snapshot *s)
{
	return rec_max(s);
}

size_t kw_snapshot_encode(const struct kw_snapshot *s, const char *fp,
			  const struct kw_snap_meta *m, const void *state,
			  unsigned char *out)
{
	struct geom g = own_geom(s);
	uint64_t v;

	if (!fp_parse(fp, &v))
		return 0;
	return encode(&g, v, m, state, out);
}

/* --- loading ---------------------------------------------------------------
 */

/* Whether a record's times and state are ones keywatch could have written
 * (the state decoded in s->scratch); *why says what is wrong. */
static bool record_sane(const struct kw_snapshot *s,
			const struct kw_snap_meta *m, char *why, size_t cap)
{
	if (m->first_seen < KW_TIME_MIN || m->last_seen > KW_TIME_MAX ||
	    m->first_seen > m->last_seen) {
		snprintf(why, cap,
			 "first and last seen times out of order or "
			 "out of range");
		return false;
	}
	return !s->check || s->check(s->check_ctx, m, s->scratch, why, cap);
}

/* Version 3 and 4: the record at p (left bytes to the end of the records'
 * room) of a state of shape g: its length, or 0 with why. Its state is
 * decoded into out (g->words * 8 bytes). */
static size_t parse_rec(const struct geom *g, const unsigned char *p,
			size_t left, unsigned char *out, char *why, size_t cap)
{
	size_t len;

	if (left < g->head + g->bitmap) {
		snprintf(why, cap, "cut short");
		return 0;
	}
	if (g->words % 8 && p[g->head + g->bitmap - 1] >> (g->words % 8)) {
		snprintf(why, cap, "state words past the state's size");
		return 0;
	}
	len = rec_len_of(g, p);
	if (len > left) {
		snprintf(why, cap, "cut short");
		return 0;
	}
	decode_into(g, p, out);
	if (g->state_size % 8) {
		uint64_t tail = 0;

		memcpy(&tail, out + g->state_size, 8 - g->state_size % 8);
		if (tail) {
			snprintf(why, cap, "bytes past the state's size");
			return 0;
		}
	}
	return len;
}

/* Whether a version 4 record's learning again is one keywatch could have
 * written: only sections the file has (nsec of them), a time only with
 * some, and that time within the key's first and last seen. */
static bool relearn_ok(const struct kw_snap_meta *m, size_t nsec, char *why,
		       size_t cap)
{
	if (nsec < 64 && m->relearn >> nsec) {
		snprintf(why, cap,
			 "learning again in a section the file does not have");
		return false;
	}
	if (!m->relearn && m->relearn_since) {
		snprintf(why, cap,
			 "a time to learn again from, with nothing learning "
			 "again");
		return false;
	}
	if (m->relearn_since && (m->relearn_since < m->first_seen ||
				 m->relearn_since > m->last_seen)) {
		snprintf(why, cap,
			 "learning again since a time outside its first and "
			 "last seen");
		return false;
	}
	return true;
}

/* A record handed in alone (len bytes of shape g, version 4's): its
 * fingerprint into fp as soon as it has one, its state decoded into out
 * and its meta into *m; false with why. */
static bool parse_alone(const struct geom *g, const unsigned char *rec,
			size_t len, unsigned char *out, struct kw_snap_meta *m,
			char fp[KW_SNAPSHOT_FP + 1], char *why, size_t cap)
{
	size_t n;

	if (len < 8) {
		snprintf(why, cap, "cut short");
		return false;
	}
	snprintf(fp, KW_SNAPSHOT_FP + 1, "%016llx",
		 (unsigned long long)kw_le_get64(rec));
	n = parse_rec(g, rec, len, out, why, cap);
	if (!n)
		return false;
	if (n != len) {
		snprintf(why, cap, "%zu bytes past the record's end", len - n);
		return false;
	}
	get_meta(rec + 8, HEAD4, m);
	return true;
}

enum kw_status kw_snapshot_put_record(struct kw_snapshot *s,
				      const unsigned char *rec, size_t len,
				      char fp[KW_SNAPSHOT_FP + 1], char *why,
				      size_t cap)
{
	struct geom g = own_geom(s);
	struct kw_snap_meta m;

	fp[0] = '\0';
	if (len > rec_max(s)) {
		snprintf(why, cap, "%zu bytes, more than a record's %zu", len,
			 rec_max(s));
		return KW_ECORRUPT;
	}
	if (!parse_alone(&g, rec, len, s->scratch, &m, fp, why, cap))
		return KW_ECORRUPT;
	if (!record_sane(s, &m, why, cap) ||
	    !relearn_ok(&m, s->now.n, why, cap))
		return KW_ECORRUPT;
	return keep_bytes(s, kw_le_get64(rec), rec, len, why, cap);
}

bool kw_snapshot_forget(struct kw_snapshot *s, const char *fp)
{
	uint64_t v;
	size_t slot;

	if (!s->live || !fp_parse(fp, &v))
		return false;
	slot = slot_of(s, v);
	if (!s->index[slot].rec || s->index[slot].rec == TAKEN)
		return false;
	if (owned(s, s->index[slot].rec))
		free((void *)s->index[slot].rec);
	s->index[slot].rec = TAKEN;
	s->live--;
	s->taken++;
	return true;
}

/* A record of the plan's layout (its state in plan->buf, its meta in m)
 * as the owner's: the state in scratch, each family kept moved to where
 * its bytes are now, the rest zero; in m, the sections learning again as
 * the owner's (a family moved keeps its bit), and those the plan starts
 * again, from the key's next event (one time for all of them: the later,
 * so none stops learning early). */
static void move_record(const struct kw_snapshot *s, const struct plan *plan,
			struct kw_snap_meta *m)
{
	uint64_t bits = plan->restart;

	memset(s->scratch, 0, s->words * 8);
	for (size_t i = 0; i < plan->nmoves; i++) {
		const struct move *mv = &plan->moves[i];

		if (mv->upgrade)
			mv->upgrade(plan->buf + mv->from, s->scratch + mv->to);
		else
			memcpy(s->scratch + mv->to, plan->buf + mv->from,
			       mv->len);
		if (m->relearn >> mv->fsec & 1)
			bits |= UINT64_C(1) << mv->sec;
	}
	if (plan->restart || !bits)
		m->relearn_since = 0;
	m->relearn = bits;
}

/* A load's record moved and checked (scratch, m) kept: a file that does
 * not fit in memory is not loaded; past max_keys, records are dropped
 * and counted. */
static enum kw_status keep_loaded(struct kw_snapshot *s, uint64_t fp,
				  const struct kw_snap_meta *m,
				  const char *path, struct kw_error *err)
{
	if (keep(s, fp, m, s->scratch, NULL, 0) == KW_ENOMEM)
		return kw_error_set(err, KW_ENOMEM, "%s: out of memory", path);
	return KW_OK;
}

static enum kw_status damaged(struct kw_error *err, const char *path,
			      uint64_t i, uint64_t count, const char *why)
{
	return kw_error_set(err, KW_ECORRUPT,
			    "%s: state file damaged (record %llu of %llu: %s); "
			    "remove it to start learning again",
			    path, (unsigned long long)i + 1,
			    (unsigned long long)count, why);
}

/* The extra section at p (left bytes up to the trailer): u64 length and
 * the bytes; in version 4 (v4) then the keys handed out, the same way.
 * The last must end at the trailer. */
static enum kw_status read_extra(struct kw_snapshot *s, const unsigned char *p,
				 size_t left, bool v4, const char *path,
				 struct kw_error *err)
{
	size_t after = v4 ? 8 : 0; /* the handouts' length at least */
	uint64_t n, m = 0;

	if (left < 8 + after)
		return kw_error_set(err, KW_ECORRUPT,
				    "%s: state file damaged (extra section)",
				    path);
	n = kw_le_get64(p);
	if (n > KW_SNAPSHOT_EXTRA_MAX || (!v4 && n != left - 8) ||
	    (v4 && n > left - 8 - after))
		return kw_error_set(err, KW_ECORRUPT,
				    "%s: state file damaged (extra section of "
				    "%llu bytes)",
				    path, (unsigned long long)n);
	if (v4) {
		m = kw_le_get64(p + 8 + n);
		if (m != left - 16 - n || m > KW_SNAPSHOT_HANDOUTS_MAX)
			return kw_error_set(err, KW_ECORRUPT,
					    "%s: state file damaged (keys "
					    "handed out: a section of %llu "
					    "bytes)",
					    path, (unsigned long long)m);
	}
	s->extra = malloc((size_t)n + 1);
	s->handouts = m ? malloc((size_t)m) : NULL;
	if (!s->extra || (m && !s->handouts))
		return kw_error_set(err, KW_ENOMEM, "%s: out of memory", path);
	memcpy(s->extra, p + 8, (size_t)n);
	s->extra[n] = '\0';
	s->nextra = (size_t)n;
	if (m)
		memcpy(s->handouts, p + 16 + n, (size_t)m);
	s->nhandouts = (size_t)m;
	return KW_OK;
}

/* Version 3 and 4 records: indexed where they lie in the mapping, or,
 * with a plan, moved into the owner's layout. */
static enum kw_status load_v3(struct kw_snapshot *s, const unsigned char *body,
			      size_t size, uint64_t count, size_t head,
			      size_t nsec, const struct plan *plan,
			      const char *path, struct kw_error *err)
{
	struct slot batch[LOAD_BATCH];
	size_t batch_hash[LOAD_BATCH];
	struct geom g = plan ? plan->file : own_geom(s);
	enum kw_status st = KW_OK;
	size_t off = 0;
	char why[160];

	g.head = head;
	/* Every record is at least its head and bitmap. */
	if (count > size / (g.head + g.bitmap))
		return kw_error_set(err, KW_ECORRUPT,
				    "%s: state file damaged (record count)",
				    path);
	if (!reserve(s, count < s->max ? (size_t)count : s->max))
		return kw_error_set(err, KW_ENOMEM, "%s: out of memory", path);
	/* Moved: each checked in the owner's layout and encoded anew. */
	for (uint64_t i = 0; plan && i < count; i++) {
		const unsigned char *p = body + off;
		size_t len = parse_rec(&g, p, size - off, plan->buf, why,
				       sizeof(why));
		struct kw_snap_meta m;

		if (len)
			get_meta(p + 8, g.head, &m);
		if (len && !relearn_ok(&m, nsec, why, sizeof(why)))
			len = 0;
		else if (len)
			move_record(s, plan, &m);
		if (!len || !record_sane(s, &m, why, sizeof(why)))
			return damaged(err, path, i, count, why);
		off += len;
		st = keep_loaded(s, kw_le_get64(p), &m, path, err);
		if (st != KW_OK)
			return st;
	}
	/* Checked in file order, indexed a batch at a time: the slots of a
	 * batch are fetched before the first is written, so the cache
	 * misses of a large index overlap. */
	for (uint64_t i = 0; !plan && i < count;) {
		size_t n = 0;

		for (; n < LOAD_BATCH && i < count; n++, i++) {
			const unsigned char *p = body + off;
			size_t len = parse_rec(&g, p, size - off, s->scratch,
					       why, sizeof(why));
			struct kw_snap_meta m;

			if (len)
				get_meta(p + 8, g.head, &m);
			if (!len || !relearn_ok(&m, nsec, why, sizeof(why)) ||
			    !record_sane(s, &m, why, sizeof(why)))
				return damaged(err, path, i, count, why);
			off += len;
			batch[n].fp = kw_le_get64(p);
			batch[n].rec = p;
			batch_hash[n] = slot_hash(s, batch[n].fp);
			__builtin_prefetch(
				&s->index[batch_hash[n] & (s->icap - 1)]);
		}
		for (size_t k = 0; k < n; k++)
			insert(s, batch[k].fp, batch[k].rec);
	}
	return read_extra(s, body + off, size - off, head == HEAD4, path, err);
}

/* Versions 1 and 2: records of a fixed size, hex fingerprints; each is
 * checked and encoded into an allocation of its own (with a plan, moved
 * into the owner's layout first). */
static enum kw_status load_old(struct kw_snapshot *s, uint32_t version,
			       const unsigned char *body, size_t size,
			       uint64_t count, const struct plan *plan,
			       const char *path, struct kw_error *err)
{
	size_t fsize = plan ? plan->file.state_size : s->state_size;
	size_t rsize = OLD_FP + META_SIZE + fsize;
	size_t records = count <= size / rsize ? (size_t)count * rsize : 0;
	enum kw_status st;
	char why[160];

	if ((version == 1 && (size % rsize != 0 || size / rsize != count)) ||
	    (version == 2 && (count > size / rsize || size - records < 8)))
		return kw_error_set(err, KW_ECORRUPT,
				    "%s: state file damaged (record count)",
				    path);
	for (size_t i = 0; i < count; i++) {
		const unsigned char *r = body + i * rsize;
		struct kw_snap_meta m;
		uint64_t fp;

		get_meta(r + OLD_FP, HEAD3, &m);
		if (plan) {
			memset(plan->buf, 0, plan->file.words * 8);
			memcpy(plan->buf, r + OLD_FP + META_SIZE, fsize);
			move_record(s, plan, &m);
		} else {
			memset(s->scratch, 0, s->words * 8);
			memcpy(s->scratch, r + OLD_FP + META_SIZE, fsize);
		}
		if (!fp_parse((const char *)r, &fp))
			return damaged(err, path, i, count,
				       "fingerprint is not 16 hex digits");
		if (!record_sane(s, &m, why, sizeof(why)))
			return damaged(err, path, i, count, why);
		st = keep_loaded(s, fp, &m, path, err);
		if (st != KW_OK)
			return st;
	}
	if (version == 2)
		return read_extra(s, body + records, size - records, false,
				  path, err);
	return KW_OK;
}

/* Sections as a version 4 file has them at p (left bytes at most), over a
 * state of state_size bytes: into sec (*n of them), *used bytes; false
 * with why. */
static bool parse_sections(const unsigned char *p, size_t left,
			   size_t state_size, struct file_sec *sec, size_t *n,
			   size_t *used, char *why, size_t cap)
{
	size_t off = 4;
	uint32_t count;

	if (left < 4) {
		snprintf(why, cap, "sections");
		return false;
	}
	count = kw_le_get32(p);
	if (!count || count > KW_SNAPSHOT_SECTIONS_MAX) {
		snprintf(why, cap, "%u sections", (unsigned)count);
		return false;
	}
	for (uint32_t i = 0; i < count; i++) {
		if (left - off < 13 || left - off - 13 < p[off + 12]) {
			snprintf(why, cap, "sections cut short");
			return false;
		}
		sec[i].version = kw_le_get32(p + off);
		sec[i].offset = kw_le_get32(p + off + 4);
		sec[i].size = kw_le_get32(p + off + 8);
		sec[i].len = p[off + 12];
		sec[i].name = p + off + 13;
		off += 13 + sec[i].len;
	}
	if (!sections_ok(sec, count, state_size, why, cap))
		return false;
	*n = count;
	*used = off;
	return true;
}

/* A version 4 file's sections at p (left bytes before the trailer). */
static enum kw_status read_sections(const unsigned char *p, size_t left,
				    size_t state_size, struct file_sec *sec,
				    size_t *n, size_t *used, const char *path,
				    struct kw_error *err)
{
	char why[160];

	if (!parse_sections(p, left, state_size, sec, n, used, why,
			    sizeof(why)))
		return kw_error_set(err, KW_ECORRUPT,
				    "%s: state file damaged (%s)", path, why);
	return KW_OK;
}

static void note(struct plan *plan, enum note_kind kind,
		 const unsigned char *name, size_t len)
{
	if (plan->nnotes >= sizeof(plan->notes) / sizeof(plan->notes[0]))
		return;
	plan->notes[plan->nnotes].kind = kind;
	memcpy(plan->notes[plan->nnotes].name, name, len);
	plan->notes[plan->nnotes].name[len] = '\0';
	plan->nnotes++;
}

/*
 * How a file of sections file (n of them, over file_size bytes) is read by
 * the owner: *same when it is the owner's layout exactly (records read
 * where they lie); otherwise a plan of the bytes moved and what to say.
 * A family of the owner's version but of another size is damage.
 */
static bool make_plan(const struct kw_snapshot *s, const struct file_sec *file,
		      size_t n, size_t file_size, size_t head,
		      struct plan *plan, bool *same, char *why, size_t cap)
{
	const struct layout *now = &s->now;

	*same = n == now->n && file_size == s->state_size;
	for (size_t i = 0; *same && i < n; i++) {
		const struct kw_snap_section *o = &now->sec[i];

		*same = file[i].len == strlen(o->name) &&
			!memcmp(file[i].name, o->name, file[i].len) &&
			file[i].version == o->version &&
			file[i].offset == o->offset && file[i].size == o->size;
	}
	if (*same)
		return true;
	plan->file = geom_of(file_size, head);
	plan->nsec = n;
	for (size_t i = 0; i < now->n; i++) {
		const struct kw_snap_section *o = &now->sec[i];
		size_t len = strlen(o->name);
		const struct file_sec *f = NULL;

		for (size_t j = 0; j < n && !f; j++) {
			if (file[j].len == len &&
			    !memcmp(file[j].name, o->name, len))
				f = &file[j];
		}
		if (!f) {
			note(plan, NOTE_NEW, (const unsigned char *)o->name,
			     len);
			plan->restart |= UINT64_C(1) << i;
		} else if (o->upgrade && f->version + 1 == o->version &&
			   f->size == o->older_size) {
			plan->moves[plan->nmoves++] =
				(struct move){f->offset,   o->offset,
					      o->size,	   (unsigned)(f - file),
					      (unsigned)i, o->upgrade};
		} else if (f->version != o->version) {
			note(plan,
			     f->version < o->version ? NOTE_OLDER : NOTE_NEWER,
			     f->name, f->len);
			plan->restart |= UINT64_C(1) << i;
		} else if (f->size != o->size) {
			snprintf(why, cap,
				 "section %s: layout version %u of %u bytes, "
				 "this keywatch's is %u bytes",
				 o->name, (unsigned)o->version,
				 (unsigned)f->size, (unsigned)o->size);
			return false;
		} else if (o->size) {
			plan->moves[plan->nmoves++] =
				(struct move){f->offset,   o->offset,
					      o->size,	   (unsigned)(f - file),
					      (unsigned)i, NULL};
		}
	}
	for (size_t j = 0; j < n; j++) {
		bool known = false;

		for (size_t i = 0; i < now->n && !known; i++)
			known = file[j].len == strlen(now->sec[i].name) &&
				!memcmp(file[j].name, now->sec[i].name,
					file[j].len);
		if (!known)
			note(plan, NOTE_DROPPED, file[j].name, file[j].len);
	}
	return true;
}

/* A version 1 to 3 file's sections: the owner's legacy layout's. */
static void legacy_sections(const struct layout *l, struct file_sec *out)
{
	for (size_t i = 0; i < l->n; i++)
		out[i] = (struct file_sec){
			(const unsigned char *)l->sec[i].name,
			strlen(l->sec[i].name), l->sec[i].version,
			l->sec[i].offset, l->sec[i].size};
}

/* What a file read through a plan changed, said once it is in. */
static void tell(const struct plan *plan, const char *path)
{
	for (size_t i = 0; i < plan->nnotes; i++) {
		const char *name = plan->notes[i].name;

		switch (plan->notes[i].kind) {
		case NOTE_OLDER:
			kw_log_warn("state",
				    "learning for %s starts again: its state "
				    "in %s is from an older layout",
				    name, path);
			break;
		case NOTE_NEWER:
			kw_log_warn("state",
				    "learning for %s starts again: its state "
				    "in %s is from a newer layout (a later "
				    "keywatch wrote it)",
				    name, path);
			break;
		case NOTE_NEW:
			kw_log_info("state",
				    "learning for %s starts: %s holds no "
				    "state for it",
				    name, path);
			break;
		case NOTE_DROPPED:
			kw_log_info("state",
				    "%s: the state of %s, which this keywatch "
				    "does not have, is left out",
				    path, name);
			break;
		}
	}
}

/* --- records of another layout (the daemon's changelog) ----------------------
 */

/* The plan of the layout a record came with (len bytes as
 * kw_snapshot_layout makes them): one made lately, or made now (what it
 * changes said once, naming where); *plan NULL when it is the owner's.
 * KW_ECORRUPT with why when the layout breaks the rules; KW_ENOMEM. */
static enum kw_status foreign_plan(struct kw_snapshot *s,
				   const unsigned char *layout, size_t len,
				   const char *where, struct plan **plan,
				   char *why, size_t cap)
{
	struct file_sec sec[KW_SNAPSHOT_SECTIONS_MAX];
	struct foreign *f;
	size_t nsec = 0, used = 0, size;
	bool same = false;
	char sub[160];

	*plan = NULL;
	for (size_t i = 0; i < FOREIGN_PLANS; i++) {
		f = &s->foreign[i];
		if (f->layout && f->len == len &&
		    !memcmp(f->layout, layout, len)) {
			*plan = f->plan;
			return KW_OK;
		}
	}
	size = len >= 4 ? kw_le_get32(layout) : 0;
	if (len < 4 || size > STATE_MAX) {
		snprintf(why, cap, "its layout: a state of %zu bytes", size);
		return KW_ECORRUPT;
	}
	if (!parse_sections(layout + 4, len - 4, size, sec, &nsec, &used, sub,
			    sizeof(sub))) {
		snprintf(why, cap, "its layout: %s", sub);
		return KW_ECORRUPT;
	}
	if (used != len - 4) {
		snprintf(why, cap, "its layout: %zu bytes past its sections",
			 len - 4 - used);
		return KW_ECORRUPT;
	}
	f = &s->foreign[s->next_foreign];
	foreign_free(f);
	f->plan = calloc(1, sizeof(*f->plan));
	f->layout = malloc(len);
	if (!f->plan || !f->layout) {
		foreign_free(f);
		snprintf(why, cap, "out of memory");
		return KW_ENOMEM;
	}
	if (!make_plan(s, sec, nsec, size, HEAD4, f->plan, &same, sub,
		       sizeof(sub))) {
		foreign_free(f);
		snprintf(why, cap, "its layout: %s", sub);
		return KW_ECORRUPT;
	}
	if (same) {
		free(f->plan);
		f->plan = NULL;
	} else {
		f->plan->buf = malloc(f->plan->file.words * 8 + 8);
		if (!f->plan->buf) {
			foreign_free(f);
			snprintf(why, cap, "out of memory");
			return KW_ENOMEM;
		}
		if (where)
			tell(f->plan, where);
	}
	memcpy(f->layout, layout, len);
	f->len = len;
	s->next_foreign = (s->next_foreign + 1) % FOREIGN_PLANS;
	*plan = f->plan;
	return KW_OK;
}

enum kw_status kw_snapshot_put_record_from(struct kw_snapshot *s,
					   const unsigned char *layout,
					   size_t llen, const char *where,
					   const unsigned char *rec, size_t len,
					   char fp[KW_SNAPSHOT_FP + 1],
					   char *why, size_t cap)
{
	struct kw_snap_meta m;
	struct plan *plan;
	enum kw_status st;

	fp[0] = '\0';
	if (!layout || !s->now.n ||
	    (llen == s->nenc && !memcmp(layout, s->enc, llen)))
		return kw_snapshot_put_record(s, rec, len, fp, why, cap);
	st = foreign_plan(s, layout, llen, where, &plan, why, cap);
	if (st == KW_ENOMEM)
		s->dropped++; /* as put_record counts it */
	if (st != KW_OK)
		return st;
	if (!plan)
		return kw_snapshot_put_record(s, rec, len, fp, why, cap);
	if (!parse_alone(&plan->file, rec, len, plan->buf, &m, fp, why, cap) ||
	    !relearn_ok(&m, plan->nsec, why, cap))
		return KW_ECORRUPT;
	move_record(s, plan, &m);
	if (!record_sane(s, &m, why, cap))
		return KW_ECORRUPT;
	return keep(s, kw_le_get64(rec), &m, s->scratch, why, cap);
}

static enum kw_status other_detectors(struct kw_error *err, const char *path,
				      uint64_t layout, uint64_t expected)
{
	return kw_error_set(err, KW_ECORRUPT,
			    "%s: state file written with other detectors "
			    "(layout %016llx, expected %016llx); remove it to "
			    "start learning again",
			    path, (unsigned long long)layout,
			    (unsigned long long)expected);
}

/*
 * The whole file is mapped and its checksum checked first; then every
 * record is checked (a damaged or hostile one refuses the file, and the
 * table is emptied again). What is allocated is bounded by the table's
 * bound and the file's size. *moved: the records were moved into the
 * owner's layout (none points into the mapping).
 */
static enum kw_status read_mapped(struct kw_snapshot *s, const char *path,
				  bool *moved, struct kw_error *err)
{
	const unsigned char *h = s->map, *t, *body;
	struct file_sec sec[KW_SNAPSHOT_SECTIONS_MAX];
	size_t size = s->maplen, bsize, nsec = 0, used = 0, fsize;
	struct plan *plan = NULL;
	uint32_t version;
	uint64_t count, layout;
	bool same = true;
	enum kw_status st;

	if (size < HEADER_SIZE || memcmp(h, MAGIC, 8) != 0)
		return kw_error_set(err, KW_ECORRUPT,
				    "%s: not a keywatch state file", path);
	version = kw_le_get32(h + 8);
	if (version < 1 || version > KW_SNAPSHOT_VERSION)
		return kw_error_set(err, KW_ECORRUPT,
				    "%s: state file version %u, this keywatch "
				    "reads versions 1 to %u",
				    path, version, KW_SNAPSHOT_VERSION);
	t = h + size - TRAILER_SIZE;
	if (size < HEADER_SIZE + TRAILER_SIZE ||
	    memcmp(t + 12, END_MAGIC, 4) != 0)
		return kw_error_set(err, KW_ECORRUPT,
				    "%s: state file truncated", path);
	fsize = kw_le_get32(h + 12);
	layout = kw_le_get64(h + 16);
	if (fsize > STATE_MAX)
		return kw_error_set(err, KW_ECORRUPT,
				    "%s: state file damaged (a state of %zu "
				    "bytes)",
				    path, fsize);
	/* Without sections to go by, the layout is the header's: one of
	 * another layout is refused before anything else is read. */
	if ((version < 4 || !s->now.n) &&
	    !(fsize == s->state_size && layout == s->layout) &&
	    !(version < 4 && s->legacy.n && fsize == s->legacy.state_size &&
	      layout == s->legacy.hash))
		return other_detectors(err, path, layout, s->layout);
	if (kw_le_get32(t + 8) !=
	    (uint32_t)crc32_z(crc32(0, NULL, 0), h, size - 8))
		return kw_error_set(
			err, KW_ECORRUPT,
			"%s: state file damaged (checksum mismatch)", path);
	count = kw_le_get64(t);
	body = h + HEADER_SIZE;
	bsize = size - HEADER_SIZE - TRAILER_SIZE;
	if (version == 4) {
		st = read_sections(body, bsize, fsize, sec, &nsec, &used, path,
				   err);
		if (st != KW_OK)
			return st;
		body += used;
		bsize -= used;
	} else if (s->legacy.n &&
		   !(fsize == s->state_size && layout == s->layout)) {
		legacy_sections(&s->legacy, sec);
		nsec = s->legacy.n;
	}
	if ((nsec && s->now.n) || version == 3) {
		plan = calloc(1, sizeof(*plan));
		if (!plan)
			return kw_error_set(err, KW_ENOMEM, "%s: out of memory",
					    path);
	}
	if (nsec && s->now.n) {
		char why[160];

		if (!make_plan(s, sec, nsec, fsize,
			       version == 4 ? HEAD4 : HEAD3, plan, &same, why,
			       sizeof(why))) {
			st = kw_error_set(err, KW_ECORRUPT,
					  "%s: state file damaged (%s)", path,
					  why);
			goto cleanup;
		}
	}
	if (version == 3 && same) {
		/* Its records have no room for learning again: each is
		 * encoded anew, its state where it is. */
		plan->file = geom_of(fsize, HEAD3);
		plan->moves[0] = (struct move){0, 0, fsize, 0, 0, NULL};
		plan->nmoves = 1;
		same = false;
	}
	if (plan && !same) {
		plan->buf = malloc(plan->file.words * 8 + 8);
		if (!plan->buf) {
			st = kw_error_set(err, KW_ENOMEM, "%s: out of memory",
					  path);
			goto cleanup;
		}
	}
	*moved = !same || version < 3;
	if (version >= 3)
		st = load_v3(s, body, bsize, count,
			     version == 4 ? HEAD4 : HEAD3, nsec,
			     same ? NULL : plan, path, err);
	else
		st = load_old(s, version, body, bsize, count,
			      same ? NULL : plan, path, err);
	if (st == KW_OK && !same)
		tell(plan, path);
cleanup:
	if (plan)
		free(plan->buf);
	free(plan);
	return st;
}

enum kw_status kw_snapshot_load(struct kw_snapshot *s, const char *path,
				bool *found, struct kw_error *err)
{
	uint64_t size = 0;
	void *map;
	int fd = -1;
	bool moved = false;
	enum kw_status st;

	*found = false;
	clear(s);
	st = kw_file_open_read(path, 0, &fd, &size, err);
	if (st == KW_ENOTFOUND)
		return KW_OK; /* a first run */
	if (st != KW_OK)
		return st;
	*found = true;
	if (size == 0 || size > SIZE_MAX) {
		close(fd);
		return kw_error_set(err, KW_ECORRUPT,
				    "%s: not a keywatch state file", path);
	}
	map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return kw_error_set(err, KW_EIO, "%s: cannot map: %s", path,
				    strerror(errno));
	s->map = map;
	s->maplen = (size_t)size;
	madvise(map, (size_t)size, MADV_SEQUENTIAL);
	st = read_mapped(s, path, &moved, err);
	if (st != KW_OK) {
		clear(s);
		return st;
	}
	if (s->map) /* what is still mapped is read at random from now on */
		madvise(s->map, s->maplen, MADV_RANDOM);
	if ((moved || !s->live) && s->map) { /* nothing points into it */
		munmap(s->map, s->maplen);
		s->map = NULL;
		s->maplen = 0;
	}
	return KW_OK;
}

/* --- writing ---------------------------------------------------------------
 */

struct kw_snapshot_writer {
	struct kw_file_replace out;
	FILE *f;       /* the stream of out */
	struct geom g; /* of its records: version 3's or 4's */
	uint64_t count;
	uLong crc;
	bool failed;
	const char *extra; /* borrowed until commit */
	size_t nextra;
	const unsigned char *handouts; /* borrowed until commit */
	size_t nhandouts;
	unsigned char *buf; /* WRITE_BUF bytes, written when full */
	size_t len;
};

static void w_flush(struct kw_snapshot_writer *w)
{
	if (!w->failed && w->len && fwrite(w->buf, 1, w->len, w->f) != w->len)
		w->failed = true;
	if (w->len)
		w->crc = crc32_z(w->crc, w->buf, w->len);
	w->len = 0;
}

/* Room for n more bytes in the buffer (n <= WRITE_BUF). */
static unsigned char *w_room(struct kw_snapshot_writer *w, size_t n)
{
	if (w->len + n > WRITE_BUF)
		w_flush(w);
	return w->buf + w->len;
}

static void w_write(struct kw_snapshot_writer *w, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n) {
		size_t k = n < WRITE_BUF ? n : WRITE_BUF;

		memcpy(w_room(w, k), b, k);
		w->len += k;
		b += k;
		n -= k;
	}
}

/* Begin writing: version 3 without sections (l NULL: layout and
 * state_size), version 4 with l's. */
static enum kw_status write_begin(const char *path, uint64_t layout,
				  size_t state_size,
				  const struct kw_snap_layout *l,
				  struct kw_snapshot_writer **out,
				  struct kw_error *err)
{
	struct kw_snapshot_writer *w = NULL;
	unsigned char h[HEADER_SIZE];
	enum kw_status st = KW_OK;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return kw_error_set(err, KW_ENOMEM, "%s: out of memory", path);
	w->buf = malloc(WRITE_BUF);
	if (!w->buf) {
		free(w);
		return kw_error_set(err, KW_ENOMEM, "%s: out of memory", path);
	}
	st = kw_file_replace_begin(path, &w->out, err);
	if (st != KW_OK)
		goto cleanup;
	w->f = kw_file_replace_stream(&w->out);
	if (!w->f) {
		st = kw_error_set(err, KW_ENOMEM, "%s: out of memory", path);
		goto cleanup;
	}
	setvbuf(w->f, NULL, _IONBF, 0); /* the writer's buffer is enough */
	w->g = geom_of(state_size, l ? HEAD4 : HEAD3);
	w->crc = crc32(0, NULL, 0);
	memcpy(h, MAGIC, 8);
	kw_le_put32(h + 8, l ? KW_SNAPSHOT_VERSION : 3);
	kw_le_put32(h + 12, (uint32_t)state_size);
	kw_le_put64(h + 16, layout);
	w_write(w, h, sizeof(h));
	if (l) {
		unsigned char sec[KW_SNAPSHOT_LAYOUT_MAX];

		w_write(w, sec, sections_put(l, sec));
	}
cleanup:
	if (st != KW_OK)
		kw_snapshot_write_abort(w);
	else
		*out = w;
	return st;
}

enum kw_status kw_snapshot_write_begin(const char *path, uint64_t layout,
				       size_t state_size,
				       struct kw_snapshot_writer **out,
				       struct kw_error *err)
{
	return write_begin(path, layout, state_size, NULL, out, err);
}

enum kw_status kw_snapshot_write_begin_layout(
	const char *path, const struct kw_snap_layout *layout,
	struct kw_snapshot_writer **out, struct kw_error *err)
{
	struct file_sec check[KW_SNAPSHOT_SECTIONS_MAX];

	*out = NULL;
	if (!layout_ok(layout, check))
		return kw_error_set(err, KW_EINVAL,
				    "%s: a state layout that breaks the rules",
				    path);
	return write_begin(path, layout->hash, layout->state_size, layout, out,
			   err);
}

static void write_rec(struct kw_snapshot_writer *w, uint64_t v,
		      const struct kw_snap_meta *m, const void *state)
{
	size_t max = w->g.head + w->g.bitmap + 8 * w->g.words;

	if (max > WRITE_BUF) { /* never with keywatch's state sizes */
		unsigned char *tmp = malloc(max);

		if (!tmp) {
			w->failed = true;
			return;
		}
		w_write(w, tmp, encode(&w->g, v, m, state, tmp));
		free(tmp);
	} else {
		w->len += encode(&w->g, v, m, state, w_room(w, max));
	}
	w->count++;
}

void kw_snapshot_write_add(struct kw_snapshot_writer *w, const char *fp,
			   const struct kw_snap_meta *m, const void *state)
{
	uint64_t v;

	if (!fp_parse(fp, &v)) {
		w->failed = true;
		errno = EINVAL;
		return;
	}
	write_rec(w, v, m, state);
}

void kw_snapshot_write_extra(struct kw_snapshot_writer *w, const char *data,
			     size_t len)
{
	w->extra = data;
	w->nextra = len;
}

void kw_snapshot_write_handouts(struct kw_snapshot_writer *w,
				const unsigned char *data, size_t len)
{
	w->handouts = data;
	w->nhandouts = len;
}

/* The order records are written in: those of the file loaded as they lie
 * in it (read front to back), then those put since by fingerprint (their
 * addresses are malloc's: writing in their order would make the file's
 * bytes differ from run to run). */
struct rec_order {
	const unsigned char *rec;
	uint64_t key; /* the address in the map, or the fingerprint */
	int put;
};

static int by_place(const void *a, const void *b)
{
	const struct rec_order *x = a, *y = b;

	if (x->put != y->put)
		return x->put - y->put;
	return x->key < y->key ? -1 : x->key > y->key;
}

void kw_snapshot_write_pending(struct kw_snapshot_writer *w,
			       const struct kw_snapshot *s)
{
	struct geom g = own_geom(s);
	struct rec_order *order;
	size_t n = 0;

	if (s->state_size != w->g.state_size) {
		w->failed = true;
		errno = EINVAL;
		return;
	}
	order = malloc((s->live ? s->live : 1) * sizeof(*order));
	if (!order) {
		w->failed = true;
		errno = ENOMEM;
		return;
	}
	for (size_t i = 0; i < s->icap; i++) {
		const unsigned char *r = s->index[i].rec;

		if (!r || r == TAKEN)
			continue;
		order[n].rec = r;
		order[n].put = owned(s, r);
		order[n].key =
			order[n].put ? kw_le_get64(r) : (uint64_t)(r - s->map);
		n++;
	}
	qsort(order, n, sizeof(*order), by_place);
	for (size_t i = 0; i < n; i++) {
		struct kw_snap_meta m;

		if (w->g.head == HEAD4) { /* as it is */
			w_write(w, order[i].rec, rec_len(s, order[i].rec));
			w->count++;
			continue;
		}
		/* Version 3 has no room for learning again. */
		get_meta(order[i].rec + 8, HEAD4, &m);
		decode_into(&g, order[i].rec, s->scratch);
		write_rec(w, kw_le_get64(order[i].rec), &m, s->scratch);
	}
	free(order);
}

enum kw_status kw_snapshot_write_commit(struct kw_snapshot_writer *w,
					struct kw_error *err)
{
	unsigned char t[TRAILER_SIZE], n8[8];
	enum kw_status st;

	if (w->nextra > KW_SNAPSHOT_EXTRA_MAX ||
	    w->nhandouts > KW_SNAPSHOT_HANDOUTS_MAX ||
	    (w->nhandouts && w->g.head != HEAD4)) {
		w->failed = true;
		errno = EFBIG;
	}
	kw_le_put64(n8, w->nextra);
	w_write(w, n8, 8);
	if (w->nextra)
		w_write(w, w->extra, w->nextra);
	if (w->g.head == HEAD4) {
		kw_le_put64(n8, w->nhandouts);
		w_write(w, n8, 8);
		if (w->nhandouts)
			w_write(w, w->handouts, w->nhandouts);
	}
	kw_le_put64(t, w->count);
	w_write(w, t, 8);
	w_flush(w);
	kw_le_put32(t + 8, (uint32_t)w->crc);
	memcpy(t + 12, END_MAGIC, 4);
	if (!w->failed && fwrite(t + 8, 1, 8, w->f) != 8)
		w->failed = true;
	if (w->failed) {
		st = kw_error_set(err, KW_EIO, "%s: cannot write: %s",
				  w->out.tmp, strerror(errno));
		kw_snapshot_write_abort(w);
		return st;
	}
	st = kw_file_replace_commit(&w->out, err);
	free(w->buf);
	free(w);
	return st;
}

void kw_snapshot_write_abort(struct kw_snapshot_writer *w)
{
	if (!w)
		return;
	kw_file_replace_abort(&w->out);
	free(w->buf);
	free(w);
}
