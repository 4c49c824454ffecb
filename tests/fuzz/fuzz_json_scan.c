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
#include "../unit/json_compare.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *why, size_t path, const uint8_t *data, size_t size)
{
	fprintf(stderr, "json_scan disagrees with jansson: %s (path %zu)\n",
		why, path);
	for (size_t i = 0; i < size; i++)
		fprintf(stderr, "\\x%02x", data[i]);
	fprintf(stderr, "\n");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kw_json_paths *paths;
	static struct kw_arena arena;
	struct kw_json_value out[CMP_NPATHS];
	struct kw_error err;
	enum kw_status st;
	json_t *root;

	if (!paths) {
		if (kw_json_paths_create(cmp_paths, CMP_NPATHS, &paths, &err))
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
	for (size_t i = 0; root && i < CMP_NPATHS; i++) {
		const char *why = compare(&out[i], lookup(root, cmp_paths[i]));

		if (why)
			die(why, i, data, size);
	}
	json_decref(root);
	return 0;
}
