/*
 * router.h - from detectors to sinks: drop duplicates (the same alert id
 * within the dedup window, in event time), apply the config's suppressions
 * (detector, key glob over the redacted id, subject fields, until), drop
 * what is below the minimum severity, and hand each alert to every sink
 * whose severity and detector filters want it.
 *
 * An alert delivered again after its dedup window carries how many like it
 * were folded since ("and N more like it since T"; evidence "repeats").
 * A sink with a rate limit ("rate_limit": "10/1m", event time) gets at most
 * that many alerts per window; the rest reach it as one "router.digest"
 * alert per window (counts per detector, the first keys), sent when the
 * next window starts or at the end of input (kw_router_drain).
 *
 * Sinks for people (chat, paging; a sink's "incidents" option) get
 * incidents instead of alerts (alert/incident.h): the router feeds every
 * alert that passed to the incident table and delivers its messages. Each
 * alert carries its incident's id.
 *
 * Delivery is synchronous, one attempt, until kw_router_start_delivery():
 * from then on each sink gets its own queue, thread, retries and spool
 * (alert/delivery.h), and kw_router_drain() waits for them at the end.
 */
#ifndef KW_ALERT_ROUTER_H
#define KW_ALERT_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert/delivery.h"
#include "alert/incident.h"
#include "core/alert.h"
#include "core/config.h"
#include "sink/sink.h"

#define KW_ROUTER_MAX_DETECTORS 32

struct kw_router_stats {
	uint64_t raised;     /* submitted by detectors */
	uint64_t delivered;  /* passed every filter (delivered to >= 0 sinks) */
	uint64_t deduped;    /* same id within the window */
	uint64_t suppressed; /* matched a suppression */
	uint64_t below;	     /* below --min-severity */
	uint64_t failed;     /* a sink failed to take it */
	uint64_t oom; /* delivered incomplete, or lost, for lack of memory */
	/* The dedup table started afresh: more distinct alerts within the
	 * window than it holds (a repeat may then be delivered again). */
	uint64_t dedup_restarts;
	uint64_t
		max_severity_seen; /* highest severity delivered + 1; 0: none */
	struct {
		const char *detector;
		uint64_t count;
	} by_detector[KW_ROUTER_MAX_DETECTORS];
	size_t ndetectors;
};

struct kw_router;

/* cfg is borrowed for the router's lifetime. */
enum kw_status kw_router_create(const struct kw_config *cfg,
				enum kw_severity min_severity,
				struct kw_router **out, struct kw_error *err);

/* The router takes the sink over (it destroys it). */
enum kw_status kw_router_add_sink(struct kw_router *r, struct kw_sink *s);
size_t kw_router_nsinks(const struct kw_router *r);
struct kw_sink *kw_router_sink(struct kw_router *r, size_t i);

/* Told of each alert that passed dedup, suppression and the minimum
 * severity: after every sink's spool has it and before any sink may
 * deliver it (the deliveries wait for it), and of each alert a spool
 * still held at start (it passed in an earlier run). The daemon journals
 * the alert there, so no sink can have an alert its journal lacks when
 * keywatch is killed. Set before kw_router_start_delivery. */
typedef void kw_router_pass_fn(void *ctx, const char *id, int64_t time);
void kw_router_on_pass(struct kw_router *r, kw_router_pass_fn *fn, void *ctx);

/* Told of each alert that passed dedup, suppression and the minimum
 * severity, after it joined its incident (a->incident set) and was handed
 * to the sinks: the report's tap (--report). The alert is borrowed for the
 * call. Digests of rate-limited sinks are not alerts and are not told. */
typedef void kw_router_alert_fn(void *ctx, const struct kw_alert *a);
void kw_router_on_alert(struct kw_router *r, kw_router_alert_fn *fn, void *ctx);

/* Route one alert. The router takes over the alert's contents (the caller's
 * struct is cleared). Returns true when the alert passed dedup, suppression
 * and the minimum severity (whether or not a sink then failed). */
bool kw_router_submit(struct kw_router *r, struct kw_alert *a);

/* Event time has reached watermark (the engine's): incident digests that
 * are due go out, quiet incidents close. */
void kw_router_tick(struct kw_router *r, int64_t watermark);

/* Whether the open incidents will be saved (kw_router_memory_save;
 * default true). Say false before the first alert when nothing will: with
 * no sink for people either, the incidents are then only counted, and an
 * alert costs its incident no copy (kw_incidents_kept). */
void kw_router_keep_incidents(struct kw_router *r, bool kept);

/* Whether anything reads what an alert says beyond the router's counts:
 * a sink that does not discard what it gets (every sink but stdout with
 * -o none), the on_alert tap (a report), or open incidents that are kept
 * (kw_router_keep_incidents). When nothing does, the alerts may be made
 * unread (core/alert.h); the router counts them, matches its suppress
 * rules and remembers their ids as for any other. Ask once the sinks and
 * taps are set. */
bool kw_router_reads(const struct kw_router *r);

/* The end of a scan (or of a daemon that keeps no state): tell the sinks
 * for people what joined their open incidents since they last heard; the
 * incidents stay open. A daemon that checkpoints keeps the news for the
 * next digest instead. Call before kw_router_drain. */
void kw_router_tell_incidents(struct kw_router *r);

/* The incident table's counters; NULL when incidents are off. */
const struct kw_incident_stats *kw_router_incidents(const struct kw_router *r);

/* Incidents open now, those a state file brought in included (0 when
 * incidents are off). */
size_t kw_router_incidents_open(const struct kw_router *r);

/* The open incidents, for checkpoints (alert/incident.h): a new JSON
 * array (empty when incidents are off; NULL when out of memory), and
 * back. */
json_t *kw_router_save_incidents(const struct kw_router *r);
enum kw_status kw_router_load_incidents(struct kw_router *r,
					const json_t *saved,
					struct kw_error *err);

/*
 * The router's memory (alert/memory.c): the dedup table and each rate-
 * limited sink's window, kept under the sink's identity (sink.h).
 *
 * kw_router_memory_save: a JSON document (malloc'ed; NULL when out of
 * memory) of the ids still within their dedup window and the open
 * windows. kw_router_memory_load: take a saved document in (name: the
 * file it came from, for messages); every value is checked against its
 * bound first, and a document that is not one keywatch could have written
 * is KW_ECORRUPT naming the file and the entry. An empty text is no
 * memory. Windows of sinks that are gone, or have no rate limit now, are
 * dropped.
 */
char *kw_router_memory_save(const struct kw_router *r);
enum kw_status kw_router_memory_load(struct kw_router *r, const char *text,
				     size_t len, const char *name,
				     struct kw_error *err);

/* A reload: to (the new router) takes from's dedup table (and whether its
 * restart was warned of: that is said once a run), and the window of each
 * sink they share by identity, held alerts included (from no longer holds
 * them: its drain sends no digest for them). */
void kw_router_memory_adopt(struct kw_router *to, struct kw_router *from);

/* An alert that passed the router at event time `time` (a journal line
 * read after a kill -9): remembered as delivered then. Ids that are not
 * one are ignored. */
void kw_router_memory_note(struct kw_router *r, const char *id, int64_t time);

/* Put a queue, a delivery thread and (with o->spool_dir) a spool in front
 * of every sink; what earlier runs left in the spools is delivered first.
 * The stdout sink is queued but never spooled. Call once, after the sinks
 * are added. */
enum kw_status kw_router_start_delivery(struct kw_router *r,
					const struct kw_delivery_opts *o,
					struct kw_error *err);

/* The end of input: first hand each sink the digest of what its rate
 * limit still holds; then wait up to
 * timeout_ms in all for the queues to empty, and stop the delivery threads.
 * Returns how many alerts were left undelivered (in the spools when there are
 * spools). Without delivery threads only the digests are sent. */
uint64_t kw_router_drain(struct kw_router *r, int64_t timeout_ms);

/* Sink i's delivery, NULL when delivery is synchronous. */
struct kw_delivery *kw_router_delivery(struct kw_router *r, size_t i);

/* Flush every sink (fsync files, stdout); with delivery started, only
 * after kw_router_drain (the threads flush by themselves before). */
void kw_router_flush(struct kw_router *r);

const struct kw_router_stats *kw_router_stats(const struct kw_router *r);

/* NULL-safe; destroys the sinks. */
void kw_router_destroy(struct kw_router *r);

#endif
