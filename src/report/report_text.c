/*
 * report_text.c - the report as plain text (--report FILE without .html,
 * --report -): the same content as the HTML report, with each key's
 * timeline as a line of block characters (the busiest minute of each
 * column, ▁ to █, scaled to the key's busiest minute) and a line under it
 * that marks where alerts fell.
 *
 * Text from requests is written as it is (redacted and bounded by the
 * alert code) except for control characters, which become '?', so that a
 * hostile value cannot drive the terminal the report is read in.
 */
#include <inttypes.h>
#include <string.h>

#include "core/time.h"
#include "report/report_impl.h"

#define COLS 64
#define MINUTE (INT64_C(60) * 1000000)

static const char *const blocks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};

/* Text with control characters (C0, DEL) made '?'. */
static void put(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
	}
}

/* s padded to width characters (ids hold a UTF-8 ellipsis). */
static void pad(FILE *f, const char *s, size_t width)
{
	size_t chars = 0;

	for (const char *p = s; *p; p++)
		chars += ((unsigned char)*p & 0xc0) != 0x80;
	put(f, s);
	while (chars++ < width)
		fputc(' ', f);
}

static void timeline(FILE *f, const struct rp_key *k)
{
	const struct kw_keyreport *s = &k->series;
	unsigned n = kw_keyreport_npoints(s);
	unsigned per = (n + COLS - 1) / COLS;
	unsigned cols, peak[COLS] = {0}, top = 0;
	bool alert[COLS] = {false};
	char t0[40], t1[40], wid[32];
	int64_t start, span;

	if (!n)
		return;
	if (per < 1)
		per = 1;
	cols = (n + per - 1) / per;
	for (unsigned i = 0; i < n; i++) {
		if (s->peak[i] > peak[i / per])
			peak[i / per] = s->peak[i];
		if (s->peak[i] > top)
			top = s->peak[i];
	}
	start = kw_keyreport_time(s, 0);
	span = kw_keyreport_width(s) * per;
	for (size_t i = 0; i < k->nlist; i++) {
		int64_t c = (k->list[i].time - start) / span;

		if (c < 0)
			c = 0;
		if (c >= cols)
			c = cols - 1;
		alert[c] = true;
	}
	kw_duration_format(span, wid, sizeof(wid));
	fprintf(f,
		"  requests: busiest minute per %s, %s to %s UTC (█ = %u "
		"a minute)\n  ",
		wid, kw_report_time(start, t0, sizeof(t0)),
		kw_report_time(kw_keyreport_time(s, n), t1, sizeof(t1)), top);
	for (unsigned c = 0; c < cols; c++) {
		if (!peak[c])
			fputc(' ', f);
		else
			fputs(blocks[(peak[c] * 8 - 1) / (top ? top : 1)], f);
	}
	fputs("\n  ", f);
	for (unsigned c = 0; c < cols; c++)
		fputs(alert[c] ? "^" : " ", f);
	fputs("  (^ alerts)\n", f);
}

static void baseline_line(FILE *f, const struct rp_key *k)
{
	const struct kw_detect_profile *p = &k->profile;
	float umax = 0, smin = 0, smax = 0;
	bool any = false;

	if (!p->has_rate)
		return;
	if (k->learned_at > k->last_seen) {
		char t[40];

		fprintf(f, "  learnt: nothing yet (learning until %s)\n",
			kw_report_time(k->learned_at, t, sizeof(t)));
		return;
	}
	for (int h = 0; h < 24; h++) {
		if (p->spike_at[h] <= 0)
			continue;
		if (!any || p->spike_at[h] < smin)
			smin = p->spike_at[h];
		if (p->spike_at[h] > smax)
			smax = p->spike_at[h];
		if (p->usual[h] > umax)
			umax = p->usual[h];
		any = true;
	}
	if (any && smin < smax)
		fprintf(f,
			"  learnt: usually up to %.1f a minute; a spike "
			"begins at %.0f to %.0f a minute, by the hour\n",
			umax, smin, smax);
	else if (any)
		fprintf(f,
			"  learnt: usually up to %.1f a minute; a spike "
			"begins at %.0f a minute\n",
			umax, smin);
	else
		fprintf(f, "  learnt: no baseline yet (still learning)\n");
}

static void where(FILE *f, const struct rp_key *k)
{
	const struct kw_detect_profile *p = &k->profile;
	char buf[64];

	if (!k->present)
		return;
	if (!p->geo_watched) {
		fprintf(f,
			"  where: not judged by place (%s%u distinct IP%s)\n",
			k->ks.ips > 8 ? "more than " : "",
			k->ks.ips > 8 ? 8 : k->ks.ips,
			k->ks.ips == 1 ? "" : "s");
		return;
	}
	fprintf(f, "  where: %" PRIu32 " distinct IP%s", p->total_ips,
		p->total_ips == 1 ? "" : "s");
	if (p->ncountries) {
		fputs("; countries", f);
		for (unsigned i = 0; i < p->ncountries; i++)
			fprintf(f, "%s%s", i ? ", " : " ", p->countries[i]);
	}
	if (p->nasns) {
		fputs("; AS", f);
		for (unsigned i = 0; i < p->nasns; i++)
			fprintf(f, "%s%" PRIu32, i ? ", AS" : "", p->asns[i]);
	}
	if (p->nnets) {
		fputs("; networks", f);
		for (unsigned i = 0; i < p->nnets; i++)
			fprintf(f, "%s%s/%d", i ? ", " : " ",
				kw_ip_format(&p->nets[i], buf, sizeof(buf)),
				p->nets[i].family == 4 ? 24 : 48);
	}
	fputc('\n', f);
}

static const struct rp_noted *op_noted(const struct rp_key *k, const char *op)
{
	for (unsigned i = 0; i < k->nops; i++) {
		if (!strcmp(k->ops[i].text, op))
			return &k->ops[i];
	}
	return NULL;
}

static void operations(FILE *f, const struct rp_key *k)
{
	const struct kw_keyreport *s = &k->series;
	int order[KW_KEYREPORT_OPS];
	unsigned nops = k->has_series ? kw_report_ops_order(s, order) : 0;
	bool any = false;

	for (unsigned i = 0; i < nops; i++) {
		const struct kw_keyreport_op *o = &s->ops[order[i]];
		const struct rp_noted *n = op_noted(k, o->name);
		bool inherited = o->flags & KW_KEYREPORT_INHERITED;
		bool first = !inherited &&
			     (int64_t)o->first * MINUTE >= k->learned_at &&
			     k->learned_at > k->first_seen;

		fprintf(f, "%s", any ? ", " : "  operations: ");
		put(f, o->name);
		fprintf(f, " %s%" PRIu32, inherited ? "<=" : "", o->n);
		if (first || (n && !strcmp(n->detector, "ops.first_seen")))
			fputs(" (first seen)", f);
		else if (n)
			fprintf(f, " (%s)", n->detector);
		any = true;
	}
	for (unsigned i = 0; i < k->nops; i++) {
		bool listed = false;

		for (int j = 0; k->has_series && j < KW_KEYREPORT_OPS; j++)
			listed = listed ||
				 !strcmp(s->ops[j].name, k->ops[i].text);
		if (listed)
			continue;
		fprintf(f, "%s", any ? ", " : "  operations: ");
		put(f, k->ops[i].text);
		fprintf(f, " (%s)", k->ops[i].detector);
		any = true;
	}
	if (any)
		fputc('\n', f);
}

static void key_section(FILE *f, const struct rp_model *m,
			const struct rp_key *k)
{
	char num[32], t0[40], t1[40];

	fprintf(f, "\n[%s] ", kw_report_sev_name(k->worst));
	put(f, k->id);
	if (k->name[0]) {
		fputs(" (", f);
		put(f, k->name);
		fputc(')', f);
	}
	fprintf(f, "  %s/%s  fingerprint %s\n", kw_key_kind_name(k->kind),
		kw_key_mode_name(k->mode), k->fps);
	if (k->present) {
		fprintf(f, "  %s request%s, ",
			kw_report_num(k->events, num, sizeof(num)),
			k->events == 1 ? "" : "s");
		fprintf(f,
			"%" PRIu64 " failed (%" PRIu64
			" denied), seen %s to %s UTC\n",
			k->ks.errors, k->ks.denied,
			kw_report_time(k->first_seen, t0, sizeof(t0)),
			kw_report_time(k->last_seen, t1, sizeof(t1)));
		if (k->has_series)
			timeline(f, k);
		baseline_line(f, k);
	} else {
		fprintf(f,
			"  left the key table before the end (--max-keys)\n");
	}
	fprintf(f, "  alerts: %u\n", k->alerts);
	for (size_t i = 0; i < k->nlist; i++) {
		const struct rp_alert *a = &k->list[i];

		fprintf(f, "    %s  %-8s %-22s ",
			kw_report_time(a->time, t0, sizeof(t0)),
			kw_report_sev_name(a->sev), a->detector);
		put(f, a->summary);
		fputc('\n', f);
	}
	if (k->omitted)
		fprintf(f,
			"    (%u more not listed: the report lists %zu per "
			"key, the most severe)\n",
			k->omitted, m->o->max_alerts);
	where(f, k);
	operations(f, k);
}

static void quiet(FILE *f, const struct rp_model *m)
{
	char t1[40], t2[40], kind[32];

	fprintf(f, "\nquiet keys: %" PRIu64 "\n", m->quiet_total);
	if (!m->nquiet)
		return;
	fprintf(f, "  %-24s %-16s %-16s %-16s %9s %7s %7s %5s  %-16s  %s\n",
		"key", "fingerprint", "name", "kind", "requests", "failed",
		"denied", "ips", "first seen", "last seen");
	for (size_t i = 0; i < m->nquiet; i++) {
		const struct rp_quiet *q = &m->quiet[i];

		snprintf(kind, sizeof(kind), "%s/%s", kw_key_kind_name(q->kind),
			 kw_key_mode_name(q->mode));
		fputs("  ", f);
		pad(f, q->id, 24);
		fprintf(f, " %-16s ", q->fps);
		pad(f, q->name, 16);
		fprintf(f,
			" %-16s %9" PRIu64 " %7" PRIu64 " %7" PRIu64
			" %4u%s  %-16s  %s\n",
			kind, q->events, q->errors, q->denied,
			q->ips > 8 ? 8 : q->ips, q->ips > 8 ? "+" : " ",
			kw_report_time(q->first_seen, t1, sizeof(t1)),
			kw_report_time(q->last_seen, t2, sizeof(t2)));
	}
	if (m->quiet_total > m->nquiet)
		fprintf(f,
			"  (%" PRIu64 " more not listed: the report lists "
			"the %zu busiest)\n",
			m->quiet_total - m->nquiet, m->nquiet);
}

bool kw_report_text(const struct rp_model *m, FILE *f)
{
	const uint64_t *by = m->incidents_on ? m->inc_by_sev : m->alert_by_sev;
	char t1[40], t2[40];
	uint64_t more = m->nkeys - m->nsections + m->untracked;

	fprintf(f, "keywatch report\n\n");
	fprintf(f,
		"input: %" PRIu64 " event%s from %s%" PRIu64
		" key%s in %" PRIu64 " input%s",
		m->es->events, m->es->events == 1 ? "" : "s",
		m->es->keys_estimated ? "about " : "", m->es->keys_distinct,
		m->es->keys_distinct == 1 ? "" : "s", m->es->inputs,
		m->es->inputs == 1 ? "" : "s");
	if (m->es->events)
		fprintf(f, ", %s to %s UTC",
			kw_report_time(m->es->first_ts, t1, sizeof(t1)),
			kw_report_time(m->es->last_ts, t2, sizeof(t2)));
	fprintf(f, "\nalerts: %" PRIu64, m->rs->delivered);
	for (size_t i = 0; i < m->rs->ndetectors; i++)
		fprintf(f, "%s%s %" PRIu64, i ? ", " : " (",
			m->rs->by_detector[i].detector,
			m->rs->by_detector[i].count);
	fprintf(f, "%s\n", m->rs->ndetectors ? ")" : "");
	if (m->incidents_on)
		fprintf(f, "incidents: %zu (%" PRIu64 " open at the end):",
			m->nincidents, m->inc_open);
	else
		fprintf(f, "alerts by severity (incidents are off):");
	for (int s = KW_SEV_CRITICAL; s >= KW_SEV_INFO; s--)
		fprintf(f, " %s %" PRIu64 "%s",
			kw_report_sev_name((enum kw_severity)s), by[s],
			s > KW_SEV_INFO ? "," : "\n");
	if (m->nlisted)
		fprintf(f, "\nincidents, worst first:\n");
	for (size_t i = 0; i < m->nlisted; i++) {
		const struct rp_incident *x = m->incidents[i];

		fprintf(f, "  %-8s %s  %s  ", kw_report_sev_name(x->worst),
			x->id, kw_report_time(x->opened, t1, sizeof(t1)));
		pad(f, x->key_id, 16);
		fprintf(f, " %3u alert%s %-6s  %s\n", x->alerts,
			x->alerts == 1 ? " " : "s", x->open ? "open" : "closed",
			x->detector);
	}
	if (m->nincidents > m->nlisted)
		fprintf(f, "  (%zu more not listed)\n",
			m->nincidents - m->nlisted);
	fprintf(f, "\nkeys with alerts: %" PRIu64 "\n", m->keys_alerting);
	for (size_t i = 0; i < m->nsections; i++)
		key_section(f, m, m->keys[i]);
	if (more)
		fprintf(f,
			"\n(%" PRIu64 " more keys with alerts not shown: the "
			"report shows the %zu worst)\n",
			more, m->o->max_sections);
	quiet(f, m);
	return !ferror(f);
}
