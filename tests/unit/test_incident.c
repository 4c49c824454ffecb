/*
 * test_incident.c - the incident table (alert/incident.h), one test per
 * rule: an alert opens an incident; later alerts on the key join it
 * without a message; the alerts of one request open it once, at the worst
 * severity; a rise in severity is told at once; news is told once per
 * digest interval, which doubles; a quiet incident closes (with or
 * without news), and the next alert opens a new one; keys do not mix; the
 * table is bounded (the quietest closes early); the summaries (IPs,
 * countries, operations, request ids); ids are stable; save and load
 * continue an incident; the worst alert is kept without a copy of its
 * evidence; an incident opened in a closed one's entry holds nothing of
 * it; a table no one hears or keeps counts as a whole one does.
 *
 * The one idea: the send callback records every message the router would
 * get, so each rule is checked by the messages, their times and contents.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alert/incident.h"
#include "core/time.h"
#include "incident_stats.h"

#define MIN (INT64_C(60) * 1000000)
#define HOUR (60 * MIN)
#define T0 (INT64_C(1795770843) * 1000000) /* 2026-11-27T09:14:03Z */

struct sent {
	enum kw_incident_event event;
	char id[KW_ALERT_ID_LEN + 1];
	enum kw_severity severity;
	int64_t time;
	const json_t *evidence; /* the message's, by address */
	uint64_t told;		/* the sinks told before this message */
	char json[4096];
};

struct record {
	struct sent m[32];
	size_t n;
};

static void on_send(void *ctx, struct kw_incident_msg *m)
{
	struct record *r = ctx;
	struct sent *s = &r->m[r->n < 32 ? r->n : 31]; /* past 32: counted */
	char *json = kw_alert_to_json(m->msg);

	r->n++;
	assert_non_null(json);
	s->event = m->event;
	memcpy(s->id, m->msg->id, sizeof(s->id));
	s->severity = m->msg->severity;
	s->time = m->msg->time;
	s->evidence = m->msg->evidence;
	s->told = *m->told;
	snprintf(s->json, sizeof(s->json), "%s", json);
	free(json);
	*m->told |= 1;
}

static struct kw_incidents *table(struct record *r, size_t max_open)
{
	struct kw_incident_opts o = {.close_after = HOUR,
				     .digest = HOUR,
				     .digest_max = 4 * HOUR,
				     .max_open = max_open};
	struct kw_incidents *in = NULL;

	memset(r, 0, sizeof(*r));
	assert_int_equal(kw_incidents_create(&o, on_send, r, &in), KW_OK);
	return in;
}

/* Key n: "sk_live_…000n", fingerprint 0x1000 + n. */
static struct kw_alert_key key_n(int key)
{
	struct kw_alert_key k = {.kind = KW_KIND_SECRET, .mode = KW_MODE_LIVE};

	snprintf(k.id, sizeof(k.id), "sk_live_\xe2\x80\xa6%04d", key);
	snprintf(k.fp, sizeof(k.fp), "%016x", 0x1000 + key);
	return k;
}

/* Add an alert on key n and return its incident id. */
static const char *add(struct kw_incidents *in, int key, const char *detector,
		       enum kw_severity sev, int64_t t, const char *ip)
{
	static char id[KW_ALERT_ID_LEN + 1];
	struct kw_alert a;
	struct kw_alert_key k = key_n(key);
	char subject[64];

	assert_int_equal(kw_alert_init(&a, detector, sev, t, &k), KW_OK);
	kw_alert_summary(&a, "%s on key %d", detector, key);
	if (ip)
		kw_alert_evidence_str(&a, "ip", kw_str_c(ip));
	snprintf(subject, sizeof(subject), "%lld", (long long)t);
	kw_alert_set_id(&a, subject);
	kw_incidents_add(in, &a);
	assert_memory_equal(a.incident, "kwi_", 4);
	memcpy(id, a.incident, sizeof(id));
	kw_alert_clear(&a);
	return id;
}

static json_t *msg_json(const struct sent *s)
{
	json_t *o = json_loads(s->json, 0, NULL);

	assert_non_null(o);
	return o;
}

static json_int_t msg_int(const struct sent *s, const char *field)
{
	json_t *o = msg_json(s);
	json_int_t v = json_integer_value(json_object_get(o, field));

	json_decref(o);
	return v;
}

/* ---- the rules ------------------------------------------------------------
 */

/* The first alert opens an incident, told as "opened" with its severity
 * once its request is over; the JSON is keywatch.incident/1. */
static void test_open(void **state)
{
	struct record r;
	struct kw_incidents *in = table(&r, 0);
	char id[KW_ALERT_ID_LEN + 1];
	json_t *o;

	(void)state;
	memcpy(id, add(in, 1, "key.honey", KW_SEV_CRITICAL, T0, "45.1.2.3"),
	       sizeof(id));
	assert_int_equal(r.n, 0); /* waits for the end of the request */
	kw_incidents_tick(in, T0 - 2 * MIN);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.m[0].event, KW_INCIDENT_OPENED);
	assert_string_equal(r.m[0].id, id);
	assert_int_equal(r.m[0].severity, KW_SEV_CRITICAL);
	assert_int_equal(r.m[0].time, T0);
	o = msg_json(&r.m[0]);
	assert_string_equal(json_string_value(json_object_get(o, "schema")),
			    "keywatch.incident/1");
	assert_string_equal(json_string_value(json_object_get(o, "event")),
			    "opened");
	assert_int_equal(json_integer_value(json_object_get(o, "alerts")), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(o, "alert"), "detector")),
			    "key.honey");
	json_decref(o);
	assert_int_equal(kw_incidents_open(in), 1);
	assert_int_equal(kw_incidents_stats(in)->opened, 1);
	kw_incidents_destroy(in);

	/* The same alerts give the same id. */
	in = table(&r, 0);
	assert_string_equal(
		add(in, 1, "key.honey", KW_SEV_CRITICAL, T0, "45.1.2.3"), id);
	kw_incidents_destroy(in);
}

/* Later alerts on the key join the open incident: same id, no message,
 * counted in the next one. */
static void test_join(void **state)
{
	struct record r;
	struct kw_incidents *in = table(&r, 0);
	char id[KW_ALERT_ID_LEN + 1];

	(void)state;
	memcpy(id, add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0, "1.1.1.1"),
	       sizeof(id));
	for (int i = 1; i <= 10; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "2.2.2.%d", i);
		assert_string_equal(add(in, 1, "geo.new_ip", KW_SEV_MEDIUM,
					T0 + i * MIN, ip),
				    id);
	}
	kw_incidents_tick(in, T0 + 10 * MIN);
	assert_int_equal(r.n, 1); /* only the opening */
	assert_int_equal(kw_incidents_stats(in)->joined, 10);
	kw_incidents_drain(in);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.m[1].event, KW_INCIDENT_UPDATED);
	assert_int_equal(msg_int(&r.m[1], "alerts"), 11);
	assert_int_equal(msg_int(&r.m[1], "new_alerts"), 10);
	assert_int_equal(msg_int(&r.m[1], "ip_count"), 11);
	kw_incidents_destroy(in);
}

/* The alerts of one request are one step: medium then critical on the
 * same request open the incident once, as critical. */
static void test_one_request(void **state)
{
	struct record r;
	struct kw_incidents *in = table(&r, 0);

	(void)state;
	add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0, "1.1.1.1");
	add(in, 1, "key.client_exposed", KW_SEV_CRITICAL, T0, "1.1.1.1");
	add(in, 2, "key.honey", KW_SEV_HIGH, T0, "9.9.9.9"); /* ends it */
	assert_int_equal(r.n, 1);
	assert_int_equal(r.m[0].event, KW_INCIDENT_OPENED);
	assert_int_equal(r.m[0].severity, KW_SEV_CRITICAL);
	assert_int_equal(msg_int(&r.m[0], "alerts"), 2);
	kw_incidents_destroy(in);
}

/* A rise in severity is told at once, with the new worst alert. */
static void test_severity_rise(void **state)
{
	struct record r;
	struct kw_incidents *in = table(&r, 0);
	json_t *o;

	(void)state;
	add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0, "1.1.1.1");
	add(in, 1, "geo.new_ip", KW_SEV_LOW, T0 + MIN, "1.1.1.2");
	add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0 + 2 * MIN, "1.1.1.3");
	kw_incidents_tick(in, T0);
	assert_int_equal(r.n, 1);
	add(in, 1, "geo.new_country", KW_SEV_HIGH, T0 + 3 * MIN, "8.8.8.8");
	kw_incidents_tick(in, T0 + MIN);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.m[1].event, KW_INCIDENT_UPDATED);
	assert_int_equal(r.m[1].severity, KW_SEV_HIGH);
	assert_int_equal(r.m[1].time, T0 + 3 * MIN);
	o = msg_json(&r.m[1]);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(o, "alert"), "detector")),
			    "geo.new_country");
	assert_int_equal(json_integer_value(json_object_get(o, "new_alerts")),
			 3);
	assert_int_equal(
		json_integer_value(json_object_get(
			json_object_get(o, "detectors"), "geo.new_ip")),
		3);
	json_decref(o);
	/* The same severity again is no rise. */
	add(in, 1, "geo.new_country", KW_SEV_HIGH, T0 + 4 * MIN, "8.8.4.4");
	kw_incidents_tick(in, T0 + 2 * MIN);
	assert_int_equal(r.n, 2);
	kw_incidents_destroy(in);
}

/* News is told once per digest interval (1h), from an alert that joins
 * after it or from the watermark passing it; the interval then doubles
 * (2h, then the 4h cap). */
static void test_digest_interval(void **state)
{
	struct record r;
	struct kw_incidents *in = table(&r, 0);

	(void)state;
	add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0, "1.0.0.1");
	add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0 + 20 * MIN, "1.0.0.2");
	add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0 + 40 * MIN, "1.0.0.3");
	kw_incidents_tick(in, T0 + 58 * MIN);
	assert_int_equal(r.n, 1);
	/* An alert an hour after the opening message brings the digest. */
	add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0 + 60 * MIN, "1.0.0.4");
	kw_incidents_tick(in, T0 + 58 * MIN);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.m[1].event, KW_INCIDENT_UPDATED);
	assert_int_equal(r.m[1].time, T0 + 60 * MIN);
	assert_int_equal(msg_int(&r.m[1], "new_alerts"), 3);
	/* Now 2h: nothing at +1h30, the watermark passing +3h tells. */
	add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0 + 90 * MIN, "1.0.0.5");
	add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0 + 140 * MIN, "1.0.0.6");
	kw_incidents_tick(in, T0 + 179 * MIN);
	assert_int_equal(r.n, 2);
	add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0 + 170 * MIN, "1.0.0.7");
	kw_incidents_tick(in, T0 + 180 * MIN);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.m[2].event, KW_INCIDENT_UPDATED);
	assert_int_equal(r.m[2].time, T0 + 180 * MIN);
	assert_int_equal(msg_int(&r.m[2], "new_alerts"), 3);
	/* Then 4h (the cap): nothing by +6h40, an alert at +7h tells. */
	add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0 + 200 * MIN, "1.0.0.8");
	add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0 + 250 * MIN, "1.0.0.9");
	add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0 + 300 * MIN, "1.0.0.10");
	add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0 + 350 * MIN, "1.0.0.11");
	add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0 + 400 * MIN, "1.0.0.12");
	kw_incidents_tick(in, T0 + 400 * MIN);
	assert_int_equal(r.n, 3);
	add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0 + 420 * MIN, "1.0.0.13");
	kw_incidents_tick(in, T0 + 400 * MIN);
	assert_int_equal(r.n, 4);
	assert_int_equal(r.m[3].time, T0 + 420 * MIN);
	assert_int_equal(msg_int(&r.m[3], "alerts"), 13);
	assert_int_equal(msg_int(&r.m[3], "new_alerts"), 6);
	assert_int_equal(kw_incidents_stats(in)->most_messages, 4);
	kw_incidents_destroy(in);
}

/* An incident quiet for close_after closes (told with its news, or as a
 * bare closing that chat sinks skip); the next alert opens a new one. */
static void test_close(void **state)
{
	struct record r;
	struct kw_incidents *in = table(&r, 0);
	char first[KW_ALERT_ID_LEN + 1];
	json_t *o;

	(void)state;
	memcpy(first, add(in, 1, "key.honey", KW_SEV_CRITICAL, T0, NULL),
	       sizeof(first));
	add(in, 1, "key.honey", KW_SEV_CRITICAL, T0 + 10 * MIN, NULL);
	kw_incidents_tick(in, T0 + 59 * MIN);
	assert_int_equal(r.n, 1);
	kw_incidents_tick(in, T0 + 60 * MIN); /* the digest of +10 */
	assert_int_equal(r.n, 2);
	add(in, 1, "key.honey", KW_SEV_CRITICAL, T0 + 65 * MIN, NULL);
	kw_incidents_tick(in, T0 + 124 * MIN);
	assert_int_equal(r.n, 2);
	kw_incidents_tick(in, T0 + 125 * MIN); /* quiet for 1h since +65 */
	assert_int_equal(r.n, 3);
	assert_int_equal(r.m[2].event, KW_INCIDENT_CLOSED);
	assert_string_equal(r.m[2].id, first);
	assert_int_equal(r.m[2].time, T0 + 125 * MIN);
	o = msg_json(&r.m[2]);
	assert_string_equal(json_string_value(json_object_get(o, "event")),
			    "closed");
	assert_string_equal(json_string_value(json_object_get(o, "closed")),
			    "2026-11-27T11:19:03Z");
	assert_int_equal(json_integer_value(json_object_get(o, "new_alerts")),
			 1);
	assert_int_equal(json_integer_value(json_object_get(o, "alerts")), 3);
	json_decref(o);
	assert_int_equal(kw_incidents_open(in), 0);
	assert_int_equal(kw_incidents_stats(in)->closed, 1);

	/* A new alert: a new incident, closed an hour later with no news. */
	assert_string_not_equal(
		add(in, 1, "key.honey", KW_SEV_CRITICAL, T0 + 3 * HOUR, NULL),
		first);
	kw_incidents_tick(in, T0 + 4 * HOUR);
	assert_int_equal(r.n, 5);
	assert_int_equal(r.m[3].event, KW_INCIDENT_OPENED);
	assert_int_equal(r.m[4].event, KW_INCIDENT_CLOSED);
	assert_int_equal(msg_int(&r.m[4], "new_alerts"), 0);
	/* A bare closing is not one more message to a person: the most
	 * one incident sent is the first one's three. */
	assert_int_equal(kw_incidents_stats(in)->most_messages, 3);

	/* Quiet by the time of the next alert, though no tick said so. */
	add(in, 1, "key.honey", KW_SEV_CRITICAL, T0 + 10 * HOUR, NULL);
	add(in, 1, "key.honey", KW_SEV_CRITICAL, T0 + 12 * HOUR, NULL);
	kw_incidents_tick(in, T0 + 12 * HOUR);
	assert_int_equal(r.n, 8);
	assert_int_equal(r.m[5].event, KW_INCIDENT_OPENED);
	assert_int_equal(r.m[6].event, KW_INCIDENT_CLOSED);
	assert_int_equal(r.m[6].time, T0 + 11 * HOUR);
	assert_int_equal(r.m[7].event, KW_INCIDENT_OPENED);
	kw_incidents_destroy(in);
}

/* Keys do not mix; the table holds max_open incidents and closes the
 * quietest to make room. */
static void test_keys_and_bound(void **state)
{
	struct record r;
	struct kw_incidents *in = table(&r, 2);
	char a[KW_ALERT_ID_LEN + 1], b[KW_ALERT_ID_LEN + 1];

	(void)state;
	memcpy(a, add(in, 1, "key.honey", KW_SEV_HIGH, T0, NULL), sizeof(a));
	memcpy(b, add(in, 2, "key.honey", KW_SEV_HIGH, T0 + MIN, NULL),
	       sizeof(b));
	assert_string_not_equal(a, b);
	add(in, 2, "key.honey", KW_SEV_HIGH, T0 + 2 * MIN, NULL);
	add(in, 3, "key.honey", KW_SEV_HIGH, T0 + 3 * MIN, NULL);
	kw_incidents_tick(in, T0);
	assert_int_equal(kw_incidents_open(in), 2);
	assert_int_equal(kw_incidents_stats(in)->evicted, 1);
	/* Opened 1, opened 2, closed 1 (the quietest), opened 3. */
	assert_int_equal(r.n, 4);
	assert_int_equal(r.m[2].event, KW_INCIDENT_CLOSED);
	assert_string_equal(r.m[2].id, a);
	assert_int_equal(r.m[3].event, KW_INCIDENT_OPENED);
	/* Key 2 still joins its own incident. */
	assert_string_equal(
		add(in, 2, "key.honey", KW_SEV_HIGH, T0 + 4 * MIN, NULL), b);
	kw_incidents_destroy(in);

	/* The quietest is the one whose last alert is oldest, not the one
	 * opened first: 1 is opened first but alerts again, so 2 and then 3
	 * make room; a place freed takes the last entry, and that entry's
	 * last alert time moves with it. */
	{
		char id2[KW_ALERT_ID_LEN + 1], id3[KW_ALERT_ID_LEN + 1];
		char id4[KW_ALERT_ID_LEN + 1];

		in = table(&r, 3);
		r.n = 0;
		add(in, 1, "key.honey", KW_SEV_HIGH, T0, NULL);
		memcpy(id2,
		       add(in, 2, "key.honey", KW_SEV_HIGH, T0 + MIN, NULL),
		       sizeof(id2));
		memcpy(id3,
		       add(in, 3, "key.honey", KW_SEV_HIGH, T0 + 2 * MIN, NULL),
		       sizeof(id3));
		add(in, 1, "key.honey", KW_SEV_HIGH, T0 + 3 * MIN, NULL);
		memcpy(id4,
		       add(in, 4, "key.honey", KW_SEV_HIGH, T0 + 4 * MIN, NULL),
		       sizeof(id4));
		add(in, 5, "key.honey", KW_SEV_HIGH, T0 + 5 * MIN, NULL);
		kw_incidents_tick(in, T0 + 5 * MIN);
		assert_int_equal(kw_incidents_stats(in)->evicted, 2);
		/* Opened 1, 2, 3; closed 2, opened 4; closed 3, opened 5. */
		assert_int_equal(r.n, 7);
		assert_int_equal(r.m[3].event, KW_INCIDENT_CLOSED);
		assert_string_equal(r.m[3].id, id2);
		assert_int_equal(r.m[5].event, KW_INCIDENT_CLOSED);
		assert_string_equal(r.m[5].id, id3);
		/* 1 alerts again; 4, moved into 3's place when 3 closed, is
		 * now the quietest of 1, 4 and 5. */
		add(in, 1, "key.honey", KW_SEV_HIGH, T0 + 6 * MIN, NULL);
		add(in, 6, "key.honey", KW_SEV_HIGH, T0 + 7 * MIN, NULL);
		kw_incidents_tick(in, T0 + 7 * MIN);
		assert_int_equal(r.m[7].event, KW_INCIDENT_CLOSED);
		assert_string_equal(r.m[7].id, id4);
		kw_incidents_destroy(in);
	}

	/* Many: the table grows, the quietest close past max_open, every
	 * key still finds its own incident, and a tick that closes most of
	 * them moves the others without losing one. */
	{
		static char ids[60][KW_ALERT_ID_LEN + 1];

		in = table(&r, 40);
		for (int k = 0; k < 60; k++)
			memcpy(ids[k],
			       add(in, 100 + k, "geo.new_ip", KW_SEV_LOW,
				   T0 + k * MIN, NULL),
			       sizeof(ids[0]));
		assert_int_equal(kw_incidents_open(in), 40);
		assert_int_equal(kw_incidents_stats(in)->evicted, 20);
		for (int k = 20; k < 60; k += 3)
			assert_string_equal(add(in, 100 + k, "geo.new_ip",
						KW_SEV_LOW, T0 + 60 * MIN,
						NULL),
					    ids[k]);
		r.n = 0;
		kw_incidents_tick(in, T0 + 119 * MIN);
		assert_int_equal(kw_incidents_open(in), 14);
		for (int k = 20; k < 60; k += 3)
			assert_string_equal(add(in, 100 + k, "geo.new_ip",
						KW_SEV_LOW, T0 + 61 * MIN,
						NULL),
					    ids[k]);
		kw_incidents_destroy(in);
	}
}

/* Past max_open, the incident closed is the first in place order of
 * those whose last alert is oldest, over several runs of the table's
 * per-run minimums: a model of the places (an opened incident at the end,
 * a closed one's place taken by the last) says which key each eviction
 * closes, for random keys and times with many ties, alerts that come
 * late (not moving the last time) and places moved by closing. */
static void test_quietest_many(void **state)
{
	enum { OPEN = 300, KEYS = 900, ADDS = 6000 };
	static char ids[KEYS][KW_ALERT_ID_LEN + 1];
	static int mkey[OPEN];
	static int64_t mlast[OPEN];
	static int where[KEYS]; /* place + 1 in the model, 0: not open */
	struct record r;
	struct kw_incidents *in = table(&r, OPEN);
	size_t n = 0, evicted = 0;
	uint64_t rng = 42;

	(void)state;
	for (int i = 0; i < ADDS; i++) {
		int key, gone = -1;
		int64_t t;
		const char *id;

		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		key = (int)((rng >> 33) % KEYS);
		t = T0 + (int64_t)((rng >> 20) % 40) * MIN;
		if (!where[key] && n == OPEN) {
			size_t at = 0;

			for (size_t j = 1; j < n; j++) {
				if (mlast[j] < mlast[at])
					at = j;
			}
			gone = mkey[at];
			where[gone] = 0;
			n--;
			if (at != n) {
				mkey[at] = mkey[n];
				mlast[at] = mlast[n];
				where[mkey[at]] = (int)at + 1;
			}
			evicted++;
		}
		if (!where[key]) {
			mkey[n] = key;
			mlast[n] = t;
			where[key] = (int)++n;
		} else if (t > mlast[where[key] - 1]) {
			mlast[where[key] - 1] = t;
		}
		r.n = 0;
		id = add(in, key, "key.honey", KW_SEV_HIGH, t, NULL);
		for (size_t m = 0; m < r.n && m < 32; m++) {
			if (r.m[m].event != KW_INCIDENT_CLOSED)
				continue;
			assert_int_not_equal(gone, -1);
			assert_string_equal(r.m[m].id, ids[gone]);
			gone = -1;
		}
		assert_int_equal(gone, -1);
		memcpy(ids[key], id, sizeof(ids[key]));
	}
	assert_int_equal(kw_incidents_open(in), OPEN);
	assert_int_equal(kw_incidents_stats(in)->evicted, evicted);
	assert_true(evicted > 1000);
	kw_incidents_destroy(in);
}

/* What an incident message lists: IPs (from "ip" and "top_ips"),
 * countries, operations (from "op" and "top_ops"), request ids. */
static void test_summaries(void **state)
{
	struct record r;
	struct kw_incidents *in = table(&r, 0);
	struct kw_alert a;
	struct kw_alert_key k = {.kind = KW_KIND_SECRET, .mode = KW_MODE_LIVE};
	char *s;

	(void)state;
	snprintf(k.id, sizeof(k.id), "sk_live_\xe2\x80\xa6%04d", 7);
	snprintf(k.fp, sizeof(k.fp), "%016x", 7);
	assert_int_equal(kw_alert_init(&a, "rate.spike", KW_SEV_HIGH, T0, &k),
			 KW_OK);
	kw_alert_evidence_json(&a, "top_ips",
			       json_pack("[{s:s,s:i},{s:s,s:i}]", "ip",
					 "5.5.5.5", "requests", 90, "ip",
					 "6.6.6.6", "requests", 10));
	kw_alert_evidence_json(&a, "top_ops",
			       json_pack("[{s:s,s:i}]", "op", "charges.list",
					 "requests", 100));
	kw_alert_add_request(&a, kw_str_c("req_1"));
	kw_alert_add_link(&a, "req_1", "https://logs.example/req_1");
	kw_alert_set_id(&a, "w1");
	kw_incidents_add(in, &a);
	kw_alert_clear(&a);
	assert_int_equal(
		kw_alert_init(&a, "geo.new_country", KW_SEV_HIGH, T0 + MIN, &k),
		KW_OK);
	kw_alert_evidence_str(&a, "ip", kw_str_c("5.5.5.5"));
	kw_alert_evidence_str(&a, "country", kw_str_c("DE"));
	kw_alert_evidence_str(&a, "op", kw_str_c("customers.list"));
	kw_alert_add_request(&a, kw_str_c("req_2"));
	kw_alert_add_request(&a, kw_str_c("req_1"));
	kw_alert_add_link(&a, "req_2", "https://logs.example/req_2");
	kw_alert_add_link(&a, "req_1", "https://logs.example/other");
	kw_alert_set_id(&a, "c1");
	kw_incidents_add(in, &a);
	kw_alert_clear(&a);
	kw_incidents_drain(in);
	assert_int_equal(r.n, 2);
	s = r.m[1].json;
	assert_non_null(strstr(
		s, "\"ip_count\":2,\"ips\":[{\"ip\":\"5.5.5.5\",\"alerts\":2},"
		   "{\"ip\":\"6.6.6.6\",\"alerts\":1}],\"countries\":[{"
		   "\"country\":\"DE\",\"alerts\":1}],\"operations\":[{\"op\":"
		   "\"charges.list\",\"alerts\":1},{\"op\":\"customers.list\","
		   "\"alerts\":1}]"));
	assert_non_null(strstr(s, "\"requests\":[\"req_1\",\"req_2\"]"));
	/* Each request's link once, the first one given, kept after the
	 * alerts that brought them were cleared. */
	assert_non_null(strstr(s,
			       "\"links\":[{\"request\":\"req_1\",\"url\":"
			       "\"https://logs.example/req_1\"},{\"request\":"
			       "\"req_2\",\"url\":\"https://logs.example/"
			       "req_2\"}]"));
	assert_non_null(strstr(s, "\"detectors\":{\"geo.new_country\":1,"
				  "\"rate.spike\":1}"));
	kw_incidents_destroy(in);
}

/* Saved and loaded, an incident goes on: same id, same counts, its
 * deadlines kept; a damaged save is an error naming the entry. */
static void test_save_load(void **state)
{
	struct record r, r2;
	struct kw_incidents *in = table(&r, 0), *in2 = table(&r2, 0);
	struct kw_error err;
	char id[KW_ALERT_ID_LEN + 1];
	json_t *saved, *bad;

	(void)state;
	memcpy(id, add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0, "1.0.0.1"),
	       sizeof(id));
	add(in, 1, "geo.new_ip", KW_SEV_MEDIUM, T0 + 10 * MIN, "1.0.0.2");
	kw_incidents_tick(in, T0);
	saved = kw_incidents_save(in);
	assert_int_equal(json_array_size(saved), 1);
	kw_error_clear(&err);
	assert_int_equal(kw_incidents_load(in2, saved, &err), KW_OK);
	assert_int_equal(kw_incidents_open(in2), 1);
	assert_string_equal(add(in2, 1, "geo.new_ip", KW_SEV_MEDIUM,
				T0 + 20 * MIN, "1.0.0.3"),
			    id);
	/* The digest (1h after the opening message) and the close. */
	kw_incidents_tick(in2, T0 + 60 * MIN);
	assert_int_equal(r2.n, 1);
	assert_int_equal(r2.m[0].event, KW_INCIDENT_UPDATED);
	assert_int_equal(msg_int(&r2.m[0], "alerts"), 3);
	assert_int_equal(msg_int(&r2.m[0], "ip_count"), 3);
	kw_incidents_tick(in2, T0 + 80 * MIN);
	assert_int_equal(r2.n, 2);
	assert_int_equal(r2.m[1].event, KW_INCIDENT_CLOSED);

	bad = json_deep_copy(saved);
	json_object_set_new(json_array_get(bad, 0), "alerts",
			    json_string("many"));
	assert_int_equal(kw_incidents_load(in2, bad, &err), KW_EINVAL);
	assert_string_equal(err.msg, "incidents[0]: not a saved incident");
	assert_int_equal(kw_incidents_open(in2), 0);
	json_decref(bad);
	json_decref(saved);
	kw_incidents_destroy(in);
	kw_incidents_destroy(in2);
}

/* A table no one listens to and nothing keeps only counts: over a long
 * run of alerts that open, join, rise in severity, get digests, close
 * quietly and close early for room, it gives every alert the incident id
 * and ends with the stats a whole table gives; its save is empty; a
 * listener that comes after the first incident gets nothing; a load makes
 * its entries whole again. */
static void test_counted_only(void **state)
{
	enum { OPEN = 200, KEYS = 600, ADDS = 5000 };
	static const char *const dets[] = {"geo.new_ip", "ops.first_seen",
					   "key.honey"};
	struct record rw, rb;
	struct kw_incidents *whole = table(&rw, OPEN), *bare = table(&rb, OPEN);
	const struct kw_incident_stats *sw, *sb;
	struct kw_error err;
	json_t *saved, *none;
	uint64_t rng = 7, told;
	int64_t t = T0;
	char ip[32];

	(void)state;
	kw_incidents_listened(whole, false);
	kw_incidents_kept(bare, false);
	kw_incidents_listened(bare, false);
	for (int i = 0; i < ADDS; i++) {
		char id[KW_ALERT_ID_LEN + 1];
		int key;
		enum kw_severity sev;
		const char *det;

		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		key = (int)((rng >> 33) % KEYS);
		sev = (enum kw_severity)(KW_SEV_LOW + (rng >> 20) % 3);
		det = dets[(rng >> 24) % 3];
		t += (int64_t)((rng >> 28) % 3) * 2000000; /* 0-4 s */
		snprintf(ip, sizeof(ip), "10.0.%d.%d", key % 7, (int)(rng % 5));
		memcpy(id, add(whole, key, det, sev, t, ip), sizeof(id));
		assert_string_equal(add(bare, key, det, sev, t, ip), id);
		if (i % 1000 == 499)
			t += 2 * HOUR; /* every open one falls quiet */
		if (i % 40 == 39) {
			kw_incidents_tick(whole, t - 30 * MIN);
			kw_incidents_tick(bare, t - 30 * MIN);
		}
	}
	kw_incidents_drain(whole);
	kw_incidents_drain(bare);
	sw = kw_incidents_stats(whole);
	sb = kw_incidents_stats(bare);
	assert_true(sw->evicted > 100 && sw->closed > sw->evicted);
	assert_true(sw->joined > 1000 && sw->messages > sw->opened);
	assert_same_incident_stats(sw, sb);
	assert_int_equal(sb->oom, 0);
	assert_int_equal(kw_incidents_open(bare), kw_incidents_open(whole));
	assert_int_equal(rw.n, 0);
	assert_int_equal(rb.n, 0);

	saved = kw_incidents_save(whole);
	none = kw_incidents_save(bare);
	assert_int_equal(json_array_size(saved), kw_incidents_open(whole));
	assert_int_equal(json_array_size(none), 0);
	json_decref(none);

	/* Too late to be heard: counted, not sent. */
	told = sb->messages;
	kw_incidents_listened(bare, true);
	add(bare, 1, "key.honey", KW_SEV_CRITICAL, t, NULL);
	kw_incidents_tick(bare, t + 10 * HOUR);
	assert_int_equal(rb.n, 0);
	assert_true(sb->messages > told);

	kw_error_clear(&err);
	assert_int_equal(kw_incidents_load(bare, saved, &err), KW_OK);
	none = kw_incidents_save(bare);
	assert_true(json_equal(none, saved));
	json_decref(none);
	json_decref(saved);
	kw_incidents_destroy(whole);
	kw_incidents_destroy(bare);
}

/* The incident keeps its worst alert's evidence as the alert had it, not a
 * copy (the router changes it no more once routed): the message carries
 * the very object, and it lives on after the alert is gone. A worse alert
 * takes its place; the old one's evidence is let go. */
/* An incident's id: SHA-256 over the key's fingerprint, the opening
 * alert's id and its time in decimal (negative and extreme times too). */
static void test_ids(void **state)
{
	static const int64_t times[] = {T0,	  0,	     -1,
					-1234567, INT64_MIN, INT64_MAX};
	struct record r;

	(void)state;
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		struct kw_incidents *in = table(&r, 0);
		struct kw_alert_key k = key_n((int)i);
		char subject[64], t[32], aid[KW_ALERT_ID_LEN + 1];
		char want[KW_ALERT_ID_LEN + 1];
		const char *ap[] = {"geo.new_ip", k.fp, subject};
		const char *ip[] = {k.fp, aid, t};

		snprintf(subject, sizeof(subject), "%lld", (long long)times[i]);
		snprintf(t, sizeof(t), "%lld", (long long)times[i]);
		kw_alert_make_id(aid, "kwa_", ap, 3);
		kw_alert_make_id(want, "kwi_", ip, 3);
		assert_string_equal(add(in, (int)i, "geo.new_ip", KW_SEV_LOW,
					times[i], NULL),
				    want);
		kw_incidents_destroy(in);
	}
}

static void test_worst_shared(void **state)
{
	struct record r;
	struct kw_incidents *in = table(&r, 0);
	struct kw_alert_key k = key_n(7);
	struct kw_alert a, b;
	json_t *ev, *ev2;
	json_t *o;

	(void)state;
	assert_int_equal(kw_alert_init(&a, "geo.new_ip", KW_SEV_MEDIUM, T0, &k),
			 KW_OK);
	kw_alert_evidence_str(&a, "ip", kw_str_c("45.1.2.3"));
	kw_alert_set_id(&a, "a");
	kw_alert_trees(&a); /* the trees are shared, not copied */
	ev = json_incref(a.evidence);
	kw_incidents_add(in, &a);
	kw_alert_clear(&a);
	assert_int_equal(ev->refcount, 2); /* ours and the incident's */
	kw_incidents_tick(in, T0 + MIN);
	assert_int_equal(r.n, 1);
	assert_ptr_equal(r.m[0].evidence, ev);
	o = msg_json(&r.m[0]);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(o, "alert"),
						    "evidence"),
				    "ip")),
			    "45.1.2.3");
	json_decref(o);

	assert_int_equal(kw_alert_init(&b, "key.honey", KW_SEV_CRITICAL,
				       T0 + 2 * MIN, &k),
			 KW_OK);
	kw_alert_evidence_str(&b, "ip", kw_str_c("45.1.2.4"));
	kw_alert_set_id(&b, "b");
	kw_alert_trees(&b);
	ev2 = json_incref(b.evidence);
	kw_incidents_add(in, &b);
	kw_alert_clear(&b);
	assert_int_equal(ev->refcount, 1); /* only ours: the worst moved */
	assert_int_equal(ev2->refcount, 2);
	kw_incidents_tick(in, T0 + 3 * MIN);
	assert_int_equal(r.n, 2);
	assert_ptr_equal(r.m[1].evidence, ev2);
	kw_incidents_destroy(in);
	assert_int_equal(ev2->refcount, 1);
	json_decref(ev);
	json_decref(ev2);
}

/* Every field an incident reads and its opening does not write: made
 * busy in key 1's incident, which closes, so that key 2's opens in the
 * same entry (the table keeps the last one closed for the next). */
static void busy_then_closed(struct kw_incidents *in, struct record *r)
{
	struct kw_alert a;
	struct kw_alert_key k = key_n(1);

	for (int i = 0; i < 3; i++) {
		char subject[16];

		assert_int_equal(
			kw_alert_init(&a, i ? "geo.new_country" : "rate.spike",
				      i == 2 ? KW_SEV_CRITICAL : KW_SEV_MEDIUM,
				      T0 + i * MIN, &k),
			KW_OK);
		kw_alert_summary(&a, "busy %d", i);
		kw_alert_evidence_str(&a, "ip",
				      kw_str_c(i ? "1.0.0.2" : "1.0.0.1"));
		kw_alert_evidence_str(&a, "country", kw_str_c("FR"));
		kw_alert_evidence_str(&a, "op", kw_str_c("refunds.create"));
		kw_alert_add_request(&a, kw_str_c(i ? "req_b" : "req_a"));
		kw_alert_add_link(&a, i ? "req_b" : "req_a",
				  "https://logs.example/busy");
		kw_alert_trees(&a);
		snprintf(subject, sizeof(subject), "busy%d", i);
		kw_alert_set_id(&a, subject);
		kw_incidents_add(in, &a);
		kw_alert_clear(&a);
		kw_incidents_tick(in, T0 + i * MIN);
	}
	kw_incidents_tick(in, T0 + 2 * MIN + HOUR);
	assert_int_equal(kw_incidents_open(in), 0);
	assert_int_equal(kw_incidents_stats(in)->closed, 1);
	assert_int_equal(r->m[r->n - 1].event, KW_INCIDENT_CLOSED);
}

/* A new incident in the entry of one closed holds the new alert's facts
 * only: its message and its save are those of the same alert in a table
 * that never held another. */
static void test_reused_entry(void **state)
{
	struct record r, fresh_r;
	struct kw_incidents *in = table(&r, 0), *fresh = table(&fresh_r, 0);
	const int64_t t = T0 + 5 * HOUR;
	char id[KW_ALERT_ID_LEN + 1];
	size_t before;
	json_t *o, *u, *saved, *fresh_saved;
	char *s1, *s2;

	(void)state;
	busy_then_closed(in, &r);
	before = r.n;
	memcpy(id, add(in, 2, "key.honey", KW_SEV_LOW, t, NULL), sizeof(id));
	assert_string_equal(add(fresh, 2, "key.honey", KW_SEV_LOW, t, NULL),
			    id);
	kw_incidents_tick(in, t);
	kw_incidents_tick(fresh, t);
	assert_int_equal(r.n, before + 1);
	assert_int_equal(fresh_r.n, 1);

	assert_int_equal(r.m[before].event, KW_INCIDENT_OPENED);
	assert_string_equal(r.m[before].id, id);
	assert_int_equal(r.m[before].severity, KW_SEV_LOW);
	assert_int_equal(r.m[before].time, t);
	assert_int_equal(r.m[before].told, 0);
	o = msg_json(&r.m[before]);
	assert_string_equal(json_string_value(json_object_get(o, "summary")),
			    "key.honey on key 2");
	assert_int_equal(json_array_size(json_object_get(o, "requests")), 0);
	assert_null(json_object_get(o, "links"));
	assert_int_equal(json_integer_value(json_object_get(o, "alerts")), 1);
	assert_int_equal(json_integer_value(json_object_get(o, "new_alerts")),
			 1);
	assert_int_equal(json_integer_value(json_object_get(o, "message")), 1);
	assert_int_equal(json_integer_value(json_object_get(o, "ip_count")), 0);
	u = json_object_get(o, "detectors");
	assert_int_equal(json_object_size(u), 1);
	assert_int_equal(json_integer_value(json_object_get(u, "key.honey")),
			 1);
	assert_int_equal(json_array_size(json_object_get(o, "ips")), 0);
	assert_int_equal(json_array_size(json_object_get(o, "countries")), 0);
	assert_int_equal(json_array_size(json_object_get(o, "operations")), 0);
	u = json_object_get(o, "alert");
	assert_string_equal(json_string_value(json_object_get(u, "detector")),
			    "key.honey");
	assert_int_equal(json_object_size(json_object_get(u, "evidence")), 0);
	json_decref(o);
	assert_string_equal(r.m[before].json, fresh_r.m[0].json);

	/* What is saved but not sent (told, the IP sketch, the deadlines). */
	saved = kw_incidents_save(in);
	fresh_saved = kw_incidents_save(fresh);
	s1 = json_dumps(saved, JSON_COMPACT);
	s2 = json_dumps(fresh_saved, JSON_COMPACT);
	assert_non_null(s1);
	assert_non_null(s2);
	assert_string_equal(s1, s2);
	free(s1);
	free(s2);
	json_decref(saved);
	json_decref(fresh_saved);
	kw_incidents_destroy(in);
	kw_incidents_destroy(fresh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_one_request),
		cmocka_unit_test(test_severity_rise),
		cmocka_unit_test(test_digest_interval),
		cmocka_unit_test(test_close),
		cmocka_unit_test(test_keys_and_bound),
		cmocka_unit_test(test_quietest_many),
		cmocka_unit_test(test_summaries),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_worst_shared),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_reused_entry),
		cmocka_unit_test(test_counted_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
