/*
 * test_http.c - what the HTTP sinks share (sink/http.h) and the webhook
 * sink's own parts: status codes to OK/RETRY/FAIL, Retry-After in both
 * forms and its cap, URL redaction (never a path, a query or a user),
 * secrets from "env:NAME" with their errors, the signature against a
 * vector computed independently (Python's hmac), and the webhook's create
 * errors and its describe line with nothing secret in it; URL checks of
 * every HTTP sink; the pieces chat messages are made of.
 *
 * No network here: tests/integration/delivery.py posts to a local
 * receiver.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sink/chat.h"
#include "sink/http.h"
#include "sink/sink.h"

static void test_classify(void **state)
{
	(void)state;
	assert_int_equal(kw_sink_http_classify(200), KW_SINK_OK);
	assert_int_equal(kw_sink_http_classify(202), KW_SINK_OK);
	assert_int_equal(kw_sink_http_classify(204), KW_SINK_OK);
	assert_int_equal(kw_sink_http_classify(301), KW_SINK_FAIL);
	assert_int_equal(kw_sink_http_classify(400), KW_SINK_FAIL);
	assert_int_equal(kw_sink_http_classify(401), KW_SINK_FAIL);
	assert_int_equal(kw_sink_http_classify(404), KW_SINK_FAIL);
	assert_int_equal(kw_sink_http_classify(408), KW_SINK_RETRY);
	assert_int_equal(kw_sink_http_classify(429), KW_SINK_RETRY);
	assert_int_equal(kw_sink_http_classify(500), KW_SINK_RETRY);
	assert_int_equal(kw_sink_http_classify(503), KW_SINK_RETRY);
	assert_int_equal(kw_sink_http_classify(0), KW_SINK_RETRY);
}

static void test_retry_after(void **state)
{
	/* Wed, 21 Oct 2015 07:28:00 GMT */
	const int64_t t = INT64_C(1445412480);

	(void)state;
	assert_int_equal(kw_sink_http_retry_after("1", 0), 1000);
	assert_int_equal(kw_sink_http_retry_after(" 120 \r\n", 0), 120000);
	assert_int_equal(kw_sink_http_retry_after("0", 0), 0);
	assert_int_equal(kw_sink_http_retry_after("99999", 0), 3600000);
	assert_int_equal(kw_sink_http_retry_after("1.5", 0), -1);
	assert_int_equal(kw_sink_http_retry_after("soon", 0), -1);
	assert_int_equal(kw_sink_http_retry_after("", 0), -1);
	assert_int_equal(kw_sink_http_retry_after(
				 " Wed, 21 Oct 2015 07:28:00 GMT\r\n", t - 5),
			 5000);
	assert_int_equal(kw_sink_http_retry_after(
				 "Wed, 21 Oct 2015 07:28:00 GMT", t + 9),
			 0);
	assert_int_equal(
		kw_sink_http_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 0),
		3600000);
}

static void redact(const char *url, const char *want)
{
	char buf[128];

	kw_sink_http_redact(url, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_redact(void **state)
{
	(void)state;
	redact("https://hooks.slack.com/services/T000/B000/XXXX",
	       "https://hooks.slack.com/\xe2\x80\xa6");
	redact("http://user:pw@127.0.0.1:8080/x?token=1",
	       "http://127.0.0.1:8080/\xe2\x80\xa6");
	redact("https://example.com", "https://example.com");
	redact("https://example.com?k=v", "https://example.com/\xe2\x80\xa6");
	redact("not a url/secret", "(a URL)");
}

static void test_sign(void **state)
{
	char buf[128];

	(void)state;
	/* python3: hmac.new(b"whsec_test", b'1795770843.{"a":1}',
	 * hashlib.sha256).hexdigest() */
	assert_int_equal(kw_sink_webhook_sign("whsec_test", 1795770843,
					      "{\"a\":1}", 7, buf, sizeof(buf)),
			 KW_OK);
	assert_string_equal(buf, "t=1795770843,v1=d01aad6c8ef69bd3b4a44dfc313a"
				 "dff9d9b5232ef4d398419e488e4f65ead0fe");
	/* Another second, another signature. */
	kw_sink_webhook_sign("whsec_test", 1795770844, "{\"a\":1}", 7, buf,
			     sizeof(buf));
	assert_null(strstr(buf, "d01aad6c"));
}

static enum kw_status create(const char *conf, struct kw_sink **s,
			     struct kw_error *err)
{
	struct kw_sink_env env = {.file = "t.json", .output = KW_OUTPUT_JSON};
	json_t *o = json_loads(conf, 0, NULL);
	enum kw_status st;

	assert_non_null(o);
	kw_error_clear(err);
	*s = NULL;
	st = kw_sink_create(o, 1, &env, s, err);
	json_decref(o);
	return st;
}

static void create_err(const char *conf, const char *want)
{
	struct kw_sink *s;
	struct kw_error err;

	assert_int_equal(create(conf, &s, &err), KW_ECONFIG);
	assert_null(s);
	assert_string_equal(err.msg, want);
}

static void test_webhook_create(void **state)
{
	struct kw_sink *s = NULL;
	struct kw_error err;
	char desc[256];

	(void)state;
	assert_ptr_equal(kw_sink_find("webhook"), &kw_sink_webhook);
	create_err("{\"type\": \"webhook\"}",
		   "t.json: sinks[1]: the webhook sink needs a 'url'");
	create_err("{\"type\": \"webhook\", \"url\": \"\"}",
		   "t.json: sinks[1]: the webhook sink needs a 'url'");
	unsetenv("KW_T_NOPE");
	create_err("{\"type\": \"webhook\", \"url\": \"env:KW_T_NOPE\"}",
		   "t.json: sinks[1].url: environment variable KW_T_NOPE is "
		   "not set");
	create_err("{\"type\": \"webhook\", \"url\": \"http://h/\", "
		   "\"secret\": \"env:KW_T_NOPE\"}",
		   "t.json: sinks[1].secret: environment variable KW_T_NOPE "
		   "is not set");
	create_err("{\"type\": \"webhook\", \"url\": \"http://h/\", "
		   "\"headers\": {\"Bad Name\": \"x\"}}",
		   "t.json: sinks[1].headers: 'Bad Name' must be a header name "
		   "with a string value");
	create_err("{\"type\": \"webhook\", \"url\": \"http://h/\", "
		   "\"headers\": {\"X-A\": \"a\\r\\nX-B: b\"}}",
		   "t.json: sinks[1].headers.X-A: a value may not hold a line "
		   "break");
	create_err("{\"type\": \"webhook\", \"url\": \"http://h/\", "
		   "\"timeout\": \"soon\"}",
		   "t.json: sinks[1].timeout: expected a duration such as "
		   "\"15m\", \"72h\" or \"7d\"");
	create_err("{\"type\": \"webhook\", \"url\": \"hooks.example.com/s3\"}",
		   "t.json: sinks[1].url: expected an http:// or https:// URL "
		   "(the value is not shown: it may be a secret)");
	create_err("{\"type\": \"slack\", \"url\": \"https:///s3\"}",
		   "t.json: sinks[1].url: expected an http:// or https:// URL "
		   "(the value is not shown: it may be a secret)");
	create_err("{\"type\": \"pagerduty\", \"url\": \"ftp://x/\", "
		   "\"routing_key\": \"k\"}",
		   "t.json: sinks[1].url: expected an http:// or https:// URL "
		   "(the value is not shown: it may be a secret)");
	create_err("{\"type\": \"pagerduty\"}",
		   "t.json: sinks[1]: the pagerduty sink needs a "
		   "'routing_key'");
	create_err("{\"type\": \"teams\"}",
		   "t.json: sinks[1]: the teams sink needs a 'url'");
	create_err("{\"type\": \"webhook\", \"uri\": \"http://h/\"}",
		   "t.json: sinks[1]: unknown key 'uri' (did you mean 'url'?)");

	setenv("KW_T_URL", "https://hooks.example.com/T1/B2/s3cr3tpath", 1);
	setenv("KW_T_TOKEN", "Bearer tok_s3cr3t", 1);
	assert_int_equal(
		create("{\"type\": \"webhook\", \"url\": \"env:KW_T_URL\", "
		       "\"secret\": \"whsec_s3cr3t\", \"timeout\": \"3s\", "
		       "\"headers\": {\"Authorization\": \"env:KW_T_TOKEN\", "
		       "\"X-Env\": \"prod\"}}",
		       &s, &err),
		KW_OK);
	kw_sink_describe(s, desc, sizeof(desc));
	assert_string_equal(desc, "webhook https://hooks.example.com/"
				  "\xe2\x80\xa6 (signed, timeout 3 s; "
				  "headers: Authorization, X-Env)");
	assert_null(strstr(desc, "s3cr3t"));
	kw_sink_destroy(s);

	assert_int_equal(create("{\"type\": \"webhook\", \"url\": "
				"\"http://127.0.0.1:9/\"}",
				&s, &err),
			 KW_OK);
	kw_sink_describe(s, desc, sizeof(desc));
	assert_string_equal(desc, "webhook http://127.0.0.1:9/\xe2\x80\xa6 "
				  "(unsigned, timeout 10 s)");
	kw_sink_destroy(s);
}

/* What a message for people says: the title and field names in words,
 * the key's kind and mode, values as text (cut at a character boundary),
 * the top lists, the request links and runbook, the next step for the
 * detector and the key's kind, the suppress fragment with until and
 * reason; an incident's event line and totals. */
static void test_chat_message(void **state)
{
	struct kw_alert a;
	struct kw_alert_key k;
	struct kw_chat_msg m;
	char longv[400];

	(void)state;
	memset(&k, 0, sizeof(k));
	snprintf(k.id, sizeof(k.id),
		 "sk_live_\xe2\x80\xa6"
		 "4242");
	snprintf(k.name, sizeof(k.name), "backend");
	k.kind = KW_KIND_SECRET;
	k.mode = KW_MODE_LIVE;
	assert_int_equal(kw_alert_init(&a, "geo.new_country", KW_SEV_HIGH,
				       INT64_C(1795770843) * 1000000, &k),
			 KW_OK);
	kw_alert_summary(&a, "it was used from CN");
	kw_alert_evidence_str(&a, "country", kw_str_c("CN"));
	kw_alert_evidence_int(&a, "status", 403);
	kw_alert_evidence_json(&a, "known_countries",
			       json_pack("[s,s]", "US", "IE"));
	kw_alert_evidence_json(&a, "ports", json_pack("[i,i]", 80, 443));
	kw_alert_evidence_json(&a, "accepted", json_true());
	/* 251 ASCII bytes then a 2-byte character across the cut at 252: the
	 * character goes whole, and the ellipsis takes its place. */
	memset(longv, 'x', 251);
	memcpy(longv + 251, "\xc3\xa9\xc3\xa9yyyyyyyyyy", 15);
	kw_alert_evidence_str(&a, "some_long_thing", kw_str_c(longv));
	kw_alert_suppress_str(&a, "country", kw_str_c("CN"));
	kw_alert_add_request(&a, kw_str_c("req_1"));
	kw_alert_add_request(&a, kw_str_c("req_2"));
	kw_alert_add_link(&a, "req_2", "https://dashboard.example/logs/req_2");
	snprintf(a.runbook, sizeof(a.runbook), "https://wiki.example/keys");
	kw_alert_set_id(&a, "country=CN");

	kw_sink_chat_message(&a, INT64_C(30) * 86400 * 1000000, &m);
	assert_string_equal(m.title, "HIGH \xc2\xb7 New country");
	assert_string_equal(m.event, "");
	assert_string_equal(m.key, "sk_live_\xe2\x80\xa6"
				   "4242 (backend): a secret key, live mode");
	assert_string_equal(m.what, "it was used from CN");
	assert_int_equal(m.nfields, 7);
	assert_string_equal(m.fields[0].name, "Requests");
	assert_string_equal(m.fields[0].value, "req_1, req_2");
	assert_string_equal(m.fields[1].name, "Country");
	assert_string_equal(m.fields[1].value, "CN");
	assert_string_equal(m.fields[2].name, "HTTP status");
	assert_string_equal(m.fields[2].value, "403");
	assert_string_equal(m.fields[3].name, "Countries seen before");
	assert_string_equal(m.fields[3].value, "US, IE");
	assert_string_equal(m.fields[4].name, "Ports");
	assert_string_equal(m.fields[4].value, "[80,443]");
	assert_string_equal(m.fields[5].name, "Accepted by the API");
	assert_string_equal(m.fields[5].value, "yes");
	assert_string_equal(m.fields[6].name, "Some long thing");
	assert_int_equal(strlen(m.fields[6].value), 252 + 2);
	assert_int_equal(memcmp(m.fields[6].value + 251, "\xe2\x80\xa6", 3), 0);
	assert_string_equal(m.next, "Check whether the key is meant to be "
				    "used from this country; if not, roll the "
				    "key.");
	assert_int_equal(m.nlinks, 2);
	assert_string_equal(m.links[0].text, "Request req_2");
	assert_string_equal(m.links[0].url,
			    "https://dashboard.example/logs/req_2");
	assert_string_equal(m.links[1].text, "Runbook");
	assert_string_equal(m.suppress,
			    "{\"detector\":\"geo.new_country\","
			    "\"key\":\"sk_live_*4242\",\"country\":\"CN\","
			    "\"until\":\"2026-12-27T09:14:03Z\","
			    "\"reason\":\"<why this is expected>\"}");
	assert_memory_equal(m.ids, "alert kwa_", 10);

	/* The next step of an operation outside the permissions depends on
	 * the kind of key. */
	a.detector = "ops.not_permitted";
	a.key.kind = KW_KIND_RESTRICTED;
	kw_sink_chat_message(&a, 0, &m);
	assert_string_equal(m.title, "HIGH \xc2\xb7 Operation outside the "
				     "key's permissions");
	assert_string_equal(m.next, "Check the restricted key's permissions: "
				    "grant this operation if it is expected; "
				    "if not, roll the key.");
	assert_string_equal(m.key, "sk_live_\xe2\x80\xa6"
				   "4242 (backend): a restricted key, live "
				   "mode");

	/* An incident update: its event line, totals and lists. */
	a.detector = "geo.new_ip";
	a.update = json_pack(
		"{s:s,s:s,s:s,s:i,s:i,s:i,s:{s:i,s:i},s:i,s:[{s:s,s:i},{s:s,"
		"s:i}],s:[{s:s,s:i}],s:[{s:s,s:i}],s:{s:s}}",
		"event", "updated", "opened", "2026-11-27T08:00:00Z",
		"last_alert", "2026-11-27T09:14:03Z", "alerts", 23,
		"new_alerts", 20, "message", 2, "detectors", "geo.new_ip", 20,
		"key.client_exposed", 3, "ip_count", 21, "ips", "ip", "1.2.3.4",
		"alerts", 3, "ip", "5.6.7.8", "alerts", 2, "countries",
		"country", "CN", "alerts", 1, "operations", "op", "prices.list",
		"alerts", 9, "alert", "id", "kwa_0123456789abcdef");
	kw_sink_chat_message(&a, 0, &m);
	assert_string_equal(m.event, "Incident update (2nd message)");
	assert_string_equal(m.what,
			    "it was used from CN\n23 alerts since "
			    "2026-11-27T08:00:00Z, from 21 IP addresses; 20 "
			    "new since the last message.");
	assert_string_equal(m.fields[0].name, "Alerts");
	assert_string_equal(m.fields[0].value,
			    "23: New IP address 20, Server-side key sent by a "
			    "browser 3");
	assert_string_equal(m.fields[1].name, "Operations");
	assert_string_equal(m.fields[1].value, "prices.list (9)");
	assert_string_equal(m.fields[2].name, "IP addresses");
	assert_string_equal(m.fields[2].value,
			    "1.2.3.4 (3), 5.6.7.8 (2) and 19 more");
	assert_string_equal(m.fields[3].name, "Countries");
	assert_string_equal(m.fields[3].value, "CN");
	assert_string_equal(m.fields[4].name, "First and last alert");
	assert_string_equal(m.fields[5].name, "Requests");
	assert_string_equal(m.fields[6].name, "HTTP status");
	assert_memory_equal(m.ids, "incident kwa_", 13);
	assert_non_null(strstr(m.ids, "worst alert kwa_0123456789abcdef"));
	assert_true(kw_sink_chat_bare_close(&a) == false);
	json_object_set_new(a.update, "event", json_string("closed"));
	json_object_set_new(a.update, "closed",
			    json_string("2026-11-27T10:14:03Z"));
	json_object_set_new(a.update, "new_alerts", json_integer(0));
	assert_true(kw_sink_chat_bare_close(&a));
	kw_sink_chat_message(&a, 0, &m);
	assert_string_equal(m.event, "Incident closed");
	assert_non_null(strstr(m.what, "\nClosed at 2026-11-27T10:14:03Z: no "
				       "alert on this key since "
				       "2026-11-27T09:14:03Z."));
	kw_alert_clear(&a);
	assert_int_equal(kw_sink_chat_colour(KW_SEV_CRITICAL), 0xd00000);
	assert_int_equal(kw_sink_chat_colour(KW_SEV_INFO), 0x9e9e9e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_sign),
		cmocka_unit_test(test_webhook_create),
		cmocka_unit_test(test_chat_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
