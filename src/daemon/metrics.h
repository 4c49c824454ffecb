/*
 * metrics.h - the daemon's counters and their Prometheus text on
 * metrics.listen (GET /metrics, GET /healthz), and the counters line that
 * SIGUSR1 logs.
 */
#ifndef KW_DAEMON_METRICS_H
#define KW_DAEMON_METRICS_H

#include "alert/router.h"
#include "core/alert.h"
#include "core/status.h"
#include "engine/engine.h"
#include "ingest/tail.h"

/* What the counters are read from; all borrowed for the call. */
struct kw_metrics_view {
	struct kw_engine *engine;
	struct kw_tail *tail;
	struct kw_router *router;
};

struct kw_metrics;

/* *out is owned by the caller (kw_metrics_destroy); KW_ENOMEM. */
enum kw_status kw_metrics_create(struct kw_metrics **out);

/* Listen on spec ("ADDRESS:PORT", an IPv6 address in brackets). Errors
 * are logged. */
enum kw_status kw_metrics_listen(struct kw_metrics *m, const char *spec);

/* Answer the connection waiting on the listener, if any. */
void kw_metrics_serve(struct kw_metrics *m, const struct kw_metrics_view *v);

/* Count an alert that passed the router. detector is borrowed only for
 * the call. */
void kw_metrics_alert(struct kw_metrics *m, const char *detector,
		      enum kw_severity sev);
/* Count an alert dropped because it was raised before a restart. */
void kw_metrics_repeat(struct kw_metrics *m);
/* Count a checkpoint written. */
void kw_metrics_checkpoint(struct kw_metrics *m);

/* Log the counters (SIGUSR1, and at exit). */
void kw_metrics_log(struct kw_metrics *m, const struct kw_metrics_view *v);

/* NULL-safe. */
void kw_metrics_destroy(struct kw_metrics *m);

#endif
