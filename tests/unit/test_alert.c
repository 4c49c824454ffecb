/*
 * test_alert.c - the alert (core/alert.h): the exact JSON bytes of a built
 * alert in the field order of doc/alerts.md, UTF-8 kept as is, the stable
 * id (SHA-256 of detector, fingerprint and subject, checked against ids
 * computed outside), the suppress key glob derived from the redacted id,
 * requests, copy and clear, the text line with and without colour, and the
 * severity names.
 *
 * The one idea: kw_alert_to_json() is the contract every output shares,
 * so the test pins whole lines, not fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alert.h"
#include "core/time.h"

#define ELLIPSIS "\xe2\x80\xa6"

static int64_t ts(const char *s)
{
	int64_t us = 0;

	assert_true(kw_time_parse(s, strlen(s), &us));
	return us;
}

static struct kw_alert_key spec_key(void)
{
	struct kw_alert_key k;

	memset(&k, 0, sizeof(k));
	strcpy(k.id, "sk_live_" ELLIPSIS "4242");
	strcpy(k.fp, "1c9a7e0b44d2f3a1");
	k.kind = KW_KIND_SECRET;
	k.mode = KW_MODE_LIVE;
	strcpy(k.name, "backend");
	return k;
}

/* The example of doc/alerts.md. */
static void build_spec_alert(struct kw_alert *a)
{
	struct kw_alert_key k = spec_key();
	json_t *known = json_pack("[s,s]", "US", "IE");

	assert_int_equal(kw_alert_init(a, "geo.new_country", KW_SEV_HIGH,
				       ts("2026-11-27T09:14:03.5Z"), &k),
			 KW_OK);
	kw_alert_summary(a,
			 "%s (%s) called from %s for the first time; seen "
			 "before: US, IE",
			 k.id, k.name, "CN");
	kw_alert_evidence_str(a, "ip", kw_str_c("175.16.199.7"));
	kw_alert_evidence_str(a, "country", kw_str_c("CN"));
	kw_alert_evidence_json(a, "known_countries", known);
	kw_alert_evidence_time(a, "learned_since", ts("2026-11-20T00:00:00Z"));
	kw_alert_add_request(a, kw_str_c("req_8Hq2LkV0aZ"));
	kw_alert_suppress_str(a, "country", kw_str_c("CN"));
	kw_alert_set_id(a, "country=CN");
}

static const char spec_json[] =
	"{\"schema\":\"keywatch.alert/1\",\"id\":\"kwa_31c944feade2456c\","
	"\"time\":\"2026-11-27T09:14:03Z\",\"detector\":\"geo.new_country\","
	"\"severity\":\"high\",\"key\":{\"id\":\"sk_live_" ELLIPSIS "4242\","
	"\"fp\":\"1c9a7e0b44d2f3a1\",\"kind\":\"secret\",\"mode\":\"live\","
	"\"name\":\"backend\"},\"summary\":\"sk_live_" ELLIPSIS
	"4242 (backend) called from CN for the first time; seen before: US, "
	"IE\",\"evidence\":{\"ip\":\"175.16.199.7\",\"country\":\"CN\","
	"\"known_countries\":[\"US\",\"IE\"],\"learned_since\":"
	"\"2026-11-20T00:00:00Z\"},\"requests\":[\"req_8Hq2LkV0aZ\"],"
	"\"suppress\":{\"detector\":\"geo.new_country\",\"key\":\"sk_live_*"
	"4242\",\"country\":\"CN\"}}";

static void test_json_exact(void **state)
{
	struct kw_alert a;
	char *json;

	(void)state;
	build_spec_alert(&a);
	json = kw_alert_to_json(&a);
	assert_non_null(json);
	assert_string_equal(json, spec_json);
	free(json);
	kw_alert_clear(&a);
}

static void test_json_minimal(void **state)
{
	struct kw_alert_key k;
	struct kw_alert a;
	char *json;

	(void)state;
	memset(&k, 0, sizeof(k));
	strcpy(k.id, "AKIA" ELLIPSIS "WXYZ");
	strcpy(k.fp, "00112233aabbccdd");
	k.kind = KW_KIND_LONG_TERM;
	k.mode = KW_MODE_UNKNOWN;
	assert_int_equal(kw_alert_init(&a, "key.honey", KW_SEV_CRITICAL, 0, &k),
			 KW_OK);
	/* Empty and NULL values are left out; no name, no requests. */
	kw_alert_evidence_str(&a, "ip", KW_STR_NULL);
	kw_alert_evidence_str(&a, "op", kw_str_c(""));
	kw_alert_evidence_int(&a, "status", -3);
	kw_alert_evidence_json(&a, "none", NULL);
	kw_alert_suppress_str(&a, "op", KW_STR_NULL);
	kw_alert_add_request(&a, KW_STR_NULL);
	json = kw_alert_to_json(&a);
	assert_string_equal(
		json,
		"{\"schema\":\"keywatch.alert/1\",\"id\":\"\",\"time\":"
		"\"1970-01-01T00:00:00Z\",\"detector\":\"key.honey\","
		"\"severity\":\"critical\",\"key\":{\"id\":\"AKIA" ELLIPSIS
		"WXYZ\",\"fp\":\"00112233aabbccdd\",\"kind\":\"long-term\","
		"\"mode\":\"unknown\"},\"summary\":\"\",\"evidence\":"
		"{\"status\":-3},\"requests\":[],\"suppress\":{\"detector\":"
		"\"key.honey\",\"key\":\"AKIA*WXYZ\"}}");
	free(json);
	kw_alert_clear(&a);
}

static void test_json_utf8(void **state)
{
	struct kw_alert_key k = spec_key();
	struct kw_alert a;
	char *json;
	const char *p;

	(void)state;
	strcpy(k.name, "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac");
	assert_int_equal(
		kw_alert_init(&a, "key.client_exposed", KW_SEV_LOW, 0, &k),
		KW_OK);
	kw_alert_summary(&a, "origin https://b\xc3\xbc"
			     "cher.example \"q\"\n");
	kw_alert_evidence_str(&a, "origin",
			      kw_str_c("https://b\xc3\xbc"
				       "cher.example"));
	/* Invalid UTF-8 (a cut sequence, a stray byte) becomes '?' rather
	 * than losing the field. */
	kw_alert_evidence_str(&a, "user_agent",
			      (struct kw_str){"Moz\xc3 \xff\x01x", 8});
	json = kw_alert_to_json(&a);
	assert_non_null(json);
	p = strstr(json, "\"key\":{");
	assert_non_null(p);
	assert_non_null(strstr(json, "\"name\":\"caf\xc3\xa9 \xe6\x97\xa5"
				     "\xe6\x9c\xac\"}"));
	assert_non_null(strstr(json, "\"summary\":\"origin https://b\xc3\xbc"
				     "cher.example \\\"q\\\"\\n\""));
	assert_non_null(strstr(json, "\"evidence\":{\"origin\":\"https://"
				     "b\xc3\xbc"
				     "cher.example\",\"user_agent\":\"Moz? "
				     "??x\"}"));
	assert_null(strstr(json, "\\u00"));
	free(json);
	kw_alert_clear(&a);
}

static void test_stable_id(void **state)
{
	struct kw_alert_key k = spec_key();
	struct kw_alert a, b;

	(void)state;
	kw_alert_init(&a, "geo.new_country", KW_SEV_HIGH, 1, &k);
	kw_alert_init(&b, "geo.new_country", KW_SEV_LOW, 999999999, &k);
	kw_alert_set_id(&a, "country=CN");
	kw_alert_set_id(&b, "country=CN");
	/* Time, severity and evidence do not change the id. */
	assert_string_equal(a.id, "kwa_31c944feade2456c");
	assert_string_equal(b.id, a.id);
	assert_int_equal(strlen(a.id), KW_ALERT_ID_LEN);
	kw_alert_set_id(&b, "country=SG");
	assert_string_equal(b.id, "kwa_655fb6211350f518");
	kw_alert_clear(&b);
	/* Another detector or key: another id. */
	kw_alert_init(&b, "key.honey", KW_SEV_CRITICAL, 1, &k);
	kw_alert_set_id(&b, "honey");
	assert_string_equal(b.id, "kwa_a3b798b44e22b236");
	kw_alert_set_id(&b, "country=CN");
	assert_string_not_equal(b.id, a.id);
	kw_alert_clear(&b);
	strcpy(k.fp, "1c9a7e0b44d2f3a2");
	kw_alert_init(&b, "geo.new_country", KW_SEV_HIGH, 1, &k);
	kw_alert_set_id(&b, "country=CN");
	assert_string_not_equal(b.id, a.id);
	kw_alert_clear(&b);
	kw_alert_clear(&a);
}

static void test_suppress_glob(void **state)
{
	struct kw_alert_key k = spec_key();
	struct kw_alert a;

	(void)state;
	strcpy(k.id, "rk_test_" ELLIPSIS "a1b2");
	kw_alert_init(&a, "ops.not_permitted", KW_SEV_HIGH, 0, &k);
	kw_alert_trees(&a);
	assert_string_equal(
		json_string_value(json_object_get(a.suppress, "key")),
		"rk_test_*a1b2");
	assert_string_equal(
		json_string_value(json_object_get(a.suppress, "detector")),
		"ops.not_permitted");
	kw_alert_clear(&a);
	/* A key already redacted in the log keeps its own marks; only the
	 * ellipsis becomes '*'. */
	strcpy(k.id, "sk_live_...4242");
	kw_alert_init(&a, "ops.not_permitted", KW_SEV_HIGH, 0, &k);
	kw_alert_trees(&a);
	assert_string_equal(
		json_string_value(json_object_get(a.suppress, "key")),
		"sk_live_...4242");
	kw_alert_clear(&a);
	strcpy(k.id, "x" ELLIPSIS "y" ELLIPSIS);
	kw_alert_init(&a, "d", KW_SEV_HIGH, 0, &k);
	kw_alert_trees(&a);
	assert_string_equal(
		json_string_value(json_object_get(a.suppress, "key")), "x*y*");
	kw_alert_clear(&a);
	strcpy(k.id, "?");
	kw_alert_init(&a, "d", KW_SEV_HIGH, 0, &k);
	kw_alert_trees(&a);
	assert_string_equal(
		json_string_value(json_object_get(a.suppress, "key")), "?");
	kw_alert_clear(&a);
}

static void test_requests(void **state)
{
	struct kw_alert_key k = spec_key();
	struct kw_alert a;
	char longid[80];

	(void)state;
	kw_alert_init(&a, "d", KW_SEV_INFO, 0, &k);
	kw_alert_add_request(&a, kw_str_c("r1"));
	kw_alert_add_request(&a, kw_str_c("r1"));
	kw_alert_add_request(&a, (struct kw_str){"r2xxx", 2});
	memset(longid, 'z', sizeof(longid));
	/* too long: cut to 63 bytes, the cut marked */
	kw_alert_add_request(&a, (struct kw_str){longid, 64});
	kw_alert_add_request(&a, (struct kw_str){longid, 63});
	kw_alert_add_request(&a, kw_str_c("r"));
	kw_alert_add_request(&a, kw_str_c("r4"));
	assert_int_equal(a.nrequests, KW_ALERT_MAX_REQUESTS);
	assert_string_equal(a.requests[0], "r1");
	assert_string_equal(a.requests[1], "r2");
	assert_int_equal(strlen(a.requests[2]), 63);
	assert_memory_equal(a.requests[2], longid, 60);
	assert_string_equal(a.requests[2] + 60, "\xe2\x80\xa6");
	assert_int_equal(strlen(a.requests[3]), 63);
	assert_memory_equal(a.requests[3], longid, 63);
	assert_string_equal(a.requests[4], "r");
	kw_alert_clear(&a);
}

#define KEY "sk_live_51HxAbCdEfGhIjKlMnOpQrSt4242"

/* Everything copied into an alert is redacted by value: the key of the
 * request (a.secret) and any long piece of it become its redacted id in
 * the summary, evidence (strings and strings inside JSON values), suppress
 * and request ids. */
static void test_redacted_by_value(void **state)
{
	struct kw_alert_key k = spec_key();
	struct kw_alert a;
	char *json, big[3000];

	(void)state;
	kw_alert_init(&a, "key.client_exposed", KW_SEV_HIGH, 0, &k);
	a.secret = kw_str_c(KEY);
	kw_alert_add_request(&a, kw_str_c("req_" KEY));
	kw_alert_evidence_str(&a, "path", kw_str_c("/v1/customers/" KEY));
	kw_alert_evidence_str(&a, "user_agent",
			      kw_str_c("curl/8 token=" KEY " piece=" KEY));
	kw_alert_evidence_str(&a, "origin",
			      kw_str_c("https://sk_live_51HxAbCdEfGh.example"));
	kw_alert_evidence_json(&a, "seen",
			       json_pack("[s,{s:s}]", "x " KEY, "k", KEY));
	kw_alert_suppress_str(&a, "op", kw_str_c("POST /v1/" KEY));
	/* the key far past where a first formatting would stop */
	memset(big, 'a', 2000);
	big[2000] = '\0';
	kw_alert_summary(&a, "%s%s", big, KEY);
	assert_null(strstr(a.summary, "sk_live_51"));
	kw_alert_summary(&a, "sent by %s from %s", KEY, "203.0.113.5");
	json = kw_alert_to_json(&a);
	assert_non_null(json);
	assert_null(strstr(json, "51HxAbCd"));
	assert_string_equal(a.summary, "sent by sk_live_" ELLIPSIS
				       "4242 from 203.0.113.5");
	assert_non_null(strstr(json,
			       "\"evidence\":{\"path\":\"/v1/customers/"
			       "sk_live_" ELLIPSIS "4242\",\"user_agent\":"
			       "\"curl/8 token=sk_live_" ELLIPSIS "4242 "
			       "piece=sk_live_" ELLIPSIS "4242\",\"origin\":"
			       "\"https://sk_live_" ELLIPSIS "4242.example\","
			       "\"seen\":[\"x sk_live_" ELLIPSIS "4242\","
			       "{\"k\":\"sk_live_" ELLIPSIS "4242\"}]}"));
	assert_non_null(strstr(json, "\"requests\":[\"req_sk_live_" ELLIPSIS
				     "4242\"]"));
	assert_non_null(
		strstr(json, "\"op\":\"POST /v1/sk_live_" ELLIPSIS "4242\""));
	free(json);
	kw_alert_clear(&a);
}

/* Text from a request is cut to KW_ALERT_TEXT_MAX bytes, marked "…": a
 * 500 KB user agent makes a small alert. */
static void test_bounded(void **state)
{
	struct kw_alert_key k = spec_key();
	struct kw_alert a;
	size_t n = 500000;
	char *ua = malloc(n + 1);
	const char *v;
	char *json;

	(void)state;
	for (size_t i = 0; i + 1 < n; i += 2)
		memcpy(ua + i, "\xc3\xa9", 2);
	ua[n] = '\0';
	kw_alert_init(&a, "key.client_exposed", KW_SEV_HIGH, 0, &k);
	kw_alert_evidence_str(&a, "user_agent", (struct kw_str){ua, n});
	kw_alert_evidence_json(&a, "list", json_pack("[s]", ua));
	kw_alert_suppress_str(&a, "ua", (struct kw_str){ua, n});
	kw_alert_summary(&a, "from %s", ua);
	v = json_string_value(json_object_get(a.evidence, "user_agent"));
	assert_true(strlen(v) <= KW_ALERT_TEXT_MAX - 1);
	assert_true(strlen(v) > KW_ALERT_TEXT_MAX - 8);
	assert_string_equal(v + strlen(v) - 3, ELLIPSIS);
	v = json_string_value(
		json_array_get(json_object_get(a.evidence, "list"), 0));
	assert_true(strlen(v) <= KW_ALERT_TEXT_MAX - 1);
	assert_true(strlen(a.summary) <= sizeof(a.summary) - 1);
	assert_string_equal(a.summary + strlen(a.summary) - 3, ELLIPSIS);
	json = kw_alert_to_json(&a);
	assert_true(strlen(json) < 2048);
	free(json);
	kw_alert_clear(&a);
	free(ua);
}

static void test_copy_clear(void **state)
{
	struct kw_alert a, b;
	char *ja, *jb;

	(void)state;
	build_spec_alert(&a);
	assert_int_equal(kw_alert_copy(&b, &a), KW_OK);
	assert_ptr_not_equal(b.evidence, a.evidence);
	assert_ptr_not_equal(b.suppress, a.suppress);
	/* Changing the original leaves the copy as it was. */
	kw_alert_evidence_str(&a, "country", kw_str_c("SG"));
	kw_alert_suppress_str(&a, "country", kw_str_c("SG"));
	kw_alert_clear(&a);
	kw_alert_clear(&a); /* twice */
	assert_null(a.evidence);
	assert_null(a.suppress);
	jb = kw_alert_to_json(&b);
	assert_string_equal(jb, spec_json);
	free(jb);
	/* A cleared alert still renders, with empty objects. */
	kw_alert_clear(&b);
	ja = kw_alert_to_json(&b);
	assert_non_null(strstr(ja, "\"evidence\":{},\"requests\":"
				   "[\"req_8Hq2LkV0aZ\"],\"suppress\":{}}"));
	free(ja);
	/* Clear on a zeroed alert. */
	memset(&a, 0, sizeof(a));
	kw_alert_clear(&a);
}

/* kw_alert_move over a destination full of another alert's bytes: every
 * member arrives, and what it renders is the source's, flat or as trees,
 * however full its texts. */
static void test_move(void **state)
{
	static struct kw_alert a, b;
	struct kw_alert_key k = spec_key();
	char long_text[600];

	(void)state;
	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	snprintf(k.principal, sizeof(k.principal), "123456789012:role/ci");
	snprintf(k.parent_id, sizeof(k.parent_id), "AKIA" ELLIPSIS "MPLE");
	snprintf(k.parent_principal, sizeof(k.parent_principal),
		 "123456789012:user/alice");
	for (int round = 0; round < 3; round++) {
		char *ja, *jb;

		build_spec_alert(&a);
		if (round == 1) {
			kw_alert_trees(&a);
		} else if (round == 2) {
			/* every text full to its last byte */
			a.key = k;
			kw_alert_summary(&a, "%s", long_text);
			for (int i = 0; i < KW_ALERT_MAX_REQUESTS; i++) {
				char req[80];

				snprintf(req, sizeof(req), "req_%d_%.70s", i,
					 long_text);
				kw_alert_add_request(&a, kw_str_c(req));
			}
			memset(a.runbook, 'r', sizeof(a.runbook) - 1);
			a.runbook[sizeof(a.runbook) - 1] = '\0';
		}
		snprintf(a.incident, sizeof(a.incident),
			 "kwi_0123456789abcdef");
		a.update = round == 1 ? json_pack("{s:s}", "event", "opened")
				      : NULL;
		a.incomplete = round == 2;
		a.stream = 77 + (uint64_t)round;
		memset(&b, 0xa5, sizeof(b));
		kw_alert_move(&b, &a);
		assert_string_equal(b.id, a.id);
		assert_true(b.time == a.time);
		assert_ptr_equal(b.detector, a.detector);
		assert_int_equal(b.severity, a.severity);
		assert_string_equal(b.key.id, a.key.id);
		assert_string_equal(b.key.fp, a.key.fp);
		assert_int_equal(b.key.kind, a.key.kind);
		assert_int_equal(b.key.mode, a.key.mode);
		assert_string_equal(b.key.name, a.key.name);
		assert_string_equal(b.key.principal, a.key.principal);
		assert_string_equal(b.key.parent_id, a.key.parent_id);
		assert_string_equal(b.key.parent_principal,
				    a.key.parent_principal);
		assert_string_equal(b.summary, a.summary);
		assert_int_equal(b.nrequests, a.nrequests);
		for (unsigned i = 0; i < a.nrequests; i++)
			assert_string_equal(b.requests[i], a.requests[i]);
		assert_string_equal(b.runbook, a.runbook);
		assert_string_equal(b.incident, a.incident);
		assert_ptr_equal(b.evidence, a.evidence);
		assert_ptr_equal(b.suppress, a.suppress);
		assert_ptr_equal(b.links, a.links);
		assert_ptr_equal(b.update, a.update);
		assert_int_equal(b.flat.on, a.flat.on);
		assert_int_equal(b.flat.n, a.flat.n);
		assert_int_equal(b.flat.used, a.flat.used);
		assert_int_equal(b.incomplete, a.incomplete);
		assert_true(b.stream == a.stream);
		assert_ptr_equal(b.secret.p, a.secret.p);
		ja = kw_alert_to_json(&a);
		jb = kw_alert_to_json(&b);
		assert_string_equal(jb, ja);
		free(ja);
		free(jb);
		kw_alert_forget(&b); /* the parts moved: a still owns them */
		kw_alert_clear(&a);
	}
}

static void test_text(void **state)
{
	struct kw_alert a;
	char buf[1024];
	char small[24];

	(void)state;
	build_spec_alert(&a);
	kw_alert_to_text(&a, false, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-27T09:14:03Z high     geo.new_country"
				 "        sk_live_" ELLIPSIS
				 "4242 (backend) called from CN for the first "
				 "time; seen before: US, IE");
	kw_alert_to_text(&a, true, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-27T09:14:03Z \033[31mhigh    \033[0m "
				 "geo.new_country        sk_live_" ELLIPSIS
				 "4242 (backend) called from CN for the first "
				 "time; seen before: US, IE");
	a.severity = KW_SEV_CRITICAL;
	kw_alert_to_text(&a, true, buf, sizeof(buf));
	assert_memory_equal(buf,
			    "2026-11-27T09:14:03Z \033[1;31mcritical\033[0m ",
			    21 + 7 + 8 + 4 + 1);
	a.severity = KW_SEV_INFO;
	kw_alert_to_text(&a, true, buf, sizeof(buf));
	assert_memory_equal(buf, "2026-11-27T09:14:03Z \033[2minfo    \033[0m ",
			    21 + 4 + 8 + 4 + 1);
	a.severity = KW_SEV_LOW;
	kw_alert_to_text(&a, true, buf, sizeof(buf));
	assert_memory_equal(buf,
			    "2026-11-27T09:14:03Z \033[36mlow     \033[0m ",
			    21 + 5 + 8 + 4 + 1);
	a.severity = KW_SEV_MEDIUM;
	kw_alert_to_text(&a, false, buf, sizeof(buf));
	assert_memory_equal(buf, "2026-11-27T09:14:03Z medium   geo.", 34);
	/* Cut to fit. */
	kw_alert_to_text(&a, false, small, sizeof(small));
	assert_string_equal(small, "2026-11-27T09:14:03Z me");
	kw_alert_clear(&a);
}

/* ------------------------------------------- flat form against trees */

static uint64_t rng = 0x5eed;

static unsigned below(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* Random text into buf (cap bytes): ASCII, UTF-8, the key, control
 * bytes, and now and then a byte that breaks UTF-8; some long enough to
 * be cut, or to fill the flat form. */
static size_t odd(char *buf, size_t cap, const char *secret)
{
	static const char *const bits[] = {
		"a",	"Z",	    "/v1/x",	  " ",	      "\"",
		"\\",	"\n",	    "\x01",	  "\xc3\xa9", ELLIPSIS,
		"\xff", "\xe2\x80", "203.0.113.9"};
	size_t n = 0, want = below(4) == 0 ? below(900) : below(40);

	while (n < want && n + 20 < cap) {
		const char *b =
			below(12) == 0
				? secret
				: bits[below(sizeof(bits) / sizeof(bits[0]))];
		size_t len = strlen(b);

		memcpy(buf + n, b, len);
		n += len;
	}
	buf[n] = '\0';
	return n;
}

/* The same calls on an alert kept flat and on one made trees first give
 * the same alert: the same JSON, the same incompleteness, the same
 * answers from the getters, the same copies. Names repeat (a field set
 * again keeps its place), names and values break UTF-8, values are cut
 * or fill the flat form (which then becomes trees half way). */
static void test_flat_as_trees(void **state)
{
	static const char *const names[] = {
		"op",	   "ip",  "path", "country",
		"region",  "n",	  "t",	  "\xc3\xa9t\xc3\xa9",
		"bad\xff", "k1",  "k2",	  "k3",
		"k4",	   "k5",  "k6",	  "k7",
		"k8",	   "k9",  "k10",  "k11",
		"k12",	   "k13", "k14",  "k15"};
	static const char secret[] = "sk_live_abcdefghijklmnop4242";
	struct kw_alert_key k = spec_key();
	char buf[1024], url[1024];

	(void)state;
	for (int round = 0; round < 3000; round++) {
		struct kw_alert a[2], c;
		char *j[2], *jc;
		json_t *o[2], *want = json_object();
		size_t len[2];
		const char *t[2];
		unsigned nops = below(4) == 0 ? 40 : below(12);

		for (int w = 0; w < 2; w++) {
			kw_alert_init(&a[w], "ops.first_seen", KW_SEV_LOW,
				      1795132800000000, &k);
			a[w].secret = kw_str_c(secret);
		}
		kw_alert_trees(&a[1]);
		assert_false(a[0].evidence || a[0].suppress || a[0].links);
		assert_non_null(a[1].evidence);
		for (unsigned i = 0; i < nops; i++) {
			unsigned op = below(8);
			const char *name =
				names[below(sizeof(names) / sizeof(names[0]))];
			size_t n = odd(buf, sizeof(buf), secret);
			int64_t v = (int64_t)below(1000) - 500;
			unsigned pick = below(3), which = below(2);

			if (op == 6)
				kw_alert_add_request(&a[0], kw_str_c(buf));
			for (int w = 0; w < 2; w++) {
				struct kw_str s = {buf, n};

				switch (op) {
				case 0:
				case 1:
					kw_alert_evidence_str(&a[w], name, s);
					break;
				case 2:
					kw_alert_evidence_int(&a[w], name, v);
					break;
				case 3:
					kw_alert_evidence_time(&a[w], name,
							       v * 86400000000);
					break;
				case 4:
					kw_alert_evidence_json(
						&a[w], name,
						pick == 0
							? json_pack("[s]", "x")
						: v & 1 ? json_true()
						: v & 2 ? json_integer(v)
							: json_stringn(buf, n));
					break;
				case 5:
					kw_alert_suppress_str(&a[w], name, s);
					break;
				case 6:
					if (w)
						kw_alert_add_request(&a[w], s);
					break;
				default:
					if (!a[w].nrequests)
						break;
					snprintf(url, sizeof(url),
						 "https://l/%s", buf);
					kw_alert_add_link(
						&a[w],
						a[w].requests
							[which ? 0
							       : a[w].nrequests -
									 1],
						url);
					break;
				}
			}
			if (op == 5 && which)
				json_object_set_new(want, name,
						    json_stringn(buf, n));
		}
		for (int w = 0; w < 2; w++) {
			j[w] = kw_alert_to_json(&a[w]);
			o[w] = kw_alert_to_object(&a[w]);
			t[w] = kw_alert_evidence_text(&a[w], "ip", &len[w]);
		}
		assert_int_equal(a[0].incomplete, a[1].incomplete);
		assert_true((j[0] == NULL) == (j[1] == NULL));
		if (j[0])
			assert_string_equal(j[0], j[1]);
		assert_true((o[0] == NULL) == (o[1] == NULL));
		if (o[0])
			assert_true(json_equal(o[0], o[1]));
		assert_true((t[0] == NULL) == (t[1] == NULL));
		if (t[0]) {
			assert_int_equal(len[0], len[1]);
			assert_memory_equal(t[0], t[1], len[0]);
		}
		for (unsigned r = 0; r < a[1].nrequests; r++) {
			const char *l0 = kw_alert_link(&a[0], a[1].requests[r]);
			const char *l1 = kw_alert_link(&a[1], a[1].requests[r]);

			assert_true((l0 == NULL) == (l1 == NULL));
			if (l0)
				assert_string_equal(l0, l1);
		}
		assert_int_equal(kw_alert_suppress_has(&a[0], want),
				 kw_alert_suppress_has(&a[1], want));
		/* a queue's copy: trees, the same bytes */
		kw_alert_copy(&c, &a[0]);
		assert_false(c.flat.on);
		jc = kw_alert_to_json(&c);
		assert_true((jc == NULL) == (j[0] == NULL));
		if (jc)
			assert_string_equal(jc, j[0]);
		free(jc);
		kw_alert_clear(&c);
		for (int w = 0; w < 2; w++) {
			free(j[w]);
			json_decref(o[w]);
			kw_alert_clear(&a[w]);
		}
		json_decref(want);
	}
}

static void test_severity(void **state)
{
	static const char *const names[] = {"info", "low", "medium", "high",
					    "critical"};
	enum kw_severity s;

	(void)state;
	for (int i = 0; i < KW_SEV_MAX; i++) {
		assert_string_equal(kw_severity_name((enum kw_severity)i),
				    names[i]);
		s = KW_SEV_MAX;
		assert_true(kw_severity_parse(names[i], &s));
		assert_int_equal(s, i);
	}
	assert_string_equal(kw_severity_name(KW_SEV_MAX), "info");
	assert_string_equal(kw_severity_name((enum kw_severity) - 1), "info");
	/* Any case: what people type on a command line. */
	s = KW_SEV_INFO;
	assert_true(kw_severity_parse("HIGH", &s));
	assert_int_equal(s, KW_SEV_HIGH);
	assert_true(kw_severity_parse("Critical", &s));
	assert_int_equal(s, KW_SEV_CRITICAL);
	s = KW_SEV_HIGH;
	assert_false(kw_severity_parse("", &s));
	assert_false(kw_severity_parse("hig", &s));
	assert_false(kw_severity_parse("high ", &s));
	assert_false(kw_severity_parse("warning", &s));
	assert_int_equal(s, KW_SEV_HIGH);
	assert_true(KW_SEV_INFO < KW_SEV_LOW && KW_SEV_LOW < KW_SEV_MEDIUM &&
		    KW_SEV_MEDIUM < KW_SEV_HIGH &&
		    KW_SEV_HIGH < KW_SEV_CRITICAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_exact),
		cmocka_unit_test(test_json_minimal),
		cmocka_unit_test(test_json_utf8),
		cmocka_unit_test(test_stable_id),
		cmocka_unit_test(test_suppress_glob),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_redacted_by_value),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_copy_clear),
		cmocka_unit_test(test_move),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_severity),
		cmocka_unit_test(test_flat_as_trees),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
