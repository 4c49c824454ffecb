/*
 * str_count.h - for tests: how many times a text holds a string (a log
 * line said once, a receiver's bodies).
 */
#ifndef KW_TEST_STR_COUNT_H
#define KW_TEST_STR_COUNT_H

#include <stddef.h>
#include <string.h>

/* Occurrences of needle in hay, overlapping ones included. */
static inline size_t str_count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

#endif
