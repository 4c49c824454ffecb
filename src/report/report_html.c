/*
 * report_html.c - the report as one self-contained HTML file: inline CSS,
 * inline SVG charts, no script, no font and nothing else fetched (a
 * Content-Security-Policy in the page forbids it too), readable with
 * scripts off and printable (a print style sheet).
 *
 * The one rule: every string that is not a literal of this file goes
 * through esc(), which escapes the five characters that matter in HTML
 * text and attribute values, replaces control characters and invalid
 * UTF-8 with U+FFFD, and is also what fills SVG <title>s. Links are
 * written only for http:// and https:// URLs.
 *
 * Layout: the summary (incidents by severity, the incidents, an index of
 * the keys with alerts), then one <section class="key"> per key with
 * alerts, worst first: a chart of its requests per minute (its timeline,
 * state/keyreport.h) with the learnt usual rate and spike threshold per
 * hour (rate.spike) and its alerts marked, its alerts, where it was used
 * from and its operations; then the quiet keys in one table. The chart's
 * plot area is filled with one colour used nowhere else (PLOT_BG), which
 * is what the screenshot test looks for.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "core/time.h"
#include "report/report_impl.h"

/* The chart's geometry, in CSS pixels (the SVG is drawn 1:1). */
#define CW 960
#define CH 212
#define PL 58 /* plot left */
#define PR 14
#define PT 18
#define PB 40
#define PW (CW - PL - PR)
#define PH (CH - PT - PB)
#define PLOT_BG "#f3f6fb"
#define LEARN_BG "#e4e9f1"
#define BAR_PEAK "#a8c0dc"
#define BAR_AVG "#33669e"
#define USUAL "#2f855a"
#define SPIKE "#c53030"
#define MINUTE (INT64_C(60) * 1000000)

struct w {
	FILE *f;
	const struct rp_model *m;
};

static void out(struct w *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void out(struct w *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(w->f, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------ escaping */

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len;
	unsigned min;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	unsigned v = c & (0x3f >> (len - 1));

	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	return len;
}

/* Text or an attribute value (always written between double quotes). */
static void esc_n(struct w *w, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned c = p[i];
		size_t len;

		switch (c) {
		case '&':
			fputs("&amp;", w->f);
			i++;
			continue;
		case '<':
			fputs("&lt;", w->f);
			i++;
			continue;
		case '>':
			fputs("&gt;", w->f);
			i++;
			continue;
		case '"':
			fputs("&quot;", w->f);
			i++;
			continue;
		case '\'':
			fputs("&#39;", w->f);
			i++;
			continue;
		default:
			break;
		}
		if (c == '\t' || c == '\n') {
			fputc(' ', w->f);
			i++;
			continue;
		}
		len = utf8_len(p + i, n - i);
		/* C0 and C1 controls, DEL, and bytes that are not UTF-8. */
		if (!len || c < 0x20 || c == 0x7f ||
		    (len == 2 && c == 0xc2 && p[i + 1] < 0xa0)) {
			fputs("\xef\xbf\xbd", w->f);
			i += len ? len : 1;
			continue;
		}
		fwrite(p + i, 1, len, w->f);
		i += len;
	}
}

static void esc(struct w *w, const char *s)
{
	if (s)
		esc_n(w, s, strlen(s));
}

static bool http_url(const char *u)
{
	return u && (!strncmp(u, "https://", 8) || !strncmp(u, "http://", 7));
}

/* ------------------------------------------------------------ pieces */

static const char *sev_class(enum kw_severity s)
{
	return kw_report_sev_name(s);
}

static void badge(struct w *w, enum kw_severity s)
{
	out(w, "<span class=\"badge s-%s\">%s</span>", sev_class(s),
	    kw_report_sev_name(s));
}

static void key_label(struct w *w, const char *id, const char *name)
{
	out(w, "<span class=\"kid\">");
	esc(w, id);
	out(w, "</span>");
	if (name && name[0]) {
		out(w, " <span class=\"kname\">");
		esc(w, name);
		out(w, "</span>");
	}
}

static void time_cell(struct w *w, int64_t us)
{
	char t[40];

	out(w, "<td class=\"t\">%s</td>", kw_report_time(us, t, sizeof(t)));
}

static void num_cell(struct w *w, uint64_t v)
{
	char b[32];

	out(w, "<td class=\"n\">%s</td>", kw_report_num(v, b, sizeof(b)));
}

static const char CSS[] =
	":root{--fg:#1f2933;--mute:#5f6b7a;--line:#d9e2ec;--soft:#f7f9fb;"
	"--crit:#a61b1b;--high:#d9480f;--med:#b7791f;--low:#2b6cb0;"
	"--info:#5f6b7a}\n"
	"*{box-sizing:border-box}\n"
	"html{-webkit-print-color-adjust:exact;print-color-adjust:exact}\n"
	"body{margin:0;background:#eef2f6;color:var(--fg);font:14px/1.45 "
	"system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\","
	"Arial,\"DejaVu Sans\",sans-serif}\n"
	"main{max-width:1010px;margin:0 auto;padding:20px 0 40px}\n"
	"header.top{background:#1f2933;color:#fff;padding:18px 24px;"
	"border-radius:8px 8px 0 0}\n"
	"header.top h1{margin:0;font-size:22px;font-weight:650;"
	"letter-spacing:.2px}\n"
	"header.top p{margin:4px 0 0;color:#cbd2d9}\n"
	"section{background:#fff;border:1px solid var(--line);"
	"border-radius:8px;padding:16px 24px;margin:14px 0}\n"
	"section.sum{border-radius:0 0 8px 8px;margin-top:0}\n"
	"h2{font-size:18px;margin:0 0 10px}\n"
	"h3{font-size:13px;text-transform:uppercase;letter-spacing:.6px;"
	"color:var(--mute);margin:16px 0 6px}\n"
	".tiles{display:flex;gap:10px;margin:4px 0 12px}\n"
	".tile{flex:1;border-radius:6px;padding:8px 12px;border:1px solid "
	"var(--line);background:var(--soft)}\n"
	".tile b{display:block;font-size:26px;line-height:1.1}\n"
	".tile span{color:var(--mute);font-size:12px;text-transform:"
	"uppercase;letter-spacing:.5px}\n"
	".tile.s-critical b{color:var(--crit)}.tile.s-high b{color:"
	"var(--high)}.tile.s-medium b{color:var(--med)}.tile.s-low b{color:"
	"var(--low)}.tile.s-info b{color:var(--info)}\n"
	".tile.zero b{color:#b8c2cc}\n"
	".badge{display:inline-block;min-width:58px;text-align:center;"
	"border-radius:4px;padding:0 6px;font-size:11px;font-weight:700;"
	"text-transform:uppercase;letter-spacing:.4px;color:#fff;"
	"line-height:18px}\n"
	".s-critical.badge{background:var(--crit)}.s-high.badge{background:"
	"var(--high)}.s-medium.badge{background:var(--med)}.s-low.badge{"
	"background:var(--low)}.s-info.badge{background:var(--info)}\n"
	"table{border-collapse:collapse;width:100%;font-size:13px}\n"
	"th{text-align:left;font-weight:600;color:var(--mute);font-size:12px;"
	"border-bottom:1px solid var(--line);padding:4px 6px}\n"
	"td{border-bottom:1px solid #edf1f5;padding:4px 6px;"
	"vertical-align:top}\n"
	"td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\n"
	"td.t{white-space:nowrap;font-variant-numeric:tabular-nums}\n"
	".kid{font-family:ui-monospace,\"DejaVu Sans Mono\",Menlo,Consolas,"
	"monospace;font-size:.95em}\n"
	".kname{color:var(--mute)}\n"
	"td.k{white-space:nowrap}\n"
	"td.what{width:100%;max-width:0;white-space:nowrap;overflow:hidden;"
	"text-overflow:ellipsis}\n"
	".mono{font-family:ui-monospace,\"DejaVu Sans Mono\",Menlo,Consolas,"
	"monospace;font-size:12px}\n"
	".mute{color:var(--mute)}\n"
	".note{color:var(--mute);font-size:12px;margin:6px 0}\n"
	"section.key{border-left:6px solid var(--line)}\n"
	"section.key.s-critical{border-left-color:var(--crit)}\n"
	"section.key.s-high{border-left-color:var(--high)}\n"
	"section.key.s-medium{border-left-color:var(--med)}\n"
	"section.key.s-low{border-left-color:var(--low)}\n"
	"section.key.s-info{border-left-color:var(--info)}\n"
	".key h2 .badge{vertical-align:3px;margin-right:8px}\n"
	".facts{margin:0 0 8px;color:var(--mute)}\n"
	".facts b{color:var(--fg);font-weight:600}\n"
	"figure{margin:8px 0 4px}\n"
	"figure svg{display:block;max-width:100%;height:auto}\n"
	"figcaption{font-size:12px;color:var(--mute);margin-top:2px}\n"
	".sw{display:inline-block;width:10px;height:10px;border-radius:2px;"
	"margin:0 4px 0 10px;vertical-align:-1px}\n"
	".ln{display:inline-block;width:16px;height:0;margin:0 4px 0 10px;"
	"vertical-align:3px;border-top:2px solid}\n"
	".sum2{margin:0 0 8px}\n"
	".cols{display:grid;grid-template-columns:1fr 1fr;gap:0 28px}\n"
	".det{color:var(--mute);font-size:12px;margin-top:2px;"
	"overflow-wrap:anywhere}\n"
	".det b{font-weight:600;color:#3e4c59}\n"
	".tag{display:inline-block;border-radius:3px;padding:0 5px;"
	"font-size:11px;font-weight:600;margin-left:6px;line-height:16px}\n"
	".tag.new{background:#fff3c4;color:#8d6708}\n"
	".tag.alert{background:#fde2e2;color:#9b1c1c}\n"
	".chips span{display:inline-block;border:1px solid var(--line);"
	"border-radius:10px;padding:0 8px;margin:0 4px 4px 0;font-size:12px;"
	"background:var(--soft)}\n"
	".chips span.hot{border-color:#f3b7a7;background:#fff0eb}\n"
	"a{color:#1d5fa7;text-decoration:none}a:hover{text-decoration:"
	"underline}\n"
	"footer{color:var(--mute);font-size:12px;padding:0 4px}\n"
	"nav{font-size:13px;margin:4px 0 0}nav a{color:#e4e7eb;"
	"margin-right:14px}\n"
	"@media (max-width:760px){.cols{grid-template-columns:1fr}"
	".tiles{flex-wrap:wrap}}\n"
	"@media print{body{background:#fff;font-size:11px}main{max-width:"
	"none;padding:0}section{border:none;border-top:1px solid #999;"
	"border-radius:0;padding:8px 0;margin:0}section.key{border-left:"
	"none;break-before:page}header.top{border-radius:0}nav{display:"
	"none}figure,tr,.tile{break-inside:avoid}a{color:inherit}}\n";

/* ------------------------------------------------------------ the chart */

static const int64_t tick_steps[] = {
	1 * MINUTE,	    2 * MINUTE,	       5 * MINUTE,
	10 * MINUTE,	    15 * MINUTE,       30 * MINUTE,
	60 * MINUTE,	    120 * MINUTE,      180 * MINUTE,
	360 * MINUTE,	    720 * MINUTE,      1440 * MINUTE,
	2 * 1440 * MINUTE,  7 * 1440 * MINUTE, 14 * 1440 * MINUTE,
	30 * 1440 * MINUTE,
};

struct chart {
	int64_t t0, t1; /* the time axis */
	double ymax;
	unsigned npoints;
};

static double xpos(const struct chart *c, int64_t t)
{
	double x;

	if (t < c->t0)
		t = c->t0;
	if (t > c->t1)
		t = c->t1;
	x = PL + (double)(t - c->t0) / (double)(c->t1 - c->t0) * PW;
	return x;
}

static double ypos(const struct chart *c, double v)
{
	if (v > c->ymax)
		v = c->ymax;
	return PT + PH - v / c->ymax * PH;
}

static double nice_step(double max)
{
	double p = pow(10, floor(log10(max > 1 ? max : 1)));

	for (;;) {
		if (max / p <= 5)
			return p;
		if (max / (2 * p) <= 5)
			return 2 * p;
		if (max / (5 * p) <= 5)
			return 5 * p;
		p *= 10;
	}
}

/* The usual rate and spike threshold at time t, by the hour of the day. */
static unsigned hour_of(int64_t t)
{
	int64_t h = t / (INT64_C(3600) * 1000000) % 24;

	return (unsigned)(h < 0 ? h + 24 : h);
}

static bool drawn_baseline(const struct rp_key *k)
{
	if (!k->profile.has_rate)
		return false;
	for (int h = 0; h < 24; h++) {
		if (k->profile.spike_at[h] > 0)
			return true;
	}
	return false;
}

static void chart_scale(const struct rp_key *k, struct chart *c,
			double *spike_max)
{
	const struct kw_keyreport *s = &k->series;
	double ymax = 1, usual = 0, spike = 0;

	c->npoints = kw_keyreport_npoints(s);
	c->t0 = kw_keyreport_time(s, 0);
	c->t1 = kw_keyreport_time(s, c->npoints);
	if (c->t1 - c->t0 < 30 * MINUTE)
		c->t1 = c->t0 + 30 * MINUTE;
	for (unsigned i = 0; i < c->npoints; i++) {
		if (s->peak[i] > ymax)
			ymax = s->peak[i];
	}
	if (drawn_baseline(k)) {
		for (unsigned i = 0; i < c->npoints; i++) {
			int64_t t = kw_keyreport_time(s, i);
			unsigned h = hour_of(t + kw_keyreport_width(s) / 2);

			if (t + kw_keyreport_width(s) <= k->learned_at)
				continue;
			if (k->profile.usual[h] > usual)
				usual = k->profile.usual[h];
			if (k->profile.spike_at[h] > spike)
				spike = k->profile.spike_at[h];
		}
	}
	if (usual > ymax)
		ymax = usual;
	/* The threshold is drawn to scale when it is near the data; far
	 * above it, the caption says where it is. */
	if (spike > ymax && spike <= 1.6 * ymax)
		ymax = spike;
	*spike_max = spike;
	c->ymax = ceil(ymax * 1.08 / nice_step(ymax * 1.08)) *
		  nice_step(ymax * 1.08);
}

static void axis_x(struct w *w, const struct chart *c)
{
	int64_t span = c->t1 - c->t0, step = tick_steps[0];
	bool first = true;
	char buf[40];

	for (size_t i = 0; i < sizeof(tick_steps) / sizeof(tick_steps[0]);
	     i++) {
		step = tick_steps[i];
		if (span / step <= 7)
			break;
	}
	for (int64_t t = (c->t0 + step - 1) / step * step; t <= c->t1;
	     t += step) {
		time_t secs = (time_t)(t / 1000000);
		struct tm tm;
		double x = xpos(c, t);
		bool day = step >= 1440 * MINUTE;
		bool midnight = t % (1440 * MINUTE) == 0;

		if (!gmtime_r(&secs, &tm) || x > CW - 16)
			continue;
		out(w,
		    "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
		    "stroke=\"#9aa5b1\"/>",
		    x, PT + PH, x, PT + PH + 4);
		if (day) {
			strftime(buf, sizeof(buf), "%b %d", &tm);
			out(w,
			    "<text x=\"%.1f\" y=\"%d\" "
			    "text-anchor=\"middle\">%s</text>",
			    x, PT + PH + 17, buf);
		} else {
			strftime(buf, sizeof(buf), "%H:%M", &tm);
			out(w,
			    "<text x=\"%.1f\" y=\"%d\" "
			    "text-anchor=\"middle\">%s</text>",
			    x, PT + PH + 17, buf);
			if (first || midnight) {
				strftime(buf, sizeof(buf), "%b %d", &tm);
				out(w,
				    "<text x=\"%.1f\" y=\"%d\" "
				    "text-anchor=\"middle\" "
				    "class=\"d\">%s</text>",
				    x, PT + PH + 31, buf);
			}
		}
		first = false;
	}
}

static void axis_y(struct w *w, const struct chart *c)
{
	double step = nice_step(c->ymax);

	/* Whole steps, counted: a float loop variable drifts. */
	for (int i = 0; i * step <= c->ymax + step / 1000 && i <= 64; i++) {
		double v = i * step;
		double y = ypos(c, v);

		if (v > 0)
			out(w,
			    "<line x1=\"%d\" y1=\"%.0f.5\" x2=\"%d\" "
			    "y2=\"%.0f.5\" stroke=\"#dbe3ec\" "
			    "shape-rendering=\"crispEdges\"/>",
			    PL, floor(y), PL + PW, floor(y));
		out(w,
		    "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>",
		    PL - 6, y + 4, v);
	}
	out(w,
	    "<text x=\"14\" y=\"%d\" text-anchor=\"middle\" "
	    "transform=\"rotate(-90 14 %d)\">requests / min</text>",
	    PT + PH / 2, PT + PH / 2);
}

static void bars(struct w *w, const struct rp_key *k, const struct chart *c)
{
	const struct kw_keyreport *s = &k->series;
	double minutes = (double)kw_keyreport_width(s) / MINUTE;

	for (unsigned i = 0; i < c->npoints; i++) {
		double x0 = xpos(c, kw_keyreport_time(s, i));
		double x1 = xpos(c, kw_keyreport_time(s, i + 1));
		double bw = x1 - x0 > 2 ? x1 - x0 - (x1 - x0 > 6 ? 1 : 0.3)
					: x1 - x0;
		uint64_t n = kw_keyreport_count(s, i);
		double avg = (double)n / minutes;
		char t[40], num[32];

		if (!s->peak[i] && !n)
			continue;
		if (bw < 0.8)
			bw = 0.8;
		out(w, "<g><title>%s: ",
		    kw_report_time(kw_keyreport_time(s, i), t, sizeof(t)));
		out(w, "%s request%s", kw_report_num(n, num, sizeof(num)),
		    n == 1 ? "" : "s");
		if (minutes > 1)
			out(w, " in %.0f min, busiest minute %u", minutes,
			    s->peak[i]);
		out(w, "</title>");
		if (minutes > 1)
			out(w,
			    "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
			    "height=\"%.2f\" fill=\"" BAR_PEAK "\"/>",
			    x0, ypos(c, s->peak[i]), bw,
			    PT + PH - ypos(c, s->peak[i]));
		if (avg > 0) {
			double y = ypos(c, avg);
			double h = PT + PH - y;

			if (h < 1)
				h = 1, y = PT + PH - 1;
			out(w,
			    "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
			    "height=\"%.2f\" fill=\"" BAR_AVG "\"/>",
			    x0, y, bw, h);
		}
		out(w, "</g>");
	}
}

/* A step line of the learnt per-hour value (usual or spike) over the
 * points after the key's learning. */
static void baseline(struct w *w, const struct rp_key *k, const struct chart *c,
		     const float *v, const char *colour, const char *extra)
{
	const struct kw_keyreport *s = &k->series;
	int64_t width = kw_keyreport_width(s);
	int64_t step = width < 60 * MINUTE ? width : 60 * MINUTE;
	int64_t from = k->learned_at > c->t0 ? k->learned_at : c->t0;
	bool open = false;

	if (from >= c->t1)
		return;
	from = from / step * step;
	for (int64_t t = from; t < c->t1; t += step) {
		double val = v[hour_of(t + step / 2)];
		double y = ypos(c, val);
		double x0 = xpos(c, t), x1 = xpos(c, t + step);

		if (val > c->ymax) {
			/* off the chart: the caption says where */
			if (open)
				out(w, "\"/>");
			open = false;
			continue;
		}
		if (!open) {
			out(w,
			    "<polyline fill=\"none\" stroke=\"%s\" "
			    "stroke-width=\"1.6\"%s points=\"",
			    colour, extra);
			open = true;
		}
		out(w, "%.1f,%.1f %.1f,%.1f ", x0, y, x1, y);
	}
	if (open)
		out(w, "\"/>");
}

static void markers(struct w *w, const struct rp_key *k, const struct chart *c)
{
	for (size_t i = 0; i < k->nlist; i++) {
		const struct rp_alert *a = &k->list[i];
		double x = xpos(c, a->time);
		char t[40];

		out(w, "<g class=\"m s-%s\"><title>", sev_class(a->sev));
		out(w, "%s %s ", kw_report_time(a->time, t, sizeof(t)),
		    kw_report_sev_name(a->sev));
		esc(w, a->detector);
		out(w, ": ");
		esc(w, a->summary);
		out(w,
		    "</title><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" "
		    "y2=\"%d\" stroke-width=\"1.5\" stroke-dasharray=\"3 2\"/>"
		    "<path d=\"M%.1f %d l-5.5 -9 h11 z\"/></g>",
		    x, PT, x, PT + PH, x, PT);
	}
}

static void chart(struct w *w, const struct rp_key *k)
{
	struct chart c;
	double spike_max = 0;
	bool base = drawn_baseline(k);
	char t0[40], t1[40], wid[32];
	int64_t width = kw_keyreport_width(&k->series);

	chart_scale(k, &c, &spike_max);
	out(w,
	    "<figure class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" "
	    "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
	    "aria-label=\"requests per minute\" font-size=\"11\" "
	    "fill=\"#52606d\">",
	    CW, CH, CW, CH);
	out(w, "<style>.m line{stroke:currentColor}.m path{fill:currentColor;"
	       "stroke:#fff;stroke-width:1}.m.s-critical{color:#a61b1b}"
	       ".m.s-high{color:#d9480f}.m.s-medium{color:#b7791f}"
	       ".m.s-low{color:#2b6cb0}.m.s-info{color:#5f6b7a}"
	       "text.d{fill:#7b8794}text.l{fill:#7b8794;stroke:" LEARN_BG ";"
	       "stroke-width:4px;paint-order:stroke}</style>");
	out(w,
	    "<rect class=\"plot\" x=\"%d\" y=\"%d\" width=\"%d\" "
	    "height=\"%d\" fill=\"" PLOT_BG "\"/>",
	    PL, PT, PW, PH);
	if (k->profile.has_rate && k->learned_at > c.t0) {
		double x1 = xpos(&c, k->learned_at);

		out(w,
		    "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
		    "fill=\"" LEARN_BG "\"/>",
		    PL, PT, x1 - PL, PH);
		if (x1 - PL > 150) {
			char until[40];

			out(w,
			    "<text x=\"%.1f\" y=\"%d\" class=\"l\" "
			    "text-anchor=\"middle\">learning until %s</text>",
			    (PL + x1) / 2, PT + 14,
			    kw_report_time(k->learned_at, until,
					   sizeof(until)));
		} else if (x1 - PL > 60) {
			out(w,
			    "<text x=\"%.1f\" y=\"%d\" class=\"l\" "
			    "text-anchor=\"middle\">learning</text>",
			    (PL + x1) / 2, PT + 14);
		}
	}
	axis_y(w, &c);
	axis_x(w, &c);
	bars(w, k, &c);
	if (base) {
		baseline(w, k, &c, k->profile.usual, USUAL, "");
		baseline(w, k, &c, k->profile.spike_at, SPIKE,
			 " stroke-dasharray=\"6 4\"");
	}
	markers(w, k, &c);
	out(w,
	    "<line x1=\"%d\" y1=\"%d.5\" x2=\"%d\" y2=\"%d.5\" "
	    "stroke=\"#9aa5b1\" shape-rendering=\"crispEdges\"/>",
	    PL, PT + PH, PL + PW, PT + PH);
	out(w, "</svg><figcaption>");
	kw_duration_format(width, wid, sizeof(wid));
	if (width > MINUTE)
		out(w,
		    "<span class=\"sw\" style=\"background:" BAR_PEAK
		    "\"></span>busiest minute of each %s"
		    "<span class=\"sw\" style=\"background:" BAR_AVG
		    "\"></span>average",
		    wid);
	else
		out(w, "<span class=\"sw\" style=\"background:" BAR_AVG
		       "\"></span>requests per minute");
	if (base) {
		out(w, "<span class=\"ln\" style=\"border-color:" USUAL
		       "\"></span>usual for the hour");
		if (spike_max > c.ymax)
			out(w,
			    "<span class=\"ln\" style=\"border-color:" SPIKE
			    ";border-top-style:dashed\"></span>spike "
			    "threshold: %.0f / min, above the chart",
			    spike_max);
		else
			out(w, "<span class=\"ln\" style=\"border-color:" SPIKE
			       ";border-top-style:dashed\"></span>spike "
			       "threshold");
	}
	if (k->nlist)
		out(w, "<span class=\"ln\" style=\"border-color:#d9480f;"
		       "border-top-style:dotted\"></span>alerts");
	out(w, "<br>%s to %s UTC", kw_report_time(c.t0, t0, sizeof(t0)),
	    kw_report_time(c.t1, t1, sizeof(t1)));
	if (base)
		out(w, "; the usual rate and the threshold are what the key "
		       "had learnt by the end");
	out(w, "</figcaption></figure>\n");
}

/* ------------------------------------------------------------ a key */

static void alert_details(struct w *w, const struct rp_alert *a)
{
	/* Evidence fields shown, and the words they are shown as. */
	static const char *const fields[][2] = {
		{"ip", "IP"},
		{"country", "country"},
		{"op", "operation"},
		{"method", "method"},
		{"path", "path"},
		{"origin", "origin"},
		{"user_agent", "user agent"},
		{"region", "region"},
		{"status", "status"},
		{NULL, NULL},
	};
	bool any = false;

	for (size_t i = 0; fields[i][0]; i++) {
		json_t *v = a->evidence
				    ? json_object_get(a->evidence, fields[i][0])
				    : NULL;

		if (!v || (!json_is_string(v) && !json_is_integer(v)))
			continue;
		out(w, any ? " &middot; " : "<div class=\"det\">");
		any = true;
		out(w, "<b>%s</b> ", fields[i][1]);
		if (json_is_integer(v))
			out(w, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		else
			esc(w, json_string_value(v));
	}
	if (a->links && json_array_size(a->links)) {
		size_t i;
		json_t *l;

		out(w, any ? " &middot; " : "<div class=\"det\">");
		any = true;
		out(w, "<b>request</b>");
		json_array_foreach(a->links, i, l)
		{
			const char *rq = json_string_value(
				json_object_get(l, "request"));
			const char *url =
				json_string_value(json_object_get(l, "url"));

			if (!rq)
				continue;
			out(w, " ");
			if (http_url(url)) {
				out(w, "<a href=\"");
				esc(w, url);
				out(w, "\" rel=\"noreferrer\">");
				esc(w, rq);
				out(w, "</a>");
			} else {
				esc(w, rq);
			}
		}
	}
	if (http_url(a->runbook)) {
		out(w, any ? " &middot; " : "<div class=\"det\">");
		any = true;
		out(w, "<a href=\"");
		esc(w, a->runbook);
		out(w, "\" rel=\"noreferrer\">runbook</a>");
	}
	if (any)
		out(w, "</div>");
}

static void alerts_table(struct w *w, const struct rp_key *k)
{
	out(w, "<h3>Alerts</h3><table class=\"alerts\"><tr><th>time "
	       "(UTC)</th><th>severity</th><th>detector</th><th>what "
	       "happened</th><th>incident</th></tr>\n");
	for (size_t i = 0; i < k->nlist; i++) {
		const struct rp_alert *a = &k->list[i];

		out(w, "<tr>");
		time_cell(w, a->time);
		out(w, "<td>");
		badge(w, a->sev);
		out(w, "</td><td class=\"mono\">");
		esc(w, a->detector);
		out(w, "</td><td>");
		esc(w, a->summary);
		alert_details(w, a);
		out(w, "</td><td class=\"mono\">");
		esc(w, a->incident);
		out(w, "</td></tr>\n");
	}
	out(w, "</table>");
	if (k->omitted)
		out(w,
		    "<p class=\"note\">%u more alert%s of this key not listed "
		    "(the report lists %zu per key, the most severe; every "
		    "alert is in the JSON output, -o json)</p>",
		    k->omitted, k->omitted == 1 ? "" : "s",
		    w->m->o->max_alerts);
	if (k->partial)
		out(w, "<p class=\"note\">The report let go of this key for a "
		       "while (it follows at most a few hundred keys with "
		       "alerts): its counts start later than its alerts.</p>");
}

static bool noted_by(const struct rp_key *k, const char *text,
		     const struct rp_noted **n)
{
	for (unsigned i = 0; i < k->nips; i++) {
		if (!strcmp(k->ips[i].text, text)) {
			*n = &k->ips[i];
			return true;
		}
	}
	return false;
}

static void where(struct w *w, const struct rp_key *k)
{
	const struct kw_detect_profile *p = &k->profile;
	char buf[64], num[32];
	const struct rp_noted *n;

	out(w, "<div><h3>Where it was used from</h3>");
	if (!k->present) {
		out(w, "<p class=\"note\">The key left the key table before "
		       "the end (--max-keys): only its alerts are known.</p>");
	} else if (!p->geo_watched) {
		out(w,
		    "<p class=\"note\">Not judged by place (a publishable "
		    "key is used from customers' browsers; set "
		    "geo_publishable to watch it): %s%u distinct IP%s.</p>",
		    k->ks.ips > 8 ? "more than " : "",
		    k->ks.ips > 8 ? 8 : k->ks.ips, k->ks.ips == 1 ? "" : "s");
	} else {
		out(w, "<div class=\"chips\">");
		if (p->ncountries) {
			out(w, "<div><b>countries</b> ");
			for (unsigned i = 0; i < p->ncountries; i++) {
				out(w, "<span>");
				esc(w, p->countries[i]);
				out(w, "</span>");
			}
			out(w, "</div>");
		}
		if (p->nasns) {
			out(w, "<div><b>networks (AS)</b> ");
			for (unsigned i = 0; i < p->nasns; i++)
				out(w, "<span>AS%" PRIu32 "</span>",
				    p->asns[i]);
			out(w, "</div>");
		}
		if (p->nnets) {
			out(w, "<div><b>networks</b> ");
			for (unsigned i = 0; i < p->nnets; i++) {
				kw_ip_format(&p->nets[i], buf, sizeof(buf));
				out(w, "<span>");
				esc(w, buf);
				out(w, "/%d</span>",
				    p->nets[i].family == 4 ? 24 : 48);
			}
			out(w, "</div>");
		}
		if (p->nips) {
			out(w, "<div><b>addresses</b> ");
			for (unsigned i = 0; i < p->nips; i++) {
				kw_ip_format(&p->ips[i], buf, sizeof(buf));
				out(w, "<span%s>",
				    noted_by(k, buf, &n) ? " class=\"hot\""
							 : "");
				esc(w, buf);
				out(w, "</span>");
			}
			out(w, "</div>");
		}
		out(w, "</div><p class=\"note\">%s distinct address%s in all",
		    kw_report_num(p->total_ips, num, sizeof(num)),
		    p->total_ips == 1 ? "" : "es");
		if (!p->ncountries)
			out(w, "; countries and AS numbers need a GeoIP "
			       "database (--geoip)");
		out(w, ". The first eight of each, in the order first "
		       "seen.</p>");
	}
	if (k->nips) {
		out(w, "<p class=\"det\"><b>named in alerts</b> ");
		for (unsigned i = 0; i < k->nips; i++) {
			out(w, "%s<span class=\"mono\">", i ? ", " : "");
			esc(w, k->ips[i].text);
			out(w, "</span> (");
			esc(w, k->ips[i].detector);
			out(w, ")");
		}
		out(w, "</p>");
	}
	out(w, "</div>");
}

/* The alert that named operation op, or NULL. */
static const struct rp_noted *op_noted(const struct rp_key *k, const char *op)
{
	for (unsigned i = 0; i < k->nops; i++) {
		if (!strcmp(k->ops[i].text, op))
			return &k->ops[i];
	}
	return NULL;
}

static void op_tags(struct w *w, const struct rp_key *k,
		    const struct rp_noted *n, bool is_new)
{
	if (n && !strcmp(n->detector, "ops.first_seen"))
		is_new = true;
	if (is_new)
		out(w, "<span class=\"tag new\">first seen</span>");
	if (n && strcmp(n->detector, "ops.first_seen")) {
		out(w, "<span class=\"tag alert\">");
		esc(w, n->detector);
		out(w, "</span>");
	}
	(void)k;
}

static void operations(struct w *w, const struct rp_key *k)
{
	const struct kw_keyreport *s = &k->series;
	unsigned shown = 0;
	int order[KW_KEYREPORT_OPS];
	unsigned n = 0;

	out(w, "<div><h3>Operations</h3>");
	if (k->has_series)
		n = kw_report_ops_order(s, order);
	out(w, "<table class=\"ops\"><tr><th>operation</th><th "
	       "class=\"n\">requests</th><th>first seen (UTC)</th></tr>\n");
	for (unsigned i = 0; i < n; i++) {
		const struct kw_keyreport_op *o = &s->ops[order[i]];
		bool inherited = o->flags & KW_KEYREPORT_INHERITED;
		int64_t first = (int64_t)o->first * MINUTE;
		char t[40], num[32];

		out(w, "<tr><td class=\"mono\">");
		esc(w, o->name);
		op_tags(w, k, op_noted(k, o->name),
			!inherited && first >= k->learned_at &&
				k->learned_at > k->first_seen);
		out(w, "</td><td class=\"n\">%s%s</td>",
		    inherited ? "&le; " : "",
		    kw_report_num(o->n, num, sizeof(num)));
		if (inherited)
			out(w, "<td class=\"mute\">&ndash;</td>");
		else
			out(w, "<td class=\"t\">%s</td>",
			    kw_report_time(first, t, sizeof(t)));
		out(w, "</tr>\n");
		shown++;
	}
	/* Operations the alerts named that the list does not hold. */
	for (unsigned i = 0; i < k->nops; i++) {
		bool listed = false;
		char t[40], num[32];

		for (unsigned j = 0; j < n; j++)
			listed = listed ||
				 !strcmp(s->ops[order[j]].name, k->ops[i].text);
		if (listed)
			continue;
		out(w, "<tr><td class=\"mono\">");
		esc(w, k->ops[i].text);
		op_tags(w, k, &k->ops[i], false);
		/* Not listed: used no more than the least used listed one. */
		if (n == KW_KEYREPORT_OPS)
			out(w, "</td><td class=\"n mute\">&le; %s</td>",
			    kw_report_num(s->ops[order[n - 1]].n, num,
					  sizeof(num)));
		else
			out(w, "</td><td class=\"n mute\">&ndash;</td>");
		out(w, "<td class=\"t\">%s</td></tr>\n",
		    kw_report_time(k->ops[i].time, t, sizeof(t)));
		shown++;
	}
	out(w, "</table>");
	if (!shown)
		out(w, "<p class=\"note\">No operation named in its "
		       "requests.</p>");
	else if (n == KW_KEYREPORT_OPS)
		out(w,
		    "<p class=\"note\">The %d it used most; "
		    "&le; marks a count shared with operations it "
		    "displaced.</p>",
		    KW_KEYREPORT_OPS);
	out(w, "</div>");
}

static void key_section(struct w *w, const struct rp_key *k)
{
	char num[32], t0[40], t1[40];

	out(w, "<section class=\"key s-%s\" id=\"k-%s\">\n<h2>",
	    sev_class(k->worst), k->fps);
	badge(w, k->worst);
	key_label(w, k->id, k->name);
	out(w,
	    "</h2>\n<p class=\"facts\">%s %s &middot; fingerprint <span "
	    "class=\"mono\">%s</span>",
	    kw_key_kind_name(k->kind), kw_key_mode_name(k->mode), k->fps);
	if (k->present) {
		out(w, " &middot; <b>%s</b> request%s",
		    kw_report_num(k->events, num, sizeof(num)),
		    k->events == 1 ? "" : "s");
		out(w, ", <b>%s</b> failed",
		    kw_report_num(k->ks.errors, num, sizeof(num)));
		out(w, " (%s denied)",
		    kw_report_num(k->ks.denied, num, sizeof(num)));
		out(w, " &middot; seen %s to %s UTC",
		    kw_report_time(k->first_seen, t0, sizeof(t0)),
		    kw_report_time(k->last_seen, t1, sizeof(t1)));
	}
	out(w, " &middot; <b>%u</b> alert%s", k->alerts,
	    k->alerts == 1 ? "" : "s");
	out(w, "</p>\n");
	if (k->present && k->has_series && kw_keyreport_npoints(&k->series))
		chart(w, k);
	alerts_table(w, k);
	out(w, "<div class=\"cols\">");
	where(w, k);
	operations(w, k);
	out(w, "</div></section>\n");
}

/* ------------------------------------------------------------ summary */

static void tiles(struct w *w)
{
	const struct rp_model *m = w->m;
	const uint64_t *by = m->incidents_on ? m->inc_by_sev : m->alert_by_sev;

	out(w, "<div class=\"tiles\">");
	for (int s = KW_SEV_CRITICAL; s >= KW_SEV_INFO; s--) {
		char num[32];

		out(w,
		    "<div class=\"tile s-%s%s\"><b>%s</b><span>%s</span>"
		    "</div>",
		    sev_class((enum kw_severity)s), by[s] ? "" : " zero",
		    kw_report_num(by[s], num, sizeof(num)),
		    kw_report_sev_name((enum kw_severity)s));
	}
	out(w, "</div>\n");
}

static void incidents_table(struct w *w)
{
	const struct rp_model *m = w->m;

	if (!m->nlisted)
		return;
	out(w, "<h3>Incidents, worst first</h3><table "
	       "class=\"incidents\"><tr><th>severity</th><th>opened "
	       "(UTC)</th><th>key</th><th>worst alert</th><th "
	       "class=\"n\">alerts</th><th>state</th></tr>\n");
	for (size_t i = 0; i < m->nlisted; i++) {
		const struct rp_incident *x = m->incidents[i];
		char fps[17];

		snprintf(fps, sizeof(fps), "%016" PRIx64, x->fp);
		out(w, "<tr id=\"i-");
		esc(w, x->id);
		out(w, "\"><td>");
		badge(w, x->worst);
		out(w, "</td>");
		time_cell(w, x->opened);
		out(w, "<td class=\"k\"><a href=\"#k-%s\">", fps);
		key_label(w, x->key_id, x->key_name);
		out(w, "</a></td><td class=\"what\" title=\"");
		esc(w, x->summary);
		out(w, "\"><span class=\"mono\">");
		esc(w, x->detector);
		out(w, "</span> ");
		esc(w, x->summary);
		out(w, "</td>");
		num_cell(w, x->alerts);
		out(w, "<td>%s</td></tr>\n", x->open ? "open" : "closed");
	}
	out(w, "</table>");
	if (m->nincidents > m->nlisted) {
		char num[32];

		out(w,
		    "<p class=\"note\">%s more incident%s not listed (the "
		    "report lists the %zu worst).</p>",
		    kw_report_num(m->nincidents - m->nlisted, num, sizeof(num)),
		    m->nincidents - m->nlisted == 1 ? "" : "s", m->nlisted);
	}
	if (m->inc_dropped)
		out(w,
		    "<p class=\"note\">%" PRIu64
		    " alerts joined incidents beyond the report's bound and "
		    "are not counted by incident.</p>",
		    m->inc_dropped);
}

static void keys_index(struct w *w)
{
	const struct rp_model *m = w->m;

	if (!m->nsections)
		return;
	out(w, "<h3>Keys with alerts</h3><table class=\"index\"><tr><th>"
	       "worst</th><th>key</th><th>kind</th><th class=\"n\">"
	       "alerts</th><th class=\"n\">requests</th><th>first alert "
	       "(UTC)</th></tr>\n");
	for (size_t i = 0; i < m->nsections; i++) {
		const struct rp_key *k = m->keys[i];

		out(w, "<tr><td>");
		badge(w, k->worst);
		out(w, "</td><td><a href=\"#k-%s\">", k->fps);
		key_label(w, k->id, k->name);
		out(w, "</a></td><td>%s %s</td>", kw_key_kind_name(k->kind),
		    kw_key_mode_name(k->mode));
		num_cell(w, k->alerts);
		if (k->present)
			num_cell(w, k->events);
		else
			out(w, "<td class=\"n mute\">&ndash;</td>");
		time_cell(w, k->first_alert);
		out(w, "</tr>\n");
	}
	out(w, "</table>");
}

static void summary(struct w *w)
{
	const struct rp_model *m = w->m;
	char num[32], num2[32], t0[40], t1[40];
	uint64_t shown_more = m->nkeys - m->nsections + m->untracked;

	out(w, "<section class=\"sum\" id=\"summary\">\n");
	if (m->incidents_on)
		out(w, "<h2>Incidents by severity</h2>");
	else
		out(w, "<h2>Alerts by severity</h2>");
	tiles(w);
	out(w, "<p class=\"sum2\"><b>%s</b> alert%s",
	    kw_report_num(m->rs->delivered, num, sizeof(num)),
	    m->rs->delivered == 1 ? "" : "s");
	if (m->incidents_on)
		out(w, " in <b>%s</b> incident%s (%s still open at the end)",
		    kw_report_num(m->nincidents, num, sizeof(num)),
		    m->nincidents == 1 ? "" : "s",
		    kw_report_num(m->inc_open, num2, sizeof(num2)));
	else
		out(w, " (incidents are off in the config)");
	out(w, " &middot; <b>%s</b> key%s raised alerts, ",
	    kw_report_num(m->keys_alerting, num, sizeof(num)),
	    m->keys_alerting == 1 ? "" : "s");
	out(w, "<b>%s</b> %s quiet",
	    kw_report_num(m->quiet_total, num, sizeof(num)),
	    m->quiet_total == 1 ? "was" : "were");
	if (m->es->events)
		out(w, " &middot; %s to %s UTC",
		    kw_report_time(m->es->first_ts, t0, sizeof(t0)),
		    kw_report_time(m->es->last_ts, t1, sizeof(t1)));
	out(w, "</p>\n");
	if (m->rs->ndetectors) {
		out(w, "<p class=\"note\">By detector: ");
		for (size_t i = 0; i < m->rs->ndetectors; i++) {
			out(w, "%s<span class=\"mono\">", i ? ", " : "");
			esc(w, m->rs->by_detector[i].detector);
			out(w, "</span> %" PRIu64, m->rs->by_detector[i].count);
		}
		out(w, "</p>\n");
	}
	incidents_table(w);
	keys_index(w);
	if (shown_more)
		out(w,
		    "<p class=\"note\">%s more key%s with alerts not drawn: "
		    "the report draws the %zu worst (every alert is in the "
		    "JSON output, -o json).</p>",
		    kw_report_num(shown_more, num, sizeof(num)),
		    shown_more == 1 ? "" : "s", m->o->max_sections);
	out(w, "</section>\n");
}

static void quiet_table(struct w *w)
{
	const struct rp_model *m = w->m;
	char num[32];

	out(w, "<section id=\"quiet\"><h2>Quiet keys</h2>");
	if (!m->nquiet) {
		out(w, "<p class=\"note\">Every key raised an alert.</p>"
		       "</section>\n");
		return;
	}
	out(w, "<p class=\"note\">Keys that raised no alert, busiest "
	       "first.</p>");
	out(w, "<table class=\"quiet\"><tr><th>key</th><th>kind</th><th "
	       "class=\"n\">requests</th><th class=\"n\">failed</th><th "
	       "class=\"n\">denied</th><th class=\"n\">IPs</th><th>first "
	       "seen (UTC)</th><th>last seen</th></tr>\n");
	for (size_t i = 0; i < m->nquiet; i++) {
		const struct rp_quiet *q = &m->quiet[i];

		out(w, "<tr><td>");
		key_label(w, q->id, q->name);
		out(w, "</td><td>%s %s</td>", kw_key_kind_name(q->kind),
		    kw_key_mode_name(q->mode));
		num_cell(w, q->events);
		num_cell(w, q->errors);
		num_cell(w, q->denied);
		out(w, "<td class=\"n\">%s%u</td>", q->ips > 8 ? "&gt;" : "",
		    q->ips > 8 ? 8 : q->ips);
		time_cell(w, q->first_seen);
		time_cell(w, q->last_seen);
		out(w, "</tr>\n");
	}
	out(w, "</table>");
	if (m->quiet_total > m->nquiet)
		out(w,
		    "<p class=\"note\">%s more quiet key%s not listed (the "
		    "report lists the %zu busiest).</p>",
		    kw_report_num(m->quiet_total - m->nquiet, num, sizeof(num)),
		    m->quiet_total - m->nquiet == 1 ? "" : "s", m->nquiet);
	out(w, "</section>\n");
}

bool kw_report_html(const struct rp_model *m, FILE *f)
{
	struct w w = {f, m};
	char num[32], num2[32];
	uint64_t worst_n = 0;
	int worst = -1;
	const uint64_t *by = m->incidents_on ? m->inc_by_sev : m->alert_by_sev;

	for (int s = KW_SEV_CRITICAL; s >= KW_SEV_INFO && worst < 0; s--) {
		if (by[s]) {
			worst = s;
			worst_n = by[s];
		}
	}
	out(&w, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta "
		"charset=\"utf-8\">\n<meta name=\"viewport\" "
		"content=\"width=device-width, initial-scale=1\">\n<meta "
		"http-equiv=\"Content-Security-Policy\" content=\"default-src "
		"'none'; style-src 'unsafe-inline'; img-src data:\">\n<meta "
		"name=\"referrer\" content=\"no-referrer\">\n");
	out(&w, "<title>keywatch report: ");
	if (worst >= 0)
		out(&w, "%s %s %s", kw_report_num(worst_n, num, sizeof(num)),
		    kw_report_sev_name((enum kw_severity)worst),
		    m->incidents_on ? (worst_n == 1 ? "incident" : "incidents")
				    : (worst_n == 1 ? "alert" : "alerts"));
	else
		out(&w, "no alerts");
	out(&w, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n",
	    CSS);
	out(&w,
	    "<header class=\"top\"><h1>keywatch report</h1><p>%s "
	    "request%s from %s%s key%s",
	    kw_report_num(m->es->events, num, sizeof(num)),
	    m->es->events == 1 ? "" : "s",
	    m->es->keys_estimated ? "about " : "",
	    kw_report_num(m->es->keys_distinct, num2, sizeof(num2)),
	    m->es->keys_distinct == 1 ? "" : "s");
	out(&w, " in %s input%s",
	    kw_report_num(m->es->inputs, num, sizeof(num)),
	    m->es->inputs == 1 ? "" : "s");
	if (m->es->events) {
		char t0[40], t1[40];

		out(&w, ", %s to %s UTC",
		    kw_report_time(m->es->first_ts, t0, sizeof(t0)),
		    kw_report_time(m->es->last_ts, t1, sizeof(t1)));
	}
	out(&w, "</p><nav><a href=\"#summary\">Summary</a>");
	if (m->nsections)
		out(&w, "<a href=\"#k-%s\">Keys with alerts (%zu)</a>",
		    m->keys[0]->fps, m->nsections);
	out(&w, "<a href=\"#quiet\">Quiet keys (%s)</a></nav></header>\n",
	    kw_report_num(m->quiet_total, num, sizeof(num)));
	summary(&w);
	for (size_t i = 0; i < m->nsections; i++)
		key_section(&w, m->keys[i]);
	quiet_table(&w);
	out(&w, "<footer><p>Times are UTC. The usual rate and the spike "
		"threshold are what rate.spike learnt per hour of the day; "
		"while a key learns nothing is judged against them. Keys are "
		"shown by their redacted ids and fingerprints, never in full. "
		"Written by keywatch");
	if (m->o->version) {
		out(&w, " ");
		esc(&w, m->o->version);
	}
	out(&w, ".</p></footer>\n</main>\n</body>\n</html>\n");
	return !ferror(f);
}
