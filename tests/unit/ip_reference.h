/*
 * ip_reference.h - what kw_ip_parse must answer, written on top of
 * inet_pton: the differential test (test_ip.c) and the fuzz target
 * (tests/fuzz/fuzz_ip_parse.c) compare the hand-written parser with it.
 * Header-only (static functions) so that the fuzz target, which compiles
 * the parser alone, needs no library.
 *
 * The rule it encodes (core/ip.c): inet_pton(AF_INET), then
 * inet_pton(AF_INET6), on the text as it is; the one extension is a zone
 * after an IPv6 address ("%eth0": 1 to KW_IP_ZONE_MAX bytes of letters,
 * digits, '-', '.', '_', '~'), which is dropped; an IPv4-mapped IPv6
 * address becomes the IPv4 address.
 */
#ifndef KW_TESTS_IP_REFERENCE_H
#define KW_TESTS_IP_REFERENCE_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

#include "core/event.h"

static bool ref_ip_parse(struct kw_ip *ip, const char *s, size_t n)
{
	static const char zone_chars[] = "abcdefghijklmnopqrstuvwxyz"
					 "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789-._~";
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
					   0, 0, 0, 0, 0xff, 0xff};
	char buf[256];
	char *pct;

	memset(ip, 0, sizeof(*ip));
	/* inet_pton stops at a NUL; the parser takes n bytes as they are */
	if (n >= sizeof(buf) || memchr(s, '\0', n))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	pct = strchr(buf, '%');
	if (pct) {
		size_t zn = strlen(pct + 1);

		*pct = '\0';
		if (zn == 0 || zn > KW_IP_ZONE_MAX ||
		    strspn(pct + 1, zone_chars) != zn)
			return false;
	} else if (inet_pton(AF_INET, buf, ip->addr) == 1) {
		ip->family = 4;
		return true;
	}
	if (inet_pton(AF_INET6, buf, ip->addr) != 1) {
		memset(ip, 0, sizeof(*ip));
		return false;
	}
	ip->family = 6;
	if (!memcmp(ip->addr, mapped, sizeof(mapped))) {
		memmove(ip->addr, ip->addr + 12, 4);
		memset(ip->addr + 4, 0, 12);
		ip->family = 4;
	}
	return true;
}

/* NULL when kw_ip_parse's answer a equals the reference's b, else what
 * differs. */
static const char *ip_compare(bool ok_a, const struct kw_ip *a, bool ok_b,
			      const struct kw_ip *b)
{
	if (ok_a != ok_b)
		return ok_a ? "parser accepts, reference rejects"
			    : "parser rejects, reference accepts";
	if (a->family != b->family)
		return "family differs";
	if (memcmp(a->addr, b->addr, sizeof(a->addr)))
		return "address differs";
	return NULL;
}

#endif
