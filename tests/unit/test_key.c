/*
 * test_key.c - keys as secrets: SipHash-2-4 reference vectors, the key
 * table's keyed hash against a slow reference of its definition, fingerprints
 * (expected values from `printf %s KEY | sha256sum | cut -c1-16`), the
 * redaction table and its never-the-whole-key property, the "already
 * redacted" test, and the config glob including pathological patterns.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/key.h"
#include "state/keyhash.h"
#include "state/siphash.h"
#include "scrub_reference.h"

/* ---- SipHash ------------------------------------------------------------ */

/* SipHash-2-4, key 00..0f, message 00..n-1 for n = 0..63 (the paper's
 * vectors), computed from the algorithm description. */
static const uint64_t sip_vectors[64] = {
	UINT64_C(0x726fdb47dd0e0e31), UINT64_C(0x74f839c593dc67fd),
	UINT64_C(0x0d6c8009d9a94f5a), UINT64_C(0x85676696d7fb7e2d),
	UINT64_C(0xcf2794e0277187b7), UINT64_C(0x18765564cd99a68d),
	UINT64_C(0xcbc9466e58fee3ce), UINT64_C(0xab0200f58b01d137),
	UINT64_C(0x93f5f5799a932462), UINT64_C(0x9e0082df0ba9e4b0),
	UINT64_C(0x7a5dbbc594ddb9f3), UINT64_C(0xf4b32f46226bada7),
	UINT64_C(0x751e8fbc860ee5fb), UINT64_C(0x14ea5627c0843d90),
	UINT64_C(0xf723ca908e7af2ee), UINT64_C(0xa129ca6149be45e5),
	UINT64_C(0x3f2acc7f57c29bdb), UINT64_C(0x699ae9f52cbe4794),
	UINT64_C(0x4bc1b3f0968dd39c), UINT64_C(0xbb6dc91da77961bd),
	UINT64_C(0xbed65cf21aa2ee98), UINT64_C(0xd0f2cbb02e3b67c7),
	UINT64_C(0x93536795e3a33e88), UINT64_C(0xa80c038ccd5ccec8),
	UINT64_C(0xb8ad50c6f649af94), UINT64_C(0xbce192de8a85b8ea),
	UINT64_C(0x17d835b85bbb15f3), UINT64_C(0x2f2e6163076bcfad),
	UINT64_C(0xde4daaaca71dc9a5), UINT64_C(0xa6a2506687956571),
	UINT64_C(0xad87a3535c49ef28), UINT64_C(0x32d892fad841c342),
	UINT64_C(0x7127512f72f27cce), UINT64_C(0xa7f32346f95978e3),
	UINT64_C(0x12e0b01abb051238), UINT64_C(0x15e034d40fa197ae),
	UINT64_C(0x314dffbe0815a3b4), UINT64_C(0x027990f029623981),
	UINT64_C(0xcadcd4e59ef40c4d), UINT64_C(0x9abfd8766a33735c),
	UINT64_C(0x0e3ea96b5304a7d0), UINT64_C(0xad0c42d6fc585992),
	UINT64_C(0x187306c89bc215a9), UINT64_C(0xd4a60abcf3792b95),
	UINT64_C(0xf935451de4f21df2), UINT64_C(0xa9538f0419755787),
	UINT64_C(0xdb9acddff56ca510), UINT64_C(0xd06c98cd5c0975eb),
	UINT64_C(0xe612a3cb9ecba951), UINT64_C(0xc766e62cfcadaf96),
	UINT64_C(0xee64435a9752fe72), UINT64_C(0xa192d576b245165a),
	UINT64_C(0x0a8787bf8ecb74b2), UINT64_C(0x81b3e73d20b49b6f),
	UINT64_C(0x7fa8220ba3b2ecea), UINT64_C(0x245731c13ca42499),
	UINT64_C(0xb78dbfaf3a8d83bd), UINT64_C(0xea1ad565322a1a0b),
	UINT64_C(0x60e61c23a3795013), UINT64_C(0x6606d7e446282b93),
	UINT64_C(0x6ca4ecb15c5f91e1), UINT64_C(0x9f626da15c9625f3),
	UINT64_C(0xe51b38608ef25f57), UINT64_C(0x958a324ceb064572),
};

static void test_siphash_vectors(void **state)
{
	uint8_t key[16], msg[64];

	(void)state;
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	for (size_t n = 0; n < 64; n++) {
		uint64_t h = kw_siphash(msg, n, key);

		if (h != sip_vectors[n])
			print_message("n=%zu\n", n);
		assert_int_equal(h, sip_vectors[n]);
	}
	assert_int_equal(kw_siphash(NULL, 0, key), sip_vectors[0]);
}

static void test_siphash_unaligned(void **state)
{
	uint8_t key[16], buf[80];

	(void)state;
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	/* The same message at every alignment gives the same hash. */
	for (size_t off = 0; off < 8; off++) {
		for (int i = 0; i < 63; i++)
			buf[off + i] = (uint8_t)i;
		assert_int_equal(kw_siphash(buf + off, 63, key),
				 sip_vectors[63]);
	}
	/* Another key gives another value. */
	key[0] ^= 1;
	assert_int_not_equal(kw_siphash(buf, 0, key), sip_vectors[0]);
}

/* ---- fingerprint -------------------------------------------------------- */

static void check_fp(const char *key, const char *want)
{
	char out[17];

	memset(out, 'X', sizeof(out));
	kw_key_fingerprint(key, strlen(key), out);
	assert_string_equal(out, want);
}

static void test_fingerprint(void **state)
{
	(void)state;
	check_fp("sk_live_4eC39HqLyjWDarjtT1zdp7dc4242", "cbb6d1a5efe199ac");
	check_fp("sk_test_abc", "4b4090ccee1e713c");
	check_fp("", "e3b0c44298fc1c14");
	check_fp("AKIAIOSFODNN7EXAMPLE", "1a5d44a2dca19669");
	check_fp("sk_live_\xe2\x80\xa6"
		 "4242",
		 "da3253eb0adb0d24");
	check_fp("a", "ca978112ca1bbdca");
}

static void test_fingerprint_length_only(void **state)
{
	char out[17];

	(void)state;
	/* Only n bytes count: "ab" cut to 1 byte is "a". */
	kw_key_fingerprint("ab", 1, out);
	assert_string_equal(out, "ca978112ca1bbdca");
}

/* SHA-256 in parts is SHA-256 of the parts one after the other: FIPS
 * 180-2's two test vectors, whole and cut anywhere, and no part at all. */
static void test_sha256_parts(void **state)
{
	static const char abc[] = "abc";
	static const char two[] =
		"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const unsigned char want_abc[8] = {0xba, 0x78, 0x16, 0xbf,
						  0x8f, 0x01, 0xcf, 0xea};
	static const unsigned char want_two[8] = {0x24, 0x8d, 0x6a, 0x61,
						  0xd2, 0x06, 0x38, 0xb8};
	static const unsigned char want_empty[8] = {0xe3, 0xb0, 0xc4, 0x42,
						    0x98, 0xfc, 0x1c, 0x14};
	unsigned char md[32];

	(void)state;
	for (size_t cut = 0; cut <= 3; cut++) {
		const void *p[2] = {abc, abc + cut};
		size_t len[2] = {cut, 3 - cut};

		assert_true(kw_sha256_parts(p, len, 2, md));
		assert_memory_equal(md, want_abc, 8);
	}
	for (size_t cut = 0; cut <= 56; cut += 7) {
		const void *p[3] = {two, two + cut, ""};
		size_t len[3] = {cut, 56 - cut, 0};

		assert_true(kw_sha256_parts(p, len, 3, md));
		assert_memory_equal(md, want_two, 8);
	}
	assert_true(kw_sha256_parts(NULL, NULL, 0, md));
	assert_memory_equal(md, want_empty, 8);
}

/* ---- is redacted -------------------------------------------------------- */

static void test_is_redacted(void **state)
{
	(void)state;
	assert_true(kw_key_is_redacted("sk_live_\xe2\x80\xa6"
				       "4242",
				       15));
	assert_true(kw_key_is_redacted("sk_live_...4242", 15));
	assert_true(kw_key_is_redacted("sk_live_****4242", 16));
	assert_true(kw_key_is_redacted("*", 1));
	assert_false(kw_key_is_redacted("sk_live_..4242", 14));
	assert_false(kw_key_is_redacted("sk_live_\xe2\x80"
					"4242",
					14));
	assert_false(
		kw_key_is_redacted("sk_live_4eC39HqLyjWDarjtT1zdp7dc4242", 36));
	assert_false(kw_key_is_redacted("", 0));
	/* Only the first n bytes count. */
	assert_false(kw_key_is_redacted("abc*", 3));
}

/* The definition, a byte at a time: a '*', "..." or "…" anywhere in the
 * first n bytes. */
static bool ref_is_redacted(const char *k, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (k[i] == '*')
			return true;
		if (i + 3 <= n && (!memcmp(k + i, "...", 3) ||
				   !memcmp(k + i, "\xe2\x80\xa6", 3)))
			return true;
	}
	return false;
}

/* The eight-bytes-at-a-time scan against the definition: strings of the
 * bytes that make marks and their near misses, so that marks start at
 * every offset and run across the scan's 8-byte blocks. */
static void test_is_redacted_reference(void **state)
{
	static const char alphabet[] = {'a',	'.',	'*', '_', '\xe2',
					'\x80', '\xa6', '4', '/'};
	uint32_t seed = 12345;
	unsigned marked = 0;

	(void)state;
	for (int round = 0; round < 200000; round++) {
		char k[41];
		size_t n;

		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % sizeof(k);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			/* mostly plain bytes, as a key is */
			k[i] = (seed >> 16) % 4 ? 'x'
						: alphabet[(seed >> 20) %
							   sizeof(alphabet)];
		}
		bool want = ref_is_redacted(k, n);

		marked += want;
		if (kw_key_is_redacted(k, n) != want)
			fail_msg("round %d: %zu bytes, want %d", round, n,
				 want);
	}
	/* both answers were asked for many times */
	assert_true(marked > 20000 && marked < 180000);
}

/* ---- redaction ---------------------------------------------------------- */

struct redact_case {
	const char *key;
	size_t n; /* 0: strlen */
	const char *want;
};

#define ELL "\xe2\x80\xa6"

static const struct redact_case redact_cases[] = {
	/* rule 1: lower-case word, mode */
	{"sk_live_4eC39HqLyjWDarjtT1zdp7dc4242", 0, "sk_live_" ELL "4242"},
	{"rk_test_0123456789abcdefWXYZ", 0, "rk_test_" ELL "WXYZ"},
	{"pk_live_short", 0, "pk_live_" ELL},
	{"pk_live_0123456789abcde", 0, "pk_live_" ELL},		/* 15 after */
	{"pk_live_0123456789abcdef", 0, "pk_live_" ELL "cdef"}, /* 16 */
	{"abcdefghijkl_live_0123456789abcdef", 0,
	 "abcdefghijkl_live_" ELL "cdef"},
	{"sk_live_x", 0, "sk_live_" ELL},
	/* rule 1 needs a byte after it; rule 2 then takes "sk_" */
	{"sk_live_", 0, "sk_" ELL},
	/* 13 lower-case letters: neither rule 1 nor rule 2 */
	{"abcdefghijklm_live_0123456789abcdef", 0, ELL "cdef"},
	{"sk_LIVE_0123456789abcdef", 0, "sk_" ELL "cdef"},
	/* rule 2: word of up to 11 letters and '_' */
	{"ghp_0123456789abcdefghij", 0, "ghp_" ELL "ghij"},
	{"whsec_abc", 0, "whsec_" ELL},
	{"Sk_live_0123456789abcdef", 0, "Sk_" ELL "cdef"},
	{"abcdefghijk_0123456789abcdef", 0, "abcdefghijk_" ELL "cdef"},
	{"abcdefghijkl_0123456789abcdef", 0, ELL "cdef"},
	{"sk_", 0, ELL}, /* the prefix would be the whole key */
	{"_abc0123456789abcdef", 0, ELL "cdef"},
	/* rule 3: AWS */
	{"AKIAIOSFODNN7EXAMPLE", 0, "AKIA" ELL "MPLE"},
	{"ASIAXYZ", 0, "ASIA" ELL},
	{"AKIA1234", 0, "AKIA" ELL},
	{"AKIA", 0, ELL},
	{"AKIaIOSFODNN7EXAMPLE", 0, ELL "MPLE"},
	{"AKIAIOSFODNN7EXAMPLe", 0, ELL "MPLe"},
	{"AKI1IOSFODNN7EXAMPLE", 0, ELL "MPLE"},
	/* no prefix */
	{"0123456789abcdef", 0, ELL "cdef"},
	{"0123456789abcde", 0, ELL},
	{"a", 0, ELL},
	{"", 0, ""},
	/* non-printable bytes in the tail */
	{"sk_live_0123456789abcdef\x01\x7f\xff"
	 "9",
	 0, "sk_live_" ELL "???9"},
	{"sk_live_0123456789abcdef\0\0\0\0", 28, "sk_live_" ELL "????"},
	/* degenerate: prefix then part of a "…" would contain the key */
	{"sk_\xe2", 0, "?"},
	{"k_live_\xe2\x80", 0, "?"},
	{"\xe2", 0, "?"},
	{"\xa6", 0, "?"},
	/* already redacted: shown as it was, cleaned */
	{"sk_live_" ELL "4242", 0, "sk_live_" ELL "4242"},
	{"sk_live_...4242", 0, "sk_live_...4242"},
	{"sk_live_****4242", 0, "sk_live_****4242"},
	{"*", 0, "*"},
	{"sk_\x01" ELL "\xe2\x80", 0, "sk_?" ELL "??"},
	{"\xe2\x80" ELL "\xa6\t*", 0, "??" ELL "??*"},
	{"caf\xc3\xa9***", 0, "caf??***"},
};

static void test_redact_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(redact_cases) / sizeof(redact_cases[0]);
	     i++) {
		const struct redact_case *c = &redact_cases[i];
		size_t n = c->n ? c->n : strlen(c->key);
		char out[KW_KEY_ID_MAX];

		memset(out, 'X', sizeof(out));
		kw_key_redact(c->key, n, out, sizeof(out));
		if (strcmp(out, c->want) != 0)
			print_message("case %zu\n", i);
		assert_string_equal(out, c->want);
	}
}

static void test_redact_cap(void **state)
{
	const char *k = "sk_live_4eC39HqLyjWDarjtT1zdp7dc4242";
	char out[KW_KEY_ID_MAX];

	(void)state;
	/* "sk_live_…4242" is 15 bytes; the "…" is bytes 8..10. */
	kw_key_redact(k, strlen(k), out, 16);
	assert_string_equal(out, "sk_live_" ELL "4242");
	kw_key_redact(k, strlen(k), out, 15);
	assert_string_equal(out, "sk_live_" ELL "424");
	kw_key_redact(k, strlen(k), out, 12);
	assert_string_equal(out, "sk_live_" ELL);
	kw_key_redact(k, strlen(k), out, 11);
	assert_string_equal(out, "sk_live_");
	kw_key_redact(k, strlen(k), out, 10);
	assert_string_equal(out, "sk_live_");
	kw_key_redact(k, strlen(k), out, 9);
	assert_string_equal(out, "sk_live_");
	kw_key_redact(k, strlen(k), out, 1);
	assert_string_equal(out, "");
	out[0] = 'X';
	kw_key_redact(k, strlen(k), out, 0);
	assert_int_equal(out[0], 'X');
}

static void test_redact_long_redacted(void **state)
{
	char key[200], want[KW_KEY_ID_MAX], out[KW_KEY_ID_MAX];

	(void)state;
	/* '*' and 100 'a': cut to 63 bytes. */
	key[0] = '*';
	memset(key + 1, 'a', 100);
	memset(want, 'a', sizeof(want));
	want[0] = '*';
	want[63] = '\0';
	kw_key_redact(key, 101, out, sizeof(out));
	assert_string_equal(out, want);

	/* 60 'a' + "…" + "b": the "…" ends exactly at byte 63. */
	memset(key, 'a', 60);
	memcpy(key + 60, ELL "b", 4);
	kw_key_redact(key, 64, out, sizeof(out));
	assert_int_equal(strlen(out), 63);
	assert_memory_equal(out + 60, ELL, 3);

	/* 61 'a' + "…" + "b": the "…" does not fit and is not cut. */
	memset(key, 'a', 61);
	memcpy(key + 61, ELL "b", 4);
	kw_key_redact(key, 65, out, sizeof(out));
	assert_int_equal(strlen(out), 61);
	assert_int_equal(out[60], 'a');
}

/* A small deterministic PRNG (xorshift64*) for the property test. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

static const char *const shapes[] = {
	"sk_live_", "rk_test_", "pk_live_", "ghp_",  "whsec_",	"AKIA",
	"ASIA",	    "",		"sk_",	    "Sk_x_", "k_live_",
};

static void fill_key(uint64_t *rng, int shape, char *k, size_t n)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	static const char upnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	static const char odd[] = "\xe2\x80\xa6_a.";
	const char *pre = shapes[shape % 11];
	size_t plen = strlen(pre);

	for (size_t i = 0; i < n; i++) {
		uint64_t r = rng_next(rng);

		if (i < plen)
			k[i] = pre[i];
		else if (shape == 5 || shape == 6)
			k[i] = upnum[r % 36];
		else if (shape >= 22)
			k[i] = odd[r % 6];
		else if (shape >= 11)
			k[i] = (r & 0xff) == '*' ? '+' : (char)(r & 0xff);
		else
			k[i] = alnum[r % 62];
	}
}

/* The result never contains the whole key, for every length and shape. */
static void test_redact_never_whole(void **state)
{
	uint64_t rng = UINT64_C(0x9e3779b97f4a7c15);
	char key[128], out[KW_KEY_ID_MAX];
	unsigned checked = 0;

	(void)state;
	for (int shape = 0; shape < 33; shape++) {
		for (size_t n = 1; n <= 120; n++) {
			for (int rep = 0; rep < 4; rep++) {
				size_t len;

				fill_key(&rng, shape, key, n);
				kw_key_redact(key, n, out, sizeof(out));
				len = strlen(out);
				assert_true(len < KW_KEY_ID_MAX);
				if (kw_key_is_redacted(key, n))
					continue;
				if (memmem(out, len, key, n) != NULL)
					print_message("shape %d n %zu\n", shape,
						      n);
				assert_null(memmem(out, len, key, n));
				/* At most the prefix (<= 18) and 4 key bytes
				 * besides the "…". */
				assert_true(len <= 18 + 3 + 4);
				checked++;
			}
		}
	}
	assert_true(checked > 12000);
}

/* ---- glob --------------------------------------------------------------- */

struct glob_case {
	const char *pattern;
	const char *key;
	size_t n; /* 0: strlen */
	bool want;
};

static const struct glob_case glob_cases[] = {
	{"sk_live_*4242", "sk_live_abc4242", 0, true},
	{"sk_live_*4242", "sk_live_4242", 0, true},
	{"sk_live_*4242", "sk_live_abc424", 0, false},
	{"sk_live_*4242", "sk_test_abc4242", 0, false},
	{"sk_live_*4242", "sk_live_42424242", 0, true},
	{"rk_live_*a1b2", "rk_live_xxxa1b2", 0, true},
	{"*", "", 0, true},
	{"*", "anything", 0, true},
	{"**", "abc", 0, true},
	{"", "", 0, true},
	{"", "a", 0, false},
	{"a", "", 0, false},
	{"abc", "abc", 0, true},
	{"abc", "abcd", 0, false},
	{"abc", "ab", 0, false},
	{"a*b*c", "aXbYc", 0, true},
	{"a*b*c", "abc", 0, true},
	{"a*b*c", "aXbY", 0, false},
	{"a*b*c", "acb", 0, false},
	{"*c", "abcabc", 0, true},
	{"*c*", "ab", 0, false},
	{"?", "a", 0, false}, /* '?' is literal */
	{"*?*", "a?c", 0, true},
	{"[ab]", "a", 0, false}, /* so are brackets */
	{"[ab]", "[ab]", 0, true},
	{"\\*", "\\anything", 0, true}, /* no escapes */
	{"a*", "a\0b", 3, true},	/* a NUL byte in the key */
	{"a", "a\0", 2, false},
	{"abc", "abcdef", 3, true}, /* only n bytes */
	{"*a*a*a*a*b", "aaaaaaaaaaaab", 0, true},
	{"*a*a*a*a*b", "aaaaaaaaaaaaa", 0, false},
	/* The ends first: they must not overlap, and a star between them
	 * may be empty. */
	{"ab*ba", "aba", 0, false},
	{"ab*ba", "abba", 0, true},
	{"ab*b*ba", "abba", 0, false},
	{"ab*b*ba", "abbba", 0, true},
	{"sk_*", "sk_", 0, true},
	{"sk_*", "sk", 0, false},
	{"*4242", "4242", 0, true},
	{"*4242", "424", 0, false},
	{"a*b*c", "abXc", 0, true},
	{"a*b*c", "acXc", 0, false},
};

/* The glob the README describes, written the obvious recursive way: the
 * reference for random patterns and strings. */
static bool glob_reference(const char *p, const char *s, size_t n)
{
	if (!*p)
		return n == 0;
	if (*p == '*') {
		for (size_t i = 0; i <= n; i++) {
			if (glob_reference(p + 1, s + i, n - i))
				return true;
		}
		return false;
	}
	return n && *p == *s && glob_reference(p + 1, s + 1, n - 1);
}

/* ---- redaction by value ------------------------------------------------ */

#define ELLIPSIS "\xe2\x80\xa6"
#define SCRUB_KEY "sk_live_51HxAbCdEfGhIjKlMnOpQrSt4242"
#define SCRUB_ID "sk_live_" ELLIPSIS "4242"

static const char *scrub(const char *text, const char *key, char *out,
			 size_t cap)
{
	kw_key_scrub(out, cap, kw_str_c(text), kw_str_c(key), SCRUB_ID);
	return out;
}

/* No 16-byte piece of key is in s. */
static void assert_no_piece(const char *s, const char *key)
{
	size_t n = strlen(key);

	for (size_t i = 0; i + 16 <= n; i++)
		assert_null(memmem(s, strlen(s), key + i, 16));
}

/* ---- the scrub against a slow reference of its definition ---- */

/* Random keys of a small alphabet (reserved bytes in some, so that they
 * have encoded forms, and a byte above 127 in a few) and texts made of
 * their pieces, their encoded forms and bytes they do or do not hold: the
 * scrub redacts what the reference does, every time. One key in 64 is up
 * to KW_KEY_MAX_LEN bytes long (the filter of its pieces grows with it). */
static void test_scrub_random(void **state)
{
	static const char key_alpha[] = "abAB12_/+=\xe9";
	static const char text_alpha[] = "abAB12_/+=% -xF2f\xe9";
	unsigned seed = 4242;
	char key[KW_KEY_MAX_LEN + 1], text[400], enc[3 * KW_KEY_MAX_LEN + 1];
	char got[2048], want[2048];

	(void)state;
#define NEXT(m) (seed = seed * 1103515245u + 12345u, (seed >> 16) % (m))
	for (int round = 0; round < 20000; round++) {
		size_t kn = round % 64 ? 4 + NEXT(37)
				       : 4 + NEXT(KW_KEY_MAX_LEN - 3),
		       n = 0, parts = 1 + NEXT(8);
		size_t alpha = 2 + NEXT(sizeof(key_alpha) - 2);

		for (size_t i = 0; i < kn; i++)
			key[i] = key_alpha[NEXT(alpha)];
		key[kn] = '\0';
		for (size_t k = 0; k < parts; k++) {
			size_t kind = NEXT(3), len, from;
			const char *src = key;

			if (kind == 2) {
				size_t en;

				ref_encode(key, kn, NEXT(2), enc, &en);
				enc[en] = '\0';
				src = enc;
			}
			if (kind == 0) {
				len = NEXT(24);
				for (size_t i = 0; i < len && n < 300; i++)
					text[n++] = text_alpha[NEXT(
						sizeof(text_alpha) - 1)];
				continue;
			}
			from = NEXT(strlen(src));
			len = 1 + NEXT(strlen(src) - from);
			for (size_t i = 0; i < len && n < 300; i++)
				text[n++] = src[from + i];
		}
		text[n] = '\0';
		kw_key_scrub(got, sizeof(got), kw_str_c(text), kw_str_c(key),
			     "<K>");
		ref_scrub(want, text, n, key, kn, "<K>");
		if (strcmp(got, want) != 0)
			print_error("key \"%s\"\ntext \"%s\"\n", key, text);
		assert_string_equal(got, want);
	}
#undef NEXT
}

static void test_scrub_replaces(void **state)
{
	char out[256];

	(void)state;
	assert_string_equal(scrub("Mozilla/5.0", SCRUB_KEY, out, sizeof(out)),
			    "Mozilla/5.0");
	assert_string_equal(scrub(SCRUB_KEY, SCRUB_KEY, out, sizeof(out)),
			    SCRUB_ID);
	assert_string_equal(scrub("/v1/x/" SCRUB_KEY "/y?k=" SCRUB_KEY,
				  SCRUB_KEY, out, sizeof(out)),
			    "/v1/x/" SCRUB_ID "/y?k=" SCRUB_ID);
	/* pieces: cut before it reached us, or split by a derived value */
	assert_string_equal(scrub("token=sk_live_51HxAbCdEfGh and more",
				  SCRUB_KEY, out, sizeof(out)),
			    "token=" SCRUB_ID " and more");
	assert_string_equal(
		scrub("x IjKlMnOpQrSt4242 y", SCRUB_KEY, out, sizeof(out)),
		"x " SCRUB_ID " y");
	/* 15 bytes of it are not a piece (nor are common prefixes) */
	assert_string_equal(
		scrub("sk_live_51HxAbC", SCRUB_KEY, out, sizeof(out)),
		"sk_live_51HxAbC");
	/* no key: nothing to replace, only the bound */
	assert_string_equal(scrub(SCRUB_KEY, "", out, sizeof(out)), SCRUB_KEY);
	/* a key shorter than a piece is still found whole */
	assert_string_equal(
		scrub("a short key: k3y! k3y", "k3y!", out, sizeof(out)),
		"a short key: " SCRUB_ID " k3y");
}

/* One key after another, as alerts about different keys come: each text
 * is searched for its own key only (the index of the key last searched
 * for is kept, and must not answer for another key, a longer one or a
 * shorter one with the same start). */
static void test_scrub_key_changes(void **state)
{
	static const char a[] = "sk_live_51HxAbCdEfGhIjKlMnOpQrSt4242";
	static const char b[] = "sk_live_51ZzYyXxWwVvUuTtSsRrQqPp4242";
	static const char a_short[] = "sk_live_51HxAbCdEfGhIjKlMn";
	char out[256];

	(void)state;
	for (int round = 0; round < 2; round++) {
		assert_string_equal(scrub("k=" SCRUB_KEY, a, out, sizeof(out)),
				    "k=" SCRUB_ID);
		assert_string_equal(
			scrub("k=sk_live_51ZzYyXxWwVvUuTtSsRrQqPp4242", a, out,
			      sizeof(out)),
			"k=sk_live_51ZzYyXxWwVvUuTtSsRrQqPp4242");
		assert_string_equal(
			scrub("k=sk_live_51ZzYyXxWwVvUuTtSsRrQqPp4242", b, out,
			      sizeof(out)),
			"k=" SCRUB_ID);
		assert_string_equal(scrub("k=" SCRUB_KEY, b, out, sizeof(out)),
				    "k=" SCRUB_KEY);
		/* a, its first 26 bytes, then a again: the shorter key
		 * matches a's start only, the longer one all of it. */
		assert_string_equal(scrub("k=" SCRUB_KEY, a, out, sizeof(out)),
				    "k=" SCRUB_ID);
		assert_string_equal(
			scrub("k=" SCRUB_KEY, a_short, out, sizeof(out)),
			"k=" SCRUB_ID "OpQrSt4242");
		assert_string_equal(scrub("k=" SCRUB_KEY, a, out, sizeof(out)),
				    "k=" SCRUB_ID);
		assert_false(kw_key_in(kw_str_c("x " SCRUB_KEY), kw_str_c(b)));
		assert_true(kw_key_in(kw_str_c("x " SCRUB_KEY), kw_str_c(a)));
	}
}

static void test_scrub_percent_encoded(void **state)
{
	const char *key = "tok/Self+Carrying=Secret";
	char out[256];

	(void)state;
	assert_string_equal(scrub("/v1/tok%2FSelf%2BCarrying%3DSecret/x", key,
				  out, sizeof(out)),
			    "/v1/" SCRUB_ID "/x");
	assert_string_equal(scrub("q=tok%2fSelf%2bCarrying%3dSecret", key, out,
				  sizeof(out)),
			    "q=" SCRUB_ID);
	/* split at its '/' by a path template: the long piece goes */
	assert_string_equal(
		scrub("POST /v1/tok/Self+Carrying/{id}", key, out, sizeof(out)),
		"POST /v1/" SCRUB_ID "/{id}");
	assert_true(kw_key_in(kw_str_c("a tok%2FSelf%2BCarrying%3DSecret"),
			      kw_str_c(key)));
	assert_false(kw_key_in(kw_str_c("tok/Self"), kw_str_c(key)));
}

/* The bound: cut at a character boundary, marked, and a key that starts
 * before the cut is replaced whole, never cut into a piece. */
static void test_scrub_bound(void **state)
{
	char text[600], out[64];
	size_t n;

	(void)state;
	/* 2-byte characters: the cut never splits one */
	text[0] = '\0';
	for (int i = 0; i < 100; i++)
		strcat(text, "\xc3\xa9");
	n = kw_key_scrub(out, sizeof(out), kw_str_c(text), KW_STR_NULL,
			 SCRUB_ID);
	assert_int_equal(n, strlen(out));
	assert_true(n <= 63);
	assert_memory_equal(out + n - 3, ELLIPSIS, 3);
	for (size_t i = 0; i + 3 < n; i += 2)
		assert_memory_equal(out + i, "\xc3\xa9", 2);

	/* a key across the bound: its id, then the cut */
	memset(text, 'a', 50);
	strcpy(text + 50, SCRUB_KEY "bbbbbbbbbbbbbbbbbbbb");
	n = kw_key_scrub(out, sizeof(out), kw_str_c(text), kw_str_c(SCRUB_KEY),
			 SCRUB_ID);
	assert_true(n <= 63);
	assert_no_piece(out, SCRUB_KEY);
	assert_memory_equal(out, text, 50);
	assert_memory_equal(out + n - 3, ELLIPSIS, 3);

	/* a key that would start right at the cut: gone with the cut */
	memset(text, 'a', 55);
	strcpy(text + 55, SCRUB_KEY);
	kw_key_scrub(out, sizeof(out), kw_str_c(text), kw_str_c(SCRUB_KEY),
		     SCRUB_ID);
	assert_no_piece(out, SCRUB_KEY);
	assert_null(strstr(out, "sk_live_51"));

	/* exactly fits: no marker */
	memset(text, 'a', 63);
	text[63] = '\0';
	assert_int_equal(kw_key_scrub(out, sizeof(out), kw_str_c(text),
				      KW_STR_NULL, SCRUB_ID),
			 63);
	assert_string_equal(out, text);
}

/* A huge value costs what fits, and every key in it, anywhere, is found by
 * kw_key_in. */
static void test_scrub_huge(void **state)
{
	size_t n = 500000;
	char *text = malloc(n + sizeof(SCRUB_KEY));
	char out[256];

	(void)state;
	memset(text, 'x', n);
	memcpy(text + n, SCRUB_KEY, sizeof(SCRUB_KEY));
	assert_true(kw_key_in(kw_str_c(text), kw_str_c(SCRUB_KEY)));
	assert_int_equal(kw_key_scrub(out, sizeof(out), kw_str_c(text),
				      kw_str_c(SCRUB_KEY), SCRUB_ID),
			 255);
	assert_no_piece(out, SCRUB_KEY);
	free(text);
}

static void test_glob_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(glob_cases) / sizeof(glob_cases[0]);
	     i++) {
		const struct glob_case *c = &glob_cases[i];
		size_t n = c->n ? c->n : strlen(c->key);

		if (kw_key_glob(c->pattern, c->key, n) != c->want)
			print_message("case %zu: %s\n", i, c->pattern);
		assert_int_equal(kw_key_glob(c->pattern, c->key, n), c->want);
	}
}

/* Random patterns of a small alphabet and stars against random strings
 * of the same alphabet: as the reference says, every time. */
static void test_glob_random(void **state)
{
	static const char alpha[] = "ab*";
	unsigned seed = 12345;

	(void)state;
	for (int round = 0; round < 200000; round++) {
		char p[9], s[11];
		size_t pn, n;

		seed = seed * 1103515245u + 12345u;
		pn = (seed >> 16) % 9;
		for (size_t i = 0; i < pn; i++) {
			seed = seed * 1103515245u + 12345u;
			p[i] = alpha[(seed >> 16) % 3];
		}
		p[pn] = '\0';
		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % 11;
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			s[i] = alpha[(seed >> 16) % 3]; /* a literal star too */
		}
		if (kw_key_glob(p, s, n) != glob_reference(p, s, n))
			print_message("%s against %.*s\n", p, (int)n, s);
		assert_int_equal(kw_key_glob(p, s, n), glob_reference(p, s, n));
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_glob_pathological(void **state)
{
	static char key[20001];
	char pattern[64];
	double t0;

	(void)state;
	/* "*a*a*...*a*b" (20 stars) against 20000 'a': exponential with
	 * naive recursion, bounded here. */
	memset(key, 'a', 20000);
	pattern[0] = '\0';
	for (int i = 0; i < 20; i++)
		strcat(pattern, "*a");
	strcat(pattern, "*b");
	t0 = now_s();
	assert_false(kw_key_glob(pattern, key, 20000));
	key[19999] = 'b';
	assert_true(kw_key_glob(pattern, key, 20000));
	assert_true(now_s() - t0 < 2.0);
}

/* ---- the key table's hash ----------------------------------------------- */

/* 128-bit arithmetic from 32-bit pieces, independent of __int128. */
struct u128r {
	uint64_t hi, lo;
};

static struct u128r mul64r(uint64_t a, uint64_t b)
{
	uint64_t a0 = a & 0xffffffffu, a1 = a >> 32;
	uint64_t b0 = b & 0xffffffffu, b1 = b >> 32;
	uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
	uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);

	return (struct u128r){
		.hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32),
		.lo = (mid << 32) | (p00 & 0xffffffffu),
	};
}

static struct u128r add128r(struct u128r a, struct u128r b)
{
	struct u128r r = {.hi = a.hi + b.hi, .lo = a.lo + b.lo};

	r.hi += r.lo < a.lo;
	return r;
}

/* (a_hi:a_lo) * x mod 2^128 */
static struct u128r mul128r(const uint64_t a[2], uint64_t x)
{
	struct u128r r = mul64r(a[0], x);

	r.hi += a[1] * x;
	return r;
}

/* keyhash.h's definition, word by word. */
static void keyhash_ref(const struct kw_keyhash_key *k, const uint8_t *p,
			size_t n, uint64_t out[2])
{
	uint8_t pad[KW_KEYHASH_MAX_LEN + 16] = {0};
	struct u128r nh[2] = {{0, 0}, {0, 0}};
	size_t words = (n + 15) / 16 * 2;

	memcpy(pad, p, n);
	for (size_t i = 0; i < words; i += 2) {
		uint64_t m0, m1;

		memcpy(&m0, pad + 8 * i, 8);
		memcpy(&m1, pad + 8 * i + 8, 8);
		/* Toeplitz: the second pass's words start two further on */
		for (int t = 0; t < 2; t++)
			nh[t] = add128r(nh[t],
					mul64r(m0 + k->nh[i + 2 * t],
					       m1 + k->nh[i + 2 * t + 1]));
	}
	for (int f = 0; f < 2; f++) {
		uint64_t x[5] = {nh[0].lo, nh[0].hi, nh[1].lo, nh[1].hi,
				 (uint64_t)n};
		struct u128r h = {.hi = k->b[f][1], .lo = k->b[f][0]};

		for (int j = 0; j < 5; j++)
			h = add128r(h, mul128r(k->a[f][j], x[j]));
		out[f] = h.hi;
	}
}

static void test_keyhash_reference(void **state)
{
	static uint8_t buf[KW_KEYHASH_MAX_LEN + 8];
	struct kw_keyhash_key k;
	uint8_t seed[16];
	uint64_t x = 0x9e3779b97f4a7c15u, got[2], want[2];

	(void)state;
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 16; i++)
			seed[i] = (uint8_t)(round * 37 + i * 11);
		kw_keyhash_init(&k, seed);
		for (size_t i = 0; i < sizeof(buf); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = round == 3 ? 0xff : (uint8_t)x;
		}
		for (size_t n = 0; n <= KW_KEYHASH_MAX_LEN; n++) {
			size_t off = n % 8; /* unaligned reads too */

			kw_keyhash(&k, buf + off, n, got);
			keyhash_ref(&k, buf + off, n, want);
			assert_memory_equal(got, want, sizeof(got));
		}
	}
	/* the material comes from the seed by SipHash in counter mode:
	 * 66 NH words, then 20 multiplier words, then 4 of b */
	for (int i = 0; i < 16; i++)
		seed[i] = (uint8_t)i;
	kw_keyhash_init(&k, seed);
	assert_int_equal(k.nh[0], kw_siphash("\0\0\0\0\0\0\0\0", 8, seed));
	assert_int_equal(k.a[0][0][0],
			 kw_siphash("\102\0\0\0\0\0\0\0", 8, seed)); /* 66 */
	assert_int_equal(k.b[1][1],
			 kw_siphash("\131\0\0\0\0\0\0\0", 8, seed)); /* 89 */
	kw_keyhash(&k, NULL, 0, got);
	keyhash_ref(&k, buf, 0, want);
	assert_memory_equal(got, want, sizeof(got));
}

/* Keys a hash without a key would put in few buckets (same length, same
 * ends, differing in a few middle bytes or only in zero padding) spread
 * like random ones: no bucket of 4,096 holds more than 3x its share. */
static bool same_hash(const struct kw_keyhash_key *k, const char *a, size_t na,
		      const char *b, size_t nb)
{
	uint64_t ha[2], hb[2];

	kw_keyhash(k, a, na, ha);
	kw_keyhash(k, b, nb, hb);
	return ha[0] == hb[0] || ha[1] == hb[1];
}

static void test_keyhash_spread(void **state)
{
	static uint16_t load[2][4096];
	struct kw_keyhash_key k;
	uint8_t seed[16] = "0123456789abcdef";
	char key[108];
	unsigned max = 0;

	(void)state;
	kw_keyhash_init(&k, seed);
	memset(key, 'A', sizeof(key));
	memcpy(key, "sk_live_51", 10);
	for (unsigned i = 0; i < 65536; i++) {
		uint64_t h[2];

		key[50] = (char)('A' + (i & 15));
		key[51] = (char)('A' + ((i >> 4) & 15));
		key[52] = (char)('A' + ((i >> 8) & 15));
		key[53] = (char)('A' + (i >> 12));
		kw_keyhash(&k, key, 107, h);
		/* both halves spread, each on its own */
		for (int f = 0; f < 2; f++) {
			if (++load[f][h[f] & 4095] > max)
				max = load[f][h[f] & 4095];
		}
	}
	assert_true(max <= 48);
	/* zero padding and length tell keys apart, in both halves */
	assert_false(same_hash(&k, "ab", 2, "ab\0", 3));
	assert_false(same_hash(&k, "", 0, "\0", 1));
	assert_false(
		same_hash(&k, "ab\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16, "ab", 2));
}

/* A principal's label: the ARN less its partition, service and region,
 * and less an IAM path; a long one drops the account, then keeps its end;
 * what is not an ARN is kept whole; odd bytes become '?'. */
static void test_principal_label(void **state)
{
	char out[64], wide[128];
	const char *sso =
		"arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/"
		"eu-west-1/AWSReservedSSO_AdministratorAccess_3c0e1a2b9d8f7e6a";
	const char *long_role =
		"arn:aws:iam::123456789012:role/service-role/"
		"a-very-long-role-name-for-the-data-pipeline-workers-of-the-"
		"nightly-batch";

	(void)state;
	kw_key_principal_label("arn:aws:iam::123456789012:role/ci", 33, out,
			       sizeof(out));
	assert_string_equal(out, "123456789012:role/ci");
	kw_key_principal_label("arn:aws:iam::123456789012:root", 30, out,
			       sizeof(out));
	assert_string_equal(out, "123456789012:root");
	kw_key_principal_label("arn:aws:iam::123456789012:user/ops/eu/ann", 41,
			       out, sizeof(out));
	assert_string_equal(out, "123456789012:user/ann");
	kw_key_principal_label(
		"arn:aws-us-gov:sts::123456789012:assumed-role/r/s", 49, out,
		sizeof(out));
	assert_string_equal(out, "123456789012:assumed-role/r/s");
	/* 70 bytes with the account: without it. */
	kw_key_principal_label(sso, strlen(sso), out, sizeof(out));
	assert_string_equal(
		out,
		"role/AWSReservedSSO_AdministratorAccess_3c0e1a2b9d8f7e6a");
	kw_key_principal_label(sso, strlen(sso), wide, sizeof(wide));
	assert_string_equal(wide, "123456789012:role/AWSReservedSSO_"
				  "AdministratorAccess_3c0e1a2b9d8f7e6a");
	kw_key_principal_label(long_role, strlen(long_role), out, sizeof(out));
	assert_int_equal(strlen(out), 63);
	assert_string_equal(out, "\xe2\x80\xa6"
				 "role-name-for-the-data-pipeline-workers-of-"
				 "the-nightly-batch");
	kw_key_principal_label("not-an-arn", 10, out, sizeof(out));
	assert_string_equal(out, "not-an-arn");
	kw_key_principal_label("arn:aws:x", 9, out, sizeof(out));
	assert_string_equal(out, "arn:aws:x");
	kw_key_principal_label("arn:aws:iam::1:user/\x01\xc3\xa9", 23, out,
			       sizeof(out));
	assert_string_equal(out, "1:user/???");
	kw_key_principal_label("arn:aws:iam::1:user/x", 21, out, 4);
	assert_string_equal(out, "");
	kw_key_principal_label("arn:aws:iam::1:role/", 20, out, sizeof(out));
	assert_string_equal(out, "1:role/");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vectors),
		cmocka_unit_test(test_siphash_unaligned),
		cmocka_unit_test(test_keyhash_reference),
		cmocka_unit_test(test_keyhash_spread),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_fingerprint_length_only),
		cmocka_unit_test(test_sha256_parts),
		cmocka_unit_test(test_is_redacted),
		cmocka_unit_test(test_is_redacted_reference),
		cmocka_unit_test(test_redact_table),
		cmocka_unit_test(test_redact_cap),
		cmocka_unit_test(test_redact_long_redacted),
		cmocka_unit_test(test_redact_never_whole),
		cmocka_unit_test(test_scrub_replaces),
		cmocka_unit_test(test_scrub_key_changes),
		cmocka_unit_test(test_scrub_percent_encoded),
		cmocka_unit_test(test_scrub_bound),
		cmocka_unit_test(test_scrub_huge),
		cmocka_unit_test(test_scrub_random),
		cmocka_unit_test(test_glob_table),
		cmocka_unit_test(test_glob_random),
		cmocka_unit_test(test_glob_pathological),
		cmocka_unit_test(test_principal_label),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
