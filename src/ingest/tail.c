/*
 * tail.c - the tailer (tail.h). Every poll is three passes over what the
 * globs match: (1) paths that show an inode already followed: renames and
 * truncations; (2) new inodes: a copy of a known file resumes where that
 * file was left, a copy of a file still followed waits, anything else is
 * new and read from 0; (3) followed files that left their path are read to
 * their end and let go after a grace period. Then every followed file is
 * read, oldest first.
 *
 * The one idea: a file's fingerprint is its first bytes (kept in memory,
 * hashed on disk), and both copies and truncations are recognised by
 * comparing first bytes, so the order in which a poll happens to see the
 * steps of a rotation does not matter.
 */
#include "ingest/tail.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "ingest/inputs.h"
#include "ingest/pathglob.h"
#include "ingest/reader.h"

#define MIN_BUF ((size_t)64 * 1024)
#define NAMES_MAX 4096
#define GRACE_DEFAULT (INT64_C(1000000))
/* Decoded bytes kept past the offset, in all (the starts of lines whose
 * ends are still being compressed); past it a file's decoder is let go
 * and the file decoded from its start again when it grows. */
#define CARRY_BUDGET ((size_t)64 << 20)
/* Decoders kept at once (each holds its input buffer and window, about
 * 300 KiB), and how long one is kept for a file that stopped growing. */
#define DECODERS_MAX 64
/* A '**' glob's tree is walked again at most this often. */
#define DEEP_RESCAN_US (INT64_C(2) * 1000000)
/* Paths one glob may match. */
#define MATCH_MAX ((size_t)1 << 20)
#define DECODER_IDLE_US (INT64_C(300) * 1000000)

enum kind { KIND_UNKNOWN, KIND_PLAIN, KIND_COMPRESSED };

struct tfile {
	char path[KW_TAIL_PATH_MAX]; /* where it was last seen */
	const char *name;	     /* interned path when taken up */
	uint64_t dev, ino;
	int fd; /* -1: let go (retired), kept for its fingerprint */
	enum kind kind;
	uint64_t offset;  /* decoded bytes read, whole lines */
	uint64_t size;	  /* raw size at the last read */
	uint64_t decoded; /* compressed: decoded bytes at the last read */
	/* Compressed: the decoder kept between reads (following the file:
	 * each byte is decoded once), the decoded bytes it produced, and
	 * those of them past `offset` (a line without its newline yet). */
	struct kw_reader *zr;
	uint64_t zpos;
	char *carry;
	size_t ncarry;
	bool zlogged; /* damage in it was logged (once per file) */
	unsigned char fp[KW_TAIL_FP_MAX];
	uint32_t fplen;
	uint64_t fphash;
	bool fp_bytes; /* fp[] holds the bytes (not only the hash) */
	bool seen;     /* in this poll */
	bool long_line;
	bool partial;	    /* compressed: its end is not a whole line */
	bool restored;	    /* from a checkpoint: dev/ino may be matched */
	int64_t gone_since; /* monotonic; 0 while at its path */
	int64_t last_growth;
	int64_t changed_at; /* last time its raw size changed */
	int64_t caught_up;  /* last time nothing was left to read */
	int64_t mtime;	    /* microseconds: the order of reading */
};

/* The paths a glob matched when it was last expanded. */
struct matched {
	char **paths;
	size_t n;
	int64_t when; /* monotonic */
};

struct kw_tail {
	char **globs;
	bool *watched;
	struct matched *matched; /* per glob; a '**' glob is walked again
				    only every DEEP_RESCAN_US */
	size_t nglobs;
	size_t bufcap;
	int64_t grace;
	char *buf;
	struct tfile **files; /* followed and retired */
	size_t nfiles, capfiles;
	char **names;
	size_t nnames;
	int ifd; /* inotify, or -1 */
	bool full_warned;
	struct kw_tail_stats stats;
	kw_tail_feed_fn *feed;
	kw_tail_read_fn *whole;
	void *ctx;
	uint64_t fed;
	size_t carried;	  /* the files' carry bytes, at most CARRY_BUDGET */
	size_t ndecoders; /* files with a kept decoder, at most DECODERS_MAX */
};

static uint64_t fp_hash(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static int64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool active(const struct tfile *f)
{
	return f->fd >= 0;
}

/* Names handed to the engine live as long as the tailer. */
static const char *intern(struct kw_tail *t, const char *path)
{
	char *s;

	for (size_t i = 0; i < t->nnames; i++) {
		if (!strcmp(t->names[i], path))
			return t->names[i];
	}
	if (t->nnames == NAMES_MAX)
		return "(followed file)";
	s = strdup(path);
	if (!s)
		return "(followed file)";
	t->names[t->nnames++] = s;
	return s;
}

enum kw_status kw_tail_create(const struct kw_tail_opts *o,
			      struct kw_tail **out, struct kw_error *err)
{
	struct kw_tail *t = calloc(1, sizeof(*t));
	enum kw_status st = KW_OK;

	*out = NULL;
	if (!t)
		return kw_error_set(err, KW_ENOMEM, "tail: out of memory");
	t->ifd = -1;
	t->bufcap = (o->max_line ? o->max_line : ((size_t)1 << 20)) + 1;
	if (t->bufcap < MIN_BUF)
		t->bufcap = MIN_BUF;
	t->grace = o->grace_us > 0 ? o->grace_us : GRACE_DEFAULT;
	t->whole = o->whole;
	t->buf = malloc(t->bufcap);
	t->globs = calloc(o->nglobs + 1, sizeof(*t->globs));
	t->watched = calloc(o->nglobs + 1, sizeof(*t->watched));
	t->matched = calloc(o->nglobs + 1, sizeof(*t->matched));
	t->names = calloc(NAMES_MAX, sizeof(*t->names));
	if (!t->buf || !t->globs || !t->watched || !t->matched || !t->names) {
		st = kw_error_set(err, KW_ENOMEM, "tail: out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < o->nglobs; i++) {
		t->globs[i] = strdup(o->globs[i]);
		if (!t->globs[i]) {
			st = kw_error_set(err, KW_ENOMEM,
					  "tail: out of memory");
			goto cleanup;
		}
		t->nglobs++;
	}
	t->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (t->ifd < 0)
		kw_log_info("tail",
			    "inotify unavailable (%s): polling for changes",
			    strerror(errno));
cleanup:
	if (st != KW_OK)
		kw_tail_destroy(t);
	else
		*out = t;
	return st;
}

static struct tfile *add_file(struct kw_tail *t)
{
	struct tfile *f;

	if (t->nfiles == t->capfiles) {
		size_t cap = t->capfiles ? t->capfiles * 2 : 32;
		struct tfile **p = realloc(t->files, cap * sizeof(*p));

		if (!p)
			return NULL;
		t->files = p;
		t->capfiles = cap;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->fd = -1;
	t->files[t->nfiles++] = f;
	return f;
}

static void drop_decoder(struct kw_tail *t, struct tfile *f);

static void remove_file(struct kw_tail *t, size_t i)
{
	drop_decoder(t, t->files[i]);
	if (t->files[i]->fd >= 0)
		close(t->files[i]->fd);
	free(t->files[i]);
	t->files[i] = t->files[--t->nfiles];
}

enum kw_status kw_tail_restore(struct kw_tail *t, const struct kw_tail_pos *pos,
			       size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct tfile *f = add_file(t);

		if (!f)
			return KW_ENOMEM;
		snprintf(f->path, sizeof(f->path), "%s", pos[i].path);
		f->dev = pos[i].dev;
		f->ino = pos[i].ino;
		f->offset = pos[i].offset;
		f->fplen = pos[i].fplen > KW_TAIL_FP_MAX ? KW_TAIL_FP_MAX
							 : pos[i].fplen;
		f->fphash = pos[i].fphash;
		f->restored = true;
	}
	return KW_OK;
}

/* ----------------------------------------------------------- reading */

/* Hand out the whole lines of buf[0..n), which starts at f->offset; with
 * final, a last line without its newline too. full: buf was filled to
 * capacity, so no newline in it means a line too long. Returns the bytes
 * consumed (f->offset moved by as much). */
static size_t consume(struct kw_tail *t, struct tfile *f, const char *buf,
		      size_t n, bool final, bool full)
{
	size_t used = 0;
	const char *nl;

	if (f->long_line) {
		nl = memchr(buf, '\n', n);
		if (!nl) {
			f->offset += n;
			return n;
		}
		used = (size_t)(nl - buf) + 1;
		f->long_line = false;
	}
	nl = used < n ? memrchr(buf + used, '\n', n - used) : NULL;
	if (nl) {
		size_t len = (size_t)(nl - (buf + used)) + 1;

		t->feed(t->ctx, buf + used, len, f->name);
		t->fed += len;
		used += len;
	}
	if (final && used < n) {
		t->feed(t->ctx, buf + used, n - used, f->name);
		t->fed += n - used;
		used = n;
	} else if (used == 0 && full) {
		t->stats.too_long++;
		kw_log_warn("tail",
			    "%s: a line longer than %zu bytes at byte %llu "
			    "was skipped",
			    f->path, t->bufcap - 1,
			    (unsigned long long)f->offset);
		f->long_line = true;
		used = n;
	}
	f->offset += used;
	return used;
}

static void read_plain(struct kw_tail *t, struct tfile *f, bool final)
{
	uint64_t start = f->offset;

	/* A long backlog is read over several polls, so signals and
	 * checkpoints are not held up (a final read takes it all). */
	while (final || f->offset - start < KW_TAIL_POLL_MAX) {
		ssize_t got = pread(f->fd, t->buf, t->bufcap, (off_t)f->offset);
		size_t used;

		if (got < 0) {
			t->stats.read_errors++;
			kw_log_error("tail", "%s: read error: %s", f->path,
				     strerror(errno));
			return;
		}
		if (got == 0)
			return;
		used = consume(t, f, t->buf, (size_t)got, final,
			       (size_t)got == t->bufcap);
		if (used == 0 || (size_t)got < t->bufcap)
			return;
	}
}

/* A reader over f from its first byte (a descriptor of its own, so f's
 * position is left alone); NULL when it cannot be had (logged and counted
 * when the reader fails to open). */
static struct kw_reader *reopen(struct kw_tail *t, struct tfile *f)
{
	struct kw_reader *r = NULL;
	struct kw_error err;
	int fd = dup(f->fd);

	if (fd < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	kw_error_clear(&err);
	if (kw_reader_open_fd(fd, f->path, &r, &err) != KW_OK) {
		t->stats.read_errors++;
		kw_log_error("tail", "%s", err.msg);
		return NULL;
	}
	return r;
}

/* Let f's decoder and what it decoded past the offset go; the next read
 * decodes from the file's start again (skipping what was read). */
static void drop_decoder(struct kw_tail *t, struct tfile *f)
{
	if (f->zr)
		t->ndecoders--;
	kw_reader_close(f->zr);
	f->zr = NULL;
	f->zpos = 0;
	t->carried -= f->ncarry;
	free(f->carry);
	f->carry = NULL;
	f->ncarry = 0;
}

/* Keep buf[0..n), the decoded bytes past f->offset (a line still without
 * its newline), for the next read; past the budget, let the decoder go. */
static void keep_carry(struct kw_tail *t, struct tfile *f, const char *buf,
		       size_t n)
{
	if (!n)
		return;
	if (t->carried + n <= CARRY_BUDGET) {
		f->carry = malloc(n);
		if (f->carry) {
			memcpy(f->carry, buf, n);
			f->ncarry = n;
			t->carried += n;
			return;
		}
	}
	drop_decoder(t, f);
}

/* Make room for a decoder: let go the one of the file that grew longest
 * ago. */
static void drop_oldest_decoder(struct kw_tail *t)
{
	struct tfile *oldest = NULL;

	for (size_t i = 0; i < t->nfiles; i++) {
		struct tfile *f = t->files[i];

		if (f->zr && (!oldest || f->changed_at < oldest->changed_at))
			oldest = f;
	}
	if (oldest)
		drop_decoder(t, oldest);
}

/* A damaged or cut stream: said and counted once per file. The decoder
 * goes: if the file was rewritten rather than appended to, decoding it
 * from its start again when it changes reads it right. */
static void decode_failed(struct kw_tail *t, struct tfile *f,
			  const struct kw_error *err)
{
	if (!f->zlogged) {
		t->stats.read_errors++;
		kw_log_error("tail", "%s", err->msg);
		f->zlogged = true;
	}
	drop_decoder(t, f);
}

/* Decode what f's decoder has not decoded yet, from where it stopped
 * (made from the file's start when f has none: the first read, after a
 * restart, or after it was let go; what was read before is skipped), and
 * hand out the whole lines. final: the end of the file is the end of the
 * stream; otherwise a member cut by it is waited for. */
static void read_compressed(struct kw_tail *t, struct tfile *f, bool final)
{
	struct kw_error err;
	size_t have = 0;
	bool clean = false;

	if (!f->zr) {
		if (t->ndecoders >= DECODERS_MAX)
			drop_oldest_decoder(t);
		f->zr = reopen(t, f);
		f->zpos = 0;
		if (!f->zr)
			return;
		t->ndecoders++;
	}
	f->partial = false;
	if (f->ncarry) {
		memcpy(t->buf, f->carry, f->ncarry);
		have = f->ncarry;
		t->carried -= f->ncarry;
		free(f->carry);
		f->carry = NULL;
		f->ncarry = 0;
	}
	kw_reader_follow(f->zr, !final);
	for (;;) {
		size_t got = 0, used;
		uint64_t start = f->zpos - have; /* where t->buf starts */

		kw_error_clear(&err);
		if (kw_reader_read(f->zr, t->buf + have, t->bufcap - have, &got,
				   &err) != KW_OK) {
			decode_failed(t, f, &err);
			have = 0;
			goto done;
		}
		if (got == 0) {
			clean = final || kw_reader_at_end(f->zr);
			break;
		}
		t->stats.decompressed += got;
		f->zpos += got;
		have += got;
		if (f->zpos <= f->offset) {
			have = 0; /* read before: skipped */
			continue;
		}
		if (start < f->offset) {
			size_t drop = (size_t)(f->offset - start);

			memmove(t->buf, t->buf + drop, have - drop);
			have -= drop;
		}
		used = consume(t, f, t->buf, have, false,
			       have == t->bufcap && !t->whole);
		if (used == 0 && have == t->bufcap) {
			f->partial = true; /* a document: read whole */
			drop_decoder(t, f);
			have = 0;
			goto done;
		}
		memmove(t->buf, t->buf + used, have - used);
		have -= used;
	}
	/* At a clean end what is left is a last line without its newline,
	 * or a document (CloudTrail) in one piece; inside a member, the
	 * start of a line whose end is still to come. */
	f->partial = clean && have > 0;
	if (final && have) {
		consume(t, f, t->buf, have, true, false);
		f->partial = false;
		have = 0;
	}
done:
	if (f->zpos > f->decoded)
		f->decoded = f->zpos;
	if (f->zr)
		keep_carry(t, f, t->buf, have);
}

/* A reader that counts what passes through it, for read_whole. */
struct counted {
	struct kw_reader *r;
	uint64_t n;
};

static enum kw_status counted_read(void *self, void *buf, size_t cap,
				   size_t *got, struct kw_error *err)
{
	struct counted *c = self;
	enum kw_status st = kw_reader_read(c->r, buf, cap, got, err);

	c->n += *got;
	return st;
}

static uint64_t counted_offset(void *self)
{
	struct counted *c = self;

	return c->r->ops->offset(c->r->self);
}

static void counted_destroy(void *self)
{
	(void)self; /* the inner reader is closed by read_whole */
}

static void counted_fill_hint(void *self, size_t bytes)
{
	kw_reader_fill_hint(((struct counted *)self)->r, bytes);
}

static const struct kw_reader_ops counted_ops = {
	.name = "counted",
	.read = counted_read,
	.offset = counted_offset,
	.destroy = counted_destroy,
	.fill_hint = counted_fill_hint,
};

/* A compressed file that stopped growing with more than whole lines in
 * it: hand the rest of it, from the offset, to the whole-input callback
 * as one stream (the splitter then streams a document's records). */
static void read_whole(struct kw_tail *t, struct tfile *f)
{
	struct kw_reader *r = NULL;
	struct counted c = {0};
	struct kw_reader w = {.ops = &counted_ops, .self = &c};
	struct kw_error err;
	uint64_t skip = f->offset;

	f->partial = false;
	drop_decoder(t, f); /* its bytes past the offset are read here */
	r = reopen(t, f);
	if (!r)
		return;
	while (skip) {
		size_t got = 0;
		size_t want = skip < t->bufcap ? (size_t)skip : t->bufcap;

		if (kw_reader_read(r, t->buf, want, &got, &err) != KW_OK ||
		    got == 0)
			goto cleanup;
		skip -= got;
		t->stats.decompressed += got;
	}
	c.r = r;
	w.name = r->name;
	t->whole(t->ctx, &w, f->name);
	f->offset += c.n;
	t->fed += c.n;
	t->stats.decompressed += c.n;
	if (f->offset > f->decoded)
		f->decoded = f->offset;
cleanup:
	kw_reader_close(r);
}

static enum kind sniff(const unsigned char *p, size_t n)
{
	if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return KIND_COMPRESSED;
	if (n >= 4 && !memcmp(p, "\x28\xb5\x2f\xfd", 4))
		return KIND_COMPRESSED;
	if (n >= 4 || (n > 0 && p[0] != 0x1f && p[0] != 0x28))
		return KIND_PLAIN;
	return KIND_UNKNOWN;
}

/* The first decoded bytes of an open file (up to KW_TAIL_FP_MAX); *cut
 * when a compressed stream ended early (it may still be being written). */
static size_t read_head(int fd, const char *path, unsigned char *head,
			enum kind *kind, bool *cut)
{
	struct kw_reader *r = NULL;
	struct kw_error err;
	size_t n = 0;
	ssize_t got;
	int dfd;

	*cut = false;
	got = pread(fd, head, KW_TAIL_FP_MAX, 0);
	if (got <= 0)
		return 0;
	*kind = sniff(head, (size_t)got);
	if (*kind != KIND_COMPRESSED)
		return (size_t)got;
	dfd = dup(fd);
	if (dfd < 0 || lseek(dfd, 0, SEEK_SET) < 0) {
		if (dfd >= 0)
			close(dfd);
		*cut = true;
		return 0;
	}
	if (kw_reader_open_fd(dfd, path, &r, &err) != KW_OK) {
		*cut = true;
		return 0;
	}
	while (n < KW_TAIL_FP_MAX) {
		size_t g = 0;

		if (kw_reader_read(r, head + n, KW_TAIL_FP_MAX - n, &g, &err) !=
		    KW_OK) {
			*cut = true;
			break;
		}
		if (g == 0)
			break;
		n += g;
	}
	kw_reader_close(r);
	return n;
}

static void set_fp(struct tfile *f, const unsigned char *head, size_t n)
{
	if (n > KW_TAIL_FP_MAX)
		n = KW_TAIL_FP_MAX;
	memcpy(f->fp, head, n);
	f->fplen = (uint32_t)n;
	f->fphash = fp_hash(head, n);
	f->fp_bytes = true;
}

/* 2: head is the known file's start; 1: head may become it (a copy being
 * written); 0: another file. */
static int match(const struct tfile *k, const unsigned char *head, size_t n)
{
	if (!k->fplen || !n)
		return 0;
	if (n >= k->fplen)
		return fp_hash(head, k->fplen) == k->fphash ? 2 : 0;
	if (k->fp_bytes && !memcmp(head, k->fp, n))
		return 1;
	return 0;
}

/* ------------------------------------------------------------ polling */

static void watch_dir(struct kw_tail *t, size_t i)
{
	char dir[KW_TAIL_PATH_MAX];
	char *slash;

	if (t->ifd < 0 || t->watched[i])
		return;
	snprintf(dir, sizeof(dir), "%s", t->globs[i]);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (strpbrk(dir, "*?["))
		return; /* a pattern in the directory part: polling */
	if (inotify_add_watch(t->ifd, dir,
			      IN_CREATE | IN_MODIFY | IN_MOVED_TO |
				      IN_MOVED_FROM | IN_DELETE |
				      IN_CLOSE_WRITE | IN_ATTRIB) >= 0)
		t->watched[i] = true;
}

struct cand {
	char *path;
	struct stat sb;
};

static int by_mtime(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->sb.st_mtim.tv_sec != y->sb.st_mtim.tv_sec)
		return x->sb.st_mtim.tv_sec < y->sb.st_mtim.tv_sec ? -1 : 1;
	if (x->sb.st_mtim.tv_nsec != y->sb.st_mtim.tv_nsec)
		return x->sb.st_mtim.tv_nsec < y->sb.st_mtim.tv_nsec ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* The paths glob i matches now: expanded again on every poll, except a
 * '**' glob, whose tree may be large: at most every DEEP_RESCAN_US. */
static const struct matched *expand(struct kw_tail *t, size_t i, int64_t now)
{
	struct matched *m = &t->matched[i];
	bool deep = strstr(t->globs[i], "**") != NULL;

	if (deep && m->when && now - m->when < DEEP_RESCAN_US)
		return m;
	kw_pathglob_free(m->paths, m->n);
	m->paths = NULL;
	m->n = 0;
	/* On failure (no memory, more than the bound): what was found. */
	kw_pathglob_expand(t->globs[i], MATCH_MAX, &m->paths, &m->n);
	m->when = now;
	return m;
}

/* Every regular file the globs match, oldest first, each once; files of
 * known export layouts that hold no logs left out. The paths point into
 * t->matched, valid until the next poll. */
static size_t collect(struct kw_tail *t, int64_t now, struct cand **out)
{
	struct cand *c;
	size_t total = 0, n = 0;

	*out = NULL;
	for (size_t i = 0; i < t->nglobs; i++) {
		watch_dir(t, i);
		total += expand(t, i, now)->n;
	}
	if (!total)
		return 0;
	c = calloc(total, sizeof(*c));
	if (!c)
		return 0;
	for (size_t i = 0; i < t->nglobs; i++) {
		const struct matched *m = &t->matched[i];

		for (size_t k = 0; k < m->n; k++) {
			bool dup = false;

			if (kw_inputs_not_data(m->paths[k]) ||
			    stat(m->paths[k], &c[n].sb) != 0 ||
			    !S_ISREG(c[n].sb.st_mode))
				continue;
			for (size_t j = 0; j < n && !dup; j++)
				dup = c[j].sb.st_dev == c[n].sb.st_dev &&
				      c[j].sb.st_ino == c[n].sb.st_ino;
			if (dup)
				continue;
			c[n].path = m->paths[k];
			n++;
		}
	}
	qsort(c, n, sizeof(*c), by_mtime);
	*out = c;
	return n;
}

static struct tfile *find_active(struct kw_tail *t, const struct stat *sb)
{
	for (size_t i = 0; i < t->nfiles; i++) {
		struct tfile *f = t->files[i];

		if (active(f) && f->dev == (uint64_t)sb->st_dev &&
		    f->ino == (uint64_t)sb->st_ino)
			return f;
	}
	return NULL;
}

/* A followed file now shorter than what was read, or with other first
 * bytes: it was truncated. Keep what is known of its old content (its copy
 * may appear) and start it again at 0. */
static void truncated(struct kw_tail *t, struct tfile *f, int64_t now)
{
	struct tfile *old;

	drop_decoder(t, f);
	old = add_file(t);
	if (old) {
		*old = *f;
		old->fd = -1;
		old->gone_since = now;
	}
	t->stats.truncations++;
	kw_log_info("tail", "%s: truncated; reading it again from the start",
		    f->path);
	f->offset = 0;
	f->size = 0;
	f->decoded = 0;
	f->fplen = 0;
	f->fp_bytes = false;
	f->long_line = false;
	f->kind = KIND_UNKNOWN;
	f->mtime = wall_us(); /* its new lines come after its copy's */
}

/* Pass 1 for one path: a known inode. */
static void known(struct kw_tail *t, struct tfile *f, const struct cand *c,
		  int64_t now)
{
	unsigned char head[KW_TAIL_FP_MAX];
	uint64_t size = (uint64_t)c->sb.st_size;
	enum kind kind = KIND_UNKNOWN;
	size_t n;
	bool cut;

	f->seen = true;
	f->gone_since = 0;
	if (strcmp(f->path, c->path) != 0) {
		kw_log_debug("tail", "%s: now %s", f->path, c->path);
		snprintf(f->path, sizeof(f->path), "%s", c->path);
	}
	if (f->kind == KIND_COMPRESSED)
		return;
	if (size < f->offset) {
		truncated(t, f, now);
		return;
	}
	/* Same first bytes? Checked on every poll, whatever the size: a
	 * writer may have truncated and written as much or more since the
	 * last poll. One pread of at most KW_TAIL_FP_MAX bytes. */
	n = read_head(f->fd, f->path, head, &kind, &cut);
	if (f->fplen && (n < f->fplen ||
			 (f->fp_bytes ? memcmp(head, f->fp, f->fplen) != 0
				      : fp_hash(head, f->fplen) != f->fphash)))
		truncated(t, f, now);
	if (kind != KIND_UNKNOWN)
		f->kind = kind;
	if (n > f->fplen || (n && !f->fp_bytes))
		set_fp(f, head, n);
}

/* Pass 2 for one path: a new inode. by_inode: only take it up when it is
 * a restored file's inode (those go first). */
static void unknown(struct kw_tail *t, const struct cand *c, bool by_inode,
		    int64_t now)
{
	unsigned char head[KW_TAIL_FP_MAX];
	struct tfile *claim = NULL, *f;
	enum kind kind = KIND_UNKNOWN;
	struct stat sb;
	size_t n, nactive = 0;
	bool cut;
	int fd;

	if (by_inode) {
		bool any = false;

		for (size_t i = 0; i < t->nfiles && !any; i++)
			any = !active(t->files[i]) &&
			      t->files[i]->dev == (uint64_t)c->sb.st_dev &&
			      t->files[i]->ino == (uint64_t)c->sb.st_ino;
		if (!any)
			return;
	}
	if (c->sb.st_size == 0)
		return; /* nothing to know it by yet */
	fd = open(c->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &sb) != 0 || sb.st_ino != c->sb.st_ino ||
	    sb.st_dev != c->sb.st_dev)
		goto drop; /* replaced meanwhile: next poll */
	n = read_head(fd, c->path, head, &kind, &cut);
	if (kind == KIND_UNKNOWN || n == 0 ||
	    (kind == KIND_COMPRESSED && cut && n < KW_TAIL_FP_MAX))
		goto drop; /* still being written: next poll */
	for (size_t i = 0; i < t->nfiles; i++) {
		struct tfile *k = t->files[i];
		int m = match(k, head, n);

		if (m && active(k))
			goto drop; /* a copy of a file still followed */
		if (m == 1)
			goto drop; /* may be a copy being written */
		if (m == 2 && (!claim || (k->dev == (uint64_t)sb.st_dev &&
					  k->ino == (uint64_t)sb.st_ino)))
			claim = k;
	}
	for (size_t i = 0; i < t->nfiles; i++)
		nactive += active(t->files[i]);
	if (nactive >= KW_TAIL_FILES_MAX) {
		if (!t->full_warned)
			kw_log_warn("tail",
				    "following %d files already: %s and "
				    "others wait",
				    KW_TAIL_FILES_MAX, c->path);
		t->full_warned = true;
		goto drop;
	}
	f = claim ? claim : add_file(t);
	if (!f)
		goto drop;
	drop_decoder(t, f); /* a claimed file's, of its old descriptor */
	if (claim) {
		if (claim->dev != (uint64_t)sb.st_dev ||
		    claim->ino != (uint64_t)sb.st_ino) {
			t->stats.copies++;
			kw_log_info("tail",
				    "%s: a copy of %s, read up to byte %llu "
				    "already: resuming there",
				    c->path, claim->path,
				    (unsigned long long)claim->offset);
		}
		f->size = 0;
		f->decoded = 0;
	} else {
		f->offset = 0;
	}
	snprintf(f->path, sizeof(f->path), "%s", c->path);
	f->name = intern(t, c->path);
	f->dev = (uint64_t)sb.st_dev;
	f->ino = (uint64_t)sb.st_ino;
	f->kind = kind;
	f->fd = fd;
	f->seen = true;
	f->restored = false;
	f->gone_since = 0;
	f->last_growth = now;
	f->caught_up = now;
	if (!claim) /* a copy keeps its original's place in the order */
		f->mtime = (int64_t)sb.st_mtim.tv_sec * 1000000 +
			   sb.st_mtim.tv_nsec / 1000;
	set_fp(f, head, n);
	t->stats.opened++;
	kw_log_debug("tail", "%s: following from byte %llu", f->path,
		     (unsigned long long)f->offset);
	return;
drop:
	close(fd);
}

static void read_file(struct kw_tail *t, struct tfile *f, bool final,
		      int64_t now)
{
	struct stat sb;
	uint64_t before = f->offset;

	if (fstat(f->fd, &sb) != 0)
		return;
	if (f->kind == KIND_COMPRESSED) {
		bool changed = (uint64_t)sb.st_size != f->size;

		/* Shorter than when last read: what the decoder holds is not
		 * this file's any more. */
		if ((uint64_t)sb.st_size < f->size)
			drop_decoder(t, f);

		if (changed)
			f->changed_at = now;
		if (changed || (final && !t->whole))
			read_compressed(t, f, final && !t->whole);
		if (t->whole && f->partial &&
		    (final || now - f->changed_at >= t->grace))
			read_whole(t, f);
		/* Stopped growing (a rotated file compressed whole, most
		 * often): its decoder's memory goes. */
		if (f->zr && !f->ncarry &&
		    now - f->changed_at >= DECODER_IDLE_US)
			drop_decoder(t, f);
	} else {
		read_plain(t, f, final);
	}
	f->size = (uint64_t)sb.st_size;
	if (f->offset != before)
		f->last_growth = now;
	if ((f->kind == KIND_COMPRESSED ? f->decoded : f->size) <= f->offset)
		f->caught_up = now;
}

/* Pass 3: followed files gone from their path. */
static void gone(struct kw_tail *t, struct tfile *f, int64_t now)
{
	if (!f->gone_since) {
		f->gone_since = now;
		t->stats.rotations++;
		kw_log_debug("tail", "%s: left its path; reading it to its end",
			     f->path);
	}
	read_file(t, f, false, now);
	if (now - f->gone_since < t->grace || now - f->last_growth < t->grace)
		return;
	read_file(t, f, true, now);
	drop_decoder(t, f);
	close(f->fd);
	f->fd = -1;
	f->gone_since = now;
	kw_log_debug("tail", "%s: let go at byte %llu", f->path,
		     (unsigned long long)f->offset);
}

/* Retired files are remembered for their copies; the oldest beyond the
 * bound are forgotten. */
static void prune(struct kw_tail *t)
{
	size_t nretired = 0;

	for (size_t i = 0; i < t->nfiles; i++)
		nretired += !active(t->files[i]);
	while (nretired > KW_TAIL_RETIRED_MAX) {
		size_t oldest = SIZE_MAX;

		for (size_t i = 0; i < t->nfiles; i++) {
			if (!active(t->files[i]) &&
			    (oldest == SIZE_MAX ||
			     t->files[i]->gone_since <
				     t->files[oldest]->gone_since))
				oldest = i;
		}
		remove_file(t, oldest);
		nretired--;
	}
}

static int by_age(const void *a, const void *b)
{
	const struct tfile *x = *(struct tfile *const *)a;
	const struct tfile *y = *(struct tfile *const *)b;

	/* Files that left their path first (they are older), then by
	 * modification time when taken up. */
	if (!x->gone_since != !y->gone_since)
		return x->gone_since ? -1 : 1;
	if (x->mtime != y->mtime)
		return x->mtime < y->mtime ? -1 : 1;
	return strcmp(x->path, y->path);
}

uint64_t kw_tail_poll(struct kw_tail *t, int64_t now_us, kw_tail_feed_fn *feed,
		      void *ctx)
{
	struct cand *c = NULL;
	size_t n;

	t->feed = feed;
	t->ctx = ctx;
	t->fed = 0;
	n = collect(t, now_us, &c);
	for (size_t i = 0; i < t->nfiles; i++)
		t->files[i]->seen = false;
	for (size_t i = 0; i < n; i++) {
		struct tfile *f = find_active(t, &c[i].sb);

		if (f)
			known(t, f, &c[i], now_us);
	}
	for (int by_inode = 1; by_inode >= 0; by_inode--) {
		for (size_t i = 0; i < n; i++) {
			if (!find_active(t, &c[i].sb))
				unknown(t, &c[i], by_inode, now_us);
		}
	}
	/* Oldest first: a rotated file's end before its successor. */
	if (t->nfiles > 1)
		qsort(t->files, t->nfiles, sizeof(*t->files), by_age);
	for (size_t i = 0; i < t->nfiles; i++) {
		struct tfile *f = t->files[i];

		if (!active(f))
			continue;
		if (!f->seen)
			gone(t, f, now_us);
		else
			read_file(t, f, false, now_us);
	}
	prune(t);
	free(c);
	t->stats.bytes += t->fed;
	return t->fed;
}

void kw_tail_finish(struct kw_tail *t, kw_tail_feed_fn *feed, void *ctx)
{
	t->feed = feed;
	t->ctx = ctx;
	t->fed = 0;
	for (size_t i = 0; i < t->nfiles; i++) {
		struct tfile *f = t->files[i];

		if (!active(f) || !f->gone_since)
			continue;
		read_file(t, f, true, f->gone_since);
		drop_decoder(t, f);
		close(f->fd);
		f->fd = -1;
	}
	t->stats.bytes += t->fed;
}

bool kw_tail_wait(struct kw_tail *t, int timeout_ms)
{
	struct pollfd p = {.fd = t->ifd, .events = POLLIN};
	char ev[4096] __attribute__((aligned(8)));
	bool changed = false;

	if (t->ifd < 0) {
		poll(NULL, 0, timeout_ms);
		return false;
	}
	if (poll(&p, 1, timeout_ms) <= 0)
		return false;
	while (read(t->ifd, ev, sizeof(ev)) > 0)
		changed = true;
	return changed;
}

enum kw_status kw_tail_positions(struct kw_tail *t, struct kw_tail_pos **out,
				 size_t *n)
{
	struct kw_tail_pos *p = calloc(t->nfiles + 1, sizeof(*p));

	*out = NULL;
	*n = 0;
	if (!p)
		return KW_ENOMEM;
	for (size_t i = 0; i < t->nfiles; i++) {
		const struct tfile *f = t->files[i];

		if (!f->fplen)
			continue; /* nothing read, nothing to resume */
		p[*n].dev = f->dev;
		p[*n].ino = f->ino;
		p[*n].offset = f->offset;
		p[*n].fplen = f->fplen;
		p[*n].fphash = f->fphash;
		snprintf(p[*n].path, sizeof(p[*n].path), "%s", f->path);
		(*n)++;
	}
	*out = p;
	return KW_OK;
}

void kw_tail_foreach(struct kw_tail *t, int64_t now_us, kw_tail_file_cb *cb,
		     void *ctx)
{
	for (size_t i = 0; i < t->nfiles; i++) {
		const struct tfile *f = t->files[i];
		struct kw_tail_file_info fi;
		uint64_t end;

		if (!active(f))
			continue;
		end = f->kind == KIND_COMPRESSED ? f->decoded : f->size;
		fi.path = f->path;
		fi.compressed = f->kind == KIND_COMPRESSED;
		fi.offset = f->offset;
		fi.lag = end > f->offset ? end - f->offset : 0;
		fi.lag_us = fi.lag ? now_us - f->caught_up : 0;
		cb(ctx, &fi);
	}
}

const struct kw_tail_stats *kw_tail_stats(struct kw_tail *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->nfiles; i++)
		n += active(t->files[i]);
	t->stats.files = n;
	return &t->stats;
}

void kw_tail_destroy(struct kw_tail *t)
{
	if (!t)
		return;
	while (t->nfiles)
		remove_file(t, t->nfiles - 1);
	free(t->files);
	for (size_t i = 0; t->globs && i < t->nglobs; i++)
		free(t->globs[i]);
	for (size_t i = 0; i < t->nnames; i++)
		free(t->names[i]);
	for (size_t i = 0; t->matched && i < t->nglobs; i++)
		kw_pathglob_free(t->matched[i].paths, t->matched[i].n);
	free(t->matched);
	free(t->globs);
	free(t->watched);
	free(t->names);
	free(t->buf);
	if (t->ifd >= 0)
		close(t->ifd);
	free(t);
}
