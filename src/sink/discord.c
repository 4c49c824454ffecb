/*
 * discord.c - the Discord sink: a channel webhook (the URL is the
 * credential) and one embed (sink/chat.h says what it holds): the title,
 * the incident event, key, sentences and next step as the description,
 * the top lists and evidence as inline fields, the links as a field of
 * Markdown links, the event time, a colour per severity, and the ids and
 * suppress fragment in the footer.
 *
 * allowed_mentions is empty: a log value such as "@everyone" must never
 * ping a channel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/time.h"
#include "sink/chat.h"

static const struct kw_option discord_options[] = {
	{"url", KW_OPT_SECRET, NULL,
	 "the channel webhook URL (a credential: use \"env:NAME\")"},
	{"username", KW_OPT_STRING, "keywatch", "the name the message is from"},
	{"timeout", KW_OPT_DURATION, KW_HTTP_DEFAULT_TIMEOUT,
	 "give up on one attempt after this long", KW_SINK_TIMEOUT_MAX},
	{"suppress_for", KW_OPT_DURATION, "30d",
	 "the suggested suppression ends this long after the alert", "365d"},
	{NULL, 0, NULL, NULL},
};

static json_t *discord_render(const struct kw_chat *c, const struct kw_alert *a)
{
	struct kw_chat_msg m;
	char desc[3000], footer[1400], links[2048] = "", t[32];
	json_t *fields = json_array();

	kw_sink_chat_message(a, c->suppress_for, &m);
	snprintf(desc, sizeof(desc),
		 "%s%s%s**Key:** %s\n%s\n\n**Next step:** %s",
		 m.event[0] ? "**" : "", m.event, m.event[0] ? "**\n" : "",
		 m.key, m.what, m.next);
	for (size_t i = 0; i < m.nfields; i++)
		json_array_append_new(
			fields,
			json_pack("{s:s,s:s,s:b}", "name", m.fields[i].name,
				  "value", m.fields[i].value, "inline", 1));
	for (size_t i = 0; i < m.nlinks; i++)
		snprintf(links + strlen(links), sizeof(links) - strlen(links),
			 "%s[%s](%s)", i ? " \xc2\xb7 " : "", m.links[i].text,
			 m.links[i].url);
	if (links[0])
		json_array_append_new(fields, json_pack("{s:s,s:s,s:b}", "name",
							"Links", "value", links,
							"inline", 0));
	snprintf(footer, sizeof(footer), "%s \xc2\xb7 to silence it: %s", m.ids,
		 m.suppress);
	return json_pack("{s:s,s:[{s:s,s:s,s:I,s:o,s:{s:s},s:s}],s:{s:[]}}",
			 "username", c->username ? c->username : "keywatch",
			 "embeds", "title", m.title, "description", desc,
			 "color", (json_int_t)kw_sink_chat_colour(a->severity),
			 "fields", fields, "footer", "text", footer,
			 "timestamp", kw_time_format(a->time, t, sizeof(t)),
			 "allowed_mentions", "parse");
}

static enum kw_status discord_create(const json_t *conf,
				     const struct kw_sink_env *env, void **self,
				     struct kw_error *err)
{
	return kw_sink_chat_create(conf, env, "discord", discord_render, NULL,
				   NULL, self, err);
}

/* Where alerts go: what an unnamed sink is known by (sink.h). */
static const char *const destination[] = {"url", NULL};

const struct kw_sink_ops kw_sink_discord = {
	.name = "discord",
	.destination = destination,
	.options = discord_options,
	.for_people = true,
	.create = discord_create,
	.deliver = kw_sink_chat_deliver,
	.destroy = kw_sink_chat_destroy,
	.describe = kw_sink_chat_describe,
	.retry_after = kw_sink_chat_retry_after,
	.answer = kw_sink_chat_answer,
};
