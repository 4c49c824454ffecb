/*
 * teams.c - the Microsoft Teams sink: a Workflows webhook ("Post to a
 * channel when a webhook request is received"; the URL is the credential)
 * carrying one Adaptive Card: the severity and detector as the title, the
 * summary, the key and evidence as a FactSet, and the alert id and the
 * suppress fragment in small monospace text.
 *
 * The Office 365 connector webhooks (MessageCard) are retired; Workflows
 * take the "message" envelope with an attachment of content type
 * application/vnd.microsoft.card.adaptive.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink/chat.h"

static const struct kw_option teams_options[] = {
	{"url", KW_OPT_SECRET, NULL,
	 "the Workflows webhook URL (a credential: use \"env:NAME\")"},
	{"timeout", KW_OPT_DURATION, KW_HTTP_DEFAULT_TIMEOUT,
	 "give up on one attempt after this long", KW_SINK_TIMEOUT_MAX},
	{NULL, 0, NULL, NULL},
};

static const char *card_colour(enum kw_severity s)
{
	return s >= KW_SEV_HIGH	    ? "Attention"
	       : s == KW_SEV_MEDIUM ? "Warning"
				    : "Default";
}

static json_t *teams_render(const struct kw_chat *c, const struct kw_alert *a)
{
	struct kw_chat_field f[KW_CHAT_MAX_FIELDS];
	size_t n = kw_sink_chat_fields(a, f, KW_CHAT_MAX_FIELDS);
	char title[160], sup[1024], foot[1200];
	json_t *facts = json_array();
	json_t *card;

	(void)c;
	kw_sink_chat_title(a, title, sizeof(title));
	for (size_t i = 0; i < n; i++)
		json_array_append_new(facts,
				      json_pack("{s:s,s:s}", "title", f[i].name,
						"value", f[i].value));
	kw_sink_chat_suppress(a, sup, sizeof(sup));
	snprintf(foot, sizeof(foot), "%s \xc2\xb7 to silence it: %s", a->id,
		 sup);
	card = json_pack(
		"{s:s,s:s,s:s,s:[{s:s,s:s,s:s,s:s,s:s,s:b},"
		"{s:s,s:s,s:b},{s:s,s:o},{s:s,s:s,s:b,s:b,s:s,s:s}]}",
		"$schema", "http://adaptivecards.io/schemas/adaptive-card.json",
		"type", "AdaptiveCard", "version", "1.4", "body", "type",
		"TextBlock", "text", title, "weight", "Bolder", "size",
		"Medium", "color", card_colour(a->severity), "wrap", 1, "type",
		"TextBlock", "text", a->summary, "wrap", 1, "type", "FactSet",
		"facts", facts, "type", "TextBlock", "text", foot, "wrap", 1,
		"isSubtle", 1, "size", "Small", "fontType", "Monospace");
	return json_pack("{s:s,s:[{s:s,s:n,s:o}]}", "type", "message",
			 "attachments", "contentType",
			 "application/vnd.microsoft.card.adaptive",
			 "contentUrl", "content", card);
}

static enum kw_status teams_create(const json_t *conf,
				   const struct kw_sink_env *env, void **self,
				   struct kw_error *err)
{
	return kw_sink_chat_create(conf, env, "teams", teams_render, NULL, NULL,
				   self, err);
}

const struct kw_sink_ops kw_sink_teams = {
	.name = "teams",
	.options = teams_options,
	.for_people = true,
	.create = teams_create,
	.deliver = kw_sink_chat_deliver,
	.destroy = kw_sink_chat_destroy,
	.describe = kw_sink_chat_describe,
	.retry_after = kw_sink_chat_retry_after,
};
