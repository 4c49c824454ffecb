/*
 * memory.c - what the router remembers, kept across a reload, a restart
 * and a kill -9: the dedup table (which alert ids went out, when, and how
 * many repeats were folded since) and each sink's rate-limit window (its
 * start, what was sent in it and what it holds for the digest).
 *
 * The one idea: the memory is a small JSON document that the engine keeps
 * in the --state file beside the learned state (so `watch` checkpoints it
 * every checkpoint_interval and `scan --state` carries it from one scan to
 * the next), the journal of alerts passed since the last checkpoint
 * brings it up to date after a kill -9 (kw_router_memory_note), and a
 * reload hands it from the old router to the new one in memory. Windows
 * are kept under the sink's identity (sink.h), never its position, so
 * they follow a sink when sinks are added or reordered.
 *
 *   {"keywatch_router": 1,
 *    "dedup": [["kwa_0123456789abcdef", LAST_US, REPEATS], ...],
 *    "rate": [{"sink": "pager", "start": US, "sent": N, "held": N,
 *              "first": US, "last": US, "worst": "high",
 *              "detectors": {"geo.new_ip": N}, "keys": ["sk_live_…4242"]}],
 *    "incidents": [{"id": "kwi_…", ..., "told": ["pager", ...]}]}
 *
 * "incidents" is the open incident table (alert/incident.h saves and
 * checks each entry), with the sinks each incident was told of by
 * identity, so an incident goes on after a restart without opening again
 * for the sinks that already heard of it.
 *
 * Everything read back is checked against its bound before use: at most
 * DEDUP_SLOTS / 2 ids of the right form, times within event time's range,
 * counts within their types, at most KW_SINK_DIGEST_DETECTORS detectors
 * and KW_SINK_DIGEST_KEYS keys of bounded length per window.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/router_impl.h"
#include "core/json_dump.h"
#include "core/log.h"
#include "core/time.h"

#define MEMORY_VERSION 1

/* Remember that id went out at time last with repeats folded since: the
 * newer of what the table has and this. */
static void remember(struct kw_router *r, uint64_t id, int64_t last,
		     uint32_t repeats)
{
	struct kw_router_dedup *s = kw_router_dedup_find(r, id);

	if (last > r->newest)
		r->newest = last;
	if (s->id) {
		if (last > s->last) {
			s->last = last;
			s->repeats = repeats;
		} else if (last == s->last && repeats > s->repeats) {
			s->repeats = repeats;
		}
		return;
	}
	s->id = id;
	s->last = last;
	s->repeats = repeats;
	if (++r->dedup_used > DEDUP_SLOTS / 2)
		kw_router_dedup_compact(r);
}

/* ------------------------------------------------------------ saving */

static json_t *save_rate(const struct kw_sink *k)
{
	const struct kw_sink_rate *rt = &k->rate;
	json_t *o, *by = json_object(), *keys = json_array();
	bool ok = by && keys;

	for (size_t d = 0; ok && d < rt->ndetectors; d++)
		ok = json_object_set_new(
			     by, rt->by_detector[d].detector,
			     json_integer(
				     (json_int_t)rt->by_detector[d].count)) ==
		     0;
	for (size_t n = 0; ok && n < rt->nkeys; n++)
		ok = json_array_append_new(keys, json_string(rt->keys[n])) == 0;
	if (!ok) {
		json_decref(by);
		json_decref(keys);
		return NULL;
	}
	o = json_pack(
		"{s:s,s:I,s:I,s:I,s:I,s:I,s:s,s:o,s:o}", "sink", k->id, "start",
		(json_int_t)rt->start, "sent", (json_int_t)rt->sent, "held",
		(json_int_t)rt->held, "first", (json_int_t)rt->first, "last",
		(json_int_t)rt->last, "worst", kw_severity_name(rt->worst),
		"detectors", by, "keys", keys);
	return o;
}

/* The open incidents, "told" as the identities of the sinks told. NULL
 * when out of memory. */
static json_t *save_incidents(const struct kw_router *r)
{
	json_t *arr = kw_router_save_incidents(r);
	size_t i;
	json_t *o;

	json_array_foreach(arr, i, o)
	{
		uint64_t bits = (uint64_t)json_integer_value(
			json_object_get(o, "told"));
		json_t *ids = json_array();

		for (size_t k = 0; ids && k < r->nsinks && k < 64; k++) {
			if ((bits >> k & 1) &&
			    json_array_append_new(
				    ids, json_string(r->sinks[k]->id)) != 0) {
				json_decref(ids);
				ids = NULL;
			}
		}
		if (!ids || json_object_set_new(o, "told", ids) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

char *kw_router_memory_save(const struct kw_router *r)
{
	json_t *doc = NULL, *dedup = json_array(), *rate = json_array();
	char *text = NULL;

	if (!dedup || !rate)
		goto cleanup;
	for (size_t i = 0; i < DEDUP_SLOTS; i++) {
		const struct kw_router_dedup *s = &r->dedup[i];
		char id[KW_ALERT_ID_LEN + 1];

		if (!s->id || r->newest - s->last >= r->cfg->dedup_window)
			continue; /* empty, or past its window: forgotten */
		snprintf(id, sizeof(id), "kwa_%016" PRIx64, s->id);
		if (json_array_append_new(
			    dedup, json_pack("[s,I,I]", id, (json_int_t)s->last,
					     (json_int_t)s->repeats)))
			goto cleanup;
	}
	for (size_t i = 0; i < r->nsinks; i++) {
		const struct kw_sink_rate *rt = &r->sinks[i]->rate;

		if (!rt->max || (!rt->sent && !rt->held))
			continue;
		if (json_array_append_new(rate, save_rate(r->sinks[i])))
			goto cleanup;
	}
	doc = json_pack("{s:i,s:O,s:O}", "keywatch_router", MEMORY_VERSION,
			"dedup", dedup, "rate", rate);
	if (doc && r->incidents &&
	    json_object_set_new(doc, "incidents", save_incidents(r)) != 0)
		goto cleanup;
	if (doc)
		text = kw_json_dump(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
cleanup:
	json_decref(doc);
	json_decref(dedup);
	json_decref(rate);
	return text;
}

/* ----------------------------------------------------------- loading */

/* "kwa_" and 16 lowercase hex digits. */
static bool alert_id_ok(const char *s)
{
	if (!s || strlen(s) != KW_ALERT_ID_LEN || strncmp(s, "kwa_", 4) != 0)
		return false;
	for (s += 4; *s; s++) {
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	}
	return true;
}

static bool time_ok(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= KW_TIME_MIN &&
	       json_integer_value(v) <= KW_TIME_MAX;
}

static bool count_ok(const json_t *v, json_int_t max)
{
	return json_is_integer(v) && json_integer_value(v) >= 0 &&
	       json_integer_value(v) <= max;
}

/* Check every entry first, then take them in: a bad entry leaves the
 * table as it was. */
static enum kw_status load_dedup(struct kw_router *r, const json_t *a,
				 const char *name, struct kw_error *err)
{
	size_t i;
	json_t *e;

	if (!json_is_array(a) || json_array_size(a) > DEDUP_SLOTS / 2)
		return kw_error_set(
			err, KW_ECORRUPT,
			"%s: router memory: dedup: not a list of at "
			"most %u alerts",
			name, DEDUP_SLOTS / 2);
	json_array_foreach(a, i, e)
	{
		if (!json_is_array(e) || json_array_size(e) != 3 ||
		    !alert_id_ok(json_string_value(json_array_get(e, 0))) ||
		    !time_ok(json_array_get(e, 1)) ||
		    !count_ok(json_array_get(e, 2), UINT32_MAX))
			return kw_error_set(
				err, KW_ECORRUPT,
				"%s: router memory: dedup[%zu]: "
				"expected [alert id, time, repeats]",
				name, i);
	}
	json_array_foreach(a, i, e)
	{
		remember(r,
			 kw_router_id_value(
				 json_string_value(json_array_get(e, 0))),
			 json_integer_value(json_array_get(e, 1)),
			 (uint32_t)json_integer_value(json_array_get(e, 2)));
	}
	return KW_OK;
}

/* One saved window into rt (checked whole before rt is touched); false
 * when it is not one keywatch could have written. */
static bool parse_rate(const json_t *o, struct kw_sink_rate *rt)
{
	struct kw_sink_rate w;
	const json_t *by = json_object_get(o, "detectors");
	const json_t *keys = json_object_get(o, "keys");
	const char *k;
	json_t *v;
	size_t i;

	memset(&w, 0, sizeof(w));
	if (!time_ok(json_object_get(o, "start")) ||
	    !time_ok(json_object_get(o, "first")) ||
	    !time_ok(json_object_get(o, "last")) ||
	    !count_ok(json_object_get(o, "sent"), UINT32_MAX) ||
	    !count_ok(json_object_get(o, "held"), INT64_MAX) ||
	    !kw_severity_parse(json_string_value(json_object_get(o, "worst")),
			       &w.worst) ||
	    !json_is_object(by) ||
	    json_object_size(by) > KW_SINK_DIGEST_DETECTORS ||
	    !json_is_array(keys) || json_array_size(keys) > KW_SINK_DIGEST_KEYS)
		return false;
	json_object_foreach((json_t *)by, k, v)
	{
		if (strlen(k) >= sizeof(w.by_detector[0].detector) ||
		    !count_ok(v, INT64_MAX))
			return false;
		snprintf(w.by_detector[w.ndetectors].detector,
			 sizeof(w.by_detector[0].detector), "%s", k);
		w.by_detector[w.ndetectors++].count =
			(uint64_t)json_integer_value(v);
	}
	json_array_foreach(keys, i, v)
	{
		const char *s = json_string_value(v);

		if (!s || strlen(s) >= sizeof(w.keys[0]))
			return false;
		snprintf(w.keys[w.nkeys++], sizeof(w.keys[0]), "%s", s);
	}
	w.start = json_integer_value(json_object_get(o, "start"));
	w.first = json_integer_value(json_object_get(o, "first"));
	w.last = json_integer_value(json_object_get(o, "last"));
	w.sent = (uint32_t)json_integer_value(json_object_get(o, "sent"));
	w.held = (uint64_t)json_integer_value(json_object_get(o, "held"));
	*rt = w; /* max and per are left to the caller: the config's */
	return true;
}

static struct kw_sink *sink_by_id(struct kw_router *r, const char *id)
{
	for (size_t i = 0; id && i < r->nsinks; i++) {
		if (!strcmp(r->sinks[i]->id, id))
			return r->sinks[i];
	}
	return NULL;
}

static enum kw_status load_rate(struct kw_router *r, const json_t *a,
				const char *name, struct kw_error *err)
{
	size_t i;
	json_t *o;

	if (!json_is_array(a) || json_array_size(a) > MAX_SINKS)
		return kw_error_set(err, KW_ECORRUPT,
				    "%s: router memory: rate: not a list of at "
				    "most %d windows",
				    name, MAX_SINKS);
	json_array_foreach(a, i, o)
	{
		const char *id = json_string_value(json_object_get(o, "sink"));
		struct kw_sink_rate w;
		struct kw_sink *k;

		memset(&w, 0, sizeof(w));
		if (!json_is_object(o) || !id || strlen(id) >= KW_SINK_ID_MAX ||
		    !parse_rate(o, &w))
			return kw_error_set(err, KW_ECORRUPT,
					    "%s: router memory: rate[%zu]: not "
					    "a rate-limit window",
					    name, i);
		k = sink_by_id(r, id);
		if (!k || !k->rate.max) {
			kw_log_debug("router",
				     "%s: the rate-limit window of sink '%s' "
				     "is no longer needed",
				     name, id);
			continue;
		}
		w.max = k->rate.max;
		w.per = k->rate.per;
		k->rate = w;
	}
	return KW_OK;
}

/* Saved incidents back into r's table: sinks told by identity become
 * r's positions (a sink that is gone is dropped). */
static enum kw_status load_incidents(struct kw_router *r, const json_t *a,
				     const char *name, struct kw_error *err)
{
	json_t *copy, *o;
	enum kw_status st = KW_OK;
	size_t i;

	if (!a || !r->incidents)
		return KW_OK;
	if (!json_is_array(a))
		return kw_error_set(err, KW_ECORRUPT,
				    "%s: router memory: incidents: not a list",
				    name);
	copy = json_deep_copy(a);
	if (!copy)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	json_array_foreach(copy, i, o)
	{
		const json_t *told = json_object_get(o, "told");
		uint64_t bits = 0;

		if (!json_is_array(told) || json_array_size(told) > MAX_SINKS) {
			st = kw_error_set(err, KW_ECORRUPT,
					  "%s: router memory: incidents[%zu]: "
					  "not a saved incident",
					  name, i);
			goto cleanup;
		}
		for (size_t k = 0; k < r->nsinks && k < 64; k++) {
			for (size_t j = 0; j < json_array_size(told); j++) {
				const char *id = json_string_value(
					json_array_get(told, j));

				if (id && !strcmp(id, r->sinks[k]->id))
					bits |= (uint64_t)1 << k;
			}
		}
		if (json_object_set_new(o, "told",
					json_integer((json_int_t)bits)) != 0) {
			st = kw_error_set(err, KW_ENOMEM, "out of memory");
			goto cleanup;
		}
	}
	st = kw_router_load_incidents(r, copy, err);
	if (st != KW_OK && st != KW_ENOMEM) {
		kw_error_prefix(err, "%s: router memory", name);
		err->status = KW_ECORRUPT;
		st = KW_ECORRUPT;
	}
cleanup:
	json_decref(copy);
	return st;
}

enum kw_status kw_router_memory_load(struct kw_router *r, const char *text,
				     size_t len, const char *name,
				     struct kw_error *err)
{
	json_error_t jerr;
	json_t *doc;
	enum kw_status st;

	if (!len)
		return KW_OK; /* a state file from before the router's memory */
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc && json_error_code(&jerr) == json_error_out_of_memory)
		return kw_error_set(err, KW_ENOMEM, "%s: out of memory", name);
	if (!json_is_object(doc) ||
	    json_integer_value(json_object_get(doc, "keywatch_router")) !=
		    MEMORY_VERSION) {
		json_decref(doc);
		return kw_error_set(err, KW_ECORRUPT,
				    "%s: router memory: not version %d of it",
				    name, MEMORY_VERSION);
	}
	st = load_dedup(r, json_object_get(doc, "dedup"), name, err);
	if (st == KW_OK)
		st = load_rate(r, json_object_get(doc, "rate"), name, err);
	if (st == KW_OK)
		st = load_incidents(r, json_object_get(doc, "incidents"), name,
				    err);
	json_decref(doc);
	return st;
}

/* ------------------------------------------------- reload and journal */

/* The open incidents go on in the new router; the old one keeps none (its
 * drain tells no news of them). */
static void adopt_incidents(struct kw_router *to, struct kw_router *from)
{
	json_t *saved = from->incidents ? save_incidents(from) : NULL;
	json_t *none = json_array();
	struct kw_error err;

	kw_error_clear(&err);
	if (from->incidents && !saved)
		kw_log_error("router",
			     "out of memory: the open incidents start afresh "
			     "after the reload");
	if (saved && load_incidents(to, saved, "reload", &err) != KW_OK)
		kw_log_warn("router",
			    "%s; the open incidents start afresh (a new alert "
			    "opens a new one)",
			    err.msg);
	if (saved && none)
		kw_router_load_incidents(from, none, &err);
	json_decref(saved);
	json_decref(none);
}

void kw_router_memory_adopt(struct kw_router *to, struct kw_router *from)
{
	to->dedup_said = to->dedup_said || from->dedup_said;
	for (size_t i = 0; i < DEDUP_SLOTS; i++) {
		const struct kw_router_dedup *s = &from->dedup[i];

		if (s->id)
			remember(to, s->id, s->last, s->repeats);
	}
	for (size_t i = 0; i < from->nsinks; i++) {
		struct kw_sink_rate *old = &from->sinks[i]->rate;
		struct kw_sink *k = sink_by_id(to, from->sinks[i]->id);
		uint32_t max;
		int64_t per;

		if (!k || !k->rate.max || !old->max)
			continue;
		max = k->rate.max;
		per = k->rate.per;
		k->rate = *old;
		k->rate.max = max;
		k->rate.per = per;
		/* What it held is the new sink's to digest now. */
		old->held = 0;
		old->ndetectors = 0;
		old->nkeys = 0;
	}
	adopt_incidents(to, from);
}

void kw_router_memory_note(struct kw_router *r, const char *id, int64_t time)
{
	if (alert_id_ok(id) && time >= KW_TIME_MIN && time <= KW_TIME_MAX)
		remember(r, kw_router_id_value(id), time, 0);
}
