/*
 * discord.c - the Discord sink: a channel webhook (the URL is the
 * credential) and one embed: the title with the severity and detector, the
 * summary, the key and evidence as inline fields, the alert's event time,
 * a colour per severity, and the alert id and suppress fragment in the
 * footer.
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
	{NULL, 0, NULL, NULL},
};

static json_t *discord_render(const struct kw_chat *c, const struct kw_alert *a)
{
	struct kw_chat_field f[KW_CHAT_MAX_FIELDS];
	size_t n = kw_sink_chat_fields(a, f, KW_CHAT_MAX_FIELDS);
	char title[160], sup[1024], footer[1200], t[32];
	json_t *fields = json_array();

	kw_sink_chat_title(a, title, sizeof(title));
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
			fields, json_pack("{s:s,s:s,s:b}", "name", f[i].name,
					  "value", f[i].value, "inline", 1));
	kw_sink_chat_suppress(a, sup, sizeof(sup));
	snprintf(footer, sizeof(footer), "%s \xc2\xb7 to silence it: %s", a->id,
		 sup);
	return json_pack("{s:s,s:[{s:s,s:s,s:I,s:o,s:{s:s},s:s}],s:{s:[]}}",
			 "username", c->username ? c->username : "keywatch",
			 "embeds", "title", title, "description", a->summary,
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

const struct kw_sink_ops kw_sink_discord = {
	.name = "discord",
	.options = discord_options,
	.for_people = true,
	.create = discord_create,
	.deliver = kw_sink_chat_deliver,
	.destroy = kw_sink_chat_destroy,
	.describe = kw_sink_chat_describe,
	.retry_after = kw_sink_chat_retry_after,
};
