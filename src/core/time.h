/*
 * time.h - event time. Times are int64 microseconds since the epoch, UTC.
 * Parsing is strict and allocation-free; formatting is RFC 3339 with a "Z".
 */
#ifndef KW_CORE_TIME_H
#define KW_CORE_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KW_USEC_PER_SEC INT64_C(1000000)
/* Accepted event times: 1970-01-01 up to 9999-12-31. */
#define KW_TIME_MIN INT64_C(0)
#define KW_TIME_MAX INT64_C(253402300799999999)

/* RFC 3339 / ISO 8601: "2026-11-27T09:14:03Z", with optional fraction of up
 * to 9 digits, 'T' or ' ' between date and time, "Z" or "+hh:mm"/"-hh:mm"
 * or " UTC" (BigQuery's text for a TIMESTAMP: "2026-11-27 08:00:00.5 UTC").
 * Fields are range-checked (month 1-12, day within the month, leap years,
 * hour < 24, minute < 60, second <= 60). Returns false on anything else. */
bool kw_time_parse(const char *s, size_t n, int64_t *us);

/* "2026-11-27T09:14:03Z" (whole seconds) into buf (>= 21 bytes). */
char *kw_time_format(int64_t us, char *buf, size_t cap);

/* Durations: a number with s, m, h or d ("90s", "15m", "72h", "7d").
 * Returns false on anything else, zero, or overflow. */
bool kw_duration_parse(const char *s, int64_t *us);

/* A duration for people, in whole seconds: "72h", "5h 12m", "47m",
 * "47m 3s", "30s" (hours beyond a day stay hours: learning periods are
 * configured in them). Writes into buf (>= 24 bytes) and returns it. */
char *kw_duration_format(int64_t us, char *buf, size_t cap);

/* Days since 1970-01-01 for a civil date, and back (proleptic Gregorian). */
int64_t kw_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
