/*
 * test_splitter.c - the record splitter: JSONL lines, arrays and CloudTrail
 * {"Records":[...]} documents, over-long records, structural errors, and
 * reader damage.
 *
 * The one idea: most inputs are fed through a memory reader that hands out
 * at most `chunk` bytes per read, and each test runs over several chunk
 * sizes (1 byte upwards), so a record is cut at every possible place across
 * read boundaries and must still come out whole and on the right line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <malloc.h>
#include <unistd.h>
#include <zlib.h>

#include "core/log.h"
#include "ingest/reader.h"
#include "ingest/splitter.h"

/* ---- a memory reader with a bounded read size ---------------------------- */

struct memsrc {
	const char *p;
	size_t n;
	size_t pos;
	size_t chunk;	/* most bytes per read; 0 = no bound */
	size_t fail_at; /* with fail: the error comes once pos reaches it */
	int fail;
};

static enum kw_status mem_read(void *self, void *buf, size_t cap, size_t *got,
			       struct kw_error *err)
{
	struct memsrc *m = self;
	size_t left = m->n - m->pos;
	size_t k = cap;

	*got = 0;
	if (m->fail && m->pos >= m->fail_at)
		return kw_error_set(err, KW_ECORRUPT, "byte offset 99: boom");
	if (m->fail && m->fail_at - m->pos < left)
		left = m->fail_at - m->pos;
	if (m->chunk && k > m->chunk)
		k = m->chunk;
	if (k > left)
		k = left;
	memcpy(buf, m->p + m->pos, k);
	m->pos += k;
	*got = k;
	return KW_OK;
}

static uint64_t mem_offset(void *self)
{
	return ((struct memsrc *)self)->pos;
}

static void mem_destroy(void *self)
{
	(void)self;
}

static const struct kw_reader_ops mem_ops = {
	.name = "mem",
	.read = mem_read,
	.offset = mem_offset,
	.destroy = mem_destroy,
};

/* ---- collecting records ------------------------------------------------ */

struct got {
	char **rec;
	uint64_t *line;
	size_t n;
	enum kw_status st; /* the first non-OK status, or KW_OK */
	char msg[KW_ERROR_MSG_MAX];
	size_t before_err; /* records seen before the error */
	enum kw_shape shape;
	struct kw_skips skips;
};

static void got_free(struct got *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		free(g->rec[i]);
	free(g->rec);
	free(g->line);
	memset(g, 0, sizeof(*g));
}

/* Drain a splitter over r, batch records at a time. */
static void drain(struct kw_reader *r, size_t max_record, size_t batch,
		  struct got *g)
{
	struct kw_splitter *s = NULL;
	struct kw_record recs[64];
	struct kw_error err = {0};
	enum kw_status st;
	size_t n;
	size_t i;
	int after_err = 0;

	memset(g, 0, sizeof(*g));
	assert_int_equal(kw_splitter_create(r, "t.log", max_record, &s), KW_OK);
	assert_int_equal(kw_splitter_shape(s), KW_SHAPE_UNKNOWN);
	for (;;) {
		st = kw_splitter_next(s, recs, batch, &n, &g->skips, &err);
		if (st != KW_OK) {
			assert_int_equal(g->st, KW_OK); /* only once */
			assert_int_equal(n, 0);
			g->st = st;
			g->before_err = g->n;
			snprintf(g->msg, sizeof(g->msg), "%s", err.msg);
			after_err = 1;
			continue;
		}
		if (n == 0)
			break;
		assert_false(after_err);
		assert_true(n <= batch);
		g->rec = realloc(g->rec, (g->n + n) * sizeof(*g->rec));
		g->line = realloc(g->line, (g->n + n) * sizeof(*g->line));
		for (i = 0; i < n; i++) {
			g->rec[g->n] = strndup(recs[i].p, recs[i].n);
			assert_int_equal(strlen(g->rec[g->n]), recs[i].n);
			g->line[g->n] = recs[i].line;
			g->n++;
		}
	}
	/* The end is sticky. */
	assert_int_equal(kw_splitter_next(s, recs, batch, &n, &g->skips, &err),
			 KW_OK);
	assert_int_equal(n, 0);
	g->shape = kw_splitter_shape(s);
	kw_splitter_destroy(s);
}

static void split_mem(const char *p, size_t len, size_t chunk,
		      size_t max_record, struct got *g)
{
	struct memsrc m = {.p = p, .n = len, .chunk = chunk};
	struct kw_reader r = {.ops = &mem_ops, .self = &m, .name = "t.log"};

	drain(&r, max_record, 3, g);
}

static const size_t chunks[] = {1, 2, 3, 5, 7, 64, 4096, 0};
#define NCHUNKS (sizeof(chunks) / sizeof(chunks[0]))

struct want {
	const char *rec;
	uint64_t line;
};

/* Split text at every chunk size and compare with want[0..nwant). */
static void expect(const char *text, size_t max_record, enum kw_shape shape,
		   const struct want *want, size_t nwant, enum kw_status st,
		   const char *msg, uint64_t too_long)
{
	struct got g;
	size_t c;
	size_t i;

	for (c = 0; c < NCHUNKS; c++) {
		split_mem(text, strlen(text), chunks[c], max_record, &g);
		assert_int_equal(g.shape, shape);
		assert_int_equal(g.n, nwant);
		for (i = 0; i < nwant; i++) {
			assert_string_equal(g.rec[i], want[i].rec);
			assert_int_equal(g.line[i], want[i].line);
		}
		assert_int_equal(g.st, st);
		if (msg)
			assert_string_equal(g.msg, msg);
		assert_int_equal(g.skips.count[KW_SKIP_TOO_LONG], too_long);
		got_free(&g);
	}
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- JSONL --------------------------------------------------------------- */

static void test_lines_basic(void **state)
{
	static const struct want w[] = {
		{"{\"a\":1}", 1},
		{"{\"b\":2}", 4},
		{"{\"c\":3}", 5},
		{"  {\"d\":4} ", 7},
	};

	(void)state;
	/* blank and whitespace-only lines, CRLF, a lone \r line, and a last
	 * line without a newline */
	expect("{\"a\":1}\n\n \t \n{\"b\":2}\r\n{\"c\":3}\n\r\n  {\"d\":4} ", 0,
	       KW_SHAPE_LINES, w, N(w), KW_OK, NULL, 0);
}

static void test_lines_bom_and_empty(void **state)
{
	static const struct want w[] = {{"{\"a\":1}", 1}, {"x", 2}};
	struct got g;

	(void)state;
	expect("\xef\xbb\xbf{\"a\":1}\nx\n", 0, KW_SHAPE_LINES, w, N(w), KW_OK,
	       NULL, 0);
	split_mem("", 0, 0, 0, &g);
	assert_int_equal(g.n, 0);
	assert_int_equal(g.shape, KW_SHAPE_UNKNOWN);
	got_free(&g);
	split_mem(" \n\n \r\n", 6, 1, 0, &g);
	assert_int_equal(g.n, 0);
	assert_int_equal(g.st, KW_OK);
	assert_int_equal(g.shape, KW_SHAPE_UNKNOWN);
	got_free(&g);
}

static void test_lines_too_long_small(void **state)
{
	static const struct want w[] = {
		{"0123456789", 1}, /* exactly max_record */
		{"abcdefghij", 3}, /* max_record plus a trimmed \r */
		{"ok", 4},
		{"end", 6},
	};

	(void)state;
	expect("0123456789\n0123456789X\nabcdefghij\r\nok\n"
	       "this one is far too long\nend",
	       10, KW_SHAPE_LINES, w, N(w), KW_OK, NULL, 2);
	/* the over-long line is the last one, without a newline */
	static const struct want w2[] = {{"a", 1}};
	expect("a\nbbbbbbbbbbbbbbbbbbbbbbbbbbb", 10, KW_SHAPE_LINES, w2, N(w2),
	       KW_OK, NULL, 1);
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* A 5 MiB line between two valid ones, with the default 1 MiB bound: both
 * valid lines come out, the long one is counted once, and the heap never
 * holds more than the splitter's fixed buffer (1 MiB + 256 KiB + 1). */
static void test_lines_5mib_line(void **state)
{
	size_t big = (size_t)5 << 20;
	size_t len = big + 64;
	char *text = malloc(len);
	struct memsrc m = {.p = text, .chunk = 0};
	struct kw_reader r = {.ops = &mem_ops, .self = &m, .name = "t.log"};
	struct kw_splitter *s = NULL;
	struct kw_record recs[4];
	struct kw_skips skips = {0};
	struct kw_error err = {0};
	size_t base;
	size_t peak = 0;
	size_t n;
	size_t at = 0;
	int seen = 0;

	(void)state;
	assert_non_null(text);
	memcpy(text, "{\"first\":1}\n", 12);
	at = 12;
	memset(text + at, 'x', big);
	at += big;
	at += (size_t)sprintf(text + at, "\n{\"last\":2}\n");
	m.n = at;
	base = heap_in_use();
	assert_int_equal(kw_splitter_create(&r, "t.log", 0, &s), KW_OK);
	for (;;) {
		assert_int_equal(kw_splitter_next(s, recs, 4, &n, &skips, &err),
				 KW_OK);
		if (heap_in_use() - base > peak)
			peak = heap_in_use() - base;
		if (n == 0)
			break;
		assert_int_equal(n, 1);
		if (seen == 0) {
			assert_int_equal(recs[0].n, 11);
			assert_memory_equal(recs[0].p, "{\"first\":1}", 11);
			assert_int_equal(recs[0].line, 1);
		} else {
			assert_int_equal(recs[0].n, 10);
			assert_memory_equal(recs[0].p, "{\"last\":2}", 10);
			assert_int_equal(recs[0].line, 3);
		}
		seen++;
	}
	assert_int_equal(seen, 2);
	assert_int_equal(skips.count[KW_SKIP_TOO_LONG], 1);
	assert_int_equal(skips.total, 1);
	assert_true(peak < ((size_t)1 << 20) + ((size_t)256 << 10) + 4096);
	kw_splitter_destroy(s);
	free(text);
}

/* Many lines of varied length: every chunk size and batch size gives the
 * same records on the same lines. */
static void test_lines_many_boundaries(void **state)
{
	size_t cap = 200000;
	char *text = malloc(cap);
	size_t at = 0;
	size_t i;
	size_t c;
	struct got g;
	unsigned line = 1;

	(void)state;
	for (i = 0; at < cap - 200; i++) {
		if (i % 7 == 3) {
			text[at++] = '\n'; /* a blank line */
			line++;
		}
		at += (size_t)sprintf(
			text + at, "{\"i\":%zu,\"pad\":\"%.*s\"}%s", i,
			(int)(i * 13 % 97),
			"................"
			"................................................"
			"..................................",
			i % 5 == 0 ? "\r\n" : "\n");
		line++;
	}
	for (c = 0; c < NCHUNKS; c++) {
		split_mem(text, at, chunks[c] == 1 ? 11 : chunks[c], 0, &g);
		assert_int_equal(g.n, i);
		for (size_t k = 0; k < g.n; k++) {
			char want[32];
			int wl = sprintf(want, "{\"i\":%zu,", k);

			assert_memory_equal(g.rec[k], want, (size_t)wl);
			assert_int_equal(g.rec[k][strlen(g.rec[k]) - 1], '}');
		}
		assert_int_equal(g.line[g.n - 1], line - 1);
		got_free(&g);
	}
	free(text);
}

/* ---- documents ----------------------------------------------------------- */

static void test_records_single_line(void **state)
{
	static const struct want w[] = {
		{"{\"eventName\":\"A\",\"x\":[1,{\"y\":\"]}\"}]}", 1},
		{"{\"eventName\":\"B\"}", 1},
	};

	(void)state;
	expect("{\"Records\":[{\"eventName\":\"A\",\"x\":[1,{\"y\":\"]}\"}]},"
	       "{\"eventName\":\"B\"}],\"other\":{\"k\":[1,2]}}\n",
	       0, KW_SHAPE_RECORDS, w, N(w), KW_OK, NULL, 0);
}

static void test_records_pretty(void **state)
{
	static const struct want w[] = {
		{"{\n      \"eventName\": \"A\"\n    }", 4},
		{"{ \"eventName\": \"B\" }", 7},
	};

	(void)state;
	expect("\xef\xbb\xbf{\n  \"Records\" :\n  [\n    {\n      "
	       "\"eventName\": \"A\"\n    },\n    { \"eventName\": \"B\" }\n"
	       "  ]\n}\n\n",
	       0, KW_SHAPE_RECORDS, w, N(w), KW_OK, NULL, 0);
}

static void test_array_pretty_strings(void **state)
{
	static const struct want w[] = {
		{"{\"a\": \"x]}\\\"[{\"}", 2},
		{"{\"b\": \"\\\\\", \"c\": [\"]\", \"\\\\\\\"\"]}", 3},
		{"\"str ] , [\"", 4},
		{"12", 5},
		{"true", 5},
		{"[1, [2]]", 6},
		{"{}", 8},
	};

	(void)state;
	expect("[\n  {\"a\": \"x]}\\\"[{\"},\n"
	       "  {\"b\": \"\\\\\", \"c\": [\"]\", \"\\\\\\\"\"]},\n"
	       "  \"str ] , [\",\n"
	       "  12,true ,\n"
	       "  [1, [2]],\n"
	       "\n"
	       "  {}]\n",
	       0, KW_SHAPE_ARRAY, w, N(w), KW_OK, NULL, 0);
	expect("[]", 0, KW_SHAPE_ARRAY, NULL, 0, KW_OK, NULL, 0);
	expect(" [ \n ] \n", 0, KW_SHAPE_ARRAY, NULL, 0, KW_OK, NULL, 0);
}

static void test_doc_errors(void **state)
{
	static const struct want two[] = {{"{\"a\":1}", 2}, {"{\"b\":2}", 3}};
	static const struct want one[] = {{"{}", 1}};

	(void)state;
	expect("[\n{\"a\":1},\n{\"b\":2}\n\n", 0, KW_SHAPE_ARRAY, two, 2,
	       KW_EINVAL, "line 3: unterminated JSON array", 0);
	expect("[\n{\"a\":1},\n{\"b\":2}, {\"c\":\n", 0, KW_SHAPE_ARRAY, two, 2,
	       KW_EINVAL, "line 3: unterminated JSON array", 0);
	expect("[{}]\n\n,\n", 0, KW_SHAPE_ARRAY, one, 1, KW_EINVAL,
	       "line 3: unexpected ',' after the array", 0);
	expect("[{} {}]", 0, KW_SHAPE_ARRAY, one, 1, KW_EINVAL,
	       "line 1: expected ',' or ']' after an array element, found "
	       "'{'",
	       0);
	expect("[{},\n]", 0, KW_SHAPE_ARRAY, one, 1, KW_EINVAL,
	       "line 2: expected a value, found ']'", 0);
	expect("{\"Records\":[{}],\"x\":[1,\n", 0, KW_SHAPE_RECORDS, one, 1,
	       KW_EINVAL, "line 1: unterminated JSON object", 0);
	expect("{\"Records\":[{}]}\n{\"Records\":[]}\n", 0, KW_SHAPE_RECORDS,
	       one, 1, KW_EINVAL, "line 2: unexpected '{' after the array", 0);
}

static void test_doc_too_long(void **state)
{
	static const struct want w[] = {{"{\"b\":1}", 2}, {"\"short\"", 3}};

	(void)state;
	expect("[{\"a\":\"0123456789abc\"},\n{\"b\":1},\n\"0123456789abcdef\","
	       "\"short\"]",
	       10, KW_SHAPE_ARRAY, w, N(w), KW_OK, NULL, 2);
}

static void test_shape_sniff(void **state)
{
	static const struct want rec[] = {{"{\"Recordsx\":[]}", 1}};
	static const struct want ws[] = {{"{}", 4}};

	(void)state;
	expect("{\"Recordsx\":[]}", 0, KW_SHAPE_LINES, rec, 1, KW_OK, NULL, 0);
	expect("\n \t{ \"Records\"\n :\n\t[{}]}", 0, KW_SHAPE_RECORDS, ws, 1,
	       KW_OK, NULL, 0);
}

/* A big pretty-printed array read from a real gzip file through the real
 * reader: elements cross the 256 KiB read boundaries many times. */
static void test_array_file_boundaries(void **state)
{
	char dir[] = "/tmp/kw_split_XXXXXX";
	char path[64];
	size_t cap = (size_t)3 << 20;
	char *text = malloc(cap);
	size_t at = 0;
	size_t i;
	size_t count;
	gzFile gz;
	struct kw_reader *r = NULL;
	struct kw_error err = {0};
	struct got g;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/big.json.gz", dir);
	at += (size_t)sprintf(text, "[\n");
	for (i = 0; at < cap - 4096; i++)
		at += (size_t)sprintf(
			text + at, "%s  {\"i\": %zu, \"s\": \"a]\\\"b%.*s\"}",
			i ? ",\n" : "", i, (int)(i * 31 % 1000),
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}"
			"[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}[{]}");
	at += (size_t)sprintf(text + at, "\n]\n");
	count = i;
	gz = gzopen(path, "wb");
	assert_non_null(gz);
	assert_int_equal(gzwrite(gz, text, (unsigned)at), (int)at);
	assert_int_equal(gzclose(gz), Z_OK);

	assert_int_equal(kw_reader_open(path, &r, &err), KW_OK);
	drain(r, 0, 64, &g);
	kw_reader_close(r);
	assert_int_equal(g.st, KW_OK);
	assert_int_equal(g.shape, KW_SHAPE_ARRAY);
	assert_int_equal(g.n, count);
	for (i = 0; i < count; i++) {
		char want[64];
		int wl = sprintf(want, "{\"i\": %zu, \"s\": \"a]\\\"b", i);

		assert_memory_equal(g.rec[i], want, (size_t)wl);
		assert_int_equal(strlen(g.rec[i]),
				 (size_t)wl + i * 31 % 1000 + 2);
		assert_int_equal(g.line[i], i + 2);
	}
	got_free(&g);
	free(text);
	unlink(path);
	rmdir(dir);
}

/* Damage reported by the reader: the complete records before it come out,
 * then the reader's error once, then the end. The cut record is dropped. */
static void test_reader_error(void **state)
{
	static const char text[] = "{\"a\":1}\n{\"b\":2}\n{\"c\"";
	struct memsrc m = {.p = text,
			   .n = sizeof(text) - 1,
			   .chunk = 5,
			   .fail = 1,
			   .fail_at = sizeof(text) - 1};
	struct kw_reader r = {.ops = &mem_ops, .self = &m, .name = "t.log"};
	struct got g;

	(void)state;
	drain(&r, 0, 1, &g);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.before_err, 2);
	assert_string_equal(g.rec[0], "{\"a\":1}");
	assert_string_equal(g.rec[1], "{\"b\":2}");
	assert_int_equal(g.st, KW_ECORRUPT);
	assert_string_equal(g.msg, "t.log: byte offset 99: boom");
	got_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_basic),
		cmocka_unit_test(test_lines_bom_and_empty),
		cmocka_unit_test(test_lines_too_long_small),
		cmocka_unit_test(test_lines_5mib_line),
		cmocka_unit_test(test_lines_many_boundaries),
		cmocka_unit_test(test_records_single_line),
		cmocka_unit_test(test_records_pretty),
		cmocka_unit_test(test_array_pretty_strings),
		cmocka_unit_test(test_doc_errors),
		cmocka_unit_test(test_doc_too_long),
		cmocka_unit_test(test_shape_sniff),
		cmocka_unit_test(test_array_file_boundaries),
		cmocka_unit_test(test_reader_error),
	};

	kw_log_set_level(KW_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
