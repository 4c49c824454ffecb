/*
 * reader_zstd.c - the zstd layer: ZSTD_decompressStream straight into the
 * caller's buffer. Several frames in a row and skippable frames are read as
 * one stream (the library handles both).
 *
 * The one idea: the stream may only end where a frame ends (the library
 * returned 0 for the last call); an end anywhere else is a cut stream.
 * Bytes that are not a frame after a complete frame are garbage; any other
 * library error is damage inside a frame. As in the gzip layer, the bytes
 * decoded before damage are returned first, and the error on the next call.
 * Offsets are positions in the compressed input where the library stopped
 * reading (it buffers, so they are exact only to within a block).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "ingest/reader_impl.h"

struct zs {
	struct kw_reader_src *src;
	ZSTD_DCtx *dctx;
	ZSTD_inBuffer in;
	bool eof;
	bool frame_done; /* the last call ended exactly at a frame's end */
	bool done;
	struct kw_error err; /* pending, then sticky */
	unsigned char buf[KW_READER_INBUF];
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

/* One decompression step into out. Returns false when reading must stop. */
static bool zs_step(struct zs *z, ZSTD_outBuffer *out)
{
	size_t in_before = z->in.pos;
	size_t out_before = out->pos;
	char what[160];
	size_t ret;

	if (z->in.pos == z->in.size && !z->eof)
		return zs_refill(z) == KW_OK;
	ret = ZSTD_decompressStream(z->dctx, out, &z->in);
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

static enum kw_status zs_read(void *self, void *buf, size_t cap, size_t *got,
			      struct kw_error *err)
{
	struct zs *z = self;
	ZSTD_outBuffer out = {.dst = buf, .size = cap, .pos = 0};

	*got = 0;
	if (z->err.status == KW_OK && !z->done) {
		while (out.pos < out.size && !z->src->starved) {
			if (!zs_step(z, &out))
				break;
		}
		if (out.pos > 0) {
			*got = out.pos;
			return KW_OK;
		}
	}
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
