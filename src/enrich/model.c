/*
 * model.c - applying the API models to events (the hot path) and the small
 * queries on a loaded model set. Loading lives in model_load.c.
 *
 * The one idea: the path is split into segments once, on the stack, and
 * walked down the chosen model's route trie. At each node a literal child is
 * found by binary search (length, then memcmp) and tried first; only when
 * the rest of the path fails under it is the {placeholder} child tried, so
 * the most specific route wins ("/v1/customers/search" beats
 * "/v1/customers/{id}") without scoring. Nothing is allocated unless the
 * path matches no route: then it is normalised (id-looking segments become
 * {id}) into "METHOD /v1/things/{id}", allocated from the caller's arena.
 */
#include "enrich/model.h"
#include "enrich/model_impl.h"

#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/le.h"

/* ------------------------------------------------------------------------ */
/* Shared helpers (also used by the loader). */

uint32_t kw_models_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

uint64_t kw_models_op_hash(const char *s, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, s + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	if (i < n) {
		uint64_t w = 0;

		memcpy(&w, s + i, n - i);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return h;
}

int32_t kw_models_op_find(const struct kw_model *md, const char *name, size_t n)
{
	size_t i;
	uint32_t slot;

	if (!md->ophash)
		return -1;
	i = kw_models_hash(name, n) & md->ophash_mask;
	while ((slot = md->ophash[i]) != 0) {
		const struct kw_op_info *op = &md->ops[slot - 1];

		if (op->name.n == n && memcmp(op->name.p, name, n) == 0)
			return (int32_t)(slot - 1);
		i = (i + 1) & md->ophash_mask;
	}
	return -1;
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
	return is_lower(c) || is_upper(c) || is_digit(c);
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

enum kw_access kw_models_rule_access(const struct kw_model *md, const char *op,
				     size_t n)
{
	const char *act = op;
	size_t actn = n, i;

	/* The action is the text after the last separator. */
	if (md->sep_n && n >= md->sep_n) {
		for (i = n - md->sep_n + 1; i-- > 0;) {
			if (memcmp(op + i, md->sep, md->sep_n) == 0) {
				act = op + i + md->sep_n;
				actn = n - i - md->sep_n;
				break;
			}
		}
	}
	for (i = 0; i < md->nread_prefixes; i++) {
		size_t pn = md->read_prefix_n[i];

		/* "Get" matches "GetObject", not "Getaway": a word boundary. */
		if (actn >= pn && memcmp(act, md->read_prefixes[i], pn) == 0 &&
		    (actn == pn || !is_lower(act[pn])))
			return KW_ACCESS_READ;
	}
	return md->default_access;
}

size_t kw_models_version_suffix(const struct kw_model *md, const char *op,
				size_t n)
{
	size_t i, e = n, digits = 0;

	/* "v2" after the date */
	while (e > 0 && is_digit(op[e - 1]))
		e--;
	if (e > 0 && e < n && op[e - 1] == 'v')
		e--;
	else
		e = n;
	while (e > 0 && is_digit(op[e - 1]) && digits < 8) {
		e--;
		digits++;
	}
	if (digits != 8 || e == 0 ||
	    !(is_lower(op[e - 1]) || is_upper(op[e - 1])))
		return 0;
	for (i = 0; i < md->nversioned; i++) {
		size_t sn = md->versioned_n[i];

		if (n > sn + md->sep_n &&
		    memcmp(op, md->versioned[i], sn) == 0 &&
		    memcmp(op + sn, md->sep, md->sep_n) == 0 &&
		    e > sn + md->sep_n)
			return n - e;
	}
	return 0;
}

const char *kw_tier_name(enum kw_tier t)
{
	static const char *const names[KW_TIER_MAX] = {
		[KW_TIER_NONE] = "",
		[KW_TIER_ROUTINE] = "routine",
		[KW_TIER_FIRST_SIGHT] = "first-sight",
		[KW_TIER_NEVER_ROUTINE] = "never-routine",
	};

	return (unsigned)t < KW_TIER_MAX ? names[t] : "";
}

const char *kw_tactic_name(enum kw_tactic t)
{
	static const char *const names[KW_TACTIC_MAX] = {
		[KW_TACTIC_NONE] = "",
		[KW_TACTIC_INITIAL_ACCESS] = "initial-access",
		[KW_TACTIC_EXECUTION] = "execution",
		[KW_TACTIC_PERSISTENCE] = "persistence",
		[KW_TACTIC_PRIVILEGE_ESCALATION] = "privilege-escalation",
		[KW_TACTIC_DEFENSE_EVASION] = "defense-evasion",
		[KW_TACTIC_CREDENTIAL_ACCESS] = "credential-access",
		[KW_TACTIC_DISCOVERY] = "discovery",
		[KW_TACTIC_LATERAL_MOVEMENT] = "lateral-movement",
		[KW_TACTIC_COLLECTION] = "collection",
		[KW_TACTIC_EXFILTRATION] = "exfiltration",
		[KW_TACTIC_IMPACT] = "impact",
	};

	return (unsigned)t < KW_TACTIC_MAX ? names[t] : "";
}

/* Up to 8 bytes, upper-cased, as one little-endian number. */
static uint64_t method_word(const char *s, size_t n)
{
	uint64_t w = 0;

	for (size_t i = 0; i < n; i++) {
		char c = is_lower(s[i]) ? (char)(s[i] - 'a' + 'A') : s[i];

		w |= (uint64_t)(unsigned char)c << (8 * i);
	}
	return w;
}

#define C(c, i) ((uint64_t)(unsigned char)(c) << (8 * (i)))

enum kw_model_method kw_models_method_id(const char *s, size_t n)
{
	uint64_t w;

	if (n == 0)
		return KW_M_ANY;
	if (n > 7)
		return KW_M_OTHER;
	w = method_word(s, n);
	switch (n) {
	case 3:
		if (w == (C('G', 0) | C('E', 1) | C('T', 2)))
			return KW_M_GET;
		if (w == (C('P', 0) | C('U', 1) | C('T', 2)))
			return KW_M_PUT;
		break;
	case 4:
		if (w == (C('P', 0) | C('O', 1) | C('S', 2) | C('T', 3)))
			return KW_M_POST;
		if (w == (C('H', 0) | C('E', 1) | C('A', 2) | C('D', 3)))
			return KW_M_HEAD;
		break;
	case 5:
		if (w ==
		    (C('P', 0) | C('A', 1) | C('T', 2) | C('C', 3) | C('H', 4)))
			return KW_M_PATCH;
		break;
	case 6:
		if (w == (C('D', 0) | C('E', 1) | C('L', 2) | C('E', 3) |
			  C('T', 4) | C('E', 5)))
			return KW_M_DELETE;
		break;
	case 7:
		if (w == (C('O', 0) | C('P', 1) | C('T', 2) | C('I', 3) |
			  C('O', 4) | C('N', 5) | C('S', 6)))
			return KW_M_OPTIONS;
		break;
	default:
		break;
	}
	return KW_M_OTHER;
}

#undef C

void kw_models_node_free(struct kw_model_node *nd)
{
	size_t i;

	if (!nd)
		return;
	for (i = 0; i < nd->nlit; i++)
		kw_models_node_free(nd->lit[i].node);
	kw_models_node_free(nd->wild);
	free(nd->lit);
	free(nd);
}

/* ------------------------------------------------------------------------ */
/* Keys */

static const struct kw_model_prefix *find_prefix(const struct kw_models *m,
						 const char *key, size_t n)
{
	size_t i, last;

	/* A prefix names one of m->v: none without models (said so that
	 * the analyzer sees a prefix's model is never NULL). */
	if (!key || n == 0 || !m->v)
		return NULL;
	/* Only those that begin with the key's first byte, longest first, so
	 * the first hit is the best one. */
	last = m->px_start[(unsigned char)key[0] + 1];
	i = m->px_start[(unsigned char)key[0]];
	if (n >= 8) {
		/* the key's first 8 bytes against each prefix's in one step,
		 * the rest of a longer prefix after */
		uint64_t k8 = kw_le_get64((const unsigned char *)key);

		for (; i < last; i++) {
			const struct kw_model_prefix *px = &m->prefixes[i];

			if ((k8 & px->m8) == px->w8 &&
			    (px->n <= 8 ||
			     (px->n <= n &&
			      memcmp(px->s + 8, key + 8, px->n - 8) == 0)))
				return px;
		}
		return NULL;
	}
	for (; i < last; i++) {
		const struct kw_model_prefix *px = &m->prefixes[i];

		if (px->n <= n && memcmp(px->s, key, px->n) == 0)
			return px;
	}
	return NULL;
}

void kw_models_key_kind(const struct kw_models *m, const char *key, size_t n,
			enum kw_key_kind *kind, enum kw_key_mode *mode)
{
	const struct kw_model_prefix *px = m ? find_prefix(m, key, n) : NULL;

	if (kind)
		*kind = px ? px->kind : KW_KIND_UNKNOWN;
	if (mode)
		*mode = px ? px->mode : KW_MODE_UNKNOWN;
}

const char *kw_models_request_link(const struct kw_models *m, const char *key,
				   size_t n, enum kw_key_mode mode)
{
	const struct kw_model_prefix *px = m ? find_prefix(m, key, n) : NULL;
	const struct kw_model *md = px ? &m->v[px->model] : NULL;

	if (!md)
		return NULL;
	if (mode == KW_MODE_TEST && md->link_request_test)
		return md->link_request_test;
	return md->link_request;
}

/* ------------------------------------------------------------------------ */
/* Paths */

struct seg {
	uint32_t off, n;
};

struct segs {
	struct seg v[KW_MODEL_MAX_SEGS];
	size_t n;
	bool more; /* the path had more segments than v holds */
};

/* Split at '/', skipping empty segments; stop at '?' or '#'. */
static void split_path(const char *p, size_t n, struct segs *out)
{
	size_t i = 0, start;

	out->n = 0;
	out->more = false;
	while (i < n && p[i] != '?' && p[i] != '#') {
		if (p[i] == '/') {
			i++;
			continue;
		}
		start = i;
		i = kw_str_find3(p, i, n, '/', '?', '#');
		if (out->n == KW_MODEL_MAX_SEGS) {
			out->more = true;
			return;
		}
		out->v[out->n].off = (uint32_t)start;
		out->v[out->n].n = (uint32_t)(i - start);
		out->n++;
	}
}

static const struct kw_model_child *find_lit(const struct kw_model_node *nd,
					     const char *s, size_t n)
{
	size_t lo = 0, hi = nd->nlit;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct kw_model_child *c = &nd->lit[mid];
		int cmp;

		if (c->n != n)
			cmp = c->n < n ? -1 : 1;
		else
			cmp = memcmp(c->s, s, n);
		if (cmp == 0)
			return c;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Depth-first, literal before placeholder; depth is bounded by
 * KW_MODEL_MAX_SEGS. Returns the op index or -1. */
static int32_t match_node(const struct kw_model_node *nd, const char *path,
			  const struct segs *sg, size_t i,
			  enum kw_model_method mid)
{
	const struct kw_model_child *c;
	int32_t r;

	if (i == sg->n) {
		r = mid < KW_M_ROUTE_SLOTS ? nd->route[mid] : -1;
		return r >= 0 ? r : nd->route[KW_M_ANY];
	}
	c = find_lit(nd, path + sg->v[i].off, sg->v[i].n);
	if (c) {
		r = match_node(c->node, path, sg, i + 1, mid);
		if (r >= 0)
			return r;
	}
	if (nd->wild)
		return match_node(nd->wild, path, sg, i + 1, mid);
	return -1;
}

/* ---- the path-match cache ---- */

/* A literal of some route: its text, and its number (1..) in shapes. a
 * and b are its first and last 8 bytes (a alone, zero-padded, when it is
 * shorter), which with the length are the whole text up to 16 bytes. */
struct word {
	uint64_t a, b;
	const char *s;
	uint32_t n;
	uint16_t id; /* 0: empty slot */
};

/* One cached match: a shape and the op it matched (-1: none). */
struct shape {
	uint64_t hash;
	int32_t r;
	uint8_t mid, n, used;
	uint16_t w[KW_MODEL_MAX_SEGS];
};

/* One path matched before, in front of the shapes: the method's bytes as
 * the event had them, the path's bytes, and the op they matched. Logs ask
 * for the same paths again and again (collections, the same object), and
 * a hit needs no split, no word per segment and no shape. Only matches
 * are kept: a path no route matches is normalised into the batch's arena
 * on every event. */
#define MEMO_PATH_MAX 48
#define MEMO_SLOTS 4096

struct memo {
	uint64_t method; /* its first (at most 8) bytes; method_n says */
	int32_t r;	 /* the op */
	uint8_t method_n;
	uint8_t n; /* path bytes; 0: empty slot */
	char path[MEMO_PATH_MAX];
};

struct model_cache {
	struct word *words; /* open addressing */
	size_t words_mask;
	struct shape *slot; /* KW_MODELS_CACHE_SLOTS, direct-mapped */
	struct memo *memo;  /* MEMO_SLOTS, direct-mapped; made on first use */
};

struct kw_models_cache {
	const struct kw_models *m;
	struct model_cache *v; /* one per model */
};

/* The first and last 8 bytes of s[0..n) (struct word), read in place; s
 * may be read up to end. */
static inline void seg_ends(const char *s, size_t n, const char *end,
			    uint64_t *a, uint64_t *b)
{
	*a = 0;
	*b = 0;
	if (n >= 8) {
		memcpy(a, s, 8);
		memcpy(b, s + n - 8, 8);
		return;
	}
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (n > 0 && end - s >= 8) {
		memcpy(a, s, 8);
		*a &= (UINT64_C(1) << (8 * n)) - 1;
		return;
	}
#else
	(void)end;
#endif
	for (size_t i = 0; i < n; i++)
		*a |= (uint64_t)(unsigned char)s[i] << (8 * i);
}

static inline uint64_t word_hash(uint64_t a, uint64_t b, size_t n)
{
	uint64_t h = (a ^ (uint64_t)n * UINT64_C(0x9E3779B97F4A7C15)) *
		     UINT64_C(0xBF58476D1CE4E5B9);

	h ^= b * UINT64_C(0x94D049BB133111EB);
	return h ^ (h >> 31);
}

/* The number of segment s[0..n) (readable up to end) among the literals,
 * 0 when it is none. */
static inline uint16_t word_id(const struct model_cache *mc, const char *s,
			       size_t n, const char *end)
{
	uint64_t a, b;
	size_t i;

	seg_ends(s, n, end, &a, &b);
	i = word_hash(a, b, n) & mc->words_mask;
	for (; mc->words[i].id; i = (i + 1) & mc->words_mask) {
		const struct word *w = &mc->words[i];

		if (w->n == n && w->a == a && w->b == b &&
		    (n <= 16 || memcmp(w->s + 8, s + 8, n - 16) == 0))
			return w->id;
	}
	return 0;
}

static size_t count_words(const struct kw_model_node *nd)
{
	size_t n = nd->nlit;

	for (size_t i = 0; i < nd->nlit; i++)
		n += count_words(nd->lit[i].node);
	if (nd->wild)
		n += count_words(nd->wild);
	return n;
}

/* Number every distinct literal of the trie under nd (depth bounded by
 * KW_MODEL_MAX_SEGS); *next is the next free number. */
static void add_words(struct model_cache *mc, const struct kw_model_node *nd,
		      uint16_t *next)
{
	for (size_t i = 0; i < nd->nlit; i++) {
		const struct kw_model_child *c = &nd->lit[i];

		if (!word_id(mc, c->s, c->n, c->s + c->n)) {
			uint64_t a, b;
			size_t k;

			seg_ends(c->s, c->n, c->s + c->n, &a, &b);
			k = word_hash(a, b, c->n) & mc->words_mask;
			while (mc->words[k].id)
				k = (k + 1) & mc->words_mask;
			mc->words[k] = (struct word){.a = a,
						     .b = b,
						     .s = c->s,
						     .n = c->n,
						     .id = (*next)++};
		}
		add_words(mc, c->node, next);
	}
	if (nd->wild)
		add_words(mc, nd->wild, next);
}

enum kw_status kw_models_cache_create(const struct kw_models *m,
				      struct kw_models_cache **out)
{
	struct kw_models_cache *c = NULL;
	enum kw_status st = KW_ENOMEM;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		goto cleanup;
	c->m = m;
	if (!m || m->n == 0) {
		*out = c;
		c = NULL;
		st = KW_OK;
		goto cleanup;
	}
	c->v = calloc(m->n, sizeof(*c->v));
	if (!c->v)
		goto cleanup;
	for (size_t i = 0; i < m->n; i++) {
		struct model_cache *mc = &c->v[i];
		size_t nwords = m->v[i].root ? count_words(m->v[i].root) : 0;
		size_t size = 16;
		uint16_t next = 1;

		/* more literals than shapes can number: this model's
		 * matches are not cached */
		if (nwords >= UINT16_MAX)
			continue;
		while (size < 2 * nwords)
			size *= 2;
		mc->words = calloc(size, sizeof(*mc->words));
		mc->slot = calloc(KW_MODELS_CACHE_SLOTS, sizeof(*mc->slot));
		if (!mc->words || !mc->slot)
			goto cleanup;
		mc->words_mask = size - 1;
		if (m->v[i].root)
			add_words(mc, m->v[i].root, &next);
	}
	*out = c;
	c = NULL;
	st = KW_OK;
cleanup:
	kw_models_cache_destroy(c);
	return st;
}

void kw_models_cache_destroy(struct kw_models_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->v && i < c->m->n; i++) {
		free(c->v[i].words);
		free(c->v[i].slot);
		free(c->v[i].memo);
	}
	free(c->v);
	free(c);
}

/* match_node through mc, the cache of model md. */
static int32_t match_cached(struct model_cache *mc, const struct kw_model *md,
			    const char *path, size_t path_n,
			    const struct segs *sg, enum kw_model_method mid)
{
	struct shape sh;
	struct shape *slot;
	uint64_t h = (uint64_t)mid * 31 + sg->n;

	sh.mid = (uint8_t)mid;
	sh.n = (uint8_t)sg->n;
	for (size_t i = 0; i < sg->n; i++) {
		sh.w[i] = word_id(mc, path + sg->v[i].off, sg->v[i].n,
				  path + path_n);
		h = (h ^ sh.w[i]) * UINT64_C(0x100000001B3);
	}
	h ^= h >> 29;
	slot = &mc->slot[h & (KW_MODELS_CACHE_SLOTS - 1)];
	if (slot->used && slot->hash == h && slot->mid == sh.mid &&
	    slot->n == sh.n && !memcmp(slot->w, sh.w, sh.n * sizeof(*sh.w)))
		return slot->r;
	sh.r = match_node(md->root, path, sg, 0, mid);
	sh.hash = h;
	sh.used = 1;
	memcpy(slot, &sh, offsetof(struct shape, w) + sh.n * sizeof(*sh.w));
	return sh.r;
}

/* The memo slot of (method, path), and the method's bytes as a number;
 * NULL when the pair cannot be kept (a path of more than MEMO_PATH_MAX
 * bytes, a method of more than 8). */
/* The n <= 8 bytes at s as one number (on a little-endian machine the
 * bytes in order; it is only compared with others made here), in two
 * loads that overlap: the bytes they share are the same, so OR-ing them
 * is exact. */
static inline uint64_t method_bytes(const char *s, size_t n)
{
	uint32_t a, b;
	uint16_t c, d;

	if (n >= 4) {
		memcpy(&a, s, 4);
		memcpy(&b, s + n - 4, 4);
		return a | (uint64_t)b << (8 * (n - 4));
	}
	if (n >= 2) {
		memcpy(&c, s, 2);
		memcpy(&d, s + n - 2, 2);
		return c | (uint64_t)d << (8 * (n - 2));
	}
	return n ? (unsigned char)s[0] : 0;
}

static struct memo *memo_slot(struct model_cache *mc, struct kw_str method,
			      struct kw_str path, uint64_t *mword)
{
	uint64_t h = UINT64_C(0x9E3779B97F4A7C15) ^ path.n, w = 0;
	size_t i = 0;

	if (!mc->memo || path.n > MEMO_PATH_MAX || path.n == 0 || method.n > 8)
		return NULL;
	*mword = w = method_bytes(method.p, method.n);
	h = (h ^ w) * UINT64_C(0xBF58476D1CE4E5B9);
	for (; i + 8 <= path.n; i += 8) {
		uint64_t x;

		memcpy(&x, path.p + i, 8);
		h = (h ^ x) * UINT64_C(0x94D049BB133111EB);
	}
	if (i < path.n) {
		uint64_t x = 0;

		/* the last 8 bytes again (or the few there are) */
		if (path.n >= 8)
			memcpy(&x, path.p + path.n - 8, 8);
		else
			for (size_t k = 0; k < path.n; k++)
				x |= (uint64_t)(unsigned char)path.p[k]
				     << (8 * k);
		h = (h ^ x) * UINT64_C(0x94D049BB133111EB);
	}
	h ^= h >> 31;
	return &mc->memo[h & (MEMO_SLOTS - 1)];
}

static inline bool memo_hit(const struct memo *mo, struct kw_str method,
			    uint64_t mword, struct kw_str path)
{
	return mo->n == path.n && mo->method == mword &&
	       mo->method_n == method.n &&
	       memcmp(mo->path, path.p, path.n) == 0;
}

static int32_t match_route(const struct kw_models *m, struct kw_models_cache *c,
			   const struct kw_model *md, struct kw_str path,
			   const struct segs *sg, enum kw_model_method mid)
{
	struct model_cache *mc;

	if (!md->root || sg->more)
		return -1;
	mc = c && c->m == m ? &c->v[md - m->v] : NULL;
	if (!mc || !mc->slot)
		return match_node(md->root, path.p, sg, 0, mid);
	return match_cached(mc, md, path.p, path.n, sg, mid);
}

/* Whether a path segment looks like an identifier rather than a name: a
 * Stripe-style id (ch_3MxAbc12, sub_sched_1N...), digits, a UUID, long hex,
 * or a long token mixing letters and digits (which also covers keys, so a
 * key in a path never reaches an operation name). */
static bool seg_is_id(const char *s, size_t n)
{
	size_t i, digits = 0, letters = 0, under = n;
	bool hex = true, token = true;

	if (n == 0)
		return false;
	if (n > 64)
		return true;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (is_digit(c))
			digits++;
		else if (is_lower(c) || is_upper(c))
			letters++;
		if (!is_hex(c))
			hex = false;
		if (!is_alnum(c) && c != '_' && c != '-' && c != '.' &&
		    c != '=' && c != '~')
			token = false;
		if (c == '_')
			under = i;
	}
	if (digits == n || (hex && n >= 16))
		return true;
	if (n == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' &&
	    s[23] == '-') {
		for (i = 0; i < n; i++) {
			if (i != 8 && i != 13 && i != 18 && i != 23 &&
			    !is_hex(s[i]))
				break;
		}
		if (i == n)
			return true;
	}
	/* [a-z][a-z_]*_ then 8+ alphanumerics with a digit or a capital. */
	if (under < n && under > 0 && is_lower(s[0]) && n - under - 1 >= 8) {
		bool pre = true, tail = true, mixed = false;

		for (i = 0; i < under; i++)
			pre = pre && (is_lower(s[i]) || s[i] == '_');
		for (i = under + 1; i < n; i++) {
			tail = tail && is_alnum(s[i]);
			mixed = mixed || is_digit(s[i]) || is_upper(s[i]);
		}
		if (pre && tail && mixed)
			return true;
	}
	return token && n >= 16 && digits > 0 && letters > 0;
}

/* "v1", "v2beta", "2024-06-20", "api": skipped when naming a resource. */
static bool seg_is_version(const char *s, size_t n)
{
	size_t i;

	if (n == 3 && memcmp(s, "api", 3) == 0)
		return true;
	if (n >= 2 && s[0] == 'v' && is_digit(s[1])) {
		for (i = 2; i < n; i++) {
			if (!is_alnum(s[i]))
				return false;
		}
		return true;
	}
	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]) && s[i] != '-')
			return false;
	}
	return n > 0;
}

/* Longest normalised op: a method, 16 segments of at most 64 bytes each
 * with their slashes, and the "/..." that marks a longer path. */
#define NORM_MAX (8 + 1 + KW_MODEL_MAX_SEGS * 65 + 4 + 1)

static void normalise(struct kw_event *ev, const struct segs *sg,
		      enum kw_model_method mid, struct kw_arena *arena)
{
	char buf[NORM_MAX];
	size_t len = 0, i, k;
	bool have_res = false;

	ev->resource = KW_STR_NULL;
	if (ev->method.n > 0) {
		k = ev->method.n <= 8 ? ev->method.n : 8;
		for (i = 0; i < k; i++) {
			char c = ev->method.p[i];

			buf[len++] = is_lower(c) ? (char)(c - 'a' + 'A') : c;
		}
		buf[len++] = ' ';
	}
	for (i = 0; i < sg->n; i++) {
		const char *s = ev->path.p + sg->v[i].off;
		size_t n = sg->v[i].n;

		buf[len++] = '/';
		if (seg_is_id(s, n)) {
			memcpy(buf + len, "{id}", 4);
			len += 4;
			continue;
		}
		memcpy(buf + len, s, n);
		len += n;
		if (!have_res && !seg_is_version(s, n)) {
			ev->resource = (struct kw_str){s, n};
			have_res = true;
		}
	}
	if (sg->n == 0)
		buf[len++] = '/';
	if (sg->more) {
		memcpy(buf + len, "/...", 4);
		len += 4;
	}
	ev->op.p = kw_arena_strndup(arena, buf, len);
	ev->op.n = ev->op.p ? len : 0;
	if (mid == KW_M_GET || mid == KW_M_HEAD || mid == KW_M_OPTIONS)
		ev->access = KW_ACCESS_READ;
	else if (mid == KW_M_ANY)
		ev->access = KW_ACCESS_UNKNOWN;
	else
		ev->access = KW_ACCESS_WRITE;
}

/* ------------------------------------------------------------------------ */
/* Enrichment */

static void apply_op(const struct kw_op_info *op, struct kw_event *ev)
{
	ev->info = op;
	ev->op = op->name;
	ev->resource = op->resource;
	ev->access = op->access;
	ev->flags |= KW_EV_MODELLED;
	if (op->reason)
		ev->flags |= KW_EV_SENSITIVE;
	if (op->pk)
		ev->flags |= KW_EV_PK_ALLOWED;
}

static bool declares(const struct kw_model *md, const char *format)
{
	for (size_t i = 0; i < md->nformats; i++) {
		if (!strcmp(md->formats[i], format))
			return true;
	}
	return false;
}

/* The model that classifies a decoder-named op the key's model does not
 * list: md if it has rules; else the first model that declares the
 * event's format; else the first model with rules that declares no
 * format (any model with rules when the event names no format). NULL
 * when none. */
static const struct kw_model *op_model(const struct kw_models *m,
				       const struct kw_model *md,
				       const struct kw_event *ev)
{
	size_t k;

	if (md && md->has_rules)
		return md;
	for (k = 0; ev->format && k < m->n; k++) {
		if (declares(&m->v[k], ev->format))
			return &m->v[k];
	}
	for (k = 0; k < m->n; k++) {
		if (m->v[k].has_rules && (!ev->format || !m->v[k].nformats))
			return &m->v[k];
	}
	return NULL;
}

/* An event whose decoder named the operation (CloudTrail, GCP, GitHub): an
 * API version suffix the rules say to cut is cut; then the key's model if
 * it lists the op, else the op model (op_model) classifies it: its entry,
 * else its rules. */
static void classify_op(const struct kw_models *m, const struct kw_model *md,
			struct kw_event *ev)
{
	const struct kw_model *rm = op_model(m, md, ev);
	int32_t i;
	size_t k;

	if (rm && rm->has_rules)
		ev->op.n -= kw_models_version_suffix(rm, ev->op.p, ev->op.n);
	if (md) {
		i = kw_models_op_find(md, ev->op.p, ev->op.n);
		if (i >= 0) {
			apply_op(&md->ops[i], ev);
			return;
		}
	}
	if (!rm)
		return;
	i = kw_models_op_find(rm, ev->op.p, ev->op.n);
	if (i >= 0) {
		apply_op(&rm->ops[i], ev);
		return;
	}
	if (!rm->has_rules)
		return;
	ev->access = kw_models_rule_access(rm, ev->op.p, ev->op.n);
	if (kw_str_empty(ev->resource) && rm->sep_n) {
		for (k = 0; k + rm->sep_n <= ev->op.n; k++) {
			if (memcmp(ev->op.p + k, rm->sep, rm->sep_n) == 0) {
				ev->resource = (struct kw_str){ev->op.p, k};
				break;
			}
		}
	}
}

/* Whether an identity rule may apply (one names the record's
 * userIdentity.type), or a "people" rule (the operation is sensitive by
 * itself: a first-sight or routine use may be a person's). */
static bool identity_rule(const struct kw_models *m, const struct kw_event *ev)
{
	if (!ev->cloud)
		return false;
	if (m->npeople && ev->info && ev->info->tier != KW_TIER_NONE &&
	    ev->info->tier != KW_TIER_NEVER_ROUTINE)
		return true;
	if (!ev->cloud->id_type.n)
		return false;
	for (size_t i = 0; i < m->nidentities; i++) {
		if (kw_str_eqc(ev->cloud->id_type, m->identities[i].type))
			return true;
	}
	return false;
}

void kw_models_enrich_cached(const struct kw_models *m,
			     struct kw_models_cache *c, struct kw_event *ev,
			     struct kw_arena *arena)
{
	const struct kw_model_prefix *px;
	const struct kw_model *md = NULL;
	struct model_cache *mc;
	struct memo *mo = NULL;
	enum kw_model_method mid;
	uint64_t mword = 0;
	struct segs sg;
	int32_t r = -1;
	size_t k;

	ev->flags &=
		~(uint32_t)(KW_EV_SENSITIVE | KW_EV_PK_ALLOWED |
			    KW_EV_MODELLED | KW_EV_BY_PRINCIPAL | KW_EV_JUDGE);
	ev->info = NULL;
	/* The kind a decoder gave (a format whose keys have no prefix: GCP's
	 * service account keys, GitHub's tokens) stays unless a prefix says
	 * otherwise. */
	ev->key_mode = KW_MODE_UNKNOWN;
	if (!m)
		return;
	px = find_prefix(m, ev->key.p, ev->key.n);
	if (px) {
		ev->key_kind = px->kind;
		ev->key_mode = px->mode;
		md = &m->v[px->model];
		if (px->by_principal)
			ev->flags |= KW_EV_BY_PRINCIPAL;
	}
	if (ev->key_mode == KW_MODE_UNKNOWN && ev->livemode >= 0)
		ev->key_mode = ev->livemode ? KW_MODE_LIVE : KW_MODE_TEST;

	if (!kw_str_empty(ev->op)) {
		classify_op(m, md, ev);
		if ((ev->info && (ev->info->nmatch || ev->info->ncount)) ||
		    identity_rule(m, ev))
			ev->flags |= KW_EV_JUDGE;
		return;
	}
	if (kw_str_empty(ev->path))
		return;
	if (md && c && c->m == m && c->v[md - m->v].slot) {
		mc = &c->v[md - m->v];
		/* a model's memo is made when its keys are first seen
		 * (256 KiB); without one the shapes answer alone */
		if (!mc->memo)
			mc->memo = calloc(MEMO_SLOTS, sizeof(*mc->memo));
		mo = memo_slot(mc, ev->method, ev->path, &mword);
		if (mo && memo_hit(mo, ev->method, mword, ev->path)) {
			apply_op(&md->ops[mo->r], ev);
			return;
		}
	}
	split_path(ev->path.p, ev->path.n, &sg);
	mid = kw_models_method_id(ev->method.p, ev->method.n);
	if (md) {
		r = match_route(m, c, md, ev->path, &sg, mid);
		if (mo && r >= 0) {
			mo->method = mword;
			mo->method_n = (uint8_t)ev->method.n;
			mo->n = (uint8_t)ev->path.n;
			mo->r = r;
			memcpy(mo->path, ev->path.p, ev->path.n);
		}
	} else {
		for (k = 0; k < m->n && r < 0; k++) {
			r = match_route(m, c, &m->v[k], ev->path, &sg, mid);
			md = &m->v[k];
		}
	}
	if (r >= 0)
		apply_op(&md->ops[r], ev);
	else
		normalise(ev, &sg, mid, arena);
}

void kw_models_enrich(const struct kw_models *m, struct kw_event *ev,
		      struct kw_arena *arena)
{
	kw_models_enrich_cached(m, NULL, ev, arena);
}

/* ------------------------------------------------------------------------ */
/* Queries */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool kw_models_has_resource(const struct kw_models *m, const char *resource)
{
	size_t i;

	if (!m || !resource)
		return false;
	for (i = 0; i < m->n; i++) {
		const struct kw_model *md = &m->v[i];

		if (md->nresources &&
		    bsearch(&resource, md->resources, md->nresources,
			    sizeof(*md->resources), cmp_str))
			return true;
	}
	return false;
}

const char *kw_models_sensitive_reason(const struct kw_models *m,
				       const char *op, size_t n)
{
	size_t i;
	int32_t k;

	if (!m || !op)
		return NULL;
	for (i = 0; i < m->n; i++) {
		k = kw_models_op_find(&m->v[i], op, n);
		if (k >= 0 && m->v[i].ops[k].reason)
			return m->v[i].ops[k].reason;
	}
	return NULL;
}

size_t kw_models_counter_count(const struct kw_models *m)
{
	return m ? m->ncounters : 0;
}

const struct kw_counter_info *kw_models_counter(const struct kw_models *m,
						size_t i)
{
	return m && i < m->ncounters ? &m->counters[i] : NULL;
}

size_t kw_models_count(const struct kw_models *m)
{
	return m ? m->n : 0;
}

void kw_models_info(const struct kw_models *m, size_t i,
		    struct kw_model_info *out)
{
	const struct kw_model *md;

	memset(out, 0, sizeof(*out));
	if (!m || i >= m->n)
		return;
	md = &m->v[i];
	out->name = md->name;
	out->path = md->path;
	out->prefixes = md->nprefixes;
	out->routes = md->nroutes;
	out->sensitive = md->nsensitive;
	out->resources = md->nresources;
}

void kw_models_destroy(struct kw_models *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->n; i++) {
		free(m->v[i].ops);
		free(m->v[i].ophash);
		free(m->v[i].resources);
		free(m->v[i].read_prefixes);
		free(m->v[i].read_prefix_n);
		free(m->v[i].versioned);
		for (size_t k = 0; k < m->v[i].nrefs; k++)
			json_decref(m->v[i].refs[k]);
		free(m->v[i].refs);
		free(m->v[i].versioned_n);
		free(m->v[i].formats);
		free(m->v[i].formats_n);
		kw_models_node_free(m->v[i].root);
	}
	free(m->v);
	free(m->prefixes);
	kw_arena_destroy(&m->arena);
	free(m);
}
