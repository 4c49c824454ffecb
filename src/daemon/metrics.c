/*
 * metrics.c - the daemon's counters (metrics.h): the Prometheus text
 * exposition (format 0.0.4) rendered on the loop's thread and handed to
 * the listener (daemon/httpd.h), and the counters line of SIGUSR1.
 *
 * The text follows the format strictly: every family has its HELP and
 * TYPE lines and all its samples in one group, no series appears twice
 * (two followed files with one path are one series), label values are
 * escaped and valid UTF-8, counter names end in _total.
 *
 * Counters are totals since the process started: the engine, tailer and
 * router a reload replaces hand their counts to `carried` first, and the
 * rendered value is carried + the running components'. The daemon's own
 * counters (alerts by detector and severity, repeats dropped after a
 * restart, checkpoints, reloads) live here and are never reset.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/log.h"
#include "core/str.h"
#include "daemon/daemon_impl.h"
#include "daemon/httpd.h"
#include "daemon/metrics.h"
#include "ingest/kafka.h"
#include "kw_config.h"

#define DETECTOR_NAME_MAX 64
#define SINK_NAME_MAX 48
#define SINKS_MAX 64	   /* sinks whose counters are carried across reloads */
#define KAFKA_MAX 64	   /* Kafka inputs whose counters are carried */
#define KAFKA_NAME_MAX 260 /* "kafka:" and a topic */

struct sink_count {
	char name[SINK_NAME_MAX];
	uint64_t ok, retried, failed, dropped;
};

/* One Kafka input's counters, by its name (kafka.h). */
struct kafka_count {
	char name[KAFKA_NAME_MAX];
	struct kw_kafka_input_stats st;
};

#if KW_HAVE_KAFKA
/* One changelog's counters, by its topic (daemon_impl.h). */
struct changelog_count {
	char topic[KAFKA_NAME_MAX];
	struct kw_changelog_stats st;
};

/* One stage keyed by IP's counters, by its repartition topic. */
struct byip_count {
	char topic[KAFKA_NAME_MAX];
	struct kw_byip_stats st;
};
#endif

/* Counters of the components a reload replaces. */
struct counts {
	uint64_t bytes, decompressed, records, events;
	uint64_t skips[KW_SKIP_REASON_MAX], skipped;
	uint64_t opened, rotations, truncations, copies, too_long, read_errors;
	uint64_t raised, passed, deduped, suppressed, below, dedup_restarts;
	struct sink_count sinks[SINKS_MAX];
	size_t nsinks;
	struct kafka_count kafka[KAFKA_MAX];
	size_t nkafka;
#if KW_HAVE_KAFKA
	struct changelog_count changelogs[KAFKA_MAX];
	size_t nchangelogs;
	struct byip_count byips[KAFKA_MAX];
	size_t nbyips;
#endif
};

struct kw_metrics {
	struct kw_httpd *httpd; /* NULL without metrics.listen */
	struct counts carried;	/* of replaced components */
	bool sinks_full_warned;
	uint64_t alerts[KW_ROUTER_MAX_DETECTORS][KW_SEV_MAX];
	char detectors[KW_ROUTER_MAX_DETECTORS][DETECTOR_NAME_MAX];
	size_t ndetectors;
	uint64_t repeats;     /* alerts raised again after a restart */
	uint64_t checkpoints; /* written */
	uint64_t reloads_ok, reloads_failed;
	double started; /* wall clock, seconds */
};

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

enum kw_status kw_metrics_create(struct kw_metrics **out)
{
	struct kw_metrics *m = calloc(1, sizeof(*m));
	struct timespec ts;

	*out = m;
	if (!m)
		return KW_ENOMEM;
	clock_gettime(CLOCK_REALTIME, &ts);
	m->started = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	return KW_OK;
}

enum kw_status kw_metrics_listen(struct kw_metrics *m, const char *spec)
{
	struct kw_error err;
	enum kw_status st;

	kw_error_clear(&err);
	st = kw_httpd_start(spec, &m->httpd, &err);
	if (st != KW_OK) {
		kw_log_error(NULL, "%s", err.msg);
		return st;
	}
	kw_log_info("watch", "metrics on http://%s/metrics", spec);
	return KW_OK;
}

/* ---------------------------------------------------------- counting */

void kw_metrics_alert(struct kw_metrics *m, const char *detector,
		      enum kw_severity sev)
{
	size_t i;

	for (i = 0; i < m->ndetectors; i++) {
		if (!strcmp(m->detectors[i], detector))
			break;
	}
	if (i == m->ndetectors && i < KW_ROUTER_MAX_DETECTORS) {
		snprintf(m->detectors[i], sizeof(m->detectors[i]), "%s",
			 detector);
		m->ndetectors++;
	}
	if (i < KW_ROUTER_MAX_DETECTORS && sev < KW_SEV_MAX)
		m->alerts[i][sev]++;
}

void kw_metrics_repeat(struct kw_metrics *m)
{
	m->repeats++;
}

void kw_metrics_checkpoint(struct kw_metrics *m)
{
	m->checkpoints++;
}

void kw_metrics_reload(struct kw_metrics *m, bool ok)
{
	if (ok)
		m->reloads_ok++;
	else
		m->reloads_failed++;
}

/* The row of sink name in c, made when missing; NULL when c is full. */
static struct sink_count *sink_row(struct counts *c, const char *name)
{
	for (size_t i = 0; i < c->nsinks; i++) {
		if (!strcmp(c->sinks[i].name, name))
			return &c->sinks[i];
	}
	if (c->nsinks == SINKS_MAX)
		return NULL;
	snprintf(c->sinks[c->nsinks].name, SINK_NAME_MAX, "%s", name);
	return &c->sinks[c->nsinks++];
}

#if KW_HAVE_KAFKA
static void kafka_add(void *ctx, struct kw_kafka_input *in)
{
	struct counts *c = ctx;
	const struct kw_kafka_input_stats *st = kw_kafka_input_stats(in);
	const char *name = kw_kafka_input_name(in);
	struct kafka_count *row = NULL;

	for (size_t i = 0; i < c->nkafka && !row; i++) {
		if (!strcmp(c->kafka[i].name, name))
			row = &c->kafka[i];
	}
	if (!row && c->nkafka < KAFKA_MAX) {
		row = &c->kafka[c->nkafka++];
		snprintf(row->name, sizeof(row->name), "%s", name);
	}
	if (!row)
		return;
	row->st.messages += st->messages;
	row->st.bytes += st->bytes;
	row->st.compressed += st->compressed;
	row->st.damaged += st->damaged;
	row->st.unkeyed += st->unkeyed;
	row->st.split_keys += st->split_keys;
	row->st.rebalances += st->rebalances;
	row->st.commits += st->commits;
	row->st.commit_errors += st->commit_errors;
	row->st.errors += st->errors;
}

static void changelog_add(void *ctx, const struct kw_changelog *cl)
{
	struct counts *c = ctx;
	const struct kw_changelog_stats *st = kw_changelog_stats(cl);
	const char *topic = kw_changelog_topic(cl);
	struct changelog_count *row = NULL;

	for (size_t i = 0; i < c->nchangelogs && !row; i++) {
		if (!strcmp(c->changelogs[i].topic, topic))
			row = &c->changelogs[i];
	}
	if (!row && c->nchangelogs < KAFKA_MAX) {
		row = &c->changelogs[c->nchangelogs++];
		snprintf(row->topic, sizeof(row->topic), "%s", topic);
	}
	if (!row)
		return;
	row->st.checkpoints += st->checkpoints;
	row->st.records += st->records;
	row->st.bytes += st->bytes;
	row->st.keys += st->keys;
	row->st.alerts += st->alerts;
	row->st.errors += st->errors;
	row->st.restores += st->restores;
	row->st.restored_records += st->restored_records;
	row->st.restored_keys += st->restored_keys;
	row->st.restore_seconds += st->restore_seconds;
}

static void byip_add(void *ctx, const struct kw_byip *b)
{
	struct counts *c = ctx;
	const char *topic = kw_byip_topic(b);
	struct byip_count *row = NULL;
	struct kw_byip_stats st;

	for (size_t i = 0; i < c->nbyips && !row; i++) {
		if (!strcmp(c->byips[i].topic, topic))
			row = &c->byips[i];
	}
	if (!row && c->nbyips < KAFKA_MAX) {
		row = &c->byips[c->nbyips++];
		snprintf(row->topic, sizeof(row->topic), "%s", topic);
	}
	if (!row)
		return;
	kw_byip_stats(b, &st);
	row->st.produced += st.produced;
	row->st.marks += st.marks;
	row->st.produce_errors += st.produce_errors;
	row->st.taken += st.taken;
	row->st.bad += st.bad;
	row->st.late += st.late;
	row->st.early += st.early;
	row->st.alerts += st.alerts;
	row->st.assigned += st.assigned;
	row->st.revoked += st.revoked;
	row->st.lost += st.lost;
}
#endif

/* Add the counters of v's components to c. false when a sink found no
 * row (c's sink table is full). */
static bool add(struct counts *c, const struct kw_metrics_view *v)
{
	const struct kw_engine_stats *es = kw_engine_stats(v->engine);
	const struct kw_tail_stats *ts = kw_tail_stats(v->tail);
	const struct kw_router_stats *rs = kw_router_stats(v->router);
	bool all = true;

#if KW_HAVE_KAFKA
	kw_daemon_kafka_foreach(v->kafka, kafka_add, c);
	kw_daemon_kafka_foreach_changelog(v->kafka, changelog_add, c);
	kw_daemon_kafka_foreach_byip(v->kafka, byip_add, c);
#endif
	c->bytes += ts->bytes;
	c->decompressed += ts->decompressed;
	c->records += es->records;
	c->events += es->events;
	for (int r = 0; r < KW_SKIP_REASON_MAX; r++)
		c->skips[r] += es->skips.count[r];
	c->skipped += es->skips.total;
	c->opened += ts->opened;
	c->rotations += ts->rotations;
	c->truncations += ts->truncations;
	c->copies += ts->copies;
	c->too_long += ts->too_long;
	c->read_errors += ts->read_errors;
	c->raised += rs->raised;
	c->passed += rs->delivered;
	c->deduped += rs->deduped;
	c->suppressed += rs->suppressed;
	c->below += rs->below;
	c->dedup_restarts += rs->dedup_restarts;
	for (size_t i = 0; i < kw_router_nsinks(v->router); i++) {
		struct kw_delivery *d = kw_router_delivery(v->router, i);
		struct sink_count *row;
		struct kw_delivery_stats ds;

		if (!d)
			continue;
		row = sink_row(c, kw_router_sink(v->router, i)->name);
		if (!row) {
			all = false;
			continue;
		}
		kw_delivery_stats(d, &ds);
		row->ok += ds.delivered;
		row->retried += ds.retries;
		row->failed += ds.dead;
		row->dropped += ds.dropped;
	}
	return all;
}

void kw_metrics_carry(struct kw_metrics *m, const struct kw_metrics_view *v)
{
	if (!add(&m->carried, v) && !m->sinks_full_warned) {
		kw_log_warn("watch",
			    "metrics: more than %d sinks since the start: the "
			    "deliveries of the others are no longer counted",
			    SINKS_MAX);
		m->sinks_full_warned = true;
	}
}

/* ------------------------------------------------------------ format */

static void family(FILE *f, const char *name, const char *type,
		   const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, quote and newline escaped; bytes that are
 * not UTF-8 (a file name may hold any) shown as U+FFFD. */
static void label(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + strlen(s);

	while (*p) {
		size_t n = kw_utf8_len(p, (size_t)(end - p));

		if (n == 0) {
			fputs("\xef\xbf\xbd", f);
			p++;
		} else if (*p == '\\' || *p == '"') {
			fputc('\\', f);
			fputc(*p++, f);
		} else if (*p == '\n') {
			fputs("\\n", f);
			p++;
		} else {
			fwrite(p, 1, n, f);
			p += n;
		}
	}
}

/* One sample: name{lname="lvalue"} value; lname NULL: no labels. */
static void sample(FILE *f, const char *name, const char *lname,
		   const char *lvalue, uint64_t value)
{
	fputs(name, f);
	if (lname) {
		fprintf(f, "{%s=\"", lname);
		label(f, lvalue);
		fputs("\"}", f);
	}
	fprintf(f, " %" PRIu64 "\n", value);
}

/* ------------------------------------------------------------ Kafka */

#if KW_HAVE_KAFKA
/* name{input="...",lname="lvalue"} value */
static void sample2(FILE *f, const char *name, const char *input,
		    const char *lname, const char *lvalue, uint64_t value)
{
	fprintf(f, "%s{input=\"", name);
	label(f, input);
	fprintf(f, "\",%s=\"", lname);
	label(f, lvalue);
	fprintf(f, "\"} %" PRIu64 "\n", value);
}

struct kafka_render {
	FILE *f;
	const char *family;
};

static void render_assigned(void *ctx, struct kw_kafka_input *in)
{
	struct kafka_render *r = ctx;

	sample(r->f, r->family, "input", kw_kafka_input_name(in),
	       kw_kafka_input_stats(in)->assigned);
}

struct lag_ctx {
	FILE *f;
	const char *input;
	int64_t sum; /* -1: none known */
};

static void render_lag_one(void *ctx, const struct kw_kafka_partition_info *pi)
{
	struct lag_ctx *l = ctx;
	char part[16];

	if (pi->lag < 0)
		return;
	snprintf(part, sizeof(part), "%" PRId32, pi->partition);
	if (l->f)
		sample2(l->f, "keywatch_kafka_lag_messages", l->input,
			"partition", part, (uint64_t)pi->lag);
	l->sum = (l->sum < 0 ? 0 : l->sum) + pi->lag;
}

static void render_lag(void *ctx, struct kw_kafka_input *in)
{
	struct lag_ctx l = {ctx, kw_kafka_input_name(in), -1};

	kw_kafka_input_foreach(in, render_lag_one, &l);
}

/* The changelogs' counters (one series per changelog topic). */
static void render_changelogs(FILE *f, const struct counts *c)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} counters[] = {
		{"keywatch_changelog_checkpoints_total",
		 "Partition checkpoints written to a changelog and "
		 "acknowledged.",
		 offsetof(struct kw_changelog_stats, checkpoints)},
		{"keywatch_changelog_records_total",
		 "Records produced to a changelog (key states, checkpoint "
		 "marks, alert ids).",
		 offsetof(struct kw_changelog_stats, records)},
		{"keywatch_changelog_bytes_total",
		 "Bytes of the records produced to a changelog (keys and "
		 "values).",
		 offsetof(struct kw_changelog_stats, bytes)},
		{"keywatch_changelog_delivery_errors_total",
		 "Changelog records not acknowledged by the brokers or refused "
		 "by the producer (their partitions' offsets are not "
		 "committed).",
		 offsetof(struct kw_changelog_stats, errors)},
		{"keywatch_changelog_restores_total",
		 "Partitions whose state was restored from a changelog.",
		 offsetof(struct kw_changelog_stats, restores)},
		{"keywatch_changelog_restored_records_total",
		 "Records read from a changelog while restoring partitions.",
		 offsetof(struct kw_changelog_stats, restored_records)},
	};

	if (!c->nchangelogs)
		return;
	for (size_t k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
		family(f, counters[k].name, "counter", counters[k].help);
		for (size_t i = 0; i < c->nchangelogs; i++)
			sample(f, counters[k].name, "changelog",
			       c->changelogs[i].topic,
			       *(const uint64_t
					 *)((const char *)&c->changelogs[i].st +
					    counters[k].off));
	}
	family(f, "keywatch_changelog_restore_seconds_total", "counter",
	       "Wall time spent restoring partitions from a changelog.");
	for (size_t i = 0; i < c->nchangelogs; i++) {
		fputs("keywatch_changelog_restore_seconds_total{changelog=\"",
		      f);
		label(f, c->changelogs[i].topic);
		fprintf(f, "\"} %.3f\n", c->changelogs[i].st.restore_seconds);
	}
}

static void render_owned(void *ctx, const struct kw_byip *b)
{
	struct kw_byip_stats st;

	kw_byip_stats(b, &st);
	sample(ctx, "keywatch_byip_partitions_owned", "repartition",
	       kw_byip_topic(b), st.owned);
}

/* The stages keyed by IP's counters (one series per repartition topic). */
static void render_byips(FILE *f, const struct counts *c,
			 const struct kw_metrics_view *v)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} counters[] = {
		{"keywatch_byip_records_written_total",
		 "Denied requests written to a repartition topic, keyed by "
		 "source IP.",
		 offsetof(struct kw_byip_stats, produced)},
		{"keywatch_byip_marks_written_total",
		 "Marks (how far an input partition has been read) written to "
		 "a repartition topic.",
		 offsetof(struct kw_byip_stats, marks)},
		{"keywatch_byip_write_errors_total",
		 "Records and marks the producer refused (their requests are "
		 "counted on this instance alone).",
		 offsetof(struct kw_byip_stats, produce_errors)},
		{"keywatch_byip_records_read_total",
		 "Records and marks read from the repartition partitions this "
		 "instance owns.",
		 offsetof(struct kw_byip_stats, taken)},
		{"keywatch_byip_records_skipped_total",
		 "Records read that were not understood (skipped).",
		 offsetof(struct kw_byip_stats, bad)},
		{"keywatch_byip_records_late_total",
		 "Records read for a (source IP, window) pair already decided: "
		 "not counted.",
		 offsetof(struct kw_byip_stats, late)},
		{"keywatch_byip_pairs_decided_early_total",
		 "(Source IP, window) pairs decided before their window was "
		 "over because a partition's table was full.",
		 offsetof(struct kw_byip_stats, early)},
		{"keywatch_byip_alerts_total",
		 "Alerts raised by the stage keyed by IP (auth.failures).",
		 offsetof(struct kw_byip_stats, alerts)},
		{"keywatch_byip_partitions_assigned_total",
		 "Repartition partitions assigned to this instance.",
		 offsetof(struct kw_byip_stats, assigned)},
		{"keywatch_byip_partitions_revoked_total",
		 "Repartition partitions revoked (committed, handed over).",
		 offsetof(struct kw_byip_stats, revoked)},
		{"keywatch_byip_partitions_lost_total",
		 "Repartition partitions lost (the instance left the group "
		 "without committing them).",
		 offsetof(struct kw_byip_stats, lost)},
	};

	if (!c->nbyips)
		return;
	for (size_t k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
		family(f, counters[k].name, "counter", counters[k].help);
		for (size_t i = 0; i < c->nbyips; i++)
			sample(f, counters[k].name, "repartition",
			       c->byips[i].topic,
			       *(const uint64_t *)((const char *)&c->byips[i]
							   .st +
						   counters[k].off));
	}
	family(f, "keywatch_byip_partitions_owned", "gauge",
	       "Repartition partitions this instance owns now.");
	kw_daemon_kafka_foreach_byip(v->kafka, render_owned, f);
}

static void render_kafka(FILE *f, const struct counts *c,
			 const struct kw_metrics_view *v)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} counters[] = {
		{"keywatch_kafka_messages_total",
		 "Messages read from a Kafka input.",
		 offsetof(struct kw_kafka_input_stats, messages)},
		{"keywatch_kafka_compressed_messages_total",
		 "Messages that were gzip or zstd batches of lines.",
		 offsetof(struct kw_kafka_input_stats, compressed)},
		{"keywatch_kafka_damaged_messages_total",
		 "Compressed messages that did not decode whole.",
		 offsetof(struct kw_kafka_input_stats, damaged)},
		{"keywatch_kafka_unkeyed_messages_total",
		 "Messages without a key (a key's requests may be split "
		 "between instances).",
		 offsetof(struct kw_kafka_input_stats, unkeyed)},
		{"keywatch_kafka_split_keys_total",
		 "Message keys seen on a second partition.",
		 offsetof(struct kw_kafka_input_stats, split_keys)},
		{"keywatch_kafka_rebalances_total",
		 "Partitions assigned or taken away by the group.",
		 offsetof(struct kw_kafka_input_stats, rebalances)},
		{"keywatch_kafka_errors_total",
		 "Consumer errors (brokers down, topic missing, ...).",
		 offsetof(struct kw_kafka_input_stats, errors)},
	};
	struct kafka_render r = {f, "keywatch_kafka_partitions_assigned"};

	if (!c->nkafka && !kw_daemon_kafka_count(v->kafka))
		return;
	for (size_t k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
		family(f, counters[k].name, "counter", counters[k].help);
		for (size_t i = 0; i < c->nkafka; i++)
			sample(f, counters[k].name, "input", c->kafka[i].name,
			       *(const uint64_t *)((const char *)&c->kafka[i]
							   .st +
						   counters[k].off));
	}
	family(f, "keywatch_kafka_commits_total", "counter",
	       "Offset commits, by result.");
	for (size_t i = 0; i < c->nkafka; i++) {
		sample2(f, "keywatch_kafka_commits_total", c->kafka[i].name,
			"result", "ok", c->kafka[i].st.commits);
		sample2(f, "keywatch_kafka_commits_total", c->kafka[i].name,
			"result", "failed", c->kafka[i].st.commit_errors);
	}
	family(f, r.family, "gauge", "Partitions this instance owns now.");
	kw_daemon_kafka_foreach(v->kafka, render_assigned, &r);
	family(f, "keywatch_kafka_lag_messages", "gauge",
	       "Messages of an owned partition not read yet, as its leader "
	       "last told.");
	kw_daemon_kafka_foreach(v->kafka, render_lag, f);
	render_changelogs(f, c);
	render_byips(f, c, v);
}

static void log_kafka(void *ctx, struct kw_kafka_input *in)
{
	const struct kw_kafka_input_stats *st = kw_kafka_input_stats(in);
	struct lag_ctx l = {NULL, NULL, -1};
	char lag[32] = "unknown";

	(void)ctx;
	kw_kafka_input_foreach(in, render_lag_one, &l);
	if (l.sum >= 0)
		snprintf(lag, sizeof(lag), "%" PRId64, l.sum);
	kw_log_info("watch",
		    "counters: %s: partitions %" PRIu32 ", lag %s messages, "
		    "messages %" PRIu64 ", rebalances %" PRIu64
		    ", commits %" PRIu64 " (failed %" PRIu64
		    "), keys on two partitions %" PRIu64
		    ", messages without a key %" PRIu64,
		    kw_kafka_input_name(in), st->assigned, lag, st->messages,
		    st->rebalances, st->commits, st->commit_errors,
		    st->split_keys, st->unkeyed);
}

static void log_changelog(void *ctx, const struct kw_changelog *cl)
{
	(void)ctx;
	kw_changelog_log(kw_changelog_topic(cl), kw_changelog_stats(cl));
}

static void log_byip(void *ctx, const struct kw_byip *b)
{
	struct kw_byip_stats st;

	(void)ctx;
	kw_byip_stats(b, &st);
	kw_byip_log(kw_byip_topic(b), &st);
}
#endif

/* ------------------------------------------------------ files' lag */

struct lag_row {
	const char *path; /* borrowed from the tailer for the render */
	uint64_t bytes;
	int64_t us;
};

struct lags {
	struct lag_row *rows;
	size_t n, cap;
};

static void lag_add(void *ctx, const struct kw_tail_file_info *fi)
{
	struct lags *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct lag_row *p = realloc(l->rows, cap * sizeof(*p));

		if (!p)
			return;
		l->rows = p;
		l->cap = cap;
	}
	l->rows[l->n++] = (struct lag_row){fi->path, fi->lag, fi->lag_us};
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct lag_row *)a)->path,
		      ((const struct lag_row *)b)->path);
}

/* One row per path: a file that left its path while its successor is
 * followed there adds its bytes, and the older write counts. */
static void lag_merge(struct lags *l)
{
	size_t out = 0;

	if (l->n > 1)
		qsort(l->rows, l->n, sizeof(*l->rows), by_path);
	for (size_t i = 0; i < l->n; i++) {
		if (out && !strcmp(l->rows[out - 1].path, l->rows[i].path)) {
			l->rows[out - 1].bytes += l->rows[i].bytes;
			if (l->rows[i].us > l->rows[out - 1].us)
				l->rows[out - 1].us = l->rows[i].us;
			continue;
		}
		l->rows[out++] = l->rows[i];
	}
	l->n = out;
}

static void render_files(FILE *f, const struct counts *c,
			 const struct kw_metrics_view *v)
{
	const struct kw_tail_stats *ts = kw_tail_stats(v->tail);
	struct lags l = {0};

	family(f, "keywatch_files_followed", "gauge", "Files followed now.");
	sample(f, "keywatch_files_followed", NULL, NULL, ts->files);
	family(f, "keywatch_files_opened_total", "counter",
	       "Files taken up to be followed.");
	sample(f, "keywatch_files_opened_total", NULL, NULL, c->opened);
	family(f, "keywatch_file_rotations_total", "counter",
	       "Rotations seen: renamed (a file left its path), truncated "
	       "(copytruncate), copy (a copy recognised and resumed, not read "
	       "again).");
	sample(f, "keywatch_file_rotations_total", "kind", "renamed",
	       c->rotations);
	sample(f, "keywatch_file_rotations_total", "kind", "truncated",
	       c->truncations);
	sample(f, "keywatch_file_rotations_total", "kind", "copy", c->copies);
	family(f, "keywatch_lines_too_long_total", "counter",
	       "Lines longer than max_line, skipped.");
	sample(f, "keywatch_lines_too_long_total", NULL, NULL, c->too_long);
	family(f, "keywatch_read_errors_total", "counter",
	       "Failed reads and damaged compressed data in followed files.");
	sample(f, "keywatch_read_errors_total", NULL, NULL, c->read_errors);
	kw_tail_foreach(v->tail, mono_us(), lag_add, &l);
	lag_merge(&l);
	family(f, "keywatch_input_lag_bytes", "gauge",
	       "Bytes written to a followed file and not read yet.");
	for (size_t i = 0; i < l.n; i++)
		sample(f, "keywatch_input_lag_bytes", "path", l.rows[i].path,
		       l.rows[i].bytes);
	family(f, "keywatch_input_lag_seconds", "gauge",
	       "Seconds since the oldest write to a followed file that is "
	       "not read yet (0: caught up).");
	for (size_t i = 0; i < l.n; i++) {
		fputs("keywatch_input_lag_seconds{path=\"", f);
		label(f, l.rows[i].path);
		fprintf(f, "\"} %.3f\n", (double)l.rows[i].us / 1e6);
	}
	free(l.rows);
}

static void render_alerts(FILE *f, struct kw_metrics *m, const struct counts *c)
{
	static const char *const reasons[] = {"duplicate", "suppressed",
					      "below_min_severity",
					      "raised_before_restart"};
	const uint64_t dropped[] = {c->deduped, c->suppressed, c->below,
				    m->repeats};

	family(f, "keywatch_alerts_total", "counter",
	       "Alerts that passed the router, by detector and severity.");
	for (size_t i = 0; i < m->ndetectors; i++) {
		for (int s = 0; s < KW_SEV_MAX; s++) {
			if (!m->alerts[i][s])
				continue;
			fputs("keywatch_alerts_total{detector=\"", f);
			label(f, m->detectors[i]);
			fprintf(f, "\",severity=\"%s\"} %" PRIu64 "\n",
				kw_severity_name((enum kw_severity)s),
				m->alerts[i][s]);
		}
	}
	family(f, "keywatch_alerts_dropped_total", "counter",
	       "Alerts raised but not passed to the sinks, by reason.");
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		sample(f, "keywatch_alerts_dropped_total", "reason", reasons[i],
		       dropped[i]);
	family(f, "keywatch_dedup_restarts_total", "counter",
	       "Times the dedup table started afresh (more distinct alerts "
	       "within dedup_window than it holds): some repeats may have "
	       "been delivered again.");
	sample(f, "keywatch_dedup_restarts_total", NULL, NULL,
	       c->dedup_restarts);
}

static void delivery_line(FILE *f, const char *sink, const char *result,
			  uint64_t n)
{
	fputs("keywatch_deliveries_total{sink=\"", f);
	label(f, sink);
	fprintf(f, "\",result=\"%s\"} %" PRIu64 "\n", result, n);
}

static void render_sinks(FILE *f, const struct counts *c,
			 const struct kw_metrics_view *v)
{
	size_t n = kw_router_nsinks(v->router);

	family(f, "keywatch_sink_queue_depth", "gauge",
	       "Alerts waiting for a sink.");
	for (size_t i = 0; i < n; i++) {
		struct kw_delivery *d = kw_router_delivery(v->router, i);
		struct kw_delivery_stats ds;

		if (!d)
			continue;
		kw_delivery_stats(d, &ds);
		sample(f, "keywatch_sink_queue_depth", "sink",
		       kw_router_sink(v->router, i)->name, ds.pending);
	}
	family(f, "keywatch_deliveries_total", "counter",
	       "Delivery outcomes per sink: ok (taken), retried (a retry "
	       "answer), failed (rejected for good: dead-lettered), dropped "
	       "(a queue or spool bound was hit).");
	for (size_t i = 0; i < c->nsinks; i++) {
		const struct sink_count *s = &c->sinks[i];

		delivery_line(f, s->name, "ok", s->ok);
		delivery_line(f, s->name, "retried", s->retried);
		delivery_line(f, s->name, "failed", s->failed);
		delivery_line(f, s->name, "dropped", s->dropped);
	}
	family(f, "keywatch_spool_bytes", "gauge",
	       "Bytes in a sink's spool file.");
	for (size_t i = 0; i < n; i++) {
		struct kw_delivery *d = kw_router_delivery(v->router, i);
		struct kw_delivery_stats ds;
		struct stat sb;

		if (!d)
			continue;
		kw_delivery_stats(d, &ds);
		sample(f, "keywatch_spool_bytes", "sink",
		       kw_router_sink(v->router, i)->name,
		       ds.spool[0] && stat(ds.spool, &sb) == 0
			       ? (uint64_t)sb.st_size
			       : 0);
	}
}

static void render(struct kw_metrics *m, const struct kw_metrics_view *v,
		   const struct counts *c, FILE *f)
{
	const struct kw_engine_stats *es = kw_engine_stats(v->engine);
	struct kw_httpd_stats hs;

	family(f, "keywatch_build_info", "gauge",
	       "The version of keywatch running (always 1).");
	fputs("keywatch_build_info{version=\"", f);
	label(f, KW_VERSION);
	fputs("\"} 1\n", f);
	family(f, "keywatch_start_time_seconds", "gauge",
	       "When this keywatch started, in seconds since the epoch.");
	fprintf(f, "keywatch_start_time_seconds %.3f\n", m->started);
	family(f, "keywatch_reloads_total", "counter",
	       "Config reloads (SIGHUP), by result (failed: the old config "
	       "went on).");
	sample(f, "keywatch_reloads_total", "result", "ok", m->reloads_ok);
	sample(f, "keywatch_reloads_total", "result", "failed",
	       m->reloads_failed);
	family(f, "keywatch_bytes_read_total", "counter",
	       "Bytes read from the inputs (decompressed).");
	sample(f, "keywatch_bytes_read_total", NULL, NULL, c->bytes);
	family(f, "keywatch_bytes_decompressed_total", "counter",
	       "Bytes decompressed from followed compressed files, also those "
	       "decompressed again to be skipped (after a restart).");
	sample(f, "keywatch_bytes_decompressed_total", NULL, NULL,
	       c->decompressed);
	family(f, "keywatch_records_read_total", "counter",
	       "Records cut from the inputs.");
	sample(f, "keywatch_records_read_total", NULL, NULL, c->records);
	family(f, "keywatch_events_read_total", "counter",
	       "Events decoded and analysed.");
	sample(f, "keywatch_events_read_total", NULL, NULL, c->events);
	family(f, "keywatch_events_skipped_total", "counter",
	       "Records not analysed, by reason.");
	for (int r = 0; r < KW_SKIP_REASON_MAX; r++)
		sample(f, "keywatch_events_skipped_total", "reason",
		       kw_skip_reason_name((enum kw_skip_reason)r),
		       c->skips[r]);
	render_files(f, c, v);
#if KW_HAVE_KAFKA
	render_kafka(f, c, v);
#endif
	family(f, "keywatch_keys_tracked", "gauge", "Keys in the key table.");
	sample(f, "keywatch_keys_tracked", NULL, NULL, es->keys);
	render_alerts(f, m, c);
	render_sinks(f, c, v);
	family(f, "keywatch_checkpoints_total", "counter",
	       "Checkpoints written.");
	sample(f, "keywatch_checkpoints_total", NULL, NULL, m->checkpoints);
	kw_httpd_stats(m->httpd, &hs);
	family(f, "keywatch_metrics_requests_total", "counter",
	       "Requests this listener answered.");
	sample(f, "keywatch_metrics_requests_total", NULL, NULL, hs.requests);
	family(f, "keywatch_metrics_connections_closed_total", "counter",
	       "Connections to this listener closed without an answer: "
	       "evicted (idle, for a new one), timeout (too slow), refused "
	       "(every slot busy sending).");
	sample(f, "keywatch_metrics_connections_closed_total", "reason",
	       "evicted", hs.evicted);
	sample(f, "keywatch_metrics_connections_closed_total", "reason",
	       "timeout", hs.timeouts);
	sample(f, "keywatch_metrics_connections_closed_total", "reason",
	       "refused", hs.refused);
}

/* Totals: what was carried plus what v's components counted. */
static void totals(struct kw_metrics *m, const struct kw_metrics_view *v,
		   struct counts *c)
{
	*c = m->carried;
	add(c, v);
}

void kw_metrics_publish(struct kw_metrics *m, const struct kw_metrics_view *v)
{
	struct counts *c = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (!m->httpd)
		return;
	c = malloc(sizeof(*c));
	f = c ? open_memstream(&text, &len) : NULL;
	if (!f) {
		free(c);
		return; /* the last text stays */
	}
	totals(m, v, c);
	render(m, v, c, f);
	if (fclose(f) != 0) {
		free(text);
		text = NULL;
	}
	free(c);
	if (text)
		kw_httpd_publish(m->httpd, text, len);
}

/* ---------------------------------------------------------------- log */

void kw_metrics_log(struct kw_metrics *m, const struct kw_metrics_view *v)
{
	const struct kw_engine_stats *es = kw_engine_stats(v->engine);
	const struct kw_tail_stats *ts = kw_tail_stats(v->tail);
	struct counts *c = malloc(sizeof(*c));

	if (!c)
		return;
	totals(m, v, c);
	kw_log_info(
		"watch",
		"counters: files %" PRIu64 " (opened %" PRIu64
		", rotations %" PRIu64 ", truncations %" PRIu64
		", copies skipped %" PRIu64 "), bytes %" PRIu64
		", events %" PRIu64 ", skipped %" PRIu64 ", keys %zu"
		", alerts %" PRIu64 " (repeats after restart dropped %" PRIu64
		", dedup table restarts %" PRIu64 "), checkpoints %" PRIu64
		", reloads %" PRIu64,
		ts->files, c->opened, c->rotations, c->truncations, c->copies,
		c->bytes, c->events, c->skipped, es->keys, c->passed,
		m->repeats, c->dedup_restarts, m->checkpoints, m->reloads_ok);
#if KW_HAVE_KAFKA
	kw_daemon_kafka_foreach(v->kafka, log_kafka, NULL);
	kw_daemon_kafka_foreach_changelog(v->kafka, log_changelog, NULL);
	kw_daemon_kafka_foreach_byip(v->kafka, log_byip, NULL);
#endif
	free(c);
}

void kw_metrics_destroy(struct kw_metrics *m)
{
	if (!m)
		return;
	kw_httpd_stop(m->httpd);
	free(m);
}
