/*
 * kafka.h - what keywatch's Kafka clients share (the input, the changelog,
 * the sink, `check`): the librdkafka properties of the config and how they
 * become one client's configuration, librdkafka's messages in keywatch's
 * log, and a look at a topic.
 *
 * The one idea: a client's configuration is built in one place, in one
 * order: the client's defaults (kw_kafka_client.defaults), bootstrap.servers
 * from the entry's "brokers", then the top-level
 * "kafka" object, then the entry's own "kafka" object (so one entry can
 * differ), then what keywatch itself needs and the user may not change
 * (kw_kafka_reserved: the group, offset commits, idempotence). Any value
 * may be "env:NAME", "file:PATH" or "cred:NAME" (core/config.h,
 * kw_config_secret); a resolved value is handed to librdkafka and wiped,
 * and no message ever holds one: errors name the property, never its
 * value, and `check` shows a secret property as written in the config
 * (kw_kafka_secret_prop), never resolved.
 *
 * The parts that need librdkafka exist only in a build with it
 * (KW_HAVE_KAFKA); the checks of the config's shape do not, so a config is
 * judged the same way by every build, and a build without Kafka refuses a
 * Kafka input or sink with a message that says so.
 */
#ifndef KW_CORE_KAFKA_H
#define KW_CORE_KAFKA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kw_config.h"

#include "core/status.h"

#if KW_HAVE_KAFKA
#include <librdkafka/rdkafka.h>
#endif

/* Whether this build can speak to Kafka. */
static inline bool kw_kafka_available(void)
{
	return KW_HAVE_KAFKA;
}

/* Properties keywatch sets itself (and refuses in the config): the
 * brokers come from "brokers", the group from "group", offsets are
 * committed by keywatch when what they cover is safe, the sink and the
 * changelog are idempotent producers. */
bool kw_kafka_reserved(const char *prop);

/* Whether a property's value is a secret: never printed (passwords, keys,
 * tokens, SASL JAAS and OAUTHBEARER settings, PEM text). */
bool kw_kafka_secret_prop(const char *prop);

/* Check a "kafka" object of librdkafka properties (where: "kafka",
 * "inputs[0].kafka", "sinks[2].kafka"): an object whose values are
 * strings, integers, reals or booleans, no reserved property, and, in a
 * build with librdkafka, only properties librdkafka knows ("did you mean"
 * otherwise). Values are not resolved here (an "env:" variable may be set
 * only where keywatch runs). KW_ECONFIG with
 * "FILE: WHERE.PROP: ..." otherwise. NULL is an empty object. */
enum kw_status kw_kafka_check_props(const json_t *props, const char *file,
				    const char *where, struct kw_error *err);

/* A property's value as librdkafka takes it (a string; numbers in
 * decimal, booleans as true/false), as written in the config: an "env:"
 * reference is not resolved. buf gets it (cap bytes); false when the JSON
 * value is of no such type. */
bool kw_kafka_value_text(const json_t *v, char *buf, size_t cap);

/* The longest topic name Kafka takes, and its characters: letters,
 * digits, '.', '_' and '-'. */
#define KW_KAFKA_TOPIC_MAX 249
bool kw_kafka_topic_ok(const char *name);

#if KW_HAVE_KAFKA

/* What a client is: the properties librdkafka gives to the other kind
 * only are not applied to it (librdkafka would warn about each, CONFWARN,
 * and ignore it). */
enum kw_kafka_role {
	KW_KAFKA_ANY,	   /* every property */
	KW_KAFKA_CONSUMER, /* not the producers' ("P" in its table) */
	KW_KAFKA_PRODUCER, /* not the consumers' ("C") */
};

/* One client of the config. Everything borrowed for the call. */
struct kw_kafka_client {
	const char *brokers; /* "host:port,host:port" */
	const json_t *top;   /* the config's "kafka", or NULL */
	const json_t *own;   /* the entry's "kafka", or NULL */
	const char *file;    /* the config, for messages */
	const char *where;   /* "inputs[0]", "sinks[1]" */
	/* keywatch's defaults for this client, which the config may change:
	 * name, value, name, value, ..., NULL; or NULL. */
	const char *const *defaults;
	/* The config's objects are shared by an input's consumer and the
	 * producer of its changelog, and by every client of the top-level
	 * object: each takes the properties for its kind. */
	enum kw_kafka_role role;
};

/* A new configuration for c (the caller owns it: rd_kafka_new takes it, or
 * rd_kafka_conf_destroy). Secrets are resolved; an unset variable, a
 * missing file or a value librdkafka refuses is KW_ECONFIG naming
 * "FILE: WHERE.kafka.PROP" and the reason, never the value. librdkafka's
 * log goes to keywatch's (component "kafka"), its warnings and errors as
 * warnings. */
enum kw_status kw_kafka_conf(const struct kw_kafka_client *c,
			     rd_kafka_conf_t **out, struct kw_error *err);

/* Whether c's configuration can be built (kw_kafka_conf, then thrown
 * away): `watch -n` and `check` find an unset variable or a refused value
 * before a consumer or producer is made. */
enum kw_status kw_kafka_check_client(const struct kw_kafka_client *c,
				     struct kw_error *err);

/* Set one property keywatch needs on conf; KW_ECONFIG naming it when
 * librdkafka refuses. */
enum kw_status kw_kafka_set(rd_kafka_conf_t *conf, const char *prop,
			    const char *value, struct kw_error *err);

/* What `check` found at a client's brokers (kw_kafka_probe). */
struct kw_kafka_probe {
	int brokers;	      /* in the cluster */
	int partitions;	      /* of the topic */
	char group_state[64]; /* "Stable", "Empty", ...; "" without a group */
	int members;	      /* of the group */
	int committed;	      /* partitions the group committed an offset of */
	int64_t lag; /* messages past the group's commits; -1: unknown */
};

/* Ask c's brokers (within timeout_ms per question) about topic and, when
 * group is set, the consumer group: its state and members, its committed
 * offsets and how far behind the partitions' ends they are. KW_EIO when
 * the brokers cannot be reached ("WHERE: cannot reach the brokers at
 * BROKERS: REASON"), KW_ENOTFOUND for a topic they do not have ("WHERE:
 * the brokers have no topic T..."), KW_ECONFIG for a configuration they
 * would not even be asked with. */
enum kw_status kw_kafka_probe(const struct kw_kafka_client *c,
			      const char *topic, const char *group,
			      int timeout_ms, struct kw_kafka_probe *out,
			      struct kw_error *err);

/* The partitions of l for a message, "7,6,5" in l's order, in buf
 * (cap at least 8); a list too long for buf ends in ",...". */
void kw_kafka_partitions_text(const rd_kafka_topic_partition_list_t *l,
			      char *buf, size_t cap);

/* The end of a rebalance callback of consumer rk (name for messages):
 * the partitions of l added to its assignment (e
 * RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) or taken from it, incrementally
 * under the cooperative protocol, the whole assignment under the eager
 * one; when the protocol is not known (a consumer no longer in its group),
 * incrementally, or the eager way if librdkafka refuses that. librdkafka's
 * refusal is logged as a warning. */
void kw_kafka_rebalance_apply(rd_kafka_t *rk, rd_kafka_resp_err_t e,
			      rd_kafka_topic_partition_list_t *l,
			      const char *name);

/* How long a consumer that joined its group is polled for its first
 * assignment before it leaves (kw_kafka_consumer_leave). */
#define KW_KAFKA_SETTLE_MS 10000

/* How long kw_kafka_consumer_leave waits for a consumer to close. */
#define KW_KAFKA_CLOSE_MS 20000

/* A consumer that subscribed to a group, as its owner tells
 * kw_kafka_consumer_leave about it: its rebalance callback sets assigned
 * at every assignment (empty ones too), and once closing is set (by
 * kw_kafka_consumer_leave, for good) it takes nothing it is assigned
 * (librdkafka still needs its assign call). */
struct kw_kafka_member {
	bool subscribed; /* its owner's rd_kafka_subscribe succeeded */
	bool assigned;
	bool closing;
	/* The rebalance callback its configuration names: served by
	 * kw_kafka_consumer_leave while the consumer closes. */
	void (*rebalance)(rd_kafka_t *rk, rd_kafka_resp_err_t e,
			  rd_kafka_topic_partition_list_t *l, void *opaque);
};

/* Leave the group of consumer rk (its owner's m, name for messages): the
 * consumer is unsubscribed, polled until m->rebalance has revoked what it
 * owns, and closed, all within KW_KAFKA_CLOSE_MS. Whether rk may then be
 * destroyed (rd_kafka_destroy, the caller's).
 *
 * librdkafka before 2.4.0 mishandles a rebalance met inside
 * rd_kafka_consumer_close under the cooperative protocol (another member
 * leaving at the same time): the close can wait for ever, or abort on an
 * assignment still being looked up (librdkafka issues 4527 and 4883).
 * Unsubscribed and drained first, the close meets none; and it is bounded
 * besides: a consumer not closed in time is left to the process's exit,
 * with a warning naming name (rd_kafka_destroy would wait for the same
 * close).
 *
 * librdkafka before 2.3.0 (Debian 12 ships 2.0.2) aborts in
 * rd_kafka_destroy when a cooperative-sticky consumer is destroyed after
 * its JoinGroup answer and before its first assignment: the assignor's
 * state is made at the first assignment and destroyed unchecked
 * (librdkafka issue 4312). So a consumer with no assignment yet that has
 * joined (it has a member id) is polled for its first one, for up to
 * KW_KAFKA_SETTLE_MS; one that subscribed and still has had none must be
 * left to the process's exit, not destroyed (false, with a warning naming
 * name): whether its group answered its join cannot be asked once it has
 * left (its group's queue is disabled by then). */
bool kw_kafka_consumer_leave(rd_kafka_t *rk, struct kw_kafka_member *m,
			     const char *name);

/* What a topic looks like, asked of the brokers within timeout_ms (never
 * creating it):
 * *partitions (0 when it does not exist) and the number of brokers in the
 * cluster. KW_ENOTFOUND for a topic the brokers do not know, KW_EIO when
 * they could not be asked (err says why). */
enum kw_status kw_kafka_topic_info(rd_kafka_t *rk, const char *topic,
				   int timeout_ms, int *partitions,
				   int *brokers, struct kw_error *err);

#endif

#endif
