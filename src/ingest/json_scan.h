/*
 * json_scan.h - the hot-path JSON field scanner.
 *
 * Building a jansson tree per line costs ten times the decompression; the
 * decoders need a dozen fields. kw_json_scan() validates one JSON text
 * completely (RFC 8259, UTF-8 checked, the same acceptance as jansson's
 * json_loadb with flags 0) and, in the same pass, picks out the values at a
 * set of dotted paths compiled once ("created", "headers.x-api-key").
 * Strings are unescaped (every escape, \uXXXX with surrogate pairs). For any
 * input the scanner does not handle itself (numbers out of jansson's range,
 * depth past its limit, ...) it falls back to jansson internally, so the
 * caller always gets the same answer jansson would give.
 *
 * Duplicate keys: the last one wins, as in jansson.
 *
 * (Implementation note: today no input takes the jansson fallback. Every
 * jansson 2.14 rule is mirrored in json_scan.c, including its quirk of
 * dropping a NUL byte that directly follows a number or literal; the
 * differential test tests/unit/test_json_diff.c and the fuzz target
 * tests/fuzz/fuzz_json_scan.c hold the two to the same answers. Limits: at
 * most KW_JSON_MAX_PATHS paths, 16 segments of 255 bytes per path.)
 */
#ifndef KW_INGEST_JSON_SCAN_H
#define KW_INGEST_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/status.h"

enum kw_json_type {
	KW_JSON_ABSENT = 0, /* the path is not in the text */
	KW_JSON_NULL,
	KW_JSON_FALSE,
	KW_JSON_TRUE,
	KW_JSON_INTEGER, /* a number without fraction or exponent */
	KW_JSON_REAL,	 /* a number with fraction or exponent */
	KW_JSON_STRING,
	KW_JSON_OBJECT,
	KW_JSON_ARRAY,
};

struct kw_json_value {
	enum kw_json_type type;
	/* STRING: the unescaped bytes (may contain NUL only if jansson would
	 * accept it, which it does not by default). INTEGER/REAL: the number's
	 * text as written. OBJECT/ARRAY: the raw text. Borrowed from the input
	 * or from the arena passed to kw_json_scan. */
	const char *p;
	size_t n;
	int64_t i; /* INTEGER */
	double d;  /* INTEGER and REAL, as jansson would convert them */
};

#define KW_JSON_MAX_PATHS 64
#define KW_JSON_MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */

struct kw_json_paths;

/* Compile n dotted paths. A path selects through nested objects only. The
 * result is immutable and may be shared by threads; free it with
 * kw_json_paths_destroy (NULL-safe). */
enum kw_status kw_json_paths_create(const char *const *paths, size_t n,
				    struct kw_json_paths **out,
				    struct kw_error *err);
void kw_json_paths_destroy(struct kw_json_paths *paths);
size_t kw_json_paths_count(const struct kw_json_paths *paths);

/* Validate text[0..len) as one JSON text and fill out[i] for path i
 * (out has kw_json_paths_count(paths) entries; paths must not be NULL).
 * KW_OK: valid; out[] filled (ABSENT where a path is missing or a step is
 * not an object). KW_EINVAL: not valid JSON; err has a short reason and the
 * column ("invalid JSON at column 17: unterminated string"). Unescaped
 * strings are allocated from arena (NUL-terminated; strings without escapes
 * point into text and are not); KW_ENOMEM if it is exhausted. On any error
 * every out[i] is ABSENT. Allocates only from arena; reentrant. */
enum kw_status kw_json_scan(const struct kw_json_paths *paths, const char *text,
			    size_t len, struct kw_json_value *out,
			    struct kw_arena *arena, struct kw_error *err);

#endif
