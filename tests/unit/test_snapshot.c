/*
 * test_snapshot.c - learned state on disk: records round-trip exactly
 * (state bytes, first and last seen, events) through a file, taken records
 * are gone and untaken ones are written back; the file is the compact
 * layout of snapshot.h, byte for byte (read back here by a reader of its
 * own); versions 1 and 2 are still read and written back as version 3; a
 * missing file is a first run; a foreign, truncated, damaged, other-version
 * or other-layout file is refused with a message naming it, and so is one
 * whose checksum is right but whose records are not sane (cut short, bits
 * past the state, times, the owner's check); the pending table is bounded.
 * Sections (version 4): a family whose layout version changed starts
 * learning again alone, with its warning, while the others' bytes are
 * moved to where they are now; version 3 files of the owner's layout or of
 * its legacy one still load; sections that break the rules are damage.
 * And the promise of --state: scanning week 1 then week 2 with a state
 * file gives exactly the week-2 alerts of one scan over both weeks. And
 * the engine closes an idle key's windows when the watermark passes them,
 * and counts events that come after the watermark passed them.
 *
 * The one idea: the two-scan test drives the real engine (models, router,
 * every detector family) over two generated weeks of traffic in which
 * week 2 holds a rate spike, an error burst and a new operation that only
 * a key's week-1 history makes anomalous.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include "core/log.h"
#include "core/time.h"
#include "detect/detector.h"
#include "engine/engine.h"
#include "state/snapshot.h"
#include "stderr_capture.h"

#define FP_A "0123456789abcdef"
#define FP_B "fedcba9876543210"
#define FP_C "00000000000000ff"
#define LAYOUT UINT64_C(0x1234567890abcdef)

struct tmp {
	char dir[64];
	char path[128];
};

static void tmp_up(struct tmp *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/kw_test_snapshot_XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/state", t->dir);
}

static void tmp_down(struct tmp *t)
{
	unlink(t->path);
	rmdir(t->dir);
}

static void fill(unsigned char *s, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i++)
		s[i] = (unsigned char)(v + i);
}

static void write_three(const char *path)
{
	struct kw_snapshot *pending = NULL;
	struct kw_snapshot_writer *w = NULL;
	struct kw_snap_meta m = {100, 200, 3};
	unsigned char st[40];
	struct kw_error err;

	/* Two records added directly, one left pending. */
	assert_int_equal(kw_snapshot_create(LAYOUT, 40, 10, &pending), KW_OK);
	fill(st, 40, 7);
	assert_true(kw_snapshot_put(pending, FP_C, &m, st));
	assert_int_equal(kw_snapshot_write_begin(path, LAYOUT, 40, &w, &err),
			 KW_OK);
	fill(st, 40, 1);
	kw_snapshot_write_add(w, FP_A, &m, st);
	m = (struct kw_snap_meta){KW_TIME_MIN, KW_TIME_MAX, UINT64_MAX};
	fill(st, 40, 200);
	kw_snapshot_write_add(w, FP_B, &m, st);
	kw_snapshot_write_pending(w, pending);
	assert_int_equal(kw_snapshot_write_commit(w, &err), KW_OK);
	kw_snapshot_destroy(pending);
}

static void test_round_trip(void **state)
{
	struct kw_snapshot *s = NULL;
	struct kw_snap_meta m;
	unsigned char st[40], want[40];
	struct kw_error err;
	struct tmp t;
	bool found = false;

	(void)state;
	tmp_up(&t);
	write_three(t.path);
	assert_int_equal(access(t.path, F_OK), 0);
	assert_int_equal(kw_snapshot_create(LAYOUT, 40, 10, &s), KW_OK);
	assert_int_equal(kw_snapshot_load(s, t.path, &found, &err), KW_OK);
	assert_true(found);
	assert_int_equal(kw_snapshot_count(s), 3);

	assert_true(kw_snapshot_take(s, FP_B, &m, st));
	fill(want, 40, 200);
	assert_memory_equal(st, want, 40);
	assert_true(m.first_seen == KW_TIME_MIN);
	assert_true(m.last_seen == KW_TIME_MAX);
	assert_true(m.events == UINT64_MAX);
	assert_false(kw_snapshot_take(s, FP_B, &m, st)); /* taken */
	assert_int_equal(kw_snapshot_count(s), 2);

	assert_true(kw_snapshot_take(s, FP_A, &m, st));
	fill(want, 40, 1);
	assert_memory_equal(st, want, 40);
	assert_int_equal(m.first_seen, 100);
	assert_int_equal(m.last_seen, 200);
	assert_int_equal(m.events, 3);
	assert_true(kw_snapshot_take(s, FP_C, &m, st));
	fill(want, 40, 7);
	assert_memory_equal(st, want, 40);
	assert_false(kw_snapshot_take(s, "1111111111111111", &m, st));
	assert_int_equal(kw_snapshot_count(s), 0);
	kw_snapshot_destroy(s);
	tmp_down(&t);
}

static void test_missing_is_first_run(void **state)
{
	struct kw_snapshot *s = NULL;
	struct kw_error err;
	bool found = true;

	(void)state;
	assert_int_equal(kw_snapshot_create(LAYOUT, 40, 10, &s), KW_OK);
	assert_int_equal(
		kw_snapshot_load(s, "/nonexistent/kw/state", &found, &err),
		KW_OK);
	assert_false(found);
	assert_int_equal(kw_snapshot_count(s), 0);
	kw_snapshot_destroy(s);
}

/* Load path into s (then destroyed) expecting an error; compare the
 * message after the path. */
static void expect_refused(struct kw_snapshot *s, const char *path,
			   enum kw_status want, const char *msg)
{
	struct kw_error err;
	char full[512];
	bool found = false;

	kw_error_clear(&err);
	assert_int_equal(kw_snapshot_load(s, path, &found, &err), want);
	snprintf(full, sizeof(full), "%s: %s", path, msg);
	assert_string_equal(err.msg, full);
	assert_int_equal(kw_snapshot_count(s), 0);
	kw_snapshot_destroy(s);
}

static void expect_error(const char *path, uint64_t layout, size_t size,
			 enum kw_status want, const char *msg)
{
	struct kw_snapshot *s = NULL;

	assert_int_equal(kw_snapshot_create(layout, size, 10, &s), KW_OK);
	expect_refused(s, path, want, msg);
}

static void rewrite(const char *path, long off, const void *bytes, size_t n,
		    long truncate_to)
{
	FILE *f = fopen(path, "r+b");

	assert_non_null(f);
	if (bytes) {
		assert_int_equal(fseek(f, off, SEEK_SET), 0);
		assert_int_equal(fwrite(bytes, 1, n, f), n);
	}
	fclose(f);
	if (truncate_to >= 0)
		assert_int_equal(truncate(path, truncate_to), 0);
}

/* The whole file (malloc'ed) and its size; and back. */
static unsigned char *slurp(const char *path, long *size)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	*size = ftell(f);
	buf = malloc((size_t)*size + 1);
	assert_non_null(buf);
	rewind(f);
	assert_int_equal(fread(buf, 1, (size_t)*size, f), (size_t)*size);
	fclose(f);
	return buf;
}

static void spit(const char *path, const unsigned char *buf, long size)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, (size_t)size, f), (size_t)size);
	fclose(f);
}

/* Recompute the trailer's CRC of a state file after its records were
 * changed: the file is whole again, only not sane. */
static void reseal(const char *path)
{
	long n;
	unsigned char *buf = slurp(path, &n);
	uLong crc = crc32(0, buf, (uInt)(n - 8));

	for (int i = 0; i < 4; i++)
		buf[n - 8 + i] = (unsigned char)(crc >> (8 * i));
	spit(path, buf, n);
	free(buf);
}

/* ---- the layout, written and read here on its own (snapshot.h) ---------- */

struct rawrec {
	uint64_t fp;
	int64_t first, last;
	uint64_t events;
	uint64_t relearn; /* version 4 */
	int64_t since;
	unsigned char state[2048];
};

static void le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t rd64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* A file of the given version (1, 2 or 3) with n records and, from
 * version 2 on, an extra section; the checksum right. */
static void write_version(const char *path, int version, uint64_t layout,
			  size_t ssize, const struct rawrec *r, size_t n,
			  const char *extra)
{
	unsigned char *buf = calloc(1, 64 + n * (48 + 2 * ssize + 16) +
					       (extra ? strlen(extra) : 0));
	size_t len = 0, words = (ssize + 7) / 8, bm = (words + 7) / 8;
	uLong crc;

	assert_non_null(buf);
	memcpy(buf, "KWSTATE", 8);
	buf[8] = (unsigned char)version;
	buf[12] = (unsigned char)ssize;
	buf[13] = (unsigned char)(ssize >> 8);
	le64(buf + 16, layout);
	len = 24;
	for (size_t i = 0; i < n; i++) {
		if (version < 3) {
			snprintf((char *)buf + len, 17, "%016llx",
				 (unsigned long long)r[i].fp);
			len += 16;
		} else {
			le64(buf + len, r[i].fp);
			len += 8;
		}
		le64(buf + len, (uint64_t)r[i].first);
		le64(buf + len + 8, (uint64_t)r[i].last);
		le64(buf + len + 16, r[i].events);
		len += 24;
		if (version < 3) {
			memcpy(buf + len, r[i].state, ssize);
			len += ssize;
			continue;
		}
		{
			unsigned char *bits = buf + len;

			len += bm;
			for (size_t w = 0; w < words; w++) {
				unsigned char word[8] = {0};

				memcpy(word, r[i].state + 8 * w,
				       ssize - 8 * w < 8 ? ssize - 8 * w : 8);
				if (!memcmp(word, "\0\0\0\0\0\0\0\0", 8))
					continue;
				bits[w / 8] |= (unsigned char)(1u << (w % 8));
				memcpy(buf + len, word, 8);
				len += 8;
			}
		}
	}
	if (version >= 2) {
		size_t x = extra ? strlen(extra) : 0;

		le64(buf + len, x);
		memcpy(buf + len + 8, extra ? extra : "", x);
		len += 8 + x;
	}
	le64(buf + len, n);
	len += 8;
	crc = crc32(0, buf, (uInt)len);
	for (int i = 0; i < 4; i++)
		buf[len + i] = (unsigned char)(crc >> (8 * i));
	memcpy(buf + len + 4, "END\n", 4);
	spit(path, buf, (long)len + 8);
	free(buf);
}

/* Read a version 3 or 4 file back (checking the layout as it goes); the
 * number of records, and where each starts in *off (up to max). */
static size_t read_v3(const char *path, size_t ssize, struct rawrec *r,
		      size_t max, size_t *off)
{
	long size;
	unsigned char *buf = slurp(path, &size);
	size_t words = (ssize + 7) / 8, bm = (words + 7) / 8, p = 24, n;
	bool v4 = buf[8] == 4;

	assert_memory_equal(buf, "KWSTATE\0", 8);
	assert_memory_equal(buf + 9, "\0\0\0", 3);
	assert_true(buf[8] == 3 || v4);
	if (v4) { /* the sections: u32 count, each 13 bytes and a name */
		uint32_t k = (uint32_t)buf[p] | (uint32_t)buf[p + 1] << 8;

		p += 4;
		while (k--)
			p += 13 + buf[p + 12];
	}
	n = (size_t)rd64(buf + size - 16);
	assert_true(n <= max);
	for (size_t i = 0; i < n; i++) {
		off[i] = p;
		r[i].fp = rd64(buf + p);
		r[i].first = (int64_t)rd64(buf + p + 8);
		r[i].last = (int64_t)rd64(buf + p + 16);
		r[i].events = rd64(buf + p + 24);
		r[i].relearn = v4 ? rd64(buf + p + 32) : 0;
		r[i].since = v4 ? (int64_t)rd64(buf + p + 40) : 0;
		p += v4 ? 48 : 32;
		memset(r[i].state, 0, sizeof(r[i].state));
		{
			size_t q = p + bm;

			for (size_t w = 0; w < words; w++) {
				if (!(buf[p + w / 8] & (1u << (w % 8))))
					continue;
				memcpy(r[i].state + 8 * w, buf + q, 8);
				q += 8;
			}
			p = q;
		}
	}
	/* Then the extra section (and in version 4 the keys handed out)
	 * and the trailer, nothing else. */
	p += 8 + rd64(buf + p);
	if (v4)
		p += 8 + rd64(buf + p);
	assert_int_equal((long)(p + 16), size);
	free(buf);
	return n;
}

static void test_rejects(void **state)
{
	struct tmp t;
	long size;
	unsigned char *buf;
	FILE *f;

	(void)state;
	tmp_up(&t);
	f = fopen(t.path, "w");
	assert_non_null(f);
	fputs("{\"not\": \"a state file\"}\n", f);
	fclose(f);
	expect_error(t.path, LAYOUT, 40, KW_ECORRUPT,
		     "not a keywatch state file");
	f = fopen(t.path, "w");
	assert_non_null(f);
	fclose(f);
	expect_error(t.path, LAYOUT, 40, KW_ECORRUPT,
		     "not a keywatch state file");

	/* Truncated: the end is missing. */
	write_three(t.path);
	buf = slurp(t.path, &size);
	free(buf);
	rewrite(t.path, 0, NULL, 0, size - 5);
	expect_error(t.path, LAYOUT, 40, KW_ECORRUPT, "state file truncated");

	/* One byte of a record changed (record 1's first state word). */
	write_three(t.path);
	rewrite(t.path, 24 + 32 + 1 + 3, "X", 1, -1);
	expect_error(t.path, LAYOUT, 40, KW_ECORRUPT,
		     "state file damaged (checksum mismatch)");

	/* Another version. */
	write_three(t.path);
	rewrite(t.path, 8, "\x05", 1, -1);
	expect_error(t.path, LAYOUT, 40, KW_ECORRUPT,
		     "state file version 5, this keywatch reads versions 1 to "
		     "4");

	/* Written with other detectors. */
	write_three(t.path);
	expect_error(t.path, LAYOUT + 1, 40, KW_ECORRUPT,
		     "state file written with other detectors (layout "
		     "1234567890abcdef, expected 1234567890abcdf0); remove it "
		     "to start learning again");
	expect_error(t.path, LAYOUT, 48, KW_ECORRUPT,
		     "state file written with other detectors (layout "
		     "1234567890abcdef, expected 1234567890abcdef); remove it "
		     "to start learning again");
	tmp_down(&t);
}

/* The file is the layout of snapshot.h: read back by this test's own
 * reader, every record as written; a state that is mostly zeros takes
 * its non-zero words only. */
static void test_layout(void **state)
{
	static struct rawrec r[4];
	struct kw_snapshot_writer *w = NULL;
	struct kw_snap_meta m = {1795132800000000, 1795219200000000, 42};
	unsigned char st[40] = {0};
	size_t off[4];
	struct kw_error err;
	struct tmp t;
	long size;
	unsigned char *buf;

	(void)state;
	tmp_up(&t);
	write_three(t.path);
	assert_int_equal(read_v3(t.path, 40, r, 4, off), 3);
	assert_true(r[0].fp == UINT64_C(0x0123456789abcdef));
	assert_int_equal(r[0].first, 100);
	assert_int_equal(r[0].last, 200);
	assert_int_equal(r[0].events, 3);
	for (int i = 0; i < 40; i++)
		assert_int_equal(r[0].state[i], 1 + i);
	assert_true(r[1].fp == UINT64_C(0xfedcba9876543210));
	assert_true(r[1].first == KW_TIME_MIN);
	assert_true(r[1].events == UINT64_MAX);
	assert_true(r[2].fp == 0xff); /* the pending one */
	/* Records of a full state: 8 + 24 + 1 + 5 words. */
	assert_int_equal(off[1] - off[0], 73);

	/* Only word 2 of the state set: 8 + 24 + 1 + 8 bytes. */
	st[17] = 0x5a;
	assert_int_equal(kw_snapshot_write_begin(t.path, LAYOUT, 40, &w, &err),
			 KW_OK);
	kw_snapshot_write_add(w, FP_A, &m, st);
	memset(st, 0, sizeof(st));
	kw_snapshot_write_add(w, FP_B, &m, st);
	assert_int_equal(kw_snapshot_write_commit(w, &err), KW_OK);
	assert_int_equal(read_v3(t.path, 40, r, 4, off), 2);
	assert_int_equal(off[1] - off[0], 41);
	assert_int_equal(r[0].state[17], 0x5a);
	buf = slurp(t.path, &size);
	assert_int_equal(buf[off[0] + 32], 0x04); /* the bitmap: word 2 */
	/* header, 41 + 33 bytes of records, no extra, trailer */
	assert_int_equal(size, 24 + 41 + 33 + 8 + 16);
	free(buf);
	tmp_down(&t);
}

/* Versions 1 and 2 are still read (hex fingerprints, states as they
 * are), checked as strictly, and written back as version 3. */
static void test_old_versions(void **state)
{
	static struct rawrec r[3], back[3];
	struct kw_snapshot *s = NULL;
	struct kw_snapshot_writer *w = NULL;
	struct kw_snap_meta m;
	unsigned char st[40];
	struct kw_error err;
	const char *extra;
	size_t off[3], n;
	struct tmp t;
	bool found;

	(void)state;
	tmp_up(&t);
	for (int i = 0; i < 3; i++) {
		r[i].fp = UINT64_C(0x1111111111111111) * (uint64_t)(i + 1);
		r[i].first = 1000 * i;
		r[i].last = 1000 * i + 5;
		r[i].events = (uint64_t)i + 7;
		memset(r[i].state, 0, sizeof(r[i].state));
		r[i].state[8 * i] = (unsigned char)(0x40 + i);
		r[i].state[39] = 9;
	}
	for (int version = 1; version <= 2; version++) {
		write_version(t.path, version, LAYOUT, 40, r, 3,
			      version == 2 ? "{\"old\":2}" : NULL);
		assert_int_equal(kw_snapshot_create(LAYOUT, 40, 10, &s), KW_OK);
		assert_int_equal(kw_snapshot_load(s, t.path, &found, &err),
				 KW_OK);
		assert_int_equal(kw_snapshot_count(s), 3);
		extra = kw_snapshot_extra(s, &n);
		assert_string_equal(extra, version == 2 ? "{\"old\":2}" : "");
		assert_true(kw_snapshot_take(s, "2222222222222222", &m, st));
		assert_int_equal(m.first_seen, 1000);
		assert_int_equal(m.events, 8);
		assert_memory_equal(st, r[1].state, 40);
		/* Written back: version 3, the two left as they were. */
		assert_int_equal(
			kw_snapshot_write_begin(t.path, LAYOUT, 40, &w, &err),
			KW_OK);
		kw_snapshot_write_pending(w, s);
		assert_int_equal(kw_snapshot_write_commit(w, &err), KW_OK);
		kw_snapshot_destroy(s);
		assert_int_equal(read_v3(t.path, 40, back, 3, off), 2);
		for (size_t i = 0; i < 2; i++) {
			const struct rawrec *want =
				back[i].fp == r[0].fp ? &r[0] : &r[2];

			assert_true(back[i].fp == want->fp);
			assert_int_equal(back[i].first, want->first);
			assert_int_equal(back[i].last, want->last);
			assert_int_equal(back[i].events, want->events);
			assert_memory_equal(back[i].state, want->state, 40);
		}
	}
	/* A version 2 record whose fingerprint is not 16 hex digits. */
	write_version(t.path, 2, LAYOUT, 40, r, 3, NULL);
	rewrite(t.path, 24 + 80 + 3, "G", 1, -1);
	reseal(t.path);
	expect_error(t.path, LAYOUT, 40, KW_ECORRUPT,
		     "state file damaged (record 2 of 3: fingerprint is not "
		     "16 hex digits); remove it to start learning again");
	/* A version 1 file whose size is not whole records. */
	write_version(t.path, 1, LAYOUT, 40, r, 3, NULL);
	{
		long size;
		unsigned char *buf = slurp(t.path, &size);

		memmove(buf + size - 17, buf + size - 16, 16);
		spit(t.path, buf, size - 1);
		free(buf);
	}
	reseal(t.path);
	expect_error(t.path, LAYOUT, 40, KW_ECORRUPT,
		     "state file damaged (record count)");
	tmp_down(&t);
}

/* --- sections: each family's part of the state versioned on its own ---- */

/* Layout A, as an older keywatch had it: geo (v1, 16 bytes), rate and
 * ops (8 each) in a state of 40 bytes. Layout B, after geo's layout
 * changed: geo v2 of 8 bytes, rate and ops moved down, and a family new
 * since (harvest), in 32 bytes. */
static const struct kw_snap_section sec_a[] = {
	{"geo", 1, 0, 16},
	{"rate", 1, 16, 8},
	{"ops", 3, 32, 8},
};
static const struct kw_snap_layout layout_a = {sec_a, 3, 40, LAYOUT};
static const struct kw_snap_section sec_b[] = {
	{"geo", 2, 0, 8},
	{"rate", 1, 8, 8},
	{"ops", 3, 16, 8},
	{"ops.harvest", 1, 24, 8},
};
static const struct kw_snap_layout layout_b = {sec_b, 4, 32, LAYOUT + 7};

/* Record i of layout A: every byte of each family set. */
static void state_a(unsigned char st[40], int i)
{
	memset(st, 0, 40);
	memset(st, 0x10 + i, 16);     /* geo */
	memset(st + 16, 0x20 + i, 8); /* rate */
	memset(st + 32, 0x30 + i, 8); /* ops */
}

static void write_a(const char *path, bool sections)
{
	struct kw_snapshot_writer *w = NULL;
	struct kw_snap_meta m = {100, 200, 3};
	unsigned char st[40];
	struct kw_error err;
	const char *fps[] = {FP_A, FP_B, FP_C};

	if (sections)
		assert_int_equal(kw_snapshot_write_begin_layout(path, &layout_a,
								&w, &err),
				 KW_OK);
	else
		assert_int_equal(
			kw_snapshot_write_begin(path, LAYOUT, 40, &w, &err),
			KW_OK);
	for (int i = 0; i < 3; i++) {
		state_a(st, i);
		kw_snapshot_write_add(w, fps[i], &m, st);
	}
	kw_snapshot_write_extra(w, "{\"x\":1}", 7);
	assert_int_equal(kw_snapshot_write_commit(w, &err), KW_OK);
}

/* Load path with layout now (legacy: NULL or A), expecting OK and
 * exactly the log lines want (%s: the path). */
static struct kw_snapshot *load_logged(const char *path,
				       const struct kw_snap_layout *now,
				       const struct kw_snap_layout *legacy,
				       const char *want)
{
	struct kw_snapshot *s = NULL;
	struct capture cap;
	struct kw_error err;
	char got[2048], expect[2048];
	bool found = false;
	enum kw_status st;

	assert_int_equal(kw_snapshot_create_layout(now, legacy, 10, &s), KW_OK);
	capture_begin(&cap);
	st = kw_snapshot_load(s, path, &found, &err);
	capture_end(&cap, got, sizeof(got));
	if (st != KW_OK)
		fail_msg("%s", err.msg);
	assert_true(found);
	snprintf(expect, sizeof(expect), want, path, path);
	assert_string_equal(got, expect);
	return s;
}

static void expect_layout_error(const char *path,
				const struct kw_snap_layout *now,
				const char *msg)
{
	struct kw_snapshot *s = NULL;

	assert_int_equal(kw_snapshot_create_layout(now, NULL, 10, &s), KW_OK);
	expect_refused(s, path, KW_ECORRUPT, msg);
}

/* Records of layout B taken from s: geo and harvest zero, rate and ops as
 * written in layout A. */
static void expect_b_records(struct kw_snapshot *s)
{
	const char *fps[] = {FP_A, FP_B, FP_C};
	struct kw_snap_meta m;
	unsigned char st[32], want[32];

	assert_int_equal(kw_snapshot_count(s), 3);
	for (int i = 0; i < 3; i++) {
		memset(want, 0, sizeof(want));
		memset(want + 8, 0x20 + i, 8);
		memset(want + 16, 0x30 + i, 8);
		assert_true(kw_snapshot_take(s, fps[i], &m, st));
		assert_memory_equal(st, want, 32);
		assert_int_equal(m.first_seen, 100);
		assert_int_equal(m.last_seen, 200);
		assert_int_equal(m.events, 3);
		/* geo (of an older layout) and ops.harvest (new) learn
		 * again, from the key's next event. */
		assert_true(m.relearn == (1u | 8u));
		assert_true(m.relearn_since == 0);
	}
}

/* The file is version 4 with its sections; the owner's own layout reads
 * it as it lies. */
static void test_sections_round_trip(void **state)
{
	struct kw_snapshot *s;
	struct kw_snap_meta m;
	unsigned char st[40], want[40];
	const char *extra;
	struct tmp t;
	long size;
	unsigned char *buf;
	size_t n;

	(void)state;
	tmp_up(&t);
	write_a(t.path, true);
	buf = slurp(t.path, &size);
	assert_memory_equal(buf, "KWSTATE\0\x04\0\0\0\x28\0\0\0", 16);
	/* 3 sections: "geo" v1 at 0 of 16 bytes first. */
	assert_memory_equal(buf + 24,
			    "\x03\0\0\0"
			    "\x01\0\0\0\0\0\0\0\x10\0\0\0\x03geo",
			    4 + 16);
	/* header, sections (4 + 16 + 17 + 16), 3 records (8 + 40 + 1 + 4
	 * words: bytes 24 to 31 are zero), extra, no keys handed out,
	 * trailer */
	assert_int_equal(size, 24 + 53 + 3 * 81 + 8 + 7 + 8 + 16);
	free(buf);
	s = load_logged(t.path, &layout_a, NULL, "");
	assert_int_equal(kw_snapshot_count(s), 3);
	extra = kw_snapshot_extra(s, &n);
	assert_string_equal(extra, "{\"x\":1}");
	assert_true(kw_snapshot_take(s, FP_B, &m, st));
	state_a(want, 1);
	assert_memory_equal(st, want, 40);
	kw_snapshot_destroy(s);
	/* A snapshot without sections reads it by its header's layout. */
	{
		struct kw_snapshot *plain = NULL;
		struct kw_error err;
		bool found;

		assert_int_equal(kw_snapshot_create(LAYOUT, 40, 10, &plain),
				 KW_OK);
		assert_int_equal(kw_snapshot_load(plain, t.path, &found, &err),
				 KW_OK);
		assert_int_equal(kw_snapshot_count(plain), 3);
		kw_snapshot_destroy(plain);
	}
	tmp_down(&t);
}

/* Layout B whose geo can be made from its version 1 (16 bytes): every
 * other byte, plus one. */
static void geo_up(const void *old, void *now)
{
	const unsigned char *o = old;
	unsigned char *n = now;

	for (int i = 0; i < 8; i++)
		n[i] = (unsigned char)(o[2 * i] + 1);
}

static const struct kw_snap_section sec_bu[] = {
	{"geo", 2, 0, 8, geo_up, 16},
	{"rate", 1, 8, 8, NULL, 0},
	{"ops", 3, 16, 8, NULL, 0},
	{"ops.harvest", 1, 24, 8, NULL, 0},
};
static const struct kw_snap_layout layout_bu = {sec_bu, 4, 32, LAYOUT + 8};

/* Records of layout BU taken from s: geo upgraded, rate and ops as
 * written in layout A, harvest new. */
static void expect_upgraded(struct kw_snapshot *s)
{
	const char *fps[] = {FP_A, FP_B, FP_C};
	struct kw_snap_meta m;
	unsigned char st[32], want[32];

	assert_int_equal(kw_snapshot_count(s), 3);
	for (int i = 0; i < 3; i++) {
		memset(want, 0, sizeof(want));
		memset(want, 0x10 + i + 1, 8);
		memset(want + 8, 0x20 + i, 8);
		memset(want + 16, 0x30 + i, 8);
		assert_true(kw_snapshot_take(s, fps[i], &m, st));
		assert_memory_equal(st, want, 32);
		assert_true(m.relearn == 8u); /* ops.harvest alone */
	}
}

/* A family whose layout changed but that says how to make its state from
 * the layout before (kw_snap_section.upgrade) keeps learning: its bytes
 * are made into the new layout, from a version 4 file's section and from
 * a version 3 file (the legacy layout) alike. An upgrade from another
 * size is not for this file's bytes: the family starts again. */
static void test_sections_upgraded(void **state)
{
	struct kw_snap_section other[4];
	struct kw_snap_layout lo = layout_bu;
	struct kw_snapshot *s;
	struct tmp t;

	(void)state;
	tmp_up(&t);
	write_a(t.path, true);
	s = load_logged(t.path, &layout_bu, NULL,
			"keywatch: state: learning for ops.harvest starts: %s "
			"holds no state for it\n");
	expect_upgraded(s);
	kw_snapshot_destroy(s);

	write_a(t.path, false);
	s = load_logged(t.path, &layout_bu, &layout_a,
			"keywatch: state: learning for ops.harvest starts: %s "
			"holds no state for it\n");
	expect_upgraded(s);
	kw_snapshot_destroy(s);

	memcpy(other, sec_bu, sizeof(other));
	other[0].older_size = 12;
	lo.sections = other;
	write_a(t.path, true);
	s = load_logged(t.path, &lo, NULL,
			"keywatch: warning: state: learning for geo starts "
			"again: its state in %s is from an older layout\n"
			"keywatch: state: learning for ops.harvest starts: %s "
			"holds no state for it\n");
	expect_b_records(s);
	kw_snapshot_destroy(s);
	tmp_down(&t);
}

/* A family whose layout changed starts learning again, alone, with one
 * warning naming the file and the family; the others keep their bytes,
 * moved to where they are now; a family new since starts learning. And
 * what is written back is the new layout, which loads as it lies. */
static void test_sections_one_family_reset(void **state)
{
	struct kw_snapshot *s;
	struct kw_snapshot_writer *w = NULL;
	struct kw_error err;
	const char *extra;
	struct tmp t;
	size_t n;

	(void)state;
	tmp_up(&t);
	write_a(t.path, true);
	s = load_logged(t.path, &layout_b, NULL,
			"keywatch: warning: state: learning for geo starts "
			"again: its state in %s is from an older layout\n"
			"keywatch: state: learning for ops.harvest starts: %s "
			"holds no state for it\n");
	extra = kw_snapshot_extra(s, &n);
	assert_string_equal(extra, "{\"x\":1}");
	/* Written back untaken: layout B. */
	assert_int_equal(
		kw_snapshot_write_begin_layout(t.path, &layout_b, &w, &err),
		KW_OK);
	kw_snapshot_write_pending(w, s);
	assert_int_equal(kw_snapshot_write_commit(w, &err), KW_OK);
	kw_snapshot_destroy(s);
	s = load_logged(t.path, &layout_b, NULL, "");
	expect_b_records(s);
	kw_snapshot_destroy(s);

	/* Back to A (an older keywatch): geo's state is from a newer
	 * layout, harvest's is left out, rate and ops are kept. */
	s = load_logged(t.path, &layout_a, NULL,
			"keywatch: warning: state: learning for geo starts "
			"again: its state in %s is from a newer layout (a "
			"later keywatch wrote it)\n"
			"keywatch: state: %s: the state of ops.harvest, which "
			"this keywatch does not have, is left out\n");
	{
		struct kw_snap_meta m;
		unsigned char st[40], want[40];

		assert_true(kw_snapshot_take(s, FP_C, &m, st));
		state_a(want, 2);
		memset(want, 0, 16);
		assert_memory_equal(st, want, 40);
		/* geo starts again; harvest's mark went with its state. */
		assert_true(m.relearn == 1u);
	}
	kw_snapshot_destroy(s);
	tmp_down(&t);
}

/* A record's families learning again (kw_snap_meta.relearn): written by
 * version 4, read back as they are by the same layout, moved with their
 * families to another one, and checked like the rest of a record. */
static void test_sections_relearn(void **state)
{
	struct kw_snapshot_writer *w = NULL;
	struct kw_snapshot *s;
	struct kw_snap_meta m = {100, 200, 3, 2u | 4u, 150}, got;
	unsigned char st[40];
	struct kw_error err;
	struct tmp t;
	static const struct {
		struct kw_snap_meta m;
		const char *why;
	} bad[] = {
		{{100, 200, 3, 8u, 150},
		 "learning again in a section the file does not have"},
		{{100, 200, 3, 0, 150},
		 "a time to learn again from, with nothing learning again"},
		{{100, 200, 3, 1u, 99},
		 "learning again since a time outside its first and last "
		 "seen"},
		{{100, 200, 3, 1u, 201},
		 "learning again since a time outside its first and last "
		 "seen"},
	};

	(void)state;
	tmp_up(&t);
	state_a(st, 0);
	assert_int_equal(
		kw_snapshot_write_begin_layout(t.path, &layout_a, &w, &err),
		KW_OK);
	kw_snapshot_write_add(w, FP_A, &m, st);
	assert_int_equal(kw_snapshot_write_commit(w, &err), KW_OK);
	/* As it lies: rate and ops learning again since 150. */
	s = load_logged(t.path, &layout_a, NULL, "");
	assert_true(kw_snapshot_take(s, FP_A, &got, st));
	assert_true(got.relearn == (2u | 4u));
	assert_true(got.relearn_since == 150);
	kw_snapshot_destroy(s);
	/* Layout C: ops first, then rate, geo gone: the marks follow, and
	 * nothing starts again, so the time is kept. */
	{
		static const struct kw_snap_section sec_c[] = {
			{"ops", 3, 0, 8},
			{"rate", 1, 8, 8},
		};
		static const struct kw_snap_layout layout_c = {sec_c, 2, 16,
							       LAYOUT + 9};

		s = load_logged(t.path, &layout_c, NULL,
				"keywatch: state: %s: the state of geo, which "
				"this keywatch does not have, is left out\n");
		assert_true(kw_snapshot_take(s, FP_A, &got, st));
		assert_true(got.relearn == (1u | 2u));
		assert_true(got.relearn_since == 150);
		kw_snapshot_destroy(s);
	}
	/* Layout B starts geo and harvest again: one time for all, from
	 * the key's next event. */
	s = load_logged(t.path, &layout_b, NULL,
			"keywatch: warning: state: learning for geo starts "
			"again: its state in %s is from an older layout\n"
			"keywatch: state: learning for ops.harvest starts: %s "
			"holds no state for it\n");
	assert_true(kw_snapshot_take(s, FP_A, &got, st));
	assert_true(got.relearn == (1u | 2u | 4u | 8u));
	assert_true(got.relearn_since == 0);
	kw_snapshot_destroy(s);
	/* Marks keywatch could not have written refuse the file. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char msg[256];
		struct kw_snapshot *r = NULL;

		state_a(st, 0);
		assert_int_equal(kw_snapshot_write_begin_layout(
					 t.path, &layout_a, &w, &err),
				 KW_OK);
		kw_snapshot_write_add(w, FP_A, &bad[i].m, st);
		assert_int_equal(kw_snapshot_write_commit(w, &err), KW_OK);
		snprintf(msg, sizeof(msg),
			 "state file damaged (record 1 of 1: %s); remove it "
			 "to start learning again",
			 bad[i].why);
		assert_int_equal(
			kw_snapshot_create_layout(&layout_a, NULL, 10, &r),
			KW_OK);
		expect_refused(r, t.path, KW_ECORRUPT, msg);
	}
	tmp_down(&t);
}

/* Version 3 files: of the owner's layout, read as they lie; of the
 * legacy layout the owner names, moved like a version 4 file of it; of
 * any other, refused. */
static void test_sections_legacy(void **state)
{
	struct kw_snap_section sec_a3[3];
	struct kw_snap_layout a3 = layout_a;
	struct kw_snapshot *s;
	struct tmp t;

	(void)state;
	tmp_up(&t);
	write_a(t.path, false);
	/* The owner's own layout (A with A's hash). */
	s = load_logged(t.path, &layout_a, NULL, "");
	assert_int_equal(kw_snapshot_count(s), 3);
	kw_snapshot_destroy(s);
	/* B, with A as the layout of version 3 files. */
	s = load_logged(t.path, &layout_b, &layout_a,
			"keywatch: warning: state: learning for geo starts "
			"again: its state in %s is from an older layout\n"
			"keywatch: state: learning for ops.harvest starts: %s "
			"holds no state for it\n");
	expect_b_records(s);
	kw_snapshot_destroy(s);
	/* A legacy layout of another hash is not this file's. */
	memcpy(sec_a3, sec_a, sizeof(sec_a3));
	a3.sections = sec_a3;
	a3.hash = LAYOUT + 1;
	assert_int_equal(kw_snapshot_create_layout(&layout_b, &a3, 10, &s),
			 KW_OK);
	expect_refused(
		s, t.path, KW_ECORRUPT,
		"state file written with other detectors (layout "
		"1234567890abcdef, expected 1234567890abcdf6); remove it "
		"to start learning again");
	tmp_down(&t);
}

/* Sections that break the rules are damage (checksum right); so is a
 * family of the owner's version but another size. */
static void test_sections_damaged(void **state)
{
	static const struct kw_snap_section sec_c[] = {
		{"geo", 1, 0, 16},
		{"rate", 1, 16, 16},
		{"ops", 3, 32, 8},
	};
	static const struct kw_snap_layout layout_c = {sec_c, 3, 40, 1};
	struct kw_snapshot *s = NULL;
	struct tmp t;

	(void)state;
	tmp_up(&t);
	write_a(t.path, true);
	expect_layout_error(t.path, &layout_c,
			    "state file damaged (section rate: layout version "
			    "1 of 8 bytes, this keywatch's is 16 bytes)");
	/* rate's offset (at 24 + 4 + 16 + 4) over geo's bytes */
	rewrite(t.path, 24 + 4 + 16 + 4, "\x08", 1, -1);
	reseal(t.path);
	expect_layout_error(t.path, &layout_a,
			    "state file damaged (section rate: bytes 8 to 16 "
			    "overlap another or pass the state's 40)");
	write_a(t.path, true);
	rewrite(t.path, 24, "\x00", 1, -1); /* no sections */
	reseal(t.path);
	expect_layout_error(t.path, &layout_a,
			    "state file damaged (0 sections)");
	write_a(t.path, true);
	rewrite(t.path, 24 + 4 + 13, "g\xff", 2, -1); /* "g\xffo" */
	reseal(t.path);
	expect_layout_error(t.path, &layout_a,
			    "state file damaged (section 1: a name that is not "
			    "one)");
	tmp_down(&t);
	/* Layouts that break the rules are refused when made. */
	{
		static const struct kw_snap_section twice[] = {
			{"geo", 1, 0, 8},
			{"geo", 1, 8, 8},
		};
		static const struct kw_snap_layout bad = {twice, 2, 16, 1};

		assert_int_equal(kw_snapshot_create_layout(&bad, NULL, 10, &s),
				 KW_EINVAL);
		assert_null(s);
	}
}

static void test_bounded(void **state)
{
	struct kw_snapshot *s = NULL;
	struct kw_snap_meta m = {1, 2, 3};
	unsigned char st[8] = {0};
	struct kw_error err;
	struct tmp t;
	bool found;

	(void)state;
	assert_int_equal(kw_snapshot_create(LAYOUT, 8, 2, &s), KW_OK);
	assert_true(kw_snapshot_put(s, FP_A, &m, st));
	assert_true(kw_snapshot_put(s, FP_A, &m, st)); /* replaces */
	assert_true(kw_snapshot_put(s, FP_B, &m, st));
	assert_false(kw_snapshot_put(s, FP_C, &m, st));
	assert_int_equal(kw_snapshot_count(s), 2);
	assert_int_equal(kw_snapshot_dropped(s), 1);
	kw_snapshot_destroy(s);

	/* A file with 3 records into a table of 2: 2 loaded, 1 dropped. */
	tmp_up(&t);
	write_three(t.path);
	assert_int_equal(kw_snapshot_create(LAYOUT, 40, 2, &s), KW_OK);
	assert_int_equal(kw_snapshot_load(s, t.path, &found, &err), KW_OK);
	assert_int_equal(kw_snapshot_count(s), 2);
	assert_int_equal(kw_snapshot_dropped(s), 1);
	kw_snapshot_destroy(s);
	tmp_down(&t);
}

/* Refuses records whose first state byte is 0xee. */
static bool no_ee(void *ctx, const struct kw_snap_meta *m, const void *state,
		  char *why, size_t cap)
{
	(void)m;
	(*(int *)ctx)++;
	if (*(const unsigned char *)state != 0xee)
		return true;
	snprintf(why, cap, "test: first byte 0xee");
	return false;
}

/* A checksum proves a file whole, not sane: a record cut short or with
 * bits past the state, times out of order or out of range, state its
 * owner's check refuses, or more records than the file can hold make the
 * whole file an error naming it and the record. */
static void test_rejects_insane_records(void **state)
{
	struct kw_snapshot *s = NULL;
	struct kw_error err;
	struct tmp t;
	unsigned char i64[8];
	bool found;
	int calls = 0;
	long size;
	unsigned char *buf;

	(void)state;
	tmp_up(&t);
	/* Records are 73 bytes here (five words, all set). Record 1: first
	 * seen after last seen (0xff), and a time before 1970 (all 0xff). */
	for (int v = 0; v < 2; v++) {
		write_three(t.path);
		memset(i64, v ? 0xff : 0, 8);
		i64[0] = 0xff;
		rewrite(t.path, 24 + 8, i64, 8, -1);
		reseal(t.path);
		expect_error(
			t.path, LAYOUT, 40, KW_ECORRUPT,
			"state file damaged (record 1 of 3: first and last "
			"seen times out of order or out of range); remove "
			"it to start learning again");
	}

	/* Record 2's bitmap with a bit past the state's five words. */
	write_three(t.path);
	rewrite(t.path, 24 + 73 + 32, "\x3f", 1, -1);
	reseal(t.path);
	expect_error(t.path, LAYOUT, 40, KW_ECORRUPT,
		     "state file damaged (record 2 of 3: state words past the "
		     "state's size); remove it to start learning again");

	/* The trailer counts a fourth record: what follows the third is
	 * the extra section, too short for one. Then one more than the file
	 * could hold at all. */
	write_three(t.path);
	buf = slurp(t.path, &size);
	buf[size - 16] = 4;
	spit(t.path, buf, size);
	reseal(t.path);
	expect_error(t.path, LAYOUT, 40, KW_ECORRUPT,
		     "state file damaged (record 4 of 4: cut short); remove "
		     "it to start learning again");
	buf[size - 16] = 200;
	spit(t.path, buf, size);
	free(buf);
	reseal(t.path);
	expect_error(t.path, LAYOUT, 40, KW_ECORRUPT,
		     "state file damaged (record count)");

	/* The owner's check sees every record, and its reason is told. */
	write_three(t.path);
	assert_int_equal(kw_snapshot_create(LAYOUT, 40, 10, &s), KW_OK);
	kw_snapshot_set_check(s, no_ee, &calls);
	assert_int_equal(kw_snapshot_load(s, t.path, &found, &err), KW_OK);
	assert_int_equal(calls, 3);
	assert_int_equal(kw_snapshot_count(s), 3);
	kw_snapshot_destroy(s);
	/* Record 3's first state byte (after 2 x 73 and its 33 bytes). */
	rewrite(t.path, 24 + 73 + 73 + 33, "\xee", 1, -1);
	reseal(t.path);
	assert_int_equal(kw_snapshot_create(LAYOUT, 40, 10, &s), KW_OK);
	kw_snapshot_set_check(s, no_ee, &calls);
	kw_error_clear(&err);
	assert_int_equal(kw_snapshot_load(s, t.path, &found, &err),
			 KW_ECORRUPT);
	assert_true(found);
	assert_non_null(strstr(err.msg, "state file damaged (record 3 of 3: "
					"test: first byte 0xee)"));
	assert_int_equal(kw_snapshot_count(s), 0); /* nothing half-loaded */
	kw_snapshot_destroy(s);
	tmp_down(&t);
}

/* The extra section (the router's memory) is under the checksum, and
 * its length must be what the file holds. */
static void test_extra_section(void **state)
{
	struct kw_snapshot *s = NULL;
	struct kw_snapshot_writer *w = NULL;
	struct kw_snap_meta m = {100, 200, 3};
	unsigned char st[40] = {0};
	struct kw_error err;
	const char *extra;
	size_t n;
	struct tmp t;
	bool found;

	(void)state;
	tmp_up(&t);
	assert_int_equal(kw_snapshot_write_begin(t.path, LAYOUT, 40, &w, &err),
			 KW_OK);
	kw_snapshot_write_add(w, FP_A, &m, st);
	kw_snapshot_write_extra(w, "{\"memory\":1}", 12);
	assert_int_equal(kw_snapshot_write_commit(w, &err), KW_OK);
	assert_int_equal(kw_snapshot_create(LAYOUT, 40, 10, &s), KW_OK);
	assert_int_equal(kw_snapshot_load(s, t.path, &found, &err), KW_OK);
	assert_int_equal(kw_snapshot_count(s), 1);
	extra = kw_snapshot_extra(s, &n);
	assert_int_equal(n, 12);
	assert_string_equal(extra, "{\"memory\":1}");
	kw_snapshot_destroy(s);

	/* One record of an all-zero state: 33 bytes; then the extra
	 * section's length and its bytes. */
	rewrite(t.path, 24 + 33 + 8 + 3, "X", 1, -1);
	expect_error(t.path, LAYOUT, 40, KW_ECORRUPT,
		     "state file damaged (checksum mismatch)");
	rewrite(t.path, 24 + 33, "\x0d", 1, -1);
	reseal(t.path);
	expect_error(t.path, LAYOUT, 40, KW_ECORRUPT,
		     "state file damaged (extra section of 13 bytes)");
	tmp_down(&t);
}

/* A FIFO or a device given as the state file is refused at once (a
 * blocking open would wait for a writer forever); so is a directory. */
static void test_special_files_refused(void **state)
{
	struct tmp t;
	time_t t0 = time(NULL);

	(void)state;
	tmp_up(&t);
	assert_int_equal(mkfifo(t.path, 0600), 0);
	expect_error(t.path, LAYOUT, 40, KW_EINVAL,
		     "not a regular file (a named pipe)");
	assert_true(time(NULL) - t0 < 5);
	unlink(t.path);
	expect_error("/dev/null", LAYOUT, 40, KW_EINVAL,
		     "not a regular file (a character device)");
	expect_error(t.dir, LAYOUT, 40, KW_EINVAL,
		     "not a regular file (a directory)");
	tmp_down(&t);
}

/* The writer never writes through a link planted at its temporary name:
 * the link is replaced, its target left alone, and the new file is 0600. */
static void test_write_ignores_planted_link(void **state)
{
	char tmpname[160], victim[160];
	struct kw_snapshot *s = NULL;
	struct stat sb;
	struct tmp t;
	FILE *f;
	bool found;
	struct kw_error err;

	(void)state;
	tmp_up(&t);
	snprintf(tmpname, sizeof(tmpname), "%s.tmp", t.path);
	snprintf(victim, sizeof(victim), "%s/victim", t.dir);
	f = fopen(victim, "w");
	assert_non_null(f);
	fputs("precious\n", f);
	fclose(f);
	assert_int_equal(symlink(victim, tmpname), 0);
	write_three(t.path);
	assert_int_equal(stat(victim, &sb), 0);
	assert_int_equal(sb.st_size, 9);
	assert_int_equal(lstat(tmpname, &sb), -1); /* renamed away */
	assert_int_equal(lstat(t.path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(kw_snapshot_create(LAYOUT, 40, 10, &s), KW_OK);
	assert_int_equal(kw_snapshot_load(s, t.path, &found, &err), KW_OK);
	assert_int_equal(kw_snapshot_count(s), 3);
	kw_snapshot_destroy(s);
	unlink(victim);
	tmp_down(&t);
}

/* ---- two scans with --state = one scan ------------------------------------
 */

#define KEY_A "sk_live_51HbusyBusyBusyBusyBusyaaaa"
#define KEY_B "sk_live_51HquietQuietQuietQuietbbbb"
#define DAY_S 86400
#define T0 1795132800 /* 2026-11-20T00:00:00Z */

struct sink_capture {
	char *lines[256];
	size_t n;
};

static enum kw_sink_result cap_deliver(void *self, const struct kw_alert *a,
				       const char *json, size_t len,
				       struct kw_error *err)
{
	struct sink_capture *c = self;

	(void)a;
	(void)err;
	assert_true(c->n < 256);
	c->lines[c->n] = strndup(json, len);
	assert_non_null(c->lines[c->n]);
	c->n++;
	return KW_SINK_OK;
}

static enum kw_status cap_create(const json_t *conf,
				 const struct kw_sink_env *env, void **self,
				 struct kw_error *err)
{
	(void)conf;
	(void)env;
	(void)self;
	(void)err;
	return KW_OK;
}

static const struct kw_sink_ops capture_ops = {
	.name = "capture",
	.create = cap_create,
	.deliver = cap_deliver,
};

/* Days [from, to) of traffic: key A 4 requests a minute with a 5x day
 * cycle, key B one every 10 minutes; in week 2 a spike and a new
 * operation on A and an error burst on B. */
static void write_days(const char *path, int from, int to)
{
	FILE *f = fopen(path, "w");
	unsigned id = (unsigned)from * 100000;

	assert_non_null(f);
	for (long m = (long)from * 1440; m < (long)to * 1440; m++) {
		long t = T0 + m * 60;
		int hod = (int)(m % 1440) / 60;
		int n = hod >= 8 && hod < 20 ? 8 : 2;

		if (m == 10 * 1440 + 600)
			n = 120; /* day 10, 10:00: a spike */
		for (int i = 0; i < n; i++)
			fprintf(f,
				"{\"id\":\"req_%u\",\"created\":%ld,\"method\":"
				"\"GET\",\"path\":\"/v1/charges/ch_%d\","
				"\"status\":200,\"ip\":\"198.51.100.4\","
				"\"api_key\":\"" KEY_A "\"}\n",
				id++, t + i * 60 / n, i);
		if (m == 9 * 1440 + 300)
			fprintf(f,
				"{\"id\":\"req_%u\",\"created\":%ld,\"method\":"
				"\"GET\",\"path\":\"/v1/balance\",\"status\":"
				"200,\"ip\":\"198.51.100.4\",\"api_key\":"
				"\"" KEY_A "\"}\n",
				id++, t + 30);
		if (m % 10 == 0)
			fprintf(f,
				"{\"id\":\"req_%u\",\"created\":%ld,\"method\":"
				"\"GET\",\"path\":\"/v1/customers/cus_1\","
				"\"status\":%d,\"ip\":\"198.51.100.5\","
				"\"api_key\":\"" KEY_B "\"}\n",
				id++, t + 5, m % 100 ? 200 : 404);
		if (m == 11 * 1440 + 62)
			for (int i = 0; i < 25; i++)
				fprintf(f,
					"{\"id\":\"req_%u\",\"created\":%ld,"
					"\"method\":\"GET\",\"path\":\"/v1/"
					"customers/cus_2\",\"status\":404,"
					"\"ip\":\"198.51.100.5\",\"api_key\":"
					"\"" KEY_B "\"}\n",
					id++, t + i);
	}
	fclose(f);
}

struct run {
	struct kw_config *cfg;
	struct kw_models *models;
	struct kw_router *router;
	struct kw_engine *engine;
};

/* The model the runs load: Stripe's, or (the handed-out keys' tests)
 * AWS's. */
static const char *run_model = "stripe";

static void run_up(struct run *r, struct sink_capture *cap)
{
	const char *names[] = {run_model};
	struct kw_engine_opts opts;
	struct kw_error err;
	struct kw_sink *s;

	memset(r, 0, sizeof(*r));
	if (kw_config_load_string("{\"learn\": \"72h\"}", "t.json", &r->cfg,
				  &err) != KW_OK)
		fail_msg("%s", err.msg);
	if (kw_models_load(KW_SOURCE_ROOT "/models", names, 1, &r->models,
			   &err) != KW_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(
		kw_router_create(r->cfg, KW_SEV_INFO, &r->router, &err), KW_OK);
	s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->ops = &capture_ops;
	s->self = cap;
	snprintf(s->name, sizeof(s->name), "capture");
	kw_router_add_sink(r->router, s);
	memset(&opts, 0, sizeof(opts));
	opts.cfg = r->cfg;
	opts.models = r->models;
	opts.router = r->router;
	if (kw_engine_create(&opts, &r->engine, &err) != KW_OK)
		fail_msg("%s", err.msg);
}

static void run_down(struct run *r)
{
	kw_engine_destroy(r->engine);
	kw_router_destroy(r->router);
	kw_models_destroy(r->models);
	kw_config_free(r->cfg);
}

/* Scan paths (with the state file when state is not NULL). */
static void scan(struct sink_capture *cap, const char *state, const char *p1,
		 const char *p2)
{
	struct kw_error err;
	struct run r;

	run_up(&r, cap);
	if (state && kw_engine_load_state(r.engine, state, &err) != KW_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(kw_engine_read_path(r.engine, p1), KW_OK);
	if (p2)
		assert_int_equal(kw_engine_read_path(r.engine, p2), KW_OK);
	kw_engine_finish(r.engine);
	if (state && kw_engine_save_state(r.engine, state, &err) != KW_OK)
		fail_msg("%s", err.msg);
	run_down(&r);
}

static void free_capture(struct sink_capture *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->lines[i]);
}

static void test_two_scans_equal_one(void **state)
{
	struct sink_capture one = {0}, two = {0}, first = {0};
	char week1[128], week2[128], st[128];
	size_t i = 0, j = 0, w2 = 0;
	struct tmp t;

	(void)state;
	kw_log_set_level(KW_LOG_QUIET);
	tmp_up(&t);
	snprintf(week1, sizeof(week1), "%s/week1.jsonl", t.dir);
	snprintf(week2, sizeof(week2), "%s/week2.jsonl", t.dir);
	snprintf(st, sizeof(st), "%s/s", t.dir);
	write_days(week1, 0, 7);
	write_days(week2, 7, 14);

	scan(&one, NULL, week1, week2);
	scan(&first, st, week1, NULL);
	scan(&two, st, week2, NULL);

	/* The alerts of the one scan from week 2 on, in order. */
	while (i < one.n && strstr(one.lines[i], "\"time\":\"2026-11-2") &&
	       !strstr(one.lines[i], "\"time\":\"2026-11-27") &&
	       !strstr(one.lines[i], "\"time\":\"2026-11-28") &&
	       !strstr(one.lines[i], "\"time\":\"2026-11-29"))
		i++;
	for (; i < one.n; i++, j++) {
		assert_true(j < two.n);
		assert_string_equal(one.lines[i], two.lines[j]);
		w2++;
	}
	assert_int_equal(j, two.n);
	/* Week 2 holds the new operation, the spike and the error burst
	 * (a spike of its own on a key this quiet), and nothing else; week
	 * 1 alone raised nothing. */
	assert_int_equal(w2, 4);
	assert_non_null(
		strstr(two.lines[0], "\"detector\":\"ops.first_seen\""));
	assert_non_null(strstr(two.lines[1], "\"detector\":\"rate.spike\""));
	assert_non_null(
		strstr(two.lines[1], "\"time\":\"2026-11-30T10:01:00Z\""));
	assert_non_null(strstr(two.lines[2], "\"detector\":\"rate.spike\""));
	assert_non_null(strstr(two.lines[3], "\"detector\":\"rate.errors\""));
	assert_int_equal(first.n, 0);

	/* Without the state file week 2 alone learns for its first three
	 * days: the new operation on day 2 of it goes unseen. */
	free_capture(&first);
	memset(&first, 0, sizeof(first));
	scan(&first, NULL, week2, NULL);
	assert_int_equal(first.n, 3);
	for (size_t k = 0; k < first.n; k++)
		assert_null(strstr(first.lines[k], "ops.first_seen"));

	free_capture(&one);
	free_capture(&two);
	free_capture(&first);
	unlink(week1);
	unlink(week2);
	unlink(st);
	tmp_down(&t);
	kw_log_set_level(KW_LOG_INFO);
}

/* The engine closes an idle key's windows as the watermark passes them:
 * a burst of denied requests followed by silence is reported before the
 * end of the input, while another key keeps the log going. */
static void test_watermark_closes_idle_key(void **state)
{
	struct sink_capture cap = {0};
	char log[128];
	struct run r;
	struct tmp t;
	FILE *f;

	(void)state;
	kw_log_set_level(KW_LOG_QUIET);
	tmp_up(&t);
	snprintf(log, sizeof(log), "%s/burst.jsonl", t.dir);
	f = fopen(log, "w");
	assert_non_null(f);
	for (int i = 0; i < 30; i++)
		fprintf(f,
			"{\"id\":\"req_b%d\",\"created\":%d,\"method\":"
			"\"GET\",\"path\":\"/v1/balance\",\"status\":403,"
			"\"ip\":\"198.51.100.5\",\"api_key\":\"" KEY_B "\"}\n",
			i, T0 + i);
	for (int m = 1; m < 20; m++)
		fprintf(f,
			"{\"id\":\"req_a%d\",\"created\":%d,\"method\":"
			"\"GET\",\"path\":\"/v1/balance\",\"status\":200,"
			"\"ip\":\"198.51.100.4\",\"api_key\":\"" KEY_A "\"}\n",
			m, T0 + m * 60);
	fclose(f);
	run_up(&r, &cap);
	assert_int_equal(kw_engine_read_path(r.engine, log), KW_OK);
	/* Before kw_engine_finish: the watermark (18:00 - 2 min) has passed
	 * the burst's window (00:00 to 00:05). */
	assert_int_equal(cap.n, 1);
	assert_non_null(strstr(cap.lines[0], "\"detector\":\"rate.errors\""));
	assert_non_null(
		strstr(cap.lines[0], "\"time\":\"2026-11-20T00:05:00Z\""));
	kw_engine_finish(r.engine);
	assert_int_equal(cap.n, 1);
	run_down(&r);
	free_capture(&cap);
	unlink(log);
	tmp_down(&t);
	kw_log_set_level(KW_LOG_INFO);
}

/* Events older than the watermark of an earlier batch are counted late
 * (and still analysed). */
static void test_late_events_counted(void **state)
{
	struct sink_capture cap = {0};
	char log[128];
	struct run r;
	struct tmp t;
	FILE *f;

	(void)state;
	kw_log_set_level(KW_LOG_QUIET);
	tmp_up(&t);
	snprintf(log, sizeof(log), "%s/late.jsonl", t.dir);
	f = fopen(log, "w");
	assert_non_null(f);
	/* 1100 events a second apart (the first batch is 1024 records, its
	 * watermark 1023 s - 120 s), then 5 from the very start. */
	for (int i = 0; i < 1105; i++)
		fprintf(f,
			"{\"id\":\"req_%d\",\"created\":%d,\"method\":"
			"\"GET\",\"path\":\"/v1/balance\",\"status\":200,"
			"\"ip\":\"198.51.100.4\",\"api_key\":\"" KEY_A "\"}\n",
			i, i < 1100 ? T0 + i : T0 + 1 + i - 1100);
	fclose(f);
	run_up(&r, &cap);
	assert_int_equal(kw_engine_read_path(r.engine, log), KW_OK);
	kw_engine_finish(r.engine);
	assert_int_equal(kw_engine_stats(r.engine)->events, 1105);
	assert_int_equal(kw_engine_stats(r.engine)->late, 5);
	run_down(&r);
	unlink(log);
	tmp_down(&t);
	kw_log_set_level(KW_LOG_INFO);
}

/* A damaged state file stops the scan before anything is read. */
static void test_engine_rejects_damaged(void **state)
{
	struct sink_capture cap = {0};
	struct kw_error err;
	struct run r;
	struct tmp t;
	FILE *f;

	(void)state;
	tmp_up(&t);
	f = fopen(t.path, "w");
	assert_non_null(f);
	fputs("KWSTATE", f);
	fclose(f);
	run_up(&r, &cap);
	kw_error_clear(&err);
	assert_int_equal(kw_engine_load_state(r.engine, t.path, &err),
			 KW_ECORRUPT);
	assert_non_null(strstr(err.msg, t.path));
	assert_non_null(strstr(err.msg, ": not a keywatch state file"));
	run_down(&r);
	tmp_down(&t);
}

/* What the issue found: a state file with a valid checksum whose geo
 * counters are 255 made the engine read and write past the key's state
 * (heap-buffer-overflow in add_place and has_ip). Every family checks
 * its bytes now, and the file is refused before anything is read. */
static void test_engine_rejects_insane_state(void **state)
{
	struct sink_capture cap = {0};
	char log[160];
	struct kw_error err;
	struct run r;
	struct tmp t;
	long size;
	size_t ssize, count, off[2];
	uint64_t layout;
	static struct rawrec recs[2];
	unsigned char *buf;

	(void)state;
	kw_log_set_level(KW_LOG_ERROR);
	tmp_up(&t);
	snprintf(log, sizeof(log), "%s/log.jsonl", t.dir);
	write_days(log, 0, 1);
	scan(&cap, t.path, log, NULL);
	free_capture(&cap);

	/* Every record's state bytes to 0xff, the checksum made right. */
	buf = slurp(t.path, &size);
	ssize = (size_t)buf[12] | (size_t)buf[13] << 8;
	layout = rd64(buf + 16);
	free(buf);
	count = read_v3(t.path, ssize, recs, 2, off);
	assert_int_equal(count, 2);
	for (size_t i = 0; i < count; i++)
		memset(recs[i].state, 0xff, ssize);
	write_version(t.path, 3, layout, ssize, recs, count, NULL);

	run_up(&r, &cap);
	kw_error_clear(&err);
	assert_int_equal(kw_engine_load_state(r.engine, t.path, &err),
			 KW_ECORRUPT);
	assert_non_null(strstr(err.msg, t.path));
	assert_non_null(strstr(
		err.msg, ": state file damaged (record 1 of 2: geo: "
			 "remembered 255 IPs, 255 networks, 255 ASNs, 255 "
			 "countries, 255 places (at most 8, 8, 8, 8, 4)); "
			 "remove it to start learning again"));
	/* Nothing was taken in: the keys start afresh. */
	assert_int_equal(kw_engine_read_path(r.engine, log), KW_OK);
	kw_engine_finish(r.engine);
	assert_int_equal(kw_engine_stats(r.engine)->keys_restored, 0);
	run_down(&r);
	free_capture(&cap);
	unlink(log);
	tmp_down(&t);
	kw_log_set_level(KW_LOG_INFO);
}

/* ---- an upgrade that changes one family's layout ---------------------- */

#define KEY_G "sk_live_51HgeoGeoGeoGeoGeoGeogggg"

/* One request of key G at T0 + sec from ip, to path. */
static void req(FILE *f, long sec, const char *ip, const char *path)
{
	static unsigned id;

	fprintf(f,
		"{\"id\":\"req_g%u\",\"created\":%ld,\"method\":\"GET\","
		"\"path\":\"%s\",\"status\":200,\"ip\":\"%s\","
		"\"api_key\":\"" KEY_G "\"}\n",
		id++, T0 + sec, path, ip);
}

/* Set the layout version of the state file's section name to version,
 * the checksum made right: the file as an older keywatch wrote it. */
static void set_section_version(const char *path, const char *name,
				uint32_t version)
{
	long size;
	unsigned char *buf = slurp(path, &size);
	size_t p = 28, len = strlen(name);
	uint32_t n = (uint32_t)buf[24], crc;
	bool done = false;

	assert_int_equal(buf[8], 4);
	for (uint32_t i = 0; i < n; i++, p += 13 + buf[p + 12]) {
		if (buf[p + 12] != len || memcmp(buf + p + 13, name, len))
			continue;
		for (int k = 0; k < 4; k++)
			buf[p + k] = (unsigned char)(version >> (8 * k));
		done = true;
	}
	assert_true(done);
	crc = (uint32_t)crc32(0, buf, (uInt)(size - 8));
	for (int k = 0; k < 4; k++)
		buf[size - 8 + k] = (unsigned char)(crc >> (8 * k));
	spit(path, buf, size);
	free(buf);
}

/* Scan log with the state file, its warnings captured into got. */
static void scan_logged(struct sink_capture *cap, const char *st,
			const char *log, char *got, size_t cap_got)
{
	struct capture c;

	kw_log_set_level(KW_LOG_WARN);
	capture_begin(&c);
	scan(cap, st, log, NULL);
	capture_end(&c, got, cap_got);
	kw_log_set_level(KW_LOG_QUIET);
}

/* geo's layout changes in an upgrade (its section in the state file is of
 * an older version): geo alone starts learning key G again, from the
 * key's first request after the upgrade, with the warning; until it has
 * learnt for `learn` (72 hours) no address is new to it, though it
 * forgot the ones it knew; the learning again survives a save in the
 * middle; ops keeps what it learnt (a known operation is quiet, a new
 * one is caught at once). Loaded without the change, the same requests
 * make geo call the first new address new. */
static void test_engine_relearns_reset_family(void **state)
{
	struct sink_capture cap = {0};
	char week[128], day10[128], day11[128], st[128], got[1024], want[1024];
	struct tmp t;
	FILE *f;

	(void)state;
	kw_log_set_level(KW_LOG_QUIET);
	tmp_up(&t);
	snprintf(week, sizeof(week), "%s/week.jsonl", t.dir);
	snprintf(day10, sizeof(day10), "%s/day10.jsonl", t.dir);
	snprintf(day11, sizeof(day11), "%s/day11.jsonl", t.dir);
	snprintf(st, sizeof(st), "%s/s", t.dir);
	/* Days 0 to 4: hourly from one address, one operation. */
	f = fopen(week, "w");
	assert_non_null(f);
	for (long h = 0; h < 5 * 24; h++)
		req(f, h * 3600, "198.51.100.4", "/v1/charges");
	fclose(f);
	/* Day 10 (the upgrade): a new address, a new operation, and the
	 * old address, which geo has forgotten. */
	f = fopen(day10, "w");
	assert_non_null(f);
	req(f, 10 * DAY_S, "203.0.113.9", "/v1/charges");
	req(f, 10 * DAY_S + 3600, "203.0.113.9", "/v1/balance");
	req(f, 10 * DAY_S + 7200, "198.51.100.4", "/v1/charges");
	fclose(f);
	/* Day 11, still learning; day 13, 72 hours after day 10's first
	 * request, learnt: each a new address. */
	f = fopen(day11, "w");
	assert_non_null(f);
	req(f, 11 * DAY_S, "192.0.2.50", "/v1/charges");
	req(f, 13 * DAY_S - 1, "192.0.2.51", "/v1/charges");
	req(f, 13 * DAY_S + 60, "192.0.2.77", "/v1/charges");
	fclose(f);

	scan(&cap, st, week, NULL);
	assert_int_equal(cap.n, 0);

	set_section_version(st, "geo", 1);
	scan_logged(&cap, st, day10, got, sizeof(got));
	snprintf(want, sizeof(want),
		 "keywatch: warning: state: learning for geo starts again: "
		 "its state in %s is from an older layout\n",
		 st);
	assert_string_equal(got, want);
	assert_int_equal(cap.n, 1);
	assert_non_null(
		strstr(cap.lines[0], "\"detector\":\"ops.first_seen\""));
	assert_non_null(
		strstr(cap.lines[0], "\"time\":\"2026-11-30T01:00:00Z\""));

	/* Saved in the middle of learning again: it goes on. */
	scan_logged(&cap, st, day11, got, sizeof(got));
	assert_string_equal(got, "");
	assert_int_equal(cap.n, 2);
	assert_non_null(strstr(cap.lines[1], "\"detector\":\"geo.new_ip\""));
	assert_non_null(
		strstr(cap.lines[1], "\"time\":\"2026-12-03T00:01:00Z\""));
	assert_non_null(strstr(cap.lines[1], "192.0.2.77"));
	free_capture(&cap);
	memset(&cap, 0, sizeof(cap));

	/* The same day 10 without the upgrade: geo knows the key. */
	unlink(st);
	scan(&cap, st, week, NULL);
	scan(&cap, st, day10, NULL);
	assert_int_equal(cap.n, 2);
	assert_non_null(strstr(cap.lines[0], "\"detector\":\"geo.new_ip\""));
	assert_non_null(strstr(cap.lines[0], "203.0.113.9"));
	assert_non_null(
		strstr(cap.lines[1], "\"detector\":\"ops.first_seen\""));

	free_capture(&cap);
	unlink(week);
	unlink(day10);
	unlink(day11);
	unlink(st);
	tmp_down(&t);
	kw_log_set_level(KW_LOG_INFO);
}

/* ---- keys handed out, across runs ---------------------------------------- */

/* Record i of the principals golden test's CloudTrail log, alone in a
 * log of its own at path. */
static void cloudtrail_record(const char *path, size_t i)
{
	json_error_t jerr;
	json_t *all = json_load_file(KW_SOURCE_ROOT
				     "/tests/golden/principals/records.json",
				     0, &jerr);
	json_t *one;

	assert_non_null(all);
	one = json_pack("{s:[O]}", "Records",
			json_array_get(json_object_get(all, "Records"), i));
	assert_non_null(one);
	assert_int_equal(json_dump_file(one, path, 0), 0);
	json_decref(one);
	json_decref(all);
}

/* Day 1 is ci-runner's AssumeRole (AKIA...0001 is handed ASIA...P001),
 * day 2 the child's UpdateFunctionCode: scanned with the state file, its
 * alert still names the parent; without it, it cannot. A damaged keys
 * handed out section refuses the file, naming it. */
static void test_engine_handouts_kept(void **state)
{
	struct sink_capture cap = {0};
	char day1[128], day2[128], st[128], want[512];
	struct kw_error err;
	struct run r;
	struct tmp t;
	unsigned char *buf;
	long size;
	uint64_t m = 0;

	(void)state;
	kw_log_set_level(KW_LOG_QUIET);
	run_model = "aws";
	tmp_up(&t);
	snprintf(day1, sizeof(day1), "%s/day1.json", t.dir);
	snprintf(day2, sizeof(day2), "%s/day2.json", t.dir);
	snprintf(st, sizeof(st), "%s/s", t.dir);
	cloudtrail_record(day1, 0);
	cloudtrail_record(day2, 1);

	scan(&cap, st, day1, NULL);
	assert_int_equal(cap.n, 0);
	scan(&cap, st, day2, NULL);
	assert_int_equal(cap.n, 1);
	assert_non_null(strstr(cap.lines[0], "\"detector\":\"ops.sensitive\""));
	assert_non_null(strstr(cap.lines[0],
			       "\"parent\":{\"id\":\"AKIA\xe2\x80\xa6"
			       "0001\",\"principal\":\"345678901234:user/"
			       "ci-runner\"}"));
	free_capture(&cap);
	memset(&cap, 0, sizeof(cap));
	/* Day 2 alone knows no parent. */
	scan(&cap, NULL, day2, NULL);
	assert_int_equal(cap.n, 1);
	assert_null(strstr(cap.lines[0], "\"parent\""));
	free_capture(&cap);
	memset(&cap, 0, sizeof(cap));

	/* The section is the last before the trailer: its first entry's id
	 * length (after the count, fingerprint and time) made 0. */
	buf = slurp(st, &size);
	for (uint64_t k = 1; k < (uint64_t)size - 40 && !m; k++) {
		if (rd64(buf + size - 24 - (long)k) == k)
			m = k;
	}
	assert_true(m > 20);
	buf[size - 16 - (long)m + 20] = 0;
	{
		uint32_t crc = (uint32_t)crc32(0, buf, (uInt)(size - 8));

		for (int k = 0; k < 4; k++)
			buf[size - 8 + k] = (unsigned char)(crc >> (8 * k));
	}
	spit(st, buf, size);
	free(buf);
	run_up(&r, &cap);
	kw_error_clear(&err);
	assert_int_equal(kw_engine_load_state(r.engine, st, &err), KW_ECORRUPT);
	snprintf(want, sizeof(want),
		 "%s: state file damaged (keys handed out: a parent's id or "
		 "principal that is not one); remove it to start learning "
		 "again",
		 st);
	assert_string_equal(err.msg, want);
	run_down(&r);

	run_model = "stripe";
	unlink(day1);
	unlink(day2);
	unlink(st);
	tmp_down(&t);
	kw_log_set_level(KW_LOG_INFO);
}

/* A family with per-key state says what state it could have left: the
 * engine runs every loaded record through it (detector.h). */
static void test_every_stateful_family_validates(void **state)
{
	const struct kw_detector_ops *const *all = kw_detect_all();
	size_t stateful = 0;

	(void)state;
	for (size_t i = 0; all[i]; i++) {
		if (!all[i]->state_size)
			continue;
		stateful++;
		if (!all[i]->validate)
			fail_msg("detector family %s keeps %zu bytes per key "
				 "but has no validate()",
				 all[i]->name, all[i]->state_size);
		if (!all[i]->state_version)
			fail_msg("detector family %s keeps %zu bytes per key "
				 "but has no state_version",
				 all[i]->name, all[i]->state_size);
		if (all[i]->state_version == 1 && all[i]->state_size_v1)
			fail_msg("detector family %s: state_size_v1 is for "
				 "families past version 1",
				 all[i]->name);
	}
	assert_true(stateful >= 4);
}

/* One record at a time (the daemon's changelog): encoded, checked and
 * taken back with its relearn marks, the table's bound kept, a pending
 * record forgotten, and damage refused with what is wrong. */
static void test_one_record(void **state)
{
	struct kw_snapshot *s = NULL, *d = NULL;
	struct kw_snap_meta m = {100, 200, 3, 2u | 4u, 150}, got;
	unsigned char st[40], back[40], rec[256];
	char fp[KW_SNAPSHOT_FP + 1], why[128], msg[128];
	size_t n, max;

	(void)state;
	assert_int_equal(kw_snapshot_create_layout(&layout_a, NULL, 1, &s),
			 KW_OK);
	assert_int_equal(kw_snapshot_create_layout(&layout_a, NULL, 1, &d),
			 KW_OK);
	max = kw_snapshot_record_max(s);
	assert_true(max <= sizeof(rec));
	assert_int_equal(max, 8 + 24 + 16 + 1 + 40);
	state_a(st, 1);
	memset(st + 16, 0, 8); /* rate's words are zero: left out */
	assert_int_equal(kw_snapshot_encode(s, "not hex at all!!", &m, st, rec),
			 0);
	n = kw_snapshot_encode(s, FP_A, &m, st, rec);
	assert_int_equal(n, 8 + 24 + 16 + 1 + 3 * 8);
	assert_int_equal(
		kw_snapshot_put_record(d, rec, n, fp, why, sizeof(why)), KW_OK);
	assert_string_equal(fp, FP_A);
	assert_int_equal(kw_snapshot_count(d), 1);
	assert_true(kw_snapshot_take(d, FP_A, &got, back));
	assert_memory_equal(back, st, 40);
	assert_true(got.first_seen == 100 && got.last_seen == 200 &&
		    got.events == 3);
	assert_true(got.relearn == (2u | 4u) && got.relearn_since == 150);
	/* Forgotten before it is taken. */
	assert_int_equal(
		kw_snapshot_put_record(d, rec, n, fp, why, sizeof(why)), KW_OK);
	assert_true(kw_snapshot_forget(d, FP_A));
	assert_false(kw_snapshot_forget(d, FP_A));
	assert_false(kw_snapshot_take(d, FP_A, &got, back));
	/* The bound: one record. */
	assert_int_equal(
		kw_snapshot_put_record(d, rec, n, fp, why, sizeof(why)), KW_OK);
	assert_int_equal(kw_snapshot_encode(s, FP_B, &m, st, rec + 128), n);
	assert_int_equal(
		kw_snapshot_put_record(d, rec + 128, n, fp, why, sizeof(why)),
		KW_ETOOBIG);
	assert_string_equal(why, "more keys than max_keys");
	assert_int_equal(kw_snapshot_dropped(d), 1);
	/* Damage. */
	assert_int_equal(
		kw_snapshot_put_record(d, rec, n - 1, fp, why, sizeof(why)),
		KW_ECORRUPT);
	assert_string_equal(why, "cut short");
	assert_int_equal(
		kw_snapshot_put_record(d, rec, max + 1, fp, why, sizeof(why)),
		KW_ECORRUPT);
	snprintf(msg, sizeof(msg), "%zu bytes, more than a record's %zu",
		 max + 1, max);
	assert_string_equal(why, msg);
	rec[8 + 24 + 16] |= 0x80; /* past the state's 5 words */
	assert_int_equal(
		kw_snapshot_put_record(d, rec, n, fp, why, sizeof(why)),
		KW_ECORRUPT);
	assert_string_equal(why, "state words past the state's size");
	rec[8 + 24 + 16] &= 0x7f;
	rec[8 + 24] = 8; /* relearn: a section layout A does not have */
	assert_int_equal(
		kw_snapshot_put_record(d, rec, n, fp, why, sizeof(why)),
		KW_ECORRUPT);
	assert_string_equal(
		why, "learning again in a section the file does not have");
	assert_string_equal(fp, FP_A);
	kw_snapshot_destroy(s);
	kw_snapshot_destroy(d);
}

/* Put record rec (n bytes) of layout lay into s, expecting st and (with
 * a message) why. */
static void put_from(struct kw_snapshot *s, const unsigned char *lay,
		     size_t nlay, const unsigned char *rec, size_t n,
		     enum kw_status want, const char *msg)
{
	char fp[KW_SNAPSHOT_FP + 1], why[160] = "";

	assert_int_equal(kw_snapshot_put_record_from(s, lay, nlay,
						     "changelog t/0", rec, n,
						     fp, why, sizeof(why)),
			 want);
	if (msg)
		assert_string_equal(why, msg);
}

/* Records handed on alone (a changelog's) carry their layout, and a
 * keywatch of another layout reads them as it reads a file of that
 * layout: upgraded, moved, or learning again, said once a layout
 * (naming where they came from). A layout that breaks the rules is
 * refused with what is wrong; the owner's own layout, given or not, is
 * read as it lies. */
static void test_records_of_another_layout(void **state)
{
	struct kw_snapshot *a = NULL, *b = NULL;
	struct kw_snap_meta m = {100, 200, 3, 0, 0};
	const char *fps[] = {FP_A, FP_B, FP_C};
	unsigned char st[40], recs[3][128], lay[256], bad[256];
	const unsigned char *la, *lb;
	size_t n[3], nla, nlb;
	struct capture cap;
	char got[1024];

	(void)state;
	assert_int_equal(kw_snapshot_create_layout(&layout_a, NULL, 10, &a),
			 KW_OK);
	assert_int_equal(kw_snapshot_create_layout(&layout_bu, NULL, 10, &b),
			 KW_OK);
	la = kw_snapshot_layout(a, &nla);
	/* The state's size, then the sections as the file has them. */
	assert_int_equal(nla, 4 + 4 + 16 + 17 + 16);
	assert_memory_equal(la,
			    "\x28\0\0\0\x03\0\0\0"
			    "\x01\0\0\0\0\0\0\0\x10\0\0\0\x03geo",
			    8 + 16);
	memcpy(lay, la, nla);
	for (int i = 0; i < 3; i++) {
		state_a(st, i);
		n[i] = kw_snapshot_encode(a, fps[i], &m, st, recs[i]);
	}
	capture_begin(&cap);
	for (int i = 0; i < 3; i++)
		put_from(b, lay, nla, recs[i], n[i], KW_OK, NULL);
	capture_end(&cap, got, sizeof(got));
	assert_string_equal(got, "keywatch: state: learning for ops.harvest "
				 "starts: changelog t/0 holds no state for "
				 "it\n");
	expect_upgraded(b);

	/* Damage in a record of the other layout. */
	put_from(b, lay, nla, recs[0], n[0] - 1, KW_ECORRUPT, "cut short");
	put_from(b, lay, nla, recs[0], 4, KW_ECORRUPT, "cut short");
	memcpy(bad, recs[0], n[0]);
	bad[n[0]] = 0;
	put_from(b, lay, nla, bad, n[0] + 1, KW_ECORRUPT,
		 "1 bytes past the record's end");
	bad[8 + 24] = 8; /* relearn: a section layout A does not have */
	put_from(b, lay, nla, bad, n[0], KW_ECORRUPT,
		 "learning again in a section the file does not have");
	assert_int_equal(kw_snapshot_count(b), 0);

	/* Layouts that break the rules. */
	put_from(b, lay, 3, recs[0], n[0], KW_ECORRUPT,
		 "its layout: a state of 0 bytes");
	memcpy(bad, lay, nla);
	bad[4] = 0;
	put_from(b, bad, nla, recs[0], n[0], KW_ECORRUPT,
		 "its layout: 0 sections");
	put_from(b, lay, nla - 1, recs[0], n[0], KW_ECORRUPT,
		 "its layout: sections cut short");
	memcpy(bad, lay, nla);
	bad[nla] = 0;
	put_from(b, bad, nla + 1, recs[0], n[0], KW_ECORRUPT,
		 "its layout: 1 bytes past its sections");
	bad[0] = 36;
	put_from(b, bad, nla, recs[0], n[0], KW_ECORRUPT,
		 "its layout: section ops: bytes 32 to 40 overlap another or "
		 "pass the state's 36");
	memcpy(bad, lay, nla);
	bad[0] = 48;
	bad[nla - 8] = 16; /* ops, version 3 as B's, of 16 bytes */
	put_from(b, bad, nla, recs[0], n[0], KW_ECORRUPT,
		 "its layout: section ops: layout version 3 of 16 bytes, this "
		 "keywatch's is 8 bytes");
	assert_int_equal(kw_snapshot_count(b), 0);

	/* Its own layout, given or not. */
	lb = kw_snapshot_layout(b, &nlb);
	memcpy(st, "\x11\x11\x11\x11\x11\x11\x11\x11", 8);
	memset(st + 8, 0, 24);
	n[0] = kw_snapshot_encode(b, FP_A, &m, st, recs[0]);
	capture_begin(&cap);
	put_from(b, lb, nlb, recs[0], n[0], KW_OK, NULL);
	put_from(b, NULL, 0, recs[0], n[0], KW_OK, NULL);
	capture_end(&cap, got, sizeof(got));
	assert_string_equal(got, "");
	assert_true(kw_snapshot_take(b, FP_A, &m, st));
	assert_memory_equal(st, "\x11\x11\x11\x11\x11\x11\x11\x11", 8);
	kw_snapshot_destroy(a);
	kw_snapshot_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_missing_is_first_run),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_old_versions),
		cmocka_unit_test(test_sections_round_trip),
		cmocka_unit_test(test_sections_one_family_reset),
		cmocka_unit_test(test_sections_upgraded),
		cmocka_unit_test(test_sections_legacy),
		cmocka_unit_test(test_sections_damaged),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_rejects_insane_records),
		cmocka_unit_test(test_extra_section),
		cmocka_unit_test(test_special_files_refused),
		cmocka_unit_test(test_write_ignores_planted_link),
		cmocka_unit_test(test_two_scans_equal_one),
		cmocka_unit_test(test_watermark_closes_idle_key),
		cmocka_unit_test(test_late_events_counted),
		cmocka_unit_test(test_engine_rejects_damaged),
		cmocka_unit_test(test_engine_rejects_insane_state),
		cmocka_unit_test(test_sections_relearn),
		cmocka_unit_test(test_engine_relearns_reset_family),
		cmocka_unit_test(test_engine_handouts_kept),
		cmocka_unit_test(test_every_stateful_family_validates),
		cmocka_unit_test(test_one_record),
		cmocka_unit_test(test_records_of_another_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
