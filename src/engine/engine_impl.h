/*
 * engine_impl.h - what the engine's files share (engine.c: the public
 * interface and learned state; shard.c: the per-key analysis; ordered.c: the
 * ordered stage; pipeline.c: the threads). Not for other modules.
 *
 * The one idea: keys are split over a fixed number of shards by a hash of
 * the key that depends on nothing else (not on the thread count, not on a
 * random seed). A shard owns its keys: their table, their detector state,
 * their open windows, one instance of every detector family. Everything
 * that spans keys (the router's dedup, suppressions, rate limits and
 * incidents, auth.failures' per-IP table, the alert counts of the report)
 * lives in the ordered stage, which takes what the shards raise in the
 * order of the events that raised it. With one thread the stages are
 * plain calls in that order; with several (pipeline.c) the shards run in
 * parallel and the ordered stage puts their output back in that order, so
 * the same input gives the same alerts, byte for byte.
 */
#ifndef KW_ENGINE_ENGINE_IMPL_H
#define KW_ENGINE_ENGINE_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/distinct.h"
#include "detect/detector.h"
#include "engine/engine.h"
#include "ingest/dispatch.h"
#include "state/handouts.h"
#include "state/keyreport.h"
#include "state/snapshot.h"

#define KW_ENGINE_BATCH KW_DISPATCH_BATCH
#define KW_ENGINE_MAX_FAMILIES 32
#define KW_ENGINE_SWEEP_EVERY (INT64_C(60) * 1000000) /* watermark */
#define KW_ENGINE_WHEEL_TICK (INT64_C(1000000))	      /* 1 s */
#define KW_ENGINE_WHEEL_SLOTS 4096		      /* 68 minutes a turn */
/* Shards: at most this many, and none with room for fewer keys than
 * KW_ENGINE_SHARD_MIN_KEYS (a small --max-keys keeps one table). */
#define KW_ENGINE_SHARDS_MAX 16
#define KW_ENGINE_SHARD_MIN_KEYS 4096
#define KW_ENGINE_NOTES 64 /* distinct notes said once each */
/* Keys handed out remembered with their parent (about 3.5 MB, and as
 * much again for those loaded from a state file and not yet asked for). */
#define KW_ENGINE_HANDOUTS_MAX 16384

/* What the engine keeps at the start of every key's state area. */
struct kw_keyhead {
	struct kw_wheel_link wheel; /* where the key waits for its windows
				       to close */
	uint32_t flags;		    /* KW_KS_* */
	/* With KW_KS_PENDING: its stream's clock's sweeps when the key's
	 * lazy windows were last left (shard.c, catch_up). */
	uint32_t swept_at;
};
_Static_assert(sizeof(struct kw_keyhead) <= 16, "the head's 16 bytes");

/* bits in kw_keyhead.flags; its high 16 bits are the index in
 * e->streams of the stream whose event last fed the key (kw_keyhead_stream:
 * what kw_engine_export_stream lists), or KW_KS_DROPPED */
enum {
	KW_KS_RAISED = 1u << 0,	 /* an alert about the key was raised */
	KW_KS_CHANGED = 1u << 1, /* changed since its stream's last export */
	/* Windows were open after its last event, none urgent (detect/
	 * learned.h): the key is not on the wheel for them, and the next
	 * look at it closes what its stream's sweeps have passed
	 * (shard.c, catch_up). */
	KW_KS_PENDING = 1u << 2,
};
#define KW_KS_STREAM_SHIFT 16
/* The key's stream was dropped (kw_engine_drop_stream): the entry's state
 * is zero and it is off the wheel, skipped by saves, exports and reports;
 * seen again, the key starts afresh (restored from the pending table). */
#define KW_KS_DROPPED 0xffffu
_Static_assert(KW_ENGINE_STREAMS_MAX < KW_KS_DROPPED, "stream index bits");

static inline unsigned kw_keyhead_stream(const struct kw_keyhead *h)
{
	return h->flags >> KW_KS_STREAM_SHIFT;
}

/* A key's counters for the report (struct kw_engine_keystats), only when
 * one is asked for (kw_engine.count_off). */
struct kw_keycount {
	uint64_t errors, denied;
	uint32_t ips;	       /* distinct IPs, up to a small bound */
	uint8_t ip_hash[8][4]; /* the first 8, folded to 4 bytes */
};

struct kw_family {
	const struct kw_detector_ops *ops;
	void *self;
	size_t offset; /* of its slice in the key's state area */
	size_t flat;   /* of its state_size bytes in the detectors' state as
			  a state file holds it (kw_shard_flat) */
	/* With overflow parts (kw_detector_ops.parts): the shard's pool of
	 * each part; NULLs without. A key's handle of part p in blocks[p]
	 * is a uint32_t at emit.handle + 4 * p bytes into its slice (0:
	 * none yet). */
	struct kw_blocks *blocks[KW_DETECT_PARTS];
	/* The shard's emit with the family's handles and pools, for
	 * kw_detect_overflow's short way: what the family's calls get, and
	 * how the overflow stage knows the family. */
	struct kw_emit emit;
};

/* How many overflow parts family o declares, and their bytes. */
static inline unsigned kw_family_parts(const struct kw_detector_ops *o)
{
	unsigned n = 0;

	while (n < KW_DETECT_PARTS && o->parts[n].size)
		n++;
	return n;
}

static inline size_t kw_family_parts_size(const struct kw_detector_ops *o)
{
	size_t n = 0;

	for (unsigned i = 0; i < KW_DETECT_PARTS; i++)
		n += o->parts[i].size;
	return n;
}

/* A family's slice of a key's state area: its state_size bytes less its
 * overflow parts and, with parts, their handles after them (a uint32_t
 * each from kw_family_handle; 0: none yet). */
static inline size_t kw_family_handle(const struct kw_detector_ops *o)
{
	return (o->state_size - kw_family_parts_size(o) + 3) & ~(size_t)3;
}

static inline size_t kw_family_slice(const struct kw_detector_ops *o)
{
	unsigned n = kw_family_parts(o);

	return n ? kw_family_handle(o) + 4 * (size_t)n : o->state_size;
}

/* The room a slice of n bytes takes in a key's state area: rounded up to
 * 8 bytes, what a family's state (int64s at most) needs. Not to 16, as a
 * state file lays the families out: the two 4-byte handles of the
 * families with only an overflow part would take 32 bytes a key. */
static inline size_t kw_slice_room(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* What the shards and the ordered stage count, summed over shards in the
 * engine's stats. */
struct kw_shard_stats {
	uint64_t events, late, keys_seen, keys_restored;
	uint64_t lost; /* overflow parts not made: out of memory */
	int64_t first_ts, last_ts;
};

/* Where a shard's output goes: the ordered stage at once (one thread), or
 * the batch being analysed (pipeline.c), for the ordered stage to take in
 * event order. alert takes the alert's contents. global: a family's part
 * across keys for ev (the family is shard->cur_family). evicted: the key
 * whose alerts were counted left the table. note: a family's note for the
 * log (kw_emit_note). */
struct kw_shard_out {
	void (*alert)(void *ctx, struct kw_alert *a);
	void (*global)(void *ctx, size_t family, unsigned stream,
		       const struct kw_event *ev, const struct kw_keyent *key);
	void (*evicted)(void *ctx, const char *fp);
	void (*note)(void *ctx, enum kw_log_level level, const char *component,
		     const char *text);
	void *ctx;
};

/* What a thread keeps for the work it runs: its decoder instances (they
 * keep hints from line to line) and its caches. */
struct kw_worker_ctx {
	struct kw_dispatch *dispatch;
	struct kw_models_cache *models; /* path matches of opts.models */
	struct kw_geoip_cache *geo;	/* NULL: the engine's own cache */
};

/* Keys asked for ahead of their event (kw_shard_hash_ahead): at most this
 * many at once, and the lines of a key's entry and state asked for. */
#define KW_SHARD_AHEAD 64
#define KW_SHARD_PF_LINES 24
/* Keys are asked for in bursts of this many events: the index lines of
 * the events two bursts on, then the entries of those one burst on
 * (whose index lines have come). In a table bigger than the TLB reaches,
 * each ask waits for a page walk before the instructions after it can
 * retire; asked one an event, every walk costs its full time, while
 * walks asked back to back overlap (about 3x cheaper here, a VM whose
 * walks are nested). KW_SHARD_AHEAD holds three bursts. */
#define KW_SHARD_BURST 16
_Static_assert(3 * KW_SHARD_BURST <= KW_SHARD_AHEAD, "three bursts ahead");
/* ... from the point where a shard's entries and states take this many
 * bytes (about twenty keys): the 16 shards of one thread then fill half a
 * MiB, a core's second-level cache, before a key needs asking for. */
#define KW_SHARD_HINT_BYTES ((size_t)32 << 10)

struct kw_shard {
	struct kw_engine *e; /* the read-only parts: config, layout */
	unsigned id;
	size_t max_keys; /* its part of the config's max_keys */
	struct kw_family fam[KW_ENGINE_MAX_FAMILIES];
	size_t nfam, cur_family;
	/* An event without ev->cloud is observed by fam[0..nfam_plain): the
	 * families after are all cloud_only. */
	size_t nfam_plain;
	/* The families with windows (a flush), by place in fam[]: what a
	 * key's windows are asked about after each event. */
	uint8_t flushing[KW_ENGINE_MAX_FAMILIES];
	size_t nflushing;
	/* Of those, the ones whose answer is one window's due time
	 * (kw_detector_ops.window), read in the key's state, and the
	 * others, asked. */
	struct kw_shard_win {
		size_t offset; /* of its struct kw_win in the key's state */
		int64_t len;
	} wins[KW_ENGINE_MAX_FAMILIES];
	size_t nwins;
	uint8_t asking[KW_ENGINE_MAX_FAMILIES];
	size_t nasking;
	struct kw_keytab *keys;
	/* A key's detector state as a state file holds it (kw_shard_flat),
	 * e->learned_size bytes; NULL when that is the state area itself. */
	unsigned char *flat;
	struct kw_snapshot
		*stash; /* evicted keys' learning; NULL: no --state */
	struct kw_keyent *current; /* the key being observed, for emit */
	struct kw_geo logged_geo;  /* the event's, with the log's country */
	/* Per keys[] entry of the config: its glob matched a key of this
	 * shard (kw_engine_conf_matched ORs the shards); nconf_left have
	 * not yet. */
	bool *conf_matched;
	size_t nconf_left;
	struct kw_shard_out out;
	struct kw_worker_ctx *worker; /* of the thread running it now */
	/* Per stream of event time (KW_ENGINE_STREAMS_MAX, by index in
	 * e->streams): the stream's keys with windows open, each due when its
	 * oldest one closes in that stream's time (kw_keyhead.wheel; wheel.h;
	 * a key waits on the wheel of its kw_keyhead_stream), and the
	 * stream's watermark as the shard was last ticked with it. So a key's
	 * windows close by its own stream's time, whatever the others' (a
	 * partition restored behind an instance's other partitions). A sweep
	 * takes the keys due off one wheel into due[] and then flushes them
	 * one by one, so it can stop between two keys and go on. */
	struct kw_shard_clock {
		struct kw_wheel *wheel; /* NULL: none yet ([0]'s: from init) */
		int64_t watermark, next_sweep;
		int64_t swept;	 /* the watermark of its last sweep, or
				    INT64_MIN */
		uint32_t sweeps; /* sweeps so far (wrapping) */
	} * clocks;
	/* The stream whose watermark the families' clocks hold (their
	 * tick): the stream of the events analysed, or of the last tick;
	 * and its wheel (clocks[clock].wheel). */
	unsigned clock;
	struct kw_wheel *wheel;
	struct kw_keyent **due;
	size_t ndue, capdue;
	int64_t sweep_wm;      /* the sweep under way: its watermark, */
	unsigned sweep_stream; /* its stream, */
	size_t sweep_at;       /* and where it is in due[] */
	struct kw_shard_stats st;
	/* The keys inserted, by fingerprint: how many distinct ones, when
	 * some were evicted and inserted again (kw_engine_stats). */
	struct kw_distinct distinct;
	/* Events whose key's table hash is known (kw_shard_hash_ahead), until
	 * kw_shard_analyse takes it (ev NULL: free), made at ahead_next and
	 * taken in the same order (ahead_asked: the next one whose index
	 * line is asked for, ahead_near: the next one whose entry is, and
	 * ahead_take: the next one analysed); how many lines of a key's
	 * state area, from its start, are asked for with its entry. */
	struct kw_shard_ahead {
		const struct kw_event *ev;
		const char *key; /* its key's bytes */
		size_t n;
		uint64_t h[2];
	} ahead[KW_SHARD_AHEAD];
	unsigned ahead_next, ahead_near, ahead_take, ahead_asked;
	size_t npf;
	/* The lines a flush reads, as offsets from the key's entry (its
	 * own, the engine's head, the slices of the families with windows):
	 * what a sweep asks for of the keys a few places on in due[]. */
	uint16_t flush_pf[KW_SHARD_PF_LINES];
	size_t nflush_pf;
	/* The hints are asked for once the table holds hint_from keys (then
	 * for good): a smaller one stays in the core's caches, where they
	 * would be work for nothing. */
	bool hinting;
	size_t hint_from;
};

/* The ordered stage. */
struct kw_ordered {
	struct kw_engine *e;
	/* Requests made without a key: analysed here (they span keys). */
	struct kw_shard_stats st;
	uint64_t unauthenticated;
	/* The families' instances for observe_global and observe_unauth
	 * (self NULL for the others). */
	struct kw_family glob[KW_ENGINE_MAX_FAMILIES];
	struct kw_emit emit;
	/* Only with a report (opts.report: a key that raised costs 32 to
	 * 64 bytes here): alerts that passed the router per key fingerprint
	 * (the report's column), open addressing, backward-shift deletion;
	 * a key's count goes when the key leaves its table. */
	struct alert_count {
		uint64_t fp; /* 0: empty */
		uint32_t n;
	} * counts;
	size_t ncounts, capcounts;
	/* Notes said (a hash of each), so each is said once. */
	uint64_t said[KW_ENGINE_NOTES];
	size_t nsaid;
};

struct kw_pipeline;

/* One stream's event time (engine.h, struct kw_engine_input). */
struct kw_engine_stream {
	uint64_t id;
	int64_t newest;	   /* its newest event time; INT64_MIN: none yet */
	int64_t watermark; /* its own: what its records are late against */
	bool quiet;	   /* holds the engine's watermark back no longer */
};

/* What ticks the shards after a batch (kw_engine_advance): its stream,
 * at its own watermark; and, when the engine's watermark moved, the
 * streams that are quiet (with events), at the engine's: a quiet stream's
 * windows follow the others' time. */
struct kw_engine_ticks {
	unsigned stream;
	int64_t own; /* the stream's watermark after the batch */
	int64_t wm;  /* the engine's: the router's, and the quiet streams' */
	bool any_quiet;
	uint64_t quiet[KW_ENGINE_STREAMS_MAX / 64]; /* bit i: stream i */
};

struct kw_engine {
	struct kw_engine_opts opts;
	struct kw_decoder_conf dconf;
	const struct kw_decoder_ops *forced; /* --format, or NULL */
	struct kw_judge_env judge; /* what matchers need from the config */
	size_t state_size;	   /* a key's whole state area */
	size_t learned_off;	   /* where the detectors' part starts */
	size_t learned_size;	   /* what a snapshot keeps of it: every
				      family's state_size bytes, each
				      aligned (kw_shard_flat) */
	bool overflows;		   /* a family has an overflow part */
	/* With a report (opts.report; 0: none): the key's counters (struct
	 * kw_keycount) and its timeline (state/keyreport.h). */
	size_t count_off, report_off;
	bool windowed; /* some family has windows (a flush slot) */

	struct kw_shard shards[KW_ENGINE_SHARDS_MAX];
	unsigned nshards;
	struct kw_ordered ord;

	/* Learned state loaded from --state, not yet taken by a key (NULL:
	 * none); the shards take from it under snap_mu. */
	struct kw_snapshot *snap;
	pthread_mutex_t snap_mu;
	/* Records imported into snap per stream (kw_engine_import_key), so
	 * that kw_engine_drop_stream forgets those not yet taken; at most
	 * the config's max_keys. */
	struct kw_imported {
		uint64_t fp;
		unsigned stream;
	} * imported;
	size_t nimported, capimported;
	/* The family of each section of the state's layout (state/
	 * snapshot.h: the families with state, in order): how a record's
	 * sections learning again map to a key's families (kw_keyent.
	 * relearn). */
	uint8_t sec_fam[KW_SNAPSHOT_SECTIONS_MAX];
	size_t nsec;

	/* The one-thread path: its batch, decoders and caches (the caller's
	 * thread's). */
	struct kw_arena arena;
	struct kw_worker_ctx worker;
	struct kw_record recs[KW_ENGINE_BATCH];
	struct kw_event events[KW_ENGINE_BATCH];
	struct kw_verdict verdicts[KW_ENGINE_BATCH];

	/* Event time, in batch order. */
	uint32_t formats; /* the decoders that decoded some event (bit i:
			     kw_decoder_all()[i]): the default lateness */
	int64_t newest;	  /* the newest event time analysed, of any stream;
			     INT64_MIN: none */
	/* The smallest of the streams' watermarks that are not quiet, never
	 * moving back: what the router ticks with, and what a quiet stream's
	 * windows follow (each stream's keys' windows close by the stream's
	 * own watermark: struct kw_shard's clocks). */
	int64_t watermark;
	/* The streams; [0] is the default one. */
	struct kw_engine_stream streams[KW_ENGINE_STREAMS_MAX];
	unsigned nstreams;
	struct kw_engine_ticks ticks; /* the one-thread path's last batch */
	bool streams_full_said;
	struct kw_engine_stats stats;
	uint64_t lost_out; /* the pipeline's items lost (kw_engine_stats
			      adds the shards' parts not made) */

	/* Keys handed out (AssumeRole...), with who asked: made on first
	 * use, read and written in batch order (kw_engine_handouts). */
	struct kw_handouts *handouts;
	/* The shard whose keys kw_engine_foreach_key is listing. */
	struct kw_shard *listing;

	struct kw_pipeline *pipe; /* NULL: one thread */
};

/* What a key is tracked by: its principal, when its prefix says so (AWS
 * temporary keys change every session) or the record has a principal and
 * no key (a console sign-in, root); else the key. Empty: a request made
 * without a key (the ordered stage's). */
static inline struct kw_str kw_engine_id(const struct kw_event *ev)
{
	if (ev->principal.n &&
	    (ev->key.n == 0 || (ev->flags & KW_EV_BY_PRINCIPAL)))
		return ev->principal;
	return ev->key;
}

/* ---- shard.c ---- */

/* The shard of a key (n bytes as written in the log). */
unsigned kw_shard_of(const struct kw_engine *e, const char *key, size_t n);

enum kw_status kw_shard_init(struct kw_engine *e, struct kw_shard *s,
			     unsigned id, size_t max_keys,
			     struct kw_error *err);
void kw_shard_fini(struct kw_shard *s);

/* Hints, so that keys not in the caches do not stall the analysis, given
 * in bursts (KW_SHARD_BURST) for the events of the shard's keys ahead of
 * the one analysed: kw_shard_hash_ahead computes an event's key hash (two
 * bursts ahead), kw_shard_ask_index then asks for the index lines of all
 * the keys hashed since it was last called, back to back, and
 * kw_shard_ask_entry (a burst ahead, once those lines have come) for an
 * event's key entry and state. Each event hashed must be analysed, or
 * kw_shard_prefetch_reset called, before its batch is reused. Nothing is
 * done while the shard's table is small (kw_shard.hinting). */
void kw_shard_hash_ahead_run(struct kw_shard *s, const struct kw_event *ev);
void kw_shard_ask_index_run(struct kw_shard *s);
void kw_shard_ask_entry_run(struct kw_shard *s, const struct kw_event *ev);
/* Inline, so that the check costs no call while the table is small. */
static inline void kw_shard_hash_ahead(struct kw_shard *s,
				       const struct kw_event *ev)
{
	if (s->hinting)
		kw_shard_hash_ahead_run(s, ev);
}
static inline void kw_shard_ask_index(struct kw_shard *s)
{
	if (s->hinting)
		kw_shard_ask_index_run(s);
}
static inline void kw_shard_ask_entry(struct kw_shard *s,
				      const struct kw_event *ev)
{
	if (s->hinting)
		kw_shard_ask_entry_run(s, ev);
}
/* Forget every key hashed: called before a batch's first hint, so that
 * no entry made for an event of a batch before (hashed twice, or never
 * analysed) can be taken for an event at the same place in this one. */
void kw_shard_prefetch_reset(struct kw_shard *s);

/* The events analysed next are of stream (an index in e->streams): the
 * families' clocks take its time. Called before each batch's events. */
void kw_shard_stream(struct kw_shard *s, unsigned stream);

/* One decoded and enriched event of the shard's keys, of stream (an index
 * in e->streams, the one kw_shard_stream was last told); late_wm: the
 * watermark of its stream before its batch (an older event is late). */
void kw_shard_analyse(struct kw_shard *s, struct kw_event *ev, unsigned stream,
		      int64_t late_wm);

/* Forget the keys of stream (an index), the engine settled: each goes off
 * the wheel, its state zeroed, marked KW_KS_DROPPED, its windows closed
 * without a word (their alerts are the new owner's); the stream's clock
 * starts again (its time goes with its keys). */
void kw_shard_drop_stream(struct kw_shard *s, unsigned stream);

/* The watermark of stream (an index) moved on to wm: the families' clocks
 * (when they hold that stream's), and the windows of the stream's keys it
 * passed (every SWEEP_EVERY of the stream's progress; all of them at
 * INT64_MAX). An earlier wm does nothing. */
void kw_shard_tick(struct kw_shard *s, unsigned stream, int64_t wm);
/* The same in steps: the families' clocks, and whether a sweep of the
 * stream's open windows is due; then the sweep, which stops between two
 * keys when stop(ctx) says so (false: call again to go on; stop NULL:
 * never). */
bool kw_shard_tick_begin(struct kw_shard *s, unsigned stream, int64_t wm);
bool kw_shard_sweep(struct kw_shard *s, bool (*stop)(void *ctx), void *ctx);
/* The ticks after a batch, in order (the batch's stream, then each quiet
 * stream), from *at (0 at the start): begins the next one with a sweep
 * due (sweep next, then call again) or says there is none left. */
bool kw_shard_ticks_next(struct kw_shard *s, const struct kw_engine_ticks *t,
			 unsigned *at);

/* The end: every window closes (each stream ticked with INT64_MAX). */
void kw_shard_finish(struct kw_shard *s);

/* The key's detector state as a state file holds it: every family's
 * state_size bytes in registry order, each aligned, overflow parts in
 * their place (zeroes for a key without a block); e->learned_size bytes,
 * valid until the next call on the shard. */
const unsigned char *kw_shard_flat(struct kw_shard *s, struct kw_keyent *key);

/* Every key with state, for reports and saves: the table's keys, each
 * with the windows its stream's sweeps passed closed first (as the sweep
 * leaves a key on the wheel; shard.c, catch_up). */
void kw_shard_foreach(struct kw_shard *s,
		      void (*cb)(void *ctx, struct kw_keyent *key), void *ctx);

/* ---- ordered.c ---- */

enum kw_status kw_ordered_init(struct kw_engine *e, struct kw_ordered *m,
			       struct kw_error *err);
void kw_ordered_fini(struct kw_ordered *m);
/* The three kinds of shard output, in event order. global: stream is the
 * event's (an index in e->streams); with opts.cross, what that hook takes
 * is not observed here. */
void kw_ordered_alert(struct kw_ordered *m, struct kw_alert *a);
void kw_ordered_global(struct kw_ordered *m, size_t family, unsigned stream,
		       const struct kw_event *ev, const struct kw_keyent *key);
void kw_ordered_evicted(struct kw_ordered *m, const char *fp);
/* A request made without a key (ev->key empty) of stream (an index), at
 * watermark wm: the families that judge a source IP see it (or
 * opts.cross takes it). */
void kw_ordered_unauth(struct kw_ordered *m, const struct kw_event *ev,
		       int64_t wm, unsigned stream);
void kw_ordered_note(struct kw_ordered *m, enum kw_log_level level,
		     const char *component, const char *text);
/* Alerts that passed the router about the key of fingerprint fp. */
uint32_t kw_ordered_count(const struct kw_ordered *m, const char *fp);
/* The direct output of a shard (one thread). */
extern const struct kw_shard_out kw_ordered_direct;

/* ---- engine.c, for the pipeline ---- */

/* A thread's decoders and caches. kw_worker_fini is NULL-safe. */
enum kw_status kw_worker_init(struct kw_engine *e, struct kw_worker_ctx *w,
			      bool own_geo, struct kw_error *err);
void kw_worker_fini(struct kw_engine *e, struct kw_worker_ctx *w);

/* Decode and enrich recs[0..n) of one input into events[] (room for n),
 * strings into arena, verdicts into verdicts[], with w's decoders and
 * caches; *formats: the decoders that decoded some event. Returns the
 * events: requests made without a key among them (ev->key empty). */
size_t kw_engine_decode(struct kw_engine *e, struct kw_worker_ctx *w,
			const struct kw_decoder_ops *dec,
			const struct kw_decoder_conf *conf,
			const struct kw_record *recs, size_t n,
			struct kw_event *events, struct kw_verdict *verdicts,
			struct kw_arena *arena, struct kw_skips *skips,
			const char *name, uint32_t *formats);

/* What a state file keeps of a key besides its state bytes: its times,
 * its events and the families learning it again (as the layout's
 * sections; none once they have learnt for the config's learn). */
void kw_engine_meta(const struct kw_engine *e, const struct kw_keyent *key,
		    struct kw_snap_meta *m);

/* A key restored from a state file at its first event of this run (time
 * ts): the families its record says are learning again learn from the
 * record's time, or from ts when the record says "from its next event". */
void kw_engine_restored(const struct kw_engine *e, struct kw_keyent *key,
			const struct kw_snap_meta *m, int64_t ts);

/* In event order, before the batch's events are analysed: each event of
 * a cloud log learns who handed its key out (ev->parent, a copy in arena),
 * and a key it hands out is remembered. Called in batch order, once per
 * batch, by whichever path runs (one thread or pipeline.c). */
void kw_engine_handouts(struct kw_engine *e, struct kw_event *events, size_t n,
			struct kw_arena *arena);

/* The stream of a kw_engine_input's stream value (engine.h): its index in
 * e->streams, made on first use (0 when there is no room). Called on the
 * reading thread, between reads. */
unsigned kw_engine_stream(struct kw_engine *e, uint64_t id);

/* The watermark after a batch of stream (an index) whose newest event time
 * is newest (INT64_MIN: no event yet) and whose decoders were formats (in
 * batch order: the lateness may grow with them): the stream's own, and
 * the engine's (the router's, and the quiet streams'); into *t, what the
 * shards tick with after the batch. The stream's watermark before the
 * call is what the batch's events are late against. */
void kw_engine_advance(struct kw_engine *e, unsigned stream, int64_t newest,
		       uint32_t formats, struct kw_engine_ticks *t);

#endif
