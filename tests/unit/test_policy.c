/*
 * test_policy.c - the policy detectors, each through its ops struct as the
 * engine drives it: key.honey, key.expired_used (accepted vs refused),
 * key.client_exposed (Origin, a Mozilla User-Agent, never publishable keys,
 * test mode one step lower), ops.not_permitted (publishable keys, the
 * none/read/write permissions, write implies read, unknown access not
 * judged, sensitive operations critical) and geo.ip_not_allowed (v4, v6,
 * no IP not judged). "enabled": false silences each.
 *
 * The one idea: key entries come from a real kw_keytab (so ids and
 * fingerprints are the table's), the config from kw_config_load_string,
 * and each emitted alert is rendered with kw_alert_to_json and compared
 * field by field as the exact strings a user would read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/time.h"
#include "detect/detector.h"
#include "state/keytab.h"

#define E "\xe2\x80\xa6"

static const uint8_t seed[16] = {1, 2,	3,  4,	5,  6,	7,  8,
				 9, 10, 11, 12, 13, 14, 15, 16};

static const char config_text[] =
	"{\"keys\": ["
	"{\"match\": \"sk_live_*beef\", \"name\": \"decoy\", \"honey\": true},"
	"{\"match\": \"sk_*dead\", \"name\": \"old-backend\", \"expires\": "
	"\"2026-11-01T00:00:00Z\"},"
	"{\"match\": \"rk_*a1b2\", \"name\": \"analytics\", \"permissions\": "
	"{\"charges\": \"read\", \"customers\": \"write\", \"refunds\": "
	"\"none\"}, \"allow_ips\": [\"203.0.113.0/24\", \"2001:db8::/32\"]},"
	"{\"match\": \"pk_live_*z8\", \"name\": \"web\"}"
	"]%s}";

#define HONEY "sk_live_honeyhoneyhoney00beef"
#define OLD "sk_live_oldbackendoldbackenddead"
#define OLD_TEST "sk_test_oldbackendoldbackenddead"
#define SECRET "sk_live_51Habcdefghijklmnop4242"
#define SECRET_TEST "sk_test_51Habcdefghijklmnop4242"
#define RK "rk_live_analyticsanalytics_a1b2"
#define RK_TEST "rk_test_analyticsanalytics_a1b2"
#define PK "pk_live_webwebwebwebwebwebz8"

struct fixture {
	struct kw_config *cfg;
	struct kw_keytab *tab;
	void *self;
	const struct kw_detector_ops *ops;
	json_t *alerts[16];
	size_t n;
};

static void on_alert(void *ctx, struct kw_alert *a)
{
	struct fixture *f = ctx;
	char *json = kw_alert_to_json(a);

	assert_non_null(json);
	assert_true(f->n < 16);
	f->alerts[f->n++] = json_loads(json, 0, NULL);
	free(json);
	kw_alert_clear(a);
}

static void setup_with(struct fixture *f, const struct kw_detector_ops *ops,
		       const char *detectors)
{
	char text[2048];
	struct kw_error err;
	struct kw_detector_env env = {0};

	memset(f, 0, sizeof(*f));
	snprintf(text, sizeof(text), config_text, detectors);
	if (kw_config_load_string(text, "t.json", &f->cfg, &err) != KW_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(kw_detect_check_config(f->cfg, &err), KW_OK);
	assert_int_equal(
		kw_keytab_create_seeded(100, ops->state_size, seed, &f->tab),
		KW_OK);
	env.cfg = f->cfg;
	f->ops = ops;
	assert_int_equal(ops->create(&env, &f->self, &err), KW_OK);
	assert_int_equal(ops->kind, KW_DETECTOR_POLICY);
}

static void teardown_f(struct fixture *f)
{
	for (size_t i = 0; i < f->n; i++)
		json_decref(f->alerts[i]);
	f->ops->destroy(f->self);
	kw_keytab_destroy(f->tab);
	kw_config_free(f->cfg);
}

/* The key's entry, set up as the engine does on insert. */
static struct kw_keyent *key(struct fixture *f, const char *k,
			     enum kw_key_kind kind, enum kw_key_mode mode)
{
	struct kw_keyent *ent = NULL;

	assert_int_equal(kw_keytab_get(f->tab, k, strlen(k), 0, &ent, NULL),
			 KW_OK);
	ent->kind = (uint8_t)kind;
	ent->mode = (uint8_t)mode;
	ent->conf = kw_config_key(f->cfg, k, strlen(k));
	return ent;
}

static int64_t ts(const char *s)
{
	int64_t us = 0;

	assert_true(kw_time_parse(s, strlen(s), &us));
	return us;
}

static struct kw_event event(const char *t, const char *op,
			     const char *resource, enum kw_access access,
			     int status, const char *ip)
{
	struct kw_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.ts = ts(t);
	ev.method = kw_str_c("POST");
	ev.path = kw_str_c("/v1/x");
	ev.op = kw_str_c(op);
	ev.resource = kw_str_c(resource);
	ev.access = access;
	ev.status = status;
	ev.request_id = kw_str_c("req_1");
	ev.livemode = -1;
	if (ip)
		assert_true(kw_ip_parse(&ev.ip, ip, strlen(ip)));
	return ev;
}

static void observe(struct fixture *f, const struct kw_event *ev,
		    struct kw_keyent *ent)
{
	struct kw_emit emit = {.fn = on_alert, .ctx = f};

	f->ops->observe(f->self, ev, ent, kw_keytab_state(ent), &emit);
}

static const char *field(const json_t *a, const char *name)
{
	return json_string_value(json_object_get(a, name));
}

/* A member (object) of the alert as compact JSON, in its order. */
static void assert_member(const json_t *a, const char *name, const char *want)
{
	char *s = json_dumps(json_object_get(a, name),
			     JSON_COMPACT | JSON_PRESERVE_ORDER);

	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
}

/* ---- policy.key ---------------------------------------------------------- */

static void test_honey(void **state)
{
	struct fixture f;
	struct kw_event ev;
	struct kw_keyent *ent;
	const json_t *a;

	(void)state;
	setup_with(&f, &kw_detect_policy_key, "");
	ent = key(&f, HONEY, KW_KIND_SECRET, KW_MODE_LIVE);
	assert_string_equal(ent->id, "sk_live_" E "beef");
	ev = event("2026-11-27T09:14:03Z", "charges.list", "charges",
		   KW_ACCESS_READ, 401, "198.51.100.7");
	ev.user_agent = kw_str_c("curl/8.4.0");
	observe(&f, &ev, ent);
	assert_int_equal(f.n, 1);
	a = f.alerts[0];
	assert_string_equal(field(a, "detector"), "key.honey");
	assert_string_equal(field(a, "severity"), "critical");
	assert_string_equal(field(a, "time"), "2026-11-27T09:14:03Z");
	assert_string_equal(
		field(a, "summary"),
		"decoy key sk_live_" E "beef (decoy) was used from "
		"198.51.100.7 (charges.list): it is planted, never deployed, "
		"so "
		"whoever holds it took it from where it was planted");
	{
		char want[256];

		snprintf(want, sizeof(want),
			 "{\"id\":\"sk_live_" E "beef\",\"fp\":\"%s\",\"kind\":"
			 "\"secret\",\"mode\":\"live\",\"name\":\"decoy\"}",
			 ent->fp);
		assert_member(a, "key", want);
	}
	assert_member(a, "evidence",
		      "{\"ip\":\"198.51.100.7\",\"op\":\"charges.list\","
		      "\"method\":\"POST\",\"path\":\"/v1/x\",\"status\":401,"
		      "\"user_agent\":\"curl/8.4.0\"}");
	assert_member(a, "requests", "[\"req_1\"]");
	assert_member(a, "suppress",
		      "{\"detector\":\"key.honey\",\"key\":\"sk_live_*beef\"}");
	/* Any use, even without an IP or an operation; test mode is not
	 * lowered for a decoy. */
	ev = event("2026-11-27T09:14:04Z", "", "", KW_ACCESS_UNKNOWN, 0, NULL);
	ev.source = kw_str_c("ec2.amazonaws.com");
	observe(&f, &ev, ent);
	assert_int_equal(f.n, 2);
	assert_string_equal(field(f.alerts[1], "summary"),
			    "decoy key sk_live_" E "beef (decoy) was used from "
			    "ec2.amazonaws.com: it is planted, never "
			    "deployed, so whoever holds it took it from where "
			    "it was planted");
	assert_member(f.alerts[1], "evidence",
		      "{\"source\":\"ec2.amazonaws.com\",\"method\":\"POST\","
		      "\"path\":\"/v1/x\"}");
	/* Same key, same subject: the same id. */
	assert_string_equal(field(f.alerts[0], "id"), field(f.alerts[1], "id"));
	ent->mode = KW_MODE_TEST;
	observe(&f, &ev, ent);
	assert_string_equal(field(f.alerts[2], "severity"), "critical");
	/* Not a decoy: nothing. */
	ent = key(&f, SECRET, KW_KIND_SECRET, KW_MODE_LIVE);
	observe(&f, &ev, ent);
	assert_int_equal(f.n, 3);
	teardown_f(&f);
}

static void test_expired(void **state)
{
	struct fixture f;
	struct kw_event ev;
	struct kw_keyent *ent;

	(void)state;
	setup_with(&f, &kw_detect_policy_key, "");
	ent = key(&f, OLD, KW_KIND_SECRET, KW_MODE_LIVE);
	/* Before the expiry: nothing. */
	ev = event("2026-10-31T23:59:59.999999Z", "charges.list", "charges",
		   KW_ACCESS_READ, 200, "198.51.100.7");
	observe(&f, &ev, ent);
	assert_int_equal(f.n, 0);
	/* At it, accepted by the API: critical. */
	ev.ts = ts("2026-11-01T00:00:00Z");
	observe(&f, &ev, ent);
	assert_int_equal(f.n, 1);
	assert_string_equal(field(f.alerts[0], "detector"), "key.expired_used");
	assert_string_equal(field(f.alerts[0], "severity"), "critical");
	assert_string_equal(field(f.alerts[0], "summary"),
			    "sk_live_" E "dead (old-backend) was rolled at "
			    "2026-11-01T00:00:00Z but is still used from "
			    "198.51.100.7 (charges.list, status 200: the API "
			    "still accepts it)");
	assert_member(f.alerts[0], "evidence",
		      "{\"expires\":\"2026-11-01T00:00:00Z\",\"ip\":"
		      "\"198.51.100.7\",\"op\":\"charges.list\",\"method\":"
		      "\"POST\",\"path\":\"/v1/x\",\"status\":200,\"accepted\":"
		      "true}");
	assert_member(f.alerts[0], "suppress",
		      "{\"detector\":\"key.expired_used\",\"key\":"
		      "\"sk_live_*dead\"}");
	/* Refused: high. */
	ev.status = 401;
	observe(&f, &ev, ent);
	assert_string_equal(field(f.alerts[1], "severity"), "high");
	assert_string_equal(field(f.alerts[1], "summary"),
			    "sk_live_" E "dead (old-backend) was rolled at "
			    "2026-11-01T00:00:00Z but is still used from "
			    "198.51.100.7 (charges.list, status 401)");
	assert_member(f.alerts[1], "evidence",
		      "{\"expires\":\"2026-11-01T00:00:00Z\",\"ip\":"
		      "\"198.51.100.7\",\"op\":\"charges.list\",\"method\":"
		      "\"POST\",\"path\":\"/v1/x\",\"status\":401,\"accepted\":"
		      "false}");
	/* Test mode: one step lower each. */
	ent = key(&f, OLD_TEST, KW_KIND_SECRET, KW_MODE_TEST);
	ev.status = 200;
	observe(&f, &ev, ent);
	assert_string_equal(field(f.alerts[2], "severity"), "high");
	ev.status = 403;
	observe(&f, &ev, ent);
	assert_string_equal(field(f.alerts[3], "severity"), "medium");
	assert_int_equal(f.n, 4);
	teardown_f(&f);
}

static void test_client_exposed(void **state)
{
	struct fixture f;
	struct kw_event ev;
	struct kw_keyent *sk, *skt, *rk, *pk, *unk;

	(void)state;
	setup_with(&f, &kw_detect_policy_key, "");
	sk = key(&f, SECRET, KW_KIND_SECRET, KW_MODE_LIVE);
	skt = key(&f, SECRET_TEST, KW_KIND_SECRET, KW_MODE_TEST);
	rk = key(&f, RK, KW_KIND_RESTRICTED, KW_MODE_LIVE);
	pk = key(&f, PK, KW_KIND_PUBLISHABLE, KW_MODE_LIVE);
	unk = key(&f, "zz_someotherkeyvalue1234", KW_KIND_UNKNOWN,
		  KW_MODE_UNKNOWN);
	ev = event("2026-11-27T09:14:03Z", "charges.list", "charges",
		   KW_ACCESS_READ, 200, "203.0.113.9");
	/* Not from a browser. */
	ev.user_agent = kw_str_c("Stripe/v1 RubyBindings/5.0");
	observe(&f, &ev, sk);
	ev.user_agent = kw_str_c("curl/8.4.0 Mozilla/5.0");
	observe(&f, &ev, sk);
	assert_int_equal(f.n, 0);
	/* An Origin header. */
	ev.origin = kw_str_c("https://shop.example");
	observe(&f, &ev, sk);
	assert_int_equal(f.n, 1);
	assert_string_equal(field(f.alerts[0], "detector"),
			    "key.client_exposed");
	assert_string_equal(field(f.alerts[0], "severity"), "high");
	assert_string_equal(field(f.alerts[0], "summary"),
			    "secret key sk_live_" E
			    "4242 was sent by a browser "
			    "from origin https://shop.example: a secret key "
			    "belongs on servers only; roll it");
	assert_member(
		f.alerts[0], "evidence",
		"{\"origin\":\"https://shop.example\",\"user_agent\":"
		"\"curl/8.4.0 Mozilla/5.0\",\"ip\":\"203.0.113.9\",\"op\":"
		"\"charges.list\",\"method\":\"POST\",\"path\":\"/v1/x\","
		"\"status\":200}");
	/* A browser User-Agent alone. */
	ev.origin = KW_STR_NULL;
	ev.user_agent = kw_str_c("Mozilla/5.0 (X11; Linux x86_64)");
	observe(&f, &ev, rk);
	assert_int_equal(f.n, 2);
	assert_string_equal(field(f.alerts[1], "summary"),
			    "restricted key rk_live_" E "a1b2 (analytics) was "
			    "sent by a browser: a restricted key belongs on "
			    "servers only; roll it");
	/* The same subject for both triggers: one id per key. */
	observe(&f, &ev, sk);
	assert_string_equal(field(f.alerts[2], "id"), field(f.alerts[0], "id"));
	/* Test mode: one step lower. */
	observe(&f, &ev, skt);
	assert_string_equal(field(f.alerts[3], "severity"), "medium");
	/* Publishable and unknown keys: never. */
	ev.origin = kw_str_c("https://shop.example");
	observe(&f, &ev, pk);
	observe(&f, &ev, unk);
	assert_int_equal(f.n, 4);
	teardown_f(&f);
}

static void test_key_disabled(void **state)
{
	struct fixture f;
	struct kw_event ev;

	(void)state;
	setup_with(&f, &kw_detect_policy_key,
		   ", \"detectors\": {\"key.honey\": {\"enabled\": false}, "
		   "\"key.expired_used\": {\"enabled\": false}, "
		   "\"key.client_exposed\": {\"enabled\": false}}");
	ev = event("2026-11-27T09:14:03Z", "charges.list", "charges",
		   KW_ACCESS_READ, 200, "203.0.113.9");
	ev.origin = kw_str_c("https://shop.example");
	observe(&f, &ev, key(&f, HONEY, KW_KIND_SECRET, KW_MODE_LIVE));
	observe(&f, &ev, key(&f, OLD, KW_KIND_SECRET, KW_MODE_LIVE));
	assert_int_equal(f.n, 0);
	teardown_f(&f);
	/* One off, the others on. */
	setup_with(&f, &kw_detect_policy_key,
		   ", \"detectors\": {\"key.client_exposed\": {\"enabled\": "
		   "false}}");
	observe(&f, &ev, key(&f, HONEY, KW_KIND_SECRET, KW_MODE_LIVE));
	assert_int_equal(f.n, 1);
	assert_string_equal(field(f.alerts[0], "detector"), "key.honey");
	teardown_f(&f);
}

/* ---- policy.ops ---------------------------------------------------------- */

static void test_ops_publishable(void **state)
{
	struct fixture f;
	struct kw_event ev;
	struct kw_keyent *pk;

	(void)state;
	setup_with(&f, &kw_detect_policy_ops, "");
	pk = key(&f, PK, KW_KIND_PUBLISHABLE, KW_MODE_LIVE);
	assert_string_equal(pk->id, "pk_live_" E "ebz8");
	ev = event("2026-11-27T09:14:03Z", "tokens.create", "tokens",
		   KW_ACCESS_WRITE, 200, "203.0.113.9");
	ev.flags = KW_EV_PK_ALLOWED | KW_EV_MODELLED;
	observe(&f, &ev, pk);
	assert_int_equal(f.n, 0);
	ev = event("2026-11-27T09:14:03Z", "customers.list", "customers",
		   KW_ACCESS_READ, 200, "203.0.113.9");
	observe(&f, &ev, pk);
	assert_int_equal(f.n, 1);
	assert_string_equal(field(f.alerts[0], "detector"),
			    "ops.not_permitted");
	assert_string_equal(field(f.alerts[0], "severity"), "critical");
	assert_string_equal(field(f.alerts[0], "summary"),
			    "publishable key pk_live_" E "ebz8 (web) called "
			    "customers.list, which a publishable key may not "
			    "do, and the API allowed it");
	assert_member(f.alerts[0], "evidence",
		      "{\"op\":\"customers.list\",\"resource\":\"customers\","
		      "\"access\":\"read\",\"method\":\"POST\",\"path\":"
		      "\"/v1/x\",\"status\":200,\"refused\":false,\"ip\":"
		      "\"203.0.113.9\",\"permission\":\"publishable key\"}");
	assert_member(f.alerts[0], "suppress",
		      "{\"detector\":\"ops.not_permitted\",\"key\":\"pk_live_*"
		      "ebz8\",\"op\":\"customers.list\"}");
	ev.status = 401;
	observe(&f, &ev, pk);
	assert_string_equal(field(f.alerts[1], "severity"), "high");
	assert_string_equal(field(f.alerts[1], "summary"),
			    "publishable key pk_live_" E "ebz8 (web) called "
			    "customers.list, which a publishable key may not "
			    "do, refused by the API");
	/* Same op: same id; no status: no outcome. */
	assert_string_equal(field(f.alerts[1], "id"), field(f.alerts[0], "id"));
	ev.status = 0;
	ev.access = KW_ACCESS_UNKNOWN;
	observe(&f, &ev, pk);
	assert_string_equal(field(f.alerts[2], "summary"),
			    "publishable key pk_live_" E "ebz8 (web) called "
			    "customers.list, which a publishable key may not "
			    "do");
	/* No operation: not judged. */
	ev.op = KW_STR_NULL;
	observe(&f, &ev, pk);
	assert_int_equal(f.n, 3);
	teardown_f(&f);
}

static void test_ops_permissions(void **state)
{
	struct fixture f;
	struct kw_event ev;
	struct kw_keyent *rk, *rkt, *sk;

	(void)state;
	setup_with(&f, &kw_detect_policy_ops, "");
	rk = key(&f, RK, KW_KIND_RESTRICTED, KW_MODE_LIVE);
	rkt = key(&f, RK_TEST, KW_KIND_RESTRICTED, KW_MODE_TEST);
	sk = key(&f, SECRET, KW_KIND_SECRET, KW_MODE_LIVE);
	/* read on read; read on write (write implies read). */
	ev = event("2026-11-27T09:14:03Z", "charges.list", "charges",
		   KW_ACCESS_READ, 200, NULL);
	observe(&f, &ev, rk);
	ev = event("2026-11-27T09:14:03Z", "customers.retrieve", "customers",
		   KW_ACCESS_READ, 200, NULL);
	observe(&f, &ev, rk);
	ev = event("2026-11-27T09:14:03Z", "customers.update", "customers",
		   KW_ACCESS_WRITE, 200, NULL);
	observe(&f, &ev, rk);
	/* Unknown access is not judged; a key without permissions neither. */
	ev = event("2026-11-27T09:14:03Z", "refunds.create", "refunds",
		   KW_ACCESS_UNKNOWN, 200, NULL);
	observe(&f, &ev, rk);
	ev = event("2026-11-27T09:14:03Z", "refunds.create", "refunds",
		   KW_ACCESS_WRITE, 200, NULL);
	observe(&f, &ev, sk);
	assert_int_equal(f.n, 0);

	/* write on read. */
	ev = event("2026-11-27T09:14:03Z", "charges.create", "charges",
		   KW_ACCESS_WRITE, 200, "203.0.113.9");
	observe(&f, &ev, rk);
	assert_int_equal(f.n, 1);
	assert_string_equal(field(f.alerts[0], "severity"), "high");
	assert_string_equal(field(f.alerts[0], "summary"),
			    "rk_live_" E "a1b2 (analytics) called "
			    "charges.create, which needs write on charges; its "
			    "permissions grant read, and the API allowed it");
	assert_member(f.alerts[0], "evidence",
		      "{\"op\":\"charges.create\",\"resource\":\"charges\","
		      "\"access\":\"write\",\"method\":\"POST\",\"path\":"
		      "\"/v1/x\",\"status\":200,\"refused\":false,\"ip\":"
		      "\"203.0.113.9\",\"granted\":\"read\"}");
	assert_member(f.alerts[0], "suppress",
		      "{\"detector\":\"ops.not_permitted\",\"key\":"
		      "\"rk_live_*a1b2\",\"op\":\"charges.create\"}");
	/* read on none, and on a resource not listed (none). */
	ev = event("2026-11-27T09:14:03Z", "refunds.list", "refunds",
		   KW_ACCESS_READ, 403, NULL);
	observe(&f, &ev, rk);
	assert_string_equal(
		field(f.alerts[1], "summary"),
		"rk_live_" E "a1b2 (analytics) called refunds.list, "
		"which needs read on refunds; its permissions grant "
		"none, refused by the API");
	assert_member(f.alerts[1], "evidence",
		      "{\"op\":\"refunds.list\",\"resource\":\"refunds\","
		      "\"access\":\"read\",\"method\":\"POST\",\"path\":"
		      "\"/v1/x\",\"status\":403,\"refused\":true,\"granted\":"
		      "\"none\"}");
	ev = event("2026-11-27T09:14:03Z", "balance.retrieve", "balance",
		   KW_ACCESS_READ, 200, NULL);
	observe(&f, &ev, rk);
	assert_string_equal(field(f.alerts[2], "severity"), "high");
	assert_int_equal(f.n, 3);
	/* Sensitive: critical; test mode one lower. */
	ev = event("2026-11-27T09:14:03Z", "payouts.create", "payouts",
		   KW_ACCESS_WRITE, 200, NULL);
	ev.flags = KW_EV_SENSITIVE;
	observe(&f, &ev, rk);
	assert_string_equal(field(f.alerts[3], "severity"), "critical");
	observe(&f, &ev, rkt);
	assert_string_equal(field(f.alerts[4], "severity"), "high");
	ev.flags = 0;
	observe(&f, &ev, rkt);
	assert_string_equal(field(f.alerts[5], "severity"), "medium");
	/* Different ops, different ids. */
	assert_string_not_equal(field(f.alerts[0], "id"),
				field(f.alerts[1], "id"));
	assert_int_equal(f.n, 6);
	teardown_f(&f);

	setup_with(&f, &kw_detect_policy_ops,
		   ", \"detectors\": {\"ops.not_permitted\": {\"enabled\": "
		   "false}}");
	ev = event("2026-11-27T09:14:03Z", "payouts.create", "payouts",
		   KW_ACCESS_WRITE, 200, NULL);
	observe(&f, &ev, key(&f, RK, KW_KIND_RESTRICTED, KW_MODE_LIVE));
	observe(&f, &ev, key(&f, PK, KW_KIND_PUBLISHABLE, KW_MODE_LIVE));
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

/* ---- policy.ip ----------------------------------------------------------- */

static void test_ip_not_allowed(void **state)
{
	struct fixture f;
	struct kw_event ev;
	struct kw_keyent *rk, *rkt, *sk;

	(void)state;
	setup_with(&f, &kw_detect_policy_ip, "");
	rk = key(&f, RK, KW_KIND_RESTRICTED, KW_MODE_LIVE);
	rkt = key(&f, RK_TEST, KW_KIND_RESTRICTED, KW_MODE_TEST);
	sk = key(&f, SECRET, KW_KIND_SECRET, KW_MODE_LIVE);
	ev = event("2026-11-27T09:14:03Z", "charges.list", "charges",
		   KW_ACCESS_READ, 200, "203.0.113.255");
	observe(&f, &ev, rk);
	ev = event("2026-11-27T09:14:03Z", "charges.list", "charges",
		   KW_ACCESS_READ, 200, "2001:db8:ffff::1");
	observe(&f, &ev, rk);
	/* No IP: not judged. No allowlist: not judged. */
	ev = event("2026-11-27T09:14:03Z", "charges.list", "charges",
		   KW_ACCESS_READ, 200, NULL);
	ev.source = kw_str_c("ec2.amazonaws.com");
	observe(&f, &ev, rk);
	ev = event("2026-11-27T09:14:03Z", "charges.list", "charges",
		   KW_ACCESS_READ, 200, "198.51.100.7");
	observe(&f, &ev, sk);
	assert_int_equal(f.n, 0);

	ev.user_agent = kw_str_c("python-requests/2.31");
	observe(&f, &ev, rk);
	assert_int_equal(f.n, 1);
	assert_string_equal(field(f.alerts[0], "detector"),
			    "geo.ip_not_allowed");
	assert_string_equal(field(f.alerts[0], "severity"), "high");
	assert_string_equal(field(f.alerts[0], "summary"),
			    "rk_live_" E "a1b2 (analytics) was used from "
			    "198.51.100.7, outside its allowed networks "
			    "(charges.list, status 200)");
	assert_member(
		f.alerts[0], "evidence",
		"{\"ip\":\"198.51.100.7\",\"allow_ips\":[\"203.0.113.0/"
		"24\",\"2001:db8::/32\"],\"op\":\"charges.list\","
		"\"status\":200,\"user_agent\":\"python-requests/2.31\"}");
	assert_member(f.alerts[0], "suppress",
		      "{\"detector\":\"geo.ip_not_allowed\",\"key\":"
		      "\"rk_live_*a1b2\",\"ip\":\"198.51.100.7\"}");
	/* v6 outside; v4 just outside the /24. */
	ev = event("2026-11-27T09:14:03Z", "charges.list", "charges",
		   KW_ACCESS_READ, 0, "2001:db9::1");
	observe(&f, &ev, rk);
	assert_string_equal(field(f.alerts[1], "summary"),
			    "rk_live_" E "a1b2 (analytics) was used from "
			    "2001:db9::1, outside its allowed networks "
			    "(charges.list, status 0)");
	assert_member(f.alerts[1], "evidence",
		      "{\"ip\":\"2001:db9::1\",\"allow_ips\":[\"203.0.113.0/"
		      "24\",\"2001:db8::/32\"],\"op\":\"charges.list\"}");
	ev = event("2026-11-27T09:14:03Z", "charges.list", "charges",
		   KW_ACCESS_READ, 200, "203.0.114.0");
	observe(&f, &ev, rk);
	assert_int_equal(f.n, 3);
	/* Each IP its own id. */
	assert_string_not_equal(field(f.alerts[1], "id"),
				field(f.alerts[2], "id"));
	/* Test mode: medium. */
	observe(&f, &ev, rkt);
	assert_string_equal(field(f.alerts[3], "severity"), "medium");
	teardown_f(&f);

	setup_with(&f, &kw_detect_policy_ip,
		   ", \"detectors\": {\"geo.ip_not_allowed\": {\"enabled\": "
		   "false}}");
	observe(&f, &ev, key(&f, RK, KW_KIND_RESTRICTED, KW_MODE_LIVE));
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

/* The last touches before the router: a link per request id from the
 * key's model (a region filled in, values percent-encoded), the config's
 * links.request over it, none when the template needs a region the alert
 * lacks; the key's runbook over the detector's. */
static void test_finish_alert(void **state)
{
	struct kw_models *models = NULL;
	struct kw_config *cfg = NULL;
	struct kw_error err;
	struct kw_alert a;
	struct kw_alert_key k = {.kind = KW_KIND_SECRET, .mode = KW_MODE_TEST};
	char *json;

	(void)state;
	assert_int_equal(kw_models_load(KW_SOURCE_ROOT "/models", NULL, 0,
					&models, &err),
			 KW_OK);
	assert_int_equal(
		kw_config_load_string(
			"{\"detectors\": {\"key.honey\": {\"runbook_url\": "
			"\"https://wiki.example/honey\"}}}",
			"t.json", &cfg, &err),
		KW_OK);
	snprintf(k.id, sizeof(k.id),
		 "sk_test_\xe2\x80\xa6"
		 "4242");
	assert_int_equal(kw_alert_init(&a, "key.honey", KW_SEV_HIGH, 0, &k),
			 KW_OK);
	kw_alert_add_request(&a, kw_str_c("req_1"));
	kw_alert_add_request(&a, kw_str_c("req 2/x"));
	kw_detect_finish_alert(&a, cfg, models);
	json = kw_alert_to_json(&a);
	assert_non_null(strstr(
		json,
		"\"links\":[{\"request\":\"req_1\",\"url\":"
		"\"https://dashboard.stripe.com/test/logs/req_1\"},{"
		"\"request\":\"req 2/x\",\"url\":"
		"\"https://dashboard.stripe.com/test/logs/req%202%2Fx\"}],"
		"\"runbook_url\":\"https://wiki.example/honey\""));
	free(json);
	kw_alert_clear(&a);

	/* AWS: the region comes from the evidence; without one, no link. */
	snprintf(k.id, sizeof(k.id),
		 "AKIA\xe2\x80\xa6"
		 "Y0BE");
	assert_int_equal(kw_alert_init(&a, "key.honey", KW_SEV_HIGH, 0, &k),
			 KW_OK);
	snprintf(a.runbook, sizeof(a.runbook), "https://wiki.example/key");
	kw_alert_add_request(&a, kw_str_c("e-1"));
	kw_detect_finish_alert(&a, cfg, models);
	assert_null(kw_alert_link(&a, "e-1"));
	assert_string_equal(a.runbook, "https://wiki.example/key");
	kw_alert_evidence_str(&a, "region", kw_str_c("eu-west-1"));
	kw_detect_finish_alert(&a, cfg, models);
	assert_string_equal(kw_alert_link(&a, "e-1"),
			    "https://console.aws.amazon.com/cloudtrail/home?"
			    "region=eu-west-1#/events/e-1");
	kw_alert_clear(&a);
	kw_config_free(cfg);

	/* One's own gateway: the config's template for every key. */
	assert_int_equal(
		kw_config_load_string(
			"{\"links\": {\"request\": "
			"\"https://gw.example/logs?id={request_id}\"}}",
			"t.json", &cfg, &err),
		KW_OK);
	assert_int_equal(kw_alert_init(&a, "key.honey", KW_SEV_HIGH, 0, &k),
			 KW_OK);
	kw_alert_add_request(&a, kw_str_c("e-1"));
	kw_detect_finish_alert(&a, cfg, models);
	assert_string_equal(kw_alert_link(&a, "e-1"),
			    "https://gw.example/logs?id=e-1");
	assert_string_equal(a.runbook, "");
	kw_alert_clear(&a);
	kw_config_free(cfg);
	kw_models_destroy(models);
}

static void test_registry(void **state)
{
	const struct kw_detector_ops *const *all = kw_detect_all();
	struct kw_config *cfg = NULL;
	struct kw_error err;

	(void)state;
	assert_ptr_equal(all[0], &kw_detect_policy_key);
	assert_ptr_equal(all[1], &kw_detect_policy_ops);
	assert_ptr_equal(all[2], &kw_detect_policy_ip);
	assert_int_equal(
		kw_config_load_string("{\"detectors\": {\"key.hony\": {}}}",
				      "t.json", &cfg, &err),
		KW_OK);
	assert_int_equal(kw_detect_check_config(cfg, &err), KW_ECONFIG);
	assert_string_equal(err.msg, "t.json: detectors: unknown detector "
				     "'key.hony' (did you mean 'key.honey'?)");
	kw_config_free(cfg);
	assert_int_equal(kw_config_load_string(
				 "{\"detectors\": {\"key.honey\": {\"enabld\": "
				 "false}}}",
				 "t.json", &cfg, &err),
			 KW_OK);
	assert_int_equal(kw_detect_check_config(cfg, &err), KW_ECONFIG);
	assert_string_equal(err.msg, "t.json: detectors.key.honey: unknown key "
				     "'enabld' (did you mean 'enabled'?)");
	kw_config_free(cfg);
	/* A planned detector may be switched off already. */
	assert_int_equal(
		kw_config_load_string(
			"{\"detectors\": {\"geo.new_ip\": {\"enabled\": "
			"false}}}",
			"t.json", &cfg, &err),
		KW_OK);
	assert_int_equal(kw_detect_check_config(cfg, &err), KW_OK);
	assert_false(kw_detect_enabled(cfg, "geo.new_ip"));
	assert_true(kw_detect_enabled(cfg, "key.honey"));
	kw_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_honey),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_client_exposed),
		cmocka_unit_test(test_key_disabled),
		cmocka_unit_test(test_ops_publishable),
		cmocka_unit_test(test_ops_permissions),
		cmocka_unit_test(test_ip_not_allowed),
		cmocka_unit_test(test_finish_alert),
		cmocka_unit_test(test_registry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
