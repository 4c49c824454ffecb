/*
 * shard.c - one shard of the keys (engine_impl.h): its key table, its
 * instances of the detector families, its list of keys with open windows,
 * and the analysis of one event of its keys: find the key (creating it:
 * kind, mode, the config entry that matches it, its saved learning), count
 * it for the report, look up where it came from, and let every family
 * observe it with its slice of the key's state. When a key leaves the
 * table its windows close and its learning goes to the shard's stash.
 *
 * Time is per stream (a Kafka partition; files are one): a key's windows
 * close by the watermark of the stream whose event last fed it. The shard
 * keeps that stream's clock and wheel per stream, the families' clocks
 * hold the time of the stream whose events it analyses (kw_shard_stream,
 * once a batch), and a key fed by another stream than before moves to
 * that one's wheel.
 *
 * A shard is used by one thread at a time and touches nothing of another
 * shard's: what it raises goes through its output (engine_impl.h,
 * struct kw_shard_out) to the ordered stage.
 */
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/glob.h"
#include "core/key.h"
#include "core/log.h"
#include "detect/learned.h"
#include "engine/engine_impl.h"
#include "engine/wheel.h"
#include "state/blocks.h"

#define STATE_ALIGN 16

static size_t align_up(size_t n)
{
	return (n + STATE_ALIGN - 1) & ~(size_t)(STATE_ALIGN - 1);
}

/* A fixed hash (no seed: the shard of a key must be the same in every run,
 * whatever the thread count) of a key's length and three eight-byte
 * words: its start, middle and end (keys are long random strings after a
 * common prefix). Keys chosen to land in one shard only crowd that
 * shard's table; the table's own hash is keyed. */
unsigned kw_shard_of(const struct kw_engine *e, const char *key, size_t n)
{
	uint64_t a = 0, b = 0, c = 0, h;

	if (e->nshards == 1)
		return 0;
	if (n >= 8) {
		memcpy(&a, key, 8);
		memcpy(&b, key + n / 2 - 4, 8);
		memcpy(&c, key + n - 8, 8);
	} else {
		memcpy(&a, key, n);
	}
	h = (a ^ 0x9e3779b97f4a7c15u) * 0xbf58476d1ce4e5b9u;
	h = (h ^ (h >> 31) ^ b) * 0x94d049bb133111ebu;
	h = (h ^ (h >> 29) ^ c ^ n) * 0xbf58476d1ce4e5b9u;
	h ^= h >> 32;
	return (unsigned)(h % e->nshards);
}

/* ---- emit ---- */

static void shard_emit(void *ctx, struct kw_alert *a)
{
	struct kw_shard *s = ctx;

	a->secret = KW_STR_NULL; /* borrowed from the event: it stays here */
	if (s->current) {
		struct kw_keyhead *h = kw_keytab_state(s->current);
		unsigned stream = kw_keyhead_stream(h);

		h->flags |= KW_KS_RAISED;
		if (stream < s->e->nstreams)
			a->stream = s->e->streams[stream].id;
	}
	s->out.alert(s->out.ctx, a);
}

static bool shard_global(void *ctx, const struct kw_event *ev,
			 const struct kw_keyent *key)
{
	struct kw_shard *s = ctx;
	unsigned stream = 0;

	/* What it raises is about this key: its count goes with it. */
	if (s->current) {
		struct kw_keyhead *h = kw_keytab_state(s->current);

		h->flags |= KW_KS_RAISED;
		stream = kw_keyhead_stream(h);
	}
	s->out.global(s->out.ctx, s->cur_family, stream, ev, key);
	return true;
}

static void shard_note(void *ctx, enum kw_log_level level,
		       const char *component, const char *text)
{
	struct kw_shard *s = ctx;

	s->out.note(s->out.ctx, level, component, text);
}

/* ---- families learning a key again ---- */

/* A family learning the key again (kw_keyent.relearn: a state file had
 * no state of its layout for it) sees the key as first seen when it
 * started again, so that its detectors are in their learning period
 * (kw_detect_learning, cfg->learn) until it has learnt the key anew;
 * the others see the key's own first_seen (first). */
static inline void relearn_view(struct kw_keyent *key, size_t i, int64_t first)
{
	key->first_seen = (key->relearn >> i & 1) && key->relearn_since > first
				  ? key->relearn_since
				  : first;
}

/* Once it has learnt for cfg->learn (by the key's event at ts), the
 * family is like any other again. */
static void relearn_over(const struct kw_shard *s, struct kw_keyent *key,
			 int64_t ts)
{
	if (ts - key->relearn_since >= s->e->opts.cfg->learn) {
		key->relearn = 0;
		key->relearn_since = 0;
	}
}

/* ---- windows ---- */

/* Close the windows of one key that end by the watermark; when the next
 * one closes (KW_DETECT_NONE_OPEN: none open). INT64_MIN closes nothing. */
static int64_t flush_key(struct kw_shard *s, struct kw_keyent *key, int64_t wm)
{
	unsigned char *state = kw_keytab_state(key);
	struct kw_keyent *was = s->current;
	int64_t due = KW_DETECT_NONE_OPEN, first = key->first_seen;

	if (wm != INT64_MIN) /* windows may close: the state changes */
		((struct kw_keyhead *)state)->flags |= KW_KS_CHANGED;
	s->current = key;
	for (size_t k = 0; k < s->nflushing; k++) {
		size_t i = s->flushing[k];
		struct kw_family *f = &s->fam[i];
		int64_t d;

		s->cur_family = i;
		if (__builtin_expect(key->relearn != 0, 0))
			relearn_view(key, i, first);
		d = f->ops->flush(f->self, wm, key, state + f->offset,
				  &f->emit);
		if (d < due)
			due = d;
	}
	key->first_seen = first;
	s->current = was;
	return due;
}

/* The wheel of stream (an index), made on first use; NULL when there is
 * no memory (its keys' windows then close at their next event, when they
 * leave the table or at the end). */
static struct kw_wheel *wheel_of(struct kw_shard *s, unsigned stream)
{
	struct kw_shard_clock *c = &s->clocks[stream];

	if (!c->wheel &&
	    kw_wheel_create(KW_ENGINE_WHEEL_TICK, KW_ENGINE_WHEEL_SLOTS,
			    sizeof(struct kw_keyent) +
				    offsetof(struct kw_keyhead, wheel),
			    &c->wheel) != KW_OK)
		c->wheel = NULL;
	if (stream == s->clock)
		s->wheel = c->wheel;
	return c->wheel;
}

/* Take key off the wheel of its stream (nothing when it is not on one). */
static void unwait(struct kw_shard *s, struct kw_keyent *key)
{
	struct kw_keyhead *h = kw_keytab_state(key);

	if (kw_wheel_waiting(&h->wheel))
		kw_wheel_remove(s->clocks[kw_keyhead_stream(h)].wheel, key);
}

/* The earliest watermark at which a window of the key's rings closes
 * (KW_DETECT_NONE_OPEN: none is open). With lazy, only the urgent rings
 * count, and *lazy is set when another ring has a window open. */
static int64_t rings_due(const struct kw_shard *s, const unsigned char *state,
			 bool *lazy)
{
	int64_t due = KW_DETECT_NONE_OPEN;

	for (size_t k = 0; k < s->nwins; k++) {
		const struct kw_win *win =
			(const void *)(state + s->wins[k].offset);
		int64_t d;

		if (lazy && !win->urgent) {
			*lazy = *lazy || win->first;
			continue;
		}
		d = kw_win_due(win, s->wins[k].len);
		if (d < due)
			due = d;
	}
	return due;
}

/* After an event of stream (the families' clocks': s->clock): the key
 * waits on the stream's wheel for when its oldest window closes, the
 * earliest of the families' answers (a key already waiting moves only to
 * an earlier time; a later answer means the event closed the window it
 * waited for, and the flush at that time finds the next). */
static void schedule(struct kw_shard *s, struct kw_keyent *key, unsigned stream)
{
	unsigned char *state = kw_keytab_state(key);
	struct kw_wheel *w = s->wheel;
	int64_t due = KW_DETECT_NONE_OPEN;
	bool pending = false;

	if (!s->e->windowed)
		return;
	/* flush_key(s, key, INT64_MIN) without its bookkeeping for what a
	 * flush raises: at INT64_MIN nothing closes, so nothing is raised
	 * and the key's first_seen is not read. A ring with no urgent
	 * window waits for catch_up instead. */
	due = rings_due(s, state, &pending);
	if (pending) {
		struct kw_keyhead *h = (struct kw_keyhead *)state;

		h->flags |= KW_KS_PENDING;
		h->swept_at = s->clocks[stream].sweeps;
	}
	for (size_t k = 0; k < s->nasking; k++) {
		const struct kw_family *f = &s->fam[s->asking[k]];
		int64_t d = f->ops->flush(f->self, INT64_MIN, key,
					  state + f->offset, &f->emit);

		if (d < due)
			due = d;
	}
	/* With no memory the key is closed at its next event or the end. */
	if (due != KW_DETECT_NONE_OPEN &&
	    (w || (w = wheel_of(s, stream)) != NULL))
		kw_wheel_sooner(w, key, due);
}

/* Before a key with lazy windows (KW_KS_PENDING, of its head's flags) is
 * read or fed: when its stream was swept since they were left (at its last
 * event), close what the last sweep passed, as the sweeps would have had
 * the key been on the wheel. Those windows can raise nothing (they are not
 * urgent), and each closes exactly as it would have then: the same
 * counts, in the same order, before the same events. A window opened
 * after the last sweep waits for the next, even when that sweep's
 * watermark had passed its end (a late event's window): so would it on
 * the wheel. */
static inline void catch_up(struct kw_shard *s, struct kw_keyent *key,
			    uint32_t flags)
{
	struct kw_keyhead *h = kw_keytab_state(key);
	unsigned stream = flags >> KW_KS_STREAM_SHIFT;
	const struct kw_shard_clock *c;

	if (!(flags & KW_KS_PENDING) || stream == KW_KS_DROPPED)
		return;
	c = &s->clocks[stream];
	if (c->sweeps == h->swept_at)
		return;
	h->swept_at = c->sweeps;
	if (rings_due(s, (const unsigned char *)h, NULL) <= c->swept)
		flush_key(s, key, c->swept);
}

/* The wheel hands back a key whose oldest window has closed: it waits in
 * due[] for the sweep (off the wheel meanwhile). */
static void on_due(void *ctx, void *item)
{
	struct kw_shard *s = ctx;

	if (s->ndue == s->capdue) {
		size_t cap = s->capdue ? s->capdue * 2 : 256;
		struct kw_keyent **p = realloc(s->due, cap * sizeof(*p));

		if (!p) {
			/* No memory: its windows close now, or at its next
			 * event or the end. */
			int64_t due = flush_key(s, item, s->sweep_wm);

			if (due != KW_DETECT_NONE_OPEN)
				kw_wheel_add(s->clocks[s->sweep_stream].wheel,
					     item, due);
			return;
		}
		s->due = p;
		s->capdue = cap;
	}
	s->due[s->ndue++] = item;
}

/* Read the byte at p, for its line and its page's walk only. On this
 * machine (a VM, its page walks nested) the lines of a cold key that a
 * sweep prefetched were still missed by its flush (perf: the stall on the
 * flush's first read of the entry), where the same lines read instead
 * were not; reads asked back to back overlap as prefetches would. */
static inline void touch(const void *p)
{
	(void)*(const volatile char *)p;
}

/* Ask for the lines a flush of key reads: the first and the last read
 * (touch: the walks of the pages they are on), the rest prefetched. */
static void prefetch_flush(const struct kw_shard *s,
			   const struct kw_keyent *key)
{
	const char *p = (const char *)key;

	if (!s->nflush_pf)
		return;
	touch(p);
	touch(p + s->flush_pf[s->nflush_pf - 1]);
	for (size_t i = 1; i + 1 < s->nflush_pf; i++)
		__builtin_prefetch(p + s->flush_pf[i]);
}

/* Ask for the lines of due[from .. to) (cut to ndue), back to back. */
static void prefetch_due(const struct kw_shard *s, size_t from, size_t to)
{
	for (size_t i = from; i < to && i < s->ndue; i++)
		prefetch_flush(s, s->due[i]);
}

bool kw_shard_sweep(struct kw_shard *s, bool (*stop)(void *ctx), void *ctx)
{
	/* A due key is cold (its last event was a window ago): its lines
	 * are asked for a burst ahead (KW_SHARD_BURST), for its page walk
	 * to overlap the others' (see kw_shard_hash_ahead). */
	if (s->hinting)
		prefetch_due(s, s->sweep_at, s->sweep_at + 2 * KW_SHARD_BURST);
	while (s->sweep_at < s->ndue) {
		struct kw_keyent *key = s->due[s->sweep_at];
		int64_t due;

		if (stop && stop(ctx))
			return false;
		if (s->hinting && s->sweep_at % KW_SHARD_BURST == 0 &&
		    s->sweep_at)
			prefetch_due(s, s->sweep_at + KW_SHARD_BURST,
				     s->sweep_at + 2 * KW_SHARD_BURST);
		s->sweep_at++;
		due = flush_key(s, key, s->sweep_wm);
		if (due != KW_DETECT_NONE_OPEN)
			kw_wheel_add(s->clocks[s->sweep_stream].wheel, key,
				     due);
	}
	s->ndue = 0;
	s->sweep_at = 0;
	return true;
}

/* The families' clocks (their tick) hold stream's watermark wm from now:
 * what the events of that stream are judged by when they come (a window
 * of theirs that wm has passed closes before the event is counted). */
static void tick_families(struct kw_shard *s, unsigned stream, int64_t wm)
{
	s->clock = stream;
	s->wheel = s->clocks[stream].wheel;
	s->current = NULL;
	for (size_t i = 0; i < s->nfam; i++) {
		s->cur_family = i;
		if (s->fam[i].ops->tick)
			s->fam[i].ops->tick(s->fam[i].self, wm,
					    &s->fam[i].emit);
	}
}

bool kw_shard_tick_begin(struct kw_shard *s, unsigned stream, int64_t wm)
{
	struct kw_shard_clock *c = &s->clocks[stream];

	if (wm <= c->watermark)
		return false;
	c->watermark = wm;
	if (stream == s->clock)
		tick_families(s, stream, wm);
	if (wm < c->next_sweep)
		return false;
	c->next_sweep = wm > INT64_MAX - KW_ENGINE_SWEEP_EVERY
				? INT64_MAX
				: wm + KW_ENGINE_SWEEP_EVERY;
	s->sweep_wm = wm;
	c->swept = wm;
	c->sweeps++;
	s->sweep_stream = stream;
	s->sweep_at = 0;
	s->ndue = 0;
	if (c->wheel)
		kw_wheel_advance(c->wheel, wm, on_due, s);
	return true;
}

void kw_shard_tick(struct kw_shard *s, unsigned stream, int64_t wm)
{
	if (kw_shard_tick_begin(s, stream, wm))
		kw_shard_sweep(s, NULL, NULL);
}

bool kw_shard_ticks_next(struct kw_shard *s, const struct kw_engine_ticks *t,
			 unsigned *at)
{
	if (*at == 0) {
		*at = 1;
		if (kw_shard_tick_begin(s, t->stream, t->own))
			return true;
	}
	/* *at is 1 + the next quiet stream to look at. */
	while (t->any_quiet && *at <= KW_ENGINE_STREAMS_MAX) {
		unsigned q = *at - 1;
		uint64_t bits = t->quiet[q / 64] >> (q % 64);

		if (!bits) {
			*at = (q / 64 + 1) * 64 + 1;
			continue;
		}
		q += (unsigned)__builtin_ctzll(bits);
		*at = q + 2;
		if (kw_shard_tick_begin(s, q, t->wm))
			return true;
	}
	return false;
}

/* ---- overflow parts ---- */

/* Where key's handle of family f's overflow part number part is. */
static uint32_t *handle_of(const struct kw_family *f, unsigned part,
			   struct kw_keyent *key)
{
	return (uint32_t *)(void *)((unsigned char *)kw_keytab_state(key) +
				    f->offset + f->emit.handle +
				    4 * (size_t)part);
}

/* A new part number part of family f for key; NULL when memory is short,
 * which is data lost: said once, and counted (the run's exit status says
 * it). */
static void *overflow_new(struct kw_shard *s, const struct kw_family *f,
			  unsigned part, struct kw_keyent *key)
{
	void *b = kw_blocks_new(f->blocks[part], handle_of(f, part, key));

	if (!b && !s->st.lost++)
		kw_log_error("engine",
			     "out of memory: part of a key's %s state could "
			     "not be made, and what it would hold is lost",
			     f->ops->name);
	return b;
}

/* The family whose own emit (kw_family.emit) e is. */
static const struct kw_family *family_of(const struct kw_emit *e)
{
	return (const void *)((const unsigned char *)e -
			      offsetof(struct kw_family, emit));
}

/* emit's overflow stage (kw_detect_overflow): e is a family's own emit,
 * so it tells the family. kw_detect_overflow finds a part the key has
 * without this; what comes here is a part to make. */
static void *shard_overflow(const struct kw_emit *e, struct kw_keyent *key,
			    unsigned part, bool make)
{
	const struct kw_family *f = family_of(e);
	uint32_t *h;

	if (part >= KW_DETECT_PARTS || !f->blocks[part])
		return NULL;
	h = handle_of(f, part, key);
	if (*h)
		return kw_blocks_at(f->blocks[part], *h);
	return make ? overflow_new(e->ctx, f, part, key) : NULL;
}

/* Family f's pools of parts, gone. */
static void blocks_destroy(struct kw_family *f)
{
	for (unsigned p = 0; p < KW_DETECT_PARTS; p++) {
		kw_blocks_destroy(f->blocks[p]);
		f->blocks[p] = NULL;
	}
}

/* The key gives its parts back (it leaves the table, or its state is
 * cleared). */
static void overflow_free(struct kw_shard *s, struct kw_keyent *key)
{
	for (size_t i = 0; s->e->overflows && i < s->nfam; i++) {
		const struct kw_family *f = &s->fam[i];

		for (unsigned p = 0; p < KW_DETECT_PARTS && f->blocks[p]; p++) {
			uint32_t *h = handle_of(f, p, key);

			kw_blocks_free(f->blocks[p], *h);
			*h = 0;
		}
	}
}

const unsigned char *kw_shard_flat(struct kw_shard *s, struct kw_keyent *key)
{
	const unsigned char *state = kw_keytab_state(key);
	unsigned char *out = s->flat;

	if (!out)
		return state + s->e->learned_off;
	memset(out, 0, s->e->learned_size);
	for (size_t i = 0; i < s->nfam; i++) {
		const struct kw_family *f = &s->fam[i];
		unsigned char *whole = out + f->flat;
		const unsigned char *slice = state + f->offset;
		size_t from = 0; /* in whole; slice: what is between parts */

		for (unsigned p = 0; p < KW_DETECT_PARTS && f->blocks[p]; p++) {
			const struct kw_state_part *pt = &f->ops->parts[p];
			uint32_t h;

			memcpy(whole + from, slice, pt->at - from);
			slice += pt->at - from;
			memcpy(&h, handle_of(f, p, key), sizeof(h));
			if (h)
				memcpy(whole + pt->at,
				       kw_blocks_at(f->blocks[p], h), pt->size);
			from = pt->at + pt->size;
		}
		memcpy(whole + from, slice, f->ops->state_size - from);
	}
	return out;
}

/* The other way: s->flat (a record taken from a snapshot) into the key's
 * state area (zeroes: the key is new), with a block made for each
 * overflow part that is not all zeroes (without memory: lost, and
 * counted, as overflow_new says). */
static void unflatten(struct kw_shard *s, struct kw_keyent *key)
{
	unsigned char *state = kw_keytab_state(key);
	const unsigned char *in = s->flat;

	for (size_t i = 0; i < s->nfam; i++) {
		const struct kw_family *f = &s->fam[i];
		const unsigned char *whole = in + f->flat;
		unsigned char *slice = state + f->offset, *b;
		size_t from = 0; /* as in kw_shard_flat */

		for (unsigned p = 0; p < KW_DETECT_PARTS && f->blocks[p]; p++) {
			const struct kw_state_part *pt = &f->ops->parts[p];

			memcpy(slice, whole + from, pt->at - from);
			slice += pt->at - from;
			if (!kw_bytes_zero(whole + pt->at, pt->size) &&
			    (b = overflow_new(s, f, p, key)))
				memcpy(b, whole + pt->at, pt->size);
			from = pt->at + pt->size;
		}
		memcpy(slice, whole + from, f->ops->state_size - from);
	}
}

/* ---- keys coming and going ---- */

/* The table evicts a key: its windows close, its learning is kept, and
 * the ordered stage forgets its alert count. */
static void on_evict(void *ctx, struct kw_keyent *key)
{
	struct kw_shard *s = ctx;
	struct kw_keyhead *h = kw_keytab_state(key);
	struct kw_snap_meta m;

	if (kw_keyhead_stream(h) == KW_KS_DROPPED) {
		overflow_free(s, key);
		return; /* nothing of it is kept */
	}
	flush_key(s, key, INT64_MAX);
	unwait(s, key);
	if (h->flags & KW_KS_RAISED)
		s->out.evicted(s->out.ctx, key->fp);
	if (s->stash) {
		kw_engine_meta(s->e, key, &m);
		kw_snapshot_put(s->stash, key->fp, &m, kw_shard_flat(s, key));
	}
	overflow_free(s, key);
}

/* A key seen for the first time in this run: its learning, from this
 * shard's stash (it was evicted earlier) or from the state file. */
static void restore(struct kw_shard *s, struct kw_keyent *key, int64_t ts)
{
	struct kw_engine *e = s->e;
	unsigned char *state = kw_keytab_state(key);
	/* Straight into the state area, or through s->flat when a family
	 * keeps an overflow part apart. */
	unsigned char *learned = s->flat ? s->flat : state + e->learned_off;
	struct kw_snap_meta m;
	bool found =
		s->stash && kw_snapshot_take(s->stash, key->fp, &m, learned);

	if (!found) {
		pthread_mutex_lock(&e->snap_mu);
		found = kw_snapshot_take(e->snap, key->fp, &m, learned);
		pthread_mutex_unlock(&e->snap_mu);
	}
	if (!found)
		return;
	if (s->flat)
		unflatten(s, key);
	/* A ring loaded open closes on time, whatever its urgent mark said
	 * when saved: the file may come from before rings were marked, or
	 * from a config under which the window could raise nothing
	 * (doc/pipeline.md). */
	for (size_t k = 0; k < s->nwins; k++) {
		struct kw_win *w = (void *)(state + s->wins[k].offset);

		if (w->first)
			kw_win_urgent(w);
	}
	s->st.keys_restored++;
	if (m.first_seen < key->first_seen)
		key->first_seen = m.first_seen;
	kw_engine_restored(e, key, &m, ts);
}

/* A few distinct IPs per key for the report (a tiny fixed set). */
static void note_ip(struct kw_keycount *ks, const struct kw_ip *ip)
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

/* Where the event's address is: the GeoIP databases' answer (through the
 * running thread's cache); where they have no country (none loaded, or
 * none for the address) and the log places the address itself (GitHub),
 * with the log's country. */
static const struct kw_geo *place(struct kw_shard *s, const struct kw_event *ev)
{
	const struct kw_engine *e = s->e;
	const struct kw_geo *g = NULL;

	if (e->opts.geoip)
		g = s->worker->geo ? kw_geoip_lookup_in(e->opts.geoip,
							s->worker->geo, &ev->ip)
				   : kw_geoip_lookup(e->opts.geoip, &ev->ip);
	if (!ev->country[0] || (g && g->country[0]))
		return g;
	if (g)
		s->logged_geo = *g;
	else
		memset(&s->logged_geo, 0, sizeof(s->logged_geo));
	memcpy(s->logged_geo.country, ev->country, sizeof(ev->country));
	return &s->logged_geo;
}

/* A new key: mark the keys[] entries whose glob matches it. The entries
 * before its first match (key->conf) did not; the later ones are tried
 * only while unmatched, so a key costs nothing more once every entry has
 * matched. */
static void note_conf_matches(struct kw_shard *s, const struct kw_keyent *key,
			      struct kw_str k)
{
	const struct kw_config *cfg = s->e->opts.cfg;
	const struct kw_keyconf *first = key->conf;

	if (!first || !s->nconf_left)
		return;
	for (size_t i = first->index; i < cfg->nkeys; i++) {
		if (s->conf_matched[i] ||
		    (i != first->index &&
		     !kw_glob_matches(&cfg->keys[i].glob, k.p, k.n)))
			continue;
		s->conf_matched[i] = true;
		s->nconf_left--;
	}
}

/* An entry whose stream was dropped, seen again: a new key, as if just
 * inserted (kw_keytab_get counted this event). */
static bool revive(struct kw_keyent *key, int64_t ts)
{
	struct kw_keyhead *h = kw_keytab_state(key);

	if (kw_keyhead_stream(h) != KW_KS_DROPPED)
		return false;
	key->first_seen = key->last_seen = ts;
	key->events = 1;
	key->relearn = 0;
	key->relearn_since = 0;
	return true;
}

/* The entry of ahead[] for ev, or NULL: entries are taken in the order
 * they were made (a shard analyses its events in the order it was asked
 * for them), so the one at *cursor is almost always it; else a search,
 * which puts the cursor back in step. */
static struct kw_shard_ahead *
ahead_find(struct kw_shard *s, const struct kw_event *ev, unsigned *cursor)
{
	struct kw_shard_ahead *a = &s->ahead[*cursor % KW_SHARD_AHEAD];

	if (__builtin_expect(a->ev != ev, 0)) {
		unsigned i = 0;

		while (i < KW_SHARD_AHEAD && s->ahead[i].ev != ev)
			i++;
		if (i == KW_SHARD_AHEAD)
			return NULL;
		a = &s->ahead[i];
		*cursor = i;
	}
	(*cursor)++;
	return a;
}

void kw_shard_prefetch_reset(struct kw_shard *s)
{
	if (!s->hinting)
		return;
	for (size_t i = 0; i < KW_SHARD_AHEAD; i++)
		s->ahead[i].ev = NULL;
	s->ahead_next = s->ahead_near = s->ahead_take = s->ahead_asked = 0;
}

void kw_shard_hash_ahead_run(struct kw_shard *s, const struct kw_event *ev)
{
	struct kw_shard_ahead *a = &s->ahead[s->ahead_next++ % KW_SHARD_AHEAD];
	struct kw_str id = kw_engine_id(ev);

	a->ev = ev;
	a->key = id.p;
	a->n = id.n;
	kw_keytab_hash(s->keys, id.p, id.n, a->h);
}

void kw_shard_ask_index_run(struct kw_shard *s)
{
	if (s->ahead_next - s->ahead_asked > KW_SHARD_AHEAD)
		s->ahead_asked = s->ahead_next - KW_SHARD_AHEAD;
	for (unsigned i = s->ahead_asked; i != s->ahead_next; i++)
		kw_keytab_prefetch(s->keys, s->ahead[i % KW_SHARD_AHEAD].h);
	s->ahead_asked = s->ahead_next;
}

void kw_shard_ask_entry_run(struct kw_shard *s, const struct kw_event *ev)
{
	const struct kw_shard_ahead *a = ahead_find(s, ev, &s->ahead_near);

	if (a)
		kw_keytab_prefetch_entry(s->keys, a->h, s->npf);
}

/* An event of stream, not the stream of key's last event: a key fed by
 * another stream than before (keyed across partitions, or new) waits on
 * the new one's wheel, judged by its time from now. */
static void change_stream(struct kw_shard *s, struct kw_keyent *key)
{
	if (kw_keyhead_stream(kw_keytab_state(key)) != KW_KS_DROPPED)
		unwait(s, key);
}

void kw_shard_stream(struct kw_shard *s, unsigned stream)
{
	if (stream != s->clock)
		tick_families(s, stream, s->clocks[stream].watermark);
}

/* The key of ev from the table: with the hash kw_shard_hash_ahead computed
 * when there is one (taken: the batch's events are reused). */
static enum kw_status get_key(struct kw_shard *s, const struct kw_event *ev,
			      struct kw_str id, struct kw_keyent **key,
			      bool *created)
{
	struct kw_shard_ahead *a;
	enum kw_status st;

	if (!s->hinting) {
		st = kw_keytab_get(s->keys, id.p, id.n, ev->ts, key, created);
		if (*created && kw_keytab_count(s->keys) >= s->hint_from)
			s->hinting = true;
		return st;
	}
	a = ahead_find(s, ev, &s->ahead_take);
	if (a && a->key == id.p && a->n == id.n) {
		a->ev = NULL;
		return kw_keytab_get_hashed(s->keys, a->h, id.p, id.n, ev->ts,
					    key, created);
	}
	return kw_keytab_get(s->keys, id.p, id.n, ev->ts, key, created);
}

void kw_shard_analyse(struct kw_shard *s, struct kw_event *ev, unsigned stream,
		      int64_t late_wm)
{
	struct kw_engine *e = s->e;
	struct kw_keyent *key = NULL;
	struct kw_str id = kw_engine_id(ev);
	bool by_principal = id.p == ev->principal.p && ev->principal.n;
	struct kw_keyhead *head;
	unsigned char *state;
	uint32_t flags;
	int64_t first;
	bool created = false;
	enum kw_status st;
	size_t nfam;

	st = get_key(s, ev, id, &key, &created);
	if (st != KW_OK) {
		/* Only memory: the decoding stage checked the key. */
		kw_log_error("engine", "%s:%llu: key not tracked: %s", ev->file,
			     (unsigned long long)ev->line, kw_strerror(st));
		return;
	}
	if (!created && __builtin_expect(revive(key, ev->ts), 0))
		created = true;
	state = kw_keytab_state(key);
	head = (struct kw_keyhead *)state;
	flags = head->flags;
	if (flags & KW_KS_PENDING)
		catch_up(s, key, flags);
	if (__builtin_expect((flags >> KW_KS_STREAM_SHIFT) != stream, 0))
		change_stream(s, key);
	head->flags = (flags & 0xffffu & ~(KW_KS_CHANGED | KW_KS_PENDING)) |
		      KW_KS_CHANGED | (uint32_t)stream << KW_KS_STREAM_SHIFT;
	if (created) {
		s->st.keys_seen++;
		kw_distinct_add(&s->distinct, key->fp);
		key->kind = (uint8_t)ev->key_kind;
		key->mode = (uint8_t)ev->key_mode;
		key->conf = kw_config_key(e->opts.cfg, id.p, id.n);
		note_conf_matches(s, key, id);
		if (by_principal) {
			char label[KW_KEY_ID_MAX];

			key->flags |= KW_KEYENT_PRINCIPAL;
			kw_key_principal_label(id.p, id.n, label,
					       sizeof(label));
			/* no memory: the label's start */
			kw_keytab_set_id(s->keys, key, label);
		}
		if (e->snap)
			restore(s, key, ev->ts);
	} else {
		if (key->mode == KW_MODE_UNKNOWN && ev->key_mode)
			key->mode = (uint8_t)ev->key_mode;
		if (key->kind == KW_KIND_UNKNOWN && ev->key_kind)
			key->kind = (uint8_t)ev->key_kind;
	}
	s->st.events++;
	if (ev->ts < late_wm)
		s->st.late++;
	if (ev->ts < s->st.first_ts)
		s->st.first_ts = ev->ts;
	if (ev->ts > s->st.last_ts)
		s->st.last_ts = ev->ts;
	if (e->count_off) {
		struct kw_keycount *c = (void *)(state + e->count_off);

		if (ev->status >= 400)
			c->errors++;
		if (ev->status == 401 || ev->status == 403)
			c->denied++;
		note_ip(c, &ev->ip);
		kw_keyreport_observe(
			(struct kw_keyreport *)(state + e->report_off), ev);
	}
	if ((e->opts.geoip || ev->country[0]) &&
	    kw_detect_geo_wants(e->opts.cfg, key))
		ev->geo = place(s, ev);
	s->current = key;
	first = key->first_seen;
	if (__builtin_expect(key->relearn != 0, 0))
		relearn_over(s, key, ev->ts);
	nfam = ev->cloud ? s->nfam : s->nfam_plain;
	if (__builtin_expect(key->relearn != 0, 0)) {
		for (size_t i = 0; i < nfam; i++) {
			struct kw_family *f = &s->fam[i];

			s->cur_family = i;
			relearn_view(key, i, first);
			f->ops->observe(f->self, ev, key, state + f->offset,
					&f->emit);
		}
	} else {
		for (size_t i = 0; i < nfam; i++) {
			struct kw_family *f = &s->fam[i];

			s->cur_family = i;
			f->ops->observe(f->self, ev, key, state + f->offset,
					&f->emit);
		}
	}
	key->first_seen = first;
	s->current = NULL;
	schedule(s, key, stream);
}

static void flush_one(void *ctx, struct kw_keyent *key)
{
	struct kw_shard *s = ctx;

	if (kw_keyhead_stream(kw_keytab_state(key)) == KW_KS_DROPPED)
		return;

	flush_key(s, key, INT64_MAX);
	unwait(s, key);
}

void kw_shard_finish(struct kw_shard *s)
{
	for (unsigned i = 0; i < s->e->nstreams; i++)
		kw_shard_tick(s, i, INT64_MAX);
	/* The sweeps closed every listed key; this finds only a key the
	 * lists had no room for. */
	kw_keytab_foreach(s->keys, flush_one, s);
}

struct drop_ctx {
	struct kw_shard *s;
	unsigned stream;
};

static void drop_one(void *ctx, struct kw_keyent *key)
{
	struct drop_ctx *dc = ctx;
	struct kw_keyhead *h = kw_keytab_state(key);

	if (kw_keyhead_stream(h) != dc->stream)
		return;
	unwait(dc->s, key);
	if (h->flags & KW_KS_RAISED)
		kw_ordered_evicted(&dc->s->e->ord, key->fp);
	memset(h, 0, dc->s->e->state_size);
	overflow_free(dc->s, key);
	h->flags = (uint32_t)KW_KS_DROPPED << KW_KS_STREAM_SHIFT;
}

void kw_shard_drop_stream(struct kw_shard *s, unsigned stream)
{
	struct drop_ctx dc = {s, stream};
	struct kw_shard_clock *c = &s->clocks[stream];

	/* Called with the engine settled: no sweep is under way, so no due
	 * list holds a key. */
	kw_keytab_foreach(s->keys, drop_one, &dc);
	/* Its wheel is empty now, and its clock cannot go back: both start
	 * again with the stream's next event. */
	kw_wheel_destroy(c->wheel);
	*c = (struct kw_shard_clock){.wheel = NULL,
				     .watermark = INT64_MIN,
				     .swept = INT64_MIN,
				     .sweeps = c->sweeps};
	if (s->clock == stream)
		tick_families(s, stream, INT64_MIN);
}

struct foreach_ctx {
	struct kw_shard *s;
	void (*cb)(void *ctx, struct kw_keyent *key);
	void *ctx;
};

static void foreach_one(void *ctx, struct kw_keyent *key)
{
	struct foreach_ctx *fc = ctx;

	catch_up(fc->s, key,
		 ((struct kw_keyhead *)kw_keytab_state(key))->flags);
	fc->cb(fc->ctx, key);
}

void kw_shard_foreach(struct kw_shard *s,
		      void (*cb)(void *ctx, struct kw_keyent *key), void *ctx)
{
	struct foreach_ctx fc = {s, cb, ctx};

	/* Each key as the sweeps would have left it (catch_up). */
	kw_keytab_foreach(s->keys, foreach_one, &fc);
}

/* ---- life ---- */

/* Add the lines of bytes [from, to) from the key's entry to what a sweep
 * asks for ahead of a flush (kw_shard.flush_pf): an address every 64
 * bytes and the last byte's, which reach every line of the range wherever
 * it starts in one (an entry is only 16-byte aligned). Past the bound the
 * rest are left to come when read. */
static void flush_lines(struct kw_shard *s, size_t from, size_t to)
{
	size_t at = from;

	if (to > UINT16_MAX)
		to = UINT16_MAX;
	for (; at < to && s->nflush_pf < KW_SHARD_PF_LINES; at += 64)
		s->flush_pf[s->nflush_pf++] = (uint16_t)at;
	if (at >= to && to > from && s->nflush_pf < KW_SHARD_PF_LINES)
		s->flush_pf[s->nflush_pf++] = (uint16_t)(to - 1);
}

static enum kw_status create_families(struct kw_shard *s, struct kw_error *err)
{
	const struct kw_detector_ops *const *all = kw_detect_all();
	struct kw_detector_env env = {.cfg = s->e->opts.cfg,
				      .models = s->e->opts.models};
	size_t off = align_up(sizeof(struct kw_keyhead)), flat = 0;
	enum kw_status st;

	for (size_t i = 0; all[i] && i < KW_ENGINE_MAX_FAMILIES; i++) {
		struct kw_family *f = &s->fam[s->nfam];
		size_t size = kw_family_slice(all[i]);

		f->ops = all[i];
		f->offset = off;
		f->flat = flat;
		flat += align_up(all[i]->state_size);
		for (unsigned p = 0; p < kw_family_parts(all[i]); p++) {
			st = kw_blocks_create(align_up(all[i]->parts[p].size),
					      s->max_keys, &f->blocks[p]);
			if (st != KW_OK) {
				blocks_destroy(f);
				return kw_error_set(err, st, "out of memory");
			}
		}
		f->emit = (struct kw_emit){.fn = shard_emit,
					   .global = shard_global,
					   .note = shard_note,
					   .overflow = shard_overflow,
					   .handle = kw_family_handle(all[i]),
					   .ctx = s,
					   .unread = s->e->opts.unread};
		for (unsigned p = 0; p < KW_DETECT_PARTS; p++)
			f->emit.pool[p] = f->blocks[p];
		st = f->ops->create(&env, &f->self, err);
		if (st != KW_OK) {
			/* not counted in nfam: fini would not see it */
			blocks_destroy(f);
			return st;
		}
		if (f->ops->flush) {
			struct kw_shard_win *w = &s->wins[s->nwins];

			s->flushing[s->nflushing++] = (uint8_t)s->nfam;
			if (f->ops->window &&
			    f->ops->window(f->self, &w->offset, &w->len)) {
				w->offset += f->offset;
				s->nwins++;
			} else {
				s->asking[s->nasking++] = (uint8_t)s->nfam;
			}
		}
		if (f->ops->flush && f->ops->state_size) {
			if (!s->nflush_pf) /* the entry and the engine's head */
				flush_lines(s, 0,
					    sizeof(struct kw_keyent) +
						    sizeof(struct kw_keyhead));
			flush_lines(s, sizeof(struct kw_keyent) + f->offset,
				    sizeof(struct kw_keyent) + f->offset +
					    size);
		}
		s->nfam++;
		if (!f->ops->cloud_only)
			s->nfam_plain = s->nfam;
		off += kw_slice_room(size);
	}
	return KW_OK;
}

enum kw_status kw_shard_init(struct kw_engine *e, struct kw_shard *s,
			     unsigned id, size_t max_keys, struct kw_error *err)
{
	enum kw_status st;
	size_t upto;

	s->e = e;
	s->id = id;
	s->max_keys = max_keys;
	s->out = kw_ordered_direct;
	s->out.ctx = &e->ord;
	s->worker = &e->worker;
	s->st.first_ts = INT64_MAX;
	s->st.last_ts = INT64_MIN;
	st = create_families(s, err);
	if (st != KW_OK)
		return st;
	s->nconf_left = e->opts.cfg->nkeys;
	s->conf_matched = calloc(e->opts.cfg->nkeys + 1, sizeof(bool));
	if (!s->conf_matched)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	s->clocks = calloc(KW_ENGINE_STREAMS_MAX, sizeof(*s->clocks));
	if (!s->clocks)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	for (size_t i = 0; i < KW_ENGINE_STREAMS_MAX; i++) {
		s->clocks[i].watermark = INT64_MIN;
		s->clocks[i].swept = INT64_MIN;
	}
	/* The default stream's wheel from the start (files: scan). */
	if (!wheel_of(s, 0))
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	st = kw_keytab_create(max_keys, e->state_size, &s->keys);
	if (st != KW_OK)
		return kw_error_set(err, st, "cannot create the key table: %s",
				    kw_strerror(st));
	kw_keytab_on_evict(s->keys, on_evict, s);
	if (e->overflows) {
		s->flat = malloc(e->learned_size);
		if (!s->flat)
			return kw_error_set(err, KW_ENOMEM, "out of memory");
	}
	/* What kw_shard_ask_entry asks for of a key's state: the engine's
	 * and the detectors' part, line by line. */
	upto = e->count_off ? e->count_off : e->state_size;
	s->npf = (upto + 63) / 64;
	if (s->npf > KW_SHARD_PF_LINES)
		s->npf = KW_SHARD_PF_LINES;
	s->hint_from =
		e->opts.hint_keys
			? e->opts.hint_keys
			: KW_SHARD_HINT_BYTES /
				  (kw_keytab_entry_overhead() + e->state_size);
	s->hinting = s->hint_from <= 1;
	return KW_OK;
}

void kw_shard_fini(struct kw_shard *s)
{
	for (size_t i = 0; i < s->nfam; i++) {
		if (s->fam[i].ops->destroy)
			s->fam[i].ops->destroy(s->fam[i].self);
		blocks_destroy(&s->fam[i]);
	}
	s->nfam = 0;
	s->nflushing = 0;
	s->nwins = 0;
	s->nasking = 0;
	kw_keytab_destroy(s->keys);
	free(s->flat);
	s->flat = NULL;
	kw_snapshot_destroy(s->stash);
	for (size_t i = 0; s->clocks && i < KW_ENGINE_STREAMS_MAX; i++)
		kw_wheel_destroy(s->clocks[i].wheel);
	free(s->clocks);
	free(s->due);
	free(s->conf_matched);
	s->conf_matched = NULL;
	s->keys = NULL;
	s->stash = NULL;
	s->clocks = NULL;
	s->due = NULL;
}
