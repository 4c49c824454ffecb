/*
 * test_json_dump.c - keywatch's JSON writer (core/json_dump.h) against
 * jansson's json_dumps(), and the alert written without a tree
 * (kw_alert_to_json) against the alert's tree (kw_alert_to_object)
 * written by jansson:
 *   - fixed values at the edges: every control byte, quotes, backslashes,
 *     '/', DEL, U+2028, 4-byte sequences, an embedded NUL, invalid UTF-8
 *     (which both refuse), INT64_MIN and INT64_MAX, reals from 5e-324 to
 *     1.8e308 with negative zero, empty and nested containers, sorted
 *     keys, the flags jansson is left to do (indent, ensure-ascii);
 *   - 3,000 random trees, each with four sets of flags;
 *   - 3,000 random alerts (odd bytes in every text field, invalid UTF-8
 *     where the alert repairs it and where it fails the text, evidence
 *     trees of every type, links, runbook, incident, AWS principals);
 *   - every alert of the golden tests (every detector's), read back from
 *     tests/golden/ * /expected and written again: the same bytes as the
 *     tree gives, and as the line itself.
 *
 * The one idea: jansson is the reference; whatever it writes, the writer
 * writes, byte for byte, and when it fails, the writer fails too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <math.h>

#include "core/alert.h"
#include "core/json_dump.h"
#include "test_rng.h"

/* Both writers on v with flags: the same text, or both NULL. Returns
 * whether a text was written. */
static bool same_dump(const json_t *v, size_t flags)
{
	char *want = json_dumps(v, flags);
	char *got = kw_json_dump(v, flags);

	if (want && got)
		assert_string_equal(got, want);
	else if (want || got)
		fail_msg("flags %zx: jansson %s, kw_json_dump %s", flags,
			 want ? want : "NULL", got ? got : "NULL");
	free(want);
	free(got);
	return got != NULL;
}

static const size_t flag_sets[] = {
	JSON_COMPACT | JSON_ENCODE_ANY,
	JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY,
	JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY,
	JSON_ENCODE_ANY,
	JSON_ENCODE_ANY | JSON_SORT_KEYS,
};

static void same_all(const json_t *v)
{
	for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++)
		same_dump(v, flag_sets[i]);
}

static void test_strings(void **state)
{
	char all[256];
	json_t *v;

	(void)state;
	for (int c = 0; c < 128; c++)
		all[c] = (char)c;
	v = json_stringn(all, 128);
	assert_non_null(v);
	assert_true(same_dump(v, JSON_ENCODE_ANY));
	json_decref(v);
	{
		static const char *const ok[] = {"",
						 "plain",
						 "q\"uote",
						 "back\\slash",
						 "sl/ash",
						 "caf\xc3\xa9",
						 "\xe6\x97\xa5\xe6\x9c\xac",
						 "\xe2\x80\xa8 \xe2\x80\xa9",
						 "\xf0\x9f\x98\x80 emoji",
						 "\xf4\x8f\xbf\xbf",
						 "\x7f",
						 "tab\there\r\n",
						 "\x1b[31mred",
						 "\x01\x1f\x0b\x0e"};

		for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
			v = json_string(ok[i]);
			assert_non_null(v);
			assert_true(same_dump(v, JSON_ENCODE_ANY));
			json_decref(v);
		}
	}
	/* An embedded NUL: \u0000. */
	v = json_stringn("a\0b", 3);
	assert_true(same_dump(v, JSON_ENCODE_ANY));
	json_decref(v);
	/* Invalid UTF-8 (only _nocheck makes such a string): both fail. */
	{
		static const char *const bad[] = {
			"\xff",		"cut \xc3",	    "\xc0\x80",
			"\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x80",
			"ok \x80 no"};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct kw_json_buf b = {NULL, 0, 0, false};

			v = json_string_nocheck(bad[i]);
			assert_false(same_dump(v, JSON_ENCODE_ANY));
			json_decref(v);
			/* The string alone: refused, nothing written, the
			 * buffer still good. */
			kw_json_buf_raw(&b, "x", 1);
			assert_false(
				kw_json_buf_string(&b, bad[i], strlen(bad[i])));
			assert_false(b.failed);
			assert_int_equal(b.len, 1);
			kw_json_buf_free(&b);
		}
	}
}

static void test_numbers(void **state)
{
	static const json_int_t ints[] = {
		0,   1,		-1,	   9,	      10,
		-10, 123456789, INT64_MAX, INT64_MIN, INT64_MIN + 1};
	static const double reals[] = {0.0,
				       -0.0,
				       0.1,
				       1.0,
				       -1.5,
				       100.0,
				       123.4,
				       1e16,
				       1e17,
				       -1e17,
				       1e-4,
				       1e-5,
				       2.5e-4,
				       5e-324,
				       1e-320,
				       1e300,
				       1.7976931348623157e308,
				       -2.2250738585072014e-308,
				       3.14159,
				       12345678901234567.0,
				       1e21,
				       1e22,
				       0.30000000000000004};

	(void)state;
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		json_t *v = json_integer(ints[i]);

		assert_true(same_dump(v, JSON_ENCODE_ANY));
		json_decref(v);
	}
	for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
		json_t *v = json_real(reals[i]);

		assert_non_null(v);
		assert_true(same_dump(v, JSON_ENCODE_ANY));
		json_decref(v);
	}
	rng_state = 0x5eed5eedULL;
	for (int i = 0; i < 20000; i++) {
		uint64_t bits = rnd();
		double d;
		json_t *v;

		memcpy(&d, &bits, sizeof(d));
		if (!isfinite(d))
			continue;
		v = json_real(d);
		assert_true(same_dump(v, JSON_ENCODE_ANY));
		json_decref(v);
		v = json_integer((json_int_t)rnd());
		assert_true(same_dump(v, JSON_ENCODE_ANY));
		json_decref(v);
	}
}

static void test_containers(void **state)
{
	json_t *v = json_pack("{s:{},s:[],s:[{},[[]],n,b,b],s:{s:i}}", "b", "a",
			      "c", 1, 0, "\xc3\xa9", "x\"y", 1);
	json_t *o = json_object();

	(void)state;
	assert_non_null(v);
	same_all(v);
	/* Without JSON_ENCODE_ANY, only an array or an object. */
	assert_true(same_dump(v, JSON_COMPACT));
	json_decref(v);
	v = json_integer(3);
	assert_false(same_dump(v, JSON_COMPACT));
	json_decref(v);
	/* Sorted by bytes, a key that is a prefix of another first. */
	json_object_set_new(o, "bb", json_integer(1));
	json_object_set_new(o, "b", json_integer(2));
	json_object_set_new(o, "\xc3\xa9", json_integer(3));
	json_object_set_new(o, "B", json_integer(4));
	json_object_set_new(o, "", json_integer(5));
	same_all(o);
	/* A key set again keeps its place. */
	json_object_set_new(o, "bb", json_integer(6));
	same_all(o);
	/* Flags the writer leaves to jansson. */
	assert_true(same_dump(o, JSON_INDENT(2)));
	assert_true(same_dump(o, JSON_ENSURE_ASCII | JSON_COMPACT));
	assert_true(same_dump(o, JSON_COMPACT | JSON_ESCAPE_SLASH));
	json_decref(o);
	/* A cycle: jansson refuses it; the writer stops at its depth. */
	o = json_array();
	v = json_array();
	assert_int_equal(json_array_append(v, o), 0);
	assert_int_equal(json_array_append(o, v), 0);
	assert_false(same_dump(o, JSON_COMPACT));
	json_array_clear(o);
	json_decref(o);
	json_decref(v);
}

/* ---- random values ------------------------------------------------------- */

/* Odd bytes: ASCII, every escape, valid sequences of 2 to 4 bytes, and
 * (when bad) invalid ones. At most cap - 1 bytes and a NUL; nul lets an
 * embedded NUL in. */
static size_t odd_text(char *out, size_t cap, bool bad, bool nul)
{
	static const char *const pieces[] = {"a",
					     "Z",
					     "0",
					     " ",
					     "\"",
					     "\\",
					     "/",
					     "\n",
					     "\t",
					     "\r",
					     "\b",
					     "\f",
					     "\x01",
					     "\x1f",
					     "\x7f",
					     "\xc3\xa9",
					     "\xe2\x80\xa6",
					     "\xe2\x80\xa8",
					     "\xf0\x9f\x98\x80",
					     "sk_live_",
					     "req_",
					     "kwa_",
					     "{}",
					     "\x1b"};
	static const char *const invalid[] = {
		"\xff", "\xc3", "\xc0\x80", "\xed\xa0\x80", "\x80", "\xf5"};
	size_t n = 0, want = rnd_below(cap < 64 ? cap : 64);

	while (n < want) {
		const char *p;
		size_t len;

		if (bad && rnd_below(12) == 0)
			p = invalid[rnd_below(sizeof(invalid) /
					      sizeof(invalid[0]))];
		else if (nul && rnd_below(30) == 0)
			p = "";
		else
			p = pieces[rnd_below(sizeof(pieces) /
					     sizeof(pieces[0]))];
		len = *p ? strlen(p) : 1;
		if (n + len + 1 > cap)
			break;
		memcpy(out + n, p, len);
		n += len;
	}
	out[n] = '\0';
	return n;
}

static json_t *random_value(int depth)
{
	char buf[128];
	size_t n;
	json_t *v;

	switch (rnd_below(depth < 3 ? 9 : 6)) {
	case 0:
		return json_null();
	case 1:
		return rnd_below(2) ? json_true() : json_false();
	case 2:
		return json_integer(rnd_below(4)
					    ? (json_int_t)rnd_below(1000) - 500
					    : (json_int_t)rnd());
	case 3: {
		uint64_t bits = rnd();
		double d;

		memcpy(&d, &bits, sizeof(d));
		if (!isfinite(d) || rnd_below(2))
			d = (double)((int64_t)rnd_below(100000) - 50000) / 10;
		return json_real(d);
	}
	case 4:
	case 5:
		n = odd_text(buf, sizeof(buf), rnd_below(20) == 0, true);
		return json_stringn_nocheck(buf, n);
	case 6:
	case 7:
		v = json_object();
		for (size_t i = rnd_below(5); i > 0; i--) {
			n = odd_text(buf, 24, false, false);
			json_object_set_new(v, buf, random_value(depth + 1));
		}
		return v;
	default:
		v = json_array();
		for (size_t i = rnd_below(5); i > 0; i--)
			json_array_append_new(v, random_value(depth + 1));
		return v;
	}
}

static void test_random_trees(void **state)
{
	(void)state;
	rng_state = 0x7eee5ULL;
	for (int i = 0; i < 3000; i++) {
		json_t *v = random_value(rnd_below(3));

		same_all(v);
		json_decref(v);
	}
}

/* ---- alerts -------------------------------------------------------------- */

/* The alert written without a tree and its tree written by jansson: the
 * same bytes, or both nothing. */
static void same_alert(const struct kw_alert *a)
{
	json_t *o = kw_alert_to_object(a);
	char *want =
		o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	char *got = kw_alert_to_json(a);

	if (want && got)
		assert_string_equal(got, want);
	else if (want || got)
		fail_msg("tree %s, direct %s", want ? want : "NULL",
			 got ? got : "NULL");
	free(want);
	free(got);
	json_decref(o);
}

static void random_alert(struct kw_alert *a)
{
	static const char *const detectors[] = {
		"geo.new_country", "rate.spike",   "ops.not_permitted",
		"key.honey",	   "errors.burst", "ip.unknown\"odd\\"};
	struct kw_alert_key k;
	char buf[256];
	bool bad = rnd_below(4) == 0; /* invalid UTF-8 in some fields */

	memset(&k, 0, sizeof(k));
	odd_text(k.id, sizeof(k.id), bad, false);
	if (rnd_below(8))
		snprintf(k.fp, sizeof(k.fp), "%016llx",
			 (unsigned long long)rnd());
	else
		odd_text(k.fp, sizeof(k.fp), bad, false);
	k.kind = (enum kw_key_kind)rnd_below(KW_KIND_MAX);
	k.mode = (enum kw_key_mode)rnd_below(KW_MODE_MAX);
	if (rnd_below(2))
		odd_text(k.name, sizeof(k.name), bad, false);
	if (rnd_below(3) == 0)
		odd_text(k.principal, sizeof(k.principal), bad, false);
	if (rnd_below(3) == 0) {
		odd_text(k.parent_id, sizeof(k.parent_id), bad, false);
		if (rnd_below(2))
			odd_text(k.parent_principal, sizeof(k.parent_principal),
				 bad, false);
	}
	kw_alert_init(a, detectors[rnd_below(6)],
		      (enum kw_severity)rnd_below(KW_SEV_MAX + 1),
		      (int64_t)rnd_below(INT64_C(4102444800000000)) -
			      (rnd_below(20) == 0 ? INT64_C(1000000000) : 0),
		      &k);
	if (rnd_below(4))
		kw_alert_set_id(a, "subject");
	else
		odd_text(a->id, sizeof(a->id), bad, false);
	if (rnd_below(3) == 0)
		odd_text(a->incident, sizeof(a->incident), bad, false);
	/* The summary as it is (not through kw_alert_summary, which would
	 * repair it): the renderers' own repair is what is compared. */
	odd_text(a->summary, sizeof(a->summary), bad, false);
	/* Half of them with trees (any value), half flat (what the setters
	 * take; a list or an object makes trees). */
	if (rnd_below(2))
		kw_alert_trees(a);
	for (size_t i = rnd_below(5); i > 0; i--) {
		odd_text(buf, 24, false, false);
		if (a->flat.on)
			kw_alert_evidence_json(a, buf, random_value(1));
		else
			json_object_set_new(a->evidence, buf, random_value(1));
	}
	if (rnd_below(3) == 0)
		kw_alert_evidence_str(
			a, "ua",
			(struct kw_str){buf, odd_text(buf, 200, true, false)});
	for (size_t i = rnd_below(KW_ALERT_MAX_REQUESTS + 1); i > 0; i--) {
		odd_text(a->requests[a->nrequests], sizeof(a->requests[0]),
			 rnd_below(8) == 0, false);
		a->nrequests++;
	}
	if (a->nrequests && rnd_below(2))
		kw_alert_add_link(a, a->requests[0],
				  "https://logs.example/r?q=1");
	if (rnd_below(3) == 0)
		odd_text(a->runbook, sizeof(a->runbook), bad, false);
	if (rnd_below(3) == 0)
		kw_alert_suppress_str(a, "op", kw_str_c("refunds.create"));
	if (rnd_below(30) == 0 && !a->flat.on) {
		json_decref(a->evidence);
		a->evidence = NULL;
	}
	if (rnd_below(30) == 0 && !a->flat.on) {
		json_decref(a->suppress);
		a->suppress = NULL;
	}
}

static void test_random_alerts(void **state)
{
	(void)state;
	rng_state = 0xa1e27ULL;
	for (int i = 0; i < 3000; i++) {
		struct kw_alert a;

		random_alert(&a);
		same_alert(&a);
		kw_alert_clear(&a);
	}
}

/* Every alert line of the golden tests, read back and written again. */
static void test_golden_alerts(void **state)
{
	char path[1024], det[64];
	size_t alerts = 0;
	DIR *d;
	struct dirent *e;

	(void)state;
	snprintf(path, sizeof(path), "%s/tests/golden", KW_SOURCE_ROOT);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d))) {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/tests/golden/%s/expected",
			 KW_SOURCE_ROOT, e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while ((n = getline(&line, &cap, f)) > 0) {
			json_t *o;
			struct kw_alert a;
			char *again;

			if (line[n - 1] == '\n')
				line[--n] = '\0';
			o = json_loadb(line, (size_t)n, 0, NULL);
			if (!o || kw_alert_from_object(o, &a, det,
						       sizeof(det)) != KW_OK) {
				json_decref(o);
				continue;
			}
			same_alert(&a);
			again = kw_alert_to_json(&a);
			assert_non_null(again);
			if (!a.update)
				assert_string_equal(again, line);
			free(again);
			kw_alert_clear(&a);
			json_decref(o);
			alerts++;
		}
		free(line);
		fclose(f);
	}
	closedir(d);
	/* The golden tests hold hundreds of alerts, of every detector. */
	assert_true(alerts > 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_containers),
		cmocka_unit_test(test_random_trees),
		cmocka_unit_test(test_random_alerts),
		cmocka_unit_test(test_golden_alerts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
