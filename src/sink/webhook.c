/*
 * webhook.c - the webhook sink: POST the alert JSON (spec/alerts.md, the
 * same bytes as the file sink) to a URL, with the sink's own headers and,
 * when a secret is set, a signature a receiver checks:
 *
 *   Keywatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
 *
 * The timestamp is inside the signed text, so a receiver that rejects a t
 * older than its replay window (five minutes, say) cannot be fed an old
 * alert again. The URL, the secret and header values may be "env:NAME";
 * none of them is ever printed (describe shows the host and header names).
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sink/http.h"

#define MAX_HEADERS 16

static const struct kw_option webhook_options[] = {
	{"url", KW_OPT_SECRET, NULL, "where to POST (may be \"env:NAME\")"},
	{"secret", KW_OPT_SECRET, NULL,
	 "signing secret for Keywatch-Signature (may be \"env:NAME\")"},
	{"headers", KW_OPT_OBJECT, NULL,
	 "extra headers: {\"Authorization\": \"env:HOOK_TOKEN\"}"},
	{"timeout", KW_OPT_DURATION, KW_HTTP_DEFAULT_TIMEOUT,
	 "give up on one attempt after this long", KW_SINK_TIMEOUT_MAX},
	{NULL, 0, NULL, NULL},
};

struct webhook {
	struct kw_http http;
	char *url;
	char *secret;
	char names[MAX_HEADERS][64]; /* header names, for describe */
	size_t nheaders;
};

static void wh_destroy(void *self)
{
	struct webhook *w = self;

	if (!w)
		return;
	kw_sink_http_fini(&w->http);
	kw_sink_secret_free(w->url);
	kw_sink_secret_free(w->secret);
	free(w);
}

static bool header_name_ok(const char *n)
{
	if (!n[0] || strlen(n) >= 64)
		return false;
	for (const char *p = n; *p; p++) {
		if (*p <= ' ' || *p == ':' || *p == 0x7f)
			return false;
	}
	return true;
}

static enum kw_status add_headers(struct webhook *w, const json_t *headers,
				  const struct kw_sink_env *env,
				  struct kw_error *err)
{
	const char *name;
	json_t *v;
	enum kw_status st = KW_OK;

	json_object_foreach((json_t *)headers, name, v)
	{
		char *value = NULL;
		char *line = NULL;
		size_t n;

		if (w->nheaders == MAX_HEADERS)
			return kw_error_set(
				err, KW_ECONFIG,
				"%s: %s.headers: at most %d headers", env->file,
				env->where, MAX_HEADERS);
		if (!header_name_ok(name) || !json_is_string(v))
			return kw_error_set(err, KW_ECONFIG,
					    "%s: %s.headers: '%s' must be a "
					    "header name with a string value",
					    env->file, env->where, name);
		st = kw_config_secret(json_string_value(v), &value, err);
		if (st != KW_OK)
			return st == KW_ENOMEM
				       ? kw_error_set(err, st, "out of memory")
				       : kw_error_prefix(
						 err, "%s: %s.headers.%s",
						 env->file, env->where, name);
		if (strpbrk(value, "\r\n")) {
			kw_sink_secret_free(value);
			return kw_error_set(err, KW_ECONFIG,
					    "%s: %s.headers.%s: a value may "
					    "not hold a line break",
					    env->file, env->where, name);
		}
		n = strlen(name) + strlen(value) + 3;
		line = malloc(n);
		if (line) {
			snprintf(line, n, "%s: %s", name, value);
			st = kw_sink_http_add_header(&w->http, line, err);
		} else {
			st = kw_error_set(err, KW_ENOMEM, "out of memory");
		}
		kw_sink_secret_free(line);
		kw_sink_secret_free(value);
		if (st != KW_OK)
			return st;
		snprintf(w->names[w->nheaders++], sizeof(w->names[0]), "%s",
			 name);
	}
	return st;
}

static enum kw_status wh_create(const json_t *conf,
				const struct kw_sink_env *env, void **self,
				struct kw_error *err)
{
	struct webhook *w = calloc(1, sizeof(*w));
	const json_t *headers = json_object_get(conf, "headers");
	enum kw_status st;

	if (!w)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	st = kw_sink_secret(conf, "url", true, env, "webhook", &w->url, err);
	if (st == KW_OK)
		st = kw_sink_http_check_url(w->url, env, "url", err);
	if (st == KW_OK)
		st = kw_sink_secret(conf, "secret", false, env, "webhook",
				    &w->secret, err);
	if (st == KW_OK)
		st = kw_sink_http_init(&w->http, kw_sink_http_timeout(conf),
				       err);
	if (st == KW_OK && headers)
		st = add_headers(w, headers, env, err);
	if (st != KW_OK) {
		wh_destroy(w);
		return st;
	}
	*self = w;
	return KW_OK;
}

enum kw_status kw_sink_webhook_sign(const char *secret, int64_t t,
				    const char *body, size_t len, char *buf,
				    size_t cap)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char prefix[32];
	int plen = snprintf(prefix, sizeof(prefix), "%lld.", (long long)t);
	unsigned char *text = malloc((size_t)plen + len);
	size_t off;

	if (!text)
		return KW_ENOMEM;
	memcpy(text, prefix, (size_t)plen);
	memcpy(text + plen, body, len);
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), text,
		  (size_t)plen + len, mac, &maclen)) {
		free(text);
		return KW_EIO;
	}
	free(text);
	off = (size_t)snprintf(buf, cap, "t=%lld,v1=", (long long)t);
	for (unsigned int i = 0; i < maclen && off + 2 < cap; i++, off += 2)
		snprintf(buf + off, cap - off, "%02x", mac[i]);
	return KW_OK;
}

static enum kw_sink_result wh_deliver(void *self, const struct kw_alert *a,
				      const char *json, size_t len,
				      struct kw_error *err)
{
	struct webhook *w = self;
	struct curl_slist *extra = NULL;
	char line[160] = "Keywatch-Signature: ";
	size_t pre = strlen(line);
	enum kw_sink_result r;

	(void)a;
	if (w->secret) {
		if (kw_sink_webhook_sign(w->secret, (int64_t)time(NULL), json,
					 len, line + pre,
					 sizeof(line) - pre) != KW_OK) {
			kw_error_set(err, KW_ENOMEM, "cannot sign the alert");
			return KW_SINK_RETRY;
		}
		extra = curl_slist_append(NULL, line);
		if (!extra) {
			kw_error_set(err, KW_ENOMEM, "out of memory");
			return KW_SINK_RETRY;
		}
	}
	r = kw_sink_http_post(&w->http, w->url, extra, json, len, err);
	curl_slist_free_all(extra);
	return r;
}

static int64_t wh_retry_after(void *self)
{
	return ((struct webhook *)self)->http.retry_after_ms;
}

static void wh_answer(void *self, char *buf, size_t cap)
{
	kw_sink_http_answer(&((struct webhook *)self)->http, buf, cap);
}

static void wh_describe(void *self, char *buf, size_t cap)
{
	struct webhook *w = self;
	char url[256];
	size_t off;

	kw_sink_http_redact(w->url, url, sizeof(url));
	off = (size_t)snprintf(buf, cap, "webhook %s (%s, timeout %lld s", url,
			       w->secret ? "signed" : "unsigned",
			       (long long)(w->http.timeout_ms / 1000));
	for (size_t i = 0; i < w->nheaders && off < cap; i++)
		off += (size_t)snprintf(buf + off, cap - off, "%s%s",
					i ? ", " : "; headers: ", w->names[i]);
	if (off < cap)
		snprintf(buf + off, cap - off, ")");
}

/* Where alerts go: what an unnamed sink is known by (sink.h). */
static const char *const destination[] = {"url", NULL};

const struct kw_sink_ops kw_sink_webhook = {
	.name = "webhook",
	.destination = destination,
	.options = webhook_options,
	.create = wh_create,
	.deliver = wh_deliver,
	.destroy = wh_destroy,
	.describe = wh_describe,
	.retry_after = wh_retry_after,
	.answer = wh_answer,
};
