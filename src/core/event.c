/*
 * event.c - names of the event enums (IP addresses: ip.c).
 */
#include "core/event.h"

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
