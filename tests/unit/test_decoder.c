/*
 * test_decoder.c - the format decoders (keywatch JSONL with aliases and
 * --map, CloudTrail), sniffing, the field map syntax and the shared helpers.
 *
 * The one idea: every skip is asserted by its exact logged line
 * ("keywatch: warning: FILE:LINE: MESSAGE"), captured from stderr, so the
 * messages the README and the golden tests quote cannot drift unnoticed.
 * The last test measures decode throughput and prints it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "core/time.h"
#include "ingest/decoder.h"
#include "ingest/json_scan.h"

#define T0 INT64_C(1764230400) /* 2025-11-27T08:00:00Z */
#define US(s) ((int64_t)(s)*KW_USEC_PER_SEC)
#define MAXEV 16

/* A decoding run: the events, the skips, and what was logged. */
struct run {
	struct kw_arena arena;
	struct kw_skips skips;
	struct kw_event ev[MAXEV];
	size_t n;
	char log[8192];
};

/* ---- stderr capture ---- */

static int saved_fd = -1;
static FILE *cap_file;

static void capture_begin(void)
{
	fflush(stderr);
	cap_file = tmpfile();
	assert_non_null(cap_file);
	saved_fd = dup(2);
	assert_true(saved_fd >= 0);
	assert_true(dup2(fileno(cap_file), 2) >= 0);
}

static void capture_end(char *buf, size_t cap)
{
	size_t got;

	fflush(stderr);
	dup2(saved_fd, 2);
	close(saved_fd);
	saved_fd = -1;
	rewind(cap_file);
	got = fread(buf, 1, cap - 1, cap_file);
	buf[got] = '\0';
	fclose(cap_file);
	cap_file = NULL;
}

/* ---- running a decoder ---- */

static void run_init(struct run *r)
{
	memset(r, 0, sizeof(*r));
	kw_arena_init(&r->arena, 0);
}

static int run_teardown(void **state)
{
	struct run *r = *state;

	kw_arena_destroy(&r->arena);
	free(r);
	return 0;
}

static int run_setup(void **state)
{
	struct run *r = malloc(sizeof(*r));

	assert_non_null(r);
	run_init(r);
	*state = r;
	return 0;
}

/* Decode lines[0..n) (line i+1, file "t.jsonl") with the named decoder and
 * the given maps. Resets the run first. */
static size_t decode(struct run *r, const char *format,
		     const struct kw_field_map *map, size_t nmap,
		     const char *const *lines, size_t n)
{
	const struct kw_decoder_ops *ops = kw_decoder_find(format);
	struct kw_decoder_conf conf = {.map = map, .nmap = nmap};
	struct kw_record recs[MAXEV];
	struct kw_error err;
	void *self = NULL;

	assert_non_null(ops);
	assert_true(n <= MAXEV);
	kw_arena_reset(&r->arena);
	memset(&r->skips, 0, sizeof(r->skips));
	memset(r->ev, 0, sizeof(r->ev));
	for (size_t i = 0; i < n; i++) {
		recs[i].p = lines[i];
		recs[i].n = strlen(lines[i]);
		recs[i].line = i + 1;
	}
	assert_int_equal(ops->create(&conf, &self, &err), KW_OK);
	capture_begin();
	r->n = ops->decode(self, recs, n, r->ev, &r->arena, &r->skips,
			   "t.jsonl");
	capture_end(r->log, sizeof(r->log));
	ops->destroy(self);
	return r->n;
}

/* Decode one record (as line 1) and expect it to give one event. */
static const struct kw_event *one(struct run *r, const char *format,
				  const struct kw_field_map *map, size_t nmap,
				  const char *line)
{
	const char *lines[1] = {line};

	decode(r, format, map, nmap, lines, 1);
	if (r->n != 1)
		fail_msg("expected an event from %s, log: %s", line, r->log);
	assert_int_equal(r->skips.total, 0);
	assert_string_equal(r->log, "");
	return &r->ev[0];
}

/* Decode one record and expect exactly one skip of this reason with this
 * message. */
static void skip_is(struct run *r, const char *format,
		    const struct kw_field_map *map, size_t nmap,
		    const char *line, enum kw_skip_reason reason,
		    const char *msg)
{
	const char *lines[1] = {line};
	char want[1024];

	decode(r, format, map, nmap, lines, 1);
	snprintf(want, sizeof(want), "keywatch: warning: t.jsonl:1: %s\n", msg);
	assert_string_equal(r->log, want);
	assert_int_equal(r->n, 0);
	assert_int_equal(r->skips.total, 1);
	assert_int_equal(r->skips.count[reason], 1);
}

/* A record that is no problem to skip (KW_SKIP_KEYLESS, KW_SKIP_NOT_DATA):
 * counted, logged at debug level only, with this message. */
static void quiet_skip_is(struct run *r, const char *format,
			  const struct kw_field_map *map, size_t nmap,
			  const char *line, enum kw_skip_reason reason,
			  const char *msg)
{
	const char *lines[1] = {line};
	char want[1024];

	decode(r, format, map, nmap, lines, 1);
	assert_string_equal(r->log, "");
	assert_int_equal(r->n, 0);
	assert_int_equal(r->skips.total, 1);
	assert_int_equal(r->skips.count[reason], 1);
	kw_log_set_level(KW_LOG_DEBUG);
	decode(r, format, map, nmap, lines, 1);
	kw_log_set_level(KW_LOG_INFO);
	snprintf(want, sizeof(want), "keywatch: debug: t.jsonl:1: %s\n", msg);
	assert_string_equal(r->log, want);
}

/* A CloudTrail record that no key made: counted, logged at debug only. */
static void keyless_is(struct run *r, const struct kw_field_map *map,
		       size_t nmap, const char *line)
{
	const char *lines[1] = {line};

	decode(r, "cloudtrail", map, nmap, lines, 1);
	assert_string_equal(r->log, "");
	assert_int_equal(r->n, 0);
	assert_int_equal(r->skips.total, 1);
	assert_int_equal(r->skips.count[KW_SKIP_KEYLESS], 1);
}

static void assert_str(struct kw_str s, const char *want)
{
	char buf[1024];

	assert_true(s.n < sizeof(buf));
	if (s.n)
		memcpy(buf, s.p, s.n);
	buf[s.n] = '\0';
	assert_string_equal(buf, want);
}

/* A complete keywatch record with the field `extra` spliced in front. */
#define KW_REC(extra)                                                          \
	"{" extra "\"method\":\"POST\",\"path\":\"/v1/refunds\","              \
	"\"status\":200}"
#define KW_FULL(extra)                                                         \
	KW_REC("\"created\":1764230400,\"api_key\":\"sk_live_abc\"," extra)

/* ---- field names and --map ---- */

static void test_field_names(void **state)
{
	static const char *const want[] = {
		"created", "api_key",	  "method",	"path",	  "status",
		"ip",	   "id",	  "user_agent", "origin", "livemode",
		"source",  "duration_ms", "@root"};

	(void)state;
	for (unsigned f = 0; f < KW_FIELD_MAX; f++) {
		assert_string_equal(kw_field_name(f), want[f]);
		assert_int_equal(kw_field_lookup(want[f]), f);
	}
	assert_null(kw_field_name(KW_FIELD_MAX));
	assert_int_equal(kw_field_lookup("timestamp"), KW_FIELD_CREATED);
	assert_int_equal(kw_field_lookup("time"), KW_FIELD_CREATED);
	assert_int_equal(kw_field_lookup("created_at"), KW_FIELD_CREATED);
	assert_int_equal(kw_field_lookup("key"), KW_FIELD_API_KEY);
	assert_int_equal(kw_field_lookup("key_id"), KW_FIELD_API_KEY);
	assert_int_equal(kw_field_lookup("url"), KW_FIELD_PATH);
	assert_int_equal(kw_field_lookup("status_code"), KW_FIELD_STATUS);
	assert_int_equal(kw_field_lookup("ip_address"), KW_FIELD_IP);
	assert_int_equal(kw_field_lookup("source_ip"), KW_FIELD_IP);
	assert_int_equal(kw_field_lookup("request_id"), KW_FIELD_ID);
	assert_int_equal(kw_field_lookup("Created"), KW_FIELD_MAX);
	assert_int_equal(kw_field_lookup("create"), KW_FIELD_MAX);
	assert_int_equal(kw_field_lookup(""), KW_FIELD_MAX);
	assert_int_equal(kw_field_lookup(NULL), KW_FIELD_MAX);
}

static void test_map_parse(void **state)
{
	struct kw_field_map m;
	struct kw_error err;
	const char *spec = "api_key=headers.x-api-key";

	(void)state;
	assert_int_equal(kw_field_map_parse(spec, &m, &err), KW_OK);
	assert_int_equal(m.field, KW_FIELD_API_KEY);
	assert_string_equal(m.path, "headers.x-api-key");

	assert_int_equal(kw_field_map_parse("timestamp=@timestamp", &m, &err),
			 KW_OK);
	assert_int_equal(m.field, KW_FIELD_CREATED);
	assert_string_equal(m.path, "@timestamp");
	/* Only the first '=' splits. */
	assert_int_equal(kw_field_map_parse("path=a=b", &m, &err), KW_OK);
	assert_int_equal(m.field, KW_FIELD_PATH);
	assert_string_equal(m.path, "a=b");

	assert_int_equal(kw_field_map_parse("foo=bar", &m, &err), KW_EUSAGE);
	assert_string_equal(err.msg,
			    "--map 'foo=bar': unknown field 'foo' (fields: "
			    "created, api_key, method, path, status, ip, id, "
			    "user_agent, origin, livemode, source, "
			    "duration_ms, @root)");
	assert_int_equal(kw_field_map_parse("api_key", &m, &err), KW_EUSAGE);
	assert_string_equal(err.msg, "--map 'api_key': expected FIELD=PATH");
	assert_int_equal(kw_field_map_parse("=x", &m, &err), KW_EUSAGE);
	assert_string_equal(err.msg, "--map '=x': expected FIELD=PATH");
	assert_int_equal(kw_field_map_parse("ip=", &m, &err), KW_EUSAGE);
	assert_string_equal(err.msg, "--map 'ip=': expected FIELD=PATH");
	assert_int_equal(kw_field_map_parse("", &m, &err), KW_EUSAGE);
	assert_string_equal(err.msg, "--map '': expected FIELD=PATH");
	assert_int_equal(kw_field_map_parse("ip=a..b", &m, &err), KW_EUSAGE);
	assert_string_equal(err.msg,
			    "--map 'ip=a..b': path 'a..b' has an empty step");
	assert_int_equal(kw_field_map_parse("ip=.a", &m, &err), KW_EUSAGE);
	assert_string_equal(err.msg,
			    "--map 'ip=.a': path '.a' has an empty step");
	assert_int_equal(kw_field_map_parse("ip=a.", &m, &err), KW_EUSAGE);
	assert_string_equal(err.msg,
			    "--map 'ip=a.': path 'a.' has an empty step");
}

/* ---- keywatch: fields and aliases ---- */

static void test_full_record(void **state)
{
	struct run *r = *state;
	const struct kw_event *ev;
	char ipbuf[64];

	ev = one(r, "keywatch", NULL, 0,
		 "{\"id\":\"req_8Hq2LkV0aZ\",\"created\":1764230400,"
		 "\"method\":\"POST\",\"path\":\"/v1/refunds\",\"status\":200,"
		 "\"ip\":\"203.0.113.7\",\"api_key\":\"rk_live_51Hx...a1b2\","
		 "\"user_agent\":\"Stripe/v1 PythonBindings/12.0.0\","
		 "\"livemode\":true,\"duration_ms\":84,"
		 "\"origin\":\"https://shop.example\",\"source\":\"api\"}");
	assert_int_equal(ev->ts, US(T0));
	assert_str(ev->key, "rk_live_51Hx...a1b2");
	assert_str(ev->method, "POST");
	assert_str(ev->path, "/v1/refunds");
	assert_int_equal(ev->status, 200);
	assert_int_equal(ev->ip.family, 4);
	assert_string_equal(kw_ip_format(&ev->ip, ipbuf, sizeof(ipbuf)),
			    "203.0.113.7");
	assert_str(ev->request_id, "req_8Hq2LkV0aZ");
	assert_str(ev->user_agent, "Stripe/v1 PythonBindings/12.0.0");
	assert_str(ev->origin, "https://shop.example");
	assert_str(ev->source, "api");
	assert_int_equal(ev->livemode, 1);
	assert_string_equal(ev->file, "t.jsonl");
	assert_int_equal(ev->line, 1);
	assert_int_equal(ev->op.n, 0);
	assert_int_equal(ev->resource.n, 0);
}

static void test_minimal_record(void **state)
{
	struct run *r = *state;
	const struct kw_event *ev = one(r, "keywatch", NULL, 0, KW_FULL(""));

	assert_int_equal(ev->ip.family, 0);
	assert_int_equal(ev->livemode, -1);
	assert_int_equal(ev->request_id.n, 0);
	assert_int_equal(ev->user_agent.n, 0);
	assert_int_equal(ev->origin.n, 0);
	assert_int_equal(ev->source.n, 0);
	/* null is absent; an empty ip is absent; livemode false is 0 */
	ev = one(r, "keywatch", NULL, 0,
		 KW_FULL("\"ip\":\"\",\"origin\":null,\"user_agent\":null,"
			 "\"livemode\":false,\"duration_ms\":1.5,"));
	assert_int_equal(ev->ip.family, 0);
	assert_int_equal(ev->origin.n, 0);
	assert_int_equal(ev->livemode, 0);
}

static void test_aliases(void **state)
{
	struct run *r = *state;
	const struct kw_event *ev;
	char ipbuf[64];

	ev = one(r, "keywatch", NULL, 0,
		 KW_REC("\"timestamp\":1764230401,\"key\":\"k1\","));
	assert_int_equal(ev->ts, US(T0 + 1));
	assert_str(ev->key, "k1");
	ev = one(r, "keywatch", NULL, 0,
		 KW_REC("\"time\":1764230402,\"key_id\":\"k2\","));
	assert_int_equal(ev->ts, US(T0 + 2));
	assert_str(ev->key, "k2");
	ev = one(r, "keywatch", NULL, 0,
		 KW_REC("\"created_at\":\"2025-11-27T08:00:03Z\","
			"\"api_key\":\"k3\","));
	assert_int_equal(ev->ts, US(T0 + 3));
	ev = one(r, "keywatch", NULL, 0,
		 "{\"created\":1764230400,\"api_key\":\"k\",\"method\":\"GET\","
		 "\"url\":\"/v1/charges\",\"status_code\":404,"
		 "\"ip_address\":\"2001:db8::1\",\"request_id\":\"req_1\"}");
	assert_str(ev->path, "/v1/charges");
	assert_int_equal(ev->status, 404);
	assert_int_equal(ev->ip.family, 6);
	assert_string_equal(kw_ip_format(&ev->ip, ipbuf, sizeof(ipbuf)),
			    "2001:db8::1");
	assert_str(ev->request_id, "req_1");
	ev = one(r, "keywatch", NULL, 0,
		 KW_FULL("\"source_ip\":\"198.51.100.4\","));
	assert_string_equal(kw_ip_format(&ev->ip, ipbuf, sizeof(ipbuf)),
			    "198.51.100.4");
}

static void test_precedence(void **state)
{
	struct run *r = *state;
	const struct kw_event *ev;

	/* canonical first, then the aliases in the spec's order, whatever
	 * the order in the record */
	ev = one(
		r, "keywatch", NULL, 0,
		KW_REC("\"created_at\":1764230403,\"time\":1764230402,"
		       "\"timestamp\":1764230401,\"created\":1764230400,"
		       "\"key_id\":\"k3\",\"key\":\"k2\",\"api_key\":\"k1\","));
	assert_int_equal(ev->ts, US(T0));
	assert_str(ev->key, "k1");
	ev = one(r, "keywatch", NULL, 0,
		 KW_REC("\"created_at\":1764230403,\"time\":1764230402,"
			"\"timestamp\":1764230401,"
			"\"key_id\":\"k3\",\"key\":\"k2\","));
	assert_int_equal(ev->ts, US(T0 + 1));
	assert_str(ev->key, "k2");
	ev = one(r, "keywatch", NULL, 0,
		 KW_REC("\"created_at\":1764230403,\"time\":1764230402,"
			"\"key_id\":\"k3\","));
	assert_int_equal(ev->ts, US(T0 + 2));
	assert_str(ev->key, "k3");
	/* null counts as absent: the alias is used */
	ev = one(r, "keywatch", NULL, 0,
		 KW_REC("\"created\":null,\"time\":1764230402,"
			"\"api_key\":null,\"key\":\"k2\","));
	assert_int_equal(ev->ts, US(T0 + 2));
	assert_str(ev->key, "k2");
	/* path beats url, status beats status_code, ip beats the others */
	ev = one(r, "keywatch", NULL, 0,
		 "{\"created\":1764230400,\"api_key\":\"k\",\"method\":\"GET\","
		 "\"url\":\"/u\",\"path\":\"/p\",\"status_code\":500,"
		 "\"status\":201,\"source_ip\":\"10.0.0.3\","
		 "\"ip_address\":\"10.0.0.2\",\"ip\":\"10.0.0.1\","
		 "\"request_id\":\"r2\",\"id\":\"r1\"}");
	assert_str(ev->path, "/p");
	assert_int_equal(ev->status, 201);
	assert_int_equal(ev->ip.addr[3], 1);
	assert_str(ev->request_id, "r1");
	/* duplicate keys: the last one wins (as jansson) */
	ev = one(r, "keywatch", NULL, 0,
		 KW_FULL("\"status\":500,\"status\":201,"));
	assert_int_equal(ev->status, 200);
}

static void test_map_decode(void **state)
{
	struct run *r = *state;
	struct kw_field_map map[3];
	const struct kw_event *ev;
	struct kw_error err;
	const char *line =
		"{\"@timestamp\":\"2025-11-27T09:00:00+01:00\","
		"\"api_key\":\"not-this\",\"request\":{\"method\":\"get\","
		"\"uri\":\"https://api.example.com/v1/x?y=1\","
		"\"headers\":{\"x-api-key\":\"k_nested\"}},\"status\":204}";

	(void)state;
	assert_int_equal(kw_field_map_parse("api_key=request.headers.x-api-key",
					    &map[0], &err),
			 KW_OK);
	assert_int_equal(kw_field_map_parse("time=@timestamp", &map[1], &err),
			 KW_OK);
	assert_int_equal(
		kw_field_map_parse("method=request.method", &map[2], &err),
		KW_OK);
	/* the path is still read through its default names: map it too */
	ev = one(r, "keywatch", map, 3,
		 "{\"@timestamp\":\"2025-11-27T09:00:00+01:00\","
		 "\"api_key\":\"not-this\",\"request\":{\"method\":\"get\","
		 "\"headers\":{\"x-api-key\":\"k_nested\"}},\"path\":\"/v1\","
		 "\"status\":204}");
	assert_str(ev->key, "k_nested");
	assert_int_equal(ev->ts, US(T0));
	assert_str(ev->method, "GET");
	assert_str(ev->path, "/v1");

	struct kw_field_map m4[4] = {map[0], map[1], map[2]};

	assert_int_equal(kw_field_map_parse("url=request.uri", &m4[3], &err),
			 KW_OK);
	ev = one(r, "keywatch", m4, 4, line);
	assert_str(ev->path, "/v1/x");
	assert_str(ev->key, "k_nested");

	/* the map replaces the names: without the nested key, no key, even
	 * though "api_key" is in the record: a request made without one */
	ev = one(r, "keywatch", m4, 4,
		 "{\"@timestamp\":1764230400,\"api_key\":\"k\",\"request\":{"
		 "\"method\":\"GET\",\"uri\":\"/\"},\"status\":200}");
	assert_int_equal(ev->key.n, 0);
	skip_is(r, "keywatch", m4, 4,
		"{\"@timestamp\":1764230400,\"api_key\":\"k\",\"request\":{"
		"\"uri\":\"/\"},\"status\":200}",
		KW_SKIP_NO_KEY, "no api_key field (request.headers.x-api-key)");
	skip_is(r, "keywatch", m4, 4,
		"{\"@timestamp\":1764230400,\"request\":{\"method\":\"GET\","
		"\"uri\":\"/\",\"headers\":{\"x-api-key\":7}},\"status\":200}",
		KW_SKIP_BAD_FIELD,
		"field 'api_key' (request.headers.x-api-key) is not a string");
	skip_is(r, "keywatch", m4, 4,
		"{\"created\":1764230400,\"request\":{\"method\":\"GET\","
		"\"uri\":\"/\",\"headers\":{\"x-api-key\":\"k\"}},"
		"\"status\":200}",
		KW_SKIP_NO_TIME, "no created field (@timestamp)");
	skip_is(r, "keywatch", m4, 4,
		"{\"@timestamp\":\"now\",\"request\":{\"method\":\"GET\","
		"\"uri\":\"/\",\"headers\":{\"x-api-key\":\"k\"}},"
		"\"status\":200}",
		KW_SKIP_BAD_FIELD,
		"field 'created' (@timestamp): not an RFC 3339 time \"now\"");
	/* a step that is not an object: absent */
	skip_is(r, "keywatch", m4, 4,
		"{\"@timestamp\":1764230400,\"request\":\"flat\","
		"\"status\":200}",
		KW_SKIP_NO_KEY, "no api_key field (request.headers.x-api-key)");
}

/* ---- time ---- */

static void test_time_numbers(void **state)
{
	struct run *r = *state;

	assert_int_equal(one(r, "keywatch", NULL, 0,
			     KW_REC("\"created\":1764230400,\"key\":\"k\","))
				 ->ts,
			 INT64_C(1764230400000000));
	assert_int_equal(one(r, "keywatch", NULL, 0,
			     KW_REC("\"created\":1764230400.25,\"key\":\"k\","))
				 ->ts,
			 INT64_C(1764230400250000));
	assert_int_equal(
		one(r, "keywatch", NULL, 0,
		    KW_REC("\"created\":1764230400.123456,\"key\":\"k\","))
			->ts,
		INT64_C(1764230400123456));
	assert_int_equal(one(r, "keywatch", NULL, 0,
			     KW_REC("\"created\":1764230400123,\"key\":\"k\","))
				 ->ts,
			 INT64_C(1764230400123000));
	assert_int_equal(
		one(r, "keywatch", NULL, 0,
		    KW_REC("\"created\":1764230400123.5,\"key\":\"k\","))
			->ts,
		INT64_C(1764230400123500));
	assert_int_equal(one(r, "keywatch", NULL, 0,
			     KW_REC("\"created\":1.7642304e9,\"key\":\"k\","))
				 ->ts,
			 INT64_C(1764230400000000));
	assert_int_equal(one(r, "keywatch", NULL, 0,
			     KW_REC("\"created\":0,\"key\":\"k\","))
				 ->ts,
			 0);
	/* the largest second count and the largest millisecond count */
	assert_int_equal(one(r, "keywatch", NULL, 0,
			     KW_REC("\"created\":253402300799,\"key\":\"k\","))
				 ->ts,
			 INT64_C(253402300799000000));
	assert_int_equal(
		one(r, "keywatch", NULL, 0,
		    KW_REC("\"created\":253402300799999,\"key\":\"k\","))
			->ts,
		INT64_C(253402300799999000));
	skip_is(r, "keywatch", NULL, 0, KW_REC("\"created\":-5,\"key\":\"k\","),
		KW_SKIP_BAD_FIELD, "field 'created': impossible timestamp -5");
	skip_is(r, "keywatch", NULL, 0,
		KW_REC("\"created\":-0.5,\"key\":\"k\","), KW_SKIP_BAD_FIELD,
		"field 'created': impossible timestamp -0.5");
	/* 1e12 itself is seconds: year 33658 */
	skip_is(r, "keywatch", NULL, 0,
		KW_REC("\"created\":1000000000000,\"key\":\"k\","),
		KW_SKIP_BAD_FIELD,
		"field 'created': impossible timestamp 1000000000000");
	skip_is(r, "keywatch", NULL, 0,
		KW_REC("\"created\":253402300800,\"key\":\"k\","),
		KW_SKIP_BAD_FIELD,
		"field 'created': impossible timestamp 253402300800");
	skip_is(r, "keywatch", NULL, 0,
		KW_REC("\"timestamp\":1e300,\"key\":\"k\","), KW_SKIP_BAD_FIELD,
		"field 'created' (timestamp): impossible timestamp 1e300");
	skip_is(r, "keywatch", NULL, 0,
		KW_REC("\"created\":true,\"key\":\"k\","), KW_SKIP_BAD_FIELD,
		"field 'created' is not a number or a string");
	skip_is(r, "keywatch", NULL, 0,
		KW_REC("\"created\":{\"s\":1},\"key\":\"k\","),
		KW_SKIP_BAD_FIELD,
		"field 'created' is not a number or a string");
}

static void test_time_strings(void **state)
{
	struct run *r = *state;

	assert_int_equal(one(r, "keywatch", NULL, 0,
			     KW_REC("\"created\":\"2025-11-27T08:00:00Z\","
				    "\"key\":\"k\","))
				 ->ts,
			 US(T0));
	assert_int_equal(
		one(r, "keywatch", NULL, 0,
		    KW_REC("\"created\":\"2025-11-27T09:30:00.5+01:30\","
			   "\"key\":\"k\","))
			->ts,
		US(T0) + 500000);
	assert_int_equal(
		one(r, "keywatch", NULL, 0,
		    KW_REC("\"created\":\"2025-11-27T03:00:00.123456789"
			   "-05:00\",\"key\":\"k\","))
			->ts,
		US(T0) + 123456);
	assert_int_equal(
		one(r, "keywatch", NULL, 0,
		    KW_REC("\"created\":\"2025-11-27 08:00:00.000001z\","
			   "\"key\":\"k\","))
			->ts,
		US(T0) + 1);
	skip_is(r, "keywatch", NULL, 0,
		KW_REC("\"created\":\"2025-02-29T00:00:00Z\",\"key\":\"k\","),
		KW_SKIP_BAD_FIELD,
		"field 'created': not an RFC 3339 time "
		"\"2025-02-29T00:00:00Z\"");
	skip_is(r, "keywatch", NULL, 0,
		KW_REC("\"created\":\"1764230400\",\"key\":\"k\","),
		KW_SKIP_BAD_FIELD,
		"field 'created': not an RFC 3339 time \"1764230400\"");
	skip_is(r, "keywatch", NULL, 0,
		KW_REC("\"created\":\"2025-11-27T08:00:00\",\"key\":\"k\","),
		KW_SKIP_BAD_FIELD,
		"field 'created': not an RFC 3339 time "
		"\"2025-11-27T08:00:00\"");
}

static void test_decode_time_direct(void **state)
{
	struct kw_json_value v = {0};
	int64_t ts = 42;

	(void)state;
	assert_false(kw_decode_time(NULL, &ts));
	v.type = KW_JSON_TRUE;
	assert_false(kw_decode_time(&v, &ts));
	v.type = KW_JSON_INTEGER;
	v.i = 1764230400;
	v.d = 1764230400.0;
	assert_true(kw_decode_time(&v, &ts));
	assert_int_equal(ts, US(T0));
	v.type = KW_JSON_REAL;
	v.d = 1764230400123.25;
	assert_true(kw_decode_time(&v, &ts));
	assert_int_equal(ts, INT64_C(1764230400123250));
	v.d = -1;
	ts = 42;
	assert_false(kw_decode_time(&v, &ts));
	assert_int_equal(ts, 42);
	v.type = KW_JSON_STRING;
	v.p = "1970-01-01T00:00:00Z";
	v.n = strlen(v.p);
	assert_true(kw_decode_time(&v, &ts));
	assert_int_equal(ts, 0);
	v.p = "1969-12-31T23:59:59Z";
	v.n = strlen(v.p);
	assert_false(kw_decode_time(&v, &ts));
}

/* ---- skips ---- */

/* What the scanner says about text (the decoder passes it on as is). */
static void scanner_msg(const char *text, char *out, size_t cap)
{
	const char *paths[] = {"x"};
	struct kw_json_paths *jp = NULL;
	struct kw_json_value v[1];
	struct kw_error err;
	struct kw_arena a;

	kw_arena_init(&a, 0);
	assert_int_equal(kw_json_paths_create(paths, 1, &jp, &err), KW_OK);
	assert_int_equal(kw_json_scan(jp, text, strlen(text), v, &a, &err),
			 KW_EINVAL);
	kw_json_paths_destroy(jp);
	kw_arena_destroy(&a);
	snprintf(out, cap, "%s", err.msg);
}

static void test_skip_json(void **state)
{
	struct run *r = *state;
	const char *bad = "{\"created\":1764230400,\"api_key\":\"k\"";
	char want[KW_ERROR_MSG_MAX];

	scanner_msg(bad, want, sizeof(want));
	assert_memory_equal(want, "invalid JSON at column ", 23);
	skip_is(r, "keywatch", NULL, 0, bad, KW_SKIP_BAD_JSON, want);
	skip_is(r, "cloudtrail", NULL, 0, bad, KW_SKIP_BAD_JSON, want);
	/* a bare string is not a JSON text for jansson's default flags */
	scanner_msg("\"sk_live_x\"", want, sizeof(want));
	assert_memory_equal(want, "invalid JSON at column ", 23);
	skip_is(r, "keywatch", NULL, 0, "\"sk_live_x\"", KW_SKIP_BAD_JSON,
		want);

	skip_is(r, "keywatch", NULL, 0, "[1,2]", KW_SKIP_BAD_JSON,
		"expected a JSON object, got an array");
	skip_is(r, "cloudtrail", NULL, 0, " \n[{\"eventVersion\":\"1\"}]",
		KW_SKIP_BAD_JSON, "expected a JSON object, got an array");
}

static void test_skip_key(void **state)
{
	struct run *r = *state;
	char line[1024], key[600];

	/* A whole request without a key: an unauthenticated request, an
	 * event with an empty key. */
	assert_int_equal(
		one(r, "keywatch", NULL, 0, KW_REC("\"created\":1764230400,"))
			->key.n,
		0);
	assert_int_equal(one(r, "keywatch", NULL, 0,
			     KW_REC("\"created\":1764230400,\"api_key\":null,"))
				 ->key.n,
			 0);
	assert_int_equal(one(r, "keywatch", NULL, 0,
			     KW_REC("\"created\":1764230400,\"api_key\":\"\","))
				 ->status,
			 200);
	/* No key and no whole request: damage, named by the key. */
	skip_is(r, "keywatch", NULL, 0, "{\"created\":1764230400}",
		KW_SKIP_NO_KEY, "no api_key field");
	skip_is(r, "keywatch", NULL, 0,
		"{\"created\":1764230400,\"api_key\":null,\"method\":\"GET\"}",
		KW_SKIP_NO_KEY, "no api_key field");
	skip_is(r, "keywatch", NULL, 0,
		"{\"api_key\":\"\",\"method\":\"GET\",\"path\":\"/\","
		"\"status\":401}",
		KW_SKIP_NO_KEY, "field 'api_key' is empty");
	skip_is(r, "keywatch", NULL, 0,
		"{\"created\":1764230400,\"key_id\":\"\",\"status\":401}",
		KW_SKIP_NO_KEY, "field 'api_key' (key_id) is empty");
	/* A wrong value in a request without a key is that value's damage. */
	skip_is(r, "keywatch", NULL, 0, KW_REC("\"created\":\"yesterday\","),
		KW_SKIP_BAD_FIELD,
		"field 'created': not an RFC 3339 time \"yesterday\"");
	skip_is(r, "keywatch", NULL, 0,
		KW_REC("\"created\":1764230400,\"api_key\":42,"),
		KW_SKIP_BAD_FIELD, "field 'api_key' is not a string");
	skip_is(r, "keywatch", NULL, 0,
		KW_REC("\"created\":1764230400,\"key\":[\"k\"],"),
		KW_SKIP_BAD_FIELD, "field 'api_key' (key) is not a string");
	skip_is(r, "keywatch", NULL, 0,
		KW_REC("\"created\":1764230400,"
		       "\"api_key\":\"sk_live_secret\\u0001\","),
		KW_SKIP_BAD_FIELD,
		"field 'api_key' contains a control character");
	skip_is(r, "keywatch", NULL, 0,
		KW_REC("\"created\":1764230400,"
		       "\"api_key\":\"sk_live_secret\\u007f\","),
		KW_SKIP_BAD_FIELD,
		"field 'api_key' contains a control character");

	/* 512 bytes pass, 513 do not; the key never appears in the log */
	memset(key, 'A', 512);
	key[512] = '\0';
	snprintf(line, sizeof(line),
		 KW_REC("\"created\":1764230400,\"api_key\":\"%s\","), key);
	assert_int_equal(one(r, "keywatch", NULL, 0, line)->key.n, 512);
	key[512] = 'A';
	key[513] = '\0';
	snprintf(line, sizeof(line),
		 KW_REC("\"created\":1764230400,\"key\":\"%s\","), key);
	skip_is(r, "keywatch", NULL, 0, line, KW_SKIP_BAD_FIELD,
		"field 'api_key' (key) is longer than 512 bytes");
	assert_null(strstr(r->log, "AAAA"));
}

static void test_skip_time(void **state)
{
	struct run *r = *state;

	skip_is(r, "keywatch", NULL, 0, KW_REC("\"api_key\":\"k\","),
		KW_SKIP_NO_TIME, "no created field");
	skip_is(r, "keywatch", NULL, 0,
		KW_REC("\"api_key\":\"k\",\"created\":null,\"time\":null,"),
		KW_SKIP_NO_TIME, "no created field");
	/* no key and no time: the key is checked first */
	skip_is(r, "keywatch", NULL, 0, KW_REC(""), KW_SKIP_NO_KEY,
		"no api_key field");
}

static void test_skip_fields(void **state)
{
	struct run *r = *state;

	skip_is(r, "keywatch", NULL, 0,
		"{\"created\":1764230400,\"api_key\":\"k\",\"path\":\"/\","
		"\"status\":200}",
		KW_SKIP_BAD_FIELD, "no method field");
	skip_is(r, "keywatch", NULL, 0,
		"{\"created\":1764230400,\"api_key\":\"k\",\"method\":\"GET\","
		"\"status\":200}",
		KW_SKIP_BAD_FIELD, "no path field");
	skip_is(r, "keywatch", NULL, 0,
		"{\"created\":1764230400,\"api_key\":\"k\",\"method\":\"GET\","
		"\"path\":\"/\"}",
		KW_SKIP_BAD_FIELD, "no status field");
	skip_is(r, "keywatch", NULL, 0,
		"{\"created\":1764230400,\"api_key\":\"k\",\"method\":1,"
		"\"path\":\"/\",\"status\":200}",
		KW_SKIP_BAD_FIELD, "field 'method' is not a string");
	skip_is(r, "keywatch", NULL, 0,
		"{\"created\":1764230400,\"api_key\":\"k\",\"method\":\"GE T\","
		"\"path\":\"/\",\"status\":200}",
		KW_SKIP_BAD_FIELD,
		"field 'method': not an HTTP method \"GE T\"");
	skip_is(r, "keywatch", NULL, 0,
		"{\"created\":1764230400,\"api_key\":\"k\",\"method\":\"\","
		"\"path\":\"/\",\"status\":200}",
		KW_SKIP_BAD_FIELD, "field 'method': not an HTTP method \"\"");
	skip_is(r, "keywatch", NULL, 0,
		"{\"created\":1764230400,\"api_key\":\"k\",\"method\":\"GET\","
		"\"path\":\"\",\"status\":200}",
		KW_SKIP_BAD_FIELD, "field 'path' is empty");
	skip_is(r, "keywatch", NULL, 0,
		"{\"created\":1764230400,\"api_key\":\"k\",\"method\":\"GET\","
		"\"url\":\"?a=1\",\"status\":200}",
		KW_SKIP_BAD_FIELD, "field 'path' (url): no path in \"?a=1\"");
	skip_is(r, "keywatch", NULL, 0,
		"{\"created\":1764230400,\"api_key\":\"k\",\"method\":\"GET\","
		"\"path\":[\"/\"],\"status\":200}",
		KW_SKIP_BAD_FIELD, "field 'path' is not a string");
	skip_is(r, "keywatch", NULL, 0,
		"{\"created\":1764230400,\"api_key\":\"k\",\"method\":\"GET\","
		"\"path\":\"/\",\"status\":\"200\"}",
		KW_SKIP_BAD_FIELD, "field 'status' is not an integer");
	skip_is(r, "keywatch", NULL, 0,
		"{\"created\":1764230400,\"api_key\":\"k\",\"method\":\"GET\","
		"\"path\":\"/\",\"status\":200.0}",
		KW_SKIP_BAD_FIELD, "field 'status' is not an integer");
	skip_is(r, "keywatch", NULL, 0,
		"{\"created\":1764230400,\"api_key\":\"k\",\"method\":\"GET\","
		"\"path\":\"/\",\"status\":99}",
		KW_SKIP_BAD_FIELD, "field 'status': impossible HTTP status 99");
	skip_is(r, "keywatch", NULL, 0,
		"{\"created\":1764230400,\"api_key\":\"k\",\"method\":\"GET\","
		"\"path\":\"/\",\"status_code\":600}",
		KW_SKIP_BAD_FIELD,
		"field 'status' (status_code): impossible HTTP status 600");
	assert_int_equal(
		one(r, "keywatch", NULL, 0,
		    "{\"created\":1764230400,\"api_key\":\"k\","
		    "\"method\":\"GET\",\"path\":\"/\",\"status\":100}")
			->status,
		100);
	assert_int_equal(
		one(r, "keywatch", NULL, 0,
		    "{\"created\":1764230400,\"api_key\":\"k\","
		    "\"method\":\"GET\",\"path\":\"/\",\"status\":599}")
			->status,
		599);

	skip_is(r, "keywatch", NULL, 0, KW_FULL("\"ip\":\"abc\","),
		KW_SKIP_BAD_FIELD, "field 'ip': not an IP address \"abc\"");
	skip_is(r, "keywatch", NULL, 0,
		KW_FULL("\"ip_address\":\"1.2.3.4.5\","), KW_SKIP_BAD_FIELD,
		"field 'ip' (ip_address): not an IP address \"1.2.3.4.5\"");
	/* an IPv4 address takes no zone (issue 9); an IPv6 one may */
	skip_is(r, "keywatch", NULL, 0, KW_FULL("\"ip\":\"1.2.3.4%x\","),
		KW_SKIP_BAD_FIELD,
		"field 'ip': not an IP address \"1.2.3.4%x\"");
	skip_is(r, "keywatch", NULL, 0, KW_FULL("\"ip\":\"1.2.3.4%\","),
		KW_SKIP_BAD_FIELD,
		"field 'ip': not an IP address \"1.2.3.4%\"");
	assert_int_equal(
		one(r, "keywatch", NULL, 0, KW_FULL("\"ip\":\"fe80::1%eth0\","))
			->ip.family,
		6);
	/* quoted values: 40 bytes at most, escaped */
	skip_is(r, "keywatch", NULL, 0,
		KW_FULL("\"ip\":\"\\u0001\\\"\\\\\\u00e9"
			"0123456789012345678901234567890123456789\","),
		KW_SKIP_BAD_FIELD,
		"field 'ip': not an IP address "
		"\"\\x01\\\"\\\\\\xc3\\xa901234567890123456789012345678901234\""
		"...");
	skip_is(r, "keywatch", NULL, 0, KW_FULL("\"ip\":3232235777,"),
		KW_SKIP_BAD_FIELD, "field 'ip' is not a string");
	skip_is(r, "keywatch", NULL, 0, KW_FULL("\"id\":17,"),
		KW_SKIP_BAD_FIELD, "field 'id' is not a string");
	skip_is(r, "keywatch", NULL, 0, KW_FULL("\"request_id\":false,"),
		KW_SKIP_BAD_FIELD, "field 'id' (request_id) is not a string");
	skip_is(r, "keywatch", NULL, 0, KW_FULL("\"user_agent\":{},"),
		KW_SKIP_BAD_FIELD, "field 'user_agent' is not a string");
	skip_is(r, "keywatch", NULL, 0, KW_FULL("\"origin\":1,"),
		KW_SKIP_BAD_FIELD, "field 'origin' is not a string");
	skip_is(r, "keywatch", NULL, 0, KW_FULL("\"source\":[],"),
		KW_SKIP_BAD_FIELD, "field 'source' is not a string");
	skip_is(r, "keywatch", NULL, 0, KW_FULL("\"livemode\":\"true\","),
		KW_SKIP_BAD_FIELD, "field 'livemode' is not a boolean");
	skip_is(r, "keywatch", NULL, 0, KW_FULL("\"livemode\":1,"),
		KW_SKIP_BAD_FIELD, "field 'livemode' is not a boolean");
	skip_is(r, "keywatch", NULL, 0, KW_FULL("\"duration_ms\":\"84\","),
		KW_SKIP_BAD_FIELD, "field 'duration_ms' is not a number");
}

static void test_skip_line_numbers(void **state)
{
	struct run *r = *state;
	const char *lines[] = {
		KW_FULL(""),
		"not json",
		"{\"created\":1764230400}",
		KW_FULL("\"ip\":\"x\","),
		KW_REC("\"api_key\":\"k\","),
	};

	decode(r, "keywatch", NULL, 0, lines, 5);
	assert_int_equal(r->n, 1);
	assert_non_null(strstr(r->log, "keywatch: warning: t.jsonl:2: invalid "
				       "JSON at column "));
	assert_non_null(strstr(r->log, "\nkeywatch: warning: t.jsonl:3: no "
				       "api_key field\n"));
	assert_non_null(strstr(r->log, "\nkeywatch: warning: t.jsonl:4: field "
				       "'ip': not an IP address \"x\"\n"));
	assert_non_null(strstr(r->log, "\nkeywatch: warning: t.jsonl:5: no "
				       "created field\n"));
}

static void test_sample_limit(void **state)
{
	struct run *r = *state;
	const char *lines[8];
	char want[512];

	for (int i = 0; i < 8; i++)
		lines[i] = KW_FULL("\"livemode\":\"x\",");
	decode(r, "keywatch", NULL, 0, lines, 8);
	assert_int_equal(r->n, 0);
	assert_int_equal(r->skips.count[KW_SKIP_BAD_FIELD], 8);
	/* the 5 samples and the notice; the rest only counted */
	snprintf(want, sizeof(want),
		 "keywatch: warning: t.jsonl:5: field 'livemode' is not a "
		 "boolean\nkeywatch: warning: further 'bad_field' problems "
		 "are only counted\n");
	assert_non_null(strstr(r->log, want));
	assert_null(strstr(r->log, "t.jsonl:6"));
}

/* ---- method, path, escapes ---- */

static void test_method_path(void **state)
{
	struct run *r = *state;
	const struct kw_event *ev;

	ev = one(
		r, "keywatch", NULL, 0,
		"{\"created\":1764230400,\"api_key\":\"k\",\"method\":\"pOst\","
		"\"path\":\"https://api.stripe.com:443/v1/refunds/re_1?expand"
		"[]=charge#top\",\"status\":200}");
	assert_str(ev->method, "POST");
	assert_str(ev->path, "/v1/refunds/re_1");
	ev = one(r, "keywatch", NULL, 0,
		 "{\"created\":1764230400,\"api_key\":\"k\","
		 "\"method\":\"M-SEARCH\",\"url\":\"/v1/charges?limit=3\","
		 "\"status\":200}");
	assert_str(ev->method, "M-SEARCH");
	assert_str(ev->path, "/v1/charges");
	ev = one(r, "keywatch", NULL, 0,
		 "{\"created\":1764230400,\"api_key\":\"k\",\"method\":\"GET\","
		 "\"url\":\"http://example.com\",\"status\":200}");
	assert_str(ev->path, "/");
}

/* Byte b as it goes into a JSON string (escaped when it must be; from
 * 0x80 as UTF-8), into m; and whether it is an RFC 9110 token character. */
static void json_byte(unsigned b, char *m, size_t cap)
{
	if (b < 0x20 || b == '"' || b == '\\')
		snprintf(m, cap, "\\u%04x", b);
	else if (b >= 0x80)
		snprintf(m, cap, "%c%c", 0xC0 | (b >> 6), 0x80 | (b & 0x3F));
	else
		snprintf(m, cap, "%c", (char)b);
}

static bool token_byte(unsigned b)
{
	static const char tchars[] = "!#$%&'*+-.^_`|~";

	return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') ||
	       (b >= 'A' && b <= 'Z') || (b < 0x80 && strchr(tchars, (int)b));
}

/* Methods decoded MAXEV records at a time (method_add, method_flush):
 * before[b]after is taken (a lower-case letter upper-cased) when b is a
 * token character, else its record is dropped. */
struct method_batch {
	char line[MAXEV][256];
	char want[MAXEV][64]; /* "": dropped */
	size_t n;
};

static void method_flush(struct run *r, struct method_batch *mb)
{
	const char *lines[MAXEV];
	size_t k = 0, dropped = 0;

	for (size_t i = 0; i < mb->n; i++)
		lines[i] = mb->line[i];
	decode(r, "keywatch", NULL, 0, lines, mb->n);
	for (size_t i = 0; i < mb->n; i++) {
		size_t n = strlen(mb->want[i]);

		if (!n) {
			dropped++;
			continue;
		}
		if (k >= r->n || r->ev[k].method.n != n ||
		    memcmp(r->ev[k].method.p, mb->want[i], n) != 0)
			fail_msg("%s: not decoded as %s (log: %s)", mb->line[i],
				 mb->want[i], r->log);
		k++;
	}
	assert_int_equal(r->n, k);
	assert_int_equal(r->skips.count[KW_SKIP_BAD_FIELD], dropped);
	mb->n = 0;
}

static void method_add(struct run *r, struct method_batch *mb,
		       const char *before, unsigned b, const char *after)
{
	char m[16], *w = mb->want[mb->n];

	json_byte(b, m, sizeof(m));
	snprintf(mb->line[mb->n], sizeof(mb->line[0]),
		 "{\"created\":1764230400,\"api_key\":\"k\","
		 "\"method\":\"%s%s%s\",\"path\":\"/\",\"status\":200}",
		 before, m, after);
	w[0] = '\0';
	if (token_byte(b)) {
		snprintf(w, sizeof(mb->want[0]), "%s%c%s", before, (char)b,
			 after);
		for (char *c = w; *c; c++)
			*c = *c >= 'a' && *c <= 'z' ? (char)(*c - 32) : *c;
	}
	if (++mb->n == MAXEV)
		method_flush(r, mb);
}

/* Every byte in a method, through the decoder's byte table: an RFC 9110
 * token character is taken (a lower-case letter upper-cased), any other
 * byte (escaped in the JSON when it must be; from 0x80 as UTF-8) drops
 * the record. */
static void test_method_bytes(void **state)
{
	static struct method_batch mb;
	struct run *r = *state;

	mb.n = 0;
	for (unsigned b = 1; b < 256; b++)
		method_add(r, &mb, "g", b, "t");
	method_flush(r, &mb);
}

/* The common methods (GET, PUT, POST, HEAD, PATCH, DELETE), known without
 * the byte table when written in upper case: each with any one byte
 * changed, one byte put in anywhere, or one cut off, decodes as the byte
 * table says. */
static void test_method_common(void **state)
{
	static const char *const common[] = {"GET",  "PUT",   "POST",
					     "HEAD", "PATCH", "DELETE"};
	static struct method_batch mb;
	struct run *r = *state;
	char before[16];

	mb.n = 0;
	for (size_t m = 0; m < sizeof(common) / sizeof(common[0]); m++) {
		const char *c = common[m];
		size_t n = strlen(c);

		for (size_t i = 0; i <= n; i++) {
			snprintf(before, sizeof(before), "%.*s", (int)i, c);
			for (unsigned b = 1; b < 256; b++) {
				if (i < n)
					method_add(r, &mb, before, b,
						   c + i + 1);
				method_add(r, &mb, before, b, c + i);
			}
		}
		/* itself, and one byte short */
		snprintf(before, sizeof(before), "%.*s", (int)n - 1, c);
		method_add(r, &mb, before, (unsigned char)c[n - 1], "");
		snprintf(before, sizeof(before), "%.*s", (int)n - 2, c);
		method_add(r, &mb, before, (unsigned char)c[n - 2], "");
	}
	method_flush(r, &mb);
}

static void test_decode_path(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"/v1/refunds", "/v1/refunds"},
		{"/v1/refunds?limit=3", "/v1/refunds"},
		{"/v1/refunds#frag", "/v1/refunds"},
		{"/v1/x?a=/b#c", "/v1/x"},
		{"https://api.stripe.com/v1/charges", "/v1/charges"},
		{"HTTP://h:8080/a/b?c", "/a/b"},
		{"https://user@h.example/p#x", "/p"},
		{"https://h.example", "/"},
		{"https://h.example?x=1", "/"},
		{"https://h.example#x", "/"},
		{"svn+ssh://h/repo", "/repo"},
		{"v1/charges", "v1/charges"},
		{"/a:b//c", "/a:b//c"},
		{"1http://h/p", "1http://h/p"},
		{"?q", ""},
		{"", ""},
	};

	static const char chars[] = "/?#ab";
	char buf[40];
	uint64_t x = 0x70617468ULL;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kw_str s = kw_decode_path(kw_str_c(cases[i].in));

		assert_str(s, cases[i].out);
	}
	/* the query or fragment is found eight bytes at a time: any length,
	 * any position, against a byte-by-byte search */
	for (int i = 0; i < 100000; i++) {
		size_t n, cut;
		struct kw_str s;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		n = (size_t)(x % sizeof(buf));
		buf[0] = '/';
		for (size_t k = 1; k < n; k++)
			buf[k] = chars[(x >> (k % 50)) % 5 < 2 ? 4
							       : (x >> k) % 5];
		if (n > 1 && (x >> 40) % 3 == 0)
			buf[(x >> 20) % n] = (x >> 30) % 2 ? '?' : '#';
		for (cut = 0; cut < n && buf[cut] != '?' && buf[cut] != '#';
		     cut++)
			;
		s = kw_decode_path((struct kw_str){buf, n});
		assert_ptr_equal(s.p, buf);
		assert_int_equal(s.n, cut);
	}
}

static void test_escapes(void **state)
{
	struct run *r = *state;
	const struct kw_event *ev;

	ev = one(r, "keywatch", NULL, 0,
		 KW_REC("\"created\":1764230400,"
			"\"api_key\":\"sk_test_\\u0041\\u00e9\\/"
			"\\ud83d\\ude00x\","
			"\"user_agent\":\"a\\\"b\\\\c\","));
	assert_int_equal(ev->key.n, 17);
	assert_memory_equal(ev->key.p, "sk_test_A\xc3\xa9/\xf0\x9f\x98\x80x",
			    17);
	assert_str(ev->user_agent, "a\"b\\c");
	/* an escaped field name is the same name */
	ev = one(r, "keywatch", NULL, 0,
		 KW_REC("\"cr\\u0065ated\":1764230400,\"api_\\u006bey\":"
			"\"k\","));
	assert_str(ev->key, "k");
	assert_int_equal(ev->ts, US(T0));
}

static void test_quote(void **state)
{
	char buf[KW_DECODE_QUOTE_BUF];
	char small[12];

	(void)state;
	assert_string_equal(kw_decode_quote("abc", 3, buf, sizeof(buf)),
			    "\"abc\"");
	assert_string_equal(kw_decode_quote("", 0, buf, sizeof(buf)), "\"\"");
	assert_string_equal(kw_decode_quote("a\nb\x7f", 4, buf, sizeof(buf)),
			    "\"a\\x0ab\\x7f\"");
	assert_string_equal(
		kw_decode_quote("0123456789-123456789-123456789-123456789-X",
				42, buf, sizeof(buf)),
		"\"0123456789-123456789-123456789-123456789\"...");
	/* a value that looks like a key or token shows only 8 bytes */
	assert_string_equal(
		kw_decode_quote("AKIAIOSFODNN7EXAMPLE", 20, buf, sizeof(buf)),
		"\"AKIAIOSF\"...");
	assert_string_equal(kw_decode_quote("sk_live_51HxAbCdEfGh12345678", 28,
					    buf, sizeof(buf)),
			    "\"sk_live_\"...");
	assert_string_equal(
		kw_decode_quote("2026-13-45T00:00:00Z", 20, buf, sizeof(buf)),
		"\"2026-13-45T00:00:00Z\"");
	assert_string_equal(
		kw_decode_quote("0123456789012345678901234567890123456789", 40,
				buf, sizeof(buf)),
		"\"0123456789012345678901234567890123456789\"");
	/* a small buffer cuts early but stays terminated */
	assert_string_equal(
		kw_decode_quote("abcdefgh", 8, small, sizeof(small)),
		"\"abc\"...");
}

/* ---- batch ---- */

static void test_batch_mixed(void **state)
{
	struct run *r = *state;
	const char *lines[] = {
		KW_REC("\"created\":1764230401,\"api_key\":\"k1\","),
		"{",
		KW_REC("\"created\":1764230402,\"api_key\":\"k2\","),
		"{\"created\":1764230403,\"status\":401}",
		KW_REC("\"api_key\":\"k4\","),
		KW_REC("\"created\":1764230405,\"api_key\":\"k5\","
		       "\"ip\":\"x\","),
		"",
		KW_REC("\"created\":1764230407,\"api_key\":\"k7\","),
	};

	decode(r, "keywatch", NULL, 0, lines, 8);
	assert_int_equal(r->n, 3);
	assert_str(r->ev[0].key, "k1");
	assert_int_equal(r->ev[0].line, 1);
	assert_int_equal(r->ev[0].ts, US(T0 + 1));
	assert_str(r->ev[1].key, "k2");
	assert_int_equal(r->ev[1].line, 3);
	assert_str(r->ev[2].key, "k7");
	assert_int_equal(r->ev[2].line, 8);
	assert_int_equal(r->ev[2].ts, US(T0 + 7));
	assert_int_equal(r->skips.count[KW_SKIP_BAD_JSON], 2);
	assert_int_equal(r->skips.count[KW_SKIP_NO_KEY], 1);
	assert_int_equal(r->skips.count[KW_SKIP_NO_TIME], 1);
	assert_int_equal(r->skips.count[KW_SKIP_BAD_FIELD], 1);
	assert_int_equal(r->skips.total, 5);
}

/* ---- CloudTrail ---- */

#define CT_REC(extra)                                                          \
	"{\"eventVersion\":\"1.08\",\"userIdentity\":{\"type\":\"IAMUser\","   \
	"\"accessKeyId\":\"AKIAIOSFODNN7EXAMPLE\"},"                           \
	"\"eventTime\":\"2025-11-27T08:00:00Z\","                              \
	"\"eventSource\":\"iam.amazonaws.com\",\"eventName\":\"CreateUser\","  \
	"\"awsRegion\":\"us-east-1\"," extra                                   \
	"\"eventID\":\"3c5b6a1e-0000-4000-8000-000000000001\"}"

static void test_cloudtrail(void **state)
{
	struct run *r = *state;
	const struct kw_event *ev;
	char ipbuf[64];

	ev = one(r, "cloudtrail", NULL, 0,
		 CT_REC("\"sourceIPAddress\":\"198.51.100.23\","
			"\"userAgent\":\"aws-cli/2.15.0\","));
	assert_int_equal(ev->ts, US(T0));
	assert_str(ev->key, "AKIAIOSFODNN7EXAMPLE");
	assert_int_equal(ev->ip.family, 4);
	assert_string_equal(kw_ip_format(&ev->ip, ipbuf, sizeof(ipbuf)),
			    "198.51.100.23");
	assert_int_equal(ev->source.n, 0);
	assert_str(ev->op, "iam:CreateUser");
	assert_str(ev->resource, "iam");
	assert_int_equal(ev->status, 200);
	assert_str(ev->user_agent, "aws-cli/2.15.0");
	assert_str(ev->request_id, "3c5b6a1e-0000-4000-8000-000000000001");
	assert_int_equal(ev->method.n, 0);
	assert_int_equal(ev->path.n, 0);
	assert_int_equal(ev->livemode, -1);
	assert_int_equal(ev->line, 1);

	/* a service calling on the user's behalf: the name is the source */
	ev = one(r, "cloudtrail", NULL, 0,
		 CT_REC("\"sourceIPAddress\":\"ec2.amazonaws.com\","));
	assert_int_equal(ev->ip.family, 0);
	assert_str(ev->source, "ec2.amazonaws.com");
	ev = one(r, "cloudtrail", NULL, 0,
		 CT_REC("\"sourceIPAddress\":\"2001:db8::7\","));
	assert_int_equal(ev->ip.family, 6);

	/* an eventSource that is not *.amazonaws.com is kept whole */
	ev = one(r, "cloudtrail", NULL, 0,
		 "{\"eventTime\":\"2025-11-27T08:00:00Z\",\"userIdentity\":{"
		 "\"accessKeyId\":\"ASIAX\"},\"eventSource\":\"custom\","
		 "\"eventName\":\"Do\"}");
	assert_str(ev->op, "custom:Do");
	assert_str(ev->resource, "custom");
	ev = one(r, "cloudtrail", NULL, 0,
		 "{\"eventTime\":\"2025-11-27T08:00:00Z\",\"userIdentity\":{"
		 "\"accessKeyId\":\"ASIAX\"}}");
	assert_int_equal(ev->op.n, 0);
	assert_int_equal(ev->resource.n, 0);
	assert_int_equal(ev->status, 200);
}

/* The extra fields the model's matchers and the engine's principals read:
 * raw object text, strings, the principal (the session issuer, else the
 * identity's ARN), flags; a value of another type is left out, and the
 * record still decodes. */
static void test_cloudtrail_extras(void **state)
{
	struct run *r = *state;
	const struct kw_event *ev;
	const struct kw_event_cloud *c;

	ev = one(r, "cloudtrail", NULL, 0,
		 "{\"eventTime\":\"2025-11-27T08:00:00Z\",\"userIdentity\":{"
		 "\"type\":\"AssumedRole\",\"arn\":\"arn:aws:sts::111122223333:"
		 "assumed-role/ci/s1\",\"accessKeyId\":\"ASIAEXAMPLE0000001\","
		 "\"sessionContext\":{\"sessionIssuer\":{\"type\":\"Role\","
		 "\"arn\":\"arn:aws:iam::111122223333:role/ci\"},"
		 "\"ec2RoleDelivery\":\"2.0\"},\"invokedBy\":"
		 "\"cloudformation.amazonaws.com\"},"
		 "\"eventSource\":\"sts.amazonaws.com\",\"eventName\":"
		 "\"AssumeRole\",\"requestParameters\":{\"roleArn\":\"r\"},"
		 "\"responseElements\":{\"credentials\":{\"accessKeyId\":"
		 "\"ASIAEXAMPLE0000002\"}},\"additionalEventData\":{\"a\":1},"
		 "\"recipientAccountId\":\"111122223333\","
		 "\"sessionCredentialFromConsole\":\"true\"}");
	c = ev->cloud;
	assert_non_null(c);
	assert_str(c->params, "{\"roleArn\":\"r\"}");
	assert_str(
		c->response,
		"{\"credentials\":{\"accessKeyId\":\"ASIAEXAMPLE0000002\"}}");
	assert_str(c->additional, "{\"a\":1}");
	assert_true(c->identity.n > 100 && c->identity.p[0] == '{');
	assert_str(c->account, "111122223333");
	assert_str(c->id_type, "AssumedRole");
	assert_str(c->arn, "arn:aws:sts::111122223333:assumed-role/ci/s1");
	assert_str(c->issuer, "arn:aws:iam::111122223333:role/ci");
	assert_str(c->invoked_by, "cloudformation.amazonaws.com");
	assert_str(c->issued_key, "ASIAEXAMPLE0000002");
	assert_true(c->console);
	assert_true(c->instance);
	assert_str(ev->principal, "arn:aws:iam::111122223333:role/ci");

	/* No issuer: the identity's own ARN; nothing else there. */
	ev = one(r, "cloudtrail", NULL, 0,
		 "{\"eventTime\":\"2025-11-27T08:00:00Z\",\"userIdentity\":{"
		 "\"arn\":\"arn:aws:iam::111122223333:user/ann\","
		 "\"accessKeyId\":\"AKIAEXAMPLE0000001\"},\"eventSource\":"
		 "\"s3.amazonaws.com\",\"eventName\":\"ListBuckets\","
		 "\"requestParameters\":null,\"responseElements\":null}");
	c = ev->cloud;
	assert_str(ev->principal, "arn:aws:iam::111122223333:user/ann");
	assert_int_equal(c->params.n, 0);
	assert_int_equal(c->response.n, 0);
	assert_int_equal(c->issuer.n, 0);
	assert_int_equal(c->invoked_by.n, 0);
	assert_false(c->console);
	assert_false(c->instance);

	/* A role session's ARN without an issuer: the role, less the
	 * session's name (it changes every session). */
	ev = one(r, "cloudtrail", NULL, 0,
		 "{\"eventTime\":\"2025-11-27T08:00:00Z\",\"userIdentity\":{"
		 "\"type\":\"AssumedRole\",\"arn\":\"arn:aws:sts::"
		 "111122223333:assumed-role/ci/run-7\",\"accessKeyId\":"
		 "\"ASIAEXAMPLE0000003\"},\"eventSource\":\"s3.amazonaws.com\","
		 "\"eventName\":\"ListBuckets\"}");
	assert_str(ev->principal, "arn:aws:sts::111122223333:assumed-role/ci");
	assert_str(ev->key, "ASIAEXAMPLE0000003");

	/* No key, but a principal whose acts matter (a console sign-in,
	 * root): kept with an empty key, for the engine to learn on the
	 * principal. */
	ev = one(r, "cloudtrail", NULL, 0,
		 "{\"eventTime\":\"2025-11-27T08:00:00Z\",\"userIdentity\":{"
		 "\"type\":\"Root\",\"arn\":\"arn:aws:iam::111122223333:"
		 "root\"},\"eventSource\":\"signin.amazonaws.com\","
		 "\"eventName\":\"ConsoleLogin\"}");
	assert_int_equal(ev->key.n, 0);
	assert_str(ev->principal, "arn:aws:iam::111122223333:root");
	assert_str(ev->op, "signin:ConsoleLogin");
	assert_false(ev->cloud->console);
	/* A console sign-in (its eventType says so) is the console. */
	ev = one(r, "cloudtrail", NULL, 0,
		 "{\"eventTime\":\"2025-11-27T08:00:00Z\",\"userIdentity\":{"
		 "\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::111122223333:"
		 "user/ann\"},\"eventSource\":\"signin.amazonaws.com\","
		 "\"eventName\":\"ConsoleLogin\",\"eventType\":"
		 "\"AwsConsoleSignIn\"}");
	assert_true(ev->cloud->console);

	/* Wrong types: left out, the record is kept. */
	ev = one(r, "cloudtrail", NULL, 0,
		 CT_REC("\"requestParameters\":\"x\",\"recipientAccountId\":"
			"111122223333,\"sessionCredentialFromConsole\":1,"));
	c = ev->cloud;
	assert_int_equal(c->params.n, 0);
	assert_int_equal(c->account.n, 0);
	assert_false(c->console);
	assert_int_equal(r->skips.total, 0);
}

static void test_cloudtrail_errors(void **state)
{
	static const struct {
		const char *code;
		int status;
	} cases[] = {
		{"AccessDenied", 403},
		{"Client.AccessDenied", 403},
		{"AccessDeniedException", 403},
		{"UnauthorizedOperation", 403},
		{"Client.UnauthorizedOperation", 403},
		{"NotAuthorizedException", 403},
		{"Forbidden", 403},
		{"InvalidClientTokenId", 403},
		{"SignatureDoesNotMatch", 403},
		{"ExpiredToken", 403},
		{"ExpiredTokenException", 403},
		{"AuthFailure", 403},
		{"InvalidAccessKeyId", 403},
		{"UnrecognizedClientException", 403},
		{"Throttling", 429},
		{"ThrottlingException", 429},
		{"Client.Throttling", 429},
		{"TooManyRequestsException", 429},
		{"RequestLimitExceeded", 429},
		{"NoSuchEntity", 400},
		{"EntityAlreadyExists", 400},
		{"ValidationException", 400},
		{"InvalidClientTokenIdX", 400},
		{"", 200},
	};
	struct run *r = *state;
	char line[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(line, sizeof(line), CT_REC("\"errorCode\":\"%s\","),
			 cases[i].code);
		assert_int_equal(one(r, "cloudtrail", NULL, 0, line)->status,
				 cases[i].status);
	}
	assert_int_equal(
		one(r, "cloudtrail", NULL, 0, CT_REC("\"errorCode\":null,"))
			->status,
		200);
	skip_is(r, "cloudtrail", NULL, 0, CT_REC("\"errorCode\":5.5,"),
		KW_SKIP_BAD_FIELD,
		"field 'status' (errorCode) is not a string");
}

/* A bad value that holds the record's key is quoted with the key (or a
 * long piece of it) shown as its redacted id, in both formats: a key that
 * looks like no token (letters and dashes) would otherwise be quoted. */
static void test_skip_quotes_redacted(void **state)
{
	struct run *r = *state;

	skip_is(r, "keywatch", NULL, 0,
		"{\"created\":\"live-Self-Carrying-Key-Qwerty-Uiop\","
		"\"api_key\":\"live-Self-Carrying-Key-Qwerty-Uiop\"}",
		KW_SKIP_BAD_FIELD,
		"field 'created': not an RFC 3339 time \"\xe2\x80\xa6Uiop\"");
	skip_is(r, "keywatch", NULL, 0,
		"{\"created\":1764230400,\"api_key\":\"live-Self-Carrying-Key-"
		"Qwerty-Uiop\",\"method\":\"GET live-Self-Carrying-Key-Qw\","
		"\"path\":\"/\",\"status\":200}",
		KW_SKIP_BAD_FIELD,
		"field 'method': not an HTTP method \"GET \xe2\x80\xa6Uiop\"");
	skip_is(r, "cloudtrail", NULL, 0,
		"{\"eventTime\":\"at AKIAIOSFODNN7EXAMPLE\",\"userIdentity\":{"
		"\"accessKeyId\":\"AKIAIOSFODNN7EXAMPLE\"}}",
		KW_SKIP_BAD_FIELD,
		"field 'created' (eventTime): not an RFC 3339 time "
		"\"at AKIA\xe2\x80\xa6MPLE\"");
}

static void test_cloudtrail_skips(void **state)
{
	struct run *r = *state;

	keyless_is(r, NULL, 0,
		   "{\"eventTime\":\"2025-11-27T08:00:00Z\",\"userIdentity\":{"
		   "\"type\":\"AWSService\"},\"eventSource\":\"s3.amazonaws."
		   "com\"}");
	keyless_is(r, NULL, 0,
		   "{\"eventTime\":\"2025-11-27T08:00:00Z\",\"userIdentity\":{"
		   "\"accessKeyId\":\"\"}}");
	keyless_is(r, NULL, 0, "{\"eventTime\":\"2025-11-27T08:00:00Z\"}");
	/* A principal of a type whose acts are not analysed (an AWS
	 * service's role), or one without an ARN: keyless. */
	keyless_is(
		r, NULL, 0,
		"{\"eventTime\":\"2025-11-27T08:00:00Z\",\"userIdentity\":{"
		"\"type\":\"AWSService\",\"arn\":\"arn:aws:iam::1:role/x\"}}");
	keyless_is(r, NULL, 0,
		   "{\"eventTime\":\"2025-11-27T08:00:00Z\",\"userIdentity\":{"
		   "\"type\":\"IAMUser\"}}");
	skip_is(r, "cloudtrail", NULL, 0,
		"{\"userIdentity\":{\"accessKeyId\":\"AKIAX\"}}",
		KW_SKIP_NO_TIME, "record has no eventTime");
	skip_is(r, "cloudtrail", NULL, 0,
		"{\"eventTime\":\"27/11/2025\",\"userIdentity\":{"
		"\"accessKeyId\":\"AKIAX\"}}",
		KW_SKIP_BAD_FIELD,
		"field 'created' (eventTime): not an RFC 3339 time "
		"\"27/11/2025\"");
	skip_is(r, "cloudtrail", NULL, 0,
		"{\"eventTime\":\"2025-11-27T08:00:00Z\",\"userIdentity\":{"
		"\"accessKeyId\":1}}",
		KW_SKIP_BAD_FIELD,
		"field 'api_key' (userIdentity.accessKeyId) is not a string");
	skip_is(r, "cloudtrail", NULL, 0, CT_REC("\"sourceIPAddress\":[1],"),
		KW_SKIP_BAD_FIELD,
		"field 'ip' (sourceIPAddress) is not a string");
	skip_is(r, "cloudtrail", NULL, 0,
		"{\"eventTime\":\"2025-11-27T08:00:00Z\",\"userIdentity\":{"
		"\"accessKeyId\":\"AKIAX\"},\"eventName\":7}",
		KW_SKIP_BAD_FIELD, "field 'eventName' is not a string");
	skip_is(r, "cloudtrail", NULL, 0, CT_REC("\"userAgent\":7,"),
		KW_SKIP_BAD_FIELD,
		"field 'user_agent' (userAgent) is not a string");
}

static void test_cloudtrail_map(void **state)
{
	struct run *r = *state;
	struct kw_field_map map[3];
	const struct kw_event *ev;
	struct kw_error err;

	assert_int_equal(kw_field_map_parse("api_key=userIdentity.principalId",
					    &map[0], &err),
			 KW_OK);
	assert_int_equal(
		kw_field_map_parse("status=http.status", &map[1], &err), KW_OK);
	assert_int_equal(kw_field_map_parse("path=http.path", &map[2], &err),
			 KW_OK);
	ev = one(r, "cloudtrail", map, 3,
		 "{\"eventTime\":\"2025-11-27T08:00:00Z\",\"userIdentity\":{"
		 "\"accessKeyId\":\"AKIA1\",\"principalId\":\"AIDA2\"},"
		 "\"errorCode\":\"AccessDenied\",\"http\":{\"status\":503,"
		 "\"path\":\"/x?y\"}}");
	assert_str(ev->key, "AIDA2");
	assert_int_equal(ev->status, 503);
	assert_str(ev->path, "/x");
	/* a mapped status path may hold an error code too */
	ev = one(r, "cloudtrail", map, 3,
		 "{\"eventTime\":\"2025-11-27T08:00:00Z\",\"userIdentity\":{"
		 "\"principalId\":\"AIDA2\"},\"http\":{\"status\":"
		 "\"ThrottlingException\"}}");
	assert_int_equal(ev->status, 429);
	keyless_is(r, map, 3,
		   "{\"eventTime\":\"2025-11-27T08:00:00Z\",\"userIdentity\":{"
		   "\"accessKeyId\":\"AKIA1\"}}");
	skip_is(r, "cloudtrail", map, 3,
		"{\"eventTime\":\"2025-11-27T08:00:00Z\",\"userIdentity\":{"
		"\"principalId\":\"AIDA2\"},\"http\":{\"status\":700}}",
		KW_SKIP_BAD_FIELD,
		"field 'status' (http.status): impossible HTTP status 700");
}

/* ---- GCP Cloud Audit Logs ---- */

#define GCP_KEY                                                                \
	"//iam.googleapis.com/projects/p1/serviceAccounts/"                    \
	"deploy@p1.iam.gserviceaccount.com/keys/"                              \
	"3f9c1e0d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4d2e"
/* An audit log entry made with a service account key, with `extra` spliced
 * into its protoPayload. */
#define GCP_REC(extra)                                                         \
	"{\"protoPayload\":{\"@type\":\"type.googleapis.com/google.cloud."     \
	"audit.AuditLog\"," extra                                              \
	"\"authenticationInfo\":{\"principalEmail\":"                          \
	"\"deploy@p1.iam.gserviceaccount.com\",\"serviceAccountKeyName\":"     \
	"\"" GCP_KEY                                                           \
	"\"},\"serviceName\":\"iam.googleapis.com\",\"methodName\":"           \
	"\"google.iam.admin.v1.CreateServiceAccountKey\"},\"insertId\":"       \
	"\"1q2w3e\",\"timestamp\":\"2025-11-27T08:00:00.123456789Z\"}"
/* The same as a BigQuery row. */
#define GCP_BQ(code)                                                           \
	"{\"logName\":\"projects/p1/logs/"                                     \
	"audit\",\"protopayload_auditlog\":{\"authenticationInfo\":{"          \
	"\"principalEmail\":\"deploy@p1.iam.gserviceaccount.com\","            \
	"\"serviceAccountKeyName\":\"" GCP_KEY "\"},\"requestMetadata\":{"     \
	"\"callerIp\":\"2001:db8::5\",\"callerSuppliedUserAgent\":null},"      \
	"\"serviceName\":\"storage.googleapis.com\",\"methodName\":"           \
	"\"storage.objects.get\",\"status\":" code "},\"timestamp\":"          \
	"\"2025-11-27 08:00:00.5 UTC\",\"insertId\":\"9z8x\"}"

static void test_gcp(void **state)
{
	struct run *r = *state;
	const struct kw_event *ev;
	char ipbuf[64];

	ev = one(r, "gcp-audit", NULL, 0,
		 GCP_REC("\"status\":{},\"requestMetadata\":{\"callerIp\":"
			 "\"198.51.100.23\",\"callerSuppliedUserAgent\":"
			 "\"google-cloud-sdk gcloud/460.0.0\"},"));
	assert_int_equal(ev->ts, US(T0) + 123456);
	/* the key is the key's id, the end of its resource name */
	assert_str(ev->key, "3f9c1e0d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4d2e");
	assert_int_equal(ev->ip.family, 4);
	assert_string_equal(kw_ip_format(&ev->ip, ipbuf, sizeof(ipbuf)),
			    "198.51.100.23");
	assert_str(ev->op, "google.iam.admin.v1.CreateServiceAccountKey");
	assert_str(ev->resource, "iam");
	assert_str(ev->principal, "deploy@p1.iam.gserviceaccount.com");
	assert_int_equal(ev->status, 200);
	assert_str(ev->user_agent, "google-cloud-sdk gcloud/460.0.0");
	assert_str(ev->request_id, "1q2w3e");
	assert_int_equal(ev->method.n, 0);
	assert_int_equal(ev->path.n, 0);
	assert_null(ev->cloud);
	/* a service account key is long-term; the log places no one */
	assert_int_equal(ev->key_kind, KW_KIND_LONG_TERM);
	assert_string_equal(ev->country, "");

	/* an internal caller: the word is the source */
	ev = one(r, "gcp-audit", NULL, 0,
		 GCP_REC("\"requestMetadata\":{\"callerIp\":\"private\"},"));
	assert_int_equal(ev->ip.family, 0);
	assert_str(ev->source, "private");

	/* the BigQuery form: times with " UTC", codes as strings */
	ev = one(r, "gcp-audit", NULL, 0, GCP_BQ("{\"code\":\"7\"}"));
	assert_int_equal(ev->ts, US(T0) + 500000);
	assert_str(ev->key, "3f9c1e0d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4d2e");
	assert_int_equal(ev->ip.family, 6);
	assert_str(ev->op, "storage.objects.get");
	assert_str(ev->resource, "storage");
	assert_int_equal(ev->status, 403);
	assert_str(ev->request_id, "9z8x");
	assert_int_equal(ev->user_agent.n, 0);
	ev = one(r, "gcp-audit", NULL, 0, GCP_BQ("null"));
	assert_int_equal(ev->status, 200);

	/* no timestamp: when Cloud Logging received it */
	ev = one(r, "gcp-audit", NULL, 0,
		 "{\"protoPayload\":{\"authenticationInfo\":{"
		 "\"serviceAccountKeyName\":\"//x/keys/k1\"},\"methodName\":"
		 "\"SetIamPolicy\",\"serviceName\":\"cloudresourcemanager."
		 "googleapis.com\"},\"receiveTimestamp\":\"2025-11-27T08:00:"
		 "01Z\"}");
	assert_int_equal(ev->ts, US(T0 + 1));
	assert_str(ev->key, "k1");
	assert_str(ev->op, "SetIamPolicy");
	assert_str(ev->resource, "cloudresourcemanager");
	assert_int_equal(ev->principal.n, 0);
}

/* google.rpc.Code to HTTP, as the code's documentation maps it. */
static void test_gcp_status(void **state)
{
	static const int want[] = {200, 499, 500, 400, 504, 404, 409, 403, 429,
				   400, 409, 400, 501, 500, 503, 500, 401};
	struct run *r = *state;
	char rec[2048];

	for (int code = 0; code < 17; code++) {
		snprintf(rec, sizeof(rec),
			 GCP_REC("\"status\":{\"code\":%d,\"message\":\"x\"},"),
			 code);
		assert_int_equal(one(r, "gcp-audit", NULL, 0, rec)->status,
				 want[code]);
		snprintf(rec, sizeof(rec), GCP_BQ("{\"code\":\"%d\"}"), code);
		assert_int_equal(one(r, "gcp-audit", NULL, 0, rec)->status,
				 want[code]);
	}
	skip_is(r, "gcp-audit", NULL, 0, GCP_REC("\"status\":{\"code\":17},"),
		KW_SKIP_BAD_FIELD,
		"field 'status' (protoPayload.status.code): not a google.rpc "
		"code 17");
	skip_is(r, "gcp-audit", NULL, 0, GCP_REC("\"status\":{\"code\":-1},"),
		KW_SKIP_BAD_FIELD,
		"field 'status' (protoPayload.status.code): not a google.rpc "
		"code -1");
	skip_is(r, "gcp-audit", NULL, 0,
		GCP_REC("\"status\":{\"code\":\"PERMISSION_DENIED\"},"),
		KW_SKIP_BAD_FIELD,
		"field 'status' (protoPayload.status.code) is not an integer");
	skip_is(r, "gcp-audit", NULL, 0, GCP_BQ("{\"code\":\"9999999999\"}"),
		KW_SKIP_BAD_FIELD,
		"field 'status' (protopayload_auditlog.status.code): not a "
		"google.rpc code 9999999999");
	skip_is(r, "gcp-audit", NULL, 0, GCP_REC("\"status\":{\"code\":7.5},"),
		KW_SKIP_BAD_FIELD,
		"field 'status' (protoPayload.status.code) is not an integer");
}

static void test_gcp_skips(void **state)
{
	struct run *r = *state;

	/* a person's OAuth session, a VM's token, a system event: no key */
	quiet_skip_is(r, "gcp-audit", NULL, 0,
		      "{\"protoPayload\":{\"@type\":\"type.googleapis.com/"
		      "google.cloud.audit.AuditLog\",\"authenticationInfo\":{"
		      "\"principalEmail\":\"alice@example.com\"}},"
		      "\"timestamp\":\"2025-11-27T08:00:00Z\"}",
		      KW_SKIP_KEYLESS,
		      "record has no protoPayload.authenticationInfo."
		      "serviceAccountKeyName");
	quiet_skip_is(
		r, "gcp-audit", NULL, 0,
		"{\"protopayload_auditlog\":{\"authenticationInfo\":null},"
		"\"timestamp\":\"2025-11-27 08:00:00 UTC\"}",
		KW_SKIP_KEYLESS,
		"record has no protopayload_auditlog.authenticationInfo."
		"serviceAccountKeyName");
	/* the same export's other logs carry no API call */
	quiet_skip_is(
		r, "gcp-audit", NULL, 0,
		"{\"textPayload\":\"Started cron\",\"logName\":\"projects/"
		"p1/logs/syslog\",\"timestamp\":\"2025-11-27T08:00:00Z\"}",
		KW_SKIP_NOT_DATA,
		"log entry that is not an audit log (no protoPayload)");
	quiet_skip_is(r, "gcp-audit", NULL, 0,
		      "{\"protoPayload\":{\"@type\":\"type.googleapis.com/"
		      "google.appengine.logging.v1.RequestLog\"},\"logName\":"
		      "\"x\"}",
		      KW_SKIP_NOT_DATA,
		      "log entry that is not an audit log (protoPayload @type "
		      "\"type.googleapis.com/google.appengine.log\"...)");
	quiet_skip_is(r, "gcp-audit", NULL, 0, "{\"protoPayload\":{}}",
		      KW_SKIP_NOT_DATA,
		      "log entry that is not an audit log (protoPayload @type "
		      "missing)");
	skip_is(r, "gcp-audit", NULL, 0, "{\"created\":1}", KW_SKIP_BAD_FIELD,
		"not a Cloud Audit Logs entry (no protoPayload, "
		"protopayload_auditlog or logName)");
	skip_is(r, "gcp-audit", NULL, 0,
		"{\"protoPayload\":{\"methodName\":\"x\","
		"\"authenticationInfo\":"
		"{\"serviceAccountKeyName\":\"k1\"}},\"timestamp\":\"2025-11-"
		"27T08:00:00Z\"}",
		KW_SKIP_BAD_FIELD,
		"field 'api_key' (protoPayload.authenticationInfo."
		"serviceAccountKeyName) is not a service account key name "
		"(.../keys/KEY_ID)");
	skip_is(r, "gcp-audit", NULL, 0,
		"{\"protoPayload\":{\"methodName\":\"x\","
		"\"authenticationInfo\":"
		"{\"serviceAccountKeyName\":\"//x/keys/"
		"\"}},\"timestamp\":\"2025-"
		"11-27T08:00:00Z\"}",
		KW_SKIP_BAD_FIELD,
		"field 'api_key' (protoPayload.authenticationInfo."
		"serviceAccountKeyName) is not a service account key name "
		"(.../keys/KEY_ID)");
	skip_is(r, "gcp-audit", NULL, 0,
		"{\"protoPayload\":{\"methodName\":\"x\","
		"\"authenticationInfo\":"
		"{\"serviceAccountKeyName\":\"//x/keys/a/b\"}},\"timestamp\":"
		"\"2025-11-27T08:00:00Z\"}",
		KW_SKIP_BAD_FIELD,
		"field 'api_key' (protoPayload.authenticationInfo."
		"serviceAccountKeyName) is not a service account key name "
		"(.../keys/KEY_ID)");
	skip_is(r, "gcp-audit", NULL, 0,
		"{\"protoPayload\":{\"methodName\":\"x\","
		"\"authenticationInfo\":"
		"{\"serviceAccountKeyName\":\"//x/keys/k1\"}}}",
		KW_SKIP_NO_TIME, "record has no timestamp");
	skip_is(r, "gcp-audit", NULL, 0,
		GCP_REC("\"requestMetadata\":{\"callerIp\":7},"),
		KW_SKIP_BAD_FIELD,
		"field 'ip' (protoPayload.requestMetadata.callerIp) is not a "
		"string");
	skip_is(r, "gcp-audit", NULL, 0,
		"{\"protoPayload\":{\"methodName\":[1],\"authenticationInfo\":{"
		"\"serviceAccountKeyName\":\"//x/keys/k1\"}},\"timestamp\":"
		"\"2025-11-27T08:00:00Z\"}",
		KW_SKIP_BAD_FIELD,
		"field 'protoPayload.methodName' is not a string");
	skip_is(r, "gcp-audit", NULL, 0,
		"{\"protoPayload\":{\"methodName\":\"x\","
		"\"authenticationInfo\":"
		"{\"serviceAccountKeyName\":\"//x/keys/k1\"}},\"timestamp\":"
		"\"2025-11-27 08:00:00 GMT\"}",
		KW_SKIP_BAD_FIELD,
		"field 'created' (timestamp): not an RFC 3339 time "
		"\"2025-11-27 08:00:00 GMT\"");
}

/* A --map names the key (here the principal, to watch every caller) and
 * an HTTP status; the key is then taken as it is. */
static void test_gcp_map(void **state)
{
	struct run *r = *state;
	struct kw_field_map map[2];
	const struct kw_event *ev;
	struct kw_error err;

	assert_int_equal(kw_field_map_parse("api_key=protoPayload."
					    "authenticationInfo.principalEmail",
					    &map[0], &err),
			 KW_OK);
	assert_int_equal(
		kw_field_map_parse("status=httpRequest.status", &map[1], &err),
		KW_OK);
	ev = one(r, "gcp-audit", map, 2, GCP_REC("\"status\":{\"code\":7},"));
	assert_str(ev->key, "deploy@p1.iam.gserviceaccount.com");
	assert_int_equal(ev->status, 200);
	ev = one(
		r, "gcp-audit", map, 2,
		"{\"protoPayload\":{\"authenticationInfo\":{\"principalEmail\":"
		"\"alice@example.com\"},\"methodName\":\"x\"},\"timestamp\":"
		"\"2025-11-27T08:00:00Z\",\"httpRequest\":{\"status\":404}}");
	assert_str(ev->key, "alice@example.com");
	assert_int_equal(ev->status, 404);
	quiet_skip_is(r, "gcp-audit", map, 2,
		      "{\"protoPayload\":{\"methodName\":\"x\"},\"timestamp\":"
		      "\"2025-11-27T08:00:00Z\"}",
		      KW_SKIP_KEYLESS,
		      "record has no protoPayload.authenticationInfo."
		      "principalEmail");
}

/* ---- GitHub's audit log ---- */

#define GH_TOKEN "Z/lQzBAZpiC5oxEhFOZnc5LJbqJUR8NupkojRls6hNY="
#define GH_REC(extra)                                                          \
	"{\"@timestamp\":1764230400123,\"_document_id\":\"Q2xvbmU\","          \
	"\"action\":\"repo.destroy\",\"actor\":\"deploy-bot\"," extra          \
	"\"hashed_token\":\"" GH_TOKEN "\",\"programmatic_access_type\":"      \
	"\"Personal access token (classic)\",\"token_id\":51000101,"           \
	"\"created_at\":1764230400123}"

static void test_github(void **state)
{
	static const struct {
		const char *value, *country;
	} places[] = {
		{"\"NL\"", "NL"}, {"\"de\"", "DE"}, {"\"DEU\"", ""},
		{"\"D1\"", ""},	  {"7", ""},	    {"null", ""},
	};
	static const struct {
		const char *field;
		enum kw_key_kind kind;
	} kinds[] = {
		{"\"programmatic_access_type\":\"GitHub App server-to-server "
		 "token\",",
		 KW_KIND_TEMPORARY},
		{"\"programmatic_access_type\":\"GitHub App user-to-server "
		 "token\",",
		 KW_KIND_TEMPORARY},
		{"\"programmatic_access_type\":\"Deploy key\",",
		 KW_KIND_LONG_TERM},
		{"", KW_KIND_LONG_TERM},
	};
	struct run *r = *state;
	const struct kw_event *ev;
	char ipbuf[64];

	ev = one(r, "github-audit", NULL, 0,
		 GH_REC("\"actor_ip\":\"203.0.113.10\",\"user_agent\":"
			"\"curl/8.5.0\",\"request_id\":\"C4D2:3B6E\","));
	assert_int_equal(ev->ts, US(T0) + 123000);
	assert_str(ev->key, GH_TOKEN);
	assert_str(ev->op, "repo.destroy");
	assert_str(ev->resource, "repo");
	assert_str(ev->principal, "deploy-bot");
	assert_string_equal(kw_ip_format(&ev->ip, ipbuf, sizeof(ipbuf)),
			    "203.0.113.10");
	assert_str(ev->user_agent, "curl/8.5.0");
	assert_str(ev->request_id, "C4D2:3B6E");
	assert_int_equal(ev->status, 200);
	assert_null(ev->cloud);
	/* a personal access token is long-term */
	assert_int_equal(ev->key_kind, KW_KIND_LONG_TERM);
	assert_string_equal(ev->country, "");
	/* no request id: the document's */
	ev = one(r, "github-audit", NULL, 0, GH_REC(""));
	assert_str(ev->request_id, "Q2xvbmU");
	assert_int_equal(ev->ip.family, 0);
	/* GitHub's placing of actor_ip: two letters, upper-cased; anything
	 * else is left out, and the event is read */
	for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
		char line[512];

		snprintf(line, sizeof(line),
			 GH_REC("\"actor_location\":{\"country_code\":%s},"),
			 places[i].value);
		ev = one(r, "github-audit", NULL, 0, line);
		assert_string_equal(ev->country, places[i].country);
	}
	/* a GitHub App's token (an hour, or eight) is temporary; any other
	 * type (one GitHub adds later too), or none, long-term */
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char line[512];

		snprintf(line, sizeof(line),
			 "{\"action\":\"git.push\",\"hashed_token\":\"h2\",%s"
			 "\"@timestamp\":1764230400123}",
			 kinds[i].field);
		ev = one(r, "github-audit", NULL, 0, line);
		assert_int_equal(ev->key_kind, kinds[i].kind);
	}
	/* created_at alone, and an action without a dot */
	ev = one(r, "github-audit", NULL, 0,
		 "{\"action\":\"staff\",\"hashed_token\":\"h1\","
		 "\"created_at\":\"2025-11-27T08:00:00Z\"}");
	assert_int_equal(ev->ts, US(T0));
	assert_str(ev->op, "staff");
	assert_str(ev->resource, "staff");
	assert_int_equal(ev->principal.n, 0);
}

static void test_github_skips(void **state)
{
	struct run *r = *state;

	/* a person in the web UI: no token */
	quiet_skip_is(r, "github-audit", NULL, 0,
		      "{\"@timestamp\":1764230400000,\"action\":"
		      "\"protected_branch.update\",\"actor\":\"alice\"}",
		      KW_SKIP_KEYLESS, "record has no hashed_token");
	skip_is(r, "github-audit", NULL, 0,
		"{\"action\":\"repo.create\",\"hashed_token\":\"h1\"}",
		KW_SKIP_NO_TIME, "record has no @timestamp");
	skip_is(r, "github-audit", NULL, 0,
		"{\"@timestamp\":-5,\"action\":\"repo.create\","
		"\"hashed_token\":\"h1\"}",
		KW_SKIP_BAD_FIELD,
		"field 'created' (@timestamp): impossible timestamp -5");
	skip_is(r, "github-audit", NULL, 0,
		GH_REC("\"actor_ip\":\"203.0.113.300\","), KW_SKIP_BAD_FIELD,
		"field 'ip' (actor_ip): not an IP address \"203.0.113.300\"");
	skip_is(r, "github-audit", NULL, 0,
		"{\"@timestamp\":1764230400000,\"action\":{},"
		"\"hashed_token\":\"h1\"}",
		KW_SKIP_BAD_FIELD, "field 'action' is not a string");
	skip_is(r, "github-audit", NULL, 0,
		"{\"@timestamp\":1764230400000,\"action\":\"x\","
		"\"hashed_token\":[\"h1\"]}",
		KW_SKIP_BAD_FIELD,
		"field 'api_key' (hashed_token) is not a string");
	skip_is(r, "github-audit", NULL, 0, "{\"id\":\"req_1\"}",
		KW_SKIP_BAD_FIELD,
		"not a GitHub audit log event (no action, _document_id, "
		"@timestamp or hashed_token)");
}

/* ---- sniffing and the registry ---- */

static const struct kw_record *rec_of(struct kw_record *rec,
				      enum kw_record_kind kind, const char *s)
{
	rec->p = s;
	rec->n = strlen(s);
	rec->line = 1;
	rec->kind = kind;
	return rec;
}

static const char *sniff(enum kw_record_kind kind, const char *s)
{
	struct kw_record rec;

	return kw_decoder_sniff(rec_of(&rec, kind, s), NULL)->name;
}

static void test_sniff(void **state)
{
	const struct kw_decoder_ops *const *all = kw_decoder_all();

	(void)state;
	assert_string_equal(all[0]->name, "keywatch");
	assert_string_equal(all[1]->name, "cloudtrail");
	assert_string_equal(all[2]->name, "gcp-audit");
	assert_string_equal(all[3]->name, "github-audit");
	assert_null(all[4]);
	assert_ptr_equal(kw_decoder_find("keywatch"), all[0]);
	assert_ptr_equal(kw_decoder_find("cloudtrail"), all[1]);
	assert_ptr_equal(kw_decoder_find("gcp-audit"), all[2]);
	assert_ptr_equal(kw_decoder_find("github-audit"), all[3]);
	assert_null(kw_decoder_find("auto"));
	assert_null(kw_decoder_find("CloudTrail"));
	assert_null(kw_decoder_find(NULL));

	assert_string_equal(sniff(KW_REC_RECORDS, "{}"), "cloudtrail");
	assert_string_equal(sniff(KW_REC_OBJECT, CT_REC("")), "cloudtrail");
	assert_string_equal(
		sniff(KW_REC_ELEMENT, "{\"eventVersion\":\"1.08\"}"),
		"cloudtrail");
	assert_string_equal(sniff(KW_REC_OBJECT, "{\"x\":[1,{\"y\":2}],"
						 "\"eventVersion\":\"1.08\"}"),
			    "cloudtrail");
	assert_string_equal(sniff(KW_REC_OBJECT, "{\"eventSource\":\"s3\","
						 "\"userIdentity\":{}}"),
			    "cloudtrail");
	assert_string_equal(sniff(KW_REC_OBJECT, "{\"eventSource\":\"s3\"}"),
			    "keywatch");
	assert_string_equal(sniff(KW_REC_OBJECT, KW_FULL("")), "keywatch");
	/* a nested eventVersion, or one inside a string, does not count */
	assert_string_equal(
		sniff(KW_REC_OBJECT, "{\"a\":{\"eventVersion\":1}}"),
		"keywatch");
	assert_string_equal(
		sniff(KW_REC_OBJECT, "{\"a\":\"\\\"eventVersion\\\":1\"}"),
		"keywatch");
	assert_string_equal(sniff(KW_REC_OBJECT, "{\"eventVersion\":"),
			    "keywatch");
	assert_string_equal(sniff(KW_REC_TEXT, "not json"), "keywatch");

	/* GCP: a LogEntry (audit or not), or a BigQuery row of one */
	assert_string_equal(sniff(KW_REC_OBJECT, GCP_REC("")), "gcp-audit");
	assert_string_equal(sniff(KW_REC_ELEMENT, GCP_BQ("null")), "gcp-audit");
	assert_string_equal(sniff(KW_REC_OBJECT, "{\"textPayload\":\"x\","
						 "\"logName\":\"l\"}"),
			    "gcp-audit");
	assert_string_equal(sniff(KW_REC_OBJECT, "{\"insertId\":\"x\"}"),
			    "keywatch");
	/* GitHub: an action with GitHub's time, document id or a token */
	assert_string_equal(sniff(KW_REC_OBJECT, GH_REC("")), "github-audit");
	assert_string_equal(sniff(KW_REC_ELEMENT, "{\"_document_id\":\"d\","
						  "\"action\":\"git.clone\"}"),
			    "github-audit");
	assert_string_equal(sniff(KW_REC_OBJECT, "{\"hashed_token\":\"h\","
						 "\"action\":\"x\"}"),
			    "github-audit");
	/* an application's own audit log with an action is not GitHub's */
	assert_string_equal(sniff(KW_REC_OBJECT,
				  "{\"created\":1,\"action\":\"login\","
				  "\"api_key\":\"sk_live_x\"}"),
			    "keywatch");
	assert_string_equal(sniff(KW_REC_OBJECT, "{\"@timestamp\":1,"
						 "\"api_key\":\"x\"}"),
			    "keywatch");
}

static void test_create_errors(void **state)
{
	struct kw_field_map map[KW_JSON_MAX_PATHS + 2];
	struct kw_decoder_conf conf = {.map = map, .nmap = 0};
	struct kw_error err;
	void *self = (void *)1;

	(void)state;
	/* destroy is NULL-safe */
	kw_decoder_keywatch.destroy(NULL);
	kw_decoder_cloudtrail.destroy(NULL);
	/* a map for every field is fine */
	for (unsigned f = 0; f < KW_FIELD_MAX; f++) {
		memset(&map[f], 0, sizeof(map[f]));
		snprintf(map[f].path, sizeof(map[f].path), "p%u.x", f);
		map[f].field = f;
	}
	conf.nmap = KW_FIELD_MAX;
	assert_int_equal(kw_decoder_keywatch.create(&conf, &self, &err), KW_OK);
	assert_non_null(self);
	kw_decoder_keywatch.destroy(self);
	assert_int_equal(kw_decoder_cloudtrail.create(&conf, &self, &err),
			 KW_OK);
	kw_decoder_cloudtrail.destroy(self);
}

/* ---- throughput ---- */

static void test_throughput(void **state)
{
	enum { NREC = 300000, BATCH = 256 };
	struct run *r = *state;
	const struct kw_decoder_ops *ops = kw_decoder_find("keywatch");
	struct kw_decoder_conf conf = {0};
	struct kw_record *recs = NULL;
	struct kw_event *ev = NULL;
	struct kw_error err;
	struct timespec t0, t1;
	char *buf = NULL;
	size_t off = 0, got = 0, total_bytes;
	void *self = NULL;
	double secs;

	buf = malloc((size_t)NREC * 512);
	recs = malloc(sizeof(*recs) * NREC);
	ev = malloc(sizeof(*ev) * BATCH);
	assert_non_null(buf);
	assert_non_null(recs);
	assert_non_null(ev);
	for (size_t i = 0; i < NREC; i++) {
		int w = snprintf(
			buf + off, 512,
			"{\"id\":\"req_%010zu\",\"created\":%lld,"
			"\"method\":\"POST\",\"path\":\"/v1/refunds/re_%06zu\","
			"\"status\":200,\"ip\":\"203.0.%zu.%zu\","
			"\"api_key\":\"rk_live_51Hx%08zu...a1b2\","
			"\"user_agent\":\"Stripe/v1 PythonBindings/12.0.0 "
			"(Linux x86_64; CPython 3.12.1) requests/2.31\","
			"\"livemode\":true,\"duration_ms\":84,"
			"\"source\":\"api\",\"origin\":null,"
			"\"idempotency_key\":\"5b0c1a7e-8d0f-4c1e-9a55-"
			"0123456789ab\",\"version\":\"2024-06-20\"}",
			i, (long long)(T0 + (long long)i), i % 1000000, i % 250,
			i % 200, i % 5000);
		assert_true(w > 0 && w < 512);
		recs[i].p = buf + off;
		recs[i].n = (size_t)w;
		recs[i].line = i + 1;
		off += (size_t)w;
	}
	total_bytes = off;
	assert_int_equal(ops->create(&conf, &self, &err), KW_OK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < NREC; i += BATCH) {
		size_t n = NREC - i < BATCH ? NREC - i : BATCH;

		kw_arena_reset(&r->arena);
		got += ops->decode(self, recs + i, n, ev, &r->arena, &r->skips,
				   "bench");
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ops->destroy(self);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_int_equal(got, NREC);
	assert_int_equal(r->skips.total, 0);
	print_message("decode throughput: %d records (%.0f bytes avg) in "
		      "%.3f s: %.0f records/s, %.1f MB/s\n",
		      NREC, (double)total_bytes / NREC, secs, NREC / secs,
		      (double)total_bytes / secs / 1e6);
	free(buf);
	free(recs);
	free(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_field_names),
		cmocka_unit_test(test_map_parse),
		cmocka_unit_test_setup_teardown(test_full_record, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_minimal_record, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_aliases, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_precedence, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_map_decode, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_time_numbers, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_time_strings, run_setup,
						run_teardown),
		cmocka_unit_test(test_decode_time_direct),
		cmocka_unit_test_setup_teardown(test_skip_json, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_skip_key, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_skip_time, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_skip_fields, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_skip_quotes_redacted,
						run_setup, run_teardown),
		cmocka_unit_test_setup_teardown(test_skip_line_numbers,
						run_setup, run_teardown),
		cmocka_unit_test_setup_teardown(test_sample_limit, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_method_common, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_method_bytes, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_method_path, run_setup,
						run_teardown),
		cmocka_unit_test(test_decode_path),
		cmocka_unit_test_setup_teardown(test_escapes, run_setup,
						run_teardown),
		cmocka_unit_test(test_quote),
		cmocka_unit_test_setup_teardown(test_batch_mixed, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_cloudtrail, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_cloudtrail_extras,
						run_setup, run_teardown),
		cmocka_unit_test_setup_teardown(test_cloudtrail_errors,
						run_setup, run_teardown),
		cmocka_unit_test_setup_teardown(test_cloudtrail_skips,
						run_setup, run_teardown),
		cmocka_unit_test_setup_teardown(test_cloudtrail_map, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_gcp, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_gcp_status, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_gcp_skips, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_gcp_map, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_github, run_setup,
						run_teardown),
		cmocka_unit_test_setup_teardown(test_github_skips, run_setup,
						run_teardown),
		cmocka_unit_test(test_sniff),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test_setup_teardown(test_throughput, run_setup,
						run_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
