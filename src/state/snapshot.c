/*
 * snapshot.c - learned state on disk and the pending table it loads into
 * (layout and rules in snapshot.h).
 *
 * The one idea: records are kept in the file's own layout, each in its own
 * allocation, and an open-addressing index maps the 64 bits of a
 * fingerprint to a record. Loading streams the records in while the
 * checksum runs and drops them all again if it does not match at the end;
 * taking a record frees it, so memory moves from the pending table to the
 * key table as saved keys come back instead of being held twice.
 */
#include "state/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/file.h"
#include "core/time.h"

#define MAGIC "KWSTATE"	  /* 8 bytes with its NUL */
#define END_MAGIC "END\n" /* 4 bytes, no NUL */
#define HEADER_SIZE 24
#define TRAILER_SIZE 16
#define META_SIZE 24
#define GONE UINT32_MAX

struct kw_snapshot {
	uint64_t layout;
	size_t state_size;
	size_t rec_size; /* fingerprint + meta + state */
	size_t max;
	/* Open addressing over records, each its own allocation (freed when
	 * taken, so a key table that fills up as saved keys come back reuses
	 * the memory). A taken slot holds TAKEN so that probing goes on. */
	unsigned char **index;
	size_t icap;
	size_t live;  /* records in the table */
	size_t taken; /* TAKEN slots */
	uint64_t dropped;
	kw_snapshot_check_fn *check; /* NULL: the snapshot's own checks only */
	void *check_ctx;
	char *extra; /* the extra section as loaded (NUL-terminated), or NULL */
	size_t nextra;
};

static unsigned char taken_mark;
#define TAKEN (&taken_mark)

/* --- little-endian integers ------------------------------------------------
 */

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put_meta(unsigned char *p, const struct kw_snap_meta *m)
{
	put_u64(p, (uint64_t)m->first_seen);
	put_u64(p + 8, (uint64_t)m->last_seen);
	put_u64(p + 16, m->events);
}

static void get_meta(const unsigned char *p, struct kw_snap_meta *m)
{
	m->first_seen = (int64_t)get_u64(p);
	m->last_seen = (int64_t)get_u64(p + 8);
	m->events = get_u64(p + 16);
}

/* --- the pending table ------------------------------------------------------
 */

enum kw_status kw_snapshot_create(uint64_t layout, size_t state_size,
				  size_t max, struct kw_snapshot **out)
{
	struct kw_snapshot *s = NULL;

	*out = NULL;
	if (!max || state_size > (1u << 20))
		return KW_EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return KW_ENOMEM;
	s->layout = layout;
	s->state_size = state_size;
	s->rec_size = KW_SNAPSHOT_FP + META_SIZE + state_size;
	s->max = max;
	*out = s;
	return KW_OK;
}

void kw_snapshot_destroy(struct kw_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->icap; i++) {
		if (s->index[i] != TAKEN)
			free(s->index[i]);
	}
	free(s->index);
	free(s->extra);
	free(s);
}

static uint64_t fp_hash(const char *fp)
{
	uint64_t h = 0;

	for (int i = 0; i < KW_SNAPSHOT_FP; i++) {
		char c = fp[i];
		unsigned d = c >= 'a' ? (unsigned)(c - 'a' + 10)
				      : (unsigned)(c - '0');

		h = h << 4 | (d & 15);
	}
	/* Fingerprints are hash output already; spread them anyway. */
	h ^= h >> 31;
	h *= 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

/* The slot of fp's record, or of the free slot where it would go. */
static size_t slot_of(const struct kw_snapshot *s, const char *fp)
{
	size_t mask = s->icap - 1;
	size_t i = (size_t)fp_hash(fp) & mask;

	while (s->index[i] && (s->index[i] == TAKEN ||
			       memcmp(s->index[i], fp, KW_SNAPSHOT_FP) != 0))
		i = (i + 1) & mask;
	return i;
}

/* Room in the index for one more record (at most half full, counting
 * taken slots; rebuilt without them when it grows). */
static bool reserve(struct kw_snapshot *s)
{
	unsigned char **old = s->index, **idx;
	size_t oldcap = s->icap, icap;

	if ((s->live + s->taken + 1) * 2 <= s->icap)
		return true;
	icap = s->icap ? s->icap : 128;
	while ((s->live + 1) * 2 > icap / 2)
		icap *= 2;
	idx = calloc(icap, sizeof(*idx));
	if (!idx)
		return false;
	s->index = idx;
	s->icap = icap;
	s->taken = 0;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i] && old[i] != TAKEN)
			s->index[slot_of(s, (const char *)old[i])] = old[i];
	}
	free(old);
	return true;
}

bool kw_snapshot_put(struct kw_snapshot *s, const char *fp,
		     const struct kw_snap_meta *m, const void *state)
{
	unsigned char *r = NULL;
	size_t slot;

	if (s->icap) {
		slot = slot_of(s, fp);
		r = s->index[slot];
	}
	if (!r) {
		if (s->live >= s->max || !reserve(s) ||
		    !(r = malloc(s->rec_size))) {
			s->dropped++;
			return false;
		}
		s->index[slot_of(s, fp)] = r;
		s->live++;
	}
	memcpy(r, fp, KW_SNAPSHOT_FP);
	put_meta(r + KW_SNAPSHOT_FP, m);
	memcpy(r + KW_SNAPSHOT_FP + META_SIZE, state, s->state_size);
	return true;
}

bool kw_snapshot_take(struct kw_snapshot *s, const char *fp,
		      struct kw_snap_meta *m, void *state)
{
	unsigned char *r;
	size_t slot;

	if (!s->live)
		return false;
	slot = slot_of(s, fp);
	r = s->index[slot];
	if (!r)
		return false;
	get_meta(r + KW_SNAPSHOT_FP, m);
	memcpy(state, r + KW_SNAPSHOT_FP + META_SIZE, s->state_size);
	free(r);
	s->index[slot] = TAKEN;
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

/* Forget every record (a file that failed its checks late). */
static void clear(struct kw_snapshot *s)
{
	for (size_t i = 0; i < s->icap; i++) {
		if (s->index[i] != TAKEN)
			free(s->index[i]);
		s->index[i] = NULL;
	}
	s->live = 0;
	s->taken = 0;
	s->dropped = 0;
	free(s->extra);
	s->extra = NULL;
	s->nextra = 0;
}

/* --- loading ---------------------------------------------------------------
 */

/* Read exactly n bytes at the current position. */
static bool read_n(FILE *f, void *buf, size_t n)
{
	return fread(buf, 1, n, f) == n;
}

static bool is_fp(const unsigned char *p)
{
	for (int i = 0; i < KW_SNAPSHOT_FP; i++) {
		if (!((p[i] >= '0' && p[i] <= '9') ||
		      (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	}
	return true;
}

/* Whether record i (rec_size bytes at rec) is one keywatch could have
 * written; *why says what is wrong with it. */
static bool record_ok(const struct kw_snapshot *s, const unsigned char *rec,
		      char *why, size_t cap)
{
	struct kw_snap_meta m;

	if (!is_fp(rec)) {
		snprintf(why, cap, "fingerprint is not 16 hex digits");
		return false;
	}
	get_meta(rec + KW_SNAPSHOT_FP, &m);
	if (m.first_seen < KW_TIME_MIN || m.last_seen > KW_TIME_MAX ||
	    m.first_seen > m.last_seen) {
		snprintf(why, cap,
			 "first and last seen times out of order or "
			 "out of range");
		return false;
	}
	return !s->check ||
	       s->check(s->check_ctx, &m, rec + KW_SNAPSHOT_FP + META_SIZE, why,
			cap);
}

/*
 * Records are read one at a time into the table while the CRC runs over
 * them, so a big file is never held twice in memory; the trailer is read
 * (and the size checked) first, and a checksum that fails at the end, or
 * a record that is not sane, empties the table again. What is allocated
 * is bounded by the file's size and the table's bound (records past it
 * are not kept).
 */
/* Version 2's extra section, at the current position: u64 length and the
 * bytes, bounded; the CRC runs over both. */
static enum kw_status read_extra(struct kw_snapshot *s, FILE *f, uint64_t left,
				 uLong *crc, const char *path,
				 struct kw_error *err)
{
	unsigned char n8[8];
	uint64_t n;

	if (left < 8 || !read_n(f, n8, 8))
		return kw_error_set(err, KW_ECORRUPT,
				    "%s: state file damaged (extra section)",
				    path);
	n = get_u64(n8);
	if (n != left - 8 || n > KW_SNAPSHOT_EXTRA_MAX)
		return kw_error_set(err, KW_ECORRUPT,
				    "%s: state file damaged (extra section of "
				    "%llu bytes)",
				    path, (unsigned long long)n);
	*crc = crc32(*crc, n8, 8);
	s->extra = malloc((size_t)n + 1);
	if (!s->extra)
		return kw_error_set(err, KW_ENOMEM, "%s: out of memory", path);
	if (n && !read_n(f, s->extra, (size_t)n))
		return kw_error_set(err, KW_EIO, "%s: read failed", path);
	s->extra[n] = '\0';
	s->nextra = (size_t)n;
	*crc = crc32(*crc, (const unsigned char *)s->extra, (uInt)n);
	return KW_OK;
}

/*
 * Records are read one at a time into the table while the CRC runs over
 * them, so a big file is never held twice in memory; the trailer is read
 * (and the size checked) first, and a checksum that fails at the end, or
 * a record that is not sane, empties the table again. What is allocated
 * is bounded by the file's size and the table's bound (records past it
 * are not kept).
 */
enum kw_status kw_snapshot_read(struct kw_snapshot *s, FILE *f, uint64_t size,
				const char *path, struct kw_error *err)
{
	unsigned char h[HEADER_SIZE], t[TRAILER_SIZE];
	unsigned char *rec = NULL;
	uint64_t body, count, records;
	uint32_t version;
	uLong crc;
	char why[160];
	enum kw_status st = KW_OK;

	if (size < HEADER_SIZE || !read_n(f, h, sizeof(h)) ||
	    memcmp(h, MAGIC, 8) != 0) {
		st = kw_error_set(err, KW_ECORRUPT,
				  "%s: not a keywatch state file", path);
		goto cleanup;
	}
	version = get_u32(h + 8);
	if (version != 1 && version != KW_SNAPSHOT_VERSION) {
		st = kw_error_set(err, KW_ECORRUPT,
				  "%s: state file version %u, this keywatch "
				  "reads versions 1 to %u",
				  path, version, KW_SNAPSHOT_VERSION);
		goto cleanup;
	}
	if (size < HEADER_SIZE + TRAILER_SIZE ||
	    fseeko(f, (off_t)(size - TRAILER_SIZE), SEEK_SET) != 0 ||
	    !read_n(f, t, sizeof(t)) || memcmp(t + 12, END_MAGIC, 4) != 0) {
		st = kw_error_set(err, KW_ECORRUPT, "%s: state file truncated",
				  path);
		goto cleanup;
	}
	if (get_u32(h + 12) != s->state_size || get_u64(h + 16) != s->layout) {
		st = kw_error_set(err, KW_ECORRUPT,
				  "%s: state file written with other detectors "
				  "(layout %016llx, expected %016llx); remove "
				  "it to start learning again",
				  path, (unsigned long long)get_u64(h + 16),
				  (unsigned long long)s->layout);
		goto cleanup;
	}
	body = size - HEADER_SIZE - TRAILER_SIZE;
	count = get_u64(t);
	/* Version 1: records only. Version 2: records, then the extra
	 * section (at least its 8-byte length). */
	records = count <= body / s->rec_size ? count * s->rec_size : 0;
	if ((version == 1 &&
	     (body % s->rec_size != 0 || body / s->rec_size != count)) ||
	    (version == 2 &&
	     (count > body / s->rec_size || body - records < 8))) {
		st = kw_error_set(err, KW_ECORRUPT,
				  "%s: state file damaged (record count)",
				  path);
		goto cleanup;
	}
	rec = malloc(s->rec_size);
	if (!rec) {
		st = kw_error_set(err, KW_ENOMEM, "%s: out of memory", path);
		goto cleanup;
	}
	if (fseeko(f, HEADER_SIZE, SEEK_SET) != 0) {
		st = kw_error_set(err, KW_EIO, "%s: cannot seek", path);
		goto cleanup;
	}
	crc = crc32(0, h, sizeof(h));
	for (uint64_t i = 0; i < count; i++) {
		struct kw_snap_meta m;

		if (!read_n(f, rec, s->rec_size)) {
			st = kw_error_set(err, KW_EIO, "%s: read failed", path);
			goto cleanup;
		}
		crc = crc32(crc, rec, (uInt)s->rec_size);
		if (!record_ok(s, rec, why, sizeof(why))) {
			st = kw_error_set(err, KW_ECORRUPT,
					  "%s: state file damaged (record %llu "
					  "of %llu: %s); remove it to start "
					  "learning again",
					  path, (unsigned long long)i + 1,
					  (unsigned long long)count, why);
			goto cleanup;
		}
		get_meta(rec + KW_SNAPSHOT_FP, &m);
		kw_snapshot_put(s, (const char *)rec, &m,
				rec + KW_SNAPSHOT_FP + META_SIZE);
	}
	if (version == 2) {
		st = read_extra(s, f, body - records, &crc, path, err);
		if (st != KW_OK)
			goto cleanup;
	}
	crc = crc32(crc, t, 8);
	if (get_u32(t + 8) != (uint32_t)crc) {
		st = kw_error_set(err, KW_ECORRUPT,
				  "%s: state file damaged (checksum mismatch)",
				  path);
		goto cleanup;
	}
cleanup:
	if (st != KW_OK)
		clear(s);
	free(rec);
	return st;
}

const char *kw_snapshot_extra(const struct kw_snapshot *s, size_t *len)
{
	*len = s->nextra;
	return s->extra ? s->extra : "";
}

enum kw_status kw_snapshot_load(struct kw_snapshot *s, const char *path,
				bool *found, struct kw_error *err)
{
	FILE *f = NULL;
	uint64_t size = 0;
	enum kw_status st;

	*found = false;
	st = kw_file_fopen_read(path, 0, &f, &size, err);
	if (st == KW_ENOTFOUND)
		return KW_OK; /* a first run */
	if (st != KW_OK)
		return st;
	*found = true;
	st = kw_snapshot_read(s, f, size, path, err);
	fclose(f);
	return st;
}

/* --- writing ---------------------------------------------------------------
 */

struct kw_snapshot_writer {
	struct kw_file_replace out;
	FILE *f; /* the stream of out */
	size_t state_size;
	uint64_t count;
	uLong crc;
	bool failed;
	const char *extra; /* borrowed until commit */
	size_t nextra;
};

static void w_write(struct kw_snapshot_writer *w, const void *p, size_t n)
{
	if (w->failed || !n) /* crc32(.., NULL, 0) would start afresh */
		return;
	if (fwrite(p, 1, n, w->f) != n) {
		w->failed = true;
		return;
	}
	w->crc = crc32(w->crc, p, (uInt)n);
}

enum kw_status kw_snapshot_write_begin(const char *path, uint64_t layout,
				       size_t state_size,
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
	st = kw_file_replace_begin(path, &w->out, err);
	if (st != KW_OK)
		goto cleanup;
	w->f = kw_file_replace_stream(&w->out);
	if (!w->f) {
		st = kw_error_set(err, KW_ENOMEM, "%s: out of memory", path);
		goto cleanup;
	}
	w->state_size = state_size;
	w->crc = crc32(0, NULL, 0);
	memcpy(h, MAGIC, 8);
	put_u32(h + 8, KW_SNAPSHOT_VERSION);
	put_u32(h + 12, (uint32_t)state_size);
	put_u64(h + 16, layout);
	w_write(w, h, sizeof(h));
cleanup:
	if (st != KW_OK)
		kw_snapshot_write_abort(w);
	else
		*out = w;
	return st;
}

void kw_snapshot_write_add(struct kw_snapshot_writer *w, const char *fp,
			   const struct kw_snap_meta *m, const void *state)
{
	unsigned char meta[META_SIZE];

	put_meta(meta, m);
	w_write(w, fp, KW_SNAPSHOT_FP);
	w_write(w, meta, sizeof(meta));
	w_write(w, state, w->state_size);
	w->count++;
}

void kw_snapshot_write_extra(struct kw_snapshot_writer *w, const char *data,
			     size_t len)
{
	w->extra = data;
	w->nextra = len;
}

void kw_snapshot_write_pending(struct kw_snapshot_writer *w,
			       const struct kw_snapshot *s)
{
	for (size_t i = 0; i < s->icap; i++) {
		const unsigned char *r = s->index[i];

		if (!r || r == TAKEN)
			continue;
		w_write(w, r, s->rec_size);
		w->count++;
	}
}

enum kw_status kw_snapshot_write_commit(struct kw_snapshot_writer *w,
					struct kw_error *err)
{
	unsigned char t[TRAILER_SIZE], n8[8];
	enum kw_status st;

	if (w->nextra > KW_SNAPSHOT_EXTRA_MAX) {
		w->failed = true;
		errno = EFBIG;
	}
	put_u64(n8, w->nextra);
	w_write(w, n8, 8);
	w_write(w, w->extra, w->nextra);
	put_u64(t, w->count);
	w_write(w, t, 8);
	put_u32(t + 8, (uint32_t)w->crc);
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
	free(w);
	return st;
}

void kw_snapshot_write_abort(struct kw_snapshot_writer *w)
{
	if (!w)
		return;
	kw_file_replace_abort(&w->out);
	free(w);
}
