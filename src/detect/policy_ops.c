/*
 * policy_ops.c - ops.not_permitted: an operation the key may not perform,
 * whether or not the API refused it (a refusal still means someone tried).
 *
 *   - a publishable key may do only what the model marks as allowed for
 *     publishable keys (create tokens and payment methods, confirm intents,
 *     ...); anything else means the key is used outside a browser checkout;
 *   - a key with "permissions" in the config is held to them: each model
 *     resource is none, read or write (write implies read), and a resource
 *     it does not list is none.
 *
 * Operations whose access the model cannot tell are not judged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detector.h"

static const char *const names[] = {"ops.not_permitted", NULL};

static enum kw_status po_create(const struct kw_detector_env *env, void **self,
				struct kw_error *err)
{
	bool *on = malloc(sizeof(*on));

	if (!on)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	*on = kw_detect_enabled(env->cfg, "ops.not_permitted");
	*self = on;
	return KW_OK;
}

static void ops_evidence(struct kw_alert *a, const struct kw_event *ev)
{
	char ip[64];

	kw_alert_evidence_str(a, "op", ev->op);
	kw_alert_evidence_str(a, "resource", ev->resource);
	kw_alert_evidence_str(a, "access",
			      kw_str_c(kw_access_name(ev->access)));
	kw_alert_evidence_str(a, "method", ev->method);
	kw_alert_evidence_str(a, "path", ev->path);
	if (ev->status)
		kw_alert_evidence_int(a, "status", ev->status);
	kw_alert_evidence_json(a, "refused", json_boolean(ev->status >= 400));
	if (ev->ip.family)
		kw_alert_evidence_str(
			a, "ip",
			kw_str_c(kw_ip_format(&ev->ip, ip, sizeof(ip))));
}

static const char *outcome(const struct kw_event *ev)
{
	if (!ev->status)
		return "";
	return ev->status >= 400 ? ", refused by the API"
				 : ", and the API allowed it";
}

static void publishable(const struct kw_event *ev, struct kw_keyent *key,
			const struct kw_emit *emit)
{
	struct kw_alert a;
	char label[256], subject[300];
	bool accepted = ev->status >= 200 && ev->status < 400;

	if (kw_detect_alert(&a, emit, "ops.not_permitted",
			    accepted ? KW_SEV_CRITICAL : KW_SEV_HIGH, ev,
			    key) != KW_OK)
		return;
	kw_alert_summary(&a,
			 "publishable key %s called %.*s, which a publishable "
			 "key may not do%s",
			 kw_detect_key_label(key, label, sizeof(label)),
			 (int)ev->op.n, ev->op.p, outcome(ev));
	ops_evidence(&a, ev);
	kw_alert_evidence_str(&a, "permission", kw_str_c("publishable key"));
	kw_alert_suppress_str(&a, "op", ev->op);
	snprintf(subject, sizeof(subject), "op=%.*s", (int)ev->op.n, ev->op.p);
	kw_alert_set_id(&a, subject);
	kw_emit(emit, &a);
}

static void restricted(const struct kw_event *ev, struct kw_keyent *key,
		       enum kw_access granted, const struct kw_emit *emit)
{
	struct kw_alert a;
	char label[256], subject[300];
	enum kw_severity sev = KW_SEV_HIGH;

	if (ev->flags & KW_EV_SENSITIVE)
		sev = KW_SEV_CRITICAL;
	if (key->mode == KW_MODE_TEST)
		sev--;
	if (kw_detect_alert(&a, emit, "ops.not_permitted", sev, ev, key) !=
	    KW_OK)
		return;
	kw_alert_summary(&a,
			 "%s called %.*s, which needs %s on %.*s; its "
			 "permissions grant %s%s",
			 kw_detect_key_label(key, label, sizeof(label)),
			 (int)ev->op.n, ev->op.p, kw_access_name(ev->access),
			 (int)ev->resource.n, ev->resource.p,
			 kw_access_name(granted), outcome(ev));
	ops_evidence(&a, ev);
	kw_alert_evidence_str(&a, "granted", kw_str_c(kw_access_name(granted)));
	kw_alert_suppress_str(&a, "op", ev->op);
	snprintf(subject, sizeof(subject), "op=%.*s", (int)ev->op.n, ev->op.p);
	kw_alert_set_id(&a, subject);
	kw_emit(emit, &a);
}

static void po_observe(void *self, const struct kw_event *ev,
		       struct kw_keyent *key, void *state,
		       const struct kw_emit *emit)
{
	const bool *on = self;
	const struct kw_keyconf *kc = kw_detect_keyconf(key);
	enum kw_access granted;

	(void)state;
	if (!*on || !ev->op.n)
		return;
	if (key->kind == KW_KIND_PUBLISHABLE) {
		if (!(ev->flags & KW_EV_PK_ALLOWED))
			publishable(ev, key, emit);
		return;
	}
	if (!kc || !kc->has_perms || ev->access < KW_ACCESS_READ)
		return;
	granted = kw_keyconf_access(kc, ev->resource.p, ev->resource.n);
	if (granted < ev->access)
		restricted(ev, key, granted, emit);
}

static void po_destroy(void *self)
{
	free(self);
}

const struct kw_detector_ops kw_detect_policy_ops = {
	.name = "policy.ops",
	.kind = KW_DETECTOR_POLICY,
	.detectors = names,
	.options = NULL,
	.state_size = 0,
	.create = po_create,
	.observe = po_observe,
	.destroy = po_destroy,
};
