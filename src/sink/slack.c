/*
 * slack.c - the Slack sink: an incoming webhook (the URL is the credential)
 * and a Block Kit message: a header with the severity and detector, the
 * summary, the key and evidence as fields (Slack shows at most ten), and a
 * context line with the alert id and the suppress fragment. "text" is the
 * fallback shown in notifications.
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
	{NULL, 0, NULL, NULL},
};

/* &, < and > as Slack wants them. */
static void escape(const char *s, char *buf, size_t cap)
{
	size_t j = 0;

	for (; *s && j + 6 < cap; s++) {
		const char *rep = *s == '&'   ? "&amp;"
				  : *s == '<' ? "&lt;"
				  : *s == '>' ? "&gt;"
					      : NULL;

		if (rep) {
			memcpy(buf + j, rep, strlen(rep));
			j += strlen(rep);
		} else {
			buf[j++] = *s;
		}
	}
	buf[j] = '\0';
}

static json_t *mrkdwn(const char *text)
{
	return json_pack("{s:s,s:s}", "type", "mrkdwn", "text", text);
}

static json_t *slack_render(const struct kw_chat *c, const struct kw_alert *a)
{
	struct kw_chat_field f[SLACK_MAX_FIELDS];
	size_t n = kw_sink_chat_fields(a, f, SLACK_MAX_FIELDS);
	char title[160], summary[1600], fallback[1800], sup[1024],
		context[2048], text[KW_CHAT_VALUE_MAX * 6 + 80];
	char t[32];
	json_t *fields = json_array();
	json_t *out;

	(void)c;
	kw_sink_chat_title(a, title, sizeof(title));
	escape(a->summary, summary, sizeof(summary));
	snprintf(fallback, sizeof(fallback), "%s: %s", title, summary);
	for (size_t i = 0; i < n; i++) {
		char v[KW_CHAT_VALUE_MAX * 6];

		escape(f[i].value, v, sizeof(v));
		snprintf(text, sizeof(text), "*%s*\n%s", f[i].name, v);
		json_array_append_new(fields, mrkdwn(text));
	}
	kw_sink_chat_suppress(a, text, sizeof(text));
	escape(text, sup, sizeof(sup));
	snprintf(context, sizeof(context),
		 "%s at %s \xc2\xb7 to silence it, add to \"suppress\": `%s`",
		 a->id, kw_time_format(a->time, t, sizeof(t)), sup);
	out = json_pack(
		"{s:s,s:[{s:s,s:{s:s,s:s}},{s:s,s:o},{s:s,s:o},{s:s,s:[o]}]}",
		"text", fallback, "blocks", "type", "header", "text", "type",
		"plain_text", "text", title, "type", "section", "text",
		mrkdwn(summary), "type", "section", "fields", fields, "type",
		"context", "elements", mrkdwn(context));
	return out;
}

static enum kw_status slack_create(const json_t *conf,
				   const struct kw_sink_env *env, void **self,
				   struct kw_error *err)
{
	return kw_sink_chat_create(conf, env, "slack", slack_render, NULL, NULL,
				   self, err);
}

const struct kw_sink_ops kw_sink_slack = {
	.name = "slack",
	.options = slack_options,
	.for_people = true,
	.create = slack_create,
	.deliver = kw_sink_chat_deliver,
	.destroy = kw_sink_chat_destroy,
	.describe = kw_sink_chat_describe,
	.retry_after = kw_sink_chat_retry_after,
};
