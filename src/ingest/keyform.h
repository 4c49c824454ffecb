/*
 * keyform.h - the key inside a value: how a field map takes an API key out
 * of the header (or any string) that carries it.
 *
 * A map of api_key may end in "|FORM" (--map
 * 'api_key=request.headers.authorization|bearer'): the value at the path is
 * not the key but holds it, and FORM says where:
 *
 *   bearer       "Bearer <token>" (RFC 6750: the scheme in any case, then
 *                one word of visible ASCII); the key is the token
 *   basic        "Basic <base64 of user:password>" (RFC 7617); the key is
 *                the user part, as Stripe's "sk_live_...:" sends it
 *   prefix:TEXT  the value starts with TEXT (in any case); the key is the
 *                rest, spaces around it dropped ("prefix:Token" takes
 *                "Token abc" to "abc")
 *   regex:RE     a POSIX extended regular expression; the key is what its
 *                first group matched, or the whole match when it has none
 *
 * Everything is bounded: TEXT and RE are at most KW_KEYFORM_ARG_MAX - 1
 * bytes, a value longer than KW_KEYFORM_VALUE_MAX is refused before it is
 * looked at, and RE may not hold back-references (the one construct of
 * POSIX regexes whose matching is not polynomial). A value that does not
 * carry the key in its form is bad input: extraction answers why, in words
 * that never quote the value (which holds a secret).
 */
#ifndef KW_INGEST_KEYFORM_H
#define KW_INGEST_KEYFORM_H

#include <stddef.h>

#include "core/status.h"
#include "core/str.h"

enum kw_keyform_kind {
	KW_KEYFORM_WHOLE = 0, /* the value is the key (no "|FORM") */
	KW_KEYFORM_BEARER,
	KW_KEYFORM_BASIC,
	KW_KEYFORM_PREFIX,
	KW_KEYFORM_REGEX,
};

#define KW_KEYFORM_ARG_MAX 256	  /* TEXT or RE, with its NUL */
#define KW_KEYFORM_VALUE_MAX 4096 /* longest value a form looks into */

/* A form as written: plain data, copied freely. */
struct kw_keyform_spec {
	enum kw_keyform_kind kind;
	char arg[KW_KEYFORM_ARG_MAX]; /* TEXT or RE; "" otherwise */
};

/* Parse FORM (form[0..n), without the '|'): "bearer", "basic",
 * "prefix:TEXT", "regex:RE" (names in any case). A regex is compiled once to
 * check it. Errors (KW_EUSAGE; the caller puts "--map '...': " before):
 * "unknown key form 'x' (forms: bearer, basic, prefix:TEXT, regex:RE)",
 * "key form prefix: TEXT is empty", "key form regex: RE is longer than 255
 * bytes", "key form regex: back-references are not allowed",
 * "key form regex: <regerror's message>". */
enum kw_status kw_keyform_parse(const char *form, size_t n,
				struct kw_keyform_spec *out,
				struct kw_error *err);

/* "bearer", "basic", "prefix", "regex" ("" for WHOLE). */
const char *kw_keyform_name(enum kw_keyform_kind kind);

/* A form ready to extract with (the regex compiled). */
struct kw_keyform;

/* Compile spec into *out, owned by the caller (kw_keyform_destroy). */
enum kw_status kw_keyform_create(const struct kw_keyform_spec *spec,
				 struct kw_keyform **out, struct kw_error *err);
/* NULL-safe. */
void kw_keyform_destroy(struct kw_keyform *kf);

/* Take the key out of value[0..n) into *key: a slice of the value, or of
 * buf (room for n + 1 bytes: a decoded Basic user, a regex's copy of the
 * value). NULL on success, else why the value holds no key in this form,
 * to follow the field's name in a message (" is not a Bearer credential",
 * " has Basic credentials that are not base64", ...): static text that
 * never quotes the value. The key may still hold bytes a key may not: the
 * caller checks it as it checks any key. */
const char *kw_keyform_extract(const struct kw_keyform *kf, const char *value,
			       size_t n, char *buf, size_t cap,
			       struct kw_str *key);

#endif
