/*
 * errors.c - rate.errors and auth.failures: failed requests.
 *
 * rate.errors counts a key's failed requests (4xx) per window (default 5
 * minutes); a 401 or 403 weighs twice, because a refusal says someone
 * tried what the key may not do. Two rules:
 *   - the floor: at least `floor` (default 20) denied requests (401/403)
 *     in one window fire with no history at all, even while the key is
 *     learning, so a brand-new key hammering forbidden endpoints is caught;
 *   - the baseline: after the learning period, a weighted count of at
 *     least `min_count` that is `ratio` times the key's usual failures per
 *     window. The usual failures are an average over the windows with
 *     traffic that rises fast and falls slowly (as rate.c's peaks).
 *
 * auth.failures groups denied requests by source IP across keys, in a
 * bounded table the family owns of (IP, window) pairs: 4096 of them, in
 * 8-way buckets, so an IP keeps a few windows at once and a request that
 * comes late counts in its own window without resetting a newer one (a
 * new pair takes a free slot, else the one whose window is oldest; a
 * request older than every pair of a full bucket is not counted). Each
 * pair holds the set of keys tried (a key seen again counts once). It
 * spans keys, so it is the family's
 * observe_global(): the engine feeds it every denied request of every key
 * in event order, on one instance, however many threads read the log. One
 * IP whose requests are denied for `keys` (default 5) different keys within
 * a window is guessing keys or trying a stolen list, and so is one IP with
 * many requests on keys that do not exist (each is a key of its own here).
 * It fires once per IP and window, about the key that crossed the line;
 * the alert's id is the IP's and the window's (detect/errors.h), not the
 * key's, so that whichever instance counts the pair (daemon/byip.c, a
 * stage keyed by IP behind Kafka) raises it under the same id. Denied requests
 * made with no key at all count as one more key tried (they raise nothing by
 * themselves: an alert is about a key); the engine gives them to the same
 * instance (observe_unauth), in the same order.
 *
 * Per key: the open windows and the usual failures. 48 bytes.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/errors.h"
#include "detect/learned.h"

#define IP_BUCKETS 512
#define IP_WAYS 8
#define IP_KEYS 8 /* distinct keys remembered per IP and window */
#define RISE 0.3f
#define FALL 0.05f

static const char *const names[] = {"rate.errors", "auth.failures", NULL};

static const struct kw_option options[] = {
	{"window", KW_OPT_DURATION, "5m",
	 "length of a counting window (both detectors)", "1d"},
	{"floor", KW_OPT_INT, "20",
	 "rate.errors: denied requests in a window that fire with no history",
	 "65535"},
	{"min_count", KW_OPT_INT, "10",
	 "rate.errors: fewest weighted failures that can exceed the baseline",
	 "65535"},
	{"ratio", KW_OPT_NUMBER, "4",
	 "rate.errors: how many times the usual failures a window must reach",
	 "1000"},
	{"keys", KW_OPT_INT, "5",
	 "auth.failures: keys denied to one IP in a window (at most the 8 it "
	 "remembers)",
	 "8"},
	{NULL, 0, NULL, NULL},
};

/* c.n[0]: requests, n[1]: failures (4xx), n[2]: denied (401, 403). */
struct errors_key {
	struct kw_win win;
	float usual; /* weighted failures per window with traffic */
	uint32_t windows;
};

struct ip_slot {
	uint64_t ip; /* hash of the address; 0: free */
	uint32_t win;
	uint16_t denied;
	uint8_t nkeys;
	uint8_t alerted;
	uint32_t keys[IP_KEYS];
};

struct errors {
	const struct kw_config *cfg;
	bool on_errors, on_auth;
	int64_t window;
	double floor, min_count, ratio;
	struct kw_auth_conf auth;
	struct kw_win_clock clock;
	struct ip_slot ips[IP_BUCKETS][IP_WAYS];
};

struct close_ctx {
	struct errors *e;
	struct kw_keyent *key;
	struct errors_key *st;
	const struct kw_emit *emit;
};

static enum kw_status errors_create(const struct kw_detector_env *env,
				    void **self, struct kw_error *err)
{
	const struct kw_config *cfg = env->cfg;
	struct errors *e = calloc(1, sizeof(*e));

	if (!e)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	e->cfg = cfg;
	e->on_errors = kw_detect_enabled(cfg, "rate.errors");
	e->window = kw_learned_duration(cfg, "rate.errors", "window",
					INT64_C(300) * 1000000);
	e->floor = kw_learned_num(cfg, "rate.errors", "floor", 20);
	e->min_count = kw_learned_num(cfg, "rate.errors", "min_count", 10);
	e->ratio = kw_learned_num(cfg, "rate.errors", "ratio", 4);
	kw_auth_conf(cfg, &e->auth);
	e->on_auth = e->auth.on;
	kw_win_clock_init(&e->clock, e->window);
	*self = e;
	return KW_OK;
}

static void errors_alert(struct close_ctx *cx, int64_t start,
			 const struct kw_win_counts *c, bool floor,
			 double weighted)
{
	struct errors *e = cx->e;
	struct kw_event ev;
	struct kw_alert a;
	char label[256], t[40];
	enum kw_severity sev = floor ? KW_SEV_HIGH : KW_SEV_MEDIUM;

	if (!floor && weighted >= 5 * e->ratio * cx->st->usual &&
	    c->n[2] * 2 >= c->n[1])
		sev = KW_SEV_HIGH;
	memset(&ev, 0, sizeof(ev));
	ev.ts = start + e->window;
	if (kw_detect_alert(&a, cx->emit, "rate.errors",
			    kw_learned_sev(cx->key, sev), &ev,
			    cx->key) != KW_OK)
		return;
	kw_time_format(start, t, sizeof(t));
	if (floor)
		kw_alert_summary(
			&a,
			"%s had %u requests denied (401/403) of %u "
			"in the %lld s from %s",
			kw_detect_key_label(cx->key, label, sizeof(label)),
			c->n[2], c->n[0], (long long)(e->window / 1000000), t);
	else
		kw_alert_summary(
			&a,
			"%s had %u failed requests (%u denied) of %u "
			"in the %lld s from %s; it usually has %.1f",
			kw_detect_key_label(cx->key, label, sizeof(label)),
			c->n[1], c->n[2], c->n[0],
			(long long)(e->window / 1000000), t, cx->st->usual);
	kw_alert_evidence_int(&a, "requests", c->n[0]);
	kw_alert_evidence_int(&a, "failed", c->n[1]);
	kw_alert_evidence_int(&a, "denied", c->n[2]);
	if (floor)
		kw_alert_evidence_int(&a, "floor", (int64_t)e->floor);
	else
		kw_alert_evidence_json(
			&a, "baseline",
			json_real((double)(int64_t)(cx->st->usual * 10) / 10));
	kw_alert_evidence_time(&a, "window_start", start);
	kw_alert_evidence_int(&a, "window_seconds", e->window / 1000000);
	kw_alert_set_id(&a, "errors");
	kw_emit(cx->emit, &a);
}

static void close_window(void *ctx, uint32_t idx, const struct kw_win_counts *c)
{
	struct close_ctx *cx = ctx;
	struct errors_key *st = cx->st;
	struct errors *e = cx->e;
	int64_t start = (int64_t)idx * e->window;
	float w = (float)c->n[1] + (float)c->n[2];
	float usual = st->usual < 1 ? 1 : st->usual;
	bool learning = kw_detect_learning(e->cfg, cx->key, start + e->window);
	bool fired = false;

	if (c->n[2] >= e->floor) {
		errors_alert(cx, start, c, true, w);
		fired = true;
	} else if (!learning && w >= e->min_count && w >= e->ratio * usual) {
		errors_alert(cx, start, c, false, w);
		fired = true;
	}
	if (fired && !learning)
		w = (float)(e->ratio * usual); /* do not learn an attack */
	if (st->windows == 0)
		st->usual = w;
	else
		st->usual += (w > st->usual ? RISE : FALL) * (w - st->usual);
	if (st->windows < UINT32_MAX)
		st->windows++;
}

/* --- auth.failures: one IP, many keys ------------------------------------ */

static uint64_t ip_hash(const struct kw_ip *ip)
{
	uint64_t h = 1469598103934665603ull;

	h = (h ^ ip->family) * 1099511628211ull;
	for (int i = 0; i < 16; i++)
		h = (h ^ ip->addr[i]) * 1099511628211ull;
	return h ? h : 1;
}

/* The slot of (h, win): found, else a free one, else the one whose
 * window is oldest, unless win is older than every window of the full
 * bucket (NULL: a late request whose pair is gone counts nowhere). */
static struct ip_slot *ip_find(struct errors *e, uint64_t h, uint32_t win)
{
	struct ip_slot *b = e->ips[h % IP_BUCKETS];
	struct ip_slot *victim = NULL;

	for (int i = 0; i < IP_WAYS; i++) {
		if (b[i].ip == h && b[i].win == win)
			return &b[i];
		if (!victim ||
		    (victim->ip && (!b[i].ip || b[i].win < victim->win)))
			victim = &b[i];
	}
	if (victim->ip && victim->win > win)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	victim->ip = h;
	victim->win = win;
	return victim;
}

/* The first 8 hex digits of the fingerprint, as a number. */
static uint32_t key_hash(const struct kw_keyent *key)
{
	uint32_t h = 0;

	for (int i = 0; i < 8; i++) {
		char c = key->fp[i];

		h = h << 4 | (uint32_t)(c >= 'a' ? c - 'a' + 10 : c - '0');
	}
	return h;
}

void kw_auth_conf(const struct kw_config *cfg, struct kw_auth_conf *out)
{
	double keys = kw_learned_num(cfg, "auth.failures", "keys", 5);

	out->on = kw_detect_enabled(cfg, "auth.failures");
	out->window = kw_learned_duration(cfg, "rate.errors", "window",
					  INT64_C(300) * 1000000);
	out->keys = keys < 2 ? 2 : (unsigned)keys;
}

void kw_auth_alert(const struct kw_auth_conf *c, const struct kw_event *ev,
		   const struct kw_keyent *key, unsigned nkeys, unsigned denied,
		   const struct kw_emit *emit)
{
	struct kw_alert a;
	char label[256], ip[64], subject[80], from[32];
	const char *parts[3];

	if (kw_detect_alert(&a, emit, "auth.failures", KW_SEV_HIGH, ev, key) !=
	    KW_OK)
		return;
	kw_ip_format(&ev->ip, ip, sizeof(ip));
	kw_alert_summary(&a,
			 "IP %s had requests denied for %u different keys "
			 "within %lld s, the last with %s: someone is trying "
			 "keys",
			 ip, nkeys, (long long)(c->window / 1000000),
			 kw_detect_key_label(key, label, sizeof(label)));
	kw_alert_evidence_str(&a, "ip", kw_str_c(ip));
	kw_alert_evidence_int(&a, "keys", nkeys);
	kw_alert_evidence_int(&a, "denied", denied);
	kw_alert_evidence_int(&a, "status", ev->status);
	kw_alert_evidence_int(&a, "window_seconds", c->window / 1000000);
	kw_alert_suppress_str(&a, "ip", kw_str_c(ip));
	/* The pair's id: the same whichever key crossed the line. */
	snprintf(subject, sizeof(subject), "ip=%s", ip);
	snprintf(from, sizeof(from), "window=%lld",
		 (long long)kw_win_index(ev->ts, c->window));
	parts[0] = a.detector;
	parts[1] = subject;
	parts[2] = from;
	kw_alert_make_id(a.id, "kwa_", parts, 3);
	kw_emit(emit, &a);
}

/* A denied request from ev's IP. key NULL: a request made without a key,
 * which counts as one more key tried (hash 0) but raises nothing itself:
 * an alert is about a key. */
static void auth_observe(struct errors *e, const struct kw_event *ev,
			 const struct kw_keyent *key,
			 const struct kw_emit *emit)
{
	uint32_t win = kw_win_clock_index(&e->clock, ev->ts);
	uint32_t kh = key ? key_hash(key) : 0;
	struct ip_slot *s;
	bool known = false;

	if (!ev->ip.family)
		return;
	s = ip_find(e, ip_hash(&ev->ip), win);
	if (!s)
		return;
	if (s->denied < UINT16_MAX)
		s->denied++;
	for (unsigned i = 0; i < s->nkeys && i < IP_KEYS; i++)
		known = known || s->keys[i] == kh;
	if (known)
		return;
	if (s->nkeys < IP_KEYS)
		s->keys[s->nkeys] = kh;
	if (s->nkeys < UINT8_MAX)
		s->nkeys++;
	if (key && !s->alerted && s->nkeys >= e->auth.keys) {
		s->alerted = 1;
		kw_auth_alert(&e->auth, ev, key, s->nkeys, s->denied, emit);
	}
}

/* --- the family ---------------------------------------------------------- */

static void errors_observe(void *self, const struct kw_event *ev,
			   struct kw_keyent *key, void *state,
			   const struct kw_emit *emit)
{
	struct errors *e = self;
	struct close_ctx cx = {e, key, state, emit};
	struct kw_win_counts *slot;
	bool denied = ev->status == 401 || ev->status == 403;

	if (e->on_auth && denied && ev->ip.family &&
	    !kw_emit_global(emit, ev, key))
		auth_observe(e, ev, key, emit);
	if (!e->on_errors)
		return;
	slot = kw_win_slot(&cx.st->win, kw_win_clock_index(&e->clock, ev->ts),
			   e->clock.upto, close_window, &cx);
	if (!slot)
		return;
	kw_win_bump(&slot->n[0]);
	if (ev->status >= 400 && ev->status < 500)
		kw_win_bump(&slot->n[1]);
	if (denied)
		kw_win_bump(&slot->n[2]);
	/* close_window raises only from the floor of denials, or from
	 * min_count errors and denials together. */
	if (slot->n[2] >= e->floor ||
	    (double)slot->n[1] + slot->n[2] >= e->min_count)
		kw_win_urgent(&cx.st->win);
}

static void errors_observe_unauth(void *self, const struct kw_event *ev,
				  const struct kw_emit *emit)
{
	struct errors *e = self;

	if (e->on_auth && (ev->status == 401 || ev->status == 403))
		auth_observe(e, ev, NULL, emit);
}

static void errors_global(void *self, const struct kw_event *ev,
			  const struct kw_keyent *key,
			  const struct kw_emit *emit)
{
	auth_observe(self, ev, key, emit);
}

static void errors_tick(void *self, int64_t watermark,
			const struct kw_emit *emit)
{
	struct errors *e = self;

	(void)emit;
	kw_win_clock_tick(&e->clock, watermark);
}

/* errors_flush's closing, out of line (rate.c's rate_close says why). */
static __attribute__((noinline)) int64_t
errors_close(struct errors *e, int64_t watermark, struct kw_keyent *key,
	     struct errors_key *st, const struct kw_emit *emit)
{
	struct close_ctx cx = {e, key, st, emit};

	kw_win_close(&st->win, kw_win_upto(watermark, e->window), close_window,
		     &cx);
	return kw_win_due(&st->win, e->window);
}

static int64_t errors_flush(void *self, int64_t watermark,
			    struct kw_keyent *key, void *state,
			    const struct kw_emit *emit)
{
	struct errors *e = self;
	struct errors_key *st = state;

	if (!e->on_errors)
		return KW_DETECT_NONE_OPEN;
	if (watermark == INT64_MIN) /* asked after each event */
		return kw_win_due(&st->win, e->window);
	return errors_close(e, watermark, key, st, emit);
}

static bool errors_window(void *self, size_t *offset, int64_t *len)
{
	const struct errors *e = self;

	*offset = offsetof(struct errors_key, win);
	*len = e->window;
	return e->on_errors;
}

static void errors_destroy(void *self)
{
	free(self);
}

/* The usual failures are a smoothed weighted count per window: finite,
 * not negative, and within what windows of 16-bit counters can weigh. */
static bool errors_validate(const void *state, char *why, size_t cap)
{
	const struct errors_key *st = state;

	if (!kw_win_valid(&st->win, why, cap))
		return false;
	if (!isfinite(st->usual) || st->usual < 0 || st->usual > 1e6f) {
		snprintf(why, cap, "rate.errors: usual failures out of range");
		return false;
	}
	return true;
}

const struct kw_detector_ops kw_detect_errors = {
	.name = "errors",
	.kind = KW_DETECTOR_LEARNED,
	.detectors = names,
	.options = options,
	.state_size = sizeof(struct errors_key),
	.state_version = 1,
	.validate = errors_validate,
	.create = errors_create,
	.observe = errors_observe,
	.observe_unauth = errors_observe_unauth,
	.tick = errors_tick,
	.flush = errors_flush,
	.window = errors_window,
	.observe_global = errors_global,
	.destroy = errors_destroy,
};
