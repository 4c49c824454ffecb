/*
 * test_harvest.c - ops.harvest through its ops struct, with events enriched
 * and judged by the shipped models exactly as the engine does: a counter
 * raises once when its distinct names reach the threshold within the
 * window (the names, never values, in evidence); names repeated or
 * outside the window do not count; each call refused makes it one step
 * lower; a key that raised before raises again only past twice its
 * highest count (kept for its last four counters that raised: a fifth
 * takes the place of the lowest peak); counters that select their events
 * (sensitive and refused; bulk reads while learning) take them from any
 * operation; "enabled": false silences it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define FIXTURE_MAX_ALERTS 16
#include "detect_fixture.h"

#define E "\xe2\x80\xa6"
#define SEC INT64_C(1000000)
#define AK "AKIAIOSFODNN7EXAMPLE"
#define AK2 "AKIAI44QH8DHBEXAMPLE"

/* One CloudTrail call of key k, s seconds after t0, with parameters. */
static void call(struct fixture *f, const char *k, double s, const char *op,
		 const char *params, int status)
{
	struct kw_emit emit = {.fn = on_alert, .ctx = f};
	struct kw_judge_env env = {NULL, 0};
	struct kw_event_cloud cloud;
	struct kw_verdict verdict;
	struct kw_keyent *ent = NULL;
	struct kw_event ev;
	char opbuf[128];

	memset(&ev, 0, sizeof(ev));
	memset(&cloud, 0, sizeof(cloud));
	snprintf(opbuf, sizeof(opbuf), "%s", op);
	ev.ts = f->t0 + (int64_t)(s * (double)SEC);
	ev.key = kw_str_c(k);
	ev.op = kw_str_c(opbuf);
	ev.status = status;
	ev.request_id = kw_str_c("e-1");
	ev.livemode = -1;
	cloud.params = kw_str_c(params);
	cloud.account = kw_str_c("111122223333");
	ev.cloud = &cloud;
	kw_models_enrich(f->models, &ev, &f->arena);
	if (ev.flags & KW_EV_JUDGE) {
		kw_models_judge(f->models, &ev, &env, &verdict);
		ev.verdict = &verdict;
	}
	assert_int_equal(kw_keytab_get(f->tab, k, strlen(k), ev.ts, &ent, NULL),
			 KW_OK);
	ent->kind = (uint8_t)ev.key_kind;
	f->ent = ent;
	f->ops->observe(f->self, &ev, ent, kw_keytab_state(ent), &emit);
}

/* A Stripe request of key k, s seconds after t0. */
static void request(struct fixture *f, const char *k, double s,
		    const char *method, const char *path, int status)
{
	struct kw_emit emit = {.fn = on_alert, .ctx = f};
	struct kw_keyent *ent = NULL;
	struct kw_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.ts = f->t0 + (int64_t)(s * (double)SEC);
	ev.key = kw_str_c(k);
	ev.method = kw_str_c(method);
	ev.path = kw_str_c(path);
	ev.status = status;
	ev.livemode = -1;
	kw_models_enrich(f->models, &ev, &f->arena);
	assert_int_equal(kw_keytab_get(f->tab, k, strlen(k), ev.ts, &ent, NULL),
			 KW_OK);
	ent->kind = (uint8_t)ev.key_kind;
	ent->mode = (uint8_t)ev.key_mode;
	f->ops->observe(f->self, &ev, ent, kw_keytab_state(ent), &emit);
}

static void secret(struct fixture *f, const char *k, double s, int i,
		   int status)
{
	char params[128];

	snprintf(params, sizeof(params),
		 "{\"secretId\":\"arn:aws:secretsmanager:eu-west-1:"
		 "111122223333:secret:prod/app-%02d-Xy12Zq\"}",
		 i);
	call(f, k, s, "secretsmanager:GetSecretValue", params, status);
}

static const char *ev_str(const json_t *a, const char *name)
{
	return json_string_value(
		json_object_get(json_object_get(a, "evidence"), name));
}

static void test_secrets(void **state)
{
	struct fixture f;
	const json_t *a;

	(void)state;
	fixture_setup(&f, &kw_detect_harvest, "{}", true);
	/* The same secret over and over is one name. */
	for (int i = 0; i < 30; i++)
		secret(&f, AK, i, 1, 200);
	/* Nine more distinct ones: ten, the threshold. */
	for (int i = 2; i <= 9; i++)
		secret(&f, AK, 40 + i, i, 200);
	assert_int_equal(f.n, 0);
	secret(&f, AK, 60, 10, 200);
	assert_int_equal(f.n, 1);
	/* More in the same window: no second alert. */
	for (int i = 11; i <= 20; i++)
		secret(&f, AK, 61 + i, i, 200);
	assert_int_equal(f.n, 1);
	a = f.alerts[0];
	assert_string_equal(field(a, "detector"), "ops.harvest");
	assert_string_equal(field(a, "severity"), "high");
	assert_string_equal(field(a, "time"), "2026-11-16T00:01:00Z");
	assert_string_equal(field(a, "summary"),
			    "AKIA" E "MPLE: 10 distinct secrets read in clear "
			    "within 10m (threshold 10): " E
			    "t:prod/app-01-Xy12Zq, " E
			    "est-1:111122223333:secret:prod/app-10-Xy12Zq");
	assert_member(a, "evidence",
		      "{\"counter\":\"secrets-read\",\"counted\":\"distinct "
		      "secrets read in clear\",\"count\":10,\"threshold\":10,"
		      "\"window\":\"10m\",\"since\":\"2026-11-16T00:00:00Z\","
		      "\"names\":[\"" E "t:prod/app-01-Xy12Zq\",\"" E
		      "est-1:111122223333:secret:prod/app-10-Xy12Zq\"],"
		      "\"refused\":"
		      "false,\"op\":\"secretsmanager:GetSecretValue\","
		      "\"tactic\":\"credential-access\"}");
	assert_member(a, "suppress",
		      "{\"detector\":\"ops.harvest\",\"key\":\"AKIA*MPLE\","
		      "\"counter\":\"secrets-read\"}");
	/* Another key, slowly: 10 names over an hour never fill a
	 * 10-minute window. */
	for (int i = 1; i <= 10; i++)
		secret(&f, AK2, 1000 + 400 * i, i, 200);
	assert_int_equal(f.n, 1);
	teardown_f(&f);
}

/* A key that raised before raises again only past twice its highest
 * count: a secrets operator syncing every hour is told once. */
static void test_habit(void **state)
{
	struct fixture f;

	(void)state;
	fixture_setup(&f, &kw_detect_harvest, "{}", true);
	for (int hour = 0; hour < 3; hour++) {
		for (int i = 1; i <= 12; i++)
			secret(&f, AK, 3600 * hour + i, i, 200);
	}
	assert_int_equal(f.n, 1);
	/* Twice as many as ever: raised again. */
	for (int i = 1; i <= 25; i++)
		secret(&f, AK, 4 * 3600 + i, i, 200);
	assert_int_equal(f.n, 2);
	assert_int_equal(
		json_integer_value(json_object_get(
			json_object_get(f.alerts[1], "evidence"), "count")),
		25);
	teardown_f(&f);
}

/* Every call refused: one step lower, and said. Conditions on the
 * parameters: only decrypted parameters count. */
static void test_refused_and_conditions(void **state)
{
	struct fixture f;
	char params[160];

	(void)state;
	fixture_setup(&f, &kw_detect_harvest, "{}", true);
	for (int i = 0; i < 5; i++) {
		snprintf(params, sizeof(params),
			 "{\"instanceId\":\"i-0abc%04d\",\"attribute\":"
			 "\"userData\"}",
			 i);
		call(&f, AK, i, "ec2:DescribeInstanceAttribute", params, 403);
		/* not user data: not counted */
		snprintf(params, sizeof(params),
			 "{\"instanceId\":\"i-0def%04d\",\"attribute\":"
			 "\"instanceType\"}",
			 i);
		call(&f, AK2, i, "ec2:DescribeInstanceAttribute", params, 200);
	}
	assert_int_equal(f.n, 1);
	assert_string_equal(field(f.alerts[0], "severity"), "medium");
	assert_string_equal(ev_str(f.alerts[0], "counter"), "user-data-reads");
	assert_true(json_is_true(json_object_get(
		json_object_get(f.alerts[0], "evidence"), "refused")));
	assert_non_null(strstr(field(f.alerts[0], "summary"),
			       "(threshold 5), each call refused by the API: "
			       "i-0abc0000, i-0abc0004"));
	/* 25 names in three calls, without decryption: nothing; with it,
	 * the third call reaches 20. */
	call(&f, AK2, 100, "ssm:GetParameters",
	     "{\"names\":[\"/a/1\",\"/a/2\",\"/a/3\",\"/a/4\",\"/a/5\",\"/a/"
	     "6\","
	     "\"/a/7\",\"/a/8\",\"/a/9\",\"/a/10\",\"/a/11\",\"/a/12\",\"/a/"
	     "13\","
	     "\"/a/14\",\"/a/15\",\"/a/16\",\"/a/17\",\"/a/18\",\"/a/19\","
	     "\"/a/20\",\"/a/21\"],\"withDecryption\":false}",
	     200);
	assert_int_equal(f.n, 1);
	call(&f, AK2, 101, "ssm:GetParameters",
	     "{\"names\":[\"/b/1\",\"/b/2\",\"/b/3\",\"/b/4\",\"/b/5\",\"/b/"
	     "6\","
	     "\"/b/7\",\"/b/8\",\"/b/9\",\"/b/10\"],\"withDecryption\":true}",
	     200);
	call(&f, AK2, 102, "ssm:GetParametersByPath",
	     "{\"path\":\"/b/\",\"withDecryption\":true}", 200);
	assert_int_equal(f.n, 1);
	call(&f, AK2, 103, "ssm:GetParameters",
	     "{\"names\":[\"/b/1\",\"/b/11\",\"/b/12\",\"/b/13\",\"/b/14\","
	     "\"/b/15\",\"/b/16\",\"/b/17\",\"/b/18\",\"/b/19\"],"
	     "\"withDecryption\":true}",
	     200);
	assert_int_equal(f.n, 2);
	assert_string_equal(ev_str(f.alerts[1], "counter"),
			    "parameters-decrypted");
	assert_member(
		f.alerts[1], "evidence",
		"{\"counter\":\"parameters-decrypted\",\"counted\":"
		"\"distinct SecureString parameters decrypted\",\"count\":"
		"20,\"threshold\":20,\"window\":\"10m\",\"since\":"
		"\"2026-11-16T00:01:41Z\",\"names\":[\"/b/1\",\"/b/11\","
		"\"/b/12\"],\"refused\":false,\"op\":"
		"\"ssm:GetParameters\",\"tactic\":\"credential-access\"}");
	teardown_f(&f);
}

/* Counters that select their events: three distinct sensitive operations
 * refused; a Stripe key still learning listing page after page. */
static void test_selected(void **state)
{
	struct fixture f;

	(void)state;
	fixture_setup(&f, &kw_detect_harvest, "{}", true);
	call(&f, AK, 0, "iam:CreateUser", "{\"userName\":\"x\"}", 403);
	call(&f, AK, 1, "iam:CreateUser", "{\"userName\":\"y\"}", 403);
	call(&f, AK, 2, "s3:ListBuckets", NULL, 403);	  /* not sensitive */
	call(&f, AK, 3, "ec2:DeleteFlowLogs", NULL, 200); /* not refused */
	assert_int_equal(f.n, 0);
	call(&f, AK, 4, "iam:AttachUserPolicy", NULL, 403);
	call(&f, AK, 5, "cloudtrail:StopLogging", NULL, 403);
	assert_int_equal(f.n, 1);
	assert_string_equal(ev_str(f.alerts[0], "counter"),
			    "refused-sensitive");
	assert_string_equal(field(f.alerts[0], "severity"), "medium");
	assert_non_null(strstr(field(f.alerts[0], "summary"),
			       ": 3 distinct sensitive operations refused "
			       "within 10m (threshold 3): iam:CreateUser, "
			       "cloudtrail:StopLogging"));
	teardown_f(&f);
}

static void test_disabled(void **state)
{
	struct fixture f;

	(void)state;
	fixture_setup(
		&f, &kw_detect_harvest,
		"{\"detectors\": {\"ops.harvest\": {\"enabled\": false}}}",
		true);
	for (int i = 1; i <= 20; i++)
		secret(&f, AK, i, i, 200);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

/* The peaks of the last four counters that raised are kept (at the end
 * of the state, after the three 64-byte slots: counter + 1, a pad byte, a
 * 16-bit count each); a fifth takes the place of the lowest, whose
 * counter is then told again at its threshold. */
static void test_habit_peaks_bounded(void **state)
{
	static const unsigned char others[16] = {9,  0, 50, 0, 10, 0, 40, 0,
						 11, 0, 30, 0, 12, 0, 60, 0};
	struct fixture f;
	unsigned char *st;
	char why[160];

	(void)state;
	fixture_setup(&f, &kw_detect_harvest, "{}", true);
	secret(&f, AK, 0, 1, 200);
	st = kw_keytab_state(f.ent);
	memcpy(st + 192, others, sizeof(others));
	assert_true(kw_detect_harvest.validate(st, why, sizeof(why)));
	for (int i = 2; i <= 12; i++)
		secret(&f, AK, i, i, 200);
	assert_int_equal(f.n, 1);
	/* secrets-read (counter 1) took the place of peak 30 (counter 11). */
	assert_memory_equal(st + 192,
			    "\x09\x00\x32\x00\x0a\x00\x28\x00\x01\x00\x0c\x00"
			    "\x0c\x00\x3c\x00",
			    16);
	/* Its own habit holds: 12 again an hour later is quiet. */
	for (int i = 1; i <= 12; i++)
		secret(&f, AK, 3600 + i, i, 200);
	assert_int_equal(f.n, 1);
	/* A peak that names no counter, or a free one with a count, is
	 * refused. */
	st[192] = 17;
	assert_false(kw_detect_harvest.validate(st, why, sizeof(why)));
	assert_string_equal(why, "harvest peak 0 names counter 17");
	st[192] = 0;
	assert_false(kw_detect_harvest.validate(st, why, sizeof(why)));
	memset(st + 192, 0, 4);
	assert_true(kw_detect_harvest.validate(st, why, sizeof(why)));
	teardown_f(&f);
}

static void test_state_is_small(void **state)
{
	(void)state;
	assert_int_equal(kw_detect_harvest.state_size, 208);
	assert_int_equal(kw_detect_harvest.state_version, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_habit),
		cmocka_unit_test(test_habit_peaks_bounded),
		cmocka_unit_test(test_refused_and_conditions),
		cmocka_unit_test(test_selected),
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_state_is_small),
	};

	(void)request;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
