/*
 * test_time.c - event time: RFC 3339 parsing (every accepted form and many
 * rejected ones, leap years, offsets, fractions, the 1970..9999 bounds),
 * formatting, the civil-date helper, and durations (units, zero, overflow).
 *
 * The one idea: expected values were computed independently (Python's
 * datetime), so a test compares against an outside reference, not against
 * the code's own arithmetic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/time.h"

#define SEC INT64_C(1000000)

static int64_t parse_ok(const char *s)
{
	int64_t us = -42;

	if (!kw_time_parse(s, strlen(s), &us))
		fail_msg("rejected: %s", s);
	return us;
}

static void parse_bad(const char *s)
{
	int64_t us = -42;

	if (kw_time_parse(s, strlen(s), &us))
		fail_msg("accepted: %s", s);
	assert_int_equal(us, -42); /* untouched */
}

static void test_parse_forms(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(parse_ok("2026-11-27T09:14:03Z"),
			 INT64_C(1795770843) * SEC);
	/* 't', 'z' and a space are accepted too. */
	assert_int_equal(parse_ok("2026-11-27t09:14:03z"),
			 INT64_C(1795770843) * SEC);
	assert_int_equal(parse_ok("2026-11-27 09:14:03Z"),
			 INT64_C(1795770843) * SEC);
	/* Offsets: the local time minus the offset. */
	assert_int_equal(parse_ok("2026-11-27T09:14:03+00:00"),
			 INT64_C(1795770843) * SEC);
	assert_int_equal(parse_ok("2026-11-27T09:14:03-00:00"),
			 INT64_C(1795770843) * SEC);
	assert_int_equal(parse_ok("2026-11-27T09:14:03+01:00"),
			 INT64_C(1795767243) * SEC);
	assert_int_equal(parse_ok("2026-11-27T09:14:03-05:30"),
			 INT64_C(1795790643) * SEC);
	assert_int_equal(parse_ok("2026-11-27T09:14:03+23:59"),
			 INT64_C(1795684503) * SEC);
	/* BigQuery writes a TIMESTAMP as "... UTC" (GCP audit log exports):
	 * exactly that, nothing like it. */
	assert_int_equal(parse_ok("2026-11-27 09:14:03 UTC"),
			 INT64_C(1795770843) * SEC);
	assert_int_equal(parse_ok("2026-11-27 09:14:03.123456 UTC"),
			 INT64_C(1795770843) * SEC + 123456);
	parse_bad("2026-11-27 09:14:03 utc");
	parse_bad("2026-11-27 09:14:03UTC");
	parse_bad("2026-11-27 09:14:03 UTC ");
	parse_bad("2026-11-27 09:14:03 UT");
	parse_bad("2026-11-27 09:14:03Z UTC");
	/* Second 60 (a leap second) is the next second. */
	assert_int_equal(parse_ok("2016-12-31T23:59:60Z"),
			 INT64_C(1483228800) * SEC);
}

static void test_parse_fractions(void **state)
{
	const int64_t base = INT64_C(1795770843) * SEC;

	(void)state;
	assert_int_equal(parse_ok("2026-11-27T09:14:03.5Z"), base + 500000);
	assert_int_equal(parse_ok("2026-11-27T09:14:03.05Z"), base + 50000);
	assert_int_equal(parse_ok("2026-11-27T09:14:03.000001Z"), base + 1);
	assert_int_equal(parse_ok("2026-11-27T09:14:03.123456Z"),
			 base + 123456);
	/* Digits past the microsecond are read and dropped (not rounded). */
	assert_int_equal(parse_ok("2026-11-27T09:14:03.1234567Z"),
			 base + 123456);
	assert_int_equal(parse_ok("2026-11-27T09:14:03.999999999Z"),
			 base + 999999);
	assert_int_equal(parse_ok("2026-11-27T09:14:03.000000000Z"), base);
	assert_int_equal(parse_ok("2026-11-27T09:14:03.250+01:00"),
			 base - 3600 * SEC + 250000);
	parse_bad("2026-11-27T09:14:03.Z");
	parse_bad("2026-11-27T09:14:03.1234567890Z"); /* 10 digits */
	parse_bad("2026-11-27T09:14:03,5Z");
	parse_bad("2026-11-27T09:14:03.5");
	parse_bad("2026-11-27T09:14:03.5.5Z");
}

static void test_parse_calendar(void **state)
{
	(void)state;
	/* Leap years: divisible by 4, except centuries not divisible by
	 * 400. */
	assert_int_equal(parse_ok("2024-02-29T12:00:00Z"),
			 INT64_C(1709208000) * SEC);
	assert_int_equal(parse_ok("2000-02-29T00:00:00Z"),
			 INT64_C(951782400) * SEC);
	assert_int_equal(parse_ok("2400-02-29T00:00:00Z"),
			 INT64_C(13574563200) * SEC);
	parse_bad("2023-02-29T00:00:00Z");
	parse_bad("2100-02-29T00:00:00Z");
	parse_bad("2024-02-30T00:00:00Z");
	/* Month lengths. */
	parse_ok("2026-01-31T00:00:00Z");
	parse_ok("2026-12-31T00:00:00Z");
	parse_bad("2026-04-31T00:00:00Z");
	parse_bad("2026-06-31T00:00:00Z");
	parse_bad("2026-09-31T00:00:00Z");
	parse_bad("2026-11-31T00:00:00Z");
	parse_bad("2026-01-32T00:00:00Z");
	parse_bad("2026-01-00T00:00:00Z");
	parse_bad("2026-00-10T00:00:00Z");
	parse_bad("2026-13-10T00:00:00Z");
	/* Time fields. */
	parse_ok("2026-01-01T23:59:59Z");
	parse_bad("2026-01-01T24:00:00Z");
	parse_bad("2026-01-01T00:60:00Z");
	parse_bad("2026-01-01T00:00:61Z");
	parse_bad("2026-01-01T99:00:00Z");
}

static void test_parse_bounds(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), KW_TIME_MIN);
	assert_int_equal(parse_ok("1969-12-31T23:00:00-01:00"), 0);
	assert_int_equal(parse_ok("9999-12-31T23:59:59.999999Z"), KW_TIME_MAX);
	assert_int_equal(parse_ok("9999-12-31T23:59:59Z"),
			 INT64_C(253402300799) * SEC);
	parse_bad("10000-01-01T00:00:00Z");
	parse_bad("1969-12-31T23:59:59Z");
	parse_bad("1969-12-31T23:59:59.999999Z");
	parse_bad("1970-01-01T00:30:00+01:00");
	parse_bad("9999-12-31T23:59:60Z");
	parse_bad("9999-12-31T23:00:00-01:00");
	parse_bad("0000-01-01T00:00:00Z");
	parse_bad("1900-01-01T00:00:00Z");
}

static void test_parse_rejects(void **state)
{
	int64_t us = -42;

	(void)state;
	parse_bad("");
	parse_bad("2026");
	parse_bad("2026-11-27");
	parse_bad("2026-11-27T09:14Z");
	parse_bad("2026-11-27T09:14:03");
	parse_bad("2026-11-27T09:14:03ZZ");
	parse_bad("2026-11-27T09:14:03Z ");
	parse_bad(" 2026-11-27T09:14:03Z");
	parse_bad("2026/11/27T09:14:03Z");
	parse_bad("2026-11-27_09:14:03Z");
	parse_bad("2026-11-27T09.14.03Z");
	parse_bad("2026-1-27T09:14:03Z");
	parse_bad("26-11-27T09:14:03Z");
	parse_bad("+2026-11-27T09:14:03Z");
	parse_bad("2026-11-27T9:14:03Z");
	parse_bad("2026-1a-27T09:14:03Z");
	parse_bad("2026-11-27T09:14:0xZ");
	parse_bad("2026-11-27T09:14:03UTC");
	parse_bad("2026-11-27T09:14:03+0100");
	parse_bad("2026-11-27T09:14:03+01");
	parse_bad("2026-11-27T09:14:03+01:0");
	parse_bad("2026-11-27T09:14:03+1:00");
	parse_bad("2026-11-27T09:14:03+24:00");
	parse_bad("2026-11-27T09:14:03+01:60");
	parse_bad("2026-11-27T09:14:03+01:00Z");
	parse_bad("2026-11-27T09:14:03 +01:00");
	parse_bad("1795770843");
	parse_bad("Fri, 27 Nov 2026 09:14:03 GMT");

	/* n bounds the text: what follows is not read. */
	assert_true(kw_time_parse("2026-11-27T09:14:03Zjunk", 20, &us));
	assert_int_equal(us, INT64_C(1795770843) * SEC);
	us = -42;
	assert_false(kw_time_parse("2026-11-27T09:14:03Z", 19, &us));
	assert_false(kw_time_parse("2026-11-27T09:14:03+01:00", 24, &us));
	assert_false(kw_time_parse("2026-11-27T09:14:03.5Z", 21, &us));
	assert_false(kw_time_parse("2026-11-27T09:14:03Z", 0, &us));
	assert_int_equal(us, -42);
}

static void test_format(void **state)
{
	char buf[32];
	char small[10];
	const char *samples[] = {
		"1970-01-01T00:00:00Z", "2000-02-29T00:00:00Z",
		"2024-02-29T12:00:00Z", "2026-11-27T09:14:03Z",
		"2100-03-01T00:00:00Z", "2400-02-29T23:59:59Z",
		"9999-12-31T23:59:59Z",
	};

	(void)state;
	assert_string_equal(kw_time_format(0, buf, sizeof(buf)),
			    "1970-01-01T00:00:00Z");
	/* Whole seconds: the fraction is dropped. */
	assert_string_equal(kw_time_format(INT64_C(1795770843) * SEC + 999999,
					   buf, sizeof(buf)),
			    "2026-11-27T09:14:03Z");
	assert_string_equal(kw_time_format(KW_TIME_MAX, buf, sizeof(buf)),
			    "9999-12-31T23:59:59Z");
	/* Before the epoch rounds down to the whole second. */
	assert_string_equal(kw_time_format(-1, buf, sizeof(buf)),
			    "1969-12-31T23:59:59Z");
	assert_string_equal(kw_time_format(-SEC, buf, sizeof(buf)),
			    "1969-12-31T23:59:59Z");
	assert_string_equal(kw_time_format(-SEC - 1, buf, sizeof(buf)),
			    "1969-12-31T23:59:58Z");
	assert_string_equal(kw_time_format(-86400 * SEC, buf, sizeof(buf)),
			    "1969-12-31T00:00:00Z");
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		int64_t us = parse_ok(samples[i]);

		assert_string_equal(kw_time_format(us, buf, sizeof(buf)),
				    samples[i]);
	}
	/* Without printf, the text printf gives: every year from 1 to
	 * 9999, at odd times of day (gmtime_r is the reference). */
	for (int64_t t = INT64_C(-62135596800); t < INT64_C(253402300800);
	     t += INT64_C(2535977)) {
		struct tm tm;
		time_t tt = (time_t)t;
		char want[64];

		assert_non_null(gmtime_r(&tt, &tm));
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec);
		assert_string_equal(kw_time_format(t * SEC, buf, sizeof(buf)),
				    want);
	}
	/* Exactly 21 bytes fit; less is cut and terminated. */
	assert_string_equal(kw_time_format(0, buf, 21), "1970-01-01T00:00:00Z");
	assert_ptr_equal(kw_time_format(0, small, sizeof(small)), small);
	assert_string_equal(small, "1970-01-0");
}

static void test_days_from_civil(void **state)
{
	(void)state;
	assert_int_equal(kw_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(kw_days_from_civil(1969, 12, 31), -1);
	assert_int_equal(kw_days_from_civil(2000, 3, 1), 11017);
	assert_int_equal(kw_days_from_civil(2024, 2, 29), 19782);
	assert_int_equal(kw_days_from_civil(9999, 12, 31), 2932896);
	assert_int_equal(kw_days_from_civil(1, 1, 1), -719162);
}

static int64_t dur_ok(const char *s)
{
	int64_t us = -42;

	if (!kw_duration_parse(s, &us))
		fail_msg("rejected: %s", s);
	return us;
}

static void dur_bad(const char *s)
{
	int64_t us = -42;

	if (kw_duration_parse(s, &us))
		fail_msg("accepted: %s", s);
	assert_int_equal(us, -42);
}

static void test_duration(void **state)
{
	(void)state;
	assert_int_equal(dur_ok("1s"), SEC);
	assert_int_equal(dur_ok("90s"), 90 * SEC);
	assert_int_equal(dur_ok("15m"), 900 * SEC);
	assert_int_equal(dur_ok("72h"), 72 * 3600 * SEC);
	assert_int_equal(dur_ok("7d"), 7 * 86400 * SEC);
	assert_int_equal(dur_ok("05m"), 300 * SEC);
	/* The largest of each unit that fits in int64 microseconds. */
	assert_int_equal(dur_ok("9223372036854s"),
			 INT64_C(9223372036854) * SEC);
	assert_int_equal(dur_ok("153722867280m"),
			 INT64_C(153722867280) * 60 * SEC);
	assert_int_equal(dur_ok("2562047788h"),
			 INT64_C(2562047788) * 3600 * SEC);
	assert_int_equal(dur_ok("106751991d"),
			 INT64_C(106751991) * 86400 * SEC);
	dur_bad("9223372036855s");
	dur_bad("153722867281m");
	dur_bad("2562047789h");
	dur_bad("106751992d");
	dur_bad("18446744073709551615s");
	dur_bad("18446744073709551616s");
	dur_bad("99999999999999999999999999d");
	/* Zero is not a duration. */
	dur_bad("0s");
	dur_bad("0d");
	dur_bad("000m");
	/* Shapes. */
	dur_bad(NULL);
	dur_bad("");
	dur_bad("s");
	dur_bad("5");
	dur_bad("5x");
	dur_bad("5S");
	dur_bad("5ms");
	dur_bad("5ss");
	dur_bad("5 s");
	dur_bad(" 5s");
	dur_bad("5s ");
	dur_bad("-5s");
	dur_bad("+5s");
	dur_bad("1.5h");
	dur_bad("1h30m");
	dur_bad("0x10s");
	dur_bad("PT5M");
}

static void test_duration_format(void **state)
{
	static const struct {
		int64_t us;
		const char *want;
	} cases[] = {
		{INT64_C(72) * 3600 * 1000000, "72h"},
		{(INT64_C(5) * 3600 + 12 * 60 + 9) * 1000000, "5h 12m"},
		{INT64_C(47) * 60 * 1000000, "47m"},
		{(INT64_C(47) * 60 + 3) * 1000000 + 999999, "47m 3s"},
		{INT64_C(30) * 1000000, "30s"},
		{0, "0s"},
		{-5, "0s"},
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(
			kw_duration_format(cases[i].us, buf, sizeof(buf)),
			cases[i].want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_forms),
		cmocka_unit_test(test_parse_fractions),
		cmocka_unit_test(test_parse_calendar),
		cmocka_unit_test(test_parse_bounds),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_days_from_civil),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_duration_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
