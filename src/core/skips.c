/*
 * skips.c - counting skipped input by reason, logging the first few of each.
 */
#include "core/skips.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

static enum kw_log_level level_of(enum kw_skip_reason r)
{
	return kw_skip_is_problem(r) ? KW_LOG_WARN : KW_LOG_DEBUG;
}

static void tell(enum kw_skip_reason r, uint64_t nth, const char *text)
{
	enum kw_log_level level = level_of(r);

	if (nth > KW_SKIPS_SAMPLES || level < kw_log_get_level())
		return;
	kw_log_msg(level, NULL, "%s", text);
	if (nth == KW_SKIPS_SAMPLES)
		kw_log_msg(level, NULL,
			   "further '%s' problems are only counted",
			   kw_skip_reason_name(r));
}

void kw_skips_add(struct kw_skips *s, enum kw_skip_reason r, const char *file,
		  uint64_t line, const char *fmt, ...)
{
	struct kw_skips_notes *later = s->later;
	char msg[1024], text[KW_SKIPS_NOTE_MAX];
	va_list ap;

	if ((unsigned)r >= KW_SKIP_REASON_MAX)
		return;
	s->count[r]++;
	s->total++;
	if (s->count[r] > KW_SKIPS_SAMPLES ||
	    (!later && level_of(r) < kw_log_get_level()))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (file && line)
		snprintf(text, sizeof(text), "%s:%llu: %s", file,
			 (unsigned long long)line, msg);
	else if (file)
		snprintf(text, sizeof(text), "%s: %s", file, msg);
	else
		snprintf(text, sizeof(text), "%s", msg);
	if (!later) {
		tell(r, s->count[r], text);
		return;
	}
	/* Room for every sample by construction. */
	later->note[later->n].reason = (int)r;
	memcpy(later->note[later->n].text, text, sizeof(text));
	later->n++;
}

void kw_skips_error(struct kw_skips *s, const char *msg)
{
	struct kw_skips_notes *later = s->later;

	if (!later) {
		kw_log_error(NULL, "%s", msg);
		return;
	}
	if (later->n == KW_SKIPS_NOTES) {
		later->dropped++;
		return;
	}
	later->note[later->n].reason = -1;
	snprintf(later->note[later->n].text, KW_SKIPS_NOTE_MAX, "%s", msg);
	later->n++;
}

void kw_skips_absorb(struct kw_skips *dst, struct kw_skips *src)
{
	struct kw_skips_notes *later = src->later;
	uint64_t seen[KW_SKIP_REASON_MAX] = {0};

	for (size_t i = 0; later && i < later->n; i++) {
		int r = later->note[i].reason;

		if (r < 0) {
			kw_log_error(NULL, "%s", later->note[i].text);
			continue;
		}
		seen[r]++;
		tell((enum kw_skip_reason)r, dst->count[r] + seen[r],
		     later->note[i].text);
	}
	if (later && later->dropped)
		kw_log_error(NULL, "%llu more errors not shown",
			     (unsigned long long)later->dropped);
	for (int r = 0; r < KW_SKIP_REASON_MAX; r++)
		dst->count[r] += src->count[r];
	dst->total += src->total;
	memset(src, 0, sizeof(*src));
	src->later = later;
	if (later) {
		later->n = 0;
		later->dropped = 0;
	}
}
