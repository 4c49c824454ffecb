/*
 * dec_keywatch.c - the native format: an API request log, one JSON object
 * per line, with the fields (and aliases) of spec/input-formats.md, and any
 * other JSON-lines log through --map FIELD=PATH.
 *
 * The one idea: the instance compiles, once, every name it may find a
 * field under (the canonical name, then the aliases, or the --map path
 * instead) into one path set; per record a single kw_json_scan picks them
 * all, and the first present name of each field wins. JSON null counts as
 * absent.
 *
 * Checks run in this order, and the first failure drops the record: the
 * key, the time (KW_SKIP_NO_TIME), then method, path and status (required:
 * KW_SKIP_BAD_FIELD "no method field" when absent), then the optional
 * fields. A wrong type or an impossible value is KW_SKIP_BAD_FIELD.
 *
 * A request without a key (absent, null or empty: an unauthenticated
 * request, a 401 in a gateway's log) is an event with an empty key when
 * everything else a request has is there; the engine counts and analyses it
 * apart. A record without a key that also lacks a required field is no
 * request: it is offered to the decoding stage as maybe another format,
 * then counted as KW_SKIP_NO_KEY ("no api_key field").
 */
#include "ingest/decoder.h"

#include <stdlib.h>
#include <string.h>

struct keywatch {
	struct kw_decode_fields fields;
};

static int keywatch_sniff(const struct kw_record *rec)
{
	(void)rec;
	/* The default: anything another decoder does not claim. */
	return 10;
}

static enum kw_status keywatch_create(const struct kw_decoder_conf *conf,
				      void **self, struct kw_error *err)
{
	const char *const *defaults[KW_FIELD_MAX];
	struct keywatch *kd = NULL;
	enum kw_status st;

	*self = NULL;
	kd = calloc(1, sizeof(*kd));
	if (!kd) {
		st = kw_error_set(err, KW_ENOMEM, "keywatch decoder: %s",
				  kw_strerror(KW_ENOMEM));
		goto cleanup;
	}
	for (unsigned f = 0; f < KW_FIELD_MAX; f++)
		defaults[f] = kw_field_aliases((enum kw_field)f);
	st = kw_decode_fields_init(&kd->fields, defaults, NULL, 0, conf, err);
	if (st != KW_OK)
		goto cleanup;
	*self = kd;
	kd = NULL;
cleanup:
	free(kd);
	return st;
}

/* A record without a key that is no whole request either. */
static bool no_key(const struct kw_decode_rec *r)
{
	size_t slot;

	if (kw_decode_value(r, KW_FIELD_API_KEY, &slot))
		kw_decode_skip_field(r, KW_SKIP_NO_KEY, KW_FIELD_API_KEY, slot,
				     " is empty");
	else
		kw_decode_skip_missing(r, KW_SKIP_NO_KEY, KW_FIELD_API_KEY);
	return false;
}

/* A required field: ABSENT is a skip with "no NAME field", or, in a record
 * without a key, "no api_key field". */
static inline bool required(const struct kw_decode_rec *r,
			    enum kw_decode_res res, enum kw_field f,
			    enum kw_skip_reason reason, bool keyless)
{
	if (res == KW_DECODE_ABSENT) {
		if (keyless)
			return no_key(r);
		kw_decode_skip_missing(r, reason, f);
	}
	return res == KW_DECODE_OK;
}

static bool decode_one(const struct keywatch *kd, const struct kw_record *rec,
		       struct kw_event *ev, struct kw_arena *arena,
		       struct kw_skips *skips, const char *file)
{
	struct kw_decode_rec r;
	enum kw_decode_res res;
	bool keyless;

	r.df = &kd->fields;
	r.skips = skips;
	r.file = file;
	r.line = rec->line;
	if (!kw_decode_scan(&r, rec, arena))
		return false;
	kw_decode_event_clear(ev);
	ev->livemode = -1;
	ev->file = file;
	ev->line = rec->line;
	ev->format = kw_decoder_keywatch.name;

	res = kw_decode_key(&r, arena, &ev->key);
	if (res == KW_DECODE_BAD)
		return false;
	keyless = res == KW_DECODE_ABSENT;
	/* Maybe another format: the decoding stage looks again. */
	if (keyless && kw_decode_offer(&r, rec))
		return false;
	if (!required(&r, kw_decode_created(&r, &ev->ts), KW_FIELD_CREATED,
		      KW_SKIP_NO_TIME, keyless) ||
	    !required(&r, kw_decode_method(&r, arena, &ev->method),
		      KW_FIELD_METHOD, KW_SKIP_BAD_FIELD, keyless) ||
	    !required(&r, kw_decode_path_field(&r, &ev->path), KW_FIELD_PATH,
		      KW_SKIP_BAD_FIELD, keyless) ||
	    !required(&r, kw_decode_status(&r, &ev->status), KW_FIELD_STATUS,
		      KW_SKIP_BAD_FIELD, keyless))
		return false;
	return kw_decode_ip(&r, &ev->ip) != KW_DECODE_BAD &&
	       kw_decode_string(&r, KW_FIELD_ID, &ev->request_id) !=
		       KW_DECODE_BAD &&
	       kw_decode_string(&r, KW_FIELD_USER_AGENT, &ev->user_agent) !=
		       KW_DECODE_BAD &&
	       kw_decode_string(&r, KW_FIELD_ORIGIN, &ev->origin) !=
		       KW_DECODE_BAD &&
	       kw_decode_livemode(&r, &ev->livemode) != KW_DECODE_BAD &&
	       kw_decode_string(&r, KW_FIELD_SOURCE, &ev->source) !=
		       KW_DECODE_BAD &&
	       kw_decode_duration(&r) != KW_DECODE_BAD;
}

static size_t keywatch_decode(void *self, const struct kw_record *recs,
			      size_t n, struct kw_event *out,
			      struct kw_arena *arena, struct kw_skips *skips,
			      const char *file)
{
	const struct keywatch *kd = self;
	size_t got = 0;

	for (size_t i = 0; i < n; i++) {
		if (decode_one(kd, &recs[i], &out[got], arena, skips, file))
			got++;
	}
	return got;
}

static void keywatch_destroy(void *self)
{
	struct keywatch *kd = self;

	if (!kd)
		return;
	kw_decode_fields_fini(&kd->fields);
	free(kd);
}

const struct kw_decoder_ops kw_decoder_keywatch = {
	.name = "keywatch",
	.sniff = keywatch_sniff,
	.create = keywatch_create,
	.decode = keywatch_decode,
	.destroy = keywatch_destroy,
	.lateness = INT64_C(120) * 1000000,
};
