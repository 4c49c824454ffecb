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

bool kw_glob_match(const char *pattern, const char *s, size_t n)
{
	const char *first = strchr(pattern, '*');
	const char *last;
	size_t head, tail;

	if (!first)
		return strlen(pattern) == n && !memcmp(pattern, s, n);
	last = strrchr(first, '*');
	head = (size_t)(first - pattern);
	tail = strlen(last + 1);
	if (head + tail > n || memcmp(s, pattern, head) ||
	    memcmp(s + n - tail, last + 1, tail))
		return false;
	if (first == last)
		return true;
	return match_stars(first, (size_t)(last - first) + 1, s + head,
			   n - head - tail);
}
