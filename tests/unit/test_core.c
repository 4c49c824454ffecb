/*
 * test_core.c - the small pieces of core/: the status enum and error
 * struct, the bounded arena, '*' globs (including patterns that would make
 * a backtracking matcher exponential), the event enums' names, IP parsing
 * and formatting, skip counting with its sampled warning lines, and the
 * estimate of distinct keys.
 *
 * The one idea: log output is part of the behaviour (the first few skips of
 * each reason are printed, then one "only counted" line), so those tests
 * capture stderr into a temporary file and compare it byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/distinct.h"
#include "core/event.h"
#include "core/glob.h"
#include "core/key.h"
#include "core/log.h"
#include "core/skips.h"
#include "core/status.h"
#include "core/str.h"
#include "stderr_capture.h"

/* ---- stderr capture ------------------------------------------------------ */

/* ---- status -------------------------------------------------------------- */

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(kw_strerror(KW_OK), "ok");
	assert_string_equal(kw_strerror(KW_ENOMEM), "out of memory");
	assert_string_equal(kw_strerror(KW_EIO), "input/output error");
	assert_string_equal(kw_strerror(KW_ECORRUPT),
			    "corrupt or truncated data");
	assert_string_equal(kw_strerror(KW_EINVAL), "invalid input");
	assert_string_equal(kw_strerror(KW_ETOOBIG), "limit exceeded");
	assert_string_equal(kw_strerror(KW_ENOTFOUND), "not found");
	assert_string_equal(kw_strerror(KW_EUNSUPPORTED), "not supported");
	assert_string_equal(kw_strerror(KW_ECONFIG), "configuration error");
	assert_string_equal(kw_strerror(KW_EUSAGE), "usage error");
	assert_string_equal(kw_strerror(KW_ERETRY),
			    "temporary failure, retry later");
	assert_string_equal(kw_strerror(KW_STATUS_MAX), "unknown status");
	assert_string_equal(kw_strerror((enum kw_status) - 1),
			    "unknown status");
	assert_string_equal(kw_strerror((enum kw_status)1000),
			    "unknown status");
}

static void test_error_set_prefix_clear(void **state)
{
	struct kw_error err;
	char big[2000];

	(void)state;
	kw_error_clear(&err);
	assert_int_equal(err.status, KW_OK);
	assert_string_equal(err.msg, "");
	assert_int_equal(kw_error_set(&err, KW_EINVAL, "line %d: %s", 7, "bad"),
			 KW_EINVAL);
	assert_int_equal(err.status, KW_EINVAL);
	assert_string_equal(err.msg, "line 7: bad");
	assert_int_equal(kw_error_prefix(&err, "%s", "in.jsonl"), KW_EINVAL);
	assert_string_equal(err.msg, "in.jsonl: line 7: bad");
	assert_int_equal(kw_error_prefix(&err, "a%d", 1), KW_EINVAL);
	assert_string_equal(err.msg, "a1: in.jsonl: line 7: bad");

	/* NULL err: the status is still returned. */
	assert_int_equal(kw_error_set(NULL, KW_EIO, "x"), KW_EIO);
	assert_int_equal(kw_error_prefix(NULL, "x"), KW_OK);
	kw_error_clear(NULL);

	/* Truncated to fit, always terminated. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	kw_error_set(&err, KW_ETOOBIG, "%s", big);
	assert_int_equal(strlen(err.msg), KW_ERROR_MSG_MAX - 1);
	/* The prefix keeps at most 300 bytes of the old message. */
	kw_error_prefix(&err, "p");
	assert_int_equal(strlen(err.msg), 303);
	assert_memory_equal(err.msg, "p: xxx", 6);

	kw_error_clear(&err);
	assert_int_equal(err.status, KW_OK);
	assert_string_equal(err.msg, "");
}

/* ---- arena --------------------------------------------------------------- */

static void test_arena_basic(void **state)
{
	struct kw_arena a;
	char *s, *t;
	void *p, *q;

	(void)state;
	kw_arena_init(&a, 0);
	assert_int_equal(a.limit, (size_t)64 * 1024 * 1024);
	assert_int_equal(a.used, 0);
	p = kw_arena_alloc(&a, 1);
	q = kw_arena_alloc(&a, 3);
	assert_non_null(p);
	assert_non_null(q);
	assert_int_equal((uintptr_t)p % 16, 0);
	assert_int_equal((uintptr_t)q % 16, 0);
	assert_ptr_equal((char *)q, (char *)p + 16);
	assert_int_equal(a.used, 32);

	s = kw_arena_strndup(&a, "hello world", 5);
	assert_string_equal(s, "hello");
	t = kw_arena_strndup(&a, NULL, 0);
	assert_string_equal(t, "");
	assert_int_equal(a.used, 64);

	/* Bigger than a chunk: a chunk of its own; the data is writable. */
	p = kw_arena_alloc(&a, 3 * 1024 * 1024);
	assert_non_null(p);
	memset(p, 0xab, 3 * 1024 * 1024);
	q = kw_arena_alloc(&a, 100);
	assert_non_null(q);
	memset(q, 0xcd, 100);
	assert_string_equal(s, "hello");

	kw_arena_reset(&a);
	assert_int_equal(a.used, 0);
	assert_non_null(a.head);
	p = kw_arena_alloc(&a, 10);
	assert_non_null(p);
	assert_int_equal(a.used, 16);
	kw_arena_destroy(&a);
	assert_null(a.head);
	kw_arena_destroy(&a); /* twice */
	kw_arena_destroy(NULL);
}

static void test_arena_limit(void **state)
{
	struct kw_arena a;

	(void)state;
	kw_arena_init(&a, 100);
	assert_non_null(kw_arena_alloc(&a, 64));
	/* 64 + 48 > 100 */
	assert_null(kw_arena_alloc(&a, 33));
	assert_int_equal(a.used, 64);
	assert_non_null(kw_arena_alloc(&a, 32)); /* 96 */
	assert_null(kw_arena_alloc(&a, 1));	 /* 112 */
	assert_null(kw_arena_strndup(&a, "abc", 3));
	kw_arena_reset(&a);
	assert_non_null(kw_arena_alloc(&a, 96));
	/* Sizes that overflow when rounded up or added. */
	assert_null(kw_arena_alloc(&a, SIZE_MAX));
	assert_null(kw_arena_alloc(&a, SIZE_MAX - 8));
	assert_null(kw_arena_strndup(&a, "x", SIZE_MAX));
	kw_arena_destroy(&a);

	/* Exactly at the limit is allowed. */
	kw_arena_init(&a, 32);
	assert_non_null(kw_arena_alloc(&a, 32));
	assert_null(kw_arena_alloc(&a, 1));
	kw_arena_destroy(&a);

	/* An allocation past the default limit fails, with no huge malloc. */
	kw_arena_init(&a, 0);
	assert_null(kw_arena_alloc(&a, (size_t)64 * 1024 * 1024 + 1));
	assert_null(a.head);
	kw_arena_destroy(&a);
}

/* ---- glob ---------------------------------------------------------------- */

static bool gm(const char *p, const char *s)
{
	return kw_glob_match(p, s, strlen(s));
}

static void test_glob(void **state)
{
	(void)state;
	assert_true(gm("", ""));
	assert_false(gm("", "a"));
	assert_true(gm("*", ""));
	assert_true(gm("*", "anything at all"));
	assert_true(gm("**", "x"));
	assert_true(gm("abc", "abc"));
	assert_false(gm("abc", "abcd"));
	assert_false(gm("abcd", "abc"));
	assert_false(gm("abc", "abd"));
	assert_true(gm("sk_live_*4242", "sk_live_abcdef4242"));
	assert_true(gm("sk_live_*4242", "sk_live_4242"));
	assert_false(gm("sk_live_*4242", "sk_live_424"));
	assert_false(gm("sk_live_*4242", "sk_test_abcdef4242"));
	assert_true(gm("*4242", "424242"));
	assert_true(gm("a*b*c", "aXXbYYc"));
	assert_true(gm("a*b*c", "abc"));
	assert_false(gm("a*b*c", "acb"));
	assert_true(gm("a*b", "ab_b_b"));
	assert_false(gm("a*b", "ab_b_c"));
	/* Case matters; '?' and '[' are literal. */
	assert_false(gm("ABC", "abc"));
	assert_true(gm("a?c", "a?c"));
	assert_false(gm("a?c", "abc"));
	assert_true(gm("[x]", "[x]"));
	/* n bounds the subject: bytes past it are not looked at. */
	assert_true(kw_glob_match("abc", "abcdef", 3));
	assert_false(kw_glob_match("abcd", "abcdef", 3));
	assert_true(kw_glob_match("ab*", "abcdef", 2));
	/* An embedded NUL in the subject is just a byte. */
	assert_false(kw_glob_match("a", "a\0", 2));
	assert_true(kw_glob_match("a*", "a\0b", 3));
	assert_true(kw_glob_match("*b", "a\0b", 3));
}

static void test_glob_pathological(void **state)
{
	static char subject[100001];
	char pattern[256];
	clock_t t0;
	double secs;

	(void)state;
	memset(subject, 'a', sizeof(subject) - 1);
	subject[sizeof(subject) - 1] = '\0';
	/* "*a*a*a...*a*b": exponential for naive recursion. */
	pattern[0] = '\0';
	for (int i = 0; i < 40; i++)
		strcat(pattern, "*a");
	strcat(pattern, "*b");
	t0 = clock();
	assert_false(kw_glob_match(pattern, subject, 5000));
	assert_false(gm(pattern, subject));
	/* The same pattern with a 'b' at the end matches. */
	subject[sizeof(subject) - 2] = 'b';
	assert_true(gm(pattern, subject));
	/* Many stars in a row against a long miss. */
	assert_false(gm("*********************************c", subject));
	secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	/* Linear-ish: well under a second even under sanitizers. */
	assert_true(secs < 5.0);
}

/* ---- event enums and IPs ------------------------------------------------- */

static void test_event_names(void **state)
{
	(void)state;
	assert_string_equal(kw_key_kind_name(KW_KIND_UNKNOWN), "unknown");
	assert_string_equal(kw_key_kind_name(KW_KIND_PUBLISHABLE),
			    "publishable");
	assert_string_equal(kw_key_kind_name(KW_KIND_SECRET), "secret");
	assert_string_equal(kw_key_kind_name(KW_KIND_RESTRICTED), "restricted");
	assert_string_equal(kw_key_kind_name(KW_KIND_LONG_TERM), "long-term");
	assert_string_equal(kw_key_kind_name(KW_KIND_TEMPORARY), "temporary");
	assert_string_equal(kw_key_kind_name(KW_KIND_MAX), "unknown");
	assert_string_equal(kw_key_kind_name((enum kw_key_kind) - 1),
			    "unknown");
	assert_string_equal(kw_key_mode_name(KW_MODE_UNKNOWN), "unknown");
	assert_string_equal(kw_key_mode_name(KW_MODE_LIVE), "live");
	assert_string_equal(kw_key_mode_name(KW_MODE_TEST), "test");
	assert_string_equal(kw_key_mode_name(KW_MODE_MAX), "unknown");
	assert_string_equal(kw_access_name(KW_ACCESS_UNKNOWN), "unknown");
	assert_string_equal(kw_access_name(KW_ACCESS_NONE), "none");
	assert_string_equal(kw_access_name(KW_ACCESS_READ), "read");
	assert_string_equal(kw_access_name(KW_ACCESS_WRITE), "write");
	assert_string_equal(kw_access_name(KW_ACCESS_MAX), "unknown");
	assert_int_equal(kw_access_parse("none"), KW_ACCESS_NONE);
	assert_int_equal(kw_access_parse("read"), KW_ACCESS_READ);
	assert_int_equal(kw_access_parse("write"), KW_ACCESS_WRITE);
	assert_int_equal(kw_access_parse("Write"), KW_ACCESS_UNKNOWN);
	assert_int_equal(kw_access_parse("unknown"), KW_ACCESS_UNKNOWN);
	assert_int_equal(kw_access_parse(""), KW_ACCESS_UNKNOWN);
	assert_int_equal(kw_access_parse("read "), KW_ACCESS_UNKNOWN);
}

/* Parse s, format it back, compare. */
static void ip_round(const char *s, int family, const char *want)
{
	struct kw_ip ip;
	char buf[64];

	assert_true(kw_ip_parse(&ip, s, strlen(s)));
	assert_int_equal(ip.family, family);
	assert_string_equal(kw_ip_format(&ip, buf, sizeof(buf)), want);
}

static void ip_bad(const char *s, size_t n)
{
	struct kw_ip ip;

	memset(&ip, 0x5a, sizeof(ip));
	assert_false(kw_ip_parse(&ip, s, n));
	assert_int_equal(ip.family, 0);
	for (size_t i = 0; i < sizeof(ip.addr); i++)
		assert_int_equal(ip.addr[i], 0);
}

static void test_ip(void **state)
{
	static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
				       0,    0,	   0,	 0,    0, 0, 0, 1};
	struct kw_ip ip;
	char buf[64];
	char longbuf[80];

	(void)state;
	ip_round("203.0.113.9", 4, "203.0.113.9");
	ip_round("0.0.0.0", 4, "0.0.0.0");
	ip_round("255.255.255.255", 4, "255.255.255.255");
	ip_round("2001:db8::1", 6, "2001:db8::1");
	ip_round("2001:0DB8:0000:0000:0000:0000:0000:0001", 6, "2001:db8::1");
	ip_round("::", 6, "::");
	ip_round("::1", 6, "::1");
	/* IPv4-mapped IPv6 is the IPv4 address (allowlists apply) */
	ip_round("::ffff:192.0.2.1", 4, "192.0.2.1");
	/* A zone is not part of the address. */
	ip_round("fe80::1%eth0", 6, "fe80::1");

	assert_true(kw_ip_parse(&ip, "2001:db8::1", 11));
	assert_memory_equal(ip.addr, v6, 16);
	assert_true(kw_ip_parse(&ip, "10.1.2.3", 8));
	assert_int_equal(ip.addr[0], 10);
	assert_int_equal(ip.addr[3], 3);
	for (int i = 4; i < 16; i++)
		assert_int_equal(ip.addr[i], 0);

	/* n bounds the text: the rest of the buffer is not read. */
	assert_true(kw_ip_parse(&ip, "10.1.2.3garbage", 8));
	assert_string_equal(kw_ip_format(&ip, buf, sizeof(buf)), "10.1.2.3");

	ip_bad("", 0);
	ip_bad("1.2.3", 5);
	ip_bad("1.2.3.4.5", 9);
	ip_bad("256.1.1.1", 9);
	ip_bad(" 1.2.3.4", 8);
	ip_bad("1.2.3.4 ", 8);
	ip_bad("1.2.3.4/24", 10);
	ip_bad("example.com", 11);
	ip_bad("2001:db8:::1", 12);
	ip_bad("12345::", 7);
	ip_bad("ec2.amazonaws.com", 17);
	memset(longbuf, '1', sizeof(longbuf));
	ip_bad(longbuf, 64); /* too long for any address */

	/* Formatting: nothing for family 0; cap 0 writes nothing. */
	memset(&ip, 0, sizeof(ip));
	strcpy(buf, "junk");
	assert_string_equal(kw_ip_format(&ip, buf, sizeof(buf)), "");
	strcpy(buf, "junk");
	assert_ptr_equal(kw_ip_format(&ip, buf, 0), buf);
	assert_string_equal(buf, "junk");
}

/* ---- skips --------------------------------------------------------------- */

static void test_skip_names(void **state)
{
	(void)state;
	assert_string_equal(kw_skip_reason_name(KW_SKIP_TOO_LONG), "too_long");
	assert_string_equal(kw_skip_reason_name(KW_SKIP_BAD_JSON), "bad_json");
	assert_string_equal(kw_skip_reason_name(KW_SKIP_NO_KEY), "no_key");
	assert_string_equal(kw_skip_reason_name(KW_SKIP_NO_TIME), "no_time");
	assert_string_equal(kw_skip_reason_name(KW_SKIP_BAD_FIELD),
			    "bad_field");
	assert_string_equal(kw_skip_reason_name(KW_SKIP_CORRUPT), "corrupt");
	assert_string_equal(kw_skip_reason_name(KW_SKIP_UNREADABLE),
			    "unreadable");
	assert_string_equal(kw_skip_reason_name(KW_SKIP_KEYLESS), "keyless");
	assert_string_equal(kw_skip_reason_name(KW_SKIP_NOT_DATA), "not_data");
	assert_string_equal(kw_skip_reason_name(KW_SKIP_REASON_MAX), "unknown");
	for (int r = 0; r < KW_SKIP_REASON_MAX; r++)
		assert_int_equal(kw_skip_is_problem((enum kw_skip_reason)r),
				 r != KW_SKIP_KEYLESS && r != KW_SKIP_NOT_DATA);
}

static void test_skips_count_and_sample(void **state)
{
	struct kw_skips s;
	struct capture cap;
	char out[4096];

	(void)state;
	memset(&s, 0, sizeof(s));
	kw_log_set_level(KW_LOG_INFO);
	capture_begin(&cap);
	for (int i = 1; i <= 7; i++)
		kw_skips_add(&s, KW_SKIP_BAD_JSON, "in.jsonl", (uint64_t)i,
			     "not JSON (%d)", i);
	kw_skips_add(&s, KW_SKIP_NO_KEY, "in.jsonl", 0, "at byte %d", 12);
	kw_skips_add(&s, KW_SKIP_NO_TIME, NULL, 0, "no time");
	kw_skips_add(&s, KW_SKIP_KEYLESS, "ct.json", 3, "service event");
	kw_skips_add(&s, KW_SKIP_KEYLESS, "ct.json", 4, "service event");
	kw_skips_add(&s, KW_SKIP_REASON_MAX, "x", 1, "ignored");
	capture_end(&cap, out, sizeof(out));
	assert_string_equal(out, "keywatch: warning: in.jsonl:1: not JSON (1)\n"
				 "keywatch: warning: in.jsonl:2: not JSON (2)\n"
				 "keywatch: warning: in.jsonl:3: not JSON (3)\n"
				 "keywatch: warning: in.jsonl:4: not JSON (4)\n"
				 "keywatch: warning: in.jsonl:5: not JSON (5)\n"
				 "keywatch: warning: further 'bad_json' "
				 "problems are only counted\n"
				 "keywatch: warning: in.jsonl: at byte 12\n"
				 "keywatch: warning: no time\n");
	assert_int_equal(s.count[KW_SKIP_BAD_JSON], 7);
	assert_int_equal(s.count[KW_SKIP_NO_KEY], 1);
	assert_int_equal(s.count[KW_SKIP_NO_TIME], 1);
	assert_int_equal(s.count[KW_SKIP_KEYLESS], 2);
	assert_int_equal(s.count[KW_SKIP_TOO_LONG], 0);
	assert_int_equal(s.total, 11);
	assert_int_equal(kw_skips_problems(&s), 9);

	/* Keyless records are logged at debug level. */
	memset(&s, 0, sizeof(s));
	kw_log_set_level(KW_LOG_DEBUG);
	capture_begin(&cap);
	kw_skips_add(&s, KW_SKIP_KEYLESS, "ct.json", 3, "service event");
	capture_end(&cap, out, sizeof(out));
	assert_string_equal(out, "keywatch: debug: ct.json:3: service event\n");

	/* Quiet: counted, nothing printed. */
	memset(&s, 0, sizeof(s));
	kw_log_set_level(KW_LOG_ERROR);
	capture_begin(&cap);
	kw_skips_add(&s, KW_SKIP_TOO_LONG, "f", 1, "long");
	capture_end(&cap, out, sizeof(out));
	assert_string_equal(out, "");
	assert_int_equal(s.count[KW_SKIP_TOO_LONG], 1);
	assert_int_equal(s.total, 1);
	kw_log_set_level(KW_LOG_INFO);
}

/* kw_str_find3 (16 bytes, 8 bytes, one byte a step) against a plain byte
 * loop: every start in every length up to 80, in buffers with the bytes
 * it looks for here and there, read from a malloc of exactly the length
 * (ASan: nothing read past n). */
static void test_str_find3(void **state)
{
	static const char pool[] = "/?#a/b?c#d\x80\xff";
	uint64_t x = 0x66696e6433ULL;

	(void)state;
	for (int round = 0; round < 400; round++) {
		for (size_t n = 0; n <= 80; n++) {
			char *p = malloc(n ? n : 1);

			assert_non_null(p);
			for (size_t k = 0; k < n; k++) {
				x = x * 6364136223846793005ULL +
				    1442695040888963407ULL;
				/* sparse hits: mostly plain bytes */
				p[k] = (x >> 59) < 3
					       ? pool[(x >> 40) % 12]
					       : (char)('e' + (x >> 40) % 20);
			}
			for (size_t i = 0; i <= n + 1; i++) {
				size_t want = i;

				while (want < n && p[want] != '/' &&
				       p[want] != '?' && p[want] != '#')
					want++;
				assert_int_equal(
					kw_str_find3(p, i, n, '/', '?', '#'),
					want);
				want = i;
				while (want < n && p[want] != '?' &&
				       p[want] != '#')
					want++;
				assert_int_equal(
					kw_str_find3(p, i, n, '?', '#', '#'),
					want);
			}
			free(p);
		}
	}
}

/* kw_text against snprintf of the same pieces as "%.*s" each: the same
 * bytes for every cut, with pieces empty, long, or holding a NUL. */
static void test_text_as_snprintf(void **state)
{
	uint64_t x = 0x74657874ULL;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		char piece[3][24], want[48], got[48];
		size_t len[3], cap;
		struct kw_text t;

		for (int i = 0; i < 3; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			len[i] = (size_t)(x >> 58) % 21; /* 0..20 */
			for (size_t k = 0; k < len[i]; k++) {
				x = x * 6364136223846793005ULL +
				    1442695040888963407ULL;
				/* now and then a NUL inside */
				piece[i][k] =
					(x >> 59) == 0
						? '\0'
						: (char)('a' + (x >> 40) % 26);
			}
		}
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		cap = 1 + (size_t)(x >> 40) % sizeof(got);
		memset(want, 'w', sizeof(want));
		memset(got, 'g', sizeof(got));
		snprintf(want, cap, "%.*s%.*s%.*s", (int)len[0], piece[0],
			 (int)len[1], piece[1], (int)len[2], piece[2]);
		t = kw_text_at(got, cap);
		for (int i = 0; i < 3; i++)
			kw_text_put(&t, piece[i], len[i]);
		assert_string_equal(got, want);
		assert_int_equal(t.n, strlen(want));
		for (size_t k = t.n + 1; k < sizeof(got); k++)
			assert_int_equal(got[k],
					 'g'); /* nothing past its NUL */
	}
}

/* ---- distinct keys (core/distinct.h) ----------------------------------- */

/* Key i's fingerprint, as the key table has it. */
static void fp_of(unsigned i, char fp[KW_KEY_FP_SIZE])
{
	char key[64];
	int n = snprintf(key, sizeof(key), "sk_live_51Distinct%08uxxxxxxxxxx",
			 i);

	kw_key_fingerprint(key, (size_t)n, fp);
}

static uint64_t distinct_of(unsigned from, unsigned to, unsigned rounds)
{
	struct kw_distinct d;
	char fp[KW_KEY_FP_SIZE];

	memset(&d, 0, sizeof(d));
	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned i = from; i < to; i++) {
			fp_of(i, fp);
			kw_distinct_add(&d, fp);
		}
	}
	return kw_distinct_estimate(&d);
}

/* Small counts come out exact (linear counting), large ones within a few
 * standard errors (1.6%), and a key seen again does not count again. */
static void test_distinct_estimate(void **state)
{
	static const unsigned n[] = {1000, 20000, 300000};

	(void)state;
	assert_int_equal(distinct_of(0, 0, 1), 0);
	assert_int_equal(distinct_of(0, 1, 1), 1);
	assert_int_equal(distinct_of(0, 13, 1), 13);
	assert_int_equal(distinct_of(0, 13, 50), 13);
	for (size_t k = 0; k < sizeof(n) / sizeof(n[0]); k++) {
		uint64_t e = distinct_of(0, n[k], 1);

		if (e < n[k] * 0.95 || e > n[k] * 1.05)
			fail_msg("%u keys estimated as %llu", n[k],
				 (unsigned long long)e);
		assert_int_equal(distinct_of(0, n[k], 3), e);
	}
}

/* Shards merged count what one sketch of all their keys counts, however
 * the keys were split between them. */
static void test_distinct_merge(void **state)
{
	struct kw_distinct all, a, b;
	char fp[KW_KEY_FP_SIZE];

	(void)state;
	memset(&all, 0, sizeof(all));
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	for (unsigned i = 0; i < 50000; i++) {
		fp_of(i, fp);
		kw_distinct_add(&all, fp);
		kw_distinct_add(i % 3 ? &a : &b, fp);
		if (i % 7 == 0)
			kw_distinct_add(&b, fp);
	}
	kw_distinct_merge(&a, &b);
	assert_memory_equal(a.reg, all.reg, sizeof(all.reg));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_error_set_prefix_clear),
		cmocka_unit_test(test_arena_basic),
		cmocka_unit_test(test_arena_limit),
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_glob_pathological),
		cmocka_unit_test(test_event_names),
		cmocka_unit_test(test_ip),
		cmocka_unit_test(test_skip_names),
		cmocka_unit_test(test_skips_count_and_sample),
		cmocka_unit_test(test_str_find3),
		cmocka_unit_test(test_text_as_snprintf),
		cmocka_unit_test(test_distinct_estimate),
		cmocka_unit_test(test_distinct_merge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
