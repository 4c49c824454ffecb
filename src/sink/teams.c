/*
 * teams.c - the Microsoft Teams sink: a Workflows webhook ("Post to a
 * channel when a webhook request is received"; the URL is the credential)
 * carrying one Adaptive Card (sink/chat.h says what it holds): the title
 * in the severity's colour, the incident event, the key, the sentences,
 * the top lists and evidence as a FactSet, the next step, the ids and the
 * suppress fragment in small monospace text, and the links as buttons.
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
	{"suppress_for", KW_OPT_DURATION, "30d",
	 "the suggested suppression ends this long after the alert", "365d"},
	{NULL, 0, NULL, NULL},
};

static const char *card_colour(enum kw_severity s)
{
	return s >= KW_SEV_HIGH	    ? "Attention"
	       : s == KW_SEV_MEDIUM ? "Warning"
				    : "Default";
}

static json_t *text_block(const char *text)
{
	return json_pack("{s:s,s:s,s:b}", "type", "TextBlock", "text", text,
			 "wrap", 1);
}

static json_t *teams_render(const struct kw_chat *c, const struct kw_alert *a)
{
	struct kw_chat_msg m;
	char line[2048], foot[1400];
	json_t *body = json_array(), *facts = json_array(),
	       *actions = json_array(), *card;

	kw_sink_chat_message(a, c->suppress_for, &m);
	json_array_append_new(body,
			      json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "type",
					"TextBlock", "text", m.title, "weight",
					"Bolder", "size", "Medium", "color",
					card_colour(a->severity), "wrap", 1));
	if (m.event[0])
		json_array_append_new(body,
				      json_pack("{s:s,s:s,s:b,s:b}", "type",
						"TextBlock", "text", m.event,
						"isSubtle", 1, "wrap", 1));
	snprintf(line, sizeof(line), "**Key:** %s", m.key);
	json_array_append_new(body, text_block(line));
	json_array_append_new(body, text_block(m.what));
	for (size_t i = 0; i < m.nfields; i++)
		json_array_append_new(
			facts, json_pack("{s:s,s:s}", "title", m.fields[i].name,
					 "value", m.fields[i].value));
	json_array_append_new(body, json_pack("{s:s,s:o}", "type", "FactSet",
					      "facts", facts));
	snprintf(line, sizeof(line), "**Next step:** %s", m.next);
	json_array_append_new(body, text_block(line));
	snprintf(foot, sizeof(foot), "%s \xc2\xb7 to silence it: %s", m.ids,
		 m.suppress);
	json_array_append_new(body,
			      json_pack("{s:s,s:s,s:b,s:b,s:s,s:s}", "type",
					"TextBlock", "text", foot, "wrap", 1,
					"isSubtle", 1, "size", "Small",
					"fontType", "Monospace"));
	for (size_t i = 0; i < m.nlinks; i++)
		json_array_append_new(actions,
				      json_pack("{s:s,s:s,s:s}", "type",
						"Action.OpenUrl", "title",
						m.links[i].text, "url",
						m.links[i].url));
	card = json_pack("{s:s,s:s,s:s,s:o}", "$schema",
			 "http://adaptivecards.io/schemas/adaptive-card.json",
			 "type", "AdaptiveCard", "version", "1.4", "body",
			 body);
	if (card && json_array_size(actions))
		json_object_set(card, "actions", actions);
	json_decref(actions);
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

/* Where alerts go: what an unnamed sink is known by (sink.h). */
static const char *const destination[] = {"url", NULL};

const struct kw_sink_ops kw_sink_teams = {
	.name = "teams",
	.destination = destination,
	.options = teams_options,
	.for_people = true,
	.create = teams_create,
	.deliver = kw_sink_chat_deliver,
	.destroy = kw_sink_chat_destroy,
	.describe = kw_sink_chat_describe,
	.retry_after = kw_sink_chat_retry_after,
	.answer = kw_sink_chat_answer,
};
