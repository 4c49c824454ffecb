/*
 * engine.c - the engine's interface (engine.h) and the work of one thread.
 * For each input, per batch of records: decode (each batch recognises its
 * decoders from its own first record), enrich from the model (and judge
 * the operation by its matchers, when it has any), check the key, then
 * hand each event to the shard of its key (shard.c), whose alerts go to
 * the ordered stage (ordered.c). After each batch the watermark (newest
 * event time less the allowed lateness) ticks every shard and the router;
 * an event older than the watermark is late (counted, still observed). At
 * the end every window closes.
 *
 * Event time is kept per stream (engine.h, struct kw_engine_input: files
 * share the default one, each Kafka partition has its own). A batch is of
 * one stream; its events are late against that stream's watermark, and
 * a key's windows close by the watermark of the stream that last fed it
 * (the shards keep a clock and a wheel per stream), so a stream that
 * starts behind the others (a partition restored into an instance ahead
 * of it) keeps its windows to the end. The engine's watermark, the
 * smallest of the streams' that are not quiet (never moving back), is
 * what the router ticks with and what a quiet stream's windows follow.
 * With one stream all of these are the watermark above. With threads
 * (kw_engine_opts.threads > 1) the same batches go through pipeline.c
 * instead, with the same results.
 *
 * Learned state (--state): the detectors' part of a key's state area (after
 * the engine's report counters) is what a snapshot saves per fingerprint;
 * a saved key's state is copied in when the key is first seen, and an
 * evicted key's state goes to its shard's stash. A family's overflow parts
 * (kw_detector_ops.parts) live in blocks of the shard's pool for that
 * family and part, made for a key on first need; a snapshot sees every
 * family's state_size bytes with each part in its place (kw_shard_flat), so the
 * file does not change with which keys had one. The router's memory (its dedup
 * table and rate-limit windows, alert/router.h) travels in the same file, so
 * two scans with one state file route like one. A detector family the file
 * holds no state of this layout for learns each of its keys again from the
 * key's first event (kw_keyent.relearn, carried in the file until it has
 * learnt: kw_engine_meta); shard.c shows such a family the key as first seen
 * then, so its detectors keep to their learning period.
 */
#include "engine/engine.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/key.h"
#include "core/log.h"
#include "engine/engine_impl.h"
#include "engine/pipeline.h"
#include "ingest/merge.h"
#include "ingest/splitter.h"
#include "state/blocks.h"

/* How many shards: a fixed number (never the thread count), fewer when
 * max_keys is small, so that no shard's table is tiny. */
static unsigned shard_count(size_t max_keys)
{
	size_t n = max_keys / KW_ENGINE_SHARD_MIN_KEYS;

	if (n < 1)
		n = 1;
	return n > KW_ENGINE_SHARDS_MAX ? KW_ENGINE_SHARDS_MAX : (unsigned)n;
}

/* ---- creating ---- */

/* The layout of a key's state area: the engine's head, then each
 * family's slice in registry order (its state_size bytes less its
 * overflow parts, which blocks hold, and then the blocks' handles), then
 * (with a report) the report's counters and timeline. */
static void layout(struct kw_engine *e)
{
	const struct kw_detector_ops *const *all = kw_detect_all();
	size_t off = (sizeof(struct kw_keyhead) + 15) & ~(size_t)15;

	e->learned_off = off;
	e->learned_size = 0;
	for (size_t i = 0; all[i] && i < KW_ENGINE_MAX_FAMILIES; i++) {
		size_t ov = kw_family_parts_size(all[i]);

		off += kw_slice_room(kw_family_slice(all[i]));
		e->learned_size += (all[i]->state_size + 15) & ~(size_t)15;
		e->overflows = e->overflows || ov;
		if (all[i]->flush)
			e->windowed = true;
	}
	if (e->opts.report) {
		/* After the detectors' part, so that snapshots never see it. */
		off = (off + 15) & ~(size_t)15;
		e->count_off = off;
		off += (sizeof(struct kw_keycount) + 15) & ~(size_t)15;
		e->report_off = off;
		off += (sizeof(struct kw_keyreport) + 15) & ~(size_t)15;
	}
	e->state_size = off;
}

enum kw_status kw_engine_create(const struct kw_engine_opts *opts,
				struct kw_engine **out, struct kw_error *err)
{
	struct kw_engine *e = calloc(1, sizeof(*e));
	size_t max_keys;
	enum kw_status st;

	*out = NULL;
	if (!e)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	e->opts = *opts;
	e->dconf.map = opts->map;
	e->dconf.nmap = opts->nmap;
	e->judge.trusted = (const char *const *)opts->cfg->trusted_accounts;
	e->judge.ntrusted = opts->cfg->ntrusted_accounts;
	e->newest = INT64_MIN;
	e->watermark = INT64_MIN;
	e->streams[0].newest = INT64_MIN;
	e->streams[0].watermark = INT64_MIN;
	e->nstreams = 1;
	e->stats.first_ts = INT64_MAX;
	e->stats.last_ts = INT64_MIN;
	pthread_mutex_init(&e->snap_mu, NULL);
	kw_arena_init(&e->arena, 0);
	layout(e);
	if (opts->format && strcmp(opts->format, "auto") != 0) {
		e->forced = kw_decoder_find(opts->format);
		if (!e->forced) {
			char names[128];

			st = kw_error_set(
				err, KW_EUSAGE,
				"unknown format '%s' (formats: auto, "
				"%s)",
				opts->format,
				kw_decoder_names(names, sizeof(names)));
			goto cleanup;
		}
	}
	st = kw_worker_init(e, &e->worker, false, err);
	if (st != KW_OK)
		goto cleanup;
	st = kw_ordered_init(e, &e->ord, err);
	if (st != KW_OK)
		goto cleanup;
	max_keys = opts->cfg->max_keys;
	e->nshards = shard_count(max_keys);
	for (unsigned i = 0; i < e->nshards && st == KW_OK; i++)
		st = kw_shard_init(e, &e->shards[i], i,
				   max_keys / e->nshards +
					   (i < max_keys % e->nshards),
				   err);
	if (st == KW_OK && opts->threads > 1)
		st = kw_pipeline_create(e, opts->threads, &e->pipe, err);
cleanup:
	if (st != KW_OK)
		kw_engine_destroy(e);
	else
		*out = e;
	return st;
}

/* ---- the work of one batch ---- */

enum kw_status kw_worker_init(struct kw_engine *e, struct kw_worker_ctx *w,
			      bool own_geo, struct kw_error *err)
{
	enum kw_status st = kw_dispatch_create(&w->dispatch, err);

	if (st == KW_OK && e->opts.models &&
	    kw_models_cache_create(e->opts.models, &w->models) != KW_OK)
		st = kw_error_set(err, KW_ENOMEM, "out of memory");
	if (st == KW_OK && own_geo && e->opts.geoip &&
	    kw_geoip_cache_create(KW_GEOIP_CACHE_DEFAULT, &w->geo) != KW_OK)
		st = kw_error_set(err, KW_ENOMEM, "out of memory");
	return st;
}

void kw_worker_fini(struct kw_engine *e, struct kw_worker_ctx *w)
{
	kw_dispatch_destroy(w->dispatch);
	kw_models_cache_destroy(w->models);
	kw_geoip_cache_destroy(w->geo, e->opts.geoip);
	memset(w, 0, sizeof(*w));
}

/* Decode and enrich; keep only events whose key the table can take. */
size_t kw_engine_decode(struct kw_engine *e, struct kw_worker_ctx *w,
			const struct kw_decoder_ops *dec,
			const struct kw_decoder_conf *conf,
			const struct kw_record *recs, size_t n,
			struct kw_event *events, struct kw_verdict *verdicts,
			struct kw_arena *arena, struct kw_skips *skips,
			const char *name, uint32_t *formats)
{
	struct kw_dispatch_stream ds;
	size_t got, kept = 0;

	/* Each batch recognises its decoder from its own first record, so
	 * that batches decode alike whichever thread takes them. */
	kw_dispatch_stream_init(&ds, dec, conf ? conf : &e->dconf);
	got = kw_dispatch_decode(w->dispatch, &ds, recs, n, events, arena,
				 skips, name);
	for (size_t i = 0; i < got; i++) {
		struct kw_event *ev = &events[i];

		if (kw_engine_id(ev).n > KW_KEY_MAX_LEN) {
			kw_skips_add(skips, KW_SKIP_BAD_FIELD, ev->file,
				     ev->line, "key not tracked: %s",
				     kw_strerror(KW_ETOOBIG));
			continue;
		}
		if (kept != i)
			events[kept] = *ev;
		ev = &events[kept];
		kw_models_enrich_cached(e->opts.models, w->models, ev, arena);
		if (kw_engine_id(ev).n && (ev->flags & KW_EV_JUDGE)) {
			if (!kw_models_judge(e->opts.models, ev, &e->judge,
					     &verdicts[kept])) {
				/* judged by half is not judged */
				kw_skips_add(skips, KW_SKIP_NO_MEMORY, ev->file,
					     ev->line,
					     "out of memory judging the "
					     "request by the model's rules");
				continue;
			}
			ev->verdict = &verdicts[kept];
		}
		kept++;
	}
	*formats = kw_dispatch_take_formats(w->dispatch);
	return kept;
}

unsigned kw_engine_stream(struct kw_engine *e, uint64_t id)
{
	struct kw_engine_stream *st;

	for (unsigned i = 0; i < e->nstreams; i++) {
		if (e->streams[i].id == id)
			return i;
	}
	/* The pipeline's sequencing reads the table: it is through first. */
	if (e->pipe)
		kw_pipeline_drain(e->pipe);
	if (e->nstreams == KW_ENGINE_STREAMS_MAX) {
		if (!e->streams_full_said)
			kw_log_warn("engine",
				    "more than %d streams of event time: the "
				    "others share the default stream (their "
				    "requests may be counted late)",
				    KW_ENGINE_STREAMS_MAX);
		e->streams_full_said = true;
		return 0;
	}
	st = &e->streams[e->nstreams];
	st->id = id;
	st->newest = INT64_MIN;
	st->watermark = INT64_MIN;
	st->quiet = false;
	return e->nstreams++;
}

/* The engine's watermark from its streams': the smallest of those not
 * quiet (streams with no event yet hold nothing back); whether it moved. */
static bool follow_streams(struct kw_engine *e)
{
	int64_t wm = INT64_MAX;

	for (unsigned i = 0; i < e->nstreams; i++) {
		const struct kw_engine_stream *st = &e->streams[i];

		if (!st->quiet && st->newest != INT64_MIN && st->watermark < wm)
			wm = st->watermark;
	}
	if (wm == INT64_MAX || wm <= e->watermark)
		return false;
	e->watermark = wm;
	return true;
}

/* The watermark stream i's windows close by: its own, or for a quiet
 * stream with events the engine's when that is further on. */
static int64_t window_wm(const struct kw_engine *e, unsigned i)
{
	const struct kw_engine_stream *st = &e->streams[i];

	return st->quiet && st->newest != INT64_MIN &&
			       e->watermark > st->watermark
		       ? e->watermark
		       : st->watermark;
}

void kw_engine_advance(struct kw_engine *e, unsigned stream, int64_t newest,
		       uint32_t formats, struct kw_engine_ticks *t)
{
	struct kw_engine_stream *st = &e->streams[stream];
	int64_t lateness;
	bool moved;

	if (t->any_quiet)
		memset(t->quiet, 0, sizeof(t->quiet));
	t->any_quiet = false;
	t->stream = stream;
	e->formats |= formats;
	if (newest > e->newest)
		e->newest = newest;
	if (newest != INT64_MIN)
		st->quiet = false;
	if (newest > st->newest)
		st->newest = newest;
	if (st->newest != INT64_MIN) {
		lateness = kw_engine_lateness(e);
		for (unsigned i = 0; i < e->nstreams; i++) {
			/* The lateness may have grown with this batch's
			 * formats: a watermark never moves back. */
			struct kw_engine_stream *o = &e->streams[i];

			if (o->newest != INT64_MIN &&
			    o->newest - lateness > o->watermark)
				o->watermark = o->newest - lateness;
		}
		/* The quiet streams' windows follow the engine's time. */
		moved = follow_streams(e);
		for (unsigned i = 0; moved && i < e->nstreams; i++) {
			if (window_wm(e, i) != e->streams[i].watermark) {
				t->quiet[i / 64] |= UINT64_C(1) << (i % 64);
				t->any_quiet = true;
			}
		}
	}
	t->own = st->watermark;
	t->wm = e->watermark;
}

/* A key handed out by this event's key (AssumeRole, GetSessionToken):
 * remember who asked, for alerts about the child. */
static void note_handout(struct kw_engine *e, const struct kw_event *ev)
{
	struct kw_handout h;

	if (!e->handouts &&
	    kw_handouts_create(KW_ENGINE_HANDOUTS_MAX, &e->handouts) != KW_OK)
		return;
	memset(&h, 0, sizeof(h));
	h.ts = ev->ts;
	/* The id of the asking key as its alerts show it: the key redacted,
	 * or the label of a principal that used none. */
	if (ev->key.n)
		kw_key_redact(ev->key.p, ev->key.n, h.id, sizeof(h.id));
	else
		kw_key_principal_label(ev->principal.p, ev->principal.n, h.id,
				       KW_KEY_ID_MAX < sizeof(h.id)
					       ? KW_KEY_ID_MAX
					       : sizeof(h.id));
	if (ev->principal.n)
		kw_key_principal_label(ev->principal.p, ev->principal.n,
				       h.principal, sizeof(h.principal));
	kw_handouts_put(e->handouts, ev->cloud->issued_key.p,
			ev->cloud->issued_key.n, &h);
}

void kw_engine_handouts(struct kw_engine *e, struct kw_event *events, size_t n,
			struct kw_arena *arena)
{
	for (size_t i = 0; i < n; i++) {
		struct kw_event *ev = &events[i];

		if (!ev->cloud || !kw_engine_id(ev).n)
			continue;
		if (e->handouts && ev->key.n) {
			const struct kw_handout *h = kw_handouts_get(
				e->handouts, ev->key.p, ev->key.n);
			struct kw_handout *copy =
				h ? kw_arena_alloc(arena, sizeof(*copy)) : NULL;

			/* A copy: a later put may reuse the entry before the
			 * event is analysed. */
			if (copy) {
				*copy = *h;
				ev->parent = copy;
			}
		}
		if (ev->cloud->issued_key.n && ev->status < 400)
			note_handout(e, ev);
	}
}

/* Event time has moved on to wm without events (idle, the end), for every
 * stream. */
static void advance_to(struct kw_engine *e, int64_t wm)
{
	if (wm > e->watermark)
		e->watermark = wm;
	for (unsigned i = 0; i < e->nstreams; i++) {
		if (e->streams[i].watermark < e->watermark)
			e->streams[i].watermark = e->watermark;
	}
}

/* Every shard at every stream's watermark, then the router at the
 * engine's (one thread, or the pipeline settled). */
static void tick_all(struct kw_engine *e)
{
	for (unsigned i = 0; i < e->nshards; i++) {
		for (unsigned k = 0; k < e->nstreams; k++)
			kw_shard_tick(&e->shards[i], k, window_wm(e, k));
	}
	kw_router_tick(e->opts.router, e->watermark);
}

/* After a batch (one thread): each shard at the ticks it brought, then
 * the router. */
static void tick_batch(struct kw_engine *e)
{
	for (unsigned i = 0; i < e->nshards; i++) {
		unsigned at = 0;

		while (kw_shard_ticks_next(&e->shards[i], &e->ticks, &at))
			kw_shard_sweep(&e->shards[i], NULL, NULL);
	}
	kw_router_tick(e->opts.router, e->watermark);
}

static void count_failed(struct kw_engine *e, enum kw_skip_reason r)
{
	e->stats.skips.count[r]++;
	e->stats.skips.total++;
	e->stats.inputs_failed++;
}

static void input_failed(struct kw_engine *e, enum kw_skip_reason r,
			 const char *msg)
{
	/* Every damaged or unreadable input is named, not only the first few
	 * (as for bad records), so it is logged here and only counted. */
	count_failed(e, r);
	kw_log_error(NULL, "%s", msg);
}

/* The shard of ev's key, or KW_ENGINE_SHARDS_MAX for an event made
 * without a key. */
static uint8_t shard_of_event(const struct kw_engine *e,
			      const struct kw_event *ev)
{
	struct kw_str id = kw_engine_id(ev);

	return id.n ? (uint8_t)kw_shard_of(e, id.p, id.n)
		    : KW_ENGINE_SHARDS_MAX;
}

#define SHARD_RING (4 * KW_SHARD_BURST)

/* Ask the shards for the keys of events [from, to) (cut to n), in one
 * burst: their index lines (far; the event's shard is found and kept in
 * shard[]), or their entries (near). */
static void ask_keys(struct kw_engine *e, uint8_t *shard, size_t from,
		     size_t to, size_t n, bool far)
{
	for (size_t j = from; j < to && j < n; j++) {
		const struct kw_event *ev = &e->events[j];
		uint8_t *own = &shard[j % SHARD_RING];

		if (far)
			*own = shard_of_event(e, ev);
		if (*own == KW_ENGINE_SHARDS_MAX)
			continue;
		if (far)
			kw_shard_hash_ahead(&e->shards[*own], ev);
		else
			kw_shard_ask_entry(&e->shards[*own], ev);
	}
	for (unsigned i = 0; far && i < e->nshards; i++)
		kw_shard_ask_index(&e->shards[i]);
}

/* One thread: the n events of a batch of stream, each to its shard (or,
 * made without a key, to the ordered stage), then the watermark after
 * it. */
static void analyse_batch(struct kw_engine *e, unsigned stream, size_t n,
			  uint32_t formats)
{
	int64_t newest = INT64_MIN, late_wm = e->streams[stream].watermark;
	/* The shard of events[j] at [j % SHARD_RING], found once, when its
	 * key is first asked for (shard.c: a hint, in bursts two bursts
	 * ahead); KW_ENGINE_SHARDS_MAX: made without a key. */
	uint8_t shard[SHARD_RING];
	bool hinting = false; /* any shard: else no bursts, no ring */

	for (unsigned i = 0; i < e->nshards; i++) {
		kw_shard_stream(&e->shards[i], stream);
		kw_shard_prefetch_reset(&e->shards[i]);
		hinting = hinting || e->shards[i].hinting;
	}
	kw_engine_handouts(e, e->events, n, &e->arena);
	if (hinting) {
		ask_keys(e, shard, 0, 2 * KW_SHARD_BURST, n, true);
		ask_keys(e, shard, 0, KW_SHARD_BURST, n, false);
	}
	for (size_t i = 0; i < n; i++) {
		struct kw_event *ev = &e->events[i];
		unsigned own;

		if (!hinting) {
			own = shard_of_event(e, ev);
		} else {
			if (i % KW_SHARD_BURST == 0) {
				ask_keys(e, shard, i + 2 * KW_SHARD_BURST,
					 i + 3 * KW_SHARD_BURST, n, true);
				ask_keys(e, shard, i + KW_SHARD_BURST,
					 i + 2 * KW_SHARD_BURST, n, false);
			}
			own = shard[i % SHARD_RING];
		}
		if (ev->ts > newest)
			newest = ev->ts;
		if (own == KW_ENGINE_SHARDS_MAX)
			kw_ordered_unauth(&e->ord, ev, late_wm, stream);
		else
			kw_shard_analyse(&e->shards[own], ev, stream, late_wm);
	}
	kw_engine_advance(e, stream, newest, formats, &e->ticks);
	if (e->newest != INT64_MIN)
		tick_batch(e);
}

/* One thread: dec is the decoder to use, or NULL to recognise each
 * record; conf its field map, or NULL for the engine's; stream the
 * records' (an index). */
static enum kw_status read_records(struct kw_engine *e, struct kw_reader *r,
				   const char *name,
				   const struct kw_decoder_ops *dec,
				   const struct kw_decoder_conf *conf,
				   unsigned stream)
{
	struct kw_splitter *sp = NULL;
	struct kw_error err;
	enum kw_status st, result = KW_OK;
	size_t n;

	st = kw_splitter_create(r, name, e->opts.cfg->max_line, 0, &sp);
	if (st != KW_OK) {
		kw_error_set(&err, st, "%s: %s", name, kw_strerror(st));
		input_failed(e, KW_SKIP_UNREADABLE, err.msg);
		return st;
	}
	for (;;) {
		uint32_t formats = 0;

		kw_error_clear(&err);
		st = kw_splitter_next(sp, e->recs, KW_ENGINE_BATCH, &n,
				      &e->stats.skips, &err);
		if (st != KW_OK) {
			/* Reader messages name the input already; the
			 * splitter's structural ones give only the line. */
			if (strncmp(err.msg, name, strlen(name)) != 0)
				kw_error_prefix(&err, "%s", name);
			input_failed(e, KW_SKIP_CORRUPT, err.msg);
			result = st;
			break;
		}
		if (n == 0)
			break;
		e->stats.records += n;
		kw_arena_reset(&e->arena);
		n = kw_engine_decode(e, &e->worker, dec, conf, e->recs, n,
				     e->events, e->verdicts, &e->arena,
				     &e->stats.skips, name, &formats);
		analyse_batch(e, stream, n, formats);
	}
	kw_splitter_destroy(sp);
	return result;
}

/* The decoder an input asks for (NULL: sniff), and its field map. */
static const struct kw_decoder_ops *
input_decoder(const struct kw_engine *e, const struct kw_engine_input *in)
{
	if (in && in->format && strcmp(in->format, "auto") != 0)
		return kw_decoder_find(in->format);
	return e->forced;
}

static enum kw_status read_input(struct kw_engine *e, struct kw_reader *r,
				 const char *name,
				 const struct kw_engine_input *in, bool counted)
{
	const struct kw_decoder_ops *dec = input_decoder(e, in);
	const struct kw_decoder_conf *conf = in ? in->dconf : NULL;
	unsigned stream =
		in && in->stream ? kw_engine_stream(e, in->stream) : 0;
	enum kw_status st;

	if (e->pipe) {
		st = kw_pipeline_read(e->pipe, r, name, dec, conf, stream,
				      counted);
		/* watch's hooks and what it keeps beside the engine (the
		 * journal, checkpoints) are its thread's: what it handed in
		 * is through before the call returns, unless it syncs. */
		if ((e->opts.admit || e->opts.passed) && !e->opts.caller_syncs)
			kw_pipeline_drain(e->pipe);
		return st;
	}
	if (counted)
		e->stats.inputs++;
	return read_records(e, r, name, dec, conf, stream);
}

enum kw_status kw_engine_read(struct kw_engine *e, struct kw_reader *r,
			      const char *name,
			      const struct kw_engine_input *in)
{
	return read_input(e, r, name, in, true);
}

/* A reader over bytes in memory, for kw_engine_feed. */
struct mem_src {
	const char *p;
	size_t len, pos;
};

static enum kw_status mem_read(void *self, void *buf, size_t cap, size_t *got,
			       struct kw_error *err)
{
	struct mem_src *m = self;
	size_t n = m->len - m->pos;

	(void)err;
	if (n > cap)
		n = cap;
	memcpy(buf, m->p + m->pos, n);
	m->pos += n;
	*got = n;
	return KW_OK;
}

static uint64_t mem_offset(void *self)
{
	return ((struct mem_src *)self)->pos;
}

static void mem_destroy(void *self)
{
	(void)self;
}

static const struct kw_reader_ops mem_ops = {
	.name = "memory",
	.read = mem_read,
	.offset = mem_offset,
	.destroy = mem_destroy,
};

enum kw_status kw_engine_feed(struct kw_engine *e, const char *buf, size_t len,
			      const char *name,
			      const struct kw_engine_input *in)
{
	struct mem_src m = {buf, len, 0};
	struct kw_reader r = {&mem_ops, &m, (char *)name};

	return read_input(e, &r, name, in, false);
}

enum kw_status kw_engine_feed_reader(struct kw_engine *e, struct kw_reader *r,
				     const char *name,
				     const struct kw_engine_input *in)
{
	return read_input(e, r, name, in, false);
}

/* Everything handed to the pipeline is through the ordered stage: the
 * engine is this thread's alone again. */
static void settle(struct kw_engine *e)
{
	if (e->pipe)
		kw_pipeline_drain(e->pipe);
}

void kw_engine_sync(struct kw_engine *e)
{
	settle(e);
}

void kw_engine_idle(struct kw_engine *e, int64_t idle_us)
{
	settle(e);
	if (e->newest == INT64_MIN || idle_us <= 0)
		return;
	if (e->newest > INT64_MAX - idle_us)
		advance_to(e, INT64_MAX);
	else
		advance_to(e, e->newest + idle_us - kw_engine_lateness(e));
	tick_all(e);
}

enum kw_status kw_engine_read_path(struct kw_engine *e, const char *path)
{
	struct kw_reader *r = NULL;
	struct kw_error err;
	enum kw_status st;

	kw_error_clear(&err);
	st = kw_reader_open(path, &r, &err);
	if (st != KW_OK) {
		if (e->pipe) {
			kw_pipeline_failed(e->pipe, KW_SKIP_UNREADABLE,
					   err.msg);
			return st;
		}
		e->stats.inputs++;
		input_failed(e, KW_SKIP_UNREADABLE, err.msg);
		return st;
	}
	st = kw_engine_read(e, r, r->name, NULL);
	kw_reader_close(r);
	return st;
}

bool kw_engine_has_progress(const struct kw_engine *e)
{
	return e->opts.progress != NULL;
}

int64_t kw_engine_lateness(const struct kw_engine *e)
{
	if (e->opts.cfg->lateness > 0)
		return e->opts.cfg->lateness;
	return kw_decoder_lateness(e->formats);
}

/* ---- several inputs, merged by event time ---- */

#define TIME_NAMES 16

struct merged {
	struct kw_engine *e;
	uint64_t opened, total;
	uint32_t input[KW_ENGINE_BATCH];
};

/* Told on the thread that reads (with threads, the batch being read
 * counts the input and says what failed, when the ordered stage reaches
 * it). */
static void merge_opened(void *ctx, uint32_t input, const char *name,
			 void *user)
{
	struct merged *mg = ctx;
	struct kw_engine *e = mg->e;

	(void)input;
	(void)user; /* each batch decodes with a stream of its own */
	mg->opened++;
	if (e->pipe)
		kw_pipeline_opened(e->pipe);
	else
		e->stats.inputs++;
	if (e->opts.progress)
		e->opts.progress(e->opts.progress_ctx, mg->opened, mg->total,
				 name);
}

static void merge_failed(void *ctx, enum kw_skip_reason reason, const char *msg)
{
	struct merged *mg = ctx;

	if (mg->e->pipe)
		kw_pipeline_input_failed(mg->e->pipe, reason, msg);
	else
		input_failed(mg->e, reason, msg);
}

/* One thread: a batch of the merge, each run of records of one input
 * decoded under that input's name, then analysed as one batch. */
static void merged_batch(struct kw_engine *e, struct kw_merge *m,
			 const uint32_t *input, size_t n)
{
	uint32_t formats = 0;
	size_t got = 0;

	kw_arena_reset(&e->arena);
	for (size_t i = 0, j; i < n; i = j) {
		uint32_t f = 0;

		for (j = i + 1; j < n && input[j] == input[i]; j++)
			;
		got += kw_engine_decode(
			e, &e->worker, e->forced, NULL, &e->recs[i], j - i,
			e->events + got, e->verdicts + got, &e->arena,
			&e->stats.skips, kw_merge_name(m, input[i]), &f);
		formats |= f;
	}
	analyse_batch(e, 0, got, formats);
}

void kw_engine_read_paths(struct kw_engine *e, const char *const *paths,
			  size_t n)
{
	const char *names[TIME_NAMES];
	struct merged *mg = NULL;
	struct kw_merge *m = NULL;
	struct kw_merge_opts o = {0};
	struct kw_error err;
	size_t got;

	if (n == 1) {
		if (e->opts.progress)
			e->opts.progress(e->opts.progress_ctx, 1, 1, paths[0]);
		kw_engine_read_path(e, paths[0]);
		return;
	}
	mg = calloc(1, sizeof(*mg));
	if (!mg) {
		kw_log_error(NULL, "out of memory");
		return;
	}
	mg->e = e;
	mg->total = n;
	kw_decoder_time_names(names, TIME_NAMES);
	o.max_record = e->opts.cfg->max_line;
	o.max_open = e->opts.cfg->max_open_inputs;
	o.time_names = names;
	for (size_t i = 0; i < e->dconf.nmap; i++) {
		if (e->dconf.map[i].field == KW_FIELD_CREATED)
			o.time_path = e->dconf.map[i].path;
		if (e->dconf.map[i].field == KW_FIELD_ROOT)
			o.root = e->dconf.map[i].path;
	}
	o.opened = merge_opened;
	o.failed = merge_failed;
	o.ctx = mg;
	kw_error_clear(&err);
	if (kw_merge_create(paths, n, &o, &m, &err) != KW_OK) {
		kw_log_error(NULL, "%s", err.msg);
		free(mg);
		return;
	}
	if (e->pipe) {
		kw_pipeline_read_merge(e->pipe, m);
	} else {
		for (;;) {
			kw_merge_next(m, e->recs, mg->input, KW_ENGINE_BATCH,
				      &got, &e->stats.skips);
			if (!got)
				break;
			e->stats.records += got;
			merged_batch(e, m, mg->input, got);
		}
	}
	/* The counts of the merge itself are this thread's. */
	e->stats.inputs_late += kw_merge_stats(m)->opened_late;
	if (kw_merge_stats(m)->most_open > e->stats.most_open)
		e->stats.most_open = kw_merge_stats(m)->most_open;
	kw_merge_destroy(m);
	free(mg);
}

void kw_engine_stream_quiet(struct kw_engine *e, uint64_t stream)
{
	settle(e);
	for (unsigned i = 0; i < e->nstreams; i++) {
		if (e->streams[i].id != stream || e->streams[i].quiet)
			continue;
		e->streams[i].quiet = true;
		/* Its windows follow the others' time from now (at once, when
		 * that is ahead of its own), and theirs move on without it. */
		follow_streams(e);
		tick_all(e);
		return;
	}
}

void kw_engine_count_failed(struct kw_engine *e)
{
	settle(e);
	count_failed(e, KW_SKIP_UNREADABLE);
}

void kw_engine_finish(struct kw_engine *e)
{
	settle(e);
	advance_to(e, INT64_MAX);
	/* Every open window closes, shard by shard, in the order each
	 * shard's keys opened them. */
	for (unsigned i = 0; i < e->nshards; i++)
		kw_shard_finish(&e->shards[i]);
	/* Incidents quiet by the last event close; the rest stay open. */
	if (e->newest != INT64_MIN)
		kw_router_tick(e->opts.router, e->newest);
}

/* ---- learned state ---- */

/* Wall and CPU time of a step, for the debug log. */
struct stopwatch {
	struct timespec wall, cpu;
};

static double ts_diff(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	       (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void stopwatch_start(struct stopwatch *sw)
{
	clock_gettime(CLOCK_MONOTONIC, &sw->wall);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &sw->cpu);
}

static double stopwatch_wall(const struct stopwatch *sw)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ts_diff(&sw->wall, &now);
}

static double stopwatch_cpu(const struct stopwatch *sw)
{
	struct timespec now;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
	return ts_diff(&sw->cpu, &now);
}

/* A family's state size now, or (v1) at its layout version 1. */
static size_t fam_size(const struct kw_detector_ops *o, bool v1)
{
	return v1 && o->state_size_v1 ? o->state_size_v1 : o->state_size;
}

/* The layout of the detectors' state: families in order, with their state
 * sizes and offsets (FNV-1a); v1: as every family had it at its layout
 * version 1 (what version 3 state files hold). */
static uint64_t hash_of(const struct kw_engine *e, bool v1)
{
	const struct kw_shard *s = &e->shards[0];
	uint64_t h = 1469598103934665603ull;
	size_t off = e->learned_off;
	char buf[128];

	for (size_t i = 0; i < s->nfam; i++) {
		size_t size = fam_size(s->fam[i].ops, v1);
		int n = snprintf(buf, sizeof(buf), "%s:%zu:%zu;",
				 s->fam[i].ops->name, size, off);

		for (int j = 0; j < n && j < (int)sizeof(buf); j++)
			h = (h ^ (uint8_t)buf[j]) * 1099511628211ull;
		off += (size + 15) & ~(size_t)15;
	}
	return h;
}

static uint64_t layout_hash(const struct kw_engine *e)
{
	return hash_of(e, false);
}

/* The families' sections of the detectors' state (state/snapshot.h),
 * now or (v1) as version 3 state files hold them; now's also in
 * e->sec_fam. */
static void snap_layout(struct kw_engine *e, bool v1,
			struct kw_snap_section *sec, struct kw_snap_layout *l)
{
	const struct kw_shard *s = &e->shards[0];
	size_t off = 0, n = 0;

	for (size_t i = 0; i < s->nfam && n < KW_SNAPSHOT_SECTIONS_MAX; i++) {
		const struct kw_detector_ops *o = s->fam[i].ops;
		size_t size = fam_size(o, v1);

		if (size) {
			if (!v1)
				e->sec_fam[n] = (uint8_t)i;
			sec[n++] = (struct kw_snap_section){
				o->name,
				v1 ? 1 : o->state_version,
				(uint32_t)off,
				(uint32_t)size,
				v1 ? NULL : o->upgrade,
				(uint32_t)o->upgrade_size};
		}
		off += (size + 15) & ~(size_t)15;
	}
	if (!v1)
		e->nsec = n;
	*l = (struct kw_snap_layout){sec, n, off, hash_of(e, v1)};
}

void kw_engine_meta(const struct kw_engine *e, const struct kw_keyent *key,
		    struct kw_snap_meta *m)
{
	*m = (struct kw_snap_meta){key->first_seen, key->last_seen, key->events,
				   0, 0};
	if (!key->relearn ||
	    key->last_seen - key->relearn_since >= e->opts.cfg->learn)
		return;
	for (size_t i = 0; i < e->nsec; i++) {
		if (key->relearn >> e->sec_fam[i] & 1)
			m->relearn |= UINT64_C(1) << i;
	}
	if (m->relearn)
		m->relearn_since = key->relearn_since;
}

void kw_engine_restored(const struct kw_engine *e, struct kw_keyent *key,
			const struct kw_snap_meta *m, int64_t ts)
{
	key->relearn = 0;
	for (size_t i = 0; i < e->nsec; i++) {
		if (m->relearn >> i & 1)
			key->relearn |= UINT32_C(1) << e->sec_fam[i];
	}
	key->relearn_since = !key->relearn	? 0
			     : m->relearn_since ? m->relearn_since
						: ts;
}

/* A loaded record's detector state, through each family's validate()
 * (each family's state_size bytes, as kw_shard_flat lays them out). */
static bool check_record(void *ctx, const struct kw_snap_meta *m,
			 const void *state, char *why, size_t cap)
{
	const struct kw_engine *e = ctx;
	const struct kw_shard *s = &e->shards[0];
	const unsigned char *base = state;

	(void)m;
	for (size_t i = 0; i < s->nfam; i++) {
		const struct kw_family *f = &s->fam[i];

		if (f->ops->state_size &&
		    !f->ops->validate(base + f->flat, why, cap))
			return false;
	}
	return true;
}

/* The keys handed out that the file holds (state/handouts.h). */
static enum kw_status load_handouts(struct kw_engine *e, const char *path,
				    struct kw_error *err)
{
	size_t n = 0;
	const unsigned char *p = kw_snapshot_handouts(e->snap, &n);
	char why[160];

	if (!n)
		return KW_OK;
	if (!e->handouts &&
	    kw_handouts_create(KW_ENGINE_HANDOUTS_MAX, &e->handouts) != KW_OK)
		return kw_error_set(err, KW_ENOMEM, "%s: out of memory", path);
	if (!kw_handouts_load(e->handouts, p, n, why, sizeof(why)))
		return kw_error_set(err, KW_ECORRUPT,
				    "%s: state file damaged (keys handed out: "
				    "%s); remove it to start learning again",
				    path, why);
	return KW_OK;
}

/* A new, empty pending table of the engine's layout, its records
 * checked by check_record (the records imported so far are forgotten). */
static enum kw_status make_snap(struct kw_engine *e)
{
	struct kw_snap_section sec[KW_SNAPSHOT_SECTIONS_MAX],
		sec1[KW_SNAPSHOT_SECTIONS_MAX];
	struct kw_snap_layout now, v1;
	enum kw_status st;

	kw_snapshot_destroy(e->snap);
	e->snap = NULL;
	e->nimported = 0;
	snap_layout(e, false, sec, &now);
	snap_layout(e, true, sec1, &v1);
	st = kw_snapshot_create_layout(&now, v1.hash != now.hash ? &v1 : NULL,
				       e->opts.cfg->max_keys, &e->snap);
	if (st == KW_OK)
		kw_snapshot_set_check(e->snap, check_record, e);
	return st;
}

enum kw_status kw_engine_load_state(struct kw_engine *e, const char *path,
				    struct kw_error *err)
{
	size_t learned = e->learned_size;
	struct stopwatch sw;
	bool found = false;
	const char *extra;
	size_t nextra = 0;
	enum kw_status st;

	settle(e);
	st = make_snap(e);
	for (unsigned i = 0; i < e->nshards && st == KW_OK; i++) {
		struct kw_shard *s = &e->shards[i];

		kw_snapshot_destroy(s->stash);
		s->stash = NULL;
		st = kw_snapshot_create(layout_hash(e), learned, s->max_keys,
					&s->stash);
	}
	if (st != KW_OK)
		return kw_error_set(err, st, "%s: %s", path, kw_strerror(st));
	stopwatch_start(&sw);
	st = kw_snapshot_load(e->snap, path, &found, err);
	if (st != KW_OK)
		return st;
	if (found)
		kw_log_debug("state",
			     "%s: %zu keys loaded and checked in %.3f s "
			     "(%.3f s of CPU)",
			     path, kw_snapshot_count(e->snap),
			     stopwatch_wall(&sw), stopwatch_cpu(&sw));
	extra = kw_snapshot_extra(e->snap, &nextra);
	if (e->opts.router && nextra) {
		st = kw_router_memory_load(e->opts.router, extra, nextra, path,
					   err);
		if (st != KW_OK)
			return st;
	}
	st = load_handouts(e, path, err);
	if (st != KW_OK)
		return st;
	if (kw_snapshot_dropped(e->snap))
		kw_log_warn("state",
			    "%s: %llu keys beyond max_keys were not loaded",
			    path,
			    (unsigned long long)kw_snapshot_dropped(e->snap));
	return KW_OK;
}

struct save_ctx {
	struct kw_engine *e;
	struct kw_shard *s; /* whose keys are being saved */
	struct kw_snapshot_writer *w;
};

static void save_one(void *ctx, struct kw_keyent *key)
{
	struct save_ctx *sc = ctx;
	struct kw_snap_meta m;

	if (kw_keyhead_stream(kw_keytab_state(key)) == KW_KS_DROPPED)
		return;
	kw_engine_meta(sc->e, key, &m);
	kw_snapshot_write_add(sc->w, key->fp, &m, kw_shard_flat(sc->s, key));
}

enum kw_status kw_engine_save_state(struct kw_engine *e, const char *path,
				    struct kw_error *err)
{
	struct kw_snap_section sec[KW_SNAPSHOT_SECTIONS_MAX];
	struct kw_snap_layout now;
	struct save_ctx sc = {e, NULL, NULL};
	struct stopwatch sw;
	size_t saved = 0, nhandouts = 0;
	char *memory = NULL;
	unsigned char *handouts = NULL;
	enum kw_status st;

	settle(e);
	if (e->opts.router) {
		memory = kw_router_memory_save(e->opts.router);
		if (!memory)
			return kw_error_set(err, KW_ENOMEM, "%s: out of memory",
					    path);
	}
	if (kw_handouts_count(e->handouts) &&
	    kw_handouts_save(e->handouts, &handouts, &nhandouts) != KW_OK) {
		free(memory);
		return kw_error_set(err, KW_ENOMEM, "%s: out of memory", path);
	}
	snap_layout(e, false, sec, &now);
	st = kw_snapshot_write_begin_layout(path, &now, &sc.w, err);
	if (st != KW_OK)
		goto cleanup;
	stopwatch_start(&sw);
	for (unsigned i = 0; i < e->nshards; i++) {
		sc.s = &e->shards[i];
		kw_shard_foreach(&e->shards[i], save_one, &sc);
		saved += kw_keytab_count(e->shards[i].keys);
		if (e->shards[i].stash) {
			kw_snapshot_write_pending(sc.w, e->shards[i].stash);
			saved += kw_snapshot_count(e->shards[i].stash);
		}
	}
	if (e->snap) {
		kw_snapshot_write_pending(sc.w, e->snap);
		saved += kw_snapshot_count(e->snap);
	}
	if (memory)
		kw_snapshot_write_extra(sc.w, memory, strlen(memory));
	if (handouts)
		kw_snapshot_write_handouts(sc.w, handouts, nhandouts);
	st = kw_snapshot_write_commit(sc.w, err);
	if (st == KW_OK)
		kw_log_debug("state",
			     "%s: %zu keys saved in %.3f s (%.3f s of CPU), "
			     "synced",
			     path, saved, stopwatch_wall(&sw),
			     stopwatch_cpu(&sw));
cleanup:
	free(memory);
	free(handouts);
	return st;
}

/* ---- a stream's keys (the daemon's changelog) ---- */

/* The index of stream id in e->streams, or e->nstreams when it has none. */
static unsigned find_stream(const struct kw_engine *e, uint64_t id)
{
	unsigned i = 0;

	while (i < e->nstreams && e->streams[i].id != id)
		i++;
	return i;
}

struct export_ctx {
	struct kw_engine *e;
	struct kw_shard *s; /* whose keys are being exported */
	unsigned stream;
	bool changed_only, stopped;
	unsigned char *buf;
	kw_engine_export_fn *cb;
	void *ctx;
};

static void export_one(void *ctx, struct kw_keyent *key)
{
	struct export_ctx *x = ctx;
	struct kw_keyhead *h = kw_keytab_state(key);
	struct kw_snap_meta m;
	size_t n;

	if (x->stopped || kw_keyhead_stream(h) != x->stream ||
	    (x->changed_only && !(h->flags & KW_KS_CHANGED)))
		return;
	kw_engine_meta(x->e, key, &m);
	n = kw_snapshot_encode(x->e->snap, key->fp, &m,
			       kw_shard_flat(x->s, key), x->buf);
	if (n && !x->cb(x->ctx, key->fp, x->buf, n)) {
		x->stopped = true;
		return;
	}
	h->flags &= ~KW_KS_CHANGED;
}

enum kw_status kw_engine_export_stream(struct kw_engine *e, uint64_t stream,
				       bool changed_only,
				       kw_engine_export_fn *cb, void *ctx)
{
	struct export_ctx x = {
		e,  NULL, find_stream(e, stream), changed_only, false, NULL,
		cb, ctx};

	settle(e);
	if (x.stream == e->nstreams)
		return KW_OK; /* never fed: no keys */
	if (!e->snap && make_snap(e) != KW_OK)
		return KW_ENOMEM;
	x.buf = malloc(kw_snapshot_record_max(e->snap));
	if (!x.buf)
		return KW_ENOMEM;
	for (unsigned i = 0; i < e->nshards && !x.stopped; i++) {
		x.s = &e->shards[i];
		kw_shard_foreach(&e->shards[i], export_one, &x);
	}
	free(x.buf);
	return x.stopped ? KW_ERETRY : KW_OK;
}

size_t kw_engine_record_max(struct kw_engine *e)
{
	settle(e);
	if (!e->snap && make_snap(e) != KW_OK)
		return 0;
	return kw_snapshot_record_max(e->snap);
}

const unsigned char *kw_engine_layout(struct kw_engine *e, size_t *len)
{
	*len = 0;
	settle(e);
	if (!e->snap && make_snap(e) != KW_OK)
		return NULL;
	return kw_snapshot_layout(e->snap, len);
}

enum kw_status kw_engine_import_key(struct kw_engine *e, uint64_t stream,
				    const unsigned char *layout, size_t llen,
				    const char *where, const unsigned char *rec,
				    size_t len, struct kw_error *err)
{
	char fp[KW_SNAPSHOT_FP + 1], why[160];
	unsigned idx;
	enum kw_status st;

	settle(e);
	if (!e->snap && make_snap(e) != KW_OK)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	idx = kw_engine_stream(e, stream);
	st = kw_snapshot_put_record_from(e->snap, layout, llen, where, rec, len,
					 fp, why, sizeof(why));
	if (st != KW_OK)
		return kw_error_set(err, st, "state record%s%s: %s",
				    fp[0] ? " of key " : "", fp, why);
	if (e->nimported == e->capimported &&
	    e->capimported < e->opts.cfg->max_keys) {
		size_t cap = e->capimported ? e->capimported * 2 : 256;
		struct kw_imported *p = realloc(e->imported, cap * sizeof(*p));

		if (p) {
			e->imported = p;
			e->capimported = cap;
		}
	}
	/* Past the bound (or without memory) the record stays pending when
	 * its stream is dropped, as a state file's records do. */
	if (e->nimported < e->capimported) {
		uint64_t v = 0;

		for (int i = 0; i < 8; i++)
			v |= (uint64_t)rec[i] << (8 * i);
		e->imported[e->nimported++] = (struct kw_imported){v, idx};
	}
	return KW_OK;
}

void kw_engine_drop_stream(struct kw_engine *e, uint64_t stream)
{
	unsigned idx = find_stream(e, stream);
	size_t kept = 0;

	settle(e);
	if (idx == e->nstreams)
		return;
	for (unsigned i = 0; i < e->nshards; i++)
		kw_shard_drop_stream(&e->shards[i], idx);
	for (size_t i = 0; i < e->nimported; i++) {
		char fp[KW_SNAPSHOT_FP + 1];

		if (e->imported[i].stream != idx) {
			e->imported[kept++] = e->imported[i];
			continue;
		}
		snprintf(fp, sizeof(fp), "%016llx",
			 (unsigned long long)e->imported[i].fp);
		kw_snapshot_forget(e->snap, fp);
	}
	e->nimported = kept;
	/* Its time goes with its keys: given back, it starts again from its
	 * next record. Meanwhile it holds the others back no longer. */
	e->streams[idx].newest = INT64_MIN;
	e->streams[idx].watermark = INT64_MIN;
	kw_engine_stream_quiet(e, stream);
}

/* ---- what it found ---- */

size_t kw_engine_state_bytes(const struct kw_engine *e)
{
	return e->state_size;
}

int64_t kw_engine_stream_done(struct kw_engine *e, uint64_t stream)
{
	unsigned i;

	settle(e);
	i = find_stream(e, stream);
	if (i == e->nstreams || e->streams[i].newest == INT64_MIN)
		return INT64_MIN;
	/* Of what it read, not its window clock's watermark: idle time
	 * moves that on for every stream. */
	return e->streams[i].newest - kw_engine_lateness(e);
}

void kw_engine_alert(struct kw_engine *e, struct kw_alert *a)
{
	settle(e);
	kw_ordered_alert(&e->ord, a);
}

/* The distinct keys the shards inserted (see kw_engine_stats). */
static void distinct_keys(struct kw_engine *e, struct kw_engine_stats *st)
{
	struct kw_distinct all;
	uint64_t n;

	st->keys_distinct = st->keys_seen;
	st->keys_estimated = st->keys_evicted > 0;
	if (!st->keys_estimated)
		return;
	memset(&all, 0, sizeof(all));
	for (unsigned i = 0; i < e->nshards; i++)
		kw_distinct_merge(&all, &e->shards[i].distinct);
	n = kw_distinct_estimate(&all);
	st->keys_distinct = n < st->keys	? st->keys
			    : n > st->keys_seen ? st->keys_seen
						: n;
}

const struct kw_engine_stats *kw_engine_stats(struct kw_engine *e)
{
	struct kw_engine_stats *st = &e->stats;

	settle(e);
	st->events = st->keys_seen = st->keys_restored = 0;
	st->keys = 0;
	st->overflow_blocks = st->overflow_bytes = 0;
	st->lost = e->lost_out;
	st->keys_evicted = 0;
	st->late = e->ord.st.late;
	st->first_ts = e->ord.st.first_ts;
	st->last_ts = e->ord.st.last_ts;
	st->unauthenticated = e->ord.unauthenticated;
	for (unsigned i = 0; i < e->nshards; i++) {
		const struct kw_shard *s = &e->shards[i];

		st->events += s->st.events;
		st->late += s->st.late;
		st->keys_seen += s->st.keys_seen;
		st->keys_restored += s->st.keys_restored;
		st->lost += s->st.lost;
		if (s->st.first_ts < st->first_ts)
			st->first_ts = s->st.first_ts;
		if (s->st.last_ts > st->last_ts)
			st->last_ts = s->st.last_ts;
		st->keys += kw_keytab_count(s->keys);
		st->keys_evicted += kw_keytab_evicted(s->keys);
		for (size_t k = 0; k < s->nfam; k++) {
			const struct kw_family *f = &s->fam[k];

			for (unsigned p = 0; p < KW_DETECT_PARTS; p++) {
				size_t n =
					f->blocks[p]
						? kw_blocks_count(f->blocks[p])
						: 0;

				st->overflow_blocks += n;
				st->overflow_bytes += n * f->ops->parts[p].size;
			}
		}
	}
	distinct_keys(e, st);
	return st;
}

bool kw_engine_conf_matched(const struct kw_engine *e, size_t i)
{
	if (i >= e->opts.cfg->nkeys)
		return false;
	for (unsigned s = 0; s < e->nshards; s++) {
		if (e->shards[s].conf_matched[i])
			return true;
	}
	return false;
}

const struct kw_config *kw_engine_config(const struct kw_engine *e)
{
	return e->opts.cfg;
}

struct learning_ctx {
	int64_t learn;
	uint64_t learning, keys;
};

static void count_learning(void *ctx, struct kw_keyent *key)
{
	struct learning_ctx *lc = ctx;

	if (kw_keyhead_stream(kw_keytab_state(key)) == KW_KS_DROPPED)
		return;
	lc->keys++;
	if (key->last_seen - key->first_seen < lc->learn)
		lc->learning++;
}

/* Whether any detector of a learned family is enabled. */
static bool learns(const struct kw_engine *e)
{
	const struct kw_shard *s = &e->shards[0];

	for (size_t i = 0; i < s->nfam; i++) {
		const struct kw_detector_ops *ops = s->fam[i].ops;

		if (ops->kind != KW_DETECTOR_LEARNED)
			continue;
		for (size_t j = 0; ops->detectors[j]; j++) {
			if (kw_detect_enabled(e->opts.cfg, ops->detectors[j]))
				return true;
		}
	}
	return false;
}

void kw_engine_learning(struct kw_engine *e, uint64_t *learning, uint64_t *keys)
{
	struct learning_ctx lc = {.learn = e->opts.cfg->learn};

	settle(e);
	for (unsigned i = 0; learns(e) && i < e->nshards; i++)
		kw_shard_foreach(&e->shards[i], count_learning, &lc);
	*learning = lc.learning;
	*keys = lc.keys;
}

struct foreach_ctx {
	struct kw_engine *e;
	kw_engine_key_cb *cb;
	void *ctx;
};

static void foreach_one(void *ctx, struct kw_keyent *ent)
{
	struct foreach_ctx *fc = ctx;
	const unsigned char *state = kw_keytab_state(ent);
	struct kw_engine_keystats ks = {0};

	if (kw_keyhead_stream(kw_keytab_state(ent)) == KW_KS_DROPPED)
		return;
	if (fc->e->count_off) {
		const struct kw_keycount *c =
			(const void *)(state + fc->e->count_off);

		ks.errors = c->errors;
		ks.denied = c->denied;
		ks.ips = c->ips;
	}
	ks.alerts = kw_ordered_count(&fc->e->ord, ent->fp);
	fc->cb(fc->ctx, ent, &ks);
}

void kw_engine_foreach_key(struct kw_engine *e, kw_engine_key_cb *cb, void *ctx)
{
	struct foreach_ctx fc = {e, cb, ctx};

	settle(e);
	for (unsigned i = 0; i < e->nshards; i++) {
		e->listing = &e->shards[i];
		kw_shard_foreach(&e->shards[i], foreach_one, &fc);
	}
	e->listing = NULL;
}

void kw_engine_key_detail(struct kw_engine *e, const struct kw_keyent *key,
			  struct kw_engine_keydetail *out)
{
	/* The table's entries are the engine's: describing reads them only. */
	unsigned char *state = kw_keytab_state((struct kw_keyent *)key);
	struct kw_shard *s = e->listing;
	const unsigned char *whole;

	memset(out, 0, sizeof(*out));
	if (e->report_off)
		out->report =
			(const struct kw_keyreport *)(state + e->report_off);
	if (!s)
		return;
	/* The families of the key's shard (they observed it), each shown
	 * its whole state, parts in their places. */
	whole = kw_shard_flat(s, (struct kw_keyent *)key);
	for (size_t i = 0; i < s->nfam; i++) {
		const struct kw_family *f = &s->fam[i];

		if (f->ops->describe)
			f->ops->describe(f->self, key, whole + f->flat,
					 &out->profile);
	}
}

void kw_engine_destroy(struct kw_engine *e)
{
	if (!e)
		return;
	kw_pipeline_destroy(e->pipe);
	for (unsigned i = 0; i < e->nshards; i++)
		kw_shard_fini(&e->shards[i]);
	kw_ordered_fini(&e->ord);
	kw_handouts_destroy(e->handouts);
	kw_worker_fini(e, &e->worker);
	kw_snapshot_destroy(e->snap);
	free(e->imported);
	kw_arena_destroy(&e->arena);
	pthread_mutex_destroy(&e->snap_mu);
	free(e);
}
