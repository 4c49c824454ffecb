/*
 * reader_gzip.c - the gzip layer: zlib's inflate (windowBits 15+16) driven
 * by hand rather than gzread, so that every kind of damage is told apart
 * and located.
 *
 * The one idea: members are read one after another (`cat a.gz b.gz` is one
 * valid stream); when a member ends, what follows must be the end of the
 * input, another gzip magic, or zero padding to the end of the input (as
 * gzip accepts); anything else is garbage. Inflate writes
 * straight into the caller's buffer. When damage is found, the bytes
 * decoded before it are returned first and the error is kept for the next
 * call (and every call after). Offsets in messages are positions in the
 * compressed input: where inflate stopped, the first garbage byte, or the
 * end of a cut stream.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ingest/reader_impl.h"

struct gz {
	struct kw_reader_src *src;
	z_stream zs;
	bool zinit;
	bool eof;     /* the source has no more bytes */
	bool between; /* a member ended: another one or the end must follow */
	bool done;
	struct kw_error err; /* pending, then sticky */
	unsigned char in[KW_READER_INBUF];
};

void *kw_reader_gzip_new(struct kw_reader_src *src)
{
	/* The input buffer needs no zeroing: only what is read is used (a
	 * tree of small files opens many readers). */
	struct gz *g = malloc(sizeof(*g));

	if (!g)
		return NULL;
	memset(g, 0, offsetof(struct gz, in));
	if (inflateInit2(&g->zs, 15 + 16) != Z_OK) {
		free(g);
		return NULL;
	}
	g->zinit = true;
	g->src = src;
	return g;
}

/* Position in the compressed input of the next byte inflate would read. */
static uint64_t gz_pos(const struct gz *g)
{
	return g->src->consumed - g->zs.avail_in;
}

static void gz_fail(struct gz *g, enum kw_status st, const char *what)
{
	kw_error_set(&g->err, st, "byte offset %llu: %s",
		     (unsigned long long)gz_pos(g), what);
}

/* Keep the unread bytes, append more from the source. */
static enum kw_status gz_refill(struct gz *g)
{
	size_t keep = g->zs.avail_in;
	size_t got = 0;
	enum kw_status st;

	if (keep && g->zs.next_in != g->in)
		memmove(g->in, g->zs.next_in, keep);
	g->zs.next_in = g->in;
	st = kw_reader_src_read(g->src, g->in + keep, sizeof(g->in) - keep,
				&got, &g->err);
	if (st != KW_OK)
		return st;
	if (got == 0 && !g->src->follow)
		g->eof = true;
	g->zs.avail_in = (uInt)(keep + got);
	return KW_OK;
}

/* At a member boundary: the end, or the start of the next member. Returns
 * false when reading must stop (the end, or an error set). */
static bool gz_next_member(struct gz *g)
{
	while (!g->eof && !g->src->starved && g->zs.avail_in < 2) {
		if (gz_refill(g) != KW_OK)
			return false;
	}
	if (g->src->starved && g->zs.avail_in < 2 &&
	    (!g->zs.avail_in || g->zs.next_in[0] == 0x1f))
		return false; /* following: the next member is not there yet */
	if (g->zs.avail_in == 0) {
		g->done = true;
		return false;
	}
	if (g->zs.next_in[0] == 0) {
		g->done = kw_reader_gzip_padding(g->src, gz_pos(g),
						 g->zs.next_in, g->zs.avail_in,
						 g->in, sizeof(g->in), &g->err);
		g->zs.avail_in = 0;
		return false;
	}
	if (g->zs.next_in[0] != 0x1f ||
	    (g->zs.avail_in >= 2 && g->zs.next_in[1] != 0x8b)) {
		gz_fail(g, KW_ECORRUPT, "garbage after the last gzip member");
		return false;
	}
	inflateReset(&g->zs);
	g->between = false;
	g->src->at_end = false;
	return true;
}

/* One inflate step. Returns false when reading must stop. */
static bool gz_step(struct gz *g)
{
	char what[160];
	int ret;

	if (g->zs.avail_in == 0 && !g->eof)
		return gz_refill(g) == KW_OK;
	ret = inflate(&g->zs, Z_NO_FLUSH);
	switch (ret) {
	case Z_OK:
		return true;
	case Z_STREAM_END:
		g->between = true;
		g->src->at_end = true;
		return true;
	case Z_BUF_ERROR:
		/* No progress: the output is full, or the input ran out. */
		if (g->zs.avail_out == 0)
			return false;
		gz_fail(g, KW_ECORRUPT,
			"unexpected end of gzip stream (truncated)");
		return false;
	case Z_MEM_ERROR:
		kw_error_set(&g->err, KW_ENOMEM, "out of memory in inflate");
		return false;
	default:
		snprintf(what, sizeof(what), "gzip CRC or data error (%s)",
			 g->zs.msg ? g->zs.msg : "unknown");
		gz_fail(g, KW_ECORRUPT, what);
		return false;
	}
}

static enum kw_status gz_read(void *self, void *buf, size_t cap, size_t *got,
			      struct kw_error *err)
{
	struct gz *g = self;
	size_t produced;

	*got = 0;
	if (g->err.status == KW_OK && !g->done) {
		g->zs.next_out = buf;
		g->zs.avail_out = cap > UINT_MAX ? UINT_MAX : (uInt)cap;
		cap = g->zs.avail_out;
		while (g->zs.avail_out > 0 && !g->src->starved) {
			if (g->between && !gz_next_member(g))
				break;
			if (!gz_step(g))
				break;
		}
		produced = cap - g->zs.avail_out;
		g->zs.next_out = NULL;
		g->zs.avail_out = 0;
		if (produced > 0) {
			/* Good bytes first; a pending error waits a call. */
			*got = produced;
			return KW_OK;
		}
	}
	if (g->err.status != KW_OK) {
		if (err)
			*err = g->err;
		return g->err.status;
	}
	return KW_OK;
}

static uint64_t gz_offset(void *self)
{
	struct gz *g = self;

	return gz_pos(g);
}

static void gz_destroy(void *self)
{
	struct gz *g = self;

	if (!g)
		return;
	if (g->zinit)
		inflateEnd(&g->zs);
	kw_reader_src_close(g->src);
	free(g);
}

const struct kw_reader_ops kw_reader_gzip_ops = {
	.name = "gzip",
	.read = gz_read,
	.offset = gz_offset,
	.destroy = gz_destroy,
};
