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

#endif
