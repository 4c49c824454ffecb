/*
 * sink.h - the sink interface. A sink is one .c file implementing
 * struct kw_sink_ops and listed in the registry (sink.c). Adding a sink
 * touches its file, the registry, meson.build, its tests and the docs.
 *
 * A sink delivers one alert and answers OK, RETRY or FAIL; it never sleeps,
 * loops or retries itself. The core owns queues, retries, backoff and the
 * spool (DESIGN.md, "Alerts and sinks"). deliver() gets the alert and its
 * JSON rendering (spec/alerts.md), so sinks that send the JSON as is do not
 * render it again.
 *
 * Every sink accepts the common options "type", "min_severity" and
 * "detectors" (handled by the core); its own options are declared in
 * `options` and checked against the config before create() is called.
 */
#ifndef KW_SINK_SINK_H
#define KW_SINK_SINK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/alert.h"
#include "core/config.h"
#include "core/status.h"

enum kw_sink_result {
	KW_SINK_OK = 0, /* delivered */
	KW_SINK_RETRY,	/* not delivered now; may succeed later */
	KW_SINK_FAIL,	/* rejected for good */
};

enum kw_output {
	KW_OUTPUT_JSON = 0,
	KW_OUTPUT_TEXT,
	KW_OUTPUT_NONE,
};

/* What a sink is created with, besides its config object. */
struct kw_sink_env {
	const char *file;      /* config file, for messages */
	const char *where;     /* "sinks[1]" */
	enum kw_output output; /* stdout: how to render */
	bool colour;	       /* stdout: colour the text */
	const json_t *kafka;   /* the config's "kafka" properties, or NULL */
};

struct kw_sink_ops {
	const char *name;		 /* the config's "type" */
	const struct kw_option *options; /* its own keys; NULL-name end */
	/* A sink meant for people (chat, paging): it gets incidents
	 * (alert/incident.h) instead of every alert, unless its config says
	 * "incidents": false. Default false: machines get every alert. */
	bool for_people;
	/* A sink that writes on this machine (stdout, a file): its pace is
	 * its reader's (a pipe, a disk), so when its memory queue is full
	 * and there is no spool, whoever submits waits for room instead of
	 * dropping the alert (alert/delivery.h, wait_for_room). */
	bool local;
	/* A sink whose deliver() reads the JSON text and the alert's plain
	 * fields only (id, time, severity, detector, key, summary,
	 * requests), never its JSON trees (evidence, suppress, links,
	 * update): its delivery queue keeps a flat copy of each alert
	 * (kw_alert_copy_flat, no allocation but the queue entry) instead
	 * of a deep one. Default false: a sink that builds a payload from
	 * the alert gets every part of it. */
	bool flat;
	/* The options that say where alerts go ("url"; NULL-terminated).
	 * Their values as written in the config ("env:NAME" as such, never
	 * the secret it names) make the identity of an unnamed sink: the
	 * stem of its spool's file name and what its rate-limit window is
	 * kept under. NULL: the type alone (a sink with one destination). */
	const char *const *destination;

	/* Required. conf is the sink's config object (checked), borrowed for
	 * the call only: copy what you keep. */
	enum kw_status (*create)(const json_t *conf,
				 const struct kw_sink_env *env, void **self,
				 struct kw_error *err);

	/* Required. json/len: the alert as one line of JSON, no newline. */
	enum kw_sink_result (*deliver)(void *self, const struct kw_alert *a,
				       const char *json, size_t len,
				       struct kw_error *err);

	/* Optional (default: OK). Make delivered alerts durable (fsync). */
	enum kw_sink_result (*flush)(void *self, struct kw_error *err);

	/* Optional (default: nothing). NULL-safe. */
	void (*destroy)(void *self);

	/* Optional (default: the type). A one-line description for
	 * `keywatch check`, with every secret redacted. buf gets it. */
	void (*describe)(void *self, char *buf, size_t cap);

	/* Optional (default: 0). After deliver() answered RETRY: how long the
	 * receiver asked to be left alone (a 429 or 503 Retry-After), in
	 * milliseconds; 0 when it did not say. */
	int64_t (*retry_after)(void *self);

	/* Optional (default: nothing, buf gets ""). What the receiver
	 * answered to the last delivery, for `keywatch test-sink`: "HTTP 200:
	 * ok". Never a secret. */
	void (*answer)(void *self, char *buf, size_t cap);

	/* Optional (default: false). Whether the sink, as created, does
	 * nothing with what it is given (stdout with -o none): the router
	 * then hands it nothing, and renders nothing for it. */
	bool (*discards)(void *self);
};

/* One configured sink. */
/* A sink's rate limit ("rate_limit": "10/1m": at most 10 alerts per minute
 * of event time) and what it held back in the current window. The router
 * owns the window: alerts past the limit are counted here and delivered to
 * this sink as one digest alert when the window ends (or at the end). */
#define KW_SINK_DIGEST_DETECTORS 8
#define KW_SINK_DIGEST_KEYS 5

struct kw_sink_rate {
	uint32_t max;	     /* 0: no limit */
	int64_t per;	     /* window length, microseconds */
	int64_t start;	     /* current window's start (event time) */
	uint32_t sent;	     /* alerts delivered in the window */
	uint64_t held;	     /* alerts held back in the window */
	int64_t first, last; /* event times of the first and last held */
	enum kw_severity worst;
	struct {
		char detector[64];
		uint64_t count;
	} by_detector[KW_SINK_DIGEST_DETECTORS];
	size_t ndetectors;
	char keys[KW_SINK_DIGEST_KEYS][64]; /* ids of the first keys held */
	size_t nkeys;
};

#define KW_SINK_ID_MAX 48 /* with its NUL */

struct kw_sink {
	const struct kw_sink_ops *ops;
	void *self;
	char name[48];	/* "file (sinks[1])" */
	char where[32]; /* "sinks[1]" */
	/* Stable across restarts, reloads and reordering: the config's
	 * "name", else "<type>-<12 hex digits of a SHA-256 of the
	 * destination>" ("webhook-3f2a9c01b2d4"), "stdout" for stdout. The
	 * stem of its spool; a file name, never a secret. */
	char id[KW_SINK_ID_MAX];
	bool named; /* id is the config's "name" */
	enum kw_severity min_severity;
	bool incidents;	  /* gets incident messages, not alerts */
	char **detectors; /* NULL-terminated globs; NULL: all */
	struct kw_sink_rate rate;
	uint64_t delivered, failed;
};

/* The longest "timeout" a sink takes: an attempt that needs more is not
 * one a sink should wait for. */
#define KW_SINK_TIMEOUT_MAX "1h"
/* rate_limit: at most this many alerts per window, windows of at most
 * KW_SINK_RATE_PER_MAX. */
#define KW_SINK_RATE_MAX 1000000
#define KW_SINK_RATE_PER_MAX "7d"

/* Parse "N/DURATION" ("10/1m") within the maxima above; false when it is
 * not that. */
bool kw_sink_rate_parse(const char *s, uint32_t *max, int64_t *per);

/* The registry. */
const struct kw_sink_ops *kw_sink_find(const char *type);
const struct kw_sink_ops *const *kw_sink_all(void);

/* Create a sink from its config object (index i of "sinks"): checks the
 * common and the sink's own options, then calls create. *out is owned by
 * the caller (kw_sink_destroy). */
enum kw_status kw_sink_create(const json_t *conf, size_t i,
			      const struct kw_sink_env *env,
			      struct kw_sink **out, struct kw_error *err);

/* Two sinks of one config must not share an identity: KW_ECONFIG with a
 * message naming both (file: the config, for the message) when a and b
 * do; KW_OK otherwise. */
enum kw_status kw_sink_check_distinct(const struct kw_sink *a,
				      const struct kw_sink *b, const char *file,
				      struct kw_error *err);

/* Whether the sink wants this alert (severity and detector filters). An
 * incident message is wanted when its severity is and one of the
 * incident's detectors is. */
bool kw_sink_wants(const struct kw_sink *s, const struct kw_alert *a);

/* Through the ops, with defaults for the optional slots. */
enum kw_sink_result kw_sink_deliver(struct kw_sink *s, const struct kw_alert *a,
				    const char *json, size_t len,
				    struct kw_error *err);
enum kw_sink_result kw_sink_flush(struct kw_sink *s, struct kw_error *err);
void kw_sink_describe(struct kw_sink *s, char *buf, size_t cap);
int64_t kw_sink_retry_after(struct kw_sink *s);
void kw_sink_answer(struct kw_sink *s, char *buf, size_t cap);

/* NULL-safe. */
void kw_sink_destroy(struct kw_sink *s);

extern const struct kw_sink_ops kw_sink_stdout;
extern const struct kw_sink_ops kw_sink_file;
extern const struct kw_sink_ops kw_sink_webhook;
extern const struct kw_sink_ops kw_sink_slack;
extern const struct kw_sink_ops kw_sink_discord;
extern const struct kw_sink_ops kw_sink_teams;
extern const struct kw_sink_ops kw_sink_mattermost;
extern const struct kw_sink_ops kw_sink_pagerduty;
extern const struct kw_sink_ops kw_sink_syslog;
extern const struct kw_sink_ops kw_sink_exec;
extern const struct kw_sink_ops kw_sink_kafka; /* with librdkafka */

#endif
