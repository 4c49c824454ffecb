/*
 * glob.c - '*'-only glob matching. The literal text before the first '*'
 * and after the last one must be the ends of the string: those are
 * compared first, so that a pattern such as "sk_live_*4242" costs its
 * own length against a 100-byte key, not a walk of the key. Between the
 * first and the last '*', the classic single backtrack point: when a
 * later literal fails, only the most recent '*' grows by one, which is
 * enough because a '*' can absorb whatever an earlier one would have.
 */
#include "core/glob.h"

#include <string.h>

/* p[0..pn), which starts and ends with '*', against s[0..n). */
static bool match_stars(const char *p, size_t pn, const char *s, size_t n)
{
	const char *end = p + pn;
	const char *star = NULL;
	size_t i = 0, mark = 0;

	while (i < n) {
		if (p < end && *p == '*') {
			star = ++p;
			mark = i;
		} else if (p < end && *p == s[i]) {
			p++;
			i++;
		} else if (star) {
			p = star;
			i = ++mark;
		} else {
			return false;
		}
	}
	while (p < end && *p == '*')
		p++;
	return p == end;
}

void kw_glob_compile(struct kw_glob *g, const char *pattern)
{
	const char *first = strchr(pattern, '*');

	g->pattern = pattern;
	g->len = strlen(pattern);
	if (!first) {
		g->head = g->len;
		g->tail = 0;
		return;
	}
	g->head = (size_t)(first - pattern);
	g->tail = g->len - (size_t)(strrchr(first, '*') - pattern) - 1;
}

bool kw_glob_matches(const struct kw_glob *g, const char *s, size_t n)
{
	const char *p = g->pattern;

	if (g->head == g->len)
		return n == g->len && !memcmp(p, s, n);
	if (g->head + g->tail > n)
		return false;
	/* the last byte first: a key's tail ("*4242") tells keys apart, and
	 * the config's keys are tried one after another for each new key */
	if (g->tail && s[n - 1] != p[g->len - 1])
		return false;
	if (memcmp(s, p, g->head) ||
	    memcmp(s + n - g->tail, p + g->len - g->tail, g->tail))
		return false;
	/* the stars and what is between them: one star matches anything */
	if (g->len - g->tail - g->head == 1)
		return true;
	return match_stars(p + g->head, g->len - g->tail - g->head, s + g->head,
			   n - g->head - g->tail);
}

bool kw_glob_match(const char *pattern, const char *s, size_t n)
{
	struct kw_glob g;

	kw_glob_compile(&g, pattern);
	return kw_glob_matches(&g, s, n);
}
