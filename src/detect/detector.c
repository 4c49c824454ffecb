/*
 * detector.c - the detector registry, config checks shared by all
 * families, and the helpers that start an alert.
 */
#include "detect/detector.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/key.h"
#include "state/handouts.h"

static const struct kw_detector_ops *const registry[] = {
	&kw_detect_policy_key, &kw_detect_policy_ops,
	&kw_detect_policy_ip,  &kw_detect_geo,
	&kw_detect_rate,       &kw_detect_errors,
	&kw_detect_ops,	       &kw_detect_harvest,
	&kw_detect_instance,   NULL,
};

const struct kw_detector_ops *const *kw_detect_all(void)
{
	return registry;
}

const json_t *kw_detect_options(const struct kw_config *cfg,
				const char *detector)
{
	return json_object_get(cfg->detectors, detector);
}

void kw_emit_note(const struct kw_emit *e, enum kw_log_level level,
		  const char *component, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (e->note)
		e->note(e->ctx, level, component, text);
	else
		kw_log_msg(level, component, "%s", text);
}

bool kw_detect_enabled(const struct kw_config *cfg, const char *detector)
{
	const json_t *o = kw_detect_options(cfg, detector);
	const json_t *e = o ? json_object_get(o, "enabled") : NULL;

	return !e || json_is_true(e);
}

static const struct kw_detector_ops *family_of(const char *detector)
{
	for (size_t i = 0; registry[i]; i++) {
		for (size_t j = 0; registry[i]->detectors[j]; j++) {
			if (!strcmp(registry[i]->detectors[j], detector))
				return registry[i];
		}
	}
	return NULL;
}

/* The learned detectors of spec/alerts.md that later families implement;
 * the config may already name them (to switch them off). */
static const char *const planned[] = {
	NULL,
};

enum kw_status kw_detect_check_config(const struct kw_config *cfg,
				      struct kw_error *err)
{
	const char *names[64];
	const char *name;
	json_t *opts;
	size_t n = 0;

	for (size_t i = 0; registry[i]; i++) {
		for (size_t j = 0; registry[i]->detectors[j] && n < 40; j++)
			names[n++] = registry[i]->detectors[j];
	}
	for (size_t i = 0; planned[i] && n < 63; i++)
		names[n++] = planned[i];
	names[n] = NULL;
	json_object_foreach(cfg->detectors, name, opts)
	{
		const struct kw_detector_ops *fam = family_of(name);
		struct kw_option table[32];
		char where[96];
		size_t t = 0;
		bool known = false;

		for (size_t i = 0; names[i]; i++)
			known = known || !strcmp(names[i], name);
		if (!known) {
			const char *s = kw_config_suggest(name, names);

			return kw_error_set(
				err, KW_ECONFIG,
				"%s: detectors: unknown detector '%s'%s%s%s",
				cfg->file, name, s ? " (did you mean '" : "",
				s ? s : "", s ? "'?)" : "");
		}
		table[t++] = (struct kw_option){"enabled", KW_OPT_BOOL, "true",
						"run this detector"};
		table[t++] = (struct kw_option){
			"runbook_url", KW_OPT_STRING, NULL,
			"what to do when it fires: a link in its messages"};
		for (size_t i = 0;
		     fam && fam->options && fam->options[i].name && t < 31; i++)
			table[t++] = fam->options[i];
		table[t] = (struct kw_option){NULL, 0, NULL, NULL};
		snprintf(where, sizeof(where), "detectors.%s", name);
		if (!fam) {
			/* Not built yet: only "enabled" is understood. */
			if (kw_config_check_object(opts, table, cfg->file,
						   where, err) != KW_OK)
				return err->status;
			continue;
		}
		if (kw_config_check_object(opts, table, cfg->file, where,
					   err) != KW_OK)
			return err->status;
	}
	return KW_OK;
}

const char *kw_detect_key_label(const struct kw_keyent *key, char *buf,
				size_t cap)
{
	const struct kw_keyconf *kc = kw_detect_keyconf(key);
	struct kw_text t = kw_text_at(buf, cap);

	kw_text_puts(&t, kw_keyent_id(key));
	if (kc && kc->name) {
		kw_text_puts(&t, " (");
		kw_text_puts(&t, kc->name);
		kw_text_puts(&t, ")");
	}
	return buf;
}

enum kw_status kw_detect_alert(struct kw_alert *a, const struct kw_emit *emit,
			       const char *detector, enum kw_severity sev,
			       const struct kw_event *ev,
			       const struct kw_keyent *key)
{
	const struct kw_keyconf *kc = kw_detect_keyconf(key);
	struct kw_alert_key ak;
	enum kw_status st;
	struct kw_text id;

	memset(&ak, 0, sizeof(ak));
	id = kw_text_at(ak.id, sizeof(ak.id));
	kw_text_puts(&id, kw_keyent_id(key));
	if (key->flags & KW_KEYENT_PRINCIPAL) {
		/* The principal is what was learnt; the key is this
		 * session's. */
		if (ev->principal.n) /* in full: key->id may be cut */
			kw_key_principal_label(ev->principal.p, ev->principal.n,
					       ak.principal,
					       sizeof(ak.principal));
		else
			snprintf(ak.principal, sizeof(ak.principal), "%s",
				 kw_keyent_id(key));
		if (ev->key.n)
			kw_key_redact(ev->key.p, ev->key.n, ak.id,
				      sizeof(ak.id));
	}
	if (ev->parent) {
		snprintf(ak.parent_id, sizeof(ak.parent_id), "%s",
			 ev->parent->id);
		snprintf(ak.parent_principal, sizeof(ak.parent_principal), "%s",
			 ev->parent->principal);
	}
	memcpy(ak.fp, key->fp, sizeof(ak.fp));
	ak.kind = (enum kw_key_kind)key->kind;
	ak.mode = (enum kw_key_mode)key->mode;
	/* The config's name for the key, redacted by value like request
	 * text: a key pasted as its own name is not shown whole. */
	if (kc && kc->name && !emit->unread)
		kw_key_scrub(ak.name, sizeof(ak.name), kw_str_c(kc->name),
			     ev->key, kw_keyent_id(key));
	st = kw_alert_init(a, detector, sev, ev->ts, &ak);
	if (st != KW_OK)
		return st;
	a->unread = emit->unread;
	if (a->unread)
		return KW_OK; /* the rest is only read */
	/* A key learnt on its own still acts for someone: say who (after
	 * init, so that its suppression stays the key's). */
	if (!(key->flags & KW_KEYENT_PRINCIPAL) && ev->cloud && ev->principal.n)
		kw_key_principal_label(ev->principal.p, ev->principal.n,
				       a->key.principal,
				       sizeof(a->key.principal));
	a->secret = ev->key; /* redaction by value of what goes in */
	kw_alert_add_request(a, ev->request_id);
	kw_alert_evidence_str(a, "region", ev->region);
	if (kc && kc->runbook_url)
		snprintf(a->runbook, sizeof(a->runbook), "%s", kc->runbook_url);
	return KW_OK;
}

/* Percent-encode what is not unreserved (RFC 3986) into out. */
static bool put_encoded(char *out, size_t cap, size_t *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || strchr("-._~", c);

		if (*o + (plain ? 1 : 3) >= cap)
			return false;
		if (plain) {
			out[(*o)++] = (char)c;
		} else {
			out[(*o)++] = '%';
			out[(*o)++] = hex[c >> 4];
			out[(*o)++] = hex[c & 15];
		}
	}
	return true;
}

/* The template with {request_id} and {region} filled in; false when it
 * needs a region the alert does not have, or does not fit. */
static bool fill_link(const char *tpl, const char *rid, const char *region,
		      char *out, size_t cap)
{
	size_t o = 0;

	for (const char *p = tpl; *p;) {
		/* a placeholder only where a '{' is */
		if (*p == '{' && !strncmp(p, "{request_id}", 12)) {
			if (!put_encoded(out, cap, &o, rid))
				return false;
			p += 12;
		} else if (*p == '{' && !strncmp(p, "{region}", 8)) {
			if (!region || !region[0] ||
			    !put_encoded(out, cap, &o, region))
				return false;
			p += 8;
		} else {
			if (o + 1 >= cap)
				return false;
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	return true;
}

void kw_detect_finish_alert(struct kw_alert *a, const struct kw_config *cfg,
			    const struct kw_models *models)
{
	const char *tpl = cfg->link_request, *region, *rb;
	char url[1024];
	size_t n;

	if (a->unread)
		return;
	/* NUL-terminated in either form of the alert */
	region = kw_alert_evidence_text(a, "region", &n);
	rb = json_string_value(json_object_get(
		kw_detect_options(cfg, a->detector), "runbook_url"));
	if (!a->runbook[0] && rb)
		snprintf(a->runbook, sizeof(a->runbook), "%s", rb);
	if (!tpl)
		tpl = kw_models_request_link(models, a->key.id,
					     strlen(a->key.id), a->key.mode);
	for (unsigned i = 0; tpl && i < a->nrequests; i++) {
		if (!kw_alert_link(a, a->requests[i]) &&
		    fill_link(tpl, a->requests[i], region, url, sizeof(url)))
			kw_alert_add_link(a, a->requests[i], url);
	}
}
