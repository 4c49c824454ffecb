/*
 * checkpoint.h - where `keywatch watch` is, on disk: per followed file its
 * identity (device, inode, a hash of its first bytes) and how many decoded
 * bytes were read, plus the ids of alerts raised recently, so that a
 * restart resumes where the last run stopped and does not raise an alert a
 * second time.
 *
 * The one idea: two files. The checkpoint (state_dir/checkpoint) is
 * rewritten whole, atomically (a temporary file, fsync, rename), every few
 * seconds and at exit; the journal (state_dir/alerts.journal) gets one
 * line per alert the moment the router passed it, so an alert raised after
 * the last checkpoint is still known after a kill -9. Saving a checkpoint
 * folds the journal into it and empties the journal.
 *
 * Checkpoint file (text, one record a line):
 *   keywatch-checkpoint 1
 *   file DEV INO OFFSET FPLEN FPHASH PATH
 *   alert ID TIME
 *   end
 * A file without the final "end" line is damaged and refused, and so is
 * one with a value out of its range (more than KW_CHECKPOINT_FILES_MAX
 * files, an offset past what a file can have, a fingerprint longer than
 * the tailer takes, an alert id that is not one, a time outside event
 * time's range): an error naming the file and the line, never a guess.
 * Paths are the only strings; no record holds log content or a key. Both
 * files are written through core/file.h (never through a planted link,
 * mode 0600).
 */
#ifndef KW_STATE_CHECKPOINT_H
#define KW_STATE_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/alert.h"
#include "core/status.h"

#define KW_CHECKPOINT_PATH_MAX 1024
#define KW_CHECKPOINT_ALERTS_MAX 8192 /* recent alert ids kept */
/* File records a checkpoint may hold: at least what the tailer follows at
 * once and remembers after letting go (ingest/tail.h, checked where the
 * two meet); a file with more is damaged, so a crafted checkpoint cannot
 * make watch allocate more than this many records. */
#define KW_CHECKPOINT_FILES_MAX 2048
#define KW_CHECKPOINT_FP_MAX 512 /* bytes a fingerprint covers, at most */

struct kw_checkpoint_file {
	uint64_t dev, ino;
	uint64_t offset; /* decoded bytes read (whole lines) */
	uint32_t fplen;	 /* bytes the fingerprint covers */
	uint64_t fphash; /* the tailer's hash of the first fplen bytes */
	char path[KW_CHECKPOINT_PATH_MAX];
};

struct kw_checkpoint_alert {
	char id[KW_ALERT_ID_LEN + 1];
	int64_t time; /* event time, microseconds */
};

struct kw_checkpoint {
	struct kw_checkpoint_file *files;
	size_t nfiles, capfiles;
	/* A ring of the most recent alerts: the oldest is overwritten past
	 * KW_CHECKPOINT_ALERTS_MAX. */
	struct kw_checkpoint_alert *alerts;
	size_t nalerts, next;
};

/* Add a file record (copied). KW_ENOMEM on failure, KW_ETOOBIG past
 * KW_CHECKPOINT_FILES_MAX. */
enum kw_status kw_checkpoint_add_file(struct kw_checkpoint *c,
				      const struct kw_checkpoint_file *f);

/* Remember an alert; false when out of memory. */
bool kw_checkpoint_add_alert(struct kw_checkpoint *c, const char *id,
			     int64_t time);

/* Whether the alert (same id and time) is remembered. Linear in the ring:
 * called once per alert raised, which is rare. */
bool kw_checkpoint_has_alert(const struct kw_checkpoint *c, const char *id,
			     int64_t time);

/* Drop the file records (the alert ring stays). */
void kw_checkpoint_clear_files(struct kw_checkpoint *c);

/* Write c to path atomically (path.tmp, fsync, rename, fsync of the
 * directory). Errors name the path. */
enum kw_status kw_checkpoint_save(const char *path,
				  const struct kw_checkpoint *c,
				  struct kw_error *err);

/* Load path into c (which must be empty). A missing file sets *found to
 * false and is KW_OK; a damaged one is KW_ECORRUPT naming the path and the
 * line. */
enum kw_status kw_checkpoint_load(const char *path, struct kw_checkpoint *c,
				  bool *found, struct kw_error *err);

/* The same from an open stream (a file, or fmemopen() of a buffer); path
 * names it in messages. */
enum kw_status kw_checkpoint_read(FILE *f, const char *path,
				  struct kw_checkpoint *c,
				  struct kw_error *err);

/* Free what c holds and leave it empty. NULL-safe, may be called twice. */
void kw_checkpoint_free(struct kw_checkpoint *c);

/* The journal: open (create, append) path; -1 with err on failure. */
int kw_checkpoint_journal_open(const char *path, struct kw_error *err);
/* Append "alert ID TIME\n" in one write (survives a kill -9 of the
 * process; not fsynced). */
void kw_checkpoint_journal_append(int fd, const char *id, int64_t time);
/* Read the journal's alerts into c (a missing journal is fine; a torn
 * last line is ignored; any other line that does not read is KW_ECORRUPT
 * naming the file and line). */
enum kw_status kw_checkpoint_journal_load(const char *path,
					  struct kw_checkpoint *c,
					  struct kw_error *err);
/* Empty the journal (after a checkpoint that holds its alerts). */
void kw_checkpoint_journal_reset(int fd);

#endif
