/*
 * tail.h - the tailer: follow the files that the config's inputs[].path
 * globs name, as they grow, rotate and get compressed, and hand whole lines
 * to a callback, each byte once.
 *
 * The one idea: a file is known by what it is, not where it is. Each
 * followed file is identified by device + inode and by a fingerprint (a
 * hash of its first bytes, up to KW_TAIL_FP_MAX of them, decoded for a
 * compressed file). A path that shows a known inode is the same file moved
 * (rename rotation); a new inode whose first bytes match a file already
 * read is a copy of it (copytruncate's copy, or `api.log.1.gz` made from
 * `api.log.1`) and is read from where that file was left, never from the
 * start; a file whose first bytes change under the same inode was
 * truncated (copytruncate) and starts again at 0. A file that left its
 * path is read to its end (through the descriptor still open) before it is
 * let go, and a copy of a file still being followed waits until that file
 * is let go, so two names of one content are never both read.
 *
 * Plain files are read with pread from the offset. A compressed one (gzip,
 * zstd, by magic bytes) keeps its decoder between reads and decodes only
 * what was added since (new members, or the rest of a member a writer is
 * still compressing), so a growing compressed file costs what its growth
 * costs; it is decoded from its start, skipping what was read, only when
 * first taken up (also after a restart), after a document was read whole,
 * and when it grows again after its decoder was let go (after 5 minutes
 * without growth, or to keep at most 64 decoders). A partial last line is not
 * read until its newline arrives (or the file is let go). New files are noticed
 * through inotify on the globs' directories, with a rescan on every poll
 * as the fallback for file systems without it (a glob with '**', whose tree
 * may be large, is walked again at most every 2 s). Files of known export
 * layouts that hold no logs (inputs.h, kw_inputs_not_data) are left out.
 */
#ifndef KW_INGEST_TAIL_H
#define KW_INGEST_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "ingest/reader.h"

#define KW_TAIL_FP_MAX 512
#define KW_TAIL_PATH_MAX 1024
#define KW_TAIL_FILES_MAX 1024	/* files followed at once */
#define KW_TAIL_RETIRED_MAX 256 /* files let go, remembered for copies */
/* Bytes read from one plain file per poll, about: past it the rest waits
 * for the next poll (which the caller makes at once when a poll fed
 * anything). */
#define KW_TAIL_POLL_MAX ((uint64_t)16 << 20)

/* Called with whole lines (buf ends with '\n', except for the last line
 * of a file that was let go); name is the file's path when it was taken
 * up, valid for the tailer's lifetime. */
typedef void kw_tail_feed_fn(void *ctx, const char *buf, size_t len,
			     const char *name);

/* Called with the rest of a compressed file that stopped growing for the
 * grace period and does not end with a whole line (a CloudTrail document,
 * which may be one line of many megabytes): read r to its end. r is
 * borrowed for the call. */
typedef void kw_tail_read_fn(void *ctx, struct kw_reader *r, const char *name);

struct kw_tail_opts {
	const char *const *globs; /* copied; pathglob.h patterns ('**') */
	size_t nglobs;
	size_t max_line; /* 0: 1 MiB */
	/* How long a file that left its path is still read after it last
	 * grew (a writer may not have reopened yet); 0: 1 s. */
	int64_t grace_us;
	/* Optional: documents in compressed files are read through it.
	 * Without it such a file's unfinished end is read as a last line
	 * when the file is let go, and a line longer than max_line in it is
	 * skipped. */
	kw_tail_read_fn *whole;
};

/* A file's place, for checkpoints. */
struct kw_tail_pos {
	uint64_t dev, ino;
	uint64_t offset; /* decoded bytes read, whole lines */
	uint32_t fplen;
	uint64_t fphash;
	char path[KW_TAIL_PATH_MAX];
};

/* What the metrics show per followed file. */
struct kw_tail_file_info {
	const char *path;
	bool compressed;
	uint64_t offset; /* decoded bytes read */
	uint64_t lag;	 /* bytes written but not read yet */
	int64_t lag_us;	 /* since the oldest unread write, 0 when none */
};

struct kw_tail_stats {
	uint64_t files;	       /* files followed now */
	uint64_t opened;       /* files taken up since start */
	uint64_t bytes;	       /* decoded bytes handed out */
	uint64_t rotations;    /* files that left their path */
	uint64_t truncations;  /* files cut back (copytruncate) */
	uint64_t copies;       /* copies recognised and resumed, not re-read */
	uint64_t too_long;     /* lines longer than max_line, skipped */
	uint64_t read_errors;  /* failed reads and damaged compressed data */
	uint64_t decompressed; /* bytes decoded from compressed files, also
				  those decoded again to be skipped */
};

struct kw_tail;

/* *out is owned by the caller (kw_tail_destroy). */
enum kw_status kw_tail_create(const struct kw_tail_opts *o,
			      struct kw_tail **out, struct kw_error *err);

/* Before the first poll: where an earlier run stopped. Each position is
 * matched on the first poll by inode and fingerprint (or by fingerprint
 * alone: the file was rotated or compressed meanwhile). */
enum kw_status kw_tail_restore(struct kw_tail *t, const struct kw_tail_pos *pos,
			       size_t n);

/* Rescan the globs and read what is new, oldest file first; feed gets
 * whole lines. Returns the bytes fed. now_us is a monotonic clock. */
uint64_t kw_tail_poll(struct kw_tail *t, int64_t now_us, kw_tail_feed_fn *feed,
		      void *ctx);

/* Read every file that left its path to its end (its last line even
 * without a newline) and let it go, without waiting for the grace period:
 * before the tailer is destroyed (exit, reload), as a deleted file cannot
 * be opened again. */
void kw_tail_finish(struct kw_tail *t, kw_tail_feed_fn *feed, void *ctx);

/* Wait up to timeout_ms for a change in a watched directory (or a
 * signal). Returns true when something changed. Without inotify it only
 * sleeps. */
bool kw_tail_wait(struct kw_tail *t, int timeout_ms);

/* The positions to checkpoint: every followed file and the files let go
 * recently (whose copies may still appear). *out is malloc'ed (the caller
 * frees it); KW_ENOMEM on failure. */
enum kw_status kw_tail_positions(struct kw_tail *t, struct kw_tail_pos **out,
				 size_t *n);

typedef void kw_tail_file_cb(void *ctx, const struct kw_tail_file_info *fi);
void kw_tail_foreach(struct kw_tail *t, int64_t now_us, kw_tail_file_cb *cb,
		     void *ctx);

const struct kw_tail_stats *kw_tail_stats(struct kw_tail *t);

/* NULL-safe. */
void kw_tail_destroy(struct kw_tail *t);

#endif
