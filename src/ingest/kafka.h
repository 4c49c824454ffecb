/*
 * kafka.h - the Kafka input of `keywatch watch`: a member of a consumer
 * group that reads one topic and hands its messages out as whole lines,
 * the way the tailer (tail.h) hands out what files grew by.
 *
 * One message is one request record: a JSON line (a trailing newline is
 * added when it has none), or a gzip- or zstd-compressed batch of lines,
 * recognised by its magic bytes and decoded through the readers
 * (reader.h). What is handed out then goes through the splitter and the
 * decoders like any file's lines.
 *
 * The one idea: each partition is a stream of event time of its own
 * (engine.h, struct kw_engine_input's stream), so what is handed out is
 * runs of one partition's messages, each with its partition. Each
 * assigned partition has its own queue (librdkafka's partition queue, not
 * forwarded to the consumer's); the next run is taken from the partition
 * whose first message has the smallest timestamp, up to KW_KAFKA_RUN_MAX
 * messages, so the partitions stay about level in time. A partition read
 * from far behind (after a restart or a rebalance) makes no other
 * partition's requests late: the engine keeps time per partition. A
 * partition at its end, or with nothing waiting for KW_KAFKA_WAIT_US, or
 * taken away, is told quiet (o.quiet): its time holds the others' windows
 * back no longer, until its next message.
 *
 * Offsets: keywatch commits, librdkafka never does on its own
 * (enable.auto.commit is off). The offset of a partition moves only past
 * messages handed out; kw_kafka_input_commit commits it, and the daemon
 * calls it after the learned state that covers those messages is saved.
 * When partitions are taken away (a rebalance, the input closing), the
 * caller's sync() is called first (everything handed out is through the
 * engine), then their offsets are committed synchronously, so the next
 * owner reads on exactly after them. Partitions lost (the member was
 * thrown out of the group) are not committed: their next owner reads again
 * from the last commit, and its alert journal drops repeats.
 *
 * State that moves with its partition (the caller's, daemon/changelog.c):
 * before a partition's offset is committed, o.save is asked to keep the
 * partition's state up to it (false: not committed, tried again at the
 * next commit); a partition assigned is first handed to o.restore, which
 * may say where to read it from (the offset its restored state covers);
 * a partition revoked or lost is told to o.dropped after its last commit.
 *
 * Messages are expected to be keyed by the API key, so that each key's
 * requests are on one partition and one instance sees all of them. A
 * message key seen on two partitions (producers with different
 * partitioners, a topic whose partitions were added to) and messages
 * without a key are counted and reported (kw_kafka_input_stats): a key so
 * split is watched by two instances, each seeing part of its requests. The
 * check remembers KW_KAFKA_KEYS_MAX keys by a hash; a key is shown only as
 * its redacted id.
 */
#ifndef KW_INGEST_KAFKA_H
#define KW_INGEST_KAFKA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "ingest/reader.h"

#define KW_KAFKA_PARTITIONS_MAX 4096 /* partitions of the topic read */
#define KW_KAFKA_KEYS_MAX 65536	     /* keys remembered for the check */
#define KW_KAFKA_WAIT_US (INT64_C(500) * 1000)
#define KW_KAFKA_RUN_MAX                                                       \
	1024 /* messages of one partition handed out in a row */
/* Bytes of messages taken per poll, about (whole messages; a compressed
 * one counts its compressed size). */
#define KW_KAFKA_POLL_MAX ((size_t)4 << 20)

/* Called with a reader of whole lines (each message's, a newline added
 * where it has none) of one partition's run of messages, read where
 * librdkafka holds them (no copy first); read it to its end before
 * returning (the messages are freed after). name is the input's. */
typedef void kw_kafka_feed_fn(void *ctx, struct kw_reader *r, const char *name,
			      int32_t partition);

struct kw_kafka_input_opts {
	const char *name;    /* "kafka:TOPIC": what feed is told; borrowed,
				for the input's lifetime */
	const char *brokers; /* "host:port,..." */
	const char *topic;
	const char *group;
	const json_t *top; /* the config's "kafka" properties, or NULL */
	const json_t *own; /* the entry's, or NULL */
	const char *file;  /* the config file, for messages */
	const char *where; /* "inputs[0]" */
	size_t max_line;   /* 0: 1 MiB; a longer line is the decoder's to
			      skip, it is handed out whole */
	/* Required: everything fed so far is through the engine (called
	 * before offsets are committed for partitions taken away). */
	void (*sync)(void *ctx);
	kw_kafka_feed_fn *feed; /* required */
	/* Optional: the partition has nothing to hand out for now (at its
	 * end, nothing waiting for KW_KAFKA_WAIT_US) or was taken away;
	 * told once until its next message, after what it fed. */
	void (*quiet)(void *ctx, int32_t partition);
	/* Optional (all three or none): see the top of this file. save:
	 * the partition's state is to cover everything handed out before
	 * next, its offset about to be committed; true when it does.
	 * restore: the partition is assigned (before it is read); the
	 * offset to read from, or -1 for the group's committed one.
	 * dropped: the partition was taken away. */
	bool (*save)(void *ctx, int32_t partition, int64_t next);
	int64_t (*restore)(void *ctx, int32_t partition);
	void (*dropped)(void *ctx, int32_t partition);
	void *ctx;
};

struct kw_kafka_input_stats {
	uint64_t messages;   /* messages handed out */
	uint64_t bytes;	     /* decoded bytes handed out */
	uint64_t compressed; /* messages that were gzip or zstd batches */
	uint64_t damaged;    /* compressed messages that did not decode
				(the lines before the damage count) */
	uint64_t unkeyed;    /* messages without a key */
	uint64_t split_keys; /* keys seen on a second partition */
	uint64_t rebalances; /* assignments and revocations */
	uint64_t commits;    /* offset commits that succeeded */
	uint64_t commit_errors;
	uint64_t errors;   /* consumer errors (brokers down, ...) */
	uint32_t assigned; /* partitions owned now */
};

/* One owned partition, for the metrics. */
struct kw_kafka_partition_info {
	int32_t partition;
	int64_t offset; /* the next offset to hand out; -1: none yet */
	int64_t lag;	/* messages behind the partition's end as last
			   heard from its leader; -1: unknown */
};

struct kw_kafka_input;
struct rd_kafka_message_s;

/* The lines of a run of messages, in order, as kw_kafka_feed_fn's reader
 * hands them out: a plain message's payload as it is, a gzip or zstd one
 * decoded through the readers, a newline after a message that does not
 * end with one. A compressed message that does not decode is logged (a
 * warning naming NAME/PARTITION@OFFSET and what is wrong) and counted in
 * damaged; the lines before the damage are handed out, and reading goes
 * on with the next message. Set m, n and name (borrowed: they outlive
 * the reader), zero the rest, then kw_kafka_lines_reader; read the reader
 * to its end, then kw_kafka_lines_end (the reader itself is not closed
 * with kw_reader_close: it lives where the caller put it). */
struct kw_kafka_lines {
	struct rd_kafka_message_s *const *m;
	size_t n;
	const char *name;
	uint64_t bytes;	     /* handed out */
	uint64_t compressed; /* messages that were gzip or zstd */
	uint64_t damaged;    /* of them, those that did not decode */
	/* private */
	size_t i;	       /* the message being read */
	size_t pos;	       /* of its payload, when plain */
	struct kw_reader *sub; /* of it, when compressed */
	bool started;	       /* m[i] looked at */
	char last;	       /* the last byte handed out ('\n' at first) */
};

void kw_kafka_lines_reader(struct kw_kafka_lines *l, struct kw_reader *r);
void kw_kafka_lines_end(struct kw_kafka_lines *l);

/* Make the consumer (not in the group yet: kw_kafka_input_start). Errors
 * name the config's file and entry: a property librdkafka refuses, an
 * unset env: variable. *out is the caller's (kw_kafka_input_destroy). */
enum kw_status kw_kafka_input_create(const struct kw_kafka_input_opts *o,
				     struct kw_kafka_input **out,
				     struct kw_error *err);

/* Join the group and subscribe to the topic. */
enum kw_status kw_kafka_input_start(struct kw_kafka_input *in,
				    struct kw_error *err);

/* Serve the group (rebalances), then hand out what the owned partitions
 * hold, in time order, up to about KW_KAFKA_POLL_MAX bytes. Returns the
 * bytes fed. now_us is a monotonic clock. */
uint64_t kw_kafka_input_poll(struct kw_kafka_input *in, int64_t now_us);

/* Wait up to timeout_ms for a message or a group event. */
void kw_kafka_input_wait(struct kw_kafka_input *in, int timeout_ms);

/* Commit the offsets past what was handed out (sync: wait for the
 * brokers' answer, at most 10 s). A failure is logged and counted; the
 * next commit covers the same offsets. */
void kw_kafka_input_commit(struct kw_kafka_input *in, bool sync);

const struct kw_kafka_input_stats *
kw_kafka_input_stats(const struct kw_kafka_input *in);

/* Each owned partition. */
typedef void kw_kafka_partition_cb(void *ctx,
				   const struct kw_kafka_partition_info *pi);
void kw_kafka_input_foreach(struct kw_kafka_input *in,
			    kw_kafka_partition_cb *cb, void *ctx);

/* The input's name ("kafka:TOPIC"). */
const char *kw_kafka_input_name(const struct kw_kafka_input *in);

/* Leave the group (the owned partitions are committed after sync(), as
 * for a rebalance) and free. NULL-safe. */
void kw_kafka_input_destroy(struct kw_kafka_input *in);

#endif
