/*
 * ops.c - ops.first_seen and ops.sensitive: an operation the key has never
 * performed.
 *
 * The one idea: per key, the set of operations it has performed is a
 * 1024-bit Bloom filter (3 bits per operation, 128 bytes), so it is fixed
 * in size however many operations a key uses. With the few dozen
 * operations a key really uses, the chance that a new one looks known
 * (a missed alert, never a false one) stays well under one in a thousand;
 * the filter never forgets, so a key that has used an operation is never
 * alerted about it again.
 *
 *   - ops.sensitive: the model marks the operation sensitive (payouts,
 *     webhook endpoints, creating keys or users, stopping logging) and the
 *     key has not performed it before. Raised even during the learning
 *     period: an attacker's first request with a stolen key is often the
 *     key's first sensitive one. High once the key has learnt; while it
 *     learns, low on the key's first day (a key new to keywatch shows its
 *     routine sensitive work then: decrypting, reading its secrets,
 *     deploying) and medium after it.
 *     Bulk reads (the model's reason starts "bulk read:": listing
 *     customers, charges, events) are the exception: many keys list as a
 *     matter of course, so the ones a key performs while learning are its
 *     habit and raise nothing, and one it takes up later is raised as low:
 *     worth a look, not a page. Listing page after page far beyond the
 *     key's habit is what rate.spike sees, at a severity that grows with
 *     the volume.
 *   - ops.first_seen: any other operation the key has not performed
 *     before, after its learning period. Low: a new habit is worth a look,
 *     not a page (quiet keys take up rare operations late).
 *
 * Per key: the filter and a count of operations added. 136 bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/learned.h"

#define BLOOM_BITS 1024
#define DAY_US (INT64_C(86400) * 1000000)

static const char *const names[] = {"ops.first_seen", "ops.sensitive", NULL};

struct ops_key {
	uint8_t bits[BLOOM_BITS / 8];
	uint32_t ops; /* operations added (first times), saturating */
	uint32_t pad;
};

struct ops {
	const struct kw_config *cfg;
	const struct kw_models *models;
	bool on_first, on_sensitive;
};

static enum kw_status ops_create(const struct kw_detector_env *env, void **self,
				 struct kw_error *err)
{
	struct ops *o = calloc(1, sizeof(*o));

	if (!o)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	o->cfg = env->cfg;
	o->models = env->models;
	o->on_first = kw_detect_enabled(env->cfg, "ops.first_seen");
	o->on_sensitive = kw_detect_enabled(env->cfg, "ops.sensitive");
	*self = o;
	return KW_OK;
}

/* 8 bytes at a time (operation names are short and this runs for every
 * event), then a final mix so every bit of the result depends on all of
 * them. Little-endian loads: the filter's bits are the same on every run
 * of the same build, which is what state files need. */
static uint64_t op_hash(struct kw_str op)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ op.n;
	size_t i = 0;

	for (; i + 8 <= op.n; i += 8) {
		uint64_t w;

		memcpy(&w, op.p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	if (i < op.n) {
		uint64_t w = 0;

		memcpy(&w, op.p + i, op.n - i);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return h;
}

/* Add op; true when it was (probably) there before. */
static bool seen_add(struct ops_key *st, struct kw_str op)
{
	uint64_t h = op_hash(op);
	bool seen = true;

	for (int i = 0; i < 3; i++) {
		unsigned b = (unsigned)(h >> (i * 10)) % BLOOM_BITS;
		uint8_t m = (uint8_t)(1u << (b % 8));

		if (!(st->bits[b / 8] & m)) {
			seen = false;
			st->bits[b / 8] |= m;
		}
	}
	if (!seen && st->ops < UINT32_MAX)
		st->ops++;
	return seen;
}

static bool bulk_read(const char *reason)
{
	return reason && !strncmp(reason, "bulk read:", 10);
}

/* How sure a first sensitive operation is to be abuse: high once the key
 * has learnt (medium when the API refused it); while it learns, low on its
 * first day (a key new to keywatch does its routine work: decrypting,
 * reading its secrets, deploying) and medium after. */
static enum kw_severity sensitive_severity(const struct ops *o,
					   const struct kw_event *ev,
					   const struct kw_keyent *key)
{
	enum kw_severity sev = ev->status >= 400 ? KW_SEV_MEDIUM : KW_SEV_HIGH;

	if (!kw_detect_learning(o->cfg, key, ev->ts))
		return sev;
	if (ev->ts - key->first_seen < DAY_US)
		return KW_SEV_LOW;
	return KW_SEV_MEDIUM;
}

static void op_alert(const struct ops *o, const struct kw_event *ev,
		     struct kw_keyent *key, const struct ops_key *st,
		     bool sensitive, const char *reason,
		     const struct kw_emit *emit)
{
	struct kw_alert a;
	char label[256], ip[64], subject[300], how[300] = "";
	const char *det = sensitive ? "ops.sensitive" : "ops.first_seen";
	enum kw_severity sev = KW_SEV_LOW;

	if (sensitive && !bulk_read(reason))
		sev = sensitive_severity(o, ev, key);
	if (kw_detect_alert(&a, det, kw_learned_sev(key, sev), ev, key) !=
	    KW_OK)
		return;
	/* "(GET /v1/customers, refused by the API)"; CloudTrail events have
	 * no method or path: "(refused by the API)" or nothing. */
	if (ev->method.n || ev->path.n)
		snprintf(how, sizeof(how), " (%.*s %.*s%s)", (int)ev->method.n,
			 ev->method.p, (int)ev->path.n, ev->path.p,
			 ev->status >= 400 ? ", refused by the API" : "");
	else if (ev->status >= 400)
		snprintf(how, sizeof(how), " (refused by the API)");
	kw_alert_summary(&a, "%s performed %s%.*s for the first time%s",
			 kw_detect_key_label(key, label, sizeof(label)),
			 sensitive ? "the sensitive operation " : "",
			 (int)ev->op.n, ev->op.p, how);
	kw_alert_evidence_str(&a, "op", ev->op);
	kw_alert_evidence_str(&a, "access",
			      kw_str_c(kw_access_name(ev->access)));
	kw_alert_evidence_str(&a, "method", ev->method);
	kw_alert_evidence_str(&a, "path", ev->path);
	if (ev->status)
		kw_alert_evidence_int(&a, "status", ev->status);
	if (ev->ip.family)
		kw_alert_evidence_str(
			&a, "ip",
			kw_str_c(kw_ip_format(&ev->ip, ip, sizeof(ip))));
	if (reason)
		kw_alert_evidence_str(&a, "sensitive", kw_str_c(reason));
	kw_alert_evidence_int(&a, "known_ops", st->ops);
	kw_alert_evidence_time(&a, "learned_since", key->first_seen);
	kw_alert_suppress_str(&a, "op", ev->op);
	snprintf(subject, sizeof(subject), "op=%.*s", (int)ev->op.n, ev->op.p);
	kw_alert_set_id(&a, subject);
	kw_emit(emit, &a);
}

static void ops_observe(void *self, const struct kw_event *ev,
			struct kw_keyent *key, void *state,
			const struct kw_emit *emit)
{
	struct ops *o = self;
	struct ops_key *st = state;
	bool sensitive = (ev->flags & KW_EV_SENSITIVE) != 0;
	const char *reason = NULL;
	bool learning;

	if (!ev->op.n || (!o->on_first && !o->on_sensitive))
		return;
	if (seen_add(st, ev->op))
		return;
	learning = kw_detect_learning(o->cfg, key, ev->ts);
	if (sensitive && o->models)
		reason = kw_models_sensitive_reason(o->models, ev->op.p,
						    ev->op.n);
	if (sensitive) {
		if (o->on_sensitive && !(learning && bulk_read(reason)))
			op_alert(o, ev, key, st, true, reason, emit);
		return;
	}
	if (o->on_first && !learning)
		op_alert(o, ev, key, st, false, NULL, emit);
}

static void ops_destroy(void *self)
{
	free(self);
}

const struct kw_detector_ops kw_detect_ops = {
	.name = "ops",
	.kind = KW_DETECTOR_LEARNED,
	.detectors = names,
	.options = NULL,
	.state_size = sizeof(struct ops_key),
	.create = ops_create,
	.observe = ops_observe,
	.destroy = ops_destroy,
};
