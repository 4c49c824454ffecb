/*
 * model_load.c - reading models/<name>.json into the structs of
 * model_impl.h, with every rule of the schema (models/README.md) checked.
 *
 * The one idea: a model is data a user writes by hand, so every mistake is
 * reported the way a person fixes it: the file, and either the JSON line and
 * column (syntax) or the JSON path of the offending value with what it must
 * be ("models/x.json: routes[12].access: must be \"read\" or \"write\"").
 * Unknown keys are errors, so a typo never silently drops a rule. Load time
 * is not hot; the structures built here are what the hot path wants: a trie
 * of path segments and a hash of op names, both pointing at one op array.
 */
#include "enrich/model.h"
#include "enrich/model_impl.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/config.h"
#include "core/le.h"
#include "core/time.h"

/* A model file larger than this is refused (stripe.json is ~60 KiB). */
#define MODEL_FILE_MAX ((size_t)16 * 1024 * 1024)
/* JSON paths in messages ("routes[123].sensitive"). */
#define JPATH_MAX 160
/* Model files loaded from one directory. */
#define MODELS_MAX 256

struct loader {
	struct kw_models *m;
	struct kw_model *md;
	size_t mi;	      /* index of md in m->v */
	size_t first_counter; /* m->counters of this file start here */
	const char *file;
	struct kw_error *err;
};

/* "file: jpath: message", or "file: message" when jpath is empty. */
static enum kw_status __attribute__((format(printf, 3, 4)))
bad(struct loader *ld, const char *jpath, const char *fmt, ...)
{
	char msg[KW_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (jpath[0])
		return kw_error_set(ld->err, KW_ECONFIG, "%s: %s: %s", ld->file,
				    jpath, msg);
	return kw_error_set(ld->err, KW_ECONFIG, "%s: %s", ld->file, msg);
}

#ifdef __clang_analyzer__
/* The analyzer does not follow calls of variadic functions, so it cannot
 * see that bad() never returns KW_OK and walks every `return bad(...)` as
 * a success with nothing set. Only the analyzer sees this macro. */
#define bad(...)                                                               \
	__extension__({                                                        \
		bad(__VA_ARGS__);                                              \
		KW_ECONFIG;                                                    \
	})
#endif

/* out = "jpath.key" (or "key" at the top), cut to JPATH_MAX - 1 bytes. */
static void sub_key(char *out, const char *jpath, const char *key)
{
	int w;

	if (jpath[0])
		w = snprintf(out, JPATH_MAX, "%s.%s", jpath, key);
	else
		w = snprintf(out, JPATH_MAX, "%s", key);
	if (w < 0)
		out[0] = '\0';
}

static char *dup_str(struct loader *ld, const char *s, size_t n)
{
	return kw_arena_strndup(&ld->m->arena, s, n);
}

/* ------------------------------------------------------------------------ */
/* Typed getters: each names the JSON path of what is wrong. */

static enum kw_status check_keys(struct loader *ld, json_t *obj,
				 const char *jpath, const char *const *allowed,
				 size_t n)
{
	char known[256], sub[JPATH_MAX];
	const char *key;
	json_t *v;
	size_t i, len = 0;

	json_object_foreach(obj, key, v)
	{
		for (i = 0; i < n; i++) {
			if (!strcmp(key, allowed[i]))
				break;
		}
		if (i < n)
			continue;
		known[0] = '\0';
		for (i = 0; i < n; i++) {
			int w = snprintf(known + len, sizeof(known) - len,
					 "%s%s", i ? ", " : "", allowed[i]);

			if (w < 0 || (size_t)w >= sizeof(known) - len)
				break;
			len += (size_t)w;
		}
		sub_key(sub, jpath, key);
		return bad(ld, sub, "unknown key (expected one of: %s)", known);
	}
	return KW_OK;
}

static enum kw_status get_str(struct loader *ld, json_t *obj, const char *jpath,
			      const char *key, bool required, const char **out)
{
	char sub[JPATH_MAX];
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v) {
		if (required)
			return bad(ld, jpath, "missing \"%s\"", key);
		return KW_OK;
	}
	sub_key(sub, jpath, key);
	if (!json_is_string(v) || json_string_length(v) == 0)
		return bad(ld, sub, "must be a non-empty string");
	if (strlen(json_string_value(v)) != json_string_length(v))
		return bad(ld, sub, "must not contain NUL");
	*out = json_string_value(v);
	return KW_OK;
}

/* "read" or "write"; KW_ACCESS_UNKNOWN in *out when absent. */
static enum kw_status get_access(struct loader *ld, json_t *obj,
				 const char *jpath, const char *key,
				 enum kw_access *out)
{
	char sub[JPATH_MAX];
	json_t *v = json_object_get(obj, key);
	const char *s;

	*out = KW_ACCESS_UNKNOWN;
	if (!v)
		return KW_OK;
	sub_key(sub, jpath, key);
	s = json_is_string(v) ? json_string_value(v) : "";
	if (!strcmp(s, "read"))
		*out = KW_ACCESS_READ;
	else if (!strcmp(s, "write"))
		*out = KW_ACCESS_WRITE;
	else
		return bad(ld, sub, "must be \"read\" or \"write\"");
	return KW_OK;
}

static enum kw_status get_array(struct loader *ld, json_t *obj,
				const char *jpath, const char *key,
				json_t **out)
{
	char sub[JPATH_MAX];
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v)
		return KW_OK;
	sub_key(sub, jpath, key);
	if (!json_is_array(v))
		return bad(ld, sub, "must be an array");
	*out = v;
	return KW_OK;
}

static enum kw_status get_object_at(struct loader *ld, json_t *arr, size_t i,
				    const char *name, char *jpath, json_t **out)
{
	*out = json_array_get(arr, i);
	snprintf(jpath, JPATH_MAX, "%s[%zu]", name, i);
	if (!json_is_object(*out))
		return bad(ld, jpath, "must be an object");
	return KW_OK;
}

/* ------------------------------------------------------------------------ */
/* Ops */

/* Keep a reference to v until the model set is destroyed. */
static enum kw_status keep_json(struct kw_model *md, json_t *v)
{
	if (md->nrefs == md->caprefs) {
		size_t ncap = md->caprefs ? md->caprefs * 2 : 64;
		json_t **nv = realloc(md->refs, ncap * sizeof(*nv));

		if (!nv)
			return KW_ENOMEM;
		md->refs = nv;
		md->caprefs = ncap;
	}
	md->refs[md->nrefs++] = v;
	return KW_OK;
}

/* Grow the hash to keep it at most half full, then insert op index i. */
static enum kw_status hash_insert(struct kw_model *md, size_t i)
{
	size_t cap = md->ophash ? md->ophash_mask + 1 : 0, k, j;
	uint32_t *nh;

	if (!md->ophash || 2 * (md->nops + 1) > cap) {
		size_t ncap = cap ? cap * 2 : 64;

		nh = calloc(ncap, sizeof(*nh));
		if (!nh)
			return KW_ENOMEM;
		for (k = 0; k < cap; k++) {
			if (!md->ophash[k])
				continue;
			const struct kw_op_info *o =
				&md->ops[md->ophash[k] - 1];

			j = kw_models_hash(o->name.p, o->name.n) & (ncap - 1);
			while (nh[j])
				j = (j + 1) & (ncap - 1);
			nh[j] = md->ophash[k];
		}
		free(md->ophash);
		md->ophash = nh;
		md->ophash_mask = ncap - 1;
	}
	j = kw_models_hash(md->ops[i].name.p, md->ops[i].name.n) &
	    md->ophash_mask;
	while (md->ophash[j])
		j = (j + 1) & md->ophash_mask;
	md->ophash[j] = (uint32_t)(i + 1);
	return KW_OK;
}

/* The resource an op belongs to when the entry does not say: the text
 * before the first '.' or the op_rules separator ("refunds.create" ->
 * "refunds", "iam:CreateUser" -> "iam"), or the whole name. */
static size_t default_resource_len(const struct kw_model *md, const char *op)
{
	size_t n = strlen(op), i;

	for (i = 0; i < n; i++) {
		if (op[i] == '.')
			return i;
		if (md->sep_n && i + md->sep_n <= n &&
		    !memcmp(op + i, md->sep, md->sep_n))
			return i;
	}
	return n;
}

/* The tier, tactic and fixed severity of an entry. */
struct tiering {
	enum kw_tier tier;
	enum kw_tactic tactic;
	enum kw_severity severity;
};

/* A string from a list of names (names[0] unused: the "none" value);
 * *out is its index, 0 when absent. */
static enum kw_status get_name(struct loader *ld, json_t *obj,
			       const char *jpath, const char *key,
			       const char *(*name)(int), int max, int *out)
{
	char sub[JPATH_MAX], list[512];
	const char *s;
	size_t len = 0;
	enum kw_status st;

	*out = 0;
	st = get_str(ld, obj, jpath, key, false, &s);
	if (st != KW_OK || !s)
		return st;
	for (int i = 1; i < max; i++) {
		if (!strcmp(s, name(i))) {
			*out = i;
			return KW_OK;
		}
	}
	list[0] = '\0';
	for (int i = 1; i < max && len < sizeof(list); i++) {
		int w = snprintf(list + len, sizeof(list) - len, "%s\"%s\"",
				 i > 1 ? ", " : "", name(i));

		if (w < 0)
			break;
		len += (size_t)w;
	}
	sub_key(sub, jpath, key);
	return bad(ld, sub, "must be one of %s", list);
}

static const char *tier_name(int i)
{
	return kw_tier_name((enum kw_tier)i);
}

static const char *tactic_name(int i)
{
	return kw_tactic_name((enum kw_tactic)i);
}

/* "severity" for a tier: never-routine and first-sight only. */
static enum kw_status parse_severity(struct loader *ld, const char *jpath,
				     const char *sev, enum kw_tier tier,
				     enum kw_severity *out)
{
	char sub[JPATH_MAX];

	sub_key(sub, jpath, "severity");
	if (tier != KW_TIER_NEVER_ROUTINE && tier != KW_TIER_FIRST_SIGHT)
		return bad(ld, sub,
			   "only a never-routine or first-sight operation "
			   "has a severity");
	if (!strcmp(sev, "medium"))
		*out = KW_SEV_MEDIUM;
	else if (!strcmp(sev, "high"))
		*out = KW_SEV_HIGH;
	else if (!strcmp(sev, "critical"))
		*out = KW_SEV_CRITICAL;
	else
		return bad(ld, sub,
			   "must be \"medium\", \"high\" or \"critical\"");
	return KW_OK;
}

static enum kw_severity default_severity(enum kw_tier tier)
{
	return tier == KW_TIER_FIRST_SIGHT ? KW_SEV_MEDIUM : KW_SEV_HIGH;
}

/* "tier", "tactic" and "severity" of an entry. sensitive tells whether
 * the entry has a reason: only a sensitive entry has a tier. A sensitive
 * entry without a tier is routine; a never-routine one without a severity
 * is high, a first-sight one medium. */
static enum kw_status get_tiering(struct loader *ld, json_t *obj,
				  const char *jpath, bool sensitive,
				  struct tiering *out)
{
	char sub[JPATH_MAX];
	const char *sev;
	int tier, tactic;
	enum kw_status st;

	memset(out, 0, sizeof(*out));
	st = get_name(ld, obj, jpath, "tier", tier_name, KW_TIER_MAX, &tier);
	if (st == KW_OK)
		st = get_name(ld, obj, jpath, "tactic", tactic_name,
			      KW_TACTIC_MAX, &tactic);
	if (st == KW_OK)
		st = get_str(ld, obj, jpath, "severity", false, &sev);
	if (st != KW_OK)
		return st;
	if (!sensitive && (tier || tactic || sev)) {
		sub_key(sub, jpath,
			tier	 ? "tier"
			: tactic ? "tactic"
				 : "severity");
		return bad(ld, sub,
			   "only a sensitive operation has one (add "
			   "\"sensitive\": why)");
	}
	out->tier = sensitive && !tier ? KW_TIER_ROUTINE : (enum kw_tier)tier;
	out->tactic = (enum kw_tactic)tactic;
	out->severity = default_severity(out->tier);
	if (sev)
		return parse_severity(ld, jpath, sev, out->tier,
				      &out->severity);
	return KW_OK;
}

/* ------------------------------------------------------------------------ */
/* Matchers ("match"): conditions on the record, compiled for model_match.c */

static const char *const root_names[KW_ROOT_MAX] = {
	[KW_ROOT_ELEMENT] = "@",
	[KW_ROOT_PARAMS] = "requestParameters",
	[KW_ROOT_RESPONSE] = "responseElements",
	[KW_ROOT_ADDITIONAL] = "additionalEventData",
	[KW_ROOT_IDENTITY] = "userIdentity",
	[KW_ROOT_ACCOUNT] = "recipientAccountId",
};

static void *arena_calloc(struct loader *ld, size_t n, size_t size)
{
	void *p;

	if (n == 0)
		return NULL;
	p = kw_arena_alloc(&ld->m->arena, n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

static enum kw_status nomem(struct loader *ld)
{
	return kw_error_set(ld->err, KW_ENOMEM, "%s: %s", ld->file,
			    kw_strerror(KW_ENOMEM));
}

/* Compile a path: "root.key.list[].doc@json.*.leaf". in_each allows the
 * "@" root (the element an "each" walks). */
static enum kw_status compile_path(struct loader *ld, const char *jpath,
				   const char *text, bool in_each,
				   struct kw_model_path *out)
{
	struct kw_model_step steps[KW_MODEL_PATH_STEPS];
	size_t nsteps = 0, n;
	const char *s = text, *dot;
	int r;

	memset(out, 0, sizeof(*out));
	dot = strchr(s, '.');
	n = dot ? (size_t)(dot - s) : strlen(s);
	for (r = 0; r < KW_ROOT_MAX; r++) {
		if (strlen(root_names[r]) == n && !memcmp(s, root_names[r], n))
			break;
	}
	if (r == KW_ROOT_MAX || (r == KW_ROOT_ELEMENT && !in_each))
		return bad(ld, jpath,
			   "\"%s\" must start with requestParameters, "
			   "responseElements, additionalEventData, "
			   "userIdentity or recipientAccountId%s",
			   text, in_each ? ", or @ (the element)" : "");
	out->root = (enum kw_model_root)r;
	s += n;
	while (*s) {
		const char *seg = ++s; /* past the '.' */
		size_t len;
		bool each = false, json = false;

		dot = strchr(seg, '.');
		len = dot ? (size_t)(dot - seg) : strlen(seg);
		s = seg + len;
		if (len >= 5 && !memcmp(seg + len - 5, "@json", 5)) {
			json = true;
			len -= 5;
		}
		if (len >= 2 && !memcmp(seg + len - 2, "[]", 2)) {
			each = true;
			len -= 2;
		}
		if (len == 0 || memchr(seg, '[', len) || memchr(seg, '@', len))
			return bad(ld, jpath,
				   "\"%s\": each step is a name, optionally "
				   "followed by [] and @json, or *",
				   text);
		if (nsteps + 2 > KW_MODEL_PATH_STEPS)
			return bad(ld, jpath, "\"%s\": more than %d steps",
				   text, KW_MODEL_PATH_STEPS / 2);
		if (len == 1 && seg[0] == '*' && !each) {
			steps[nsteps++].kind = KW_STEP_ALL;
		} else {
			steps[nsteps].kind = each ? KW_STEP_EACH : KW_STEP_KEY;
			steps[nsteps].key = dup_str(ld, seg, len);
			if (!steps[nsteps++].key)
				return nomem(ld);
		}
		if (json)
			steps[nsteps++].kind = KW_STEP_JSON;
	}
	out->text = dup_str(ld, text, strlen(text));
	out->steps = arena_calloc(ld, nsteps, sizeof(*steps));
	if (!out->text || (nsteps && !out->steps))
		return nomem(ld);
	if (nsteps)
		memcpy(out->steps, steps, nsteps * sizeof(*steps));
	out->nsteps = nsteps;
	return KW_OK;
}

/* A path, or an array of paths, at obj.key. */
static enum kw_status compile_paths(struct loader *ld, json_t *obj,
				    const char *jpath, const char *key,
				    bool in_each, struct kw_model_path **out,
				    size_t *n)
{
	char sub[JPATH_MAX];
	json_t *v = json_object_get(obj, key), *e;
	size_t i, count;
	enum kw_status st;

	*out = NULL;
	*n = 0;
	sub_key(sub, jpath, key);
	if (!v)
		return bad(ld, jpath, "missing \"%s\"", key);
	count = json_is_array(v) ? json_array_size(v) : 1;
	if (count == 0 || count > 16 ||
	    (!json_is_string(v) && !json_is_array(v)))
		return bad(ld, sub,
			   "must be a path or an array of 1 to 16 paths");
	*out = arena_calloc(ld, count, sizeof(**out));
	if (!*out)
		return nomem(ld);
	for (i = 0; i < count; i++) {
		char at[JPATH_MAX];

		e = json_is_array(v) ? json_array_get(v, i) : v;
		if (json_is_array(v))
			snprintf(at, sizeof(at), "%s[%zu]", sub, i);
		else
			snprintf(at, sizeof(at), "%s", sub);
		if (!json_is_string(e) || json_string_length(e) == 0)
			return bad(ld, at, "must be a non-empty string");
		st = compile_path(ld, at, json_string_value(e), in_each,
				  &(*out)[i]);
		if (st != KW_OK)
			return st;
		(*n)++;
	}
	return KW_OK;
}

static const char *const test_names[KW_TEST_MAX] = {
	[KW_TEST_EQUALS] = "equals",
	[KW_TEST_OTHER_THAN] = "other_than",
	[KW_TEST_PREFIX] = "prefix",
	[KW_TEST_SUFFIX] = "suffix",
	[KW_TEST_CONTAINS] = "contains",
	[KW_TEST_PRESENT] = "present",
	[KW_TEST_AT_LEAST] = "at_least",
	[KW_TEST_AT_MOST] = "at_most",
	[KW_TEST_OPEN_CIDR] = "open_cidr",
	[KW_TEST_PORTS] = "ports",
	[KW_TEST_ONLY_PORTS] = "only_ports",
	[KW_TEST_FOREIGN] = "foreign_account",
	[KW_TEST_DIFFERS] = "differs_from",
	[KW_TEST_INTERNET_CIDR] = "internet_cidr",
};

/* Each element of an array (or the value itself) passes ok. */
static bool all_of(json_t *v, bool (*ok)(json_t *), bool array_only)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v))
		return !array_only && ok(v);
	if (json_array_size(v) == 0)
		return false;
	json_array_foreach(v, i, e)
	{
		if (!ok(e))
			return false;
	}
	return true;
}

static bool is_scalar(json_t *v)
{
	return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

static bool is_str(json_t *v)
{
	return json_is_string(v);
}

static bool is_port(json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0 &&
	       json_integer_value(v) <= 65535;
}

/* The test's argument checked against what the test needs. */
static enum kw_status check_arg(struct loader *ld, const char *at,
				enum kw_model_test t, json_t *arg)
{
	switch (t) {
	case KW_TEST_EQUALS:
	case KW_TEST_OTHER_THAN:
		if (!all_of(arg, is_scalar, false))
			return bad(ld, at,
				   "must be a string, number, true/false, or "
				   "a non-empty array of them");
		break;
	case KW_TEST_PREFIX:
	case KW_TEST_SUFFIX:
	case KW_TEST_CONTAINS:
		if (!all_of(arg, is_str, false))
			return bad(ld, at,
				   "must be a string or a non-empty array of "
				   "strings");
		break;
	case KW_TEST_PRESENT:
		if (!json_is_boolean(arg))
			return bad(ld, at, "must be true or false");
		break;
	case KW_TEST_AT_LEAST:
	case KW_TEST_AT_MOST:
		if (!json_is_number(arg))
			return bad(ld, at, "must be a number");
		break;
	case KW_TEST_OPEN_CIDR:
	case KW_TEST_INTERNET_CIDR:
	case KW_TEST_FOREIGN:
		if (!json_is_true(arg))
			return bad(ld, at, "must be true");
		break;
	case KW_TEST_PORTS:
	case KW_TEST_ONLY_PORTS:
		if (!all_of(arg, is_port, true))
			return bad(ld, at,
				   "must be a non-empty array of ports (0 to "
				   "65535)");
		break;
	case KW_TEST_DIFFERS:
		if (!json_is_string(arg) || json_string_length(arg) == 0)
			return bad(ld, at, "must be a path");
		break;
	default:
		break;
	}
	return KW_OK;
}

static enum kw_status compile_cond(struct loader *ld, json_t *obj,
				   const char *jpath, bool in_each,
				   struct kw_model_cond *c)
{
	static const char *const keys[] = {"path",	   "not",
					   "equals",	   "other_than",
					   "prefix",	   "suffix",
					   "contains",	   "present",
					   "at_least",	   "at_most",
					   "open_cidr",	   "ports",
					   "only_ports",   "foreign_account",
					   "differs_from", "internet_cidr"};
	char sub[JPATH_MAX], list[300];
	json_t *neg = json_object_get(obj, "not"), *arg = NULL;
	size_t len = 0;
	int t, found = -1;
	enum kw_status st;

	if (!json_is_object(obj))
		return bad(ld, jpath, "must be an object");
	st = check_keys(ld, obj, jpath, keys, sizeof(keys) / sizeof(*keys));
	if (st == KW_OK)
		st = compile_paths(ld, obj, jpath, "path", in_each, &c->paths,
				   &c->npaths);
	if (st != KW_OK)
		return st;
	sub_key(sub, jpath, "not");
	if (neg && !json_is_boolean(neg))
		return bad(ld, sub, "must be true or false");
	list[0] = '\0';
	for (t = 0; t < KW_TEST_MAX; t++) {
		int w = snprintf(list + len, sizeof(list) - len, "%s%s",
				 t ? ", " : "", test_names[t]);

		if (w > 0 && (size_t)w < sizeof(list) - len)
			len += (size_t)w;
		if (!json_object_get(obj, test_names[t]))
			continue;
		if (found >= 0)
			return bad(ld, jpath,
				   "has two tests (\"%s\" and \"%s\"): one "
				   "condition, one test",
				   test_names[found], test_names[t]);
		found = t;
	}
	if (found < 0)
		return bad(ld, jpath, "needs one test (%s)", list);
	c->test = (enum kw_model_test)found;
	arg = json_object_get(obj, test_names[found]);
	sub_key(sub, jpath, test_names[found]);
	st = check_arg(ld, sub, c->test, arg);
	if (st != KW_OK)
		return st;
	c->negate = json_is_true(neg);
	if (c->test == KW_TEST_PRESENT && json_is_false(arg)) {
		c->negate = !c->negate;
	}
	if (c->test == KW_TEST_DIFFERS)
		return compile_path(ld, sub, json_string_value(arg), in_each,
				    &c->differs);
	c->arg = json_deep_copy(arg);
	if (!c->arg)
		return nomem(ld);
	if (keep_json(ld->md, c->arg) != KW_OK) {
		json_decref(c->arg);
		return nomem(ld);
	}
	return KW_OK;
}

/* Keys of an entry's matcher. */
static const char *const matcher_keys[] = {"name", "why",      "each",	"when",
					   "tier", "severity", "tactic"};

/* A matcher: an entry's (keys: matcher_keys, "when" required) or an
 * identity rule's. op gives the defaults of tier, severity and tactic. */
static enum kw_status
compile_matcher(struct loader *ld, json_t *obj, const char *jpath,
		const struct kw_op_info *op, const char *const *keys,
		size_t nkeys, bool need_when, struct kw_model_matcher *m)
{
	char sub[JPATH_MAX], at[JPATH_MAX];
	const char *name, *why, *tier_s, *sev;
	json_t *when;
	int tier = 0, tactic = 0;
	enum kw_status st;
	size_t i;

	st = check_keys(ld, obj, jpath, keys, nkeys);
	if (st == KW_OK)
		st = get_str(ld, obj, jpath, "name", true, &name);
	if (st == KW_OK)
		st = get_str(ld, obj, jpath, "why", true, &why);
	if (st == KW_OK)
		st = get_str(ld, obj, jpath, "tier", false, &tier_s);
	if (st == KW_OK && !(tier_s && !strcmp(tier_s, "none")))
		st = get_name(ld, obj, jpath, "tier", tier_name, KW_TIER_MAX,
			      &tier);
	if (st == KW_OK)
		st = get_name(ld, obj, jpath, "tactic", tactic_name,
			      KW_TACTIC_MAX, &tactic);
	if (st == KW_OK)
		st = get_str(ld, obj, jpath, "severity", false, &sev);
	if (st == KW_OK)
		st = get_array(ld, obj, jpath, "when", &when);
	if (st != KW_OK)
		return st;
	if (!when && need_when)
		return bad(ld, jpath, "missing \"when\"");
	m->name = dup_str(ld, name, strlen(name));
	m->why = dup_str(ld, why, strlen(why));
	if (!m->name || !m->why)
		return nomem(ld);
	if (tier_s && !strcmp(tier_s, "none"))
		m->tier = KW_TIER_NONE;
	else if (tier)
		m->tier = (enum kw_tier)tier;
	else if (op->tier != KW_TIER_NONE)
		m->tier = op->tier;
	else
		return bad(ld, jpath,
			   "needs a \"tier\" (the operation is not sensitive "
			   "by itself)");
	m->tactic = tactic ? (enum kw_tactic)tactic : op->tactic;
	if (sev) {
		st = parse_severity(ld, jpath, sev, m->tier, &m->severity);
		if (st != KW_OK)
			return st;
	} else {
		m->severity = m->tier == op->tier ? op->severity
						  : default_severity(m->tier);
	}
	if (json_object_get(obj, "each")) {
		st = compile_paths(ld, obj, jpath, "each", false, &m->each,
				   &m->neach);
		if (st != KW_OK)
			return st;
	}
	sub_key(sub, jpath, "when");
	m->nwhen = when ? json_array_size(when) : 0;
	m->when = arena_calloc(ld, m->nwhen, sizeof(*m->when));
	if (m->nwhen && !m->when)
		return nomem(ld);
	for (i = 0; i < m->nwhen; i++) {
		snprintf(at, sizeof(at), "%s[%zu]", sub, i);
		st = compile_cond(ld, json_array_get(when, i), at, m->neach > 0,
				  &m->when[i]);
		if (st != KW_OK)
			return st;
	}
	return KW_OK;
}

/* An entry's "match": an array of matchers, the first that holds
 * decides. */
static enum kw_status load_matchers(struct loader *ld, json_t *obj,
				    const char *jpath, struct kw_op_info *op)
{
	struct kw_model_matcher *v;
	char at[JPATH_MAX];
	json_t *arr, *m;
	enum kw_status st;
	size_t i, n;

	st = get_array(ld, obj, jpath, "match", &arr);
	if (st != KW_OK || !arr)
		return st;
	if (json_array_size(arr) == 0 || json_array_size(arr) > 64) {
		sub_key(at, jpath, "match");
		return bad(ld, at, "must hold 1 to 64 matchers");
	}
	n = json_array_size(arr);
	v = arena_calloc(ld, n, sizeof(*v));
	if (!v)
		return nomem(ld);
	for (i = 0; i < n; i++) {
		snprintf(at, sizeof(at), "%s.match[%zu]", jpath, i);
		m = json_array_get(arr, i);
		if (!json_is_object(m))
			return bad(ld, at, "must be an object");
		st = compile_matcher(ld, m, at, op, matcher_keys, 7, true,
				     &v[i]);
		if (st != KW_OK)
			return st;
	}
	op->match = v;
	op->nmatch = n;
	return KW_OK;
}

/* ------------------------------------------------------------------------ */
/* Counters ("counters" at the top, "count" in entries) */

static const char *const select_names[] = {"sensitive", "refused", "bulk",
					   "learning"};

/* "select": which events feed a counter by their kind. */
static enum kw_status get_select(struct loader *ld, json_t *obj,
				 const char *jpath, unsigned *out)
{
	char sub[JPATH_MAX], at[JPATH_MAX];
	json_t *sel = json_object_get(obj, "select"), *v;
	enum kw_status st;

	*out = 0;
	if (!sel)
		return KW_OK;
	sub_key(sub, jpath, "select");
	if (!json_is_object(sel))
		return bad(ld, sub, "must be an object");
	st = check_keys(ld, sel, sub, select_names, 4);
	if (st != KW_OK)
		return st;
	for (unsigned i = 0; i < 4; i++) {
		v = json_object_get(sel, select_names[i]);
		if (!v)
			continue;
		sub_key(at, sub, select_names[i]);
		if (!json_is_true(v))
			return bad(ld, at,
				   "must be true (leave it out otherwise)");
		*out |= 1u << i;
	}
	if (!*out)
		return bad(ld, sub, "must select something (%s, %s, %s or %s)",
			   select_names[0], select_names[1], select_names[2],
			   select_names[3]);
	return KW_OK;
}

static enum kw_status load_counter(struct loader *ld, json_t *obj,
				   const char *jpath, struct kw_counter_info *c)
{
	static const char *const keys[] = {"name",	"what",	    "window",
					   "threshold", "distinct", "severity",
					   "tactic",	"select"};
	char sub[JPATH_MAX];
	const char *name, *what, *window, *sev;
	json_t *v;
	int tactic;
	enum kw_status st;

	st = check_keys(ld, obj, jpath, keys, 8);
	if (st == KW_OK)
		st = get_str(ld, obj, jpath, "name", true, &name);
	if (st == KW_OK)
		st = get_str(ld, obj, jpath, "what", true, &what);
	if (st == KW_OK)
		st = get_str(ld, obj, jpath, "window", false, &window);
	if (st == KW_OK)
		st = get_str(ld, obj, jpath, "severity", false, &sev);
	if (st == KW_OK)
		st = get_name(ld, obj, jpath, "tactic", tactic_name,
			      KW_TACTIC_MAX, &tactic);
	if (st == KW_OK)
		st = get_select(ld, obj, jpath, &c->select);
	if (st != KW_OK)
		return st;
	for (size_t i = 0; i < ld->m->ncounters; i++) {
		if (!strcmp(ld->m->counters[i].name, name)) {
			sub_key(sub, jpath, "name");
			return bad(ld, sub, "\"%s\" is defined twice", name);
		}
	}
	c->name = dup_str(ld, name, strlen(name));
	c->what = dup_str(ld, what, strlen(what));
	if (!c->name || !c->what)
		return nomem(ld);
	c->window = INT64_C(600) * 1000000;
	sub_key(sub, jpath, "window");
	if (window &&
	    (!kw_duration_parse(window, &c->window) || c->window < 1000000 ||
	     c->window > INT64_C(86400) * 1000000))
		return bad(ld, sub,
			   "must be a duration from 1s to 24h, such as "
			   "\"10m\"");
	v = json_object_get(obj, "threshold");
	sub_key(sub, jpath, "threshold");
	if (!v)
		return bad(ld, jpath, "missing \"threshold\"");
	if (!json_is_integer(v) || json_integer_value(v) < 2 ||
	    json_integer_value(v) > 10000)
		return bad(ld, sub, "must be an integer from 2 to 10000");
	c->threshold = (uint32_t)json_integer_value(v);
	v = json_object_get(obj, "distinct");
	sub_key(sub, jpath, "distinct");
	if (v && !json_is_boolean(v))
		return bad(ld, sub, "must be true or false");
	c->distinct = !v || json_is_true(v);
	c->severity = KW_SEV_HIGH;
	if (sev) {
		sub_key(sub, jpath, "severity");
		if (!strcmp(sev, "low"))
			c->severity = KW_SEV_LOW;
		else if (!strcmp(sev, "medium"))
			c->severity = KW_SEV_MEDIUM;
		else if (!strcmp(sev, "critical"))
			c->severity = KW_SEV_CRITICAL;
		else if (strcmp(sev, "high"))
			return bad(ld, sub,
				   "must be \"low\", \"medium\", \"high\" or "
				   "\"critical\"");
	}
	c->tactic = (enum kw_tactic)tactic;
	c->model = ld->mi;
	return KW_OK;
}

static enum kw_status load_counters(struct loader *ld, json_t *root)
{
	char jpath[JPATH_MAX];
	json_t *arr, *obj;
	enum kw_status st;
	size_t i;

	st = get_array(ld, root, "", "counters", &arr);
	for (i = 0; st == KW_OK && arr && i < json_array_size(arr); i++) {
		st = get_object_at(ld, arr, i, "counters", jpath, &obj);
		if (st != KW_OK)
			break;
		if (ld->m->ncounters == KW_MODELS_MAX_COUNTERS)
			return bad(ld, jpath,
				   "more than %d counters in the models",
				   KW_MODELS_MAX_COUNTERS);
		st = load_counter(ld, obj, jpath,
				  &ld->m->counters[ld->m->ncounters]);
		if (st == KW_OK)
			ld->m->ncounters++;
	}
	return st;
}

/* "identities": rules on who acted, tried on every CloudTrail record whose
 * userIdentity.type is the rule's type. */
static enum kw_status load_identities(struct loader *ld, json_t *root)
{
	static const char *const keys[] = {"type", "name",     "why",	"when",
					   "tier", "severity", "tactic"};
	static const struct kw_op_info none;
	struct kw_model_identity *id;
	char jpath[JPATH_MAX];
	const char *type;
	json_t *arr, *obj;
	enum kw_status st;
	size_t i;

	st = get_array(ld, root, "", "identities", &arr);
	for (i = 0; st == KW_OK && arr && i < json_array_size(arr); i++) {
		st = get_object_at(ld, arr, i, "identities", jpath, &obj);
		if (st == KW_OK)
			st = check_keys(ld, obj, jpath, keys, 7);
		if (st == KW_OK)
			st = get_str(ld, obj, jpath, "type", true, &type);
		if (st != KW_OK)
			break;
		if (ld->m->nidentities == KW_MODELS_MAX_IDENTITIES)
			return bad(ld, jpath,
				   "more than %d identity rules in the models",
				   KW_MODELS_MAX_IDENTITIES);
		id = &ld->m->identities[ld->m->nidentities];
		memset(id, 0, sizeof(*id));
		id->type = dup_str(ld, type, strlen(type));
		id->model = ld->mi;
		if (!id->type)
			return nomem(ld);
		st = compile_matcher(ld, obj, jpath, &none, keys, 7, false,
				     &id->m);
		if (st == KW_OK)
			ld->m->nidentities++;
	}
	return st;
}

/* "people": who is a person signed in (IAM Identity Center), tried
 * on the sensitive CloudTrail records that are first-sight or routine. A
 * rule is a matcher with a name, a why and conditions, and no tier of its
 * own: what it changes is fixed (models/README.md, "People"). */
static enum kw_status load_people(struct loader *ld, json_t *root)
{
	static const char *const keys[] = {"name", "why", "when"};
	/* a matcher needs a tier to fall back on; a person rule has none */
	static const struct kw_op_info any = {.tier = KW_TIER_ROUTINE};
	struct kw_model_person *p;
	char jpath[JPATH_MAX];
	json_t *arr, *obj;
	enum kw_status st;
	size_t i;

	st = get_array(ld, root, "", "people", &arr);
	for (i = 0; st == KW_OK && arr && i < json_array_size(arr); i++) {
		st = get_object_at(ld, arr, i, "people", jpath, &obj);
		if (st != KW_OK)
			break;
		if (ld->m->npeople == KW_MODELS_MAX_PEOPLE)
			return bad(ld, jpath,
				   "more than %d people rules in the models",
				   KW_MODELS_MAX_PEOPLE);
		p = &ld->m->people[ld->m->npeople];
		memset(p, 0, sizeof(*p));
		p->model = ld->mi;
		st = compile_matcher(ld, obj, jpath, &any, keys, 3, true,
				     &p->m);
		if (st == KW_OK)
			ld->m->npeople++;
	}
	return st;
}

/* An entry's "count": the counters it feeds, the names it feeds them
 * with, and when. Counters are those of the same model file. */
static enum kw_status load_counts(struct loader *ld, json_t *obj,
				  const char *jpath, struct kw_op_info *op)
{
	static const char *const keys[] = {"counter", "names", "when"};
	char at[JPATH_MAX], sub[JPATH_MAX], cw[JPATH_MAX];
	struct kw_model_count *v;
	json_t *arr, *e, *when;
	const char *name;
	enum kw_status st;
	size_t i, k, n;

	st = get_array(ld, obj, jpath, "count", &arr);
	if (st != KW_OK || !arr)
		return st;
	n = json_array_size(arr);
	sub_key(at, jpath, "count");
	if (n == 0 || n > KW_VERDICT_FEEDS)
		return bad(ld, at, "must hold 1 to %d counters",
			   KW_VERDICT_FEEDS);
	v = arena_calloc(ld, n, sizeof(*v));
	if (!v)
		return nomem(ld);
	for (i = 0; i < n; i++) {
		snprintf(at, sizeof(at), "%s.count[%zu]", jpath, i);
		e = json_array_get(arr, i);
		if (!json_is_object(e))
			return bad(ld, at, "must be an object");
		st = check_keys(ld, e, at, keys, 3);
		if (st == KW_OK)
			st = get_str(ld, e, at, "counter", true, &name);
		if (st != KW_OK)
			return st;
		for (k = ld->first_counter; k < ld->m->ncounters; k++) {
			if (!strcmp(ld->m->counters[k].name, name))
				break;
		}
		sub_key(sub, at, "counter");
		if (k == ld->m->ncounters)
			return bad(ld, sub,
				   "no counter \"%s\" in this model's "
				   "\"counters\"",
				   name);
		if (ld->m->counters[k].select)
			return bad(ld, sub, "\"%s\" selects its events itself",
				   name);
		v[i].counter = (uint8_t)k;
		if (json_object_get(e, "names")) {
			st = compile_paths(ld, e, at, "names", false,
					   &v[i].names, &v[i].nnames);
			if (st != KW_OK)
				return st;
		}
		st = get_array(ld, e, at, "when", &when);
		if (st != KW_OK)
			return st;
		v[i].nwhen = when ? json_array_size(when) : 0;
		v[i].when = arena_calloc(ld, v[i].nwhen, sizeof(*v[i].when));
		if (v[i].nwhen && !v[i].when)
			return nomem(ld);
		for (k = 0; k < v[i].nwhen; k++) {
			snprintf(cw, sizeof(cw), "%s.when[%zu]", at, k);
			st = compile_cond(ld, json_array_get(when, k), cw,
					  false, &v[i].when[k]);
			if (st != KW_OK)
				return st;
		}
	}
	op->count = v;
	op->ncount = n;
	return KW_OK;
}

/* Read the attributes shared by routes and ops entries into a new op.
 * method_access is the access implied by a route's method (UNKNOWN for
 * none); *index receives the new op's index. */
static enum kw_status add_op(struct loader *ld, json_t *obj, const char *jpath,
			     const char *name, enum kw_access method_access,
			     size_t *index)
{
	struct kw_model *md = ld->md;
	struct kw_op_info *op;
	const char *resource, *reason;
	enum kw_access access;
	char sub[JPATH_MAX];
	struct tiering tiering;
	json_t *pk;
	enum kw_status st;

	st = get_str(ld, obj, jpath, "resource", false, &resource);
	if (st == KW_OK)
		st = get_access(ld, obj, jpath, "access", &access);
	if (st == KW_OK)
		st = get_str(ld, obj, jpath, "sensitive", false, &reason);
	if (st != KW_OK)
		return st;
	pk = json_object_get(obj, "publishable");
	sub_key(sub, jpath, "publishable");
	if (pk && !json_is_boolean(pk))
		return bad(ld, sub, "must be true or false");
	st = get_tiering(ld, obj, jpath, reason != NULL, &tiering);
	if (st != KW_OK)
		return st;
	if (access == KW_ACCESS_UNKNOWN)
		access = method_access;
	if (access == KW_ACCESS_UNKNOWN && md->has_rules)
		access = kw_models_rule_access(md, name, strlen(name));
	if (access == KW_ACCESS_UNKNOWN)
		return bad(ld, jpath,
			   "missing \"access\" (no method or op_rules to "
			   "derive it from)");

	if (md->nops == md->capops) {
		size_t ncap = md->capops ? md->capops * 2 : 64;
		struct kw_op_info *nv =
			realloc(md->ops, ncap * sizeof(*md->ops));

		if (!nv)
			return kw_error_set(ld->err, KW_ENOMEM, "%s: %s",
					    ld->file, kw_strerror(KW_ENOMEM));
		md->ops = nv;
		md->capops = ncap;
	}
	op = &md->ops[md->nops];
	memset(op, 0, sizeof(*op));
	op->name.p = dup_str(ld, name, strlen(name));
	op->name.n = strlen(name);
	op->name_hash = kw_models_op_hash(name, op->name.n);
	if (!resource) {
		op->resource.p =
			dup_str(ld, name, default_resource_len(md, name));
		op->resource.n = default_resource_len(md, name);
	} else {
		op->resource.p = dup_str(ld, resource, strlen(resource));
		op->resource.n = strlen(resource);
	}
	op->reason = reason ? dup_str(ld, reason, strlen(reason)) : NULL;
	op->access = access;
	op->pk = json_is_true(pk);
	op->bulk = reason && !strncmp(reason, "bulk read:", 10);
	op->model = ld->mi;
	op->tier = tiering.tier;
	op->tactic = tiering.tactic;
	op->severity = tiering.severity;
	st = load_matchers(ld, obj, jpath, op);
	if (st == KW_OK)
		st = load_counts(ld, obj, jpath, op);
	if (st != KW_OK)
		return st;
	if (!op->name.p || !op->resource.p || (reason && !op->reason))
		return kw_error_set(ld->err, KW_ENOMEM, "%s: %s", ld->file,
				    kw_strerror(KW_ENOMEM));
	if (hash_insert(md, md->nops) != KW_OK)
		return kw_error_set(ld->err, KW_ENOMEM, "%s: %s", ld->file,
				    kw_strerror(KW_ENOMEM));
	if (op->reason)
		md->nsensitive++;
	*index = md->nops++;
	return KW_OK;
}

static enum kw_status load_ops(struct loader *ld, json_t *root)
{
	static const char *const keys[] = {
		"op",	"resource", "access",	"sensitive", "publishable",
		"tier", "tactic",   "severity", "match",     "count"};
	char jpath[JPATH_MAX];
	json_t *arr, *obj;
	const char *name;
	enum kw_status st;
	size_t i, idx;

	st = get_array(ld, root, "", "ops", &arr);
	for (i = 0; st == KW_OK && arr && i < json_array_size(arr); i++) {
		st = get_object_at(ld, arr, i, "ops", jpath, &obj);
		if (st == KW_OK)
			st = check_keys(ld, obj, jpath, keys, 10);
		if (st == KW_OK)
			st = get_str(ld, obj, jpath, "op", true, &name);
		if (st != KW_OK)
			break;
		if (kw_models_op_find(ld->md, name, strlen(name)) >= 0)
			return bad(ld, jpath, "op \"%s\" is listed twice",
				   name);
		st = add_op(ld, obj, jpath, name, KW_ACCESS_UNKNOWN, &idx);
	}
	return st;
}

/* ------------------------------------------------------------------------ */
/* Routes */

static struct kw_model_node *node_new(void)
{
	struct kw_model_node *nd = calloc(1, sizeof(*nd));
	size_t i;

	if (!nd)
		return NULL;
	for (i = 0; i < KW_M_ROUTE_SLOTS; i++)
		nd->route[i] = -1;
	return nd;
}

/* The literal child s[0..n) of nd, created (in sorted place) if absent. */
static struct kw_model_node *
node_lit(struct loader *ld, struct kw_model_node *nd, const char *s, size_t n)
{
	size_t lo = 0, hi = nd->nlit;
	struct kw_model_child *c;
	struct kw_model_node *child;
	const char *name;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp;

		c = &nd->lit[mid];
		if (c->n != n)
			cmp = c->n < n ? -1 : 1;
		else
			cmp = memcmp(c->s, s, n);
		if (cmp == 0)
			return c->node;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (nd->nlit == nd->caplit) {
		size_t ncap = nd->caplit ? nd->caplit * 2 : 4;
		struct kw_model_child *nv =
			realloc(nd->lit, ncap * sizeof(*nd->lit));

		if (!nv)
			return NULL;
		nd->lit = nv;
		nd->caplit = ncap;
	}
	/* Both made before the list moves: a failure leaves it as it was. */
	name = dup_str(ld, s, n);
	child = name ? node_new() : NULL;
	if (!child)
		return NULL;
	memmove(&nd->lit[lo + 1], &nd->lit[lo],
		(nd->nlit - lo) * sizeof(*nd->lit));
	c = &nd->lit[lo];
	c->s = name;
	c->n = (uint32_t)n;
	c->node = child;
	nd->nlit++;
	return child;
}

/* Walk (creating) the trie along a path template; *leaf gets the node. */
static enum kw_status insert_path(struct loader *ld, const char *jpath,
				  const char *tpl, struct kw_model_node **leaf)
{
	struct kw_model_node *nd;
	size_t i = 1, nseg = 0;

	if (tpl[0] != '/')
		return bad(ld, jpath, "must start with \"/\"");
	if (!ld->md->root && !(ld->md->root = node_new()))
		return kw_error_set(ld->err, KW_ENOMEM, "%s: %s", ld->file,
				    kw_strerror(KW_ENOMEM));
	nd = ld->md->root;
	while (tpl[i]) {
		const char *s = tpl + i;
		size_t n = strcspn(s, "/");
		bool ph = n >= 3 && s[0] == '{' && s[n - 1] == '}';

		if (n == 0)
			return bad(ld, jpath, "empty segment in \"%s\"", tpl);
		if (memchr(s + 1, '{', n - 1) || (memchr(s, '}', n) && !ph) ||
		    (s[0] == '{' && !ph))
			return bad(ld, jpath,
				   "a placeholder must be a whole segment "
				   "such as {id}");
		if (memchr(s, '?', n) || memchr(s, '#', n))
			return bad(ld, jpath, "must be a path without a query");
		if (++nseg > KW_MODEL_MAX_SEGS)
			return bad(ld, jpath, "more than %d segments",
				   KW_MODEL_MAX_SEGS);
		if (ph) {
			if (!nd->wild && !(nd->wild = node_new()))
				return kw_error_set(ld->err, KW_ENOMEM,
						    "%s: %s", ld->file,
						    kw_strerror(KW_ENOMEM));
			nd = nd->wild;
		} else {
			nd = node_lit(ld, nd, s, n);
			if (!nd)
				return kw_error_set(ld->err, KW_ENOMEM,
						    "%s: %s", ld->file,
						    kw_strerror(KW_ENOMEM));
		}
		i += n;
		if (tpl[i] == '/') {
			i++;
			if (!tpl[i])
				return bad(ld, jpath,
					   "must not end with \"/\"");
		}
	}
	*leaf = nd;
	return KW_OK;
}

static const char *const method_names[KW_M_ROUTE_SLOTS] = {
	[KW_M_ANY] = "",	[KW_M_GET] = "GET",
	[KW_M_POST] = "POST",	[KW_M_PUT] = "PUT",
	[KW_M_PATCH] = "PATCH", [KW_M_DELETE] = "DELETE",
	[KW_M_HEAD] = "HEAD",	[KW_M_OPTIONS] = "OPTIONS",
};

static enum kw_status load_route(struct loader *ld, json_t *obj,
				 const char *jpath)
{
	/* keys[3..] are the op's attributes, given once per op */
	static const char *const keys[] = {"method",	  "path",   "op",
					   "resource",	  "access", "sensitive",
					   "publishable", "tier",   "tactic",
					   "severity",	  "match",  "count"};
	const size_t nkeys = sizeof(keys) / sizeof(keys[0]);
	char sub[JPATH_MAX];
	const char *method, *tpl, *name;
	enum kw_model_method mid = KW_M_ANY;
	enum kw_access maccess = KW_ACCESS_UNKNOWN;
	struct kw_model_node *leaf = NULL;
	enum kw_status st;
	int32_t existing;
	size_t idx, i;

	st = check_keys(ld, obj, jpath, keys, nkeys);
	if (st == KW_OK)
		st = get_str(ld, obj, jpath, "method", false, &method);
	if (st == KW_OK)
		st = get_str(ld, obj, jpath, "path", true, &tpl);
	if (st == KW_OK)
		st = get_str(ld, obj, jpath, "op", true, &name);
	if (st != KW_OK)
		return st;
	if (method) {
		for (i = KW_M_GET; i < KW_M_ROUTE_SLOTS; i++) {
			if (!strcmp(method, method_names[i]))
				break;
		}
		sub_key(sub, jpath, "method");
		if (i == KW_M_ROUTE_SLOTS)
			return bad(ld, sub,
				   "must be one of GET, POST, PUT, PATCH, "
				   "DELETE, HEAD, OPTIONS");
		mid = (enum kw_model_method)i;
		maccess = (mid == KW_M_GET || mid == KW_M_HEAD ||
			   mid == KW_M_OPTIONS)
				  ? KW_ACCESS_READ
				  : KW_ACCESS_WRITE;
	}
	sub_key(sub, jpath, "path");
	st = insert_path(ld, sub, tpl, &leaf);
	if (st != KW_OK)
		return st;
	if (leaf->route[mid] >= 0)
		return bad(ld, jpath, "%s%s%s is already routed to %s",
			   method_names[mid], mid ? " " : "", tpl,
			   ld->md->ops[leaf->route[mid]].name.p);

	existing = kw_models_op_find(ld->md, name, strlen(name));
	if (existing >= 0) {
		/* A second route to an op: its attributes were given once. */
		for (i = 3; i < nkeys; i++) {
			if (json_object_get(obj, keys[i]))
				return bad(ld, jpath,
					   "op \"%s\" is defined earlier: give "
					   "\"%s\" there",
					   name, keys[i]);
		}
		idx = (size_t)existing;
	} else {
		st = add_op(ld, obj, jpath, name, maccess, &idx);
		if (st != KW_OK)
			return st;
	}
	leaf->route[mid] = (int32_t)idx;
	ld->md->nroutes++;
	return KW_OK;
}

static enum kw_status load_routes(struct loader *ld, json_t *root)
{
	char jpath[JPATH_MAX];
	json_t *arr, *obj;
	enum kw_status st;
	size_t i;

	st = get_array(ld, root, "", "routes", &arr);
	for (i = 0; st == KW_OK && arr && i < json_array_size(arr); i++) {
		st = get_object_at(ld, arr, i, "routes", jpath, &obj);
		if (st == KW_OK)
			st = load_route(ld, obj, jpath);
	}
	return st;
}

/* ------------------------------------------------------------------------ */
/* Prefixes and op_rules */

static enum kw_status load_prefixes(struct loader *ld, json_t *root)
{
	static const char *const keys[] = {"prefix", "kind", "mode", "learn"};
	struct kw_models *m = ld->m;
	char jpath[JPATH_MAX], sub[JPATH_MAX];
	const char *prefix, *kind, *mode, *learn;
	unsigned char first8[8];
	json_t *arr, *obj;
	enum kw_status st;
	size_t i, k, count;
	struct kw_model_prefix *px;

	st = get_array(ld, root, "", "prefixes", &arr);
	count = arr ? json_array_size(arr) : 0;
	if (st != KW_OK || count == 0)
		return st;
	px = realloc(m->prefixes, (m->nprefixes + count) * sizeof(*px));
	if (!px)
		return kw_error_set(ld->err, KW_ENOMEM, "%s: %s", ld->file,
				    kw_strerror(KW_ENOMEM));
	m->prefixes = px;
	for (i = 0; i < count; i++) {
		struct kw_model_prefix *p = &m->prefixes[m->nprefixes];

		st = get_object_at(ld, arr, i, "prefixes", jpath, &obj);
		if (st == KW_OK)
			st = check_keys(ld, obj, jpath, keys, 4);
		if (st == KW_OK)
			st = get_str(ld, obj, jpath, "prefix", true, &prefix);
		if (st == KW_OK)
			st = get_str(ld, obj, jpath, "learn", false, &learn);
		if (st == KW_OK)
			st = get_str(ld, obj, jpath, "kind", true, &kind);
		if (st == KW_OK)
			st = get_str(ld, obj, jpath, "mode", false, &mode);
		if (st != KW_OK)
			return st;
		memset(p, 0, sizeof(*p));
		for (k = KW_KIND_PUBLISHABLE; k < KW_KIND_MAX; k++) {
			if (!strcmp(kind, kw_key_kind_name(k)))
				p->kind = (enum kw_key_kind)k;
		}
		sub_key(sub, jpath, "kind");
		if (p->kind == KW_KIND_UNKNOWN)
			return bad(
				ld, sub,
				"must be one of \"publishable\", \"secret\", "
				"\"restricted\", \"long-term\", "
				"\"temporary\"");
		sub_key(sub, jpath, "mode");
		if (mode && !strcmp(mode, "live"))
			p->mode = KW_MODE_LIVE;
		else if (mode && !strcmp(mode, "test"))
			p->mode = KW_MODE_TEST;
		else if (mode)
			return bad(ld, sub, "must be \"live\" or \"test\"");
		sub_key(sub, jpath, "learn");
		if (learn && !strcmp(learn, "principal"))
			p->by_principal = true;
		else if (learn && strcmp(learn, "key"))
			return bad(ld, sub, "must be \"key\" or \"principal\"");
		for (k = 0; k < m->nprefixes; k++) {
			if (!strcmp(m->prefixes[k].s, prefix)) {
				sub_key(sub, jpath, "prefix");
				if (m->prefixes[k].model == ld->mi)
					return bad(ld, sub,
						   "\"%s\" is listed twice",
						   prefix);
				return bad(ld, sub,
					   "\"%s\" is already defined by %s",
					   prefix,
					   m->v[m->prefixes[k].model].path);
			}
		}
		p->n = strlen(prefix);
		p->s = dup_str(ld, prefix, p->n);
		memset(first8, 0, sizeof(first8));
		memcpy(first8, prefix, p->n < 8 ? p->n : 8);
		p->w8 = kw_le_get64(first8);
		p->m8 = p->n >= 8 ? UINT64_MAX
				  : (UINT64_C(1) << (8 * p->n)) - 1;
		p->model = ld->mi;
		if (!p->s)
			return kw_error_set(ld->err, KW_ENOMEM, "%s: %s",
					    ld->file, kw_strerror(KW_ENOMEM));
		m->nprefixes++;
		ld->md->nprefixes++;
	}
	return KW_OK;
}

/* An array of non-empty strings at obj.key, copied into the model's arena:
 * *out and *lens are calloc'd (freed with the model), *n their count. */
static enum kw_status get_strings(struct loader *ld, json_t *obj,
				  const char *jpath, const char *key,
				  const char ***out, size_t **lens, size_t *n)
{
	char sub[JPATH_MAX];
	json_t *arr;
	enum kw_status st;
	size_t i;

	st = get_array(ld, obj, jpath, key, &arr);
	if (st != KW_OK || !arr || !json_array_size(arr))
		return st;
	*out = calloc(json_array_size(arr), sizeof(**out));
	*lens = calloc(json_array_size(arr), sizeof(**lens));
	if (!*out || !*lens)
		return KW_ENOMEM;
	for (i = 0; i < json_array_size(arr); i++) {
		json_t *v = json_array_get(arr, i);

		sub_key(sub, jpath, key);
		snprintf(sub + strlen(sub), sizeof(sub) - strlen(sub), "[%zu]",
			 i);
		if (!json_is_string(v) || json_string_length(v) == 0)
			return bad(ld, sub, "must be a non-empty string");
		(*out)[i] = dup_str(ld, json_string_value(v),
				    json_string_length(v));
		if (!(*out)[i])
			return KW_ENOMEM;
		(*lens)[i] = json_string_length(v);
		(*n)++;
	}
	return KW_OK;
}

static enum kw_status load_rules(struct loader *ld, json_t *root)
{
	static const char *const keys[] = {"separator", "read_prefixes",
					   "default_access",
					   "strip_version_suffix"};
	struct kw_model *md = ld->md;
	json_t *rules = json_object_get(root, "op_rules");
	const char *sep;
	enum kw_status st;

	if (!rules)
		return KW_OK;
	if (!json_is_object(rules))
		return bad(ld, "op_rules", "must be an object");
	st = check_keys(ld, rules, "op_rules", keys, 4);
	if (st == KW_OK)
		st = get_str(ld, rules, "op_rules", "separator", true, &sep);
	if (st == KW_OK)
		st = get_access(ld, rules, "op_rules", "default_access",
				&md->default_access);
	if (st == KW_OK)
		st = get_strings(ld, rules, "op_rules", "read_prefixes",
				 &md->read_prefixes, &md->read_prefix_n,
				 &md->nread_prefixes);
	if (st == KW_OK)
		st = get_strings(ld, rules, "op_rules", "strip_version_suffix",
				 &md->versioned, &md->versioned_n,
				 &md->nversioned);
	if (st != KW_OK)
		return st;
	if (md->default_access == KW_ACCESS_UNKNOWN)
		md->default_access = KW_ACCESS_WRITE;
	md->sep_n = strlen(sep);
	md->sep = dup_str(ld, sep, md->sep_n);
	md->has_rules = md->sep != NULL;
	return md->has_rules ? KW_OK : KW_ENOMEM;
}

/* ------------------------------------------------------------------------ */
/* Files */

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static enum kw_status collect_resources(struct kw_model *md)
{
	size_t i, n = 0;

	if (md->nops == 0)
		return KW_OK;
	md->resources = calloc(md->nops, sizeof(*md->resources));
	if (!md->resources)
		return KW_ENOMEM;
	for (i = 0; i < md->nops; i++)
		md->resources[i] = md->ops[i].resource.p;
	qsort(md->resources, md->nops, sizeof(*md->resources), cmp_cstr);
	for (i = 0; i < md->nops; i++) {
		if (n == 0 || strcmp(md->resources[n - 1], md->resources[i]))
			md->resources[n++] = md->resources[i];
	}
	md->nresources = n;
	return KW_OK;
}

/* "links": {"request": URL, "request_test": URL}: where a person sees one
 * request of this API; {request_id} and {region} are filled in. */
static enum kw_status load_link(struct loader *ld, json_t *links,
				const char *name, const char **out)
{
	const char *v;
	char sub[JPATH_MAX];
	enum kw_status st = get_str(ld, links, "links", name, false, &v);

	if (st != KW_OK || !v)
		return st;
	sub_key(sub, "links", name);
	if (!kw_config_link_ok(v))
		return bad(ld, sub,
			   "must be an http:// or https:// URL holding "
			   "{request_id} (and optionally {region})");
	*out = dup_str(ld, v, strlen(v));
	return *out ? KW_OK : KW_ENOMEM;
}

static enum kw_status load_links(struct loader *ld, json_t *root)
{
	static const char *const keys[] = {"request", "request_test"};
	json_t *links = json_object_get(root, "links");
	enum kw_status st;

	if (!links)
		return KW_OK;
	if (!json_is_object(links))
		return bad(ld, "links", "must be an object");
	st = check_keys(ld, links, "links", keys, 2);
	if (st == KW_OK)
		st = load_link(ld, links, "request", &ld->md->link_request);
	if (st == KW_OK)
		st = load_link(ld, links, "request_test",
			       &ld->md->link_request_test);
	return st;
}

static enum kw_status load_file(struct kw_models *m, const char *path,
				const char *stem, struct kw_error *err)
{
	static const char *const keys[] = {
		"name",	    "description", "formats",  "prefixes",
		"routes",   "ops",	   "op_rules", "links",
		"counters", "identities",  "people"};
	struct loader ld = {.m = m, .err = err};
	struct kw_model *md, *nv;
	enum kw_status st;
	json_error_t jerr;
	json_t *root = NULL;
	const char *name;
	char *buf = NULL;
	size_t len = 0;

	nv = realloc(m->v, (m->n + 1) * sizeof(*m->v));
	if (!nv)
		return kw_error_set(err, KW_ENOMEM, "%s: %s", path,
				    kw_strerror(KW_ENOMEM));
	m->v = nv;
	md = &m->v[m->n];
	memset(md, 0, sizeof(*md));
	m->n++; /* counted now, so destroy frees a half-built model */
	md->name = dup_str(&ld, stem, strlen(stem));
	md->path = dup_str(&ld, path, strlen(path));
	if (!md->name || !md->path)
		return kw_error_set(err, KW_ENOMEM, "%s: %s", path,
				    kw_strerror(KW_ENOMEM));
	ld.md = md;
	ld.mi = m->n - 1;
	ld.file = md->path;

	st = kw_file_read_all(path, MODEL_FILE_MAX, &buf, &len, err);
	if (st != KW_OK)
		goto cleanup;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root && json_error_code(&jerr) == json_error_out_of_memory) {
		st = kw_error_set(err, KW_ENOMEM, "%s: %s", path,
				  kw_strerror(KW_ENOMEM));
		goto cleanup;
	}
	if (!root) {
		st = kw_error_set(err, KW_ECONFIG, "%s:%d:%d: %s", path,
				  jerr.line, jerr.column, jerr.text);
		goto cleanup;
	}
	if (!json_is_object(root)) {
		st = bad(&ld, "", "must be a JSON object");
		goto cleanup;
	}
	st = check_keys(&ld, root, "", keys, sizeof(keys) / sizeof(keys[0]));
	if (st == KW_OK)
		st = get_str(&ld, root, "", "name", false, &name);
	if (st == KW_OK && name && strcmp(name, stem))
		st = bad(&ld, "name", "must be \"%s\" (the file name)", stem);
	if (st == KW_OK && json_object_get(root, "description") &&
	    !json_is_string(json_object_get(root, "description")))
		st = bad(&ld, "description", "must be a string");
	if (st == KW_OK)
		st = get_strings(&ld, root, "", "formats", &md->formats,
				 &md->formats_n, &md->nformats);
	if (st == KW_OK)
		st = load_links(&ld, root);
	if (st == KW_OK)
		st = load_rules(&ld, root);
	if (st == KW_OK)
		st = load_prefixes(&ld, root);
	ld.first_counter = m->ncounters;
	if (st == KW_OK)
		st = load_counters(&ld, root);
	if (st == KW_OK)
		st = load_identities(&ld, root);
	if (st == KW_OK)
		st = load_people(&ld, root);
	if (st == KW_OK)
		st = load_ops(&ld, root);
	if (st == KW_OK)
		st = load_routes(&ld, root);
	if (st == KW_OK && md->nops == 0 && md->nprefixes == 0 &&
	    !md->has_rules)
		st = bad(&ld, "",
			 "defines nothing (no prefixes, routes, ops or "
			 "op_rules)");
	if (st == KW_OK && collect_resources(md) != KW_OK)
		st = kw_error_set(err, KW_ENOMEM, "%s: %s", path,
				  kw_strerror(KW_ENOMEM));
	if (st == KW_ENOMEM && err && err->status != KW_ENOMEM)
		kw_error_set(err, KW_ENOMEM, "%s: %s", path,
			     kw_strerror(KW_ENOMEM));
cleanup:
	json_decref(root);
	free(buf);
	return st;
}

static int cmp_prefix(const void *a, const void *b)
{
	const struct kw_model_prefix *x = a, *y = b;
	unsigned char cx = (unsigned char)x->s[0], cy = (unsigned char)y->s[0];

	if (cx != cy)
		return cx < cy ? -1 : 1;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->s, y->s);
}

static bool ends_with_json(const char *s)
{
	size_t n = strlen(s);

	return n > 5 && !strcmp(s + n - 5, ".json");
}

/* Names of the *.json files in dir, sorted; *out is malloc'd, each name
 * too (free_names). */
static enum kw_status list_dir(const char *dir, char ***out, size_t *n,
			       struct kw_error *err)
{
	enum kw_status st = KW_OK;
	struct dirent *de;
	char **v = NULL;
	size_t count = 0;
	DIR *d = NULL;

	*out = NULL;
	*n = 0;
	d = opendir(dir);
	if (!d) {
		st = kw_error_set(err, errno == ENOENT ? KW_ENOTFOUND : KW_EIO,
				  "%s: %s", dir, strerror(errno));
		goto cleanup;
	}
	v = calloc(MODELS_MAX, sizeof(*v));
	if (!v) {
		st = kw_error_set(err, KW_ENOMEM, "%s: %s", dir,
				  kw_strerror(KW_ENOMEM));
		goto cleanup;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !ends_with_json(de->d_name))
			continue;
		if (count == MODELS_MAX) {
			st = kw_error_set(err, KW_ETOOBIG,
					  "%s: more than %d model files", dir,
					  MODELS_MAX);
			goto cleanup;
		}
		v[count] = strndup(de->d_name, strlen(de->d_name) - 5);
		if (!v[count]) {
			st = kw_error_set(err, KW_ENOMEM, "%s: %s", dir,
					  kw_strerror(KW_ENOMEM));
			goto cleanup;
		}
		count++;
	}
	if (count == 0) {
		st = kw_error_set(err, KW_ENOTFOUND,
				  "%s: no model files (*.json)", dir);
		goto cleanup;
	}
	qsort(v, count, sizeof(*v), cmp_cstr);
	*out = v;
	*n = count;
	v = NULL;
cleanup:
	if (v) {
		while (count > 0)
			free(v[--count]);
		free(v);
	}
	if (d)
		closedir(d);
	return st;
}

enum kw_status kw_models_load(const char *dir, const char *const *names,
			      size_t n, struct kw_models **out,
			      struct kw_error *err)
{
	enum kw_status st = KW_OK;
	struct kw_models *m = NULL;
	char **listed = NULL;
	char *path = NULL;
	size_t i, k, count = n;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m) {
		st = kw_error_set(err, KW_ENOMEM, "models: %s",
				  kw_strerror(KW_ENOMEM));
		goto cleanup;
	}
	kw_arena_init(&m->arena, 0);
	if (n == 0) {
		st = list_dir(dir, &listed, &count, err);
		if (st != KW_OK)
			goto cleanup;
		names = (const char *const *)listed;
	}
	for (i = 0; i < count; i++) {
		if (!names[i][0] || strchr(names[i], '/')) {
			st = kw_error_set(err, KW_ECONFIG,
					  "models: \"%s\" is not a model name",
					  names[i]);
			goto cleanup;
		}
		free(path);
		if (asprintf(&path, "%s/%s.json", dir, names[i]) < 0) {
			path = NULL;
			st = kw_error_set(err, KW_ENOMEM, "models: %s",
					  kw_strerror(KW_ENOMEM));
			goto cleanup;
		}
		st = load_file(m, path, names[i], err);
		if (st != KW_OK)
			goto cleanup;
	}
	if (m->nprefixes)
		qsort(m->prefixes, m->nprefixes, sizeof(*m->prefixes),
		      cmp_prefix);
	for (i = 0, k = 0; k < 256; k++) {
		m->px_start[k] = (uint32_t)i;
		while (i < m->nprefixes &&
		       (unsigned char)m->prefixes[i].s[0] == k)
			i++;
	}
	m->px_start[256] = (uint32_t)m->nprefixes;
	*out = m;
	m = NULL;
cleanup:
	if (listed) {
		for (i = 0; i < count; i++)
			free(listed[i]);
		free(listed);
	}
	free(path);
	kw_models_destroy(m);
	return st;
}
