/*
 * test_ip.c - the hand-written address parser (core/ip.c) against
 * inet_pton (ip_reference.h), which defines what an address is.
 *
 * Three layers: named cases (each form the parser must reject the way
 * inet_pton does, the zone rule, what it must accept); a generated corpus
 * of valid addresses in every spelling (canonical and not, upper case,
 * leading zeros in groups, every "::" placement, IPv4 tails, zones) and of
 * single-byte mutations of them; and random strings over the characters
 * addresses are made of. Each input is given to the parser as an exact-size
 * heap copy without a terminator, so a read past n is an ASan report. All
 * from fixed seeds; the first mismatch fails with the input.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/event.h"
#include "ip_reference.h"
#include "test_rng.h"

static unsigned below(unsigned n)
{
	return (unsigned)rnd_below(n);
}

static size_t checked, accepted;

/* Parse s[0..n) both ways; fail on any difference. */
static void check(const char *s, size_t n)
{
	struct kw_ip a, b;
	char *copy = malloc(n ? n : 1);
	bool ok_a, ok_b;
	const char *why;

	assert_non_null(copy);
	memcpy(copy, s, n);
	memset(&a, 0x5a, sizeof(a));
	ok_a = kw_ip_parse(&a, copy, n);
	ok_b = ref_ip_parse(&b, s, n);
	why = ip_compare(ok_a, &a, ok_b, &b);
	if (why) {
		fprintf(stderr, "kw_ip_parse(\"");
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)s[i];

			if (c >= 0x20 && c < 0x7f)
				fputc(c, stderr);
			else
				fprintf(stderr, "\\x%02x", c);
		}
		fprintf(stderr, "\") %s\n", why);
		fail_msg("%s", why);
	}
	if (!ok_a) {
		/* rejected: ip is zeroed */
		assert_int_equal(a.family, 0);
		for (size_t i = 0; i < sizeof(a.addr); i++)
			assert_int_equal(a.addr[i], 0);
	}
	free(copy);
	checked++;
	accepted += ok_a;
}

static void check_str(const char *s)
{
	check(s, strlen(s));
}

/* ------------------------------------------------------------ named */

static void expect(const char *s, bool ok, int family)
{
	struct kw_ip ip;

	check_str(s);
	assert_int_equal(kw_ip_parse(&ip, s, strlen(s)), ok);
	assert_int_equal(ip.family, family);
}

static void test_named(void **state)
{
	(void)state;
	/* the cases: an IPv4 address takes no zone */
	expect("1.2.3.4%x", false, 0);
	expect("1.2.3.4%", false, 0);
	expect("1.2.3.4%eth0", false, 0);
	/* a zone: IPv6 only, never empty, a bounded set of characters */
	expect("fe80::1%eth0", true, 6);
	expect("fe80::1%12", true, 6);
	expect("fe80::1%en0.1_a-b~", true, 6);
	expect("fe80::1%", false, 0);
	expect("fe80::1%%", false, 0);
	expect("fe80::1%eth0%1", false, 0);
	expect("fe80::1%eth 0", false, 0);
	expect("fe80::1%eth/0", false, 0);
	expect("fe80::1%abcdefghijabcdefghijabcdefghij12", true, 6);
	expect("fe80::1%abcdefghijabcdefghijabcdefghij123", false, 0);
	expect("%eth0", false, 0);
	expect("fe80::zz%eth0", false, 0);
	expect("::ffff:1.2.3.4%eth0", true, 4);
	/* IPv4 */
	expect("0.0.0.0", true, 4);
	expect("255.255.255.255", true, 4);
	expect("01.2.3.4", false, 0);
	expect("1.2.3.00", false, 0);
	expect("1.2.3.256", false, 0);
	expect("1.2.3.4.", false, 0);
	expect(".1.2.3.4", false, 0);
	expect("1..2.3", false, 0);
	expect("1.2.3", false, 0);
	expect("1.2.3.4.5", false, 0);
	expect("1.2.3.4 ", false, 0);
	expect("1.2.3.-4", false, 0);
	expect("1.2.3.+4", false, 0);
	expect("0x1.2.3.4", false, 0);
	expect("1.2.3.1000", false, 0);
	/* IPv6 */
	expect("::", true, 6);
	expect("::1", true, 6);
	expect("1::", true, 6);
	expect("1:2:3:4:5:6:7::", true, 6);
	expect("::2:3:4:5:6:7:8", true, 6);
	expect("1:2:3:4:5:6:7:8", true, 6);
	expect("1:2:3:4:5:6:7:8:9", false, 0);
	expect("1:2:3:4:5:6:7", false, 0);
	expect("1:2:3:4:5:6:7:8::", false, 0);
	expect("::1:2:3:4:5:6:7:8", false, 0);
	expect(":1::", false, 0);
	expect(":::", false, 0);
	expect("1:::2", false, 0);
	expect("1::2::3", false, 0);
	expect("1:", false, 0);
	expect(":", false, 0);
	expect("1:2:3:4:5:6:7:", false, 0);
	expect("12345::", false, 0);
	expect("0000:0000:0000:0000:0000:0000:0000:0001", true, 6);
	expect("00000::", false, 0);
	expect("ABCD:EF01::", true, 6);
	expect("g::", false, 0);
	expect("::1.2.3.4", true, 6);
	expect("::ffff:1.2.3.4", true, 4);
	expect("::FFFF:1.2.3.4", true, 4);
	expect("1:2:3:4:5:6:1.2.3.4", true, 6);
	expect("1:2:3:4:5:6:7:1.2.3.4", false, 0);
	expect("::1.2.3", false, 0);
	expect("::1.2.3.4:5", false, 0);
	expect("::01.2.3.4", false, 0);
	expect("::a.2.3.4", false, 0);
	expect("::1.2.3.4.", false, 0);
	expect("1.2.3.4::", false, 0);
	expect("[::1]", false, 0);
	expect("::1/128", false, 0);
	expect(" ::1", false, 0);
	/* n bounds the text; a NUL inside is not an address */
	check("::1\0", 4);
	check("1.2.3.4\0", 8);
	check("", 0);
	check(":", 1);
}

/* ------------------------------------------------------------ generated */

static void put_group(char *buf, size_t *o, unsigned v, bool pad, bool upper)
{
	static const char lo[] = "0123456789abcdef", up[] = "0123456789ABCDEF";
	const char *d = upper ? up : lo;
	char tmp[8];
	int n = 0;

	do {
		tmp[n++] = d[v & 15];
		v >>= 4;
	} while (v);
	if (pad)
		while (n < 4)
			tmp[n++] = '0';
	while (n)
		buf[(*o)++] = tmp[--n];
}

/* A valid IPv6 spelling of 16 random-ish bytes: any case, optional
 * padding, "::" over any run of zero groups (or none), an IPv4 tail
 * sometimes. Returns the length. */
static size_t gen_v6(char *buf)
{
	uint16_t g[8];
	bool v4tail = below(4) == 0;
	int ngroups = v4tail ? 6 : 8;
	int zs = -1, ze = -1;
	size_t o = 0;

	for (int i = 0; i < 8; i++) {
		switch (below(4)) {
		case 0:
			g[i] = 0;
			break;
		case 1:
			g[i] = (uint16_t)below(16);
			break;
		default:
			g[i] = (uint16_t)rnd();
		}
	}
	if (below(5) == 0) { /* the IPv4-mapped prefix */
		memset(g, 0, sizeof(g));
		g[5] = 0xffff;
		g[6] = (uint16_t)rnd();
		g[7] = (uint16_t)rnd();
	}
	/* pick a run of zero groups to compress */
	if (below(3)) {
		int s = (int)below((unsigned)ngroups), e = s;

		while (e < ngroups && g[e] == 0)
			e++;
		if (e > s) {
			zs = s;
			ze = e;
		}
	}
	for (int i = 0; i < ngroups; i++) {
		if (i == zs) {
			buf[o++] = ':';
			buf[o++] = ':';
			i = ze - 1;
			continue;
		}
		if (i && i != ze)
			buf[o++] = ':';
		put_group(buf, &o, g[i], below(4) == 0, below(3) == 0);
	}
	if (v4tail) {
		if (ze != ngroups)
			buf[o++] = ':';
		o += (size_t)sprintf(buf + o, "%u.%u.%u.%u", g[6] >> 8,
				     g[6] & 255, g[7] >> 8, g[7] & 255);
	}
	if (below(8) == 0)
		o += (size_t)sprintf(buf + o, "%%%s", below(2) ? "eth0" : "12");
	return o;
}

static size_t gen_v4(char *buf)
{
	return (size_t)sprintf(buf, "%u.%u.%u.%u", below(256), below(256),
			       below(256), below(256));
}

static const char alphabet[] = "0123456789abcdefABCDEF:.%gxX/[] -_~\0";

static void mutate_and_check(const char *s, size_t n)
{
	char buf[128];

	for (int k = 0; k < 6; k++) {
		size_t m = n, at = below((unsigned)n + 1);
		char c = alphabet[below(sizeof(alphabet) - 1)];

		memcpy(buf, s, n);
		switch (below(4)) {
		case 0: /* insert */
			memmove(buf + at + 1, buf + at, n - at);
			buf[at] = c;
			m++;
			break;
		case 1: /* delete */
			if (at < n) {
				memmove(buf + at, buf + at + 1, n - at - 1);
				m--;
			}
			break;
		case 2: /* replace */
			if (at < n)
				buf[at] = c;
			break;
		default: /* cut */
			m = at;
		}
		check(buf, m);
	}
}

static void test_generated(void **state)
{
	char buf[128];

	(void)state;
	rng_state = 0x1234567887654321ULL;
	checked = accepted = 0;
	for (int i = 0; i < 40000; i++) {
		size_t n = (i & 3) ? gen_v6(buf) : gen_v4(buf);
		struct kw_ip ip;

		check(buf, n);
		/* every generated spelling is an address */
		assert_true(kw_ip_parse(&ip, buf, n));
		mutate_and_check(buf, n);
	}
	fprintf(stderr, "generated: %zu inputs, %zu addresses\n", checked,
		accepted);
}

static void test_random(void **state)
{
	char buf[64];

	(void)state;
	rng_state = 0x0badc0ffee0ddf00ULL;
	checked = accepted = 0;
	for (int i = 0; i < 200000; i++) {
		size_t n = below(48);

		for (size_t k = 0; k < n; k++)
			buf[k] =
				(i & 7) == 0
					? (char)rnd()
					: alphabet[below(sizeof(alphabet) - 1)];
		check(buf, n);
	}
	/* random strings over a digit-rich alphabet hit some addresses */
	assert_true(accepted > 0);
	fprintf(stderr, "random: %zu inputs, %zu addresses\n", checked,
		accepted);
}

/* IPv4 written as inet_ntop writes it: every value of each octet, random
 * addresses, and buffers one byte short and just long enough. */
static void test_format_v4(void **state)
{
	(void)state;
	rng_state = 0x5eed0f0f0f0f0f0fULL;
	for (int i = 0; i < 300000; i++) {
		struct kw_ip ip = {.family = 4};
		char want[INET_ADDRSTRLEN], got[INET_ADDRSTRLEN + 8];
		size_t n;

		/* First every value of each octet in turn, then random. */
		for (int k = 0; k < 4; k++) {
			if (i >= 1024)
				ip.addr[k] = (uint8_t)rnd();
			else
				ip.addr[k] =
					(uint8_t)(k == i / 256 ? i % 256 : 1);
		}
		assert_non_null(
			inet_ntop(AF_INET, ip.addr, want, sizeof(want)));
		assert_string_equal(kw_ip_format(&ip, got, sizeof(got)), want);
		n = strlen(want);
		memset(got, 'x', sizeof(got));
		kw_ip_format(&ip, got, n + 1);
		assert_string_equal(got, want);
		memset(got, 'x', sizeof(got));
		kw_ip_format(&ip, got, n);
		assert_string_equal(got, "");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_named),
		cmocka_unit_test(test_generated),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_format_v4),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
