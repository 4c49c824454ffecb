/*
 * json_dump.c - kw_json_dump: json_dump_callback into a growing buffer
 * whose first failed allocation is sticky, so that a text is returned only
 * when every byte of it was written (see json_dump.h for why).
 */
#include "core/json_dump.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct dump_buf {
	char *p;
	size_t len, cap; /* cap counts the NUL's place */
	bool failed;
};

static int dump_add(const char *s, size_t n, void *data)
{
	struct dump_buf *b = data;

	if (b->failed)
		return -1;
	if (n >= b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (n >= cap - b->len) {
			if (cap > SIZE_MAX / 2) {
				b->failed = true;
				return -1;
			}
			cap *= 2;
		}
		p = realloc(b->p, cap);
		if (!p) {
			b->failed = true;
			return -1;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

char *kw_json_dump(const json_t *v, size_t flags)
{
	struct dump_buf b = {NULL, 0, 0, false};

	if (json_dump_callback(v, dump_add, &b, flags) != 0 || b.failed ||
	    !b.p) {
		free(b.p);
		return NULL;
	}
	b.p[b.len] = '\0';
	return b.p;
}
