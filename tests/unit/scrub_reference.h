/*
 * scrub_reference.h - what kw_key_scrub must write, by its definition and
 * nothing else (no filter, no rolling hash, no blocks): the differential
 * test (test_key.c) and the fuzz target (tests/fuzz/fuzz_scrub.c) compare
 * the scrub with it. Header-only (static functions).
 *
 * The definition (core/key.h): at each place of the text, the longest of
 * the key, a percent-encoded form of it (hex digits upper or lower case)
 * and a piece (the longest common prefix of the text there with a suffix
 * of the key, KW_KEY_PIECE bytes or more) becomes the id; a byte where
 * none starts is kept. Keys longer than KW_KEY_MAX_LEN are cut to it.
 */
#ifndef KW_TESTS_SCRUB_REFERENCE_H
#define KW_TESTS_SCRUB_REFERENCE_H

#include <stdbool.h>
#include <string.h>

#include "core/key.h"

static bool ref_unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* key percent-encoded into out (3 * kn bytes at most) with hex digits of
 * one case, its length in *on; false when every byte is unreserved (no
 * encoded form). */
static bool ref_encode(const char *key, size_t kn, bool upper, char *out,
		       size_t *on)
{
	const char *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	bool plain = true;
	size_t o = 0;

	for (size_t i = 0; i < kn; i++) {
		unsigned char c = (unsigned char)key[i];

		if (ref_unreserved(c)) {
			out[o++] = (char)c;
			continue;
		}
		plain = false;
		out[o++] = '%';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
	}
	*on = o;
	return !plain;
}

/* text[0..n) scrubbed of key[0..kn) into out (room for n bytes, each of
 * which may become id: n * (strlen(id) + 1) + 1 is always enough),
 * NUL-terminated; its length. */
static size_t ref_scrub(char *out, const char *text, size_t n, const char *key,
			size_t kn, const char *id)
{
	char enc[2][3 * KW_KEY_MAX_LEN];
	size_t en[2], o = 0, idn = strlen(id);
	bool has[2];

	if (kn > KW_KEY_MAX_LEN)
		kn = KW_KEY_MAX_LEN;
	has[0] = ref_encode(key, kn, true, enc[0], &en[0]);
	has[1] = ref_encode(key, kn, false, enc[1], &en[1]);
	for (size_t i = 0; i < n;) {
		size_t best = 0;

		if (kn && n - i >= kn && !memcmp(text + i, key, kn))
			best = kn;
		for (int h = 0; h < 2; h++) {
			if (has[h] && n - i >= en[h] &&
			    !memcmp(text + i, enc[h], en[h]) && en[h] > best)
				best = en[h];
		}
		for (size_t j = 0; j < kn; j++) {
			size_t l = 0;

			while (j + l < kn && i + l < n &&
			       text[i + l] == key[j + l])
				l++;
			if (l >= KW_KEY_PIECE && l > best)
				best = l;
		}
		if (best) {
			memcpy(out + o, id, idn);
			o += idn;
			i += best;
		} else {
			out[o++] = text[i++];
		}
	}
	out[o] = '\0';
	return o;
}

#endif
