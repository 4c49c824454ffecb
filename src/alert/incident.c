/*
 * incident.c - the table of open incidents (see incident.h for the model).
 *
 * Open incidents are kept dense at the front of one array of pointers,
 * grown by doubling up to max_open (a closed one's place takes the last
 * one), and an open-addressing index (linear probing, backward-shift
 * deletion) maps a key's fingerprint to its place, so an alert finds its
 * incident in O(1) and memory follows what is open. An entry (5.6 KB)
 * stays where it was made: a close moves a pointer, not the last entry,
 * and the entry closed is kept for the next one opened (a full table
 * closes one for each it opens: the same memory, still in the cache).
 * The index holds each fingerprint beside its place, so a probe reads
 * the index only, not one entry after another.
 *
 * Deadlines (a digest due, a quiet period over) are found by a scan of
 * the open incidents, done only when the watermark passes the earliest
 * deadline, kept as a lower bound.
 *
 * An incident's lists (IPs, operations, countries, detectors) are "space
 * saving" top-N counters: a new name takes a free slot, or replaces the
 * least counted one and inherits its count plus one, so the names that
 * come back often stay listed. How many distinct IPs it saw is a linear
 * count over a 1,024-bit sketch: exact in practice for a few dozen, within
 * a few per cent for hundreds.
 */
#include "alert/incident.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/time.h"

#define NAME_MAX_LEN 48
#define SKETCH_WORDS 16 /* 1,024 bits */
#define DETECTOR_LEN 48

struct counted {
	char name[NAME_MAX_LEN]; /* "" when the slot is free */
	uint32_t n;
};

/* An open incident. The members before worst are its head: all that a
 * bare table (kw_incidents.bare) has of an entry, allocated BARE_SIZE
 * bytes and never read past them. */
struct incident {
	uint32_t at; /* its place in kw_incidents.e */
	uint8_t sev; /* the worst alert's severity */
	char id[KW_ALERT_ID_LEN + 1];
	uint64_t fp; /* the key's fingerprint, as a number */
	/* The times and totals before the worst alert, in the lines a close
	 * reads first (fetch_quietest). */
	int64_t opened, last, last_msg;
	int64_t interval; /* until the next digest may go out */
	uint32_t alerts, told_alerts, messages;
	uint64_t told; /* the router's: sinks told of it */
	struct kw_alert worst;
	char worst_detector[DETECTOR_LEN];
	char latest[KW_ALERT_ID_LEN + 1]; /* the newest alert's id */
	struct counted detectors[KW_INCIDENT_DETECTORS];
	struct counted ips[KW_INCIDENT_TOP];
	struct counted countries[KW_INCIDENT_COUNTRIES];
	struct counted ops[KW_INCIDENT_TOP];
	char requests[KW_ALERT_MAX_REQUESTS][64];
	unsigned nrequests;
	/* The link of each request (as kw_alert_link), malloc'ed, or NULL:
	 * made into "links" only for a message or a save. */
	char *urls[KW_ALERT_MAX_REQUESTS];
	uint64_t sketch[SKETCH_WORDS];
};

#define BARE_SIZE offsetof(struct incident, worst)

struct kw_incidents {
	struct kw_incident_opts o;
	kw_incident_send_fn *send;
	void *ctx;
	bool unheard; /* no one reads the messages: they are only counted */
	bool unkept;  /* nothing saves the open ones (kw_incidents_kept) */
	/* Unheard and unkept, fixed when the first incident opens: then an
	 * entry is only its head, what the counts need (new_head). */
	bool bare;
	struct incident **e;	/* [0, nopen) open, cap allocated */
	struct incident *spare; /* the last one closed, for the next */
	/* A bare table's heads closed, for the next to open (BARE_SIZE
	 * each: some 100 bytes, where a whole entry is 5.6 KB): at most
	 * max_open are ever made, and none is freed before the table. */
	struct incident **heads;
	size_t nheads;
	/* Each open incident's last alert time, at the same place as in e:
	 * finding the quietest to close scans these 8 bytes an incident,
	 * not the 5.6 KB entries (one cache miss each). */
	int64_t *lastv;
	/* lastmin[b]: the least of lastv[b * MIN_RUN .. + MIN_RUN) over the
	 * open ones, so the quietest is found in about 2 * MIN_RUN compares
	 * (a run's minimum, then its place), not one per open incident. */
	int64_t *lastmin;
	/* quietest()'s answer as fetch_quietest found it, until lastv or
	 * lastmin change (-1: not known) */
	int64_t victim;
	size_t cap;
	struct index_slot {
		uint64_t fp; /* the incident's */
		int32_t at;  /* its place in e, -1 when the slot is empty */
	} * index;	     /* nslots */
	size_t nslots;
	size_t nopen;
	int64_t next_deadline; /* no deadline falls before this */
	/* The request being added (same key, same time) and the one entry
	 * whose message waits for its end. */
	bool in_group;
	uint64_t group_fp;
	int64_t group_time;
	int32_t due;
	bool due_digest;
	int64_t due_time;
	struct kw_incident_stats st;
};

const char *kw_incident_event_name(enum kw_incident_event e)
{
	switch (e) {
	case KW_INCIDENT_OPENED:
		return "opened";
	case KW_INCIDENT_CLOSED:
		return "closed";
	default:
		return "updated";
	}
}

static int64_t add_sat(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* ------------------------------------------------------------- the index */

/* A fingerprint's 16 hex digits as a number; anything else hashed. */
static uint64_t fp_value(const char *fp)
{
	uint64_t v = 0, h = 1469598103934665603ull;
	size_t n = 0;

	for (const char *p = fp; *p; p++, n++) {
		int d = *p >= '0' && *p <= '9'	 ? *p - '0'
			: *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
						 : -1;

		h = (h ^ (uint8_t)*p) * 1099511628211ull;
		v = v << 4 | (uint64_t)(d < 0 ? 0 : d);
		if (d < 0)
			n = 99;
	}
	return n == 16 ? v : h;
}

static size_t slot_of(const struct kw_incidents *in, uint64_t fp)
{
	return (size_t)(fp * 0x9e3779b97f4a7c15u >> 20) & (in->nslots - 1);
}

/* The slot holding fp's entry, or the empty slot where it would go. */
static size_t index_find(const struct kw_incidents *in, uint64_t fp)
{
	size_t i = slot_of(in, fp);

	while (in->index[i].at >= 0 && in->index[i].fp != fp)
		i = (i + 1) & (in->nslots - 1);
	return i;
}

/* Backward-shift deletion: no tombstones, probes stay short. */
static void index_remove(struct kw_incidents *in, uint64_t fp)
{
	size_t i = index_find(in, fp), j = i;

	if (in->index[i].at < 0)
		return;
	for (;;) {
		size_t home;

		in->index[i].at = -1;
		for (;;) {
			j = (j + 1) & (in->nslots - 1);
			if (in->index[j].at < 0)
				return;
			home = slot_of(in, in->index[j].fp);
			/* j may move to i when home is not in (i, j]. */
			if (i <= j ? (home <= i || home > j)
				   : (home <= i && home > j))
				break;
		}
		in->index[i] = in->index[j];
		i = j;
	}
}

/* --------------------------------------------------------- the summaries */

/* Space saving: count name in the top list c[0..cap). */
static void count_name(struct counted *c, size_t cap, const char *name,
		       size_t len)
{
	size_t min = 0;

	if (!len)
		return;
	if (len >= NAME_MAX_LEN)
		len = NAME_MAX_LEN - 1;
	for (size_t i = 0; i < cap; i++) {
		if (!c[i].name[0]) {
			memcpy(c[i].name, name, len);
			c[i].name[len] = '\0';
			c[i].n = 1;
			return;
		}
		if (strlen(c[i].name) == len && !memcmp(c[i].name, name, len)) {
			c[i].n++;
			return;
		}
		if (c[i].n < c[min].n)
			min = i;
	}
	memcpy(c[min].name, name, len);
	c[min].name[len] = '\0';
	c[min].n++;
}

static void count_str(struct counted *c, size_t cap, const json_t *v)
{
	if (json_is_string(v))
		count_name(c, cap, json_string_value(v), json_string_length(v));
}

/* Each element of a top list in the evidence ([{"ip": ..}, ...] or
 * ["..", ...]). */
static void count_list(struct counted *c, size_t cap, const json_t *list,
		       const char *field)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
	{
		count_str(c, cap,
			  json_is_object(v) ? json_object_get(v, field) : v);
	}
}

static void sketch_add(uint64_t *sk, const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9u;
	h ^= h >> 32;
	sk[(h >> 6) % SKETCH_WORDS] |= (uint64_t)1 << (h & 63);
}

static void sketch_list(uint64_t *sk, const json_t *list, const char *field)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
	{
		const json_t *s =
			json_is_object(v) ? json_object_get(v, field) : v;

		if (json_is_string(s))
			sketch_add(sk, json_string_value(s),
				   json_string_length(s));
	}
}

/* Linear counting: m ln(m / zero bits). */
static uint32_t sketch_count(const uint64_t *sk)
{
	unsigned set = 0;
	const double m = SKETCH_WORDS * 64;

	for (size_t i = 0; i < SKETCH_WORDS; i++)
		set += (unsigned)__builtin_popcountll(sk[i]);
	if (set >= m)
		return (uint32_t)(m * log(m));
	return (uint32_t)(m * log(m / (m - set)) + 0.5);
}

/* What one alert adds to its incident's lists; false when memory ran out
 * and a request's link was not kept. */
static bool note_facts(const struct kw_incidents *in, struct incident *e,
		       const struct kw_alert *a)
{
	bool ok = true;

	/* Lists are only in an alert whose parts are trees (a flat one has
	 * none: a->evidence is NULL). */
	const json_t *ev = a->evidence;
	size_t n = 0;
	const char *s;

	if (in->bare)
		return true;
	s = kw_alert_evidence_text(a, "ip", &n);
	count_name(e->detectors, KW_INCIDENT_DETECTORS, a->detector,
		   strlen(a->detector));
	if (s) {
		count_name(e->ips, KW_INCIDENT_TOP, s, n);
		sketch_add(e->sketch, s, n);
	}
	count_list(e->ips, KW_INCIDENT_TOP, json_object_get(ev, "top_ips"),
		   "ip");
	sketch_list(e->sketch, json_object_get(ev, "top_ips"), "ip");
	s = kw_alert_evidence_text(a, "country", &n);
	if (s)
		count_name(e->countries, KW_INCIDENT_COUNTRIES, s, n);
	s = kw_alert_evidence_text(a, "op", &n);
	if (s)
		count_name(e->ops, KW_INCIDENT_TOP, s, n);
	count_list(e->ops, KW_INCIDENT_TOP, json_object_get(ev, "top_ops"),
		   "op");
	for (unsigned i = 0; i < a->nrequests; i++) {
		unsigned j;

		for (j = 0; j < e->nrequests; j++) {
			if (!strcmp(e->requests[j], a->requests[i]))
				break;
		}
		if (j == e->nrequests && j < KW_ALERT_MAX_REQUESTS) {
			const char *url = kw_alert_link(a, a->requests[i]);

			memcpy(e->requests[e->nrequests++], a->requests[i],
			       sizeof(e->requests[0]));
			if (url && !(e->urls[j] = strdup(url)))
				ok = false;
		}
	}
	memcpy(e->latest, a->id, sizeof(e->latest));
	return ok;
}

/* The incident's worst alert becomes a: its trees are shared, not copied
 * (the router changes none of them once the alert is routed, and the
 * messages built from the worst share them in turn). */
static void set_worst(const struct kw_incidents *in, struct incident *e,
		      const struct kw_alert *a)
{
	size_t n;

	e->sev = (uint8_t)a->severity;
	if (in->bare)
		return;
	kw_alert_clear(&e->worst);
	kw_alert_share(&e->worst, a);
	json_decref(e->worst.update);
	e->worst.update = NULL;
	n = strnlen(a->detector, sizeof(e->worst_detector) - 1);
	memcpy(e->worst_detector, a->detector, n);
	e->worst_detector[n] = '\0';
	e->worst.detector = e->worst_detector;
}

/* The links of e's requests ([{"request", "url"}, ...], as kw_alert
 * holds them): a new array, NULL when there is none or memory ran out
 * (*ok false). */
static json_t *links_json(const struct incident *e, bool *ok)
{
	json_t *links = NULL;

	for (unsigned j = 0; j < e->nrequests; j++) {
		json_t *l;

		if (!e->urls[j])
			continue;
		if (!links)
			links = json_array();
		l = json_pack("{s:s,s:s}", "request", e->requests[j], "url",
			      e->urls[j]);
		if (!links || json_array_append_new(links, l) != 0) {
			json_decref(links);
			*ok = false;
			return NULL;
		}
	}
	return links;
}

/* What entry e owns, freed. */
static void entry_free(struct incident *e)
{
	kw_alert_clear(&e->worst);
	for (unsigned j = 0; j < KW_ALERT_MAX_REQUESTS; j++) {
		free(e->urls[j]);
		e->urls[j] = NULL;
	}
}

/* Memory ran out and incident e (NULL: the alert a's) lost what is
 * named: said, and counted (scan's exit status is 3). */
static void lost(struct kw_incidents *in, const struct incident *e,
		 const struct kw_alert *a, const char *what)
{
	kw_log_error("incident", "out of memory: %s %s %s",
		     e ? "incident" : "alert", e ? e->id : a->id, what);
	in->st.oom++;
}

/* ------------------------------------------------------------ messages */

static int by_count(const void *x, const void *y)
{
	const struct counted *a = x, *b = y;

	if (a->n != b->n)
		return a->n < b->n ? 1 : -1;
	return strcmp(a->name, b->name);
}

/* The list as [{field: name, "alerts": n}], most counted first. */
static json_t *top_json(const struct counted *c, size_t cap, const char *field)
{
	struct counted sorted[KW_INCIDENT_COUNTRIES];
	json_t *arr = json_array();
	size_t n = 0;

	for (size_t i = 0; i < cap && c[i].name[0]; i++)
		sorted[n++] = c[i];
	qsort(sorted, n, sizeof(sorted[0]), by_count);
	for (size_t i = 0; arr && i < n; i++) {
		if (json_array_append_new(
			    arr, json_pack("{s:s,s:i}", field, sorted[i].name,
					   "alerts", (int)sorted[i].n)) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *detectors_json(const struct incident *e)
{
	struct counted sorted[KW_INCIDENT_DETECTORS];
	json_t *o = json_object();
	size_t n = 0;

	for (size_t i = 0; i < KW_INCIDENT_DETECTORS && e->detectors[i].name[0];
	     i++)
		sorted[n++] = e->detectors[i];
	qsort(sorted, n, sizeof(sorted[0]), by_count);
	for (size_t i = 0; o && i < n; i++) {
		if (json_object_set_new(o, sorted[i].name,
					json_integer(sorted[i].n)) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* o[name] = v (stolen); *ok turns false when it cannot be stored. */
static void set(json_t *o, const char *name, json_t *v, bool *ok)
{
	if (json_object_set_new(o, name, v) != 0)
		*ok = false;
}

static void set_time(json_t *o, const char *name, int64_t us, bool *ok)
{
	char t[32];

	set(o, name, json_string(kw_time_format(us, t, sizeof(t))), ok);
}

/* The message's fields beyond the alert's; NULL when out of memory (a
 * message is sent whole or not at all). */
static json_t *update_json(const struct incident *e, enum kw_incident_event ev,
			   int64_t time)
{
	json_t *u = json_object();
	uint32_t nips = sketch_count(e->sketch);
	bool ok = true;

	if (!u)
		return NULL;
	set(u, "event", json_string(kw_incident_event_name(ev)), &ok);
	set_time(u, "opened", e->opened, &ok);
	set_time(u, "last_alert", e->last, &ok);
	if (ev == KW_INCIDENT_CLOSED)
		set_time(u, "closed", time, &ok);
	set(u, "alerts", json_integer(e->alerts), &ok);
	set(u, "new_alerts", json_integer(e->alerts - e->told_alerts), &ok);
	set(u, "message", json_integer(e->messages + 1), &ok);
	set(u, "detectors", detectors_json(e), &ok);
	set(u, "ip_count", json_integer(nips), &ok);
	set(u, "ips", top_json(e->ips, KW_INCIDENT_TOP, "ip"), &ok);
	set(u, "countries",
	    top_json(e->countries, KW_INCIDENT_COUNTRIES, "country"), &ok);
	set(u, "operations", top_json(e->ops, KW_INCIDENT_TOP, "op"), &ok);
	set(u, "latest_alert", json_string(e->latest), &ok);
	set(u, "alert", kw_alert_to_object(&e->worst), &ok);
	if (!ok) {
		json_decref(u);
		return NULL;
	}
	return u;
}

/* Tell the router; the incident's "told up to" marks move on. */
static void send(struct kw_incidents *in, struct incident *e,
		 enum kw_incident_event ev, int64_t time)
{
	struct kw_alert m;
	struct kw_incident_msg im = {.event = ev, .msg = &m, .told = &e->told};
	bool news = e->alerts > e->told_alerts;
	bool ok = true;

	if (in->unheard || in->bare)
		goto counted;
	memset(&m, 0, sizeof(m));
	memcpy(m.id, e->id, sizeof(m.id));
	memcpy(m.incident, e->id, sizeof(m.incident));
	m.time = time;
	m.detector = e->worst_detector;
	m.severity = e->worst.severity;
	m.key = e->worst.key;
	memcpy(m.summary, e->worst.summary, sizeof(m.summary));
	for (unsigned i = 0; i < e->nrequests; i++)
		memcpy(m.requests[i], e->requests[i], sizeof(m.requests[0]));
	m.nrequests = e->nrequests;
	m.evidence = kw_alert_tree(&e->worst, KW_ALERT_EVIDENCE);
	m.suppress = kw_alert_tree(&e->worst, KW_ALERT_SUPPRESS);
	m.links = links_json(e, &ok);
	memcpy(m.runbook, e->worst.runbook, sizeof(m.runbook));
	m.update = update_json(e, ev, time);
	if (m.evidence && m.suppress && m.update && ok)
		in->send(in->ctx, &im);
	else
		lost(in, e, NULL, "not told: this message is lost");
	kw_alert_clear(&m);
counted:
	in->st.messages++;
	e->last_msg = time;
	e->told_alerts = e->alerts;
	/* A closing message without news reaches a person only as a
	 * resolution (sinks decide); it is not counted as one more. */
	if (ev != KW_INCIDENT_CLOSED || news)
		e->messages++;
	if (e->messages > in->st.most_messages)
		in->st.most_messages = e->messages;
}

static int64_t deadline(const struct kw_incidents *in, const struct incident *e)
{
	int64_t close = add_sat(e->last, in->o.close_after);
	int64_t digest = add_sat(e->last_msg, e->interval);

	return e->alerts > e->told_alerts && digest < close ? digest : close;
}

static void note_deadline(struct kw_incidents *in, const struct incident *e)
{
	int64_t d = deadline(in, e);

	if (d < in->next_deadline)
		in->next_deadline = d;
}

/* The message waiting for the end of its request goes out. */
static void flush_due(struct kw_incidents *in)
{
	struct incident *e;

	if (in->due < 0)
		return;
	e = in->e[in->due];
	in->due = -1;
	send(in, e, e->messages ? KW_INCIDENT_UPDATED : KW_INCIDENT_OPENED,
	     in->due_time);
	if (in->due_digest) {
		e->interval = e->interval > in->o.digest_max / 2
				      ? in->o.digest_max
				      : e->interval * 2;
	}
	note_deadline(in, e);
}

static void mark_due(struct kw_incidents *in, struct incident *e, bool digest,
		     int64_t time)
{
	int32_t i = (int32_t)e->at;

	if (in->due >= 0 && in->due != i)
		flush_due(in);
	if (in->due == i) {
		in->due_digest = in->due_digest && digest;
	} else {
		in->due = i;
		in->due_digest = digest;
	}
	in->due_time = time;
}

/* ------------------------------------------------------- open and close */

/* Open incidents a minimum of lastmin covers. */
#define MIN_RUN 64

/* lastmin of run b from its open places (INT64_MAX when none is open). */
static void min_redo(struct kw_incidents *in, size_t b)
{
	size_t lo = b * MIN_RUN, hi = lo + MIN_RUN;
	int64_t m = INT64_MAX;

	if (hi > in->nopen)
		hi = in->nopen;
	for (size_t i = lo; i < hi; i++) {
		if (in->lastv[i] < m)
			m = in->lastv[i];
	}
	in->lastmin[b] = m;
	in->victim = -1;
}

/* The last alert time of the incident about to open at place nopen. */
static void push_last(struct kw_incidents *in, int64_t t)
{
	size_t i = in->nopen, b = i / MIN_RUN;

	in->victim = -1;
	in->lastv[i] = t;
	if (i % MIN_RUN == 0 || t < in->lastmin[b])
		in->lastmin[b] = t;
}

/* The open incident at place i had an alert at t, later than its last. */
static void set_last(struct kw_incidents *in, size_t i, int64_t t)
{
	size_t b = i / MIN_RUN;
	int64_t was = in->lastv[i];

	in->victim = -1;
	in->lastv[i] = t;
	if (t <= in->lastmin[b])
		in->lastmin[b] = t;
	else if (was == in->lastmin[b])
		min_redo(in, b);
}

/* An entry no longer open: kept as the spare, or freed. A bare entry is
 * only its head (owning nothing): kept for the next. */
static void release(struct kw_incidents *in, struct incident *e)
{
	if (in->bare) {
		in->heads[in->nheads++] = e;
		return;
	}
	entry_free(e);
	if (in->spare)
		free(e);
	else
		in->spare = e;
}

/* Close the incident at place i; the last one takes its place. */
static void close_entry(struct kw_incidents *in, struct incident *e,
			int64_t time)
{
	size_t i = e->at, last = in->nopen - 1;

	if (in->due == (int32_t)i)
		flush_due(in);
	send(in, e, KW_INCIDENT_CLOSED, time);
	in->st.closed++;
	index_remove(in, e->fp);
	if (i != last) {
		struct incident *moved = in->e[last];

		in->e[i] = moved;
		moved->at = (uint32_t)i;
		in->lastv[i] = in->lastv[last];
		in->index[index_find(in, moved->fp)].at = (int32_t)i;
		if (in->due == (int32_t)last)
			in->due = (int32_t)i;
	}
	in->e[last] = NULL;
	release(in, e);
	in->nopen--;
	min_redo(in, i / MIN_RUN);
	if (last / MIN_RUN != i / MIN_RUN)
		min_redo(in, last / MIN_RUN);
}

/* The place of the incident quiet the longest (the first of them in place
 * order: the first run holding the least time, then the first place in it
 * with that time); some are open. */
static size_t quietest(const struct kw_incidents *in)
{
	size_t at, b = 0, nruns = (in->nopen + MIN_RUN - 1) / MIN_RUN;

	for (size_t k = 1; k < nruns; k++) {
		if (in->lastmin[k] < in->lastmin[b])
			b = k;
	}
	for (at = b * MIN_RUN; in->lastv[at] != in->lastmin[b]; at++)
		;
	return at;
}

/* With every place taken, the next incident to open closes the quietest:
 * its entry, long untouched, is fetched now, while the alert is still
 * being handled, instead of waited for then (the lines close_entry and
 * entry_free read, and those of the entry that takes its place). A hint
 * only: an alert in between may make another the quietest. */
static void fetch_quietest(struct kw_incidents *in)
{
	const struct incident *e;

	if (in->nopen < in->o.max_open || !in->nopen)
		return;
	if (in->victim < 0)
		in->victim = (int64_t)quietest(in);
	e = in->e[in->victim];
	__builtin_prefetch(e);
	__builtin_prefetch(&e->told);
	__builtin_prefetch(in->e[in->nopen - 1]);
	if (in->bare)
		return;
	__builtin_prefetch(&e->worst.evidence);
	__builtin_prefetch(&e->worst.links);
	__builtin_prefetch(&e->urls[0]);
	__builtin_prefetch(&e->urls[KW_ALERT_MAX_REQUESTS - 1]);
}

/* Room for one more: close the incident quiet the longest. */
static void evict(struct kw_incidents *in, int64_t now)
{
	struct incident *oldest;
	size_t at;

	if (!in->nopen)
		return;
	at = in->victim >= 0 ? (size_t)in->victim : quietest(in);
	oldest = in->e[at];
	if (!in->st.evicted++)
		kw_log_warn("incident",
			    "more than %zu incidents open at once; closing "
			    "the quietest early (incidents.max_open)",
			    in->o.max_open);
	/* lastv[at] is oldest->last, without a read of the (cold) entry */
	close_entry(in, oldest, now > in->lastv[at] ? now : in->lastv[at]);
}

/* Every byte of e zeroed but its worst alert's (some 2.8 KB of the 5.6),
 * which is only made safe to clear (kw_alert_forget): whoever places an
 * entry writes every member of its worst before anything reads it. */
static void clear_but_worst(struct incident *e)
{
	char *p = (char *)e;
	size_t at = offsetof(struct incident, worst);
	size_t end = at + sizeof(e->worst);

	memset(p, 0, at);
	memset(p + end, 0, sizeof(*e) - end);
	kw_alert_forget(&e->worst);
}

/* A head for a bare table, zeroed; NULL when out of memory. The heads
 * come back by release(), so a table makes at most max_open. */
static struct incident *new_head(struct kw_incidents *in)
{
	struct incident *e;

	if (!in->heads) {
		in->heads = malloc(in->o.max_open * sizeof(*in->heads));
		if (!in->heads)
			return NULL;
	}
	e = in->nheads ? in->heads[--in->nheads] : malloc(BARE_SIZE);
	if (e)
		memset(e, 0, BARE_SIZE);
	return e;
}

/* A place for one more open incident, or NULL when out of memory. The
 * entry is zeroed but for its worst alert, every member of which the
 * caller must write before it is read: open_entry (set_worst, by
 * kw_alert_move) and kw_incidents_load (entry_load, by
 * kw_alert_from_object, which zeroes it first) do. Until then the worst owns
 * nothing, so an entry given back unopened (unplace) clears it safely. A
 * bare table's entry is a head, zeroed (new_head). */
static struct incident *next_place(struct kw_incidents *in, int64_t now)
{
	struct incident *e;

	if (in->nopen == in->o.max_open)
		evict(in, now);
	if (in->nopen == in->cap) {
		size_t cap = in->cap ? in->cap * 2 : 16;

		if (cap > in->o.max_open)
			cap = in->o.max_open;
		int64_t *lastv = realloc(in->lastv, cap * sizeof(*lastv));

		if (!lastv)
			return NULL;
		in->lastv = lastv;
		int64_t *lastmin =
			realloc(in->lastmin, (cap + MIN_RUN - 1) / MIN_RUN *
						     sizeof(*lastmin));

		if (!lastmin)
			return NULL;
		in->lastmin = lastmin;
		struct incident **v = realloc(in->e, cap * sizeof(*v));

		if (!v)
			return NULL;
		in->e = v;
		in->cap = cap;
	}
	if (in->bare) {
		e = new_head(in);
		if (!e)
			return NULL;
	} else {
		e = in->spare ? in->spare : malloc(sizeof(*e));
		if (!e)
			return NULL;
		in->spare = NULL;
		clear_but_worst(e);
	}
	e->at = (uint32_t)in->nopen;
	in->e[in->nopen] = e;
	return e;
}

/* The entry next_place gave, not opened after all. */
static void unplace(struct kw_incidents *in, struct incident *e)
{
	in->e[e->at] = NULL;
	release(in, e);
}

/* v in decimal, as "%" PRId64 writes it, into out (21 bytes or more):
 * printf's machinery costs more than the id's hash around it. */
static void decimal(char *out, int64_t v)
{
	char buf[24];
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	size_t n = 0;

	do {
		buf[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*out++ = '-';
	while (n)
		*out++ = buf[--n];
	*out = '\0';
}

static struct incident *open_entry(struct kw_incidents *in, uint64_t fp,
				   const struct kw_alert *a)
{
	char t[32];
	const char *parts[3] = {a->key.fp, a->id, t};
	struct incident *e = next_place(in, a->time);

	if (!e) {
		lost(in, NULL, a, "joins no incident");
		return NULL;
	}
	set_worst(in, e, a);
	e->fp = fp;
	/* An unread alert's incident is not named: nothing shows its id. */
	if (!a->unread) {
		decimal(t, a->time);
		kw_alert_make_id(e->id, "kwi_", parts, 3);
	}
	e->opened = e->last = e->last_msg = a->time;
	push_last(in, a->time);
	e->interval = in->o.digest;
	in->index[index_find(in, fp)] =
		(struct index_slot){fp, (int32_t)in->nopen};
	in->nopen++;
	in->st.opened++;
	return e;
}

/* ------------------------------------------------------------------ API */

enum kw_status kw_incidents_create(const struct kw_incident_opts *o,
				   kw_incident_send_fn *send_fn, void *ctx,
				   struct kw_incidents **out)
{
	struct kw_incidents *in = calloc(1, sizeof(*in));
	size_t max = o->max_open ? o->max_open : KW_INCIDENT_MAX_OPEN;

	*out = NULL;
	if (!in)
		return KW_ENOMEM;
	in->o = *o;
	in->o.max_open = max;
	in->victim = -1;
	if (in->o.digest <= 0)
		in->o.digest = 1;
	if (in->o.digest_max < in->o.digest)
		in->o.digest_max = in->o.digest;
	in->send = send_fn;
	in->ctx = ctx;
	in->due = -1;
	in->next_deadline = INT64_MAX;
	for (in->nslots = 16; in->nslots < 2 * max; in->nslots *= 2)
		;
	in->index = malloc(in->nslots * sizeof(*in->index));
	if (!in->index) {
		kw_incidents_destroy(in);
		return KW_ENOMEM;
	}
	memset(in->index, 0xff, in->nslots * sizeof(*in->index));
	*out = in;
	return KW_OK;
}

/* An entry's form follows the mode the table had when its first incident
 * opened: one bare entry cannot become whole. */
static void settle_mode(struct kw_incidents *in)
{
	if (!in->st.opened && !in->nopen)
		in->bare = in->unheard && in->unkept;
}

void kw_incidents_listened(struct kw_incidents *in, bool listened)
{
	in->unheard = !listened;
	settle_mode(in);
}

void kw_incidents_kept(struct kw_incidents *in, bool kept)
{
	in->unkept = !kept;
	settle_mode(in);
}

void kw_incidents_add(struct kw_incidents *in, struct kw_alert *a)
{
	uint64_t fp = fp_value(a->key.fp);
	size_t slot;
	struct incident *e = NULL;

	if (in->in_group && (fp != in->group_fp || a->time != in->group_time))
		flush_due(in);
	in->in_group = true;
	in->group_fp = fp;
	in->group_time = a->time;
	slot = index_find(in, fp);
	if (in->index[slot].at >= 0) {
		e = in->e[in->index[slot].at];
		/* Quiet for close_after, but no tick said so yet. */
		if (a->time - e->last >= in->o.close_after) {
			close_entry(in, e, add_sat(e->last, in->o.close_after));
			e = NULL;
		}
	}
	if (!e) {
		e = open_entry(in, fp, a);
		if (!e)
			return;
		if (!note_facts(in, e, a))
			lost(in, e, a, "lacks a request's link");
		e->alerts = 1;
		mark_due(in, e, false, a->time);
	} else {
		if (!note_facts(in, e, a))
			lost(in, e, a, "lacks a request's link");
		e->alerts++;
		in->st.joined++;
		if (a->time > e->last) {
			e->last = a->time;
			set_last(in, e->at, a->time);
		}
		if ((uint8_t)a->severity > e->sev) {
			set_worst(in, e, a);
			mark_due(in, e, false, a->time);
		} else if (e->messages && in->due != (int32_t)e->at &&
			   a->time - e->last_msg >= e->interval) {
			mark_due(in, e, true, a->time);
		}
	}
	if (e->alerts > in->st.most_alerts)
		in->st.most_alerts = e->alerts;
	memcpy(a->incident, e->id, sizeof(a->incident));
	note_deadline(in, e);
	fetch_quietest(in);
}

void kw_incidents_tick(struct kw_incidents *in, int64_t watermark)
{
	int64_t next = INT64_MAX;

	flush_due(in);
	in->in_group = false;
	if (watermark < in->next_deadline)
		return;
	for (size_t i = 0; i < in->nopen;) {
		struct incident *e = in->e[i];
		int64_t due;

		due = add_sat(e->last, in->o.close_after);
		if (watermark >= due) {
			close_entry(in, e, due); /* the last one is now at i */
			continue;
		}
		i++;
		due = add_sat(e->last_msg, e->interval);
		if (e->alerts > e->told_alerts && watermark >= due) {
			send(in, e, KW_INCIDENT_UPDATED, due);
			e->interval = e->interval > in->o.digest_max / 2
					      ? in->o.digest_max
					      : e->interval * 2;
		}
		due = deadline(in, e);
		if (due < next)
			next = due;
	}
	in->next_deadline = next;
}

void kw_incidents_drain(struct kw_incidents *in)
{
	flush_due(in);
	in->in_group = false;
	for (size_t i = 0; i < in->nopen; i++) {
		struct incident *e = in->e[i];

		if (e->alerts > e->told_alerts)
			send(in, e, KW_INCIDENT_UPDATED, e->last);
	}
}

size_t kw_incidents_open(const struct kw_incidents *in)
{
	return in->nopen;
}

const struct kw_incident_stats *
kw_incidents_stats(const struct kw_incidents *in)
{
	return &in->st;
}

void kw_incidents_destroy(struct kw_incidents *in)
{
	if (!in)
		return;
	for (size_t i = 0; i < in->nopen; i++) {
		if (!in->bare)
			entry_free(in->e[i]);
		free(in->e[i]);
	}
	for (size_t i = 0; i < in->nheads; i++)
		free(in->heads[i]);
	free(in->heads);
	free(in->spare);
	free(in->e);
	free(in->lastv);
	free(in->lastmin);
	free(in->index);
	free(in);
}

/* ------------------------------------------------------------ save, load */

/* Saving is all or nothing: NULL when out of memory. */
static json_t *counted_json(const struct counted *c, size_t cap)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < cap && c[i].name[0]; i++) {
		if (json_array_append_new(arr, json_pack("[s,i]", c[i].name,
							 (json_int_t)c[i].n))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* Append a string; on failure *arr is freed and set to NULL. */
static void append_str(json_t **arr, const char *s)
{
	if (*arr && json_array_append_new(*arr, json_string(s)) != 0) {
		json_decref(*arr);
		*arr = NULL;
	}
}

static json_t *entry_json(const struct incident *e)
{
	json_t *reqs = json_array(), *sk = json_array();
	json_t *o, *links;
	bool ok = true;

	for (unsigned i = 0; i < e->nrequests; i++)
		append_str(&reqs, e->requests[i]);
	for (size_t i = 0; i < SKETCH_WORDS; i++) {
		char hex[17];

		snprintf(hex, sizeof(hex), "%016" PRIx64, e->sketch[i]);
		append_str(&sk, hex);
	}
	o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:o,s:o,s:o,"
		      "s:o,s:o,s:o,s:o}",
		      "id", e->id, "opened", (json_int_t)e->opened, "last",
		      (json_int_t)e->last, "last_msg", (json_int_t)e->last_msg,
		      "interval", (json_int_t)e->interval, "alerts",
		      (json_int_t)e->alerts, "told_alerts",
		      (json_int_t)e->told_alerts, "messages",
		      (json_int_t)e->messages, "told", (json_int_t)e->told,
		      "latest", e->latest, "detectors",
		      counted_json(e->detectors, KW_INCIDENT_DETECTORS), "ips",
		      counted_json(e->ips, KW_INCIDENT_TOP), "countries",
		      counted_json(e->countries, KW_INCIDENT_COUNTRIES), "ops",
		      counted_json(e->ops, KW_INCIDENT_TOP), "requests", reqs,
		      "sketch", sk, "worst", kw_alert_to_object(&e->worst));
	links = o ? links_json(e, &ok) : NULL;
	if (!ok || (links && json_object_set_new(o, "links", links) != 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *kw_incidents_save(const struct kw_incidents *in)
{
	json_t *arr = json_array();

	/* A bare table's entries hold only counts: nothing to continue. */
	for (size_t i = 0; arr && !in->bare && i < in->nopen; i++) {
		json_t *o = entry_json(in->e[i]);

		if (!o || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static bool counted_load(struct counted *c, size_t cap, const json_t *arr)
{
	size_t i;
	json_t *v;

	if (!json_is_array(arr) || json_array_size(arr) > cap)
		return false;
	json_array_foreach(arr, i, v)
	{
		const char *name = json_string_value(json_array_get(v, 0));
		json_int_t n = json_integer_value(json_array_get(v, 1));

		if (!name || !name[0] || strlen(name) >= NAME_MAX_LEN ||
		    n < 1 || n > UINT32_MAX)
			return false;
		snprintf(c[i].name, sizeof(c[i].name), "%s", name);
		c[i].n = (uint32_t)n;
	}
	return true;
}

static bool get_i64(const json_t *o, const char *k, int64_t min, int64_t max,
		    int64_t *out)
{
	const json_t *v = json_object_get(o, k);

	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return false;
	*out = json_integer_value(v);
	return true;
}

/* A saved "links" array into e->urls: each link is of one of e's
 * requests (loaded before), once. */
static enum kw_status links_load(struct incident *e, const json_t *l)
{
	size_t i;
	json_t *x;

	json_array_foreach(l, i, x)
	{
		const char *rid =
			json_string_value(json_object_get(x, "request"));
		const char *url = json_string_value(json_object_get(x, "url"));
		unsigned j;

		for (j = 0; rid && j < e->nrequests; j++) {
			if (!strcmp(e->requests[j], rid))
				break;
		}
		if (!rid || !url || j == e->nrequests || e->urls[j])
			return KW_EINVAL;
		e->urls[j] = strdup(url);
		if (!e->urls[j])
			return KW_ENOMEM;
	}
	return KW_OK;
}

/* KW_EINVAL when o is not a saved incident, KW_ENOMEM when memory ran
 * out. e is as next_place gave it: its worst is written whole here, by
 * kw_alert_from_object (which zeroes it first), and read only after. */
static enum kw_status entry_load(struct incident *e, const json_t *o)
{
	int64_t v[5];
	const json_t *reqs = json_object_get(o, "requests");
	const json_t *sk = json_object_get(o, "sketch");
	const char *id = json_string_value(json_object_get(o, "id"));
	const char *latest = json_string_value(json_object_get(o, "latest"));
	enum kw_status st;
	size_t i;
	json_t *r;

	if (!id || strlen(id) != KW_ALERT_ID_LEN || strncmp(id, "kwi_", 4) ||
	    !latest || strlen(latest) > KW_ALERT_ID_LEN ||
	    !get_i64(o, "opened", INT64_MIN, INT64_MAX, &e->opened) ||
	    !get_i64(o, "last", e->opened, INT64_MAX, &e->last) ||
	    !get_i64(o, "last_msg", INT64_MIN, INT64_MAX, &e->last_msg) ||
	    !get_i64(o, "interval", 1, INT64_MAX, &e->interval) ||
	    !get_i64(o, "alerts", 1, UINT32_MAX, &v[0]) ||
	    !get_i64(o, "told_alerts", 0, v[0], &v[1]) ||
	    !get_i64(o, "messages", 0, UINT32_MAX, &v[2]) ||
	    !get_i64(o, "told", INT64_MIN, INT64_MAX, &v[3]) ||
	    !counted_load(e->detectors, KW_INCIDENT_DETECTORS,
			  json_object_get(o, "detectors")) ||
	    !counted_load(e->ips, KW_INCIDENT_TOP, json_object_get(o, "ips")) ||
	    !counted_load(e->countries, KW_INCIDENT_COUNTRIES,
			  json_object_get(o, "countries")) ||
	    !counted_load(e->ops, KW_INCIDENT_TOP, json_object_get(o, "ops")) ||
	    !json_is_array(reqs) ||
	    json_array_size(reqs) > KW_ALERT_MAX_REQUESTS ||
	    json_array_size(sk) != SKETCH_WORDS)
		return KW_EINVAL;
	memcpy(e->id, id, KW_ALERT_ID_LEN + 1);
	snprintf(e->latest, sizeof(e->latest), "%s", latest);
	e->alerts = (uint32_t)v[0];
	e->told_alerts = (uint32_t)v[1];
	e->messages = (uint32_t)v[2];
	e->told = (uint64_t)v[3];
	json_array_foreach(reqs, i, r)
	{
		const char *s = json_string_value(r);

		if (!s || strlen(s) >= sizeof(e->requests[0]))
			return KW_EINVAL;
		snprintf(e->requests[e->nrequests++], sizeof(e->requests[0]),
			 "%s", s);
	}
	for (i = 0; i < SKETCH_WORDS; i++) {
		const char *s = json_string_value(json_array_get(sk, i));
		char *end;

		if (!s || strlen(s) != 16)
			return KW_EINVAL;
		e->sketch[i] = strtoull(s, &end, 16);
		if (*end)
			return KW_EINVAL;
	}
	if (json_object_get(o, "links")) {
		const json_t *l = json_object_get(o, "links");

		if (!json_is_array(l) ||
		    json_array_size(l) > KW_ALERT_MAX_REQUESTS)
			return KW_EINVAL;
		st = links_load(e, l);
		if (st != KW_OK)
			return st;
	}
	st = kw_alert_from_object(json_object_get(o, "worst"), &e->worst,
				  e->worst_detector, sizeof(e->worst_detector));
	if (st == KW_ENOMEM)
		return st;
	if (st != KW_OK || e->worst.update || strlen(e->worst.key.fp) != 16)
		return KW_EINVAL;
	e->fp = fp_value(e->worst.key.fp);
	e->sev = (uint8_t)e->worst.severity;
	return KW_OK;
}

enum kw_status kw_incidents_load(struct kw_incidents *in, const json_t *saved,
				 struct kw_error *err)
{
	enum kw_status st;
	size_t i;
	json_t *o;

	if (!json_is_array(saved))
		return kw_error_set(err, KW_EINVAL,
				    "incidents: expected an array");
	memset(in->index, 0xff, in->nslots * sizeof(*in->index));
	for (i = 0; i < in->nopen; i++) {
		release(in, in->e[i]);
		in->e[i] = NULL;
	}
	/* What is loaded is kept: its entries are whole from now on. */
	for (i = 0; i < in->nheads; i++)
		free(in->heads[i]);
	in->nheads = 0;
	in->unkept = false;
	in->bare = false;
	in->nopen = 0;
	in->victim = -1;
	in->due = -1;
	in->in_group = false;
	in->next_deadline = INT64_MAX;
	json_array_foreach(saved, i, o)
	{
		struct incident *e;
		const char *bad;
		size_t slot;

		if (in->nopen == in->o.max_open)
			return kw_error_set(err, KW_ETOOBIG,
					    "incidents: more than max_open "
					    "(%zu) saved",
					    in->o.max_open);
		e = next_place(in, 0);
		if (!e)
			return kw_error_set(err, KW_ENOMEM, "out of memory");
		st = entry_load(e, o);
		bad = st == KW_ENOMEM ? "out of memory"
		      : st != KW_OK   ? "not a saved incident"
				      : NULL;
		slot = bad ? 0 : index_find(in, e->fp);
		if (!bad && in->index[slot].at >= 0)
			bad = "a second incident for one key";
		if (bad) {
			unplace(in, e);
			return kw_error_set(
				err, st == KW_ENOMEM ? KW_ENOMEM : KW_EINVAL,
				"incidents[%zu]: %s", i, bad);
		}
		in->index[slot] =
			(struct index_slot){e->fp, (int32_t)in->nopen};
		push_last(in, e->last);
		in->nopen++;
		note_deadline(in, e);
	}
	return KW_OK;
}
