/*
 * model.h - API models: declarative knowledge of an API, loaded from
 * models/<name>.json at start (schema: models/README.md).
 *
 * A model says which key prefixes mean which kind and mode, which
 * method + path templates are which operation (with its resource and access
 * level), which operations are sensitive, and what a publishable key may do.
 * Enrichment applies it to each event. Paths that no template matches are
 * normalised (ids such as ch_3Mx..., numbers and UUIDs become {id}) so they
 * still group as one operation ("GET /v1/things/{id}").
 *
 * A loaded model set is immutable and may be shared by threads.
 */
#ifndef KW_ENRICH_MODEL_H
#define KW_ENRICH_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/alert.h"
#include "core/arena.h"
#include "core/event.h"
#include "core/status.h"

struct kw_models;

/* How an operation's use is judged (models/README.md, "Tiers"). */
enum kw_tier {
	KW_TIER_NONE = 0,      /* not sensitive */
	KW_TIER_ROUTINE,       /* part of some keys' honest work: learned */
	KW_TIER_FIRST_SIGHT,   /* rare in honest work: medium on first sight,
				  high once the key has learnt */
	KW_TIER_NEVER_ROUTINE, /* hides an attacker or hands out access: a
				   fixed severity, every time */
	KW_TIER_MAX
};

/* "routine", "first-sight", "never-routine"; "" for NONE. */
const char *kw_tier_name(enum kw_tier t);

/* MITRE ATT&CK tactics, as the models name them. */
enum kw_tactic {
	KW_TACTIC_NONE = 0,
	KW_TACTIC_INITIAL_ACCESS,
	KW_TACTIC_EXECUTION,
	KW_TACTIC_PERSISTENCE,
	KW_TACTIC_PRIVILEGE_ESCALATION,
	KW_TACTIC_DEFENSE_EVASION,
	KW_TACTIC_CREDENTIAL_ACCESS,
	KW_TACTIC_DISCOVERY,
	KW_TACTIC_LATERAL_MOVEMENT,
	KW_TACTIC_COLLECTION,
	KW_TACTIC_EXFILTRATION,
	KW_TACTIC_IMPACT,
	KW_TACTIC_MAX
};

/* "credential-access", ...; "" for NONE. */
const char *kw_tactic_name(enum kw_tactic t);

struct kw_model_matcher; /* model_impl.h */
struct kw_model_count;

/* Counters for harvesting (models/README.md, "Counters"): at most this
 * many across the loaded models. */
#define KW_MODELS_MAX_COUNTERS 16

/* What feeds a counter that selects its events by their kind. */
enum {
	KW_SELECT_SENSITIVE = 1u << 0, /* the use is sensitive */
	KW_SELECT_REFUSED = 1u << 1,   /* the API refused it (401/402/403) */
	KW_SELECT_BULK = 1u << 2,      /* a bulk read */
	KW_SELECT_LEARNING = 1u << 3,  /* by a key still learning */
};

struct kw_counter_info {
	const char *name; /* "secrets-read" */
	const char *what; /* "distinct secrets read in clear" */
	int64_t window;	  /* microseconds */
	uint32_t threshold;
	bool distinct; /* distinct names, else calls */
	enum kw_severity severity;
	enum kw_tactic tactic;
	unsigned select; /* KW_SELECT_*; 0: fed by the entries that name it */
	size_t model;	 /* the model that declares it (kw_models_info) */
};

/* The counters of the loaded models (0 for NULL), and one of them. */
size_t kw_models_counter_count(const struct kw_models *m);
const struct kw_counter_info *kw_models_counter(const struct kw_models *m,
						size_t i);

/* One operation of a model: what enrichment attaches to an event
 * (ev->info). Lives as long as the model set. */
struct kw_op_info {
	struct kw_str name;	/* "refunds.create", "iam:CreateUser" */
	uint64_t name_hash;	/* kw_models_op_hash(name) */
	struct kw_str resource; /* "refunds", "iam" */
	const char *reason;	/* why it is sensitive; NULL when it is not */
	enum kw_access access;	/* read or write */
	bool pk;		/* a publishable key may perform it */
	bool bulk;		/* the reason starts "bulk read:" */
	enum kw_tier tier;	/* NONE exactly when reason is NULL */
	enum kw_tactic tactic;
	enum kw_severity severity; /* never-routine: the fixed severity;
				      first-sight: on first sight */
	const struct kw_model_matcher *match; /* the first that holds decides */
	size_t nmatch;
	const struct kw_model_count *count; /* the counters it feeds */
	size_t ncount;
	size_t model; /* the model it belongs to (kw_models_info) */
};

/* What one use feeds a counter: the names it carries (hashed, for
 * counting distinct ones) and the first of them, for evidence. */
#define KW_VERDICT_FEEDS 4
#define KW_FEED_NAMES 32
#define KW_FEED_SHOWN 3
#define KW_FEED_NAME_MAX 48
struct kw_feed {
	uint8_t counter; /* index (kw_models_counter) */
	uint8_t nnames;
	uint8_t nshown;
	uint32_t hash[KW_FEED_NAMES]; /* kw_models_hash of each name */
	char shown[KW_FEED_SHOWN][KW_FEED_NAME_MAX]; /* cut; none that look
							like credentials */
};

/* What an operation's matchers make of one use of it (kw_models_judge). */
struct kw_verdict {
	enum kw_tier tier; /* NONE: not sensitive this time */
	enum kw_severity severity;
	enum kw_tactic tactic;
	const char *reason; /* why the operation is sensitive: the entry's
			       text, else the matcher's */
	const char *match;  /* the matcher that decided; NULL: none did */
	const char *why;    /* its text */
	char found[128];    /* the value it found, for evidence; "" when none
			       or when it looks like a credential */
	struct kw_feed feed[KW_VERDICT_FEEDS]; /* the counters it feeds */
	size_t nfeeds;
	bool identity;	    /* an identity rule decided: it is about who acted,
			       not the operation */
	const char *person; /* the "people" rule that says a person signed in
			       made a first-sight or routine use; NULL: none */
	const char *person_why; /* its text */
};

/* What the judgement depends on besides the model and the event. */
struct kw_judge_env {
	const char *const *trusted; /* account ids whose sharing and trust
				       is routine (config trusted_accounts) */
	size_t ntrusted;
};

/* Judge one use of an operation (ev->flags has KW_EV_JUDGE): the models'
 * identity rules for who acted (the first whose type is the record's
 * userIdentity.type and whose conditions hold), else the operation's
 * matchers (ev->info), in order: the first that holds on the record
 * (ev->cloud: request parameters, response, identity) sets the tier,
 * severity and tactic; when none holds, the entry's own apply. A use
 * judged first-sight or routine is then tried against the "people" rules
 * (the first that holds names the person's sign-in in out->person). Then its
 * counts: each whose conditions hold feeds its counter with the names
 * found (or, when none is, the operation's name). Parses the record's JSON
 * with jansson, so it is meant for the few events that need it; allocates
 * nothing that outlives the call. false when memory ran out parsing the
 * record's JSON: the verdict may then miss what a rule would have found. */
bool kw_models_judge(const struct kw_models *m, const struct kw_event *ev,
		     const struct kw_judge_env *env, struct kw_verdict *out);

/* Load models from dir (load time is not hot: jansson, full validation).
 * names[0..n) are model names ("stripe" loads dir/stripe.json); n == 0 loads
 * every *.json in dir, sorted by name. On failure err names the file and, for
 * JSON errors, the line and column ("models/x.json:3:14: ..."), for schema
 * errors the JSON path
 * ("models/x.json: routes[12].access: must be \"read\" or \"write\"").
 * *out is owned by the caller (kw_models_destroy). */
enum kw_status kw_models_load(const char *dir, const char *const *names,
			      size_t n, struct kw_models **out,
			      struct kw_error *err);

/* NULL-safe. */
void kw_models_destroy(struct kw_models *m);

/* Fill ev->key_kind, key_mode, op, resource, access and flags
 * (KW_EV_SENSITIVE, KW_EV_PK_ALLOWED and KW_EV_MODELLED are cleared, then set
 * from the model; other flag bits are kept).
 * The model is chosen by the key's prefix; a key that no prefix matches
 * uses the model that the event's shape fits (an event with op already set
 * by its decoder, as from CloudTrail, uses a model with op rules; otherwise
 * the first model with a route for the path). ev->livemode fills the mode
 * when the prefix does not tell. Strings set here are borrowed: op and
 * resource of a modelled operation point into m; a normalised path's op
 * ("GET /v1/things/{id}") is allocated from arena (left empty if the arena
 * is full) and its resource points into ev->path. An op set by the decoder
 * is kept as it was. */
void kw_models_enrich(const struct kw_models *m, struct kw_event *ev,
		      struct kw_arena *arena);

/* Path-match results, cached per (method, path shape): a shape is the
 * path's segments with each one that is a literal of some route replaced
 * by that literal's number and every other segment (an id) by 0, so
 * "/v1/customers/cus_123" and "/v1/customers/cus_456" are one shape, and
 * the route a path matches depends on nothing else. The cache is a
 * fixed-size table per model (KW_MODELS_CACHE_SLOTS entries, the newest
 * shape taking a slot), with the models' literals indexed beside it; in
 * front of it, a fixed-size table of exact (method, path) pairs that
 * matched a route answers a repeated path without splitting it. It
 * belongs to one thread (the model set stays shared and immutable);
 * create it for the model set it is used with, free it with
 * kw_models_cache_destroy (NULL-safe). KW_ENOMEM. */
#define KW_MODELS_CACHE_SLOTS 1024
struct kw_models_cache;
enum kw_status kw_models_cache_create(const struct kw_models *m,
				      struct kw_models_cache **out);
void kw_models_cache_destroy(struct kw_models_cache *c);

/* kw_models_enrich, with path matches answered from c when it has seen the
 * shape (c may be NULL: uncached). The result is always kw_models_enrich's
 * (tests/unit/test_model.c compares them over every route of the shipped
 * models and generated paths). */
void kw_models_enrich_cached(const struct kw_models *m,
			     struct kw_models_cache *c, struct kw_event *ev,
			     struct kw_arena *arena);

/* Classify a key alone by its prefix (used for config checks and reports);
 * unknown/unknown when no prefix matches. Redacted keys ("sk_live_...4242")
 * classify like full ones. */
void kw_models_key_kind(const struct kw_models *m, const char *key, size_t n,
			enum kw_key_kind *kind, enum kw_key_mode *mode);

/* The URL template for one request of the key's API (its model's
 * "links.request", or "links.request_test" for a test-mode key when the
 * model has one), chosen by the key's prefix like kw_models_key_kind;
 * NULL when the model has none. It holds {request_id} and may hold
 * {region}; it lives as long as m. */
const char *kw_models_request_link(const struct kw_models *m, const char *key,
				   size_t n, enum kw_key_mode mode);

/* Whether any loaded model defines this resource (config permissions are
 * checked against it). */
bool kw_models_has_resource(const struct kw_models *m, const char *resource);

/* Why the model marks op[0..n) sensitive (its "sensitive" text, for alert
 * evidence), or NULL when no loaded model does. The string lives as long as
 * m. */
const char *kw_models_sensitive_reason(const struct kw_models *m,
				       const char *op, size_t n);

/* FNV-1a over n bytes: the hash of names (counted names, op names). */
uint32_t kw_models_hash(const char *s, size_t n);

/* The 64-bit hash of an operation name that the ops detector's per-key
 * filter is made of (kw_op_info.name_hash holds it for a model's ops).
 * 8 bytes at a time, then a final mix so every bit depends on all of
 * them; little-endian loads, so the filter's bits are the same on every
 * run of the same build, which is what state files need. */
uint64_t kw_models_op_hash(const char *s, size_t n);

/* For `keywatch check`: how many models, and per model its name, the file
 * it came from, and counts of prefixes, routes and sensitive operations. */
size_t kw_models_count(const struct kw_models *m);
struct kw_model_info {
	const char *name;
	const char *path;
	size_t prefixes, routes, sensitive, resources;
};
void kw_models_info(const struct kw_models *m, size_t i,
		    struct kw_model_info *out);

#endif
