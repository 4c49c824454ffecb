/*
 * test_wheel.c - the engine's timing wheel: items handed back once the
 * clock passes their due time and not before, in tick order and within a
 * tick in the order added; items a turn or more ahead wait their turn; a
 * jump of the clock past a whole turn; removal and moving (the link kept
 * right after a removal moves another item), and moving only sooner;
 * items put back by the callback; items due before the clock; the clock
 * never going back; a random workload checked against a plain list; and
 * quiet stretches (long gaps, many turns, wrap-arounds) handed back at
 * the exact times, for a few looks per advance rather than one per tick.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/wheel.h"

#define S INT64_C(1000000) /* one tick: a second, as the engine's */

struct item {
	int id;
	struct kw_wheel_link link;
	int64_t due; /* the model's */
	int fired;
	bool scheduled; /* the model's: added, not yet removed or fired */
};

struct log {
	int ids[4096];
	size_t n;
	int64_t now;
	struct kw_wheel *w;
	int64_t again; /* put each item back this far on (0: no) */
};

static void on_fire(void *ctx, void *p)
{
	struct log *l = ctx;
	struct item *it = p;

	assert_false(kw_wheel_waiting(&it->link));
	assert_true(it->due <= l->now);
	assert_true(l->n < 4096);
	l->ids[l->n++] = it->id;
	it->fired++;
	it->scheduled = false;
	if (l->again) {
		it->due += l->again;
		assert_true(kw_wheel_add(l->w, it, it->due));
	}
}

static struct kw_wheel *wheel(size_t slots)
{
	struct kw_wheel *w = NULL;

	assert_int_equal(
		kw_wheel_create(S, slots, offsetof(struct item, link), &w),
		KW_OK);
	return w;
}

static void advance(struct kw_wheel *w, struct log *l, int64_t now)
{
	l->now = now;
	l->w = w;
	kw_wheel_advance(w, now, on_fire, l);
}

static void add(struct kw_wheel *w, struct item *it, int64_t due)
{
	it->due = due;
	it->scheduled = true;
	assert_true(kw_wheel_add(w, it, due));
	assert_true(kw_wheel_waiting(&it->link));
}

static void test_create_invalid(void **state)
{
	struct kw_wheel *w = (struct kw_wheel *)&w;

	(void)state;
	assert_int_equal(kw_wheel_create(0, 16, 0, &w), KW_EINVAL);
	assert_null(w);
	assert_int_equal(kw_wheel_create(S, 12, 0, &w), KW_EINVAL);
	assert_int_equal(kw_wheel_create(S, 1, 0, &w), KW_EINVAL);
	assert_int_equal(kw_wheel_create(S, 2, 0, &w), KW_OK);
	kw_wheel_destroy(w);
	kw_wheel_destroy(NULL);
}

/* Due at or before now, not before; by tick, then in the order added. */
static void test_order_and_time(void **state)
{
	struct kw_wheel *w = wheel(16);
	struct item it[6] = {{.id = 0}, {.id = 1}, {.id = 2},
			     {.id = 3}, {.id = 4}, {.id = 5}};
	struct log l = {.n = 0};

	(void)state;
	advance(w, &l, 100 * S); /* sets the clock */
	add(w, &it[0], 105 * S);
	add(w, &it[1], 103 * S + 500000);
	add(w, &it[2], 103 * S);
	add(w, &it[3], 105 * S);
	add(w, &it[4], 110 * S);
	add(w, &it[5], 103 * S + 999999);
	assert_int_equal(kw_wheel_count(w), 6);
	advance(w, &l, 103 * S + 499999);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.ids[0], 2);
	/* The same tick again: 1 is due now, 5 still not. */
	advance(w, &l, 103 * S + 500000);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.ids[1], 1);
	advance(w, &l, 105 * S);
	assert_int_equal(l.n, 5);
	assert_int_equal(l.ids[2], 5);
	assert_int_equal(l.ids[3], 0); /* added before 3 */
	assert_int_equal(l.ids[4], 3);
	assert_int_equal(kw_wheel_count(w), 1);
	/* The clock does not go back. */
	advance(w, &l, 50 * S);
	assert_int_equal(l.n, 5);
	advance(w, &l, 200 * S);
	assert_int_equal(l.n, 6);
	assert_int_equal(l.ids[5], 4);
	assert_int_equal(kw_wheel_count(w), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(it[i].fired, 1);
	kw_wheel_destroy(w);
}

/* Items a turn or more ahead share slots with near ones and wait; a jump
 * past a whole turn looks at every slot once. */
static void test_turns(void **state)
{
	struct kw_wheel *w = wheel(8);
	struct item near = {.id = 1}, far = {.id = 2}, farther = {.id = 3};
	struct log l = {.n = 0};

	(void)state;
	advance(w, &l, 0);
	add(w, &near, 3 * S);
	add(w, &far, 11 * S);	  /* the same slot, a turn on */
	add(w, &farther, 27 * S); /* three turns on */
	advance(w, &l, 4 * S);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.ids[0], 1);
	assert_true(kw_wheel_waiting(&far.link));
	advance(w, &l, 10 * S);
	assert_int_equal(l.n, 1);
	advance(w, &l, 11 * S);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.ids[1], 2);
	/* From 11 s to 1000 s: more than a turn, every slot once. */
	advance(w, &l, 1000 * S);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.ids[2], 3);
	kw_wheel_destroy(w);
}

/* kw_wheel_sooner: an item not waiting is added; one waiting moves only to
 * an earlier time (within its tick too), never to a later one. */
static void test_sooner(void **state)
{
	struct kw_wheel *w = wheel(16);
	struct item it[3] = {{.id = 0}, {.id = 1}, {.id = 2}};
	struct log l = {.n = 0};

	(void)state;
	advance(w, &l, 0);
	assert_true(kw_wheel_sooner(w, &it[0], 40 * S)); /* a turn and more */
	it[0].due = 40 * S;
	add(w, &it[1], 8 * S);
	assert_true(kw_wheel_sooner(w, &it[1], 12 * S)); /* later: kept */
	assert_true(kw_wheel_sooner(w, &it[0], 3 * S));	 /* earlier: moves */
	it[0].due = 3 * S;
	add(w, &it[2], 6 * S + 900000);
	assert_true(kw_wheel_sooner(w, &it[2], 6 * S + 100000)); /* same tick */
	it[2].due = 6 * S + 100000;
	assert_int_equal(kw_wheel_count(w), 3);
	advance(w, &l, 6 * S + 100000);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.ids[0], 0);
	assert_int_equal(l.ids[1], 2);
	advance(w, &l, 11 * S);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.ids[2], 1);
	advance(w, &l, 100 * S); /* 0 left nothing behind at 40 s */
	assert_int_equal(l.n, 3);
	assert_int_equal(kw_wheel_count(w), 0);
	kw_wheel_destroy(w);
}

/* Removing an item moves the last of its slot into its place: that one
 * is still found and removed right. Adding an item on the wheel moves it. */
static void test_remove_and_move(void **state)
{
	struct kw_wheel *w = wheel(16);
	struct item it[4] = {{.id = 0}, {.id = 1}, {.id = 2}, {.id = 3}};
	struct log l = {.n = 0};

	(void)state;
	advance(w, &l, 0);
	for (int i = 0; i < 4; i++)
		add(w, &it[i], 5 * S);
	kw_wheel_remove(w, &it[1]);
	assert_false(kw_wheel_waiting(&it[1].link));
	kw_wheel_remove(w, &it[1]); /* not on it: nothing */
	kw_wheel_remove(w, &it[3]); /* it moved into 1's place */
	assert_int_equal(kw_wheel_count(w), 2);
	add(w, &it[0], 9 * S); /* moves */
	assert_int_equal(kw_wheel_count(w), 2);
	advance(w, &l, 8 * S);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.ids[0], 2);
	advance(w, &l, 9 * S);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.ids[1], 0);
	assert_int_equal(it[1].fired + it[3].fired, 0);
	kw_wheel_destroy(w);
}

/* An item due before the clock's tick waits for the next advance; the
 * callback may put its item back, and it is not handed back twice in one
 * advance even when it lands in the slot being emptied. */
/* A crowd due at one tick that then spreads out and mostly goes: the
 * arrays follow what waits now (at most four times the items' room, and
 * room for 4 a busy slot), not the crowd. Order within a slot is kept
 * through the shrinking. */
static void test_memory_follows_items(void **state)
{
	enum { CROWD = 10000, SLOTS = 1024, KEEP = 1000 };
	struct item *it = calloc(CROWD, sizeof(*it));
	struct kw_wheel *w = wheel(4096);
	struct log l = {0};

	(void)state;
	assert_non_null(it);
	for (int i = 0; i < CROWD; i++) {
		it[i].id = i;
		add(w, &it[i], 10 * S);
	}
	assert_true(kw_wheel_bytes(w) >= CROWD * 16);
	/* Spread over SLOTS ticks, then all but KEEP (one a slot) go. */
	for (int i = 0; i < CROWD; i++)
		add(w, &it[i], (100 + i % SLOTS) * S);
	for (int i = KEEP; i < CROWD; i++) {
		kw_wheel_remove(w, &it[i]);
		it[i].scheduled = false;
	}
	assert_int_equal(kw_wheel_count(w), KEEP);
	assert_true(kw_wheel_bytes(w) <= KEEP * 64 + KEEP * 4 * 16);
	/* Two in one slot, each shrink after: the first added comes first. */
	add(w, &it[KEEP], (100 + SLOTS + 5) * S);
	add(w, &it[KEEP + 1], (100 + SLOTS + 5) * S);
	advance(w, &l, (100 + SLOTS + 5) * S);
	assert_int_equal(l.n, KEEP + 2);
	assert_int_equal(l.ids[KEEP], KEEP);
	assert_int_equal(l.ids[KEEP + 1], KEEP + 1);
	assert_int_equal(kw_wheel_count(w), 0);
	kw_wheel_destroy(w);
	free(it);
}

/* Slots fired one after another, each with a crowd that does not come
 * back (as the engine's keys whose windows have all closed): an emptied
 * slot keeps no array and the wheel one spare at most, so after a thousand
 * slots have fired the arrays are one crowd's room, not a thousand's. An
 * item put back into the slot being fired is kept in room for itself, not
 * in the spare's room for a crowd. */
static void test_fired_slots_keep_nothing(void **state)
{
	enum { CROWD = 64, FIRED = 1000, BIG = 1024 };
	struct item *it = calloc(BIG, sizeof(*it));
	struct kw_wheel *w = wheel(4096);
	struct log l = {0};

	(void)state;
	assert_non_null(it);
	for (int i = 0; i < BIG; i++)
		it[i].id = i;
	for (int t = 1; t <= FIRED; t++) {
		for (int i = 0; i < CROWD; i++)
			add(w, &it[i], t * S);
		l.n = 0;
		advance(w, &l, t * S);
		assert_int_equal(l.n, CROWD);
		assert_int_equal(kw_wheel_count(w), 0);
		assert_true(kw_wheel_bytes(w) <= CROWD * 16);
	}
	/* A bigger crowd leaves a bigger spare (within its bound) ... */
	for (int i = 0; i < BIG; i++)
		add(w, &it[i], (FIRED + 1) * S);
	l.n = 0;
	advance(w, &l, (FIRED + 1) * S);
	assert_int_equal(l.n, BIG);
	assert_true(kw_wheel_bytes(w) <= BIG * 16);
	/* ... which one item put back a turn on does not keep. */
	add(w, &it[0], (FIRED + 2) * S);
	l.n = 0;
	l.again = 4096 * S;
	advance(w, &l, (FIRED + 2) * S);
	assert_int_equal(l.n, 1);
	assert_int_equal(kw_wheel_count(w), 1);
	assert_true(kw_wheel_bytes(w) <= 2 * 4 * 16);
	l.again = 0;
	l.n = 0;
	advance(w, &l, (FIRED + 2 + 4096) * S);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.ids[0], 0);
	assert_int_equal(kw_wheel_count(w), 0);
	kw_wheel_destroy(w);
	free(it);
}

static void test_late_and_again(void **state)
{
	struct kw_wheel *w = wheel(4);
	struct item a = {.id = 1}, b = {.id = 2};
	struct log l = {.n = 0};

	(void)state;
	advance(w, &l, 100 * S);
	add(w, &a, 10 * S);
	advance(w, &l, 100 * S);
	assert_int_equal(l.n, 1);
	/* b is due every 4 s (one turn of this wheel): each advance of a
	 * second hands it back at most once. */
	l.again = 4 * S;
	add(w, &b, 101 * S);
	advance(w, &l, 101 * S);
	assert_int_equal(l.n, 2);
	assert_int_equal(b.due, 105 * S);
	advance(w, &l, 104 * S);
	assert_int_equal(l.n, 2);
	advance(w, &l, 113 * S); /* 105, 109, 113: once per advance */
	assert_int_equal(l.n, 3);
	advance(w, &l, 113 * S);
	assert_int_equal(l.n, 4);
	advance(w, &l, 113 * S);
	assert_int_equal(l.n, 5);
	assert_int_equal(b.due, 117 * S);
	advance(w, &l, 113 * S);
	assert_int_equal(l.n, 5);
	kw_wheel_destroy(w);
}

/* Negative times and a first add before any advance. */
static void test_before_epoch(void **state)
{
	struct kw_wheel *w = wheel(16);
	struct item a = {.id = 1}, b = {.id = 2};
	struct log l = {.n = 0};

	(void)state;
	add(w, &a, -3 * S - 1);
	add(w, &b, -5 * S); /* earlier than the first added */
	advance(w, &l, -4 * S - 1);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.ids[0], 2);
	advance(w, &l, -3 * S - 2);
	assert_int_equal(l.n, 1);
	advance(w, &l, -3 * S - 1);
	assert_int_equal(l.n, 2);
	kw_wheel_destroy(w);
}

static size_t count_scheduled(const struct item *it, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += it[i].scheduled;
	return c;
}

/* A random workload against a plain list: after every advance exactly
 * the items due by then have been handed back, each once. */
static void test_random_against_list(void **state)
{
	enum { N = 2000 };
	struct kw_wheel *w = wheel(64);
	static struct item it[N];
	struct log l = {.n = 0};
	uint64_t rng = 0x2545f4914f6cdd1du;
	int64_t now = 0;

	(void)state;
	memset(it, 0, sizeof(it));
	advance(w, &l, 0);
	for (int round = 0; round < 400; round++) {
		for (int k = 0; k < 20; k++) {
			struct item *p;

			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			p = &it[rng % N];
			p->id = (int)(p - it);
			if ((rng >> 20) % 5 == 0) {
				kw_wheel_remove(w, p);
				p->scheduled = false;
				continue;
			}
			/* Due from now to 300 s on: up to five turns. */
			add(w, p, now + (int64_t)((rng >> 24) % (300 * S)));
		}
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		now += (int64_t)((rng >> 30) % (20 * S));
		l.n = 0;
		advance(w, &l, now);
		/* Handed back: exactly the scheduled items due by now. */
		for (int i = 0; i < N; i++) {
			bool waiting = kw_wheel_waiting(&it[i].link);

			assert_int_equal(waiting, it[i].scheduled);
			if (waiting)
				assert_true(it[i].due > now);
		}
		assert_int_equal(kw_wheel_count(w), count_scheduled(it, N));
	}
	kw_wheel_destroy(w);
}

/* floor(t / S) */
static int64_t tick_at(int64_t t)
{
	return t / S - (t % S < 0);
}

/*
 * The engine's wheel (4096 one-second slots) advanced a minute at a time,
 * as a shard's sweep does, over 30 hours with a few items spread wide:
 * each is handed back at the first advance at or after its time, in the
 * slot order of that advance; and an advance over a quiet minute looks at
 * a word or two of the bitmap, not at 60 slots.
 */
static void test_quiet_stretches(void **state)
{
	struct kw_wheel *w = wheel(4096);
	/* 5 s; a minute on; the last slot of the first turn; the first of
	 * the second (slot 0 again); three turns and 7 s on; a day on. */
	static const int64_t due[] = {5, 70, 4095, 4096, 3 * 4096 + 7, 86400};
	/* The first minute boundary at or after each. */
	static const int64_t at[] = {60, 120, 4140, 4140, 12300, 86400};
	enum { N = sizeof(due) / sizeof(due[0]) };
	struct item it[N];
	int64_t fired_at[N];
	struct log l = {.n = 0};
	uint64_t advances = 0;

	(void)state;
	memset(it, 0, sizeof(it));
	advance(w, &l, 0);
	for (int i = 0; i < N; i++) {
		it[i].id = i;
		fired_at[i] = -1;
		add(w, &it[i], due[i] * S);
	}
	for (int64_t t = 60; t <= 30 * 3600; t += 60) {
		size_t before = l.n;

		advance(w, &l, t * S);
		advances++;
		for (size_t k = before; k < l.n; k++)
			fired_at[l.ids[k]] = t;
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(it[i].fired, 1);
		assert_int_equal(fired_at[i], at[i]);
	}
	/* 4095 before 4096: tick order within the advance that hands both. */
	assert_int_equal(l.ids[2], 2);
	assert_int_equal(l.ids[3], 3);
	assert_int_equal(kw_wheel_count(w), 0);
	/* 1800 advances: a slot-by-slot walk looks at 61 slots each
	 * (109,800); the bitmap at most two words each, plus the busy slots
	 * (the day-on item is looked at once a turn until it is due). */
	assert_true(kw_wheel_looked(w) <= 2 * advances + 40);
	kw_wheel_destroy(w);
}

/*
 * One advance over many turns at once, on a wheel of fewer slots than a
 * bitmap word and on one of many words: every item due is handed back,
 * in slot order from the clock's tick; the ones not due stay; and the
 * advance looks at each word of the bitmap and each busy slot once (and
 * at the empty run before it).
 */
static void test_jump_many_turns(void **state)
{
	static const size_t sizes[] = {8, 4096};

	(void)state;
	for (size_t z = 0; z < 2; z++) {
		struct kw_wheel *w = wheel(sizes[z]);
		int64_t turn = (int64_t)sizes[z];
		/* Slots 3, 1 and 6 (of 8; of 4096: 3, 1, 4094 and 6); the
		 * last is not due by the jump. */
		struct item a = {.id = 1}, b = {.id = 2}, c = {.id = 3},
			    d = {.id = 4};
		struct log l = {.n = 0};
		uint64_t before;

		advance(w, &l, 2 * S); /* the clock at tick 2 */
		add(w, &a, (1000 * turn + 3) * S);
		add(w, &b, (7 * turn + 1) * S);
		add(w, &c, (turn - 2) * S);
		add(w, &d, (2000 * turn + 6) * S);
		before = kw_wheel_looked(w);
		advance(w, &l, (1500 * turn) * S);
		/* From slot 2 round: 3, then (turn - 2), then 1. */
		assert_int_equal(l.n, 3);
		assert_int_equal(l.ids[0], 1);
		assert_int_equal(l.ids[1], 3);
		assert_int_equal(l.ids[2], 2);
		assert_true(kw_wheel_waiting(&d.link));
		/* A word each, and for each of the 4 busy slots (two
		 * hand items back, one a turn on) the look at it and at
		 * the empty run before it: 73 for 4096 slots, not 4096. */
		assert_true(kw_wheel_looked(w) - before <=
			    (uint64_t)(turn + 63) / 64 + 2 * 4 + 1);
		advance(w, &l, (2000 * turn + 6) * S);
		assert_int_equal(l.n, 4);
		assert_int_equal(l.ids[3], 4);
		assert_int_equal(kw_wheel_count(w), 0);
		kw_wheel_destroy(w);
	}
}

/*
 * A random workload with long gaps against a plain list, on wheels of 8,
 * 64 and 4096 slots: after each advance exactly the items due by then
 * have been handed back, once each, in the order of their slots from the
 * clock's tick round (an item added before the clock's tick waits in the
 * clock's tick's slot).
 */
static void test_random_gaps(void **state)
{
	enum { N = 500 };
	static const size_t sizes[] = {8, 64, 4096};
	static struct item it[N];
	static int64_t eff[N]; /* the tick whose slot the item waits in */

	(void)state;
	for (size_t z = 0; z < 3; z++) {
		int64_t turn = (int64_t)sizes[z];
		struct kw_wheel *w = wheel(sizes[z]);
		struct log l = {.n = 0};
		uint64_t rng = 0x9e3779b97f4a7c15u + z;
		int64_t now = -50 * S;

		memset(it, 0, sizeof(it));
		advance(w, &l, now);
		for (int round = 0; round < 300; round++) {
			int64_t from;

			for (int k = 0; k < 10; k++) {
				struct item *p;
				int64_t t;

				rng ^= rng << 13;
				rng ^= rng >> 7;
				rng ^= rng << 17;
				p = &it[rng % N];
				p->id = (int)(p - it);
				/* From 10 s back to three turns on. */
				add(w, p,
				    now - 10 * S +
					    (int64_t)((rng >> 24) %
						      (uint64_t)(3 * turn *
								 S)));
				t = tick_at(p->due);
				eff[p->id] =
					t < tick_at(now) ? tick_at(now) : t;
			}
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			/* Mostly short steps; one in eight up to five turns. */
			if ((rng >> 40) % 8 == 0)
				now += (int64_t)((rng >> 8) %
						 (uint64_t)(5 * turn * S));
			else
				now += (int64_t)((rng >> 8) % (3 * S));
			from = tick_at(l.now);
			l.n = 0;
			advance(w, &l, now);
			for (size_t k = 1; k < l.n; k++) {
				int64_t p0 = (eff[l.ids[k - 1]] - from) % turn;
				int64_t p1 = (eff[l.ids[k]] - from) % turn;

				assert_true(p0 <= p1);
			}
			for (int i = 0; i < N; i++) {
				bool waiting = kw_wheel_waiting(&it[i].link);

				assert_int_equal(waiting, it[i].scheduled);
				if (waiting)
					assert_true(it[i].due > now);
			}
			assert_int_equal(kw_wheel_count(w),
					 count_scheduled(it, N));
		}
		kw_wheel_destroy(w);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_invalid),
		cmocka_unit_test(test_order_and_time),
		cmocka_unit_test(test_turns),
		cmocka_unit_test(test_remove_and_move),
		cmocka_unit_test(test_sooner),
		cmocka_unit_test(test_memory_follows_items),
		cmocka_unit_test(test_fired_slots_keep_nothing),
		cmocka_unit_test(test_late_and_again),
		cmocka_unit_test(test_before_epoch),
		cmocka_unit_test(test_random_against_list),
		cmocka_unit_test(test_quiet_stretches),
		cmocka_unit_test(test_jump_many_turns),
		cmocka_unit_test(test_random_gaps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
