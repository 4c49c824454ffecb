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

/* The pieces of chat messages: fields, values as text, the cut at a
 * character boundary, the title, the suppress fragment, colours. */
static void test_chat_pieces(void **state)
{
	struct kw_alert a;
	struct kw_alert_key k;
	struct kw_chat_field f[KW_CHAT_MAX_FIELDS];
	char buf[600], longv[400];
	size_t n;

	(void)state;
	memset(&k, 0, sizeof(k));
	snprintf(k.id, sizeof(k.id),
		 "sk_live_\xe2\x80\xa6"
		 "4242");
	snprintf(k.name, sizeof(k.name), "backend");
	assert_int_equal(kw_alert_init(&a, "geo.new_country", KW_SEV_HIGH,
				       INT64_C(1795770843) * 1000000, &k),
			 KW_OK);
	kw_alert_evidence_str(&a, "country", kw_str_c("CN"));
	kw_alert_evidence_int(&a, "status", 403);
	kw_alert_evidence_json(&a, "known_countries",
			       json_pack("[s,s]", "US", "IE"));
	kw_alert_evidence_json(&a, "ports", json_pack("[i,i]", 80, 443));
	kw_alert_evidence_json(&a, "geo", json_pack("{s:s}", "asn", "AS1"));
	/* 251 ASCII bytes then a 3-byte character across the cut at 252: the
	 * character goes whole, and the ellipsis takes its place. */
	memset(longv, 'x', 251);
	memcpy(longv + 251, "\xc3\xa9\xc3\xa9yyyyyyyyyy", 15);
	kw_alert_evidence_str(&a, "long", kw_str_c(longv));
	kw_alert_suppress_str(&a, "country", kw_str_c("CN"));

	n = kw_sink_chat_fields(&a, f, KW_CHAT_MAX_FIELDS);
	assert_int_equal(n, 7);
	assert_string_equal(f[0].name, "Key");
	assert_string_equal(f[0].value, "sk_live_\xe2\x80\xa6"
					"4242 (backend)");
	assert_string_equal(f[1].name, "country");
	assert_string_equal(f[1].value, "CN");
	assert_string_equal(f[2].value, "403");
	assert_string_equal(f[3].value, "US, IE");
	assert_string_equal(f[4].value, "[80,443]");
	assert_string_equal(f[5].value, "{\"asn\":\"AS1\"}");
	assert_int_equal(strlen(f[6].value), 251 + 3);
	assert_int_equal(memcmp(f[6].value + 250, "x\xe2\x80\xa6", 5), 0);
	assert_int_equal(kw_sink_chat_fields(&a, f, 2), 2);

	kw_sink_chat_title(&a, buf, sizeof(buf));
	assert_string_equal(buf, "HIGH \xc2\xb7 geo.new_country");
	kw_sink_chat_suppress(&a, buf, sizeof(buf));
	assert_string_equal(buf, "{\"detector\":\"geo.new_country\","
				 "\"key\":\"sk_live_*4242\","
				 "\"country\":\"CN\"}");
	assert_int_equal(kw_sink_chat_colour(KW_SEV_CRITICAL), 0xd00000);
	assert_int_equal(kw_sink_chat_colour(KW_SEV_INFO), 0x9e9e9e);
	kw_alert_clear(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_sign),
		cmocka_unit_test(test_webhook_create),
		cmocka_unit_test(test_chat_pieces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
