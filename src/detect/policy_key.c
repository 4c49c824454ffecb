/*
 * policy_key.c - detectors about the key itself, from the config and the
 * request's headers; no history needed:
 *
 *   key.honey           a decoy key (config "honey": true) is used at all;
 *   key.expired_used    a key the config marks as rolled ("expires") is
 *                       used at or after that time;
 *   key.client_exposed  a server-side key (secret, restricted, AWS) is sent
 *                       by a browser: an Origin header, or a User-Agent
 *                       that starts with "Mozilla/" as every browser's does
 *                       (not an AWS console session: the console gives the
 *                       browser a temporary key by design).
 *
 * A test-mode key moves no real money, so its alerts are one step lower.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/time.h"

#include "detect/detector.h"

static const char *const names[] = {"key.honey", "key.expired_used",
				    "key.client_exposed", NULL};

struct policy_key {
	bool honey, expired, exposed;
};

static enum kw_status pk_create(const struct kw_detector_env *env, void **self,
				struct kw_error *err)
{
	struct policy_key *p = calloc(1, sizeof(*p));

	if (!p)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	p->honey = kw_detect_enabled(env->cfg, "key.honey");
	p->expired = kw_detect_enabled(env->cfg, "key.expired_used");
	p->exposed = kw_detect_enabled(env->cfg, "key.client_exposed");
	*self = p;
	return KW_OK;
}

static enum kw_severity step_down_for_test(const struct kw_keyent *key,
					   enum kw_severity s)
{
	return key->mode == KW_MODE_TEST && s > KW_SEV_INFO ? s - 1 : s;
}

/* What every key alert shows of the request. */
static void request_evidence(struct kw_alert *a, const struct kw_event *ev)
{
	char ip[64];

	if (ev->ip.family)
		kw_alert_evidence_str(
			a, "ip",
			kw_str_c(kw_ip_format(&ev->ip, ip, sizeof(ip))));
	kw_alert_evidence_str(a, "source", ev->source);
	kw_alert_evidence_str(a, "op", ev->op);
	kw_alert_evidence_str(a, "method", ev->method);
	kw_alert_evidence_str(a, "path", ev->path);
	if (ev->status)
		kw_alert_evidence_int(a, "status", ev->status);
}

static const char *where_from(const struct kw_event *ev, char *buf, size_t cap)
{
	char ip[64];

	if (ev->ip.family)
		snprintf(buf, cap, " from %s",
			 kw_ip_format(&ev->ip, ip, sizeof(ip)));
	else if (ev->source.n)
		snprintf(buf, cap, " from %.*s", (int)ev->source.n,
			 ev->source.p);
	else
		buf[0] = '\0';
	return buf;
}

/* " (op, status N<tail>)" with the parts the request has; "" when it has
 * none. */
static const char *request_note(const struct kw_event *ev, bool status,
				const char *tail, char *buf, size_t cap)
{
	int n = 0;

	buf[0] = '\0';
	if (ev->op.n)
		n = snprintf(buf, cap, " (%.*s", (int)ev->op.n, ev->op.p);
	if (status && ev->status && n >= 0 && (size_t)n < cap)
		n += snprintf(buf + n, cap - (size_t)n, "%sstatus %d",
			      n ? ", " : " (", ev->status);
	if (n > 0 && (size_t)n < cap)
		snprintf(buf + n, cap - (size_t)n, "%s)", tail);
	return buf;
}

static void honey(const struct kw_event *ev, struct kw_keyent *key,
		  const struct kw_emit *emit)
{
	struct kw_alert a;
	char label[256], from[96], note[160];

	if (kw_detect_alert(&a, emit, "key.honey", KW_SEV_CRITICAL, ev, key) !=
	    KW_OK)
		return;
	kw_alert_summary(&a,
			 "decoy key %s was used%s%s: it is planted, never "
			 "deployed, so whoever holds it took it from where it "
			 "was planted",
			 kw_detect_key_label(key, label, sizeof(label)),
			 where_from(ev, from, sizeof(from)),
			 request_note(ev, false, "", note, sizeof(note)));
	request_evidence(&a, ev);
	kw_alert_evidence_str(&a, "user_agent", ev->user_agent);
	kw_alert_set_id(&a, "honey");
	kw_emit(emit, &a);
}

static void expired(const struct kw_event *ev, struct kw_keyent *key,
		    const struct kw_keyconf *kc, const struct kw_emit *emit)
{
	bool accepted = ev->status >= 200 && ev->status < 400;
	struct kw_alert a;
	char label[256], from[96], when[32], note[160];
	enum kw_severity sev = accepted ? KW_SEV_CRITICAL : KW_SEV_HIGH;

	if (kw_detect_alert(&a, emit, "key.expired_used",
			    step_down_for_test(key, sev), ev, key) != KW_OK)
		return;
	kw_alert_summary(
		&a, "%s was rolled at %s but is still used%s%s",
		kw_detect_key_label(key, label, sizeof(label)),
		kw_time_format(kc->expires, when, sizeof(when)),
		where_from(ev, from, sizeof(from)),
		request_note(ev, true,
			     accepted ? ": the API still accepts it" : "", note,
			     sizeof(note)));
	kw_alert_evidence_time(&a, "expires", kc->expires);
	request_evidence(&a, ev);
	kw_alert_evidence_json(&a, "accepted", json_boolean(accepted));
	kw_alert_set_id(&a, "expired");
	kw_emit(emit, &a);
}

/* Sent by a browser, and not by the AWS console, which hands the browser
 * a temporary key by design (CloudTrail's sessionCredentialFromConsole). */
static bool from_browser(const struct kw_event *ev)
{
	if (ev->cloud && ev->cloud->console)
		return false;
	return ev->origin.n > 0 ||
	       kw_str_has_prefix(ev->user_agent, "Mozilla/");
}

static void exposed(const struct kw_event *ev, struct kw_keyent *key,
		    const struct kw_emit *emit)
{
	struct kw_alert a;
	char label[256];

	if (kw_detect_alert(&a, emit, "key.client_exposed",
			    step_down_for_test(key, KW_SEV_HIGH), ev,
			    key) != KW_OK)
		return;
	/* A key learnt on its principal is one session's: name the key and
	 * whose it is. */
	if (key->flags & KW_KEYENT_PRINCIPAL)
		snprintf(label, sizeof(label), "%s of %s", a.key.id,
			 a.key.principal);
	else
		kw_detect_key_label(key, label, sizeof(label));
	kw_alert_summary(&a,
			 "%s key %s was sent by a browser%s%.*s: a %s key "
			 "belongs on servers only; roll it",
			 kw_key_kind_name((enum kw_key_kind)key->kind), label,
			 ev->origin.n ? " from origin " : "", (int)ev->origin.n,
			 ev->origin.p,
			 kw_key_kind_name((enum kw_key_kind)key->kind));
	kw_alert_evidence_str(&a, "origin", ev->origin);
	kw_alert_evidence_str(&a, "user_agent", ev->user_agent);
	request_evidence(&a, ev);
	kw_alert_set_id(&a, "browser");
	kw_emit(emit, &a);
}

static void pk_observe(void *self, const struct kw_event *ev,
		       struct kw_keyent *key, void *state,
		       const struct kw_emit *emit)
{
	const struct policy_key *p = self;
	const struct kw_keyconf *kc = kw_detect_keyconf(key);

	(void)state;
	if (kc && kc->honey && p->honey)
		honey(ev, key, emit);
	if (kc && kc->has_expires && ev->ts >= kc->expires && p->expired)
		expired(ev, key, kc, emit);
	/* A CloudTrail record with no key (a console sign-in, learnt on its
	 * principal) exposes none. */
	if (p->exposed && !(ev->cloud && !ev->key.n) &&
	    kw_detect_server_key(key) && from_browser(ev))
		exposed(ev, key, emit);
}

static void pk_destroy(void *self)
{
	free(self);
}

const struct kw_detector_ops kw_detect_policy_key = {
	.name = "policy.key",
	.kind = KW_DETECTOR_POLICY,
	.detectors = names,
	.options = NULL,
	.state_size = 0,
	.create = pk_create,
	.observe = pk_observe,
	.destroy = pk_destroy,
};
