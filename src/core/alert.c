/*
 * alert.c - building alerts and rendering them as the spec's JSON and as a
 * line of text. The JSON keeps the field order of spec/alerts.md, writes
 * UTF-8 as is, and is compact. A plain alert is written straight into a
 * buffer (core/json_dump.h), field by field, with no jansson tree around
 * it; to_object builds the same layout as a tree, for an incident message
 * and for whoever needs the alert as a value, and the two give the same
 * bytes (tests/unit/test_json_dump.c, the fuzz target alert_json).
 */
#include "core/alert.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_dump.h"
#include "core/key.h"
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
	/* NULL: a JSON value that is not a string (a spooled alert, a
	 * config), which is no severity either. */
	for (int i = 0; s && i < KW_SEV_MAX; i++) {
		if (!strcasecmp(s, kw_severity_name((enum kw_severity)i))) {
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

/* obj[name] = v (stolen), marking the alert incomplete when it cannot be
 * stored (obj or v NULL: an allocation failed). */
static void put(struct kw_alert *a, json_t *obj, const char *name, json_t *v)
{
	if (!obj || json_object_set_new(obj, name, v) != 0)
		a->incomplete = true;
	if (!obj)
		json_decref(v);
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
	if (!a->evidence)
		a->incomplete = true;
	key_glob_from_id(key->id, glob, sizeof(glob));
	put(a, a->suppress, "detector", json_string(detector));
	if (key->principal[0])
		put(a, a->suppress, "principal", json_string(key->principal));
	else
		put(a, a->suppress, "key", json_string(glob));
	return KW_OK;
}

void kw_alert_make_id(char *out, const char *prefix, const char *const *parts,
		      size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	memcpy(out, prefix, 4);
	if (ctx && EVP_DigestInit_ex(ctx, kw_sha256(), NULL) == 1) {
		for (size_t i = 0; i < n; i++)
			EVP_DigestUpdate(ctx, parts[i],
					 strlen(parts[i]) + (i + 1 < n));
		EVP_DigestFinal_ex(ctx, md, &mdlen);
	}
	EVP_MD_CTX_free(ctx);
	for (int i = 0; i < 8; i++) {
		out[4 + 2 * i] = hex[mdlen ? md[i] >> 4 : 0];
		out[5 + 2 * i] = hex[mdlen ? md[i] & 15 : 0];
	}
	out[KW_ALERT_ID_LEN] = '\0';
}

void kw_alert_set_id(struct kw_alert *a, const char *subject)
{
	const char *parts[] = {a->detector, a->key.fp, subject};

	kw_alert_make_id(a->id, "kwa_", parts, 3);
}

/* Text from a request made safe and bounded (kw_key_scrub with the
 * alert's key) into out. */
static size_t scrub(const struct kw_alert *a, struct kw_str v, char *out,
		    size_t cap)
{
	return kw_key_scrub(out, cap, v, a->secret, a->key.id);
}

void kw_alert_summary(struct kw_alert *a, const char *fmt, ...)
{
	char buf[1024];
	char *text = buf;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* Whole before it is redacted, so that no piece of a key is left
	 * where the first try was cut. */
	if (n >= (int)sizeof(buf) && (text = malloc((size_t)n + 1))) {
		va_start(ap, fmt);
		vsnprintf(text, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	if (!text)
		text = buf;
	scrub(a, (struct kw_str){text, strlen(text)}, a->summary,
	      sizeof(a->summary));
	if (text != buf)
		free(text);
}

/* Whether p[0..n) is valid UTF-8 (as jansson checks it). */
static bool utf8_ok(const unsigned char *p, size_t n)
{
	for (size_t i = 0, len; i < n; i += len) {
		len = kw_utf8_len(p + i, n - i);
		if (!len)
			return false;
	}
	return true;
}

/* jansson refuses invalid UTF-8; log fields are validated by the scanner,
 * but a value cut by a caller could still split a sequence, so fall back to
 * a lossy copy rather than lose the field. NULL when out of memory (valid
 * text that jansson did not take). */
static json_t *json_str(struct kw_str v)
{
	json_t *s = json_stringn(v.p, v.n);
	char buf[512];
	size_t n = 0;

	if (s || utf8_ok((const unsigned char *)v.p, v.n))
		return s;
	for (size_t i = 0; i < v.n && n + 1 < sizeof(buf); i++) {
		unsigned char c = (unsigned char)v.p[i];

		buf[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	return json_stringn(buf, n);
}

/* A string for the evidence or suppress objects: redacted and bounded. */
static json_t *text_value(const struct kw_alert *a, struct kw_str v)
{
	char buf[KW_ALERT_TEXT_MAX];
	size_t n = scrub(a, v, buf, sizeof(buf));

	return json_str((struct kw_str){buf, n});
}

void kw_alert_evidence_str(struct kw_alert *a, const char *name,
			   struct kw_str v)
{
	if (v.p && v.n)
		put(a, a->evidence, name, text_value(a, v));
}

void kw_alert_evidence_int(struct kw_alert *a, const char *name, int64_t v)
{
	put(a, a->evidence, name, json_integer(v));
}

void kw_alert_evidence_time(struct kw_alert *a, const char *name, int64_t us)
{
	char buf[32];

	put(a, a->evidence, name,
	    json_string(kw_time_format(us, buf, sizeof(buf))));
}

/* Every string inside v (objects and arrays, to a small depth: detectors
 * build flat values) redacted and bounded in place. */
static void scrub_json(const struct kw_alert *a, json_t *v, int depth)
{
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_string(v)) {
		struct kw_str s = {json_string_value(v), json_string_length(v)};

		if (s.n > KW_ALERT_TEXT_MAX - 1 ||
		    (a->secret.n && kw_key_in(s, a->secret))) {
			char buf[KW_ALERT_TEXT_MAX];
			size_t n = scrub(a, s, buf, sizeof(buf));

			if (json_string_setn(v, buf, n) != 0)
				json_string_set(v, "?");
		}
	} else if (json_is_array(v) && depth < 8) {
		json_array_foreach(v, i, x) scrub_json(a, x, depth + 1);
	} else if (json_is_object(v) && depth < 8) {
		json_object_foreach(v, k, x) scrub_json(a, x, depth + 1);
	}
}

void kw_alert_evidence_json(struct kw_alert *a, const char *name, json_t *v)
{
	/* v NULL: the caller could not build it. */
	if (v)
		scrub_json(a, v, 0);
	put(a, a->evidence, name, v);
}

void kw_alert_list_add(json_t **list, json_t *v)
{
	if (*list && json_array_append_new(*list, v) == 0)
		return;
	if (!*list)
		json_decref(v);
	json_decref(*list);
	*list = NULL;
}

void kw_alert_suppress_str(struct kw_alert *a, const char *name,
			   struct kw_str v)
{
	if (v.p && v.n)
		put(a, a->suppress, name, text_value(a, v));
}

void kw_alert_add_request(struct kw_alert *a, struct kw_str rid)
{
	char buf[sizeof(a->requests[0])];
	size_t n;

	if (!rid.n || a->nrequests >= KW_ALERT_MAX_REQUESTS)
		return;
	n = scrub(a, rid, buf, sizeof(buf));
	for (unsigned i = 0; i < a->nrequests; i++) {
		if (!strcmp(a->requests[i], buf))
			return;
	}
	memcpy(a->requests[a->nrequests], buf, n + 1);
	a->nrequests++;
}

/* A new {"request": request, "url": url} (the caller owns it), as
 * json_pack("{s:s,s:s}") makes it without parsing a format; NULL when
 * either is not valid UTF-8 or memory ran out. */
static json_t *link_new(const char *request, const char *url)
{
	json_t *l = json_object();

	if (!l || json_object_set_new(l, "request", json_string(request)) ||
	    json_object_set_new(l, "url", json_string(url))) {
		json_decref(l);
		return NULL;
	}
	return l;
}

void kw_alert_add_link(struct kw_alert *a, const char *request, const char *url)
{
	if (!a->links)
		a->links = json_array();
	if (!a->links ||
	    json_array_append_new(a->links, link_new(request, url)))
		a->incomplete = true;
}

json_t *kw_alert_link_object(const struct kw_alert *a, const char *rid)
{
	size_t i;
	json_t *l;

	json_array_foreach(a->links, i, l)
	{
		const char *r =
			json_string_value(json_object_get(l, "request"));

		if (r && !strcmp(r, rid))
			return l;
	}
	return NULL;
}

const char *kw_alert_link(const struct kw_alert *a, const char *rid)
{
	return json_string_value(
		json_object_get(kw_alert_link_object(a, rid), "url"));
}

/* A deep copy of v, or NULL for NULL; a marks itself incomplete when out
 * of memory. */
static json_t *copy_or_null(struct kw_alert *a, const json_t *v)
{
	json_t *c = v ? json_deep_copy(v) : NULL;

	if (v && !c)
		a->incomplete = true;
	return c;
}

enum kw_status kw_alert_copy(struct kw_alert *dst, const struct kw_alert *src)
{
	*dst = *src;
	dst->secret = KW_STR_NULL;
	dst->evidence = copy_or_null(dst, src->evidence);
	dst->suppress = copy_or_null(dst, src->suppress);
	dst->update = copy_or_null(dst, src->update);
	dst->links = copy_or_null(dst, src->links);
	return KW_OK;
}

void kw_alert_copy_flat(struct kw_alert *dst, const struct kw_alert *src)
{
	*dst = *src;
	dst->secret = KW_STR_NULL;
	dst->evidence = NULL;
	dst->suppress = NULL;
	dst->update = NULL;
	dst->links = NULL;
}

void kw_alert_share(struct kw_alert *dst, const struct kw_alert *src)
{
	*dst = *src;
	dst->secret = KW_STR_NULL;
	json_incref(dst->evidence);
	json_incref(dst->suppress);
	json_incref(dst->update);
	json_incref(dst->links);
}

void kw_alert_clear(struct kw_alert *a)
{
	json_decref(a->evidence);
	json_decref(a->suppress);
	json_decref(a->update);
	json_decref(a->links);
	a->evidence = NULL;
	a->suppress = NULL;
	a->update = NULL;
	a->links = NULL;
}

/* o[k] = v (stolen); *ok turns false when it cannot be stored. Rendering
 * is all or nothing: an alert is never written with a field missing. */
static void set(json_t *o, const char *k, json_t *v, bool *ok)
{
	if (json_object_set_new(o, k, v) != 0)
		*ok = false;
}

static json_t *key_object(const struct kw_alert_key *k)
{
	json_t *key = json_object();
	bool ok = key != NULL;

	if (!ok)
		return NULL;
	set(key, "id", json_str(kw_str_c(k->id)), &ok);
	set(key, "fp", json_string(k->fp), &ok);
	set(key, "kind", json_string(kw_key_kind_name(k->kind)), &ok);
	set(key, "mode", json_string(kw_key_mode_name(k->mode)), &ok);
	if (k->name[0])
		set(key, "name", json_str(kw_str_c(k->name)), &ok);
	if (k->principal[0])
		set(key, "principal", json_str(kw_str_c(k->principal)), &ok);
	if (k->parent_id[0]) {
		json_t *parent = json_object();

		if (parent) {
			set(parent, "id", json_str(kw_str_c(k->parent_id)),
			    &ok);
			if (k->parent_principal[0])
				set(parent, "principal",
				    json_str(kw_str_c(k->parent_principal)),
				    &ok);
		}
		set(key, "parent", parent, &ok);
	}
	if (!ok) {
		json_decref(key);
		return NULL;
	}
	return key;
}

static json_t *requests_array(const struct kw_alert *a)
{
	json_t *reqs = json_array();

	for (unsigned i = 0; reqs && i < a->nrequests; i++) {
		if (json_array_append_new(reqs, json_string(a->requests[i]))) {
			json_decref(reqs);
			return NULL;
		}
	}
	return reqs;
}

/* An alert in the layout of doc/alerts.md, or an incident message
 * ("keywatch.incident/1": the incident's fields, then the update's with
 * "event" first, the requests and the suppress fragment). NULL when out of
 * memory. */
static json_t *to_object(const struct kw_alert *a, bool incident)
{
	char tbuf[32];
	json_t *o = json_object();
	const char *k;
	json_t *v;
	bool ok = o != NULL;

	if (!ok)
		return NULL;
	set(o, "schema",
	    json_string(incident ? "keywatch.incident/1" : "keywatch.alert/1"),
	    &ok);
	set(o, "id", json_string(a->id), &ok);
	v = json_object_get(a->update, "event");
	if (incident)
		set(o, "event",
		    json_is_string(v) ? json_incref(v) : json_string("updated"),
		    &ok);
	else if (a->incident[0])
		set(o, "incident", json_string(a->incident), &ok);
	set(o, "time", json_string(kw_time_format(a->time, tbuf, sizeof(tbuf))),
	    &ok);
	if (!incident)
		set(o, "detector", json_string(a->detector), &ok);
	set(o, "severity", json_string(kw_severity_name(a->severity)), &ok);
	set(o, "key", key_object(&a->key), &ok);
	set(o, "summary", json_str(kw_str_c(a->summary)), &ok);
	json_object_foreach(incident ? a->update : NULL, k, v)
	{
		if (strcmp(k, "event") != 0 && json_object_set(o, k, v) != 0)
			ok = false;
	}
	if (!incident)
		set(o, "evidence",
		    a->evidence ? json_incref(a->evidence) : json_object(),
		    &ok);
	set(o, "requests", requests_array(a), &ok);
	if (json_array_size(a->links) && json_object_set(o, "links", a->links))
		ok = false;
	if (a->runbook[0])
		set(o, "runbook_url", json_str(kw_str_c(a->runbook)), &ok);
	set(o, "suppress",
	    a->suppress ? json_incref(a->suppress) : json_object(), &ok);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *kw_alert_to_object(const struct kw_alert *a)
{
	return to_object(a, false);
}

/* ------------------------------------------------- JSON without a tree */

/* The writing of to_object's values, straight into b: "name": first
 * (names are ours: plain ASCII, nothing to escape). */
static void w_name(struct kw_json_buf *b, const char *name, bool first)
{
	size_t n = strlen(name);

	if (!kw_json_buf_reserve(b, n + 4))
		return;
	if (!first)
		b->p[b->len++] = ',';
	b->p[b->len++] = '"';
	memcpy(b->p + b->len, name, n);
	b->len += n;
	b->p[b->len++] = '"';
	b->p[b->len++] = ':';
}

/* json_string(s): text that is not valid UTF-8 fails the whole text. */
static void w_strict(struct kw_json_buf *b, const char *s)
{
	if (!kw_json_buf_string(b, s, strlen(s)))
		b->failed = true;
}

/* json_str(s): text that is not valid UTF-8 is written as json_str's
 * lossy copy. */
static void w_text(struct kw_json_buf *b, const char *s)
{
	size_t len = strlen(s);
	char buf[512];
	size_t n = 0;

	if (kw_json_buf_string(b, s, len))
		return;
	for (size_t i = 0; i < len && n + 1 < sizeof(buf); i++) {
		unsigned char c = (unsigned char)s[i];

		buf[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	kw_json_buf_string(b, buf, n);
}

/* "name":v, an empty object when v is NULL (a cleared alert). */
static void w_object(struct kw_json_buf *b, const char *name, const json_t *v)
{
	w_name(b, name, false);
	if (v)
		kw_json_buf_value(b, v, JSON_COMPACT);
	else
		kw_json_buf_raw(b, "{}", 2);
}

static void w_key(struct kw_json_buf *b, const struct kw_alert_key *k)
{
	kw_json_buf_raw(b, "{", 1);
	w_name(b, "id", true);
	w_text(b, k->id);
	w_name(b, "fp", false);
	w_strict(b, k->fp);
	w_name(b, "kind", false);
	w_strict(b, kw_key_kind_name(k->kind));
	w_name(b, "mode", false);
	w_strict(b, kw_key_mode_name(k->mode));
	if (k->name[0]) {
		w_name(b, "name", false);
		w_text(b, k->name);
	}
	if (k->principal[0]) {
		w_name(b, "principal", false);
		w_text(b, k->principal);
	}
	if (k->parent_id[0]) {
		w_name(b, "parent", false);
		kw_json_buf_raw(b, "{", 1);
		w_name(b, "id", true);
		w_text(b, k->parent_id);
		if (k->parent_principal[0]) {
			w_name(b, "principal", false);
			w_text(b, k->parent_principal);
		}
		kw_json_buf_raw(b, "}", 1);
	}
	kw_json_buf_raw(b, "}", 1);
}

/* A plain alert, the bytes kw_json_dump(to_object(a, false)) writes: the
 * same fields in the same order, each value written as to_object makes
 * it (tests/unit/test_alert.c and the fuzz target alert_json compare the
 * two). */
static void w_alert(struct kw_json_buf *b, const struct kw_alert *a)
{
	static const char head[] = "{\"schema\":\"keywatch.alert/1\"";
	char tbuf[32];

	kw_json_buf_raw(b, head, sizeof(head) - 1);
	w_name(b, "id", false);
	w_strict(b, a->id);
	if (a->incident[0]) {
		w_name(b, "incident", false);
		w_strict(b, a->incident);
	}
	w_name(b, "time", false);
	w_strict(b, kw_time_format(a->time, tbuf, sizeof(tbuf)));
	w_name(b, "detector", false);
	w_strict(b, a->detector);
	w_name(b, "severity", false);
	w_strict(b, kw_severity_name(a->severity));
	w_name(b, "key", false);
	w_key(b, &a->key);
	w_name(b, "summary", false);
	w_text(b, a->summary);
	w_object(b, "evidence", a->evidence);
	w_name(b, "requests", false);
	kw_json_buf_raw(b, "[", 1);
	for (unsigned i = 0; i < a->nrequests; i++) {
		if (i)
			kw_json_buf_raw(b, ",", 1);
		w_strict(b, a->requests[i]);
	}
	kw_json_buf_raw(b, "]", 1);
	if (json_array_size(a->links)) {
		w_name(b, "links", false);
		kw_json_buf_value(b, a->links, JSON_COMPACT);
	}
	if (a->runbook[0]) {
		w_name(b, "runbook_url", false);
		w_text(b, a->runbook);
	}
	w_object(b, "suppress", a->suppress);
	kw_json_buf_raw(b, "}", 1);
}

char *kw_alert_to_json(const struct kw_alert *a)
{
	struct kw_json_buf b = {NULL, 0, 0, false};
	json_t *o;
	char *out;

	if (!a->update) {
		w_alert(&b, a);
		return kw_json_buf_finish(&b, NULL);
	}
	/* An incident message merges the update's fields into the alert's
	 * (a field set twice keeps its first place and its last value): a
	 * tree does that. They are few (only sinks for people get them). */
	o = to_object(a, true);
	out = o ? kw_json_dump(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	return out;
}

/* ------------------------------------------------------------ from JSON */

static void copy_str(const json_t *o, const char *k, char *buf, size_t cap)
{
	const char *s = json_string_value(json_object_get(o, k));

	snprintf(buf, cap, "%s", s ? s : "");
}

static int name_index(const char *s, const char *(*name)(int), int max)
{
	for (int i = 0; s && i < max; i++) {
		if (!strcmp(name(i), s))
			return i;
	}
	return 0;
}

static const char *kind_name(int i)
{
	return kw_key_kind_name((enum kw_key_kind)i);
}

static const char *mode_name(int i)
{
	return kw_key_mode_name((enum kw_key_mode)i);
}

/* "kwa_" or "kwi_" and 16 lowercase hex digits, as kw_alert_make_id
 * makes them: an id read back from a spool goes into log lines and file
 * names of receivers, so nothing else is taken. */
static bool id_ok(const char *s)
{
	if (!s || strlen(s) != KW_ALERT_ID_LEN ||
	    (strncmp(s, "kwa_", 4) != 0 && strncmp(s, "kwi_", 4) != 0))
		return false;
	for (s += 4; *s; s++) {
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	}
	return true;
}

static json_t *object_or_empty(const json_t *v)
{
	return json_is_object(v) ? json_incref((json_t *)v) : json_object();
}

/* What an incident message holds besides the alert's fields: everything
 * but the fields kw_alert has, with "event" first. NULL when out of
 * memory. */
static json_t *update_from(const json_t *o)
{
	static const char *const own[] = {"schema",   "id",	  "time",
					  "severity", "key",	  "summary",
					  "requests", "suppress", NULL};
	json_t *u = json_object();
	const char *k;
	json_t *v;

	if (!u)
		return NULL;
	if (json_object_set(u, "event", json_object_get(o, "event")) != 0)
		goto fail;
	json_object_foreach((json_t *)o, k, v)
	{
		size_t i;

		for (i = 0; own[i] && strcmp(own[i], k); i++)
			;
		if (!own[i] && strcmp(k, "event") != 0 &&
		    json_object_set(u, k, v) != 0)
			goto fail;
	}
	return u;
fail:
	json_decref(u);
	return NULL;
}

enum kw_status kw_alert_from_object(const json_t *o, struct kw_alert *a,
				    char *detector_buf, size_t cap)
{
	const json_t *key, *reqs, *body, *links;
	const char *s, *schema;
	bool incident;

	memset(a, 0, sizeof(*a));
	schema = json_string_value(json_object_get(o, "schema"));
	incident = schema && !strcmp(schema, "keywatch.incident/1");
	/* An incident's detector and evidence are its worst alert's. */
	body = incident ? json_object_get(o, "alert") : o;
	s = json_string_value(json_object_get(o, "id"));
	if (!json_is_object(o) || !json_is_object(body) || !id_ok(s) ||
	    (incident && !json_is_string(json_object_get(o, "event"))))
		return KW_EINVAL;
	memcpy(a->id, s, KW_ALERT_ID_LEN + 1);
	s = json_string_value(json_object_get(o, incident ? "id" : "incident"));
	if (id_ok(s))
		memcpy(a->incident, s, KW_ALERT_ID_LEN + 1);
	s = json_string_value(json_object_get(o, "time"));
	if (!s || !kw_time_parse(s, strlen(s), &a->time))
		return KW_EINVAL;
	copy_str(body, "detector", detector_buf, cap);
	a->detector = detector_buf;
	s = json_string_value(json_object_get(o, "severity"));
	if (!s || !kw_severity_parse(s, &a->severity))
		return KW_EINVAL;
	key = json_object_get(o, "key");
	copy_str(key, "id", a->key.id, sizeof(a->key.id));
	copy_str(key, "fp", a->key.fp, sizeof(a->key.fp));
	copy_str(key, "name", a->key.name, sizeof(a->key.name));
	copy_str(key, "principal", a->key.principal, sizeof(a->key.principal));
	copy_str(json_object_get(key, "parent"), "id", a->key.parent_id,
		 sizeof(a->key.parent_id));
	copy_str(json_object_get(key, "parent"), "principal",
		 a->key.parent_principal, sizeof(a->key.parent_principal));
	a->key.kind = (enum kw_key_kind)name_index(
		json_string_value(json_object_get(key, "kind")), kind_name,
		KW_KIND_MAX);
	a->key.mode = (enum kw_key_mode)name_index(
		json_string_value(json_object_get(key, "mode")), mode_name,
		KW_MODE_MAX);
	copy_str(o, "summary", a->summary, sizeof(a->summary));
	reqs = json_object_get(o, "requests");
	for (size_t i = 0;
	     i < json_array_size(reqs) && a->nrequests < KW_ALERT_MAX_REQUESTS;
	     i++) {
		s = json_string_value(json_array_get(reqs, i));
		if (s)
			snprintf(a->requests[a->nrequests++],
				 sizeof(a->requests[0]), "%s", s);
	}
	a->evidence = object_or_empty(json_object_get(body, "evidence"));
	a->suppress = object_or_empty(json_object_get(o, "suppress"));
	copy_str(o, "runbook_url", a->runbook, sizeof(a->runbook));
	links = json_object_get(o, "links");
	for (size_t i = 0; i < json_array_size(links); i++) {
		const json_t *l = json_array_get(links, i);
		const char *rid =
			json_string_value(json_object_get(l, "request"));
		const char *url = json_string_value(json_object_get(l, "url"));

		if (rid && url && i < KW_ALERT_MAX_REQUESTS)
			kw_alert_add_link(a, rid, url);
	}
	if (incident)
		a->update = update_from(o);
	if (!a->evidence || !a->suppress || (incident && !a->update) ||
	    a->incomplete) {
		kw_alert_clear(a);
		return KW_ENOMEM;
	}
	return KW_OK;
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
