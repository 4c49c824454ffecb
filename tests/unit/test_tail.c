/*
 * test_tail.c - the tailer: growth with a partial last line, rename +
 * create (the old file's end before the new file), copytruncate (the lines
 * written just before the copy come from the copy), rotation into a gzip
 * file (recognised, not read again), a gzip file appended with members,
 * a gzip file growing in pieces cut anywhere (each byte decoded once,
 * across a restart, damage, and an idle decoder let go), resuming from
 * saved positions, and a line too long.
 *
 * The one idea: the feed callback appends what it is given to one string,
 * so each step asserts the exact bytes handed out, in order, and that
 * nothing was handed out twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "gzip_fixture.h"
#include "ingest/tail.h"
#include "tmpdir.h"

#define SEC INT64_C(1000000)

static char dir[64];
static char got[1 << 17];
static size_t ngot;

static int setup(void **state)
{
	(void)state;
	ngot = 0;
	got[0] = '\0';
	return tmpdir_make(dir, sizeof(dir), "tail");
}

static int teardown(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

static void feed(void *ctx, const char *buf, size_t len, const char *name)
{
	(void)ctx;
	assert_non_null(name);
	assert_true(ngot + len < sizeof(got));
	memcpy(got + ngot, buf, len);
	ngot += len;
	got[ngot] = '\0';
}

/* What was fed since the last call. */
static const char *take(void)
{
	static char out[sizeof(got)];

	memcpy(out, got, ngot + 1);
	ngot = 0;
	got[0] = '\0';
	return out;
}

static const char *p(const char *name)
{
	static char buf[4][128];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static void append(const char *name, const char *text)
{
	FILE *f = fopen(p(name), "a");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static struct kw_tail *make(const char *glob_name, size_t max_line)
{
	const char *globs[1] = {p(glob_name)};
	struct kw_tail_opts o = {
		.globs = globs,
		.nglobs = 1,
		.max_line = max_line,
		.grace_us = SEC,
	};
	struct kw_tail *t = NULL;
	struct kw_error err;

	assert_int_equal(kw_tail_create(&o, &t, &err), KW_OK);
	return t;
}

/* A '**' glob follows files at any depth, leaves digest files out, and
 * walks its tree again after DEEP_RESCAN_US (2 s) to find new files. */
static void test_globstar(void **state)
{
	struct kw_tail *t = NULL;

	(void)state;
	assert_int_equal(mkdir(p("AWSLogs"), 0700), 0);
	assert_int_equal(mkdir(p("AWSLogs/us-east-1"), 0700), 0);
	assert_int_equal(mkdir(p("AWSLogs/CloudTrail-Digest"), 0700), 0);
	append("AWSLogs/top.log", "top\n");
	append("AWSLogs/us-east-1/deep.log", "deep\n");
	append("AWSLogs/CloudTrail-Digest/d.log", "digest\n");
	t = make("AWSLogs/**/*.log", 0);
	assert_int_equal(kw_tail_poll(t, SEC, feed, NULL), 9);
	assert_string_equal(take(), "top\ndeep\n");
	assert_int_equal(mkdir(p("AWSLogs/eu-west-1"), 0700), 0);
	append("AWSLogs/eu-west-1/new.log", "new\n");
	append("AWSLogs/us-east-1/deep.log", "more\n");
	/* the tree is not walked again yet; a followed file still grows */
	assert_int_equal(kw_tail_poll(t, 2 * SEC, feed, NULL), 5);
	assert_string_equal(take(), "more\n");
	assert_int_equal(kw_tail_poll(t, 4 * SEC, feed, NULL), 4);
	assert_string_equal(take(), "new\n");
	kw_tail_destroy(t);
}

static void test_growth_and_partial_line(void **state)
{
	struct kw_tail *t = make("api.log*", 0);

	(void)state;
	assert_int_equal(kw_tail_poll(t, 0, feed, NULL), 0);
	append("api.log", "first line\nsecond li");
	assert_int_equal(kw_tail_poll(t, 1, feed, NULL), 11);
	assert_string_equal(take(), "first line\n");
	assert_int_equal(kw_tail_poll(t, 2, feed, NULL), 0);
	append("api.log", "ne\nthird line\n");
	kw_tail_poll(t, 3, feed, NULL);
	assert_string_equal(take(), "second line\nthird line\n");
	assert_int_equal(kw_tail_stats(t)->files, 1);
	assert_int_equal(kw_tail_stats(t)->bytes, 34);
	kw_tail_destroy(t);
	kw_tail_destroy(NULL);
}

static void test_rename_create(void **state)
{
	struct kw_tail *t = make("api.log", 0); /* the renamed name is not
						   matched: read through the
						   open descriptor */
	struct kw_tail_pos *pos;
	size_t n;

	(void)state;
	append("api.log", "old one\nold two\n");
	kw_tail_poll(t, 0, feed, NULL);
	assert_string_equal(take(), "old one\nold two\n");
	assert_int_equal(rename(p("api.log"), p("api.log.1")), 0);
	append("api.log.1", "old three, late\nold last, no newline");
	append("api.log", "new one\n");
	kw_tail_poll(t, SEC, feed, NULL);
	assert_string_equal(take(), "old three, late\nnew one\n");
	/* Let go after the grace period: its unfinished last line too. */
	kw_tail_poll(t, 3 * SEC, feed, NULL);
	assert_string_equal(take(), "old last, no newline");
	assert_int_equal(kw_tail_stats(t)->rotations, 1);
	assert_int_equal(kw_tail_stats(t)->files, 1);
	/* The let-go file is still remembered, for its copies. */
	assert_int_equal(kw_tail_positions(t, &pos, &n), KW_OK);
	assert_int_equal(n, 2);
	free(pos);
	kw_tail_destroy(t);
}

static void test_finish(void **state)
{
	struct kw_tail *t = make("api.log", 0);

	(void)state;
	append("api.log", "kept\n");
	kw_tail_poll(t, 0, feed, NULL);
	assert_string_equal(take(), "kept\n");
	assert_int_equal(rename(p("api.log"), p("api.log.1")), 0);
	kw_tail_poll(t, 1, feed, NULL); /* noticed, within the grace */
	append("api.log.1", "written late\nunfinished");
	assert_int_equal(unlink(p("api.log.1")), 0);
	kw_tail_finish(t, feed, NULL);
	assert_string_equal(take(), "written late\nunfinished");
	assert_int_equal(kw_tail_stats(t)->files, 0);
	kw_tail_poll(t, 2, feed, NULL);
	assert_string_equal(take(), "");
	kw_tail_destroy(t);
}

static void test_copytruncate(void **state)
{
	struct kw_tail *t = make("api.log*", 0);
	FILE *in, *out;
	char buf[256];
	size_t len;

	(void)state;
	append("api.log", "line a\nline b\n");
	kw_tail_poll(t, 0, feed, NULL);
	assert_string_equal(take(), "line a\nline b\n");
	append("api.log", "line c, just before the copy\n");
	in = fopen(p("api.log"), "r");
	out = fopen(p("api.log.1"), "w");
	len = fread(buf, 1, sizeof(buf), in);
	fwrite(buf, 1, len, out);
	fclose(in);
	fclose(out);
	assert_int_equal(truncate(p("api.log"), 0), 0);
	append("api.log", "line d, after\n");
	kw_tail_poll(t, SEC, feed, NULL);
	assert_string_equal(take(), "line c, just before the copy\n"
				    "line d, after\n");
	assert_int_equal(kw_tail_stats(t)->truncations, 1);
	assert_int_equal(kw_tail_stats(t)->copies, 1);
	kw_tail_poll(t, 5 * SEC, feed, NULL);
	assert_string_equal(take(), "");
	kw_tail_destroy(t);
}

static void gz_append(const char *name, const char *text)
{
	gzFile g = gzopen(p(name), "ab");

	assert_non_null(g);
	assert_int_equal(gzputs(g, text), (int)strlen(text));
	assert_int_equal(gzclose(g), Z_OK);
}

static void test_rotation_into_gzip(void **state)
{
	struct kw_tail *t = make("api.log*", 0);
	const char *text = "rotated one\nrotated two\n";

	(void)state;
	append("api.log.1", text);
	kw_tail_poll(t, 0, feed, NULL);
	assert_string_equal(take(), text);
	/* gzip api.log.1: the .gz appears while api.log.1 still exists. */
	gz_append("api.log.1.gz", text);
	kw_tail_poll(t, SEC, feed, NULL);
	assert_string_equal(take(), "");
	assert_int_equal(unlink(p("api.log.1")), 0);
	for (int64_t now = 2; now < 6; now++)
		kw_tail_poll(t, now * SEC, feed, NULL);
	assert_string_equal(take(), "");
	assert_int_equal(kw_tail_stats(t)->copies, 1);
	assert_int_equal(kw_tail_stats(t)->files, 1);
	kw_tail_destroy(t);
}

static void test_gzip_members(void **state)
{
	struct kw_tail *t = make("*.gz", 0);

	(void)state;
	gz_append("stream.gz", "member one\n");
	kw_tail_poll(t, 0, feed, NULL);
	assert_string_equal(take(), "member one\n");
	gz_append("stream.gz", "member two\npartial");
	kw_tail_poll(t, 1, feed, NULL);
	assert_string_equal(take(), "member two\n");
	gz_append("stream.gz", " line\n");
	kw_tail_poll(t, 2, feed, NULL);
	assert_string_equal(take(), "partial line\n");
	kw_tail_destroy(t);
}

/* Lines "line N of a growing gzip file, padded ...\n" from first, until
 * at least min bytes. malloc'ed. */
static char *lines(unsigned first, size_t min, size_t *len)
{
	char *t = malloc(min + 128);
	size_t at = 0;

	assert_non_null(t);
	for (unsigned i = first; at < min; i++)
		at += (size_t)sprintf(t + at,
				      "{\"line\":%u,\"text\":\"a growing gzip "
				      "file, %u\"}\n",
				      i, i * 2654435761u);
	*len = at;
	return t;
}

static void append_bytes(const char *name, const void *b, size_t n)
{
	FILE *f = fopen(p(name), "ab");

	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, n, f), n);
	fclose(f);
}

/* A gzip file a writer compresses into as it goes: the member grows in
 * pieces cut anywhere (mid-block, mid-line, in the trailer). Each poll
 * hands out exactly the whole lines decoded so far, and every byte is
 * decoded once: the decoder is kept, not run again from the start. */
static void test_gzip_growing(void **state)
{
	struct kw_tail *t = make("*.gz", 0);
	size_t n, zn, at = 0, fed = 0;
	char *text = lines(0, 100000, &n);
	unsigned char *z = gzip_fixture(text, n, &zn);
	int64_t now = 0;

	(void)state;
	assert_true(zn > 1000);
	while (at < zn) {
		size_t piece = zn / 23 + 7;

		if (piece > zn - at)
			piece = zn - at;
		append_bytes("stream.gz", z + at, piece);
		at += piece;
		kw_tail_poll(t, now++, feed, NULL);
		/* Whole lines only, in order, none twice. */
		assert_true(ngot == 0 || got[ngot - 1] == '\n');
		assert_memory_equal(got, text + fed, ngot);
		fed += ngot;
		take();
	}
	assert_int_equal(fed, n);
	assert_int_equal(kw_tail_stats(t)->decompressed, n);
	assert_int_equal(kw_tail_stats(t)->read_errors, 0);
	kw_tail_destroy(t);
	free(text);
	free(z);
}

/* Members appended one after another, each in two pieces (so a poll sees
 * a member cut short and, after it, the start of the next one); then a
 * restart in the middle: resumed from the checkpointed offset, the file is
 * decoded from its start once, and no line is handed out twice. */
static void test_gzip_growing_members(void **state)
{
	struct kw_tail *t = make("*.gz", 0);
	struct kw_tail_pos *pos = NULL;
	char *all = malloc(1 << 17);
	size_t nall = 0, fed = 0, npos = 0;
	int64_t now = 0;

	(void)state;
	assert_non_null(all);
	for (unsigned m = 0; m < 12; m++) {
		size_t n, zn;
		char *text = lines(m * 1000, 6000, &n);
		unsigned char *z = gzip_fixture(text, n, &zn);

		memcpy(all + nall, text, n);
		nall += n;
		append_bytes("members.gz", z, zn / 2);
		kw_tail_poll(t, now++, feed, NULL);
		append_bytes("members.gz", z + zn / 2, zn - zn / 2);
		kw_tail_poll(t, now++, feed, NULL);
		assert_memory_equal(got, all + fed, ngot);
		fed += ngot;
		take();
		free(text);
		free(z);
		if (m == 7) {
			/* Down after 8 members. */
			assert_int_equal(fed, nall);
			assert_int_equal(kw_tail_stats(t)->decompressed, nall);
			assert_int_equal(kw_tail_positions(t, &pos, &npos),
					 KW_OK);
			assert_int_equal(npos, 1);
			assert_int_equal(pos[0].offset, nall);
			kw_tail_destroy(t);
			t = make("*.gz", 0);
			assert_int_equal(kw_tail_restore(t, pos, npos), KW_OK);
			free(pos);
		}
	}
	assert_int_equal(fed, nall);
	/* The new tailer decoded the first 8 members again (to skip
	 * them) and each byte of the 4 later ones once. */
	assert_int_equal(kw_tail_stats(t)->decompressed, nall);
	kw_tail_destroy(t);
	free(all);
}

/* A compressed file that stopped growing lets its decoder go after five
 * minutes; when it grows again it is decoded from its start once, and
 * only the new lines are handed out. */
static void test_gzip_idle_decoder(void **state)
{
	struct kw_tail *t = make("*.gz", 0);
	size_t n1, n2, z1n, z2n;
	char *one = lines(0, 20000, &n1);
	char *two = lines(9000, 20000, &n2);
	unsigned char *z1 = gzip_fixture(one, n1, &z1n);
	unsigned char *z2 = gzip_fixture(two, n2, &z2n);

	(void)state;
	append_bytes("idle.gz", z1, z1n);
	kw_tail_poll(t, SEC, feed, NULL);
	assert_int_equal(ngot, n1);
	take();
	kw_tail_poll(t, 2 * SEC, feed, NULL);
	assert_int_equal(kw_tail_stats(t)->decompressed, n1);
	kw_tail_poll(t, 302 * SEC, feed, NULL); /* idle: decoder let go */
	append_bytes("idle.gz", z2, z2n);
	kw_tail_poll(t, 303 * SEC, feed, NULL);
	assert_int_equal(ngot, n2);
	assert_memory_equal(got, two, n2);
	take();
	assert_int_equal(kw_tail_stats(t)->decompressed, n1 + n1 + n2);
	kw_tail_destroy(t);
	free(one);
	free(two);
	free(z1);
	free(z2);
}

/* Damage in a growing gzip file: the lines before it are handed out, the
 * error is counted and logged once however often the file grows after. */
static void test_gzip_growing_damage(void **state)
{
	struct kw_tail *t = make("*.gz", 0);
	size_t n, zn, n2, zn2;
	char *text = lines(0, 60000, &n);
	char *more = lines(5000, 3000, &n2);
	unsigned char *z = gzip_fixture(text, n, &zn);
	unsigned char *z2 = gzip_fixture(more, n2, &zn2);
	const char *out;

	(void)state;
	append_bytes("bad.gz", z, zn / 2);
	kw_tail_poll(t, 0, feed, NULL);
	out = take();
	assert_true(strlen(out) > 0);
	assert_memory_equal(out, text, strlen(out));
	z[zn / 2 + 10] ^= 0xff;
	z[zn / 2 + 11] ^= 0x55;
	append_bytes("bad.gz", z + zn / 2, zn - zn / 2);
	kw_tail_poll(t, 1, feed, NULL);
	append_bytes("bad.gz", z2, zn2);
	kw_tail_poll(t, 2, feed, NULL);
	append_bytes("bad.gz", z2, zn2);
	kw_tail_poll(t, 3, feed, NULL);
	assert_int_equal(kw_tail_stats(t)->read_errors, 1);
	out = take();
	assert_null(strstr(out, "\"line\":5000,")); /* past the damage */
	kw_tail_destroy(t);
	free(text);
	free(more);
	free(z);
	free(z2);
}

static void read_all(void *ctx, struct kw_reader *r, const char *name)
{
	char buf[4096];
	size_t n;
	struct kw_error err;

	(void)ctx;
	assert_non_null(name);
	while (kw_reader_read(r, buf, sizeof(buf), &n, &err) == KW_OK && n)
		feed(NULL, buf, n, name);
}

/* A document in a compressed file (CloudTrail: one line, no newline,
 * longer than the line buffer) is handed whole to the read callback once
 * the file stops growing. */
static void test_whole_document(void **state)
{
	const char *globs[1] = {p("*.json.gz")};
	struct kw_tail_opts o = {
		.globs = globs,
		.nglobs = 1,
		.max_line = 64,
		.grace_us = SEC,
		.whole = read_all,
	};
	struct kw_tail *t = NULL;
	struct kw_error err;
	static char doc[100001];

	(void)state;
	memset(doc, 'r', 100000);
	memcpy(doc, "{\"Records\":[", 12);
	memcpy(doc + 99998, "]}", 2);
	gz_append("ct.json.gz", doc);
	assert_int_equal(kw_tail_create(&o, &t, &err), KW_OK);
	kw_tail_poll(t, 0, feed, NULL);
	assert_int_equal(ngot, 0); /* not before it stopped growing */
	kw_tail_poll(t, SEC / 2, feed, NULL);
	assert_int_equal(ngot, 0);
	assert_int_equal(kw_tail_poll(t, 2 * SEC, feed, NULL), 100000);
	assert_string_equal(take(), doc);
	kw_tail_poll(t, 3 * SEC, feed, NULL);
	assert_int_equal(ngot, 0);
	assert_int_equal(kw_tail_stats(t)->too_long, 0);
	kw_tail_destroy(t);
}

static void test_resume(void **state)
{
	struct kw_tail *t = make("api.log*", 0);
	struct kw_tail_pos *pos = NULL;
	size_t n = 0;

	(void)state;
	append("api.log", "before restart\n");
	kw_tail_poll(t, 0, feed, NULL);
	assert_string_equal(take(), "before restart\n");
	assert_int_equal(kw_tail_positions(t, &pos, &n), KW_OK);
	assert_int_equal(n, 1);
	assert_int_equal(pos[0].offset, 15);
	assert_int_equal(pos[0].fplen, 15);
	assert_string_equal(pos[0].path, p("api.log"));
	kw_tail_destroy(t);

	/* Down: more lines, then rename + create. */
	append("api.log", "while down\n");
	assert_int_equal(rename(p("api.log"), p("api.log.1")), 0);
	append("api.log", "new file\n");
	t = make("api.log*", 0);
	assert_int_equal(kw_tail_restore(t, pos, n), KW_OK);
	kw_tail_poll(t, 0, feed, NULL);
	assert_string_equal(take(), "while down\nnew file\n");
	free(pos);
	kw_tail_destroy(t);
}

static void test_too_long(void **state)
{
	struct kw_tail *t = make("api.log", 64); /* buffer: 64 KiB */
	char *big = malloc(70001);

	(void)state;
	assert_non_null(big);
	memset(big, 'x', 70000);
	big[70000] = '\0';
	append("api.log", "short\n");
	append("api.log", big);
	append("api.log", "\nafter\n");
	kw_tail_poll(t, 0, feed, NULL);
	assert_string_equal(take(), "short\nafter\n");
	assert_int_equal(kw_tail_stats(t)->too_long, 1);
	free(big);
	kw_tail_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_globstar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_growth_and_partial_line,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_create, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_finish, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copytruncate, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rotation_into_gzip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_gzip_growing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_gzip_growing_members,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip_growing_damage, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_gzip_idle_decoder, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_gzip_members, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_whole_document, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_long, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
