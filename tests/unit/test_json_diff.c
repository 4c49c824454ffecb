/*
 * test_json_diff.c - differential test: kw_json_scan against jansson's
 * json_loadb(text, len, 0, &error), which defines what keywatch accepts.
 *
 * Corpus: tests/unit/json_corpus/<name>.json holds ONE case per file, the
 * file's exact bytes (no trailing newline added; NUL bytes and invalid UTF-8
 * are written raw). The name says what the case exercises. The same files
 * seed the libFuzzer target tests/fuzz/fuzz_json_scan.c.
 *
 * For every input, and a fixed path set (top-level, nested, paths to
 * non-string values, a UTF-8 key), the test compares validity and, per
 * path, the type and value with jansson's tree: exact string bytes, integer
 * value, the double bit for bit, and for objects and arrays the raw text
 * re-parsed and json_equal to jansson's subtree. Beyond the corpus it checks
 * thousands of random valid documents and random mutations of the corpus
 * and of those documents, all from fixed seeds. Every input is scanned
 * twice, plainly and with the key-order hint carried over from the inputs
 * before it (kw_json_scan_hinted), and both answers must be jansson's;
 * test_key_orders runs sequences of texts whose key orders change. The
 * whole set runs once for each width of the string step this build and
 * CPU have (8 bytes, SSE2's 16, AVX2's 32: kw_json_paths_set_step), and
 * test_string_steps puts every kind of byte a string must look at at
 * every offset around those widths. The first mismatch fails the test
 * with the input hex-escaped.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ingest/json_scan.h"
#include "json_compare.h"
#include "test_rng.h"

#define CORPUS_DIR KW_TEST_SRCDIR "/json_corpus"
#define MAX_CASE (256 * 1024)

struct ctx {
	struct kw_json_paths *paths;
	struct kw_arena arena;
	/* carried from input to input, as a decoder carries it from line to
	 * line: every input is also scanned with the key order of the ones
	 * before it */
	struct kw_json_hint hint;
	size_t checked, valid;
};

/* ------------------------------------------------------------ compare */

/* Fail the test; path is NULL for a difference in validity. */
static void report(const char *what, const char *why, const char *path,
		   const char *text, size_t len)
{
	char *hex = malloc(len * 4 + 1);
	size_t o = 0;

	for (size_t i = 0; hex && i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			hex[o++] = (char)c;
		else
			o += (size_t)sprintf(hex + o, "\\x%02x", c);
	}
	if (hex)
		hex[o] = '\0';
	fail_msg("%s: %s%s%s%s, input (%zu bytes): \"%s\"", what, why,
		 path ? " (path \"" : "", path ? path : "", path ? "\")" : "",
		 len, hex ? hex : "?");
	free(hex);
}

/* One scan's answer against jansson's (root NULL: jansson rejects). */
static void compare_all(const char *what, const char *how, enum kw_status st,
			const struct kw_error *err,
			const struct kw_json_value *out, json_t *root,
			const char *text, size_t len)
{
	char why[160];

	if (st != KW_OK && st != KW_EINVAL) {
		snprintf(why, sizeof(why), "%s: unexpected status", how);
		report(what, why, NULL, text, len);
	}
	if ((st == KW_OK) != (root != NULL)) {
		snprintf(why, sizeof(why), "%s: %s", how,
			 st == KW_OK ? "scanner accepts, jansson rejects"
				     : "scanner rejects, jansson accepts");
		report(what, why, NULL, text, len);
	}
	if (st == KW_EINVAL && strncmp(err->msg, "invalid JSON at column ", 23))
		report(what, "error message format", NULL, text, len);
	for (size_t i = 0; root && i < CMP_NPATHS; i++) {
		const char *diff = compare(&out[i], lookup(root, cmp_paths[i]));

		if (diff) {
			snprintf(why, sizeof(why), "%s: %s", how, diff);
			json_decref(root);
			report(what, why, cmp_paths[i], text, len);
		}
	}
}

/* One input against jansson, scanned without and with the hint; fails the
 * test on any difference (the two scans must also fail at the same
 * column with the same reason). */
static void check(struct ctx *c, const char *what, const char *text, size_t len)
{
	struct kw_json_value out[CMP_NPATHS];
	const struct kw_json_value *hout = c->hint.val;
	struct kw_error err, herr;
	json_error_t jerr;
	enum kw_status st, hst;
	json_t *root;

	kw_arena_reset(&c->arena);
	err.msg[0] = herr.msg[0] = '\0';
	st = kw_json_scan(c->paths, text, len, out, &c->arena, &err);
	hst = kw_json_scan_hinted(c->paths, &c->hint, text, len, &c->arena,
				  &herr);
	root = json_loadb(text, len, 0, &jerr);
	c->checked++;
	compare_all(what, "plain", st, &err, out, root, text, len);
	compare_all(what, "hinted", hst, &herr, hout, root, text, len);
	if (st != hst || strcmp(err.msg, herr.msg))
		report(what, "hinted scan answers differently", NULL, text,
		       len);
	/* the fast paths against the general one: every field the same */
	for (size_t i = 0; st == KW_OK && i < CMP_NPATHS; i++) {
		const struct kw_json_value *a = &out[i], *b = &hout[i];

		if (a->type != b->type ||
		    (a->type != KW_JSON_ABSENT &&
		     (a->n != b->n || memcmp(a->p, b->p, a->n) != 0 ||
		      a->i != b->i || memcmp(&a->d, &b->d, sizeof(a->d)))))
			report(what, "hinted value differs from plain",
			       cmp_paths[i], text, len);
	}
	if (root)
		c->valid++;
	json_decref(root);
}

/* ------------------------------------------------------------ corpus */

struct corpus {
	char **text;
	size_t *len;
	size_t n;
};

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void corpus_load(struct corpus *cp)
{
	struct dirent **names = NULL;
	int n = scandir(CORPUS_DIR, &names, NULL, by_name);

	assert_true(n > 0);
	cp->text = calloc((size_t)n, sizeof(*cp->text));
	cp->len = calloc((size_t)n, sizeof(*cp->len));
	cp->n = 0;
	assert_non_null(cp->text);
	assert_non_null(cp->len);
	for (int i = 0; i < n; i++) {
		char path[1024];
		size_t nl = strlen(names[i]->d_name);
		FILE *fp;
		char *buf;

		if (nl < 6 || strcmp(names[i]->d_name + nl - 5, ".json")) {
			free(names[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", CORPUS_DIR,
			 names[i]->d_name);
		free(names[i]);
		fp = fopen(path, "rb");
		assert_non_null(fp);
		buf = malloc(MAX_CASE);
		assert_non_null(buf);
		cp->len[cp->n] = fread(buf, 1, MAX_CASE, fp);
		assert_false(ferror(fp));
		fclose(fp);
		cp->text[cp->n++] = buf;
	}
	free(names);
}

static void corpus_free(struct corpus *cp)
{
	for (size_t i = 0; i < cp->n; i++)
		free(cp->text[i]);
	free(cp->text);
	free(cp->len);
}

/* ------------------------------------------------------------ random */

struct buf {
	char *p;
	size_t n, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->n + n > b->cap)
		return; /* bounded: the document is simply cut short */
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static const char *const gen_keys[] = {
	"a",	     "b",
	"c",	     "s",
	"n",	     "k",
	"o",	     "p",
	"arr",	     "x-api-key",
	"headers",   "created",
	"request",   "ip",
	"u\xc3\xa9", "x\\u002dapi-key",
	"\\u0061",   "h\\u0065aders",
	"z",
};

static const char *const gen_strings[] = {
	"",
	"plain",
	"sk_test_FAKE4242",
	"\\\"q\\\"",
	"\\\\",
	"\\/",
	"\\b\\f\\n\\r\\t",
	"\\u00e9",
	"\\u20AC",
	"\\ud83d\\ude00",
	"\\uDBFF\\uDFFF",
	"\xc3\xa9",
	"\xe2\x82\xac",
	"\xf0\x9f\x98\x80",
	"\xed\x9f\xbf",
	"a b c",
	"\\u0041\\u0042",
	"\x7f",
	"\xf4\x8f\xbf\xbf",
	"2024-05-01T12:00:00Z",
};

static const char *const gen_numbers[] = {
	"0",
	"-0",
	"1",
	"-1",
	"12",
	"200",
	"0.5",
	"-0.0",
	"1e308",
	"1e-400",
	"1E+2",
	"3.14",
	"2.5e-3",
	"9223372036854775807",
	"-9223372036854775808",
	"1.7976931348623157e308",
	"4.9e-324",
	"123456789012",
	"0.1",
	"1e22",
	"123456789012345678901234567890.5",
	"-2.2250738585072014e-308",
};

static const char *const gen_ws[] = {"", "", "", " ", "\n", "\t", "\r\n ", " "};

static void gen_value(struct buf *b, int depth);

static void gen_ws_(struct buf *b)
{
	puts_(b, gen_ws[rnd_below(sizeof(gen_ws) / sizeof(gen_ws[0]))]);
}

static void gen_object(struct buf *b, int depth)
{
	size_t n = rnd_below(6);

	puts_(b, "{");
	for (size_t i = 0; i < n; i++) {
		if (i)
			puts_(b, ",");
		gen_ws_(b);
		puts_(b, "\"");
		puts_(b, gen_keys[rnd_below(sizeof(gen_keys) /
					    sizeof(gen_keys[0]))]);
		puts_(b, "\"");
		gen_ws_(b);
		puts_(b, ":");
		gen_ws_(b);
		gen_value(b, depth + 1);
		gen_ws_(b);
	}
	puts_(b, "}");
}

static void gen_value(struct buf *b, int depth)
{
	size_t kind = rnd_below(depth > 4 ? 6 : 9);

	switch (kind) {
	case 0:
		puts_(b, "null");
		break;
	case 1:
		puts_(b, rnd_below(2) ? "true" : "false");
		break;
	case 2:
	case 3:
		puts_(b, gen_numbers[rnd_below(sizeof(gen_numbers) /
					       sizeof(gen_numbers[0]))]);
		break;
	case 4:
	case 5:
		puts_(b, "\"");
		for (size_t i = rnd_below(4); i > 0; i--)
			puts_(b,
			      gen_strings[rnd_below(sizeof(gen_strings) /
						    sizeof(gen_strings[0]))]);
		puts_(b, "\"");
		break;
	case 6:
		puts_(b, "[");
		for (size_t i = rnd_below(4); i > 0; i--) {
			gen_value(b, depth + 1);
			if (i > 1)
				puts_(b, ",");
		}
		puts_(b, "]");
		break;
	default:
		gen_object(b, depth);
		break;
	}
}

static const char mutate_bytes[] = "{}[],:\"\\u0123456789-+.eEtfn \t\n\r\x00"
				   "\x80\xbf\xc3\xe2\xed\xf0\xf4\xff/bx";

/* Apply one to three random edits to b in place. */
static void mutate(struct buf *b)
{
	for (size_t k = 1 + rnd_below(3); k > 0; k--) {
		size_t at = rnd_below(b->n + 1);
		char c = mutate_bytes[rnd_below(sizeof(mutate_bytes) - 1)];

		switch (rnd_below(5)) {
		case 0: /* replace */
			if (at < b->n)
				b->p[at] = c;
			break;
		case 1: /* insert */
			if (b->n < b->cap) {
				memmove(b->p + at + 1, b->p + at, b->n - at);
				b->p[at] = c;
				b->n++;
			}
			break;
		case 2: /* delete */
			if (at < b->n) {
				memmove(b->p + at, b->p + at + 1,
					b->n - at - 1);
				b->n--;
			}
			break;
		case 3: /* truncate */
			b->n = at;
			break;
		default: /* flip one bit */
			if (at < b->n)
				b->p[at] ^= (char)(1u << rnd_below(8));
			break;
		}
	}
}

/* ------------------------------------------------------------ tests */

/* The string step the tests of this run use (main runs them per step). */
static enum kw_json_step test_step = KW_JSON_STEP_BEST;

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct kw_error err;

	if (!c ||
	    kw_json_paths_create(cmp_paths, CMP_NPATHS, &c->paths, &err)) {
		free(c);
		return -1;
	}
	if (!kw_json_paths_set_step(c->paths, test_step)) {
		kw_json_paths_destroy(c->paths);
		free(c);
		return -1;
	}
	kw_arena_init(&c->arena, 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	kw_json_paths_destroy(c->paths);
	kw_arena_destroy(&c->arena);
	free(c);
	return 0;
}

static void test_corpus(void **state)
{
	struct ctx *c = *state;
	struct corpus cp;

	corpus_load(&cp);
	/* the corpus must hold enough valid and invalid cases to mean
	 * something */
	assert_true(cp.n >= 100);
	for (size_t i = 0; i < cp.n; i++)
		check(c, "corpus", cp.text[i], cp.len[i]);
	assert_true(c->valid >= 30);
	assert_true(c->checked - c->valid >= 50);
	corpus_free(&cp);
}

static void test_corpus_mutations(void **state)
{
	struct ctx *c = *state;
	struct corpus cp;
	struct buf b = {.cap = 8192};

	b.p = malloc(b.cap);
	assert_non_null(b.p);
	corpus_load(&cp);
	rng_state = 0x6b657977617463ULL;
	for (size_t round = 0; round < 40; round++) {
		for (size_t i = 0; i < cp.n; i++) {
			if (cp.len[i] > b.cap)
				continue;
			memcpy(b.p, cp.text[i], cp.len[i]);
			b.n = cp.len[i];
			mutate(&b);
			check(c, "corpus mutation", b.p, b.n);
		}
	}
	assert_true(c->checked >= 4000);
	corpus_free(&cp);
	free(b.p);
}

static void test_generated(void **state)
{
	struct ctx *c = *state;
	struct buf b = {.cap = 16384};
	size_t valid_before;

	b.p = malloc(b.cap);
	assert_non_null(b.p);
	rng_state = 0x1234567887654321ULL;
	for (size_t i = 0; i < 3000; i++) {
		b.n = 0;
		gen_ws_(&b);
		gen_object(&b, 0);
		gen_ws_(&b);
		valid_before = c->valid;
		check(c, "generated", b.p, b.n);
		/* a cut-short document is the only way to be invalid */
		if (b.n < b.cap)
			assert_int_equal(c->valid, valid_before + 1);
		mutate(&b);
		check(c, "generated mutation", b.p, b.n);
	}
	assert_true(c->valid >= 3000);
	free(b.p);
}

/* Texts scanned one after another with one hint, as lines of a log: key
 * orders that change, optional keys left out and back, duplicates, the
 * same key escaped, keys that extend or cut a remembered one, a nested
 * object's key named like a top-level one, white space around ':', texts
 * cut inside a key, invalid texts between valid ones, arrays. */
static const char *const key_orders[][8] = {
	{"{\"a\":1,\"b\":2,\"s\":\"x\"}", "{\"s\":\"y\",\"b\":3,\"a\":4}",
	 "{\"b\":5,\"a\":6,\"s\":\"z\"}", "{\"a\":1,\"b\":2,\"s\":\"x\"}",
	 NULL},
	{"{\"a\":1,\"k\":true,\"s\":\"x\",\"n\":null}",
	 "{\"a\":1,\"s\":\"x\",\"n\":null}",
	 "{\"a\":1,\"k\":false,\"s\":\"x\",\"n\":1}", "{\"s\":\"x\"}",
	 "{\"a\":1,\"k\":true,\"s\":\"x\",\"n\":null}", NULL},
	{"{\"a\":{\"b\":1},\"a\":2}", "{\"a\":{\"b\":1},\"a\":2}",
	 "{\"a\":2,\"a\":{\"b\":{\"c\":3}}}",
	 "{\"a\":{\"b\":{\"c\":3}},\"a\":{\"x\":1}}",
	 "{\"a\":{\"b\":{\"c\":3}},\"a\":{\"x\":1}}", NULL},
	{"{\"arr\":[1],\"s\":\"x\"}", "{\"\\u0061rr\":[2],\"s\":\"y\"}",
	 "{\"ar\":1,\"s\":\"z\"}", "{\"arrr\":1,\"s\":\"w\"}",
	 "{\"arr\":3,\"s\":\"v\"}", "{\"arr\":3,\"s\":\"v\"}", NULL},
	{"{\"o\":{\"p\":1,\"a\":2},\"a\":3}",
	 "{\"a\":3,\"o\":{\"a\":2,\"p\":1}}",
	 "{\"o\":{\"o\":{\"p\":4}},\"p\":5}",
	 "{\"o\":{\"p\":1,\"a\":2},\"a\":3}", NULL},
	{"{\"a\":1,\"b\":2}", "{\"a\" :1,\"b\": 2}", "{\"a\"", "{\"a\":",
	 "{\"a\":1,\"b", "{\"a\":1,\"b\":2}", "{ \"a\":1 , \"b\":2 }", NULL},
	{"{\"a\":1,\"s\":\"x\"}", "{\"a\":1,\"s\":\"\\x\"}",
	 "{\"a\":1,\"s\":\"x\"", "{\"a\":1,\"s\":x}", "{\"a\":1,\"s\":\"x\"}",
	 NULL},
	{"[{\"a\":1}]", "{\"arr\":[{\"a\":1}],\"a\":2}", "[{\"a\":1}]",
	 "{\"a\":2}", "{\"arr\":[{\"a\":1}],\"a\":2}", NULL},
	{"{\"headers\":{\"x-api-key\":\"k1\",\"h\":1},\"created\":1}",
	 "{\"created\":2,\"headers\":{\"h\":1,\"x-api-key\":\"k2\"}}",
	 "{\"headers\":{\"x-api-key\":\"k3\"},\"headers\":{\"y\":1}}",
	 "{\"headers\":{\"x-api-key\":\"k3\"},\"headers\":{\"y\":1}}", NULL},
};

static void test_key_orders(void **state)
{
	struct ctx *c = *state;
	struct buf b = {.cap = 8192};

	for (size_t i = 0; i < sizeof(key_orders) / sizeof(*key_orders); i++) {
		kw_json_hint_reset(&c->hint);
		for (size_t k = 0; key_orders[i][k]; k++)
			check(c, "key order", key_orders[i][k],
			      strlen(key_orders[i][k]));
	}
	/* the hint learns: the second scan of a text predicts every key */
	kw_json_hint_reset(&c->hint);
	check(c, "key order", "{\"a\":1,\"b\":2}", 13);
	assert_int_equal(c->hint.n, 2);
	assert_int_equal(c->hint.key[0].len, 3);
	assert_memory_equal(c->hint.key[1].pat, "b\":", 3);
	/* an object of scalars sends the next text down the flat path, a
	 * nested object does not */
	assert_true(c->hint.flat);
	check(c, "key order", "{\"a\":{\"b\":1},\"b\":2}", 19);
	assert_false(c->hint.flat);
	check(c, "key order", "{\"a\":1,\"b\":2}", 13);
	assert_true(c->hint.flat);
	/* a scan rewrites only the slots it finds and clears those the one
	 * before set and it did not: a key left out is ABSENT again, on
	 * the flat path and after the general one (check compares every
	 * slot with the plain scan's) */
	kw_json_hint_reset(&c->hint);
	check(c, "stale slot", "{\"a\":1,\"k\":true,\"s\":\"x\"}", 24);
	assert_int_equal(c->hint.set, (UINT64_C(1) << CMP_NPATHS) - 1);
	check(c, "stale slot", "{\"a\":1,\"k\":true,\"s\":\"x\"}", 24);
	assert_int_equal(c->hint.set, 1 << 0 | 1 << 4 | 1 << 6);
	check(c, "stale slot", "{\"a\":2,\"s\":\"y\"}", 15);
	assert_true(c->hint.flat);
	assert_int_equal(c->hint.set, 1 << 0 | 1 << 4);
	assert_int_equal(c->hint.val[6].type, KW_JSON_ABSENT);
	check(c, "stale slot", "{\"k\":false,\"o\":{\"p\":1}}", 24);
	check(c, "stale slot", "{\"a\":3}", 7);
	assert_int_equal(c->hint.set, 1 << 0);
	for (size_t i = 1; i < CMP_NPATHS; i++)
		assert_int_equal(c->hint.val[i].type, KW_JSON_ABSENT);
	check(c, "stale slot", "{\"a\":3", 6);
	assert_int_equal(c->hint.set, 0);
	assert_int_equal(c->hint.val[0].type, KW_JSON_ABSENT);
	/* an optional key that comes and goes is written in, not over the
	 * keys after it: the order converges on all of them */
	kw_json_hint_reset(&c->hint);
	for (int i = 0; i < 4; i++) {
		check(c, "optional key", "{\"a\":1,\"b\":2,\"s\":\"x\"}", 21);
		check(c, "optional key",
		      "{\"a\":1,\"b\":2,\"o\":{},\"s\":\"x\"}", 28);
		check(c, "optional key",
		      "{\"a\":1,\"k\":0,\"b\":2,\"s\":\"x\"}", 27);
	}
	assert_int_equal(c->hint.n, 5);
	assert_memory_equal(c->hint.key[0].pat, "a\":", 3);
	assert_memory_equal(c->hint.key[1].pat, "k\":", 3);
	assert_memory_equal(c->hint.key[2].pat, "b\":", 3);
	assert_memory_equal(c->hint.key[3].pat, "o\":", 3);
	assert_memory_equal(c->hint.key[4].pat, "s\":", 3);
	/* past its bounds (more keys than it holds, keys longer than it
	 * remembers) it stays right */
	b.p = malloc(b.cap);
	assert_non_null(b.p);
	rng_state = 0x6f72646572ULL;
	for (int round = 0; round < 40; round++) {
		b.n = 0;
		puts_(&b, "{");
		for (int k = 0; k < 100; k++) {
			char key[64];

			snprintf(
				key, sizeof(key), "%s\"%s%d\":%d", k ? "," : "",
				rnd_below(2) ? "a_key_longer_than_thirty_bytes_"
					     : "k",
				(int)rnd_below(120), k);
			puts_(&b, key);
			if (rnd_below(10) == 0)
				puts_(&b, ",\"a\":{\"b\":1},\"s\":\"x\"");
		}
		puts_(&b, "}");
		check(c, "many keys", b.p, b.n);
		check(c, "many keys", b.p, b.n);
		assert_true(c->hint.n <= KW_JSON_HINT_KEYS);
	}
	free(b.p);
}

/* The flat path's keys: one of every length from 1 to 20 bytes among
 * keys on the paths, with string, number and literal values, the text
 * ending at once or going on, so that each key is confirmed by the
 * one-comparison check (its quotes and ':' in 16 bytes: keys of at most
 * 12 bytes), the byte-for-byte one (longer keys, and keys near the end)
 * or not at all (a changed byte anywhere in it). */
static void test_flat_keys(void **state)
{
	static const char *const values[] = {"\"v\"", "12", "true", "\"\\n\""};
	struct ctx *c = *state;
	char text[256], key[32];

	for (size_t len = 1; len <= 20; len++) {
		for (size_t v = 0; v < 4; v++) {
			for (int tail = 0; tail < 2; tail++) {
				int n;

				memset(key, 'q', len);
				key[len] = '\0';
				n = snprintf(
					text, sizeof(text),
					"{\"s\":\"x\",\"%s\":%s,"
					"\"created\":%s%s}",
					key, values[v], values[v],
					tail ? ",\"k\":\"abcdefghijklmnopq\""
					     : "");
				kw_json_hint_reset(&c->hint);
				check(c, "flat key", text, (size_t)n);
				check(c, "flat key", text, (size_t)n);
				assert_true(c->hint.flat);
				/* "s" fits the one comparison, "created" too;
				 * the key of len bytes only when len <= 12 */
				assert_int_equal(c->hint.key[0].flat, 4);
				assert_int_equal(c->hint.key[1].flat,
						 len <= 12 ? len + 3 : 0);
				assert_int_equal(c->hint.key[2].flat, 10);
				assert_int_equal(c->hint.key[0].slot, 4);
				assert_int_equal(c->hint.key[2].slot, 14);
				/* a changed byte in each place of a key */
				for (size_t at = 0; at < len; at++) {
					char *k = strstr(text, key);

					k[at] = 'r';
					check(c, "flat key changed", text,
					      (size_t)n);
					k[at] = 'q';
				}
				strstr(text, "created")[1] = 'x';
				check(c, "flat key changed", text, (size_t)n);
			}
		}
	}
}

/* Numbers on the flat path (eight digits at a time, the rest one by one,
 * Clinger's exact division) against jansson and the general parser: every
 * length of integer part and fraction around the fast path's limits, signs,
 * leading zeros, exponents, and the bytes that end a number. */
static void test_flat_numbers(void **state)
{
	static const char *const tails[] = {"", "e1", "E-2", ".", "x", " "};
	struct ctx *c = *state;
	char text[128], num[64];

	rng_state = 0x6e756d62657273ULL;
	for (int round = 0; round < 20; round++) {
		for (size_t il = 1; il <= 20; il++) {
			for (size_t fl = 0; fl <= 18; fl++) {
				size_t o = 0;

				if (rnd_below(3) == 0)
					num[o++] = '-';
				for (size_t i = 0; i < il; i++)
					num[o++] = (char)('0' + rnd_below(10));
				if (fl) {
					num[o++] = '.';
					for (size_t i = 0; i < fl; i++)
						num[o++] =
							(char)('0' +
							       rnd_below(10));
				}
				num[o] = '\0';
				snprintf(text, sizeof(text),
					 "{\"a\":%s%s,\"b\":%s}", num,
					 tails[rnd_below(6) ? 0 : rnd_below(6)],
					 num);
				/* twice: the second is on the flat path */
				check(c, "flat number", text, strlen(text));
				check(c, "flat number", text, strlen(text));
			}
		}
	}
	/* literals, and the NUL jansson drops after a number or literal */
	for (int i = 0; i < 2; i++) {
		static const char lits[] =
			"{\"a\":true,\"k\":false,\"n\":null}";
		static const char nul[] =
			"{\"a\":true\0,\"k\":false\0,\"n\":1\0,\"s\":1.5\0}";
		static const char cut[] = "{\"a\":tru,\"k\":fals}";

		check(c, "flat literal", lits, sizeof(lits) - 1);
		check(c, "flat literal", nul, sizeof(nul) - 1);
		check(c, "flat literal", cut, sizeof(cut) - 1);
	}
}

/* Escaped strings on the flat path are unescaped only once the text is
 * known valid, in text order: an arena too small for them fails the hinted
 * scan exactly as it fails the plain one, and a text the flat path gives
 * up on late allocates nothing twice. */
static void test_flat_arena(void **state)
{
	static const char *const texts[] = {
		"{\"s\":\"\\u00e9\\u00e9\\u00e9\",\"a\":1,\"n\":\"\\n\"}",
		"{\"s\":\"\\u00e9\\u00e9\\u00e9\",\"a\":1,\"n\":\"\\n\"}",
		"{\"s\":\"\\u00e9\\u00e9\\u00e9\",\"a\":1,\"o\":{\"p\":2}}",
		"{\"s\":\"\\u00e9\\u00e9\\u00e9\",\"s\":\"\\t\",\"n\":\"x\"}",
	};
	struct ctx *c = *state;

	for (size_t limit = 16; limit <= 64; limit += 16) {
		kw_json_hint_reset(&c->hint);
		for (size_t i = 0; i < sizeof(texts) / sizeof(*texts); i++) {
			struct kw_json_value out[CMP_NPATHS];
			struct kw_error err = {0}, herr = {0};
			struct kw_arena a, ha;
			enum kw_status st, hst;

			kw_arena_init(&a, limit);
			kw_arena_init(&ha, limit);
			st = kw_json_scan(c->paths, texts[i], strlen(texts[i]),
					  out, &a, &err);
			hst = kw_json_scan_hinted(c->paths, &c->hint, texts[i],
						  strlen(texts[i]), &ha, &herr);
			assert_int_equal(st, hst);
			assert_string_equal(err.msg, herr.msg);
			assert_int_equal(a.used, ha.used);
			kw_arena_destroy(&a);
			kw_arena_destroy(&ha);
		}
	}
}

/* Strings of every length up to past two AVX2 steps, starting at every
 * offset of a step, with each kind of byte the string loop must stop at
 * (or must not: DEL and a byte just below or above the ones it looks for)
 * at every place in them, in a text that ends right after the string or
 * goes on: the widths must find the same first byte, and jansson agrees. */
static void test_string_steps(void **state)
{
	/* an escape, UTF-8, a control byte, and the bytes either side of
	 * '"', '\\', 0x20 and 0x80 that need no look */
	static const char *const specials[] = {
		"\\n", "\xc3\xa9", "\x1f", "\x7f", "\xff", "!", "#", "[", "]",
	};
	struct ctx *c = *state;
	char text[256], body[128];

	for (size_t pad = 0; pad < 2; pad++) {
		for (size_t len = 0; len <= 70; len++) {
			for (size_t sp = 0;
			     sp < sizeof(specials) / sizeof(*specials); sp++) {
				for (size_t at = 0; at <= len;
				     at += 1 + at / 4) {
					size_t sl = strlen(specials[sp]);
					int n;

					memset(body, 'x', len);
					memcpy(body + at, specials[sp], sl);
					memset(body + at + sl, 'y', len - at);
					body[len + sl] = '\0';
					n = snprintf(text, sizeof(text),
						     "{\"%.*s\":\"%s\"%s}",
						     (int)pad + 1, "abcd", body,
						     pad % 2 ? ",\"s\":1" : "");
					check(c, "string step", text,
					      (size_t)n);
					/* cut before the closing quote */
					check(c, "string step", text,
					      (size_t)n - (pad % 2 ? 8 : 2));
				}
			}
		}
	}
}

/* The widths this machine has are offered, the others refused. */
static void test_step_choice(void **state)
{
	struct ctx *c = *state;

	assert_true(kw_json_paths_set_step(c->paths, KW_JSON_STEP_8));
	assert_true(kw_json_paths_set_step(c->paths, KW_JSON_STEP_BEST));
#ifdef __SSE2__
	assert_true(kw_json_paths_set_step(c->paths, KW_JSON_STEP_16));
#else
	assert_false(kw_json_paths_set_step(c->paths, KW_JSON_STEP_16));
#endif
#if defined(__x86_64__) && defined(__GNUC__)
	assert_int_equal(kw_json_paths_set_step(c->paths, KW_JSON_STEP_32),
			 __builtin_cpu_supports("avx2") != 0);
#else
	assert_false(kw_json_paths_set_step(c->paths, KW_JSON_STEP_32));
#endif
}

int main(void)
{
	static const enum kw_json_step steps[] = {
		KW_JSON_STEP_8,
		KW_JSON_STEP_16,
		KW_JSON_STEP_32,
	};
	static const char *const names[] = {"step 8", "step 16", "step 32"};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_step_choice, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_string_steps, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_corpus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corpus_mutations, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_generated, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_key_orders, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_flat_keys, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_flat_numbers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_flat_arena, setup,
						teardown),
	};
	/* what each width of the string step is run on: the strings */
	const struct CMUnitTest per_step[] = {
		cmocka_unit_test_setup_teardown(test_string_steps, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_corpus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generated, setup,
						teardown),
	};
	int rc;

	rc = cmocka_run_group_tests_name("best step", tests, NULL, NULL);
	for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
		struct kw_json_paths *probe = NULL;
		struct kw_error err;
		bool have;

		if (kw_json_paths_create(cmp_paths, 1, &probe, &err))
			return 1;
		have = kw_json_paths_set_step(probe, steps[i]);
		kw_json_paths_destroy(probe);
		if (!have) {
			printf("%s: not on this machine\n", names[i]);
			continue;
		}
		test_step = steps[i];
		rc |= cmocka_run_group_tests_name(names[i], per_step, NULL,
						  NULL);
	}
	return rc;
}
