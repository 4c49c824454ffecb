/*
 * test_dispatch.c - the decoding stage: each record recognised on its own
 * (a record in another format inside a stream is decoded by its own
 * decoder, or counted with the exact message when the format was forced),
 * and json_peek, the quick look at one key that recognition uses.
 *
 * The one idea: records are given as the splitter would give them (text,
 * line, kind) to kw_dispatch_decode with a fresh stream, and the test reads
 * the events back in order: key, time, line, and the skips' messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"
#include "ingest/dispatch.h"
#include "ingest/json_peek.h"
#include "stderr_capture.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define KW(id, key)                                                            \
	"{\"id\":\"" id "\",\"created\":1795766400,\"method\":\"GET\","        \
	"\"path\":\"/v1/charges\",\"status\":200,\"api_key\":\"" key "\"}"
#define CT(id, key)                                                            \
	"{\"eventVersion\":\"1.08\",\"userIdentity\":{\"type\":\"IAMUser\","   \
	"\"accessKeyId\":\"" key "\"},\"eventTime\":\"2026-11-27T08:00:00Z\"," \
	"\"eventSource\":\"iam.amazonaws.com\",\"eventName\":\"ListUsers\","   \
	"\"sourceIPAddress\":\"198.51.100.7\",\"eventID\":\"" id "\"}"

struct in {
	const char *text;
	enum kw_record_kind kind;
};

struct out {
	struct kw_arena arena;
	struct kw_skips skips;
	struct kw_event ev[16];
	size_t n;
	char log[4096];
};

/* Decode recs (line i+1) as one input, format NULL: recognise; conf NULL:
 * no field map. */
static void run_map(const char *format, const struct kw_decoder_conf *conf,
		    const struct in *recs, size_t n, struct out *o);

static void run(const char *format, const struct in *recs, size_t n,
		struct out *o)
{
	run_map(format, NULL, recs, n, o);
}

static void run_map(const char *format, const struct kw_decoder_conf *conf,
		    const struct in *recs, size_t n, struct out *o)
{
	struct kw_dispatch *d = NULL;
	struct kw_dispatch_stream st;
	struct kw_record r[16];
	struct kw_error err;
	struct capture c;

	memset(o, 0, sizeof(*o));
	kw_arena_init(&o->arena, 0);
	for (size_t i = 0; i < n; i++)
		r[i] = (struct kw_record){.p = recs[i].text,
					  .n = strlen(recs[i].text),
					  .line = i + 1,
					  .kind = recs[i].kind};
	assert_int_equal(kw_dispatch_create(&d, &err), KW_OK);
	kw_dispatch_stream_init(&st, format ? kw_decoder_find(format) : NULL,
				conf);
	kw_log_set_level(KW_LOG_DEBUG);
	capture_begin(&c);
	o->n = kw_dispatch_decode(d, &st, r, n, o->ev, &o->arena, &o->skips,
				  "t.log");
	capture_end(&c, o->log, sizeof(o->log));
	kw_log_set_level(KW_LOG_ERROR);
	kw_dispatch_destroy(d);
}

static void done(struct out *o)
{
	kw_arena_destroy(&o->arena);
}

static void expect_event(const struct out *o, size_t i, const char *key,
			 const char *id, uint64_t line)
{
	assert_true(i < o->n);
	assert_int_equal(o->ev[i].key.n, strlen(key));
	assert_memory_equal(o->ev[i].key.p, key, strlen(key));
	assert_int_equal(o->ev[i].request_id.n, strlen(id));
	assert_memory_equal(o->ev[i].request_id.p, id, strlen(id));
	assert_int_equal(o->ev[i].line, line);
}

/* A CloudTrail record among request lines, and request lines among
 * CloudTrail records: each is decoded by its own decoder. Records offered
 * back come after the batch's others. */
static void test_mixed(void **state)
{
	static const struct in kw_first[] = {
		{KW("req_1", "sk_live_a1"), KW_REC_OBJECT},
		{CT("ev-2", "AKIAEXAMPLE2"), KW_REC_OBJECT},
		{KW("req_3", "sk_live_a3"), KW_REC_OBJECT},
	};
	static const struct in ct_first[] = {
		{CT("ev-1", "AKIAEXAMPLE1"), KW_REC_RECORDS},
		{KW("req_2", "sk_live_a2"), KW_REC_OBJECT},
		{CT("ev-3", "AKIAEXAMPLE3"), KW_REC_OBJECT},
	};
	struct out o;

	(void)state;
	run(NULL, kw_first, N(kw_first), &o);
	assert_int_equal(o.n, 3);
	assert_int_equal(o.skips.total, 0);
	expect_event(&o, 0, "sk_live_a1", "req_1", 1);
	expect_event(&o, 1, "sk_live_a3", "req_3", 3);
	expect_event(&o, 2, "AKIAEXAMPLE2", "ev-2", 2);
	assert_int_equal(o.ev[2].op.n, strlen("iam:ListUsers"));
	done(&o);
	run(NULL, ct_first, N(ct_first), &o);
	assert_int_equal(o.n, 3);
	assert_int_equal(o.skips.total, 0);
	expect_event(&o, 0, "AKIAEXAMPLE1", "ev-1", 1);
	expect_event(&o, 1, "AKIAEXAMPLE3", "ev-3", 3);
	expect_event(&o, 2, "sk_live_a2", "req_2", 2);
	done(&o);
}

/* With --format, a record in the other format is damage, with a message
 * naming what it lacks. */
static void test_forced(void **state)
{
	static const struct in recs[] = {
		{KW("req_1", "sk_live_a1"), KW_REC_OBJECT},
		{CT("ev-2", "AKIAEXAMPLE2"), KW_REC_OBJECT},
	};
	struct out o;

	(void)state;
	run("cloudtrail", recs, N(recs), &o);
	assert_int_equal(o.n, 1);
	expect_event(&o, 0, "AKIAEXAMPLE2", "ev-2", 2);
	assert_int_equal(o.skips.count[KW_SKIP_BAD_FIELD], 1);
	assert_string_equal(
		o.log, "keywatch: warning: t.log:1: not a CloudTrail record "
		       "(no eventVersion, eventSource, eventTime or "
		       "userIdentity.accessKeyId)\n");
	done(&o);
	run("keywatch", recs, N(recs), &o);
	assert_int_equal(o.n, 1);
	expect_event(&o, 0, "sk_live_a1", "req_1", 1);
	assert_int_equal(o.skips.count[KW_SKIP_NO_KEY], 1);
	assert_string_equal(o.log, "keywatch: warning: t.log:2: no api_key "
				   "field\n");
	done(&o);
}

/* A record no decoder claims is counted once, by the decoder that met it,
 * and the stream goes on with the decoder it had. */
static void test_unclaimed(void **state)
{
	static const struct in recs[] = {
		{CT("ev-1", "AKIAEXAMPLE1"), KW_REC_OBJECT},
		{"{\"hello\":1}", KW_REC_OBJECT},
		{CT("ev-3", "AKIAEXAMPLE3"), KW_REC_OBJECT},
	};
	struct out o;

	(void)state;
	run(NULL, recs, N(recs), &o);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.skips.total, 1);
	assert_int_equal(o.skips.count[KW_SKIP_NO_KEY], 1);
	assert_string_equal(o.log,
			    "keywatch: warning: t.log:2: no api_key field\n");
	done(&o);
}

#define GCP(id, key)                                                           \
	"{\"protoPayload\":{\"@type\":\"type.googleapis.com/google.cloud."     \
	"audit.AuditLog\",\"authenticationInfo\":{\"serviceAccountKeyName\":"  \
	"\"//iam.googleapis.com/projects/p/serviceAccounts/s/keys/" key "\"}," \
	"\"serviceName\":\"iam.googleapis.com\",\"methodName\":\"x\"},"        \
	"\"insertId\":\"" id "\",\"timestamp\":\"2026-11-27T08:00:00Z\"}"
#define GH(id, key)                                                            \
	"{\"@timestamp\":1795766400000,\"_document_id\":\"" id "\","           \
	"\"action\":\"repo.destroy\",\"hashed_token\":\"" key "\"}"

/* The audit logs of three clouds and a request log in one stream: each
 * record is decoded by its own decoder, whatever came first; with
 * --format, a record of another is damage. */
static void test_clouds(void **state)
{
	static const struct in recs[] = {
		{GCP("g-1", "k1"), KW_REC_OBJECT},
		{GH("d-2", "h2"), KW_REC_OBJECT},
		{CT("ev-3", "AKIAEXAMPLE3"), KW_REC_OBJECT},
		{KW("req_4", "sk_live_a4"), KW_REC_OBJECT},
		{GCP("g-5", "k5"), KW_REC_ELEMENT},
		{GH("d-6", "h6"), KW_REC_ELEMENT},
	};
	struct out o;

	(void)state;
	run(NULL, recs, N(recs), &o);
	assert_int_equal(o.n, 6);
	assert_int_equal(o.skips.total, 0);
	expect_event(&o, 0, "k1", "g-1", 1);
	expect_event(&o, 1, "k5", "g-5", 5);
	expect_event(&o, 2, "h2", "d-2", 2);
	expect_event(&o, 3, "AKIAEXAMPLE3", "ev-3", 3);
	expect_event(&o, 4, "sk_live_a4", "req_4", 4);
	expect_event(&o, 5, "h6", "d-6", 6);
	done(&o);
	run("gcp-audit", recs, 2, &o);
	assert_int_equal(o.n, 1);
	assert_string_equal(o.log, "keywatch: warning: t.log:2: not a Cloud "
				   "Audit Logs entry (no protoPayload, "
				   "protopayload_auditlog or logName)\n");
	done(&o);
	run("github-audit", recs, 2, &o);
	assert_int_equal(o.n, 1);
	expect_event(&o, 0, "h2", "d-2", 2);
	assert_string_equal(o.log,
			    "keywatch: warning: t.log:1: not a GitHub audit "
			    "log event (no action, _document_id, @timestamp "
			    "or hashed_token)\n");
	done(&o);
}

#define EB(detail)                                                             \
	"{\"version\":\"0\",\"id\":\"1\",\"detail-type\":\"AWS API Call via "  \
	"CloudTrail\",\"source\":\"aws.iam\",\"time\":\"2026-11-27T08:00:"     \
	"00Z\","                                                               \
	"\"detail\":" detail "}"

/* Wrapped records: an EventBridge event is its detail (recognised, or
 * with --format cloudtrail); a logEvents element its message (a control
 * message is not data); "<time> {json}" its JSON. */
static void test_wrapped(void **state)
{
	static const struct in recs[] = {
		{EB(CT("ev-1", "AKIAEXAMPLE1")), KW_REC_OBJECT},
		{EB(CT("ev-2", "AKIAEXAMPLE2")), KW_REC_OBJECT},
		{"{\"id\":\"9\",\"message\":\"CWL CONTROL MESSAGE: Checking "
		 "health of destination Firehose.\"}",
		 KW_REC_LOGEVENTS},
		{"{\"id\":\"3\",\"timestamp\":1795766400000,\"message\":"
		 "\"{\\\"id\\\":\\\"req_3\\\",\\\"created\\\":1795766400,"
		 "\\\"method\\\":\\\"GET\\\",\\\"path\\\":\\\"/\\\","
		 "\\\"status\\\":200,\\\"api_key\\\":\\\"sk_live_a3\\\"}\"}",
		 KW_REC_LOGEVENTS},
		{"2026-11-27T08:00:00.123Z " CT("ev-4", "AKIAEXAMPLE4"),
		 KW_REC_TEXT},
		{"2026-11-27 " CT("ev-5", "AKIAEXAMPLE5"), KW_REC_TEXT},
	};
	struct out o;

	(void)state;
	run(NULL, recs, N(recs), &o);
	assert_int_equal(o.n, 4);
	expect_event(&o, 0, "AKIAEXAMPLE1", "ev-1", 1);
	expect_event(&o, 1, "AKIAEXAMPLE2", "ev-2", 2);
	expect_event(&o, 2, "AKIAEXAMPLE4", "ev-4", 5);
	expect_event(&o, 3, "sk_live_a3", "req_3", 4);
	assert_int_equal(o.skips.count[KW_SKIP_NOT_DATA], 1);
	assert_int_equal(o.skips.count[KW_SKIP_BAD_JSON], 1);
	assert_int_equal(kw_skips_problems(&o.skips), 1);
	assert_non_null(strstr(o.log, "t.log:6: invalid JSON at column 1"));
	done(&o);
	run("cloudtrail", recs, 2, &o);
	assert_int_equal(o.n, 2);
	expect_event(&o, 1, "AKIAEXAMPLE2", "ev-2", 2);
	done(&o);
}

/* --map @root=PATH: the record is the object there, in every line. */
static void test_root(void **state)
{
	static const struct in recs[] = {
		{"{\"k\":1,\"p\":{\"q\":" KW("req_1", "sk_live_a1") "}}",
		 KW_REC_OBJECT},
		{"{\"p\":{\"q\":7}}", KW_REC_OBJECT},
		{"{\"p\":{\"q\":" CT("ev-3", "AKIAEXAMPLE3") "}}",
		 KW_REC_OBJECT},
	};
	struct kw_field_map map[1];
	struct kw_decoder_conf conf = {.map = map, .nmap = 1};
	struct kw_error err;
	struct out o;

	(void)state;
	assert_int_equal(kw_field_map_parse("@root=p.q", &map[0], &err), KW_OK);
	run_map(NULL, &conf, recs, N(recs), &o);
	assert_int_equal(o.n, 2);
	expect_event(&o, 0, "sk_live_a1", "req_1", 1);
	expect_event(&o, 1, "AKIAEXAMPLE3", "ev-3", 3);
	assert_string_equal(
		o.log, "keywatch: warning: t.log:2: no object at the record "
		       "root 'p.q' (--map @root)\n");
	done(&o);
}

static void test_peek(void **state)
{
	static const char *const names[] = {"created", "eventTime", "time"};
	static const char *const reals[] = {"1795766400.1234567",
					    "1795766400.1234564",
					    "1795766400.999999",
					    "1795132806.455",
					    "0.5",
					    "999999999.25",
					    "1795766400",
					    "1795766400."};
	const char *t = "{ \"a\" : {\"created\": 1, \"s\": \"}\\\"\"}, "
			"\"b\": [\"x\", {\"c\": 2}], \"k\\u0065y\": 3, "
			"\"eventTime\" : \"2026-11-27T08:00:00Z\" , "
			"\"created\": 5}";
	struct kw_str v;
	int64_t ts;

	(void)state;
	assert_int_equal(kw_json_peek(t, strlen(t), names, 3, &v), 1);
	assert_int_equal(v.n, 22);
	assert_memory_equal(v.p, "\"2026-11-27T08:00:00Z\"", 22);
	assert_true(kw_json_peek_time(v, &ts));
	assert_int_equal(ts, INT64_C(1795766400) * 1000000);
	assert_true(kw_json_peek_path(t, strlen(t), "a.s", &v));
	assert_memory_equal(v.p, "\"}\\\"\"", 5);
	assert_false(kw_json_peek_path(t, strlen(t), "a.x", &v));
	assert_false(kw_json_peek_path(t, strlen(t), "key", &v));
	assert_false(kw_json_peek_path(t, strlen(t), "b.c", &v));
	assert_int_equal(kw_json_peek("[1]", 3, names, 3, &v), -1);
	assert_int_equal(kw_json_peek("{\"created\":", 11, names, 3, &v), -1);
	assert_int_equal(
		kw_json_peek("{\"x\":\"unterminated", 18, names, 3, &v), -1);
	assert_true(kw_json_peek_time((struct kw_str){"1795766400", 10}, &ts));
	assert_int_equal(ts, INT64_C(1795766400) * 1000000);
	assert_true(
		kw_json_peek_time((struct kw_str){"1795766400123", 13}, &ts));
	assert_int_equal(ts, INT64_C(1795766400123) * 1000);
	assert_true(
		kw_json_peek_time((struct kw_str){"1795766400.5", 12}, &ts));
	assert_int_equal(ts, INT64_C(1795766400500000));
	/* the fast path for seconds gives the general one's answer (which
	 * goes through a double: within a microsecond) */
	for (size_t i = 0; i < N(reals); i++) {
		struct kw_json_value jv = {.type = KW_JSON_REAL};
		int64_t want;

		jv.d = strtod(reals[i], NULL);
		assert_true(kw_decode_time(&jv, &want));
		assert_true(kw_json_peek_time(
			(struct kw_str){reals[i], strlen(reals[i])}, &ts));
		assert_true(ts - want <= 1 && want - ts <= 1);
	}
	assert_false(kw_json_peek_time((struct kw_str){"-1", 2}, &ts));
	assert_false(kw_json_peek_time((struct kw_str){"true", 4}, &ts));
	assert_false(
		kw_json_peek_time((struct kw_str){"\"x\\u0031\"", 9}, &ts));
	assert_false(kw_json_peek_time((struct kw_str){"1e999", 5}, &ts));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mixed),	  cmocka_unit_test(test_forced),
		cmocka_unit_test(test_unclaimed), cmocka_unit_test(test_clouds),
		cmocka_unit_test(test_wrapped),	  cmocka_unit_test(test_root),
		cmocka_unit_test(test_peek),
	};

	kw_log_set_level(KW_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
