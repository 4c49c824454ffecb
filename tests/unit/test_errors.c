/*
 * test_errors.c - rate.errors and auth.failures through their ops struct as
 * the engine drives them: the absolute floor fires for a brand-new key
 * (during its learning period) and not one request below it; after
 * learning, failures far above the key's usual ones fire and its usual
 * failures do not; one IP denied for five keys raises auth.failures once,
 * four keys or five IPs do not; "enabled": false silences each.
 *
 * The one idea: as in test_rate.c, traffic is a deterministic function of
 * the minute, so every count in the assertions can be worked out by hand.
 */
#include <math.h>
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

#include "core/time.h"
#include "detect/detector.h"
#include "detect/learned.h"
#include "state/keytab.h"

#define E "\xe2\x80\xa6"
#define MIN (INT64_C(60) * 1000000)
#define DAY (1440 * MIN)
#define KEY "sk_live_51Habcdefghijklmnop4242"

static void setup_cfg(struct fixture *f, const char *config)
{
	fixture_setup(f, &kw_detect_errors, config, false);
}

/* One request of key k from ip at time t with status. */
static void request(struct fixture *f, const char *k, const char *ip, int64_t t,
		    int status)
{
	struct kw_emit emit = {.fn = on_alert, .ctx = f};
	struct kw_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.ts = t;
	ev.status = status;
	ev.request_id = kw_str_c("req_1");
	assert_true(kw_ip_parse(&ev.ip, ip, strlen(ip)));
	assert_int_equal(kw_keytab_get(f->tab, k, strlen(k), t, &f->ent, NULL),
			 KW_OK);
	f->ent->kind = KW_KIND_SECRET;
	f->ent->mode = KW_MODE_LIVE;
	kw_detect_errors.observe(f->self, &ev, f->ent, kw_keytab_state(f->ent),
				 &emit);
	fixture_check_due(f);
}

/* In minute m (from t0): ok requests answered 200 and bad answered
 * status, then the tick. */
static void minute(struct fixture *f, int64_t m, unsigned ok, unsigned bad,
		   int status)
{
	struct kw_emit emit = {.fn = on_alert, .ctx = f};
	int64_t start = f->t0 + m * MIN;
	unsigned n = ok + bad;

	for (unsigned i = 0; i < n; i++)
		request(f, KEY, "192.0.2.1",
			start + (int64_t)i * (MIN / (n + 1)),
			i < bad ? status : 200);
	kw_detect_errors.tick(f->self, start + MIN - 2 * MIN, &emit);
}

/* ---- rate.errors: the floor ------------------------------------------------
 */

static void test_floor_new_key(void **state)
{
	struct fixture f;
	const json_t *a;
	size_t off;
	int64_t len;

	(void)state;
	setup_cfg(&f, "{}");
	/* the engine reads the key's due time in place (request checks it
	 * against flush after every event) */
	assert_true(kw_detect_errors.window(f.self, &off, &len));
	assert_int_equal(len, 5 * 60 * INT64_C(1000000));
	minute(&f, 0, 10, 25, 403);
	finish(&f);
	assert_int_equal(f.n, 1);
	a = f.alerts[0];
	assert_string_equal(field(a, "detector"), "rate.errors");
	assert_string_equal(field(a, "severity"), "high");
	assert_string_equal(field(a, "time"), "2026-11-16T00:05:00Z");
	assert_string_equal(field(a, "summary"),
			    "sk_live_" E
			    "4242 had 25 requests denied (401/403) "
			    "of 35 in the 300 s from 2026-11-16T00:00:00Z");
	assert_member(a, "evidence",
		      "{\"requests\":35,\"failed\":25,\"denied\":25,"
		      "\"floor\":20,\"window_start\":\"2026-11-16T00:00:00Z\","
		      "\"window_seconds\":300}");
	teardown_f(&f);
}

static void test_floor_one_below(void **state)
{
	struct fixture f;

	(void)state;
	setup_cfg(&f, "{}");
	minute(&f, 0, 10, 19, 401);
	minute(&f, 5, 10, 19, 403); /* the next window: 19 again */
	finish(&f);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

static void test_floor_option(void **state)
{
	struct fixture f;

	(void)state;
	setup_cfg(&f, "{\"detectors\": {\"rate.errors\": {\"floor\": 10}}}");
	minute(&f, 0, 10, 10, 401);
	finish(&f);
	assert_int_equal(f.n, 1);
	teardown_f(&f);
}

/* ---- rate.errors: against the key's usual failures ------------------------
 */

static void test_baseline_burst(void **state)
{
	struct fixture f;
	const json_t *a;
	int64_t burst = 2 * 1440 + 720;

	(void)state;
	setup_cfg(&f, "{\"learn\": \"1h\"}");
	/* One 404 per window (in its first minute), 15 at day 2, 12:00. */
	for (int64_t m = 0; m < 3 * 1440; m++)
		minute(&f, m, 10, m == burst ? 15 : m % 5 == 0, 404);
	finish(&f);
	assert_int_equal(f.n, 1);
	a = f.alerts[0];
	assert_string_equal(field(a, "severity"), "medium");
	assert_string_equal(field(a, "time"), "2026-11-18T12:05:00Z");
	assert_string_equal(field(a, "summary"),
			    "sk_live_" E "4242 had 15 failed requests (0 "
			    "denied) of 65 in the 300 s from "
			    "2026-11-18T12:00:00Z; it usually has 1.0");
	assert_member(a, "evidence",
		      "{\"requests\":65,\"failed\":15,\"denied\":0,"
		      "\"baseline\":1.0,\"window_start\":"
		      "\"2026-11-18T12:00:00Z\",\"window_seconds\":300}");
	teardown_f(&f);
}

static void test_baseline_usual_failures_quiet(void **state)
{
	struct fixture f;

	(void)state;
	setup_cfg(&f, "{\"learn\": \"1h\"}");
	/* 8 failures every window, some denied: the key's habit. */
	for (int64_t m = 0; m < 3 * 1440; m++)
		minute(&f, m, 10, m % 5 == 0 ? 8 : 0, m % 10 ? 404 : 403);
	finish(&f);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

static void test_baseline_waits_for_learning(void **state)
{
	struct fixture f;

	(void)state;
	setup_cfg(&f, "{}");
	/* The burst of test_baseline_burst, but at 60h of a 72h learning
	 * period, and 404s (not denied): nothing. */
	for (int64_t m = 0; m < 3 * 1440; m++)
		minute(&f, m, 10, m == 60 * 60 ? 15 : m % 5 == 0, 404);
	finish(&f);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

/* ---- auth.failures: one IP, many keys -------------------------------------
 */

static void guess(struct fixture *f, int nkeys, int nips)
{
	for (int i = 0; i < nkeys; i++) {
		char k[64], ip[32];

		snprintf(k, sizeof(k), "sk_live_51Hguessguessguess%04d", i + 1);
		snprintf(ip, sizeof(ip), "203.0.113.%d", 9 + i % nips);
		request(f, k, ip, f->t0 + i * 1000000, 401);
	}
}

static void test_auth_one_ip_many_keys(void **state)
{
	struct fixture f;
	const json_t *a;

	(void)state;
	setup_cfg(&f, "{}");
	guess(&f, 6, 1);
	finish(&f);
	assert_int_equal(f.n, 1);
	a = f.alerts[0];
	assert_string_equal(field(a, "detector"), "auth.failures");
	assert_string_equal(field(a, "severity"), "high");
	assert_string_equal(field(a, "time"), "2026-11-16T00:00:04Z");
	assert_string_equal(field(a, "summary"),
			    "IP 203.0.113.9 had requests denied for 5 "
			    "different keys within 300 s, the last with "
			    "sk_live_" E "0005: someone is trying keys");
	assert_member(a, "evidence",
		      "{\"ip\":\"203.0.113.9\",\"keys\":5,\"denied\":5,"
		      "\"status\":401,\"window_seconds\":300}");
	assert_member(a, "suppress",
		      "{\"detector\":\"auth.failures\",\"key\":"
		      "\"sk_live_*0005\",\"ip\":\"203.0.113.9\"}");
	teardown_f(&f);
}

static void test_auth_below_threshold(void **state)
{
	struct fixture f;

	(void)state;
	setup_cfg(&f, "{}");
	guess(&f, 4, 1); /* four keys from one IP */
	finish(&f);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
	setup_cfg(&f, "{}");
	guess(&f, 10, 5); /* two keys each from five IPs */
	finish(&f);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
	setup_cfg(&f, "{\"detectors\": {\"auth.failures\": {\"keys\": 3}}}");
	guess(&f, 4, 1);
	finish(&f);
	assert_int_equal(f.n, 1);
	teardown_f(&f);
}

/* A denied request made with no key from ip at time t. */
static void unauth(struct fixture *f, const char *ip, int64_t t, int status)
{
	struct kw_emit emit = {.fn = on_alert, .ctx = f};
	struct kw_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.ts = t;
	ev.status = status;
	assert_true(kw_ip_parse(&ev.ip, ip, strlen(ip)));
	kw_detect_errors.observe_unauth(f->self, &ev, &emit);
}

/* Requests without a key count as one more key tried, once however many,
 * and never raise an alert by themselves. */
static void test_auth_unauthenticated(void **state)
{
	struct fixture f;

	(void)state;
	setup_cfg(&f, "{}");
	for (int i = 0; i < 50; i++)
		unauth(&f, "203.0.113.9", f.t0 + i * 100000, 401);
	finish(&f);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
	/* four keys and requests without any: five tried */
	setup_cfg(&f, "{}");
	unauth(&f, "203.0.113.9", f.t0, 401);
	unauth(&f, "203.0.113.9", f.t0 + 1, 200); /* not denied: not counted */
	guess(&f, 4, 1);
	finish(&f);
	assert_int_equal(f.n, 1);
	assert_string_equal(field(f.alerts[0], "summary"),
			    "IP 203.0.113.9 had requests denied for 5 "
			    "different keys within 300 s, the last with "
			    "sk_live_" E "0004: someone is trying keys");
	teardown_f(&f);
	/* not from another IP, nor when switched off */
	setup_cfg(&f, "{\"detectors\": {\"auth.failures\": "
		      "{\"enabled\": false}}}");
	unauth(&f, "203.0.113.9", f.t0, 401);
	guess(&f, 8, 1);
	finish(&f);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
	setup_cfg(&f, "{}");
	unauth(&f, "198.51.100.1", f.t0, 403);
	guess(&f, 4, 1);
	finish(&f);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

/* One denied request of guess key i (1-based) from ip, s seconds after
 * t0. */
static void tried(struct fixture *f, int i, const char *ip, int64_t s)
{
	char k[64];

	snprintf(k, sizeof(k), "sk_live_51Hguessguessguess%04d", i);
	request(f, k, ip, f->t0 + s * 1000000, 401);
}

/* The table is of (IP, window) pairs: a request that comes late counts in
 * its own window and leaves the newer one alone; a key tried again counts
 * once; the alert's id is the pair's, whichever key crossed the line. */
static void test_auth_ip_windows(void **state)
{
	struct fixture f;
	char first[64];

	(void)state;
	setup_cfg(&f, "{}");
	for (int i = 1; i <= 4; i++)
		tried(&f, i, "203.0.113.9", 10 + i); /* window 0 */
	for (int i = 1; i <= 4; i++)
		tried(&f, i, "203.0.113.9", 310 + i); /* window 1 */
	for (int i = 1; i <= 4; i++)
		tried(&f, i, "203.0.113.9", 20 + i); /* again: still 4 */
	assert_int_equal(f.n, 0);
	tried(&f, 5, "203.0.113.9", 30); /* late, into window 0 */
	assert_int_equal(f.n, 1);
	assert_string_equal(field(f.alerts[0], "time"), "2026-11-16T00:00:30Z");
	snprintf(first, sizeof(first), "%s", field(f.alerts[0], "id"));
	tried(&f, 6, "203.0.113.9", 320); /* window 1 was not reset */
	finish(&f);
	assert_int_equal(f.n, 2);
	assert_string_equal(field(f.alerts[1], "time"), "2026-11-16T00:05:20Z");
	assert_string_not_equal(field(f.alerts[1], "id"), first);
	teardown_f(&f);
	/* the same pair, its keys in another order: the same id */
	setup_cfg(&f, "{}");
	for (int i = 5; i >= 1; i--)
		tried(&f, i, "203.0.113.9", 100 - i);
	finish(&f);
	assert_int_equal(f.n, 1);
	assert_string_equal(field(f.alerts[0], "id"), first);
	assert_string_equal(field(f.alerts[0], "summary"),
			    "IP 203.0.113.9 had requests denied for 5 "
			    "different keys within 300 s, the last with "
			    "sk_live_" E "0001: someone is trying keys");
	teardown_f(&f);
}

/* An IP keeps at most 8 windows (its bucket's ways): a ninth takes the
 * oldest one's slot, and a request late for that one counts nowhere. */
static void test_auth_ip_windows_bound(void **state)
{
	struct fixture f;

	(void)state;
	setup_cfg(&f, "{}");
	for (int w = 0; w < 8; w++)
		for (int i = 1; i <= 4; i++)
			tried(&f, i, "203.0.113.9", w * 300 + i);
	tried(&f, 5, "203.0.113.9", 1 * 300 + 10); /* window 1: 5 keys */
	assert_int_equal(f.n, 1);
	tried(&f, 1, "203.0.113.9", 8 * 300 + 1);  /* a ninth window */
	tried(&f, 5, "203.0.113.9", 0 * 300 + 10); /* window 0 is gone */
	tried(&f, 5, "203.0.113.9", 2 * 300 + 10); /* window 2 is not */
	finish(&f);
	assert_int_equal(f.n, 2);
	assert_string_equal(field(f.alerts[1], "time"), "2026-11-16T00:10:10Z");
	teardown_f(&f);
}

static void test_disabled(void **state)
{
	struct fixture f;

	(void)state;
	setup_cfg(&f, "{\"detectors\": {\"rate.errors\": {\"enabled\": false},"
		      " \"auth.failures\": {\"enabled\": false}}}");
	minute(&f, 0, 10, 60, 403);
	guess(&f, 8, 1);
	finish(&f);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

static void drive_errors(struct fixture *f)
{
	for (int64_t m = 3 * 1440; m < 3 * 1440 + 12; m++)
		minute(f, m, 5, m % 3 ? 40 : 1, m % 2 ? 403 : 404);
}

/* auth.failures remembers 8 keys per IP: a threshold above that could
 * never be reached, so the config says so. */
static void test_option_maxima(void **state)
{
	struct kw_config *cfg = NULL;
	struct kw_error err;

	(void)state;
	assert_int_equal(
		kw_config_load_string("{\"detectors\": {\"auth.failures\": "
				      "{\"keys\": 9}}}",
				      "t.json", &cfg, &err),
		KW_OK);
	assert_int_equal(kw_detect_check_config(cfg, &err), KW_ECONFIG);
	assert_string_equal(err.msg,
			    "t.json: detectors.auth.failures.keys: at most 8");
	kw_config_free(cfg);
	assert_int_equal(kw_config_load_string(
				 "{\"detectors\": {\"rate.errors\": "
				 "{\"window\": \"2d\", \"floor\": 70000}}}",
				 "t.json", &cfg, &err),
			 KW_OK);
	assert_int_equal(kw_detect_check_config(cfg, &err), KW_ECONFIG);
	assert_non_null(strstr(err.msg, ": at most "));
	kw_config_free(cfg);
}

/* The window ring and the usual failures of a loaded state are checked
 * before it is used. */
static void test_validate(void **state)
{
	struct fixture f;
	char why[160];
	unsigned char *st;

	(void)state;
	setup_cfg(&f, "{\"learn\": \"1h\"}");
	for (int64_t m = 0; m < 2 * 1440; m += 5)
		minute(&f, m, 10, (unsigned)(m % 3), 404);
	fixture_clear_alerts(&f);
	assert_true(fixture_mutate(&f, drive_errors) > 0);
	st = kw_keytab_state(f.ent);
	memset(st, 0, kw_detect_errors.state_size);
	assert_true(kw_detect_errors.validate(st, why, sizeof(why)));
	memset(st + sizeof(struct kw_win), 0xff, sizeof(float));
	assert_false(kw_detect_errors.validate(st, why, sizeof(why)));
	assert_string_equal(why, "rate.errors: usual failures out of range");
	teardown_f(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_floor_new_key),
		cmocka_unit_test(test_floor_one_below),
		cmocka_unit_test(test_floor_option),
		cmocka_unit_test(test_baseline_burst),
		cmocka_unit_test(test_baseline_usual_failures_quiet),
		cmocka_unit_test(test_baseline_waits_for_learning),
		cmocka_unit_test(test_auth_one_ip_many_keys),
		cmocka_unit_test(test_auth_below_threshold),
		cmocka_unit_test(test_auth_unauthenticated),
		cmocka_unit_test(test_auth_ip_windows),
		cmocka_unit_test(test_auth_ip_windows_bound),
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_option_maxima),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
