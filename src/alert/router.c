/*
 * router.c - dedup, suppression and routing.
 *
 * The dedup table maps an alert id (its 64-bit hex) to the event time it
 * was last delivered, in a fixed-size open-addressing table: bounded by
 * construction. When it fills past half, entries older than the window are
 * dropped; if that is not enough the table starts afresh (said once in the
 * log, and counted in the stats), which can only let a repeat through,
 * never lose an alert.
 *
 * Alerts that pass go to the sinks for machines as they are, and to the
 * incident table (alert/incident.h), whose messages go to the sinks for
 * people: one bit per sink in each incident remembers which were told, so
 * a sink first hears of an incident as "opened" even when its filters
 * kept the opening from it, and hears of its closing only if it was told.
 */
#include "alert/router.h"

#include "alert/incident.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert/router_impl.h"
#include "core/glob.h"
#include "core/time.h"
#include "core/log.h"

static void send_incident(void *ctx, struct kw_incident_msg *m);

enum kw_status kw_router_create(const struct kw_config *cfg,
				enum kw_severity min_severity,
				struct kw_router **out, struct kw_error *err)
{
	struct kw_router *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	r->dedup = calloc(DEDUP_SLOTS, sizeof(*r->dedup));
	if (!r->dedup) {
		free(r);
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	}
	r->cfg = cfg;
	r->min = min_severity;
	r->incidents_kept = true;
	if (cfg->incidents.enabled) {
		struct kw_incident_opts io = {
			.close_after = cfg->incidents.close_after,
			.digest = cfg->incidents.digest,
			.digest_max = cfg->incidents.digest_max,
			.max_open = cfg->incidents.max_open,
		};

		if (kw_incidents_create(&io, send_incident, r, &r->incidents) !=
		    KW_OK) {
			kw_router_destroy(r);
			return kw_error_set(err, KW_ENOMEM, "out of memory");
		}
		/* Heard once a sink for people comes. */
		kw_incidents_listened(r->incidents, false);
	}
	*out = r;
	return KW_OK;
}

enum kw_status kw_router_add_sink(struct kw_router *r, struct kw_sink *s)
{
	if (r->nsinks == MAX_SINKS) {
		kw_sink_destroy(s);
		return KW_ETOOBIG;
	}
	r->sinks[r->nsinks++] = s;
	if (r->incidents && s->incidents)
		kw_incidents_listened(r->incidents, true);
	return KW_OK;
}

void kw_router_keep_incidents(struct kw_router *r, bool kept)
{
	r->incidents_kept = kept;
	if (r->incidents)
		kw_incidents_kept(r->incidents, kept);
}

size_t kw_router_nsinks(const struct kw_router *r)
{
	return r->nsinks;
}

struct kw_sink *kw_router_sink(struct kw_router *r, size_t i)
{
	return i < r->nsinks ? r->sinks[i] : NULL;
}

uint64_t kw_router_id_value(const char *id)
{
	uint64_t v = 0;

	for (const char *p = id + 4; *p; p++)
		v = v << 4 | (uint64_t)(*p <= '9' ? *p - '0' : *p - 'a' + 10);
	return v ? v : 1;
}

struct kw_router_dedup *kw_router_dedup_find(struct kw_router *r, uint64_t id)
{
	size_t i = (size_t)(id * 0x9e3779b97f4a7c15u >> 48) & (DEDUP_SLOTS - 1);

	while (r->dedup[i].id && r->dedup[i].id != id)
		i = (i + 1) & (DEDUP_SLOTS - 1);
	return &r->dedup[i];
}

/* The dedup table forgets everything: too many distinct alerts within
 * the window to keep, or (oom) no memory to compact it into. */
static void dedup_restart(struct kw_router *r, bool oom)
{
	char why[80];

	/* Once: a flood restarts it every DEDUP_SLOTS / 2 alerts, and the
	 * summary and the metrics say how many times. */
	if (!r->dedup_said) {
		if (oom)
			snprintf(why, sizeof(why),
				 "out of memory to compact the dedup table");
		else
			snprintf(why, sizeof(why),
				 "more than %u distinct alerts within the "
				 "dedup window",
				 DEDUP_SLOTS / 2);
		kw_log_warn("router",
			    "%s; starting the dedup table afresh, so repeats "
			    "may be delivered again (said once; the restarts "
			    "are counted)",
			    why);
	}
	r->dedup_said = true;
	r->stats.dedup_restarts++;
	memset(r->dedup, 0, DEDUP_SLOTS * sizeof(*r->dedup));
	r->dedup_used = 0;
}

void kw_router_dedup_compact(struct kw_router *r)
{
	struct kw_router_dedup *old = r->dedup;
	struct kw_router_dedup *fresh = r->dedup_spare;
	size_t used = 0;

	if (fresh)
		memset(fresh, 0, DEDUP_SLOTS * sizeof(*fresh));
	else
		fresh = calloc(DEDUP_SLOTS, sizeof(*fresh));
	if (!fresh) {
		dedup_restart(r, true);
		return;
	}
	r->dedup = fresh;
	for (size_t i = 0; i < DEDUP_SLOTS; i++) {
		if (old[i].id &&
		    r->newest - old[i].last < r->cfg->dedup_window) {
			*kw_router_dedup_find(r, old[i].id) = old[i];
			used++;
		}
	}
	r->dedup_spare = old;
	r->dedup_used = used;
	if (used > DEDUP_SLOTS / 2)
		dedup_restart(r, false);
}

/* true when an alert with this id was delivered within the window (it is
 * then counted as a repeat). When it is delivered again after the window,
 * *repeats and *since tell how many were folded since the last delivery. */
static bool seen_recently(struct kw_router *r, const struct kw_alert *a,
			  uint32_t *repeats, int64_t *since)
{
	uint64_t id = kw_router_id_value(a->id);
	struct kw_router_dedup *s = kw_router_dedup_find(r, id);

	*repeats = 0;
	if (a->time > r->newest)
		r->newest = a->time;
	if (s->id) {
		int64_t age = a->time - s->last;

		if (age > -r->cfg->dedup_window && age < r->cfg->dedup_window) {
			if (s->repeats < UINT32_MAX)
				s->repeats++;
			return true;
		}
		if (age > 0) {
			*repeats = s->repeats;
			*since = s->last;
			s->repeats = 0;
			s->last = a->time;
		}
		return false;
	}
	s->id = id;
	s->last = a->time;
	s->repeats = 0;
	if (++r->dedup_used > DEDUP_SLOTS / 2)
		kw_router_dedup_compact(r);
	return false;
}

static bool suppressed(const struct kw_router *r, const struct kw_alert *a)
{
	for (size_t i = 0; i < r->cfg->nsuppress; i++) {
		const struct kw_suppress *s = &r->cfg->suppress[i];

		if (s->has_until && a->time >= s->until)
			continue;
		if (s->detector && !kw_glob_match(s->detector, a->detector,
						  strlen(a->detector)))
			continue;
		if (s->key &&
		    !kw_glob_match(s->key, a->key.id, strlen(a->key.id)))
			continue;
		if (kw_alert_suppress_has(a, s->subject))
			return true;
	}
	return false;
}

static void count_detector(struct kw_router_stats *st, const char *detector)
{
	for (size_t i = 0; i < st->ndetectors; i++) {
		if (!strcmp(st->by_detector[i].detector, detector)) {
			st->by_detector[i].count++;
			return;
		}
	}
	if (st->ndetectors < KW_ROUTER_MAX_DETECTORS) {
		st->by_detector[st->ndetectors].detector = detector;
		st->by_detector[st->ndetectors].count = 1;
		st->ndetectors++;
	}
}

/* Whether sink i does nothing with an alert (stdout with -o none). */
static bool discards(const struct kw_router *r, size_t i)
{
	const struct kw_sink *k = r->sinks[i];

	return k->ops->discards && k->ops->discards(k->self);
}

bool kw_router_reads(const struct kw_router *r)
{
	if (r->on_alert || (r->incidents && r->incidents_kept))
		return true;
	for (size_t i = 0; i < r->nsinks; i++) {
		if (!discards(r, i))
			return true;
	}
	return false;
}

/* Hand one rendered alert to sink i: its delivery queue, or directly. */
static void deliver_to(struct kw_router *r, size_t i, const struct kw_alert *a,
		       const char *json, size_t len)
{
	struct kw_error err;

	if (discards(r, i))
		return;
	if (r->queues[i]) {
		kw_delivery_submit(r->queues[i], a, json, len);
		return;
	}
	kw_error_clear(&err);
	if (kw_sink_deliver(r->sinks[i], a, json, len, &err) != KW_SINK_OK) {
		r->stats.failed++;
		kw_log_error("sink", "%s: alert %s not delivered: %s",
			     r->sinks[i]->name, a->id, err.msg);
	}
}

/* An alert that lacks part of what it should hold for lack of memory: it
 * goes out as it is, and that is said. */
static void incomplete(struct kw_router *r, const struct kw_alert *a)
{
	kw_log_error("router",
		     "out of memory: alert %s (%s) lacks part of its evidence; "
		     "delivered as it is",
		     a->id, a->detector);
	r->stats.oom++;
}

/* An alert that could not be rendered for lack of memory: lost, and said
 * so. */
static void lost(struct kw_router *r, const struct kw_alert *a)
{
	kw_log_error("router",
		     "out of memory: alert %s (%s) lost: it could not be "
		     "rendered",
		     a->id, a->detector);
	r->stats.failed++;
	r->stats.oom++;
}

/* ------------------------------------------------ per-sink rate limits */

static void hold(struct kw_sink_rate *rt, const struct kw_alert *a)
{
	size_t i;

	if (!rt->held++)
		rt->first = a->time;
	rt->last = a->time;
	if (a->severity > rt->worst)
		rt->worst = a->severity;
	for (i = 0; i < rt->ndetectors; i++) {
		if (!strcmp(rt->by_detector[i].detector, a->detector))
			break;
	}
	if (i == rt->ndetectors && i < KW_SINK_DIGEST_DETECTORS) {
		snprintf(rt->by_detector[i].detector,
			 sizeof(rt->by_detector[i].detector), "%s",
			 a->detector);
		rt->by_detector[i].count = 0;
		rt->ndetectors++;
	}
	if (i < rt->ndetectors)
		rt->by_detector[i].count++;
	for (i = 0; i < rt->nkeys; i++) {
		if (!strcmp(rt->keys[i], a->key.id))
			return;
	}
	if (rt->nkeys < KW_SINK_DIGEST_KEYS)
		snprintf(rt->keys[rt->nkeys++], sizeof(rt->keys[0]), "%s",
			 a->key.id);
}

/* The alerts sink i held back in its window, as one alert to that sink
 * only: detector "router.digest", the worst severity held, the count per
 * detector and the first keys. */
static void send_digest(struct kw_router *r, size_t i)
{
	struct kw_sink *k = r->sinks[i];
	struct kw_sink_rate *rt = &k->rate;
	struct kw_alert_key key = {.kind = KW_KIND_UNKNOWN};
	json_t *by = json_object(), *keys = json_array();
	char subject[96], from[32], to[32], list[256] = "";
	struct kw_alert a;
	char *json;

	snprintf(key.id, sizeof(key.id), "(%zu key%s)", rt->nkeys,
		 rt->nkeys == 1 ? "" : "s");
	kw_alert_init(&a, "router.digest", rt->worst, rt->last, &key);
	for (size_t d = 0; d < rt->ndetectors; d++) {
		size_t used = strlen(list);

		if (json_object_set_new(
			    by, rt->by_detector[d].detector,
			    json_integer((json_int_t)rt->by_detector[d].count)))
			a.incomplete = true;
		snprintf(list + used, sizeof(list) - used, "%s%s %llu",
			 d ? ", " : "", rt->by_detector[d].detector,
			 (unsigned long long)rt->by_detector[d].count);
	}
	for (size_t n = 0; n < rt->nkeys; n++) {
		if (json_array_append_new(keys, json_string(rt->keys[n])))
			a.incomplete = true;
	}
	kw_time_format(rt->first, from, sizeof(from));
	kw_time_format(rt->last, to, sizeof(to));
	kw_alert_summary(&a,
			 "%s held back %llu alert%s over its rate limit of %u "
			 "per %llds between %s and %s: %s",
			 k->name, (unsigned long long)rt->held,
			 rt->held == 1 ? "" : "s", rt->max,
			 (long long)(rt->per / 1000000), from, to, list);
	kw_alert_evidence_int(&a, "held", (int64_t)rt->held);
	kw_alert_evidence_json(&a, "by_detector", by);
	kw_alert_evidence_json(&a, "keys", keys);
	kw_alert_evidence_str(&a, "from", kw_str_c(from));
	kw_alert_evidence_str(&a, "to", kw_str_c(to));
	kw_alert_suppress_str(&a, "sink", kw_str_c(k->name));
	snprintf(subject, sizeof(subject), "sink=%s;window=%lld", k->name,
		 (long long)rt->start);
	kw_alert_set_id(&a, subject);
	if (a.incomplete)
		incomplete(r, &a);
	json = kw_alert_to_json(&a);
	if (json)
		deliver_to(r, i, &a, json, strlen(json));
	else
		lost(r, &a);
	free(json);
	kw_alert_clear(&a);
	rt->held = 0;
	rt->ndetectors = 0;
	rt->nkeys = 0;
	rt->worst = KW_SEV_INFO;
}

/* Whether sink i may take alert a now: a new window (in event time) first
 * sends the digest of the last one. */
static bool within_rate(struct kw_router *r, size_t i, const struct kw_alert *a)
{
	struct kw_sink_rate *rt = &r->sinks[i]->rate;

	if (!rt->max)
		return true;
	if (!rt->sent && !rt->held) {
		rt->start = a->time;
	} else if (a->time - rt->start >= rt->per) {
		if (rt->held)
			send_digest(r, i);
		rt->start = a->time;
		rt->sent = 0;
	}
	if (rt->sent < rt->max) {
		rt->sent++;
		return true;
	}
	hold(rt, a);
	return false;
}

/* Whether sink i gets incident messages rather than alerts. */
static bool people(const struct kw_router *r, size_t i)
{
	return r->incidents && r->sinks[i]->incidents;
}

/* The alert to every sink that wants it, rendered once, and only when
 * one of them reads it. */
static void deliver(struct kw_router *r, const struct kw_alert *a)
{
	char *json = NULL;
	size_t len = 0;

	for (size_t i = 0; i < r->nsinks; i++) {
		if (people(r, i) || !kw_sink_wants(r->sinks[i], a) ||
		    !within_rate(r, i, a) || discards(r, i))
			continue;
		if (!json) {
			json = kw_alert_to_json(a);
			if (!json) {
				lost(r, a);
				return;
			}
			len = strlen(json);
		}
		deliver_to(r, i, a, json, len);
	}
	free(json);
}

/* An incident message to the sinks for people. A sink not told of the
 * incident yet gets an update as its opening, and no closing at all. */
static void send_incident(void *ctx, struct kw_incident_msg *m)
{
	struct kw_router *r = ctx;
	struct kw_alert *a = m->msg;
	json_t *event = json_object_get(a->update, "event");
	char *json[2] = {NULL, NULL}; /* as it is; as an opening */

	json_incref(event);
	for (size_t i = 0; i < r->nsinks && i < 64; i++) {
		uint64_t bit = (uint64_t)1 << i;
		bool told = *m->told & bit;
		bool as_open = !told && m->event != KW_INCIDENT_OPENED;

		if (!people(r, i) || !kw_sink_wants(r->sinks[i], a) ||
		    (m->event == KW_INCIDENT_CLOSED && !told))
			continue;
		json_object_set_new(a->update, "event",
				    as_open ? json_string("opened")
					    : json_incref(event));
		if (!json[as_open])
			json[as_open] = kw_alert_to_json(a);
		if (!json[as_open]) {
			lost(r, a);
			continue;
		}
		if (within_rate(r, i, a)) {
			deliver_to(r, i, a, json[as_open],
				   strlen(json[as_open]));
			*m->told |= bit;
		}
	}
	json_object_set_new(a->update, "event", event);
	free(json[0]);
	free(json[1]);
}

/* Send what the rate limits still hold (at the end of input). */
static void send_digests(struct kw_router *r)
{
	for (size_t i = 0; i < r->nsinks; i++) {
		if (r->sinks[i]->rate.held)
			send_digest(r, i);
	}
}

/* "and N more": an alert delivered again after its dedup window says how
 * many like it were folded since the last delivery. */
static void note_repeats(struct kw_alert *a, uint32_t repeats, int64_t since)
{
	size_t n = strlen(a->summary);
	char when[32];

	kw_time_format(since, when, sizeof(when));
	snprintf(a->summary + n, sizeof(a->summary) - n,
		 " (and %u more like it since %s)", repeats, when);
	kw_alert_evidence_int(a, "repeats", repeats);
	kw_alert_evidence_time(a, "repeats_since", since);
}

void kw_router_on_pass(struct kw_router *r, kw_router_pass_fn *fn, void *ctx)
{
	r->on_pass = fn;
	r->pass_ctx = ctx;
}

void kw_router_on_alert(struct kw_router *r, kw_router_alert_fn *fn, void *ctx)
{
	r->on_alert = fn;
	r->alert_ctx = ctx;
}

/* What was submitted to the (gated) deliveries may go now. */
static void release(struct kw_router *r)
{
	if (!r->on_pass)
		return;
	for (size_t i = 0; i < r->nsinks; i++) {
		if (r->queues[i])
			kw_delivery_release(r->queues[i]);
	}
}

bool kw_router_submit(struct kw_router *r, struct kw_alert *a)
{
	bool passed = false;
	uint32_t repeats;
	int64_t since = 0;

	r->stats.raised++;
	if (a->severity < r->min) {
		r->stats.below++;
	} else if (suppressed(r, a)) {
		r->stats.suppressed++;
	} else if (seen_recently(r, a, &repeats, &since)) {
		r->stats.deduped++;
	} else {
		passed = true;
		if (repeats && !a->unread)
			note_repeats(a, repeats, since);
		r->stats.delivered++;
		if ((uint64_t)a->severity + 1 > r->stats.max_severity_seen)
			r->stats.max_severity_seen = (uint64_t)a->severity + 1;
		count_detector(&r->stats, a->detector);
		if (a->incomplete)
			incomplete(r, a);
		if (r->incidents && strcmp(a->detector, "router.digest") != 0)
			kw_incidents_add(r->incidents, a);
		deliver(r, a);
		if (r->on_pass)
			r->on_pass(r->pass_ctx, a->id, a->time);
		if (r->on_alert)
			r->on_alert(r->alert_ctx, a);
	}
	release(r);
	kw_alert_clear(a);
	return passed;
}

/* What was queued since the last kick goes to the sinks' threads: they
 * are woken per batch of events, not per alert. */
static void kick(struct kw_router *r)
{
	for (size_t i = 0; i < r->nsinks; i++) {
		if (r->queues[i])
			kw_delivery_kick(r->queues[i]);
	}
}

void kw_router_tell_incidents(struct kw_router *r)
{
	if (r->incidents)
		kw_incidents_drain(r->incidents);
	kick(r);
}

void kw_router_tick(struct kw_router *r, int64_t watermark)
{
	if (r->incidents)
		kw_incidents_tick(r->incidents, watermark);
	release(r);
	kick(r);
}

const struct kw_incident_stats *kw_router_incidents(const struct kw_router *r)
{
	return r->incidents ? kw_incidents_stats(r->incidents) : NULL;
}

size_t kw_router_incidents_open(const struct kw_router *r)
{
	return r->incidents ? kw_incidents_open(r->incidents) : 0;
}

json_t *kw_router_save_incidents(const struct kw_router *r)
{
	return r->incidents ? kw_incidents_save(r->incidents) : json_array();
}

enum kw_status kw_router_load_incidents(struct kw_router *r,
					const json_t *saved,
					struct kw_error *err)
{
	return r->incidents ? kw_incidents_load(r->incidents, saved, err)
			    : KW_OK;
}

/* Whether sink k has a spool (stdout never has). */
static bool spooled(const struct kw_sink *k)
{
	return k->ops != &kw_sink_stdout;
}

/* The sink of type `type` an old position-named spool ("<type>-sinks-N",
 * what keywatch named spools before sinks had identities) belongs to:
 * the one sink of that type, if there is exactly one. *candidates tells
 * how many there are. */
static struct kw_sink *old_owner(struct kw_router *r, const char *stem,
				 size_t *candidates)
{
	const char *mark = strstr(stem, "-sinks-");
	struct kw_sink *owner = NULL;
	size_t tlen;

	*candidates = 0;
	if (!mark || !mark[7] ||
	    strspn(mark + 7, "0123456789") != strlen(mark + 7))
		return NULL;
	tlen = (size_t)(mark - stem);
	for (size_t i = 0; i < r->nsinks; i++) {
		const char *type = r->sinks[i]->ops->name;

		if (spooled(r->sinks[i]) && strlen(type) == tlen &&
		    !strncmp(type, stem, tlen)) {
			owner = r->sinks[i];
			(*candidates)++;
		}
	}
	return *candidates == 1 ? owner : NULL;
}

/* The spools in dir that belong to no configured sink: an old
 * position-named one whose sink can be told (the only sink of its type)
 * takes that sink's identity; any other that holds alerts is named in a
 * warning with how many, and how to have them delivered. */
static void adopt_spools(struct kw_router *r, const char *dir)
{
	struct kw_error err;
	char **stems = NULL;
	size_t n = 0;

	kw_error_clear(&err);
	if (kw_delivery_spools(dir, &stems, &n, &err) != KW_OK) {
		kw_log_warn("router", "%s", err.msg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct kw_sink *owner = NULL;
		size_t candidates = 0;
		int64_t waiting;
		bool ours = false;
		char why[KW_ERROR_MSG_MAX + 128];

		for (size_t j = 0; j < r->nsinks && !ours; j++)
			ours = spooled(r->sinks[j]) &&
			       !strcmp(r->sinks[j]->id, stems[i]);
		if (ours)
			continue;
		owner = old_owner(r, stems[i], &candidates);
		kw_error_clear(&err);
		if (owner && kw_delivery_spool_rename(dir, stems[i], owner->id,
						      &err) == KW_OK) {
			kw_log_info("router",
				    "%s: the spool %s/%s.spool.jsonl is now "
				    "%s/%s.spool.jsonl (spools are named by "
				    "the sink's identity)",
				    owner->name, dir, stems[i], dir, owner->id);
			continue;
		}
		if (owner)
			snprintf(why, sizeof(why), " (not moved to %s: %s)",
				 owner->id, err.msg);
		else if (candidates > 1)
			snprintf(why, sizeof(why),
				 " (%zu sinks of its type could be the one it "
				 "was for)",
				 candidates);
		else
			why[0] = '\0';
		kw_error_clear(&err);
		waiting = kw_delivery_spool_pending(dir, stems[i], &err);
		if (waiting > 0)
			kw_log_warn("router",
				    "%s/%s.spool.jsonl matches no configured "
				    "sink: %lld alert%s wait%s in it%s; to "
				    "deliver them, give the sink they were for "
				    "\"name\": \"%s\"",
				    dir, stems[i], (long long)waiting,
				    waiting == 1 ? "" : "s",
				    waiting == 1 ? "s" : "", why, stems[i]);
		else if (waiting < 0)
			kw_log_warn("router", "%s", err.msg);
	}
	kw_delivery_spools_free(stems, n);
}

enum kw_status kw_router_start_delivery(struct kw_router *r,
					const struct kw_delivery_opts *o,
					struct kw_error *err)
{
	if (o->spool_dir)
		adopt_spools(r, o->spool_dir);
	for (size_t i = 0; i < r->nsinks; i++) {
		struct kw_delivery_opts so = *o;
		enum kw_status st;

		if (r->queues[i])
			continue;
		if (!spooled(r->sinks[i])) {
			so.spool_dir = NULL;
			so.keep_sigpipe = true;
		}
		so.gated = r->on_pass != NULL;
		so.wait_for_room = r->sinks[i]->ops->local; /* not gated ones */
		so.batched = true; /* kicked at each tick */
		so.replayed = r->on_pass;
		so.replayed_ctx = r->pass_ctx;
		st = kw_delivery_start(r->sinks[i], r->sinks[i]->id, &so,
				       &r->queues[i], err);
		if (st != KW_OK)
			return st;
	}
	return KW_OK;
}

uint64_t kw_router_drain(struct kw_router *r, int64_t timeout_ms)
{
	struct kw_delivery_stats ds;
	struct timespec t0, t1;
	uint64_t left = 0;
	int64_t spent;

	send_digests(r);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < r->nsinks; i++) {
		if (!r->queues[i])
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		spent = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000 +
			(t1.tv_nsec - t0.tv_nsec) / 1000000;
		kw_delivery_stop(r->queues[i],
				 spent < timeout_ms ? timeout_ms - spent : 0);
		kw_delivery_stats(r->queues[i], &ds);
		left += ds.pending + ds.dropped;
		r->stats.failed += ds.dead + ds.dropped;
		r->stats.oom += ds.oom;
	}
	if (r->incidents)
		r->stats.oom += kw_incidents_stats(r->incidents)->oom;
	r->drained = true;
	return left;
}

struct kw_delivery *kw_router_delivery(struct kw_router *r, size_t i)
{
	return i < r->nsinks ? r->queues[i] : NULL;
}

void kw_router_flush(struct kw_router *r)
{
	struct kw_error err;

	for (size_t i = 0; i < r->nsinks; i++) {
		if (r->queues[i] && !r->drained)
			continue;
		kw_error_clear(&err);
		if (kw_sink_flush(r->sinks[i], &err) != KW_SINK_OK)
			kw_log_error("sink", "%s: %s", r->sinks[i]->name,
				     err.msg);
	}
}

const struct kw_router_stats *kw_router_stats(const struct kw_router *r)
{
	return &r->stats;
}

void kw_router_destroy(struct kw_router *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nsinks; i++)
		kw_delivery_destroy(r->queues[i]);
	for (size_t i = 0; i < r->nsinks; i++)
		kw_sink_destroy(r->sinks[i]);
	kw_incidents_destroy(r->incidents);
	free(r->dedup);
	free(r->dedup_spare);
	free(r);
}
