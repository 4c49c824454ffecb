/*
 * test_geo.c - the geo family through its ops struct, as the engine drives
 * it: geo.new_ip (low inside a known network and country, medium outside,
 * raised by anonymous networks and a first hosting provider), geo.new_network,
 * geo.new_country, geo.impossible_travel (speed, accuracy radius, two
 * regions, max_kmh), geo.country_not_allowed (policy, any key kind, test
 * mode lower); the learning period from the key's first event; publishable
 * keys only with geo_publishable; "enabled": false; the fixed per-key state
 * with its summary past the exact lists; no database.
 *
 * The one idea: events carry a struct kw_geo made here (what the GeoIP
 * enrichment would attach), so each rule is tested on exact places and
 * networks without a database; test_geoip.c tests the lookups and the
 * golden cases tests/golden/geo-* the two together. test_geodist holds
 * the bounded "within X km" test to the haversine's answers.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bytes.h"
#include "core/time.h"
#include "detect/detector.h"
#include "detect/geodist.h"
#include "enrich/geoip.h"
#include "state/keytab.h"
#include "stderr_capture.h"

#define E "\xe2\x80\xa6"

static const uint8_t seed[16] = {1, 2,	3,  4,	5,  6,	7,  8,
				 9, 10, 11, 12, 13, 14, 15, 16};

#define SECRET "sk_live_51Habcdefghijklmnop4242"
#define SECRET_TEST "sk_test_51Habcdefghijklmnop4242"
#define RK "rk_live_analyticsanalytics_a1b2"
#define PK "pk_live_webwebwebwebwebwebz8"
#define OTHER "sk_live_51Hzzzzzzzzzzzzzzzzz9999"

/* Places (what a City + ASN + Anonymous-IP database would say). */
static const struct kw_geo LONDON = {
	"GB", 20712, "Andrews & Arnold Ltd", 51.5142, -0.0931, 10, 3};
static const struct kw_geo LONDON2 = {"GB",    2856, "BT", 51.5074,
				      -0.1278, 20,   3};
static const struct kw_geo CHANGCHUN = {
	"CN", 4837, "CHINA UNICOM", 43.88, 125.3228, 50, 3};
static const struct kw_geo ASHBURN = {
	"US", 16509, "AMAZON-02", 39.0438, -77.4874, 50, 3 | KW_GEO_HOSTING};
static const struct kw_geo DUBLIN = {"IE",    16509, "AMAZON-02",	53.3498,
				     -6.2603, 20,    3 | KW_GEO_HOSTING};
static const struct kw_geo PARIS = {"FR",   3215, "Orange", 48.8566,
				    2.3522, 100,  3};
static const struct kw_geo MILTON = {
	"US", 209, "CENTURYLINK", 47.2513, -122.3149, 22, 3};
static const struct kw_geo V6 = {"IE", 0, "", 53.3498, -6.2603, 100, 3};
static const struct kw_geo TOR = {"DE",
				  60729,
				  "Stiftung Erneuerbare Freiheit",
				  52.52,
				  13.405,
				  20,
				  3 | KW_GEO_ANONYMOUS | KW_GEO_TOR |
					  KW_GEO_HOSTING};

struct fixture {
	struct kw_config *cfg;
	struct kw_keytab *tab;
	void *self;
	json_t *alerts[32];
	size_t n;
};

static void on_alert(void *ctx, struct kw_alert *a)
{
	struct fixture *f = ctx;
	char *json = kw_alert_to_json(a);

	assert_non_null(json);
	assert_true(f->n < 32);
	f->alerts[f->n++] = json_loads(json, 0, NULL);
	free(json);
	kw_alert_clear(a);
}

static void setup_with(struct fixture *f, const char *extra)
{
	char text[2048];
	struct kw_error err;
	struct kw_detector_env env = {0};

	memset(f, 0, sizeof(*f));
	snprintf(text, sizeof(text),
		 "{\"learn\": \"1h\", \"keys\": ["
		 "{\"match\": \"sk_*4242\", \"name\": \"backend\"},"
		 "{\"match\": \"rk_*a1b2\", \"name\": \"analytics\", "
		 "\"allow_countries\": [\"US\", \"IE\"]},"
		 "{\"match\": \"pk_live_*z8\", \"name\": \"web\", "
		 "\"allow_countries\": [\"US\"]}"
		 "]%s}",
		 extra);
	kw_error_clear(&err);
	if (kw_config_load_string(text, "t.json", &f->cfg, &err) != KW_OK)
		fail_msg("%s", err.msg);
	if (kw_detect_check_config(f->cfg, &err) != KW_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(kw_keytab_create_seeded(100, kw_detect_geo.state_size,
						 seed, &f->tab),
			 KW_OK);
	env.cfg = f->cfg;
	assert_int_equal(kw_detect_geo.create(&env, &f->self, &err), KW_OK);
}

static void teardown_f(struct fixture *f)
{
	for (size_t i = 0; i < f->n; i++)
		json_decref(f->alerts[i]);
	kw_detect_geo.destroy(f->self);
	kw_keytab_destroy(f->tab);
	kw_config_free(f->cfg);
}

static int64_t ts(const char *s)
{
	int64_t us = 0;

	assert_true(kw_time_parse(s, strlen(s), &us));
	return us;
}

/* One request of key k at time t from ip, placed at g (NULL: no
 * database). The key is found or created as the engine does. */
static void req(struct fixture *f, const char *k, const char *t, const char *ip,
		const struct kw_geo *g)
{
	struct kw_emit emit = {.fn = on_alert, .ctx = f};
	struct kw_keyent *ent = NULL;
	struct kw_event ev;
	bool created = false;

	memset(&ev, 0, sizeof(ev));
	ev.ts = ts(t);
	ev.method = kw_str_c("GET");
	ev.path = kw_str_c("/v1/balance");
	ev.op = kw_str_c("balance.retrieve");
	ev.status = 200;
	ev.request_id = kw_str_c("req_1");
	ev.livemode = -1;
	if (ip)
		assert_true(kw_ip_parse(&ev.ip, ip, strlen(ip)));
	ev.geo = g;
	assert_int_equal(
		kw_keytab_get(f->tab, k, strlen(k), ev.ts, &ent, &created),
		KW_OK);
	if (created) {
		ent->kind = k[0] == 's'	  ? KW_KIND_SECRET
			    : k[0] == 'r' ? KW_KIND_RESTRICTED
					  : KW_KIND_PUBLISHABLE;
		ent->mode = strstr(k, "_test_") ? KW_MODE_TEST : KW_MODE_LIVE;
		ent->conf = kw_config_key(f->cfg, k, strlen(k));
	}
	kw_detect_geo.observe(f->self, &ev, ent, kw_keytab_state(ent), &emit);
}

static const char *field(const json_t *a, const char *name)
{
	return json_string_value(json_object_get(a, name));
}

static void assert_member(const json_t *a, const char *name, const char *want)
{
	char *s = json_dumps(json_object_get(a, name),
			     JSON_COMPACT | JSON_PRESERVE_ORDER);

	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
}

static void assert_alert(const struct fixture *f, size_t i,
			 const char *detector, const char *severity)
{
	assert_true(i < f->n);
	assert_string_equal(field(f->alerts[i], "detector"), detector);
	assert_string_equal(field(f->alerts[i], "severity"), severity);
}

/* A server key learns London for the first hour (learn: 1h). */
static void learn_london(struct fixture *f, const char *k)
{
	req(f, k, "2026-11-20T00:00:00Z", "81.2.69.142", &LONDON);
	req(f, k, "2026-11-20T00:30:00Z", "81.2.69.143", &LONDON);
	req(f, k, "2026-11-20T02:00:00Z", "81.2.69.142", &LONDON);
	assert_int_equal(f->n, 0);
}

static void test_learning_is_quiet(void **state)
{
	struct fixture f;

	(void)state;
	setup_with(&f, "");
	/* Everything new, but inside the first hour: nothing. */
	req(&f, SECRET, "2026-11-20T00:00:00Z", "81.2.69.142", &LONDON);
	req(&f, SECRET, "2026-11-20T00:10:00Z", "175.16.199.7", &CHANGCHUN);
	req(&f, SECRET, "2026-11-20T00:59:59Z", "185.220.101.34", &TOR);
	assert_int_equal(f.n, 0);
	/* After it, the places learned are known: back to London is no
	 * travel and no new anything. */
	req(&f, SECRET, "2026-11-20T01:00:00Z", "81.2.69.142", &LONDON);
	req(&f, SECRET, "2026-11-20T01:01:00Z", "175.16.199.7", &CHANGCHUN);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

/* The case: London for days, then Changchun minutes after a London
 * request. */
static void test_new_country_and_travel(void **state)
{
	struct fixture f;
	const json_t *a;

	(void)state;
	setup_with(&f, "");
	learn_london(&f, SECRET);
	req(&f, SECRET, "2026-11-24T10:00:00Z", "81.2.69.142", &LONDON);
	req(&f, SECRET, "2026-11-24T10:05:00Z", "175.16.199.7", &CHANGCHUN);
	assert_int_equal(f.n, 4);
	assert_alert(&f, 0, "geo.new_ip", "medium");
	assert_alert(&f, 1, "geo.new_network", "medium");
	assert_alert(&f, 2, "geo.new_country", "high");
	assert_alert(&f, 3, "geo.impossible_travel", "high");
	a = f.alerts[0];
	assert_string_equal(field(a, "summary"),
			    "sk_live_" E "4242 (backend) called from a new IP "
			    "175.16.199.7 (CN, AS4837 CHINA UNICOM); outside "
			    "the networks it uses, 2 IPs seen before");
	assert_member(a, "evidence",
		      "{\"ip\":\"175.16.199.7\",\"country\":\"CN\","
		      "\"network\":\"AS4837\",\"org\":\"CHINA UNICOM\","
		      "\"known_network\":false,\"known_ips\":2,"
		      "\"learned_since\":\"2026-11-20T00:00:00Z\"}");
	assert_member(a, "suppress",
		      "{\"detector\":\"geo.new_ip\",\"key\":\"sk_live_*4242\","
		      "\"ip\":\"175.16.199.7\"}");
	a = f.alerts[1];
	assert_string_equal(field(a, "summary"),
			    "sk_live_" E "4242 (backend) called from network "
			    "AS4837 (CHINA UNICOM) for the first time; seen "
			    "before: AS20712");
	assert_member(a, "evidence",
		      "{\"ip\":\"175.16.199.7\",\"country\":\"CN\","
		      "\"network\":\"AS4837\",\"org\":\"CHINA UNICOM\","
		      "\"known_networks\":[\"AS20712\"],"
		      "\"learned_since\":\"2026-11-20T00:00:00Z\"}");
	assert_member(a, "suppress",
		      "{\"detector\":\"geo.new_network\",\"key\":\"sk_live_*"
		      "4242\",\"network\":\"AS4837\"}");
	a = f.alerts[2];
	assert_string_equal(field(a, "time"), "2026-11-24T10:05:00Z");
	assert_string_equal(field(a, "summary"),
			    "sk_live_" E "4242 (backend) called from CN for "
			    "the first time; seen before: GB");
	assert_member(a, "evidence",
		      "{\"ip\":\"175.16.199.7\",\"country\":\"CN\","
		      "\"network\":\"AS4837\",\"org\":\"CHINA UNICOM\","
		      "\"known_countries\":[\"GB\"],"
		      "\"learned_since\":\"2026-11-20T00:00:00Z\"}");
	assert_member(a, "suppress",
		      "{\"detector\":\"geo.new_country\",\"key\":\"sk_live_*"
		      "4242\",\"country\":\"CN\"}");
	a = f.alerts[3];
	assert_string_equal(field(a, "summary"),
			    "sk_live_" E "4242 (backend) called from "
			    "175.16.199.7 (CN) 300 s after a request from "
			    "81.2.69.142 (GB): 8182 km apart, 97465 km/h (at "
			    "most 1000 km/h believable)");
	assert_member(a, "evidence",
		      "{\"ip\":\"175.16.199.7\",\"country\":\"CN\","
		      "\"network\":\"AS4837\",\"org\":\"CHINA UNICOM\","
		      "\"from_ip\":\"81.2.69.142\",\"from_country\":\"GB\","
		      "\"from_time\":\"2026-11-24T10:00:00Z\","
		      "\"distance_km\":8182,\"seconds\":300,"
		      "\"speed_kmh\":97465,\"max_kmh\":1000}");
	/* The same place again: nothing new. */
	req(&f, SECRET, "2026-11-24T10:06:00Z", "175.16.199.7", &CHANGCHUN);
	assert_int_equal(f.n, 4);
	teardown_f(&f);
}

/* Servers scaling out: a new address inside a known network (same /24, or
 * same ASN) and country is low, and never more, even from a hosting
 * provider or with anonymous flags. */
static void test_scale_out_is_low(void **state)
{
	struct fixture f;
	struct kw_geo tor_in_london = LONDON;

	(void)state;
	setup_with(&f, "");
	learn_london(&f, SECRET);
	req(&f, SECRET, "2026-11-21T00:00:00Z", "81.2.69.200", &LONDON);
	assert_int_equal(f.n, 1);
	assert_alert(&f, 0, "geo.new_ip", "low");
	assert_string_equal(field(f.alerts[0], "summary"),
			    "sk_live_" E "4242 (backend) called from a new IP "
			    "81.2.69.200 (GB, AS20712 Andrews & Arnold Ltd); "
			    "inside a network and country it uses, 2 IPs seen "
			    "before");
	/* Another /24 of the same ASN. */
	req(&f, SECRET, "2026-11-21T00:01:00Z", "81.2.70.1", &LONDON);
	assert_alert(&f, 1, "geo.new_ip", "low");
	tor_in_london.flags |= KW_GEO_ANONYMOUS | KW_GEO_TOR | KW_GEO_HOSTING;
	req(&f, SECRET, "2026-11-21T00:02:00Z", "81.2.69.201", &tor_in_london);
	assert_alert(&f, 2, "geo.new_ip", "low");
	assert_member(f.alerts[2], "evidence",
		      "{\"ip\":\"81.2.69.201\",\"country\":\"GB\","
		      "\"network\":\"AS20712\",\"org\":\"Andrews & Arnold "
		      "Ltd\",\"flags\":[\"anonymous\",\"tor\",\"hosting\"],"
		      "\"known_network\":true,\"known_ips\":4,"
		      "\"learned_since\":\"2026-11-20T00:00:00Z\"}");
	assert_int_equal(f.n, 3);
	/* IPv6: the same /48 is the same network. */
	req(&f, RK, "2026-11-20T00:00:00Z", "2001:db8:1::10", &V6);
	req(&f, RK, "2026-11-20T05:01:00Z", "2001:db8:1:ffff::1", &V6);
	assert_alert(&f, 3, "geo.new_ip", "low");
	req(&f, RK, "2026-11-20T05:02:00Z", "2001:db8:2::1", &V6);
	assert_alert(&f, 4, "geo.new_ip", "medium");
	assert_int_equal(f.n, 5);
	teardown_f(&f);
}

/* A new network in a known country: new_ip and new_network, medium. In a
 * known network but a new country: new_ip is not low. */
static void test_new_network(void **state)
{
	struct fixture f;
	struct kw_geo dublin_v6 = DUBLIN;

	(void)state;
	setup_with(&f, "");
	learn_london(&f, SECRET);
	req(&f, SECRET, "2026-11-21T00:00:00Z", "62.1.2.3", &LONDON2);
	assert_int_equal(f.n, 2);
	assert_alert(&f, 0, "geo.new_ip", "medium");
	assert_alert(&f, 1, "geo.new_network", "medium");
	assert_string_equal(field(f.alerts[1], "summary"),
			    "sk_live_" E "4242 (backend) called from network "
			    "AS2856 (BT) for the first time; seen before: "
			    "AS20712");
	/* A server key in AWS us-east-1 scaling to AWS Dublin: same ASN,
	 * new country. */
	req(&f, RK, "2026-11-20T00:00:00Z", "3.1.1.1", &ASHBURN);
	req(&f, RK, "2026-11-20T06:00:00Z", "63.32.1.1", &DUBLIN);
	assert_int_equal(f.n, 4);
	assert_alert(&f, 2, "geo.new_ip", "medium");
	assert_alert(&f, 3, "geo.new_country", "high");
	/* ... and then another Dublin address: known ASN and country. */
	memcpy(&dublin_v6, &DUBLIN, sizeof(dublin_v6));
	req(&f, RK, "2026-11-20T06:10:00Z", "63.32.9.9", &dublin_v6);
	assert_alert(&f, 4, "geo.new_ip", "low");
	assert_int_equal(f.n, 5);
	teardown_f(&f);
}

/* Anonymous networks and Tor raise severity; a hosting provider raises it
 * only for a key that never used one. */
static void test_anonymous_and_hosting(void **state)
{
	struct fixture f;
	const json_t *a;

	(void)state;
	setup_with(&f, "");
	learn_london(&f, SECRET);
	/* Berlin, a day after London: not travel. */
	req(&f, SECRET, "2026-11-21T00:00:00Z", "185.220.101.34", &TOR);
	assert_int_equal(f.n, 3);
	assert_alert(&f, 0, "geo.new_ip", "high");
	assert_alert(&f, 1, "geo.new_network", "high");
	assert_alert(&f, 2, "geo.new_country", "critical");
	a = f.alerts[2];
	assert_string_equal(field(a, "summary"),
			    "sk_live_" E "4242 (backend) called from DE for "
			    "the first time via a Tor exit node; seen before: "
			    "GB");
	assert_member(a, "evidence",
		      "{\"ip\":\"185.220.101.34\",\"country\":\"DE\","
		      "\"network\":\"AS60729\",\"org\":\"Stiftung "
		      "Erneuerbare Freiheit\",\"flags\":[\"anonymous\","
		      "\"tor\",\"hosting\"],\"known_countries\":[\"GB\"],"
		      "\"learned_since\":\"2026-11-20T00:00:00Z\"}");
	/* Hosting: a key that always ran in AWS going to another AWS
	 * network is not raised for it ... */
	req(&f, RK, "2026-11-20T00:00:00Z", "3.1.1.1", &ASHBURN);
	{
		struct kw_geo other = ASHBURN;

		other.asn = 14618;
		snprintf(other.org, sizeof(other.org), "AMAZON-AES");
		req(&f, RK, "2026-11-20T06:00:00Z", "52.1.1.1", &other);
	}
	assert_int_equal(f.n, 5);
	assert_alert(&f, 3, "geo.new_ip", "medium");
	assert_alert(&f, 4, "geo.new_network", "medium");
	/* ... a key that never did is. */
	req(&f, SECRET_TEST, "2026-11-20T00:00:00Z", "81.2.69.142", &LONDON);
	{
		struct kw_geo host = LONDON2;

		host.flags |= KW_GEO_HOSTING;
		req(&f, SECRET_TEST, "2026-11-20T06:00:00Z", "62.1.2.3", &host);
	}
	/* Test mode: one step lower. */
	assert_int_equal(f.n, 7);
	assert_alert(&f, 5, "geo.new_ip", "medium");
	assert_alert(&f, 6, "geo.new_network", "medium");
	assert_string_equal(field(f.alerts[6], "summary"),
			    "sk_test_" E "4242 (backend) called from network "
			    "AS2856 (BT) for the first time from a hosting "
			    "provider; seen before: AS20712");
	teardown_f(&f);
}

static void test_travel_rules(void **state)
{
	struct fixture f;
	struct kw_geo vague = PARIS, near = LONDON;

	(void)state;
	setup_with(&f, "");
	learn_london(&f, SECRET);
	/* London -> Paris (344 km) in 10 h: a train, not a trip. */
	req(&f, SECRET, "2026-11-21T00:00:00Z", "81.2.69.142", &LONDON);
	req(&f, SECRET, "2026-11-21T10:00:00Z", "37.1.1.1", &PARIS);
	assert_int_equal(f.n, 3);
	assert_alert(&f, 0, "geo.new_ip", "medium");
	assert_alert(&f, 1, "geo.new_network", "medium");
	assert_alert(&f, 2, "geo.new_country", "high");
	/* Paris -> London in a minute: but London is a place the key
	 * already uses (two regions), so no travel. */
	req(&f, SECRET, "2026-11-21T10:01:00Z", "81.2.69.142", &LONDON);
	assert_int_equal(f.n, 3);
	/* A late event (before the last one) from far away is not travel and
	 * does not become the previous place: the next trip starts from
	 * London. */
	req(&f, SECRET, "2026-11-21T09:00:00Z", "175.16.199.7", &CHANGCHUN);
	assert_int_equal(f.n, 6);
	assert_alert(&f, 3, "geo.new_ip", "medium");
	assert_alert(&f, 4, "geo.new_network", "medium");
	assert_alert(&f, 5, "geo.new_country", "high");
	req(&f, SECRET, "2026-11-21T10:06:00Z", "216.160.83.56", &MILTON);
	assert_int_equal(f.n, 10);
	assert_alert(&f, 9, "geo.impossible_travel", "high");
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(f.alerts[9], "evidence"), "from_ip")),
		"81.2.69.142");
	/* Within the accuracy radii: 344 km apart, 180 + 150 km of
	 * uncertainty, is not travel (and Paris is not a place it uses). */
	teardown_f(&f);
	setup_with(&f, "");
	near.accuracy_km = 180;
	vague.accuracy_km = 150;
	req(&f, OTHER, "2026-11-20T00:00:00Z", "81.2.69.142", &near);
	req(&f, OTHER, "2026-11-20T02:00:00Z", "81.2.69.142", &near);
	req(&f, OTHER, "2026-11-20T02:00:30Z", "37.1.1.1", &vague);
	assert_int_equal(f.n, 3);
	assert_alert(&f, 0, "geo.new_ip", "medium");
	assert_alert(&f, 1, "geo.new_network", "medium");
	assert_alert(&f, 2, "geo.new_country", "high");
	/* The same with exact places: 30 s for 344 km is travel. */
	near.accuracy_km = 0;
	vague.accuracy_km = 0;
	req(&f, SECRET, "2026-11-20T00:00:00Z", "81.2.69.142", &near);
	req(&f, SECRET, "2026-11-20T02:00:00Z", "81.2.69.142", &near);
	req(&f, SECRET, "2026-11-20T02:00:30Z", "37.1.1.1", &vague);
	assert_int_equal(f.n, 7);
	assert_alert(&f, 6, "geo.impossible_travel", "high");
	assert_member(f.alerts[6], "evidence",
		      "{\"ip\":\"37.1.1.1\",\"country\":\"FR\","
		      "\"network\":\"AS3215\",\"org\":\"Orange\","
		      "\"from_ip\":\"81.2.69.142\",\"from_country\":\"GB\","
		      "\"from_time\":\"2026-11-20T02:00:00Z\","
		      "\"distance_km\":343,\"seconds\":30,"
		      "\"speed_kmh\":41153,\"max_kmh\":1000}");
	teardown_f(&f);
	/* max_kmh from the config. */
	setup_with(&f, ", \"detectors\": {\"geo.impossible_travel\": "
		       "{\"max_kmh\": 100000}}");
	learn_london(&f, SECRET);
	req(&f, SECRET, "2026-11-24T10:00:00Z", "81.2.69.142", &LONDON);
	req(&f, SECRET, "2026-11-24T10:05:00Z", "175.16.199.7", &CHANGCHUN);
	assert_int_equal(f.n, 3);
	assert_alert(&f, 2, "geo.new_country", "high");
	teardown_f(&f);
}

static void test_country_not_allowed(void **state)
{
	struct fixture f;
	const json_t *a;

	(void)state;
	setup_with(&f, "");
	/* Policy: from the first request, learning or not. */
	req(&f, RK, "2026-11-20T00:00:00Z", "3.1.1.1", &ASHBURN);
	assert_int_equal(f.n, 0);
	req(&f, RK, "2026-11-20T00:00:10Z", "81.2.69.142", &LONDON);
	assert_int_equal(f.n, 1);
	a = f.alerts[0];
	assert_alert(&f, 0, "geo.country_not_allowed", "high");
	assert_string_equal(field(a, "summary"),
			    "rk_live_" E "a1b2 (analytics) was used from GB "
			    "(81.2.69.142), outside its allowed countries "
			    "(US, IE)");
	assert_member(a, "evidence",
		      "{\"ip\":\"81.2.69.142\",\"country\":\"GB\","
		      "\"network\":\"AS20712\",\"org\":\"Andrews & Arnold "
		      "Ltd\",\"allow_countries\":[\"US\",\"IE\"],"
		      "\"op\":\"balance.retrieve\",\"status\":200}");
	assert_member(a, "suppress",
		      "{\"detector\":\"geo.country_not_allowed\",\"key\":"
		      "\"rk_live_*a1b2\",\"country\":\"GB\"}");
	/* Publishable keys too: it is configured. */
	req(&f, PK, "2026-11-20T00:00:00Z", "81.2.69.142", &LONDON);
	assert_int_equal(f.n, 2);
	assert_alert(&f, 1, "geo.country_not_allowed", "high");
	req(&f, PK, "2026-11-20T00:00:01Z", "3.1.1.1", &ASHBURN);
	/* Unknown country or no database: not judged. */
	{
		struct kw_geo none;

		memset(&none, 0, sizeof(none));
		req(&f, PK, "2026-11-20T00:00:02Z", "10.0.0.1", &none);
	}
	req(&f, PK, "2026-11-20T00:00:03Z", "10.0.0.1", NULL);
	assert_int_equal(f.n, 2);
	teardown_f(&f);
	setup_with(&f, ", \"detectors\": {\"geo.country_not_allowed\": "
		       "{\"enabled\": false}}");
	req(&f, RK, "2026-11-20T00:00:10Z", "81.2.69.142", &LONDON);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

static void test_publishable_and_switches(void **state)
{
	struct fixture f;
	const char *k = "pk_live_otherotherother";

	(void)state;
	setup_with(&f, "");
	learn_london(&f, k);
	req(&f, k, "2026-11-24T10:05:00Z", "175.16.199.7", &CHANGCHUN);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
	setup_with(&f, ", \"geo_publishable\": true");
	learn_london(&f, k);
	req(&f, k, "2026-11-24T10:05:00Z", "175.16.199.7", &CHANGCHUN);
	assert_int_equal(f.n, 3);
	teardown_f(&f);
	setup_with(&f, ", \"detectors\": {\"geo.new_ip\": {\"enabled\": "
		       "false}, \"geo.new_network\": {\"enabled\": false}, "
		       "\"geo.impossible_travel\": {\"enabled\": false}}");
	learn_london(&f, SECRET);
	req(&f, SECRET, "2026-11-24T10:05:00Z", "175.16.199.7", &CHANGCHUN);
	assert_int_equal(f.n, 1);
	assert_alert(&f, 0, "geo.new_country", "high");
	teardown_f(&f);
	/* No database: only geo.new_ip, on addresses alone (the family says
	 * so once, in the log): another /24 after learning is medium, the
	 * same /24 low, a key still learning nothing. */
	setup_with(&f, "");
	req(&f, SECRET, "2026-11-20T00:00:00Z", "81.2.69.142", NULL);
	req(&f, SECRET, "2026-11-24T10:05:00Z", "175.16.199.7", NULL);
	req(&f, RK, "2026-11-24T10:05:00Z", "175.16.199.7", NULL);
	assert_int_equal(f.n, 1);
	assert_alert(&f, 0, "geo.new_ip", "medium");
	req(&f, SECRET, "2026-11-24T10:06:00Z", "81.2.69.150", NULL);
	assert_int_equal(f.n, 2);
	assert_alert(&f, 1, "geo.new_ip", "low");
	req(&f, SECRET, "2026-11-24T10:07:00Z", "81.2.69.150", NULL);
	assert_int_equal(f.n, 2);
	teardown_f(&f);
	/* No address: nothing to judge. */
	setup_with(&f, "");
	learn_london(&f, SECRET);
	req(&f, SECRET, "2026-11-24T10:05:00Z", NULL, NULL);
	assert_int_equal(f.n, 0);
	teardown_f(&f);
}

/* stderr into a temporary file, to check what is said and how often. */

/* Without a database the family says so once per run: a warning when a
 * key has allow_countries, a note otherwise, nothing when every geo
 * detector is off. Publishable keys it does not judge say nothing. */
static void test_no_database_said_once(void **state)
{
	struct fixture f;
	struct capture c;
	char buf[1024];

	(void)state;
	setup_with(&f, "");
	capture_begin(&c);
	req(&f, "pk_live_otherotherother", "2026-11-20T00:00:00Z",
	    "81.2.69.142", NULL);
	req(&f, SECRET, "2026-11-20T00:00:00Z", "81.2.69.142", NULL);
	req(&f, SECRET, "2026-11-24T10:05:00Z", "175.16.199.7", NULL);
	req(&f, RK, "2026-11-24T10:05:00Z", "175.16.199.7", NULL);
	assert_string_equal(
		capture_end(&c, buf, sizeof(buf)),
		"keywatch: warning: geo: no GeoIP database: "
		"allow_countries (2 keys) cannot be checked, and only "
		"geo.new_ip runs, on addresses alone (give one with "
		"--geoip FILE)\n");
	assert_int_equal(f.n, 1);
	teardown_f(&f);

	setup_with(&f, ", \"detectors\": {\"geo.country_not_allowed\": "
		       "{\"enabled\": false}}");
	capture_begin(&c);
	req(&f, SECRET, "2026-11-20T00:00:00Z", "81.2.69.142", NULL);
	req(&f, SECRET, "2026-11-20T00:00:01Z", "81.2.69.142", NULL);
	assert_string_equal(capture_end(&c, buf, sizeof(buf)),
			    "keywatch: geo: no GeoIP database: only geo.new_ip "
			    "runs, on addresses alone (give one with --geoip "
			    "FILE)\n");
	teardown_f(&f);

	setup_with(&f, ", \"detectors\": {\"geo.new_ip\": {\"enabled\": "
		       "false}, \"geo.new_network\": {\"enabled\": false}, "
		       "\"geo.new_country\": {\"enabled\": false}, "
		       "\"geo.impossible_travel\": {\"enabled\": false}, "
		       "\"geo.country_not_allowed\": {\"enabled\": false}}");
	capture_begin(&c);
	req(&f, SECRET, "2026-11-20T00:00:00Z", "81.2.69.142", NULL);
	assert_string_equal(capture_end(&c, buf, sizeof(buf)), "");
	teardown_f(&f);
}

/* Without a database: a key that used 8 networks or more while it learnt
 * (CI runners, serverless functions) roams, and a new network is low for
 * it; a key that keeps to a few stays medium, also once it is used from
 * many (leaked). */
static void test_no_database_roaming(void **state)
{
	struct fixture f;
	char ip[32];

	(void)state;
	setup_with(&f, ", \"detectors\": {\"geo.country_not_allowed\": "
		       "{\"enabled\": false}}");
	for (int i = 0; i < 8; i++) {
		snprintf(ip, sizeof(ip), "20.%d.7.9", 10 + i);
		req(&f, SECRET, "2026-11-20T00:00:00Z", ip, NULL);
	}
	req(&f, RK, "2026-11-20T00:00:00Z", "52.1.1.1", NULL);
	req(&f, RK, "2026-11-20T00:10:00Z", "52.2.1.1", NULL);
	assert_int_equal(f.n, 0);
	req(&f, SECRET, "2026-11-24T10:05:00Z", "40.90.1.2", NULL);
	req(&f, RK, "2026-11-24T10:05:00Z", "40.90.1.2", NULL);
	assert_int_equal(f.n, 2);
	assert_alert(&f, 0, "geo.new_ip", "low");
	assert_string_equal(field(f.alerts[0], "summary"),
			    "sk_live_\xe2\x80\xa6"
			    "4242 (backend) called from a new IP 40.90.1.2; a "
			    "new network, but it uses many, 8 IPs seen before");
	assert_alert(&f, 1, "geo.new_ip", "medium");
	/* Used from many networks only after learning (leaked): it does not
	 * roam, each new network stays medium. */
	for (int i = 0; i < 9; i++) {
		snprintf(ip, sizeof(ip), "81.%d.7.9", 10 + i);
		req(&f, RK, "2026-11-24T11:00:00Z", ip, NULL);
	}
	assert_int_equal(f.n, 11);
	assert_alert(&f, 10, "geo.new_ip", "medium");
	teardown_f(&f);
}

/* Without a database: 4 networks or more while it learnt, each a fresh
 * one (hardly two addresses in each: CI runs, a laptop on the move),
 * roam too; a fleet's many addresses in 4 networks do not, also when its
 * first four addresses were each in a fresh network (decided again at
 * every address while it learns). */
static void test_no_database_fresh_networks(void **state)
{
	struct fixture f;
	char ip[32];

	(void)state;
	setup_with(&f, ", \"detectors\": {\"geo.country_not_allowed\": "
		       "{\"enabled\": false}}");
	for (int i = 0; i < 4; i++) {
		snprintf(ip, sizeof(ip), "20.%d.7.9", 10 + i);
		req(&f, SECRET, "2026-11-20T00:00:00Z", ip, NULL);
		for (int j = 0; j < 3; j++) {
			snprintf(ip, sizeof(ip), "52.%d.1.%d", 10 + i, j + 1);
			req(&f, RK, "2026-11-20T00:00:00Z", ip, NULL);
		}
	}
	for (int i = 0; i < 4; i++) {
		snprintf(ip, sizeof(ip), "60.%d.1.1", 10 + i);
		req(&f, OTHER, "2026-11-20T00:00:00Z", ip, NULL);
	}
	for (int i = 0; i < 4; i++) {
		for (int j = 2; j < 5; j++) {
			snprintf(ip, sizeof(ip), "60.%d.1.%d", 10 + i, j);
			req(&f, OTHER, "2026-11-20T00:30:00Z", ip, NULL);
		}
	}
	assert_int_equal(f.n, 0);
	req(&f, SECRET, "2026-11-24T10:05:00Z", "40.90.1.2", NULL);
	req(&f, RK, "2026-11-24T10:05:00Z", "40.90.1.2", NULL);
	req(&f, OTHER, "2026-11-24T10:05:00Z", "40.90.1.2", NULL);
	assert_int_equal(f.n, 3);
	assert_alert(&f, 0, "geo.new_ip", "low");
	assert_alert(&f, 1, "geo.new_ip", "medium");
	assert_alert(&f, 2, "geo.new_ip", "medium");
	teardown_f(&f);
}

static void test_config_errors(void **state)
{
	struct kw_config *cfg = NULL;
	struct kw_error err;
	struct kw_detector_env env = {0};
	void *self = NULL;

	(void)state;
	kw_error_clear(&err);
	assert_int_equal(kw_config_load_string(
				 "{\"detectors\": {\"geo.impossible_travel\": "
				 "{\"max_kmh\": 0}}}",
				 "t.json", &cfg, &err),
			 KW_OK);
	assert_int_equal(kw_detect_check_config(cfg, &err), KW_OK);
	env.cfg = cfg;
	assert_int_equal(kw_detect_geo.create(&env, &self, &err), KW_ECONFIG);
	assert_string_equal(err.msg, "t.json: detectors.geo.impossible_travel."
				     "max_kmh: must be above 0");
	kw_config_free(cfg);
	cfg = NULL;
	assert_int_equal(
		kw_config_load_string("{\"detectors\": {\"geo.new_ip\": "
				      "{\"max_km\": 1}}}",
				      "t.json", &cfg, &err),
		KW_OK);
	assert_int_equal(kw_detect_check_config(cfg, &err), KW_ECONFIG);
	assert_string_equal(err.msg, "t.json: detectors.geo.new_ip: unknown "
				     "key 'max_km' (did you mean 'max_kmh'?)");
	kw_config_free(cfg);
}

/* Memory per key is fixed; past the exact lists the summary still knows
 * every address it saw, and a new one is still new. */
static void test_state_bound(void **state)
{
	struct fixture f;
	char ip[32], t[32];

	(void)state;
	assert_true(kw_detect_geo.state_size <= 1024);
	setup_with(&f, "");
	for (int i = 0; i < 60; i++) {
		snprintf(ip, sizeof(ip), "81.2.%d.%d", i / 10, 1 + i % 10);
		snprintf(t, sizeof(t), "2026-11-20T00:%02d:00Z", i % 60);
		req(&f, SECRET, t, ip, &LONDON);
	}
	assert_int_equal(f.n, 0);
	for (int i = 0; i < 60; i++) {
		snprintf(ip, sizeof(ip), "81.2.%d.%d", i / 10, 1 + i % 10);
		req(&f, SECRET, "2026-11-21T00:00:00Z", ip, &LONDON);
	}
	assert_int_equal(f.n, 0);
	req(&f, SECRET, "2026-11-21T00:00:01Z", "81.2.60.1", &LONDON);
	assert_int_equal(f.n, 1);
	assert_string_equal(field(f.alerts[0], "summary"),
			    "sk_live_" E "4242 (backend) called from a new IP "
			    "81.2.60.1 (GB, AS20712 Andrews & Arnold Ltd); "
			    "inside a network and country it uses, 60 IPs "
			    "seen before");
	teardown_f(&f);
}

/* The bounds decide only when the haversine would answer the same: random
 * pairs at every scale, pairs exactly at, just inside and just outside the
 * threshold, the same point, poles, the antimeridian, NaN and infinity. */
static void check_within(double la1, double lo1, double la2, double lo2,
			 double km)
{
	bool want = kw_detect_geodist_km(la1, lo1, la2, lo2) <= km;

	if (kw_detect_geodist_within(la1, lo1, la2, lo2, km) != want)
		fail_msg("(%.17g, %.17g) (%.17g, %.17g) within %.17g km: "
			 "haversine says %d",
			 la1, lo1, la2, lo2, km, want);
}

static double urand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return (double)(*x >> 11) / 9007199254740992.0;
}

static void test_geodist(void **state)
{
	static const double offsets[] = {0,    1e-9,  -1e-9,  0.001,  -0.001,
					 0.5,  -0.5,  0.999,  -0.999, 1.0,
					 -1.0, 1.001, -1.001, 2.0,    -2.0};
	uint64_t x = 0x5eed5eed5eed5eedULL;
	const double inf = 1.0 / 0.0;

	(void)state;
	for (int i = 0; i < 200000; i++) {
		double la1 = urand(&x) * 180 - 90, lo1 = urand(&x) * 360 - 180;
		/* near (metres to a few hundred km) or anywhere */
		double spread = i % 3 == 0 ? 180 : (i % 3 == 1 ? 3 : 0.01);
		double la2 = la1 + (urand(&x) * 2 - 1) * spread;
		double lo2 = lo1 + (urand(&x) * 2 - 1) * spread * 2;
		double d;

		if (la2 > 90)
			la2 = 180 - la2;
		if (la2 < -90)
			la2 = -180 - la2;
		if (lo2 > 180)
			lo2 -= 360;
		if (lo2 < -180)
			lo2 += 360;
		/* as the detector asks: float places, 150 km + accuracy */
		check_within((float)la1, (float)lo1, la2, lo2,
			     150.0 + (double)(i % 1000));
		d = kw_detect_geodist_km(la1, lo1, la2, lo2);
		for (size_t k = 0; k < sizeof(offsets) / sizeof(*offsets); k++)
			check_within(la1, lo1, la2, lo2, d + offsets[k]);
		check_within(la1, lo1, la2, lo2, nextafter(d, 0));
		check_within(la1, lo1, la2, lo2, nextafter(d, inf));
	}
	check_within(51.5142, -0.0931, 51.5142, -0.0931, 160);
	check_within(51.5142, -0.0931, 51.5142, -0.0931, 0);
	check_within(90, 0, 90, 180, 1);
	check_within(-90, 10, 89, 10, 20000);
	check_within(0, 179.9, 0, -179.9, 30);
	check_within(0, 179.9, 0, -179.9, 20);
	check_within(10, 0, -10, 180, 20000);
	check_within(0, 0, 0, 180, 20015.1);
	check_within(0.0 / 0.0, 0, 1, 1, 200);
	check_within(inf, 0, 1, 1, 200);
	check_within(1, 1, 1, 1, inf);
	/* the cheap bounds decide the usual cases: same place, far apart */
	assert_true(kw_detect_geodist_within(39.0438, -77.4874, 39.0438,
					     -77.4874, 200));
	assert_false(kw_detect_geodist_within(39.0438, -77.4874, 53.3498,
					      -6.2603, 170));
}

static void clear_alerts(struct fixture *f)
{
	for (size_t i = 0; i < f->n; i++)
		json_decref(f->alerts[i]);
	f->n = 0;
}

/* SECRET's first 24 requests, a minute apart, from 24 addresses in 24
 * /24s at six places in turn: every list full, the filters in use. */
static void learn_places(struct fixture *f)
{
	const struct kw_geo *places[] = {&LONDON,  &PARIS,  &CHANGCHUN,
					 &ASHBURN, &MILTON, &DUBLIN};
	char ip[32], t[32];

	for (int i = 0; i < 24; i++) {
		snprintf(ip, sizeof(ip), "81.2.%d.%d", i, 1 + i % 10);
		snprintf(t, sizeof(t), "2026-11-20T00:%02d:00Z", i);
		req(f, SECRET, t, ip, places[i % 6]);
	}
}

/* SECRET's state in the table, its alerts so far dropped. */
static unsigned char *secret_state(struct fixture *f)
{
	struct kw_keyent *ent = NULL;
	bool created;

	clear_alerts(f);
	assert_int_equal(kw_keytab_get(f->tab, SECRET, strlen(SECRET),
				       ts("2026-11-20T00:31:00Z"), &ent,
				       &created),
			 KW_OK);
	return kw_keytab_state(ent);
}

/* State loaded from a --state file is checked before use: a file with a
 * valid checksum and the counters at 255 made has_ip and add_place read
 * and write past the key's state. validate() takes what observe() leaves
 * and refuses counters past their arrays; and no state with one byte set
 * to 0, 0x80 or 0xff that it takes makes observe() go out of bounds (the
 * ASan build watches every one of them). */
static void test_validate(void **state)
{
	static const unsigned char values[] = {0x00, 0x80, 0xff};
	size_t n = kw_detect_geo.state_size, refused = 0;
	unsigned char *saved, *st;
	struct fixture f;
	char why[160];

	(void)state;
	setup_with(&f, "");
	learn_places(&f);
	req(&f, SECRET, "2026-11-20T00:30:00Z", "2001:db8::1", &V6);
	st = secret_state(&f);
	assert_true(kw_detect_geo.validate(st, why, sizeof(why)));
	saved = malloc(n);
	assert_non_null(saved);
	memcpy(saved, st, n);

	memset(st, 0xff, n);
	assert_false(kw_detect_geo.validate(st, why, sizeof(why)));
	assert_string_equal(why, "geo: remembered 255 IPs, 255 networks, 255 "
				 "ASNs, 255 countries, 255 places (at most 8, "
				 "8, 8, 8, 4)");
	memset(st, 0, n);
	assert_true(kw_detect_geo.validate(st, why, sizeof(why)));

	for (size_t i = 0; i < n; i++) {
		for (size_t v = 0; v < sizeof(values); v++) {
			memcpy(st, saved, n);
			st[i] = values[v];
			if (!kw_detect_geo.validate(st, why, sizeof(why))) {
				refused++;
				continue;
			}
			req(&f, SECRET, "2026-11-21T00:00:00Z", "81.2.200.1",
			    &PARIS);
			req(&f, SECRET, "2026-11-21T00:00:01Z", "2001:db8::9",
			    &V6);
			req(&f, SECRET, "2026-11-21T00:00:02Z", "81.2.201.1",
			    NULL);
			clear_alerts(&f);
		}
	}
	assert_true(refused > 0);
	free(saved);
	teardown_f(&f);
}

/* A state file's layout version 2 carried over by upgrade(): version 3
 * keeps every field, and the filters, in another place. A key learns
 * two dozen addresses in six places (its lists full, its filters used);
 * its state is written out as version 2 had it, field by field from this
 * table (offsets in version 2, in version 3, bytes), and upgrade() must
 * give back the same bytes. */
static const struct {
	size_t v2, v3, n;
} geo_v2_fields[] = {
	{0, 72, 8},	 /* last_ts */
	{8, 80, 4},	 /* last_lat */
	{12, 84, 4},	 /* last_lon */
	{16, 0, 4},	 /* total_ips */
	{20, 88, 2},	 /* last_acc */
	{22, 90, 2},	 /* last_country */
	{24, 92, 16},	 /* last_ip */
	{40, 108, 1},	 /* last_family */
	{41, 109, 1},	 /* has_last */
	{42, 110, 1},	 /* seen_hosting */
	{43, 6, 1},	 /* roamed */
	{44, 4, 1},	 /* nips */
	{45, 5, 1},	 /* nnets */
	{46, 111, 1},	 /* nasns */
	{47, 112, 1},	 /* ncountries */
	{48, 113, 1},	 /* nplaces */
	{49, 114, 1},	 /* next_place */
	{50, 116, 16},	 /* countries */
	{68, 8, 32},	 /* ips */
	{100, 40, 32},	 /* nets */
	{132, 132, 32},	 /* asns */
	{164, 164, 16},	 /* places */
	{180, 184, 256}, /* the filters */
};

static void test_upgrade_from_v2(void **state)
{
	size_t n = kw_detect_geo.state_size;
	unsigned char v2[440], now[440], *st;
	struct fixture f;

	(void)state;
	assert_int_equal(kw_detect_geo.state_version, 3);
	assert_int_equal(kw_detect_geo.upgrade_size, n);
	assert_int_equal(n, sizeof(v2));
	setup_with(&f, "");
	learn_places(&f);
	st = secret_state(&f);
	memset(v2, 0, sizeof(v2));
	for (size_t i = 0; i < sizeof(geo_v2_fields) / sizeof(geo_v2_fields[0]);
	     i++)
		memcpy(v2 + geo_v2_fields[i].v2, st + geo_v2_fields[i].v3,
		       geo_v2_fields[i].n);
	memset(now, 0, sizeof(now));
	kw_detect_geo.upgrade(v2, now);
	assert_memory_equal(now, st, n);
	assert_true(kw_detect_geo.validate(now, (char[160]){0}, 160));
	/* Both parts were in use: the filters (a list is full) and the
	 * places. */
	assert_int_equal(st[4], 8);
	assert_false(kw_bytes_zero(st + 184, 256));
	assert_int_equal(st[109], 1);

	/* Every byte told apart: each field lands where the table says. */
	for (size_t i = 0; i < n; i++)
		v2[i] = (unsigned char)(i % 251 + 1);
	memset(now, 0, sizeof(now));
	kw_detect_geo.upgrade(v2, now);
	for (size_t i = 0; i < sizeof(geo_v2_fields) / sizeof(geo_v2_fields[0]);
	     i++)
		assert_memory_equal(now + geo_v2_fields[i].v3,
				    v2 + geo_v2_fields[i].v2,
				    geo_v2_fields[i].n);
	teardown_f(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_learning_is_quiet),
		cmocka_unit_test(test_new_country_and_travel),
		cmocka_unit_test(test_scale_out_is_low),
		cmocka_unit_test(test_new_network),
		cmocka_unit_test(test_anonymous_and_hosting),
		cmocka_unit_test(test_travel_rules),
		cmocka_unit_test(test_country_not_allowed),
		cmocka_unit_test(test_publishable_and_switches),
		cmocka_unit_test(test_no_database_said_once),
		cmocka_unit_test(test_no_database_roaming),
		cmocka_unit_test(test_no_database_fresh_networks),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_state_bound),
		cmocka_unit_test(test_geodist),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_upgrade_from_v2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
