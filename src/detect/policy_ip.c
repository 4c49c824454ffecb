/*
 * policy_ip.c - geo.ip_not_allowed: a request from an address outside the
 * key's configured allowlist ("allow_ips": CIDR networks, IPv4 and IPv6).
 * A request without an address (CloudTrail's service principals) is not
 * judged: an AWS service acting for the key is not the key leaving its
 * network.
 */
#include <stdio.h>
#include <stdlib.h>

#include "detect/detector.h"

static const char *const names[] = {"geo.ip_not_allowed", NULL};

static enum kw_status pi_create(const struct kw_detector_env *env, void **self,
				struct kw_error *err)
{
	bool *on = malloc(sizeof(*on));

	if (!on)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	*on = kw_detect_enabled(env->cfg, "geo.ip_not_allowed");
	*self = on;
	return KW_OK;
}

static bool allowed(const struct kw_keyconf *kc, const struct kw_ip *ip)
{
	for (size_t i = 0; i < kc->nallow_ips; i++) {
		if (kw_cidr_contains(&kc->allow_ips[i], ip))
			return true;
	}
	return false;
}

/* NULL when out of memory (the alert is then marked incomplete). */
static json_t *allowlist(const struct kw_keyconf *kc)
{
	json_t *arr = json_array();
	char buf[64], net[80];

	for (size_t i = 0; arr && i < kc->nallow_ips; i++) {
		snprintf(net, sizeof(net), "%s/%u",
			 kw_ip_format(&kc->allow_ips[i].net, buf, sizeof(buf)),
			 kc->allow_ips[i].bits);
		kw_alert_list_add(&arr, json_string(net));
	}
	return arr;
}

/* ev's address against kc's networks, and the alert when it is outside
 * them; out of line, so that an event of a key without networks does not
 * set up its stack. */
static __attribute__((noinline)) void check_ip(const struct kw_event *ev,
					       struct kw_keyent *key,
					       const struct kw_keyconf *kc,
					       const struct kw_emit *emit)
{
	struct kw_alert a;
	char ip[64], label[256], subject[80];
	enum kw_severity sev = KW_SEV_HIGH;

	if (allowed(kc, &ev->ip))
		return;
	kw_ip_format(&ev->ip, ip, sizeof(ip));
	if (key->mode == KW_MODE_TEST)
		sev = KW_SEV_MEDIUM;
	if (kw_detect_alert(&a, emit, "geo.ip_not_allowed", sev, ev, key) !=
	    KW_OK)
		return;
	kw_alert_summary(&a,
			 "%s was used from %s, outside its allowed networks "
			 "(%.*s, status %d)",
			 kw_detect_key_label(key, label, sizeof(label)), ip,
			 (int)ev->op.n, ev->op.p, ev->status);
	kw_alert_evidence_str(&a, "ip", kw_str_c(ip));
	kw_alert_evidence_json(&a, "allow_ips", allowlist(kc));
	kw_alert_evidence_str(&a, "op", ev->op);
	if (ev->status)
		kw_alert_evidence_int(&a, "status", ev->status);
	kw_alert_evidence_str(&a, "user_agent", ev->user_agent);
	kw_alert_suppress_str(&a, "ip", kw_str_c(ip));
	snprintf(subject, sizeof(subject), "ip=%s", ip);
	kw_alert_set_id(&a, subject);
	kw_emit(emit, &a);
}

static void pi_observe(void *self, const struct kw_event *ev,
		       struct kw_keyent *key, void *state,
		       const struct kw_emit *emit)
{
	const bool *on = self;
	const struct kw_keyconf *kc = kw_detect_keyconf(key);

	(void)state;
	if (*on && kc && kc->nallow_ips && ev->ip.family)
		check_ip(ev, key, kc, emit);
}

static void pi_destroy(void *self)
{
	free(self);
}

const struct kw_detector_ops kw_detect_policy_ip = {
	.name = "policy.ip",
	.kind = KW_DETECTOR_POLICY,
	.detectors = names,
	.options = NULL,
	.state_size = 0,
	.create = pi_create,
	.observe = pi_observe,
	.destroy = pi_destroy,
};
