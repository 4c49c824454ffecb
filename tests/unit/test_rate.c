/*
 * test_rate.c - rate.spike through its ops struct as the engine drives it:
 * events minute by minute, a tick with the watermark (newest time less two
 * minutes) after every minute, and a flush at the end. A 12x jump is caught
 * in its window with exact summary and evidence; a day/night swing of 5x,
 * weekends at half volume with a week-long doubling, and a nightly batch
 * job seen from the key's first day raise nothing; a batch job that starts
 * after the learning period fires on its first three nights only, while
 * one spike does not hide another an hour earlier the next day; nothing
 * fires during the learning period or below min_count; "enabled": false
 * silences it; the per-key state is small. And what it learnt survives an
 * upgrade that changes another family's layout: saved in a state file
 * whose geo section is of an older layout version, loaded back (geo reset
 * with its warning), it raises exactly the alert of one run over both.
 *
 * The one idea: traffic is a deterministic function of the minute (no
 * randomness), so every count and threshold in the assertions can be
 * worked out by hand from rate.c's rules.
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

#define FIXTURE_MAX_ALERTS 256
#include "detect_fixture.h"

#include "core/time.h"
#include "detect/detector.h"
#include "detect/learned.h"
#include "state/keytab.h"
#include "state/snapshot.h"
#include "stderr_capture.h"

#define E "\xe2\x80\xa6"
#define MIN (INT64_C(60) * 1000000)
#define DAY (1440 * MIN)
#define KEY "sk_live_51Habcdefghijklmnop4242"

static void setup_cfg(struct fixture *f, const char *config)
{
	fixture_setup(f, &kw_detect_rate, config, false);
}

/* n requests of the key in minute m (from t0), then the tick. Usual
 * traffic is charges.retrieve from 10.0.0.1; a minute of more than 20
 * requests is mostly customers.list (two in three) from 203.0.113.9
 * (three in four), with request ids req_<i>. */
static void minute(struct fixture *f, int64_t m, unsigned n)
{
	struct kw_emit emit = {.fn = on_alert, .ctx = f};
	int64_t start = f->t0 + m * MIN;
	char rid[32];

	for (unsigned i = 0; i < n; i++) {
		struct kw_event ev;
		int64_t t = start + (int64_t)i * (MIN / (n + 1));
		bool odd = n > 20;

		memset(&ev, 0, sizeof(ev));
		ev.ts = t;
		ev.status = 200;
		ev.op = kw_str_c(odd && i % 3 ? "customers.list"
					      : "charges.retrieve");
		kw_ip_parse(&ev.ip, odd && i % 4 ? "203.0.113.9" : "10.0.0.1",
			    odd && i % 4 ? 11 : 8);
		if (odd) {
			snprintf(rid, sizeof(rid), "req_%u", i);
			ev.request_id = kw_str_c(rid);
		}
		assert_int_equal(kw_keytab_get(f->tab, KEY, strlen(KEY), t,
					       &f->ent, NULL),
				 KW_OK);
		f->ent->kind = KW_KIND_SECRET;
		f->ent->mode = KW_MODE_LIVE;
		kw_detect_rate.observe(f->self, &ev, f->ent,
				       kw_keytab_state(f->ent), &emit);
		fixture_check_due(f);
	}
	kw_detect_rate.tick(f->self, start + MIN - 2 * MIN, &emit);
}

/* ---- a spike is caught ----------------------------------------------------
 */

static void test_spike_caught(void **state)
{
	struct fixture f;
	const json_t *a;
	size_t off;
	int64_t len;

	(void)state;
	setup_cfg(&f, "{}");
	/* the engine reads the key's due time in place (minute checks it
	 * against flush after every event) */
	assert_true(kw_detect_rate.window(f.self, &off, &len));
	assert_int_equal(len, 60 * INT64_C(1000000));
	/* Four days at 5 a minute; on day 4 at 12:00, 60 in one minute. */
	for (int64_t m = 0; m < 4 * 1440 + 780; m++)
		minute(&f, m, m == 4 * 1440 + 720 ? 60 : 5);
	finish(&f);
	assert_int_equal(f.n, 1);
	a = f.alerts[0];
	assert_string_equal(field(a, "detector"), "rate.spike");
	assert_string_equal(field(a, "severity"), "medium");
	assert_string_equal(field(a, "time"), "2026-11-20T12:01:00Z");
	/* Hot from its 10th request (half the threshold of 20): the top
	 * lists count the 51 after, i = 9..59. */
	assert_string_equal(field(a, "summary"),
			    "sk_live_" E "4242 made 60 requests in the 60 s "
			    "from 2026-11-20T12:00:00Z, 12.0x its usual 5.0 "
			    "at this time of day (busiest usual: 5); of the "
			    "last 51, 34 were customers.list and 39 came from "
			    "203.0.113.9");
	assert_member(
		a, "evidence",
		"{\"requests\":60,\"baseline\":5.0,\"baseline_peak\":5.0,"
		"\"ratio\":12.0,\"window_start\":\"2026-11-20T12:00:00Z\","
		"\"window_seconds\":60,\"learned_since\":"
		"\"2026-11-16T00:00:00Z\",\"top_ops\":[{\"op\":"
		"\"customers.list\",\"requests\":34},{\"op\":"
		"\"charges.retrieve\",\"requests\":17}],\"top_ips\":[{"
		"\"ip\":\"203.0.113.9\",\"requests\":39},{\"ip\":"
		"\"10.0.0.1\",\"requests\":12}],\"top_of_requests\":51}");
	assert_member(a, "requests", "[\"req_9\",\"req_10\",\"req_11\"]");
	assert_member(
		a, "suppress",
		"{\"detector\":\"rate.spike\",\"key\":\"sk_live_*4242\"}");
	teardown_f(&f);
}

/* The same jump 100x and more is critical; 30x high; 6x only low. */
static void test_severity_grows(void **state)
{
	static const struct {
		unsigned n;
		const char *sev;
	} cases[] = {{30, "low"}, {150, "high"}, {500, "critical"}};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct fixture f;

		setup_cfg(&f, "{}");
		for (int64_t m = 0; m < 4 * 1440 + 780; m++)
			minute(&f, m, m == 4 * 1440 + 720 ? cases[i].n : 5);
		finish(&f);
		assert_int_equal(f.n, 1);
		assert_string_equal(field(f.alerts[0], "severity"),
				    cases[i].sev);
		teardown_f(&f);
	}
}

/* A key whose work comes in bursts (one minute of 50 at 12:00 each day,
 * 2 a minute otherwise) has a small mean for the hour: a burst about two
 * of the busiest it has shown is held down by its peak (under 2.5 times
 * the peak low, under three times medium), however many times the mean
 * it is; far above the peak the mean decides again. */
static void test_severity_held_by_peak(void **state)
{
	static const struct {
		unsigned n;
		const char *sev;
	} cases[] = {{100, "low"}, {130, "medium"}, {200, "high"}};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct fixture f;
		double peak, mean;

		setup_cfg(&f, "{}");
		for (int64_t m = 0; m < 4 * 1440 + 780; m++)
			minute(&f, m,
			       m == 4 * 1440 + 750 ? cases[i].n
			       : m % 1440 == 720   ? 50
						   : 2);
		finish(&f);
		assert_int_equal(f.n, 1);
		peak = json_number_value(json_object_get(
			json_object_get(f.alerts[0], "evidence"),
			"baseline_peak"));
		mean = json_number_value(json_object_get(
			json_object_get(f.alerts[0], "evidence"), "baseline"));
		/* the mean alone would make every one of them high */
		assert_true(cases[i].n >= 20 * mean);
		assert_true(peak > 40 && peak <= 50);
		assert_string_equal(field(f.alerts[0], "severity"),
				    cases[i].sev);
		teardown_f(&f);
	}
}

/* ---- what is not a spike --------------------------------------------------
 */

/* Per minute at minute m: a daily cycle between lo and 5 * lo peaking at
 * 14:00, half on Saturday and Sunday, growing by `growth` over 7 days. */
static unsigned cycle(int64_t m, double lo, double growth)
{
	double hod = (double)(m % 1440) / 60.0;
	double daily = 1 + 4 * (0.5 + 0.5 * cos(2 * M_PI * (hod - 14) / 24));
	double week = (m / 1440) % 7 >= 5 ? 0.5 : 1.0;
	double grow = 1 + growth * (double)m / (7 * 1440);

	return (unsigned)(lo * daily * week * grow + 0.5);
}

static void test_daily_swing_not_spike(void **state)
{
	struct fixture f;

	(void)state;
	setup_cfg(&f, "{}");
	for (int64_t m = 0; m < 14 * 1440; m++)
		minute(&f, m, cycle(m, 4, 0));
	finish(&f);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

static void test_weekly_doubling_not_spike(void **state)
{
	struct fixture f;

	(void)state;
	setup_cfg(&f, "{}");
	for (int64_t m = 0; m < 14 * 1440; m++)
		minute(&f, m, cycle(m, 4, 1.0));
	finish(&f);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

/* 3 a minute, and from 02:00 to 02:15 every night 60 a minute. */
static unsigned batch(int64_t m, int64_t from_day)
{
	int64_t in_day = m % 1440;

	if (m / 1440 >= from_day && in_day >= 120 && in_day < 135)
		return 60;
	return 3;
}

static void test_nightly_batch_from_day_one(void **state)
{
	struct fixture f;

	(void)state;
	setup_cfg(&f, "{}");
	for (int64_t m = 0; m < 10 * 1440; m++)
		minute(&f, m, batch(m, 0));
	finish(&f);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

/* A job that starts after the learning period is a spike on its first
 * night (15 windows; it counts only up to the threshold, as an attack
 * would), on its second (it came back: now it counts in full, and the
 * hour's peak is half way there) and third, then expected. */
static void test_nightly_batch_learnt(void **state)
{
	struct fixture f;
	size_t nights[3] = {0};

	(void)state;
	setup_cfg(&f, "{\"learn\": \"1h\"}");
	for (int64_t m = 0; m < 10 * 1440; m++)
		minute(&f, m, batch(m, 2));
	finish(&f);
	for (size_t i = 0; i < f.n; i++) {
		const char *t = field(f.alerts[i], "time");

		if (!strncmp(t, "2026-11-18T02:", 14))
			nights[0]++;
		else if (!strncmp(t, "2026-11-19T02:", 14))
			nights[1]++;
		else if (!strncmp(t, "2026-11-20T02:", 14))
			nights[2]++;
		else
			fail_msg("alert at %s", t);
	}
	assert_int_equal(nights[0], 15);
	assert_int_equal(nights[1], 15);
	assert_int_equal(nights[2], 15);
	teardown_f(&f);
}

/* One spike does not hide the next one near the same time a day later:
 * had the 200 a minute counted in full, the next day's 60 would be under
 * 1.5 times the hour's peak (about 100). */
static void test_spike_not_learnt(void **state)
{
	struct fixture f;
	size_t n = 0;

	(void)state;
	setup_cfg(&f, "{}");
	for (int64_t m = 0; m < 6 * 1440; m++) {
		int64_t in_day = m % 1440;
		bool day4 = m / 1440 == 4, day5 = m / 1440 == 5;
		unsigned count = 5;

		if (day4 && in_day >= 660 && in_day < 670)
			count = 200; /* 11:00, day 4 */
		if (day5 && in_day >= 600 && in_day < 610)
			count = 60; /* 10:00, day 5: next to the first */
		minute(&f, m, count);
	}
	finish(&f);
	for (size_t i = 0; i < f.n; i++) {
		const char *t = field(f.alerts[i], "time");

		assert_true(!strncmp(t, "2026-11-20T11:", 14) ||
			    !strncmp(t, "2026-11-21T10:", 14));
		n += !strncmp(t, "2026-11-21T10:", 14);
	}
	assert_int_equal(n, 10);
	assert_int_equal(f.n, 20);
	teardown_f(&f);
}

/* ---- learning and minimum counts ------------------------------------------
 */

static void test_learning_respected(void **state)
{
	struct fixture f;

	(void)state;
	setup_cfg(&f, "{\"learn\": \"48h\"}");
	/* Spikes at 36h (learning) and at 60h (learnt). */
	for (int64_t m = 0; m < 3 * 1440; m++)
		minute(&f, m, m == 36 * 60 || m == 60 * 60 ? 80 : 5);
	finish(&f);
	assert_int_equal(f.n, 1);
	assert_string_equal(field(f.alerts[0], "time"), "2026-11-18T12:01:00Z");
	teardown_f(&f);
}

/* A window that opens while the key learns (no hot threshold yet) and
 * ends as the learning does is judged as learnt: it spikes, and it is
 * marked urgent on the way (fixture_check_due), so the engine closes it
 * on time rather than at the key's next request. */
static void test_spike_as_learning_ends(void **state)
{
	struct fixture f;

	(void)state;
	setup_cfg(&f, "{\"learn\": \"1h\"}");
	for (int64_t m = 0; m < 60; m++)
		minute(&f, m, m == 59 ? 60 : 5);
	assert_int_equal(f.n, 0);
	finish(&f);
	assert_int_equal(f.n, 1);
	assert_string_equal(field(f.alerts[0], "detector"), "rate.spike");
	assert_string_equal(field(f.alerts[0], "time"), "2026-11-16T01:00:00Z");
	teardown_f(&f);
}

static void test_min_count_keeps_tiny_keys_quiet(void **state)
{
	struct fixture f;

	(void)state;
	setup_cfg(&f, "{\"learn\": \"1h\"}");
	/* One request every 10 minutes, then 9 in a minute: 9x, but 9 <
	 * min_count (10). */
	for (int64_t m = 0; m < 3 * 1440; m++)
		minute(&f, m, m == 2 * 1440 ? 9 : (m % 10 == 0));
	finish(&f);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

static void test_options(void **state)
{
	struct fixture f;
	size_t off;
	int64_t len;

	(void)state;
	/* min_count 100: the 60 of test_spike_caught is not enough. */
	setup_cfg(&f,
		  "{\"detectors\": {\"rate.spike\": {\"min_count\": 100}}}");
	for (int64_t m = 0; m < 4 * 1440 + 780; m++)
		minute(&f, m, m == 4 * 1440 + 720 ? 60 : 5);
	finish(&f);
	assert_int_equal(f.n, 0);
	teardown_f(&f);

	setup_cfg(&f,
		  "{\"detectors\": {\"rate.spike\": {\"enabled\": false}}}");
	assert_false(kw_detect_rate.window(f.self, &off, &len));
	for (int64_t m = 0; m < 4 * 1440 + 780; m++)
		minute(&f, m, m == 4 * 1440 + 720 ? 600 : 5);
	finish(&f);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

/* The window stays open until the watermark passes it: an event a minute
 * late still counts, and the alert comes once, at the tick. */
static void test_late_event_within_lateness(void **state)
{
	struct fixture f;
	struct kw_emit emit = {.fn = on_alert, .ctx = &f};
	struct kw_event ev;
	int64_t spike = 4 * 1440 + 720;

	(void)state;
	setup_cfg(&f, "{}");
	for (int64_t m = 0; m < spike; m++)
		minute(&f, m, 5);
	minute(&f, spike, 19);
	minute(&f, spike + 1, 5);
	assert_int_equal(f.n, 0);
	/* One more for the spike minute, arriving a minute late: 20 = the
	 * threshold (4 x 5). */
	memset(&ev, 0, sizeof(ev));
	ev.ts = f.t0 + spike * MIN + 59 * 1000000;
	kw_detect_rate.observe(f.self, &ev, f.ent, kw_keytab_state(f.ent),
			       &emit);
	for (int64_t m = spike + 2; m < spike + 5; m++)
		minute(&f, m, 5);
	assert_int_equal(f.n, 1);
	assert_string_equal(field(f.alerts[0], "summary"),
			    "sk_live_" E "4242 made 20 requests in the 60 s "
			    "from 2026-11-20T12:00:00Z, 4.0x its usual 5.0 at "
			    "this time of day (busiest usual: 5); of the last "
			    "11, 10 were charges.retrieve and 10 came from "
			    "10.0.0.1");
	finish(&f);
	assert_int_equal(f.n, 1);
	teardown_f(&f);
}

static void drive_rate(struct fixture *f)
{
	for (int64_t m = 3 * 1440; m < 3 * 1440 + 6; m++)
		minute(f, m, m % 2 ? 90 : 3);
}

/* A state file is outside keywatch's control: the window ring and the
 * baselines are checked before a loaded state is used. */
static void test_validate(void **state)
{
	struct fixture f;
	char why[160];
	unsigned char *st;

	(void)state;
	setup_cfg(&f, "{\"learn\": \"1h\"}");
	for (int64_t m = 0; m < 2 * 1440; m += 7)
		minute(&f, m, 4 + (unsigned)(m % 5));
	minute(&f, 2 * 1440 + 600, 120);
	fixture_clear_alerts(&f);
	assert_true(fixture_mutate(&f, drive_rate) > 0);
	st = kw_keytab_state(f.ent);
	memset(st, 0xff, kw_detect_rate.state_size);
	assert_false(kw_detect_rate.validate(st, why, sizeof(why)));
	assert_string_equal(why, "window index out of range");
	memset(st, 0, kw_detect_rate.state_size);
	assert_true(kw_detect_rate.validate(st, why, sizeof(why)));
	/* The oldest open window must come after the last closed one. */
	((struct kw_win *)st)->first = 5;
	((struct kw_win *)st)->closed = 5;
	assert_false(kw_detect_rate.validate(st, why, sizeof(why)));
	assert_string_equal(why,
			    "open window 5 is not after the last closed one 5");
	teardown_f(&f);
}

/* ---- learning kept through an upgrade of another family -------------------
 */

/* The days before the spike (0 to 3), then day 4 with the spike. */
#define SPIKE_DAY_MIN (4 * 1440)
static void before(struct fixture *f)
{
	for (int64_t m = 0; m < SPIKE_DAY_MIN; m++)
		minute(f, m, 5);
}

static void spike_day(struct fixture *f)
{
	for (int64_t m = SPIKE_DAY_MIN; m < SPIKE_DAY_MIN + 780; m++)
		minute(f, m, m == SPIKE_DAY_MIN + 720 ? 60 : 5);
	finish(f);
}

static void test_learning_kept_when_geo_layout_changes(void **state)
{
	const uint32_t rs = (uint32_t)kw_detect_rate.state_size;
	/* Before: geo v1 of 48 bytes, then rate. After: geo v2 of 16 bytes,
	 * then rate (both at multiples of 16, as the engine lays them). */
	const struct kw_snap_section old_secs[] = {
		{"geo", 1, 0, 48},
		{"rate", kw_detect_rate.state_version, 48, rs}};
	const struct kw_snap_section new_secs[] = {
		{"geo", 2, 0, 16},
		{"rate", kw_detect_rate.state_version, 16, rs}};
	const struct kw_snap_layout old_l = {old_secs, 2, 48 + rs, 1};
	const struct kw_snap_layout new_l = {new_secs, 2, 16 + rs, 2};
	struct kw_snap_meta m = {0, 0, 0};
	struct kw_snapshot_writer *w = NULL;
	struct kw_snapshot *snap = NULL;
	struct fixture one, two;
	struct kw_keyent *ent;
	struct capture cap;
	struct kw_error err;
	char dir[] = "/tmp/kw_test_rate_XXXXXX", path[64], got[1024],
	     want[1024];
	unsigned char *st = calloc(1, 48 + rs), *back = calloc(1, 16 + rs);
	bool found;

	(void)state;
	assert_non_null(st);
	assert_non_null(back);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state", dir);
	/* One run over both. */
	setup_cfg(&one, "{}");
	before(&one);
	spike_day(&one);
	assert_int_equal(one.n, 1);

	/* Two runs: the first saves the key with a geo of the old layout
	 * beside it, the second loads it with geo's layout changed. */
	setup_cfg(&two, "{}");
	before(&two);
	finish(&two);
	fixture_clear_alerts(&two);
	memset(st, 0x5a, 48); /* whatever the old geo kept */
	memcpy(st + 48, kw_keytab_state(two.ent), rs);
	m.first_seen = two.ent->first_seen;
	m.last_seen = two.ent->last_seen;
	m.events = two.ent->events;
	assert_int_equal(kw_snapshot_write_begin_layout(path, &old_l, &w, &err),
			 KW_OK);
	kw_snapshot_write_add(w, two.ent->fp, &m, st);
	assert_int_equal(kw_snapshot_write_commit(w, &err), KW_OK);
	teardown_f(&two);

	setup_cfg(&two, "{}");
	assert_int_equal(kw_snapshot_create_layout(&new_l, NULL, 10, &snap),
			 KW_OK);
	capture_begin(&cap);
	assert_int_equal(kw_snapshot_load(snap, path, &found, &err), KW_OK);
	capture_end(&cap, got, sizeof(got));
	snprintf(want, sizeof(want),
		 "keywatch: warning: state: learning for geo starts again: "
		 "its state in %s is from an older layout\n",
		 path);
	assert_string_equal(got, want);
	assert_int_equal(kw_keytab_get(two.tab, KEY, strlen(KEY),
				       one.t0 + SPIKE_DAY_MIN * MIN, &ent,
				       NULL),
			 KW_OK);
	assert_true(kw_snapshot_take(snap, ent->fp, &m, back));
	for (uint32_t i = 0; i < 16; i++)
		assert_int_equal(back[i], 0); /* geo starts again */
	memcpy(kw_keytab_state(ent), back + 16, rs);
	ent->first_seen = m.first_seen;
	spike_day(&two);
	assert_int_equal(two.n, 1);
	assert_true(json_equal(two.alerts[0], one.alerts[0]));

	kw_snapshot_destroy(snap);
	teardown_f(&one);
	teardown_f(&two);
	free(st);
	free(back);
	unlink(path);
	rmdir(dir);
}

static void test_state_is_small(void **state)
{
	(void)state;
	assert_int_equal(kw_detect_rate.state_size, 160);
	assert_int_equal(kw_detect_rate.kind, KW_DETECTOR_LEARNED);
}

/* kw_bf16_top, the busiest hour on the bits, against the float loop it
 * replaces: every bfloat16 against a few others, and random rows of 24. */
static float bf16_float(uint16_t b)
{
	uint32_t u = (uint32_t)b << 16;
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static float float_top(const uint16_t *b, size_t n)
{
	float top = 0;

	for (size_t i = 0; i < n; i++) {
		if (bf16_float(b[i]) > top)
			top = bf16_float(b[i]);
	}
	return top;
}

static void test_bf16_top(void **state)
{
	static const uint16_t others[] = {0,	  0x3f80, 0x7f80, 0x7fc0,
					  0x8000, 0xbf80, 0x0001, 0x447a};
	uint64_t x = 0x6270663136ULL;
	uint16_t row[24];

	(void)state;
	/* every value, in a row of 24 (eight at a time) at a place that
	 * moves, among copies of another; and as a pair (one at a time) */
	for (uint32_t v = 0; v <= 0xffff; v++) {
		for (size_t k = 0; k < sizeof(others) / sizeof(*others); k++) {
			uint16_t pair[2] = {(uint16_t)v, others[k]};
			float want = float_top(pair, 2);
			float got = bf16_float(kw_bf16_top(pair, 2));

			assert_memory_equal(&want, &got, sizeof(want));
			for (size_t i = 0; i < 24; i++)
				row[i] = others[k];
			row[v % 24] = (uint16_t)v;
			want = float_top(row, 24);
			got = bf16_float(kw_bf16_top(row, 24));
			assert_memory_equal(&want, &got, sizeof(want));
		}
	}
	for (int round = 0; round < 100000; round++) {
		float want, got;

		for (size_t i = 0; i < 24; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			/* mostly the counts a key has, sometimes any bits */
			row[i] =
				(x >> 60)
					? (uint16_t)(0x3f80 + (x >> 52) % 0x800)
					: (uint16_t)(x >> 40);
		}
		want = float_top(row, 24);
		got = bf16_float(kw_bf16_top(row, 24));
		assert_memory_equal(&want, &got, sizeof(want));
	}
}

/* kw_win_due against the division it replaced: the same answer for
 * every window length a config can give and every first window, most of
 * all at the bound where the next window's end passes INT64_MAX. */
static int64_t due_by_division(uint32_t first, int64_t len)
{
	if (!first)
		return KW_DETECT_NONE_OPEN;
	if ((int64_t)first >= INT64_MAX / len - 1)
		return INT64_MAX - 1;
	return ((int64_t)first + 1) * len;
}

static void test_win_due_bound(void **state)
{
	static const int64_t lens[] = {1,
				       7,
				       60000000,
				       3600000000,
				       4294967296,
				       86400000000,
				       INT64_MAX / 3,
				       INT64_MAX / 2,
				       INT64_MAX - 1,
				       INT64_MAX};
	struct kw_win w;

	(void)state;
	memset(&w, 0, sizeof(w));
	for (size_t i = 0; i < sizeof(lens) / sizeof(*lens); i++) {
		int64_t len = lens[i], edge = INT64_MAX / len - 1;

		for (int64_t d = -3; d <= 3; d++) {
			/* a first window is 32 bits: edges past that are
			 * never reached */
			if (edge > (int64_t)UINT32_MAX + 3 || edge + d < 0 ||
			    edge + d > UINT32_MAX)
				continue;
			w.first = (uint32_t)(edge + d);
			assert_int_equal(kw_win_due(&w, len),
					 due_by_division(w.first, len));
		}
		for (uint32_t f = 0; f < 4; f++) {
			w.first = f;
			assert_int_equal(kw_win_due(&w, len),
					 due_by_division(f, len));
		}
		w.first = UINT32_MAX;
		assert_int_equal(kw_win_due(&w, len),
				 due_by_division(UINT32_MAX, len));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bf16_top),
		cmocka_unit_test(test_win_due_bound),
		cmocka_unit_test(test_spike_caught),
		cmocka_unit_test(test_severity_grows),
		cmocka_unit_test(test_severity_held_by_peak),
		cmocka_unit_test(test_daily_swing_not_spike),
		cmocka_unit_test(test_weekly_doubling_not_spike),
		cmocka_unit_test(test_nightly_batch_from_day_one),
		cmocka_unit_test(test_nightly_batch_learnt),
		cmocka_unit_test(test_spike_not_learnt),
		cmocka_unit_test(test_learning_respected),
		cmocka_unit_test(test_spike_as_learning_ends),
		cmocka_unit_test(test_min_count_keeps_tiny_keys_quiet),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_late_event_within_lateness),
		cmocka_unit_test(test_learning_kept_when_geo_layout_changes),
		cmocka_unit_test(test_state_is_small),
		cmocka_unit_test(test_validate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
