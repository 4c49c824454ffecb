/*
 * httpd.c - the metrics listener (httpd.h): one thread, one poll(2) over
 * a wake-up pipe, the listening socket and up to KW_HTTPD_CONN_MAX
 * non-blocking connections, each a small state machine: reading its
 * request head, sending its response, then lingering until the client
 * closes (so that closing never resets a response the client has not
 * read yet).
 *
 * The one idea: nothing a client does can block the thread. Every socket
 * is non-blocking, every state has a deadline, and a full table makes
 * room by closing the oldest connection that has not finished its
 * request, which a scraper that sends its request at once never is.
 *
 * Why not libmicrohttpd: with its connection limit reached it refuses new
 * connections, so a hundred idle ones lock the scraper out until they time
 * out (in whole seconds); two GET routes do not need a general server.
 */
#include "daemon/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINGER_MS 1000
#define BACKLOG 64
/* After accept() failed for want of descriptors: how long the listener
 * is left alone (it stays readable; polling it at once would spin). */
#define ACCEPT_PAUSE_MS 100

enum conn_state { C_FREE = 0, C_READ, C_WRITE, C_LINGER };

struct conn {
	int fd;
	enum conn_state state;
	int64_t accepted; /* monotonic ms: the eviction order */
	int64_t deadline; /* monotonic ms */
	size_t rlen;
	char req[KW_HTTPD_REQUEST_MAX];
	char *out; /* the response, malloc'ed */
	size_t olen, opos;
};

struct kw_httpd {
	int lfd;
	int wake[2]; /* a byte on wake[1] stops the thread */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock; /* body, blen, stats */
	char *body;	      /* NULL until the first publish */
	size_t blen;
	struct kw_httpd_stats stats;
	int64_t accept_pause; /* monotonic ms: the listener waits until then */
	struct conn conns[KW_HTTPD_CONN_MAX]; /* the thread's own */
	struct pollfd pfd[KW_HTTPD_CONN_MAX + 2];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count(struct kw_httpd *h, uint64_t *field)
{
	pthread_mutex_lock(&h->lock);
	(*field)++;
	pthread_mutex_unlock(&h->lock);
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	c->fd = -1;
	c->out = NULL;
	c->olen = c->opos = c->rlen = 0;
	c->state = C_FREE;
}

/* ---------------------------------------------------------- requests */

/* The response to a whole request head in c->req (NUL-terminated). */
static void respond(struct kw_httpd *h, struct conn *c)
{
	const char *status = "200 OK", *ctype = "text/plain; charset=utf-8";
	const char *extra = "", *body = "ok\n";
	char method[16], target[256], version[16], head[512];
	char *copy = NULL;
	size_t blen, hlen;
	bool head_only = false;

	if (sscanf(c->req, "%15s %255s %15s", method, target, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) != 0) {
		status = "400 Bad Request";
		body = "bad request\n";
	} else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		status = "405 Method Not Allowed";
		extra = "Allow: GET, HEAD\r\n";
		body = "only GET and HEAD\n";
	} else {
		size_t plen = strcspn(target, "?");

		head_only = strcmp(method, "HEAD") == 0;
		if (plen == 8 && !strncmp(target, "/metrics", 8)) {
			ctype = "text/plain; version=0.0.4; charset=utf-8";
			pthread_mutex_lock(&h->lock);
			if (h->body) {
				copy = malloc(h->blen ? h->blen : 1);
				if (copy)
					memcpy(copy, h->body, h->blen);
			}
			blen = h->blen;
			pthread_mutex_unlock(&h->lock);
			if (!copy) {
				status = "503 Service Unavailable";
				ctype = "text/plain; charset=utf-8";
				body = "not ready yet\n";
			}
		} else if (!(plen == 8 && !strncmp(target, "/healthz", 8))) {
			status = "404 Not Found";
			body = "not found: try /metrics or /healthz\n";
		}
	}
	if (!copy)
		blen = strlen(body);
	hlen = (size_t)snprintf(head, sizeof(head),
				"HTTP/1.1 %s\r\nContent-Type: %s\r\n%s"
				"Content-Length: %zu\r\nConnection: close\r\n"
				"\r\n",
				status, ctype, extra, blen);
	if (head_only)
		blen = 0;
	c->out = malloc(hlen + blen);
	if (!c->out) {
		free(copy);
		conn_close(c);
		return;
	}
	memcpy(c->out, head, hlen);
	memcpy(c->out + hlen, copy ? copy : body, blen);
	free(copy);
	c->olen = hlen + blen;
	c->opos = 0;
	c->state = C_WRITE;
	c->deadline = now_ms() + KW_HTTPD_SEND_MS;
	count(h, &h->stats.requests);
}

/* The end of the request head ("\r\n\r\n", or bare newlines). */
static bool head_done(const struct conn *c)
{
	return strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n");
}

static void on_read(struct kw_httpd *h, struct conn *c)
{
	size_t room = sizeof(c->req) - 1 - c->rlen;
	ssize_t n = recv(c->fd, c->req + c->rlen, room, 0);
	bool nul;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->rlen += (size_t)n;
	c->req[c->rlen] = '\0';
	nul = memchr(c->req, '\0', c->rlen) != NULL;
	if (!nul && head_done(c)) {
		respond(h, c);
	} else if (nul || c->rlen == sizeof(c->req) - 1) {
		/* A NUL inside, or too long without an end: 400. */
		snprintf(c->req, sizeof(c->req), "BAD");
		respond(h, c);
	}
}

static void on_write(struct conn *c)
{
	ssize_t n = send(c->fd, c->out + c->opos, c->olen - c->opos,
			 MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	c->opos += (size_t)n;
	if (c->opos < c->olen)
		return;
	free(c->out);
	c->out = NULL;
	shutdown(c->fd, SHUT_WR);
	c->state = C_LINGER;
	c->deadline = now_ms() + LINGER_MS;
}

static void on_linger(struct conn *c)
{
	char sink[512];
	ssize_t n = recv(c->fd, sink, sizeof(sink), 0);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		conn_close(c);
}

/* ------------------------------------------------------- connections */

/* A slot for a new connection: a free one, else the oldest lingering
 * one, else the oldest still reading its request (evicted). NULL when
 * every connection is sending. */
static struct conn *slot(struct kw_httpd *h)
{
	struct conn *best = NULL;

	for (size_t i = 0; i < KW_HTTPD_CONN_MAX; i++) {
		struct conn *c = &h->conns[i];

		if (c->state == C_FREE)
			return c;
		if (c->state == C_WRITE)
			continue;
		if (!best || (c->state == C_LINGER && best->state == C_READ) ||
		    (c->state == best->state && c->accepted < best->accepted))
			best = c;
	}
	if (best) {
		if (best->state == C_READ)
			count(h, &h->stats.evicted);
		conn_close(best);
	}
	return best;
}

static void on_accept(struct kw_httpd *h)
{
	for (;;) {
		int fd = accept4(h->lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				h->accept_pause = now_ms() + ACCEPT_PAUSE_MS;
			return;
		}
		c = slot(h);
		if (!c) {
			count(h, &h->stats.refused);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->state = C_READ;
		c->rlen = 0;
		c->req[0] = '\0';
		c->accepted = now_ms();
		c->deadline = c->accepted + KW_HTTPD_REQUEST_MS;
	}
}

/* Close what is past its deadline; the poll timeout until the next one
 * (-1: none). */
static int expire(struct kw_httpd *h)
{
	int64_t now = now_ms(), next = -1;

	for (size_t i = 0; i < KW_HTTPD_CONN_MAX; i++) {
		struct conn *c = &h->conns[i];

		if (c->state == C_FREE)
			continue;
		if (c->deadline <= now) {
			if (c->state != C_LINGER)
				count(h, &h->stats.timeouts);
			conn_close(c);
			continue;
		}
		if (next < 0 || c->deadline - now < next)
			next = c->deadline - now;
	}
	return (int)next;
}

static void *run(void *arg)
{
	struct kw_httpd *h = arg;

	for (;;) {
		int timeout = expire(h);
		int64_t pause = h->accept_pause - now_ms();
		size_t n = 2;

		h->pfd[0] = (struct pollfd){.fd = h->wake[0], .events = POLLIN};
		h->pfd[1] = (struct pollfd){.fd = pause > 0 ? -1 : h->lfd,
					    .events = POLLIN};
		if (pause > 0 && (timeout < 0 || pause < timeout))
			timeout = (int)pause;
		for (size_t i = 0; i < KW_HTTPD_CONN_MAX; i++) {
			struct conn *c = &h->conns[i];

			if (c->state == C_FREE)
				continue;
			h->pfd[n].fd = c->fd;
			h->pfd[n].events =
				c->state == C_WRITE ? POLLOUT : POLLIN;
			h->pfd[n].revents = 0;
			n++;
		}
		if (poll(h->pfd, n, timeout) < 0 && errno != EINTR)
			break;
		if (h->pfd[0].revents)
			break;
		n = 2;
		for (size_t i = 0; i < KW_HTTPD_CONN_MAX; i++) {
			struct conn *c = &h->conns[i];
			short ev;

			if (c->state == C_FREE)
				continue;
			ev = h->pfd[n++].revents;
			if (!ev)
				continue;
			if (c->state == C_READ)
				on_read(h, c);
			else if (c->state == C_WRITE)
				on_write(c);
			else
				on_linger(c);
			/* A request answered at once is sent at once. */
			if (c->state == C_WRITE)
				on_write(c);
		}
		if (h->pfd[1].revents)
			on_accept(h);
	}
	return NULL;
}

/* ------------------------------------------------------------- set-up */

/* The socket address of spec; false when it is not ADDRESS:PORT. */
static bool parse_spec(const char *spec, struct sockaddr_storage *ss,
		       socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	char *end;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(host))
		return false;
	port = strtol(colon + 1, &end, 10);
	if (port <= 0 || port > 65535 || *end)
		return false;
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		host[strlen(host) - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return false;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
		return true;
	}
	{
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return false;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
	}
	return true;
}

static enum kw_status listen_on(struct kw_httpd *h, const char *spec,
				struct kw_error *err)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	int one = 1;

	if (!parse_spec(spec, &ss, &len))
		return kw_error_set(err, KW_ECONFIG,
				    "metrics.listen %s: expected ADDRESS:PORT "
				    "such as 127.0.0.1:9187 or [::1]:9187",
				    spec);
	h->lfd = socket(ss.ss_family,
			SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (h->lfd < 0 ||
	    setsockopt(h->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(h->lfd, (struct sockaddr *)&ss, len) ||
	    listen(h->lfd, BACKLOG))
		return kw_error_set(err, KW_EIO, "metrics.listen %s: %s", spec,
				    strerror(errno));
	return KW_OK;
}

enum kw_status kw_httpd_start(const char *spec, struct kw_httpd **out,
			      struct kw_error *err)
{
	struct kw_httpd *h = calloc(1, sizeof(*h));
	sigset_t all, old;
	enum kw_status st;

	*out = NULL;
	if (!h)
		return kw_error_set(err, KW_ENOMEM, "metrics: out of memory");
	h->lfd = h->wake[0] = h->wake[1] = -1;
	for (size_t i = 0; i < KW_HTTPD_CONN_MAX; i++)
		h->conns[i].fd = -1;
	pthread_mutex_init(&h->lock, NULL);
	st = listen_on(h, spec, err);
	if (st != KW_OK)
		goto cleanup;
	if (pipe2(h->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		st = kw_error_set(err, KW_EIO, "metrics: pipe: %s",
				  strerror(errno));
		goto cleanup;
	}
	/* Signals are the main loop's: the thread takes none. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&h->thread, NULL, run, h) != 0)
		st = kw_error_set(err, KW_ENOMEM,
				  "metrics: cannot start a "
				  "thread");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	h->started = st == KW_OK;
cleanup:
	if (st != KW_OK)
		kw_httpd_stop(h);
	else
		*out = h;
	return st;
}

void kw_httpd_publish(struct kw_httpd *h, char *text, size_t len)
{
	char *old;

	if (!h) {
		free(text);
		return;
	}
	pthread_mutex_lock(&h->lock);
	old = h->body;
	h->body = text;
	h->blen = len;
	pthread_mutex_unlock(&h->lock);
	free(old);
}

void kw_httpd_stats(struct kw_httpd *h, struct kw_httpd_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	*out = h->stats;
	pthread_mutex_unlock(&h->lock);
}

void kw_httpd_stop(struct kw_httpd *h)
{
	if (!h)
		return;
	if (h->started) {
		(void)!write(h->wake[1], "x", 1);
		pthread_join(h->thread, NULL);
	}
	for (size_t i = 0; i < KW_HTTPD_CONN_MAX; i++)
		conn_close(&h->conns[i]);
	if (h->lfd >= 0)
		close(h->lfd);
	if (h->wake[0] >= 0)
		close(h->wake[0]);
	if (h->wake[1] >= 0)
		close(h->wake[1]);
	pthread_mutex_destroy(&h->lock);
	free(h->body);
	free(h);
}
