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
#include "ingest/dispatch.h"
#include "ingest/reader.h"
#include "ingest/splitter.h"
#include "stderr_capture.h"

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
	enum kw_record_kind *kind;
	size_t n;
	enum kw_status st; /* the first non-OK status, or KW_OK */
	char msg[KW_ERROR_MSG_MAX];
	size_t before_err; /* records seen before the error */
	struct kw_skips skips;
};

static void got_free(struct got *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		free(g->rec[i]);
	free(g->rec);
	free(g->line);
	free(g->kind);
	memset(g, 0, sizeof(*g));
}

/* The width of the pass that finds a line's end (test_line_steps). */
static enum kw_json_step split_step = KW_JSON_STEP_BEST;

/* ---- keeping records (kw_splitter_keep) --------------------------------- */

/* Keeping: drain hands the splitter buffers of the test's own and copies
 * no record until the end, so a byte handed out that moved or was written
 * over shows in the records compared. */
static bool keep_mode;
static size_t keep_fail_after; /* keep.fail_after of the next drain */

struct keep {
	char *held; /* the splitter's buffer now */
	size_t cap;
	char **old; /* every buffer it was given, freed at the end */
	size_t nold;
	size_t swaps;
	size_t fail_after; /* swaps that succeed before one fails; 0: none */
};

static char *keep_swap(void *ctx, char *old, size_t old_cap, size_t want,
		       size_t *cap)
{
	struct keep *k = ctx;
	char *mem;

	/* the first call hands over the splitter's own buffer; every later
	 * one the buffer it was given last */
	if (k->swaps)
		assert_ptr_equal(old, k->held);
	assert_true(want >= old_cap);
	if (k->fail_after && k->swaps == k->fail_after)
		return NULL;
	k->swaps++;
	k->old = realloc(k->old, (k->nold + 1) * sizeof(*k->old));
	k->old[k->nold++] = old;
	mem = malloc(want);
	memset(mem, '#', want); /* what was not copied shows */
	k->held = mem;
	k->cap = want;
	*cap = want;
	return mem;
}

static void keep_free(struct keep *k)
{
	for (size_t i = 0; i < k->nold; i++)
		free(k->old[i]);
	free(k->old);
	free(k->held);
	memset(k, 0, sizeof(*k));
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
	struct keep k = {.fail_after = keep_fail_after};
	struct kw_record *kept = NULL;

	memset(g, 0, sizeof(*g));
	/* small first buffers: they grow as records need */
	assert_int_equal(kw_splitter_create(r, "t.log", max_record,
					    max_record ? 16 : KW_SPLITTER_SMALL,
					    &s),
			 KW_OK);
	assert_true(kw_splitter_set_step(s, split_step));
	if (keep_mode)
		assert_int_equal(kw_splitter_keep(s, keep_swap, &k), KW_OK);
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
		g->kind = realloc(g->kind, (g->n + n) * sizeof(*g->kind));
		if (keep_mode) {
			/* every record of a call is in the buffer held */
			assert_ptr_equal(kw_splitter_held(s), k.held);
			kept = realloc(kept, (g->n + n) * sizeof(*kept));
			for (i = 0; i < n; i++) {
				assert_true(recs[i].p >= k.held &&
					    recs[i].p + recs[i].n <=
						    k.held + k.cap);
				kept[g->n + i] = recs[i];
			}
		}
		for (i = 0; i < n; i++) {
			if (keep_mode) {
				g->rec[g->n] = NULL;
				g->line[g->n] = recs[i].line;
				g->kind[g->n] = recs[i].kind;
				g->n++;
				continue;
			}
			g->rec[g->n] = strndup(recs[i].p, recs[i].n);
			assert_int_equal(strlen(g->rec[g->n]), recs[i].n);
			g->line[g->n] = recs[i].line;
			g->kind[g->n] = recs[i].kind;
			g->n++;
		}
	}
	/* The end is sticky. */
	assert_int_equal(kw_splitter_next(s, recs, batch, &n, &g->skips, &err),
			 KW_OK);
	assert_int_equal(n, 0);
	kw_splitter_destroy(s);
	if (keep_mode) {
		/* only now, with every buffer still as the splitter left it */
		for (i = 0; i < g->n; i++)
			g->rec[i] = strndup(kept[i].p, kept[i].n);
		free(kept);
		keep_free(&k);
	}
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

#define O KW_REC_OBJECT
#define T KW_REC_TEXT
#define E KW_REC_ELEMENT
#define R KW_REC_RECORDS
#define L KW_REC_LOGEVENTS

struct want {
	const char *rec;
	uint64_t line;
	enum kw_record_kind kind;
};

/* Split text at every chunk size and compare with want[0..nwant); the
 * counts of over-long records and of structural damage must match. */
static void expect(const char *text, size_t max_record, const struct want *want,
		   size_t nwant, uint64_t too_long, uint64_t bad_json)
{
	struct got g;
	size_t c;
	size_t i;

	for (c = 0; c < 2 * NCHUNKS; c++) {
		keep_mode = c >= NCHUNKS;
		split_mem(text, strlen(text), chunks[c % NCHUNKS], max_record,
			  &g);
		keep_mode = false;
		if (g.n != nwant)
			for (i = 0; i < g.n; i++)
				print_message("got %zu: %s (line %llu)\n", i,
					      g.rec[i],
					      (unsigned long long)g.line[i]);
		assert_int_equal(g.n, nwant);
		for (i = 0; i < nwant; i++) {
			assert_string_equal(g.rec[i], want[i].rec);
			assert_int_equal(g.line[i], want[i].line);
			assert_int_equal(g.kind[i], want[i].kind);
		}
		assert_int_equal(g.st, KW_OK);
		assert_int_equal(g.skips.count[KW_SKIP_TOO_LONG], too_long);
		assert_int_equal(g.skips.count[KW_SKIP_BAD_JSON], bad_json);
		got_free(&g);
	}
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- JSONL --------------------------------------------------------------- */

static void test_lines_basic(void **state)
{
	static const struct want w[] = {
		{"{\"a\":1}", 1, O},
		{"{\"b\":2}", 4, O},
		{"{\"c\":3}", 5, O},
		{"{\"d\":4}", 7, O},
	};

	(void)state;
	/* blank and whitespace-only lines, CRLF, a lone \r line, and a last
	 * line without a newline; white space around a line is not part of
	 * its record */
	expect("{\"a\":1}\n\n \t \n{\"b\":2}\r\n{\"c\":3}\n\r\n  {\"d\":4} ", 0,
	       w, N(w), 0, 0);
}

static void test_lines_bom_and_empty(void **state)
{
	static const struct want w[] = {{"{\"a\":1}", 1, O}, {"x", 2, T}};
	struct got g;

	(void)state;
	expect("\xef\xbb\xbf{\"a\":1}\nx\n", 0, w, N(w), 0, 0);
	split_mem("", 0, 0, 0, &g);
	assert_int_equal(g.n, 0);
	got_free(&g);
	split_mem(" \n\n \r\n", 6, 1, 0, &g);
	assert_int_equal(g.n, 0);
	assert_int_equal(g.st, KW_OK);
	got_free(&g);
}

static void test_lines_too_long_small(void **state)
{
	static const struct want w[] = {
		{"0123456789", 1, T}, /* exactly max_record */
		{"abcdefghij", 3, T}, /* max_record plus a trimmed \r */
		{"ok", 4, T},
		{"end", 6, T},
	};
	static const struct want w2[] = {{"a", 1, T}};

	(void)state;
	expect("0123456789\n0123456789X\nabcdefghij\r\nok\n"
	       "this one is far too long\nend",
	       10, w, N(w), 2, 0);
	/* the over-long line is the last one, without a newline */
	expect("a\nbbbbbbbbbbbbbbbbbbbbbbbbbbb", 10, w2, N(w2), 1, 0);
}

/* More blank space at the start than a record may be long: still read. */
static void test_lines_blank_start(void **state)
{
	size_t pad = 3000;
	char *text = malloc(pad * 2 + 64);
	static const struct want w[] = {{"{\"a\":1}", 1501, O},
					{"{\"b\":2}", 1502, O}};

	(void)state;
	for (size_t i = 0; i < pad; i++) {
		text[2 * i] = ' ';
		text[2 * i + 1] = i % 2 ? '\n' : '\t';
	}
	strcpy(text + 2 * pad, "{\"a\":1}\n{\"b\":2}\n");
	expect(text, 64, w, N(w), 0, 0);
	free(text);
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* A 5 MiB line between two valid ones, with the default 1 MiB bound: both
 * valid lines come out, the long one is counted once, and the heap never
 * holds more than the splitter's largest buffer (1 MiB + 512 KiB + 1) and
 * the splitter itself. */
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
	assert_int_equal(kw_splitter_create(&r, "t.log", 0, 0, &s), KW_OK);
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
	assert_true(peak < ((size_t)1 << 20) + ((size_t)512 << 10) + 8192);
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
		{"{\"eventName\":\"A\",\"x\":[1,{\"y\":\"]}\"}]}", 1, R},
		{"{\"eventName\":\"B\"}", 1, R},
	};

	(void)state;
	expect("{\"Records\":[{\"eventName\":\"A\",\"x\":[1,{\"y\":\"]}\"}]},"
	       "{\"eventName\":\"B\"}],\"other\":{\"k\":[1,2]}}\n",
	       0, w, N(w), 0, 0);
}

static void test_records_pretty(void **state)
{
	static const struct want w[] = {
		{"{\n      \"eventName\": \"A\"\n    }", 4, R},
		{"{ \"eventName\": \"B\" }", 7, R},
	};

	(void)state;
	expect("\xef\xbb\xbf{\n  \"Records\" :\n  [\n    {\n      "
	       "\"eventName\": \"A\"\n    },\n    { \"eventName\": \"B\" }\n"
	       "  ]\n}\n\n",
	       0, w, N(w), 0, 0);
}

/* "Records" need not be the first key; the object is a document wherever
 * it is, and a later key of the same object is followed too. */
static void test_records_not_first(void **state)
{
	static const struct want w[] = {
		{"{\"a\":1}", 1, R},
		{"{\"b\":2}", 1, R},
		{"{\"k\":3}", 2, O},
	};

	(void)state;
	expect("{\"x\":{\"Records\":[9]},\"Records\":[{\"a\":1},{\"b\":2}],"
	       "\"y\":[3]}\n{\"k\":3}\n",
	       0, w, N(w), 0, 0);
}

/* Several documents: one per line, and two on one line (concatenated gzip
 * members without a newline between them); then request lines. */
static void test_records_several(void **state)
{
	static const struct want w[] = {
		{"{\"a\":1}", 1, R}, {"{\"b\":2}", 1, R}, {"{\"c\":3}", 2, R},
		{"{\"d\":4}", 3, R}, {"{\"k\":5}", 4, O},
	};

	(void)state;
	expect("{\"Records\":[{\"a\":1}]}{\"Records\":[{\"b\":2}]}\n"
	       "{\"Records\":[{\"c\":3}]}\n"
	       "  {\"Records\" : [ {\"d\":4} ] }  \n"
	       "{\"k\":5}\n",
	       0, w, N(w), 0, 0);
}

/* A CloudWatch Logs subscription payload, twice, concatenated. */
static void test_logevents(void **state)
{
	static const struct want w[] = {
		{"{\"id\":\"1\",\"message\":\"{\\\"a\\\":1}\"}", 1, L},
		{"{\"id\":\"2\",\"message\":\"x\"}", 1, L},
		{"{\"id\":\"3\",\"message\":\"y\"}", 1, L},
	};

	(void)state;
	expect("{\"messageType\":\"DATA_MESSAGE\",\"owner\":\"1\","
	       "\"logEvents\":[{\"id\":\"1\",\"message\":\"{\\\"a\\\":1}\"},"
	       "{\"id\":\"2\",\"message\":\"x\"}]}"
	       "{\"logEvents\":[{\"id\":\"3\",\"message\":\"y\"}],"
	       "\"logGroup\":\"g\"}",
	       0, w, N(w), 0, 0);
}

/* An object over several lines that is no document is one record. */
static void test_pretty_object(void **state)
{
	static const struct want w[] = {
		{"{\n  \"a\": [1,\n 2],\n  \"b\": {\"c\": \"}\"}\n}", 1, O},
		{"{\"d\":2}", 6, O},
	};

	(void)state;
	expect("{\n  \"a\": [1,\n 2],\n  \"b\": {\"c\": \"}\"}\n}\n{\"d\":2}\n",
	       0, w, N(w), 0, 0);
}

static void test_array_pretty_strings(void **state)
{
	static const struct want w[] = {
		{"{\"a\": \"x]}\\\"[{\"}", 2, E},
		{"{\"b\": \"\\\\\", \"c\": [\"]\", \"\\\\\\\"\"]}", 3, E},
		{"\"str ] , [\"", 4, E},
		{"12", 5, E},
		{"true", 5, E},
		{"[1, [2]]", 6, E},
		{"{}", 8, E},
	};

	(void)state;
	expect("[\n  {\"a\": \"x]}\\\"[{\"},\n"
	       "  {\"b\": \"\\\\\", \"c\": [\"]\", \"\\\\\\\"\"]},\n"
	       "  \"str ] , [\",\n"
	       "  12,true ,\n"
	       "  [1, [2]],\n"
	       "\n"
	       "  {}]\n",
	       0, w, N(w), 0, 0);
	expect("[]", 0, NULL, 0, 0, 0);
	expect(" [ \n ] \n", 0, NULL, 0, 0, 0);
}

static void test_doc_errors(void **state)
{
	static const struct want two[] = {{"{\"a\":1}", 2, E},
					  {"{\"b\":2}", 3, E}};
	static const struct want cut[] = {
		{"{\"a\":1}", 2, E}, {"{\"b\":2}", 3, E}, {"{\"c\":", 3, E}};
	static const struct want one[] = {{"{}", 1, E}};
	static const struct want comma[] = {{"{}", 1, E}, {",", 3, T}};
	static const struct want rec[] = {{"{}", 1, R}};

	(void)state;
	/* left open at the end: counted once */
	expect("[\n{\"a\":1},\n{\"b\":2}\n\n", 0, two, 2, 0, 1);
	/* an element left open: handed out as it is (the decoder says why) */
	expect("[\n{\"a\":1},\n{\"b\":2}, {\"c\":\n", 0, cut, 3, 0, 0);
	expect("[{}]\n\n,\n", 0, comma, 2, 0, 0);
	expect("[{} {}]", 0, one, 1, 0, 1);
	expect("[{},\n]", 0, one, 1, 0, 1);
	expect("{\"Records\":[{}],\"x\":[1,\n", 0, rec, 1, 0, 1);
	expect("{\"Records\":[{}]}\n{\"Records\":[]}\n", 0, rec, 1, 0, 0);
}

/* The messages of the damage counted by the splitter itself. */
static void test_doc_error_messages(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{"[\n{\"a\":1},\n{\"b\":2}\n\n",
		 "t.log:3: unterminated JSON array"},
		{"[{} {}]\n",
		 "t.log:1: expected ',' or ']' after an array element, found "
		 "'{'"},
		{"[{},\n]", "t.log:2: expected a value, found ']'"},
		{"{\"Records\":[{}],\"x\":[1,\n",
		 "t.log:1: unterminated JSON object"},
		{"[INFO] started\n", "t.log:1: expected a value, found 'I'"},
		{"{\"Records\":[{}]} x\n",
		 "t.log:1: unexpected 'x' after a JSON text"},
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		struct capture c;
		char log[4096];
		struct got g;

		kw_log_set_level(KW_LOG_WARN);
		capture_begin(&c);
		split_mem(cases[i].text, strlen(cases[i].text), 0, 0, &g);
		capture_end(&c, log, sizeof(log));
		kw_log_set_level(KW_LOG_ERROR);
		got_free(&g);
		if (strstr(log, cases[i].msg) == NULL)
			fail_msg("log: %s; want: %s", log, cases[i].msg);
	}
}

/* A line that starts with '[' but is no JSON array, then request lines:
 * only that line is lost. */
static void test_bracket_line(void **state)
{
	static const struct want w[] = {{"{\"a\":1}", 2, O},
					{"{\"b\":2}", 3, O}};
	static const struct want date[] = {{"{\"a\":1}", 2, O}};

	(void)state;
	expect("[INFO] started\n{\"a\":1}\n{\"b\":2}\n", 0, w, N(w), 0, 1);
	expect("[2026-11-20 10:00:00] up\n{\"a\":1}\n", 0, date, N(date), 0, 1);
}

/* The pass that finds a line's end and a '[' before it, at each width
 * this machine has (two memchr, SSE2, AVX2: 64 bytes a step) against the
 * two memchr: lines of every length from 0 to 300 bytes, so that the
 * newline and the '[' (in a string, or opening a "Records" document) fall
 * at every place of a step, and a last line without a newline; read whole
 * and 7 bytes at a time. */
static void test_line_steps(void **state)
{
	static const enum kw_json_step steps[] = {KW_JSON_STEP_16,
						  KW_JSON_STEP_32};
	size_t cap = 200000, o = 0;
	char *text = malloc(cap);
	uint64_t x = 0x6c696e6573ULL;

	(void)state;
	assert_non_null(text);
	for (size_t len = 0; len <= 300; len++) {
		for (int kind = 0; kind < 3; kind++) {
			size_t at;

			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			at = len ? (size_t)(x >> 33) % (len + 1) : 0;
			if (kind == 2) {
				o += (size_t)sprintf(
					text + o, "{\"Records\":[{\"n\":%zu}]}",
					len);
			} else {
				o += (size_t)sprintf(text + o, "{\"s\":\"");
				for (size_t i = 0; i < len; i++)
					text[o++] = kind && i == at ? '[' : 'x';
				o += (size_t)sprintf(text + o, "\"}");
			}
			text[o++] = '\n';
		}
	}
	o += (size_t)sprintf(text + o, "{\"s\":\"[last\"}");
	assert_true(o < cap);
	for (size_t c = 0; c < 2; c++) {
		struct got ref, g;

		split_step = KW_JSON_STEP_8;
		split_mem(text, o, c ? 7 : 0, 0, &ref);
		assert_int_equal(ref.n, 301 * 3 + 1);
		assert_int_equal(ref.kind[2], R);
		assert_int_equal(ref.kind[1], O);
		for (size_t k = 0; k < sizeof(steps) / sizeof(*steps); k++) {
			struct memsrc m = {.p = text, .n = 1};
			struct kw_reader r = {
				.ops = &mem_ops, .self = &m, .name = "t.log"};
			struct kw_splitter *sp = NULL;

			assert_int_equal(
				kw_splitter_create(&r, "t.log", 0, 0, &sp),
				KW_OK);
			if (!kw_splitter_set_step(sp, steps[k])) {
				kw_splitter_destroy(sp);
				continue;
			}
			kw_splitter_destroy(sp);
			split_step = steps[k];
			split_mem(text, o, c ? 7 : 0, 0, &g);
			assert_int_equal(g.n, ref.n);
			for (size_t i = 0; i < g.n; i++) {
				assert_string_equal(g.rec[i], ref.rec[i]);
				assert_int_equal(g.line[i], ref.line[i]);
				assert_int_equal(g.kind[i], ref.kind[i]);
			}
			got_free(&g);
		}
		got_free(&ref);
	}
	split_step = KW_JSON_STEP_BEST;
	free(text);
}

/* An array whose lines turn out to be request lines, and a Records
 * document followed by them: each line is still read. */
static void test_document_then_lines(void **state)
{
	static const struct want w[] = {{"{\"a\":1}", 2, E},
					{"{\"b\":2}", 3, E},
					{"{\"c\":3}", 4, O},
					{"{\"d\":4}", 5, O}};
	static const struct want r[] = {{"{\"x\":0}", 1, R},
					{"{\"c\":3}", 2, O}};

	(void)state;
	expect("[\n{\"a\":1},\n{\"b\":2}\n{\"c\":3}\n{\"d\":4}\n", 0, w, N(w),
	       0, 1);
	expect("{\"Records\":[{\"x\":0}]}\n{\"c\":3}\n", 0, r, N(r), 0, 0);
}

/* A request line cut short: the cut line is handed out (the decoder
 * reports it) and the lines after it are read again as lines, even those
 * the cut line seemed to continue into. */
static void test_cut_lines(void **state)
{
	static const struct want colon[] = {
		{"{\"a\":", 1, O}, {"{\"k\":1}", 2, O}, {"{\"k\":2}", 3, O}};
	static const struct want str[] = {{"{\"a\":\"xy", 1, O},
					  {"{\"k\":1}", 2, O}};
	static const struct want comma[] = {{"{\"a\":1,", 1, O},
					    {"{\"k\":1}", 2, O}};

	(void)state;
	expect("{\"a\":\n{\"k\":1}\n{\"k\":2}\n", 0, colon, N(colon), 0, 0);
	expect("{\"a\":\"xy\n{\"k\":1}\n", 0, str, N(str), 0, 0);
	expect("{\"a\":1,\n{\"k\":1}", 0, comma, N(comma), 0, 0);
}

/* A document on one line with a broken element: the elements after it are
 * still read. */
static void test_one_line_doc_damage(void **state)
{
	static const struct want w[] = {{"{\"a\":1}", 1, R},
					{"{\"b\" 2", 1, R},
					{"{\"c\":3}", 1, R},
					{"{\"k\":4}", 2, O}};

	(void)state;
	expect("{\"Records\":[{\"a\":1},{\"b\" 2},{\"c\":3}]}\n{\"k\":4}\n", 0,
	       w, N(w), 0, 0);
}

static void test_doc_too_long(void **state)
{
	static const struct want w[] = {{"{\"b\":1}", 2, E},
					{"\"short\"", 3, E}};

	(void)state;
	expect("[{\"a\":\"0123456789abc\"},\n{\"b\":1},\n\"0123456789abcdef\","
	       "\"short\"]",
	       10, w, N(w), 2, 0);
}

static void test_shape_sniff(void **state)
{
	static const struct want rec[] = {{"{\"Recordsx\":[]}", 1, O}};
	static const struct want ws[] = {{"{}", 4, R}};

	(void)state;
	expect("{\"Recordsx\":[]}", 0, rec, 1, 0, 0);
	expect("\n \t{ \"Records\"\n :\n\t[{}]}", 0, ws, 1, 0, 0);
}

/* A big pretty-printed array read from a real gzip file through the real
 * reader: elements cross the 512 KiB read boundaries many times. */
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
	assert_int_equal(g.n, count);
	for (i = 0; i < count; i++) {
		char want[64];
		int wl = sprintf(want, "{\"i\": %zu, \"s\": \"a]\\\"b", i);

		assert_memory_equal(g.rec[i], want, (size_t)wl);
		assert_int_equal(strlen(g.rec[i]),
				 (size_t)wl + i * 31 % 1000 + 2);
		assert_int_equal(g.line[i], i + 2);
		assert_int_equal(g.kind[i], KW_REC_ELEMENT);
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

static char *no_swap(void *ctx, char *old, size_t old_cap, size_t want,
		     size_t *cap)
{
	(void)ctx, (void)old, (void)old_cap, (void)want, (void)cap;
	return NULL;
}

/* Keeping records without the memory for it: refused at once, the
 * splitter goes on in its own buffer; refused later, the records read
 * before come out, then the error, then the end. */
static void test_keep_no_memory(void **state)
{
	static const char text[] = "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n";
	struct memsrc m = {.p = text, .n = sizeof(text) - 1, .chunk = 8};
	struct kw_reader r = {.ops = &mem_ops, .self = &m, .name = "t.log"};
	struct kw_splitter *s = NULL;
	struct kw_record recs[4];
	struct kw_skips skips = {0};
	struct kw_error err = {0};
	size_t n, total = 0;
	struct got g;

	(void)state;
	assert_int_equal(kw_splitter_create(&r, "t.log", 0, 16, &s), KW_OK);
	assert_int_equal(kw_splitter_keep(s, no_swap, NULL), KW_ENOMEM);
	do {
		assert_int_equal(kw_splitter_next(s, recs, 4, &n, &skips, &err),
				 KW_OK);
		total += n;
	} while (n);
	assert_int_equal(total, 3);
	kw_splitter_destroy(s);

	m.pos = 0;
	keep_mode = true;
	keep_fail_after = 2; /* keep's own swap, then the first read's */
	drain(&r, 0, 4, &g);
	keep_mode = false;
	keep_fail_after = 0;
	assert_int_equal(g.n, 1);
	assert_int_equal(g.before_err, 1);
	assert_string_equal(g.rec[0], "{\"a\":1}");
	assert_int_equal(g.st, KW_ENOMEM);
	assert_string_equal(g.msg, "t.log: out of memory");
	got_free(&g);
}

/* ---- where a batch ends ------------------------------------------------ */

/* The sizes of the batches of KW_DISPATCH_BATCH records a splitter over
 * text gives, as the engine reads an input with one thread (initial 0, no
 * keep) or with several (a 512 KiB first buffer, kept: the pipeline's
 * swap); NUL-terminated in sizes. */
static void batch_sizes(const char *text, size_t len, bool kept, size_t *sizes,
			size_t cap)
{
	static struct kw_record recs[KW_DISPATCH_BATCH];
	struct memsrc m = {.p = text, .n = len};
	struct kw_reader r = {.ops = &mem_ops, .self = &m, .name = "t.log"};
	struct kw_splitter *s = NULL;
	struct kw_skips skips = {0};
	struct kw_error err = {0};
	struct keep k = {0};
	size_t n, i = 0;

	assert_int_equal(kw_splitter_create(&r, "t.log", 0,
					    kept ? (size_t)512 * 1024 : 0, &s),
			 KW_OK);
	if (kept)
		assert_int_equal(kw_splitter_keep(s, keep_swap, &k), KW_OK);
	do {
		assert_int_equal(kw_splitter_next(s, recs, KW_DISPATCH_BATCH,
						  &n, &skips, &err),
				 KW_OK);
		assert_true(i + 1 < cap);
		sizes[i++] = n;
	} while (n);
	kw_splitter_destroy(s);
	keep_free(&k);
}

/* A batch ends where the splitter's buffer does, and the engine ticks its
 * windows after each batch: so the buffer must end at the same byte
 * whether the splitter keeps its records (threads) or not, or an alert
 * raised when a window closes comes out after other events with -j 2
 * than with -j 1. Each refill reads what tops the bytes still needed up
 * to one read's worth, whatever the buffer's size. */
static void test_batches_whatever_the_buffer(void **state)
{
	size_t len = 0, cap = (size_t)6 << 20, na[4096], nb[4096];
	char *text = malloc(cap);
	uint32_t seed = 7;

	(void)state;
	assert_non_null(text);
	/* lines of 30 to 600 bytes, and now and then one of 200 to 700 KB,
	 * which outgrows a buffer */
	while (len < cap - (size_t)800 * 1024) {
		size_t n;

		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % 997 == 0 ? 200000 + (seed >> 8) % 500000
					    : 30 + (seed >> 16) % 570;
		len += (size_t)snprintf(text + len, cap - len,
					"{\"i\":%zu,\"p\":\"", len);
		memset(text + len, 'x', n);
		len += n;
		len += (size_t)snprintf(text + len, cap - len, "\"}\n");
	}
	batch_sizes(text, len, false, na, sizeof(na) / sizeof(na[0]));
	batch_sizes(text, len, true, nb, sizeof(nb) / sizeof(nb[0]));
	for (size_t i = 0;; i++) {
		if (na[i] != nb[i])
			fail_msg("batch %zu: %zu records with one thread, %zu "
				 "kept",
				 i, na[i], nb[i]);
		if (!na[i])
			break;
	}
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_basic),
		cmocka_unit_test(test_batches_whatever_the_buffer),
		cmocka_unit_test(test_lines_bom_and_empty),
		cmocka_unit_test(test_lines_too_long_small),
		cmocka_unit_test(test_lines_blank_start),
		cmocka_unit_test(test_lines_5mib_line),
		cmocka_unit_test(test_lines_many_boundaries),
		cmocka_unit_test(test_records_single_line),
		cmocka_unit_test(test_records_pretty),
		cmocka_unit_test(test_records_not_first),
		cmocka_unit_test(test_records_several),
		cmocka_unit_test(test_logevents),
		cmocka_unit_test(test_pretty_object),
		cmocka_unit_test(test_array_pretty_strings),
		cmocka_unit_test(test_doc_errors),
		cmocka_unit_test(test_doc_error_messages),
		cmocka_unit_test(test_bracket_line),
		cmocka_unit_test(test_line_steps),
		cmocka_unit_test(test_document_then_lines),
		cmocka_unit_test(test_cut_lines),
		cmocka_unit_test(test_one_line_doc_damage),
		cmocka_unit_test(test_doc_too_long),
		cmocka_unit_test(test_shape_sniff),
		cmocka_unit_test(test_array_file_boundaries),
		cmocka_unit_test(test_reader_error),
		cmocka_unit_test(test_keep_no_memory),
	};

	kw_log_set_level(KW_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
