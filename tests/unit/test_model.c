/*
 * test_model.c - the API models: the shipped models/stripe.json and
 * models/aws.json through kw_models_enrich (prefixes, routes, specificity,
 * normalisation of unmodelled paths, CloudTrail ops), and the loader's
 * error messages on hand-written bad models in a temporary directory.
 *
 * Every expectation is an exact value: op, resource, access and the three
 * model flags of an event; the exact text of an error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/arena.h"
#include "enrich/model.h"
#include "test_rng.h"

#define MODELS_DIR KW_SOURCE_ROOT "/models"

#define F_S KW_EV_SENSITIVE
#define F_PK KW_EV_PK_ALLOWED
#define F_M KW_EV_MODELLED
#define F_J KW_EV_JUDGE
#define F_P KW_EV_BY_PRINCIPAL

struct fx {
	struct kw_models *m;
	struct kw_arena arena;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct kw_error err = {0};

	if (!fx)
		return -1;
	kw_arena_init(&fx->arena, 0);
	if (kw_models_load(MODELS_DIR, NULL, 0, &fx->m, &err) != KW_OK) {
		fprintf(stderr, "load: %s\n", err.msg);
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	kw_models_destroy(fx->m);
	kw_arena_destroy(&fx->arena);
	free(fx);
	return 0;
}

static struct kw_event mkev(const char *key, const char *method,
			    const char *path)
{
	struct kw_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.key = kw_str_c(key);
	ev.method = kw_str_c(method);
	ev.path = kw_str_c(path);
	ev.livemode = -1;
	return ev;
}

static void str_equal(struct kw_str s, const char *want)
{
	char buf[1200];

	assert_true(s.n < sizeof(buf));
	memcpy(buf, s.p ? s.p : "", s.n);
	buf[s.n] = '\0';
	assert_string_equal(buf, want);
}

/* Enrich one request with a secret live key and check the outcome. */
static void check_route(struct fx *fx, const char *method, const char *path,
			const char *op, const char *resource,
			enum kw_access access, uint32_t flags)
{
	struct kw_event ev = mkev("sk_live_51HxAbCdEf4242", method, path);

	kw_models_enrich(fx->m, &ev, &fx->arena);
	str_equal(ev.op, op);
	str_equal(ev.resource, resource);
	assert_int_equal(ev.access, access);
	assert_int_equal(ev.flags, flags);
	assert_int_equal(ev.key_kind, KW_KIND_SECRET);
	assert_int_equal(ev.key_mode, KW_MODE_LIVE);
}

/* ------------------------------------------------------------------------ */
/* The shipped models */

static void test_info(void **state)
{
	struct fx *fx = *state;
	struct kw_model_info info;

	assert_int_equal(kw_models_count(fx->m), 4);
	kw_models_info(fx->m, 0, &info);
	assert_string_equal(info.name, "aws");
	assert_string_equal(info.path, MODELS_DIR "/aws.json");
	assert_int_equal(info.prefixes, 2);
	assert_int_equal(info.routes, 0);
	assert_int_equal(info.sensitive, 138);
	assert_int_equal(info.resources, 30);
	kw_models_info(fx->m, 1, &info);
	assert_string_equal(info.name, "gcp");
	assert_int_equal(info.prefixes, 0);
	assert_int_equal(info.sensitive, 72);
	assert_int_equal(info.resources, 18);
	kw_models_info(fx->m, 2, &info);
	assert_string_equal(info.name, "github");
	assert_int_equal(info.sensitive, 44);
	assert_int_equal(info.resources, 18);
	kw_models_info(fx->m, 3, &info);
	assert_string_equal(info.name, "stripe");
	assert_string_equal(info.path, MODELS_DIR "/stripe.json");
	assert_int_equal(info.prefixes, 6);
	assert_int_equal(info.routes, 371);
	assert_int_equal(info.sensitive, 45);
	assert_int_equal(info.resources, 68);
	kw_models_info(fx->m, 4, &info);
	assert_null(info.name);
	assert_int_equal(info.routes, 0);
}

static void check_kind(struct fx *fx, const char *key, enum kw_key_kind kind,
		       enum kw_key_mode mode)
{
	enum kw_key_kind k = KW_KIND_MAX;
	enum kw_key_mode md = KW_MODE_MAX;

	kw_models_key_kind(fx->m, key, strlen(key), &k, &md);
	assert_int_equal(k, kind);
	assert_int_equal(md, mode);
}

static void test_prefixes(void **state)
{
	struct fx *fx = *state;

	check_kind(fx, "pk_live_51HxAbC", KW_KIND_PUBLISHABLE, KW_MODE_LIVE);
	check_kind(fx, "pk_test_51HxAbC", KW_KIND_PUBLISHABLE, KW_MODE_TEST);
	check_kind(fx, "sk_live_51HxAbC", KW_KIND_SECRET, KW_MODE_LIVE);
	check_kind(fx, "sk_test_51HxAbC", KW_KIND_SECRET, KW_MODE_TEST);
	check_kind(fx, "rk_live_51HxAbC", KW_KIND_RESTRICTED, KW_MODE_LIVE);
	check_kind(fx, "rk_test_51HxAbC", KW_KIND_RESTRICTED, KW_MODE_TEST);
	/* Redacted as logs and keywatch write them. */
	check_kind(fx, "sk_live_...4242", KW_KIND_SECRET, KW_MODE_LIVE);
	check_kind(fx,
		   "sk_live_\xe2\x80\xa6"
		   "4242",
		   KW_KIND_SECRET, KW_MODE_LIVE);
	check_kind(fx, "rk_test_*a1b2", KW_KIND_RESTRICTED, KW_MODE_TEST);
	check_kind(fx, "AKIAIOSFODNN7EXAMPLE", KW_KIND_LONG_TERM,
		   KW_MODE_UNKNOWN);
	check_kind(fx, "ASIAY34FZKBOKMUTVV7A", KW_KIND_TEMPORARY,
		   KW_MODE_UNKNOWN);
	/* Unknown: other prefixes, cut prefixes, case, empty. */
	check_kind(fx, "xk_live_51HxAbC", KW_KIND_UNKNOWN, KW_MODE_UNKNOWN);
	check_kind(fx, "sk_live", KW_KIND_UNKNOWN, KW_MODE_UNKNOWN);
	check_kind(fx, "SK_LIVE_abc", KW_KIND_UNKNOWN, KW_MODE_UNKNOWN);
	check_kind(fx, "akiaIOSFODNN7EXAMPLE", KW_KIND_UNKNOWN,
		   KW_MODE_UNKNOWN);
	check_kind(fx, "", KW_KIND_UNKNOWN, KW_MODE_UNKNOWN);
	/* NULL set */
	{
		enum kw_key_kind k = KW_KIND_MAX;
		enum kw_key_mode md = KW_MODE_MAX;

		kw_models_key_kind(NULL, "sk_live_x", 9, &k, &md);
		assert_int_equal(k, KW_KIND_UNKNOWN);
		assert_int_equal(md, KW_MODE_UNKNOWN);
	}
}

static void test_livemode(void **state)
{
	struct fx *fx = *state;
	struct kw_event ev = mkev("whsec_1234", "GET", "/v1/balance");

	ev.livemode = 1;
	kw_models_enrich(fx->m, &ev, &fx->arena);
	assert_int_equal(ev.key_kind, KW_KIND_UNKNOWN);
	assert_int_equal(ev.key_mode, KW_MODE_LIVE);
	/* No prefix matched: the first model with a route for the path. */
	str_equal(ev.op, "balance.retrieve");

	ev = mkev("whsec_1234", "GET", "/v1/balance");
	ev.livemode = 0;
	kw_models_enrich(fx->m, &ev, &fx->arena);
	assert_int_equal(ev.key_mode, KW_MODE_TEST);

	/* The prefix wins over livemode. */
	ev = mkev("pk_test_abc", "POST", "/v1/tokens");
	ev.livemode = 1;
	kw_models_enrich(fx->m, &ev, &fx->arena);
	assert_int_equal(ev.key_kind, KW_KIND_PUBLISHABLE);
	assert_int_equal(ev.key_mode, KW_MODE_TEST);

	ev = mkev("AKIAIOSFODNN7EXAMPLE", "", "");
	ev.op = kw_str_c("s3:ListBuckets");
	ev.livemode = -1;
	kw_models_enrich(fx->m, &ev, &fx->arena);
	assert_int_equal(ev.key_mode, KW_MODE_UNKNOWN);
}

static void test_routes(void **state)
{
	struct fx *fx = *state;
	enum kw_access R = KW_ACCESS_READ, W = KW_ACCESS_WRITE;

	check_route(fx, "POST", "/v1/refunds", "refunds.create", "refunds", W,
		    F_M);
	check_route(fx, "GET", "/v1/refunds/re_3MtwBwLkdIwHu7ix28a3tqPa",
		    "refunds.retrieve", "refunds", R, F_M);
	check_route(fx, "POST", "/v1/payouts", "payouts.create", "payouts", W,
		    F_M | F_S);
	check_route(fx, "GET", "/v1/customers", "customers.list", "customers",
		    R, F_M | F_S);
	check_route(fx, "GET", "/v1/customers/cus_NffrFeUfNV2Hib",
		    "customers.retrieve", "customers", R, F_M);
	check_route(fx, "POST",
		    "/v1/payment_intents/pi_3MtwBwLkdIwHu7ix28a3tqPa/confirm",
		    "payment_intents.confirm", "payment_intents", W,
		    F_M | F_PK);
	check_route(
		fx, "GET", "/v1/payment_intents/pi_3MtwBwLkdIwHu7ix28a3tqPa",
		"payment_intents.retrieve", "payment_intents", R, F_M | F_PK);
	check_route(fx, "POST", "/v1/payment_intents/pi_3Mtw/capture",
		    "payment_intents.capture", "payment_intents", W, F_M);
	check_route(fx, "POST", "/v1/tokens", "tokens.create", "tokens", W,
		    F_M | F_PK);
	check_route(fx, "POST", "/v1/payment_methods", "payment_methods.create",
		    "payment_methods", W, F_M | F_PK);
	check_route(fx, "DELETE", "/v1/webhook_endpoints/we_1Mr5jULkdIwHu7ix",
		    "webhook_endpoints.delete", "webhook_endpoints", W,
		    F_M | F_S);
	check_route(fx, "POST", "/v1/checkout/sessions",
		    "checkout.sessions.create", "checkout_sessions", W, F_M);
	check_route(fx, "POST",
		    "/v1/accounts/acct_1Nv0FGQ9RKHgCVdK/external_accounts",
		    "accounts.external_accounts.create", "accounts", W,
		    F_M | F_S);
	check_route(fx, "POST",
		    "/v1/accounts/acct_1Nv0FGQ9RKHgCVdK/login_links",
		    "accounts.login_links.create", "login_links", W, F_M | F_S);
	check_route(fx, "GET", "/v1/customers/cus_1/sources/card_1",
		    "customers.sources.retrieve", "customers", R, F_M);
	check_route(fx, "POST", "/v1/transfers/tr_1/reversals",
		    "transfers.reversals.create", "transfers", W, F_M);
	check_route(fx, "POST", "/v1/issuing/cards", "issuing.cards.create",
		    "issuing_cards", W, F_M | F_S);
	check_route(fx, "GET", "/v1/elements/sessions",
		    "elements.sessions.retrieve", "elements", R, F_M | F_PK);
	/* Slashes, a query string and a lower-case method are tolerated. */
	check_route(fx, "get", "//v1/charges/?limit=3&starting_after=ch_1",
		    "charges.list", "charges", R, F_M | F_S);
	check_route(fx, "POST", "/v1/charges#frag", "charges.create", "charges",
		    W, F_M);
}

static void test_specificity(void **state)
{
	struct fx *fx = *state;
	enum kw_access R = KW_ACCESS_READ;

	/* A literal segment beats {id} at the same place. */
	check_route(fx, "GET", "/v1/customers/search", "customers.search",
		    "customers", R, F_M | F_S);
	check_route(fx, "GET", "/v1/invoices/upcoming", "invoices.upcoming",
		    "invoices", R, F_M);
	check_route(fx, "GET", "/v1/invoices/upcoming/lines",
		    "invoices.upcoming_lines", "invoices", R, F_M);
	check_route(fx, "GET", "/v1/invoices/in_1MtHbELkdIwHu7ix/lines",
		    "invoices.lines.list", "invoices", R, F_M);
	/* {id} matches any one segment, even a word. */
	check_route(fx, "GET", "/v1/customers/searchable", "customers.retrieve",
		    "customers", R, F_M);
	check_route(fx, "GET", "/v1/apps/secrets/find", "apps.secrets.find",
		    "apps_secrets", R, F_M | F_S);
}

static void test_normalise(void **state)
{
	struct fx *fx = *state;
	enum kw_access R = KW_ACCESS_READ, W = KW_ACCESS_WRITE;

	check_route(fx, "GET", "/v1/things/ch_3MxAbCdEfGh12345",
		    "GET /v1/things/{id}", "things", R, 0);
	check_route(
		fx, "POST",
		"/v1/things/12345/parts/550e8400-e29b-41d4-a716-446655440000",
		"POST /v1/things/{id}/parts/{id}", "things", W, 0);
	check_route(fx, "DELETE", "/api/v2/widgets/deadbeefdeadbeef00",
		    "DELETE /api/v2/widgets/{id}", "widgets", W, 0);
	/* A key in a path never reaches the op. */
	check_route(fx, "GET", "/v1/keys/sk_live_51HxAbCdEfGhIjKl",
		    "GET /v1/keys/{id}", "keys", R, 0);
	check_route(fx, "GET", "/v2/creds/AKIAIOSFODNN7EXAMPLE",
		    "GET /v2/creds/{id}", "creds", R, 0);
	check_route(fx, "GET", "/v1/blobs/aGVsbG8gd29ybGQxMjM0NTY",
		    "GET /v1/blobs/{id}", "blobs", R, 0);
	check_route(fx, "GET",
		    "/v1/subscription_schedules_x/sub_sched_1Mx2Ab3Cd4",
		    "GET /v1/subscription_schedules_x/{id}",
		    "subscription_schedules_x", R, 0);
	/* Words stay, however long, when they have no digit. */
	check_route(fx, "HEAD", "/v1/balance_transactions/export",
		    "HEAD /v1/balance_transactions/export",
		    "balance_transactions", R, 0);
	check_route(fx, "options", "/2024-06-20/orders/short1",
		    "OPTIONS /2024-06-20/orders/short1", "orders", R, 0);
	/* A known path with a method it does not have. */
	check_route(fx, "PUT", "/v1/refunds", "PUT /v1/refunds", "refunds", W,
		    0);
	check_route(fx, "GET", "/", "GET /", "", R, 0);
	check_route(fx, "PROPFIND", "/v1/x", "PROPFIND /v1/x", "x", W, 0);
	check_route(fx, "GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r",
		    "GET /a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/...", "a", R, 0);
	/* Without a method: no route matches; access is unknown. */
	check_route(fx, "", "/v1/charges", "/v1/charges", "charges",
		    KW_ACCESS_UNKNOWN, 0);
}

/* Enrich an event whose decoder named op_in; expect the op it becomes. */
static struct kw_event check_op_as(struct fx *fx, const char *key,
				   const char *op_in, const char *op,
				   const char *resource_in,
				   const char *resource, enum kw_access access,
				   uint32_t flags)
{
	struct kw_event ev = mkev(key, "", "");

	ev.op = kw_str_c(op_in);
	ev.resource = kw_str_c(resource_in);
	ev.flags = 1u << 7; /* not a model flag: kept */
	kw_models_enrich(fx->m, &ev, &fx->arena);
	str_equal(ev.op, op);
	str_equal(ev.resource, resource);
	assert_int_equal(ev.access, access);
	assert_int_equal(ev.flags, flags | (1u << 7));
	return ev;
}

static struct kw_event check_op(struct fx *fx, const char *key, const char *op,
				const char *resource_in, const char *resource,
				enum kw_access access, uint32_t flags)
{
	return check_op_as(fx, key, op, op, resource_in, resource, access,
			   flags);
}

static void test_cloudtrail(void **state)
{
	struct fx *fx = *state;
	const char *ak = "AKIAIOSFODNN7EXAMPLE";
	enum kw_access R = KW_ACCESS_READ, W = KW_ACCESS_WRITE;

	check_op(fx, ak, "iam:CreateUser", "iam", "iam", W, F_M | F_S);
	/* Matchers or counts: the engine judges it further. */
	check_op(fx, ak, "iam:CreateAccessKey", "iam", "iam", W,
		 F_M | F_S | F_J);
	check_op(fx, ak, "secretsmanager:GetSecretValue", "secretsmanager",
		 "secretsmanager", R, F_M | F_S | F_J);
	check_op(fx, ak, "cloudtrail:StopLogging", "cloudtrail", "cloudtrail",
		 W, F_M | F_S);
	check_op_as(fx, ak, "lambda:UpdateFunctionCode20150331v2",
		    "lambda:UpdateFunctionCode", "lambda", "lambda", W,
		    F_M | F_S | F_J);
	check_op(fx, ak, "kms:Decrypt", "kms", "kms", R, F_M | F_S);
	/* Known read-only, not sensitive: too common. */
	check_op(fx, ak, "sts:GetCallerIdentity", "sts", "sts", R, F_M);
	check_op(fx, ak, "dynamodb:Query", "dynamodb", "dynamodb", R, F_M);
	/* The rules: Get/List/Describe/Head read, the rest write. */
	check_op(fx, ak, "s3:ListBuckets", "s3", "s3", R, 0);
	check_op(fx, ak, "ec2:DescribeInstances", "ec2", "ec2", R, 0);
	check_op(fx, ak, "s3:GetObject", "s3", "s3", R, 0);
	check_op(fx, ak, "dynamodb:BatchGetItem", "dynamodb", "dynamodb", R,
		 F_M);
	check_op(fx, ak, "ec2:RunInstances", "ec2", "ec2", W, F_M | F_J);
	check_op(fx, ak, "foo:Getaway", "foo", "foo", W, 0);
	check_op(fx, ak, "foo:Get", "foo", "foo", R, 0);
	check_op(fx, ak, "foo:ListX", "foo", "foo", R, 0);
	/* No resource from the decoder: the service before ':'. */
	check_op(fx, ak, "s3:PutObject", "", "s3", W, 0);
	/* A temporary key (learnt on its principal), and a key no prefix
	 * knows: the op still finds the model with op rules. */
	check_op(fx, "ASIAY34FZKBOKMUTVV7A", "iam:AttachUserPolicy", "iam",
		 "iam", W, F_M | F_S | F_J | F_P);
	check_op(fx, "unknown-key", "organizations:LeaveOrganization",
		 "organizations", "organizations", W, F_M | F_S);
	/* A Stripe key with a decoder-named Stripe op. */
	check_op(fx, "sk_live_abc", "payouts.create", "", "payouts", W,
		 F_M | F_S);

	assert_string_equal(
		kw_models_sensitive_reason(fx->m, "iam:CreateAccessKey", 19),
		"creates a new access key: persistence that survives rotating "
		"the stolen one");
	assert_string_equal(kw_models_sensitive_reason(
				    fx->m, "webhook_endpoints.create", 24),
			    "sends the account's events (customers, payments) "
			    "to a new URL");
	assert_null(
		kw_models_sensitive_reason(fx->m, "sts:GetCallerIdentity", 21));
	assert_null(kw_models_sensitive_reason(fx->m, "nope", 4));
	assert_null(kw_models_sensitive_reason(NULL, "nope", 4));
}

/* An op its decoder named, from a log of that format (ev->format). */
static struct kw_event check_fmt(struct fx *fx, const char *format,
				 const char *op, const char *resource_in,
				 const char *resource, enum kw_access access,
				 uint32_t flags)
{
	struct kw_event ev = mkev("3f9c1e0d8b7a6f5e4d3c2b1a", "", "");

	ev.format = format;
	ev.op = kw_str_c(op);
	ev.resource = kw_str_c(resource_in);
	kw_models_enrich(fx->m, &ev, &fx->arena);
	str_equal(ev.op, op);
	str_equal(ev.resource, resource);
	assert_int_equal(ev.access, access);
	assert_int_equal(ev.flags, flags);
	return ev;
}

/* GCP's and GitHub's operations are named by the model that declares the
 * log format ("formats"), whatever the key (no prefix tells), and never
 * by another model's rules. */
static void test_formats(void **state)
{
	struct fx *fx = *state;
	enum kw_access R = KW_ACCESS_READ, W = KW_ACCESS_WRITE;
	struct kw_event ev;

	ev = check_fmt(fx, "gcp-audit",
		       "google.iam.admin.v1.CreateServiceAccountKey", "iam",
		       "iam", W, F_M | F_S);
	assert_int_equal(ev.info->tier, KW_TIER_FIRST_SIGHT);
	assert_int_equal(ev.info->tactic, KW_TACTIC_PERSISTENCE);
	ev = check_fmt(fx, "gcp-audit",
		       "google.logging.v2.ConfigServiceV2."
		       "DeleteSink",
		       "logging", "logging", W, F_M | F_S);
	assert_int_equal(ev.info->tier, KW_TIER_NEVER_ROUTINE);
	assert_int_equal(ev.info->severity, KW_SEV_CRITICAL);
	check_fmt(fx, "gcp-audit",
		  "google.cloud.secretmanager.v1.SecretManagerService."
		  "AccessSecretVersion",
		  "secretmanager", "secretmanager", R, F_M | F_S);
	/* Unlisted: the rules, on the action after the last dot; the
	 * decoder's resource is kept. */
	check_fmt(fx, "gcp-audit", "v1.compute.instances.aggregatedList",
		  "compute", "compute", R, 0);
	check_fmt(fx, "gcp-audit", "storage.objects.get", "storage", "storage",
		  R, 0);
	check_fmt(fx, "gcp-audit", "GetIamPolicy", "cloudresourcemanager",
		  "cloudresourcemanager", R, 0);
	check_fmt(fx, "gcp-audit", "v1.compute.instances.insert", "compute",
		  "compute", W, 0);
	check_fmt(fx, "gcp-audit", "io.k8s.core.v1.pods.watch", "k8s.io",
		  "k8s.io", R, 0);
	/* GitHub: the entries, else the rules; the category is the
	 * resource. */
	ev = check_fmt(fx, "github-audit", "audit_log_streaming.destroy",
		       "audit_log_streaming", "audit_log_streaming", W,
		       F_M | F_S);
	assert_int_equal(ev.info->tier, KW_TIER_NEVER_ROUTINE);
	check_fmt(fx, "github-audit", "git.clone", "git", "git", R, F_M | F_S);
	check_fmt(fx, "github-audit", "git.fetch", "git", "git", R, 0);
	check_fmt(fx, "github-audit", "repo.create", "repo", "repo", W, 0);
	/* The same name from another format is not GitHub's: a CloudTrail
	 * op goes to the AWS model, a keywatch request to no model. */
	check_fmt(fx, "cloudtrail", "iam:CreateUser", "iam", "iam", W,
		  F_M | F_S);
	check_fmt(fx, "cloudtrail", "repo.destroy", "", "", W, 0);
	check_fmt(fx, "keywatch", "repo.destroy", "", "", KW_ACCESS_UNKNOWN, 0);
	/* No format (a caller that does not say): the first model with
	 * rules, as before formats. */
	check_fmt(fx, NULL, "iam:CreateUser", "iam", "iam", W, F_M | F_S);
}

static void test_has_resource(void **state)
{
	struct fx *fx = *state;
	static const char *const yes[] = {
		"charges",
		"customers",
		"payment_intents",
		"refunds",
		"webhook_endpoints",
		"payouts",
		"transfers",
		"balance",
		"accounts",
		"files",
		"events",
		"disputes",
		"tokens",
		"checkout_sessions",
		"login_links",
		"issuing_cards",
		"iam",
		"s3",
	};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(kw_models_has_resource(fx->m, yes[i]));
	assert_false(kw_models_has_resource(fx->m, "refundz"));
	assert_false(kw_models_has_resource(fx->m, "checkout"));
	assert_false(kw_models_has_resource(fx->m, ""));
	assert_false(kw_models_has_resource(fx->m, NULL));
	assert_false(kw_models_has_resource(NULL, "charges"));
}

/* A request's link template comes from the key's model (by prefix, a
 * redacted id too), the test one for a test-mode key when it has one. */
static void test_request_links(void **state)
{
	struct fx *fx = *state;

	assert_string_equal(kw_models_request_link(fx->m,
						   "sk_live_\xe2\x80\xa6"
						   "4242",
						   15, KW_MODE_LIVE),
			    "https://dashboard.stripe.com/logs/{request_id}");
	assert_string_equal(
		kw_models_request_link(fx->m,
				       "rk_test_\xe2\x80\xa6"
				       "4242",
				       15, KW_MODE_TEST),
		"https://dashboard.stripe.com/test/logs/{request_id}");
	assert_string_equal(kw_models_request_link(fx->m, "AKIAEXAMPLE", 11,
						   KW_MODE_UNKNOWN),
			    "https://console.aws.amazon.com/cloudtrail/home?"
			    "region={region}#/events/{request_id}");
	assert_null(kw_models_request_link(fx->m, "xk_1234", 7, KW_MODE_LIVE));
	assert_null(kw_models_request_link(NULL, "sk_live_x", 9, KW_MODE_LIVE));
}

/* A decoder's kind (a format whose keys have no prefix) stays; a prefix
 * overrides it. */
static void test_decoder_kind(void **state)
{
	struct fx *fx = *state;
	struct kw_event ev = mkev("3f9c1e0d8b7a6f5e4d3c2b1a", "", "");

	ev.format = "gcp-audit";
	ev.op = kw_str_c("SetIamPolicy");
	ev.key_kind = KW_KIND_LONG_TERM;
	kw_models_enrich(fx->m, &ev, &fx->arena);
	assert_int_equal(ev.key_kind, KW_KIND_LONG_TERM);
	assert_int_equal(ev.key_mode, KW_MODE_UNKNOWN);
	ev = mkev("ASIAIOSFODNN7EXAMPLE", "", "");
	ev.format = "cloudtrail";
	ev.op = kw_str_c("iam:ListUsers");
	ev.key_kind = KW_KIND_LONG_TERM;
	kw_models_enrich(fx->m, &ev, &fx->arena);
	assert_int_equal(ev.key_kind, KW_KIND_TEMPORARY);
}

static void test_enrich_without_models(void **state)
{
	struct fx *fx = *state;
	struct kw_event ev = mkev("sk_live_abc", "GET", "/v1/charges");

	ev.flags = KW_EV_SENSITIVE | (1u << 6);
	kw_models_enrich(NULL, &ev, &fx->arena);
	assert_int_equal(ev.flags, 1u << 6);
	assert_int_equal(ev.key_kind, KW_KIND_UNKNOWN);
	assert_int_equal(ev.op.n, 0);
	kw_models_destroy(NULL);
	assert_int_equal(kw_models_count(NULL), 0);
}

/* ------------------------------------------------------------------------ */
/* Hand-written models */

struct tmp {
	char dir[64];
	char files[16][128];
	size_t n;
};

static void tmp_init(struct tmp *t)
{
	memset(t, 0, sizeof(*t));
	strcpy(t->dir, "/tmp/kw_test_model_XXXXXX");
	assert_non_null(mkdtemp(t->dir));
}

static void tmp_write(struct tmp *t, const char *name, const char *text)
{
	char path[sizeof(t->files[0])];
	FILE *f;

	assert_true(t->n < 16);
	snprintf(path, sizeof(path), "%s/%s", t->dir, name);
	memcpy(t->files[t->n], path, sizeof(path));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	t->n++;
}

static void tmp_free(struct tmp *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		unlink(t->files[i]);
	rmdir(t->dir);
}

/* Prefixes of every length from 1 to 13 bytes, each with its own kind and
 * mode, against keys of every length to 16 bytes (and with each byte
 * changed): the kind is that of the longest prefix the key begins with,
 * as a plain byte comparison finds it (find_prefix compares the first 8
 * bytes of a key of 8 or more in one step). */
static void test_prefix_lengths(void **state)
{
	static const char *const kinds[] = {"publishable", "secret",
					    "restricted", "long-term",
					    "temporary"};
	static const char *const modes[] = {NULL, "live", "test"};
	const char *full = "k_live_012345";
	size_t plen = strlen(full);
	struct kw_models *m = NULL;
	struct kw_error err = {0};
	char json[4096], key[20];
	size_t at = 0;
	struct tmp t;

	(void)state;
	at += (size_t)snprintf(json + at, sizeof(json) - at,
			       "{\"prefixes\": [");
	for (size_t l = 1; l <= plen; l++) {
		const char *mode = modes[(l - 1) / 5];

		at += (size_t)snprintf(
			json + at, sizeof(json) - at,
			"%s{\"prefix\": \"%.*s\", \"kind\": \"%s\"%s%s%s}",
			l > 1 ? ", " : "", (int)l, full, kinds[(l - 1) % 5],
			mode ? ", \"mode\": \"" : "", mode ? mode : "",
			mode ? "\"" : "");
	}
	snprintf(json + at, sizeof(json) - at, "]}");
	tmp_init(&t);
	tmp_write(&t, "p.json", json);
	if (kw_models_load(t.dir, NULL, 0, &m, &err) != KW_OK)
		fail_msg("%s", err.msg);
	for (size_t n = 0; n <= 16; n++) {
		for (size_t bad = 0; bad <= n; bad++) {
			enum kw_key_kind k, want_k = KW_KIND_UNKNOWN;
			enum kw_key_mode md, want_m = KW_MODE_UNKNOWN;

			for (size_t i = 0; i < n; i++)
				key[i] = i < plen ? full[i] : 'z';
			if (bad < n) /* byte `bad` changed; n: none */
				key[bad] ^= 0x20;
			for (size_t l = 1; l <= plen && l <= n; l++) {
				if (memcmp(key, full, l) != 0)
					continue;
				want_k = (enum kw_key_kind)(
					KW_KIND_PUBLISHABLE + (l - 1) % 5);
				want_m = (l - 1) / 5 == 0   ? KW_MODE_UNKNOWN
					 : (l - 1) / 5 == 1 ? KW_MODE_LIVE
							    : KW_MODE_TEST;
			}
			kw_models_key_kind(m, key, n, &k, &md);
			if (k != want_k || md != want_m)
				fail_msg("key \"%.*s\": kind %d mode %d, want "
					 "%d %d",
					 (int)n, key, k, md, want_k, want_m);
		}
	}
	kw_models_destroy(m);
	tmp_free(&t);
}

/* Load the single model x.json holding text; expect status and message
 * (the message without the "<dir>/x.json" in front). */
static void expect_error(const char *text, enum kw_status want, const char *msg)
{
	struct kw_models *m = (struct kw_models *)1;
	struct kw_error err = {0};
	const char *names[] = {"x"};
	char full[700];
	struct tmp t;

	tmp_init(&t);
	tmp_write(&t, "x.json", text);
	assert_int_equal(kw_models_load(t.dir, names, 1, &m, &err), want);
	assert_null(m);
	assert_int_equal(err.status, want);
	snprintf(full, sizeof(full), "%s/x.json%s", t.dir, msg);
	assert_string_equal(err.msg, full);
	tmp_free(&t);
}

static void test_schema_errors(void **state)
{
	(void)state;
	expect_error("{\"routes\": [}", KW_ECONFIG,
		     ":1:13: unexpected token near '}'");
	expect_error("{\"routes\": [], \"routes\": []}", KW_ECONFIG,
		     ":1:23: duplicate object key near '\"routes\"'");
	expect_error("[]", KW_ECONFIG, ": must be a JSON object");
	expect_error("{\"rutes\": []}", KW_ECONFIG,
		     ": rutes: unknown key (expected one of: name, "
		     "description, formats, prefixes, routes, ops, op_rules, "
		     "links, counters, identities, people)");
	expect_error("{\"formats\": \"gcp-audit\", \"op_rules\": "
		     "{\"separator\": \".\"}}",
		     KW_ECONFIG, ": formats: must be an array");
	expect_error("{\"formats\": [\"\"], \"op_rules\": {\"separator\": "
		     "\".\"}}",
		     KW_ECONFIG, ": formats[0]: must be a non-empty string");
	expect_error("{}", KW_ECONFIG,
		     ": defines nothing (no prefixes, routes, ops or "
		     "op_rules)");
	expect_error("{\"ops\": [], \"links\": {\"request\": "
		     "\"https://x.example/{id}\"}}",
		     KW_ECONFIG,
		     ": links.request: must be an http:// or https:// URL "
		     "holding {request_id} (and optionally {region})");
	expect_error("{\"ops\": [], \"links\": {\"req\": \"x\"}}", KW_ECONFIG,
		     ": links.req: unknown key (expected one of: request, "
		     "request_test)");
	expect_error("{\"name\": \"y\", \"ops\": []}", KW_ECONFIG,
		     ": name: must be \"x\" (the file name)");
	expect_error("{\"routes\": {}}", KW_ECONFIG,
		     ": routes: must be an array");
	expect_error("{\"routes\": [{\"method\": \"GET\", \"path\": \"/a\", "
		     "\"op\": \"a.list\"}, {\"method\": \"POST\", \"path\": "
		     "\"/a\", \"op\": \"a.create\", \"access\": \"admin\"}]}",
		     KW_ECONFIG,
		     ": routes[1].access: must be \"read\" or \"write\"");
	expect_error("{\"routes\": [{\"methd\": \"GET\", \"path\": \"/a\", "
		     "\"op\": \"a.list\"}]}",
		     KW_ECONFIG,
		     ": routes[0].methd: unknown key (expected one of: method, "
		     "path, op, resource, access, sensitive, publishable, "
		     "tier, tactic, severity, match, count)");
	expect_error("{\"routes\": [{\"method\": \"GET\", \"path\": \"/a\"}]}",
		     KW_ECONFIG, ": routes[0]: missing \"op\"");
	expect_error("{\"routes\": [{\"method\": \"GET\", \"path\": \"/a\", "
		     "\"op\": \"\"}]}",
		     KW_ECONFIG, ": routes[0].op: must be a non-empty string");
	expect_error("{\"routes\": [{\"method\": \"FETCH\", \"path\": \"/a\", "
		     "\"op\": \"a\"}]}",
		     KW_ECONFIG,
		     ": routes[0].method: must be one of GET, POST, PUT, "
		     "PATCH, DELETE, HEAD, OPTIONS");
	expect_error("{\"routes\": [3]}", KW_ECONFIG,
		     ": routes[0]: must be an object");
	expect_error("{\"routes\": [{\"method\": \"GET\", \"path\": \"a\", "
		     "\"op\": \"a\"}]}",
		     KW_ECONFIG, ": routes[0].path: must start with \"/\"");
	expect_error("{\"routes\": [{\"method\": \"GET\", \"path\": "
		     "\"/a/x{id}\", \"op\": \"a\"}]}",
		     KW_ECONFIG,
		     ": routes[0].path: a placeholder must be a whole segment "
		     "such as {id}");
	expect_error("{\"routes\": [{\"method\": \"GET\", \"path\": "
		     "\"/a//b\", \"op\": \"a\"}]}",
		     KW_ECONFIG,
		     ": routes[0].path: empty segment in \"/a//b\"");
	expect_error("{\"routes\": [{\"method\": \"GET\", \"path\": \"/a/\", "
		     "\"op\": \"a\"}]}",
		     KW_ECONFIG, ": routes[0].path: must not end with \"/\"");
	expect_error("{\"routes\": [{\"method\": \"GET\", \"path\": "
		     "\"/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17\", "
		     "\"op\": \"a\"}]}",
		     KW_ECONFIG, ": routes[0].path: more than 16 segments");
	expect_error("{\"routes\": [{\"method\": \"GET\", \"path\": "
		     "\"/a/{id}\", \"op\": \"a.get\"}, {\"method\": \"GET\", "
		     "\"path\": \"/a/{other}\", \"op\": \"a.other\"}]}",
		     KW_ECONFIG,
		     ": routes[1]: GET /a/{other} is already routed to a.get");
	expect_error("{\"routes\": [{\"method\": \"GET\", \"path\": \"/a\", "
		     "\"op\": \"a.get\"}, {\"method\": \"GET\", \"path\": "
		     "\"/b\", \"op\": \"a.get\", \"sensitive\": \"x\"}]}",
		     KW_ECONFIG,
		     ": routes[1]: op \"a.get\" is defined earlier: give "
		     "\"sensitive\" there");
	expect_error("{\"routes\": [{\"path\": \"/a\", \"op\": \"a\"}]}",
		     KW_ECONFIG,
		     ": routes[0]: missing \"access\" (no method or op_rules "
		     "to derive it from)");
	expect_error("{\"routes\": [{\"method\": \"GET\", \"path\": \"/a\", "
		     "\"op\": \"a\", \"publishable\": 1}]}",
		     KW_ECONFIG,
		     ": routes[0].publishable: must be true or false");
	expect_error(
		"{\"prefixes\": [{\"prefix\": \"k_\", \"kind\": "
		"\"admin\"}]}",
		KW_ECONFIG,
		": prefixes[0].kind: must be one of \"publishable\", "
		"\"secret\", \"restricted\", \"long-term\", \"temporary\"");
	expect_error("{\"prefixes\": [{\"prefix\": \"k_\", \"kind\": "
		     "\"secret\", \"mode\": \"prod\"}]}",
		     KW_ECONFIG,
		     ": prefixes[0].mode: must be \"live\" or \"test\"");
	expect_error(
		"{\"prefixes\": [{\"prefix\": \"k_\", \"kind\": "
		"\"secret\"}, {\"prefix\": \"k_\", \"kind\": \"secret\"}]}",
		KW_ECONFIG, ": prefixes[1].prefix: \"k_\" is listed twice");
	expect_error("{\"ops\": [{\"op\": \"a:B\", \"access\": \"read\"}, "
		     "{\"op\": \"a:B\", \"access\": \"read\"}]}",
		     KW_ECONFIG, ": ops[1]: op \"a:B\" is listed twice");
	expect_error("{\"ops\": [{\"op\": \"a:B\"}]}", KW_ECONFIG,
		     ": ops[0]: missing \"access\" (no method or op_rules to "
		     "derive it from)");
	expect_error("{\"op_rules\": {\"read_prefixes\": [\"Get\"]}}",
		     KW_ECONFIG, ": op_rules: missing \"separator\"");
	expect_error("{\"op_rules\": {\"separator\": \":\", \"read_prefixes\": "
		     "[\"Get\", 3]}}",
		     KW_ECONFIG,
		     ": op_rules.read_prefixes[1]: must be a non-empty string");
	expect_error("{\"op_rules\": {\"separator\": \":\", \"default\": "
		     "\"read\"}}",
		     KW_ECONFIG,
		     ": op_rules.default: unknown key (expected one of: "
		     "separator, read_prefixes, default_access, "
		     "strip_version_suffix)");
	expect_error("{\"op_rules\": {\"separator\": \":\", "
		     "\"strip_version_suffix\": [\"\"]}}",
		     KW_ECONFIG,
		     ": op_rules.strip_version_suffix[0]: must be a non-empty "
		     "string");
	/* Tiers */
	expect_error("{\"ops\": [{\"op\": \"a:B\", \"access\": \"read\", "
		     "\"tier\": \"first-sight\"}]}",
		     KW_ECONFIG,
		     ": ops[0].tier: only a sensitive operation has one (add "
		     "\"sensitive\": why)");
	expect_error("{\"ops\": [{\"op\": \"a:B\", \"access\": \"read\", "
		     "\"sensitive\": \"x\", \"tier\": \"sometimes\"}]}",
		     KW_ECONFIG,
		     ": ops[0].tier: must be one of \"routine\", "
		     "\"first-sight\", \"never-routine\"");
	expect_error("{\"ops\": [{\"op\": \"a:B\", \"access\": \"read\", "
		     "\"sensitive\": \"x\", \"tactic\": \"theft\"}]}",
		     KW_ECONFIG,
		     ": ops[0].tactic: must be one of \"initial-access\", "
		     "\"execution\", \"persistence\", "
		     "\"privilege-escalation\", \"defense-evasion\", "
		     "\"credential-access\", \"discovery\", "
		     "\"lateral-movement\", \"collection\", "
		     "\"exfiltration\", \"impact\"");
	expect_error("{\"ops\": [{\"op\": \"a:B\", \"access\": \"read\", "
		     "\"sensitive\": \"x\", \"severity\": \"critical\"}]}",
		     KW_ECONFIG,
		     ": ops[0].severity: only a never-routine or first-sight "
		     "operation has a severity");
	expect_error("{\"ops\": [{\"op\": \"a:B\", \"access\": \"read\", "
		     "\"sensitive\": \"x\", \"tier\": \"never-routine\", "
		     "\"severity\": \"low\"}]}",
		     KW_ECONFIG,
		     ": ops[0].severity: must be \"medium\", \"high\" or "
		     "\"critical\"");
	expect_error("{\"routes\": [{\"method\": \"GET\", \"path\": \"/a\", "
		     "\"op\": \"a.get\", \"sensitive\": \"x\"}, {\"method\": "
		     "\"GET\", \"path\": \"/b\", \"op\": \"a.get\", \"tier\": "
		     "\"first-sight\"}]}",
		     KW_ECONFIG,
		     ": routes[1]: op \"a.get\" is defined earlier: give "
		     "\"tier\" there");
}

/* Matchers: what is wrong in one is named by its JSON path. */
static void test_matcher_errors(void **state)
{
#define OP "{\"ops\": [{\"op\": \"a:B\", \"access\": \"write\", "
	(void)state;
	expect_error(OP "\"match\": {}}]}", KW_ECONFIG,
		     ": ops[0].match: must be an array");
	expect_error(OP "\"match\": []}]}", KW_ECONFIG,
		     ": ops[0].match: must hold 1 to 64 matchers");
	expect_error(OP "\"match\": [{\"why\": \"w\", \"when\": [], "
			"\"tier\": \"routine\"}]}]}",
		     KW_ECONFIG, ": ops[0].match[0]: missing \"name\"");
	expect_error(OP "\"match\": [{\"name\": \"n\", \"why\": \"w\", "
			"\"whn\": []}]}]}",
		     KW_ECONFIG,
		     ": ops[0].match[0].whn: unknown key (expected one of: "
		     "name, why, each, when, tier, severity, tactic)");
	expect_error(OP "\"match\": [{\"name\": \"n\", \"why\": \"w\", "
			"\"tier\": \"routine\"}]}]}",
		     KW_ECONFIG, ": ops[0].match[0]: missing \"when\"");
	expect_error(OP "\"match\": [{\"name\": \"n\", \"why\": \"w\", "
			"\"when\": []}]}]}",
		     KW_ECONFIG,
		     ": ops[0].match[0]: needs a \"tier\" (the operation is "
		     "not sensitive by itself)");
	expect_error(OP "\"match\": [{\"name\": \"n\", \"why\": \"w\", "
			"\"tier\": \"routine\", \"severity\": \"high\", "
			"\"when\": []}]}]}",
		     KW_ECONFIG,
		     ": ops[0].match[0].severity: only a never-routine or "
		     "first-sight operation has a severity");
	expect_error(OP "\"match\": [{\"name\": \"n\", \"why\": \"w\", "
			"\"tier\": \"first-sight\", \"when\": [{\"path\": "
			"\"requestParams.x\", \"present\": true}]}]}]}",
		     KW_ECONFIG,
		     ": ops[0].match[0].when[0].path: \"requestParams.x\" "
		     "must start with requestParameters, responseElements, "
		     "additionalEventData, userIdentity or recipientAccountId");
	expect_error(OP "\"match\": [{\"name\": \"n\", \"why\": \"w\", "
			"\"tier\": \"first-sight\", \"when\": [{\"path\": "
			"\"@.x\", \"present\": true}]}]}]}",
		     KW_ECONFIG,
		     ": ops[0].match[0].when[0].path: \"@.x\" must start "
		     "with requestParameters, responseElements, "
		     "additionalEventData, userIdentity or recipientAccountId");
	expect_error(OP "\"match\": [{\"name\": \"n\", \"why\": \"w\", "
			"\"tier\": \"first-sight\", \"each\": "
			"\"requestParameters.s[]\", \"when\": [{\"path\": "
			"[\"@.a\", \"@.b[0]\"], \"present\": true}]}]}]}",
		     KW_ECONFIG,
		     ": ops[0].match[0].when[0].path[1]: \"@.b[0]\": each "
		     "step is a name, optionally followed by [] and @json, "
		     "or *");
	expect_error(OP "\"match\": [{\"name\": \"n\", \"why\": \"w\", "
			"\"tier\": \"first-sight\", \"when\": [{\"path\": "
			"\"requestParameters.x\", \"equals\": 1, \"prefix\": "
			"\"a\"}]}]}]}",
		     KW_ECONFIG,
		     ": ops[0].match[0].when[0]: has two tests (\"equals\" "
		     "and \"prefix\"): one condition, one test");
	expect_error(OP "\"match\": [{\"name\": \"n\", \"why\": \"w\", "
			"\"tier\": \"first-sight\", \"when\": [{\"path\": "
			"\"requestParameters.x\"}]}]}]}",
		     KW_ECONFIG,
		     ": ops[0].match[0].when[0]: needs one test (equals, "
		     "other_than, prefix, suffix, contains, present, "
		     "at_least, at_most, open_cidr, ports, only_ports, "
		     "foreign_account, differs_from, internet_cidr)");
	expect_error(OP "\"match\": [{\"name\": \"n\", \"why\": \"w\", "
			"\"tier\": \"first-sight\", \"when\": [{\"path\": "
			"\"requestParameters\", \"ports\": [22, 70000]}]}]}]}",
		     KW_ECONFIG,
		     ": ops[0].match[0].when[0].ports: must be a non-empty "
		     "array of ports (0 to 65535)");
	expect_error(OP "\"match\": [{\"name\": \"n\", \"why\": \"w\", "
			"\"tier\": \"first-sight\", \"when\": [{\"path\": "
			"\"requestParameters.a\", \"equals\": {}}]}]}]}",
		     KW_ECONFIG,
		     ": ops[0].match[0].when[0].equals: must be a string, "
		     "number, true/false, or a non-empty array of them");
	expect_error(OP "\"match\": [{\"name\": \"n\", \"why\": \"w\", "
			"\"tier\": \"first-sight\", \"when\": [{\"path\": "
			"\"requestParameters.a\", \"open_cidr\": false}]}]}]}",
		     KW_ECONFIG,
		     ": ops[0].match[0].when[0].open_cidr: must be true");
	expect_error(OP "\"match\": [{\"name\": \"n\", \"why\": \"w\", "
			"\"tier\": \"first-sight\", \"when\": [{\"path\": "
			"[], \"present\": true}]}]}]}",
		     KW_ECONFIG,
		     ": ops[0].match[0].when[0].path: must be a path or an "
		     "array of 1 to 16 paths");
#undef OP
}

/* Who acted: a prefix learnt on its principal, identity rules. */
static void test_identity_errors(void **state)
{
	(void)state;
	expect_error("{\"prefixes\": [{\"prefix\": \"T\", \"kind\": "
		     "\"temporary\", \"learn\": \"role\"}]}",
		     KW_ECONFIG,
		     ": prefixes[0].learn: must be \"key\" or \"principal\"");
	expect_error("{\"op_rules\": {\"separator\": \":\"}, \"identities\": "
		     "[{\"name\": \"root\", \"why\": \"w\", \"tier\": "
		     "\"never-routine\"}]}",
		     KW_ECONFIG, ": identities[0]: missing \"type\"");
	expect_error("{\"op_rules\": {\"separator\": \":\"}, \"identities\": "
		     "[{\"type\": \"Root\", \"name\": \"root\", \"why\": "
		     "\"w\", \"tier\": \"never-routine\", \"each\": "
		     "\"requestParameters\"}]}",
		     KW_ECONFIG,
		     ": identities[0].each: unknown key (expected one of: "
		     "type, name, why, when, tier, severity, tactic)");
	expect_error("{\"op_rules\": {\"separator\": \":\"}, \"identities\": "
		     "[{\"type\": \"Root\", \"name\": \"root\", \"why\": "
		     "\"w\", \"tier\": \"never-routine\", \"severity\": "
		     "\"low\"}]}",
		     KW_ECONFIG,
		     ": identities[0].severity: must be \"medium\", \"high\" "
		     "or \"critical\"");
}

/* jansson's allocator when memory has run out. */
static void *no_memory(size_t n)
{
	(void)n;
	return NULL;
}

/* The shipped model: a temporary key is learnt on its principal; the
 * root user is judged whatever it does, an IAM user is not; a console
 * sign-in without MFA by an IAM user is first-sight. */
static void test_identities(void **state)
{
	struct fx *fx = *state;
	struct kw_judge_env env = {NULL, 0};
	struct kw_event_cloud cloud;
	struct kw_verdict v;
	struct kw_event ev;
	bool judged;

	memset(&cloud, 0, sizeof(cloud));
	ev = mkev("", "", "");
	ev.op = kw_str_c("s3:ListBuckets");
	ev.cloud = &cloud;
	cloud.id_type = kw_str_c("Root");
	kw_models_enrich(fx->m, &ev, &fx->arena);
	assert_null(ev.info);
	assert_true(ev.flags & KW_EV_JUDGE);
	assert_false(ev.flags & KW_EV_BY_PRINCIPAL);
	kw_models_judge(fx->m, &ev, &env, &v);
	assert_true(v.identity);
	assert_string_equal(v.match, "root");
	assert_int_equal(v.tier, KW_TIER_NEVER_ROUTINE);
	assert_int_equal(v.severity, KW_SEV_HIGH);
	assert_string_equal(kw_tactic_name(v.tactic), "privilege-escalation");
	assert_non_null(strstr(v.reason, "root user"));

	cloud.id_type = kw_str_c("IAMUser");
	ev = mkev("ASIAY34FZKBOKMUTVV7A", "", "");
	ev.op = kw_str_c("s3:ListBuckets");
	ev.cloud = &cloud;
	kw_models_enrich(fx->m, &ev, &fx->arena);
	assert_false(ev.flags & KW_EV_JUDGE);
	assert_true(ev.flags & KW_EV_BY_PRINCIPAL);

	ev = mkev("", "", "");
	ev.op = kw_str_c("signin:ConsoleLogin");
	ev.cloud = &cloud;
	cloud.identity = kw_str_c("{\"type\":\"IAMUser\"}");
	cloud.response = kw_str_c("{\"ConsoleLogin\":\"Success\"}");
	cloud.additional = kw_str_c("{\"MFAUsed\":\"No\"}");
	kw_models_enrich(fx->m, &ev, &fx->arena);
	assert_true(ev.flags & KW_EV_JUDGE);
	kw_models_judge(fx->m, &ev, &env, &v);
	assert_false(v.identity);
	assert_string_equal(v.match, "no-mfa");
	assert_int_equal(v.tier, KW_TIER_FIRST_SIGHT);
	cloud.additional = kw_str_c("{\"MFAUsed\":\"Yes\"}");
	assert_true(kw_models_judge(fx->m, &ev, &env, &v));
	assert_null(v.match);
	assert_int_equal(v.tier, KW_TIER_NONE);

	/* Without memory to parse the record's JSON the judgement says so,
	 * rather than judge the sign-in as if it had no MFA field. */
	cloud.additional = kw_str_c("{\"MFAUsed\":\"No\"}");
	json_set_alloc_funcs(no_memory, free);
	judged = kw_models_judge(fx->m, &ev, &env, &v);
	json_set_alloc_funcs(malloc, free);
	assert_false(judged);
	assert_true(kw_models_judge(fx->m, &ev, &env, &v));
	assert_string_equal(v.match, "no-mfa");
	/* JSON that is not is no shortage of memory: no field, no rule */
	cloud.additional = kw_str_c("{\"MFAUsed\":");
	assert_true(kw_models_judge(fx->m, &ev, &env, &v));
	assert_null(v.match);
	cloud.additional = kw_str_c("");
	assert_true(kw_models_judge(fx->m, &ev, &env, &v));
}

/* Counters: declared at the top, named by entries of the same file. */
static void test_counter_errors(void **state)
{
#define CT(c)                                                                  \
	"{\"counters\": [" c "], \"ops\": [{\"op\": \"a:B\", "                 \
	"\"access\": \"read\"}]}"
	(void)state;
	expect_error(CT("{\"name\": \"n\", \"threshold\": 3}"), KW_ECONFIG,
		     ": counters[0]: missing \"what\"");
	expect_error(CT("{\"name\": \"n\", \"what\": \"w\"}"), KW_ECONFIG,
		     ": counters[0]: missing \"threshold\"");
	expect_error(CT("{\"name\": \"n\", \"what\": \"w\", \"threshold\": "
			"1}"),
		     KW_ECONFIG,
		     ": counters[0].threshold: must be an integer from 2 to "
		     "10000");
	expect_error(CT("{\"name\": \"n\", \"what\": \"w\", \"threshold\": "
			"3, \"window\": \"3d\"}"),
		     KW_ECONFIG,
		     ": counters[0].window: must be a duration from 1s to 24h, "
		     "such as \"10m\"");
	expect_error(CT("{\"name\": \"n\", \"what\": \"w\", \"threshold\": "
			"3, \"select\": {\"denied\": true}}"),
		     KW_ECONFIG,
		     ": counters[0].select.denied: unknown key (expected one "
		     "of: sensitive, refused, bulk, learning)");
	expect_error(CT("{\"name\": \"n\", \"what\": \"w\", \"threshold\": "
			"3, \"select\": {}}"),
		     KW_ECONFIG,
		     ": counters[0].select: must select something (sensitive, "
		     "refused, bulk or learning)");
	expect_error(CT("{\"name\": \"n\", \"what\": \"w\", \"threshold\": "
			"3}, {\"name\": \"n\", \"what\": \"x\", "
			"\"threshold\": 4}"),
		     KW_ECONFIG, ": counters[1].name: \"n\" is defined twice");
	expect_error(CT("{\"name\": \"n\", \"what\": \"w\", \"threshold\": "
			"3, \"severity\": \"info\"}"),
		     KW_ECONFIG,
		     ": counters[0].severity: must be \"low\", \"medium\", "
		     "\"high\" or \"critical\"");
	expect_error("{\"counters\": [{\"name\": \"n\", \"what\": \"w\", "
		     "\"threshold\": 3}], \"ops\": [{\"op\": \"a:B\", "
		     "\"access\": \"read\", \"count\": [{\"counter\": "
		     "\"m\"}]}]}",
		     KW_ECONFIG,
		     ": ops[0].count[0].counter: no counter \"m\" in this "
		     "model's \"counters\"");
	expect_error("{\"counters\": [{\"name\": \"n\", \"what\": \"w\", "
		     "\"threshold\": 3, \"select\": {\"refused\": true}}], "
		     "\"ops\": [{\"op\": \"a:B\", \"access\": \"read\", "
		     "\"count\": [{\"counter\": \"n\"}]}]}",
		     KW_ECONFIG,
		     ": ops[0].count[0].counter: \"n\" selects its events "
		     "itself");
	expect_error("{\"counters\": [{\"name\": \"n\", \"what\": \"w\", "
		     "\"threshold\": 3}], \"ops\": [{\"op\": \"a:B\", "
		     "\"access\": \"read\", \"count\": [{\"counter\": "
		     "\"n\", \"names\": \"x.y\"}]}]}",
		     KW_ECONFIG,
		     ": ops[0].count[0].names: \"x.y\" must start with "
		     "requestParameters, responseElements, "
		     "additionalEventData, userIdentity or recipientAccountId");
#undef CT
}

/* The model of the judgement tests: one op per kind of condition. */
static const char judge_model[] =
	"{\"op_rules\": {\"separator\": \":\"},\n"
	" \"ops\": [\n"
	"  {\"op\": \"t:Sg\", \"sensitive\": \"opens\", \"tactic\": "
	"\"exfiltration\", \"match\": [\n"
	"   {\"name\": \"admin\", \"why\": \"admin port open\", \"each\": "
	"[\"requestParameters\", \"requestParameters.perms.items[]\"],\n"
	"    \"when\": [{\"path\": [\"@.cidrIp\", "
	"\"@.ranges.items[].cidrIp\"], \"open_cidr\": true}, {\"path\": "
	"\"@\", \"ports\": [22, 3389]}],\n"
	"    \"tier\": \"never-routine\", \"severity\": \"critical\"},\n"
	"   {\"name\": \"web\", \"why\": \"web\", \"each\": "
	"\"requestParameters.perms.items[]\", \"when\": [{\"path\": "
	"\"@.ranges.items[].cidrIp\", \"open_cidr\": true}, {\"path\": "
	"\"@\", \"only_ports\": [80, 443]}], \"tier\": \"first-sight\"}]},\n"
	"  {\"op\": \"t:Trust\", \"access\": \"write\", \"match\": [\n"
	"   {\"name\": \"foreign\", \"why\": \"foreign\", \"each\": "
	"\"requestParameters.doc@json.Statement[]\", \"when\": "
	"[{\"path\": [\"@.Principal\", \"@.Principal.*\"], "
	"\"foreign_account\": true}, {\"path\": \"@.Condition\", "
	"\"present\": false}],\n"
	"    \"tier\": \"never-routine\", \"tactic\": \"persistence\"},\n"
	"   {\"name\": \"other-user\", \"why\": \"someone else\", "
	"\"when\": [{\"path\": \"requestParameters.userName\", "
	"\"differs_from\": \"userIdentity.userName\"}], \"tier\": "
	"\"first-sight\"},\n"
	"   {\"name\": \"big\", \"why\": \"big\", \"when\": "
	"[{\"path\": \"requestParameters.n\", \"at_least\": 10}, "
	"{\"path\": \"requestParameters.kind\", \"other_than\": "
	"[\"a\", \"b\"]}], \"tier\": \"routine\"},\n"
	"   {\"name\": \"account\", \"why\": \"account\", \"when\": "
	"[{\"path\": \"recipientAccountId\", \"prefix\": \"9\"}, "
	"{\"path\": \"requestParameters.secret\", \"present\": "
	"true}], \"tier\": \"first-sight\"}]}\n"
	" ]}\n";

struct judged {
	struct kw_verdict v;
	char tier[32];
};

/* Judge one call of op with request parameters params (NULL: none), an
 * identity and a recipient account. */
static void judge_one(const struct kw_models *m, const char *op,
		      const char *params, const char *identity,
		      const char *account, const char *const *trusted,
		      struct kw_verdict *v)
{
	struct kw_judge_env env = {trusted, 0};
	struct kw_event_cloud cloud;
	struct kw_arena arena;
	struct kw_event ev = mkev("AKIAIOSFODNN7EXAMPLE", "", "");

	while (trusted && trusted[env.ntrusted])
		env.ntrusted++;
	memset(&cloud, 0, sizeof(cloud));
	cloud.params = kw_str_c(params);
	cloud.identity = kw_str_c(identity);
	cloud.account = kw_str_c(account);
	ev.op = kw_str_c(op);
	ev.cloud = &cloud;
	kw_arena_init(&arena, 0);
	kw_models_enrich(m, &ev, &arena);
	assert_non_null(ev.info);
	kw_models_judge(m, &ev, &env, v);
	kw_arena_destroy(&arena);
}

static void expect_match(const struct kw_verdict *v, const char *match,
			 enum kw_tier tier, const char *found)
{
	if (!match) {
		assert_null(v->match);
	} else {
		assert_non_null(v->match);
		assert_string_equal(v->match, match);
	}
	assert_int_equal(v->tier, tier);
	assert_string_equal(v->found, found);
}

/* What each kind of condition holds on, including the edges: a single
 * value where an array may be, a string holding JSON, ports by range and
 * protocol, accounts by id and ARN (the record's own and trusted ones are
 * not foreign), a missing value that differs, numbers written as
 * strings, records whose JSON is broken, and values that look like
 * credentials kept out of the evidence. */
static void test_judge(void **state)
{
	static const char *const trusted[] = {"777788889999", NULL};
	const char *acct = "111122223333";
	struct kw_models *m = NULL;
	struct kw_error err = {0};
	struct kw_verdict v;
	struct tmp t;

	(void)state;
	tmp_init(&t);
	tmp_write(&t, "t.json", judge_model);
	if (kw_models_load(t.dir, NULL, 0, &m, &err) != KW_OK)
		fail_msg("%s", err.msg);

	/* Old-style: the permission is the parameters themselves. */
	judge_one(m, "t:Sg",
		  "{\"cidrIp\":\"203.0.113.9/0\",\"ipProtocol\":\"tcp\","
		  "\"fromPort\":20,\"toPort\":25}",
		  NULL, acct, NULL, &v);
	expect_match(&v, "admin", KW_TIER_NEVER_ROUTINE, "203.0.113.9/0");
	assert_int_equal(v.severity, KW_SEV_CRITICAL);
	assert_string_equal(v.why, "admin port open");
	assert_string_equal(v.reason, "opens");
	/* Protocol -1 is every port; a single range, not an array. */
	judge_one(m, "t:Sg",
		  "{\"perms\":{\"items\":{\"ipProtocol\":\"-1\",\"ranges\":"
		  "{\"items\":[{\"cidrIp\":\"10.0.0.0/8\"},{\"cidrIp\":"
		  "\"0.0.0.0/0\"}]}}}}",
		  NULL, acct, NULL, &v);
	expect_match(&v, "admin", KW_TIER_NEVER_ROUTINE, "0.0.0.0/0");
	/* 443 only: web; 80-443 is more than web; ICMP has no ports. */
	judge_one(m, "t:Sg",
		  "{\"perms\":{\"items\":[{\"ipProtocol\":\"tcp\","
		  "\"fromPort\":443,\"toPort\":443,\"ranges\":{\"items\":"
		  "[{\"cidrIp\":\"0.0.0.0/0\"}]}}]}}",
		  NULL, acct, NULL, &v);
	expect_match(&v, "web", KW_TIER_FIRST_SIGHT, "0.0.0.0/0");
	judge_one(m, "t:Sg",
		  "{\"perms\":{\"items\":[{\"ipProtocol\":\"tcp\","
		  "\"fromPort\":80,\"toPort\":443,\"ranges\":{\"items\":"
		  "[{\"cidrIp\":\"0.0.0.0/0\"}]}}]}}",
		  NULL, acct, NULL, &v);
	expect_match(&v, NULL, KW_TIER_ROUTINE, "");
	judge_one(m, "t:Sg",
		  "{\"perms\":{\"items\":[{\"ipProtocol\":\"icmp\","
		  "\"fromPort\":8,\"toPort\":22,\"ranges\":{\"items\":"
		  "[{\"cidrIp\":\"0.0.0.0/0\"}]}}]}}",
		  NULL, acct, NULL, &v);
	expect_match(&v, NULL, KW_TIER_ROUTINE, "");
	/* Not an address range of every address. */
	judge_one(m, "t:Sg",
		  "{\"cidrIp\":\"0.0.0.0/1\",\"ipProtocol\":\"tcp\","
		  "\"fromPort\":22,\"toPort\":22}",
		  NULL, acct, NULL, &v);
	expect_match(&v, NULL, KW_TIER_ROUTINE, "");
	/* No parameters, broken parameters: nothing holds. */
	judge_one(m, "t:Sg", NULL, NULL, acct, NULL, &v);
	expect_match(&v, NULL, KW_TIER_ROUTINE, "");
	judge_one(m, "t:Sg", "{\"cidrIp\":", NULL, acct, NULL, &v);
	expect_match(&v, NULL, KW_TIER_ROUTINE, "");

	/* A policy in a string; principals by id, by ARN, under any key;
	 * the record's own account and trusted ones are not foreign. */
	judge_one(m, "t:Trust",
		  "{\"doc\":\"{\\\"Statement\\\":{\\\"Principal\\\":"
		  "{\\\"AWS\\\":\\\"arn:aws:iam::444455556666:root\\\"}}}\"}",
		  NULL, acct, trusted, &v);
	expect_match(&v, "foreign", KW_TIER_NEVER_ROUTINE,
		     "arn:aws:iam::444455556666:root");
	assert_int_equal(v.severity, KW_SEV_HIGH);
	assert_string_equal(kw_tactic_name(v.tactic), "persistence");
	assert_string_equal(v.reason, "foreign");
	judge_one(m, "t:Trust",
		  "{\"doc\":{\"Statement\":[{\"Principal\":"
		  "\"444455556666\"}]}}",
		  NULL, acct, trusted, &v);
	expect_match(&v, "foreign", KW_TIER_NEVER_ROUTINE, "444455556666");
	judge_one(m, "t:Trust",
		  "{\"doc\":{\"Statement\":[{\"Principal\":{\"AWS\":"
		  "[\"arn:aws:iam::111122223333:role/x\",\"777788889999\"],"
		  "\"Service\":\"ec2.amazonaws.com\"}}]}}",
		  NULL, acct, trusted, &v);
	expect_match(&v, NULL, KW_TIER_NONE, "");
	/* A condition on the foreign statement: the matcher does not hold
	 * (the conditions hold statement by statement). */
	judge_one(m, "t:Trust",
		  "{\"doc\":{\"Statement\":[{\"Principal\":\"444455556666\","
		  "\"Condition\":{}},{\"Principal\":\"111122223333\"}]}}",
		  NULL, acct, NULL, &v);
	expect_match(&v, NULL, KW_TIER_NONE, "");
	/* Without recipientAccountId, the identity's account is the
	 * record's own. */
	judge_one(m, "t:Trust",
		  "{\"doc\":{\"Statement\":[{\"Principal\":"
		  "\"111122223333\"}]}}",
		  "{\"accountId\":\"111122223333\"}", NULL, NULL, &v);
	expect_match(&v, NULL, KW_TIER_NONE, "");

	/* differs_from: a missing value differs; the same does not. */
	judge_one(m, "t:Trust", "{\"userName\":\"bob\"}",
		  "{\"userName\":\"bob\"}", acct, NULL, &v);
	expect_match(&v, NULL, KW_TIER_NONE, "");
	judge_one(m, "t:Trust", "{\"userName\":\"bob\"}",
		  "{\"type\":\"AssumedRole\"}", acct, NULL, &v);
	expect_match(&v, "other-user", KW_TIER_FIRST_SIGHT, "bob");

	/* Numbers written as strings count; other_than. */
	judge_one(m, "t:Trust", "{\"n\":\"12\",\"kind\":\"c\"}", NULL, acct,
		  NULL, &v);
	expect_match(&v, "big", KW_TIER_ROUTINE, "12");
	judge_one(m, "t:Trust", "{\"n\":12,\"kind\":\"a\"}", NULL, acct, NULL,
		  &v);
	expect_match(&v, NULL, KW_TIER_NONE, "");
	judge_one(m, "t:Trust", "{\"n\":\"12x\",\"kind\":\"c\"}", NULL, acct,
		  NULL, &v);
	expect_match(&v, NULL, KW_TIER_NONE, "");

	/* A value that looks like a credential is not shown. */
	judge_one(m, "t:Trust", "{\"userName\":\"AKIAIOSFODNN7EXAMPLE\"}", "{}",
		  acct, NULL, &v);
	expect_match(&v, "other-user", KW_TIER_FIRST_SIGHT, "");
	judge_one(m, "t:Trust",
		  "{\"userName\":\"IQoJb3JpZ2luX2VjEOH//////////wEaCXVzLW"
		  "Vhc3QtMSJIMEYCIQDzpomGZAmkp4RIzBo4RqVJGE\"}",
		  "{}", acct, NULL, &v);
	expect_match(&v, "other-user", KW_TIER_FIRST_SIGHT, "");
	/* A long value is cut, with an ellipsis. */
	judge_one(m, "t:Trust",
		  "{\"userName\":\"a-very-long-user-name-that-goes-on-and-on-"
		  "and-on-a-very-long-user-name-that-goes-on-and-on-and-on-a-"
		  "very-long-user-name-that-goes-on-and-on-and-on\"}",
		  "{}", acct, NULL, &v);
	assert_int_equal(strlen(v.found), sizeof(v.found) - 1);
	assert_string_equal(v.found + sizeof(v.found) - 4, "\xe2\x80\xa6");
	/* The recipient account as a root. */
	judge_one(m, "t:Trust", "{\"secret\":1}", NULL, "999988887777", NULL,
		  &v);
	expect_match(&v, "account", KW_TIER_FIRST_SIGHT, "999988887777");

	kw_models_destroy(m);
	tmp_free(&t);
}

/* "people" rules: who is a person signed in; a use judged first-sight or
 * routine by one names the rule, a never-routine one does not. And the
 * internet_cidr test: a CIDR that holds an internet address. */
static const char people_model[] =
	"{\"op_rules\": {\"separator\": \":\"},\n"
	" \"people\": [{\"name\": \"sso\", \"why\": \"an sso person\", "
	"\"when\": [{\"path\": \"userIdentity.sessionContext.sessionIssuer."
	"arn\", \"contains\": \":role/aws-reserved/sso.amazonaws.com/\"}]}],\n"
	" \"ops\": [\n"
	"  {\"op\": \"t:Fs\", \"sensitive\": \"fs\", \"tier\": "
	"\"first-sight\"},\n"
	"  {\"op\": \"t:Ro\", \"sensitive\": \"ro\"},\n"
	"  {\"op\": \"t:Nr\", \"sensitive\": \"nr\", \"tier\": "
	"\"never-routine\"},\n"
	"  {\"op\": \"t:Sg\", \"sensitive\": \"opens\", \"match\": ["
	"{\"name\": \"internal\", \"why\": \"internal\", \"when\": "
	"[{\"path\": \"requestParameters.cidrs[]\", \"internet_cidr\": "
	"true, \"not\": true}, {\"path\": \"requestParameters.cidrs[]\", "
	"\"present\": true}], \"tier\": \"none\"}]}\n"
	" ]}\n";

static void test_people(void **state)
{
	static const char *const internal[] = {
		"[\"10.0.0.0/16\", \"fd00:ab::/64\"]",
		"[\"172.16.4.0/24\", \"192.168.1.7\"]",
		"[\"100.64.1.0/24\", \"169.254.169.254/32\", \"fe80::1/128\"]",
		"[\"127.0.0.1/32\", \"::1/128\"]"};
	static const char *const internet[] = {
		"[\"10.0.0.0/16\", \"198.51.100.0/24\"]",
		"[\"10.0.0.0/7\"]", /* 11.0.0.0/8 is the internet */
		"[\"0.0.0.0/0\"]",
		"[\"2001:db8::/32\"]",
		"[\"not an address\"]",
		"[]"};
	const char *acct = "111122223333";
	const char *sso = "{\"type\":\"AssumedRole\",\"sessionContext\":"
			  "{\"sessionIssuer\":{\"arn\":\"arn:aws:iam::"
			  "111122223333:role/aws-reserved/sso.amazonaws.com/"
			  "eu-west-1/AWSReservedSSO_Admin_0123\"}}}";
	const char *ci = "{\"type\":\"AssumedRole\",\"sessionContext\":"
			 "{\"sessionIssuer\":{\"arn\":\"arn:aws:iam::"
			 "111122223333:role/deploy\"}}}";
	struct kw_models *m = NULL;
	struct kw_error err = {0};
	struct kw_verdict v;
	char params[200];
	struct tmp t;
	size_t i;

	(void)state;
	tmp_init(&t);
	tmp_write(&t, "t.json", people_model);
	if (kw_models_load(t.dir, NULL, 0, &m, &err) != KW_OK)
		fail_msg("%s", err.msg);

	judge_one(m, "t:Fs", NULL, sso, acct, NULL, &v);
	assert_int_equal(v.tier, KW_TIER_FIRST_SIGHT);
	assert_string_equal(v.person, "sso");
	assert_string_equal(v.person_why, "an sso person");
	judge_one(m, "t:Ro", NULL, sso, acct, NULL, &v);
	assert_int_equal(v.tier, KW_TIER_ROUTINE);
	assert_string_equal(v.person, "sso");
	judge_one(m, "t:Fs", NULL, ci, acct, NULL, &v);
	assert_int_equal(v.tier, KW_TIER_FIRST_SIGHT);
	assert_null(v.person);
	/* what hides an attacker is judged the same whoever did it */
	judge_one(m, "t:Nr", NULL, sso, acct, NULL, &v);
	assert_int_equal(v.tier, KW_TIER_NEVER_ROUTINE);
	assert_null(v.person);

	for (i = 0; i < sizeof(internal) / sizeof(*internal); i++) {
		snprintf(params, sizeof(params), "{\"cidrs\": %s}",
			 internal[i]);
		judge_one(m, "t:Sg", params, ci, acct, NULL, &v);
		expect_match(&v, "internal", KW_TIER_NONE, "");
	}
	for (i = 0; i < sizeof(internet) / sizeof(*internet); i++) {
		snprintf(params, sizeof(params), "{\"cidrs\": %s}",
			 internet[i]);
		judge_one(m, "t:Sg", params, ci, acct, NULL, &v);
		expect_match(&v, NULL, KW_TIER_ROUTINE, "");
	}
	kw_models_destroy(m);
	tmp_free(&t);
}

static void test_people_errors(void **state)
{
	(void)state;
	expect_error("{\"op_rules\": {\"separator\": \":\"}, \"people\": "
		     "[{\"name\": \"p\", \"why\": \"w\", \"when\": [], "
		     "\"tier\": \"routine\"}]}",
		     KW_ECONFIG,
		     ": people[0].tier: unknown key (expected one of: name, "
		     "why, when)");
	expect_error("{\"op_rules\": {\"separator\": \":\"}, \"people\": "
		     "[{\"name\": \"p\", \"why\": \"w\"}]}",
		     KW_ECONFIG, ": people[0]: missing \"when\"");
	expect_error("{\"op_rules\": {\"separator\": \":\"}, \"people\": "
		     "[{\"name\": \"p\", \"why\": \"w\", \"when\": "
		     "[{\"path\": \"userIdentity.x\", \"internet_cidr\": "
		     "false}]}]}",
		     KW_ECONFIG,
		     ": people[0].when[0].internet_cidr: must be true");
}

/* What a use feeds its counters: the names found (each once, hashed; the
 * first three kept, none that looks like a credential), or the
 * operation's name when the count names nothing; a count whose
 * conditions fail feeds nothing. */
static void test_feeds(void **state)
{
	static const char model[] =
		"{\"op_rules\": {\"separator\": \":\"},\n"
		" \"counters\": [{\"name\": \"ids\", \"what\": \"ids\", "
		"\"threshold\": 3}, {\"name\": \"calls\", \"what\": "
		"\"calls\", \"threshold\": 9, \"distinct\": false}],\n"
		" \"ops\": [{\"op\": \"t:Get\", \"count\": [\n"
		"  {\"counter\": \"ids\", \"names\": "
		"[\"requestParameters.ids[]\","
		" \"requestParameters.id\"], \"when\": [{\"path\": "
		"\"requestParameters.plain\", \"equals\": true, \"not\": "
		"true}]},\n"
		"  {\"counter\": \"calls\"}]}]}\n";
	struct kw_models *m = NULL;
	struct kw_error err = {0};
	struct kw_verdict v;
	struct tmp t;

	(void)state;
	tmp_init(&t);
	tmp_write(&t, "t.json", model);
	if (kw_models_load(t.dir, NULL, 0, &m, &err) != KW_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(kw_models_counter_count(m), 2);
	assert_string_equal(kw_models_counter(m, 1)->name, "calls");
	assert_false(kw_models_counter(m, 1)->distinct);
	assert_int_equal(kw_models_counter(m, 0)->window,
			 INT64_C(600) * 1000000);
	assert_null(kw_models_counter(m, 2));

	judge_one(m, "t:Get",
		  "{\"ids\":[\"a\",\"b\",\"a\",\"AKIAIOSFODNN7EXAMPLE\","
		  "\"c\"],\"id\":\"d\"}",
		  NULL, "1", NULL, &v);
	assert_null(v.match);
	assert_int_equal(v.tier, KW_TIER_NONE);
	assert_int_equal(v.nfeeds, 2);
	assert_int_equal(v.feed[0].counter, 0);
	assert_int_equal(v.feed[0].nnames, 5);
	assert_int_equal(v.feed[0].hash[0], kw_models_hash("a", 1));
	assert_int_equal(v.feed[0].hash[2],
			 kw_models_hash("AKIAIOSFODNN7EXAMPLE", 20));
	assert_int_equal(v.feed[0].nshown, 3);
	assert_string_equal(v.feed[0].shown[0], "a");
	assert_string_equal(v.feed[0].shown[1], "b");
	assert_string_equal(v.feed[0].shown[2], "c");
	assert_int_equal(v.feed[1].counter, 1);
	assert_int_equal(v.feed[1].nnames, 1);
	assert_int_equal(v.feed[1].hash[0], kw_models_hash("t:Get", 5));
	assert_string_equal(v.feed[1].shown[0], "t:Get");
	/* The condition fails: only the plain count. */
	judge_one(m, "t:Get", "{\"ids\":[\"a\"],\"plain\":true}", NULL, "1",
		  NULL, &v);
	assert_int_equal(v.nfeeds, 1);
	assert_int_equal(v.feed[0].counter, 1);
	/* Nothing found: the op's name stands for the call. */
	judge_one(m, "t:Get", NULL, NULL, "1", NULL, &v);
	assert_int_equal(v.nfeeds, 2);
	assert_string_equal(v.feed[0].shown[0], "t:Get");
	kw_models_destroy(m);
	tmp_free(&t);
}

/* The catalogue: each sensitive entry's tier, tactic and fixed severity
 * reach the event, and an API version suffix is cut only where op_rules
 * say so and only from a real version. */
static void test_tiers(void **state)
{
	struct fx *fx = *state;
	const char *ak = "AKIAIOSFODNN7EXAMPLE";
	enum kw_access W = KW_ACCESS_WRITE, R = KW_ACCESS_READ;
	struct kw_event ev;

	ev = check_op(fx, ak, "cloudtrail:StopLogging", "", "cloudtrail", W,
		      F_M | F_S);
	assert_non_null(ev.info);
	assert_int_equal(ev.info->tier, KW_TIER_NEVER_ROUTINE);
	assert_int_equal(ev.info->severity, KW_SEV_CRITICAL);
	assert_string_equal(kw_tactic_name(ev.info->tactic), "defense-evasion");
	ev = check_op(fx, ak, "ec2:DeleteFlowLogs", "", "ec2", W, F_M | F_S);
	assert_int_equal(ev.info->tier, KW_TIER_NEVER_ROUTINE);
	assert_int_equal(ev.info->severity, KW_SEV_HIGH);
	ev = check_op(fx, ak, "ssm:SendCommand", "", "ssm", W, F_M | F_S);
	assert_string_equal(kw_tier_name(ev.info->tier), "first-sight");
	assert_string_equal(kw_tactic_name(ev.info->tactic), "execution");
	ev = check_op(fx, ak, "kms:Decrypt", "", "kms", R, F_M | F_S);
	assert_string_equal(kw_tier_name(ev.info->tier), "routine");
	/* GetFederationToken creates credentials: a write, never routine */
	ev = check_op(fx, ak, "sts:GetFederationToken", "", "sts", W,
		      F_M | F_S);
	assert_int_equal(ev.info->tier, KW_TIER_NEVER_ROUTINE);
	assert_string_equal(kw_tactic_name(ev.info->tactic), "persistence");
	ev = check_op(fx, ak, "sts:GetCallerIdentity", "", "sts", R, F_M);
	assert_int_equal(ev.info->tier, KW_TIER_NONE);
	ev = check_op(fx, ak, "s3:ListBuckets", "", "s3", R, 0);
	assert_null(ev.info);
	/* Lambda's versions are cut; the entry is the plain name. */
	ev = check_op_as(fx, ak, "lambda:AddPermission20150331v2",
			 "lambda:AddPermission", "", "lambda", W,
			 F_M | F_S | F_J);
	assert_int_equal(ev.info->tier, KW_TIER_FIRST_SIGHT);
	check_op_as(fx, ak, "lambda:CreateFunction20150331",
		    "lambda:CreateFunction", "", "lambda", W, F_M | F_S);
	check_op_as(fx, ak, "lambda:ListFunctions20150331",
		    "lambda:ListFunctions", "", "lambda", R, 0);
	check_op_as(fx, ak, "lambda:GetFunction20150331v2",
		    "lambda:GetFunction", "", "lambda", R, 0);
	/* Not a version: 7 digits, digits after a digit, another
	 * service, no action before it. */
	check_op(fx, ak, "lambda:Invoke2015033", "", "lambda", W, 0);
	check_op(fx, ak, "lambda:X120150331", "", "lambda", W, 0);
	check_op(fx, ak, "s3:PutObject20150331", "", "s3", W, 0);
	check_op(fx, ak, "lambda:20150331", "", "lambda", W, 0);
	check_op(fx, ak, "lambda:Invokev2", "", "lambda", W, 0);
}

static void test_missing(void **state)
{
	struct kw_models *m = NULL;
	struct kw_error err = {0};
	const char *names[] = {"nope"};
	const char *bad[] = {"../x"};
	char want[200];
	struct tmp t;

	(void)state;
	tmp_init(&t);
	assert_int_equal(kw_models_load(t.dir, names, 1, &m, &err),
			 KW_ENOTFOUND);
	snprintf(want, sizeof(want),
		 "%s/nope.json: cannot open: No such file or directory", t.dir);
	assert_string_equal(err.msg, want);
	/* A FIFO named like a model is refused at once, not waited on. */
	snprintf(want, sizeof(want), "%s/fifo.json", t.dir);
	assert_int_equal(mkfifo(want, 0600), 0);
	names[0] = "fifo";
	assert_int_equal(kw_models_load(t.dir, names, 1, &m, &err), KW_EINVAL);
	snprintf(want, sizeof(want),
		 "%s/fifo.json: not a regular file (a named pipe)", t.dir);
	assert_string_equal(err.msg, want);
	snprintf(want, sizeof(want), "%s/fifo.json", t.dir);
	unlink(want);
	assert_int_equal(kw_models_load(t.dir, NULL, 0, &m, &err),
			 KW_ENOTFOUND);
	snprintf(want, sizeof(want), "%s: no model files (*.json)", t.dir);
	assert_string_equal(err.msg, want);
	assert_int_equal(kw_models_load(t.dir, bad, 1, &m, &err), KW_ECONFIG);
	assert_string_equal(err.msg, "models: \"../x\" is not a model name");
	assert_null(m);
	tmp_free(&t);
}

/* Two files: the duplicate prefix names the file that had it first. */
static void test_duplicate_prefix_across_files(void **state)
{
	struct kw_models *m = NULL;
	struct kw_error err = {0};
	char want[400];
	struct tmp t;

	(void)state;
	tmp_init(&t);
	tmp_write(
		&t, "a.json",
		"{\"prefixes\": [{\"prefix\": \"k_\", \"kind\": \"secret\"}]}");
	tmp_write(
		&t, "b.json",
		"{\"prefixes\": [{\"prefix\": \"k_\", \"kind\": \"secret\"}]}");
	assert_int_equal(kw_models_load(t.dir, NULL, 0, &m, &err), KW_ECONFIG);
	snprintf(want, sizeof(want),
		 "%s/b.json: prefixes[0].prefix: \"k_\" is already defined by "
		 "%s/a.json",
		 t.dir, t.dir);
	assert_string_equal(err.msg, want);
	assert_null(m);
	tmp_free(&t);
}

/* Prefixes of several models, looked up by the key's first byte: the
 * longest that matches wins whatever file or byte it came from; a key
 * whose first byte no prefix has gets no kind. And a model's op carries
 * the ops detector's filter hash of its name. */
static void test_prefix_buckets(void **state)
{
	struct fx *fx = *state;
	struct kw_models *m = NULL;
	struct kw_error err = {0};
	enum kw_key_kind kind;
	enum kw_key_mode mode;
	struct kw_event ev;
	struct tmp t;

	tmp_init(&t);
	tmp_write(
		&t, "a.json",
		"{\"prefixes\": [{\"prefix\": \"zz_\", \"kind\": "
		"\"secret\"},\n"
		"  {\"prefix\": \"a\", \"kind\": \"publishable\"},\n"
		"  {\"prefix\": \"ab_live_\", \"kind\": \"secret\", "
		"\"mode\": \"live\"}],\n"
		" \"routes\": [{\"method\": \"GET\", \"path\": \"/v1/things\", "
		"\"op\": \"things.list\", \"access\": \"read\"}]}\n");
	tmp_write(&t, "b.json",
		  "{\"prefixes\": [{\"prefix\": \"ab_\", \"kind\": "
		  "\"restricted\"},\n"
		  "  {\"prefix\": \"\\u00ff\", \"kind\": \"secret\"}]}\n");
	assert_int_equal(kw_models_load(t.dir, NULL, 0, &m, &err), KW_OK);
	kw_models_key_kind(m, "ab_live_1", 9, &kind, &mode);
	assert_int_equal(kind, KW_KIND_SECRET);
	assert_int_equal(mode, KW_MODE_LIVE);
	kw_models_key_kind(m, "ab_test_1", 9, &kind, &mode);
	assert_int_equal(kind, KW_KIND_RESTRICTED);
	kw_models_key_kind(m, "abc", 3, &kind, &mode);
	assert_int_equal(kind, KW_KIND_PUBLISHABLE);
	kw_models_key_kind(m, "zz_1", 4, &kind, &mode);
	assert_int_equal(kind, KW_KIND_SECRET);
	kw_models_key_kind(m,
			   "\xc3\xbf"
			   "1",
			   3, &kind, &mode);
	assert_int_equal(kind, KW_KIND_SECRET);
	kw_models_key_kind(m, "z_1", 3, &kind, &mode);
	assert_int_equal(kind, KW_KIND_UNKNOWN);
	kw_models_key_kind(m, "b", 1, &kind, &mode);
	assert_int_equal(kind, KW_KIND_UNKNOWN);

	ev = mkev("ab_live_1", "GET", "/v1/things");
	kw_models_enrich(m, &ev, &fx->arena);
	str_equal(ev.op, "things.list");
	assert_non_null(ev.info);
	assert_true(ev.info->name_hash == kw_models_op_hash("things.list", 11));
	assert_true(kw_models_op_hash("things.list", 11) !=
		    kw_models_op_hash("things.lisu", 11));
	kw_models_destroy(m);
	tmp_free(&t);
}

/* A user's own API: backtracking, method-less routes, defaults. */
static void test_custom_model(void **state)
{
	struct fx *fx = *state;
	struct kw_models *m = NULL;
	struct kw_error err = {0};
	struct kw_model_info info;
	struct kw_event ev;
	struct tmp t;

	tmp_init(&t);
	tmp_write(&t, "acme.json",
		  "{\"name\": \"acme\", \"description\": \"test\",\n"
		  " \"prefixes\": [{\"prefix\": \"acme_live_\", \"kind\": "
		  "\"secret\", \"mode\": \"live\"},\n"
		  "  {\"prefix\": \"acme_\", \"kind\": \"restricted\"}],\n"
		  " \"routes\": [\n"
		  "  {\"method\": \"GET\", \"path\": \"/a/{x}/c\", \"op\": "
		  "\"a.c\"},\n"
		  "  {\"method\": \"GET\", \"path\": \"/a/b/d\", \"op\": "
		  "\"a.bd\"},\n"
		  "  {\"path\": \"/ping\", \"op\": \"ping\", \"access\": "
		  "\"read\", \"publishable\": true},\n"
		  "  {\"method\": \"POST\", \"path\": \"/ping\", \"op\": "
		  "\"ping.post\", \"resource\": \"pings\", \"sensitive\": "
		  "\"why\"},\n"
		  "  {\"method\": \"PUT\", \"path\": \"/ping\", \"op\": "
		  "\"ping\"}\n"
		  " ]}\n");
	assert_int_equal(kw_models_load(t.dir, NULL, 0, &m, &err), KW_OK);
	assert_int_equal(kw_models_count(m), 1);
	kw_models_info(m, 0, &info);
	assert_string_equal(info.name, "acme");
	assert_int_equal(info.prefixes, 2);
	assert_int_equal(info.routes, 5);
	assert_int_equal(info.sensitive, 1);
	assert_int_equal(info.resources, 3);
	assert_true(kw_models_has_resource(m, "pings"));
	assert_true(kw_models_has_resource(m, "a"));
	assert_true(kw_models_has_resource(m, "ping"));

	/* /a/b/c: the literal b leads nowhere, so {x} is tried. */
	ev = mkev("acme_live_123", "GET", "/a/b/c");
	kw_models_enrich(m, &ev, &fx->arena);
	str_equal(ev.op, "a.c");
	str_equal(ev.resource, "a");
	assert_int_equal(ev.key_kind, KW_KIND_SECRET);
	assert_int_equal(ev.key_mode, KW_MODE_LIVE);
	/* The longest prefix wins. */
	ev = mkev("acme_123", "GET", "/a/b/d");
	kw_models_enrich(m, &ev, &fx->arena);
	str_equal(ev.op, "a.bd");
	assert_int_equal(ev.key_kind, KW_KIND_RESTRICTED);
	assert_int_equal(ev.key_mode, KW_MODE_UNKNOWN);
	/* A method-less route takes any method; a named one is preferred. */
	ev = mkev("acme_123", "DELETE", "/ping");
	kw_models_enrich(m, &ev, &fx->arena);
	str_equal(ev.op, "ping");
	assert_int_equal(ev.access, KW_ACCESS_READ);
	assert_int_equal(ev.flags, F_M | F_PK);
	ev = mkev("acme_123", "POST", "/ping");
	kw_models_enrich(m, &ev, &fx->arena);
	str_equal(ev.op, "ping.post");
	str_equal(ev.resource, "pings");
	assert_int_equal(ev.access, KW_ACCESS_WRITE);
	assert_int_equal(ev.flags, F_M | F_S);
	assert_string_equal(kw_models_sensitive_reason(m, "ping.post", 9),
			    "why");
	/* A second route to an op shares its attributes. */
	ev = mkev("acme_123", "PUT", "/ping");
	kw_models_enrich(m, &ev, &fx->arena);
	str_equal(ev.op, "ping");
	assert_int_equal(ev.access, KW_ACCESS_READ);
	/* No model has op rules: a decoder's op is left as it was. */
	ev = mkev("acme_123", "", "");
	ev.op = kw_str_c("x:Y");
	ev.access = KW_ACCESS_WRITE;
	kw_models_enrich(m, &ev, &fx->arena);
	str_equal(ev.op, "x:Y");
	assert_int_equal(ev.access, KW_ACCESS_WRITE);
	assert_int_equal(ev.flags, 0);

	kw_models_destroy(m);
	tmp_free(&t);
}

/* ---- the path-match cache ---- */

/* Paths made from every route template of the shipped models: the
 * template as written, its {placeholders} filled with ids, with other
 * literals of the model, with nothing; segments dropped, added, doubled
 * slashes, query strings, past 16 segments; under every method (and
 * lower-case, unknown and empty ones) and every key kind (and none, which
 * tries the models in turn). Each is enriched plainly and through one
 * cache (twice: the second is a hit of the exact path or of its shape, or
 * a slot another took), and the two events must agree in every field
 * enrichment sets. */
struct paths {
	char **p;
	size_t n, cap;
};

static void add_path(struct paths *ps, const char *p)
{
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? 2 * ps->cap : 256;
		ps->p = realloc(ps->p, ps->cap * sizeof(*ps->p));
		assert_non_null(ps->p);
	}
	ps->p[ps->n] = strdup(p);
	assert_non_null(ps->p[ps->n]);
	ps->n++;
}

/* A path from template t: each {x} becomes fill(k) for the k-th one. */
static void from_template(struct paths *ps, const char *t,
			  const char *const *fills, size_t nfills)
{
	char out[1024];
	size_t o = 0, k = 0;

	for (const char *c = t; *c && o < sizeof(out) - 80; c++) {
		if (*c == '{') {
			const char *f =
				fills[(k++ + rnd_below(nfills)) % nfills];
			size_t fl = strlen(f);

			memcpy(out + o, f, fl);
			o += fl;
			while (*c && *c != '}')
				c++;
			if (!*c)
				break;
			continue;
		}
		out[o++] = *c;
	}
	out[o] = '\0';
	add_path(ps, out);
	/* variations: a query, a doubled slash, a segment more, one less */
	if (o < sizeof(out) - 40) {
		char v[1100];

		snprintf(v, sizeof(v), "%s?expand[]=x#f", out);
		add_path(ps, v);
		snprintf(v, sizeof(v), "/%s//", out);
		add_path(ps, v);
		snprintf(v, sizeof(v), "%s/%s", out, fills[rnd_below(nfills)]);
		add_path(ps, v);
		if (strrchr(out, '/') && strrchr(out, '/') != out) {
			*strrchr(out, '/') = '\0';
			add_path(ps, out);
		}
	}
}

static void test_cache_identical(void **state)
{
	struct fx *fx = *state;
	static const char *const methods[] = {
		"GET",	   "POST", "PUT",  "PATCH",    "DELETE", "HEAD",
		"OPTIONS", "get",  "Post", "PROPFIND", "",	 "GETX",
		"DELETES", "G",	   "GE",   "PO"};
	static const char *const keys[] = {"sk_live_51HxAbCdEf4242",
					   "pk_test_51HxAbCdEf4242",
					   "rk_live_51HxAbCdEf4242",
					   "AKIAIOSFODNN7EXAMPLE",
					   "ASIAIOSFODNN7EXAMPLE",
					   "unknown-key",
					   ""};
	const char *fills[64] = {"cus_NffrFeUfNV2Hib",
				 "12345",
				 "search",
				 "v1",
				 "{id}",
				 "a",
				 "0f8fad5b-d9cb-469f-a165-70867728950e"};
	size_t nfills = 7;
	struct paths ps = {0};
	struct kw_models_cache *c = NULL;
	const char *files[] = {MODELS_DIR "/stripe.json",
			       MODELS_DIR "/aws.json"};
	char deep[200] = "";
	size_t hits = 0;

	rng_state = 0x63616368650aULL;
	for (size_t f = 0; f < 2; f++) {
		json_t *root = json_load_file(files[f], 0, NULL);
		json_t *routes = json_object_get(root, "routes");
		size_t i;
		json_t *r;

		assert_non_null(root);
		/* literals of the model fill placeholders too */
		json_array_foreach(routes, i, r)
		{
			const char *t =
				json_string_value(json_object_get(r, "path"));
			const char *seg = t ? strrchr(t, '/') : NULL;

			if (seg && seg[1] && seg[1] != '{' && nfills < 64)
				fills[nfills++] = strdup(seg + 1);
		}
		json_array_foreach(routes, i, r)
		{
			const char *t =
				json_string_value(json_object_get(r, "path"));

			if (t) {
				add_path(&ps, t);
				from_template(&ps, t, fills, nfills);
				from_template(&ps, t, fills, nfills);
			}
		}
		json_decref(root);
	}
	for (int i = 0; i < 20; i++)
		strcat(deep, "/v1");
	add_path(&ps, deep);
	add_path(&ps, "/");
	add_path(&ps, "?x");
	assert_true(ps.n > 1000);

	assert_int_equal(kw_models_cache_create(fx->m, &c), KW_OK);
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < ps.n; i++) {
			const char *meth = methods[rnd_below(13)];
			const char *key = keys[rnd_below(7)];

			for (int twice = 0; twice < 2; twice++) {
				struct kw_event a = mkev(key, meth, ps.p[i]);
				struct kw_event b = a;

				kw_models_enrich(fx->m, &a, &fx->arena);
				kw_models_enrich_cached(fx->m, c, &b,
							&fx->arena);
				if (!kw_str_eq(a.op, b.op) ||
				    a.info != b.info ||
				    !kw_str_eq(a.resource, b.resource) ||
				    a.access != b.access ||
				    a.flags != b.flags ||
				    a.key_kind != b.key_kind ||
				    a.key_mode != b.key_mode)
					fail_msg("%s %s (key %s): cached "
						 "%.*s, uncached %.*s",
						 meth, ps.p[i], key,
						 (int)b.op.n, b.op.p,
						 (int)a.op.n, a.op.p);
				hits += (a.flags & KW_EV_MODELLED) != 0;
			}
		}
		kw_arena_reset(&fx->arena);
	}
	/* most of these paths are routes: the comparison means something */
	print_message("%zu paths, %zu modelled events\n", ps.n, hits);
	assert_true(hits > ps.n / 4);
	kw_models_cache_destroy(c);
	for (size_t i = 0; i < ps.n; i++)
		free(ps.p[i]);
	free(ps.p);
	for (size_t i = 7; i < nfills; i++)
		free((char *)fills[i]);
	/* a cache made for another model set is not used */
	assert_int_equal(kw_models_cache_create(NULL, &c), KW_OK);
	{
		struct kw_event a = mkev(keys[0], "GET", "/v1/customers/x");
		struct kw_event b = a;

		kw_models_enrich(fx->m, &a, &fx->arena);
		kw_models_enrich_cached(fx->m, c, &b, &fx->arena);
		assert_true(kw_str_eq(a.op, b.op));
	}
	kw_models_cache_destroy(c);
	kw_models_cache_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_prefix_lengths),
		cmocka_unit_test(test_livemode),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_specificity),
		cmocka_unit_test(test_normalise),
		cmocka_unit_test(test_cloudtrail),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_tiers),
		cmocka_unit_test(test_matcher_errors),
		cmocka_unit_test(test_judge),
		cmocka_unit_test(test_counter_errors),
		cmocka_unit_test(test_identity_errors),
		cmocka_unit_test(test_identities),
		cmocka_unit_test(test_people),
		cmocka_unit_test(test_people_errors),
		cmocka_unit_test(test_feeds),
		cmocka_unit_test(test_has_resource),
		cmocka_unit_test(test_request_links),
		cmocka_unit_test(test_decoder_kind),
		cmocka_unit_test(test_enrich_without_models),
		cmocka_unit_test(test_schema_errors),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_duplicate_prefix_across_files),
		cmocka_unit_test(test_custom_model),
		cmocka_unit_test_setup_teardown(test_prefix_buckets, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_identical, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
