/*
 * wheel.c - the hashed timing wheel (wheel.h says what and why).
 *
 * The one idea: a slot is a growable array of (item, due) pairs, so that
 * adding an item writes to the end of one array, never to another item
 * (an intrusive list would touch a neighbour, a cache miss per add when
 * the items are a million keys' state). Handing a slot back swaps its
 * array for an empty one first, so items put back by the callback land in
 * the fresh array and are not seen twice.
 *
 * Beside the slots, a bitmap says which slots hold anything, so that an
 * advance goes from one busy slot to the next a 64-slot word at a time:
 * a clock that moves over long quiet stretches (a shard whose keys are
 * idle, a log with a night in it) costs words of the bitmap, not ticks.
 */
#include "engine/wheel.h"

#include <stdlib.h>

#define SLOT_MIN 4
#define WORD 64	       /* slots a word of the bitmap covers */
#define KEEP_MAX 65536 /* a spare array larger than this is freed */

struct elem {
	void *item;
	int64_t due;
};

struct slot {
	struct elem *v;
	uint32_t n, cap;
};

struct kw_wheel {
	int64_t tick;
	size_t mask; /* slots - 1 */
	size_t off;  /* of the link in an item */
	struct slot *slots;
	uint64_t *busy;	   /* bit i of word i / 64: slot i holds an item */
	struct slot spare; /* an emptied array, kept for the next swap */
	int64_t next;	   /* the first tick not yet looked at for good */
	bool started;	   /* next is set: the clock was advanced once */
	int64_t first;	   /* before that: the earliest tick added */
	size_t count;
	uint64_t looked; /* slots looked at by advances, for kw_wheel_looked */
};

static void mark_busy(struct kw_wheel *w, size_t i)
{
	w->busy[i / WORD] |= UINT64_C(1) << (i % WORD);
}

static void mark_empty(struct kw_wheel *w, size_t i)
{
	w->busy[i / WORD] &= ~(UINT64_C(1) << (i % WORD));
}

static struct kw_wheel_link *link_of(const struct kw_wheel *w, void *item)
{
	return (struct kw_wheel_link *)((char *)item + w->off);
}

/* floor(t / tick), for any t. */
static int64_t tick_of(const struct kw_wheel *w, int64_t t)
{
	int64_t q = t / w->tick;

	if (t % w->tick < 0)
		q--;
	return q;
}

enum kw_status kw_wheel_create(int64_t tick, size_t nslots, size_t link_offset,
			       struct kw_wheel **out)
{
	struct kw_wheel *w;

	*out = NULL;
	if (tick <= 0 || nslots < 2 || (nslots & (nslots - 1)) ||
	    nslots > UINT32_MAX)
		return KW_EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return KW_ENOMEM;
	w->slots = calloc(nslots, sizeof(*w->slots));
	w->busy = calloc((nslots + WORD - 1) / WORD, sizeof(*w->busy));
	if (!w->slots || !w->busy) {
		free(w->slots);
		free(w->busy);
		free(w);
		return KW_ENOMEM;
	}
	w->tick = tick;
	w->mask = nslots - 1;
	w->off = link_offset;
	*out = w;
	return KW_OK;
}

void kw_wheel_destroy(struct kw_wheel *w)
{
	if (!w)
		return;
	for (size_t i = 0; i <= w->mask; i++)
		free(w->slots[i].v);
	free(w->slots);
	free(w->busy);
	free(w->spare.v);
	free(w);
}

/* A slot a quarter full gives back half its array, an empty one all of
 * it: items move from slot to slot as their keys' windows move, and a
 * slot that once held a crowd (the keys due at one window boundary) must
 * not keep its peak for the rest of the run. Halving at a quarter keeps
 * the cost amortised O(1) a removal; the order of what stays is kept. */
static void shrink(struct slot *s)
{
	struct elem *v;

	if (!s->n) {
		free(s->v);
		*s = (struct slot){NULL, 0, 0};
		return;
	}
	if (s->cap <= SLOT_MIN || s->n > s->cap / 4)
		return;
	v = realloc(s->v, (s->cap / 2) * sizeof(*v));
	if (v) { /* else it keeps its array, which is just as right */
		s->v = v;
		s->cap /= 2;
	}
}

void kw_wheel_remove(struct kw_wheel *w, void *item)
{
	struct kw_wheel_link *l = link_of(w, item);
	struct slot *s;

	if (!l->slot)
		return;
	s = &w->slots[l->slot - 1];
	s->n--;
	if (l->pos != s->n) {
		s->v[l->pos] = s->v[s->n];
		link_of(w, s->v[l->pos].item)->pos = l->pos;
	}
	if (!s->n)
		mark_empty(w, l->slot - 1);
	*l = (struct kw_wheel_link){0, 0};
	w->count--;
	shrink(s);
}

bool kw_wheel_add(struct kw_wheel *w, void *item, int64_t due)
{
	struct kw_wheel_link *l = link_of(w, item);
	int64_t t = tick_of(w, due);
	struct slot *s;

	kw_wheel_remove(w, item);
	if (!w->started) {
		if (!w->count || t < w->first)
			w->first = t;
	} else if (t < w->next) {
		t = w->next;
	}
	s = &w->slots[(uint64_t)t & w->mask];
	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : SLOT_MIN;
		struct elem *v;

		if (s->cap > UINT32_MAX / 2)
			return false;
		v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return false;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n] = (struct elem){item, due};
	l->slot = (uint32_t)((uint64_t)t & w->mask) + 1;
	l->pos = s->n++;
	mark_busy(w, l->slot - 1);
	w->count++;
	return true;
}

bool kw_wheel_sooner(struct kw_wheel *w, void *item, int64_t due)
{
	const struct kw_wheel_link *l = link_of(w, item);

	if (l->slot && w->slots[l->slot - 1].v[l->pos].due <= due)
		return true;
	return kw_wheel_add(w, item, due);
}

/* The array of slot s cut to the room its items need (at most four times
 * it, at least SLOT_MIN): what shrink() would reach removal by removal. */
static void fit(struct slot *s)
{
	uint32_t cap = s->cap;
	struct elem *v;

	while (cap > SLOT_MIN && s->n <= cap / 4)
		cap /= 2;
	if (cap == s->cap)
		return;
	v = realloc(s->v, cap * sizeof(*v));
	if (v) { /* else it keeps its array, which is just as right */
		s->v = v;
		s->cap = cap;
	}
}

/* Hand back what slot i holds that is due by now; put back the rest.
 * The slot takes the spare array for what is put back, and the wheel keeps
 * one spare at most: when nothing came back, the slot gives the spare up
 * again (an empty slot holds no array), and when something did, the array
 * is cut to what it holds. So the arrays follow the items waiting, not the
 * slots ever fired: every slot of a turn fires, and a slot that kept an
 * empty spare each time held, at a million keys, 150 MB for 16 MB of
 * items. */
static void fire_slot(struct kw_wheel *w, size_t i, int64_t now,
		      kw_wheel_fn *fn, void *ctx)
{
	struct slot cur = w->slots[i], *s = &w->slots[i];

	if (!cur.n)
		return;
	*s = w->spare;
	w->spare = (struct slot){NULL, 0, 0};
	mark_empty(w, i); /* until something is put back in it */
	for (uint32_t k = 0; k < cur.n; k++) {
		struct elem e = cur.v[k];

		*link_of(w, e.item) = (struct kw_wheel_link){0, 0};
		w->count--;
		if (e.due <= now)
			fn(ctx, e.item);
		else
			kw_wheel_add(w, e.item, e.due); /* a turn or more on */
	}
	cur.n = 0;
	if (!s->n) {
		/* Nothing came back: of its array and cur, one stays spare. */
		if (cur.cap > KEEP_MAX || !cur.v) {
			free(cur.v);
			cur = *s;
		} else {
			free(s->v);
		}
		*s = (struct slot){NULL, 0, 0};
	} else {
		fit(s);
	}
	if (cur.cap > KEEP_MAX) {
		free(cur.v);
		cur = (struct slot){NULL, 0, 0};
	}
	w->spare = cur;
}

/*
 * How many slots from slot i on, i included, are empty before the next
 * busy one, looking no further than the end of i's bitmap word (or of the
 * slots, when a word holds more than there are): 0 when i itself is busy.
 */
static uint64_t empty_run(const struct kw_wheel *w, size_t i)
{
	uint64_t bits = w->busy[i / WORD] >> (i % WORD);
	uint64_t span = WORD - i % WORD;

	if (span > w->mask + 1 - i)
		span = w->mask + 1 - i;
	if (!bits)
		return span;
	return (uint64_t)__builtin_ctzll(bits);
}

void kw_wheel_advance(struct kw_wheel *w, int64_t now, kw_wheel_fn *fn,
		      void *ctx)
{
	int64_t target = tick_of(w, now);
	uint64_t ticks, k = 0;

	if (!w->started) {
		/* The first advance: from the earliest item, if any. */
		w->next = w->count && w->first < target ? w->first : target;
		w->started = true;
	}
	if (target < w->next)
		return;
	/* The ticks from next to target, each slot at most once, the empty
	 * ones skipped by the bitmap (read again after each slot handed
	 * back: the callback may have put an item further on). */
	ticks = (uint64_t)target - (uint64_t)w->next;
	if (ticks > w->mask)
		ticks = w->mask;
	while (w->count && k <= ticks) {
		size_t i = (size_t)(((uint64_t)w->next + k) & w->mask);
		uint64_t skip = empty_run(w, i);

		w->looked++;
		if (skip) {
			k += skip;
			continue;
		}
		fire_slot(w, i, now, fn, ctx);
		k++;
	}
	/* The target tick may still get items due later in it. */
	w->next = target;
}

size_t kw_wheel_count(const struct kw_wheel *w)
{
	return w->count;
}

size_t kw_wheel_bytes(const struct kw_wheel *w)
{
	size_t n = w->spare.cap;

	for (size_t i = 0; i <= w->mask; i++)
		n += w->slots[i].cap;
	return n * sizeof(struct elem);
}

uint64_t kw_wheel_looked(const struct kw_wheel *w)
{
	return w->looked;
}
