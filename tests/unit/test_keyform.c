/*
 * test_keyform.c - the key inside a value (ingest/keyform.h): each form
 * takes the key out of what carries it, says exactly why when it cannot,
 * and refuses forms it could not bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/decoder.h"
#include "ingest/keyform.h"

struct out {
	char buf[KW_KEYFORM_VALUE_MAX + 1];
	char key[KW_KEYFORM_VALUE_MAX + 1];
};

/* Extract with the form text "form" from value; NULL and the key in o->key,
 * or the reason. */
static const char *extract(const char *form, const char *value, struct out *o)
{
	struct kw_keyform_spec spec;
	struct kw_keyform *kf = NULL;
	struct kw_error err;
	struct kw_str key = KW_STR_NULL;
	const char *why;

	assert_int_equal(kw_keyform_parse(form, strlen(form), &spec, &err),
			 KW_OK);
	assert_int_equal(kw_keyform_create(&spec, &kf, &err), KW_OK);
	why = kw_keyform_extract(kf, value, strlen(value), o->buf,
				 strlen(value) + 1, &key);
	o->key[0] = '\0';
	if (!why)
		snprintf(o->key, sizeof(o->key), "%.*s", (int)key.n, key.p);
	kw_keyform_destroy(kf);
	return why;
}

static void test_bearer(void **state)
{
	struct out o;

	(void)state;
	assert_null(extract("bearer", "Bearer sk_live_51HxAbc4242", &o));
	assert_string_equal(o.key, "sk_live_51HxAbc4242");
	/* the scheme in any case, spaces around */
	assert_null(
		extract("BEARER", "  bearer \t eyJhbGciOi.J9.x-_~+/== ", &o));
	assert_string_equal(o.key, "eyJhbGciOi.J9.x-_~+/==");
	assert_string_equal(extract("bearer", "Bearer", &o),
			    " has an empty Bearer token");
	assert_string_equal(extract("bearer", "Bearer   ", &o),
			    " has an empty Bearer token");
	assert_string_equal(extract("bearer", "Bearersk_live_x", &o),
			    " is not a Bearer credential");
	assert_string_equal(extract("bearer", "Basic c2tfbGl2ZV94Og==", &o),
			    " is not a Bearer credential");
	assert_string_equal(extract("bearer", "sk_live_51HxAbc4242", &o),
			    " is not a Bearer credential");
	assert_string_equal(
		extract("bearer", "Bearer two words", &o),
		" has a Bearer token that is not one word of visible ASCII");
	assert_string_equal(
		extract("bearer", "Bearer caf\xc3\xa9", &o),
		" has a Bearer token that is not one word of visible ASCII");
}

static void test_basic(void **state)
{
	struct out o;

	(void)state;
	/* Stripe: the key as the user, no password */
	assert_null(extract("basic",
			    "Basic c2tfbGl2ZV81MUh4QWJjNDI0Mjo=", &o)); /* k: */
	assert_string_equal(o.key, "sk_live_51HxAbc4242");
	/* a password is dropped; padding may be left out */
	assert_null(
		extract("basic", "basic YXBpOnNlY3JldA", &o)); /* api:secret */
	assert_string_equal(o.key, "api");
	assert_string_equal(extract("basic", "Basic", &o),
			    " has empty Basic credentials");
	assert_string_equal(extract("basic", "Basic !!!!", &o),
			    " has Basic credentials that are not base64");
	assert_string_equal(extract("basic", "Basic YXBpOnNlY3JldA=", &o),
			    " has Basic credentials that are not base64");
	assert_string_equal(extract("basic", "Basic YXBpOnNlY3JldA===", &o),
			    " has Basic credentials that are not base64");
	assert_string_equal(extract("basic", "Basic Y", &o),
			    " has Basic credentials that are not base64");
	assert_string_equal(extract("basic", "Basic c2tfbGl2ZV94", &o),
			    " has Basic credentials without a ':' between user "
			    "and password"); /* sk_live_x */
	assert_string_equal(extract("basic", "Basic OnBhc3M=", &o),
			    " has Basic credentials with an empty user");
	assert_string_equal(extract("basic", "Bearer abc", &o),
			    " is not a Basic credential");
}

static void test_prefix(void **state)
{
	struct out o;

	(void)state;
	assert_null(extract("prefix:Token", "token  abc123", &o));
	assert_string_equal(o.key, "abc123");
	assert_null(extract("prefix:key=", "key=abc123", &o));
	assert_string_equal(o.key, "abc123");
	assert_string_equal(extract("prefix:Token", "Bearer abc", &o),
			    " does not start with the key form's prefix");
	assert_string_equal(extract("prefix:Token", "Token   ", &o),
			    " has nothing after the key form's prefix");
}

static void test_regex(void **state)
{
	struct out o;

	(void)state;
	assert_null(extract("regex:token=\"([^\"]+)\"",
			    "Token token=\"abc123\", nonce=\"x\"", &o));
	assert_string_equal(o.key, "abc123");
	/* no group: the whole match */
	assert_null(
		extract("regex:sk_live_[A-Za-z0-9]+", "x sk_live_abc y", &o));
	assert_string_equal(o.key, "sk_live_abc");
	assert_string_equal(extract("regex:^Key (.+)$", "Bearer abc", &o),
			    " does not match the key form's regex");
	assert_string_equal(extract("regex:^Key (x*)", "Key abc", &o),
			    " matches the key form's regex with an empty key");
}

static void test_long_value(void **state)
{
	static char v[KW_KEYFORM_VALUE_MAX + 16];
	struct out o;

	(void)state;
	memcpy(v, "Bearer ", 7);
	memset(v + 7, 'A', sizeof(v) - 8);
	v[sizeof(v) - 1] = '\0';
	assert_string_equal(extract("bearer", v, &o),
			    " is longer than 4096 bytes");
	v[KW_KEYFORM_VALUE_MAX] = '\0'; /* exactly the bound: read */
	assert_null(extract("bearer", v, &o));
	assert_int_equal(strlen(o.key), KW_KEYFORM_VALUE_MAX - 7);
}

static void parse_fails(const char *form, const char *msg)
{
	struct kw_keyform_spec spec;
	struct kw_error err;

	kw_error_clear(&err);
	assert_int_equal(kw_keyform_parse(form, strlen(form), &spec, &err),
			 KW_EUSAGE);
	assert_string_equal(err.msg, msg);
}

static void test_parse_errors(void **state)
{
	char long_re[300];

	(void)state;
	parse_fails("bogus", "unknown key form 'bogus' (forms: bearer, basic, "
			     "prefix:TEXT, regex:RE)");
	parse_fails("bearer:x", "unknown key form 'bearer:x' (forms: bearer, "
				"basic, prefix:TEXT, regex:RE)");
	parse_fails("prefix", "unknown key form 'prefix' (forms: bearer, "
			      "basic, prefix:TEXT, regex:RE)");
	parse_fails("prefix:", "key form prefix: TEXT is empty");
	parse_fails("regex:", "key form regex: RE is empty");
	parse_fails("regex:(a)\\1", "key form regex: back-references are not "
				    "allowed");
	parse_fails("regex:(a{1,20}){1,20}", "key form regex: repetition "
					     "counts {m,n} multiply past 256");
	parse_fails("regex:a{2,}{2,}", "key form regex: repetition counts "
				       "{m,n} multiply past 256");
	parse_fails("regex:(a{,20}){,20}", "key form regex: repetition "
					   "counts {m,n} multiply past 256");
	parse_fails("regex:(ab",
		    "key form regex: Unmatched ( or \\("); /* glibc */
	memcpy(long_re, "regex:", 6);
	memset(long_re + 6, 'a', sizeof(long_re) - 7);
	long_re[sizeof(long_re) - 1] = '\0';
	parse_fails(long_re, "key form regex: RE is longer than 255 bytes");
}

static void test_map_forms(void **state)
{
	struct kw_field_map m;
	struct kw_error err;

	(void)state;
	assert_int_equal(kw_field_map_parse("api_key=headers.authorization|"
					    "bearer",
					    &m, &err),
			 KW_OK);
	assert_int_equal(m.field, KW_FIELD_API_KEY);
	assert_string_equal(m.path, "headers.authorization");
	assert_int_equal(m.form.kind, KW_KEYFORM_BEARER);
	/* only the first '|' splits: the regex keeps its own */
	assert_int_equal(
		kw_field_map_parse("key=h.auth|regex:^(a|b)$", &m, &err),
		KW_OK);
	assert_string_equal(m.path, "h.auth");
	assert_int_equal(m.form.kind, KW_KEYFORM_REGEX);
	assert_string_equal(m.form.arg, "^(a|b)$");
	assert_int_equal(kw_field_map_parse("ip=client.ip", &m, &err), KW_OK);
	assert_int_equal(m.form.kind, KW_KEYFORM_WHOLE);

	kw_error_clear(&err);
	assert_int_equal(kw_field_map_parse("ip=client.ip|bearer", &m, &err),
			 KW_EUSAGE);
	assert_string_equal(err.msg, "--map 'ip=client.ip|bearer': only "
				     "api_key takes a key form");
	assert_int_equal(kw_field_map_parse("api_key=h|nope", &m, &err),
			 KW_EUSAGE);
	assert_string_equal(err.msg, "--map 'api_key=h|nope': unknown key "
				     "form 'nope' (forms: bearer, basic, "
				     "prefix:TEXT, regex:RE)");
	assert_int_equal(kw_field_map_parse("api_key=a..b|basic", &m, &err),
			 KW_EUSAGE);
	assert_string_equal(err.msg, "--map 'api_key=a..b|basic': path 'a..b' "
				     "has an empty step");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_regex),
		cmocka_unit_test(test_long_value),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_map_forms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
