/*
 * ip.c - IPv4 and IPv6 addresses: parsing text without copies, and
 * formatting.
 *
 * Almost every log line carries a client address, so parsing reads the
 * bytes where they are (no NUL-terminated copy, no inet_pton) in one pass;
 * the usual IPv4 text (8 to 15 bytes) is read from a zeroed stack buffer
 * that two 8-byte loads fill, so that no byte needs a bound check.
 * The acceptance is exactly inet_pton's (glibc), checked against it by
 * tests/unit/test_ip.c over a generated corpus and random strings and by
 * the fuzz target tests/fuzz/fuzz_ip_parse.c:
 *
 *   IPv4  four decimal parts 0..255 separated by '.', no leading zeros
 *         ("01"), nothing before or after ("1.2.3.4 ", "1.2.3.4%x").
 *   IPv6  RFC 4291 text: up to eight groups of 1-4 hex digits (either
 *         case), one "::" at most, standing for at least one group, and an
 *         optional dotted IPv4 tail in the last 32 bits ("::ffff:1.2.3.4").
 *
 * One extension, the only text inet_pton rejects that is accepted here: an
 * IPv6 address may carry a zone ("fe80::1%eth0", RFC 4007 section 11), as
 * servers log link-local peers. The zone is 1 to KW_IP_ZONE_MAX bytes of
 * letters, digits, '-', '.', '_' and '~' (RFC 6874's unreserved set, so any
 * interface name or index), and is dropped: it is not part of the address.
 * An IPv4 address has no zone ("1.2.3.4%x" and "1.2.3.4%" are not
 * addresses), nor may a zone be empty ("fe80::1%").
 *
 * An IPv4-mapped IPv6 address (::ffff:a.b.c.d, as dual-stack servers log
 * IPv4 clients) becomes the IPv4 address, so IPv4 allowlists apply to it.
 */
#include "core/event.h"

#include <arpa/inet.h>
#include <string.h>

static inline bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline int hex_value(unsigned char c)
{
	if (is_digit(c))
		return c - '0';
	c |= 0x20; /* 'A'..'F' -> 'a'..'f'; nothing else lands there */
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The digit at p (p < end), or 10 and more for any other byte. */
static inline unsigned digit_at(const char *p)
{
	return (unsigned)(unsigned char)*p - '0';
}

/* s[0..n) as a dotted quad into out[0..4). Each part is read unrolled: a
 * digit, then at most two more (no leading zero), at most 255, and a
 * fourth digit is always too many. */
static bool parse_v4(const char *s, size_t n, uint8_t out[4])
{
	const char *p = s, *end = s + n;

	for (int part = 0; part < 4; part++) {
		unsigned v, d;

		if (part) {
			if (p >= end || *p != '.')
				return false;
			p++;
		}
		if (p >= end || (v = digit_at(p)) > 9)
			return false;
		p++;
		if (p < end && (d = digit_at(p)) <= 9) {
			if (v == 0)
				return false; /* a leading zero */
			v = v * 10 + d;
			p++;
			if (p < end && (d = digit_at(p)) <= 9) {
				v = v * 10 + d;
				p++;
				if (v > 255 || (p < end && digit_at(p) <= 9))
					return false;
			}
		}
		out[part] = (uint8_t)v;
	}
	return p == end;
}

/* s[0..n) as IPv6 text into out[0..16). */
static bool parse_v6(const char *s, size_t n, uint8_t out[16])
{
	uint8_t tmp[16];
	size_t i = 0, tp = 0, group = 0, gap = SIZE_MAX;
	unsigned val = 0, digits = 0;

	if (n == 0)
		return false;
	if (s[0] == ':') {
		/* only as the start of a leading "::" */
		if (n < 2 || s[1] != ':')
			return false;
		i = 1;
	}
	group = i;
	while (i < n) {
		unsigned char c = (unsigned char)s[i++];
		int h = hex_value(c);

		if (h >= 0) {
			if (digits == 4)
				return false;
			val = (val << 4) | (unsigned)h;
			digits++;
			continue;
		}
		if (c == ':') {
			group = i;
			if (digits == 0) {
				if (gap != SIZE_MAX)
					return false; /* a second "::" */
				gap = tp;
				continue;
			}
			if (i == n || tp + 2 > 16)
				return false; /* a trailing ':' or too many */
			tmp[tp++] = (uint8_t)(val >> 8);
			tmp[tp++] = (uint8_t)val;
			val = 0;
			digits = 0;
			continue;
		}
		/* the IPv4 tail: the whole rest, from the group's start */
		if (c == '.' && tp + 4 <= 16 &&
		    parse_v4(s + group, n - group, tmp + tp)) {
			tp += 4;
			digits = 0;
			break;
		}
		return false;
	}
	if (digits) {
		if (tp + 2 > 16)
			return false;
		tmp[tp++] = (uint8_t)(val >> 8);
		tmp[tp++] = (uint8_t)val;
	}
	if (gap != SIZE_MAX) {
		size_t tail = tp - gap;

		if (tp == 16)
			return false; /* "::" must stand for a group */
		memcpy(out, tmp, gap);
		memset(out + gap, 0, 16 - tail - gap);
		memcpy(out + 16 - tail, tmp + gap, tail);
		return true;
	}
	if (tp != 16)
		return false;
	memcpy(out, tmp, 16);
	return true;
}

static bool zone_ok(const char *z, size_t n)
{
	if (n == 0 || n > KW_IP_ZONE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)z[i];

		if (!is_digit(c) && !((c | 0x20) >= 'a' && (c | 0x20) <= 'z') &&
		    c != '-' && c != '.' && c != '_' && c != '~')
			return false;
	}
	return true;
}

/* One part of a dotted quad at b + *p, read with no bound to check (see
 * parse_v4_short): a digit, then at most two more (no leading zero), at
 * most 255, and a fourth digit is always too many. Moves *p past it. */
static inline bool v4_part(const unsigned char *b, size_t *p, uint8_t *out)
{
	size_t i = *p;
	unsigned v = (unsigned)b[i] - '0', d;

	if (v > 9)
		return false;
	if ((d = (unsigned)b[i + 1] - '0') > 9) {
		*p = i + 1;
		*out = (uint8_t)v;
		return true;
	}
	if (v == 0)
		return false; /* a leading zero */
	v = v * 10 + d;
	if ((d = (unsigned)b[i + 2] - '0') > 9) {
		*p = i + 2;
		*out = (uint8_t)v;
		return true;
	}
	v = v * 10 + d;
	if (v > 255 || (unsigned)b[i + 3] - '0' <= 9)
		return false;
	*p = i + 3;
	*out = (uint8_t)v;
	return true;
}

/* parse_v4 for the usual text, 8 to 15 bytes: the bytes are copied into
 * a zeroed buffer by two 8-byte loads (which cover them all), so each
 * part is read with no bound to check: a NUL ends it like any other
 * byte that is not a digit, and the whole must end at n. The four parts
 * are written out, not looped over, so that nothing but the bytes is
 * tested. Same answer as parse_v4 (tests/unit/test_ip.c, fuzz_ip). */
static bool parse_v4_short(const char *s, size_t n, uint8_t out[4])
{
	unsigned char b[24] = {0};
	size_t p = 0;

	memcpy(b, s, 8);
	memcpy(b + n - 8, s + n - 8, 8);
	if (!v4_part(b, &p, &out[0]) || b[p] != '.')
		return false;
	p++;
	if (!v4_part(b, &p, &out[1]) || b[p] != '.')
		return false;
	p++;
	if (!v4_part(b, &p, &out[2]) || b[p] != '.')
		return false;
	p++;
	return v4_part(b, &p, &out[3]) && p == n;
}

bool kw_ip_parse(struct kw_ip *ip, const char *s, size_t n)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
					   0, 0, 0, 0, 0xff, 0xff};
	const char *zone;
	size_t alen = n;

	memset(ip, 0, sizeof(*ip));
	if (n >= 8 && n <= 15 ? parse_v4_short(s, n, ip->addr)
			      : n == 7 && parse_v4(s, n, ip->addr)) {
		ip->family = 4;
		return true;
	}
	if (n < 2)
		goto bad;
	zone = memchr(s, '%', n);
	if (zone) {
		alen = (size_t)(zone - s);
		if (!zone_ok(zone + 1, n - alen - 1))
			goto bad;
	}
	if (!parse_v6(s, alen, ip->addr))
		goto bad;
	ip->family = 6;
	if (!memcmp(ip->addr, mapped, sizeof(mapped))) {
		memmove(ip->addr, ip->addr + 12, 4);
		memset(ip->addr + 4, 0, 12);
		ip->family = 4;
	}
	return true;
bad:
	memset(ip, 0, sizeof(*ip));
	return false;
}

/* v (0-255) in decimal at p; its length. */
static size_t put_octet(char *p, unsigned v)
{
	size_t n = 0;

	if (v >= 100)
		p[n++] = (char)('0' + v / 100);
	if (v >= 10)
		p[n++] = (char)('0' + v / 10 % 10);
	p[n++] = (char)('0' + v % 10);
	return n;
}

char *kw_ip_format(const struct kw_ip *ip, char *buf, size_t cap)
{
	if (cap == 0)
		return buf;
	buf[0] = '\0';
	if (ip->family == 4) {
		/* As inet_ntop writes it (which goes through sprintf: 20
		 * times the work), and like it nothing when cap is short. */
		char t[16];
		size_t n = put_octet(t, ip->addr[0]);

		for (int i = 1; i < 4; i++) {
			t[n++] = '.';
			n += put_octet(t + n, ip->addr[i]);
		}
		if (n < cap) {
			memcpy(buf, t, n);
			buf[n] = '\0';
		}
	} else if (ip->family == 6)
		inet_ntop(AF_INET6, ip->addr, buf, (socklen_t)cap);
	return buf;
}
