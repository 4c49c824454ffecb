/*
 * json_peek.c - one member of a JSON object, found without reading the rest
 * (json_peek.h).
 *
 * The one idea: between members only quotes and brackets matter. A string
 * is skipped with memchr to its next quote (then the backslashes before
 * that quote are counted), a nested value by counting brackets outside
 * strings, a number or literal up to the next delimiter. Nothing is
 * unescaped, nothing allocated.
 */
#include "ingest/json_peek.h"

#include <stdlib.h>
#include <string.h>

#include "core/time.h"
#include "ingest/decoder.h"

static size_t skip_ws(const char *p, size_t i, size_t n)
{
	while (i < n &&
	       (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
		i++;
	return i;
}

/* p[i] is an opening quote: the index after the closing one, or n. Sets
 * *esc when the string holds an escape. */
static size_t skip_string(const char *p, size_t i, size_t n, bool *esc)
{
	i++;
	for (;;) {
		const char *q = memchr(p + i, '"', n - i);
		size_t j, bs = 0;

		if (!q)
			return n;
		j = (size_t)(q - p);
		while (j - bs > i && p[j - bs - 1] == '\\')
			bs++;
		if (bs && esc)
			*esc = true;
		if (memchr(p + i, '\\', j - i) && esc)
			*esc = true;
		if (bs % 2 == 0)
			return j + 1;
		i = j + 1;
	}
}

/* p[i] starts a value: the index after it, or n when it does not end. */
static size_t skip_value(const char *p, size_t i, size_t n)
{
	size_t depth = 0;

	if (i >= n)
		return n;
	if (p[i] == '"')
		return skip_string(p, i, n, NULL);
	if (p[i] != '{' && p[i] != '[') {
		while (i < n && p[i] != ',' && p[i] != '}' && p[i] != ']' &&
		       p[i] != ' ' && p[i] != '\t' && p[i] != '\n' &&
		       p[i] != '\r')
			i++;
		return i;
	}
	while (i < n) {
		char c = p[i];

		if (c == '"') {
			i = skip_string(p, i, n, NULL);
			continue;
		}
		if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return i + 1;
		}
		i++;
	}
	return n;
}

int kw_json_peek(const char *text, size_t len, const char *const *names,
		 size_t nnames, struct kw_str *val)
{
	size_t i = skip_ws(text, 0, len);

	if (i >= len || text[i] != '{')
		return -1;
	i = skip_ws(text, i + 1, len);
	while (i < len && text[i] == '"') {
		bool esc = false;
		size_t ks = i + 1, ke = skip_string(text, i, len, &esc);
		size_t vs, ve;

		if (ke >= len)
			return -1;
		i = skip_ws(text, ke, len);
		if (i >= len || text[i] != ':')
			return -1;
		vs = skip_ws(text, i + 1, len);
		ve = skip_value(text, vs, len);
		if (ve >= len || vs == ve)
			return -1;
		for (size_t k = 0; k < nnames && !esc; k++) {
			size_t kl = ke - 1 - ks;

			if (strlen(names[k]) == kl &&
			    memcmp(names[k], text + ks, kl) == 0) {
				val->p = text + vs;
				val->n = ve - vs;
				return (int)k;
			}
		}
		i = skip_ws(text, ve, len);
		if (i >= len || text[i] != ',')
			return -1;
		i = skip_ws(text, i + 1, len);
	}
	return -1;
}

bool kw_json_peek_path(const char *text, size_t len, const char *path,
		       struct kw_str *val)
{
	struct kw_str cur = {text, len};
	char step[256];

	for (;;) {
		const char *dot = strchr(path, '.');
		size_t sl = dot ? (size_t)(dot - path) : strlen(path);
		const char *names[1] = {step};

		if (sl == 0 || sl >= sizeof(step))
			return false;
		memcpy(step, path, sl);
		step[sl] = '\0';
		if (kw_json_peek(cur.p, cur.n, names, 1, &cur) < 0)
			return false;
		if (!dot)
			break;
		path = dot + 1;
	}
	*val = cur;
	return true;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Plain unix seconds with an optional fraction ("1795132806.455"), the
 * common case, without strtod (rounded to the microsecond as
 * kw_decode_time rounds); false for any other number. */
static bool seconds(struct kw_str v, int64_t *ts_us)
{
	int64_t sec = 0, us = 0;
	size_t i = 0, nd = 0;
	bool up = false;

	for (; i < v.n && is_digit(v.p[i]); i++) {
		if (i == 12)
			return false; /* milliseconds, or out of range */
		sec = sec * 10 + (v.p[i] - '0');
	}
	if (i == 0)
		return false;
	if (i < v.n) {
		if (v.p[i] != '.')
			return false;
		for (i++; i < v.n && is_digit(v.p[i]); i++, nd++) {
			if (nd < 6)
				us = us * 10 + (v.p[i] - '0');
			else if (nd == 6)
				up = v.p[i] >= '5';
		}
		if (i != v.n)
			return false;
		for (; nd < 6; nd++)
			us *= 10;
	}
	if (sec > KW_TIME_MAX / KW_USEC_PER_SEC - 1)
		return false;
	*ts_us = sec * KW_USEC_PER_SEC + us + up;
	return true;
}

bool kw_json_peek_time(struct kw_str v, int64_t *ts_us)
{
	struct kw_json_value jv = {0};
	char num[64];
	char *end = NULL;
	bool real = false;

	if (v.n >= 2 && v.p[0] == '"') {
		if (memchr(v.p, '\\', v.n))
			return false;
		return kw_time_parse(v.p + 1, v.n - 2, ts_us);
	}
	if (v.n == 0 || v.n >= sizeof(num) ||
	    !(v.p[0] == '-' || (v.p[0] >= '0' && v.p[0] <= '9')))
		return false;
	if (seconds(v, ts_us))
		return true;
	memcpy(num, v.p, v.n);
	num[v.n] = '\0';
	real = strpbrk(num, ".eE") != NULL;
	if (real) {
		jv.type = KW_JSON_REAL;
		jv.d = strtod(num, &end);
	} else {
		jv.type = KW_JSON_INTEGER;
		jv.i = strtoll(num, &end, 10);
	}
	if (!end || *end)
		return false;
	return kw_decode_time(&jv, ts_us);
}
