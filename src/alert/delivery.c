/*
 * delivery.c - one sink's queue, delivery thread, spool and dead letters
 * (see delivery.h for the write-ahead idea).
 *
 * The spool is append-only JSONL with two kinds of line:
 *   {"seq":N,"alert":<the alert JSON>}   queued
 *   {"done":N}                           delivered or dead-lettered
 * Sequence numbers grow by one per alert and the thread finishes them in
 * order, so every seq at or below the last "done" is finished. The file is
 * rewritten with only the pending lines at start, and cut to nothing each
 * time the queue runs empty. At most queue_max alerts are held in memory;
 * the rest wait in the spool ("spilled") and are read back when the memory
 * queue runs dry. Without a spool, a full queue drops the alert (counted,
 * logged).
 *
 * Locking: one mutex guards the queue, the counters and the spool
 * descriptor; the sink is only ever called from the delivery thread, with
 * the mutex released.
 */
#include "alert/delivery.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/file.h"
#include "core/json_dump.h"
#include "core/log.h"
#include "core/time.h"

#define DETECTOR_MAX 64
#define SPOOL_LINE_MAX ((size_t)1 << 20)
/* Sequence numbers start at 1 every time a spool is opened; this bound
 * only keeps a damaged number from wrapping the counter. */
#define SEQ_MAX (UINT64_C(1) << 62)

struct entry {
	struct entry *next;
	uint64_t seq;
	struct kw_alert alert;
	char detector[DETECTOR_MAX];
	bool spooled; /* has a record in the spool (gets a done mark) */
	size_t len;
	char json[]; /* len bytes and a NUL */
};

struct kw_delivery {
	struct kw_sink *sink;
	struct kw_delivery_opts o;
	pthread_t thread;
	bool started, joined;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_cond_t room; /* an entry left the memory queue, or a RETRY */

	struct entry *head, *tail;
	size_t nmem;
	uint64_t spilled;     /* pending in the spool, not in memory */
	uint64_t next_seq;    /* the next alert's seq */
	uint64_t released;    /* gated: entries up to this seq may go */
	size_t unkicked;      /* batched: queued since the last wake */
	uint64_t last_loaded; /* highest seq ever put in memory */
	unsigned attempts;    /* of the head */
	int64_t next_try;     /* monotonic ms: not before this */
	bool stopping;
	int64_t deadline; /* monotonic ms, when stopping */
	bool dirty;	  /* delivered since the last flush */
	unsigned seed;

	int spool_fd; /* -1: no spool */
	int lock_fd;  /* flock()ed while this process owns the spool */
	size_t spool_size;
	struct kw_delivery_stats st;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------- alerts from JSON */

enum kw_status kw_delivery_alert_from_json(const char *json, size_t len,
					   struct kw_alert *a,
					   char *detector_buf, size_t cap)
{
	json_t *o = json_loadb(json, len, 0, NULL);
	enum kw_status st = kw_alert_from_object(o, a, detector_buf, cap);

	json_decref(o);
	return st;
}

/* ---------------------------------------------------------------- entries */

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	kw_alert_clear(&e->alert);
	free(e);
}

static struct entry *entry_new(uint64_t seq, const char *json, size_t len)
{
	struct entry *e = calloc(1, sizeof(*e) + len + 1);

	if (!e)
		return NULL;
	e->seq = seq;
	e->len = len;
	memcpy(e->json, json, len);
	e->json[len] = '\0';
	return e;
}

/* NULL when out of memory. A copy that lacks a part (kw_alert_copy) is
 * still queued: its JSON, which most sinks send, is whole. A flat sink
 * (sink.h) reads no tree of the alert: it gets none. */
static struct entry *entry_from_alert(const struct kw_delivery *d, uint64_t seq,
				      const struct kw_alert *a,
				      const char *json, size_t len)
{
	struct entry *e = entry_new(seq, json, len);

	if (!e)
		return NULL;
	if (d->sink->ops->flat)
		kw_alert_copy_flat(&e->alert, a);
	else
		kw_alert_copy(&e->alert, a);
	snprintf(e->detector, sizeof(e->detector), "%s", a->detector);
	e->alert.detector = e->detector;
	return e;
}

static struct entry *entry_from_json(uint64_t seq, const char *json, size_t len)
{
	struct entry *e = entry_new(seq, json, len);

	if (!e)
		return NULL;
	if (kw_delivery_alert_from_json(e->json, len, &e->alert, e->detector,
					sizeof(e->detector)) != KW_OK) {
		free(e);
		return NULL;
	}
	return e;
}

static void push(struct kw_delivery *d, struct entry *e)
{
	if (d->tail)
		d->tail->next = e;
	else
		d->head = e;
	d->tail = e;
	d->nmem++;
	if (e->spooled && e->seq > d->last_loaded)
		d->last_loaded = e->seq;
}

static struct entry *pop(struct kw_delivery *d)
{
	struct entry *e = d->head;

	d->head = e->next;
	if (!d->head)
		d->tail = NULL;
	d->nmem--;
	return e;
}

/* ------------------------------------------------------------------ spool */

/* Append one line (with its newline), and fsync when sync. Records are
 * synced before submit returns; done marks are not: a mark lost with the
 * machine means one alert delivered twice, never one lost, and a process
 * killed after write() keeps it anyway. */
static int spool_append(struct kw_delivery *d, const char *line, size_t len,
			bool sync)
{
	if (kw_file_write_all(d->spool_fd, line, len) != 0 ||
	    (sync && fsync(d->spool_fd) != 0))
		return -1;
	d->spool_size += len;
	return 0;
}

static int spool_record(struct kw_delivery *d, uint64_t seq, const char *json,
			size_t len)
{
	char head[64];
	int n = snprintf(head, sizeof(head),
			 "{\"seq\":%" PRIu64 ",\"alert\":", seq);
	size_t total = (size_t)n + len + 2;
	char *line;
	int rc;

	if (d->spool_size + total > d->o.spool_max)
		return -1;
	line = malloc(total);
	if (!line)
		return -1;
	memcpy(line, head, (size_t)n);
	memcpy(line + n, json, len);
	memcpy(line + n + len, "}\n", 2);
	rc = spool_append(d, line, total, true);
	free(line);
	return rc;
}

static void spool_done(struct kw_delivery *d, uint64_t seq)
{
	char line[48];
	int n;

	if (d->spool_fd < 0)
		return;
	n = snprintf(line, sizeof(line), "{\"done\":%" PRIu64 "}\n", seq);
	if (spool_append(d, line, (size_t)n, false) != 0)
		kw_log_error("delivery", "%s: %s: cannot write: %s",
			     d->sink->name, d->st.spool, strerror(errno));
}

/* A spool line: a record (seq and the alert JSON), a done mark, or
 * neither (a line cut short by a crash, or damage: skipped). */
enum line_kind { LINE_BAD, LINE_RECORD, LINE_DONE };

/* Digits only (no sign, no blanks), at most SEQ_MAX; *end past them. */
static bool parse_seq(const char *s, uint64_t *v, const char **end)
{
	uint64_t n = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > SEQ_MAX)
			return false;
	}
	*v = n;
	*end = p;
	return p > s;
}

static enum line_kind parse_line(char *line, size_t len, uint64_t *seq,
				 char **json, size_t *jlen)
{
	static const char done[] = "{\"done\":", rec[] = "{\"seq\":";
	const char *p;

	if (!strncmp(line, done, sizeof(done) - 1)) {
		if (parse_seq(line + sizeof(done) - 1, seq, &p) &&
		    p[0] == '}' && (size_t)(p + 1 - line) == len)
			return LINE_DONE;
		return LINE_BAD;
	}
	if (strncmp(line, rec, sizeof(rec) - 1) != 0 ||
	    !parse_seq(line + sizeof(rec) - 1, seq, &p) ||
	    strncmp(p, ",\"alert\":", 9) != 0)
		return LINE_BAD;
	p += 9;
	if ((size_t)(p - line) + 2 > len || line[len - 1] != '}')
		return LINE_BAD;
	*json = line + (p - line);
	*jlen = len - (size_t)(p - line) - 1;
	return LINE_RECORD;
}

/* A spool read line by line, each at most SPOOL_LINE_MAX bytes: a longer
 * one is skipped whole, so what a spool makes keywatch allocate is one
 * line's buffer and the alerts it queues. */
struct spool_in {
	FILE *f;
	char *buf; /* SPOOL_LINE_MAX + 2 */
	uint64_t lineno;
	uint64_t damaged; /* lines too long or unreadable */
};

static enum kw_status spool_in_open(struct spool_in *in, const char *path,
				    struct kw_error *err)
{
	uint64_t size;
	enum kw_status st;

	memset(in, 0, sizeof(*in));
	st = kw_file_fopen_read(path, 0, &in->f, &size, err);
	if (st != KW_OK)
		return st;
	in->buf = malloc(SPOOL_LINE_MAX + 2);
	if (!in->buf) {
		fclose(in->f);
		in->f = NULL;
		return kw_error_set(err, KW_ENOMEM, "%s: out of memory", path);
	}
	return KW_OK;
}

static void spool_in_close(struct spool_in *in)
{
	if (in->f)
		fclose(in->f);
	free(in->buf);
	memset(in, 0, sizeof(*in));
}

/* The next whole line, without its newline (NUL-terminated in the
 * buffer). A last line without its newline was cut short by a crash: it
 * is not returned. false at the end. */
static bool spool_in_next(struct spool_in *in, char **line, size_t *len)
{
	while (fgets(in->buf, SPOOL_LINE_MAX + 2, in->f)) {
		size_t n = strlen(in->buf);

		in->lineno++;
		if (n && in->buf[n - 1] == '\n') {
			in->buf[--n] = '\0';
			*line = in->buf;
			*len = n;
			return true;
		}
		if (feof(in->f))
			return false; /* torn last line */
		/* Too long: skip to its end. */
		in->damaged++;
		while (fgets(in->buf, SPOOL_LINE_MAX + 2, in->f)) {
			n = strlen(in->buf);
			if (n && in->buf[n - 1] == '\n')
				break;
		}
	}
	return false;
}

/* Put pending records with seq > after into memory, up to queue_max.
 * With copy_fd >= 0 (the start), every pending record is also written to
 * copy_fd numbered afresh from 1 in file order, and queued under its new
 * number. Returns how many pending records the file holds past `after`;
 * -1 when it cannot be read (err set). */
static int64_t spool_read(struct kw_delivery *d, const char *path,
			  uint64_t after, uint64_t done, int copy_fd,
			  struct kw_error *err)
{
	struct spool_in in;
	char *line, head[48];
	size_t n;
	int64_t pending = 0;
	enum kw_status st;

	st = spool_in_open(&in, path, err);
	if (st == KW_ENOTFOUND)
		return 0;
	if (st != KW_OK)
		return -1;
	while (spool_in_next(&in, &line, &n)) {
		uint64_t seq;
		char *json = NULL;
		size_t jlen = 0;
		struct entry *e;
		enum line_kind k = parse_line(line, n, &seq, &json, &jlen);

		if (k == LINE_BAD)
			in.damaged++;
		if (k != LINE_RECORD || seq <= done || seq <= after)
			continue;
		if (copy_fd < 0 && d->nmem >= d->o.queue_max) {
			pending++; /* read back later */
			continue;
		}
		/* Read before it is counted or copied: an alert that does not
		 * read would otherwise be carried from spool to spool. */
		e = entry_from_json(seq, json, jlen);
		if (!e) {
			kw_log_error("delivery",
				     "%s: %s:%" PRIu64 ": skipping an "
				     "unreadable alert",
				     d->sink->name, path, in.lineno);
			continue;
		}
		e->spooled = true;
		pending++;
		if (copy_fd >= 0 && d->o.replayed)
			d->o.replayed(d->o.replayed_ctx, e->alert.id,
				      e->alert.time);
		if (copy_fd >= 0) {
			int h = snprintf(
				head, sizeof(head),
				"{\"seq\":%" PRId64 ",\"alert\":", pending);

			e->seq = (uint64_t)pending;
			if (kw_file_write_all(copy_fd, head, (size_t)h) != 0 ||
			    kw_file_write_all(copy_fd, json, jlen) != 0 ||
			    kw_file_write_all(copy_fd, "}\n", 2) != 0) {
				kw_error_set(err, KW_EIO, "%s.tmp: %s", path,
					     strerror(errno));
				entry_free(e);
				pending = -1;
				break;
			}
		}
		if (d->nmem < d->o.queue_max)
			push(d, e);
		else
			entry_free(e);
	}
	if (pending >= 0 && ferror(in.f)) {
		kw_error_set(err, KW_EIO, "%s: read error", path);
		pending = -1;
	}
	if (in.damaged)
		kw_log_warn("delivery",
			    "%s: %s: %" PRIu64 " damaged line%s skipped",
			    d->sink->name, path, in.damaged,
			    in.damaged == 1 ? "" : "s");
	spool_in_close(&in);
	return pending;
}

/* The highest done mark in the file. */
static enum kw_status spool_scan(const char *path, uint64_t *done,
				 struct kw_error *err)
{
	struct spool_in in;
	enum kw_status st;
	char *line;
	size_t n;

	*done = 0;
	st = spool_in_open(&in, path, err);
	if (st == KW_ENOTFOUND)
		return KW_OK;
	if (st != KW_OK)
		return st;
	while (spool_in_next(&in, &line, &n)) {
		uint64_t seq;
		char *json;
		size_t jlen;

		if (parse_line(line, n, &seq, &json, &jlen) == LINE_DONE &&
		    seq > *done)
			*done = seq;
	}
	if (ferror(in.f))
		st = kw_error_set(err, KW_EIO, "%s: read error", path);
	spool_in_close(&in);
	return st;
}

static enum kw_status make_dir(const char *dir, struct kw_error *err)
{
	char p[KW_DELIVERY_PATH_MAX];

	snprintf(p, sizeof(p), "%s", dir);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			return kw_error_set(err, KW_EIO, "%s: %s", p,
					    strerror(errno));
		*s = '/';
	}
	if (mkdir(p, 0700) != 0 && errno != EEXIST)
		return kw_error_set(err, KW_EIO, "%s: %s", p, strerror(errno));
	return KW_OK;
}

/* Open the spool: keep only its pending records (rewritten, numbered
 * afresh from 1, through a temporary file and a rename, so a crash leaves
 * one or the other), queue them, and open it for appending. */
static enum kw_status spool_open(struct kw_delivery *d, const char *name,
				 struct kw_error *err)
{
	char path[KW_DELIVERY_PATH_MAX + 8];
	struct kw_file_replace out = {.fd = -1};
	uint64_t done;
	int64_t pending;
	struct stat sb;
	enum kw_status st;

	st = make_dir(d->o.spool_dir, err);
	if (st != KW_OK)
		return st;
	/* One process per spool: two appending to one file would mark each
	 * other's alerts done. The lock lives on its own file because the
	 * spool itself is replaced by a rename below. */
	snprintf(path, sizeof(path), "%s/%s.lock", d->o.spool_dir, name);
	d->lock_fd = kw_file_open_append(path, O_RDWR, err);
	if (d->lock_fd < 0)
		return KW_EIO;
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return kw_error_set(err, KW_EIO,
				    "%s is in use by another keywatch process "
				    "(give each its own spool_dir)",
				    path);
	snprintf(d->st.spool, sizeof(d->st.spool), "%s/%s.spool.jsonl",
		 d->o.spool_dir, name);
	snprintf(d->st.dead_path, sizeof(d->st.dead_path), "%s/%s.dead.jsonl",
		 d->o.spool_dir, name);
	st = spool_scan(d->st.spool, &done, err);
	if (st != KW_OK)
		return st;
	st = kw_file_replace_begin(d->st.spool, &out, err);
	if (st != KW_OK)
		return st;
	pending = spool_read(d, d->st.spool, 0, done, out.fd, err);
	if (pending < 0) {
		kw_file_replace_abort(&out);
		return KW_EIO;
	}
	st = kw_file_replace_commit(&out, err);
	if (st != KW_OK)
		return st;
	d->spool_fd = kw_file_open_append(d->st.spool, 0, err);
	if (d->spool_fd < 0)
		return KW_EIO;
	if (fstat(d->spool_fd, &sb) != 0)
		return kw_error_set(err, KW_EIO, "%s: %s", d->st.spool,
				    strerror(errno));
	d->spool_size = (size_t)sb.st_size;
	d->next_seq = (uint64_t)pending + 1;
	d->released = (uint64_t)pending; /* an earlier run's: free to go */
	d->st.replayed = (uint64_t)pending;
	d->spilled = (uint64_t)pending - d->nmem;
	if (pending)
		kw_log_info("delivery",
			    "%s: %lld alert%s from the spool %s to deliver "
			    "first",
			    d->sink->name, (long long)pending,
			    pending == 1 ? "" : "s", d->st.spool);
	return KW_OK;
}

/* ------------------------------------------- spools in their directory */

#define SPOOL_SUFFIX ".spool.jsonl"

enum kw_status kw_delivery_spools(const char *dir, char ***stems, size_t *n,
				  struct kw_error *err)
{
	size_t cap = 0, sl = strlen(SPOOL_SUFFIX);
	char **v = NULL, **nv;
	struct dirent *de;
	DIR *d;

	*stems = NULL;
	*n = 0;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? KW_OK
				       : kw_error_set(err, KW_EIO, "%s: %s",
						      dir, strerror(errno));
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len <= sl ||
		    strcmp(de->d_name + len - sl, SPOOL_SUFFIX) != 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				goto nomem;
			v = nv;
		}
		v[*n] = strndup(de->d_name, len - sl);
		if (!v[*n])
			goto nomem;
		(*n)++;
	}
	closedir(d);
	*stems = v;
	return KW_OK;
nomem:
	closedir(d);
	kw_delivery_spools_free(v, *n);
	*n = 0;
	return kw_error_set(err, KW_ENOMEM, "%s: out of memory", dir);
}

void kw_delivery_spools_free(char **stems, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(stems[i]);
	free(stems);
}

int64_t kw_delivery_spool_pending(const char *dir, const char *stem,
				  struct kw_error *err)
{
	char path[KW_DELIVERY_PATH_MAX];
	struct spool_in in;
	uint64_t done, seq;
	int64_t pending = 0;
	char *line, *json;
	size_t n, jlen;

	snprintf(path, sizeof(path), "%s/%s" SPOOL_SUFFIX, dir, stem);
	if (spool_scan(path, &done, err) != KW_OK)
		return -1;
	switch (spool_in_open(&in, path, err)) {
	case KW_OK:
		break;
	case KW_ENOTFOUND:
		return 0;
	default:
		return -1;
	}
	while (spool_in_next(&in, &line, &n)) {
		if (parse_line(line, n, &seq, &json, &jlen) == LINE_RECORD &&
		    seq > done)
			pending++;
	}
	spool_in_close(&in);
	return pending;
}

/* Rename dir/from.ext to dir/to.ext; a missing source is no error. */
static int rename_one(const char *dir, const char *from, const char *to,
		      const char *ext)
{
	char a[KW_DELIVERY_PATH_MAX], b[KW_DELIVERY_PATH_MAX];

	snprintf(a, sizeof(a), "%s/%s%s", dir, from, ext);
	snprintf(b, sizeof(b), "%s/%s%s", dir, to, ext);
	if (rename(a, b) != 0 && errno != ENOENT)
		return -1;
	return 0;
}

enum kw_status kw_delivery_spool_rename(const char *dir, const char *from,
					const char *to, struct kw_error *err)
{
	char lock[KW_DELIVERY_PATH_MAX], dead[KW_DELIVERY_PATH_MAX];
	enum kw_status st = KW_OK;
	struct stat sb;
	int64_t waiting;
	int fd;

	snprintf(lock, sizeof(lock), "%s/%s.lock", dir, from);
	fd = kw_file_open_append(lock, O_RDWR, err);
	if (fd < 0)
		return KW_EIO;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		st = kw_error_set(err, KW_EIO,
				  "%s is in use by another keywatch process",
				  lock);
		goto cleanup;
	}
	waiting = kw_delivery_spool_pending(dir, to, err);
	if (waiting != 0) {
		if (waiting > 0)
			st = kw_error_set(err, KW_EINVAL,
					  "%s/%s" SPOOL_SUFFIX " holds %lld "
					  "alerts of its own",
					  dir, to, (long long)waiting);
		else
			st = KW_EIO;
		goto cleanup;
	}
	snprintf(dead, sizeof(dead), "%s/%s.dead.jsonl", dir, to);
	if (rename_one(dir, from, to, SPOOL_SUFFIX) != 0 ||
	    (stat(dead, &sb) != 0 &&
	     rename_one(dir, from, to, ".dead.jsonl") != 0)) {
		st = kw_error_set(err, KW_EIO, "%s/%s: cannot rename: %s", dir,
				  from, strerror(errno));
		goto cleanup;
	}
	unlink(lock);
cleanup:
	close(fd);
	return st;
}

/* Everything is finished: start the spool afresh. Called locked. */
static void spool_cut(struct kw_delivery *d)
{
	if (d->spool_fd < 0 || d->spool_size == 0)
		return;
	if (ftruncate(d->spool_fd, 0) == 0) {
		fsync(d->spool_fd);
		d->spool_size = 0;
	}
}

static void dead_letter(struct kw_delivery *d, const struct entry *e,
			const char *why)
{
	json_t *o = NULL;
	char t[32];
	char *head = NULL;
	int fd = -1;
	struct timespec ts;
	struct kw_error ferr;

	kw_log_error("delivery", "%s: alert %s rejected for good: %s%s%s",
		     d->sink->name, e->alert.id, why,
		     d->st.dead_path[0] ? "; kept in " : "", d->st.dead_path);
	if (!d->st.dead_path[0])
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	o = json_pack(
		"{s:s,s:s,s:s}", "time",
		kw_time_format((int64_t)ts.tv_sec * 1000000, t, sizeof(t)),
		"sink", d->sink->name, "error", why);
	head = o ? kw_json_dump(o, JSON_COMPACT) : NULL;
	kw_error_clear(&ferr);
	fd = kw_file_open_append(d->st.dead_path, 0, &ferr);
	/* {"time":..,"sink":..,"error":..,"alert":<json>} in one write. */
	if (!head || fd < 0 ||
	    dprintf(fd, "%.*s,\"alert\":%s}\n", (int)strlen(head) - 1, head,
		    e->json) < 0 ||
	    fsync(fd) != 0)
		kw_log_error("delivery", "%s: %s%s%s", d->sink->name,
			     ferr.msg[0] ? ferr.msg : d->st.dead_path,
			     ferr.msg[0] ? "" : ": cannot write: ",
			     ferr.msg[0] ? "" : strerror(errno));
	if (fd >= 0)
		close(fd);
	free(head);
	json_decref(o);
}

/* ----------------------------------------------------------------- thread */

static int64_t backoff(struct kw_delivery *d, unsigned attempts)
{
	int64_t delay = d->o.retry_min_ms;

	for (unsigned i = 1; i < attempts && delay < d->o.retry_max_ms; i++)
		delay *= 2;
	if (delay > d->o.retry_max_ms)
		delay = d->o.retry_max_ms;
	/* Jitter: anywhere in the upper half, so senders spread out. */
	return delay / 2 + (int64_t)(rand_r(&d->seed) % (delay / 2 + 1));
}

static void wait_until(struct kw_delivery *d, int64_t until)
{
	struct timespec ts;

	if (until <= 0) {
		pthread_cond_wait(&d->cv, &d->mu);
		return;
	}
	ts.tv_sec = (time_t)(until / 1000);
	ts.tv_nsec = (long)(until % 1000) * 1000000;
	pthread_cond_timedwait(&d->cv, &d->mu, &ts);
}

static void flush_sink(struct kw_delivery *d)
{
	struct kw_error err;

	kw_error_clear(&err);
	d->dirty = false;
	pthread_mutex_unlock(&d->mu);
	if (kw_sink_flush(d->sink, &err) != KW_SINK_OK)
		kw_log_error("delivery", "%s: %s", d->sink->name, err.msg);
	pthread_mutex_lock(&d->mu);
}

/* What to do with the head after the sink answered r. Called locked. */
static void settle(struct kw_delivery *d, enum kw_sink_result r,
		   const struct kw_error *err, int64_t retry_after)
{
	struct entry *e = d->head;
	int64_t delay;

	if (r == KW_SINK_RETRY) {
		d->st.retries++;
		d->attempts++;
		delay = retry_after > 0 ? retry_after : backoff(d, d->attempts);
		d->next_try = now_ms() + delay;
		kw_log_warn("delivery",
			    "%s: alert %s not delivered (attempt %u): %s; "
			    "next try in %.1f s",
			    d->sink->name, e->alert.id, d->attempts, err->msg,
			    (double)delay / 1000);
		pthread_cond_broadcast(&d->room); /* waiters drop now */
		return;
	}
	if (r == KW_SINK_OK) {
		d->st.delivered++;
		d->dirty = true;
	} else {
		d->st.dead++;
		dead_letter(d, e, err->msg[0] ? err->msg : "rejected");
	}
	if (e->spooled)
		spool_done(d, e->seq);
	entry_free(pop(d));
	pthread_cond_broadcast(&d->room);
	d->attempts = 0;
	d->next_try = 0;
	if (!d->head && !d->spilled)
		spool_cut(d);
}

static void reload(struct kw_delivery *d)
{
	uint64_t before = d->nmem;
	struct kw_error err;
	int64_t n;

	kw_error_clear(&err);
	n = spool_read(d, d->st.spool, d->last_loaded, 0, -1, &err);
	if (n < 0 || d->nmem == before) {
		kw_log_error("delivery",
			     "%s: %s: cannot read back %" PRIu64
			     " spilled alerts%s%s",
			     d->sink->name, d->st.spool, d->spilled,
			     err.msg[0] ? ": " : "", err.msg);
		d->st.dropped += d->spilled;
		d->spilled = 0;
		return;
	}
	d->spilled -= d->nmem - before;
}

static void *run(void *arg)
{
	struct kw_delivery *d = arg;
	sigset_t sigpipe;

	/* A peer that closed its socket must cost one RETRY, not the process
	 * (libcurl with CURLOPT_NOSIGNAL leaves SIGPIPE to us). */
	if (!d->o.keep_sigpipe) {
		sigemptyset(&sigpipe);
		sigaddset(&sigpipe, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &sigpipe, NULL);
	}
	pthread_mutex_lock(&d->mu);
	for (;;) {
		struct kw_error err;
		enum kw_sink_result r;
		int64_t now = now_ms(), retry_after = 0;

		if (!d->head && d->spilled)
			reload(d);
		if (!d->head) {
			if (d->dirty)
				flush_sink(d);
			else if (d->stopping)
				break;
			else
				wait_until(d, 0);
			continue;
		}
		if (d->stopping && now >= d->deadline)
			break;
		if (d->head->seq > d->released) {
			wait_until(d, 0); /* not released yet */
			continue;
		}
		if (now < d->next_try) {
			int64_t until = d->next_try;

			if (d->stopping && d->deadline < until)
				until = d->deadline;
			wait_until(d, until);
			continue;
		}
		pthread_mutex_unlock(&d->mu);
		kw_error_clear(&err);
		r = kw_sink_deliver(d->sink, &d->head->alert, d->head->json,
				    d->head->len, &err);
		if (r == KW_SINK_RETRY)
			retry_after = kw_sink_retry_after(d->sink);
		pthread_mutex_lock(&d->mu);
		settle(d, r, &err, retry_after);
	}
	if (d->dirty)
		flush_sink(d);
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

/* ------------------------------------------------------------------- API */

enum kw_status kw_delivery_start(struct kw_sink *sink, const char *name,
				 const struct kw_delivery_opts *o,
				 struct kw_delivery **out, struct kw_error *err)
{
	struct kw_delivery *d = calloc(1, sizeof(*d));
	pthread_condattr_t ca;
	enum kw_status st = KW_OK;

	*out = NULL;
	if (!d)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	d->sink = sink;
	d->o = *o;
	if (!d->o.queue_max)
		d->o.queue_max = KW_DELIVERY_QUEUE_MAX;
	if (!d->o.spool_max)
		d->o.spool_max = KW_DELIVERY_SPOOL_MAX;
	if (d->o.retry_min_ms <= 0)
		d->o.retry_min_ms = KW_DELIVERY_RETRY_MIN_MS;
	if (d->o.retry_max_ms < d->o.retry_min_ms)
		d->o.retry_max_ms = d->o.retry_min_ms;
	d->o.spool_dir = NULL; /* borrowed only during start */
	d->spool_fd = -1;
	d->lock_fd = -1;
	d->next_seq = 1;
	d->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)d;
	d->joined = true;
	pthread_mutex_init(&d->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&d->room, NULL);
	if (o->spool_dir) {
		d->o.spool_dir = o->spool_dir;
		st = spool_open(d, name, err);
		d->o.spool_dir = NULL;
		if (st != KW_OK) {
			kw_error_prefix(err, "%s: spool", sink->name);
			goto cleanup;
		}
	}
	if (pthread_create(&d->thread, NULL, run, d) != 0) {
		st = kw_error_set(err, KW_ENOMEM,
				  "%s: cannot start a delivery thread",
				  sink->name);
		goto cleanup;
	}
	d->started = true;
	d->joined = false;
cleanup:
	if (st != KW_OK) {
		kw_delivery_destroy(d);
		return st;
	}
	*out = d;
	return KW_OK;
}

void kw_delivery_submit(struct kw_delivery *d, const struct kw_alert *a,
			const char *json, size_t len)
{
	struct entry *e = NULL;
	bool spooled = false, full;
	uint64_t seq;

	pthread_mutex_lock(&d->mu);
	seq = d->next_seq++;
	if (!d->o.gated)
		d->released = seq;
	if (d->spool_fd >= 0) {
		spooled = spool_record(d, seq, json, len) == 0;
		if (!spooled)
			kw_log_error("delivery",
				     "%s: alert %s not spooled (%s is at its "
				     "bound or cannot be written)",
				     d->sink->name, a->id, d->st.spool);
	}
	/* Behind spilled alerts, or past the memory bound: wait in the spool
	 * (read back in order later). */
	if (spooled && (d->spilled || d->nmem >= d->o.queue_max)) {
		d->spilled++;
		goto out;
	}
	/* A local sink that keeps up: wait for its reader, lose nothing. */
	while (!spooled && d->o.wait_for_room && !d->o.gated &&
	       d->nmem >= d->o.queue_max && d->attempts == 0 && !d->stopping) {
		pthread_cond_signal(&d->cv);
		pthread_cond_wait(&d->room, &d->mu);
	}
	full = d->nmem >= d->o.queue_max;
	if (!full)
		e = entry_from_alert(d, seq, a, json, len);
	if (e) {
		e->spooled = spooled;
		push(d, e);
	} else if (spooled) {
		d->spilled++;
	} else if (full) {
		d->st.dropped++;
		kw_log_error("delivery",
			     "%s: alert %s dropped: the queue is full (%zu) "
			     "and there is no spool",
			     d->sink->name, a->id, d->o.queue_max);
	} else {
		d->st.dropped++;
		d->st.oom++;
		kw_log_error("delivery",
			     "%s: alert %s dropped: out of memory and there "
			     "is no spool",
			     d->sink->name, a->id);
	}
out:
	if (!d->o.batched || ++d->unkicked >= KW_DELIVERY_BATCH) {
		d->unkicked = 0;
		pthread_cond_signal(&d->cv);
	}
	pthread_mutex_unlock(&d->mu);
}

void kw_delivery_kick(struct kw_delivery *d)
{
	pthread_mutex_lock(&d->mu);
	if (d->unkicked) {
		d->unkicked = 0;
		pthread_cond_signal(&d->cv);
	}
	pthread_mutex_unlock(&d->mu);
}

void kw_delivery_release(struct kw_delivery *d)
{
	pthread_mutex_lock(&d->mu);
	if (d->released != d->next_seq - 1) {
		d->released = d->next_seq - 1;
		pthread_cond_signal(&d->cv);
	}
	pthread_mutex_unlock(&d->mu);
}

void kw_delivery_stop(struct kw_delivery *d, int64_t timeout_ms)
{
	if (!d || d->joined)
		return;
	pthread_mutex_lock(&d->mu);
	d->released = d->next_seq - 1; /* nothing more will come */
	if (!d->stopping) {
		d->stopping = true;
		pthread_cond_broadcast(&d->room);
		d->deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	} else if (now_ms() + timeout_ms < d->deadline) {
		d->deadline = now_ms() + timeout_ms;
	}
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->thread, NULL);
	d->joined = true;
}

void kw_delivery_stats(struct kw_delivery *d, struct kw_delivery_stats *out)
{
	pthread_mutex_lock(&d->mu);
	*out = d->st;
	out->pending = d->nmem + (size_t)d->spilled;
	pthread_mutex_unlock(&d->mu);
}

void kw_delivery_destroy(struct kw_delivery *d)
{
	if (!d)
		return;
	kw_delivery_stop(d, 0);
	while (d->head)
		entry_free(pop(d));
	if (d->spool_fd >= 0)
		close(d->spool_fd);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	pthread_cond_destroy(&d->cv);
	pthread_cond_destroy(&d->room);
	pthread_mutex_destroy(&d->mu);
	free(d);
}
