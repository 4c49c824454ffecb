/*
 * report.h - the report a person reads after a scan (--report): a summary
 * of the incidents by severity, then per key that raised alerts a section
 * (its requests per minute against what it learnt, the alerts marked, the
 * places and networks it was used from, its operations), then the quiet
 * keys in one table. Written as one self-contained HTML file
 * (report_html.c: inline CSS and SVG, no script, nothing fetched) or as
 * text (report_text.c).
 *
 * Where it sits: above the engine (it reads every key's stats, timeline
 * and learnt profile after the run) and beside cli/, which wires it: the
 * engine keeps the per-key timeline only when asked (kw_engine_opts.report)
 * and the router tells the report of each alert that passed
 * (kw_router_on_alert with kw_report_alert).
 *
 * Bounded whatever the input: the report follows at most max_tracked keys
 * with alerts in detail (the worst ones; the rest are counted), draws at
 * most max_sections of them, lists at most max_alerts alerts per key,
 * max_incidents incidents and max_quiet quiet keys, and says in the report
 * what it left out. A chart has at most KW_KEYREPORT_POINTS points. With
 * the defaults an HTML report stays within a few megabytes however many
 * keys the scan saw.
 *
 * Everything that came from a request (alert summaries and evidence,
 * operation names) is escaped where it is written; no full key reaches the
 * report (keys are shown as their redacted ids).
 */
#ifndef KW_REPORT_REPORT_H
#define KW_REPORT_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "alert/router.h"
#include "core/alert.h"
#include "core/status.h"
#include "engine/engine.h"

enum kw_report_format {
	KW_REPORT_TEXT = 0,
	KW_REPORT_HTML,
};

/* "text" or "html" into *out; false when it is neither. */
bool kw_report_format_parse(const char *s, enum kw_report_format *out);
/* The format a file name asks for: .html or .htm (any case) is HTML,
 * anything else text. */
enum kw_report_format kw_report_format_for(const char *path);

struct kw_report_opts {
	size_t max_sections;  /* keys with alerts drawn (default 100) */
	size_t max_tracked;   /* keys with alerts followed (default 400) */
	size_t max_alerts;    /* alerts listed per key (default 20) */
	size_t max_incidents; /* incidents listed (default 50) */
	size_t max_quiet;     /* quiet keys listed (default 500) */
	const char *version;  /* keywatch's, for the footer; may be NULL */
};

struct kw_report;

/* o NULL: the defaults (a 0 field takes its default too). *out is the
 * caller's (kw_report_destroy). */
enum kw_status kw_report_create(const struct kw_report_opts *o,
				struct kw_report **out);

/* One alert that passed the router: a kw_router_alert_fn (ctx is the
 * report). */
void kw_report_alert(void *ctx, const struct kw_alert *a);

/* Write the report of the run to f: after kw_engine_finish (and the
 * router's drain). cfg gives the incident and learning settings. Returns
 * KW_OK, or KW_EIO when f could not be written (errno says why). */
enum kw_status kw_report_write(struct kw_report *rep, struct kw_engine *e,
			       const struct kw_router *r,
			       enum kw_report_format fmt, FILE *f);

/* NULL-safe. */
void kw_report_destroy(struct kw_report *rep);

#endif
