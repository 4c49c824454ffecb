/*
 * harvest.c - ops.harvest: credential harvesting and bulk reading caught by
 * counting, with no baseline needed. The model declares counters
 * (models/README.md, "Counters"): distinct secrets read, distinct
 * parameters decrypted, instances whose user data or Windows password was
 * read, distinct sensitive operations refused, list pages by a key that is
 * still learning. Operations feed them with the names their records
 * carry (a secret id, a parameter name, an instance id); a counter can
 * also take every event of a kind (refused and sensitive, say). A counter
 * that reaches its threshold within its window raises one alert with the
 * names it counted (never values).
 *
 * The one idea: per key, three window slots of 64 bytes, each a 256-bit
 * filter of the names counted in it (a name's bit set: counted), so the
 * state is fixed in size however many names a thief reads. Collisions can
 * only undercount (a few names in a hundred past the thresholds in use),
 * never invent a name. A window starts at the first counted call and
 * lasts the counter's window; a call after it starts a new one. A key that
 * has raised a counter before has shown that reading so much is its habit
 * (a secrets operator syncing every hour): a later window raises again
 * only past twice the highest count seen, so it is told once, not every
 * hour. Those peaks are kept for the last PEAKS counters that raised (a
 * key that raises a fifth forgets the one with the lowest peak: told
 * once more, should it come back).
 *
 * Severity: the counter's, one step lower when every counted call was
 * refused (someone tried and failed; unless refusals are what the counter
 * counts), and one lower for a test-mode key.
 *
 * Per key: 3 slots and 4 peaks. 208 bytes (layout version 2; version 1
 * kept a peak for each of the 16 counters a model may have, in 224), all
 * of them the family's overflow part: a key table gives them to a key at
 * its first counted call, and most keys never make one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/learned.h"

#define SLOTS 3
#define PEAKS 4
#define FILTER_BITS 256
#define FIRST_NAME 24

static const char *const names[] = {"ops.harvest", NULL};

enum { SLOT_ACCEPTED = 1, SLOT_ALERTED = 2 };

struct slot {
	uint32_t start;	 /* window start, seconds of event time */
	uint8_t counter; /* 1 + the counter's index; 0: free */
	uint8_t flags;	 /* SLOT_* */
	uint16_t count;	 /* names (or calls) counted in the window */
	uint8_t bits[FILTER_BITS / 8];
	char first[FIRST_NAME]; /* the first name counted, cut */
};

/* The highest count that raised, of one counter. */
struct peak {
	uint8_t counter; /* 1 + the counter's index; 0: free */
	uint8_t pad;
	uint16_t count;
};

struct harvest_key {
	struct slot slot[SLOTS];
	struct peak peak[PEAKS];
};

struct harvest {
	const struct kw_config *cfg;
	const struct kw_models *models;
	bool on;
	/* counters fed by a kind of event, not by named operations: their
	 * numbers and what the models say of them (borrowed) */
	size_t selected[KW_MODELS_MAX_COUNTERS];
	const struct kw_counter_info *selected_info[KW_MODELS_MAX_COUNTERS];
	size_t nselected;
};

static enum kw_status hv_create(const struct kw_detector_env *env, void **self,
				struct kw_error *err)
{
	struct harvest *h = calloc(1, sizeof(*h));
	size_t n = kw_models_counter_count(env->models);

	if (!h)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	h->cfg = env->cfg;
	h->models = env->models;
	h->on = kw_detect_enabled(env->cfg, "ops.harvest") && n > 0;
	for (size_t i = 0; i < n; i++) {
		const struct kw_counter_info *ci =
			kw_models_counter(env->models, i);

		if (ci->select) {
			h->selected_info[h->nselected] = ci;
			h->selected[h->nselected++] = i;
		}
	}
	*self = h;
	return KW_OK;
}

static bool refused(const struct kw_event *ev)
{
	return ev->status == 401 || ev->status == 402 || ev->status == 403;
}

/* The slot of counter c for a call at t (s): its open window, a free slot,
 * or the one whose window started first. */
static struct slot *slot_for(struct harvest_key *st,
			     const struct kw_counter_info *ci, size_t c,
			     uint32_t t)
{
	struct slot *s = NULL, *oldest = &st->slot[0];
	uint32_t len = (uint32_t)(ci->window / 1000000);

	for (size_t i = 0; i < SLOTS; i++) {
		if (st->slot[i].counter == c + 1) {
			s = &st->slot[i];
			break;
		}
		if (!st->slot[i].counter && (!s || s->counter))
			s = &st->slot[i];
		if (st->slot[i].start < oldest->start)
			oldest = &st->slot[i];
	}
	if (!s)
		s = oldest;
	if (s->counter == c + 1 && t >= s->start && t - s->start < len)
		return s;
	if (s->counter == c + 1 && t < s->start) {
		s->start = t; /* a little late: the window starts earlier */
		return s;
	}
	memset(s, 0, sizeof(*s));
	s->counter = (uint8_t)(c + 1);
	s->start = t;
	return s;
}

/* A window as people write it: "10m", "1h", "90s". */
static void window_text(int64_t us, char *buf, size_t cap)
{
	int64_t s = us / 1000000;

	if (s % 3600 == 0)
		snprintf(buf, cap, "%lldh", (long long)(s / 3600));
	else if (s % 60 == 0)
		snprintf(buf, cap, "%lldm", (long long)(s / 60));
	else
		snprintf(buf, cap, "%llds", (long long)s);
}

/* A name into a slot, keeping its end when it is too long (the end tells
 * a name from its neighbours). */
static void copy_name(char *dst, size_t cap, const char *src, size_t n)
{
	size_t skip;

	if (n < cap) {
		memcpy(dst, src, n);
		dst[n] = '\0';
		return;
	}
	if (n >= 3 && !memcmp(src, "\xe2\x80\xa6", 3)) { /* cut already */
		src += 3;
		n -= 3;
	}
	skip = n - (cap - 4);
	while (skip < n && ((unsigned char)src[skip] & 0xC0) == 0x80)
		skip++;
	snprintf(dst, cap, "\xe2\x80\xa6%.*s", (int)(n - skip), src + skip);
}

static void raise_alert(const struct harvest *h, const struct kw_event *ev,
			struct kw_keyent *key, const struct kw_counter_info *ci,
			const struct slot *s, const char *const *shown,
			size_t nshown, const struct kw_emit *emit)
{
	enum kw_severity sev = ci->severity;
	/* every call refused, where refusals are not what is counted */
	bool denied = !(s->flags & SLOT_ACCEPTED) &&
		      !(ci->select & KW_SELECT_REFUSED);
	struct kw_alert a;
	char label[256], win[32], subject[96], list[300];
	json_t *arr;
	size_t len = 0;

	(void)h;
	if (denied && sev > KW_SEV_LOW)
		sev--;
	if (kw_detect_alert(&a, emit, "ops.harvest", kw_learned_sev(key, sev),
			    ev, key) != KW_OK)
		return;
	window_text(ci->window, win, sizeof(win));
	arr = json_array();
	list[0] = '\0';
	if (s->first[0] && arr)
		json_array_append_new(arr, json_string(s->first));
	for (size_t i = 0; i < nshown && arr && json_array_size(arr) < 5; i++) {
		if (!strcmp(shown[i], s->first))
			continue;
		json_array_append_new(arr, json_string(shown[i]));
	}
	for (size_t i = 0; arr && i < json_array_size(arr); i++) {
		int w = snprintf(list + len, sizeof(list) - len, "%s%s",
				 i ? ", " : ": ",
				 json_string_value(json_array_get(arr, i)));

		if (w < 0 || (size_t)w >= sizeof(list) - len)
			break;
		len += (size_t)w;
	}
	kw_alert_summary(&a, "%s: %u %s within %s (threshold %u)%s%s",
			 kw_detect_key_label(key, label, sizeof(label)),
			 (unsigned)s->count, ci->what, win,
			 (unsigned)ci->threshold,
			 denied ? ", each call refused by the API" : "", list);
	kw_alert_evidence_str(&a, "counter", kw_str_c(ci->name));
	kw_alert_evidence_str(&a, "counted", kw_str_c(ci->what));
	kw_alert_evidence_int(&a, "count", s->count);
	kw_alert_evidence_int(&a, "threshold", ci->threshold);
	kw_alert_evidence_str(&a, "window", kw_str_c(win));
	kw_alert_evidence_time(&a, "since", (int64_t)s->start * 1000000);
	if (arr && json_array_size(arr))
		kw_alert_evidence_json(&a, "names", arr);
	else
		json_decref(arr);
	kw_alert_evidence_json(&a, "refused",
			       json_boolean(!(s->flags & SLOT_ACCEPTED)));
	kw_alert_evidence_str(&a, "op", ev->op);
	kw_alert_evidence_str(&a, "tactic",
			      kw_str_c(kw_tactic_name(ci->tactic)));
	kw_alert_suppress_str(&a, "counter", kw_str_c(ci->name));
	snprintf(subject, sizeof(subject), "counter=%s", ci->name);
	kw_alert_set_id(&a, subject);
	kw_emit(emit, &a);
}

/* The highest count of counter c that raised (0: none kept). */
static uint16_t peak_of(const struct harvest_key *st, size_t c)
{
	for (size_t i = 0; i < PEAKS; i++) {
		if (st->peak[i].counter == c + 1)
			return st->peak[i].count;
	}
	return 0;
}

/* Raise counter c's peak to count: its own entry, else a free one, else
 * the one with the lowest peak. */
static void peak_raise(struct harvest_key *st, size_t c, uint16_t count)
{
	struct peak *p = NULL;

	for (size_t i = 0; i < PEAKS; i++) {
		struct peak *q = &st->peak[i];

		if (q->counter == c + 1) {
			p = q;
			break;
		}
		if (!p || (p->counter && (!q->counter || q->count < p->count)))
			p = q;
	}
	if (p->counter == c + 1 && p->count >= count)
		return;
	p->counter = (uint8_t)(c + 1);
	p->count = count;
}

/* Count one call for counter c: its names' hashes (distinct counters) or
 * the call itself. */
static void count(const struct harvest *h, const struct kw_event *ev,
		  struct kw_keyent *key, struct harvest_key *st, size_t c,
		  const uint32_t *hash, size_t nhash, const char *const *shown,
		  size_t nshown, const struct kw_emit *emit)
{
	const struct kw_counter_info *ci = kw_models_counter(h->models, c);
	uint32_t t = ev->ts <= 0 ? 0 : (uint32_t)(ev->ts / 1000000);
	struct slot *s = slot_for(st, ci, c, t);
	unsigned added = 0;

	if (ci->distinct) {
		for (size_t i = 0; i < nhash; i++) {
			unsigned b = hash[i] % FILTER_BITS;
			uint8_t m = (uint8_t)(1u << (b % 8));

			if (!(s->bits[b / 8] & m)) {
				s->bits[b / 8] |= m;
				added++;
			}
		}
	} else {
		added = 1;
	}
	if (!added)
		return;
	s->count = s->count > UINT16_MAX - added ? UINT16_MAX
						 : (uint16_t)(s->count + added);
	if (!s->first[0] && nshown)
		copy_name(s->first, sizeof(s->first), shown[0],
			  strlen(shown[0]));
	if (!refused(ev))
		s->flags |= SLOT_ACCEPTED;
	if (s->flags & SLOT_ALERTED) {
		peak_raise(st, c, s->count);
		return;
	}
	if (s->count < ci->threshold || s->count <= 2u * peak_of(st, c))
		return;
	s->flags |= SLOT_ALERTED;
	peak_raise(st, c, s->count);
	raise_alert(h, ev, key, ci, s, shown, nshown, emit);
}

/* Whether an event is of the kind a selecting counter takes: an operation
 * of the counter's model, with every property it selects. */
static bool selected(const struct harvest *h, const struct kw_event *ev,
		     const struct kw_keyent *key,
		     const struct kw_counter_info *ci)
{
	unsigned select = ci->select;
	enum kw_tier tier;

	if (ci->model != ev->info->model)
		return false;
	tier = ev->verdict ? ev->verdict->tier : ev->info->tier;
	if ((select & KW_SELECT_SENSITIVE) && tier == KW_TIER_NONE)
		return false;
	if ((select & KW_SELECT_REFUSED) && !refused(ev))
		return false;
	if ((select & KW_SELECT_BULK) && !ev->info->bulk)
		return false;
	if ((select & KW_SELECT_LEARNING) &&
	    !kw_detect_learning(h->cfg, key, ev->ts))
		return false;
	return true;
}

static void hv_observe(void *self, const struct kw_event *ev,
		       struct kw_keyent *key, void *state,
		       const struct kw_emit *emit)
{
	const struct harvest *h = self;
	/* Made when the key's first call is counted (the overflow part:
	 * most keys never make one). */
	struct harvest_key *st = NULL;

	if (!h->on || !ev->info)
		return;
	for (size_t i = 0; ev->verdict && i < ev->verdict->nfeeds; i++) {
		const struct kw_feed *f = &ev->verdict->feed[i];
		const char *shown[KW_FEED_SHOWN];

		if (!st && !(st = kw_detect_overflow(emit, &kw_detect_harvest,
						     0, key, state, true)))
			return;
		for (size_t k = 0; k < f->nshown; k++)
			shown[k] = f->shown[k];
		count(h, ev, key, st, f->counter, f->hash, f->nnames, shown,
		      f->nshown, emit);
	}
	for (size_t i = 0; i < h->nselected; i++) {
		size_t c = h->selected[i];
		char op[KW_FEED_NAME_MAX];
		const char *shown[1] = {op};
		uint32_t hash;

		if (!selected(h, ev, key, h->selected_info[i]))
			continue;
		if (!st && !(st = kw_detect_overflow(emit, &kw_detect_harvest,
						     0, key, state, true)))
			return;
		/* the end of a long name (GCP's methodName) tells it */
		copy_name(op, sizeof(op), ev->op.p, ev->op.n);
		hash = kw_models_hash(ev->op.p, ev->op.n);
		count(h, ev, key, st, c, &hash, 1, shown, 1, emit);
	}
}

static void hv_destroy(void *self)
{
	free(self);
}

/* Every slot names a counter that can exist (or none), has only its own
 * flags, and a first name that ends within it; a free slot is all zero;
 * so is a free peak, and a kept one names a counter that can exist. */
static bool hv_validate(const void *state, char *why, size_t cap)
{
	const struct harvest_key *st = state;

	for (size_t i = 0; i < PEAKS; i++) {
		const struct peak *p = &st->peak[i];

		if (p->counter > KW_MODELS_MAX_COUNTERS || p->pad ||
		    (!p->counter && p->count)) {
			snprintf(why, cap, "harvest peak %zu names counter %u",
				 i, (unsigned)p->counter);
			return false;
		}
	}

	for (size_t i = 0; i < SLOTS; i++) {
		const struct slot *s = &st->slot[i];
		static const struct slot zero;

		if (s->counter > KW_MODELS_MAX_COUNTERS) {
			snprintf(why, cap, "harvest slot %zu names counter %u",
				 i, (unsigned)s->counter);
			return false;
		}
		if (s->flags & ~(SLOT_ACCEPTED | SLOT_ALERTED)) {
			snprintf(why, cap, "harvest slot %zu has flags 0x%x", i,
				 (unsigned)s->flags);
			return false;
		}
		if (!memchr(s->first, '\0', sizeof(s->first))) {
			snprintf(why, cap, "harvest slot %zu: name not ended",
				 i);
			return false;
		}
		if (!s->counter && memcmp(s, &zero, sizeof(*s))) {
			snprintf(why, cap,
				 "harvest slot %zu: free but not empty", i);
			return false;
		}
	}
	return true;
}

const struct kw_detector_ops kw_detect_harvest = {
	.name = "ops.harvest",
	.kind = KW_DETECTOR_LEARNED,
	.detectors = names,
	.options = NULL,
	.state_size = sizeof(struct harvest_key),
	.state_version = 2,
	.state_size_v1 = 224,
	/* all of it, made on a key's first counted call */
	.parts = {{0, sizeof(struct harvest_key)}},
	.validate = hv_validate,
	.create = hv_create,
	.observe = hv_observe,
	.destroy = hv_destroy,
};
