/*
 * str.h - a borrowed byte span. Never NUL-terminated unless said so; the
 * owner of the bytes decides how long it lives (usually: until the batch that
 * produced it is reset).
 */
#ifndef KW_CORE_STR_H
#define KW_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct kw_str {
	const char *p;
	size_t n;
};

#define KW_STR_NULL ((struct kw_str){NULL, 0})

static inline struct kw_str kw_str_c(const char *s)
{
	return (struct kw_str){s, s ? strlen(s) : 0};
}

static inline bool kw_str_eq(struct kw_str a, struct kw_str b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline bool kw_str_eqc(struct kw_str a, const char *c)
{
	return kw_str_eq(a, kw_str_c(c));
}

static inline bool kw_str_has_prefix(struct kw_str a, const char *prefix)
{
	size_t n = strlen(prefix);

	return a.n >= n && memcmp(a.p, prefix, n) == 0;
}

static inline bool kw_str_empty(struct kw_str a)
{
	return a.n == 0;
}

#endif
