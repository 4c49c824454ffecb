/*
 * chat.c - the slots the chat and paging sinks share (see chat.h), and the
 * pieces their messages are made of: a title, the key and evidence as
 * readable fields, the suppress fragment, a colour per severity.
 *
 * Evidence values are shown as text: strings as they are, numbers as JSON,
 * arrays of strings joined with ", ", anything else as compact JSON; each
 * cut to KW_CHAT_VALUE_MAX bytes at a character boundary.
 */
#include "sink/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ELLIPSIS "\xe2\x80\xa6"

void kw_sink_chat_destroy(void *self)
{
	struct kw_chat *c = self;

	if (!c)
		return;
	kw_sink_http_fini(&c->http);
	kw_sink_secret_free(c->url);
	kw_sink_secret_free(c->key);
	free(c->username);
	free(c->channel);
	free(c);
}

static enum kw_status copy_opt(const json_t *conf, const char *name, char **out,
			       struct kw_error *err)
{
	const char *v = json_string_value(json_object_get(conf, name));

	if (!v)
		return KW_OK;
	*out = strdup(v);
	return *out ? KW_OK : kw_error_set(err, KW_ENOMEM, "out of memory");
}

enum kw_status kw_sink_chat_create(const json_t *conf,
				   const struct kw_sink_env *env,
				   const char *type, kw_chat_render_fn render,
				   const char *default_url,
				   const char *key_option, void **self,
				   struct kw_error *err)
{
	struct kw_chat *c = calloc(1, sizeof(*c));
	enum kw_status st;

	if (!c)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	c->type = type;
	c->render = render;
	st = kw_sink_secret(conf, "url", !default_url, env, type, &c->url, err);
	if (st == KW_OK && !c->url) {
		c->url = strdup(default_url);
		if (!c->url)
			st = kw_error_set(err, KW_ENOMEM, "out of memory");
	}
	if (st == KW_OK)
		st = kw_sink_http_check_url(c->url, env, "url", err);
	if (st == KW_OK && key_option)
		st = kw_sink_secret(conf, key_option, true, env, type, &c->key,
				    err);
	if (st == KW_OK)
		st = copy_opt(conf, "username", &c->username, err);
	if (st == KW_OK)
		st = copy_opt(conf, "channel", &c->channel, err);
	c->resolve = json_is_true(json_object_get(conf, "resolve"));
	if (st == KW_OK)
		st = kw_sink_http_init(&c->http, kw_sink_http_timeout(conf),
				       err);
	if (st != KW_OK) {
		kw_sink_chat_destroy(c);
		return st;
	}
	*self = c;
	return KW_OK;
}

enum kw_sink_result kw_sink_chat_deliver(void *self, const struct kw_alert *a,
					 const char *json, size_t len,
					 struct kw_error *err)
{
	struct kw_chat *c = self;
	json_t *payload;
	char *body;
	enum kw_sink_result r;

	(void)json;
	(void)len;
	/* A closing with nothing new is not worth a message to a person;
	 * only a service that resolves (pagerduty) hears of it. */
	if (kw_sink_chat_bare_close(a) && !c->resolve)
		return KW_SINK_OK;
	payload = c->render(c, a);
	body = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
	if (json_is_null(payload)) {
		json_decref(payload);
		return KW_SINK_OK; /* nothing for this service to tell */
	}
	json_decref(payload);
	if (!body) {
		kw_error_set(err, KW_ENOMEM,
			     "out of memory rendering the alert");
		return KW_SINK_RETRY;
	}
	r = kw_sink_http_post(&c->http, c->url, NULL, body, strlen(body), err);
	free(body);
	return r;
}

void kw_sink_chat_describe(void *self, char *buf, size_t cap)
{
	struct kw_chat *c = self;
	char url[256];

	kw_sink_http_redact(c->url, url, sizeof(url));
	snprintf(buf, cap, "%s %s (%stimeout %lld s)", c->type, url,
		 c->key ? "routing key set, " : "",
		 (long long)(c->http.timeout_ms / 1000));
}

int64_t kw_sink_chat_retry_after(void *self)
{
	return ((struct kw_chat *)self)->http.retry_after_ms;
}

/* ------------------------------------------------------------- rendering */

/* Copy s into buf, cut at a character boundary with an ellipsis. */
static void cut(const char *s, char *buf, size_t cap)
{
	size_t n = strlen(s);

	if (n < cap) {
		memcpy(buf, s, n + 1);
		return;
	}
	n = cap - sizeof(ELLIPSIS);
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	memcpy(buf, s, n);
	memcpy(buf + n, ELLIPSIS, sizeof(ELLIPSIS));
}

static void value_text(const json_t *v, char *buf, size_t cap)
{
	char *s = NULL;

	if (json_is_string(v)) {
		cut(json_string_value(v), buf, cap);
		return;
	}
	if (json_is_array(v)) {
		size_t i, off = 0;
		json_t *e;
		bool strings = true;

		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e))
				strings = false;
		}
		if (strings) {
			char tmp[KW_CHAT_VALUE_MAX * 2] = "";

			json_array_foreach(v, i, e)
			{
				if (off >= sizeof(tmp))
					break;
				off += (size_t)snprintf(
					tmp + off, sizeof(tmp) - off, "%s%s",
					i ? ", " : "", json_string_value(e));
			}
			cut(tmp, buf, cap);
			return;
		}
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	cut(s ? s : "", buf, cap);
	free(s);
}

size_t kw_sink_chat_fields(const struct kw_alert *a, struct kw_chat_field *f,
			   size_t max)
{
	const char *k;
	json_t *v;
	size_t n = 0;

	if (max == 0)
		return 0;
	snprintf(f[n].name, sizeof(f[n].name), "Key");
	if (a->key.name[0])
		snprintf(f[n].value, sizeof(f[n].value), "%s (%s)", a->key.id,
			 a->key.name);
	else
		snprintf(f[n].value, sizeof(f[n].value), "%s", a->key.id);
	n++;
	json_object_foreach(a->evidence, k, v)
	{
		if (n == max)
			break;
		snprintf(f[n].name, sizeof(f[n].name), "%s", k);
		value_text(v, f[n].value, sizeof(f[n].value));
		n++;
	}
	return n;
}

void kw_sink_chat_suppress(const struct kw_alert *a, char *buf, size_t cap)
{
	char *s = json_dumps(a->suppress, JSON_COMPACT);

	snprintf(buf, cap, "%s", s ? s : "{}");
	free(s);
}

const char *kw_sink_chat_event(const struct kw_alert *a)
{
	return json_string_value(json_object_get(a->update, "event"));
}

bool kw_sink_chat_bare_close(const struct kw_alert *a)
{
	const char *ev = kw_sink_chat_event(a);

	return ev && !strcmp(ev, "closed") &&
	       json_integer_value(json_object_get(a->update, "new_alerts")) ==
		       0;
}

void kw_sink_chat_title(const struct kw_alert *a, char *buf, size_t cap)
{
	char sev[16];
	size_t i;
	const char *name = kw_severity_name(a->severity);

	for (i = 0; name[i] && i + 1 < sizeof(sev); i++)
		sev[i] = (char)(name[i] >= 'a' && name[i] <= 'z'
					? name[i] - 'a' + 'A'
					: name[i]);
	sev[i] = '\0';
	snprintf(buf, cap, "%s \xc2\xb7 %s", sev, a->detector);
}

unsigned kw_sink_chat_colour(enum kw_severity s)
{
	static const unsigned colours[KW_SEV_MAX] = {
		0x9e9e9e, /* info */
		0x4a90d9, /* low */
		0xf2c744, /* medium */
		0xe8590c, /* high */
		0xd00000, /* critical */
	};

	return (unsigned)s < KW_SEV_MAX ? colours[s] : colours[0];
}
