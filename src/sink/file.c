/*
 * file.c - the file sink: the alert JSON, one per line, appended to a file
 * (created 0600: alerts describe keys). flush() fsyncs.
 *
 * The one idea: the file only ever holds whole lines. Each alert is one
 * writev(2) of the JSON and its newline on an O_APPEND descriptor, so
 * concurrent writers and readers never see half a line. When the disk is
 * full (ENOSPC), the file size limit is reached (EFBIG) or a write is cut
 * short, whatever part of the line did reach a regular file is cut off
 * again (ftruncate back to where the line began) and the sink answers
 * RETRY: the core keeps the alert (queue, spool) and tries again later,
 * and the retry writes the whole line once. If even the cut fails, the
 * sink remembers where the torn line began and cuts there before the next
 * write. A target that cannot be cut (a FIFO, a terminal, /dev/full) gets
 * the rest of a cut line written where possible, and otherwise a newline
 * before the next one, so a torn line never swallows the next.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sink/sink.h"

static const struct kw_option file_options[] = {
	{"path", KW_OPT_STRING, NULL, "file to append alert JSON lines to"},
	{NULL, 0, NULL, NULL},
};

struct file_sink {
	int fd;
	char *path;
	bool regular; /* a regular file: a torn line can be cut off */
	off_t torn;   /* regular: a torn line starts here; -1: none */
	bool open;    /* not regular: the last line has no newline yet */
};

static enum kw_status fs_create(const json_t *conf,
				const struct kw_sink_env *env, void **self,
				struct kw_error *err)
{
	const json_t *p = json_object_get(conf, "path");
	struct file_sink *s = NULL;
	struct stat sb;

	if (!p)
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s: the file sink needs a 'path'",
				    env->file, env->where);
	s = calloc(1, sizeof(*s));
	if (!s)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	s->torn = -1;
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
	s->regular = fstat(s->fd, &sb) == 0 && S_ISREG(sb.st_mode);
	*self = s;
	return KW_OK;
}

static ssize_t write_some(int fd, const struct iovec *iov, int n)
{
	ssize_t w;

	do {
		w = writev(fd, iov, n);
	} while (w < 0 && errno == EINTR);
	return w;
}

/* Before a line: nothing of a torn one may stay in front of it. */
static bool clean_end(struct file_sink *s, struct kw_error *err)
{
	if (s->torn >= 0) {
		if (ftruncate(s->fd, s->torn) != 0) {
			kw_error_set(err, KW_EIO,
				     "%s: cannot cut off a partly written "
				     "line: %s",
				     s->path, strerror(errno));
			return false;
		}
		s->torn = -1;
	}
	if (s->open) {
		struct iovec nl = {.iov_base = "\n", .iov_len = 1};

		if (write_some(s->fd, &nl, 1) != 1) {
			kw_error_set(err, KW_EIO, "%s: %s", s->path,
				     strerror(errno));
			return false;
		}
		s->open = false;
	}
	return true;
}

/* w of len bytes of a line went out (0 < w < len): take them back from a
 * regular file; otherwise write the rest, or leave the line open. */
static void torn_line(struct file_sink *s, const char *json, size_t len,
		      size_t w)
{
	off_t end;

	if (s->regular) {
		/* O_APPEND: the offset is the end of what this write put */
		end = lseek(s->fd, 0, SEEK_CUR);
		if (end < (off_t)w)
			s->open = true; /* cannot tell where: end it at least */
		else if (ftruncate(s->fd, end - (off_t)w) != 0)
			s->torn = end - (off_t)w;
		return;
	}
	while (w < len) {
		struct iovec rest[2] = {
			{.iov_base = (char *)json + w, .iov_len = len - 1 - w},
			{.iov_base = "\n", .iov_len = 1}};
		int n = w < len - 1 ? 2 : 1;
		ssize_t more = write_some(s->fd, n == 2 ? rest : rest + 1, n);

		if (more <= 0) {
			s->open = true;
			return;
		}
		w += (size_t)more;
	}
}

static enum kw_sink_result fs_deliver(void *self, const struct kw_alert *a,
				      const char *json, size_t len,
				      struct kw_error *err)
{
	struct file_sink *s = self;
	struct iovec iov[2] = {{.iov_base = (char *)json, .iov_len = len},
			       {.iov_base = "\n", .iov_len = 1}};
	ssize_t w;

	(void)a;
	if (!clean_end(s, err))
		return KW_SINK_RETRY;
	w = write_some(s->fd, iov, 2);
	if (w == (ssize_t)(len + 1))
		return KW_SINK_OK;
	if (w < 0) {
		kw_error_set(err, KW_EIO, "%s: %s", s->path, strerror(errno));
		return KW_SINK_RETRY;
	}
	torn_line(s, json, len + 1, (size_t)w);
	if (!s->regular && !s->open)
		return KW_SINK_OK; /* the rest went out after all */
	kw_error_set(err, KW_EIO, "%s: short write (%zd of %zu bytes)%s",
		     s->path, w, len + 1,
		     s->regular && s->torn < 0 && !s->open
			     ? "; the partial line was removed"
			     : "");
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

/* Where alerts go: what an unnamed sink is known by (sink.h). */
static const char *const destination[] = {"path", NULL};

const struct kw_sink_ops kw_sink_file = {
	.name = "file",
	.local = true,
	.destination = destination,
	.options = file_options,
	.create = fs_create,
	.flat = true, /* writes the JSON text */
	.deliver = fs_deliver,
	.flush = fs_flush,
	.destroy = fs_destroy,
	.describe = fs_describe,
};
