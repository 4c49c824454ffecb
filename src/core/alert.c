/*
 * alert.c - building alerts and rendering them as the spec's JSON and as a
 * line of text. The JSON keeps the field order of spec/alerts.md (jansson
 * with JSON_PRESERVE_ORDER), writes UTF-8 as is, and is compact.
 */
#include "core/alert.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/time.h"

const char *kw_severity_name(enum kw_severity s)
{
	static const char *const names[KW_SEV_MAX] = {
		[KW_SEV_INFO] = "info",		[KW_SEV_LOW] = "low",
		[KW_SEV_MEDIUM] = "medium",	[KW_SEV_HIGH] = "high",
		[KW_SEV_CRITICAL] = "critical",
	};

	return (unsigned)s < KW_SEV_MAX ? names[s] : "info";
}

bool kw_severity_parse(const char *s, enum kw_severity *out)
{
	for (int i = 0; i < KW_SEV_MAX; i++) {
		if (!strcmp(s, kw_severity_name((enum kw_severity)i))) {
			*out = (enum kw_severity)i;
			return true;
		}
	}
	return false;
}

/* "sk_live_…4242" -> "sk_live_*4242": every ellipsis becomes '*'. */
static void key_glob_from_id(const char *id, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; id[i] && o + 1 < cap;) {
		if (!strncmp(id + i, "\xe2\x80\xa6", 3)) {
			out[o++] = '*';
			i += 3;
		} else {
			out[o++] = id[i++];
		}
	}
	out[o] = '\0';
}

enum kw_status kw_alert_init(struct kw_alert *a, const char *detector,
			     enum kw_severity sev, int64_t time,
			     const struct kw_alert_key *key)
{
	char glob[sizeof(key->id)];

	memset(a, 0, sizeof(*a));
	a->detector = detector;
	a->severity = sev;
	a->time = time;
	a->key = *key;
	a->evidence = json_object();
	a->suppress = json_object();
	if (!a->evidence || !a->suppress) {
		kw_alert_clear(a);
		return KW_ENOMEM;
	}
	key_glob_from_id(key->id, glob, sizeof(glob));
	json_object_set_new(a->suppress, "detector", json_string(detector));
	json_object_set_new(a->suppress, "key", json_string(glob));
	return KW_OK;
}

void kw_alert_set_id(struct kw_alert *a, const char *subject)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	memcpy(a->id, "kwa_", 4);
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
		EVP_DigestUpdate(ctx, a->detector, strlen(a->detector) + 1);
		EVP_DigestUpdate(ctx, a->key.fp, strlen(a->key.fp) + 1);
		EVP_DigestUpdate(ctx, subject, strlen(subject));
		EVP_DigestFinal_ex(ctx, md, &mdlen);
	}
	EVP_MD_CTX_free(ctx);
	for (int i = 0; i < 8; i++) {
		a->id[4 + 2 * i] = hex[mdlen ? md[i] >> 4 : 0];
		a->id[5 + 2 * i] = hex[mdlen ? md[i] & 15 : 0];
	}
	a->id[KW_ALERT_ID_LEN] = '\0';
}

void kw_alert_summary(struct kw_alert *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->summary, sizeof(a->summary), fmt, ap);
	va_end(ap);
}

/* jansson refuses invalid UTF-8; log fields are validated by the scanner,
 * but a value cut by a caller could still split a sequence, so fall back to
 * a lossy copy rather than lose the field. */
static json_t *json_str(struct kw_str v)
{
	json_t *s = json_stringn(v.p, v.n);
	char buf[512];
	size_t n = 0;

	if (s)
		return s;
	for (size_t i = 0; i < v.n && n + 1 < sizeof(buf); i++) {
		unsigned char c = (unsigned char)v.p[i];

		buf[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	return json_stringn(buf, n);
}

void kw_alert_evidence_str(struct kw_alert *a, const char *name,
			   struct kw_str v)
{
	if (a->evidence && v.p && v.n)
		json_object_set_new(a->evidence, name, json_str(v));
}

void kw_alert_evidence_int(struct kw_alert *a, const char *name, int64_t v)
{
	if (a->evidence)
		json_object_set_new(a->evidence, name, json_integer(v));
}

void kw_alert_evidence_time(struct kw_alert *a, const char *name, int64_t us)
{
	char buf[32];

	if (a->evidence)
		json_object_set_new(
			a->evidence, name,
			json_string(kw_time_format(us, buf, sizeof(buf))));
}

void kw_alert_evidence_json(struct kw_alert *a, const char *name, json_t *v)
{
	if (a->evidence && v)
		json_object_set_new(a->evidence, name, v);
	else
		json_decref(v);
}

void kw_alert_suppress_str(struct kw_alert *a, const char *name,
			   struct kw_str v)
{
	if (a->suppress && v.p && v.n)
		json_object_set_new(a->suppress, name, json_str(v));
}

void kw_alert_add_request(struct kw_alert *a, struct kw_str rid)
{
	if (!rid.n || rid.n >= sizeof(a->requests[0]) ||
	    a->nrequests >= KW_ALERT_MAX_REQUESTS)
		return;
	for (unsigned i = 0; i < a->nrequests; i++) {
		if (strlen(a->requests[i]) == rid.n &&
		    !memcmp(a->requests[i], rid.p, rid.n))
			return;
	}
	memcpy(a->requests[a->nrequests], rid.p, rid.n);
	a->requests[a->nrequests][rid.n] = '\0';
	a->nrequests++;
}

enum kw_status kw_alert_copy(struct kw_alert *dst, const struct kw_alert *src)
{
	*dst = *src;
	dst->evidence = json_deep_copy(src->evidence);
	dst->suppress = json_deep_copy(src->suppress);
	if (!dst->evidence || !dst->suppress) {
		kw_alert_clear(dst);
		return KW_ENOMEM;
	}
	return KW_OK;
}

void kw_alert_clear(struct kw_alert *a)
{
	json_decref(a->evidence);
	json_decref(a->suppress);
	a->evidence = NULL;
	a->suppress = NULL;
}

char *kw_alert_to_json(const struct kw_alert *a)
{
	char tbuf[32];
	json_t *o = json_object();
	json_t *key = json_object();
	json_t *reqs = json_array();
	char *out = NULL;

	if (!o || !key || !reqs)
		goto cleanup;
	json_object_set_new(o, "schema", json_string("keywatch.alert/1"));
	json_object_set_new(o, "id", json_string(a->id));
	json_object_set_new(
		o, "time",
		json_string(kw_time_format(a->time, tbuf, sizeof(tbuf))));
	json_object_set_new(o, "detector", json_string(a->detector));
	json_object_set_new(o, "severity",
			    json_string(kw_severity_name(a->severity)));
	json_object_set_new(key, "id", json_str(kw_str_c(a->key.id)));
	json_object_set_new(key, "fp", json_string(a->key.fp));
	json_object_set_new(key, "kind",
			    json_string(kw_key_kind_name(a->key.kind)));
	json_object_set_new(key, "mode",
			    json_string(kw_key_mode_name(a->key.mode)));
	if (a->key.name[0])
		json_object_set_new(key, "name",
				    json_str(kw_str_c(a->key.name)));
	json_object_set(o, "key", key);
	json_object_set_new(o, "summary", json_str(kw_str_c(a->summary)));
	json_object_set_new(o, "evidence",
			    a->evidence ? json_incref(a->evidence)
					: json_object());
	for (unsigned i = 0; i < a->nrequests; i++)
		json_array_append_new(reqs, json_string(a->requests[i]));
	json_object_set(o, "requests", reqs);
	json_object_set_new(o, "suppress",
			    a->suppress ? json_incref(a->suppress)
					: json_object());
	out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
cleanup:
	json_decref(key);
	json_decref(reqs);
	json_decref(o);
	return out;
}

void kw_alert_to_text(const struct kw_alert *a, bool colour, char *buf,
		      size_t cap)
{
	static const char *const colours[KW_SEV_MAX] = {
		"\033[2m", "\033[36m", "\033[33m", "\033[31m", "\033[1;31m"};
	char tbuf[32];
	const char *on = colour ? colours[a->severity % KW_SEV_MAX] : "";
	const char *off = colour ? "\033[0m" : "";

	snprintf(buf, cap, "%s %s%-8s%s %-22s %s",
		 kw_time_format(a->time, tbuf, sizeof(tbuf)), on,
		 kw_severity_name(a->severity), off, a->detector, a->summary);
}
