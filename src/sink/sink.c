/*
 * sink.c - the sink registry, the options every sink shares, and the
 * defaults for the optional slots of struct kw_sink_ops.
 */
#include "sink/sink.h"

#include "kw_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/glob.h"
#include "core/json_dump.h"
#include "core/key.h"
#include "core/time.h"

static const struct kw_sink_ops *const registry[] = {
	&kw_sink_stdout,     /* stdout.c */
	&kw_sink_file,	     /* file.c */
	&kw_sink_webhook,    /* webhook.c */
	&kw_sink_slack,	     /* slack.c */
	&kw_sink_discord,    /* discord.c */
	&kw_sink_teams,	     /* teams.c */
	&kw_sink_mattermost, /* mattermost.c */
	&kw_sink_pagerduty,  /* pagerduty.c */
	&kw_sink_syslog,     /* syslog.c */
	&kw_sink_exec,	     /* exec.c */
#if KW_HAVE_KAFKA
	&kw_sink_kafka, /* kafka.c */
#endif
	NULL,
};

static const struct kw_option common_options[] = {
	{"type", KW_OPT_STRING, NULL, "the kind of sink"},
	{"name", KW_OPT_STRING, NULL,
	 "a name for the sink, unique in the config (letters, digits, '-', "
	 "'_', '.'; at most 40): its spool and rate-limit window are kept "
	 "under it, so they follow the sink when sinks are reordered or its "
	 "destination changes"},
	{"min_severity", KW_OPT_SEVERITY, "info", "drop alerts below this"},
	{"detectors", KW_OPT_STRINGS, NULL,
	 "only these detectors (globs: \"geo.*\")"},
	{"rate_limit", KW_OPT_STRING, NULL,
	 "at most N alerts per duration of event time (\"10/1m\"); the rest "
	 "arrive as one digest alert per window"},
	{"incidents", KW_OPT_BOOL, NULL,
	 "true: incidents (opened, updated, closed) instead of every alert; "
	 "default true for chat and paging sinks, false for the others"},
	{NULL, 0, NULL, NULL},
};

bool kw_sink_rate_parse(const char *s, uint32_t *max, int64_t *per)
{
	char *end;
	unsigned long n;
	int64_t max_per;

	if (!s || s[0] < '0' || s[0] > '9')
		return false;
	n = strtoul(s, &end, 10);
	if (*end != '/' || n == 0 || n > KW_SINK_RATE_MAX ||
	    !kw_duration_parse(end + 1, per) ||
	    !kw_duration_parse(KW_SINK_RATE_PER_MAX, &max_per) ||
	    *per > max_per)
		return false;
	*max = (uint32_t)n;
	return true;
}

const struct kw_sink_ops *kw_sink_find(const char *type)
{
	for (size_t i = 0; registry[i]; i++) {
		if (!strcmp(registry[i]->name, type))
			return registry[i];
	}
	return NULL;
}

const struct kw_sink_ops *const *kw_sink_all(void)
{
	return registry;
}

static enum kw_status unknown_type(const char *type, const char *file,
				   const char *where, struct kw_error *err)
{
	const char *names[16];
	char known[256] = "";
	size_t n = 0;
	const char *s;

	for (size_t i = 0; registry[i] && n < 15; i++) {
		names[n++] = registry[i]->name;
		snprintf(known + strlen(known), sizeof(known) - strlen(known),
			 "%s%s", i ? ", " : "", registry[i]->name);
	}
	names[n] = NULL;
	if (!strcmp(type, "kafka"))
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s: a kafka sink, but this keywatch "
				    "was built without Kafka (librdkafka)",
				    file, where);
	s = kw_config_suggest(type, names);
	return kw_error_set(
		err, KW_ECONFIG,
		"%s: %s.type: unknown sink type '%s'%s%s%s (known: %s)", file,
		where, type, s ? " (did you mean '" : "", s ? s : "",
		s ? "'?)" : "", known);
}

/* A name that is a safe file name stem: letters, digits, '-', '_' and
 * '.', not starting with '.', at most KW_SINK_NAME_MAX characters. */
#define KW_SINK_NAME_MAX 40

static bool name_ok(const char *n)
{
	size_t len = strlen(n);

	if (!len || len > KW_SINK_NAME_MAX || n[0] == '.')
		return false;
	for (; *n; n++) {
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || *n == '-' || *n == '_' ||
		      *n == '.'))
			return false;
	}
	return true;
}

/* "<type>-<12 hex>": a SHA-256 over the type and the destination options
 * as written (compact JSON, keys sorted), so the secret an "env:NAME"
 * names never enters it, and a URL written in the config is not
 * recoverable from a file name. */
static enum kw_status unnamed_id(const struct kw_sink_ops *ops,
				 const json_t *conf, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	char tail[13];
	bool ok;

	if (!ops->destination) {
		snprintf(out, cap, "%s", ops->name);
		return KW_OK;
	}
	ctx = kw_sha256_begin();
	ok = ctx &&
	     EVP_DigestUpdate(ctx, ops->name, strlen(ops->name) + 1) == 1;
	for (size_t i = 0; ok && ops->destination[i]; i++) {
		const json_t *v = json_object_get(conf, ops->destination[i]);
		char *text = v ? kw_json_dump(v, JSON_COMPACT | JSON_SORT_KEYS |
							 JSON_ENCODE_ANY)
			       : NULL;

		/* A destination that could not be written out would give
		 * another identity (and another spool): out of memory. */
		ok = (!v || text) &&
		     EVP_DigestUpdate(ctx, ops->destination[i],
				      strlen(ops->destination[i]) + 1) == 1 &&
		     EVP_DigestUpdate(ctx, text ? text : "",
				      text ? strlen(text) + 1 : 1) == 1;
		free(text);
	}
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen >= 6;
	if (!ok)
		return KW_ENOMEM;
	for (int i = 0; i < 6; i++) {
		tail[2 * i] = hex[md[i] >> 4];
		tail[2 * i + 1] = hex[md[i] & 15];
	}
	tail[12] = '\0';
	snprintf(out, cap, "%s-%s", ops->name, tail);
	return KW_OK;
}

static enum kw_status set_id(struct kw_sink *s, const json_t *conf,
			     const char *file, struct kw_error *err)
{
	const json_t *v = json_object_get(conf, "name");

	if (!v)
		return unnamed_id(s->ops, conf, s->id, sizeof(s->id)) == KW_OK
			       ? KW_OK
			       : kw_error_set(err, KW_ENOMEM, "out of memory");
	if (!name_ok(json_string_value(v)))
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s.name: '%s' is not a name: at most "
				    "%d letters, digits, '-', '_' or '.', not "
				    "starting with '.'",
				    file, s->where, json_string_value(v),
				    KW_SINK_NAME_MAX);
	snprintf(s->id, sizeof(s->id), "%s", json_string_value(v));
	s->named = true;
	return KW_OK;
}

enum kw_status kw_sink_check_distinct(const struct kw_sink *a,
				      const struct kw_sink *b, const char *file,
				      struct kw_error *err)
{
	if (strcmp(a->id, b->id) != 0)
		return KW_OK;
	if (a->named && b->named)
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s.name: '%s' is the name of %s too",
				    file, b->where, b->id, a->where);
	return kw_error_set(err, KW_ECONFIG,
			    "%s: %s and %s are both %s sinks to the same "
			    "destination: give each a \"name\" (its spool and "
			    "rate limit are kept under it)",
			    file, a->where, b->where, a->ops->name);
}

enum kw_status kw_sink_create(const json_t *conf, size_t i,
			      const struct kw_sink_env *env,
			      struct kw_sink **out, struct kw_error *err)
{
	struct kw_option table[48];
	struct kw_sink_env e = *env;
	struct kw_sink *s = NULL;
	const struct kw_sink_ops *ops;
	const json_t *v;
	char where[32];
	size_t t = 0;
	enum kw_status st;

	*out = NULL;
	snprintf(where, sizeof(where), "sinks[%zu]", i);
	e.where = where;
	v = json_object_get(conf, "type");
	if (!json_is_string(v))
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s: 'type' is required (a string such "
				    "as \"stdout\" or \"file\")",
				    env->file, where);
	ops = kw_sink_find(json_string_value(v));
	if (!ops)
		return unknown_type(json_string_value(v), env->file, where,
				    err);
	for (size_t j = 0; common_options[j].name; j++)
		table[t++] = common_options[j];
	for (size_t j = 0; ops->options && ops->options[j].name && t < 47; j++)
		table[t++] = ops->options[j];
	table[t] = (struct kw_option){NULL, 0, NULL, NULL};
	st = kw_config_check_object(conf, table, env->file, where, err);
	if (st != KW_OK)
		return st;
	s = calloc(1, sizeof(*s));
	if (!s)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	s->ops = ops;
	snprintf(s->name, sizeof(s->name), "%s (%s)", ops->name, where);
	snprintf(s->where, sizeof(s->where), "%s", where);
	st = set_id(s, conf, env->file, err);
	if (st != KW_OK)
		goto cleanup;
	if ((v = json_object_get(conf, "min_severity")))
		kw_severity_parse(json_string_value(v), &s->min_severity);
	v = json_object_get(conf, "incidents");
	s->incidents = v ? json_is_true(v) : ops->for_people;
	if ((v = json_object_get(conf, "rate_limit")) &&
	    !kw_sink_rate_parse(json_string_value(v), &s->rate.max,
				&s->rate.per)) {
		st = kw_error_set(err, KW_ECONFIG,
				  "%s: %s.rate_limit: expected N/DURATION such "
				  "as \"10/1m\" (N at most %d, DURATION at "
				  "most %s)",
				  env->file, where, KW_SINK_RATE_MAX,
				  KW_SINK_RATE_PER_MAX);
		goto cleanup;
	}
	if ((v = json_object_get(conf, "detectors"))) {
		size_t n = json_array_size(v);

		s->detectors = calloc(n + 1, sizeof(char *));
		if (!s->detectors) {
			st = kw_error_set(err, KW_ENOMEM, "out of memory");
			goto cleanup;
		}
		for (size_t j = 0; j < n; j++) {
			s->detectors[j] =
				strdup(json_string_value(json_array_get(v, j)));
			if (!s->detectors[j]) {
				st = kw_error_set(err, KW_ENOMEM,
						  "out of memory");
				goto cleanup;
			}
		}
	}
	st = ops->create(conf, &e, &s->self, err);
cleanup:
	if (st != KW_OK) {
		kw_sink_destroy(s);
		return st;
	}
	*out = s;
	return KW_OK;
}

static bool wants_detector(const struct kw_sink *s, const char *detector)
{
	if (!s->detectors)
		return true;
	for (size_t i = 0; s->detectors[i]; i++) {
		if (kw_glob_match(s->detectors[i], detector, strlen(detector)))
			return true;
	}
	return false;
}

bool kw_sink_wants(const struct kw_sink *s, const struct kw_alert *a)
{
	const char *name;
	json_t *n;

	if (a->severity < s->min_severity)
		return false;
	if (wants_detector(s, a->detector))
		return true;
	json_object_foreach(json_object_get(a->update, "detectors"), name, n)
	{
		if (wants_detector(s, name))
			return true;
	}
	return false;
}

enum kw_sink_result kw_sink_deliver(struct kw_sink *s, const struct kw_alert *a,
				    const char *json, size_t len,
				    struct kw_error *err)
{
	enum kw_sink_result r;
	struct kw_alert trees;

	/* A sink that reads the trees gets them: the router's queues make
	 * them (kw_alert_copy), an alert handed over directly may be flat. */
	if (!s->ops->flat && a->flat.on) {
		kw_alert_copy(&trees, a);
		r = s->ops->deliver(s->self, &trees, json, len, err);
		kw_alert_clear(&trees);
	} else {
		r = s->ops->deliver(s->self, a, json, len, err);
	}
	if (r == KW_SINK_OK)
		s->delivered++;
	else
		s->failed++;
	return r;
}

enum kw_sink_result kw_sink_flush(struct kw_sink *s, struct kw_error *err)
{
	return s->ops->flush ? s->ops->flush(s->self, err) : KW_SINK_OK;
}

void kw_sink_describe(struct kw_sink *s, char *buf, size_t cap)
{
	if (s->ops->describe)
		s->ops->describe(s->self, buf, cap);
	else
		snprintf(buf, cap, "%s", s->ops->name);
}

int64_t kw_sink_retry_after(struct kw_sink *s)
{
	return s->ops->retry_after ? s->ops->retry_after(s->self) : 0;
}

void kw_sink_answer(struct kw_sink *s, char *buf, size_t cap)
{
	if (cap)
		buf[0] = '\0';
	if (s->ops->answer)
		s->ops->answer(s->self, buf, cap);
}

void kw_sink_destroy(struct kw_sink *s)
{
	if (!s)
		return;
	if (s->ops && s->ops->destroy)
		s->ops->destroy(s->self);
	for (size_t i = 0; s->detectors && s->detectors[i]; i++)
		free(s->detectors[i]);
	free(s->detectors);
	free(s);
}
