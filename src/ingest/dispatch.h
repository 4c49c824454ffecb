/*
 * dispatch.h - the decoding stage: a batch of records in, events out, each
 * record recognised on its own.
 *
 * Per record, in this order:
 *   1. framing, by where the splitter found it (record.h): an element of a
 *      CloudWatch Logs subscription payload's "logEvents" is its "message"
 *      (control messages are counted as KW_SKIP_NOT_DATA); a text line
 *      "<RFC 3339 time> {json}" (a CloudWatch Logs export) is its JSON;
 *   2. the envelope: with a field map's "@root=PATH" the record is the
 *      object at PATH; otherwise an Amazon EventBridge event ("detail-type"
 *      and an object "detail") whose detail is a record of a known format
 *      is that detail;
 *   3. the decoder: --format's, or the one that recognised the input's
 *      last record. A decoder that meets a record not in its format
 *      (decoder.h, kw_decode_offer) hands it back; it is recognised again
 *      (kw_decoder_sniff) and decoded by the decoder it belongs to, which
 *      counts it as damage when it is no good record of its format
 *      either (a record no decoder claims goes to the default, keywatch). So a
 * CloudTrail record inside a JSONL request log is decoded as CloudTrail, and a
 *      request log line after a CloudTrail document is read as a request,
 *      whatever the first record was.
 * Nothing is decided for a whole input from its first record: the first
 * record only chooses which decoder is tried first.
 *
 * Events offered back and decoded again come after the batch's others;
 * within an input the order is otherwise kept.
 */
#ifndef KW_INGEST_DISPATCH_H
#define KW_INGEST_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/event.h"
#include "core/record.h"
#include "core/skips.h"
#include "core/status.h"
#include "ingest/decoder.h"

/* The most records in one call. */
#define KW_DISPATCH_BATCH 1024

/* What one input is decoded with and what was recognised in it so far.
 * Plain data, initialised with kw_dispatch_stream_init; one per input. */
struct kw_dispatch_stream {
	const struct kw_decoder_ops *forced; /* --format; NULL: recognise */
	const struct kw_decoder_conf *conf;  /* field map; borrowed */
	const char *root;		     /* "@root" of the map, or NULL */
	const struct kw_decoder_ops *cur;    /* the last record's decoder */
	int envelope;			     /* the last record's envelope */
};

/* forced NULL: recognise each record. conf is borrowed and must outlive
 * the stream's use; NULL is an empty map. */
void kw_dispatch_stream_init(struct kw_dispatch_stream *st,
			     const struct kw_decoder_ops *forced,
			     const struct kw_decoder_conf *conf);

struct kw_dispatch;

/* *out is owned by the caller (kw_dispatch_destroy). */
enum kw_status kw_dispatch_create(struct kw_dispatch **out,
				  struct kw_error *err);

/* Decode recs[0..n) (n <= KW_DISPATCH_BATCH) of the input file into
 * out[] (room for n events); returns how many events were written.
 * Strings in the events point into the records or into arena, which the
 * caller resets between batches. Problems are counted in skips. */
size_t kw_dispatch_decode(struct kw_dispatch *d, struct kw_dispatch_stream *st,
			  const struct kw_record *recs, size_t n,
			  struct kw_event *out, struct kw_arena *arena,
			  struct kw_skips *skips, const char *file);

/* Bit i set: the i-th decoder of kw_decoder_all() decoded some event. */
uint32_t kw_dispatch_formats(const struct kw_dispatch *d);
/* The same, then forgotten: the formats decoded since the last take
 * (a threaded caller sums each batch's in the batches' order). */
uint32_t kw_dispatch_take_formats(struct kw_dispatch *d);

/* NULL-safe. */
void kw_dispatch_destroy(struct kw_dispatch *d);

#endif
