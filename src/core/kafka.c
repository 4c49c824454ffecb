/*
 * kafka.c - the configuration every Kafka client of keywatch is built from
 * (kafka.h): the config's properties checked, resolved and handed to
 * librdkafka in one order, librdkafka's messages in keywatch's log, and the
 * metadata of a topic.
 */
#include "core/kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/log.h"

/* ----------------------------------------------------- the config's shape */

bool kw_kafka_reserved(const char *prop)
{
	static const char *const reserved[] = {
		"bootstrap.servers",
		"metadata.broker.list",
		"group.id",
		"enable.auto.commit",
		"enable.auto.offset.store",
		"enable.partition.eof",
		"enable.idempotence",
		"transactional.id",
		NULL,
	};

	for (size_t i = 0; reserved[i]; i++) {
		if (!strcmp(prop, reserved[i]))
			return true;
	}
	return false;
}

bool kw_kafka_secret_prop(const char *prop)
{
	static const char *const words[] = {
		"password", "secret", "jaas", "oauthbearer.config",
		".pem",	    "token",  NULL,
	};

	for (size_t i = 0; words[i]; i++) {
		if (strstr(prop, words[i]))
			return true;
	}
	return false;
}

bool kw_kafka_value_text(const json_t *v, char *buf, size_t cap)
{
	if (json_is_string(v))
		snprintf(buf, cap, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, cap, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, cap, "%s", json_is_true(v) ? "true" : "false");
	else
		return false;
	return true;
}

bool kw_kafka_topic_ok(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > KW_KAFKA_TOPIC_MAX || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return false;
	for (const char *p = name; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		      *p == '-'))
			return false;
	}
	return true;
}

#if KW_HAVE_KAFKA
/* librdkafka's table of its properties (rd_kafka_conf_properties_show:
 * a header, then "NAME | C/P | ..." rows); NULL without memory. */
static char *props_text(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	rd_kafka_conf_properties_show(f);
	fclose(f);
	return text;
}

/* Every property librdkafka knows, from its table. names[] points into
 * *text; the caller frees both. */
static const char **all_props(char **text)
{
	const char **names = NULL;
	size_t n = 0, cap = 0;
	char *save = NULL;

	*text = props_text();
	if (!*text)
		return NULL;
	for (char *line = strtok_r(*text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *end = strchr(line, ' ');
		const char **grown;

		if (!end || end == line || !strchr(line, '.') ||
		    !strchr(end, '|'))
			continue;
		*end = '\0';
		if (n + 2 > cap) {
			cap = cap ? cap * 2 : 256;
			grown = realloc(names, cap * sizeof(*names));
			if (!grown)
				break;
			names = grown;
		}
		names[n++] = line;
		names[n] = NULL;
	}
	return names;
}

/* The clients a property is for, as librdkafka's table says: 'C'
 * (consumers), 'P' (producers), '*' (both); 0 when it has no row. */
static char prop_scope(const char *prop)
{
	char *text = props_text(), *save = NULL, scope = 0;
	size_t n = strlen(prop);

	if (!text)
		return 0;
	for (char *line = strtok_r(text, "\n", &save); line && !scope;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *bar;

		if (strncmp(line, prop, n) != 0 || line[n] != ' ')
			continue;
		bar = strchr(line + n, '|');
		while (bar && (*++bar == ' '))
			;
		if (bar && (*bar == 'C' || *bar == 'P' || *bar == '*'))
			scope = *bar;
	}
	free(text);
	return scope;
}

/* Whether a property of the config's objects is for a client of role. */
static bool for_role(const char *prop, enum kw_kafka_role role)
{
	char scope;

	if (role == KW_KAFKA_ANY)
		return true;
	scope = prop_scope(prop);
	return !(scope == 'C' && role == KW_KAFKA_PRODUCER) &&
	       !(scope == 'P' && role == KW_KAFKA_CONSUMER);
}

/* Whether librdkafka knows prop (a scratch configuration takes it, or
 * refuses only its value); with a suggestion in buf when it does not and
 * one is near. */
static bool known_prop(const char *prop, const char *value, const char **sugg,
		       char *buf, size_t cap)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char why[256], *text = NULL;
	const char **names;
	bool known;

	*sugg = NULL;
	known = rd_kafka_conf_set(conf, prop, value, why, sizeof(why)) !=
		RD_KAFKA_CONF_UNKNOWN;
	rd_kafka_conf_destroy(conf);
	if (known)
		return true;
	names = all_props(&text);
	if (names && kw_config_suggest(prop, names)) {
		snprintf(buf, cap, "%s", kw_config_suggest(prop, names));
		*sugg = buf;
	}
	free(names);
	free(text);
	return false;
}
#endif

enum kw_status kw_kafka_check_props(const json_t *props, const char *file,
				    const char *where, struct kw_error *err)
{
	const char *prop;
	json_t *v;
	char text[1024];

	if (!props)
		return KW_OK;
	if (!json_is_object(props))
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s: expected an object of librdkafka "
				    "properties",
				    file, where);
	json_object_foreach((json_t *)props, prop, v)
	{
		if (!kw_kafka_value_text(v, text, sizeof(text)))
			return kw_error_set(err, KW_ECONFIG,
					    "%s: %s.%s: expected a string, a "
					    "number or true/false",
					    file, where, prop);
		if (kw_kafka_reserved(prop))
			return kw_error_set(err, KW_ECONFIG,
					    "%s: %s.%s: set by keywatch itself "
					    "(the brokers, the group and how "
					    "offsets are committed come from "
					    "the input or sink)",
					    file, where, prop);
#if KW_HAVE_KAFKA
		{
			const char *sugg;
			char buf[128];

			if (!known_prop(prop, text, &sugg, buf, sizeof(buf)))
				return kw_error_set(
					err, KW_ECONFIG,
					"%s: %s: unknown librdkafka property "
					"'%s'%s%s%s",
					file, where, prop,
					sugg ? " (did you mean '" : "",
					sugg ? sugg : "", sugg ? "'?)" : "");
		}
#endif
	}
	return KW_OK;
}

#if KW_HAVE_KAFKA

/* ------------------------------------------------------------ the log */

/* librdkafka's syslog levels: 0-3 errors, 4 warnings, 5-6 notices and
 * information, 7 debug. Its errors are transient as a rule (a broker
 * down, a connection refused): they are warnings here, and keywatch says
 * what they mean for its work where it matters. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac,
		   const char *buf)
{
	(void)rk;
	if (level <= 4)
		kw_log_warn("kafka", "%s: %s", fac, buf);
	else if (level <= 6)
		kw_log_info("kafka", "%s: %s", fac, buf);
	else
		kw_log_debug("kafka", "%s: %s", fac, buf);
}

static void on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		kw_log_warn("kafka", "no broker can be reached: %s", reason);
	else if (code == RD_KAFKA_RESP_ERR__FATAL)
		kw_log_error("kafka", "fatal: %s", reason);
	else
		kw_log_debug("kafka", "%s: %s",
			     rd_kafka_err2name((rd_kafka_resp_err_t)code),
			     reason);
}

/* ------------------------------------------------------ configuration */

enum kw_status kw_kafka_set(rd_kafka_conf_t *conf, const char *prop,
			    const char *value, struct kw_error *err)
{
	char why[256];

	if (rd_kafka_conf_set(conf, prop, value, why, sizeof(why)) ==
	    RD_KAFKA_CONF_OK)
		return KW_OK;
	return kw_error_set(err, KW_ECONFIG, "librdkafka refuses %s: %s", prop,
			    why);
}

static void wipe(char *s)
{
	if (!s)
		return;
	for (volatile char *p = s; *p; p++)
		*p = '\0';
	free(s);
}

/* The properties of one "kafka" object onto conf, secrets resolved. */
static enum kw_status apply(rd_kafka_conf_t *conf, const json_t *props,
			    const struct kw_kafka_client *c, const char *obj,
			    struct kw_error *err)
{
	const char *prop;
	json_t *v;
	char text[1024], why[256];
	enum kw_status st;

	json_object_foreach((json_t *)props, prop, v)
	{
		char *value = NULL;
		rd_kafka_conf_res_t res;

		if (!kw_kafka_value_text(v, text, sizeof(text)))
			return kw_error_set(err, KW_ECONFIG,
					    "%s: %s.%s: expected a string, a "
					    "number or true/false",
					    c->file, obj, prop);
		if (kw_kafka_reserved(prop))
			return kw_error_set(err, KW_ECONFIG,
					    "%s: %s.%s: set by keywatch itself",
					    c->file, obj, prop);
		if (!for_role(prop, c->role))
			continue; /* the other kind of client's */
		st = kw_config_secret(text, &value, err);
		if (st == KW_ENOMEM)
			return kw_error_set(err, st, "out of memory");
		if (st != KW_OK)
			return kw_error_prefix(err, "%s: %s.%s", c->file, obj,
					       prop);
		res = rd_kafka_conf_set(conf, prop, value, why, sizeof(why));
		wipe(value);
		if (res != RD_KAFKA_CONF_OK) {
			/* librdkafka's reason may quote the value: only the
			 * property is named for a secret one. */
			if (kw_kafka_secret_prop(prop))
				snprintf(why, sizeof(why), "refused");
			return kw_error_set(err, KW_ECONFIG, "%s: %s.%s: %s",
					    c->file, obj, prop, why);
		}
	}
	return KW_OK;
}

enum kw_status kw_kafka_conf(const struct kw_kafka_client *c,
			     rd_kafka_conf_t **out, struct kw_error *err)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char obj[96];
	enum kw_status st;

	*out = NULL;
	if (!conf)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	rd_kafka_conf_set_log_cb(conf, on_log);
	rd_kafka_conf_set_error_cb(conf, on_error);
	st = kw_kafka_set(conf, "client.id", "keywatch", err);
	if (st == KW_OK)
		st = kw_kafka_set(conf, "log.connection.close", "false", err);
	for (size_t i = 0; st == KW_OK && c->defaults && c->defaults[i]; i += 2)
		st = kw_kafka_set(conf, c->defaults[i], c->defaults[i + 1],
				  err);
	if (st == KW_OK && c->brokers) {
		st = kw_kafka_set(conf, "bootstrap.servers", c->brokers, err);
		if (st != KW_OK)
			kw_error_prefix(err, "%s: %s.brokers", c->file,
					c->where);
	}
	if (st == KW_OK && c->top)
		st = apply(conf, c->top, c, "kafka", err);
	snprintf(obj, sizeof(obj), "%s.kafka", c->where);
	if (st == KW_OK && c->own)
		st = apply(conf, c->own, c, obj, err);
	if (st != KW_OK) {
		rd_kafka_conf_destroy(conf);
		return st;
	}
	*out = conf;
	return KW_OK;
}

enum kw_status kw_kafka_check_client(const struct kw_kafka_client *c,
				     struct kw_error *err)
{
	rd_kafka_conf_t *conf = NULL;
	enum kw_status st = kw_kafka_conf(c, &conf, err);

	if (conf)
		rd_kafka_conf_destroy(conf);
	return st;
}

/* ------------------------------------------------------------ metadata */

enum kw_status kw_kafka_topic_info(rd_kafka_t *rk, const char *topic,
				   int timeout_ms, int *partitions,
				   int *brokers, struct kw_error *err)
{
	const struct rd_kafka_metadata *md = NULL;
	const struct rd_kafka_metadata_topic *t = NULL;
	rd_kafka_resp_err_t e;
	enum kw_status st = KW_OK;

	*partitions = 0;
	*brokers = 0;
	/* Every topic is asked for: a request naming one would have a
	 * cluster that creates topics on demand create it. */
	e = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
	if (e)
		return kw_error_set(err, KW_EIO, "%s", rd_kafka_err2str(e));
	*brokers = md->broker_cnt;
	for (int i = 0; i < md->topic_cnt && !t; i++) {
		if (!strcmp(md->topics[i].topic, topic))
			t = &md->topics[i];
	}
	if (!t || t->err || t->partition_cnt == 0)
		st = kw_error_set(err, KW_ENOTFOUND,
				  "the brokers have no topic %s%s%s", topic,
				  t && t->err ? ": " : "",
				  t && t->err ? rd_kafka_err2str(t->err) : "");
	else
		*partitions = t->partition_cnt;
	rd_kafka_metadata_destroy(md);
	return st;
}

/* ------------------------------------------------------------- probing */

/* The group's state and members, as its coordinator tells. */
static void probe_group(rd_kafka_t *rk, const char *group, int timeout_ms,
			struct kw_kafka_probe *out)
{
	const struct rd_kafka_group_list *gl = NULL;
	rd_kafka_resp_err_t e;

	e = rd_kafka_list_groups(rk, group, &gl, timeout_ms);
	if (e || !gl) {
		snprintf(out->group_state, sizeof(out->group_state),
			 "unknown (%s)", rd_kafka_err2str(e));
		return;
	}
	if (gl->group_cnt == 1 && !gl->groups[0].err) {
		snprintf(out->group_state, sizeof(out->group_state), "%s",
			 gl->groups[0].state);
		out->members = gl->groups[0].member_cnt;
	} else {
		snprintf(out->group_state, sizeof(out->group_state), "%s",
			 gl->group_cnt == 1
				 ? rd_kafka_err2str(gl->groups[0].err)
				 : "unknown");
	}
	rd_kafka_group_list_destroy(gl);
}

/* The group's committed offsets and the partitions' ends: how many
 * partitions it committed and how far behind their ends it is. */
static void probe_lag(rd_kafka_t *rk, const char *topic, int partitions,
		      int timeout_ms, struct kw_kafka_probe *out)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(partitions);

	for (int i = 0; i < partitions; i++)
		rd_kafka_topic_partition_list_add(l, topic, i);
	if (rd_kafka_committed(rk, l, timeout_ms) == 0) {
		out->lag = 0;
		for (int i = 0; i < l->cnt; i++) {
			int64_t lo, hi, at = l->elems[i].offset;

			if (at < 0)
				continue;
			out->committed++;
			if (rd_kafka_query_watermark_offsets(
				    rk, topic, i, &lo, &hi, timeout_ms) == 0 &&
			    hi > at)
				out->lag += hi - at;
		}
	}
	rd_kafka_topic_partition_list_destroy(l);
}

enum kw_status kw_kafka_probe(const struct kw_kafka_client *c,
			      const char *topic, const char *group,
			      int timeout_ms, struct kw_kafka_probe *out,
			      struct kw_error *err)
{
	rd_kafka_conf_t *conf = NULL;
	rd_kafka_t *rk = NULL;
	char why[512];
	enum kw_status st;

	memset(out, 0, sizeof(*out));
	out->lag = -1;
	st = kw_kafka_conf(c, &conf, err);
	if (st == KW_OK && group)
		st = kw_kafka_set(conf, "group.id", group, err);
	if (st != KW_OK)
		goto cleanup;
	/* Refused connections are the answer here, not log noise. */
	kw_kafka_set(conf, "log_level", "0", err);
	rk = rd_kafka_new(group ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf,
			  why, sizeof(why));
	if (!rk) {
		st = kw_error_set(err, KW_ECONFIG, "%s: %s: %s", c->file,
				  c->where, why);
		goto cleanup;
	}
	conf = NULL;
	st = kw_kafka_topic_info(rk, topic, timeout_ms, &out->partitions,
				 &out->brokers, err);
	if (st == KW_EIO) {
		kw_error_prefix(err, "%s: cannot reach the brokers at %s",
				c->where, c->brokers);
		goto cleanup;
	}
	if (st != KW_OK) {
		kw_error_prefix(err, "%s", c->where);
		goto cleanup;
	}
	if (group) {
		probe_group(rk, group, timeout_ms, out);
		probe_lag(rk, topic, out->partitions, timeout_ms, out);
	}
cleanup:
	if (conf)
		rd_kafka_conf_destroy(conf);
	if (rk)
		rd_kafka_destroy(rk);
	return st;
}

/* ------------------------------------------------------------ rebalances */

void kw_kafka_partitions_text(const rd_kafka_topic_partition_list_t *l,
			      char *buf, size_t cap)
{
	size_t n = 0;
	char one[16];

	buf[0] = '\0';
	for (int i = 0; i < l->cnt; i++) {
		int k = snprintf(one, sizeof(one), "%s%" PRId32, i ? "," : "",
				 l->elems[i].partition);

		/* room for this one and, after it, ",..." */
		if (k < 0 || n + (size_t)k + 5 > cap) {
			if (n + 5 <= cap)
				memcpy(buf + n, ",...", 5);
			return;
		}
		memcpy(buf + n, one, (size_t)k + 1);
		n += (size_t)k;
	}
}

void kw_kafka_rebalance_apply(rd_kafka_t *rk, rd_kafka_resp_err_t e,
			      rd_kafka_topic_partition_list_t *l,
			      const char *name)
{
	/* Known once the group is joined; NULL once the consumer has left
	 * it (a revocation as it closes, the broker having dropped it:
	 * "Unknown member"). Then the incremental call is tried first (our
	 * consumers are cooperative-sticky: an eager unassign there leaves
	 * the close waiting for good), and the eager one when librdkafka
	 * refuses it. */
	const char *protocol = rd_kafka_rebalance_protocol(rk);
	bool cooperative = !protocol || !strcmp(protocol, "COOPERATIVE");
	bool add = e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
	rd_kafka_error_t *error = NULL;

	if (cooperative)
		error = add ? rd_kafka_incremental_assign(rk, l)
			    : rd_kafka_incremental_unassign(rk, l);
	if (!cooperative || (error && !protocol)) {
		if (error)
			rd_kafka_error_destroy(error);
		error = NULL;
		rd_kafka_assign(rk, add ? l : NULL);
	}
	if (error) {
		kw_log_warn("kafka", "%s: %s", name,
			    rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	}
}

/* ------------------------------------------------ leaving a consumer group */

/* The first librdkafka whose destroy takes a consumer between its join
 * and its first assignment (librdkafka issue 4312, fixed in 2.3.0). */
#define SETTLE_FIXED_IN 0x020300ff

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool has_member_id(rd_kafka_t *rk)
{
	char *id = rd_kafka_memberid(rk);
	bool joined = id && *id;

	if (id)
		rd_kafka_mem_free(rk, id);
	return joined;
}

/* How long an unsubscribed consumer is polled at least: what its group
 * had queued for it before is served in that time. */
#define UNSUBSCRIBE_QUIET_MS 300

/* Unsubscribe rk and serve its rebalances (its callback revokes what is
 * owned; an assignment is taken by no one) until nothing is assigned, by
 * until at most. A rebalance met while the consumer closes can leave
 * librdkafka before 2.4.0 waiting for ever, or abort it (an assignment
 * still being looked up as the group terminates): unsubscribed and
 * drained first, the close has none to meet (the workaround named in
 * librdkafka issue 4527). */
static void drain(rd_kafka_t *rk, const char *name, int64_t until)
{
	rd_kafka_resp_err_t e = rd_kafka_unsubscribe(rk);
	int64_t quiet = mono_ms() + UNSUBSCRIBE_QUIET_MS;

	if (e) {
		kw_log_warn("kafka", "%s: cannot unsubscribe: %s", name,
			    rd_kafka_err2str(e));
		return;
	}
	while (mono_ms() < until) {
		rd_kafka_topic_partition_list_t *a = NULL;
		rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 50);
		bool empty = false;

		/* Read after the stop: the next owner's to read. */
		if (msg)
			rd_kafka_message_destroy(msg);
		if (rd_kafka_assignment(rk, &a) == RD_KAFKA_RESP_ERR_NO_ERROR) {
			empty = a->cnt == 0;
			rd_kafka_topic_partition_list_destroy(a);
		}
		if (empty && mono_ms() >= quiet)
			return;
	}
}

/* rd_kafka_consumer_close by until: its rebalances (none once drained)
 * are served here, by m->rebalance. Whether the consumer closed. */
static bool close_bounded(rd_kafka_t *rk, struct kw_kafka_member *m,
			  const char *name, int64_t until)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_error_t *error = rd_kafka_consumer_close_queue(rk, q);
	bool closed = true;

	if (error) {
		/* Closed already, or a fatal error: nothing is waited for. */
		kw_log_warn("kafka", "%s: closing the consumer: %s", name,
			    rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	}
	while (!error && !rd_kafka_consumer_closed(rk)) {
		rd_kafka_event_t *ev;

		if (mono_ms() >= until) {
			kw_log_warn("kafka",
				    "%s: the consumer did not leave its group "
				    "within %d s; it is left to the exit, not "
				    "destroyed (what it did not commit is "
				    "read again by the partitions' next "
				    "owners)",
				    name, KW_KAFKA_CLOSE_MS / 1000);
			closed = false;
			break;
		}
		/* Messages still fetched are dropped: the next owner reads
		 * them. */
		ev = rd_kafka_queue_poll(q, 100);
		if (!ev)
			continue;
		if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE) {
			rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
			rd_kafka_topic_partition_list_t *l =
				rd_kafka_event_topic_partition_list(ev);

			if (m->rebalance)
				m->rebalance(rk, e, l, rd_kafka_opaque(rk));
			else
				kw_kafka_rebalance_apply(rk, e, l, name);
		}
		rd_kafka_event_destroy(ev);
	}
	rd_kafka_queue_destroy(q);
	return closed;
}

bool kw_kafka_consumer_leave(rd_kafka_t *rk, struct kw_kafka_member *m,
			     const char *name)
{
	bool fixed = rd_kafka_version() >= SETTLE_FIXED_IN;
	int64_t until;

	/* From here the callback serves assignments and takes nothing: what
	 * is assigned now (another member left as this one closes) is the
	 * next owner's to read, and taking it would wait on the brokers for
	 * its offsets and state. */
	m->closing = true;
	if (!fixed && !m->assigned && has_member_id(rk)) {
		int64_t settled = mono_ms() + KW_KAFKA_SETTLE_MS;

		while (!m->assigned && mono_ms() < settled) {
			rd_kafka_message_t *msg =
				rd_kafka_consumer_poll(rk, 100);

			if (msg)
				rd_kafka_message_destroy(msg);
		}
	}
	until = mono_ms() + KW_KAFKA_CLOSE_MS;
	if (m->subscribed)
		drain(rk, name, until);
	if (!close_bounded(rk, m, name, until))
		return false;
	if (fixed || m->assigned || !m->subscribed)
		return true;
	kw_log_warn("kafka",
		    "%s: left the group before its first assignment; the "
		    "consumer is left to the exit, not destroyed (librdkafka "
		    "%s would abort if its group had answered its join: "
		    "librdkafka issue 4312)",
		    name, rd_kafka_version_str());
	return false;
}

#endif
