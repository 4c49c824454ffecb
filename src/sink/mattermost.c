/*
 * mattermost.c - the Mattermost sink: an incoming webhook (Slack-compatible
 * message attachments; the URL is the credential) carrying what
 * sink/chat.h says: the title as a heading, one attachment with the
 * severity's colour, the incident event, key, sentences, next step and
 * links as its Markdown text, the top lists and evidence as short fields,
 * and the ids and suppress fragment in the footer. "channel" and "username"
 * override the hook's defaults when the server allows it.
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
	{"suppress_for", KW_OPT_DURATION, "30d",
	 "the suggested suppression ends this long after the alert", "365d"},
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
	struct kw_chat_msg m;
	char heading[200], colour[8], body[4096], text[4096 * 2],
		value[KW_CHAT_VALUE_MAX * 4], foot[1400], fallback[2048];
	json_t *fields = json_array();
	json_t *out;

	kw_sink_chat_message(a, c->suppress_for, &m);
	snprintf(heading, sizeof(heading), "#### %s", m.title);
	snprintf(colour, sizeof(colour), "#%06x",
		 kw_sink_chat_colour(a->severity));
	snprintf(body, sizeof(body),
		 "%s%s%s**Key:** %s\n%s\n\n**Next step:** %s",
		 m.event[0] ? "**" : "", m.event, m.event[0] ? "**\n" : "",
		 m.key, m.what, m.next);
	for (size_t i = 0; i < m.nlinks; i++)
		snprintf(body + strlen(body), sizeof(body) - strlen(body),
			 "%s[%s](%s)", i ? " \xc2\xb7 " : "\n", m.links[i].text,
			 m.links[i].url);
	no_mentions(body, text, sizeof(text));
	for (size_t i = 0; i < m.nfields; i++)
		json_array_append_new(
			fields, json_pack("{s:b,s:s,s:s}", "short", 1, "title",
					  m.fields[i].name, "value",
					  no_mentions(m.fields[i].value, value,
						      sizeof(value))));
	snprintf(foot, sizeof(foot), "%s \xc2\xb7 to silence it: %s", m.ids,
		 m.suppress);
	no_mentions(a->summary, fallback, sizeof(fallback));
	out = json_pack("{s:s,s:s,s:[{s:s,s:s,s:s,s:o,s:s}]}", "username",
			c->username ? c->username : "keywatch", "text", heading,
			"attachments", "fallback", fallback, "color", colour,
			"text", text, "fields", fields, "footer", foot);
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

/* Where alerts go: what an unnamed sink is known by (sink.h). */
static const char *const destination[] = {"url", "channel", NULL};

const struct kw_sink_ops kw_sink_mattermost = {
	.name = "mattermost",
	.destination = destination,
	.options = mattermost_options,
	.for_people = true,
	.create = mattermost_create,
	.deliver = kw_sink_chat_deliver,
	.destroy = kw_sink_chat_destroy,
	.describe = kw_sink_chat_describe,
	.retry_after = kw_sink_chat_retry_after,
	.answer = kw_sink_chat_answer,
};
