/*
 * fuzz_json_scan.c - libFuzzer target: kw_json_scan against jansson.
 *
 * Every input is given to both kw_json_scan and json_loadb(..., 0, ...);
 * any disagreement (validity, or the type or value at one of a fixed set of
 * paths) prints the case and abort()s. The input is also scanned with a
 * key-order hint carried from input to input (kw_json_scan_hinted), and,
 * split at its newlines, line after line, as a decoder scans a log: the
 * hinted answers must be the same. The whole input is also scanned with
 * each width of the string step the machine has (8, 16 and 32 bytes:
 * kw_json_paths_set_step), which must give the same answer. The paths use
 * the keys of the corpus
 * in tests/unit/json_corpus so that mutations keep hitting them.
 *
 * Its seeds are tests/unit/json_corpus (the differential unit test's cases)
 * and corpus/json_scan; tests/fuzz/run runs it (README.md).
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

/* One text against jansson, scanned plainly and with the hint (which
 * carries the key order of the texts scanned before it). */
static void check(const struct kw_json_paths *paths, struct kw_json_hint *hint,
		  struct kw_arena *arena, const uint8_t *data, size_t size)
{
	struct kw_json_value out[CMP_NPATHS];
	const struct kw_json_value *hout = hint->val;
	struct kw_error err, herr;
	enum kw_status st, hst;
	json_t *root;

	kw_arena_reset(arena);
	err.msg[0] = herr.msg[0] = '\0';
	st = kw_json_scan(paths, (const char *)data, size, out, arena, &err);
	hst = kw_json_scan_hinted(paths, hint, (const char *)data, size, arena,
				  &herr);
	root = json_loadb((const char *)data, size, 0, NULL);
	if (st != KW_OK && st != KW_EINVAL)
		die("unexpected status", 0, data, size);
	if ((st == KW_OK) != (root != NULL))
		die(st == KW_OK ? "scanner accepts, jansson rejects"
				: "scanner rejects, jansson accepts",
		    0, data, size);
	if (st != hst || strcmp(err.msg, herr.msg))
		die("hinted scan answers differently", 0, data, size);
	if (st == KW_EINVAL && strncmp(err.msg, "invalid JSON at column ", 23))
		die("error message format", 0, data, size);
	for (size_t i = 0; root && i < CMP_NPATHS; i++) {
		json_t *j = lookup(root, cmp_paths[i]);
		const char *why = compare(&out[i], j);

		if (!why)
			why = compare(&hout[i], j);
		if (why)
			die(why, i, data, size);
	}
	json_decref(root);
}

/* The input scanned with each width of the string step: the same status,
 * message and values as with the widest. */
static void check_steps(struct kw_json_paths *const *steps, size_t nsteps,
			struct kw_arena *arena, const uint8_t *data,
			size_t size)
{
	struct kw_json_value ref[CMP_NPATHS], out[CMP_NPATHS];
	struct kw_error rerr, err;
	enum kw_status rst, st;

	kw_arena_reset(arena);
	rerr.msg[0] = '\0';
	rst = kw_json_scan(steps[0], (const char *)data, size, ref, arena,
			   &rerr);
	for (size_t k = 1; k < nsteps; k++) {
		err.msg[0] = '\0';
		st = kw_json_scan(steps[k], (const char *)data, size, out,
				  arena, &err);
		if (st != rst || strcmp(err.msg, rerr.msg))
			die("string steps answer differently", k, data, size);
		for (size_t i = 0; st == KW_OK && i < CMP_NPATHS; i++) {
			if (out[i].type != ref[i].type ||
			    (out[i].type != KW_JSON_ABSENT &&
			     (out[i].n != ref[i].n ||
			      memcmp(out[i].p, ref[i].p, out[i].n))))
				die("string steps pick different values", i,
				    data, size);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum kw_json_step widths[] = {
		KW_JSON_STEP_BEST,
		KW_JSON_STEP_8,
		KW_JSON_STEP_16,
		KW_JSON_STEP_32,
	};
	static struct kw_json_paths *steps[4];
	static size_t nsteps;
	static struct kw_json_paths *paths;
	static struct kw_arena arena;
	static struct kw_json_hint hint; /* carried from input to input */
	const uint8_t *nl;
	struct kw_error err;

	if (!paths) {
		if (kw_json_paths_create(cmp_paths, CMP_NPATHS, &paths, &err))
			abort();
		kw_arena_init(&arena, 0);
		for (size_t k = 0; k < sizeof(widths) / sizeof(*widths); k++) {
			if (kw_json_paths_create(cmp_paths, CMP_NPATHS,
						 &steps[nsteps], &err))
				abort();
			if (kw_json_paths_set_step(steps[nsteps], widths[k]))
				nsteps++;
			else
				kw_json_paths_destroy(steps[nsteps]);
		}
	}
	check_steps(steps, nsteps, &arena, data, size);
	/* The whole input, then its lines one after another, as a decoder
	 * sees a log: each line is predicted from the one before. */
	check(paths, &hint, &arena, data, size);
	while (size && (nl = memchr(data, '\n', size)) != NULL) {
		check(paths, &hint, &arena, data, (size_t)(nl - data));
		size -= (size_t)(nl - data) + 1;
		data = nl + 1;
		check(paths, &hint, &arena, data, size);
	}
	return 0;
}
