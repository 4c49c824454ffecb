/*
 * key.c - fingerprint, redaction and glob matching of API keys.
 *
 * The one idea: every function here looks at the key bytes only to derive
 * something that is safe to show (a hash prefix, a redacted id, a yes/no
 * answer); none of them copies more of the key than the redaction rules
 * allow, and the redaction re-checks its own output so that a degenerate key
 * can never come out whole.
 */
#include "core/key.h"

#include "core/glob.h"

#include <openssl/evp.h>
#include <string.h>

static const char ellipsis[] = "\xe2\x80\xa6"; /* "…", 3 bytes */
#define ELLIPSIS_LEN 3

/* ---- fingerprint ------------------------------------------------------ */

void kw_key_fingerprint(const char *key, size_t n, char out[17])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	out[0] = '\0';
	if (!EVP_Digest(n ? key : "", n, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen < 8)
		return;
	for (int i = 0; i < 8; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[16] = '\0';
}

/* ---- is it redacted already? ------------------------------------------ */

bool kw_key_is_redacted(const char *key, size_t n)
{
	const unsigned char *k = (const unsigned char *)key;

	for (size_t i = 0; i < n; i++) {
		if (k[i] == '*')
			return true;
		if (i + 3 > n)
			continue;
		if (k[i] == '.' && k[i + 1] == '.' && k[i + 2] == '.')
			return true;
		if (memcmp(k + i, ellipsis, ELLIPSIS_LEN) == 0)
			return true;
	}
	return false;
}

/* ---- redaction -------------------------------------------------------- */

static bool is_lower(unsigned char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_upper(unsigned char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_print(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e;
}

/* Rule 1: [a-z]{1,12}_(live|test)_ ; returns the prefix length or 0. */
static size_t prefix_mode(const unsigned char *k, size_t n)
{
	size_t i = 0;

	while (i < n && i < 13 && is_lower(k[i]))
		i++;
	if (i == 0 || i > 12 || i + 6 > n || k[i] != '_')
		return 0;
	if (memcmp(k + i + 1, "live_", 5) != 0 &&
	    memcmp(k + i + 1, "test_", 5) != 0)
		return 0;
	return i + 6;
}

/* Rule 2: [A-Za-z]{1,11}_ ; returns the prefix length or 0. */
static size_t prefix_word(const unsigned char *k, size_t n)
{
	size_t i = 0;

	while (i < n && i < 12 && (is_lower(k[i]) || is_upper(k[i])))
		i++;
	if (i == 0 || i > 11 || i >= n || k[i] != '_')
		return 0;
	return i + 1;
}

/* Rule 3: [A-Z]{4}[A-Z0-9]+ over the whole key; returns 4 or 0. */
static size_t prefix_aws(const unsigned char *k, size_t n)
{
	if (n < 5)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_upper(k[i]) && (i < 4 || !is_digit(k[i])))
			return 0;
	}
	return 4;
}

/* The prefix to show: the first rule that matches and leaves at least one
 * byte of the key after it. */
static size_t key_prefix_len(const unsigned char *k, size_t n)
{
	size_t (*const rules[])(const unsigned char *, size_t) = {
		prefix_mode,
		prefix_word,
		prefix_aws,
	};

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		size_t p = rules[i](k, n);

		if (p > 0 && p < n)
			return p;
	}
	return 0;
}

/* Bounded writer into a local buffer of KW_KEY_ID_MAX bytes. */
struct idbuf {
	char b[KW_KEY_ID_MAX];
	size_t len;
};

static void id_putc(struct idbuf *id, unsigned char c)
{
	if (id->len + 1 < sizeof(id->b))
		id->b[id->len++] = (char)c;
}

static void id_put_ellipsis(struct idbuf *id)
{
	if (id->len + ELLIPSIS_LEN < sizeof(id->b)) {
		memcpy(id->b + id->len, ellipsis, ELLIPSIS_LEN);
		id->len += ELLIPSIS_LEN;
	}
}

/* Copy bytes, printable ASCII as is, everything else as '?'. */
static void id_put_clean(struct idbuf *id, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		id_putc(id, is_print(p[i]) ? p[i] : '?');
}

/* The redacted-in-log form: as it was, cleaned, cut to the buffer. */
static void redact_shown(struct idbuf *id, const unsigned char *k, size_t n)
{
	size_t i = 0;

	while (i < n && id->len + 1 < sizeof(id->b)) {
		if (i + ELLIPSIS_LEN <= n &&
		    memcmp(k + i, ellipsis, ELLIPSIS_LEN) == 0) {
			if (id->len + ELLIPSIS_LEN >= sizeof(id->b))
				break;
			id_put_ellipsis(id);
			i += ELLIPSIS_LEN;
			continue;
		}
		id_putc(id, is_print(k[i]) ? k[i] : '?');
		i++;
	}
}

static void redact_full(struct idbuf *id, const unsigned char *k, size_t n)
{
	size_t p = key_prefix_len(k, n);

	id_put_clean(id, k, p);
	id_put_ellipsis(id);
	if (n - p >= 16)
		id_put_clean(id, k + n - 4, 4);
	if (memmem(id->b, id->len, k, n) != NULL) {
		/*
		 * Only a degenerate key can get here: its prefix followed by
		 * one or two bytes of a "…" ("sk_\xe2"). "?" cannot contain
		 * such a key (a lone "?" key gets the id "…").
		 */
		id->len = 0;
		id_putc(id, '?');
	}
}

/* Copy id to out (cap bytes with the NUL), never cutting inside "…". */
static void id_emit(const struct idbuf *id, char *out, size_t cap)
{
	size_t len = id->len;

	if (len + 1 > cap) {
		/*
		 * Cut to cap - 1 bytes; if b[len] is a continuation byte the
		 * cut is inside a "…" (the only multibyte sequence an id
		 * holds): step back so that its lead byte is cut too.
		 */
		len = cap - 1;
		while (len > 0 && ((unsigned char)id->b[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(out, id->b, len);
	out[len] = '\0';
}

void kw_key_redact(const char *key, size_t n, char *out, size_t cap)
{
	const unsigned char *k = (const unsigned char *)key;
	struct idbuf id = {.len = 0};

	if (cap == 0)
		return;
	if (n == 0) {
		out[0] = '\0';
		return;
	}
	if (kw_key_is_redacted(key, n))
		redact_shown(&id, k, n);
	else
		redact_full(&id, k, n);
	id_emit(&id, out, cap);
}

/* ---- glob ------------------------------------------------------------- */

bool kw_key_glob(const char *pattern, const char *key, size_t n)
{
	/* One implementation of the config's glob: core/glob.c. */
	return kw_glob_match(pattern, key, n);
}
