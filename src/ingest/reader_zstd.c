/*
 * reader_zstd.c - the zstd layer: ZSTD_decompressStream into a buffer of
 * one block, handed out to the caller from there. Several frames in a row
 * and skippable frames are read as one stream (the library handles both).
 *
 * The one idea: the stream may only end where a frame ends (the library
 * returned 0 for the last call); an end anywhere else is a cut stream.
 * Bytes that are not a frame after a complete frame are garbage; any other
 * library error is damage inside a frame. As in the gzip layer, the bytes
 * decoded before damage are returned first, and the error on the next call.
 * Offsets are positions in the compressed input where the library stopped
 * reading (it buffers, so they are exact only to within a block).
 *
 * When the library finds damage it returns the error without the bytes it
 * produced in that call. So that what is kept before damage depends on the
 * input only, never on how much the caller asks for: the library always
 * decodes into our own buffer (the same calls whatever the caller's reads),
 * each call gets no more input than the library's last answer asked for
 * (the rest of the current block and the next block's header, so at most
 * one block is lost with the damage), and after a call that filled the
 * buffer the next one gets no input, only to hand out what it still holds.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "ingest/reader_impl.h"

/* Input for the first call of a frame: the shortest frame header (the
 * library then asks for the rest). */
#define ZS_FIRST_INPUT 6

struct zs {
	struct kw_reader_src *src;
	ZSTD_DCtx *dctx;
	ZSTD_inBuffer in;
	size_t want;  /* input the library asked for last (its hint) */
	bool holding; /* the library may hold decoded bytes not handed out */
	bool eof;
	bool frame_done; /* the last call ended exactly at a frame's end */
	bool done;
	struct kw_error err; /* pending, then sticky */
	unsigned char buf[KW_READER_INBUF];
	/* Decoded bytes not handed out yet: out[opos..olen). */
	size_t opos, olen;
	unsigned char out[ZSTD_BLOCKSIZE_MAX];
};

void *kw_reader_zstd_new(struct kw_reader_src *src)
{
	struct zs *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	z->dctx = ZSTD_createDCtx();
	if (!z->dctx) {
		free(z);
		return NULL;
	}
	z->src = src;
	z->in.src = z->buf;
	z->want = ZS_FIRST_INPUT;
	return z;
}

static uint64_t zs_pos(const struct zs *z)
{
	return z->src->consumed - (z->in.size - z->in.pos);
}

static void zs_fail(struct zs *z, const char *what)
{
	kw_error_set(&z->err, KW_ECORRUPT, "byte offset %llu: %s",
		     (unsigned long long)zs_pos(z), what);
}

static enum kw_status zs_refill(struct zs *z)
{
	size_t got = 0;
	enum kw_status st;

	st = kw_reader_src_read(z->src, z->buf, sizeof(z->buf), &got, &z->err);
	if (st != KW_OK)
		return st;
	z->in.size = got;
	z->in.pos = 0;
	if (got == 0 && !z->src->follow)
		z->eof = true;
	return KW_OK;
}

/* One call of the library: with no input while it may still hold decoded
 * bytes, else with at most the input it asked for. */
static size_t zs_call(struct zs *z, ZSTD_outBuffer *out)
{
	ZSTD_inBuffer win = z->in;
	size_t ret;

	if (z->holding)
		win.size = win.pos;
	else if (win.size - win.pos > z->want)
		win.size = win.pos + z->want;
	ret = ZSTD_decompressStream(z->dctx, out, &win);
	z->in.pos = win.pos;
	if (!ZSTD_isError(ret) && !z->holding)
		z->want = ret ? ret : ZS_FIRST_INPUT;
	return ret;
}

/* One decompression step into out. Returns false when reading must stop. */
static bool zs_step(struct zs *z, ZSTD_outBuffer *out)
{
	size_t in_before = z->in.pos;
	size_t out_before = out->pos;
	bool flush_only = z->holding;
	char what[160];
	size_t ret;

	if (!flush_only && z->in.pos == z->in.size && !z->eof)
		return zs_refill(z) == KW_OK;
	ret = zs_call(z, out);
	z->holding = out->pos == out->size;
	if (ZSTD_isError(ret)) {
		if (ZSTD_getErrorCode(ret) == ZSTD_error_prefix_unknown &&
		    z->frame_done) {
			zs_fail(z, "garbage after the last zstd frame");
		} else {
			snprintf(what, sizeof(what),
				 "zstd checksum or data error (%s)",
				 ZSTD_getErrorName(ret));
			zs_fail(z, what);
		}
		return false;
	}
	if (flush_only)
		return true; /* nothing held any more: input next time */
	if (z->in.pos != in_before || out->pos != out_before) {
		z->frame_done = ret == 0;
		z->src->at_end = z->frame_done;
	}
	if (ret == 0 && z->in.pos == z->in.size && z->eof) {
		z->done = true;
		return false;
	}
	if (z->in.pos == in_before && out->pos == out_before &&
	    z->in.pos < z->in.size) {
		/* Never expected; never loop on it either. */
		zs_fail(z, "zstd checksum or data error (no progress)");
		return false;
	}
	if (z->in.pos == in_before && out->pos == out_before &&
	    z->in.pos == z->in.size && z->eof) {
		if (z->frame_done) {
			z->done = true;
		} else {
			zs_fail(z, "unexpected end of zstd stream (truncated)");
		}
		return false;
	}
	return true;
}

/* Decode the next piece into z->out (called when it is empty). The
 * library's calls depend on the input only, never on the caller's reads. */
static void zs_fill(struct zs *z)
{
	ZSTD_outBuffer out = {.dst = z->out, .size = sizeof(z->out), .pos = 0};

	while (out.pos < out.size && !z->src->starved && zs_step(z, &out))
		;
	z->opos = 0;
	z->olen = out.pos;
}

static enum kw_status zs_read(void *self, void *buf, size_t cap, size_t *got,
			      struct kw_error *err)
{
	struct zs *z = self;

	*got = 0;
	while (*got < cap) {
		size_t n;

		if (z->opos == z->olen) {
			if (z->err.status != KW_OK || z->done)
				break;
			zs_fill(z);
			if (z->olen == 0)
				break;
		}
		n = z->olen - z->opos;
		if (n > cap - *got)
			n = cap - *got;
		memcpy((unsigned char *)buf + *got, z->out + z->opos, n);
		z->opos += n;
		*got += n;
	}
	if (*got > 0)
		return KW_OK; /* good bytes first; a pending error waits */
	if (z->err.status != KW_OK) {
		if (err)
			*err = z->err;
		return z->err.status;
	}
	return KW_OK;
}

static uint64_t zs_offset(void *self)
{
	struct zs *z = self;

	return zs_pos(z);
}

static void zs_destroy(void *self)
{
	struct zs *z = self;

	if (!z)
		return;
	ZSTD_freeDCtx(z->dctx);
	kw_reader_src_close(z->src);
	free(z);
}

const struct kw_reader_ops kw_reader_zstd_ops = {
	.name = "zstd",
	.read = zs_read,
	.offset = zs_offset,
	.destroy = zs_destroy,
};
