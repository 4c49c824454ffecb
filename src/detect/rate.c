/*
 * rate.c - rate.spike: a key's requests in a window (default 1 minute)
 * far above its own baseline for that time of day.
 *
 * The one idea: per hour of the day (UTC) the key keeps two smoothed
 * numbers, folded in once each hour is over: the mean requests per window
 * in that hour, and the peak (the hour's busiest window). Both rise fast
 * (half way) and fall slowly (a tenth), so a quiet weekend does not make
 * Monday look like an attack and slow growth is followed day by day. A
 * window is a spike when it is at least `min_count` requests, at least
 * `ratio` times the mean and at least 1.5 times the peak, each taken as the
 * largest of its own hour and the two next to it (a day/night ramp or a
 * job that drifts by some minutes stays inside), and never below a quarter
 * of the key's busiest hour (an hour never seen before is not judged
 * against nothing). The mean catches a jump on a busy key within its noise;
 * the peak keeps a nightly batch job, which runs at many times the hour's
 * mean, from firing once it has been learnt. A window that fires counts
 * towards its hour only up to the threshold, unless the same hour (or one
 * next to it) also had a spike the last time it was seen: so one attack
 * does not teach the key that attacks are normal, while a job that repeats
 * nightly is learnt from its second night on and expected from its fourth.
 * Severity grows with how many times the mean the window is.
 *
 * Per key: the open windows (learned.h), the current hour's running total
 * and peak (raw and with spikes capped), which hours had spikes, 24 means
 * and 24 peaks, each a bfloat16 (the top half of a float: 8 bits of
 * precision, plenty for a baseline): 160 bytes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/learned.h"

#define HOUR_US (INT64_C(3600) * 1000000)
#define RISE 0.5f
#define FALL 0.1f
#define PEAKS 1.5f /* how many times the usual peak a spike is */

static const char *const names[] = {"rate.spike", NULL};

static const struct kw_option options[] = {
	{"window", KW_OPT_DURATION, "1m", "length of a counting window", "1d"},
	{"min_count", KW_OPT_INT, "10",
	 "fewest requests in a window that can be a spike", "65535"},
	{"ratio", KW_OPT_NUMBER, "4",
	 "how many times the mean for the hour a window must reach", "1000"},
	{NULL, 0, NULL, NULL},
};

struct rate_key {
	struct kw_win win; /* c.n[0]: requests */
	uint32_t hour;	   /* hour (since the epoch) of hmax; 0: none */
	uint32_t htotal;   /* requests in that hour so far */
	uint32_t hcapped;  /* the same with spikes counted up to threshold */
	uint32_t spiked;   /* bit h: hour of day h had a spike when last
			      folded */
	uint16_t hmax;	   /* largest window count in that hour so far */
	uint16_t hmaxcap;  /* the same with spikes up to threshold */
	uint8_t hfired;	   /* a window of that hour was a spike */
	uint8_t pad[3];
	uint16_t mean[24]; /* per hour of day (UTC): requests per window */
	uint16_t peak[24]; /* the same: the hour's busiest window */
};

struct rate {
	const struct kw_config *cfg;
	bool on;
	int64_t window;
	double min_count;
	double ratio;
	struct kw_win_clock clock;
};

/* What a window's close needs besides the window. */
struct close_ctx {
	struct rate *r;
	struct kw_keyent *key;
	struct rate_key *st;
	const struct kw_emit *emit;
};

static enum kw_status rate_create(const struct kw_detector_env *env,
				  void **self, struct kw_error *err)
{
	struct rate *r = calloc(1, sizeof(*r));

	if (!r)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	r->cfg = env->cfg;
	r->on = kw_detect_enabled(env->cfg, "rate.spike");
	r->window = kw_learned_duration(env->cfg, "rate.spike", "window",
					INT64_C(60) * 1000000);
	r->min_count = kw_learned_num(env->cfg, "rate.spike", "min_count", 20);
	r->ratio = kw_learned_num(env->cfg, "rate.spike", "ratio", 4);
	if (r->ratio < 1)
		r->ratio = 1;
	kw_win_clock_init(&r->clock, r->window);
	*self = r;
	return KW_OK;
}

/* bfloat16: a float's sign, exponent and top 7 mantissa bits. */
static float bf_get(uint16_t b)
{
	uint32_t u = (uint32_t)b << 16;
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static uint16_t bf_put(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	u += 0x7fff + ((u >> 16) & 1); /* round to nearest even */
	return (uint16_t)(u >> 16);
}

static void smooth(uint16_t *b, float v)
{
	float p = bf_get(*b);

	if (p == 0)
		p = v;
	else
		p += (v > p ? RISE : FALL) * (v - p);
	*b = bf_put(p);
}

/* The hour is over: fold its total and peak into its buckets. */
/* Whether hour of day h or one next to it had a spike when last folded:
 * a spike that comes back at the same time is a job, not an attack. */
static bool recurring(const struct rate_key *st, unsigned h)
{
	uint32_t near = 1u << h | 1u << ((h + 23) % 24) | 1u << ((h + 1) % 24);

	return (st->spiked & near) != 0;
}

/* The hour is over: fold its total and peak into its buckets; a spike
 * counts in full only when it recurs, otherwise up to the threshold. */
static void fold(struct rate *r, struct rate_key *st)
{
	double per_hour = (double)HOUR_US / (double)r->window;
	unsigned h = st->hour % 24;
	bool full = !st->hfired || recurring(st, h);

	if (!st->hour || !st->hmax)
		return;
	if (per_hour < 1)
		per_hour = 1;
	smooth(&st->mean[h],
	       (float)((full ? st->htotal : st->hcapped) / per_hour));
	smooth(&st->peak[h], full ? st->hmax : st->hmaxcap);
	if (st->hfired)
		st->spiked |= 1u << h;
	else
		st->spiked &= ~(1u << h);
}

static void new_hour(struct rate_key *st, uint32_t hour)
{
	st->hour = hour;
	st->hmax = 0;
	st->hmaxcap = 0;
	st->htotal = 0;
	st->hcapped = 0;
	st->hfired = 0;
}

/* What a window at hour of day h is held to: the largest of the hour and
 * its neighbours, and at least a quarter of the busiest hour, and 1. */
static float expected(const uint16_t *b, unsigned h)
{
	float nb = bf_get(b[h]), all = 0;

	if (bf_get(b[(h + 23) % 24]) > nb)
		nb = bf_get(b[(h + 23) % 24]);
	if (bf_get(b[(h + 1) % 24]) > nb)
		nb = bf_get(b[(h + 1) % 24]);
	for (unsigned i = 0; i < 24; i++) {
		if (bf_get(b[i]) > all)
			all = bf_get(b[i]);
	}
	if (all / 4 > nb)
		nb = all / 4;
	return nb < 1 ? 1 : nb;
}

static enum kw_severity severity(double ratio, double x)
{
	if (x >= 25 * ratio)
		return KW_SEV_CRITICAL;
	if (x >= 5 * ratio)
		return KW_SEV_HIGH;
	if (x >= 2 * ratio)
		return KW_SEV_MEDIUM;
	return KW_SEV_LOW;
}

static void spike(struct close_ctx *cx, int64_t start, unsigned n, float exp,
		  float peak)
{
	struct rate *r = cx->r;
	struct kw_event ev;
	struct kw_alert a;
	char label[256], t[40];
	double x = n / (double)exp;

	memset(&ev, 0, sizeof(ev));
	ev.ts = start + r->window;
	if (kw_detect_alert(&a, "rate.spike",
			    kw_learned_sev(cx->key, severity(r->ratio, x)), &ev,
			    cx->key) != KW_OK)
		return;
	kw_time_format(start, t, sizeof(t));
	kw_alert_summary(&a,
			 "%s made %u requests in the %lld s from %s, %.1fx "
			 "its usual %.1f at this time of day (busiest usual: "
			 "%.0f)",
			 kw_detect_key_label(cx->key, label, sizeof(label)), n,
			 (long long)(r->window / 1000000), t, x, exp, peak);
	kw_alert_evidence_int(&a, "requests", n);
	kw_alert_evidence_json(&a, "baseline", json_real(round(exp * 10) / 10));
	kw_alert_evidence_json(&a, "baseline_peak",
			       json_real(round(peak * 10) / 10));
	kw_alert_evidence_json(&a, "ratio", json_real(round(x * 10) / 10));
	kw_alert_evidence_time(&a, "window_start", start);
	kw_alert_evidence_int(&a, "window_seconds", r->window / 1000000);
	kw_alert_evidence_time(&a, "learned_since", cx->key->first_seen);
	kw_alert_set_id(&a, "rate");
	kw_emit(cx->emit, &a);
}

static void close_window(void *ctx, uint32_t idx, const struct kw_win_counts *c)
{
	struct close_ctx *cx = ctx;
	struct rate_key *st = cx->st;
	struct rate *r = cx->r;
	int64_t start = (int64_t)idx * r->window;
	uint32_t hour = (uint32_t)(start / HOUR_US);
	unsigned n = c->n[0];
	float exp, peak;

	unsigned capped = n;

	if (hour != st->hour) {
		fold(r, st);
		new_hour(st, hour);
	}
	exp = expected(st->mean, hour % 24);
	peak = expected(st->peak, hour % 24);
	if (n >= r->min_count && n >= r->ratio * exp && n >= PEAKS * peak &&
	    !kw_detect_learning(r->cfg, cx->key, start + r->window)) {
		spike(cx, start, n, exp, peak);
		st->hfired = 1;
		capped = (unsigned)fmaxf(PEAKS * peak, (float)(r->ratio * exp));
	}
	if (n > st->hmax)
		st->hmax = (uint16_t)n;
	if (capped > st->hmaxcap)
		st->hmaxcap = (uint16_t)capped;
	st->htotal += n;
	st->hcapped += capped;
}

static void rate_observe(void *self, const struct kw_event *ev,
			 struct kw_keyent *key, void *state,
			 const struct kw_emit *emit)
{
	struct rate *r = self;
	struct close_ctx cx = {r, key, state, emit};
	struct kw_win_counts *slot;

	if (!r->on)
		return;
	slot = kw_win_slot(&cx.st->win, kw_win_clock_index(&r->clock, ev->ts),
			   r->clock.upto, close_window, &cx);
	if (slot)
		kw_win_bump(&slot->n[0]);
}

static void rate_tick(void *self, int64_t watermark, const struct kw_emit *emit)
{
	struct rate *r = self;

	(void)emit;
	kw_win_clock_tick(&r->clock, watermark);
}

static bool rate_flush(void *self, int64_t watermark, struct kw_keyent *key,
		       void *state, const struct kw_emit *emit)
{
	struct rate *r = self;
	struct close_ctx cx = {r, key, state, emit};

	if (!r->on)
		return false;
	kw_win_close(&cx.st->win, kw_win_upto(watermark, r->window),
		     close_window, &cx);
	if (watermark == INT64_MAX) {
		/* Everything closed: the current hour is over too. */
		fold(r, cx.st);
		new_hour(cx.st, 0);
	}
	return cx.st->win.first != 0;
}

static void rate_destroy(void *self)
{
	free(self);
}

/* A baseline is a smoothed window count: finite, not negative, and no
 * larger than a window can count (UINT16_MAX, which bfloat16 rounds to
 * 65536). */
static bool baseline_ok(const uint16_t *b)
{
	for (int h = 0; h < 24; h++) {
		float v = bf_get(b[h]);

		if (!isfinite(v) || v < 0 || v > 65536.0f)
			return false;
	}
	return true;
}

static bool rate_validate(const void *state, char *why, size_t cap)
{
	const struct rate_key *st = state;

	if (!kw_win_valid(&st->win, why, cap))
		return false;
	if (st->hfired > 1 || st->spiked >> 24) {
		snprintf(why, cap, "rate.spike: spike marks out of range");
		return false;
	}
	if (!baseline_ok(st->mean) || !baseline_ok(st->peak)) {
		snprintf(why, cap, "rate.spike: a baseline is not a count");
		return false;
	}
	return true;
}

const struct kw_detector_ops kw_detect_rate = {
	.name = "rate",
	.kind = KW_DETECTOR_LEARNED,
	.detectors = names,
	.options = options,
	.state_size = sizeof(struct rate_key),
	.create = rate_create,
	.observe = rate_observe,
	.tick = rate_tick,
	.flush = rate_flush,
	.destroy = rate_destroy,
	.validate = rate_validate,
};
