/*
 * dec_github_audit.c - GitHub's audit log (an enterprise's or an
 * organization's): events as audit log streaming writes them (one JSON
 * object a line, to S3, Azure Blob Storage, Google Cloud Storage, ...), as
 * the export writes them, and as the REST API returns them (a JSON array a
 * page).
 *
 * The one idea: the key is the token that made the request, known only by
 * its hash (GitHub never logs a token itself), and the operation is the
 * event's action:
 *
 *   @timestamp, else created_at (milliseconds) -> ts
 *   hashed_token -> key: the base64 SHA-256 of the token (personal access
 *       tokens classic and fine-grained, OAuth and GitHub App tokens, and, as
 *       GitHub adds them, deploy and SSH keys). Absent: KW_SKIP_KEYLESS
 *       "record has no hashed_token": an action in the web UI or by GitHub
 *       itself, counted and not analysed, like CloudTrail's records without
 *       an access key.
 *   action     -> op ("repo.destroy", "git.clone"), resource the text before
 *                 its first '.' ("repo")
 *   actor_ip   -> ip (an address, or damage)
 *   user_agent -> user_agent
 *   request_id, else _document_id -> request_id
 *   actor      -> principal (the user or app the token acts for)
 *   programmatic_access_type -> key_kind: "GitHub App ..." temporary (an
 *                 installation's token lives an hour, a user's eight),
 *                 anything else or nothing long-term
 *   actor_location.country_code -> country (two letters, else left out)
 *   status: the log records what was done, so 200 (a mapped status path may
 *   give one).
 *
 * A record with none of action, @timestamp, _document_id and hashed_token
 * is in another format: it is offered to the decoding stage, or counted.
 */
#include "ingest/decoder.h"

#include <string.h>

#include "ingest/json_peek.h"

enum {
	SLOT_ACTION = 0,
	SLOT_ACTOR,
	SLOT_DOCUMENT,
	SLOT_ACCESS_TYPE,
	SLOT_COUNTRY,
	NEXTRA
};

static const char *const extra_paths[NEXTRA] = {
	[SLOT_ACTION] = "action",
	[SLOT_ACTOR] = "actor",
	[SLOT_DOCUMENT] = "_document_id",
	[SLOT_ACCESS_TYPE] = "programmatic_access_type",
	[SLOT_COUNTRY] = "actor_location.country_code",
};

static const char *const p_time[] = {"@timestamp", "created_at", NULL};
static const char *const p_key[] = {"hashed_token", NULL};
static const char *const p_ip[] = {"actor_ip", NULL};
static const char *const p_id[] = {"request_id", "_document_id", NULL};
static const char *const p_agent[] = {"user_agent", NULL};

static const char *const *const default_paths[KW_FIELD_MAX] = {
	[KW_FIELD_CREATED] = p_time,
	[KW_FIELD_API_KEY] = p_key,
	[KW_FIELD_IP] = p_ip,
	[KW_FIELD_ID] = p_id,
	[KW_FIELD_USER_AGENT] = p_agent,
};

/* ---- sniffing ---- */

/* An action with GitHub's own time or document id, or with a token
 * hash. */
static int github_sniff(const struct kw_record *rec)
{
	static const char *const marks[] = {"@timestamp", "_document_id",
					    "hashed_token"};
	static const char *const action[] = {"action"};
	struct kw_str v;

	if (kw_json_peek(rec->p, rec->n, marks, 3, &v) >= 0 &&
	    kw_json_peek(rec->p, rec->n, action, 1, &v) >= 0)
		return 90;
	return 0;
}

/* ---- decoding ---- */

static enum kw_status github_create(const struct kw_decoder_conf *conf,
				    void **self, struct kw_error *err)
{
	return kw_decode_fields_create(default_paths, extra_paths, NEXTRA, conf,
				       self, err);
}

static bool is_github(const struct kw_decode_rec *r,
		      const struct kw_record *rec)
{
	static const size_t marks[] = {SLOT_ACTION, SLOT_DOCUMENT};

	return kw_decode_recognised(r, rec, marks, 2, "GitHub audit log event");
}

static bool decode_status(const struct kw_decode_rec *r, struct kw_event *ev)
{
	ev->status = 200;
	return kw_decode_status(r, &ev->status) != KW_DECODE_BAD;
}

static bool decode_ip(const struct kw_decode_rec *r, struct kw_event *ev)
{
	return kw_decode_ip(r, &ev->ip) != KW_DECODE_BAD;
}

/* The action and who acted. */
static bool decode_op(const struct kw_decode_rec *r, struct kw_event *ev)
{
	const char *dot;

	if (!kw_decode_extra_string(r, SLOT_ACTION, &ev->op) ||
	    !kw_decode_extra_string(r, SLOT_ACTOR, &ev->principal))
		return false;
	dot = ev->op.n ? memchr(ev->op.p, '.', ev->op.n) : NULL;
	ev->resource = (struct kw_str){ev->op.p, dot ? (size_t)(dot - ev->op.p)
						     : ev->op.n};
	return true;
}

/* The token's kind: a GitHub App's tokens ("GitHub App server-to-server
 * token", "GitHub App user-to-server token") live one hour or eight, a new
 * one for each job or session: temporary. Personal access tokens, OAuth
 * tokens, SSH and deploy keys last until revoked or their expiry:
 * long-term, also when the event does not say. */
static void token_kind(const struct kw_decode_rec *r, struct kw_event *ev)
{
	static const char app[] = "GitHub App ";
	struct kw_str t = kw_decode_extra(r, SLOT_ACCESS_TYPE, KW_JSON_STRING);

	ev->key_kind =
		t.n >= sizeof(app) - 1 && !memcmp(t.p, app, sizeof(app) - 1)
			? KW_KIND_TEMPORARY
			: KW_KIND_LONG_TERM;
}

/* Where GitHub places actor_ip: two letters, upper-cased; anything else is
 * left out (context, not the request's). */
static void decode_country(const struct kw_decode_rec *r, struct kw_event *ev)
{
	struct kw_str c = kw_decode_extra(r, SLOT_COUNTRY, KW_JSON_STRING);
	char cc[3] = {0};

	if (c.n != 2)
		return;
	for (size_t i = 0; i < 2; i++) {
		char ch = c.p[i];

		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		if (ch < 'A' || ch > 'Z')
			return;
		cc[i] = ch;
	}
	memcpy(ev->country, cc, sizeof(cc));
}

/* What the event says of the token and the caller besides the request. */
static bool decode_context(const struct kw_decode_rec *r, struct kw_event *ev)
{
	token_kind(r, ev);
	decode_country(r, ev);
	return true;
}

static bool decode_one(struct kw_decode_rec *r, const struct kw_record *rec,
		       struct kw_event *ev, struct kw_arena *arena)
{
	return is_github(r, rec) &&
	       kw_decode_key_required(r, arena, NULL, &ev->key) &&
	       kw_decode_time_required(r, &ev->ts) && decode_status(r, ev) &&
	       kw_decode_optional(r, ev, arena) && decode_ip(r, ev) &&
	       decode_op(r, ev) && decode_context(r, ev);
}

static size_t github_decode(void *self, const struct kw_record *recs, size_t n,
			    struct kw_event *out, struct kw_arena *arena,
			    struct kw_skips *skips, const char *file)
{
	return kw_decode_each(self, recs, n, out, arena, skips, file,
			      kw_decoder_github_audit.name, decode_one);
}

/* Streaming writes batches, Git events apart from the others: CloudTrail's
 * 15 minutes. */
const struct kw_decoder_ops kw_decoder_github_audit = {
	.name = "github-audit",
	.sniff = github_sniff,
	.create = github_create,
	.decode = github_decode,
	.destroy = kw_decode_fields_destroy,
	.time_names = p_time,
	.lateness = INT64_C(15) * 60 * 1000000,
};
