/*
 * json_compare.h - what the differential test and the fuzz target share:
 * the paths they extract and the comparison of one kw_json_scan value
 * with jansson's value at the same dotted path. Header-only (static
 * functions) so that the fuzz target, which compiles the scanner alone,
 * needs no library.
 */
#ifndef KW_TESTS_JSON_COMPARE_H
#define KW_TESTS_JSON_COMPARE_H

#include <jansson.h>
#include <string.h>

#include "ingest/json_scan.h"

/* The keys of the corpus in tests/unit/json_corpus, so that mutations keep
 * hitting them. */
static const char *const cmp_paths[] = {
	"a",	   "b",		"a.b",	     "a.b.c",
	"s",	   "n",		"k",	     "o",
	"o.p",	   "arr",	"x-api-key", "headers.x-api-key",
	"headers", "u\xc3\xa9", "created",   "request.ip",
};
#define CMP_NPATHS (sizeof(cmp_paths) / sizeof(cmp_paths[0]))

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
	double d;

	if (!j)
		return v->type == KW_JSON_ABSENT ? NULL : "type (want absent)";
	switch (json_typeof(j)) {
	case JSON_NULL:
		return v->type == KW_JSON_NULL ? NULL : "type (want null)";
	case JSON_TRUE:
		return v->type == KW_JSON_TRUE ? NULL : "type (want true)";
	case JSON_FALSE:
		return v->type == KW_JSON_FALSE ? NULL : "type (want false)";
	case JSON_INTEGER:
		if (v->type != KW_JSON_INTEGER)
			return "type (want integer)";
		if (v->i != json_integer_value(j) ||
		    v->d != (double)json_integer_value(j))
			return "integer value";
		return NULL;
	case JSON_REAL:
		if (v->type != KW_JSON_REAL)
			return "type (want real)";
		d = json_real_value(j);
		return memcmp(&v->d, &d, sizeof(d)) ? "real value" : NULL;
	case JSON_STRING:
		if (v->type != KW_JSON_STRING)
			return "type (want string)";
		if (v->n != json_string_length(j) ||
		    (v->n && memcmp(v->p, json_string_value(j), v->n)))
			return "string value";
		return NULL;
	case JSON_OBJECT:
	case JSON_ARRAY:
		if (v->type !=
		    (json_is_object(j) ? KW_JSON_OBJECT : KW_JSON_ARRAY))
			return "type (want object or array)";
		raw = json_loadb(v->p, v->n, 0, NULL);
		same = raw && json_equal(raw, j);
		json_decref(raw);
		return same ? NULL : "object or array raw text";
	}
	return "unknown jansson type";
}

#endif
