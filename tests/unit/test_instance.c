/*
 * test_instance.c - key.instance_outside through its ops struct, as the
 * engine drives it: the calls of an EC2 instance role's sessions, learnt
 * on the role. One session used from a second public network raises it
 * (high, the address and the reason in evidence); private addresses,
 * calls an AWS service makes, keys that are not an instance's and a
 * session that moves between IPv4 and IPv6 do not; with ASNs, a network
 * the role's instances never used raises it once the role has learnt, not
 * while it learns; "enabled": false silences it; any state bytes are
 * taken and go on safely.
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
#include "enrich/geoip.h"

#define SEC INT64_C(1000000)
#define ROLE "arn:aws:iam::111122223333:role/web"
#define S1 "ASIAINSTANCESESSION1"
#define S2 "ASIAINSTANCESESSION2"

/* One call of the role's session key k from address ip (NULL: an AWS
 * service on its behalf), s seconds after t0; instance: the credentials
 * are an instance's; asn: what GeoIP says (0: no database). */
static void call(struct fixture *f, const char *k, double s, const char *ip,
		 bool instance, uint32_t asn)
{
	struct kw_emit emit = {.fn = on_alert, .ctx = f};
	struct kw_event_cloud cloud;
	struct kw_keyent *ent = NULL;
	struct kw_geo geo;
	struct kw_event ev;

	memset(&ev, 0, sizeof(ev));
	memset(&cloud, 0, sizeof(cloud));
	memset(&geo, 0, sizeof(geo));
	ev.ts = f->t0 + (int64_t)(s * (double)SEC);
	ev.key = kw_str_c(k);
	ev.op = kw_str_c("s3:GetObject");
	ev.status = 200;
	ev.request_id = kw_str_c("e-1");
	ev.livemode = -1;
	if (ip)
		assert_true(kw_ip_parse(&ev.ip, ip, strlen(ip)));
	cloud.instance = instance;
	ev.cloud = &cloud;
	if (asn) {
		geo.asn = asn;
		snprintf(geo.org, sizeof(geo.org), "AS-%u", (unsigned)asn);
		ev.geo = &geo;
	}
	assert_int_equal(
		kw_keytab_get(f->tab, ROLE, strlen(ROLE), ev.ts, &ent, NULL),
		KW_OK);
	ent->kind = KW_KIND_TEMPORARY;
	ent->flags |= KW_KEYENT_PRINCIPAL;
	snprintf(ent->id, sizeof(ent->id), "111122223333:role/web");
	f->ent = ent;
	f->ops->observe(f->self, &ev, ent, kw_keytab_state(ent), &emit);
}

static const char *ev_str(const json_t *a, const char *name)
{
	return json_string_value(
		json_object_get(json_object_get(a, "evidence"), name));
}

static void test_two_networks(void **state)
{
	struct fixture f;
	const json_t *a;

	(void)state;
	fixture_setup(&f, &kw_detect_instance, "{}", false);
	call(&f, S1, 0, "18.184.20.30", true, 0);
	call(&f, S1, 1, "18.184.20.31", true, 0); /* the same /24 */
	call(&f, S1, 2, "10.20.3.4", true, 0);	  /* a VPC endpoint */
	call(&f, S1, 3, "172.16.9.9", true, 0);
	call(&f, S1, 4, "100.64.1.1", true, 0); /* shared address space */
	call(&f, S1, 5, NULL, true, 0);		/* ec2.amazonaws.com */
	call(&f, S2, 6, "3.120.1.1", true, 0);	/* another instance */
	assert_int_equal(f.n, 0);
	call(&f, S1, 60, "185.199.110.9", true, 0);
	assert_int_equal(f.n, 1);
	a = f.alerts[0];
	assert_string_equal(field(a, "detector"), "key.instance_outside");
	assert_string_equal(field(a, "severity"), "high");
	assert_string_equal(
		field(a, "summary"),
		"the credentials of an EC2 instance of 111122223333:role/web "
		"were used from 185.199.110.9, another network than the "
		"session's first: they have left the instance");
	assert_string_equal(ev_str(a, "ip"), "185.199.110.9");
	assert_string_equal(ev_str(a, "reason"), "one session, two networks");
	assert_member(a, "suppress",
		      "{\"detector\":\"key.instance_outside\","
		      "\"principal\":\"111122223333:role/web\","
		      "\"ip\":\"185.199.110.9\"}");
	/* The other session is unaffected. */
	call(&f, S2, 61, "3.120.1.200", true, 0);
	assert_int_equal(f.n, 1);
	teardown_f(&f);
}

static void test_not_an_instance(void **state)
{
	struct fixture f;

	(void)state;
	fixture_setup(&f, &kw_detect_instance, "{}", false);
	/* A CI role's session moving between runners is not an instance. */
	call(&f, S1, 0, "18.184.20.30", false, 0);
	call(&f, S1, 1, "185.199.110.9", false, 0);
	/* An instance with IPv4 and IPv6 addresses may use either. */
	call(&f, S2, 2, "18.184.20.30", true, 0);
	call(&f, S2, 3, "2a05:d014:1::5", true, 0);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

static void test_new_asn(void **state)
{
	struct fixture f;
	const json_t *a;

	(void)state;
	fixture_setup(&f, &kw_detect_instance, "{\"learn\": \"1h\"}", false);
	/* While the role learns, its instances' networks are remembered
	 * and a new one is learnt, not raised. */
	call(&f, S1, 0, "18.184.20.30", true, 16509);
	call(&f, S2, 600, "3.120.1.1", true, 14618);
	assert_int_equal(f.n, 0);
	/* After: a session from a known network is quiet, one from
	 * another raises. */
	call(&f, "ASIAINSTANCESESSION3", 7200, "52.28.1.1", true, 16509);
	assert_int_equal(f.n, 0);
	call(&f, "ASIAINSTANCESESSION4", 7300, "198.51.100.7", true, 64500);
	assert_int_equal(f.n, 1);
	a = f.alerts[0];
	assert_string_equal(field(a, "severity"), "high");
	assert_string_equal(ev_str(a, "reason"), "AS64500 AS-64500 is new to "
						 "the role");
	assert_non_null(strstr(field(a, "summary"),
			       "a network its instances never used"));
	teardown_f(&f);
}

static void test_disabled(void **state)
{
	struct fixture f;

	(void)state;
	fixture_setup(&f, &kw_detect_instance,
		      "{\"detectors\": {\"key.instance_outside\": "
		      "{\"enabled\": false}}}",
		      false);
	call(&f, S1, 0, "18.184.20.30", true, 0);
	call(&f, S1, 1, "185.199.110.9", true, 0);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

static void drive(struct fixture *f)
{
	call(f, S1, 100, "18.184.20.30", true, 16509);
	call(f, S2, 101, "185.199.110.9", true, 64500);
	call(f, S1, 102, "185.199.110.9", true, 64500);
}

/* Hashes only: every state is one observe() can go on from. */
static void test_validate(void **state)
{
	struct fixture f;

	(void)state;
	fixture_setup(&f, &kw_detect_instance, "{}", false);
	drive(&f);
	assert_int_equal(fixture_mutate(&f, drive), 0);
	teardown_f(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_networks),
		cmocka_unit_test(test_not_an_instance),
		cmocka_unit_test(test_new_asn),
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_validate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
