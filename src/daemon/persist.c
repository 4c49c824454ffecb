/*
 * persist.c - what the daemon keeps across restarts, in state_dir: the
 * checkpoint (each followed file's identity and offset, the ids of recent
 * alerts), the learned state (--state's format) and the alert journal.
 *
 * The one idea: an alert is journalled the moment the router passed it
 * (after the delivery spools have it, before any sink may deliver it: the
 * router holds the deliveries until kw_daemon_journal returns, and an
 * alert a spool still holds at start is journalled again as it is
 * replayed), and the checkpoint's offsets are
 * never ahead of what the engine analysed, so a restart after kill -9
 * re-reads at most what came after the last checkpoint and drops every
 * alert that re-reading raises again (same id, same event time). The
 * router's memory (its dedup table and rate-limit windows) is saved with
 * the learned state, and the journal's alerts are noted in it on resume,
 * so the same alert raised later within its dedup window is not
 * delivered again either.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "daemon/daemon_impl.h"

enum kw_status kw_daemon_paths(struct kw_daemon *d)
{
	const char *dir = d->conf.cfg->state_dir;

	if (d->opts.state)
		snprintf(d->state_path, sizeof(d->state_path), "%s",
			 d->opts.state);
	if (!dir)
		return KW_OK;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		kw_log_error(NULL, "state_dir %s: cannot create: %s", dir,
			     strerror(errno));
		return KW_EIO;
	}
	if (!d->state_path[0])
		snprintf(d->state_path, sizeof(d->state_path),
			 "%s/learned.state", dir);
	snprintf(d->ckpt_path, sizeof(d->ckpt_path), "%s/checkpoint", dir);
	snprintf(d->journal_path, sizeof(d->journal_path), "%s/alerts.journal",
		 dir);
	return KW_OK;
}

/* A checkpoint holds every position the tailer gives: what it follows and
 * what it remembers after letting go. */
_Static_assert(KW_TAIL_FILES_MAX + KW_TAIL_RETIRED_MAX <=
		       KW_CHECKPOINT_FILES_MAX,
	       "a checkpoint must hold every position of the tailer");

/* ------------------------------------------------------ engine hooks */

bool kw_daemon_admit(void *ctx, const char *id, int64_t time, uint64_t stream)
{
	struct kw_daemon *d = ctx;

	d->routing_stream = stream;
	if (!kw_checkpoint_has_alert(&d->ckpt, id, time))
		return true;
	d->routing_stream = 0;
	kw_metrics_repeat(d->metrics);
	kw_log_debug("watch", "%s: raised before the restart; not again", id);
	return false;
}

void kw_daemon_passed(void *ctx, const char *id, int64_t time,
		      const char *detector, enum kw_severity sev)
{
	struct kw_daemon *d = ctx;

	(void)id;
	(void)time;
	d->routing_stream = 0; /* journalled by now */
	kw_metrics_alert(d->metrics, detector, sev);
}

void kw_daemon_journal(void *ctx, const char *id, int64_t time)
{
	struct kw_daemon *d = ctx;

	kw_checkpoint_add_alert(&d->ckpt, id, time);
	kw_checkpoint_journal_append(d->journal, id, time);
	kw_router_memory_note(d->conf.router, id, time);
	/* A Kafka partition's alert goes to its changelog too, so that
	 * whichever instance owns the partition next drops its repeats. */
	if (d->routing_stream)
		kw_daemon_kafka_journal(d->kafka, d->routing_stream, id, time);
	d->routing_stream = 0;
}

/* -------------------------------------------------------- checkpoints */

bool kw_daemon_checkpoint(struct kw_daemon *d)
{
	struct kw_tail_pos *pos = NULL;
	struct kw_error err;
	size_t n = 0;

	kw_error_clear(&err);
	if (d->state_path[0] &&
	    kw_engine_save_state(d->engine, d->state_path, &err) != KW_OK) {
		kw_log_error("watch", "checkpoint: %s", err.msg);
		return false;
	}
	/* What the Kafka inputs fed is in the state just saved. */
	kw_daemon_kafka_commit(d->kafka, false);
	if (!d->ckpt_path[0])
		return true; /* --state without a state_dir: learned state only
			      */
	if (kw_tail_positions(d->tail, &pos, &n) != KW_OK) {
		kw_log_error("watch", "checkpoint: out of memory");
		return false;
	}
	kw_checkpoint_clear_files(&d->ckpt);
	for (size_t i = 0; i < n; i++) {
		struct kw_checkpoint_file f = {
			.dev = pos[i].dev,
			.ino = pos[i].ino,
			.offset = pos[i].offset,
			.fplen = pos[i].fplen,
			.fphash = pos[i].fphash,
		};

		snprintf(f.path, sizeof(f.path), "%s", pos[i].path);
		if (kw_checkpoint_add_file(&d->ckpt, &f) != KW_OK) {
			/* Saved without a file, the checkpoint would send
			 * that file's position back to its start. */
			kw_log_error("watch", "checkpoint: out of memory; the "
					      "last one stays");
			free(pos);
			return false;
		}
	}
	free(pos);
	if (kw_checkpoint_save(d->ckpt_path, &d->ckpt, &err) != KW_OK) {
		kw_log_error("watch", "checkpoint: %s", err.msg);
		return false;
	}
	kw_checkpoint_journal_reset(d->journal);
	kw_metrics_checkpoint(d->metrics);
	return true;
}

/* Where the last run stopped: offsets into the tailer, recent alerts
 * (the checkpoint's and the journal's) into the ring. */
static enum kw_status load(struct kw_daemon *d)
{
	struct kw_tail_pos *pos = NULL;
	struct kw_error err;
	bool found = false;
	enum kw_status st;

	kw_error_clear(&err);
	st = kw_checkpoint_load(d->ckpt_path, &d->ckpt, &found, &err);
	if (st == KW_OK)
		st = kw_checkpoint_journal_load(d->journal_path, &d->ckpt,
						&err);
	if (st != KW_OK) {
		kw_log_error(NULL, "%s", err.msg);
		goto cleanup;
	}
	st = KW_ENOMEM;
	pos = calloc(d->ckpt.nfiles + 1, sizeof(*pos));
	if (!pos) {
		kw_log_error(NULL, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < d->ckpt.nfiles; i++) {
		const struct kw_checkpoint_file *f = &d->ckpt.files[i];

		pos[i].dev = f->dev;
		pos[i].ino = f->ino;
		pos[i].offset = f->offset;
		pos[i].fplen = f->fplen;
		pos[i].fphash = f->fphash;
		snprintf(pos[i].path, sizeof(pos[i].path), "%s", f->path);
	}
	st = kw_tail_restore(d->tail, pos, d->ckpt.nfiles);
	if (st != KW_OK) {
		kw_log_error(NULL, "%s: %s", d->ckpt_path, kw_strerror(st));
		goto cleanup;
	}
	/* The alerts journalled since the last checkpoint went out after
	 * the router's memory in the state file was saved (a kill -9): the
	 * router learns them now, so repeats within the dedup window stay
	 * folded (noting those of the checkpoint again changes nothing). */
	for (size_t i = 0; i < d->ckpt.nalerts; i++)
		kw_router_memory_note(d->conf.router, d->ckpt.alerts[i].id,
				      d->ckpt.alerts[i].time);
	if (found)
		kw_log_info("watch",
			    "resuming: %zu files, %zu recent alerts from %s",
			    d->ckpt.nfiles, d->ckpt.nalerts, d->ckpt_path);
cleanup:
	free(pos);
	return st;
}

enum kw_status kw_daemon_resume(struct kw_daemon *d)
{
	struct kw_error err;
	enum kw_status st;

	if (!d->ckpt_path[0])
		return KW_OK;
	st = load(d);
	if (st != KW_OK)
		return st;
	kw_error_clear(&err);
	d->journal = kw_checkpoint_journal_open(d->journal_path, &err);
	if (d->journal < 0) {
		kw_log_error(NULL, "%s", err.msg);
		return KW_EIO;
	}
	return KW_OK;
}
