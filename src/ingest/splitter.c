/*
 * splitter.c - cutting the decoded byte stream into records: lines of JSONL,
 * or the elements of a JSON document's array ([...] or {"Records":[...]}).
 *
 * The one idea: one buffer of max_record + 1 + SPLIT_READ bytes, refilled
 * only when every record handed out from it has been consumed (records
 * point into it, so nothing may move while the caller holds them). On
 * refill, only the unfinished record at the tail moves to the front; since
 * it is at most max_record (+1 for a '\r') bytes long, there is always room
 * for a full read. A record that outgrows the bound is counted once and
 * then discarded byte by byte as it streams past, so memory never grows.
 *
 * JSONL is the hot path: memchr for newlines, no copy of a line that lies
 * whole in the buffer. Documents are scanned byte by byte with a resumable
 * state machine (inside a string, after a backslash, bracket depth), which
 * only has to find where each element starts and ends; the decoder
 * validates the element itself.
 */
#include "ingest/splitter.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPLIT_READ ((size_t)256 * 1024)

/* Where a document's scanner stands. */
enum doc_state {
	D_FIRST,    /* after '[': a value or ']' */
	D_VALUE,    /* after ',': a value */
	D_IN_VALUE, /* inside an element */
	D_COMMA,    /* after an element: ',' or ']' */
	D_TRAILER,  /* RECORDS: the rest of the wrapping object */
	D_AFTER,    /* after the document: whitespace only */
};

struct kw_splitter {
	struct kw_reader *r;
	const char *name;
	size_t max_record;
	char *buf;
	size_t cap;
	size_t start;  /* first byte still needed */
	size_t scan;   /* next byte to look at */
	size_t end;    /* bytes held */
	uint64_t line; /* LINES: line of buf[start]; documents: of buf[scan] */
	enum kw_shape shape;
	bool sniffed;
	bool eof;
	bool finished;
	struct kw_error pending; /* an error to return on the next call */

	bool skipping; /* LINES: discarding an over-long line */

	enum doc_state ds;
	bool in_str;
	bool esc;
	bool scalar; /* the element is a bare number, true, false or null */
	bool vskip;  /* the element is over-long: discarding it */
	size_t depth;
	size_t vstart; /* offset of the element's first byte */
	uint64_t vline;
	uint64_t last_line; /* line of the last byte that is not whitespace */
};

enum kw_status kw_splitter_create(struct kw_reader *r, const char *name,
				  size_t max_record, struct kw_splitter **out)
{
	struct kw_splitter *s = NULL;

	*out = NULL;
	if (max_record == 0)
		max_record = KW_MAX_RECORD_DEFAULT;
	if (max_record > SIZE_MAX / 2)
		return KW_ETOOBIG;
	s = calloc(1, sizeof(*s));
	if (!s)
		return KW_ENOMEM;
	s->r = r;
	s->name = name;
	s->max_record = max_record;
	s->cap = max_record + 1 + SPLIT_READ;
	s->buf = malloc(s->cap);
	if (!s->buf) {
		free(s);
		return KW_ENOMEM;
	}
	s->line = 1;
	*out = s;
	return KW_OK;
}

void kw_splitter_destroy(struct kw_splitter *s)
{
	if (!s)
		return;
	free(s->buf);
	free(s);
}

enum kw_shape kw_splitter_shape(const struct kw_splitter *s)
{
	return s->shape;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void set_pending(struct kw_splitter *s, const char *fmt, uint64_t line,
			char c)
{
	char what[32];

	if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
		snprintf(what, sizeof(what), "'%c'", c);
	else
		snprintf(what, sizeof(what), "byte 0x%02x", (unsigned char)c);
	kw_error_set(&s->pending, KW_EINVAL,
		     "line %llu: ", (unsigned long long)line);
	snprintf(s->pending.msg + strlen(s->pending.msg),
		 sizeof(s->pending.msg) - strlen(s->pending.msg), fmt, what);
}

/* Move what is still needed to the front and read more after it. */
static enum kw_status fill(struct kw_splitter *s, struct kw_error *err)
{
	size_t got = 0;
	size_t drop = s->start;
	enum kw_status st;

	if (drop > 0) {
		memmove(s->buf, s->buf + drop, s->end - drop);
		s->end -= drop;
		s->scan -= drop;
		s->start = 0;
		if (s->ds == D_IN_VALUE && !s->vskip)
			s->vstart -= drop;
	}
	st = kw_reader_read(s->r, s->buf + s->end, s->cap - s->end, &got, err);
	if (st != KW_OK)
		return st;
	if (got == 0)
		s->eof = true;
	s->end += got;
	return KW_OK;
}

/* ---- shape ------------------------------------------------------------- */

enum sniff_result { SNIFF_MORE, SNIFF_LINES, SNIFF_ARRAY, SNIFF_RECORDS };

static size_t skip_ws(const char *p, size_t i, size_t n)
{
	while (i < n && is_ws(p[i]))
		i++;
	return i;
}

/* Decide the shape from buf[from..end); *body is where scanning resumes. */
static enum sniff_result sniff(const char *p, size_t from, size_t n,
			       size_t *body)
{
	static const char key[] = "\"Records\"";
	size_t klen = sizeof(key) - 1;
	size_t i = skip_ws(p, from, n);

	if (i == n)
		return SNIFF_MORE;
	if (p[i] == '[') {
		*body = i + 1;
		return SNIFF_ARRAY;
	}
	if (p[i] != '{')
		return SNIFF_LINES;
	i = skip_ws(p, i + 1, n);
	if (n - i < klen)
		return SNIFF_MORE;
	if (memcmp(p + i, key, klen) != 0)
		return SNIFF_LINES;
	i = skip_ws(p, i + klen, n);
	if (i == n)
		return SNIFF_MORE;
	if (p[i] != ':')
		return SNIFF_LINES;
	i = skip_ws(p, i + 1, n);
	if (i == n)
		return SNIFF_MORE;
	if (p[i] != '[')
		return SNIFF_LINES;
	*body = i + 1;
	return SNIFF_RECORDS;
}

static enum kw_status detect_shape(struct kw_splitter *s, struct kw_error *err)
{
	enum sniff_result res = SNIFF_MORE;
	size_t from = 0;
	size_t body = 0;
	size_t i;
	enum kw_status st;

	for (;;) {
		if (s->end >= 3 && memcmp(s->buf, "\xef\xbb\xbf", 3) == 0)
			from = 3;
		if (s->end < 3 && memcmp(s->buf, "\xef\xbb\xbf", s->end) == 0)
			res = SNIFF_MORE; /* maybe a BOM, maybe empty */
		else
			res = sniff(s->buf, from, s->end, &body);
		if (res != SNIFF_MORE || s->eof || s->end == s->cap)
			break;
		st = fill(s, err);
		if (st != KW_OK)
			return st;
	}
	s->sniffed = true;
	s->start = s->scan = from;
	if (res == SNIFF_ARRAY || res == SNIFF_RECORDS) {
		s->shape =
			res == SNIFF_ARRAY ? KW_SHAPE_ARRAY : KW_SHAPE_RECORDS;
		for (i = from; i < body; i++)
			s->line += s->buf[i] == '\n';
		s->start = s->scan = body;
		s->last_line = s->line;
		s->ds = D_FIRST;
	} else if (skip_ws(s->buf, from, s->end) < s->end) {
		s->shape = KW_SHAPE_LINES;
	}
	return KW_OK;
}

/* ---- JSONL ------------------------------------------------------------- */

static void line_record(struct kw_splitter *s, size_t from, size_t to,
			struct kw_record *recs, size_t *n,
			struct kw_skips *skips)
{
	const char *p = s->buf + from;
	size_t len = to - from;
	size_t i = 0;

	if (len > 0 && p[len - 1] == '\r')
		len--;
	if (len > s->max_record) {
		kw_skips_add(skips, KW_SKIP_TOO_LONG, s->name, s->line,
			     "line longer than %zu bytes skipped",
			     s->max_record);
		return;
	}
	while (i < len && is_ws(p[i]))
		i++;
	if (i == len)
		return;
	recs[*n] = (struct kw_record){.p = p, .n = len, .line = s->line};
	(*n)++;
}

static void lines_scan(struct kw_splitter *s, struct kw_record *recs,
		       size_t max, size_t *n, struct kw_skips *skips)
{
	const char *nl;
	size_t e;

	while (*n < max) {
		nl = memchr(s->buf + s->scan, '\n', s->end - s->scan);
		if (!nl) {
			s->scan = s->end;
			if (s->skipping) {
				s->start = s->end;
			} else if (s->end - s->start > s->max_record + 1) {
				kw_skips_add(
					skips, KW_SKIP_TOO_LONG, s->name,
					s->line,
					"line longer than %zu bytes skipped",
					s->max_record);
				s->skipping = true;
				s->start = s->end;
			}
			return;
		}
		e = (size_t)(nl - s->buf);
		if (s->skipping)
			s->skipping = false;
		else
			line_record(s, s->start, e, recs, n, skips);
		s->line++;
		s->start = s->scan = e + 1;
	}
}

static void lines_finish(struct kw_splitter *s, struct kw_record *recs,
			 size_t *n, struct kw_skips *skips)
{
	if (!s->skipping && s->start < s->end)
		line_record(s, s->start, s->end, recs, n, skips);
	s->start = s->scan = s->end;
}

/* ---- documents --------------------------------------------------------- */

static void value_end(struct kw_splitter *s, size_t to, struct kw_record *recs,
		      size_t *n, struct kw_skips *skips)
{
	size_t len = to - s->vstart;

	s->ds = D_COMMA;
	if (s->vskip)
		return;
	if (len > s->max_record) {
		kw_skips_add(skips, KW_SKIP_TOO_LONG, s->name, s->vline,
			     "record longer than %zu bytes skipped",
			     s->max_record);
		return;
	}
	recs[*n] = (struct kw_record){
		.p = s->buf + s->vstart, .n = len, .line = s->vline};
	(*n)++;
}

static void value_begin(struct kw_splitter *s, char c)
{
	s->vstart = s->scan;
	s->vline = s->line;
	s->vskip = false;
	s->in_str = c == '"';
	s->esc = false;
	s->scalar = c != '"' && c != '{' && c != '[';
	s->depth = (c == '{' || c == '[') ? 1 : 0;
	s->ds = D_IN_VALUE;
}

static void array_closed(struct kw_splitter *s)
{
	if (s->shape == KW_SHAPE_RECORDS) {
		s->ds = D_TRAILER;
		s->depth = 1;
		s->in_str = false;
		s->esc = false;
	} else {
		s->ds = D_AFTER;
	}
}

/* One byte inside an element or the RECORDS trailer: strings and depth.
 * Returns true when the byte closes the outermost bracket. */
static bool nest_byte(struct kw_splitter *s, char c)
{
	if (s->in_str) {
		if (s->esc)
			s->esc = false;
		else if (c == '\\')
			s->esc = true;
		else if (c == '"')
			s->in_str = false;
		else if (c == '\n')
			s->line++;
		return false;
	}
	switch (c) {
	case '"':
		s->in_str = true;
		return false;
	case '{':
	case '[':
		s->depth++;
		return false;
	case '}':
	case ']':
		return --s->depth == 0;
	case '\n':
		s->line++;
		return false;
	default:
		return false;
	}
}

/* Inside an element. Returns false when the byte at scan is to be looked at
 * again in the new state (the delimiter after a bare scalar). */
static bool value_byte(struct kw_splitter *s, char c, struct kw_record *recs,
		       size_t *n, struct kw_skips *skips)
{
	if (s->scalar) {
		if (is_ws(c) || c == ',' || c == ']') {
			value_end(s, s->scan, recs, n, skips);
			return false;
		}
		return true;
	}
	if (s->depth == 0) {
		/* A bare string: ends at its closing quote. */
		nest_byte(s, c);
		if (!s->in_str)
			value_end(s, s->scan + 1, recs, n, skips);
		return true;
	}
	if (nest_byte(s, c))
		value_end(s, s->scan + 1, recs, n, skips);
	return true;
}

/* A structural byte between elements (not whitespace). Returns false on a
 * structural error (pending is set). */
static bool between_byte(struct kw_splitter *s, char c)
{
	switch (s->ds) {
	case D_FIRST:
		if (c == ']') {
			array_closed(s);
			return true;
		}
		/* fall through */
	case D_VALUE:
		if (c == ',' || c == ']' || c == '}' || c == ':') {
			set_pending(s, "expected a value, found %s", s->line,
				    c);
			return false;
		}
		value_begin(s, c);
		return true;
	case D_COMMA:
		if (c == ',') {
			s->ds = D_VALUE;
			return true;
		}
		if (c == ']') {
			array_closed(s);
			return true;
		}
		set_pending(
			s,
			"expected ',' or ']' after an array element, found %s",
			s->line, c);
		return false;
	default:
		set_pending(s, "unexpected %s after the array", s->line, c);
		return false;
	}
}

static void doc_scan(struct kw_splitter *s, struct kw_record *recs, size_t max,
		     size_t *n, struct kw_skips *skips)
{
	char c;

	while (s->scan < s->end && *n < max) {
		c = s->buf[s->scan];
		if (!is_ws(c))
			s->last_line = s->line;
		if (s->ds == D_IN_VALUE) {
			if (value_byte(s, c, recs, n, skips))
				s->scan++;
			continue;
		}
		if (s->ds == D_TRAILER) {
			if (nest_byte(s, c))
				s->ds = D_AFTER;
			s->scan++;
			continue;
		}
		if (is_ws(c)) {
			s->line += c == '\n';
			s->scan++;
			continue;
		}
		if (!between_byte(s, c))
			return;
		if (s->ds == D_IN_VALUE && !s->scalar && s->depth == 0) {
			/* The opening quote of a bare string is consumed. */
			s->scan++;
			continue;
		}
		if (s->ds != D_IN_VALUE || !s->scalar)
			s->scan++;
	}
	if (s->ds == D_IN_VALUE && !s->vskip) {
		if (s->end - s->vstart > s->max_record) {
			kw_skips_add(skips, KW_SKIP_TOO_LONG, s->name, s->vline,
				     "record longer than %zu bytes skipped",
				     s->max_record);
			s->vskip = true;
		}
	}
	s->start = (s->ds == D_IN_VALUE && !s->vskip) ? s->vstart : s->scan;
}

static void doc_finish(struct kw_splitter *s, struct kw_record *recs, size_t *n,
		       struct kw_skips *skips)
{
	if (s->ds == D_IN_VALUE && s->scalar) {
		/* "[1" at the end: the scalar ends, the array does not. */
		value_end(s, s->end, recs, n, skips);
	}
	if (s->ds == D_AFTER)
		return;
	kw_error_set(&s->pending, KW_EINVAL, "line %llu: %s",
		     (unsigned long long)s->last_line,
		     s->ds == D_TRAILER ? "unterminated JSON object"
					: "unterminated JSON array");
}

/* ---- next -------------------------------------------------------------- */

static enum kw_status take_pending(struct kw_splitter *s, struct kw_error *err)
{
	enum kw_status st = s->pending.status;

	if (err)
		*err = s->pending;
	kw_error_clear(&s->pending);
	s->finished = true;
	return st;
}

enum kw_status kw_splitter_next(struct kw_splitter *s, struct kw_record *recs,
				size_t max, size_t *n, struct kw_skips *skips,
				struct kw_error *err)
{
	enum kw_status st;

	*n = 0;
	if (s->pending.status != KW_OK)
		return take_pending(s, err);
	if (s->finished || max == 0)
		return KW_OK;
	if (!s->sniffed) {
		st = detect_shape(s, &s->pending);
		if (st != KW_OK)
			return take_pending(s, err);
		if (s->shape == KW_SHAPE_UNKNOWN) {
			s->finished = true;
			return KW_OK;
		}
	}
	for (;;) {
		if (s->shape == KW_SHAPE_LINES)
			lines_scan(s, recs, max, n, skips);
		else
			doc_scan(s, recs, max, n, skips);
		if (s->pending.status != KW_OK || *n == max)
			break;
		if (s->eof) {
			if (s->shape == KW_SHAPE_LINES)
				lines_finish(s, recs, n, skips);
			else
				doc_finish(s, recs, n, skips);
			s->finished = true;
			break;
		}
		if (*n > 0)
			break; /* a refill would move the records handed out */
		st = fill(s, &s->pending);
		if (st != KW_OK)
			break;
	}
	if (s->pending.status != KW_OK && *n == 0)
		return take_pending(s, err);
	return KW_OK;
}
