/*
 * metrics.c - the daemon's counters, served as Prometheus text on
 * metrics.listen (GET /metrics; GET /healthz answers "ok") and logged on
 * SIGUSR1. The counters of the engine, tailer and router are read from
 * them; the daemon's own (alerts by detector and severity, repeats
 * dropped after a restart, checkpoints) live here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "daemon/metrics.h"

#define DETECTOR_NAME_MAX 64

struct kw_metrics {
	int fd; /* listening socket, or -1 */
	uint64_t alerts[KW_ROUTER_MAX_DETECTORS][KW_SEV_MAX];
	char detectors[KW_ROUTER_MAX_DETECTORS][DETECTOR_NAME_MAX];
	size_t ndetectors;
	uint64_t repeats;     /* alerts raised again after a restart */
	uint64_t checkpoints; /* written */
};

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

enum kw_status kw_metrics_create(struct kw_metrics **out)
{
	struct kw_metrics *m = calloc(1, sizeof(*m));

	*out = m;
	if (!m)
		return KW_ENOMEM;
	m->fd = -1;
	return KW_OK;
}

void kw_metrics_alert(struct kw_metrics *m, const char *detector,
		      enum kw_severity sev)
{
	size_t i;

	for (i = 0; i < m->ndetectors; i++) {
		if (!strcmp(m->detectors[i], detector))
			break;
	}
	if (i == m->ndetectors && i < KW_ROUTER_MAX_DETECTORS) {
		snprintf(m->detectors[i], sizeof(m->detectors[i]), "%s",
			 detector);
		m->ndetectors++;
	}
	if (i < KW_ROUTER_MAX_DETECTORS && sev < KW_SEV_MAX)
		m->alerts[i][sev]++;
}

void kw_metrics_repeat(struct kw_metrics *m)
{
	m->repeats++;
}

void kw_metrics_checkpoint(struct kw_metrics *m)
{
	m->checkpoints++;
}

/* ---------------------------------------------------------- listener */

enum kw_status kw_metrics_listen(struct kw_metrics *m, const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char host[256];
	const char *colon = strrchr(spec, ':');
	long port;
	int one = 1, fd = -1;

	memset(&ss, 0, sizeof(ss));
	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(host))
		goto bad;
	port = strtol(colon + 1, NULL, 10);
	if (port <= 0 || port > 65535)
		goto bad;
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		host[strlen(host) - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			goto bad;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			goto bad;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		len = sizeof(*a);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 16)) {
		kw_log_error(NULL, "metrics.listen %s: %s", spec,
			     strerror(errno));
		if (fd >= 0)
			close(fd);
		return KW_EIO;
	}
	m->fd = fd;
	kw_log_info("watch", "metrics on http://%s/metrics", spec);
	return KW_OK;
bad:
	kw_log_error(NULL,
		     "metrics.listen %s: expected ADDRESS:PORT such as "
		     "127.0.0.1:9187 or [::1]:9187",
		     spec);
	return KW_ECONFIG;
}

/* -------------------------------------------------------------- text */

/* A label value: backslash, quote and newline escaped. */
static void label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

struct lag_ctx {
	FILE *f;
	bool seconds;
};

static void lag_line(void *ctx, const struct kw_tail_file_info *fi)
{
	struct lag_ctx *lc = ctx;

	fprintf(lc->f, "keywatch_input_lag_%s{path=\"",
		lc->seconds ? "seconds" : "bytes");
	label(lc->f, fi->path);
	if (lc->seconds)
		fprintf(lc->f, "\"} %.3f\n", (double)fi->lag_us / 1e6);
	else
		fprintf(lc->f, "\"} %" PRIu64 "\n", fi->lag);
}

static void metrics_text(struct kw_metrics *m, const struct kw_metrics_view *v,
			 FILE *f)
{
	const struct kw_engine_stats *es = kw_engine_stats(v->engine);
	const struct kw_tail_stats *ts = kw_tail_stats(v->tail);
	struct lag_ctx lc = {f, false};
	struct kw_delivery_stats ds;

	fprintf(f,
		"# TYPE keywatch_events_read_total counter\n"
		"keywatch_events_read_total %" PRIu64 "\n",
		es->events);
	fprintf(f,
		"# TYPE keywatch_records_read_total counter\n"
		"keywatch_records_read_total %" PRIu64 "\n",
		es->records);
	fprintf(f,
		"# TYPE keywatch_bytes_read_total counter\n"
		"keywatch_bytes_read_total %" PRIu64 "\n",
		ts->bytes);
	fprintf(f, "# TYPE keywatch_events_skipped_total counter\n");
	for (int r = 0; r < KW_SKIP_REASON_MAX; r++)
		fprintf(f,
			"keywatch_events_skipped_total{reason=\"%s\"} %" PRIu64
			"\n",
			kw_skip_reason_name((enum kw_skip_reason)r),
			es->skips.count[r]);
	fprintf(f, "# TYPE keywatch_input_lag_bytes gauge\n");
	kw_tail_foreach(v->tail, mono_us(), lag_line, &lc);
	lc.seconds = true;
	fprintf(f, "# TYPE keywatch_input_lag_seconds gauge\n");
	kw_tail_foreach(v->tail, mono_us(), lag_line, &lc);
	fprintf(f,
		"# TYPE keywatch_files_followed gauge\n"
		"keywatch_files_followed %" PRIu64 "\n",
		ts->files);
	fprintf(f,
		"# TYPE keywatch_keys_tracked gauge\n"
		"keywatch_keys_tracked %zu\n",
		es->keys);
	fprintf(f, "# TYPE keywatch_alerts_total counter\n");
	for (size_t i = 0; i < m->ndetectors; i++)
		for (int s = 0; s < KW_SEV_MAX; s++)
			if (m->alerts[i][s])
				fprintf(f,
					"keywatch_alerts_total{detector=\"%s\","
					"severity=\"%s\"} %" PRIu64 "\n",
					m->detectors[i],
					kw_severity_name((enum kw_severity)s),
					m->alerts[i][s]);
	fprintf(f, "# TYPE keywatch_sink_queue_depth gauge\n"
		   "# TYPE keywatch_deliveries_total counter\n"
		   "# TYPE keywatch_spool_bytes gauge\n");
	for (size_t i = 0; i < kw_router_nsinks(v->router); i++) {
		struct kw_delivery *d = kw_router_delivery(v->router, i);
		const char *name = kw_router_sink(v->router, i)->name;
		struct stat sb;

		if (!d)
			continue;
		kw_delivery_stats(d, &ds);
		fprintf(f, "keywatch_sink_queue_depth{sink=\"");
		label(f, name);
		fprintf(f, "\"} %zu\n", ds.pending);
		fprintf(f, "keywatch_deliveries_total{sink=\"");
		label(f, name);
		fprintf(f, "\",result=\"ok\"} %" PRIu64 "\n", ds.delivered);
		fprintf(f, "keywatch_deliveries_total{sink=\"");
		label(f, name);
		fprintf(f, "\",result=\"retried\"} %" PRIu64 "\n", ds.retries);
		fprintf(f, "keywatch_deliveries_total{sink=\"");
		label(f, name);
		fprintf(f, "\",result=\"failed\"} %" PRIu64 "\n", ds.dead);
		fprintf(f, "keywatch_spool_bytes{sink=\"");
		label(f, name);
		fprintf(f, "\"} %lld\n",
			ds.spool[0] && stat(ds.spool, &sb) == 0
				? (long long)sb.st_size
				: 0LL);
	}
	fprintf(f,
		"# TYPE keywatch_checkpoints_total counter\n"
		"keywatch_checkpoints_total %" PRIu64 "\n",
		m->checkpoints);
}

/* One request per connection, answered at once (scrapes are rare). */
void kw_metrics_serve(struct kw_metrics *m, const struct kw_metrics_view *v)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
	char req[1024], *body = NULL, head[256];
	size_t blen = 0;
	ssize_t n;
	const char *status = "200 OK", *ctype = "text/plain; version=0.0.4";
	FILE *f;
	int c;

	if (m->fd < 0)
		return;
	c = accept4(m->fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	n = recv(c, req, sizeof(req) - 1, 0);
	if (n <= 0)
		goto cleanup;
	req[n] = '\0';
	f = open_memstream(&body, &blen);
	if (!f)
		goto cleanup;
	if (!strncmp(req, "GET /metrics ", 13) ||
	    !strncmp(req, "GET /metrics?", 13)) {
		metrics_text(m, v, f);
	} else if (!strncmp(req, "GET /healthz ", 13)) {
		ctype = "text/plain";
		fputs("ok\n", f);
	} else {
		status = "404 Not Found";
		ctype = "text/plain";
		fputs("not found: try /metrics or /healthz\n", f);
	}
	fclose(f);
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: "
		     "%zu\r\nConnection: close\r\n\r\n",
		     status, ctype, blen);
	if (send(c, head, (size_t)n, MSG_NOSIGNAL) == n)
		(void)!send(c, body, blen, MSG_NOSIGNAL);
cleanup:
	free(body);
	close(c);
}

/* ---------------------------------------------------------------- log */

void kw_metrics_log(struct kw_metrics *m, const struct kw_metrics_view *v)
{
	const struct kw_engine_stats *es = kw_engine_stats(v->engine);
	const struct kw_tail_stats *ts = kw_tail_stats(v->tail);
	const struct kw_router_stats *rs = kw_router_stats(v->router);

	kw_log_info("watch",
		    "counters: files %" PRIu64 " (opened %" PRIu64
		    ", rotations %" PRIu64 ", truncations %" PRIu64
		    ", copies skipped %" PRIu64 "), bytes %" PRIu64
		    ", events %" PRIu64 ", skipped %" PRIu64 ", keys %zu"
		    ", alerts %" PRIu64
		    " (repeats after restart dropped %" PRIu64
		    "), checkpoints %" PRIu64,
		    ts->files, ts->opened, ts->rotations, ts->truncations,
		    ts->copies, ts->bytes, es->events, es->skips.total,
		    es->keys, rs->delivered, m->repeats, m->checkpoints);
}

void kw_metrics_destroy(struct kw_metrics *m)
{
	if (!m)
		return;
	if (m->fd >= 0)
		close(m->fd);
	free(m);
}
