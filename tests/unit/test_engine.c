/*
 * test_engine.c - the engine end to end over temporary JSONL files: the
 * exact alerts a capturing sink receives, the engine's stats (inputs,
 * records, events, skips by reason, keys), --format forcing, an unknown
 * format, an unreadable input, eviction with max_keys = 2, and the per-key
 * report stats through kw_engine_foreach_key.
 *
 * The one idea: the engine is driven exactly as `keywatch scan` drives it
 * (config from a string, the shipped models from the source tree, a router
 * with a sink), but the sink is a capturing one defined here, so the test
 * sees every alert as the bytes a sink would get.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/le.h"
#include "core/log.h"
#include "engine/engine.h"

#define E "\xe2\x80\xa6"

#define CAP_MAX 1024 /* alerts a rig captures */

struct capture {
	json_t *alerts[CAP_MAX];
	size_t n;
};

static enum kw_sink_result cap_deliver(void *self, const struct kw_alert *a,
				       const char *json, size_t len,
				       struct kw_error *err)
{
	struct capture *c = self;

	(void)a;
	(void)len;
	(void)err;
	assert_true(c->n < CAP_MAX);
	c->alerts[c->n++] = json_loads(json, 0, NULL);
	return KW_SINK_OK;
}

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

static const struct kw_sink_ops capture_ops = {
	.name = "capture",
	.create = cap_create,
	.deliver = cap_deliver,
};

struct rig {
	struct kw_config *cfg;
	struct kw_models *models;
	struct kw_router *router;
	struct kw_engine *engine;
	struct capture cap;
	char dir[64];
	char path[128];
};

static const char config_text[] =
	"{\"max_keys\": %d, \"keys\": ["
	"{\"match\": \"pk_live_*z8\", \"name\": \"web\"},"
	"{\"match\": \"rk_live_*a1b2\", \"name\": \"analytics\", "
	"\"permissions\": {\"charges\": \"read\"}, "
	"\"allow_ips\": [\"203.0.113.0/24\"]},"
	"{\"match\": \"sk_live_*beef\", \"name\": \"decoy\", \"honey\": true}"
	"]}";

#define PK "pk_live_51HxWebCheckoutKey9f3Qz8"
#define RK "rk_live_51HxAnalyticsReadOnlya1b2"
#define HONEY "sk_live_51HxDecoyDecoyDecoyDbeef"

static const char log_text[] =
	"{\"id\":\"req_1\",\"created\":1795766400,\"method\":\"GET\","
	"\"path\":\"/v1/customers\",\"status\":401,\"ip\":\"198.51.100.21\","
	"\"api_key\":\"" PK "\"}\n"
	"{\"id\":\"req_2\",\"created\":1795766410,\"method\":\"GET\","
	"\"path\":\"/v1/charges\",\"status\":200,\"ip\":\"198.51.100.9\","
	"\"api_key\":\"" RK "\"}\n"
	"this is not JSON\n"
	"{\"id\":\"req_3\",\"created\":1795766420,\"method\":\"GET\","
	"\"path\":\"/v1/charges\",\"status\":200,\"ip\":\"203.0.113.7\","
	"\"api_key\":\"" RK "\"}\n"
	"{\"id\":\"req_4\",\"created\":1795766430,\"method\":\"GET\","
	"\"path\":\"/v1/balance\",\"status\":200,\"ip\":\"192.0.2.1\","
	"\"api_key\":\"" HONEY "\"}\n"
	"{\"id\":\"req_5\",\"created\":1795766440,\"method\":\"GET\","
	"\"path\":\"/v1/charges\",\"status\":200}\n"
	"{\"id\":\"req_6\",\"created\":1795766450,\"method\":\"GET\","
	"\"path\":\"/v1/customers\",\"status\":403,\"ip\":\"198.51.100.22\","
	"\"api_key\":\"" PK "\"}\n";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* With report, the engine keeps what a report shows per key. */
static bool rig_report;
/* The hint_keys of the next rig (engine.h). */
static size_t rig_hint_keys;
static struct kw_geoip *rig_geoip;
/* The cross hook of the next rig (engine.h), or NULL. */
static bool (*rig_cross)(void *ctx, uint64_t stream, const struct kw_event *ev,
			 const struct kw_keyent *key);

/* The stream of the last alert the engine asked to admit (engine.h's admit
 * hook, which every rig sets). */
static uint64_t admitted_stream;

static bool admit_any(void *ctx, const char *id, int64_t time, uint64_t stream)
{
	(void)ctx;
	(void)id;
	(void)time;
	admitted_stream = stream;
	return true;
}

static void rig_up_threads(struct rig *r, const char *text, const char *format,
			   unsigned threads)
{
	static const char *const names[] = {"stripe", "aws"};
	struct kw_engine_opts opts;
	struct kw_error err;
	struct kw_sink *s;

	memset(r, 0, sizeof(*r));
	kw_log_set_level(KW_LOG_QUIET);
	if (kw_config_load_string(text, "t.json", &r->cfg, &err) != KW_OK)
		fail_msg("%s", err.msg);
	if (kw_models_load(KW_SOURCE_ROOT "/models", names, 2, &r->models,
			   &err) != KW_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(
		kw_router_create(r->cfg, KW_SEV_INFO, &r->router, &err), KW_OK);
	s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->ops = &capture_ops;
	s->self = &r->cap;
	snprintf(s->name, sizeof(s->name), "capture");
	kw_router_add_sink(r->router, s);
	memset(&opts, 0, sizeof(opts));
	opts.cfg = r->cfg;
	opts.models = r->models;
	opts.format = format;
	opts.router = r->router;
	opts.threads = threads;
	opts.report = rig_report;
	opts.admit = admit_any;
	opts.cross = rig_cross;
	opts.hint_keys = rig_hint_keys;
	opts.geoip = rig_geoip;
	if (kw_engine_create(&opts, &r->engine, &err) != KW_OK)
		fail_msg("%s", err.msg);
	snprintf(r->dir, sizeof(r->dir), "/tmp/kw_test_engine_XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(r->path, sizeof(r->path), "%s/requests.jsonl", r->dir);
	write_file(r->path, log_text);
}

static void rig_up_with(struct rig *r, const char *text, const char *format)
{
	rig_up_threads(r, text, format, 0);
}

static void rig_up(struct rig *r, int max_keys, const char *format)
{
	char text[1024];

	snprintf(text, sizeof(text), config_text, max_keys);
	rig_up_with(r, text, format);
}

static void rig_down(struct rig *r)
{
	for (size_t i = 0; i < r->cap.n; i++)
		json_decref(r->cap.alerts[i]);
	kw_engine_destroy(r->engine);
	kw_router_destroy(r->router);
	kw_models_destroy(r->models);
	kw_config_free(r->cfg);
	unlink(r->path);
	rmdir(r->dir);
	kw_log_set_level(KW_LOG_INFO);
}

static const char *get(const json_t *a, const char *name)
{
	return json_string_value(json_object_get(a, name));
}

static void test_alerts_and_stats(void **state)
{
	const struct kw_engine_stats *st;
	struct rig r;

	(void)state;
	rig_up(&r, 100, NULL);
	assert_int_equal(kw_engine_read_path(r.engine, r.path), KW_OK);
	kw_engine_finish(r.engine);

	assert_int_equal(r.cap.n, 3);
	assert_string_equal(get(r.cap.alerts[0], "detector"),
			    "ops.not_permitted");
	assert_string_equal(get(r.cap.alerts[0], "time"),
			    "2026-11-27T08:00:00Z");
	assert_string_equal(get(r.cap.alerts[0], "severity"), "high");
	assert_string_equal(get(r.cap.alerts[0], "summary"),
			    "publishable key pk_live_" E "3Qz8 (web) called "
			    "customers.list, which a publishable key may not "
			    "do, refused by the API");
	assert_string_equal(get(r.cap.alerts[1], "detector"),
			    "geo.ip_not_allowed");
	assert_string_equal(get(r.cap.alerts[1], "summary"),
			    "rk_live_" E "a1b2 (analytics) was used from "
			    "198.51.100.9, outside its allowed networks "
			    "(charges.list, status 200)");
	assert_string_equal(get(r.cap.alerts[2], "detector"), "key.honey");
	assert_string_equal(get(r.cap.alerts[2], "severity"), "critical");
	assert_string_equal(
		get(r.cap.alerts[2], "summary"),
		"decoy key sk_live_" E "beef (decoy) was used from "
		"192.0.2.1 (balance.retrieve): it is planted, never "
		"deployed, so whoever holds it took it from where "
		"it was planted");
	st = kw_engine_stats(r.engine);
	assert_int_equal(st->inputs, 1);
	assert_int_equal(st->inputs_failed, 0);
	assert_int_equal(st->records, 7);
	assert_int_equal(st->events, 5);
	assert_int_equal(st->skips.count[KW_SKIP_BAD_JSON], 1);
	/* req_5 was made without a key: counted apart, not damage */
	assert_int_equal(st->unauthenticated, 1);
	assert_int_equal(st->skips.total, 1);
	assert_int_equal(st->keys, 3);
	assert_int_equal(st->keys_seen, 3);
	assert_int_equal(st->keys_evicted, 0);
	assert_int_equal(st->first_ts, INT64_C(1795766400) * 1000000);
	assert_int_equal(st->last_ts, INT64_C(1795766450) * 1000000);
	/* The second customers.list by the same key is a repeat. */
	assert_int_equal(kw_router_stats(r.router)->raised, 4);
	assert_int_equal(kw_router_stats(r.router)->deduped, 1);
	assert_int_equal(kw_router_stats(r.router)->delivered, 3);
	rig_down(&r);
}

struct seen {
	char id[8][64];
	struct kw_engine_keystats ks[8];
	uint64_t events[8];
	size_t n;
};

static void on_key(void *ctx, const struct kw_keyent *key,
		   const struct kw_engine_keystats *ks)
{
	struct seen *s = ctx;

	assert_true(s->n < 8);
	snprintf(s->id[s->n], sizeof(s->id[0]), "%s", kw_keyent_id(key));
	s->ks[s->n] = *ks;
	s->events[s->n] = key->events;
	s->n++;
}

static const struct kw_engine_keystats *find(const struct seen *s,
					     const char *id, uint64_t *events)
{
	for (size_t i = 0; i < s->n; i++) {
		if (!strcmp(s->id[i], id)) {
			*events = s->events[i];
			return &s->ks[i];
		}
	}
	fail_msg("key %s not reported", id);
	return NULL;
}

static void test_per_key_stats(void **state)
{
	const struct kw_engine_keystats *ks;
	struct seen s = {0};
	uint64_t events = 0;
	struct rig r;

	(void)state;
	/* Without a report, no counters are kept. */
	rig_up(&r, 100, "auto");
	assert_int_equal(kw_engine_read_path(r.engine, r.path), KW_OK);
	kw_engine_finish(r.engine);
	kw_engine_foreach_key(r.engine, on_key, &s);
	assert_int_equal(s.n, 3);
	ks = find(&s, "pk_live_" E "3Qz8", &events);
	assert_int_equal(ks->errors, 0);
	assert_int_equal(ks->ips, 0);
	assert_int_equal(ks->alerts, 0);
	rig_down(&r);
	memset(&s, 0, sizeof(s));

	rig_report = true;
	rig_up(&r, 100, "auto");
	rig_report = false;
	assert_int_equal(kw_engine_read_path(r.engine, r.path), KW_OK);
	kw_engine_finish(r.engine);
	kw_engine_foreach_key(r.engine, on_key, &s);
	assert_int_equal(s.n, 3);
	ks = find(&s, "pk_live_" E "3Qz8", &events);
	assert_int_equal(events, 2);
	assert_int_equal(ks->errors, 2);
	assert_int_equal(ks->denied, 2);
	assert_int_equal(ks->alerts, 1); /* delivered: the repeat is not */
	assert_int_equal(ks->ips, 2);
	ks = find(&s, "rk_live_" E "a1b2", &events);
	assert_int_equal(events, 2);
	assert_int_equal(ks->errors, 0);
	assert_int_equal(ks->denied, 0);
	assert_int_equal(ks->alerts, 1);
	assert_int_equal(ks->ips, 2);
	ks = find(&s, "sk_live_" E "beef", &events);
	assert_int_equal(events, 1);
	assert_int_equal(ks->alerts, 1);
	assert_int_equal(ks->ips, 1);
	rig_down(&r);
}

static void test_format_forced(void **state)
{
	const struct kw_engine_stats *st;
	struct kw_engine_opts opts;
	struct kw_engine *e = (struct kw_engine *)&e;
	struct kw_error err;
	struct rig r;

	(void)state;
	/* keywatch lines read as CloudTrail: nothing decodes. */
	rig_up(&r, 100, "cloudtrail");
	kw_engine_read_path(r.engine, r.path);
	kw_engine_finish(r.engine);
	st = kw_engine_stats(r.engine);
	assert_int_equal(st->events, 0);
	assert_int_equal(r.cap.n, 0);
	assert_true(st->skips.total > 0);
	rig_down(&r);
	/* Forced to what it is: the same as sniffing. */
	rig_up(&r, 100, "keywatch");
	assert_int_equal(kw_engine_read_path(r.engine, r.path), KW_OK);
	kw_engine_finish(r.engine);
	assert_int_equal(kw_engine_stats(r.engine)->events, 5);
	assert_int_equal(r.cap.n, 3);
	/* An unknown format. */
	memset(&opts, 0, sizeof(opts));
	opts.cfg = r.cfg;
	opts.models = r.models;
	opts.router = r.router;
	opts.format = "xml";
	kw_error_clear(&err);
	assert_int_equal(kw_engine_create(&opts, &e, &err), KW_EUSAGE);
	assert_null(e);
	assert_string_equal(err.msg, "unknown format 'xml' (formats: auto, "
				     "keywatch, cloudtrail, gcp-audit, "
				     "github-audit)");
	rig_down(&r);
}

/* watch feeds each input with its own format and field map. */
static void test_feed_per_input(void **state)
{
	static const char gateway[] =
		"{\"t\":1795766430,\"req\":{\"m\":\"GET\","
		"\"p\":\"/v1/balance\",\"k\":\"" HONEY "\"},\"s\":200}\n";
	struct kw_field_map map[5];
	struct kw_decoder_conf dconf = {map, 5};
	struct kw_engine_input in = {"keywatch", &dconf};
	struct kw_engine_input ct = {"cloudtrail", NULL};
	struct kw_error err;
	struct rig r;

	(void)state;
	assert_int_equal(kw_field_map_parse("created=t", &map[0], &err), KW_OK);
	assert_int_equal(kw_field_map_parse("api_key=req.k", &map[1], &err),
			 KW_OK);
	assert_int_equal(kw_field_map_parse("method=req.m", &map[2], &err),
			 KW_OK);
	assert_int_equal(kw_field_map_parse("path=req.p", &map[3], &err),
			 KW_OK);
	assert_int_equal(kw_field_map_parse("status=s", &map[4], &err), KW_OK);
	rig_up(&r, 100, NULL);
	/* Without the input's map the line has no key... */
	kw_engine_feed(r.engine, gateway, sizeof(gateway) - 1, "gw.log", NULL);
	assert_int_equal(kw_engine_stats(r.engine)->events, 0);
	/* ...as a CloudTrail input neither... */
	kw_engine_feed(r.engine, gateway, sizeof(gateway) - 1, "gw.log", &ct);
	assert_int_equal(kw_engine_stats(r.engine)->events, 0);
	/* ...and with it, the decoy's use is an alert. */
	kw_engine_feed(r.engine, gateway, sizeof(gateway) - 1, "gw.log", &in);
	kw_engine_finish(r.engine);
	assert_int_equal(kw_engine_stats(r.engine)->events, 1);
	assert_int_equal(r.cap.n, 1);
	assert_string_equal(get(r.cap.alerts[0], "detector"), "key.honey");
	rig_down(&r);
}

/* watch: each burst is read record by record; a first line in another
 * format decides nothing for the lines after it. */
static void test_feed_per_record(void **state)
{
	static const char ct[] =
		"{\"eventVersion\":\"1.08\",\"userIdentity\":{\"type\":"
		"\"IAMUser\",\"accessKeyId\":\"AKIAIOSFODNN7EXAMPLE\"},"
		"\"eventTime\":\"2026-11-27T08:00:00Z\",\"eventSource\":"
		"\"s3.amazonaws.com\",\"eventName\":\"ListBuckets\","
		"\"sourceIPAddress\":\"198.51.100.7\",\"eventID\":\"ev-1\"}";
	static const char honey[] =
		"{\"id\":\"req_9\",\"created\":1795766430,\"method\":\"GET\","
		"\"path\":\"/v1/balance\",\"status\":200,\"ip\":\"192.0.2.1\","
		"\"api_key\":\"" HONEY "\"}\n";
	char burst[2048];
	int n;
	struct rig r;

	(void)state;
	rig_up(&r, 100, NULL);
	n = snprintf(burst, sizeof(burst), "%s\n%s", ct, honey);
	kw_engine_feed(r.engine, burst, (size_t)n, "api.log", NULL);
	assert_int_equal(kw_engine_stats(r.engine)->events, 2);
	assert_int_equal(kw_engine_stats(r.engine)->skips.total, 0);
	n = snprintf(burst, sizeof(burst), "{\"Records\":[%s]}\n%s", ct, honey);
	kw_engine_feed(r.engine, burst, (size_t)n, "api.log", NULL);
	assert_int_equal(kw_engine_stats(r.engine)->events, 4);
	n = snprintf(burst, sizeof(burst), "[INFO] rotated\n%s", honey);
	kw_engine_feed(r.engine, burst, (size_t)n, "api.log", NULL);
	kw_engine_finish(r.engine);
	assert_int_equal(kw_engine_stats(r.engine)->events, 5);
	assert_int_equal(
		kw_engine_stats(r.engine)->skips.count[KW_SKIP_BAD_JSON], 1);
	assert_int_equal(r.cap.n, 1);
	assert_string_equal(get(r.cap.alerts[0], "detector"), "key.honey");
	rig_down(&r);
}

/* Two files whose events interleave in time: read one after the other,
 * half the events are late; read together, none is. The lateness is the
 * request log's 2 minutes until a CloudTrail record is read. */
static void test_read_paths_merged(void **state)
{
	char dir[] = "/tmp/kw_test_merged_XXXXXX";
	char a[160], b[160], ct[160], line[512];
	const char *paths[2] = {a, b};
	FILE *fa, *fb, *fc;
	struct rig r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a.jsonl", dir);
	snprintf(b, sizeof(b), "%s/b.jsonl", dir);
	snprintf(ct, sizeof(ct), "%s/ct.jsonl", dir);
	rig_up(&r, 100, NULL);
	fa = fopen(a, "w");
	fb = fopen(b, "w");
	for (int i = 0; i < 20; i++) {
		snprintf(line, sizeof(line),
			 "{\"id\":\"req_%d\",\"created\":%d,\"method\":"
			 "\"GET\",\"path\":\"/v1/charges\",\"status\":200,"
			 "\"api_key\":\"" RK "\"}\n",
			 i, 1795766400 + i * 600);
		fputs(line, i % 2 ? fb : fa);
	}
	fclose(fa);
	fclose(fb);
	assert_int_equal(kw_engine_lateness(r.engine), INT64_C(120) * 1000000);
	kw_engine_read_path(r.engine, b);
	kw_engine_read_path(r.engine, a);
	assert_int_equal(kw_engine_stats(r.engine)->late, 10);
	rig_down(&r);
	rig_up(&r, 100, NULL);
	kw_engine_read_paths(r.engine, paths, 2);
	assert_int_equal(kw_engine_stats(r.engine)->events, 20);
	assert_int_equal(kw_engine_stats(r.engine)->inputs, 2);
	assert_int_equal(kw_engine_stats(r.engine)->late, 0);
	assert_int_equal(kw_engine_stats(r.engine)->most_open, 2);
	fc = fopen(ct, "w");
	fputs("{\"eventVersion\":\"1.08\",\"userIdentity\":{"
	      "\"accessKeyId\":\"AKIAIOSFODNN7EXAMPLE\"},\"eventTime\":"
	      "\"2026-11-27T08:00:00Z\",\"eventSource\":\"s3.amazonaws.com\","
	      "\"eventName\":\"ListBuckets\"}\n",
	      fc);
	fclose(fc);
	kw_engine_read_path(r.engine, ct);
	assert_int_equal(kw_engine_lateness(r.engine),
			 INT64_C(15) * 60 * 1000000);
	unlink(a);
	unlink(b);
	unlink(ct);
	rmdir(dir);
	rig_down(&r);
}

/* An event 90 s older than the newest one before it is late past a
 * configured lateness of 1 minute, and not with the default 2 minutes. */
static void test_lateness(void **state)
{
	static const char first[] =
		"{\"id\":\"req_a\",\"created\":1795766500,\"method\":\"GET\","
		"\"path\":\"/v1/charges\",\"status\":200,\"api_key\":\"" RK
		"\"}\n";
	static const char second[] =
		"{\"id\":\"req_b\",\"created\":1795766410,\"method\":\"GET\","
		"\"path\":\"/v1/charges\",\"status\":200,\"api_key\":\"" RK
		"\"}\n";
	struct rig r;

	(void)state;
	for (int pass = 0; pass < 2; pass++) {
		rig_up(&r, 100, NULL);
		if (pass)
			r.cfg->lateness = INT64_C(60) * 1000000;
		kw_engine_feed(r.engine, first, sizeof(first) - 1, "a", NULL);
		kw_engine_feed(r.engine, second, sizeof(second) - 1, "a", NULL);
		assert_int_equal(kw_engine_stats(r.engine)->late, pass);
		assert_int_equal(kw_engine_lateness(r.engine),
				 pass ? INT64_C(60) * 1000000
				      : INT64_C(120) * 1000000);
		rig_down(&r);
	}
}

static void test_evict_and_unreadable(void **state)
{
	const struct kw_engine_stats *st;
	char missing[160];
	struct rig r;

	(void)state;
	rig_up(&r, 2, NULL);
	assert_int_equal(kw_engine_read_path(r.engine, r.path), KW_OK);
	kw_engine_finish(r.engine);
	st = kw_engine_stats(r.engine);
	assert_int_equal(st->keys, 2);
	assert_int_equal(st->keys_seen, 4); /* pk came back after eviction */
	assert_int_equal(st->keys_evicted, 2);
	assert_int_equal(st->events, 5);
	snprintf(missing, sizeof(missing), "%s/missing.jsonl", r.dir);
	assert_int_not_equal(kw_engine_read_path(r.engine, missing), KW_OK);
	st = kw_engine_stats(r.engine);
	assert_int_equal(st->inputs, 2);
	assert_int_equal(st->inputs_failed, 1);
	assert_int_equal(st->skips.count[KW_SKIP_UNREADABLE], 1);
	kw_engine_count_failed(r.engine);
	st = kw_engine_stats(r.engine);
	assert_int_equal(st->inputs_failed, 2);
	assert_int_equal(st->skips.count[KW_SKIP_UNREADABLE], 2);
	rig_down(&r);
	kw_engine_destroy(NULL);
}

/*
 * issue 9: eviction by learned value, end to end. A secret key learns its
 * address for three hours (learn: 1h); then a flood of ten times max_keys
 * made-up keys, each used once; then the real key is used from a new
 * address. It kept its entry and what it learned, so geo.new_ip fires (a
 * table that evicts by recency alone would have thrown its learning away
 * and taken the new address as part of a new key's learning).
 */
static void test_flood_keeps_learned_key(void **state)
{
	static const char real[] = "sk_live_51HxRealBackendKeyxxxxxxxxxx7c3d";
	const struct kw_engine_stats *st;
	struct rig r;
	char path[160];
	int64_t t0 = INT64_C(1795766400);
	FILE *f;

	(void)state;
	rig_up_with(&r, "{\"max_keys\": 20, \"learn\": \"1h\"}", NULL);
	snprintf(path, sizeof(path), "%s/flood.jsonl", r.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 18; i++) /* three hours, every 10 minutes */
		fprintf(f,
			"{\"created\":%lld,\"method\":\"GET\","
			"\"path\":\"/v1/balance\",\"status\":200,"
			"\"ip\":\"203.0.113.5\",\"api_key\":\"%s\"}\n",
			(long long)(t0 + 600 * i), real);
	for (int i = 0; i < 200; i++) /* the flood, one second apart */
		fprintf(f,
			"{\"created\":%lld,\"method\":\"GET\","
			"\"path\":\"/v1/balance\",\"status\":200,"
			"\"ip\":\"198.51.100.%d\",\"api_key\":"
			"\"sk_live_51HxFloodKey%06dxxxxxxxxxx\"}\n",
			(long long)(t0 + 3 * 3600 + i), i % 250 + 1, i);
	fprintf(f,
		"{\"created\":%lld,\"method\":\"GET\","
		"\"path\":\"/v1/balance\",\"status\":200,"
		"\"ip\":\"192.0.2.99\",\"api_key\":\"%s\"}\n",
		(long long)(t0 + 4 * 3600), real);
	fclose(f);
	assert_int_equal(kw_engine_read_path(r.engine, path), KW_OK);
	kw_engine_finish(r.engine);
	st = kw_engine_stats(r.engine);
	assert_int_equal(st->events, 219);
	assert_int_equal(st->keys, 20);
	assert_int_equal(st->keys_seen, 201); /* the real key never left */
	assert_int_equal(st->keys_evicted, 181);
	assert_int_equal(r.cap.n, 1);
	assert_string_equal(get(r.cap.alerts[0], "detector"), "geo.new_ip");
	assert_string_equal(get(json_object_get(r.cap.alerts[0], "key"), "id"),
			    "sk_live_" E "7c3d");
	unlink(path);
	rig_down(&r);
}

/*
 * A key waiting on the timing wheel for a long window still has a short
 * window closed on time: rate.spike counts hourly windows, rate.errors
 * windows of a minute. The key's first request opens one of each; once the
 * minute's has closed it waits for the hour's. Ten minutes on it is denied
 * 25 times (a minute window of its own): that window closes, and its alert
 * comes, when the watermark passes it, not at the end of the hour.
 */
/* count requests of key for /v1/balance from 203.0.113.5, answered
 * status, the first at t (seconds) and one every step seconds, fed in
 * one batch. */
static void feed_requests(struct rig *r, const char *key, int64_t t,
			  int64_t step, int count, int status)
{
	char buf[8192];
	size_t n = 0;

	for (int i = 0; i < count; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
				      "{\"created\":%lld,\"method\":\"GET\","
				      "\"path\":\"/v1/balance\",\"status\":%d,"
				      "\"ip\":\"203.0.113.5\",\"api_key\":"
				      "\"%s\"}\n",
				      (long long)(t + i * step), status, key);
	assert_true(n < sizeof(buf));
	kw_engine_feed(r->engine, buf, n, "api.log", NULL);
}

/* r has raised exactly one alert so far: detector's, at time. */
static void assert_one_alert(const struct rig *r, const char *detector,
			     const char *time)
{
	assert_int_equal(r->cap.n, 1);
	assert_string_equal(get(r->cap.alerts[0], "detector"), detector);
	assert_string_equal(get(r->cap.alerts[0], "time"), time);
}

static void test_short_window_while_waiting(void **state)
{
	static const char key[] = "sk_live_51HxWaitingKeyxxxxxxxxxxxx5e6f";
	const struct kw_router_stats *rs;
	int64_t t0 = INT64_C(1795766400); /* on the hour */
	struct rig r;

	(void)state;
	rig_up_with(&r,
		    "{\"max_keys\": 100, \"detectors\": {"
		    "\"rate.errors\": {\"window\": \"1m\"},"
		    "\"rate.spike\": {\"window\": \"1h\"}}}",
		    NULL);
	feed_requests(&r, key, t0, 0, 1, 200);
	kw_engine_idle(r.engine, INT64_C(5) * 60 * 1000000);
	feed_requests(&r, key, t0 + 600, 1, 25, 401);
	rs = kw_router_stats(r.router);
	assert_int_equal(rs->raised, 0);
	/* The watermark passes 00:11 (the window's end), not 01:00. */
	kw_engine_idle(r.engine, INT64_C(4) * 60 * 1000000);
	assert_int_equal(rs->raised, 1);
	assert_one_alert(&r, "rate.errors", "2026-11-27T08:11:00Z");
	kw_engine_finish(r.engine);
	assert_int_equal(r.cap.n, 1);
	rig_down(&r);
}

/* The config of the tests below: rate.errors in one-minute windows. */
static const char minute_errors[] = "{\"max_keys\": 100, \"detectors\": {"
				    "\"rate.errors\": {\"window\": \"1m\"}}}";

/* A key of their own whose request moves the watermark. */
#define CLOCK_KEY "sk_live_51HxClockKeyxxxxxxxxxxxxx8b8b"

/* A key whose windows can raise nothing is not on the wheel: they close
 * when the key is next fed, at the watermark of the sweep that passed
 * them, exactly as that sweep would have closed them. So the denied
 * requests that come late for a minute between two the sweep closed are
 * late there too, and raise no rate.errors however many they are (were
 * the key's windows closed only up to the late minute, its minute would
 * still be open and take them). */
static void test_lazy_windows_close_as_swept(void **state)
{
	static const char key[] = "sk_live_51HxLazyWindowsKeyxxxxxxx7a7a";
	int64_t t0 = INT64_C(1795766400); /* on the hour */
	struct rig r;

	(void)state;
	rig_up_with(&r, minute_errors, NULL);
	feed_requests(&r, key, t0, 120, 2, 200);
	feed_requests(&r, CLOCK_KEY, t0 + 400, 0, 1, 200);
	/* The watermark is now 00:04:40: a sweep passed both minutes. */
	assert_int_equal(kw_engine_stats(r.engine)->late, 0);
	feed_requests(&r, key, t0 + 70, 0, 25, 401);
	assert_int_equal(kw_engine_stats(r.engine)->late, 25);
	kw_engine_finish(r.engine);
	assert_int_equal(kw_router_stats(r.router)->raised, 0);
	assert_int_equal(r.cap.n, 0);
	rig_down(&r);
}

/* The other side of it: a window opened after the last sweep, late (the
 * sweep's watermark had passed its end), waits for the next sweep, as it
 * would on the wheel, and is not closed by its key's next request: the 25
 * denied requests of a new key, all late, stay in their minute and raise
 * rate.errors at the end. */
static void test_late_window_waits_for_next_sweep(void **state)
{
	static const char key[] = "sk_live_51HxLateWindowKeyxxxxxxxx9c9c";
	int64_t t0 = INT64_C(1795766400); /* on the hour */
	struct rig r;

	(void)state;
	rig_up_with(&r, minute_errors, NULL);
	feed_requests(&r, CLOCK_KEY, t0 + 400, 0, 1, 200);
	feed_requests(&r, key, t0 + 70, 0, 25, 401);
	assert_int_equal(kw_engine_stats(r.engine)->late, 25);
	kw_engine_finish(r.engine);
	assert_one_alert(&r, "rate.errors", "2026-11-27T08:02:00Z");
	rig_down(&r);
}

/* A new directory for a state file: dir (64 bytes) and path (96), the
 * file name in it (which does not exist yet). */
static void state_dir(char *dir, char *path, const char *name)
{
	snprintf(dir, 64, "/tmp/kw_test_state_XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, 96, "%s/%s", dir, name);
}

/* A ring loaded open from a state file closes on time, whatever its mark
 * said when it was saved: the file may be older than the mark, or come
 * from a config under which the window could raise nothing. Here the
 * first run's rate.errors floor and both families' min_count are 100, so
 * its 25 denied requests in a minute leave the key's rings saved open and
 * none urgent; the next run's are the defaults (floor 20), and its minute
 * raises rate.errors when the sweep passes it, although the key's only
 * request in this run, the one that loads it, is in a later minute that
 * can raise nothing. */
static void test_loaded_window_closes_on_time(void **state)
{
	static const char key[] = "sk_live_51HxLoadedWindowKeyxxxxxx4d4d";
	int64_t t0 = INT64_C(1795766400); /* on the hour */
	char dir[64], path[96];
	struct kw_error err;
	struct rig r;

	(void)state;
	state_dir(dir, path, "state");
	rig_up_with(&r,
		    "{\"max_keys\": 100, \"detectors\": {"
		    "\"rate.errors\": {\"window\": \"1m\", \"floor\": 100, "
		    "\"min_count\": 100},"
		    "\"rate.spike\": {\"min_count\": 100}}}",
		    NULL);
	feed_requests(&r, key, t0 + 70, 0, 25, 401);
	assert_int_equal(kw_engine_save_state(r.engine, path, &err), KW_OK);
	rig_down(&r);

	rig_up_with(&r, minute_errors, NULL);
	assert_int_equal(kw_engine_load_state(r.engine, path, &err), KW_OK);
	feed_requests(&r, key, t0 + 190, 0, 1, 200);
	feed_requests(&r, CLOCK_KEY, t0 + 600, 0, 1, 200);
	/* The watermark is now 00:08: a sweep passed 00:01's minute. */
	assert_one_alert(&r, "rate.errors", "2026-11-27T08:02:00Z");
	kw_engine_finish(r.engine);
	assert_int_equal(r.cap.n, 1);
	rig_down(&r);
	unlink(path);
	rmdir(dir);
}

/*
 * Per-stream event time (engine.h, struct kw_engine_input's stream): two
 * Kafka partitions, one an hour behind the other, fed in turns. Each
 * key's first request, then 25 denied ones in a minute ten minutes later
 * (a rate.errors window), then one more ten minutes on, in two halves. As
 * two streams no request is late, and the alerts are exactly those of
 * reading each partition on its own; as one stream the partition behind
 * is late, and its minute window closes (the watermark, led by the
 * partition ahead, is past it) before its second half, which it loses.
 */
#define KEY_A "sk_live_51HxPartitionAheadKeyxxxx1a1a"
#define KEY_B "sk_live_51HxPartitionBehindKeyxxxx2b2b"
#define KEY_C "sk_live_51HxAnotherKeyAheadxxxxxx3c3c"

/* Requests [from, to) of key's pattern starting at t0, into buf. */
static size_t pattern(char *buf, size_t cap, const char *key, int64_t t0,
		      int from, int to)
{
	size_t n = 0;

	for (int i = from; i < to; i++) {
		bool denied = i > 0 && i < 26;
		int64_t t = i == 0 ? t0 : denied ? t0 + 600 + i : t0 + 1200;

		n += (size_t)snprintf(buf + n, cap - n,
				      "{\"created\":%lld,\"method\":\"GET\","
				      "\"path\":\"/v1/balance\",\"status\":%d,"
				      "\"ip\":\"203.0.113.5\",\"api_key\":"
				      "\"%s\"}\n",
				      (long long)t, denied ? 401 : 200, key);
		assert_true(n < cap);
	}
	return n;
}

static const char streams_config[] = "{\"max_keys\": 100, \"detectors\": {"
				     "\"rate.errors\": {\"window\": \"1m\"}}}";

/* The alert ids captured, sorted, joined by spaces. */
static void alert_ids(const struct rig *r, char *out, size_t cap)
{
	const char *ids[CAP_MAX];
	size_t n = 0;

	for (size_t i = 0; i < r->cap.n; i++)
		ids[i] = get(r->cap.alerts[i], "id");
	for (size_t i = 1; i < r->cap.n; i++) {
		for (size_t j = i; j > 0 && strcmp(ids[j - 1], ids[j]) > 0;
		     j--) {
			const char *t = ids[j];

			ids[j] = ids[j - 1];
			ids[j - 1] = t;
		}
	}
	out[0] = '\0';
	for (size_t i = 0; i < r->cap.n; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s ", ids[i]);
}

/* The two partitions fed in turns, as streams a and b. */
static void feed_turns(struct rig *r, uint64_t a, uint64_t b, int64_t t0)
{
	struct kw_engine_input ia = {NULL, NULL, a}, ib = {NULL, NULL, b};
	char buf[8192];
	size_t n;

	for (int half = 0; half < 2; half++) {
		int from = half ? 13 : 0, to = half ? 27 : 13;

		n = pattern(buf, sizeof(buf), KEY_A, t0 + 3600, from, to);
		kw_engine_feed(r->engine, buf, n, "kafka:api", &ia);
		n = pattern(buf, sizeof(buf), KEY_B, t0, from, to);
		kw_engine_feed(r->engine, buf, n, "kafka:api", &ib);
	}
	kw_engine_finish(r->engine);
}

static void test_stream_time(void **state)
{
	int64_t t0 = INT64_C(1795766400);
	char alone[512], turns[512], buf[8192];
	size_t n;
	struct rig r;

	(void)state;
	/* Each partition read on its own, in order. */
	rig_up_with(&r, streams_config, NULL);
	n = pattern(buf, sizeof(buf), KEY_A, t0 + 3600, 0, 27);
	kw_engine_feed(r.engine, buf, n, "kafka:api", NULL);
	kw_engine_finish(r.engine);
	rig_down(&r);
	rig_up_with(&r, streams_config, NULL);
	n = pattern(buf, sizeof(buf), KEY_A, t0 + 3600, 0, 27);
	kw_engine_feed(r.engine, buf, n, "kafka:api", NULL);
	kw_engine_finish(r.engine);
	n = pattern(buf, sizeof(buf), KEY_B, t0, 0, 27);
	{
		struct rig rb;

		rig_up_with(&rb, streams_config, NULL);
		kw_engine_feed(rb.engine, buf, n, "kafka:api", NULL);
		kw_engine_finish(rb.engine);
		assert_int_equal(rb.cap.n, 1);
		assert_int_equal(r.cap.n, 1);
		r.cap.alerts[r.cap.n++] = json_incref(rb.cap.alerts[0]);
		rig_down(&rb);
	}
	alert_ids(&r, alone, sizeof(alone));
	for (size_t i = 0; i < r.cap.n; i++)
		assert_string_equal(get(r.cap.alerts[i], "detector"),
				    "rate.errors");
	rig_down(&r);

	/* In turns, as two streams: nothing late, the same alerts, on one
	 * thread and on two. */
	for (unsigned threads = 1; threads <= 2; threads++) {
		rig_up_threads(&r, streams_config, NULL, threads);
		feed_turns(&r, UINT64_C(1) << 32, (UINT64_C(1) << 32) | 1, t0);
		assert_int_equal(kw_engine_stats(r.engine)->events, 54);
		assert_int_equal(kw_engine_stats(r.engine)->late, 0);
		alert_ids(&r, turns, sizeof(turns));
		assert_string_equal(turns, alone);
		rig_down(&r);
	}

	/* In turns as one stream: the partition behind is late. */
	rig_up_with(&r, streams_config, NULL);
	feed_turns(&r, 0, 0, t0);
	assert_int_equal(kw_engine_stats(r.engine)->late, 27);
	alert_ids(&r, turns, sizeof(turns));
	assert_string_not_equal(turns, alone);
	rig_down(&r);
}

/* A stream's windows close by its own time: one behind holds no other
 * stream's open; one that is quiet follows the others' time. */
static void test_stream_quiet(void **state)
{
	int64_t t0 = INT64_C(1795766400);
	struct kw_engine_input ia = {NULL, NULL, 7}, ib = {NULL, NULL, 8};
	char buf[8192];
	size_t n;
	struct rig r;

	(void)state;
	for (unsigned threads = 0; threads <= 2; threads += 2) {
		rig_up_threads(&r, streams_config, NULL, threads);
		n = pattern(buf, sizeof(buf), KEY_B, t0, 0, 1);
		kw_engine_feed(r.engine, buf, n, "kafka:api", &ib);
		n = pattern(buf, sizeof(buf), KEY_A, t0 + 3600, 0, 26);
		kw_engine_feed(r.engine, buf, n, "kafka:api", &ia);
		n = pattern(buf, sizeof(buf), KEY_C, t0 + 3600 + 800, 0, 1);
		kw_engine_feed(r.engine, buf, n, "kafka:api", &ia);
		/* A's window closed by stream 7's time, though 8 is behind
		 * (what is fed is through once a stream is said quiet). */
		kw_engine_stream_quiet(r.engine, 99); /* unknown: nothing */
		assert_int_equal(kw_router_stats(r.router)->raised, 1);
		assert_string_equal(get(r.cap.alerts[0], "detector"),
				    "rate.errors");
		assert_string_equal(get(r.cap.alerts[0], "time"),
				    "2026-11-27T09:11:00Z");
		/* B's burst: its window is open by stream 8's time, however
		 * far ahead 7 is, until 8 is quiet and follows 7. */
		n = pattern(buf, sizeof(buf), KEY_B, t0, 1, 26);
		kw_engine_feed(r.engine, buf, n, "kafka:api", &ib);
		kw_engine_stream_quiet(r.engine, 99);
		assert_int_equal(kw_router_stats(r.router)->raised, 1);
		kw_engine_stream_quiet(r.engine, 8);
		assert_int_equal(kw_router_stats(r.router)->raised, 2);
		assert_string_equal(get(r.cap.alerts[1], "time"),
				    "2026-11-27T08:11:00Z");
		/* Its next record counts it again, and is not late. */
		n = pattern(buf, sizeof(buf), KEY_B, t0, 26, 27);
		kw_engine_feed(r.engine, buf, n, "kafka:api", &ib);
		assert_int_equal(kw_engine_stats(r.engine)->late, 0);
		kw_engine_finish(r.engine);
		assert_int_equal(kw_router_stats(r.router)->raised, 2);
		rig_down(&r);
	}
}

/*
 * A stream's keys moving to another engine (the daemon's changelog: a
 * Kafka partition taken over mid-window). Key A's first half of a
 * rate.errors window is read as stream S by engine 1, beside key C on
 * stream T; S's keys are exported (one record: A's), then dropped (A's
 * window closes without a word). Engine 2 imports the record and reads
 * the second half: it raises the window's one alert, with the id an
 * engine that read all of it raises; without the record it raises none.
 * Engine 1, given S back (the record imported again), raises it too.
 */
struct exported {
	unsigned char *rec[8];
	size_t len[8];
	char fp[8][17];
	size_t n;
};

static bool keep_record(void *ctx, const char *fp, const unsigned char *rec,
			size_t len)
{
	struct exported *x = ctx;

	assert_true(x->n < 8);
	x->rec[x->n] = malloc(len);
	assert_non_null(x->rec[x->n]);
	memcpy(x->rec[x->n], rec, len);
	x->len[x->n] = len;
	snprintf(x->fp[x->n], sizeof(x->fp[0]), "%s", fp);
	x->n++;
	return true;
}

static void exported_free(struct exported *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->rec[i]);
	x->n = 0;
}

static void import_all(struct rig *r, uint64_t stream, const struct exported *x)
{
	struct kw_error err;

	for (size_t i = 0; i < x->n; i++)
		if (kw_engine_import_key(r->engine, stream, NULL, 0, NULL,
					 x->rec[i], x->len[i], &err) != KW_OK)
			fail_msg("%s", err.msg);
}

/*
 * A family's overflow part (kw_detector_ops.parts): geo keeps the
 * first eight IPs and networks of a key in lists, and those past them in
 * Bloom filters that the key is given only then. A secret key learns
 * twelve addresses in twelve /24s (learn: 1h), four of them in the
 * filters; afterwards its eleventh address is known and a new one is not:
 * exactly one geo.new_ip. The same whether the key stayed in memory, went
 * through a state file, through an export and import (a Kafka changelog),
 * or was evicted to its shard's stash and came back; and a key that never
 * filled a list holds no block.
 */
#define OV_KEY "sk_live_51HxOverflowKeyxxxxxxxxxx6e6e"
#define OV_OTHER "sk_live_51HxOverflowOtherKeyxxxx7f7f"

static const char ov_config[] = "{\"max_keys\": 100, \"learn\": \"1h\"}";

/* One request of key from ip at t (seconds), on stream. */
static void feed_ip(struct rig *r, const char *key, int64_t t, const char *ip,
		    uint64_t stream)
{
	struct kw_engine_input in = {NULL, NULL, stream};
	char buf[512];
	int n = snprintf(buf, sizeof(buf),
			 "{\"created\":%lld,\"method\":\"GET\","
			 "\"path\":\"/v1/balance\",\"status\":200,"
			 "\"ip\":\"%s\",\"api_key\":\"%s\"}\n",
			 (long long)t, ip, key);

	kw_engine_feed(r->engine, buf, (size_t)n, "api.log",
		       stream ? &in : NULL);
}

/* OV_KEY's twelve addresses, 10.0.i.1 for i from 1, a minute apart. */
static void ov_learn(struct rig *r, int64_t t0, int count, uint64_t stream)
{
	for (int i = 1; i <= count; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "10.0.%d.1", i);
		feed_ip(r, OV_KEY, t0 + 60 * i, ip, stream);
	}
}

/* Two hours on: the eleventh address (in the filter), then a new one. */
static void ov_probe(struct rig *r, int64_t t0, uint64_t stream)
{
	feed_ip(r, OV_KEY, t0 + 7200, "10.0.11.1", stream);
	feed_ip(r, OV_KEY, t0 + 7260, "10.0.99.1", stream);
	kw_engine_finish(r->engine);
	assert_int_equal(r->cap.n, 1);
	assert_string_equal(get(r->cap.alerts[0], "detector"), "geo.new_ip");
	assert_string_equal(get(r->cap.alerts[0], "time"),
			    "2026-11-27T10:01:00Z");
}

static void test_overflow_part(void **state)
{
	int64_t t0 = INT64_C(1795766400);
	struct rig r;

	(void)state;
	rig_up_with(&r, ov_config, NULL);
	ov_learn(&r, t0, 8, 0);
	assert_int_equal(kw_engine_stats(r.engine)->overflow_blocks, 0);
	feed_ip(&r, OV_KEY, t0 + 9 * 60, "10.0.9.1", 0);
	assert_int_equal(kw_engine_stats(r.engine)->overflow_blocks, 1);
	for (int i = 10; i <= 12; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "10.0.%d.1", i);
		feed_ip(&r, OV_KEY, t0 + 60 * i, ip, 0);
	}
	ov_probe(&r, t0, 0);
	rig_down(&r);
}

static void test_overflow_part_saved(void **state)
{
	int64_t t0 = INT64_C(1795766400);
	char dir[64], path[96];
	struct kw_error err;
	struct rig r;

	(void)state;
	state_dir(dir, path, "state");
	rig_up_with(&r, ov_config, NULL);
	ov_learn(&r, t0, 12, 0);
	assert_int_equal(kw_engine_save_state(r.engine, path, &err), KW_OK);
	rig_down(&r);

	rig_up_with(&r, ov_config, NULL);
	assert_int_equal(kw_engine_load_state(r.engine, path, &err), KW_OK);
	ov_probe(&r, t0, 0);
	assert_int_equal(kw_engine_stats(r.engine)->keys_restored, 1);
	assert_int_equal(kw_engine_stats(r.engine)->overflow_blocks, 1);
	rig_down(&r);
	unlink(path);
	rmdir(dir);
}

/* The rig up with ov_config and MaxMind's test city database, and a
 * state file's place; undone by city_down. */
static void city_up(struct rig *r, char *dir, char *path)
{
	const char *db = KW_SOURCE_ROOT "/tests/fixtures/geoip/city.mmdb";
	struct kw_error err;

	assert_int_equal(kw_geoip_open(&db, 1, &rig_geoip, &err), KW_OK);
	state_dir(dir, path, "state");
	rig_up_with(r, ov_config, NULL);
}

static void city_down(struct rig *r, char *dir, char *path)
{
	rig_down(r);
	kw_geoip_close(rig_geoip);
	rig_geoip = NULL;
	unlink(path);
	rmdir(dir);
}

/* The rig's state through a state file at path: saved, the rig made
 * again with ov_config, and loaded. */
static void ov_reload(struct rig *r, const char *path)
{
	struct kw_error err;

	assert_int_equal(kw_engine_save_state(r->engine, path, &err), KW_OK);
	rig_down(r);
	rig_up_with(r, ov_config, NULL);
	assert_int_equal(kw_engine_load_state(r->engine, path, &err), KW_OK);
}

/* What OV_KEY, learnt in London, raises at its first request from
 * Linkoping. */
static void assert_new_country_se(const struct rig *r)
{
	assert_int_equal(r->cap.n, 2);
	assert_string_equal(get(r->cap.alerts[0], "detector"), "geo.new_ip");
	assert_string_equal(get(r->cap.alerts[1], "summary"),
			    "sk_live_…6e6e called from SE for the first time; "
			    "seen before: GB");
}

/*
 * geo's other part (struct geo_loc): what the databases say of a key's
 * requests, made at the first request they place. A key seen only from
 * an address no database knows holds none; OV_KEY, used from London
 * (MaxMind's test city database: 81.2.69.142 and .160, GB), holds one of
 * 112 bytes, and keeps it through a state file: two hours on, a request
 * from Linkoping (89.160.20.112, SE) is a new country, and its alert
 * names the one seen before.
 */
static void test_overflow_part_located(void **state)
{
	int64_t t0 = INT64_C(1795766400);
	char dir[64], path[96];
	struct rig r;

	(void)state;
	city_up(&r, dir, path);
	feed_ip(&r, OV_OTHER, t0, "10.0.0.1", 0);
	assert_int_equal(kw_engine_stats(r.engine)->overflow_blocks, 0);
	feed_ip(&r, OV_KEY, t0 + 60, "81.2.69.142", 0);
	assert_int_equal(kw_engine_stats(r.engine)->overflow_blocks, 1);
	assert_int_equal(kw_engine_stats(r.engine)->overflow_bytes, 112);
	feed_ip(&r, OV_KEY, t0 + 120, "81.2.69.160", 0);
	assert_int_equal(kw_engine_stats(r.engine)->overflow_blocks, 1);
	ov_reload(&r, path);
	feed_ip(&r, OV_KEY, t0 + 7200, "89.160.20.112", 0);
	kw_engine_finish(r.engine);
	assert_int_equal(kw_engine_stats(r.engine)->keys_restored, 1);
	assert_int_equal(kw_engine_stats(r.engine)->overflow_blocks, 1);
	assert_new_country_se(&r);
	city_down(&r, dir, path);
}

/* A key with both of geo's parts, the first of them made after another
 * key's (so that its two handles differ): each part is found by its own
 * handle, so the place and the addresses past the eighth all come
 * through a state file. */
static void test_overflow_parts_both(void **state)
{
	int64_t t0 = INT64_C(1795766400);
	char dir[64], path[96];
	struct rig r;

	(void)state;
	city_up(&r, dir, path);
	feed_ip(&r, OV_OTHER, t0, "81.2.69.142", 0);
	feed_ip(&r, OV_KEY, t0, "81.2.69.160", 0);
	ov_learn(&r, t0, 12, 0);
	assert_int_equal(kw_engine_stats(r.engine)->overflow_blocks, 3);
	ov_reload(&r, path);
	feed_ip(&r, OV_KEY, t0 + 7200, "10.0.11.1", 0);
	feed_ip(&r, OV_KEY, t0 + 7260, "89.160.20.112", 0);
	kw_engine_finish(r.engine);
	assert_new_country_se(&r);
	assert_string_equal(get(r.cap.alerts[0], "time"),
			    "2026-11-27T10:01:00Z");
	city_down(&r, dir, path);
}

static void test_overflow_part_exported(void **state)
{
	int64_t t0 = INT64_C(1795766400);
	struct exported x = {0};
	struct rig r;

	(void)state;
	rig_up_with(&r, ov_config, NULL);
	ov_learn(&r, t0, 12, 7);
	assert_int_equal(
		kw_engine_export_stream(r.engine, 7, false, keep_record, &x),
		KW_OK);
	assert_int_equal(x.n, 1);
	rig_down(&r);

	rig_up_with(&r, ov_config, NULL);
	import_all(&r, 7, &x);
	ov_probe(&r, t0, 7);
	assert_int_equal(kw_engine_stats(r.engine)->overflow_blocks, 1);
	exported_free(&x);
	rig_down(&r);
}

static void test_overflow_part_evicted(void **state)
{
	int64_t t0 = INT64_C(1795766400);
	char dir[64], path[96];
	struct kw_error err;
	struct rig r;

	(void)state;
	state_dir(dir, path, "none"); /* no file: a stash */
	rig_up_with(&r, "{\"max_keys\": 1, \"learn\": \"1h\"}", NULL);
	assert_int_equal(kw_engine_load_state(r.engine, path, &err), KW_OK);
	ov_learn(&r, t0, 12, 0);
	assert_int_equal(kw_engine_stats(r.engine)->overflow_blocks, 1);
	feed_ip(&r, OV_OTHER, t0 + 3600, "192.0.2.7", 0);
	assert_int_equal(kw_engine_stats(r.engine)->keys_evicted, 1);
	assert_int_equal(kw_engine_stats(r.engine)->overflow_blocks, 0);
	ov_probe(&r, t0, 0);
	assert_int_equal(kw_engine_stats(r.engine)->keys_restored, 1);
	assert_int_equal(kw_engine_stats(r.engine)->overflow_blocks, 1);
	rig_down(&r);
	rmdir(dir);
}

/*
 * A changelog record of another keywatch's layout carries its learning
 * over as a state file of that layout does. The record and its layout are
 * taken from tests/golden/state-ops-v1/state, written by keywatch de687d2
 * (ops at layout version 1): a changelog record is the state file's
 * record, alone, and its layout the file's state size and sections. The
 * key learnt three operations (learn: 1h); afterwards it uses one of
 * them again and one new one: exactly one ops.first_seen, as de687d2
 * gives. Read in this keywatch's own layout the record is refused.
 */
static void test_import_key_of_older_layout(void **state)
{
	static const char req[] =
		"{\"created\":%d,\"method\":\"GET\",\"path\":\"%s\","
		"\"status\":200,\"ip\":\"203.0.113.5\",\"api_key\":"
		"\"sk_live_51HxStateCarriedOverKeyxxxxx5a5a\"}\n";
	struct kw_engine_input in = {NULL, NULL, 7};
	unsigned char *file, *layout, *rec;
	size_t len = 0, off, words, bitmap, nlay, nrec;
	struct kw_error err;
	struct rig r;
	char buf[512];
	FILE *f;
	int n;

	(void)state;
	f = fopen(KW_SOURCE_ROOT "/tests/golden/state-ops-v1/state", "rb");
	assert_non_null(f);
	file = malloc(1 << 16);
	assert_non_null(file);
	len = fread(file, 1, 1 << 16, f);
	fclose(f);
	assert_true(len > 24 && !memcmp(file, "KWSTATE\0\4\0\0\0", 12));
	/* the sections, after the header */
	off = 28;
	for (unsigned i = 0; i < kw_le_get32(file + 24); i++)
		off += 13 + file[off + 12];
	nlay = 4 + off - 24;
	layout = malloc(nlay);
	assert_non_null(layout);
	memcpy(layout, file + 12, 4); /* the state's size */
	memcpy(layout + 4, file + 24, off - 24);
	/* the one record */
	rec = file + off;
	words = (kw_le_get32(file + 12) + 7) / 8;
	bitmap = (words + 7) / 8;
	nrec = 48 + bitmap;
	for (size_t i = 0; i < bitmap; i++)
		nrec += 8 * (size_t)__builtin_popcount(rec[48 + i]);
	assert_true(off + nrec + 16 < len);

	rig_up_with(&r, "{\"learn\": \"1h\"}", "keywatch");
	assert_int_equal(kw_engine_import_key(r.engine, 7, NULL, 0, NULL, rec,
					      nrec, &err),
			 KW_ECORRUPT);
	assert_int_equal(kw_engine_import_key(r.engine, 7, layout, nlay,
					      "changelog t/0", rec, nrec, &err),
			 KW_OK);
	n = snprintf(buf, sizeof(buf), req, 1795777200, "/v1/customers");
	kw_engine_feed(r.engine, buf, (size_t)n, "api.log", &in);
	n = snprintf(buf, sizeof(buf), req, 1795777260, "/v1/balance");
	kw_engine_feed(r.engine, buf, (size_t)n, "api.log", &in);
	kw_engine_finish(r.engine);
	assert_int_equal(kw_engine_stats(r.engine)->keys_restored, 1);
	assert_int_equal(r.cap.n, 1);
	assert_string_equal(get(r.cap.alerts[0], "detector"), "ops.first_seen");
	assert_string_equal(get(r.cap.alerts[0], "time"),
			    "2026-11-27T11:01:00Z");
	rig_down(&r);
	free(layout);
	free(file);
}

/* ops keeps a key's first eight operations in a list and makes its
 * filter, the overflow part, at the ninth: a key that learns twelve
 * (learn: 1h) knows its fourth and eleventh afterwards, and a
 * thirteenth is ops.first_seen, and nothing else. */
static const char *const ov_paths[] = {
	"/v1/charges",	     "/v1/customers", "/v1/refunds", "/v1/balance",
	"/v1/invoices",	     "/v1/products",  "/v1/prices",  "/v1/coupons",
	"/v1/tax_rates",     "/v1/disputes",  "/v1/events",  "/v1/plans",
	"/v1/subscriptions",
};

static void feed_path(struct rig *r, int64_t t, const char *path)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf),
			 "{\"created\":%lld,\"method\":\"GET\","
			 "\"path\":\"%s\",\"status\":200,"
			 "\"ip\":\"203.0.113.5\",\"api_key\":\"%s\"}\n",
			 (long long)t, path, OV_KEY);

	kw_engine_feed(r->engine, buf, (size_t)n, "api.log", NULL);
}

static void test_overflow_part_ops(void **state)
{
	int64_t t0 = INT64_C(1795766400);
	struct rig r;

	(void)state;
	rig_up_with(&r, ov_config, NULL);
	/* the list reads counted by a harvesting counter: its part */
	for (int i = 0; i < 8; i++)
		feed_path(&r, t0 + 60 * i, ov_paths[i]);
	assert_int_equal(kw_engine_stats(r.engine)->overflow_blocks, 1);
	assert_int_equal(kw_engine_stats(r.engine)->overflow_bytes, 208);
	/* and ops' filter at the ninth operation */
	feed_path(&r, t0 + 60 * 8, ov_paths[8]);
	assert_int_equal(kw_engine_stats(r.engine)->overflow_blocks, 2);
	assert_int_equal(kw_engine_stats(r.engine)->overflow_bytes, 208 + 128);
	for (int i = 9; i < 12; i++)
		feed_path(&r, t0 + 60 * i, ov_paths[i]);
	feed_path(&r, t0 + 7200, ov_paths[3]); /* listed, then filtered */
	feed_path(&r, t0 + 7230, ov_paths[10]);
	feed_path(&r, t0 + 7260, ov_paths[12]);
	kw_engine_finish(r.engine);
	assert_int_equal(r.cap.n, 1);
	assert_string_equal(get(r.cap.alerts[0], "detector"), "ops.first_seen");
	assert_string_equal(get(r.cap.alerts[0], "time"),
			    "2026-11-27T10:01:00Z");
	rig_down(&r);
}

/* Past max_keys a key evicted and seen again is inserted again: the
 * distinct keys are then estimated from their fingerprints, not counted
 * as insertions. 300 keys three times over a table of 100. */
static void test_distinct_keys_past_max(void **state)
{
	int64_t t0 = INT64_C(1795766400);
	const struct kw_engine_stats *st;
	struct rig r;
	char key[64];

	(void)state;
	rig_up_with(&r, ov_config, NULL);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 300; i++) {
			snprintf(key, sizeof(key),
				 "sk_live_51HxDistinctKey%05dxxxxxx", i);
			feed_ip(&r, key, t0 + 3600 * round + i, "203.0.113.5",
				0);
			if (round || i != 99)
				continue;
			/* the table full, nothing evicted yet: counted */
			st = kw_engine_stats(r.engine);
			assert_false(st->keys_estimated);
			assert_int_equal(st->keys_distinct, 100);
		}
	}
	kw_engine_finish(r.engine);
	st = kw_engine_stats(r.engine);
	assert_int_equal(st->events, 900);
	assert_int_equal(st->keys_seen, 900);
	assert_int_equal(st->keys_evicted, 800);
	assert_true(st->keys_estimated);
	/* within 1% (the sketch's standard error is 1.6%), and the same
	 * in every run: the fingerprints are */
	assert_int_equal(st->keys_distinct, 303);
	rig_down(&r);
}

static void feed_half(struct rig *r, const char *key, uint64_t stream,
		      int64_t t0, int half)
{
	struct kw_engine_input in = {NULL, NULL, stream};
	char buf[8192];
	size_t n = pattern(buf, sizeof(buf), key, t0, half ? 13 : 0,
			   half ? 27 : 13);

	kw_engine_feed(r->engine, buf, n, "kafka:api", &in);
}

/* What the cross hook was handed: of which stream, with a key or not. */
static struct {
	uint64_t stream;
	unsigned keyed, unkeyed;
	char last_id[64];
} crossed;

static bool take_stream_5(void *ctx, uint64_t stream, const struct kw_event *ev,
			  const struct kw_keyent *key)
{
	(void)ctx;
	(void)ev;
	if (stream != 5)
		return false;
	crossed.stream = stream;
	if (key) {
		crossed.keyed++;
		snprintf(crossed.last_id, sizeof(crossed.last_id), "%s",
			 kw_keyent_id(key));
	} else {
		crossed.unkeyed++;
	}
	return true;
}

/* Five keys denied to one IP, and one request without a key, on stream. */
static void feed_guesses(struct rig *r, uint64_t stream, const char *ip)
{
	struct kw_engine_input in = {NULL, NULL, stream};
	char buf[4096];
	size_t n = 0;

	for (int i = 0; i <= 5; i++) {
		char key[64] = "";

		if (i)
			snprintf(key, sizeof(key),
				 ",\"api_key\":\"sk_live_51Hguessguessguess%"
				 "04d\"",
				 i);
		n += (size_t)snprintf(
			buf + n, sizeof(buf) - n,
			"{\"id\":\"req_%d\",\"created\":%d,\"method\":\"GET\","
			"\"path\":\"/v1/"
			"balance\",\"status\":401,\"ip\":\"%s\"%s}\n",
			i, 1795766400 + i, ip, key);
	}
	kw_engine_feed(r->engine, buf, n, "kafka:api", &in);
}

/* The cross hook takes what spans keys of the streams it wants: the
 * engine's own table of IPs does not count them (no alert from stream
 * 5's guesses, one from stream 6's), and an alert raised elsewhere comes
 * back through kw_engine_alert: admitted with its stream, then routed. */
static void test_cross_hook(void **state)
{
	struct rig r;
	struct kw_alert a;
	struct kw_alert_key ak;

	(void)state;
	for (unsigned threads = 1; threads <= 2; threads++) {
		memset(&crossed, 0, sizeof(crossed));
		rig_cross = take_stream_5;
		rig_up_threads(&r, "{}", NULL, threads);
		rig_cross = NULL;
		feed_guesses(&r, 5, "203.0.113.9");
		feed_guesses(&r, 6, "198.51.100.7");
		kw_engine_finish(r.engine);
		assert_int_equal(r.cap.n, 1);
		assert_string_equal(get(r.cap.alerts[0], "detector"),
				    "auth.failures");
		assert_non_null(strstr(get(r.cap.alerts[0], "summary"),
				       "IP 198.51.100.7 "));
		assert_true(crossed.stream == 5);
		assert_int_equal(crossed.keyed, 5);
		assert_int_equal(crossed.unkeyed, 1);
		assert_string_equal(crossed.last_id, "sk_live_" E "0005");

		memset(&ak, 0, sizeof(ak));
		snprintf(ak.id, sizeof(ak.id), "sk_live_" E "0003");
		assert_int_equal(kw_alert_init(&a, "auth.failures", KW_SEV_HIGH,
					       INT64_C(1795766403) * 1000000,
					       &ak),
				 KW_OK);
		kw_alert_summary(&a, "counted elsewhere");
		kw_alert_set_id(&a, "ip=203.0.113.9");
		a.stream = 5;
		admitted_stream = 0;
		kw_engine_alert(r.engine, &a);
		assert_int_equal(r.cap.n, 2);
		assert_true(admitted_stream == 5);
		assert_string_equal(get(r.cap.alerts[1], "summary"),
				    "counted elsewhere");
		rig_down(&r);
	}
}

/* The keys' hints (kw_shard_hash_ahead and the rest) change no result:
 * 800 keys, each with its error burst, their requests interleaved, give
 * the same alerts (one rate.errors for each key, and the one IP's many
 * keys) whether the shards ask for keys ahead from the start, never, or
 * (the default) once their tables have grown past a few dozen keys, which
 * these do half way through. */
static int by_string(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_hints(void **state)
{
	enum { KEYS = 800, STEPS = 27 };
	static const size_t hint_keys[] = {SIZE_MAX, 1, 0};
	static char ids[3][KEYS + 8][80];
	static char buf[KEYS * 200];
	struct kw_engine_input in = {NULL, NULL, 0};
	size_t got[3];
	struct rig r;

	(void)state;
	for (size_t h = 0; h < 3; h++) {
		const char *sorted[CAP_MAX];
		size_t bursts = 0;

		rig_hint_keys = hint_keys[h];
		rig_up_threads(&r,
			       "{\"max_keys\": 1000, \"detectors\": {"
			       "\"rate.errors\": {\"window\": \"1m\"}}}",
			       NULL, 1);
		rig_hint_keys = 0;
		for (int i = 0; i < STEPS; i++) {
			size_t n = 0;

			for (int k = 0; k < KEYS; k++) {
				char key[64];

				snprintf(key, sizeof(key),
					 "sk_live_51HxHintedKeyxxxxxxxxx%04d",
					 k);
				n += pattern(buf + n, sizeof(buf) - n, key,
					     INT64_C(1795766400), i, i + 1);
			}
			kw_engine_feed(r.engine, buf, n, "hints", &in);
		}
		kw_engine_finish(r.engine);
		got[h] = r.cap.n;
		assert_in_range(got[h], KEYS, KEYS + 8);
		for (size_t i = 0; i < got[h]; i++) {
			if (!strcmp(get(r.cap.alerts[i], "detector"),
				    "rate.errors"))
				bursts++;
			sorted[i] = get(r.cap.alerts[i], "id");
		}
		assert_int_equal(bursts, KEYS);
		qsort(sorted, got[h], sizeof(*sorted), by_string);
		for (size_t i = 0; i < got[h]; i++)
			snprintf(ids[h][i], sizeof(ids[h][i]), "%s", sorted[i]);
		for (size_t i = 1; i < got[h]; i++)
			assert_string_not_equal(ids[h][i - 1], ids[h][i]);
		if (h > 0) {
			assert_int_equal(got[h], got[0]);
			assert_memory_equal(ids[h], ids[0], sizeof(ids[0]));
		}
		rig_down(&r);
	}
}

static void test_stream_moves(void **state)
{
	const uint64_t S = 5, T = 6;
	int64_t t0 = INT64_C(1795766400);
	struct exported x = {0}, none = {0};
	char whole[64], fp_a[17];
	struct rig r, r2;
	struct kw_error err;

	(void)state;
	/* One engine reads all of A's requests. */
	rig_up_with(&r, streams_config, NULL);
	feed_half(&r, KEY_A, S, t0, 0);
	feed_half(&r, KEY_A, S, t0, 1);
	kw_engine_finish(r.engine);
	assert_int_equal(r.cap.n, 1);
	snprintf(whole, sizeof(whole), "%s", get(r.cap.alerts[0], "id"));
	snprintf(fp_a, sizeof(fp_a), "%s",
		 get(json_object_get(r.cap.alerts[0], "key"), "fp"));
	rig_down(&r);

	/* Engine 1: the first half, then S is exported and dropped. */
	rig_up_with(&r, streams_config, NULL);
	feed_half(&r, KEY_A, S, t0, 0);
	feed_half(&r, KEY_C, T, t0, 0);
	assert_int_equal(
		kw_engine_export_stream(r.engine, S, false, keep_record, &x),
		KW_OK);
	assert_int_equal(x.n, 1);
	assert_string_equal(x.fp[0], fp_a);
	/* Nothing changed since: nothing to export; an unknown stream has
	 * no keys. */
	assert_int_equal(
		kw_engine_export_stream(r.engine, S, true, keep_record, &none),
		KW_OK);
	assert_int_equal(kw_engine_export_stream(r.engine, 99, false,
						 keep_record, &none),
			 KW_OK);
	assert_int_equal(none.n, 0);
	kw_engine_drop_stream(r.engine, S);
	assert_int_equal(
		kw_engine_export_stream(r.engine, S, false, keep_record, &none),
		KW_OK);
	assert_int_equal(none.n, 0);

	/* Engine 2 takes S over with its record. */
	rig_up_threads(&r2, streams_config, NULL, 2);
	import_all(&r2, S, &x);
	admitted_stream = 0;
	feed_half(&r2, KEY_A, S, t0, 1);
	kw_engine_finish(r2.engine);
	assert_int_equal(r2.cap.n, 1);
	assert_true(admitted_stream == S); /* the key's, for the journal */
	assert_string_equal(get(r2.cap.alerts[0], "id"), whole);
	rig_down(&r2);

	/* Without it, the second half alone raises nothing. */
	rig_up_with(&r2, streams_config, NULL);
	feed_half(&r2, KEY_A, S, t0, 1);
	kw_engine_finish(r2.engine);
	assert_int_equal(r2.cap.n, 0);
	rig_down(&r2);

	/* Engine 1 gets S back: A's dropped entry starts from the record. */
	import_all(&r, S, &x);
	feed_half(&r, KEY_C, T, t0, 1);
	feed_half(&r, KEY_A, S, t0, 1);
	kw_engine_finish(r.engine);
	assert_int_equal(r.cap.n, 2);
	assert_true(!strcmp(get(r.cap.alerts[0], "id"), whole) ||
		    !strcmp(get(r.cap.alerts[1], "id"), whole));
	rig_down(&r);

	/* Records damaged in transit are refused, naming the key. */
	rig_up_with(&r, streams_config, NULL);
	{
		char msg[256];
		unsigned char *big = calloc(1, 1 << 20);

		assert_non_null(big);
		assert_int_equal(kw_engine_import_key(r.engine, S, NULL, 0,
						      NULL, x.rec[0],
						      x.len[0] - 1, &err),
				 KW_ECORRUPT);
		snprintf(msg, sizeof(msg), "state record of key %s: cut short",
			 fp_a);
		assert_string_equal(err.msg, msg);
		memcpy(big, x.rec[0], x.len[0]);
		assert_int_equal(kw_engine_import_key(r.engine, S, NULL, 0,
						      NULL, big, x.len[0] + 8,
						      &err),
				 KW_ECORRUPT);
		snprintf(msg, sizeof(msg),
			 "state record of key %s: 8 bytes past the record's "
			 "end",
			 fp_a);
		assert_string_equal(err.msg, msg);
		assert_int_equal(kw_engine_import_key(r.engine, S, NULL, 0,
						      NULL, big, 1 << 20, &err),
				 KW_ECORRUPT);
		assert_non_null(strstr(err.msg, "more than a record's"));
		assert_int_equal(kw_engine_import_key(r.engine, S, NULL, 0,
						      NULL, big, 3, &err),
				 KW_ECORRUPT);
		assert_string_equal(err.msg, "state record: cut short");
		/* first seen after last seen */
		memcpy(big, x.rec[0], x.len[0]);
		big[8 + 7] = 0x7f;
		assert_int_equal(kw_engine_import_key(r.engine, S, NULL, 0,
						      NULL, big, x.len[0],
						      &err),
				 KW_ECORRUPT);
		snprintf(msg, sizeof(msg),
			 "state record of key %s: first and last seen times "
			 "out of order or out of range",
			 fp_a);
		assert_string_equal(err.msg, msg);
		free(big);
	}
	rig_down(&r);
	exported_free(&x);
}

/*
 * A stream that starts behind the others (a partition restored into an
 * instance whose other partitions are hours ahead) has its keys' windows
 * closed by its own time, not by the instance's. Key B's rate.errors
 * burst has a request of the next minute in its middle (within the
 * lateness: requests come a little out of order). Read after stream A
 * (key C, three hours ahead), B's window still gets its 25 denied
 * requests and raises exactly the alert B raises read alone; and so it
 * does when its first half was read by another engine and moved
 * (exported, imported) into one whose stream A is ahead.
 */
static size_t disordered(char *buf, size_t cap, const char *key, int64_t t0,
			 int from, int to)
{
	size_t n = 0;

	for (int i = from; i < to; i++) {
		bool denied = i > 0 && i < 27 && i != 13;
		int64_t t = i == 0    ? t0
			    : i < 13  ? t0 + 600 + i
			    : i == 13 ? t0 + 661
			    : i < 27  ? t0 + 599 + i
				      : t0 + 1200;

		n += (size_t)snprintf(buf + n, cap - n,
				      "{\"created\":%lld,\"method\":\"GET\","
				      "\"path\":\"/v1/balance\",\"status\":%d,"
				      "\"ip\":\"203.0.113.5\",\"api_key\":"
				      "\"%s\"}\n",
				      (long long)t, denied ? 401 : 200, key);
		assert_true(n < cap);
	}
	return n;
}

static void feed_behind(struct rig *r, uint64_t stream, int64_t t0, int from,
			int to)
{
	struct kw_engine_input in = {NULL, NULL, stream};
	char buf[8192];
	size_t n = disordered(buf, sizeof(buf), KEY_B, t0, from, to);

	kw_engine_feed(r->engine, buf, n, "kafka:api", &in);
}

static void feed_ahead(struct rig *r, uint64_t stream, int64_t t0)
{
	struct kw_engine_input in = {NULL, NULL, stream};
	char buf[8192];
	size_t n = pattern(buf, sizeof(buf), KEY_C, t0 + 3 * 3600, 0, 27);

	kw_engine_feed(r->engine, buf, n, "kafka:api", &in);
}

static void test_stream_behind(void **state)
{
	const uint64_t A = 3, S = 5;
	int64_t t0 = INT64_C(1795766400);
	struct exported x = {0};
	char alone[512], got[512], b_alone[64];
	struct rig r, rb;

	(void)state;
	/* Each key read alone. */
	rig_up_with(&rb, streams_config, NULL);
	feed_behind(&rb, 0, t0, 0, 28);
	kw_engine_finish(rb.engine);
	assert_int_equal(rb.cap.n, 1);
	assert_string_equal(get(rb.cap.alerts[0], "detector"), "rate.errors");
	assert_string_equal(get(rb.cap.alerts[0], "summary"),
			    "sk_live_" E "2b2b had 25 requests denied "
			    "(401/403) of 25 in the 60 s from "
			    "2026-11-27T08:10:00Z");
	snprintf(b_alone, sizeof(b_alone), "%s", get(rb.cap.alerts[0], "id"));
	rig_up_with(&r, streams_config, NULL);
	feed_ahead(&r, 0, t0);
	kw_engine_finish(r.engine);
	assert_int_equal(r.cap.n, 1);
	r.cap.alerts[r.cap.n++] = json_incref(rb.cap.alerts[0]);
	alert_ids(&r, alone, sizeof(alone));
	rig_down(&rb);
	rig_down(&r);

	/* B's stream starts when A's is three hours on. */
	for (unsigned threads = 0; threads <= 2; threads += 2) {
		rig_up_threads(&r, streams_config, NULL, threads);
		feed_ahead(&r, A, t0);
		feed_behind(&r, S, t0, 0, 14);
		feed_behind(&r, S, t0, 14, 28);
		kw_engine_finish(r.engine);
		assert_int_equal(kw_engine_stats(r.engine)->late, 0);
		alert_ids(&r, got, sizeof(got));
		assert_string_equal(got, alone);
		rig_down(&r);
	}

	/* B's first half read by engine 1, then its stream moved into
	 * engine 2, whose stream A is three hours on. */
	rig_up_with(&r, streams_config, NULL);
	feed_behind(&r, S, t0, 0, 14);
	assert_int_equal(
		kw_engine_export_stream(r.engine, S, false, keep_record, &x),
		KW_OK);
	assert_int_equal(x.n, 1);
	kw_engine_drop_stream(r.engine, S);
	kw_engine_finish(r.engine);
	assert_int_equal(r.cap.n, 0);
	rig_down(&r);
	for (unsigned threads = 0; threads <= 2; threads += 2) {
		rig_up_threads(&r, streams_config, NULL, threads);
		feed_ahead(&r, A, t0);
		import_all(&r, S, &x);
		feed_behind(&r, S, t0, 14, 28);
		kw_engine_finish(r.engine);
		assert_int_equal(kw_engine_stats(r.engine)->late, 0);
		alert_ids(&r, got, sizeof(got));
		assert_string_equal(got, alone);
		assert_non_null(strstr(got, b_alone));
		rig_down(&r);
	}
	exported_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alerts_and_stats),
		cmocka_unit_test(test_per_key_stats),
		cmocka_unit_test(test_format_forced),
		cmocka_unit_test(test_feed_per_input),
		cmocka_unit_test(test_feed_per_record),
		cmocka_unit_test(test_read_paths_merged),
		cmocka_unit_test(test_lateness),
		cmocka_unit_test(test_evict_and_unreadable),
		cmocka_unit_test(test_flood_keeps_learned_key),
		cmocka_unit_test(test_short_window_while_waiting),
		cmocka_unit_test(test_lazy_windows_close_as_swept),
		cmocka_unit_test(test_late_window_waits_for_next_sweep),
		cmocka_unit_test(test_loaded_window_closes_on_time),
		cmocka_unit_test(test_overflow_part),
		cmocka_unit_test(test_overflow_part_saved),
		cmocka_unit_test(test_overflow_part_exported),
		cmocka_unit_test(test_overflow_part_located),
		cmocka_unit_test(test_overflow_parts_both),
		cmocka_unit_test(test_overflow_part_evicted),
		cmocka_unit_test(test_import_key_of_older_layout),
		cmocka_unit_test(test_overflow_part_ops),
		cmocka_unit_test(test_distinct_keys_past_max),
		cmocka_unit_test(test_stream_time),
		cmocka_unit_test(test_stream_quiet),
		cmocka_unit_test(test_hints),
		cmocka_unit_test(test_stream_moves),
		cmocka_unit_test(test_cross_hook),
		cmocka_unit_test(test_stream_behind),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
