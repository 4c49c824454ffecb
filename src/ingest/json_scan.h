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

/* How many bytes a step of the string loop looks at: 8 (plain C, any
 * machine), 16 (SSE2) or 32 (AVX2, chosen at run time when the CPU has
 * it). kw_json_paths_create picks the widest (KW_JSON_STEP_BEST); the
 * answer never depends on it. */
enum kw_json_step {
	KW_JSON_STEP_BEST,
	KW_JSON_STEP_8,
	KW_JSON_STEP_16,
	KW_JSON_STEP_32,
};

/* For the tests, which run every step this machine has: scan with step
 * from now on. False, and nothing changed, when this build or CPU does not
 * have it. Call it before the paths are shared between threads. */
bool kw_json_paths_set_step(struct kw_json_paths *paths,
			    enum kw_json_step step);
size_t kw_json_paths_count(const struct kw_json_paths *paths);

/* The key order of the previous text, so that the next one's keys are
 * each confirmed with one comparison instead of being scanned and looked
 * up (log lines from one producer repeat the order). Owned by the caller,
 * one per stream of texts and thread; zero it (or kw_json_hint_reset)
 * before first use. It remembers the raw bytes of at most
 * KW_JSON_HINT_KEYS keys of up to KW_JSON_HINT_KEY_MAX bytes in the
 * objects on a path, each with the trie node it leads to; keys with
 * escapes are not remembered. A key that was not predicted is looked for
 * a few places further on (optional keys left out of this text) and
 * otherwise inserted where it came, so that texts that differ by optional
 * keys converge on one order that predicts them all. What it holds only
 * decides how fast a scan is, never its answer: a prediction counts only
 * when the input's bytes are the remembered key, its closing quote and ':'
 * exactly. */
#define KW_JSON_HINT_KEYS 64
#define KW_JSON_HINT_KEY_MAX 30

struct kw_json_hint_key {
	unsigned char pat[32]; /* the key's raw bytes, then '"' and ':' */
	/* with flat: '"', the key's raw bytes, '"' and ':' */
	unsigned char fpat[16];
	uint64_t term; /* the paths that end at want */
	uint8_t len;   /* bytes of pat that must match; 0: unused */
	/* the bytes of fpat, for a top-level key that fits in 15; else 0 */
	uint8_t flat;
	int16_t slot;	/* the one path in term, or -1 (none, or several) */
	int16_t parent; /* trie node of the object holding the key */
	int16_t want;	/* trie node the key leads to, or -1 */
	uint16_t need;	/* its low flat bits, the bytes of fpat to match */
};

struct kw_json_hint {
	const struct kw_json_paths *paths; /* what the nodes belong to */
	uint32_t n;			   /* keys remembered */
	/* the last text was one object of scalars: try the flat path */
	bool flat;
	struct kw_json_hint_key key[KW_JSON_HINT_KEYS];
	/* The last scan's values (kw_json_scan_hinted): the scanner's, read
	 * them, never write them. Each scan rewrites only the slots it
	 * finds and clears those the scan before set and this one did not,
	 * so the array is not cleared whole once a line. */
	struct kw_json_value val[KW_JSON_MAX_PATHS];
	/* the slots of val that may not be ABSENT; all others are */
	uint64_t set;
};

void kw_json_hint_reset(struct kw_json_hint *hint);

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

/* The same, predicting the keys from hint (not NULL) and leaving this
 * text's key order in it for the next call; the values are in hint->val,
 * valid until the next scan with the hint or its reset. They are always
 * the ones kw_json_scan gives (tests/unit/test_json_diff.c and the fuzz
 * target compare them). */
enum kw_status kw_json_scan_hinted(const struct kw_json_paths *paths,
				   struct kw_json_hint *hint, const char *text,
				   size_t len, struct kw_arena *arena,
				   struct kw_error *err);

#endif
