/*
 * fuzz_time.c - libFuzzer target: kw_time_parse (RFC 3339 event times) and
 * kw_duration_parse, against a reference written here from the grammar in
 * core/time.h and the C library's timegm():
 *
 *   YYYY-MM-DD ('T' | 't' | ' ') hh:mm:ss [ '.' 1-9 digits ]
 *   ( 'Z' | 'z' | ('+' | '-') hh:mm )
 *
 * with month, day (leap years), hour < 24, minute < 60, second <= 60, an
 * offset below 24:00, and a result within 1970..9999. Both must accept the
 * same texts and give the same microseconds (fractions past 6 digits are
 * cut, not rounded). Every accepted time also survives kw_time_format and
 * a second parse (to the whole second).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/time.h"
#include "fuzz.h"

static bool num(const char *s, size_t n, size_t at, size_t count, int *out)
{
	int v = 0;

	if (at + count > n)
		return false;
	for (size_t i = at; i < at + count; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* The reference. */
static bool ref_parse(const char *s, size_t n, int64_t *us)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
	int64_t frac = 0, t;
	size_t i = 19, nd = 0;
	struct tm tm;

	if (n < 20 || !num(s, n, 0, 4, &y) || s[4] != '-' ||
	    !num(s, n, 5, 2, &mo) || s[7] != '-' || !num(s, n, 8, 2, &d) ||
	    !strchr("Tt ", s[10]) || s[10] == '\0' || !num(s, n, 11, 2, &h) ||
	    s[13] != ':' || !num(s, n, 14, 2, &mi) || s[16] != ':' ||
	    !num(s, n, 17, 2, &se))
		return false;
	if (mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (mo == 2 && leap(y)) || h > 23 || mi > 59 ||
	    se > 60)
		return false;
	if (s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, nd++) {
			if (nd < 6)
				frac = frac * 10 + (s[i] - '0');
		}
		if (nd == 0 || nd > 9)
			return false;
		for (; nd < 6; nd++)
			frac *= 10;
	}
	if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
		sign = 0;
	} else if (i + 4 == n && !memcmp(s + i, " UTC", 4)) {
		sign = 0; /* BigQuery's TIMESTAMP text, as UTC */
	} else if (i + 6 == n && (s[i] == '+' || s[i] == '-') &&
		   num(s, n, i + 1, 2, &oh) && s[i + 3] == ':' &&
		   num(s, n, i + 4, 2, &om) && oh < 24 && om < 60) {
		sign = s[i] == '+' ? 1 : -1;
	} else {
		return false;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se; /* 60 runs into the next minute, as in keywatch */
	t = (int64_t)timegm(&tm) - sign * (int64_t)(oh * 3600 + om * 60);
	if (t < 0 || t > KW_TIME_MAX / 1000000)
		return false;
	*us = t * 1000000 + frac;
	return *us <= KW_TIME_MAX;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char *copy = fuzz_strdup(data, size);
	int64_t us = -1, ref = -1, again = -1;
	bool ok = kw_time_parse(s, size, &us);
	bool want = ref_parse(s, size, &ref);
	char buf[64];

	if (ok != want)
		fuzz_fail(data, size, "kw_time_parse says %s, the reference %s",
			  ok ? "yes" : "no", want ? "yes" : "no");
	if (ok && us != ref)
		fuzz_fail(data, size, "kw_time_parse %lld, the reference %lld",
			  (long long)us, (long long)ref);
	if (ok) {
		kw_time_format(us, buf, sizeof(buf));
		if (!kw_time_parse(buf, strlen(buf), &again) ||
		    again != us - us % 1000000)
			fuzz_fail(data, size, "'%s' does not read back", buf);
	}
	/* Durations, on the text as a C string. */
	if (kw_duration_parse(copy, &us) && (us <= 0 || us % 1000000))
		fuzz_fail(data, size, "duration %lld us", (long long)us);
	free(copy);
	return 0;
}
