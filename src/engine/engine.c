/*
 * engine.c - the per-batch pipeline. For each input: sniff the format from
 * the first record (unless it was given), then per batch of records:
 * decode, enrich from the model (and judge the operation by its matchers,
 * when it has any), find the key (creating it: kind, mode and
 * the config entry that matches it), and let every detector family observe
 * the event with its slice of the key's state. The watermark (newest event
 * time less the allowed lateness) ticks the families once per batch; an
 * event older than the watermark is late (counted, still observed). A key
 * with windows open waits on a timing wheel (wheel.h) until the watermark
 * passes the end of its oldest one, and is flushed then; at the end, and
 * when a key is evicted, the families flush the key's windows.
 *
 * Learned state (--state): the detectors' part of a key's state area (after
 * the engine's report counters) is what a snapshot saves per fingerprint;
 * a saved key's state is copied in when the key is first seen, and an
 * evicted key's state goes back to the pending table. The router's memory
 * (its dedup table and rate-limit windows, alert/router.h) travels in the
 * same file, so two scans with one state file route like one.
 */
#include "engine/engine.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/glob.h"
#include "core/log.h"
#include "detect/detector.h"
#include "ingest/dispatch.h"
#include "ingest/merge.h"
#include "ingest/splitter.h"
#include "engine/wheel.h"
#include "state/handouts.h"
#include "state/keyreport.h"
#include "state/snapshot.h"

#define BATCH KW_DISPATCH_BATCH
#define MAX_FAMILIES 32
#define STATE_ALIGN 16
#define SWEEP_EVERY (INT64_C(60) * 1000000) /* of watermark progress */
#define WHEEL_TICK (INT64_C(1000000))	    /* 1 s */
#define WHEEL_SLOTS 4096		    /* 68 minutes a turn */
/* Keys handed out remembered with their parent (about 3.4 MB at most). */
#define HANDOUTS_MAX 16384

struct family {
	const struct kw_detector_ops *ops;
	void *self;
	size_t offset; /* of its slice in the key's state area */
};

struct kw_engine {
	struct kw_engine_opts opts;
	struct kw_decoder_conf dconf;
	const struct kw_decoder_ops *forced; /* --format, or NULL */
	struct kw_dispatch *dispatch;
	struct family families[MAX_FAMILIES];
	size_t nfamilies;
	struct kw_keytab *keys;
	struct kw_models_cache *mcache; /* path matches of opts.models */
	struct kw_keyent *current;	/* the key being observed, for emit */
	struct kw_judge_env judge;	/* what matchers need from the config */
	struct kw_handouts *handouts;	/* keys handed out; made on first use */
	struct kw_verdict verdict;	/* the event being analysed's */
	struct kw_geo logged_geo; /* the event's, with the log's country */
	struct kw_emit emit;
	struct kw_arena arena;
	struct kw_record recs[BATCH];
	struct kw_event events[BATCH];
	int64_t watermark;
	struct kw_engine_stats stats;
	size_t state_size;   /* the whole state area */
	size_t learned_off;  /* where the detectors' part starts */
	size_t learned_size; /* its size: what a snapshot keeps */
	size_t report_off; /* the report's part (state/keyreport.h); 0: none */
	struct kw_snapshot *snap; /* pending saved state, or NULL */
	/* Keys with windows open, each due when its oldest one closes
	 * (kw_engine_keystats.wheel); at most max_keys. */
	struct kw_wheel *wheel;
	int64_t next_sweep;
	bool windowed; /* some family has windows (a flush slot) */
	/* Per keys[] entry of the config: its glob matched a key of the
	 * input (kw_engine_conf_matched); nconf_left have not yet. */
	bool *conf_matched;
	size_t nconf_left;
};

static size_t align_up(size_t n)
{
	return (n + STATE_ALIGN - 1) & ~(size_t)(STATE_ALIGN - 1);
}

static void engine_emit(void *ctx, struct kw_alert *a)
{
	struct kw_engine *e = ctx;
	char id[sizeof(a->id)];
	int64_t time = a->time;
	const char *detector = a->detector;
	enum kw_severity sev = a->severity;

	a->secret = KW_STR_NULL; /* borrowed from the event: it stays here */
	if (e->opts.admit && !e->opts.admit(e->opts.hook_ctx, a->id, time)) {
		kw_alert_clear(a);
		return;
	}
	memcpy(id, a->id, sizeof(id));
	kw_detect_finish_alert(a, e->opts.cfg, e->opts.models);
	if (!kw_router_submit(e->opts.router, a))
		return;
	if (e->opts.passed)
		e->opts.passed(e->opts.hook_ctx, id, time, detector, sev);
	if (e->current) {
		struct kw_engine_keystats *ks = kw_keytab_state(e->current);

		ks->alerts++;
	}
}

static enum kw_status create_families(struct kw_engine *e, size_t *state_size,
				      struct kw_error *err)
{
	const struct kw_detector_ops *const *all = kw_detect_all();
	struct kw_detector_env env = {.cfg = e->opts.cfg,
				      .models = e->opts.models};
	size_t off = align_up(sizeof(struct kw_engine_keystats));
	enum kw_status st;

	for (size_t i = 0; all[i] && i < MAX_FAMILIES; i++) {
		struct family *f = &e->families[e->nfamilies];

		f->ops = all[i];
		f->offset = off;
		st = f->ops->create(&env, &f->self, err);
		if (st != KW_OK)
			return st;
		e->nfamilies++;
		off += align_up(f->ops->state_size);
		if (f->ops->flush)
			e->windowed = true;
	}
	*state_size = off;
	e->learned_off = align_up(sizeof(struct kw_engine_keystats));
	e->learned_size = off - e->learned_off;
	return KW_OK;
}

/* Close the windows of one key that end by the watermark; when the next
 * one closes (KW_DETECT_NONE_OPEN: none open). INT64_MIN closes nothing. */
static int64_t flush_key(struct kw_engine *e, struct kw_keyent *key,
			 int64_t watermark)
{
	unsigned char *state = kw_keytab_state(key);
	struct kw_keyent *was = e->current;
	int64_t due = KW_DETECT_NONE_OPEN;

	e->current = key;
	for (size_t i = 0; i < e->nfamilies; i++) {
		struct family *f = &e->families[i];
		int64_t d;

		if (!f->ops->flush)
			continue;
		d = f->ops->flush(f->self, watermark, key, state + f->offset,
				  &e->emit);
		if (d < due)
			due = d;
	}
	e->current = was;
	return due;
}

/* After an event: the key waits on the wheel for when its oldest window
 * closes, the earliest of the families' answers. A key already waiting
 * moves only to an earlier time: the event may have opened a window that
 * closes before the one it waits for (a family with shorter windows than
 * another's); a later answer means the event closed the window it waited
 * for, and the flush at that time finds the next. */
static void schedule(struct kw_engine *e, struct kw_keyent *key)
{
	int64_t due;

	if (!e->windowed)
		return;
	due = flush_key(e, key, INT64_MIN);
	/* With no memory the key is closed at its next event or the end. */
	if (due != KW_DETECT_NONE_OPEN)
		kw_wheel_sooner(e->wheel, key, due);
}

/* The wheel hands back a key whose oldest window has closed. */
static void on_due(void *ctx, void *item)
{
	struct kw_engine *e = ctx;
	struct kw_keyent *key = item;
	int64_t due = flush_key(e, key, e->watermark);

	if (due != KW_DETECT_NONE_OPEN)
		kw_wheel_add(e->wheel, key, due);
}

static void snap_meta(const struct kw_keyent *key, struct kw_snap_meta *m)
{
	m->first_seen = key->first_seen;
	m->last_seen = key->last_seen;
	m->events = key->events;
}

/* A key leaves: every window it has open closes now. */
static void flush_one(void *ctx, struct kw_keyent *key)
{
	struct kw_engine *e = ctx;

	flush_key(e, key, INT64_MAX);
	kw_wheel_remove(e->wheel, key);
}

/* The table evicts a key: its windows close, its learning is kept. */
static void on_evict(void *ctx, struct kw_keyent *key)
{
	struct kw_engine *e = ctx;
	struct kw_snap_meta m;

	flush_one(e, key);
	if (!e->snap)
		return;
	snap_meta(key, &m);
	kw_snapshot_put(e->snap, key->fp, &m,
			(unsigned char *)kw_keytab_state(key) + e->learned_off);
}

enum kw_status kw_engine_create(const struct kw_engine_opts *opts,
				struct kw_engine **out, struct kw_error *err)
{
	struct kw_engine *e = calloc(1, sizeof(*e));
	size_t state_size = 0;
	enum kw_status st;

	*out = NULL;
	if (!e)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	e->opts = *opts;
	e->dconf.map = opts->map;
	e->dconf.nmap = opts->nmap;
	e->emit.fn = engine_emit;
	e->emit.ctx = e;
	e->judge.trusted = (const char *const *)opts->cfg->trusted_accounts;
	e->judge.ntrusted = opts->cfg->ntrusted_accounts;
	e->watermark = INT64_MIN;
	e->stats.first_ts = INT64_MAX;
	e->stats.last_ts = INT64_MIN;
	kw_arena_init(&e->arena, 0);
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
	st = kw_dispatch_create(&e->dispatch, err);
	if (st != KW_OK)
		goto cleanup;
	st = create_families(e, &state_size, err);
	if (st != KW_OK)
		goto cleanup;
	st = kw_wheel_create(WHEEL_TICK, WHEEL_SLOTS,
			     sizeof(struct kw_keyent) +
				     offsetof(struct kw_engine_keystats, wheel),
			     &e->wheel);
	if (st != KW_OK) {
		kw_error_set(err, st, "out of memory");
		goto cleanup;
	}
	if (opts->report) {
		/* After the detectors' part, so that snapshots never see it. */
		e->report_off = state_size;
		state_size += align_up(sizeof(struct kw_keyreport));
	}
	e->state_size = state_size;
	st = kw_keytab_create(opts->cfg->max_keys, state_size, &e->keys);
	if (st != KW_OK) {
		kw_error_set(err, st, "cannot create the key table: %s",
			     kw_strerror(st));
		goto cleanup;
	}
	kw_keytab_on_evict(e->keys, on_evict, e);
	e->nconf_left = opts->cfg->nkeys;
	e->conf_matched = calloc(opts->cfg->nkeys + 1, sizeof(bool));
	if (!e->conf_matched) {
		st = kw_error_set(err, KW_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (opts->models) {
		st = kw_models_cache_create(opts->models, &e->mcache);
		if (st != KW_OK) {
			kw_error_set(err, st, "out of memory");
			goto cleanup;
		}
	}
cleanup:
	if (st != KW_OK)
		kw_engine_destroy(e);
	else
		*out = e;
	return st;
}

/* A few distinct IPs per key for the report (a tiny fixed set). */
static void note_ip(struct kw_engine_keystats *ks, const struct kw_ip *ip)
{
	uint8_t h[4];
	unsigned n = ks->ips < 8 ? ks->ips : 8;

	if (!ip->family)
		return;
	for (int i = 0; i < 4; i++)
		h[i] = ip->addr[i] ^ ip->addr[i + 4] ^ ip->addr[i + 8] ^
		       ip->addr[i + 12];
	for (unsigned i = 0; i < n; i++) {
		if (!memcmp(ks->ip_hash[i], h, 4))
			return;
	}
	if (ks->ips < 8)
		memcpy(ks->ip_hash[ks->ips], h, 4);
	if (ks->ips < UINT32_MAX)
		ks->ips++;
}

/* A key seen for the first time in this run: its saved state, if any. */
static void restore(struct kw_engine *e, struct kw_keyent *key)
{
	struct kw_snap_meta m;

	if (!kw_snapshot_take(e->snap, key->fp, &m,
			      (unsigned char *)kw_keytab_state(key) +
				      e->learned_off))
		return;
	e->stats.keys_restored++;
	if (m.first_seen < key->first_seen)
		key->first_seen = m.first_seen;
}

static void note_time(struct kw_engine *e, int64_t ts)
{
	if (ts < e->watermark)
		e->stats.late++;
	if (ts < e->stats.first_ts)
		e->stats.first_ts = ts;
	if (ts > e->stats.last_ts)
		e->stats.last_ts = ts;
}

/* A request made without a key: no key state; the families that judge a
 * source IP see it. */
static void analyse_unauth(struct kw_engine *e, struct kw_event *ev)
{
	e->stats.unauthenticated++;
	note_time(e, ev->ts);
	kw_models_enrich_cached(e->opts.models, e->mcache, ev, &e->arena);
	for (size_t i = 0; i < e->nfamilies; i++) {
		struct family *f = &e->families[i];

		if (f->ops->observe_unauth)
			f->ops->observe_unauth(f->self, ev, &e->emit);
	}
}

/* Where the event's address is: the GeoIP databases' answer; where they
 * have no country (none loaded, or none for the address) and the log
 * places the address itself (GitHub), with the log's country. */
static const struct kw_geo *place(struct kw_engine *e,
				  const struct kw_event *ev)
{
	const struct kw_geo *g = NULL;

	if (e->opts.geoip)
		g = kw_geoip_lookup(e->opts.geoip, &ev->ip);
	if (!ev->country[0] || (g && g->country[0]))
		return g;
	if (g)
		e->logged_geo = *g;
	else
		memset(&e->logged_geo, 0, sizeof(e->logged_geo));
	memcpy(e->logged_geo.country, ev->country, sizeof(ev->country));
	return &e->logged_geo;
}

/* A new key: mark the keys[] entries whose glob matches it. The entries
 * before its first match (key->conf) did not; the later ones are tried
 * only while unmatched, so a key costs nothing more once every entry has
 * matched. */
static void note_conf_matches(struct kw_engine *e, const struct kw_keyent *key,
			      struct kw_str k)
{
	const struct kw_config *cfg = e->opts.cfg;
	const struct kw_keyconf *first = key->conf;

	if (!first || !e->nconf_left)
		return;
	for (size_t i = first->index; i < cfg->nkeys; i++) {
		if (e->conf_matched[i] ||
		    (i != first->index &&
		     !kw_glob_match(cfg->keys[i].match, k.p, k.n)))
			continue;
		e->conf_matched[i] = true;
		e->nconf_left--;
	}
}

bool kw_engine_conf_matched(const struct kw_engine *e, size_t i)
{
	return i < e->opts.cfg->nkeys && e->conf_matched[i];
}

/* Whether an event is learnt on its principal rather than its key: a key
 * whose prefix says so (AWS temporary keys change every session), or a
 * record of a principal with no key at all (a console sign-in, root). */
static bool by_its_principal(const struct kw_event *ev)
{
	return ev->principal.n &&
	       (ev->key.n == 0 || (ev->flags & KW_EV_BY_PRINCIPAL));
}

/* A key handed out by this event's key (AssumeRole, GetSessionToken):
 * remember who asked, for alerts about the child. */
static void note_handout(struct kw_engine *e, const struct kw_event *ev,
			 const struct kw_keyent *key)
{
	struct kw_handout h;

	if (!e->handouts &&
	    kw_handouts_create(HANDOUTS_MAX, &e->handouts) != KW_OK)
		return;
	memset(&h, 0, sizeof(h));
	h.ts = ev->ts;
	if ((key->flags & KW_KEYENT_PRINCIPAL) && ev->key.n)
		kw_key_redact(ev->key.p, ev->key.n, h.id, sizeof(h.id));
	else
		snprintf(h.id, sizeof(h.id), "%s", key->id);
	if (ev->principal.n)
		kw_key_principal_label(ev->principal.p, ev->principal.n,
				       h.principal, sizeof(h.principal));
	kw_handouts_put(e->handouts, ev->cloud->issued_key.p,
			ev->cloud->issued_key.n, &h);
}

static void analyse(struct kw_engine *e, struct kw_event *ev)
{
	struct kw_keyent *key = NULL;
	struct kw_str id;
	bool by_principal;
	struct kw_engine_keystats *ks;
	unsigned char *state;
	bool created = false;
	enum kw_status st;

	if (ev->key.n == 0 && ev->principal.n == 0) {
		analyse_unauth(e, ev);
		return;
	}
	kw_models_enrich_cached(e->opts.models, e->mcache, ev, &e->arena);
	if (ev->flags & KW_EV_JUDGE) {
		kw_models_judge(e->opts.models, ev, &e->judge, &e->verdict);
		ev->verdict = &e->verdict;
	}
	by_principal = by_its_principal(ev);
	id = by_principal ? ev->principal : ev->key;
	if (e->handouts && ev->cloud && ev->key.n)
		ev->parent = kw_handouts_get(e->handouts, ev->key.p, ev->key.n);
	st = kw_keytab_get(e->keys, id.p, id.n, ev->ts, &key, &created);
	if (st != KW_OK) {
		kw_skips_add(&e->stats.skips, KW_SKIP_BAD_FIELD, ev->file,
			     ev->line, "key not tracked: %s", kw_strerror(st));
		return;
	}
	if (created) {
		e->stats.keys_seen++;
		key->kind = (uint8_t)ev->key_kind;
		key->mode = (uint8_t)ev->key_mode;
		key->conf = kw_config_key(e->opts.cfg, id.p, id.n);
		note_conf_matches(e, key, id);
		if (by_principal) {
			key->flags |= KW_KEYENT_PRINCIPAL;
			kw_key_principal_label(id.p, id.n, key->id,
					       sizeof(key->id));
		}
		if (e->snap)
			restore(e, key);
	} else {
		if (key->mode == KW_MODE_UNKNOWN && ev->key_mode)
			key->mode = (uint8_t)ev->key_mode;
		if (key->kind == KW_KIND_UNKNOWN && ev->key_kind)
			key->kind = (uint8_t)ev->key_kind;
	}
	e->stats.events++;
	note_time(e, ev->ts);
	state = kw_keytab_state(key);
	ks = (struct kw_engine_keystats *)state;
	if (ev->status >= 400)
		ks->errors++;
	if (ev->status == 401 || ev->status == 403)
		ks->denied++;
	note_ip(ks, &ev->ip);
	if (e->report_off)
		kw_keyreport_observe(
			(struct kw_keyreport *)(state + e->report_off), ev);
	if ((e->opts.geoip || ev->country[0]) &&
	    kw_detect_geo_wants(e->opts.cfg, key))
		ev->geo = place(e, ev);
	if (ev->cloud && ev->cloud->issued_key.n && ev->status < 400)
		note_handout(e, ev, key);
	e->current = key;
	for (size_t i = 0; i < e->nfamilies; i++) {
		struct family *f = &e->families[i];

		f->ops->observe(f->self, ev, key, state + f->offset, &e->emit);
	}
	e->current = NULL;
	schedule(e, key);
}

static void tick(struct kw_engine *e, int64_t watermark)
{
	if (watermark <= e->watermark)
		return;
	e->watermark = watermark;
	for (size_t i = 0; i < e->nfamilies; i++) {
		if (e->families[i].ops->tick)
			e->families[i].ops->tick(e->families[i].self, watermark,
						 &e->emit);
	}
	if (watermark >= e->next_sweep) {
		kw_wheel_advance(e->wheel, watermark, on_due, e);
		e->next_sweep = watermark > INT64_MAX - SWEEP_EVERY
					? INT64_MAX
					: watermark + SWEEP_EVERY;
	}
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

/* dec: the decoder to use, or NULL to recognise each record; conf: its
 * field map, or NULL for the engine's. */
static enum kw_status read_records(struct kw_engine *e, struct kw_reader *r,
				   const char *name,
				   const struct kw_decoder_ops *dec,
				   const struct kw_decoder_conf *conf)
{
	struct kw_splitter *sp = NULL;
	struct kw_dispatch_stream ds;
	struct kw_error err;
	enum kw_status st, result = KW_OK;
	size_t n;

	kw_dispatch_stream_init(&ds, dec, conf ? conf : &e->dconf);

	st = kw_splitter_create(r, name, e->opts.cfg->max_line, 0, &sp);
	if (st != KW_OK) {
		kw_log_error(NULL, "%s: %s", name, kw_strerror(st));
		return st;
	}
	for (;;) {
		kw_error_clear(&err);
		st = kw_splitter_next(sp, e->recs, BATCH, &n, &e->stats.skips,
				      &err);
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
		n = kw_dispatch_decode(e->dispatch, &ds, e->recs, n, e->events,
				       &e->arena, &e->stats.skips, name);
		for (size_t i = 0; i < n; i++)
			analyse(e, &e->events[i]);
		if (e->stats.last_ts != INT64_MIN) {
			tick(e, e->stats.last_ts - kw_engine_lateness(e));
			kw_router_tick(e->opts.router, e->watermark);
		}
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

enum kw_status kw_engine_read(struct kw_engine *e, struct kw_reader *r,
			      const char *name,
			      const struct kw_engine_input *in)
{
	e->stats.inputs++;
	return read_records(e, r, name, input_decoder(e, in),
			    in ? in->dconf : NULL);
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

	return read_records(e, &r, name, input_decoder(e, in),
			    in ? in->dconf : NULL);
}

void kw_engine_idle(struct kw_engine *e, int64_t idle_us)
{
	if (e->stats.last_ts == INT64_MIN || idle_us <= 0)
		return;
	if (e->stats.last_ts > INT64_MAX - idle_us)
		tick(e, INT64_MAX);
	else
		tick(e, e->stats.last_ts + idle_us - kw_engine_lateness(e));
	kw_router_tick(e->opts.router, e->watermark);
}

enum kw_status kw_engine_read_path(struct kw_engine *e, const char *path)
{
	struct kw_reader *r = NULL;
	struct kw_error err;
	enum kw_status st;

	kw_error_clear(&err);
	st = kw_reader_open(path, &r, &err);
	if (st != KW_OK) {
		e->stats.inputs++;
		input_failed(e, KW_SKIP_UNREADABLE, err.msg);
		return st;
	}
	st = kw_engine_read(e, r, r->name, NULL);
	kw_reader_close(r);
	return st;
}

struct learning_ctx {
	int64_t learn;
	uint64_t learning, keys;
};

static void count_learning(void *ctx, struct kw_keyent *key)
{
	struct learning_ctx *lc = ctx;

	lc->keys++;
	if (key->last_seen - key->first_seen < lc->learn)
		lc->learning++;
}

/* Whether any detector of a learned family is enabled. */
static bool learns(const struct kw_engine *e)
{
	for (size_t i = 0; i < e->nfamilies; i++) {
		const struct kw_detector_ops *ops = e->families[i].ops;

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

	if (learns(e))
		kw_keytab_foreach(e->keys, count_learning, &lc);
	*learning = lc.learning;
	*keys = lc.keys;
}

bool kw_engine_has_progress(const struct kw_engine *e)
{
	return e->opts.progress != NULL;
}

int64_t kw_engine_lateness(const struct kw_engine *e)
{
	if (e->opts.cfg->lateness > 0)
		return e->opts.cfg->lateness;
	return kw_decoder_lateness(kw_dispatch_formats(e->dispatch));
}

/* ---- several inputs, merged by event time ---- */

#define TIME_NAMES 16

struct merged {
	struct kw_engine *e;
	uint64_t opened, total;
	uint32_t input[BATCH];
};

static void merge_opened(void *ctx, uint32_t input, const char *name,
			 void *user)
{
	struct merged *mg = ctx;
	struct kw_engine *e = mg->e;

	(void)input;
	e->stats.inputs++;
	mg->opened++;
	if (user)
		kw_dispatch_stream_init(user, e->forced, &e->dconf);
	if (e->opts.progress)
		e->opts.progress(e->opts.progress_ctx, mg->opened, mg->total,
				 name);
}

static void merge_failed(void *ctx, enum kw_skip_reason reason, const char *msg)
{
	struct merged *mg = ctx;

	input_failed(mg->e, reason, msg);
}

/* One batch of the merge: the runs of records of one input each go
 * through that input's decoding stream. */
static void merged_batch(struct kw_engine *e, struct kw_merge *m,
			 const uint32_t *input, size_t n)
{
	kw_arena_reset(&e->arena);
	for (size_t i = 0, j; i < n; i = j) {
		struct kw_dispatch_stream *ds = kw_merge_user(m, input[i]);
		size_t got;

		for (j = i + 1; j < n && input[j] == input[i]; j++)
			;
		got = kw_dispatch_decode(e->dispatch, ds, &e->recs[i], j - i,
					 e->events, &e->arena, &e->stats.skips,
					 kw_merge_name(m, input[i]));
		for (size_t k = 0; k < got; k++)
			analyse(e, &e->events[k]);
	}
	if (e->stats.last_ts != INT64_MIN)
		tick(e, e->stats.last_ts - kw_engine_lateness(e));
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
	o.user_size = sizeof(struct kw_dispatch_stream);
	o.opened = merge_opened;
	o.failed = merge_failed;
	o.ctx = mg;
	kw_error_clear(&err);
	if (kw_merge_create(paths, n, &o, &m, &err) != KW_OK) {
		kw_log_error(NULL, "%s", err.msg);
		free(mg);
		return;
	}
	for (;;) {
		kw_merge_next(m, e->recs, mg->input, BATCH, &got,
			      &e->stats.skips);
		if (!got)
			break;
		e->stats.records += got;
		merged_batch(e, m, mg->input, got);
	}
	e->stats.inputs_late += kw_merge_stats(m)->opened_late;
	if (kw_merge_stats(m)->most_open > e->stats.most_open)
		e->stats.most_open = kw_merge_stats(m)->most_open;
	kw_merge_destroy(m);
	free(mg);
}

void kw_engine_count_failed(struct kw_engine *e)
{
	count_failed(e, KW_SKIP_UNREADABLE);
}

void kw_engine_finish(struct kw_engine *e)
{
	tick(e, INT64_MAX);
	kw_keytab_foreach(e->keys, flush_one, e);
	/* Incidents quiet by the last event close; the rest stay open. */
	if (e->stats.last_ts != INT64_MIN)
		kw_router_tick(e->opts.router, e->stats.last_ts);
}

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

/* The layout of the detectors' state: families in order, with their state
 * sizes (FNV-1a). A state file written with another layout is refused. */
static uint64_t layout_hash(const struct kw_engine *e)
{
	uint64_t h = 1469598103934665603ull;
	char buf[128];

	for (size_t i = 0; i < e->nfamilies; i++) {
		int n = snprintf(buf, sizeof(buf), "%s:%zu:%zu;",
				 e->families[i].ops->name,
				 e->families[i].ops->state_size,
				 e->families[i].offset);

		for (int j = 0; j < n && j < (int)sizeof(buf); j++)
			h = (h ^ (uint8_t)buf[j]) * 1099511628211ull;
	}
	return h;
}

/* A loaded record's detector state, through each family's validate()
 * (the slices sit where they sit in a key's state area, less the engine's
 * own counters, which are not saved). */
static bool check_record(void *ctx, const struct kw_snap_meta *m,
			 const void *state, char *why, size_t cap)
{
	const struct kw_engine *e = ctx;
	const unsigned char *base = state;

	(void)m;
	for (size_t i = 0; i < e->nfamilies; i++) {
		const struct family *f = &e->families[i];

		if (f->ops->state_size &&
		    !f->ops->validate(base + f->offset - e->learned_off, why,
				      cap))
			return false;
	}
	return true;
}

enum kw_status kw_engine_load_state(struct kw_engine *e, const char *path,
				    struct kw_error *err)
{
	struct stopwatch sw;
	bool found = false;
	const char *extra;
	size_t nextra = 0;
	enum kw_status st;

	kw_snapshot_destroy(e->snap);
	e->snap = NULL;
	st = kw_snapshot_create(layout_hash(e), e->learned_size,
				e->opts.cfg->max_keys, &e->snap);
	if (st != KW_OK)
		return kw_error_set(err, st, "%s: %s", path, kw_strerror(st));
	kw_snapshot_set_check(e->snap, check_record, e);
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
	if (kw_snapshot_dropped(e->snap))
		kw_log_warn("state",
			    "%s: %llu keys beyond max_keys were not loaded",
			    path,
			    (unsigned long long)kw_snapshot_dropped(e->snap));
	return KW_OK;
}

struct save_ctx {
	struct kw_engine *e;
	struct kw_snapshot_writer *w;
};

static void save_one(void *ctx, struct kw_keyent *key)
{
	struct save_ctx *sc = ctx;
	struct kw_snap_meta m;

	snap_meta(key, &m);
	kw_snapshot_write_add(sc->w, key->fp, &m,
			      (unsigned char *)kw_keytab_state(key) +
				      sc->e->learned_off);
}

enum kw_status kw_engine_save_state(struct kw_engine *e, const char *path,
				    struct kw_error *err)
{
	struct save_ctx sc = {e, NULL};
	struct stopwatch sw;
	char *memory = NULL;
	enum kw_status st;

	if (e->opts.router) {
		memory = kw_router_memory_save(e->opts.router);
		if (!memory)
			return kw_error_set(err, KW_ENOMEM, "%s: out of memory",
					    path);
	}
	st = kw_snapshot_write_begin(path, layout_hash(e), e->learned_size,
				     &sc.w, err);
	if (st != KW_OK)
		goto cleanup;
	stopwatch_start(&sw);
	kw_keytab_foreach(e->keys, save_one, &sc);
	if (e->snap)
		kw_snapshot_write_pending(sc.w, e->snap);
	if (memory)
		kw_snapshot_write_extra(sc.w, memory, strlen(memory));
	st = kw_snapshot_write_commit(sc.w, err);
	if (st == KW_OK)
		kw_log_debug("state",
			     "%s: %zu keys saved in %.3f s (%.3f s of CPU), "
			     "synced",
			     path,
			     kw_keytab_count(e->keys) +
				     (e->snap ? kw_snapshot_count(e->snap) : 0),
			     stopwatch_wall(&sw), stopwatch_cpu(&sw));
cleanup:
	free(memory);
	return st;
}

size_t kw_engine_state_bytes(const struct kw_engine *e)
{
	return e->state_size;
}

const struct kw_engine_stats *kw_engine_stats(struct kw_engine *e)
{
	e->stats.keys = kw_keytab_count(e->keys);
	e->stats.keys_evicted = kw_keytab_evicted(e->keys);
	return &e->stats;
}

const struct kw_config *kw_engine_config(const struct kw_engine *e)
{
	return e->opts.cfg;
}

struct foreach_ctx {
	kw_engine_key_cb *cb;
	void *ctx;
};

static void foreach_one(void *ctx, struct kw_keyent *ent)
{
	struct foreach_ctx *fc = ctx;

	fc->cb(fc->ctx, ent, kw_keytab_state(ent));
}

void kw_engine_foreach_key(struct kw_engine *e, kw_engine_key_cb *cb, void *ctx)
{
	struct foreach_ctx fc = {cb, ctx};

	kw_keytab_foreach(e->keys, foreach_one, &fc);
}

void kw_engine_key_detail(struct kw_engine *e, const struct kw_keyent *key,
			  struct kw_engine_keydetail *out)
{
	/* The table's entries are the engine's: describing reads them only. */
	unsigned char *state = kw_keytab_state((struct kw_keyent *)key);

	memset(out, 0, sizeof(*out));
	if (e->report_off)
		out->report =
			(const struct kw_keyreport *)(state + e->report_off);
	for (size_t i = 0; i < e->nfamilies; i++) {
		struct family *f = &e->families[i];

		if (f->ops->describe)
			f->ops->describe(f->self, key, state + f->offset,
					 &out->profile);
	}
}

void kw_engine_destroy(struct kw_engine *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nfamilies; i++) {
		if (e->families[i].ops->destroy)
			e->families[i].ops->destroy(e->families[i].self);
	}
	kw_dispatch_destroy(e->dispatch);
	kw_keytab_destroy(e->keys);
	kw_handouts_destroy(e->handouts);
	kw_models_cache_destroy(e->mcache);
	kw_snapshot_destroy(e->snap);
	kw_wheel_destroy(e->wheel);
	free(e->conf_matched);
	kw_arena_destroy(&e->arena);
	free(e);
}
