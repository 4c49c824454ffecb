/*
 * dec_cloudtrail.c - AWS CloudTrail records (one per record, whether they
 * came from {"Records":[...]}, a JSON array or one per line: the splitter
 * has already cut them).
 *
 * The one idea: a CloudTrail record is mapped onto the same event fields as
 * a keywatch record, through CloudTrail's own paths, with the same shared
 * getters (so --map overrides a field here too); only the key's and time's
 * missing messages, the status and the IP differ:
 *
 *   eventTime                 -> ts (RFC 3339)
 *   userIdentity.accessKeyId  -> key (absent or empty: KW_SKIP_KEYLESS
 *                                "record has no userIdentity.accessKeyId")
 *   sourceIPAddress           -> ip when it is an address, else source
 *                                ("ec2.amazonaws.com")
 *   eventSource + eventName   -> op "iam:CreateUser" (".amazonaws.com"
 *                                dropped), resource "iam"
 *   errorCode                 -> status (below); a mapped status path may
 *                                also hold an integer status
 *   userAgent                 -> user_agent
 *   eventID                   -> request_id
 *   userIdentity.sessionContext.sessionIssuer.arn, else userIdentity.arn
 *                             -> principal
 *   requestParameters, responseElements, additionalEventData, userIdentity
 *   (raw object text), recipientAccountId, userIdentity.type, .arn,
 *   .invokedBy, the session issuer's arn, responseElements.credentials.
 *   accessKeyId (a key handed out), sessionCredentialFromConsole and
 *   sessionContext.ec2RoleDelivery -> cloud (struct kw_event_cloud), for
 *   the model's matchers and the engine's principals; a value of another
 *   type than expected is left out, not an error
 *   awsRegion                 -> region (for links to the console)
 *
 * errorCode to status: absent, null or "" -> 200.
 *   403: "AccessDenied", and any code containing "AccessDenied",
 *        "Unauthorized", "NotAuthorized" or "Forbidden"; and
 *        "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken",
 *        "ExpiredTokenException", "AuthFailure", "InvalidAccessKeyId",
 *        "UnrecognizedClientException".
 *   429: any code containing "Throttl" ("Throttling", "ThrottlingException",
 *        "Client.Throttling"); "TooManyRequestsException",
 *        "RequestLimitExceeded".
 *   400: any other code.
 * method and path stay empty unless mapped.
 */
#include "ingest/decoder.h"

#include <stdlib.h>
#include <string.h>

#include "ingest/json_peek.h"

/* Slots of the paths read for the operation and the record's extra
 * fields (struct kw_event_cloud), and eventVersion (which every CloudTrail
 * record has), before the fields'. */
enum {
	SLOT_EVENT_SOURCE = 0,
	SLOT_EVENT_NAME,
	SLOT_PARAMS,
	SLOT_RESPONSE,
	SLOT_ADDITIONAL,
	SLOT_IDENTITY,
	SLOT_ACCOUNT,
	SLOT_ID_TYPE,
	SLOT_ARN,
	SLOT_ISSUER,
	SLOT_INVOKED_BY,
	SLOT_ISSUED_KEY,
	SLOT_CONSOLE,
	SLOT_EC2_ROLE,
	SLOT_EVENT_VERSION,
	SLOT_REGION,
	NEXTRA
};

static const char *const extra_paths[NEXTRA] = {
	[SLOT_EVENT_SOURCE] = "eventSource",
	[SLOT_EVENT_NAME] = "eventName",
	[SLOT_PARAMS] = "requestParameters",
	[SLOT_RESPONSE] = "responseElements",
	[SLOT_ADDITIONAL] = "additionalEventData",
	[SLOT_IDENTITY] = "userIdentity",
	[SLOT_ACCOUNT] = "recipientAccountId",
	[SLOT_ID_TYPE] = "userIdentity.type",
	[SLOT_ARN] = "userIdentity.arn",
	[SLOT_ISSUER] = "userIdentity.sessionContext.sessionIssuer.arn",
	[SLOT_INVOKED_BY] = "userIdentity.invokedBy",
	[SLOT_ISSUED_KEY] = "responseElements.credentials.accessKeyId",
	[SLOT_CONSOLE] = "sessionCredentialFromConsole",
	[SLOT_EC2_ROLE] = "userIdentity.sessionContext.ec2RoleDelivery",
	[SLOT_EVENT_VERSION] = "eventVersion",
	[SLOT_REGION] = "awsRegion",
};

static const char *const p_time[] = {"eventTime", NULL};
static const char *const p_key[] = {"userIdentity.accessKeyId", NULL};
static const char *const p_status[] = {"errorCode", NULL};
static const char *const p_ip[] = {"sourceIPAddress", NULL};
static const char *const p_id[] = {"eventID", NULL};
static const char *const p_agent[] = {"userAgent", NULL};

static const char *const *const default_paths[KW_FIELD_MAX] = {
	[KW_FIELD_CREATED] = p_time,  [KW_FIELD_API_KEY] = p_key,
	[KW_FIELD_STATUS] = p_status, [KW_FIELD_IP] = p_ip,
	[KW_FIELD_ID] = p_id,	      [KW_FIELD_USER_AGENT] = p_agent,
};

#define AMAZONAWS ".amazonaws.com"

struct cloudtrail {
	struct kw_decode_fields fields;
};

/* ---- sniffing ---- */

/* An element of a "Records" array is CloudTrail's by where it is; any
 * other record by its keys. */
static int cloudtrail_sniff(const struct kw_record *rec)
{
	static const char *const version[] = {"eventVersion"};
	static const char *const source[] = {"eventSource"};
	static const char *const identity[] = {"userIdentity"};
	struct kw_str v;

	if (rec->kind == KW_REC_RECORDS)
		return 100;
	if (kw_json_peek(rec->p, rec->n, version, 1, &v) >= 0)
		return 90;
	if (kw_json_peek(rec->p, rec->n, source, 1, &v) >= 0 &&
	    kw_json_peek(rec->p, rec->n, identity, 1, &v) >= 0)
		return 90;
	return 0;
}

/* ---- errorCode ---- */

static bool has(struct kw_str s, const char *needle)
{
	return memmem(s.p, s.n, needle, strlen(needle)) != NULL;
}

static bool is_any(struct kw_str s, const char *const *list)
{
	for (; *list; list++) {
		if (kw_str_eqc(s, *list))
			return true;
	}
	return false;
}

static int status_of_error(struct kw_str code)
{
	static const char *const denied_sub[] = {"AccessDenied", "Unauthorized",
						 "NotAuthorized", "Forbidden",
						 NULL};
	static const char *const denied[] = {"InvalidClientTokenId",
					     "SignatureDoesNotMatch",
					     "ExpiredToken",
					     "ExpiredTokenException",
					     "AuthFailure",
					     "InvalidAccessKeyId",
					     "UnrecognizedClientException",
					     NULL};
	static const char *const throttled[] = {"TooManyRequestsException",
						"RequestLimitExceeded", NULL};

	if (code.n == 0)
		return 200;
	for (const char *const *s = denied_sub; *s; s++) {
		if (has(code, *s))
			return 403;
	}
	if (is_any(code, denied))
		return 403;
	if (has(code, "Throttl") || is_any(code, throttled))
		return 429;
	return 400;
}

/* ---- decoding ---- */

static enum kw_status cloudtrail_create(const struct kw_decoder_conf *conf,
					void **self, struct kw_error *err)
{
	struct cloudtrail *cd = NULL;
	enum kw_status st;

	*self = NULL;
	cd = calloc(1, sizeof(*cd));
	if (!cd) {
		st = kw_error_set(err, KW_ENOMEM, "cloudtrail decoder: %s",
				  kw_strerror(KW_ENOMEM));
		goto cleanup;
	}
	st = kw_decode_fields_init(&cd->fields, default_paths, extra_paths,
				   NEXTRA, conf, err);
	if (st != KW_OK)
		goto cleanup;
	*self = cd;
	cd = NULL;
cleanup:
	free(cd);
	return st;
}

/* The path a field is read from, for "record has no PATH". */
static const char *field_path(const struct kw_decode_rec *r, enum kw_field f)
{
	return r->df->path[r->df->slot[f][0]];
}

static bool decode_status(const struct kw_decode_rec *r, struct kw_event *ev)
{
	size_t slot;
	const struct kw_json_value *v =
		kw_decode_value(r, KW_FIELD_STATUS, &slot);

	if (!v) {
		ev->status = 200;
		return true;
	}
	if (v->type == KW_JSON_INTEGER)
		return kw_decode_status(r, &ev->status) == KW_DECODE_OK;
	if (v->type != KW_JSON_STRING) {
		kw_decode_skip_field(r, KW_SKIP_BAD_FIELD, KW_FIELD_STATUS,
				     slot, " is not a string");
		return false;
	}
	ev->status = status_of_error((struct kw_str){v->p, v->n});
	return true;
}

/* sourceIPAddress: an address, or the name of the AWS service that made
 * the call on the user's behalf. */
static bool decode_ip(const struct kw_decode_rec *r, struct kw_event *ev)
{
	size_t slot;
	const struct kw_json_value *v = kw_decode_value(r, KW_FIELD_IP, &slot);

	if (!v)
		return true;
	if (v->type != KW_JSON_STRING) {
		kw_decode_skip_field(r, KW_SKIP_BAD_FIELD, KW_FIELD_IP, slot,
				     " is not a string");
		return false;
	}
	if (v->n && !kw_ip_parse(&ev->ip, v->p, v->n) && ev->source.n == 0) {
		ev->source.p = v->p;
		ev->source.n = v->n;
	}
	return true;
}

/* A string at one of the extra slots; false (counted) when not a string. */
static bool extra_string(const struct kw_decode_rec *r, size_t slot,
			 struct kw_str *out)
{
	const struct kw_json_value *v = &r->vals[slot];

	if (v->type == KW_JSON_ABSENT || v->type == KW_JSON_NULL)
		return true;
	if (v->type != KW_JSON_STRING) {
		kw_skips_add(r->skips, KW_SKIP_BAD_FIELD, r->file, r->line,
			     "field '%s' is not a string", r->df->path[slot]);
		return false;
	}
	out->p = v->p;
	out->n = v->n;
	return true;
}

static bool decode_op(const struct kw_decode_rec *r, struct kw_event *ev,
		      struct kw_arena *arena)
{
	struct kw_str svc = KW_STR_NULL, name = KW_STR_NULL;
	size_t sfx = sizeof(AMAZONAWS) - 1;
	char *op;

	if (!extra_string(r, SLOT_EVENT_SOURCE, &svc) ||
	    !extra_string(r, SLOT_EVENT_NAME, &name))
		return false;
	/* Only for links: a region that is not a string is left out, the
	 * record is kept. */
	if (r->vals[SLOT_REGION].type == KW_JSON_STRING)
		ev->region = (struct kw_str){r->vals[SLOT_REGION].p,
					     r->vals[SLOT_REGION].n};
	if (svc.n == 0 || name.n == 0)
		return true;
	if (svc.n > sfx && !memcmp(svc.p + svc.n - sfx, AMAZONAWS, sfx))
		svc.n -= sfx;
	op = kw_arena_alloc(arena, svc.n + 1 + name.n);
	if (!op) {
		kw_skips_add(
			r->skips, KW_SKIP_TOO_LONG, r->file, r->line,
			"record does not fit the decoder's scratch memory");
		return false;
	}
	memcpy(op, svc.p, svc.n);
	op[svc.n] = ':';
	memcpy(op + svc.n + 1, name.p, name.n);
	ev->op = (struct kw_str){op, svc.n + 1 + name.n};
	ev->resource = (struct kw_str){op, svc.n};
	return true;
}

/* A value of one of the extra slots, when it has the type asked for (an
 * object's raw text, or a string); empty otherwise. These fields only add
 * context, so a wrong type is not a reason to drop the record. */
static struct kw_str slot_value(const struct kw_decode_rec *r, size_t slot,
				enum kw_json_type type)
{
	const struct kw_json_value *v = &r->vals[slot];

	if (v->type != type)
		return KW_STR_NULL;
	return (struct kw_str){v->p, v->n};
}

static struct kw_str slot_string(const struct kw_decode_rec *r, size_t slot)
{
	return slot_value(r, slot, KW_JSON_STRING);
}

/* The record's extra fields (struct kw_event_cloud), and the principal the
 * key acts for: the session issuer (the role or user behind a temporary
 * key), else the identity's own ARN. */
static bool decode_cloud(const struct kw_decode_rec *r, struct kw_event *ev,
			 struct kw_arena *arena)
{
	struct kw_event_cloud *c = kw_arena_alloc(arena, sizeof(*c));
	const struct kw_json_value *console = &r->vals[SLOT_CONSOLE];

	if (!c) {
		kw_skips_add(
			r->skips, KW_SKIP_TOO_LONG, r->file, r->line,
			"record does not fit the decoder's scratch memory");
		return false;
	}
	c->params = slot_value(r, SLOT_PARAMS, KW_JSON_OBJECT);
	c->response = slot_value(r, SLOT_RESPONSE, KW_JSON_OBJECT);
	c->additional = slot_value(r, SLOT_ADDITIONAL, KW_JSON_OBJECT);
	c->identity = slot_value(r, SLOT_IDENTITY, KW_JSON_OBJECT);
	c->account = slot_string(r, SLOT_ACCOUNT);
	c->id_type = slot_string(r, SLOT_ID_TYPE);
	c->arn = slot_string(r, SLOT_ARN);
	c->issuer = slot_string(r, SLOT_ISSUER);
	c->invoked_by = slot_string(r, SLOT_INVOKED_BY);
	c->issued_key = slot_string(r, SLOT_ISSUED_KEY);
	c->console =
		console->type == KW_JSON_TRUE ||
		(console->type == KW_JSON_STRING &&
		 kw_str_eqc((struct kw_str){console->p, console->n}, "true"));
	c->instance = r->vals[SLOT_EC2_ROLE].type == KW_JSON_STRING;
	ev->principal = c->issuer.n ? c->issuer : c->arn;
	ev->cloud = c;
	return true;
}

static bool decode_key(const struct kw_decode_rec *r, struct kw_event *ev)
{
	enum kw_decode_res res = kw_decode_key(r, &ev->key);

	if (res == KW_DECODE_ABSENT)
		kw_skips_add(r->skips, KW_SKIP_KEYLESS, r->file, r->line,
			     "record has no %s",
			     field_path(r, KW_FIELD_API_KEY));
	return res == KW_DECODE_OK;
}

static bool decode_time(const struct kw_decode_rec *r, struct kw_event *ev)
{
	enum kw_decode_res res = kw_decode_created(r, &ev->ts);

	if (res == KW_DECODE_ABSENT)
		kw_skips_add(r->skips, KW_SKIP_NO_TIME, r->file, r->line,
			     "record has no %s",
			     field_path(r, KW_FIELD_CREATED));
	return res == KW_DECODE_OK;
}

/* Optional fields, present only when mapped, read as in keywatch. */
static bool decode_optional(const struct kw_decode_rec *r, struct kw_event *ev,
			    struct kw_arena *arena)
{
	if (kw_decode_string(r, KW_FIELD_SOURCE, &ev->source) ==
		    KW_DECODE_BAD ||
	    kw_decode_method(r, arena, &ev->method) == KW_DECODE_BAD ||
	    kw_decode_path_field(r, &ev->path) == KW_DECODE_BAD ||
	    kw_decode_string(r, KW_FIELD_ID, &ev->request_id) ==
		    KW_DECODE_BAD ||
	    kw_decode_string(r, KW_FIELD_USER_AGENT, &ev->user_agent) ==
		    KW_DECODE_BAD ||
	    kw_decode_string(r, KW_FIELD_ORIGIN, &ev->origin) ==
		    KW_DECODE_BAD ||
	    kw_decode_livemode(r, &ev->livemode) == KW_DECODE_BAD ||
	    kw_decode_duration(r) == KW_DECODE_BAD)
		return false;
	return true;
}

/* A record with none of eventVersion, eventSource, the time (eventTime)
 * and the key (userIdentity.accessKeyId) is in another format: it is
 * offered to the decoding stage, or counted. */
static bool is_cloudtrail(const struct kw_decode_rec *r,
			  const struct kw_record *rec)
{
	if (r->vals[SLOT_EVENT_VERSION].type != KW_JSON_ABSENT ||
	    r->vals[SLOT_EVENT_SOURCE].type != KW_JSON_ABSENT ||
	    kw_decode_value(r, KW_FIELD_CREATED, NULL) ||
	    kw_decode_value(r, KW_FIELD_API_KEY, NULL))
		return true;
	if (kw_decode_offer(r, rec))
		return false;
	kw_skips_add(r->skips, KW_SKIP_BAD_FIELD, r->file, r->line,
		     "not a CloudTrail record (no eventVersion, eventSource, "
		     "%.60s or %.60s)",
		     field_path(r, KW_FIELD_CREATED),
		     field_path(r, KW_FIELD_API_KEY));
	return false;
}

static bool decode_one(const struct cloudtrail *cd, const struct kw_record *rec,
		       struct kw_event *ev, struct kw_arena *arena,
		       struct kw_skips *skips, const char *file)
{
	struct kw_decode_rec r;

	r.df = &cd->fields;
	r.skips = skips;
	r.file = file;
	r.line = rec->line;
	if (!kw_decode_scan(&r, rec, arena))
		return false;
	if (!is_cloudtrail(&r, rec))
		return false;
	memset(ev, 0, sizeof(*ev));
	ev->livemode = -1;
	ev->file = file;
	ev->line = rec->line;
	return decode_key(&r, ev) && decode_time(&r, ev) &&
	       decode_status(&r, ev) && decode_optional(&r, ev, arena) &&
	       decode_ip(&r, ev) && decode_op(&r, ev, arena) &&
	       decode_cloud(&r, ev, arena);
}

static size_t cloudtrail_decode(void *self, const struct kw_record *recs,
				size_t n, struct kw_event *out,
				struct kw_arena *arena, struct kw_skips *skips,
				const char *file)
{
	const struct cloudtrail *cd = self;
	size_t got = 0;

	for (size_t i = 0; i < n; i++) {
		if (decode_one(cd, &recs[i], &out[got], arena, skips, file))
			got++;
	}
	return got;
}

static void cloudtrail_destroy(void *self)
{
	struct cloudtrail *cd = self;

	if (!cd)
		return;
	kw_decode_fields_fini(&cd->fields);
	free(cd);
}

/* CloudTrail delivers an event within about 15 minutes of the call. */
const struct kw_decoder_ops kw_decoder_cloudtrail = {
	.name = "cloudtrail",
	.sniff = cloudtrail_sniff,
	.create = cloudtrail_create,
	.decode = cloudtrail_decode,
	.destroy = cloudtrail_destroy,
	.time_names = p_time,
	.lateness = INT64_C(15) * 60 * 1000000,
};
