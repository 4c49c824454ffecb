/*
 * detector.h - the detector interface. A detector family is one .c file
 * implementing struct kw_detector_ops and listed in the registry
 * (detector.c). A family may raise several detectors (the names of
 * spec/alerts.md); each can be switched off in the config with
 * {"detectors": {"key.honey": {"enabled": false}}}.
 *
 * Per-key state: a family declares a fixed state_size; the key table gives
 * every key that many zeroed bytes (struct kw_detect_key.state), and the
 * family keeps there everything it remembers about a key. Fixed size is the
 * point: memory per key is known up front and nothing grows per key. State
 * is plain bytes (no pointers), so snapshots can save and load it as is.
 * Parts of it may be made only on first need (parts below): what a
 * family needs only once a key has outgrown its fixed lists, or only for
 * some kinds of event, so that the many keys that never do hold no bytes
 * for it. A snapshot still sees state_size bytes, each part in its place.
 * What is loaded is checked first: a state file is outside keywatch's
 * control, so each family with state says, in validate(), whether bytes
 * are ones it could have written (every count within its array, every
 * ring index within its ring, every number finite and in range). A state
 * file with one record that fails is refused whole.
 *
 * Time: observe() sees events in arrival order with their event time;
 * tick(watermark) tells the family that no event older than the watermark
 * will come, so windows ending before it can close (DESIGN.md, "Time").
 * The watermark is that of the stream whose events come next (a Kafka
 * partition; files are one stream): it moves only forward within a
 * stream, but may move back when the events that follow are of another.
 *
 * Alerts: a family builds a struct kw_alert (kw_detect_alert() fills the
 * common parts) and hands it to emit(); after the call the alert's contents
 * belong to the router and the family must not touch them.
 */
#ifndef KW_DETECT_DETECTOR_H
#define KW_DETECT_DETECTOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/alert.h"
#include "core/config.h"
#include "core/event.h"
#include "core/log.h"
#include "core/status.h"
#include "enrich/model.h"
#include "state/blocks.h"
#include "state/keytab.h"

/* The most overflow parts a family may declare (kw_detector_ops.parts). */
#define KW_DETECT_PARTS 2

/* Where alerts go. fn takes over the alert's contents. global is the
 * engine's ordered stage for a family's part across keys (see
 * observe_global below); note, its way to the log for what a family says
 * about the run (once, in its place among the other messages, however
 * many instances say it). Both NULL when there is no such stage (a family
 * driven on its own, as the unit tests do). */
struct kw_emit {
	void (*fn)(void *ctx, struct kw_alert *a);
	bool (*global)(void *ctx, const struct kw_event *ev,
		       const struct kw_keyent *key);
	void (*note)(void *ctx, enum kw_log_level level, const char *component,
		     const char *text);
	/* The key's overflow part number part of the family this emit is
	 * the family's own of (kw_detect_overflow, with e this emit): NULL
	 * when it has none and !make, or when make and memory is short.
	 * NULL when the state is whole (a family driven on its own). */
	void *(*overflow)(const struct kw_emit *e, struct kw_keyent *key,
			  unsigned part, bool make);
	/* The family's parts where the engine keeps them, so that
	 * kw_detect_overflow finds one a key has without a call: part i's
	 * handle (a uint32_t; 0: none yet) is handle + 4 * i bytes into the
	 * family's slice, and its block is in pool[i]. pool[i] NULL: ask
	 * the overflow stage. */
	size_t handle;
	const struct kw_blocks *pool[KW_DETECT_PARTS];
	void *ctx;
	/* Nothing reads the alerts' contents (struct kw_alert's unread):
	 * kw_detect_alert marks each so, and a family skips what it would
	 * make only for their summary and evidence. */
	bool unread;
};

static inline void kw_emit(const struct kw_emit *e, struct kw_alert *a)
{
	e->fn(e->ctx, a);
}

/* From observe(): have the engine call the family's observe_global() with
 * this event, in event order, on its instance for what spans keys. true
 * when it will; false when there is no such stage, and the family then
 * calls its observe_global() itself, on its own instance. */
static inline bool kw_emit_global(const struct kw_emit *e,
				  const struct kw_event *ev,
				  const struct kw_keyent *key)
{
	return e->global && e->global(e->ctx, ev, key);
}

/* Log a note about the run (kw_log_msg's level, component and format)
 * through the engine: said once per run, in event order, whichever of
 * the engine's instances of the family says it first. */
void kw_emit_note(const struct kw_emit *e, enum kw_log_level level,
		  const char *component, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* What a family is created with. */
struct kw_detector_env {
	const struct kw_config *cfg;	/* borrowed for the family's lifetime */
	const struct kw_models *models; /* the same; may be NULL (tests) */
};

/* What flush returns when a key has no window open. */
#define KW_DETECT_NONE_OPEN INT64_MAX

/* What the families learnt of one key, for the report a person reads
 * (--report). The engine zeroes it and lets each family with a describe
 * slot fill its part. */
#define KW_DETECT_PROFILE_GEO 8
struct kw_detect_profile {
	/* rate.spike: per hour of the day (UTC), in requests per minute (a
	 * window of another length is scaled to one minute): what the key
	 * usually makes at that hour, and where a spike would begin. Both 0
	 * for an hour not learnt. has_rate false when rate.spike is off. */
	bool has_rate;
	float usual[24], spike_at[24];
	/* The geo family: whether it judges the key by place, the first
	 * ASNs and countries the key was seen from (in the order first seen;
	 * they need a GeoIP database), and how many distinct addresses in
	 * all. The first addresses and networks (/24, /48) are the report's
	 * to fill (state/keyreport.h keeps them; geo keeps only hashes). */
	bool geo_watched;
	struct kw_ip ips[KW_DETECT_PROFILE_GEO];
	struct kw_ip nets[KW_DETECT_PROFILE_GEO]; /* the prefix, zero-padded */
	uint32_t asns[KW_DETECT_PROFILE_GEO];
	char countries[KW_DETECT_PROFILE_GEO][3];
	unsigned nips, nnets, nasns, ncountries;
	uint32_t total_ips;
};

enum kw_detector_kind {
	KW_DETECTOR_POLICY, /* needs no history */
	KW_DETECTOR_LEARNED /* compares a key with its own past */
};

/* One overflow part: bytes [at, at + size) of a family's state. */
struct kw_state_part {
	size_t at, size;
};

struct kw_detector_ops {
	const char *name; /* the family: "policy.ops" */
	enum kw_detector_kind kind;
	const char *const *detectors;	 /* NULL-terminated names it raises */
	const struct kw_option *options; /* accepted in detectors.<name>,
					    besides "enabled"; NULL-name end */
	size_t state_size;		 /* bytes per key, may be 0 */
	/* The version of the layout of those bytes, from 1: raise it in the
	 * change that changes the layout (a field's meaning, size or place),
	 * so that a state file of the old layout makes this family alone
	 * start learning again (state/snapshot.h, sections) instead of
	 * misreading it. Required when state_size > 0. */
	uint32_t state_version;
	/* state_size at state_version 1, when it was other (0: the same):
	 * where version 3 state files, which have no sections, hold the
	 * family's bytes (their layout is every family at version 1). */
	size_t state_size_v1;
	/* Optional (size 0: none): parts[i] is bytes [at, at + size) of
	 * the state_size, the family's overflow part number i, which a key
	 * is given only when the family first asks for it
	 * (kw_detect_overflow with make); until then they read as zeroes.
	 * Parts are in order of at, do not overlap, and the ones declared
	 * come first. The slice observe() and the others see is then the
	 * state_size bytes less its parts, what is between and after them
	 * closed up (a family that keeps its parts at the end sees its
	 * slice where a whole state has it). A state file holds all
	 * state_size bytes in order, whichever keys had which part;
	 * validate() sees them so. Only observe() and flush() may ask for
	 * a part. */
	struct kw_state_part parts[KW_DETECT_PARTS];
	/* Optional: the state of layout version state_version - 1 (of
	 * upgrade_size bytes, as a state file holds it) made into this
	 * version's (now: state_size bytes, zeroed), so that a state file
	 * of that layout carries the family's learning over instead of
	 * starting it again. Any bytes may come (validate() judges what it
	 * makes). NULL: learning starts again. */
	size_t upgrade_size;
	void (*upgrade)(const void *old, void *now);

	/* Required. *self is the family's instance (may stay NULL). */
	enum kw_status (*create)(const struct kw_detector_env *env, void **self,
				 struct kw_error *err);

	/* Required. One event of a key. state is this family's slice of
	 * the key's state: its state_size bytes, less its overflow parts. */
	void (*observe)(void *self, const struct kw_event *ev,
			struct kw_keyent *key, void *state,
			const struct kw_emit *emit);
	/* observe() does nothing with an event that has no ev->cloud (a
	 * request of a plain API log): the engine need not call it for one. */
	bool cloud_only;

	/* Optional (default: nothing). A request made without any key (an
	 * unauthenticated request: ev->key is empty), which has no key
	 * state; the few detectors that judge something other than a key
	 * (auth.failures: one source IP) may count it. */
	void (*observe_unauth)(void *self, const struct kw_event *ev,
			       const struct kw_emit *emit);

	/* Optional (default: nothing). No event older than watermark will
	 * come (of the stream whose events come next: see "Time" above);
	 * close windows that end before it. At the end of a scan the
	 * engine ticks with INT64_MAX. */
	void (*tick)(void *self, int64_t watermark, const struct kw_emit *emit);

	/* Optional (default: nothing, no window open). Close this key's
	 * windows that end at or before watermark (INT64_MAX: all of them;
	 * INT64_MIN: none) and return the watermark at which the oldest
	 * window still open will close (KW_DETECT_NONE_OPEN when none is).
	 * The engine asks after each of a key's events (watermark
	 * INT64_MIN; this must be cheap), puts the key on a timing wheel for
	 * the earliest answer of the families (or moves it sooner), and
	 * flushes it when its stream's watermark reaches that (so
	 * a burst followed by silence is reported when the watermark passes
	 * it, and a key costs nothing while its windows are open); it also
	 * flushes every key at the end of a scan and a key about to be
	 * evicted. A family also closes a key's windows itself when the
	 * key's next event comes after the watermark has passed them. */
	int64_t (*flush)(void *self, int64_t watermark, struct kw_keyent *key,
			 void *state, const struct kw_emit *emit);
	/* Optional, with flush. True when flush(INT64_MIN) is always
	 * kw_win_due (detect/learned.h) of the struct kw_win at byte
	 * *offset of the key's state with windows of *len: the engine then
	 * reads that after each event instead of calling flush. Asked once,
	 * after create. Such a family marks the ring urgent (kw_win_urgent)
	 * when a window's close may raise something, or touch anything but
	 * the key's own state; the engine puts a key on its wheel only for
	 * an urgent ring, and flushes the others when it next needs the key,
	 * at the watermark its wheel would have flushed them at. */
	bool (*window)(void *self, size_t *offset, int64_t *len);

	/* Optional (default: none). The part of a family that looks across
	 * keys (auth.failures: one IP denied for many keys). The engine
	 * splits keys over shards, each with its own instance of every
	 * family, so what spans keys cannot live in observe(): observe()
	 * calls kw_emit_global() for the events that part needs, and the
	 * engine calls observe_global() with them on one instance of its own,
	 * in event order and at the place of the call among the alerts,
	 * whatever the number of threads. key is a copy of the key's entry
	 * as it was at the call: read it, do not keep it. */
	void (*observe_global)(void *self, const struct kw_event *ev,
			       const struct kw_keyent *key,
			       const struct kw_emit *emit);

	/* Optional (default: nothing). NULL-safe. */
	void (*destroy)(void *self);

	/* Optional (default: nothing to say). Fill this family's part of
	 * out with what it learnt of the key (state: its whole state_size
	 * bytes as a state file holds them, each overflow part in its place,
	 * zeroes for one the key lacks; after the run); for reports only,
	 * never on the hot path. */
	void (*describe)(void *self, const struct kw_keyent *key,
			 const void *state, struct kw_detect_profile *out);

	/* Required when state_size > 0 (a test checks the registry). Whether
	 * state (state_size bytes loaded from a --state file, possibly
	 * damaged or hostile) is one observe() could have left: true when
	 * it is; false with a short reason in why (cap bytes), such as
	 * "place ring index 255 past 4". Never called with the family's
	 * instance: it judges bytes alone. */
	bool (*validate)(const void *state, char *why, size_t cap);
};

/* Overflow part number part (kw_detector_ops.parts) of the key's state
 * of family ops, from observe() or flush() with their emit, key and
 * state: NULL when the key has none yet and !make (it reads as zeroes),
 * or when make and memory is short (the engine says so and counts it as
 * lost; the family goes on without it).
 * Driven on its own (an emit with no overflow stage), the family is given
 * its whole state_size bytes, and the part is where it is in them. */
static inline void *kw_detect_overflow(const struct kw_emit *e,
				       const struct kw_detector_ops *ops,
				       unsigned part, struct kw_keyent *key,
				       void *state, bool make)
{
	if (part < KW_DETECT_PARTS && e->pool[part]) {
		uint32_t h;

		memcpy(&h,
		       (unsigned char *)state + e->handle + 4 * (size_t)part,
		       sizeof(h));
		if (h)
			return kw_blocks_at(e->pool[part], h);
		if (!make)
			return NULL;
	}
	if (!e->overflow)
		return (unsigned char *)state + ops->parts[part].at;
	return e->overflow(e, key, part, make);
}

/* The registry: NULL-terminated, in the order families run. */
const struct kw_detector_ops *const *kw_detect_all(void);

/* Whether a detector is enabled by the config (default: yes). */
bool kw_detect_enabled(const struct kw_config *cfg, const char *detector);

/* The options object of a detector in the config, or NULL. */
const json_t *kw_detect_options(const struct kw_config *cfg,
				const char *detector);

/* Check the config's "detectors" section: every name is a known detector
 * ("did you mean" otherwise) and its options are in its family's table. */
enum kw_status kw_detect_check_config(const struct kw_config *cfg,
				      struct kw_error *err);

/* Start an alert about key for event ev, to go to emit: detector,
 * severity, event time, key id/fp/kind/mode/name, the request id, and the
 * event's key as the alert's secret, so that everything copied in from
 * the request is redacted by value (core/alert.h). The caller adds the
 * summary, evidence and subject, then calls kw_alert_set_id() and
 * kw_emit(). When emit says no one reads them (emit->unread), the alert
 * is unread: it holds what the router counts and matches by, and the
 * setters of what only people and sinks read do nothing. */
enum kw_status kw_detect_alert(struct kw_alert *a, const struct kw_emit *emit,
			       const char *detector, enum kw_severity sev,
			       const struct kw_event *ev,
			       const struct kw_keyent *key);

/* The last touches before an alert goes to the router (the engine calls
 * it): the detector's runbook_url when the key has none, and a link for
 * each request id, from the config's links.request or else the key's
 * model's (enrich/model.h), filled with the request id and the evidence's
 * region. models may be NULL. */
void kw_detect_finish_alert(struct kw_alert *a, const struct kw_config *cfg,
			    const struct kw_models *models);

/* The config entry of a key (NULL when none matched). */
static inline const struct kw_keyconf *
kw_detect_keyconf(const struct kw_keyent *key)
{
	return (const struct kw_keyconf *)key->conf;
}

/* "sk_live_…4242 (backend)" or "sk_live_…4242": for summaries. */
const char *kw_detect_key_label(const struct kw_keyent *key, char *buf,
				size_t cap);

/* Whether the key is server-side (secret, restricted, AWS). */
static inline bool kw_detect_server_key(const struct kw_keyent *key)
{
	return key->kind == KW_KIND_SECRET || key->kind == KW_KIND_RESTRICTED ||
	       key->kind == KW_KIND_LONG_TERM || key->kind == KW_KIND_TEMPORARY;
}

/* The policy families (one file each). */
extern const struct kw_detector_ops kw_detect_policy_ops;
extern const struct kw_detector_ops kw_detect_policy_key;
extern const struct kw_detector_ops kw_detect_policy_ip;

/* The geo family (geo.c). */
extern const struct kw_detector_ops kw_detect_geo;
/* Whether anything judges this key by place (so the engine looks its
 * addresses up): server keys, publishable keys with geo_publishable, keys
 * with allow_countries. Customers' browsers behind publishable keys are most
 * of a log's distinct addresses, and nothing needs their places. */
static inline bool kw_detect_geo_wants(const struct kw_config *cfg,
				       const struct kw_keyent *key)
{
	const struct kw_keyconf *kc = kw_detect_keyconf(key);

	return kw_detect_server_key(key) ||
	       (key->kind == KW_KIND_PUBLISHABLE && cfg->geo_publishable) ||
	       (kc && kc->nallow_countries);
}
/* What a detector needs from the GeoIP databases to run (KW_GEOIP_HAS_*
 * or'ed; enrich/geoip.h): geo.new_network the ASN, geo.new_country and
 * geo.country_not_allowed the country, geo.impossible_travel the location.
 * 0 for every other detector (geo.new_ip runs on addresses alone). */
unsigned kw_detect_geo_needs(const char *detector);

/* The learned families (one file each). */
extern const struct kw_detector_ops kw_detect_rate;
extern const struct kw_detector_ops kw_detect_errors;
extern const struct kw_detector_ops kw_detect_ops;
extern const struct kw_detector_ops kw_detect_harvest;
extern const struct kw_detector_ops kw_detect_instance;

/* Whether a key is still learning at time ts (event time, cfg->learn from
 * the key's first event). */
static inline bool kw_detect_learning(const struct kw_config *cfg,
				      const struct kw_keyent *key, int64_t ts)
{
	return ts - key->first_seen < cfg->learn;
}

#endif
