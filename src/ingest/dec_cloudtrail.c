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
 *                                "record has no userIdentity.accessKeyId",
 *                                unless the identity is a Root, IAMUser,
 *                                AssumedRole, FederatedUser or
 *                                IdentityCenterUser with an arn: then the
 *                                key is empty and the engine learns the
 *                                record on its principal)
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
	SLOT_EVENT_TYPE,
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
	[SLOT_EVENT_TYPE] = "eventType",
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
	return kw_decode_fields_create(default_paths, extra_paths, NEXTRA, conf,
				       self, err);
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

static bool decode_op(const struct kw_decode_rec *r, struct kw_event *ev,
		      struct kw_arena *arena)
{
	struct kw_str svc = KW_STR_NULL, name = KW_STR_NULL;
	size_t sfx = sizeof(AMAZONAWS) - 1;
	char *op;

	if (!kw_decode_extra_string(r, SLOT_EVENT_SOURCE, &svc) ||
	    !kw_decode_extra_string(r, SLOT_EVENT_NAME, &name))
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
	if (!op)
		return kw_decode_no_room(r);
	memcpy(op, svc.p, svc.n);
	op[svc.n] = ':';
	memcpy(op + svc.n + 1, name.p, name.n);
	ev->op = (struct kw_str){op, svc.n + 1 + name.n};
	ev->resource = (struct kw_str){op, svc.n};
	return true;
}

static struct kw_str slot_string(const struct kw_decode_rec *r, size_t slot)
{
	return kw_decode_extra(r, slot, KW_JSON_STRING);
}

/* A role session's ARN without its session name, which changes every
 * session ("arn:aws:sts::1:assumed-role/ci/run-7" -> "...assumed-role/ci"),
 * for the rare record that names no session issuer; any other ARN as is. */
static struct kw_str role_of_session(struct kw_str arn)
{
	static const char mark[] = ":assumed-role/";
	const char *p;
	size_t start, n;

	if (!arn.n)
		return arn;
	p = memmem(arn.p, arn.n, mark, sizeof(mark) - 1);
	if (!p)
		return arn;
	start = (size_t)(p - arn.p) + sizeof(mark) - 1;
	for (n = arn.n; n > start; n--) {
		if (arn.p[n - 1] == '/')
			return (struct kw_str){arn.p, n - 1};
	}
	return arn;
}

/* The record's extra fields (struct kw_event_cloud), and the principal the
 * key acts for: the session issuer (the role or user behind a temporary
 * key), else the identity's own ARN (a role session's less its session
 * name). */
static bool decode_cloud(const struct kw_decode_rec *r, struct kw_event *ev,
			 struct kw_arena *arena)
{
	struct kw_event_cloud *c = kw_arena_alloc(arena, sizeof(*c));
	const struct kw_json_value *console = &r->vals[SLOT_CONSOLE];

	if (!c)
		return kw_decode_no_room(r);
	c->params = kw_decode_extra(r, SLOT_PARAMS, KW_JSON_OBJECT);
	c->response = kw_decode_extra(r, SLOT_RESPONSE, KW_JSON_OBJECT);
	c->additional = kw_decode_extra(r, SLOT_ADDITIONAL, KW_JSON_OBJECT);
	c->identity = kw_decode_extra(r, SLOT_IDENTITY, KW_JSON_OBJECT);
	c->account = slot_string(r, SLOT_ACCOUNT);
	c->id_type = slot_string(r, SLOT_ID_TYPE);
	c->arn = slot_string(r, SLOT_ARN);
	c->issuer = slot_string(r, SLOT_ISSUER);
	c->invoked_by = slot_string(r, SLOT_INVOKED_BY);
	c->issued_key = slot_string(r, SLOT_ISSUED_KEY);
	c->console =
		console->type == KW_JSON_TRUE ||
		(console->type == KW_JSON_STRING &&
		 kw_str_eqc((struct kw_str){console->p, console->n}, "true")) ||
		kw_str_eqc(slot_string(r, SLOT_EVENT_TYPE), "AwsConsoleSignIn");
	c->instance = r->vals[SLOT_EC2_ROLE].type == KW_JSON_STRING;
	ev->principal = c->issuer.n ? c->issuer : role_of_session(c->arn);
	ev->cloud = c;
	return true;
}

/* Whether a record without a key names a principal whose acts matter: a
 * user, a role's session or the account's root signing in or acting from
 * the console (an AWS service acting on its own does not). */
static bool principal_without_key(const struct kw_decode_rec *r)
{
	static const char *const types[] = {"Root",
					    "IAMUser",
					    "AssumedRole",
					    "FederatedUser",
					    "IdentityCenterUser",
					    NULL};
	struct kw_str type = slot_string(r, SLOT_ID_TYPE);

	return slot_string(r, SLOT_ARN).n > 0 && is_any(type, types);
}

/* The key; a record without one is kept (empty key) when it names such a
 * principal, to be learnt on it, and counted as keyless otherwise. */
static bool decode_key(struct kw_decode_rec *r, struct kw_event *ev,
		       struct kw_arena *arena)
{
	enum kw_decode_res res = kw_decode_key(r, arena, &ev->key);

	if (res != KW_DECODE_ABSENT)
		return res == KW_DECODE_OK;
	if (principal_without_key(r))
		return true;
	/* counts it */
	return kw_decode_key_required(r, arena, NULL, &ev->key);
}

/* A record with none of eventVersion, eventSource, the time (eventTime)
 * and the key (userIdentity.accessKeyId) is in another format: it is
 * offered to the decoding stage, or counted. */
static bool is_cloudtrail(const struct kw_decode_rec *r,
			  const struct kw_record *rec)
{
	static const size_t marks[] = {SLOT_EVENT_VERSION, SLOT_EVENT_SOURCE};

	return kw_decode_recognised(r, rec, marks, 2, "CloudTrail record");
}

static bool decode_one(struct kw_decode_rec *r, const struct kw_record *rec,
		       struct kw_event *ev, struct kw_arena *arena)
{
	return is_cloudtrail(r, rec) && decode_key(r, ev, arena) &&
	       kw_decode_time_required(r, &ev->ts) && decode_status(r, ev) &&
	       kw_decode_optional(r, ev, arena) &&
	       kw_decode_ip_or_source(r, ev) && decode_op(r, ev, arena) &&
	       decode_cloud(r, ev, arena);
}

static size_t cloudtrail_decode(void *self, const struct kw_record *recs,
				size_t n, struct kw_event *out,
				struct kw_arena *arena, struct kw_skips *skips,
				const char *file)
{
	return kw_decode_each(self, recs, n, out, arena, skips, file,
			      kw_decoder_cloudtrail.name, decode_one);
}

/* CloudTrail delivers an event within about 15 minutes of the call. */
const struct kw_decoder_ops kw_decoder_cloudtrail = {
	.name = "cloudtrail",
	.sniff = cloudtrail_sniff,
	.create = cloudtrail_create,
	.decode = cloudtrail_decode,
	.destroy = kw_decode_fields_destroy,
	.time_names = p_time,
	.lateness = INT64_C(15) * 60 * 1000000,
};
