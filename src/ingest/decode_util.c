/*
 * decode_util.c - what the decoders share: the compiled field lookups
 * (names, aliases, --map), time and path normalisation, and the typed field
 * getters that check a value and word the skip message when it is wrong.
 *
 * The one idea: a record is scanned once (kw_json_scan picks out every
 * path the decoder needs in a single pass, predicting the keys from the
 * previous record's order), and everything after that works
 * on the picked values without allocating, formatting or rescanning the
 * record. Messages are only formatted on the error path, and only for the
 * skips that are still logged as samples.
 *
 * Messages name the event field and, when the value came from another
 * path (an alias, a --map, a CloudTrail path), that path too:
 * "field 'status' (status_code) is not an integer". Values may be quoted
 * (40 bytes at most, escaped), except the API key's, which is a secret.
 */
#include "ingest/decoder.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/key.h"
#include "core/time.h"

/* ---- time and path ---- */

/* Seconds at or below this are seconds, above it milliseconds. */
#define MS_THRESHOLD INT64_C(1000000000000)

static bool time_from_int(int64_t i, int64_t *ts_us)
{
	if (i < 0)
		return false;
	if (i > MS_THRESHOLD) {
		if (i > KW_TIME_MAX / 1000)
			return false;
		*ts_us = i * 1000;
		return true;
	}
	if (i > KW_TIME_MAX / KW_USEC_PER_SEC)
		return false;
	*ts_us = i * KW_USEC_PER_SEC;
	return true;
}

static bool time_from_real(double d, int64_t *ts_us)
{
	double us;

	/* !(d >= 0) also rejects a NaN. */
	if (!(d >= 0))
		return false;
	us = d > (double)MS_THRESHOLD ? d * 1e3 : d * 1e6;
	if (us > (double)KW_TIME_MAX)
		return false;
	/* Round to the nearest microsecond: 1764230400.123456 is not exact
	 * in binary. */
	*ts_us = (int64_t)(us + 0.5);
	return *ts_us <= KW_TIME_MAX;
}

bool kw_decode_time(const struct kw_json_value *v, int64_t *ts_us)
{
	if (!v)
		return false;
	switch (v->type) {
	case KW_JSON_INTEGER:
		return time_from_int(v->i, ts_us);
	case KW_JSON_REAL:
		return time_from_real(v->d, ts_us);
	case KW_JSON_STRING:
		return kw_time_parse(v->p, v->n, ts_us);
	default:
		return false;
	}
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Length of "scheme://" at the start of s, or 0 (RFC 3986 scheme). */
static size_t scheme_len(struct kw_str s)
{
	size_t i = 1;

	if (s.n == 0 || !is_alpha(s.p[0]))
		return 0;
	while (i < s.n && (is_alpha(s.p[i]) || is_digit(s.p[i]) ||
			   s.p[i] == '+' || s.p[i] == '-' || s.p[i] == '.'))
		i++;
	if (i + 3 <= s.n && s.p[i] == ':' && s.p[i + 1] == '/' &&
	    s.p[i + 2] == '/')
		return i + 3;
	return 0;
}

struct kw_str kw_decode_path(struct kw_str s)
{
	size_t start = scheme_len(s), i;

	if (start) {
		/* Skip the authority: up to the first '/', '?' or '#'. */
		i = start;
		while (i < s.n && s.p[i] != '/' && s.p[i] != '?' &&
		       s.p[i] != '#')
			i++;
		if (i == s.n || s.p[i] != '/')
			return (struct kw_str){"/", 1};
		s.p += i;
		s.n -= i;
	}
	s.n = kw_str_find3(s.p, 0, s.n, '?', '#', '#');
	return s;
}

/* A run of 12 or more letters and digits with both in it: an API key, an
 * access key id, a token. Such a value may be a key in the wrong field, so
 * messages show only its first bytes. */
static bool looks_secret(const char *p, size_t n)
{
	size_t run = 0;
	bool letter = false, digit = false;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		bool d = c >= '0' && c <= '9';
		bool l = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

		if (!d && !l) {
			run = 0;
			letter = digit = false;
			continue;
		}
		letter = letter || l;
		digit = digit || d;
		if (++run >= 12 && letter && digit)
			return true;
	}
	return false;
}

const char *kw_decode_quote(const char *p, size_t n, char *buf, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t lim = n < KW_DECODE_QUOTE_MAX ? n : KW_DECODE_QUOTE_MAX;
	size_t o = 0, i;

	if (looks_secret(p, n) && lim > KW_DECODE_QUOTE_SECRET)
		lim = KW_DECODE_QUOTE_SECRET;

	if (cap < 8) {
		if (cap)
			buf[0] = '\0';
		return buf;
	}
	buf[o++] = '"';
	/* Each step needs at most 4 bytes, plus '"', "..." and NUL. */
	for (i = 0; i < lim && o + 9 <= cap; i++) {
		unsigned char c = (unsigned char)p[i];

		if (i + 3 <= lim && !memcmp(p + i, "\xe2\x80\xa6", 3)) {
			/* "…" of a redacted id: shown as it is */
			memcpy(buf + o, p + i, 3);
			o += 3;
			i += 2;
		} else if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	if (i < n) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* ---- compiled field lookups ---- */

/* The slot of path p: an existing one with the same text, or a new one. */
static enum kw_status add_path(struct kw_decode_fields *df, const char *p,
			       unsigned char *slot, struct kw_error *err)
{
	for (size_t i = 0; i < df->npaths; i++) {
		if (!strcmp(df->path[i], p)) {
			*slot = (unsigned char)i;
			return KW_OK;
		}
	}
	if (df->npaths == KW_JSON_MAX_PATHS)
		return kw_error_set(err, KW_ETOOBIG,
				    "decoder: more than %d field paths",
				    KW_JSON_MAX_PATHS);
	df->path[df->npaths] = p;
	*slot = (unsigned char)df->npaths++;
	return KW_OK;
}

/* The last map entry of field f, or NULL. */
static const struct kw_field_map *mapped(const struct kw_decoder_conf *conf,
					 enum kw_field f)
{
	const struct kw_field_map *m = NULL;

	for (size_t i = 0; conf && i < conf->nmap; i++) {
		if (conf->map[i].field == f)
			m = &conf->map[i];
	}
	return m;
}

enum kw_status kw_decode_fields_init(struct kw_decode_fields *df,
				     const char *const *const *defaults,
				     const char *const *extra, size_t nextra,
				     const struct kw_decoder_conf *conf,
				     struct kw_error *err)
{
	enum kw_status st = KW_OK;
	unsigned char slot;

	memset(df, 0, sizeof(*df));
	df->conf = conf;
	for (size_t i = 0; i < nextra; i++) {
		st = add_path(df, extra[i], &slot, err);
		if (st != KW_OK)
			goto cleanup;
	}
	for (unsigned f = 0; f < KW_FIELD_MAX; f++) {
		const struct kw_field_map *m = mapped(conf, (enum kw_field)f);
		const char *const *list = defaults[f];

		if (f == KW_FIELD_ROOT)
			continue; /* the decoding stage's, not a field */
		if (m) {
			st = add_path(df, m->path, &df->slot[f][0], err);
			if (st == KW_OK && m->form.kind != KW_KEYFORM_WHOLE)
				st = kw_keyform_create(&m->form, &df->keyform,
						       err);
			if (st != KW_OK)
				goto cleanup;
			df->count[f] = 1;
			df->mapped[f] = true;
			continue;
		}
		for (size_t k = 0; list && list[k]; k++) {
			if (k == KW_DECODE_FIELD_PATHS) {
				st = kw_error_set(err, KW_ETOOBIG,
						  "decoder: more than %d paths "
						  "for field '%s'",
						  KW_DECODE_FIELD_PATHS,
						  kw_field_name(f));
				goto cleanup;
			}
			st = add_path(df, list[k], &df->slot[f][k], err);
			if (st != KW_OK)
				goto cleanup;
			df->count[f] = (unsigned char)(k + 1);
		}
	}
	st = kw_json_paths_create(df->path, df->npaths, &df->paths, err);
	if (st != KW_OK)
		goto cleanup;
	df->hint = calloc(1, sizeof(*df->hint));
	if (!df->hint)
		st = kw_error_set(err, KW_ENOMEM, "decoder: %s",
				  kw_strerror(KW_ENOMEM));
cleanup:
	if (st != KW_OK)
		kw_decode_fields_fini(df);
	return st;
}

void kw_decode_fields_fini(struct kw_decode_fields *df)
{
	if (!df)
		return;
	kw_json_paths_destroy(df->paths);
	df->paths = NULL;
	free(df->hint);
	df->hint = NULL;
	kw_keyform_destroy(df->keyform);
	df->keyform = NULL;
}

/* ---- per record ---- */

bool kw_decode_offer(const struct kw_decode_rec *r, const struct kw_record *rec)
{
	const struct kw_decoder_conf *c = r->df->conf;

	return c && c->offer && c->offer(c->offer_ctx, rec);
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool kw_decode_scan(struct kw_decode_rec *r, const struct kw_record *rec,
		    struct kw_arena *arena)
{
	struct kw_error err;
	enum kw_status st;
	size_t i = 0;

	err.msg[0] = '\0';
	r->text = rec->p;
	r->len = rec->n;
	r->key = KW_STR_NULL;
	st = kw_json_scan_hinted(r->df->paths, r->df->hint, rec->p, rec->n,
				 arena, &err);
	r->vals = r->df->hint->val;
	if (st == KW_ENOMEM) {
		kw_skips_add(
			r->skips, KW_SKIP_TOO_LONG, r->file, r->line,
			"record does not fit the decoder's scratch memory");
		return false;
	}
	if (st != KW_OK) {
		kw_skips_add(r->skips, KW_SKIP_BAD_JSON, r->file, r->line, "%s",
			     err.msg);
		return false;
	}
	/* Valid JSON, so an object or an array (jansson's default flags
	 * accept nothing else): the first byte that is not white space
	 * tells. */
	while (i < rec->n && is_ws(rec->p[i]))
		i++;
	if (i < rec->n && rec->p[i] != '{') {
		kw_skips_add(r->skips, KW_SKIP_BAD_JSON, r->file, r->line,
			     "expected a JSON object, got an array");
		return false;
	}
	return true;
}

const struct kw_json_value *kw_decode_value(const struct kw_decode_rec *r,
					    enum kw_field f, size_t *slot)
{
	size_t where;
	const struct kw_json_value *v = kw_decode_value_of(r, f, &where);

	if (v && slot)
		*slot = where;
	return v;
}

/* Past the logged samples a skip is only counted: do not format it. */
static bool sampled(const struct kw_decode_rec *r, enum kw_skip_reason reason)
{
	return r->skips->count[reason] < KW_SKIPS_SAMPLES;
}

void kw_decode_skip_field(const struct kw_decode_rec *r,
			  enum kw_skip_reason reason, enum kw_field f,
			  size_t slot, const char *fmt, ...)
{
	const char *name = kw_field_name(f);
	const char *path = r->df->path[slot];
	char msg[256];
	va_list ap;

	if (!sampled(r, reason)) {
		kw_skips_add(r->skips, reason, r->file, r->line, "%s", "");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strcmp(name, path))
		kw_skips_add(r->skips, reason, r->file, r->line,
			     "field '%s' (%.100s)%s", name, path, msg);
	else
		kw_skips_add(r->skips, reason, r->file, r->line, "field '%s'%s",
			     name, msg);
}

void kw_decode_skip_missing(const struct kw_decode_rec *r,
			    enum kw_skip_reason reason, enum kw_field f)
{
	const struct kw_decode_fields *df = r->df;

	if (df->mapped[f])
		kw_skips_add(r->skips, reason, r->file, r->line,
			     "no %s field (%.100s)", kw_field_name(f),
			     df->path[df->slot[f][0]]);
	else
		kw_skips_add(r->skips, reason, r->file, r->line, "no %s field",
			     kw_field_name(f));
}

enum kw_decode_res kw_decode_bad(const struct kw_decode_rec *r, enum kw_field f,
				 size_t slot, const char *what)
{
	kw_decode_skip_field(r, KW_SKIP_BAD_FIELD, f, slot, "%s", what);
	return KW_DECODE_BAD;
}

/* "field 'x': WHAT "value"" with the value quoted, and the record's key,
 * wherever it is in the value, shown as its redacted id. */
static enum kw_decode_res bad_value(const struct kw_decode_rec *r,
				    enum kw_field f, size_t slot,
				    const char *what,
				    const struct kw_json_value *v)
{
	const struct kw_json_value *k =
		kw_decode_value(r, KW_FIELD_API_KEY, NULL);
	struct kw_str val = {v->p, v->n}, key = r->key;
	char q[KW_DECODE_QUOTE_BUF], safe[KW_DECODE_QUOTE_MAX * 3];
	char id[KW_KEY_ID_MAX];

	if (!sampled(r, KW_SKIP_BAD_FIELD))
		return kw_decode_bad(r, f, slot, "");
	/* The key as found; before kw_decode_key, the value that holds it. */
	if (!key.n && k && k->type == KW_JSON_STRING && !r->df->keyform)
		key = (struct kw_str){k->p, k->n};
	if (key.n && kw_key_in(val, key)) {
		kw_key_redact(key.p, key.n, id, sizeof(id));
		val.n = kw_key_scrub(safe, sizeof(safe), val, key, id);
		val.p = safe;
	}
	kw_decode_quote(val.p, val.n, q, sizeof(q));
	kw_decode_skip_field(r, KW_SKIP_BAD_FIELD, f, slot, ": %s %s", what, q);
	return KW_DECODE_BAD;
}

/* Bytes a key may not hold: a string that points into the record had no
 * escapes, and JSON allows no raw control characters there, so only DEL
 * can be; anything else (unescaped, or decoded from Basic) is checked
 * whole. */
static bool key_has_control(const struct kw_decode_rec *r, struct kw_str k)
{
	if ((uintptr_t)k.p >= (uintptr_t)r->text &&
	    (uintptr_t)k.p < (uintptr_t)r->text + r->len)
		return memchr(k.p, 0x7f, k.n) != NULL;
	for (size_t i = 0; i < k.n; i++) {
		unsigned char c = (unsigned char)k.p[i];

		if (c < 0x20 || c == 0x7f)
			return true;
	}
	return false;
}

enum kw_decode_res kw_decode_key(struct kw_decode_rec *r,
				 struct kw_arena *arena, struct kw_str *out)
{
	size_t slot;
	const struct kw_json_value *v =
		kw_decode_value_of(r, KW_FIELD_API_KEY, &slot);
	struct kw_str k;

	if (!v)
		return KW_DECODE_ABSENT;
	if (v->type != KW_JSON_STRING)
		return kw_decode_bad(r, KW_FIELD_API_KEY, slot,
				     " is not a string");
	if (v->n == 0)
		return KW_DECODE_ABSENT;
	k = (struct kw_str){v->p, v->n};
	if (r->df->keyform) {
		size_t cap = v->n + 1;
		char *buf = v->n <= KW_KEYFORM_VALUE_MAX
				    ? kw_arena_alloc(arena, cap)
				    : NULL;
		const char *why =
			buf || v->n > KW_KEYFORM_VALUE_MAX
				? kw_keyform_extract(r->df->keyform, v->p, v->n,
						     buf, cap, &k)
				: " does not fit the batch's memory";

		if (why)
			return kw_decode_bad(r, KW_FIELD_API_KEY, slot, why);
		if (k.n == 0)
			return kw_decode_bad(r, KW_FIELD_API_KEY, slot,
					     " holds an empty key");
	}
	if (k.n > KW_DECODE_KEY_MAX)
		return kw_decode_bad(r, KW_FIELD_API_KEY, slot,
				     " is longer than 512 bytes");
	if (key_has_control(r, k))
		return kw_decode_bad(r, KW_FIELD_API_KEY, slot,
				     " contains a control character");
	r->key = k;
	*out = k;
	return KW_DECODE_OK;
}

enum kw_decode_res kw_decode_created(const struct kw_decode_rec *r,
				     int64_t *ts_us)
{
	size_t slot;
	const struct kw_json_value *v =
		kw_decode_value_of(r, KW_FIELD_CREATED, &slot);

	if (!v)
		return KW_DECODE_ABSENT;
	if (v->type != KW_JSON_INTEGER && v->type != KW_JSON_REAL &&
	    v->type != KW_JSON_STRING)
		return kw_decode_bad(r, KW_FIELD_CREATED, slot,
				     " is not a number or a string");
	if (kw_decode_time(v, ts_us))
		return KW_DECODE_OK;
	if (v->type == KW_JSON_STRING)
		return bad_value(r, KW_FIELD_CREATED, slot,
				 "not an RFC 3339 time", v);
	kw_decode_skip_field(r, KW_SKIP_BAD_FIELD, KW_FIELD_CREATED, slot,
			     ": impossible timestamp %.*s",
			     (int)(v->n < 40 ? v->n : 40), v->p);
	return KW_DECODE_BAD;
}

/* Per byte: 1 for an RFC 9110 tchar, 3 for one that is a lower-case
 * letter; 0 for the rest (every byte from 0x80). */
static const uint8_t tchar_class[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1,
	0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 0, 0, 0, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 1, 0, 1, 0,
};

#define METHOD_MAX 32

/* The methods nearly every request has, as written in upper case: valid
 * tokens needing no copy, known by a word compare or two instead of the
 * loop over tchar_class (which gives the same answer for them;
 * test_decoder checks every method and its near misses both ways). */
static bool common_method(const char *p, size_t n)
{
	uint32_t w;

	switch (n) {
	case 3:
		return !memcmp(p, "GET", 3) || !memcmp(p, "PUT", 3);
	case 4:
		memcpy(&w, p, 4);
		return !memcmp(&w, "POST", 4) || !memcmp(&w, "HEAD", 4);
	case 5:
		return !memcmp(p, "PATCH", 5);
	case 6:
		return !memcmp(p, "DELETE", 6);
	default:
		return false;
	}
}

enum kw_decode_res kw_decode_method(const struct kw_decode_rec *r,
				    struct kw_arena *arena, struct kw_str *out)
{
	size_t slot;
	const struct kw_json_value *v =
		kw_decode_value_of(r, KW_FIELD_METHOD, &slot);
	unsigned lower = 0;
	char *up;

	if (!v)
		return KW_DECODE_ABSENT;
	if (v->type != KW_JSON_STRING)
		return kw_decode_bad(r, KW_FIELD_METHOD, slot,
				     " is not a string");
	if (v->n == 0 || v->n > METHOD_MAX)
		return bad_value(r, KW_FIELD_METHOD, slot, "not an HTTP method",
				 v);
	if (common_method(v->p, v->n)) {
		out->p = v->p;
		out->n = v->n;
		return KW_DECODE_OK;
	}
	for (size_t i = 0; i < v->n; i++) {
		unsigned c = tchar_class[(unsigned char)v->p[i]];

		if (!c)
			return bad_value(r, KW_FIELD_METHOD, slot,
					 "not an HTTP method", v);
		lower |= c & 2;
	}
	out->p = v->p;
	out->n = v->n;
	if (!lower)
		return KW_DECODE_OK;
	up = kw_arena_alloc(arena, v->n);
	if (!up) {
		kw_skips_add(
			r->skips, KW_SKIP_TOO_LONG, r->file, r->line,
			"record does not fit the decoder's scratch memory");
		return KW_DECODE_BAD;
	}
	for (size_t i = 0; i < v->n; i++) {
		char c = v->p[i];

		up[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
	}
	out->p = up;
	return KW_DECODE_OK;
}

enum kw_decode_res kw_decode_path_field(const struct kw_decode_rec *r,
					struct kw_str *out)
{
	size_t slot;
	const struct kw_json_value *v =
		kw_decode_value_of(r, KW_FIELD_PATH, &slot);
	struct kw_str p;

	if (!v)
		return KW_DECODE_ABSENT;
	if (v->type != KW_JSON_STRING)
		return kw_decode_bad(r, KW_FIELD_PATH, slot,
				     " is not a string");
	if (v->n == 0)
		return kw_decode_bad(r, KW_FIELD_PATH, slot, " is empty");
	p = kw_decode_path((struct kw_str){v->p, v->n});
	if (p.n == 0)
		return bad_value(r, KW_FIELD_PATH, slot, "no path in", v);
	*out = p;
	return KW_DECODE_OK;
}

enum kw_decode_res kw_decode_status(const struct kw_decode_rec *r, int *out)
{
	size_t slot;
	const struct kw_json_value *v =
		kw_decode_value_of(r, KW_FIELD_STATUS, &slot);

	if (!v)
		return KW_DECODE_ABSENT;
	if (v->type != KW_JSON_INTEGER)
		return kw_decode_bad(r, KW_FIELD_STATUS, slot,
				     " is not an integer");
	if (v->i < 100 || v->i > 599) {
		kw_decode_skip_field(r, KW_SKIP_BAD_FIELD, KW_FIELD_STATUS,
				     slot, ": impossible HTTP status %.*s",
				     (int)(v->n < 40 ? v->n : 40), v->p);
		return KW_DECODE_BAD;
	}
	*out = (int)v->i;
	return KW_DECODE_OK;
}

enum kw_decode_res kw_decode_ip(const struct kw_decode_rec *r,
				struct kw_ip *out)
{
	size_t slot;
	const struct kw_json_value *v =
		kw_decode_value_of(r, KW_FIELD_IP, &slot);

	if (!v)
		return KW_DECODE_ABSENT;
	if (v->type != KW_JSON_STRING)
		return kw_decode_bad(r, KW_FIELD_IP, slot, " is not a string");
	if (v->n == 0)
		return KW_DECODE_ABSENT;
	if (!kw_ip_parse(out, v->p, v->n))
		return bad_value(r, KW_FIELD_IP, slot, "not an IP address", v);
	return KW_DECODE_OK;
}

/* ---- what the decoders of one cloud's audit log share ---- */

enum kw_status kw_decode_fields_create(const char *const *const *defaults,
				       const char *const *extra, size_t nextra,
				       const struct kw_decoder_conf *conf,
				       void **self, struct kw_error *err)
{
	struct kw_decode_fields *df = calloc(1, sizeof(*df));
	enum kw_status st;

	*self = NULL;
	if (!df)
		return kw_error_set(err, KW_ENOMEM, "decoder: %s",
				    kw_strerror(KW_ENOMEM));
	st = kw_decode_fields_init(df, defaults, extra, nextra, conf, err);
	if (st != KW_OK) {
		free(df);
		return st;
	}
	*self = df;
	return KW_OK;
}

void kw_decode_fields_destroy(void *self)
{
	kw_decode_fields_fini(self);
	free(self);
}

size_t kw_decode_each(const struct kw_decode_fields *df,
		      const struct kw_record *recs, size_t n,
		      struct kw_event *out, struct kw_arena *arena,
		      struct kw_skips *skips, const char *file,
		      const char *format, kw_decode_one_fn one)
{
	struct kw_decode_rec r;
	size_t got = 0;

	r.df = df;
	r.skips = skips;
	r.file = file;
	for (size_t i = 0; i < n; i++) {
		struct kw_event *ev = &out[got];

		r.line = recs[i].line;
		if (!kw_decode_scan(&r, &recs[i], arena))
			continue;
		kw_decode_event_clear(ev);
		ev->livemode = -1;
		ev->file = file;
		ev->line = recs[i].line;
		ev->format = format;
		if (one(&r, &recs[i], ev, arena))
			got++;
	}
	return got;
}

bool kw_decode_no_room(const struct kw_decode_rec *r)
{
	kw_skips_add(r->skips, KW_SKIP_TOO_LONG, r->file, r->line,
		     "record does not fit the decoder's scratch memory");
	return false;
}

const char *kw_decode_field_path(const struct kw_decode_rec *r, enum kw_field f)
{
	return r->df->path[r->df->slot[f][0]];
}

bool kw_decode_recognised(const struct kw_decode_rec *r,
			  const struct kw_record *rec, const size_t *marks,
			  size_t n, const char *what)
{
	char names[256];
	size_t used = 0;

	for (size_t i = 0; i < n; i++) {
		if (r->vals[marks[i]].type != KW_JSON_ABSENT)
			return true;
	}
	if (kw_decode_value(r, KW_FIELD_CREATED, NULL) ||
	    kw_decode_value(r, KW_FIELD_API_KEY, NULL))
		return true;
	if (kw_decode_offer(r, rec))
		return false;
	names[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(names + used, sizeof(names) - used, "%.60s, ",
				 r->df->path[marks[i]]);

		if (w < 0 || (size_t)w >= sizeof(names) - used)
			break;
		used += (size_t)w;
	}
	kw_skips_add(r->skips, KW_SKIP_BAD_FIELD, r->file, r->line,
		     "not a %s (no %s%.60s or %.60s)", what, names,
		     kw_decode_field_path(r, KW_FIELD_CREATED),
		     kw_decode_field_path(r, KW_FIELD_API_KEY));
	return false;
}

bool kw_decode_key_required(struct kw_decode_rec *r, struct kw_arena *arena,
			    const char *path, struct kw_str *out)
{
	enum kw_decode_res res = kw_decode_key(r, arena, out);

	if (res == KW_DECODE_ABSENT)
		kw_skips_add(r->skips, KW_SKIP_KEYLESS, r->file, r->line,
			     "record has no %.100s",
			     path ? path
				  : kw_decode_field_path(r, KW_FIELD_API_KEY));
	return res == KW_DECODE_OK;
}

bool kw_decode_time_required(const struct kw_decode_rec *r, int64_t *ts_us)
{
	enum kw_decode_res res = kw_decode_created(r, ts_us);

	if (res == KW_DECODE_ABSENT)
		kw_skips_add(r->skips, KW_SKIP_NO_TIME, r->file, r->line,
			     "record has no %.100s",
			     kw_decode_field_path(r, KW_FIELD_CREATED));
	return res == KW_DECODE_OK;
}

bool kw_decode_ip_or_source(const struct kw_decode_rec *r, struct kw_event *ev)
{
	size_t slot;
	const struct kw_json_value *v =
		kw_decode_value_of(r, KW_FIELD_IP, &slot);

	if (!v)
		return true;
	if (v->type != KW_JSON_STRING) {
		kw_decode_bad(r, KW_FIELD_IP, slot, " is not a string");
		return false;
	}
	if (v->n && !kw_ip_parse(&ev->ip, v->p, v->n) && ev->source.n == 0)
		ev->source = (struct kw_str){v->p, v->n};
	return true;
}

bool kw_decode_optional(const struct kw_decode_rec *r, struct kw_event *ev,
			struct kw_arena *arena)
{
	return kw_decode_string(r, KW_FIELD_SOURCE, &ev->source) !=
		       KW_DECODE_BAD &&
	       kw_decode_method(r, arena, &ev->method) != KW_DECODE_BAD &&
	       kw_decode_path_field(r, &ev->path) != KW_DECODE_BAD &&
	       kw_decode_string(r, KW_FIELD_ID, &ev->request_id) !=
		       KW_DECODE_BAD &&
	       kw_decode_string(r, KW_FIELD_USER_AGENT, &ev->user_agent) !=
		       KW_DECODE_BAD &&
	       kw_decode_string(r, KW_FIELD_ORIGIN, &ev->origin) !=
		       KW_DECODE_BAD &&
	       kw_decode_livemode(r, &ev->livemode) != KW_DECODE_BAD &&
	       kw_decode_duration(r) != KW_DECODE_BAD;
}

bool kw_decode_extra_string(const struct kw_decode_rec *r, size_t slot,
			    struct kw_str *out)
{
	const struct kw_json_value *v = &r->vals[slot];

	if (v->type == KW_JSON_ABSENT || v->type == KW_JSON_NULL)
		return true;
	if (v->type != KW_JSON_STRING) {
		kw_skips_add(r->skips, KW_SKIP_BAD_FIELD, r->file, r->line,
			     "field '%.100s' is not a string",
			     r->df->path[slot]);
		return false;
	}
	out->p = v->p;
	out->n = v->n;
	return true;
}

struct kw_str kw_decode_extra(const struct kw_decode_rec *r, size_t slot,
			      enum kw_json_type type)
{
	const struct kw_json_value *v = &r->vals[slot];

	if (v->type != type)
		return KW_STR_NULL;
	return (struct kw_str){v->p, v->n};
}
