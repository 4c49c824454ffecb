/*
 * event.c - names of the event enums and IP address parsing/formatting.
 */
#include "core/event.h"

#include <arpa/inet.h>
#include <string.h>

const char *kw_key_kind_name(enum kw_key_kind k)
{
	static const char *const names[KW_KIND_MAX] = {
		[KW_KIND_UNKNOWN] = "unknown",
		[KW_KIND_PUBLISHABLE] = "publishable",
		[KW_KIND_SECRET] = "secret",
		[KW_KIND_RESTRICTED] = "restricted",
		[KW_KIND_LONG_TERM] = "long-term",
		[KW_KIND_TEMPORARY] = "temporary",
	};

	return (unsigned)k < KW_KIND_MAX ? names[k] : "unknown";
}

const char *kw_key_mode_name(enum kw_key_mode m)
{
	static const char *const names[KW_MODE_MAX] = {
		[KW_MODE_UNKNOWN] = "unknown",
		[KW_MODE_LIVE] = "live",
		[KW_MODE_TEST] = "test",
	};

	return (unsigned)m < KW_MODE_MAX ? names[m] : "unknown";
}

const char *kw_access_name(enum kw_access a)
{
	static const char *const names[KW_ACCESS_MAX] = {
		[KW_ACCESS_UNKNOWN] = "unknown",
		[KW_ACCESS_NONE] = "none",
		[KW_ACCESS_READ] = "read",
		[KW_ACCESS_WRITE] = "write",
	};

	return (unsigned)a < KW_ACCESS_MAX ? names[a] : "unknown";
}

enum kw_access kw_access_parse(const char *s)
{
	if (!strcmp(s, "none"))
		return KW_ACCESS_NONE;
	if (!strcmp(s, "read"))
		return KW_ACCESS_READ;
	if (!strcmp(s, "write"))
		return KW_ACCESS_WRITE;
	return KW_ACCESS_UNKNOWN;
}

/* Dotted-quad IPv4 without a copy or the C library: most log lines carry
 * one, and inet_pton needs a NUL-terminated copy. Same acceptance as
 * inet_pton(AF_INET): four decimal parts 0..255, no leading zeros. */
static bool parse_ipv4(struct kw_ip *ip, const char *s, size_t n)
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;

		if (part && (i >= n || s[i++] != '.'))
			return false;
		while (i < n && s[i] >= '0' && s[i] <= '9' && digits < 4) {
			v = v * 10 + (unsigned)(s[i++] - '0');
			digits++;
		}
		if (digits == 0 || digits > 3 || v > 255 ||
		    (digits > 1 && s[i - digits] == '0'))
			return false;
		ip->addr[part] = (uint8_t)v;
	}
	if (i != n)
		return false;
	ip->family = 4;
	return true;
}

bool kw_ip_parse(struct kw_ip *ip, const char *s, size_t n)
{
	char buf[64];
	size_t i;

	memset(ip, 0, sizeof(*ip));
	if (n >= 7 && n <= 15 && parse_ipv4(ip, s, n))
		return true;
	memset(ip, 0, sizeof(*ip));
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	/* IPv6 with a zone ("fe80::1%eth0"): the zone is not part of the
	 * address. */
	for (i = 0; i < n; i++) {
		if (buf[i] == '%') {
			buf[i] = '\0';
			break;
		}
	}
	if (inet_pton(AF_INET, buf, ip->addr) == 1) {
		ip->family = 4;
		return true;
	}
	if (inet_pton(AF_INET6, buf, ip->addr) == 1) {
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
						   0, 0, 0, 0, 0xff, 0xff};

		ip->family = 6;
		/* An IPv4-mapped address (::ffff:192.0.2.1, as dual-stack
		 * servers log IPv4 clients) is the IPv4 address, so that
		 * IPv4 allowlists and networks apply to it. */
		if (!memcmp(ip->addr, mapped, sizeof(mapped))) {
			memmove(ip->addr, ip->addr + 12, 4);
			memset(ip->addr + 4, 0, 12);
			ip->family = 4;
		}
		return true;
	}
	memset(ip, 0, sizeof(*ip));
	return false;
}

char *kw_ip_format(const struct kw_ip *ip, char *buf, size_t cap)
{
	if (cap == 0)
		return buf;
	buf[0] = '\0';
	if (ip->family == 4)
		inet_ntop(AF_INET, ip->addr, buf, (socklen_t)cap);
	else if (ip->family == 6)
		inet_ntop(AF_INET6, ip->addr, buf, (socklen_t)cap);
	return buf;
}
