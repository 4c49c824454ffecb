/*
 * delivery.h - between the router and one sink: a bounded queue, a
 * delivery thread, retries with exponential backoff and jitter (Retry-After
 * honoured), an on-disk spool that makes every queued alert survive an
 * outage, a restart or a kill -9, and a dead-letter file for alerts the
 * sink rejects for good.
 *
 * The one idea: the spool is a write-ahead log. An alert is appended to it
 * (and fsynced) before submit returns, and a "done" record is appended once
 * the sink took it or rejected it for good. The thread works strictly in
 * order, so what is pending after a crash is every alert past the last done
 * record; replaying it is reading the file once. An alert can be delivered
 * twice only when the process dies between the sink's OK and the done
 * record (receivers deduplicate by the alert id); it is never lost.
 */
#ifndef KW_ALERT_DELIVERY_H
#define KW_ALERT_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/alert.h"
#include "core/status.h"
#include "sink/sink.h"

#define KW_DELIVERY_PATH_MAX 1024

struct kw_delivery_opts {
	const char *spool_dir; /* NULL: no spool (memory only) */
	size_t spool_max;      /* bytes one spool file may grow to */
	size_t queue_max;      /* alerts held in memory */
	int64_t retry_min_ms;  /* first backoff */
	int64_t retry_max_ms;  /* backoff cap */
	bool keep_sigpipe;     /* stdout: a closed pipe ends keywatch as usual;
				* other sinks' threads block SIGPIPE */
	/* Gated: what is submitted is spooled at once but delivered only
	 * after kw_delivery_release (the router releases once the daemon's
	 * journal has the alert, so no sink ever has an alert the journal
	 * lacks). Not gated: delivered as soon as submitted. */
	bool gated;
	/* Wait for room: when the memory queue is full and the alert cannot
	 * wait in the spool, kw_delivery_submit waits until the thread has
	 * delivered one, as long as the sink is delivering (not backing off
	 * after a RETRY: then the alert is dropped, counted and logged, so
	 * that a sink stuck on a full disk never stalls the caller). For
	 * local sinks (sink.h) and not with gated, whose release comes from
	 * the caller itself. */
	bool wait_for_room;
	/* Batched: the thread is woken when KW_DELIVERY_BATCH alerts wait,
	 * or at kw_delivery_kick (the router's tick, after each batch of
	 * events), not for each alert: a flood of alerts costs a wake per
	 * batch, and the sink's flush (when the queue runs dry) with it. */
	bool batched;
	/* Optional: told of each alert the spool held at start (it passed
	 * the router in an earlier run): its id and event time. */
	void (*replayed)(void *ctx, const char *id, int64_t time);
	void *replayed_ctx;
};

#define KW_DELIVERY_SPOOL_MAX ((size_t)64 << 20)
#define KW_DELIVERY_QUEUE_MAX ((size_t)1024)
#define KW_DELIVERY_BATCH ((size_t)64)
#define KW_DELIVERY_RETRY_MIN_MS 1000
#define KW_DELIVERY_RETRY_MAX_MS 300000

struct kw_delivery_stats {
	uint64_t delivered; /* the sink answered OK */
	uint64_t retries;   /* RETRY answers */
	uint64_t dead;	    /* FAIL answers: in the dead-letter file */
	uint64_t dropped;   /* neither spooled nor queued (bounds hit) */
	uint64_t oom;	    /* of those, dropped because memory ran out */
	uint64_t replayed;  /* pending in the spool at start */
	size_t pending;	    /* not yet delivered */
	char spool[KW_DELIVERY_PATH_MAX]; /* "" when none */
	char dead_path[KW_DELIVERY_PATH_MAX];
};

struct kw_delivery;

/* Start delivering to sink (borrowed; it must outlive the delivery).
 * name is the spool file's stem (the sink's identity, "pager" or
 * "webhook-3f2a9c01b2d4"). With a spool
 * directory, the spool is opened (created 0600, the directory 0700) and
 * what it holds is queued first. *out is owned by the caller
 * (kw_delivery_destroy). */
enum kw_status kw_delivery_start(struct kw_sink *sink, const char *name,
				 const struct kw_delivery_opts *o,
				 struct kw_delivery **out,
				 struct kw_error *err);

/* Queue one alert (copied: deeply, or flat for a flat sink, sink.h).
 * Never blocks on the sink. */
void kw_delivery_submit(struct kw_delivery *d, const struct kw_alert *a,
			const char *json, size_t len);

/* Wake the thread for what was queued since the last wake (batched). */
void kw_delivery_kick(struct kw_delivery *d);

/* Let everything submitted so far be delivered (gated deliveries). */
void kw_delivery_release(struct kw_delivery *d);

/* Wait until everything is delivered or until timeout_ms has passed, then
 * stop the thread (an attempt in flight finishes first) and flush the
 * sink. Idempotent. */
void kw_delivery_stop(struct kw_delivery *d, int64_t timeout_ms);

/* A snapshot (thread-safe). */
void kw_delivery_stats(struct kw_delivery *d, struct kw_delivery_stats *out);

/* Stops without waiting (what is pending stays in the spool). NULL-safe. */
void kw_delivery_destroy(struct kw_delivery *d);

/* --- spools in their directory (for the router's start) --------------- */

/* The stems of the spools in dir ("<stem>.spool.jsonl"): *stems is a
 * malloc'ed array of malloc'ed strings (kw_delivery_spools_free). A
 * missing dir has none. */
enum kw_status kw_delivery_spools(const char *dir, char ***stems, size_t *n,
				  struct kw_error *err);
void kw_delivery_spools_free(char **stems, size_t n);

/* How many alerts wait in dir's spool of stem (0 when it has none); -1
 * with err when it cannot be read. */
int64_t kw_delivery_spool_pending(const char *dir, const char *stem,
				  struct kw_error *err);

/* Give the spool of stem `from` (and its dead letters, unless `to` has
 * some) the stem `to`: under from's lock (a keywatch that holds it keeps
 * it: KW_EIO), and only when to's spool holds no alert (KW_EINVAL). */
enum kw_status kw_delivery_spool_rename(const char *dir, const char *from,
					const char *to, struct kw_error *err);

/* Rebuild an alert (or an incident message) from its JSON (doc/alerts.md):
 * kw_alert_from_object over the parsed text. */
enum kw_status kw_delivery_alert_from_json(const char *json, size_t len,
					   struct kw_alert *a,
					   char *detector_buf, size_t cap);

#endif
