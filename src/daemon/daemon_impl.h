/*
 * daemon_impl.h - what the files of the daemon share: the daemon's
 * context and the functions each file gives the others. Not for use
 * outside src/daemon/.
 *
 *   daemon.c   start, the loop, signals, SIGHUP reload, stop
 *   inputs.c   per inputs[] entry: its format and field map
 *   kafka.c    the Kafka inputs: consumers, offsets committed after
 *              checkpoints (only in a build with librdkafka)
 *   persist.c  state_dir paths, checkpoints, the alert journal, resuming
 *   metrics.c  counters and their Prometheus text
 *   httpd.c    the /metrics listener, on a thread of its own
 *   notify.c   systemd's readiness protocol
 */
#ifndef KW_DAEMON_DAEMON_IMPL_H
#define KW_DAEMON_DAEMON_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "kw_config.h"

#include "daemon/daemon.h"
#include "daemon/metrics.h"
#include "engine/engine.h"
#include "ingest/tail.h"
#include "state/checkpoint.h"

#define KW_DAEMON_PATH_MAX 4096

struct kw_daemon_inputs;
struct kw_daemon_kafka;

struct kw_daemon {
	struct kw_daemon_opts opts;
	struct kw_daemon_conf conf; /* the running config */
	struct kw_engine *engine;
	struct kw_tail *tail;
	struct kw_daemon_inputs *inputs; /* of conf.cfg, for engine */
	struct kw_daemon_kafka *kafka;	 /* conf.cfg's Kafka inputs */
	struct kw_checkpoint ckpt;	 /* files (at save) and recent alerts */
	int journal;			 /* -1 without a state_dir */
	char ckpt_path[KW_DAEMON_PATH_MAX];
	char journal_path[KW_DAEMON_PATH_MAX];
	char state_path[KW_DAEMON_PATH_MAX];
	struct kw_metrics *metrics;
	/* Alerts lost or delivered incomplete for lack of memory by the
	 * routers of configs replaced by a reload (the running one counts
	 * its own): a stop after any is not a clean one. */
	uint64_t oom;
	/* The stream of the alert being routed (the admit hook's), for the
	 * journal hook that the router calls next; 0: none. */
	uint64_t routing_stream;
};

/* inputs.c: the format and field map of each inputs[] entry of cfg, with
 * the top-level map (map[0..nmap)) under each entry's own. NULL after an
 * error, which is logged. The engine borrows the table: free it (free())
 * after the engine. */
struct kw_daemon_inputs *kw_daemon_inputs_make(const struct kw_config *cfg,
					       const struct kw_field_map *map,
					       size_t nmap);

/* The inputs[] entry of a file the tailer named: the first whose glob
 * matches it; NULL: none (the engine's format and map). */
const struct kw_engine_input *
kw_daemon_inputs_of(const struct kw_daemon_inputs *in,
		    const struct kw_config *cfg, const char *name);

/* inputs.c: entry i's format and field map. */
const struct kw_engine_input *
kw_daemon_inputs_at(const struct kw_daemon_inputs *in, size_t i);

/* kafka.c: the consumers of cfg's Kafka inputs, feeding d->engine with
 * d->inputs (read when they feed: a reload swaps them), not in their
 * group yet (*out NULL-safe to free, empty without Kafka inputs). Errors
 * are logged. */
#if KW_HAVE_KAFKA
enum kw_status kw_daemon_kafka_make(struct kw_daemon *d,
				    const struct kw_config *cfg,
				    struct kw_daemon_kafka **out);
/* Join the groups. Errors are logged. */
enum kw_status kw_daemon_kafka_start(struct kw_daemon_kafka *k);
size_t kw_daemon_kafka_count(const struct kw_daemon_kafka *k);
/* Feed the engine what the owned partitions hold; the bytes fed. */
uint64_t kw_daemon_kafka_poll(struct kw_daemon_kafka *k, int64_t now_us);
void kw_daemon_kafka_wait(struct kw_daemon_kafka *k, int timeout_ms);
/* Commit the offsets past what was fed (after a checkpoint). */
void kw_daemon_kafka_commit(struct kw_daemon_kafka *k, bool sync);
/* Leave the groups (owned partitions committed) and free. NULL-safe. */
void kw_daemon_kafka_free(struct kw_daemon_kafka *k);
/* Each input (for the metrics). NULL-safe. */
struct kw_kafka_input;
void kw_daemon_kafka_foreach(struct kw_daemon_kafka *k,
			     void (*cb)(void *ctx, struct kw_kafka_input *in),
			     void *ctx);
/* Each input's changelog, when it has one (for the metrics). NULL-safe. */
struct kw_changelog;
void kw_daemon_kafka_foreach_changelog(
	struct kw_daemon_kafka *k,
	void (*cb)(void *ctx, const struct kw_changelog *cl), void *ctx);
/* Each input's stage keyed by IP, when it has one (for the metrics).
 * NULL-safe. */
struct kw_byip;
void kw_daemon_kafka_foreach_byip(struct kw_daemon_kafka *k,
				  void (*cb)(void *ctx,
					     const struct kw_byip *b),
				  void *ctx);

struct rd_kafka_s;
struct rd_kafka_message_s;
struct rd_kafka_topic_partition_list_s;

/* changelog.c: a client of c's in group (a consumer; polled through its
 * consumer queue), or with group NULL a producer whose records are
 * acknowledged by every in-sync replica, idempotent; opaque given to its
 * callbacks (report: a producer's delivery reports; rebalance: a
 * consumer's, NULL: librdkafka's own). Errors name c's file and entry. */
typedef void kw_kafka_report_fn(struct rd_kafka_s *rk,
				const struct rd_kafka_message_s *m,
				void *opaque);
typedef void kw_kafka_rebalance_fn(struct rd_kafka_s *rk, int err,
				   struct rd_kafka_topic_partition_list_s *l,
				   void *opaque);
struct kw_kafka_client;
enum kw_status kw_kafka_client_new(const struct kw_kafka_client *c,
				   const char *group, void *opaque,
				   kw_kafka_report_fn *report,
				   kw_kafka_rebalance_fn *rebalance,
				   struct rd_kafka_s **out,
				   struct kw_error *err);

/* A header of a record: its name and value (copied when produced). */
struct kw_kafka_header {
	const char *name;
	const void *value;
	size_t len;
};

/* changelog.c: one record (copied) to partition p of topic through
 * producer rk, timestamped ts_ms (0: now), with header h (NULL: none),
 * waiting up to 30 s for room in its queue (polling it meanwhile, so
 * delivery reports are served). librdkafka's rd_kafka_resp_err_t: 0 when
 * queued. */
int kw_kafka_produce_wait(struct rd_kafka_s *rk, const char *topic, int32_t p,
			  const void *key, size_t klen, const void *value,
			  size_t vlen, int64_t ts_ms,
			  const struct kw_kafka_header *h);

/* changelog.c: the state of each partition of one Kafka input in its
 * changelog topic (the config's inputs[entry].changelog), so that it
 * moves with the partition. */
struct kw_changelog;
/* A changelog's counters since it was made. */
struct kw_changelog_stats {
	uint64_t checkpoints;	   /* partitions checkpointed */
	uint64_t records;	   /* records produced */
	uint64_t bytes;		   /* their keys' and values' bytes */
	uint64_t keys;		   /* of them key states */
	uint64_t alerts;	   /* of them alert ids, acknowledged */
	uint64_t errors;	   /* records not acknowledged (or refused) */
	uint64_t restores;	   /* partitions restored */
	uint64_t restored_records; /* records read restoring them */
	uint64_t restored_keys;	   /* of them key states taken */
	double restore_seconds;	   /* the restores' wall time */
};
/* Its producer and reader; the topic checked, and created when missing
 * (compacted, as many partitions as the input's topic). Errors name the
 * config file, the entry and the topic. */
enum kw_status kw_changelog_create(struct kw_daemon *d,
				   const struct kw_config *cfg, size_t entry,
				   struct kw_changelog **out,
				   struct kw_error *err);
/* Partition p's keys changed since its last checkpoint and a mark of
 * the input offset next, acknowledged; false (logged) when not. */
bool kw_changelog_save(struct kw_changelog *cl, int32_t p, int64_t next);
/* Partition p's state into the engine (its keys pending, its recent
 * alerts into d->ckpt and the router's memory); the input offset to read
 * from, or -1 (no state: the group's committed offset). */
int64_t kw_changelog_restore(struct kw_changelog *cl, int32_t p);
/* Partition p was taken away: the engine forgets its keys. */
void kw_changelog_drop(struct kw_changelog *cl, int32_t p);
/* How far partition p's event time is complete: what this instance read
 * of it (kw_engine_stream_done), or, when further, what its restored
 * checkpoint covers (read and handed on by its owner before). INT64_MIN:
 * not known. */
int64_t kw_changelog_done(struct kw_changelog *cl, int32_t p);
/* An alert about partition p's keys passed the router: its id into the
 * partition's journal, acknowledged before this returns. */
enum kw_changelog_ring {
	KW_CHANGELOG_RING_INPUT, /* "alert.N": the partition's keys' */
	KW_CHANGELOG_RING_BYIP	 /* "byip.alert.N": repartition partition
				    p's (byip.c) */
};
void kw_changelog_alert(struct kw_changelog *cl, int32_t p,
			enum kw_changelog_ring ring, const char *id,
			int64_t time);
/* Read partition q's byip ring back (its ids into the daemon's ring of
 * recent alerts and the router's memory), when repartition partition q
 * is assigned. */
void kw_changelog_restore_journal(struct kw_changelog *cl, int32_t q);
/* The topic an input's changelog or repartition stage ("changelog" or
 * "repartition": setting) writes to: how many partitions the input topic
 * (*ninput) and it (*nparts) have, the topic created with the input's
 * partitions when missing (a changelog compacted, and with no fewer
 * partitions than the input's). Errors name the config's file, entry and
 * setting, and what to do. */
enum kw_status kw_kafka_ensure_topic(struct rd_kafka_s *rk, const char *input,
				     const char *topic, const char *setting,
				     const char *file, const char *where,
				     int *ninput, int *nparts,
				     struct kw_error *err);

/* byip.c: the stage keyed by source IP of one Kafka input (the config's
 * inputs[entry].repartition topic), so that auth.failures counts an IP's
 * tries over every partition; cl (borrowed; NULL: none) journals its
 * alerts. See byip.c. */
struct kw_byip;
enum kw_status kw_byip_create(struct kw_daemon *d, const struct kw_config *cfg,
			      size_t entry, struct kw_changelog *cl,
			      struct kw_byip **out, struct kw_error *err);
/* Join its group (GROUP.keywatch-byip) and read. */
enum kw_status kw_byip_start(struct kw_byip *b, struct kw_error *err);
/* The engine's cross hook for input partition partition's event: true
 * when taken (a record written, or nothing to count). */
bool kw_byip_cross(struct kw_byip *b, int32_t partition,
		   const struct kw_event *ev, const struct kw_keyent *key);
/* Wait for every record written to be acknowledged: before the input's
 * offsets are committed. false: not all were (logged). */
bool kw_byip_flush(struct kw_byip *b);
/* The marks of in's owned partitions (once a second), then the records
 * of the owned repartition partitions. now_us: a monotonic clock. */
void kw_byip_poll(struct kw_byip *b, struct kw_kafka_input *in, int64_t now_us);
/* Commit the owned repartition partitions' offsets, no further than
 * their open pairs' first records. */
void kw_byip_commit(struct kw_byip *b, bool sync);
/* Whether stream is a repartition partition's (the stream of its
 * alerts), and which. */
bool kw_byip_stream(uint64_t stream, int32_t *q);
/* An alert of repartition partition q passed: into the changelog. */
void kw_byip_journal(struct kw_byip *b, int32_t q, const char *id,
		     int64_t time);
/* Its counters (for the metrics and SIGUSR1). Counts of records, marks
 * and partitions since it was made; late and early also of the tables of
 * partitions given up. */
struct kw_byip_stats {
	uint64_t produced;	 /* records written (denied requests) */
	uint64_t marks;		 /* marks written (one per partition) */
	uint64_t produce_errors; /* records and marks the producer refused */
	uint64_t taken;		 /* records and marks read */
	uint64_t bad;		 /* of them not understood: skipped */
	uint64_t late;		 /* records for a pair already decided */
	uint64_t early;		 /* pairs decided before their window's end
				    (a table full) */
	uint64_t alerts;	 /* raised */
	uint64_t assigned, revoked, lost; /* repartition partitions */
	uint32_t owned;			  /* repartition partitions owned now */
};
const char *kw_byip_topic(const struct kw_byip *b);
void kw_byip_stats(const struct kw_byip *b, struct kw_byip_stats *out);
/* The counters' line in the log (info: at SIGUSR1 and when the stage
 * is destroyed). */
void kw_byip_log(const char *topic, const struct kw_byip_stats *st);
/* Its counters into the log, leave the group, free. NULL-safe. */
void kw_byip_destroy(struct kw_byip *b);
/* kafka.c: the engine's cross hook (engine.h); ctx is the daemon. */
bool kw_daemon_cross(void *ctx, uint64_t stream, const struct kw_event *ev,
		     const struct kw_keyent *key);
/* Its counters into the log (info), then free. NULL-safe. */
void kw_changelog_destroy(struct kw_changelog *cl);
/* Its topic and counters, and the counters' line in the log (info; at
 * SIGUSR1 and when it is destroyed). */
const char *kw_changelog_topic(const struct kw_changelog *cl);
const struct kw_changelog_stats *
kw_changelog_stats(const struct kw_changelog *cl);
void kw_changelog_log(const char *topic, const struct kw_changelog_stats *st);
/* kafka.c: an alert passed about a key of stream (engine.h): journalled
 * in the changelog of the stream's input and partition, if it has one. */
void kw_daemon_kafka_journal(struct kw_daemon_kafka *k, uint64_t stream,
			     const char *id, int64_t time);
#else
/* Without librdkafka a Kafka input is refused by the config check. */
static inline enum kw_status kw_daemon_kafka_make(struct kw_daemon *d,
						  const struct kw_config *cfg,
						  struct kw_daemon_kafka **out)
{
	(void)d;
	(void)cfg;
	*out = NULL;
	return KW_OK;
}
static inline enum kw_status kw_daemon_kafka_start(struct kw_daemon_kafka *k)
{
	(void)k;
	return KW_OK;
}
static inline size_t kw_daemon_kafka_count(const struct kw_daemon_kafka *k)
{
	(void)k;
	return 0;
}
static inline uint64_t kw_daemon_kafka_poll(struct kw_daemon_kafka *k,
					    int64_t now_us)
{
	(void)k;
	(void)now_us;
	return 0;
}
static inline void kw_daemon_kafka_wait(struct kw_daemon_kafka *k,
					int timeout_ms)
{
	(void)k;
	(void)timeout_ms;
}
static inline void kw_daemon_kafka_commit(struct kw_daemon_kafka *k, bool sync)
{
	(void)k;
	(void)sync;
}
static inline void kw_daemon_kafka_free(struct kw_daemon_kafka *k)
{
	(void)k;
}
static inline bool kw_daemon_cross(void *ctx, uint64_t stream,
				   const struct kw_event *ev,
				   const struct kw_keyent *key)
{
	(void)ctx;
	(void)stream;
	(void)ev;
	(void)key;
	return false;
}
static inline void kw_daemon_kafka_journal(struct kw_daemon_kafka *k,
					   uint64_t stream, const char *id,
					   int64_t time)
{
	(void)k;
	(void)stream;
	(void)id;
	(void)time;
}
#endif

/* persist.c: the paths in state_dir (created 0700), or only the --state
 * path without a state_dir. Errors are logged. */
enum kw_status kw_daemon_paths(struct kw_daemon *d);

/* persist.c: load the checkpoint and the journal and hand the offsets to
 * d->tail; then open the journal for appending. Errors are logged. */
enum kw_status kw_daemon_resume(struct kw_daemon *d);

/* persist.c: write learned state and the checkpoint now; false when
 * either could not be written (logged; the daemon goes on). */
bool kw_daemon_checkpoint(struct kw_daemon *d);

/* persist.c: the engine's hooks (struct kw_engine_opts): drop an alert
 * raised before a restart; count each alert passed. ctx is the daemon. */
bool kw_daemon_admit(void *ctx, const char *id, int64_t time, uint64_t stream);
void kw_daemon_passed(void *ctx, const char *id, int64_t time,
		      const char *detector, enum kw_severity sev);

/* persist.c: the router's hook (kw_router_on_pass): remember and journal
 * an alert that passed, before any sink may deliver it, or that a spool
 * replays. ctx is the daemon. */
void kw_daemon_journal(void *ctx, const char *id, int64_t time);

/* notify.c: one sd_notify message ("READY=1", ...) to $NOTIFY_SOCKET;
 * nothing without it. */
void kw_daemon_notify(const char *msg);

#endif
