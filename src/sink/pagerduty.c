/*
 * pagerduty.c - the PagerDuty sink: Events API v2 events. It gets
 * incidents (alert/incident.h): one keywatch incident is one PagerDuty
 * dedup_key (the incident id), its opening and its updates are "trigger"
 * events with that key (PagerDuty adds them to the open incident without
 * paging again), and, with "resolve": true, its closing is a "resolve".
 * Closing is off by default: a key that went quiet may still be in the
 * wrong hands, so a person resolves the page. A plain alert (a sink with
 * "incidents": false) is a trigger keyed by the alert id.
 *
 * The summary is the title, key and what happened; custom_details says it
 * in words (sink/chat.h: the key, what happened, the top lists, the next
 * step, the suppress fragment) and carries the whole message; the request
 * and runbook links go in "links". The severity maps critical -> critical,
 * high -> error, medium -> warning, low and info -> info. The routing
 * (integration) key is a secret; the endpoint is configurable so tests can
 * point it at 127.0.0.1.
 *
 * PagerDuty answers 202 when it took the event, 400 for an event it will
 * never take (dead letter) and 429 when throttled (retried).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/time.h"
#include "sink/chat.h"

#define PAGERDUTY_URL "https://events.pagerduty.com/v2/enqueue"

static const struct kw_option pagerduty_options[] = {
	{"routing_key", KW_OPT_SECRET, NULL,
	 "the Events API v2 integration key (use \"env:NAME\")"},
	{"url", KW_OPT_SECRET, PAGERDUTY_URL, "the Events API endpoint"},
	{"resolve", KW_OPT_BOOL, "false",
	 "resolve the PagerDuty incident when the keywatch incident closes "
	 "(after close_after without alerts)"},
	{"timeout", KW_OPT_DURATION, KW_HTTP_DEFAULT_TIMEOUT,
	 "give up on one attempt after this long", KW_SINK_TIMEOUT_MAX},
	{"suppress_for", KW_OPT_DURATION, "30d",
	 "the suggested suppression ends this long after the alert", "365d"},
	{NULL, 0, NULL, NULL},
};

static const char *pd_severity(enum kw_severity s)
{
	switch (s) {
	case KW_SEV_CRITICAL:
		return "critical";
	case KW_SEV_HIGH:
		return "error";
	case KW_SEV_MEDIUM:
		return "warning";
	default:
		return "info";
	}
}

static json_t *pagerduty_render(const struct kw_chat *c,
				const struct kw_alert *a)
{
	const char *event = kw_sink_chat_event(a);
	const char *dedup = a->incident[0] ? a->incident : a->id;
	struct kw_chat_msg m;
	char *json;
	json_t *details, *message, *links;
	const char *dot = strchr(a->detector, '.');
	char group[32], t[32], summary[1024];

	if (event && !strcmp(event, "closed"))
		return c->resolve ? json_pack("{s:s,s:s,s:s}", "routing_key",
					      c->key, "event_action", "resolve",
					      "dedup_key", dedup)
				  : json_null();
	kw_sink_chat_message(a, c->suppress_for, &m);
	json = kw_alert_to_json(a);
	message = json ? json_loads(json, 0, NULL) : NULL;
	free(json);
	details = json_pack("{s:s,s:s}", "what happened", m.what, "key", m.key);
	links = json_array();
	if (!message || !details || !links) {
		json_decref(message);
		json_decref(details);
		json_decref(links);
		return NULL;
	}
	if (m.event[0])
		json_object_set_new(details, "incident", json_string(m.event));
	for (size_t i = 0; i < m.nfields; i++)
		json_object_set_new(details, m.fields[i].name,
				    json_string(m.fields[i].value));
	json_object_set_new(details, "next step", json_string(m.next));
	json_object_set_new(details, "to silence it, add to suppress",
			    json_string(m.suppress));
	json_object_set_new(details,
			    a->update ? "keywatch incident" : "keywatch alert",
			    message);
	for (size_t i = 0; i < m.nlinks; i++)
		json_array_append_new(links, json_pack("{s:s,s:s}", "href",
						       m.links[i].url, "text",
						       m.links[i].text));
	snprintf(summary, sizeof(summary), "%s \xc2\xb7 %s: %s", m.title,
		 a->key.id, a->summary);
	snprintf(group, sizeof(group), "%.*s",
		 dot ? (int)(dot - a->detector) : (int)strlen(a->detector),
		 a->detector);
	return json_pack(
		"{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o},"
		"s:s,s:o}",
		"routing_key", c->key, "event_action", "trigger", "dedup_key",
		dedup, "payload", "summary", summary, "source", "keywatch",
		"severity", pd_severity(a->severity), "timestamp",
		kw_time_format(a->time, t, sizeof(t)), "component", a->key.id,
		"group", group, "class", a->detector, "custom_details", details,
		"client", "keywatch", "links", links);
}

static enum kw_status pagerduty_create(const json_t *conf,
				       const struct kw_sink_env *env,
				       void **self, struct kw_error *err)
{
	return kw_sink_chat_create(conf, env, "pagerduty", pagerduty_render,
				   PAGERDUTY_URL, "routing_key", self, err);
}

/* Where alerts go: what an unnamed sink is known by (sink.h). */
static const char *const destination[] = {"routing_key", "url", NULL};

const struct kw_sink_ops kw_sink_pagerduty = {
	.name = "pagerduty",
	.destination = destination,
	.options = pagerduty_options,
	.for_people = true,
	.create = pagerduty_create,
	.deliver = kw_sink_chat_deliver,
	.destroy = kw_sink_chat_destroy,
	.describe = kw_sink_chat_describe,
	.retry_after = kw_sink_chat_retry_after,
	.answer = kw_sink_chat_answer,
};
