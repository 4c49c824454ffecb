/*
 * glob.c - '*'-only glob matching with the classic single backtrack point:
 * when a later literal fails, only the most recent '*' grows by one, which
 * is enough because a '*' can absorb whatever an earlier one would have.
 */
#include "core/glob.h"

bool kw_glob_match(const char *pattern, const char *s, size_t n)
{
	const char *p = pattern;
	const char *star = NULL;
	size_t i = 0, mark = 0;

	while (i < n) {
		if (*p == '*') {
			star = ++p;
			mark = i;
		} else if (*p && *p == s[i]) {
			p++;
			i++;
		} else if (star) {
			p = star;
			i = ++mark;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}
