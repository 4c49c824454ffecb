/*
 * model_match.c - judging one use of an operation by the conditions its
 * model entry puts on the request (models/README.md, "Matchers"): a
 * security group opened to every address, a snapshot shared with another
 * account, a trust policy open to anyone, an administrator policy attached.
 *
 * The one idea: a path names a set of values in the record's JSON
 * ("requestParameters.ipPermissions.items[].ipRanges.items[].cidrIp" is
 * every CIDR of every permission), and a condition holds when one of them
 * passes its test (with "not": when none does). A matcher with "each"
 * walks a set of elements and holds when its conditions all hold on one
 * element, so "Effect is Allow and the principal is foreign and there is
 * no ExternalId" is judged statement by statement, not across statements.
 * The record's objects are kept as raw text by the decoder and parsed here
 * with jansson, lazily, only for the few events whose operation has
 * matchers or counts; strings that hold JSON (policy documents) are parsed
 * when a path steps into them with "@json". Counts are judged the same
 * way: a count whose conditions hold feeds its counter the names its paths
 * find (hashed; the first few kept for evidence).
 */
#include "enrich/model.h"
#include "enrich/model_impl.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/json_dump.h"

/* JSON documents parsed from strings ("@json") in one judgement, and the
 * largest such string parsed. */
#define MAX_DOCS 16
#define MAX_DOC_BYTES ((size_t)256 * 1024)

struct judge {
	const struct kw_event *ev;
	const struct kw_judge_env *env;
	json_t *root[KW_ROOT_MAX];
	bool parsed[KW_ROOT_MAX];
	json_t *docs[MAX_DOCS];
	size_t ndocs;
	struct kw_str self; /* the account the record is about */
	bool oom;	    /* a document could not be parsed: no memory */
};

/* Parse n bytes of JSON at p; NULL when they are not JSON, or (then
 * j->oom) when memory ran out: a rule cannot tell those apart. jansson
 * says so with json_error_out_of_memory, except when its lexer's first
 * buffer cannot be made: then it fails with no error at all, which no
 * text does. */
static json_t *load(struct judge *j, const char *p, size_t n)
{
	json_error_t err;
	json_t *v = json_loadb(p, n, 0, &err);

	if (!v &&
	    (json_error_code(&err) == json_error_out_of_memory || !err.text[0]))
		j->oom = true;
	return v;
}

static json_t *root_value(struct judge *j, enum kw_model_root r)
{
	const struct kw_event_cloud *c = j->ev->cloud;
	struct kw_str text;

	if (j->parsed[r] || !c)
		return j->root[r];
	j->parsed[r] = true;
	switch (r) {
	case KW_ROOT_PARAMS:
		text = c->params;
		break;
	case KW_ROOT_RESPONSE:
		text = c->response;
		break;
	case KW_ROOT_ADDITIONAL:
		text = c->additional;
		break;
	case KW_ROOT_IDENTITY:
		text = c->identity;
		break;
	case KW_ROOT_ACCOUNT:
		if (c->account.n &&
		    !(j->root[r] = json_stringn(c->account.p, c->account.n)))
			j->oom = true;
		return j->root[r];
	default:
		return NULL;
	}
	if (text.n)
		j->root[r] = load(j, text.p, text.n);
	return j->root[r];
}

/* A string holding JSON, parsed and kept until the judgement ends. */
static json_t *parse_doc(struct judge *j, json_t *v)
{
	json_t *d;

	if (!json_is_string(v))
		return v;
	if (j->ndocs == MAX_DOCS || json_string_length(v) > MAX_DOC_BYTES)
		return NULL;
	d = load(j, json_string_value(v), json_string_length(v));
	if (d)
		j->docs[j->ndocs++] = d;
	return d;
}

/* Called with each value a path reaches; true stops the walk. */
typedef bool visit_fn(void *ctx, json_t *v);

static bool walk(struct judge *j, json_t *v, const struct kw_model_step *st,
		 size_t n, visit_fn *fn, void *ctx)
{
	json_t *m;
	const char *k;
	size_t i;

	if (!v || json_is_null(v))
		return false;
	if (n == 0)
		return fn(ctx, v);
	switch (st->kind) {
	case KW_STEP_KEY:
		return walk(j, json_object_get(v, st->key), st + 1, n - 1, fn,
			    ctx);
	case KW_STEP_EACH:
		m = json_object_get(v, st->key);
		if (!json_is_array(m))
			return walk(j, m, st + 1, n - 1, fn, ctx);
		json_array_foreach(m, i, v)
		{
			if (walk(j, v, st + 1, n - 1, fn, ctx))
				return true;
		}
		return false;
	case KW_STEP_ALL:
		json_object_foreach(v, k, m)
		{
			if (walk(j, m, st + 1, n - 1, fn, ctx))
				return true;
		}
		return false;
	case KW_STEP_JSON:
		return walk(j, parse_doc(j, v), st + 1, n - 1, fn, ctx);
	}
	return false;
}

static bool walk_path(struct judge *j, const struct kw_model_path *p,
		      json_t *element, visit_fn *fn, void *ctx)
{
	json_t *start =
		p->root == KW_ROOT_ELEMENT ? element : root_value(j, p->root);

	return walk(j, start, p->steps, p->nsteps, fn, ctx);
}

/* ------------------------------------------------------------------------ */
/* Tests */

static bool number_of(json_t *v, double *out)
{
	char *end;

	if (json_is_number(v)) {
		*out = json_number_value(v);
		return true;
	}
	if (!json_is_string(v) || json_string_length(v) == 0)
		return false;
	*out = strtod(json_string_value(v), &end);
	return *end == '\0';
}

/* s against one string or each of an array of strings. */
static bool str_test(json_t *arg, const char *s, size_t n, enum kw_model_test t)
{
	size_t i;
	json_t *a;

	if (json_is_array(arg)) {
		json_array_foreach(arg, i, a)
		{
			if (str_test(a, s, n, t))
				return true;
		}
		return false;
	}
	const char *w = json_string_value(arg);
	size_t wn = json_string_length(arg);

	if (!w)
		return false;
	switch (t) {
	case KW_TEST_PREFIX:
		return n >= wn && memcmp(s, w, wn) == 0;
	case KW_TEST_SUFFIX:
		return n >= wn && memcmp(s + n - wn, w, wn) == 0;
	case KW_TEST_CONTAINS:
		return wn == 0 || (n >= wn && memmem(s, n, w, wn) != NULL);
	default:
		return false;
	}
}

static bool open_cidr(json_t *v)
{
	const char *s = json_string_value(v);
	const char *slash = s ? strrchr(s, '/') : NULL;

	return slash && slash > s && strcmp(slash, "/0") == 0;
}

/* Whether the CIDR (or address) v holds an address of the internet: one
 * outside the ranges no internet host has (private, shared, loopback,
 * link-local, unique local). A value that is not a CIDR at all might be
 * anything, so it counts as the internet: a matcher that wants "only
 * internal sources" (the test with "not") then does not hold. */
static bool internet_cidr(json_t *v)
{
	static const char *const internal[] = {
		"10.0.0.0/8",	 "172.16.0.0/12", "192.168.0.0/16",
		"100.64.0.0/10", "127.0.0.0/8",	  "169.254.0.0/16",
		"fc00::/7",	 "fe80::/10",	  "::1/128"};
	const char *s = json_string_value(v);
	struct kw_cidr c, b;
	size_t i;

	if (!s || !kw_cidr_parse(s, &c))
		return true;
	for (i = 0; i < sizeof(internal) / sizeof(*internal); i++) {
		if (kw_cidr_parse(internal[i], &b) && b.bits <= c.bits &&
		    kw_cidr_contains(&b, &c.net))
			return false;
	}
	return true;
}

/* A security group permission's ports: false when it names none (ICMP);
 * all ports for protocol -1 or a TCP/UDP permission without ports. */
static bool port_range(json_t *v, long *from, long *to)
{
	json_t *proto = json_object_get(v, "ipProtocol");
	json_t *f = json_object_get(v, "fromPort");
	json_t *t = json_object_get(v, "toPort");
	const char *ps = json_string_value(proto);
	double fd, td;

	if (!json_is_object(v))
		return false;
	if ((ps && (!strcmp(ps, "-1") || !strcmp(ps, "all"))) ||
	    (json_is_integer(proto) && json_integer_value(proto) == -1) ||
	    (!f && !t && proto)) {
		*from = 0;
		*to = 65535;
		return true;
	}
	if (ps && (!strcmp(ps, "icmp") || !strcmp(ps, "icmpv6") ||
		   !strcmp(ps, "1") || !strcmp(ps, "58")))
		return false;
	if (!number_of(f, &fd) || !number_of(t, &td))
		return false;
	*from = fd < 0 ? 0 : (long)fd;
	*to = td < 0 || td > 65535 ? 65535 : (long)td;
	return *from <= *to;
}

static bool in_ports(json_t *arg, long p)
{
	size_t i;
	json_t *a;

	json_array_foreach(arg, i, a)
	{
		if (json_is_integer(a) && json_integer_value(a) == p)
			return true;
	}
	return false;
}

static bool ports_test(json_t *v, json_t *arg, bool only)
{
	long from, to, p;
	size_t i;
	json_t *a;

	if (!port_range(v, &from, &to))
		return false;
	if (only) {
		if (to - from + 1 > (long)json_array_size(arg))
			return false;
		for (p = from; p <= to; p++) {
			if (!in_ports(arg, p))
				return false;
		}
		return true;
	}
	json_array_foreach(arg, i, a)
	{
		p = (long)json_integer_value(a);
		if (from <= p && p <= to)
			return true;
	}
	return false;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
	}
	return n > 0;
}

/* The account a value names: a 12-digit id, or the account field of an
 * ARN ("arn:aws:iam::123456789012:root"). */
static bool account_of(json_t *v, struct kw_str *out)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	const char *p;
	int colons = 0;

	if (!s)
		return false;
	if (n == 12 && all_digits(s, n)) {
		*out = (struct kw_str){s, n};
		return true;
	}
	if (strncmp(s, "arn:", 4) != 0)
		return false;
	for (p = s; *p && colons < 4; p++) {
		if (*p == ':')
			colons++;
	}
	if (colons < 4 || strlen(p) < 12 || !all_digits(p, 12) ||
	    (p[12] != ':' && p[12] != '\0'))
		return false;
	*out = (struct kw_str){p, 12};
	return true;
}

static bool foreign(struct judge *j, json_t *v)
{
	struct kw_str acct;

	if (!account_of(v, &acct))
		return false;
	if (kw_str_eq(acct, j->self))
		return false;
	for (size_t i = 0; j->env && i < j->env->ntrusted; i++) {
		if (kw_str_eqc(acct, j->env->trusted[i]))
			return false;
	}
	return true;
}

struct differs_ctx {
	json_t *v;
	bool equal;
};

static bool same_value(void *ctx, json_t *w)
{
	struct differs_ctx *d = ctx;

	d->equal = json_equal(d->v, w);
	return d->equal;
}

/* v equals arg, or one of arg[]. */
static bool equals_any(json_t *v, json_t *arg)
{
	size_t i;
	json_t *a;

	if (!json_is_array(arg))
		return json_equal(v, arg);
	json_array_foreach(arg, i, a)
	{
		if (json_equal(v, a))
			return true;
	}
	return false;
}

static bool passes(struct judge *j, const struct kw_model_cond *c, json_t *v,
		   json_t *element)
{
	double x, lim;

	switch (c->test) {
	case KW_TEST_EQUALS:
		return equals_any(v, c->arg);
	case KW_TEST_OTHER_THAN:
		return !equals_any(v, c->arg);
	case KW_TEST_PREFIX:
	case KW_TEST_SUFFIX:
	case KW_TEST_CONTAINS:
		return json_is_string(v) &&
		       str_test(c->arg, json_string_value(v),
				json_string_length(v), c->test);
	case KW_TEST_PRESENT:
		return true;
	case KW_TEST_AT_LEAST:
	case KW_TEST_AT_MOST:
		lim = json_number_value(c->arg);
		if (!number_of(v, &x))
			return false;
		return c->test == KW_TEST_AT_LEAST ? x >= lim : x <= lim;
	case KW_TEST_OPEN_CIDR:
		return open_cidr(v);
	case KW_TEST_INTERNET_CIDR:
		return internet_cidr(v);
	case KW_TEST_PORTS:
	case KW_TEST_ONLY_PORTS:
		return ports_test(v, c->arg, c->test == KW_TEST_ONLY_PORTS);
	case KW_TEST_FOREIGN:
		return foreign(j, v);
	case KW_TEST_DIFFERS: {
		struct differs_ctx d = {v, false};

		if (!json_is_string(v))
			return false;
		walk_path(j, &c->differs, element, same_value, &d);
		return !d.equal;
	}
	default:
		return false;
	}
}

struct cond_ctx {
	struct judge *j;
	const struct kw_model_cond *c;
	json_t *element;
	json_t *found; /* the value that passed */
};

static bool visit_cond(void *ctx, json_t *v)
{
	struct cond_ctx *cc = ctx;

	if (!passes(cc->j, cc->c, v, cc->element))
		return false;
	cc->found = v;
	return true;
}

/* Whether c holds; *found is the value that made it (NULL with "not"). */
static bool cond_holds(struct judge *j, const struct kw_model_cond *c,
		       json_t *element, json_t **found)
{
	struct cond_ctx cc = {j, c, element, NULL};

	for (size_t i = 0; i < c->npaths && !cc.found; i++)
		walk_path(j, &c->paths[i], element, visit_cond, &cc);
	*found = c->negate ? NULL : cc.found;
	return c->negate ? cc.found == NULL : cc.found != NULL;
}

/* How telling a condition's value is in evidence: what a comparison
 * found (an open CIDR, a foreign account, a policy ARN) beats what an
 * equality found ("all", "*"); presence shows nothing, nor does the
 * caller's own identity (the alert names the key already). */
static int telling(const struct kw_model_cond *c)
{
	size_t i;

	if (c->test == KW_TEST_PRESENT)
		return 0;
	for (i = 0; i < c->npaths; i++) {
		if (c->paths[i].root != KW_ROOT_IDENTITY)
			break;
	}
	if (i == c->npaths)
		return 0;
	if (c->test == KW_TEST_EQUALS || c->test == KW_TEST_OTHER_THAN)
		return 1;
	return 2;
}

/* Every condition of m on one element (NULL: the record); *found is the
 * most telling value one of them found (the first of its rank). */
static bool all_hold(struct judge *j, const struct kw_model_matcher *m,
		     json_t *element, json_t **found)
{
	int best = 0;
	json_t *f;

	*found = NULL;
	for (size_t i = 0; i < m->nwhen; i++) {
		if (!cond_holds(j, &m->when[i], element, &f))
			return false;
		if (f && telling(&m->when[i]) > best) {
			best = telling(&m->when[i]);
			*found = f;
		}
	}
	return true;
}

struct each_ctx {
	struct judge *j;
	const struct kw_model_matcher *m;
	json_t *found;
	bool held;
};

static bool visit_element(void *ctx, json_t *v)
{
	struct each_ctx *ec = ctx;

	ec->held = all_hold(ec->j, ec->m, v, &ec->found);
	return ec->held;
}

static bool matcher_holds(struct judge *j, const struct kw_model_matcher *m,
			  json_t **found)
{
	struct each_ctx ec = {j, m, NULL, false};

	if (!m->neach)
		return all_hold(j, m, NULL, found);
	for (size_t i = 0; i < m->neach && !ec.held; i++)
		walk_path(j, &m->each[i], NULL, visit_element, &ec);
	*found = ec.held ? ec.found : NULL;
	return ec.held;
}

/* ------------------------------------------------------------------------ */
/* Evidence */

/* Whether text holds something that looks like a credential: an AWS key
 * id (AKIA/ASIA and 12 or more capitals and digits) or a long run of
 * base64 (a session token, a secret). */
static bool looks_secret(const char *s, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			   (c >= '0' && c <= '9') || c == '+' || c == '/' ||
			   c == '=';

		run = b64 ? run + 1 : 0;
		if (run >= 40)
			return true;
		if (i + 16 <= n && (!strncmp(s + i, "AKIA", 4) ||
				    !strncmp(s + i, "ASIA", 4))) {
			size_t k = i + 4;

			while (k < n && ((s[k] >= 'A' && s[k] <= 'Z') ||
					 (s[k] >= '0' && s[k] <= '9')))
				k++;
			if (k - i >= 16)
				return true;
		}
	}
	return false;
}

/* s[0..n) into out (cap bytes), cut on a UTF-8 boundary with an ellipsis
 * when it does not fit. */
static void cut_copy(const char *s, size_t n, char *out, size_t cap)
{
	if (n >= cap) {
		n = cap - 4;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		snprintf(out, cap, "%.*s\xe2\x80\xa6", (int)n, s);
	} else {
		snprintf(out, cap, "%.*s", (int)n, s);
	}
}

/* The same, keeping the end: the end of a name tells it from its
 * neighbours ("…/prod/db-password", "…secret:billing-api-key-x1Y2z3"). */
static void cut_front(const char *s, size_t n, char *out, size_t cap)
{
	size_t skip;

	if (n < cap) {
		snprintf(out, cap, "%.*s", (int)n, s);
		return;
	}
	skip = n - (cap - 4);
	while (skip < n && ((unsigned char)s[skip] & 0xC0) == 0x80)
		skip++;
	snprintf(out, cap, "\xe2\x80\xa6%.*s", (int)(n - skip), s + skip);
}

static void render_found(json_t *v, char *out, size_t cap)
{
	char *dump = NULL;
	const char *s;
	size_t n;

	out[0] = '\0';
	if (!v)
		return;
	if (json_is_string(v)) {
		s = json_string_value(v);
		n = json_string_length(v);
	} else {
		dump = kw_json_dump(v, JSON_COMPACT | JSON_ENCODE_ANY |
					       JSON_PRESERVE_ORDER);
		s = dump ? dump : "";
		n = strlen(s);
	}
	if (!looks_secret(s, n))
		cut_copy(s, n, out, cap);
	free(dump);
}

/* ------------------------------------------------------------------------ */
/* Counts */

struct names_ctx {
	struct kw_feed *f;
};

static bool add_name(void *ctx, json_t *v)
{
	struct kw_feed *f = ((struct names_ctx *)ctx)->f;
	char *dump = NULL;
	const char *s;
	size_t n;
	uint32_t h;

	if (f->nnames == KW_FEED_NAMES)
		return true;
	if (json_is_string(v)) {
		s = json_string_value(v);
		n = json_string_length(v);
	} else {
		dump = kw_json_dump(v, JSON_COMPACT | JSON_ENCODE_ANY);
		s = dump ? dump : "";
		n = strlen(s);
	}
	h = kw_models_hash(s, n);
	for (size_t i = 0; i < f->nnames; i++) {
		if (f->hash[i] == h)
			goto done;
	}
	f->hash[f->nnames++] = h;
	if (f->nshown < KW_FEED_SHOWN && !looks_secret(s, n))
		cut_front(s, n, f->shown[f->nshown++], KW_FEED_NAME_MAX);
done:
	free(dump);
	return false;
}

static void feed_counts(struct judge *j, const struct kw_op_info *op,
			const struct kw_event *ev, struct kw_verdict *out)
{
	json_t *found;

	for (size_t i = 0; i < op->ncount && out->nfeeds < KW_VERDICT_FEEDS;
	     i++) {
		const struct kw_model_count *c = &op->count[i];
		struct kw_feed *f = &out->feed[out->nfeeds];
		struct names_ctx nc = {f};
		size_t k;

		for (k = 0; k < c->nwhen; k++) {
			if (!cond_holds(j, &c->when[k], NULL, &found))
				break;
		}
		if (k < c->nwhen)
			continue;
		memset(f, 0, sizeof(*f));
		f->counter = c->counter;
		for (k = 0; k < c->nnames; k++)
			walk_path(j, &c->names[k], NULL, add_name, &nc);
		if (!f->nnames) {
			f->hash[f->nnames++] =
				kw_models_hash(ev->op.p, ev->op.n);
			cut_copy(ev->op.p, ev->op.n, f->shown[f->nshown++],
				 KW_FEED_NAME_MAX);
		}
		out->nfeeds++;
	}
}

/* ------------------------------------------------------------------------ */

/* The verdict of a matcher that held. */
static void decide(const struct kw_model_matcher *m, json_t *found,
		   struct kw_verdict *out)
{
	out->tier = m->tier;
	out->severity = m->severity;
	out->tactic = m->tactic;
	out->match = m->name;
	out->why = m->why;
	if (!out->reason)
		out->reason = m->why;
	render_found(found, out->found, sizeof(out->found));
}

/* The first identity rule for the record's userIdentity.type that holds. */
static bool judge_identity(struct judge *j, const struct kw_models *m,
			   const struct kw_event *ev, struct kw_verdict *out)
{
	json_t *found;

	for (size_t i = 0; ev->cloud && i < m->nidentities; i++) {
		const struct kw_model_identity *id = &m->identities[i];

		if (!kw_str_eqc(ev->cloud->id_type, id->type) ||
		    !matcher_holds(j, &id->m, &found))
			continue;
		out->reason = NULL;
		decide(&id->m, found, out);
		out->identity = true;
		return true;
	}
	return false;
}

/* The first "people" rule that holds, for a use judged first-sight or
 * routine that no identity rule decided: the caller is a person signed
 * in, and ops.sensitive judges the use as a person's work. */
static void judge_person(struct judge *j, const struct kw_models *m,
			 const struct kw_event *ev, struct kw_verdict *out)
{
	json_t *found;

	if (!ev->cloud || out->identity ||
	    (out->tier != KW_TIER_FIRST_SIGHT && out->tier != KW_TIER_ROUTINE))
		return;
	for (size_t i = 0; i < m->npeople; i++) {
		if (matcher_holds(j, &m->people[i].m, &found)) {
			out->person = m->people[i].m.name;
			out->person_why = m->people[i].m.why;
			return;
		}
	}
}

bool kw_models_judge(const struct kw_models *m, const struct kw_event *ev,
		     const struct kw_judge_env *env, struct kw_verdict *out)
{
	const struct kw_op_info *op = ev->info;
	struct judge j;
	json_t *found = NULL, *acct;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (op) {
		out->tier = op->tier;
		out->severity = op->severity;
		out->tactic = op->tactic;
		out->reason = op->reason;
	}
	if (!m || (!(op && (op->nmatch || op->ncount)) && !m->nidentities &&
		   !m->npeople))
		return true;
	memset(&j, 0, sizeof(j));
	j.ev = ev;
	j.env = env;
	if (ev->cloud && ev->cloud->account.n) {
		j.self = ev->cloud->account;
	} else {
		acct = json_object_get(root_value(&j, KW_ROOT_IDENTITY),
				       "accountId");
		if (json_is_string(acct))
			j.self = (struct kw_str){json_string_value(acct),
						 json_string_length(acct)};
	}
	if (!judge_identity(&j, m, ev, out)) {
		for (i = 0; op && i < op->nmatch; i++) {
			if (matcher_holds(&j, &op->match[i], &found)) {
				decide(&op->match[i], found, out);
				break;
			}
		}
	}
	judge_person(&j, m, ev, out);
	if (op)
		feed_counts(&j, op, ev, out);
	for (i = 0; i < KW_ROOT_MAX; i++)
		json_decref(j.root[i]);
	for (i = 0; i < j.ndocs; i++)
		json_decref(j.docs[i]);
	return !j.oom;
}
