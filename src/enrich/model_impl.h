/*
 * model_impl.h - the loaded form of the API models, shared by the loader
 * (model_load.c, JSON -> these structs) and the matcher (model.c, events ->
 * operations). Not a public interface: only src/enrich/model*.c include it.
 *
 * The one idea: every route and every op entry of a model ends up as an
 * index into the model's `ops` array. Routes are a trie of path segments
 * (literal children sorted for binary search, plus one {placeholder} child)
 * whose nodes hold an op index per HTTP method; op names are also indexed by
 * an open-addressing hash for formats (CloudTrail) that name the operation.
 * Every string lives in the model set's arena and is NUL-terminated.
 */
#ifndef KW_ENRICH_MODEL_IMPL_H
#define KW_ENRICH_MODEL_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/event.h"
#include "core/str.h"
#include "enrich/model.h"

/* Path segments a route template or a matched path may have. */
#define KW_MODEL_MAX_SEGS 16

/* ------------------------------------------------------------------------
 * Matchers (model_match.c): conditions on a CloudTrail record's request
 * parameters and the like, compiled from an op's "match" and "count".
 */

/* Where a path starts. */
enum kw_model_root {
	KW_ROOT_ELEMENT = 0, /* "@": the element an "each" walks */
	KW_ROOT_PARAMS,	     /* requestParameters */
	KW_ROOT_RESPONSE,    /* responseElements */
	KW_ROOT_ADDITIONAL,  /* additionalEventData */
	KW_ROOT_IDENTITY,    /* userIdentity */
	KW_ROOT_ACCOUNT,     /* recipientAccountId */
	KW_ROOT_MAX
};

/* Steps a path may have ("[]" and "@json" are steps of their own). */
#define KW_MODEL_PATH_STEPS 32

/* One step of a path. */
enum kw_model_step_kind {
	KW_STEP_KEY = 0, /* the member of an object */
	KW_STEP_EACH,	 /* the member, then each element if it is an array */
	KW_STEP_ALL,	 /* "*": every member of an object */
	KW_STEP_JSON,	 /* "@json": a string holding JSON, parsed */
};

struct kw_model_step {
	enum kw_model_step_kind kind;
	const char *key; /* KEY and EACH */
};

/* "requestParameters.policyDocument@json.Statement[].Principal.AWS[]" */
struct kw_model_path {
	enum kw_model_root root;
	struct kw_model_step *steps;
	size_t nsteps;
	const char *text; /* as written, for messages */
};

enum kw_model_test {
	KW_TEST_EQUALS = 0, /* a value equal to arg (or to one of arg[]) */
	KW_TEST_OTHER_THAN, /* a value equal to none of arg[] */
	KW_TEST_PREFIX,	    /* a string starting with arg (or one of them) */
	KW_TEST_SUFFIX,
	KW_TEST_CONTAINS,
	KW_TEST_PRESENT,  /* some non-null value is there */
	KW_TEST_AT_LEAST, /* a number (or numeric string) >= arg */
	KW_TEST_AT_MOST,
	KW_TEST_OPEN_CIDR,  /* a CIDR with prefix length 0: every address */
	KW_TEST_PORTS,	    /* a permission (fromPort, toPort, ipProtocol)
			       that covers one of arg[] (all ports do) */
	KW_TEST_ONLY_PORTS, /* a permission that covers only ports of arg[] */
	KW_TEST_FOREIGN,    /* an account id or ARN of an account that is
			       neither the record's nor trusted */
	KW_TEST_DIFFERS,    /* a string found at no value of path2 */
	KW_TEST_INTERNET_CIDR, /* a CIDR (or address) that holds an address
				  of the internet: one outside the private,
				  shared, loopback and link-local ranges */
	KW_TEST_MAX
};

struct kw_model_cond {
	struct kw_model_path *paths; /* the values: of any of these */
	size_t npaths;
	enum kw_model_test test;
	bool negate;	    /* "not": true when no value passes */
	struct json_t *arg; /* the test's argument (owned reference) */
	struct kw_model_path differs; /* KW_TEST_DIFFERS */
};

/* One entry of an op's "match": the first that holds decides. */
struct kw_model_matcher {
	const char *name, *why;
	struct kw_model_path *each; /* NULL: the conditions are on the record */
	size_t neach;
	struct kw_model_cond *when;
	size_t nwhen;
	enum kw_tier tier; /* KW_TIER_NONE: the op is not sensitive then */
	enum kw_severity severity;
	enum kw_tactic tactic;
};

/* A rule on who acted ("identities"): a matcher for every record whose
 * userIdentity.type is type. */
#define KW_MODELS_MAX_IDENTITIES 16
struct kw_model_identity {
	const char *type; /* "Root" */
	size_t model;
	struct kw_model_matcher m;
};

/* A rule on who is a person signed in ("people"): a matcher (name, why,
 * when; no tier of its own) tried on the sensitive CloudTrail records that
 * are first-sight or routine. */
#define KW_MODELS_MAX_PEOPLE 16
struct kw_model_person {
	size_t model;
	struct kw_model_matcher m;
};

/* One entry of an op's "count": the counter it feeds, with what. */
struct kw_model_count {
	uint8_t counter;	     /* index in kw_models.counters */
	struct kw_model_path *names; /* where the names are; none: the op */
	size_t nnames;
	struct kw_model_cond *when; /* all must hold */
	size_t nwhen;
};

/* HTTP methods a route can name. KW_M_ANY is a route without a method;
 * KW_M_OTHER is an event method no route can name (matches KW_M_ANY). */
enum kw_model_method {
	KW_M_ANY = 0,
	KW_M_GET,
	KW_M_POST,
	KW_M_PUT,
	KW_M_PATCH,
	KW_M_DELETE,
	KW_M_HEAD,
	KW_M_OPTIONS,
	KW_M_OTHER,
	KW_M_ROUTE_SLOTS = KW_M_OTHER
};

struct kw_model_node;

struct kw_model_child {
	const char *s; /* literal segment */
	uint32_t n;
	struct kw_model_node *node;
};

struct kw_model_node {
	struct kw_model_child *lit; /* sorted by (n, memcmp) */
	size_t nlit, caplit;
	struct kw_model_node *wild;	 /* the {placeholder} child, or NULL */
	int32_t route[KW_M_ROUTE_SLOTS]; /* op index per method, -1: none */
};

struct kw_model {
	const char *name; /* file stem: "stripe" */
	const char *path; /* as opened: "models/stripe.json" */

	struct kw_op_info *ops;
	size_t nops, capops;
	uint32_t *ophash; /* slots hold op index + 1; 0 is empty */
	size_t ophash_mask;

	struct kw_model_node *root; /* NULL when the model has no routes */
	size_t nroutes, nprefixes, nsensitive;

	const char **resources; /* sorted, unique */
	size_t nresources;

	/* "formats": the decoders (--format names) whose operations this
	 * model names; none: any decoder's, when no model declares its
	 * format. */
	const char **formats;
	size_t *formats_n;
	size_t nformats;

	/* op_rules: access of op names that no entry lists. */
	bool has_rules;
	const char *sep; /* "separator": action = text after its last use */
	size_t sep_n;
	const char **read_prefixes;
	size_t *read_prefix_n; /* their lengths */
	size_t nread_prefixes;
	enum kw_access default_access;
	/* Services whose action names carry the API version
	 * ("UpdateFunctionCode20150331v2"): it is cut before lookup. */
	const char **versioned;
	size_t *versioned_n;
	size_t nversioned;

	/* The JSON values matchers test against (their references). */
	struct json_t **refs;
	size_t nrefs, caprefs;
	/* "links": URL templates for a request of this API ({request_id},
	 * {region}); NULL when the model has none. */
	const char *link_request, *link_request_test;
};

struct kw_model_prefix {
	const char *s;
	size_t n;
	/* its first 8 bytes (fewer: zeros) as a little-endian word, and the
	 * mask of those it has: a key of 8 bytes or more is compared in one
	 * step (find_prefix) */
	uint64_t w8, m8;
	enum kw_key_kind kind;
	enum kw_key_mode mode;
	bool by_principal; /* "learn": "principal" */
	size_t model;	   /* index into kw_models.v */
};

struct kw_models {
	struct kw_model *v;
	size_t n;
	/* all models, by first byte, then longest first */
	struct kw_model_prefix *prefixes;
	size_t nprefixes;
	/* prefixes[px_start[c] .. px_start[c + 1]) begin with byte c */
	uint32_t px_start[257];
	struct kw_counter_info counters[KW_MODELS_MAX_COUNTERS];
	size_t ncounters;
	/* "identities": rules on who acted, for every CloudTrail event */
	struct kw_model_identity identities[KW_MODELS_MAX_IDENTITIES];
	size_t nidentities;
	/* "people": who is a person signed in, for every CloudTrail event */
	struct kw_model_person people[KW_MODELS_MAX_PEOPLE];
	size_t npeople;
	struct kw_arena arena; /* every string above */
};

/* The method id of an HTTP method, case-insensitive; KW_M_OTHER when it is
 * not one a route can name, KW_M_ANY when n == 0. */
enum kw_model_method kw_models_method_id(const char *s, size_t n);

/* Index of the op named name in md, or -1. */
int32_t kw_models_op_find(const struct kw_model *md, const char *name,
			  size_t n);

/* Access of an op name by md's op_rules (md->has_rules must be true). */
enum kw_access kw_models_rule_access(const struct kw_model *md, const char *op,
				     size_t n);

/* How many bytes at the end of op[0..n) are an API version suffix that
 * md's op_rules say to cut (0: none): 8 digits and optionally "v" and
 * digits, after an action of at least one letter, in a listed service. */
size_t kw_models_version_suffix(const struct kw_model *md, const char *op,
				size_t n);

/* Free a trie (NULL-safe). */
void kw_models_node_free(struct kw_model_node *nd);

#endif
