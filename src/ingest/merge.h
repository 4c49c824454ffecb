/*
 * merge.h - several inputs read as one stream of records in event-time
 * order (scan of many files, or of an export tree).
 *
 * Where it sits. This is the stage boundary the pipeline is built around
 * (DESIGN.md's data flow; issue 12's threads sit behind it):
 *
 *   paths --> [ merge: readers + splitters + a peek at each record's time ]
 *         --> batches of records (struct kw_record), each tagged with its
 *             input, in event-time order
 *         --> decode (dispatch.h, per input's stream state) --> enrich -->
 *             key table --> detectors --> router
 *
 * The merge consumes paths and produces record batches. It owns the
 * readers and splitters and decodes nothing: a record's time comes from a
 * peek (json_peek.h) at the time fields the caller names, so the decoders,
 * and any threads they run on, stay behind it. A batch stays valid until
 * the next call (its records point into the inputs' splitter buffers): a
 * threaded caller hands a batch to its decode workers and calls again when
 * they are done with it, or copies the batch into a ring of its own. Per
 * open input the caller may keep state (user_size bytes, zeroed when the
 * input opens; the decoding stage's stream state), valid while records of
 * that input are in the current batch.
 *
 * How. Inputs are ordered by when they must be open: a CloudTrail file
 * (<account>_CloudTrail_<region>_<YYYYMMDD>T<HHMM>Z_<id>...) by the time in
 * its name less name_window (CloudTrail writes a file every few minutes,
 * holding the minutes before the time in its name); any other input by the
 * time of its first record, found by a peek that opens the file and reads
 * its first records (then closes it again); standard input, a FIFO, or a
 * file whose first records carry no time, first. An input is opened when
 * the merge reaches that time, and the records of the open inputs are
 * interleaved by a heap on each input's next record's time, with a look-ahead
 * of one batch per input. Records within an input are taken to be in about
 * the order of their time (the engine's lateness covers the rest); a record
 * whose time cannot be peeked keeps its place after the one before it.
 *
 * Memory is bounded by the inputs open at once: at most max_open (each a
 * reader, a splitter starting at KW_SPLITTER_SMALL bytes, one batch of
 * record pointers); when more inputs overlap in time than that, the later
 * ones wait for a slot, their records come late, and the count of such
 * inputs (kw_merge_stats.opened_late) says so.
 */
#ifndef KW_INGEST_MERGE_H
#define KW_INGEST_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/record.h"
#include "core/skips.h"
#include "core/status.h"

#define KW_MERGE_MAX_OPEN_DEFAULT 256
/* A CloudTrail file's records lie within this much before its name's
 * time (it is opened that much early). */
#define KW_MERGE_NAME_WINDOW_DEFAULT (INT64_C(75) * 60 * 1000000)

struct kw_merge_opts {
	size_t max_record; /* the splitter's bound; 0: its default */
	size_t max_open;   /* inputs open at once; 0: the default */
	/* Where a record's time is: the first of these top-level keys
	 * (NULL-terminated; "created", "eventTime", ...), or, when
	 * time_path is set, that dotted path; both under root when set
	 * (a field map's @root). Borrowed. */
	const char *const *time_names;
	const char *time_path;
	const char *root;
	int64_t name_window; /* 0: KW_MERGE_NAME_WINDOW_DEFAULT */
	size_t user_size;    /* caller's bytes per open input */
	/* Told of each input when it opens (name: the reader's name, valid
	 * while it is open; user: its zeroed state), and of each input that
	 * could not be opened or broke off (reason KW_SKIP_UNREADABLE or
	 * KW_SKIP_CORRUPT; msg names it). Both required. */
	void (*opened)(void *ctx, uint32_t input, const char *name, void *user);
	void (*failed)(void *ctx, enum kw_skip_reason reason, const char *msg);
	void *ctx;
};

struct kw_merge_stats {
	uint64_t inputs;      /* paths given */
	uint64_t peeked;      /* inputs opened ahead for their first time */
	uint64_t opened;      /* inputs opened to be read */
	uint64_t most_open;   /* inputs open at once, at most */
	uint64_t opened_late; /* opened after records later than their first
				 one had gone out (max_open was reached) */
};

struct kw_merge;

/* paths[0..n) are copied. *out is owned by the caller (kw_merge_destroy).
 * Peeks happen here. KW_ENOMEM with err set. */
enum kw_status kw_merge_create(const char *const *paths, size_t n,
			       const struct kw_merge_opts *o,
			       struct kw_merge **out, struct kw_error *err);

/* Fill recs[0..max) and input[0..max) (the index into paths of each
 * record's input) with the next records in time order; *n == 0 is the
 * end. Records are valid until the next call. Damage inside an input is
 * counted in skips (and reported through failed when the input breaks
 * off). */
void kw_merge_next(struct kw_merge *m, struct kw_record *recs, uint32_t *input,
		   size_t max, size_t *n, struct kw_skips *skips);

/* The state and the name (the reader's: as the user wrote the path) of an
 * input that has records in the current batch. */
void *kw_merge_user(struct kw_merge *m, uint32_t input);
const char *kw_merge_name(const struct kw_merge *m, uint32_t input);

const struct kw_merge_stats *kw_merge_stats(const struct kw_merge *m);

/* The time in a CloudTrail file name
 * ("111122223333_CloudTrail_us-east-1_20261127T0805Z_x.json.gz"); false
 * when the name is not one. */
bool kw_merge_name_time(const char *path, int64_t *ts_us);

/* NULL-safe. */
void kw_merge_destroy(struct kw_merge *m);

#endif
