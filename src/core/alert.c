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
#include <stddef.h>
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

/* Whether p[0..n) is valid UTF-8 (as jansson checks it). */
static bool utf8_ok(const unsigned char *p, size_t n)
{
	size_t i = 0;

	/* most text is ASCII: eight bytes a step while it is */
	for (uint64_t w; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		if (w & UINT64_C(0x8080808080808080))
			break;
	}
	while (i < n && p[i] < 0x80)
		i++;
	for (size_t len; i < n; i += len) {
		len = kw_utf8_len(p + i, n - i);
		if (!len)
			return false;
	}
	return true;
}

/* ------------------------------------------------------ the flat form */

/* A flat field's type. */
enum { FLAT_STR = 0, FLAT_INT, FLAT_BOOL };

/* The field of part named name (a link: of request name), or NULL. */
static const struct kw_alert_field *flat_find(const struct kw_alert_flat *f,
					      enum kw_alert_part part,
					      const char *name)
{
	for (unsigned i = 0; i < f->n; i++) {
		const struct kw_alert_field *x = &f->f[i];

		if (x->part == part && f->text[x->name] == name[0] &&
		    !strcmp(f->text + x->name, name))
			return x;
	}
	return NULL;
}

/* Set part's field name to a value of type (s[0..n), valid UTF-8, for a
 * string; i otherwise) in the flat form, where jansson's object would
 * keep it: a name set again keeps its place and takes the new value, and
 * a name that is not valid UTF-8 is refused (the alert incomplete). A
 * link is always added. false when the alert is not flat, or no longer:
 * when the form is full, the parts become trees (kw_alert_trees) and the
 * caller sets the value there. */
static bool flat_set(struct kw_alert *a, enum kw_alert_part part,
		     const char *name, unsigned type, const char *s, size_t n,
		     int64_t i)
{
	struct kw_alert_flat *f = &a->flat;
	struct kw_alert_field *x = NULL;
	size_t nl, need;

	if (!f->on)
		return false;
	nl = strlen(name);
	if (!utf8_ok((const unsigned char *)name, nl)) {
		a->incomplete = true;
		return true;
	}
	if (part != KW_ALERT_LINKS)
		x = (struct kw_alert_field *)flat_find(f, part, name);
	need = (x ? 0 : nl + 1) + (type == FLAT_STR ? n + 1 : 0);
	if ((!x && f->n == KW_ALERT_FLAT_FIELDS) ||
	    need > sizeof(f->text) - f->used) {
		kw_alert_trees(a);
		return false;
	}
	if (!x) {
		x = &f->f[f->n++];
		x->part = (uint8_t)part;
		x->name = f->used;
		memcpy(f->text + f->used, name, nl + 1);
		f->used = (uint16_t)(f->used + nl + 1);
	}
	x->type = (uint8_t)type;
	x->i = i;
	x->off = f->used;
	x->len = (uint16_t)n;
	if (type == FLAT_STR) {
		memcpy(f->text + f->used, s, n);
		f->text[f->used + n] = '\0';
		f->used = (uint16_t)(f->used + n + 1);
	}
	return true;
}

/* A flat field's value as jansson's (a new reference; NULL when memory
 * ran out). */
static json_t *flat_value(const struct kw_alert_flat *f,
			  const struct kw_alert_field *x)
{
	switch (x->type) {
	case FLAT_INT:
		return json_integer(x->i);
	case FLAT_BOOL:
		return json_boolean(x->i);
	default:
		return json_stringn(f->text + x->off, x->len);
	}
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

/* Part of a flat alert as a tree: a new object (an array of links for
 * KW_ALERT_LINKS, NULL when there is none); NULL, and *ok false, when
 * memory ran out. */
static json_t *flat_tree(const struct kw_alert_flat *f, enum kw_alert_part part,
			 bool *ok)
{
	json_t *t = NULL;

	if (part != KW_ALERT_LINKS && !(t = json_object()))
		goto fail;
	for (unsigned i = 0; i < f->n; i++) {
		const struct kw_alert_field *x = &f->f[i];
		const char *name = f->text + x->name;

		if (x->part != part)
			continue;
		if (part == KW_ALERT_LINKS) {
			if (!t && !(t = json_array()))
				goto fail;
			if (json_array_append_new(
				    t, link_new(name, f->text + x->off)))
				*ok = false;
		} else if (json_object_set_new(t, name, flat_value(f, x))) {
			*ok = false;
		}
	}
	return t;
fail:
	*ok = false;
	return NULL;
}

void kw_alert_trees(struct kw_alert *a)
{
	bool ok = true;

	if (!a->flat.on)
		return;
	a->evidence = flat_tree(&a->flat, KW_ALERT_EVIDENCE, &ok);
	a->suppress = flat_tree(&a->flat, KW_ALERT_SUPPRESS, &ok);
	a->links = flat_tree(&a->flat, KW_ALERT_LINKS, &ok);
	if (!ok)
		a->incomplete = true;
	a->flat.on = false;
	a->flat.n = 0;
	a->flat.used = 0;
}

json_t *kw_alert_tree(const struct kw_alert *a, enum kw_alert_part part)
{
	bool ok = true;
	json_t *t;

	if (!a->flat.on) {
		t = part == KW_ALERT_EVIDENCE	? a->evidence
		    : part == KW_ALERT_SUPPRESS ? a->suppress
						: a->links;
		return json_incref(t);
	}
	t = flat_tree(&a->flat, part, &ok);
	if (!ok) {
		json_decref(t);
		return NULL;
	}
	return t;
}

/* A string of ours (a detector's name, a time, a link) set in part:
 * flat, or in the tree as json_string() takes it (text that is not valid
 * UTF-8 is not stored, and the alert is incomplete). */
static void put_strict(struct kw_alert *a, enum kw_alert_part part,
		       const char *name, const char *s)
{
	size_t n = strlen(s);

	if (a->flat.on && !utf8_ok((const unsigned char *)s, n)) {
		a->incomplete = true;
		return;
	}
	if (!flat_set(a, part, name, FLAT_STR, s, n, 0))
		put(a, part == KW_ALERT_SUPPRESS ? a->suppress : a->evidence,
		    name, json_string(s));
}

enum kw_status kw_alert_init(struct kw_alert *a, const char *detector,
			     enum kw_severity sev, int64_t time,
			     const struct kw_alert_key *key)
{
	char glob[sizeof(key->id)];

	/* The flat form's text is not cleared: only its used part is read. */
	memset(a, 0, offsetof(struct kw_alert, flat.text));
	memset((char *)a + offsetof(struct kw_alert, flat.text) +
		       sizeof(a->flat.text),
	       0,
	       sizeof(*a) - offsetof(struct kw_alert, flat.text) -
		       sizeof(a->flat.text));
	a->detector = detector;
	a->severity = sev;
	a->time = time;
	a->key = *key;
	a->flat.on = true;
	key_glob_from_id(key->id, glob, sizeof(glob));
	put_strict(a, KW_ALERT_SUPPRESS, "detector", detector);
	if (key->principal[0])
		put_strict(a, KW_ALERT_SUPPRESS, "principal", key->principal);
	else
		put_strict(a, KW_ALERT_SUPPRESS, "key", glob);
	return KW_OK;
}

void kw_alert_make_id(char *out, const char *prefix, const char *const *parts,
		      size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const void *p[KW_ALERT_ID_PARTS];
	size_t len[KW_ALERT_ID_PARTS];
	unsigned char md[32];

	memcpy(out, prefix, 4);
	if (n > KW_ALERT_ID_PARTS)
		n = KW_ALERT_ID_PARTS;
	for (size_t i = 0; i < n; i++) {
		p[i] = parts[i];
		len[i] = strlen(parts[i]) + (i + 1 < n);
	}
	/* a failed digest is all zeros: "kwa_0000000000000000" */
	kw_sha256_parts(p, len, n, md);
	for (int i = 0; i < 8; i++) {
		out[4 + 2 * i] = hex[md[i] >> 4];
		out[5 + 2 * i] = hex[md[i] & 15];
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

	if (a->unread)
		return;
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
	kw_alert_summary_text(a, kw_str_c(text));
	if (text != buf)
		free(text);
}

void kw_alert_summary_text(struct kw_alert *a, struct kw_str text)
{
	if (!a->unread)
		scrub(a, text, a->summary, sizeof(a->summary));
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

/* A string from a request set in part: redacted and bounded, and, when
 * it is not valid UTF-8, json_str's lossy copy. */
static void put_text(struct kw_alert *a, enum kw_alert_part part,
		     const char *name, struct kw_str v)
{
	char buf[KW_ALERT_TEXT_MAX];
	size_t n = scrub(a, v, buf, sizeof(buf));

	if (!utf8_ok((const unsigned char *)buf, n)) {
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)buf[i];

			buf[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
	}
	if (!flat_set(a, part, name, FLAT_STR, buf, n, 0))
		put(a, part == KW_ALERT_SUPPRESS ? a->suppress : a->evidence,
		    name, json_stringn(buf, n));
}

void kw_alert_evidence_str(struct kw_alert *a, const char *name,
			   struct kw_str v)
{
	if (v.p && v.n && !a->unread)
		put_text(a, KW_ALERT_EVIDENCE, name, v);
}

void kw_alert_evidence_int(struct kw_alert *a, const char *name, int64_t v)
{
	if (!a->unread &&
	    !flat_set(a, KW_ALERT_EVIDENCE, name, FLAT_INT, NULL, 0, v))
		put(a, a->evidence, name, json_integer(v));
}

void kw_alert_evidence_time(struct kw_alert *a, const char *name, int64_t us)
{
	char buf[32];

	if (a->unread)
		return;
	put_strict(a, KW_ALERT_EVIDENCE, name,
		   kw_time_format(us, buf, sizeof(buf)));
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

/* A scalar v (scrubbed) set flat: true when it was (v is then the
 * caller's to drop). A list or an object makes the parts trees. */
static bool flat_json(struct kw_alert *a, const char *name, const json_t *v)
{
	if (!a->flat.on)
		return false;
	if (json_is_string(v))
		return flat_set(a, KW_ALERT_EVIDENCE, name, FLAT_STR,
				json_string_value(v), json_string_length(v), 0);
	if (json_is_integer(v))
		return flat_set(a, KW_ALERT_EVIDENCE, name, FLAT_INT, NULL, 0,
				json_integer_value(v));
	if (json_is_boolean(v))
		return flat_set(a, KW_ALERT_EVIDENCE, name, FLAT_BOOL, NULL, 0,
				json_is_true(v));
	kw_alert_trees(a);
	return false;
}

void kw_alert_evidence_json(struct kw_alert *a, const char *name, json_t *v)
{
	if (a->unread) {
		json_decref(v);
		return;
	}
	/* v NULL: the caller could not build it. */
	if (v)
		scrub_json(a, v, 0);
	if (v && flat_json(a, name, v)) {
		json_decref(v);
		return;
	}
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
		put_text(a, KW_ALERT_SUPPRESS, name, v);
}

void kw_alert_add_request(struct kw_alert *a, struct kw_str rid)
{
	char buf[sizeof(a->requests[0])];
	size_t n;

	if (!rid.n || a->nrequests >= KW_ALERT_MAX_REQUESTS || a->unread)
		return;
	n = scrub(a, rid, buf, sizeof(buf));
	for (unsigned i = 0; i < a->nrequests; i++) {
		if (!strcmp(a->requests[i], buf))
			return;
	}
	memcpy(a->requests[a->nrequests], buf, n + 1);
	a->nrequests++;
}

void kw_alert_add_link(struct kw_alert *a, const char *request, const char *url)
{
	size_t n;

	if (a->unread)
		return;
	n = strlen(url);
	if (a->flat.on && !utf8_ok((const unsigned char *)url, n)) {
		a->incomplete = true; /* as link_new refuses it */
		return;
	}
	if (flat_set(a, KW_ALERT_LINKS, request, FLAT_STR, url, n, 0))
		return;
	if (!a->links)
		a->links = json_array();
	if (!a->links ||
	    json_array_append_new(a->links, link_new(request, url)))
		a->incomplete = true;
}

const char *kw_alert_link(const struct kw_alert *a, const char *rid)
{
	const struct kw_alert_field *x;
	size_t i;
	json_t *l;

	if (a->flat.on) {
		x = flat_find(&a->flat, KW_ALERT_LINKS, rid);
		return x ? a->flat.text + x->off : NULL;
	}
	json_array_foreach(a->links, i, l)
	{
		const char *r =
			json_string_value(json_object_get(l, "request"));

		if (r && !strcmp(r, rid))
			return json_string_value(json_object_get(l, "url"));
	}
	return NULL;
}

const char *kw_alert_evidence_text(const struct kw_alert *a, const char *name,
				   size_t *len)
{
	const struct kw_alert_field *x;
	const json_t *v;

	if (a->flat.on) {
		x = flat_find(&a->flat, KW_ALERT_EVIDENCE, name);
		if (!x || x->type != FLAT_STR)
			return NULL;
		*len = x->len;
		return a->flat.text + x->off;
	}
	v = json_object_get(a->evidence, name);
	if (!json_is_string(v))
		return NULL;
	*len = json_string_length(v);
	return json_string_value(v);
}

/* Whether flat field x holds a value equal to v (as json_equal). */
static bool flat_equal(const struct kw_alert_flat *f,
		       const struct kw_alert_field *x, const json_t *v)
{
	switch (x->type) {
	case FLAT_INT:
		return json_is_integer(v) && json_integer_value(v) == x->i;
	case FLAT_BOOL:
		return json_is_boolean(v) && json_is_true(v) == (x->i != 0);
	default:
		return json_is_string(v) && json_string_length(v) == x->len &&
		       !memcmp(json_string_value(v), f->text + x->off, x->len);
	}
}

bool kw_alert_suppress_has(const struct kw_alert *a, const json_t *want)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)want, k, v)
	{
		const struct kw_alert_field *x;
		const json_t *h;

		if (a->flat.on) {
			x = flat_find(&a->flat, KW_ALERT_SUPPRESS, k);
			if (!x || !flat_equal(&a->flat, x, v))
				return false;
			continue;
		}
		h = json_object_get(a->suppress, k);
		if (!h || !json_equal(v, (json_t *)h))
			return false;
	}
	return true;
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

/* The string held in the array src of n bytes, and its NUL, into dst: what
 * follows the NUL is never read. */
static void copy_text(char *dst, const char *src, size_t n)
{
	size_t len = strnlen(src, n);

	memcpy(dst, src, len < n ? len + 1 : n);
}

/* dst's bytes from member a up to member b (the same struct's) are src's. */
#define SPAN(type, a, b)                                                       \
	memcpy((char *)dst + offsetof(type, a),                                \
	       (const char *)src + offsetof(type, a),                          \
	       offsetof(type, b) - offsetof(type, a))
#define TEXT(f) copy_text(dst->f, src->f, sizeof(src->f))

static void move_key(struct kw_alert_key *dst, const struct kw_alert_key *src)
{
	TEXT(id);
	SPAN(struct kw_alert_key, fp, name);
	TEXT(name);
	TEXT(principal);
	TEXT(parent_id);
	TEXT(parent_principal);
}

/* The spans below leave nothing out: each text is right after what comes
 * before it. */
#define NEXT(type, a, b)                                                       \
	(offsetof(type, a) + sizeof(((type *)0)->a) == offsetof(type, b))
_Static_assert(NEXT(struct kw_alert, key, summary) &&
		       NEXT(struct kw_alert, summary, flat) &&
		       NEXT(struct kw_alert, flat, evidence) &&
		       NEXT(struct kw_alert, requests, nrequests) &&
		       NEXT(struct kw_alert, runbook, incident) &&
		       NEXT(struct kw_alert, flat.f, flat.used) &&
		       NEXT(struct kw_alert_key, id, fp) &&
		       NEXT(struct kw_alert_key, name, principal) &&
		       NEXT(struct kw_alert_key, principal, parent_id) &&
		       NEXT(struct kw_alert_key, parent_id, parent_principal) &&
		       sizeof(struct kw_alert_key) -
				       offsetof(struct kw_alert_key,
						parent_principal) -
				       sizeof(((struct kw_alert_key *)0)
						      ->parent_principal) <
			       _Alignof(struct kw_alert_key),
	       "kw_alert_move copies every member: a new one between two "
	       "texts needs a span of its own");
#undef NEXT

/* Every byte but the unused tails of the texts, by spans between them: a
 * member added is copied without a word here (the assertion above says
 * where it would need one). */
void kw_alert_move(struct kw_alert *dst, const struct kw_alert *src)
{
	SPAN(struct kw_alert, id, key);
	move_key(&dst->key, &src->key);
	TEXT(summary);
	memcpy(dst->flat.f, src->flat.f, src->flat.n * sizeof(src->flat.f[0]));
	SPAN(struct kw_alert, flat.used, flat.text);
	memcpy(dst->flat.text, src->flat.text, src->flat.used);
	SPAN(struct kw_alert, evidence, requests);
	for (unsigned i = 0; i < src->nrequests; i++)
		TEXT(requests[i]);
	SPAN(struct kw_alert, nrequests, runbook);
	TEXT(runbook);
	memcpy(dst->incident, src->incident,
	       sizeof(*dst) - offsetof(struct kw_alert, incident));
}

#undef SPAN
#undef TEXT

enum kw_status kw_alert_copy(struct kw_alert *dst, const struct kw_alert *src)
{
	kw_alert_move(dst, src);
	dst->secret = KW_STR_NULL;
	if (src->flat.on) {
		dst->update = copy_or_null(dst, src->update);
		kw_alert_trees(dst);
		return KW_OK;
	}
	dst->evidence = copy_or_null(dst, src->evidence);
	dst->suppress = copy_or_null(dst, src->suppress);
	dst->update = copy_or_null(dst, src->update);
	dst->links = copy_or_null(dst, src->links);
	return KW_OK;
}

void kw_alert_copy_flat(struct kw_alert *dst, const struct kw_alert *src)
{
	kw_alert_move(dst, src);
	dst->secret = KW_STR_NULL;
	dst->evidence = NULL;
	dst->suppress = NULL;
	dst->update = NULL;
	dst->links = NULL;
}

void kw_alert_share(struct kw_alert *dst, const struct kw_alert *src)
{
	kw_alert_move(dst, src);
	dst->secret = KW_STR_NULL;
	json_incref(dst->evidence);
	json_incref(dst->suppress);
	json_incref(dst->update);
	json_incref(dst->links);
}

void kw_alert_forget(struct kw_alert *a)
{
	a->evidence = NULL;
	a->suppress = NULL;
	a->update = NULL;
	a->links = NULL;
	a->flat.on = false;
	a->flat.n = 0;
	a->flat.used = 0;
}

void kw_alert_clear(struct kw_alert *a)
{
	json_decref(a->evidence);
	json_decref(a->suppress);
	json_decref(a->update);
	json_decref(a->links);
	kw_alert_forget(a);
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

/* Whether a flat form holds a link. */
static bool has_link(const struct kw_alert_flat *f)
{
	for (unsigned i = 0; f->on && i < f->n; i++) {
		if (f->f[i].part == KW_ALERT_LINKS)
			return true;
	}
	return false;
}

/* Part (evidence, suppress) as a tree, an empty object when a cleared
 * alert has none; *ok false when memory ran out. */
static json_t *part_or_empty(const struct kw_alert *a, enum kw_alert_part part,
			     bool *ok)
{
	json_t *t = kw_alert_tree(a, part);

	if (!t && a->flat.on)
		*ok = false;
	return t ? t : json_object();
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
		set(o, "evidence", part_or_empty(a, KW_ALERT_EVIDENCE, &ok),
		    &ok);
	set(o, "requests", requests_array(a), &ok);
	v = kw_alert_tree(a, KW_ALERT_LINKS);
	if (json_array_size(v))
		set(o, "links", v, &ok);
	else
		json_decref(v);
	if (!v && has_link(&a->flat)) /* memory ran out */
		ok = false;
	if (a->runbook[0])
		set(o, "runbook_url", json_str(kw_str_c(a->runbook)), &ok);
	set(o, "suppress", part_or_empty(a, KW_ALERT_SUPPRESS, &ok), &ok);
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

/* A flat field's value (its string valid UTF-8: flat_set's callers made
 * it so). */
static void w_flat_value(struct kw_json_buf *b, const struct kw_alert_flat *f,
			 const struct kw_alert_field *x)
{
	switch (x->type) {
	case FLAT_INT:
		kw_json_buf_int(b, x->i);
		break;
	case FLAT_BOOL:
		if (x->i)
			kw_json_buf_raw(b, "true", 4);
		else
			kw_json_buf_raw(b, "false", 5);
		break;
	default:
		if (!kw_json_buf_string(b, f->text + x->off, x->len))
			b->failed = true;
		break;
	}
}

/* "name":{...}, part of a flat alert as its object writes it (its fields
 * in the order they were first set). */
static void w_flat(struct kw_json_buf *b, const char *name,
		   const struct kw_alert_flat *f, enum kw_alert_part part)
{
	bool first = true;

	w_name(b, name, false);
	kw_json_buf_raw(b, "{", 1);
	for (unsigned i = 0; i < f->n; i++) {
		const struct kw_alert_field *x = &f->f[i];
		const char *k = f->text + x->name;

		if (x->part != part)
			continue;
		if (!first)
			kw_json_buf_raw(b, ",", 1);
		first = false;
		if (!kw_json_buf_string(b, k, strlen(k)))
			b->failed = true;
		kw_json_buf_raw(b, ":", 1);
		w_flat_value(b, f, x);
	}
	kw_json_buf_raw(b, "}", 1);
}

/* ,"links":[{"request":...,"url":...},...] of a flat alert, nothing when
 * it has no link. */
static void w_flat_links(struct kw_json_buf *b, const struct kw_alert_flat *f)
{
	bool first = true;

	for (unsigned i = 0; i < f->n; i++) {
		const struct kw_alert_field *x = &f->f[i];

		if (x->part != KW_ALERT_LINKS)
			continue;
		if (first)
			w_name(b, "links", false);
		kw_json_buf_raw(b, first ? "[{" : ",{", 2);
		first = false;
		w_name(b, "request", true);
		w_strict(b, f->text + x->name);
		w_name(b, "url", false);
		w_flat_value(b, f, x);
		kw_json_buf_raw(b, "}", 1);
	}
	if (!first)
		kw_json_buf_raw(b, "]", 1);
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
	if (a->flat.on)
		w_flat(b, "evidence", &a->flat, KW_ALERT_EVIDENCE);
	else
		w_object(b, "evidence", a->evidence);
	w_name(b, "requests", false);
	kw_json_buf_raw(b, "[", 1);
	for (unsigned i = 0; i < a->nrequests; i++) {
		if (i)
			kw_json_buf_raw(b, ",", 1);
		w_strict(b, a->requests[i]);
	}
	kw_json_buf_raw(b, "]", 1);
	if (a->flat.on) {
		w_flat_links(b, &a->flat);
	} else if (json_array_size(a->links)) {
		w_name(b, "links", false);
		kw_json_buf_value(b, a->links, JSON_COMPACT);
	}
	if (a->runbook[0]) {
		w_name(b, "runbook_url", false);
		w_text(b, a->runbook);
	}
	if (a->flat.on)
		w_flat(b, "suppress", &a->flat, KW_ALERT_SUPPRESS);
	else
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
