/*
 * splitter.h - cut a byte stream into records.
 *
 * A stream is read as a sequence of lines and JSON texts, and what each
 * piece is gets decided where it starts, never once for the whole stream:
 *
 *   - a line that is one JSON object ('{' ... '}') is a record (JSONL, the
 *     hot path: no byte of it is looked at twice);
 *   - a JSON object or array that does not end on the line it starts on
 *     (pretty-printed), or several objects on one line (concatenated gzip
 *     members without a newline between them), is followed through its
 *     structure: an object is one record; an array's elements are records;
 *     an object with a "Records" array (CloudTrail) or a "logEvents" array
 *     (a CloudWatch Logs subscription payload), wherever that key is among
 *     the object's keys, is a document: each element of that array is a
 *     record and the document itself is not. A document is streamed, never
 *     held whole in memory;
 *   - any other line is a record of kind KW_REC_TEXT (the decoding stage
 *     recognises "<timestamp> {json}" lines; anything else is damage).
 *
 * Damage never swallows its neighbours. When a JSON text breaks (a byte
 * that cannot come where it is, a line that ends inside a string, a text
 * left open at the end of the stream), what was read of it is reported and
 * the stream is read again line by line from the line after the one the
 * text started on: a file whose first line starts with '[' or
 * '{"Records":' but is no such document loses only that line. The part of
 * the broken text up to where it broke is handed out as a record (the
 * decoder reports why it is not JSON, with the column); a break in a
 * document's own structure, between its elements, is counted here
 * (KW_SKIP_BAD_JSON, "FILE:LINE: ...").
 *
 * A record longer than max_record bytes is counted (KW_SKIP_TOO_LONG) and
 * skipped whole, never cut into a bogus event; blank lines and white space
 * between texts are ignored, however long. Memory: one buffer per
 * splitter, at most max_record + 1 + 512 KiB.
 */
#ifndef KW_INGEST_SPLITTER_H
#define KW_INGEST_SPLITTER_H

#include <stddef.h>

#include "core/record.h"
#include "core/skips.h"
#include "core/status.h"
#include "ingest/json_scan.h"
#include "ingest/reader.h"

#define KW_MAX_RECORD_DEFAULT ((size_t)1 << 20)

struct kw_splitter;

/* The splitter borrows r (the caller closes it after the splitter) and name
 * (used in skip messages; must outlive the splitter). max_record 0 means
 * KW_MAX_RECORD_DEFAULT. initial is the buffer's first size: 0 is its
 * largest (the fastest for one big input: decompressors write into it in
 * large reads); a small one (KW_SPLITTER_SMALL) suits many inputs open at
 * once. */
#define KW_SPLITTER_SMALL ((size_t)64 * 1024)
enum kw_status kw_splitter_create(struct kw_reader *r, const char *name,
				  size_t max_record, size_t initial,
				  struct kw_splitter **out);

/* Fill recs[0..max) and set *n. The records point into the splitter's buffer
 * and stay valid until the next call. *n == 0 with KW_OK is the end.
 * When the reader reports damage, the records before it are returned first
 * (KW_OK); the next call returns the reader's error with err set, and every
 * call after that returns *n == 0 with KW_OK. Damage in the text itself is
 * counted in skips and the stream goes on. */
enum kw_status kw_splitter_next(struct kw_splitter *s, struct kw_record *recs,
				size_t max, size_t *n, struct kw_skips *skips,
				struct kw_error *err);

/* Keeping records: from this call on, no byte the splitter has handed out
 * is moved or freed by it, so the records of every call stay valid until
 * their holder lets their buffer go (a pipeline's batches then need no copy
 * of their bytes). Each buffer is swap's: the splitter's own first buffer
 * goes to swap at once (old, with its size old_cap), and whenever a read
 * no longer fits in the buffer, the splitter asks swap for another of at
 * least want bytes (its size in *cap) in exchange for the one it is done
 * with, and goes on there with the bytes it still needs. The records of a
 * call are all in the buffer the splitter holds when the call returns
 * (kw_splitter_held). swap returns NULL when it has no memory: the read
 * that needed the buffer fails as out of memory (KW_ENOMEM from keep). The
 * buffers are swap's: destroy frees none. */
typedef char *kw_splitter_swap_fn(void *ctx, char *old, size_t old_cap,
				  size_t want, size_t *cap);
enum kw_status kw_splitter_keep(struct kw_splitter *s,
				kw_splitter_swap_fn *swap, void *ctx);

/* The buffer the splitter reads into now. */
const char *kw_splitter_held(const struct kw_splitter *s);

/* Bytes of buffer the splitter holds now (it grows on demand). */
size_t kw_splitter_buffer(const struct kw_splitter *s);

/* For the tests, which run every width this machine has: the step of the
 * pass that finds a line's end (and a '[' before it) from now on:
 * KW_JSON_STEP_8 two memchr, _16 SSE2, _32 AVX2 (64 bytes a step both),
 * _BEST the widest, which kw_splitter_create picks. False, nothing
 * changed, when this build or CPU lacks it. */
bool kw_splitter_set_step(struct kw_splitter *s, enum kw_json_step step);

/* NULL-safe. */
void kw_splitter_destroy(struct kw_splitter *s);

#endif
