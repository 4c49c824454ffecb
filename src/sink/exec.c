/*
 * exec.c - the exec sink: run a command for each alert with the alert JSON
 * (one line) on its standard input. Exit status 0 is delivered; 65
 * (EX_DATAERR) means the command rejects this alert for good (dead
 * letter); any other status, a signal or the timeout is a failed delivery
 * that the core retries. The command is an argv array, run without a
 * shell, so nothing in an alert is ever interpreted by one.
 *
 * The one idea: the child's stdin is one end of a socketpair rather than a
 * pipe, so writing to a command that exited early gives EPIPE from
 * send(MSG_NOSIGNAL) instead of a SIGPIPE that would kill keywatch. The
 * first bytes of the command's stderr go into the error message.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sink/http.h"

#define EXEC_MAX_ARGS 32
#define EXEC_REJECT 65 /* EX_DATAERR */

extern char **environ;

static const struct kw_option exec_options[] = {
	{"command", KW_OPT_STRINGS, NULL,
	 "the program and its arguments: [\"/usr/local/bin/page\", \"-q\"]"},
	{"timeout", KW_OPT_DURATION, KW_HTTP_DEFAULT_TIMEOUT,
	 "kill the command after this long (the delivery is retried)"},
	{NULL, 0, NULL, NULL},
};

struct exec_sink {
	char *argv[EXEC_MAX_ARGS + 1];
	long timeout_ms;
};

static void ex_destroy(void *self)
{
	struct exec_sink *s = self;

	if (!s)
		return;
	for (size_t i = 0; s->argv[i]; i++)
		free(s->argv[i]);
	free(s);
}

static enum kw_status ex_create(const json_t *conf,
				const struct kw_sink_env *env, void **self,
				struct kw_error *err)
{
	const json_t *cmd = json_object_get(conf, "command");
	struct exec_sink *s;
	size_t n = json_array_size(cmd);

	if (n == 0 || n > EXEC_MAX_ARGS)
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s: the exec sink needs a 'command' "
				    "(1 to %d strings)",
				    env->file, env->where, EXEC_MAX_ARGS);
	s = calloc(1, sizeof(*s));
	if (!s)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		s->argv[i] = strdup(json_string_value(json_array_get(cmd, i)));
		if (!s->argv[i]) {
			ex_destroy(s);
			return kw_error_set(err, KW_ENOMEM, "out of memory");
		}
	}
	s->timeout_ms = (long)(kw_sink_http_timeout(conf) / 1000);
	*self = s;
	return KW_OK;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)(t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Feed the line to the child, collect its stderr, and wait for it to exit
 * (its pidfd turns readable), all within the deadline. Returns false on
 * timeout. */
static bool talk(int in, int errfd, int pidfd, const char *line, size_t len,
		 long timeout_ms, char *ebuf, size_t ecap)
{
	struct timespec t0;
	size_t off = 0, elen = 0;
	bool in_open = true, err_open = true, running = true;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (in_open || err_open || running) {
		struct pollfd p[3] = {
			{.fd = in_open ? in : -1, .events = POLLOUT},
			{.fd = err_open ? errfd : -1, .events = POLLIN},
			{.fd = running ? pidfd : -1, .events = POLLIN}};
		long left = timeout_ms - ms_since(&t0);
		int r;

		if (left <= 0)
			return false;
		r = poll(p, 3, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return false;
		if (in_open && p[0].revents) {
			ssize_t w = send(in, line + off, len - off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (w > 0)
				off += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) ||
			    off == len) {
				shutdown(in, SHUT_WR);
				in_open = false;
			}
		}
		if (err_open && p[1].revents) {
			char tmp[256];
			ssize_t n = read(errfd, tmp, sizeof(tmp));

			if (n <= 0) {
				err_open = false;
			} else if (elen + 1 < ecap) {
				size_t take = (size_t)n < ecap - 1 - elen
						      ? (size_t)n
						      : ecap - 1 - elen;

				memcpy(ebuf + elen, tmp, take);
				elen += take;
				ebuf[elen] = '\0';
			}
		}
		if (running && p[2].revents)
			running = false;
	}
	return true;
}

static void one_line(char *s)
{
	size_t n = strlen(s);

	for (char *p = s; *p; p++) {
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	}
	while (n > 0 && s[n - 1] == ' ')
		s[--n] = '\0';
}

static enum kw_sink_result ex_deliver(void *self, const struct kw_alert *a,
				      const char *json, size_t len,
				      struct kw_error *err)
{
	struct exec_sink *s = self;
	posix_spawn_file_actions_t fa;
	int sv[2] = {-1, -1}, ep[2] = {-1, -1}, pidfd = -1;
	char *line = NULL;
	char ebuf[200] = "";
	pid_t pid = -1;
	int status = 0, rc;
	bool done;
	enum kw_sink_result r = KW_SINK_RETRY;

	(void)a;
	line = malloc(len + 1);
	if (!line || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ||
	    pipe2(ep, O_CLOEXEC)) {
		kw_error_set(err, KW_EIO, "exec: %s", strerror(errno));
		goto cleanup;
	}
	memcpy(line, json, len);
	line[len] = '\n';
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, ep[1], STDERR_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
					 O_WRONLY, 0);
	rc = posix_spawnp(&pid, s->argv[0], &fa, NULL, s->argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	close(ep[1]);
	sv[1] = ep[1] = -1;
	if (rc != 0) {
		pid = -1;
		kw_error_set(err, KW_EIO, "exec %s: %s", s->argv[0],
			     strerror(rc));
		goto cleanup;
	}
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		kw_error_set(err, KW_EIO, "exec: pidfd_open: %s",
			     strerror(errno));
		goto cleanup;
	}
	done = talk(sv[0], ep[0], pidfd, line, len + 1, s->timeout_ms, ebuf,
		    sizeof(ebuf));
	if (!done)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	pid = -1;
	one_line(ebuf);
	if (!done)
		kw_error_set(err, KW_ERETRY, "exec %s: timed out after %ld ms",
			     s->argv[0], s->timeout_ms);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		r = KW_SINK_OK;
	else if (WIFEXITED(status))
		kw_error_set(err, KW_ERETRY, "exec %s: exit status %d%s%s",
			     s->argv[0], WEXITSTATUS(status),
			     ebuf[0] ? ": " : "", ebuf);
	else
		kw_error_set(err, KW_ERETRY, "exec %s: killed by signal %d",
			     s->argv[0], WTERMSIG(status));
	if (done && WIFEXITED(status) && WEXITSTATUS(status) == EXEC_REJECT)
		r = KW_SINK_FAIL;
cleanup:
	if (pidfd >= 0)
		close(pidfd);
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	free(line);
	return r;
}

static void ex_describe(void *self, char *buf, size_t cap)
{
	struct exec_sink *s = self;
	size_t n = 0;

	for (size_t i = 0; s->argv[i]; i++)
		n++;
	/* Arguments may hold tokens: the program only. */
	snprintf(buf, cap, "exec %s (%zu argument%s, timeout %ld s)",
		 s->argv[0], n - 1, n == 2 ? "" : "s", s->timeout_ms / 1000);
}

const struct kw_sink_ops kw_sink_exec = {
	.name = "exec",
	.options = exec_options,
	.create = ex_create,
	.deliver = ex_deliver,
	.destroy = ex_destroy,
	.describe = ex_describe,
};
