/*
 * decoder.h - format decoders: records (JSON texts) in, events out.
 *
 * A decoder is one .c file implementing struct kw_decoder_ops and listed in
 * the registry (decoder.c). Decoding is batch-shaped: the engine hands a
 * batch of records and gets back the events, so a queue can later sit
 * between the splitter and the decoders without changing either.
 *
 * Record-level problems (invalid JSON, a missing key or time, a field of the
 * wrong type, an impossible timestamp) are counted in the skips with the
 * file and line and the record is dropped; the batch goes on. The skip
 * messages are part of the interface (the README and the golden tests quote
 * them): "no api_key field", "field 'status' (status_code) is not an
 * integer", "field 'ip': not an IP address \"abc\"", "record has no
 * userIdentity.accessKeyId". They never contain the key's value.
 *
 * Decoding allocates nothing per record: one kw_json_scan picks every field
 * (strings with escapes are unescaped into the batch arena), and only an
 * upper-cased method or a CloudTrail operation name is built in the arena.
 */
#ifndef KW_INGEST_DECODER_H
#define KW_INGEST_DECODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/arena.h"
#include "core/event.h"
#include "core/record.h"
#include "core/skips.h"
#include "core/status.h"
#include "ingest/json_scan.h"
#include "ingest/keyform.h"
#include "ingest/splitter.h"

/* The event fields a log field can be mapped onto (spec/input-formats.md). */
enum kw_field {
	KW_FIELD_CREATED = 0,
	KW_FIELD_API_KEY,
	KW_FIELD_METHOD,
	KW_FIELD_PATH,
	KW_FIELD_STATUS,
	KW_FIELD_IP,
	KW_FIELD_ID,
	KW_FIELD_USER_AGENT,
	KW_FIELD_ORIGIN,
	KW_FIELD_LIVEMODE,
	KW_FIELD_SOURCE,
	KW_FIELD_DURATION_MS,
	KW_FIELD_ROOT, /* "@root": where the record is inside each line */
	KW_FIELD_MAX
};

/* "created", "api_key", ...; NULL past the end. */
const char *kw_field_name(enum kw_field f);
/* Look a field up by its name or one of its aliases; KW_FIELD_MAX if none. */
enum kw_field kw_field_lookup(const char *name);

/* One --map FIELD=PATH or api_key=PATH|FORM (keyform.h). Plain data,
 * copied freely; a decoder borrows the map it is given for its lifetime. */
#define KW_FIELD_PATH_MAX 256
struct kw_field_map {
	enum kw_field field;
	char path[KW_FIELD_PATH_MAX]; /* dotted path */
	struct kw_keyform_spec form;  /* api_key only; WHOLE otherwise */
};

struct kw_decoder_conf {
	const struct kw_field_map *map; /* may be NULL */
	size_t nmap;
	/* Set by the decoding stage (dispatch.h), NULL otherwise: offered a
	 * record that does not look like the decoder's format (a CloudTrail
	 * record in a JSONL request log); true when it took the record, which
	 * the decoder then drops without a skip. */
	bool (*offer)(void *ctx, const struct kw_record *rec);
	void *offer_ctx;
};

struct kw_decoder_ops {
	const char *name; /* "keywatch", "cloudtrail", "gcp-audit",
			     "github-audit": the --format value */

	/* Required. How sure (0..100) this decoder is that the record is in
	 * its format (the record's kind says where the splitter found it).
	 * Called for the first record of an input and for each record
	 * another decoder offered back, so it must be cheap: a json_peek.h
	 * look at a few keys, no allocation. */
	int (*sniff)(const struct kw_record *rec);

	/* Required. Create an instance; *self is owned by the caller and freed
	 * with destroy. conf and what it points to must outlive the instance.
	 */
	enum kw_status (*create)(const struct kw_decoder_conf *conf,
				 void **self, struct kw_error *err);

	/* Required. Decode recs[0..n) into out[] (room for n events) and
	 * return how many events were written. Strings in the events point
	 * into the records or into arena; the caller resets arena between
	 * batches. file names the input in skip messages and is stored in each
	 * event (it must outlive the events). One thread at a time per
	 * instance: it keeps the previous record's key order (a hint that
	 * makes the next scan cheaper, never different). */
	size_t (*decode)(void *self, const struct kw_record *recs, size_t n,
			 struct kw_event *out, struct kw_arena *arena,
			 struct kw_skips *skips, const char *file);

	/* Required. NULL-safe. */
	void (*destroy)(void *self);

	/* Optional (NULL: none). Top-level keys that hold a record's time
	 * besides the names of the event field 'created' (NULL-terminated):
	 * where the merge of several inputs peeks (ingest/merge.h). */
	const char *const *time_names;

	/* How late an event of this format may come after newer ones and
	 * still count in its window, when no lateness is configured (the
	 * largest of the formats read so far applies). */
	int64_t lateness;
};

/* The decoders (dec_keywatch.c, dec_cloudtrail.c, dec_gcp_audit.c,
 * dec_github_audit.c). */
extern const struct kw_decoder_ops kw_decoder_keywatch;
extern const struct kw_decoder_ops kw_decoder_cloudtrail;
extern const struct kw_decoder_ops kw_decoder_gcp_audit;
extern const struct kw_decoder_ops kw_decoder_github_audit;

/* The registry: NULL when no decoder has that name. */
const struct kw_decoder_ops *kw_decoder_find(const char *name);
/* The decoder that sniffs highest for this record (never NULL: the
 * keywatch decoder is the default), and its score in *score (may be
 * NULL). */
const struct kw_decoder_ops *kw_decoder_sniff(const struct kw_record *rec,
					      int *score);
/* Every top-level key a record's time may be under, in any format: the
 * names of 'created', then each decoder's time_names, into out[0..cap)
 * NULL-terminated (static strings); returns how many. */
size_t kw_decoder_time_names(const char **out, size_t cap);

/* The largest lateness of the decoders whose bits are set in formats
 * (bit i: kw_decoder_all()[i]); the keywatch format's when none is. */
int64_t kw_decoder_lateness(uint32_t formats);

/* NULL-terminated list of all decoders, for help and check. */
const struct kw_decoder_ops *const *kw_decoder_all(void);
/* Their names, "keywatch, cloudtrail, ...", into buf (cut to fit cap);
 * returns buf. */
const char *kw_decoder_names(char *buf, size_t cap);

/* Parse "FIELD=PATH" (the --map syntax), or "api_key=PATH|FORM" for a key
 * inside the value (keyform.h). FIELD is a canonical name or an alias; PATH
 * is a dotted path of non-empty steps, at most KW_FIELD_PATH_MAX - 1 bytes.
 * Errors (KW_EUSAGE): "--map 'x': expected FIELD=PATH",
 * "--map 'foo=a': unknown field 'foo' (fields: created, api_key, ...)",
 * "--map 'ip=a..b': path 'a..b' has an empty step",
 * "--map 'ip=a|bearer': only api_key takes a key form",
 * "--map 'api_key=a|x': unknown key form 'x' (forms: ...)" and the other
 * errors of kw_keyform_parse after "--map '...': ". */
enum kw_status kw_field_map_parse(const char *spec, struct kw_field_map *out,
				  struct kw_error *err);

/* ------------------------------------------------------------------------
 * Shared helpers for decoders (decode_util.c). Not for use outside the
 * decoders: the engine only needs the registry above.
 */

/* Time: a JSON number of unix seconds (fractions allowed; above 1e12 it is
 * milliseconds) or an RFC 3339 string. Returns false for anything else or a
 * time outside 1970..9999. */
bool kw_decode_time(const struct kw_json_value *v, int64_t *ts_us);

/* Reduce a full URL or a path with a query string or fragment to the path:
 * "https://api.example.com/v1/x?a=1#f" -> "/v1/x", "/v1/x?a=1" -> "/v1/x".
 * A URL without a path gives "/". The result points into s (or is the
 * static "/"); nothing is allocated. */
struct kw_str kw_decode_path(struct kw_str s);

/* The names of field f: canonical name first, then the aliases in the order
 * of the spec, NULL-terminated. NULL for an invalid f. Static storage. */
const char *const *kw_field_aliases(enum kw_field f);

/* A value quoted for a message: at most 40 bytes of it, between double
 * quotes, with '"', '\\' and every byte outside printable ASCII escaped
 * (\xNN) except the "…" of a redacted id, and "..." after the closing quote
 * when it was cut. Writes into buf (cap >= 8) and returns buf. Never use it
 * on a key; a value that holds the record's key is quoted with the key
 * replaced by its redacted id (kw_key_scrub). */
#define KW_DECODE_QUOTE_MAX 40
/* A value that looks like a key or token (12+ letters and digits in a run)
 * is cut to its first 8 bytes: it may be a key in the wrong field. */
#define KW_DECODE_QUOTE_SECRET 8
#define KW_DECODE_QUOTE_BUF (KW_DECODE_QUOTE_MAX * 4 + 8)
const char *kw_decode_quote(const char *p, size_t n, char *buf, size_t cap);

#define KW_DECODE_FIELD_PATHS 4 /* paths per field: the name and aliases */

/* The compiled field lookups of one decoder instance: every path the
 * decoder reads, in one kw_json_paths, and for each event field the slots
 * to try in order (the first present one wins). */
struct kw_decode_fields {
	struct kw_json_paths *paths;
	/* The key order of the record scanned last (kw_json_scan_hinted).
	 * Written by every kw_decode_scan even through a const df: an
	 * instance decodes on one thread at a time. */
	struct kw_json_hint *hint;
	size_t npaths;
	const char *path[KW_JSON_MAX_PATHS]; /* text of each slot's path */
	/* the slots of each field, in lookup order; count 0: not read */
	unsigned char slot[KW_FIELD_MAX][KW_DECODE_FIELD_PATHS];
	unsigned char count[KW_FIELD_MAX];
	bool mapped[KW_FIELD_MAX];	    /* the path came from --map */
	const struct kw_decoder_conf *conf; /* borrowed; may be NULL */
	struct kw_keyform *keyform; /* api_key's "|FORM"; owned; NULL: none */
};

/* Fill df. defaults[f] is the NULL-terminated list of paths for field f (a
 * NULL entry: the format has no such field); a --map in conf replaces the
 * list of its field (the last --map of a field wins). extra[0..nextra) are
 * further paths the decoder reads itself; they take slots 0..nextra-1.
 * A path read for two purposes takes one slot.
 * Every string must outlive df. Free with kw_decode_fields_fini. */
enum kw_status kw_decode_fields_init(struct kw_decode_fields *df,
				     const char *const *const *defaults,
				     const char *const *extra, size_t nextra,
				     const struct kw_decoder_conf *conf,
				     struct kw_error *err);
/* NULL-safe, idempotent. */
void kw_decode_fields_fini(struct kw_decode_fields *df);

/* The state of one record being decoded. */
struct kw_decode_rec {
	const struct kw_decode_fields *df;
	struct kw_skips *skips;
	const char *file;
	uint64_t line;
	const char *text; /* the record scanned last (kw_decode_scan) */
	size_t len;
	struct kw_str key; /* the key kw_decode_key found; empty before */
	/* the values of df's paths (kw_decode_scan), in df's hint */
	const struct kw_json_value *vals;
};

/* Offer the record to the decoding stage as not being in this decoder's
 * format (see struct kw_decoder_conf). True: it was taken; drop it without
 * a skip. False: decode it or count it as usual. */
bool kw_decode_offer(const struct kw_decode_rec *r,
		     const struct kw_record *rec);

/* Scan rec into r->vals. False when the record is not valid JSON or not an
 * object (counted as KW_SKIP_BAD_JSON with the scanner's message) or does
 * not fit the arena (KW_SKIP_TOO_LONG). */
bool kw_decode_scan(struct kw_decode_rec *r, const struct kw_record *rec,
		    struct kw_arena *arena);

/* The first present value of field f (JSON null counts as absent), and in
 * *slot (may be NULL) the slot it came from. NULL when absent. */
const struct kw_json_value *kw_decode_value(const struct kw_decode_rec *r,
					    enum kw_field f, size_t *slot);

/* A zeroed event, where each record's decoding starts: written out in
 * 16-byte stores (memset of an event this size is a `rep stos`, one
 * instruction per 8 bytes). */
static inline void kw_decode_event_clear(struct kw_event *ev)
{
#if defined(__SSE2__)
	const __m128i z = _mm_setzero_si128();
	unsigned char *p = (unsigned char *)ev;
	size_t i = 0;

#pragma GCC unroll 32
	for (; i + 16 <= sizeof(*ev); i += 16)
		_mm_storeu_si128((__m128i *)(p + i), z);
	if (i < sizeof(*ev))
		memset(p + i, 0, sizeof(*ev) - i);
#else
	memset(ev, 0, sizeof(*ev));
#endif
}

/* kw_decode_value inline, for the getters below: every record calls a
 * dozen of them. */
static inline const struct kw_json_value *
kw_decode_value_of(const struct kw_decode_rec *r, enum kw_field f, size_t *slot)
{
	const struct kw_decode_fields *df = r->df;

	for (unsigned k = 0; k < df->count[f]; k++) {
		const struct kw_json_value *v = &r->vals[df->slot[f][k]];

		if (v->type != KW_JSON_ABSENT && v->type != KW_JSON_NULL) {
			*slot = df->slot[f][k];
			return v;
		}
	}
	return NULL;
}

/* Count a skip about field f found in slot: the message is
 * "field 'NAME' (PATH)" followed by the formatted text, the "(PATH)" part
 * only when the path is not the field's canonical name. */
void kw_decode_skip_field(const struct kw_decode_rec *r,
			  enum kw_skip_reason reason, enum kw_field f,
			  size_t slot, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Count a skip for a missing field: "no NAME field", with " (PATH)" when
 * the field was mapped. */
void kw_decode_skip_missing(const struct kw_decode_rec *r,
			    enum kw_skip_reason reason, enum kw_field f);

/* Typed getters shared by the decoders. Each answers ABSENT (out
 * untouched), OK (out set) or BAD: the value has the wrong type or an
 * impossible value, the skip is already counted and the record must be
 * dropped. */
enum kw_decode_res { KW_DECODE_ABSENT = 0, KW_DECODE_OK, KW_DECODE_BAD };

/* The getters' way out: count a BAD_FIELD skip "field 'NAME'WHAT" and
 * answer KW_DECODE_BAD. */
enum kw_decode_res kw_decode_bad(const struct kw_decode_rec *r, enum kw_field f,
				 size_t slot, const char *what);

/* The getters that only look at a value's type are inline (the usual
 * record calls every one of them). */

/* Any string; out points into the record or the arena. */
static inline enum kw_decode_res kw_decode_string(const struct kw_decode_rec *r,
						  enum kw_field f,
						  struct kw_str *out)
{
	size_t slot;
	const struct kw_json_value *v = kw_decode_value_of(r, f, &slot);

	if (!v)
		return KW_DECODE_ABSENT;
	if (v->type != KW_JSON_STRING)
		return kw_decode_bad(r, f, slot, " is not a string");
	out->p = v->p;
	out->n = v->n;
	return KW_DECODE_OK;
}
/* The API key: a non-empty string (empty is ABSENT) of at most
 * KW_DECODE_KEY_MAX bytes without control characters, taken out of the
 * value by the map's key form when it has one (a decoded Basic user is
 * built in arena). Kept in r->key, so that messages about other fields
 * hide it. Messages never show the value. */
#define KW_DECODE_KEY_MAX 512
enum kw_decode_res kw_decode_key(struct kw_decode_rec *r,
				 struct kw_arena *arena, struct kw_str *out);
/* The time (kw_decode_time). */
enum kw_decode_res kw_decode_created(const struct kw_decode_rec *r,
				     int64_t *ts_us);
/* The method: an HTTP token of at most 32 bytes, upper-cased (into arena
 * only when it was not already). */
enum kw_decode_res kw_decode_method(const struct kw_decode_rec *r,
				    struct kw_arena *arena, struct kw_str *out);
/* The path, reduced by kw_decode_path; an empty string is BAD. */
enum kw_decode_res kw_decode_path_field(const struct kw_decode_rec *r,
					struct kw_str *out);
/* The status: an integer 100..599. */
enum kw_decode_res kw_decode_status(const struct kw_decode_rec *r, int *out);
/* The client IP: a string that parses as an address ("" is ABSENT). */
enum kw_decode_res kw_decode_ip(const struct kw_decode_rec *r,
				struct kw_ip *out);
/* livemode: a boolean, 0 or 1. */
static inline enum kw_decode_res
kw_decode_livemode(const struct kw_decode_rec *r, int8_t *out)
{
	size_t slot;
	const struct kw_json_value *v =
		kw_decode_value_of(r, KW_FIELD_LIVEMODE, &slot);

	if (!v)
		return KW_DECODE_ABSENT;
	if (v->type != KW_JSON_TRUE && v->type != KW_JSON_FALSE)
		return kw_decode_bad(r, KW_FIELD_LIVEMODE, slot,
				     " is not a boolean");
	*out = v->type == KW_JSON_TRUE;
	return KW_DECODE_OK;
}

/* duration_ms: a number (checked, not stored). */
static inline enum kw_decode_res
kw_decode_duration(const struct kw_decode_rec *r)
{
	size_t slot;
	const struct kw_json_value *v =
		kw_decode_value_of(r, KW_FIELD_DURATION_MS, &slot);

	if (!v)
		return KW_DECODE_ABSENT;
	if (v->type != KW_JSON_INTEGER && v->type != KW_JSON_REAL)
		return kw_decode_bad(r, KW_FIELD_DURATION_MS, slot,
				     " is not a number");
	return KW_DECODE_OK;
}

/* ------------------------------------------------------------------------
 * What the decoders of audit logs that name their own operation share
 * (CloudTrail, GCP Cloud Audit Logs, GitHub's audit log): an instance that
 * is nothing but its field lookups, the record loop, and the getters whose
 * misses are worded "record has no PATH".
 */

/* create/destroy of a decoder whose instance is a struct kw_decode_fields
 * (kw_decode_fields_init's arguments; *self is freed with
 * kw_decode_fields_destroy, NULL-safe). */
enum kw_status kw_decode_fields_create(const char *const *const *defaults,
				       const char *const *extra, size_t nextra,
				       const struct kw_decoder_conf *conf,
				       void **self, struct kw_error *err);
void kw_decode_fields_destroy(void *self);

/* One record, scanned into r and ev zeroed (livemode -1, file and line
 * set): true when it became the event; false when it was offered back or
 * counted in the skips (exactly once). */
typedef bool (*kw_decode_one_fn)(struct kw_decode_rec *r,
				 const struct kw_record *rec,
				 struct kw_event *ev, struct kw_arena *arena);

/* The decode slot of such a decoder: each record scanned (a record that is
 * no JSON object is counted) and handed to one, the event stamped with
 * format (the decoder's name); returns the events. */
size_t kw_decode_each(const struct kw_decode_fields *df,
		      const struct kw_record *recs, size_t n,
		      struct kw_event *out, struct kw_arena *arena,
		      struct kw_skips *skips, const char *file,
		      const char *format, kw_decode_one_fn one);

/* Count KW_SKIP_TOO_LONG "record does not fit the decoder's scratch
 * memory"; returns false. */
bool kw_decode_no_room(const struct kw_decode_rec *r);

/* Whether the record is in the decoder's format: one of the extra slots
 * marks[0..n) is present (JSON null included), or the time or the key is.
 * Otherwise it is offered to the decoding stage, or counted as
 * KW_SKIP_BAD_FIELD "not a WHAT (no M1, M2, TIME or KEY)", the marks' and
 * the fields' paths; false either way. */
bool kw_decode_recognised(const struct kw_decode_rec *r,
			  const struct kw_record *rec, const size_t *marks,
			  size_t n, const char *what);

/* The first path field f is read from (its --map, else its first default
 * path). */
const char *kw_decode_field_path(const struct kw_decode_rec *r,
				 enum kw_field f);

/* The key, required: absent or empty is KW_SKIP_KEYLESS "record has no
 * PATH" (a record no key made, expected in such a log: not a problem), with
 * path, or the field's first path when path is NULL. True: out is set. */
bool kw_decode_key_required(struct kw_decode_rec *r, struct kw_arena *arena,
			    const char *path, struct kw_str *out);
/* The time, required: absent is KW_SKIP_NO_TIME "record has no PATH". */
bool kw_decode_time_required(const struct kw_decode_rec *r, int64_t *ts_us);

/* The ip field: an address; a string that is none (the name of a service
 * that called on the user's behalf, "ec2.amazonaws.com", GCP's "private")
 * becomes ev->source unless that is set. False (counted) when it is not a
 * string. */
bool kw_decode_ip_or_source(const struct kw_decode_rec *r, struct kw_event *ev);

/* Every other field a request may have (source, method, path, request id,
 * user agent, origin, livemode, duration_ms), each from its default paths or
 * its --map, with the getters above. False (counted) on a bad one. */
bool kw_decode_optional(const struct kw_decode_rec *r, struct kw_event *ev,
			struct kw_arena *arena);

/* A string at an extra slot (ABSENT or null: true, out untouched); false
 * (counted: "field 'PATH' is not a string") for another type. */
bool kw_decode_extra_string(const struct kw_decode_rec *r, size_t slot,
			    struct kw_str *out);
/* The value at an extra slot when it has this type (a string's bytes, an
 * object's raw text), else empty: for fields that only add context. */
struct kw_str kw_decode_extra(const struct kw_decode_rec *r, size_t slot,
			      enum kw_json_type type);

#endif
