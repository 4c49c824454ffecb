/*
 * merge.c - inputs merged by event time (merge.h).
 *
 * The one idea: only the inputs that overlap the present are open, and
 * among them a binary heap keyed by each input's next record's time says
 * which record goes out next. An input joins the heap when the merge
 * reaches the time it starts at (known before it is opened), and leaves it
 * at its end. Records point into their input's splitter buffer, so when an
 * input needs its next batch while records of its last one are still in
 * the output, the output batch ends there: the refill waits for the next
 * call.
 *
 * Times are peeked, never decoded. With one input open and no other due
 * before the end of its batch (the common case of files that follow one
 * another), a whole batch goes out after one peek at its last record.
 */
#include "ingest/merge.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/time.h"
#include "ingest/json_peek.h"
#include "ingest/reader.h"
#include "ingest/splitter.h"

#define MEMBER_BATCH 512
#define PEEK_RECORDS 64 /* records looked at for an input's first time */
#define PEEK_BUFFER ((size_t)8 * 1024)
#define NO_TIME INT64_MIN

struct input {
	char *path;
	int64_t key; /* when it must be open by */
	uint32_t order;
};

/* An open input. */
struct member {
	uint32_t input;
	struct kw_reader *r;
	struct kw_splitter *sp;
	struct kw_record recs[MEMBER_BATCH];
	int64_t ts[MEMBER_BATCH];
	size_t n, pos, peeked; /* held; next out; times known for [0,peeked) */
	int64_t last;	       /* the last time known in this input */
	bool eof;
	size_t slot; /* place in the heap */
	unsigned char *user;
};

struct kw_merge {
	struct kw_merge_opts o;
	struct input *in;
	uint32_t *byorder; /* inputs by key */
	size_t n, next;	   /* inputs; the next to open (index into byorder) */
	struct member **heap;
	size_t nheap;
	struct member **open; /* by input index while open: see open_of */
	int64_t frontier;     /* the newest time that went out */
	struct kw_merge_stats st;
};

/* ---- times ---- */

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
	}
	return true;
}

bool kw_merge_name_time(const char *path, int64_t *ts_us)
{
	const char *base = strrchr(path, '/');
	const char *ct, *t;
	char iso[32];

	base = base ? base + 1 : path;
	ct = strstr(base, "_CloudTrail_");
	if (!ct || ct == base || !digits(base, (size_t)(ct - base)))
		return false;
	/* <region>_YYYYMMDDTHHMMZ_: the first '_' after the region */
	t = strchr(ct + 12, '_');
	if (!t || strlen(t) < 15 || !digits(t + 1, 8) || t[9] != 'T' ||
	    !digits(t + 10, 4) || t[14] != 'Z')
		return false;
	snprintf(iso, sizeof(iso), "%.4s-%.2s-%.2sT%.2s:%.2s:00Z", t + 1, t + 5,
		 t + 7, t + 10, t + 12);
	return kw_time_parse(iso, strlen(iso), ts_us);
}

/* A record's time by a peek; false when it has none that can be seen. */
static bool record_time(const struct kw_merge *m, const struct kw_record *r,
			int64_t *ts)
{
	static const char *const stamp[] = {"timestamp"};
	struct kw_str text = {r->p, r->n}, v;

	if (r->kind == KW_REC_LOGEVENTS)
		return kw_json_peek(text.p, text.n, stamp, 1, &v) >= 0 &&
		       kw_json_peek_time(v, ts);
	if (r->kind == KW_REC_TEXT) {
		const char *sp = memchr(r->p, ' ', r->n < 40 ? r->n : 40);

		return sp && kw_time_parse(r->p, (size_t)(sp - r->p), ts);
	}
	if (m->o.root && !kw_json_peek_path(text.p, text.n, m->o.root, &text))
		return false;
	if (m->o.time_path) {
		if (!kw_json_peek_path(text.p, text.n, m->o.time_path, &v))
			return false;
	} else {
		size_t nn = 0;

		while (m->o.time_names[nn])
			nn++;
		if (kw_json_peek(text.p, text.n, m->o.time_names, nn, &v) < 0)
			return false;
	}
	return kw_json_peek_time(v, ts);
}

/* The time of a member's record i (peeked once). */
static int64_t time_at(struct kw_merge *m, struct member *mb, size_t i)
{
	while (mb->peeked <= i) {
		int64_t t;

		if (!record_time(m, &mb->recs[mb->peeked], &t))
			t = mb->last;
		mb->ts[mb->peeked++] = t;
		mb->last = t;
	}
	return mb->ts[i];
}

/* The time of record i when it has one of its own (no earlier record is
 * peeked); else as time_at. */
static int64_t time_of(struct kw_merge *m, struct member *mb, size_t i)
{
	int64_t t;

	if (i < mb->peeked)
		return mb->ts[i];
	if (record_time(m, &mb->recs[i], &t))
		return t;
	return time_at(m, mb, i);
}

/* ---- the heap ---- */

static int64_t head(struct kw_merge *m, struct member *mb)
{
	return time_at(m, mb, mb->pos);
}

/* a before b: earlier head, then earlier input (a stable order) */
static bool before(struct kw_merge *m, struct member *a, struct member *b)
{
	int64_t ta = head(m, a), tb = head(m, b);

	if (ta != tb)
		return ta < tb;
	return m->in[a->input].order < m->in[b->input].order;
}

static void heap_set(struct kw_merge *m, size_t i, struct member *mb)
{
	m->heap[i] = mb;
	mb->slot = i;
}

static void sift_up(struct kw_merge *m, size_t i)
{
	struct member *mb = m->heap[i];

	while (i > 0 && before(m, mb, m->heap[(i - 1) / 2])) {
		heap_set(m, i, m->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(m, i, mb);
}

static void sift_down(struct kw_merge *m, size_t i)
{
	struct member *mb = m->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= m->nheap)
			break;
		if (c + 1 < m->nheap && before(m, m->heap[c + 1], m->heap[c]))
			c++;
		if (!before(m, m->heap[c], mb))
			break;
		heap_set(m, i, m->heap[c]);
		i = c;
	}
	heap_set(m, i, mb);
}

/* Take the top out: an input at its end. */
static void heap_pop(struct kw_merge *m)
{
	m->nheap--;
	if (m->nheap == 0)
		return;
	heap_set(m, 0, m->heap[m->nheap]);
	sift_down(m, 0);
}

/* ---- inputs ---- */

static void fail(struct kw_merge *m, enum kw_skip_reason reason,
		 const struct kw_error *err)
{
	m->o.failed(m->o.ctx, reason, err->msg);
}

/* The next batch of an open input; false at its end (or damage, which is
 * reported). */
static bool fill(struct kw_merge *m, struct member *mb, struct kw_skips *skips)
{
	struct kw_error err;
	enum kw_status st;
	size_t n = 0;

	mb->pos = mb->peeked = mb->n = 0;
	if (mb->eof)
		return false;
	kw_error_clear(&err);
	st = kw_splitter_next(mb->sp, mb->recs, MEMBER_BATCH, &n, skips, &err);
	if (st != KW_OK) {
		if (strncmp(err.msg, mb->r->name, strlen(mb->r->name)) != 0)
			kw_error_prefix(&err, "%s", mb->r->name);
		fail(m, KW_SKIP_CORRUPT, &err);
		mb->eof = true;
		return false;
	}
	if (n == 0) {
		mb->eof = true;
		return false;
	}
	mb->n = n;
	return true;
}

static void close_member(struct kw_merge *m, struct member *mb)
{
	if (!mb)
		return;
	m->open[mb->input] = NULL;
	kw_splitter_destroy(mb->sp);
	kw_reader_close(mb->r);
	free(mb->user);
	free(mb);
}

/* Open input i and read its first batch; it joins the heap unless empty. */
static void open_input(struct kw_merge *m, uint32_t i, struct kw_skips *skips)
{
	struct member *mb = calloc(1, sizeof(*mb));
	struct kw_error err;

	kw_error_clear(&err);
	if (!mb ||
	    (m->o.user_size && !(mb->user = calloc(1, m->o.user_size)))) {
		kw_error_set(&err, KW_ENOMEM, "%s: out of memory",
			     m->in[i].path);
		fail(m, KW_SKIP_UNREADABLE, &err);
		free(mb);
		return;
	}
	mb->input = i;
	mb->last = m->in[i].key;
	m->st.opened++;
	if (kw_reader_open(m->in[i].path, &mb->r, &err) != KW_OK) {
		m->o.opened(m->o.ctx, i, m->in[i].path, NULL);
		fail(m, KW_SKIP_UNREADABLE, &err);
		free(mb->user);
		free(mb);
		return;
	}
	if (kw_splitter_create(mb->r, mb->r->name, m->o.max_record,
			       KW_SPLITTER_SMALL, &mb->sp) != KW_OK) {
		kw_error_set(&err, KW_ENOMEM, "%s: out of memory", mb->r->name);
		m->o.opened(m->o.ctx, i, mb->r->name, NULL);
		fail(m, KW_SKIP_UNREADABLE, &err);
		kw_reader_close(mb->r);
		free(mb->user);
		free(mb);
		return;
	}
	m->open[i] = mb;
	m->o.opened(m->o.ctx, i, mb->r->name, mb->user);
	if (!fill(m, mb, skips)) {
		close_member(m, mb);
		return;
	}
	if (head(m, mb) < m->frontier)
		m->st.opened_late++;
	heap_set(m, m->nheap++, mb);
	sift_up(m, m->nheap - 1);
	if (m->nheap > m->st.most_open)
		m->st.most_open = m->nheap;
}

/* When input i must be open by: its name's time less the window, or a
 * peek at its first records' time. */
static int64_t start_of(struct kw_merge *m, const char *path)
{
	struct kw_reader *r = NULL;
	struct kw_splitter *sp = NULL;
	struct kw_record recs[PEEK_RECORDS];
	struct kw_skips skips = {0};
	struct kw_error err;
	struct stat sb;
	int64_t t = NO_TIME;
	size_t n = 0;

	if (kw_merge_name_time(path, &t))
		return t - m->o.name_window;
	t = NO_TIME;
	/* standard input and FIFOs cannot be read twice */
	if (!strcmp(path, "-") || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
		return NO_TIME;
	if (kw_reader_open(path, &r, &err) != KW_OK)
		return NO_TIME; /* reported when it is opened to be read */
	m->st.peeked++;
	/* A small first read: the first records are enough. */
	if (kw_splitter_create(r, path, m->o.max_record, PEEK_BUFFER, &sp) ==
		    KW_OK &&
	    kw_splitter_next(sp, recs, PEEK_RECORDS, &n, &skips, &err) ==
		    KW_OK) {
		for (size_t i = 0; i < n; i++) {
			if (record_time(m, &recs[i], &t))
				break;
		}
	}
	kw_splitter_destroy(sp);
	kw_reader_close(r);
	return t;
}

static int by_key(const void *a, const void *b, void *ctx)
{
	const struct kw_merge *m = ctx;
	const struct input *x = &m->in[*(const uint32_t *)a];
	const struct input *y = &m->in[*(const uint32_t *)b];

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

enum kw_status kw_merge_create(const char *const *paths, size_t n,
			       const struct kw_merge_opts *o,
			       struct kw_merge **out, struct kw_error *err)
{
	struct kw_merge *m = calloc(1, sizeof(*m));
	enum kw_status st = KW_OK;

	*out = NULL;
	if (!m)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	m->o = *o;
	if (!m->o.max_open)
		m->o.max_open = KW_MERGE_MAX_OPEN_DEFAULT;
	if (!m->o.name_window)
		m->o.name_window = KW_MERGE_NAME_WINDOW_DEFAULT;
	m->frontier = NO_TIME;
	m->n = n;
	m->st.inputs = n;
	m->in = calloc(n ? n : 1, sizeof(*m->in));
	m->byorder = calloc(n ? n : 1, sizeof(*m->byorder));
	m->open = calloc(n ? n : 1, sizeof(*m->open));
	m->heap = calloc(m->o.max_open, sizeof(*m->heap));
	if (!m->in || !m->byorder || !m->open || !m->heap) {
		st = kw_error_set(err, KW_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		m->in[i].path = strdup(paths[i]);
		if (!m->in[i].path) {
			st = kw_error_set(err, KW_ENOMEM, "out of memory");
			goto cleanup;
		}
		m->in[i].order = (uint32_t)i;
		m->in[i].key = start_of(m, paths[i]);
		m->byorder[i] = (uint32_t)i;
	}
	qsort_r(m->byorder, n, sizeof(*m->byorder), by_key, m);
cleanup:
	if (st != KW_OK)
		kw_merge_destroy(m);
	else
		*out = m;
	return st;
}

void kw_merge_destroy(struct kw_merge *m)
{
	if (!m)
		return;
	for (size_t i = 0; m->heap && i < m->nheap; i++)
		close_member(m, m->heap[i]);
	for (size_t i = 0; m->in && i < m->n; i++)
		free(m->in[i].path);
	free(m->in);
	free(m->byorder);
	free(m->open);
	free(m->heap);
	free(m);
}

/* ---- the stream ---- */

/* Open the inputs due: those that start before the earliest open one's
 * next record (any one when none is open). */
static void open_due(struct kw_merge *m, struct kw_skips *skips)
{
	while (m->next < m->n && m->nheap < m->o.max_open) {
		uint32_t i = m->byorder[m->next];

		if (m->nheap && m->in[i].key > head(m, m->heap[0]))
			break;
		m->next++;
		open_input(m, i, skips);
	}
}

/* How far the heap's top may go before another input could come first. */
static int64_t bound(struct kw_merge *m)
{
	int64_t b = INT64_MAX;

	for (size_t c = 1; c <= 2 && c < m->nheap; c++) {
		int64_t t = head(m, m->heap[c]);

		if (t < b)
			b = t;
	}
	if (m->next < m->n && m->nheap < m->o.max_open &&
	    m->in[m->byorder[m->next]].key < b)
		b = m->in[m->byorder[m->next]].key;
	return b;
}

/* The top's batch went out: refill it; false when the output batch must
 * end first (its records point into that input's buffer). */
static bool refill_top(struct kw_merge *m, size_t n, struct kw_skips *skips)
{
	struct member *mb = m->heap[0];

	if (n)
		return false;
	if (fill(m, mb, skips)) {
		sift_down(m, 0);
	} else {
		heap_pop(m);
		close_member(m, mb);
	}
	return true;
}

void kw_merge_next(struct kw_merge *m, struct kw_record *recs, uint32_t *input,
		   size_t max, size_t *n, struct kw_skips *skips)
{
	*n = 0;
	for (;;) {
		struct member *mb;
		int64_t b, t;
		size_t end, i;

		if (m->nheap && m->heap[0]->pos == m->heap[0]->n) {
			if (!refill_top(m, *n, skips))
				return;
			continue;
		}
		open_due(m, skips);
		if (!m->nheap)
			return;
		mb = m->heap[0];
		b = bound(m);
		end = mb->n - mb->pos > max - *n ? mb->pos + (max - *n) : mb->n;
		/* Records in an input are about in order: when it is the
		 * only one open and the last record that may go out is within
		 * the bound, all of them go, and the ones between need no
		 * peek. (With several open, each record is looked at.) */
		if (b == INT64_MAX) {
			i = end;
		} else if (m->nheap == 1 &&
			   (t = time_of(m, mb, end - 1)) <= b) {
			i = end;
			if (t > m->frontier)
				m->frontier = t;
			if (mb->peeked < end) {
				mb->peeked = end;
				mb->ts[end - 1] = t;
				mb->last = t;
			}
		} else {
			i = mb->pos + 1; /* the head is never past the bound */
			while (i < end && time_at(m, mb, i) <= b)
				i++;
			if (time_at(m, mb, i - 1) > m->frontier)
				m->frontier = time_at(m, mb, i - 1);
		}
		for (size_t k = mb->pos; k < i; k++) {
			recs[*n] = mb->recs[k];
			input[*n] = mb->input;
			(*n)++;
		}
		if (mb->peeked < i)
			mb->peeked = i;
		mb->pos = i;
		if (mb->pos < mb->n)
			sift_down(m, 0);
		if (*n == max)
			return;
	}
}

const char *kw_merge_name(const struct kw_merge *m, uint32_t input)
{
	return input < m->n && m->open[input] ? m->open[input]->r->name : NULL;
}

void *kw_merge_user(struct kw_merge *m, uint32_t input)
{
	return input < m->n && m->open[input] ? m->open[input]->user : NULL;
}

const struct kw_merge_stats *kw_merge_stats(const struct kw_merge *m)
{
	return &m->st;
}
