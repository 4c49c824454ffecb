/*
 * test_keyreport.c - a key's timeline and operations for the report
 * (state/keyreport.h): exact counts per minute; the points widening
 * (1, 2, 10 minutes ... whole days) as the run grows, on hour and
 * midnight boundaries, with every request still counted and each point's
 * busiest minute kept; a request before the first point; counts past the
 * 16-bit form's exact range; the operations' top list (exact for the
 * first eight, then a shared count marked inherited), and operation names
 * redacted and cut; the first eight distinct addresses and networks
 * (/24, /48) in the order first seen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "state/keyreport.h"

#define MIN (INT64_C(60) * 1000000)
#define DAY (1440 * MIN)
/* 2026-11-20T00:00:00Z, a midnight */
#define T0 (INT64_C(1795132800) * 1000000)
#define KEY "sk_live_51HxAbCdEfGhIjKlMnOp4242"

static void req(struct kw_keyreport *r, int64_t ts, const char *op)
{
	struct kw_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.ts = ts;
	ev.key = kw_str_c(KEY);
	ev.op = kw_str_c(op);
	kw_keyreport_observe(r, &ev);
}

static uint64_t total(const struct kw_keyreport *r)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < kw_keyreport_npoints(r); i++)
		n += kw_keyreport_count(r, i);
	return n;
}

static void test_empty(void **state)
{
	struct kw_keyreport r;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(kw_keyreport_npoints(&r), 0);
	assert_int_equal(kw_keyreport_count(&r, 0), 0);
}

static void test_minutes(void **state)
{
	struct kw_keyreport r;

	(void)state;
	memset(&r, 0, sizeof(r));
	req(&r, T0 + 7 * MIN + 1, "charges.list");
	req(&r, T0 + 7 * MIN + 20 * 1000000, "charges.list");
	req(&r, T0 + 7 * MIN + 59 * 1000000, "charges.list");
	req(&r, T0 + 8 * MIN, "charges.list");
	req(&r, T0 + 12 * MIN + 5, "charges.list");
	assert_int_equal(kw_keyreport_width(&r), MIN);
	assert_int_equal(kw_keyreport_time(&r, 0), T0 + 7 * MIN);
	assert_int_equal(kw_keyreport_npoints(&r), 6);
	assert_int_equal(kw_keyreport_count(&r, 0), 3);
	assert_int_equal(kw_keyreport_count(&r, 1), 1);
	assert_int_equal(kw_keyreport_count(&r, 2), 0);
	assert_int_equal(kw_keyreport_count(&r, 5), 1);
	assert_int_equal(r.peak[0], 3);
	assert_int_equal(r.peak[1], 1);
	assert_int_equal(r.peak[4], 0);
	assert_int_equal(r.peak[5], 1);
}

/* One request a minute for 300 minutes from 00:03, and 50 more in minute
 * 200 (03:23): past 128 and 256 minutes the points widen to 2, then 10
 * minutes, starting on a multiple of 10 minutes. */
static void test_widens(void **state)
{
	struct kw_keyreport r;
	unsigned burst;

	(void)state;
	memset(&r, 0, sizeof(r));
	for (int m = 3; m < 303; m++) {
		req(&r, T0 + m * MIN + 1000, "charges.list");
		if (m == 200)
			for (int i = 0; i < 50; i++)
				req(&r, T0 + m * MIN + 2000 + i,
				    "charges.list");
	}
	assert_int_equal(kw_keyreport_width(&r), 10 * MIN);
	assert_int_equal(kw_keyreport_time(&r, 0), T0);
	assert_int_equal(kw_keyreport_npoints(&r), 31); /* 00:00 .. 05:00 */
	assert_int_equal(total(&r), 350);
	assert_int_equal(kw_keyreport_count(&r, 0), 7); /* 00:03 .. 00:09 */
	assert_int_equal(kw_keyreport_count(&r, 1), 10);
	burst = 200 / 10;
	assert_int_equal(kw_keyreport_count(&r, burst), 60);
	assert_int_equal(r.peak[burst], 51);
	assert_int_equal(r.peak[burst - 1], 1);
	assert_int_equal(kw_keyreport_count(&r, 30), 3); /* 05:00 .. 05:02 */
}

/* 40 days: 12-hour points; 440 days: points of whole days, doubling,
 * starting at midnight. */
static void test_days(void **state)
{
	struct kw_keyreport r;

	(void)state;
	memset(&r, 0, sizeof(r));
	for (int d = 0; d < 400; d++)
		req(&r, T0 + 5 * MIN + d * (DAY / 10), "charges.list");
	assert_int_equal(kw_keyreport_width(&r), DAY / 2);
	assert_int_equal(kw_keyreport_time(&r, 0), T0);
	assert_int_equal(kw_keyreport_npoints(&r), 80);
	assert_int_equal(kw_keyreport_count(&r, 0), 5);
	assert_int_equal(total(&r), 400);
	for (int d = 0; d < 4000; d++)
		req(&r, T0 + 40 * DAY + d * (DAY / 10), "charges.list");
	assert_int_equal(kw_keyreport_width(&r), 4 * DAY);
	assert_int_equal(kw_keyreport_time(&r, 0) % DAY, 0);
	assert_int_equal(total(&r), 4400);
}

/* A request before the first point: the points move back (widening only
 * when they must), nothing is lost. */
static void test_earlier(void **state)
{
	struct kw_keyreport r;

	(void)state;
	memset(&r, 0, sizeof(r));
	req(&r, T0 + 100 * MIN, "a");
	req(&r, T0 + 101 * MIN, "a");
	req(&r, T0 + 90 * MIN, "a");
	assert_int_equal(kw_keyreport_width(&r), MIN);
	assert_int_equal(kw_keyreport_time(&r, 0), T0 + 90 * MIN);
	assert_int_equal(kw_keyreport_count(&r, 0), 1);
	assert_int_equal(kw_keyreport_count(&r, 10), 1);
	assert_int_equal(kw_keyreport_count(&r, 11), 1);
	req(&r, T0 - 200 * MIN, "a");
	assert_int_equal(kw_keyreport_width(&r), 10 * MIN);
	assert_int_equal(total(&r), 4);
}

/* Past 4,095 a stored count keeps 12 bits; the point being filled is
 * exact, and a minute's peak saturates at 65,535. */
static void test_big_counts(void **state)
{
	struct kw_keyreport r;
	uint64_t n;

	(void)state;
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < 70001; i++)
		req(&r, T0 + i, "charges.list");
	assert_int_equal(kw_keyreport_count(&r, 0), 70001);
	assert_int_equal(r.peak[0], 65535);
	req(&r, T0 + MIN, "charges.list"); /* moves on: the first is stored */
	n = kw_keyreport_count(&r, 0);
	assert_true(n >= 70001 - 70001 / 4096 && n <= 70001 + 70001 / 4096);
	assert_int_equal(kw_keyreport_count(&r, 1), 1);
	assert_int_equal(r.ops[0].n, 70002);
}

static void test_ops(void **state)
{
	static const char *const ops[] = {"a", "b", "c", "d", "e",
					  "f", "g", "h", "i"};
	struct kw_keyreport r;
	int i;

	(void)state;
	memset(&r, 0, sizeof(r));
	for (i = 0; i < 8; i++)
		for (int j = 0; j <= i; j++)
			req(&r, T0 + i * MIN, ops[i]);
	req(&r, T0 + 3 * MIN, ""); /* no operation: counted, not listed */
	for (i = 0; i < 8; i++) {
		assert_string_equal(r.ops[i].name, ops[i]);
		assert_int_equal(r.ops[i].n, i + 1);
		assert_int_equal(r.ops[i].first, (T0 + i * MIN) / MIN);
		assert_int_equal(r.ops[i].flags, 0);
	}
	/* A ninth takes the least counted slot ("a", 1) and its count. */
	req(&r, T0 + 20 * MIN, "i");
	assert_string_equal(r.ops[0].name, "i");
	assert_int_equal(r.ops[0].n, 2);
	assert_int_equal(r.ops[0].flags, KW_KEYREPORT_INHERITED);
	assert_int_equal(r.ops[0].first, (T0 + 20 * MIN) / MIN);
	req(&r, T0 + 21 * MIN, "i");
	assert_int_equal(r.ops[0].n, 3);
	assert_int_equal(total(&r), 36 + 1 + 2);
}

/* The request's key inside an operation name (an unmodelled path) is
 * kept as its redacted id; a long name is cut, marked, and still counted
 * in one slot. */
static void test_op_text(void **state)
{
	struct kw_keyreport r;
	const char *long_op = "GET /v1/a_very_long_resource_name/{id}/"
			      "sub_resources/{id}/more";

	(void)state;
	memset(&r, 0, sizeof(r));
	req(&r, T0, "GET /v1/" KEY);
	req(&r, T0, "GET /v1/" KEY);
	assert_string_equal(r.ops[0].name, "GET /v1/sk_live_\xe2\x80\xa6"
					   "4242");
	assert_int_equal(r.ops[0].n, 2);
	assert_null(strstr(r.ops[0].name, "AbCdEfGh"));
	req(&r, T0, long_op);
	req(&r, T0, long_op);
	assert_int_equal(strlen(r.ops[1].name), KW_KEYREPORT_OP_LEN - 2);
	assert_memory_equal(r.ops[1].name, long_op, KW_KEYREPORT_OP_LEN - 5);
	assert_string_equal(r.ops[1].name + KW_KEYREPORT_OP_LEN - 5,
			    "\xe2\x80\xa6");
	assert_int_equal(r.ops[1].n, 2);
	assert_int_equal(r.ops[2].name[0], '\0');
}

static void from(struct kw_keyreport *r, int64_t ts, const char *ip)
{
	struct kw_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.ts = ts;
	ev.key = kw_str_c(KEY);
	assert_true(kw_ip_parse(&ev.ip, ip, strlen(ip)));
	kw_keyreport_observe(r, &ev);
}

static void test_addresses(void **state)
{
	static struct kw_keyreport r;
	char ip[64];

	(void)state;
	memset(&r, 0, sizeof(r));
	req(&r, T0, "charges.list"); /* no address */
	from(&r, T0, "10.0.0.1");
	from(&r, T0, "10.0.0.2");
	from(&r, T0, "10.0.0.1");
	from(&r, T0, "2001:db8:1:2::9");
	for (int i = 1; i <= 12; i++) {
		snprintf(ip, sizeof(ip), "10.0.%d.7", i);
		from(&r, T0, ip);
	}
	assert_int_equal(r.nips, 8);
	assert_string_equal(kw_ip_format(&r.ips[0], ip, sizeof(ip)),
			    "10.0.0.1");
	assert_string_equal(kw_ip_format(&r.ips[1], ip, sizeof(ip)),
			    "10.0.0.2");
	assert_string_equal(kw_ip_format(&r.ips[2], ip, sizeof(ip)),
			    "2001:db8:1:2::9");
	assert_string_equal(kw_ip_format(&r.ips[7], ip, sizeof(ip)),
			    "10.0.5.7");
	/* networks: 10.0.0/24, 2001:db8:1::/48, then 10.0.1/24 ... */
	assert_int_equal(r.nnets, 8);
	assert_string_equal(kw_ip_format(&r.nets[0], ip, sizeof(ip)),
			    "10.0.0.0");
	assert_string_equal(kw_ip_format(&r.nets[1], ip, sizeof(ip)),
			    "2001:db8:1::");
	assert_string_equal(kw_ip_format(&r.nets[7], ip, sizeof(ip)),
			    "10.0.6.0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_minutes),
		cmocka_unit_test(test_widens),
		cmocka_unit_test(test_days),
		cmocka_unit_test(test_earlier),
		cmocka_unit_test(test_big_counts),
		cmocka_unit_test(test_ops),
		cmocka_unit_test(test_op_text),
		cmocka_unit_test(test_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
