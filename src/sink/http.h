/*
 * http.h - what the HTTP sinks (webhook, slack, discord, teams, mattermost,
 * pagerduty) share: one libcurl handle per sink, set up the same way (TLS
 * verification on, http and https only, proxies from the environment, a
 * timeout, no signals), a POST that turns the response into the sink
 * answer OK, RETRY or FAIL, Retry-After parsing, and URL redaction.
 *
 * The one idea: the answer depends on the status code only. 2xx is OK;
 * 408, 429, 5xx and every transport error (refused, timed out, reset) are
 * RETRY; any other code is FAIL, with the start of the response body in the
 * message for the dead-letter file. A URL never appears in a message: for
 * Slack, Discord and Teams the URL is the credential.
 */
#ifndef KW_SINK_HTTP_H
#define KW_SINK_HTTP_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "sink/sink.h"

#define KW_HTTP_BODY_MAX 256 /* kept of a response body, for messages */
#define KW_HTTP_DEFAULT_TIMEOUT "10s"

struct kw_http {
	CURL *curl;
	struct curl_slist *headers; /* Content-Type and the sink's own */
	long timeout_ms;
	int64_t retry_after_ms; /* of the last response; 0: none */
	long code;		/* of the last response; 0: none */
	char body[KW_HTTP_BODY_MAX];
	size_t body_len;
};

/* Set up h (zeroed by the caller) with a JSON Content-Type and a timeout.
 * Call on the main thread (it runs curl_global_init once). */
enum kw_status kw_sink_http_init(struct kw_http *h, int64_t timeout_us,
				 struct kw_error *err);

/* Add a header sent with every request ("Name: value"). */
enum kw_status kw_sink_http_add_header(struct kw_http *h, const char *line,
				       struct kw_error *err);

/* POST body to url with the base headers plus extra (may be NULL; borrowed
 * for the call). Sets h->code, h->retry_after_ms and h->body. */
enum kw_sink_result kw_sink_http_post(struct kw_http *h, const char *url,
				      const struct curl_slist *extra,
				      const char *body, size_t len,
				      struct kw_error *err);

/* NULL-safe, idempotent. */
void kw_sink_http_fini(struct kw_http *h);

/* The last response as "HTTP 200: <the start of its body>", into buf; ""
 * when there was none (a transport error). */
void kw_sink_http_answer(const struct kw_http *h, char *buf, size_t cap);

/* OK, RETRY or FAIL for an HTTP status code. */
enum kw_sink_result kw_sink_http_classify(long code);

/* A Retry-After value (delta seconds or an HTTP date) in milliseconds from
 * now_s (Unix seconds), capped at one hour; -1 when it cannot be read. */
int64_t kw_sink_http_retry_after(const char *value, int64_t now_s);

/* "https://hooks.slack.com/…": the scheme and host, never the user, path
 * or query. */
void kw_sink_http_redact(const char *url, char *buf, size_t cap);

/* Read a secret option (may be "env:NAME") of conf into *out (malloc'ed;
 * free with kw_sink_secret_free). A missing option leaves *out NULL and is
 * an error only when required. Messages name file and where, never the
 * value. */
enum kw_status kw_sink_secret(const json_t *conf, const char *name,
			      bool required, const struct kw_sink_env *env,
			      const char *sink, char **out,
			      struct kw_error *err);
/* Wipe and free; NULL-safe. */
void kw_sink_secret_free(char *s);

/* An http:// or https:// URL with a host; the error names the option, never
 * the value. */
enum kw_status kw_sink_http_check_url(const char *url,
				      const struct kw_sink_env *env,
				      const char *option, struct kw_error *err);

/* The sink's "timeout" option (a duration; default 10s) in microseconds. */
int64_t kw_sink_http_timeout(const json_t *conf);

/* The webhook signature header value, "t=<t>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>" keyed with secret>", into buf (>= 80 bytes). */
enum kw_status kw_sink_webhook_sign(const char *secret, int64_t t,
				    const char *body, size_t len, char *buf,
				    size_t cap);

#endif
