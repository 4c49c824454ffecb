/*
 * learned.h - what the learned families (rate.c, errors.c, ops.c) share:
 * per-key tumbling windows in event time, and reading their options.
 * Header-only: plain data that lives in a key's state area, and small
 * functions.
 *
 * The one idea: a key keeps a ring of the last KW_WIN_SLOTS windows, so an
 * event that arrives out of order but within the allowed lateness still
 * lands in its window. A window closes (the family's close callback runs,
 * in window order, once) when the watermark passes its end, or when a newer
 * event needs its slot, or when the engine flushes the key. An event older
 * than every open window is late: it is counted, not added.
 *
 * Urgent windows: most windows hold a request or two and can raise
 * nothing when they close; closing them only learns. The family marks the
 * ring urgent (kw_win_urgent) once an open window's counts could raise
 * something at its close, and the engine closes only those rings on time
 * (its timing wheel). The others it closes when it next needs the key (its
 * next event, a save, the end), at the watermark its sweep would have
 * closed them at, so what is learnt is the same, window by window: a key
 * whose windows can raise nothing is not visited again a window after its
 * last event (at a million keys, a cold read of its state).
 */
#ifndef KW_DETECT_LEARNED_H
#define KW_DETECT_LEARNED_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/time.h"
#include "detect/detector.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define KW_WIN_SLOTS 4

/* Counters of one window; what each means is the family's. */
struct kw_win_counts {
	uint16_t n[3];
};

struct kw_win {
	uint32_t first;	 /* index of the oldest open window; 0: none open */
	uint32_t closed; /* index of the newest closed window; 0: none */
	uint32_t late;	 /* events in windows already closed */
	/* Not 0: an open window may raise something when it closes (the
	 * top of this file); 0 again once no window is open. State files
	 * written before it have 0 here: the engine marks the rings it loads
	 * urgent when they have a window open. */
	uint32_t urgent;
	struct kw_win_counts c[KW_WIN_SLOTS]; /* windows first .. first+3 */
};

/* The largest of the n bfloat16s b (a float's top 16 bits) that is above
 * 0, or 0: what `if (v > top) top = v` over their float values from 0
 * gives, on the bits, without a conversion per value. A bfloat16 from 0
 * to 0x7f80 (infinity) orders as its value; negatives, -0 and NaN (above
 * 0x7f80) are never above 0, as in the float comparison. */
static inline uint16_t kw_bf16_top(const uint16_t *b, size_t n)
{
	uint16_t top = 0;
	size_t i = 0;

#ifdef __SSE2__
	size_t full = n - n % 8;

	/* eight at a time, as signed 16-bit numbers: 0 to 0x7f80 are
	 * exactly the ones kept, and a signed max orders them */
	if (full) {
		const __m128i lo = _mm_set1_epi16(-1),
			      hi = _mm_set1_epi16(0x7f81);
		__m128i m = _mm_setzero_si128();

		for (; i < full; i += 8) {
			__m128i v = _mm_loadu_si128(
				(const __m128i *)(const void *)(b + i));
			__m128i keep = _mm_and_si128(_mm_cmpgt_epi16(v, lo),
						     _mm_cmplt_epi16(v, hi));

			m = _mm_max_epi16(m, _mm_and_si128(v, keep));
		}
		m = _mm_max_epi16(m, _mm_srli_si128(m, 8));
		m = _mm_max_epi16(m, _mm_srli_si128(m, 4));
		m = _mm_max_epi16(m, _mm_srli_si128(m, 2));
		top = (uint16_t)_mm_cvtsi128_si32(m);
	}
#endif
	for (; i < n; i++) {
		uint16_t x = b[i] <= 0x7f80 ? b[i] : 0;

		top = x > top ? x : top;
	}
	return top;
}

/* Whether a window ring loaded from a state file is one kw_win_slot could
 * have left: indices within range (kw_win_index never gives more than
 * UINT32_MAX - KW_WIN_SLOTS) and the oldest open window after the newest
 * closed one. false with a reason in why. */
static inline bool kw_win_valid(const struct kw_win *w, char *why, size_t cap)
{
	if (w->first > UINT32_MAX - KW_WIN_SLOTS ||
	    w->closed > UINT32_MAX - KW_WIN_SLOTS) {
		snprintf(why, cap, "window index out of range");
		return false;
	}
	if (w->first && w->first <= w->closed) {
		snprintf(why, cap,
			 "open window %u is not after the last closed one %u",
			 (unsigned)w->first, (unsigned)w->closed);
		return false;
	}
	return true;
}

/* Called for each window closed: its index and counters. */
typedef void kw_win_close_fn(void *ctx, uint32_t idx,
			     const struct kw_win_counts *c);

/* The window index of time ts (us) for windows of len us; >= 1 for any
 * time after 1970 (index 0 means "none"). */
static inline uint32_t kw_win_index(int64_t ts, int64_t len)
{
	if (ts < len)
		return 1;
	if (ts / len >= UINT32_MAX)
		return UINT32_MAX - KW_WIN_SLOTS;
	return (uint32_t)(ts / len);
}

/* Close, in order, every open window with index < upto. Windows with no
 * events are skipped (close is not called for them). */
static inline void kw_win_close(struct kw_win *w, uint32_t upto,
				kw_win_close_fn *close, void *ctx)
{
	while (w->first && w->first < upto) {
		struct kw_win_counts c = w->c[0];

		if (c.n[0] || c.n[1] || c.n[2]) {
			close(ctx, w->first, &c);
			w->closed = w->first;
		}
		memmove(&w->c[0], &w->c[1],
			sizeof(w->c[0]) * (KW_WIN_SLOTS - 1));
		memset(&w->c[KW_WIN_SLOTS - 1], 0, sizeof(w->c[0]));
		w->first++;
		if (!(w->c[0].n[0] || w->c[0].n[1] || w->c[0].n[2] ||
		      w->c[1].n[0] || w->c[1].n[1] || w->c[1].n[2] ||
		      w->c[2].n[0] || w->c[2].n[1] || w->c[2].n[2] ||
		      w->c[3].n[0] || w->c[3].n[1] || w->c[3].n[2])) {
			/* Nothing left open: jump, do not walk the gap. */
			w->first = 0;
			w->urgent = 0;
			return;
		}
	}
}

/*
 * The slot for window idx, closing what must close first: windows that end
 * at or before the watermark index wm (windows < wm), and the oldest ones
 * when idx is beyond the ring. NULL when idx is older than every open
 * window or not newer than the last closed one (the event is late;
 * w->late counts it).
 */
static inline struct kw_win_counts *kw_win_slot(struct kw_win *w, uint32_t idx,
						uint32_t wm,
						kw_win_close_fn *close,
						void *ctx)
{
	if (wm > idx)
		wm = idx; /* never close the event's own window */
	kw_win_close(w, wm, close, ctx);
	if (w->first && idx >= w->first + KW_WIN_SLOTS)
		kw_win_close(w, idx - KW_WIN_SLOTS + 1, close, ctx);
	if (!w->first && idx > w->closed)
		w->first = idx;
	if (!w->first || idx < w->first) {
		if (w->late < UINT32_MAX)
			w->late++;
		return NULL;
	}
	return &w->c[idx - w->first];
}

static inline void kw_win_bump(uint16_t *n)
{
	if (*n < UINT16_MAX)
		(*n)++;
}

/* A window open in w may raise something when it closes: the engine must
 * close it on time (the top of this file). */
static inline void kw_win_urgent(struct kw_win *w)
{
	w->urgent = 1;
}

/* The window index before which windows have closed at watermark wm. */
static inline uint32_t kw_win_upto(int64_t wm, int64_t len)
{
	if (wm == INT64_MIN)
		return 0;
	if (wm == INT64_MAX)
		return UINT32_MAX;
	return kw_win_index(wm, len);
}

/* A family's view of window time: the window length, the index before
 * which windows have closed at the last tick, and the last event's window
 * (events come nearly in time order, so most need no division). */
struct kw_win_clock {
	int64_t len;
	int64_t lo, hi; /* [lo, hi): the window idx, when hi > lo */
	uint32_t idx;
	uint32_t upto;
};

/* The watermark at which the oldest open window of w (windows of len us)
 * closes, KW_DETECT_NONE_OPEN when none is open: window i closes once
 * kw_win_upto() passes it, at (i + 1) * len. Times past event time's range
 * are held just short of the end, so the key is still flushed last. */
static inline int64_t kw_win_due(const struct kw_win *w, int64_t len)
{
	int64_t past;

	if (!w->first)
		return KW_DETECT_NONE_OPEN;
	/* the end of the window after it past INT64_MAX: first + 1 is at
	 * least INT64_MAX / len, the bound without a division (the engine
	 * asks at nearly every event) */
	if (__builtin_mul_overflow((int64_t)w->first + 2, len, &past))
		return INT64_MAX - 1;
	return past - len;
}

static inline void kw_win_clock_init(struct kw_win_clock *c, int64_t len)
{
	memset(c, 0, sizeof(*c));
	c->len = len;
}

static inline uint32_t kw_win_clock_index(struct kw_win_clock *c, int64_t ts)
{
	uint32_t idx;

	if (ts >= c->lo && ts < c->hi)
		return c->idx;
	idx = kw_win_index(ts, c->len);
	if (ts >= (int64_t)idx * c->len && ts < ((int64_t)idx + 1) * c->len) {
		c->idx = idx;
		c->lo = (int64_t)idx * c->len;
		c->hi = c->lo + c->len;
	}
	return idx;
}

static inline void kw_win_clock_tick(struct kw_win_clock *c, int64_t wm)
{
	c->upto = kw_win_upto(wm, c->len);
}

/* Options of a detector (already checked by kw_detect_check_config); def
 * when absent. */
static inline double kw_learned_num(const struct kw_config *cfg,
				    const char *detector, const char *name,
				    double def)
{
	const json_t *o = kw_detect_options(cfg, detector);
	const json_t *v = o ? json_object_get(o, name) : NULL;

	return v && json_is_number(v) ? json_number_value(v) : def;
}

static inline int64_t kw_learned_duration(const struct kw_config *cfg,
					  const char *detector,
					  const char *name, int64_t def)
{
	const json_t *o = kw_detect_options(cfg, detector);
	const json_t *v = o ? json_object_get(o, name) : NULL;
	int64_t us = 0;

	if (json_is_string(v) && kw_duration_parse(json_string_value(v), &us) &&
	    us > 0)
		return us;
	return def;
}

/* Lower a severity one step for test-mode keys (never below info). */
static inline enum kw_severity kw_learned_sev(const struct kw_keyent *key,
					      enum kw_severity sev)
{
	if (key->mode == KW_MODE_TEST && sev > KW_SEV_INFO)
		return (enum kw_severity)(sev - 1);
	return sev;
}

#endif
