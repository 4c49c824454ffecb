/*
 * test_sink.c - the router (alert/router.h) and the sinks (sink/sink.h):
 * dedup within the window in event time and after it, out-of-order alerts,
 * suppression by detector, key glob, subject and until, the minimum
 * severity, per-sink min_severity and detector globs, the stats; the file
 * sink (whole lines appended, created 0600, errors), the stdout sink, and
 * the errors of kw_sink_create.
 *
 * The one idea: a capturing sink (an ops struct defined here, listed in no
 * registry) records the ids the router hands it, so every routing decision
 * is checked by what arrived, not by the router's own counters alone.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "alert/router.h"
#include "core/log.h"
#include "core/time.h"
#include "sink/sink.h"
#include "config_fixture.h"

#define ELLIPSIS "\xe2\x80\xa6"
#define MIN (INT64_C(60) * 1000000)
#define T0 (INT64_C(1795770843) * 1000000) /* 2026-11-27T09:14:03Z */

/* ---- a capturing sink ---------------------------------------------------- */

struct capture {
	char ids[32][KW_ALERT_ID_LEN + 1];
	char lines[32][1024];
	size_t n;
	bool fail;
};

static enum kw_status cap_create(const json_t *conf,
				 const struct kw_sink_env *env, void **self,
				 struct kw_error *err)
{
	(void)conf;
	(void)env;
	(void)self;
	(void)err;
	return KW_OK;
}

static enum kw_sink_result cap_deliver(void *self, const struct kw_alert *a,
				       const char *json, size_t len,
				       struct kw_error *err)
{
	struct capture *c = self;

	if (c->fail) {
		kw_error_set(err, KW_EIO, "capture refused");
		return KW_SINK_FAIL;
	}
	assert_true(c->n < 32);
	assert_int_equal(strlen(json), len);
	snprintf(c->ids[c->n], sizeof(c->ids[0]), "%s", a->id);
	snprintf(c->lines[c->n], sizeof(c->lines[0]), "%s", json);
	c->n++;
	return KW_SINK_OK;
}

static const struct kw_sink_ops capture_ops = {
	.name = "capture",
	.options = NULL,
	.create = cap_create,
	.deliver = cap_deliver,
};

/* A kw_sink around c; detectors is a NULL-terminated list or NULL. */
static struct kw_sink *capture_sink(struct capture *c, enum kw_severity min,
				    const char *const *detectors)
{
	struct kw_sink *s = calloc(1, sizeof(*s));
	size_t n = 0;

	assert_non_null(s);
	s->ops = &capture_ops;
	s->self = c;
	snprintf(s->name, sizeof(s->name), "capture");
	snprintf(s->id, sizeof(s->id), "capture-%p", (void *)c);
	s->min_severity = min;
	if (detectors) {
		while (detectors[n])
			n++;
		s->detectors = calloc(n + 1, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			s->detectors[i] = strdup(detectors[i]);
	}
	return s;
}

/* ---- helpers ------------------------------------------------------------- */

/* An alert about key id "<prefix>…<last4>" with one subject field. */
static void make(struct kw_alert *a, const char *detector, enum kw_severity sev,
		 int64_t t, const char *keyid, const char *field,
		 const char *value)
{
	struct kw_alert_key k;
	char subject[128];
	uint64_t h = 1469598103934665603u; /* FNV-1a: a fingerprint per id */

	for (const char *p = keyid; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	memset(&k, 0, sizeof(k));
	snprintf(k.id, sizeof(k.id), "%s", keyid);
	snprintf(k.fp, sizeof(k.fp), "%016llx", (unsigned long long)h);
	k.kind = KW_KIND_SECRET;
	k.mode = KW_MODE_LIVE;
	assert_int_equal(kw_alert_init(a, detector, sev, t, &k), KW_OK);
	kw_alert_summary(a, "%s on %s", detector, keyid);
	kw_alert_suppress_str(a, field, kw_str_c(value));
	snprintf(subject, sizeof(subject), "%s=%s", field, value);
	kw_alert_set_id(a, subject);
}

/* Submit and return the id the alert had. */
static const char *submit(struct kw_router *r, const char *detector,
			  enum kw_severity sev, int64_t t, const char *keyid,
			  const char *field, const char *value)
{
	static char id[KW_ALERT_ID_LEN + 1];
	struct kw_alert a;

	make(&a, detector, sev, t, keyid, field, value);
	memcpy(id, a.id, sizeof(id));
	kw_router_submit(r, &a);
	assert_null(a.evidence); /* taken over */
	assert_null(a.suppress);
	return id;
}

#define KEY_A "sk_live_" ELLIPSIS "4242"
#define KEY_B "rk_live_" ELLIPSIS "a1b2"

/* ---- dedup --------------------------------------------------------------- */

static void test_dedup(void **state)
{
	struct kw_config *cfg = cfg_load("{\"dedup_window\": \"1h\"}");
	struct kw_router *r = NULL;
	struct capture cap = {0};
	const struct kw_router_stats *st;
	struct kw_error err;
	char id[KW_ALERT_ID_LEN + 1];

	(void)state;
	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &r, &err), KW_OK);
	assert_int_equal(
		kw_router_add_sink(r, capture_sink(&cap, KW_SEV_INFO, NULL)),
		KW_OK);
	assert_int_equal(kw_router_nsinks(r), 1);
	assert_non_null(kw_router_sink(r, 0));
	assert_null(kw_router_sink(r, 1));

	strcpy(id, submit(r, "geo.new_ip", KW_SEV_HIGH, T0, KEY_A, "ip",
			  "203.0.113.9"));
	assert_int_equal(cap.n, 1);
	assert_string_equal(cap.ids[0], id);
	/* Within the window (event time): dropped. */
	submit(r, "geo.new_ip", KW_SEV_HIGH, T0 + 30 * MIN, KEY_A, "ip",
	       "203.0.113.9");
	submit(r, "geo.new_ip", KW_SEV_HIGH, T0 + 60 * MIN - 1, KEY_A, "ip",
	       "203.0.113.9");
	assert_int_equal(cap.n, 1);
	/* Another subject or another key is another alert. */
	submit(r, "geo.new_ip", KW_SEV_HIGH, T0 + 1, KEY_A, "ip",
	       "203.0.113.10");
	submit(r, "geo.new_ip", KW_SEV_HIGH, T0 + 1, KEY_B, "ip",
	       "203.0.113.9");
	assert_int_equal(cap.n, 3);
	/* A whole window later: delivered again, and the window restarts. */
	submit(r, "geo.new_ip", KW_SEV_HIGH, T0 + 60 * MIN, KEY_A, "ip",
	       "203.0.113.9");
	assert_int_equal(cap.n, 4);
	assert_string_equal(cap.ids[3], id);
	submit(r, "geo.new_ip", KW_SEV_HIGH, T0 + 119 * MIN, KEY_A, "ip",
	       "203.0.113.9");
	assert_int_equal(cap.n, 4);
	/* Out of order: earlier than the last delivery but within the
	 * window of it is still a duplicate... */
	submit(r, "geo.new_ip", KW_SEV_HIGH, T0 + 10 * MIN, KEY_A, "ip",
	       "203.0.113.9");
	assert_int_equal(cap.n, 4);
	/* ...and one a whole window before it is not. */
	submit(r, "geo.new_ip", KW_SEV_HIGH, T0 - 1, KEY_A, "ip",
	       "203.0.113.9");
	assert_int_equal(cap.n, 5);
	/* The late one did not move the window back. */
	submit(r, "geo.new_ip", KW_SEV_HIGH, T0 + 100 * MIN, KEY_A, "ip",
	       "203.0.113.9");
	assert_int_equal(cap.n, 5);

	st = kw_router_stats(r);
	assert_int_equal(st->raised, 10);
	assert_int_equal(st->delivered, 5);
	assert_int_equal(st->deduped, 5);
	assert_int_equal(st->suppressed, 0);
	assert_int_equal(st->below, 0);
	assert_int_equal(st->failed, 0);
	assert_int_equal(st->max_severity_seen, KW_SEV_HIGH + 1);
	assert_int_equal(st->ndetectors, 1);
	assert_string_equal(st->by_detector[0].detector, "geo.new_ip");
	assert_int_equal(st->by_detector[0].count, 5);
	kw_router_flush(r);
	kw_router_destroy(r);
	kw_router_destroy(NULL);
	kw_config_free(cfg);
}

/* ---- "and N more" and rate limits ---------------------------------------- */

static void test_repeats_noted(void **state)
{
	struct kw_config *cfg = cfg_load("{\"dedup_window\": \"1h\"}");
	struct kw_router *r = NULL;
	struct capture cap = {0};
	struct kw_error err;

	(void)state;
	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &r, &err), KW_OK);
	kw_router_add_sink(r, capture_sink(&cap, KW_SEV_INFO, NULL));
	submit(r, "key.honey", KW_SEV_CRITICAL, T0, KEY_A, "ip", "1.2.3.4");
	submit(r, "key.honey", KW_SEV_CRITICAL, T0 + MIN, KEY_A, "ip",
	       "1.2.3.4");
	submit(r, "key.honey", KW_SEV_CRITICAL, T0 + 2 * MIN, KEY_A, "ip",
	       "1.2.3.4");
	assert_int_equal(cap.n, 1);
	assert_null(strstr(cap.lines[0], "repeats"));
	/* After the window: delivered with the count folded since. */
	submit(r, "key.honey", KW_SEV_CRITICAL, T0 + 61 * MIN, KEY_A, "ip",
	       "1.2.3.4");
	assert_int_equal(cap.n, 2);
	assert_non_null(strstr(cap.lines[1], "\"summary\":\"key.honey on " KEY_A
					     " (and 2 more like it since "
					     "2026-11-27T09:14:03Z)\""));
	assert_non_null(strstr(cap.lines[1],
			       "\"evidence\":{\"repeats\":2,\"repeats_since\":"
			       "\"2026-11-27T09:14:03Z\"}"));
	/* Nothing folded in between: no note. */
	submit(r, "key.honey", KW_SEV_CRITICAL, T0 + 122 * MIN, KEY_A, "ip",
	       "1.2.3.4");
	assert_int_equal(cap.n, 3);
	assert_null(strstr(cap.lines[2], "repeats"));
	kw_router_destroy(r);
	kw_config_free(cfg);
}

static void test_rate_limit_digest(void **state)
{
	struct kw_config *cfg = cfg_load("{}");
	struct kw_router *r = NULL;
	struct capture cap = {0}, all = {0};
	struct kw_sink *limited = capture_sink(&cap, KW_SEV_INFO, NULL);
	struct kw_error err;
	char ip[32];

	(void)state;
	assert_true(kw_sink_rate_parse("2/10m", &limited->rate.max,
				       &limited->rate.per));
	snprintf(limited->name, sizeof(limited->name), "slack (sinks[1])");
	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &r, &err), KW_OK);
	kw_router_add_sink(r, limited);
	kw_router_add_sink(r, capture_sink(&all, KW_SEV_INFO, NULL));
	/* Five distinct alerts in one 10-minute window: two pass, three are
	 * held (a high one among them); the unlimited sink gets all five. */
	for (int i = 0; i < 5; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i);
		submit(r, i == 3 ? "ops.sensitive" : "geo.new_ip",
		       i == 3 ? KW_SEV_HIGH : KW_SEV_LOW, T0 + i * MIN,
		       i == 4 ? KEY_B : KEY_A, "ip", ip);
	}
	assert_int_equal(cap.n, 2);
	assert_int_equal(all.n, 5);
	/* The next window starts with the digest of the last one. */
	submit(r, "geo.new_ip", KW_SEV_LOW, T0 + 10 * MIN, KEY_A, "ip",
	       "198.51.100.99");
	assert_int_equal(cap.n, 4);
	assert_int_equal(all.n, 6);
	assert_non_null(strstr(cap.lines[2], "\"detector\":\"router.digest\","
					     "\"severity\":\"high\""));
	assert_non_null(strstr(
		cap.lines[2],
		"\"summary\":\"slack (sinks[1]) held back 3 alerts over its "
		"rate limit of 2 per 600s between 2026-11-27T09:16:03Z and "
		"2026-11-27T09:18:03Z: geo.new_ip 2, ops.sensitive 1\""));
	assert_non_null(strstr(cap.lines[2],
			       "\"evidence\":{\"held\":3,\"by_detector\":{"
			       "\"geo.new_ip\":2,\"ops.sensitive\":1},"
			       "\"keys\":[\"" KEY_A "\",\"" KEY_B "\"]"));
	assert_non_null(strstr(cap.lines[3], "198.51.100.99"));
	/* The end of input sends what is still held. */
	submit(r, "geo.new_ip", KW_SEV_LOW, T0 + 11 * MIN, KEY_A, "ip",
	       "198.51.100.100");
	submit(r, "geo.new_ip", KW_SEV_LOW, T0 + 12 * MIN, KEY_A, "ip",
	       "198.51.100.101");
	assert_int_equal(cap.n, 5);
	kw_router_drain(r, 0);
	assert_int_equal(cap.n, 6);
	assert_non_null(strstr(cap.lines[5], "held back 1 alert over"));
	assert_int_equal(all.n, 8);
	kw_router_destroy(r);
	kw_config_free(cfg);
}

/* ---- the router's memory ------------------------------------------------ */

/* A rate-limited capture sink known as id. */
static struct kw_sink *limited_sink(struct capture *c, const char *id,
				    const char *limit)
{
	struct kw_sink *s = capture_sink(c, KW_SEV_INFO, NULL);

	snprintf(s->id, sizeof(s->id), "%s", id);
	s->named = true;
	if (limit)
		assert_true(
			kw_sink_rate_parse(limit, &s->rate.max, &s->rate.per));
	return s;
}

/* Router A delivers X and starts the pager's window (2 sent, 1 held);
 * its memory goes to a router B whose sinks are in the other order. B
 * does not deliver X again within the window, continues the pager's
 * window (so W is held too) and digests what both held. */
static void check_carried(bool through_text)
{
	struct kw_config *cfg = cfg_load("{\"dedup_window\": \"1h\"}");
	struct kw_router *a = NULL, *b = NULL;
	struct capture pa = {0}, aa = {0}, pb = {0}, ab = {0};
	struct kw_error err;
	char x[KW_ALERT_ID_LEN + 1];
	char *text;

	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &a, &err), KW_OK);
	kw_router_add_sink(a, limited_sink(&pa, "pager", "2/10m"));
	kw_router_add_sink(a, limited_sink(&aa, "archive", NULL));
	memcpy(x,
	       submit(a, "key.honey", KW_SEV_CRITICAL, T0, KEY_A, "ip", "1.1"),
	       sizeof(x));
	submit(a, "geo.new_ip", KW_SEV_LOW, T0 + MIN, KEY_A, "ip", "2.2");
	submit(a, "geo.new_ip", KW_SEV_LOW, T0 + 2 * MIN, KEY_B, "ip", "3.3");
	assert_int_equal(pa.n, 2);
	assert_int_equal(aa.n, 3);

	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &b, &err), KW_OK);
	kw_router_add_sink(b, limited_sink(&ab, "archive", NULL));
	kw_router_add_sink(b, limited_sink(&pb, "pager", "2/10m"));
	if (through_text) {
		text = kw_router_memory_save(a);
		assert_non_null(text);
		assert_non_null(
			strstr(text, "\"keywatch_router\":1,\"dedup\":["));
		assert_non_null(strstr(text, x));
		assert_non_null(strstr(text, "{\"sink\":\"pager\",\"start\":"));
		assert_null(strstr(text, "archive")); /* no window to keep */
		kw_error_clear(&err);
		assert_int_equal(kw_router_memory_load(b, text, strlen(text),
						       "state", &err),
				 KW_OK);
		free(text);
	} else {
		kw_router_memory_adopt(b, a);
	}
	kw_router_drain(a, 0); /* a digest only when a kept what it held */
	assert_int_equal(pa.n, through_text ? 3 : 2);

	submit(b, "key.honey", KW_SEV_CRITICAL, T0 + 5 * MIN, KEY_A, "ip",
	       "1.1");
	assert_int_equal(ab.n + pb.n, 0); /* X again: within its window */
	submit(b, "geo.new_ip", KW_SEV_LOW, T0 + 6 * MIN, KEY_A, "ip", "4.4");
	assert_int_equal(ab.n, 1);
	assert_int_equal(pb.n, 0); /* the pager's window is still full */
	kw_router_drain(b, 0);
	assert_int_equal(pb.n, 1);
	assert_non_null(strstr(pb.lines[0], "\"detector\":\"router.digest\""));
	assert_non_null(strstr(pb.lines[0], "held back 2 alerts"));
	assert_non_null(
		strstr(pb.lines[0], "\"by_detector\":{\"geo.new_ip\":2}"));
	kw_router_destroy(a);
	kw_router_destroy(b);
	kw_config_free(cfg);
}

static void test_memory_saved_and_loaded(void **state)
{
	(void)state;
	check_carried(true);
}

/* An open incident goes on in a router that gets A's memory (saved and
 * loaded, or adopted on a reload) with its sinks in another order and one
 * more: same id, no second opening for the sink told before, an opening
 * for the new one; A's drain tells nothing after an adoption. */
static void check_incident_carried(bool through_text)
{
	struct kw_config *cfg = cfg_load("{}");
	struct kw_router *a = NULL, *b = NULL;
	struct capture ca = {0}, ma = {0}, cb = {0}, mb = {0}, nb = {0};
	struct kw_sink *s;
	struct kw_error err;
	char incident[KW_ALERT_ID_LEN + 1];
	char *text;

	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &a, &err), KW_OK);
	s = limited_sink(&ca, "chat", NULL);
	s->incidents = true;
	kw_router_add_sink(a, s);
	kw_router_add_sink(a, limited_sink(&ma, "archive", NULL));
	submit(a, "geo.new_ip", KW_SEV_MEDIUM, T0, KEY_A, "ip", "1.1");
	submit(a, "geo.new_ip", KW_SEV_MEDIUM, T0 + MIN, KEY_A, "ip", "2.2");
	assert_int_equal(ca.n, 1);
	memcpy(incident, ca.ids[0], sizeof(incident));
	assert_non_null(strstr(ma.lines[0], incident));

	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &b, &err), KW_OK);
	kw_router_add_sink(b, limited_sink(&mb, "archive", NULL));
	s = limited_sink(&nb, "new-chat", NULL);
	s->incidents = true;
	kw_router_add_sink(b, s);
	s = limited_sink(&cb, "chat", NULL);
	s->incidents = true;
	kw_router_add_sink(b, s);
	if (through_text) {
		text = kw_router_memory_save(a);
		assert_non_null(text);
		assert_non_null(strstr(text, "\"incidents\":[{\"id\":\"kwi_"));
		assert_non_null(strstr(text, "\"told\":[\"chat\"]"));
		kw_error_clear(&err);
		assert_int_equal(kw_router_memory_load(b, text, strlen(text),
						       "state", &err),
				 KW_OK);
		free(text);
	} else {
		kw_router_memory_adopt(b, a);
		kw_router_tell_incidents(a);
		kw_router_drain(a, 0);
		assert_int_equal(ca.n, 1); /* a has no news to tell any more */
	}
	submit(b, "geo.new_ip", KW_SEV_MEDIUM, T0 + 5 * MIN, KEY_A, "ip",
	       "3.3");
	submit(b, "geo.new_country", KW_SEV_HIGH, T0 + 6 * MIN, KEY_A, "c",
	       "CN");
	kw_router_tick(b, T0);
	assert_non_null(strstr(mb.lines[0], incident));
	assert_int_equal(cb.n, 1);
	assert_string_equal(cb.ids[0], incident);
	assert_non_null(strstr(cb.lines[0], "\"event\":\"updated\""));
	assert_non_null(strstr(cb.lines[0], "\"alerts\":4"));
	assert_int_equal(nb.n, 1);
	assert_non_null(strstr(nb.lines[0], "\"event\":\"opened\""));
	kw_router_destroy(a);
	kw_router_destroy(b);
	kw_config_free(cfg);
}

static void test_memory_incidents(void **state)
{
	(void)state;
	check_incident_carried(true);
	check_incident_carried(false);
}

static void test_memory_adopted_on_reload(void **state)
{
	(void)state;
	check_carried(false);
}

/* A journal line after a kill -9: the alert counts as delivered then. */
static void test_memory_note(void **state)
{
	struct kw_config *cfg = cfg_load("{\"dedup_window\": \"1h\"}");
	struct kw_router *r = NULL;
	struct capture cap = {0};
	struct kw_error err;
	struct kw_alert a;

	(void)state;
	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &r, &err), KW_OK);
	kw_router_add_sink(r, capture_sink(&cap, KW_SEV_INFO, NULL));
	make(&a, "key.honey", KW_SEV_CRITICAL, T0, KEY_A, "ip", "1.1");
	kw_router_memory_note(r, a.id, T0);
	kw_router_memory_note(r, "kwa_not-an-id", T0);
	kw_alert_clear(&a);
	submit(r, "key.honey", KW_SEV_CRITICAL, T0 + 30 * MIN, KEY_A, "ip",
	       "1.1");
	assert_int_equal(cap.n, 0);
	submit(r, "key.honey", KW_SEV_CRITICAL, T0 + 61 * MIN, KEY_A, "ip",
	       "1.1");
	assert_int_equal(cap.n, 1);
	assert_non_null(strstr(cap.lines[0], "(and 1 more like it since"));
	kw_router_destroy(r);
	kw_config_free(cfg);
}

static void expect_memory_error(struct kw_router *r, const char *text,
				const char *want)
{
	struct kw_error err;

	kw_error_clear(&err);
	assert_int_equal(
		kw_router_memory_load(r, text, strlen(text), "s.state", &err),
		KW_ECORRUPT);
	assert_string_equal(err.msg, want);
}

/* What is read back is checked against its bounds first; a bad entry
 * leaves the table as it was. */
static void test_memory_hostile(void **state)
{
	struct kw_config *cfg = cfg_load("{\"dedup_window\": \"1h\"}");
	struct kw_router *r = NULL;
	struct capture cap = {0};
	struct kw_error err;
	char *big;
	size_t off = 0;

	(void)state;
	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &r, &err), KW_OK);
	kw_router_add_sink(r, limited_sink(&cap, "pager", "2/10m"));
	expect_memory_error(r, "{",
			    "s.state: router memory: not version 1 of it");
	expect_memory_error(r,
			    "{\"keywatch_router\":1,\"dedup\":[],\"rate\":[],"
			    "\"incidents\":{}}",
			    "s.state: router memory: incidents: not a list");
	expect_memory_error(r,
			    "{\"keywatch_router\":1,\"dedup\":[],\"rate\":[],"
			    "\"incidents\":[{\"id\":\"kwi_0\",\"told\":[]}]}",
			    "s.state: router memory: incidents[0]: not a saved "
			    "incident");
	expect_memory_error(r,
			    "{\"keywatch_router\":1,\"dedup\":[],\"rate\":[],"
			    "\"incidents\":[{\"told\":3}]}",
			    "s.state: router memory: incidents[0]: not a saved "
			    "incident");
	expect_memory_error(r, "{\"keywatch_router\":2}",
			    "s.state: router memory: not version 1 of it");
	expect_memory_error(
		r,
		"{\"keywatch_router\":1,\"dedup\":[[\"kwa_0123456789abcdef\","
		"1795770843000000,0],[\"kwa_0123456789abcdeg\",1,0]]}",
		"s.state: router memory: dedup[1]: expected [alert id, time, "
		"repeats]");
	expect_memory_error(r,
			    "{\"keywatch_router\":1,\"dedup\":[[\"kwa_"
			    "0123456789abcdef\",-1,0]]}",
			    "s.state: router memory: dedup[0]: expected [alert "
			    "id, time, repeats]");
	expect_memory_error(r,
			    "{\"keywatch_router\":1,\"dedup\":[[\"kwa_"
			    "0123456789abcdef\",1,4294967296]]}",
			    "s.state: router memory: dedup[0]: expected [alert "
			    "id, time, repeats]");
	/* More ids than the table ever keeps. */
	big = malloc(40000 * 48 + 64);
	assert_non_null(big);
	off += (size_t)sprintf(big, "{\"keywatch_router\":1,\"dedup\":[");
	for (int i = 0; i < 40000; i++)
		off += (size_t)sprintf(big + off, "%s[\"kwa_%016x\",1,0]",
				       i ? "," : "", i + 1);
	sprintf(big + off, "]}");
	expect_memory_error(r, big,
			    "s.state: router memory: dedup: not a list of at "
			    "most 32768 alerts");
	free(big);
	expect_memory_error(
		r,
		"{\"keywatch_router\":1,\"dedup\":[],\"rate\":[{\"sink\":"
		"\"pager\",\"start\":1,\"sent\":1,\"held\":9,\"first\":1,"
		"\"last\":1,\"worst\":\"high\",\"detectors\":{\"a\":1,\"b\":1,"
		"\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1},"
		"\"keys\":[]}]}",
		"s.state: router memory: rate[0]: not a rate-limit window");
	expect_memory_error(
		r,
		"{\"keywatch_router\":1,\"dedup\":[],\"rate\":[{\"sink\":"
		"\"pager\",\"start\":1,\"sent\":1,\"held\":9,\"first\":1,"
		"\"last\":1,\"worst\":\"dire\",\"detectors\":{},\"keys\":[]}]}",
		"s.state: router memory: rate[0]: not a rate-limit window");
	/* A window of a sink that is gone is dropped, not an error. */
	kw_error_clear(&err);
	{
		const char *gone =
			"{\"keywatch_router\":1,\"dedup\":[],\"rate\":[{"
			"\"sink\":"
			"\"gone\",\"start\":1,\"sent\":1,\"held\":0,\"first\":"
			"1,"
			"\"last\":1,\"worst\":\"info\",\"detectors\":{},"
			"\"keys\":[]}]}";

		assert_int_equal(kw_router_memory_load(r, gone, strlen(gone),
						       "s.state", &err),
				 KW_OK);
		assert_int_equal(
			kw_router_memory_load(r, gone, 40, "s.state", &err),
			KW_ECORRUPT); /* cut short: not JSON */
	}
	/* Nothing of the bad documents was taken in. */
	submit(r, "key.honey", KW_SEV_CRITICAL, T0, KEY_A, "ip", "1.1");
	submit(r, "key.honey", KW_SEV_CRITICAL, T0 + MIN, KEY_A, "ip", "2.2");
	assert_int_equal(cap.n, 2);
	kw_router_destroy(r);
	kw_config_free(cfg);
}

struct pass_check {
	struct capture *cap;
	const char *spool;
	size_t calls;
};

/* The hook runs after the spool has the alert and before the sink may
 * deliver it: what the daemon journals there is never behind a sink. */
static void on_pass(void *ctx, const char *id, int64_t time)
{
	struct pass_check *pc = ctx;
	char buf[8192];
	FILE *f = fopen(pc->spool, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_non_null(strstr(buf, id));
	assert_true(time >= T0);
	assert_int_equal(pc->cap->n, pc->calls); /* not delivered yet */
	pc->calls++;
	usleep(20000); /* room for a delivery thread that would not wait */
	assert_int_equal(pc->cap->n, pc->calls - 1);
}

static void test_on_pass_before_delivery(void **state)
{
	struct kw_config *cfg = cfg_load("{}");
	struct kw_router *r = NULL;
	struct capture cap = {0};
	char dir[] = "/tmp/kw_onpass_XXXXXX", spool[128];
	struct pass_check pc = {.cap = &cap, .spool = spool};
	struct kw_delivery_opts o = {.spool_dir = NULL};
	struct kw_sink *k = limited_sink(&cap, "hook", NULL);
	struct kw_error err;

	(void)state;
	assert_non_null(mkdtemp(dir));
	o.spool_dir = dir;
	snprintf(spool, sizeof(spool), "%s/hook.spool.jsonl", dir);
	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &r, &err), KW_OK);
	kw_router_add_sink(r, k);
	kw_router_on_pass(r, on_pass, &pc);
	assert_int_equal(kw_router_start_delivery(r, &o, &err), KW_OK);
	for (int i = 0; i < 3; i++) {
		char ip[16];

		snprintf(ip, sizeof(ip), "10.0.0.%d", i);
		submit(r, "key.honey", KW_SEV_CRITICAL, T0 + i, KEY_A, "ip",
		       ip);
		/* Released once the hook returned. */
		for (int w = 0; w < 200 && cap.n < pc.calls; w++)
			usleep(10000);
		assert_int_equal(cap.n, pc.calls);
	}
	assert_int_equal(pc.calls, 3);
	kw_router_drain(r, 5000);
	kw_router_destroy(r);
	kw_config_free(cfg);
	unlink(spool);
	snprintf(spool, sizeof(spool), "%s/hook.lock", dir);
	unlink(spool);
	rmdir(dir);
}

static void test_rate_parse(void **state)
{
	uint32_t max;
	int64_t per;

	(void)state;
	assert_true(kw_sink_rate_parse("10/1m", &max, &per));
	assert_int_equal(max, 10);
	assert_int_equal(per, 60 * INT64_C(1000000));
	assert_false(kw_sink_rate_parse("0/1m", &max, &per));
	assert_false(kw_sink_rate_parse("10", &max, &per));
	assert_false(kw_sink_rate_parse("10/", &max, &per));
	assert_false(kw_sink_rate_parse("10/1w", &max, &per));
	assert_false(kw_sink_rate_parse("x/1m", &max, &per));
	assert_false(kw_sink_rate_parse("99999999999/1m", &max, &per));
}

/* ---- suppression and severity -------------------------------------------- */

static void test_suppress(void **state)
{
	struct kw_config *cfg = cfg_load(
		"{\"suppress\": ["
		"{\"detector\": \"geo.new_country\", \"key\": "
		"\"sk_live_*4242\", "
		"\"country\": \"SG\", \"until\": \"2026-12-01T00:00:00Z\"},"
		"{\"detector\": \"rate.*\"},"
		"{\"key\": \"rk_live_*\", \"op\": \"balance.retrieve\"},"
		"{\"ip\": \"198.51.100.1\"}"
		"]}");
	struct kw_router *r = NULL;
	struct capture cap = {0};
	struct kw_error err;
	int64_t until;

	(void)state;
	assert_true(kw_time_parse("2026-12-01T00:00:00Z", 20, &until));
	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &r, &err), KW_OK);
	kw_router_add_sink(r, capture_sink(&cap, KW_SEV_INFO, NULL));

	/* Detector + key glob + subject, before until: suppressed. */
	submit(r, "geo.new_country", KW_SEV_HIGH, T0, KEY_A, "country", "SG");
	assert_int_equal(cap.n, 0);
	/* Another subject value, another key, another detector: not. */
	submit(r, "geo.new_country", KW_SEV_HIGH, T0, KEY_A, "country", "CN");
	submit(r, "geo.new_country", KW_SEV_HIGH, T0,
	       "sk_live_" ELLIPSIS "4243", "country", "SG");
	submit(r, "geo.new_ip", KW_SEV_HIGH, T0, KEY_A, "country", "SG");
	assert_int_equal(cap.n, 3);
	/* At and after until it no longer applies. */
	submit(r, "geo.new_country", KW_SEV_HIGH, until - 1, KEY_A, "country",
	       "SG");
	assert_int_equal(cap.n, 3);
	submit(r, "geo.new_country", KW_SEV_HIGH, until, KEY_A, "country",
	       "SG");
	assert_int_equal(cap.n, 4);
	/* A detector glob alone. */
	submit(r, "rate.spike", KW_SEV_CRITICAL, T0, KEY_A, "window", "1m");
	submit(r, "rate.errors", KW_SEV_CRITICAL, T0, KEY_B, "window", "1m");
	assert_int_equal(cap.n, 4);
	/* Key glob + subject, any detector. */
	submit(r, "ops.not_permitted", KW_SEV_HIGH, T0, KEY_B, "op",
	       "balance.retrieve");
	assert_int_equal(cap.n, 4);
	submit(r, "ops.not_permitted", KW_SEV_HIGH, T0, KEY_B, "op",
	       "refunds.create");
	assert_int_equal(cap.n, 5);
	/* A subject alone, any key and detector. */
	submit(r, "geo.ip_not_allowed", KW_SEV_HIGH, T0, KEY_A, "ip",
	       "198.51.100.1");
	assert_int_equal(cap.n, 5);
	assert_int_equal(kw_router_stats(r)->suppressed, 6);
	assert_int_equal(kw_router_stats(r)->delivered, 5);
	kw_router_destroy(r);
	kw_config_free(cfg);
}

static void test_min_severity_and_sink_filters(void **state)
{
	static const char *const only_geo[] = {"geo.*", "key.honey", NULL};
	struct kw_config *cfg = cfg_load("{}");
	struct kw_router *r = NULL;
	struct capture all = {0}, high = {0}, geo = {0};
	const struct kw_router_stats *st;
	struct kw_error err;

	(void)state;
	assert_int_equal(kw_router_create(cfg, KW_SEV_LOW, &r, &err), KW_OK);
	kw_router_add_sink(r, capture_sink(&all, KW_SEV_INFO, NULL));
	kw_router_add_sink(r, capture_sink(&high, KW_SEV_HIGH, NULL));
	kw_router_add_sink(r, capture_sink(&geo, KW_SEV_INFO, only_geo));

	submit(r, "geo.new_ip", KW_SEV_INFO, T0, KEY_A, "ip", "1");
	assert_int_equal(kw_router_stats(r)->below, 1);
	submit(r, "geo.new_ip", KW_SEV_LOW, T0, KEY_A, "ip", "2");
	submit(r, "geo.new_ip", KW_SEV_HIGH, T0, KEY_A, "ip", "3");
	submit(r, "ops.not_permitted", KW_SEV_MEDIUM, T0, KEY_A, "op", "4");
	submit(r, "key.honey", KW_SEV_CRITICAL, T0, KEY_A, "h", "5");
	submit(r, "key.honeypot", KW_SEV_CRITICAL, T0, KEY_A, "h", "6");
	assert_int_equal(all.n, 5);
	assert_int_equal(high.n, 3);
	assert_int_equal(geo.n, 3);
	assert_non_null(strstr(geo.lines[0], "\"severity\":\"low\""));
	assert_non_null(strstr(geo.lines[1], "\"severity\":\"high\""));
	assert_non_null(strstr(geo.lines[2], "\"detector\":\"key.honey\""));
	assert_non_null(strstr(high.lines[0], "\"detector\":\"geo.new_ip\""));
	assert_non_null(strstr(high.lines[1], "\"detector\":\"key.honey\""));
	assert_non_null(strstr(high.lines[2], "\"detector\":\"key.honeypot\""));
	st = kw_router_stats(r);
	assert_int_equal(st->raised, 6);
	assert_int_equal(st->delivered, 5);
	assert_int_equal(st->below, 1);
	assert_int_equal(st->max_severity_seen, KW_SEV_CRITICAL + 1);
	assert_int_equal(st->ndetectors, 4);
	assert_string_equal(st->by_detector[0].detector, "geo.new_ip");
	assert_int_equal(st->by_detector[0].count, 2);
	assert_string_equal(st->by_detector[1].detector, "ops.not_permitted");
	assert_int_equal(st->by_detector[1].count, 1);
	assert_int_equal(kw_router_sink(r, 1)->delivered, 3);
	kw_router_destroy(r);
	kw_config_free(cfg);
}

/* Sinks for machines get every alert with its incident id; sinks for
 * people get the incident's messages: opened, a rise at once, the news at
 * the end; a sink whose filters kept the opening from it first hears of
 * the incident as "opened" when it does want it; only sinks told of an
 * incident hear of its closing. */
static void test_incidents_to_people(void **state)
{
	struct kw_config *cfg = cfg_load("{\"incidents\": {\"close_after\": "
					 "\"30m\", \"digest\": \"1h\"}}");
	struct kw_router *r = NULL;
	struct capture machine = {0}, people = {0}, high = {0};
	struct kw_sink *s;
	struct kw_error err;
	char incident[KW_ALERT_ID_LEN + 1];
	const char *p;

	(void)state;
	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &r, &err), KW_OK);
	kw_router_add_sink(r, capture_sink(&machine, KW_SEV_INFO, NULL));
	s = capture_sink(&people, KW_SEV_INFO, NULL);
	s->incidents = true;
	kw_router_add_sink(r, s);
	s = capture_sink(&high, KW_SEV_HIGH, NULL);
	s->incidents = true;
	kw_router_add_sink(r, s);

	submit(r, "geo.new_ip", KW_SEV_MEDIUM, T0, KEY_A, "ip", "1");
	submit(r, "geo.new_ip", KW_SEV_MEDIUM, T0 + MIN, KEY_A, "ip", "2");
	submit(r, "geo.new_ip", KW_SEV_MEDIUM, T0 + 2 * MIN, KEY_A, "ip", "3");
	kw_router_tick(r, T0);
	assert_int_equal(machine.n, 3);
	p = strstr(machine.lines[0], "\"incident\":\"kwi_");
	assert_non_null(p);
	snprintf(incident, sizeof(incident), "%.20s", p + 12);
	for (size_t i = 0; i < 3; i++) {
		assert_memory_equal(machine.ids[i], "kwa_", 4);
		assert_non_null(strstr(machine.lines[i], incident));
	}
	assert_int_equal(people.n, 1);
	assert_string_equal(people.ids[0], incident);
	assert_non_null(strstr(people.lines[0],
			       "{\"schema\":\"keywatch.incident/1\",\"id\":"));
	assert_non_null(strstr(people.lines[0], "\"event\":\"opened\""));
	assert_int_equal(high.n, 0);

	/* A rise to high: an update to the first, an opening to the one
	 * that wants high only. */
	submit(r, "key.client_exposed", KW_SEV_HIGH, T0 + 3 * MIN, KEY_A, "h",
	       "4");
	kw_router_tick(r, T0 + MIN);
	assert_int_equal(people.n, 2);
	assert_non_null(strstr(people.lines[1], "\"event\":\"updated\""));
	assert_non_null(strstr(people.lines[1], "\"severity\":\"high\""));
	assert_int_equal(high.n, 1);
	assert_string_equal(high.ids[0], incident);
	assert_non_null(strstr(high.lines[0], "\"event\":\"opened\""));
	assert_non_null(strstr(high.lines[0], "\"alerts\":4"));

	/* More news, then quiet: the closing carries it to both. */
	submit(r, "geo.new_ip", KW_SEV_MEDIUM, T0 + 4 * MIN, KEY_A, "ip", "5");
	kw_router_tick(r, T0 + 34 * MIN);
	assert_int_equal(people.n, 3);
	assert_non_null(strstr(people.lines[2], "\"event\":\"closed\""));
	assert_non_null(strstr(people.lines[2], "\"new_alerts\":1"));
	assert_int_equal(high.n, 2);
	assert_non_null(strstr(high.lines[1], "\"event\":\"closed\""));
	assert_int_equal(machine.n, 5);

	/* An incident the high sink never heard of closes without it. */
	submit(r, "geo.new_ip", KW_SEV_LOW, T0 + 2 * 60 * MIN, KEY_B, "ip",
	       "6");
	kw_router_tick(r, T0 + 3 * 60 * MIN);
	assert_int_equal(people.n, 5);
	assert_non_null(strstr(people.lines[4], "\"event\":\"closed\""));
	assert_int_equal(high.n, 2);
	assert_int_equal(kw_router_incidents(r)->opened, 2);
	assert_int_equal(kw_router_incidents(r)->closed, 2);
	kw_router_destroy(r);
	kw_config_free(cfg);
}

/* "incidents": {"enabled": false}: every sink gets every alert. */
static void test_incidents_off(void **state)
{
	struct kw_config *cfg =
		cfg_load("{\"incidents\": {\"enabled\": false}}");
	struct kw_router *r = NULL;
	struct capture people = {0};
	struct kw_sink *s;
	struct kw_error err;

	(void)state;
	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &r, &err), KW_OK);
	s = capture_sink(&people, KW_SEV_INFO, NULL);
	s->incidents = true;
	kw_router_add_sink(r, s);
	submit(r, "geo.new_ip", KW_SEV_MEDIUM, T0, KEY_A, "ip", "1");
	submit(r, "geo.new_ip", KW_SEV_MEDIUM, T0 + MIN, KEY_A, "ip", "2");
	kw_router_tick(r, T0 + 60 * MIN);
	assert_int_equal(people.n, 2);
	assert_null(strstr(people.lines[0], "incident"));
	assert_null(kw_router_incidents(r));
	kw_router_destroy(r);
	kw_config_free(cfg);
}

static void test_failed_sink(void **state)
{
	struct kw_config *cfg = cfg_load("{}");
	struct kw_router *r = NULL;
	struct capture bad = {.fail = true}, good = {0};
	struct kw_error err;
	enum kw_log_level lvl = kw_log_get_level();

	(void)state;
	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &r, &err), KW_OK);
	kw_router_add_sink(r, capture_sink(&bad, KW_SEV_INFO, NULL));
	kw_router_add_sink(r, capture_sink(&good, KW_SEV_INFO, NULL));
	kw_log_set_level(KW_LOG_QUIET);
	submit(r, "key.honey", KW_SEV_CRITICAL, T0, KEY_A, "h", "1");
	kw_log_set_level(lvl);
	/* The other sink still gets it. */
	assert_int_equal(good.n, 1);
	assert_int_equal(kw_router_stats(r)->failed, 1);
	assert_int_equal(kw_router_stats(r)->delivered, 1);
	assert_int_equal(kw_router_sink(r, 0)->failed, 1);
	assert_int_equal(kw_router_sink(r, 0)->delivered, 0);
	assert_int_equal(kw_router_sink(r, 1)->delivered, 1);
	kw_router_destroy(r);
	kw_config_free(cfg);
}

/* ---- sink creation ------------------------------------------------------- */

static enum kw_status create(const char *conf, size_t i, struct kw_sink **s,
			     struct kw_error *err)
{
	struct kw_sink_env env = {.file = "t.json", .output = KW_OUTPUT_JSON};
	json_t *o = json_loads(conf, 0, NULL);
	enum kw_status st;

	assert_non_null(o);
	kw_error_clear(err);
	st = kw_sink_create(o, i, &env, s, err);
	json_decref(o);
	return st;
}

static void create_err(const char *conf, size_t i, const char *want)
{
	struct kw_sink *s = (struct kw_sink *)&s;
	struct kw_error err;

	assert_int_equal(create(conf, i, &s, &err), KW_ECONFIG);
	assert_null(s);
	assert_string_equal(err.msg, want);
}

/* A sink's identity: its "name", else its type and a hash of where it
 * delivers as written in the config (an "env:NAME" as such, never the
 * secret), so that its spool and rate-limit window follow it when sinks
 * move; two sinks of one config cannot share one. */
static void test_sink_identity(void **state)
{
	struct kw_sink *a = NULL, *b = NULL, *c = NULL;
	struct kw_error err;
	const char *p;

	(void)state;
	setenv("KW_TEST_HOOK_URL", "https://hooks.example.com/w", 1);
	assert_int_equal(create("{\"type\": \"webhook\", \"url\": "
				"\"env:KW_TEST_HOOK_URL\"}",
				4, &a, &err),
			 KW_OK);
	assert_false(a->named);
	assert_int_equal(strncmp(a->id, "webhook-", 8), 0);
	assert_int_equal(strlen(a->id), 8 + 12);
	for (p = a->id + 8; *p; p++)
		assert_non_null(strchr("0123456789abcdef", *p));
	/* and the same in every version: spools are found by it */
	assert_string_equal(a->id, "webhook-294b49681c98");
	/* The position and the filters are not part of it; the secret the
	 * variable holds is not either. */
	setenv("KW_TEST_HOOK_URL", "https://hooks.example.com/x", 1);
	assert_int_equal(create("{\"type\": \"webhook\", \"min_severity\": "
				"\"high\", \"url\": \"env:KW_TEST_HOOK_URL\"}",
				0, &b, &err),
			 KW_OK);
	assert_string_equal(a->id, b->id);
	assert_int_equal(kw_sink_check_distinct(a, b, "t.json", &err),
			 KW_ECONFIG);
	assert_string_equal(err.msg,
			    "t.json: sinks[4] and sinks[0] are both webhook "
			    "sinks to the same destination: give each a "
			    "\"name\" (its spool and rate limit are kept under "
			    "it)");
	kw_sink_destroy(b);
	assert_int_equal(create("{\"type\": \"webhook\", \"url\": "
				"\"https://hooks.example.com/y\"}",
				0, &b, &err),
			 KW_OK);
	assert_string_not_equal(a->id, b->id);
	assert_int_equal(kw_sink_check_distinct(a, b, "t.json", &err), KW_OK);
	kw_sink_destroy(b);
	/* A name is the identity; two alike are an error. */
	assert_int_equal(create("{\"type\": \"file\", \"path\": \"/tmp/kw-a\", "
				"\"name\": \"pager\"}",
				1, &b, &err),
			 KW_OK);
	assert_true(b->named);
	assert_string_equal(b->id, "pager");
	assert_int_equal(create("{\"type\": \"stdout\", \"name\": \"pager\"}",
				3, &c, &err),
			 KW_OK);
	assert_int_equal(kw_sink_check_distinct(b, c, "t.json", &err),
			 KW_ECONFIG);
	assert_string_equal(err.msg, "t.json: sinks[3].name: 'pager' is the "
				     "name of sinks[1] too");
	kw_sink_destroy(c);
	assert_int_equal(create("{\"type\": \"stdout\"}", 0, &c, &err), KW_OK);
	assert_string_equal(c->id, "stdout");
	kw_sink_destroy(c);
	create_err("{\"type\": \"stdout\", \"name\": \"../etc\"}", 2,
		   "t.json: sinks[2].name: '../etc' is not a name: at most 40 "
		   "letters, digits, '-', '_' or '.', not starting with '.'");
	create_err("{\"type\": \"stdout\", \"name\": \".hidden\"}", 2,
		   "t.json: sinks[2].name: '.hidden' is not a name: at most 40 "
		   "letters, digits, '-', '_' or '.', not starting with '.'");
	kw_sink_destroy(a);
	kw_sink_destroy(b);
	unsetenv("KW_TEST_HOOK_URL");
}

static void test_create_errors(void **state)
{
	const struct kw_sink_ops *const *all = kw_sink_all();
	char known[256] = "";
	char want[512];

	(void)state;
	for (size_t i = 0; all[i]; i++)
		snprintf(known + strlen(known), sizeof(known) - strlen(known),
			 "%s%s", i ? ", " : "", all[i]->name);
	assert_non_null(strstr(known, "stdout"));
	assert_non_null(strstr(known, "file"));
	assert_ptr_equal(kw_sink_find("stdout"), &kw_sink_stdout);
	assert_ptr_equal(kw_sink_find("file"), &kw_sink_file);
	assert_null(kw_sink_find("nope"));

	create_err("{}", 2,
		   "t.json: sinks[2]: 'type' is required (a string such as "
		   "\"stdout\" or \"file\")");
	create_err("{\"type\": \"stdout\", \"rate_limit\": \"ten a minute\"}",
		   3,
		   "t.json: sinks[3].rate_limit: expected N/DURATION such as "
		   "\"10/1m\" (N at most 1000000, DURATION at most 7d)");
	/* Numbers past their documented maxima are errors, not a counter
	 * that can never be reached or a wait of years. */
	create_err("{\"type\": \"stdout\", \"rate_limit\": \"5000000/1m\"}", 0,
		   "t.json: sinks[0].rate_limit: expected N/DURATION such as "
		   "\"10/1m\" (N at most 1000000, DURATION at most 7d)");
	create_err("{\"type\": \"stdout\", \"rate_limit\": \"5/8d\"}", 0,
		   "t.json: sinks[0].rate_limit: expected N/DURATION such as "
		   "\"10/1m\" (N at most 1000000, DURATION at most 7d)");
	create_err("{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:9/\", "
		   "\"timeout\": \"2h\"}",
		   1, "t.json: sinks[1].timeout: at most 1h");
	create_err("{\"type\": 5}", 0,
		   "t.json: sinks[0]: 'type' is required (a string such as "
		   "\"stdout\" or \"file\")");
	snprintf(want, sizeof(want),
		 "t.json: sinks[1].type: unknown sink type 'fil' (did you mean "
		 "'file'?) (known: %s)",
		 known);
	create_err("{\"type\": \"fil\"}", 1, want);
	snprintf(
		want, sizeof(want),
		"t.json: sinks[0].type: unknown sink type 'zzzzzz' (known: %s)",
		known);
	create_err("{\"type\": \"zzzzzz\"}", 0, want);
	create_err("{\"type\": \"file\"}", 1,
		   "t.json: sinks[1]: the file sink needs a 'path'");
	create_err(
		"{\"type\": \"file\", \"path\": \"/tmp/x\", \"pth\": 1}", 0,
		"t.json: sinks[0]: unknown key 'pth' (did you mean 'path'?)");
	create_err("{\"type\": \"stdout\", \"path\": \"/tmp/x\"}", 0,
		   "t.json: sinks[0]: unknown key 'path'");
	create_err("{\"type\": \"file\", \"path\": 7}", 0,
		   "t.json: sinks[0].path: expected a string");
	create_err("{\"type\": \"stdout\", \"min_severity\": \"severe\"}", 3,
		   "t.json: sinks[3].min_severity: expected one of info, low, "
		   "medium, high, critical");
	create_err("{\"type\": \"stdout\", \"detectors\": \"geo.*\"}", 0,
		   "t.json: sinks[0].detectors: expected an array of strings");
}

/* ---- the file sink ------------------------------------------------------- */

static void read_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void test_file_sink(void **state)
{
	char dir[] = "/tmp/kw_test_sink_XXXXXX";
	char path[256], conf[512], buf[8192], want[8192], desc[300];
	struct kw_sink *s = NULL;
	struct kw_error err;
	struct kw_alert a, b;
	struct stat stbuf;
	char *ja, *jb;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/alerts.jsonl", dir);
	snprintf(conf, sizeof(conf),
		 "{\"type\": \"file\", \"path\": \"%s\", \"min_severity\": "
		 "\"medium\", \"detectors\": [\"geo.*\"]}",
		 path);
	assert_int_equal(create(conf, 1, &s, &err), KW_OK);
	assert_string_equal(s->name, "file (sinks[1])");
	assert_int_equal(s->min_severity, KW_SEV_MEDIUM);
	assert_string_equal(s->detectors[0], "geo.*");
	assert_null(s->detectors[1]);
	kw_sink_describe(s, desc, sizeof(desc));
	snprintf(want, sizeof(want), "file %s", path);
	assert_string_equal(desc, want);
	/* Created, empty, owner read/write only. */
	assert_int_equal(stat(path, &stbuf), 0);
	assert_int_equal(stbuf.st_mode & 0777, 0600);
	assert_int_equal(stbuf.st_size, 0);

	make(&a, "geo.new_ip", KW_SEV_HIGH, T0, KEY_A, "ip", "203.0.113.9");
	make(&b, "ops.not_permitted", KW_SEV_LOW, T0, KEY_B, "op", "x.y");
	assert_true(kw_sink_wants(s, &a));
	assert_false(kw_sink_wants(s, &b)); /* severity and detector */
	b.severity = KW_SEV_CRITICAL;
	assert_false(kw_sink_wants(s, &b)); /* detector */
	ja = kw_alert_to_json(&a);
	jb = kw_alert_to_json(&b);
	assert_int_equal(kw_sink_deliver(s, &a, ja, strlen(ja), &err),
			 KW_SINK_OK);
	assert_int_equal(kw_sink_deliver(s, &b, jb, strlen(jb), &err),
			 KW_SINK_OK);
	assert_int_equal(kw_sink_flush(s, &err), KW_SINK_OK);
	assert_int_equal(s->delivered, 2);
	kw_sink_destroy(s);
	kw_sink_destroy(NULL);
	read_file(path, buf, sizeof(buf));
	snprintf(want, sizeof(want), "%s\n%s\n", ja, jb);
	assert_string_equal(buf, want);

	/* Opening again appends; existing lines are kept. */
	f = fopen(path, "a");
	fputs("{\"other\":1}\n", f);
	fclose(f);
	assert_int_equal(create(conf, 0, &s, &err), KW_OK);
	assert_int_equal(kw_sink_deliver(s, &a, ja, strlen(ja), &err),
			 KW_SINK_OK);
	kw_sink_destroy(s);
	read_file(path, buf, sizeof(buf));
	snprintf(want, sizeof(want), "%s\n%s\n{\"other\":1}\n%s\n", ja, jb, ja);
	assert_string_equal(buf, want);
	free(ja);
	free(jb);
	kw_alert_clear(&a);
	kw_alert_clear(&b);
	unlink(path);

	/* A path that cannot be opened. */
	snprintf(path, sizeof(path), "%s/missing/alerts.jsonl", dir);
	snprintf(conf, sizeof(conf), "{\"type\": \"file\", \"path\": \"%s\"}",
		 path);
	s = (struct kw_sink *)&s;
	assert_int_equal(create(conf, 0, &s, &err), KW_EIO);
	assert_null(s);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err.msg, want);
	rmdir(dir);
}

/* A full disk or the file size limit cuts a line short: the partial line
 * is taken back, the sink answers RETRY, and the retry writes it whole.
 * RLIMIT_FSIZE makes the short write without root or a full disk. */
static void test_file_sink_short_write(void **state)
{
	char dir[] = "/tmp/kw_test_sink_XXXXXX";
	char path[256], conf[512], buf[8192], want[8192];
	struct kw_sink *s = NULL;
	struct kw_error err;
	struct kw_alert a, b;
	struct rlimit was, lim;
	char *ja, *jb;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/alerts.jsonl", dir);
	snprintf(conf, sizeof(conf), "{\"type\": \"file\", \"path\": \"%s\"}",
		 path);
	assert_int_equal(create(conf, 0, &s, &err), KW_OK);
	make(&a, "geo.new_ip", KW_SEV_HIGH, T0, KEY_A, "ip", "203.0.113.9");
	make(&b, "ops.not_permitted", KW_SEV_LOW, T0, KEY_B, "op", "x.y");
	ja = kw_alert_to_json(&a);
	jb = kw_alert_to_json(&b);
	assert_int_equal(kw_sink_deliver(s, &a, ja, strlen(ja), &err),
			 KW_SINK_OK);

	/* Room for 20 more bytes: b's line is cut after them. */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &was), 0);
	lim = was;
	lim.rlim_cur = strlen(ja) + 1 + 20;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (int i = 0; i < 2; i++) {
		kw_error_clear(&err);
		assert_int_equal(kw_sink_deliver(s, &b, jb, strlen(jb), &err),
				 KW_SINK_RETRY);
		snprintf(want, sizeof(want),
			 "%s: short write (20 of %zu bytes); the partial "
			 "line was removed",
			 path, strlen(jb) + 1);
		assert_string_equal(err.msg, want);
		read_file(path, buf, sizeof(buf));
		snprintf(want, sizeof(want), "%s\n", ja);
		assert_string_equal(buf, want);
	}
	/* At the limit: nothing goes out (EFBIG), nothing is left. */
	lim.rlim_cur = strlen(ja) + 1;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	kw_error_clear(&err);
	assert_int_equal(kw_sink_deliver(s, &b, jb, strlen(jb), &err),
			 KW_SINK_RETRY);
	snprintf(want, sizeof(want), "%s: %s", path, strerror(EFBIG));
	assert_string_equal(err.msg, want);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &was), 0);

	/* Room again: the retry writes the whole line once. */
	assert_int_equal(kw_sink_deliver(s, &b, jb, strlen(jb), &err),
			 KW_SINK_OK);
	read_file(path, buf, sizeof(buf));
	snprintf(want, sizeof(want), "%s\n%s\n", ja, jb);
	assert_string_equal(buf, want);
	kw_sink_destroy(s);

	/* A device that is always full: RETRY with the reason. */
	assert_int_equal(create("{\"type\": \"file\", \"path\": "
				"\"/dev/full\"}",
				0, &s, &err),
			 KW_OK);
	kw_error_clear(&err);
	assert_int_equal(kw_sink_deliver(s, &a, ja, strlen(ja), &err),
			 KW_SINK_RETRY);
	snprintf(want, sizeof(want), "/dev/full: %s", strerror(ENOSPC));
	assert_string_equal(err.msg, want);
	kw_sink_destroy(s);

	free(ja);
	free(jb);
	kw_alert_clear(&a);
	kw_alert_clear(&b);
	unlink(path);
	rmdir(dir);
}

/* ---- the exec sink ------------------------------------------------------- */

/* Pids of the processes whose argv is exactly argv0 arg1. */
static size_t find_procs(const char *argv0, const char *arg1, pid_t *pids,
			 size_t cap)
{
	char want[256], path[300], buf[256];
	size_t wn, n = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;

	wn = (size_t)snprintf(want, sizeof(want), "%s%c%s%c", argv0, 0, arg1,
			      0);
	assert_non_null(d);
	while ((e = readdir(d)) && n < cap) {
		FILE *f;
		size_t got;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		got = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		if (got == wn && !memcmp(buf, want, wn))
			pids[n++] = (pid_t)atoi(e->d_name);
	}
	closedir(d);
	return n;
}

/* Wait up to 3 s for processes to go; how many are left (then killed, so
 * that a failing run leaves nothing behind). */
static size_t left_running(const char *argv0, const char *arg1)
{
	pid_t pids[16];
	size_t n = 0;

	for (int i = 0; i < 60; i++) {
		n = find_procs(argv0, arg1, pids, 16);
		if (!n)
			return 0;
		usleep(50000);
	}
	for (size_t i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	return n;
}

static long ms_between(const struct timespec *a, const struct timespec *b)
{
	return (long)(b->tv_sec - a->tv_sec) * 1000 +
	       (b->tv_nsec - a->tv_nsec) / 1000000;
}

/* A timeout kills the command's whole process group: a shell's child does
 * not outlive it. A command that exits while something it started in the
 * background still holds its stderr is delivered at once. */
static void test_exec_sink_process_group(void **state)
{
	struct kw_sink *s = NULL;
	struct kw_error err;
	struct kw_alert a;
	struct timespec t0, t1;
	char *ja;

	(void)state;
	make(&a, "geo.new_ip", KW_SEV_HIGH, T0, KEY_A, "ip", "203.0.113.9");
	ja = kw_alert_to_json(&a);
	/* "; :" keeps the shell from exec'ing sleep in its own place */
	assert_int_equal(create("{\"type\": \"exec\", \"command\": [\"sh\", "
				"\"-c\", \"sleep 61.4242; :\"], \"timeout\": "
				"\"1s\"}",
				0, &s, &err),
			 KW_OK);
	for (int i = 0; i < 2; i++) {
		kw_error_clear(&err);
		assert_int_equal(kw_sink_deliver(s, &a, ja, strlen(ja), &err),
				 KW_SINK_RETRY);
		assert_string_equal(err.msg,
				    "exec sh: timed out after 1000 ms");
		assert_int_equal(left_running("sleep", "61.4242"), 0);
	}
	kw_sink_destroy(s);

	assert_int_equal(create("{\"type\": \"exec\", \"command\": [\"sh\", "
				"\"-c\", \"sleep 61.4343 & exit 0\"], "
				"\"timeout\": \"5s\"}",
				0, &s, &err),
			 KW_OK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(kw_sink_deliver(s, &a, ja, strlen(ja), &err),
			 KW_SINK_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(ms_between(&t0, &t1) < 4000);
	kw_sink_destroy(s);
	/* Its own business, but not the test's: it goes (once it is there:
	 * the shell may have exited before its child ran sleep). */
	for (int i = 0; i < 40; i++) {
		pid_t pids[4];
		size_t n = find_procs("sleep", "61.4343", pids, 4);

		for (size_t j = 0; j < n; j++)
			kill(pids[j], SIGKILL);
		if (n)
			break;
		usleep(50000);
	}
	free(ja);
	kw_alert_clear(&a);
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The command's environment is exactly PATH, the config's env and the
 * alert's variables: nothing of keywatch's own (where other sinks'
 * secrets live). */
static void test_exec_sink_environment(void **state)
{
	char dir[] = "/tmp/kw_test_exec_XXXXXX";
	char path[256], conf[1024], buf[8192], got[8192], want[2048];
	char *lines[64];
	size_t n = 0;
	struct kw_sink *s = NULL;
	struct kw_error err;
	struct kw_alert a;
	char *ja, *save = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/env.txt", dir);
	setenv("KW_TEST_OTHER_SINK_SECRET", "hunter2-of-another-sink", 1);
	setenv("KW_TEST_TICKET_TOKEN", "tok-123", 1);
	snprintf(conf, sizeof(conf),
		 "{\"type\": \"exec\", \"command\": [\"sh\", \"-c\", \"env > "
		 "\\\"$0\\\"\", \"%s\"], \"env\": {\"TICKET_TOKEN\": "
		 "\"env:KW_TEST_TICKET_TOKEN\", \"MODE\": \"prod\"}}",
		 path);
	assert_int_equal(create(conf, 0, &s, &err), KW_OK);
	make(&a, "geo.new_ip", KW_SEV_HIGH, T0, KEY_A, "ip", "203.0.113.9");
	ja = kw_alert_to_json(&a);
	assert_int_equal(kw_sink_deliver(s, &a, ja, strlen(ja), &err),
			 KW_SINK_OK);
	kw_sink_destroy(s);
	read_file(path, buf, sizeof(buf));
	/* what the shell adds of its own is not ours */
	for (char *l = strtok_r(buf, "\n", &save); l && n < 64;
	     l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "PWD=", 4) && strncmp(l, "SHLVL=", 6) &&
		    strncmp(l, "_=", 2) && strncmp(l, "OLDPWD=", 7))
			lines[n++] = l;
	}
	qsort(lines, n, sizeof(lines[0]), cmp_str);
	got[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		strcat(got, lines[i]);
		strcat(got, "\n");
	}
	snprintf(want, sizeof(want),
		 "KEYWATCH_ALERT_DETECTOR=geo.new_ip\n"
		 "KEYWATCH_ALERT_ID=%s\n"
		 "KEYWATCH_ALERT_KEY=%s\n"
		 "KEYWATCH_ALERT_KEY_FP=%s\n"
		 "KEYWATCH_ALERT_SEVERITY=high\n"
		 "MODE=prod\n"
		 "PATH=/usr/local/bin:/usr/bin:/bin\n"
		 "TICKET_TOKEN=tok-123\n",
		 a.id, KEY_A, a.key.fp);
	assert_string_equal(got, want);
	unlink(path);
	rmdir(dir);

	/* The program is looked up in the command's PATH. */
	assert_int_equal(create("{\"type\": \"exec\", \"command\": "
				"[\"kw-no-such-program\"]}",
				0, &s, &err),
			 KW_OK);
	kw_error_clear(&err);
	assert_int_equal(kw_sink_deliver(s, &a, ja, strlen(ja), &err),
			 KW_SINK_RETRY);
	assert_string_equal(err.msg,
			    "exec kw-no-such-program: not found in PATH "
			    "/usr/local/bin:/usr/bin:/bin (give the full path, "
			    "or set env.PATH)");
	kw_sink_destroy(s);

	create_err("{\"type\": \"exec\", \"command\": [\"true\"], \"env\": "
		   "{\"BAD-NAME\": \"x\"}}",
		   2,
		   "t.json: sinks[2].env: 'BAD-NAME' is not a variable name "
		   "the command may be given (letters, digits and '_'; "
		   "KEYWATCH_ALERT* is keywatch's)");
	create_err("{\"type\": \"exec\", \"command\": [\"true\"], \"env\": "
		   "{\"KEYWATCH_ALERT_ID\": \"x\"}}",
		   2,
		   "t.json: sinks[2].env: 'KEYWATCH_ALERT_ID' is not a "
		   "variable name the command may be given (letters, digits "
		   "and '_'; KEYWATCH_ALERT* is keywatch's)");
	create_err("{\"type\": \"exec\", \"command\": [\"true\"], \"env\": "
		   "{\"X\": 1}}",
		   2, "t.json: sinks[2].env.X: expected a string");
	create_err("{\"type\": \"exec\", \"command\": [\"true\"], \"env\": "
		   "{\"X\": \"env:KW_TEST_SURELY_UNSET\"}}",
		   2,
		   "t.json: sinks[2].env.X: environment variable "
		   "KW_TEST_SURELY_UNSET is not set");
	free(ja);
	kw_alert_clear(&a);
	unsetenv("KW_TEST_OTHER_SINK_SECRET");
	unsetenv("KW_TEST_TICKET_TOKEN");
}

/* ---- the stdout sink ----------------------------------------------------- */

static void stdout_deliver(enum kw_output out, bool colour, char *buf,
			   size_t cap, char *desc, size_t dcap)
{
	struct kw_sink_env env = {
		.file = "t.json", .output = out, .colour = colour};
	json_t *conf = json_pack("{s:s}", "type", "stdout");
	struct kw_sink *s = NULL;
	struct kw_error err;
	struct kw_alert a;
	FILE *tmp = tmpfile();
	int saved;
	char *json;
	size_t n;

	assert_int_equal(kw_sink_create(conf, 0, &env, &s, &err), KW_OK);
	json_decref(conf);
	kw_sink_describe(s, desc, dcap);
	make(&a, "geo.new_ip", KW_SEV_HIGH, T0, KEY_A, "ip", "203.0.113.9");
	json = kw_alert_to_json(&a);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(fileno(tmp), STDOUT_FILENO);
	assert_int_equal(kw_sink_deliver(s, &a, json, strlen(json), &err),
			 KW_SINK_OK);
	assert_int_equal(kw_sink_flush(s, &err), KW_SINK_OK);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, cap - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	if (out == KW_OUTPUT_JSON) {
		assert_int_equal(n, strlen(json) + 1);
		assert_memory_equal(buf, json, strlen(json));
	}
	free(json);
	kw_alert_clear(&a);
	kw_sink_destroy(s);
}

static void test_stdout_sink(void **state)
{
	char buf[4096], desc[64];

	(void)state;
	stdout_deliver(KW_OUTPUT_JSON, false, buf, sizeof(buf), desc,
		       sizeof(desc));
	assert_string_equal(desc, "stdout (json)");
	assert_int_equal(buf[strlen(buf) - 1], '\n');
	stdout_deliver(KW_OUTPUT_TEXT, false, buf, sizeof(buf), desc,
		       sizeof(desc));
	assert_string_equal(desc, "stdout (text)");
	assert_string_equal(buf, "2026-11-27T09:14:03Z high     geo.new_ip   "
				 "          geo.new_ip on " KEY_A "\n");
	stdout_deliver(KW_OUTPUT_TEXT, true, buf, sizeof(buf), desc,
		       sizeof(desc));
	assert_string_equal(buf,
			    "2026-11-27T09:14:03Z \033[31mhigh    \033[0m "
			    "geo.new_ip             geo.new_ip on " KEY_A "\n");
	stdout_deliver(KW_OUTPUT_NONE, false, buf, sizeof(buf), desc,
		       sizeof(desc));
	assert_string_equal(desc, "stdout (none)");
	assert_string_equal(buf, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dedup),
		cmocka_unit_test(test_repeats_noted),
		cmocka_unit_test(test_rate_limit_digest),
		cmocka_unit_test(test_rate_parse),
		cmocka_unit_test(test_memory_saved_and_loaded),
		cmocka_unit_test(test_memory_incidents),
		cmocka_unit_test(test_memory_adopted_on_reload),
		cmocka_unit_test(test_memory_note),
		cmocka_unit_test(test_memory_hostile),
		cmocka_unit_test(test_on_pass_before_delivery),
		cmocka_unit_test(test_suppress),
		cmocka_unit_test(test_min_severity_and_sink_filters),
		cmocka_unit_test(test_incidents_to_people),
		cmocka_unit_test(test_incidents_off),
		cmocka_unit_test(test_failed_sink),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_sink_identity),
		cmocka_unit_test(test_file_sink),
		cmocka_unit_test(test_file_sink_short_write),
		cmocka_unit_test(test_exec_sink_process_group),
		cmocka_unit_test(test_exec_sink_environment),
		cmocka_unit_test(test_stdout_sink),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
