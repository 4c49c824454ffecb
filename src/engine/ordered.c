/*
 * ordered.c - the engine's ordered stage (engine_impl.h): what the shards
 * raise arrives here in the order of the events that raised it, and
 * everything that spans keys happens here, in that order, whatever the
 * number of threads:
 *   - alerts go to the router (dedup, suppressions, rate limits and
 *     incidents all span keys), through the admit and passed hooks of
 *     watch;
 *   - the families' parts across keys (observe_global: auth.failures'
 *     table of IPs) run on instances of their own, which also see the
 *     requests made without a key (observe_unauth), unless the caller's
 *     cross hook (engine.h) takes a stream's to count them elsewhere;
 *   - the report's count of alerts per key is kept by fingerprint, and
 *     dropped when the key leaves its shard's table (a key seen again
 *     starts from nothing, as its other counters do).
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "engine/engine_impl.h"

/* ---- the alert counts ---- */

static uint64_t fp_value(const char *fp)
{
	uint64_t v = 0;

	for (int i = 0; i < 16 && fp[i]; i++) {
		char c = fp[i];

		v = v << 4 | (uint64_t)(c >= 'a' ? c - 'a' + 10 : c - '0');
	}
	return v ? v : 1;
}

static size_t home(const struct kw_ordered *m, uint64_t fp)
{
	return (size_t)(fp * 0x9e3779b97f4a7c15u >> 17) & (m->capcounts - 1);
}

static size_t find(const struct kw_ordered *m, uint64_t fp)
{
	size_t i = home(m, fp);

	while (m->counts[i].fp && m->counts[i].fp != fp)
		i = (i + 1) & (m->capcounts - 1);
	return i;
}

static bool grow(struct kw_ordered *m)
{
	size_t cap = m->capcounts ? m->capcounts * 2 : 1024;
	struct alert_count *old = m->counts;
	size_t oldcap = m->capcounts;

	m->counts = calloc(cap, sizeof(*m->counts));
	if (!m->counts) {
		m->counts = old;
		return false;
	}
	m->capcounts = cap;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].fp)
			m->counts[find(m, old[i].fp)] = old[i];
	}
	free(old);
	return true;
}

static void count_alert(struct kw_ordered *m, const char *fp)
{
	uint64_t v = fp_value(fp);
	size_t i;

	if ((m->ncounts + 1) * 2 > m->capcounts && !grow(m))
		return; /* the report undercounts; nothing else depends on it */
	i = find(m, v);
	if (!m->counts[i].fp) {
		m->counts[i].fp = v;
		m->ncounts++;
	}
	if (m->counts[i].n < UINT32_MAX)
		m->counts[i].n++;
}

void kw_ordered_evicted(struct kw_ordered *m, const char *fp)
{
	size_t i, j;

	if (!m->capcounts)
		return;
	i = find(m, fp_value(fp));
	if (!m->counts[i].fp)
		return;
	/* Backward-shift deletion: no tombstones. */
	j = i;
	for (;;) {
		size_t h;

		m->counts[i].fp = 0;
		m->counts[i].n = 0;
		for (;;) {
			j = (j + 1) & (m->capcounts - 1);
			if (!m->counts[j].fp)
				goto done;
			h = home(m, m->counts[j].fp);
			if (i <= j ? (h <= i || h > j) : (h <= i && h > j))
				break;
		}
		m->counts[i] = m->counts[j];
		i = j;
	}
done:
	m->ncounts--;
}

uint32_t kw_ordered_count(const struct kw_ordered *m, const char *fp)
{
	size_t i;

	if (!m->capcounts)
		return 0;
	i = find(m, fp_value(fp));
	return m->counts[i].fp ? m->counts[i].n : 0;
}

/* ---- alerts, globals ---- */

void kw_ordered_alert(struct kw_ordered *m, struct kw_alert *a)
{
	const struct kw_engine_opts *o = &m->e->opts;
	char id[sizeof(a->id)], fp[sizeof(a->key.fp)];
	int64_t time = a->time;
	const char *detector = a->detector;
	enum kw_severity sev = a->severity;

	if (o->admit && !o->admit(o->hook_ctx, a->id, time, a->stream)) {
		kw_alert_clear(a);
		return;
	}
	memcpy(id, a->id, sizeof(id));
	memcpy(fp, a->key.fp, sizeof(fp));
	kw_detect_finish_alert(a, o->cfg, o->models);
	if (!kw_router_submit(o->router, a))
		return;
	if (o->passed)
		o->passed(o->hook_ctx, id, time, detector, sev);
	if (o->report) /* only the report reads them */
		count_alert(m, fp);
}

static void merge_emit(void *ctx, struct kw_alert *a)
{
	a->secret = KW_STR_NULL;
	kw_ordered_alert(ctx, a);
}

/* Whether opts.cross takes ev (of stream, an index) from the families'
 * instances here. */
static bool crossed(struct kw_ordered *m, unsigned stream,
		    const struct kw_event *ev, const struct kw_keyent *key)
{
	const struct kw_engine_opts *o = &m->e->opts;

	return o->cross && stream < m->e->nstreams &&
	       o->cross(o->hook_ctx, m->e->streams[stream].id, ev, key);
}

void kw_ordered_global(struct kw_ordered *m, size_t family, unsigned stream,
		       const struct kw_event *ev, const struct kw_keyent *key)
{
	struct kw_family *f = &m->glob[family];

	if (!crossed(m, stream, ev, key))
		f->ops->observe_global(f->self, ev, key, &m->emit);
}

void kw_ordered_note(struct kw_ordered *m, enum kw_log_level level,
		     const char *component, const char *text)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *p = component; p && *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	for (const char *p = text; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	for (size_t i = 0; i < m->nsaid; i++) {
		if (m->said[i] == h)
			return;
	}
	if (m->nsaid < KW_ENGINE_NOTES)
		m->said[m->nsaid++] = h;
	kw_log_msg(level, component, "%s", text);
}

static void merge_note(void *ctx, enum kw_log_level level,
		       const char *component, const char *text)
{
	kw_ordered_note(ctx, level, component, text);
}

void kw_ordered_unauth(struct kw_ordered *m, const struct kw_event *ev,
		       int64_t wm, unsigned stream)
{
	m->unauthenticated++;
	if (ev->ts < wm)
		m->st.late++;
	if (ev->ts < m->st.first_ts)
		m->st.first_ts = ev->ts;
	if (ev->ts > m->st.last_ts)
		m->st.last_ts = ev->ts;
	if (crossed(m, stream, ev, NULL))
		return;
	for (size_t i = 0; i < KW_ENGINE_MAX_FAMILIES; i++) {
		struct kw_family *f = &m->glob[i];

		if (f->self && f->ops->observe_unauth)
			f->ops->observe_unauth(f->self, ev, &m->emit);
	}
}

/* The output of a shard when there is one thread: the calls themselves. */
static void direct_alert(void *ctx, struct kw_alert *a)
{
	kw_ordered_alert(ctx, a);
}

static void direct_global(void *ctx, size_t family, unsigned stream,
			  const struct kw_event *ev,
			  const struct kw_keyent *key)
{
	kw_ordered_global(ctx, family, stream, ev, key);
}

static void direct_evicted(void *ctx, const char *fp)
{
	kw_ordered_evicted(ctx, fp);
}

static void direct_note(void *ctx, enum kw_log_level level,
			const char *component, const char *text)
{
	kw_ordered_note(ctx, level, component, text);
}

const struct kw_shard_out kw_ordered_direct = {
	.alert = direct_alert,
	.global = direct_global,
	.evicted = direct_evicted,
	.note = direct_note,
	.ctx = NULL,
};

/* ---- life ---- */

enum kw_status kw_ordered_init(struct kw_engine *e, struct kw_ordered *m,
			       struct kw_error *err)
{
	const struct kw_detector_ops *const *all = kw_detect_all();
	struct kw_detector_env env = {.cfg = e->opts.cfg,
				      .models = e->opts.models};
	enum kw_status st;

	m->e = e;
	m->st.first_ts = INT64_MAX;
	m->st.last_ts = INT64_MIN;
	m->emit.fn = merge_emit;
	m->emit.note = merge_note;
	m->emit.ctx = m;
	m->emit.unread = e->opts.unread;
	for (size_t i = 0; all[i] && i < KW_ENGINE_MAX_FAMILIES; i++) {
		m->glob[i].ops = all[i];
		if (!all[i]->observe_global && !all[i]->observe_unauth)
			continue;
		st = all[i]->create(&env, &m->glob[i].self, err);
		if (st != KW_OK)
			return st;
	}
	return KW_OK;
}

void kw_ordered_fini(struct kw_ordered *m)
{
	for (size_t i = 0; i < KW_ENGINE_MAX_FAMILIES; i++) {
		if (m->glob[i].self && m->glob[i].ops->destroy)
			m->glob[i].ops->destroy(m->glob[i].self);
		m->glob[i].self = NULL;
	}
	free(m->counts);
	m->counts = NULL;
	m->capcounts = m->ncounts = 0;
}
