/*
 * splitter.h - cut a byte stream into records.
 *
 * Most logs are one JSON object per line (JSONL): each line is a record.
 * Some are documents: CloudTrail's {"Records":[ ... ]} (as AWS delivers it,
 * often all on one line of many megabytes) and JSON arrays of records,
 * pretty-printed over many lines. The splitter looks at the first bytes of
 * the stream to tell which shape it has, and for documents streams out each
 * element of the array as one record (with the line it starts on), so a
 * document is never held in memory whole.
 *
 * A record longer than max_record bytes is counted (KW_SKIP_TOO_LONG) and
 * skipped whole: never cut into a bogus event. Blank lines are ignored.
 */
#ifndef KW_INGEST_SPLITTER_H
#define KW_INGEST_SPLITTER_H

#include <stddef.h>

#include "core/record.h"
#include "core/skips.h"
#include "core/status.h"
#include "ingest/reader.h"

#define KW_MAX_RECORD_DEFAULT ((size_t)1 << 20)

enum kw_shape {
	KW_SHAPE_UNKNOWN = 0, /* nothing read yet, or an empty stream */
	KW_SHAPE_LINES,	      /* JSONL */
	KW_SHAPE_ARRAY,	      /* [ {...}, {...} ] */
	KW_SHAPE_RECORDS,     /* {"Records": [ {...}, ... ]} */
};

struct kw_splitter;

/* The splitter borrows r (the caller closes it after the splitter) and name
 * (used in skip messages; must outlive the splitter). max_record 0 means
 * KW_MAX_RECORD_DEFAULT. */
enum kw_status kw_splitter_create(struct kw_reader *r, const char *name,
				  size_t max_record, struct kw_splitter **out);

/* Fill recs[0..max) and set *n. The records point into the splitter's buffer
 * and stay valid until the next call. *n == 0 with KW_OK is the end.
 * When the reader reports damage, the records before it are returned first
 * (KW_OK); the next call returns the reader's error with err set, and every
 * call after that returns *n == 0 with KW_OK. A structural error in a
 * document (an array that does not close) is KW_EINVAL with err naming the
 * line. Skipped records are counted in skips. */
enum kw_status kw_splitter_next(struct kw_splitter *s, struct kw_record *recs,
				size_t max, size_t *n, struct kw_skips *skips,
				struct kw_error *err);

/* The shape detected from the first bytes (KW_SHAPE_UNKNOWN before the
 * first call to next). */
enum kw_shape kw_splitter_shape(const struct kw_splitter *s);

/* NULL-safe. */
void kw_splitter_destroy(struct kw_splitter *s);

#endif
