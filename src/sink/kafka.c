/*
 * kafka.c - the Kafka sink: each alert is one message on a topic, keyed by
 * the alert's id, its value the alert's JSON line (doc/alerts.md), written
 * by an idempotent producer (acks from every in-sync replica, no duplicate
 * from librdkafka's own retries).
 *
 * The one idea: a delivery is answered only when the brokers answered.
 * deliver() produces the message and serves the producer until its
 * delivery report arrives; librdkafka gives up on a message after the
 * sink's "timeout" (message.timeout.ms), so the wait is bounded. A message
 * acknowledged is OK; one that failed for a reason a later attempt may not
 * have (brokers down, a leader moving, a timeout) is RETRY, and the core
 * spools and retries it like any sink's; one the brokers can never take
 * (too large, a record they refuse) is FAIL. A retried alert that had in
 * fact reached the brokers before its answer was lost is written again
 * under the same key: consumers (and a compacted topic) drop the repeat
 * by its id. A producer that hit a fatal error (the idempotence guarantee
 * broken) is replaced by a new one before the next delivery.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/kafka.h"
#include "core/log.h"
#include "sink/http.h"
#include "sink/sink.h"

static const struct kw_option kafka_options[] = {
	{"brokers", KW_OPT_STRING, NULL,
	 "bootstrap brokers, \"host:port,host:port\" (required)"},
	{"topic", KW_OPT_STRING, NULL,
	 "the topic alerts are written to, keyed by alert id (required)"},
	{"kafka", KW_OPT_OBJECT, NULL,
	 "librdkafka properties for this sink, over the top-level \"kafka\""},
	{"timeout", KW_OPT_DURATION, KW_HTTP_DEFAULT_TIMEOUT,
	 "give up on a delivery (and retry it later) after this long",
	 KW_SINK_TIMEOUT_MAX},
	{NULL, 0, NULL, NULL},
};

static const char *const destination[] = {"brokers", "topic", NULL};

struct kafka_sink {
	rd_kafka_conf_t *conf; /* a copy for a new producer after a fatal
				  error */
	rd_kafka_t *rk;
	char *topic, *brokers;
	int64_t timeout_ms;
	uint64_t seq;  /* the message waited for */
	bool answered; /* its report arrived */
	rd_kafka_resp_err_t result;
	int32_t partition;
	int64_t offset;
	char answer[256];
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The delivery report of one message: only the one deliver() waits for
 * counts (an older one, purged after its wait, is let go). */
static void on_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kafka_sink *s = opaque;

	(void)rk;
	if ((uint64_t)(uintptr_t)m->_private != s->seq)
		return;
	s->answered = true;
	s->result = m->err;
	s->partition = m->partition;
	s->offset = m->offset;
}

static enum kw_status new_producer(struct kafka_sink *s, struct kw_error *err)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_dup(s->conf);
	char why[512];

	if (!conf)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (!s->rk) {
		rd_kafka_conf_destroy(conf);
		return kw_error_set(err, KW_ECONFIG, "kafka producer: %s", why);
	}
	return KW_OK;
}

static void ka_destroy(void *self)
{
	struct kafka_sink *s = self;

	if (!s)
		return;
	if (s->rk) {
		/* Every delivery was waited for: nothing is left but
		 * reports of purged messages. */
		rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE |
					      RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_flush(s->rk, 1000);
		rd_kafka_destroy(s->rk);
	}
	if (s->conf)
		rd_kafka_conf_destroy(s->conf);
	free(s->topic);
	free(s->brokers);
	free(s);
}

static enum kw_status ka_create(const json_t *conf,
				const struct kw_sink_env *env, void **self,
				struct kw_error *err)
{
	const char *brokers =
		json_string_value(json_object_get(conf, "brokers"));
	const char *topic = json_string_value(json_object_get(conf, "topic"));
	const json_t *own = json_object_get(conf, "kafka");
	struct kafka_sink *s = NULL;
	char obj[64], ms[32];
	struct kw_kafka_client c = {
		.brokers = brokers,
		.top = env->kafka,
		.own = own,
		.file = env->file,
		.where = env->where,
		.role = KW_KAFKA_PRODUCER,
	};
	enum kw_status st;

	*self = NULL;
	if (!brokers || !brokers[0] || !topic || !topic[0])
		return kw_error_set(
			err, KW_ECONFIG, "%s: %s: a kafka sink needs '%s'",
			env->file, env->where,
			!brokers || !brokers[0] ? "brokers" : "topic");
	if (!kw_kafka_topic_ok(topic))
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s.topic: '%s' is not a topic name "
				    "(letters, digits, '.', '_', '-'; at most "
				    "%d)",
				    env->file, env->where, topic,
				    KW_KAFKA_TOPIC_MAX);
	snprintf(obj, sizeof(obj), "%s.kafka", env->where);
	st = kw_kafka_check_props(own, env->file, obj, err);
	if (st != KW_OK)
		return st;
	s = calloc(1, sizeof(*s));
	if (!s)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	s->timeout_ms = kw_sink_http_timeout(conf) / 1000;
	s->topic = strdup(topic);
	s->brokers = strdup(brokers);
	if (!s->topic || !s->brokers) {
		st = kw_error_set(err, KW_ENOMEM, "out of memory");
		goto cleanup;
	}
	snprintf(ms, sizeof(ms), "%" PRId64,
		 s->timeout_ms > 0 ? s->timeout_ms : 1);
	st = kw_kafka_conf(&c, &s->conf, err);
	if (st == KW_OK)
		st = kw_kafka_set(s->conf, "enable.idempotence", "true", err);
	if (st == KW_OK)
		st = kw_kafka_set(s->conf, "message.timeout.ms", ms, err);
	if (st == KW_OK)
		st = kw_kafka_set(s->conf, "linger.ms", "0", err);
	if (st != KW_OK)
		goto cleanup;
	rd_kafka_conf_set_opaque(s->conf, s);
	rd_kafka_conf_set_dr_msg_cb(s->conf, on_report);
	st = new_producer(s, err);
	if (st != KW_OK)
		kw_error_prefix(err, "%s: %s", env->file, env->where);
cleanup:
	if (st != KW_OK) {
		ka_destroy(s);
		return st;
	}
	*self = s;
	return KW_OK;
}

/* Whether the brokers can never take this message. */
static bool permanent(rd_kafka_resp_err_t e)
{
	switch (e) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR__INVALID_ARG:
		return true;
	default:
		return false;
	}
}

static enum kw_sink_result ka_deliver(void *self, const struct kw_alert *a,
				      const char *json, size_t len,
				      struct kw_error *err)
{
	struct kafka_sink *s = self;
	rd_kafka_resp_err_t e;
	int64_t deadline;

	if (!s->rk && new_producer(s, err) != KW_OK)
		return KW_SINK_RETRY;
	s->seq++;
	s->answered = false;
	e = rd_kafka_producev(s->rk, RD_KAFKA_V_TOPIC(s->topic),
			      RD_KAFKA_V_KEY(a->id, strlen(a->id)),
			      RD_KAFKA_V_VALUE((void *)json, len),
			      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			      RD_KAFKA_V_OPAQUE((void *)(uintptr_t)s->seq),
			      RD_KAFKA_V_END);
	if (e) {
		snprintf(s->answer, sizeof(s->answer), "not produced: %s",
			 rd_kafka_err2str(e));
		kw_error_set(err, KW_EIO, "%s", s->answer);
		return permanent(e) ? KW_SINK_FAIL : KW_SINK_RETRY;
	}
	/* librdkafka reports every message within message.timeout.ms; the
	 * margin covers a report that is late to be served. */
	deadline = mono_ms() + s->timeout_ms + 5000;
	while (!s->answered && mono_ms() < deadline)
		rd_kafka_poll(s->rk, 100);
	if (!s->answered) {
		rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE |
					      RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_poll(s->rk, 0);
	}
	if (!s->answered) {
		snprintf(s->answer, sizeof(s->answer),
			 "no answer from the brokers in %" PRId64 " ms",
			 s->timeout_ms);
		kw_error_set(err, KW_EIO, "%s", s->answer);
		return KW_SINK_RETRY;
	}
	if (!s->result) {
		snprintf(s->answer, sizeof(s->answer),
			 "%s partition %" PRId32 " offset %" PRId64, s->topic,
			 s->partition, s->offset);
		return KW_SINK_OK;
	}
	snprintf(s->answer, sizeof(s->answer), "%s",
		 rd_kafka_err2str(s->result));
	kw_error_set(err, KW_EIO, "%s: %s", s->topic, s->answer);
	if (rd_kafka_fatal_error(s->rk, NULL, 0)) {
		/* The idempotent producer cannot go on: a new one (a new
		 * producer id) takes the next delivery. */
		rd_kafka_destroy(s->rk);
		s->rk = NULL;
	}
	return permanent(s->result) ? KW_SINK_FAIL : KW_SINK_RETRY;
}

static void ka_describe(void *self, char *buf, size_t cap)
{
	struct kafka_sink *s = self;

	snprintf(buf, cap, "kafka topic %s at %s", s->topic, s->brokers);
}

static void ka_answer(void *self, char *buf, size_t cap)
{
	struct kafka_sink *s = self;

	snprintf(buf, cap, "%s", s->answer);
}

const struct kw_sink_ops kw_sink_kafka = {
	.name = "kafka",
	.options = kafka_options,
	.destination = destination,
	.create = ka_create,
	.deliver = ka_deliver,
	.destroy = ka_destroy,
	.describe = ka_describe,
	.answer = ka_answer,
};
