/*
 * incident.h - alerts about one key grouped into incidents, between the
 * router's filters and the sinks meant for people.
 *
 * The model (doc/alerts.md, "Incidents"): the first alert on a key opens an
 * incident with that alert's severity; every later alert on the key joins
 * it while it is open, raising its severity to the worst so far and adding
 * to its totals (alerts per detector, IPs, countries, operations, request
 * ids). A person hears of an incident when it opens, at once when its
 * severity rises, and otherwise at most once per digest interval while
 * alerts keep joining (the interval doubles after each digest, up to
 * digest_max, so a day-long incident sends a handful of messages, not one
 * per visitor); it closes when no alert joined it for close_after. Every
 * alert keeps its own id and evidence and carries the incident id
 * (kw_alert.incident), so machines still get each one.
 *
 * The alerts of one request (same key, same event time) are one step: an
 * incident opened by a medium alert and raised to critical by the next
 * alert on the same request opens once, as critical.
 *
 * Bounds: at most max_open incidents are open; a new one past that closes
 * the one that has been quiet longest (counted). Each incident keeps a
 * fixed-size summary: the top KW_INCIDENT_TOP IPs and operations,
 * KW_INCIDENT_COUNTRIES countries, KW_INCIDENT_DETECTORS detectors, the
 * first KW_ALERT_MAX_REQUESTS request ids and a copy of its worst alert.
 * Time is event time: the router ticks the module with the watermark.
 * Incident ids are a hash of the key's fingerprint and the opening alert's
 * id and time: the same log gives the same ids.
 */
#ifndef KW_ALERT_INCIDENT_H
#define KW_ALERT_INCIDENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/alert.h"
#include "core/status.h"

#define KW_INCIDENT_TOP 8
#define KW_INCIDENT_COUNTRIES 16
#define KW_INCIDENT_DETECTORS 8
#define KW_INCIDENT_MAX_OPEN 4096

enum kw_incident_event {
	KW_INCIDENT_OPENED = 0,
	KW_INCIDENT_UPDATED,
	KW_INCIDENT_CLOSED,
};

const char *kw_incident_event_name(enum kw_incident_event e);

struct kw_incident_opts {
	int64_t close_after; /* event time without an alert that closes it */
	int64_t digest;	     /* the first interval between two updates */
	int64_t digest_max;  /* the interval doubles up to this */
	size_t max_open;     /* incidents open at once */
};

struct kw_incident_stats {
	uint64_t opened, closed;
	uint64_t evicted;  /* closed early to make room (max_open) */
	uint64_t messages; /* incident messages sent to the router */
	uint64_t joined;   /* alerts that joined an open incident */
	uint64_t oom;	   /* memory ran out: an alert joined no incident, a
			      message was lost, or an incident lacks a part */
	uint32_t most_alerts, most_messages; /* in one incident */
};

/* One message for the router to deliver to the sinks for people. msg is
 * the incident as an alert (kw_alert.update set, see core/alert.h); the
 * router may change msg->update's "event" while it renders (an update is
 * an opening to a sink that was not told of the incident before) and must
 * leave it as it found it. told holds one bit per sink index that has
 * been told of this incident; the router sets the bits it delivers to.
 * Both live until the callback returns. */
struct kw_incident_msg {
	enum kw_incident_event event;
	struct kw_alert *msg;
	uint64_t *told;
};

typedef void kw_incident_send_fn(void *ctx, struct kw_incident_msg *m);

struct kw_incidents;

/* send(ctx, m) is called for every message, from add, tick and drain.
 * *out is owned by the caller (kw_incidents_destroy). */
enum kw_status kw_incidents_create(const struct kw_incident_opts *o,
				   kw_incident_send_fn *send, void *ctx,
				   struct kw_incidents **out);

/* Whether anyone reads the messages (default true). When no one does
 * (the router has no sink for people), they are counted, as if sent, but
 * neither built nor sent: an alert then costs its incident only the
 * table's bookkeeping. */
void kw_incidents_listened(struct kw_incidents *in, bool listened);

/* Whether the open incidents will be saved (kw_incidents_save; default
 * true). A table no one listens to and nothing saves only counts: its
 * entries keep no worst alert, no lists of IPs, countries and operations,
 * no requests; ids, times, totals and the stats are the same. Both are
 * settled by the time the first incident opens: a call after that changes
 * no entry's form, and a bare table's messages stay counted, never sent.
 * kw_incidents_save of such a table gives an empty array;
 * kw_incidents_load makes the table keep whole entries again. */
void kw_incidents_kept(struct kw_incidents *in, bool kept);

/* One alert that passed the router's filters: it opens or joins the
 * incident on its key and gets its id in a->incident. Messages that were
 * waiting for the end of an earlier request go out first. */
void kw_incidents_add(struct kw_incidents *in, struct kw_alert *a);

/* Event time has reached watermark: messages waiting for the end of their
 * request go out, digests that are due go out, incidents quiet for
 * close_after close. Cheap when nothing is due. */
void kw_incidents_tick(struct kw_incidents *in, int64_t watermark);

/* The end of input (scan): every incident with alerts not yet told gets an
 * update now; incidents stay open. */
void kw_incidents_drain(struct kw_incidents *in);

/* The open incidents as a JSON array (a new reference; NULL when out of
 * memory), and back: for checkpoints. kw_incidents_load replaces what is
 * open; an entry that does not read is an error naming its index. */
json_t *kw_incidents_save(const struct kw_incidents *in);
enum kw_status kw_incidents_load(struct kw_incidents *in, const json_t *saved,
				 struct kw_error *err);

size_t kw_incidents_open(const struct kw_incidents *in);
const struct kw_incident_stats *
kw_incidents_stats(const struct kw_incidents *in);

/* NULL-safe. */
void kw_incidents_destroy(struct kw_incidents *in);

#endif
