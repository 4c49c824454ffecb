/*
 * mattermost.c - the Mattermost sink: an incoming webhook (Slack-compatible
 * message attachments; the URL is the credential): the severity and
 * detector as a heading, one attachment with the severity's colour, the
 * summary, the key and evidence as short fields, and the alert id and
 * suppress fragment in the footer. "channel" and "username" override the
 * hook's defaults when the server allows it.
 *
 * Mattermost turns "@channel", "@all" and "@here" in a webhook post into
 * notifications, so every "@" from a log is followed by a zero-width space.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink/chat.h"

static const struct kw_option mattermost_options[] = {
	{"url", KW_OPT_SECRET, NULL,
	 "the incoming webhook URL (a credential: use \"env:NAME\")"},
	{"channel", KW_OPT_STRING, NULL,
	 "post to this channel instead of the hook's"},
	{"username", KW_OPT_STRING, "keywatch", "the name the post is from"},
	{"timeout", KW_OPT_DURATION, KW_HTTP_DEFAULT_TIMEOUT,
	 "give up on one attempt after this long", KW_SINK_TIMEOUT_MAX},
	{NULL, 0, NULL, NULL},
};

#define ZWSP "\xe2\x80\x8b"

/* s with a zero-width space after each '@', into buf. */
static const char *no_mentions(const char *s, char *buf, size_t cap)
{
	size_t j = 0;

	for (; *s && j + sizeof(ZWSP) + 1 < cap; s++) {
		buf[j++] = *s;
		if (*s == '@') {
			memcpy(buf + j, ZWSP, sizeof(ZWSP) - 1);
			j += sizeof(ZWSP) - 1;
		}
	}
	buf[j] = '\0';
	return buf;
}

static json_t *mattermost_render(const struct kw_chat *c,
				 const struct kw_alert *a)
{
	struct kw_chat_field f[KW_CHAT_MAX_FIELDS];
	size_t n = kw_sink_chat_fields(a, f, KW_CHAT_MAX_FIELDS);
	char title[160], heading[200], sup[1024], foot[1200], colour[8];
	char summary[2048], value[KW_CHAT_VALUE_MAX * 4];
	json_t *fields = json_array();
	json_t *out;

	kw_sink_chat_title(a, title, sizeof(title));
	snprintf(heading, sizeof(heading), "#### %s", title);
	snprintf(colour, sizeof(colour), "#%06x",
		 kw_sink_chat_colour(a->severity));
	for (size_t i = 0; i < n; i++)
		json_array_append_new(fields,
				      json_pack("{s:b,s:s,s:s}", "short", 1,
						"title", f[i].name, "value",
						no_mentions(f[i].value, value,
							    sizeof(value))));
	kw_sink_chat_suppress(a, sup, sizeof(sup));
	snprintf(foot, sizeof(foot), "%s \xc2\xb7 to silence it: %s", a->id,
		 sup);
	no_mentions(a->summary, summary, sizeof(summary));
	out = json_pack("{s:s,s:s,s:[{s:s,s:s,s:s,s:o,s:s}]}", "username",
			c->username ? c->username : "keywatch", "text", heading,
			"attachments", "fallback", summary, "color", colour,
			"text", summary, "fields", fields, "footer", foot);
	if (out && c->channel)
		json_object_set_new(out, "channel", json_string(c->channel));
	return out;
}

static enum kw_status mattermost_create(const json_t *conf,
					const struct kw_sink_env *env,
					void **self, struct kw_error *err)
{
	return kw_sink_chat_create(conf, env, "mattermost", mattermost_render,
				   NULL, NULL, self, err);
}

const struct kw_sink_ops kw_sink_mattermost = {
	.name = "mattermost",
	.options = mattermost_options,
	.for_people = true,
	.create = mattermost_create,
	.deliver = kw_sink_chat_deliver,
	.destroy = kw_sink_chat_destroy,
	.describe = kw_sink_chat_describe,
	.retry_after = kw_sink_chat_retry_after,
};
