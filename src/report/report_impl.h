/*
 * report_impl.h - what the report's writers share: the model built after
 * the run (report.c) that report_html.c and report_text.c render.
 */
#ifndef KW_REPORT_REPORT_IMPL_H
#define KW_REPORT_REPORT_IMPL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "report/report.h"
#include "state/keyreport.h"

#define RP_DETECTOR_LEN 48
#define RP_NOTED 8 /* operations and addresses noted from alerts per key */

/* One alert as the report keeps it. */
struct rp_alert {
	int64_t time;
	enum kw_severity sev;
	char detector[RP_DETECTOR_LEN];
	char id[KW_ALERT_ID_LEN + 1];
	char incident[KW_ALERT_ID_LEN + 1];
	char summary[512];
	json_t *evidence; /* owned copy, or NULL */
	json_t *links;	  /* owned copy, or NULL */
	char runbook[256];
};

/* An operation an alert named (ops.*), or an address or country one came
 * from. */
struct rp_noted {
	char text[KW_KEYREPORT_OP_LEN + 8];
	char detector[RP_DETECTOR_LEN];
	int64_t time; /* the first alert that named it */
};

/* A key that raised alerts. */
struct rp_key {
	uint64_t fp;
	char fps[KW_KEY_FP_SIZE];
	char id[KW_KEY_ID_MAX];
	char name[128];
	enum kw_key_kind kind;
	enum kw_key_mode mode;
	enum kw_severity worst;
	uint32_t alerts; /* that passed the router while it was followed */
	uint32_t by_sev[KW_SEV_MAX];
	int64_t first_alert, last_alert;
	struct rp_alert *list; /* up to max_alerts, in time order */
	size_t nlist;
	uint32_t omitted; /* alerts not listed (the least severe go) */
	struct rp_noted ops[RP_NOTED], ips[RP_NOTED];
	unsigned nops, nips;
	bool partial; /* followed again after the report let it go */
	/* From the engine, at the end. present: the key was still in the
	 * table (else it was evicted: no timeline, no stats). */
	bool present;
	struct kw_engine_keystats ks;
	int64_t first_seen, last_seen, learned_at;
	uint64_t events;
	bool has_series;
	struct kw_keyreport series;
	struct kw_detect_profile profile;
};

struct rp_incident {
	char id[KW_ALERT_ID_LEN + 1];
	uint64_t fp;
	char key_id[KW_KEY_ID_MAX];
	char key_name[128];
	enum kw_severity worst;
	char detector[RP_DETECTOR_LEN]; /* of its worst alert */
	char summary[512];		/* the same */
	int64_t opened, last;
	uint32_t alerts;
	bool open; /* at the end of the input */
};

/* A key that raised no alert, for the compact table. */
struct rp_quiet {
	char fps[KW_KEY_FP_SIZE];
	char id[KW_KEY_ID_MAX];
	char name[128];
	enum kw_key_kind kind;
	enum kw_key_mode mode;
	uint64_t events, errors, denied;
	uint32_t ips;
	int64_t first_seen, last_seen;
};

/* Everything a writer renders. */
struct rp_model {
	const struct kw_report_opts *o;
	const struct kw_engine_stats *es;
	const struct kw_router_stats *rs;
	const struct kw_config *cfg;
	bool incidents_on;
	/* Keys with alerts, worst first; the first nsections get a section. */
	struct rp_key **keys;
	size_t nkeys, nsections;
	uint64_t keys_alerting; /* keys in the table with alerts, in all */
	uint64_t untracked;	/* keys with alerts the report did not follow */
	/* Incidents, worst first; the first nlisted are listed. */
	struct rp_incident **incidents;
	size_t nincidents, nlisted;
	uint64_t inc_by_sev[KW_SEV_MAX];
	uint64_t inc_open;
	uint64_t inc_dropped; /* beyond the report's table: not by severity */
	uint64_t alert_by_sev[KW_SEV_MAX];
	/* Quiet keys, busiest first. */
	struct rp_quiet *quiet;
	size_t nquiet;
	uint64_t quiet_total;
};

/* The writers. Both return false when writing failed. */
bool kw_report_html(const struct rp_model *m, FILE *f);
bool kw_report_text(const struct rp_model *m, FILE *f);

/* Shared helpers (report.c). */
const char *kw_report_sev_name(enum kw_severity s);
/* A number with thousands separators ("12,345") into buf. */
const char *kw_report_num(uint64_t v, char *buf, size_t cap);
/* "2026-11-21 21:15" (UTC) into buf. */
const char *kw_report_time(int64_t us, char *buf, size_t cap);
/* The indexes of the key's listed operations, most used first, into
 * order (KW_KEYREPORT_OPS); returns how many. */
unsigned kw_report_ops_order(const struct kw_keyreport *s, int *order);
/* The evidence's string field name, or NULL. */
const char *kw_report_ev_str(const struct rp_alert *a, const char *name);

#endif
