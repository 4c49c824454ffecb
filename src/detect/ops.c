/*
 * ops.c - ops.first_seen and ops.sensitive: an operation the key has never
 * performed, and operations the model's catalogue marks sensitive.
 *
 * The one idea: per key, the set of operations it has performed is a
 * 1024-bit Bloom filter (3 bits per operation, 128 bytes), so it is fixed
 * in size however many operations a key uses. With the few dozen
 * operations a key really uses, the chance that a new one looks known
 * (a missed alert, never a false one) stays well under one in a thousand;
 * the filter never forgets, so a key that has used an operation is never
 * alerted about it again.
 *
 *   - ops.sensitive: the model marks the operation sensitive, with a tier
 *     (models/README.md, "Tiers") that says how its use is judged:
 *       never-routine  (stopping logging, sharing snapshots, handing out
 *                      credentials): the model's fixed severity, every
 *                      time, from the key's first request on;
 *       first-sight    (SSM commands, Lambda code, IAM changes): medium
 *                      the first time while the key learns, high once it
 *                      has learnt that it never does this;
 *       routine        (reading a secret, decrypting): what a key new to
 *                      keywatch does on its first day is its routine work
 *                      (low), medium later while it learns, high once it
 *                      has learnt.
 *     Then: a call the API refused (401/403) drops one step, but a
 *     never-routine one stays at least medium and a routine one is low
 *     (many keys try what they may not: a console page, an optional
 *     secret; a key probing many is what the counters see); any other failure
 * (a validation error, a missing entity) is low, since nothing happened; a call
 * an AWS service made on the user's behalf (CloudTrail's invokedBy) is judged
 * as if the key were still learning (a template asks for what each release
 * needs) and drops one step; a test-mode key drops one step; a first-sight or
 * routine use by a person signed in (the model's "people" rules: IAM Identity
 * Center) is judged as if the key were still learning (a person's work never
 * settles into a routine) and drops one step: their administration is shown,
 * not paged, unless its parameters make it never-routine. Bulk reads (the
 * model's reason starts "bulk read:": listing customers, charges, events) are
 * the exception: many keys list as a matter of course, so the ones a key
 * performs while learning are its habit and raise nothing, and one it takes up
 * later is raised as low: worth a look, not a page. Listing page after page far
 * beyond the key's habit is what rate.spike sees.
 *   - ops.first_seen: any other operation the key has not performed
 *     before, after its learning period. Low: a new habit is worth a look,
 *     not a page (quiet keys take up rare operations late).
 *
 * Per key: a count of operations added, and the filter. A key's first
 * eight operations are kept as a list of what the filter would keep of
 * them (its three bit positions), which answers exactly as the filter
 * would; the filter itself (128 bytes) is made from the list at the
 * ninth, as the family's overflow part, so a key that uses few
 * operations holds 40 bytes. Layout version 2: version 1 (the filter and
 * the count, 136 bytes) is carried over by ops_upgrade.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "detect/learned.h"

#define BLOOM_BITS 1024
#define DAY_US (INT64_C(86400) * 1000000)
#define LIST 8		      /* operations kept before the filter */
#define SPILLED 0xffu	      /* ops_key.nlist: the filter holds them */
#define POSITIONS 0x3fffffffu /* what the filter keeps of a hash */

static const char *const names[] = {"ops.first_seen", "ops.sensitive", NULL};

struct ops_key {
	uint32_t ops;	     /* operations added (first times), saturating */
	uint32_t nlist;	     /* entries in list, or SPILLED */
	uint32_t list[LIST]; /* the first operations' hashes & POSITIONS */
	/* Where the filter (struct ops_more) is when the state is whole
	 * (a state file, the family driven on its own). In a key table it
	 * is apart, made at the ninth operation (kw_detect_overflow). */
	uint8_t more[];
};

struct ops_more {
	uint8_t bits[BLOOM_BITS / 8];
};

#define OPS_STATE_SIZE (sizeof(struct ops_key) + sizeof(struct ops_more))
_Static_assert(sizeof(struct ops_key) == offsetof(struct ops_key, more),
	       "the filter follows the list with no padding between");

/* Layout version 1: the filter, then the count. */
#define V1_SIZE (BLOOM_BITS / 8 + 8)

struct ops {
	const struct kw_config *cfg;
	bool on_first, on_sensitive;
};

static enum kw_status ops_create(const struct kw_detector_env *env, void **self,
				 struct kw_error *err)
{
	struct ops *o = calloc(1, sizeof(*o));

	if (!o)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	o->cfg = env->cfg;
	o->on_first = kw_detect_enabled(env->cfg, "ops.first_seen");
	o->on_sensitive = kw_detect_enabled(env->cfg, "ops.sensitive");
	*self = o;
	return KW_OK;
}

/* The filter hash of ev's op: an op the model named carries it. */
static uint64_t op_hash_of(const struct kw_event *ev)
{
	if (ev->info && ev->op.p == ev->info->name.p &&
	    ev->op.n == ev->info->name.n)
		return ev->info->name_hash;
	return kw_models_op_hash(ev->op.p, ev->op.n);
}

/* Bit position i (0 to 2) of the filter for an operation: 10 bits of
 * its hash each. */
static unsigned position(uint32_t e, unsigned i)
{
	return (e >> (10 * i)) % BLOOM_BITS;
}

static bool bloom_has(const uint8_t *bits, uint32_t e)
{
	/* the three bits tested at once (an op seen before, nearly every
	 * event, has them all) */
	unsigned b0 = position(e, 0), b1 = position(e, 1), b2 = position(e, 2);

	return (bits[b0 / 8] >> (b0 % 8)) & (bits[b1 / 8] >> (b1 % 8)) &
	       (bits[b2 / 8] >> (b2 % 8)) & 1;
}

static void bloom_add(uint8_t *bits, uint32_t e)
{
	for (unsigned i = 0; i < 3; i++)
		bits[position(e, i) / 8] |=
			(uint8_t)(1u << (position(e, i) % 8));
}

/* Whether the filter made of the list would have bit b. */
static bool list_has_bit(const struct ops_key *st, unsigned b)
{
	for (uint32_t i = 0; i < st->nlist; i++) {
		uint32_t e = st->list[i];

		if (position(e, 0) == b || position(e, 1) == b ||
		    position(e, 2) == b)
			return true;
	}
	return false;
}

/* Whether the list holds e, or would have it in its filter: what the
 * filter answers. */
static bool list_has(const struct ops_key *st, uint32_t e)
{
	for (uint32_t i = 0; i < st->nlist; i++) {
		if (st->list[i] == e)
			return true;
	}
	return list_has_bit(st, position(e, 0)) &&
	       list_has_bit(st, position(e, 1)) &&
	       list_has_bit(st, position(e, 2));
}

/* Add the op whose kw_models_op_hash is h; true when it was (probably)
 * there before. Without memory for the filter an op is taken as known:
 * a missed alert, never a false one. */
static bool seen_add(struct ops_key *st, struct kw_keyent *key, uint64_t h,
		     const struct kw_emit *emit)
{
	uint32_t e = (uint32_t)h & POSITIONS;
	struct ops_more *m;

	if (st->nlist != SPILLED) {
		if (list_has(st, e))
			return true;
		if (st->nlist < LIST) {
			st->list[st->nlist++] = e;
			goto added;
		}
	}
	m = kw_detect_overflow(emit, &kw_detect_ops, 0, key, st, true);
	if (!m)
		return true;
	if (st->nlist != SPILLED) { /* the list is full: the filter now */
		for (uint32_t i = 0; i < LIST; i++)
			bloom_add(m->bits, st->list[i]);
		st->nlist = SPILLED;
	} else if (bloom_has(m->bits, e)) {
		return true;
	}
	bloom_add(m->bits, e);
added:
	if (st->ops < UINT32_MAX)
		st->ops++;
	return false;
}

static bool bulk(const struct kw_event *ev)
{
	return ev->info && ev->info->bulk;
}

static bool refused(const struct kw_event *ev)
{
	return ev->status == 401 || ev->status == 402 || ev->status == 403;
}

static bool invoked_by_service(const struct kw_event *ev)
{
	return ev->cloud && ev->cloud->invoked_by.n > 0;
}

/* The severity of a sensitive operation by its tier, the key's learning,
 * and what happened to the call (see the top of the file). */
static enum kw_severity tier_severity(const struct ops *o,
				      const struct kw_event *ev,
				      const struct kw_keyent *key,
				      const struct kw_verdict *v)
{
	/* a person's work does not settle into a routine, and a service
	 * acting for the key (a stack's template) does what it is asked,
	 * which changes with every release: for neither is what a learnt
	 * key has not done before a sign */
	bool learning = v->person || invoked_by_service(ev) ||
			kw_detect_learning(o->cfg, key, ev->ts);
	enum kw_severity sev;

	switch (v->tier) {
	case KW_TIER_NEVER_ROUTINE:
		sev = v->severity;
		break;
	case KW_TIER_FIRST_SIGHT:
		sev = v->severity;
		if (!learning && sev < KW_SEV_HIGH)
			sev = KW_SEV_HIGH;
		break;
	default:
		if (!learning)
			sev = KW_SEV_HIGH;
		else if (ev->ts - key->first_seen < DAY_US)
			sev = KW_SEV_LOW;
		else
			sev = KW_SEV_MEDIUM;
		break;
	}
	if (ev->status >= 400 && !refused(ev))
		return KW_SEV_LOW;
	/* a routine use refused: many keys try what they may not (a console
	 * page, an optional secret); one probing many is the counters' */
	if (refused(ev) && v->tier == KW_TIER_ROUTINE)
		return KW_SEV_LOW;
	if (refused(ev) && sev > KW_SEV_LOW)
		sev--;
	if (refused(ev) && v->tier == KW_TIER_NEVER_ROUTINE &&
	    sev < KW_SEV_MEDIUM)
		sev = KW_SEV_MEDIUM;
	if (invoked_by_service(ev) && sev > KW_SEV_LOW)
		sev--;
	if (v->person && sev > KW_SEV_LOW)
		sev--;
	return sev;
}

/* "(GET /v1/customers, refused by the API)", "(refused by the API)",
 * "(through cloudformation.amazonaws.com)" or "". */
static const char *how(const struct kw_event *ev, char *buf, size_t cap)
{
	struct kw_text t = kw_text_at(buf, cap);
	const char *outcome = "";
	bool open = false;

	if (refused(ev))
		outcome = "refused by the API";
	else if (ev->status >= 400)
		outcome = "failed";
	if (ev->method.n || ev->path.n) {
		kw_text_puts(&t, " (");
		kw_text_str(&t, ev->method);
		kw_text_puts(&t, " ");
		kw_text_str(&t, ev->path);
		if (*outcome)
			kw_text_puts(&t, ", ");
		kw_text_puts(&t, outcome);
		open = true;
	} else if (*outcome) {
		kw_text_puts(&t, " (");
		kw_text_puts(&t, outcome);
		open = true;
	}
	if (invoked_by_service(ev)) {
		kw_text_puts(&t, open ? ", through " : " (through ");
		kw_text_str(&t, ev->cloud->invoked_by);
		open = true;
	}
	if (open)
		kw_text_puts(&t, ")");
	return buf;
}

/* The alert's summary into t: "<label> performed <op>... (<how>)". */
static void summary_in(struct kw_text *t, const char *label,
		       const struct kw_event *ev, const struct kw_verdict *v,
		       const char *note, const char *what)
{
	kw_text_puts(t, label);
	kw_text_puts(t, " performed ");
	if (v && v->tier == KW_TIER_NEVER_ROUTINE) {
		kw_text_str(t, ev->op);
		kw_text_puts(t, note);
		kw_text_puts(t, ": ");
		kw_text_puts(t, what[0]	    ? what + 2
				: v->reason ? v->reason
					    : "");
		kw_text_puts(t, " (never routine)");
		return;
	}
	if (v)
		kw_text_puts(t, "the sensitive operation ");
	kw_text_str(t, ev->op);
	kw_text_puts(t, " for the first time");
	kw_text_puts(t, note);
	kw_text_puts(t, what);
}

/* The summary made whole (on the heap when the stack's buffer is short),
 * then redacted into the alert. */
static void summarise(struct kw_alert *a, const char *label,
		      const struct kw_event *ev, const struct kw_verdict *v,
		      const char *note, const char *what)
{
	char buf[1024], *big = NULL;
	struct kw_text t = kw_text_at(buf, sizeof(buf));

	summary_in(&t, label, ev, v, note, what);
	if (kw_text_cut(&t) && (big = malloc(t.want + 1)) != NULL) {
		t = kw_text_at(big, t.want + 1);
		summary_in(&t, label, ev, v, note, what);
	}
	kw_alert_summary_text(a, (struct kw_str){t.p, t.n});
	free(big);
}

/* What a person reads of an ops alert: its summary and evidence. */
static void op_describe(struct kw_alert *a, const struct kw_event *ev,
			const struct kw_keyent *key, const struct ops_key *st,
			const struct kw_verdict *v)
{
	char label[256], ip[64], note[300];
	char what[400] = "";

	kw_detect_key_label(key, label, sizeof(label));
	how(ev, note, sizeof(note));
	/* ": opens ... to every address on the internet (0.0.0.0/0)" */
	if (v && v->why)
		snprintf(what, sizeof(what), ": %s%s%s%s", v->why,
			 v->found[0] ? " (" : "", v->found,
			 v->found[0] ? ")" : "");
	if (v && v->person) {
		size_t w = strlen(what);

		snprintf(what + w, sizeof(what) - w, "%s%s", w ? "; " : ": ",
			 v->person_why);
	}
	summarise(a, label, ev, v, note, what);
	kw_alert_evidence_str(a, "op", ev->op);
	kw_alert_evidence_str(a, "access",
			      kw_str_c(kw_access_name(ev->access)));
	kw_alert_evidence_str(a, "method", ev->method);
	kw_alert_evidence_str(a, "path", ev->path);
	if (ev->status)
		kw_alert_evidence_int(a, "status", ev->status);
	if (ev->ip.family)
		kw_alert_evidence_str(
			a, "ip",
			kw_str_c(kw_ip_format(&ev->ip, ip, sizeof(ip))));
	if (v && v->reason)
		kw_alert_evidence_str(a, "sensitive", kw_str_c(v->reason));
	if (v) {
		kw_alert_evidence_str(a, "tier",
				      kw_str_c(kw_tier_name(v->tier)));
		kw_alert_evidence_str(a, "tactic",
				      kw_str_c(kw_tactic_name(v->tactic)));
		kw_alert_evidence_str(a, "match", kw_str_c(v->match));
		kw_alert_evidence_str(a, "found", kw_str_c(v->found));
		kw_alert_evidence_str(a, "person", kw_str_c(v->person));
	}
	if (invoked_by_service(ev))
		kw_alert_evidence_str(a, "invoked_by", ev->cloud->invoked_by);
	kw_alert_evidence_int(a, "known_ops", st->ops);
	kw_alert_evidence_time(a, "learned_since", key->first_seen);
}

static void op_alert(const struct ops *o, const struct kw_event *ev,
		     struct kw_keyent *key, const struct ops_key *st,
		     const struct kw_verdict *v, const struct kw_emit *emit)
{
	struct kw_alert a;
	char subject[300];
	const char *det = v ? "ops.sensitive" : "ops.first_seen";
	enum kw_severity sev = KW_SEV_LOW;

	if (v && !(v->tier == KW_TIER_ROUTINE && bulk(ev) && !v->match))
		sev = tier_severity(o, ev, key, v);
	if (kw_detect_alert(&a, emit, det, kw_learned_sev(key, sev), ev, key) !=
	    KW_OK)
		return;
	if (!a.unread)
		op_describe(&a, ev, key, st, v);
	/* An identity rule is about who acted, whatever the operation:
	 * one alert per principal and rule, not per operation. */
	if (v && v->identity) {
		kw_alert_suppress_str(&a, "match", kw_str_c(v->match));
		snprintf(subject, sizeof(subject), "match=%s", v->match);
	} else {
		struct kw_text t = kw_text_at(subject, sizeof(subject));

		kw_alert_suppress_str(&a, "op", ev->op);
		if (v && v->match)
			kw_alert_suppress_str(&a, "match", kw_str_c(v->match));
		kw_text_puts(&t, "op=");
		kw_text_str(&t, ev->op);
		if (v && v->match) {
			kw_text_puts(&t, " match=");
			kw_text_puts(&t, v->match);
		}
	}
	kw_alert_set_id(&a, subject);
	kw_emit(emit, &a);
}

/* The model's judgement of this use of the operation: the engine's (it
 * judged the event: matchers, identity rules) or the entry's own. */
static void judge(const struct kw_event *ev, struct kw_verdict *v)
{
	const struct kw_op_info *info = ev->info;

	if (ev->verdict) {
		*v = *ev->verdict;
		return;
	}
	memset(v, 0, sizeof(*v));
	if (!info)
		return;
	v->tier = info->tier;
	v->severity = info->severity;
	v->tactic = info->tactic;
	v->reason = info->reason;
}

/* The Bloom filter's entry for a sensitive use: the operation, and the
 * matcher that decided ("ec2:AuthorizeSecurityGroupIngress#world-open"),
 * so a key that opened a port to its office is still told about opening
 * one to the world. */
static struct kw_str seen_name(const struct kw_event *ev,
			       const struct kw_verdict *v, char *buf,
			       size_t cap)
{
	int n;

	if (!v->match)
		return ev->op;
	if (v->identity)
		n = snprintf(buf, cap, "#%s", v->match);
	else
		n = snprintf(buf, cap, "%.*s#%s", (int)ev->op.n, ev->op.p,
			     v->match);
	return (struct kw_str){buf, n < 0	      ? 0
				    : (size_t)n < cap ? (size_t)n
						      : cap - 1};
}

static void ops_observe(void *self, const struct kw_event *ev,
			struct kw_keyent *key, void *state,
			const struct kw_emit *emit)
{
	struct ops *o = self;
	struct ops_key *st = state;
	struct kw_verdict v;
	char buf[256];
	bool seen, learning;

	if (!ev->op.n || (!o->on_first && !o->on_sensitive))
		return;
	seen = seen_add(st, key, op_hash_of(ev), emit);
	learning = kw_detect_learning(o->cfg, key, ev->ts);
	if (ev->verdict || (ev->info && ev->info->tier != KW_TIER_NONE))
		judge(ev, &v);
	else
		v.tier = KW_TIER_NONE;
	if (v.tier != KW_TIER_NONE) {
		if (!o->on_sensitive)
			return;
		if (v.match) {
			struct kw_str name =
				seen_name(ev, &v, buf, sizeof(buf));

			seen = seen_add(st, key,
					kw_models_op_hash(name.p, name.n),
					emit);
		}
		/* Never routine: every time (the router holds back repeats
		 * within its dedup window). */
		if (v.tier == KW_TIER_NEVER_ROUTINE ||
		    (!seen && !(learning && v.tier == KW_TIER_ROUTINE &&
				bulk(ev) && !v.match)))
			op_alert(o, ev, key, st, &v, emit);
		return;
	}
	if (!seen && o->on_first && !learning)
		op_alert(o, ev, key, st, NULL, emit);
}

static void ops_destroy(void *self)
{
	free(self);
}

/* The list within its array or spilled, each entry a hash's positions,
 * and the filter empty until spilled: what observe() leaves. */
static bool ops_validate(const void *state, char *why, size_t cap)
{
	const struct ops_key *st = state;

	if (st->nlist > LIST && st->nlist != SPILLED) {
		snprintf(why, cap, "ops: %u operations listed (at most %d)",
			 st->nlist, LIST);
		return false;
	}
	for (size_t i = 0; i < LIST; i++) {
		if (st->list[i] > POSITIONS) {
			snprintf(why, cap,
				 "ops: a listed operation past 30 "
				 "bits");
			return false;
		}
	}
	if (st->nlist != SPILLED && !kw_bytes_zero(st->more, BLOOM_BITS / 8)) {
		snprintf(why, cap, "ops: a filter before the list is full");
		return false;
	}
	return true;
}

/* Version 1 (the filter, then the count) as version 2: the count, and
 * the filter spilled (a key with none yet lists from nothing). */
static void ops_upgrade(const void *old, void *now)
{
	const uint8_t *bits = old;
	struct ops_key *st = now;

	memcpy(&st->ops, bits + BLOOM_BITS / 8, sizeof(st->ops));
	st->nlist = kw_bytes_zero(bits, BLOOM_BITS / 8) ? 0 : SPILLED;
	memcpy(st->more, bits, BLOOM_BITS / 8);
}

const struct kw_detector_ops kw_detect_ops = {
	.name = "ops",
	.kind = KW_DETECTOR_LEARNED,
	.detectors = names,
	.options = NULL,
	.state_size = OPS_STATE_SIZE,
	.state_version = 2,
	.state_size_v1 = V1_SIZE,
	.parts = {{offsetof(struct ops_key, more), sizeof(struct ops_more)}},
	.upgrade_size = V1_SIZE,
	.upgrade = ops_upgrade,
	.validate = ops_validate,
	.create = ops_create,
	.observe = ops_observe,
	.destroy = ops_destroy,
};
