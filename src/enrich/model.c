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
#include <stdlib.h>
#include <string.h>

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

enum kw_model_method kw_models_method_id(const char *s, size_t n)
{
	static const char *const names[] = {
		[KW_M_GET] = "GET",	    [KW_M_POST] = "POST",
		[KW_M_PUT] = "PUT",	    [KW_M_PATCH] = "PATCH",
		[KW_M_DELETE] = "DELETE",   [KW_M_HEAD] = "HEAD",
		[KW_M_OPTIONS] = "OPTIONS",
	};
	char up[8];
	size_t i;

	if (n == 0)
		return KW_M_ANY;
	if (n > sizeof(up))
		return KW_M_OTHER;
	for (i = 0; i < n; i++)
		up[i] = is_lower(s[i]) ? (char)(s[i] - 'a' + 'A') : s[i];
	for (i = KW_M_GET; i < KW_M_OTHER; i++) {
		if (strlen(names[i]) == n && memcmp(names[i], up, n) == 0)
			return (enum kw_model_method)i;
	}
	return KW_M_OTHER;
}

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
	size_t i;

	if (!key || n == 0)
		return NULL;
	/* Longest first, so the first hit is the best one. */
	for (i = 0; i < m->nprefixes; i++) {
		const struct kw_model_prefix *px = &m->prefixes[i];

		if (px->n <= n && px->s[0] == key[0] &&
		    memcmp(px->s, key, px->n) == 0)
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
		while (i < n && p[i] != '/' && p[i] != '?' && p[i] != '#')
			i++;
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

static int32_t match_route(const struct kw_model *md, const char *path,
			   const struct segs *sg, enum kw_model_method mid)
{
	if (!md->root || sg->more)
		return -1;
	return match_node(md->root, path, sg, 0, mid);
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

/* The model whose op_rules classify decoder-named ops: md if it has
 * rules, else the first model that has. NULL when none has. */
static const struct kw_model *rules_model(const struct kw_models *m,
					  const struct kw_model *md)
{
	size_t k;

	if (md && md->has_rules)
		return md;
	for (k = 0; k < m->n; k++) {
		if (m->v[k].has_rules)
			return &m->v[k];
	}
	return NULL;
}

/* An event whose decoder named the operation (CloudTrail): an API version
 * suffix the rules say to cut is cut; then the key's model if it lists the
 * op, else the rules model classifies it. */
static void classify_op(const struct kw_models *m, const struct kw_model *md,
			struct kw_event *ev)
{
	const struct kw_model *rm = rules_model(m, md);
	int32_t i;
	size_t k;

	if (rm)
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

void kw_models_enrich(const struct kw_models *m, struct kw_event *ev,
		      struct kw_arena *arena)
{
	const struct kw_model_prefix *px;
	const struct kw_model *md = NULL;
	enum kw_model_method mid;
	struct segs sg;
	int32_t r = -1;
	size_t k;

	ev->flags &= ~(uint32_t)(KW_EV_SENSITIVE | KW_EV_PK_ALLOWED |
				 KW_EV_MODELLED);
	ev->info = NULL;
	ev->key_kind = KW_KIND_UNKNOWN;
	ev->key_mode = KW_MODE_UNKNOWN;
	if (!m)
		return;
	px = find_prefix(m, ev->key.p, ev->key.n);
	if (px) {
		ev->key_kind = px->kind;
		ev->key_mode = px->mode;
		md = &m->v[px->model];
	}
	if (ev->key_mode == KW_MODE_UNKNOWN && ev->livemode >= 0)
		ev->key_mode = ev->livemode ? KW_MODE_LIVE : KW_MODE_TEST;

	if (!kw_str_empty(ev->op)) {
		classify_op(m, md, ev);
		return;
	}
	if (kw_str_empty(ev->path))
		return;
	split_path(ev->path.p, ev->path.n, &sg);
	mid = kw_models_method_id(ev->method.p, ev->method.n);
	if (md) {
		r = match_route(md, ev->path.p, &sg, mid);
	} else {
		for (k = 0; k < m->n && r < 0; k++) {
			r = match_route(&m->v[k], ev->path.p, &sg, mid);
			md = &m->v[k];
		}
	}
	if (r >= 0)
		apply_op(&md->ops[r], ev);
	else
		normalise(ev, &sg, mid, arena);
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
		kw_models_node_free(m->v[i].root);
	}
	free(m->v);
	free(m->prefixes);
	kw_arena_destroy(&m->arena);
	free(m);
}
