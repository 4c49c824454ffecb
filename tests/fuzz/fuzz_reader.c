/*
 * fuzz_reader.c - libFuzzer target: the byte readers (plain, gzip, zstd),
 * chosen by magic bytes as for any input. Built three times, against the
 * zlib gzip layer (fuzz_reader_gzip), the ISA-L one (fuzz_reader_igzip) and
 * with zstd (fuzz_reader_zstd), each with its own corpus; FUZZ_READER names
 * the build in messages.
 *
 * Each input is read twice: in reads of 64 KiB, and in reads whose sizes
 * cycle through 1, 7, 4096, 3 and 1 MiB; then twice again so, with the
 * fill hint of a merge's small splitters (kw_reader_fill_hint, 64 KiB).
 * Invariants:
 *   - read() answers OK, ECORRUPT, EIO or EUNSUPPORTED, never more bytes
 *     than asked for; after an error it answers the same error again with
 *     no bytes; an ECORRUPT message is "fuzz-input: byte offset N: ..."
 *     with N within the input;
 *   - offset() never goes back and never passes the input's size;
 *   - the chunk sizes change nothing: the same bytes, the same end;
 *   - nor does the hint, on input read to its end without an error.
 * Decoding stops at 64 MiB of output (a decompression bomb is a valid
 * stream; its size is bounded by the splitter's reads, not here).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ingest/reader.h"

#define OUTPUT_MAX ((uint64_t)64 << 20)

struct outcome {
	uint64_t hash, bytes;
	enum kw_status st;
	char msg[KW_ERROR_MSG_MAX];
};

static void read_all(const uint8_t *data, size_t size, size_t hint,
		     const size_t *caps, size_t ncaps, struct outcome *o)
{
	static unsigned char buf[1 << 20];
	struct kw_reader *r = NULL;
	struct kw_error err;
	uint64_t off = 0;
	enum kw_status st;
	size_t got, calls = 0;

	memset(o, 0, sizeof(*o));
	o->hash = 0xcbf29ce484222325ull;
	st = kw_reader_open_fd(fuzz_memfd(data, size), "fuzz-input", &r, &err);
	if (st != KW_OK) {
		o->st = st;
		snprintf(o->msg, sizeof(o->msg), "%s", err.msg);
		return;
	}
	if (hint)
		kw_reader_fill_hint(r, hint);
	while (o->bytes < OUTPUT_MAX) {
		size_t cap = caps[calls++ % ncaps];
		uint64_t now;

		memset(&err, 0, sizeof(err));
		st = kw_reader_read(r, buf, cap, &got, &err);
		now = r->ops->offset(r->self);
		if (now < off || now > size)
			fuzz_fail(data, size,
				  "offset %llu after %llu (size %zu)",
				  (unsigned long long)now,
				  (unsigned long long)off, size);
		off = now;
		if (st != KW_OK) {
			struct kw_error again;

			if (st != KW_ECORRUPT && st != KW_EIO &&
			    st != KW_EUNSUPPORTED)
				fuzz_fail(data, size, "status %d", (int)st);
			if (got)
				fuzz_fail(data, size, "bytes with an error");
			if (strncmp(err.msg, "fuzz-input: ", 12))
				fuzz_fail(data, size, "message '%s'", err.msg);
			if (st == KW_ECORRUPT) {
				unsigned long long at;

				if (sscanf(err.msg,
					   "fuzz-input: byte offset %llu: ",
					   &at) != 1 ||
				    at > size)
					fuzz_fail(data, size, "message '%s'",
						  err.msg);
			}
			if (kw_reader_read(r, buf, cap, &got, &again) != st ||
			    got || strcmp(again.msg, err.msg))
				fuzz_fail(data, size, "error not sticky");
			o->st = st;
			snprintf(o->msg, sizeof(o->msg), "%s", err.msg);
			break;
		}
		if (got > cap)
			fuzz_fail(data, size, "%zu bytes for %zu", got, cap);
		if (got == 0)
			break;
		for (size_t i = 0; i < got; i++)
			o->hash = (o->hash ^ buf[i]) * 0x100000001b3ull;
		o->bytes += got;
	}
	kw_reader_close(r);
}

/* The two read patterns with one hint: the same bytes and the same end. */
static void both(const uint8_t *data, size_t size, size_t hint,
		 struct outcome *a)
{
	static const size_t even[] = {64 * 1024};
	static const size_t odd[] = {1, 7, 4096, 3, 1 << 20};
	struct outcome b;

	read_all(data, size, hint, even, 1, a);
	read_all(data, size, hint, odd, 5, &b);
	if (a->bytes >= OUTPUT_MAX || b.bytes >= OUTPUT_MAX) {
		a->bytes = OUTPUT_MAX; /* cut at different points */
		return;
	}
	if (a->hash != b.hash || a->bytes != b.bytes)
		fuzz_fail(data, size,
			  FUZZ_READER ": %llu bytes in 64 KiB reads, %llu in "
				      "odd sizes (hint %zu)",
			  (unsigned long long)a->bytes,
			  (unsigned long long)b.bytes, hint);
	if (a->st != b.st || strcmp(a->msg, b.msg))
		fuzz_fail(data, size, FUZZ_READER ": '%s' and '%s' (hint %zu)",
			  a->msg, b.msg, hint);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome plain, hinted;

	both(data, size, 0, &plain);
	both(data, size, 64 * 1024, &hinted);
	if (plain.bytes < OUTPUT_MAX && hinted.bytes < OUTPUT_MAX &&
	    plain.st == KW_OK &&
	    (hinted.st != KW_OK || hinted.hash != plain.hash ||
	     hinted.bytes != plain.bytes))
		fuzz_fail(data, size,
			  FUZZ_READER ": %llu bytes, %llu with the hint",
			  (unsigned long long)plain.bytes,
			  (unsigned long long)hinted.bytes);
	return 0;
}
