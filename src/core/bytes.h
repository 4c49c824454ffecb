/*
 * bytes.h - small questions about raw byte buffers.
 */
#ifndef KW_CORE_BYTES_H
#define KW_CORE_BYTES_H

#include <stdbool.h>
#include <stddef.h>

/* Whether the n bytes at p are all zero (n 0: yes). */
static inline bool kw_bytes_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		if (b[i])
			return false;
	}
	return true;
}

#endif
