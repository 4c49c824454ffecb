/*
 * glob.h - the config's `match` globs: '*' is any run of characters
 * (including none); every other byte is literal.
 */
#ifndef KW_CORE_GLOB_H
#define KW_CORE_GLOB_H

#include <stdbool.h>
#include <stddef.h>

/* Iterative, O(len(pattern) * n) at worst: no exponential backtracking on
 * patterns such as "*a*a*a*b". */
bool kw_glob_match(const char *pattern, const char *s, size_t n);

/* A pattern taken apart once, for one that is matched against many
 * strings (the config's keys, against every new key): its length and
 * where its first and last '*' are, which kw_glob_match finds again on
 * every call. */
struct kw_glob {
	const char *pattern; /* borrowed: must outlive the struct */
	size_t len;
	size_t head; /* bytes before the first '*'; len when there is none */
	size_t tail; /* bytes after the last '*' */
};

void kw_glob_compile(struct kw_glob *g, const char *pattern);

/* What kw_glob_match(g->pattern, s, n) says. */
bool kw_glob_matches(const struct kw_glob *g, const char *s, size_t n);

#endif
