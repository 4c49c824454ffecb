/*
 * test_json_scan.c - unit tests of the JSON field scanner: path compilation,
 * the value of every type at top-level and nested paths, escapes and
 * zero-copy strings, duplicate keys, and the exact error message (column and
 * reason) for each kind of invalid input. The agreement with jansson on
 * whole corpora is test_json_diff.c's job.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/json_scan.h"

static const char *const line_paths[] = {
	"created", "method",   "status", "headers.x-api-key",
	"latency", "headers",  "tags",	 "ok",
	"gone",	   "meta.a.b", "meta.a", "missing.deep",
};

enum {
	P_CREATED,
	P_METHOD,
	P_STATUS,
	P_KEY,
	P_LATENCY,
	P_HEADERS,
	P_TAGS,
	P_OK,
	P_GONE,
	P_META_AB,
	P_META_A,
	P_MISSING,
	P_COUNT
};

struct fixture {
	struct kw_json_paths *paths;
	struct kw_arena arena;
	struct kw_json_value out[KW_JSON_MAX_PATHS];
	struct kw_error err;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (kw_json_paths_create(line_paths, P_COUNT, &f->paths, &f->err)) {
		free(f);
		return -1;
	}
	kw_arena_init(&f->arena, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kw_json_paths_destroy(f->paths);
	kw_arena_destroy(&f->arena);
	free(f);
	return 0;
}

static enum kw_status scan(struct fixture *f, const char *text)
{
	kw_arena_reset(&f->arena);
	kw_error_clear(&f->err);
	return kw_json_scan(f->paths, text, strlen(text), f->out, &f->arena,
			    &f->err);
}

static void assert_str(const struct kw_json_value *v, const char *want)
{
	assert_int_equal(v->type, KW_JSON_STRING);
	assert_int_equal(v->n, strlen(want));
	assert_memory_equal(v->p, want, v->n);
}

/* ------------------------------------------------------------ paths */

static void test_paths_create(void **state)
{
	struct fixture *f = *state;
	struct kw_json_paths *p = NULL;
	const char *bad_empty[] = {"a", "a..b"};
	const char *bad_lead[] = {".a"};
	const char *bad_trail[] = {"a."};
	const char *none[] = {NULL};
	const char *many[KW_JSON_MAX_PATHS + 1];
	char seg[300];

	assert_int_equal(kw_json_paths_count(f->paths), P_COUNT);
	assert_int_equal(kw_json_paths_count(NULL), 0);
	assert_int_equal(kw_json_paths_create(bad_empty, 2, &p, &f->err),
			 KW_EINVAL);
	assert_null(p);
	assert_string_equal(f->err.msg, "json path 1: empty segment");
	assert_int_equal(kw_json_paths_create(bad_lead, 1, &p, &f->err),
			 KW_EINVAL);
	assert_string_equal(f->err.msg, "json path 0: empty segment");
	assert_int_equal(kw_json_paths_create(bad_trail, 1, &p, &f->err),
			 KW_EINVAL);
	assert_string_equal(f->err.msg, "json path 0: empty segment");
	assert_int_equal(kw_json_paths_create(none, 1, &p, &f->err), KW_EINVAL);
	assert_string_equal(f->err.msg, "json path 0: empty or too long");
	for (size_t i = 0; i <= KW_JSON_MAX_PATHS; i++)
		many[i] = "a";
	assert_int_equal(
		kw_json_paths_create(many, KW_JSON_MAX_PATHS + 1, &p, &f->err),
		KW_EINVAL);
	assert_string_equal(f->err.msg, "too many json paths (65 > 64)");
	memset(seg, 'x', 256);
	seg[256] = '\0';
	many[0] = seg;
	assert_int_equal(kw_json_paths_create(many, 1, &p, &f->err), KW_EINVAL);
	assert_string_equal(f->err.msg, "json path 0: too long");
	assert_int_equal(kw_json_paths_create(many + 1, 0, &p, &f->err), KW_OK);
	assert_int_equal(kw_json_paths_count(p), 0);
	kw_json_paths_destroy(p);
	kw_json_paths_destroy(NULL);
}

/* ------------------------------------------------------------ values */

static const char typical[] =
	"{\"created\":\"2024-05-01T12:00:00Z\",\"method\":\"POST\","
	"\"status\":201,\"latency\":12.5e-1,\"headers\":{\"x-api-key\":"
	"\"sk_test_FAKE4242\",\"accept\":\"*/*\"},\"tags\":[1,{\"a\":2}],"
	"\"ok\":true,\"gone\":null,\"meta\":{\"a\":{\"b\":false}}}";

static void test_typical_line(void **state)
{
	struct fixture *f = *state;
	const char *hdr;

	assert_int_equal(scan(f, typical), KW_OK);
	assert_str(&f->out[P_CREATED], "2024-05-01T12:00:00Z");
	/* zero-copy: the string points into the input */
	assert_ptr_equal(f->out[P_CREATED].p, typical + 12);
	assert_str(&f->out[P_METHOD], "POST");
	assert_int_equal(f->out[P_STATUS].type, KW_JSON_INTEGER);
	assert_int_equal(f->out[P_STATUS].i, 201);
	assert_true(f->out[P_STATUS].d == 201.0);
	assert_int_equal(f->out[P_STATUS].n, 3);
	assert_memory_equal(f->out[P_STATUS].p, "201", 3);
	assert_int_equal(f->out[P_LATENCY].type, KW_JSON_REAL);
	assert_true(f->out[P_LATENCY].d == 1.25);
	assert_int_equal(f->out[P_LATENCY].n, 7);
	assert_memory_equal(f->out[P_LATENCY].p, "12.5e-1", 7);
	assert_str(&f->out[P_KEY], "sk_test_FAKE4242");
	hdr = "{\"x-api-key\":\"sk_test_FAKE4242\",\"accept\":\"*/*\"}";
	assert_int_equal(f->out[P_HEADERS].type, KW_JSON_OBJECT);
	assert_int_equal(f->out[P_HEADERS].n, strlen(hdr));
	assert_memory_equal(f->out[P_HEADERS].p, hdr, strlen(hdr));
	assert_int_equal(f->out[P_TAGS].type, KW_JSON_ARRAY);
	assert_int_equal(f->out[P_TAGS].n, 11);
	assert_memory_equal(f->out[P_TAGS].p, "[1,{\"a\":2}]", 11);
	assert_int_equal(f->out[P_OK].type, KW_JSON_TRUE);
	assert_int_equal(f->out[P_GONE].type, KW_JSON_NULL);
	assert_int_equal(f->out[P_META_AB].type, KW_JSON_FALSE);
	assert_int_equal(f->out[P_META_A].type, KW_JSON_OBJECT);
	assert_int_equal(f->out[P_META_A].n, 11);
	assert_int_equal(f->out[P_MISSING].type, KW_JSON_ABSENT);
	/* nothing was unescaped, so nothing was allocated */
	assert_int_equal(f->arena.used, 0);
}

static void test_numbers(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(scan(f, "{\"status\":-0}"), KW_OK);
	assert_int_equal(f->out[P_STATUS].type, KW_JSON_INTEGER);
	assert_int_equal(f->out[P_STATUS].i, 0);
	assert_int_equal(scan(f, "{\"status\":9223372036854775807}"), KW_OK);
	assert_true(f->out[P_STATUS].i == INT64_MAX);
	assert_true(f->out[P_STATUS].d == 9223372036854775807.0);
	assert_int_equal(scan(f, "{\"status\":-9223372036854775808}"), KW_OK);
	assert_true(f->out[P_STATUS].i == INT64_MIN);
	assert_int_equal(scan(f, "{\"status\":-0.0}"), KW_OK);
	assert_int_equal(f->out[P_STATUS].type, KW_JSON_REAL);
	assert_true(f->out[P_STATUS].d == 0.0);
	assert_true(signbit(f->out[P_STATUS].d));
	assert_int_equal(scan(f, "{\"status\":1e308}"), KW_OK);
	assert_true(f->out[P_STATUS].d == 1e308);
	assert_int_equal(scan(f, "{\"status\":1.7976931348623158e308}"), KW_OK);
	assert_true(f->out[P_STATUS].d == 1.7976931348623157e308);
	assert_int_equal(scan(f, "{\"status\":0.1e-400}"), KW_OK);
	assert_true(f->out[P_STATUS].d == 0.0);
	assert_int_equal(scan(f, "{\"status\":4.9E-324}"), KW_OK);
	assert_true(f->out[P_STATUS].d == 4.9e-324);
	assert_int_equal(scan(f, "{\"status\":1E+2}"), KW_OK);
	assert_true(f->out[P_STATUS].d == 100.0);
	assert_int_equal(f->out[P_STATUS].type, KW_JSON_REAL);
	/* a number off the paths is still range checked */
	assert_int_equal(scan(f, "{\"x\":[1e309]}"), KW_EINVAL);
	assert_string_equal(f->err.msg,
			    "invalid JSON at column 7: real number overflow");
}

static void test_escapes(void **state)
{
	struct fixture *f = *state;
	const char *text =
		"{\"method\":\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\","
		"\"created\":\"\\u00e9\\u20AC\\ud83d\\ude00\\u0041\"}";

	assert_int_equal(scan(f, text), KW_OK);
	assert_str(&f->out[P_METHOD], "a\"b\\c/d\be\ff\ng\rh\ti");
	assert_str(&f->out[P_CREATED], "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
				       "A");
	/* unescaped strings live in the arena and are NUL-terminated */
	assert_true(f->arena.used > 0);
	assert_int_equal(f->out[P_CREATED].p[f->out[P_CREATED].n], '\0');
	/* an escaped key still matches its path */
	assert_int_equal(scan(f, "{\"h\\u0065aders\":{\"x\\u002dapi-key\":"
				 "\"k\\u0031\"}}"),
			 KW_OK);
	assert_str(&f->out[P_KEY], "k1");
	/* raw UTF-8 passes through untouched */
	assert_int_equal(scan(f, "{\"method\":\"\xf4\x8f\xbf\xbf\xc2\x80\"}"),
			 KW_OK);
	assert_str(&f->out[P_METHOD], "\xf4\x8f\xbf\xbf\xc2\x80");
}

static void test_duplicates_and_shapes(void **state)
{
	struct fixture *f = *state;

	/* last wins, also for a whole object on the path */
	assert_int_equal(scan(f, "{\"method\":\"GET\",\"method\":\"PUT\"}"),
			 KW_OK);
	assert_str(&f->out[P_METHOD], "PUT");
	assert_int_equal(scan(f, "{\"headers\":{\"x-api-key\":\"k1\"},"
				 "\"headers\":{\"other\":1}}"),
			 KW_OK);
	assert_int_equal(f->out[P_KEY].type, KW_JSON_ABSENT);
	assert_int_equal(f->out[P_HEADERS].type, KW_JSON_OBJECT);
	assert_int_equal(f->out[P_HEADERS].n, 11);
	assert_int_equal(scan(f, "{\"meta\":{\"a\":{\"b\":1}},\"meta\":{\"a\":"
				 "{\"b\":2},\"a\":{\"c\":3}}}"),
			 KW_OK);
	assert_int_equal(f->out[P_META_AB].type, KW_JSON_ABSENT);
	assert_memory_equal(f->out[P_META_A].p, "{\"c\":3}", 7);
	/* a step that is not an object: absent */
	assert_int_equal(scan(f, "{\"headers\":\"x-api-key\",\"meta\":[{\"a\":"
				 "{\"b\":1}}]}"),
			 KW_OK);
	assert_int_equal(f->out[P_KEY].type, KW_JSON_ABSENT);
	assert_str(&f->out[P_HEADERS], "x-api-key");
	assert_int_equal(f->out[P_META_AB].type, KW_JSON_ABSENT);
	/* the same key deeper down or inside an array is not the path */
	assert_int_equal(scan(f, "{\"x\":{\"method\":\"GET\"},\"tags\":[{"
				 "\"method\":1}]}"),
			 KW_OK);
	assert_int_equal(f->out[P_METHOD].type, KW_JSON_ABSENT);
	/* a top-level array has no paths */
	assert_int_equal(scan(f, " [{\"method\":\"GET\"}] "), KW_OK);
	assert_int_equal(f->out[P_METHOD].type, KW_JSON_ABSENT);
}

static void test_nul_after_number(void **state)
{
	struct fixture *f = *state;
	const char text[] = "{\"status\":200\0,\"ok\":true\0}";

	/* jansson's lexer drops a NUL right after a number or literal */
	assert_int_equal(kw_json_scan(f->paths, text, sizeof(text) - 1, f->out,
				      &f->arena, &f->err),
			 KW_OK);
	assert_int_equal(f->out[P_STATUS].i, 200);
	assert_int_equal(f->out[P_STATUS].n, 3);
	assert_int_equal(f->out[P_OK].type, KW_JSON_TRUE);
	assert_int_equal(
		kw_json_scan(f->paths, "{}\0", 3, f->out, &f->arena, &f->err),
		KW_EINVAL);
	assert_string_equal(f->err.msg,
			    "invalid JSON at column 3: end of input expected");
	assert_int_equal(kw_json_scan(f->paths, "{\"ok\":\"a\0\"}", 11, f->out,
				      &f->arena, &f->err),
			 KW_EINVAL);
	assert_string_equal(
		f->err.msg,
		"invalid JSON at column 9: control character in string");
}

/* ------------------------------------------------------------ errors */

struct bad {
	const char *text;
	const char *msg;
};

static const struct bad bad_cases[] = {
	{"", "invalid JSON at column 1: expected '{' or '['"},
	{"  1", "invalid JSON at column 3: expected '{' or '['"},
	{"\"a\"", "invalid JSON at column 1: expected '{' or '['"},
	{"{", "invalid JSON at column 2: unexpected end of input"},
	{"{\"a\"", "invalid JSON at column 5: unexpected end of input"},
	{"{\"a\" 1}", "invalid JSON at column 6: expected ':'"},
	{"{\"a\":}", "invalid JSON at column 6: unexpected character"},
	{"{\"a\":1,}", "invalid JSON at column 8: expected string key"},
	{"{1:2}", "invalid JSON at column 2: expected string key"},
	{"{\"a\":1 \"b\":2}", "invalid JSON at column 8: expected ',' or '}'"},
	{"[1 2]", "invalid JSON at column 4: expected ',' or ']'"},
	{"[1,]", "invalid JSON at column 4: unexpected character"},
	{"[1}", "invalid JSON at column 3: expected ',' or ']'"},
	{"[1", "invalid JSON at column 3: unexpected end of input"},
	{"{} x", "invalid JSON at column 4: end of input expected"},
	{"[tru]", "invalid JSON at column 2: unexpected character"},
	{"[01]", "invalid JSON at column 2: invalid number"},
	{"[1.]", "invalid JSON at column 2: invalid number"},
	{"[-]", "invalid JSON at column 2: invalid number"},
	{"[1e+]", "invalid JSON at column 2: invalid number"},
	{"[.5]", "invalid JSON at column 2: unexpected character"},
	{"[+1]", "invalid JSON at column 2: unexpected character"},
	{"[9223372036854775808]",
	 "invalid JSON at column 2: integer out of range"},
	{"[-9223372036854775809]",
	 "invalid JSON at column 2: integer out of range"},
	{"[1e309]", "invalid JSON at column 2: real number overflow"},
	{"[1.7976931348623159e308]",
	 "invalid JSON at column 2: real number overflow"},
	{"[\"abc", "invalid JSON at column 6: unterminated string"},
	{"[\"abc\\", "invalid JSON at column 7: unterminated string"},
	{"[\"a\tb\"]", "invalid JSON at column 4: control character in string"},
	{"[\"\\x\"]", "invalid JSON at column 3: invalid escape"},
	{"[\"\\u12g4\"]", "invalid JSON at column 3: invalid \\u escape"},
	{"[\"\\u12\"]", "invalid JSON at column 3: invalid \\u escape"},
	{"[\"\\u0000\"]", "invalid JSON at column 3: \\u0000 is not allowed"},
	{"{\"\\u0000\":1}", "invalid JSON at column 3: \\u0000 is not allowed"},
	{"[\"\\ud800\"]", "invalid JSON at column 3: invalid surrogate escape"},
	{"[\"\\udc00\"]", "invalid JSON at column 3: invalid surrogate escape"},
	{"[\"\\ud800\\u0041\"]",
	 "invalid JSON at column 3: invalid surrogate escape"},
	{"[\"\\ud800\\uzzzz\"]",
	 "invalid JSON at column 9: invalid \\u escape"},
	{"[\"\xc0\xaf\"]", "invalid JSON at column 3: invalid UTF-8"},
	{"[\"\xed\xa0\x80\"]", "invalid JSON at column 3: invalid UTF-8"},
	{"[\"\xf4\x90\x80\x80\"]", "invalid JSON at column 3: invalid UTF-8"},
	{"[\"ok \xe2\x82\"]", "invalid JSON at column 6: invalid UTF-8"},
	{"[\xc3\xa9]", "invalid JSON at column 2: unexpected character"},
};

static void test_errors(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		f->out[0].type = KW_JSON_STRING;
		assert_int_equal(scan(f, bad_cases[i].text), KW_EINVAL);
		if (strcmp(f->err.msg, bad_cases[i].msg) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i,
				 f->err.msg, bad_cases[i].msg);
		assert_int_equal(f->err.status, KW_EINVAL);
		/* on failure every output is absent */
		assert_int_equal(f->out[0].type, KW_JSON_ABSENT);
	}
}

static char *nested(size_t depth, const char *inner)
{
	size_t n = strlen(inner);
	char *s = malloc(2 * depth + n + 1);

	assert_non_null(s);
	memset(s, '[', depth);
	memcpy(s + depth, inner, n);
	memset(s + depth + n, ']', depth);
	s[2 * depth + n] = '\0';
	return s;
}

static void test_depth(void **state)
{
	struct fixture *f = *state;
	char *s = NULL;

	s = nested(2048, "");
	assert_int_equal(scan(f, s), KW_OK);
	free(s);
	/* a scalar counts as a level, as in jansson */
	s = nested(2047, "1");
	assert_int_equal(scan(f, s), KW_OK);
	free(s);
	s = nested(2048, "1");
	assert_int_equal(scan(f, s), KW_EINVAL);
	assert_string_equal(
		f->err.msg,
		"invalid JSON at column 2049: maximum depth exceeded");
	free(s);
	s = malloc(100001);
	assert_non_null(s);
	memset(s, '[', 100000);
	s[100000] = '\0';
	assert_int_equal(scan(f, s), KW_EINVAL);
	assert_string_equal(
		f->err.msg,
		"invalid JSON at column 2049: maximum depth exceeded");
	free(s);
}

static void test_arena_exhausted(void **state)
{
	struct fixture *f = *state;
	struct kw_arena small;
	char text[200];

	(void)f;
	kw_arena_init(&small, 32);
	snprintf(text, sizeof(text), "{\"method\":\"%s\\n\"}",
		 "0123456789012345678901234567890123456789");
	assert_int_equal(kw_json_scan(f->paths, text, strlen(text), f->out,
				      &small, &f->err),
			 KW_ENOMEM);
	assert_string_equal(f->err.msg, "JSON scan: arena exhausted");
	kw_arena_destroy(&small);
}

static void test_many_paths(void **state)
{
	struct fixture *f = *state;
	struct kw_json_paths *p = NULL;
	const char *names[KW_JSON_MAX_PATHS];
	char store[KW_JSON_MAX_PATHS][16];
	char text[4096];
	size_t o = 0;

	/* 62 distinct paths, half nested, plus one path given twice */
	for (int i = 0; i < 62; i++) {
		snprintf(store[i], sizeof(store[i]), i % 2 ? "k%d" : "o.k%d",
			 i);
		names[i] = store[i];
	}
	names[62] = "k1";
	names[63] = "o";
	assert_int_equal(
		kw_json_paths_create(names, KW_JSON_MAX_PATHS, &p, &f->err),
		KW_OK);
	o += (size_t)snprintf(text + o, sizeof(text) - o, "{\"o\":{");
	for (int i = 0; i < 62; i += 2)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
				      "%s\"k%d\":%d", i ? "," : "", i, i);
	o += (size_t)snprintf(text + o, sizeof(text) - o, "}");
	for (int i = 1; i < 62; i += 2)
		o += (size_t)snprintf(text + o, sizeof(text) - o, ",\"k%d\":%d",
				      i, i);
	snprintf(text + o, sizeof(text) - o, "}");
	assert_int_equal(
		kw_json_scan(p, text, strlen(text), f->out, &f->arena, &f->err),
		KW_OK);
	for (int i = 0; i < 62; i++) {
		assert_int_equal(f->out[i].type, KW_JSON_INTEGER);
		assert_int_equal(f->out[i].i, i);
	}
	assert_int_equal(f->out[62].i, 1);
	assert_int_equal(f->out[63].type, KW_JSON_OBJECT);
	kw_json_paths_destroy(p);
}

static void test_deepest_path(void **state)
{
	struct fixture *f = *state;
	struct kw_json_paths *p = NULL;
	const char *deep[] = {"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p"};
	const char *too_deep[] = {"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q"};
	const char *text = "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{"
			   "\"g\":{\"h\":{\"i\":{\"j\":{\"k\":{\"l\":{"
			   "\"m\":{\"n\":{\"o\":{\"p\":[[{\"q\":1}]]"
			   "}}}}}}}}}}}}}}}}";

	/* 16 segments is the most a path may have */
	assert_int_equal(kw_json_paths_create(too_deep, 1, &p, &f->err),
			 KW_EINVAL);
	assert_string_equal(f->err.msg, "json path 0: too long");
	assert_int_equal(kw_json_paths_create(deep, 1, &p, &f->err), KW_OK);
	assert_int_equal(
		kw_json_scan(p, text, strlen(text), f->out, &f->arena, &f->err),
		KW_OK);
	assert_int_equal(f->out[0].type, KW_JSON_ARRAY);
	assert_int_equal(f->out[0].n, 11);
	assert_memory_equal(f->out[0].p, "[[{\"q\":1}]]", 11);
	kw_json_paths_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_paths_create, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_typical_line, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicates_and_shapes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_after_number, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arena_exhausted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_paths, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deepest_path, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
