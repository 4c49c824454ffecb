/*
 * time.c - RFC 3339 parsing and formatting without the C library's locale
 * and time-zone machinery (timegm is not in C17 and mktime reads TZ), using
 * the days-from-civil algorithm for the calendar arithmetic.
 */
#include "core/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t kw_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool digits(const char *s, size_t n, size_t at, size_t count,
		   unsigned *out)
{
	unsigned v = 0;

	if (at + count > n)
		return false;
	for (size_t i = at; i < at + count; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
	static const unsigned char mdays[] = {31, 28, 31, 30, 31, 30,
					      31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : mdays[m - 1];
}

bool kw_time_parse(const char *s, size_t n, int64_t *us)
{
	unsigned y, mo, d, h, mi, se, oh = 0, om = 0;
	int64_t frac = 0, t, scale = 100000;
	size_t i;
	int sign = 0;

	if (!digits(s, n, 0, 4, &y) || n < 19 || s[4] != '-' ||
	    !digits(s, n, 5, 2, &mo) || s[7] != '-' ||
	    !digits(s, n, 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !digits(s, n, 11, 2, &h) || s[13] != ':' ||
	    !digits(s, n, 14, 2, &mi) || s[16] != ':' ||
	    !digits(s, n, 17, 2, &se))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
	    mi > 59 || se > 60)
		return false;
	i = 19;
	if (i < n && s[i] == '.') {
		size_t nd = 0;

		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			if (nd < 6) {
				frac += (s[i] - '0') * scale;
				scale /= 10;
			}
			nd++;
			i++;
		}
		if (nd == 0 || nd > 9)
			return false;
	}
	if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < n && (s[i] == '+' || s[i] == '-')) {
		sign = s[i] == '+' ? 1 : -1;
		if (!digits(s, n, i + 1, 2, &oh) || i + 3 >= n ||
		    s[i + 3] != ':' || !digits(s, n, i + 4, 2, &om) ||
		    oh > 23 || om > 59)
			return false;
		i += 6;
	} else if (n - i == 4 && !memcmp(s + i, " UTC", 4)) {
		i += 4; /* BigQuery's TIMESTAMP text */
	} else {
		return false;
	}
	if (i != n)
		return false;
	t = kw_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	t -= sign * (int64_t)(oh * 3600 + om * 60);
	t = t * KW_USEC_PER_SEC + frac;
	if (t < KW_TIME_MIN || t > KW_TIME_MAX)
		return false;
	*us = t;
	return true;
}

/* v as n decimal digits, zero-padded, at p; past them. */
static char *put_digits(char *p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + n;
}

char *kw_time_format(int64_t us, char *buf, size_t cap)
{
	int64_t secs =
		us >= 0 ? us / KW_USEC_PER_SEC
			: -((-us + KW_USEC_PER_SEC - 1) / KW_USEC_PER_SEC);
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64_t rem = secs - days * 86400;
	int64_t y;
	unsigned m, d;
	char *p = buf;

	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999 || cap < sizeof("0000-00-00T00:00:00Z")) {
		snprintf(buf, cap, "%04lld-%02u-%02uT%02u:%02u:%02uZ",
			 (long long)y, m, d, (unsigned)(rem / 3600),
			 (unsigned)(rem / 60 % 60), (unsigned)(rem % 60));
		return buf;
	}
	/* The same text without printf: every alert writes a few. */
	p = put_digits(p, (unsigned)y, 4);
	*p++ = '-';
	p = put_digits(p, m, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = 'T';
	p = put_digits(p, (unsigned)(rem / 3600), 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)(rem / 60 % 60), 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)(rem % 60), 2);
	*p++ = 'Z';
	*p = '\0';
	return buf;
}

bool kw_duration_parse(const char *s, int64_t *us)
{
	char *end;
	unsigned long long v;
	int64_t unit;

	if (!s || s[0] < '0' || s[0] > '9')
		return false;
	v = strtoull(s, &end, 10);
	switch (*end) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		return false;
	}
	if (end[1] != '\0' || v == 0 ||
	    v > (unsigned long long)(INT64_MAX / KW_USEC_PER_SEC / unit))
		return false;
	*us = (int64_t)v * unit * KW_USEC_PER_SEC;
	return true;
}

char *kw_duration_format(int64_t us, char *buf, size_t cap)
{
	long long s = us > 0 ? (long long)(us / KW_USEC_PER_SEC) : 0;
	long long h = s / 3600, m = s % 3600 / 60, sec = s % 60;

	if (h && m)
		snprintf(buf, cap, "%lldh %lldm", h, m);
	else if (h)
		snprintf(buf, cap, "%lldh", h);
	else if (m && sec)
		snprintf(buf, cap, "%lldm %llds", m, sec);
	else if (m)
		snprintf(buf, cap, "%lldm", m);
	else
		snprintf(buf, cap, "%llds", sec);
	return buf;
}
