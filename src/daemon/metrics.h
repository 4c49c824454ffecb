/*
 * metrics.h - the daemon's counters: served as Prometheus text on
 * metrics.listen by the listener's own thread (daemon/httpd.h), and logged
 * on SIGUSR1.
 *
 * The one idea: the loop owns every counter and renders the text itself
 * (kw_metrics_publish, a few times a second); the listener thread only
 * hands out the last text. No counter is read across threads, and a
 * scrape never waits for the loop. Counters are totals since the process
 * started: when a reload replaces the engine, tailer and router, their
 * counts are carried over (kw_metrics_carry) first.
 */
#ifndef KW_DAEMON_METRICS_H
#define KW_DAEMON_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "alert/router.h"
#include "core/alert.h"
#include "core/status.h"
#include "engine/engine.h"
#include "ingest/tail.h"

/* How often the loop renders the text, at most. */
#define KW_METRICS_PUBLISH_US (INT64_C(200000))

/* What the counters are read from; all borrowed for the call. */
struct kw_daemon_kafka;

struct kw_metrics_view {
	struct kw_engine *engine;
	struct kw_tail *tail;
	struct kw_router *router;
	struct kw_daemon_kafka *kafka; /* the Kafka inputs; NULL: none */
};

struct kw_metrics;

/* *out is owned by the caller (kw_metrics_destroy); KW_ENOMEM. */
enum kw_status kw_metrics_create(struct kw_metrics **out);

/* Start serving on spec ("ADDRESS:PORT", an IPv6 address in brackets).
 * Errors are logged. */
enum kw_status kw_metrics_listen(struct kw_metrics *m, const char *spec);

/* Render the text from v and the daemon's counters and hand it to the
 * listener (nothing without one). */
void kw_metrics_publish(struct kw_metrics *m, const struct kw_metrics_view *v);

/* Before a reload destroys v's engine, tailer, router and Kafka inputs:
 * add their counters to the totals. */
void kw_metrics_carry(struct kw_metrics *m, const struct kw_metrics_view *v);

/* Count an alert that passed the router. detector is borrowed only for
 * the call. */
void kw_metrics_alert(struct kw_metrics *m, const char *detector,
		      enum kw_severity sev);
/* Count an alert dropped because it was raised before a restart. */
void kw_metrics_repeat(struct kw_metrics *m);
/* Count a checkpoint written. */
void kw_metrics_checkpoint(struct kw_metrics *m);
/* Count a reload (SIGHUP) that took effect or failed. */
void kw_metrics_reload(struct kw_metrics *m, bool ok);

/* Log the counters (SIGUSR1, and at exit). */
void kw_metrics_log(struct kw_metrics *m, const struct kw_metrics_view *v);

/* Stops the listener. NULL-safe. */
void kw_metrics_destroy(struct kw_metrics *m);

#endif
