/*
 * test_reader.c - readers (plain, gzip, zstd, stdin through a pipe) and the
 * expansion of PATH arguments into inputs.
 *
 * The one idea: every fixture is made by the test itself in a mkdtemp
 * directory, compressed with zlib and libzstd, then damaged on purpose at a
 * known place, so each error message can be asserted exactly: its class,
 * its byte offset in the compressed input, and the bytes delivered before.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "kw_config.h"

#if KW_HAVE_ZSTD
#include <zstd.h>
#endif

#include "gzip_fixture.h"
#include "ingest/inputs.h"
#include "ingest/pathglob.h"
#include "ingest/reader.h"
#include "tmpdir.h"

static char tmpdir[64];

/* ---- fixtures ------------------------------------------------------------ */

static int setup(void **state)
{
	(void)state;
	return tmpdir_make(tmpdir, sizeof(tmpdir), "reader");
}

static int teardown(void **state)
{
	(void)state;
	return tmpdir_remove(tmpdir);
}

static char *tpath(const char *name)
{
	static char buf[4][256];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmpdir, name);
	return buf[k];
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* JSON lines, deterministic, n bytes at least. */
static char *make_text(size_t min, size_t *len, unsigned seed)
{
	char *t = malloc(min + 256);
	size_t at = 0;
	unsigned i = 0;

	while (at < min)
		at += (size_t)sprintf(
			t + at,
			"{\"id\":\"req_%u_%u\",\"created\":%u,"
			"\"path\":\"/v1/charges\",\"status\":200}\n",
			seed, i, 1764230400u + i * 7u),
			i++;
	*len = at;
	return t;
}

struct result {
	char *data;
	size_t n;
	enum kw_status st;
	char msg[KW_ERROR_MSG_MAX];
	uint64_t offset;
};

/* Read r to the end or the first error, with reads of cap bytes. */
static void read_all(struct kw_reader *r, size_t cap, struct result *res)
{
	struct kw_error err = {0};
	size_t got;
	size_t size = 1 << 16;
	char *buf = malloc(cap);

	memset(res, 0, sizeof(*res));
	res->data = malloc(size);
	for (;;) {
		res->st = kw_reader_read(r, buf, cap, &got, &err);
		if (res->st != KW_OK) {
			assert_int_equal(got, 0);
			snprintf(res->msg, sizeof(res->msg), "%s", err.msg);
			/* sticky */
			memset(&err, 0, sizeof(err));
			assert_int_equal(
				kw_reader_read(r, buf, cap, &got, &err),
				res->st);
			assert_string_equal(err.msg, res->msg);
			break;
		}
		if (got == 0)
			break;
		assert_true(got <= cap);
		if (res->n + got > size) {
			while (res->n + got > size)
				size *= 2;
			res->data = realloc(res->data, size);
			assert_non_null(res->data);
		}
		memcpy(res->data + res->n, buf, got);
		res->n += got;
	}
	res->offset = r->ops->offset(r->self);
	free(buf);
}

static void read_path(const char *path, size_t cap, struct result *res)
{
	struct kw_reader *r = NULL;
	struct kw_error err = {0};

	assert_int_equal(kw_reader_open(path, &r, &err), KW_OK);
	read_all(r, cap, res);
	kw_reader_close(r);
}

static void expect_msg(const struct result *res, const char *path,
		       uint64_t offset, const char *what)
{
	char want[KW_ERROR_MSG_MAX];

	snprintf(want, sizeof(want), "%s: byte offset %llu: %s", path,
		 (unsigned long long)offset, what);
	assert_string_equal(res->msg, want);
}

/* ---- plain and gzip -------------------------------------------------- */

static void test_plain(void **state)
{
	size_t n;
	char *t = make_text(600000, &n, 1);
	struct result res;

	(void)state;
	write_file(tpath("p.log"), t, n);
	read_path(tpath("p.log"), 256 * 1024, &res);
	assert_int_equal(res.st, KW_OK);
	assert_int_equal(res.n, n);
	assert_memory_equal(res.data, t, n);
	assert_int_equal(res.offset, n);
	free(res.data);
	/* tiny files, shorter than the longest magic */
	write_file(tpath("e.log"), "", 0);
	read_path(tpath("e.log"), 16, &res);
	assert_int_equal(res.st, KW_OK);
	assert_int_equal(res.n, 0);
	free(res.data);
	write_file(tpath("1.log"), "\x1f", 1);
	read_path(tpath("1.log"), 16, &res);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.data[0], 0x1f);
	free(res.data);
	free(t);
}

static void test_gzip_multi_member(void **state)
{
	size_t na, nb, ga, gb;
	char *a = make_text(500000, &na, 1);
	char *b = make_text(300000, &nb, 2);
	unsigned char *za = gzip_fixture(a, na, &ga);
	unsigned char *zb = gzip_fixture(b, nb, &gb);
	unsigned char *cat = malloc(ga + gb);
	struct result res;
	size_t caps[] = {1, 7, 4096, 256 * 1024};
	size_t i;

	(void)state;
	memcpy(cat, za, ga);
	memcpy(cat + ga, zb, gb);
	write_file(tpath("ab.gz"), cat, ga + gb);
	for (i = 0; i < 4; i++) {
		if (caps[i] == 1 && i == 0) {
			/* a byte at a time over the small member only */
			write_file(tpath("b.gz"), zb, gb);
			read_path(tpath("b.gz"), 1, &res);
			assert_int_equal(res.n, nb);
			assert_memory_equal(res.data, b, nb);
			free(res.data);
			continue;
		}
		read_path(tpath("ab.gz"), caps[i], &res);
		assert_int_equal(res.st, KW_OK);
		assert_int_equal(res.n, na + nb);
		assert_memory_equal(res.data, a, na);
		assert_memory_equal(res.data + na, b, nb);
		assert_int_equal(res.offset, ga + gb);
		free(res.data);
	}
	free(a);
	free(b);
	free(za);
	free(zb);
	free(cat);
}

/* A member with gzip's optional header fields (FEXTRA, FNAME, FCOMMENT,
 * FHCRC), the name longer than the reader's input buffer. */
static unsigned char *gz_fields(const char *t, size_t n, size_t namelen,
				bool good_hcrc, size_t *out, size_t *hlen)
{
	/* XLEN 4: one empty subfield "ab" */
	static const unsigned char extra[] = {4, 0, 'a', 'b', 0, 0};
	size_t g, h = 0;
	unsigned char *z =
		gzip_fixture(t, n, &g); /* 10-byte header: reused body */
	unsigned char *o = malloc(g + namelen + 64);
	uLong crc;

	memcpy(o, z, 10);
	o[3] = 4 | 8 | 16 | 2;
	h = 10;
	memcpy(o + h, extra, sizeof(extra));
	h += sizeof(extra);
	memset(o + h, 'n', namelen);
	h += namelen;
	o[h++] = '\0';
	memcpy(o + h, "a comment", 10);
	h += 10;
	crc = crc32(0, o, (uInt)h);
	if (!good_hcrc)
		crc ^= 0x1234;
	o[h++] = (unsigned char)(crc & 0xff);
	o[h++] = (unsigned char)((crc >> 8) & 0xff);
	memcpy(o + h, z + 10, g - 10);
	*out = h + g - 10;
	*hlen = h;
	free(z);
	return o;
}

/* Both gzip builds answer as gzip does: every optional header field, a
 * checked header CRC, reserved flag bits refused, zero padding to the end
 * accepted however long, zeros followed by anything else refused. */
static void test_gzip_like_gzip(void **state)
{
	size_t n, g, h, zn;
	char *t = make_text(20000, &n, 5);
	unsigned char *z = gz_fields(t, n, 300000, true, &g, &h);
	unsigned char *d;
	struct result res;
	const char *p;

	(void)state;
	p = tpath("fields.gz");
	write_file(p, z, g);
	read_path(p, 4096, &res);
	assert_int_equal(res.st, KW_OK);
	assert_int_equal(res.n, n);
	assert_memory_equal(res.data, t, n);
	free(res.data);
	free(z);

	z = gz_fields(t, n, 300000, false, &g, &h);
	p = tpath("hcrc.gz");
	write_file(p, z, g);
	read_path(p, 4096, &res);
	assert_int_equal(res.st, KW_ECORRUPT);
	expect_msg(&res, p, h, "gzip CRC or data error (header crc mismatch)");
	assert_int_equal(res.n, 0);
	free(res.data);
	free(z);

	z = gzip_fixture(t, n, &g);
	z[3] |= 0x80;
	p = tpath("flags.gz");
	write_file(p, z, g);
	read_path(p, 4096, &res);
	assert_int_equal(res.st, KW_ECORRUPT);
	expect_msg(&res, p, 4,
		   "gzip CRC or data error (unknown header flags set)");
	free(res.data);
	z[3] &= 0x7f;

	/* 600 KB of zeros: more than two input buffers */
	zn = g + 600000;
	d = calloc(1, zn + 1);
	memcpy(d, z, g);
	p = tpath("padded.gz");
	write_file(p, d, zn);
	read_path(p, 4096, &res);
	assert_int_equal(res.st, KW_OK);
	assert_int_equal(res.n, n);
	assert_memory_equal(res.data, t, n);
	free(res.data);

	d[zn] = 'x';
	p = tpath("padded-junk.gz");
	write_file(p, d, zn + 1);
	read_path(p, 4096, &res);
	assert_int_equal(res.st, KW_ECORRUPT);
	expect_msg(&res, p, g, "garbage after the last gzip member");
	assert_int_equal(res.n, n);
	free(res.data);

	free(d);
	free(z);
	free(t);
}

static void test_gzip_damage(void **state)
{
	size_t n, g;
	char *t = make_text(400000, &n, 3);
	unsigned char *z = gzip_fixture(t, n, &g);
	unsigned char *d = malloc(g + 16);
	struct result res;
	const char *p;

	(void)state;
	/* garbage after the last member: everything decoded, then the error
	 * at the first garbage byte */
	memcpy(d, z, g);
	memcpy(d + g, "\n\0garbage", 9);
	p = tpath("garbage.gz");
	write_file(p, d, g + 9);
	read_path(p, 65536, &res);
	assert_int_equal(res.st, KW_ECORRUPT);
	expect_msg(&res, p, g, "garbage after the last gzip member");
	assert_int_equal(res.n, n);
	assert_memory_equal(res.data, t, n);
	free(res.data);

	/* a wrong CRC: all bytes decoded, then the error past the CRC */
	memcpy(d, z, g);
	d[g - 8] ^= 0x55;
	p = tpath("crc.gz");
	write_file(p, d, g);
	read_path(p, 65536, &res);
	assert_int_equal(res.st, KW_ECORRUPT);
	expect_msg(&res, p, g - 4,
		   "gzip CRC or data error (incorrect data check)");
	assert_int_equal(res.n, n);
	assert_memory_equal(res.data, t, n);
	free(res.data);

	/* a wrong length */
	memcpy(d, z, g);
	d[g - 2] ^= 0x01;
	p = tpath("len.gz");
	write_file(p, d, g);
	read_path(p, 65536, &res);
	assert_int_equal(res.st, KW_ECORRUPT);
	expect_msg(&res, p, g,
		   "gzip CRC or data error (incorrect length check)");
	assert_int_equal(res.n, n);
	free(res.data);

	/* cut in the middle: a good prefix, then the error at the end */
	p = tpath("cut.gz");
	write_file(p, z, g / 2);
	read_path(p, 65536, &res);
	assert_int_equal(res.st, KW_ECORRUPT);
	expect_msg(&res, p, g / 2, "unexpected end of gzip stream (truncated)");
	assert_true(res.n > n / 4 && res.n < n);
	assert_memory_equal(res.data, t, res.n);
	free(res.data);

	/* a second member cut in its header */
	memcpy(d, z, g);
	memcpy(d + g, z, 5);
	p = tpath("cut2.gz");
	write_file(p, d, g + 5);
	read_path(p, 65536, &res);
	assert_int_equal(res.st, KW_ECORRUPT);
	expect_msg(&res, p, g + 5, "unexpected end of gzip stream (truncated)");
	assert_int_equal(res.n, n);
	free(res.data);

	/* damaged deflate data: a data error, good bytes before it */
	memcpy(d, z, g);
	memset(d + g / 2, 0xff, 64);
	p = tpath("bad.gz");
	write_file(p, d, g);
	read_path(p, 65536, &res);
	assert_int_equal(res.st, KW_ECORRUPT);
	assert_non_null(strstr(res.msg, ": gzip CRC or data error ("));
	/* deflate has no check before the member's CRC: only the bytes
	 * before the damaged place are known good */
	assert_memory_equal(res.data, t, g / 2 > res.n ? res.n : g / 2);
	free(res.data);

	free(z);
	free(d);
	free(t);
}

/* A member whose block uses a distance code its code set does not have (the
 * set of lengths {3, 1} is incomplete; zlib refuses it as "invalid distances
 * set"). ISA-L 2.30 decodes 77,660 bytes before the bad code, then returns
 * more than it wrote: 50 or 324 bytes of whatever its buffer held, as many
 * as the caller's read size made it. Found by fuzz_reader_igzip (kept in
 * tests/fuzz/regress/reader_igzip). After a good member, nothing of the bad
 * one may come out, whatever the read size. */
static const unsigned char bad_distance_member[] = {
	0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xed, 0xc1,
	0x31, 0x01, 0x00, 0x00, 0x00, 0xc2, 0xa0, 0x6c, 0xeb, 0x5f, 0xca, 0x0c,
	0xfe, 0x48, 0x01, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x08, 0x00,
	0x00, 0xf8, 0xd1, 0x6a, 0xeb, 0xac, 0x40, 0x0d, 0x1b, 0x03, 0x00,
};

static void test_gzip_bad_distance_code(void **state)
{
	static const size_t caps[] = {1 << 20, 65536, 4093, 7};
	size_t n, g;
	char *t = make_text(700000, &n, 5);
	unsigned char *z = gzip_fixture(t, n, &g);
	unsigned char *d = malloc(g + sizeof(bad_distance_member));
	const char *p = tpath("bad-distance.gz");
	struct result res;

	(void)state;
	memcpy(d, z, g);
	memcpy(d + g, bad_distance_member, sizeof(bad_distance_member));
	write_file(p, d, g + sizeof(bad_distance_member));
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		read_path(p, caps[i], &res);
		assert_int_equal(res.st, KW_ECORRUPT);
#if KW_HAVE_ISAL
		expect_msg(&res, p, g + 118,
			   "gzip CRC or data error (invalid deflate data)");
#else
		expect_msg(&res, p, g + 26,
			   "gzip CRC or data error (invalid distances set)");
#endif
		assert_int_equal(res.n, n);
		assert_memory_equal(res.data, t, n);
		free(res.data);
	}
	/* With inflate's fills kept under 64 KiB reads, as a merge's small
	 * splitters ask, fills that end inside the bad member come out: its
	 * real bytes are 77,660 'A's, and never more than those, the same at
	 * every read size. */
	for (size_t i = 0, first = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		struct kw_reader *r = NULL;
		struct kw_error err = {0};

		assert_int_equal(kw_reader_open(p, &r, &err), KW_OK);
		kw_reader_fill_hint(r, 65536);
		read_all(r, caps[i], &res);
		kw_reader_close(r);
		assert_int_equal(res.st, KW_ECORRUPT);
		assert_in_range(res.n, n, n + 77660);
		assert_memory_equal(res.data, t, n);
		for (size_t k = n; k < res.n; k++)
			assert_int_equal(res.data[k], 'A');
		if (i == 0)
			first = res.n;
		assert_int_equal(res.n, first);
		free(res.data);
	}
	free(d);
	free(z);
	free(t);
}

/* ---- zstd ------------------------------------------------------------ */

#if KW_HAVE_ZSTD
static unsigned char *zst(const char *p, size_t n, size_t *out)
{
	size_t cap = ZSTD_compressBound(n);
	unsigned char *o = malloc(cap);
	ZSTD_CCtx *c = ZSTD_createCCtx();

	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	*out = ZSTD_compress2(c, o, cap, p, n);
	assert_false(ZSTD_isError(*out));
	ZSTD_freeCCtx(c);
	return o;
}

static void test_zstd(void **state)
{
	size_t na, nb, za_n, zb_n;
	char *a = make_text(500000, &na, 4);
	char *b = make_text(200000, &nb, 5);
	unsigned char *za = zst(a, na, &za_n);
	unsigned char *zb = zst(b, nb, &zb_n);
	/* a skippable frame: magic 0x184D2A50, length 4, payload */
	static const unsigned char skip[] = {0x50, 0x2a, 0x4d, 0x18, 4,	  0,
					     0,	   0,	 'k',  'w',  '!', '!'};
	size_t total = za_n + sizeof(skip) + zb_n;
	unsigned char *d = malloc(total + 16);
	struct result res;
	const char *p;

	(void)state;
	memcpy(d, za, za_n);
	memcpy(d + za_n, skip, sizeof(skip));
	memcpy(d + za_n + sizeof(skip), zb, zb_n);
	p = tpath("ab.zst");
	write_file(p, d, total);
	read_path(p, 100000, &res);
	assert_int_equal(res.st, KW_OK);
	assert_int_equal(res.n, na + nb);
	assert_memory_equal(res.data, a, na);
	assert_memory_equal(res.data + na, b, nb);
	assert_int_equal(res.offset, total);
	free(res.data);

	/* cut: a good prefix, then the error at the end of the input */
	p = tpath("cut.zst");
	write_file(p, za, za_n / 2);
	read_path(p, 100000, &res);
	assert_int_equal(res.st, KW_ECORRUPT);
	expect_msg(&res, p, za_n / 2,
		   "unexpected end of zstd stream (truncated)");
	assert_true(res.n > 0 && res.n < na);
	assert_memory_equal(res.data, a, res.n);
	free(res.data);

	/* garbage after the last frame */
	memcpy(d, za, za_n);
	memcpy(d + za_n, "garbage!", 8);
	p = tpath("garbage.zst");
	write_file(p, d, za_n + 8);
	read_path(p, 100000, &res);
	assert_int_equal(res.st, KW_ECORRUPT);
	expect_msg(&res, p, za_n, "garbage after the last zstd frame");
	assert_int_equal(res.n, na);
	assert_memory_equal(res.data, a, na);
	free(res.data);

	/* a wrong checksum */
	memcpy(d, za, za_n);
	d[za_n - 1] ^= 0x40;
	p = tpath("sum.zst");
	write_file(p, d, za_n);
	read_path(p, 100000, &res);
	assert_int_equal(res.st, KW_ECORRUPT);
	expect_msg(&res, p, za_n - 4,
		   "zstd checksum or data error (Restored data doesn't "
		   "match checksum)");
	free(res.data);

	free(a);
	free(b);
	free(za);
	free(zb);
	free(d);
}

/* Random bytes after the magic: always an error, never a crash or hang. */
static void test_zstd_random(void **state)
{
	unsigned char d[4096];
	struct result res;
	const char *p = tpath("rand.zst");
	unsigned seed;
	size_t i;
	size_t len;

	(void)state;
	for (seed = 1; seed <= 300; seed++) {
		srand(seed);
		len = 4 + (size_t)(rand() % 4000);
		memcpy(d, "\x28\xb5\x2f\xfd", 4);
		for (i = 4; i < len; i++)
			d[i] = (unsigned char)rand();
		write_file(p, d, len);
		read_path(p, 8192, &res);
		assert_int_equal(res.st, KW_ECORRUPT);
		assert_true(strncmp(res.msg, p, strlen(p)) == 0);
		assert_non_null(strstr(res.msg, ": byte offset "));
		free(res.data);
	}
}
#endif

/* ---- stdin and open errors ------------------------------------------- */

struct feeder {
	int fd;
	const unsigned char *p;
	size_t n;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;
	size_t at = 0;
	ssize_t w;

	/* one byte first, so the magic arrives in pieces */
	while (at < f->n) {
		w = write(f->fd, f->p + at, at == 0 ? 1 : f->n - at);
		if (w <= 0)
			break;
		at += (size_t)w;
		if (at == 1)
			usleep(20000);
	}
	close(f->fd);
	return NULL;
}

static void read_stdin_pipe(const unsigned char *p, size_t n,
			    struct result *res)
{
	int pfd[2];
	int saved = dup(STDIN_FILENO);
	pthread_t th;
	struct feeder f;
	struct kw_reader *r = NULL;
	struct kw_error err = {0};

	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(dup2(pfd[0], STDIN_FILENO), STDIN_FILENO);
	close(pfd[0]);
	f = (struct feeder){.fd = pfd[1], .p = p, .n = n};
	assert_int_equal(pthread_create(&th, NULL, feed, &f), 0);
	assert_int_equal(kw_reader_open("-", &r, &err), KW_OK);
	assert_string_equal(r->name, "<stdin>");
	read_all(r, 65536, res);
	kw_reader_close(r);
	pthread_join(th, NULL);
	dup2(saved, STDIN_FILENO);
	close(saved);
}

static void test_stdin_pipe(void **state)
{
	size_t n, g;
	char *t = make_text(300000, &n, 6);
	unsigned char *z = gzip_fixture(t, n, &g);
	struct result res;

	(void)state;
	read_stdin_pipe((unsigned char *)t, n, &res);
	assert_int_equal(res.st, KW_OK);
	assert_int_equal(res.n, n);
	assert_memory_equal(res.data, t, n);
	free(res.data);

	read_stdin_pipe(z, g / 2, &res);
	assert_int_equal(res.st, KW_ECORRUPT);
	expect_msg(&res, "<stdin>", g / 2,
		   "unexpected end of gzip stream (truncated)");
	free(res.data);

	read_stdin_pipe(z, g, &res);
	assert_int_equal(res.st, KW_OK);
	assert_int_equal(res.n, n);
	assert_memory_equal(res.data, t, n);
	free(res.data);
	free(z);
	free(t);
}

static void test_open_errors(void **state)
{
	struct kw_reader *r = NULL;
	struct kw_error err = {0};
	char want[512];
	const char *p;

	(void)state;
	p = tpath("missing.log");
	assert_int_equal(kw_reader_open(p, &r, &err), KW_ENOTFOUND);
	assert_null(r);
	snprintf(want, sizeof(want), "%s: No such file or directory", p);
	assert_string_equal(err.msg, want);

	assert_int_equal(kw_reader_open(tmpdir, &r, &err), KW_EIO);
	assert_null(r);
	snprintf(want, sizeof(want), "%s: Is a directory", tmpdir);
	assert_string_equal(err.msg, want);

	if (geteuid() != 0) {
		p = tpath("secret.log");
		write_file(p, "x\n", 2);
		chmod(p, 0);
		assert_int_equal(kw_reader_open(p, &r, &err), KW_EIO);
		snprintf(want, sizeof(want), "%s: Permission denied", p);
		assert_string_equal(err.msg, want);
	}
	kw_reader_close(NULL);
}

/* ---- inputs ------------------------------------------------------------ */

static void touch(const char *name)
{
	write_file(tpath(name), "{}\n", 3);
}

static void test_inputs_dir_and_glob(void **state)
{
	struct kw_inputs in;
	struct kw_error err = {0};
	const char *args[4];
	char w[8][256];
	size_t i;

	(void)state;
	assert_int_equal(mkdir(tpath("d"), 0700), 0);
	assert_int_equal(mkdir(tpath("d/sub"), 0700), 0);
	assert_int_equal(mkdir(tpath("d/a2"), 0700), 0);
	assert_int_equal(mkdir(tpath("d/.git"), 0700), 0);
	touch("d/b.log");
	touch("d/a.log");
	touch("d/.hidden");
	touch("d/sub/c.log");
	touch("d/a2/z.log");
	touch("d/.git/x.log");
	touch("d/B.log");
	assert_int_equal(symlink(tpath("d/sub"), tpath("d/link")), 0);

	args[0] = tpath("d");
	assert_int_equal(kw_inputs_expand(args, 1, 0, &in, &err), KW_OK);
	assert_int_equal(in.nerr, 0);
	assert_int_equal(in.n, 5);
	snprintf(w[0], 256, "%s/d/B.log", tmpdir);
	snprintf(w[1], 256, "%s/d/a.log", tmpdir);
	snprintf(w[2], 256, "%s/d/a2/z.log", tmpdir);
	snprintf(w[3], 256, "%s/d/b.log", tmpdir);
	snprintf(w[4], 256, "%s/d/sub/c.log", tmpdir);
	for (i = 0; i < 5; i++)
		assert_string_equal(in.paths[i], w[i]);
	kw_inputs_free(&in);
	kw_inputs_free(&in);

	/* a glob, "-", a file, a missing path, a glob matching nothing:
	 * errors do not stop the others */
	args[0] = tpath("d/*.log");
	args[1] = "-";
	args[2] = tpath("nope.log");
	args[3] = tpath("d/*.gz");
	assert_int_equal(kw_inputs_expand(args, 4, 0, &in, &err), KW_OK);
	assert_int_equal(in.n, 4);
	assert_string_equal(in.paths[0], w[0]);
	assert_string_equal(in.paths[1], w[1]);
	assert_string_equal(in.paths[2], w[3]);
	assert_string_equal(in.paths[3], "-");
	assert_int_equal(in.nerr, 2);
	snprintf(w[5], 256, "%s/nope.log: No such file or directory", tmpdir);
	assert_string_equal(in.errors[0], w[5]);
	snprintf(w[6], 256, "%s/d/*.gz: no file matches the pattern", tmpdir);
	assert_string_equal(in.errors[1], w[6]);
	kw_inputs_free(&in);

	/* the bound */
	args[0] = tpath("d");
	assert_int_equal(kw_inputs_expand(args, 1, 3, &in, &err), KW_ETOOBIG);
	assert_string_equal(err.msg, "too many inputs (more than 3)");
	assert_int_equal(in.n, 3);
	kw_inputs_free(&in);
	kw_inputs_free(NULL);
}

static void test_pathglob_match(void **state)
{
	static const struct {
		const char *pattern, *path;
		bool want;
	} cases[] = {
		{"AWSLogs/**/*.json.gz",
		 "AWSLogs/1/CloudTrail/us-east-1/2026/11/27/x.json.gz", true},
		{"AWSLogs/**/*.json.gz", "AWSLogs/x.json.gz", true},
		{"AWSLogs/**/*.json.gz", "AWSLogs/.h/x.json.gz", false},
		{"AWSLogs/**/*.json.gz", "AWSLogs/a/x.json", false},
		{"/var/log/**/api.log*", "/var/log/a/b/api.log.1", true},
		{"/var/log/**/api.log*", "var/log/a/api.log", false},
		{"logs/*.log", "logs/a/b.log", false},
		{"logs/*.log", "logs/b.log", true},
		{"logs/*.log", "logs/.b.log", false},
		{"logs/.*.log", "logs/.b.log", true},
		{"a/**/b/**/c", "a/b/c", true},
		{"a/**/b/**/c", "a/x/b/y/z/c", true},
		{"a/**/b/**/c", "a/x/c", false},
		{"a//b/./c", "a/b/./c", true},
		{"api.log*", "api.log.1.gz", true},
		{"logs/**", "logs/a/b/c.gz", true},
		{"l?gs/[ab]*", "logs/b1", true},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (kw_pathglob_match(cases[i].pattern, cases[i].path) !=
		    cases[i].want)
			fail_msg("%s ~ %s: expected %d", cases[i].pattern,
				 cases[i].path, cases[i].want);
	}
}

/* An S3 export laid out as CloudTrail writes it: '**' finds the logs at
 * every depth, digest files and write tests are left out and counted,
 * hidden directories and a link back up are not walked. */
static void test_inputs_globstar(void **state)
{
	static const char *const dirs[] = {
		"s3",
		"s3/AWSLogs",
		"s3/AWSLogs/111122223333",
		"s3/AWSLogs/111122223333/CloudTrail",
		"s3/AWSLogs/111122223333/CloudTrail/us-east-1",
		"s3/AWSLogs/111122223333/CloudTrail/us-east-1/2026",
		"s3/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11",
		"s3/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/27",
		"s3/AWSLogs/111122223333/CloudTrail/eu-west-1",
		"s3/AWSLogs/111122223333/CloudTrail-Digest",
		"s3/AWSLogs/111122223333/CloudTrail-Digest/us-east-1",
		"s3/AWSLogs/.trash",
	};
	static const char *const want[] = {
		"s3/AWSLogs/111122223333/CloudTrail/eu-west-1/"
		"111122223333_CloudTrail_eu-west-1_20261127T0805Z_b.json.gz",
		"s3/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/27/"
		"111122223333_CloudTrail_us-east-1_20261127T0805Z_a.json.gz",
	};
	struct kw_inputs in;
	struct kw_error err = {0};
	const char *args[1];
	char pattern[256], w[256], cwd[4096];

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmpdir), 0);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		assert_int_equal(mkdir(dirs[i], 0700), 0);
	for (size_t i = 0; i < 2; i++)
		write_file(want[i], "{}\n", 3);
	write_file("s3/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/"
		   "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_"
		   "20261127T090000Z.json.gz",
		   "{}\n", 3);
	write_file("s3/AWSLogs/aws-logs-write-test", "ok\n", 3);
	write_file("s3/AWSLogs/.trash/old.json.gz", "{}\n", 3);
	assert_int_equal(symlink("..", "s3/AWSLogs/111122223333/up"), 0);

	/* the README's pattern, relative, as written */
	args[0] = "s3/AWSLogs/**/*.json.gz";
	assert_int_equal(kw_inputs_expand(args, 1, 0, &in, &err), KW_OK);
	assert_int_equal(in.nerr, 0);
	assert_int_equal(in.n, 2);
	assert_string_equal(in.paths[0], want[0]);
	assert_string_equal(in.paths[1], want[1]);
	assert_int_equal(in.not_data[KW_NOT_DATA_CLOUDTRAIL_DIGEST], 1);
	kw_inputs_free(&in);
	/* the folder, and a trailing '**' */
	args[0] = "s3";
	assert_int_equal(kw_inputs_expand(args, 1, 0, &in, &err), KW_OK);
	assert_int_equal(in.n, 2);
	assert_int_equal(in.not_data[KW_NOT_DATA_CLOUDTRAIL_DIGEST], 1);
	assert_int_equal(in.not_data[KW_NOT_DATA_WRITE_TEST], 1);
	kw_inputs_free(&in);
	snprintf(pattern, sizeof(pattern), "%s/s3/**", tmpdir);
	args[0] = pattern;
	assert_int_equal(kw_inputs_expand(args, 1, 0, &in, &err), KW_OK);
	assert_int_equal(in.n, 2);
	snprintf(w, sizeof(w), "%s/%s", tmpdir, want[0]);
	assert_string_equal(in.paths[0], w);
	assert_int_equal(in.not_data[KW_NOT_DATA_WRITE_TEST], 1);
	kw_inputs_free(&in);
	assert_int_equal(kw_inputs_not_data("x/CloudTrail-Digest/y.json.gz"),
			 KW_NOT_DATA_CLOUDTRAIL_DIGEST);
	assert_int_equal(kw_inputs_not_data("CloudTrail-Digest/y.json.gz"),
			 KW_NOT_DATA_CLOUDTRAIL_DIGEST);
	assert_int_equal(kw_inputs_not_data("x/ConfigWritabilityCheckFile"),
			 KW_NOT_DATA_WRITE_TEST);
	assert_int_equal(kw_inputs_not_data("x/CloudTrail/y.json.gz"),
			 KW_NOT_DATA_NONE);
	assert_int_equal(chdir(cwd), 0);
}

/* ---- following a growing file ------------------------------------ */

static void append_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "ab");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* Write the compressed stream c[0..cn) to a file in pieces cut at cuts[]
 * (the first cut at least the magic bytes in) and read it with a following
 * reader after each piece: no error, the bytes decoded so far are always a
 * prefix of want, each is decoded once, and all of want in the end.
 * at_end must be false after the pieces whose index is in mid[]. */
static void follow_pieces(const char *name, const unsigned char *c, size_t cn,
			  const size_t *cuts, size_t ncuts, const char *want,
			  size_t wn)
{
	const char *path = tpath(name);
	struct kw_reader *r = NULL;
	struct kw_error err = {0};
	char *got = malloc(wn + 1);
	char buf[7000];
	size_t have = 0, from = 0;

	assert_non_null(got);
	write_file(path, c, cuts[0]);
	assert_int_equal(kw_reader_open(path, &r, &err), KW_OK);
	kw_reader_follow(r, true);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : cn;
		size_t n;

		assert_true(to >= from && to <= cn);
		if (i > 0)
			append_file(path, c + from, to - from);
		from = to;
		for (;;) {
			if (kw_reader_read(r, buf, sizeof(buf), &n, &err) !=
			    KW_OK)
				fail_msg("after byte %zu: %s", to, err.msg);
			if (n == 0)
				break;
			assert_true(have + n <= wn);
			memcpy(got + have, buf, n);
			have += n;
		}
		assert_memory_equal(got, want, have);
	}
	assert_int_equal(have, wn);
	assert_true(kw_reader_at_end(r));
	/* The end of a whole stream is the end once following stops. */
	kw_reader_follow(r, false);
	assert_int_equal(kw_reader_read(r, buf, sizeof(buf), &have, &err),
			 KW_OK);
	assert_int_equal(have, 0);
	kw_reader_close(r);
	free(got);
}

/* A gzip member with every optional header field (FEXTRA, FNAME,
 * FCOMMENT), as gzip(1) and loggers write them. malloc'ed. */
static unsigned char *gz_named(const char *p, size_t n, size_t *out)
{
	static const unsigned char head[] = {
		0x1f, 0x8b, 8,	 4 | 8 | 16, 0, 0, 0,	0,
		0,    3,				     /* fixed part */
		6,    0,    'k', 'w',	     2, 0, 'x', 'y', /* FEXTRA */
	};
	static const char name[] = "requests-2026-11-20.jsonl";
	static const char comment[] = "written while growing";
	size_t cap = compressBound((uLong)n) + 128, at = 0;
	unsigned char *o = malloc(cap);
	z_stream zs = {0};
	uLong crc = crc32(0, (const Bytef *)p, (uInt)n);

	assert_non_null(o);
	memcpy(o, head, sizeof(head));
	at = sizeof(head);
	memcpy(o + at, name, sizeof(name)); /* with its NUL */
	at += sizeof(name);
	memcpy(o + at, comment, sizeof(comment));
	at += sizeof(comment);
	assert_int_equal(
		deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY),
		Z_OK);
	zs.next_in = (unsigned char *)p;
	zs.avail_in = (uInt)n;
	zs.next_out = o + at;
	zs.avail_out = (uInt)(cap - at - 8);
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	at += zs.total_out;
	deflateEnd(&zs);
	for (int i = 0; i < 4; i++)
		o[at++] = (unsigned char)(crc >> (8 * i));
	for (int i = 0; i < 4; i++)
		o[at++] = (unsigned char)(n >> (8 * i));
	*out = at;
	return o;
}

/* A gzip file that grows by pieces cut anywhere: inside the first header,
 * inside deflate blocks, inside a trailer, between members, inside the
 * next member's magic, extra field, name and comment. */
typedef unsigned char *compress_fn(const char *p, size_t n, size_t *out);

/* Generated text compressed by ca (300 kB of it), then more by cb (50 kB),
 * written in pieces cut at head[] (from the start) and at the first
 * part's end + near[] (negative: before it), each checked as
 * follow_pieces does. */
static void follow_two(const char *name, compress_fn *ca, compress_fn *cb,
		       unsigned seed, const size_t *head, size_t nhead,
		       const long *near, size_t nnear)
{
	size_t na, nb, za_n, zb_n, ncuts = 0;
	char *a = make_text(300000, &na, seed);
	char *b = make_text(50000, &nb, seed + 1);
	unsigned char *za = ca(a, na, &za_n);
	unsigned char *zb = cb(b, nb, &zb_n);
	unsigned char *c = malloc(za_n + zb_n);
	char *want = malloc(na + nb);
	size_t cuts[32];

	assert_true(nhead + nnear <= sizeof(cuts) / sizeof(cuts[0]));
	for (size_t i = 0; i < nhead; i++)
		cuts[ncuts++] = head[i];
	for (size_t i = 0; i < nnear; i++)
		cuts[ncuts++] = (size_t)((long)za_n + near[i]);
	memcpy(c, za, za_n);
	memcpy(c + za_n, zb, zb_n);
	memcpy(want, a, na);
	memcpy(want + na, b, nb);
	follow_pieces(name, c, za_n + zb_n, cuts, ncuts, want, na + nb);
	free(a);
	free(b);
	free(za);
	free(zb);
	free(c);
	free(want);
}

/* A gzip file that grows by pieces cut anywhere: inside the first header,
 * inside deflate blocks, inside a trailer, between members, inside the
 * next member's magic, extra field, name and comment. */
static void test_gzip_follow(void **state)
{
	static const size_t head[] = {4, 7, 11, 1000, 9000};
	static const long near[] = {-5, -1, 0,	1,  2,	9,  11,
				    15, 20, 45, 60, 70, 500};
	size_t na, za_n;
	char *a = make_text(300000, &na, 7);
	unsigned char *za = gzip_fixture(a, na, &za_n);
	struct kw_reader *r = NULL;
	struct kw_error err = {0};
	const char *p;
	char buf[4096];
	size_t n, total = 0;

	(void)state;
	follow_two("grow.gz", gzip_fixture, gz_named, 7, head,
		   sizeof(head) / sizeof(head[0]), near,
		   sizeof(near) / sizeof(near[0]));

	/* Cut inside a member's trailer: nothing wrong while following,
	 * at_end false; once following stops, the cut is damage as for any
	 * reader. */
	p = tpath("cut.gz");
	write_file(p, za, za_n - 3);
	assert_int_equal(kw_reader_open(p, &r, &err), KW_OK);
	kw_reader_follow(r, true);
	do {
		assert_int_equal(kw_reader_read(r, buf, sizeof(buf), &n, &err),
				 KW_OK);
		assert_true(total + n <= na);
		assert_memory_equal(buf, a + total, n);
		total += n;
	} while (n);
	/* All of it with zlib; ISA-L holds back the end of a member until
	 * it has input past it. */
	assert_true(total > na / 2);
	assert_false(kw_reader_at_end(r));
	kw_reader_follow(r, false);
	while (kw_reader_read(r, buf, sizeof(buf), &n, &err) == KW_OK) {
		assert_true(n > 0 && total + n <= na);
		assert_memory_equal(buf, a + total, n);
		total += n;
	}
	assert_int_equal(err.status, KW_ECORRUPT);
	assert_non_null(strstr(err.msg, "unexpected end of gzip stream"));
	kw_reader_close(r);
	free(a);
	free(za);
}

#if KW_HAVE_ZSTD
/* The same for zstd: two frames, cut inside the frame header, inside
 * blocks, between the frames. */
static void test_zstd_follow(void **state)
{
	static const size_t head[] = {4, 6, 300, 5000};
	static const long near[] = {-2, 0, 3, 7, 100};

	(void)state;
	follow_two("grow.zst", zst, zst, 9, head,
		   sizeof(head) / sizeof(head[0]), near,
		   sizeof(near) / sizeof(near[0]));
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_gzip_multi_member),
		cmocka_unit_test(test_gzip_damage),
		cmocka_unit_test(test_gzip_bad_distance_code),
		cmocka_unit_test(test_gzip_like_gzip),
		cmocka_unit_test(test_gzip_follow),
#if KW_HAVE_ZSTD
		cmocka_unit_test(test_zstd),
		cmocka_unit_test(test_zstd_random),
		cmocka_unit_test(test_zstd_follow),
#endif
		cmocka_unit_test(test_stdin_pipe),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_inputs_dir_and_glob),
		cmocka_unit_test(test_pathglob_match),
		cmocka_unit_test(test_inputs_globstar),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
