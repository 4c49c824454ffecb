/*
 * httpd.h - the metrics listener: a small HTTP/1.1 server on a thread of
 * its own that answers GET (and HEAD) /metrics with the text the daemon
 * last published and /healthz with "ok", so that no client, however slow
 * or idle, can hold up the daemon's loop, and the loop cannot hold up a
 * scrape.
 *
 * Bounds: at most KW_HTTPD_CONN_MAX connections; when all are taken, a new
 * one replaces the oldest that has not sent its whole request yet (so idle
 * connections never lock a scraper out). A request head must arrive whole
 * within KW_HTTPD_REQUEST_MS and fit in KW_HTTPD_REQUEST_MAX bytes; a
 * response must be taken within KW_HTTPD_SEND_MS. One request per
 * connection (Connection: close).
 */
#ifndef KW_DAEMON_HTTPD_H
#define KW_DAEMON_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define KW_HTTPD_CONN_MAX 128
#define KW_HTTPD_REQUEST_MAX 4096
#define KW_HTTPD_REQUEST_MS 5000
#define KW_HTTPD_SEND_MS 10000

/* What the listener counts (read with kw_httpd_stats). */
struct kw_httpd_stats {
	uint64_t requests; /* answered, whatever the status */
	uint64_t evicted;  /* idle connections closed for a new one */
	uint64_t timeouts; /* closed for a request or a send too slow */
	uint64_t refused;  /* closed at once: every slot was sending */
};

struct kw_httpd;

/* Listen on spec ("ADDRESS:PORT"; an IPv6 address in brackets) and start
 * the thread. Errors name spec (a malformed one: KW_ECONFIG; one that
 * cannot be bound: KW_EIO). *out is owned by the caller (kw_httpd_stop). */
enum kw_status kw_httpd_start(const char *spec, struct kw_httpd **out,
			      struct kw_error *err);

/* Replace the body /metrics serves. text (len bytes, malloc'ed) is taken
 * over; NULL-safe on h (text is then freed). Thread-safe. */
void kw_httpd_publish(struct kw_httpd *h, char *text, size_t len);

/* Thread-safe. */
void kw_httpd_stats(struct kw_httpd *h, struct kw_httpd_stats *out);

/* Stop the thread, close every connection and the listener. NULL-safe. */
void kw_httpd_stop(struct kw_httpd *h);

#endif
