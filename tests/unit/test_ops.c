/*
 * test_ops.c - ops.first_seen and ops.sensitive through their ops struct,
 * with events enriched by the real Stripe model: a new operation after the
 * learning period is ops.first_seen (low, once); during the learning
 * period it is learnt silently; a sensitive operation is ops.sensitive
 * even during the learning period (low on the key's first day, medium
 * after, high once learnt, low when refused; one step lower for test
 * keys); a bulk read is the key's habit while it learns and
 * low after; the filter remembers 32 operations without a false "seen";
 * "enabled": false silences each. The state: a list of eight, then the
 * filter (the overflow part); what validate() refuses, with its reason;
 * and version 1 of a state file carried over by upgrade().
 *
 * AWS operations are judged by their tier: never-routine ones at the
 * model's fixed severity every time, refused at least medium;
 * first-sight ones medium while the key learns and high after; a refusal
 * drops one step, any other failure is low, a call made by an AWS
 * service on the user's behalf drops one step.
 *
 * The one idea: events go through kw_models_enrich exactly as in the
 * engine, so operation names, sensitivity and the model's reasons are the
 * ones a user sees.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define FIXTURE_MAX_ALERTS 64
#include "detect_fixture.h"

#include "core/arena.h"
#include "core/time.h"
#include "detect/detector.h"
#include "enrich/model.h"
#include "state/keytab.h"

#define E "\xe2\x80\xa6"
#define HOUR (INT64_C(3600) * 1000000)
#define KEY "sk_live_51Habcdefghijklmnop4242"
#define KEY_TEST "sk_test_51Habcdefghijklmnop4242"

static void setup_cfg(struct fixture *f, const char *config)
{
	fixture_setup(f, &kw_detect_ops, config, true);
}

/* One request of key k, h hours after t0. */
static void request(struct fixture *f, const char *k, double h,
		    const char *method, const char *path, int status)
{
	struct kw_emit emit = {.fn = on_alert, .ctx = f};
	struct kw_keyent *ent = NULL;
	struct kw_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.ts = f->t0 + (int64_t)(h * (double)HOUR);
	ev.key = kw_str_c(k);
	ev.method = kw_str_c(method);
	ev.path = kw_str_c(path);
	ev.status = status;
	ev.request_id = kw_str_c("req_9");
	assert_true(kw_ip_parse(&ev.ip, "192.0.2.7", 9));
	kw_models_enrich(f->models, &ev, &f->arena);
	assert_int_equal(kw_keytab_get(f->tab, k, strlen(k), ev.ts, &ent, NULL),
			 KW_OK);
	ent->kind = KW_KIND_SECRET;
	ent->mode = (uint8_t)ev.key_mode;
	kw_detect_ops.observe(f->self, &ev, ent, kw_keytab_state(ent), &emit);
}

/* One CloudTrail call of key k, h hours after t0: op as the decoder
 * writes it, status, and (when not NULL) the service that made it. */
static void call(struct fixture *f, const char *k, double h, const char *op,
		 int status, const char *invoked_by)
{
	struct kw_emit emit = {.fn = on_alert, .ctx = f};
	struct kw_event_cloud cloud;
	struct kw_keyent *ent = NULL;
	struct kw_event ev;
	char opbuf[128];

	memset(&ev, 0, sizeof(ev));
	memset(&cloud, 0, sizeof(cloud));
	snprintf(opbuf, sizeof(opbuf), "%s", op);
	ev.ts = f->t0 + (int64_t)(h * (double)HOUR);
	ev.key = kw_str_c(k);
	ev.op = kw_str_c(opbuf);
	ev.status = status;
	ev.request_id = kw_str_c("e-1");
	ev.livemode = -1;
	cloud.invoked_by = kw_str_c(invoked_by);
	ev.cloud = &cloud;
	assert_true(kw_ip_parse(&ev.ip, "198.51.100.7", 12));
	kw_models_enrich(f->models, &ev, &f->arena);
	assert_int_equal(kw_keytab_get(f->tab, k, strlen(k), ev.ts, &ent, NULL),
			 KW_OK);
	ent->kind = (uint8_t)ev.key_kind;
	kw_detect_ops.observe(f->self, &ev, ent, kw_keytab_state(ent), &emit);
}

#define AK "AKIAIOSFODNN7EXAMPLE"
#define AK2 "AKIAI44QH8DHBEXAMPLE"

static void test_never_routine(void **state)
{
	struct fixture f;
	const json_t *a;

	(void)state;
	setup_cfg(&f, "{}");
	/* The key's very first request: the fixed severity, every time. */
	call(&f, AK, 0, "cloudtrail:StopLogging", 200, NULL);
	call(&f, AK, 0.5, "cloudtrail:StopLogging", 200, NULL);
	call(&f, AK, 1, "ec2:DeleteFlowLogs", 200, NULL);
	/* Refused: one step down, never below medium. */
	call(&f, AK, 2, "organizations:LeaveOrganization", 403, NULL);
	call(&f, AK, 3, "route53resolver:DeleteResolverQueryLogConfig", 403,
	     NULL);
	/* Any other failure: nothing happened. */
	call(&f, AK, 4, "ec2:EnableSerialConsoleAccess", 400, NULL);
	/* Made by a service on the user's behalf: one step down. */
	call(&f, AK, 5, "cloudtrail:DeleteTrail", 200,
	     "cloudformation.amazonaws.com");
	assert_int_equal(f.n, 7);
	a = f.alerts[0];
	assert_string_equal(field(a, "detector"), "ops.sensitive");
	assert_string_equal(field(a, "severity"), "critical");
	assert_string_equal(field(a, "summary"),
			    "AKIA" E "MPLE performed cloudtrail:StopLogging: "
			    "stops audit logging: what happens next is not "
			    "recorded (never routine)");
	assert_member(a, "evidence",
		      "{\"op\":\"cloudtrail:StopLogging\",\"access\":"
		      "\"write\",\"status\":200,\"ip\":\"198.51.100.7\","
		      "\"sensitive\":"
		      "\"stops audit logging: what happens next is not "
		      "recorded\",\"tier\":\"never-routine\",\"tactic\":"
		      "\"defense-evasion\",\"known_ops\":1,"
		      "\"learned_since\":\"2026-11-16T00:00:00Z\"}");
	assert_string_equal(field(f.alerts[1], "severity"), "critical");
	assert_string_equal(field(f.alerts[1], "id"), field(a, "id"));
	assert_string_equal(field(f.alerts[2], "severity"), "high");
	assert_string_equal(field(f.alerts[3], "severity"), "high");
	assert_string_equal(field(f.alerts[3], "summary"),
			    "AKIA" E "MPLE performed "
			    "organizations:LeaveOrganization (refused by the "
			    "API): takes the account out of its organisation "
			    "and its guardrails (never routine)");
	assert_string_equal(field(f.alerts[4], "severity"), "medium");
	assert_string_equal(field(f.alerts[5], "severity"), "low");
	assert_string_equal(field(f.alerts[5], "summary"),
			    "AKIA" E "MPLE performed "
			    "ec2:EnableSerialConsoleAccess (failed): opens the "
			    "serial console of every instance of the account "
			    "(never routine)");
	a = f.alerts[6];
	assert_string_equal(field(a, "severity"), "high");
	assert_string_equal(field(a, "summary"),
			    "AKIA" E "MPLE performed cloudtrail:DeleteTrail "
			    "(through cloudformation.amazonaws.com): deletes "
			    "an audit trail: what happens next is not recorded "
			    "(never routine)");
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(a, "evidence"), "invoked_by")),
		"cloudformation.amazonaws.com");
	teardown_f(&f);
}

static void test_first_sight(void **state)
{
	struct fixture f;
	const json_t *a;

	(void)state;
	setup_cfg(&f, "{}");
	/* Medium on first sight, even on the key's first day, once. */
	call(&f, AK, 0, "ssm:SendCommand", 200, NULL);
	call(&f, AK, 0.1, "ssm:SendCommand", 200, NULL);
	/* Refused while learning: low. */
	call(&f, AK, 1, "ec2:GetPasswordData", 403, NULL);
	/* Learnt that it never does this: high. */
	call(&f, AK, 80, "lambda:UpdateFunctionCode20150331v2", 200, NULL);
	/* Routine: the key's first day is its routine work. */
	call(&f, AK2, 0, "kms:Decrypt", 200, NULL);
	call(&f, AK2, 30, "secretsmanager:GetSecretValue", 200, NULL);
	assert_int_equal(f.n, 5);
	a = f.alerts[0];
	assert_string_equal(field(a, "severity"), "medium");
	assert_string_equal(field(a, "summary"),
			    "AKIA" E "MPLE performed the sensitive operation "
			    "ssm:SendCommand for the first time");
	assert_member(
		a, "evidence",
		"{\"op\":\"ssm:SendCommand\",\"access\":\"write\","
		"\"status\":200,\"ip\":\"198.51.100.7\",\"sensitive\":\"runs "
		"commands on instances\",\"tier\":\"first-sight\","
		"\"tactic\":\"execution\",\"known_ops\":1,"
		"\"learned_since\":\"2026-11-16T00:00:00Z\"}");
	assert_string_equal(field(f.alerts[1], "severity"), "low");
	assert_string_equal(field(f.alerts[2], "severity"), "high");
	assert_string_equal(field(f.alerts[2], "summary"),
			    "AKIA" E "MPLE performed the sensitive operation "
			    "lambda:UpdateFunctionCode for the first time");
	assert_string_equal(field(f.alerts[3], "severity"), "low");
	assert_string_equal(field(f.alerts[4], "severity"), "medium");
	teardown_f(&f);
}

/* One CloudTrail call of the role session key k acting as identity (the
 * userIdentity object's text), h hours after t0, judged by the models as
 * the engine judges it. */
static void call_as(struct fixture *f, const char *k, double h, const char *op,
		    const char *identity)
{
	struct kw_emit emit = {.fn = on_alert, .ctx = f};
	struct kw_judge_env env = {NULL, 0};
	struct kw_event_cloud cloud;
	struct kw_keyent *ent = NULL;
	struct kw_verdict v;
	struct kw_event ev;

	memset(&ev, 0, sizeof(ev));
	memset(&cloud, 0, sizeof(cloud));
	ev.ts = f->t0 + (int64_t)(h * (double)HOUR);
	ev.key = kw_str_c(k);
	ev.op = kw_str_c(op);
	ev.status = 200;
	ev.request_id = kw_str_c("e-2");
	ev.livemode = -1;
	cloud.identity = kw_str_c(identity);
	cloud.account = kw_str_c("111122223333");
	ev.cloud = &cloud;
	assert_true(kw_ip_parse(&ev.ip, "198.51.100.8", 12));
	kw_models_enrich(f->models, &ev, &f->arena);
	if (ev.flags & KW_EV_JUDGE) {
		kw_models_judge(f->models, &ev, &env, &v);
		ev.verdict = &v;
	}
	assert_int_equal(kw_keytab_get(f->tab, k, strlen(k), ev.ts, &ent, NULL),
			 KW_OK);
	ent->kind = (uint8_t)ev.key_kind;
	kw_detect_ops.observe(f->self, &ev, ent, kw_keytab_state(ent), &emit);
}

/* A person signed in (the AWS model's "people": IAM Identity Center)
 * is judged as a person's work: first-sight and routine uses one step
 * down and never raised because a learnt key has not done them before;
 * what hides an attacker stays what it is. The same calls by a role
 * that is not a person keep their severity. A service acting for the key
 * is judged the same way. */
static void test_person(void **state)
{
	static const char sso[] =
		"{\"type\":\"AssumedRole\",\"sessionContext\":{"
		"\"sessionIssuer\":{\"arn\":\"arn:aws:iam::111122223333:role/"
		"aws-reserved/sso.amazonaws.com/eu-west-1/"
		"AWSReservedSSO_Admin_0123\"},\"attributes\":{"
		"\"mfaAuthenticated\":\"false\"}}}";
	static const char mfa[] =
		"{\"type\":\"AssumedRole\",\"sessionContext\":{"
		"\"sessionIssuer\":{\"arn\":\"arn:aws:iam::111122223333:role/"
		"ops\"},\"attributes\":{\"mfaAuthenticated\":\"true\"}}}";
	static const char ci[] =
		"{\"type\":\"AssumedRole\",\"sessionContext\":{"
		"\"sessionIssuer\":{\"arn\":\"arn:aws:iam::111122223333:role/"
		"deploy\"},\"attributes\":{\"mfaAuthenticated\":\"false\"}}}";
	struct fixture f;
	const json_t *a;

	(void)state;
	setup_cfg(&f, "{}");
	call_as(&f, AK, 0, "iam:CreateUser", sso);
	call_as(&f, AK, 80, "ssm:StartSession", sso);
	call_as(&f, AK, 81, "kms:Decrypt", sso);
	call_as(&f, AK, 82, "cloudtrail:StopLogging", sso);
	call_as(&f, AK2, 0, "ssm:SendCommand", mfa);
	call_as(&f, "AKIAJ55QH8DHBEXAMPLE", 0, "iam:CreateUser", ci);
	call_as(&f, "AKIAJ55QH8DHBEXAMPLE", 80, "ssm:StartSession", ci);
	assert_int_equal(f.n, 7);
	a = f.alerts[0];
	assert_string_equal(field(a, "severity"), "low");
	assert_string_equal(
		field(a, "summary"),
		"AKIA" E "MPLE performed the sensitive operation "
		"iam:CreateUser for the first time: a person signed in "
		"through IAM Identity Center (the organisation's sign-in and "
		"MFA)");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(a, "evidence"), "person")),
			    "identity-center");
	assert_string_equal(field(f.alerts[1], "severity"), "low");
	assert_string_equal(field(f.alerts[2], "severity"), "low");
	assert_string_equal(field(f.alerts[3], "severity"), "critical");
	assert_null(json_object_get(json_object_get(f.alerts[3], "evidence"),
				    "person"));
	/* a session that only says it used MFA is not taken for a person */
	assert_string_equal(field(f.alerts[4], "severity"), "medium");
	assert_null(json_object_get(json_object_get(f.alerts[4], "evidence"),
				    "person"));
	assert_string_equal(field(f.alerts[5], "severity"), "medium");
	assert_string_equal(field(f.alerts[6], "severity"), "high");
	teardown_f(&f);

	/* A service acting for a learnt key (a stack's template): judged as
	 * while learning, one step down; the key's own call is not. */
	setup_cfg(&f, "{}");
	call(&f, AK, 0, "s3:ListBuckets", 200, NULL);
	call(&f, AK, 80, "iam:PutRolePolicy", 200,
	     "cloudformation.amazonaws.com");
	call(&f, AK, 81, "ssm:SendCommand", 200, NULL);
	assert_int_equal(f.n, 2);
	assert_string_equal(field(f.alerts[0], "severity"), "low");
	assert_string_equal(field(f.alerts[1], "severity"), "high");
	teardown_f(&f);
}

/* A summary longer than the stack's buffer is made whole on the heap
 * before it is redacted. Here the key, 100 bytes, is in the operation
 * twelve times, each replaced by its 15-byte id, so what a cut at the
 * buffer's end would have lost (from 1023 bytes in: 8 bytes into the
 * tenth key) is well inside the 511 bytes the summary shows. */
static void test_long_summary(void **state)
{
	struct kw_emit emit = {.fn = on_alert, .ctx = NULL};
	struct kw_keyent *ent = NULL;
	struct kw_event ev;
	struct fixture f;
	char key[101], op[1400], want[512];
	const char *sum;
	size_t n = 80;

	(void)state;
	setup_cfg(&f, "{}");
	emit.ctx = &f;
	memcpy(key, "sk_live_", 8);
	memset(key + 8, 'k', 92);
	key[100] = '\0';
	memset(op, 'x', n); /* the tenth key starts 8 bytes before 1023 */
	for (int i = 0; i < 12; i++) {
		memcpy(op + n, key, 100);
		op[n + 100] = '/';
		n += 101;
	}
	op[n] = '\0';
	memset(&ev, 0, sizeof(ev));
	ev.key = kw_str_c(key);
	ev.status = 200;
	ev.livemode = -1;
	for (int i = 0; i < 2; i++) {
		ev.ts = f.t0 + i * 90 * HOUR; /* learnt, then a new one */
		ev.op = kw_str_c(i ? op : "charges.list");
		assert_int_equal(
			kw_keytab_get(f.tab, key, 100, ev.ts, &ent, NULL),
			KW_OK);
		kw_detect_ops.observe(f.self, &ev, ent, kw_keytab_state(ent),
				      &emit);
	}
	assert_int_equal(f.n, 1);
	sum = field(f.alerts[0], "summary");
	/* each key its id, and the text's end still there */
	n = (size_t)snprintf(want, sizeof(want),
			     "sk_live_" E "kkkk performed "
			     "%.80s",
			     op);
	for (int i = 0; i < 12; i++)
		n += (size_t)snprintf(want + n, sizeof(want) - n,
				      "sk_live_" E "kkkk/");
	snprintf(want + n, sizeof(want) - n, " for the first time");
	assert_string_equal(sum, want);
	teardown_f(&f);
}

static void test_first_seen_after_learning(void **state)
{
	struct fixture f;
	const json_t *a;

	(void)state;
	setup_cfg(&f, "{}");
	request(&f, KEY, 0, "GET", "/v1/customers/cus_1", 200);
	request(&f, KEY, 10, "POST", "/v1/refunds", 200); /* learning */
	request(&f, KEY, 80, "GET", "/v1/customers/cus_2", 200);
	request(&f, KEY, 80.5, "POST", "/v1/refunds", 200);
	assert_int_equal(f.n, 0);
	request(&f, KEY, 81, "GET", "/v1/balance", 200);
	request(&f, KEY, 82, "GET", "/v1/balance", 200); /* once */
	assert_int_equal(f.n, 1);
	a = f.alerts[0];
	assert_string_equal(field(a, "detector"), "ops.first_seen");
	assert_string_equal(field(a, "severity"), "low");
	assert_string_equal(field(a, "time"), "2026-11-19T09:00:00Z");
	assert_string_equal(field(a, "summary"),
			    "sk_live_" E "4242 performed balance.retrieve for "
			    "the first time (GET /v1/balance)");
	assert_member(a, "evidence",
		      "{\"op\":\"balance.retrieve\",\"access\":\"read\","
		      "\"method\":\"GET\",\"path\":\"/v1/balance\",\"status\":"
		      "200,\"ip\":\"192.0.2.7\",\"known_ops\":3,"
		      "\"learned_since\":\"2026-11-16T00:00:00Z\"}");
	assert_member(a, "suppress",
		      "{\"detector\":\"ops.first_seen\",\"key\":"
		      "\"sk_live_*4242\",\"op\":\"balance.retrieve\"}");
	teardown_f(&f);
}

static void test_sensitive_during_learning(void **state)
{
	struct fixture f;
	const json_t *a;

	(void)state;
	setup_cfg(&f, "{}");
	request(&f, KEY, 0, "GET", "/v1/customers/cus_1", 200);
	/* A routine one while learning, first day: low. */
	request(&f, KEY, 1, "POST", "/v1/ephemeral_keys", 200);
	request(&f, KEY, 2, "POST", "/v1/ephemeral_keys", 200); /* once */
	/* Learning, after a day: medium. */
	request(&f, KEY, 30, "POST", "/v1/account_sessions", 200);
	/* Learnt (72h): high; refused, low: keys try what they may not,
	 * and one probing many is what the counters see. */
	request(&f, KEY, 80, "POST", "/v1/terminal/connection_tokens", 200);
	request(&f, KEY, 81, "POST", "/v1/accounts", 403);
	assert_int_equal(f.n, 4);
	a = f.alerts[0];
	assert_string_equal(field(a, "detector"), "ops.sensitive");
	assert_string_equal(field(a, "severity"), "low");
	assert_string_equal(field(a, "time"), "2026-11-16T01:00:00Z");
	assert_string_equal(field(a, "summary"),
			    "sk_live_" E "4242 performed the sensitive "
			    "operation ephemeral_keys.create for the first "
			    "time (POST /v1/ephemeral_keys)");
	assert_member(
		a, "evidence",
		"{\"op\":\"ephemeral_keys.create\",\"access\":\"write\","
		"\"method\":\"POST\",\"path\":\"/v1/"
		"ephemeral_keys\",\"status\":"
		"200,\"ip\":\"192.0.2.7\",\"sensitive\":\"creates a "
		"short-lived key that acts on a customer or card\",\"tier\":"
		"\"routine\",\"tactic\":\"credential-access\",\"known_ops\":"
		"2,\"learned_since\":\"2026-11-16T00:00:00Z\"}");
	assert_string_equal(field(f.alerts[1], "severity"), "medium");
	assert_string_equal(field(f.alerts[1], "time"), "2026-11-17T06:00:00Z");
	assert_string_equal(field(f.alerts[2], "severity"), "high");
	assert_string_equal(field(f.alerts[2], "summary"),
			    "sk_live_" E "4242 performed the sensitive "
			    "operation terminal.connection_tokens.create for "
			    "the first time (POST /v1/terminal/"
			    "connection_tokens)");
	assert_string_equal(field(f.alerts[3], "severity"), "low");
	assert_string_equal(field(f.alerts[3], "summary"),
			    "sk_live_" E "4242 performed the sensitive "
			    "operation accounts.create for the first time "
			    "(POST /v1/accounts, refused by the API)");
	teardown_f(&f);
}

static void test_sensitive_test_key_lower(void **state)
{
	struct fixture f;

	(void)state;
	setup_cfg(&f, "{}");
	request(&f, KEY_TEST, 0, "GET", "/v1/balance", 200);
	request(&f, KEY_TEST, 1, "POST", "/v1/ephemeral_keys", 200);
	request(&f, KEY_TEST, 80, "POST", "/v1/transfers", 200);
	assert_int_equal(f.n, 2);
	assert_string_equal(field(f.alerts[0], "severity"), "info");
	assert_string_equal(field(f.alerts[1], "severity"), "medium");
	teardown_f(&f);
}

static void test_bulk_read(void **state)
{
	struct fixture f;

	(void)state;
	setup_cfg(&f, "{}");
	/* Listing charges while learning is the key's habit. */
	request(&f, KEY, 0, "GET", "/v1/charges", 200);
	request(&f, KEY, 90, "GET", "/v1/charges", 200);
	assert_int_equal(f.n, 0);
	/* Listing customers for the first time after learning: low. */
	request(&f, KEY, 91, "GET", "/v1/customers", 200);
	request(&f, KEY, 91.01, "GET", "/v1/customers", 200);
	assert_int_equal(f.n, 1);
	assert_string_equal(field(f.alerts[0], "detector"), "ops.sensitive");
	assert_string_equal(field(f.alerts[0], "severity"), "low");
	teardown_f(&f);
}

/* 32 method + path pairs, each an operation of the model (unknown routes
 * get a generic one), less balance.retrieve (learnt first): each alerts
 * exactly once, none again in the second round, and none is taken for
 * one seen before. */
#define N_OPS 31

static void test_many_operations(void **state)
{
	static const char *const paths[] = {
		"/v1/balance",
		"/v1/prices",
		"/v1/products/prod_1",
		"/v1/customers/cus_1",
		"/v1/charges/ch_1",
		"/v1/refunds",
		"/v1/subscriptions",
		"/v1/subscriptions/sub_1",
		"/v1/invoices/in_1",
		"/v1/checkout/sessions",
		"/v1/payment_intents",
		"/v1/payment_intents/pi_1",
		"/v1/customers",
		"/v1/invoiceitems",
		"/v1/balance_transactions",
		"/v1/disputes/dp_1",
	};
	struct fixture f;

	(void)state;
	setup_cfg(&f, "{\"learn\": \"1h\"}");
	request(&f, KEY, 0, "GET", "/v1/balance", 200);
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
			request(&f, KEY, 2 + round, "GET", paths[i], 200);
			request(&f, KEY, 2 + round, "POST", paths[i], 200);
		}
	}
	/* Every distinct modelled operation alerted once, none twice. */
	for (size_t i = 0; i < f.n; i++) {
		for (size_t j = i + 1; j < f.n; j++)
			assert_string_not_equal(field(f.alerts[i], "id"),
						field(f.alerts[j], "id"));
	}
	assert_int_equal(f.n, N_OPS);
	teardown_f(&f);
}

static void test_disabled(void **state)
{
	struct fixture f;

	(void)state;
	setup_cfg(&f, "{\"detectors\": {\"ops.sensitive\": {\"enabled\": "
		      "false}, \"ops.first_seen\": {\"enabled\": false}}}");
	request(&f, KEY, 0, "POST", "/v1/payouts", 200);
	request(&f, KEY, 90, "GET", "/v1/balance", 200);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

static void test_state_is_small(void **state)
{
	(void)state;
	/* a count and a list of eight, then the 128-byte filter apart */
	assert_int_equal(kw_detect_ops.state_size, 168);
	assert_int_equal(kw_detect_ops.parts[0].at, 40);
	assert_int_equal(kw_detect_ops.parts[0].size, 128);
}

/* What validate() refuses of a state file, with its reason. */
static void expect_invalid(const unsigned char *st, const char *want)
{
	char why[128] = "";

	assert_false(kw_detect_ops.validate(st, why, sizeof(why)));
	assert_string_equal(why, want);
}

static void test_validate(void **state)
{
	unsigned char st[168];
	uint32_t v;
	char why[128];

	(void)state;
	memset(st, 0, sizeof(st));
	assert_true(kw_detect_ops.validate(st, why, sizeof(why)));
	v = 9; /* nlist */
	memcpy(st + 4, &v, 4);
	expect_invalid(st, "ops: 9 operations listed (at most 8)");
	v = 2;
	memcpy(st + 4, &v, 4);
	v = 0x40000000u; /* past the filter's 30 bits */
	memcpy(st + 8 + 4, &v, 4);
	expect_invalid(st, "ops: a listed operation past 30 bits");
	v = 0x3fffffffu;
	memcpy(st + 8 + 4, &v, 4);
	assert_true(kw_detect_ops.validate(st, why, sizeof(why)));
	st[40 + 17] = 0x04; /* a filter bit while listing */
	expect_invalid(st, "ops: a filter before the list is full");
	v = 0xff; /* spilled: the filter is the family's */
	memcpy(st + 4, &v, 4);
	assert_true(kw_detect_ops.validate(st, why, sizeof(why)));
}

/* A state file's version 1 (the filter, then the count) carried over:
 * the count, and the filter spilled as it was; an empty filter lists
 * from nothing. */
static void test_upgrade_from_v1(void **state)
{
	unsigned char v1[136], now[168], want[168];
	uint32_t ops = 5, n;

	(void)state;
	assert_int_equal(kw_detect_ops.upgrade_size, 136);
	memset(v1, 0, sizeof(v1));
	v1[3] = 0x81;
	v1[127] = 0x10;
	memcpy(v1 + 128, &ops, 4);
	memset(now, 0, sizeof(now));
	kw_detect_ops.upgrade(v1, now);
	memset(want, 0, sizeof(want));
	memcpy(want, &ops, 4);
	n = 0xff;
	memcpy(want + 4, &n, 4);
	memcpy(want + 40, v1, 128);
	assert_memory_equal(now, want, sizeof(want));
	assert_true(kw_detect_ops.validate(now, (char[8]){0}, 8));

	memset(v1, 0, sizeof(v1));
	memset(now, 0, sizeof(now));
	kw_detect_ops.upgrade(v1, now);
	memset(want, 0, sizeof(want));
	assert_memory_equal(now, want, sizeof(want));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_seen_after_learning),
		cmocka_unit_test(test_long_summary),
		cmocka_unit_test(test_sensitive_during_learning),
		cmocka_unit_test(test_never_routine),
		cmocka_unit_test(test_first_sight),
		cmocka_unit_test(test_person),
		cmocka_unit_test(test_sensitive_test_key_lower),
		cmocka_unit_test(test_bulk_read),
		cmocka_unit_test(test_many_operations),
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_state_is_small),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_upgrade_from_v1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
