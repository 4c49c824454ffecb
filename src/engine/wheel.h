/*
 * wheel.h - a hashed timing wheel: items due at a time (event time, us),
 * handed back once the clock passes that time, for O(1) per item added,
 * moved, removed or handed back, however many items wait.
 *
 * The one idea: time is cut into ticks and the wheel has a power-of-two
 * number of slots; an item due in tick t waits in slot t mod slots, with
 * its due time beside it. Advancing the clock looks only at the slots of
 * the ticks it passes (each slot at most once per call), hands back what
 * is due and leaves in place what is due a turn or more later (looked at
 * again a turn on). So an item costs work when it is due, not every time
 * the clock moves, unlike a list of everything that waits swept whole;
 * and the slots of ticks with nothing due are skipped 64 at a time, so a
 * clock moving over quiet time costs nearly nothing.
 *
 * Each item carries a struct kw_wheel_link, at an offset given at
 * creation, that says where it waits; the wheel keeps the link right, so
 * removing an item needs no search. The wheel holds pointers: an item must
 * stay where it is (and be removed before it is freed).
 *
 * Order: an advance hands items back tick by tick (one turn of the wheel
 * at most), and within a tick in the order they were added (a removal
 * moves the last item of its slot into the hole): the same calls give the
 * same order. Not thread-safe.
 */
#ifndef KW_ENGINE_WHEEL_H
#define KW_ENGINE_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Where an item waits; all zero when it is not on the wheel. */
struct kw_wheel_link {
	uint32_t slot; /* 1 + the slot, 0: not on the wheel */
	uint32_t pos;  /* its place in the slot */
};

static inline bool kw_wheel_waiting(const struct kw_wheel_link *l)
{
	return l->slot != 0;
}

struct kw_wheel;

/*
 * A wheel of nslots slots (a power of two, at least 2) of tick us each;
 * an item's link is at link_offset bytes from the item's address. KW_EINVAL
 * on bad sizes, KW_ENOMEM. Free with kw_wheel_destroy.
 */
enum kw_status kw_wheel_create(int64_t tick, size_t nslots, size_t link_offset,
			       struct kw_wheel **out);

/* Free the wheel (not the items). NULL-safe. */
void kw_wheel_destroy(struct kw_wheel *w);

/*
 * Put item on the wheel, due at time due (an item already on it moves).
 * An item due before the clock's current tick waits for the next advance.
 * false when no memory could be had: the item is then not on the wheel.
 */
bool kw_wheel_add(struct kw_wheel *w, void *item, int64_t due);

/*
 * Put item on the wheel, due at due, unless it already waits for a time at
 * or before due (then nothing changes): an item has one time, the earliest
 * asked for. false as kw_wheel_add.
 */
bool kw_wheel_sooner(struct kw_wheel *w, void *item, int64_t due);

/* Take item off the wheel (nothing when it is not on it). */
void kw_wheel_remove(struct kw_wheel *w, void *item);

/* Called for each item handed back; it is off the wheel by then. */
typedef void kw_wheel_fn(void *ctx, void *item);

/*
 * Move the clock to now and call fn for every item due at or before now.
 * fn may put the item it is given back on the wheel (kw_wheel_add), but
 * must not add or remove any other item. The clock never goes back: an
 * earlier now does nothing.
 */
void kw_wheel_advance(struct kw_wheel *w, int64_t now, kw_wheel_fn *fn,
		      void *ctx);

/* Items on the wheel. */
size_t kw_wheel_count(const struct kw_wheel *w);

/* Bytes of the slots' arrays (the slot table itself not counted): at most
 * 64 bytes an item waiting and 64 a busy slot, however many waited at once
 * before, and one spare array of at most 1 MiB kept for the next slot
 * fired; an empty slot holds none (the tests' bounds; O(slots)). */
size_t kw_wheel_bytes(const struct kw_wheel *w);

/*
 * The work advances have done so far: the bitmap words and busy slots
 * they looked at (an empty stretch of up to 64 slots is one look). What
 * a test asserts to show that quiet time costs nothing per tick.
 */
uint64_t kw_wheel_looked(const struct kw_wheel *w);

#endif
