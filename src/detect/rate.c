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
 * Severity grows with how many times the mean the window is, and is held
 * down when the window is less than three times the busiest window the
 * key has shown at any hour (low under 2.5 times): a bursty key's mean
 * overstates a burst it nearly made before.
 *
 * Per key: the open windows (learned.h), the current hour's running total
 * and peak (raw and with spikes capped), which hours had spikes, 24 means
 * and 24 peaks, each a bfloat16 (the top half of a float: 8 bits of
 * precision, plenty for a baseline): 160 bytes.
 *
 * What made a spike: a window that reaches half its spike threshold is
 * "hot", and from then on its operations, IPs and first request ids are
 * counted in a table shared by all keys (HOT_SLOTS windows, the oldest
 * make room; top lists are space-saving counters of HOT_TOP names). A
 * spike's alert names the top operations and IPs among the requests
 * counted (at least the half above the threshold's half). Keys pay two
 * bytes: the count at which their current window turns hot.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/learned.h"

#define HOUR_US (INT64_C(3600) * 1000000)
#define RISE 0.5f
#define FALL 0.1f
#define PEAKS 1.5f /* how many times the usual peak a spike is */
#define HOT_SLOTS 256
#define HOT_PROBE 8
#define HOT_TOP 4
#define HOT_REQS 3
#define HOT_NEVER UINT16_MAX

static const char *const names[] = {"rate.spike", NULL};

static const struct kw_option options[] = {
	{"window", KW_OPT_DURATION, "1m", "length of a counting window", "1d"},
	{"min_count", KW_OPT_INT, "20",
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
	uint8_t pad;
	uint16_t hot_at;   /* the newest window turns hot at this count; 0:
			      not known yet, HOT_NEVER: it cannot spike */
	uint16_t mean[24]; /* per hour of day (UTC): requests per window */
	uint16_t peak[24]; /* the same: the hour's busiest window */
};

/* One hot window: what its requests were since it turned hot. */
struct hot {
	uint64_t key; /* a hash of the key's fingerprint; 0: free */
	uint32_t idx; /* the window */
	uint32_t seen;
	struct {
		char op[48];
		uint32_t n;
	} ops[HOT_TOP];
	struct {
		struct kw_ip ip;
		uint32_t n;
	} ips[HOT_TOP];
	char reqs[HOT_REQS][64];
	unsigned nreqs;
};

struct rate {
	const struct kw_config *cfg;
	bool on;
	int64_t window;
	double min_count;
	double ratio;
	struct kw_win_clock clock;
	struct hot *hot; /* HOT_SLOTS */
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
	r->hot = calloc(HOT_SLOTS, sizeof(*r->hot));
	if (!r->hot) {
		free(r);
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	}
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
	float nb = bf_get(b[h]), all;

	if (bf_get(b[(h + 23) % 24]) > nb)
		nb = bf_get(b[(h + 23) % 24]);
	if (bf_get(b[(h + 1) % 24]) > nb)
		nb = bf_get(b[(h + 1) % 24]);
	all = bf_get(kw_bf16_top(b, 24)); /* the busiest hour */
	if (all / 4 > nb)
		nb = all / 4;
	return nb < 1 ? 1 : nb;
}

/* By how many times the mean the window is (x, against the option ratio),
 * and no more than how far it is above the busiest window the key has
 * shown at any hour (xp): a key whose work comes in bursts, at hours of
 * its own choosing, has a small mean, so a burst about two of the busiest
 * it has made (two CI runs at once, two people's tool runs on one role,
 * a person's usual tool run at a new hour) is not the anomaly its mean
 * makes it look (under 2.5 times that peak: low; under three times: at
 * most medium). */
static enum kw_severity severity(double ratio, double x, double xp)
{
	enum kw_severity sev = KW_SEV_LOW;

	if (x >= 25 * ratio)
		sev = KW_SEV_CRITICAL;
	else if (x >= 5 * ratio)
		sev = KW_SEV_HIGH;
	else if (x >= 2 * ratio)
		sev = KW_SEV_MEDIUM;
	if (xp < 2.5)
		return KW_SEV_LOW;
	if (xp < 3 && sev > KW_SEV_MEDIUM)
		return KW_SEV_MEDIUM;
	return sev;
}

/* ------------------------------------------------------------ hot windows */

static uint64_t key_hash(const struct kw_keyent *key)
{
	uint64_t a, b, h;

	memcpy(&a, key->fp, 8);
	memcpy(&b, key->fp + 8, 8);
	h = a * 0x9e3779b97f4a7c15u ^ b * 0xc2b2ae3d27d4eb4fu;
	return h ? h : 1;
}

static size_t hot_home(uint64_t key, uint32_t idx)
{
	return (size_t)((key ^ idx * 0x2545f4914f6cdd1du) >> 56) % HOT_SLOTS;
}

/* The window's entry; with make, a new one (the oldest window near its
 * home makes room). NULL when none. */
static struct hot *hot_find(struct rate *r, uint64_t key, uint32_t idx,
			    bool make)
{
	size_t home = hot_home(key, idx);
	struct hot *victim = NULL;

	for (size_t i = 0; i < HOT_PROBE; i++) {
		struct hot *h = &r->hot[(home + i) % HOT_SLOTS];

		if (h->key == key && h->idx == idx)
			return h;
		if (!victim || !h->key || (victim->key && h->idx < victim->idx))
			victim = h;
	}
	if (!make)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	victim->key = key;
	victim->idx = idx;
	return victim;
}

/* Space saving over HOT_TOP slots: a name counted before, else a free
 * slot, else the least counted one, which keeps its count (plus one). */
static size_t top_slot(const uint32_t *counts, size_t stride, size_t i_found,
		       size_t i_stop)
{
	size_t min = 0;

	if (i_found < HOT_TOP)
		return i_found;
	if (i_stop < HOT_TOP)
		return i_stop;
	for (size_t i = 1; i < HOT_TOP; i++) {
		if (*(const uint32_t *)((const char *)counts + i * stride) <
		    *(const uint32_t *)((const char *)counts + min * stride))
			min = i;
	}
	return min;
}

static void hot_count(struct hot *h, const struct kw_event *ev)
{
	size_t n = ev->op.n < sizeof(h->ops[0].op) ? ev->op.n
						   : sizeof(h->ops[0].op) - 1;
	size_t i, found = HOT_TOP;

	h->seen++;
	for (i = 0; n && i < HOT_TOP && h->ops[i].n; i++) {
		if (strlen(h->ops[i].op) == n &&
		    !memcmp(h->ops[i].op, ev->op.p, n)) {
			found = i;
			break;
		}
	}
	if (n) {
		i = top_slot(&h->ops[0].n, sizeof(h->ops[0]), found, i);
		if (i != found) {
			memcpy(h->ops[i].op, ev->op.p, n);
			h->ops[i].op[n] = '\0';
		}
		h->ops[i].n++;
	}
	found = HOT_TOP;
	for (i = 0; ev->ip.family && i < HOT_TOP && h->ips[i].n; i++) {
		if (!memcmp(&h->ips[i].ip, &ev->ip, sizeof(ev->ip))) {
			found = i;
			break;
		}
	}
	if (ev->ip.family) {
		i = top_slot(&h->ips[0].n, sizeof(h->ips[0]), found, i);
		h->ips[i].ip = ev->ip;
		h->ips[i].n++;
	}
	if (ev->request_id.n && ev->request_id.n < sizeof(h->reqs[0]) &&
	    h->nreqs < HOT_REQS) {
		memcpy(h->reqs[h->nreqs], ev->request_id.p, ev->request_id.n);
		h->reqs[h->nreqs++][ev->request_id.n] = '\0';
	}
}

/* The count at which a new window of this key turns hot: half its spike
 * threshold (HOT_NEVER while the key learns). */
static uint16_t hot_threshold(const struct rate *r, const struct kw_keyent *key,
			      const struct rate_key *st, int64_t ts)
{
	unsigned h = (unsigned)(ts / HOUR_US % 24);
	double t = r->min_count;
	float mean, peak;

	if (kw_detect_learning(r->cfg, key, ts))
		return HOT_NEVER;
	mean = expected(st->mean, h);
	peak = expected(st->peak, h);
	if (r->ratio * mean > t)
		t = r->ratio * mean;
	if (PEAKS * peak > t)
		t = PEAKS * peak;
	t /= 2;
	return t < 1 ? 1 : t >= HOT_NEVER ? HOT_NEVER - 1 : (uint16_t)t;
}

static int by_requests(const void *x, const void *y)
{
	const json_t *a = x, *b = y;
	json_int_t na = json_integer_value(json_object_get(a, "requests"));
	json_int_t nb = json_integer_value(json_object_get(b, "requests"));

	return na != nb ? (na < nb ? 1 : -1) : 0;
}

/* [{name: .., "requests": n}] most first, and the first one's name; NULL
 * when out of memory (the alert is then marked incomplete). */
static json_t *top_list(const char *field, const char *const *values,
			const uint32_t *counts, size_t n)
{
	json_t *items[HOT_TOP], *arr = json_array();
	size_t k = 0;

	for (size_t i = 0; i < n && i < HOT_TOP; i++) {
		if (counts[i])
			items[k++] = json_pack("{s:s,s:i}", field, values[i],
					       "requests", (int)counts[i]);
	}
	for (size_t i = 1; i < k; i++) /* insertion sort: stable, tiny */
		for (size_t j = i;
		     j > 0 && by_requests(items[j - 1], items[j]) > 0; j--) {
			json_t *t = items[j];

			items[j] = items[j - 1];
			items[j - 1] = t;
		}
	for (size_t i = 0; i < k; i++)
		kw_alert_list_add(&arr, items[i]);
	return arr;
}

/* What made the spike, into its alert: the top lists, the requests they
 * were counted over, the first request ids; the entry is freed. Returns
 * a phrase for the summary ("; most were charges.list (190) from
 * 203.0.113.9 (170)") in buf. */
static void hot_evidence(struct rate *r, struct kw_alert *a, uint64_t key,
			 uint32_t idx, char *buf, size_t cap)
{
	struct hot *h = hot_find(r, key, idx, false);
	const char *ops[HOT_TOP], *ips[HOT_TOP];
	char ipbuf[HOT_TOP][64];
	uint32_t opn[HOT_TOP], ipn[HOT_TOP];
	json_t *tops, *topi;
	const char *op0, *ip0;

	buf[0] = '\0';
	if (!h)
		return;
	for (size_t i = 0; i < HOT_TOP; i++) {
		ops[i] = h->ops[i].op;
		opn[i] = h->ops[i].n;
		ips[i] = h->ips[i].n ? kw_ip_format(&h->ips[i].ip, ipbuf[i],
						    sizeof(ipbuf[i]))
				     : "";
		ipn[i] = h->ips[i].n;
	}
	tops = top_list("op", ops, opn, HOT_TOP);
	topi = top_list("ip", ips, ipn, HOT_TOP);
	op0 = json_string_value(json_object_get(json_array_get(tops, 0), "op"));
	ip0 = json_string_value(json_object_get(json_array_get(topi, 0), "ip"));
	if (op0 && ip0)
		snprintf(buf, cap,
			 "; of the last %u, %lld were %s and %lld came "
			 "from %s",
			 h->seen,
			 (long long)json_integer_value(json_object_get(
				 json_array_get(tops, 0), "requests")),
			 op0,
			 (long long)json_integer_value(json_object_get(
				 json_array_get(topi, 0), "requests")),
			 ip0);
	/* An empty list is left out; a list that could not be built (NULL)
	 * marks the alert incomplete. */
	if (!tops || json_array_size(tops))
		kw_alert_evidence_json(a, "top_ops", tops);
	else
		json_decref(tops);
	if (!topi || json_array_size(topi))
		kw_alert_evidence_json(a, "top_ips", topi);
	else
		json_decref(topi);
	kw_alert_evidence_int(a, "top_of_requests", h->seen);
	for (unsigned i = 0; i < h->nreqs; i++)
		kw_alert_add_request(a, kw_str_c(h->reqs[i]));
	h->key = 0;
}

/* ----------------------------------------------------------------- spikes */

static void spike(struct close_ctx *cx, uint32_t idx, int64_t start, unsigned n,
		  float exp, float peak)
{
	struct rate *r = cx->r;
	struct kw_event ev;
	struct kw_alert a;
	char label[256], t[40], made[256];
	float top = bf_get(kw_bf16_top(cx->st->peak, 24));
	double x = n / (double)exp, xp = n / (double)(top > peak ? top
						      : peak < 1 ? 1
								 : peak);

	memset(&ev, 0, sizeof(ev));
	ev.ts = start + r->window;
	if (kw_detect_alert(&a, cx->emit, "rate.spike",
			    kw_learned_sev(cx->key, severity(r->ratio, x, xp)),
			    &ev, cx->key) != KW_OK)
		return;
	kw_alert_evidence_int(&a, "requests", n);
	kw_alert_evidence_json(&a, "baseline", json_real(round(exp * 10) / 10));
	kw_alert_evidence_json(&a, "baseline_peak",
			       json_real(round(peak * 10) / 10));
	kw_alert_evidence_json(&a, "ratio", json_real(round(x * 10) / 10));
	kw_alert_evidence_time(&a, "window_start", start);
	kw_alert_evidence_int(&a, "window_seconds", r->window / 1000000);
	kw_alert_evidence_time(&a, "learned_since", cx->key->first_seen);
	hot_evidence(r, &a, key_hash(cx->key), idx, made, sizeof(made));
	kw_time_format(start, t, sizeof(t));
	kw_alert_summary(&a,
			 "%s made %u requests in the %lld s from %s, %.1fx "
			 "its usual %.1f at this time of day (busiest usual: "
			 "%.0f)%s",
			 kw_detect_key_label(cx->key, label, sizeof(label)), n,
			 (long long)(r->window / 1000000), t, x, exp, peak,
			 made);
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
	float exp = 0, peak = 0;
	bool spiked = false;
	unsigned capped = n;

	if (hour != st->hour) {
		fold(r, st);
		new_hour(st, hour);
	}
	/* What the hour expects is looked up only for a window that could
	 * be a spike (most hold a request or two, under min_count). */
	if (n >= r->min_count) {
		exp = expected(st->mean, hour % 24);
		peak = expected(st->peak, hour % 24);
		spiked =
			n >= r->ratio * exp && n >= PEAKS * peak &&
			!kw_detect_learning(r->cfg, cx->key, start + r->window);
	}
	if (spiked) {
		spike(cx, idx, start, n, exp, peak);
		st->hfired = 1;
		capped = (unsigned)fmaxf(PEAKS * peak, (float)(r->ratio * exp));
	} else if (st->hot_at && n >= st->hot_at) {
		struct hot *h = hot_find(r, key_hash(cx->key), idx, false);

		if (h)
			h->key = 0; /* hot, but no spike: forget it */
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
	uint32_t idx;

	if (!r->on)
		return;
	idx = kw_win_clock_index(&r->clock, ev->ts);
	slot = kw_win_slot(&cx.st->win, idx, r->clock.upto, close_window, &cx);
	if (!slot)
		return;
	if (!slot->n[0])
		cx.st->hot_at = hot_threshold(r, key, cx.st, ev->ts);
	kw_win_bump(&slot->n[0]);
	/* What close_window may do beyond learning: a spike (min_count
	 * requests at least), or forgetting the window's hot entry. */
	if (slot->n[0] >= r->min_count)
		kw_win_urgent(&cx.st->win);
	if (cx.st->hot_at && cx.st->hot_at != HOT_NEVER &&
	    slot->n[0] >= cx.st->hot_at) {
		kw_win_urgent(&cx.st->win);
		hot_count(hot_find(r, key_hash(key), idx, true), ev);
	}
}

static void rate_tick(void *self, int64_t watermark, const struct kw_emit *emit)
{
	struct rate *r = self;

	(void)emit;
	kw_win_clock_tick(&r->clock, watermark);
}

/* Close what ends by the watermark: rate_flush's work when there is some,
 * out of line so that the answer after each event sets none of it up. */
static __attribute__((noinline)) int64_t
rate_close(struct rate *r, int64_t watermark, struct kw_keyent *key,
	   struct rate_key *st, const struct kw_emit *emit)
{
	struct close_ctx cx = {r, key, st, emit};

	kw_win_close(&st->win, kw_win_upto(watermark, r->window), close_window,
		     &cx);
	if (watermark == INT64_MAX) {
		/* Everything closed: the current hour is over too. */
		fold(r, st);
		new_hour(st, 0);
	}
	return kw_win_due(&st->win, r->window);
}

static int64_t rate_flush(void *self, int64_t watermark, struct kw_keyent *key,
			  void *state, const struct kw_emit *emit)
{
	struct rate *r = self;
	struct rate_key *st = state;

	if (!r->on)
		return KW_DETECT_NONE_OPEN;
	if (watermark == INT64_MIN) /* asked after each event */
		return kw_win_due(&st->win, r->window);
	return rate_close(r, watermark, key, st, emit);
}

static bool rate_window(void *self, size_t *offset, int64_t *len)
{
	const struct rate *r = self;

	*offset = offsetof(struct rate_key, win);
	*len = r->window;
	return r->on;
}

/* What the key learnt: per hour of the day, the usual count and the
 * spike threshold a window is held to (close_window's test), per minute. */
static void rate_describe(void *self, const struct kw_keyent *key,
			  const void *state, struct kw_detect_profile *out)
{
	const struct rate *r = self;
	const struct rate_key *st = state;
	double per_minute = 60e6 / (double)r->window;
	bool learnt = false;

	(void)key;
	if (!r->on)
		return;
	out->has_rate = true;
	for (unsigned h = 0; h < 24; h++)
		learnt = learnt || bf_get(st->mean[h]) > 0;
	for (unsigned h = 0; learnt && h < 24; h++) {
		double t = r->min_count;

		if (r->ratio * expected(st->mean, h) > t)
			t = r->ratio * expected(st->mean, h);
		if (PEAKS * expected(st->peak, h) > t)
			t = PEAKS * expected(st->peak, h);
		out->usual[h] = (float)(expected(st->mean, h) * per_minute);
		out->spike_at[h] = (float)(t * per_minute);
	}
}

static void rate_destroy(void *self)
{
	struct rate *r = self;

	if (r)
		free(r->hot);
	free(r);
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
	.state_version = 1,
	.create = rate_create,
	.observe = rate_observe,
	.tick = rate_tick,
	.flush = rate_flush,
	.window = rate_window,
	.describe = rate_describe,
	.destroy = rate_destroy,
	.validate = rate_validate,
};
