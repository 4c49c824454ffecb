/*
 * reader.c - opening an input and choosing its decoding layer by magic
 * bytes: gzip (1f 8b), zstd (28 b5 2f fd), otherwise plain.
 *
 * The one idea: the first bytes are peeked into the source struct and handed
 * out again by kw_reader_src_read(), so sniffing works on pipes and standard
 * input, where nothing can be read twice. Names shown to the user are the
 * path as written, or "<stdin>" for "-".
 */
#include "ingest/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/bytes.h"
#include "ingest/reader_impl.h"

/* ---- the raw source ---------------------------------------------------- */

enum kw_status kw_reader_src_read(struct kw_reader_src *src, void *buf,
				  size_t cap, size_t *got, struct kw_error *err)
{
	size_t n;
	ssize_t r;

	*got = 0;
	if (cap == 0)
		return KW_OK;
	if (src->peek_pos < src->peek_len) {
		n = src->peek_len - src->peek_pos;
		if (n > cap)
			n = cap;
		memcpy(buf, src->peek + src->peek_pos, n);
		src->peek_pos += n;
		src->consumed += n;
		*got = n;
		return KW_OK;
	}
	if (src->mem) {
		n = src->mem_len - (size_t)src->pos;
		if (n > cap)
			n = cap;
		memcpy(buf, src->mem + src->pos, n);
		src->pos += n;
		src->consumed += n;
		*got = n;
		return KW_OK;
	}
	do {
		if (src->positional)
			r = pread(src->fd, buf, cap, (off_t)src->pos);
		else
			r = read(src->fd, buf, cap);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return kw_error_set(
			err, KW_EIO, "byte offset %llu: read error: %s",
			(unsigned long long)src->consumed, strerror(errno));
	if (r == 0 && src->follow)
		src->starved = true;
	src->pos += (uint64_t)r;
	src->consumed += (uint64_t)r;
	*got = (size_t)r;
	return KW_OK;
}

bool kw_reader_gzip_padding(struct kw_reader_src *src, uint64_t at,
			    const unsigned char *rest, size_t n,
			    unsigned char *buf, size_t cap,
			    struct kw_error *err)
{
	size_t got = n;

	if (!kw_bytes_zero(rest, n))
		goto garbage;
	do {
		if (kw_reader_src_read(src, buf, cap, &got, err) != KW_OK)
			return false;
		if (!kw_bytes_zero(buf, got))
			goto garbage;
	} while (got > 0);
	return true;
garbage:
	kw_error_set(err, KW_ECORRUPT,
		     "byte offset %llu: garbage after the last gzip member",
		     (unsigned long long)at);
	return false;
}

void kw_reader_src_close(struct kw_reader_src *src)
{
	if (!src)
		return;
	if (src->fd >= 0)
		close(src->fd);
	free(src);
}

/* Read up to KW_READER_PEEK bytes (fewer only at the end of the input). */
static enum kw_status src_peek(struct kw_reader_src *src, struct kw_error *err)
{
	ssize_t r;

	if (src->mem) {
		src->peek_len = src->mem_len < KW_READER_PEEK ? src->mem_len
							      : KW_READER_PEEK;
		memcpy(src->peek, src->mem, src->peek_len);
		src->pos = src->peek_len;
		return KW_OK;
	}
	while (src->peek_len < KW_READER_PEEK) {
		r = read(src->fd, src->peek + src->peek_len,
			 KW_READER_PEEK - src->peek_len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kw_error_set(err, KW_EIO, "read error: %s",
					    strerror(errno));
		if (r == 0)
			break;
		src->peek_len += (size_t)r;
		src->pos += (uint64_t)r;
	}
	return KW_OK;
}

/* ---- choosing the layer ------------------------------------------------ */

static const unsigned char gzip_magic[] = {0x1f, 0x8b};
static const unsigned char zstd_magic[] = {0x28, 0xb5, 0x2f, 0xfd};

static int has_magic(const struct kw_reader_src *src, const unsigned char *m,
		     size_t n)
{
	return src->peek_len >= n && memcmp(src->peek, m, n) == 0;
}

static enum kw_status stack_layer(struct kw_reader_src *src,
				  struct kw_reader *r, struct kw_error *err)
{
	if (has_magic(src, gzip_magic, sizeof(gzip_magic))) {
		r->ops = &kw_reader_gzip_ops;
		r->self = kw_reader_gzip_new(src);
	} else if (has_magic(src, zstd_magic, sizeof(zstd_magic))) {
#if KW_HAVE_ZSTD
		r->ops = &kw_reader_zstd_ops;
		r->self = kw_reader_zstd_new(src);
#else
		return kw_error_set(err, KW_EUNSUPPORTED,
				    "zstd-compressed, but this keywatch was "
				    "built without zstd");
#endif
	} else {
		r->ops = &kw_reader_plain_ops;
		r->self = kw_reader_plain_new(src);
	}
	if (!r->self)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	return KW_OK;
}

enum kw_status kw_reader_open_fd(int fd, const char *name,
				 struct kw_reader **out, struct kw_error *err)
{
	struct kw_reader_src *src = NULL;
	struct kw_reader *r = NULL;
	const char *shown = strcmp(name, "-") == 0 ? "<stdin>" : name;
	enum kw_status st = KW_OK;
	struct stat sb;

	*out = NULL;
	if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		st = kw_error_set(err, KW_EIO, "%s: %s", shown,
				  strerror(EISDIR));
		goto cleanup;
	}
	src = calloc(1, sizeof(*src));
	r = calloc(1, sizeof(*r));
	if (!src || !r) {
		st = kw_error_set(err, KW_ENOMEM, "%s: out of memory", shown);
		goto cleanup;
	}
	src->fd = fd;
	fd = -1;
	{
		off_t at = lseek(src->fd, 0, SEEK_CUR);

		src->pos = at > 0 ? (uint64_t)at : 0;
	}
	r->name = strdup(shown);
	if (!r->name) {
		st = kw_error_set(err, KW_ENOMEM, "%s: out of memory", shown);
		goto cleanup;
	}
#ifdef POSIX_FADV_SEQUENTIAL
	posix_fadvise(src->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
	st = src_peek(src, err);
	if (st == KW_OK)
		st = stack_layer(src, r, err);
	if (st != KW_OK) {
		kw_error_prefix(err, "%s", shown);
		goto cleanup;
	}
	r->src = src;
	src = NULL; /* owned by the layer now */
	*out = r;
	r = NULL;
cleanup:
	if (fd >= 0)
		close(fd);
	kw_reader_src_close(src);
	if (r) {
		free(r->name);
		free(r);
	}
	return st;
}

enum kw_status kw_reader_open_mem(const void *buf, size_t len, const char *name,
				  struct kw_reader **out, struct kw_error *err)
{
	struct kw_reader_src *src = calloc(1, sizeof(*src));
	struct kw_reader *r = calloc(1, sizeof(*r));
	enum kw_status st = KW_OK;

	*out = NULL;
	if (!src || !r || !(r->name = strdup(name))) {
		st = kw_error_set(err, KW_ENOMEM, "%s: out of memory", name);
		goto cleanup;
	}
	src->fd = -1;
	src->mem = buf;
	src->mem_len = len;
	st = src_peek(src, err);
	if (st == KW_OK)
		st = stack_layer(src, r, err);
	if (st != KW_OK) {
		kw_error_prefix(err, "%s", name);
		goto cleanup;
	}
	r->src = src;
	src = NULL; /* owned by the layer now */
	*out = r;
	r = NULL;
cleanup:
	kw_reader_src_close(src);
	if (r) {
		free(r->name);
		free(r);
	}
	return st;
}

enum kw_status kw_reader_open(const char *path, struct kw_reader **out,
			      struct kw_error *err)
{
	int fd;

	*out = NULL;
	if (strcmp(path, "-") == 0) {
		/* A copy, so that closing the reader leaves fd 0 alone. */
		fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return kw_error_set(err, KW_EIO, "<stdin>: %s",
					    strerror(errno));
		return kw_reader_open_fd(fd, "-", out, err);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kw_error_set(err,
				    errno == ENOENT ? KW_ENOTFOUND : KW_EIO,
				    "%s: %s", path, strerror(errno));
	return kw_reader_open_fd(fd, path, out, err);
}

enum kw_status kw_reader_read(struct kw_reader *r, void *buf, size_t cap,
			      size_t *got, struct kw_error *err)
{
	enum kw_status st;

	if (r->src)
		r->src->starved = false;
	st = r->ops->read(r->self, buf, cap, got, err);
	if (st != KW_OK)
		kw_error_prefix(err, "%s", r->name);
	return st;
}

void kw_reader_follow(struct kw_reader *r, bool on)
{
	if (!r->src)
		return;
	r->src->follow = on;
	r->src->positional |= on;
}

bool kw_reader_at_end(const struct kw_reader *r)
{
	return !r->src || r->src->at_end;
}

void kw_reader_fill_hint(struct kw_reader *r, size_t bytes)
{
	if (r->ops->fill_hint)
		r->ops->fill_hint(r->self, bytes);
}

void kw_reader_close(struct kw_reader *r)
{
	if (!r)
		return;
	if (r->ops && r->self)
		r->ops->destroy(r->self);
	free(r->name);
	free(r);
}
