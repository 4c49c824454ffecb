/*
 * fuzz_json_scan.c - libFuzzer target: kw_json_scan against jansson.
 *
 * Every input is given to both kw_json_scan and json_loadb(..., 0, ...);
 * any disagreement (validity, or the type or value at one of a fixed set of
 * paths) prints the case and abort()s. The paths use the keys of the corpus
 * in tests/unit/json_corpus so that mutations keep hitting them.
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined
 *   ninja -C build-fuzz tests/fuzz/fuzz_json_scan
 *   build-fuzz/tests/fuzz/fuzz_json_scan -max_total_time=600 \
 *           CORPUS_DIR tests/unit/json_corpus
 *   build-fuzz/tests/fuzz/fuzz_json_scan tests/unit/json_corpus/\*.json
 *
 * The last form runs the corpus files once, as a regression.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/json_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_paths[] = {
	"a",	   "b",		"a.b",	     "a.b.c",
	"s",	   "n",		"k",	     "o",
	"o.p",	   "arr",	"x-api-key", "headers.x-api-key",
	"headers", "u\xc3\xa9", "created",   "request.ip",
};
#define NPATHS (sizeof(fuzz_paths) / sizeof(fuzz_paths[0]))

static void die(const char *why, size_t path, const uint8_t *data, size_t size)
{
	fprintf(stderr, "json_scan disagrees with jansson: %s (path %zu)\n",
		why, path);
	for (size_t i = 0; i < size; i++)
		fprintf(stderr, "\\x%02x", data[i]);
	fprintf(stderr, "\n");
	abort();
}

/* jansson's value at a dotted path, or NULL. */
static json_t *lookup(json_t *root, const char *path)
{
	while (root) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (!json_is_object(root))
			return NULL;
		root = json_object_getn(root, path, n);
		if (!dot)
			return root;
		path = dot + 1;
	}
	return NULL;
}

static const char *compare(const struct kw_json_value *v, json_t *j)
{
	json_t *raw;
	int same;

	if (!j)
		return v->type == KW_JSON_ABSENT ? NULL : "type (absent)";
	switch (json_typeof(j)) {
	case JSON_NULL:
		return v->type == KW_JSON_NULL ? NULL : "type (null)";
	case JSON_TRUE:
		return v->type == KW_JSON_TRUE ? NULL : "type (true)";
	case JSON_FALSE:
		return v->type == KW_JSON_FALSE ? NULL : "type (false)";
	case JSON_INTEGER:
		if (v->type != KW_JSON_INTEGER)
			return "type (integer)";
		if (v->i != json_integer_value(j) ||
		    v->d != (double)json_integer_value(j))
			return "integer value";
		return NULL;
	case JSON_REAL:
		if (v->type != KW_JSON_REAL)
			return "type (real)";
		if (memcmp(&v->d, &(double){json_real_value(j)},
			   sizeof(double)))
			return "real value";
		return NULL;
	case JSON_STRING:
		if (v->type != KW_JSON_STRING)
			return "type (string)";
		if (v->n != json_string_length(j) ||
		    (v->n && memcmp(v->p, json_string_value(j), v->n)))
			return "string value";
		return NULL;
	case JSON_OBJECT:
	case JSON_ARRAY:
		if (v->type !=
		    (json_is_object(j) ? KW_JSON_OBJECT : KW_JSON_ARRAY))
			return "type (container)";
		raw = json_loadb(v->p, v->n, 0, NULL);
		same = raw && json_equal(raw, j);
		json_decref(raw);
		return same ? NULL : "container raw text";
	}
	return "unknown jansson type";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kw_json_paths *paths;
	static struct kw_arena arena;
	struct kw_json_value out[NPATHS];
	struct kw_error err;
	enum kw_status st;
	json_t *root;

	if (!paths) {
		if (kw_json_paths_create(fuzz_paths, NPATHS, &paths, &err))
			abort();
		kw_arena_init(&arena, 0);
	}
	kw_arena_reset(&arena);
	st = kw_json_scan(paths, (const char *)data, size, out, &arena, &err);
	root = json_loadb((const char *)data, size, 0, NULL);
	if (st != KW_OK && st != KW_EINVAL)
		die("unexpected status", 0, data, size);
	if ((st == KW_OK) != (root != NULL))
		die(st == KW_OK ? "scanner accepts, jansson rejects"
				: "scanner rejects, jansson accepts",
		    0, data, size);
	if (st == KW_EINVAL && strncmp(err.msg, "invalid JSON at column ", 23))
		die("error message format", 0, data, size);
	for (size_t i = 0; root && i < NPATHS; i++) {
		const char *why = compare(&out[i], lookup(root, fuzz_paths[i]));

		if (why)
			die(why, i, data, size);
	}
	json_decref(root);
	return 0;
}
