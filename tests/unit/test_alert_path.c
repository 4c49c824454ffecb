/*
 * test_alert_path.c - what an alert costs on its way to the sinks, and
 * that the cheaper way loses nothing:
 *   - a sink that reads nothing (stdout with -o none) is handed nothing
 *     and nothing is rendered for it, while every other sink still gets
 *     every alert, in order, and the router counts them as before;
 *   - a flat sink's queue (stdout, file: they read the JSON and the
 *     plain fields) keeps no tree of the alert, and the sink still gets
 *     the whole JSON and the plain fields of every alert, in order, while
 *     a sink that is not flat gets the evidence;
 *   - a batched delivery thread (woken per batch of events, at
 *     kw_delivery_kick, or when KW_DELIVERY_BATCH alerts wait) delivers
 *     every alert, in order: after a kick, and at the end without one;
 *   - incident messages that no sink for people reads are counted as sent
 *     but never built: the table's counts and the incident ids the alerts
 *     get are those of a table whose messages are read;
 *   - an alert nothing reads (kw_router_reads false: scan -o none) is
 *     made unread: its setters of summary, evidence, requests and links
 *     do nothing, its id and suppress fields are those of the whole
 *     alert, and a router counts, dedups, suppresses and groups unread
 *     alerts into incidents exactly as it does whole ones.
 *
 * The one idea: recording sinks (and a recording send callback) show what
 * arrived; the same alerts go through the cheap path and the full one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "alert/delivery.h"
#include "alert/incident.h"
#include "alert/router.h"
#include "core/config.h"
#include "core/log.h"
#include "config_fixture.h"
#include "incident_stats.h"

#define ELLIPSIS "\xe2\x80\xa6"
#define MIN (INT64_C(60) * 1000000)
#define HOUR (60 * MIN)
#define T0 (INT64_C(1795770843) * 1000000) /* 2026-11-27T09:14:03Z */
#define MAXREC 512

/* ---- a recording sink ---------------------------------------------------- */

struct rec {
	char ids[MAXREC][KW_ALERT_ID_LEN + 1];
	size_t n; /* written by the delivering thread: read atomically */
	bool discard;
	/* Alerts delivered with their evidence tree, with a summary that is
	 * not "alert <i> on key ...", with JSON that lacks the evidence. */
	size_t trees, bad_summary, bad_json;
};

static enum kw_sink_result rec_deliver(void *self, const struct kw_alert *a,
				       const char *json, size_t len,
				       struct kw_error *err)
{
	struct rec *r = self;
	size_t n = __atomic_load_n(&r->n, __ATOMIC_ACQUIRE);

	(void)err;
	assert_true(n < MAXREC);
	assert_non_null(json);
	assert_int_equal(strlen(json), len);
	memcpy(r->ids[n], a->id, sizeof(r->ids[n]));
	if (a->evidence)
		r->trees += json_string_value(
				    json_object_get(a->evidence, "ip")) != NULL;
	if (strncmp(a->summary, "alert ", 6) != 0 || !a->time ||
	    strcmp(a->detector, "ops.not_permitted") != 0)
		r->bad_summary++;
	if (!strstr(json, "\"evidence\":{\"ip\":\"203.0.113.9\"}"))
		r->bad_json++;
	__atomic_store_n(&r->n, n + 1, __ATOMIC_RELEASE);
	return KW_SINK_OK;
}

static bool rec_discards(void *self)
{
	return ((struct rec *)self)->discard;
}

static const struct kw_sink_ops rec_ops = {
	.name = "rec",
	.deliver = rec_deliver,
	.discards = rec_discards,
};

/* The same sink, flat (sink.h): it reads no tree of the alert. */
static const struct kw_sink_ops rec_flat_ops = {
	.name = "rec-flat",
	.flat = true,
	.deliver = rec_deliver,
	.discards = rec_discards,
};

static struct kw_sink *rec_sink(struct rec *r, const char *name)
{
	struct kw_sink *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->ops = &rec_ops;
	s->self = r;
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->id, sizeof(s->id), "%s", name);
	s->min_severity = KW_SEV_INFO;
	return s;
}

static size_t delivered(struct rec *r)
{
	return __atomic_load_n(&r->n, __ATOMIC_ACQUIRE);
}

/* An alert about key n, subject i, unread or whole (what it says is set
 * either way; an unread one does not keep it); its id into id (may be
 * NULL). */
static void make_as(struct kw_alert *a, int key, int i, char *id, bool unread)
{
	struct kw_alert_key k = {.kind = KW_KIND_SECRET, .mode = KW_MODE_LIVE};
	char subject[32];

	snprintf(k.id, sizeof(k.id), "sk_live_" ELLIPSIS "%04d", key);
	snprintf(k.fp, sizeof(k.fp), "%016x", 0x1000 + key);
	assert_int_equal(kw_alert_init(a, "ops.not_permitted", KW_SEV_HIGH,
				       T0 + (int64_t)i * 1000, &k),
			 KW_OK);
	a->unread = unread;
	kw_alert_summary(a, "alert %d on key %d", i, key);
	kw_alert_evidence_str(a, "ip", kw_str_c("203.0.113.9"));
	kw_alert_suppress_str(a, "op", kw_str_c(i % 2 ? "a.list" : "b.create"));
	snprintf(subject, sizeof(subject), "n=%d", i);
	kw_alert_set_id(a, subject);
	if (id)
		memcpy(id, a->id, KW_ALERT_ID_LEN + 1);
}

static void make(struct kw_alert *a, int key, int i, char *id)
{
	make_as(a, key, i, id, false);
}

/* ---- a sink that reads nothing --------------------------------------------
 */

static void test_discarding_sink(void **state)
{
	struct kw_config *cfg = cfg_load("{}");
	struct kw_router *r = NULL;
	struct rec none = {.discard = true}, all = {0};
	char ids[20][KW_ALERT_ID_LEN + 1];
	struct kw_error err;

	(void)state;
	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &r, &err), KW_OK);
	assert_int_equal(kw_router_add_sink(r, rec_sink(&none, "none")), KW_OK);
	assert_int_equal(kw_router_add_sink(r, rec_sink(&all, "all")), KW_OK);
	for (int i = 0; i < 20; i++) {
		struct kw_alert a;

		make(&a, i % 3, i, ids[i]);
		assert_true(kw_router_submit(r, &a));
	}
	kw_router_tick(r, T0 + HOUR);
	kw_router_drain(r, 1000);
	assert_int_equal(none.n, 0);
	assert_int_equal(all.n, 20);
	for (int i = 0; i < 20; i++)
		assert_string_equal(all.ids[i], ids[i]);
	assert_int_equal(kw_router_stats(r)->raised, 20);
	assert_int_equal(kw_router_stats(r)->delivered, 20);
	assert_int_equal(kw_router_stats(r)->failed, 0);
	kw_router_destroy(r);
	kw_config_free(cfg);
}

/* The same through delivery threads (as scan runs them): the discarding
 * sink still gets nothing, the other every alert, in order. */
static void test_discarding_sink_queued(void **state)
{
	struct kw_config *cfg = cfg_load("{}");
	struct kw_delivery_opts o = {0};
	struct kw_router *r = NULL;
	struct rec none = {.discard = true}, all = {0};
	char ids[300][KW_ALERT_ID_LEN + 1];
	struct kw_error err;

	(void)state;
	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &r, &err), KW_OK);
	kw_router_add_sink(r, rec_sink(&none, "none"));
	kw_router_add_sink(r, rec_sink(&all, "all"));
	assert_int_equal(kw_router_start_delivery(r, &o, &err), KW_OK);
	for (int i = 0; i < 300; i++) {
		struct kw_alert a;

		make(&a, i % 7, i, ids[i]);
		assert_true(kw_router_submit(r, &a));
		if (i % 50 == 49)
			kw_router_tick(r, T0 + (int64_t)i * 1000);
	}
	assert_int_equal(kw_router_drain(r, 10000), 0);
	assert_int_equal(delivered(&none), 0);
	assert_int_equal(delivered(&all), 300);
	for (int i = 0; i < 300; i++)
		assert_string_equal(all.ids[i], ids[i]);
	assert_int_equal(kw_router_stats(r)->delivered, 300);
	assert_int_equal(kw_router_stats(r)->failed, 0);
	kw_router_destroy(r);
	kw_config_free(cfg);
}

/* ---- a flat sink ----------------------------------------------------------
 */

/* A flat sink's queue keeps no tree of the alert (no deep copy): its
 * deliver() gets the JSON whole and the plain fields, in order; a sink
 * that is not flat still gets the evidence. */
static void test_flat_sink_queued(void **state)
{
	struct kw_config *cfg = cfg_load("{}");
	struct kw_delivery_opts o = {0};
	struct kw_router *r = NULL;
	struct rec flat = {0}, deep = {0};
	struct kw_sink *fs;
	char ids[200][KW_ALERT_ID_LEN + 1];
	struct kw_error err;

	(void)state;
	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &r, &err), KW_OK);
	fs = rec_sink(&flat, "flat");
	fs->ops = &rec_flat_ops;
	kw_router_add_sink(r, fs);
	kw_router_add_sink(r, rec_sink(&deep, "deep"));
	assert_int_equal(kw_router_start_delivery(r, &o, &err), KW_OK);
	for (int i = 0; i < 200; i++) {
		struct kw_alert a;

		make(&a, i % 5, i, ids[i]);
		assert_true(kw_router_submit(r, &a));
		if (i % 40 == 39)
			kw_router_tick(r, T0 + (int64_t)i * 1000);
	}
	assert_int_equal(kw_router_drain(r, 10000), 0);
	assert_int_equal(delivered(&flat), 200);
	assert_int_equal(delivered(&deep), 200);
	for (int i = 0; i < 200; i++) {
		assert_string_equal(flat.ids[i], ids[i]);
		assert_string_equal(deep.ids[i], ids[i]);
	}
	assert_int_equal(flat.trees, 0);
	assert_int_equal(deep.trees, 200);
	assert_int_equal(flat.bad_summary + deep.bad_summary, 0);
	assert_int_equal(flat.bad_json + deep.bad_json, 0);
	assert_int_equal(kw_router_stats(r)->delivered, 200);
	kw_router_destroy(r);
	kw_config_free(cfg);
}

/* ---- a batched delivery thread --------------------------------------------
 */

static struct kw_delivery *start_batched(struct kw_sink *k)
{
	struct kw_delivery_opts o = {
		.batched = true,
		.keep_sigpipe = true,
		.retry_min_ms = 20,
		.retry_max_ms = 80,
	};
	struct kw_delivery *d = NULL;
	struct kw_error err;

	kw_error_clear(&err);
	if (kw_delivery_start(k, "rec-sinks-0", &o, &d, &err) != KW_OK)
		fail_msg("%s", err.msg);
	return d;
}

static void submit(struct kw_delivery *d, int i, char *id)
{
	struct kw_alert a;
	char *json;

	make(&a, i % 5, i, id);
	json = kw_alert_to_json(&a);
	assert_non_null(json);
	kw_delivery_submit(d, &a, json, strlen(json));
	free(json);
	kw_alert_clear(&a);
}

/* Wait (at most 10 s) until r has n alerts. */
static void wait_for(struct rec *r, size_t n)
{
	struct timespec pause = {0, 2 * 1000 * 1000};

	for (int i = 0; i < 5000 && delivered(r) < n; i++)
		nanosleep(&pause, NULL);
	assert_int_equal(delivered(r), n);
}

static void test_batched_kick(void **state)
{
	struct rec got = {0};
	struct kw_sink *k = rec_sink(&got, "rec");
	char ids[10][KW_ALERT_ID_LEN + 1];
	struct kw_delivery_stats st;
	struct kw_delivery *d;

	(void)state;
	d = start_batched(k);
	/* Fewer than a batch: delivered once kicked (the end of a batch of
	 * events), not left waiting for more. */
	for (int i = 0; i < 10; i++)
		submit(d, i, ids[i]);
	kw_delivery_kick(d);
	wait_for(&got, 10);
	for (int i = 0; i < 10; i++)
		assert_string_equal(got.ids[i], ids[i]);
	kw_delivery_stop(d, 5000);
	kw_delivery_stats(d, &st);
	assert_int_equal(st.delivered, 10);
	assert_int_equal(st.dropped, 0);
	kw_delivery_destroy(d);
	free(k);
}

static void test_batched_end(void **state)
{
	struct rec got = {0};
	struct kw_sink *k = rec_sink(&got, "rec");
	char ids[MAXREC][KW_ALERT_ID_LEN + 1];
	size_t n = 4 * KW_DELIVERY_BATCH + 7;
	struct kw_delivery_stats st;
	struct kw_delivery *d;

	(void)state;
	assert_true(n <= MAXREC);
	d = start_batched(k);
	/* Full batches wake the thread on their own; the last part, never
	 * kicked, goes at the end. */
	for (size_t i = 0; i < n; i++)
		submit(d, (int)i, ids[i]);
	kw_delivery_stop(d, 5000);
	kw_delivery_stats(d, &st);
	assert_int_equal(st.delivered, n);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.pending, 0);
	assert_int_equal(delivered(&got), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(got.ids[i], ids[i]);
	kw_delivery_destroy(d);
	free(k);
}

/* ---- incident messages no one reads ---------------------------------------
 */

struct heard {
	size_t n;
};

static void on_send(void *ctx, struct kw_incident_msg *m)
{
	((struct heard *)ctx)->n++;
	*m->told |= 1;
}

static struct kw_incidents *table(struct heard *h)
{
	struct kw_incident_opts o = {.close_after = HOUR,
				     .digest = HOUR,
				     .digest_max = 4 * HOUR,
				     .max_open = 8};
	struct kw_incidents *in = NULL;

	assert_int_equal(kw_incidents_create(&o, on_send, h, &in), KW_OK);
	return in;
}

static void test_incidents_unheard(void **state)
{
	struct heard ha = {0}, hb = {0};
	struct kw_incidents *heard = table(&ha), *unheard = table(&hb);
	const struct kw_incident_stats *sa, *sb;

	(void)state;
	kw_incidents_listened(unheard, false);
	/* 12 keys (more than max_open), alerts over five hours: openings,
	 * joins, digests, closes and evictions. */
	for (int i = 0; i < 240; i++) {
		int64_t t = T0 + (int64_t)i * 75 * 1000000;
		struct kw_alert a, b;

		make(&a, i % 12, i, NULL);
		make(&b, i % 12, i, NULL);
		a.severity = b.severity = i % 17 ? KW_SEV_MEDIUM : KW_SEV_HIGH;
		a.time = b.time = t;
		kw_incidents_add(heard, &a);
		kw_incidents_add(unheard, &b);
		assert_string_equal(a.incident, b.incident);
		kw_alert_clear(&a);
		kw_alert_clear(&b);
		if (i % 10 == 9) {
			kw_incidents_tick(heard, t);
			kw_incidents_tick(unheard, t);
		}
	}
	kw_incidents_tick(heard, T0 + 12 * HOUR);
	kw_incidents_tick(unheard, T0 + 12 * HOUR);
	kw_incidents_drain(heard);
	kw_incidents_drain(unheard);
	sa = kw_incidents_stats(heard);
	sb = kw_incidents_stats(unheard);
	assert_true(ha.n > 12);
	assert_int_equal(hb.n, 0); /* nothing built, nothing sent */
	assert_int_equal(sa->messages, ha.n);
	assert_same_incident_stats(sa, sb);
	assert_int_equal(sb->oom, 0);
	kw_incidents_destroy(heard);
	kw_incidents_destroy(unheard);
}

static void on_alert_tap(void *ctx, const struct kw_alert *a)
{
	(void)ctx;
	(void)a;
}

/* ---- alerts nothing reads ------------------------------------------------
 */

static void test_router_reads(void **state)
{
	struct kw_config *cfg = cfg_load("{}");
	struct kw_router *r = NULL;
	struct rec none = {.discard = true}, all = {0};
	struct kw_error err;

	(void)state;
	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &r, &err), KW_OK);
	/* open incidents are kept (saved) unless told otherwise */
	assert_true(kw_router_reads(r));
	kw_router_keep_incidents(r, false);
	assert_false(kw_router_reads(r));
	assert_int_equal(kw_router_add_sink(r, rec_sink(&none, "none")), KW_OK);
	assert_false(kw_router_reads(r));
	kw_router_on_alert(r, on_alert_tap, NULL);
	assert_true(kw_router_reads(r));
	kw_router_on_alert(r, NULL, NULL);
	assert_false(kw_router_reads(r));
	assert_int_equal(kw_router_add_sink(r, rec_sink(&all, "all")), KW_OK);
	assert_true(kw_router_reads(r));
	kw_router_destroy(r);
	kw_config_free(cfg);
}

static void test_unread_setters(void **state)
{
	struct kw_alert a, whole;
	json_t *want = json_pack("{s:s}", "op", "refunds.create");

	(void)state;
	make(&whole, 1, 7, NULL);
	assert_int_equal(kw_alert_init(&a, "ops.not_permitted", KW_SEV_HIGH,
				       whole.time, &whole.key),
			 KW_OK);
	a.unread = true;
	kw_alert_summary(&a, "alert %d", 7);
	kw_alert_summary_text(&a, kw_str_c("alert 7"));
	kw_alert_evidence_str(&a, "ip", kw_str_c("203.0.113.9"));
	kw_alert_evidence_int(&a, "status", 200);
	kw_alert_evidence_time(&a, "since", T0);
	kw_alert_evidence_json(&a, "list", json_pack("[i]", 1));
	kw_alert_add_request(&a, kw_str_c("req_1"));
	kw_alert_add_link(&a, "req_1", "https://example.test/req_1");
	kw_alert_suppress_str(&a, "op", kw_str_c("refunds.create"));
	kw_alert_set_id(&a, "n=7");
	assert_string_equal(a.summary, "");
	assert_null(kw_alert_evidence_text(&a, "ip", &(size_t){0}));
	assert_int_equal(a.nrequests, 0);
	assert_null(kw_alert_link(&a, "req_1"));
	assert_null(a.evidence); /* the list made no tree either */
	assert_false(a.incomplete);
	/* what the router matches and dedups by is whole */
	assert_true(kw_alert_suppress_has(&a, want));
	assert_string_equal(a.id, whole.id);
	json_decref(want);
	kw_alert_clear(&a);
	kw_alert_clear(&whole);
}

/* A router fed unread alerts counts what one fed the same alerts whole
 * counts: delivered, deduped, suppressed, below the minimum, per detector,
 * and the same incidents; the unread alerts' incidents have no id. */
static void test_unread_routed(void **state)
{
	struct kw_config *cfg = cfg_load(
		"{\"dedup_window\": \"3m\", \"incidents\": {\"max_open\": 4},"
		" \"suppress\": [{\"key\": \"sk_live_*0003\"},"
		" {\"key\": \"sk_live_*0004\", \"op\": \"a.list\"}]}");
	struct kw_router *r[2] = {NULL, NULL};
	struct rec none[2] = {{.discard = true}, {.discard = true}};
	const struct kw_router_stats *s0, *s1;
	struct kw_error err;
	int64_t t = T0;

	(void)state;
	for (int k = 0; k < 2; k++) {
		assert_int_equal(
			kw_router_create(cfg, KW_SEV_MEDIUM, &r[k], &err),
			KW_OK);
		kw_router_keep_incidents(r[k], false);
		kw_router_add_sink(r[k], rec_sink(&none[k], "none"));
		assert_false(kw_router_reads(r[k]));
	}
	/* 9 keys over 4 incident places, 400 alerts an event second apart
	 * to 2 minutes apart: repeats within and past the window, a
	 * suppressed key, some below the minimum severity. */
	for (int i = 0; i < 400; i++) {
		t += i % 5 ? 1000000 : 2 * MIN;
		for (int k = 0; k < 2; k++) {
			struct kw_alert a;

			if (k) /* as kw_detect_alert makes it */
				make_as(&a, i % 9, i % 3, NULL, true);
			else
				make(&a, i % 9, i % 3, NULL);
			a.time = t;
			a.severity = i % 11 ? KW_SEV_HIGH : KW_SEV_LOW;
			kw_router_submit(r[k], &a);
		}
		if (i % 25 == 24) {
			kw_router_tick(r[0], t);
			kw_router_tick(r[1], t);
		}
	}
	kw_router_tell_incidents(r[0]);
	kw_router_tell_incidents(r[1]);
	s0 = kw_router_stats(r[0]);
	s1 = kw_router_stats(r[1]);
	assert_true(s0->deduped > 0 && s0->below > 0);
	assert_true(s0->suppressed > 50); /* by key, and by key and op */
	assert_true(s0->delivered > 100);
	assert_int_equal(s1->raised, s0->raised);
	assert_int_equal(s1->delivered, s0->delivered);
	assert_int_equal(s1->deduped, s0->deduped);
	assert_int_equal(s1->suppressed, s0->suppressed);
	assert_int_equal(s1->below, s0->below);
	assert_int_equal(s1->max_severity_seen, s0->max_severity_seen);
	assert_int_equal(s1->ndetectors, s0->ndetectors);
	assert_int_equal(s1->by_detector[0].count, s0->by_detector[0].count);
	assert_true(kw_router_incidents(r[0])->evicted > 0);
	assert_same_incident_stats(kw_router_incidents(r[0]),
				   kw_router_incidents(r[1]));
	kw_router_destroy(r[0]);
	kw_router_destroy(r[1]);
	kw_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discarding_sink),
		cmocka_unit_test(test_discarding_sink_queued),
		cmocka_unit_test(test_flat_sink_queued),
		cmocka_unit_test(test_batched_kick),
		cmocka_unit_test(test_batched_end),
		cmocka_unit_test(test_incidents_unheard),
		cmocka_unit_test(test_router_reads),
		cmocka_unit_test(test_unread_setters),
		cmocka_unit_test(test_unread_routed),
	};

	kw_log_set_level(KW_LOG_QUIET);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
