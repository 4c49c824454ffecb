/*
 * reader_impl.h - private to src/ingest/reader*.c: the raw byte source that
 * every decoding layer reads from, and the constructors of the layers.
 *
 * The one idea: magic sniffing must work on a pipe, which cannot seek, so
 * the source keeps the bytes it peeked at and hands them out again before
 * reading further. A layer (plain, gzip, zstd) owns its source and closes it
 * in its destroy().
 */
#ifndef KW_INGEST_READER_IMPL_H
#define KW_INGEST_READER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kw_config.h"

#include "core/status.h"
#include "ingest/reader.h"

#define KW_READER_PEEK 4
/* Size of the compressed-input buffer of the decoding layers. */
#define KW_READER_INBUF ((size_t)256 * 1024)

struct kw_reader_src {
	int fd; /* -1 for bytes in memory (mem) */
	/* kw_reader_open_mem: the bytes, borrowed; read from pos. */
	const unsigned char *mem;
	size_t mem_len;
	unsigned char peek[KW_READER_PEEK];
	size_t peek_len;
	size_t peek_pos;
	uint64_t consumed; /* bytes handed out so far */
	uint64_t pos;	   /* the descriptor's position after the last read */
	/* kw_reader_follow: the end of the file is "nothing more yet". A
	 * layer stops its read() when `starved` is set (a read found the end
	 * while following) and keeps `at_end` true between members/frames.
	 * kw_reader_read clears `starved` before each call. */
	bool follow;
	bool starved;
	bool at_end;
	bool positional; /* read with pread at pos (once it followed) */
};

/* Up to cap bytes of the raw input; *got == 0 with KW_OK is the end (when
 * following: nothing more yet, and src->starved is set). A failed read is
 * KW_EIO with err "byte offset N: read error: <strerror>". */
enum kw_status kw_reader_src_read(struct kw_reader_src *src, void *buf,
				  size_t cap, size_t *got,
				  struct kw_error *err);

/* After a gzip member that ends at compressed offset `at`, the next byte is
 * zero. gzip accepts zero padding that runs to the end of the input (tape
 * blocks, preallocated files) and calls anything else after a member
 * trailing garbage; both gzip layers answer the same through this.
 * rest[0..n) are the bytes already read after the member; buf (cap bytes,
 * may be the buffer rest points into) is reused to read the remainder.
 * True: zeros to the end, the stream is done. False: err holds "byte
 * offset AT: garbage after the last gzip member" or a read error. */
bool kw_reader_gzip_padding(struct kw_reader_src *src, uint64_t at,
			    const unsigned char *rest, size_t n,
			    unsigned char *buf, size_t cap,
			    struct kw_error *err);

/* Close the descriptor and free src. NULL-safe. */
void kw_reader_src_close(struct kw_reader_src *src);

/* Each layer: new() returns its self (owning src from then on), or NULL when
 * out of memory (src is then still the caller's). */
extern const struct kw_reader_ops kw_reader_plain_ops;
void *kw_reader_plain_new(struct kw_reader_src *src);

extern const struct kw_reader_ops kw_reader_gzip_ops;
void *kw_reader_gzip_new(struct kw_reader_src *src);

#if KW_HAVE_ZSTD
extern const struct kw_reader_ops kw_reader_zstd_ops;
void *kw_reader_zstd_new(struct kw_reader_src *src);
#endif

#endif
