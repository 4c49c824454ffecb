/*
 * scan.c - `keywatch scan [OPTIONS] [PATH...]`: analyse logs read to their
 * end, print the alerts on stdout, a summary on stderr, optionally a report
 * for a person (--report), and exit per spec/cli-and-config.md:
 * 2 when nothing could be read for a usage or config error, 3 when some
 * input was unreadable, damaged or had records skipped, 1 when an alert
 * reached --fail-on, 0 otherwise.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/time.h"
#include "engine/engine.h"
#include "ingest/inputs.h"
#include "kw_config.h"
#include "report/report.h"

static void usage(FILE *f)
{
	fputs("usage: keywatch scan [OPTIONS] [PATH...]\n"
	      "Analyse API request logs (files, directories, globs; '-' or "
	      "none: stdin).\n"
	      "\n"
	      "  -c, --config FILE       JSON config (default: built-in "
	      "defaults)\n"
	      "  -f, --format NAME       auto (default), keywatch, "
	      "cloudtrail,\n"
	      "                          gcp-audit, github-audit\n"
	      "      --map FIELD=PATH    map a log field onto an event field "
	      "(repeatable)\n"
	      "  -m, --models DIR        where the API models are\n"
	      "      --geoip FILE        a MaxMind DB file (repeatable)\n"
	      "      --state FILE        load learned state from FILE if it "
	      "exists, save it back\n"
	      "                          at the end\n"
	      "      --learn DURATION    learning period per key (default "
	      "72h)\n"
	      "      --lateness DURATION how long late events still count "
	      "(default 2m;\n"
	      "                          15m once CloudTrail is read)\n"
	      "  -o, --output FORMAT     text, json or none (default: text on "
	      "a terminal)\n"
	      "      --min-severity LVL  drop alerts below LVL\n"
	      "      --color WHEN        colour text on a terminal: auto "
	      "(default), always, never\n"
	      "      --fail-on LEVEL     exit 1 if an alert at or above LEVEL "
	      "was raised\n"
	      "      --report FILE       write a report a person reads: "
	      "HTML when FILE ends\n"
	      "                          in .html, else text; '-': text on "
	      "stdout (and no\n"
	      "                          alerts there unless -o is given)\n"
	      "      --report-format FMT text or html (default: by FILE's "
	      "name)\n"
	      "      --max-line BYTES    longest line or record (default "
	      "1048576)\n"
	      "      --max-keys N        keys tracked at once (default "
	      "1000000)\n"
	      "  -j, --threads N         threads that analyse (default: one "
	      "per core; the\n"
	      "                          results are the same whatever N)\n"
	      "  -q, --quiet             no summary, only errors\n"
	      "  -v, --verbose           debug logging\n",
	      f);
}

struct scan_opts {
	struct kw_cli_common common;
	const char *report;
	const char *report_format;
	const char *fail_on;
	bool fail_set;
	enum kw_severity fail_level;
};

static int parse(int argc, char **argv, struct scan_opts *o)
{
	static const struct option longopts[] = {
		KW_CLI_COMMON_LONG,
		{"report", required_argument, NULL, KW_OPT_REPORT},
		{"report-format", required_argument, NULL,
		 KW_OPT_REPORT_FORMAT},
		{"fail-on", required_argument, NULL, KW_OPT_FAIL_ON},
		{NULL, 0, NULL, 0},
	};
	int c, r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, KW_CLI_COMMON_SHORT "h", longopts,
				NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(KW_EXIT_OK);
		}
		if (c == KW_OPT_REPORT) {
			o->report = optarg;
			continue;
		}
		if (c == KW_OPT_REPORT_FORMAT) {
			o->report_format = optarg;
			continue;
		}
		if (c == KW_OPT_FAIL_ON) {
			o->fail_on = optarg;
			o->fail_set = true;
			if (!kw_severity_parse(optarg, &o->fail_level)) {
				kw_log_error(NULL,
					     "--fail-on %s: expected info, "
					     "low, medium, high or critical",
					     optarg);
				return KW_EXIT_USAGE;
			}
			continue;
		}
		r = kw_cli_common_opt(&o->common, c, optarg);
		if (r < 0)
			return KW_EXIT_USAGE;
		if (r == 0) {
			kw_cli_bad_option("scan", argc, argv,
					  KW_CLI_COMMON_SHORT "h", longopts);
			return KW_EXIT_USAGE;
		}
	}
	return KW_EXIT_OK;
}

/* ------------------------------------------------------------- the report */

struct scan_report {
	FILE *f; /* the report's file, stdout for '-'; NULL: no report */
	enum kw_report_format fmt;
	struct kw_report *rep;
};

/* Check the report options and open its file now, so that a path that
 * cannot be written fails before the scan rather than after it. */
static int report_open(const struct scan_opts *o, struct scan_report *sr)
{
	const struct kw_report_opts ro = {.version = KW_VERSION};

	if (o->report_format && !o->report) {
		kw_log_error(NULL, "--report-format %s: needs --report FILE",
			     o->report_format);
		return KW_EXIT_USAGE;
	}
	if (!o->report)
		return KW_EXIT_OK;
	if (o->report_format) {
		if (!kw_report_format_parse(o->report_format, &sr->fmt)) {
			kw_log_error(NULL,
				     "--report-format %s: expected text or "
				     "html",
				     o->report_format);
			return KW_EXIT_USAGE;
		}
	} else {
		sr->fmt = kw_report_format_for(o->report);
	}
	if (!strcmp(o->report, "-")) {
		sr->f = stdout;
	} else {
		sr->f = fopen(o->report, "w");
		if (!sr->f) {
			kw_log_error(NULL, "--report %s: cannot write: %m",
				     o->report);
			return KW_EXIT_USAGE;
		}
	}
	if (kw_report_create(&ro, &sr->rep) != KW_OK) {
		kw_log_error(NULL, "--report %s: out of memory", o->report);
		return KW_EXIT_USAGE;
	}
	return KW_EXIT_OK;
}

/* Write the report and close its file; 0, or -1 when it failed (said). */
static int report_write(const struct scan_opts *o, struct scan_report *sr,
			struct kw_engine *e, const struct kw_router *r)
{
	enum kw_status st = kw_report_write(sr->rep, e, r, sr->fmt, sr->f);
	int rc = 0;

	if (sr->f == stdout) {
		if (fflush(stdout) != 0)
			st = KW_EIO;
	} else if (fclose(sr->f) != 0) {
		st = KW_EIO;
	}
	sr->f = NULL;
	if (st != KW_OK) {
		kw_log_error(NULL, "--report %s: write failed: %m", o->report);
		rc = -1;
	}
	return rc;
}

static void report_close(struct scan_report *sr)
{
	if (sr->f && sr->f != stdout)
		fclose(sr->f);
	sr->f = NULL;
	kw_report_destroy(sr->rep);
	sr->rep = NULL;
}

/* Keys still learning at the end: their learned detectors said nothing,
 * which an empty alert list must not hide. */
static void learning_summary(struct kw_engine *e)
{
	const struct kw_engine_stats *st = kw_engine_stats(e);
	uint64_t learning = 0, keys = 0;
	char span[32], learn[32];

	kw_engine_learning(e, &learning, &keys);
	if (!learning)
		return;
	kw_duration_format(st->last_ts - st->first_ts, span, sizeof(span));
	kw_duration_format(kw_engine_config(e)->learn, learn, sizeof(learn));
	if (learning == keys)
		fprintf(stderr,
			"keywatch: every key was still learning when the input "
			"ended (the input covers %s; a key learns for the "
			"first %s of its traffic): the learned detectors "
			"stayed silent. Learn for less with --learn, or keep "
			"what was learned with --state FILE and scan the next "
			"logs with the same file\n",
			span, learn);
	else
		fprintf(stderr,
			"keywatch: %llu of %llu keys were still learning when "
			"the input ended (a key learns for the first %s of its "
			"traffic); their learned detectors stayed silent "
			"(see --learn and --state)\n",
			(unsigned long long)learning, (unsigned long long)keys,
			learn);
}

/* Files left out because they hold no logs. */
static void not_data_summary(const uint64_t *not_data)
{
	uint64_t total = 0;
	int first = 1;

	for (int k = 1; k < KW_NOT_DATA_MAX; k++)
		total += not_data[k];
	if (!total)
		return;
	fprintf(stderr, "keywatch: left out, not logs:");
	for (int k = 1; k < KW_NOT_DATA_MAX; k++) {
		if (!not_data[k])
			continue;
		fprintf(stderr, "%s %s %llu", first ? "" : ",",
			kw_not_data_name((enum kw_not_data)k),
			(unsigned long long)not_data[k]);
		first = 0;
	}
	fputc('\n', stderr);
}

static void summary(struct kw_engine *e, const struct kw_router *router,
		    const uint64_t *not_data, double secs)
{
	const struct kw_engine_stats *st = kw_engine_stats(e);
	const struct kw_router_stats *rs = kw_router_stats(router);
	const struct kw_incident_stats *is = kw_router_incidents(router);
	/* Not opened less closed: a state file's incidents may close. */
	size_t open = kw_router_incidents_open(router);
	char t1[32], t2[32];

	fprintf(stderr,
		"keywatch: read %llu input%s: %llu event%s from %s%llu key%s",
		(unsigned long long)st->inputs, st->inputs == 1 ? "" : "s",
		(unsigned long long)st->events, st->events == 1 ? "" : "s",
		st->keys_estimated ? "about " : "",
		(unsigned long long)st->keys_distinct,
		st->keys_distinct == 1 ? "" : "s");
	if (st->events)
		fprintf(stderr, ", %s to %s",
			kw_time_format(st->first_ts, t1, sizeof(t1)),
			kw_time_format(st->last_ts, t2, sizeof(t2)));
	fprintf(stderr, " in %.2f s\n", secs);
	not_data_summary(not_data);
	fprintf(stderr, "keywatch: %llu alert%s",
		(unsigned long long)rs->delivered,
		rs->delivered == 1 ? "" : "s");
	for (size_t i = 0; i < rs->ndetectors; i++)
		fprintf(stderr, "%s%s %llu", i ? ", " : ": ",
			rs->by_detector[i].detector,
			(unsigned long long)rs->by_detector[i].count);
	if (rs->deduped || rs->suppressed || rs->below)
		fprintf(stderr,
			" (also %llu repeat%s, %llu suppressed, %llu below "
			"--min-severity)",
			(unsigned long long)rs->deduped,
			rs->deduped == 1 ? "" : "s",
			(unsigned long long)rs->suppressed,
			(unsigned long long)rs->below);
	fputc('\n', stderr);
	if (rs->dedup_restarts)
		fprintf(stderr,
			"keywatch: the dedup table started afresh %llu "
			"time%s (more distinct alerts within dedup_window "
			"than it holds): some repeats may have been delivered "
			"again\n",
			(unsigned long long)rs->dedup_restarts,
			rs->dedup_restarts == 1 ? "" : "s");
	if (is && is->opened)
		fprintf(stderr,
			"keywatch: %llu incident%s, %zu still open at the end; "
			"at most %u alert%s and %u message%s for people in "
			"one\n",
			(unsigned long long)is->opened,
			is->opened == 1 ? "" : "s", open, is->most_alerts,
			is->most_alerts == 1 ? "" : "s", is->most_messages,
			is->most_messages == 1 ? "" : "s");
	if (kw_skips_problems(&st->skips)) {
		int first = 1;

		fprintf(stderr, "keywatch: skipped %llu:",
			(unsigned long long)kw_skips_problems(&st->skips));
		for (int r = 0; r < KW_SKIP_REASON_MAX; r++) {
			if (!st->skips.count[r] ||
			    !kw_skip_is_problem((enum kw_skip_reason)r))
				continue;
			fprintf(stderr, "%s %s %llu", first ? "" : ",",
				kw_skip_reason_name((enum kw_skip_reason)r),
				(unsigned long long)st->skips.count[r]);
			first = 0;
		}
		fputc('\n', stderr);
	}
	if (st->unauthenticated)
		fprintf(stderr,
			"keywatch: %llu request%s made without a key "
			"(unauthenticated): counted apart; denied ones count "
			"per IP in auth.failures\n",
			(unsigned long long)st->unauthenticated,
			st->unauthenticated == 1 ? " was" : "s were");
	if (st->skips.count[KW_SKIP_KEYLESS])
		fprintf(stderr,
			"keywatch: %llu keyless records (made by no API key: "
			"a cloud service acting on its own, a person signed "
			"in to a console) were not analysed\n",
			(unsigned long long)st->skips.count[KW_SKIP_KEYLESS]);
	if (st->skips.count[KW_SKIP_NOT_DATA])
		fprintf(stderr,
			"keywatch: %llu records carried no request (CloudWatch "
			"Logs control messages, log entries that are not "
			"audit logs) and were left out\n",
			(unsigned long long)st->skips.count[KW_SKIP_NOT_DATA]);
	if (st->keys_evicted)
		fprintf(stderr,
			"keywatch: %llu keys were evicted (more than "
			"--max-keys at once)\n",
			(unsigned long long)st->keys_evicted);
	if (st->late) {
		char lateness[32];

		kw_duration_format(kw_engine_lateness(e), lateness,
				   sizeof(lateness));
		fprintf(stderr,
			"keywatch: %llu events came more than %s after "
			"newer ones (late: counted where their window was "
			"still open, otherwise left out of the rates; see "
			"--lateness)\n",
			(unsigned long long)st->late, lateness);
	}
	if (st->inputs_late)
		fprintf(stderr,
			"keywatch: %llu inputs were opened after newer events "
			"had been read (more than max_open_inputs overlapped "
			"in time): their first events may be late\n",
			(unsigned long long)st->inputs_late);
	if (st->keys_restored)
		fprintf(stderr,
			"keywatch: %llu key%s continued from the state file\n",
			(unsigned long long)st->keys_restored,
			st->keys_restored == 1 ? "" : "s");
	learning_summary(e);
	kw_cli_unmatched_keys(e, kw_engine_config(e));
	if (kw_log_get_level() <= KW_LOG_DEBUG) {
		/* The benchmark's memory figure: the index takes up to 13.3
		 * bytes a key, the queue of keys not yet learned 4
		 * (state/keytab.h). */
		size_t state = kw_engine_state_bytes(e);
		size_t entry = kw_keytab_entry_overhead();
		/* the parts some keys hold, over all keys */
		size_t ov = st->keys ? (st->overflow_bytes + st->keys / 2) /
					       st->keys
				     : 0;

		fprintf(stderr,
			"keywatch: %zu bytes per key (%zu of detector state, "
			"%zu of table entry, up to 18 of index and queue, %zu "
			"of overflow parts: %zu parts, %zu bytes)\n",
			state + entry + 18 + ov, state, entry, ov,
			st->overflow_blocks, st->overflow_bytes);
	}
}

/* After the drain: per sink, what was not delivered and where it is. */
static void delivery_summary(struct kw_router *r)
{
	struct kw_delivery_stats ds;

	for (size_t i = 0; i < kw_router_nsinks(r); i++) {
		struct kw_delivery *d = kw_router_delivery(r, i);
		const char *name = kw_router_sink(r, i)->name;

		if (!d)
			continue;
		kw_delivery_stats(d, &ds);
		if (ds.pending && ds.spool[0])
			kw_log_warn(NULL,
				    "%s: %zu alert%s not delivered yet, "
				    "spooled in %s (delivered on the next run)",
				    name, ds.pending,
				    ds.pending == 1 ? "" : "s", ds.spool);
		else if (ds.pending)
			kw_log_error(NULL,
				     "%s: %zu alert%s not delivered and lost "
				     "(set spool_dir or state_dir to keep "
				     "them)",
				     name, ds.pending,
				     ds.pending == 1 ? "" : "s");
		if (ds.dead)
			kw_log_error(NULL,
				     "%s: %llu alert%s rejected for good%s%s",
				     name, (unsigned long long)ds.dead,
				     ds.dead == 1 ? "" : "s",
				     ds.dead_path[0] ? ", kept in " : "",
				     ds.dead_path);
		if (ds.dropped)
			kw_log_error(NULL,
				     "%s: %llu alert%s dropped (queue and "
				     "spool bounds)",
				     name, (unsigned long long)ds.dropped,
				     ds.dropped == 1 ? "" : "s");
	}
}

static double now_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* On a terminal: the input being opened. */
static void show_progress(void *ctx, uint64_t opened, uint64_t total,
			  const char *name)
{
	(void)ctx;
	fprintf(stderr, "\r\033[Kkeywatch: reading %llu/%llu %s",
		(unsigned long long)opened, (unsigned long long)total, name);
}

/* 1 when an alert reached --fail-on, else 3 when some input had problems
 * (or a file could not be written, or memory ran out and alerts went out
 * incomplete or were lost), else 0; when both 1 and 3 apply, 1 wins and
 * the summary says so. */
static int exit_status(const struct scan_opts *o, int rc,
		       const struct kw_router_stats *rs,
		       const struct kw_engine_stats *es)
{
	bool problems = rc == KW_EXIT_INPUT || kw_skips_problems(&es->skips) ||
			es->inputs_failed || es->lost || rs->oom;
	bool alerts =
		o->fail_set && rs->max_severity_seen > (uint64_t)o->fail_level;

	if (alerts && problems && kw_log_get_level() <= KW_LOG_INFO)
		fprintf(stderr,
			"keywatch: exit status 1: an alert at or above "
			"--fail-on %s was raised; some input also had problems "
			"(above), which alone would be exit status 3\n",
			o->fail_on);
	if (alerts)
		return KW_EXIT_ALERTS;
	return problems ? KW_EXIT_INPUT : KW_EXIT_OK;
}

int kw_cli_scan(int argc, char **argv)
{
	struct scan_opts o;
	struct kw_cli_setup s;
	struct kw_router *router = NULL;
	struct kw_engine *engine = NULL;
	const struct kw_router_stats *rs;
	const struct kw_engine_stats *es;
	struct kw_engine_opts eo;
	struct kw_error err;
	struct scan_report sr = {0};
	double t0 = now_secs();
	uint64_t not_data[KW_NOT_DATA_MAX] = {0};
	int rc;

	memset(&o, 0, sizeof(o));
	rc = parse(argc, argv, &o);
	if (rc != KW_EXIT_OK)
		return rc;
	/* The report on stdout: the alerts go there only when asked. */
	if (o.report && !strcmp(o.report, "-") && !o.common.output)
		o.common.output = "none";
	rc = kw_cli_setup(&o.common, &s);
	if (rc == KW_EXIT_OK)
		rc = report_open(&o, &sr);
	if (rc == KW_EXIT_OK)
		rc = kw_cli_router(&s, true, &router);
	/* Without --state nothing saves the open incidents. */
	if (rc == KW_EXIT_OK)
		kw_router_keep_incidents(router, o.common.state != NULL);
	if (rc == KW_EXIT_OK)
		rc = kw_cli_start_delivery(&s, router);
	if (rc != KW_EXIT_OK)
		goto cleanup;
	if (sr.rep)
		kw_router_on_alert(router, kw_report_alert, sr.rep);
	eo = (struct kw_engine_opts){
		.cfg = s.cfg,
		.models = s.models,
		.format = o.common.format,
		.map = s.map,
		.nmap = s.nmap,
		.router = router,
		.geoip = s.geoip,
		.progress = isatty(STDERR_FILENO) &&
					    kw_log_get_level() <= KW_LOG_INFO
				    ? show_progress
				    : NULL,
		.report = sr.rep != NULL,
		.unread = !kw_router_reads(router),
		.threads = kw_config_threads(s.cfg),
	};
	if (eo.unread)
		kw_log_debug("scan", "nothing reads the alerts (-o none, no "
				     "other sink, no --report or --state): "
				     "they are only counted");
	kw_error_clear(&err);
	if (kw_engine_create(&eo, &engine, &err) != KW_OK) {
		kw_log_error(NULL, "%s", err.msg);
		rc = KW_EXIT_USAGE;
		goto cleanup;
	}
	if (o.common.state &&
	    kw_engine_load_state(engine, o.common.state, &err) != KW_OK) {
		kw_log_error(NULL, "%s", err.msg);
		rc = KW_EXIT_USAGE;
		goto cleanup;
	}
	rc = kw_cli_read_inputs(engine, argc - optind, argv + optind, not_data);
	if (rc != KW_EXIT_OK)
		goto cleanup;
	kw_engine_finish(engine);
	kw_router_tell_incidents(router);
	kw_router_drain(router, s.cfg->drain_timeout / 1000);
	kw_router_flush(router);
	/* After the drain: what the rate limits held went out as digests,
	 * so the saved windows hold nothing the next scan would send again. */
	if (o.common.state &&
	    kw_engine_save_state(engine, o.common.state, &err) != KW_OK) {
		kw_log_error(NULL, "%s", err.msg);
		rc = KW_EXIT_INPUT;
	}
	delivery_summary(router);
	rs = kw_router_stats(router);
	es = kw_engine_stats(engine);
	if (sr.rep && report_write(&o, &sr, engine, router) != 0)
		rc = KW_EXIT_INPUT;
	if (kw_log_get_level() <= KW_LOG_INFO)
		summary(engine, router, not_data, now_secs() - t0);
	rc = exit_status(&o, rc, rs, es);
cleanup:
	report_close(&sr);
	kw_engine_destroy(engine);
	kw_router_destroy(router);
	kw_cli_teardown(&s);
	return rc;
}
