/*
 * json_dump.c - kw_json_buf, a JSON writer whose bytes are jansson's (see
 * json_dump.h for what they are and why we write them ourselves), and
 * kw_json_dump on top of it.
 *
 * The one idea: a string is copied in runs. Bytes that need nothing
 * (printable ASCII but '"' and '\\', and valid UTF-8 sequences) are only
 * checked; a run ends at a byte to escape, and is copied with one memcpy.
 */
#include "core/json_dump.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

/* Flags the writer does itself; any other goes to jansson. */
#define OWN_FLAGS                                                              \
	(JSON_COMPACT | JSON_SORT_KEYS | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)

bool kw_json_buf_reserve(struct kw_json_buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->failed)
		return false;
	if (n < b->cap - b->len)
		return true;
	cap = b->cap ? b->cap : 1024;
	while (n >= cap - b->len) {
		if (cap > SIZE_MAX / 2) {
			b->failed = true;
			return false;
		}
		cap *= 2;
	}
	p = realloc(b->p, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void kw_json_buf_raw(struct kw_json_buf *b, const char *s, size_t n)
{
	if (!kw_json_buf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* What an ASCII byte becomes in a string: 0 as it is, 'u' as \u00XX, else
 * the letter after the backslash. */
static const char escape[128] = {
	['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r',	 ['\t'] = 't',
	[0x00] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u',	 [0x04] = 'u',
	[0x05] = 'u', [0x06] = 'u', [0x07] = 'u', [0x0b] = 'u',	 [0x0e] = 'u',
	[0x0f] = 'u', [0x10] = 'u', [0x11] = 'u', [0x12] = 'u',	 [0x13] = 'u',
	[0x14] = 'u', [0x15] = 'u', [0x16] = 'u', [0x17] = 'u',	 [0x18] = 'u',
	[0x19] = 'u', [0x1a] = 'u', [0x1b] = 'u', [0x1c] = 'u',	 [0x1d] = 'u',
	[0x1e] = 'u', [0x1f] = 'u', ['"'] = '"',  ['\\'] = '\\',
};

/* Whether none of the 8 bytes in x needs more than a copy: each is
 * printable ASCII and neither '"' nor '\\'. Each test is a subtraction
 * whose borrow sets a byte's high bit; with every byte below 0x80 (the
 * last test) a borrow starts only at a byte that fails, so a word that
 * passes has none, and one that fails is looked at byte by byte. */
static inline bool plain8(uint64_t x)
{
	const uint64_t one = 0x0101010101010101u, high = one * 0x80;

	return !(((x - one * 0x20) | ((x ^ (one * '"')) - one) |
		  ((x ^ (one * '\\')) - one) | x) &
		 high);
}

bool kw_json_buf_string(struct kw_json_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *u = (const unsigned char *)s;
	size_t start = b->len, run = 0, i = 0;

	/* The quotes and every byte as it is; escapes reserve their own. */
	if (!kw_json_buf_reserve(b, n + 2))
		return true;
	b->p[b->len++] = '"';
	while (i < n) {
		unsigned char c;
		char e[6] = {'\\'};
		size_t elen = 2;
		uint64_t x;

		while (n - i >= 8) {
			memcpy(&x, u + i, 8);
			if (!plain8(x))
				break;
			i += 8;
		}
		if (i == n)
			break;
		c = u[i];
		if (c >= 0x80) {
			size_t len = kw_utf8_len(u + i, n - i);

			if (!len) {
				b->len = start;
				return false;
			}
			i += len;
			continue;
		}
		if (!escape[c]) {
			i++;
			continue;
		}
		kw_json_buf_raw(b, s + run, i - run);
		e[1] = escape[c];
		if (e[1] == 'u') {
			memcpy(e + 1, "u00", 3);
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			elen = 6;
		}
		/* Room for the rest as it is, the escape and the quote. */
		if (!kw_json_buf_reserve(b, elen + n - i + 1))
			return true;
		memcpy(b->p + b->len, e, elen);
		b->len += elen;
		run = ++i;
	}
	if (!kw_json_buf_reserve(b, n - run + 1))
		return true;
	memcpy(b->p + b->len, s + run, n - run);
	b->len += n - run;
	b->p[b->len++] = '"';
	return true;
}

void kw_json_buf_int(struct kw_json_buf *b, int64_t v)
{
	char buf[24];
	size_t i = sizeof(buf);
	/* The magnitude as unsigned, so that INT64_MIN has one. */
	uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		buf[--i] = (char)('0' + m % 10);
		m /= 10;
	} while (m);
	if (v < 0)
		buf[--i] = '-';
	kw_json_buf_raw(b, buf + i, sizeof(buf) - i);
}

/* jansson's real: "%.17g", ".0" when it reads as an integer, and the
 * exponent without '+' and leading zeros ("1e+17" -> "1e17"). */
static void write_real(struct kw_json_buf *b, double v)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf) - 2, "%.17g", v);
	char *e;

	if (n < 0 || n >= (int)sizeof(buf) - 2) {
		b->failed = true;
		return;
	}
	e = strchr(buf, 'e');
	if (!e && !strchr(buf, '.')) {
		memcpy(buf + n, ".0", 3);
		n += 2;
	}
	if (e) {
		char *from = e + 1, *to = e + 1;

		if (*from == '+')
			from++;
		else if (*from == '-')
			from = ++to;
		while (*from == '0' && from[1])
			from++;
		memmove(to, from, strlen(from) + 1);
		n = (int)strlen(buf);
	}
	kw_json_buf_raw(b, buf, (size_t)n);
}

struct key_len {
	const char *key;
	size_t len;
};

static int key_cmp(const void *x, const void *y)
{
	const struct key_len *a = x, *b = y;
	int c = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);

	if (c)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

static void write_value(struct kw_json_buf *b, const json_t *v, size_t flags,
			unsigned depth);

/* One member: "key":value, after a separator unless it is the first. */
static void write_member(struct kw_json_buf *b, const char *key, size_t klen,
			 const json_t *v, size_t flags, unsigned depth,
			 bool first)
{
	bool compact = flags & JSON_COMPACT;

	if (!first)
		kw_json_buf_raw(b, compact ? "," : ", ", compact ? 1 : 2);
	if (!kw_json_buf_string(b, key, klen))
		b->failed = true;
	kw_json_buf_raw(b, compact ? ":" : ": ", compact ? 1 : 2);
	write_value(b, v, flags, depth + 1);
}

static void write_sorted(struct kw_json_buf *b, const json_t *v, size_t flags,
			 unsigned depth)
{
	size_t n = json_object_size(v), i = 0;
	struct key_len *keys;

	if (!n)
		return;
	keys = calloc(n, sizeof(*keys));
	if (!keys) {
		b->failed = true;
		return;
	}
	for (void *it = json_object_iter((json_t *)v); it && i < n;
	     it = json_object_iter_next((json_t *)v, it), i++) {
		keys[i].key = json_object_iter_key(it);
		keys[i].len = json_object_iter_key_len(it);
	}
	qsort(keys, i, sizeof(*keys), key_cmp);
	for (size_t k = 0; k < i && !b->failed; k++)
		write_member(b, keys[k].key, keys[k].len,
			     json_object_getn(v, keys[k].key, keys[k].len),
			     flags, depth, k == 0);
	free(keys);
}

static void write_value(struct kw_json_buf *b, const json_t *v, size_t flags,
			unsigned depth)
{
	if (b->failed)
		return;
	if (!v || depth > KW_JSON_DUMP_DEPTH) {
		b->failed = true;
		return;
	}
	switch (json_typeof(v)) {
	case JSON_NULL:
		kw_json_buf_raw(b, "null", 4);
		break;
	case JSON_TRUE:
		kw_json_buf_raw(b, "true", 4);
		break;
	case JSON_FALSE:
		kw_json_buf_raw(b, "false", 5);
		break;
	case JSON_INTEGER:
		kw_json_buf_int(b, json_integer_value(v));
		break;
	case JSON_REAL:
		write_real(b, json_real_value(v));
		break;
	case JSON_STRING:
		if (!kw_json_buf_string(b, json_string_value(v),
					json_string_length(v)))
			b->failed = true;
		break;
	case JSON_ARRAY:
		kw_json_buf_raw(b, "[", 1);
		for (size_t i = 0, n = json_array_size(v); i < n; i++) {
			if (i)
				kw_json_buf_raw(
					b, flags & JSON_COMPACT ? "," : ", ",
					flags & JSON_COMPACT ? 1 : 2);
			write_value(b, json_array_get(v, i), flags, depth + 1);
		}
		kw_json_buf_raw(b, "]", 1);
		break;
	case JSON_OBJECT:
		kw_json_buf_raw(b, "{", 1);
		if (flags & JSON_SORT_KEYS) {
			write_sorted(b, v, flags, depth);
		} else {
			bool first = true;

			for (void *it = json_object_iter((json_t *)v);
			     it && !b->failed;
			     it = json_object_iter_next((json_t *)v, it)) {
				write_member(b, json_object_iter_key(it),
					     json_object_iter_key_len(it),
					     json_object_iter_value(it), flags,
					     depth, first);
				first = false;
			}
		}
		kw_json_buf_raw(b, "}", 1);
		break;
	}
}

void kw_json_buf_value(struct kw_json_buf *b, const json_t *v, size_t flags)
{
	write_value(b, v, flags, 0);
}

char *kw_json_buf_finish(struct kw_json_buf *b, size_t *len)
{
	char *p;

	if (!kw_json_buf_reserve(b, 0)) {
		kw_json_buf_free(b);
		return NULL;
	}
	b->p[b->len] = '\0';
	p = b->p;
	if (len)
		*len = b->len;
	*b = (struct kw_json_buf){NULL, 0, 0, false};
	return p;
}

void kw_json_buf_free(struct kw_json_buf *b)
{
	free(b->p);
	*b = (struct kw_json_buf){NULL, 0, 0, false};
}

static int dump_add(const char *s, size_t n, void *data)
{
	struct kw_json_buf *b = data;

	kw_json_buf_raw(b, s, n);
	return b->failed ? -1 : 0;
}

char *kw_json_dump(const json_t *v, size_t flags)
{
	struct kw_json_buf b = {NULL, 0, 0, false};

	if (!(flags & JSON_ENCODE_ANY) && !json_is_array(v) &&
	    !json_is_object(v))
		return NULL;
	if (flags & ~(size_t)OWN_FLAGS) {
		if (json_dump_callback(v, dump_add, &b, flags) != 0)
			b.failed = true;
	} else {
		kw_json_buf_value(&b, v, flags);
	}
	return kw_json_buf_finish(&b, NULL);
}
