/*
 * chat.h - what the chat and paging sinks (slack, discord, teams,
 * mattermost, pagerduty) share: an HTTP sink whose URL (or key) is a
 * secret, that renders the alert into its service's JSON and POSTs it.
 * Each sink's file holds only its options and its render function; the
 * create, deliver, describe and destroy slots are here.
 *
 * The one idea: rendering is a pure function of the alert (no clock, no
 * config beyond the sink's own options), so the payload of each service is
 * checked byte for byte against golden files.
 */
#ifndef KW_SINK_CHAT_H
#define KW_SINK_CHAT_H

#include <jansson.h>

#include "sink/http.h"
#include "sink/sink.h"

#define KW_CHAT_MAX_FIELDS 16
#define KW_CHAT_VALUE_MAX 256
#define KW_CHAT_MAX_LINKS (KW_ALERT_MAX_REQUESTS + 1)
#define KW_CHAT_SUPPRESS_FOR (INT64_C(30) * 86400 * 1000000)

struct kw_chat;

/* Build the service's payload (a new reference), NULL on allocation
 * failure, or JSON null when there is nothing to send (an incident closing
 * with no news, for a sink that only tells people news). */
typedef json_t *(*kw_chat_render_fn)(const struct kw_chat *c,
				     const struct kw_alert *a);

struct kw_chat {
	struct kw_http http;
	const char *type;     /* "slack" */
	char *url;	      /* secret */
	char *key;	      /* pagerduty routing key (secret); else NULL */
	char *username;	      /* discord, mattermost: shown as the sender */
	char *channel;	      /* mattermost: override the hook's channel */
	bool resolve;	      /* pagerduty: resolve when the incident closes */
	int64_t suppress_for; /* the suggested suppression's until, from the
				 alert's time */
	kw_chat_render_fn render;
};

/* One named value of a message: the name is words ("IP addresses"),
 * never an identifier. */
struct kw_chat_field {
	char name[64];
	char value[KW_CHAT_VALUE_MAX];
};

struct kw_chat_link {
	char text[96]; /* "Request req_8Hq2LkV0aZ", "Runbook" */
	char url[512];
};

/* What every message for people says, whatever the service: the same
 * words in Slack, Teams, Discord, Mattermost and PagerDuty. */
struct kw_chat_msg {
	char title[160]; /* "CRITICAL · Decoy key used" */
	char event[96];	 /* "Incident opened" ...; "" for a plain alert */
	char key[256];	 /* "sk_live_…4242 (backend): a secret key, live" */
	char what[1536]; /* what happened, in sentences */
	struct kw_chat_field fields[KW_CHAT_MAX_FIELDS];
	size_t nfields; /* the top lists first, then the evidence */
	char next[512]; /* the next step, a sentence */
	struct kw_chat_link links[KW_CHAT_MAX_LINKS];
	size_t nlinks;	     /* request ids with links, then the runbook */
	char suppress[1024]; /* the config fragment, with until and reason */
	char ids[160];	     /* "incident kwi_… · alert kwa_… · time" */
};

/* Fill m from alert or incident message a; suppress_for is how far past
 * the alert's time the suggested suppression's "until" lies. */
void kw_sink_chat_message(const struct kw_alert *a, int64_t suppress_for,
			  struct kw_chat_msg *m);

/* Create: reads "url" (required unless default_url), "timeout", and
 * "username" / "channel" / key_option when the sink's table has them. */
enum kw_status kw_sink_chat_create(const json_t *conf,
				   const struct kw_sink_env *env,
				   const char *type, kw_chat_render_fn render,
				   const char *default_url,
				   const char *key_option, void **self,
				   struct kw_error *err);
enum kw_sink_result kw_sink_chat_deliver(void *self, const struct kw_alert *a,
					 const char *json, size_t len,
					 struct kw_error *err);
void kw_sink_chat_describe(void *self, char *buf, size_t cap);
int64_t kw_sink_chat_retry_after(void *self);
void kw_sink_chat_answer(void *self, char *buf, size_t cap);
void kw_sink_chat_destroy(void *self);

/* The incident event of an incident message ("opened", "updated",
 * "closed"), NULL for a plain alert. */
const char *kw_sink_chat_event(const struct kw_alert *a);

/* Whether a is an incident closing with nothing new to tell. */
bool kw_sink_chat_bare_close(const struct kw_alert *a);

/* A colour per severity: 0xRRGGBB. */
unsigned kw_sink_chat_colour(enum kw_severity s);

#endif
