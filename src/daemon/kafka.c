/*
 * kafka.c - the daemon's Kafka inputs (ingest/kafka.h): one consumer per
 * inputs[] entry of type "kafka", feeding the engine with that entry's
 * format and field map, its offsets committed after each checkpoint.
 *
 * The one idea: an offset is committed only when what it covers is
 * through the engine and in the learned state on disk. The checkpoint
 * commits (kw_daemon_kafka_commit after the state is saved); partitions
 * taken away in a rebalance, or at a stop or reload, are committed after
 * sync(), which waits for the engine to be through what it was handed.
 *
 * Each partition of each entry is a stream of event time of its own in
 * the engine (engine.h, struct kw_engine_input's stream): its id is the
 * entry's index + 1 in the high 32 bits and the partition in the low
 * ones, never 0 (the files' stream).
 *
 * An entry with a changelog (changelog.c) keeps each partition's state
 * there: saved before the partition's offset is committed, restored when
 * it is assigned, forgotten by the engine when it is taken away.
 *
 * An entry with a repartition topic (byip.c) has what spans keys of its
 * partitions' events counted by source IP over the whole group: the
 * engine's cross hook hands them over, and a partition's offset is
 * committed only once the records they made are acknowledged.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "daemon/daemon_impl.h"
#include "ingest/kafka.h"

struct one {
	struct kw_daemon *d;
	size_t entry; /* the config's inputs[] index */
	struct kw_kafka_input *in;
	struct kw_changelog *cl; /* NULL: none */
	struct kw_byip *byip;	 /* NULL: none */
};

struct kw_daemon_kafka {
	struct one *v;
	size_t n;
};

static uint64_t stream_of(const struct one *o, int32_t partition)
{
	return ((uint64_t)(o->entry + 1) << 32) | (uint32_t)partition;
}

static void feed(void *ctx, struct kw_reader *r, const char *name,
		 int32_t partition)
{
	struct one *o = ctx;
	const struct kw_engine_input *conf =
		kw_daemon_inputs_at(o->d->inputs, o->entry);
	struct kw_engine_input in = {0};

	if (conf)
		in = *conf;
	in.stream = stream_of(o, partition);
	kw_engine_feed_reader(o->d->engine, r, name, &in);
}

static void quiet(void *ctx, int32_t partition)
{
	struct one *o = ctx;

	if (o->d->engine)
		kw_engine_stream_quiet(o->d->engine, stream_of(o, partition));
}

static bool save(void *ctx, int32_t partition, int64_t next)
{
	struct one *o = ctx;

	/* What its requests handed to the stage keyed by IP first. */
	if (o->byip && !kw_byip_flush(o->byip))
		return false;
	return !o->cl || kw_changelog_save(o->cl, partition, next);
}

static int64_t restore(void *ctx, int32_t partition)
{
	struct one *o = ctx;

	return o->cl ? kw_changelog_restore(o->cl, partition) : -1;
}

static void dropped(void *ctx, int32_t partition)
{
	struct one *o = ctx;

	if (o->cl)
		kw_changelog_drop(o->cl, partition);
}

/* Everything fed is through, the hooks done (the engine's feed does not
 * wait: caller_syncs). */
static void sync_engine(void *ctx)
{
	struct one *o = ctx;

	if (o->d->engine)
		kw_engine_sync(o->d->engine);
}

enum kw_status kw_daemon_kafka_make(struct kw_daemon *d,
				    const struct kw_config *cfg,
				    struct kw_daemon_kafka **out)
{
	struct kw_daemon_kafka *k = calloc(1, sizeof(*k));
	struct kw_error err;
	enum kw_status st = KW_OK;

	*out = NULL;
	if (k)
		k->v = calloc(cfg->ninputs + 1, sizeof(*k->v));
	if (!k || !k->v) {
		kw_log_error(NULL, "out of memory");
		kw_daemon_kafka_free(k);
		return KW_ENOMEM;
	}
	for (size_t i = 0; i < cfg->ninputs && st == KW_OK; i++) {
		const struct kw_input *ci = &cfg->inputs[i];
		struct one *o = &k->v[k->n];
		char where[32];
		struct kw_kafka_input_opts ko = {
			.name = ci->path,
			.brokers = ci->brokers,
			.topic = ci->topic,
			.group = ci->group,
			.top = cfg->kafka,
			.own = ci->kafka,
			.file = cfg->file,
			.where = where,
			.max_line = cfg->max_line,
			.sync = sync_engine,
			.feed = feed,
			.quiet = quiet,
			.ctx = o,
		};

		if (ci->type != KW_INPUT_KAFKA)
			continue;
		snprintf(where, sizeof(where), "inputs[%zu]", i);
		o->d = d;
		o->entry = i;
		kw_error_clear(&err);
		if (ci->changelog)
			st = kw_changelog_create(d, cfg, i, &o->cl, &err);
		if (st == KW_OK && ci->repartition)
			st = kw_byip_create(d, cfg, i, o->cl, &o->byip, &err);
		if (o->cl || o->byip) {
			ko.save = save;
			ko.restore = restore;
			ko.dropped = dropped;
		}
		if (st == KW_OK)
			st = kw_kafka_input_create(&ko, &o->in, &err);
		if (st != KW_OK) {
			kw_log_error(NULL, "%s", err.msg);
			kw_byip_destroy(o->byip);
			kw_changelog_destroy(o->cl);
			o->byip = NULL;
			o->cl = NULL;
		} else {
			k->n++;
		}
	}
	if (st != KW_OK) {
		kw_daemon_kafka_free(k);
		return st;
	}
	*out = k;
	return KW_OK;
}

enum kw_status kw_daemon_kafka_start(struct kw_daemon_kafka *k)
{
	struct kw_error err;

	for (size_t i = 0; k && i < k->n; i++) {
		kw_error_clear(&err);
		if (kw_kafka_input_start(k->v[i].in, &err) != KW_OK ||
		    (k->v[i].byip &&
		     kw_byip_start(k->v[i].byip, &err) != KW_OK)) {
			kw_log_error(NULL, "%s", err.msg);
			return KW_EIO;
		}
	}
	return KW_OK;
}

size_t kw_daemon_kafka_count(const struct kw_daemon_kafka *k)
{
	return k ? k->n : 0;
}

uint64_t kw_daemon_kafka_poll(struct kw_daemon_kafka *k, int64_t now_us)
{
	uint64_t fed = 0;

	for (size_t i = 0; k && i < k->n; i++) {
		fed += kw_kafka_input_poll(k->v[i].in, now_us);
		/* What it fed is through the hooks (journal, changelog, the
		 * stage keyed by IP) before anything else touches them: the
		 * stage's poll, the next input's rebalance callbacks. */
		sync_engine(&k->v[i]);
		if (k->v[i].byip)
			kw_byip_poll(k->v[i].byip, k->v[i].in, now_us);
	}
	return fed;
}

void kw_daemon_kafka_wait(struct kw_daemon_kafka *k, int timeout_ms)
{
	/* One input waits; the others' messages (and the stage keyed by
	 * IP's) are taken on the next poll, which follows at most
	 * timeout_ms later. */
	if (k && k->n)
		kw_kafka_input_wait(k->v[0].in, (k->n > 1 || k->v[0].byip) &&
								timeout_ms > 50
							? 50
							: timeout_ms);
}

void kw_daemon_kafka_commit(struct kw_daemon_kafka *k, bool sync)
{
	for (size_t i = 0; k && i < k->n; i++) {
		kw_kafka_input_commit(k->v[i].in, sync);
		if (k->v[i].byip)
			kw_byip_commit(k->v[i].byip, sync);
	}
}

void kw_daemon_kafka_foreach(struct kw_daemon_kafka *k,
			     void (*cb)(void *ctx, struct kw_kafka_input *in),
			     void *ctx)
{
	for (size_t i = 0; k && i < k->n; i++)
		cb(ctx, k->v[i].in);
}

void kw_daemon_kafka_foreach_changelog(
	struct kw_daemon_kafka *k,
	void (*cb)(void *ctx, const struct kw_changelog *cl), void *ctx)
{
	for (size_t i = 0; k && i < k->n; i++) {
		if (k->v[i].cl)
			cb(ctx, k->v[i].cl);
	}
}

void kw_daemon_kafka_foreach_byip(struct kw_daemon_kafka *k,
				  void (*cb)(void *ctx,
					     const struct kw_byip *b),
				  void *ctx)
{
	for (size_t i = 0; k && i < k->n; i++) {
		if (k->v[i].byip)
			cb(ctx, k->v[i].byip);
	}
}

void kw_daemon_kafka_journal(struct kw_daemon_kafka *k, uint64_t stream,
			     const char *id, int64_t time)
{
	size_t entry = (size_t)(stream >> 32);
	int32_t q;

	for (size_t i = 0; k && entry && i < k->n; i++) {
		if (k->v[i].entry + 1 != entry)
			continue;
		if (kw_byip_stream(stream, &q)) {
			if (k->v[i].byip)
				kw_byip_journal(k->v[i].byip, q, id, time);
		} else if (k->v[i].cl) {
			kw_changelog_alert(k->v[i].cl,
					   (int32_t)(uint32_t)stream,
					   KW_CHANGELOG_RING_INPUT, id, time);
		}
	}
}

bool kw_daemon_cross(void *ctx, uint64_t stream, const struct kw_event *ev,
		     const struct kw_keyent *key)
{
	struct kw_daemon *d = ctx;
	struct kw_daemon_kafka *k = d->kafka;
	size_t entry = (size_t)(stream >> 32);

	for (size_t i = 0; k && entry && i < k->n; i++) {
		if (k->v[i].entry + 1 == entry && k->v[i].byip)
			return kw_byip_cross(k->v[i].byip,
					     (int32_t)(uint32_t)stream, ev,
					     key);
	}
	return false;
}

void kw_daemon_kafka_free(struct kw_daemon_kafka *k)
{
	if (!k)
		return;
	/* Each input leaves its group first: what it owns is saved to the
	 * changelog and committed. */
	for (size_t i = 0; k->v && i < k->n; i++) {
		kw_kafka_input_destroy(k->v[i].in);
		kw_byip_destroy(k->v[i].byip);
		kw_changelog_destroy(k->v[i].cl);
		/* The engine syncs the next inputs' requests: the hook
		 * finds none of these. */
		k->v[i].byip = NULL;
		k->v[i].cl = NULL;
	}
	free(k->v);
	free(k);
}
