/*
 * report.c - what the report collects while the scan runs, and the model
 * it builds at the end for the writers (report_html.c, report_text.c).
 *
 * While the scan runs the router hands over each alert that passed
 * (kw_report_alert). The report follows up to max_tracked keys with alerts
 * (an open-addressing index by fingerprint over a dense array): per key its
 * counts by severity and up to max_alerts alerts (when full, a new alert
 * takes the place of the least severe, oldest one, so the worst are kept).
 * When max_tracked keys are followed, a new key's alert takes the place of
 * the key ranked lowest (least severe, fewest alerts) if it outranks it,
 * and is only counted otherwise. Incidents are gathered by the id each
 * alert carries, up to RP_MAX_INCIDENTS.
 *
 * At the end one pass over the engine's keys fills the followed keys'
 * stats, timelines and learnt profiles, and keeps the max_quiet busiest
 * keys without alerts (a bounded min-heap), so the pass needs no memory
 * per key of the table.
 */
#include "report/report_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define RP_MAX_INCIDENTS 65536

struct kw_report {
	struct kw_report_opts o;
	/* Followed keys: dense array, index by fingerprint. */
	struct rp_key *keys;
	size_t nkeys;
	int32_t *kindex; /* nkslots: place in keys, -1 when empty */
	size_t nkslots;
	uint64_t untracked_alerts;
	uint64_t let_go; /* keys the report stopped following */
	/* Incidents: dense array (grown), index by id. */
	struct rp_incident *inc;
	size_t ninc, capinc;
	int32_t *iindex;
	size_t nislots;
	uint64_t inc_dropped;
	uint64_t alert_by_sev[KW_SEV_MAX];
};

/* ------------------------------------------------------------- helpers */

const char *kw_report_sev_name(enum kw_severity s)
{
	return kw_severity_name(s);
}

const char *kw_report_num(uint64_t v, char *buf, size_t cap)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
	size_t o = 0;

	for (int i = 0; i < n && o + 1 < cap; i++) {
		if (i && (n - i) % 3 == 0 && o + 2 < cap)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
	return buf;
}

const char *kw_report_time(int64_t us, char *buf, size_t cap)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (us == INT64_MIN || us == INT64_MAX || !gmtime_r(&t, &tm)) {
		snprintf(buf, cap, "-");
		return buf;
	}
	strftime(buf, cap, "%Y-%m-%d %H:%M", &tm);
	return buf;
}

const char *kw_report_ev_str(const struct rp_alert *a, const char *name)
{
	json_t *v = a->evidence ? json_object_get(a->evidence, name) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

unsigned kw_report_ops_order(const struct kw_keyreport *s, int *order)
{
	unsigned n = 0;

	for (int i = 0; i < KW_KEYREPORT_OPS && s->ops[i].name[0]; i++)
		order[n++] = i;
	/* Insertion sort, stable: 8 at most. */
	for (unsigned i = 1; i < n; i++) {
		for (unsigned j = i;
		     j > 0 && s->ops[order[j - 1]].n < s->ops[order[j]].n;
		     j--) {
			int t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	}
	return n;
}

bool kw_report_format_parse(const char *s, enum kw_report_format *out)
{
	if (s && !strcmp(s, "text")) {
		*out = KW_REPORT_TEXT;
		return true;
	}
	if (s && !strcmp(s, "html")) {
		*out = KW_REPORT_HTML;
		return true;
	}
	return false;
}

enum kw_report_format kw_report_format_for(const char *path)
{
	const char *dot = path ? strrchr(path, '.') : NULL;

	if (dot && (!strcasecmp(dot, ".html") || !strcasecmp(dot, ".htm")))
		return KW_REPORT_HTML;
	return KW_REPORT_TEXT;
}

static uint64_t fp_value(const char *hex)
{
	uint64_t v = 0;

	for (int i = 0; i < 16 && hex[i]; i++) {
		char c = hex[i];
		unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
			     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
						    : 0;

		v = v << 4 | d;
	}
	return v;
}

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdu;
	return h ^ (h >> 33);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* ------------------------------------------------------------ lifetime */

enum kw_status kw_report_create(const struct kw_report_opts *o,
				struct kw_report **out)
{
	struct kw_report *rep = calloc(1, sizeof(*rep));

	*out = NULL;
	if (!rep)
		return KW_ENOMEM;
	if (o)
		rep->o = *o;
	if (!rep->o.max_sections)
		rep->o.max_sections = 100;
	if (!rep->o.max_tracked)
		rep->o.max_tracked = 400;
	if (rep->o.max_tracked < rep->o.max_sections)
		rep->o.max_tracked = rep->o.max_sections;
	if (!rep->o.max_alerts)
		rep->o.max_alerts = 20;
	if (!rep->o.max_incidents)
		rep->o.max_incidents = 50;
	if (!rep->o.max_quiet)
		rep->o.max_quiet = 500;
	for (rep->nkslots = 16; rep->nkslots < 2 * rep->o.max_tracked;
	     rep->nkslots *= 2)
		;
	rep->keys = calloc(rep->o.max_tracked, sizeof(*rep->keys));
	rep->kindex = malloc(rep->nkslots * sizeof(*rep->kindex));
	rep->nislots = 1024;
	rep->iindex = malloc(rep->nislots * sizeof(*rep->iindex));
	if (!rep->keys || !rep->kindex || !rep->iindex) {
		kw_report_destroy(rep);
		return KW_ENOMEM;
	}
	memset(rep->kindex, 0xff, rep->nkslots * sizeof(*rep->kindex));
	memset(rep->iindex, 0xff, rep->nislots * sizeof(*rep->iindex));
	*out = rep;
	return KW_OK;
}

static void alert_free(struct rp_alert *a)
{
	json_decref(a->evidence);
	json_decref(a->links);
	a->evidence = NULL;
	a->links = NULL;
}

static void key_free(struct rp_key *k)
{
	for (size_t i = 0; i < k->nlist; i++)
		alert_free(&k->list[i]);
	free(k->list);
	k->list = NULL;
	k->nlist = 0;
}

void kw_report_destroy(struct kw_report *rep)
{
	if (!rep)
		return;
	for (size_t i = 0; rep->keys && i < rep->nkeys; i++)
		key_free(&rep->keys[i]);
	free(rep->keys);
	free(rep->kindex);
	free(rep->inc);
	free(rep->iindex);
	free(rep);
}

/* ------------------------------------------------------------ the keys */

static size_t kslot(const struct kw_report *rep, uint64_t fp)
{
	size_t mask = rep->nkslots - 1, i = (size_t)mix(fp) & mask;

	while (rep->kindex[i] >= 0 && rep->keys[rep->kindex[i]].fp != fp)
		i = (i + 1) & mask;
	return i;
}

static void kindex_rebuild(struct kw_report *rep)
{
	memset(rep->kindex, 0xff, rep->nkslots * sizeof(*rep->kindex));
	for (size_t i = 0; i < rep->nkeys; i++)
		rep->kindex[kslot(rep, rep->keys[i].fp)] = (int32_t)i;
}

/* Whether x ranks below y (shown later, let go first). */
static bool ranks_below(enum kw_severity xs, uint32_t xn, enum kw_severity ys,
			uint32_t yn)
{
	return xs != ys ? xs < ys : xn < yn;
}

/* The key's entry, a new one, or NULL when the report does not follow
 * it (a full table of keys that all rank above this alert). */
static struct rp_key *key_for(struct kw_report *rep, const struct kw_alert *a)
{
	uint64_t fp = fp_value(a->key.fp);
	size_t slot = kslot(rep, fp);
	struct rp_key *k;
	bool partial = false;

	if (rep->kindex[slot] >= 0)
		return &rep->keys[rep->kindex[slot]];
	if (rep->nkeys == rep->o.max_tracked) {
		size_t low = 0;

		for (size_t i = 1; i < rep->nkeys; i++) {
			const struct rp_key *x = &rep->keys[i],
					    *y = &rep->keys[low];

			if (ranks_below(x->worst, x->alerts, y->worst,
					y->alerts))
				low = i;
		}
		if (!ranks_below(rep->keys[low].worst, rep->keys[low].alerts,
				 a->severity, 1))
			return NULL;
		rep->untracked_alerts += rep->keys[low].alerts;
		rep->let_go++;
		key_free(&rep->keys[low]);
		rep->keys[low] = rep->keys[--rep->nkeys];
		kindex_rebuild(rep);
		slot = kslot(rep, fp);
		partial = true;
	}
	k = &rep->keys[rep->nkeys];
	memset(k, 0, sizeof(*k));
	k->fp = fp;
	copy_str(k->fps, sizeof(k->fps), a->key.fp);
	copy_str(k->id, sizeof(k->id), a->key.id);
	copy_str(k->name, sizeof(k->name), a->key.name);
	k->kind = a->key.kind;
	k->mode = a->key.mode;
	k->first_alert = a->time;
	k->partial = partial;
	rep->kindex[slot] = (int32_t)rep->nkeys++;
	return k;
}

/* Note text (an operation, an address) named by an alert. */
static void note(struct rp_noted *list, unsigned *n, const char *text,
		 const struct kw_alert *a)
{
	if (!text || !text[0])
		return;
	for (unsigned i = 0; i < *n; i++) {
		if (!strcmp(list[i].text, text))
			return;
	}
	if (*n == RP_NOTED)
		return;
	copy_str(list[*n].text, sizeof(list[*n].text), text);
	copy_str(list[*n].detector, sizeof(list[*n].detector), a->detector);
	list[*n].time = a->time;
	(*n)++;
}

/* A part of a as a tree of the report's own (a deep copy of a tree-form
 * alert's: the alert's trees stay the router's), or NULL. */
static json_t *part_copy(const struct kw_alert *a, enum kw_alert_part part)
{
	json_t *t = kw_alert_tree(a, part), *c;

	if (!t || a->flat.on)
		return t;
	c = json_deep_copy(t);
	json_decref(t);
	return c;
}

static const char *evidence_str(const struct kw_alert *a, const char *name)
{
	size_t n;

	return kw_alert_evidence_text(a, name, &n);
}

/* Keep the alert in the key's list; when the list is full, the least
 * severe (then oldest) alert leaves if the new one is more severe. */
static void keep_alert(struct kw_report *rep, struct rp_key *k,
		       const struct kw_alert *a)
{
	struct rp_alert *x;
	size_t at;

	if (!k->list) {
		k->list = calloc(rep->o.max_alerts, sizeof(*k->list));
		if (!k->list) {
			k->omitted++;
			return;
		}
	}
	if (k->nlist == rep->o.max_alerts) {
		size_t low = 0;

		for (size_t i = 1; i < k->nlist; i++) {
			if (k->list[i].sev < k->list[low].sev)
				low = i;
		}
		k->omitted++;
		if (k->list[low].sev >= a->severity)
			return;
		alert_free(&k->list[low]);
		memmove(&k->list[low], &k->list[low + 1],
			(k->nlist - low - 1) * sizeof(*k->list));
		k->nlist--;
	}
	/* In time order (alerts come nearly in order: look from the end). */
	at = k->nlist;
	while (at > 0 && k->list[at - 1].time > a->time)
		at--;
	memmove(&k->list[at + 1], &k->list[at],
		(k->nlist - at) * sizeof(*k->list));
	k->nlist++;
	x = &k->list[at];
	memset(x, 0, sizeof(*x));
	x->time = a->time;
	x->sev = a->severity;
	copy_str(x->detector, sizeof(x->detector), a->detector);
	copy_str(x->id, sizeof(x->id), a->id);
	copy_str(x->incident, sizeof(x->incident), a->incident);
	copy_str(x->summary, sizeof(x->summary), a->summary);
	copy_str(x->runbook, sizeof(x->runbook), a->runbook);
	x->evidence = part_copy(a, KW_ALERT_EVIDENCE);
	x->links = part_copy(a, KW_ALERT_LINKS);
}

/* ------------------------------------------------------------ incidents */

static uint64_t id_hash(const char *id)
{
	uint64_t h = 1469598103934665603ull;

	for (; *id; id++)
		h = (h ^ (uint8_t)*id) * 1099511628211ull;
	return mix(h);
}

static size_t islot(const struct kw_report *rep, const char *id)
{
	size_t mask = rep->nislots - 1, i = (size_t)id_hash(id) & mask;

	while (rep->iindex[i] >= 0 && strcmp(rep->inc[rep->iindex[i]].id, id))
		i = (i + 1) & mask;
	return i;
}

static bool incidents_grow(struct kw_report *rep)
{
	if (rep->ninc == rep->capinc) {
		size_t cap = rep->capinc ? rep->capinc * 2 : 64;
		struct rp_incident *p = realloc(rep->inc, cap * sizeof(*p));

		if (!p)
			return false;
		rep->inc = p;
		rep->capinc = cap;
	}
	if (2 * (rep->ninc + 1) > rep->nislots) {
		size_t n = rep->nislots * 2;
		int32_t *idx = malloc(n * sizeof(*idx));

		if (!idx)
			return false;
		free(rep->iindex);
		rep->iindex = idx;
		rep->nislots = n;
		memset(idx, 0xff, n * sizeof(*idx));
		for (size_t i = 0; i < rep->ninc; i++)
			idx[islot(rep, rep->inc[i].id)] = (int32_t)i;
	}
	return true;
}

static void add_incident(struct kw_report *rep, const struct kw_alert *a)
{
	struct rp_incident *x;
	size_t slot;

	if (!a->incident[0])
		return;
	slot = islot(rep, a->incident);
	if (rep->iindex[slot] < 0) {
		if (rep->ninc == RP_MAX_INCIDENTS || !incidents_grow(rep)) {
			rep->inc_dropped++;
			return;
		}
		slot = islot(rep, a->incident);
		x = &rep->inc[rep->ninc];
		memset(x, 0, sizeof(*x));
		copy_str(x->id, sizeof(x->id), a->incident);
		x->fp = fp_value(a->key.fp);
		copy_str(x->key_id, sizeof(x->key_id), a->key.id);
		copy_str(x->key_name, sizeof(x->key_name), a->key.name);
		x->opened = x->last = a->time;
		x->worst = a->severity;
		copy_str(x->detector, sizeof(x->detector), a->detector);
		copy_str(x->summary, sizeof(x->summary), a->summary);
		rep->iindex[slot] = (int32_t)rep->ninc++;
	} else {
		x = &rep->inc[rep->iindex[slot]];
		if (a->severity > x->worst) {
			x->worst = a->severity;
			copy_str(x->detector, sizeof(x->detector), a->detector);
			copy_str(x->summary, sizeof(x->summary), a->summary);
		}
	}
	x->alerts++;
	if (a->time > x->last)
		x->last = a->time;
	if (a->time < x->opened)
		x->opened = a->time;
}

void kw_report_alert(void *ctx, const struct kw_alert *a)
{
	struct kw_report *rep = ctx;
	struct rp_key *k;

	if (!a->detector || !strcmp(a->detector, "router.digest"))
		return;
	if ((unsigned)a->severity < KW_SEV_MAX)
		rep->alert_by_sev[a->severity]++;
	add_incident(rep, a);
	k = key_for(rep, a);
	if (!k) {
		rep->untracked_alerts++;
		return;
	}
	k->alerts++;
	k->by_sev[a->severity]++;
	if (k->alerts == 1 || a->severity > k->worst)
		k->worst = a->severity;
	if (a->time < k->first_alert)
		k->first_alert = a->time;
	if (a->time > k->last_alert)
		k->last_alert = a->time;
	if (!strncmp(a->detector, "ops.", 4))
		note(k->ops, &k->nops, evidence_str(a, "op"), a);
	note(k->ips, &k->nips, evidence_str(a, "ip"), a);
	keep_alert(rep, k, a);
}

/* ------------------------------------------------------------ the model */

struct collect {
	struct kw_report *rep;
	struct kw_engine *e;
	struct rp_model *m;
	int64_t learn;
	size_t heap_cap;
};

/* The quiet keys: a min-heap by events of at most max_quiet. */
static bool quiet_less(const struct rp_quiet *a, const struct rp_quiet *b)
{
	if (a->events != b->events)
		return a->events < b->events;
	return strcmp(a->fps, b->fps) > 0;
}

static void heap_down(struct rp_quiet *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, s = i;

		if (l < n && quiet_less(&h[l], &h[s]))
			s = l;
		if (r < n && quiet_less(&h[r], &h[s]))
			s = r;
		if (s == i)
			return;
		struct rp_quiet t = h[i];

		h[i] = h[s];
		h[s] = t;
		i = s;
	}
}

static void heap_up(struct rp_quiet *h, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!quiet_less(&h[i], &h[p]))
			return;
		struct rp_quiet t = h[i];

		h[i] = h[p];
		h[p] = t;
		i = p;
	}
}

static void quiet_row(const struct kw_keyent *key,
		      const struct kw_engine_keystats *ks, struct rp_quiet *q)
{
	const struct kw_keyconf *kc = key->conf;

	copy_str(q->fps, sizeof(q->fps), key->fp);
	copy_str(q->id, sizeof(q->id), kw_keyent_id(key));
	copy_str(q->name, sizeof(q->name), kc && kc->name ? kc->name : "");
	q->kind = (enum kw_key_kind)key->kind;
	q->mode = (enum kw_key_mode)key->mode;
	q->events = key->events;
	q->errors = ks->errors;
	q->denied = ks->denied;
	q->ips = ks->ips;
	q->first_seen = key->first_seen;
	q->last_seen = key->last_seen;
}

static void add_quiet(struct collect *c, const struct kw_keyent *key,
		      const struct kw_engine_keystats *ks)
{
	struct rp_model *m = c->m;
	struct rp_quiet q;

	m->quiet_total++;
	quiet_row(key, ks, &q);
	if (m->nquiet < c->heap_cap) {
		m->quiet[m->nquiet] = q;
		heap_up(m->quiet, m->nquiet++);
	} else if (m->nquiet && quiet_less(&m->quiet[0], &q)) {
		m->quiet[0] = q;
		heap_down(m->quiet, m->nquiet, 0);
	}
}

static void collect_key(void *ctx, const struct kw_keyent *key,
			const struct kw_engine_keystats *ks)
{
	struct collect *c = ctx;
	struct kw_report *rep = c->rep;
	size_t slot = kslot(rep, fp_value(key->fp));
	struct kw_engine_keydetail d;
	struct rp_key *k;

	if (rep->kindex[slot] < 0) {
		if (ks->alerts) {
			c->m->keys_alerting++;
			c->m->untracked++;
		} else {
			add_quiet(c, key, ks);
		}
		return;
	}
	c->m->keys_alerting++;
	k = &rep->keys[rep->kindex[slot]];
	k->present = true;
	k->ks = *ks;
	k->first_seen = key->first_seen;
	k->last_seen = key->last_seen;
	k->events = key->events;
	k->learned_at = key->first_seen > INT64_MAX - c->learn
				? INT64_MAX
				: key->first_seen + c->learn;
	kw_engine_key_detail(c->e, key, &d);
	k->profile = d.profile;
	if (d.report) {
		k->has_series = true;
		k->series = *d.report;
		/* The first addresses and networks, for a key judged by
		 * place: the report keeps them (geo keeps hashes). */
		_Static_assert(KW_KEYREPORT_IPS == KW_DETECT_PROFILE_GEO,
			       "the report's lists are the profile's");
		if (k->profile.geo_watched) {
			k->profile.nips = d.report->nips;
			k->profile.nnets = d.report->nnets;
			memcpy(k->profile.ips, d.report->ips,
			       sizeof(k->profile.ips));
			memcpy(k->profile.nets, d.report->nets,
			       sizeof(k->profile.nets));
		}
	}
}

static int by_rank(const void *x, const void *y)
{
	const struct rp_key *a = *(const struct rp_key *const *)x;
	const struct rp_key *b = *(const struct rp_key *const *)y;

	if (a->worst != b->worst)
		return a->worst > b->worst ? -1 : 1;
	if (a->alerts != b->alerts)
		return a->alerts > b->alerts ? -1 : 1;
	if (a->first_alert != b->first_alert)
		return a->first_alert < b->first_alert ? -1 : 1;
	return strcmp(a->fps, b->fps);
}

static int by_incident_rank(const void *x, const void *y)
{
	const struct rp_incident *a = *(const struct rp_incident *const *)x;
	const struct rp_incident *b = *(const struct rp_incident *const *)y;

	if (a->worst != b->worst)
		return a->worst > b->worst ? -1 : 1;
	if (a->opened != b->opened)
		return a->opened < b->opened ? -1 : 1;
	return strcmp(a->id, b->id);
}

static int by_events(const void *x, const void *y)
{
	const struct rp_quiet *a = x, *b = y;

	if (a->events != b->events)
		return a->events > b->events ? -1 : 1;
	return strcmp(a->fps, b->fps);
}

static void build_incidents(struct kw_report *rep, struct rp_model *m)
{
	int64_t end = m->es->last_ts;
	int64_t close_after = m->cfg->incidents.close_after;

	for (size_t i = 0; i < rep->ninc; i++) {
		struct rp_incident *x = &rep->inc[i];

		x->open = close_after <= 0 ||
			  x->last > INT64_MAX - close_after ||
			  end < x->last + close_after;
		m->incidents[i] = x;
		m->inc_by_sev[x->worst]++;
		m->inc_open += x->open;
	}
	m->nincidents = rep->ninc;
	if (m->nincidents)
		qsort(m->incidents, m->nincidents, sizeof(*m->incidents),
		      by_incident_rank);
	m->nlisted = m->nincidents < rep->o.max_incidents
			     ? m->nincidents
			     : rep->o.max_incidents;
	m->inc_dropped = rep->inc_dropped;
}

enum kw_status kw_report_write(struct kw_report *rep, struct kw_engine *e,
			       const struct kw_router *r,
			       enum kw_report_format fmt, FILE *f)
{
	struct rp_model m;
	struct collect c;
	enum kw_status st = KW_OK;
	bool ok;

	memset(&m, 0, sizeof(m));
	m.o = &rep->o;
	m.es = kw_engine_stats(e);
	m.rs = kw_router_stats(r);
	m.cfg = kw_engine_config(e);
	m.incidents_on = kw_router_incidents(r) != NULL;
	memcpy(m.alert_by_sev, rep->alert_by_sev, sizeof(m.alert_by_sev));
	m.keys = calloc(rep->nkeys ? rep->nkeys : 1, sizeof(*m.keys));
	m.incidents = calloc(rep->ninc ? rep->ninc : 1, sizeof(*m.incidents));
	m.quiet = calloc(rep->o.max_quiet, sizeof(*m.quiet));
	if (!m.keys || !m.incidents || !m.quiet) {
		st = KW_ENOMEM;
		errno = ENOMEM;
		goto cleanup;
	}
	c = (struct collect){rep, e, &m, m.cfg->learn, rep->o.max_quiet};
	for (size_t i = 0; i < rep->nkeys; i++)
		rep->keys[i].present = false;
	kw_engine_foreach_key(e, collect_key, &c);
	for (size_t i = 0; i < rep->nkeys; i++) {
		m.keys[i] = &rep->keys[i];
		/* A followed key the table let go of still counts. */
		if (!rep->keys[i].present)
			m.keys_alerting++;
	}
	m.nkeys = rep->nkeys;
	if (m.nkeys)
		qsort(m.keys, m.nkeys, sizeof(*m.keys), by_rank);
	m.nsections =
		m.nkeys < rep->o.max_sections ? m.nkeys : rep->o.max_sections;
	if (m.nquiet)
		qsort(m.quiet, m.nquiet, sizeof(*m.quiet), by_events);
	build_incidents(rep, &m);
	ok = fmt == KW_REPORT_HTML ? kw_report_html(&m, f)
				   : kw_report_text(&m, f);
	if (!ok || ferror(f))
		st = KW_EIO;
cleanup:
	free(m.keys);
	free(m.incidents);
	free(m.quiet);
	return st;
}
