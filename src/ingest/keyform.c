/*
 * keyform.c - take an API key out of the value that carries it (a Bearer
 * or Basic Authorization header, a prefixed header, anything a regex
 * describes). See keyform.h for the forms.
 *
 * The one idea: a form reads a value that holds a secret, so it looks at a
 * bounded span, copies nothing it does not hand back, and says what was
 * wrong in words of its own, never by quoting the value.
 */
#include "ingest/keyform.h"

#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Repetition counts of a regex multiply into the size of what regcomp
 * builds: their product is kept under this. */
#define REGEX_REPEAT_MAX 256

struct kw_keyform {
	struct kw_keyform_spec spec;
	size_t arglen;
	bool compiled;
	regex_t re;
	size_t groups; /* parenthesised subexpressions of re */
};

static const char *const names[] = {
	[KW_KEYFORM_WHOLE] = "",      [KW_KEYFORM_BEARER] = "bearer",
	[KW_KEYFORM_BASIC] = "basic", [KW_KEYFORM_PREFIX] = "prefix",
	[KW_KEYFORM_REGEX] = "regex",
};

const char *kw_keyform_name(enum kw_keyform_kind kind)
{
	return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind]
								 : "";
}

/* ---- parsing ---- */

/* Back-references, and repetition counts whose product passes the bound. */
static enum kw_status regex_bounded(const char *re, struct kw_error *err)
{
	unsigned long product = 1;

	for (const char *p = re; *p; p++) {
		if (p[0] == '\\' && p[1] >= '1' && p[1] <= '9')
			return kw_error_set(err, KW_EUSAGE,
					    "key form regex: back-references "
					    "are not allowed");
		if (p[0] == '\\' && p[1]) {
			p++;
			continue;
		}
		if (p[0] == '{') {
			char *end;
			unsigned long lo = strtoul(p + 1, &end, 10);
			unsigned long hi = lo;

			/* glibc reads "{,n}" as "{0,n}" */
			if (end == p + 1 && *end != ',')
				continue; /* a literal '{': regcomp judges */
			if (*end == ',')
				hi = end[1] == '}' ? REGEX_REPEAT_MAX + 1
						   : strtoul(end + 1, NULL, 10);
			if (hi < lo)
				hi = lo;
			product *= hi + 1;
			if (product > REGEX_REPEAT_MAX)
				return kw_error_set(
					err, KW_EUSAGE,
					"key form regex: repetition counts "
					"{m,n} multiply past %d",
					REGEX_REPEAT_MAX);
		}
	}
	return KW_OK;
}

static enum kw_status compile(struct kw_keyform *kf, struct kw_error *err)
{
	char msg[160];
	int rc;

	if (regex_bounded(kf->spec.arg, err) != KW_OK)
		return KW_EUSAGE;
	rc = regcomp(&kf->re, kf->spec.arg, REG_EXTENDED);
	if (rc != 0) {
		regerror(rc, &kf->re, msg, sizeof(msg));
		return kw_error_set(err, KW_EUSAGE, "key form regex: %s", msg);
	}
	kf->compiled = true;
	kf->groups = kf->re.re_nsub;
	return KW_OK;
}

enum kw_status kw_keyform_parse(const char *form, size_t n,
				struct kw_keyform_spec *out,
				struct kw_error *err)
{
	static const struct {
		const char *name;
		enum kw_keyform_kind kind;
		bool arg;
	} forms[] = {
		{"bearer", KW_KEYFORM_BEARER, false},
		{"basic", KW_KEYFORM_BASIC, false},
		{"prefix", KW_KEYFORM_PREFIX, true},
		{"regex", KW_KEYFORM_REGEX, true},
	};
	const char *colon = memchr(form, ':', n);
	size_t name_n = colon ? (size_t)(colon - form) : n;
	struct kw_keyform *kf = NULL;
	enum kw_status st;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		size_t arg_n;

		if (strlen(forms[i].name) != name_n ||
		    strncasecmp(form, forms[i].name, name_n) != 0 ||
		    forms[i].arg != (colon != NULL))
			continue;
		out->kind = forms[i].kind;
		if (!colon)
			return KW_OK;
		arg_n = n - name_n - 1;
		if (arg_n == 0)
			return kw_error_set(
				err, KW_EUSAGE, "key form %s: %s is empty",
				forms[i].name,
				out->kind == KW_KEYFORM_PREFIX ? "TEXT" : "RE");
		if (arg_n >= KW_KEYFORM_ARG_MAX)
			return kw_error_set(
				err, KW_EUSAGE,
				"key form %s: %s is longer than %d "
				"bytes",
				forms[i].name,
				out->kind == KW_KEYFORM_PREFIX ? "TEXT" : "RE",
				KW_KEYFORM_ARG_MAX - 1);
		memcpy(out->arg, colon + 1, arg_n);
		out->arg[arg_n] = '\0';
		if (out->kind != KW_KEYFORM_REGEX)
			return KW_OK;
		/* Check the regex now: a bad one is a usage error at
		 * start, not a surprise per record. */
		st = kw_keyform_create(out, &kf, err);
		kw_keyform_destroy(kf);
		return st;
	}
	return kw_error_set(err, KW_EUSAGE,
			    "unknown key form '%.*s' (forms: bearer, basic, "
			    "prefix:TEXT, regex:RE)",
			    (int)(n > 64 ? 64 : n), form);
}

enum kw_status kw_keyform_create(const struct kw_keyform_spec *spec,
				 struct kw_keyform **out, struct kw_error *err)
{
	struct kw_keyform *kf = calloc(1, sizeof(*kf));
	enum kw_status st = KW_OK;

	*out = NULL;
	if (!kf)
		return kw_error_set(err, KW_ENOMEM, "key form: %s",
				    kw_strerror(KW_ENOMEM));
	kf->spec = *spec;
	kf->spec.arg[KW_KEYFORM_ARG_MAX - 1] = '\0';
	kf->arglen = strlen(kf->spec.arg);
	if (spec->kind == KW_KEYFORM_REGEX)
		st = compile(kf, err);
	if (st != KW_OK)
		goto cleanup;
	*out = kf;
	kf = NULL;
cleanup:
	kw_keyform_destroy(kf);
	return st;
}

void kw_keyform_destroy(struct kw_keyform *kf)
{
	if (!kf)
		return;
	if (kf->compiled)
		regfree(&kf->re);
	free(kf);
}

/* ---- extraction ---- */

static bool space(char c)
{
	return c == ' ' || c == '\t';
}

static struct kw_str trim(const char *p, size_t n)
{
	while (n && space(*p)) {
		p++;
		n--;
	}
	while (n && space(p[n - 1]))
		n--;
	return (struct kw_str){p, n};
}

/* value starts with the scheme (any case) and a space or its end: the rest,
 * trimmed, in *rest. */
static bool scheme(struct kw_str v, const char *name, struct kw_str *rest)
{
	size_t n = strlen(name);

	if (v.n < n || strncasecmp(v.p, name, n) != 0 ||
	    (v.n > n && !space(v.p[n])))
		return false;
	*rest = trim(v.p + n, v.n - n);
	return true;
}

/* One word of visible ASCII. RFC 6750 asks for a token68 (letters,
 * digits, -._~+/ and '=' at the end), but the key is whatever the client
 * sent: a token a gateway let through is read, not refused. */
static bool one_word(struct kw_str t)
{
	for (size_t i = 0; i < t.n; i++) {
		if ((unsigned char)t.p[i] <= 0x20 ||
		    (unsigned char)t.p[i] >= 0x7f)
			return false;
	}
	return t.n > 0;
}

static int b64(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Standard base64 (RFC 4648 section 4), padding optional; false when t is
 * not base64. out has room for t.n / 4 * 3 + 2 bytes. */
static bool unbase64(struct kw_str t, char *out, size_t *outn)
{
	size_t n = t.n, o = 0;
	unsigned acc = 0;
	int bits = 0;

	while (n && t.p[n - 1] == '=' && t.n - n < 2)
		n--;
	if ((n % 4) == 1 || (n != t.n && (t.n % 4) != 0))
		return false;
	for (size_t i = 0; i < n; i++) {
		int v = b64((unsigned char)t.p[i]);

		if (v < 0)
			return false;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	*outn = o;
	return true;
}

static const char *basic(struct kw_str v, char *buf, size_t cap,
			 struct kw_str *key)
{
	struct kw_str creds;
	const char *colon;
	size_t n = 0;

	if (!scheme(v, "Basic", &creds))
		return " is not a Basic credential";
	if (creds.n == 0)
		return " has empty Basic credentials";
	if (creds.n / 4 * 3 + 2 > cap || !unbase64(creds, buf, &n))
		return " has Basic credentials that are not base64";
	colon = memchr(buf, ':', n);
	if (!colon)
		return " has Basic credentials without a ':' between user and "
		       "password";
	if (colon == buf)
		return " has Basic credentials with an empty user";
	*key = (struct kw_str){buf, (size_t)(colon - buf)};
	return NULL;
}

static const char *regex(const struct kw_keyform *kf, struct kw_str v,
			 char *buf, size_t cap, struct kw_str *key)
{
	regmatch_t m[2];
	size_t g = kf->groups ? 1 : 0;

	/* A copy with its NUL: regexec reads a C string. */
	if (v.n + 1 > cap)
		return " is longer than the key form can read";
	memcpy(buf, v.p, v.n);
	buf[v.n] = '\0';
	if (memchr(buf, '\0', v.n))
		return " holds a NUL byte";
	if (regexec(&kf->re, buf, 2, m, 0) != 0)
		return " does not match the key form's regex";
	if (m[g].rm_so < 0 || m[g].rm_eo <= m[g].rm_so)
		return " matches the key form's regex with an empty key";
	*key = (struct kw_str){buf + m[g].rm_so,
			       (size_t)(m[g].rm_eo - m[g].rm_so)};
	return NULL;
}

const char *kw_keyform_extract(const struct kw_keyform *kf, const char *value,
			       size_t n, char *buf, size_t cap,
			       struct kw_str *key)
{
	struct kw_str v = {value, n}, rest;

	if (n > KW_KEYFORM_VALUE_MAX)
		return " is longer than 4096 bytes";
	switch (kf->spec.kind) {
	case KW_KEYFORM_WHOLE:
		*key = v;
		return NULL;
	case KW_KEYFORM_BEARER:
		if (!scheme(trim(value, n), "Bearer", &rest))
			return " is not a Bearer credential";
		if (rest.n == 0)
			return " has an empty Bearer token";
		if (!one_word(rest))
			return " has a Bearer token that is not one word of "
			       "visible ASCII";
		*key = rest;
		return NULL;
	case KW_KEYFORM_BASIC:
		return basic(trim(value, n), buf, cap, key);
	case KW_KEYFORM_PREFIX:
		rest = trim(value, n);
		if (rest.n < kf->arglen ||
		    strncasecmp(rest.p, kf->spec.arg, kf->arglen) != 0)
			return " does not start with the key form's prefix";
		rest = trim(rest.p + kf->arglen, rest.n - kf->arglen);
		if (rest.n == 0)
			return " has nothing after the key form's prefix";
		*key = rest;
		return NULL;
	case KW_KEYFORM_REGEX:
		return regex(kf, v, buf, cap, key);
	}
	return " has an unknown key form";
}
