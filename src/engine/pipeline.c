/*
 * pipeline.c - the engine's stages on several threads, with the results of
 * one (engine_impl.h).
 *
 * Batches (up to KW_ENGINE_BATCH records of one input, as the splitter
 * cuts them) go round a fixed ring of slots, and each slot through four
 * stages:
 *
 *   read      one thread at a time, in input order (the caller's input,
 *             while its kw_pipeline_read waits and works): inflate and
 *             split; the records stay where the splitter read them, in
 *             one of the pipeline's buffers, which the slot holds until
 *             it is through (a merge of several inputs reuses its
 *             buffers at once: there the batch's bytes are copied into
 *             the slot);
 *   decode    the same thread, with the bytes in its cache, while
 *             another reads on: decode, enrich, sort the events by
 *             shard; then, in batch order, the watermark after it;
 *   shards    each shard, on any thread but one at a time and batch after
 *             batch, analyses its events of the slot and then ticks;
 *   ordered   one thread at a time, batch after batch: what the shards
 *             raised, in the order the events raised it (ordered.c).
 *
 * The one idea: everything a shard raises carries its place in the batch
 * (the event's index; the tick comes after every event, shard after
 * shard), so the ordered stage can take the shards' output in exactly the
 * order one thread would have made it: an item is taken when no other
 * shard can still give one before it (its "frontier" is past it).
 *
 * Memory is bounded: the slots are a fixed ring, and so are the reader's
 * buffers (at most one per slot, plus the splitter's and a spare, each
 * 512 KiB unless a record longer than half of that grew one, up to
 * --max-line plus 512 KiB); a shard stops a run after
 * RUN_ITEMS new items, and is not run again while SHARD_ITEMS of its items
 * wait for the ordered stage, which always has an item it may take (the
 * shard with the lowest frontier holds it), so a flood of alerts is paced,
 * never held whole.
 *
 * Any thread does any stage's work, downstream first, except that reading
 * comes before all when a slot is free: it is the one stage that cannot
 * be shared, so the thread the system runs is the one that reads.
 *
 * Locking: one mutex guards the stages' state (which slot is where, the
 * shards' positions, the output counts and frontiers); work runs with it
 * released. A slot being read belongs to the reading thread, one being
 * decoded to its thread; a shard's items past its published count belong
 * to the shard, those before it to the ordered stage.
 */
#include "engine/pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "engine/engine_impl.h"
#include "enrich/geoip.h"
#include "ingest/merge.h"
#include "ingest/splitter.h"

#define B KW_ENGINE_BATCH
#define MAX_THREADS 64
#define MAX_SLOTS 24
#define CHUNK_ITEMS 16
/* Chunks kept for the shards' next items once the ordered stage is done
 * with them, and the most a shard takes along into a run: a chunk is 46 KB
 * (16 alerts by value), and made and freed over and over the heap's top
 * went back to the system and faulted in again (at a million keys and an
 * alert every 19 events, 26,000 of the scan's 61,000 page faults). */
#define POOL_CHUNKS 32
#define SPARE_CHUNKS 4
#define RUN_ITEMS 64
#define SHARD_ITEMS 256
#define NAME_MAX_LEN 4096
/* The buffers the splitter reads into: one for each slot that holds
 * records in one, the splitter's, and one to spare. One read's worth each
 * (the splitter reads 512 KiB a time, less the partial record it carries
 * over); one grows for a longer record. */
#define BUFS (MAX_SLOTS + 2)
#define BUF_SIZE ((size_t)512 * 1024)

enum item_kind { IT_ALERT, IT_GLOBAL, IT_EVICTED, IT_NOTE };

/* One thing a shard hands to the ordered stage. */
struct item {
	uint32_t pos; /* event index; B + shard for the tick */
	uint8_t kind;
	uint8_t family;
	uint16_t stream; /* IT_GLOBAL: its event's (an index) */
	union {
		struct kw_alert alert;
		struct {
			struct kw_event ev;
			struct kw_keyent key;
			struct kw_geo geo;
			char id[KW_KEY_ID_MAX]; /* key.id_long's copy */
		} g;
		char fp[KW_KEY_FP_SIZE];
		struct {
			enum kw_log_level level;
			const char *component; /* static */
			char text[512];
		} note;
	} u;
};

struct chunk {
	struct chunk *next;
	struct item it[CHUNK_ITEMS];
};

/* A shard's output for one slot. */
struct sout {
	struct chunk *head; /* the ordered stage's: where it reads */
	size_t hoff;
	struct chunk *tail; /* the shard's: where it writes */
	size_t toff;
	size_t published, consumed; /* (mu) */
	uint32_t frontier; /* (mu) no item before it is still to come */
};

enum slot_state { SL_FREE, SL_READ, SL_DECODING, SL_DECODED, SL_READY };

struct slot {
	enum slot_state state; /* (mu) */
	/* The read stage's. */
	const struct kw_decoder_ops *dec;
	const struct kw_decoder_conf *conf;
	unsigned stream; /* of event time (kw_engine_stream) */
	unsigned opened; /* inputs that start here */
	uint64_t failed; /* inputs that failed here */
	char *buf;	 /* the records' bytes */
	size_t cap;
	struct kw_record recs[B];
	size_t nrecs;
	/* Runs of records of one input (one run, but for a merge of several
	 * inputs): where each starts and its input's name (at name in
	 * names, NUL-terminated). */
	struct run {
		uint16_t start, n;
		uint32_t name;
	} runs[B];
	size_t nruns;
	char *names;
	size_t names_len, names_cap;
	uint32_t input[B]; /* a merge's input of each record */
	int pbuf; /* (mu) the buffer its records are in, or -1: in buf */
	struct kw_skips skips;
	struct kw_skips_notes notes;
	bool told; /* the ordered stage said what it skipped */
	/* The decode stage's. */
	struct kw_arena arena;
	struct kw_event events[B];
	struct kw_verdict verdicts[B];
	size_t nevents;
	uint16_t order[B]; /* event indices, shard by shard */
	uint16_t start[KW_ENGINE_SHARDS_MAX + 1];
	uint16_t unauth[B];	   /* requests made without a key: the ordered
				      stage's own */
	uint32_t formats;	   /* the decoders that decoded some event */
	size_t clouds;		   /* events of a cloud log with a key */
	size_t nunauth, unauth_at; /* unauth_at: the ordered stage's */
	int64_t newest;
	struct worker *owner; /* the thread that decoded it */
	/* In batch order, after decoding. */
	bool tick;
	int64_t wm_before; /* its stream's before it: its late events' */
	struct kw_engine_ticks ticks; /* after it (its wm: the router's) */
	struct sout out[KW_ENGINE_SHARDS_MAX];
};

/* The pipeline's view of one shard. */
struct pshard {
	unsigned id;
	uint64_t seq;	  /* the batch it is on */
	size_t at;	  /* its events of that batch done */
	bool ticking;	  /* its events done, the ticks begun */
	bool sweeping;	  /* a tick's sweep under way */
	unsigned tick_at; /* the next of the slot's ticks (kw_shard_ticks_next)
			   */
	bool busy;	  /* (mu) a thread runs it */
	size_t outstanding; /* (mu) items published, not taken yet */
	/* During a run (the running thread's). */
	struct kw_pipeline *p;
	struct slot *slot;
	uint32_t pos;
	size_t fresh; /* items written into slot in this run */
	size_t run;   /* items written in this run, in all */
	/* chunks for its next items, from the pool at publish (its runs') */
	struct chunk *spare;
	size_t nspare;
};

/* A buffer of the splitter's (kw_splitter_keep). */
struct pbuf {
	char *mem;
	size_t cap;
	unsigned refs; /* slots whose records are in it */
};

struct worker;

/* The input being read (the caller's, during kw_pipeline_read): a
 * splitter's records, or a merge's of several inputs. */
struct source {
	bool active; /* (mu) */
	bool busy;   /* (mu) a thread reads it */
	struct kw_splitter *sp;
	bool kept; /* sp keeps its records in the pipeline's buffers */
	struct kw_merge *mg;
	struct slot *cur; /* the slot being read: the merge's news go there */
	const char *name;
	const struct kw_decoder_ops *dec;
	const struct kw_decoder_conf *conf;
	unsigned stream;
	bool counted; /* its next batch starts the input */
	enum kw_status result;
};

struct worker {
	struct kw_pipeline *p;
	pthread_t thread;
	bool started;
	struct kw_worker_ctx own;
	struct kw_worker_ctx *ctx; /* own, or the engine's for the caller */
};

struct kw_pipeline {
	struct kw_engine *e;
	uint64_t lost; /* atomic: items new_item could not make */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct worker workers[MAX_THREADS];
	unsigned nworkers;
	struct worker caller; /* the caller's, with the engine's decoders */
	struct slot *slots[MAX_SLOTS];
	size_t nslots;
	uint64_t next_read;  /* (mu) the batch read next */
	uint64_t next_seq;   /* (mu) the batch given its watermark next */
	uint64_t next_merge; /* (mu) the batch the ordered stage is on */
	uint64_t ahead;	     /* batches read ahead of the ordered stage,
				before shards come first */
	bool merging;	     /* (mu) */
	bool stop;	     /* (mu) */
	struct source src;
	struct pshard sh[KW_ENGINE_SHARDS_MAX];
	struct pbuf bufs[BUFS]; /* (mu) */
	size_t nbufs;		/* (mu) */
	struct chunk *pool;	/* (mu) POOL_CHUNKS at most, for the shards */
	size_t npool;		/* (mu) */
	int held;		/* (mu) the splitter's, or -1 */
};

static struct slot *slot_of(struct kw_pipeline *p, uint64_t seq)
{
	return p->slots[seq % p->nslots];
}

static uint32_t pos_end(const struct kw_pipeline *p)
{
	return B + p->e->nshards;
}

/* ---- what a shard hands over ---- */

static struct item *new_item(struct pshard *ps, enum item_kind kind)
{
	struct sout *o = &ps->slot->out[ps->id];
	struct item *it;

	if (!o->tail || o->toff == CHUNK_ITEMS) {
		struct chunk *c = ps->spare;

		if (c) {
			ps->spare = c->next;
			ps->nspare--;
		} else {
			c = malloc(sizeof(*c));
		}

		if (!c) {
			kw_log_error("engine", "out of memory: a shard's "
					       "output is lost");
			__atomic_fetch_add(&ps->p->lost, 1, __ATOMIC_RELAXED);
			return NULL;
		}
		c->next = NULL;
		if (o->tail)
			o->tail->next = c;
		else {
			o->head = c;
			o->hoff = 0;
		}
		o->tail = c;
		o->toff = 0;
	}
	it = &o->tail->it[o->toff++];
	it->pos = ps->pos;
	it->kind = (uint8_t)kind;
	it->family = 0;
	ps->fresh++;
	ps->run++;
	return it;
}

static void out_alert(void *ctx, struct kw_alert *a)
{
	struct item *it = new_item(ctx, IT_ALERT);

	if (!it) {
		kw_alert_clear(a);
		return;
	}
	kw_alert_move(&it->u.alert, a); /* the contents move */
}

static void out_global(void *ctx, size_t family, unsigned stream,
		       const struct kw_event *ev, const struct kw_keyent *key)
{
	struct item *it = new_item(ctx, IT_GLOBAL);

	if (!it)
		return;
	it->family = (uint8_t)family;
	it->stream = (uint16_t)stream;
	it->u.g.ev = *ev;
	it->u.g.key = *key;
	if (key->id_long) { /* the entry may be gone when it is read */
		snprintf(it->u.g.id, sizeof(it->u.g.id), "%s", key->id_long);
		it->u.g.key.id_long = it->u.g.id;
	}
	if (ev->geo) {
		it->u.g.geo = *ev->geo; /* the thread's cache moves on */
		it->u.g.ev.geo = &it->u.g.geo;
	}
}

static void out_evicted(void *ctx, const char *fp)
{
	struct item *it = new_item(ctx, IT_EVICTED);

	if (it)
		memcpy(it->u.fp, fp, sizeof(it->u.fp));
}

static void out_note(void *ctx, enum kw_log_level level, const char *component,
		     const char *text)
{
	struct item *it = new_item(ctx, IT_NOTE);

	if (!it)
		return;
	it->u.note.level = level;
	it->u.note.component = component;
	snprintf(it->u.note.text, sizeof(it->u.note.text), "%s", text);
}

static const struct kw_shard_out pipe_out = {
	.alert = out_alert,
	.global = out_global,
	.evicted = out_evicted,
	.note = out_note,
	.ctx = NULL,
};

/* ---- the stages' work (mu released) ---- */

static void run_decode(struct kw_pipeline *p, struct worker *w, struct slot *sl)
{
	struct kw_engine *e = p->e;
	uint16_t count[KW_ENGINE_SHARDS_MAX] = {0};
	uint8_t shard[B]; /* KW_ENGINE_SHARDS_MAX: no key */
	int64_t newest = INT64_MIN;
	size_t n;

	sl->owner = w;
	kw_arena_reset(&sl->arena);
	sl->formats = 0;
	n = 0;
	for (size_t r = 0; r < sl->nruns; r++) {
		const struct run *ru = &sl->runs[r];
		uint32_t f = 0;

		n += kw_engine_decode(
			e, w->ctx, sl->dec, sl->conf, sl->recs + ru->start,
			ru->n, sl->events + n, sl->verdicts + n, &sl->arena,
			&sl->skips, sl->names ? sl->names + ru->name : "", &f);
		sl->formats |= f;
	}
	sl->nunauth = 0;
	sl->unauth_at = 0;
	sl->clouds = 0;
	for (size_t i = 0; i < n; i++) {
		const struct kw_event *ev = &sl->events[i];
		struct kw_str id = kw_engine_id(ev);

		if (ev->ts > newest)
			newest = ev->ts;
		if (!id.n) {
			shard[i] = KW_ENGINE_SHARDS_MAX;
			sl->unauth[sl->nunauth++] = (uint16_t)i;
			continue;
		}
		if (ev->cloud)
			sl->clouds++;
		shard[i] = (uint8_t)kw_shard_of(e, id.p, id.n);
		count[shard[i]]++;
	}
	sl->start[0] = 0;
	for (unsigned s = 0; s < e->nshards; s++)
		sl->start[s + 1] = (uint16_t)(sl->start[s] + count[s]);
	memcpy(count, sl->start, sizeof(count));
	for (size_t i = 0; i < n; i++) {
		if (shard[i] != KW_ENGINE_SHARDS_MAX)
			sl->order[count[shard[i]]++] = (uint16_t)i;
	}
	sl->nevents = n;
	sl->newest = newest;
}

static bool run_full(void *ctx)
{
	return ((struct pshard *)ctx)->run >= RUN_ITEMS;
}

/* A chunk the ordered stage is done with: into the pool, or freed when
 * the pool is full (mu held). */
static void chunk_put(struct kw_pipeline *p, struct chunk *c)
{
	if (p->npool == POOL_CHUNKS) {
		free(c);
		return;
	}
	c->next = p->pool;
	p->pool = c;
	p->npool++;
}

static void chunks_free(struct chunk *c)
{
	while (c) {
		struct chunk *next = c->next;

		free(c);
		c = next;
	}
}

/* Hand what this run wrote into the current slot to the ordered stage,
 * with how far the shard is, and take chunks from the pool for the next
 * (mu held). */
static void publish(struct kw_pipeline *p, struct pshard *ps, bool done)
{
	struct slot *sl = ps->slot;
	struct sout *o = &sl->out[ps->id];
	size_t at = ps->at, n = sl->start[ps->id + 1] - sl->start[ps->id];

	while (ps->nspare < SPARE_CHUNKS && p->pool) {
		struct chunk *c = p->pool;

		p->pool = c->next;
		p->npool--;
		c->next = ps->spare;
		ps->spare = c;
		ps->nspare++;
	}

	o->published += ps->fresh;
	ps->outstanding += ps->fresh;
	ps->fresh = 0;
	if (done)
		o->frontier = pos_end(p);
	else if (ps->ticking)
		o->frontier = B + ps->id;
	else
		o->frontier =
			at < n ? sl->order[sl->start[ps->id] + at] : B + ps->id;
}

/* Ask for the keys of events[order[from .. to)] (to cut to n): their
 * index lines (far) or their entries (near), in one burst. */
static void prefetch_keys(struct kw_shard *s, const struct slot *sl,
			  const uint16_t *order, size_t from, size_t to,
			  size_t n, bool far)
{
	for (size_t j = from; j < to && j < n; j++) {
		const struct kw_event *ev = &sl->events[order[j]];

		if (far)
			kw_shard_hash_ahead(s, ev);
		else
			kw_shard_ask_entry(s, ev);
	}
	if (far)
		kw_shard_ask_index(s);
}

/* The shard is about to analyse events[order[i]]: ask for the lines of the
 * ones after it now, so that those another thread decoded (in its cache)
 * arrive while this one is analysed; at the start of each burst, for the
 * keys of the bursts after (KW_SHARD_BURST). */
static void prefetch(struct kw_shard *s, const struct slot *sl,
		     const uint16_t *order, size_t i, size_t n)
{
	if (i % KW_SHARD_BURST == 0 && s->hinting) {
		prefetch_keys(s, sl, order, i + 2 * KW_SHARD_BURST,
			      i + 3 * KW_SHARD_BURST, n, true);
		prefetch_keys(s, sl, order, i + KW_SHARD_BURST,
			      i + 2 * KW_SHARD_BURST, n, false);
	}
	if (i + 4 < n) {
		const char *ev = (const char *)&sl->events[order[i + 4]];

		for (size_t off = 0; off < sizeof(struct kw_event); off += 64)
			__builtin_prefetch(ev + off);
	}
	if (i + 2 < n) {
		const struct kw_event *ev = &sl->events[order[i + 2]];
		struct kw_str id = kw_engine_id(ev);

		__builtin_prefetch(id.p);
		__builtin_prefetch(id.p + id.n - 1);
		__builtin_prefetch(ev->path.p);
	}
}

/* The shard starts on a batch: prefetch asks for the index lines two
 * bursts ahead and the entries one ahead, so those of the first two
 * bursts are asked for here, then the entries of the first (without this,
 * the first events of a shard's 64 or so in a batch found their keys
 * cold). */
static void prefetch_start(struct kw_shard *s, const struct slot *sl,
			   const uint16_t *order, size_t n)
{
	if (!s->hinting)
		return;
	kw_shard_prefetch_reset(s);
	prefetch_keys(s, sl, order, 0, 2 * KW_SHARD_BURST, n, true);
	prefetch_keys(s, sl, order, 0, KW_SHARD_BURST, n, false);
}

/* Run shard ps on the batches given their watermark, from where it is,
 * until they are done or it has written RUN_ITEMS items. */
static void run_shard(struct kw_pipeline *p, struct worker *w,
		      struct pshard *ps, uint64_t until)
{
	struct kw_shard *s = &p->e->shards[ps->id];

	s->out = pipe_out;
	s->out.ctx = ps;
	s->worker = w->ctx;
	ps->run = 0;
	while (ps->seq < until) {
		struct slot *sl = slot_of(p, ps->seq);
		size_t first = sl->start[ps->id];
		size_t n = sl->start[ps->id + 1] - first;
		bool paused = false;

		ps->slot = sl;
		kw_shard_stream(s, sl->stream);
		if (ps->at == 0 && !ps->ticking)
			prefetch_start(s, sl, sl->order + first, n);
		for (; !ps->ticking && ps->at < n; ps->at++) {
			if (run_full(ps)) {
				paused = true;
				break;
			}
			prefetch(s, sl, sl->order + first, ps->at, n);
			ps->pos = sl->order[first + ps->at];
			kw_shard_analyse(s, &sl->events[ps->pos], sl->stream,
					 sl->wm_before);
		}
		if (!paused && !ps->ticking) {
			ps->ticking = true;
			ps->pos = B + ps->id;
			ps->tick_at = 0;
			ps->sweeping = false;
		}
		while (!paused && sl->tick) {
			if (!ps->sweeping &&
			    !kw_shard_ticks_next(s, &sl->ticks, &ps->tick_at))
				break;
			paused = !kw_shard_sweep(s, run_full, ps);
			ps->sweeping = paused;
		}
		pthread_mutex_lock(&p->mu);
		publish(p, ps, !paused);
		pthread_mutex_unlock(&p->mu);
		if (paused)
			return;
		ps->seq++;
		ps->at = 0;
		ps->ticking = false;
		if (ps->seq < until && slot_of(p, ps->seq)->owner != w)
			return; /* its events are in another thread's cache */
	}
}

/* One thing the ordered stage takes: a shard's item, or a request made
 * without a key (the stage's own). */
struct take {
	struct item *it;
	const struct kw_event *ev;
};

/* What the ordered stage may take now from slot sl: up to cap things, in
 * order, into take[]; taken[s] counts shard s's, *unauth the requests
 * without a key (mu held). */
static size_t collect(struct kw_pipeline *p, struct slot *sl, struct take *take,
		      size_t cap, size_t *taken, size_t *unauth)
{
	unsigned ns = p->e->nshards;
	struct chunk *c[KW_ENGINE_SHARDS_MAX];
	size_t off[KW_ENGINE_SHARDS_MAX];
	size_t n = 0;

	for (unsigned s = 0; s < ns; s++) {
		const struct sout *o = &sl->out[s];
		bool some = o->published > o->consumed;

		/* The shard sets head when its first item comes: read it only
		 * once one is published. */
		c[s] = some ? o->head : NULL;
		off[s] = some ? o->hoff : 0;
		taken[s] = 0;
	}
	*unauth = 0;
	while (n < cap) {
		unsigned best = ns;
		uint32_t pos = UINT32_MAX, lowest = UINT32_MAX;

		for (unsigned s = 0; s < ns; s++) {
			struct sout *o = &sl->out[s];
			const struct item *it;

			/* c[s] is NULL only when nothing was published. */
			if (o->consumed + taken[s] == o->published || !c[s])
				continue;
			if (off[s] == CHUNK_ITEMS) {
				c[s] = c[s]->next;
				off[s] = 0;
			}
			it = &c[s]->it[off[s]];
			if (it->pos < pos) {
				pos = it->pos;
				best = s;
			}
		}
		if (sl->unauth_at + *unauth < sl->nunauth &&
		    sl->unauth[sl->unauth_at + *unauth] < pos) {
			pos = sl->unauth[sl->unauth_at + *unauth];
			best = ns + 1;
		}
		if (best == ns)
			break;
		for (unsigned s = 0; s < ns; s++) {
			if (s != best && sl->out[s].frontier < lowest)
				lowest = sl->out[s].frontier;
		}
		if (pos >= lowest)
			break; /* a shard may still give one before it */
		if (best == ns + 1) {
			take[n].it = NULL;
			take[n++].ev = &sl->events[pos];
			(*unauth)++;
			continue;
		}
		take[n].it = &c[best]->it[off[best]++];
		take[n++].ev = NULL;
		taken[best]++;
	}
	return n;
}

static void process(struct kw_ordered *m, struct item *it)
{
	switch (it->kind) {
	case IT_ALERT:
		kw_ordered_alert(m, &it->u.alert);
		break;
	case IT_GLOBAL:
		kw_ordered_global(m, it->family, it->stream, &it->u.g.ev,
				  &it->u.g.key);
		break;
	case IT_NOTE:
		kw_ordered_note(m, it->u.note.level, it->u.note.component,
				it->u.note.text);
		break;
	default:
		kw_ordered_evicted(m, it->u.fp);
		break;
	}
}

/* The ordered stage's reading moves on past n items of shard s's output,
 * freeing the chunks it leaves (mu held). */
static void advance(struct kw_pipeline *p, struct sout *o, unsigned s, size_t n)
{
	o->consumed += n;
	p->sh[s].outstanding -= n;
	while (n) {
		size_t step;

		if (o->hoff == CHUNK_ITEMS) {
			/* Items past this chunk were read: it has a next. */
			struct chunk *next = o->head->next;

			chunk_put(p, o->head);
			o->head = next;
			o->hoff = 0;
		}
		step = CHUNK_ITEMS - o->hoff < n ? CHUNK_ITEMS - o->hoff : n;
		o->hoff += step;
		n -= step;
	}
}

static bool slot_complete(const struct kw_pipeline *p, const struct slot *sl)
{
	if (sl->unauth_at != sl->nunauth)
		return false;
	for (unsigned s = 0; s < p->e->nshards; s++) {
		const struct sout *o = &sl->out[s];

		if (o->frontier != pos_end(p) || o->consumed != o->published)
			return false;
	}
	return true;
}

/* The slot is through: its counts, its messages, the router's tick. */
static void finish_slot(struct kw_pipeline *p, struct slot *sl)
{
	struct kw_engine *e = p->e;

	e->stats.records += sl->nrecs;
	e->stats.inputs += sl->opened;
	e->stats.inputs_failed += sl->failed;
	if (sl->tick)
		kw_router_tick(e->opts.router, sl->ticks.wm);
}

static void reset_slot(struct kw_pipeline *p, struct slot *sl)
{
	for (unsigned s = 0; s < p->e->nshards; s++) {
		struct sout *o = &sl->out[s];

		while (o->head) {
			struct chunk *next = o->head->next;

			chunk_put(p, o->head);
			o->head = next;
		}
		memset(o, 0, sizeof(*o));
	}
	if (sl->pbuf >= 0)
		p->bufs[sl->pbuf].refs--;
	sl->pbuf = -1;
	sl->nrecs = 0;
	sl->nevents = 0;
	sl->opened = 0;
	sl->nruns = 0;
	sl->names_len = 0;
	sl->failed = 0;
	sl->told = false;
	sl->state = SL_FREE;
}

/* One turn of the ordered stage on the batch it is on (mu held on entry
 * and exit). */
static void run_merge(struct kw_pipeline *p)
{
	struct slot *sl = slot_of(p, p->next_merge);
	struct take take[256];
	size_t taken[KW_ENGINE_SHARDS_MAX] = {0}, unauth;
	size_t n = collect(p, sl, take, 256, taken, &unauth);
	bool tell = !sl->told;

	sl->told = true;
	pthread_mutex_unlock(&p->mu);
	/* Reading and decoding came before the shards: what they skipped is
	 * said first. */
	if (tell)
		kw_skips_absorb(&p->e->stats.skips, &sl->skips);
	for (size_t i = 0; i < n; i++) {
		if (take[i].it)
			process(&p->e->ord, take[i].it);
		else
			kw_ordered_unauth(&p->e->ord, take[i].ev, sl->wm_before,
					  sl->stream);
	}
	pthread_mutex_lock(&p->mu);
	sl->unauth_at += unauth;
	for (unsigned s = 0; s < p->e->nshards; s++) {
		if (taken[s])
			advance(p, &sl->out[s], s, taken[s]);
	}
	if (slot_complete(p, sl)) {
		pthread_mutex_unlock(&p->mu);
		finish_slot(p, sl);
		pthread_mutex_lock(&p->mu);
		reset_slot(p, sl);
		p->next_merge++;
	}
}

/* ---- reading ---- */

static bool work(struct kw_pipeline *p, struct worker *w);

/* The slot for the next batch, once the ordered stage is done with its
 * last use; the caller helps meanwhile. */
static struct slot *acquire(struct kw_pipeline *p)
{
	struct slot *sl;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		sl = slot_of(p, p->next_read);
		if (sl->state == SL_FREE)
			break;
		if (!work(p, &p->caller))
			pthread_cond_wait(&p->cv, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return sl;
}

static void hand_over(struct kw_pipeline *p, struct slot *sl)
{
	pthread_mutex_lock(&p->mu);
	sl->state = SL_READ;
	p->next_read++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* name into the slot's names; where it starts (0, an empty name, when
 * there is no memory for it). */
static uint32_t add_name(struct slot *sl, const char *name)
{
	size_t n = strlen(name) + 1, at = sl->names_len;

	if (n > NAME_MAX_LEN)
		n = NAME_MAX_LEN;
	if (!sl->names_cap) {
		/* Offset 0 is the empty name. */
		sl->names = malloc(NAME_MAX_LEN);
		if (!sl->names)
			return 0;
		sl->names_cap = NAME_MAX_LEN;
	}
	if (!at) {
		sl->names[0] = '\0';
		at = sl->names_len = 1;
	}
	if (at + n > sl->names_cap) {
		size_t cap = sl->names_cap * 2 >= at + n ? sl->names_cap * 2
							 : at + n;
		char *q = realloc(sl->names, cap);

		if (!q)
			return 0;
		sl->names = q;
		sl->names_cap = cap;
	}
	memcpy(sl->names + at, name, n - 1);
	sl->names[at + n - 1] = '\0';
	sl->names_len = at + n;
	return (uint32_t)at;
}

static void label(struct slot *sl, const char *name,
		  const struct kw_decoder_ops *dec,
		  const struct kw_decoder_conf *conf)
{
	sl->dec = dec;
	sl->conf = conf;
	sl->stream = 0;
	sl->nruns = 1;
	sl->runs[0].start = 0;
	sl->runs[0].n = 0;
	sl->runs[0].name = add_name(sl, name);
}

/* A buffer that no slot and not the splitter holds, with at least want
 * bytes when one has them; else any such entry but keep (whose bytes are
 * still to be copied: it is not to be freed), or a new one; -1 when every
 * entry is held (mu held). */
static int idle_buffer(const struct kw_pipeline *p, size_t want, int keep)
{
	int any = -1;

	for (size_t i = 0; i < p->nbufs; i++) {
		if (p->bufs[i].refs || (int)i == p->held)
			continue;
		if (p->bufs[i].cap >= want)
			return (int)i;
		if ((int)i != keep)
			any = (int)i;
	}
	if (any < 0 && p->nbufs < BUFS)
		any = (int)p->nbufs;
	return any;
}

/* An entry for a buffer that brings its own memory (the splitter's
 * first): an idle one without memory, else a new one, else an idle one
 * whose memory goes. -1: none (mu held). */
static int bare_entry(const struct kw_pipeline *p)
{
	int any = -1;

	for (size_t i = 0; i < p->nbufs; i++) {
		if (p->bufs[i].refs || (int)i == p->held)
			continue;
		if (!p->bufs[i].mem)
			return (int)i;
		any = (int)i;
	}
	return p->nbufs < BUFS ? (int)p->nbufs : any;
}

/* Entry i of the pool, made (empty) when i is its end (mu held). */
static struct pbuf *entry(struct kw_pipeline *p, int i)
{
	if ((size_t)i == p->nbufs)
		p->bufs[p->nbufs++] = (struct pbuf){0};
	return &p->bufs[i];
}

/* The splitter's swap (kw_splitter_keep; the reading thread, mu
 * released): it is done with old; the buffer it reads into next. */
static char *swap_buffer(void *ctx, char *old, size_t old_cap, size_t want,
			 size_t *cap)
{
	struct kw_pipeline *p = ctx;
	int at = -1, next;
	bool adopted = false;
	struct pbuf *b;
	char *mem = NULL;

	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->nbufs && at < 0; i++) {
		if (p->bufs[i].mem == old)
			at = (int)i;
	}
	if (at < 0) {
		/* the splitter's own first buffer joins them */
		at = bare_entry(p);
		if (at < 0) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		b = entry(p, at);
		free(b->mem);
		b->mem = old;
		b->cap = old_cap;
		b->refs = 0;
		adopted = true;
	}
	p->held = -1;
	next = idle_buffer(p, want, at);
	if (next >= 0) {
		b = entry(p, next);
		if (b->cap < want) {
			free(b->mem);
			b->mem = malloc(want);
			b->cap = b->mem ? want : 0;
		}
		mem = b->mem;
	}
	/* With no memory the splitter stays in old, which stays its own
	 * when it was (kw_splitter_keep fails). */
	if (!mem && adopted)
		p->bufs[at] = (struct pbuf){0};
	p->held = mem ? next : adopted ? -1 : at;
	*cap = mem ? p->bufs[next].cap : 0;
	pthread_mutex_unlock(&p->mu);
	return mem;
}

/* The records point into the reader's buffers, which the next call
 * reuses: their bytes move into the slot, one after the other. */
static bool keep_bytes(struct slot *sl)
{
	size_t total = 0, at = 0;

	for (size_t i = 0; i < sl->nrecs; i++)
		total += sl->recs[i].n;
	if (total > sl->cap) {
		char *buf = realloc(sl->buf, total);

		if (!buf)
			return false;
		sl->buf = buf;
		sl->cap = total;
	}
	for (size_t i = 0; i < sl->nrecs; i++) {
		if (sl->recs[i].n)
			memcpy(sl->buf + at, sl->recs[i].p, sl->recs[i].n);
		sl->recs[i].p = sl->buf + at;
		at += sl->recs[i].n;
	}
	return true;
}

static void count_failure(struct slot *sl, enum kw_skip_reason r,
			  const char *msg)
{
	sl->skips.count[r]++;
	sl->skips.total++;
	sl->failed++;
	kw_skips_error(&sl->skips, msg);
}

/* The batch just read into sl: its bytes kept in the slot. true when the
 * input is through (no records: the end, or no memory for them); *hand:
 * whether sl is to go on (it has records or something to say). */
static bool hold_batch(struct source *src, struct slot *sl, bool *hand)
{
	*hand = true;
	if (sl->nrecs && !src->kept && !keep_bytes(sl)) {
		sl->nrecs = 0;
		sl->nruns = 0;
		count_failure(sl, KW_SKIP_CORRUPT,
			      "out of memory holding a batch");
		src->result = KW_ENOMEM;
		return true;
	}
	if (sl->nrecs == 0) {
		/* The end: a slot only for what it has to say. */
		*hand = sl->opened || sl->skips.total;
		return true;
	}
	return false;
}

/* One batch of the merge into slot sl: its runs of records of one input
 * each, under that input's name (mu released). */
static bool read_merged(struct kw_pipeline *p, struct slot *sl, bool *hand)
{
	struct source *src = &p->src;

	label(sl, "", p->e->forced, NULL);
	sl->nruns = 0;
	src->cur = sl;
	kw_merge_next(src->mg, sl->recs, sl->input, B, &sl->nrecs, &sl->skips);
	src->cur = NULL;
	for (size_t i = 0, j; i < sl->nrecs; i = j) {
		for (j = i + 1; j < sl->nrecs && sl->input[j] == sl->input[i];
		     j++)
			;
		sl->runs[sl->nruns].start = (uint16_t)i;
		sl->runs[sl->nruns].n = (uint16_t)(j - i);
		sl->runs[sl->nruns++].name =
			add_name(sl, kw_merge_name(src->mg, sl->input[i]));
	}
	return hold_batch(src, sl, hand);
}

/* One batch of the input into slot sl (mu released). true when the input
 * is through; *hand: whether sl is to go on (it has records or something
 * to say). */
static bool read_one(struct kw_pipeline *p, struct slot *sl, bool *hand)
{
	struct source *src = &p->src;
	struct kw_error err;
	enum kw_status st;

	if (src->mg)
		return read_merged(p, sl, hand);
	*hand = true;
	label(sl, src->name, src->dec, src->conf);
	sl->stream = src->stream;
	sl->opened = src->counted;
	kw_error_clear(&err);
	st = kw_splitter_next(src->sp, sl->recs, B, &sl->nrecs, &sl->skips,
			      &err);
	if (st != KW_OK) {
		/* Reader messages name the input already; the splitter's
		 * structural ones give only the line. */
		if (strncmp(err.msg, src->name, strlen(src->name)) != 0)
			kw_error_prefix(&err, "%s", src->name);
		sl->nrecs = 0;
		count_failure(sl, KW_SKIP_CORRUPT, err.msg);
		src->result = st;
		return true;
	}
	sl->runs[0].n = (uint16_t)sl->nrecs;
	if (hold_batch(src, sl, hand))
		return true;
	src->counted = false;
	return false;
}

/* ---- scheduling (mu held) ---- */

/* Give the decoded batches their watermark, in batch order. */
static void sequence(struct kw_pipeline *p)
{
	struct kw_engine *e = p->e;

	while (p->next_seq < p->next_read) {
		struct slot *sl = slot_of(p, p->next_seq);

		if (sl->state != SL_DECODED)
			return;
		sl->tick = false;
		sl->wm_before = e->streams[sl->stream].watermark;
		/* Handed-out keys span shards: read and written here, in
		 * batch order, as one thread does before its shards. */
		if (sl->clouds)
			kw_engine_handouts(e, sl->events, sl->nevents,
					   &sl->arena);
		if (sl->nrecs) {
			kw_engine_advance(e, sl->stream, sl->newest,
					  sl->formats, &sl->ticks);
			sl->tick = e->newest != INT64_MIN;
		}
		for (unsigned s = 0; s < e->nshards; s++) {
			struct sout *o = &sl->out[s];

			o->frontier = sl->start[s] < sl->start[s + 1]
					      ? sl->order[sl->start[s]]
					      : B + s;
		}
		sl->state = SL_READY;
		p->next_seq++;
	}
}

/* Whether the ordered stage has something to do on its batch. */
static bool merge_ready(struct kw_pipeline *p)
{
	struct slot *sl;
	struct take one[1];
	size_t taken[KW_ENGINE_SHARDS_MAX] = {0}, unauth;

	if (p->merging || p->next_merge == p->next_seq)
		return false;
	sl = slot_of(p, p->next_merge);
	return !sl->told || slot_complete(p, sl) ||
	       collect(p, sl, one, 1, taken, &unauth) == 1;
}

/* Decode sl (taken: SL_DECODING) on w, then give the batches their
 * watermark (mu held on entry and exit). */
static void decode_here(struct kw_pipeline *p, struct worker *w,
			struct slot *sl)
{
	pthread_mutex_unlock(&p->mu);
	run_decode(p, w, sl);
	pthread_mutex_lock(&p->mu);
	sl->state = SL_DECODED;
	sequence(p);
	pthread_cond_broadcast(&p->cv);
}

/* Read and decode the next batch of the input, on w (mu held). */
static bool work_read(struct kw_pipeline *p, struct worker *w)
{
	struct source *src = &p->src;
	struct slot *sl = slot_of(p, p->next_read);
	bool hand, done;

	if (!src->active || src->busy || sl->state != SL_FREE)
		return false;
	src->busy = true;
	pthread_mutex_unlock(&p->mu);
	done = read_one(p, sl, &hand);
	pthread_mutex_lock(&p->mu);
	if (hand && sl->nrecs && src->kept) {
		/* every record of the batch is in the splitter's buffer */
		sl->pbuf = p->held;
		p->bufs[p->held].refs++;
	}
	if (hand) {
		sl->state = SL_DECODING;
		p->next_read++;
	}
	src->busy = false;
	src->active = !done;
	pthread_cond_broadcast(&p->cv);
	/* Its bytes are in this thread's cache: decode them here, while
	 * another thread reads on. */
	if (hand)
		decode_here(p, w, sl);
	return true;
}

/* Run a shard that can go on; mine: only one whose next batch w decoded
 * (its events are in w's cache) (mu held). */
static bool work_shard(struct kw_pipeline *p, struct worker *w, bool mine)
{
	for (unsigned k = 0; k < p->e->nshards; k++) {
		struct pshard *ps = &p->sh[k];
		uint64_t until = p->next_seq;

		if (ps->busy || ps->outstanding >= SHARD_ITEMS ||
		    ps->seq >= until ||
		    (mine && slot_of(p, ps->seq)->owner != w))
			continue;
		ps->busy = true;
		pthread_mutex_unlock(&p->mu);
		run_shard(p, w, ps, until);
		pthread_mutex_lock(&p->mu);
		ps->busy = false;
		pthread_cond_broadcast(&p->cv);
		return true;
	}
	return false;
}

/* A batch that came without records to decode (a failed input). */
static bool work_decode(struct kw_pipeline *p, struct worker *w)
{
	for (uint64_t q = p->next_seq; q < p->next_read; q++) {
		struct slot *sl = slot_of(p, q);

		if (sl->state != SL_READ)
			continue;
		sl->state = SL_DECODING;
		decode_here(p, w, sl);
		return true;
	}
	return false;
}

/* Find work for w and do it; false when there is none (mu held on entry
 * and exit). The order keeps data in the cache of the thread that made
 * it: the ordered stage (it frees slots), the shards on batches this
 * thread read, reading on (but only a few batches ahead: a batch read
 * long before its shards run is cold by then), then any shard. */
static bool work(struct kw_pipeline *p, struct worker *w)
{
	if (merge_ready(p)) {
		p->merging = true;
		run_merge(p);
		p->merging = false;
		pthread_cond_broadcast(&p->cv);
		return true;
	}
	if (work_shard(p, w, true))
		return true;
	if (p->next_read - p->next_merge < p->ahead && work_read(p, w))
		return true;
	if (work_shard(p, w, false))
		return true;
	if (work_read(p, w))
		return true;
	return work_decode(p, w);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct kw_pipeline *p = w->p;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		if (!work(p, w))
			pthread_cond_wait(&p->cv, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* What the shards lost to out of memory, into the engine's counts (the
 * caller's thread, once the work it waited for is done). */
static void fold_lost(struct kw_pipeline *p)
{
	p->e->lost_out += __atomic_exchange_n(&p->lost, 0, __ATOMIC_RELAXED);
}

/* An input that failed before its first batch: an empty slot that counts
 * it (opened: as an input too) and says why, in batch order. */
static void fail_input(struct kw_pipeline *p, enum kw_skip_reason r,
		       const char *msg, bool opened)
{
	struct slot *sl = acquire(p);

	label(sl, "", NULL, NULL);
	sl->nrecs = 0;
	sl->opened = opened;
	count_failure(sl, r, msg);
	hand_over(p, sl);
}

enum kw_status kw_pipeline_read(struct kw_pipeline *p, struct kw_reader *r,
				const char *name,
				const struct kw_decoder_ops *dec,
				const struct kw_decoder_conf *conf,
				unsigned stream, bool counted)
{
	struct source *src = &p->src;
	struct kw_splitter *sp = NULL;
	enum kw_status st;

	st = kw_splitter_create(r, name, p->e->opts.cfg->max_line, BUF_SIZE,
				&sp);
	if (st != KW_OK) {
		char msg[KW_ERROR_MSG_MAX];

		/* Counted as an input that failed (scan's exit status
		 * says so), in its place among the others. */
		snprintf(msg, sizeof(msg), "%s: %s", name, kw_strerror(st));
		fail_input(p, KW_SKIP_UNREADABLE, msg, counted);
		return st;
	}
	/* Without a buffer to keep its records in, the batches' bytes are
	 * copied (keep_bytes). */
	bool kept = kw_splitter_keep(sp, swap_buffer, p) == KW_OK;

	pthread_mutex_lock(&p->mu);
	*src = (struct source){
		.active = true,
		.sp = sp,
		.kept = kept,
		.name = name,
		.dec = dec,
		.conf = conf,
		.stream = stream,
		.counted = counted,
		.result = KW_OK,
	};
	pthread_cond_broadcast(&p->cv);
	while (src->active || src->busy) {
		if (!work(p, &p->caller))
			pthread_cond_wait(&p->cv, &p->mu);
	}
	st = src->result;
	src->sp = NULL;
	src->kept = false;
	p->held = -1; /* its records are the slots' */
	fold_lost(p);
	pthread_mutex_unlock(&p->mu);
	kw_splitter_destroy(sp);
	return st;
}

void kw_pipeline_read_merge(struct kw_pipeline *p, struct kw_merge *m)
{
	struct source *src = &p->src;

	pthread_mutex_lock(&p->mu);
	*src = (struct source){
		.active = true,
		.mg = m,
		.result = KW_OK,
	};
	pthread_cond_broadcast(&p->cv);
	while (src->active || src->busy) {
		if (!work(p, &p->caller))
			pthread_cond_wait(&p->cv, &p->mu);
	}
	src->mg = NULL;
	fold_lost(p);
	pthread_mutex_unlock(&p->mu);
}

void kw_pipeline_opened(struct kw_pipeline *p)
{
	if (p->src.cur)
		p->src.cur->opened++;
}

void kw_pipeline_input_failed(struct kw_pipeline *p, enum kw_skip_reason r,
			      const char *msg)
{
	if (p->src.cur)
		count_failure(p->src.cur, r, msg);
	else
		kw_log_error(NULL, "%s", msg);
}

void kw_pipeline_failed(struct kw_pipeline *p, enum kw_skip_reason r,
			const char *msg)
{
	fail_input(p, r, msg, true);
}

void kw_pipeline_drain(struct kw_pipeline *p)
{
	struct kw_engine *e = p->e;

	pthread_mutex_lock(&p->mu);
	while (p->next_merge < p->next_read) {
		if (!work(p, &p->caller))
			pthread_cond_wait(&p->cv, &p->mu);
	}
	fold_lost(p);
	pthread_mutex_unlock(&p->mu);
	/* The shards are the caller's again: their output goes straight to
	 * the ordered stage. */
	for (unsigned s = 0; s < e->nshards; s++) {
		e->shards[s].out = kw_ordered_direct;
		e->shards[s].out.ctx = &e->ord;
		e->shards[s].worker = &e->worker;
	}
}

/* ---- life ---- */

static void free_slot(struct slot *sl)
{
	if (!sl)
		return;
	kw_arena_destroy(&sl->arena);
	free(sl->buf);
	free(sl->names);
	free(sl);
}

enum kw_status kw_pipeline_create(struct kw_engine *e, unsigned threads,
				  struct kw_pipeline **out,
				  struct kw_error *err)
{
	struct kw_pipeline *p = calloc(1, sizeof(*p));
	enum kw_status st = KW_OK;

	*out = NULL;
	if (!p)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	p->e = e;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->caller.p = p;
	p->caller.ctx = &e->worker;
	p->held = -1;
	p->nslots = 4 * (size_t)threads + 4;
	p->ahead = 2 * (uint64_t)threads + 1;
	if (p->nslots > MAX_SLOTS)
		p->nslots = MAX_SLOTS;
	for (size_t i = 0; i < p->nslots && st == KW_OK; i++) {
		p->slots[i] = calloc(1, sizeof(*p->slots[i]));
		if (!p->slots[i]) {
			st = kw_error_set(err, KW_ENOMEM, "out of memory");
			break;
		}
		kw_arena_init(&p->slots[i]->arena, 0);
		p->slots[i]->pbuf = -1;
		p->slots[i]->skips.later = &p->slots[i]->notes;
	}
	for (unsigned s = 0; s < KW_ENGINE_SHARDS_MAX; s++) {
		p->sh[s].id = s;
		p->sh[s].p = p;
	}
	for (unsigned i = 0; i + 1 < threads && st == KW_OK; i++) {
		struct worker *w = &p->workers[i];

		w->p = p;
		w->ctx = &w->own;
		p->nworkers++;
		st = kw_worker_init(e, w->ctx, true, err);
		if (st != KW_OK)
			break;
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			st = kw_error_set(err, KW_ENOMEM,
					  "cannot start an analysing thread");
			break;
		}
		w->started = true;
	}
	if (st != KW_OK) {
		kw_pipeline_destroy(p);
		return st;
	}
	*out = p;
	return KW_OK;
}

void kw_pipeline_destroy(struct kw_pipeline *p)
{
	if (!p)
		return;
	kw_pipeline_drain(p);
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nworkers; i++) {
		struct worker *w = &p->workers[i];

		if (w->started)
			pthread_join(w->thread, NULL);
		kw_worker_fini(p->e, &w->own);
	}
	for (size_t i = 0; i < p->nslots; i++)
		free_slot(p->slots[i]);
	for (size_t i = 0; i < p->nbufs; i++)
		free(p->bufs[i].mem);
	chunks_free(p->pool);
	for (unsigned i = 0; i < KW_ENGINE_SHARDS_MAX; i++)
		chunks_free(p->sh[i].spare);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
