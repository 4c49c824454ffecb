/*
 * reader.h - byte sources. A reader hands out the decoded bytes of one input
 * (a file, standard input), with decompression stacked on top when the first
 * bytes carry a gzip or zstd magic number. Compression is recognised by
 * magic bytes, never by file name.
 *
 * Damage (a bad CRC, garbage after the last gzip member, a cut stream) is
 * reported by read() as KW_ECORRUPT with a message naming the input and the
 * byte offset in the *compressed* input where it was found. The bytes
 * returned before the error are delivered first and kept by the caller:
 * for a cut stream, garbage after the end, or a bad CRC/length they are
 * exactly the stream's content; for deflate or zstd data damaged in the
 * middle of a member or frame, the bytes decoded between the damage and
 * its detection may be wrong (nothing checks them before the member's CRC),
 * and the decoder then rejects the records they form.
 *
 * The tailer (watch) reuses these readers on growing files; it needs
 * `offset` to checkpoint where it is.
 */
#ifndef KW_INGEST_READER_H
#define KW_INGEST_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

struct kw_reader_ops {
	const char *name; /* "plain", "gzip", "zstd": shown in messages */

	/* Required. Put up to cap decoded bytes into buf and set *got. *got ==
	 * 0 with KW_OK means the end of the stream. On damage: KW_ECORRUPT (or
	 * KW_EIO for a failed read) with err set to "byte offset N: what";
	 * the caller adds the input name. After an error, read() keeps
	 * returning the same error. */
	enum kw_status (*read)(void *self, void *buf, size_t cap, size_t *got,
			       struct kw_error *err);

	/* Required. Bytes of the underlying (compressed) input consumed. */
	uint64_t (*offset)(void *self);

	/* Required. Free self and close what it owns. */
	void (*destroy)(void *self);

	/* Optional: kw_reader_fill_hint. */
	void (*fill_hint)(void *self, size_t bytes);
};

struct kw_reader_src;

struct kw_reader {
	const struct kw_reader_ops *ops;
	void *self;
	char *name; /* the input's name as the user wrote it; "-" is "<stdin>"
		     */
	struct kw_reader_src *src; /* private: the raw source (the layer's),
				      NULL for a reader made elsewhere */
};

/* Open path ("-" for standard input) and stack the decompressor its magic
 * bytes call for. On success *out is owned by the caller (kw_reader_close).
 * On failure *out is NULL and err names the path and the reason. */
enum kw_status kw_reader_open(const char *path, struct kw_reader **out,
			      struct kw_error *err);

/* Same, over an already open file descriptor, which the reader takes over. */
enum kw_status kw_reader_open_fd(int fd, const char *name,
				 struct kw_reader **out, struct kw_error *err);

/* Same, over len bytes in memory (a Kafka message), borrowed until the
 * reader is closed; name is copied. */
enum kw_status kw_reader_open_mem(const void *buf, size_t len, const char *name,
				  struct kw_reader **out, struct kw_error *err);

/* Read through the stack; err messages are prefixed with the input name. */
enum kw_status kw_reader_read(struct kw_reader *r, void *buf, size_t cap,
			      size_t *got, struct kw_error *err);

/* Follow a growing file (the tailer, on a compressed one). With on, the
 * end of the file is "nothing more yet", not the end of the stream: read()
 * returns KW_OK with *got == 0 there, keeps the decoder's state, and a
 * later call decodes on from where it stopped once the file has grown, so
 * nothing is decoded twice; a member or frame cut by the end of the file
 * is not damage then. With on false again the end is the end (a cut
 * stream is reported as usual). A following reader reads its file with
 * pread at its own position, so other users of the descriptor do not move
 * it. No effect on a reader without a source. */
void kw_reader_follow(struct kw_reader *r, bool on);

/* Whether the decoded stream is at a clean end so far: between gzip
 * members or zstd frames, or anywhere in a plain file (false inside a
 * member or frame, or before the first one). */
bool kw_reader_at_end(const struct kw_reader *r);

/* Its user reads at most `bytes` a time, usually a little less. A layer
 * that decompresses ahead in pieces of its own size (ISA-L's gzip) keeps
 * them under that, so that they go straight into the user's buffer rather
 * than through its own. Changes no byte of an undamaged stream (of a
 * damaged one, how much before the damage is kept); call it before the
 * first read, as the pieces must be the same all along. */
void kw_reader_fill_hint(struct kw_reader *r, size_t bytes);

/* NULL-safe. */
void kw_reader_close(struct kw_reader *r);

#endif
