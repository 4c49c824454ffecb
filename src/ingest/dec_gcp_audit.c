/*
 * dec_gcp_audit.c - Google Cloud Audit Logs: LogEntry records whose
 * protoPayload is an AuditLog, as a log sink exports them (Cloud Storage:
 * one JSON object a line; Pub/Sub: one a message; `gcloud logging read
 * --format=json` and the console's download: a JSON array), and the rows of
 * a BigQuery export of them (the payload under protopayload_auditlog,
 * 64-bit integers as strings, times as "2026-11-27 08:00:00.5 UTC").
 *
 * The one idea: the key is the service account key, the GCP credential a
 * thief takes away (a JSON key file); everything else a record says is
 * mapped onto the same event fields as CloudTrail's, through both forms'
 * paths, with the shared getters (so --map overrides a field here too):
 *
 *   timestamp, else receiveTimestamp  -> ts
 *   P.authenticationInfo.serviceAccountKeyName -> key: the KEY_ID at the end
 *       of "//iam.googleapis.com/projects/P/serviceAccounts/SA/keys/KEY_ID"
 *       (what the console and `gcloud iam service-accounts keys list` show),
 *       a long-term key.
 *       Absent: KW_SKIP_KEYLESS "record has no P.authenticationInfo.
 *       serviceAccountKeyName": a user's OAuth session, a service account's
 *       short-lived token (attached to a VM, impersonated), a system event,
 *       an anonymous call; like CloudTrail's records without an access key
 *       they are counted, not analysed. A value without "/keys/" is damage.
 *   P.status.code (google.rpc.Code) -> status: absent or 0 200,
 *       1 CANCELLED 499, 2 UNKNOWN 500, 3 INVALID_ARGUMENT 400,
 *       4 DEADLINE_EXCEEDED 504, 5 NOT_FOUND 404, 6 ALREADY_EXISTS 409,
 *       7 PERMISSION_DENIED 403, 8 RESOURCE_EXHAUSTED 429,
 *       9 FAILED_PRECONDITION 400, 10 ABORTED 409, 11 OUT_OF_RANGE 400,
 *       12 UNIMPLEMENTED 501, 13 INTERNAL 500, 14 UNAVAILABLE 503,
 *       15 DATA_LOSS 500, 16 UNAUTHENTICATED 401 (the HTTP mapping
 *       google.rpc.Code documents); an integer or a string of digits; a
 *       mapped status path is an HTTP status instead
 *   P.requestMetadata.callerIp -> ip when it is an address, else source
 *       ("private", "gce-internal-ip")
 *   P.methodName               -> op, as written
 *       ("google.iam.admin.v1.CreateServiceAccountKey", "SetIamPolicy",
 *       "v1.compute.instances.insert", "storage.objects.get")
 *   P.serviceName              -> resource: without ".googleapis.com"
 *       ("iam", "cloudresourcemanager", "k8s.io")
 *   P.requestMetadata.callerSuppliedUserAgent -> user_agent
 *   insertId                   -> request_id
 *   P.authenticationInfo.principalEmail, else principalSubject -> principal
 *       (the service account the key belongs to)
 * where P is protoPayload, or protopayload_auditlog in a BigQuery row.
 *
 * A Cloud Logging entry that is not an audit log (a protoPayload of another
 * @type, a textPayload or jsonPayload entry of the same export) carries no
 * API call: KW_SKIP_NOT_DATA, not a problem. A record with none of
 * protoPayload, protopayload_auditlog and logName is in another format: it
 * is offered to the decoding stage, or counted.
 */
#include "ingest/decoder.h"

#include <string.h>

#include "ingest/json_peek.h"

#define AUDIT_TYPE "type.googleapis.com/google.cloud.audit.AuditLog"
#define GOOGLEAPIS ".googleapis.com"
#define LE "protoPayload."
#define BQ "protopayload_auditlog."

/* Slots of the paths read besides the fields': each in the LogEntry form,
 * then in the BigQuery form. */
enum {
	SLOT_SERVICE = 0,
	SLOT_SERVICE_BQ,
	SLOT_METHOD,
	SLOT_METHOD_BQ,
	SLOT_EMAIL,
	SLOT_EMAIL_BQ,
	SLOT_SUBJECT,
	SLOT_SUBJECT_BQ,
	SLOT_TYPE,    /* protoPayload.@type */
	SLOT_PAYLOAD, /* protoPayload */
	SLOT_BQ,      /* protopayload_auditlog */
	SLOT_LOG_NAME,
	NEXTRA
};

static const char *const extra_paths[NEXTRA] = {
	[SLOT_SERVICE] = LE "serviceName",
	[SLOT_SERVICE_BQ] = BQ "serviceName",
	[SLOT_METHOD] = LE "methodName",
	[SLOT_METHOD_BQ] = BQ "methodName",
	[SLOT_EMAIL] = LE "authenticationInfo.principalEmail",
	[SLOT_EMAIL_BQ] = BQ "authenticationInfo.principalEmail",
	[SLOT_SUBJECT] = LE "authenticationInfo.principalSubject",
	[SLOT_SUBJECT_BQ] = BQ "authenticationInfo.principalSubject",
	[SLOT_TYPE] = LE "@type",
	[SLOT_PAYLOAD] = "protoPayload",
	[SLOT_BQ] = "protopayload_auditlog",
	[SLOT_LOG_NAME] = "logName",
};

static const char *const p_time[] = {"timestamp", "receiveTimestamp", NULL};
static const char *const p_key[] = {
	LE "authenticationInfo.serviceAccountKeyName",
	BQ "authenticationInfo.serviceAccountKeyName", NULL};
static const char *const p_status[] = {LE "status.code", BQ "status.code",
				       NULL};
static const char *const p_ip[] = {LE "requestMetadata.callerIp",
				   BQ "requestMetadata.callerIp", NULL};
static const char *const p_id[] = {"insertId", NULL};
static const char *const p_agent[] = {
	LE "requestMetadata.callerSuppliedUserAgent",
	BQ "requestMetadata.callerSuppliedUserAgent", NULL};

static const char *const *const default_paths[KW_FIELD_MAX] = {
	[KW_FIELD_CREATED] = p_time,  [KW_FIELD_API_KEY] = p_key,
	[KW_FIELD_STATUS] = p_status, [KW_FIELD_IP] = p_ip,
	[KW_FIELD_ID] = p_id,	      [KW_FIELD_USER_AGENT] = p_agent,
};

/* ---- sniffing ---- */

/* A LogEntry (an audit log's, or another of the same export, which the
 * decoder counts as no data), or a BigQuery row of one. */
static int gcp_sniff(const struct kw_record *rec)
{
	static const char *const names[] = {"protoPayload",
					    "protopayload_auditlog", "logName"};
	struct kw_str v;

	if (kw_json_peek(rec->p, rec->n, names, 3, &v) >= 0)
		return 90;
	return 0;
}

/* ---- decoding ---- */

static enum kw_status gcp_create(const struct kw_decoder_conf *conf,
				 void **self, struct kw_error *err)
{
	return kw_decode_fields_create(default_paths, extra_paths, NEXTRA, conf,
				       self, err);
}

/* Whether the record is in the BigQuery form. */
static bool is_bq(const struct kw_decode_rec *r)
{
	return r->vals[SLOT_BQ].type == KW_JSON_OBJECT;
}

/* An audit log entry; anything else of Cloud Logging is counted as no
 * data, and a record of no Cloud Logging form is offered back or counted. */
static bool is_audit(const struct kw_decode_rec *r, const struct kw_record *rec)
{
	struct kw_str type = kw_decode_extra(r, SLOT_TYPE, KW_JSON_STRING);
	char q[KW_DECODE_QUOTE_BUF];

	if (is_bq(r))
		return true;
	if (r->vals[SLOT_PAYLOAD].type == KW_JSON_OBJECT) {
		if (kw_str_eqc(type, AUDIT_TYPE))
			return true;
		/* No @type (a tool that dropped it): an AuditLog by its
		 * methodName. */
		if (r->vals[SLOT_TYPE].type == KW_JSON_ABSENT &&
		    r->vals[SLOT_METHOD].type != KW_JSON_ABSENT)
			return true;
		kw_skips_add(
			r->skips, KW_SKIP_NOT_DATA, r->file, r->line,
			"log entry that is not an audit log "
			"(protoPayload @type %s)",
			type.n ? kw_decode_quote(type.p, type.n, q, sizeof(q))
			       : "missing");
		return false;
	}
	if (r->vals[SLOT_LOG_NAME].type != KW_JSON_ABSENT) {
		kw_skips_add(r->skips, KW_SKIP_NOT_DATA, r->file, r->line,
			     "log entry that is not an audit log "
			     "(no protoPayload)");
		return false;
	}
	if (kw_decode_offer(r, rec))
		return false;
	kw_skips_add(r->skips, KW_SKIP_BAD_FIELD, r->file, r->line,
		     "not a Cloud Audit Logs entry (no protoPayload, "
		     "protopayload_auditlog or logName)");
	return false;
}

/* The key's id, the last step of its resource name: "//iam.googleapis.com/
 * projects/P/serviceAccounts/SA/keys/KEY_ID" (a mapped key is taken as it
 * is). */
static bool decode_key(struct kw_decode_rec *r, struct kw_event *ev,
		       struct kw_arena *arena)
{
	static const char keys[] = "/keys/";
	const char *path = kw_decode_field_path(r, KW_FIELD_API_KEY);
	size_t slot, k = sizeof(keys) - 1;
	const char *at = NULL;

	if (!r->df->mapped[KW_FIELD_API_KEY] && is_bq(r))
		path = BQ "authenticationInfo.serviceAccountKeyName";
	if (!kw_decode_key_required(r, arena, path, &ev->key))
		return false;
	if (r->df->mapped[KW_FIELD_API_KEY])
		return true;
	for (size_t i = 0; i + k <= ev->key.n; i++) {
		if (!memcmp(ev->key.p + i, keys, k))
			at = ev->key.p + i + k;
	}
	if (!at || at == ev->key.p + ev->key.n ||
	    memchr(at, '/', (size_t)(ev->key.p + ev->key.n - at))) {
		kw_decode_value(r, KW_FIELD_API_KEY, &slot);
		kw_decode_skip_field(r, KW_SKIP_BAD_FIELD, KW_FIELD_API_KEY,
				     slot,
				     " is not a service account key name "
				     "(.../keys/KEY_ID)");
		return false;
	}
	ev->key.n -= (size_t)(at - ev->key.p);
	ev->key.p = at;
	/* a user-managed key: valid until deleted (or an expiry the
	 * organisation sets), usable from anywhere */
	ev->key_kind = KW_KIND_LONG_TERM;
	return true;
}

/* google.rpc.Code to the HTTP status it maps to. */
static const int rpc_http[] = {200, 499, 500, 400, 504, 404, 409, 403, 429,
			       400, 409, 400, 501, 500, 503, 500, 401};
#define RPC_CODES (sizeof(rpc_http) / sizeof(rpc_http[0]))

/* A code as an integer, or as the string of digits BigQuery writes (a
 * long one saturates: no code); -1 when it is neither. */
static int64_t rpc_code(const struct kw_json_value *v)
{
	int64_t c = 0;

	if (v->type == KW_JSON_INTEGER)
		return v->i;
	if (v->type != KW_JSON_STRING || v->n == 0)
		return -1;
	for (size_t i = 0; i < v->n; i++) {
		if (v->p[i] < '0' || v->p[i] > '9')
			return -1;
		if (c < 1000000)
			c = c * 10 + (v->p[i] - '0');
	}
	return c;
}

static bool decode_status(const struct kw_decode_rec *r, struct kw_event *ev)
{
	size_t slot;
	const struct kw_json_value *v =
		kw_decode_value(r, KW_FIELD_STATUS, &slot);
	int64_t code;

	if (r->df->mapped[KW_FIELD_STATUS]) {
		ev->status = 200;
		return kw_decode_status(r, &ev->status) != KW_DECODE_BAD;
	}
	if (!v) {
		ev->status = 200;
		return true;
	}
	code = rpc_code(v);
	if (code < 0 && v->type != KW_JSON_INTEGER) {
		kw_decode_skip_field(r, KW_SKIP_BAD_FIELD, KW_FIELD_STATUS,
				     slot, " is not an integer");
		return false;
	}
	if (code < 0 || code >= (int64_t)RPC_CODES) {
		kw_decode_skip_field(r, KW_SKIP_BAD_FIELD, KW_FIELD_STATUS,
				     slot, ": not a google.rpc code %.*s",
				     (int)(v->n < 20 ? v->n : 20), v->p);
		return false;
	}
	ev->status = rpc_http[code];
	return true;
}

/* The first string of the LogEntry slot and its BigQuery twin. */
static bool either(const struct kw_decode_rec *r, size_t slot,
		   struct kw_str *out)
{
	if (!kw_decode_extra_string(r, slot, out))
		return false;
	return out->n || kw_decode_extra_string(r, slot + 1, out);
}

static bool decode_op(const struct kw_decode_rec *r, struct kw_event *ev)
{
	struct kw_str svc = KW_STR_NULL, email = KW_STR_NULL,
		      subject = KW_STR_NULL;
	size_t sfx = sizeof(GOOGLEAPIS) - 1;

	if (!either(r, SLOT_SERVICE, &svc) ||
	    !either(r, SLOT_METHOD, &ev->op) ||
	    !either(r, SLOT_EMAIL, &email) ||
	    !either(r, SLOT_SUBJECT, &subject))
		return false;
	if (svc.n > sfx && !memcmp(svc.p + svc.n - sfx, GOOGLEAPIS, sfx))
		svc.n -= sfx;
	if (ev->op.n)
		ev->resource = svc;
	ev->principal = email.n ? email : subject;
	return true;
}

static bool decode_one(struct kw_decode_rec *r, const struct kw_record *rec,
		       struct kw_event *ev, struct kw_arena *arena)
{
	return is_audit(r, rec) && decode_key(r, ev, arena) &&
	       kw_decode_time_required(r, &ev->ts) && decode_status(r, ev) &&
	       kw_decode_optional(r, ev, arena) &&
	       kw_decode_ip_or_source(r, ev) && decode_op(r, ev);
}

static size_t gcp_decode(void *self, const struct kw_record *recs, size_t n,
			 struct kw_event *out, struct kw_arena *arena,
			 struct kw_skips *skips, const char *file)
{
	return kw_decode_each(self, recs, n, out, arena, skips, file,
			      kw_decoder_gcp_audit.name, decode_one);
}

/* A sink writes an hour's entries per file, entries of several services
 * interleaved minutes apart (Data Access entries reach it later than the
 * call): CloudTrail's 15 minutes. */
const struct kw_decoder_ops kw_decoder_gcp_audit = {
	.name = "gcp-audit",
	.sniff = gcp_sniff,
	.create = gcp_create,
	.decode = gcp_decode,
	.destroy = kw_decode_fields_destroy,
	.time_names = p_time,
	.lateness = INT64_C(15) * 60 * 1000000,
};
