/*
 * reader_igzip.c - the gzip layer through ISA-L's igzip (Debian libisal),
 * used instead of reader_gzip.c when the build finds it: its inflate and
 * CRC run about twice as fast as zlib's, and inflate is the largest cost
 * of a scan after the JSON scanner.
 *
 * Same contract as the zlib layer: members are read one after another;
 * after a member, only the end of the input, another gzip magic or zero
 * padding to the end may follow; damage is reported with the byte offset in
 * the compressed input after the good bytes before it; errors are sticky.
 * The member header is parsed here (igzip's own parsing differs from gzip's,
 * see below), so that both builds give gzip's answer.
 *
 * Inflate is given the same room at the same point of the stream whatever
 * the caller asks for: it makes fills whose sizes depend on the stream
 * alone (and on kw_reader_fill_hint, said once before reading), each
 * straight into the caller's buffer when it has room for all of it, else
 * into the reader's own. On corrupt data ISA-L 2.30 can return
 * a call's output with bytes at its end it never wrote (a match whose
 * distance code is not in the block's code set moves the output on by the
 * match's length first), so what such a call made is dropped: the bytes
 * handed out before damage are the ones decoded by the calls before it,
 * the same whatever the read sizes or the thread count, and nothing of
 * earlier memory goes out.
 */
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/le.h"
#include "ingest/reader_impl.h"

/* What one fill makes at most: a little under the user's reads (512 KiB
 * unless kw_reader_fill_hint says otherwise; a splitter's reads are its
 * size less what is left of the record they cut), so that most of them
 * take a whole fill straight into their buffer, the others through the
 * reader's (each inflate call moves ISA-L's 32 KiB window twice, so fills
 * are not made smaller than the reads). The first fills are smaller,
 * doubling from FILL_FIRST: a look at a file's first records (the merge
 * orders files by them) inflates little more than it reads, and a small
 * stream (a Kafka message) needs no large buffer. */
#define FILL_READS ((size_t)512 * 1024)
#define FILL_FIRST ((size_t)16 * 1024)

struct igz {
	struct kw_reader_src *src;
	struct inflate_state st;
	bool eof;     /* the source has no more bytes */
	bool between; /* a member ended: another one or the end must follow */
	bool done;
	bool header;	     /* a member starts: its header is not read yet */
	uint32_t hcrc;	     /* CRC-32 of the header bytes read so far */
	struct kw_error err; /* pending, then sticky */
	unsigned char *out;  /* the output of the last fill */
	size_t out_size;     /* out's size */
	size_t out_len;	     /* bytes in out */
	size_t out_pos;	     /* of them, handed out */
	size_t fill;	     /* the most the next fill makes */
	size_t fill_max;     /* the most any fill makes */
	unsigned char in[KW_READER_INBUF];
};

static void igz_reset(struct igz *g)
{
	isal_inflate_reset(&g->st);
	g->st.crc_flag = ISAL_GZIP_NO_HDR_VER;
}

/* The fill size for reads of `reads` bytes: 4 KiB under them (a 16th
 * under small ones), FILL_FIRST at least. */
static size_t fill_under(size_t reads)
{
	size_t under = reads / 16 < 4096 ? reads / 16 : 4096;

	return reads - under > FILL_FIRST ? reads - under : FILL_FIRST;
}

void *kw_reader_gzip_new(struct kw_reader_src *src)
{
	/* The input and output buffers need no zeroing: only what is read
	 * or made is used (a tree of small files opens many readers). */
	struct igz *g = malloc(sizeof(*g));

	if (!g)
		return NULL;
	memset(g, 0, offsetof(struct igz, in));
	isal_inflate_init(&g->st);
	g->st.crc_flag = ISAL_GZIP_NO_HDR_VER;
	g->st.next_in = g->in;
	g->src = src;
	g->header = true;
	g->fill = FILL_FIRST;
	g->fill_max = fill_under(FILL_READS);
	return g;
}

/* Position in the compressed input of the next byte inflate would read. */
static uint64_t igz_pos(const struct igz *g)
{
	return g->src->consumed - g->st.avail_in;
}

static void igz_fail(struct igz *g, enum kw_status st, const char *what)
{
	kw_error_set(&g->err, st, "byte offset %llu: %s",
		     (unsigned long long)igz_pos(g), what);
}

/* Keep the unread bytes, append more from the source. */
static enum kw_status igz_refill(struct igz *g)
{
	size_t keep = g->st.avail_in;
	size_t got = 0;
	enum kw_status st;

	if (keep && g->st.next_in != g->in)
		memmove(g->in, g->st.next_in, keep);
	g->st.next_in = g->in;
	st = kw_reader_src_read(g->src, g->in + keep, sizeof(g->in) - keep,
				&got, &g->err);
	if (st != KW_OK)
		return st;
	if (got == 0 && !g->src->follow)
		g->eof = true;
	g->st.avail_in = (uint32_t)(keep + got);
	return KW_OK;
}

/* At a member boundary: the end, or the start of the next member. */
static bool igz_next_member(struct igz *g)
{
	while (!g->eof && !g->src->starved && g->st.avail_in < 2) {
		if (igz_refill(g) != KW_OK)
			return false;
	}
	if (g->src->starved && g->st.avail_in < 2 &&
	    (!g->st.avail_in || g->st.next_in[0] == 0x1f))
		return false; /* following: the next member is not there yet */
	if (g->st.avail_in == 0) {
		g->done = true;
		return false;
	}
	if (g->st.next_in[0] == 0) {
		g->done = kw_reader_gzip_padding(g->src, igz_pos(g),
						 g->st.next_in, g->st.avail_in,
						 g->in, sizeof(g->in), &g->err);
		g->st.avail_in = 0;
		return false;
	}
	if (g->st.next_in[0] != 0x1f ||
	    (g->st.avail_in >= 2 && g->st.next_in[1] != 0x8b)) {
		igz_fail(g, KW_ECORRUPT, "garbage after the last gzip member");
		return false;
	}
	{
		uint8_t *next = g->st.next_in;
		uint32_t avail = g->st.avail_in;

		igz_reset(g);
		g->st.next_in = next;
		g->st.avail_in = avail;
	}
	g->between = false;
	g->header = true;
	g->src->at_end = false;
	return true;
}

/* The words zlib uses, so messages read the same whichever library. */
static const char *igz_reason(int ret)
{
	switch (ret) {
	case ISAL_INCORRECT_CHECKSUM:
		return "gzip CRC or data error (incorrect data check)";
	case ISAL_INVALID_WRAPPER:
		return "gzip CRC or data error (incorrect header check)";
	case ISAL_UNSUPPORTED_METHOD:
		return "gzip CRC or data error (unknown compression method)";
	case ISAL_INVALID_LOOKBACK:
		return "gzip CRC or data error (invalid distance too far back)";
	default:
		return "gzip CRC or data error (invalid deflate data)";
	}
}

/* A bad trailer: tell a wrong CRC (at the CRC's end, as zlib does) from a
 * wrong length (at the trailer's end). False when the trailer is no longer
 * in the buffer (igz_reason's words then). */
static bool trailer_check(struct igz *g)
{
	const uint8_t *t = g->st.next_in - 8;

	if (g->st.next_in - g->in < 8)
		return false;
	if (kw_le_get32(t) != g->st.crc) {
		g->st.next_in -= 4;
		g->st.avail_in += 4;
		igz_fail(g, KW_ECORRUPT,
			 "gzip CRC or data error (incorrect data check)");
		g->st.next_in += 4;
		g->st.avail_in -= 4;
	} else {
		igz_fail(g, KW_ECORRUPT,
			 "gzip CRC or data error (incorrect length check)");
	}
	return true;
}

/* ---- the member header (RFC 1952, 2.3) ---------------------------------
 *
 * Parsed here, not by igzip: igzip ignores the reserved flag bits that zlib
 * and gzip refuse, refuses a correct header CRC (FHCRC), and needs the
 * whole header in one buffer. inflate then reads raw deflate and checks the
 * trailer (ISAL_GZIP_NO_HDR_VER). Messages and offsets are zlib's.
 */

/* Header bytes consumed: n <= avail_in, folded into the header CRC. */
static void hdr_take(struct igz *g, uint32_t n)
{
	g->hcrc = crc32_gzip_refl(g->hcrc, g->st.next_in, n);
	g->st.next_in += n;
	g->st.avail_in -= n;
}

/* At least n (small) bytes in the buffer. False at the end of the input
 * (the stream is cut: at its end, as zlib says) or on a read error. */
static bool hdr_need(struct igz *g, uint32_t n)
{
	while (g->st.avail_in < n) {
		if (g->eof) {
			g->st.next_in += g->st.avail_in;
			g->st.avail_in = 0;
			igz_fail(g, KW_ECORRUPT,
				 "unexpected end of gzip stream (truncated)");
			return false;
		}
		if (igz_refill(g) != KW_OK)
			return false;
	}
	return true;
}

/* Skip n bytes of an extra field, or up to and through a NUL (n == 0 and
 * string set) for a file name or comment. */
static bool hdr_skip(struct igz *g, uint32_t n, bool string)
{
	while (string || n > 0) {
		uint32_t take;
		const uint8_t *nul;

		if (!hdr_need(g, 1))
			return false;
		take = g->st.avail_in;
		if (string) {
			nul = memchr(g->st.next_in, 0, take);
			if (nul) {
				take = (uint32_t)(nul - g->st.next_in) + 1;
				string = false;
			}
		} else {
			take = take < n ? take : n;
			n -= take;
		}
		hdr_take(g, take);
	}
	return true;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Following: the length of the member header at next_in when all of it
 * is in the buffer, 0 while more must come. Nothing of a header is taken
 * before it is whole, so one cut by the end of a growing file is parsed
 * once the rest has arrived. A header whose method or flags are wrong
 * counts as whole: igz_header says what is wrong with it. */
static uint32_t hdr_whole(const struct igz *g)
{
	const uint8_t *p = g->st.next_in, *nul;
	uint32_t n = g->st.avail_in, at = 10;
	uint8_t flags;

	if (n < 10)
		return 0;
	flags = p[3];
	if (p[2] != 8 || (flags & 0xe0))
		return 10;
	if (flags & 4) { /* FEXTRA */
		if (n < at + 2)
			return 0;
		at += 2 + le16(p + at);
	}
	for (int f = 8; f <= 16; f += 8) { /* FNAME, FCOMMENT */
		if (!(flags & f))
			continue;
		nul = at < n ? memchr(p + at, 0, n - at) : NULL;
		if (!nul)
			return 0;
		at = (uint32_t)(nul - p) + 1;
	}
	if (flags & 2) /* FHCRC */
		at += 2;
	return at <= n ? at : 0;
}

/* Following: read on until the header is whole. False while it is not
 * (the source is starved, or an error is set). */
static bool hdr_ready(struct igz *g)
{
	while (!hdr_whole(g)) {
		if (g->st.avail_in == sizeof(g->in)) {
			igz_fail(g, KW_ECORRUPT,
				 "gzip header too long to follow");
			return false;
		}
		if (igz_refill(g) != KW_OK || g->src->starved)
			return false;
	}
	return true;
}

/* False when reading must stop (the error is set). */
static bool igz_header(struct igz *g)
{
	uint8_t flags;
	uint16_t want;

	g->header = false;
	g->hcrc = 0;
	if (!hdr_need(g, 10))
		return false;
	flags = g->st.next_in[3];
	if (g->st.next_in[2] != 8 || (flags & 0xe0)) {
		const char *why = g->st.next_in[2] != 8
					  ? "gzip CRC or data error (unknown "
					    "compression method)"
					  : "gzip CRC or data error (unknown "
					    "header flags set)";

		hdr_take(g, 4);
		igz_fail(g, KW_ECORRUPT, why);
		return false;
	}
	hdr_take(g, 10);
	if (flags & 4) { /* FEXTRA: a length, then that many bytes */
		if (!hdr_need(g, 2))
			return false;
		want = le16(g->st.next_in);
		hdr_take(g, 2);
		if (!hdr_skip(g, want, false))
			return false;
	}
	if ((flags & 8) && !hdr_skip(g, 0, true)) /* FNAME */
		return false;
	if ((flags & 16) && !hdr_skip(g, 0, true)) /* FCOMMENT */
		return false;
	if (flags & 2) { /* FHCRC: the low 16 bits of the header's CRC-32 */
		if (!hdr_need(g, 2))
			return false;
		want = le16(g->st.next_in);
		g->st.next_in += 2;
		g->st.avail_in -= 2;
		if (want != (g->hcrc & 0xffff)) {
			igz_fail(g, KW_ECORRUPT,
				 "gzip CRC or data error (header crc "
				 "mismatch)");
			return false;
		}
	}
	return true;
}

/* One inflate step. Returns false when reading must stop. */
static bool igz_step(struct igz *g)
{
	uint32_t out_before = g->st.avail_out;
	uint32_t in_before = g->st.avail_in;
	uint8_t *next_before = g->st.next_in;
	int ret;

	if (g->header) {
		if (g->src->follow && !hdr_ready(g))
			return false;
		return igz_header(g);
	}
	if (g->st.avail_in == 0 && !g->eof)
		return igz_refill(g) == KW_OK;
	ret = isal_inflate(&g->st);
	if (ret == ISAL_INCORRECT_CHECKSUM && trailer_check(g))
		return false;
	if (ret < 0) {
		/* On some corrupt blocks ISA-L gives back more input than it
		 * was given (read-ahead it returns twice): the damage is at
		 * or after where this step began, so report that place. */
		if (g->st.avail_in > in_before) {
			g->st.next_in = next_before;
			g->st.avail_in = in_before;
		}
		/* The call's output may end in bytes it never wrote (the top
		 * of this file): none of it goes out. */
		g->st.next_out -= out_before - g->st.avail_out;
		g->st.avail_out = out_before;
		igz_fail(g, KW_ECORRUPT, igz_reason(ret));
		return false;
	}
	if (g->st.block_state == ISAL_BLOCK_FINISH) {
		g->between = true;
		g->src->at_end = true;
		return true;
	}
	if (g->st.avail_out == 0)
		return true;
	/* Input used up in the middle of a member. */
	if (g->st.avail_in == 0 && !g->eof)
		return igz_refill(g) == KW_OK;
	if (g->st.avail_out != out_before || g->st.avail_in != in_before)
		return true;
	if (g->eof) {
		igz_fail(g, KW_ECORRUPT,
			 "unexpected end of gzip stream (truncated)");
		return false;
	}
	/* No progress with input left: inflate needs more of it at once
	 * (part of a header or a block). */
	if (g->st.avail_in == sizeof(g->in)) {
		igz_fail(g, KW_ECORRUPT,
			 "gzip CRC or data error (no progress)");
		return false;
	}
	return igz_refill(g) == KW_OK;
}

/* Inflate the next fill into `to`, which has room for it. Returns the
 * bytes made, 0 at the end, on an error (set) or, when following, when
 * nothing more can be read yet. */
static size_t igz_fill(struct igz *g, unsigned char *to)
{
	size_t made;

	g->st.next_out = to;
	g->st.avail_out = (uint32_t)g->fill;
	while (g->st.avail_out > 0 && !g->src->starved) {
		if (g->between && !igz_next_member(g))
			break;
		if (!igz_step(g))
			break;
	}
	made = g->fill - g->st.avail_out;
	g->st.next_out = NULL;
	g->st.avail_out = 0;
	/* Larger only after a full one: a followed file whose bytes come a
	 * few at a time keeps a small buffer. */
	if (g->fill < g->fill_max && made == g->fill)
		g->fill = g->fill * 2 < g->fill_max ? g->fill * 2 : g->fill_max;
	return made;
}

/* One fill a call at most, so that every fill is the same whatever the
 * read sizes: straight into buf when it has room for a whole one, else
 * through the reader's own buffer, which later reads empty first. */
static enum kw_status igz_read(void *self, void *buf, size_t cap, size_t *got,
			       struct kw_error *err)
{
	struct igz *g = self;
	size_t take;

	*got = 0;
	if (g->out_pos == g->out_len && g->err.status == KW_OK && !g->done) {
		if (cap >= g->fill) {
			*got = igz_fill(g, buf);
			if (*got > 0)
				return KW_OK;
		} else {
			if (g->out_size < g->fill) {
				free(g->out);
				g->out = malloc(g->fill);
				g->out_size = g->out ? g->fill : 0;
			}
			if (g->out) {
				g->out_len = igz_fill(g, g->out);
				g->out_pos = 0;
			} else {
				kw_error_set(&g->err, KW_ENOMEM,
					     "out of memory in inflate");
			}
		}
	}
	if (g->out_pos < g->out_len) {
		take = g->out_len - g->out_pos;
		take = take < cap ? take : cap;
		memcpy(buf, g->out + g->out_pos, take);
		g->out_pos += take;
		*got = take;
		/* Good bytes first; a pending error waits a call. */
		return KW_OK;
	}
	if (g->err.status != KW_OK) {
		if (err)
			*err = g->err;
		return g->err.status;
	}
	return KW_OK;
}

static void igz_fill_hint(void *self, size_t bytes)
{
	struct igz *g = self;

	g->fill_max = fill_under(bytes);
	if (g->fill > g->fill_max)
		g->fill = g->fill_max;
}

static uint64_t igz_offset(void *self)
{
	return igz_pos(self);
}

static void igz_destroy(void *self)
{
	struct igz *g = self;

	if (!g)
		return;
	kw_reader_src_close(g->src);
	free(g->out);
	free(g);
}

const struct kw_reader_ops kw_reader_gzip_ops = {
	.name = "gzip",
	.read = igz_read,
	.offset = igz_offset,
	.destroy = igz_destroy,
	.fill_hint = igz_fill_hint,
};
