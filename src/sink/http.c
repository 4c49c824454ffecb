/*
 * http.c - the libcurl set-up every HTTP sink shares (see http.h): one easy
 * handle per sink, reused so connections are kept alive, driven only from
 * that sink's delivery thread. curl_global_init runs once, on the thread
 * that creates the first HTTP sink, before any delivery thread exists.
 *
 * Proxies come from the environment (http_proxy, https_proxy, no_proxy),
 * which is libcurl's default as long as CURLOPT_PROXY is never set.
 */
#include "sink/http.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/time.h"

#define RETRY_AFTER_CAP_MS (INT64_C(3600) * 1000)

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Keep the first KW_HTTP_BODY_MAX - 1 bytes of the response body. */
static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct kw_http *h = ctx;
	size_t len = size * n;
	size_t room = sizeof(h->body) - 1 - h->body_len;
	size_t take = len < room ? len : room;

	memcpy(h->body + h->body_len, data, take);
	h->body_len += take;
	h->body[h->body_len] = '\0';
	return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct kw_http *h = ctx;
	size_t len = size * n;
	static const char name[] = "retry-after:";
	char value[128];
	size_t vlen;

	if (len <= sizeof(name) - 1 ||
	    strncasecmp(data, name, sizeof(name) - 1) != 0)
		return len;
	vlen = len - (sizeof(name) - 1);
	if (vlen >= sizeof(value))
		vlen = sizeof(value) - 1;
	memcpy(value, data + sizeof(name) - 1, vlen);
	value[vlen] = '\0';
	h->retry_after_ms =
		kw_sink_http_retry_after(value, (int64_t)time(NULL));
	if (h->retry_after_ms < 0)
		h->retry_after_ms = 0;
	return len;
}

enum kw_status kw_sink_http_init(struct kw_http *h, int64_t timeout_us,
				 struct kw_error *err)
{
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return kw_error_set(err, KW_EIO, "libcurl: %s",
				    curl_easy_strerror(global_rc));
	h->timeout_ms = (long)(timeout_us / 1000);
	h->curl = curl_easy_init();
	if (!h->curl)
		return kw_error_set(err, KW_ENOMEM, "libcurl: out of memory");
	/* No "Expect: 100-continue" round trip before a large body. */
	if (kw_sink_http_add_header(h, "Expect:", err) != KW_OK)
		return KW_ENOMEM;
	return kw_sink_http_add_header(h, "Content-Type: application/json",
				       err);
}

enum kw_status kw_sink_http_add_header(struct kw_http *h, const char *line,
				       struct kw_error *err)
{
	struct curl_slist *l = curl_slist_append(h->headers, line);

	if (!l)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	h->headers = l;
	return KW_OK;
}

enum kw_sink_result kw_sink_http_classify(long code)
{
	if (code >= 200 && code < 300)
		return KW_SINK_OK;
	if (code == 408 || code == 429 || code >= 500 || code < 100)
		return KW_SINK_RETRY;
	return KW_SINK_FAIL;
}

/* The body as one printable line (control characters become spaces). */
static void body_line(const struct kw_http *h, char *buf, size_t cap)
{
	size_t j = 0;

	for (size_t i = 0; i < h->body_len && j + 1 < cap; i++) {
		unsigned char c = (unsigned char)h->body[i];

		buf[j++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	while (j > 0 && buf[j - 1] == ' ')
		j--;
	buf[j] = '\0';
}

static enum kw_sink_result set_up(struct kw_http *h, const char *url,
				  struct curl_slist *headers, const char *body,
				  size_t len, char *errbuf)
{
	CURL *c = h->curl;

	curl_easy_reset(c);
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") !=
		    CURLE_OK)
		return KW_SINK_FAIL;
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->timeout_ms);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "keywatch");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	return KW_SINK_OK;
}

enum kw_sink_result kw_sink_http_post(struct kw_http *h, const char *url,
				      const struct curl_slist *extra,
				      const char *body, size_t len,
				      struct kw_error *err)
{
	struct curl_slist *all = NULL, *l;
	char errbuf[CURL_ERROR_SIZE] = "";
	char line[KW_HTTP_BODY_MAX];
	enum kw_sink_result r = KW_SINK_RETRY;
	CURLcode rc;

	h->code = 0;
	h->retry_after_ms = 0;
	h->body_len = 0;
	h->body[0] = '\0';
	/* The base headers, then the extra ones, in one list for the call. */
	for (const struct curl_slist *s = h->headers; s; s = s->next) {
		l = curl_slist_append(all, s->data);
		if (!l)
			goto nomem;
		all = l;
	}
	for (const struct curl_slist *s = extra; s; s = s->next) {
		l = curl_slist_append(all, s->data);
		if (!l)
			goto nomem;
		all = l;
	}
	if (set_up(h, url, all, body, len, errbuf) != KW_SINK_OK) {
		kw_error_set(err, KW_ECONFIG, "the URL is not usable");
		r = KW_SINK_FAIL;
		goto cleanup;
	}
	rc = curl_easy_perform(h->curl);
	if (rc != CURLE_OK) {
		/* curl's messages name the host at most, never the path. */
		kw_error_set(err, KW_ERETRY, "%s",
			     errbuf[0] ? errbuf : curl_easy_strerror(rc));
		r = rc == CURLE_UNSUPPORTED_PROTOCOL ||
				    rc == CURLE_URL_MALFORMAT
			    ? KW_SINK_FAIL
			    : KW_SINK_RETRY;
		goto cleanup;
	}
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->code);
	r = kw_sink_http_classify(h->code);
	if (r == KW_SINK_OK)
		goto cleanup;
	body_line(h, line, sizeof(line));
	if (h->retry_after_ms && (h->code == 429 || h->code == 503))
		kw_error_set(err, KW_ERETRY,
			     "HTTP %ld (retry after %lld ms)%s%s", h->code,
			     (long long)h->retry_after_ms, line[0] ? ": " : "",
			     line);
	else
		kw_error_set(err, r == KW_SINK_RETRY ? KW_ERETRY : KW_EINVAL,
			     "HTTP %ld%s%s", h->code, line[0] ? ": " : "",
			     line);
	if (h->code != 429 && h->code != 503)
		h->retry_after_ms = 0;
	goto cleanup;
nomem:
	kw_error_set(err, KW_ENOMEM, "out of memory");
	r = KW_SINK_RETRY;
cleanup:
	curl_slist_free_all(all);
	return r;
}

void kw_sink_http_answer(const struct kw_http *h, char *buf, size_t cap)
{
	char line[KW_HTTP_BODY_MAX];

	if (!cap)
		return;
	buf[0] = '\0';
	if (!h->code)
		return;
	body_line(h, line, sizeof(line));
	snprintf(buf, cap, "HTTP %ld%s%s", h->code, line[0] ? ": " : "", line);
}

void kw_sink_http_fini(struct kw_http *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	curl_slist_free_all(h->headers);
	h->curl = NULL;
	h->headers = NULL;
}

int64_t kw_sink_http_retry_after(const char *value, int64_t now_s)
{
	char buf[128];
	size_t n = 0;
	const char *p = value;
	int64_t ms;

	while (*p == ' ' || *p == '\t')
		p++;
	while (*p && *p != '\r' && *p != '\n' && n + 1 < sizeof(buf))
		buf[n++] = *p++;
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	buf[n] = '\0';
	if (!n)
		return -1;
	if (isdigit((unsigned char)buf[0])) {
		char *end;
		unsigned long long s = strtoull(buf, &end, 10);

		if (*end)
			return -1;
		if (s > RETRY_AFTER_CAP_MS / 1000)
			return RETRY_AFTER_CAP_MS;
		return (int64_t)s * 1000;
	} else {
		time_t t = curl_getdate(buf, NULL);

		if (t == (time_t)-1)
			return -1;
		ms = ((int64_t)t - now_s) * 1000;
		if (ms < 0)
			return 0;
		return ms > RETRY_AFTER_CAP_MS ? RETRY_AFTER_CAP_MS : ms;
	}
}

void kw_sink_http_redact(const char *url, char *buf, size_t cap)
{
	const char *p = strstr(url, "://");
	const char *host, *end, *at;

	if (!p) {
		snprintf(buf, cap, "(a URL)");
		return;
	}
	host = p + 3;
	end = host + strcspn(host, "/?#");
	at = memchr(host, '@', (size_t)(end - host));
	if (at)
		host = at + 1;
	snprintf(buf, cap, "%.*s://%.*s%s", (int)(p - url), url,
		 (int)(end - host), host, *end ? "/\xe2\x80\xa6" : "");
}

enum kw_status kw_sink_secret(const json_t *conf, const char *name,
			      bool required, const struct kw_sink_env *env,
			      const char *sink, char **out,
			      struct kw_error *err)
{
	const json_t *v = json_object_get(conf, name);
	enum kw_status st;

	*out = NULL;
	if (!json_is_string(v) || !json_string_value(v)[0]) {
		if (!required)
			return KW_OK;
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s: the %s sink needs a '%s'",
				    env->file, env->where, sink, name);
	}
	st = kw_config_secret(json_string_value(v), out, err);
	if (st == KW_ENOMEM)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	if (st != KW_OK)
		return kw_error_prefix(err, "%s: %s.%s", env->file, env->where,
				       name);
	return KW_OK;
}

void kw_sink_secret_free(char *s)
{
	if (!s)
		return;
	/* volatile: the wipe must not be optimised away. */
	for (volatile char *p = s; *p; p++)
		*p = '\0';
	free(s);
}

enum kw_status kw_sink_http_check_url(const char *url,
				      const struct kw_sink_env *env,
				      const char *option, struct kw_error *err)
{
	size_t skip = !strncmp(url, "https://", 8)  ? 8
		      : !strncmp(url, "http://", 7) ? 7
						    : 0;

	if (skip && url[skip] && !strchr("/?#", url[skip]) &&
	    !strpbrk(url, " \t\r\n"))
		return KW_OK;
	return kw_error_set(err, KW_ECONFIG,
			    "%s: %s.%s: expected an http:// or https:// URL "
			    "(the value is not shown: it may be a secret)",
			    env->file, env->where, option);
}

int64_t kw_sink_http_timeout(const json_t *conf)
{
	const json_t *v = json_object_get(conf, "timeout");
	int64_t us = 0;

	if (!v || !kw_duration_parse(json_string_value(v), &us))
		kw_duration_parse(KW_HTTP_DEFAULT_TIMEOUT, &us);
	return us;
}
