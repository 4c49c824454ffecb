/*
 * file.c - opening the files keywatch keeps (see file.h): the kind of a
 * file is checked on the descriptor, reads never block in open(), and
 * writes never follow a planted link.
 */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_SUFFIX ".tmp"

/* What a file that is not a regular file is, for messages. */
static const char *kind_of(mode_t m)
{
	if (S_ISFIFO(m))
		return "a named pipe";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISLNK(m))
		return "a symbolic link";
	return "not a plain file";
}

static enum kw_status check_stat(const char *path, const struct stat *sb,
				 uint64_t max, struct kw_error *err)
{
	if (!S_ISREG(sb->st_mode))
		return kw_error_set(err, KW_EINVAL,
				    "%s: not a regular file (%s)", path,
				    kind_of(sb->st_mode));
	if (max && (uint64_t)sb->st_size > max)
		return kw_error_set(err, KW_ETOOBIG,
				    "%s: %llu bytes, larger than the %llu "
				    "this kind of file may have",
				    path, (unsigned long long)sb->st_size,
				    (unsigned long long)max);
	return KW_OK;
}

static enum kw_status open_failed(const char *path, struct kw_error *err)
{
	int e = errno;

	return kw_error_set(err, e == ENOENT ? KW_ENOTFOUND : KW_EIO,
			    "%s: cannot open: %s", path, strerror(e));
}

enum kw_status kw_file_open_read(const char *path, uint64_t max, int *fd,
				 uint64_t *size, struct kw_error *err)
{
	struct stat sb;
	enum kw_status st;
	int flags, d;

	*fd = -1;
	*size = 0;
	/* O_NONBLOCK: opening a FIFO without a writer would wait forever;
	 * a device's open may wait too. It is cleared once the descriptor
	 * is known to be a regular file. */
	d = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (d < 0)
		return open_failed(path, err);
	if (fstat(d, &sb) != 0) {
		st = kw_error_set(err, KW_EIO, "%s: %s", path, strerror(errno));
		goto fail;
	}
	st = check_stat(path, &sb, max, err);
	if (st != KW_OK)
		goto fail;
	flags = fcntl(d, F_GETFL);
	if (flags < 0 || fcntl(d, F_SETFL, flags & ~O_NONBLOCK) != 0) {
		st = kw_error_set(err, KW_EIO, "%s: %s", path, strerror(errno));
		goto fail;
	}
	*fd = d;
	*size = (uint64_t)sb.st_size;
	return KW_OK;
fail:
	close(d);
	return st;
}

enum kw_status kw_file_fopen_read(const char *path, uint64_t max, FILE **f,
				  uint64_t *size, struct kw_error *err)
{
	enum kw_status st;
	int fd;

	*f = NULL;
	st = kw_file_open_read(path, max, &fd, size, err);
	if (st != KW_OK)
		return st;
	*f = fdopen(fd, "rb");
	if (!*f) {
		close(fd);
		return kw_error_set(err, KW_ENOMEM, "%s: out of memory", path);
	}
	return KW_OK;
}

/* read(2) with EINTR retried. */
static ssize_t read_some(int fd, void *buf, size_t cap)
{
	ssize_t r;

	do
		r = read(fd, buf, cap);
	while (r < 0 && errno == EINTR);
	return r;
}

enum kw_status kw_file_read_all(const char *path, size_t max, char **buf,
				size_t *len, struct kw_error *err)
{
	enum kw_status st = KW_OK;
	uint64_t size;
	size_t n = 0, cap;
	char *b = NULL;
	int fd = -1;

	*buf = NULL;
	*len = 0;
	st = kw_file_open_read(path, max, &fd, &size, err);
	if (st != KW_OK)
		return st;
	/* The size is a hint: a file may grow while it is read, up to
	 * max. */
	cap = size ? (size_t)size : 4096;
	if (max && cap > max)
		cap = max;
	b = malloc(cap + 1);
	if (!b)
		goto nomem;
	for (;;) {
		ssize_t r;
		char probe;

		if (n == cap) {
			char *nb;

			/* Full: one byte more tells the end from growth. */
			r = read_some(fd, &probe, 1);
			if (r == 0)
				break;
			if (r < 0)
				goto ioerr;
			if (max && n >= max) {
				st = kw_error_set(err, KW_ETOOBIG,
						  "%s: larger than %zu bytes",
						  path, max);
				goto cleanup;
			}
			cap *= 2;
			if (max && cap > max)
				cap = max;
			nb = realloc(b, cap + 1);
			if (!nb)
				goto nomem;
			b = nb;
			b[n++] = probe;
			continue;
		}
		r = read_some(fd, b + n, cap - n);
		if (r < 0)
			goto ioerr;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	b = NULL;
	goto cleanup;
nomem:
	st = kw_error_set(err, KW_ENOMEM, "%s: out of memory", path);
	goto cleanup;
ioerr:
	st = kw_error_set(err, KW_EIO, "%s: read error: %s", path,
			  strerror(errno));
cleanup:
	free(b);
	close(fd);
	return st;
}

enum kw_status kw_file_check_regular(const char *path, struct kw_error *err)
{
	struct stat sb;

	if (stat(path, &sb) != 0)
		return open_failed(path, err);
	return check_stat(path, &sb, 0, err);
}

/* --- replacing -------------------------------------------------------------
 */

int kw_file_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static void fsync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd;

	if (!slash) {
		dir = strdup(".");
	} else if (slash == path) {
		dir = strdup("/");
	} else {
		dir = strndup(path, (size_t)(slash - path));
	}
	if (!dir)
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		/* Best effort: the rename is done; this only hastens it to
		 * disk. */
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

enum kw_status kw_file_replace_begin(const char *path,
				     struct kw_file_replace *r,
				     struct kw_error *err)
{
	size_t n = strlen(path);

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->path = strdup(path);
	r->tmp = malloc(n + sizeof(TMP_SUFFIX));
	if (!r->path || !r->tmp) {
		kw_file_replace_abort(r);
		return kw_error_set(err, KW_ENOMEM, "%s: out of memory", path);
	}
	memcpy(r->tmp, path, n);
	memcpy(r->tmp + n, TMP_SUFFIX, sizeof(TMP_SUFFIX));
	/* A temporary file left by a crash, or anything planted at its name
	 * (a link to a file of someone else's), goes first: unlink removes
	 * a link, not what it points to. O_EXCL then refuses whatever
	 * appears there meanwhile, links included. */
	if (unlink(r->tmp) != 0 && errno != ENOENT) {
		kw_error_set(err, KW_EIO, "%s: cannot remove: %s", r->tmp,
			     strerror(errno));
		kw_file_replace_abort(r);
		return KW_EIO;
	}
	r->fd = open(r->tmp,
		     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC |
			     O_NOCTTY,
		     0600);
	if (r->fd < 0) {
		kw_error_set(err, KW_EIO, "%s: cannot create: %s", r->tmp,
			     strerror(errno));
		free(r->tmp); /* not ours: leave it */
		r->tmp = NULL;
		kw_file_replace_abort(r);
		return KW_EIO;
	}
	return KW_OK;
}

FILE *kw_file_replace_stream(struct kw_file_replace *r)
{
	if (!r->f && r->fd >= 0) {
		r->f = fdopen(r->fd, "w");
		if (r->f)
			r->fd = -1;
	}
	return r->f;
}

enum kw_status kw_file_replace_commit(struct kw_file_replace *r,
				      struct kw_error *err)
{
	enum kw_status st = KW_OK;
	int fd = r->f ? fileno(r->f) : r->fd;

	if ((r->f && fflush(r->f) != 0) || fd < 0 || fsync(fd) != 0) {
		st = kw_error_set(err, KW_EIO, "%s: cannot write: %s", r->tmp,
				  strerror(errno));
		goto cleanup;
	}
	if (r->f) {
		FILE *f = r->f;

		r->f = NULL;
		if (fclose(f) != 0) {
			st = kw_error_set(err, KW_EIO, "%s: cannot write: %s",
					  r->tmp, strerror(errno));
			goto cleanup;
		}
	} else {
		r->fd = -1;
		if (close(fd) != 0) {
			st = kw_error_set(err, KW_EIO, "%s: cannot write: %s",
					  r->tmp, strerror(errno));
			goto cleanup;
		}
	}
	if (rename(r->tmp, r->path) != 0) {
		st = kw_error_set(err, KW_EIO, "%s: cannot replace: %s",
				  r->path, strerror(errno));
		goto cleanup;
	}
	free(r->tmp);
	r->tmp = NULL; /* renamed: nothing to remove */
	fsync_dir(r->path);
cleanup:
	kw_file_replace_abort(r);
	return st;
}

void kw_file_replace_abort(struct kw_file_replace *r)
{
	if (r->f)
		fclose(r->f);
	else if (r->fd >= 0)
		close(r->fd);
	if (r->tmp)
		unlink(r->tmp);
	free(r->tmp);
	free(r->path);
	r->f = NULL;
	r->fd = -1;
	r->tmp = NULL;
	r->path = NULL;
}

/* --- growing files ---------------------------------------------------------
 */

int kw_file_open_append(const char *path, int flags, struct kw_error *err)
{
	struct stat sb;
	int fd, fl;

	if (!(flags & O_RDWR))
		flags |= O_WRONLY;
	/* O_NONBLOCK: a FIFO without a reader fails at once (ENXIO) instead
	 * of waiting; cleared below for the regular file it must be. */
	fd = open(path,
		  flags | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
			  O_CLOEXEC | O_NOCTTY,
		  0600);
	if (fd < 0) {
		if (errno == ELOOP)
			kw_error_set(err, KW_EIO,
				     "%s: a symbolic link; keywatch does not "
				     "write through links",
				     path);
		else
			kw_error_set(err, KW_EIO, "%s: cannot write: %s", path,
				     strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0) {
		kw_error_set(err, KW_EIO, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (check_stat(path, &sb, 0, err) != KW_OK)
		goto fail;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		kw_error_set(err, KW_EIO, "%s: %s", path, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}
