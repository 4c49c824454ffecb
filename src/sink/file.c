/*
 * file.c - the file sink: the alert JSON, one per line, appended to a file
 * (created 0600: alerts describe keys). Each alert is one write(2) of the
 * whole line on an O_APPEND descriptor, so concurrent writers and readers
 * never see half a line; flush() fsyncs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sink/sink.h"

static const struct kw_option file_options[] = {
	{"path", KW_OPT_STRING, NULL, "file to append alert JSON lines to"},
	{NULL, 0, NULL, NULL},
};

struct file_sink {
	int fd;
	char *path;
};

static enum kw_status fs_create(const json_t *conf,
				const struct kw_sink_env *env, void **self,
				struct kw_error *err)
{
	const json_t *p = json_object_get(conf, "path");
	struct file_sink *s = NULL;

	if (!p)
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s: the file sink needs a 'path'",
				    env->file, env->where);
	s = calloc(1, sizeof(*s));
	if (!s)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	s->path = strdup(json_string_value(p));
	s->fd = open(json_string_value(p),
		     O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (!s->path || s->fd < 0) {
		kw_error_set(err, KW_EIO, "%s: %s", json_string_value(p),
			     strerror(errno));
		if (s->fd >= 0)
			close(s->fd);
		free(s->path);
		free(s);
		return KW_EIO;
	}
	*self = s;
	return KW_OK;
}

static enum kw_sink_result fs_deliver(void *self, const struct kw_alert *a,
				      const char *json, size_t len,
				      struct kw_error *err)
{
	struct file_sink *s = self;
	char *line = malloc(len + 1);
	ssize_t w;

	(void)a;
	if (!line) {
		kw_error_set(err, KW_ENOMEM, "out of memory");
		return KW_SINK_RETRY;
	}
	memcpy(line, json, len);
	line[len] = '\n';
	do {
		w = write(s->fd, line, len + 1);
	} while (w < 0 && errno == EINTR);
	free(line);
	if (w == (ssize_t)(len + 1))
		return KW_SINK_OK;
	kw_error_set(err, KW_EIO, "%s: %s", s->path,
		     w < 0 ? strerror(errno) : "short write");
	return KW_SINK_RETRY;
}

static enum kw_sink_result fs_flush(void *self, struct kw_error *err)
{
	struct file_sink *s = self;

	if (fsync(s->fd) != 0 && errno != EINVAL) {
		kw_error_set(err, KW_EIO, "%s: fsync: %s", s->path,
			     strerror(errno));
		return KW_SINK_RETRY;
	}
	return KW_SINK_OK;
}

static void fs_describe(void *self, char *buf, size_t cap)
{
	struct file_sink *s = self;

	snprintf(buf, cap, "file %s", s->path);
}

static void fs_destroy(void *self)
{
	struct file_sink *s = self;

	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->path);
	free(s);
}

const struct kw_sink_ops kw_sink_file = {
	.name = "file",
	.options = file_options,
	.create = fs_create,
	.deliver = fs_deliver,
	.flush = fs_flush,
	.destroy = fs_destroy,
	.describe = fs_describe,
};
