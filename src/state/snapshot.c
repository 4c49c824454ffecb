/*
 * snapshot.c - learned state on disk and the pending table it loads into
 * (layout and rules in snapshot.h).
 *
 * The one idea: records are kept in the file's own layout, one after the
 * other in one array, and an open-addressing index maps the 64 bits of a
 * fingerprint to a record. Loading is a read, a check of the trailer and
 * checksum before anything is trusted, and an index insert per record;
 * taking a record marks it gone in place. Nothing is parsed out of a file
 * whose checksum does not match.
 */
#include "state/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

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
	unsigned char *recs; /* n records of rec_size bytes */
	size_t n, cap;
	size_t live;	 /* records not taken */
	uint32_t *index; /* icap slots: record number, or GONE (free) */
	size_t icap;
	uint64_t dropped;
};

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
	s->max = max < GONE / 2 ? max : GONE / 2;
	*out = s;
	return KW_OK;
}

void kw_snapshot_destroy(struct kw_snapshot *s)
{
	if (!s)
		return;
	free(s->recs);
	free(s->index);
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

static unsigned char *rec_at(const struct kw_snapshot *s, size_t i)
{
	return s->recs + i * s->rec_size;
}

/* The index slot of fp: its record, or the free slot where it would go. */
static size_t slot_of(const struct kw_snapshot *s, const char *fp)
{
	size_t mask = s->icap - 1;
	size_t i = (size_t)fp_hash(fp) & mask;

	while (s->index[i] != GONE &&
	       memcmp(rec_at(s, s->index[i]), fp, KW_SNAPSHOT_FP) != 0)
		i = (i + 1) & mask;
	return i;
}

/* Room for one more record (array and index). */
static bool reserve(struct kw_snapshot *s)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		unsigned char *r;

		/* Taken records keep their place: allow for them. */
		if (cap > 2 * s->max)
			cap = 2 * s->max;
		if (cap <= s->n)
			return false;
		r = realloc(s->recs, cap * s->rec_size);
		if (!r)
			return false;
		s->recs = r;
		s->cap = cap;
	}
	if ((s->n + 1) * 2 > s->icap) {
		size_t icap = s->icap ? s->icap * 2 : 128;
		uint32_t *old = s->index;
		size_t oldcap = s->icap;
		uint32_t *idx = malloc(icap * sizeof(*idx));

		if (!idx)
			return false;
		memset(idx, 0xff, icap * sizeof(*idx));
		s->index = idx;
		s->icap = icap;
		for (size_t i = 0; i < oldcap; i++) {
			if (old[i] != GONE && rec_at(s, old[i])[0])
				s->index[slot_of(
					s, (const char *)rec_at(s, old[i]))] =
					old[i];
		}
		free(old);
	}
	return true;
}

bool kw_snapshot_put(struct kw_snapshot *s, const char *fp,
		     const struct kw_snap_meta *m, const void *state)
{
	unsigned char *r;
	size_t slot;

	if (s->icap) {
		slot = slot_of(s, fp);
		if (s->index[slot] != GONE) {
			r = rec_at(s, s->index[slot]);
			goto fill;
		}
	}
	if (s->live >= s->max || !reserve(s)) {
		s->dropped++;
		return false;
	}
	slot = slot_of(s, fp);
	s->index[slot] = (uint32_t)s->n;
	r = rec_at(s, s->n++);
	s->live++;
fill:
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
	if (s->index[slot] == GONE)
		return false;
	r = rec_at(s, s->index[slot]);
	get_meta(r + KW_SNAPSHOT_FP, m);
	memcpy(state, r + KW_SNAPSHOT_FP + META_SIZE, s->state_size);
	/* Mark the record gone: a fingerprint of non-hex bytes never
	 * matches, and the index keeps pointing at it so that probing
	 * continues past it. */
	memset(r, 0, KW_SNAPSHOT_FP);
	s->live--;
	return true;
}

size_t kw_snapshot_count(const struct kw_snapshot *s)
{
	return s->live;
}

uint64_t kw_snapshot_dropped(const struct kw_snapshot *s)
{
	return s->dropped;
}

/* --- loading ---------------------------------------------------------------
 */

static enum kw_status read_all(const char *path, unsigned char **buf,
			       size_t *len, size_t limit, bool *found,
			       struct kw_error *err)
{
	FILE *f = NULL;
	unsigned char *b = NULL;
	struct stat sb;
	enum kw_status st = KW_OK;

	*found = false;
	f = fopen(path, "rb");
	if (!f) {
		if (errno == ENOENT)
			return KW_OK;
		return kw_error_set(err, KW_EIO, "%s: cannot open: %s", path,
				    strerror(errno));
	}
	*found = true;
	if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
		st = kw_error_set(err, KW_EIO, "%s: not a regular file", path);
		goto cleanup;
	}
	if ((uint64_t)sb.st_size > limit) {
		st = kw_error_set(err, KW_ECORRUPT,
				  "%s: state file too big (%lld bytes) for "
				  "max_keys",
				  path, (long long)sb.st_size);
		goto cleanup;
	}
	b = malloc((size_t)sb.st_size + 1);
	if (!b) {
		st = kw_error_set(err, KW_ENOMEM, "%s: out of memory", path);
		goto cleanup;
	}
	*len = fread(b, 1, (size_t)sb.st_size, f);
	if (ferror(f) || *len != (size_t)sb.st_size) {
		st = kw_error_set(err, KW_EIO, "%s: read failed", path);
		goto cleanup;
	}
	*buf = b;
	b = NULL;
cleanup:
	free(b);
	fclose(f);
	return st;
}

enum kw_status kw_snapshot_load(struct kw_snapshot *s, const char *path,
				bool *found, struct kw_error *err)
{
	unsigned char *buf = NULL;
	size_t len = 0, body, nrec;
	uint64_t count;
	enum kw_status st;
	size_t limit = HEADER_SIZE + TRAILER_SIZE + s->max * s->rec_size;

	/* Twice the bound: a file with more keys than max_keys still
	 * loads (the excess is dropped), a huge foreign file does not. */
	st = read_all(path, &buf, &len, limit * 2, found, err);
	if (st != KW_OK || !*found)
		goto cleanup;
	if (len < HEADER_SIZE || memcmp(buf, MAGIC, 8) != 0) {
		st = kw_error_set(err, KW_ECORRUPT,
				  "%s: not a keywatch state file", path);
		goto cleanup;
	}
	if (get_u32(buf + 8) != KW_SNAPSHOT_VERSION) {
		st = kw_error_set(err, KW_ECORRUPT,
				  "%s: state file version %u, this keywatch "
				  "reads version %u",
				  path, get_u32(buf + 8), KW_SNAPSHOT_VERSION);
		goto cleanup;
	}
	if (len < HEADER_SIZE + TRAILER_SIZE ||
	    memcmp(buf + len - 4, END_MAGIC, 4) != 0) {
		st = kw_error_set(err, KW_ECORRUPT, "%s: state file truncated",
				  path);
		goto cleanup;
	}
	body = len - HEADER_SIZE - TRAILER_SIZE;
	count = get_u64(buf + len - TRAILER_SIZE);
	if (get_u32(buf + len - 8) !=
	    (uint32_t)crc32(0, buf, (uInt)(len - 8))) {
		st = kw_error_set(err, KW_ECORRUPT,
				  "%s: state file damaged (checksum mismatch)",
				  path);
		goto cleanup;
	}
	if (get_u32(buf + 12) != s->state_size ||
	    get_u64(buf + 16) != s->layout) {
		st = kw_error_set(err, KW_ECORRUPT,
				  "%s: state file written with other detectors "
				  "(layout %016llx, expected %016llx); remove "
				  "it to start learning again",
				  path, (unsigned long long)get_u64(buf + 16),
				  (unsigned long long)s->layout);
		goto cleanup;
	}
	if (body % s->rec_size != 0 || body / s->rec_size != count) {
		st = kw_error_set(err, KW_ECORRUPT,
				  "%s: state file damaged (record count)",
				  path);
		goto cleanup;
	}
	nrec = body / s->rec_size;
	for (size_t i = 0; i < nrec; i++) {
		const unsigned char *r = buf + HEADER_SIZE + i * s->rec_size;
		struct kw_snap_meta m;

		get_meta(r + KW_SNAPSHOT_FP, &m);
		kw_snapshot_put(s, (const char *)r, &m,
				r + KW_SNAPSHOT_FP + META_SIZE);
	}
cleanup:
	free(buf);
	return st;
}

/* --- writing ---------------------------------------------------------------
 */

struct kw_snapshot_writer {
	FILE *f;
	char *path;
	char *tmp;
	size_t state_size;
	uint64_t count;
	uLong crc;
	bool failed;
};

static void w_write(struct kw_snapshot_writer *w, const void *p, size_t n)
{
	if (w->failed)
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
	size_t n = strlen(path);
	int fd = -1;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w || !(w->path = strdup(path)) || !(w->tmp = malloc(n + 8))) {
		st = kw_error_set(err, KW_ENOMEM, "out of memory");
		goto cleanup;
	}
	snprintf(w->tmp, n + 8, "%s.XXXXXX", path);
	fd = mkstemp(w->tmp);
	if (fd < 0) {
		st = kw_error_set(err, KW_EIO, "%s: cannot write: %s", path,
				  strerror(errno));
		free(w->tmp);
		w->tmp = NULL;
		goto cleanup;
	}
	w->f = fdopen(fd, "wb");
	if (!w->f) {
		close(fd);
		st = kw_error_set(err, KW_EIO, "%s: cannot write: %s", path,
				  strerror(errno));
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

void kw_snapshot_write_pending(struct kw_snapshot_writer *w,
			       const struct kw_snapshot *s)
{
	for (size_t i = 0; i < s->n; i++) {
		const unsigned char *r = rec_at(s, i);

		if (!r[0]) /* taken */
			continue;
		w_write(w, r, s->rec_size);
		w->count++;
	}
}

static void fsync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (!copy)
		return;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

enum kw_status kw_snapshot_write_commit(struct kw_snapshot_writer *w,
					struct kw_error *err)
{
	unsigned char t[TRAILER_SIZE];
	enum kw_status st = KW_OK;
	FILE *f = w->f;

	put_u64(t, w->count);
	w_write(w, t, 8);
	put_u32(t + 8, (uint32_t)w->crc);
	memcpy(t + 12, END_MAGIC, 4);
	if (!w->failed && fwrite(t + 8, 1, 8, f) != 8)
		w->failed = true;
	w->f = NULL;
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		w->failed = true;
	if (fclose(f) != 0)
		w->failed = true;
	if (w->failed) {
		st = kw_error_set(err, KW_EIO, "%s: cannot write: %s", w->path,
				  strerror(errno));
		goto cleanup;
	}
	if (rename(w->tmp, w->path) != 0) {
		st = kw_error_set(err, KW_EIO, "%s: cannot replace: %s",
				  w->path, strerror(errno));
		goto cleanup;
	}
	free(w->tmp);
	w->tmp = NULL; /* renamed: nothing to remove */
	fsync_dir(w->path);
cleanup:
	kw_snapshot_write_abort(w);
	return st;
}

void kw_snapshot_write_abort(struct kw_snapshot_writer *w)
{
	if (!w)
		return;
	if (w->f)
		fclose(w->f);
	if (w->tmp) {
		unlink(w->tmp);
		free(w->tmp);
	}
	free(w->path);
	free(w);
}
