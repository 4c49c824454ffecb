/*
 * config.h - the JSON config (spec/cli-and-config.md), loaded through
 * jansson and checked against declarative tables: every section describes
 * its keys (name, type, help) in a struct kw_option table; unknown keys are
 * an error naming the file, the JSON path and the nearest known key. The
 * same tables print `keywatch check` output and the docs.
 *
 * Sections that belong to modules above core (detectors, sinks) are kept
 * as JSON here and checked by those modules' registries against the option
 * tables each plugin declares, with kw_config_check_object().
 *
 * A loaded config is immutable; it owns all its strings.
 */
#ifndef KW_CORE_CONFIG_H
#define KW_CORE_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "core/glob.h"
#include "core/status.h"

enum kw_opt_type {
	KW_OPT_STRING,
	KW_OPT_SECRET, /* a string that may be "env:NAME"; never printed */
	KW_OPT_BOOL,
	KW_OPT_INT,	 /* a non-negative integer */
	KW_OPT_NUMBER,	 /* integer or real */
	KW_OPT_DURATION, /* "90s", "15m", "72h", "7d" */
	KW_OPT_TIME,	 /* RFC 3339 */
	KW_OPT_SEVERITY, /* info, low, medium, high, critical */
	KW_OPT_STRINGS,	 /* array of strings */
	KW_OPT_OBJECT,	 /* checked by its owner */
	KW_OPT_ARRAY,	 /* checked by its owner */
};

struct kw_option {
	const char *name;
	enum kw_opt_type type;
	const char *def;  /* default, as written in the config; NULL: none */
	const char *help; /* one line */
	/* The largest value accepted, as written in the config ("7d",
	 * "268435456"), for KW_OPT_INT, KW_OPT_NUMBER and KW_OPT_DURATION;
	 * NULL: none beyond the type's own. A larger value is an error
	 * naming the key and the maximum, never a huge allocation or a
	 * counter that can never reach it. */
	const char *max;
};

/* The maxima of the top-level values that the command line can also set
 * (--max-line, --max-keys, --learn): one number for both. Plain decimal
 * literals, so that KW_STR() spells them for the option table. */
#define KW_MAX_LINE_LIMIT 268435456 /* 256 MiB */
#define KW_MAX_KEYS_LIMIT 100000000
#define KW_THREADS_LIMIT 64
#define KW_LEARN_LIMIT "3650d"
#define KW_STR_(x) #x
#define KW_STR(x) KW_STR_(x)

/* Whether v (a number of bytes, keys, ... or microseconds for a
 * duration) is within the option's maximum; true when it has none. */
bool kw_option_within_max(const struct kw_option *o, double v);

/* The top-level option called name (kw_config_top_options), or NULL. */
const struct kw_option *kw_config_top_option(const char *name);

/* Check that obj (a JSON object) has only keys from opts[] (terminated by
 * a NULL name) and that each has the declared type. `where` names the
 * object in messages ("detectors.rate.spike"). The error reads
 * "FILE: WHERE: unknown key 'allow_ip' (did you mean 'allow_ips'?)" or
 * "FILE: WHERE.window: expected a duration such as \"15m\"". */
enum kw_status kw_config_check_object(const json_t *obj,
				      const struct kw_option *opts,
				      const char *file, const char *where,
				      struct kw_error *err);

/* The nearest name (edit distance <= 2, or a prefix) from a NULL-terminated
 * list, for "did you mean"; NULL when none is near. */
const char *kw_config_suggest(const char *word, const char *const *names);

/* Resolve a secret value:
 *   "env:NAME"   the environment variable NAME;
 *   "file:PATH"  the contents of the file PATH, one trailing newline (\n or
 *                \r\n) removed;
 *   "cred:NAME"  the credential NAME that systemd loaded for the service
 *                (LoadCredential=): the file $CREDENTIALS_DIRECTORY/NAME,
 *                read as file: is;
 *   anything else is the value itself.
 * An unset or empty variable, and a file that is missing, unreadable, not a
 * regular file (a FIFO is never opened for reading), empty, larger than
 * KW_SECRET_FILE_MAX or holding a NUL byte, are errors naming the variable,
 * the path or the credential, never the value. *out is malloc'ed; the
 * caller frees (and should wipe). */
#define KW_SECRET_FILE_MAX ((size_t)64 << 10)
enum kw_status kw_config_secret(const char *value, char **out,
				struct kw_error *err);

struct kw_cidr {
	struct kw_ip net; /* masked to bits */
	uint8_t bits;
};

/* Parse "203.0.113.0/24", "2001:db8::/32" or a bare address. */
bool kw_cidr_parse(const char *s, struct kw_cidr *out);
bool kw_cidr_contains(const struct kw_cidr *c, const struct kw_ip *ip);

struct kw_perm {
	char *resource;
	enum kw_access access;
};

struct kw_keyconf {
	size_t index;	       /* position in keys[] */
	char *match;	       /* glob over the key as written in the log */
	struct kw_glob glob;   /* match, taken apart (every new key is
				  matched against it) */
	char *name;	       /* NULL when unnamed */
	struct kw_perm *perms; /* NULL when the key has no permissions */
	size_t nperms;
	bool has_perms;
	struct kw_cidr *allow_ips;
	size_t nallow_ips;
	char (*allow_countries)[3];
	size_t nallow_countries;
	bool has_expires;
	int64_t expires; /* microseconds */
	bool honey;
	char *runbook_url; /* NULL when none */
};

/* The access the key's permissions grant on a resource (NONE when the
 * resource is not listed). Only meaningful when has_perms. */
enum kw_access kw_keyconf_access(const struct kw_keyconf *k,
				 const char *resource, size_t n);

struct kw_suppress {
	char *detector;	 /* NULL: any */
	char *key;	 /* glob over the redacted key id; NULL: any */
	json_t *subject; /* object of subject fields: country, ip, network, op
			  */
	bool has_until;
	int64_t until;
	char *reason, *owner;
};

enum kw_input_type {
	KW_INPUT_FILE = 0, /* files matched by a glob, followed (tail.h) */
	KW_INPUT_KAFKA,	   /* a topic, as a member of a consumer group */
};

struct kw_input {
	enum kw_input_type type;
	char *path;   /* file: the glob; kafka: "kafka:TOPIC" (messages) */
	char *format; /* NULL: auto */
	json_t *map;  /* object FIELD -> PATH, or NULL */
	/* kafka */
	char *brokers; /* "host:port,..." */
	char *topic;   /* read from */
	char *group;   /* the consumer group instances share */
	json_t *kafka; /* this input's librdkafka properties, or NULL */
	/* The compacted topic the state of each partition is kept in
	 * (daemon/changelog.c): "changelog", by default TOPIC
	 * KW_CHANGELOG_SUFFIX; NULL when "changelog" is "" (off). */
	char *changelog;
	/* The topic of the stage keyed by source IP (daemon/byip.c):
	 * "repartition", by default TOPIC KW_REPARTITION_SUFFIX; NULL when
	 * "repartition" is "" (off: auth.failures counts on each instance
	 * alone). */
	char *repartition;
};

#define KW_CHANGELOG_SUFFIX ".keywatch-changelog"
#define KW_REPARTITION_SUFFIX ".keywatch-byip"
/* The group that reads an input's repartition topic: GROUP and this. */
#define KW_REPARTITION_GROUP_SUFFIX ".keywatch-byip"

#define KW_DEFAULT_LEARN (INT64_C(72) * 3600 * 1000000)
#define KW_DEFAULT_MAX_KEYS ((size_t)1000000)
#define KW_DEFAULT_DEDUP (INT64_C(3600) * 1000000)
#define KW_DEFAULT_MAX_OPEN_INPUTS ((size_t)256)
#define KW_MAX_OPEN_INPUTS_LIMIT 65536
#define KW_DEFAULT_SPOOL_MAX ((size_t)64 << 20)
#define KW_DEFAULT_DRAIN (INT64_C(30) * 1000000)
#define KW_DEFAULT_CHECKPOINT (INT64_C(10) * 1000000)
#define KW_DEFAULT_CLOSE_AFTER (INT64_C(3600) * 1000000)
#define KW_DEFAULT_DIGEST (INT64_C(3600) * 1000000)
#define KW_DEFAULT_DIGEST_MAX (INT64_C(24) * 3600 * 1000000)
#define KW_DEFAULT_MAX_INCIDENTS ((size_t)4096)

/* Incidents (alert/incident.h): alerts on one key grouped for people. */
struct kw_incident_conf {
	bool enabled;	     /* false: every sink gets every alert */
	int64_t close_after; /* microseconds of event time without an alert */
	int64_t digest;	     /* the first interval between updates */
	int64_t digest_max;  /* the interval doubles up to this */
	size_t max_open;
};

struct kw_config {
	char *file; /* where it was loaded from; "(defaults)" otherwise */
	char **models;
	size_t nmodels;
	char **geoip;
	size_t ngeoip;
	struct kw_input *inputs;
	size_t ninputs;
	char *state_dir;
	int64_t learn;
	struct kw_keyconf *keys;
	size_t nkeys;
	/* keys[] by the byte a key must end with to match (kw_config_key):
	 * key_last[key_at[c] .. key_at[c + 1]) are the places of those whose
	 * match ends in byte c, key_any[0 .. nkey_any) those that end in
	 * '*', each in config order. NULL when there are no keys. */
	uint32_t *key_last, *key_any;
	uint32_t key_at[257];
	size_t nkey_any;
	json_t *detectors; /* object: name -> options; never NULL */
	struct kw_suppress *suppress;
	size_t nsuppress;
	json_t *sinks; /* array; never NULL (empty: the default stdout) */
	json_t *map;   /* object FIELD -> PATH; never NULL */
	size_t max_keys;
	size_t max_line;
	unsigned threads; /* 0: one per core (the command line resolves it) */
	int64_t dedup_window;
	int64_t lateness;	/* microseconds; 0: by the formats read */
	size_t max_open_inputs; /* scan: inputs open at once in the merge */
	bool geo_publishable;	/* apply geo.new_* to publishable keys too */
	/* AWS accounts whose sharing and trust is routine (12 digits). */
	char **trusted_accounts;
	size_t ntrusted_accounts;
	/* Delivery (alert/delivery.h). */
	char *spool_dir;       /* NULL: state_dir/spool, or no spool */
	size_t spool_max;      /* bytes per sink */
	int64_t drain_timeout; /* microseconds scan waits for delivery */
	double retry_initial;  /* seconds: the first backoff */
	double retry_max;      /* seconds: the longest backoff */
	/* watch */
	int64_t checkpoint_interval; /* microseconds */
	char *metrics_listen;	     /* "ADDRESS:PORT", or NULL: off */
	struct kw_incident_conf incidents;
	/* "links": {"request": URL template}: where one's own gateway shows a
	 * request ({request_id}, {region}); NULL: the models' links. */
	char *link_request;
	/* librdkafka properties for every Kafka client (core/kafka.h);
	 * never NULL (empty: none). */
	json_t *kafka;
};

/* The largest config file read (a config is a few kilobytes). */
#define KW_CONFIG_FILE_MAX ((size_t)16 << 20)

/* Built-in defaults (no file). */
enum kw_status kw_config_defaults(struct kw_config **out, struct kw_error *err);
/* Load and check a file (a regular file of at most KW_CONFIG_FILE_MAX
 * bytes: a FIFO or device is refused, never waited on). Errors name the
 * file and the JSON path; JSON syntax errors name the line and column. */
enum kw_status kw_config_load(const char *file, struct kw_config **out,
			      struct kw_error *err);
/* The same from a string (tests); name stands for the file in messages. */
enum kw_status kw_config_load_string(const char *text, const char *name,
				     struct kw_config **out,
				     struct kw_error *err);
/* NULL-safe. */
void kw_config_free(struct kw_config *c);

/* How many threads analyse: "threads", or when it is 0 one per core this
 * process may run on (at most KW_THREADS_LIMIT). */
unsigned kw_config_threads(const struct kw_config *c);

/* The first keys[] entry whose match glob matches the key, or NULL. Only
 * the entries whose match ends in the key's last byte or in '*' are
 * tried: with hundreds of keys configured, a new key costs a few. */
const struct kw_keyconf *kw_config_key(const struct kw_config *c,
				       const char *key, size_t n);

/* The option tables, for check and the docs. */
extern const struct kw_option kw_config_top_options[];
extern const struct kw_option kw_config_key_options[];
extern const struct kw_option kw_config_suppress_options[];
extern const struct kw_option kw_config_input_options[];
extern const struct kw_option kw_config_metrics_options[];
extern const struct kw_option kw_config_incident_options[];
extern const struct kw_option kw_config_links_options[];

/* Whether s is a usable link template: an http:// or https:// URL that
 * holds {request_id} and no other {name} but {region}. */
bool kw_config_link_ok(const char *s);

#endif
