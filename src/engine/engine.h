/*
 * engine.h - the engine that wires the stages of DESIGN.md's data flow:
 * reader -> splitter -> decoder -> enrich (model) -> key table ->
 * detectors -> router. Batch (scan) and daemon (watch) share it: they differ
 * only in where the bytes come from and what advances time.
 *
 * The stages work batch by batch: on the caller's thread alone, or with
 * kw_engine_opts.threads > 1 on several (engine_impl.h: keys split over a
 * fixed number of shards, an ordered stage for what spans keys), with the
 * same results byte for byte. Every function but read and feed first
 * waits for what was handed in to be through; the engine is used by one
 * thread at a time.
 *
 * Departure from DESIGN.md's module map: the engine lives in its own
 * folder, between the stage modules and cli/, because it must know every
 * stage while core/ knows nothing above itself.
 */
#ifndef KW_ENGINE_ENGINE_H
#define KW_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert/router.h"
#include "core/config.h"
#include "core/skips.h"
#include "core/status.h"
#include "detect/detector.h"
#include "enrich/geoip.h"
#include "engine/wheel.h"
#include "enrich/model.h"
#include "ingest/decoder.h"
#include "ingest/reader.h"
#include "state/keyreport.h"
#include "state/keytab.h"

struct kw_engine_opts {
	const struct kw_config *cfg;	/* borrowed */
	const struct kw_models *models; /* borrowed */
	const char *format;		/* NULL or "auto": sniff per input */
	const struct kw_field_map *map; /* borrowed; may be NULL */
	size_t nmap;
	struct kw_router *router; /* borrowed */
	struct kw_geoip *geoip;	  /* borrowed; NULL: no GeoIP databases */
	/* Optional (scan): told of each input as it is opened, with how
	 * many were given (for progress on a terminal). */
	void (*progress)(void *ctx, uint64_t opened, uint64_t total,
			 const char *name);
	void *progress_ctx;
	/* Keep per key what a report shows (state/keyreport.h: its requests
	 * per minute and operations): about 1 KB more per key, and a little
	 * work per event, only when set. */
	bool report;
	/* Nothing reads the alerts but the router's counts (scan asks
	 * kw_router_reads once its router is set up): each alert is then
	 * made unread (core/alert.h), without the summary, evidence and
	 * links no one would see. The counts and the alerts that pass are
	 * the same either way. */
	bool unread;
	/* Threads that analyse (-j, config "threads"): 0 or 1 is the
	 * caller's alone; more run the stages in parallel, with the same
	 * results (engine_impl.h). */
	unsigned threads;
	/* Optional (watch). admit: asked before an alert goes to the
	 * router, with the stream of its key (struct kw_alert's stream);
	 * false drops it (it was raised before a restart). passed:
	 * told of each alert the router passed (after it was spooled). */
	bool (*admit)(void *ctx, const char *id, int64_t time, uint64_t stream);
	void (*passed)(void *ctx, const char *id, int64_t time,
		       const char *detector, enum kw_severity sev);
	/* Optional (watch): what spans keys (the families' observe_global
	 * and observe_unauth: auth.failures' table of source IPs) counted
	 * elsewhere for some streams. Asked in event order, on the ordered
	 * stage, for each such observation of an event of stream (key NULL:
	 * a request made without a key; key is read during the call only);
	 * true takes it: the engine's own instances do not see it. The
	 * daemon hands a Kafka input's to a stage keyed by source IP
	 * (daemon/byip.c), whose alerts come back through kw_engine_alert. */
	bool (*cross)(void *ctx, uint64_t stream, const struct kw_event *ev,
		      const struct kw_keyent *key);
	void *hook_ctx;
	/* Tests: a shard asks for its keys ahead of their events (hints)
	 * once its table holds this many keys (1: from the start, SIZE_MAX:
	 * never); 0: once its keys take KW_SHARD_HINT_BYTES. Results are the
	 * same either way. */
	size_t hint_keys;
	/* With threads > 1 the hooks run on whichever thread runs the
	 * ordered stage. By default read and feed then wait for what they
	 * handed in to be through before they return, so the hooks are
	 * done when the caller does its own work. caller_syncs (watch)
	 * lets them return once it is in batches: the caller calls
	 * kw_engine_sync before it touches what its hooks touch, and the
	 * next feed's reading overlaps the last one's analysis. */
	bool caller_syncs;
};

struct kw_engine_stats {
	uint64_t inputs;	  /* inputs opened */
	uint64_t inputs_failed;	  /* inputs unreadable or damaged */
	uint64_t records;	  /* records cut from the inputs */
	uint64_t events;	  /* events decoded and analysed */
	uint64_t unauthenticated; /* requests made without a key: counted,
				     and analysed by IP (auth.failures) */
	struct kw_skips skips;
	size_t keys;	    /* keys in the table now */
	uint64_t keys_seen; /* keys inserted (a key evicted and seen again
			       is inserted again) */
	uint64_t keys_evicted;
	/* Distinct keys seen: keys_seen when none was evicted, else an
	 * estimate (core/distinct.h, about 1.6% standard error, within
	 * keys .. keys_seen) and keys_estimated is set. */
	uint64_t keys_distinct;
	bool keys_estimated;
	uint64_t keys_restored; /* keys whose saved state was loaded */
	/* The families' overflow parts that the keys in the table hold now
	 * (kw_detector_ops.parts), and their bytes. */
	size_t overflow_blocks, overflow_bytes;
	uint64_t late;	      /* events older than the watermark */
	uint64_t inputs_late; /* inputs the merge opened after records
				 later than their first had gone out */
	uint64_t most_open;   /* inputs open at once in a merge */
	uint64_t lost;	      /* a shard's alerts or notes, or part of a
				 key's detector state, lost because
				 memory ran out (logged; exit status 3) */
	int64_t first_ts, last_ts;
};

/* A key's figures for the report (kw_engine_foreach_key), counted only
 * when opts.report asks for a report (all 0 otherwise: they cost memory
 * per key). */
struct kw_engine_keystats {
	uint64_t errors; /* status >= 400 */
	uint64_t denied; /* 401 and 403 */
	uint32_t alerts; /* alerts about this key that passed the router */
	uint32_t ips;	 /* distinct IPs, up to a small bound */
};

struct kw_engine;

enum kw_status kw_engine_create(const struct kw_engine_opts *opts,
				struct kw_engine **out, struct kw_error *err);

/* Read one input to its end (or to its damage). Problems are counted and
 * logged naming the input; the return value is KW_OK when the whole input
 * was read, otherwise the problem's status (the events before it count). */
enum kw_status kw_engine_read_path(struct kw_engine *e, const char *path);

/* Read several inputs as one stream in event-time order (ingest/merge.h:
 * the scan of many files, or of an export tree); one path is read as
 * kw_engine_read_path reads it. Each input is counted, and its problems
 * logged naming it. */
void kw_engine_read_paths(struct kw_engine *e, const char *const *paths,
			  size_t n);

/* Whether opts.progress was given. */
bool kw_engine_has_progress(const struct kw_engine *e);

/* How late an event may come after newer ones and still count in its
 * window: the config's lateness, else the largest default of the formats
 * read so far. */
int64_t kw_engine_lateness(const struct kw_engine *e);

/* How one configured input is decoded (the config's inputs[]): format NULL
 * or "auto" uses the engine's (--format, else sniffed from the first
 * record); dconf NULL uses the engine's field map. Both are borrowed and
 * must outlive the engine.
 *
 * stream: whose event time the records are (DESIGN.md, "Time"). 0 is the
 * default stream: files, each read in its own order, one after another as
 * before. Any other value is a stream of its own (a Kafka partition: the
 * caller picks distinct values), with its own newest time and watermark:
 * its records are late only against its own watermark, so a stream read
 * from far behind makes no other stream's requests late, and none of its
 * own. A key's windows close when the watermark of the stream whose record
 * last fed the key has passed them, so a stream that starts behind the
 * others (a partition restored into an instance ahead of it) keeps its
 * keys' windows open to their end, and a slow stream holds no other's
 * open; a quiet stream's (kw_engine_stream_quiet) follow the smallest
 * watermark of the streams that are not quiet, which is also the time
 * the router's windows (dedup, incidents) go by. At most
 * KW_ENGINE_STREAMS_MAX streams (more share the default stream, said once
 * in the log). */
struct kw_engine_input {
	const char *format;
	const struct kw_decoder_conf *dconf;
	uint64_t stream;
};

#define KW_ENGINE_STREAMS_MAX 1024

/* The stream has nothing more for now (its source is at its end, idle,
 * or was taken away): until its next record its time no longer holds the
 * engine's watermark back, and its keys' windows follow that. An unknown
 * stream is ignored. */
void kw_engine_stream_quiet(struct kw_engine *e, uint64_t stream);

/* The state of one stream's keys, for the daemon's changelog (the keys of
 * a Kafka partition move with it to whichever instance owns it). A key
 * belongs to the stream whose event last fed it.
 *
 * export_stream: each key of stream (with changed_only, only those whose
 * state changed since the stream's last export) handed to cb as its
 * fingerprint and one record in the state file's per-key form
 * (state/snapshot.h, kw_snapshot_encode), read after everything handed in
 * is through, so it covers exactly the records fed so far. cb returning
 * false stops (that key and those after it stay changed): KW_ERETRY.
 * KW_ENOMEM when no record buffer could be had. */
typedef bool kw_engine_export_fn(void *ctx, const char *fp,
				 const unsigned char *rec, size_t len);
enum kw_status kw_engine_export_stream(struct kw_engine *e, uint64_t stream,
				       bool changed_only,
				       kw_engine_export_fn *cb, void *ctx);

/* The largest such record (the bound a record read back is checked
 * against); 0 when memory ran out. */
size_t kw_engine_record_max(struct kw_engine *e);

/* The layout of those records (kw_snapshot_layout: the state's size and
 * each detector family's section), which goes with them so that a
 * keywatch of another layout can read them; NULL when memory ran out. */
const unsigned char *kw_engine_layout(struct kw_engine *e, size_t *len);

/* One such record, of layout (llen bytes, as kw_engine_layout gives
 * them; NULL: this keywatch's), into the pending table
 * (state/snapshot.h: the key's fresh entry takes it when the key is next
 * seen), checked as a state file's records are and moved into this
 * keywatch's layout as a file's are (what that changes is said once a
 * layout, naming where: "changelog T/P"): KW_ECORRUPT with what is wrong
 * in err (naming the key's fingerprint; the caller adds where the record
 * came from); KW_ETOOBIG when the pending table is full; KW_ENOMEM. */
enum kw_status kw_engine_import_key(struct kw_engine *e, uint64_t stream,
				    const unsigned char *layout, size_t llen,
				    const char *where, const unsigned char *rec,
				    size_t len, struct kw_error *err);

/* Forget a stream's keys (its partition was taken away): their entries
 * (windows closed without an alert, their state gone; seen again, a key
 * starts afresh from the pending table) and the records imported for it
 * and not yet taken. */
void kw_engine_drop_stream(struct kw_engine *e, uint64_t stream);

/* How far the stream's own event time is complete, by what it has read
 * alone: its newest event time less the lateness. Not its watermark,
 * which idle time moves on for every stream (kw_engine_idle), nor the
 * engine's: a stream's next records may be older than those, as a
 * partition restored at an older offset reads older requests again.
 * INT64_MIN for a stream with no event yet, or an unknown one. Waits for
 * what was handed in. */
int64_t kw_engine_stream_done(struct kw_engine *e, uint64_t stream);

/* An alert raised outside the engine's stages (daemon/byip.c: what spans
 * keys, counted for the streams opts.cross took), on the alerts' one
 * path: opts.admit with a->stream, the router, opts.passed. Waits for
 * what was handed in first, so it takes its place after it. Takes the
 * alert's contents. */
void kw_engine_alert(struct kw_engine *e, struct kw_alert *a);

/* Read from an open reader (the engine does not close it). name must
 * outlive the engine (it is kept in events and messages). in may be NULL
 * (the engine's format and map). */
enum kw_status kw_engine_read(struct kw_engine *e, struct kw_reader *r,
			      const char *name,
			      const struct kw_engine_input *in);

/* Read the complete records in buf[0..len) as more of the input name
 * (watch: what the tailer read since the last call; it ends with a whole
 * line). Not counted as a new input; line numbers in messages count from
 * the start of buf. name must outlive the engine. in may be NULL. */
enum kw_status kw_engine_feed(struct kw_engine *e, const char *buf, size_t len,
			      const char *name,
			      const struct kw_engine_input *in);

/* The same, the bytes read from r to its end (a Kafka input's run of
 * messages, read where librdkafka holds them): not counted as a new
 * input. The engine does not close r. */
enum kw_status kw_engine_feed_reader(struct kw_engine *e, struct kw_reader *r,
				     const char *name,
				     const struct kw_engine_input *in);

/* Wait for everything handed in to be through (the hooks done): what
 * every other function does first. */
void kw_engine_sync(struct kw_engine *e);

/* The input has been idle for idle_us of wall-clock time since the newest
 * event was read: advance the watermark as if event time had moved on as
 * much, so that open windows close (DESIGN.md, "Time"). */
void kw_engine_idle(struct kw_engine *e, int64_t idle_us);

/* No more input: close every window (tick with the end of time, then
 * flush every key). */
void kw_engine_finish(struct kw_engine *e);

/* Learned state (--state FILE, state/snapshot.h). Load before reading:
 * a missing file is a first run (KW_OK); a damaged or foreign one is an
 * error naming the file. Save after kw_engine_finish: every key in the
 * table and every saved key not seen in this run, written atomically.
 * With a router, its memory (kw_router_memory_save) is saved and loaded
 * with the learned state. */
enum kw_status kw_engine_load_state(struct kw_engine *e, const char *path,
				    struct kw_error *err);
enum kw_status kw_engine_save_state(struct kw_engine *e, const char *path,
				    struct kw_error *err);

/* Bytes of detector and report state per key (the benchmark's figure,
 * besides the key table's own overhead per entry). */
size_t kw_engine_state_bytes(const struct kw_engine *e);

const struct kw_engine_stats *kw_engine_stats(struct kw_engine *e);

/* The config the engine was made with. */
const struct kw_config *kw_engine_config(const struct kw_engine *e);

/* Each key with its report stats (see struct kw_engine_keystats); order
 * unspecified. */
typedef void kw_engine_key_cb(void *ctx, const struct kw_keyent *key,
			      const struct kw_engine_keystats *ks);
void kw_engine_foreach_key(struct kw_engine *e, kw_engine_key_cb *cb,
			   void *ctx);

/* What a report shows of one key besides its stats: its timeline and
 * operations (NULL unless opts.report), and what the detector families
 * learnt of it. Call it only from a kw_engine_foreach_key callback, with
 * the key given there (the key is described by the families that
 * observed it). */
struct kw_engine_keydetail {
	const struct kw_keyreport *report; /* borrowed, like the key */
	struct kw_detect_profile profile;
};
void kw_engine_key_detail(struct kw_engine *e, const struct kw_keyent *key,
			  struct kw_engine_keydetail *out);

/* After the end: how many of the keys in the table were still learning at
 * their last event (their first cfg->learn of event time; a key continued
 * from a state file counts from its first event there), out of *keys.
 * Both 0 when no learned detector is enabled. */
void kw_engine_learning(struct kw_engine *e, uint64_t *learning,
			uint64_t *keys);

/* Whether the glob of keys[i] of the config matched a key of the input so
 * far (any key, even one an earlier entry also matches). False for an i
 * past the config's keys. */
bool kw_engine_conf_matched(const struct kw_engine *e, size_t i);

/* Count an input that could not be opened (the caller reports it). */
void kw_engine_count_failed(struct kw_engine *e);

/* NULL-safe. */
void kw_engine_destroy(struct kw_engine *e);

#endif
