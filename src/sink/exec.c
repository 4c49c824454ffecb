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
 *
 * The command runs in a process group of its own, and a timeout kills the
 * whole group, so a shell's children die with it instead of piling up one
 * per attempt. Delivery ends when the command itself exits (what it left
 * running in the background is its own business). It gets a scrubbed
 * environment, built once at create: PATH (a fixed default, or the
 * config's), the variables of its `env` option (values may be "env:NAME",
 * resolved at start like every sink secret), and per alert KEYWATCH_ALERT_*
 * describing it; never keywatch's own environment, which may hold other
 * sinks' secrets. The program is looked up in that PATH, with default
 * signal dispositions and an empty signal mask.
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sink/http.h"

#define EXEC_MAX_ARGS 32
#define EXEC_MAX_ENV 64 /* variables from the config */
#define EXEC_ALERT_VARS 5
#define EXEC_REJECT 65 /* EX_DATAERR */
#define EXEC_PATH "/usr/local/bin:/usr/bin:/bin"

static const struct kw_option exec_options[] = {
	{"command", KW_OPT_STRINGS, NULL,
	 "the program and its arguments: [\"/usr/local/bin/page\", \"-q\"]"},
	{"timeout", KW_OPT_DURATION, KW_HTTP_DEFAULT_TIMEOUT,
	 "kill the command (its whole process group) after this long (the "
	 "delivery is retried)",
	 KW_SINK_TIMEOUT_MAX},
	{"env", KW_OPT_OBJECT, NULL,
	 "the command's environment besides PATH and KEYWATCH_ALERT_*: "
	 "{\"NAME\": \"value\" or \"env:NAME\"}"},
	{NULL, 0, NULL, NULL},
};

struct exec_sink {
	char *argv[EXEC_MAX_ARGS + 1];
	long timeout_ms;
	/* "NAME=value" strings: PATH first, then the config's env; the
	 * per-alert variables are added in front of these at delivery. */
	char *envp[EXEC_MAX_ENV + 2];
	size_t nenv;
	const char *path; /* PATH's value, inside envp[0] */
};

/* The variables may hold secrets: wiped before they are freed. */
static void ex_destroy(void *self)
{
	struct exec_sink *s = self;

	if (!s)
		return;
	for (size_t i = 0; s->argv[i]; i++)
		free(s->argv[i]);
	for (size_t i = 0; i < s->nenv; i++)
		kw_sink_secret_free(s->envp[i]);
	free(s);
}

static bool env_name_ok(const char *n)
{
	if (!((*n >= 'A' && *n <= 'Z') || (*n >= 'a' && *n <= 'z') ||
	      *n == '_'))
		return false;
	for (n++; *n; n++) {
		if (!((*n >= 'A' && *n <= 'Z') || (*n >= 'a' && *n <= 'z') ||
		      (*n >= '0' && *n <= '9') || *n == '_'))
			return false;
	}
	return true;
}

/* "NAME=value" into s->envp; the value is wiped and freed. */
static enum kw_status env_add(struct exec_sink *s, const char *name,
			      char *value)
{
	size_t n = strlen(name) + strlen(value) + 2;
	char *v = malloc(n);

	if (v)
		snprintf(v, n, "%s=%s", name, value);
	kw_sink_secret_free(value);
	if (!v)
		return KW_ENOMEM;
	s->envp[s->nenv++] = v;
	return KW_OK;
}

/* PATH (the config's or the default) as envp[0], then every variable of
 * the config's env object, checked and resolved. */
static enum kw_status env_build(struct exec_sink *s, const json_t *conf,
				const struct kw_sink_env *env,
				struct kw_error *err)
{
	const json_t *vars = json_object_get(conf, "env");
	const json_t *path = json_object_get(vars, "PATH");
	struct kw_sink_env sub = *env;
	char where[96];
	const char *name;
	json_t *v;
	char *value = NULL;
	enum kw_status st;

	snprintf(where, sizeof(where), "%s.env", env->where);
	sub.where = where;
	if (json_object_size(vars) > EXEC_MAX_ENV)
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s: at most %d variables", env->file,
				    where, EXEC_MAX_ENV);
	if (path)
		st = kw_sink_secret(vars, "PATH", true, &sub, "exec", &value,
				    err);
	else
		st = (value = strdup(EXEC_PATH)) ? KW_OK : KW_ENOMEM;
	if (st == KW_OK)
		st = env_add(s, "PATH", value);
	if (st != KW_OK)
		return st == KW_ENOMEM ? kw_error_set(err, st, "out of memory")
				       : st;
	s->path = s->envp[0] + 5;
	json_object_foreach((json_t *)vars, name, v)
	{
		if (!strcmp(name, "PATH"))
			continue;
		if (!env_name_ok(name) || !strncmp(name, "KEYWATCH_ALERT", 14))
			return kw_error_set(
				err, KW_ECONFIG,
				"%s: %s: '%s' is not a variable name the "
				"command may be given (letters, digits and "
				"'_'; KEYWATCH_ALERT* is keywatch's)",
				env->file, where, name);
		if (!json_is_string(v))
			return kw_error_set(err, KW_ECONFIG,
					    "%s: %s.%s: expected a string",
					    env->file, where, name);
		st = kw_sink_secret(vars, name, true, &sub, "exec", &value,
				    err);
		if (st == KW_OK)
			st = env_add(s, name, value);
		if (st == KW_ENOMEM)
			return kw_error_set(err, st, "out of memory");
		if (st != KW_OK)
			return st;
	}
	return KW_OK;
}

static enum kw_status ex_create(const json_t *conf,
				const struct kw_sink_env *env, void **self,
				struct kw_error *err)
{
	const json_t *cmd = json_object_get(conf, "command");
	struct exec_sink *s;
	size_t n = json_array_size(cmd);
	enum kw_status st;

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
	st = env_build(s, conf, env, err);
	if (st != KW_OK) {
		ex_destroy(s);
		return st;
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

/* Read the command's stderr, keeping what fits into ebuf (NUL-terminated).
 * 1: read some, 0: the end (or an error), -1: nothing there now. */
static int read_err(int errfd, char *ebuf, size_t ecap, size_t *elen)
{
	char tmp[256];
	ssize_t n = read(errfd, tmp, sizeof(tmp));
	size_t take;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n <= 0)
		return 0;
	take = (size_t)n < ecap - 1 - *elen ? (size_t)n : ecap - 1 - *elen;
	memcpy(ebuf + *elen, tmp, take);
	*elen += take;
	ebuf[*elen] = '\0';
	return 1;
}

/* Feed the line to the child and collect its stderr until it exits (its
 * pidfd turns readable), within the deadline; then take what is left in
 * the stderr pipe without waiting for a background process that may hold
 * it open. Returns false on timeout. */
static bool talk(int in, int errfd, int pidfd, const char *line, size_t len,
		 long timeout_ms, char *ebuf, size_t ecap)
{
	struct timespec t0;
	size_t off = 0, elen = 0;
	bool in_open = true, err_open = true;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p[3] = {
			{.fd = in_open ? in : -1, .events = POLLOUT},
			{.fd = err_open ? errfd : -1, .events = POLLIN},
			{.fd = pidfd, .events = POLLIN}};
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
		if (err_open && p[1].revents)
			err_open = read_err(errfd, ebuf, ecap, &elen) != 0;
		if (p[2].revents)
			break;
	}
	fcntl(errfd, F_SETFL, O_NONBLOCK);
	while (err_open && elen + 1 < ecap &&
	       read_err(errfd, ebuf, ecap, &elen) > 0)
		;
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

/* The program as the command's own PATH finds it: argv[0] itself when it
 * holds a '/'. False when no directory has it. */
static bool find_program(const struct exec_sink *s, char *buf, size_t cap)
{
	const char *p = s->path;
	struct stat sb;

	if (strchr(s->argv[0], '/')) {
		snprintf(buf, cap, "%s", s->argv[0]);
		return true;
	}
	while (*p) {
		size_t n = strcspn(p, ":");

		/* an empty element is the working directory, as in execvp */
		snprintf(buf, cap, "%.*s/%s", (int)(n ? n : 1), n ? p : ".",
			 s->argv[0]);
		if (stat(buf, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    access(buf, X_OK) == 0)
			return true;
		p += n;
		if (*p == ':')
			p++;
	}
	return false;
}

/* The per-alert variables in vars (each "NAME=value"), then the sink's own
 * environment, into envp. */
static void alert_env(const struct exec_sink *s, const struct kw_alert *a,
		      char vars[EXEC_ALERT_VARS][96], char **envp)
{
	size_t n = 0;

	snprintf(vars[0], 96, "KEYWATCH_ALERT_ID=%s", a->id);
	snprintf(vars[1], 96, "KEYWATCH_ALERT_DETECTOR=%s", a->detector);
	snprintf(vars[2], 96, "KEYWATCH_ALERT_SEVERITY=%s",
		 kw_severity_name(a->severity));
	snprintf(vars[3], 96, "KEYWATCH_ALERT_KEY=%s", a->key.id);
	snprintf(vars[4], 96, "KEYWATCH_ALERT_KEY_FP=%s", a->key.fp);
	for (size_t i = 0; i < EXEC_ALERT_VARS; i++)
		envp[n++] = vars[i];
	for (size_t i = 0; i < s->nenv; i++)
		envp[n++] = s->envp[i];
	envp[n] = NULL;
}

/* Its own process group, default signal dispositions, no blocked signal
 * (the delivery thread blocks SIGPIPE; keywatch ignores SIGXFSZ). */
static void spawn_attrs(posix_spawnattr_t *at)
{
	static const int sigs[] = {SIGPIPE, SIGXFSZ, SIGHUP,  SIGINT,  SIGTERM,
				   SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD};
	sigset_t none, dfl;

	sigemptyset(&none);
	sigemptyset(&dfl);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&dfl, sigs[i]);
	posix_spawnattr_init(at);
	posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP |
					     POSIX_SPAWN_SETSIGMASK |
					     POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(at, 0);
	posix_spawnattr_setsigmask(at, &none);
	posix_spawnattr_setsigdefault(at, &dfl);
}

static enum kw_sink_result ex_deliver(void *self, const struct kw_alert *a,
				      const char *json, size_t len,
				      struct kw_error *err)
{
	struct exec_sink *s = self;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int sv[2] = {-1, -1}, ep[2] = {-1, -1}, pidfd = -1;
	char *line = NULL;
	char ebuf[200] = "";
	char prog[4096];
	char vars[EXEC_ALERT_VARS][96];
	char *envp[EXEC_ALERT_VARS + EXEC_MAX_ENV + 2];
	pid_t pid = -1;
	int status = 0, rc;
	bool done;
	enum kw_sink_result r = KW_SINK_RETRY;

	if (!find_program(s, prog, sizeof(prog))) {
		kw_error_set(err, KW_ERETRY,
			     "exec %s: not found in PATH %s (give the full "
			     "path, or set env.PATH)",
			     s->argv[0], s->path);
		return KW_SINK_RETRY;
	}
	line = malloc(len + 1);
	if (!line || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ||
	    pipe2(ep, O_CLOEXEC)) {
		kw_error_set(err, KW_EIO, "exec: %s", strerror(errno));
		goto cleanup;
	}
	memcpy(line, json, len);
	line[len] = '\n';
	alert_env(s, a, vars, envp);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, ep[1], STDERR_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
					 O_WRONLY, 0);
	spawn_attrs(&at);
	rc = posix_spawn(&pid, prog, &fa, &at, s->argv, envp);
	posix_spawnattr_destroy(&at);
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
		kill(-pid, SIGKILL);
		waitpid(pid, &status, 0);
		kw_error_set(err, KW_EIO, "exec: pidfd_open: %s",
			     strerror(errno));
		goto cleanup;
	}
	done = talk(sv[0], ep[0], pidfd, line, len + 1, s->timeout_ms, ebuf,
		    sizeof(ebuf));
	/* The group is pid: every process the command started dies too. */
	if (!done)
		kill(-pid, SIGKILL);
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

/* Where alerts go: what an unnamed sink is known by (sink.h). */
static const char *const destination[] = {"command", NULL};

const struct kw_sink_ops kw_sink_exec = {
	.name = "exec",
	.destination = destination,
	.options = exec_options,
	.create = ex_create,
	.deliver = ex_deliver,
	.destroy = ex_destroy,
	.describe = ex_describe,
};
