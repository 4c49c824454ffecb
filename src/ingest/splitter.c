/*
 * splitter.c - cutting the decoded byte stream into records (splitter.h).
 *
 * The one idea: every line is looked at where it starts. A line that starts
 * with '{' and ends with '}' (and has no '[' right after a "Records" or
 * "logEvents" key) is a record as it stands: found with one pass for its
 * newline that also notes a '[' before it (64 bytes a step with AVX2, chosen
 * at run time, or SSE2; two memchr elsewhere), never copied. Anything else that
 * starts with
 * '{' or '[' is followed through its structure by a small resumable state
 * machine (strings and escapes, which byte may come where, a bit per depth
 * for "array or object"), which hands out objects, array elements and
 * document elements as they close, and notices at once when the text
 * breaks, so that reading goes back to lines.
 *
 * The buffer may start small and grows, on demand, to max_record + 1 +
 * SPLIT_READ bytes; it is refilled only when every record handed out from it
 * has been consumed (records point into it), by what tops the bytes still
 * needed up to SPLIT_READ (SPLIT_READ when those are more): the same reads
 * whatever the buffer's size, so that a batch, which ends where the
 * buffer does, ends at the same record with or without kept records (the
 * engine's threads; the windows it ticks after each batch close at the
 * same place in the output). On refill only the bytes still
 * needed move to the front: the line being read, or the unit (a held object
 * or element, at most max_record bytes) the structure reader is inside. A
 * unit that outgrows the bound is counted once and then only followed, not
 * kept, so memory never grows past the bound.
 */
#include "ingest/splitter.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/json_scan.h"
#include "ingest/simd.h"

#define SPLIT_READ ((size_t)512 * 1024)
/* Deeper than any record the decoders accept, plus the document's own
 * levels: the decoder reports a record nested too deep, with its column. */
#define SPLIT_MAX_DEPTH (KW_JSON_MAX_DEPTH + 4)

enum mode {
	M_LINE,	  /* at the start of a line */
	M_JSON,	  /* following a JSON text's structure */
	M_SKIP,	  /* discarding the rest of a line */
	M_RESYNC, /* after a broken document element: looking for "},{" */
};

/* What may come next in M_JSON. */
enum expect {
	X_TOP,		  /* between texts: '{', '[' or the end of the line */
	X_VALUE,	  /* after ':', or after ',' in an array */
	X_VALUE_OR_CLOSE, /* after '[' */
	X_KEY_OR_CLOSE,	  /* after '{' */
	X_KEY,		  /* after ',' in an object */
	X_COLON,	  /* after a key */
	X_NEXT,		  /* after a value inside a container: ',' or close */
};

enum step { S_GO, S_MORE, S_DONE };

/* The first '\n' in p[0..end), or NULL; *bracket tells whether a '[' came
 * before it (before end, when there is none). */
typedef const char *(*line_end_fn)(const char *p, const char *end,
				   bool *bracket);

/* A top-level text or a document element being read. */
struct unit {
	size_t start; /* offset of its first byte (valid while held) */
	uint64_t line;
	bool active;
	bool held;     /* its bytes are kept to be handed out */
	bool too_long; /* counted as longer than max_record */
};

struct kw_splitter {
	struct kw_reader *r;
	line_end_fn line_end; /* the widest step the CPU has */
	const char *name;
	size_t max_record;
	char *buf;
	size_t cap, maxcap;
	size_t start;  /* first byte still needed */
	size_t scan;   /* next byte to look at */
	size_t end;    /* bytes held */
	uint64_t line; /* line of buf[scan] */
	enum mode mode;
	bool bom_done;
	bool eof;
	bool finished;
	struct kw_error pending;   /* an error to return on the next call */
	kw_splitter_swap_fn *swap; /* keeping records (kw_splitter_keep) */
	void *swap_ctx;

	/* M_JSON */
	enum expect x;
	uint32_t depth;
	uint8_t arr[SPLIT_MAX_DEPTH / 8 + 1]; /* bit d: depth d is an array */
	bool in_str, esc, str_key, in_scalar;
	char key[12]; /* a key of the top-level object, when short */
	size_t klen;
	bool key_ok;
	enum kw_record_kind cont_key; /* the key just read names a container */
	struct unit top;
	bool top_array;
	bool top_doc; /* the top-level object is a document: not a record */
	bool in_cont; /* inside the array whose elements are records */
	uint32_t cont_depth;
	enum kw_record_kind cont_kind;
	struct unit el;
	bool el_done;	    /* a string or scalar element ended: it is handed
			       out when a ',' or ']' confirms it */
	size_t el_end;	    /* its end */
	bool line_token;    /* a token was seen on the current line */
	uint64_t last_line; /* line of the last token */
	int rs;		    /* M_RESYNC: 0 want '}', 1 want ',', 2 want '{' */
};

/* ---- the newline and a '[' in one pass --------------------------------- */

static const char *line_end_memchr(const char *p, const char *end,
				   bool *bracket)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	*bracket = memchr(p, '[', (size_t)((nl ? nl : end) - p)) != NULL;
	return nl;
}

#ifdef __SSE2__
/* The newlines of p[0..64) as bits, and in *br its '['s. */
static inline uint64_t line_bits_16(const char *p, uint64_t *br)
{
	const __m128i nl = _mm_set1_epi8('\n'), bk = _mm_set1_epi8('[');
	uint64_t n = 0, b = 0;

	for (int k = 0; k < 4; k++) {
		__m128i v = _mm_loadu_si128(
			(const __m128i *)(const void *)(p + 16 * k));

		n |= (uint64_t)(unsigned)_mm_movemask_epi8(
			     _mm_cmpeq_epi8(v, nl))
		     << (16 * k);
		b |= (uint64_t)(unsigned)_mm_movemask_epi8(
			     _mm_cmpeq_epi8(v, bk))
		     << (16 * k);
	}
	*br = b;
	return n;
}

/* What a 64-byte block's bits say: the newline at p + its first bit, and
 * whether a '[' came before it; NULL when the block has none. */
static inline const char *line_block(const char *p, uint64_t n, uint64_t b,
				     bool *bracket)
{
	if (!n) {
		*bracket |= b != 0;
		return NULL;
	}
	n &= -n; /* the first newline alone */
	*bracket |= (b & (n - 1)) != 0;
	return p + __builtin_ctzll(n);
}

/* The bytes after the last whole block, one at a time. */
static inline const char *line_tail(const char *p, const char *end,
				    bool *bracket)
{
	for (; p < end; p++) {
		if (*p == '\n')
			return p;
		if (*p == '[')
			*bracket = true;
	}
	return NULL;
}

static const char *line_end_16(const char *p, const char *end, bool *bracket)
{
	*bracket = false;
	for (; end - p >= 64; p += 64) {
		uint64_t b, n = line_bits_16(p, &b);
		const char *nl = line_block(p, n, b, bracket);

		if (nl)
			return nl;
	}
	return line_tail(p, end, bracket);
}
#endif

#ifdef HAVE_AVX2_STEP
__attribute__((target("avx2"))) static const char *
line_end_32(const char *p, const char *end, bool *bracket)
{
	const __m256i nl = _mm256_set1_epi8('\n'), bk = _mm256_set1_epi8('[');

	*bracket = false;
	for (; end - p >= 64; p += 64) {
		__m256i a =
			_mm256_loadu_si256((const __m256i *)(const void *)p);
		__m256i c = _mm256_loadu_si256(
			(const __m256i *)(const void *)(p + 32));
		__m256i an = _mm256_cmpeq_epi8(a, nl),
			cn = _mm256_cmpeq_epi8(c, nl);
		__m256i ab = _mm256_cmpeq_epi8(a, bk),
			cb = _mm256_cmpeq_epi8(c, bk);
		__m256i any = _mm256_or_si256(_mm256_or_si256(an, cn),
					      _mm256_or_si256(ab, cb));
		uint64_t n, b;
		const char *e;

		if (_mm256_testz_si256(any, any))
			continue;
		n = (uint64_t)(uint32_t)_mm256_movemask_epi8(an) |
		    (uint64_t)(uint32_t)_mm256_movemask_epi8(cn) << 32;
		b = (uint64_t)(uint32_t)_mm256_movemask_epi8(ab) |
		    (uint64_t)(uint32_t)_mm256_movemask_epi8(cb) << 32;
		e = line_block(p, n, b, bracket);
		if (e)
			return e;
	}
	return line_tail(p, end, bracket);
}
#endif

bool kw_splitter_set_step(struct kw_splitter *s, enum kw_json_step step)
{
	switch (kw_step_pick(step)) {
	case KW_JSON_STEP_8:
		s->line_end = line_end_memchr;
		return true;
#ifdef __SSE2__
	case KW_JSON_STEP_16:
		s->line_end = line_end_16;
		return true;
#endif
#ifdef HAVE_AVX2_STEP
	case KW_JSON_STEP_32:
		s->line_end = line_end_32;
		return true;
#endif
	default:
		return false;
	}
}

enum kw_status kw_splitter_create(struct kw_reader *r, const char *name,
				  size_t max_record, size_t initial,
				  struct kw_splitter **out)
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
	s->maxcap = max_record + 1 + SPLIT_READ;
	s->cap = initial && initial < s->maxcap ? initial : s->maxcap;
	s->buf = malloc(s->cap);
	if (!s->buf) {
		free(s);
		return KW_ENOMEM;
	}
	s->line = 1;
	/* Its reads: SPLIT_READ at most, less with a small buffer. */
	kw_reader_fill_hint(r, s->cap < SPLIT_READ ? s->cap : SPLIT_READ);
	kw_splitter_set_step(s, KW_JSON_STEP_BEST);
	*out = s;
	return KW_OK;
}

void kw_splitter_destroy(struct kw_splitter *s)
{
	if (!s)
		return;
	if (!s->swap)
		free(s->buf);
	free(s);
}

size_t kw_splitter_buffer(const struct kw_splitter *s)
{
	return s->cap;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* "'x'" or "byte 0xNN", for messages. */
static const char *what(char c, char *buf, size_t cap)
{
	if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
		snprintf(buf, cap, "'%c'", c);
	else
		snprintf(buf, cap, "byte 0x%02x", (unsigned char)c);
	return buf;
}

/* The buffer's first drop bytes are gone: every offset into it moves. */
static void dropped(struct kw_splitter *s, size_t drop)
{
	s->end -= drop;
	s->scan -= drop;
	s->start = 0;
	s->top.start = s->top.held ? s->top.start - drop : 0;
	if (s->el.held) {
		s->el.start -= drop;
		s->el_end = s->el_end >= drop ? s->el_end - drop : 0;
	}
}

/* Keeping records: read on in place while a whole read fits after the
 * bytes held (nothing handed out moves); else go on in another of swap's
 * buffers with only the bytes still needed, a bigger one when they would
 * fill half of it (as fill grows its own). */
static enum kw_status keep_room(struct kw_splitter *s, struct kw_error *err)
{
	size_t drop = s->start, need = s->end - s->start, want = s->cap;
	size_t ncap = 0;
	char *nbuf;

	if (s->cap - s->end >= SPLIT_READ || (drop == 0 && s->cap >= s->maxcap))
		return KW_OK;
	if (s->cap - need < s->cap / 2 && s->cap < s->maxcap)
		want = s->cap * 2 < s->maxcap ? s->cap * 2 : s->maxcap;
	nbuf = s->swap(s->swap_ctx, s->buf, s->cap, want, &ncap);
	if (!nbuf)
		return kw_error_set(err, KW_ENOMEM, "%s: out of memory",
				    s->name);
	/* swap may give the old buffer back when nothing holds it */
	memmove(nbuf, s->buf + drop, need);
	s->buf = nbuf;
	s->cap = ncap;
	dropped(s, drop);
	return KW_OK;
}

/* Move what is still needed to the front, grow when a unit fills the
 * buffer, and read more after it. */
static enum kw_status fill(struct kw_splitter *s, struct kw_error *err)
{
	size_t got = 0, room;
	size_t drop = s->start;
	enum kw_status st;

	if (s->swap) {
		st = keep_room(s, err);
		if (st != KW_OK)
			return st;
	} else if (drop > 0) {
		memmove(s->buf, s->buf + drop, s->end - drop);
		dropped(s, drop);
	}
	if (!s->swap && s->cap - s->end < s->cap / 2 && s->cap < s->maxcap) {
		size_t ncap = s->cap * 2 < s->maxcap ? s->cap * 2 : s->maxcap;
		char *nbuf = realloc(s->buf, ncap);

		if (!nbuf)
			return kw_error_set(err, KW_ENOMEM, "%s: out of memory",
					    s->name);
		s->buf = nbuf;
		s->cap = ncap;
	}
	/* At most SPLIT_READ bytes a time, however much room there is: the
	 * records of one read are then made, cut and decoded while they are
	 * in the cache, and with threads the batches cost their reader about
	 * the same (one read of the whole 1.25 MiB buffer made every fourth
	 * batch four times dearer than the others, and the other thread
	 * waited). Not much less: every inflate call moves ISA-L's 32 KiB
	 * window through its own buffer twice, an eighth of the bytes at
	 * 512 KiB, a quarter at 256 KiB. And the same amount whatever the
	 * buffer's room (the top of this file): with one thread the buffer
	 * is larger than a pipeline's. */
	room = s->end - s->start < SPLIT_READ ? SPLIT_READ - (s->end - s->start)
					      : SPLIT_READ;
	room = s->cap - s->end < room ? s->cap - s->end : room;
	st = kw_reader_read(s->r, s->buf + s->end, room, &got, err);
	if (st != KW_OK)
		return st;
	if (got == 0)
		s->eof = true;
	s->end += got;
	return KW_OK;
}

static void emit(struct kw_splitter *s, size_t from, size_t to, uint64_t line,
		 enum kw_record_kind kind, struct kw_record *recs, size_t *n,
		 struct kw_skips *skips)
{
	if (to - from > s->max_record) {
		kw_skips_add(skips, KW_SKIP_TOO_LONG, s->name, line,
			     "record longer than %zu bytes skipped",
			     s->max_record);
		return;
	}
	recs[*n] = (struct kw_record){
		.p = s->buf + from, .n = to - from, .line = line, .kind = kind};
	(*n)++;
}

/* ---- lines ------------------------------------------------------------- */

static bool ends_with_key(const char *p, const char *k, const char *key)
{
	size_t n = strlen(key);

	return (size_t)(k - p) >= n && memcmp(k - n, key, n) == 0;
}

/* Whether a '[' in p[0..n) follows a "Records" or "logEvents" key: the line
 * may be a document, to be read through its structure. */
static bool container_candidate(const char *p, size_t n)
{
	const char *q = p + n;
	const char *b = p;

	while ((b = memchr(b, '[', (size_t)(q - b))) != NULL) {
		const char *k = b;

		while (k > p && is_ws(k[-1]))
			k--;
		if (k > p && k[-1] == ':') {
			k--;
			while (k > p && is_ws(k[-1]))
				k--;
			if (ends_with_key(p, k, "\"Records\"") ||
			    ends_with_key(p, k, "\"logEvents\""))
				return true;
		}
		b++;
	}
	return false;
}

static void enter_json(struct kw_splitter *s)
{
	s->mode = M_JSON;
	s->x = X_TOP;
	s->depth = 0;
	s->in_str = s->esc = s->str_key = s->in_scalar = false;
	s->cont_key = KW_REC_OBJECT;
	s->top.active = s->top.held = false;
	s->el.active = s->el.held = false;
	s->in_cont = false;
	s->el_done = false;
	s->line_token = false;
}

static enum step line_step(struct kw_splitter *s, struct kw_record *recs,
			   size_t max, size_t *n, struct kw_skips *skips)
{
	while (*n < max) {
		size_t i = s->scan, e, q;
		const char *nl;
		bool bracket;
		char c;

		while (i < s->end && is_blank(s->buf[i]))
			i++;
		if (i == s->end) {
			s->scan = s->start = i;
			return s->eof ? S_DONE : S_MORE;
		}
		if (s->buf[i] == '\n') {
			s->line++;
			s->scan = s->start = i + 1;
			continue;
		}
		c = s->buf[i];
		nl = s->line_end(s->buf + i, s->buf + s->end, &bracket);
		s->scan = s->start = i;
		if (!nl && !s->eof) {
			if (s->end - i <= s->max_record + 1)
				return S_MORE;
			if (c == '{' || c == '[') {
				enter_json(s);
				return S_GO;
			}
			kw_skips_add(skips, KW_SKIP_TOO_LONG, s->name, s->line,
				     "line longer than %zu bytes skipped",
				     s->max_record);
			s->mode = M_SKIP;
			return S_GO;
		}
		e = nl ? (size_t)(nl - s->buf) : s->end;
		q = e;
		while (q > i && is_blank(s->buf[q - 1]))
			q--;
		if (c == '{' && s->buf[q - 1] == '}' &&
		    !(bracket && container_candidate(s->buf + i, q - i))) {
			if (q - i > s->max_record)
				kw_skips_add(skips, KW_SKIP_TOO_LONG, s->name,
					     s->line,
					     "line longer than %zu bytes "
					     "skipped",
					     s->max_record);
			else
				emit(s, i, q, s->line, KW_REC_OBJECT, recs, n,
				     skips);
		} else if (c == '{' || c == '[') {
			enter_json(s);
			return S_GO;
		} else if (q - i > s->max_record) {
			kw_skips_add(skips, KW_SKIP_TOO_LONG, s->name, s->line,
				     "line longer than %zu bytes skipped",
				     s->max_record);
		} else {
			emit(s, i, q, s->line, KW_REC_TEXT, recs, n, skips);
		}
		if (nl) {
			s->line++;
			s->scan = s->start = e + 1;
		} else {
			s->scan = s->start = e;
		}
	}
	return S_GO;
}

static enum step skip_step(struct kw_splitter *s)
{
	const char *nl = memchr(s->buf + s->scan, '\n', s->end - s->scan);

	if (!nl) {
		s->scan = s->start = s->end;
		if (!s->eof)
			return S_MORE;
		s->mode = M_LINE;
		return S_GO;
	}
	s->line++;
	s->scan = s->start = (size_t)(nl - s->buf) + 1;
	s->mode = M_LINE;
	return S_GO;
}

/* ---- structure: damage ------------------------------------------------- */

static bool is_array(const struct kw_splitter *s, uint32_t d)
{
	return (s->arr[d / 8] >> (d % 8)) & 1;
}

static void set_array(struct kw_splitter *s, uint32_t d, bool a)
{
	if (a)
		s->arr[d / 8] |= (uint8_t)(1u << (d % 8));
	else
		s->arr[d / 8] &= (uint8_t) ~(1u << (d % 8));
}

/* The end of the first line of a unit starting at from, or limit. */
static size_t first_line_end(const struct kw_splitter *s, size_t from,
			     size_t limit)
{
	const char *nl = memchr(s->buf + from, '\n', limit - from);

	return nl ? (size_t)(nl - s->buf) : limit;
}

/* The text broke at buf[scan] (or at the end of the stream: at_eof). Hand
 * out what was read of the unit it broke in, or count the break, and go
 * back to reading lines (see splitter.h). msg is the message for a break in
 * a document's own structure, with %s for the byte. */
static void brk(struct kw_splitter *s, const char *msg, struct kw_record *recs,
		size_t *n, struct kw_skips *skips, bool at_eof)
{
	char c = at_eof ? '\n' : s->buf[s->scan];
	bool first = at_eof || (!s->line_token && (c == '{' || c == '['));
	size_t limit = at_eof || c == '\n' ? s->scan : s->scan + 1;
	struct unit *u = NULL;
	char w[16];

	if (s->top.active && s->top.held && !s->top_doc)
		u = &s->top;
	else if (s->el.active && s->el.held && !s->el_done)
		u = &s->el; /* (an ended element is whole: the break is after)
			     */
	if (u) {
		emit(s, u->start, first_line_end(s, u->start, limit), u->line,
		     u == &s->top ? KW_REC_OBJECT : s->cont_kind, recs, n,
		     skips);
		if (u == &s->top && u->line < s->line) {
			/* Read again, as lines, what the broken object
			 * took in after its first line. */
			s->scan = first_line_end(s, u->start, s->scan) + 1;
			s->line = u->line + 1;
			s->mode = M_LINE;
		} else if (u == &s->el && !first && c != '\n' && s->in_cont) {
			s->mode = M_RESYNC;
		} else {
			s->mode = c == '\n' || first ? M_LINE : M_SKIP;
		}
	} else {
		bool counted =
			(s->top.active && s->top.too_long && !s->top_doc) ||
			(s->el.active && s->el.too_long);

		if (counted)
			; /* already counted as too long */
		else if (first)
			kw_skips_add(skips, KW_SKIP_BAD_JSON, s->name,
				     s->last_line, "unterminated JSON %s",
				     s->top_array ? "array" : "object");
		else
			kw_skips_add(skips, KW_SKIP_BAD_JSON, s->name, s->line,
				     msg, what(c, w, sizeof(w)));
		if (first || c == '\n')
			s->mode = M_LINE;
		else
			s->mode = s->in_cont ? M_RESYNC : M_SKIP;
	}
	if (at_eof)
		s->mode = M_LINE;
	if (s->mode == M_RESYNC) {
		s->rs = 0;
		s->el.active = s->el.held = false;
		s->el_done = false;
		s->in_str = s->in_scalar = s->esc = false;
	} else {
		s->top.active = s->top.held = false;
		s->el.active = s->el.held = false;
		s->in_cont = false;
	}
	s->start = s->scan;
}

/* ---- structure: values ------------------------------------------------- */

/* A string or scalar element is confirmed by the ',' or ']' after it. */
static void confirm_element(struct kw_splitter *s, struct kw_record *recs,
			    size_t *n, struct kw_skips *skips)
{
	if (!s->el_done)
		return;
	s->el_done = false;
	s->el.active = false;
	if (s->el.held)
		emit(s, s->el.start, s->el_end, s->el.line, s->cont_kind, recs,
		     n, skips);
	s->el.held = false;
}

static void value_begin(struct kw_splitter *s, char c)
{
	if (s->depth == 0) {
		s->top = (struct unit){.start = s->scan,
				       .line = s->line,
				       .active = true,
				       .held = c == '{'};
		s->top_array = c == '[';
		s->top_doc = false;
		if (c == '[') {
			s->in_cont = true;
			s->cont_depth = 1;
			s->cont_kind = KW_REC_ELEMENT;
		}
	} else if (s->in_cont && s->depth == s->cont_depth) {
		s->el = (struct unit){.start = s->scan,
				      .line = s->line,
				      .active = true,
				      .held = true};
		s->el_done = false;
	} else if (c == '[' && s->depth == 1 && s->cont_key && !s->in_cont) {
		/* "Records": [ ... ]: the object is a document. */
		s->in_cont = true;
		s->cont_depth = 2;
		s->cont_kind = s->cont_key;
		s->top_doc = true;
		s->top.held = false;
	}
	s->cont_key = KW_REC_OBJECT;
}

/* A string or scalar value ended at buf[endpos). */
static void value_end(struct kw_splitter *s, size_t endpos)
{
	if (s->in_cont && s->depth == s->cont_depth && s->el.active) {
		s->el_done = true;
		s->el_end = endpos;
	}
	s->x = X_NEXT;
}

static void open_container(struct kw_splitter *s, char c,
			   struct kw_record *recs, size_t *n,
			   struct kw_skips *skips)
{
	if (s->depth + 1 >= SPLIT_MAX_DEPTH) {
		brk(s, "nested deeper than the limit at %s", recs, n, skips,
		    false);
		return;
	}
	value_begin(s, c);
	s->depth++;
	set_array(s, s->depth, c == '[');
	s->x = c == '{' ? X_KEY_OR_CLOSE : X_VALUE_OR_CLOSE;
	s->scan++;
}

static void close_container(struct kw_splitter *s, struct kw_record *recs,
			    size_t *n, struct kw_skips *skips)
{
	s->depth--;
	s->scan++;
	if (s->depth == 0) {
		if (s->top.held && !s->top_doc)
			emit(s, s->top.start, s->scan, s->top.line,
			     KW_REC_OBJECT, recs, n, skips);
		s->top.active = s->top.held = false;
		s->in_cont = false;
		s->x = X_TOP;
		return;
	}
	if (s->in_cont && s->depth + 1 == s->cont_depth) {
		s->in_cont = false; /* the records' array closed */
	} else if (s->in_cont && s->depth == s->cont_depth && s->el.active) {
		if (s->el.held)
			emit(s, s->el.start, s->scan, s->el.line, s->cont_kind,
			     recs, n, skips);
		s->el.active = s->el.held = false;
	}
	s->x = X_NEXT;
}

static void begin_value(struct kw_splitter *s, char c, struct kw_record *recs,
			size_t *n, struct kw_skips *skips)
{
	if (c == '{' || c == '[') {
		open_container(s, c, recs, n, skips);
		return;
	}
	if (c == '"') {
		value_begin(s, c);
		s->in_str = true;
		s->str_key = false;
		s->scan++;
		return;
	}
	if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' ||
	    c == 'n') {
		value_begin(s, c);
		s->in_scalar = true;
		s->scan++;
		return;
	}
	brk(s, "expected a value, found %s", recs, n, skips, false);
}

static void begin_key(struct kw_splitter *s)
{
	s->in_str = true;
	s->str_key = true;
	s->klen = 0;
	s->key_ok = s->depth == 1;
	s->scan++;
}

static void key_end(struct kw_splitter *s)
{
	s->x = X_COLON;
	s->cont_key = KW_REC_OBJECT;
	if (!s->key_ok)
		return;
	if (s->klen == 7 && !memcmp(s->key, "Records", 7))
		s->cont_key = KW_REC_RECORDS;
	else if (s->klen == 9 && !memcmp(s->key, "logEvents", 9))
		s->cont_key = KW_REC_LOGEVENTS;
}

/* One token (not white space) at buf[scan]. */
static void token(struct kw_splitter *s, char c, struct kw_record *recs,
		  size_t *n, struct kw_skips *skips)
{
	switch (s->x) {
	case X_TOP:
		if (c == '{' || c == '[')
			open_container(s, c, recs, n, skips);
		else if (c == ',')
			s->scan++; /* between the elements of a broken array */
		else
			brk(s, "unexpected %s after a JSON text", recs, n,
			    skips, false);
		return;
	case X_VALUE_OR_CLOSE:
		if (c == ']') {
			close_container(s, recs, n, skips);
			return;
		}
		/* fall through */
	case X_VALUE:
		begin_value(s, c, recs, n, skips);
		return;
	case X_KEY_OR_CLOSE:
		if (c == '}') {
			close_container(s, recs, n, skips);
			return;
		}
		/* fall through */
	case X_KEY:
		if (c == '"')
			begin_key(s);
		else
			brk(s, "expected a key in double quotes, found %s",
			    recs, n, skips, false);
		return;
	case X_COLON:
		if (c == ':') {
			s->x = X_VALUE;
			s->scan++;
		} else {
			brk(s, "expected ':' after a key, found %s", recs, n,
			    skips, false);
		}
		return;
	case X_NEXT:
		if (c == ',') {
			confirm_element(s, recs, n, skips);
			s->x = is_array(s, s->depth) ? X_VALUE : X_KEY;
			s->scan++;
		} else if (c == (is_array(s, s->depth) ? ']' : '}')) {
			confirm_element(s, recs, n, skips);
			close_container(s, recs, n, skips);
		} else {
			brk(s,
			    is_array(s, s->depth)
				    ? "expected ',' or ']' after an array "
				      "element, found %s"
				    : "expected ',' or '}' after an object "
				      "member, found %s",
			    recs, n, skips, false);
		}
		return;
	}
}

/* Inside a string: up to its end, an escape or a raw newline. */
static void string_bytes(struct kw_splitter *s, struct kw_record *recs,
			 size_t *n, struct kw_skips *skips)
{
	size_t i = s->scan;
	char c = '\0';

	if (s->esc) {
		if (s->buf[i] == '\n') {
			brk(s, "a line ends inside a string", recs, n, skips,
			    false);
			return;
		}
		s->esc = false;
		s->key_ok = false; /* a key with an escape is no container */
		s->scan = i + 1;
		return;
	}
	while (i < s->end) {
		c = s->buf[i];
		if (c == '"' || c == '\\' || c == '\n')
			break;
		i++;
	}
	if (s->str_key && s->key_ok) {
		if (s->klen + (i - s->scan) <= sizeof(s->key)) {
			memcpy(s->key + s->klen, s->buf + s->scan, i - s->scan);
			s->klen += i - s->scan;
		} else {
			s->key_ok = false;
		}
	}
	s->scan = i;
	if (i == s->end)
		return;
	if (c == '\n') {
		/* JSON strings hold no raw newline: the text broke. */
		brk(s, "a line ends inside a string", recs, n, skips, false);
		return;
	}
	s->scan++;
	if (c == '\\') {
		s->esc = true;
		return;
	}
	s->in_str = false;
	if (s->str_key)
		key_end(s);
	else
		value_end(s, s->scan);
}

static enum step json_eof(struct kw_splitter *s, struct kw_record *recs,
			  size_t *n, struct kw_skips *skips)
{
	if (s->in_scalar) {
		s->in_scalar = false;
		value_end(s, s->scan);
	}
	if (s->depth == 0 && !s->in_str) {
		s->mode = M_LINE;
		return S_GO;
	}
	brk(s, "", recs, n, skips, true);
	return S_GO;
}

/* Keep the unit being read, unless it outgrew the bound. */
static void hold(struct kw_splitter *s, struct kw_skips *skips)
{
	if (s->top.active && s->top.held && !s->top_doc &&
	    s->end - s->top.start > s->max_record) {
		s->top.held = false;
		s->top.too_long = true;
		kw_skips_add(skips, KW_SKIP_TOO_LONG, s->name, s->top.line,
			     "%s longer than %zu bytes skipped",
			     s->top.line == s->line ? "line" : "record",
			     s->max_record);
	}
	if (s->el.active && s->el.held &&
	    s->end - s->el.start > s->max_record) {
		s->el.held = false;
		s->el.too_long = true;
		kw_skips_add(skips, KW_SKIP_TOO_LONG, s->name, s->el.line,
			     "record longer than %zu bytes skipped",
			     s->max_record);
	}
	if (s->top.active && s->top.held && !s->top_doc)
		s->start = s->top.start;
	else if (s->el.active && s->el.held)
		s->start = s->el.start;
	else
		s->start = s->scan;
}

static enum step json_step(struct kw_splitter *s, struct kw_record *recs,
			   size_t max, size_t *n, struct kw_skips *skips)
{
	while (s->scan < s->end) {
		char c;

		if (*n == max || s->mode != M_JSON)
			return S_GO;
		if (s->in_str) {
			string_bytes(s, recs, n, skips);
			continue;
		}
		c = s->buf[s->scan];
		if (s->in_scalar) {
			if (!is_ws(c) && c != ',' && c != ']' && c != '}') {
				s->scan++;
				continue;
			}
			s->in_scalar = false;
			value_end(s, s->scan);
		}
		if (c == '\n') {
			s->line++;
			s->scan++;
			s->line_token = false;
			if (s->x == X_TOP && s->depth == 0) {
				s->start = s->scan;
				s->mode = M_LINE;
				return S_GO;
			}
			continue;
		}
		if (is_blank(c)) {
			s->scan++;
			continue;
		}
		token(s, c, recs, n, skips);
		s->last_line = s->line;
		s->line_token = true;
	}
	if (s->mode != M_JSON)
		return S_GO;
	if (s->eof)
		return json_eof(s, recs, n, skips);
	hold(s, skips);
	return S_MORE;
}

/* ---- resynchronising inside a broken one-line document ------------------ */

static enum step resync_step(struct kw_splitter *s)
{
	while (s->scan < s->end) {
		char c = s->buf[s->scan];

		if (c == '\n') {
			s->mode = M_LINE;
			s->in_cont = false;
			s->top.active = false;
			return S_GO;
		}
		if (s->rs == 2 && c == '{') {
			/* The next element: the document goes on. */
			s->mode = M_JSON;
			s->depth = s->cont_depth;
			s->x = X_VALUE;
			s->line_token = true;
			return S_GO;
		}
		if (c == '}')
			s->rs = 1;
		else if (s->rs == 1 && c == ',')
			s->rs = 2;
		else if (!is_ws(c))
			s->rs = 0;
		s->scan++;
	}
	s->start = s->scan;
	if (!s->eof)
		return S_MORE;
	s->mode = M_LINE;
	return S_GO;
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

static enum step run(struct kw_splitter *s, struct kw_record *recs, size_t max,
		     size_t *n, struct kw_skips *skips)
{
	enum step st = S_GO;

	while (st == S_GO && *n < max) {
		switch (s->mode) {
		case M_LINE:
			st = line_step(s, recs, max, n, skips);
			break;
		case M_JSON:
			st = json_step(s, recs, max, n, skips);
			break;
		case M_SKIP:
			st = skip_step(s);
			break;
		case M_RESYNC:
			st = resync_step(s);
			break;
		}
	}
	return st;
}

/* Skip a UTF-8 byte order mark at the start of the stream. */
static enum kw_status bom(struct kw_splitter *s)
{
	enum kw_status st;

	while (s->end < 3 && !s->eof) {
		st = fill(s, &s->pending);
		if (st != KW_OK)
			return st;
	}
	if (s->end >= 3 && memcmp(s->buf, "\xef\xbb\xbf", 3) == 0)
		s->scan = s->start = 3;
	s->bom_done = true;
	return KW_OK;
}

enum kw_status kw_splitter_keep(struct kw_splitter *s,
				kw_splitter_swap_fn *swap, void *ctx)
{
	size_t ncap = 0;
	char *nbuf = swap(ctx, s->buf, s->cap, s->cap, &ncap);

	if (!nbuf)
		return KW_ENOMEM;
	memmove(nbuf, s->buf + s->start, s->end - s->start);
	s->buf = nbuf;
	s->cap = ncap;
	dropped(s, s->start);
	s->swap = swap;
	s->swap_ctx = ctx;
	return KW_OK;
}

const char *kw_splitter_held(const struct kw_splitter *s)
{
	return s->buf;
}

enum kw_status kw_splitter_next(struct kw_splitter *s, struct kw_record *recs,
				size_t max, size_t *n, struct kw_skips *skips,
				struct kw_error *err)
{
	enum kw_status st;
	enum step step;

	*n = 0;
	if (s->pending.status != KW_OK)
		return take_pending(s, err);
	if (s->finished || max == 0)
		return KW_OK;
	if (!s->bom_done && bom(s) != KW_OK)
		return take_pending(s, err);
	for (;;) {
		step = run(s, recs, max, n, skips);
		if (step == S_DONE) {
			s->finished = true;
			break;
		}
		if (*n == max || step == S_GO || *n > 0)
			break; /* a refill would move the records handed out */
		st = fill(s, &s->pending);
		if (st != KW_OK)
			break;
	}
	if (s->pending.status != KW_OK && *n == 0)
		return take_pending(s, err);
	return KW_OK;
}
