/*
 * json_scan.c - the hot-path JSON field scanner: one pass over a line that
 * validates it exactly as jansson's json_loadb(text, len, 0) would and picks
 * out the values at a compiled set of dotted paths, without building a tree.
 *
 * The one idea: the paths are compiled into a trie of object keys, and the
 * parser is an iterative state machine whose only stack is one bit per open
 * container (object or array) plus, for the few outermost objects that lie
 * on a path, the trie node their keys are looked up in. Everything off the
 * paths is still fully validated (UTF-8, escapes, number ranges, depth) but
 * never copied. Strings are returned zero-copy unless they hold escapes, in
 * which case they are unescaped into the caller's arena.
 *
 * Log lines from one producer repeat their keys in the same order, so with
 * a hint (kw_json_scan_hinted) each key of an object on a path is first
 * compared, raw bytes plus the closing quote and ':', with the key that
 * came at that point of the previous text (or the one after it, when an
 * optional key was left out): one comparison instead of scanning the
 * string, hashing it and confirming with memcmp. A miss takes the general
 * path and writes the key into the hint for the next text. Equal raw bytes
 * are the same valid key, so the answer never depends on the hint.
 *
 * jansson's rules mirrored here, each checked by experiment against 2.14
 * (tests/unit/test_json_diff.c and tests/fuzz/fuzz_json_scan.c keep checking):
 * the top level must be an object or an array; a value nested deeper than
 * JSON_PARSER_MAX_DEPTH (a scalar counts as a level) is an error; integers
 * must fit a long long and reals must not overflow a double (underflow is
 * fine); "\u0000" and lone surrogates are rejected; UTF-8 must be
 * well-formed; and one quirk: jansson's lexer loses a NUL byte that directly
 * follows a number or a literal (its one-byte unget cannot put a NUL back),
 * so such a NUL is skipped here too. Because every rule is mirrored, no
 * input needs jansson at run time.
 */
#include "ingest/json_scan.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/simd.h"

#define SEG_MAX 16	/* segments per path */
#define SEG_LEN_MAX 255 /* bytes per segment */
#define PATH_LEN_MAX 1024
#define NO_NODE (-1)
#define NUM_BUF 64 /* numbers shorter than this are converted on stack */
/* an unescaped key of at most SEG_LEN_MAX bytes comes from at most this many
 * escaped bytes (a \uXXXX escape is the longest way to write one byte) */
#define KEY_RAW_MAX (6 * SEG_LEN_MAX)

/* ---------------------------------------------------------------- paths */

struct node {
	const char *seg; /* into kw_json_paths.text; not NUL-terminated */
	uint16_t seg_len;
	int16_t parent;
	int16_t first_child;
	int16_t next_sibling;
	uint64_t term;	/* paths that end at this node */
	uint64_t below; /* paths that end at this node or under it */
};

/* The first byte at or after s that a string must look at, or end. */
typedef const char *(*string_stop_fn)(const char *s, const char *end);

struct kw_json_paths {
	string_stop_fn stop; /* the widest string step the CPU has */
	size_t npaths;
	size_t nnodes;
	locale_t c_locale;  /* strtod must not follow the process locale */
	char *text;	    /* copies of the path strings */
	struct node *nodes; /* nodes[0] is the root (the top-level object) */
	int16_t *slots;	    /* (parent, key) -> node, open addressing */
	size_t slot_mask;
};

static string_stop_fn stop_for(enum kw_json_step step);

/* Cheap hash of a (parent node, non-empty key): the length and three bytes
 * pick the slot; find_child confirms with memcmp. */
static inline size_t key_hash(int16_t parent, const char *key, size_t n)
{
	uint32_t h = (uint32_t)n * 0x9E3779B1u;

	h ^= (uint32_t)(uint16_t)parent * 0x85EBCA6Bu;
	h ^= (uint32_t)(unsigned char)key[0] * 0xC2B2AE35u;
	h ^= (uint32_t)(unsigned char)key[n - 1] * 0x27D4EB2Fu;
	h ^= (uint32_t)(unsigned char)key[n / 2] * 0x165667B1u;
	return h ^ (h >> 15);
}

/* The child of parent named key[0..n), or NO_NODE; the hot-path lookup. */
static int16_t find_child(const struct kw_json_paths *ps, int16_t parent,
			  const char *key, size_t n)
{
	size_t i;

	if (n == 0)
		return NO_NODE;
	for (i = key_hash(parent, key, n) & ps->slot_mask;
	     ps->slots[i] != NO_NODE; i = (i + 1) & ps->slot_mask) {
		const struct node *nd = &ps->nodes[ps->slots[i]];

		if (nd->parent == parent && nd->seg_len == n &&
		    memcmp(nd->seg, key, n) == 0)
			return ps->slots[i];
	}
	return NO_NODE;
}

/* The same lookup by walking the sibling list, while the trie is built. */
static int16_t find_child_slow(const struct kw_json_paths *ps, int16_t parent,
			       const char *key, size_t n)
{
	int16_t c = ps->nodes[parent].first_child;

	while (c != NO_NODE) {
		const struct node *nd = &ps->nodes[c];

		if (nd->seg_len == n &&
		    (n == 0 ||
		     (nd->seg[0] == key[0] && memcmp(nd->seg, key, n) == 0)))
			return c;
		c = nd->next_sibling;
	}
	return NO_NODE;
}

static enum kw_status add_path(struct kw_json_paths *ps, size_t idx, char *copy,
			       size_t len, struct kw_error *err)
{
	int16_t cur = 0;
	size_t start = 0, nseg = 0;

	ps->nodes[0].below |= (uint64_t)1 << idx;
	while (start <= len) {
		const char *dot = memchr(copy + start, '.', len - start);
		size_t end = dot ? (size_t)(dot - copy) : len;
		size_t slen = end - start;
		int16_t child;

		if (slen == 0)
			return kw_error_set(err, KW_EINVAL,
					    "json path %zu: empty segment",
					    idx);
		if (slen > SEG_LEN_MAX || ++nseg > SEG_MAX)
			return kw_error_set(err, KW_EINVAL,
					    "json path %zu: too long", idx);
		child = find_child_slow(ps, cur, copy + start, slen);
		if (child == NO_NODE) {
			struct node *nd = &ps->nodes[ps->nnodes];

			child = (int16_t)ps->nnodes++;
			nd->seg = copy + start;
			nd->seg_len = (uint16_t)slen;
			nd->parent = cur;
			nd->first_child = NO_NODE;
			nd->next_sibling = ps->nodes[cur].first_child;
			nd->term = 0;
			nd->below = 0;
			ps->nodes[cur].first_child = child;
		}
		cur = child;
		ps->nodes[cur].below |= (uint64_t)1 << idx;
		start = end + 1;
	}
	ps->nodes[cur].term |= (uint64_t)1 << idx;
	return KW_OK;
}

static enum kw_status build_slots(struct kw_json_paths *ps)
{
	size_t size = 64;

	while (size < 2 * ps->nnodes)
		size *= 2;
	ps->slots = malloc(size * sizeof(*ps->slots));
	if (!ps->slots)
		return KW_ENOMEM;
	ps->slot_mask = size - 1;
	for (size_t i = 0; i < size; i++)
		ps->slots[i] = NO_NODE;
	for (size_t n = 1; n < ps->nnodes; n++) {
		const struct node *nd = &ps->nodes[n];
		size_t i = key_hash(nd->parent, nd->seg, nd->seg_len) &
			   ps->slot_mask;

		while (ps->slots[i] != NO_NODE)
			i = (i + 1) & ps->slot_mask;
		ps->slots[i] = (int16_t)n;
	}
	return KW_OK;
}

enum kw_status kw_json_paths_create(const char *const *paths, size_t n,
				    struct kw_json_paths **out,
				    struct kw_error *err)
{
	struct kw_json_paths *ps = NULL;
	enum kw_status st = KW_OK;
	size_t total = 0, off = 0;

	*out = NULL;
	if (n > KW_JSON_MAX_PATHS) {
		st = kw_error_set(err, KW_EINVAL,
				  "too many json paths (%zu > %d)", n,
				  KW_JSON_MAX_PATHS);
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		size_t len = paths[i] ? strnlen(paths[i], PATH_LEN_MAX + 1) : 0;

		if (len == 0 || len > PATH_LEN_MAX) {
			st = kw_error_set(err, KW_EINVAL,
					  "json path %zu: empty or too long",
					  i);
			goto cleanup;
		}
		total += len + 1;
	}
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		goto nomem;
	ps->c_locale = (locale_t)0;
	ps->stop = stop_for(kw_step_pick(KW_JSON_STEP_BEST));
	ps->npaths = n;
	ps->text = malloc(total ? total : 1);
	ps->nodes = calloc(1 + n * SEG_MAX, sizeof(*ps->nodes));
	ps->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (!ps->text || !ps->nodes || ps->c_locale == (locale_t)0)
		goto nomem;
	ps->nodes[0].parent = NO_NODE;
	ps->nodes[0].first_child = NO_NODE;
	ps->nodes[0].next_sibling = NO_NODE;
	ps->nnodes = 1;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(paths[i]);

		memcpy(ps->text + off, paths[i], len + 1);
		st = add_path(ps, i, ps->text + off, len, err);
		if (st != KW_OK)
			goto cleanup;
		off += len + 1;
	}
	if (build_slots(ps) != KW_OK)
		goto nomem;
	*out = ps;
	ps = NULL;
	goto cleanup;
nomem:
	st = kw_error_set(err, KW_ENOMEM, "json paths: out of memory");
cleanup:
	kw_json_paths_destroy(ps);
	return st;
}

void kw_json_paths_destroy(struct kw_json_paths *paths)
{
	if (!paths)
		return;
	if (paths->c_locale != (locale_t)0)
		freelocale(paths->c_locale);
	free(paths->text);
	free(paths->nodes);
	free(paths->slots);
	free(paths);
}

size_t kw_json_paths_count(const struct kw_json_paths *paths)
{
	return paths ? paths->npaths : 0;
}

/* ---------------------------------------------------------------- lexing */

struct scan {
	const char *base;
	const char *end;
	const struct kw_json_paths *ps;
	struct kw_json_value *out;
	struct kw_arena *arena;
	struct kw_json_hint *hint; /* NULL: no prediction */
	uint32_t hk;		   /* the next key hint->key[hk] predicts */
	uint64_t set;		   /* the slots parse_flat wrote, once true */
	bool deep;		   /* a container opened inside another */
	bool no_alloc;		   /* the flat path: never touch the arena */
	enum kw_status st;	   /* KW_EINVAL or KW_ENOMEM once failed */
	size_t fail_at;		   /* byte offset of the failure */
	const char *reason;	   /* static text */
};

/* Record a failure and return NULL, for `return fail(...)` in the lexers. */
static const char *fail(struct scan *sc, const char *at, const char *reason)
{
	sc->st = KW_EINVAL;
	sc->fail_at = (size_t)(at - sc->base);
	sc->reason = reason;
	return NULL;
}

static inline bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static inline const char *skip_ws(const char *s, const char *end)
{
	/* the usual case, compact JSON: no white space at all */
	if (s < end && (unsigned char)*s > ' ')
		return s;
	while (s < end && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
		s++;
	return s;
}

/* Four hex digits at s (bounds checked by the caller) or -1. */
static int32_t hex4(const char *s)
{
	int32_t v = 0;

	for (int i = 0; i < 4; i++) {
		int h = hex_value((unsigned char)s[i]);

		if (h < 0)
			return -1;
		v = (v << 4) | h;
	}
	return v;
}

/* A well-formed UTF-8 sequence starting at s (s[0] >= 0x80): its length, or
 * 0. The same acceptance as jansson's utf8_check_first/utf8_check_full. */
static size_t utf8_len(const unsigned char *s, const unsigned char *end)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t n;

	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0; /* overlong */
	else if (c == 0xED)
		hi = 0x9F; /* UTF-16 surrogates */
	else if (c == 0xF0)
		lo = 0x90; /* overlong */
	else if (c == 0xF4)
		hi = 0x8F; /* past U+10FFFF */
	if ((size_t)(end - s) < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

/* Validate one \uXXXX escape (or surrogate pair) at s, which points at the
 * backslash. Returns the byte after it, or NULL. */
static const char *scan_uescape(struct scan *sc, const char *s)
{
	int32_t v, v2;

	v = sc->end - s < 6 ? -1 : hex4(s + 2);
	if (v < 0)
		return fail(sc, s, "invalid \\u escape");
	if (v == 0)
		return fail(sc, s, "\\u0000 is not allowed");
	if (v >= 0xDC00 && v <= 0xDFFF)
		return fail(sc, s, "invalid surrogate escape");
	if (v < 0xD800 || v > 0xDBFF)
		return s + 6;
	if (sc->end - s < 12 || s[6] != '\\' || s[7] != 'u')
		return fail(sc, s, "invalid surrogate escape");
	v2 = hex4(s + 8);
	if (v2 < 0)
		return fail(sc, s + 6, "invalid \\u escape");
	if (v2 < 0xDC00 || v2 > 0xDFFF)
		return fail(sc, s, "invalid surrogate escape");
	return s + 12;
}

/* ---------------------------------------------------------------- strings
 *
 * Most of a log line is string bytes, so the loop that finds where a
 * string needs a look ('"', '\\', a control byte or one >= 0x80) comes in
 * three widths: 8 bytes a step in plain C (any machine), 16 with SSE2
 * (always there on x86-64) and 32 with AVX2, which is chosen at run time
 * (__builtin_cpu_supports) when the paths are compiled. All three give
 * the same answer; the tests run each (kw_json_paths_set_step). */

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Nonzero when one of the 8 bytes of w is '"', '\\', < 0x20 or >= 0x80.
 * The lowest flagged byte is always a real hit (false positives can only
 * sit above a real one, where a borrow propagated). */
static inline uint64_t special_bytes(uint64_t w)
{
	uint64_t q = w ^ (ONES * '"');
	uint64_t b = w ^ (ONES * '\\');

	return ((q - ONES) & ~q) | ((b - ONES) & ~b) | (w - ONES * 0x20) | w;
}

static inline bool is_special(unsigned char c)
{
	return c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
}

static const char *stop_8(const char *s, const char *end)
{
	while (end - s >= 8) {
		uint64_t w, m;

		memcpy(&w, s, 8);
		m = special_bytes(w) & HIGHS;
		if (m) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return s + __builtin_ctzll(m) / 8;
#else
			break; /* the bytes below find it */
#endif
		}
		s += 8;
	}
	while (s < end && !is_special((unsigned char)*s))
		s++;
	return s;
}

#ifdef __SSE2__
/* The special bytes of s[0..16) as bits: a signed compare with 0x20 flags
 * both control bytes and every byte >= 0x80 (negative as int8). */
static inline unsigned stop_mask_16(const char *s)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
	__m128i hit = _mm_or_si128(
		_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
			     _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
		_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));

	return (unsigned)_mm_movemask_epi8(hit);
}

static const char *stop_16(const char *s, const char *end)
{
	while (end - s >= 16) {
		unsigned m = stop_mask_16(s);

		if (m)
			return s + __builtin_ctz(m);
		s += 16;
	}
	return stop_8(s, end);
}
#endif

#ifdef HAVE_AVX2_STEP
__attribute__((target("avx2"))) static const char *stop_32(const char *s,
							   const char *end)
{
	const __m256i quote = _mm256_set1_epi8('"');
	const __m256i bslash = _mm256_set1_epi8('\\');
	const __m256i space = _mm256_set1_epi8(0x20);

	while (end - s >= 32) {
		__m256i v =
			_mm256_loadu_si256((const __m256i *)(const void *)s);
		/* 0x20 > v, signed: control bytes and bytes >= 0x80 */
		__m256i hit = _mm256_or_si256(
			_mm256_or_si256(_mm256_cmpeq_epi8(v, quote),
					_mm256_cmpeq_epi8(v, bslash)),
			_mm256_cmpgt_epi8(space, v));
		unsigned m = (unsigned)_mm256_movemask_epi8(hit);

		if (m)
			return s + __builtin_ctz(m);
		s += 32;
	}
	return stop_16(s, end);
}
#endif

/* The string step's function for a step kw_step_pick gave. */
static string_stop_fn stop_for(enum kw_json_step step)
{
	switch (step) {
#ifdef __SSE2__
	case KW_JSON_STEP_16:
		return stop_16;
#endif
#ifdef HAVE_AVX2_STEP
	case KW_JSON_STEP_32:
		return stop_32;
#endif
	default:
		return stop_8;
	}
}

bool kw_json_paths_set_step(struct kw_json_paths *paths, enum kw_json_step step)
{
	enum kw_json_step take = kw_step_pick(step);

	if (take == KW_JSON_STEP_BEST)
		return false;
	paths->stop = stop_for(take);
	return true;
}

/* The step, with the usual short string inline: its stop within the
 * next 16 bytes costs no call. */
static inline const char *string_stop(const struct kw_json_paths *ps,
				      const char *s, const char *end)
{
#ifdef __SSE2__
	if (end - s >= 16) {
		unsigned m = stop_mask_16(s);

		if (m)
			return s + __builtin_ctz(m);
		s += 16;
	}
#endif
	return ps->stop(s, end);
}

/* Scan a string whose opening quote is at s[-1]. Returns the closing quote,
 * or NULL; *esc tells whether a backslash was seen. */
static const char *scan_string(struct scan *sc, const char *s, bool *esc)
{
	const char *end = sc->end;

	*esc = false;
	for (;;) {
		unsigned char c;

		s = string_stop(sc->ps, s, end);
		if (s >= end)
			return fail(sc, s, "unterminated string");
		c = (unsigned char)*s;
		if (c == '"')
			return s;
		if (c == '\\') {
			*esc = true;
			if (end - s < 2)
				return fail(sc, s + 1, "unterminated string");
			switch (s[1]) {
			case '"':
			case '\\':
			case '/':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				s += 2;
				break;
			case 'u':
				s = scan_uescape(sc, s);
				if (!s)
					return NULL;
				break;
			default:
				return fail(sc, s, "invalid escape");
			}
		} else if (c < 0x20) {
			return fail(sc, s, "control character in string");
		} else {
			size_t n = utf8_len((const unsigned char *)s,
					    (const unsigned char *)end);

			if (!n)
				return fail(sc, s, "invalid UTF-8");
			s += n;
		}
	}
}

static size_t utf8_put(uint32_t cp, char *d)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xC0 | (cp >> 6));
		d[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xE0 | (cp >> 12));
		d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		d[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	d[0] = (char)(0xF0 | (cp >> 18));
	d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	d[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Unescape the already validated string body s[0..n) into d, which has room
 * for n bytes (the result is never longer). Returns the length written. */
static size_t unescape(const char *s, size_t n, char *d)
{
	const char *end = s + n;
	size_t o = 0;

	while (s < end) {
		if (*s != '\\') {
			d[o++] = *s++;
			continue;
		}
		switch (s[1]) {
		case 'b':
			d[o++] = '\b';
			break;
		case 'f':
			d[o++] = '\f';
			break;
		case 'n':
			d[o++] = '\n';
			break;
		case 'r':
			d[o++] = '\r';
			break;
		case 't':
			d[o++] = '\t';
			break;
		case 'u': {
			uint32_t cp = (uint32_t)hex4(s + 2);

			if (cp >= 0xD800 && cp <= 0xDBFF) {
				uint32_t lo = (uint32_t)hex4(s + 8);

				cp = 0x10000 + ((cp - 0xD800) << 10) +
				     (lo - 0xDC00);
				s += 6;
			}
			o += utf8_put(cp, d + o);
			s += 6;
			continue;
		}
		default: /* " \ / */
			d[o++] = s[1];
			break;
		}
		s += 2;
	}
	return o;
}

/* ---------------------------------------------------------------- numbers */

struct number {
	bool real;
	bool big;  /* a real that needs strtod to decide overflow */
	bool fast; /* a real whose value is in d without strtod */
	int64_t i;
	double d;
};

/* Clinger's fast path: a decimal with at most 15 significant digits is an
 * exact double, and so is 10^k for k <= 22, so one multiplication or
 * division gives the correctly rounded value, the same bits as strtod. */
static const double pow10_exact[23] = {
	1e0,  1e1,  1e2,  1e3,	1e4,  1e5,  1e6,  1e7,	1e8,  1e9,  1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static bool fast_real(uint64_t int_mag, size_t int_len, uint64_t frac_mag,
		      size_t frac_len, int64_t exp, bool neg, double *d)
{
	uint64_t m;
	int64_t e = exp - (int64_t)frac_len;

	if (int_len + frac_len > 15 || e < -22 || e > 22)
		return false;
	/* both parts are exact: at most 15 digits between them */
	m = int_mag * (uint64_t)pow10_exact[frac_len] + frac_mag;
	*d = e < 0 ? (double)m / pow10_exact[-e] : (double)m * pow10_exact[e];
	if (neg)
		*d = -*d;
	return true;
}

/* Scan a number at s, with jansson's ranges. Returns the byte after it. */
static const char *scan_number(struct scan *sc, const char *s,
			       struct number *num)
{
	const char *p = s, *end = sc->end, *int_start, *frac_start = NULL;
	bool neg = false;
	uint64_t mag = 0, frac_mag = 0;
	size_t int_len, frac_len, lead_frac_zeros = 0;
	int64_t exp = 0, e10;
	bool exp_neg = false, all_zero;

	num->real = false;
	num->big = false;
	num->fast = false;
	if (*p == '-') {
		neg = true;
		p++;
	}
	int_start = p;
	if (p >= end || !is_digit((unsigned char)*p))
		return fail(sc, s, "invalid number");
	if (*p == '0') {
		p++;
		if (p < end && is_digit((unsigned char)*p))
			return fail(sc, s, "invalid number");
	} else {
		while (p < end && is_digit((unsigned char)*p)) {
			if (p - int_start < 19)
				mag = mag * 10 + (uint64_t)(*p - '0');
			p++;
		}
	}
	int_len = (size_t)(p - int_start);
	if (p >= end || (*p != '.' && *p != 'e' && *p != 'E')) {
		uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX;

		if (int_len > 19 || mag > limit)
			return fail(sc, s, "integer out of range");
		num->i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
		return p;
	}
	num->real = true;
	if (*p == '.') {
		p++;
		frac_start = p;
		if (p >= end || !is_digit((unsigned char)*p))
			return fail(sc, s, "invalid number");
		while (p < end && *p == '0')
			p++;
		lead_frac_zeros = (size_t)(p - frac_start);
		/* the fraction's digits as an integer (leading zeros add
		 * nothing), while fast_real can use it */
		while (p < end && is_digit((unsigned char)*p)) {
			if (p - frac_start < 16)
				frac_mag = frac_mag * 10 + (uint64_t)(*p - '0');
			p++;
		}
	}
	all_zero = *int_start == '0' &&
		   (!frac_start || lead_frac_zeros == (size_t)(p - frac_start));
	frac_len = frac_start ? (size_t)(p - frac_start) : 0;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-')) {
			exp_neg = *p == '-';
			p++;
		}
		if (p >= end || !is_digit((unsigned char)*p))
			return fail(sc, s, "invalid number");
		while (p < end && is_digit((unsigned char)*p)) {
			if (exp < 1000000000)
				exp = exp * 10 + (*p - '0');
			p++;
		}
	}
	num->fast = fast_real(mag, int_len, frac_mag, frac_len,
			      exp_neg ? -exp : exp, neg, &num->d);
	if (all_zero)
		return p;
	/* the value lies in [10^(e10-1), 10^e10) */
	if (*int_start != '0')
		e10 = int_len > 1000000000 ? 1000000000 : (int64_t)int_len;
	else
		e10 = -(int64_t)(lead_frac_zeros > 1000000000
					 ? 1000000000
					 : lead_frac_zeros);
	e10 += exp_neg ? -exp : exp;
	if (e10 >= 310)
		return fail(sc, s, "real number overflow");
	num->big = e10 == 309;
	return p;
}

/* strtod of s[0..n) in the C locale; *ovf set on overflow. */
static enum kw_status to_double(struct scan *sc, const char *s, size_t n,
				double *d, bool *ovf)
{
	char buf[NUM_BUF];
	char *copy = buf;

	if (n >= sizeof(buf)) {
		/* the flat path allocates nothing: it gives up (ENOMEM) */
		copy = sc->no_alloc ? NULL : kw_arena_alloc(sc->arena, n + 1);
		if (!copy)
			return KW_ENOMEM;
	}
	memcpy(copy, s, n);
	copy[n] = '\0';
	errno = 0;
	*d = strtod_l(copy, NULL, sc->ps->c_locale);
	*ovf = errno == ERANGE && (*d == HUGE_VAL || *d == -HUGE_VAL);
	return KW_OK;
}

/* ---------------------------------------------------------------- values */

static void set_paths(struct kw_json_value *out, uint64_t mask,
		      const struct kw_json_value *v)
{
	while (mask) {
		out[__builtin_ctzll(mask)] = *v;
		mask &= mask - 1;
	}
}

/* set_paths with a string without escapes (what the flat path picks),
 * field by field instead of through a copy. */
static inline void set_string(struct kw_json_value *out, uint64_t mask,
			      const char *p, size_t n)
{
	for (; mask; mask &= mask - 1) {
		struct kw_json_value *o = &out[__builtin_ctzll(mask)];

		o->type = KW_JSON_STRING;
		o->p = p;
		o->n = n;
		o->i = 0;
		o->d = 0;
	}
}

static void clear_paths(struct kw_json_value *out, uint64_t mask)
{
	static const struct kw_json_value absent = {.type = KW_JSON_ABSENT};

	set_paths(out, mask, &absent);
}

/* Parse one scalar at s (s < end, not a container). When want is a node with
 * paths ending at it, fill their values. Returns the byte after the scalar. */
static const char *scan_scalar(struct scan *sc, const char *s, int16_t want)
{
	const char *end = sc->end, *e;
	struct kw_json_value v = {.type = KW_JSON_ABSENT, .p = s};
	uint64_t term = want == NO_NODE ? 0 : sc->ps->nodes[want].term;
	unsigned char c = (unsigned char)*s;

	if (c == '"') {
		bool esc;

		e = scan_string(sc, s + 1, &esc);
		if (!e)
			return NULL;
		if (term) {
			v.type = KW_JSON_STRING;
			v.p = s + 1;
			v.n = (size_t)(e - s - 1);
			if (esc) {
				char *d = kw_arena_alloc(sc->arena, v.n + 1);

				if (!d) {
					sc->st = KW_ENOMEM;
					return NULL;
				}
				v.n = unescape(s + 1, v.n, d);
				d[v.n] = '\0';
				v.p = d;
			}
			set_paths(sc->out, term, &v);
		}
		return e + 1;
	}
	if (c == '-' || is_digit(c)) {
		struct number num;
		bool ovf = false;

		e = scan_number(sc, s, &num);
		if (!e)
			return NULL;
		if (num.fast && !num.big) {
			v.d = num.d;
		} else if (num.big || (term && num.real)) {
			if (to_double(sc, s, (size_t)(e - s), &v.d, &ovf)) {
				sc->st = KW_ENOMEM;
				return NULL;
			}
			if (ovf)
				return fail(sc, s, "real number overflow");
		}
		if (term) {
			v.type = num.real ? KW_JSON_REAL : KW_JSON_INTEGER;
			v.n = (size_t)(e - s);
			if (!num.real) {
				v.i = num.i;
				v.d = (double)num.i;
			}
			set_paths(sc->out, term, &v);
		}
		goto literal_end;
	}
	if (c == 't' && end - s >= 4 && memcmp(s, "true", 4) == 0) {
		v.type = KW_JSON_TRUE;
		e = s + 4;
	} else if (c == 'f' && end - s >= 5 && memcmp(s, "false", 5) == 0) {
		v.type = KW_JSON_FALSE;
		e = s + 5;
	} else if (c == 'n' && end - s >= 4 && memcmp(s, "null", 4) == 0) {
		v.type = KW_JSON_NULL;
		e = s + 4;
	} else {
		return fail(sc, s, "unexpected character");
	}
	if (term) {
		v.n = (size_t)(e - s);
		set_paths(sc->out, term, &v);
	}
literal_end:
	/* jansson's lexer drops a NUL right after a number or literal */
	if (e < end && *e == '\0')
		e++;
	return e;
}

/* Look an object key (the string body s[0..n), escaped if esc) up among the
 * children of node. */
static int16_t match_key(const struct kw_json_paths *ps, int16_t node,
			 const char *s, size_t n, bool esc)
{
	char buf[KEY_RAW_MAX];

	if (ps->nodes[node].first_child == NO_NODE)
		return NO_NODE;
	if (esc) {
		if (n > sizeof(buf))
			return NO_NODE;
		n = unescape(s, n, buf);
		s = buf;
	}
	if (n > SEG_LEN_MAX)
		return NO_NODE;
	return find_child(ps, node, s, n);
}

/* ---------------------------------------------------------------- parser */

/* Per-depth state. kind has one bit per open container (set: object); only
 * the outermost SEG_MAX + 1 levels can lie on a path, so only they carry a
 * trie node (for the keys of an object) and a record node (the node whose
 * paths get this container's raw text when it closes). */
struct stack {
	uint8_t kind[KW_JSON_MAX_DEPTH / 8 + 1];
	int16_t node[SEG_MAX + 2];
	int16_t rec[SEG_MAX + 2];
};

static inline bool is_object(const struct stack *st, size_t d)
{
	return st->kind[d / 8] & (1u << (d % 8));
}

/* Open a container at s (depth open + 1); want is the node the value is
 * for. */
static void push(struct scan *sc, struct stack *st, size_t depth, const char *s,
		 int16_t want)
{
	bool obj = *s == '{';
	uint8_t bit = (uint8_t)(1u << (depth % 8));
	/* The first depth of a byte after the first starts it: the byte's
	 * other bits are of deeper containers, each set when it opens (the
	 * stack is never cleared as a whole, and no bit is read before it
	 * was set). */
	uint8_t byte = depth % 8 ? st->kind[depth / 8] : 0;

	if (depth > 1)
		sc->deep = true;
	st->kind[depth / 8] = obj ? byte | bit : (uint8_t)(byte & ~bit);
	if (depth > SEG_MAX + 1)
		return;
	st->node[depth] = obj ? want : NO_NODE;
	st->rec[depth] = NO_NODE;
	if (want != NO_NODE && sc->ps->nodes[want].term) {
		struct kw_json_value v = {
			.type = obj ? KW_JSON_OBJECT : KW_JSON_ARRAY,
			.p = s,
		};

		st->rec[depth] = want;
		set_paths(sc->out, sc->ps->nodes[want].term, &v);
	}
}

/* Close the container at depth whose last byte is at s. */
static void pop(struct scan *sc, struct stack *st, size_t depth, const char *s)
{
	uint64_t m;

	if (depth > SEG_MAX + 1 || st->rec[depth] == NO_NODE)
		return;
	m = sc->ps->nodes[st->rec[depth]].term;
	while (m) {
		struct kw_json_value *v = &sc->out[__builtin_ctzll(m)];

		v->n = (size_t)(s + 1 - v->p);
		m &= m - 1;
	}
}

/* A later duplicate key wins: forget what was picked under node before its
 * new value is scanned. A leaf's values are all overwritten by that value
 * anyway, so only nodes with paths below them need clearing. */
static inline void forget_below(struct scan *sc, int16_t node)
{
	const struct node *nd = &sc->ps->nodes[node];

	if (nd->below & ~nd->term)
		clear_paths(sc->out, nd->below);
}

/* Whether s[0..n) (bounded by end) equals pat[0..n), n <= 32; pat has
 * 32 readable bytes. */
static inline bool same_bytes(const char *s, const char *end,
			      const unsigned char *pat, size_t n)
{
#ifdef __SSE2__
	if (n <= 16 && end - s >= 16) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)s);
		__m128i p = _mm_loadu_si128((const __m128i *)(const void *)pat);
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, p));
		unsigned need = (1u << n) - 1;

		return (m & need) == need;
	}
	if (end - s >= 32) {
		__m128i a0 = _mm_loadu_si128((const __m128i *)(const void *)s);
		__m128i a1 = _mm_loadu_si128(
			(const __m128i *)(const void *)(s + 16));
		__m128i p0 =
			_mm_loadu_si128((const __m128i *)(const void *)pat);
		__m128i p1 = _mm_loadu_si128(
			(const __m128i *)(const void *)(pat + 16));
		uint32_t m =
			(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(a0, p0)) |
			(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(a1, p1))
				<< 16;
		uint32_t need = n >= 32 ? UINT32_MAX : (UINT32_C(1) << n) - 1;

		return (m & need) == need;
	}
#endif
	return (size_t)(end - s) >= n && memcmp(s, pat, n) == 0;
}

/* The key at s (just past its opening quote) in the object of trie node
 * node, if it is the one the hint predicts there (or the one after it):
 * sets *want and returns the byte after the ':'. NULL: not predicted. */
static inline const char *predict(struct scan *sc, int16_t node, const char *s,
				  int16_t *want)
{
	const struct kw_json_hint *h = sc->hint;
	uint32_t k = sc->hk;
	const struct kw_json_hint_key *hk;

	for (int tries = 0; tries < 2 && k < h->n; tries++, k++) {
		hk = &h->key[k];
		if (hk->len && hk->parent == node &&
		    same_bytes(s, sc->end, hk->pat, hk->len)) {
			sc->hk = k + 1;
			*want = hk->want;
			if (*want != NO_NODE)
				forget_below(sc, *want);
			return s + hk->len;
		}
	}
	return NULL;
}

/* How far past the two predicted places an unpredicted key is looked for
 * among the remembered ones (optional keys left out of this text). */
#define HINT_LOOK_AHEAD 8

/* The key s[0..e) (between its quotes; e is the closing quote) that the
 * hint did not predict: found a few places on (the keys between were left
 * out of this text), or written in at its place for the next text, the
 * keys from there on moved one up while there is room; the hint thus
 * converges on an order holding every optional key. A key with escapes, a
 * long one or one not followed directly by ':' takes its place
 * unmatchable, and an unmatchable place is reused rather than moved. */
static void learn(struct scan *sc, int16_t node, const char *s, const char *e,
		  bool esc, int16_t want)
{
	struct kw_json_hint *h = sc->hint;
	struct kw_json_hint_key *hk;
	size_t n = (size_t)(e - s);
	uint32_t k = sc->hk;
	bool plain = !esc && n <= KW_JSON_HINT_KEY_MAX && e + 1 < sc->end &&
		     e[1] == ':';

	if (k >= KW_JSON_HINT_KEYS)
		return;
	for (uint32_t j = k + 2;
	     plain && j < h->n && j < k + 2 + HINT_LOOK_AHEAD; j++) {
		hk = &h->key[j];
		if (hk->len == n + 2 && hk->parent == node &&
		    memcmp(hk->pat, s, n) == 0) {
			sc->hk = j + 1;
			return;
		}
	}
	if (k < h->n && h->n < KW_JSON_HINT_KEYS && h->key[k].len != 0) {
		memmove(&h->key[k + 1], &h->key[k],
			(h->n - k) * sizeof(*h->key));
		h->n++;
	}
	hk = &h->key[k];
	sc->hk = k + 1;
	if (sc->hk > h->n)
		h->n = sc->hk;
	hk->len = 0;
	hk->flat = 0;
	hk->need = 0;
	if (!plain)
		return;
	memset(hk->pat, 0, sizeof(hk->pat));
	memcpy(hk->pat, s, n);
	hk->pat[n] = '"';
	hk->pat[n + 1] = ':';
	hk->len = (uint8_t)(n + 2);
	if (node == 0 && n + 3 <= 15) {
		memset(hk->fpat, 0, sizeof(hk->fpat));
		hk->fpat[0] = '"';
		memcpy(hk->fpat + 1, hk->pat, hk->len);
		hk->flat = (uint8_t)(n + 3);
		hk->need = (uint16_t)((1u << hk->flat) - 1);
	}
	hk->parent = node;
	hk->want = want;
	hk->term = want == NO_NODE ? 0 : sc->ps->nodes[want].term;
	hk->slot = hk->term && !(hk->term & (hk->term - 1))
			   ? (int16_t)__builtin_ctzll(hk->term)
			   : -1;
}

/* scan_key without a prediction: scan the key, look it up, teach the
 * hint. */
static const char *scan_key_slow(struct scan *sc, int16_t node, const char *s,
				 int16_t *want)
{
	const char *e;
	bool esc;

	if (s >= sc->end)
		return fail(sc, s, "unexpected end of input");
	if (*s != '"')
		return fail(sc, s, "expected string key");
	e = scan_string(sc, s + 1, &esc);
	if (!e)
		return NULL;
	if (node != NO_NODE) {
		*want = match_key(sc->ps, node, s + 1, (size_t)(e - s - 1),
				  esc);
		if (*want != NO_NODE)
			forget_below(sc, *want);
		if (sc->hint)
			learn(sc, node, s + 1, e, esc, *want);
	}
	s = skip_ws(e + 1, sc->end);
	if (s >= sc->end)
		return fail(sc, s, "unexpected end of input");
	if (*s != ':')
		return fail(sc, s, "expected ':'");
	return skip_ws(s + 1, sc->end);
}

/* Parse an object key and its ':' at s (whitespace skipped); sets *want to
 * the trie node of the member's value. Returns the byte after the ':'
 * and following whitespace. */
static inline const char *scan_key(struct scan *sc, const struct stack *st,
				   size_t depth, const char *s, int16_t *want)
{
	int16_t node = depth <= SEG_MAX + 1 ? st->node[depth] : NO_NODE;

	*want = NO_NODE;
	if (node != NO_NODE && sc->hint && s < sc->end && *s == '"') {
		const char *e = predict(sc, node, s + 1, want);

		if (e)
			return skip_ws(e, sc->end);
	}
	return scan_key_slow(sc, node, s, want);
}

static enum kw_status parse(struct scan *sc)
{
	struct stack st;
	const char *s = skip_ws(sc->base, sc->end), *end = sc->end;
	size_t depth = 0; /* open containers */
	int16_t want = 0; /* the top-level object is the trie root */

	st.kind[0] = 0; /* depths 1 to 7; each later byte starts at push */
	if (s >= end || (*s != '{' && *s != '['))
		goto top;
	for (;;) {
		/* a value at s, whitespace skipped, at depth + 1 */
		if (depth >= KW_JSON_MAX_DEPTH) {
			fail(sc, s, "maximum depth exceeded");
			break;
		}
		if (s < end && (*s == '{' || *s == '[')) {
			push(sc, &st, ++depth, s, want);
			s = skip_ws(s + 1, end);
			if (s < end && (*s == '}' || *s == ']') &&
			    (*s == '}') == is_object(&st, depth)) {
				pop(sc, &st, depth--, s);
				s++;
				goto after;
			}
			if (is_object(&st, depth)) {
				s = scan_key(sc, &st, depth, s, &want);
				if (!s)
					break;
			} else {
				want = NO_NODE;
			}
			continue;
		}
		if (s >= end) {
			fail(sc, s, "unexpected end of input");
			break;
		}
		s = scan_scalar(sc, s, want);
		if (!s)
			break;
	after:
		/* after a value at depth + 1: a separator or a close */
		for (;;) {
			char close;

			s = skip_ws(s, end);
			if (depth == 0) {
				if (s < end)
					fail(sc, s, "end of input expected");
				return sc->st;
			}
			close = is_object(&st, depth) ? '}' : ']';
			if (s < end && *s == ',') {
				s = skip_ws(s + 1, end);
				want = NO_NODE;
				if (close == '}')
					s = scan_key(sc, &st, depth, s, &want);
				break;
			}
			if (s < end && *s == close) {
				pop(sc, &st, depth--, s);
				s++;
				continue;
			}
			if (s >= end)
				fail(sc, s, "unexpected end of input");
			else
				fail(sc, s,
				     close == '}' ? "expected ',' or '}'"
						  : "expected ',' or ']'");
			return sc->st;
		}
		if (!s)
			break;
	}
	return sc->st;
top:
	fail(sc, s, "expected '{' or '['");
	return sc->st;
}

/* The bytes of the hint's key hk ('"', the key, '"' and ':') when the
 * text at s (an opening quote, with 16 bytes to read) is that key of the
 * top-level object; else 0. One comparison; a key with flat 0 (too long,
 * nested, unmatchable) has need 0 and never matches here. */
static inline size_t flat_key(const struct kw_json_hint_key *hk, const char *s)
{
#ifdef __SSE2__
	__m128i a = _mm_loadu_si128((const __m128i *)(const void *)s);
	__m128i p = _mm_loadu_si128((const __m128i *)(const void *)hk->fpat);
	unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, p));

	return (m & hk->need) == hk->need ? hk->flat : 0;
#else
	return hk->flat && memcmp(s, hk->fpat, hk->flat) == 0 ? hk->flat : 0;
#endif
}

/* flat_key for what it leaves: a key near the end of the text or longer
 * than 12 bytes, compared byte for byte; s is at the opening quote. */
static inline size_t flat_key_long(const struct kw_json_hint_key *hk,
				   const char *s, const char *end)
{
	if (hk->parent != 0 || hk->len == 0 || s >= end || *s != '"' ||
	    !same_bytes(s + 1, end, hk->pat, hk->len))
		return 0;
	return 1 + (size_t)hk->len;
}

/* A number of at most 15 digits without an exponent (what logs write: a
 * status, a count, epoch seconds with milliseconds) at s: its value as
 * scan_scalar gives it, and the byte after it. NULL for anything else,
 * valid or not, which then takes scan_scalar. */
/* Whether the 8 bytes at s are all digits; if so their value in *v
 * (the first byte the most significant; little-endian loads). */
static inline bool eight_digits(const char *s, uint64_t *v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t w, hi = UINT64_C(0xF0F0F0F0F0F0F0F0);

	memcpy(&w, s, 8);
	/* each byte 0x30..0x39: its high nibble is 3, and adding 6 keeps
	 * it 3 */
	if (((w & hi) | (((w + UINT64_C(0x0606060606060606)) & hi) >> 4)) !=
	    UINT64_C(0x3333333333333333))
		return false;
	w -= UINT64_C(0x3030303030303030);
	/* pairs of digits, then fours, then the eight */
	w = w * 10 + (w >> 8);
	w = ((w & UINT64_C(0x000000FF000000FF)) *
		     (100 + (UINT64_C(1000000) << 32)) +
	     ((w >> 16) & UINT64_C(0x000000FF000000FF)) *
		     (1 + (UINT64_C(10000) << 32))) >>
	    32;
	*v = (uint32_t)w;
	return true;
#else
	(void)s;
	(void)v;
	return false;
#endif
}

static inline const char *flat_number(const char *s, const char *end,
				      struct kw_json_value *v)
{
	const char *p = s + (*s == '-'), *q = p, *f;
	uint64_t m = 0, e8;

	if (end - q >= 8 && eight_digits(q, &e8)) {
		m = e8;
		q += 8;
	}
	while (q < end && (unsigned char)(*q - '0') < 10)
		m = m * 10 + (uint64_t)(*q++ - '0');
	if (q == p || q - p > 15 || (*p == '0' && q - p > 1))
		return NULL;
	if (q == end || (*q != '.' && *q != 'e' && *q != 'E')) {
		if (q < end && *q == '\0')
			return NULL; /* jansson's NUL quirk: scan_scalar */
		v->type = KW_JSON_INTEGER;
		v->i = *s == '-' ? -(int64_t)m : (int64_t)m;
		v->d = (double)v->i;
		v->n = (size_t)(q - s);
		return q;
	}
	if (*q != '.')
		return NULL;
	f = ++q;
	while (q < end && (unsigned char)(*q - '0') < 10)
		m = m * 10 + (uint64_t)(*q++ - '0');
	if (q == f || q - p - 1 > 15 ||
	    (q < end && (*q == 'e' || *q == 'E' || *q == '\0')))
		return NULL;
	/* Clinger: m and 10^(q - f) are exact, so is their quotient */
	v->type = KW_JSON_REAL;
	v->i = 0;
	v->d = (double)m / pow10_exact[q - f];
	if (*s == '-')
		v->d = -v->d;
	v->n = (size_t)(q - s);
	return q;
}

/* true or false at s, as scan_scalar reads them, and the byte after;
 * NULL for anything else (null, or a NUL right after the literal, which
 * scan_scalar skips for jansson's quirk). */
static inline const char *flat_literal(const char *s, const char *end,
				       struct kw_json_value *v)
{
	size_t n = *s == 't' ? 4 : 5;
	uint32_t w, want;

	/* the last four bytes of "true" or "false" in one comparison */
	if ((size_t)(end - s) <= n)
		return NULL;
	memcpy(&w, s + n - 4, 4);
	memcpy(&want, n == 4 ? "true" : "alse", 4);
	if (w != want || s[n] == '\0')
		return NULL;
	v->type = n == 4 ? KW_JSON_TRUE : KW_JSON_FALSE;
	v->n = n;
	v->i = 0;
	v->d = 0;
	return s + n;
}

/* parse_flat's key when the one-comparison check did not confirm it:
 * after white space, a key longer than 12 bytes or one in the text's last
 * 16 bytes (confirmed byte for byte), or one the hint does not predict
 * (scanned, looked up and learnt). Moves *hk past the key; sets *want.
 * Returns the byte after the ':', which is within the text, or NULL. */
static const char *flat_miss(struct scan *sc, const char *s,
			     const struct kw_json_hint_key **hk, int16_t *want)
{
	const struct kw_json_hint *h = sc->hint;
	const struct kw_json_hint_key *k = *hk, *hend = h->key + h->n;
	const char *end = sc->end;
	size_t n = 0;

	s = skip_ws(s, end);
	for (int i = 0; i < 2 && k + i < hend; i++) {
		if (end - s >= 16)
			n = flat_key(k + i, s);
		if (!n)
			n = flat_key_long(k + i, s, end);
		if (n) {
			*hk = k + i + 1;
			*want = k[i].want;
			return s + n < end ? s + n : NULL;
		}
	}
	sc->hk = (uint32_t)(k - h->key);
	s = scan_key_slow(sc, 0, s, want);
	if (!s || s >= end)
		return NULL;
	/* learning moves the keys */
	*hk = h->key + sc->hk;
	return s;
}

/* The escaped strings the flat path picked, unescaped once it is sure of
 * the text (the general parser would allocate the same, in the same
 * order). More than this many: the general parser. */
#define FLAT_PENDING 16

struct pending {
	const char *p; /* the raw string body */
	size_t n;
	uint64_t term; /* the paths it is the value of */
};

/* The usual log line, one object of scalars whose keys the hint predicts,
 * without the general parser's stack: the same lexers, the same answer,
 * and nothing allocated before the text is known to be valid. False on
 * anything else (a nested container, white space the fast checks do not
 * expect, any error): the general parser then does the whole text again,
 * and out[] and the hint's position must be reset first. True: the answer
 * is in sc (KW_OK, or KW_ENOMEM with out[] to be cleared).
 *
 * No duplicate key needs forgetting what was picked below it (as the
 * general parser's forget_below): below a key of the top-level object
 * only an object value picks anything, and those are not flat. */
static bool parse_flat(struct scan *sc)
{
	const char *s = skip_ws(sc->base, sc->end), *end = sc->end;
	const struct node *nodes = sc->ps->nodes;
	const struct kw_json_hint *h = sc->hint;
	/* the next key predicted, and the end of the keys */
	const struct kw_json_hint_key *hk = h->key + sc->hk,
				      *hend = h->key + h->n;
	struct pending pend[FLAT_PENDING];
	size_t npend = 0;
	uint64_t set = 0; /* the slots written (sc->set once it is true) */

	if (s >= end || *s != '{')
		return false;
	s = skip_ws(s + 1, end);
	for (;;) {
		const struct kw_json_hint_key *hit = NULL;
		int16_t want;
		uint64_t term;
		size_t n = 0;
		int slot;

		/* the predicted key or the one after it, each in one
		 * comparison (its quotes and ':' included) */
		if (end - s >= 16) {
			if (hk < hend && (n = flat_key(hk, s)) != 0)
				hit = hk;
			else if (hk + 1 < hend &&
				 (n = flat_key(hk + 1, s)) != 0)
				hit = hk + 1;
		}
		if (hit) {
			/* n < 16 <= end - s: a byte is left */
			hk = hit + 1;
			s += n;
			want = hit->want;
			term = hit->term;
			slot = hit->slot;
		} else {
			s = flat_miss(sc, s, &hk, &want);
			if (!s)
				return false;
			hend = h->key + h->n;
			term = want == NO_NODE ? 0 : nodes[want].term;
			slot = term && !(term & (term - 1))
				       ? __builtin_ctzll(term)
				       : -1;
		}
		set |= term;
		if ((unsigned char)*s <= ' ') {
			s = skip_ws(s, end);
			if (s >= end)
				return false;
		}
		if (*s == '"') {
			const char *e = string_stop(sc->ps, s + 1, end);
			bool esc = false;

			if (e == end || *e != '"') {
				e = scan_string(sc, e, &esc);
				if (!e)
					return false;
			}
			if (slot >= 0 && !esc) {
				struct kw_json_value *o = &sc->out[slot];

				o->type = KW_JSON_STRING;
				o->p = s + 1;
				o->n = (size_t)(e - s - 1);
				o->i = 0;
				o->d = 0;
			} else if (term) {
				if (esc) {
					if (npend == FLAT_PENDING)
						return false;
					pend[npend++] = (struct pending){
						s + 1, (size_t)(e - s - 1),
						term};
				}
				set_string(sc->out, term, s + 1,
					   (size_t)(e - s - 1));
			}
			s = e + 1;
		} else {
			struct kw_json_value scratch, *v = &scratch;
			const char *e = NULL;

			/* the usual case, one path: straight into its slot */
			if (slot >= 0)
				v = &sc->out[slot];
			v->p = s;
			if (*s == '-' || is_digit((unsigned char)*s))
				e = flat_number(s, end, v);
			else if (*s == 't' || *s == 'f')
				e = flat_literal(s, end, v);
			if (e) {
				if (v == &scratch && term)
					set_paths(sc->out, term, v);
				s = e;
			} else {
				if (*s == '{' || *s == '[')
					return false;
				s = scan_scalar(sc, s, want);
				if (!s)
					return false;
			}
		}
		if (s < end && *s == ',') {
			s++; /* white space before the key: flat_miss */
			continue;
		}
		s = skip_ws(s, end);
		if (s < end && *s == ',') {
			s = skip_ws(s + 1, end);
			continue;
		}
		if (s >= end || *s != '}' || skip_ws(s + 1, end) != end)
			return false;
		break;
	}
	sc->set = set;
	for (size_t i = 0; i < npend; i++) {
		char *d = kw_arena_alloc(sc->arena, pend[i].n + 1);
		struct kw_json_value v = {.type = KW_JSON_STRING, .p = d};

		if (!d) {
			sc->st = KW_ENOMEM;
			break;
		}
		v.n = unescape(pend[i].p, pend[i].n, d);
		d[v.n] = '\0';
		/* where a later duplicate key has not replaced it */
		for (uint64_t m = pend[i].term; m; m &= m - 1) {
			struct kw_json_value *o = &sc->out[__builtin_ctzll(m)];

			if (o->type == KW_JSON_STRING && o->p == pend[i].p)
				*o = v;
		}
	}
	return true;
}

void kw_json_hint_reset(struct kw_json_hint *hint)
{
	hint->paths = NULL;
	hint->n = 0;
	hint->flat = false;
	clear_paths(hint->val, hint->set);
	hint->set = 0;
}

static void clear_all(struct kw_json_value *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (struct kw_json_value){.type = KW_JSON_ABSENT};
}

/* The slots of every path of ps. */
static inline uint64_t all_slots(const struct kw_json_paths *ps)
{
	return ps->npaths >= 64 ? ~UINT64_C(0)
				: (UINT64_C(1) << ps->npaths) - 1;
}

/* kw_json_scan into out, with hint (NULL: none) predicting the keys; with
 * a hint, out is hint->val and only its slots in hint->set may be other
 * than ABSENT on entry, and are so again on return. */
static enum kw_status scan_into(const struct kw_json_paths *paths,
				struct kw_json_hint *hint, const char *text,
				size_t len, struct kw_json_value *out,
				struct kw_arena *arena, struct kw_error *err)
{
	struct scan sc = {
		.base = text,
		.end = text + len,
		.ps = paths,
		.out = out,
		.arena = arena,
		.hint = hint,
		.hk = 0,
		.set = 0,
		.st = KW_OK,
	};

	if (hint && hint->paths != paths) {
		/* nodes of another path set mean nothing here */
		kw_json_hint_reset(hint);
		hint->paths = paths;
	}
	if (hint && hint->flat) {
		sc.no_alloc = true;
		if (parse_flat(&sc)) {
			if (sc.st != KW_OK)
				goto failed;
			/* what the last text had and this one has not */
			clear_paths(out, hint->set & ~sc.set);
			hint->set = sc.set;
			return KW_OK;
		}
		/* start again; what the flat path learnt stays */
		sc.no_alloc = false;
		sc.hk = 0;
		sc.st = KW_OK;
	}
	clear_all(out, paths->npaths);
	if (hint)
		hint->set = 0;
	if (parse(&sc) == KW_OK) {
		if (hint) {
			const char *s = skip_ws(text, sc.end);

			hint->flat = !sc.deep && s < sc.end && *s == '{';
			hint->set = all_slots(paths);
		}
		return KW_OK;
	}
failed:
	clear_all(out, paths->npaths);
	if (hint)
		hint->set = 0;
	if (sc.st == KW_ENOMEM)
		return kw_error_set(err, KW_ENOMEM,
				    "JSON scan: arena exhausted");
	return kw_error_set(err, KW_EINVAL, "invalid JSON at column %zu: %s",
			    sc.fail_at + 1, sc.reason);
}

enum kw_status kw_json_scan_hinted(const struct kw_json_paths *paths,
				   struct kw_json_hint *hint, const char *text,
				   size_t len, struct kw_arena *arena,
				   struct kw_error *err)
{
	return scan_into(paths, hint, text, len, hint->val, arena, err);
}

enum kw_status kw_json_scan(const struct kw_json_paths *paths, const char *text,
			    size_t len, struct kw_json_value *out,
			    struct kw_arena *arena, struct kw_error *err)
{
	return scan_into(paths, NULL, text, len, out, arena, err);
}
