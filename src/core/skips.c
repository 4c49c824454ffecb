/*
 * skips.c - counting skipped input by reason, logging the first few of each.
 */
#include "core/skips.h"

#include <stdarg.h>
#include <stdio.h>

#include "core/log.h"

const char *kw_skip_reason_name(enum kw_skip_reason r)
{
	static const char *const names[KW_SKIP_REASON_MAX] = {
		[KW_SKIP_TOO_LONG] = "too_long",
		[KW_SKIP_BAD_JSON] = "bad_json",
		[KW_SKIP_NO_KEY] = "no_key",
		[KW_SKIP_NO_TIME] = "no_time",
		[KW_SKIP_BAD_FIELD] = "bad_field",
		[KW_SKIP_CORRUPT] = "corrupt",
		[KW_SKIP_UNREADABLE] = "unreadable",
		[KW_SKIP_KEYLESS] = "keyless",
		[KW_SKIP_NOT_DATA] = "not_data",
		[KW_SKIP_NO_MEMORY] = "no_memory",
	};

	return (unsigned)r < KW_SKIP_REASON_MAX ? names[r] : "unknown";
}

bool kw_skip_is_problem(enum kw_skip_reason r)
{
	return r != KW_SKIP_KEYLESS && r != KW_SKIP_NOT_DATA;
}

uint64_t kw_skips_problems(const struct kw_skips *s)
{
	return s->total - s->count[KW_SKIP_KEYLESS] -
	       s->count[KW_SKIP_NOT_DATA];
}

void kw_skips_add(struct kw_skips *s, enum kw_skip_reason r, const char *file,
		  uint64_t line, const char *fmt, ...)
{
	enum kw_log_level level =
		kw_skip_is_problem(r) ? KW_LOG_WARN : KW_LOG_DEBUG;
	char msg[1024];
	va_list ap;

	if ((unsigned)r >= KW_SKIP_REASON_MAX)
		return;
	s->count[r]++;
	s->total++;
	if (s->count[r] > KW_SKIPS_SAMPLES || level < kw_log_get_level())
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (file && line)
		kw_log_msg(level, NULL, "%s:%llu: %s", file,
			   (unsigned long long)line, msg);
	else if (file)
		kw_log_msg(level, NULL, "%s: %s", file, msg);
	else
		kw_log_msg(level, NULL, "%s", msg);
	if (s->count[r] == KW_SKIPS_SAMPLES)
		kw_log_msg(level, NULL,
			   "further '%s' problems are only counted",
			   kw_skip_reason_name(r));
}
