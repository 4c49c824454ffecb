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
};

struct kw_model_prefix {
	const char *s;
	size_t n;
	enum kw_key_kind kind;
	enum kw_key_mode mode;
	size_t model; /* index into kw_models.v */
};

struct kw_models {
	struct kw_model *v;
	size_t n;
	struct kw_model_prefix *prefixes; /* all models, longest first */
	size_t nprefixes;
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

/* FNV-1a over n bytes (the op hash). */
uint32_t kw_models_hash(const char *s, size_t n);

/* Free a trie (NULL-safe). */
void kw_models_node_free(struct kw_model_node *nd);

#endif
