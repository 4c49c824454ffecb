/*
 * slack.c - the Slack sink: an incoming webhook (the URL is the credential)
 * and a Block Kit message (sink/chat.h says what it holds): a header with
 * the severity and what happened in words, the incident event, the key,
 * the sentences, the top lists and evidence as fields (Slack shows at most
 * ten), the next step, the links, and a context line with the ids and the
 * suppress fragment. "text" is the fallback shown in notifications.
 *
 * Slack's mrkdwn treats &, < and > as markup, so they are escaped in every
 * value that comes from a log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/time.h"
#include "sink/chat.h"

#define SLACK_MAX_FIELDS 10

static const struct kw_option slack_options[] = {
	{"url", KW_OPT_SECRET, NULL,
	 "the incoming webhook URL (a credential: use \"env:NAME\")"},
	{"timeout", KW_OPT_DURATION, KW_HTTP_DEFAULT_TIMEOUT,
	 "give up on one attempt after this long", KW_SINK_TIMEOUT_MAX},
	{"suppress_for", KW_OPT_DURATION, "30d",
	 "the suggested suppression ends this long after the alert", "365d"},
	{NULL, 0, NULL, NULL},
};

/* s into buf with each of chars[i] written as reps[i]. */
static void replace(const char *s, const char *chars, const char *const *reps,
		    char *buf, size_t cap)
{
	size_t j = 0;

	for (; *s && j + 6 < cap; s++) {
		const char *c = strchr(chars, *s);
		const char *rep = c ? reps[c - chars] : NULL;

		if (rep) {
			memcpy(buf + j, rep, strlen(rep));
			j += strlen(rep);
		} else {
			buf[j++] = *s;
		}
	}
	buf[j] = '\0';
}

/* &, < and > as Slack wants them. */
static void escape(const char *s, char *buf, size_t cap)
{
	static const char *const reps[] = {"&amp;", "&lt;", "&gt;"};

	replace(s, "&<>", reps, buf, cap);
}

/* A URL inside <url|text>: '|', '<' and '>' would end it early. */
static void escape_url(const char *s, char *buf, size_t cap)
{
	static const char *const reps[] = {"%7C", "%3C", "%3E"};

	replace(s, "|<>", reps, buf, cap);
}

static json_t *mrkdwn(const char *text)
{
	return json_pack("{s:s,s:s}", "type", "mrkdwn", "text", text);
}

static json_t *slack_render(const struct kw_chat *c, const struct kw_alert *a)
{
	struct kw_chat_msg m;
	char key[1600], what[4800], text[KW_CHAT_VALUE_MAX * 6 + 80],
		v[KW_CHAT_VALUE_MAX * 6], next[1600],
		links[4096] = "", sup[3200], context[4096], fallback[2000];
	json_t *blocks = json_array(), *fields = json_array();

	kw_sink_chat_message(a, c->suppress_for, &m);
	escape(m.key, key, sizeof(key));
	escape(m.what, what, sizeof(what));
	snprintf(fallback, sizeof(fallback), "%s: %s", m.title, a->summary);
	json_array_append_new(blocks, json_pack("{s:s,s:{s:s,s:s}}", "type",
						"header", "text", "type",
						"plain_text", "text", m.title));
	if (m.event[0]) {
		snprintf(text, sizeof(text), "*%s*", m.event);
		json_array_append_new(blocks, json_pack("{s:s,s:[o]}", "type",
							"context", "elements",
							mrkdwn(text)));
	}
	snprintf(text, sizeof(text), "*Key:* %s", key);
	json_array_append_new(blocks, json_pack("{s:s,s:o}", "type", "section",
						"text", mrkdwn(text)));
	json_array_append_new(blocks, json_pack("{s:s,s:o}", "type", "section",
						"text", mrkdwn(what)));
	for (size_t i = 0; i < m.nfields && i < SLACK_MAX_FIELDS; i++) {
		escape(m.fields[i].value, v, sizeof(v));
		snprintf(text, sizeof(text), "*%s*\n%s", m.fields[i].name, v);
		json_array_append_new(fields, mrkdwn(text));
	}
	if (json_array_size(fields))
		json_array_append_new(blocks,
				      json_pack("{s:s,s:o}", "type", "section",
						"fields", fields));
	else
		json_decref(fields);
	escape(m.next, v, sizeof(v));
	snprintf(next, sizeof(next), "*Next step:* %s", v);
	json_array_append_new(blocks, json_pack("{s:s,s:o}", "type", "section",
						"text", mrkdwn(next)));
	for (size_t i = 0; i < m.nlinks; i++) {
		char url[600], t[300];

		escape_url(m.links[i].url, url, sizeof(url));
		escape(m.links[i].text, t, sizeof(t));
		snprintf(links + strlen(links), sizeof(links) - strlen(links),
			 "%s<%s|%s>", i ? " \xc2\xb7 " : "", url, t);
	}
	if (links[0])
		json_array_append_new(blocks,
				      json_pack("{s:s,s:o}", "type", "section",
						"text", mrkdwn(links)));
	escape(m.suppress, sup, sizeof(sup));
	snprintf(context, sizeof(context),
		 "%s \xc2\xb7 to silence it, add to \"suppress\": `%s`", m.ids,
		 sup);
	json_array_append_new(blocks,
			      json_pack("{s:s,s:[o]}", "type", "context",
					"elements", mrkdwn(context)));
	return json_pack("{s:s,s:o}", "text", fallback, "blocks", blocks);
}

static enum kw_status slack_create(const json_t *conf,
				   const struct kw_sink_env *env, void **self,
				   struct kw_error *err)
{
	return kw_sink_chat_create(conf, env, "slack", slack_render, NULL, NULL,
				   self, err);
}

/* Where alerts go: what an unnamed sink is known by (sink.h). */
static const char *const destination[] = {"url", NULL};

const struct kw_sink_ops kw_sink_slack = {
	.name = "slack",
	.destination = destination,
	.options = slack_options,
	.for_people = true,
	.create = slack_create,
	.deliver = kw_sink_chat_deliver,
	.destroy = kw_sink_chat_destroy,
	.describe = kw_sink_chat_describe,
	.retry_after = kw_sink_chat_retry_after,
	.answer = kw_sink_chat_answer,
};
