/*
 * reader_plain.c - the layer for uncompressed input: read(2) straight into
 * the caller's buffer, no copy and no per-line work.
 */
#include <stdlib.h>

#include "ingest/reader_impl.h"

struct plain {
	struct kw_reader_src *src;
	struct kw_error err; /* sticky: a failed read fails again */
};

void *kw_reader_plain_new(struct kw_reader_src *src)
{
	struct plain *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->src = src;
	src->at_end = true; /* any byte may be the last */
	return p;
}

static enum kw_status plain_read(void *self, void *buf, size_t cap, size_t *got,
				 struct kw_error *err)
{
	struct plain *p = self;

	*got = 0;
	if (p->err.status != KW_OK) {
		if (err)
			*err = p->err;
		return p->err.status;
	}
	if (kw_reader_src_read(p->src, buf, cap, got, &p->err) != KW_OK) {
		if (err)
			*err = p->err;
		return p->err.status;
	}
	return KW_OK;
}

static uint64_t plain_offset(void *self)
{
	struct plain *p = self;

	return p->src->consumed;
}

static void plain_destroy(void *self)
{
	struct plain *p = self;

	if (!p)
		return;
	kw_reader_src_close(p->src);
	free(p);
}

const struct kw_reader_ops kw_reader_plain_ops = {
	.name = "plain",
	.read = plain_read,
	.offset = plain_offset,
	.destroy = plain_destroy,
};
