/*
 * syslog.c - the syslog sink: one RFC 5424 message per alert, to the local
 * syslog (/dev/log), or to a collector over UDP or TCP (RFC 6587 octet
 * counting: "<length> <message>"). The message carries the alert's id,
 * detector, severity and key as structured data and the summary as text:
 *
 *   <34>1 2026-11-27T09:14:05.123456Z host keywatch 4242 key.honey
 *   [keywatch@32473 id="kwa_…" detector="key.honey" severity="critical"
 *   key="sk_live_…4242" fp="1c9a7e0b44d2f3a1"] decoy key sk_live_…4242 ...
 *
 * Severity maps critical -> crit, high -> err, medium -> warning,
 * low -> notice, info -> info. 32473 is the private enterprise number IANA
 * reserves for examples. A send that fails is RETRY: the socket is closed
 * and opened again on the next attempt.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sink/http.h"

#define SYSLOG_MSG_MAX 4096

static const struct kw_option syslog_options[] = {
	{"address", KW_OPT_STRING, "unix:/dev/log",
	 "unix:/dev/log, udp://HOST:PORT or tcp://HOST:PORT"},
	{"facility", KW_OPT_STRING, "auth",
	 "syslog facility: auth, authpriv, daemon, user, local0..local7"},
	{"app_name", KW_OPT_STRING, "keywatch", "the APP-NAME field"},
	{"timeout", KW_OPT_DURATION, KW_HTTP_DEFAULT_TIMEOUT,
	 "give up on connecting or sending after this long",
	 KW_SINK_TIMEOUT_MAX},
	{NULL, 0, NULL, NULL},
};

enum transport { T_UNIX, T_UDP, T_TCP };

struct syslog_sink {
	enum transport t;
	char path[108]; /* unix */
	char host[256]; /* udp, tcp */
	char port[16];	/* udp, tcp */
	char app[49];	/* RFC 5424: at most 48 */
	char hostname[256];
	int facility;
	int fd;
	long timeout_ms;
};

static const struct {
	const char *name;
	int code;
} facilities[] = {
	{"kern", 0},	{"user", 1},	{"mail", 2},	  {"daemon", 3},
	{"auth", 4},	{"syslog", 5},	{"lpr", 6},	  {"news", 7},
	{"uucp", 8},	{"cron", 9},	{"authpriv", 10}, {"ftp", 11},
	{"local0", 16}, {"local1", 17}, {"local2", 18},	  {"local3", 19},
	{"local4", 20}, {"local5", 21}, {"local6", 22},	  {"local7", 23},
};

static int severity_code(enum kw_severity s)
{
	switch (s) {
	case KW_SEV_CRITICAL:
		return 2;
	case KW_SEV_HIGH:
		return 3;
	case KW_SEV_MEDIUM:
		return 4;
	case KW_SEV_LOW:
		return 5;
	default:
		return 6;
	}
}

static bool parse_address(struct syslog_sink *s, const char *a)
{
	const char *hp, *colon;

	if (!strncmp(a, "unix:", 5)) {
		s->t = T_UNIX;
		return snprintf(s->path, sizeof(s->path), "%s", a + 5) <
			       (int)sizeof(s->path) &&
		       a[5] == '/';
	}
	if (!strncmp(a, "udp://", 6))
		s->t = T_UDP;
	else if (!strncmp(a, "tcp://", 6))
		s->t = T_TCP;
	else
		return false;
	hp = a + 6;
	colon = strrchr(hp, ':');
	if (!colon || colon == hp || !colon[1] ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return false;
	/* [v6]:port */
	if (hp[0] == '[' && colon[-1] == ']')
		snprintf(s->host, sizeof(s->host), "%.*s",
			 (int)(colon - hp - 2), hp + 1);
	else
		snprintf(s->host, sizeof(s->host), "%.*s", (int)(colon - hp),
			 hp);
	snprintf(s->port, sizeof(s->port), "%s", colon + 1);
	return true;
}

static void sl_destroy(void *self)
{
	struct syslog_sink *s = self;

	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}

static enum kw_status sl_create(const json_t *conf,
				const struct kw_sink_env *env, void **self,
				struct kw_error *err)
{
	struct syslog_sink *s = calloc(1, sizeof(*s));
	const char *addr = json_string_value(json_object_get(conf, "address"));
	const char *fac = json_string_value(json_object_get(conf, "facility"));
	const char *app = json_string_value(json_object_get(conf, "app_name"));
	size_t i;

	if (!s)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	s->fd = -1;
	s->timeout_ms = (long)(kw_sink_http_timeout(conf) / 1000);
	if (!parse_address(s, addr ? addr : "unix:/dev/log")) {
		sl_destroy(s);
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s.address: expected unix:/PATH, "
				    "udp://HOST:PORT or tcp://HOST:PORT",
				    env->file, env->where);
	}
	fac = fac ? fac : "auth";
	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++) {
		if (!strcmp(facilities[i].name, fac))
			break;
	}
	if (i == sizeof(facilities) / sizeof(facilities[0])) {
		sl_destroy(s);
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s.facility: unknown facility '%s'",
				    env->file, env->where, fac);
	}
	s->facility = facilities[i].code;
	app = app ? app : "keywatch";
	if (!app[0] || strlen(app) > 48 || strpbrk(app, " \t\r\n")) {
		sl_destroy(s);
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s.app_name: 1 to 48 characters "
				    "without spaces",
				    env->file, env->where);
	}
	snprintf(s->app, sizeof(s->app), "%s", app);
	if (gethostname(s->hostname, sizeof(s->hostname) - 1) != 0 ||
	    !s->hostname[0])
		snprintf(s->hostname, sizeof(s->hostname), "-");
	*self = s;
	return KW_OK;
}

/* An SD-PARAM value: ", \ and ] escaped with a backslash. */
static size_t sd_value(char *buf, size_t cap, const char *v)
{
	size_t j = 0;

	for (; *v && j + 2 < cap; v++) {
		if (*v == '"' || *v == '\\' || *v == ']')
			buf[j++] = '\\';
		buf[j++] = *v;
	}
	buf[j] = '\0';
	return j;
}

static size_t sl_format(const struct syslog_sink *s, const struct kw_alert *a,
			char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	char id[64], det[128], key[160], sum[1100];
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	sd_value(id, sizeof(id), a->id);
	sd_value(det, sizeof(det), a->detector);
	sd_value(key, sizeof(key), a->key.id);
	snprintf(sum, sizeof(sum), "%s", a->summary);
	for (char *p = sum; *p; p++) {
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
	n = snprintf(buf, cap,
		     "<%d>1 %04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %s %s %d %s "
		     "[keywatch@32473 id=\"%s\" detector=\"%s\" "
		     "severity=\"%s\" key=\"%s\" fp=\"%s\"] %s",
		     s->facility * 8 + severity_code(a->severity),
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000, s->hostname,
		     s->app, (int)getpid(), det, id, det,
		     kw_severity_name(a->severity), key, a->key.fp, sum);
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

static int open_socket(struct syslog_sink *s, struct kw_error *err)
{
	struct timeval tv = {.tv_sec = s->timeout_ms / 1000,
			     .tv_usec = (s->timeout_ms % 1000) * 1000};
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, rc;

	if (s->t == T_UNIX) {
		struct sockaddr_un un = {.sun_family = AF_UNIX};

		snprintf(un.sun_path, sizeof(un.sun_path), "%s", s->path);
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 &&
		    connect(fd, (struct sockaddr *)&un, sizeof(un)) != 0) {
			kw_error_set(err, KW_ERETRY, "%s: %s", s->path,
				     strerror(errno));
			close(fd);
			return -1;
		}
		return fd;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = s->t == T_UDP ? SOCK_DGRAM : SOCK_STREAM;
	rc = getaddrinfo(s->host, s->port, &hints, &res);
	if (rc != 0) {
		kw_error_set(err, KW_ERETRY, "%s: %s", s->host,
			     gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		/* On Linux SO_SNDTIMEO bounds connect() too. */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		kw_error_set(err, KW_ERETRY, "%s port %s: %s", s->host, s->port,
			     strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static enum kw_sink_result sl_deliver(void *self, const struct kw_alert *a,
				      const char *json, size_t len,
				      struct kw_error *err)
{
	struct syslog_sink *s = self;
	char msg[SYSLOG_MSG_MAX + 16];
	size_t off = 0, n;
	ssize_t w;

	(void)json;
	(void)len;
	if (s->fd < 0)
		s->fd = open_socket(s, err);
	if (s->fd < 0)
		return KW_SINK_RETRY;
	if (s->t == T_TCP) {
		/* Octet counting: the length, a space, the message. */
		char body[SYSLOG_MSG_MAX];
		size_t bl = sl_format(s, a, body, sizeof(body));

		n = (size_t)snprintf(msg, sizeof(msg), "%zu %.*s", bl, (int)bl,
				     body);
	} else {
		n = sl_format(s, a, msg, sizeof(msg));
	}
	while (off < n) {
		w = send(s->fd, msg + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			kw_error_set(err, KW_ERETRY, "syslog %s: send: %s",
				     s->t == T_UNIX ? s->path : s->host,
				     w < 0 ? strerror(errno) : "nothing sent");
			close(s->fd);
			s->fd = -1;
			return KW_SINK_RETRY;
		}
		off += (size_t)w;
	}
	return KW_SINK_OK;
}

static void sl_describe(void *self, char *buf, size_t cap)
{
	struct syslog_sink *s = self;
	const char *fac = "?";

	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]);
	     i++) {
		if (facilities[i].code == s->facility)
			fac = facilities[i].name;
	}
	if (s->t == T_UNIX)
		snprintf(buf, cap, "syslog unix:%s (facility %s)", s->path,
			 fac);
	else
		snprintf(buf, cap, "syslog %s://%s:%s (facility %s)",
			 s->t == T_UDP ? "udp" : "tcp", s->host, s->port, fac);
}

/* Where alerts go: what an unnamed sink is known by (sink.h). */
static const char *const destination[] = {"address", NULL};

const struct kw_sink_ops kw_sink_syslog = {
	.name = "syslog",
	.destination = destination,
	.options = syslog_options,
	.create = sl_create,
	.deliver = sl_deliver,
	.destroy = sl_destroy,
	.describe = sl_describe,
};
