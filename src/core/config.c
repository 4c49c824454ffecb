/*
 * config.c - loading the JSON config and checking it against the option
 * tables below. Checking is two steps: kw_config_check_object() rejects
 * unknown keys and wrong types for one object using its table (so the
 * error can suggest the nearest key), then the typed values are copied into
 * struct kw_config. Detector and sink sections are only checked for shape
 * here; their registries check their options with the same function.
 */
#include "core/config.h"

#include <sched.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alert.h"
#include "core/file.h"
#include "core/glob.h"
#include "core/kafka.h"
#include "core/key.h"
#include "core/log.h"
#include "core/time.h"

/* The models loaded when the config names none: each costs a few
 * milliseconds at start and nothing per event of another API. */
static const char *const default_models[] = {"stripe", "aws", "gcp", "github"};
#define NDEFAULT_MODELS (sizeof(default_models) / sizeof(default_models[0]))

const struct kw_option kw_config_top_options[] = {
	{"models", KW_OPT_STRINGS, "[\"stripe\", \"aws\", \"gcp\", \"github\"]",
	 "API models to load by name (models/<name>.json)"},
	{"geoip", KW_OPT_STRINGS, NULL,
	 "MaxMind DB files (city/country, ASN, anonymous IP)"},
	{"inputs", KW_OPT_ARRAY, NULL,
	 "log files to follow (watch): path glob, format, map"},
	{"state_dir", KW_OPT_STRING, NULL,
	 "where watch keeps offsets and learned state"},
	{"learn", KW_OPT_DURATION, "72h",
	 "learning period per key, in event time", KW_LEARN_LIMIT},
	{"keys", KW_OPT_ARRAY, NULL,
	 "what is known about keys: names, permissions, allowlists, expiry, "
	 "decoys"},
	{"detectors", KW_OPT_OBJECT, NULL,
	 "per-detector options: {\"rate.spike\": {\"window\": \"1m\"}}"},
	{"suppress", KW_OPT_ARRAY, NULL,
	 "alerts that are expected: detector, key glob, subject, until, "
	 "reason, owner"},
	{"sinks", KW_OPT_ARRAY, "[{\"type\": \"stdout\"}]", "where alerts go"},
	{"map", KW_OPT_OBJECT, NULL,
	 "log field mapping for every input: {\"api_key\": "
	 "\"headers.x-api-key\"}"},
	{"max_keys", KW_OPT_INT, "1000000",
	 "keys tracked at once; the least recently seen is evicted past it",
	 KW_STR(KW_MAX_KEYS_LIMIT)},
	{"threads", KW_OPT_INT, "0",
	 "threads that analyse the logs (-j); 0: one per core. The results "
	 "are the same whatever the number",
	 KW_STR(KW_THREADS_LIMIT)},
	{"max_line", KW_OPT_INT, "1048576",
	 "longest line or record read, in bytes; longer ones are skipped",
	 KW_STR(KW_MAX_LINE_LIMIT)},
	{"dedup_window", KW_OPT_DURATION, "1h",
	 "the same alert id within this event time is delivered once", "365d"},
	{"lateness", KW_OPT_DURATION, NULL,
	 "how long after newer events an event still counts in its window "
	 "(default: 2m for request logs, 15m once CloudTrail is read)",
	 "1d"},
	{"max_open_inputs", KW_OPT_INT, "256",
	 "scan: inputs read at once to merge them in event-time order",
	 KW_STR(KW_MAX_OPEN_INPUTS_LIMIT)},
	{"geo_publishable", KW_OPT_BOOL, "false",
	 "apply the geo.new_* detectors to publishable keys too"},
	{"trusted_accounts", KW_OPT_STRINGS, NULL,
	 "AWS account ids (12 digits) whose sharing and trust is routine"},
	{"spool_dir", KW_OPT_STRING, NULL,
	 "where undelivered alerts wait, one file per sink (default: "
	 "<state_dir>/spool; none without a state_dir)"},
	{"spool_max", KW_OPT_INT, "67108864",
	 "bytes one sink's spool may grow to", "1099511627776"},
	{"drain_timeout", KW_OPT_DURATION, "30s",
	 "how long scan waits for the sinks before it exits", "1d"},
	{"retry_initial", KW_OPT_NUMBER, "1",
	 "seconds before the first retry of a failed delivery", "86400"},
	{"retry_max", KW_OPT_NUMBER, "300",
	 "the longest wait between retries, in seconds", "86400"},
	{"checkpoint_interval", KW_OPT_DURATION, "10s",
	 "how often watch saves offsets, learned state and recent alert ids",
	 "1d"},
	{"metrics", KW_OPT_OBJECT, NULL,
	 "watch: an HTTP listener for Prometheus metrics and /healthz: "
	 "{\"listen\": \"127.0.0.1:9187\"}"},
	{"links", KW_OPT_OBJECT, NULL,
	 "where a person sees one request: {\"request\": "
	 "\"https://gw.example.com/logs/{request_id}\"} (over the models' "
	 "links)"},
	{"incidents", KW_OPT_OBJECT, NULL,
	 "how alerts on one key are grouped into incidents for the sinks "
	 "meant for people: close_after, digest, digest_max, max_open"},
	{"kafka", KW_OPT_OBJECT, NULL,
	 "librdkafka properties for every Kafka input and sink "
	 "(security.protocol, sasl.*, ssl.*; secrets as \"env:NAME\", "
	 "\"file:PATH\" or \"cred:NAME\")"},
	{NULL, 0, NULL, NULL},
};

const struct kw_option kw_config_links_options[] = {
	{"request", KW_OPT_STRING, NULL,
	 "URL template of one request: {request_id}, and {region} for "
	 "CloudTrail"},
	{NULL, 0, NULL, NULL},
};

const struct kw_option kw_config_incident_options[] = {
	{"enabled", KW_OPT_BOOL, "true",
	 "false: every sink gets every alert, as machines do"},
	{"close_after", KW_OPT_DURATION, "1h",
	 "an incident closes when no alert joined it for this long (event "
	 "time)",
	 "30d"},
	{"digest", KW_OPT_DURATION, "1h",
	 "alerts that join an open incident are told at most once per this "
	 "interval (a rise in severity at once)",
	 "30d"},
	{"digest_max", KW_OPT_DURATION, "24h",
	 "the digest interval doubles after each digest, up to this", "30d"},
	{"max_open", KW_OPT_INT, "4096",
	 "incidents open at once; past it the quietest closes early",
	 "1000000"},
	{NULL, 0, NULL, NULL},
};

const struct kw_option kw_config_metrics_options[] = {
	{"listen", KW_OPT_STRING, NULL,
	 "ADDRESS:PORT to serve /metrics and /healthz on (off when unset; "
	 "give a loopback address unless other hosts must scrape it)"},
	{NULL, 0, NULL, NULL},
};

const struct kw_option kw_config_key_options[] = {
	{"match", KW_OPT_STRING, NULL,
	 "glob over the key as written in the log: \"rk_live_*a1b2\""},
	{"name", KW_OPT_STRING, NULL, "a name shown in alerts"},
	{"permissions", KW_OPT_OBJECT, NULL,
	 "resource -> none/read/write; unlisted resources are none"},
	{"allow_ips", KW_OPT_STRINGS, NULL, "CIDR allowlist (IPv4 and IPv6)"},
	{"allow_countries", KW_OPT_STRINGS, NULL, "ISO country codes allowed"},
	{"expires", KW_OPT_TIME, NULL,
	 "the key was rolled: any use after this time alerts"},
	{"honey", KW_OPT_BOOL, "false", "a decoy: any use alerts"},
	{"runbook_url", KW_OPT_STRING, NULL,
	 "what to do when this key alerts: a link in every message about it"},
	{NULL, 0, NULL, NULL},
};

const struct kw_option kw_config_suppress_options[] = {
	{"detector", KW_OPT_STRING, NULL, "detector name"},
	{"key", KW_OPT_STRING, NULL,
	 "glob over the redacted key id: \"sk_live_*4242\""},
	{"country", KW_OPT_STRING, NULL, "subject: country"},
	{"ip", KW_OPT_STRING, NULL, "subject: IP address"},
	{"network", KW_OPT_STRING, NULL, "subject: network (ASN)"},
	{"op", KW_OPT_STRING, NULL, "subject: operation"},
	{"counter", KW_OPT_STRING, NULL, "subject: a model's counter"},
	{"principal", KW_OPT_STRING, NULL,
	 "subject: an AWS principal's label (123456789012:role/ci)"},
	{"match", KW_OPT_STRING, NULL, "subject: a model's matcher"},
	{"until", KW_OPT_TIME, NULL, "stops applying after this time"},
	{"reason", KW_OPT_STRING, NULL, "why this is expected"},
	{"owner", KW_OPT_STRING, NULL, "who to ask"},
	{NULL, 0, NULL, NULL},
};

const struct kw_option kw_config_input_options[] = {
	{"type", KW_OPT_STRING, "file", "file or kafka"},
	{"path", KW_OPT_STRING, NULL, "file: a file or glob"},
	{"format", KW_OPT_STRING, "auto",
	 "auto, keywatch, cloudtrail, gcp-audit, github-audit"},
	{"map", KW_OPT_OBJECT, NULL, "field mapping for this input"},
	{"brokers", KW_OPT_STRING, NULL,
	 "kafka: bootstrap brokers, \"host:port,host:port\""},
	{"topic", KW_OPT_STRING, NULL,
	 "kafka: the topic of requests, one per message, keyed by API key"},
	{"group", KW_OPT_STRING, NULL,
	 "kafka: the consumer group every instance of one deployment joins"},
	{"kafka", KW_OPT_OBJECT, NULL,
	 "kafka: librdkafka properties for this input, over the top-level "
	 "\"kafka\""},
	{"changelog", KW_OPT_STRING, "TOPIC" KW_CHANGELOG_SUFFIX,
	 "kafka: the compacted topic each partition's state moves in; \"\": "
	 "none"},
	{"repartition", KW_OPT_STRING, "TOPIC" KW_REPARTITION_SUFFIX,
	 "kafka: the topic auth.failures counts source IPs through, over "
	 "every partition; \"\": on each instance alone"},
	{NULL, 0, NULL, NULL},
};

/* ---------------------------------------------------------------- checks */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			if (up + 1 < best)
				best = up + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *kw_config_suggest(const char *word, const char *const *names)
{
	const char *best = NULL;
	size_t best_d = 3;

	for (size_t i = 0; names[i]; i++) {
		size_t d = edit_distance(word, names[i]);
		size_t wl = strlen(word);

		if (wl >= 3 && !strncmp(word, names[i], wl) && d > 1)
			d = 2;
		if (d < best_d) {
			best_d = d;
			best = names[i];
		}
	}
	return best;
}

static const char *type_hint(enum kw_opt_type t)
{
	switch (t) {
	case KW_OPT_STRING:
	case KW_OPT_SECRET:
		return "a string";
	case KW_OPT_BOOL:
		return "true or false";
	case KW_OPT_INT:
		return "a non-negative integer";
	case KW_OPT_NUMBER:
		return "a number";
	case KW_OPT_DURATION:
		return "a duration such as \"15m\", \"72h\" or \"7d\"";
	case KW_OPT_TIME:
		return "an RFC 3339 time such as \"2026-11-01T00:00:00Z\"";
	case KW_OPT_SEVERITY:
		return "one of info, low, medium, high, critical";
	case KW_OPT_STRINGS:
		return "an array of strings";
	case KW_OPT_OBJECT:
		return "an object";
	case KW_OPT_ARRAY:
		return "an array";
	}
	return "a value";
}

static bool type_ok(const json_t *v, enum kw_opt_type t)
{
	int64_t us;
	enum kw_severity sev;
	size_t i;
	json_t *e;

	switch (t) {
	case KW_OPT_STRING:
	case KW_OPT_SECRET:
		return json_is_string(v);
	case KW_OPT_BOOL:
		return json_is_boolean(v);
	case KW_OPT_INT:
		return json_is_integer(v) && json_integer_value(v) >= 0;
	case KW_OPT_NUMBER:
		return json_is_number(v);
	case KW_OPT_DURATION:
		return json_is_string(v) &&
		       kw_duration_parse(json_string_value(v), &us);
	case KW_OPT_TIME:
		return json_is_string(v) &&
		       kw_time_parse(json_string_value(v),
				     json_string_length(v), &us);
	case KW_OPT_SEVERITY:
		return json_is_string(v) &&
		       kw_severity_parse(json_string_value(v), &sev);
	case KW_OPT_STRINGS:
		if (!json_is_array(v))
			return false;
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e))
				return false;
		}
		return true;
	case KW_OPT_OBJECT:
		return json_is_object(v);
	case KW_OPT_ARRAY:
		return json_is_array(v);
	}
	return false;
}

/* The maximum of o in the unit values are compared in (microseconds for
 * a duration); false when o has none. */
static bool max_of(const struct kw_option *o, double *max)
{
	int64_t us;

	if (!o->max)
		return false;
	if (o->type == KW_OPT_DURATION) {
		if (!kw_duration_parse(o->max, &us))
			return false;
		*max = (double)us;
		return true;
	}
	*max = strtod(o->max, NULL);
	return true;
}

bool kw_option_within_max(const struct kw_option *o, double v)
{
	double max;

	return !max_of(o, &max) || v <= max;
}

static bool value_within_max(const json_t *v, const struct kw_option *o)
{
	int64_t us;

	switch (o->type) {
	case KW_OPT_INT:
	case KW_OPT_NUMBER:
		return kw_option_within_max(o, json_number_value(v));
	case KW_OPT_DURATION:
		return !kw_duration_parse(json_string_value(v), &us) ||
		       kw_option_within_max(o, (double)us);
	default:
		return true;
	}
}

const struct kw_option *kw_config_top_option(const char *name)
{
	for (size_t i = 0; kw_config_top_options[i].name; i++) {
		if (!strcmp(kw_config_top_options[i].name, name))
			return &kw_config_top_options[i];
	}
	return NULL;
}

enum kw_status kw_config_check_object(const json_t *obj,
				      const struct kw_option *opts,
				      const char *file, const char *where,
				      struct kw_error *err)
{
	const char *names[64];
	const char *k;
	const char *sugg;
	json_t *v;
	size_t n = 0;

	if (!json_is_object(obj))
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s: expected an object", file, where);
	for (n = 0; opts[n].name && n < 63; n++)
		names[n] = opts[n].name;
	names[n] = NULL;
	json_object_foreach((json_t *)obj, k, v)
	{
		const struct kw_option *o = NULL;

		for (size_t i = 0; opts[i].name; i++) {
			if (!strcmp(opts[i].name, k)) {
				o = &opts[i];
				break;
			}
		}
		if (!o) {
			sugg = kw_config_suggest(k, names);
			if (sugg)
				return kw_error_set(err, KW_ECONFIG,
						    "%s: %s%sunknown key '%s' "
						    "(did you mean '%s'?)",
						    file, where,
						    where[0] ? ": " : "", k,
						    sugg);
			return kw_error_set(err, KW_ECONFIG,
					    "%s: %s%sunknown key '%s'", file,
					    where, where[0] ? ": " : "", k);
		}
		if (!type_ok(v, o->type))
			return kw_error_set(err, KW_ECONFIG,
					    "%s: %s%s%s: expected %s", file,
					    where, where[0] ? "." : "", k,
					    type_hint(o->type));
		if (!value_within_max(v, o))
			return kw_error_set(
				err, KW_ECONFIG, "%s: %s%s%s: at most %s", file,
				where, where[0] ? "." : "", k, o->max);
	}
	return KW_OK;
}

/* The contents of the secret file path, its trailing newline removed, into
 * *out. Messages start with what ("secret file ", "credential NAME: ")
 * and name the path (core/file.h reads it: special files refused). */
static enum kw_status secret_file(const char *path, const char *what,
				  char **out, struct kw_error *err)
{
	struct kw_error ferr;
	enum kw_status st;
	char *buf = NULL;
	size_t n = 0;

	kw_error_clear(&ferr);
	st = kw_file_read_all(path, KW_SECRET_FILE_MAX, &buf, &n, &ferr);
	if (st == KW_ENOMEM)
		return st;
	if (st != KW_OK)
		return kw_error_set(err, KW_ECONFIG, "%s%s", what, ferr.msg);
	if (n && buf[n - 1] == '\n')
		n--;
	if (n && buf[n - 1] == '\r')
		n--;
	if (memchr(buf, '\0', n))
		st = kw_error_set(err, KW_ECONFIG, "%s%s: holds a NUL byte",
				  what, path);
	else if (n == 0)
		st = kw_error_set(err, KW_ECONFIG, "%s%s: empty", what, path);
	buf[n] = '\0';
	if (st == KW_OK) {
		*out = buf;
		return KW_OK;
	}
	/* volatile: the wipe must not be optimised away. */
	for (volatile char *p = buf; p < buf + n; p++)
		*p = '\0';
	free(buf);
	return st;
}

/* "cred:NAME": $CREDENTIALS_DIRECTORY/NAME. */
static enum kw_status secret_cred(const char *name, char **out,
				  struct kw_error *err)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	char what[300], path[4096];

	snprintf(what, sizeof(what), "credential %s: ", name);
	if (!name[0] || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return kw_error_set(err, KW_ECONFIG,
				    "%sexpected the name of a credential "
				    "(no '/')",
				    what);
	if (!dir || !dir[0])
		return kw_error_set(err, KW_ECONFIG,
				    "%s$CREDENTIALS_DIRECTORY is not set "
				    "(systemd sets it for a unit with "
				    "LoadCredential=)",
				    what);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return kw_error_set(err, KW_ECONFIG, "%spath too long", what);
	return secret_file(path, what, out, err);
}

enum kw_status kw_config_secret(const char *value, char **out,
				struct kw_error *err)
{
	const char *env;

	*out = NULL;
	if (!strncmp(value, "file:", 5))
		return secret_file(value + 5, "secret file ", out, err);
	if (!strncmp(value, "cred:", 5))
		return secret_cred(value + 5, out, err);
	if (strncmp(value, "env:", 4) != 0) {
		*out = strdup(value);
		return *out ? KW_OK : KW_ENOMEM;
	}
	env = getenv(value + 4);
	if (!env || !env[0])
		return kw_error_set(err, KW_ECONFIG,
				    "environment variable %s is not set",
				    value + 4);
	*out = strdup(env);
	return *out ? KW_OK : KW_ENOMEM;
}

/* ----------------------------------------------------------------- CIDRs */

bool kw_cidr_parse(const char *s, struct kw_cidr *out)
{
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long bits;
	char *end;
	unsigned max;

	memset(out, 0, sizeof(*out));
	if (!kw_ip_parse(&out->net, s, alen))
		return false;
	max = out->net.family == 4 ? 32 : 128;
	if (slash) {
		if (slash[1] < '0' || slash[1] > '9')
			return false;
		bits = strtoul(slash + 1, &end, 10);
		if (*end || bits > max)
			return false;
	} else {
		bits = max;
	}
	out->bits = (uint8_t)bits;
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = bits >= (i + 1) * 8 ? 8
				: bits > i * 8	    ? bits - i * 8
						    : 0;

		out->net.addr[i] &= (uint8_t)(0xff00u >> keep);
	}
	return true;
}

bool kw_cidr_contains(const struct kw_cidr *c, const struct kw_ip *ip)
{
	unsigned full = c->bits / 8, rest = c->bits % 8;

	if (ip->family != c->net.family)
		return false;
	if (memcmp(ip->addr, c->net.addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return (ip->addr[full] & (uint8_t)(0xff00u >> rest)) ==
	       c->net.addr[full];
}

/* --------------------------------------------------------------- loading */

/* A copy of a string value into *out; false when out of memory. */
static bool dup_str(const json_t *v, char **out)
{
	*out = strdup(json_string_value(v));
	return *out != NULL;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

/* Whether the word w[0..n) holds what looks like a whole API key anywhere
 * in it, run into other text or not: a Stripe-style mode ("_live_",
 * "_test_") after two lowercase letters of a prefix and followed by 16 or
 * more key characters, or an AWS access key id (AKIA/ASIA and 16 capitals
 * or digits). */
static bool holds_key(const char *w, size_t n)
{
	for (size_t i = 2; i + 6 + 16 <= n; i++) {
		if (strncmp(w + i, "_live_", 6) && strncmp(w + i, "_test_", 6))
			continue;
		if (w[i - 1] >= 'a' && w[i - 1] <= 'z' && w[i - 2] >= 'a' &&
		    w[i - 2] <= 'z')
			return true;
	}
	for (size_t i = 0; i + 20 <= n; i++) {
		size_t j = i + 4;

		if (strncmp(w + i, "AKIA", 4) && strncmp(w + i, "ASIA", 4))
			continue;
		while (j < i + 20 && ((w[j] >= 'A' && w[j] <= 'Z') ||
				      (w[j] >= '0' && w[j] <= '9')))
			j++;
		if (j == i + 20)
			return true;
	}
	return false;
}

/* A key's name is shown in every alert about it: a word of it (a run of
 * letters, digits and '_') that holds a whole key (another key of the log,
 * pasted by mistake) is shown as the word's redacted id instead, with a
 * warning. The id of such a word is never longer than the word, so the
 * name never grows. */
static enum kw_status safe_name(const struct kw_config *c, const char *where,
				char **name)
{
	const char *in = *name;
	size_t n = strlen(in), o = 0;
	char *out = NULL;

	for (size_t i = 0, j; i < n; i = j) {
		char id[KW_KEY_ID_MAX];
		size_t idn;

		for (j = i; j < n && name_char(in[j]); j++)
			;
		if (j == i || !holds_key(in + i, j - i)) {
			if (j == i)
				j++;
			if (out)
				memcpy(out + o, in + i, j - i);
			o += j - i;
			continue;
		}
		if (!out) {
			out = malloc(n + 1);
			if (!out)
				return KW_ENOMEM;
			memcpy(out, in, o);
		}
		kw_key_redact(in + i, j - i, id, sizeof(id));
		idn = strlen(id);
		if (idn > j - i) /* cannot happen (see above); never grow */
			idn = 0;
		kw_log_warn(NULL,
			    "%s: %s.name holds what looks like a whole key "
			    "(shown as %s); the name is shown in alerts, so "
			    "it is shown redacted",
			    c->file, where, id);
		memcpy(out + o, id, idn);
		o += idn;
	}
	if (!out)
		return KW_OK;
	out[o] = '\0';
	free(*name);
	*name = out;
	return KW_OK;
}

static enum kw_status dup_strings(const json_t *arr, char ***out, size_t *n)
{
	size_t i;
	json_t *e;

	*n = 0;
	*out = calloc(json_array_size(arr) + 1, sizeof(char *));
	if (!*out)
		return KW_ENOMEM;
	json_array_foreach(arr, i, e)
	{
		if (!dup_str(e, &(*out)[i]))
			return KW_ENOMEM;
		*n = i + 1;
	}
	return KW_OK;
}

/* The byte a key must end with to match g, or -1 when any may (a
 * trailing '*'; a match as short as "" only matches the empty key, which
 * kw_config_key looks up among these). */
static int last_byte(const struct kw_glob *g)
{
	if (!g->len || (g->head < g->len && !g->tail))
		return -1;
	return (unsigned char)g->pattern[g->len - 1];
}

_Static_assert(
	KW_CONFIG_FILE_MAX <= UINT32_MAX,
	"a config has fewer keys than bytes: a key's place fits 32 bits");

/* key_last, key_at and key_any of c's keys (config.h). */
static enum kw_status index_keys(struct kw_config *c)
{
	uint32_t fill[256];

	c->key_last = malloc(c->nkeys * sizeof(*c->key_last));
	c->key_any = malloc(c->nkeys * sizeof(*c->key_any));
	if (!c->key_last || !c->key_any)
		return KW_ENOMEM;
	memset(c->key_at, 0, sizeof(c->key_at));
	for (size_t i = 0; i < c->nkeys; i++) {
		int b = last_byte(&c->keys[i].glob);

		if (b >= 0)
			c->key_at[b + 1]++;
	}
	for (int b = 0; b < 256; b++) {
		c->key_at[b + 1] += c->key_at[b];
		fill[b] = c->key_at[b];
	}
	c->nkey_any = 0;
	for (size_t i = 0; i < c->nkeys; i++) {
		int b = last_byte(&c->keys[i].glob);

		if (b >= 0)
			c->key_last[fill[b]++] = (uint32_t)i;
		else
			c->key_any[c->nkey_any++] = (uint32_t)i;
	}
	return KW_OK;
}

static enum kw_status load_key(struct kw_config *c, const json_t *o, size_t idx,
			       struct kw_keyconf *k, struct kw_error *err)
{
	char where[64];
	const json_t *v;
	const char *res;
	json_t *acc;
	size_t i;
	enum kw_status st;

	snprintf(where, sizeof(where), "keys[%zu]", idx);
	st = kw_config_check_object(o, kw_config_key_options, c->file, where,
				    err);
	if (st != KW_OK)
		return st;
	k->index = idx;
	v = json_object_get(o, "match");
	if (!v || !json_string_length(v))
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s: 'match' is required (a glob such "
				    "as \"sk_live_*4242\")",
				    c->file, where);
	if (!dup_str(v, &k->match))
		return KW_ENOMEM;
	kw_glob_compile(&k->glob, k->match);
	if ((v = json_object_get(o, "name")) && !dup_str(v, &k->name))
		return KW_ENOMEM;
	if (k->name && (st = safe_name(c, where, &k->name)) != KW_OK)
		return st;
	if ((v = json_object_get(o, "permissions"))) {
		k->has_perms = true;
		k->perms = calloc(json_object_size(v) + 1, sizeof(*k->perms));
		if (!k->perms)
			return KW_ENOMEM;
		json_object_foreach((json_t *)v, res, acc)
		{
			enum kw_access a =
				json_is_string(acc)
					? kw_access_parse(
						  json_string_value(acc))
					: KW_ACCESS_UNKNOWN;

			if (a == KW_ACCESS_UNKNOWN)
				return kw_error_set(
					err, KW_ECONFIG,
					"%s: %s.permissions.%s: expected "
					"\"none\", \"read\" or \"write\"",
					c->file, where, res);
			k->perms[k->nperms].resource = strdup(res);
			if (!k->perms[k->nperms].resource)
				return KW_ENOMEM;
			k->perms[k->nperms].access = a;
			k->nperms++;
		}
	}
	if ((v = json_object_get(o, "allow_ips"))) {
		k->allow_ips =
			calloc(json_array_size(v) + 1, sizeof(*k->allow_ips));
		if (!k->allow_ips)
			return KW_ENOMEM;
		for (i = 0; i < json_array_size(v); i++) {
			const char *s = json_string_value(json_array_get(v, i));

			if (!kw_cidr_parse(s, &k->allow_ips[i]))
				return kw_error_set(
					err, KW_ECONFIG,
					"%s: %s.allow_ips[%zu]: '%s' is not an "
					"address or CIDR network",
					c->file, where, i, s);
			k->nallow_ips++;
		}
	}
	if ((v = json_object_get(o, "allow_countries"))) {
		k->allow_countries = calloc(json_array_size(v) + 1, 3);
		if (!k->allow_countries)
			return KW_ENOMEM;
		for (i = 0; i < json_array_size(v); i++) {
			const char *s = json_string_value(json_array_get(v, i));

			if (strlen(s) != 2 || s[0] < 'A' || s[0] > 'Z' ||
			    s[1] < 'A' || s[1] > 'Z')
				return kw_error_set(
					err, KW_ECONFIG,
					"%s: %s.allow_countries[%zu]: '%s' is "
					"not a two-letter country code such as "
					"\"US\"",
					c->file, where, i, s);
			memcpy(k->allow_countries[i], s, 3);
			k->nallow_countries++;
		}
	}
	if ((v = json_object_get(o, "expires"))) {
		k->has_expires = true;
		kw_time_parse(json_string_value(v), json_string_length(v),
			      &k->expires);
	}
	if ((v = json_object_get(o, "honey")))
		k->honey = json_is_true(v);
	if ((v = json_object_get(o, "runbook_url"))) {
		if (strncmp(json_string_value(v), "https://", 8) &&
		    strncmp(json_string_value(v), "http://", 7))
			return kw_error_set(err, KW_ECONFIG,
					    "%s: %s.runbook_url: expected an "
					    "http:// or https:// URL",
					    c->file, where);
		if (!dup_str(v, &k->runbook_url))
			return KW_ENOMEM;
	}
	return KW_OK;
}

static enum kw_status load_suppress(struct kw_config *c, const json_t *o,
				    size_t idx, struct kw_suppress *s,
				    struct kw_error *err)
{
	static const char *const subject[] = {"country", "ip",	    "network",
					      "op",	 "counter", "principal",
					      "match",	 NULL};
	static const char *const strings[] = {"detector", "key", "reason",
					      "owner"};
	char **copies[] = {&s->detector, &s->key, &s->reason, &s->owner};
	char where[64];
	const json_t *v;
	enum kw_status st;

	snprintf(where, sizeof(where), "suppress[%zu]", idx);
	st = kw_config_check_object(o, kw_config_suppress_options, c->file,
				    where, err);
	if (st != KW_OK)
		return st;
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		v = json_object_get(o, strings[i]);
		if (v && !dup_str(v, copies[i]))
			return KW_ENOMEM;
	}
	if ((v = json_object_get(o, "until"))) {
		s->has_until = true;
		kw_time_parse(json_string_value(v), json_string_length(v),
			      &s->until);
	}
	s->subject = json_object();
	if (!s->subject)
		return KW_ENOMEM;
	for (size_t i = 0; subject[i]; i++) {
		if ((v = json_object_get(o, subject[i])) &&
		    json_object_set(s->subject, subject[i], (json_t *)v) != 0)
			return KW_ENOMEM;
	}
	if (!s->detector && !s->key && !json_object_size(s->subject))
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s: a suppression needs at least a "
				    "detector, a key or a subject",
				    c->file, where);
	return KW_OK;
}

/* The keys that belong to one type of input only. */
static const char *const file_only[] = {"path", NULL};
static const char *const kafka_only[] = {
	"brokers", "topic", "group", "kafka", "changelog", "repartition", NULL};

static enum kw_status not_for(const struct kw_config *c, const json_t *o,
			      const char *where, const char *const *keys,
			      const char *type, struct kw_error *err)
{
	for (size_t i = 0; keys[i]; i++) {
		if (json_object_get(o, keys[i]))
			return kw_error_set(err, KW_ECONFIG,
					    "%s: %s.%s: not for an input of "
					    "type '%s'",
					    c->file, where, keys[i], type);
	}
	return KW_OK;
}

static enum kw_status load_kafka_input(struct kw_config *c, const json_t *o,
				       const char *where, struct kw_input *in,
				       struct kw_error *err)
{
	static const char *const required[] = {"brokers", "topic", "group",
					       NULL};
	char obj[96];
	const json_t *v;
	enum kw_status st;

	in->type = KW_INPUT_KAFKA;
	for (size_t i = 0; required[i]; i++) {
		v = json_object_get(o, required[i]);
		if (!v || !json_string_value(v)[0])
			return kw_error_set(err, KW_ECONFIG,
					    "%s: %s: a kafka input needs '%s'",
					    c->file, where, required[i]);
	}
	if (!dup_str(json_object_get(o, "brokers"), &in->brokers) ||
	    !dup_str(json_object_get(o, "topic"), &in->topic) ||
	    !dup_str(json_object_get(o, "group"), &in->group))
		return KW_ENOMEM;
	if (!kw_kafka_topic_ok(in->topic))
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s.topic: '%s' is not a topic name "
				    "(letters, digits, '.', '_', '-'; at "
				    "most %d)",
				    c->file, where, in->topic,
				    KW_KAFKA_TOPIC_MAX);
	v = json_object_get(o, "changelog");
	if (!v) {
		if (asprintf(&in->changelog, "%s" KW_CHANGELOG_SUFFIX,
			     in->topic) < 0) {
			in->changelog = NULL;
			return KW_ENOMEM;
		}
	} else if (json_string_value(v)[0] && !dup_str(v, &in->changelog)) {
		return KW_ENOMEM;
	}
	if (in->changelog && !kw_kafka_topic_ok(in->changelog))
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s.changelog: '%s' is not a topic "
				    "name (letters, digits, '.', '_', '-'; at "
				    "most %d)%s",
				    c->file, where, in->changelog,
				    KW_KAFKA_TOPIC_MAX,
				    v ? "" : "; name one in \"changelog\"");
	v = json_object_get(o, "repartition");
	if (!v) {
		if (asprintf(&in->repartition, "%s" KW_REPARTITION_SUFFIX,
			     in->topic) < 0) {
			in->repartition = NULL;
			return KW_ENOMEM;
		}
	} else if (json_string_value(v)[0] && !dup_str(v, &in->repartition)) {
		return KW_ENOMEM;
	}
	if (in->repartition && !kw_kafka_topic_ok(in->repartition))
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s.repartition: '%s' is not a topic "
				    "name (letters, digits, '.', '_', '-'; at "
				    "most %d)%s",
				    c->file, where, in->repartition,
				    KW_KAFKA_TOPIC_MAX,
				    v ? "" : "; name one in \"repartition\"");
	/* The name the engine and its messages know the input by. */
	if (asprintf(&in->path, "kafka:%s", in->topic) < 0) {
		in->path = NULL;
		return KW_ENOMEM;
	}
	snprintf(obj, sizeof(obj), "%s.kafka", where);
	v = json_object_get(o, "kafka");
	st = kw_kafka_check_props(v, c->file, obj, err);
	if (st == KW_OK && v)
		in->kafka = json_incref((json_t *)v);
	return st;
}

static enum kw_status load_input(struct kw_config *c, const json_t *o,
				 size_t idx, struct kw_input *in,
				 struct kw_error *err)
{
	char where[64];
	const json_t *v;
	const char *type = "file";
	enum kw_status st;

	snprintf(where, sizeof(where), "inputs[%zu]", idx);
	st = kw_config_check_object(o, kw_config_input_options, c->file, where,
				    err);
	if (st != KW_OK)
		return st;
	if ((v = json_object_get(o, "type")))
		type = json_string_value(v);
	if (strcmp(type, "file") && strcmp(type, "kafka"))
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s.type: unknown input type '%s' "
				    "(types: file, kafka)",
				    c->file, where, type);
	if ((v = json_object_get(o, "format")) && !dup_str(v, &in->format))
		return KW_ENOMEM;
	if ((v = json_object_get(o, "map")))
		in->map = json_incref((json_t *)v);
	if (!strcmp(type, "kafka")) {
		st = not_for(c, o, where, file_only, type, err);
		return st == KW_OK ? load_kafka_input(c, o, where, in, err)
				   : st;
	}
	st = not_for(c, o, where, kafka_only, type, err);
	if (st != KW_OK)
		return st;
	v = json_object_get(o, "path");
	if (!v)
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s: 'path' is required", c->file,
				    where);
	if (!dup_str(v, &in->path))
		return KW_ENOMEM;
	return KW_OK;
}

static enum kw_status check_array_of_objects(const struct kw_config *c,
					     const json_t *arr,
					     const char *name,
					     struct kw_error *err)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e)
	{
		if (!json_is_object(e))
			return kw_error_set(err, KW_ECONFIG,
					    "%s: %s[%zu]: expected an object",
					    c->file, name, i);
	}
	return KW_OK;
}

static enum kw_status load_delivery(struct kw_config *c, const json_t *root,
				    struct kw_error *err)
{
	const json_t *v;
	int64_t us;

	if ((v = json_object_get(root, "spool_dir")) &&
	    !dup_str(v, &c->spool_dir))
		return KW_ENOMEM;
	if ((v = json_object_get(root, "spool_max")))
		c->spool_max = (size_t)json_integer_value(v);
	if ((v = json_object_get(root, "drain_timeout"))) {
		kw_duration_parse(json_string_value(v), &us);
		c->drain_timeout = us;
	}
	if ((v = json_object_get(root, "retry_initial")))
		c->retry_initial = json_number_value(v);
	if ((v = json_object_get(root, "retry_max")))
		c->retry_max = json_number_value(v);
	if (c->spool_max < 4096)
		return kw_error_set(err, KW_ECONFIG,
				    "%s: spool_max must be at least 4096",
				    c->file);
	if (!(c->retry_initial >= 0.01 && c->retry_initial <= 86400) ||
	    !(c->retry_max >= c->retry_initial && c->retry_max <= 86400))
		return kw_error_set(err, KW_ECONFIG,
				    "%s: retry_initial must be between 0.01 "
				    "and 86400 seconds, and retry_max between "
				    "retry_initial and 86400",
				    c->file);
	return KW_OK;
}

static enum kw_status load_watch(struct kw_config *c, const json_t *root,
				 struct kw_error *err)
{
	const json_t *v;
	enum kw_status st;
	int64_t us;

	if ((v = json_object_get(root, "checkpoint_interval"))) {
		kw_duration_parse(json_string_value(v), &us);
		if (us < 1000000)
			return kw_error_set(err, KW_ECONFIG,
					    "%s: checkpoint_interval must be "
					    "at least 1s",
					    c->file);
		c->checkpoint_interval = us;
	}
	v = json_object_get(root, "metrics");
	if (!v)
		return KW_OK;
	st = kw_config_check_object(v, kw_config_metrics_options, c->file,
				    "metrics", err);
	if (st != KW_OK)
		return st;
	if ((v = json_object_get(v, "listen")) &&
	    !dup_str(v, &c->metrics_listen))
		return KW_ENOMEM;
	return KW_OK;
}

static enum kw_status load_incidents(struct kw_config *c, const json_t *root,
				     struct kw_error *err)
{
	struct kw_incident_conf *ic = &c->incidents;
	const json_t *o = json_object_get(root, "incidents");
	const json_t *v;
	enum kw_status st;

	if (!o)
		return KW_OK;
	st = kw_config_check_object(o, kw_config_incident_options, c->file,
				    "incidents", err);
	if (st != KW_OK)
		return st;
	if ((v = json_object_get(o, "enabled")))
		ic->enabled = json_is_true(v);
	if ((v = json_object_get(o, "close_after")))
		kw_duration_parse(json_string_value(v), &ic->close_after);
	if ((v = json_object_get(o, "digest")))
		kw_duration_parse(json_string_value(v), &ic->digest);
	if ((v = json_object_get(o, "digest_max")))
		kw_duration_parse(json_string_value(v), &ic->digest_max);
	if ((v = json_object_get(o, "max_open")))
		ic->max_open = (size_t)json_integer_value(v);
	if (ic->close_after < 1000000 || ic->digest < 1000000)
		return kw_error_set(
			err, KW_ECONFIG,
			"%s: incidents: close_after and digest must "
			"be at least 1s",
			c->file);
	if (ic->digest_max < ic->digest)
		return kw_error_set(err, KW_ECONFIG,
				    "%s: incidents.digest_max must be at least "
				    "incidents.digest",
				    c->file);
	if (ic->max_open < 1)
		return kw_error_set(err, KW_ECONFIG,
				    "%s: incidents.max_open must be at least 1",
				    c->file);
	return KW_OK;
}

/* AWS account ids: exactly 12 digits each. */
static enum kw_status load_trusted(struct kw_config *c, const json_t *v,
				   struct kw_error *err)
{
	for (size_t i = 0; i < json_array_size(v); i++) {
		const char *s = json_string_value(json_array_get(v, i));
		size_t n = strlen(s), k = 0;

		while (k < n && s[k] >= '0' && s[k] <= '9')
			k++;
		if (n != 12 || k != 12)
			return kw_error_set(
				err, KW_ECONFIG,
				"%s: trusted_accounts[%zu]: '%s' is "
				"not an AWS account id (12 digits)",
				c->file, i, s);
	}
	if (dup_strings(v, &c->trusted_accounts, &c->ntrusted_accounts) !=
	    KW_OK)
		return KW_ENOMEM;
	return KW_OK;
}

bool kw_config_link_ok(const char *s)
{
	const char *p;

	if (strncmp(s, "https://", 8) && strncmp(s, "http://", 7))
		return false;
	if (!strstr(s, "{request_id}"))
		return false;
	for (p = strchr(s, '{'); p; p = strchr(p + 1, '{')) {
		if (strncmp(p, "{request_id}", 12) && strncmp(p, "{region}", 8))
			return false;
	}
	return true;
}

static enum kw_status load_links(struct kw_config *c, const json_t *root,
				 struct kw_error *err)
{
	const json_t *o = json_object_get(root, "links");
	const json_t *v;
	enum kw_status st;

	if (!o)
		return KW_OK;
	st = kw_config_check_object(o, kw_config_links_options, c->file,
				    "links", err);
	if (st != KW_OK)
		return st;
	v = json_object_get(o, "request");
	if (!v)
		return KW_OK;
	if (!kw_config_link_ok(json_string_value(v)))
		return kw_error_set(err, KW_ECONFIG,
				    "%s: links.request: expected an http:// or "
				    "https:// URL with {request_id} (and "
				    "optionally {region})",
				    c->file);
	return dup_str(v, &c->link_request) ? KW_OK : KW_ENOMEM;
}

static enum kw_status load_json(struct kw_config *c, const json_t *root,
				struct kw_error *err)
{
	const json_t *v;
	enum kw_status st;
	int64_t us;
	size_t i;
	json_t *e;

	st = kw_config_check_object(root, kw_config_top_options, c->file, "",
				    err);
	if (st != KW_OK)
		return st;
	if ((v = json_object_get(root, "models"))) {
		for (i = 0; i < c->nmodels; i++)
			free(c->models[i]);
		free(c->models);
		c->models = NULL;
		if (dup_strings(v, &c->models, &c->nmodels) != KW_OK)
			return KW_ENOMEM;
	}
	if ((v = json_object_get(root, "trusted_accounts"))) {
		st = load_trusted(c, v, err);
		if (st != KW_OK)
			return st;
	}
	if ((v = json_object_get(root, "geoip")) &&
	    dup_strings(v, &c->geoip, &c->ngeoip) != KW_OK)
		return KW_ENOMEM;
	if ((v = json_object_get(root, "state_dir")) &&
	    !dup_str(v, &c->state_dir))
		return KW_ENOMEM;
	if ((v = json_object_get(root, "learn"))) {
		kw_duration_parse(json_string_value(v), &us);
		c->learn = us;
	}
	if ((v = json_object_get(root, "dedup_window"))) {
		kw_duration_parse(json_string_value(v), &us);
		c->dedup_window = us;
	}
	if ((v = json_object_get(root, "lateness"))) {
		kw_duration_parse(json_string_value(v), &us);
		c->lateness = us;
	}
	if ((v = json_object_get(root, "max_open_inputs")))
		c->max_open_inputs = (size_t)json_integer_value(v);
	if ((v = json_object_get(root, "max_keys")))
		c->max_keys = (size_t)json_integer_value(v);
	if ((v = json_object_get(root, "max_line")))
		c->max_line = (size_t)json_integer_value(v);
	if ((v = json_object_get(root, "threads")))
		c->threads = (unsigned)json_integer_value(v);
	if (c->max_keys == 0 || c->max_line < 64)
		return kw_error_set(err, KW_ECONFIG,
				    "%s: max_keys must be at least 1 and "
				    "max_line at least 64",
				    c->file);
	if (c->max_open_inputs < 2)
		return kw_error_set(err, KW_ECONFIG,
				    "%s: max_open_inputs must be at least 2",
				    c->file);
	if ((v = json_object_get(root, "geo_publishable")))
		c->geo_publishable = json_is_true(v);
	st = load_watch(c, root, err);
	if (st != KW_OK)
		return st;
	st = load_delivery(c, root, err);
	if (st != KW_OK)
		return st;
	st = load_incidents(c, root, err);
	if (st == KW_OK)
		st = load_links(c, root, err);
	if (st == KW_OK && (v = json_object_get(root, "kafka"))) {
		st = kw_kafka_check_props(v, c->file, "kafka", err);
		if (st == KW_OK) {
			json_decref(c->kafka);
			c->kafka = json_incref((json_t *)v);
		}
	}
	if (st != KW_OK)
		return st;
	if ((v = json_object_get(root, "detectors"))) {
		json_decref(c->detectors);
		c->detectors = json_incref((json_t *)v);
	}
	if ((v = json_object_get(root, "sinks"))) {
		st = check_array_of_objects(c, v, "sinks", err);
		if (st != KW_OK)
			return st;
		json_decref(c->sinks);
		c->sinks = json_incref((json_t *)v);
	}
	if ((v = json_object_get(root, "map"))) {
		json_decref(c->map);
		c->map = json_incref((json_t *)v);
	}
	if ((v = json_object_get(root, "keys"))) {
		if ((st = check_array_of_objects(c, v, "keys", err)) != KW_OK)
			return st;
		c->keys = calloc(json_array_size(v) + 1, sizeof(*c->keys));
		if (!c->keys)
			return KW_ENOMEM;
		json_array_foreach(v, i, e)
		{
			c->nkeys = i + 1;
			st = load_key(c, e, i, &c->keys[i], err);
			if (st != KW_OK)
				return st;
		}
		if (c->nkeys && (st = index_keys(c)) != KW_OK)
			return st;
	}
	if ((v = json_object_get(root, "suppress"))) {
		st = check_array_of_objects(c, v, "suppress", err);
		if (st != KW_OK)
			return st;
		c->suppress =
			calloc(json_array_size(v) + 1, sizeof(*c->suppress));
		if (!c->suppress)
			return KW_ENOMEM;
		json_array_foreach(v, i, e)
		{
			c->nsuppress = i + 1;
			st = load_suppress(c, e, i, &c->suppress[i], err);
			if (st != KW_OK)
				return st;
		}
	}
	if ((v = json_object_get(root, "inputs"))) {
		st = check_array_of_objects(c, v, "inputs", err);
		if (st != KW_OK)
			return st;
		c->inputs = calloc(json_array_size(v) + 1, sizeof(*c->inputs));
		if (!c->inputs)
			return KW_ENOMEM;
		json_array_foreach(v, i, e)
		{
			c->ninputs = i + 1;
			st = load_input(c, e, i, &c->inputs[i], err);
			if (st != KW_OK)
				return st;
		}
	}
	return KW_OK;
}

static struct kw_config *config_new(const char *file)
{
	struct kw_config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->file = strdup(file);
	c->models = calloc(NDEFAULT_MODELS + 1, sizeof(char *));
	c->detectors = json_object();
	c->sinks = json_array();
	c->map = json_object();
	c->kafka = json_object();
	c->learn = KW_DEFAULT_LEARN;
	c->max_keys = KW_DEFAULT_MAX_KEYS;
	c->max_line = (size_t)1 << 20;
	c->dedup_window = KW_DEFAULT_DEDUP;
	c->max_open_inputs = KW_DEFAULT_MAX_OPEN_INPUTS;
	c->spool_max = KW_DEFAULT_SPOOL_MAX;
	c->drain_timeout = KW_DEFAULT_DRAIN;
	c->checkpoint_interval = KW_DEFAULT_CHECKPOINT;
	c->retry_initial = 1;
	c->retry_max = 300;
	c->incidents = (struct kw_incident_conf){
		.enabled = true,
		.close_after = KW_DEFAULT_CLOSE_AFTER,
		.digest = KW_DEFAULT_DIGEST,
		.digest_max = KW_DEFAULT_DIGEST_MAX,
		.max_open = KW_DEFAULT_MAX_INCIDENTS,
	};
	if (!c->file || !c->models || !c->detectors || !c->sinks || !c->map) {
		kw_config_free(c);
		return NULL;
	}
	for (size_t i = 0; i < NDEFAULT_MODELS; i++) {
		c->models[i] = strdup(default_models[i]);
		if (!c->models[i]) {
			kw_config_free(c);
			return NULL;
		}
		c->nmodels = i + 1;
	}
	return c;
}

enum kw_status kw_config_defaults(struct kw_config **out, struct kw_error *err)
{
	*out = config_new("(defaults)");
	if (!*out)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	return KW_OK;
}

static enum kw_status load_root(json_t *root, const char *name,
				struct kw_config **out, struct kw_error *err)
{
	struct kw_config *c = config_new(name);
	enum kw_status st;

	*out = NULL;
	if (!c)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	if (!json_is_object(root)) {
		st = kw_error_set(err, KW_ECONFIG,
				  "%s: the config must be a JSON object", name);
		goto cleanup;
	}
	st = load_json(c, root, err);
	if (st == KW_ENOMEM)
		kw_error_set(err, st, "%s: out of memory", name);
cleanup:
	if (st != KW_OK)
		kw_config_free(c);
	else
		*out = c;
	return st;
}

enum kw_status kw_config_load(const char *file, struct kw_config **out,
			      struct kw_error *err)
{
	json_error_t jerr;
	json_t *root;
	enum kw_status st;
	char *text = NULL;
	size_t len = 0;

	*out = NULL;
	/* Not json_load_file: a FIFO or device given as -c would block in
	 * its open(), and a huge file would be read whole. */
	st = kw_file_read_all(file, KW_CONFIG_FILE_MAX, &text, &len, err);
	if (st != KW_OK)
		return st;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!root && json_error_code(&jerr) == json_error_out_of_memory)
		return kw_error_set(err, KW_ENOMEM, "%s: out of memory", file);
	if (!root) {
		if (jerr.line < 0 || jerr.position == 0)
			return kw_error_set(err, KW_ECONFIG, "%s: %s", file,
					    jerr.text);
		return kw_error_set(err, KW_ECONFIG,
				    "%s:%d:%d: invalid JSON: %s", file,
				    jerr.line, jerr.column, jerr.text);
	}
	st = load_root(root, file, out, err);
	json_decref(root);
	return st;
}

enum kw_status kw_config_load_string(const char *text, const char *name,
				     struct kw_config **out,
				     struct kw_error *err)
{
	json_error_t jerr;
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	enum kw_status st;

	*out = NULL;
	if (!root && json_error_code(&jerr) == json_error_out_of_memory)
		return kw_error_set(err, KW_ENOMEM, "%s: out of memory", name);
	if (!root)
		return kw_error_set(err, KW_ECONFIG,
				    "%s:%d:%d: invalid JSON: %s", name,
				    jerr.line, jerr.column, jerr.text);
	st = load_root(root, name, out, err);
	json_decref(root);
	return st;
}

static void free_strings(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n || v[i]; i++)
		free(v[i]);
	free(v);
}

void kw_config_free(struct kw_config *c)
{
	if (!c)
		return;
	free(c->file);
	free_strings(c->models, c->nmodels);
	free_strings(c->geoip, c->ngeoip);
	free_strings(c->trusted_accounts, c->ntrusted_accounts);
	for (size_t i = 0; c->inputs && i < c->ninputs; i++) {
		free(c->inputs[i].path);
		free(c->inputs[i].format);
		json_decref(c->inputs[i].map);
		free(c->inputs[i].brokers);
		free(c->inputs[i].topic);
		free(c->inputs[i].group);
		free(c->inputs[i].changelog);
		free(c->inputs[i].repartition);
		json_decref(c->inputs[i].kafka);
	}
	free(c->inputs);
	free(c->state_dir);
	free(c->spool_dir);
	free(c->metrics_listen);
	free(c->link_request);
	for (size_t i = 0; c->keys && i < c->nkeys; i++) {
		struct kw_keyconf *k = &c->keys[i];

		free(k->match);
		free(k->name);
		for (size_t j = 0; j < k->nperms; j++)
			free(k->perms[j].resource);
		free(k->perms);
		free(k->allow_ips);
		free(k->allow_countries);
		free(k->runbook_url);
	}
	free(c->keys);
	free(c->key_last);
	free(c->key_any);
	for (size_t i = 0; c->suppress && i < c->nsuppress; i++) {
		struct kw_suppress *s = &c->suppress[i];

		free(s->detector);
		free(s->key);
		free(s->reason);
		free(s->owner);
		json_decref(s->subject);
	}
	free(c->suppress);
	json_decref(c->detectors);
	json_decref(c->sinks);
	json_decref(c->map);
	json_decref(c->kafka);
	free(c);
}

const struct kw_keyconf *kw_config_key(const struct kw_config *c,
				       const char *key, size_t n)
{
	const uint32_t *last = NULL;
	size_t nlast = 0, j = 0, k = 0;

	if (!c->nkeys)
		return NULL;
	if (n) {
		unsigned char b = (unsigned char)key[n - 1];

		last = c->key_last + c->key_at[b];
		nlast = c->key_at[b + 1] - c->key_at[b];
	}
	/* The keys that may match, in config order: those that end in the
	 * key's last byte and those that end in '*', merged. */
	while (j < nlast || k < c->nkey_any) {
		uint32_t i;

		if (k == c->nkey_any || (j < nlast && last[j] < c->key_any[k]))
			i = last[j++];
		else
			i = c->key_any[k++];
		if (kw_glob_matches(&c->keys[i].glob, key, n))
			return &c->keys[i];
	}
	return NULL;
}

enum kw_access kw_keyconf_access(const struct kw_keyconf *k,
				 const char *resource, size_t n)
{
	for (size_t i = 0; i < k->nperms; i++) {
		if (strlen(k->perms[i].resource) == n &&
		    !memcmp(k->perms[i].resource, resource, n))
			return k->perms[i].access;
	}
	return KW_ACCESS_NONE;
}

unsigned kw_config_threads(const struct kw_config *c)
{
	cpu_set_t set;
	int n = 0;

	if (c->threads)
		return c->threads;
	/* The cores this process may run on: its affinity, as taskset and
	 * cgroups set it. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n < 1)
		n = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return n > KW_THREADS_LIMIT ? KW_THREADS_LIMIT : (unsigned)n;
}
